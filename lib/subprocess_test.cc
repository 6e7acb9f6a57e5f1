#include "lib/fd.h"
#include "lib/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/file.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

using ::testing::ElementsAre;

SubprocessResult RunOk(SubprocessOptions o) {
  auto r = RunSubprocess(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SubprocessResult{};
}

SubprocessOptions Sh(const std::string& script) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

TEST(RunSubprocess, CapturesStdoutAndStderrApart) {
  SubprocessResult r = RunOk(Sh("echo out; echo err >&2"));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.Describe(), "exited with code 0");
}

TEST(RunSubprocess, ReportsTheExitCode) {
  SubprocessResult r = RunOk(Sh("exit 3"));
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.ShellStatus(), 3);
  EXPECT_FALSE(r.ok());
}

TEST(RunSubprocess, TellsASignalFromAnExitCode) {
  SubprocessResult r = RunOk(Sh("kill -KILL $$"));
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.ShellStatus(), 137);
  EXPECT_EQ(r.Describe(), "killed by signal 9 (Killed)");
}

TEST(RunSubprocess, KillsAChildThatRunsTooLong) {
  SubprocessOptions o = Sh("sleep 30");
  o.timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  SubprocessResult r = RunOk(o);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST(RunSubprocess, FeedsStdinAndMovesLargeStreamsWithoutDeadlock) {
  // 4 MiB in, the same back on stdout and a copy on stderr: far beyond pipe buffers.
  SubprocessOptions o = Sh("tee /dev/stderr");
  o.stdin_mode = Stdio::kCapture;
  o.stdin_data = std::string(4 << 20, 'x');
  SubprocessResult r = RunOk(o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), o.stdin_data.size());
  EXPECT_EQ(r.err.size(), o.stdin_data.size());
}

TEST(RunSubprocess, SetsTheEnvironmentAndFolder) {
  SubprocessOptions o;
  o.argv = {testing::Runfile("tests/probe/probe"), "env"};
  o.env = std::vector<std::string>{"ONLY=this"};
  EXPECT_EQ(RunOk(o).out, "ONLY=this\n");
  o.argv = {testing::Runfile("tests/probe/probe"), "cwd"};
  o.cwd = "/usr";
  EXPECT_EQ(RunOk(o).out, "/usr\n");
}

TEST(RunSubprocess, CanStopReadingWhenTheChildExits) {
  // The child leaves a grandchild holding its stdout; we still return at once.
  SubprocessOptions o = Sh("echo started; sleep 30 & exit 0");
  o.stop_reading_at_exit = true;
  absl::Time start = absl::Now();
  SubprocessResult r = RunOk(o);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(r.out, "started\n");
}

TEST(RunSubprocess, ChildCanDieWithItsParent) {
  // A middle process runs a long child with kill_with_parent, then is killed itself.
  testing::TempDir dir;
  std::string pidfile = dir.Join("child.pid");
  pid_t middle = fork();
  if (middle == 0) {
    SubprocessOptions o = Sh(absl::StrCat("echo $$ > ", pidfile, "; exec sleep 30"));
    o.kill_with_parent = true;
    (void)RunSubprocess(o);
    _exit(0);
  }
  int child = 0;
  for (int i = 0; i < 500 && child == 0; ++i) {
    auto text = ReadFile(pidfile);
    if (!text.ok() || !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(*text), &child)) usleep(10000);
  }
  ASSERT_GT(child, 0);
  kill(middle, SIGKILL);
  int status;
  waitpid(middle, &status, 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    auto stat = ReadFile(absl::StrCat("/proc/", child, "/stat"));
    gone = !stat.ok() || stat->find(") Z") != std::string::npos;
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone);
}

// Two children joined by a pipe the caller holds, as a shell pipeline joins them.
TEST(RunSubprocess, GivenDescriptorsJoinTwoChildren) {
  absl::StatusOr<Pipe> p = MakePipe();
  ASSERT_TRUE(p.ok());
  SubprocessOptions writer;
  writer.argv = {"sh", "-c", "echo through the pipe"};
  writer.stdout_mode = Stdio::kFd;
  writer.stdout_fd = p->write.get();
  ASSERT_TRUE(RunSubprocess(writer)->ok());
  p->write.Reset();
  SubprocessOptions reader;
  reader.argv = {"cat"};
  reader.stdin_mode = Stdio::kFd;
  reader.stdin_fd = p->read.get();
  absl::StatusOr<SubprocessResult> r = RunSubprocess(reader);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "through the pipe\n");
  reader.stdin_fd = 0;
  EXPECT_FALSE(RunSubprocess(reader).ok());
}

TEST(RunSubprocess, StdinNullByDefault) {
  SubprocessResult r = RunOk(Sh("cat; echo done"));
  EXPECT_EQ(r.out, "done\n");
}

TEST(RunSubprocess, MissingProgramIsNotFound) {
  SubprocessOptions o;
  o.argv = {"/nonexistent/program"};
  auto r = RunSubprocess(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("/nonexistent/program"));
  o.argv = {"/etc/passwd"};
  EXPECT_EQ(RunSubprocess(o).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(RunSubprocess, LeaksNoDescriptorOfTheParent) {
  // A descriptor opened the careless way, without O_CLOEXEC, must still not reach the child.
  int leaky = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  int leaky_high = dup2(leaky, 200);
  ASSERT_EQ(leaky_high, 200);
  SubprocessOptions o;
  o.argv = {testing::Runfile("tests/probe/probe"), "fds"};
  SubprocessResult r = RunOk(o);
  close(leaky);
  close(leaky_high);
  EXPECT_THAT(absl::StrSplit(r.out, '\n', absl::SkipEmpty()), ElementsAre("0", "1", "2"));
}

TEST(RunSubprocess, DropsCredentials) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change ids";
  testing::TempDir dir;  // Bazel's output folder is closed to other users
  SubprocessOptions o;
  o.argv = {dir.CopyIn(testing::Runfile("tests/probe/probe"), "probe"), "ids"};
  o.credentials = Credentials{65534, 65534, {}};
  SubprocessResult r = RunOk(o);
  EXPECT_EQ(r.out, "uid 65534 65534 65534\ngid 65534 65534 65534\ngroups\n");
}

}  // namespace
}  // namespace gdn
