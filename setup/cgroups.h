// The user's cgroup subtrees: found, made, handed over and removed.
//
// cgroup v1 (and hybrid hosts): <root>/<controller>/gdn-<uid> in each hierarchy of the
// controllers gdn uses (co-mounted controllers share one), owned by the user (the folder,
// cgroup.procs and tasks), cpuset.cpus and cpuset.mems copied down from the parent. The
// cgroups the user makes inside are then the user's (the kernel gives a new cgroup and its
// files to its creator), so spawn can make one per container and write its limits.
// On a hybrid host the cgroup2 hierarchy at <root>/unified is not used: no controller gdn
// uses is bound to it, and moving processes into its cgroups would need write access to the
// common ancestor (its root), which a delegated subtree does not give.
//
// cgroup v2: <root>/gdn-<uid>, the controllers enabled in the root's cgroup.subtree_control
// (those already enabled are left) and in the subtree's own, the folder, cgroup.procs,
// cgroup.subtree_control and cgroup.threads owned by the user, as the kernel's delegation
// model has it. The root cgroup is exempt from the no-internal-processes rule, so enabling
// controllers there is fine; a non-root --cgroup-root must hold no processes itself.
// A process can only be moved into the subtree by someone who may write the cgroup.procs of
// the common ancestor of where it is and where it goes: the user's processes must be
// started inside the subtree (or moved there by root).
#ifndef GDN_SETUP_CGROUPS_H_
#define GDN_SETUP_CGROUPS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

struct CgroupHierarchy {
  std::string root;                      // a v1 hierarchy (symlinks resolved), or the v2 root
  std::vector<std::string> controllers;  // v1: ours bound there; v2: those to enable
};

struct CgroupLayout {
  int version = 0;  // 1 or 2
  std::vector<CgroupHierarchy> hierarchies;
  std::vector<std::string> missing;  // optional controllers of the default set not there
  std::string note;                  // "hybrid: ... not used", for the output
};

// Finds the cgroup version at `root` and where the controllers are. With `asked` empty, the
// default set of that version: memory, cpu and pids must exist, the others are used where
// they do. With `asked`, exactly those, each required. FailedPrecondition when one is missing.
absl::StatusOr<CgroupLayout> DetectCgroups(const std::string& root,
                                           const std::vector<std::string>& asked);

// gdn-<uid>
std::string SubtreeName(uid_t uid);
// The user's subtree in each hierarchy, in the layout's order.
std::vector<CgroupSubtree> Subtrees(const CgroupLayout& layout, uid_t uid);

// Makes and hands over the subtrees, appending an Action per change.
absl::Status EnsureCgroups(const CgroupLayout& layout, uid_t uid, gid_t gid,
                           std::vector<Action>* actions);

// The state of one subtree for the output: "owned by 999:995" and, on v1 cpuset, the cpus and
// mems; on v2 the controllers its children get.
absl::StatusOr<std::string> DescribeSubtree(const CgroupLayout& layout, const CgroupSubtree& s);

// cgroup2's "favordynmods" (Linux 6.0+). Every move of a process into a cgroup (the container's
// init joining its cgroups, each process exec'd into it) takes the kernel's global
// cgroup_threadgroup_rwsem for writing, which waits out an RCU grace period (~10 ms here) unless
// a move happened within the last one. With favordynmods the lock stays in its writer-friendly
// state: moves cost microseconds, forks and exits a few atomic operations more. The flag
// belongs to the one cgroup2 superblock and acts for the v1 hierarchies too, so it is set on
// the host's cgroup2 mount (v2: the root; hybrid: <root>/unified); a host without one keeps
// the slow moves. Setup turns it on (action MOUNT_OPTION), undo turns it off again.
struct Cgroup2Mount {
  std::string path;                        // "" when the host has no cgroup2 mount
  std::vector<std::string> super_options;  // as /proc/self/mountinfo lists them
  bool favordynmods = false;
};
absl::StatusOr<Cgroup2Mount> FindCgroup2Mount();

// Turns favordynmods on, appending the action, where there is a cgroup2 mount and it is off.
// A kernel that does not know the option leaves it off: no error. Returns the state for the
// output.
absl::StatusOr<std::string> EnsureFavorDynmods(std::vector<Action>* actions);

// Reverts a MOUNT_OPTION action: favordynmods off again (if still on).
absl::StatusOr<std::string> UndoFavorDynmods(const Action& action);

// Reverts a CGROUP action (removes the subtree with any cgroups made inside it, deepest
// first; Unavailable, exit 8, while one still holds processes) or a CGROUP_CONTROLLERS one.
absl::StatusOr<std::string> UndoCgroupAction(const Action& action);

}  // namespace gdn::setup

#endif  // GDN_SETUP_CGROUPS_H_
