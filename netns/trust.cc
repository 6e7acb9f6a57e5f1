#include "netns/trust.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

absl::StatusOr<UniqueFd> OpenTrusted(absl::string_view path, PathKind kind) {
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
  return dir;
}

std::string FdPath(const UniqueFd& fd) { return absl::StrCat("/proc/self/fd/", fd.get()); }

}  // namespace gdn::netns
