#include "setup/setup_flags.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/cli.h"
#include "lib/status.h"
#include "setup/record.h"

namespace gdn::setup {
namespace {

absl::StatusOr<uint32_t> ParseId(const ParsedFlags& f, const char* name) {
  std::string v = f.Get(name);
  uint32_t id;
  if (v.empty()) return UsageError(absl::StrCat("--", name, " is required"));
  if (!absl::SimpleAtoi(v, &id) || v[0] == '+' || v[0] == '-' || id == UINT32_MAX) {
    return UsageError(absl::StrCat("--", name, ": \"", v, "\" is not a decimal id"));
  }
  return id;
}

// An absolute path without trailing slashes, "." or ".." parts, or empty parts.
absl::StatusOr<std::string> AbsolutePath(const ParsedFlags& f, const char* name,
                                         const std::string& fallback) {
  std::string v = f.Get(name, fallback);
  if (v.empty() || v[0] != '/') {
    return UsageError(absl::StrCat("--", name, ": \"", v, "\" is not an absolute path"));
  }
  while (v.size() > 1 && v.back() == '/') v.pop_back();
  for (absl::string_view part : absl::StrSplit(v.substr(1), '/')) {
    if (v == "/") break;
    if (part.empty() || part == "." || part == "..") {
      return UsageError(absl::StrCat("--", name, ": \"", v, "\" has an empty, . or .. part"));
    }
  }
  return v;
}

}  // namespace

absl::StatusOr<SetupOptions> ParseSetupFlags(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(
      ParsedFlags f,
      ParseFlags(args,
                 {{"rootless-uid"}, {"rootless-gid"}, {"undo", 0, false}, {"json", 0, false},
                  {"add-subids", 0, false}, {"setuid-group", 0, false}, {"config-dir"},
                  {"depot"}, {"store"}, {"run-dir"}, {"bin-dir"}, {"install-dir"},
                  {"cgroup-root"}, {"cgroup-controllers"}, {"chain-prefix"},
                  {"network-config"}, {"help", 'h', false}},
                 false));
  if (f.Bool("help")) return UsageError(kUsage);
  if (!f.positional.empty()) {
    return UsageError(absl::StrCat("unexpected argument \"", f.positional[0], "\"\n", kUsage));
  }
  SetupOptions o;
  o.undo = f.Bool("undo");
  o.json = f.Bool("json");
  ASSIGN_OR_RETURN(o.uid, ParseId(f, "rootless-uid"));
  if (o.uid == 0) return UsageError("--rootless-uid 0: root needs no rootless setup");
  ASSIGN_OR_RETURN(o.config_dir, AbsolutePath(f, "config-dir", kDefaultConfigDir));
  if (o.undo) {
    // The record says what to undo; anything else would be ignored, so it is refused.
    for (const char* name : {"rootless-gid", "add-subids", "setuid-group", "depot", "store",
                             "run-dir", "bin-dir", "install-dir", "cgroup-root",
                             "cgroup-controllers", "chain-prefix", "network-config"}) {
      if (f.Has(name)) {
        return UsageError(absl::StrCat("--", name, " does not go with --undo: the setup record "
                                       "says what to undo"));
      }
    }
    return o;
  }
  ASSIGN_OR_RETURN(o.gid, ParseId(f, "rootless-gid"));
  if (o.gid == 0) return UsageError("--rootless-gid 0: the user's own group, not root's");
  o.add_subids = f.Bool("add-subids");
  o.setuid_group = f.Bool("setuid-group");
  std::string home = absl::StrCat("/var/lib/gdn/", o.uid);
  ASSIGN_OR_RETURN(o.depot, AbsolutePath(f, "depot", home + "/depot"));
  ASSIGN_OR_RETURN(o.store, AbsolutePath(f, "store", home + "/store"));
  ASSIGN_OR_RETURN(o.run_dir, AbsolutePath(f, "run-dir", absl::StrCat("/run/gdn/", o.uid)));
  if (f.Has("bin-dir")) {
    ASSIGN_OR_RETURN(o.bin_dir, AbsolutePath(f, "bin-dir", ""));
  }
  ASSIGN_OR_RETURN(o.install_dir, AbsolutePath(f, "install-dir", "/usr/local/lib/gdn"));
  ASSIGN_OR_RETURN(o.cgroup_root, AbsolutePath(f, "cgroup-root", "/sys/fs/cgroup"));
  if (f.Has("cgroup-controllers")) {
    for (absl::string_view c : absl::StrSplit(f.Get("cgroup-controllers"), ',', absl::SkipEmpty())) {
      for (char ch : c) {
        if (!absl::ascii_isalnum(ch) && ch != '_') {
          return UsageError(absl::StrCat("--cgroup-controllers: \"", c, "\" is not a controller name"));
        }
      }
      o.cgroup_controllers.emplace_back(c);
    }
    if (o.cgroup_controllers.empty()) return UsageError("--cgroup-controllers: empty list");
  }
  o.chain_prefix = f.Get("chain-prefix", absl::StrCat("gdn-", o.uid, "-"));
  if (o.chain_prefix.empty() || o.chain_prefix.size() > kMaxChainPrefix) {
    return UsageError(absl::StrCat("--chain-prefix: \"", o.chain_prefix, "\" must have 1 to ",
                                   kMaxChainPrefix, " characters"));
  }
  for (char ch : o.chain_prefix) {
    if (!absl::ascii_isalnum(ch) && ch != '-' && ch != '_') {
      return UsageError(absl::StrCat("--chain-prefix: \"", o.chain_prefix,
                                     "\" may hold only letters, digits, '-' and '_'"));
    }
  }
  o.network_config_file = f.Get("network-config");
  return o;
}

}  // namespace gdn::setup
