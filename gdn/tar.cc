#include "gdn/tar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gdn {
namespace {

constexpr size_t kBlock = 512;

bool ReadFull(int fd, char* buf, size_t n, bool* eof) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      *eof = r == 0 && got == 0;
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// An octal field, or GNU base-256 when its first byte has the high bit.
uint64_t Number(const char* field, size_t len) {
  const unsigned char* f = reinterpret_cast<const unsigned char*>(field);
  uint64_t v = 0;
  if (f[0] & 0x80) {
    v = f[0] & 0x7f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | f[i];
    return v;
  }
  size_t i = 0;
  while (i < len && (f[i] == ' ' || f[i] == 0)) ++i;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; ++i) v = v * 8 + (f[i] - '0');
  return v;
}

std::string Field(const char* f, size_t len) { return std::string(f, strnlen(f, len)); }

bool ChecksumOk(const char* h) {
  uint64_t want = Number(h + 148, 8), sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  }
  return sum == want;
}

// "a/./b//c" -> "a/b/c" without a leading "/"; false for "..".
bool CleanPath(const std::string& in, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i <= in.size()) {
    size_t j = in.find('/', i);
    if (j == std::string::npos) j = in.size();
    std::string part = in.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return false;
    if (!out->empty()) out->push_back('/');
    *out += part;
  }
  return true;
}

void Say(const std::string& what, int err) {
  std::string line = "tar: " + what + (err != 0 ? std::string(": ") + strerror(err) : "") + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

// mkdir -p of the parents of `path` (relative to the destination folder `dir`).
void MakeParents(int dir, const std::string& path) {
  for (size_t at = path.find('/'); at != std::string::npos; at = path.find('/', at + 1)) {
    mkdirat(dir, path.substr(0, at).c_str(), 0777);
  }
}

// Removes what is at `path` unless it is a folder (tar replaces files and links).
void Replace(int dir, const std::string& path) {
  struct stat st;
  if (fstatat(dir, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
    unlinkat(dir, path.c_str(), 0);
  }
}

void SetTime(int dir, const std::string& path, uint64_t mtime) {
  struct timespec t[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(mtime), 0}};
  utimensat(dir, path.c_str(), t, AT_SYMLINK_NOFOLLOW);
}

}  // namespace

int TarIn(int in, const char* destination) {
  // The destination is made first (mkdir -p), as Garden does.
  std::string dest = destination;
  int mkdir_err = 0;  // why the folder could not be made, if it could not
  for (size_t at = dest.find('/', 1);; at = dest.find('/', at + 1)) {
    std::string part = at == std::string::npos ? dest : dest.substr(0, at);
    if (mkdir(part.c_str(), 0777) != 0 && errno != EEXIST && mkdir_err == 0) mkdir_err = errno;
    if (at == std::string::npos) break;
  }
  int dir = open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    Say(dest, errno == ENOENT && mkdir_err != 0 ? mkdir_err : errno);
    return 2;
  }
  int status = 0;
  std::string long_name, long_link;
  std::map<std::string, std::string> pax;
  std::vector<std::pair<std::string, uint64_t>> dir_times;
  std::vector<char> data(1 << 16);
  char h[kBlock];
  int zero_blocks = 0;
  for (;;) {
    bool eof = false;
    if (!ReadFull(in, h, kBlock, &eof)) {
      if (!eof) {
        Say("unexpected end of archive", 0);
        status = 2;
      }
      break;
    }
    bool zero = true;
    for (char c : h) zero = zero && c == 0;
    if (zero) {
      if (++zero_blocks == 2) break;
      continue;
    }
    zero_blocks = 0;
    if (!ChecksumOk(h)) {
      Say("this does not look like a tar archive", 0);
      status = 2;
      break;
    }
    std::string name = Field(h, 100);
    if (memcmp(h + 257, "ustar", 5) == 0 && h[345] != 0) name = Field(h + 345, 155) + "/" + name;
    std::string link = Field(h + 157, 100);
    uint64_t size = Number(h + 124, 12);
    uint64_t mtime = Number(h + 136, 12);
    mode_t mode = static_cast<mode_t>(Number(h + 100, 8) & 07777);
    char type = h[156];
    if (pax.count("size")) size = strtoull(pax["size"].c_str(), nullptr, 10);
    // The member's data, read whole for the metadata types, streamed for files.
    uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
      if (size > (1 << 20)) {
        Say("an extended header over 1 MiB", 0);
        status = 2;
        break;
      }
      std::string text(padded, '\0');
      if (!ReadFull(in, text.data(), padded, &eof)) {
        Say("unexpected end of archive", 0);
        status = 2;
        break;
      }
      text.resize(size);
      if (type == 'L') long_name = std::string(text.c_str());
      if (type == 'K') long_link = std::string(text.c_str());
      if (type == 'x') {
        // "LEN key=value\n" records.
        size_t at = 0;
        while (at < text.size()) {
          size_t space = text.find(' ', at);
          if (space == std::string::npos) break;
          size_t len = strtoul(text.c_str() + at, nullptr, 10);
          if (len == 0 || at + len > text.size()) break;
          std::string rec = text.substr(space + 1, at + len - space - 2);
          size_t eq = rec.find('=');
          if (eq != std::string::npos) pax[rec.substr(0, eq)] = rec.substr(eq + 1);
          at += len;
        }
      }
      continue;
    }
    if (!long_name.empty()) name = long_name;
    if (!long_link.empty()) link = long_link;
    if (pax.count("path")) name = pax["path"];
    if (pax.count("linkpath")) link = pax["linkpath"];
    if (pax.count("mtime")) mtime = strtoull(pax["mtime"].c_str(), nullptr, 10);
    long_name.clear();
    long_link.clear();
    pax.clear();

    std::string path;
    bool ok = CleanPath(name, &path);
    bool wrote_data = false;
    if (!ok) {
      Say(name + ": member name contains '..'", 0);
      status = 2;
    } else if (path.empty()) {
      // "./": the destination itself.
    } else if (type == '5') {
      MakeParents(dir, path);
      if (mkdirat(dir, path.c_str(), mode | 0700) != 0 && errno != EEXIST) {
        Say(path, errno);
        status = 2;
      } else {
        dir_times.emplace_back(path, mtime);
      }
    } else if (type == '0' || type == '\0' || type == '7') {
      MakeParents(dir, path);
      Replace(dir, path);
      int fd = openat(dir, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0) {
        Say(path, errno);
        status = 2;
      }
      uint64_t left = padded, body = size;
      while (left > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left, data.size()));
        if (!ReadFull(in, data.data(), n, &eof)) {
          Say("unexpected end of archive", 0);
          if (fd >= 0) close(fd);
          close(dir);
          return 2;
        }
        size_t keep = static_cast<size_t>(std::min<uint64_t>(n, body));
        if (fd >= 0 && keep > 0 && !WriteFull(fd, data.data(), keep)) {
          Say(path, errno);
          status = 2;
          close(fd);
          fd = -1;
        }
        body -= keep;
        left -= n;
      }
      wrote_data = true;
      if (fd >= 0) {
        struct timespec t[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(mtime), 0}};
        futimens(fd, t);
        close(fd);
      }
    } else if (type == '2') {
      MakeParents(dir, path);
      Replace(dir, path);
      if (symlinkat(link.c_str(), dir, path.c_str()) != 0) {
        Say(path, errno);
        status = 2;
      } else {
        SetTime(dir, path, mtime);
      }
    } else if (type == '1') {
      std::string target;
      if (!CleanPath(link, &target) || target.empty()) {
        Say(name + ": hard link target contains '..'", 0);
        status = 2;
      } else {
        MakeParents(dir, path);
        Replace(dir, path);
        if (linkat(dir, target.c_str(), dir, path.c_str(), 0) != 0) {
          Say(path + ": cannot hard link to " + target, errno);
          status = 2;
        }
      }
    } else if (type == '6') {
      MakeParents(dir, path);
      Replace(dir, path);
      if (mkfifoat(dir, path.c_str(), mode) != 0) {
        Say(path, errno);
        status = 2;
      }
    } else {
      // Devices: not for an unprivileged extraction (GNU tar as a user fails them too).
      Say(path + ": device nodes are not extracted", 0);
      status = 2;
    }
    if (!wrote_data && padded > 0) {
      uint64_t left = padded;
      while (left > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left, data.size()));
        if (!ReadFull(in, data.data(), n, &eof)) {
          Say("unexpected end of archive", 0);
          close(dir);
          return 2;
        }
        left -= n;
      }
    }
  }
  // Folders' times last: extracting into them changed them.
  for (auto it = dir_times.rbegin(); it != dir_times.rend(); ++it) SetTime(dir, it->first, it->second);
  close(dir);
  return status;
}

namespace {

class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}

  // One member: `name` in the archive, `path` on disk (relative to `dir`).
  bool Add(int dir, const std::string& path, const std::string& name) {
    struct stat st;
    if (fstatat(dir, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      Say(path + ": Cannot stat", errno);
      status_ = 2;
      return true;
    }
    std::string link;
    char type;
    uint64_t size = 0;
    if (S_ISREG(st.st_mode)) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (st.st_nlink > 1 && links_.count(key)) {
        type = '1';
        link = links_[key];
      } else {
        type = '0';
        size = static_cast<uint64_t>(st.st_size);
        if (st.st_nlink > 1) links_[key] = name;
      }
    } else if (S_ISDIR(st.st_mode)) {
      type = '5';
    } else if (S_ISLNK(st.st_mode)) {
      type = '2';
      char buf[4096];
      ssize_t n = readlinkat(dir, path.c_str(), buf, sizeof buf);
      if (n < 0) {
        Say(path, errno);
        status_ = 2;
        return true;
      }
      link.assign(buf, static_cast<size_t>(n));
    } else if (S_ISFIFO(st.st_mode)) {
      type = '6';
    } else if (S_ISCHR(st.st_mode)) {
      type = '3';
    } else if (S_ISBLK(st.st_mode)) {
      type = '4';
    } else {
      Say(path + ": socket ignored", 0);
      return true;
    }
    int fd = -1;
    if (type == '0') {
      fd = openat(dir, path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        Say(path + ": Cannot open", errno);
        status_ = 2;
        return true;
      }
    }
    std::string member = type == '5' && name.back() != '/' ? name + "/" : name;
    if (!Header(member, link, type, st, size)) {
      if (fd >= 0) close(fd);
      return false;
    }
    if (fd >= 0) {
      std::vector<char> buf(1 << 16);
      uint64_t left = size;
      while (left > 0) {
        ssize_t n = read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          // The file shrank while we read it: the archive still gets its promised size.
          Say(path + ": File shrank", 0);
          status_ = 2;
          std::fill(buf.begin(), buf.end(), 0);
          n = static_cast<ssize_t>(std::min<uint64_t>(left, buf.size()));
        }
        if (!WriteFull(fd_, buf.data(), static_cast<size_t>(n))) {
          close(fd);
          return false;
        }
        left -= static_cast<uint64_t>(n);
      }
      close(fd);
      if (!Pad(size)) return false;
    }
    if (type == '5') {
      int sub = openat(dir, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        Say(path, errno);
        status_ = 2;
        return true;
      }
      DIR* d = fdopendir(sub);
      std::vector<std::string> names;
      while (struct dirent* e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      }
      std::sort(names.begin(), names.end());
      for (const std::string& n : names) {
        if (!Add(dirfd(d), n, member + n)) {
          closedir(d);
          return false;
        }
      }
      closedir(d);
    }
    return true;
  }

  bool Finish() {
    char zero[2 * kBlock] = {};
    return WriteFull(fd_, zero, sizeof zero);
  }
  int status() const { return status_; }

 private:
  static void Octal(char* field, size_t len, uint64_t v) {
    if (len == 12 && v >= (uint64_t{1} << 33)) {  // base-256 past 8 GiB
      memset(field, 0, len);
      for (size_t i = len; i-- > 1;) {
        field[i] = static_cast<char>(v & 0xff);
        v >>= 8;
      }
      field[0] = static_cast<char>(0x80);
      return;
    }
    // len - 1 octal digits, zero-padded, then NUL.
    field[len - 1] = '\0';
    for (size_t i = len - 1; i-- > 0;) {
      field[i] = static_cast<char>('0' + (v & 7));
      v >>= 3;
    }
  }

  bool LongName(char type, const std::string& text) {
    struct stat st = {};
    std::string data = text + '\0';
    if (!Header("././@LongLink", "", type, st, data.size(), /*plain=*/true)) return false;
    return WriteFull(fd_, data.data(), data.size()) && Pad(data.size());
  }

  bool Header(const std::string& name, const std::string& link, char type, const struct stat& st,
              uint64_t size, bool plain = false) {
    if (!plain && name.size() > 100 && !LongName('L', name)) return false;
    if (!plain && link.size() > 100 && !LongName('K', link)) return false;
    char h[kBlock] = {};
    memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
    Octal(h + 100, 8, st.st_mode & 07777);
    Octal(h + 108, 8, st.st_uid);
    Octal(h + 116, 8, st.st_gid);
    Octal(h + 124, 12, size);
    Octal(h + 136, 12, static_cast<uint64_t>(st.st_mtime));
    h[156] = type;
    memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
    memcpy(h + 257, "ustar  ", 8);  // GNU
    if (type == '3' || type == '4') {
      Octal(h + 329, 8, major(st.st_rdev));
      Octal(h + 337, 8, minor(st.st_rdev));
    }
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (char c : h) sum += static_cast<unsigned char>(c);
    Octal(h + 148, 7, sum);  // six digits and a NUL, then a space, as GNU tar writes it
    h[155] = ' ';
    return WriteFull(fd_, h, kBlock);
  }

  bool Pad(uint64_t size) {
    size_t rest = static_cast<size_t>(size % kBlock);
    if (rest == 0) return true;
    char zero[kBlock] = {};
    return WriteFull(fd_, zero, kBlock - rest);
  }

  int fd_;
  int status_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

int TarOut(int out, const char* source) {
  std::string src = source;
  std::string dir_path, name;
  if (!src.empty() && src.back() == '/') {
    dir_path = src;
    name = ".";
  } else {
    size_t slash = src.rfind('/');
    dir_path = slash == std::string::npos ? "." : (slash == 0 ? "/" : src.substr(0, slash));
    name = slash == std::string::npos ? src : src.substr(slash + 1);
  }
  int dir = open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (dir < 0 || fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    Say(src + ": Cannot stat", errno);
    if (dir >= 0) close(dir);
    return 2;
  }
  Writer w(out);
  bool ok = w.Add(dir, name, name == "." ? "./" : name) && w.Finish();
  close(dir);
  if (!ok) {
    Say("write", errno);
    return 2;
  }
  return w.status();
}

}  // namespace gdn
