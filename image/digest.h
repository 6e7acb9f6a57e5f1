// sha256 digests ("sha256:<hex>") of files and strings, and OCI chain ids.
#ifndef GDN_IMAGE_DIGEST_H_
#define GDN_IMAGE_DIGEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn::image {

std::string Sha256(absl::string_view data);
absl::StatusOr<std::string> Sha256File(const std::string& path);
// ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
std::vector<std::string> ChainIds(const std::vector<std::string>& diff_ids);
// "sha256:<64 hex>" -> "<64 hex>"; InvalidArgument for anything else.
absl::StatusOr<std::string> DigestHex(const std::string& digest);

}  // namespace gdn::image

#endif  // GDN_IMAGE_DIGEST_H_
