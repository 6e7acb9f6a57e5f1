#include "gdn/backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "attach/client.h"
#include "attach/keeper.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/names.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subprocess.h"

namespace gdn::server {
namespace {

// The depot describes containers and processes, which a reboot ends: its files need to
// outlive a killed server, not a power loss (no fsync; see Durability).
constexpr Durability kRuntimeState = Durability::kProcessCrash;

std::string Str(const Json& obj, const std::string& key) {
  const Json* v = Field(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

int64_t Int(const Json& obj, const std::string& key) {
  const Json* v = Field(obj, key);
  return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : 0;
}

std::string Uuid() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> l(mu);
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x4000;           // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A child's failure as one sentence: its own last line of stderr, or how it ended.
std::string Why(const std::string& what, const SubprocessResult& r) {
  std::string err(absl::StripTrailingAsciiWhitespace(r.err));
  if (size_t nl = err.rfind('\n'); nl != std::string::npos) err = err.substr(nl + 1);
  return absl::StrCat(what, " ", r.Describe(), err.empty() ? "" : ": ", err);
}

std::atomic<bool> g_log_children{false};

absl::StatusOr<SubprocessResult> Exec(std::vector<std::string> argv, const std::string& input = "",
                                     bool feed = false) {
  absl::Time start = absl::Now();
  std::string what;
  if (g_log_children.load()) {
    // A stage to debug by hand: its whole command line, how long it took, how it ended.
    what = absl::StrJoin(argv, " ");
  }
  SubprocessOptions o;
  o.argv = std::move(argv);
  if (feed) {
    o.stdin_mode = Stdio::kCapture;
    o.stdin_data = input;
  }
  o.timeout = absl::Minutes(10);
  // spawn create leaves the container's init holding whatever stdio it was given.
  o.stop_reading_at_exit = true;
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  if (!what.empty()) {
    fprintf(stderr, "gdn: %s: %s in %.1f ms\n", what.c_str(),
            r.ok() ? r->Describe().c_str() : std::string(r.status().message()).c_str(),
            absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  return r;
}

struct UserIds {
  uint32_t uid = 0, gid = 0;
  std::string home = "/";
};

// A file of the container, through its root (an O_PATH descriptor of /proc/<init>/root)
// without ever leaving it; -1 with errno.
int OpenInRoot(int root, const std::string& path, int flags) {
  if (root < 0) {
    errno = ENOENT;
    return -1;
  }
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT;
  return static_cast<int>(syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
}

// Garden's user ("name", "uid:gid" or "" for root): ids and home from the container's
// /etc/passwd. nullopt when a name is not there.
std::optional<UserIds> FindUser(int root, const std::string& user) {
  UserIds ids;
  std::vector<std::string> parts = absl::StrSplit(user, ':');
  bool numeric = parts.size() == 2 && absl::SimpleAtoi(parts[0], &ids.uid) &&
                 absl::SimpleAtoi(parts[1], &ids.gid);
  std::string name = user.empty() ? "root" : user;
  std::string passwd;
  int fd = OpenInRoot(root, "/etc/passwd", O_RDONLY);
  if (fd >= 0) {
    UniqueFd f(fd);
    absl::StatusOr<std::string> text = ReadAll(f.get());
    if (text.ok()) passwd = *text;
  }
  bool found = numeric || name == "root";
  for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ':');
    if (f.size() < 6) continue;
    uint32_t u, g;
    if (!absl::SimpleAtoi(f[2], &u) || !absl::SimpleAtoi(f[3], &g)) continue;
    if (numeric ? u == ids.uid : f[0] == name) {
      if (!numeric) {
        ids.uid = u;
        ids.gid = g;
      }
      ids.home = f[5].empty() ? "/" : f[5];
      found = true;
    }
  }
  if (!found) return std::nullopt;
  return ids;
}

GardenError Other(const std::string& message) { return {ErrorKind::kOther, message, "", ""}; }
GardenError NotFound(const std::string& handle) {
  return {ErrorKind::kContainerNotFound, "unknown handle: " + handle, handle, ""};
}

}  // namespace

const Json* Field(const Json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it != obj.end()) return &*it;
  for (auto i = obj.begin(); i != obj.end(); ++i) {
    if (absl::EqualsIgnoreCase(i.key(), key)) return &*i;
  }
  return nullptr;
}

Backend::Backend(BackendOptions options) : o_(std::move(options)) {
  g_log_children = o_.log_children;
  (void)MakeDirs(o_.depot, 0700);
  (void)MakeDirs(o_.depot + "/.spawn", 0700);
}

std::string Backend::Dir(const std::string& handle) const { return absl::StrCat(o_.depot, "/", handle); }

std::string Backend::ProcessDir(const std::string& handle, const std::string& id) const {
  return absl::StrCat(Dir(handle), "/processes/", id);
}

std::vector<std::string> Backend::Runtime(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {o_.runtime};
  argv.insert(argv.end(), o_.runtime_args.begin(), o_.runtime_args.end());
  argv.push_back("--root");
  argv.push_back(o_.depot + "/.spawn");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

absl::StatusOr<Json> Backend::Load(const std::string& handle) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(Dir(handle) + "/container.json"));
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::InternalError("a broken container record");
  return j;
}

absl::Status Backend::Save(const std::string& handle, const Json& record) {
  return WriteFileAtomic(Dir(handle) + "/container.json", record.dump() + "\n", 0600, kRuntimeState);
}

bool Backend::Exists(const std::string& handle) {
  if (!IsPlainName(handle, 255)) return false;
  absl::StatusOr<Json> r = Load(handle);
  return r.ok() && (*r)["state"] != "creating";
}

std::optional<Backend::RecordedInit> Backend::InitRecord(const std::string& handle, const Json& record) {
  // In the record (init_pid, init_start); a depot of an earlier server kept them in files.
  if (record.contains("init_pid") && record.contains("init_start")) {
    RecordedInit init;
    init.pid = record["init_pid"].is_number_integer() ? record["init_pid"].get<int>() : 0;
    init.start_time = record["init_start"].is_number_unsigned() ? record["init_start"].get<uint64_t>() : 0;
    if (init.pid > 0) return init;
  }
  absl::StatusOr<std::string> pid_text = ReadFile(Dir(handle) + "/init.pid");
  absl::StatusOr<std::string> started = ReadFile(Dir(handle) + "/init.start");
  RecordedInit init;
  if (!pid_text.ok() || !started.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &init.pid) ||
      !absl::SimpleAtoi(*started, &init.start_time) || init.pid <= 0) {
    return std::nullopt;
  }
  return init;
}

absl::StatusOr<int> Backend::InitPid(const std::string& handle) {
  // The pid spawn create wrote, while that is still the process it started (the start time
  // recorded then); otherwise spawn state's answer.
  absl::StatusOr<Json> record = Load(handle);
  if (std::optional<RecordedInit> init = InitRecord(handle, record.ok() ? *record : Json::object())) {
    ProcessStart now = ReadProcessStart(init->pid);
    if (now.running && now.start_time == init->start_time) return init->pid;
  }
  ASSIGN_OR_RETURN(SubprocessResult r, Exec(Runtime({"state", handle})));
  if (!r.ok()) return absl::InternalError(Why("spawn state", r));
  Json s = Json::parse(r.out, nullptr, false);
  if (!s.is_object() || !s.contains("pid")) return absl::InternalError("spawn state printed no pid");
  return s["pid"].get<int>();
}

void Backend::Restore() {
  // Folders of destroyed containers that a killed server had not removed yet: the trash (or
  // what an earlier start moved it to) is moved aside and removed meanwhile.
  if (DIR* d = opendir(o_.depot.c_str())) {
    std::vector<std::string> old;
    while (struct dirent* e = readdir(d)) {
      if (absl::StartsWith(e->d_name, ".trash")) old.push_back(o_.depot + "/" + e->d_name);
    }
    closedir(d);
    for (const std::string& t : old) {
      std::string aside = absl::StrCat(o_.depot, "/.trash-", getpid(), "-", discarded_.fetch_add(1));
      RemoveInBackground(rename(t.c_str(), aside.c_str()) == 0 ? aside : t);
    }
  }
  DIR* d = opendir(o_.depot.c_str());
  if (d == nullptr) return;
  std::vector<std::string> handles;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') handles.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& h : handles) {
    absl::StatusOr<Json> r = Load(h);
    // A creation cut short, or a destroy: finish the job. An unreadable record (a power
    // loss: records are not fsynced) undoes every step, each finding nothing if not made.
    if (!r.ok() || (*r)["state"] == "creating" || (*r)["state"] == "destroying") {
      Teardown(h, r.ok() ? *r : Json({{"network_up", true}, {"image_asked", true}}));
    }
  }
}

bool Backend::NetworkDown(const std::string& handle) {
  if (o_.network_plugin.empty()) return true;
  std::vector<std::string> argv = {o_.network_plugin};
  argv.insert(argv.end(), o_.network_plugin_args.begin(), o_.network_plugin_args.end());
  argv.insert(argv.end(), {"--action", "down", "--handle", handle});
  absl::StatusOr<SubprocessResult> r = Exec(argv, "null", true);
  return r.ok() && r->ok();
}

bool Backend::DeleteImage(const std::string& handle) {
  if (o_.image_plugin.empty()) return true;
  std::vector<std::string> argv = {o_.image_plugin};
  argv.insert(argv.end(), o_.image_plugin_args.begin(), o_.image_plugin_args.end());
  argv.insert(argv.end(), {"delete", handle});
  absl::StatusOr<SubprocessResult> r = Exec(argv);
  return r.ok() && r->ok();
}

bool Backend::KillInit(const std::string& handle, const Json& record) {
  std::optional<RecordedInit> init = InitRecord(handle, record);
  if (!init) return false;
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, init->pid, 0)));
  if (!pidfd.valid()) return errno == ESRCH;  // gone already
  // Checked after the pidfd is held: it names this process, whatever happens to the pid.
  ProcessStart now = ReadProcessStart(init->pid);
  if (!now.running) return true;
  if (now.start_time != init->start_time) return false;
  if (syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) != 0) return errno == ESRCH;
  struct pollfd p = {pidfd.get(), POLLIN, 0};
  return poll(&p, 1, 10000) == 1;
}

void Backend::Teardown(const std::string& handle, const Json& record) {
  // Every step is idempotent and may find nothing to do.
  if (record.value("network_up", false)) (void)NetworkDown(handle);
  if (!record.value("container_deleted", false)) (void)Exec(Runtime({"delete", "--force", handle}));
  if (record.value("image_made", false) || record.value("image_asked", false)) (void)DeleteImage(handle);
  Discard(Dir(handle));
}

void Backend::Discard(const std::string& dir) {
  // Out of the way at once (the handle is free again), removed meanwhile: a destroy does not
  // wait on the disk (on ext4 mounted with discard each folder's removal waits for a trim).
  // What a killed server left in the trash goes at its next start (Restore).
  std::string trash = o_.depot + "/.trash";
  std::string doomed = absl::StrCat(trash, "/", dir.substr(dir.rfind('/') + 1), ".", getpid(), ".",
                                    discarded_.fetch_add(1));
  if ((mkdir(trash.c_str(), 0700) != 0 && errno != EEXIST) || rename(dir.c_str(), doomed.c_str()) != 0) {
    doomed = dir;  // removed where it is
  }
  RemoveInBackground(doomed);
}

void Backend::RemoveInBackground(const std::string& path) {
  std::thread([path] {
    if (!RemoveAll(path).ok()) (void)Exec({"rm", "-rf", "--one-file-system", path});
  }).detach();
}

absl::Status Backend::WriteDnsFiles(const std::string& handle, const std::string& ip, const Json& plugin_out) {
  // Nameservers: the operator's, else the plugin's, else the host's that a container can
  // reach (not loopback); then the additional ones. Search domains: the plugin's.
  std::vector<std::string> servers = o_.dns_servers;
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (const Json* list = Field(plugin_out, key); list != nullptr && list->is_array()) {
      for (const Json& x : *list) {
        if (x.is_string()) out.push_back(x.get<std::string>());
      }
    }
    return out;
  };
  if (servers.empty()) servers = strings("dns_servers");
  if (servers.empty()) {
    absl::StatusOr<std::string> host = ReadFile("/etc/resolv.conf");
    for (absl::string_view line : absl::StrSplit(host.ok() ? *host : "", '\n')) {
      std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (words.size() >= 2 && words[0] == "nameserver" && !absl::StartsWith(words[1], "127.") &&
          words[1] != "::1") {
        servers.push_back(words[1]);
      }
    }
  }
  servers.insert(servers.end(), o_.additional_dns_servers.begin(), o_.additional_dns_servers.end());
  std::string resolv;
  for (const std::string& s : servers) absl::StrAppend(&resolv, "nameserver ", s, "\n");
  std::vector<std::string> search = strings("search_domains");
  if (!search.empty()) absl::StrAppend(&resolv, "search ", absl::StrJoin(search, " "), "\n");
  std::string hosts = absl::StrCat("127.0.0.1 localhost\n", ip, " ", handle, "\n");
  for (const std::string& e : o_.additional_host_entries) absl::StrAppend(&hosts, e, "\n");
  for (const auto& [name, text] : {std::pair<const char*, std::string*>{"hosts", &hosts}, {"resolv.conf", &resolv}}) {
    std::string file = absl::StrCat(Dir(handle), "/", name);
    absl::StatusOr<UniqueFd> fd = Open(file, O_WRONLY | O_TRUNC | O_NOFOLLOW);
    if (!fd.ok()) return fd.status();
    RETURN_IF_ERROR(WriteAll(fd->get(), *text));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Backend::Create(const Json& spec, GardenError* err) {
  std::string handle = Str(spec, "handle");
  if (handle.empty()) handle = Uuid();
  if (!IsPlainName(handle, 255)) {
    *err = Other(absl::StrCat("invalid handle '", handle, "'"));
    return absl::InvalidArgumentError(err->message);
  }
  std::string uri = Str(spec, "rootfs");
  const Json* image = Field(spec, "image");
  std::string image_uri = image != nullptr ? Str(*image, "uri") : "";
  if (!uri.empty() && !image_uri.empty()) {
    *err = Other("Cannot provide both Image.URI and RootFSPath");
    return absl::InvalidArgumentError(err->message);
  }
  if (uri.empty()) uri = image_uri;
  if (uri.empty()) uri = o_.default_rootfs;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (o_.max_containers > 0 && static_cast<int>(List({{"garden.state", "all"}}).size()) >= o_.max_containers) {
      *err = Other("max containers reached");
      return absl::ResourceExhaustedError(err->message);
    }
    if (mkdir(Dir(handle).c_str(), 0700) != 0) {
      *err = Other(absl::StrCat("Handle '", handle, "' already in use"));
      return absl::AlreadyExistsError(err->message);
    }
  }
  Json record = {{"handle", handle}, {"state", "creating"}, {"created_ns", NowNs()},
                 {"properties", Json::object()}, {"env", Json::array()}};
  const Json* props = Field(spec, "properties");
  if (props != nullptr && props->is_object()) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      if (it->is_string()) record["properties"][it.key()] = *it;
    }
  }
  int64_t grace = Int(spec, "grace_time");
  if (grace == 0) grace = o_.default_grace_time_ns;
  record["properties"]["garden.grace-time"] = std::to_string(grace);
  if (!o_.external_ip.empty()) record["properties"]["garden.network.external-ip"] = o_.external_ip;
  if (const Json* env = Field(spec, "env"); env != nullptr && env->is_array()) record["env"] = *env;
  auto fail = [&](const std::string& message) -> absl::Status {
    *err = Other(message);
    Teardown(handle, record);
    return absl::InternalError(message);
  };
  bool ask_image = !(absl::StartsWith(uri, "raw://") || o_.image_plugin.empty());
  // Written down before the plugin runs: a server killed meanwhile deletes the image on its
  // restart (a delete of an image never made finds nothing to do).
  if (ask_image) record["image_asked"] = true;
  if (!Save(handle, record).ok()) return fail("cannot write the container record");

  // 1. The root filesystem: the image plugin's answer, or a raw path used as it is.
  std::string bundle = Dir(handle) + "/bundle";
  (void)MakeDirs(bundle, 0700);
  std::string fragment;
  if (!ask_image) {
    std::string path = absl::StartsWith(uri, "raw://") ? uri.substr(6) : uri;
    fragment = Json({{"root", {{"path", path}}}}).dump();
  } else {
    std::vector<std::string> argv = {o_.image_plugin};
    argv.insert(argv.end(), o_.image_plugin_args.begin(), o_.image_plugin_args.end());
    for (const std::string& r : o_.insecure_registries) argv.insert(argv.end(), {"--insecure-registry", r});
    if (!o_.docker_registry.empty()) argv.insert(argv.end(), {"--default-registry", o_.docker_registry});
    argv.push_back("create");
    if (image != nullptr && !Str(*image, "username").empty()) {
      argv.insert(argv.end(), {"--username", Str(*image, "username"), "--password", Str(*image, "password")});
    }
    const Json* limits = Field(spec, "limits");
    const Json* disk = limits != nullptr ? Field(*limits, "disk_limits") : nullptr;
    if (disk != nullptr && Int(*disk, "byte_hard") > 0) {
      argv.insert(argv.end(), {"--disk-limit-size-bytes", std::to_string(Int(*disk, "byte_hard"))});
      if (Int(*disk, "scope") == 1) argv.push_back("--exclude-image-from-quota");
    }
    // Garden's docker:///repo#tag and docker:///repo:tag both reach the plugin as given.
    argv.insert(argv.end(), {uri, handle});
    absl::StatusOr<SubprocessResult> r = Exec(argv);
    if (!r.ok()) return fail(std::string(r.status().message()));
    record["image_made"] = true;
    if (!r->ok()) return fail(Why("image plugin", *r));
    fragment = r->out;
    // Its answer, for whoever debugs the container: in the record (written with its next
    // save), not in a file of its own.
    record["image_plugin_answer"] = fragment;
  }
  // 2. The bundle: spawn's defaults, the image, a reaping init, the user namespace.
  std::string text;
  {
    std::vector<std::string> args;
    if (o_.rootless) args.push_back("--rootless");
    // Garden's unprivileged containers run under a seccomp allowlist; privileged ones not.
    const Json* privileged = Field(spec, "privileged");
    if (privileged == nullptr || !privileged->is_boolean() || !privileged->get<bool>()) {
      args.insert(args.end(), {"--seccomp", "default"});
    }
    std::string why;
    text = Spec(handle, bundle, fragment, args, &why);
    if (text.empty()) return fail(why);
  }
  Json config = Json::parse(text, nullptr, false);
  if (!config.is_object()) return fail("spawn spec wrote a config.json that is not JSON");
  Json image_env = config["process"].value("env", Json::array());
  for (const Json& e : record["env"]) image_env.push_back(e);
  record["env"] = image_env;
  config["process"]["args"] = {"/.gdn-init"};
  config["process"]["terminal"] = false;
  config["process"]["cwd"] = "/";
  config["hostname"] = handle.size() > 49 ? handle.substr(handle.size() - 49) : handle;
  config["mounts"].push_back({{"destination", "/.gdn-init"}, {"type", "bind"},
                              {"source", o_.assets + "/gdn-init"}, {"options", {"bind", "ro", "nosuid", "nodev"}}});
  if (o_.rootless && o_.uid_map_length > 0) {
    config["linux"]["uidMappings"].push_back({{"containerID", 1}, {"hostID", o_.uid_map_start}, {"size", o_.uid_map_length}});
    config["linux"]["gidMappings"].push_back({{"containerID", 1}, {"hostID", o_.gid_map_start}, {"size", o_.gid_map_length}});
  }
  // Limits (GARDEN_API.md 5.4): memory (swap the same), CPU shares from weight or
  // limit_in_shares, pids; disk went to the image plugin, bandwidth is accepted and ignored.
  Json stored = {{"bandwidth", Json::object()}, {"cpu", Json::object()}, {"disk", Json::object()},
                 {"memory", Json::object()}};
  if (const Json* limits = Field(spec, "limits"); limits != nullptr && limits->is_object()) {
    Json& resources = config["linux"]["resources"];
    if (!resources.is_object()) resources = Json::object();
    if (const Json* m = Field(*limits, "memory_limits"); m != nullptr && Int(*m, "limit_in_bytes") > 0) {
      int64_t bytes = Int(*m, "limit_in_bytes");
      resources["memory"] = {{"limit", bytes}, {"swap", bytes}};
      stored["memory"]["limit_in_bytes"] = bytes;
    }
    if (const Json* c = Field(*limits, "cpu_limits"); c != nullptr) {
      int64_t weight = Int(*c, "weight"), shares = Int(*c, "limit_in_shares");
      if (weight > 0) stored["cpu"]["weight"] = weight;
      if (shares > 0) stored["cpu"]["limit_in_shares"] = shares;
      if (weight > 0 || shares > 0) resources["cpu"] = {{"shares", weight > 0 ? weight : shares}};
    }
    if (const Json* p = Field(*limits, "pid_limits"); p != nullptr && Int(*p, "max") > 0) {
      resources["pids"] = {{"limit", Int(*p, "max")}};
    }
  }
  record["limits"] = stored;
  if (const Json* mounts = Field(spec, "bind_mounts"); mounts != nullptr && mounts->is_array()) {
    for (const Json& m : *mounts) {
      std::string src = Str(m, "src_path"), dst = Str(m, "dst_path");
      if (src.empty() || dst.empty()) return fail("a bind mount needs src_path and dst_path");
      config["mounts"].push_back({{"destination", dst}, {"type", "bind"}, {"source", src},
                                  {"options", {"rbind", Int(m, "mode") == 1 ? "rw" : "ro"}}});
    }
  }
  if (!o_.network_plugin.empty()) {
    // The container's /etc/hosts and /etc/resolv.conf: bound now, written once the network
    // is up (in place, so that the bound files show it).
    for (const char* name : {"hosts", "resolv.conf"}) {
      std::string file = absl::StrCat(Dir(handle), "/", name);
      if (!WriteFileAtomic(file, "", 0644, kRuntimeState).ok()) return fail(absl::StrCat("cannot write ", file));
      config["mounts"].push_back({{"destination", absl::StrCat("/etc/", name)}, {"type", "bind"},
                                  {"source", file}, {"options", {"bind", "rw", "nosuid", "nodev", "noexec"}}});
    }
  }
  if (!WriteFileAtomic(bundle + "/config.json", config.dump(2) + "\n", 0600, kRuntimeState).ok()) {
    return fail("cannot write config.json");
  }
  // 3. The container, with its init.
  {
    // One run --detach (create and start in one process, as runc run -d): the init only
    // reaps, so nothing needs doing between the two.
    std::string pid_file = Dir(handle) + "/init.pid";
    absl::StatusOr<SubprocessResult> r =
        Exec(Runtime({"run", "--detach", "--bundle", bundle, "--pid-file", pid_file, handle}));
    if (!r.ok() || !r->ok()) return fail(r.ok() ? Why("spawn run", *r) : std::string(r.status().message()));
    int pid = 0;
    if (absl::StatusOr<std::string> text = ReadFile(pid_file);
        text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) && pid > 0) {
      // Saved with the record's next write (the network's, or the last).
      record["init_pid"] = pid;
      record["init_start"] = ReadProcessStart(pid).start_time;
    }
  }
  // 4. The network.
  if (!o_.network_plugin.empty()) {
    int pid = record.value("init_pid", 0);
    if (pid <= 0) {
      absl::StatusOr<int> asked = InitPid(handle);
      if (!asked.ok()) return fail(std::string(asked.status().message()));
      pid = *asked;
    }
    Json up = {{"Pid", pid}, {"Properties", Json::object()}};
    for (auto it = record["properties"].begin(); it != record["properties"].end(); ++it) {
      if (absl::StartsWith(it.key(), "network.")) up["Properties"][it.key().substr(8)] = *it;
      if (it.key() == "log_config") up["Properties"][it.key()] = *it;
    }
    if (const Json* rules = Field(spec, "netout_rules"); rules != nullptr && rules->is_array()) up["netout_rules"] = *rules;
    if (const Json* netin = Field(spec, "netin"); netin != nullptr && netin->is_array()) up["netin"] = *netin;
    std::vector<std::string> argv = {o_.network_plugin};
    argv.insert(argv.end(), o_.network_plugin_args.begin(), o_.network_plugin_args.end());
    argv.insert(argv.end(), {"--action", "up", "--handle", handle});
    record["network_up"] = true;
    (void)Save(handle, record);
    absl::StatusOr<SubprocessResult> r = Exec(argv, up.dump(), true);
    if (!r.ok() || !r->ok()) return fail(r.ok() ? Why("network plugin", *r) : std::string(r.status().message()));
    Json out = Json::parse(r->out, nullptr, false);
    if (const Json* p = Field(out, "properties"); p != nullptr && p->is_object()) {
      for (auto it = p->begin(); it != p->end(); ++it) {
        if (it->is_string()) record["properties"][it.key()] = *it;
      }
    }
    std::string ip = record["properties"].value("garden.network.container-ip", "");
    if (!ip.empty()) {
      absl::Status dns = WriteDnsFiles(handle, ip, out);
      if (!dns.ok()) return fail(std::string(dns.message()));
    }
  }
  record["state"] = "active";
  record["properties"]["garden.state"] = "created";
  if (!Save(handle, record).ok()) return fail("cannot write the container record");
  return handle;
}

namespace {

// Stands for a container's handle in the image answers and specs Backend::Spec keeps.
constexpr char kHandleMark[] = "gdn-handle-mark-5c0e71";

// Whether every occurrence of `handle` in `text` is a whole path component ("/H/" or "/H"
// ending a string): then it names the container's own files, and nothing else.
bool OnlyInPaths(const std::string& text, const std::string& handle) {
  for (size_t at = text.find(handle); at != std::string::npos; at = text.find(handle, at + 1)) {
    size_t end = at + handle.size();
    if (at == 0 || text[at - 1] != '/' || end >= text.size() || (text[end] != '/' && text[end] != '"')) {
      return false;
    }
  }
  return true;
}

}  // namespace

// spawn spec's answer depends only on its flags and the image's answer, in which only the
// container's own paths differ from one container of an image to the next. Its answer is
// kept per flags and image answer with the handle replaced by a mark: a second container of
// an image costs no spawn spec. (Where the handle shows elsewhere, spawn is asked each time.)
std::string Backend::Spec(const std::string& handle, const std::string& bundle, const std::string& fragment,
                          const std::vector<std::string>& args, std::string* why) {
  bool keep = !handle.empty() && fragment.find(kHandleMark) == std::string::npos && OnlyInPaths(fragment, handle);
  std::string asked = keep ? absl::StrReplaceAll(fragment, {{handle, kHandleMark}}) : fragment;
  std::string key = absl::StrCat(absl::StrJoin(args, " "), "\n", asked);
  std::string text;
  if (keep) {
    std::lock_guard<std::mutex> l(spec_mu_);
    auto it = specs_.find(key);
    if (it != specs_.end()) text = it->second;
  }
  if (text.empty()) {
    std::vector<std::string> argv = {"spec", "--bundle", bundle, "--image", "-"};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<SubprocessResult> r = Exec(Runtime(argv), asked, true);
    if (!r.ok() || !r->ok()) {
      *why = r.ok() ? Why("spawn spec", *r) : std::string(r.status().message());
      return "";
    }
    absl::StatusOr<std::string> written = ReadFile(bundle + "/config.json");
    if (!written.ok() || written->empty()) {
      *why = "spawn spec wrote no config.json";
      return "";
    }
    text = *written;
    if (keep) {
      std::lock_guard<std::mutex> l(spec_mu_);
      if (specs_.size() >= 256) specs_.clear();  // images come and go; a few are in use
      specs_[key] = text;
    }
  }
  return keep ? absl::StrReplaceAll(text, {{kHandleMark, handle}}) : text;
}

bool Backend::Destroy(const std::string& handle, GardenError* err) {
  if (!Exists(handle)) {
    *err = NotFound(handle);
    return false;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!destroying_.insert(handle).second) {
      *err = Other("container already being destroyed");
      return false;
    }
  }
  absl::StatusOr<Json> record = Load(handle);
  Json r = record.ok() ? *record : Json::object();
  r["state"] = "destroying";
  (void)Save(handle, r);
  // The init goes first, and with it every process of its pid namespace. Then the steps that
  // do not depend on each other run at once: the network's down (netns leaves the interface
  // of an ended container to the kernel, which removes it with the network namespace, instead
  // of waiting out its deletion), the image's delete (nothing writes into the root filesystem
  // any more), and the runtime's delete.
  bool init_gone = KillInit(handle, r);
  std::atomic<bool> network_down{false};
  std::thread network;
  if (r.value("network_up", false)) network = std::thread([&] { network_down = NetworkDown(handle); });
  bool image_asked = r.value("image_made", false) || r.value("image_asked", false);
  std::atomic<bool> image_deleted{false};
  std::thread image;
  if (image_asked && init_gone) image = std::thread([&] { image_deleted = DeleteImage(handle); });
  // spawn delete --force freezes the container's cgroup, kills everything in it and removes it.
  absl::StatusOr<SubprocessResult> deleted = Exec(Runtime({"delete", "--force", handle}));
  if (deleted.ok() && deleted->ok()) r["container_deleted"] = true;
  if (network.joinable()) network.join();
  if (image.joinable()) image.join();
  if (network_down) r["network_up"] = false;
  if (image_deleted) r["image_made"] = r["image_asked"] = false;
  // Not saved again: Teardown goes on at once, and a server killed before it ends finds the
  // record "destroying" and does every step again (each finds nothing left to do).
  // The processes' keepers release once the container's processes are gone.
  std::string procs = Dir(handle) + "/processes";
  if (DIR* d = opendir(procs.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') (void)attach::Release(procs + "/" + e->d_name);
    }
    closedir(d);
  }
  Teardown(handle, r);
  std::lock_guard<std::mutex> l(mu_);
  destroying_.erase(handle);
  return true;
}

std::vector<std::string> Backend::List(const std::map<std::string, std::string>& filter_in) {
  std::map<std::string, std::string> filter = filter_in;
  if (!filter.count("garden.state")) filter["garden.state"] = "created";
  if (filter["garden.state"] == "all") filter.erase("garden.state");
  std::vector<std::string> out;
  DIR* d = opendir(o_.depot.c_str());
  if (d == nullptr) return out;
  std::vector<std::string> handles;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') handles.push_back(e->d_name);
  }
  closedir(d);
  std::sort(handles.begin(), handles.end());
  for (const std::string& h : handles) {
    absl::StatusOr<Json> r = Load(h);
    if (!r.ok()) continue;
    const Json& props = (*r)["properties"];
    bool match = true;
    for (const auto& [k, v] : filter) {
      if (!props.contains(k) || props[k] != v) match = false;
    }
    if (match) out.push_back(h);
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> Backend::Properties(const std::string& handle, GardenError* err) {
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  std::map<std::string, std::string> out;
  for (auto it = (*r)["properties"].begin(); it != (*r)["properties"].end(); ++it) out[it.key()] = *it;
  return out;
}

bool Backend::SetProperty(const std::string& handle, const std::string& key, const std::string& value,
                          GardenError* err) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return false;
  }
  (*r)["properties"][key] = value;
  return Save(handle, *r).ok();
}

bool Backend::RemoveProperty(const std::string& handle, const std::string& key, GardenError* err) {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return false;
  }
  (*r)["properties"].erase(key);
  return Save(handle, *r).ok();
}

bool Backend::SetGraceTime(const std::string& handle, int64_t ns, GardenError* err) {
  return SetProperty(handle, "garden.grace-time", std::to_string(ns), err);
}

bool Backend::Stop(const std::string& handle, bool kill, GardenError* err) {
  if (!Exists(handle)) {
    *err = NotFound(handle);
    return false;
  }
  std::string procs = Dir(handle) + "/processes";
  std::vector<std::string> dirs;
  if (DIR* d = opendir(procs.c_str())) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') dirs.push_back(procs + "/" + e->d_name);
    }
    closedir(d);
  }
  auto all_done = [&] {
    for (const std::string& p : dirs) {
      absl::StatusOr<attach::Status> s = attach::GetStatus(p);
      if (s.ok() && s->running()) return false;
    }
    return true;
  };
  if (!kill) {
    for (const std::string& p : dirs) (void)attach::Signal(p, SIGTERM);
    for (int i = 0; i < 100 && !all_done(); ++i) usleep(100000);
  }
  for (const std::string& p : dirs) (void)attach::Signal(p, SIGKILL);
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<Json> r = Load(handle);
  if (r.ok()) {
    (*r)["state"] = "stopped";
    (void)Save(handle, *r);
  }
  return true;
}

absl::StatusOr<Json> Backend::Info(const std::string& handle, GardenError* err) {
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  const Json& props = (*r)["properties"];
  auto prop = [&](const char* k) { return props.contains(k) ? props[k].get<std::string>() : std::string(); };
  Json ports = Json::array();
  Json mapped = Json::parse(prop("garden.network.mapped-ports"), nullptr, false);
  if (mapped.is_array()) ports = mapped;
  Json pids = Json::array();
  std::string procs = Dir(handle) + "/processes";
  if (DIR* d = opendir(procs.c_str())) {
    std::vector<std::string> ids;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      absl::StatusOr<attach::Status> s = attach::GetStatus(procs + "/" + e->d_name);
      if (s.ok() && s->running()) ids.push_back(e->d_name);
    }
    closedir(d);
    std::sort(ids.begin(), ids.end());
    for (const std::string& id : ids) pids.push_back(id);
  }
  Json info;
  info["State"] = (*r)["state"] == "stopped" ? "stopped" : "active";
  info["Events"] = Json::array();
  info["HostIP"] = prop("garden.network.host-ip");
  info["ContainerIP"] = prop("garden.network.container-ip");
  info["ContainerIPv6"] = prop("garden.network.container-ipv6");
  info["ExternalIP"] = prop("garden.network.external-ip");
  info["ContainerPath"] = Dir(handle);
  info["ProcessIDs"] = pids;
  info["Properties"] = props;
  info["MappedPorts"] = ports;
  return info;
}

absl::StatusOr<Json> Backend::Limits(const std::string& handle, const std::string& kind,
                                      GardenError* err) {
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  const Json* limits = Field(*r, "limits");
  const Json* one = limits != nullptr ? Field(*limits, kind) : nullptr;
  return one != nullptr && one->is_object() ? *one : Json::object();
}

namespace {

// ContainerMemoryStat's keys (GARDEN_API.md 1.5) that are memory.stat's own.
constexpr const char* kMemoryStatKeys[] = {
    "active_anon", "active_file", "cache", "hierarchical_memory_limit", "inactive_anon",
    "inactive_file", "mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss",
    "total_active_anon", "total_active_file", "total_cache", "total_inactive_anon",
    "total_inactive_file", "total_mapped_file", "total_pgfault", "total_pgmajfault",
    "total_pgpgin", "total_pgpgout", "total_rss", "total_unevictable", "unevictable", "swap",
    "hierarchical_memsw_limit", "total_swap", "anon", "file", "swapcached"};

uint64_t U64(const Json& obj, std::initializer_list<const char*> path) {
  const Json* at = &obj;
  for (const char* k : path) {
    at = Field(*at, k);
    if (at == nullptr) return 0;
  }
  return at->is_number_unsigned() ? at->get<uint64_t>()
                                   : at->is_number_integer() && at->get<int64_t>() > 0 ? at->get<int64_t>() : 0;
}

}  // namespace

absl::StatusOr<Json> Backend::Metrics(const std::string& handle, GardenError* err) {
  absl::StatusOr<Json> r = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!r.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  // The cgroups' usage (empty for a rootless container without delegated cgroups).
  Json data = Json::object();
  absl::StatusOr<SubprocessResult> stats = Exec(Runtime({"events", "--stats", handle}));
  if (stats.ok() && stats->ok()) {
    Json event = Json::parse(stats->out, nullptr, false);
    if (const Json* d = Field(event, "data"); d != nullptr && d->is_object()) data = *d;
  }
  Json raw = Json::object();
  if (const Json* memory = Field(data, "memory"); memory != nullptr) {
    if (const Json* rr = Field(*memory, "raw"); rr != nullptr && rr->is_object()) raw = *rr;
  }
  Json memory = Json::object();
  for (const char* k : kMemoryStatKeys) memory[k] = U64(raw, {k});
  uint64_t usage = U64(data, {"memory", "usage", "usage"});
  uint64_t inactive = U64(raw, {"total_inactive_file"});
  memory["TotalUsageTowardLimit"] = usage > inactive ? usage - inactive : 0;
  // The image plugin's count of the container's disk.
  Json disk = {{"TotalBytesUsed", 0}, {"TotalInodesUsed", 0}, {"ExclusiveBytesUsed", 0},
               {"ExclusiveInodesUsed", 0}};
  if (!o_.image_plugin.empty() && Field(*r, "image_made") != nullptr) {
    std::vector<std::string> argv = {o_.image_plugin};
    argv.insert(argv.end(), o_.image_plugin_args.begin(), o_.image_plugin_args.end());
    argv.insert(argv.end(), {"stats", handle});
    absl::StatusOr<SubprocessResult> d = Exec(argv);
    if (d.ok() && d->ok()) {
      Json out = Json::parse(d->out, nullptr, false);
      disk["TotalBytesUsed"] = U64(out, {"disk_usage", "total_bytes_used"});
      disk["ExclusiveBytesUsed"] = U64(out, {"disk_usage", "exclusive_bytes_used"});
    }
  }
  Json m;
  m["MemoryStat"] = memory;
  m["CPUStat"] = {{"Usage", U64(data, {"cpu", "usage", "total"})},
                  {"User", U64(data, {"cpu", "usage", "user"})},
                  {"System", U64(data, {"cpu", "usage", "kernel"})}};
  m["DiskStat"] = disk;
  m["NetworkStat"] = nullptr;
  m["PidStat"] = {{"Current", U64(data, {"pids", "current"})}, {"Max", U64(data, {"pids", "limit"})}};
  int64_t created = Int(*r, "created_ns");
  m["Age"] = created > 0 ? NowNs() - created : 0;
  m["CPUEntitlement"] = 0;
  return m;
}

namespace {

std::string Prop(const Json& record, const char* key) {
  const Json* props = Field(record, "properties");
  const Json* v = props != nullptr ? Field(*props, key) : nullptr;
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<Json> Backend::NetIn(const std::string& handle, const Json& request, GardenError* err) {
  absl::StatusOr<Json> record = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!record.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  std::string ip = Prop(*record, "garden.network.container-ip");
  if (o_.network_plugin.empty() || ip.empty()) {
    *err = Other(absl::StrCat("cannot find container [", handle, "]"));
    return absl::FailedPreconditionError(err->message);
  }
  Json in = {{"HostIP", o_.external_ip}, {"HostPort", Int(request, "host_port")},
             {"ContainerIP", ip}, {"ContainerPort", Int(request, "container_port")}};
  std::vector<std::string> argv = {o_.network_plugin};
  argv.insert(argv.end(), o_.network_plugin_args.begin(), o_.network_plugin_args.end());
  argv.insert(argv.end(), {"--action", "net-in", "--handle", handle});
  absl::StatusOr<SubprocessResult> r = Exec(argv, in.dump(), true);
  if (!r.ok() || !r->ok()) {
    *err = Other(r.ok() ? absl::StrCat("external networker encountered an error running 'net-in' action: exit status ",
                                       r->exit_code, r->err.empty() ? "" : ": ", r->err)
                        : std::string(r.status().message()));
    return absl::InternalError(err->message);
  }
  Json out = Json::parse(r->out, nullptr, false);
  Json mapping = {{"host_port", out.is_object() ? Int(out, "host_port") : 0},
                  {"container_port", out.is_object() ? Int(out, "container_port") : 0}};
  // The mapping joins garden.network.mapped-ports (under the lock: properties change).
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<Json> now = Load(handle);
  if (now.ok()) {
    Json ports = Json::parse(Prop(*now, "garden.network.mapped-ports"), nullptr, false);
    if (!ports.is_array()) ports = Json::array();
    ports.push_back({{"HostPort", mapping["host_port"]}, {"ContainerPort", mapping["container_port"]}});
    (*now)["properties"]["garden.network.mapped-ports"] = ports.dump();
    (void)Save(handle, *now);
  }
  return mapping;
}

bool Backend::NetOut(const std::string& handle, const Json& rules, bool bulk, GardenError* err) {
  absl::StatusOr<Json> record = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!record.ok()) {
    *err = NotFound(handle);
    return false;
  }
  std::string ip = Prop(*record, "garden.network.container-ip");
  if (o_.network_plugin.empty() || ip.empty()) {
    *err = Other(absl::StrCat("cannot find container [", handle, "]"));
    return false;
  }
  Json in = {{"container_ip", ip}};
  in[bulk ? "netout_rules" : "netout_rule"] = rules;
  const char* action = bulk ? "bulk-net-out" : "net-out";
  std::vector<std::string> argv = {o_.network_plugin};
  argv.insert(argv.end(), o_.network_plugin_args.begin(), o_.network_plugin_args.end());
  argv.insert(argv.end(), {"--action", action, "--handle", handle});
  absl::StatusOr<SubprocessResult> r = Exec(argv, in.dump(), true);
  if (!r.ok() || !r->ok()) {
    *err = Other(r.ok() ? absl::StrCat("external networker encountered an error running '", action,
                                       "' action: exit status ", r->exit_code, r->err.empty() ? "" : ": ", r->err)
                        : std::string(r.status().message()));
    return false;
  }
  return true;
}

absl::StatusOr<std::string> Backend::TarProcess(const std::string& handle, const std::string& user,
                                                 const std::string& verb, const std::string& path,
                                                 GardenError* err) {
  if (!Exists(handle)) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  UniqueFd root;
  if (absl::StatusOr<int> init = InitPid(handle); init.ok()) {
    absl::StatusOr<UniqueFd> r = Open(absl::StrCat("/proc/", *init, "/root"), O_PATH | O_DIRECTORY);
    if (r.ok()) root = std::move(*r);
  }
  std::optional<UserIds> ids = FindUser(root.get(), user);
  if (!ids.has_value()) {
    *err = Other(absl::StrCat("unable to find user ", user, ": no matching entries in passwd file"));
    return absl::NotFoundError(err->message);
  }
  // A relative path is the user's home's (guardian's nstar).
  std::string where = path.empty() ? ids->home : path[0] == '/' ? path : absl::StrCat(ids->home, "/", path);
  Json process = {{"terminal", false},
                  {"user", {{"uid", ids->uid}, {"gid", ids->gid}}},
                  {"args", {"/.gdn-init", verb, where}},
                  {"env", {"PATH=/usr/local/bin:/usr/bin:/bin"}},
                  {"cwd", "/"}};
  std::string spec = absl::StrCat(Dir(handle), "/", verb, "-", Uuid(), ".json");
  if (!WriteFileAtomic(spec, process.dump() + "\n", 0600, kRuntimeState).ok()) {
    *err = Other("cannot write the process spec");
    return absl::InternalError(err->message);
  }
  return spec;
}

bool Backend::StreamIn(const std::string& handle, const std::string& user, const std::string& destination,
                       const std::function<long(char*, size_t)>& body, GardenError* err) {
  absl::StatusOr<std::string> spec = TarProcess(handle, user, "tar-in", destination, err);
  if (!spec.ok()) return false;
  absl::StatusOr<Pipe> in = MakePipe(O_NONBLOCK);
  if (!in.ok()) {
    unlink(spec->c_str());
    *err = Other(std::string(in.status().message()));
    return false;
  }
  // The child reads the pipe (its stdin); we feed it as the body arrives. Should the child
  // end early, the feeding stops instead of waiting on a full pipe.
  int flags = fcntl(in->read.get(), F_GETFL);
  fcntl(in->read.get(), F_SETFL, flags & ~O_NONBLOCK);
  SubprocessOptions o;
  o.argv = Runtime({"exec", "--process", *spec, handle});
  o.stdin_mode = Stdio::kFd;
  o.stdin_fd = in->read.get();
  o.timeout = absl::Hours(1);
  absl::StatusOr<SubprocessResult> result = absl::UnknownError("not run");
  std::atomic<bool> done{false};
  std::thread runner([&] {
    result = RunSubprocess(o);
    done = true;
  });
  char buf[65536];
  bool feeding = true;
  for (;;) {
    long n = body(buf, sizeof buf);
    if (n <= 0) break;  // the end of the body (or of the client)
    const char* at = buf;
    size_t left = static_cast<size_t>(n);
    while (feeding && left > 0) {
      ssize_t w = write(in->write.get(), at, left);
      if (w > 0) {
        at += w;
        left -= static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EAGAIN) {
        if (done) {
          feeding = false;
          break;
        }
        struct pollfd p = {in->write.get(), POLLOUT, 0};
        poll(&p, 1, 100);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      feeding = false;  // EPIPE: the child is gone; the rest of the body is drained
    }
  }
  in->write.Reset();
  runner.join();
  unlink(spec->c_str());
  if (!result.ok() || !result->ok()) {
    std::string why = result.ok() ? absl::StrCat("error streaming in: exit status ", result->exit_code,
                                                 ". Output: ", result->out, result->err)
                                  : std::string(result.status().message());
    *err = Other(why);
    return false;
  }
  return true;
}

absl::Status Backend::StreamOut(const std::string& handle, const std::string& user, const std::string& source,
                                const std::function<bool(absl::string_view)>& out, GardenError* err) {
  absl::StatusOr<std::string> spec = TarProcess(handle, user, "tar-out", source, err);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<Pipe> pipe = MakePipe();
  if (!pipe.ok()) {
    unlink(spec->c_str());
    *err = Other(std::string(pipe.status().message()));
    return pipe.status();
  }
  SubprocessOptions o;
  o.argv = Runtime({"exec", "--process", *spec, handle});
  o.stdout_mode = Stdio::kFd;
  o.stdout_fd = pipe->write.get();
  o.timeout = absl::Hours(1);
  absl::StatusOr<SubprocessResult> result = absl::UnknownError("not run");
  int write_end = pipe->write.Release();
  std::thread runner([&] {
    result = RunSubprocess(o);
    close(write_end);  // our copy: the reader below sees EOF once the child's is gone too
  });
  char buf[65536];
  bool wrote = false, client_ok = true;
  for (;;) {
    ssize_t n = read(pipe->read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (client_ok && !out(absl::string_view(buf, static_cast<size_t>(n)))) client_ok = false;
    wrote = true;
  }
  runner.join();
  unlink(spec->c_str());
  if (!result.ok() || !result->ok()) {
    std::string why = result.ok() ? absl::StrCat("error streaming out: exit status ", result->exit_code,
                                                 ". Output: ", result->err)
                                  : std::string(result.status().message());
    *err = Other(why);
    // After the first byte the answer is already 200: the body just ends early.
    return wrote ? absl::DataLossError(why) : absl::InternalError(why);
  }
  return absl::OkStatus();
}

Json Backend::Capacity() {
  struct sysinfo si;
  sysinfo(&si);
  struct statvfs sv;
  uint64_t disk = statvfs(o_.depot.c_str(), &sv) == 0 ? static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize : 0;
  Json c = Json::object();
  c["memory_in_bytes"] = static_cast<uint64_t>(si.totalram) * si.mem_unit;
  c["disk_in_bytes"] = disk;
  c["schedulable_disk_in_bytes"] = disk;
  c["max_containers"] = o_.max_containers > 0 ? static_cast<uint64_t>(o_.max_containers)
                                              : static_cast<uint64_t>(~0ULL);
  return c;
}

bool Backend::ProcessExists(const std::string& handle, const std::string& id) {
  return IsPlainName(id, 255) && FileExists(ProcessDir(handle, id) + "/spec.json");
}

absl::StatusOr<std::string> Backend::Run(const std::string& handle, const Json& spec, GardenError* err) {
  absl::StatusOr<Json> record = Exists(handle) ? Load(handle) : absl::NotFoundError("");
  if (!record.ok()) {
    *err = NotFound(handle);
    return absl::NotFoundError(err->message);
  }
  std::string id = Str(spec, "id");
  if (id.empty()) id = Uuid();
  if (!IsPlainName(id, 255)) {
    *err = Other(absl::StrCat("invalid process ID '", id, "'"));
    return absl::InvalidArgumentError(err->message);
  }
  std::string dir = ProcessDir(handle, id);
  (void)MakeDirs(Dir(handle) + "/processes", 0700);
  if (mkdir(dir.c_str(), 0700) != 0) {
    *err = Other(absl::StrCat("process ID '", id, "' already in use"));
    return absl::AlreadyExistsError(err->message);
  }
  // The OCI process spawn exec runs: Garden's env, user and directory rules (GARDEN_API.md 5.4).
  // The container's files, seen through its init's root without leaving it.
  absl::StatusOr<int> init = InitPid(handle);
  UniqueFd root;
  if (init.ok()) {
    absl::StatusOr<UniqueFd> r = Open(absl::StrCat("/proc/", *init, "/root"), O_PATH | O_DIRECTORY);
    if (r.ok()) root = std::move(*r);
  }
  auto in_container = [&](const std::string& path, int flags) {
    return OpenInRoot(root.get(), path, flags);
  };
  std::string user = Str(spec, "user");
  std::optional<UserIds> ids = FindUser(root.get(), user);
  if (!ids.has_value()) {
    rmdir(dir.c_str());
    *err = Other(absl::StrCat("unable to find user ", user, ": no matching entries in passwd file"));
    return absl::NotFoundError(err->message);
  }
  uint32_t uid = ids->uid, gid = ids->gid;
  std::string home = ids->home;
  Json env = (*record)["env"];
  if (const Json* e = Field(spec, "env"); e != nullptr && e->is_array()) {
    for (const Json& x : *e) env.push_back(x);
  }
  bool has_path = false, has_user = false;
  for (const Json& x : env) {
    if (x.is_string() && absl::StartsWith(x.get<std::string>(), "PATH=")) has_path = true;
    if (x.is_string() && absl::StartsWith(x.get<std::string>(), "USER=")) has_user = true;
  }
  if (!has_path) {
    env.push_back(uid == 0 ? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                           : "PATH=/usr/local/bin:/usr/bin:/bin");
  }
  if (!has_user) env.push_back("USER=" + (user.empty() ? std::string("root") : user));
  Json args = Json::array({Str(spec, "path")});
  if (const Json* a = Field(spec, "args"); a != nullptr && a->is_array()) {
    for (const Json& x : *a) args.push_back(x);
  }
  const Json* tty = Field(spec, "tty");
  bool terminal = tty != nullptr && tty->is_object();
  std::string cwd = Str(spec, "dir");
  if (cwd.empty()) cwd = home;
  if (cwd[0] != '/') cwd = absl::StrCat(home, "/", cwd);
  // An executable that is not there is Garden's ExecutableNotFoundError, before anything runs.
  std::string path = Str(spec, "path");
  auto executable = [&](const std::string& p) {
    int fd = in_container(p, O_PATH);
    if (fd < 0) return false;
    UniqueFd f(fd);
    struct stat st;
    return fstat(f.get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
  };
  bool found = false;
  if (path.find('/') != std::string::npos) {
    found = executable(path[0] == '/' ? path : absl::StrCat(cwd, "/", path));
  } else {
    std::string search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const Json& x : env) {
      if (x.is_string() && absl::StartsWith(x.get<std::string>(), "PATH=")) search = x.get<std::string>().substr(5);
    }
    for (absl::string_view d : absl::StrSplit(search, ':', absl::SkipEmpty())) {
      if (executable(absl::StrCat(d, "/", path))) found = true;
    }
  }
  if (root.valid() && !found) {
    rmdir(dir.c_str());
    *err = GardenError{ErrorKind::kExecutableNotFound,
                       absl::StrCat("exec: \"", path, "\": executable file not found in $PATH"), "", ""};
    return absl::NotFoundError(err->message);
  }
  // The working directory is made if missing, as Garden does, owned by the user where we may.
  if (root.valid()) {
    std::string made;
    for (absl::string_view part : absl::StrSplit(cwd, '/', absl::SkipEmpty())) {
      absl::StrAppend(&made, "/", part);
      int fd = in_container(made, O_PATH | O_DIRECTORY);
      if (fd >= 0) {
        close(fd);
        continue;
      }
      size_t slash = made.rfind('/');
      int parent = in_container(slash == 0 ? "/" : made.substr(0, slash), O_PATH | O_DIRECTORY);
      if (parent < 0) break;
      UniqueFd p(parent);
      if (mkdirat(p.get(), std::string(part).c_str(), 0755) != 0) break;
      if (!o_.rootless) (void)!fchownat(p.get(), std::string(part).c_str(), uid, gid, 0);
    }
  }
  // A TTY is made inside the container by the runtime (its devpts, so that the process's
  // tty(1) and ttyname(3) work) and sent to the keeper over D/console.sock, as runc does.
  int64_t rows = 24, cols = 80;
  if (terminal) {
    const Json* ws = Field(*tty, "window_size");
    if (ws != nullptr && Int(*ws, "rows") > 0) rows = Int(*ws, "rows");
    if (ws != nullptr && Int(*ws, "columns") > 0) cols = Int(*ws, "columns");
  }
  Json process = {{"terminal", terminal}, {"user", {{"uid", uid}, {"gid", gid}}}, {"args", args},
                  {"env", env}, {"cwd", cwd}};
  if (terminal) process["consoleSize"] = {{"height", rows}, {"width", cols}};
  if (!WriteFileAtomic(dir + "/spec.json", process.dump() + "\n", 0600, kRuntimeState).ok()) {
    *err = Other("cannot write the process spec");
    return absl::InternalError(err->message);
  }
  // What `attach run --dir D --stdin [--tty ...] -- RUNTIME exec ...` does, done here: the
  // keeper (attach-keeper from the assets) starts the runtime's exec under it.
  std::vector<std::string> exec_args = {"exec", "--process", dir + "/spec.json", "--cwd", cwd};
  attach::RunOptions run;
  run.dir = dir;
  run.stdin = true;
  run.keeper_binary = o_.assets + "/attach-keeper";
  if (terminal) {
    run.tty = true;
    run.rows = static_cast<unsigned>(rows);
    run.cols = static_cast<unsigned>(cols);
    run.console_socket = true;
    exec_args.insert(exec_args.end(), {"--console-socket", dir + "/console.sock"});
  }
  exec_args.push_back(handle);
  run.argv = Runtime(exec_args);
  absl::Time start = absl::Now();
  absl::StatusOr<attach::Process> started = attach::StartKeeper(run);
  if (g_log_children.load()) {
    fprintf(stderr, "gdn: attach-keeper --dir %s -- %s: %s in %.1f ms\n", dir.c_str(),
            absl::StrJoin(run.argv, " ").c_str(),
            started.ok() ? absl::StrCat("started pid ", started->pid()).c_str()
                         : std::string(started.status().message()).c_str(),
            absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  if (!started.ok()) {
    (void)RemoveAll(dir);
    std::string why = absl::StrCat("attach run: ", started.status().message());
    *err = Other(why);
    return absl::InternalError(why);
  }
  return id;
}

}  // namespace gdn::server
