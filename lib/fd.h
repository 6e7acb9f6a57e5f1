// One move-only owner for every file descriptor, and open/pipe wrappers that always set
// O_CLOEXEC so that no descriptor leaks into a child by accident.
#ifndef GDN_LIB_FD_H_
#define GDN_LIB_FD_H_

#include <fcntl.h>
#include <sys/types.h>

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor (if any) and owns `fd` instead.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added.
absl::StatusOr<UniqueFd> Open(absl::string_view path, int flags, mode_t mode = 0);
// openat(2) with O_CLOEXEC added; `dirfd` may be AT_FDCWD.
absl::StatusOr<UniqueFd> OpenAt(int dirfd, absl::string_view path, int flags, mode_t mode = 0);

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
// pipe2(2) with O_CLOEXEC added to `flags`.
absl::StatusOr<Pipe> MakePipe(int flags = 0);

// Reads until EOF. EINTR is retried.
absl::StatusOr<std::string> ReadAll(int fd);
// Writes all of `data`. EINTR is retried.
absl::Status WriteAll(int fd, absl::string_view data);

}  // namespace gdn

#endif  // GDN_LIB_FD_H_
