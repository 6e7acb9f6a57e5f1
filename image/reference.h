// Image references as Garden's clients write them (GARDEN_API.md 1.5, `image.uri`): a plain
// folder, an OCI image layout, a `docker save` tarball, or a registry image.
#ifndef GDN_IMAGE_REFERENCE_H_
#define GDN_IMAGE_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"

namespace gdn::image {

enum class SourceKind {
  kFolder,         // "/path" or "raw:///path": a ready root filesystem
  kOciLayout,      // "oci:///path[:tag]"
  kDockerArchive,  // "docker-archive:///path.tar"
  kRegistry,       // "docker:///repo[:tag|#tag|@digest]", "docker://registry/repo..."
};

struct ImageReference {
  SourceKind kind;
  std::string path;      // folder, layout or tarball (absolute)
  std::string tag;       // layout tag, or registry tag ("latest" when neither it nor a
                         // digest is given)
  std::string digest;    // registry: "sha256:<hex>" after '@'
  std::string registry;  // registry host[:port]; empty means the default registry
  std::string repository;
};

// The registry's own host[:port] and the repository as the v2 API names it: the default
// registry for an empty one; Docker Hub's API host for "docker.io", where single names get
// "library/" as Docker adds it.
struct RegistryEndpoint {
  std::string host;
  std::string repository;
};
RegistryEndpoint ResolveRegistry(const ImageReference& ref, const std::string& default_registry);

// InvalidArgument (exit 7) with a sentence for a reference we cannot read.
absl::StatusOr<ImageReference> ParseImageReference(const std::string& uri);

}  // namespace gdn::image

#endif  // GDN_IMAGE_REFERENCE_H_
