// Plan, validate, then execute (STYLE.md 3): everything a container will get, worked out
// from config.json in ordinary code before any clone. The code after clone (init_child.cc)
// only replays a Plan.
#ifndef GDN_SPAWN_PLAN_H_
#define GDN_SPAWN_PLAN_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/idmap.h"
#include "spawn/config.schema.h"
#include "spawn/seccomp.h"

namespace gdn::spawn {

struct RlimitStep {
  int resource;
  struct rlimit limit;
};

// The process to exec, and the identity and limits it runs with.
struct ProcessPlan {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additional_gids;
  std::optional<mode_t> umask;
  std::vector<RlimitStep> rlimits;
  uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0,
           cap_ambient = 0;
  bool no_new_privileges = false;
  bool terminal = false;
  std::optional<int> oom_score_adj;
  // linux.seccomp compiled (before clone): loaded before the capabilities are dropped, or,
  // with no_new_privileges, right before exec (as runc does).
  std::optional<SeccompProgram> seccomp;
  // The PATH of `env`, where args[0] is looked up when it has no '/'.
  std::string path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  // argv and envp as exec wants them, pointing into args and env. Filled by PrepareExec()
  // before clone, so that the child allocates nothing.
  std::vector<char*> argv, envp;
  void PrepareExec();
};

enum class MountKind {
  kBind,        // bind (or rbind) a host path
  kFilesystem,  // mount a filesystem of `type`
};

struct MountStep {
  MountKind kind = MountKind::kFilesystem;
  std::string source;       // host path for binds; the device or "none" otherwise
  std::string destination;  // absolute, inside the container
  std::string type;         // "proc", "tmpfs", ... ("" for binds)
  unsigned long flags = 0;  // MS_* without MS_BIND/MS_REC for binds
  bool recursive = false;   // rbind
  unsigned long propagation = 0;
  std::string data;
  bool source_is_dir = true;  // binds: make a folder or an empty file as the target
};

struct DeviceStep {
  std::string path;  // absolute, inside the container
  mode_t mode;       // S_IFCHR | permissions, or S_IFBLK | ...
  unsigned major, minor;
  uid_t uid;
  gid_t gid;
};

struct Plan {
  int clone_flags = 0;                           // namespaces to create
  std::vector<std::pair<int, std::string>> joins;  // namespaces to join: flag, path
  bool new_userns = false;
  // The child waits for kJoined (the parent has moved it into its cgroups) before its
  // process's ids, capabilities and seccomp, so before anything of the process runs.
  bool wait_for_parent = false;
  IdMap uid_map, gid_map;  // for a new user namespace
  // spawn itself runs in a user namespace other than the initial one (rootless podman runs
  // its runtime so): device nodes and some filesystems are out of reach there too.
  bool runtime_in_userns = false;

  std::string rootfs;  // absolute host path
  bool rootfs_readonly = false;
  std::optional<MountStep> root_overlay;  // an overlay mount whose destination is "/"
  unsigned long rootfs_propagation = 0;
  std::vector<MountStep> mounts;
  bool dev_is_tmpfs = false;  // the spec mounts a tmpfs on /dev: fill it with devices
  std::vector<DeviceStep> devices;
  std::vector<std::string> masked_paths, readonly_paths;
  std::string hostname, domainname;
  std::vector<std::pair<std::string, std::string>> sysctl;  // /proc/sys path, value

  ProcessPlan process;
};

// Who runs the runtime: decides the rootless fallbacks.
struct RuntimeContext {
  uid_t euid;
  gid_t egid;
  bool in_user_namespace = false;  // see Plan::runtime_in_userns
  bool rootless() const { return euid != 0; }
};

// Validates `spec` (from the bundle `bundle_dir`) and works out the plan. A malformed or
// contradictory spec is InvalidArgument naming the field; a missing rootfs is NotFound.
absl::StatusOr<Plan> MakePlan(const oci::Spec& spec, const std::string& bundle_dir,
                              const RuntimeContext& context);

// The process part alone, for `exec`.
absl::StatusOr<ProcessPlan> MakeProcessPlan(const oci::Process& process);

// Whether this process runs in a user namespace other than the initial one.
bool InNonInitialUserNamespace();

// The devices every container gets (null, zero, full, random, urandom, tty).
std::vector<DeviceStep> DefaultDevices();

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_PLAN_H_
