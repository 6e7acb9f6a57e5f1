#include "gdn/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "attach/client.h"
#include "lib/fd.h"

namespace gdn::server {
namespace {

Response JsonResponse(int status, const Json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  return r;
}

Json ErrorJson(const GardenError& e) {
  const char* type = "";
  switch (e.kind) {
    case ErrorKind::kContainerNotFound: type = "ContainerNotFoundError"; break;
    case ErrorKind::kProcessNotFound: type = "ProcessNotFoundError"; break;
    case ErrorKind::kExecutableNotFound: type = "ExecutableNotFoundError"; break;
    default: break;
  }
  return {{"Type", type}, {"Message", e.message}, {"Handle", e.handle}, {"ProcessID", e.process_id}, {"Binary", ""}};
}

Reply Error(const GardenError& e) {
  int status = e.kind == ErrorKind::kContainerNotFound || e.kind == ErrorKind::kProcessNotFound ? 404 : 500;
  return Reply{JsonResponse(status, ErrorJson(e)), nullptr};
}

Reply Error(const std::string& message) { return Error(GardenError{ErrorKind::kOther, message, "", ""}); }
Reply Ok(const Json& body = Json::object()) { return Reply{JsonResponse(200, body), nullptr}; }

// Go's decoder errors, roughly: what a client sees for a body that is not JSON.
bool ParseBody(const Request& req, Json* out, std::string* why) {
  if (req.body.empty()) {
    *why = "EOF";
    return false;
  }
  *out = Json::parse(req.body, nullptr, false);
  if (out->is_discarded()) {
    *why = "invalid character in JSON request body";
    return false;
  }
  return true;
}

// Output of one stream of one attachment, held for its reader (the stdout or stderr
// connection). Writers wait while 32 MiB are held: nothing is dropped.
class Queue {
 public:
  void Push(std::string s) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return bytes_ < (32u << 20) || abandoned_; });
    if (abandoned_) return;
    bytes_ += s.size();
    chunks_.push_back(std::move(s));
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The next chunk; false once closed and empty.
  bool Pop(std::string* s) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !chunks_.empty() || closed_; });
    if (chunks_.empty()) return false;
    *s = std::move(chunks_.front());
    chunks_.pop_front();
    bytes_ -= s->size();
    cv_.notify_all();
    return true;
  }
  // The reader went away: writers stop waiting.
  void Abandon() {
    std::lock_guard<std::mutex> l(mu_);
    abandoned_ = true;
    chunks_.clear();
    bytes_ = 0;
    cv_.notify_all();
  }
  bool taken = false;  // a reader has claimed it (single consumer)

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  size_t bytes_ = 0;
  bool closed_ = false, abandoned_ = false;
};

struct StreamSet {
  std::shared_ptr<Queue> out = std::make_shared<Queue>(), err = std::make_shared<Queue>();
  std::chrono::steady_clock::time_point ended{};
  bool done = false;
  // Called when a reader claims one of the queues: output starts to flow then, not before.
  std::function<void()> on_claim;
};

class Streams {
 public:
  std::string Add(std::shared_ptr<StreamSet> s) {
    std::lock_guard<std::mutex> l(mu_);
    // Streams stay a minute after their process's attachment ended (late readers), no more.
    auto now = std::chrono::steady_clock::now();
    for (auto it = sets_.begin(); it != sets_.end();) {
      if (it->second->done && now - it->second->ended > std::chrono::minutes(1)) {
        it = sets_.erase(it);
      } else {
        ++it;
      }
    }
    std::string id = std::to_string(++next_);
    sets_[id] = std::move(s);
    return id;
  }
  // The queue of stream `id`'s `which` (stdout/stderr), claimed for one reader.
  std::shared_ptr<Queue> Claim(const std::string& id, bool stdout) {
    std::function<void()> on_claim;
    std::shared_ptr<Queue> q;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = sets_.find(id);
      if (it == sets_.end()) return nullptr;
      q = stdout ? it->second->out : it->second->err;
      if (q->taken) return nullptr;
      q->taken = true;
      on_claim = it->second->on_claim;
    }
    if (on_claim) on_claim();
    return q;
  }
  void End(const std::shared_ptr<StreamSet>& s) {
    std::lock_guard<std::mutex> l(mu_);
    s->done = true;
    s->ended = std::chrono::steady_clock::now();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<StreamSet>> sets_;
  uint64_t next_ = 0;
};

Streams g_streams;

// One relay per process: the single reader of its keeper (attach connect), fanning the
// output out to every attachment of the process, so that several clients attached at once
// each get all of what it writes while they are (Garden lets several attach). It ends
// with the process, or when its last attachment leaves: then the keeper keeps what the
// process writes next for a later attach.
class Relay {
 public:
  // done_ becomes readable (and stays so) when the relay finishes: attachments wait on it
  // beside their control connection.
  explicit Relay(std::string dir) : dir_(std::move(dir)), done_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  int done_fd() const { return done_; }

  // Starts the reader (once): when a client reads the output or sends stdin, so that the
  // keeper keeps the output while nobody does. False if it cannot.
  bool Start() {
    std::lock_guard<std::mutex> l(mu_);
    if (started_) return true;
    absl::StatusOr<Pipe> in = MakePipe(), out = MakePipe(), err = MakePipe();
    if (!in.ok() || !out.ok() || !err.ok()) return false;
    started_ = true;
    in_w_ = in->write.Release();
    int out_r = out->read.Release(), err_r = err->read.Release();
    auto self = shared();
    pumps_ = 2;
    std::thread([self, out_r] { self->Pump(out_r, true); }).detach();
    std::thread([self, err_r] { self->Pump(err_r, false); }).detach();
    std::thread([self, in_r = in->read.Release(), out_w = out->write.Release(),
                 err_w = err->write.Release()] {
      attach::ConnectOptions o;
      o.dir = self->dir_;
      o.stdin = true;
      o.in_fd = in_r;
      o.out_fd = out_w;
      o.err_fd = err_w;
      absl::StatusOr<int> code = attach::Connect(o);
      close(in_r);
      close(out_w);
      close(err_w);
      std::lock_guard<std::mutex> l(self->mu_);
      self->code_ = code;
      self->connected_ = false;
      self->NotifyLocked();
    }).detach();
    return true;
  }

  void Subscribe(const std::shared_ptr<StreamSet>& set) {
    std::lock_guard<std::mutex> l(mu_);
    subscribers_.push_back(set);
  }
  // An attachment left before the end. Returns true when it was the last one.
  bool Unsubscribe(const std::shared_ptr<StreamSet>& set) {
    std::lock_guard<std::mutex> l(mu_);
    subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), set), subscribers_.end());
    if (!subscribers_.empty()) return false;
    // Nobody reads: the pumps stop, attach connect's next write fails, and what it could not
    // pass on stays unacknowledged with the keeper.
    stopping_ = true;
    return true;
  }
  // Stdin from any attachment goes to the process; the first end of it closes it.
  void Stdin(const std::string& data) {
    Start();
    std::lock_guard<std::mutex> l(mu_);
    if (in_w_ >= 0) (void)WriteAll(in_w_, data);
  }
  void CloseStdin() {
    Start();
    std::lock_guard<std::mutex> l(mu_);
    if (in_w_ >= 0) close(in_w_);
    in_w_ = -1;
  }
  bool Started() {
    std::lock_guard<std::mutex> l(mu_);
    return started_;
  }
  // Whether the process ended and all its output was handed to the subscribers.
  bool Finished() {
    std::lock_guard<std::mutex> l(mu_);
    return started_ && !connected_ && pumps_ == 0;
  }
  absl::StatusOr<int> Code() {
    std::lock_guard<std::mutex> l(mu_);
    return code_;
  }
  bool Usable() {
    std::lock_guard<std::mutex> l(mu_);
    return connected_ && !stopping_;
  }
  // Stops the pumps of a relay nobody reads any more (see Unsubscribe).
  bool stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stopping_;
  }
  ~Relay() {
    if (in_w_ >= 0) close(in_w_);
    if (done_ >= 0) close(done_);
  }

  std::shared_ptr<Relay> shared() { return self_.lock(); }
  std::weak_ptr<Relay> self_;

 private:
  // Reads one of the process's streams into every subscriber's queue until EOF.
  void Pump(int fd, bool out) {
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::vector<std::shared_ptr<StreamSet>> to;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_) break;
        to = subscribers_;
      }
      // Outside the lock: a full queue makes its writer wait (nothing is dropped), and
      // an attachment that leaves abandons its queue, which ends the wait.
      for (const auto& s : to) (out ? s->out : s->err)->Push(std::string(buf, static_cast<size_t>(n)));
    }
    close(fd);
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& s : subscribers_) (out ? s->out : s->err)->Close();
    --pumps_;
    NotifyLocked();
  }
  void NotifyLocked() {
    cv_.notify_all();
    if (started_ && !connected_ && pumps_ == 0 && done_ >= 0) {
      uint64_t one = 1;
      (void)!write(done_, &one, sizeof one);
    }
  }

  std::string dir_;
  int done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<StreamSet>> subscribers_;
  int in_w_ = -1;
  int pumps_ = 0;
  bool started_ = false, connected_ = true, stopping_ = false;
  absl::StatusOr<int> code_ = absl::UnknownError("not run");
};

std::mutex g_relays_mu;
std::map<std::string, std::shared_ptr<Relay>> g_relays;

// The relay of the process in `dir`, joined by `set`: the running one, or a new one.
std::shared_ptr<Relay> JoinRelay(const std::string& dir, const std::shared_ptr<StreamSet>& set) {
  std::lock_guard<std::mutex> l(g_relays_mu);
  auto it = g_relays.find(dir);
  if (it != g_relays.end() && it->second->Usable()) {
    it->second->Subscribe(set);
    return it->second;
  }
  auto relay = std::make_shared<Relay>(dir);
  relay->self_ = relay;
  relay->Subscribe(set);
  g_relays[dir] = relay;
  return relay;
}

void ForgetRelay(const std::string& dir, const std::shared_ptr<Relay>& relay) {
  std::lock_guard<std::mutex> l(g_relays_mu);
  auto it = g_relays.find(dir);
  if (it != g_relays.end() && it->second == relay) g_relays.erase(it);
}

// One attachment to a process: the control connection's whole life (GARDEN_API.md 1.6).
void Attachment(Conn& conn, int status, const std::string& dir, const std::string& id) {
  auto set = std::make_shared<StreamSet>();
  std::string stream_id = g_streams.Add(set);
  std::string head = absl::StrCat("HTTP/1.1 ", status, status == 201 ? " Created" : " OK",
                                  "\r\nContent-Type: application/json\r\nDate: ", HttpDate(),
                                  "\r\nTransfer-Encoding: chunked\r\n\r\n");
  Json first = {{"process_id", id}, {"stream_id", stream_id}};
  std::shared_ptr<Relay> relay;
  if (!conn.Write(head + first.dump() + "\n") || (relay = JoinRelay(dir, set)) == nullptr) {
    g_streams.End(set);
    set->out->Close();
    set->err->Close();
    return;
  }
  std::weak_ptr<Relay> weak = relay;
  set->on_claim = [weak] {
    if (auto r = weak.lock()) r->Start();
  };
  // Control frames from the client, until it closes, says stdin is done, or the process ends.
  std::string buffer;
  bool left = false;
  std::optional<int> exited;  // the process's status, when it ended with no reader started
  auto waited = std::chrono::steady_clock::time_point{};
  while (!relay->Finished()) {
    if (!relay->Started()) {
      // Nobody reads its output yet: the keeper holds it. Once the process has ended, a
      // second is left for the client's output streams to come; then its status is told.
      if (!exited.has_value()) {
        absl::StatusOr<attach::Status> st = attach::GetStatus(dir);
        if (st.ok() && st->has_exit_status()) {
          const auto& e = st->exit_status();
          exited = e.exited() ? e.code() : 128 + e.signal();
          waited = std::chrono::steady_clock::now();
        }
      } else if (std::chrono::steady_clock::now() - waited > std::chrono::seconds(1)) {
        break;
      }
    }
    struct pollfd p[2] = {{conn.fd(), POLLIN, 0}, {relay->done_fd(), POLLIN, 0}};
    int r = poll(p, relay->done_fd() >= 0 ? 2 : 1, 100);
    if (r <= 0 || (p[0].revents == 0)) continue;
    char buf[65536];
    long n = conn.Read(buf, sizeof buf);
    if (n <= 0) {
      left = true;  // the client went away: the process goes on
      break;
    }
    buffer.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      Json frame = Json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (!frame.is_object()) continue;
      auto get = [&](const char* k) { return Field(frame, k); };
      if (const Json* tty = get("tty"); tty != nullptr && tty->is_object()) {
        if (const Json* ws = Field(*tty, "window_size"); ws != nullptr) {
          (void)attach::Resize(dir, ws->value("rows", 24u), ws->value("columns", 80u));
        }
      } else if (get("source") != nullptr) {
        const Json* data = get("data");
        if (data != nullptr && data->is_string()) {
          relay->Stdin(data->get<std::string>());
        } else if (data == nullptr) {
          relay->CloseStdin();
        }
      } else if (const Json* sig = get("signal"); sig != nullptr && sig->is_number_integer()) {
        int s = sig->get<int>();
        if (s == 0 || s == 1) (void)attach::Signal(dir, s == 0 ? SIGTERM : SIGKILL);
      }
    }
  }
  if (!left) {
    absl::StatusOr<int> code = relay->Started() ? relay->Code() : absl::StatusOr<int>(exited.value_or(0));
    Json last = {{"process_id", id}};
    if (code.ok()) {
      last["exit_status"] = *code;
    } else {
      last["error"] = std::string(code.status().message());
    }
    conn.Write(last.dump() + "\n");
    if (!relay->Started()) {
      // Its output stays with the keeper for a later attach: these streams just end.
      set->out->Close();
      set->err->Close();
    }
    ForgetRelay(dir, relay);
  } else {
    // The client left first. Its streams stop; the others' go on. Like Garden, its end
    // ends the process's stdin.
    set->out->Abandon();
    set->err->Abandon();
    if (relay->Started()) relay->CloseStdin();
    if (relay->Unsubscribe(set)) ForgetRelay(dir, relay);
  }
  g_streams.End(set);
}

// A stdout/stderr connection: raw bytes until the stream ends.
void OutputStream(Conn& conn, const std::string& stream_id, bool stdout) {
  std::string head = absl::StrCat("HTTP/1.1 200 OK\r\nDate: ", HttpDate(), "\r\nTransfer-Encoding: chunked\r\n\r\n");
  if (!conn.Write(head)) return;
  std::shared_ptr<Queue> q = g_streams.Claim(stream_id, stdout);
  if (q == nullptr) return;  // unknown, or already read by someone: an immediate end
  std::string chunk;
  while (q->Pop(&chunk)) {
    if (!conn.Write(chunk)) {
      q->Abandon();
      return;
    }
  }
}

// Garden's grace-time reaper (GARDEN_API.md 1.8): a container with a grace time is destroyed
// when that long has passed with no request about it in flight; requests pause the count.
class Reaper {
 public:
  explicit Reaper(Backend* b) : b_(b) {
    std::thread([this] { Loop(); }).detach();
  }
  // (Re)starts the countdown of `handle` from its grace time, unless paused.
  void Strap(const std::string& handle) {
    std::lock_guard<std::mutex> l(mu_);
    Entry& e = entries_[handle];
    e.grace_ns = GraceOf(handle);
    if (e.paused == 0) Arm(&e);
  }
  void Pause(const std::string& handle) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(handle);
    if (it != entries_.end()) ++it->second.paused;
  }
  void Resume(const std::string& handle) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(handle);
    if (it == entries_.end()) return;
    if (it->second.paused > 0 && --it->second.paused == 0) Arm(&it->second);
  }
  void Forget(const std::string& handle) {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(handle);
  }

 private:
  struct Entry {
    int paused = 0;
    int64_t grace_ns = 0;
    bool armed = false;
    std::chrono::steady_clock::time_point deadline;
  };
  int64_t GraceOf(const std::string& handle) {
    GardenError err;
    auto props = b_->Properties(handle, &err);
    int64_t ns = 0;
    if (props.ok() && props->count("garden.grace-time")) (void)absl::SimpleAtoi(props->at("garden.grace-time"), &ns);
    return ns;
  }
  void Arm(Entry* e) {
    e->armed = e->grace_ns > 0;
    e->deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(e->grace_ns);
  }
  void Loop() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::vector<std::string> due;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto now = std::chrono::steady_clock::now();
        for (auto& [h, e] : entries_) {
          if (e.armed && e.paused == 0 && now >= e.deadline) {
            e.armed = false;
            due.push_back(h);
          }
        }
      }
      for (const std::string& h : due) {
        GardenError err;
        (void)b_->Destroy(h, &err);  // skipped (an error) when a DELETE is already at it
        Forget(h);
      }
    }
  }
  Backend* b_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace

std::vector<Route> Routes(Backend* b) {
  // Every container already in the depot gets its countdown, as at Garden's start.
  static Reaper* reaper = new Reaper(b);
  for (const std::string& h : b->List({{"garden.state", "all"}})) reaper->Strap(h);
  using Params = std::map<std::string, std::string>;
  using Body = std::function<long(char*, size_t)>;
  std::vector<Route> r;
  auto add = [&r](const char* method, const char* pattern,
                  std::function<Reply(const Request&, const Params&, const Body&)> h) {
    std::string p = pattern, m = method;
    bool timed = absl::StartsWith(p, "/containers/:handle/") && p != "/containers/:handle/grace_time";
    if (timed) {
      // The request pauses the container's countdown; a hijacked one until it ends.
      h = [h](const Request& req, const Params& params, const Body& body) {
        std::string handle = params.at("handle");
        reaper->Pause(handle);
        Reply reply = h(req, params, body);
        if (reply.hijack) {
          auto inner = reply.hijack;
          reply.hijack = [inner, handle](Conn& c) {
            inner(c);
            reaper->Resume(handle);
          };
        } else {
          reaper->Resume(handle);
        }
        return reply;
      };
    }
    r.push_back(Route{method, pattern, false, std::move(h)});
  };
  add("GET", "/ping", [](const Request&, const Params&, const Body&) { return Ok(); });
  add("GET", "/capacity", [b](const Request&, const Params&, const Body&) { return Ok(b->Capacity()); });
  add("GET", "/containers", [b](const Request& req, const Params&, const Body&) {
    return Ok({{"Handles", b->List(req.query)}});
  });
  add("POST", "/containers", [b](const Request& req, const Params&, const Body&) {
    Json spec;
    std::string why;
    if (!ParseBody(req, &spec, &why)) return Error(why);
    GardenError err;
    absl::StatusOr<std::string> h = b->Create(spec, &err);
    if (!h.ok()) return Error(err);
    reaper->Strap(*h);
    return Ok({{"Handle", *h}});
  });
  add("GET", "/containers/bulk_info", [b](const Request& req, const Params&, const Body&) {
    Json out = Json::object();
    auto it = req.query.find("handles");
    if (it == req.query.end()) return Ok(out);
    for (absl::string_view h : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      GardenError err;
      absl::StatusOr<Json> info = b->Info(std::string(h), &err);
      if (info.ok()) {
        out[std::string(h)] = {{"Info", *info}, {"Err", nullptr}};
      } else {
        Json zero = {{"State", ""}, {"Events", nullptr}, {"HostIP", ""}, {"ContainerIP", ""}, {"ContainerIPv6", ""},
                     {"ExternalIP", ""}, {"ContainerPath", ""}, {"ProcessIDs", nullptr}, {"Properties", nullptr},
                     {"MappedPorts", nullptr}};
        out[std::string(h)] = {{"Info", zero},
                               {"Err", {{"Type", ""}, {"Message", err.message}, {"Handle", ""}, {"ProcessID", ""}, {"Binary", ""}}}};
      }
    }
    return Ok(out);
  });
  add("GET", "/containers/:handle/info", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    absl::StatusOr<Json> info = b->Info(p.at("handle"), &err);
    return info.ok() ? Ok(*info) : Error(err);
  });
  add("DELETE", "/containers/:handle", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    if (!b->Destroy(p.at("handle"), &err)) return Error(err);
    reaper->Forget(p.at("handle"));
    return Ok();
  });
  add("PUT", "/containers/:handle/stop", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    GardenError err;
    bool kill = body.is_object() && body.value("kill", false);
    return b->Stop(p.at("handle"), kill, &err) ? Ok() : Error(err);
  });
  add("PUT", "/containers/:handle/grace_time", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    if (!body.is_number_integer()) return Error("json: cannot unmarshal into Go value of type time.Duration");
    GardenError err;
    if (!b->Exists(p.at("handle"))) return Error(GardenError{ErrorKind::kContainerNotFound, "unknown handle: " + p.at("handle"), p.at("handle"), ""});
    (void)b->SetGraceTime(p.at("handle"), body.get<int64_t>(), &err);
    reaper->Strap(p.at("handle"));
    return Ok();
  });
  add("GET", "/containers/:handle/properties", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    auto props = b->Properties(p.at("handle"), &err);
    return props.ok() ? Ok(Json(*props)) : Error(err);
  });
  add("GET", "/containers/:handle/properties/:key", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    auto props = b->Properties(p.at("handle"), &err);
    if (!props.ok()) return Error(err);
    auto it = props->find(p.at("key"));
    if (it == props->end()) return Error("property does not exist: " + p.at("key"));
    return Ok({{"value", it->second}});
  });
  add("PUT", "/containers/:handle/properties/:key", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    GardenError err;
    std::string value;
    if (const Json* v = Field(body, "value"); v != nullptr && v->is_string()) value = *v;
    return b->SetProperty(p.at("handle"), p.at("key"), value, &err) ? Ok() : Error(err);
  });
  add("DELETE", "/containers/:handle/properties/:key", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    return b->RemoveProperty(p.at("handle"), p.at("key"), &err) ? Ok() : Error(err);
  });
  add("POST", "/containers/:handle/processes", [b](const Request& req, const Params& p, const Body&) {
    Json spec;
    std::string why;
    if (!ParseBody(req, &spec, &why)) return Error(why);
    GardenError err;
    std::string handle = p.at("handle");
    absl::StatusOr<std::string> id = b->Run(handle, spec, &err);
    if (!id.ok()) return Error(err);
    std::string dir = b->ProcessDir(handle, *id);
    return Reply{Response{}, [dir, id = *id](Conn& c) { Attachment(c, 201, dir, id); }};
  });
  add("GET", "/containers/:handle/processes/:pid", [b](const Request&, const Params& p, const Body&) {
    std::string handle = p.at("handle"), id = p.at("pid");
    if (!b->Exists(handle)) return Error(GardenError{ErrorKind::kContainerNotFound, "unknown handle: " + handle, handle, ""});
    if (!b->ProcessExists(handle, id)) return Error(GardenError{ErrorKind::kProcessNotFound, "unknown process: " + id, "", id});
    std::string dir = b->ProcessDir(handle, id);
    return Reply{Response{}, [dir, id](Conn& c) { Attachment(c, 200, dir, id); }};
  });
  for (const char* which : {"stdout", "stderr"}) {
    bool out = std::string(which) == "stdout";
    add("GET", absl::StrCat("/containers/:handle/processes/:pid/attaches/:streamid/", which).c_str(),
        [out](const Request&, const Params& p, const Body&) {
          std::string sid = p.at("streamid");
          return Reply{Response{}, [sid, out](Conn& c) { OutputStream(c, sid, out); }};
        });
  }
  for (const char* kind : {"bandwidth", "cpu", "disk", "memory"}) {
    add("GET", absl::StrCat("/containers/:handle/limits/", kind).c_str(),
        [b, kind = std::string(kind)](const Request&, const Params& p, const Body&) {
          GardenError err;
          absl::StatusOr<Json> limits = b->Limits(p.at("handle"), kind, &err);
          return limits.ok() ? Ok(*limits) : Error(err);
        });
  }
  add("GET", "/containers/:handle/metrics", [b](const Request&, const Params& p, const Body&) {
    GardenError err;
    absl::StatusOr<Json> m = b->Metrics(p.at("handle"), &err);
    return m.ok() ? Ok(*m) : Error(err);
  });
  add("GET", "/containers/bulk_metrics", [b](const Request& req, const Params&, const Body&) {
    Json out = Json::object();
    auto it = req.query.find("handles");
    if (it == req.query.end()) return Ok(out);
    for (absl::string_view h : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      GardenError err;
      absl::StatusOr<Json> m = b->Metrics(std::string(h), &err);
      if (m.ok()) {
        out[std::string(h)] = {{"Metrics", *m}, {"Err", nullptr}};
      } else {
        Json memory = Json::object();
        Json zero = {{"MemoryStat", memory}, {"CPUStat", {{"Usage", 0}, {"User", 0}, {"System", 0}}},
                     {"DiskStat", {{"TotalBytesUsed", 0}, {"TotalInodesUsed", 0}, {"ExclusiveBytesUsed", 0},
                                   {"ExclusiveInodesUsed", 0}}},
                     {"NetworkStat", nullptr}, {"PidStat", {{"Current", 0}, {"Max", 0}}}, {"Age", 0},
                     {"CPUEntitlement", 0}};
        out[std::string(h)] = {{"Metrics", zero},
                               {"Err", {{"Type", ""}, {"Message", err.message}, {"Handle", ""}, {"ProcessID", ""}, {"Binary", ""}}}};
      }
    }
    return Ok(out);
  });
  // StreamIn: the body (a tar, chunked) goes to the container as it arrives.
  add("PUT", "/containers/:handle/files", [b](const Request& req, const Params& p, const Body& body) {
    auto q = [&req](const char* k) {
      auto it = req.query.find(k);
      return it == req.query.end() ? std::string() : it->second;
    };
    GardenError err;
    if (!b->StreamIn(p.at("handle"), q("user"), q("destination"), body, &err)) return Error(err);
    return Ok();
  });
  r.back().stream_body = true;
  // StreamOut: 200 and a chunked tar; an error before the first byte is Garden's error JSON,
  // one after it ends the body early (GARDEN_API.md 1.4).
  add("GET", "/containers/:handle/files", [b](const Request& req, const Params& p, const Body&) {
    auto q = [&req](const char* k) {
      auto it = req.query.find(k);
      return it == req.query.end() ? std::string() : it->second;
    };
    std::string handle = p.at("handle"), user = q("user"), source = q("source");
    if (!b->Exists(handle)) {
      return Error(GardenError{ErrorKind::kContainerNotFound, "unknown handle: " + handle, handle, ""});
    }
    return Reply{Response{}, [b, handle, user, source](Conn& c) {
      bool started = false, client_ok = true;
      auto out = [&](absl::string_view data) {
        std::string frame;
        if (!started) {
          frame = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDate: ",
                               HttpDate(), "\r\nTransfer-Encoding: chunked\r\n\r\n");
          started = true;
        }
        absl::StrAppend(&frame, absl::Hex(data.size()), "\r\n", data, "\r\n");
        client_ok = client_ok && c.Write(frame);
        return client_ok;
      };
      GardenError err;
      absl::Status s = b->StreamOut(handle, user, source, out, &err);
      if (started) {
        if (s.ok() && client_ok) c.Write("0\r\n\r\n");
        return;
      }
      if (s.ok()) {
        out("");  // the header, then the empty chunk that ends the body
        return;
      }
      int status = err.kind == ErrorKind::kContainerNotFound ? 404 : 500;
      std::string body = ErrorJson(err).dump() + "\n";
      c.Write(absl::StrCat("HTTP/1.1 ", status, status == 404 ? " Not Found" : " Internal Server Error",
                           "\r\nContent-Type: application/json\r\nDate: ", HttpDate(),
                           "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body));
    }};
  });
  add("POST", "/containers/:handle/net/in", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    GardenError err;
    absl::StatusOr<Json> mapping = b->NetIn(p.at("handle"), body, &err);
    return mapping.ok() ? Ok(*mapping) : Error(err);
  });
  add("POST", "/containers/:handle/net/out", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    GardenError err;
    return b->NetOut(p.at("handle"), body, false, &err) ? Ok() : Error(err);
  });
  add("POST", "/containers/:handle/net/out/bulk", [b](const Request& req, const Params& p, const Body&) {
    Json body;
    std::string why;
    if (!ParseBody(req, &body, &why)) return Error(why);
    if (!body.is_array()) return Error("json: cannot unmarshal into Go value of type []garden.NetOutRule");
    GardenError err;
    return b->NetOut(p.at("handle"), body, true, &err) ? Ok() : Error(err);
  });
  return r;
}

}  // namespace gdn::server
