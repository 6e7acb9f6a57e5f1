#include "image/registry.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "image/digest.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"
#include "nlohmann/json.hpp"

namespace gdn::image {
namespace {

using Json = nlohmann::json;

constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr size_t kMaxDocument = 4 << 20;  // manifests, indexes, tokens
constexpr size_t kMaxConfig = 8 << 20;

double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// `key="value", key=value` pairs of a WWW-Authenticate challenge, after its scheme.
std::map<std::string, std::string> ChallengeParams(absl::string_view s) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    size_t eq = s.find('=', i);
    if (eq == absl::string_view::npos) break;
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
      ++i;
    } else {
      size_t end = s.find(',', i);
      if (end == absl::string_view::npos) end = s.size();
      value = std::string(absl::StripAsciiWhitespace(s.substr(i, end - i)));
      i = end;
    }
    out[key] = value;
  }
  return out;
}

std::string Escape(CURL* curl, const std::string& s) {
  char* e = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

std::string MediaTypeOf(const std::string& content_type, const Json& doc) {
  std::string t(absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';'))));
  if (doc.is_object() && doc.contains("mediaType") && doc["mediaType"].is_string()) {
    std::string declared = doc["mediaType"];
    if (t.empty() || t == "application/json" || t == "text/plain") return declared;
  }
  if (t.empty() || t == "application/json") {
    // An OCI document need not say: an index has manifests, a manifest has layers.
    if (doc.is_object() && doc.contains("manifests")) return kOciIndex;
    if (doc.is_object() && doc.contains("layers")) return kOciManifest;
  }
  return t;
}

// The registry's error code and message from an error body ({"errors":[{"code":...}]}).
std::string RegistryError(const std::string& body) {
  Json doc = Json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() && !doc["errors"].empty()) {
    const Json& e = doc["errors"][0];
    std::string code = e.value("code", ""), message = e.value("message", "");
    return absl::StrCat(code, message.empty() ? "" : ": ", message);
  }
  return std::string(absl::StripAsciiWhitespace(body.substr(0, 200)));
}

}  // namespace

std::string HostArchitecture() {
  struct utsname u;
  if (uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (absl::StartsWith(m, "armv")) return "arm";
  if (m == "i386" || m == "i686") return "386";
  return m;  // ppc64le, s390x, riscv64 are spelled alike
}

struct RegistryClient::Response {
  long status = 0;
  std::string content_type, docker_digest, www_authenticate;
  std::string error_body;  // a non-2xx response's body, cut short
};

// Where a response body goes: collected in `body` (up to `limit`), or written to `fd` and
// hashed. Lives across the attempts of one Get, so that a blob resumes where it stopped.
struct RegistryClient::Sink {
  std::string* body = nullptr;
  size_t limit = 0;
  int fd = -1;
  int64_t max = -1;      // a blob's size: more is refused
  int64_t written = 0;   // bytes delivered to fd (and hashed) over every attempt
  int64_t skip = 0;      // of this attempt: bytes to drop (a server that ignored our range)
  bool first_write = true;  // of this attempt
  EVP_MD_CTX* hash = nullptr;
  absl::Status fatal;    // set by the callbacks to stop without retrying
  Response* response = nullptr;
  CURL* curl = nullptr;
  std::function<void(const Progress&)> progress;
  double started = 0, last_report = 0;

  size_t Write(const char* data, size_t n) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
      // An error's body is kept for its message, never written where content goes.
      size_t room = 4096 - std::min<size_t>(4096, response->error_body.size());
      response->error_body.append(data, std::min(n, room));
      return n;
    }
    if (fd < 0) {
      if (body->size() + n > limit) {
        fatal = absl::InvalidArgumentError(absl::StrCat("the registry sent a document over ", limit, " bytes"));
        return 0;
      }
      body->append(data, n);
      return n;
    }
    if (first_write) {
      first_write = false;
      if (status == 206) skip = 0;  // the range was honoured: everything here is new
    }
    size_t from = 0;
    if (skip > 0) {
      from = static_cast<size_t>(std::min<int64_t>(skip, static_cast<int64_t>(n)));
      skip -= static_cast<int64_t>(from);
    }
    size_t len = n - from;
    if (max >= 0 && written + static_cast<int64_t>(len) > max) {
      fatal = absl::InvalidArgumentError(absl::StrCat("the registry sent more than the blob's ", max, " bytes"));
      return 0;
    }
    EVP_DigestUpdate(hash, data + from, len);
    absl::Status w = WriteAll(fd, absl::string_view(data + from, len));
    if (!w.ok()) {
      fatal = absl::AbortedError(absl::StrCat("the reader of the blob went away (", w.message(), ")"));
      return 0;
    }
    written += static_cast<int64_t>(len);
    double now = Now();
    if (progress && now - last_report >= 0.25) {
      last_report = now;
      progress({written, max, now - started});
    }
    return n;
  }
};

namespace {

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) {
  return static_cast<RegistryClient::Sink*>(user)->Write(data, size * nmemb);
}

}  // namespace

// The header callback needs Response, which is private: a friend-free static in the class's
// translation unit through a small trampoline.
static size_t HeaderCallback(char* data, size_t size, size_t nmemb, void* user) {
  size_t n = size * nmemb;
  auto* headers = static_cast<std::vector<std::string>*>(user);
  std::string line(data, n);
  if (absl::StartsWith(line, "HTTP/")) headers->clear();  // a new response (after a redirect)
  headers->push_back(std::string(absl::StripTrailingAsciiWhitespace(line)));
  return n;
}

RegistryClient::RegistryClient(std::string host, std::string repository, RegistryOptions options)
    : host_(std::move(host)), repository_(std::move(repository)), options_(std::move(options)),
      scheme_("https") {
  if (options_.architecture.empty()) options_.architecture = HostArchitecture();
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)initialised;
  curl_ = curl_easy_init();
}

RegistryClient::~RegistryClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

bool RegistryClient::Insecure() const {
  std::string bare = host_.substr(0, host_.rfind(':') == std::string::npos ||
                                             host_.back() == ']' ? host_.size() : host_.rfind(':'));
  for (const std::string& h : options_.insecure_registries) {
    if (h == host_ || h == bare) return true;
  }
  return false;
}

std::string RegistryClient::Where() const {
  bool has_port = host_.rfind(':') != std::string::npos && host_.back() != ']';
  return has_port ? host_ : absl::StrCat(host_, scheme_ == "http" ? ":80" : ":443");
}

std::string RegistryClient::BaseUrl() const { return absl::StrCat(scheme_, "://", host_); }

absl::StatusOr<RegistryClient::Response> RegistryClient::GetOnce(
    const std::string& url, const std::vector<std::string>& headers, Sink* sink) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  last_curl_code_ = CURLE_OK;
  Response response;
  std::vector<std::string> received;
  sink->response = &response;
  sink->curl = curl;
  sink->first_write = true;
  struct curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::string range;
  if (sink->fd >= 0 && sink->written > 0) {
    range = absl::StrCat(sink->written, "-");
    sink->skip = sink->written;  // dropped if the server answers 200 with the whole blob
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "gdn-image-store/1");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  // A transfer that stalls (under 1 byte/s for 30 s) is a failure, retried like any other.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "identity");
  if (Insecure()) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!range.empty()) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &received);
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  if (!sink->fatal.ok()) return sink->fatal;
  last_curl_code_ = code;
  if (code != CURLE_OK) {
    bool tls = code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION ||
               code == CURLE_SSL_CACERT_BADFILE || code == CURLE_SSL_CERTPROBLEM;
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the registry ", Where(), ": ", curl_easy_strerror(code),
        tls && !Insecure() ? " (for plain HTTP or a certificate we cannot check, name it with --insecure-registry)" : ""));
  }
  for (const std::string& h : received) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(h.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(h.substr(colon + 1)));
    if (name == "content-type") response.content_type = value;
    if (name == "docker-content-digest") response.docker_digest = value;
    if (name == "www-authenticate") response.www_authenticate = value;
  }
  return response;
}

absl::StatusOr<RegistryClient::Response> RegistryClient::Get(
    const std::string& path, const std::vector<std::string>& headers, Sink* sink) {
  int64_t backoff = options_.backoff_ms;
  bool tried_plain = false;
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> all = headers;
    if (!authorization_.empty()) all.push_back("Authorization: " + authorization_);
    if (sink->body != nullptr) sink->body->clear();
    absl::StatusOr<Response> r = GetOnce(BaseUrl() + path, all, sink);
    if (!r.ok() && absl::IsUnavailable(r.status()) && Insecure() && scheme_ == "https" && !tried_plain) {
      // An insecure registry may speak plain HTTP: try that before counting a failure.
      tried_plain = true;
      scheme_ = "http";
      --attempt;
      continue;
    }
    // Worth another try: a refused or dropped connection, a stall, a server error.
    CURLcode c = static_cast<CURLcode>(last_curl_code_);
    bool flaky_transfer = c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT ||
                          c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
                          c == CURLE_GOT_NOTHING || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
    bool transient = (!r.ok() && absl::IsUnavailable(r.status()) && flaky_transfer) ||
                     (r.ok() && (r->status >= 500 || r->status == 429));
    if (r.ok() && r->status == 401 && !authenticated_ && !r->www_authenticate.empty()) {
      RETURN_IF_ERROR(Authenticate(r->www_authenticate));
      authenticated_ = true;
      --attempt;
      continue;
    }
    if (!transient || attempt >= options_.attempts) {
      if (r.ok() && r->status >= 500) {
        return absl::UnavailableError(absl::StrCat("the registry ", Where(), " answered HTTP ", r->status,
                                                   " (", RegistryError(r->error_body), ") ", attempt, " times"));
      }
      if (!r.ok() && transient && attempt > 1) {
        return absl::UnavailableError(absl::StrCat(r.status().message(), " (after ", attempt, " tries)"));
      }
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
    backoff *= 2;
  }
}

absl::Status RegistryClient::Authenticate(const std::string& challenge) {
  std::string user = options_.username, pass = options_.password;
  if (user.empty() && !options_.credentials_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(options_.credentials_file));
    Json doc = Json::parse(text, nullptr, false);
    if (!doc.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("the credentials file ", options_.credentials_file, " is not JSON"));
    }
    std::string bare = host_.substr(0, host_.find(':'));
    for (const std::string& key : {host_, "https://" + host_, "http://" + host_, bare,
                                   std::string("https://index.docker.io/v1/")}) {
      if (!doc.contains("auths") || !doc["auths"].contains(key)) continue;
      if (key == "https://index.docker.io/v1/" && host_ != "registry-1.docker.io") continue;
      const Json& entry = doc["auths"][key];
      if (entry.contains("auth") && entry["auth"].is_string()) {
        std::string decoded;
        if (absl::Base64Unescape(entry["auth"].get<std::string>(), &decoded)) {
          size_t colon = decoded.find(':');
          if (colon != std::string::npos) {
            user = decoded.substr(0, colon);
            pass = decoded.substr(colon + 1);
          }
        }
      } else {
        user = entry.value("username", "");
        pass = entry.value("password", "");
      }
      break;
    }
  }
  std::string basic = user.empty() ? "" : "Basic " + absl::Base64Escape(user + ":" + pass);
  used_credentials_ = !user.empty();
  absl::string_view rest = challenge;
  std::string scheme = absl::AsciiStrToLower(std::string(rest.substr(0, rest.find(' '))));
  rest.remove_prefix(std::min(rest.size(), scheme.size()));
  if (scheme == "basic") {
    if (basic.empty()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the registry ", Where(), " wants credentials: give --username and --password, or a credentials file"));
    }
    authorization_ = basic;
    return absl::OkStatus();
  }
  if (scheme != "bearer") {
    return absl::PermissionDeniedError(absl::StrCat("the registry ", Where(), " asks for \"", scheme,
                                                    "\" authentication, which we do not speak"));
  }
  std::map<std::string, std::string> params = ChallengeParams(rest);
  std::string realm = params["realm"];
  if (!absl::StartsWith(realm, "https://") && !absl::StartsWith(realm, "http://")) {
    return absl::PermissionDeniedError(absl::StrCat("the registry ", Where(), " names no usable token service"));
  }
  CURL* curl = static_cast<CURL*>(curl_);
  std::string scope = params.count("scope") ? params["scope"] : absl::StrCat("repository:", repository_, ":pull");
  std::string url = absl::StrCat(realm, realm.find('?') == std::string::npos ? "?" : "&",
                                 "scope=", Escape(curl, scope));
  if (params.count("service")) absl::StrAppend(&url, "&service=", Escape(curl, params["service"]));
  std::vector<std::string> headers;
  if (!basic.empty()) headers.push_back("Authorization: " + basic);
  std::string body;
  Sink sink;
  sink.body = &body;
  sink.limit = kMaxDocument;
  absl::StatusOr<Response> r = GetOnce(url, headers, &sink);
  if (!r.ok()) return r.status();
  if (r->status == 401 || r->status == 403) {
    return absl::PermissionDeniedError(absl::StrCat("the token service of ", Where(), " refused the credentials",
                                                    user.empty() ? " (none were given)" : " of " + user));
  }
  if (r->status != 200) {
    return absl::UnavailableError(absl::StrCat("the token service of ", Where(), " answered HTTP ", r->status));
  }
  Json doc = Json::parse(body, nullptr, false);
  std::string token;
  if (doc.is_object()) {
    if (doc.contains("token") && doc["token"].is_string()) token = doc["token"];
    if (token.empty() && doc.contains("access_token") && doc["access_token"].is_string()) token = doc["access_token"];
  }
  if (token.empty()) {
    return absl::PermissionDeniedError(absl::StrCat("the token service of ", Where(), " gave no token"));
  }
  authorization_ = "Bearer " + token;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RegistryClient::GetDocument(const std::string& path,
                                                        const std::vector<std::string>& headers,
                                                        const std::string& what,
                                                        std::string* content_type,
                                                        std::string* digest_header) {
  std::string body;
  Sink sink;
  sink.body = &body;
  sink.limit = absl::StrContains(path, "/blobs/") ? kMaxConfig : kMaxDocument;
  ASSIGN_OR_RETURN(Response r, Get(path, headers, &sink));
  if (r.status == 404) {
    return absl::NotFoundError(absl::StrCat("no ", what, " at ", Where(), " (", RegistryError(r.error_body), ")"));
  }
  if (r.status == 401 || r.status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the registry ", Where(), " refused access to ", what,
        !authenticated_ ? "" : used_credentials_ ? " with these credentials" : " without credentials",
        " (", RegistryError(r.error_body), ")"));
  }
  if (r.status != 200) {
    return absl::UnavailableError(absl::StrCat("the registry ", Where(), " answered HTTP ", r.status, " for ",
                                               what, " (", RegistryError(r.error_body), ")"));
  }
  if (content_type != nullptr) *content_type = r.content_type;
  if (digest_header != nullptr) *digest_header = r.docker_digest;
  return body;
}

absl::StatusOr<ResolvedImage> RegistryClient::Resolve(const std::string& reference) {
  const std::string accept = absl::StrCat("Accept: ", kOciIndex, ", ", kOciManifest, ", ", kDockerList, ", ",
                                          kDockerManifest);
  std::string name = absl::StrCat(repository_, absl::StartsWith(reference, "sha256:") ? "@" : ":", reference);
  std::string content_type, digest_header;
  ASSIGN_OR_RETURN(std::string body, GetDocument(absl::StrCat("/v2/", repository_, "/manifests/", reference),
                                                 {accept}, "image " + name, &content_type, &digest_header));
  std::string digest = Sha256(body);
  if (absl::StartsWith(reference, "sha256:") && digest != reference) {
    return absl::InvalidArgumentError(absl::StrCat("the manifest of ", name, " from ", Where(),
                                                   " does not match its digest (it hashes to ", digest, ")"));
  }
  Json doc = Json::parse(body, nullptr, false);
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("the manifest of ", name, " is not a JSON object"));
  }
  std::string media_type = MediaTypeOf(content_type, doc);
  if (media_type == kOciIndex || media_type == kDockerList) {
    std::vector<std::string> offered;
    std::string chosen;
    if (doc.contains("manifests") && doc["manifests"].is_array()) {
      for (const Json& m : doc["manifests"]) {
        if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
        std::string os = m["platform"].value("os", ""), arch = m["platform"].value("architecture", "");
        offered.push_back(os + "/" + arch);
        if (chosen.empty() && os == options_.os && arch == options_.architecture && m.contains("digest") &&
            m["digest"].is_string()) {
          chosen = m["digest"];
        }
      }
    }
    if (chosen.empty()) {
      return absl::NotFoundError(absl::StrCat("the index of ", name, " has no ", options_.os, "/",
                                              options_.architecture, " image (it has ",
                                              offered.empty() ? "none" : absl::StrJoin(offered, ", "), ")"));
    }
    if (!absl::StartsWith(chosen, "sha256:")) {
      return absl::InvalidArgumentError(absl::StrCat("the index of ", name, " names a manifest by \"", chosen, "\""));
    }
    ASSIGN_OR_RETURN(body, GetDocument(absl::StrCat("/v2/", repository_, "/manifests/", chosen), {accept},
                                       "manifest " + chosen + " of " + name, &content_type, nullptr));
    digest = Sha256(body);
    if (digest != chosen) {
      return absl::InvalidArgumentError(absl::StrCat("the manifest ", chosen, " of ", name, " from ", Where(),
                                                     " does not match its digest (it hashes to ", digest, ")"));
    }
    doc = Json::parse(body, nullptr, false);
    if (!doc.is_object()) return absl::InvalidArgumentError(absl::StrCat("the manifest ", chosen, " is not JSON"));
    media_type = MediaTypeOf(content_type, doc);
  }
  if (media_type != kOciManifest && media_type != kDockerManifest) {
    return absl::InvalidArgumentError(absl::StrCat("the manifest of ", name, " is of type \"", media_type,
                                                   "\", which we cannot read (Docker schema 1 is not supported)"));
  }
  if (!doc.contains("config") || !doc["config"].is_object() || !doc["config"].contains("digest") ||
      !doc["config"]["digest"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("the manifest of ", name, " names no config"));
  }
  std::string config_digest = doc["config"]["digest"];
  ASSIGN_OR_RETURN(std::string config, GetDocument(absl::StrCat("/v2/", repository_, "/blobs/", config_digest), {},
                                                   "config " + config_digest + " of " + name, nullptr, nullptr));
  if (Sha256(config) != config_digest) {
    return absl::InvalidArgumentError(absl::StrCat("the config of ", name, " from ", Where(),
                                                   " does not match its digest ", config_digest));
  }
  return ResolvedImage{digest, media_type, body, config};
}

absl::Status RegistryClient::FetchBlob(const std::string& digest, int64_t size, int fd,
                                       const std::function<void(const Progress&)>& progress) {
  if (!absl::StartsWith(digest, "sha256:")) {
    return absl::InvalidArgumentError(absl::StrCat("\"", digest, "\" is not a sha256 digest"));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> hash(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(hash.get(), EVP_sha256(), nullptr);
  Sink sink;
  sink.fd = fd;
  sink.max = size;
  sink.hash = hash.get();
  sink.progress = progress;
  sink.started = Now();
  ASSIGN_OR_RETURN(Response r, Get(absl::StrCat("/v2/", repository_, "/blobs/", digest), {}, &sink));
  if (r.status == 404) {
    return absl::NotFoundError(absl::StrCat("no blob ", digest, " in ", repository_, " at ", Where()));
  }
  if (r.status == 401 || r.status == 403) {
    return absl::PermissionDeniedError(absl::StrCat("the registry ", Where(), " refused access to blob ", digest));
  }
  if (r.status != 200 && r.status != 206) {
    return absl::UnavailableError(absl::StrCat("the registry ", Where(), " answered HTTP ", r.status, " for blob ",
                                               digest, " (", RegistryError(r.error_body), ")"));
  }
  if (progress) progress({sink.written, size, Now() - sink.started});
  if (size >= 0 && sink.written != size) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", digest, " from ", Where(), " has ", sink.written,
                                                   " bytes, not the ", size, " its manifest says"));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(hash.get(), md, &len);
  std::string got = "sha256:";
  for (unsigned i = 0; i < len; ++i) absl::StrAppend(&got, absl::Hex(md[i], absl::kZeroPad2));
  if (got != digest) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", digest, " from ", Where(),
                                                   " does not match its digest (it hashes to ", got, ")"));
  }
  return absl::OkStatus();
}

}  // namespace gdn::image
