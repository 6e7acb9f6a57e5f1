#include "spawn/mount_options.h"

#include <sys/mount.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gdn::spawn {
namespace {

struct FlagOption {
  const char* name;
  bool clear;  // the option removes the flag ("rw", "suid", ...)
  unsigned long flag;
};

constexpr FlagOption kFlagOptions[] = {
    {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},     {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},     {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},  {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},     {"nomand", true, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},   {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME}, {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
    {"bind", false, MS_BIND},         {"rbind", false, MS_BIND | MS_REC},
};

struct PropagationOption {
  const char* name;
  unsigned long flags;
};

constexpr PropagationOption kPropagation[] = {
    {"private", MS_PRIVATE},     {"rprivate", MS_PRIVATE | MS_REC},
    {"slave", MS_SLAVE},         {"rslave", MS_SLAVE | MS_REC},
    {"shared", MS_SHARED},       {"rshared", MS_SHARED | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

// Options that mean something to other runtimes or tools and nothing to mount(2).
constexpr const char* kIgnored[] = {"tmpcopyup", "notmpcopyup", "copy-symlink", "defaults",
                                    "z", "Z", "U"};

}  // namespace

bool MountOptions::bind() const { return (flags & MS_BIND) != 0; }

absl::StatusOr<MountOptions> ParseMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  std::vector<std::string> data;
  for (const std::string& option : options) {
    bool known = false;
    for (const FlagOption& f : kFlagOptions) {
      if (option == f.name) {
        out.flags = f.clear ? out.flags & ~f.flag : out.flags | f.flag;
        known = true;
        break;
      }
    }
    for (const PropagationOption& p : kPropagation) {
      if (!known && option == p.name) {
        out.propagation = p.flags;
        known = true;
      }
    }
    for (const char* ignored : kIgnored) {
      if (!known && option == ignored) known = true;
    }
    if (known) continue;
    if (option == "idmap" || option == "ridmap") {
      return absl::InvalidArgumentError(
          absl::StrCat("mount option \"", option, "\" (id-mapped mounts) is not supported"));
    }
    data.push_back(option);
  }
  out.data = absl::StrJoin(data, ",");
  return out;
}

std::string MountFlagsToString(unsigned long flags) {
  static constexpr struct {
    unsigned long flag;
    const char* name;
  } kNames[] = {{MS_RDONLY, "MS_RDONLY"},     {MS_NOSUID, "MS_NOSUID"},
                {MS_NODEV, "MS_NODEV"},       {MS_NOEXEC, "MS_NOEXEC"},
                {MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {MS_REMOUNT, "MS_REMOUNT"},
                {MS_MANDLOCK, "MS_MANDLOCK"}, {MS_DIRSYNC, "MS_DIRSYNC"},
                {MS_NOATIME, "MS_NOATIME"},   {MS_NODIRATIME, "MS_NODIRATIME"},
                {MS_BIND, "MS_BIND"},         {MS_MOVE, "MS_MOVE"},
                {MS_REC, "MS_REC"},           {MS_PRIVATE, "MS_PRIVATE"},
                {MS_SLAVE, "MS_SLAVE"},       {MS_SHARED, "MS_SHARED"},
                {MS_UNBINDABLE, "MS_UNBINDABLE"}, {MS_RELATIME, "MS_RELATIME"},
                {MS_STRICTATIME, "MS_STRICTATIME"}};
  std::vector<std::string> names;
  for (const auto& n : kNames) {
    if (flags & n.flag) {
      names.push_back(n.name);
      flags &= ~n.flag;
    }
  }
  if (flags != 0) names.push_back(absl::StrCat("0x", absl::Hex(flags)));
  return names.empty() ? "0" : absl::StrJoin(names, "|");
}

absl::StatusOr<unsigned long> ParsePropagation(const std::string& name) {
  if (name.empty()) return 0ul;
  for (const PropagationOption& p : kPropagation) {
    if (name == p.name) return p.flags;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("linux.rootfsPropagation \"", name, "\" is not a propagation type"));
}

}  // namespace gdn::spawn
