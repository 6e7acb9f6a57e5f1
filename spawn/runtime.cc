#include "spawn/runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <seccomp.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/names.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subprocess.h"
#include "lib/userns.h"
#include "spawn/cgroups.h"
#include "spawn/config.schema.h"
#include "spawn/init_child.h"
#include "spawn/linux_names.h"
#include "spawn/plan.h"
#include "spawn/record.schema.h"
#include "spawn/seccomp.h"
#include "spawn/sync.h"

namespace gdn::spawn {
namespace {

constexpr char kStateFile[] = "state.json";
constexpr char kExecFifo[] = "exec.fifo";
// The spec the container was created with, in protobuf's binary form: what `exec` reads (as
// runc keeps the config in its state), so that an exec neither parses the bundle's JSON
// again nor sees a config.json changed since.
constexpr char kSpecFile[] = "config.pb";
constexpr char kOciVersion[] = "1.0.2";

// Signals `run` and `exec` pass on to the container's process.
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool Alive(const Record& r) {
  if (r.pid() <= 0) return false;
  ProcessStart s = ReadProcessStart(r.pid());
  return s.running && s.start_time == r.pid_start_time();
}

std::string Status(const std::string& dir, const Record& r) {
  if (r.pid() <= 0) return "creating";
  if (!Alive(r)) return "stopped";
  return Exists(absl::StrCat(dir, "/", kExecFifo)) ? "created" : "running";
}

// Waits (at most `limit`) for a process that is not our child to end.
bool WaitGone(const Record& r, absl::Duration limit) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, r.pid(), 0)));
  absl::Time deadline = absl::Now() + limit;
  while (Alive(r)) {
    if (absl::Now() >= deadline) return false;
    if (pidfd.valid()) {
      struct pollfd p = {pidfd.get(), POLLIN, 0};
      poll(&p, 1, 10);
    } else {
      usleep(1000);
    }
  }
  return true;
}

// The pids of a container: every process in its pid namespace, or init and its descendants.
std::vector<int> ContainerPids(const Record& r) {
  std::vector<int> pids;
  if (!Alive(r)) return pids;
  char target[64] = {};
  std::string ns_link = absl::StrCat("/proc/", r.pid(), "/ns/pid");
  ssize_t n = readlink(ns_link.c_str(), target, sizeof target - 1);
  std::map<int, int> parent;
  DIR* d = opendir("/proc");
  if (d == nullptr) return {r.pid()};
  while (struct dirent* e = readdir(d)) {
    int pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    if (r.new_pid_namespace() && n > 0) {
      char link[64] = {};
      std::string path = absl::StrCat("/proc/", pid, "/ns/pid");
      if (readlink(path.c_str(), link, sizeof link - 1) == n && memcmp(link, target, n) == 0) {
        pids.push_back(pid);
      }
      continue;
    }
    absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat.ok()) continue;
    std::string::size_type close = stat->rfind(')');
    std::vector<std::string> f = absl::StrSplit(stat->substr(close + 2), ' ');
    int ppid;
    if (f.size() > 1 && absl::SimpleAtoi(f[1], &ppid)) parent[pid] = ppid;
  }
  closedir(d);
  if (!r.new_pid_namespace() || n <= 0) {
    for (const auto& [pid, ppid] : parent) {
      for (int p = pid; p > 1; p = parent.count(p) ? parent[p] : 0) {
        if (p == r.pid()) {
          pids.push_back(pid);
          break;
        }
      }
    }
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string RootDefault() {
  // Root of a user namespace (rootless podman) is no root of /run.
  if (geteuid() == 0 && !InNonInitialUserNamespace()) return "/run/spawn";
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg == '/' && Exists(xdg)) return absl::StrCat(xdg, "/spawn");
  return absl::StrCat("/tmp/spawn-", geteuid());
}

// One whole message from the child; false when it closed its end (it died), or, with
// MSG_DONTWAIT, when none is there yet.
bool ReceiveSync(int fd, SyncMessage* m, int flags = 0) {
  ssize_t n;
  do {
    n = recv(fd, m, sizeof *m, flags);
    // ECONNRESET: the child ended with a message of ours unread (kJoined, say, sent while it
    // was failing). The kernel reports that once, before what the child sent: its error is
    // still queued behind it.
  } while (n < 0 && (errno == EINTR || errno == ECONNRESET));
  return n == static_cast<ssize_t>(sizeof *m);
}

absl::Status ChildError(const SyncMessage& m) {
  std::string text(m.text, strnlen(m.text, sizeof m.text));
  if (m.err == 0) return absl::InvalidArgumentError(text);
  absl::Status s = ErrnoError(m.err, "");
  return absl::Status(s.code(), text);
}

absl::StatusOr<UniqueFd> ConnectConsole(const std::string& path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("--console-socket path too long: ", path));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, "connect to the console socket", path);
  }
  return fd;
}

// What a child of spawn talks over: the sync socket pair, and the console socket if any.
struct Channels {
  UniqueFd console;
  UniqueFd ours, theirs;
};

absl::StatusOr<Channels> OpenChannels(const std::string& console_socket) {
  Channels c;
  if (!console_socket.empty()) {
    ASSIGN_OR_RETURN(c.console, ConnectConsole(console_socket));
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoError(errno, "socketpair");
  }
  c.ours.Reset(pair[0]);
  c.theirs.Reset(pair[1]);
  return c;
}

// The compiled filter of a profile, from <root>/.seccomp when it was compiled before:
// libseccomp takes milliseconds for a profile like the default one, reading it back
// microseconds. A cache file holds the profile it was made from (compared byte for byte,
// so a hash collision can only cost a compile), the flags and the BPF; it is used only when
// it is ours and nobody else may write it.
absl::StatusOr<SeccompProgram> CachedSeccomp(const oci::Seccomp& profile, const std::string& root) {
  std::string key;
  {
    google::protobuf::io::StringOutputStream out(&key);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    profile.SerializeToCodedStream(&coded);
  }
  key.insert(0, "spawn seccomp cache 1 libseccomp " + std::to_string(SCMP_VER_MAJOR) + "." +
                    std::to_string(SCMP_VER_MINOR) + "." + std::to_string(SCMP_VER_MICRO) + "\n");
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  std::string dir = absl::StrCat(root, "/.seccomp");
  std::string path = absl::StrFormat("%s/%016x", dir, h);
  auto u32 = [](absl::string_view s, size_t at) {
    uint32_t v;
    memcpy(&v, s.data() + at, 4);
    return v;
  };
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
      (st.st_mode & 022) == 0) {
    absl::StatusOr<std::string> data = ReadFile(path);
    if (data.ok() && data->size() >= 8) {
      uint32_t n = u32(*data, 0);
      if (data->size() >= 8ull + n && data->compare(4, n, key) == 0 &&
          (data->size() - 8 - n) % sizeof(struct sock_filter) == 0) {
        SeccompProgram p;
        p.flags = u32(*data, 4 + n);
        p.filter.resize((data->size() - 8 - n) / sizeof(struct sock_filter));
        memcpy(p.filter.data(), data->data() + 8 + n, data->size() - 8 - n);
        return p;
      }
    }
  }
  ASSIGN_OR_RETURN(SeccompProgram p, CompileSeccomp(profile));
  std::string data(8 + key.size() + p.filter.size() * sizeof(struct sock_filter), '\0');
  uint32_t n = static_cast<uint32_t>(key.size());
  memcpy(data.data(), &n, 4);
  memcpy(data.data() + 4, key.data(), key.size());
  memcpy(data.data() + 4 + key.size(), &p.flags, 4);
  memcpy(data.data() + 8 + key.size(), p.filter.data(), p.filter.size() * sizeof(struct sock_filter));
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    (void)WriteFileAtomic(path, data, 0600);  // a cache: failing to keep it costs nothing
  }
  return p;
}

absl::StatusOr<UniqueFd> LockDir(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(dir, O_RDONLY | O_DIRECTORY));
  if (flock(fd.get(), LOCK_EX) != 0) return ErrnoError(errno, "lock", dir);
  return fd;
}

absl::StatusOr<oci::Spec> ReadSpec(const std::string& bundle) {
  oci::Spec spec;
  std::string path = absl::StrCat(bundle, "/config.json");
  absl::Status read = ReadLiteJson(path, &spec, {/*ignore_unknown_fields=*/true});
  if (absl::IsNotFound(read)) {
    return absl::NotFoundError(absl::StrCat("no config.json in the bundle ", bundle));
  }
  if (!read.ok()) return read;
  return spec;
}

// The spec a container was created with (kSpecFile), or its bundle's if it has none.
absl::StatusOr<oci::Spec> ReadCreatedSpec(const std::string& dir, const std::string& bundle) {
  std::string path = absl::StrCat(dir, "/", kSpecFile);
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) {
    if (absl::IsNotFound(data.status())) return ReadSpec(bundle);
    return data.status();
  }
  oci::Spec spec;
  if (!spec.ParseFromString(*data)) {
    return absl::DataLossError(absl::StrCat(path, " is not a spec: the container's state is damaged"));
  }
  return spec;
}

absl::Status RemoveDir(const std::string& dir) {
  for (const char* name : {kStateFile, kExecFifo, kSpecFile}) {
    std::string path = absl::StrCat(dir, "/", name);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "remove", path);
  }
  // Leftover temporary files of an interrupted atomic write.
  DIR* d = opendir(dir.c_str());
  if (d != nullptr) {
    while (struct dirent* e = readdir(d)) {
      if (strncmp(e->d_name, "state.json.tmp-", 15) == 0) {
        unlinkat(dirfd(d), e->d_name, 0);
      }
    }
    closedir(d);
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "remove", dir);
  return absl::OkStatus();
}

sigset_t ForwardedSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  sigaddset(&set, SIGCHLD);
  return set;
}

// Waits for our child `pid`, passing on the forwarded signals; its shell status.
int WaitForwarding(pid_t pid) {
  sigset_t set = ForwardedSet();
  for (;;) {
    int status;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (got < 0 && errno != EINTR) return 255;
    siginfo_t info;
    struct timespec tick = {0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&set, &info, &tick);
    if (sig > 0 && sig != SIGCHLD) kill(pid, sig);
  }
}

// The container's process as the --process file or flags of `exec` ask, over `base`.
absl::StatusOr<ProcessPlan> ExecProcessPlan(const ExecOptions& o, const oci::Process& base) {
  oci::Process p;
  if (!o.process_file.empty()) {
    RETURN_IF_ERROR(ReadLiteJson(o.process_file, &p, {/*ignore_unknown_fields=*/true}));
    return MakeProcessPlan(p);
  }
  if (o.args.empty()) return UsageError("exec needs a command (or --process)");
  p = base;
  p.clear_args();
  for (const std::string& a : o.args) p.add_args(a);
  for (const std::string& e : o.env) {
    std::string name = e.substr(0, e.find('='));
    bool replaced = false;
    for (std::string& existing : *p.mutable_env()) {
      if (existing.substr(0, existing.find('=')) == name) {
        existing = e;
        replaced = true;
      }
    }
    if (!replaced) p.add_env(e);
  }
  if (!o.cwd.empty()) p.set_cwd(o.cwd);
  if (!o.user.empty()) {
    std::vector<std::string> parts = absl::StrSplit(o.user, ':');
    uint32_t uid = 0, gid = 0;
    if (parts.size() > 2 || !absl::SimpleAtoi(parts[0], &uid) ||
        (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &gid))) {
      return UsageError(absl::StrCat("--user \"", o.user, "\" is not UID[:GID]"));
    }
    p.mutable_user()->set_uid(uid);
    p.mutable_user()->set_gid(gid);
  }
  for (const std::string& cap : o.caps) {
    for (auto* set : {p.mutable_capabilities()->mutable_bounding(),
                      p.mutable_capabilities()->mutable_effective(),
                      p.mutable_capabilities()->mutable_permitted()}) {
      *set->Add() = cap;
    }
  }
  p.set_terminal(o.tty);
  if (o.no_new_privs) p.set_no_new_privileges(true);
  return MakeProcessPlan(p);
}

}  // namespace

absl::Status CheckContainerId(const std::string& id) {
  if (!IsPlainName(id, 128)) {
    return UsageError(absl::StrCat("invalid container id \"", id,
                                   "\": 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -"));
  }
  return absl::OkStatus();
}

Runtime::Runtime(RuntimeOptions options)
    : options_(std::move(options)), root_(options_.root.empty() ? RootDefault() : options_.root) {}

std::string Runtime::Dir(const std::string& id) const { return absl::StrCat(root_, "/", id); }

absl::Status Runtime::EnsureRoot() {
  if (mkdir(root_.c_str(), 0700) != 0 && errno != EEXIST) {
    // Make the parents of an explicit --root, as runc does.
    SubprocessOptions o;
    o.argv = {"mkdir", "-p", "-m", "0700", root_};
    absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
    if (!r.ok() || !r->ok()) return ErrnoError(ENOENT, "create the state root", root_);
  }
  struct stat st;
  if (lstat(root_.c_str(), &st) != 0) return ErrnoError(errno, "stat", root_);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the state root ", root_, " is not a folder owned by uid ", geteuid()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Runtime::CreateInit(const CreateOptions& o, bool wait_for_start,
                                        bool wait_for_exec) {
  RETURN_IF_ERROR(CheckContainerId(o.id));
  // The init keeps the sync socket until its exec (one waiting for `start` says ready before).
  bool report_exec = wait_for_exec && !wait_for_start;
  char bundle_buf[PATH_MAX];
  std::string bundle_arg = o.bundle.empty() ? "." : o.bundle;
  if (realpath(bundle_arg.c_str(), bundle_buf) == nullptr) {
    return ErrnoError(errno, "open the bundle", bundle_arg);
  }
  std::string bundle = bundle_buf;
  ASSIGN_OR_RETURN(oci::Spec spec, ReadSpec(bundle));
  RuntimeContext context{geteuid(), getegid(), InNonInitialUserNamespace()};
  ASSIGN_OR_RETURN(Plan plan, MakePlan(spec, bundle, context));
  plan.process.PrepareExec();
  if (plan.process.terminal && o.console_socket.empty()) {
    return absl::InvalidArgumentError(
        "process.terminal is true: pass --console-socket to receive the terminal");
  }

  Cgroups cgroups;
  if (!context.in_user_namespace || HasResources(spec.linux().resources())) {
    ASSIGN_OR_RETURN(cgroups, Cgroups::ForContainer(spec.linux(), o.id, geteuid(), getegid()));
  }
  plan.wait_for_parent = !cgroups.empty();

  RETURN_IF_ERROR(EnsureRoot());
  if (spec.linux().has_seccomp()) {
    ASSIGN_OR_RETURN(plan.process.seccomp, CachedSeccomp(spec.linux().seccomp(), root_));
  }
  std::string dir = Dir(o.id);
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("container \"", o.id, "\" already exists"));
    }
    return ErrnoError(errno, "create", dir);
  }
  absl::Cleanup remove_dir = [&dir] { (void)RemoveDir(dir); };
  ASSIGN_OR_RETURN(UniqueFd lock, LockDir(dir));

  RETURN_IF_ERROR(cgroups.Create());
  absl::Cleanup remove_cgroups = [&cgroups] { (void)cgroups.Remove(/*kill=*/true); };
  if (!cgroups.empty()) {
    std::vector<std::string> devices;
    for (const DeviceStep& d : plan.devices) {
      devices.push_back(absl::StrCat(S_ISBLK(d.mode) ? "b " : "c ", d.major, ":", d.minor, " rwm"));
    }
    RETURN_IF_ERROR(cgroups.Apply(spec.linux().resources(), devices));
  }

  UniqueFd fifo;
  if (wait_for_start) {
    std::string path = absl::StrCat(dir, "/", kExecFifo);
    if (mkfifo(path.c_str(), 0600) != 0) return ErrnoError(errno, "mkfifo", path);
    // O_RDWR never blocks; the init reads from it until `start` writes a byte.
    ASSIGN_OR_RETURN(fifo, Open(path, O_RDWR));
  }
  ASSIGN_OR_RETURN(Channels channels, OpenChannels(o.console_socket));
  UniqueFd console = std::move(channels.console);
  UniqueFd ours = std::move(channels.ours), theirs = std::move(channels.theirs);

  // Signals we pass on while waiting stay blocked in us, and are unblocked in the child.
  sigset_t forwarded = ForwardedSet(), previous;
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  pid_t pid = static_cast<pid_t>(
      syscall(SYS_clone, static_cast<unsigned long>(plan.clone_flags) | SIGCHLD, nullptr,
              nullptr, nullptr, nullptr));
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    ours.Reset();
    InitFds fds;
    fds.sync = theirs.get();
    fds.exec_fifo = fifo.get();
    fds.console = console.get();
    fds.preserve_fds = o.preserve_fds;
    fds.report_exec = report_exec;
    RunInitChild(plan, fds);
  }
  if (pid < 0) {
    int err = errno;
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return ErrnoError(err, "clone the container's init (namespaces)");
  }
  theirs.Reset();
  fifo.Reset();
  console.Reset();
  absl::Cleanup kill_init = [pid] {
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
  };
  absl::Cleanup restore_mask = [&previous, wait_for_start] {
    if (wait_for_start) sigprocmask(SIG_SETMASK, &previous, nullptr);
  };

  if (plan.new_userns) {
    RETURN_IF_ERROR(WriteIdMaps(pid, plan.uid_map, plan.gid_map, FindIdmap(options_.idmap)));
    SyncMessage go = {};
    go.type = kMapsWritten;
    if (send(ours.get(), &go, sizeof go, MSG_NOSIGNAL) < 0) {
      return absl::InternalError("the container's init died before its maps were written");
    }
  }
  // Moving a task between cgroups can wait out an RCU grace period (milliseconds): the child
  // sets up its mounts meanwhile, and waits for kJoined only before it is ready.
  if (plan.wait_for_parent) {
    absl::Status joined = cgroups.Join(pid);
    if (!joined.ok()) {
      // A child that failed meanwhile said why: that is the better sentence.
      SyncMessage m = {};
      if (ReceiveSync(ours.get(), &m, MSG_DONTWAIT) && m.type == kError) {
        return ChildError(m);
      }
      return joined;
    }
    SyncMessage go = {};
    go.type = kJoined;
    // A child that is gone left its error (or its end) to be read below.
    (void)send(ours.get(), &go, sizeof go, MSG_NOSIGNAL);
  }
  // Written while the init sets up its mounts; before the record, so that every container
  // with a record has it (one without, made by an older spawn, is read from its bundle).
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(dir, "/", kSpecFile), spec.SerializeAsString(), 0600,
                                  Durability::kProcessCrash));
  SyncMessage m = {};
  if (!ReceiveSync(ours.get(), &m)) {
    int status = 0;
    std::move(kill_init).Cancel();
    waitpid(pid, &status, 0);
    return absl::InternalError(absl::StrCat(
        "the container's init ended before it was ready (",
        WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                          : absl::StrCat("signal ", WTERMSIG(status)),
        ")"));
  }
  if (m.type == kError) return ChildError(m);
  if (report_exec) {
    // `run --detach`: until the process runs. The init is spawn, not dumpable, until its exec; an
    // unprivileged `exec` right after a `run --detach` could not join it before then.
    SyncMessage after = {};
    if (ReceiveSync(ours.get(), &after) && after.type == kError) return ChildError(after);
  }

  Record record;
  record.set_id(o.id);
  record.set_pid(pid);
  record.set_pid_start_time(ReadProcessStart(pid).start_time);
  record.set_bundle(bundle);
  record.set_rootfs(plan.rootfs);
  record.set_created(absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()));
  record.set_owner_uid(geteuid());
  for (const auto& [k, v] : spec.annotations()) (*record.mutable_annotations())[k] = v;
  record.set_new_pid_namespace((plan.clone_flags & CLONE_NEWPID) != 0);
  record.set_new_user_namespace(plan.new_userns);
  record.set_cgroup_version(cgroups.version());
  for (const std::string& d : cgroups.dirs()) record.add_cgroup_dirs(d);
  // Runtime state: a reboot ends the container too (no fsync).
  RETURN_IF_ERROR(
      WriteFileAtomic(absl::StrCat(dir, "/", kStateFile), LiteToJson(record), 0600, Durability::kProcessCrash));
  if (!o.pid_file.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic(o.pid_file, absl::StrCat(pid), 0644, Durability::kProcessCrash));
  }
  std::move(kill_init).Cancel();
  std::move(remove_cgroups).Cancel();
  std::move(remove_dir).Cancel();
  return pid;
}

absl::Status Runtime::Create(const CreateOptions& o) {
  return CreateInit(o, /*wait_for_start=*/true).status();
}

namespace {

Cgroups CgroupsOf(const Record& r) {
  return Cgroups(r.cgroup_version(),
                 std::vector<std::string>(r.cgroup_dirs().begin(), r.cgroup_dirs().end()));
}

absl::StatusOr<Record> ReadRecord(const std::string& dir, const std::string& id) {
  Record r;
  absl::Status s = ReadLiteJson(absl::StrCat(dir, "/", kStateFile), &r);
  if (absl::IsNotFound(s)) return absl::NotFoundError(absl::StrCat("container \"", id, "\" does not exist"));
  if (!s.ok()) return s;
  return r;
}

}  // namespace

absl::Status Runtime::Start(const std::string& id) {
  RETURN_IF_ERROR(CheckContainerId(id));
  std::string dir = Dir(id);
  absl::StatusOr<UniqueFd> lock = LockDir(dir);
  if (absl::IsNotFound(lock.status())) {
    return absl::NotFoundError(absl::StrCat("container \"", id, "\" does not exist"));
  }
  if (!lock.ok()) return lock.status();
  ASSIGN_OR_RETURN(Record r, ReadRecord(dir, id));
  std::string status = Status(dir, r);
  if (status != "created") {
    return absl::FailedPreconditionError(
        absl::StrCat("container \"", id, "\" is ", status, ", not created: it cannot start"));
  }
  std::string fifo_path = absl::StrCat(dir, "/", kExecFifo);
  absl::StatusOr<UniqueFd> fifo = Open(fifo_path, O_WRONLY | O_NONBLOCK);
  if (!fifo.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("container \"", id, "\" is not waiting to start: ", fifo.status().message()));
  }
  RETURN_IF_ERROR(WriteAll(fifo->get(), "0"));
  if (unlink(fifo_path.c_str()) != 0) return ErrnoError(errno, "remove", fifo_path);
  return absl::OkStatus();
}

absl::StatusOr<int> Runtime::Run(const CreateOptions& o, bool detach, bool keep) {
  ASSIGN_OR_RETURN(int pid, CreateInit(o, /*wait_for_start=*/false, /*wait_for_exec=*/detach));
  if (detach) return 0;
  int status = WaitForwarding(pid);
  sigset_t forwarded = ForwardedSet();
  sigprocmask(SIG_UNBLOCK, &forwarded, nullptr);
  if (!keep) RETURN_IF_ERROR(Delete(o.id, /*force=*/true));
  return status;
}

absl::StatusOr<std::string> Runtime::State(const std::string& id) {
  RETURN_IF_ERROR(CheckContainerId(id));
  std::string dir = Dir(id);
  ASSIGN_OR_RETURN(Record r, ReadRecord(dir, id));
  oci::State state;
  state.set_oci_version(kOciVersion);
  state.set_id(r.id());
  state.set_status(Status(dir, r));
  state.set_pid(state.status() == "stopped" ? 0 : r.pid());
  state.set_bundle(r.bundle());
  state.set_rootfs(r.rootfs());
  state.set_created(r.created());
  state.set_owner(r.owner_uid() == 0 ? "root" : absl::StrCat(r.owner_uid()));
  for (const auto& [k, v] : r.annotations()) (*state.mutable_annotations())[k] = v;
  PrintOptions print;
  print.json_names = true;
  print.pretty = true;
  return LiteToJson(state, print);
}

absl::Status Runtime::Kill(const std::string& id, const std::string& signal, bool all) {
  RETURN_IF_ERROR(CheckContainerId(id));
  ASSIGN_OR_RETURN(int sig, SignalNumber(signal.empty() ? "TERM" : signal));
  std::string dir = Dir(id);
  ASSIGN_OR_RETURN(Record r, ReadRecord(dir, id));
  std::string status = Status(dir, r);
  if (status == "stopped") {
    return absl::FailedPreconditionError(absl::StrCat("container \"", id, "\" is not running"));
  }
  Cgroups cgroups = CgroupsOf(r);
  if (all && !cgroups.empty()) return cgroups.Signal(sig);  // frozen: nothing forks away
  std::vector<int> pids = all ? ContainerPids(r) : std::vector<int>{r.pid()};
  for (int pid : pids) {
    if (kill(pid, sig) != 0 && errno != ESRCH) return ErrnoError(errno, "kill", absl::StrCat(pid));
  }
  return absl::OkStatus();
}

absl::Status Runtime::Delete(const std::string& id, bool force) {
  RETURN_IF_ERROR(CheckContainerId(id));
  std::string dir = Dir(id);
  absl::StatusOr<UniqueFd> lock = LockDir(dir);
  if (absl::IsNotFound(lock.status())) {
    if (force) return absl::OkStatus();
    return absl::NotFoundError(absl::StrCat("container \"", id, "\" does not exist"));
  }
  if (!lock.ok()) return lock.status();
  absl::StatusOr<Record> r = ReadRecord(dir, id);
  if (absl::IsNotFound(r.status())) return RemoveDir(dir);  // creation was cut short
  if (!r.ok()) return r.status();
  std::string status = Status(dir, *r);
  if (status == "running" && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container \"", id, "\" is running: stop it first, or delete --force"));
  }
  Cgroups cgroups = CgroupsOf(*r);
  if (status != "stopped") {
    // Frozen first, so that nothing escapes by forking while the rest is killed.
    if (!cgroups.empty()) (void)cgroups.Signal(SIGKILL);
    // An init of its own pid namespace takes every other process of it along when it dies
    // (the kernel kills them and reaps them before the init is gone): no need to look for
    // them through /proc, which costs much on a busy host.
    if (r->new_pid_namespace()) {
      kill(r->pid(), SIGKILL);
    } else {
      for (int pid : ContainerPids(*r)) kill(pid, SIGKILL);
    }
    if (!WaitGone(*r, absl::Seconds(10))) {
      return absl::UnavailableError(absl::StrCat("container \"", id, "\" did not die on SIGKILL"));
    }
  }
  // Reap the init if it is our own child (run, or create in this process).
  int wstatus;
  waitpid(r->pid(), &wstatus, WNOHANG);
  // Whatever is left in the cgroups (a container without its own pid namespace, or after an
  // OOM kill of its init) goes with them.
  RETURN_IF_ERROR(cgroups.Remove(/*kill=*/true));
  return RemoveDir(dir);
}

absl::StatusOr<std::string> Runtime::List(const std::string& format, bool quiet) {
  std::vector<std::string> ids;
  DIR* d = opendir(root_.c_str());
  if (d != nullptr) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.' && Exists(absl::StrCat(root_, "/", e->d_name, "/", kStateFile))) {
        ids.push_back(e->d_name);
      }
    }
    closedir(d);
  }
  std::sort(ids.begin(), ids.end());
  if (quiet) {
    std::string out;
    for (const std::string& id : ids) absl::StrAppend(&out, id, "\n");
    return out;
  }
  std::vector<std::string> json;
  std::string table = absl::StrFormat("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS",
                                      "BUNDLE", "CREATED", "OWNER");
  for (const std::string& id : ids) {
    absl::StatusOr<Record> r = ReadRecord(Dir(id), id);
    if (!r.ok()) continue;
    std::string status = Status(Dir(id), *r);
    int pid = status == "stopped" ? 0 : r->pid();
    std::string owner = r->owner_uid() == 0 ? "root" : absl::StrCat(r->owner_uid());
    absl::StrAppend(&table, absl::StrFormat("%-20s %-8d %-10s %-40s %-32s %s\n", id, pid, status,
                                            r->bundle(), r->created(), owner));
    oci::State s;
    s.set_oci_version(kOciVersion);
    s.set_id(id);
    s.set_pid(pid);
    s.set_status(status);
    s.set_bundle(r->bundle());
    s.set_rootfs(r->rootfs());
    s.set_created(r->created());
    s.set_owner(owner);
    PrintOptions print;
    print.json_names = true;
    std::string one = LiteToJson(s, print);
    one.pop_back();
    json.push_back(one);
  }
  if (format == "json") return absl::StrCat("[", absl::StrJoin(json, ","), "]\n");
  if (!format.empty() && format != "table") {
    return UsageError(absl::StrCat("--format is table or json, not \"", format, "\""));
  }
  return table;
}

absl::StatusOr<std::string> Runtime::Ps(const std::string& id, const std::string& format) {
  RETURN_IF_ERROR(CheckContainerId(id));
  ASSIGN_OR_RETURN(Record r, ReadRecord(Dir(id), id));
  Cgroups cgroups = CgroupsOf(r);
  std::vector<int> pids = cgroups.empty() ? ContainerPids(r) : cgroups.Pids();
  if (format == "json") return absl::StrCat("[", absl::StrJoin(pids, ","), "]\n");
  if (!format.empty() && format != "table") {
    return UsageError(absl::StrCat("--format is table or json, not \"", format, "\""));
  }
  std::string out = "PID\tCOMMAND\n";
  for (int pid : pids) {
    absl::StatusOr<std::string> comm = ReadFile(absl::StrCat("/proc/", pid, "/comm"));
    absl::StrAppend(&out, pid, "\t",
                    comm.ok() ? absl::StripTrailingAsciiWhitespace(*comm) : "?", "\n");
  }
  return out;
}

namespace {

absl::StatusOr<Cgroups> RunningCgroups(const std::string& dir, const std::string& id,
                                       Record* record) {
  ASSIGN_OR_RETURN(*record, ReadRecord(dir, id));
  if (Status(dir, *record) == "stopped") {
    return absl::FailedPreconditionError(absl::StrCat("container \"", id, "\" is not running"));
  }
  Cgroups cgroups = CgroupsOf(*record);
  if (cgroups.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container \"", id, "\" has no cgroups (rootless without a subtree delegated by setup)"));
  }
  return cgroups;
}

std::string Event(const char* type, const std::string& id, const std::string& data) {
  std::string out = absl::StrCat(R"({"type":")", type, R"(","id":")", id, "\"");
  if (!data.empty()) absl::StrAppend(&out, R"(,"data":)", data);
  return absl::StrCat(out, "}\n");
}

}  // namespace

absl::Status Runtime::Update(const std::string& id, const oci::Resources& resources) {
  RETURN_IF_ERROR(CheckContainerId(id));
  std::string dir = Dir(id);
  Record r;
  ASSIGN_OR_RETURN(Cgroups cgroups, RunningCgroups(dir, id, &r));
  // Device rules are set at create only: rewriting them would deny everything for a moment.
  oci::Resources without_devices = resources;
  without_devices.clear_devices();
  return cgroups.Apply(without_devices);
}

absl::StatusOr<std::string> Runtime::Stats(const std::string& id) {
  RETURN_IF_ERROR(CheckContainerId(id));
  Record r;
  ASSIGN_OR_RETURN(Cgroups cgroups, RunningCgroups(Dir(id), id, &r));
  return Event("stats", id, cgroups.StatsJson());
}

absl::Status Runtime::Events(const std::string& id, absl::Duration interval,
                             const std::function<absl::Status(const std::string&)>& out) {
  RETURN_IF_ERROR(CheckContainerId(id));
  std::string dir = Dir(id);
  Record r;
  ASSIGN_OR_RETURN(Cgroups cgroups, RunningCgroups(dir, id, &r));
  uint64_t ooms = cgroups.OomKills();
  absl::Time next_stats = absl::Now();
  for (;;) {
    uint64_t now_ooms = cgroups.OomKills();
    for (; ooms < now_ooms; ++ooms) RETURN_IF_ERROR(out(Event("oom", id, "")));
    if (!Alive(r)) return absl::OkStatus();
    if (absl::Now() >= next_stats) {
      RETURN_IF_ERROR(out(Event("stats", id, cgroups.StatsJson())));
      next_stats = absl::Now() + interval;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<int> Runtime::Exec(const ExecOptions& o) {
  RETURN_IF_ERROR(CheckContainerId(o.id));
  std::string dir = Dir(o.id);
  ASSIGN_OR_RETURN(Record r, ReadRecord(dir, o.id));
  std::string status = Status(dir, r);
  if (status != "running" && status != "created") {
    return absl::FailedPreconditionError(
        absl::StrCat("container \"", o.id, "\" is ", status, ": nothing to exec in"));
  }
  if (status == "created" && geteuid() != 0) {
    // The waiting init is still spawn, sealed (not dumpable) against the container: its
    // namespaces are out of an unprivileged user's reach until it runs the process.
    return absl::FailedPreconditionError(absl::StrCat(
        "container \"", o.id, "\" is created, not started: rootless, exec waits for `spawn start`"));
  }
  ASSIGN_OR_RETURN(oci::Spec spec, ReadCreatedSpec(dir, r.bundle()));
  ASSIGN_OR_RETURN(ProcessPlan process, ExecProcessPlan(o, spec.process()));
  if (spec.linux().has_seccomp()) {
    ASSIGN_OR_RETURN(process.seccomp, CachedSeccomp(spec.linux().seccomp(), root_));
  }
  if (process.terminal && o.console_socket.empty()) {
    return absl::InvalidArgumentError("--tty needs --console-socket to receive the terminal");
  }
  process.PrepareExec();

  // The namespaces of the init that differ from ours, opened before we check it is still
  // the same process, so a recycled pid cannot hand us someone else's.
  static constexpr int kOrder[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID, CLONE_NEWUTS,
                                   CLONE_NEWIPC,  CLONE_NEWNET, CLONE_NEWCGROUP};
  std::vector<std::pair<int, UniqueFd>> namespaces;
  for (int flag : kOrder) {
    std::string theirs = absl::StrCat("/proc/", r.pid(), "/ns/", NamespaceFile(flag));
    std::string mine = absl::StrCat("/proc/self/ns/", NamespaceFile(flag));
    struct stat a, b;
    if (stat(theirs.c_str(), &a) != 0) return ErrnoError(errno, "stat", theirs);
    if (stat(mine.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    ASSIGN_OR_RETURN(UniqueFd fd, Open(theirs, O_RDONLY));
    namespaces.emplace_back(flag, std::move(fd));
  }
  if (!Alive(r)) return absl::FailedPreconditionError(absl::StrCat("container \"", o.id, "\" stopped"));
  bool in_userns = r.new_user_namespace();
  Cgroups cgroups = CgroupsOf(r);
  bool join_pid = false;
  for (const auto& ns : namespaces) join_pid = join_pid || ns.first == CLONE_NEWPID;

  ASSIGN_OR_RETURN(Channels channels, OpenChannels(o.console_socket));
  UniqueFd console = std::move(channels.console);
  UniqueFd ours = std::move(channels.ours), theirs = std::move(channels.theirs);
  sigset_t forwarded = ForwardedSet(), previous;
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  absl::Cleanup restore_mask = [&previous] { sigprocmask(SIG_SETMASK, &previous, nullptr); };

  pid_t helper = fork();
  if (helper < 0) return ErrnoError(errno, "fork");
  if (helper == 0) {
    // Between fork and exec (STYLE.md 10): report failures on the socket and _exit.
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    int sync = theirs.get();
    auto fail = [sync](int err, const char* what) {
      SyncMessage m = {};
      m.type = kError;
      m.err = err;
      snprintf(m.text, sizeof m.text, "%s: %s", what, strerror(err));
      (void)!send(sync, &m, sizeof m, MSG_NOSIGNAL);
      _exit(1);
    };
    if (!cgroups.empty()) {
      // Moved into the container's cgroups by the parent before anything else.
      SyncMessage go;
      if (recv(sync, &go, sizeof go, 0) != sizeof go || go.type != kMapsWritten) _exit(1);
    }
    if (process.oom_score_adj.has_value()) {
      char value[16];
      snprintf(value, sizeof value, "%d", *process.oom_score_adj);
      int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)!write(fd, value, strlen(value));
        close(fd);
      }
    }
    // Before we become visible in the container's pid namespace (our child will be).
    if (int err = SealProcess(); err != 0) fail(err, "make the process not dumpable");
    for (const auto& [flag, fd] : namespaces) {
      if (setns(fd.get(), flag) != 0) fail(errno, "join a namespace of the container");
    }
    if (join_pid) {
      // setns(CLONE_NEWPID) places only our children in the namespace: one more fork, whose
      // child becomes spawn's (CLONE_PARENT) so that spawn can wait for it.
      pid_t child = static_cast<pid_t>(syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr,
                                               nullptr, nullptr, nullptr));
      if (child < 0) fail(errno, "fork into the pid namespace");
      if (child > 0) {
        SyncMessage m = {};
        m.type = kReady + 100;  // carries the pid; kReady comes from the process itself
        m.err = child;
        (void)!send(sync, &m, sizeof m, MSG_NOSIGNAL);
        _exit(0);
      }
    }
    if (in_userns && (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)) {
      fail(errno, "become root in the container's user namespace");
    }
    if (process.terminal) {
      const char* what = "";
      int err = SetUpTerminal(process, console.get(), &what);
      if (err != 0) fail(err, what);
    }
    const char* what = "";
    int err = FinalizeProcess(process, in_userns, &what);
    if (err != 0) fail(err, what);
    if (CloexecFrom(3 + o.preserve_fds) != 0) fail(errno, "mark descriptors close-on-exec");
    SyncMessage ready = {};
    ready.type = kReady;
    ready.err = static_cast<int>(getpid());
    (void)!send(sync, &ready, sizeof ready, MSG_NOSIGNAL);
    err = ExecProcess(process, process.argv.data(), process.envp.data());
    dprintf(STDERR_FILENO, "spawn: exec %s: %s\n", process.args[0].c_str(), strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  theirs.Reset();
  console.Reset();
  if (!cgroups.empty()) {
    absl::Status joined = cgroups.Join(helper);
    SyncMessage go = {};
    go.type = kMapsWritten;
    if (!joined.ok() || send(ours.get(), &go, sizeof go, MSG_NOSIGNAL) < 0) {
      kill(helper, SIGKILL);
      int wstatus;
      waitpid(helper, &wstatus, 0);
      if (!joined.ok()) return joined;
      return absl::InternalError("the exec'd process died before it joined the cgroups");
    }
  }

  // In a pid namespace the process is the helper's child, whose pid the helper sends once it
  // forked it; the child, running meanwhile, may say it is ready (or failed) first. Both are
  // awaited, whatever their order: waiting for the helper instead would report its exit 0 as
  // the process's and leave the process an unreaped zombie of the container.
  pid_t process_pid = helper;
  bool pid_known = !join_pid;
  std::optional<SyncMessage> outcome;  // kReady or kError
  while (!outcome.has_value() || !pid_known) {
    SyncMessage m = {};
    if (!ReceiveSync(ours.get(), &m)) {
      // The helper failed before it forked: its own error, and its pid is the one to reap.
      if (outcome.has_value() && outcome->type == kError) break;
      int wstatus;
      waitpid(process_pid, &wstatus, 0);
      if (outcome.has_value()) {
        return absl::InternalError("spawn's helper ended without naming the exec'd process");
      }
      return absl::InternalError("the exec'd process ended before it was ready");
    }
    if (m.type == kReady + 100) {
      process_pid = m.err;
      pid_known = true;
      int wstatus;
      waitpid(helper, &wstatus, 0);
    } else if (m.type == kError || m.type == kReady) {
      outcome = m;
    }
  }
  if (outcome->type == kError) {
    // The one that failed: the helper, or (in a pid namespace) its child, which is ours.
    // Left unreaped, a zombie of the namespace would keep its init from ever ending.
    int wstatus;
    waitpid(process_pid, &wstatus, 0);
    return ChildError(*outcome);
  }
  if (!o.pid_file.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic(o.pid_file, absl::StrCat(process_pid), 0644, Durability::kProcessCrash));
  }
  if (o.detach) return 0;
  return WaitForwarding(process_pid);
}

}  // namespace gdn::spawn
