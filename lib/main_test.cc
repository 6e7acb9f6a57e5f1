// Runs lib/testdata/main_probe, a binary built on lib/main, as a real process.
#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/subprocess.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

SubprocessResult Probe(std::vector<std::string> args, std::vector<std::string> env = {},
                       const std::string& probe = "main_probe") {
  SubprocessOptions o;
  o.argv = {testing::Runfile("lib/testdata/" + probe)};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  auto r = RunSubprocess(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SubprocessResult{};
}

TEST(RunMain, ParsesFlagsAndRunsTheBody) {
  SubprocessResult r = Probe({"--greeting=hi", "ok"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST(RunMain, StatusBecomesExitCodeAndOneLine) {
  SubprocessResult r = Probe({"fail", "5", "no such container \"c1\""});  // kNotFound
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "main_probe: no such container \"c1\"\n");
  EXPECT_EQ(Probe({"fail", "6", "exists"}).exit_code, 4);
}

TEST(RunMain, UnknownFlagIsUsageExitTwo) {
  SubprocessResult r = Probe({"--no_such_flag", "ok"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag --no_such_flag"));
  EXPECT_EQ(Probe({}).exit_code, 2);
}

TEST(RunSetuidMain, ClearsTheEnvironment) {
  SubprocessResult r = Probe({"env"}, {"LD_PRELOAD=/tmp/evil.so", "GLOG_v=3", "PATH=/tmp/evil",
                                       "IFS=x"}, "setuid_probe");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
}

TEST(RunSetuidMain, RefusesFlagFilesEnvFlagsAndLogPaths) {
  for (const char* flag : {"--flagfile=/etc/shadow", "-flagfile=/etc/shadow", "--fromenv=v",
                           "--tryfromenv=v", "--undefok=x", "--log_dir=/tmp", "-log_dir",
                           "--log_link=/tmp/x"}) {
    SubprocessResult r = Probe({flag, "ok"}, {}, "setuid_probe");
    EXPECT_EQ(r.exit_code, 2) << flag;
    EXPECT_THAT(r.err, HasSubstr("refusing")) << flag;
    EXPECT_THAT(r.out, IsEmpty()) << flag;
  }
  SubprocessResult help = Probe({"--help"}, {}, "setuid_probe");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, "setuid_probe COMMAND\n");
}

TEST(RunSetuidMain, FailureIsOneLineWithTheExitCode) {
  SubprocessResult r = Probe({"fail", "7", "not yours"}, {}, "setuid_probe");  // kPermissionDenied
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "setuid_probe: not yours\n");
}

// Nothing in a setuid helper reads GLOG_* or FLAGS_* variables or writes log files because
// neither glog nor gflags is in it: their flag names ("stderrthreshold" is glog's, "helpxml"
// gflags') are nowhere in the binaries. main_probe, which links both, shows the check sees them.
TEST(RunSetuidMain, TheSetuidHelpersLinkNeitherGlogNorGflags) {
  auto contains = [](const std::string& binary, const std::string& word) {
    absl::StatusOr<std::string> bytes = ReadFile(testing::Runfile(binary));
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() && bytes->find(word) != std::string::npos;
  };
  EXPECT_TRUE(contains("lib/testdata/main_probe", "stderrthreshold"));
  EXPECT_TRUE(contains("lib/testdata/main_probe", "helpxml"));
  for (const char* binary : {"idmap/idmap", "netns/netns", "lib/testdata/setuid_probe"}) {
    EXPECT_FALSE(contains(binary, "stderrthreshold")) << binary;
    EXPECT_FALSE(contains(binary, "helpxml")) << binary;
  }
}

}  // namespace
}  // namespace gdn
