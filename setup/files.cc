#include "setup/files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::setup {
namespace {

constexpr mode_t kPermBits = 07777;

std::string Parent(const std::string& path) {
  std::string::size_type slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Sets owner, then mode (chown clears setuid bits, so the mode comes second).
absl::Status SetOwnerAndMode(int fd, const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  if (fchown(fd, uid, gid) != 0) return ErrnoError(errno, "chown", path);
  if (fchmod(fd, mode) != 0) return ErrnoError(errno, "chmod", path);
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenNoFollow(const std::string& path, int flags) {
  return Open(path, flags | O_NOFOLLOW);
}

}  // namespace

absl::StatusOr<PathState> StatPath(const std::string& path) {
  PathState s;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return s;
    return ErrnoError(errno, "stat", path);
  }
  s.exists = true;
  s.is_dir = S_ISDIR(st.st_mode);
  s.is_regular = S_ISREG(st.st_mode);
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.mode = st.st_mode & kPermBits;
  return s;
}

std::string Describe(const PathState& st) {
  return absl::StrFormat("owned by %u:%u, mode %04o", st.uid, st.gid, st.mode);
}

absl::Status CheckOnlyRootCanChange(const std::string& path) {
  // From the path up to /: the first existing one may be the file itself.
  std::string p = path;
  while (true) {
    ASSIGN_OR_RETURN(PathState st, StatPath(p));
    if (st.exists) {
      struct stat full;
      if (stat(p.c_str(), &full) != 0) return ErrnoError(errno, "stat", p);
      bool sticky_dir = S_ISDIR(full.st_mode) && (full.st_mode & S_ISVTX) && p != path;
      if (full.st_uid != 0 || ((full.st_mode & 022) != 0 && !sticky_dir)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s is %s: only root may be able to change %s", p, Describe(st), path));
      }
    }
    if (p == "/") break;
    p = Parent(p);
  }
  return absl::OkStatus();
}

absl::Status CheckFolderOrAbsent(const std::string& path) {
  ASSIGN_OR_RETURN(PathState st, StatPath(path));
  if (st.exists && !st.is_dir) {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists and is no folder"));
  }
  return absl::OkStatus();
}

absl::Status EnsureFolder(const std::string& path, uid_t uid, gid_t gid, mode_t mode,
                          std::vector<Action>* actions) {
  // Missing folders from the top down; an existing parent is left exactly as it is.
  std::vector<std::string> missing;
  for (std::string p = path;; p = Parent(p)) {
    ASSIGN_OR_RETURN(PathState st, StatPath(p));
    if (st.exists) {
      if (!st.is_dir) return absl::AlreadyExistsError(absl::StrCat(p, " exists and is no folder"));
      break;
    }
    missing.insert(missing.begin(), p);
    if (p == "/") break;
  }
  for (const std::string& p : missing) {
    if (mkdir(p.c_str(), 0700) != 0) return ErrnoError(errno, "mkdir", p);
    Action a;
    a.set_kind(Action::FOLDER);
    a.set_path(p);
    a.set_created(true);
    actions->push_back(a);
    ASSIGN_OR_RETURN(UniqueFd fd, OpenNoFollow(p, O_RDONLY | O_DIRECTORY));
    if (p == path) return SetOwnerAndMode(fd.get(), p, uid, gid, mode);
    RETURN_IF_ERROR(SetOwnerAndMode(fd.get(), p, 0, 0, 0755));
  }
  ASSIGN_OR_RETURN(PathState st, StatPath(path));
  if (st.uid == uid && st.gid == gid && st.mode == mode) return absl::OkStatus();
  ASSIGN_OR_RETURN(UniqueFd fd, OpenNoFollow(path, O_RDONLY | O_DIRECTORY));
  Action a;
  a.set_kind(Action::FOLDER);
  a.set_path(path);
  a.set_previous_uid(st.uid);
  a.set_previous_gid(st.gid);
  a.set_previous_mode(st.mode);
  RETURN_IF_ERROR(SetOwnerAndMode(fd.get(), path, uid, gid, mode));
  actions->push_back(a);
  return absl::OkStatus();
}

absl::Status InstallHelper(const std::string& source, const std::string& target, gid_t gid,
                           mode_t mode, std::vector<Action>* actions) {
  ASSIGN_OR_RETURN(std::string content, ReadFile(source));
  ASSIGN_OR_RETURN(PathState st, StatPath(target));
  if (st.exists && !st.is_regular) {
    return absl::AlreadyExistsError(absl::StrCat(target, " exists and is no regular file"));
  }
  if (st.exists && st.uid == 0 && st.gid == gid && st.mode == mode) {
    absl::StatusOr<std::string> installed = ReadFile(target);
    if (installed.ok() && *installed == content) return absl::OkStatus();
  }
  // A temporary file beside the target, made root-owned and setuid before the rename, so the
  // target is never a half-written or a setuid-less file.
  std::string tmp = target + ".setup-XXXXXX";
  int raw = mkostemp(tmp.data(), O_CLOEXEC);
  if (raw < 0) return ErrnoError(errno, "create temporary file", tmp);
  UniqueFd fd(raw);
  absl::Cleanup remove_tmp = [&tmp] { unlink(tmp.c_str()); };
  RETURN_IF_ERROR(WriteAll(fd.get(), content));
  RETURN_IF_ERROR(SetOwnerAndMode(fd.get(), tmp, 0, gid, mode));
  if (fsync(fd.get()) != 0) return ErrnoError(errno, "fsync", tmp);
  if (rename(tmp.c_str(), target.c_str()) != 0) return ErrnoError(errno, "rename", target);
  std::move(remove_tmp).Cancel();
  Action a;
  a.set_kind(Action::HELPER);
  a.set_path(target);
  a.set_created(!st.exists);
  if (st.exists) {
    a.set_previous_uid(st.uid);
    a.set_previous_gid(st.gid);
    a.set_previous_mode(st.mode);
  }
  actions->push_back(a);
  return absl::OkStatus();
}

absl::Status EnsureRootFile(const std::string& path, const std::string& content,
                            std::vector<Action>* actions) {
  ASSIGN_OR_RETURN(PathState st, StatPath(path));
  if (st.exists && !st.is_regular) {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists and is no regular file"));
  }
  std::string previous;
  if (st.exists) {
    ASSIGN_OR_RETURN(previous, ReadFile(path));
    if (previous == content && st.uid == 0 && st.gid == 0 && st.mode == 0644) {
      return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(WriteFileAtomic(path, content, 0644));
  Action a;
  a.set_kind(Action::FILE);
  a.set_path(path);
  a.set_created(!st.exists);
  if (st.exists) {
    a.set_previous_uid(st.uid);
    a.set_previous_gid(st.gid);
    a.set_previous_mode(st.mode);
    a.set_previous_value(previous);
  }
  actions->push_back(a);
  return absl::OkStatus();
}

absl::StatusOr<std::string> UndoFileAction(const Action& a) {
  const std::string& path = a.path();
  ASSIGN_OR_RETURN(PathState st, StatPath(path));
  if (!st.exists) return std::string("already gone");
  if (a.created()) {
    if (a.kind() == Action::FOLDER) {
      if (!st.is_dir) return absl::StrCat("kept: no longer a folder");
      if (rmdir(path.c_str()) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) return std::string("kept: not empty");
        return ErrnoError(errno, "rmdir", path);
      }
      return std::string("removed");
    }
    if (unlink(path.c_str()) != 0) return ErrnoError(errno, "unlink", path);
    return std::string("removed");
  }
  if (a.kind() == Action::FILE) {
    RETURN_IF_ERROR(WriteFileAtomic(path, a.previous_value(), a.previous_mode()));
  }
  int flags = a.kind() == Action::FOLDER ? O_RDONLY | O_DIRECTORY : O_RDONLY;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenNoFollow(path, flags));
  RETURN_IF_ERROR(SetOwnerAndMode(fd.get(), path, a.previous_uid(), a.previous_gid(),
                                  a.previous_mode()));
  PathState restored{true, false, false, a.previous_uid(), a.previous_gid(), a.previous_mode()};
  return absl::StrCat("restored to ", Describe(restored));
}

}  // namespace gdn::setup
