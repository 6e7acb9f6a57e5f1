// image-store: the image plugin (grootfs's place in Garden), speaking Garden's image-plugin
// protocol (GARDEN_API.md 5.6). Global flags come before the subcommand.
//
//   image-store --store DIR [--idmap PATH] init-store [--uid-mapping C:H:N]... [--gid-mapping C:H:N]...
//   image-store --store DIR create [--disk-limit-size-bytes N [--exclude-image-from-quota]]
//               [--username U] [--password P] URI HANDLE
//   image-store --store DIR delete HANDLE | stats HANDLE | list | clean | capacity
//   image-store --store DIR pull [--username U] [--password P] URI
// Registry images (docker://) take, before the command: --insecure-registry HOST (repeated),
// --default-registry HOST (docker.io), --credentials FILE (a Docker config.json), and
// --json-progress (progress as JSON lines on stderr; a terminal gets it as text anyway).
#include <sys/statvfs.h>
#include <limits.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "image/store.h"
#include "lib/cli.h"
#include "lib/fd.h"
#include "lib/idmap.h"
#include "lib/main.h"
#include "lib/status.h"

namespace gdn::image {
namespace {

absl::StatusOr<IdMap> Mappings(const std::vector<std::string>& values, const char* flag) {
  std::vector<gdn::IdMapping> out;
  for (const std::string& v : values) {
    absl::StatusOr<gdn::IdMapping> m = ParseIdMapping(v);
    if (!m.ok()) return UsageError(absl::StrCat("--", flag, ": ", m.status().message()));
    out.push_back(*m);
  }
  return IdMap(std::move(out));
}

absl::Status Print(const std::string& s) { return WriteAll(STDOUT_FILENO, s); }

absl::Status Main(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(ParsedFlags global,
                   ParseFlags(args, {{"store"}, {"idmap"}, {"log-level"}, {"config"},
                                     {"insecure-registry"}, {"default-registry"}, {"credentials"},
                                     {"json-progress", 0, false}},
                              true));
  if (global.positional.empty()) {
    return UsageError("missing command: init-store, create, delete, stats, list, clean, pull, capacity");
  }
  std::string store_path = global.Get("store");
  if (store_path.empty()) return UsageError("--store is required");
  // Absolute: the paths create prints are read by others (spawn, from the bundle's folder).
  if (store_path[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) return ErrnoError(errno, "getcwd");
    store_path = absl::StrCat(cwd, "/", store_path);
  }
  std::string cmd = global.positional[0];
  std::vector<std::string> rest(global.positional.begin() + 1, global.positional.end());
  if (cmd == "init-store") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"uid-mapping"}, {"gid-mapping"}}, false));
    if (!f.positional.empty()) return UsageError("init-store takes no arguments");
    ASSIGN_OR_RETURN(IdMap uids, Mappings(f.All("uid-mapping"), "uid-mapping"));
    ASSIGN_OR_RETURN(IdMap gids, Mappings(f.All("gid-mapping"), "gid-mapping"));
    return Store::InitStore(store_path, uids, gids);
  }
  ASSIGN_OR_RETURN(Store store, Store::Open(store_path, global.Get("idmap")));
  PullOptions pull;
  pull.insecure_registries = global.All("insecure-registry");
  pull.default_registry = global.Get("default-registry", "docker.io");
  pull.credentials_file = global.Get("credentials");
  // Progress for a person at a terminal, or for a program that asked; quiet otherwise.
  pull.progress = global.Bool("json-progress") ? "json" : isatty(STDERR_FILENO) ? "tty" : "none";
  if (cmd == "create") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"disk-limit-size-bytes"},
                                                      {"exclude-image-from-quota", 0, false},
                                                      {"username"}, {"password"}},
                                               false));
    if (f.positional.size() != 2) return UsageError("create takes URI HANDLE");
    CreateOptions options;
    std::string limit = f.Get("disk-limit-size-bytes");
    if (!limit.empty() && !absl::SimpleAtoi(limit, &options.disk_limit_bytes)) {
      return UsageError(absl::StrCat("--disk-limit-size-bytes: \"", limit, "\" is not a number"));
    }
    options.exclude_image_from_quota = f.Bool("exclude-image-from-quota");
    pull.username = f.Get("username");
    pull.password = f.Get("password");
    store.set_pull_options(pull);
    ASSIGN_OR_RETURN(std::string spec, store.Create(f.positional[0], f.positional[1], options));
    return Print(spec);
  }
  ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, cmd == "pull" ? std::vector<FlagSpec>{{"username"}, {"password"}}
                                                                  : std::vector<FlagSpec>{},
                                             false));
  pull.username = f.Get("username");
  pull.password = f.Get("password");
  store.set_pull_options(pull);
  if (cmd == "delete" || cmd == "stats" || cmd == "pull") {
    if (f.positional.size() != 1) return UsageError(absl::StrCat(cmd, " takes one argument"));
    if (cmd == "delete") {
      RETURN_IF_ERROR(store.Delete(f.positional[0]));
      return Print(absl::StrCat("Image ", f.positional[0], " deleted\n"));
    }
    if (cmd == "pull") return store.Pull(f.positional[0]);
    ASSIGN_OR_RETURN(std::string stats, store.StatsJson(f.positional[0]));
    return Print(stats);
  }
  if (cmd == "list") {
    ASSIGN_OR_RETURN(std::vector<std::string> handles, store.List());
    std::string out;
    for (const std::string& h : handles) absl::StrAppend(&out, h, "\n");
    return Print(out);
  }
  if (cmd == "clean") return store.Clean();
  if (cmd == "capacity") {
    struct statvfs sv;
    if (statvfs(store_path.c_str(), &sv) != 0) return ErrnoError(errno, "statvfs", store_path);
    return Print(absl::StrCat("{\"capacity\":", static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize, "}\n"));
  }
  return UsageError(absl::StrCat("unknown command \"", cmd, "\""));
}

}  // namespace
}  // namespace gdn::image

int main(int argc, char** argv) { return gdn::RunCommandMain(argc, argv, gdn::image::Main); }
