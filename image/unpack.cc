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
#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>
#include <unistd.h>

#include <memory>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/cleanup/cleanup.h"
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

// The layer's bytes, decompressed on a thread of their own (so that inflating overlaps
// writing files) and hashed as they go: the sha256 of the uncompressed tar is the layer's
// diff_id, which the image's config names and the store's chain ids are built from, so it is
// checked, not trusted. libarchive reads the decompressed tar from here, block by block.
class Feeder {
 public:
  Feeder(int fd, uint64_t max_bytes) : fd_(fd), max_bytes_(max_bytes) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Feeder() {
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // For libarchive: the next block, valid until the next call; 0 at the end, -1 on error.
  static la_ssize_t Read(struct archive*, void* self, const void** buffer) {
    Feeder* f = static_cast<Feeder*>(self);
    std::unique_lock<std::mutex> l(f->mu_);
    f->cv_.wait(l, [f] { return !f->blocks_.empty() || f->done_; });
    if (f->blocks_.empty()) return f->status_.ok() ? 0 : -1;
    f->current_ = std::move(f->blocks_.front());
    f->blocks_.pop_front();
    f->queued_ -= f->current_.size();
    f->cv_.notify_all();
    *buffer = f->current_.data();
    return static_cast<la_ssize_t>(f->current_.size());
  }

  // Why the input failed, if it did (a broken gzip stream, a read error).
  absl::Status status() {
    std::lock_guard<std::mutex> l(mu_);
    return done_ ? status_ : absl::OkStatus();
  }

  // After the tar's end: reads the rest (padding, a trailer; a writer piping to us hashes
  // every byte it sends) and checks the diff_id when one is expected.
  absl::Status Finish(const std::string& expected_diff_id) {
    {
      std::unique_lock<std::mutex> l(mu_);
      for (;;) {
        blocks_.clear();
        queued_ = 0;
        cv_.notify_all();
        if (done_) break;
        cv_.wait(l, [this] { return !blocks_.empty() || done_; });
      }
    }
    thread_.join();
    RETURN_IF_ERROR(status_);
    if (!expected_diff_id.empty() && diff_id_ != expected_diff_id) {
      return absl::InvalidArgumentError(absl::StrCat("the layer's content hashes to ", diff_id_,
                                                     ", not to the diff_id ", expected_diff_id,
                                                     " its image names"));
    }
    return absl::OkStatus();
  }

 private:
  enum class Kind { kPlain, kGzip, kZstd };

  // Hands a decompressed block over, waiting while 16 MiB are queued. False once cancelled.
  bool Push(std::string block) {
    total_ += block.size();
    EVP_DigestUpdate(hash_.get(), block.data(), block.size());
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return queued_ < (16u << 20) || cancelled_; });
    if (cancelled_) return false;
    queued_ += block.size();
    blocks_.push_back(std::move(block));
    cv_.notify_all();
    return true;
  }

  void Run() {
    absl::Status s = Decompress();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(hash_.get(), md, &len);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
    std::lock_guard<std::mutex> l(mu_);
    diff_id_ = "sha256:" + hex;
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  absl::Status Decompress() {
    EVP_DigestInit_ex(hash_.get(), EVP_sha256(), nullptr);
    constexpr size_t kIn = 1 << 20, kOut = 1 << 20;
    std::string in(kIn, '\0');
    size_t have = 0;
    bool eof = false;
    auto fill = [&]() -> absl::Status {
      while (!eof && have < kIn) {
        ssize_t n = read(fd_, in.data() + have, kIn - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError(errno, "read the layer");
        if (n == 0) eof = true;
        have += static_cast<size_t>(n);
        if (n > 0) break;
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(fill());
    while (have < 4 && !eof) RETURN_IF_ERROR(fill());
    const unsigned char* m = reinterpret_cast<const unsigned char*>(in.data());
    Kind kind = Kind::kPlain;
    if (have >= 2 && m[0] == 0x1f && m[1] == 0x8b) kind = Kind::kGzip;
    if (have >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) kind = Kind::kZstd;
    auto too_big = [&]() {
      // Tar headers and padding on top of max_bytes of content: generous, still bounded.
      return total_ > max_bytes_ + (max_bytes_ / 8) + (64u << 20);
    };
    auto bomb = [&]() {
      return absl::InvalidArgumentError(absl::StrCat(
          "the layer unpacks to more than ", max_bytes_, " bytes (a decompression bomb?)"));
    };
    if (kind == Kind::kPlain) {
      for (;;) {
        if (have == 0 && eof) return absl::OkStatus();
        if (!Push(in.substr(0, have))) return absl::CancelledError("stopped");
        if (too_big()) return bomb();
        have = 0;
        RETURN_IF_ERROR(fill());
      }
    }
    if (kind == Kind::kGzip) {
      z_stream z = {};
      if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("inflateInit2 failed");
      absl::Cleanup end = [&z] { inflateEnd(&z); };
      size_t consumed = 0;
      bool member_done = false;
      for (;;) {
        if (consumed == have) {
          if (eof) break;
          have = consumed = 0;
          RETURN_IF_ERROR(fill());
          continue;
        }
        if (member_done) {
          // Another gzip member may follow (concatenated gzip is gzip); zeros are padding.
          if (in[consumed] == 0) {
            ++consumed;
            continue;
          }
          inflateReset(&z);
          member_done = false;
        }
        std::string out(kOut, '\0');
        z.next_in = reinterpret_cast<Bytef*>(in.data() + consumed);
        z.avail_in = static_cast<uInt>(have - consumed);
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(kOut);
        int r = inflate(&z, Z_NO_FLUSH);
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
          return absl::InvalidArgumentError(absl::StrCat("the layer is not valid gzip (", z.msg ? z.msg : "inflate failed", ")"));
        }
        consumed = have - z.avail_in;
        out.resize(kOut - z.avail_out);
        if (!out.empty() && !Push(std::move(out))) return absl::CancelledError("stopped");
        if (too_big()) return bomb();
        if (r == Z_STREAM_END) member_done = true;
      }
      if (!member_done) return absl::InvalidArgumentError("the layer's gzip stream is cut short");
      return absl::OkStatus();
    }
    ZSTD_DStream* z = ZSTD_createDStream();
    absl::Cleanup end = [z] { ZSTD_freeDStream(z); };
    ZSTD_initDStream(z);
    size_t consumed = 0, last = 1;
    for (;;) {
      if (consumed == have) {
        if (eof) break;
        have = consumed = 0;
        RETURN_IF_ERROR(fill());
        continue;
      }
      std::string out(kOut, '\0');
      ZSTD_inBuffer ib = {in.data() + consumed, have - consumed, 0};
      ZSTD_outBuffer ob = {out.data(), kOut, 0};
      last = ZSTD_decompressStream(z, &ob, &ib);
      if (ZSTD_isError(last)) {
        return absl::InvalidArgumentError(absl::StrCat("the layer is not valid zstd (", ZSTD_getErrorName(last), ")"));
      }
      consumed += ib.pos;
      out.resize(ob.pos);
      if (!out.empty() && !Push(std::move(out))) return absl::CancelledError("stopped");
      if (too_big()) return bomb();
    }
    if (last != 0) return absl::InvalidArgumentError("the layer's zstd stream is cut short");
    return absl::OkStatus();
  }

  int fd_;
  uint64_t max_bytes_;
  uint64_t total_ = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> hash_{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> blocks_;
  size_t queued_ = 0;
  std::string current_;
  bool done_ = false, cancelled_ = false;
  absl::Status status_;
  std::string diff_id_;
};

}  // namespace

absl::StatusOr<UnpackReport> UnpackLayer(const std::string& layer_path, const std::string& dest,
                                         const UnpackOptions& o) {
  // "-" is standard input: a layer streamed as it downloads (image-fetch blob | image-unpack).
  UniqueFd file;
  int in_fd = STDIN_FILENO;
  if (layer_path != "-") {
    absl::StatusOr<UniqueFd> opened = Open(layer_path, O_RDONLY);
    if (!opened.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read the layer ", layer_path, ": ", opened.status().message()));
    }
    file = std::move(*opened);
    in_fd = file.get();
  }
  Feeder feeder(in_fd, o.max_bytes);
  std::unique_ptr<struct archive, ArchiveCloser> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  if (archive_read_open(a.get(), &feeder, nullptr, &Feeder::Read, nullptr) != ARCHIVE_OK) {
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
      RETURN_IF_ERROR(feeder.Finish(o.expected_diff_id));
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      RETURN_IF_ERROR(feeder.status());  // the real reason: the input broke
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
