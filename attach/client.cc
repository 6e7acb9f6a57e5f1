#include "attach/client.h"

#include <errno.h>
#include <fcntl.h>
#include <algorithm>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "attach/keeper.h"
#include "attach/protocol.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/proc.h"
#include "lib/status.h"

namespace gdn::attach {
namespace {

// Acknowledge at least this much at once (the keeper keeps up to 1 MiB unacknowledged).
constexpr uint64_t kAckBatch = 256 * 1024;

int ShellStatus(const ExitStatus& e) { return e.exited() ? e.code() : 128 + e.signal(); }

absl::StatusOr<Process> ReadProcess(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("no process folder ", dir));
  }
  Process p;
  absl::Status s = ReadLiteJson(absl::StrCat(dir, "/", kProcessFile), &p);
  if (absl::IsNotFound(s)) return absl::NotFoundError(absl::StrCat(dir, " holds no process"));
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(dir, " is corrupt: ", s.message()));
  return p;
}

// The exit status, if the keeper wrote it.
absl::StatusOr<std::optional<ExitStatus>> ReadExit(const std::string& dir) {
  ExitStatus e;
  absl::Status s = ReadLiteJson(absl::StrCat(dir, "/", kExitFile), &e);
  if (absl::IsNotFound(s)) return std::optional<ExitStatus>();
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(dir, " is corrupt: ", s.message()));
  return std::optional<ExitStatus>(e);
}

bool KeeperAlive(const Process& p) {
  ProcessStart s = ReadProcessStart(p.keeper_pid());
  return s.running && s.start_time == p.keeper_start_time();
}

absl::StatusOr<UniqueFd> Dial(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/", kSocketFile);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError("folder path too long");
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, "connect to the keeper at", path);
  }
  return fd;
}

absl::Status SendFrame(int fd, uint8_t type, uint8_t stream, const std::string& payload) {
  return WriteAll(fd, Encode(type, stream, payload));
}

// When there is no keeper to talk to: its status if it finished, an error if it died.
absl::StatusOr<int> Finished(const std::string& dir, const Process& p) {
  ASSIGN_OR_RETURN(std::optional<ExitStatus> e, ReadExit(dir));
  if (e.has_value()) return ShellStatus(*e);
  if (KeeperAlive(p)) return absl::UnavailableError(absl::StrCat("the keeper of ", dir, " does not answer"));
  return absl::InternalError(absl::StrCat("the keeper of ", dir,
                                          " died before the process's exit status was written"));
}

}  // namespace

absl::StatusOr<int> Connect(const ConnectOptions& o) {
  ASSIGN_OR_RETURN(Process p, ReadProcess(o.dir));
  absl::StatusOr<UniqueFd> sock = Dial(o.dir);
  if (!sock.ok()) return Finished(o.dir, p);
  int fd = sock->get();
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  signal(SIGPIPE, SIG_IGN);
  // A keeper that ended just as we connected: its exit file says how the process ended.
  if (!SendFrame(fd, kAttach, 0, "").ok()) return Finished(o.dir, p);
  bool stdin_open = o.stdin;
  // Output moves from the socket to our stdout with splice(2) where the kernel can: no copy
  // through our memory. A pipe sits between the two, as splice wants a pipe on one side.
  int relay[2] = {-1, -1};
  if (pipe2(relay, O_CLOEXEC) == 0) fcntl(relay[1], F_SETPIPE_SZ, 1 << 20);
  UniqueFd relay_r(relay[0]), relay_w(relay[1]);
  bool can_splice[3] = {false, relay_r.valid(), relay_r.valid()};
  std::vector<char> scratch(1 << 20);
  char in[65536];
  // Reads exactly n bytes of the socket into `to`.
  auto recv_all = [fd](char* to, size_t n) -> bool {
    while (n > 0) {
      ssize_t r = recv(fd, to, n, MSG_WAITALL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      to += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  // Moves n bytes of the socket to `out` (-1: discard).
  auto relay_bytes = [&](int stream, int out, size_t n) -> absl::Status {
    while (n > 0) {
      if (out >= 0 && can_splice[stream]) {
        ssize_t in_pipe = splice(fd, nullptr, relay_w.get(), nullptr, n, SPLICE_F_MOVE);
        if (in_pipe > 0) {
          size_t left = static_cast<size_t>(in_pipe);
          while (left > 0) {
            ssize_t w = splice(relay_r.get(), nullptr, out, nullptr, left, SPLICE_F_MOVE);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
              // Our output does not take splice (or went away): the bytes in the relay pipe
              // still go out the ordinary way, once.
              if (w < 0 && errno != EINVAL) return ErrnoError(errno, "write the output");
              can_splice[stream] = false;
              while (left > 0) {
                ssize_t r = read(relay_r.get(), scratch.data(), std::min(left, scratch.size()));
                if (r <= 0) return ErrnoError(errno, "drain the relay pipe");
                RETURN_IF_ERROR(WriteAll(out, absl::string_view(scratch.data(), static_cast<size_t>(r))));
                left -= static_cast<size_t>(r);
              }
              break;
            }
            left -= static_cast<size_t>(w);
          }
          n -= static_cast<size_t>(in_pipe);
          continue;
        }
        if (in_pipe == 0) return absl::InternalError("the keeper went away mid-frame");
        if (errno == EINTR) continue;
        can_splice[stream] = false;  // e.g. a kernel without splice from unix sockets
      }
      ssize_t r = recv(fd, scratch.data(), std::min(n, scratch.size()), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return absl::InternalError("the keeper went away mid-frame");
      if (out >= 0) RETURN_IF_ERROR(WriteAll(out, absl::string_view(scratch.data(), static_cast<size_t>(r))));
      n -= static_cast<size_t>(r);
    }
    return absl::OkStatus();
  };
  // Output written is acknowledged in batches: each acknowledgement wakes the keeper. The
  // batch goes out once it is large, or as soon as the keeper has sent nothing more (it may be
  // waiting for it: its kept bytes are bounded, and it delivers the exit status only after
  // everything was acknowledged).
  uint64_t written[3] = {0, 0, 0}, acked[3] = {0, 0, 0};
  auto send_acks = [&](bool all) {
    for (int s = 1; s <= 2; ++s) {
      if (written[s] == acked[s] || (!all && written[s] - acked[s] < kAckBatch)) continue;
      std::string ack;
      PutU64(&ack, written[s]);
      (void)SendFrame(fd, kAck, static_cast<uint8_t>(s), ack);  // a closed keeper is read to the end
      acked[s] = written[s];
    }
  };
  for (;;) {
    int waiting = 0;
    if (ioctl(fd, FIONREAD, &waiting) != 0 || waiting == 0) send_acks(true);
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {o.in_fd, POLLIN, 0}};
    // Without stdin to forward there is only the socket to wait for: its recv waits.
    int n = stdin_open ? poll(fds, 2, -1) : 1;
    if (!stdin_open) fds[0].revents = POLLIN;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "poll");
    }
    if (stdin_open && fds[1].revents) {
      // A keeper that has sent everything (the exit frame too) may have closed its end
      // already: what we send then fails with EPIPE, and what it sent is still ours to read.
      ssize_t r = read(o.in_fd, in, sizeof in);
      if (r > 0) {
        if (!SendFrame(fd, kData, 0, std::string(in, static_cast<size_t>(r))).ok()) stdin_open = false;
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        (void)SendFrame(fd, kStdinEof, 0, "");
        stdin_open = false;
      }
    }
    if (fds[0].revents == 0) continue;
    char head[kHeaderSize];
    if (!recv_all(head, sizeof head)) return Finished(o.dir, p);  // released, or died
    uint8_t type = static_cast<uint8_t>(head[0]);
    uint8_t stream = static_cast<uint8_t>(head[1]);
    uint32_t length = GetU32(std::string_view(head + 2, 4));
    if (length > kMaxPayload) return absl::InternalError("the keeper sent a malformed frame");
    if (type == kData && (stream == 1 || stream == 2) && length >= 8) {
      char offset_bytes[8];
      if (!recv_all(offset_bytes, 8)) return Finished(o.dir, p);
      uint64_t offset = GetU64(std::string_view(offset_bytes, 8));
      size_t size = length - 8;
      bool wanted = stream == 1 ? o.stdout : o.stderr;
      // If our output fails, what we could not write stays unacknowledged for the next reader.
      absl::Status relayed = relay_bytes(stream, wanted ? (stream == 1 ? o.out_fd : o.err_fd) : -1, size);
      if (!relayed.ok()) {
        send_acks(true);  // what we did write is not sent again to the next reader
        return relayed;
      }
      written[stream] = offset + size;
      send_acks(false);
      continue;
    }
    std::string payload(length, '\0');
    if (!recv_all(payload.data(), length)) return Finished(o.dir, p);
    if (type == kExit && payload.size() == 9) {
      ExitStatus e;
      e.set_code(static_cast<int32_t>(GetU32(payload)));
      e.set_signal(static_cast<int32_t>(GetU32(std::string_view(payload).substr(4))));
      e.set_exited(payload[8] != 0);
      return ShellStatus(e);
    }
  }
}

absl::StatusOr<Status> GetStatus(const std::string& dir) {
  ASSIGN_OR_RETURN(Process p, ReadProcess(dir));
  ASSIGN_OR_RETURN(std::optional<ExitStatus> e, ReadExit(dir));
  Status s;
  s.set_pid(p.pid());
  s.set_keeper_pid(p.keeper_pid());
  s.set_keeper_alive(KeeperAlive(p));
  s.set_running(!e.has_value() && s.keeper_alive());
  if (e.has_value()) *s.mutable_exit_status() = *e;
  return s;
}

absl::Status Signal(const std::string& dir, int sig) {
  ASSIGN_OR_RETURN(Process p, ReadProcess(dir));
  ASSIGN_OR_RETURN(std::optional<ExitStatus> e, ReadExit(dir));
  if (e.has_value() || !KeeperAlive(p)) {
    return absl::FailedPreconditionError(absl::StrCat("the process of ", dir, " is not running"));
  }
  // Only while its keeper lives is the pid surely still the process (the keeper reaps it).
  if (kill(p.pid(), sig) != 0) return ErrnoError(errno, "kill", absl::StrCat(p.pid()));
  return absl::OkStatus();
}

absl::Status Resize(const std::string& dir, unsigned rows, unsigned cols) {
  ASSIGN_OR_RETURN(Process p, ReadProcess(dir));
  if (!p.tty()) return absl::FailedPreconditionError(absl::StrCat(dir, " has no terminal"));
  ASSIGN_OR_RETURN(UniqueFd fd, Dial(dir));
  std::string payload;
  payload.push_back(static_cast<char>(rows & 0xff));
  payload.push_back(static_cast<char>((rows >> 8) & 0xff));
  payload.push_back(static_cast<char>(cols & 0xff));
  payload.push_back(static_cast<char>((cols >> 8) & 0xff));
  return SendFrame(fd.get(), kResize, 0, payload);
}

absl::Status Release(const std::string& dir) {
  ASSIGN_OR_RETURN(Process p, ReadProcess(dir));
  absl::StatusOr<UniqueFd> fd = Dial(dir);
  if (!fd.ok()) return absl::OkStatus();  // no keeper: nothing holds output
  return SendFrame(fd->get(), kRelease, 0, "");
}

}  // namespace gdn::attach
