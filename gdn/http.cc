#include "gdn/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gdn::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::atomic<int> g_connections{0};

std::string Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) && absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void SetTimeouts(int fd, int seconds) {
  struct timeval tv = {seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Matches "/a/:x/b" against a path; fills params.
bool Match(const std::string& pattern, const std::vector<std::string>& segments,
           std::map<std::string, std::string>* params) {
  std::vector<std::string> want = absl::StrSplit(pattern, '/', absl::SkipEmpty());
  if (want.size() != segments.size()) return false;
  std::map<std::string, std::string> got;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i][0] == ':') {
      if (segments[i].empty()) return false;
      got[want[i].substr(1)] = segments[i];
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  *params = std::move(got);
  return true;
}

class SocketConn : public Conn {
 public:
  SocketConn(int fd, beast::flat_buffer* leftover) : fd_(fd), leftover_(leftover) {}
  long Read(char* buf, size_t n) override {
    if (leftover_ != nullptr && leftover_->size() > 0) {
      size_t k = std::min(n, leftover_->size());
      asio::buffer_copy(asio::buffer(buf, k), leftover_->data());
      leftover_->consume(k);
      return static_cast<long>(k);
    }
    for (;;) {
      ssize_t r = read(fd_, buf, n);
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  bool Write(const std::string& data) override {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t w = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
    return true;
  }
  void Close() override {
    if (closed_) return;
    closed_ = true;
    shutdown(fd_, SHUT_RDWR);
  }
  int fd() const override { return fd_; }

 private:
  int fd_;
  beast::flat_buffer* leftover_;
  bool closed_ = false;
};

std::string StatusText(int status) {
  return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

template <class Socket>
void Session(Socket socket, const ServerOptions& o, const std::vector<Route>& routes) {
  int fd = socket.native_handle();
  SetTimeouts(fd, o.idle_seconds);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
    // Bounded by us: whole bodies by max_body_bytes below, streamed ones by their handler.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::error_code ec;
    http::read_header(socket, buffer, parser, ec);
    if (ec) {
      if (getenv("GDN_HTTP_DEBUG") != nullptr) fprintf(stderr, "gdn: read_header: %s\n", ec.message().c_str());
      break;
    }
    const auto& h = parser.get();
    Request req;
    req.method = std::string(h.method_string());
    std::string target(h.target());
    size_t q = target.find('?');
    req.path = Unescape(target.substr(0, q));
    if (q != std::string::npos) {
      for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
        size_t eq = kv.find('=');
        std::string k = Unescape(kv.substr(0, eq));
        std::string v = eq == absl::string_view::npos ? "" : Unescape(kv.substr(eq + 1));
        req.query.emplace(k, v);  // the first value wins, as Go's Get does
      }
    }
    req.content_type = std::string(h[http::field::content_type]);
    req.keep_alive = h.keep_alive();

    std::vector<std::string> segments = absl::StrSplit(target.substr(0, q), '/', absl::SkipEmpty());
    for (std::string& s : segments) s = Unescape(s);
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;
    for (const Route& r : routes) {
      std::map<std::string, std::string> p;
      if (!Match(r.pattern, segments, &p)) continue;
      if (r.method == req.method) {
        route = &r;
        params = std::move(p);
        break;
      }
      allowed.push_back(r.method);
    }
    // The body: whole (bounded) for ordinary routes; pulled by the handler for streams.
    auto read_body = [&](char* out, size_t n) -> long {
      if (parser.is_done()) return 0;
      parser.get().body().data = out;
      parser.get().body().size = n;
      beast::error_code e;
      http::read(socket, buffer, parser, e);
      if (e == http::error::need_buffer) e = {};
      if (e) {
        if (getenv("GDN_HTTP_DEBUG") != nullptr) fprintf(stderr, "gdn: read body: %s\n", e.message().c_str());
        return -1;
      }
      return static_cast<long>(n - parser.get().body().size);
    };
    Reply reply;
    bool body_failed = false;
    if (route != nullptr && !route->stream_body) {
      char chunk[16384];
      for (;;) {
        long n = read_body(chunk, sizeof chunk);
        if (n < 0) {
          body_failed = true;
          break;
        }
        if (n == 0 && parser.is_done()) break;
        req.body.append(chunk, static_cast<size_t>(n));
        if (req.body.size() > o.max_body_bytes) {
          body_failed = true;
          break;
        }
      }
    }
    if (body_failed) {
      reply.response.status = 413;
      reply.response.content_type = "text/plain; charset=utf-8";
      reply.response.body = "request body too large or unreadable\n";
      req.keep_alive = false;
    } else if (route == nullptr && allowed.empty()) {
      reply.response.status = 404;
      reply.response.content_type = "text/plain; charset=utf-8";
      reply.response.headers.push_back({"X-Content-Type-Options", "nosniff"});
      reply.response.body = "404 page not found\n";
    } else if (route == nullptr) {
      reply.response.status = 405;
      reply.response.content_type = "text/plain; charset=utf-8";
      reply.response.headers.push_back({"Allow", absl::StrJoin(allowed, ", ")});
      reply.response.body = "Method Not Allowed\n";
    } else {
      auto began = std::chrono::steady_clock::now();
      reply = route->handler(req, params, read_body);
      if (o.log_requests) {
        fprintf(stderr, "gdn: %s %s: %d in %.1f ms\n", req.method.c_str(),
                req.path.c_str(), reply.hijack ? 0 : reply.response.status,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
      }
      // A streamed body the handler left unread is drained, so the connection stays usable.
      if (route->stream_body && !parser.is_done()) {
        char sink[16384];
        while (read_body(sink, sizeof sink) > 0) {
        }
        if (!parser.is_done()) req.keep_alive = false;
      }
    }
    if (reply.hijack) {
      SetTimeouts(fd, 0);
      SocketConn conn(fd, &buffer);
      reply.hijack(conn);
      conn.Close();
      break;
    }
    const Response& r = reply.response;
    std::string head = absl::StrCat("HTTP/1.1 ", r.status, " ", StatusText(r.status), "\r\n");
    if (!r.content_type.empty()) absl::StrAppend(&head, "Content-Type: ", r.content_type, "\r\n");
    absl::StrAppend(&head, "Date: ", HttpDate(), "\r\n");
    for (const auto& [k, v] : r.headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
    absl::StrAppend(&head, "Content-Length: ", r.body.size(), "\r\n");
    if (!req.keep_alive) absl::StrAppend(&head, "Connection: close\r\n");
    absl::StrAppend(&head, "\r\n");
    SocketConn conn(fd, nullptr);
    if (!conn.Write(head + r.body) || !req.keep_alive) break;
  }
  beast::error_code ignored;
  socket.shutdown(asio::socket_base::shutdown_both, ignored);
}

template <class Acceptor>
void AcceptLoop(Acceptor& acceptor, const ServerOptions& o, const std::vector<Route>& routes) {
  for (;;) {
    beast::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec) {
      if (ec == asio::error::interrupted) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (g_connections.load() >= o.max_connections) {
      socket.close(ec);
      continue;
    }
    ++g_connections;
    std::thread([s = std::move(socket), &o, &routes]() mutable {
      Session(std::move(s), o, routes);
      --g_connections;
    }).detach();
  }
}

}  // namespace

std::string HttpDate() {
  char buf[64];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

absl::Status Serve(const ServerOptions& o, const std::vector<Route>& routes,
                   const std::function<void()>& on_listening) {
  asio::io_context io;
  try {
    if (!o.bind_ip.empty()) {
      asio::ip::tcp::endpoint at(asio::ip::make_address(o.bind_ip), static_cast<unsigned short>(o.bind_port));
      asio::ip::tcp::acceptor acceptor(io, at, /*reuse_address=*/true);
      if (on_listening) on_listening();
      AcceptLoop(acceptor, o, routes);
    } else {
      // A stale socket file from an earlier run goes; the new one is the owner's alone.
      unlink(o.socket_path.c_str());
      mode_t old = umask(0177);
      asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(o.socket_path));
      umask(old);
      chmod(o.socket_path.c_str(), 0600);
      if (on_listening) on_listening();
      AcceptLoop(acceptor, o, routes);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", o.bind_ip.empty() ? o.socket_path : absl::StrCat(o.bind_ip, ":", o.bind_port), ": ",
        e.what()));
  }
  return absl::OkStatus();
}

}  // namespace gdn::server
