// The actions of netns (GARDEN_API.md §5.7): up, down, net-in, net-out, bulk-net-out, and
// check. Each runs under the state file's lock and records what it is about to make before
// making it, so that `down` can always undo it (see state.h); a failed `up` undoes itself.
#ifndef GDN_NETNS_NETNS_H_
#define GDN_NETNS_NETNS_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "netns/flags.h"
#include "netns/netns.schema.h"

namespace gdn::netns {

// Handles become file names and CNI container ids: plain names of at most 128 characters
// (lib/names.h). PermissionDenied otherwise.
absl::Status CheckHandle(const std::string& handle);

// Runs one action for `caller` (a real uid) with `input` from stdin; returns what goes to
// stdout. The process must already act as root.
absl::StatusOr<std::string> RunAction(const Invocation& inv, const Config& config, uid_t caller,
                                      absl::string_view input);

// The whole binary after flag parsing: checks the caller, loads the configuration, becomes
// root for good (real, effective and saved ids), reads stdin, runs the action, writes stdout.
absl::Status Main(const Invocation& inv);

}  // namespace gdn::netns

#endif  // GDN_NETNS_NETNS_H_
