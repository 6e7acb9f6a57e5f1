// What a caller may write into a user namespace's id maps. Pure: it decides from facts
// gathered elsewhere (who calls, what /etc/subuid and /etc/subgid grant, what the target
// process is), so every rule is unit-tested without root.
//
// An unprivileged caller may only
//   - target a process it owns (uid and gid) whose user namespace it created, as a child of
//     the initial namespace, and whose maps are still unwritten;
//   - map its own uid or gid (count 1) or host ranges inside its subordinate ranges;
//   - write maps without overlaps, within the kernel's 340 lines;
//   - keep setgroups allowed only when its gid map uses a subordinate range: a map of its own
//     gid alone always gets "deny" written first (CVE-2018-7169, as newgidmap does).
// Root may do what the kernel allows.
#ifndef GDN_IDMAP_POLICY_H_
#define GDN_IDMAP_POLICY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "idmap/idmap_flags.h"
#include "lib/idmap.h"

namespace gdn::idmap {

struct Caller {
  uid_t uid = 0;  // the real ids: a setuid binary acts on behalf of these
  gid_t gid = 0;
  std::string name;  // from the password database; empty if it has none
  bool privileged() const { return uid == 0; }
};

// The caller's subordinate ranges.
struct Grants {
  std::vector<IdRange> uids;
  std::vector<IdRange> gids;
};

// Facts about the target process, read through its /proc folder.
struct Target {
  pid_t pid = 0;
  uid_t uid = 0;  // owner of /proc/PID
  gid_t gid = 0;
  uid_t userns_owner = 0;           // NS_GET_OWNER_UID of its user namespace
  bool userns_is_child_of_ours = false;  // its user namespace's parent is idmap's own
  bool uid_map_written = false;
  bool gid_map_written = false;
};

// What to write, in this order: uid_map, setgroups, gid_map.
struct Plan {
  std::string uid_map;                   // empty: leave it
  std::optional<std::string> setgroups;  // "deny" or "allow"
  std::string gid_map;                   // empty: leave it
};

// The plan for `cmd`, or PermissionDenied with a sentence naming the broken rule.
absl::StatusOr<Plan> PlanApply(const ApplyCommand& cmd, const Caller& caller,
                               const Grants& grants, const Target& target);

}  // namespace gdn::idmap

#endif  // GDN_IDMAP_POLICY_H_
