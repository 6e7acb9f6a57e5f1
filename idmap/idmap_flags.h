// The command line of idmap, parsed by hand: as a setuid binary it does not let gflags near
// its arguments (see lib/main.h, RunSetuidMain).
//
//   idmap show [--user NAME|UID]
//   idmap apply --pid PID [--uid-map C:H:N]... [--gid-map C:H:N]... [--setgroups deny|allow]
#ifndef GDN_IDMAP_IDMAP_FLAGS_H_
#define GDN_IDMAP_IDMAP_FLAGS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/idmap.h"

namespace gdn::idmap {

inline constexpr char kUsage[] =
    "usage: idmap show [--user NAME|UID]\n"
    "       idmap apply --pid PID [--uid-map C:H:N]... [--gid-map C:H:N]... "
    "[--setgroups deny|allow]\n"
    "Writes the uid and gid maps of a user namespace process you own, with ids that\n"
    "/etc/subuid and /etc/subgid grant you; `show` prints your ranges as JSON.";

struct ShowCommand {
  std::optional<std::string> user;  // name or decimal uid; unset means the caller
};

enum class Setgroups { kUnchanged, kDeny, kAllow };

struct ApplyCommand {
  pid_t pid = 0;
  std::vector<IdMapping> uid_map;
  std::vector<IdMapping> gid_map;
  Setgroups setgroups = Setgroups::kUnchanged;
};

using Command = std::variant<ShowCommand, ApplyCommand>;

// Parses the arguments after the program name. Every problem is a UsageError.
absl::StatusOr<Command> ParseCommandLine(const std::vector<std::string>& args);

}  // namespace gdn::idmap

#endif  // GDN_IDMAP_IDMAP_FLAGS_H_
