#include "spawn/plan.h"

#include <sched.h>
#include <sys/mount.h>
#include <stdio.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "lib/status.h"
#include "spawn/linux_names.h"
#include "spawn/mount_options.h"

namespace gdn::spawn {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: ", field, ": ", problem));
}

// "/a/../b" stays as written; we only insist on absolute, clean-enough paths. Resolution
// happens inside the root at mount time, so ".." cannot climb out.
absl::Status CheckContainerPath(absl::string_view field, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(field, absl::StrCat("\"", path, "\" is not an absolute path"));
  }
  if (path.find('\0') != std::string::npos) return Invalid(field, "contains a NUL byte");
  return absl::OkStatus();
}

std::string JoinPath(const std::string& dir, const std::string& rel) {
  if (!rel.empty() && rel[0] == '/') return rel;
  return absl::StrCat(dir, "/", rel);
}

IdMap ToIdMap(const google::protobuf::RepeatedPtrField<oci::IdMapping>& m) {
  std::vector<IdMapping> out;
  for (const oci::IdMapping& x : m) out.push_back({x.container_id(), x.host_id(), x.size()});
  return IdMap(std::move(out));
}

}  // namespace

bool InNonInitialUserNamespace() {
  // The initial namespace maps every id to itself: "0 0 4294967295".
  FILE* f = fopen("/proc/self/uid_map", "re");
  if (f == nullptr) return false;
  unsigned long inside = 0, outside = 0, count = 0;
  int n = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
  fclose(f);
  return !(n == 3 && inside == 0 && outside == 0 && count == 4294967295ul);
}

std::vector<DeviceStep> DefaultDevices() {
  return {
      {"/dev/null", S_IFCHR | 0666, 1, 3, 0, 0},    {"/dev/zero", S_IFCHR | 0666, 1, 5, 0, 0},
      {"/dev/full", S_IFCHR | 0666, 1, 7, 0, 0},    {"/dev/random", S_IFCHR | 0666, 1, 8, 0, 0},
      {"/dev/urandom", S_IFCHR | 0666, 1, 9, 0, 0}, {"/dev/tty", S_IFCHR | 0666, 5, 0, 0, 0},
  };
}

void ProcessPlan::PrepareExec() {
  argv.clear();
  envp.clear();
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
}

absl::StatusOr<ProcessPlan> MakeProcessPlan(const oci::Process& p) {
  ProcessPlan out;
  if (p.args().empty()) return Invalid("process.args", "must name the program to run");
  out.args.assign(p.args().begin(), p.args().end());
  out.env.assign(p.env().begin(), p.env().end());
  for (const std::string& e : out.env) {
    if (e.find('=') == std::string::npos) {
      return Invalid("process.env", absl::StrCat("\"", e, "\" is not NAME=VALUE"));
    }
    if (absl::StartsWith(e, "PATH=")) out.path_env = e.substr(5);
  }
  out.cwd = p.cwd().empty() ? "/" : p.cwd();
  RETURN_IF_ERROR(CheckContainerPath("process.cwd", out.cwd));
  out.uid = p.user().uid();
  out.gid = p.user().gid();
  out.additional_gids.assign(p.user().additional_gids().begin(),
                             p.user().additional_gids().end());
  if (p.user().has_umask()) out.umask = p.user().umask() & 0777;
  std::set<int> seen;
  for (const oci::Rlimit& r : p.rlimits()) {
    absl::StatusOr<int> n = RlimitNumber(r.type());
    if (!n.ok()) return Invalid("process.rlimits", n.status().message());
    if (!seen.insert(*n).second) {
      return Invalid("process.rlimits", absl::StrCat(r.type(), " is given twice"));
    }
    if (r.soft() > r.hard()) {
      return Invalid("process.rlimits", absl::StrCat(r.type(), " has soft ", r.soft(),
                                                     " above hard ", r.hard()));
    }
    out.rlimits.push_back({*n, {static_cast<rlim_t>(r.soft()), static_cast<rlim_t>(r.hard())}});
  }
  const oci::Capabilities& c = p.capabilities();
  struct {
    const char* field;
    const google::protobuf::RepeatedPtrField<std::string>& names;
    uint64_t* mask;
  } sets[] = {{"process.capabilities.bounding", c.bounding(), &out.cap_bounding},
              {"process.capabilities.effective", c.effective(), &out.cap_effective},
              {"process.capabilities.permitted", c.permitted(), &out.cap_permitted},
              {"process.capabilities.inheritable", c.inheritable(), &out.cap_inheritable},
              {"process.capabilities.ambient", c.ambient(), &out.cap_ambient}};
  for (auto& set : sets) {
    absl::StatusOr<uint64_t> mask =
        CapabilityMask(std::vector<std::string>(set.names.begin(), set.names.end()));
    if (!mask.ok()) return Invalid(set.field, mask.status().message());
    *set.mask = *mask;
  }
  out.no_new_privileges = p.no_new_privileges();
  out.terminal = p.terminal();
  if (p.has_oom_score_adj()) out.oom_score_adj = p.oom_score_adj();
  return out;
}

absl::StatusOr<Plan> MakePlan(const oci::Spec& spec, const std::string& bundle_dir,
                              const RuntimeContext& context) {
  Plan plan;
  if (!spec.has_process()) return Invalid("process", "is missing");
  ASSIGN_OR_RETURN(plan.process, MakeProcessPlan(spec.process()));
  if (spec.root().path().empty()) return Invalid("root.path", "is missing");
  plan.rootfs = JoinPath(bundle_dir, spec.root().path());
  plan.rootfs_readonly = spec.root().readonly();
  struct stat st;
  if (stat(plan.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("the root filesystem ", plan.rootfs, " does not exist or is no folder"));
  }

  const oci::Linux& linux = spec.linux();
  std::set<int> seen;
  for (const oci::Namespace& ns : linux.namespaces()) {
    absl::StatusOr<int> flag = NamespaceFlag(ns.type());
    if (!flag.ok()) return Invalid("linux.namespaces", flag.status().message());
    if (!seen.insert(*flag).second) {
      return Invalid("linux.namespaces", absl::StrCat("\"", ns.type(), "\" is given twice"));
    }
    if (ns.path().empty()) {
      plan.clone_flags |= *flag;
    } else if (*flag == CLONE_NEWPID) {
      // setns() moves only later children into a pid namespace; the init would stay out.
      return Invalid("linux.namespaces", "joining a pid namespace by path is not supported");
    } else {
      plan.joins.emplace_back(*flag, ns.path());
    }
  }
  plan.new_userns = (plan.clone_flags & CLONE_NEWUSER) != 0;
  plan.runtime_in_userns = context.in_user_namespace;
  bool in_userns = plan.new_userns || seen.count(CLONE_NEWUSER) > 0;
  if (context.rootless() && !in_userns && !context.in_user_namespace) {
    return Invalid("linux.namespaces",
                   "a rootless container needs a user namespace (spawn spec --rootless makes one)");
  }
  if ((plan.clone_flags & CLONE_NEWNS) == 0 && seen.count(CLONE_NEWNS) == 0) {
    return Invalid("linux.namespaces", "a mount namespace is required");
  }
  if (plan.new_userns) {
    plan.uid_map = ToIdMap(linux.uid_mappings());
    plan.gid_map = ToIdMap(linux.gid_mappings());
    if (plan.uid_map.empty() || plan.gid_map.empty()) {
      return Invalid("linux.uidMappings", "a new user namespace needs uid and gid mappings");
    }
    absl::Status valid = plan.uid_map.Validate();
    if (!valid.ok()) return Invalid("linux.uidMappings", valid.message());
    valid = plan.gid_map.Validate();
    if (!valid.ok()) return Invalid("linux.gidMappings", valid.message());
    if (!plan.uid_map.ToHost(plan.process.uid).has_value()) {
      return Invalid("process.user.uid",
                     absl::StrCat(plan.process.uid, " is not mapped by linux.uidMappings"));
    }
    if (!plan.gid_map.ToHost(plan.process.gid).has_value()) {
      return Invalid("process.user.gid",
                     absl::StrCat(plan.process.gid, " is not mapped by linux.gidMappings"));
    }
  } else if (!linux.uid_mappings().empty()) {
    return Invalid("linux.uidMappings", "needs a new user namespace");
  }
  ASSIGN_OR_RETURN(plan.rootfs_propagation, ParsePropagation(linux.rootfs_propagation()));

  for (const oci::Mount& m : spec.mounts()) {
    RETURN_IF_ERROR(CheckContainerPath("mounts.destination", m.destination()));
    absl::StatusOr<MountOptions> options =
        ParseMountOptions(std::vector<std::string>(m.options().begin(), m.options().end()));
    if (!options.ok()) return Invalid("mounts.options", options.status().message());
    MountStep step;
    step.destination = m.destination();
    step.propagation = options->propagation;
    step.data = options->data;
    bool bind = options->bind() || m.type() == "bind" || m.type() == "rbind";
    if (bind) {
      step.kind = MountKind::kBind;
      step.source = JoinPath(bundle_dir, m.source());
      step.recursive = (options->flags & MS_REC) != 0 || m.type() == "rbind";
      step.flags = options->flags & ~(MS_BIND | MS_REC);
      struct stat src;
      if (stat(step.source.c_str(), &src) != 0) {
        return absl::NotFoundError(absl::StrCat("config.json: mounts: the source ", step.source,
                                                " of ", m.destination(), " does not exist"));
      }
      step.source_is_dir = S_ISDIR(src.st_mode);
    } else {
      if (m.type().empty()) {
        return Invalid("mounts.type", absl::StrCat("the mount on ", m.destination(), " has no type"));
      }
      step.kind = MountKind::kFilesystem;
      step.type = m.type();
      step.source = m.source().empty() ? m.type() : m.source();
      step.flags = options->flags;
    }
    if (m.destination() == "/") {
      if (step.type != "overlay") {
        return Invalid("mounts", "only an overlay may be mounted on \"/\"");
      }
      plan.root_overlay = step;
      continue;
    }
    if (m.destination() == "/dev" && step.type == "tmpfs") plan.dev_is_tmpfs = true;
    plan.mounts.push_back(std::move(step));
  }

  if (plan.dev_is_tmpfs) {
    plan.devices = DefaultDevices();
    for (const oci::Device& d : linux.devices()) {
      RETURN_IF_ERROR(CheckContainerPath("linux.devices.path", d.path()));
      mode_t type;
      if (d.type() == "c" || d.type() == "u") {
        type = S_IFCHR;
      } else if (d.type() == "b") {
        type = S_IFBLK;
      } else if (d.type() == "p") {
        type = S_IFIFO;
      } else {
        return Invalid("linux.devices.type", absl::StrCat("\"", d.type(), "\" is not c, b, u or p"));
      }
      DeviceStep step{d.path(), static_cast<mode_t>(type | (d.has_file_mode() ? d.file_mode() & 07777 : 0666)),
                      static_cast<unsigned>(d.major()), static_cast<unsigned>(d.minor()),
                      d.has_uid() ? d.uid() : 0, d.has_gid() ? d.gid() : 0};
      bool replaced = false;
      for (DeviceStep& existing : plan.devices) {
        if (existing.path == step.path) {
          existing = step;
          replaced = true;
        }
      }
      if (!replaced) plan.devices.push_back(step);
    }
  }
  for (const std::string& p : linux.masked_paths()) {
    RETURN_IF_ERROR(CheckContainerPath("linux.maskedPaths", p));
    plan.masked_paths.push_back(p);
  }
  for (const std::string& p : linux.readonly_paths()) {
    RETURN_IF_ERROR(CheckContainerPath("linux.readonlyPaths", p));
    plan.readonly_paths.push_back(p);
  }
  plan.hostname = spec.hostname();
  plan.domainname = spec.domainname();
  if (!plan.hostname.empty() && (plan.clone_flags & CLONE_NEWUTS) == 0 &&
      seen.count(CLONE_NEWUTS) == 0) {
    return Invalid("hostname", "needs a uts namespace");
  }
  // Only sysctls of a namespace the container has of its own: any other would change the
  // host (runc's rule).
  auto owns = [&plan](int flag) {
    if (plan.clone_flags & flag) return true;
    for (const auto& [f, path] : plan.joins) {
      if (f == flag) return true;
    }
    return false;
  };
  static constexpr const char* kIpcSysctls[] = {
      "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  for (const auto& [key, value] : linux.sysctl()) {
    if (key.empty() || key.find("..") != std::string::npos || key.find('/') == 0) {
      return Invalid("linux.sysctl", absl::StrCat("\"", key, "\" is not a sysctl name"));
    }
    bool ipc = absl::StartsWith(key, "fs.mqueue.");
    for (const char* k : kIpcSysctls) ipc = ipc || key == k;
    bool ok = (ipc && owns(CLONE_NEWIPC)) || (absl::StartsWith(key, "net.") && owns(CLONE_NEWNET)) ||
              ((key == "kernel.hostname" || key == "kernel.domainname") && owns(CLONE_NEWUTS));
    if (!ok) {
      return Invalid("linux.sysctl",
                     absl::StrCat("\"", key, "\" is not in a namespace of the container's own "
                                  "(net.* needs a network namespace, kernel.msg*/sem/shm* and "
                                  "fs.mqueue.* an ipc one): it would change the host"));
    }
    plan.sysctl.emplace_back(absl::StrCat("/proc/sys/", absl::StrReplaceAll(key, {{".", "/"}})),
                             value);
  }
  (void)context;
  return plan;
}

}  // namespace gdn::spawn
