// A client of the registry v2 API (OCI distribution), over libcurl: manifest negotiation
// (OCI index and manifest, Docker manifest list and schema 2 manifest), the platform's
// manifest out of an index, Bearer tokens from the WWW-Authenticate challenge, Basic auth,
// plain HTTP or unverified TLS for registries named insecure, and blobs streamed to a
// descriptor with their digest checked and transient failures resumed with HTTP ranges.
//
// Errors are statuses with one sentence and the exit code they map to (lib/status.h):
// NotFound (3) for an unknown repository, tag or platform; PermissionDenied (5) for missing
// or refused credentials; InvalidArgument (7) for a digest mismatch or a malformed document;
// Unavailable (1) for a registry that cannot be reached, naming its host and port.
#ifndef GDN_IMAGE_REGISTRY_H_
#define GDN_IMAGE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::image {

struct RegistryOptions {
  // host or host:port: plain HTTP, or HTTPS without verifying the certificate.
  std::vector<std::string> insecure_registries;
  std::string username, password;
  // A Docker-style config.json ({"auths": {"host": {"auth": base64(user:pass)}}}), used when
  // no username is given.
  std::string credentials_file;
  std::string os = "linux";
  std::string architecture;  // empty: this machine's, in Go's names (amd64, arm64, ...)
  int attempts = 5;          // per request, for transient failures
  int64_t backoff_ms = 200;  // doubled after every failed attempt
};

struct Progress {
  int64_t done = 0, total = 0;
  double seconds = 0;
};

struct ResolvedImage {
  std::string digest;      // of the platform's manifest
  std::string media_type;  // of that manifest
  std::string manifest;    // its bytes, verified
  std::string config;      // the config blob's bytes, verified
};

// The architecture of this machine as Go (and so image indexes) names it.
std::string HostArchitecture();

class RegistryClient {
 public:
  // `host` is host[:port] as the API is reached; `repository` as the API names it.
  RegistryClient(std::string host, std::string repository, RegistryOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // The manifest for `reference` (a tag or a digest) on this platform, and its config.
  absl::StatusOr<ResolvedImage> Resolve(const std::string& reference);

  // Writes blob `digest` (of `size` bytes, -1 if unknown) to `fd` as it arrives, checking
  // size and digest; on a transient failure it resumes where it stopped. The bytes written
  // before a mismatch is found are the reader's to throw away. `progress` is called now and
  // then, and once at the end.
  absl::Status FetchBlob(const std::string& digest, int64_t size, int fd,
                         const std::function<void(const Progress&)>& progress = nullptr);

  // "host:port", for messages.
  std::string Where() const;

  // Internal: one response, and where its body goes (public for libcurl's callbacks).
  struct Response;
  struct Sink;

 private:
  // One GET with this client's auth, retried when transient.
  absl::StatusOr<Response> Get(const std::string& path, const std::vector<std::string>& headers,
                               Sink* sink);
  absl::StatusOr<Response> GetOnce(const std::string& url, const std::vector<std::string>& headers,
                                   Sink* sink);
  absl::Status Authenticate(const std::string& challenge);
  absl::StatusOr<std::string> GetDocument(const std::string& path,
                                          const std::vector<std::string>& headers,
                                          const std::string& what, std::string* content_type,
                                          std::string* digest_header);
  std::string BaseUrl() const;
  bool Insecure() const;

  std::string host_, repository_;
  RegistryOptions options_;
  std::string scheme_;         // "https", or "http" once an insecure registry turned out plain
  std::string authorization_;  // the Authorization header once we have one
  bool authenticated_ = false;
  bool used_credentials_ = false;
  void* curl_ = nullptr;       // one CURL easy handle, kept for its connection
  int last_curl_code_ = 0;     // of the last transfer (a CURLcode)
};

}  // namespace gdn::image

#endif  // GDN_IMAGE_REGISTRY_H_
