#include "lib/main.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "lib/status.h"

namespace gdn {
namespace {

void Report(const std::string& program, const absl::Status& status) {
  if (status.ok() || CarriedExitCode(status).has_value()) return;
  std::string message(status.message());
  if (message.empty()) message = status.ToString();
  std::string line = absl::StrCat(program, ": ", message, "\n");
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

// The flag name of a command-line word: "--a=b" -> "a", "-nob" -> "nob"; "" if none.
std::string FlagName(absl::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return "";
  arg.remove_prefix(arg[1] == '-' ? 2 : 1);
  return std::string(arg.substr(0, arg.find('=')));
}

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

// Ends the process once its output is out, without running static destructors: they free
// what the kernel takes back anyway (protobuf's descriptor tables alone cost a short-lived
// binary a few hundred microseconds), and no thread still running can trip over them.
[[noreturn]] void Finish(int code) {
  fflush(nullptr);
  _exit(code);
}

constexpr const char* kRefusedInSetuid[] = {"flagfile", "fromenv",  "tryfromenv",
                                            "undefok",  "log_dir",  "log_link"};

}  // namespace

std::string ProgramName(const char* argv0) {
  absl::string_view name = argv0 == nullptr ? "gdn" : argv0;
  std::string::size_type slash = name.rfind('/');
  if (slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  return std::string(name);
}

int RunMain(int argc, char** argv, absl::string_view usage, const MainBody& body) {
  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  gflags::SetUsageMessage(std::string(usage));
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  absl::Status known = CheckFlagsKnown(argc, argv);
  if (!known.ok()) {
    Report(program, known);
    return ExitCodeFor(known);
  }
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  google::InitGoogleLogging(argv[0]);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::Status status = body(args);
  Report(program, status);
  Finish(ExitCodeFor(status));
}

int RunCommandMain(int argc, char** argv, const MainBody& body) {
  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = google::GLOG_WARNING;
  google::InitGoogleLogging(argc > 0 ? argv[0] : "gdn");
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::Status status = body(args);
  Report(program, status);
  Finish(ExitCodeFor(status));
}

int RunSetuidMain(int argc, char** argv, absl::string_view usage, const MainBody& body) {
  EnsureStdioOpen();
  clearenv();
  setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
  // glog read GLOG_* variables before main() ran: put every one of its flags back.
  FLAGS_logtostderr = true;
  FLAGS_alsologtostderr = false;
  FLAGS_colorlogtostderr = false;
  FLAGS_stderrthreshold = google::GLOG_ERROR;
  FLAGS_minloglevel = google::GLOG_WARNING;
  FLAGS_log_dir = "";
  FLAGS_log_link = "";
  FLAGS_logbuflevel = google::GLOG_INFO;
  FLAGS_v = 0;
  gflags::SetCommandLineOption("vmodule", "");
  // The e-mail path runs a command (popen of logmailer): never from the caller's settings.
  for (const char* flag : {"alsologtoemail", "logmailer", "log_backtrace_at"}) {
    gflags::SetCommandLineOption(flag, "");
  }
  gflags::SetCommandLineOption("logemaillevel", "999");
  gflags::SetCommandLineOption("max_log_size", "1800");

  std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string name = FlagName(argv[i]);
    if (name == "help" || name == "h") {
      std::string text = absl::StrCat(usage, "\n");
      (void)!write(STDOUT_FILENO, text.data(), text.size());
      return kExitOk;
    }
    for (const char* refused : kRefusedInSetuid) {
      if (name == refused) {
        absl::Status status = UsageError(absl::StrCat(
            "refusing --", name,
            ": this setuid helper takes no flags from files or the environment and "
            "writes no log files"));
        Report(program, status);
        return ExitCodeFor(status);
      }
    }
    args.emplace_back(argv[i]);
  }
  google::InitGoogleLogging(argc > 0 ? argv[0] : "gdn");
  absl::Status status = body(args);
  Report(program, status);
  Finish(ExitCodeFor(status));
}

}  // namespace gdn
