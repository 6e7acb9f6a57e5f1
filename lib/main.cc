#include "lib/main.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "lib/main_common.h"
#include "lib/status.h"

namespace gdn {
namespace {

// gflags exits with 1 on an unknown flag; the design says 2. Check first.
absl::Status CheckFlagsKnown(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    std::string name = FlagName(arg);
    if (name.empty()) continue;
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(name.c_str(), &info)) continue;
    if (absl::StartsWith(name, "no") &&
        gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) && info.type == "bool") {
      continue;
    }
    return UsageError(absl::StrCat("unknown flag --", name, "; see --help"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunMain(int argc, char** argv, absl::string_view usage, const MainBody& body) {
  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  gflags::SetUsageMessage(std::string(usage));
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  absl::Status known = CheckFlagsKnown(argc, argv);
  if (!known.ok()) FinishMain(program, known);
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  google::InitGoogleLogging(argv[0]);
  FinishMain(program, body(std::vector<std::string>(argv + 1, argv + argc)));
}

int RunCommandMain(int argc, char** argv, const MainBody& body) {
  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  google::InitGoogleLogging(argc > 0 ? argv[0] : "gdn");
  FinishMain(program, body(std::vector<std::string>(argv + 1, argv + argc)));
}

}  // namespace gdn
