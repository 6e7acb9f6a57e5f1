#include "lib/names.h"

#include <string>

#include "gtest/gtest.h"

namespace gdn {
namespace {

TEST(IsPlainName, AcceptsIdsAndHandles) {
  EXPECT_TRUE(IsPlainName("a", 128));
  EXPECT_TRUE(IsPlainName("_x.y-Z9", 128));
  EXPECT_TRUE(IsPlainName(std::string(128, 'a'), 128));
}

TEST(IsPlainName, RefusesTheRest) {
  EXPECT_FALSE(IsPlainName("", 128));
  EXPECT_FALSE(IsPlainName(std::string(129, 'a'), 128));
  EXPECT_FALSE(IsPlainName(".hidden", 128));
  EXPECT_FALSE(IsPlainName("-flag", 128));
  EXPECT_FALSE(IsPlainName("a/b", 128));
  EXPECT_FALSE(IsPlainName("..", 128));
  EXPECT_FALSE(IsPlainName("a b", 128));
  EXPECT_FALSE(IsPlainName(std::string("a\0b", 3), 128));
  EXPECT_FALSE(IsPlainName("caf\xc3\xa9", 128));
}

TEST(IsLowerHex, ExactLengthLowercase) {
  EXPECT_TRUE(IsLowerHex(std::string(64, 'f'), 64));
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_FALSE(IsLowerHex(std::string(63, 'f'), 64));
  EXPECT_FALSE(IsLowerHex(std::string(64, 'F'), 64));
  EXPECT_FALSE(IsLowerHex("0123456789abcdeg", 16));
}

}  // namespace
}  // namespace gdn
