// gaol: a Garden client with gaol's commands and flags (GARDEN_API.md 2). It speaks only the
// wire protocol, so it works against Garden too.
//
//   gaol [-t ADDR] ping | create [-n H] [-r URI] [-e K=V]... [-g DUR] [-m SRC:DST[:ro|rw]]...
//        [--username U --password P] [--network N] [-p]
//      | destroy H... | list [-p K=V]... [-v] | info H | properties H [-j]
//      | run H [-a] [-c CMD] [-d DIR] [-u USER] [-e K=V]... | attach H -p PID
//      | set-gracetime H -g DUR | stream-in H -d DEST [-u U] | stream-out H -s SRC [-u U]
//      | shell H [-u USER]
//      | net-in H -p PORT | net-out H -p tcp|udp --ip-start A --ip-end B --port-start N --port-end M
// ADDR (-t, $GAOL_TARGET, default 127.0.0.1:7777) is a unix socket when it names a file.
// Errors: "error: <message>" on stderr, exit 1; `run -a` exits with the process's status.
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gdn/duration.h"
#include "lib/cli.h"
#include "lib/fd.h"
#include "lib/status.h"
#include "nlohmann/json.hpp"

namespace gdn::gaol {
namespace {

using Json = nlohmann::ordered_json;

struct Target {
  std::string address;
  bool unix_socket = false;
};

// One connection, read through a small buffer so headers and raw bytes can follow each other.
class Connection {
 public:
  static absl::StatusOr<Connection> Dial(const Target& t) {
    int fd = -1;
    if (t.unix_socket) {
      fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un sa = {};
      sa.sun_family = AF_UNIX;
      snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t.address.c_str());
      if (connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
        close(fd);
        return absl::UnavailableError(absl::StrCat("dial unix ", t.address, ": ", strerror(errno)));
      }
    } else {
      size_t colon = t.address.rfind(':');
      std::string host = t.address.substr(0, colon), port = t.address.substr(colon + 1);
      struct addrinfo hints = {}, *res = nullptr;
      hints.ai_socktype = SOCK_STREAM;
      if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
        return absl::UnavailableError(absl::StrCat("dial tcp ", t.address, ": no such host"));
      }
      fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int rc = connect(fd, res->ai_addr, res->ai_addrlen);
      freeaddrinfo(res);
      if (rc != 0) {
        close(fd);
        return absl::UnavailableError(absl::StrCat("dial tcp ", t.address, ": ", strerror(errno)));
      }
    }
    return Connection(fd);
  }
  Connection(Connection&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }
  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // A line without its \r\n; false at EOF.
  bool Line(std::string* line) {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        *line = buf_.substr(0, nl);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        buf_.erase(0, nl + 1);
        return true;
      }
      if (!Fill()) return false;
    }
  }
  // Up to n bytes: the buffer first, then the socket. 0 at EOF.
  long Read(char* out, size_t n) {
    if (!buf_.empty()) {
      size_t k = std::min(n, buf_.size());
      memcpy(out, buf_.data(), k);
      buf_.erase(0, k);
      return static_cast<long>(k);
    }
    ssize_t r = read(fd_, out, n);
    return static_cast<long>(r);
  }
  std::string ReadExactly(size_t n) {
    std::string out;
    char b[65536];
    while (out.size() < n) {
      long r = Read(b, std::min(sizeof b, n - out.size()));
      if (r <= 0) break;
      out.append(b, static_cast<size_t>(r));
    }
    return out;
  }
  std::string ReadToEnd() {
    std::string out;
    char b[65536];
    long r;
    while ((r = Read(b, sizeof b)) > 0) out.append(b, static_cast<size_t>(r));
    return out;
  }

 private:
  explicit Connection(int fd) : fd_(fd) {}
  bool Fill() {
    char b[4096];
    ssize_t n = read(fd_, b, sizeof b);
    if (n <= 0) return false;
    buf_.append(b, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buf_;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

absl::StatusOr<HttpResponse> ReadHead(Connection& c) {
  HttpResponse r;
  std::string line;
  if (!c.Line(&line)) return absl::UnavailableError("the server closed the connection");
  std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &r.status)) {
    return absl::InternalError(absl::StrCat("bad response: ", line));
  }
  while (c.Line(&line) && !line.empty()) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    r.headers.push_back({absl::AsciiStrToLower(line.substr(0, colon)),
                         std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)))});
  }
  return r;
}

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

// Reads a whole body: Content-Length, chunked, or until close.
void ReadBody(Connection& c, HttpResponse* r) {
  std::string length = Header(*r, "content-length");
  if (!length.empty()) {
    size_t n = 0;
    (void)absl::SimpleAtoi(length, &n);
    r->body = c.ReadExactly(n);
  } else if (absl::EqualsIgnoreCase(Header(*r, "transfer-encoding"), "chunked")) {
    std::string line;
    while (c.Line(&line)) {
      size_t n = std::stoul(line, nullptr, 16);
      if (n == 0) break;
      r->body += c.ReadExactly(n);
      c.Line(&line);
    }
  } else {
    r->body = c.ReadToEnd();
  }
}

std::string Request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json", bool close = true) {
  std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: api\r\nUser-Agent: gaol\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    absl::StrAppend(&head, "Content-Type: ", content_type, "\r\nContent-Length: ", body.size(), "\r\n");
  }
  if (close) absl::StrAppend(&head, "Connection: close\r\n");
  return head + "\r\n" + body;
}

// Garden's error body as the Go client rebuilds it (GARDEN_API.md 1.2).
absl::Status GardenFailure(const HttpResponse& r) {
  Json e = Json::parse(r.body, nullptr, false);
  if (!e.is_object()) return absl::InternalError(absl::StrCat("bad response: ", r.body));
  std::string type = e.value("Type", "");
  if (type == "ContainerNotFoundError") return absl::NotFoundError("unknown handle: " + e.value("Handle", ""));
  if (type == "ProcessNotFoundError") return absl::NotFoundError("unknown process: " + e.value("ProcessID", ""));
  return absl::InternalError(e.value("Message", ""));
}

absl::StatusOr<Json> Call(const Target& t, const std::string& method, const std::string& path,
                          const std::string& body = "") {
  ASSIGN_OR_RETURN(Connection c, Connection::Dial(t));
  if (!c.Send(Request(method, path, body))) return absl::UnavailableError("cannot send the request");
  ASSIGN_OR_RETURN(HttpResponse r, ReadHead(c));
  ReadBody(c, &r);
  if (r.status < 200 || r.status > 299) return GardenFailure(r);
  Json j = Json::parse(r.body, nullptr, false);
  return j.is_discarded() ? Json::object() : j;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(ch, absl::kZeroPad2));
    }
  }
  return out;
}

// Go's client does a List before anything that names a container.
absl::Status Lookup(const Target& t, const std::string& handle) {
  ASSIGN_OR_RETURN(Json list, Call(t, "GET", "/containers"));
  for (const Json& h : list.value("Handles", Json::array())) {
    if (h == handle) return absl::OkStatus();
  }
  return absl::NotFoundError("unknown handle: " + handle);
}

// shellwords: quotes and backslashes, as gaol splits -c.
std::vector<std::string> ShellWords(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        cur.push_back(s[++i]);
      } else {
        cur.push_back(c);
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(s[++i]);
      in_word = true;
    } else if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

// Streams a process: stdin from ours, its output to ours, until its exit frame and both
// output streams have ended. Returns its exit status.
// Frames to the control connection come from more than one thread.
std::mutex g_control_mu;
bool SendControl(int fd, const Json& frame) {
  std::string s = frame.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> l(g_control_mu);
  return send(fd, s.data(), s.size(), MSG_NOSIGNAL) > 0;
}

absl::StatusOr<int> Stream(const Target& t, Connection& control, const std::string& handle, bool forward_stdin,
                           bool tty = false) {
  std::string line;
  if (!control.Line(&line)) return absl::UnavailableError("the server closed the process stream");
  Json first = Json::parse(line, nullptr, false);
  std::string pid = first.value("process_id", ""), sid = first.value("stream_id", "");
  auto output = [&](const char* which, int fd) {
    absl::StatusOr<Connection> c = Connection::Dial(t);
    if (!c.ok()) return;
    c->Send(Request("GET", absl::StrCat("/containers/", handle, "/processes/", pid, "/attaches/", sid, "/", which), "",
                    "application/json", false));
    absl::StatusOr<HttpResponse> head = ReadHead(*c);
    if (!head.ok()) return;
    char b[65536];
    long n;
    while ((n = c->Read(b, sizeof b)) > 0) (void)WriteAll(fd, absl::string_view(b, static_cast<size_t>(n)));
  };
  std::thread out(output, "stdout", STDOUT_FILENO), err(output, "stderr", STDERR_FILENO);
  std::thread in;
  if (forward_stdin) {
    int control_fd = control.fd();
    in = std::thread([control_fd, pid] {
      char b[32768];
      ssize_t n;
      while ((n = read(STDIN_FILENO, b, sizeof b)) > 0) {
        Json f = {{"process_id", pid}, {"source", 0}, {"data", std::string(b, static_cast<size_t>(n))}};
        if (!SendControl(control_fd, f)) return;
      }
      SendControl(control_fd, Json({{"process_id", pid}, {"source", 0}}));
    });
    in.detach();
  }
  if (tty) {
    // The terminal's size follows the window: a frame for each SIGWINCH (blocked in every
    // thread by the caller, taken here).
    int control_fd = control.fd();
    std::thread([control_fd, pid] {
      sigset_t winch;
      sigemptyset(&winch);
      sigaddset(&winch, SIGWINCH);
      int sig;
      while (sigwait(&winch, &sig) == 0) {
        struct winsize ws = {};
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) != 0) continue;
        Json f = {{"process_id", pid}, {"tty", {{"window_size", {{"columns", ws.ws_col}, {"rows", ws.ws_row}}}}}};
        if (!SendControl(control_fd, f)) return;
      }
    }).detach();
  }
  int code = 0;
  std::string error;
  while (control.Line(&line)) {
    Json f = Json::parse(line, nullptr, false);
    if (!f.is_object()) continue;
    if (f.contains("exit_status")) code = f["exit_status"].get<int>();
    if (f.contains("error")) error = f["error"].get<std::string>();
  }
  out.join();
  err.join();
  if (!error.empty()) return absl::InternalError("connection: process error: " + error);
  return code;
}

absl::StatusOr<int> Main(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(ParsedFlags global, ParseFlags(args, {{"target", 't'}}, true));
  Target t;
  t.address = global.Get("target", getenv("GAOL_TARGET") != nullptr ? getenv("GAOL_TARGET") : "127.0.0.1:7777");
  struct stat st;
  t.unix_socket = stat(t.address.c_str(), &st) == 0;
  if (global.positional.empty()) return absl::InvalidArgumentError("no command given");
  std::string cmd = global.positional[0];
  std::vector<std::string> rest(global.positional.begin() + 1, global.positional.end());
  auto handle_of = [](const ParsedFlags& f) -> absl::StatusOr<std::string> {
    if (f.positional.empty()) return absl::InvalidArgumentError("a container handle is required");
    return f.positional[0];
  };
  if (cmd == "ping") {
    RETURN_IF_ERROR(Call(t, "GET", "/ping").status());
    return 0;
  }
  if (cmd == "create") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"handle", 'n'}, {"rootfs", 'r'}, {"username"}, {"password"},
                                                      {"env", 'e'}, {"grace", 'g'}, {"privileged", 'p', false},
                                                      {"network"}, {"bind-mount", 'm'}},
                                               false));
    Json spec = Json::object();
    if (f.Has("handle")) spec["handle"] = f.Get("handle");
    if (f.Has("grace")) {
      int64_t ns;
      if (!server::ParseDuration(f.Get("grace"), &ns)) return absl::InvalidArgumentError("invalid duration " + f.Get("grace"));
      spec["grace_time"] = ns;
    }
    Json image = Json::object();
    if (f.Has("rootfs")) image["uri"] = f.Get("rootfs");
    if (f.Has("username")) image["username"] = f.Get("username");
    if (f.Has("password")) image["password"] = f.Get("password");
    spec["image"] = image;
    for (const std::string& m : f.All("bind-mount")) {
      std::vector<std::string> p = absl::StrSplit(m, ':');
      if (p.size() < 2) return absl::InvalidArgumentError("bind mounts are SRC:DST[:ro|rw]");
      Json b = {{"src_path", p[0]}, {"dst_path", p[1]}};
      if (p.size() < 3 || p[2] == "rw") b["mode"] = 1;
      spec["bind_mounts"].push_back(b);
    }
    if (f.Has("network")) spec["network"] = f.Get("network");
    if (f.Has("env")) spec["env"] = f.All("env");
    if (f.Bool("privileged")) spec["privileged"] = true;
    spec["limits"] = {{"bandwidth_limits", Json::object()}, {"cpu_limits", Json::object()},
                      {"disk_limits", Json::object()}, {"memory_limits", Json::object()},
                      {"pid_limits", Json::object()}};
    ASSIGN_OR_RETURN(Json r, Call(t, "POST", "/containers", spec.dump() + "\n"));
    printf("%s\n", r.value("Handle", "").c_str());
    return 0;
  }
  if (cmd == "destroy") {
    for (const std::string& h : rest) RETURN_IF_ERROR(Call(t, "DELETE", "/containers/" + h).status());
    return 0;
  }
  if (cmd == "list") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"properties", 'p'}, {"verbose", 'v', false}, {"separator"}}, false));
    std::string query;
    for (const std::string& kv : f.All("properties")) {
      size_t eq = kv.find('=');
      absl::StrAppend(&query, query.empty() ? "?" : "&", Escape(kv.substr(0, eq)), "=",
                      eq == std::string::npos ? "" : Escape(kv.substr(eq + 1)));
    }
    ASSIGN_OR_RETURN(Json r, Call(t, "GET", "/containers" + query));
    for (const Json& h : r.value("Handles", Json::array())) {
      printf("%s\n", h.get<std::string>().c_str());
      if (f.Bool("verbose")) {
        ASSIGN_OR_RETURN(Json p, Call(t, "GET", absl::StrCat("/containers/", h.get<std::string>(), "/properties")));
        for (auto it = p.begin(); it != p.end(); ++it) printf("  %s=%s\n", it.key().c_str(), it->get<std::string>().c_str());
      }
    }
    return 0;
  }
  if (cmd == "properties" || cmd == "info") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"json", 'j', false}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Json p, Call(t, "GET", absl::StrCat("/containers/", h, cmd == "info" ? "/info" : "/properties")));
    if (cmd == "info" || f.Bool("json")) {
      printf("%s\n", p.dump(2).c_str());
    } else {
      for (auto it = p.begin(); it != p.end(); ++it) printf("%s\t%s\n", it.key().c_str(), it->get<std::string>().c_str());
    }
    return 0;
  }
  if (cmd == "set-gracetime") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"grace", 'g'}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    int64_t ns;
    if (!server::ParseDuration(f.Get("grace"), &ns)) return absl::InvalidArgumentError("invalid duration " + f.Get("grace"));
    RETURN_IF_ERROR(Lookup(t, h));
    RETURN_IF_ERROR(Call(t, "PUT", absl::StrCat("/containers/", h, "/grace_time"), absl::StrCat(ns, "\n")).status());
    return 0;
  }
  if (cmd == "stream-in") {
    // stdin (a tar) as a chunked body, as Go's client streams it.
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"destination", 'd'}, {"user", 'u'}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    if (!f.Has("destination")) return absl::InvalidArgumentError("-d/--destination is required");
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Connection c, Connection::Dial(t));
    std::string head = absl::StrCat("PUT /containers/", h, "/files?destination=", Escape(f.Get("destination")),
                                    "&user=", Escape(f.Get("user")),
                                    " HTTP/1.1\r\nHost: api\r\nUser-Agent: gaol\r\nContent-Type: "
                                    "application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
                                    "Connection: close\r\n\r\n");
    if (!c.Send(head)) return absl::UnavailableError("cannot send the request");
    char buf[65536];
    for (;;) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!c.Send(absl::StrCat(absl::Hex(n), "\r\n", absl::string_view(buf, static_cast<size_t>(n)), "\r\n"))) break;
    }
    c.Send("0\r\n\r\n");
    ASSIGN_OR_RETURN(HttpResponse r, ReadHead(c));
    ReadBody(c, &r);
    if (r.status < 200 || r.status > 299) return GardenFailure(r);
    return 0;
  }
  if (cmd == "stream-out") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"source", 's'}, {"user", 'u'}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    if (!f.Has("source")) return absl::InvalidArgumentError("-s/--source is required");
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Connection c, Connection::Dial(t));
    if (!c.Send(Request("GET", absl::StrCat("/containers/", h, "/files?source=", Escape(f.Get("source")),
                                            "&user=", Escape(f.Get("user"))), ""))) {
      return absl::UnavailableError("cannot send the request");
    }
    ASSIGN_OR_RETURN(HttpResponse r, ReadHead(c));
    if (r.status < 200 || r.status > 299) {
      ReadBody(c, &r);
      return GardenFailure(r);
    }
    // The tar to stdout as it comes, chunk by chunk.
    std::string line;
    while (c.Line(&line)) {
      size_t n = 0;
      if (!absl::SimpleHexAtoi(line, &n)) {
        return absl::InternalError("bad chunk in the server's answer");
      }
      if (n == 0) return 0;
      std::string data = c.ReadExactly(n);
      if (data.size() != n || !WriteAll(STDOUT_FILENO, data).ok()) break;
      c.Line(&line);
    }
    return absl::DataLossError("the stream ended early");
  }
  if (cmd == "net-out") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"protocol", 'p'}, {"ip-start"}, {"ip-end"}, {"port-start"}, {"port-end"}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    int proto = f.Get("protocol") == "tcp" ? 1 : f.Get("protocol") == "udp" ? 2 : 0;
    if (proto == 0) return absl::InvalidArgumentError("--protocol is tcp or udp");
    int ps = 0, pe = 0;
    (void)absl::SimpleAtoi(f.Get("port-start"), &ps);
    (void)absl::SimpleAtoi(f.Get("port-end"), &pe);
    Json rule = {{"protocol", proto}, {"networks", {{{"start", f.Get("ip-start")}, {"end", f.Get("ip-end")}}}},
                 {"ports", {{{"start", ps}, {"end", pe}}}}};
    RETURN_IF_ERROR(Lookup(t, h));
    RETURN_IF_ERROR(Call(t, "POST", absl::StrCat("/containers/", h, "/net/out"), rule.dump() + "\n").status());
    printf("applied\n");
    return 0;
  }
  if (cmd == "net-in") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"port", 'p'}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    int port = 0;
    (void)absl::SimpleAtoi(f.Get("port"), &port);
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Json r, Call(t, "POST", absl::StrCat("/containers/", h, "/net/in"),
                                  Json({{"handle", h}, {"container_port", port}}).dump() + "\n"));
    std::string host = t.unix_socket ? "127.0.0.1" : t.address.substr(0, t.address.rfind(':'));
    printf("%s:%d\n", host.c_str(), r.value("host_port", 0));
    return 0;
  }
  if (cmd == "shell") {
    // An interactive login shell on this terminal, raw, its size kept in step.
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"user", 'u'}}, false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    struct termios saved;
    struct winsize ws = {};
    if (tcgetattr(STDIN_FILENO, &saved) != 0 || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) != 0) {
      return absl::InvalidArgumentError("gaol shell needs a terminal on its standard input");
    }
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Connection c, Connection::Dial(t));
    const char* term = getenv("TERM");
    Json spec = {{"path", "/bin/sh"}, {"args", {"-l"}}, {"env", {absl::StrCat("TERM=", term != nullptr ? term : "")}},
                 {"user", f.Get("user", "root")},
                 {"tty", {{"window_size", {{"columns", ws.ws_col}, {"rows", ws.ws_row}}}}}};
    c.Send(Request("POST", absl::StrCat("/containers/", h, "/processes"), spec.dump() + "\n", "application/json", false));
    ASSIGN_OR_RETURN(HttpResponse head, ReadHead(c));
    if (head.status < 200 || head.status > 299) {
      ReadBody(c, &head);
      return GardenFailure(head);
    }
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &winch, nullptr);
    struct termios raw = saved;
    cfmakeraw(&raw);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    absl::StatusOr<int> code = Stream(t, c, h, true, true);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return code;
  }
  if (cmd == "run" || cmd == "attach") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"attach", 'a', false}, {"dir", 'd'}, {"user", 'u'}, {"command", 'c'},
                                                      {"env", 'e'}, {"image", 'i'}, {"pid", 'p'}},
                                               false));
    ASSIGN_OR_RETURN(std::string h, handle_of(f));
    RETURN_IF_ERROR(Lookup(t, h));
    ASSIGN_OR_RETURN(Connection c, Connection::Dial(t));
    if (cmd == "run") {
      std::vector<std::string> words = ShellWords(f.Get("command"));
      Json spec = Json::object();
      if (!words.empty()) spec["path"] = words[0];
      if (words.size() > 1) spec["args"] = std::vector<std::string>(words.begin() + 1, words.end());
      if (f.Has("dir")) spec["dir"] = f.Get("dir");
      spec["user"] = f.Get("user", "root");
      if (f.Has("env")) spec["env"] = f.All("env");
      spec["rlimits"] = Json::object();
      spec["image"] = f.Has("image") ? Json({{"uri", f.Get("image")}}) : Json::object();
      c.Send(Request("POST", absl::StrCat("/containers/", h, "/processes"), spec.dump() + "\n", "application/json", false));
    } else {
      if (!f.Has("pid")) return absl::InvalidArgumentError("the required flag `-p, --pid' was not specified");
      c.Send(Request("GET", absl::StrCat("/containers/", h, "/processes/", f.Get("pid")), "", "application/json", false));
    }
    ASSIGN_OR_RETURN(HttpResponse head, ReadHead(c));
    if (head.status < 200 || head.status > 299) {
      ReadBody(c, &head);
      return GardenFailure(head);
    }
    if (cmd == "run" && !f.Bool("attach")) {
      std::string line;
      c.Line(&line);
      Json first = Json::parse(line, nullptr, false);
      printf("%s\n", first.value("process_id", "").c_str());
      return 0;
    }
    ASSIGN_OR_RETURN(int code, Stream(t, c, h, true));
    return cmd == "run" ? code : 0;
  }
  return absl::InvalidArgumentError(absl::StrCat("Unknown command `", cmd, "'"));
}

}  // namespace
}  // namespace gdn::gaol

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<int> r = gdn::gaol::Main(args);
  if (!r.ok()) {
    fprintf(stderr, "error: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  return *r;
}
