// Unpacking one image layer (a tar, plain or gzip/zstd/xz-compressed) into an empty folder,
// so that no entry can write outside it: ".." is refused, absolute names are taken as
// relative, and every parent is resolved inside the folder with openat2(RESOLVE_IN_ROOT),
// so a symlink planted by an earlier entry (or layer) cannot lead out. Whiteouts become what
// overlayfs reads: ".wh.NAME" a 0/0 character device NAME, ".wh..wh..opq" the opaque xattr.
#ifndef GDN_IMAGE_UNPACK_H_
#define GDN_IMAGE_UNPACK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::image {

struct UnpackOptions {
  // A layer whose content (uncompressed) exceeds this is refused: decompression bombs.
  uint64_t max_bytes = uint64_t{16} << 30;
  uint64_t max_entries = 4'000'000;
  // Set owners from the layer (as root, or as root of a user namespace).
  bool chown = true;
  // The xattr namespace overlayfs reads: "trusted." as root, "user." for a rootless overlay
  // (mounted with userxattr).
  std::string overlay_xattr_prefix = "trusted.";
  // "sha256:<hex>" of the uncompressed tar, as the image's config names it; a layer whose
  // content hashes otherwise is refused (InvalidArgument). Empty: not checked.
  std::string expected_diff_id;
};

struct UnpackReport {
  uint64_t bytes = 0;    // file content written
  uint64_t entries = 0;
  std::vector<std::string> skipped;  // entries that could not be made here (devices), said so
};

// InvalidArgument (exit 7) for a malformed or hostile layer; the caller removes `dest`.
absl::StatusOr<UnpackReport> UnpackLayer(const std::string& layer_path, const std::string& dest,
                                         const UnpackOptions& options = {});

}  // namespace gdn::image

#endif  // GDN_IMAGE_UNPACK_H_
