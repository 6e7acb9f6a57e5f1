// The `main` of every gdn binary but the setuid helpers (those: lib/setuid_main.h): set up
// flags and logging, run one library call, turn its status into the documented exit code and
// one sentence on stderr.
#ifndef GDN_LIB_MAIN_H_
#define GDN_LIB_MAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/main_common.h"

namespace gdn {

// Gets the arguments that follow the program name (for RunMain: what gflags left).
using MainBody = std::function<absl::Status(const std::vector<std::string>& args)>;

// For ordinary binaries. Parses gflags (an unknown flag is a usage error, exit 2), logs to
// stderr at WARNING and above unless --minloglevel says otherwise, runs `body`, and prints
// "<program>: <message>" on stderr when it fails.
int RunMain(int argc, char** argv, absl::string_view usage, const MainBody& body);

// For binaries with subcommands that parse their own flags (lib/cli.h): logging to stderr
// at WARNING and above, `body` gets every argument, failures are reported as by RunMain.
int RunCommandMain(int argc, char** argv, const MainBody& body);

}  // namespace gdn

#endif  // GDN_LIB_MAIN_H_
