#include "netns/cni.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"
#include "netns/warnings.h"

namespace gdn::netns {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kConflist[] = R"({
  "cniVersion": "1.0.0", "name": "garden",
  "plugins": [
    {"type": "bridge", "bridge": "br0", "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "tuning", "mtu": 1400}
  ]})";

constexpr char kResult[] = R"({"cniVersion":"1.0.0",
  "interfaces":[{"name":"br0","mac":"aa"},{"name":"veth1","mac":"bb"},{"name":"eth0","mac":"cc","sandbox":"/n"}],
  "ips":[{"interface":2,"address":"10.1.0.5/24","gateway":"10.1.0.1"}],
  "dns":{"nameservers":["10.1.0.53"],"search":["garden.local"]}})";

// Answers every call with `result` (or fails the plugins named in `fail`) and records them.
class FakeExecutor : public PluginExecutor {
 public:
  absl::StatusOr<PluginOutput> Run(const PluginCall& call) override {
    calls.push_back(call);
    std::string type = call.path.substr(call.path.rfind('/') + 1);
    PluginOutput out;
    if (missing.count(type) > 0) return absl::NotFoundError(absl::StrCat("no ", call.path));
    auto f = fail.find(type);
    if (f != fail.end()) {
      out.exit_code = 1;
      out.out = f->second;
      return out;
    }
    out.out = absl::StrCat(R"({"cniVersion":"1.0.0","from":")", type,
                           R"(","ips":[{"address":"10.1.0.5/24"}]})");
    return out;
  }
  std::string Env(size_t i, const std::string& key) const {
    for (const std::string& e : calls[i].env) {
      if (absl::StartsWith(e, key + "=")) return e.substr(key.size() + 1);
    }
    return "<unset>";
  }
  Json Stdin(size_t i) const { return Json::parse(calls[i].stdin_data); }
  std::string Type(size_t i) const { return calls[i].path.substr(calls[i].path.rfind('/') + 1); }

  std::vector<PluginCall> calls;
  std::map<std::string, std::string> fail;
  std::set<std::string> missing;  // as if the binary were not there
};

RuntimeConf Rt() {
  RuntimeConf rt;
  rt.container_id = "c1";
  rt.netns = "/run/netns/c1";
  rt.ifname = "eth0";
  PortMapping m;
  m.set_host_port(61001);
  m.set_container_port(8080);
  rt.port_mappings.push_back(m);
  return rt;
}

TEST(ParseNetworkConfig, ListsAndSingleConfigs) {
  auto list = ParseNetworkConfig(kConflist);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "garden");
  EXPECT_EQ(list->cni_version, "1.0.0");
  EXPECT_EQ(list->plugins.size(), 3u);
  auto single = ParseNetworkConfig(R"({"cniVersion":"0.3.1","name":"n","type":"bridge"})");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->plugins.size(), 1u);
  // The cache form reads back the same.
  auto again = ParseNetworkConfig(SerializeNetworkList(*list));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->plugins, list->plugins);
}

TEST(ParseNetworkConfig, Refusals) {
  for (const char* bad : {
           R"({"cniVersion":"1.0.0","type":"bridge"})",  // no name
           R"({"name":"n","type":"../../bin/sh"})",      // type leads out
           R"({"name":"n","type":"a/b"})",
           R"({"name":"n","plugins":[]})",
           R"({"name":"n","plugins":[{"type":"bridge"},{"notype":1}]})",
           // The IPAM plugin, which the plugin runs from CNI_PATH, is a plain name too.
           R"({"name":"n","type":"bridge","ipam":{"type":"../../tmp/x"}})",
           R"({"name":"n","type":"bridge","ipam":{"type":"/bin/sh"}})",
           R"({"name":"n","type":"bridge","ipam":{"type":7}})",
           R"({"name":"n","type":"bridge","ipam":"host-local"})",
           R"({"name":"n","plugins":[{"type":"bridge","ipam":{"type":"a/b"}}]})",
           R"([1,2])",
           "nonsense",
       }) {
    EXPECT_EQ(ParseNetworkConfig(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseNetworkConfig, ErrorsNeverQuoteTheText) {
  // The file may be one the caller of a setuid netns cannot read.
  for (const char* bad : {
           R"({"name":"n","type":"SECRET/x"})",
           R"({"name":"n","type":"bridge","ipam":{"type":"SECRET/x"}})",
           "root:SECRET:19000:0:99999:7:::",
       }) {
    absl::Status s = ParseNetworkConfig(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), Not(HasSubstr("SECRET"))) << bad;
  }
}

TEST(PluginBinaries, ThePluginAndItsIpamPlugin) {
  auto list = ParseNetworkConfig(kConflist);
  ASSERT_TRUE(list.ok());
  EXPECT_THAT(PluginBinaries(list->plugins[0]), ElementsAre("bridge", "host-local"));
  EXPECT_THAT(PluginBinaries(list->plugins[1]), ElementsAre("portmap"));
  EXPECT_THAT(PluginBinaries(Json::parse(R"({"type":"host-device","ipam":{}})")),
              ElementsAre("host-device"));
}

TEST(CompareVersions, Order) {
  EXPECT_LT(CompareVersions("0.3.1", "0.4.0"), 0);
  EXPECT_EQ(CompareVersions("0.4.0", "0.4.0"), 0);
  EXPECT_GT(CompareVersions("1.0.0", "0.4.0"), 0);
  EXPECT_GT(CompareVersions("0.10.0", "0.4.0"), 0);
}

TEST(CniRuntime, AddChainsResultsThroughPrevResult) {
  FakeExecutor fake;
  CniRuntime cni("/opt/cni", &fake, false);
  auto list = ParseNetworkConfig(kConflist);
  auto result = cni.Add(*list, Rt());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(fake.calls.size(), 3u);
  EXPECT_EQ(fake.calls[0].path, "/opt/cni/bridge");
  EXPECT_EQ(fake.Env(0, "CNI_COMMAND"), "ADD");
  EXPECT_EQ(fake.Env(0, "CNI_CONTAINERID"), "c1");
  EXPECT_EQ(fake.Env(0, "CNI_NETNS"), "/run/netns/c1");
  EXPECT_EQ(fake.Env(0, "CNI_IFNAME"), "eth0");
  EXPECT_EQ(fake.Env(0, "CNI_PATH"), "/opt/cni");
  Json first = fake.Stdin(0);
  EXPECT_EQ(first["name"], "garden");
  EXPECT_EQ(first["cniVersion"], "1.0.0");
  EXPECT_EQ(first["bridge"], "br0");
  EXPECT_FALSE(first.contains("prevResult"));
  EXPECT_FALSE(first.contains("runtimeConfig"));  // bridge declares no capabilities
  Json second = fake.Stdin(1);
  EXPECT_EQ(second["prevResult"]["from"], "bridge");
  EXPECT_EQ(second["runtimeConfig"]["portMappings"][0]["hostPort"], 61001);
  EXPECT_EQ(second["runtimeConfig"]["portMappings"][0]["containerPort"], 8080);
  EXPECT_EQ(second["runtimeConfig"]["portMappings"][0]["protocol"], "tcp");
  EXPECT_EQ(fake.Stdin(2)["prevResult"]["from"], "portmap");
  EXPECT_EQ(Json::parse(*result)["from"], "tuning");  // the last plugin's result
}

TEST(CniRuntime, AddStopsAtTheFirstFailure) {
  FakeExecutor fake;
  fake.fail["portmap"] =
      R"({"cniVersion":"1.0.0","code":7,"msg":"bad port","details":"61001 taken"})";
  CniRuntime cni("/opt/cni", &fake, false);
  auto result = cni.Add(*ParseNetworkConfig(kConflist), Rt());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(),
              HasSubstr("CNI plugin portmap ADD failed: bad port (61001 taken)"));
  EXPECT_EQ(fake.calls.size(), 2u);
}

TEST(CniRuntime, ErrorCodesMapToExitCodes) {
  FakeExecutor fake;
  fake.fail["bridge"] = R"({"code":11,"msg":"busy"})";
  CniRuntime cni("/opt/cni", &fake, false);
  EXPECT_EQ(cni.Add(*ParseNetworkConfig(kConflist), Rt()).status().code(),
            absl::StatusCode::kUnavailable);
  fake.fail["bridge"] =
      R"({"code":999,"msg":"failed to allocate for range 0: no IP addresses available in range set"})";
  EXPECT_EQ(cni.Add(*ParseNetworkConfig(kConflist), Rt()).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(CniRuntime, DelRunsInReverseWithTheCachedResultAndKeepsGoing) {
  FakeExecutor fake;
  fake.fail["portmap"] = R"({"code":100,"msg":"gone"})";
  CniRuntime cni("/opt/cni", &fake, false);
  absl::Status s = cni.Del(*ParseNetworkConfig(kConflist), Rt(), kResult);
  EXPECT_THAT(s.message(), HasSubstr("portmap DEL failed: gone"));
  ASSERT_EQ(fake.calls.size(), 3u);  // bridge still ran after portmap failed
  EXPECT_EQ(fake.Type(0), "tuning");
  EXPECT_EQ(fake.Type(1), "portmap");
  EXPECT_EQ(fake.Type(2), "bridge");
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(fake.Env(i, "CNI_COMMAND"), "DEL");
    EXPECT_EQ(fake.Stdin(i)["prevResult"]["ips"][0]["address"], "10.1.0.5/24");
  }
}

TEST(CniRuntime, DelSkipsMissingPluginsWithAWarningForLater) {
  (void)TakeWarnings();
  FakeExecutor fake;
  fake.missing.insert("portmap");
  CniRuntime cni("/opt/cni", &fake, false);
  EXPECT_TRUE(cni.Del(*ParseNetworkConfig(kConflist), Rt(), kResult).ok());
  EXPECT_EQ(fake.calls.size(), 3u);
  // Kept, not written: DEL runs under the state file's lock (warnings.h).
  EXPECT_THAT(TakeWarnings(), ElementsAre(HasSubstr("portmap is not installed")));
  EXPECT_TRUE(TakeWarnings().empty());
}

TEST(CniRuntime, OldVersionsGetNoPrevResultOnDelAndNoCheck) {
  FakeExecutor fake;
  CniRuntime cni("/opt/cni", &fake, false);
  auto old = ParseNetworkConfig(R"({"cniVersion":"0.3.1","name":"n","type":"bridge"})");
  ASSERT_TRUE(cni.Del(*old, Rt(), kResult).ok());
  EXPECT_FALSE(fake.Stdin(0).contains("prevResult"));
  fake.calls.clear();
  ASSERT_TRUE(cni.Check(*old, Rt(), kResult).ok());
  EXPECT_TRUE(fake.calls.empty());
}

TEST(CniRuntime, CheckInOrderUnlessDisabled) {
  FakeExecutor fake;
  CniRuntime cni("/opt/cni", &fake, false);
  auto list = ParseNetworkConfig(kConflist);
  ASSERT_TRUE(cni.Check(*list, Rt(), kResult).ok());
  ASSERT_EQ(fake.calls.size(), 3u);
  EXPECT_EQ(fake.Env(0, "CNI_COMMAND"), "CHECK");
  EXPECT_EQ(fake.Type(0), "bridge");
  EXPECT_EQ(fake.Stdin(2)["prevResult"]["ips"][0]["address"], "10.1.0.5/24");
  EXPECT_EQ(cni.Check(*list, Rt(), "").code(), absl::StatusCode::kFailedPrecondition);
  list->disable_check = true;
  fake.calls.clear();
  ASSERT_TRUE(cni.Check(*list, Rt(), kResult).ok());
  EXPECT_TRUE(fake.calls.empty());
}

TEST(SummarizeResult, EveryVersion) {
  auto s = SummarizeResult(kResult);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->address.Address(), "10.1.0.5");
  EXPECT_EQ(s->address.Network(), "10.1.0.0/24");
  EXPECT_EQ(s->gateway, "10.1.0.1");
  EXPECT_EQ(s->host_interface, "br0");
  EXPECT_THAT(s->nameservers, ElementsAre("10.1.0.53"));
  EXPECT_THAT(s->search, ElementsAre("garden.local"));
  // 0.2.0
  s = SummarizeResult(R"({"cniVersion":"0.2.0","ip4":{"ip":"10.2.0.9/16","gateway":"10.2.0.1"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->address.Network(), "10.2.0.0/16");
  // 0.3.1, IPv6 first
  s = SummarizeResult(R"({"cniVersion":"0.3.1","ips":[{"version":"6","address":"fd00::2/64"},
                          {"version":"4","address":"10.3.0.2/24","gateway":"10.3.0.1"}]})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->address.Address(), "10.3.0.2");
  EXPECT_FALSE(SummarizeResult(R"({"ips":[]})").ok());
}

TEST(LoadNetwork, FirstValidFileInNameOrderOrTheNamedOne) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("00-broken.conf"), "{", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("10-b.conflist"), kConflist, 0644).ok());
  ASSERT_TRUE(
      WriteFileAtomic(dir.Join("20-a.conf"), R"({"name":"other","type":"ptp"})", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("README"), "not a config", 0644).ok());
  auto first = LoadNetwork(dir.path(), "", false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->name, "garden");
  auto named = LoadNetwork(dir.path(), "other", false);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->plugins[0]["type"], "ptp");
  EXPECT_EQ(LoadNetwork(dir.path(), "none", false).status().code(), absl::StatusCode::kNotFound);
  if (geteuid() == 0) {
    EXPECT_TRUE(LoadNetwork(dir.path(), "", true).ok());
    ASSERT_EQ(chmod(dir.Join("10-b.conflist").c_str(), 0666), 0);
    EXPECT_EQ(LoadNetwork(dir.path(), "", true).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
}

TEST(LoadNetwork, SkipsWithAWarningThatNamesTheFileOnly) {
  (void)TakeWarnings();
  testing::TempDir dir;
  ASSERT_TRUE(
      WriteFileAtomic(dir.Join("00-bad.conf"), R"({"name":"n","type":"SECRET/x"})", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("10-b.conflist"), kConflist, 0644).ok());
  ASSERT_TRUE(LoadNetwork(dir.path(), "", false).ok());
  std::vector<std::string> warnings = TakeWarnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr(dir.Join("00-bad.conf")));
  EXPECT_THAT(warnings[0], Not(HasSubstr("SECRET")));
}

TEST(LoadNetwork, RefusesFilesOverTheLimit) {
  testing::TempDir dir;
  std::string big = std::string(kConflist) + std::string(kMaxNetworkConfigSize, ' ');
  ASSERT_TRUE(WriteFileAtomic(dir.Join("10-big.conflist"), big, 0644).ok());
  absl::Status s = LoadNetwork(dir.path(), "", false).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("10-big.conflist is larger than"));
}

TEST(CniRuntime, CheckPluginsWantsTheIpamPluginToo) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("bridge"), "#!/bin/sh\n", 0755).ok());
  FakeExecutor fake;
  CniRuntime cni(dir.path(), &fake, false);
  auto list = ParseNetworkConfig(
      R"({"name":"n","cniVersion":"1.0.0","type":"bridge","ipam":{"type":"host-local"}})");
  ASSERT_TRUE(list.ok());
  absl::Status s = cni.CheckPlugins(*list);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("host-local is not installed"));
  ASSERT_TRUE(WriteFileAtomic(dir.Join("host-local"), "#!/bin/sh\n", 0755).ok());
  EXPECT_TRUE(cni.CheckPlugins(*list).ok());
}

TEST(CniRuntime, UntrustedIpamPluginsAreNotRun) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the plugin folder";
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("bridge"), "#!/bin/sh\n", 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("host-local"), "#!/bin/sh\n", 0755).ok());
  ASSERT_EQ(chmod(dir.Join("host-local").c_str(), 0777), 0);
  FakeExecutor fake;
  CniRuntime cni(dir.path(), &fake, true);
  auto list = ParseNetworkConfig(
      R"({"name":"n","cniVersion":"1.0.0","type":"bridge","ipam":{"type":"host-local"}})");
  ASSERT_TRUE(list.ok());
  absl::Status s = cni.CheckPlugins(*list);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("host-local"));
  auto r = cni.Add(*list, Rt());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("writable by others"));
  EXPECT_TRUE(fake.calls.empty());
}

TEST(CniRuntime, TrustedPluginsRunFromTheResolvedFolder) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the plugin folder";
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("real"), 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("real/bridge"), "#!/bin/sh\n", 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("real/host-local"), "#!/bin/sh\n", 0755).ok());
  ASSERT_EQ(symlink(dir.Join("real").c_str(), dir.Join("link").c_str()), 0);
  char real[PATH_MAX];
  ASSERT_NE(realpath(dir.Join("real").c_str(), real), nullptr);
  FakeExecutor fake;
  CniRuntime cni(dir.Join("link"), &fake, true);
  auto list = ParseNetworkConfig(
      R"({"name":"n","cniVersion":"1.0.0","type":"bridge","ipam":{"type":"host-local"}})");
  ASSERT_TRUE(list.ok());
  ASSERT_TRUE(cni.CheckPlugins(*list).ok());
  ASSERT_TRUE(cni.Add(*list, Rt()).ok());
  ASSERT_EQ(fake.calls.size(), 1u);
  // The link (which root put there, but which names no plugin itself) is resolved once:
  // the plugin and the IPAM plugin it finds through CNI_PATH come from the checked folder.
  EXPECT_EQ(fake.calls[0].path, absl::StrCat(real, "/bridge"));
  EXPECT_EQ(fake.Env(0, "CNI_PATH"), real);
}

TEST(CniRuntime, PluginsOfAFolderOthersCanWriteAreNotRun) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the plugin folder";
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("bridge"), "#!/bin/sh\n", 0755).ok());
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  FakeExecutor fake;
  CniRuntime cni(dir.path(), &fake, true);
  auto r =
      cni.Add(*ParseNetworkConfig(R"({"name":"n","cniVersion":"1.0.0","type":"bridge"})"), Rt());
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("refusing to run the CNI plugin"));
  EXPECT_TRUE(fake.calls.empty());
}

TEST(CniRuntime, UntrustedPluginsAreNotRun) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the plugin folder";
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("bridge"), "#!/bin/sh\n", 0755).ok());
  ASSERT_EQ(chmod(dir.Join("bridge").c_str(), 0777), 0);
  FakeExecutor fake;
  CniRuntime cni(dir.path(), &fake, true);
  auto r =
      cni.Add(*ParseNetworkConfig(R"({"name":"n","cniVersion":"1.0.0","type":"bridge"})"), Rt());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("writable by others"));
  EXPECT_TRUE(fake.calls.empty());
}

}  // namespace
}  // namespace gdn::netns
