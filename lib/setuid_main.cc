#include "lib/setuid_main.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "lib/main_common.h"
#include "lib/status.h"

namespace gdn {
namespace {

void EnsureStdioOpen() {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) {
      // Opened without O_CLOEXEC on purpose: this becomes fd 0, 1 or 2.
      int null_fd = open("/dev/null", O_RDWR);
      if (null_fd < 0) _exit(kExitFailed);
      if (null_fd != fd) {
        dup2(null_fd, fd);
        close(null_fd);
      }
    }
  }
}

constexpr const char* kRefused[] = {"flagfile", "fromenv",  "tryfromenv",
                                    "undefok",  "log_dir",  "log_link"};

}  // namespace

void RunSetuidMain(int argc, char** argv, absl::string_view usage, const SetuidMainBody& body) {
  EnsureStdioOpen();
  clearenv();
  setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string name = FlagName(argv[i]);
    if (name == "help" || name == "h") {
      std::string text = absl::StrCat(usage, "\n");
      (void)!write(STDOUT_FILENO, text.data(), text.size());
      FinishMain(program, absl::OkStatus());
    }
    for (const char* refused : kRefused) {
      if (name == refused) {
        FinishMain(program, UsageError(absl::StrCat(
                                "refusing --", name,
                                ": this setuid helper takes no flags from files or the "
                                "environment and writes no log files")));
      }
    }
    args.emplace_back(argv[i]);
  }
  FinishMain(program, body(args));
}

}  // namespace gdn
