#include "idmap/idmap_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/status.h"

namespace gdn::idmap {
namespace {

using ::testing::HasSubstr;

TEST(ParseCommandLine, Show) {
  auto cmd = ParseCommandLine({"show"});
  ASSERT_TRUE(cmd.ok());
  EXPECT_FALSE(std::get<ShowCommand>(*cmd).user.has_value());
  cmd = ParseCommandLine({"show", "--user", "alice"});
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(*std::get<ShowCommand>(*cmd).user, "alice");
  cmd = ParseCommandLine({"show", "--user=1000"});
  EXPECT_EQ(*std::get<ShowCommand>(*cmd).user, "1000");
}

TEST(ParseCommandLine, Apply) {
  auto cmd = ParseCommandLine({"apply", "--pid", "42", "--uid-map", "0:1000:1", "--uid-map=1:100000:65536",
                               "--gid-map", "0:1000:1", "--setgroups", "deny"});
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  const ApplyCommand& a = std::get<ApplyCommand>(*cmd);
  EXPECT_EQ(a.pid, 42);
  ASSERT_EQ(a.uid_map.size(), 2u);
  EXPECT_EQ(a.uid_map[1], (IdMapping{1, 100000, 65536}));
  ASSERT_EQ(a.gid_map.size(), 1u);
  EXPECT_EQ(a.setgroups, Setgroups::kDeny);
}

TEST(ParseCommandLine, EveryMistakeIsAUsageError) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"show", "--user"},
      {"show", "--user="},
      {"show", "--pid", "1"},
      {"show", "extra"},
      {"apply"},
      {"apply", "--pid", "1"},
      {"apply", "--uid-map", "0:0:1"},
      {"apply", "--pid", "0", "--uid-map", "0:0:1"},
      {"apply", "--pid", "-5", "--uid-map", "0:0:1"},
      {"apply", "--pid", "x", "--uid-map", "0:0:1"},
      {"apply", "--pid", "1", "--uid-map", "0:0"},
      {"apply", "--pid", "1", "--uid-map", "0 0 1"},
      {"apply", "--pid", "1", "--gid-map", "0:0:1", "--setgroups", "maybe"},
      {"apply", "--pid", "1", "--uid-map", "0:0:1", "--setgroups", "deny"},
      {"apply", "--pid", "1", "--uid-map", "0:0:1", "--bogus", "1"},
  };
  for (const auto& args : bad) {
    auto cmd = ParseCommandLine(args);
    ASSERT_FALSE(cmd.ok()) << ::testing::PrintToString(args);
    EXPECT_TRUE(IsUsageError(cmd.status())) << cmd.status();
  }
  EXPECT_THAT(ParseCommandLine({"apply", "--pid", "1", "--uid-map", "0:x:1"}).status().message(),
              HasSubstr("--uid-map: id mapping \"0:x:1\""));
}

}  // namespace
}  // namespace gdn::idmap
