// `spawn spec`: a default config.json, as `runc spec` writes one, optionally rootless and
// optionally merged with an image plugin's answer (root path, overlay mount, environment).
#ifndef GDN_SPAWN_SPEC_H_
#define GDN_SPAWN_SPEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "spawn/config.schema.h"

namespace gdn::spawn {

struct SpecOptions {
  bool rootless = false;
  uid_t uid = 0;  // the ids a rootless container maps to its root
  gid_t gid = 0;
};

oci::Spec DefaultSpec(const SpecOptions& options);

// Merges the JSON an image plugin prints for `create` (GARDEN_API.md 5.6: root.path,
// mounts with the "/" overlay, process.env) into `spec`. InvalidArgument if malformed.
absl::Status MergeImage(const std::string& image_json, oci::Spec* spec);

// The spec as config.json text (OCI spellings, indented).
std::string SpecJson(const oci::Spec& spec);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_SPEC_H_
