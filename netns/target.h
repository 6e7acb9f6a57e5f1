// The process whose network namespace `up` wires, and who may name it.
//
// Everything is read through one descriptor of /proc/PID, so a pid recycled meanwhile makes
// the reads fail instead of describing another process. The network namespace descriptor
// returned is the one the facts were read from.
#ifndef GDN_NETNS_TARGET_H_
#define GDN_NETNS_TARGET_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/fd.h"

namespace gdn::netns {

struct TargetFacts {
  pid_t pid = 0;
  uid_t real_uid = 0;       // the Uid: line of /proc/PID/status
  uid_t userns_owner = 0;   // NS_GET_OWNER_UID of its user namespace
  uid_t netns_owner = 0;    // the owner of the user namespace that owns its network namespace
  bool host_netns = false;  // it is in the network namespace of pid 1 or of netns itself
  bool pid_ns_init = false;  // it is the init (pid 1) of a pid namespace of its own
  uint64_t start_time = 0;   // field 22 of /proc/PID/stat, to tell it from a later process
};

struct Target {
  TargetFacts facts;
  UniqueFd netns;  // /proc/PID/ns/net, opened read-only
};

// NotFound when there is no such process (or it went away while we looked).
absl::StatusOr<Target> OpenTarget(pid_t pid);

// May `caller` (a real uid) give this process a network? Root may, for any process outside
// the host's network namespace. Anyone else only for a process that runs as them, in a user
// namespace they own, whose network namespace belongs to a user namespace they own.
// PermissionDenied with the sentence that says which rule failed.
absl::Status CheckTarget(uid_t caller, const TargetFacts& facts);

}  // namespace gdn::netns

#endif  // GDN_NETNS_TARGET_H_
