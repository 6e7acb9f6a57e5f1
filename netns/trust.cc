#include "netns/trust.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::netns {

absl::Status CheckTrustedComponent(const std::string& path, const struct stat& st, bool last,
                                   PathKind kind) {
  if (st.st_uid != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " belongs to uid ", st.st_uid, ", not root"));
  }
  bool is_dir = S_ISDIR(st.st_mode);
  if (!last && !is_dir) return absl::PermissionDeniedError(absl::StrCat(path, " is no folder"));
  if (last) {
    if (kind == PathKind::kDir && !is_dir) {
      return absl::PermissionDeniedError(absl::StrCat(path, " is no folder"));
    }
    if (kind == PathKind::kFile && !S_ISREG(st.st_mode)) {
      return absl::PermissionDeniedError(absl::StrCat(path, " is no regular file"));
    }
  }
  bool writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  // Inside a root-owned sticky folder, only root may rename or remove root's entries; the
  // entry we go on to must itself pass these checks. That does not hold for the last one.
  bool sticky_passage = is_dir && !last && (st.st_mode & S_ISVTX) != 0;
  if (writable_by_others && !sticky_passage) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " is writable by ", (st.st_mode & S_IWOTH) ? "others" : "its group"));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenTrusted(absl::string_view path, PathKind kind,
                                     std::string* resolved_path) {
  std::string given(path);
  char resolved[PATH_MAX];
  if (realpath(given.c_str(), resolved) == nullptr) return ErrnoError(errno, "resolve", given);
  std::string real(resolved);
  ASSIGN_OR_RETURN(UniqueFd dir, Open("/", O_PATH | O_DIRECTORY));
  struct stat st;
  if (fstat(dir.get(), &st) != 0) return ErrnoError(errno, "stat", "/");
  std::vector<std::string> parts = absl::StrSplit(real, '/', absl::SkipEmpty());
  RETURN_IF_ERROR(CheckTrustedComponent("/", st, parts.empty(), kind));
  std::string so_far;
  for (size_t i = 0; i < parts.size(); ++i) {
    so_far = absl::StrCat(so_far, "/", parts[i]);
    bool last = i + 1 == parts.size();
    int flags = O_PATH | O_NOFOLLOW | (last && kind == PathKind::kFile ? 0 : O_DIRECTORY);
    absl::StatusOr<UniqueFd> next = OpenAt(dir.get(), parts[i], flags);
    if (!next.ok()) {
      // ELOOP or ENOTDIR: it changed since realpath looked.
      return Annotate(next.status(), absl::StrCat("opening ", so_far, " component by component"));
    }
    if (fstat(next->get(), &st) != 0) return ErrnoError(errno, "stat", so_far);
    RETURN_IF_ERROR(CheckTrustedComponent(so_far, st, last, kind));
    dir = std::move(*next);
  }
  if (resolved_path != nullptr) *resolved_path = real;
  return dir;
}

std::string FdPath(const UniqueFd& fd) { return absl::StrCat("/proc/self/fd/", fd.get()); }

absl::StatusOr<std::string> ReadLimited(const std::string& path, size_t limit,
                                        absl::string_view shown) {
  int raw = open(path.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (raw < 0) return ErrnoError(errno, "open", shown);
  UniqueFd fd(raw);
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", shown);
    }
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(shown, " is larger than ", limit, " bytes"));
    }
  }
}

namespace {

absl::Status Refuse(absl::string_view what, absl::string_view path, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("refusing the ", what, " ", path, ": ", why));
}

// The folder part and the last component of an absolute path; false when there is no last
// component ("/", "", a relative path).
bool SplitPath(std::string path, std::string* dir, std::string* name) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string::size_type slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash + 1 == path.size()) return false;
  *dir = slash == 0 ? "/" : path.substr(0, slash);
  *name = path.substr(slash + 1);
  return true;
}

}  // namespace

absl::Status MakeRootOnlyDir(const std::string& dir, bool require_trusted) {
  std::string parent, name;
  if (!SplitPath(dir, &parent, &name) || name == "." || name == "..") {
    return Refuse("folder", dir, "it is no absolute path of a folder below /");
  }
  RETURN_IF_ERROR(MakeDirs(parent, 0755));
  UniqueFd parent_fd;
  if (require_trusted) {
    absl::StatusOr<UniqueFd> fd = OpenTrusted(parent, PathKind::kDir);
    if (!fd.ok()) return Refuse("folder", dir, fd.status().message());
    parent_fd = std::move(*fd);
  } else {
    ASSIGN_OR_RETURN(parent_fd, Open(parent, O_PATH | O_DIRECTORY));
  }
  if (mkdirat(parent_fd.get(), name.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "mkdir", dir);
  }
  int raw = openat(parent_fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return Refuse("folder", dir, "it is a symbolic link or no folder");
    }
    return ErrnoError(errno, "open", dir);
  }
  UniqueFd fd(raw);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat", dir);
  if (st.st_uid != 0) {
    return Refuse("folder", dir, absl::StrCat("it belongs to uid ", st.st_uid, ", not root"));
  }
  if (require_trusted) {
    // Someone else may have put entries into a folder they could write: no narrowing undoes it.
    absl::Status s = CheckTrustedComponent(dir, st, /*last=*/true, PathKind::kDir);
    if (!s.ok()) return Refuse("folder", dir, s.message());
  }
  if ((st.st_mode & 07777) != 0700 && fchmod(fd.get(), 0700) != 0) {
    return ErrnoError(errno, "chmod 0700", dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenRootLockFile(const std::string& path) {
  std::string dir, name;
  if (!SplitPath(path, &dir, &name) || path.back() == '/' || name == "." || name == "..") {
    return Refuse("lock file", path, "it is no absolute path of a file");
  }
  ASSIGN_OR_RETURN(UniqueFd parent, Open(dir, O_PATH | O_DIRECTORY));
  struct stat st;
  if (fstat(parent.get(), &st) != 0) return ErrnoError(errno, "stat", dir);
  // As a passage: a sticky folder (/tmp) will do, since no one else can replace root's file.
  absl::Status s = CheckTrustedComponent(dir, st, /*last=*/false, PathKind::kFile);
  if (!s.ok()) return Refuse("lock file", path, s.message());
  int raw = openat(parent.get(), name.c_str(),
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (raw < 0) {
    if (errno == ELOOP) return Refuse("lock file", path, "it is a symbolic link");
    return ErrnoError(errno, "open", path);
  }
  UniqueFd fd(raw);
  if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return Refuse("lock file", path, "it is no regular file");
  if (st.st_uid != 0) {
    return Refuse("lock file", path, absl::StrCat("it belongs to uid ", st.st_uid, ", not root"));
  }
  if ((st.st_mode & 077) != 0 && fchmod(fd.get(), st.st_mode & 0700) != 0) {
    return ErrnoError(errno, "chmod", path);
  }
  return fd;
}

}  // namespace gdn::netns
