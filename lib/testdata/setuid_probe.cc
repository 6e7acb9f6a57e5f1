// setuid_probe COMMAND: exercises lib/setuid_main, linked as the setuid helpers are (no glog,
// no gflags).
//   ok                  exits 0
//   fail CODE MESSAGE   returns a status of that absl code (number) with MESSAGE
//   env                 prints the environment it was left with
#include <stdio.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "lib/setuid_main.h"
#include "lib/status.h"

extern char** environ;

int main(int argc, char** argv) {
  gdn::RunSetuidMain(argc, argv, "setuid_probe COMMAND",
                     [](const std::vector<std::string>& args) -> absl::Status {
                       if (args.size() == 1 && args[0] == "ok") return absl::OkStatus();
                       int code = 0;
                       if (args.size() == 3 && args[0] == "fail" &&
                           absl::SimpleAtoi(args[1], &code)) {
                         return absl::Status(static_cast<absl::StatusCode>(code), args[2]);
                       }
                       if (args.size() == 1 && args[0] == "env") {
                         for (char** e = environ; *e != nullptr; ++e) printf("%s\n", *e);
                         return absl::OkStatus();
                       }
                       return gdn::UsageError("usage: setuid_probe ok|fail CODE MESSAGE|env");
                     });
}
