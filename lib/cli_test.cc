#include "lib/cli.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/status.h"

namespace gdn {
namespace {

using ::testing::ElementsAre;

const std::vector<FlagSpec> kSpecs = {
    {"bundle", 'b'}, {"pid-file"}, {"detach", 'd', false}, {"env", 'e'}};

TEST(ParseFlags, ReadsEveryForm) {
  auto f = ParseFlags({"--bundle", "/b", "--pid-file=/p", "-d", "-e", "A=1", "--env=B=2", "id"},
                      kSpecs, false);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Get("bundle"), "/b");
  EXPECT_EQ(f->Get("pid-file"), "/p");
  EXPECT_TRUE(f->Bool("detach"));
  EXPECT_THAT(f->All("env"), ElementsAre("A=1", "B=2"));
  EXPECT_THAT(f->positional, ElementsAre("id"));
  EXPECT_EQ(f->Get("missing", "dflt"), "dflt");
}

TEST(ParseFlags, SingleDashLongNamesAndBooleanValues) {
  auto f = ParseFlags({"-bundle", "/b", "--detach=false"}, kSpecs, false);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Get("bundle"), "/b");
  EXPECT_FALSE(f->Bool("detach"));
}

TEST(ParseFlags, StopsAtThePositionalWhenAsked) {
  auto f = ParseFlags({"-d", "id", "sh", "-c", "echo -e"}, kSpecs, true);
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(f->positional, ElementsAre("id", "sh", "-c", "echo -e"));
  f = ParseFlags({"id", "--", "-d"}, kSpecs, false);
  EXPECT_THAT(f->positional, ElementsAre("id", "-d"));
}

TEST(ParseFlags, MistakesAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--nope"}, {"--bundle"}, {"--detach=maybe"}, {"-x"}}) {
    auto f = ParseFlags(args, kSpecs, false);
    ASSERT_FALSE(f.ok());
    EXPECT_TRUE(IsUsageError(f.status())) << f.status();
  }
}

}  // namespace
}  // namespace gdn
