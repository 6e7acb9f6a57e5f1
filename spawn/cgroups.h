// A container's cgroups: where they go, made, limited, joined, frozen, killed, measured and
// removed. One interface over both versions (STYLE.md: one code path per version behind
// it):
//
//   v1 (and hybrid hosts, whose empty cgroup2 at /sys/fs/cgroup/unified is not used): one
//      folder per hierarchy of the controllers spawn uses (memory, cpu, cpuacct, cpuset,
//      pids, blkio, devices, freezer; co-mounted ones share a folder).
//   v2: one folder in the unified hierarchy.
//
// Where: linux.cgroupsPath when the spec gives one (absolute: from the hierarchy's root;
// relative: under the default parent), else <parent>/<id>. The default parent is "spawn" for
// root and, rootless, the subtree `setup` delegated to the user (gdn-<uid>). Rootless without
// such a subtree, a spec without resources runs without cgroups (as runc does); one with
// resources is refused (exit 5) with a sentence naming `setup`.
#ifndef GDN_SPAWN_CGROUPS_H_
#define GDN_SPAWN_CGROUPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spawn/config.schema.h"

namespace gdn::spawn {

inline constexpr char kCgroupRoot[] = "/sys/fs/cgroup";

class Cgroups {
 public:
  Cgroups() = default;
  Cgroups(int version, std::vector<std::string> dirs)
      : version_(version), dirs_(std::move(dirs)) {}

  // Where the cgroups of container `id` go (nothing is made yet). `mount_root` is where the
  // cgroup filesystems are mounted (tests may point elsewhere).
  static absl::StatusOr<Cgroups> ForContainer(const oci::Linux& linux, const std::string& id,
                                              uid_t euid, gid_t egid,
                                              const std::string& mount_root = kCgroupRoot);

  int version() const { return version_; }  // 0: none
  const std::vector<std::string>& dirs() const { return dirs_; }
  bool empty() const { return dirs_.empty(); }

  // Makes the folders (and missing parents: v1 cpuset gets its parent's cpus and mems, v2
  // parents pass their controllers down). AlreadyExists when the leaf is there and holds
  // processes.
  absl::Status Create();
  // Writes the limits of `resources` (create and `spawn update`). `devices_allowed` are
  // device nodes the container gets, allowed on v1 beside the spec's rules (root only).
  absl::Status Apply(const oci::Resources& resources, const std::vector<std::string>& devices_allowed = {});
  // Moves `pid` into every folder.
  absl::Status Join(pid_t pid) const;
  absl::Status Freeze(bool frozen) const;
  // The processes in the cgroup.
  std::vector<int> Pids() const;
  // Freezes, sends `sig` to every process, thaws: nothing escapes by forking meanwhile.
  absl::Status Signal(int sig) const;
  // Removes the folders, killing what is left in them first when `kill` (else
  // FailedPrecondition while processes remain).
  absl::Status Remove(bool kill) const;
  // Usage as runc's `events --stats` data: {"cpu":...,"memory":...,"pids":...,"blkio":...}.
  std::string StatsJson() const;
  // How many times the OOM killer ended a process of the cgroup.
  uint64_t OomKills() const;

 private:
  std::string Dir(const char* controller) const;  // the folder of that controller, or ""

  int version_ = 0;
  std::vector<std::string> dirs_;
};

// Whether `resources` asks for any limit.
bool HasResources(const oci::Resources& resources);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_CGROUPS_H_
