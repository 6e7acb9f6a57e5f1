#include "setup/setup_flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/status.h"

namespace gdn::setup {
namespace {

absl::StatusOr<SetupOptions> Parse(std::vector<std::string> args) { return ParseSetupFlags(args); }

TEST(SetupFlags, DefaultsFollowTheUid) {
  absl::StatusOr<SetupOptions> o = Parse({"--rootless-uid", "999", "--rootless-gid=995"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->uid, 999u);
  EXPECT_EQ(o->gid, 995u);
  EXPECT_FALSE(o->undo);
  EXPECT_EQ(o->config_dir, "/etc/gdn");
  EXPECT_EQ(o->depot, "/var/lib/gdn/999/depot");
  EXPECT_EQ(o->store, "/var/lib/gdn/999/store");
  EXPECT_EQ(o->run_dir, "/run/gdn/999");
  EXPECT_EQ(o->install_dir, "/usr/local/lib/gdn");
  EXPECT_EQ(o->cgroup_root, "/sys/fs/cgroup");
  EXPECT_EQ(o->chain_prefix, "gdn-999-");
  EXPECT_TRUE(o->bin_dir.empty());
  EXPECT_TRUE(o->cgroup_controllers.empty());
}

TEST(SetupFlags, EverythingRelocates) {
  absl::StatusOr<SetupOptions> o =
      Parse({"--rootless-uid", "1000", "--rootless-gid", "1000", "--config-dir", "/tmp/c/",
             "--depot", "/tmp/d", "--store", "/tmp/s", "--run-dir", "/tmp/r", "--bin-dir", "/b",
             "--install-dir", "/tmp/i", "--cgroup-root", "/sys/fs/cgroup/unified",
             "--cgroup-controllers", "hugetlb,pids", "--chain-prefix", "t1-", "--add-subids",
             "--setuid-group", "--json", "--network-config", "net.json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config_dir, "/tmp/c");
  EXPECT_EQ(o->bin_dir, "/b");
  EXPECT_EQ(o->cgroup_controllers, (std::vector<std::string>{"hugetlb", "pids"}));
  EXPECT_EQ(o->chain_prefix, "t1-");
  EXPECT_TRUE(o->add_subids && o->setuid_group && o->json);
  EXPECT_EQ(o->network_config_file, "net.json");
}

TEST(SetupFlags, UsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--rootless-uid", "999"},
           {"--rootless-uid", "x", "--rootless-gid", "1"},
           {"--rootless-uid", "-5", "--rootless-gid", "1"},
           {"--rootless-uid", "0", "--rootless-gid", "1"},
           {"--rootless-uid", "999", "--rootless-gid", "0"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--depot", "relative"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--store", "/a/../b"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--chain-prefix", "a-very-long-prefix-"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--chain-prefix", "a b"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--chain-prefix", "a.b-"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--cgroup-controllers", "me/m"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "--unknown"},
           {"--rootless-uid", "999", "--rootless-gid", "995", "extra"},
       }) {
    absl::StatusOr<SetupOptions> o = Parse(args);
    EXPECT_FALSE(o.ok()) << args.size();
    if (!o.ok()) {
      EXPECT_EQ(ExitCodeFor(o.status()), kExitUsage) << o.status();
    }
  }
}

TEST(SetupFlags, UndoTakesOnlyTheUidAndConfigDir) {
  absl::StatusOr<SetupOptions> o = Parse({"--undo", "--rootless-uid", "999", "--config-dir", "/x"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->undo);
  EXPECT_EQ(o->config_dir, "/x");
  absl::StatusOr<SetupOptions> bad = Parse({"--undo", "--rootless-uid", "999", "--depot", "/d"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ExitCodeFor(bad.status()), kExitUsage);
  EXPECT_NE(bad.status().message().find("record says what to undo"), std::string::npos);
}

}  // namespace
}  // namespace gdn::setup
