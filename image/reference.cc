#include "image/reference.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/names.h"
#include "re2/re2.h"

namespace gdn::image {
namespace {

absl::Status Bad(const std::string& uri, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("image reference \"", uri, "\": ", why));
}

absl::Status CheckPath(const std::string& uri, const std::string& path) {
  if (path.empty() || path[0] != '/') return Bad(uri, "the path must be absolute");
  if (path.find('\0') != std::string::npos) return Bad(uri, "the path holds a NUL byte");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageReference> ParseImageReference(const std::string& uri) {
  ImageReference ref;
  if (uri.empty()) return Bad(uri, "is empty");
  if (uri[0] == '/' || absl::StartsWith(uri, "raw://")) {
    ref.kind = SourceKind::kFolder;
    ref.path = uri[0] == '/' ? uri : uri.substr(6);
    absl::Status s = CheckPath(uri, ref.path);
    if (!s.ok()) return s;
    return ref;
  }
  if (absl::StartsWith(uri, "oci://")) {
    ref.kind = SourceKind::kOciLayout;
    std::string rest = uri.substr(6);
    std::string::size_type slash = rest.rfind('/');
    std::string::size_type colon = rest.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      ref.tag = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
      if (ref.tag.empty()) return Bad(uri, "the tag after ':' is empty");
    }
    ref.path = rest;
    absl::Status s = CheckPath(uri, ref.path);
    if (!s.ok()) return s;
    return ref;
  }
  if (absl::StartsWith(uri, "docker-archive://")) {
    ref.kind = SourceKind::kDockerArchive;
    ref.path = uri.substr(17);
    absl::Status s = CheckPath(uri, ref.path);
    if (!s.ok()) return s;
    return ref;
  }
  if (absl::StartsWith(uri, "docker://")) {
    ref.kind = SourceKind::kRegistry;
    std::string rest = uri.substr(9);
    // A digest follows '@'; a tag follows '#' (Garden's form), or ':' after the last '/'.
    std::string::size_type at = rest.find('@');
    if (at != std::string::npos) {
      ref.digest = rest.substr(at + 1);
      rest = rest.substr(0, at);
      absl::string_view hex = ref.digest;
      if (!absl::ConsumePrefix(&hex, "sha256:") || !IsLowerHex(hex, 64)) {
        return Bad(uri, "the digest after '@' is not sha256:<64 hex digits>");
      }
    }
    std::string::size_type hash = rest.find('#');
    if (hash == std::string::npos) {
      std::string::size_type colon = rest.rfind(':');
      std::string::size_type last_slash = rest.rfind('/');
      if (colon != std::string::npos && last_slash != std::string::npos && colon > last_slash) {
        hash = colon;
      }
    }
    if (hash != std::string::npos) {
      ref.tag = rest.substr(hash + 1);
      rest = rest.substr(0, hash);
      if (!IsPlainName(ref.tag, 128)) return Bad(uri, "the tag is not valid");
    } else if (ref.digest.empty()) {
      ref.tag = "latest";
    }
    // docker:///repo (the default registry) or docker://registry/repo.
    std::string::size_type slash = rest.find('/');
    if (slash == std::string::npos) return Bad(uri, "expected docker:///REPO or docker://REGISTRY/REPO");
    ref.registry = rest.substr(0, slash);
    ref.repository = rest.substr(slash + 1);
    static const LazyRE2 kRepo = {"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"};
    static const LazyRE2 kRegistry = {"[A-Za-z0-9.-]+(?::[0-9]+)?|\\[[0-9A-Fa-f:]+\\](?::[0-9]+)?"};
    if (!RE2::FullMatch(ref.repository, *kRepo)) return Bad(uri, "the repository name is not valid");
    if (!ref.registry.empty() && !RE2::FullMatch(ref.registry, *kRegistry)) {
      return Bad(uri, "the registry is not a host[:port]");
    }
    return ref;
  }
  return Bad(uri, "unknown scheme: use /path, raw://, oci://, docker-archive:// or docker://");
}

RegistryEndpoint ResolveRegistry(const ImageReference& ref, const std::string& default_registry) {
  RegistryEndpoint e{ref.registry.empty() ? default_registry : ref.registry, ref.repository};
  if (e.host == "docker.io" || e.host == "index.docker.io" || e.host == "registry-1.docker.io") {
    e.host = "registry-1.docker.io";
    if (e.repository.find('/') == std::string::npos) e.repository = "library/" + e.repository;
  }
  return e;
}

}  // namespace gdn::image
