// The command line of netns, Garden's network plugin protocol (GARDEN_API.md §5.7):
//
//   netns [--configFile F] --action up|down|net-in|net-out|bulk-net-out|check --handle H
//
// in the forms Go's flag package reads (-name value, --name=value, ...). Parsed by hand: as a
// setuid binary netns does not let gflags near its arguments (lib/main.h, RunSetuidMain).
#ifndef GDN_NETNS_FLAGS_H_
#define GDN_NETNS_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::netns {

inline constexpr char kUsage[] =
    "usage: netns [--configFile F] --action up|down|net-in|net-out|bulk-net-out|check "
    "--handle H\n"
    "The network plugin of gdn (Garden's protocol): JSON on stdin, JSON on stdout.\n"
    "  up            give the network namespace of {\"Pid\":P} an interface and address (CNI),\n"
    "                apply its netout_rules and netin mappings\n"
    "  down          undo all of it (succeeds when there is nothing left to undo)\n"
    "  net-in        map a host port to a container port\n"
    "  net-out       allow one more kind of egress; bulk-net-out: several\n"
    "  check         CNI CHECK and the rules still in place (not part of Garden's protocol)\n"
    "Without --configFile: /etc/gdn/network/<your uid>.json (written by setup). Callers other\n"
    "than root may only name a root-owned configuration that no one else can write.";

enum class Action { kUp, kDown, kNetIn, kNetOut, kBulkNetOut, kCheck };

struct Invocation {
  Action action = Action::kUp;
  std::string handle;
  std::optional<std::string> config_file;
};

// Parses the arguments after the program name. Every problem is a UsageError. The handle is
// not checked here beyond being present (see netns.h for the rules on handles).
absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args);

const char* ActionName(Action action);

}  // namespace gdn::netns

#endif  // GDN_NETNS_FLAGS_H_
