// The `main` of the setuid helpers (idmap, netns). They link neither glog nor gflags: nothing
// in them reads GLOG_* or FLAGS_* variables, parses --flagfile or writes a log file, so there
// is nothing the caller could steer that way (lib/main_test checks the binaries).
#ifndef GDN_LIB_SETUID_MAIN_H_
#define GDN_LIB_SETUID_MAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gdn {

// Gets the arguments that follow the program name.
using SetuidMainBody = std::function<absl::Status(const std::vector<std::string>& args)>;

// Before anything else it makes sure stdin, stdout and stderr are open and clears the
// environment (PATH is set to a fixed safe value). --help and -h print `usage`; any of
// --flagfile, --fromenv, --tryfromenv, --undefok, --log_dir, --log_link (with one or two
// dashes) is refused as a usage error with a sentence saying why; `body` parses the rest
// itself. A failure prints "<program>: <message>" on stderr and ends with its exit code.
[[noreturn]] void RunSetuidMain(int argc, char** argv, absl::string_view usage,
                                const SetuidMainBody& body);

}  // namespace gdn

#endif  // GDN_LIB_SETUID_MAIN_H_
