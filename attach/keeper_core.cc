#include "attach/keeper_core.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attach/protocol.h"

namespace gdn::attach {
namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr int kPipeSize = 1 << 20;

// Owns a descriptor; the keeper's small stand-in for lib/fd's UniqueFd.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset(o.fd_);
      o.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { Reset(); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

void AppendJsonString(std::string* out, const std::string& s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// Replaces `path` atomically: temporary file, rename. Not fsynced: the process's files
// must outlive a killed server or client, not a reboot, which ends the process too.
bool WriteAtomic(const std::string& dir, const char* name, const std::string& data) {
  std::string path = dir + "/" + name;
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

// A piece of output as read from the process. Its memory is not initialised first and is
// reused (ChunkPool): zero-filling or faulting in fresh pages for every read would cost as
// much as the copy itself.
struct Chunk {
  std::unique_ptr<char[]> bytes;
  size_t size = 0;
};

// Spare chunk buffers of kChunk bytes; a few are kept after a burst, none while idle.
class ChunkPool {
 public:
  std::unique_ptr<char[]> Get() {
    if (spare_.empty()) return std::unique_ptr<char[]>(new char[kChunk]);
    std::unique_ptr<char[]> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  // Only buffers of kChunk bytes may come back.
  void Put(std::unique_ptr<char[]> b) {
    if (spare_.size() < 4) spare_.push_back(std::move(b));
  }

 private:
  std::vector<std::unique_ptr<char[]>> spare_;
};

ChunkPool g_pool;
int g_null = -1;  // /dev/null, where acknowledged bytes of a kept pipe go

// Output of one stream: bytes [base, end) are held, [base, sent) are with the reader.
// Chunks are never modified once read, so a frame in flight may point into them: a chunk
// goes only when all of it is acknowledged, which needs all of it sent.
struct StreamBuffer {
  Fd fd;  // the process's end: a pipe, or the pty master for stream 1
  bool eof = false;
  std::deque<Chunk> chunks;
  size_t front_skip = 0;  // bytes of chunks.front() already acknowledged
  uint64_t base = 0;      // acknowledged up to here
  uint64_t end = 0;       // read from the process up to here
  uint64_t sent = 0;      // handed to the current reader up to here
  // The fast path (a pipe stream with a reader): output is tee(2)d from `fd` into the kept
  // pipe and spliced from `fd` to the reader, never copied through our memory. The kept pipe
  // holds the last `kept` bytes of [base, end) until they are acknowledged; the chunks hold
  // the ones before.
  Fd keep_r, keep_w;
  uint64_t kept = 0;
  bool keep_full = false;

  size_t held() const { return static_cast<size_t>(end - base); }

  void Ack(uint64_t offset) {
    offset = std::min(offset, sent);
    while (base < offset && !chunks.empty()) {
      size_t left = chunks.front().size - front_skip;
      uint64_t take = std::min<uint64_t>(left, offset - base);
      base += take;
      front_skip += static_cast<size_t>(take);
      if (front_skip == chunks.front().size) {
        // Pieces of kChunk / 8 or more live in pool buffers (see ReadOutput).
        if (chunks.front().size >= kChunk / 8) g_pool.Put(std::move(chunks.front().bytes));
        chunks.pop_front();
        front_skip = 0;
      }
    }
    // The rest is in the kept pipe: dropped from it.
    while (base < offset && kept > 0) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(kept, offset - base));
      ssize_t n = splice(keep_r.get(), nullptr, g_null, nullptr, take, SPLICE_F_NONBLOCK);
      if (n <= 0) break;
      base += static_cast<uint64_t>(n);
      kept -= static_cast<uint64_t>(n);
      keep_full = false;
    }
  }

  // The next piece for the reader: up to `max` bytes from `sent` on, inside one chunk.
  bool Next(size_t max, const char** data, size_t* size) {
    if (sent >= end) return false;
    uint64_t pos = base - front_skip;  // offset of chunks.front()[0]
    for (const Chunk& c : chunks) {
      uint64_t c_end = pos + c.size;
      if (c_end > sent) {
        size_t from = static_cast<size_t>(sent - pos);
        *size = std::min(c.size - from, max);
        *data = c.bytes.get() + from;
        sent += *size;
        return true;
      }
      pos = c_end;
    }
    return false;
  }
};

struct Connection {
  Fd fd;
  FrameReader reader;
  // The frame being written: `head` (a header, or a whole control frame) then `data`, which
  // points into a stream's chunk.
  std::string head;
  size_t head_pos = 0;
  const char* data = nullptr;
  size_t data_left = 0;
  // Or, after `head`, `splice_left` bytes spliced straight from stream `splice_stream`'s pipe.
  int splice_stream = 0;
  size_t splice_left = 0;
  bool busy() const { return head_pos < head.size() || data_left > 0 || splice_left > 0; }
};

class Keeper {
 public:
  explicit Keeper(const KeeperOptions& o) : o_(o), listener_(o.listen_fd), console_(o.console_fd) {}
  pid_t pid() const { return pid_; }
  // Starts the process; 0, or errno with *what set.
  int Start(const char** what);
  void Loop();

 private:
  void Accept();
  void AcceptConsole();
  void NoConsole();
  void ReadFrom(size_t i);
  void Handle(size_t index, const Frame& f);
  void Fill(Connection& c);
  void Flush(size_t i);
  void Drop(size_t i);
  void ReadOutput(StreamBuffer& s);
  bool FastPath(int s) const;
  bool FastRead(int s);
  void TakeBack();
  void Reap();
  bool Done() const;

  const KeeperOptions& o_;
  Fd listener_;
  Fd console_;  // D/console.sock while the runtime's terminal has not come
  std::vector<Connection> conns_;
  int reader_ = -1;
  StreamBuffer streams_[3];
  Fd stdin_;
  std::string stdin_pending_;
  bool stdin_eof_ = false;
  Fd pidfd_;
  pid_t pid_ = -1;
  bool reaped_ = false, exit_sent_ = false, released_ = false;
  bool exited_ = false;
  int code_ = 0, signal_ = 0;
};

int Keeper::Start(const char** what) {
  int child_in, child_out, child_err;
  Fd slave, in_r, out_w, err_w;
  Fd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (o_.tty && console_.valid()) {
    // The runtime makes the terminal inside the container and sends it to us (AcceptConsole);
    // until then only what the runtime itself says, on stream 2.
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) {
      *what = "pipe";
      return errno;
    }
    streams_[2].fd.Reset(err[0]);
    err_w.Reset(err[1]);
    child_in = null.get();
    child_out = child_err = err[1];
  } else if (o_.tty) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
      *what = "open a pty";
      return errno;
    }
    streams_[1].fd.Reset(master);
    const char* name = ptsname(master);
    slave.Reset(name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1);
    if (!slave.valid()) {
      *what = "open the pty's peer";
      return errno;
    }
    struct winsize ws = {};
    ws.ws_row = static_cast<unsigned short>(o_.rows);
    ws.ws_col = static_cast<unsigned short>(o_.cols);
    ioctl(master, TIOCSWINSZ, &ws);
    stdin_.Reset(fcntl(master, F_DUPFD_CLOEXEC, 3));
    child_in = child_out = child_err = slave.get();
    streams_[2].eof = true;
  } else {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      *what = "pipe";
      return errno;
    }
    // Larger pipes: fewer wake-ups for a process that writes a lot.
    fcntl(out[1], F_SETPIPE_SZ, kPipeSize);
    fcntl(err[1], F_SETPIPE_SZ, kPipeSize);
    streams_[1].fd.Reset(out[0]);
    streams_[2].fd.Reset(err[0]);
    for (int s = 1; s <= 2; ++s) {
      int keep[2];
      if (pipe2(keep, O_CLOEXEC | O_NONBLOCK) != 0) continue;  // no fast path, no harm
      fcntl(keep[1], F_SETPIPE_SZ, kPipeSize);
      streams_[s].keep_r.Reset(keep[0]);
      streams_[s].keep_w.Reset(keep[1]);
    }
    if (g_null < 0) g_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    out_w.Reset(out[1]);
    err_w.Reset(err[1]);
    child_out = out[1];
    child_err = err[1];
    if (o_.stdin) {
      int in[2];
      if (pipe2(in, O_CLOEXEC) != 0) {
        *what = "pipe";
        return errno;
      }
      in_r.Reset(in[0]);
      stdin_.Reset(in[1]);
      child_in = in[0];
    } else {
      child_in = null.get();
    }
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *what = "pipe";
    return errno;
  }
  std::vector<char*> argv;
  for (const std::string& a : o_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    *what = "fork";
    return errno;
  }
  if (pid == 0) {
    // Between fork and exec: no allocation; report errno on the pipe and _exit.
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (o_.tty && console_.valid() == false) {
      setsid();
      ioctl(child_in, TIOCSCTTY, 0);
    }
    int fds[3] = {child_in, child_out, child_err};
    for (int i = 0; i < 3; ++i) {
      if (dup2(fds[i], i) < 0) {
        int e = errno;
        (void)!write(report[1], &e, sizeof e);
        _exit(127);
      }
    }
    // Nothing of the keeper reaches the process but its stdio (the report pipe closes on exec).
    int rfd = report[1];
    if (rfd > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(rfd - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(rfd + 1), ~0u, 0u);
    execvp(argv[0], argv.data());
    int e = errno;
    (void)!write(rfd, &e, sizeof e);
    _exit(127);
  }
  close(report[1]);
  int err = 0;
  ssize_t n = read(report[0], &err, sizeof err);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    int status;
    waitpid(pid, &status, 0);
    *what = "run";
    return err;
  }
  pid_ = pid;
  pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  for (int s = 1; s <= 2; ++s) {
    if (streams_[s].fd.valid()) fcntl(streams_[s].fd.get(), F_SETFL, O_NONBLOCK);
  }
  if (stdin_.valid()) fcntl(stdin_.get(), F_SETFL, O_NONBLOCK);
  fcntl(listener_.get(), F_SETFL, O_NONBLOCK);
  if (console_.valid()) fcntl(console_.get(), F_SETFL, O_NONBLOCK);
  return 0;
}

void Keeper::Accept() {
  int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  Connection c;
  c.fd.Reset(fd);
  conns_.push_back(std::move(c));
}

void Keeper::Drop(size_t i) {
  if (static_cast<int>(i) == reader_) {
    TakeBack();
    reader_ = -1;
    // What the reader had not acknowledged goes to the next one.
    for (StreamBuffer& s : streams_) s.sent = s.base;
  } else if (static_cast<int>(i) < reader_) {
    --reader_;
  }
  conns_.erase(conns_.begin() + static_cast<long>(i));
}

void Keeper::Handle(size_t index, const Frame& f) {
  Connection& c = conns_[index];
  switch (f.type) {
    case kAttach:
      TakeBack();  // the fast path's bytes of whoever read before
      if (reader_ >= 0 && reader_ != static_cast<int>(index)) {
        conns_[static_cast<size_t>(reader_)].fd.Reset();  // replaced; dropped by the loop
      }
      reader_ = static_cast<int>(index);
      for (StreamBuffer& s : streams_) s.sent = s.base;
      c.head.clear();
      c.head_pos = 0;
      c.data_left = 0;
      break;
    case kAck:
      if (static_cast<int>(index) == reader_ && f.stream >= 1 && f.stream <= 2 &&
          f.payload.size() == 8) {
        streams_[f.stream].Ack(GetU64(f.payload));
      }
      break;
    case kData:
      // Input for a terminal still to come waits for it.
      if (f.stream == 0 && (stdin_.valid() || console_.valid()) && !stdin_eof_) stdin_pending_ += f.payload;
      break;
    case kStdinEof:
      stdin_eof_ = true;
      break;
    case kResize:
      if (o_.tty && f.payload.size() == 4) {
        struct winsize ws = {};
        const unsigned char* p = reinterpret_cast<const unsigned char*>(f.payload.data());
        ws.ws_row = static_cast<unsigned short>(p[0] | p[1] << 8);
        ws.ws_col = static_cast<unsigned short>(p[2] | p[3] << 8);
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
  char buf[4096];
  ssize_t n = read(conns_[i].fd.get(), buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    conns_[i].fd.Reset();
    return;
  }
  if (n < 0) return;
  conns_[i].reader.Append(buf, static_cast<size_t>(n));
  bool bad = false;
  while (std::optional<Frame> f = conns_[i].reader.Next(&bad)) Handle(i, *f);
  if (bad) conns_[i].fd.Reset();
}

void Keeper::Fill(Connection& c) {
  if (c.busy()) return;
  c.head.clear();
  c.head_pos = 0;
  for (int s = 1; s <= 2; ++s) {
    uint64_t offset = streams_[s].sent;
    const char* data;
    size_t size;
    if (streams_[s].Next(kChunk, &data, &size)) {
      c.head = EncodeHeader(kData, static_cast<uint8_t>(s), static_cast<uint32_t>(size + 8));
      PutU64(&c.head, offset);
      c.data = data;
      c.data_left = size;
      return;
    }
  }
  bool drained = streams_[1].eof && streams_[2].eof && streams_[1].held() == 0 &&
                 streams_[2].held() == 0;
  if (reaped_ && drained && !exit_sent_) {
    std::string payload;
    PutU32(&payload, static_cast<uint32_t>(code_));
    PutU32(&payload, static_cast<uint32_t>(signal_));
    payload.push_back(exited_ ? 1 : 0);
    c.head = Encode(kExit, 0, payload);
    exit_sent_ = true;
  }
}

void Keeper::Flush(size_t i) {
  Connection& c = conns_[i];
  for (;;) {
    if (static_cast<int>(i) == reader_) {
      Fill(c);
      for (int s = 1; s <= 2 && !c.busy(); ++s) {
        if (FastPath(s)) FastRead(s);
      }
    }
    if (!c.busy()) return;
    if (c.head_pos == c.head.size() && c.splice_left > 0) {
      ssize_t n = splice(streams_[c.splice_stream].fd.get(), nullptr, c.fd.get(), nullptr, c.splice_left,
                         SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) c.fd.Reset();
        return;
      }
      c.splice_left -= static_cast<size_t>(n);
      continue;
    }
    struct iovec iov[2];
    int n_iov = 0;
    if (c.head_pos < c.head.size()) {
      iov[n_iov++] = {const_cast<char*>(c.head.data() + c.head_pos), c.head.size() - c.head_pos};
    }
    if (c.data_left > 0) iov[n_iov++] = {const_cast<char*>(c.data), c.data_left};
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n_iov);
    ssize_t n = sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.fd.Reset();
      return;
    }
    size_t sent = static_cast<size_t>(n);
    size_t from_head = std::min(sent, c.head.size() - c.head_pos);
    c.head_pos += from_head;
    sent -= from_head;
    c.data += sent;
    c.data_left -= sent;
  }
}

void Keeper::ReadOutput(StreamBuffer& s) {
  Chunk c;
  c.bytes = g_pool.Get();
  ssize_t n = read(s.fd.get(), c.bytes.get(), kChunk);
  if (n > 0) {
    c.size = static_cast<size_t>(n);
    if (c.size < kChunk / 8) {
      // A small piece gets a buffer of its own size: held memory stays near held bytes.
      std::unique_ptr<char[]> small(new char[c.size]);
      memcpy(small.get(), c.bytes.get(), c.size);
      g_pool.Put(std::move(c.bytes));
      c.bytes = std::move(small);
    }
    s.end += c.size;
    s.chunks.push_back(std::move(c));
  } else {
    g_pool.Put(std::move(c.bytes));
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      // EIO is how a pty master says its last peer has closed.
      s.eof = true;
    }
  }
}

// Whether stream `s`'s next output may take the fast path: a pipe with a kept pipe beside
// it, a reader, and nothing read earlier still waiting to be sent.
bool Keeper::FastPath(int s) const {
  const StreamBuffer& b = streams_[s];
  return reader_ >= 0 && b.keep_w.valid() && !b.eof && !b.keep_full && b.sent == b.end;
}

// Duplicates what the process wrote into the kept pipe and frames it for the reader, whose
// Flush splices it out. False when there was nothing to take.
bool Keeper::FastRead(int s) {
  StreamBuffer& b = streams_[s];
  Connection& c = conns_[static_cast<size_t>(reader_)];
  if (c.busy()) return false;
  ssize_t n = tee(b.fd.get(), b.keep_w.get(), kChunk, SPLICE_F_NONBLOCK);
  if (n == 0) {
    b.eof = true;  // empty, and no writer left
    return false;
  }
  if (n < 0) {
    int waiting = 0;
    // Output waits but the kept pipe has no room: until the reader acknowledges some.
    if (errno == EAGAIN && ioctl(b.fd.get(), FIONREAD, &waiting) == 0 && waiting > 0) b.keep_full = true;
    return false;
  }
  c.head = EncodeHeader(kData, static_cast<uint8_t>(s), static_cast<uint32_t>(n + 8));
  PutU64(&c.head, b.end);
  c.head_pos = 0;
  c.splice_stream = s;
  c.splice_left = static_cast<size_t>(n);
  b.end += static_cast<uint64_t>(n);
  b.sent = b.end;
  b.kept += static_cast<uint64_t>(n);
  return true;
}

// The reader goes: what the fast path holds comes back into chunks, so that the next
// reader gets it the ordinary way. A frame cut short leaves its rest in the process's pipe,
// where it is dropped (the kept pipe has it too).
void Keeper::TakeBack() {
  if (reader_ < 0) return;
  Connection& c = conns_[static_cast<size_t>(reader_)];
  if (c.splice_left > 0) {
    StreamBuffer& b = streams_[c.splice_stream];
    while (c.splice_left > 0) {
      ssize_t n = splice(b.fd.get(), nullptr, g_null, nullptr, c.splice_left, SPLICE_F_NONBLOCK);
      if (n <= 0) break;
      c.splice_left -= static_cast<size_t>(n);
    }
    c.splice_left = 0;
  }
  for (int s = 1; s <= 2; ++s) {
    StreamBuffer& b = streams_[s];
    while (b.kept > 0) {
      Chunk k;
      k.bytes = g_pool.Get();
      ssize_t n = read(b.keep_r.get(), k.bytes.get(), static_cast<size_t>(std::min<uint64_t>(b.kept, kChunk)));
      if (n <= 0) {
        g_pool.Put(std::move(k.bytes));
        break;
      }
      k.size = static_cast<size_t>(n);
      b.kept -= k.size;
      b.chunks.push_back(std::move(k));
    }
    b.keep_full = false;
  }
}

// The terminal the runtime made, sent over D/console.sock as runc sends it: one descriptor
// in an SCM_RIGHTS message.
void Keeper::AcceptConsole() {
  Fd conn(accept4(console_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.valid()) return;
  struct timeval limit = {5, 0};  // only the user's own processes can reach the socket
  setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  char name[256];
  struct iovec iov = {name, sizeof name};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC) <= 0) return;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int))) {
    return;
  }
  int master;
  memcpy(&master, CMSG_DATA(c), sizeof master);
  struct stat st;
  if (fstat(master, &st) != 0 || !S_ISCHR(st.st_mode)) {
    close(master);
    return;
  }
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(o_.rows);
  ws.ws_col = static_cast<unsigned short>(o_.cols);
  ioctl(master, TIOCSWINSZ, &ws);
  fcntl(master, F_SETFL, O_NONBLOCK);
  streams_[1].fd.Reset(master);
  stdin_.Reset(fcntl(master, F_DUPFD_CLOEXEC, 3));
  console_.Reset();
  unlink((o_.dir + "/console.sock").c_str());
}

// The runtime ended without sending a terminal: there is no output but its own.
void Keeper::NoConsole() {
  if (!console_.valid()) return;
  console_.Reset();
  unlink((o_.dir + "/console.sock").c_str());
  streams_[1].eof = true;
  stdin_pending_.clear();
}

void Keeper::Reap() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return;
  reaped_ = true;
  if (console_.valid()) AcceptConsole();  // sent just before the runtime ended
  NoConsole();
  exited_ = WIFEXITED(status);
  code_ = exited_ ? WEXITSTATUS(status) : 0;
  signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  WriteAtomic(o_.dir, "exit.json", ExitStatusJson(exited_, code_, signal_));
  pidfd_.Reset();
}

bool Keeper::Done() const {
  if (!reaped_ || !streams_[1].eof || !streams_[2].eof) return false;
  if (released_) return true;
  if (streams_[1].held() != 0 || streams_[2].held() != 0) return false;
  // Everything was acknowledged: deliver kExit to a reader if there is one.
  if (reader_ < 0) return true;
  return exit_sent_ && !conns_[static_cast<size_t>(reader_)].busy();
}

void Keeper::Loop() {
  std::vector<struct pollfd> fds;
  std::vector<int> what;  // -1 listener, -2 pidfd, -3 stdin, 1/2 streams, 100+i connections
  while (!Done()) {
    fds.clear();
    what.clear();
    auto add = [&](int fd, short events, int tag) {
      fds.push_back({fd, events, 0});
      what.push_back(tag);
    };
    add(listener_.get(), POLLIN, -1);
    if (console_.valid()) add(console_.get(), POLLIN, -4);
    if (pidfd_.valid()) add(pidfd_.get(), POLLIN, -2);
    if (stdin_.valid() && !stdin_pending_.empty()) add(stdin_.get(), POLLOUT, -3);
    bool reader_idle = reader_ >= 0 && !conns_[static_cast<size_t>(reader_)].busy();
    for (int s = 1; s <= 2; ++s) {
      StreamBuffer& b = streams_[s];
      if (b.eof) continue;
      if (FastPath(s)) {
        if (reader_idle) add(b.fd.get(), POLLIN, s);
      } else if (b.kept == 0 && b.held() < o_.buffer_limit) {
        add(b.fd.get(), POLLIN, s);  // the kept pipe's bytes come first: nothing read after them
      }
    }
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (static_cast<int>(i) == reader_) Fill(conns_[i]);
      short events = POLLIN;
      if (conns_[i].busy()) events |= POLLOUT;
      add(conns_[i].fd.get(), events, 100 + static_cast<int>(i));
    }
    int timeout = pidfd_.valid() || reaped_ ? -1 : 100;  // no pidfd: look now and then
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
    if (!reaped_ && !pidfd_.valid()) Reap();
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      int tag = what[k];
      if (tag == -1) {
        Accept();
      } else if (tag == -2) {
        Reap();
      } else if (tag == -4) {
        AcceptConsole();
      } else if (tag == -3) {
        ssize_t n = write(stdin_.get(), stdin_pending_.data(), stdin_pending_.size());
        if (n > 0) stdin_pending_.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EINTR) stdin_pending_.clear();
      } else if (tag == 1 || tag == 2) {
        if (FastPath(tag)) {
          if (FastRead(tag)) Flush(static_cast<size_t>(reader_));
        } else if (streams_[tag].kept == 0) {
          ReadOutput(streams_[tag]);
        }
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
  if (reader_ >= 0) {  // a last kExit the socket had no room for
    fcntl(conns_[static_cast<size_t>(reader_)].fd.get(), F_SETFL, 0);
    Flush(static_cast<size_t>(reader_));
  }
}

}  // namespace

uint64_t ProcessStartTime(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return 0;
  p += 2;
  for (int field = 3; field < 22 && *p; ++p) {
    if (*p == ' ') ++field;
  }
  return strtoull(p, nullptr, 10);
}

namespace {

// A flat JSON object printed field by field, as protobuf prints one (no spaces, "}\n").
class JsonObject {
 public:
  void Field(const char* name, const std::string& value) {
    out_ += out_.size() > 1 ? ",\"" : "\"";
    out_ += name;
    out_ += "\":";
    out_ += value;
  }
  std::string Done() { return out_ + "}\n"; }

 private:
  std::string out_ = "{";
};

}  // namespace

std::string ExitStatusJson(bool exited, int code, int signal) {
  JsonObject o;
  if (exited) o.Field("exited", "true");
  if (code != 0) o.Field("code", std::to_string(code));
  if (signal != 0) o.Field("signal", std::to_string(signal));
  return o.Done();
}

std::string ProcessJson(int pid, int keeper_pid, uint64_t keeper_start_time,
                        const std::string& dir, bool tty) {
  JsonObject o;
  auto field = [&o](const char* name, const std::string& value) { o.Field(name, value); };
  if (pid != 0) field("pid", std::to_string(pid));
  if (keeper_pid != 0) field("keeper_pid", std::to_string(keeper_pid));
  if (keeper_start_time != 0) field("keeper_start_time", "\"" + std::to_string(keeper_start_time) + "\"");
  if (!dir.empty()) {
    std::string quoted;
    AppendJsonString(&quoted, dir);
    field("dir", quoted);
  }
  if (tty) field("tty", "true");
  return o.Done();
}

int RunKeeper(const KeeperOptions& o) {
  signal(SIGPIPE, SIG_IGN);
  std::string socket_path = o.dir + "/attach.sock";
  auto report = [&o](const std::string& line) {
    (void)!write(o.report_fd, line.data(), line.size());
    close(o.report_fd);
  };
  Keeper k(o);
  const char* what = "";
  int err = k.Start(&what);
  if (err == 0) {
    // process.json before "ok", so that whoever reads "ok" finds it.
    pid_t self = getpid();
    if (!WriteAtomic(o.dir, "process.json",
                     ProcessJson(k.pid(), self, ProcessStartTime(self), o.dir, o.tty))) {
      err = errno != 0 ? errno : EIO;
      what = "write process.json";
      kill(k.pid(), SIGKILL);
      int status;
      waitpid(k.pid(), &status, 0);
    }
  }
  if (err != 0) {
    report("ERR " + std::to_string(err) + " " + what + "\n");
    unlink(socket_path.c_str());
    return 1;
  }
  report("ok\n");
  k.Loop();
  unlink(socket_path.c_str());
  return 0;
}

}  // namespace gdn::attach
