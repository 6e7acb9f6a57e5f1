#include "idmap/idmap_flags.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/status.h"

namespace gdn::idmap {
namespace {

// Walks "--name value" and "--name=value" pairs.
class FlagReader {
 public:
  explicit FlagReader(const std::vector<std::string>& args) : args_(args) {}

  bool Done() const { return i_ >= args_.size(); }

  // Reads the next flag and its value into `name` and `value`.
  absl::Status Next(std::string* name, std::string* value) {
    const std::string& arg = args_[i_++];
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return UsageError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string::size_type eq = arg.find('=');
    if (eq != std::string::npos) {
      *name = arg.substr(2, eq - 2);
      *value = arg.substr(eq + 1);
      return absl::OkStatus();
    }
    *name = arg.substr(2);
    if (Done()) return UsageError(absl::StrCat("--", *name, " needs a value"));
    *value = args_[i_++];
    return absl::OkStatus();
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 1;  // after the subcommand
};

absl::StatusOr<Command> ParseShow(const std::vector<std::string>& args) {
  ShowCommand show;
  FlagReader flags(args);
  while (!flags.Done()) {
    std::string name, value;
    RETURN_IF_ERROR(flags.Next(&name, &value));
    if (name != "user") return UsageError(absl::StrCat("show takes no flag --", name));
    if (value.empty()) return UsageError("--user needs a name or uid");
    show.user = value;
  }
  return show;
}

absl::StatusOr<Command> ParseApply(const std::vector<std::string>& args) {
  ApplyCommand apply;
  bool have_pid = false;
  FlagReader flags(args);
  while (!flags.Done()) {
    std::string name, value;
    RETURN_IF_ERROR(flags.Next(&name, &value));
    if (name == "pid") {
      int pid;
      if (!absl::SimpleAtoi(value, &pid) || pid <= 0) {
        return UsageError(absl::StrCat("--pid \"", value, "\" is not a process id"));
      }
      apply.pid = pid;
      have_pid = true;
    } else if (name == "uid-map" || name == "gid-map") {
      absl::StatusOr<IdMapping> m = ParseIdMapping(value);
      if (!m.ok()) return UsageError(absl::StrCat("--", name, ": ", m.status().message()));
      (name == "uid-map" ? apply.uid_map : apply.gid_map).push_back(*m);
    } else if (name == "setgroups") {
      if (value == "deny") {
        apply.setgroups = Setgroups::kDeny;
      } else if (value == "allow") {
        apply.setgroups = Setgroups::kAllow;
      } else {
        return UsageError(absl::StrCat("--setgroups is deny or allow, not \"", value, "\""));
      }
    } else {
      return UsageError(absl::StrCat("apply takes no flag --", name));
    }
  }
  if (!have_pid) return UsageError("apply needs --pid");
  if (apply.uid_map.empty() && apply.gid_map.empty()) {
    return UsageError("apply needs --uid-map or --gid-map");
  }
  if (apply.gid_map.empty() && apply.setgroups != Setgroups::kUnchanged) {
    return UsageError("--setgroups goes with --gid-map");
  }
  return apply;
}

}  // namespace

absl::StatusOr<Command> ParseCommandLine(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("missing command: show or apply");
  if (args[0] == "show") return ParseShow(args);
  if (args[0] == "apply") return ParseApply(args);
  return UsageError(absl::StrCat("unknown command \"", args[0], "\": show or apply"));
}

}  // namespace gdn::idmap
