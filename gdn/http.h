// The HTTP side of `gdn server`: Boost.Beast over a unix socket (mode 0600) or TCP, one
// thread per connection, with bounded headers, bodies and idle time. A handler answers a
// request with a Response, or takes the connection over after the headers (Garden's process
// streams are raw bytes after a 200/201 header block, GARDEN_API.md 1.6).
#ifndef GDN_GDN_HTTP_H_
#define GDN_GDN_HTTP_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gdn::server {

struct Request {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // first value of each parameter, unescaped
  std::string content_type;
  std::string body;                            // whole, for ordinary routes
  bool keep_alive = true;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A connection taken over after its request's headers: raw reads and writes, with whatever
// the HTTP reader had buffered past the request delivered first.
class Conn {
 public:
  virtual ~Conn() = default;
  // Up to n bytes; 0 at EOF; -1 on error.
  virtual long Read(char* buf, size_t n) = 0;
  virtual bool Write(const std::string& data) = 0;
  // Shuts the sending side (the peer sees EOF) and then the whole socket.
  virtual void Close() = 0;
  // The socket, for poll().
  virtual int fd() const = 0;
};

// A route's answer: a response, or a function that takes the connection over (it writes its
// own status line and headers).
struct Reply {
  Response response;
  std::function<void(Conn&)> hijack;
  // For a request whose body streams (StreamIn): reads the body as it arrives.
};

struct Route {
  std::string method;
  std::string pattern;  // "/containers/:handle/info": ":x" matches one segment
  // Streams its body through `body` (chunked StreamIn tar) instead of reading it whole.
  bool stream_body = false;
  std::function<Reply(const Request&, const std::map<std::string, std::string>& params,
                      const std::function<long(char*, size_t)>& body)> handler;
};

struct ServerOptions {
  std::string socket_path;  // used when bind_ip is empty
  std::string bind_ip;
  int bind_port = 7777;
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 16 << 20;
  int idle_seconds = 60;
  int max_connections = 2048;
  bool log_requests = false;  // each request's method, path, status and time on stderr
};

// Listens and serves until the process ends. Fails if it cannot listen.
absl::Status Serve(const ServerOptions& options, const std::vector<Route>& routes,
                   const std::function<void()>& on_listening = nullptr);

// "Sat, 28 Nov 2026 15:00:11 GMT", as Go writes the Date header.
std::string HttpDate();

}  // namespace gdn::server

#endif  // GDN_GDN_HTTP_H_
