// image-unpack: unpacks one layer into an empty folder (see unpack.h). image-store runs it
// (inside the store's user namespace when the store is shifted), so that image-store itself
// does not load libarchive and its libraries for the commands that unpack nothing.
//   image-unpack [--no-chown] [--xattr-prefix trusted.|user.] [--max-bytes N] [--diff-id D] LAYER DEST
// LAYER is a tar (plain, gzip or zstd) or "-" for stdin; with --diff-id the uncompressed
// tar's sha256 must be D (exit 7 otherwise).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "image/unpack.h"

int main(int argc, char** argv) {
  gdn::image::UnpackOptions o;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; ++i) {
    if (strcmp(argv[i], "--no-chown") == 0) {
      o.chown = false;
    } else if (strcmp(argv[i], "--xattr-prefix") == 0 && i + 1 < argc) {
      o.overlay_xattr_prefix = argv[++i];
    } else if (strcmp(argv[i], "--diff-id") == 0 && i + 1 < argc) {
      o.expected_diff_id = argv[++i];
    } else if (strcmp(argv[i], "--max-bytes") == 0 && i + 1 < argc) {
      o.max_bytes = strtoull(argv[++i], nullptr, 10);
    } else {
      fprintf(stderr, "image-unpack: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (argc - i != 2) {
    fprintf(stderr, "usage: image-unpack [--no-chown] [--xattr-prefix P] [--max-bytes N] [--diff-id D] LAYER DEST\n");
    return 2;
  }
  absl::StatusOr<gdn::image::UnpackReport> r = gdn::image::UnpackLayer(argv[i], argv[i + 1], o);
  if (!r.ok()) {
    fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
    return r.status().code() == absl::StatusCode::kInvalidArgument ? 7 : 1;
  }
  for (const std::string& s : r->skipped) fprintf(stderr, "image-unpack: skipped %s\n", s.c_str());
  return 0;
}
