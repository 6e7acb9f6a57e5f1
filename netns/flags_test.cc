#include "netns/flags.h"

#include "gtest/gtest.h"
#include "lib/status.h"

namespace gdn::netns {
namespace {

TEST(ParseCommandLine, GardensForm) {
  // gdn puts the extra args first: --configFile=... --action up --handle h.
  auto inv = ParseCommandLine({"--configFile=/etc/x.json", "--action", "up", "--handle", "h1"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->action, Action::kUp);
  EXPECT_EQ(inv->handle, "h1");
  EXPECT_EQ(inv->config_file, "/etc/x.json");
}

TEST(ParseCommandLine, GoFlagForms) {
  auto inv = ParseCommandLine({"-action=bulk-net-out", "-handle", "h", "-configFile", "/c"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->action, Action::kBulkNetOut);
  EXPECT_EQ(inv->config_file, "/c");
  for (const char* a : {"up", "down", "net-in", "net-out", "bulk-net-out", "check"}) {
    auto parsed = ParseCommandLine({"--action", a, "--handle", "h"});
    ASSERT_TRUE(parsed.ok()) << a;
    EXPECT_STREQ(ActionName(parsed->action), a);
    EXPECT_FALSE(parsed->config_file.has_value());
  }
}

TEST(ParseCommandLine, UsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--handle", "h"},
           {"--action", "up"},
           {"--action", "up", "--handle", ""},
           {"--action", "destroy", "--handle", "h"},
           {"--action", "up", "--handle", "h", "extra"},
           {"--action", "up", "--handle", "h", "--pid", "3"},
           {"--action", "up", "--action", "down", "--handle", "h"},
           {"--action", "up", "--handle", "h", "--configFile="},
           {"--action", "up", "--handle"},
       }) {
    auto inv = ParseCommandLine(args);
    EXPECT_TRUE(IsUsageError(inv.status())) << args.size() << " " << inv.status();
  }
  EXPECT_EQ(ParseCommandLine({"--action", "x", "--handle", "h"}).status().message(),
            "unrecognized action: x");
}

}  // namespace
}  // namespace gdn::netns
