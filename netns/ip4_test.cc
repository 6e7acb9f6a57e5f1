#include "netns/ip4.h"

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace gdn::netns {
namespace {

TEST(Ip4, ParsesAndPrints) {
  EXPECT_EQ(ParseIPv4("10.250.1.2"), 0x0afa0102u);
  EXPECT_EQ(FormatIPv4(0x0afa0102u), "10.250.1.2");
  for (const char* bad :
       {"", "10.1.2", "10.1.2.256", "::1", "10.1.2.3/24", " 10.1.2.3", "a.b.c.d"}) {
    EXPECT_FALSE(ParseIPv4(bad).has_value()) << bad;
  }
  // What follows a NUL or a newline is part of the address, and so no address.
  for (absl::string_view bad : {absl::string_view("10.1.2.3\0\nCOMMIT", 16),
                                absl::string_view("10.1.2.3\n-A X", 14), absl::string_view("10.1.2.3 ")}) {
    EXPECT_FALSE(ParseIPv4(bad).has_value());
  }
}

TEST(Ip4, Cidrs) {
  auto c = ParseCidr("10.250.1.7/24");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->prefix, 24);
  EXPECT_EQ(c->Address(), "10.250.1.7");
  EXPECT_EQ(c->Network(), "10.250.1.0/24");
  EXPECT_EQ(ParseCidr("10.0.0.1")->Network(), "10.0.0.1/32");
  EXPECT_EQ(ParseCidr("10.9.8.7/0")->Network(), "0.0.0.0/0");
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0/8", "x/8"}) {
    EXPECT_FALSE(ParseCidr(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace gdn::netns
