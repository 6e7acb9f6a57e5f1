#include "image/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/status.h"
#include "re2/re2.h"

namespace gdn::image {
namespace {

std::string Hex(const unsigned char* d, unsigned n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 15]);
  }
  return out;
}

}  // namespace

std::string Sha256(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return absl::StrCat("sha256:", Hex(md, n));
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(path, O_RDONLY));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      EVP_MD_CTX_free(ctx);
      return ErrnoError(errno, "read", path);
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return absl::StrCat("sha256:", Hex(md, len));
}

std::vector<std::string> ChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const std::string& d : diff_ids) {
    out.push_back(out.empty() ? d : Sha256(absl::StrCat(out.back(), " ", d)));
  }
  return out;
}

absl::StatusOr<std::string> DigestHex(const std::string& digest) {
  static const LazyRE2 kDigest = {"sha256:([0-9a-f]{64})"};
  std::string hex;
  if (!RE2::FullMatch(digest, *kDigest, &hex)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", digest, "\" is not a sha256 digest"));
  }
  return hex;
}

}  // namespace gdn::image
