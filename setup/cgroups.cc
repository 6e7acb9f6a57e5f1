#include "setup/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"
#include "setup/files.h"
#include "setup/setup_flags.h"

namespace gdn::setup {
namespace {

constexpr long kCgroupMagic = 0x27e0eb;
constexpr long kCgroup2Magic = 0x63677270;

// The files the user gets with its subtree, where they exist (v1: cgroup.procs, tasks;
// v2: cgroup.procs, cgroup.subtree_control, cgroup.threads).
constexpr const char* kDelegatedFiles[] = {"cgroup.procs", "tasks", "cgroup.subtree_control",
                                           "cgroup.threads"};

bool Contains(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool IsRequired(absl::string_view c) {
  for (const char* r : kRequiredControllers) {
    if (c == r) return true;
  }
  return false;
}

long FsType(const std::string& path) {
  struct statfs sf;
  if (statfs(path.c_str(), &sf) != 0) return 0;
  return static_cast<long>(sf.f_type);
}

std::vector<std::string> Words(absl::string_view text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
}

absl::Status WriteCgroupFile(const std::string& path, absl::string_view value) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(path, O_WRONLY));
  absl::Status s = WriteAll(fd.get(), value);
  if (!s.ok()) return Annotate(s, absl::StrCat("writing \"", value, "\" to ", path));
  return absl::OkStatus();
}

absl::Status ChownDelegated(const std::string& dir, uid_t uid, gid_t gid) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (fchown(fd.get(), uid, gid) != 0) return ErrnoError(errno, "chown", dir);
  for (const char* f : kDelegatedFiles) {
    if (fchownat(fd.get(), f, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "chown", absl::StrCat(dir, "/", f));
    }
  }
  return absl::OkStatus();
}

// Whether the folder and every delegated file there is owned by uid:gid.
absl::StatusOr<bool> OwnedBy(const std::string& dir, uid_t uid, gid_t gid) {
  ASSIGN_OR_RETURN(PathState d, StatPath(dir));
  if (d.uid != uid || d.gid != gid) return false;
  for (const char* f : kDelegatedFiles) {
    ASSIGN_OR_RETURN(PathState s, StatPath(absl::StrCat(dir, "/", f)));
    if (s.exists && (s.uid != uid || s.gid != gid)) return false;
  }
  return true;
}

// Enables `controllers` in the cgroup.subtree_control of `dir`; returns those it enabled.
absl::StatusOr<std::vector<std::string>> EnableControllers(
    const std::string& dir, const std::vector<std::string>& controllers) {
  std::string file = dir + "/cgroup.subtree_control";
  ASSIGN_OR_RETURN(std::string current, ReadFile(file));
  std::vector<std::string> enabled = Words(current), added;
  for (const std::string& c : controllers) {
    if (Contains(enabled, c)) continue;
    RETURN_IF_ERROR(WriteCgroupFile(file, "+" + c));
    added.push_back(c);
  }
  return added;
}

// Removes `dir` and every cgroup below it, deepest first.
absl::Status RemoveCgroupTree(const std::string& dir) {
  std::vector<std::string> children;
  {
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
    if (!d) return ErrnoError(errno, "opendir", dir);
    while (struct dirent* e = readdir(d.get())) {
      std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..") children.push_back(name);
    }
  }
  for (const std::string& c : children) RETURN_IF_ERROR(RemoveCgroupTree(dir + "/" + c));
  if (rmdir(dir.c_str()) != 0) {
    if (errno == EBUSY) {
      return absl::UnavailableError(
          absl::StrCat("cannot remove cgroup ", dir, ": it still holds processes"));
    }
    return ErrnoError(errno, "rmdir", dir);
  }
  return absl::OkStatus();
}

}  // namespace

std::string SubtreeName(uid_t uid) { return absl::StrCat("gdn-", uid); }

absl::StatusOr<CgroupLayout> DetectCgroups(const std::string& root,
                                           const std::vector<std::string>& asked) {
  CgroupLayout layout;
  long type = FsType(root);
  if (type == 0) return ErrnoError(errno, "statfs", root);
  if (type == kCgroup2Magic) {
    layout.version = 2;
    ASSIGN_OR_RETURN(std::string available, ReadFile(root + "/cgroup.controllers"));
    std::vector<std::string> have = Words(available);
    CgroupHierarchy h{root, {}};
    std::vector<std::string> wanted =
        asked.empty() ? std::vector<std::string>(std::begin(kV2Controllers), std::end(kV2Controllers))
                      : asked;
    for (const std::string& c : wanted) {
      if (Contains(have, c)) {
        h.controllers.push_back(c);
      } else if (!asked.empty() || IsRequired(c)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cgroup v2 at ", root, " has no ", c, " controller (", root, "/cgroup.controllers: \"",
            absl::StripAsciiWhitespace(available), "\")"));
      } else {
        layout.missing.push_back(c);
      }
    }
    layout.hierarchies.push_back(std::move(h));
    return layout;
  }
  layout.version = 1;
  std::vector<std::string> wanted =
      asked.empty() ? std::vector<std::string>(std::begin(kV1Controllers), std::end(kV1Controllers))
                    : asked;
  for (const std::string& c : wanted) {
    std::string dir = absl::StrCat(root, "/", c);
    if (FsType(dir) != kCgroupMagic) {
      if (!asked.empty() || IsRequired(c)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "no cgroup v1 hierarchy of the ", c, " controller at ", dir,
            " (and ", root, " is no cgroup2 mount either)"));
      }
      layout.missing.push_back(c);
      continue;
    }
    char real[PATH_MAX];
    if (realpath(dir.c_str(), real) == nullptr) return ErrnoError(errno, "realpath", dir);
    auto it = std::find_if(layout.hierarchies.begin(), layout.hierarchies.end(),
                           [&](const CgroupHierarchy& h) { return h.root == real; });
    if (it == layout.hierarchies.end()) {
      layout.hierarchies.push_back({real, {c}});
    } else {
      it->controllers.push_back(c);
    }
  }
  if (FsType(root + "/unified") == kCgroup2Magic) {
    layout.note = absl::StrCat("hybrid, the cgroup2 hierarchy ", root, "/unified is not used");
  }
  return layout;
}

std::vector<CgroupSubtree> Subtrees(const CgroupLayout& layout, uid_t uid) {
  std::vector<CgroupSubtree> out;
  for (const CgroupHierarchy& h : layout.hierarchies) {
    CgroupSubtree s;
    s.set_path(absl::StrCat(h.root, "/", SubtreeName(uid)));
    for (const std::string& c : h.controllers) s.add_controllers(c);
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status EnsureCgroups(const CgroupLayout& layout, uid_t uid, gid_t gid,
                           std::vector<Action>* actions) {
  for (const CgroupHierarchy& h : layout.hierarchies) {
    std::string sub = absl::StrCat(h.root, "/", SubtreeName(uid));
    if (layout.version == 2) {
      ASSIGN_OR_RETURN(std::vector<std::string> added, EnableControllers(h.root, h.controllers));
      if (!added.empty()) {
        Action a;
        a.set_kind(Action::CGROUP_CONTROLLERS);
        a.set_path(h.root + "/cgroup.subtree_control");
        a.set_value(absl::StrJoin(added, " "));
        actions->push_back(a);
      }
    }
    ASSIGN_OR_RETURN(PathState st, StatPath(sub));
    if (st.exists && !st.is_dir) return absl::AlreadyExistsError(absl::StrCat(sub, " is no cgroup"));
    if (!st.exists) {
      if (mkdir(sub.c_str(), 0755) != 0) return ErrnoError(errno, "mkdir", sub);
      Action a;
      a.set_kind(Action::CGROUP);
      a.set_path(sub);
      a.set_created(true);
      actions->push_back(a);
    }
    if (layout.version == 1 && Contains(h.controllers, "cpuset")) {
      // A new v1 cpuset cgroup starts with no cpus and no mems: nothing could run in it.
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        ASSIGN_OR_RETURN(std::string mine, ReadFile(absl::StrCat(sub, "/", f)));
        if (!absl::StripAsciiWhitespace(mine).empty()) continue;
        ASSIGN_OR_RETURN(std::string parent, ReadFile(absl::StrCat(h.root, "/", f)));
        RETURN_IF_ERROR(WriteCgroupFile(absl::StrCat(sub, "/", f),
                                        absl::StripAsciiWhitespace(parent)));
      }
    }
    if (layout.version == 2) {
      RETURN_IF_ERROR(EnableControllers(sub, h.controllers).status());
    }
    ASSIGN_OR_RETURN(bool owned, OwnedBy(sub, uid, gid));
    if (!owned) {
      if (st.exists) {
        // Handed over now, made before: undo gives it back to its owner.
        Action a;
        a.set_kind(Action::CGROUP);
        a.set_path(sub);
        a.set_previous_uid(st.uid);
        a.set_previous_gid(st.gid);
        actions->push_back(a);
      }
      RETURN_IF_ERROR(ChownDelegated(sub, uid, gid));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DescribeSubtree(const CgroupLayout& layout, const CgroupSubtree& s) {
  ASSIGN_OR_RETURN(PathState st, StatPath(s.path()));
  std::string out = absl::StrCat("owned by ", st.uid, ":", st.gid);
  if (layout.version == 1 && Contains({s.controllers().begin(), s.controllers().end()}, "cpuset")) {
    ASSIGN_OR_RETURN(std::string cpus, ReadFile(s.path() + "/cpuset.cpus"));
    ASSIGN_OR_RETURN(std::string mems, ReadFile(s.path() + "/cpuset.mems"));
    absl::StrAppend(&out, ", cpus ", absl::StripAsciiWhitespace(cpus), ", mems ",
                    absl::StripAsciiWhitespace(mems));
  }
  if (layout.version == 2) {
    ASSIGN_OR_RETURN(std::string enabled, ReadFile(s.path() + "/cgroup.subtree_control"));
    std::vector<std::string> words = Words(enabled);
    absl::StrAppend(&out, ", controllers for its children: ",
                    words.empty() ? "none" : absl::StrJoin(words, " "));
  }
  return out;
}

namespace {

constexpr char kFavorDynmods[] = "favordynmods";

// Reconfigures the cgroup2 superblock with its present options, favordynmods on or off.
absl::Status ReconfigureCgroup2(const Cgroup2Mount& m, bool favordynmods) {
  UniqueFd fd(fspick(AT_FDCWD, m.path.c_str(),
                     FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT | FSPICK_SYMLINK_NOFOLLOW));
  if (!fd.valid()) return ErrnoError(errno, "fspick", m.path);
  // A reconfiguration sets every flag of the superblock: the others are given again as they are.
  for (const std::string& o : m.super_options) {
    if (o == "rw" || o == "ro" || o == kFavorDynmods) continue;
    if (fsconfig(fd.get(), FSCONFIG_SET_FLAG, o.c_str(), nullptr, 0) != 0) {
      return ErrnoError(errno, absl::StrCat("fsconfig ", o), m.path);
    }
  }
  if (favordynmods && fsconfig(fd.get(), FSCONFIG_SET_FLAG, kFavorDynmods, nullptr, 0) != 0) {
    if (errno == EINVAL) return absl::UnimplementedError("this kernel does not know it");
    return ErrnoError(errno, absl::StrCat("fsconfig ", kFavorDynmods), m.path);
  }
  if (fsconfig(fd.get(), FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) != 0) {
    return ErrnoError(errno, "reconfigure", m.path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Cgroup2Mount> FindCgroup2Mount() {
  ASSIGN_OR_RETURN(std::string info, ReadFile("/proc/self/mountinfo"));
  Cgroup2Mount found;
  for (absl::string_view line : absl::StrSplit(info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 5 || dash + 3 >= f.size() || f[dash + 1] != "cgroup2") continue;
    // mountinfo escapes a space, tab, newline or backslash as \ooo.
    std::string path;
    if (!absl::CUnescape(f[4], &path)) continue;
    found.path = path;
    found.super_options = absl::StrSplit(f[dash + 3], ',', absl::SkipEmpty());
    found.favordynmods = std::find(found.super_options.begin(), found.super_options.end(),
                                   kFavorDynmods) != found.super_options.end();
    break;  // every cgroup2 mount shows the one superblock
  }
  return found;
}

absl::StatusOr<std::string> EnsureFavorDynmods(std::vector<Action>* actions) {
  ASSIGN_OR_RETURN(Cgroup2Mount m, FindCgroup2Mount());
  if (m.path.empty()) {
    return std::string("no cgroup2 mount: moving a process into a cgroup waits out an RCU grace period");
  }
  if (m.favordynmods) return absl::StrCat("on (", m.path, ")");
  absl::Status s = ReconfigureCgroup2(m, true);
  if (absl::IsUnimplemented(s)) return absl::StrCat("off: ", s.message());  // before 6.0, or no fspick
  RETURN_IF_ERROR(s);
  Action a;
  a.set_kind(Action::MOUNT_OPTION);
  a.set_path(m.path);
  a.set_value(kFavorDynmods);
  actions->push_back(a);
  ASSIGN_OR_RETURN(m, FindCgroup2Mount());
  if (!m.favordynmods) return absl::InternalError(absl::StrCat("favordynmods did not stick on ", a.path()));
  return absl::StrCat("on (", m.path, ")");
}

absl::StatusOr<std::string> UndoFavorDynmods(const Action& a) {
  ASSIGN_OR_RETURN(Cgroup2Mount m, FindCgroup2Mount());
  if (m.path.empty() || !m.favordynmods) return absl::StrCat("already off (", a.path(), ")");
  RETURN_IF_ERROR(ReconfigureCgroup2(m, false));
  ASSIGN_OR_RETURN(m, FindCgroup2Mount());
  if (m.favordynmods) return std::string("still on: the kernel keeps it (CONFIG_CGROUP_FAVOR_DYNMODS)");
  return absl::StrCat("turned off (", a.path(), ")");
}

absl::StatusOr<std::string> UndoCgroupAction(const Action& a) {
  if (a.kind() == Action::CGROUP_CONTROLLERS) {
    std::vector<std::string> kept;
    for (const std::string& c : Words(a.value())) {
      absl::Status s = WriteCgroupFile(a.path(), "-" + c);
      if (absl::IsUnavailable(s)) {
        kept.push_back(c);  // EBUSY: another cgroup below enabled it for its own children
      } else if (!s.ok()) {
        return s;
      }
    }
    if (kept.empty()) return absl::StrCat("disabled ", a.value());
    return absl::StrCat("kept ", absl::StrJoin(kept, " "), ": other cgroups use them");
  }
  ASSIGN_OR_RETURN(PathState st, StatPath(a.path()));
  if (!st.exists) return std::string("already gone");
  if (a.created()) {
    RETURN_IF_ERROR(RemoveCgroupTree(a.path()));
    return std::string("removed");
  }
  RETURN_IF_ERROR(ChownDelegated(a.path(), a.previous_uid(), a.previous_gid()));
  return absl::StrCat("given back to ", a.previous_uid(), ":", a.previous_gid());
}

}  // namespace gdn::setup
