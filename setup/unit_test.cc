// Unit tests of setup's parts that need no root: free subordinate ranges, the network
// config, merging actions into a record, and CheckSetup.
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/status.h"
#include "lib/testing/testing.h"
#include "setup/network.h"
#include "setup/record.h"
#include "setup/setup.h"
#include "setup/subids.h"

namespace gdn::setup {
namespace {

TEST(Subids, FreeStartIsAboveEveryRangeAndAtLeast100000) {
  EXPECT_EQ(FreeSubidStart({}), 100000u);
  std::vector<SubidEntry> uids = ParseSubidFile("a:100000:65536\nb:1000000:1000\n# c:x:y\n");
  std::vector<SubidEntry> gids = ParseSubidFile("a:100000:65536\nb:2000000:65536\n");
  EXPECT_EQ(FreeSubidStart({uids}), 1001000u);
  EXPECT_EQ(FreeSubidStart({uids, gids}), 2065536u);
  EXPECT_EQ(FreeSubidStart({ParseSubidFile("low:1000:10\n")}), 100000u);
}

TEST(Subids, RemoveLineTakesOnlyThatLine) {
  EXPECT_EQ(RemoveLine("a:1:2\nu:100000:65536\nb:3:4\n", "u:100000:65536"), "a:1:2\nb:3:4\n");
  EXPECT_EQ(RemoveLine("a:1:2\n", "u:100000:65536"), "a:1:2\n");
  EXPECT_EQ(RemoveLine("u:100000:655360\n", "u:100000:65536"), "u:100000:655360\n");
  EXPECT_EQ(RemoveLine("u:1:2\nu:1:2\n", "u:1:2"), "u:1:2\n");
}

TEST(Network, DefaultsAreValidAndAFileOverridesThem) {
  NetworkConfig d = DefaultNetworkConfig(999, "/etc/gdn", "gdn-999-");
  EXPECT_TRUE(ValidateNetworkConfig(d).ok());
  EXPECT_EQ(d.cni_config_dir(), "/etc/gdn/network/cni-999");
  EXPECT_EQ(DescribeNetwork(d), "subnet 10.254.0.0/22, ports 61001-65534");
  std::string conflist = DefaultCniConflist(999, d);
  EXPECT_NE(conflist.find(R"("bridge": "gdnbr999")"), std::string::npos) << conflist;
  EXPECT_NE(conflist.find(R"("subnet": "10.254.0.0/22")"), std::string::npos) << conflist;
  EXPECT_NE(conflist.find(R"("dataDir": "/run/gdn-netns-state/999/ipam")"), std::string::npos) << conflist;

  testing::TempDir dir;
  std::string file = dir.Join("net.json");
  ASSERT_TRUE(WriteFileAtomic(file, R"({"subnet":"10.9.0.0/16","start_port":40000,"search_domains":["x"]})").ok());
  absl::StatusOr<NetworkConfig> c = ResolveNetworkConfig(999, "/etc/gdn", "gdn-999-", file);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subnet(), "10.9.0.0/16");
  EXPECT_EQ(c->start_port(), 40000u);
  EXPECT_EQ(c->total_ports(), 4534u);
  EXPECT_EQ(c->search_domains_size(), 1);
  EXPECT_EQ(c->uid(), 999u);

  ASSERT_TRUE(WriteFileAtomic(file, R"({"uid":1000})").ok());
  EXPECT_EQ(ExitCodeFor(ResolveNetworkConfig(999, "/etc/gdn", "gdn-999-", file).status()), kExitInvalid);
  ASSERT_TRUE(WriteFileAtomic(file, R"({"no_such_field":1})").ok());
  EXPECT_EQ(ExitCodeFor(ResolveNetworkConfig(999, "/etc/gdn", "gdn-999-", file).status()), kExitInvalid);
}

TEST(Network, UsersNeverShareSubnetsOrPorts) {
  // The first user gets Garden's pool; the next ones the next free pools.
  absl::StatusOr<NetworkConfig> a = ResolveNetworkConfig(999, "/etc/gdn", "gdn-999-", "");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(DescribeNetwork(*a), "subnet 10.254.0.0/22, ports 61001-65534");
  absl::StatusOr<NetworkConfig> b = ResolveNetworkConfig(1000, "/etc/gdn", "gdn-1000-", "", {*a});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(DescribeNetwork(*b), "subnet 10.254.4.0/22, ports 31768-32767");
  absl::StatusOr<NetworkConfig> c = ResolveNetworkConfig(1001, "/etc/gdn", "gdn-1001-", "", {*b, *a});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(DescribeNetwork(*c), "subnet 10.254.8.0/22, ports 30768-31767");
  // A user set up again keeps its pool, whoever came since.
  absl::StatusOr<NetworkConfig> again = ResolveNetworkConfig(1000, "/etc/gdn", "gdn-1000-", "", {*a, *c}, &*b);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(DescribeNetwork(*again), DescribeNetwork(*b));
  // A pool freed by an undo is handed out again.
  absl::StatusOr<NetworkConfig> d = ResolveNetworkConfig(1002, "/etc/gdn", "gdn-1002-", "", {*a, *c});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(DescribeNetwork(*d), DescribeNetwork(*b));

  // A file's subnet or ports may not overlap another user's; what it leaves out is found.
  testing::TempDir dir;
  std::string file = dir.Join("net.json");
  ASSERT_TRUE(WriteFileAtomic(file, R"({"subnet":"10.254.2.0/24"})").ok());
  absl::StatusOr<NetworkConfig> bad = ResolveNetworkConfig(1003, "/etc/gdn", "gdn-1003-", file, {*a});
  EXPECT_EQ(ExitCodeFor(bad.status()), kExitExists) << bad.status();
  EXPECT_NE(bad.status().message().find("overlaps uid 999's 10.254.0.0/22"), std::string::npos) << bad.status();
  ASSERT_TRUE(WriteFileAtomic(file, R"({"start_port":65000,"total_ports":10})").ok());
  bad = ResolveNetworkConfig(1003, "/etc/gdn", "gdn-1003-", file, {*a});
  EXPECT_EQ(ExitCodeFor(bad.status()), kExitExists) << bad.status();
  ASSERT_TRUE(WriteFileAtomic(file, R"({"subnet":"10.9.0.0/16"})").ok());
  absl::StatusOr<NetworkConfig> own = ResolveNetworkConfig(1003, "/etc/gdn", "gdn-1003-", file, {*a});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(DescribeNetwork(*own), "subnet 10.9.0.0/16, ports 31768-32767");

  // When every default pool is taken: exit 6 naming --network-config.
  std::vector<NetworkConfig> all;
  for (uid_t uid = 2000; uid < 2013; ++uid) {
    absl::StatusOr<NetworkConfig> n = ResolveNetworkConfig(uid, "/etc/gdn", "p-", "", all);
    ASSERT_TRUE(n.ok()) << uid << ": " << n.status();
    all.push_back(*n);
  }
  absl::StatusOr<NetworkConfig> none = ResolveNetworkConfig(3000, "/etc/gdn", "p-", "", all);
  EXPECT_EQ(ExitCodeFor(none.status()), kExitExhausted) << none.status();
  EXPECT_NE(none.status().message().find("--network-config"), std::string::npos);
}

TEST(Network, RejectsBadSubnetsPortsAndPaths) {
  for (const char* subnet : {"10.0.0.1/24", "10.0.0.0", "10.0.0.0/31", "10.0.0.0/7", "x/24", "10.0.0.0/2x"}) {
    NetworkConfig c = DefaultNetworkConfig(1, "/etc/gdn", "p-");
    c.set_subnet(subnet);
    EXPECT_FALSE(ValidateNetworkConfig(c).ok()) << subnet;
  }
  NetworkConfig c = DefaultNetworkConfig(1, "/etc/gdn", "p-");
  c.set_start_port(65000);
  c.set_total_ports(537);
  EXPECT_FALSE(ValidateNetworkConfig(c).ok());
  c.set_total_ports(536);
  EXPECT_TRUE(ValidateNetworkConfig(c).ok());
  c.set_cni_plugin_dir("lib/cni");
  EXPECT_FALSE(ValidateNetworkConfig(c).ok());
}

TEST(Record, MergeKeepsTheOldestOfEachAction) {
  SetupRecord r;
  Action first;
  first.set_kind(Action::FOLDER);
  first.set_path("/d");
  first.set_previous_uid(5);
  *r.add_actions() = first;
  Action again = first;
  again.set_previous_uid(999);
  Action other;
  other.set_kind(Action::CHAIN);
  other.set_table("nat");
  other.set_chain("c");
  MergeActions({again, other}, r.mutable_actions());
  ASSERT_EQ(r.actions_size(), 2);
  EXPECT_EQ(r.actions(0).previous_uid(), 5u);
  EXPECT_EQ(r.actions(1).chain(), "c");
}

TEST(Record, CheckSetupSaysRunSetup) {
  testing::TempDir dir;
  absl::Status absent = CheckSetup(999, dir.path());
  EXPECT_EQ(ExitCodeFor(absent), kExitNotPermitted);
  EXPECT_NE(absent.message().find("this host is not set up for uid 999"), std::string::npos) << absent;
  EXPECT_NE(absent.message().find("run `sudo setup --rootless-uid 999 --rootless-gid "), std::string::npos)
      << absent;
  if (geteuid() != 0) GTEST_SKIP() << "the rest needs root-owned files";
  ASSERT_TRUE(MakeDirs(RecordDir(dir.path())).ok());
  SetupRecord other;
  other.set_uid(1000);
  ASSERT_TRUE(WriteFileAtomic(RecordPath(dir.path(), 999), R"({"uid":1000})", 0644).ok());
  absl::Status wrong = CheckSetup(999, dir.path());
  EXPECT_EQ(ExitCodeFor(wrong), kExitNotPermitted);
  EXPECT_NE(wrong.message().find("made for uid 1000"), std::string::npos) << wrong;

  SetupRecord mine;
  mine.set_uid(999);
  ASSERT_TRUE(WriteRecord(dir.path(), mine).ok());
  EXPECT_TRUE(CheckSetup(999, dir.path()).ok());
  ASSERT_EQ(chmod(RecordPath(dir.path(), 999).c_str(), 0666), 0);
  EXPECT_EQ(ExitCodeFor(CheckSetup(999, dir.path())), kExitNotPermitted);
}

}  // namespace
}  // namespace gdn::setup
