#include "netns/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"

namespace gdn::netns {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSeedLike[] = R"({
  "cni_plugin_dir": "/var/vcap/packages/cni/bin",
  "cni_config_dir": "/var/vcap/jobs/garden-cni/config/cni",
  "bind_mount_dir": "/var/vcap/data/garden-cni/container-netns",
  "overlay_network": "10.255.0.0/16",
  "state_file": "/var/vcap/data/garden-cni/external-networker-state.json",
  "start_port": 60000,
  "total_ports": 5000,
  "iptables_lock_file": "/var/vcap/data/garden-cni/iptables.lock",
  "instance_address": "10.0.16.5",
  "iptables_asg_logging": true,
  "log_prefix": "cfnetworking",
  "search_domains": ["service.cf.internal"],
  "proxy_redirect_cidr": ""
})";

TEST(ParseConfig, TheSeedsFieldsAndUnknownOnes) {
  auto c = ParseConfig(kSeedLike);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cni_plugin_dir(), "/var/vcap/packages/cni/bin");
  EXPECT_EQ(c->start_port(), 60000u);
  EXPECT_EQ(c->total_ports(), 5000u);
  EXPECT_TRUE(c->iptables_asg_logging());
  EXPECT_EQ(c->instance_address(), "10.0.16.5");
  EXPECT_EQ(c->chain_prefix(), "gdn-");
  EXPECT_EQ(c->search_domains_size(), 1);
}

TEST(ParseConfig, DefaultsAndGoStyleKeys) {
  auto c = ParseConfig(R"({"CNI_Config_Dir":"/c","bind_mount_dir":"/b","State_File":"/s"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cni_config_dir(), "/c");
  EXPECT_EQ(c->state_file(), "/s");
  EXPECT_EQ(c->cni_plugin_dir(), "/usr/lib/cni");
  EXPECT_EQ(c->start_port(), kDefaultStartPort);
  EXPECT_EQ(c->total_ports(), kDefaultTotalPorts);
}

TEST(ParseConfig, Refusals) {
  struct Case {
    const char* json;
    const char* why;
  } cases[] = {
      {R"({"bind_mount_dir":"/b","state_file":"/s"})", "cni_config_dir is missing"},
      {R"({"cni_config_dir":"c","bind_mount_dir":"/b","state_file":"/s"})", "absolute path"},
      {R"({"cni_config_dir":"/c/../etc","bind_mount_dir":"/b","state_file":"/s"})", ".."},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","start_port":65000,"total_ports":1000})",
       "past 65535"},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","chain_prefix":"a-very-long-prefix-"})",
       "chain_prefix"},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","chain_prefix":"x y"})",
       "chain_prefix"},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","overlay_network":"10.0.0.0/40"})",
       "overlay_network"},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","instance_address":"host"})",
       "instance_address"},
      {R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","cni_network":"../x"})",
       "cni_network"},
      {R"(not json)", "configuration"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseConfig(c.json);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.why)) << c.json;
  }
}

TEST(ParseConfig, ErrorsNameTheFieldNeverItsValue) {
  // The file may be one the caller of a setuid netns cannot read: a message that quoted it
  // would read it for them.
  const char* cases[] = {
      R"({"cni_config_dir":"SECRET","bind_mount_dir":"/b","state_file":"/s"})",
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","chain_prefix":"SECRET SECRET"})",
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","overlay_network":"SECRET"})",
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","instance_address":"SECRET"})",
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","start_port":"SECRET"})",
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","start_port":65123,"total_ports":64321})",
      "root:SECRET:19000:0:99999:7:::",
  };
  for (const char* json : cases) {
    absl::Status s = ParseConfig(json).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(s.message(), Not(HasSubstr("SECRET"))) << json;
    EXPECT_THAT(s.message(), Not(HasSubstr("65123"))) << json;
    EXPECT_THAT(s.message(), Not(HasSubstr("64321"))) << json;
  }
}

TEST(ParseConfig, WhatSetupWrites) {
  // setup/network.cc's NetworkConfig: its extra fields (subnet, log_prefix) are ignored.
  auto c =
      ParseConfig(R"({"cni_plugin_dir":"/usr/lib/cni","cni_config_dir":"/etc/gdn/network/cni-999",
    "bind_mount_dir":"/run/gdn-netns/999","state_file":"/var/lib/gdn-netns/999/state.json",
    "start_port":61001,"total_ports":4534,"log_prefix":"gdn-999","iptables_lock_file":"/run/xtables.lock",
    "subnet":"10.254.0.0/22","uid":999,"chain_prefix":"gdn-999-"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uid(), 999u);
  EXPECT_EQ(c->chain_prefix(), "gdn-999-");
}

TEST(LoadConfig, DefaultPathAndNotSetUp) {
  EXPECT_EQ(DefaultConfigPath(999), "/etc/gdn/network/999.json");
  // A uid with no configuration: the host is not set up for it.
  auto c = LoadConfig(std::nullopt, 4000000123u);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("run setup"));
}

TEST(LoadConfig, ErrorsNameTheFileNeverItsContent) {
  testing::TempDir dir;
  std::string path = dir.Join("shadow");
  ASSERT_TRUE(WriteFileAtomic(path, "root:SECRET-HASH:19000:0:99999:7:::\n", 0644).ok());
  absl::Status s = LoadConfig(path, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), Not(HasSubstr("SECRET")));
}

TEST(LoadConfig, SizeIsCapped) {
  testing::TempDir dir;
  std::string path = dir.Join("big.json");
  std::string big = R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s"})";
  EXPECT_EQ(LoadConfig(path, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(WriteFileAtomic(path, big, 0644).ok());
  EXPECT_TRUE(LoadConfig(path, 0).ok());
  big.append(kMaxConfigSize, ' ');
  ASSERT_TRUE(WriteFileAtomic(path, big, 0644).ok());
  absl::Status s = LoadConfig(path, 0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is larger than"));
}

TEST(LoadConfig, OnlyFilesTheCallerCanReadThemselves) {
  // access(2) asks as the real uid: the test's own. Root can read anything.
  if (getuid() == 0) GTEST_SKIP() << "root can read every file";
  testing::TempDir dir;
  std::string path = dir.Join("c.json");
  ASSERT_TRUE(WriteFileAtomic(path, "{}", 0000).ok());
  absl::Status s = LoadConfig(path, getuid()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  // Nothing about the file beyond what the caller could find out: not its owner or mode.
  EXPECT_THAT(s.message(), Not(HasSubstr("belongs to")));
  EXPECT_THAT(s.message(), Not(HasSubstr("writable")));
}

TEST(LoadConfig, AnotherUsersConfigurationIsRefusedWithoutItsUid) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the file";
  testing::TempDir dir;
  std::string path = dir.Join("c.json");
  std::string json =
      R"({"cni_config_dir":"/c","bind_mount_dir":"/b","state_file":"/s","uid":4242})";
  ASSERT_TRUE(WriteFileAtomic(path, json, 0644).ok());
  absl::Status s = LoadConfig(path, 1000).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("another uid"));
  EXPECT_THAT(s.message(), Not(HasSubstr("4242")));
  EXPECT_TRUE(LoadConfig(path, 4242).ok());
}

}  // namespace
}  // namespace gdn::netns
