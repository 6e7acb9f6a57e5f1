// The two commands of idmap, against the real system: they gather the facts (caller,
// /etc/subuid and /etc/subgid, the target's /proc folder), ask policy.h, and act.
#ifndef GDN_IDMAP_COMMANDS_H_
#define GDN_IDMAP_COMMANDS_H_

#include "absl/status/status.h"
#include "idmap/idmap_flags.h"

namespace gdn::idmap {

// Prints the subordinate ranges of the caller (or, for root, of --user) as JSON.
// NotFound when the user has none.
absl::Status Show(const ShowCommand& cmd);

// Writes the maps. All reads and writes go through one descriptor of /proc/PID, so a pid
// that is recycled meanwhile cannot redirect them.
absl::Status Apply(const ApplyCommand& cmd);

}  // namespace gdn::idmap

#endif  // GDN_IDMAP_COMMANDS_H_
