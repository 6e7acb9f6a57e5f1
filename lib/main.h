// The `main` of every gdn binary: set up flags and logging, run one library call, turn its
// status into the documented exit code and one sentence on stderr.
#ifndef GDN_LIB_MAIN_H_
#define GDN_LIB_MAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

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

// For setuid binaries. Before anything else it makes sure stdin, stdout and stderr are open,
// clears the environment (PATH is set to a fixed safe value), and puts every logging flag
// back to a safe value so that nothing the caller set through GLOG_* or FLAGS_* variables
// counts. gflags is not run on the command line at all: any of --flagfile, --fromenv,
// --tryfromenv, --undefok, --log_dir, --log_link (with one or two dashes) is refused as a
// usage error, and `body` parses the rest itself. Logging goes to stderr only.
int RunSetuidMain(int argc, char** argv, absl::string_view usage, const MainBody& body);

// The name a binary reports itself by: the last part of argv[0].
std::string ProgramName(const char* argv0);

}  // namespace gdn

#endif  // GDN_LIB_MAIN_H_
