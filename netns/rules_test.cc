#include "netns/rules.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/lite_json.h"

namespace gdn::netns {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

NetOutRule Rule(const std::string& go_json) {
  NetOutRule r;
  EXPECT_TRUE(GoJsonToLite(go_json, &r).ok()) << go_json;
  return r;
}

ContainerRules C() {
  ContainerRules c;
  c.base.prefix = "gdn-";
  c.id = "0123456789abcdef";
  c.handle = "box";
  c.ip = "10.250.1.2";
  c.subnet = "10.250.1.0/24";
  c.bridge = "gdnbr0";
  return c;
}

TEST(ChainId, StableShortAndDistinct) {
  std::string a = ChainId("gdn-", "box", 0);
  EXPECT_EQ(a, ChainId("gdn-", "box", 0));
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, ChainId("gdn-", "box2", 0));
  EXPECT_NE(a, ChainId("gdn-999-", "box", 0));
  EXPECT_NE(a, ChainId("gdn-", "box", 1));
  // Every name fits iptables' 28 characters, for the longest prefix the config allows.
  std::string prefix(17, 'p');
  EXPECT_LE(OutChain(prefix, ChainId(prefix, "h", 0)).size(), 28u);
  EXPECT_LE((prefix + "postrouting").size(), 28u);
  EXPECT_EQ(OutChain("gdn-", "ab"), "gdn-o-ab");
  EXPECT_EQ(InChain("gdn-", "ab"), "gdn-i-ab");
}

TEST(ValidateNetOutRule, TooManyLinesForOneRuleAreRefused) {
  NetOutRule rule;
  rule.set_protocol(1);
  for (int i = 0; i < 100; ++i) rule.add_networks()->set_start("10.0.0.1");
  for (int i = 0; i < 41; ++i) rule.add_ports()->set_start(80);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateNetOutRule(rule)));
  rule.mutable_ports()->RemoveLast();
  EXPECT_TRUE(ValidateNetOutRule(rule).ok());
}

TEST(ValidateNetOutRule, GardensRules) {
  for (
      const char* ok : {
          R"({})",
          R"({"protocol":1,"networks":[{"start":"10.0.0.1","end":"10.0.0.9"}],"ports":[{"start":80,"end":443}]})",
          R"({"protocol":2,"networks":[{"start":"8.8.8.8"}],"ports":[{"start":53}]})",
          R"({"protocol":3,"icmps":{"type":8,"code":0}})",
          R"({"protocol":3,"ports":[{"start":1,"end":2}]})",  // ignored for icmp
          R"({"protocol":0,"networks":[{"start":"0.0.0.0","end":"255.255.255.255"}],"log":true})",
      }) {
    EXPECT_TRUE(ValidateNetOutRule(Rule(ok)).ok()) << ok;
  }
  struct Bad {
    const char* json;
    const char* why;
  } bad[] = {
      {R"({"protocol":4})", "icmpv6"},
      {R"({"protocol":9})", "unknown protocol"},
      {R"({"networks":[{"start":"10.0.0.9","end":"10.0.0.1"}]})", "ends before"},
      {R"({"networks":[{"start":"fd00::1"}]})", "IPv4"},
      {R"({"networks":[{"start":""}]})", "IPv4"},
      {R"({"ports":[{"start":80}]})", "not all"},
      {R"({"protocol":1,"ports":[{"start":0,"end":10}]})", "1-65535"},
      {R"({"protocol":1,"ports":[{"start":100,"end":10}]})", "1-65535"},
      {R"({"protocol":2,"ports":[{"start":70000}]})", "1-65535"},
      {R"({"protocol":1,"icmps":{"type":8}})", "icmp only"},
      {R"({"protocol":3,"icmps":{"type":300}})", "0-255"},
  };
  for (const Bad& b : bad) {
    absl::Status s = ValidateNetOutRule(Rule(b.json));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.json;
    EXPECT_THAT(s.message(), HasSubstr(b.why)) << b.json;
  }
}

TEST(NetOutRuleSpecs, EachProtocolAndCrossProduct) {
  EXPECT_THAT(NetOutRuleSpecs(Rule(R"({})"), false, "x"), ElementsAre("-j ACCEPT"));
  EXPECT_THAT(
      NetOutRuleSpecs(
          Rule(
              R"({"protocol":1,"networks":[{"start":"10.0.0.1","end":"10.0.0.9"},{"start":"10.1.1.1"}],
                              "ports":[{"start":80,"end":443},{"start":8080}]})"),
          false, "x"),
      ElementsAre("-p tcp -m iprange --dst-range 10.0.0.1-10.0.0.9 -m tcp --dport 80:443 -j ACCEPT",
                  "-p tcp -m iprange --dst-range 10.0.0.1-10.0.0.9 -m tcp --dport 8080 -j ACCEPT",
                  "-p tcp -d 10.1.1.1/32 -m tcp --dport 80:443 -j ACCEPT",
                  "-p tcp -d 10.1.1.1/32 -m tcp --dport 8080 -j ACCEPT"));
  EXPECT_THAT(
      NetOutRuleSpecs(Rule(R"({"protocol":2,"ports":[{"start":53,"end":53}]})"), false, "x"),
      ElementsAre("-p udp -m udp --dport 53 -j ACCEPT"));
  EXPECT_THAT(NetOutRuleSpecs(Rule(R"({"protocol":3,"icmps":{"type":8}})"), false, "x"),
              ElementsAre("-p icmp -m icmp --icmp-type 8 -j ACCEPT"));
  // "code":0 is code 0, not any code.
  EXPECT_THAT(NetOutRuleSpecs(Rule(R"({"protocol":3,"icmps":{"type":3,"code":0}})"), false, "x"),
              ElementsAre("-p icmp -m icmp --icmp-type 3/0 -j ACCEPT"));
  EXPECT_THAT(NetOutRuleSpecs(Rule(R"({"protocol":3})"), false, "x"),
              ElementsAre("-p icmp -j ACCEPT"));
  EXPECT_THAT(NetOutRuleSpecs(Rule(R"({"protocol":1,"log":true})"), false, "box: "),
              ElementsAre("-p tcp -m conntrack --ctstate NEW -j LOG --log-prefix \"box: \"",
                          "-p tcp -j ACCEPT"));
  // iptables_asg_logging logs every rule.
  EXPECT_EQ(NetOutRuleSpecs(Rule(R"({})"), true, "box: ").size(), 2u);
}

TEST(Batches, EgressInstallAppendRemove) {
  ContainerRules c = C();
  Batch install = InstallEgress(c, {Rule(R"({"protocol":1,"ports":[{"start":80}]})")});
  EXPECT_THAT(install.nat, IsEmpty());
  EXPECT_THAT(
      install.filter,
      ElementsAre(":gdn-o-0123456789abcdef - [0:0]",
                  "-A gdn-o-0123456789abcdef -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                  "-A gdn-o-0123456789abcdef -p tcp -m tcp --dport 80 -j ACCEPT",
                  "-I gdn-o-0123456789abcdef 2 -d 10.250.1.0/24 -j ACCEPT",
                  "-I gdn-forward 1 -s 10.250.1.2/32 -j REJECT --reject-with icmp-port-unreachable",
                  "-I gdn-forward 1 -s 10.250.1.2/32 -j gdn-o-0123456789abcdef"));
  c.overlay = "10.255.0.0/16";
  EXPECT_THAT(HookEgress(c).filter[1], "-I gdn-o-0123456789abcdef 3 -d 10.255.0.0/16 -j ACCEPT");
  EXPECT_THAT(AppendEgress(c, {Rule(R"({"protocol":2})")}).filter,
              ElementsAre("-A gdn-o-0123456789abcdef -p udp -j ACCEPT"));
  EXPECT_THAT(
      RemoveEgress(c).filter,
      ElementsAre("-D gdn-forward -s 10.250.1.2/32 -j gdn-o-0123456789abcdef",
                  "-D gdn-forward -s 10.250.1.2/32 -j REJECT --reject-with icmp-port-unreachable",
                  "-F gdn-o-0123456789abcdef", "-X gdn-o-0123456789abcdef"));
  // Before the CNI ADD answered there is no address: only the chain to remove.
  c.ip = "";
  EXPECT_THAT(RemoveEgress(c).filter,
              ElementsAre("-F gdn-o-0123456789abcdef", "-X gdn-o-0123456789abcdef"));
}

TEST(Batches, IngressAndGuard) {
  ContainerRules c = C();
  PortMapping m;
  m.set_host_port(61001);
  m.set_container_port(8080);
  EXPECT_THAT(
      InstallIngress(c, {m}).nat,
      ElementsAre(
          ":gdn-i-0123456789abcdef - [0:0]",
          "-A gdn-i-0123456789abcdef -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 61001 "
          "-j DNAT --to-destination 10.250.1.2:8080",
          "-I gdn-prerouting 1 -j gdn-i-0123456789abcdef",
          "-I gdn-output 1 -j gdn-i-0123456789abcdef",
          "-I gdn-postrouting 1 -s 127.0.0.0/8 -d 10.250.1.2/32 -o gdnbr0 -j MASQUERADE"));
  EXPECT_THAT(
      RemoveIngress(c).nat,
      ElementsAre("-D gdn-prerouting -j gdn-i-0123456789abcdef",
                  "-D gdn-output -j gdn-i-0123456789abcdef",
                  "-D gdn-postrouting -s 127.0.0.0/8 -d 10.250.1.2/32 -o gdnbr0 -j MASQUERADE",
                  "-F gdn-i-0123456789abcdef", "-X gdn-i-0123456789abcdef"));
  c.instance_address = "10.0.16.5";
  EXPECT_THAT(
      AppendIngress(c, {m}).nat,
      ElementsAre("-A gdn-i-0123456789abcdef -d 10.0.16.5/32 -p tcp -m tcp --dport 61001 -j DNAT "
                  "--to-destination 10.250.1.2:8080"));
  EXPECT_THAT(AddLocalnetGuard(c.base, "gdnbr0").filter,
              ElementsAre("-I gdn-input 1 -i gdnbr0 -d 127.0.0.0/8 -m conntrack ! --ctstate "
                          "RELATED,ESTABLISHED,DNAT -j DROP"));
  EXPECT_THAT(RemoveLocalnetGuard(c.base, "gdnbr0").filter[0],
              HasSubstr("-D gdn-input -i gdnbr0 "));
}

TEST(Batch, TextHasNatFirstAndOnlyNonEmptyTables) {
  Batch b;
  EXPECT_EQ(b.Text(), "");
  b.filter.push_back("-F x");
  EXPECT_EQ(b.Text(), "*filter\n-F x\nCOMMIT\n");
  b.nat.push_back("-F y");
  EXPECT_EQ(b.Text(), "*nat\n-F y\nCOMMIT\n*filter\n-F x\nCOMMIT\n");
}

TEST(MissingBaseChains, OnlyWhatIsMissing) {
  BaseChains base{"gdn-"};
  Batch all = MissingBaseChains(base, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "");
  EXPECT_THAT(all.filter, ElementsAre(":gdn-input - [0:0]", "-A INPUT -j gdn-input",
                                      ":gdn-forward - [0:0]", "-A FORWARD -j gdn-forward"));
  EXPECT_EQ(all.nat.size(), 6u);
  // setup made them (with its own jumps for input and forward), but not gdn-output.
  std::string filter =
      "*filter\n:gdn-forward - [0:0]\n:gdn-input - [0:0]\n-A INPUT -j gdn-input\n"
      "-A FORWARD -j gdn-forward\nCOMMIT\n";
  std::string nat =
      "*nat\n:gdn-postrouting - [0:0]\n:gdn-prerouting - [0:0]\n-A PREROUTING -j gdn-prerouting\n"
      "-A POSTROUTING -j gdn-postrouting\nCOMMIT\n";
  Batch some = MissingBaseChains(base, filter, nat);
  EXPECT_THAT(some.filter, IsEmpty());
  EXPECT_THAT(some.nat, ElementsAre(":gdn-output - [0:0]", "-A OUTPUT -j gdn-output"));
}

TEST(SubnetGuard, LinesInOrderAndOnlyWhatMakesItComplete) {
  BaseChains base{"gdn-"};
  std::vector<std::string> lines = SubnetGuardLines(base, "10.254.0.0/22", "");
  EXPECT_THAT(lines,
              ElementsAre("-A gdn-forward -s 10.254.0.0/22 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                          "-A gdn-forward -s 10.254.0.0/22 -d 10.254.0.0/22 -j ACCEPT",
                          "-A gdn-forward -s 10.254.0.0/22 -j REJECT --reject-with icmp-port-unreachable"));
  EXPECT_EQ(SubnetGuardLines(base, "10.254.0.0/22", "10.255.0.0/16").size(), 4u);
  EXPECT_EQ(SubnetGuardLines(base, "10.254.0.0/22", "10.255.0.0/16")[2],
            "-A gdn-forward -s 10.254.0.0/22 -d 10.255.0.0/16 -j ACCEPT");

  // None there: all of them.
  std::string none = "*filter\n:gdn-forward - [0:0]\nCOMMIT\n";
  EXPECT_EQ(MissingSubnetGuard(base, "10.254.0.0/22", "", none).filter, lines);
  // All there (among a container's rules): nothing.
  std::string all = "*filter\n:gdn-forward - [0:0]\n-A gdn-forward -s 10.254.0.5/32 -j gdn-o-ab\n";
  for (const std::string& l : lines) all += l + "\n";
  EXPECT_TRUE(MissingSubnetGuard(base, "10.254.0.0/22", "", all + "COMMIT\n").empty());
  // Only the REJECT there: it goes, and all come back in order (an ACCEPT after it would be dead).
  std::string reject = none + lines[2] + "\n";
  Batch fix = MissingSubnetGuard(base, "10.254.0.0/22", "", reject);
  ASSERT_EQ(fix.filter.size(), 4u);
  EXPECT_EQ(fix.filter[0], "-D gdn-forward -s 10.254.0.0/22 -j REJECT --reject-with icmp-port-unreachable");
  EXPECT_EQ(std::vector<std::string>(fix.filter.begin() + 1, fix.filter.end()), lines);
  // Another subnet's guard is not this one's.
  EXPECT_EQ(MissingSubnetGuard(base, "10.254.4.0/22", "", all).filter.size(), 3u);
}

}  // namespace
}  // namespace gdn::netns
