// What every `main` of lib/main.h and lib/setuid_main.h shares: the program's name, the one
// line a failure prints, and the end of the process. Logging-free, so that the setuid helpers
// (which link no glog) can use it.
#ifndef GDN_LIB_MAIN_COMMON_H_
#define GDN_LIB_MAIN_COMMON_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gdn {

// The name a binary reports itself by: the last part of argv[0].
std::string ProgramName(const char* argv0);

// The flag name of a command-line word: "--a=b" -> "a", "-nob" -> "nob"; "" if none.
std::string FlagName(absl::string_view arg);

// Prints "<program>: <message>" on stderr for a failed status that carries no exit code of
// its own (one whose code was passed through from a process that already spoke).
void ReportFailure(const std::string& program, const absl::Status& status);

// Ends the process with `status`'s documented exit code once its output is out, without
// running static destructors: they free what the kernel takes back anyway (protobuf's
// descriptor tables alone cost a short-lived binary a few hundred microseconds), and no
// thread still running can trip over them.
[[noreturn]] void FinishMain(const std::string& program, const absl::Status& status);

}  // namespace gdn

#endif  // GDN_LIB_MAIN_COMMON_H_
