#include "attach/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "attach/protocol.h"
#include "lib/contract.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::attach {
namespace {

constexpr size_t kChunk = 64 * 1024;

// Output of one stream: bytes [base, end) are held, [base, sent) are with the reader.
struct StreamBuffer {
  UniqueFd fd;  // the process's end: a pipe, or the pty master for stream 1
  bool eof = false;
  std::deque<std::string> chunks;
  uint64_t base = 0;  // acknowledged up to here
  uint64_t end = 0;   // read from the process up to here
  uint64_t sent = 0;  // sent to the current reader up to here

  size_t held() const { return static_cast<size_t>(end - base); }

  void Ack(uint64_t offset) {
    if (offset > sent) offset = sent;
    while (base < offset && !chunks.empty()) {
      std::string& front = chunks.front();
      uint64_t take = std::min<uint64_t>(front.size(), offset - base);
      if (take == front.size()) {
        chunks.pop_front();
      } else {
        front.erase(0, static_cast<size_t>(take));
      }
      base += take;
    }
  }

  // Up to `max` bytes from `sent` on.
  std::string Take(size_t max) {
    std::string out;
    uint64_t pos = base;
    for (const std::string& c : chunks) {
      uint64_t c_end = pos + c.size();
      if (c_end > sent) {
        size_t from = static_cast<size_t>(sent > pos ? sent - pos : 0);
        size_t n = std::min(c.size() - from, max - out.size());
        out.append(c, from, n);
        if (out.size() == max) break;
      }
      pos = c_end;
    }
    sent += out.size();
    return out;
  }
};

struct Connection {
  UniqueFd fd;
  FrameReader reader;
  std::string out;  // frames not yet written
};

uint64_t StartTimeOf(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return 0;
  std::string::size_type close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  // Field 22 is the 20th after the state field.
  const char* p = stat->c_str() + close + 2;
  for (int field = 3; field < 22 && *p; ++p) {
    if (*p == ' ') ++field;
  }
  return strtoull(p, nullptr, 10);
}

class Keeper {
 public:
  Keeper(const RunOptions& options, UniqueFd listener) : o_(options), listener_(std::move(listener)) {}

  // Sets up the process's stdio and starts it. Returns its pid, or a failure.
  absl::StatusOr<pid_t> Start();
  // Relays until the process has ended and its output is delivered (or released).
  void Loop();

 private:
  void Accept();
  void ReadFrom(size_t i);
  void Handle(Connection& c, const Frame& f);
  void Fill(Connection& c);
  void Flush(size_t i);
  void Drop(size_t i);
  void ReadOutput(StreamBuffer& s);
  void Reap();
  bool Done() const;

  RunOptions o_;
  UniqueFd listener_;
  std::vector<Connection> conns_;
  int reader_ = -1;  // index into conns_ of the connection that reads output
  StreamBuffer streams_[3];  // [1] stdout (or the pty), [2] stderr
  UniqueFd stdin_;           // the process's stdin (a pipe, or the pty master)
  std::string stdin_pending_;
  bool stdin_eof_ = false;
  UniqueFd pidfd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool exit_sent_ = false;
  bool released_ = false;
  ExitStatus exit_;
};

absl::StatusOr<pid_t> Keeper::Start() {
  int child_in = -1, child_out = -1, child_err = -1;
  UniqueFd slave, in_r, out_w, err_w, null;
  ASSIGN_OR_RETURN(null, Open("/dev/null", O_RDWR));
  if (o_.tty) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return ErrnoError(errno, "open a pty");
    streams_[1].fd.Reset(master);
    if (grantpt(master) != 0 || unlockpt(master) != 0) return ErrnoError(errno, "unlock the pty");
    const char* name = ptsname(master);
    if (name == nullptr) return ErrnoError(errno, "name the pty");
    ASSIGN_OR_RETURN(slave, Open(name, O_RDWR | O_NOCTTY));
    struct winsize ws = {};
    ws.ws_row = static_cast<unsigned short>(o_.rows);
    ws.ws_col = static_cast<unsigned short>(o_.cols);
    ioctl(master, TIOCSWINSZ, &ws);
    stdin_.Reset(dup(master));
    fcntl(stdin_.get(), F_SETFD, FD_CLOEXEC);
    child_in = child_out = child_err = slave.get();
    streams_[2].eof = true;
  } else {
    ASSIGN_OR_RETURN(Pipe out, MakePipe());
    ASSIGN_OR_RETURN(Pipe err, MakePipe());
    streams_[1].fd = std::move(out.read);
    streams_[2].fd = std::move(err.read);
    out_w = std::move(out.write);
    err_w = std::move(err.write);
    child_out = out_w.get();
    child_err = err_w.get();
    if (o_.stdin) {
      ASSIGN_OR_RETURN(Pipe in, MakePipe());
      stdin_ = std::move(in.write);
      in_r = std::move(in.read);
      child_in = in_r.get();
    } else {
      child_in = null.get();
    }
  }
  ASSIGN_OR_RETURN(Pipe report, MakePipe());
  std::vector<char*> argv;
  for (const std::string& a : o_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) {
    // Between fork and exec: no allocation; report errno on the pipe and _exit.
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (o_.tty) {
      setsid();
      ioctl(child_in, TIOCSCTTY, 0);
    }
    int fds[3] = {child_in, child_out, child_err};
    for (int i = 0; i < 3; ++i) {
      if (dup2(fds[i], i) < 0) {
        int err = errno;
        (void)!write(report.write.get(), &err, sizeof err);
        _exit(127);
      }
    }
    // Nothing of the keeper reaches the process but its stdio and the report pipe, which
    // closes on exec.
    int rfd = report.write.get();
    if (rfd > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(rfd - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(rfd + 1), ~0u, 0u);
    execvp(argv[0], argv.data());
    int err = errno;
    (void)!write(rfd, &err, sizeof err);
    _exit(127);
  }
  report.write.Reset();
  int err = 0;
  if (read(report.read.get(), &err, sizeof err) == static_cast<ssize_t>(sizeof err)) {
    int status;
    waitpid(pid, &status, 0);
    return ErrnoError(err, "run", o_.argv[0]);
  }
  pid_ = pid;
  pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  for (int s = 1; s <= 2; ++s) {
    if (streams_[s].fd.valid()) fcntl(streams_[s].fd.get(), F_SETFL, O_NONBLOCK);
  }
  if (stdin_.valid()) fcntl(stdin_.get(), F_SETFL, O_NONBLOCK);
  fcntl(listener_.get(), F_SETFL, O_NONBLOCK);
  return pid;
}

void Keeper::Accept() {
  int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  Connection c;
  c.fd.Reset(fd);
  conns_.push_back(std::move(c));
}

void Keeper::Drop(size_t i) {
  if (static_cast<int>(i) == reader_) {
    reader_ = -1;
    // What the reader had not acknowledged goes to the next one.
    for (StreamBuffer& s : streams_) s.sent = s.base;
  } else if (static_cast<int>(i) < reader_) {
    --reader_;
  }
  conns_.erase(conns_.begin() + static_cast<long>(i));
}

void Keeper::Handle(Connection& c, const Frame& f) {
  int index = static_cast<int>(&c - conns_.data());
  switch (f.type) {
    case kAttach:
      if (reader_ >= 0 && reader_ != index) {
        conns_[static_cast<size_t>(reader_)].fd.Reset();  // replaced: dropped below
      }
      reader_ = index;
      for (StreamBuffer& s : streams_) s.sent = s.base;
      c.out.clear();
      break;
    case kAck:
      if (index == reader_ && f.stream >= 1 && f.stream <= 2 && f.payload.size() == 8) {
        streams_[f.stream].Ack(GetU64(f.payload));
      }
      break;
    case kData:
      if (f.stream == 0 && stdin_.valid() && !stdin_eof_) stdin_pending_ += f.payload;
      break;
    case kStdinEof:
      stdin_eof_ = true;
      break;
    case kResize:
      if (o_.tty && f.payload.size() == 4) {
        struct winsize ws = {};
        ws.ws_row = static_cast<unsigned short>(static_cast<unsigned char>(f.payload[0]) |
                                                static_cast<unsigned char>(f.payload[1]) << 8);
        ws.ws_col = static_cast<unsigned short>(static_cast<unsigned char>(f.payload[2]) |
                                                static_cast<unsigned char>(f.payload[3]) << 8);
        ioctl(streams_[1].fd.get(), TIOCSWINSZ, &ws);
      }
      break;
    case kRelease:
      released_ = true;
      break;
    default:
      break;
  }
}

void Keeper::ReadFrom(size_t i) {
  char buf[16384];
  ssize_t n = read(conns_[i].fd.get(), buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    conns_[i].fd.Reset();
    return;
  }
  if (n < 0) return;
  conns_[i].reader.Append(buf, static_cast<size_t>(n));
  bool bad = false;
  while (std::optional<Frame> f = conns_[i].reader.Next(&bad)) Handle(conns_[i], *f);
  if (bad) conns_[i].fd.Reset();
}

void Keeper::Fill(Connection& c) {
  if (!c.out.empty()) return;
  for (int s = 1; s <= 2; ++s) {
    StreamBuffer& b = streams_[s];
    if (b.sent < b.end) {
      uint64_t offset = b.sent;
      std::string data = b.Take(kChunk);
      std::string payload;
      PutU64(&payload, offset);
      payload += data;
      c.out = Encode(kData, static_cast<uint8_t>(s), payload);
      return;
    }
  }
  bool drained = streams_[1].eof && streams_[2].eof && streams_[1].held() == 0 &&
                 streams_[2].held() == 0;
  if (reaped_ && drained && !exit_sent_) {
    std::string payload;
    PutU32(&payload, static_cast<uint32_t>(exit_.code()));
    PutU32(&payload, static_cast<uint32_t>(exit_.signal()));
    payload.push_back(exit_.exited() ? 1 : 0);
    c.out = Encode(kExit, 0, payload);
    exit_sent_ = true;
  }
}

void Keeper::Flush(size_t i) {
  Connection& c = conns_[i];
  while (!c.out.empty()) {
    ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.fd.Reset();
      return;
    }
    c.out.erase(0, static_cast<size_t>(n));
    if (c.out.empty() && static_cast<int>(i) == reader_) Fill(c);
  }
}

void Keeper::ReadOutput(StreamBuffer& s) {
  std::string chunk(kChunk, '\0');
  ssize_t n = read(s.fd.get(), chunk.data(), chunk.size());
  if (n > 0) {
    chunk.resize(static_cast<size_t>(n));
    s.end += chunk.size();
    s.chunks.push_back(std::move(chunk));
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    // EIO is how a pty master says its last slave has closed.
    s.eof = true;
  }
}

void Keeper::Reap() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return;
  reaped_ = true;
  exit_.set_exited(WIFEXITED(status));
  exit_.set_code(WIFEXITED(status) ? WEXITSTATUS(status) : 0);
  exit_.set_signal(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  (void)WriteFileAtomic(absl::StrCat(o_.dir, "/", kExitFile), ToJson(exit_), 0600);
  pidfd_.Reset();
  if (o_.tty) {
    // Whatever the process left in the pty is readable until EIO; nothing more comes.
    fcntl(streams_[1].fd.get(), F_SETFL, O_NONBLOCK);
  }
}

bool Keeper::Done() const {
  if (!reaped_ || !streams_[1].eof || !streams_[2].eof) return false;
  if (released_) return true;
  bool drained = streams_[1].held() == 0 && streams_[2].held() == 0;
  if (!drained) return false;
  // Everything was acknowledged: deliver kExit to a reader if there is one.
  if (reader_ < 0) return true;
  return exit_sent_ && conns_[static_cast<size_t>(reader_)].out.empty();
}

void Keeper::Loop() {
  while (!Done()) {
    std::vector<struct pollfd> fds;
    std::vector<int> what;  // -1 listener, -2 pidfd, -3 stdin, 1/2 streams, 100+i conns
    auto add = [&](int fd, short events, int tag) {
      fds.push_back({fd, events, 0});
      what.push_back(tag);
    };
    add(listener_.get(), POLLIN, -1);
    if (pidfd_.valid()) add(pidfd_.get(), POLLIN, -2);
    if (stdin_.valid() && !stdin_pending_.empty()) add(stdin_.get(), POLLOUT, -3);
    for (int s = 1; s <= 2; ++s) {
      StreamBuffer& b = streams_[s];
      if (!b.eof && b.held() < o_.buffer_limit) add(b.fd.get(), POLLIN, s);
    }
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (static_cast<int>(i) == reader_) Fill(conns_[i]);
      short events = POLLIN;
      if (!conns_[i].out.empty()) events |= POLLOUT;
      add(conns_[i].fd.get(), events, 100 + static_cast<int>(i));
    }
    // With no pidfd (old kernels), look for the process's end now and then.
    int timeout = pidfd_.valid() || reaped_ ? -1 : 100;
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
    if (!reaped_ && !pidfd_.valid()) Reap();
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      int tag = what[k];
      if (tag == -1) {
        Accept();
      } else if (tag == -2) {
        Reap();
      } else if (tag == -3) {
        ssize_t n = write(stdin_.get(), stdin_pending_.data(), stdin_pending_.size());
        if (n > 0) stdin_pending_.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EINTR) stdin_pending_.clear();
      } else if (tag == 1 || tag == 2) {
        ReadOutput(streams_[tag]);
      } else {
        size_t i = static_cast<size_t>(tag - 100);
        if (i < conns_.size() && conns_[i].fd.valid() && (fds[k].revents & POLLOUT)) Flush(i);
        if (i < conns_.size() && conns_[i].fd.valid() &&
            (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) {
          ReadFrom(i);
        }
      }
    }
    if (stdin_eof_ && stdin_pending_.empty() && stdin_.valid() && !o_.tty) stdin_.Reset();
    for (size_t i = conns_.size(); i-- > 0;) {
      if (!conns_[i].fd.valid()) Drop(i);
    }
  }
  // Flush a last kExit if the socket was full.
  if (reader_ >= 0) {
    fcntl(conns_[static_cast<size_t>(reader_)].fd.get(), F_SETFL, 0);
    Flush(static_cast<size_t>(reader_));
  }
}

absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(
        absl::StrCat("the folder path is too long for a unix socket: ", path));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, "bind", path);
  }
  if (listen(fd.get(), 8) != 0) return ErrnoError(errno, "listen", path);
  return fd;
}

}  // namespace

absl::StatusOr<Process> StartKeeper(const RunOptions& o) {
  if (o.argv.empty()) return UsageError("attach run needs a command after --");
  RETURN_IF_ERROR(MakeDirs(o.dir, 0700));
  std::string process_path = absl::StrCat(o.dir, "/", kProcessFile);
  std::string socket_path = absl::StrCat(o.dir, "/", kSocketFile);
  std::string exit_path = absl::StrCat(o.dir, "/", kExitFile);
  if (access(process_path.c_str(), F_OK) == 0 || access(socket_path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(o.dir, " already holds a process"));
  }
  unlink(exit_path.c_str());
  ASSIGN_OR_RETURN(UniqueFd listener, Listen(socket_path));
  ASSIGN_OR_RETURN(Pipe report, MakePipe());

  pid_t keeper = fork();
  if (keeper < 0) return ErrnoError(errno, "fork the keeper");
  if (keeper == 0) {
    // The keeper: its own session, and none of the caller's stdio, so that whoever started
    // `attach run` may exit, be killed, or wait for EOF on its pipes.
    report.read.Reset();
    setsid();
    signal(SIGPIPE, SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
    if (null > 2) close(null);
    Keeper k(o, std::move(listener));
    absl::StatusOr<pid_t> pid = k.Start();
    Process p;
    if (pid.ok()) {
      p.set_pid(*pid);
      p.set_keeper_pid(getpid());
      p.set_keeper_start_time(StartTimeOf(getpid()));
      p.set_dir(o.dir);
      p.set_tty(o.tty);
      absl::Status written = WriteFileAtomic(process_path, ToJson(p), 0600);
      if (!written.ok()) pid = written;
    }
    std::string message = pid.ok() ? absl::StrCat("ok ", ToJson(p))
                                   : absl::StrCat(static_cast<int>(pid.status().code()), " ",
                                                  pid.status().message());
    (void)WriteAll(report.write.get(), message);
    report.write.Reset();
    if (!pid.ok()) {
      unlink(socket_path.c_str());
      _exit(1);
    }
    k.Loop();
    unlink(socket_path.c_str());
    _exit(0);
  }
  listener.Reset();
  report.write.Reset();
  ASSIGN_OR_RETURN(std::string answer, ReadAll(report.read.get()));
  if (answer.rfind("ok ", 0) == 0) {
    Process p;
    RETURN_IF_ERROR(ParseJson(answer.substr(3), &p));
    return p;
  }
  int status;
  waitpid(keeper, &status, 0);
  unlink(socket_path.c_str());
  int code = 0;
  std::string::size_type space = answer.find(' ');
  if (answer.empty() || space == std::string::npos) {
    return absl::InternalError("the keeper died before it started the process");
  }
  code = atoi(answer.substr(0, space).c_str());
  return absl::Status(static_cast<absl::StatusCode>(code), answer.substr(space + 1));
}

}  // namespace gdn::attach
