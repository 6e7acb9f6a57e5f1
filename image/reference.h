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
  kRegistry,       // "docker:///repo#tag", "docker://registry/repo#tag"
};

struct ImageReference {
  SourceKind kind;
  std::string path;      // folder, layout or tarball (absolute)
  std::string tag;       // layout tag, or registry tag ("latest" when none)
  std::string registry;  // registry host[:port]; empty means Docker Hub
  std::string repository;
};

// InvalidArgument (exit 7) with a sentence for a reference we cannot read.
absl::StatusOr<ImageReference> ParseImageReference(const std::string& uri);

}  // namespace gdn::image

#endif  // GDN_IMAGE_REFERENCE_H_
