#include "netns/flags.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/cli.h"
#include "lib/status.h"

namespace gdn::netns {
namespace {

struct NamedAction {
  const char* name;
  Action action;
};
constexpr NamedAction kActions[] = {
    {"up", Action::kUp},
    {"down", Action::kDown},
    {"net-in", Action::kNetIn},
    {"net-out", Action::kNetOut},
    {"bulk-net-out", Action::kBulkNetOut},
    {"check", Action::kCheck},
};

}  // namespace

const char* ActionName(Action action) {
  for (const NamedAction& a : kActions) {
    if (a.action == action) return a.name;
  }
  return "?";
}

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(ParsedFlags flags, ParseFlags(args, {{"configFile"}, {"action"}, {"handle"}},
                                                 /*stop_at_positional=*/false));
  if (!flags.positional.empty()) {
    return UsageError(absl::StrCat("unexpected argument \"", flags.positional[0], "\""));
  }
  for (const char* name : {"configFile", "action", "handle"}) {
    if (flags.All(name).size() > 1) return UsageError(absl::StrCat("--", name, " given twice"));
  }
  Invocation inv;
  if (!flags.Has("action")) return UsageError("missing --action");
  std::string action = flags.Get("action");
  bool known = false;
  for (const NamedAction& a : kActions) {
    if (action == a.name) {
      inv.action = a.action;
      known = true;
    }
  }
  if (!known) return UsageError(absl::StrCat("unrecognized action: ", action));
  if (!flags.Has("handle") || flags.Get("handle").empty()) return UsageError("missing --handle");
  inv.handle = flags.Get("handle");
  if (flags.Has("configFile")) {
    if (flags.Get("configFile").empty()) return UsageError("--configFile needs a path");
    inv.config_file = flags.Get("configFile");
  }
  return inv;
}

}  // namespace gdn::netns
