#include "lib/main_common.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "lib/status.h"

namespace gdn {

std::string ProgramName(const char* argv0) {
  absl::string_view name = argv0 == nullptr ? "gdn" : argv0;
  std::string::size_type slash = name.rfind('/');
  if (slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  return std::string(name);
}

std::string FlagName(absl::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return "";
  arg.remove_prefix(arg[1] == '-' ? 2 : 1);
  return std::string(arg.substr(0, arg.find('=')));
}

void ReportFailure(const std::string& program, const absl::Status& status) {
  if (status.ok() || CarriedExitCode(status).has_value()) return;
  std::string message(status.message());
  if (message.empty()) message = status.ToString();
  std::string line = absl::StrCat(program, ": ", message, "\n");
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

void FinishMain(const std::string& program, const absl::Status& status) {
  ReportFailure(program, status);
  fflush(nullptr);
  _exit(ExitCodeFor(status));
}

}  // namespace gdn
