#include "netns/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn::netns {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace gdn::netns
