#include "lib/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/status.h"

namespace gdn {

absl::StatusOr<std::string> ReadFile(absl::string_view path) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(path, O_RDONLY));
  absl::StatusOr<std::string> data = ReadAll(fd.get());
  if (!data.ok()) return Annotate(data.status(), absl::StrCat("reading '", path, "'"));
  return data;
}

absl::Status WriteFileAtomic(absl::string_view path, absl::string_view data, mode_t mode,
                             Durability durability) {
  bool sync = durability == Durability::kMachineCrash;
  std::string target(path);
  std::string::size_type slash = target.rfind('/');
  std::string dir = slash == std::string::npos ? "." : target.substr(0, slash == 0 ? 1 : slash);
  std::string tmp = absl::StrCat(target, ".tmp-XXXXXX");
  int raw = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (raw < 0) return ErrnoError(errno, "create temporary file", tmp);
  UniqueFd fd(raw);
  absl::Cleanup remove_tmp = [&tmp] { ::unlink(tmp.c_str()); };

  if (::fchmod(fd.get(), mode) != 0) return ErrnoError(errno, "chmod", tmp);
  absl::Status written = WriteAll(fd.get(), data);
  if (!written.ok()) return Annotate(written, absl::StrCat("writing '", tmp, "'"));
  if (sync && ::fsync(fd.get()) != 0) return ErrnoError(errno, "fsync", tmp);
  fd.Reset();
  if (!sync) {
    // A file renamed over another makes ext4 write the new one out at once (its guard for
    // replace-by-rename, auto_da_alloc) and free the old one's blocks: with online discard a
    // synchronous trim, ~0.5 ms a write here. Exchanged instead (atomically too), the old
    // content is left under the temporary name and removed with it (by remove_tmp), and a
    // short-lived file need never reach the disk.
    struct stat st;
    if (::lstat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      return absl::OkStatus();
    }
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) return ErrnoError(errno, "rename", target);
  std::move(remove_tmp).Cancel();
  if (!sync) return absl::OkStatus();

  ASSIGN_OR_RETURN(UniqueFd dirfd, Open(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(dirfd.get()) != 0) return ErrnoError(errno, "fsync", dir);
  return absl::OkStatus();
}

bool FileExists(absl::string_view path) {
  struct stat st;
  return lstat(std::string(path).c_str(), &st) == 0;
}

absl::Status MakeDirs(absl::string_view path, mode_t mode) {
  std::string p(path);
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i != p.size() && p[i] != '/') continue;
    std::string prefix = p.substr(0, i);
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError(errno, "mkdir", prefix);
  }
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return ErrnoError(errno, "stat", p);
  if (!S_ISDIR(st.st_mode)) return absl::AlreadyExistsError(absl::StrCat(p, " exists and is no folder"));
  return absl::OkStatus();
}

namespace {

// Removes what folder `dir` (open as `fd`, on device `dev`) holds; `where` names it.
absl::Status RemoveContents(int fd, dev_t dev, const std::string& where) {
  std::vector<std::string> names;
  {
    int copy = dup(fd);
    if (copy < 0) return ErrnoError(errno, "dup", where);
    DIR* d = fdopendir(copy);
    if (d == nullptr) {
      int e = errno;
      close(copy);
      return ErrnoError(e, "opendir", where);
    }
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    closedir(d);
  }
  for (const std::string& name : names) {
    std::string path = absl::StrCat(where, "/", name);
    struct stat st;
    if (fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoError(errno, "stat", path);
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev) return absl::FailedPreconditionError(absl::StrCat(path, " is a mount point"));
      if ((st.st_mode & 0700) != 0700 && st.st_uid == geteuid()) (void)!fchmodat(fd, name.c_str(), 0700, 0);
      int sub = openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) return ErrnoError(errno, "open", path);
      UniqueFd closer(sub);
      RETURN_IF_ERROR(RemoveContents(sub, dev, path));
      if (unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return ErrnoError(errno, "rmdir", path);
    } else if (unlinkat(fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "unlink", path);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveAll(absl::string_view path_view) {
  std::string path(path_view);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT ? absl::OkStatus() : ErrnoError(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "unlink", path);
    return absl::OkStatus();
  }
  if ((st.st_mode & 0700) != 0700 && st.st_uid == geteuid()) (void)!chmod(path.c_str(), 0700);
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  UniqueFd closer(fd);
  RETURN_IF_ERROR(RemoveContents(fd, st.st_dev, path));
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "rmdir", path);
  return absl::OkStatus();
}

}  // namespace gdn
