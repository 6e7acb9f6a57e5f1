// Runs lib/testdata/main_probe, a binary built on lib/main, as a real process.
#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/subprocess.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

SubprocessResult Probe(std::vector<std::string> args, std::vector<std::string> env = {}) {
  SubprocessOptions o;
  o.argv = {testing::Runfile("lib/testdata/main_probe")};
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
  SubprocessResult r = Probe({"--setuid", "env"}, {"LD_PRELOAD=/tmp/evil.so", "GLOG_v=3",
                                                    "PATH=/tmp/evil", "IFS=x"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
}

TEST(RunSetuidMain, RefusesFlagFilesEnvFlagsAndLogPaths) {
  for (const char* flag : {"--flagfile=/etc/shadow", "-flagfile=/etc/shadow", "--fromenv=v",
                           "--tryfromenv=v", "--undefok=x", "--log_dir=/tmp", "-log_dir",
                           "--log_link=/tmp/x"}) {
    SubprocessResult r = Probe({"--setuid", flag, "ok"});
    EXPECT_EQ(r.exit_code, 2) << flag;
    EXPECT_THAT(r.err, HasSubstr("refusing")) << flag;
    EXPECT_THAT(r.out, IsEmpty()) << flag;
  }
}

TEST(RunSetuidMain, WritesNoLogFileWhereGlogVariablesPoint) {
  testing::TempDir dir;
  SubprocessResult r = Probe({"--setuid", "log"},
                             {"GLOG_log_dir=" + dir.path(), "GLOG_logtostderr=0",
                              "GLOG_alsologtostderr=0", "GLOG_stderrthreshold=3",
                              "GLOG_minloglevel=0"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("a warning from main_probe"));
  SubprocessOptions ls;
  ls.argv = {"ls", "-A", dir.path()};
  auto listing = RunSubprocess(ls);
  ASSERT_TRUE(listing.ok());
  EXPECT_THAT(listing->out, IsEmpty());
  // The same variables do steer an ordinary binary: the test above can fail.
  SubprocessResult plain = Probe({"log"}, {"GLOG_log_dir=" + dir.path()});
  EXPECT_EQ(plain.exit_code, 0);
}

TEST(RunSetuidMain, FailureIsOneLineWithTheExitCode) {
  SubprocessResult r = Probe({"--setuid", "fail", "7", "not yours"});  // kPermissionDenied
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "main_probe: not yours\n");
}

}  // namespace
}  // namespace gdn
