#include "image/digest.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gdn::image {
namespace {

std::string OpenSslSha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  for (unsigned i = 0; i < n; ++i) absl::StrAppend(&out, absl::Hex(md[i], absl::kZeroPad2));
  return out;
}

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(Sha256(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Every length around the padding boundaries, and bytes with the high bit set.
TEST(Sha256, AgreesWithOpenSslAtEveryLength) {
  std::string data;
  for (int n = 0; n < 300; ++n) {
    EXPECT_EQ(Sha256(data), OpenSslSha256(data)) << "length " << n;
    data.push_back(static_cast<char>(n * 131 + 7));
  }
  std::string big(1 << 20, '\xff');
  EXPECT_EQ(Sha256(big), OpenSslSha256(big));
}

TEST(DigestHex, AcceptsOnlySha256) {
  std::string hex(64, 'a');
  EXPECT_EQ(*DigestHex("sha256:" + hex), hex);
  EXPECT_FALSE(DigestHex("sha512:" + hex).ok());
  EXPECT_FALSE(DigestHex("sha256:" + hex.substr(1)).ok());
  EXPECT_FALSE(DigestHex("sha256:" + std::string(64, 'A')).ok());
  EXPECT_FALSE(DigestHex("sha256:../" + hex.substr(3)).ok());
}

TEST(ChainIds, FirstIsTheDiffIdThenHashed) {
  std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b');
  auto ids = ChainIds({a, b});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], a);
  EXPECT_EQ(ids[1], Sha256(a + " " + b));
}

}  // namespace
}  // namespace gdn::image
