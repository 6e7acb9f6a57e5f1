#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/fd.h"
#include "lib/status.h"

namespace gdn::image {
namespace {

constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";

absl::Status Hostile(const std::string& entry, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("layer entry \"", entry, "\" ", why));
}

// The entry's name as clean relative components; ".." anywhere is refused.
absl::StatusOr<std::vector<std::string>> Components(const std::string& name) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") return Hostile(name, "climbs out with \"..\"");
    out.emplace_back(part);
  }
  return out;
}

absl::StatusOr<UniqueFd> OpenInRoot(int root, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root, path.empty() ? "." : path.c_str(), &how, sizeof how));
  if (fd < 0) return ErrnoError(errno, "open inside the layer", path);
  return UniqueFd(fd);
}

// The folder `parts` names inside the root, made (0755) where missing.
absl::StatusOr<UniqueFd> MakeParents(int root, const std::vector<std::string>& parts) {
  std::string path;
  for (const std::string& part : parts) {
    std::string next = path.empty() ? part : absl::StrCat(path, "/", part);
    absl::StatusOr<UniqueFd> fd = OpenInRoot(root, next, O_PATH | O_DIRECTORY);
    if (!fd.ok()) {
      ASSIGN_OR_RETURN(UniqueFd parent, OpenInRoot(root, path, O_PATH | O_DIRECTORY));
      if (mkdirat(parent.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError(errno, "mkdir inside the layer", next);
      }
    }
    path = next;
  }
  return OpenInRoot(root, path, O_PATH | O_DIRECTORY);
}

// Removes what is at `name` (a later entry replaces an earlier one, as tar does).
void RemoveExisting(int dir, const char* name, bool keep_dir) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (!keep_dir) unlinkat(dir, name, AT_REMOVEDIR);  // only if empty: enough for layers
    return;
  }
  unlinkat(dir, name, 0);
}

absl::Status SetXattr(int dir, const std::string& name, const char* key, const void* value,
                      size_t size) {
  int fd = openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", name);
  // Through the descriptor's magic link, which must be followed (lsetxattr would name the
  // link in /proc itself): it leads to the entry opened without following anything.
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  int r = setxattr(path.c_str(), key, value, size, 0);
  int err = errno;
  close(fd);
  if (r != 0) return ErrnoError(err, absl::StrCat("set xattr ", key, " on"), name);
  return absl::OkStatus();
}

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

}  // namespace

absl::StatusOr<UnpackReport> UnpackLayer(const std::string& layer_path, const std::string& dest,
                                         const UnpackOptions& o) {
  std::unique_ptr<struct archive, ArchiveCloser> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  // "-" is standard input: a layer streamed as it downloads (image-fetch blob | image-unpack).
  bool piped = layer_path == "-";
  int opened = piped ? archive_read_open_fd(a.get(), STDIN_FILENO, 1 << 20)
                     : archive_read_open_filename(a.get(), layer_path.c_str(), 1 << 20);
  if (opened != ARCHIVE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the layer ", layer_path, ": ", archive_error_string(a.get())));
  }
  ASSIGN_OR_RETURN(UniqueFd root, Open(dest, O_PATH | O_DIRECTORY));
  UnpackReport report;
  std::vector<char> buf(1 << 20);
  struct archive_entry* e;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) {
      // The writer hashes every byte it sends: read what follows the tar's end too (padding,
      // or a compressor's trailer), so it is never cut short by a closed pipe.
      if (piped) {
        while (read(STDIN_FILENO, buf.data(), buf.size()) > 0) {
        }
      }
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed layer ", layer_path, ": ", archive_error_string(a.get())));
    }
    if (++report.entries > o.max_entries) {
      return absl::InvalidArgumentError(absl::StrCat("the layer has more than ", o.max_entries, " entries"));
    }
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    ASSIGN_OR_RETURN(std::vector<std::string> parts, Components(name));
    if (parts.empty()) continue;  // the layer's root itself
    std::string base = parts.back();
    parts.pop_back();
    ASSIGN_OR_RETURN(UniqueFd parent, MakeParents(root.get(), parts));
    int dir = parent.get();

    if (base == kOpaqueMarker) {
      std::string key = absl::StrCat(o.overlay_xattr_prefix, "overlay.opaque");
      std::string folder = absl::StrJoin(parts, "/");
      ASSIGN_OR_RETURN(UniqueFd opaque, OpenInRoot(root.get(), folder, O_RDONLY | O_DIRECTORY));
      if (fsetxattr(opaque.get(), key.c_str(), "y", 1, 0) != 0) {
        return ErrnoError(errno, "mark opaque", folder);
      }
      continue;
    }
    if (absl::StartsWith(base, kWhiteoutPrefix)) {
      std::string hidden = base.substr(strlen(kWhiteoutPrefix));
      if (hidden.empty() || hidden == "." || hidden == "..") return Hostile(name, "is a malformed whiteout");
      RemoveExisting(dir, hidden.c_str(), false);
      if (mknodat(dir, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
        return ErrnoError(errno, "make the whiteout for", name);
      }
      continue;
    }

    mode_t mode = archive_entry_mode(e);
    mode_t perm = mode & 07777;
    const char* link = archive_entry_hardlink(e);
    if (link != nullptr) {
      ASSIGN_OR_RETURN(std::vector<std::string> target, Components(link));
      if (target.empty()) return Hostile(name, "is a hard link to the layer's root");
      std::string target_base = target.back();
      target.pop_back();
      absl::StatusOr<UniqueFd> target_dir = OpenInRoot(root.get(), absl::StrJoin(target, "/"), O_PATH | O_DIRECTORY);
      if (!target_dir.ok()) return Hostile(name, absl::StrCat("links to \"", link, "\", which is not in the layer"));
      RemoveExisting(dir, base.c_str(), false);
      if (linkat(target_dir->get(), target_base.c_str(), dir, base.c_str(), 0) != 0) {
        return Hostile(name, absl::StrCat("links to \"", link, "\", which is not in the layer: ", strerror(errno)));
      }
      continue;
    }
    switch (mode & S_IFMT) {
      case S_IFDIR: {
        RemoveExisting(dir, base.c_str(), true);
        if (mkdirat(dir, base.c_str(), perm) != 0 && errno != EEXIST) {
          return ErrnoError(errno, "mkdir", name);
        }
        break;
      }
      case S_IFREG: {
        RemoveExisting(dir, base.c_str(), false);
        int fd = openat(dir, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return ErrnoError(errno, "create", name);
        UniqueFd file(fd);
        for (;;) {
          la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
          if (n == 0) break;
          if (n < 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("malformed layer ", layer_path, ": ", archive_error_string(a.get())));
          }
          report.bytes += static_cast<uint64_t>(n);
          if (report.bytes > o.max_bytes) {
            return absl::InvalidArgumentError(absl::StrCat(
                "the layer unpacks to more than ", o.max_bytes, " bytes (a decompression bomb?)"));
          }
          RETURN_IF_ERROR(WriteAll(file.get(), absl::string_view(buf.data(), static_cast<size_t>(n))));
        }
        break;
      }
      case S_IFLNK: {
        RemoveExisting(dir, base.c_str(), false);
        const char* target = archive_entry_symlink(e);
        // The target is never followed while unpacking: any string will do.
        if (symlinkat(target ? target : "", dir, base.c_str()) != 0) return ErrnoError(errno, "symlink", name);
        break;
      }
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO: {
        RemoveExisting(dir, base.c_str(), false);
        if (mknodat(dir, base.c_str(), mode, archive_entry_rdev(e)) != 0) {
          if (errno == EPERM || errno == EACCES) {
            report.skipped.push_back(absl::StrCat(name, " (device nodes cannot be made here)"));
            continue;
          }
          return ErrnoError(errno, "mknod", name);
        }
        break;
      }
      default:
        report.skipped.push_back(absl::StrCat(name, " (unsupported entry type)"));
        continue;
    }
    bool is_link = (mode & S_IFMT) == S_IFLNK;
    if (o.chown && fchownat(dir, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                            static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(errno, "chown", name);
    }
    // After chown, which clears setuid bits.
    if (!is_link && fchmodat(dir, base.c_str(), perm, 0) != 0) return ErrnoError(errno, "chmod", name);
    const char* xname;
    const void* xvalue;
    size_t xsize;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xname, &xvalue, &xsize) == ARCHIVE_OK) {
      if (is_link) continue;
      // A layer may not forge overlay metadata; security.* needs privileges we may lack.
      if (absl::StrContains(xname, "overlay.")) continue;
      absl::Status s = SetXattr(dir, base, xname, xvalue, xsize);
      if (!s.ok()) report.skipped.push_back(absl::StrCat(name, " xattr ", xname));
    }
    struct timespec times[2];
    times[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
    times[0].tv_nsec = 0;
    times[1].tv_sec = archive_entry_mtime(e);
    times[1].tv_nsec = archive_entry_mtime_nsec(e);
    utimensat(dir, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  return report;
}

}  // namespace gdn::image
