// idmap: the setuid helper that writes uid/gid maps of user namespaces (newuidmap and
// newgidmap in one). See idmap_flags.h for the command line and policy.h for the rules.
#include <variant>

#include "idmap/commands.h"
#include "idmap/idmap_flags.h"
#include "lib/setuid_main.h"
#include "lib/status.h"

int main(int argc, char** argv) {
  gdn::RunSetuidMain(
      argc, argv, gdn::idmap::kUsage, [](const std::vector<std::string>& args) -> absl::Status {
        ASSIGN_OR_RETURN(gdn::idmap::Command cmd, gdn::idmap::ParseCommandLine(args));
        if (auto* show = std::get_if<gdn::idmap::ShowCommand>(&cmd)) {
          return gdn::idmap::Show(*show);
        }
        return gdn::idmap::Apply(std::get<gdn::idmap::ApplyCommand>(cmd));
      });
}
