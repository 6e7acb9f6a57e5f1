#include "setup/setup.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "lib/contract.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subid.h"
#include "lib/names.h"
#include "lib/subprocess.h"
#include "nlohmann/json.hpp"
#include "setup/cgroups.h"
#include "setup/files.h"
#include "setup/iptables.h"
#include "setup/network.h"
#include "setup/probe.h"
#include "setup/record.h"
#include "setup/subids.h"

namespace gdn::setup {
namespace {

constexpr char kIpForward[] = "/proc/sys/net/ipv4/ip_forward";

// The output: one item per line, "<kind> <name>: <state>", or a Summary with --json.
class Report {
 public:
  void Add(absl::string_view kind, absl::string_view name, absl::string_view state) {
    Item* item = summary_.add_items();
    item->set_kind(std::string(kind));
    item->set_name(std::string(name));
    item->set_state(std::string(state));
  }
  Summary& summary() { return summary_; }
  absl::Status Print(bool json) const {
    if (json) return WriteJsonToStdout(summary_);
    std::string out;
    for (const Item& i : summary_.items()) {
      absl::StrAppend(&out, i.kind(), " ", i.name(), ": ", i.state(), "\n");
    }
    return WriteAll(STDOUT_FILENO, out);
  }

 private:
  Summary summary_;
};

std::string Parent(const std::string& path) {
  std::string::size_type slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir == "/" ? dir : dir + "/");
}

std::string ActionKey(const Action& a) {
  std::string value = a.kind() == Action::SUBID || a.kind() == Action::CGROUP_CONTROLLERS
                          ? a.value()
                          : "";
  return absl::StrCat(a.kind(), "|", a.path(), "|", a.table(), "|", a.chain(), "|",
                      a.parent_chain(), "|", value);
}

absl::StatusOr<std::string> ReadTrimmed(const std::string& path) {
  ASSIGN_OR_RETURN(std::string v, ReadFile(path));
  return std::string(absl::StripAsciiWhitespace(v));
}

// A helper to install: from --bin-dir, else beside setup (or, in bazel-bin, in its own
// package folder). "" when there is none.
std::string FindHelper(const std::string& name, const std::string& bin_dir) {
  std::vector<std::string> candidates;
  if (!bin_dir.empty()) {
    candidates.push_back(absl::StrCat(bin_dir, "/", name));
  } else {
    std::string self = SelfDir();
    candidates.push_back(absl::StrCat(self, "/", name));
    candidates.push_back(absl::StrCat(self, "/../", name, "/", name));
  }
  for (const std::string& c : candidates) {
    struct stat st;
    if (stat(c.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return c;
  }
  return "";
}

// The CNI network configurations in `dir` other than `ours`, as netns would find them.
absl::StatusOr<std::vector<std::string>> OtherCniConfigs(const std::string& dir,
                                                        const std::string& ours) {
  std::vector<std::string> names;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return ErrnoError(errno, "opendir", dir);
  while (struct dirent* e = readdir(d.get())) {
    std::string name = e->d_name;
    if ((absl::EndsWith(name, ".conf") || absl::EndsWith(name, ".conflist") ||
         absl::EndsWith(name, ".json")) &&
        absl::StrCat(dir, "/", name) != ours) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// What a run needs to know before it acts, gathered by the checks.
struct Plan {
  UserIdentity user;
  std::string owner;  // the name subid lines use
  Settings settings;
  CgroupLayout cgroups;
  std::string idmap_source, netns_source;
  std::string iptables;
  std::vector<IdRange> subuids, subgids;
  std::string add_subuid_line, add_subgid_line;  // lines --add-subids will append
  std::string network_config_path;
  bool cni_plugins_present = false;
};

std::vector<std::string> RootFolders(const SetupOptions& o, const NetworkConfig& net) {
  return {RecordDir(o.config_dir), Parent(NetworkConfigPath(o.config_dir, o.uid)),
          o.install_dir, net.cni_config_dir(), net.bind_mount_dir(), Parent(net.state_file())};
}

std::string SetupCommand(const SetupOptions& o) {
  return absl::StrCat("setup --rootless-uid ", o.uid, " --rootless-gid ", o.gid);
}

// ---- checks: nothing below changes the host until Act().
absl::StatusOr<Plan> Check(const SetupOptions& o, const absl::StatusOr<SetupRecord>& existing,
                           Report* report) {
  Plan plan;
  absl::StatusOr<UserIdentity> user = LookupUid(o.uid);
  if (!user.ok()) {
    return absl::NotFoundError(absl::StrCat("no user has uid ", o.uid, " (/etc/passwd)"));
  }
  plan.user = *user;
  plan.owner = user->name;

  std::vector<NetworkConfig> others;
  for (const SetupRecord& r : OtherRecords(o.config_dir, o.uid)) {
    if (r.settings().has_network()) others.push_back(r.settings().network());
  }
  const NetworkConfig* kept =
      existing.ok() && existing->settings().has_network() ? &existing->settings().network() : nullptr;
  ASSIGN_OR_RETURN(NetworkConfig net, ResolveNetworkConfig(o.uid, o.config_dir, o.chain_prefix,
                                                           o.network_config_file, others, kept));
  Settings& s = plan.settings;
  s.set_config_dir(o.config_dir);
  s.set_depot(o.depot);
  s.set_store(o.store);
  s.set_run_dir(o.run_dir);
  s.set_install_dir(o.install_dir);
  s.set_cgroup_root(o.cgroup_root);
  for (const std::string& c : o.cgroup_controllers) s.add_cgroup_controllers(c);
  s.set_chain_prefix(o.chain_prefix);
  s.set_setuid_group(o.setuid_group);
  *s.mutable_network() = net;
  plan.network_config_path = NetworkConfigPath(o.config_dir, o.uid);

  if (existing.ok()) {
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    bool same = differ.Compare(existing->settings(), s);
    if (existing->gid() != o.gid) {
      diff = absl::StrCat("gid ", existing->gid(), " -> ", o.gid);
      same = false;
    }
    if (!same) {
      return absl::AlreadyExistsError(absl::StrCat(
          "uid ", o.uid, " is already set up with other settings (",
          absl::StripAsciiWhitespace(diff), "): run `setup --undo --rootless-uid ", o.uid,
          o.config_dir == kDefaultConfigDir ? "" : " --config-dir " + o.config_dir,
          "` first"));
    }
  } else if (!absl::IsNotFound(existing.status())) {
    return Annotate(existing.status(), "the existing setup record");
  }

  // Folders: what must be root's only, and what must be a folder if it exists.
  for (const std::string& dir : RootFolders(o, net)) RETURN_IF_ERROR(CheckOnlyRootCanChange(dir));
  RETURN_IF_ERROR(CheckOnlyRootCanChange(plan.network_config_path));
  for (const std::string& dir : RootFolders(o, net)) RETURN_IF_ERROR(CheckFolderOrAbsent(dir));
  for (const std::string& dir : {o.depot, o.store, o.run_dir}) {
    RETURN_IF_ERROR(CheckFolderOrAbsent(dir));
  }
  ASSIGN_OR_RETURN(PathState plugins, StatPath(net.cni_plugin_dir()));
  plan.cni_plugins_present = plugins.exists;
  if (plugins.exists) RETURN_IF_ERROR(CheckOnlyRootCanChange(net.cni_plugin_dir()));

  // Helpers.
  plan.idmap_source = FindHelper("idmap", o.bin_dir);
  if (plan.idmap_source.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "idmap is not built: found neither in ",
        o.bin_dir.empty() ? absl::StrCat("the folder of setup (", SelfDir(), ")")
                          : absl::StrCat("--bin-dir ", o.bin_dir),
        " (bazel build //idmap)"));
  }
  plan.netns_source = FindHelper("netns", o.bin_dir);

  // cgroups.
  ASSIGN_OR_RETURN(plan.cgroups, DetectCgroups(o.cgroup_root, o.cgroup_controllers));

  // Subordinate ids: the user's in both files, or the lines to add.
  ASSIGN_OR_RETURN(std::vector<SubidEntry> subuid, ReadSubids(kSubuidPath));
  ASSIGN_OR_RETURN(std::vector<SubidEntry> subgid, ReadSubids(kSubgidPath));
  plan.subuids = RangesOf(subuid, plan.owner, o.uid, SystemUidOfName());
  plan.subgids = RangesOf(subgid, plan.owner, o.uid, SystemUidOfName());
  uint64_t free_start = FreeSubidStart({subuid, subgid});
  std::string line = absl::StrCat(plan.owner, ":", free_start, ":", kAddedSubidCount);
  std::vector<std::string> missing;
  if (plan.subuids.empty()) {
    plan.add_subuid_line = line;
    missing.push_back(absl::StrCat("subordinate uids: add the line \"", line, "\" to ", kSubuidPath));
  }
  if (plan.subgids.empty()) {
    plan.add_subgid_line = line;
    missing.push_back(absl::StrCat("subordinate gids: add the line \"", line, "\" to ", kSubgidPath));
  }
  if (!missing.empty() && !o.add_subids) {
    return absl::FailedPreconditionError(
        absl::StrCat("uid ", o.uid, " (", plan.owner, ") has no ", absl::StrJoin(missing, "; and no "),
                     " (or run `", SetupCommand(o), " --add-subids`)"));
  }

  // iptables and ip_forward.
  ASSIGN_OR_RETURN(plan.iptables, FindIptables());
  RETURN_IF_ERROR(CheckIptables(plan.iptables));
  RETURN_IF_ERROR(ReadTrimmed(kIpForward).status());

  // The kernel, tried as the user.
  RETURN_IF_ERROR(ProbeUserNamespaces(o.uid, o.gid, o.store));
  report->Add("check", "user namespaces",
              absl::StrCat("uid ", o.uid, " can make one and mount overlayfs in it"));
  report->Add("check", "cgroups",
              absl::StrCat("v", plan.cgroups.version,
                           plan.cgroups.note.empty() ? "" : absl::StrCat(" (", plan.cgroups.note, ")")));
  return plan;
}

// ---- acting: every change is appended to `done`.
absl::Status Act(const SetupOptions& o, const Plan& plan, std::vector<Action>* done,
                 Report* report, SetupRecord* record) {
  const NetworkConfig& net = plan.settings.network();
  // Subordinate ids.
  if (!plan.add_subuid_line.empty()) RETURN_IF_ERROR(AppendSubidLine(kSubuidPath, plan.add_subuid_line, done));
  if (!plan.add_subgid_line.empty()) RETURN_IF_ERROR(AppendSubidLine(kSubgidPath, plan.add_subgid_line, done));
  for (const char* path : {kSubuidPath, kSubgidPath}) {
    ASSIGN_OR_RETURN(std::vector<SubidEntry> entries, ReadSubids(path));
    report->Add(path == std::string(kSubuidPath) ? "subuid" : "subgid", path,
                DescribeRanges(RangesOf(entries, plan.owner, o.uid, SystemUidOfName()), plan.owner));
  }

  // cgroups.
  RETURN_IF_ERROR(EnsureCgroups(plan.cgroups, o.uid, o.gid, done));
  for (const CgroupSubtree& s : Subtrees(plan.cgroups, o.uid)) {
    ASSIGN_OR_RETURN(std::string state, DescribeSubtree(plan.cgroups, s));
    report->Add("cgroup", s.path(), state);
    *record->add_cgroups() = s;
  }
  for (const std::string& c : plan.cgroups.missing) {
    report->Add("cgroup", c, "controller not mounted, skipped");
  }
  ASSIGN_OR_RETURN(std::string favor, EnsureFavorDynmods(done));
  report->Add("cgroup option", "favordynmods", favor);

  // The user's folders, then root's.
  auto folder = [&](const std::string& path, uid_t uid, gid_t gid, mode_t mode) -> absl::Status {
    RETURN_IF_ERROR(EnsureFolder(path, uid, gid, mode, done));
    ASSIGN_OR_RETURN(PathState st, StatPath(path));
    report->Add("folder", path, Describe(st));
    return absl::OkStatus();
  };
  for (const std::string& dir : {o.depot, o.store, o.run_dir}) {
    RETURN_IF_ERROR(folder(dir, o.uid, o.gid, 0700));
  }
  // The bind-mount folder holds the containers' network namespaces: root's alone, as netns
  // keeps it (anyone who could open one could join it).
  for (const std::string& dir : RootFolders(o, net)) {
    RETURN_IF_ERROR(folder(dir, 0, 0, dir == net.bind_mount_dir() ? 0700 : 0755));
  }

  // Setuid helpers.
  gid_t helper_gid = o.setuid_group ? o.gid : 0;
  mode_t helper_mode = o.setuid_group ? 04750 : 04755;
  auto helper = [&](const std::string& name, const std::string& source) -> absl::Status {
    if (source.empty()) {
      report->Add("helper", name, "not built, skipped");
      return absl::OkStatus();
    }
    std::string target = absl::StrCat(o.install_dir, "/", name);
    RETURN_IF_ERROR(InstallHelper(source, target, helper_gid, helper_mode, done));
    ASSIGN_OR_RETURN(PathState st, StatPath(target));
    report->Add("helper", target, Describe(st));
    (name == "idmap" ? record->mutable_idmap() : record->mutable_netns())->assign(target);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(helper("idmap", plan.idmap_source));
  RETURN_IF_ERROR(helper("netns", plan.netns_source));

  // The network configuration netns trusts.
  report->Add("cni plugins", net.cni_plugin_dir(),
              plan.cni_plugins_present ? "present" : "missing (Debian: containernetworking-plugins)");
  // The CNI network, unless the folder holds networks of its own.
  std::string conflist = absl::StrCat(net.cni_config_dir(), "/", CniConflistName(o.uid));
  ASSIGN_OR_RETURN(std::vector<std::string> own, OtherCniConfigs(net.cni_config_dir(), conflist));
  if (own.empty()) {
    RETURN_IF_ERROR(EnsureRootFile(conflist, DefaultCniConflist(o.uid, net), done));
    ASSIGN_OR_RETURN(PathState st, StatPath(conflist));
    report->Add("cni network", conflist,
                absl::StrCat(Describe(st), ", bridge gdnbr", o.uid, ", subnet ", net.subnet()));
  } else {
    report->Add("cni network", net.cni_config_dir(),
                absl::StrCat("has its own (", absl::StrJoin(own, " "), "), none written"));
  }
  RETURN_IF_ERROR(EnsureRootFile(plan.network_config_path, ToJson(net), done));
  ASSIGN_OR_RETURN(PathState config_state, StatPath(plan.network_config_path));
  report->Add("network config", plan.network_config_path,
              absl::StrCat(Describe(config_state), ", ", DescribeNetwork(net)));
  record->set_network_config(plan.network_config_path);

  // ip_forward.
  ASSIGN_OR_RETURN(std::string forward, ReadTrimmed(kIpForward));
  if (forward != "1") {
    Action a;
    a.set_kind(Action::SYSCTL);
    a.set_path(kIpForward);
    a.set_value("1");
    a.set_previous_value(forward);
    ASSIGN_OR_RETURN(UniqueFd fd, Open(kIpForward, O_WRONLY));
    RETURN_IF_ERROR(WriteAll(fd.get(), "1\n"));
    done->push_back(a);
  }
  ASSIGN_OR_RETURN(forward, ReadTrimmed(kIpForward));
  report->Add("sysctl", "net.ipv4.ip_forward", forward);

  // iptables.
  RETURN_IF_ERROR(EnsureChains(plan.iptables, o.chain_prefix, done));
  RETURN_IF_ERROR(EnsureMasquerade(plan.iptables, o.chain_prefix, net.subnet()));
  for (const BaseChain& c : BaseChains(o.chain_prefix)) {
    ASSIGN_OR_RETURN(std::string state, DescribeChain(plan.iptables, c));
    report->Add("iptables", absl::StrCat(c.table, " ", c.name), state);
  }
  report->Add("masquerade", net.subnet(), absl::StrCat("to other networks, in nat ", o.chain_prefix, "postrouting"));
  return absl::OkStatus();
}

// The bridges a CNI configuration file names ("bridge": "NAME"), for its undo: the bridge
// plugin makes the bridge with the first container and leaves it when the last goes.
std::vector<std::string> BridgesOf(const std::string& conflist) {
  std::vector<std::string> out;
  absl::StatusOr<std::string> text = ReadFile(conflist);
  if (!text.ok()) return out;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return out;
  std::vector<nlohmann::json> plugins;
  if (j.contains("plugins") && j["plugins"].is_array()) {
    for (const auto& p : j["plugins"]) plugins.push_back(p);
  } else {
    plugins.push_back(j);
  }
  for (const auto& p : plugins) {
    if (p.is_object() && p.value("type", "") == "bridge" && p.contains("bridge") && p["bridge"].is_string()) {
      out.push_back(p["bridge"]);
    }
  }
  return out;
}

// Removes a bridge with no ports left (a container's would still be attached: kept then).
std::string RemoveBridge(const std::string& name) {
  if (!IsPlainName(name, 15)) return "";
  std::string brif = absl::StrCat("/sys/class/net/", name, "/brif");
  DIR* d = opendir(brif.c_str());
  if (d == nullptr) return "";
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') empty = false;
  }
  closedir(d);
  if (!empty) return absl::StrCat("; bridge ", name, " kept: containers are on it");
  SubprocessOptions o;
  o.argv = {"ip", "link", "delete", name, "type", "bridge"};
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  if (!r.ok() || !r->ok()) return absl::StrCat("; bridge ", name, " could not be removed");
  return absl::StrCat("; bridge ", name, " removed");
}

// The folder of netns's runtime state (its state file, locks, host-local's leases) goes
// whole once no container is in it: what is left there is only netns's own bookkeeping.
absl::StatusOr<std::string> RemoveNetnsState(const std::string& dir) {
  absl::StatusOr<std::string> text = ReadFile(dir + "/state.json");
  if (text.ok()) {
    nlohmann::json state = nlohmann::json::parse(*text, nullptr, false);
    size_t held = state.is_object() && state.contains("containers") && state["containers"].is_array()
                      ? state["containers"].size()
                      : 0;
    if (held > 0) {
      return absl::StrCat("kept: netns still holds ", held, " container(s); destroy them first");
    }
  }
  RETURN_IF_ERROR(RemoveAll(dir));
  return std::string("removed");
}

// Reverts one action; the state to report. `netns_state` is the folder of netns's state.
absl::StatusOr<std::string> UndoAction(const Action& a, const std::string& iptables,
                                       const std::vector<SetupRecord>& others,
                                       const std::string& netns_state = "") {
  switch (a.kind()) {
    case Action::FOLDER:
      if (a.created() && !netns_state.empty() && a.path() == netns_state && FileExists(a.path())) {
        return RemoveNetnsState(a.path());
      }
      [[fallthrough]];
    case Action::FILE: {
      std::vector<std::string> bridges;
      if (a.kind() == Action::FILE && absl::EndsWith(a.path(), ".conflist")) bridges = BridgesOf(a.path());
      ASSIGN_OR_RETURN(std::string state, UndoFileAction(a));
      // Only a network setup made goes with its bridge (a file it restored keeps it).
      if (absl::StartsWith(state, "removed")) {
        for (const std::string& b : bridges) absl::StrAppend(&state, RemoveBridge(b));
      }
      return state;
    }
    case Action::HELPER:
      for (const SetupRecord& r : others) {
        if (r.idmap() == a.path() || r.netns() == a.path()) {
          return absl::StrCat("kept: the setup of uid ", r.uid(), " uses it");
        }
      }
      return UndoFileAction(a);
    case Action::CGROUP:
    case Action::CGROUP_CONTROLLERS:
      return UndoCgroupAction(a);
    case Action::CHAIN:
    case Action::JUMP:
      if (iptables.empty()) return FindIptables().status();
      return UndoIptablesAction(iptables, a);
    case Action::SYSCTL: {
      if (!others.empty()) {
        return absl::StrCat("kept: the setup of uid ", others[0].uid(), " needs it");
      }
      ASSIGN_OR_RETURN(std::string now, ReadTrimmed(a.path()));
      if (now != a.value()) return absl::StrCat("left at ", now, ": changed since setup");
      ASSIGN_OR_RETURN(UniqueFd fd, Open(a.path(), O_WRONLY));
      RETURN_IF_ERROR(WriteAll(fd.get(), a.previous_value() + "\n"));
      return absl::StrCat("restored to ", a.previous_value());
    }
    case Action::SUBID:
      return UndoSubidAction(a);
    case Action::MOUNT_OPTION:
      // Global, like ip_forward: it stays while another user's setup remains.
      if (!others.empty()) {
        return absl::StrCat("kept: the setup of uid ", others[0].uid(), " has it");
      }
      return UndoFavorDynmods(a);
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown action kind ", a.kind()));
  }
}

// Kind and name of an action, for the output.
std::pair<std::string, std::string> Name(const Action& a) {
  switch (a.kind()) {
    case Action::FOLDER:
      return {"folder", a.path()};
    case Action::FILE:
      return {"file", a.path()};
    case Action::HELPER:
      return {"helper", a.path()};
    case Action::CGROUP:
      return {"cgroup", a.path()};
    case Action::CGROUP_CONTROLLERS:
      return {"cgroup controllers", a.path()};
    case Action::CHAIN:
      return {"iptables", absl::StrCat(a.table(), " ", a.chain())};
    case Action::JUMP:
      return {"iptables jump", absl::StrCat(a.table(), " ", a.parent_chain(), " -> ", a.chain())};
    case Action::SYSCTL:
      return {"sysctl", a.path()};
    case Action::SUBID:
      return {"subid", a.path()};
    case Action::MOUNT_OPTION:
      return {"cgroup option", a.value()};
    default:
      return {"action", a.path()};
  }
}

absl::Status Undo(const SetupOptions& o, Report* report) {
  std::string path = RecordPath(o.config_dir, o.uid);
  absl::StatusOr<SetupRecord> record = ReadRecord(o.config_dir, o.uid);
  if (absl::IsNotFound(record.status())) {
    report->Add("record", path, "absent, nothing to undo");
    return report->Print(o.json);
  }
  if (!record.ok()) return record.status();
  if (record->uid() != o.uid) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " was made for uid ", record->uid(), ", not ", o.uid));
  }
  report->summary().set_gid(record->gid());
  report->summary().set_user(record->user());
  std::string iptables;
  if (absl::StatusOr<std::string> found = FindIptables(); found.ok()) iptables = *found;
  std::vector<SetupRecord> others = OtherRecords(o.config_dir, o.uid);
  const std::string& state_file = record->settings().network().state_file();
  std::string netns_state = state_file.empty() ? "" : state_file.substr(0, state_file.rfind('/'));

  // Folders the record itself lives in go after it.
  std::string record_dir = RecordDir(o.config_dir);
  std::vector<Action> now, after_record;
  for (int i = record->actions_size() - 1; i >= 0; --i) {
    const Action& a = record->actions(i);
    bool holds_record = a.kind() == Action::FOLDER && a.created() && IsUnder(record_dir, a.path());
    (holds_record ? after_record : now).push_back(a);
  }
  std::vector<Action> failed;
  absl::Status first_error;
  auto undo_all = [&](const std::vector<Action>& actions) {
    for (const Action& a : actions) {
      absl::StatusOr<std::string> state = UndoAction(a, iptables, others, netns_state);
      auto [kind, name] = Name(a);
      if (state.ok()) {
        report->Add(kind, name, *state);
      } else {
        report->Add(kind, name, absl::StrCat("failed: ", state.status().message()));
        failed.insert(failed.begin(), a);
        if (first_error.ok()) first_error = state.status();
      }
    }
  };
  undo_all(now);
  if (!failed.empty()) {
    // Keep what could not be undone, so that another --undo can finish the job.
    record->clear_actions();
    for (auto it = after_record.rbegin(); it != after_record.rend(); ++it) *record->add_actions() = *it;
    for (const Action& a : failed) *record->add_actions() = a;
    RETURN_IF_ERROR(WriteRecord(o.config_dir, *record));
    RETURN_IF_ERROR(report->Print(o.json));
    return Annotate(first_error, absl::StrCat("undo is incomplete (", failed.size(),
                                              " actions kept in ", path, ")"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "unlink", path);
  report->Add("record", path, "removed");
  undo_all(after_record);
  if (!first_error.ok()) {
    RETURN_IF_ERROR(report->Print(o.json));
    return first_error;
  }
  return report->Print(o.json);
}

}  // namespace

void MergeActions(const std::vector<Action>& fresh,
                  google::protobuf::RepeatedPtrField<Action>* existing) {
  for (const Action& a : fresh) {
    std::string key = ActionKey(a);
    bool known = std::any_of(existing->begin(), existing->end(),
                             [&](const Action& e) { return ActionKey(e) == key; });
    if (!known) *existing->Add() = a;
  }
}

absl::Status RunSetup(const SetupOptions& o) {
  umask(022);
  Report report;
  report.summary().set_uid(o.uid);
  report.summary().set_gid(o.gid);
  report.summary().set_undo(o.undo);
  report.summary().set_record(RecordPath(o.config_dir, o.uid));
  if (geteuid() != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("setup must run as root: sudo ", o.undo ? "setup --undo --rootless-uid " +
                                                                   std::to_string(o.uid)
                                                             : SetupCommand(o)));
  }
  if (o.undo) return Undo(o, &report);

  absl::StatusOr<SetupRecord> existing = ReadRecord(o.config_dir, o.uid);
  ASSIGN_OR_RETURN(Plan plan, Check(o, existing, &report));
  report.summary().set_user(plan.owner);

  SetupRecord record;
  record.set_version(1);
  record.set_uid(o.uid);
  record.set_gid(o.gid);
  record.set_user(plan.owner);
  *record.mutable_settings() = plan.settings;
  record.set_cgroup_version(absl::StrCat("v", plan.cgroups.version));
  if (existing.ok()) *record.mutable_actions() = existing->actions();

  // A failure half-way reverts this run's changes, newest first, so that the host is as the
  // run found it.
  std::vector<Action> done;
  absl::Cleanup rollback = [&] {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      absl::StatusOr<std::string> s = UndoAction(*it, plan.iptables, {});
      if (!s.ok()) LOG(ERROR) << "rolling back: " << s.status().message();
    }
  };
  RETURN_IF_ERROR(Act(o, plan, &done, &report, &record));
  MergeActions(done, record.mutable_actions());
  std::string path = RecordPath(o.config_dir, o.uid);
  absl::Status written = WriteRecord(o.config_dir, record);
  if (!written.ok()) return written;
  std::move(rollback).Cancel();
  ASSIGN_OR_RETURN(PathState st, StatPath(path));
  report.Add("record", path, Describe(st));
  return report.Print(o.json);
}

}  // namespace gdn::setup
