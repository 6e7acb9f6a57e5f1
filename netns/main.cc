// netns: the network plugin of gdn (Garden's protocol, GARDEN_API.md §5.7), a CNI runtime
// that is installed setuid root. See flags.h for the command line and netns.h for the actions.
#include "lib/setuid_main.h"

#include "lib/status.h"
#include "netns/flags.h"
#include "netns/netns.h"

int main(int argc, char** argv) {
  gdn::RunSetuidMain(
      argc, argv, gdn::netns::kUsage, [](const std::vector<std::string>& args) -> absl::Status {
        ASSIGN_OR_RETURN(gdn::netns::Invocation inv, gdn::netns::ParseCommandLine(args));
        return gdn::netns::Main(inv);
      });
}
