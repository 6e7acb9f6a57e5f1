// main_probe COMMAND: exercises lib/main (setuid_probe: lib/setuid_main).
//   ok                  exits 0
//   fail CODE MESSAGE   returns a status of that absl code (number) with MESSAGE
//   env                 prints the environment it was left with
//   log                 writes one WARNING line through glog
#include <stdio.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "lib/main.h"
#include "lib/status.h"

DEFINE_string(greeting, "", "an ordinary flag, to show flags are parsed");

extern char** environ;

namespace {

absl::Status Body(const std::vector<std::string>& args) {
  if (args.empty()) return gdn::UsageError("missing command");
  const std::string& cmd = args[0];
  if (cmd == "ok") {
    if (!FLAGS_greeting.empty()) printf("%s\n", FLAGS_greeting.c_str());
    return absl::OkStatus();
  }
  if (cmd == "fail" && args.size() == 3) {
    int code = 0;
    if (!absl::SimpleAtoi(args[1], &code)) return gdn::UsageError("bad code");
    return absl::Status(static_cast<absl::StatusCode>(code), args[2]);
  }
  if (cmd == "env") {
    for (char** e = environ; *e != nullptr; ++e) printf("%s\n", *e);
    return absl::OkStatus();
  }
  if (cmd == "log") {
    LOG(WARNING) << "a warning from main_probe";
    return absl::OkStatus();
  }
  return gdn::UsageError("unknown command " + cmd);
}

}  // namespace

int main(int argc, char** argv) {
  return gdn::RunMain(argc, argv, "main_probe COMMAND", Body);
}
