// attach with real processes: keepers that outlive their launcher, output that is never
// lost, exit statuses, terminals.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/subprocess.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

using ::testing::HasSubstr;

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Keepers are reparented to us, so that we can see them exit and reap them.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    attach_ = testing::Runfile("attach/attach");
  }
  void TearDown() override {
    // End what a failed test left: each keeper and process, by the pids in its folder.
    for (const std::string& d : dirs_) {
      auto p = ReadFile(d + "/process.json");
      if (!p.ok()) continue;
      for (const char* key : {"\"pid\":", "\"keeper_pid\":"}) {
        std::string::size_type at = p->find(key);
        int pid = 0;
        if (at != std::string::npos &&
            absl::SimpleAtoi(p->substr(at + strlen(key), p->find_first_of(",}", at) - at - strlen(key)), &pid) &&
            pid > 0 && WaitGone(pid, absl::ZeroDuration()) == false) {
          kill(pid, SIGKILL);
        }
      }
    }
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
  }

  std::string NewDir() {
    dirs_.push_back(tmp_.Join(absl::StrCat("p", dirs_.size())));
    return dirs_.back();
  }

  SubprocessResult Attach(std::vector<std::string> args, const std::string& in = "",
                          bool with_stdin = false) {
    SubprocessOptions o;
    o.argv = {attach_};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    if (with_stdin) {
      o.stdin_mode = Stdio::kCapture;
      o.stdin_data = in;
    }
    o.timeout = absl::Seconds(60);
    auto r = RunSubprocess(o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : SubprocessResult{};
  }

  SubprocessResult Run(const std::string& dir, std::vector<std::string> cmd,
                       std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"run", "--dir", dir};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--");
    args.insert(args.end(), cmd.begin(), cmd.end());
    SubprocessResult r = Attach(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  }

  int KeeperPid(const std::string& dir) {
    auto p = ReadFile(dir + "/process.json");
    std::string::size_type at = p->find("\"keeper_pid\":");
    int pid = 0;
    absl::SimpleAtoi(p->substr(at + 13, p->find_first_of(",}", at) - at - 13), &pid);
    return pid;
  }

  // Waits until `pid` (our child, as subreaper) has exited; false if it outlives `limit`.
  bool WaitGone(int pid, absl::Duration limit) {
    absl::Time deadline = absl::Now() + limit;
    for (;;) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid || kill(pid, 0) != 0) return true;
      if (absl::Now() >= deadline) return false;
      usleep(5000);
    }
  }

  testing::TempDir tmp_;
  std::vector<std::string> dirs_;
  std::string attach_;
};

TEST_F(AttachTest, OutputAndExitCodeSurviveTheLauncherKilled) {
  std::string dir = NewDir();
  // The launcher, in its own process group, killed with SIGKILL the moment it answers.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t launcher = fork();
  if (launcher == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    execl(attach_.c_str(), "attach", "run", "--dir", dir.c_str(), "--", "sh", "-c",
          "sleep 0.3; echo first; echo second >&2; echo third; exit 7", nullptr);
    _exit(127);
  }
  close(out[1]);
  char c;
  ASSERT_EQ(read(out[0], &c, 1), 1);
  kill(-launcher, SIGKILL);
  close(out[0]);
  int status;
  waitpid(launcher, &status, 0);
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "first\nthird\n");
  EXPECT_EQ(r.err, "second\n");
  // Connecting again after the end: the status again, no output twice.
  SubprocessResult again = Attach({"connect", "--dir", dir});
  EXPECT_EQ(again.exit_code, 7);
  EXPECT_EQ(again.out, "");
}

TEST_F(AttachTest, FiftyMegabytesArriveWholeAndInOrderPerStream) {
  std::string dir = NewDir();
  Run(dir, {testing::Runfile("attach/testdata/chatter"), "50000000"});
  usleep(300 * 1000);  // nobody reads for a while: the keeper's buffer fills, chatter waits
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 200);
  size_t lines_out = 0, lines_err = 0;
  bool ordered = true;
  for (auto [text, tag, count] : {std::tuple{&r.out, 'o', &lines_out}, std::tuple{&r.err, 'e', &lines_err}}) {
    long expect = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      long n = -1;
      if (line.size() < 12 || line[0] != tag || !absl::SimpleAtoi(line.substr(2, 9), &n) || n != expect) {
        ordered = false;
        break;
      }
      ++expect;
      ++*count;
    }
  }
  EXPECT_TRUE(ordered);
  EXPECT_GE(r.out.size() + r.err.size(), 50000000u);
  // chatter alternates, starting with stdout: the streams end level or stdout one ahead.
  EXPECT_TRUE(lines_out == lines_err || lines_out == lines_err + 1) << lines_out << " " << lines_err;
}

TEST_F(AttachTest, AReaderThatGoesAwayLosesNothing) {
  std::string dir = NewDir();
  Run(dir, {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done"});
  std::string full;
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&full, "line ", i, "\n");
  // A first reader whose output pipe closes after 100 bytes: it fails, having acknowledged
  // only what it wrote out whole.
  SubprocessOptions o;
  o.argv = {"sh", "-c", absl::StrCat(attach_, " connect --dir ", dir, " | head -c 100")};
  auto first = RunSubprocess(o);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->out, full.substr(0, 100));
  // The next reader gets everything from the first unacknowledged byte on.
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_FALSE(r.out.empty());
  ASSERT_LE(r.out.size(), full.size());
  EXPECT_EQ(r.out, full.substr(full.size() - r.out.size()));
}

TEST_F(AttachTest, AReaderKilledMidStreamLosesNothingOnTheSplicePath) {
  // 47 MB, far beyond the keeper's 4 MB buffer: most of it goes to the reader on the fast
  // path (tee into the kept pipe, splice to the socket) while the reader is there.
  std::string dir = NewDir();
  Run(dir, {"seq", "1", "6000000"});
  std::string full;
  for (int i = 1; i <= 6000000; ++i) absl::StrAppend(&full, i, "\n");
  std::string first_file = tmp_.Join("first.out");
  SubprocessOptions o;
  o.argv = {"sh", "-c",
            absl::StrCat(": >", first_file, "; ", attach_, " connect --dir ", dir, " >", first_file,
                         " & p=$!; while [ $(stat -c %s ", first_file,
                         ") -lt 20000000 ]; do sleep 0.002; done; kill -9 $p; wait $p; true")};
  o.timeout = absl::Seconds(60);
  ASSERT_TRUE(RunSubprocess(o).ok());
  absl::StatusOr<std::string> first = ReadFile(first_file);
  ASSERT_TRUE(first.ok());
  ASSERT_GE(first->size(), 20000000u);
  ASSERT_LT(first->size(), full.size()) << "the first reader was to be killed half-way";
  EXPECT_TRUE(first->compare(0, first->size(), full, 0, first->size()) == 0) << "the first reader's part is the start";
  // The next reader gets everything from the first unacknowledged byte on: nothing missing
  // between the two, nothing out of order.
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_LE(r.out.size(), full.size());
  EXPECT_TRUE(r.out == full.substr(full.size() - r.out.size())) << "the second reader's part is the end";
  EXPECT_GE(first->size() + r.out.size(), full.size()) << "nothing lost between the readers";
}

TEST_F(AttachTest, StdinAndItsEofReachTheProcess) {
  std::string dir = NewDir();
  Run(dir, {"sh", "-c", "cat; echo done"}, {"--stdin"});
  SubprocessResult r = Attach({"connect", "--dir", dir, "--stdin"}, "from the client\n", true);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "from the client\ndone\n");
}

// The keeper sends the exit frame and ends; the client, busy elsewhere (stopped here),
// then has stdin to pass on: the write fails (EPIPE), and the exit frame is still read.
TEST_F(AttachTest, StdinLeftAfterTheKeeperEndedDoesNotHideTheExit) {
  std::string dir = NewDir();
  Run(dir, {"sh", "-c", "sleep 0.3; exit 4"}, {"--stdin"});
  SubprocessOptions o;
  o.argv = {"bash", "-c",
            "(sleep 0.2; echo data; sleep 1) | { \"$0\" connect --dir \"$1\" --stdin & c=$!; "
            "sleep 0.1; kill -STOP $c; sleep 0.6; kill -CONT $c; wait $c; }",
            attach_, dir};
  o.timeout = absl::Seconds(30);
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 4) << r->err;
  EXPECT_EQ(r->err, "");
}

TEST_F(AttachTest, DeathBySignalIsReportedAsASignal) {
  std::string dir = NewDir();
  Run(dir, {"sh", "-c", "kill -TERM $$"});
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 128 + SIGTERM);
  EXPECT_THAT(Attach({"status", "--dir", dir}).out, HasSubstr(R"("exit_status":{"signal":15})"));
  std::string sleeper = NewDir();
  Run(sleeper, {"sleep", "60"});
  EXPECT_THAT(Attach({"status", "--dir", sleeper}).out, HasSubstr(R"("running":true)"));
  EXPECT_EQ(Attach({"signal", "--dir", sleeper, "KILL"}).exit_code, 0);
  EXPECT_EQ(Attach({"connect", "--dir", sleeper}).exit_code, 137);
  EXPECT_EQ(Attach({"signal", "--dir", sleeper, "KILL"}).exit_code, 5);
}

TEST_F(AttachTest, APtySeesItsSizeAndAResize) {
  std::string dir = NewDir();
  std::string ready = tmp_.Join("pty-ready");
  Run(dir, {"sh", "-c", "trap 'stty size; exit 0' WINCH; stty size; touch " + ready +
                            "; while :; do sleep 0.05; done"},
      {"--tty", "--rows", "30", "--cols", "100"});
  // Resize only once the trap is set (the process says so with a file).
  for (int i = 0; i < 1000 && !FileExists(ready); ++i) usleep(10 * 1000);
  ASSERT_TRUE(FileExists(ready));
  EXPECT_EQ(Attach({"resize", "--dir", dir, "--rows", "40", "--cols", "120"}).exit_code, 0);
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "30 100\r\n40 120\r\n");
}

// A runtime's terminal (runc's --console-socket): the command makes a pty, sends its master
// to D/console.sock and runs a shell on the other end, which sees the size asked for.
constexpr char kConsoleRuntime[] = R"(
import os, socket, sys
master, slave = os.openpty()
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1] + "/console.sock")
socket.send_fds(c, [b"t"], [master])
os.close(master)
pid = os.fork()
if pid == 0:
    os.setsid()
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execvp("sh", ["sh", "-c", "stty size; read line; echo got $line; exit 6"])
os.close(slave)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
)";

TEST_F(AttachTest, TheTerminalCanComeFromTheRuntimeOverTheConsoleSocket) {
  std::string dir = NewDir();
  Run(dir, {"python3", "-c", kConsoleRuntime, dir}, {"--tty", "--rows", "33", "--cols", "101", "--console-socket", "--stdin"});
  SubprocessResult r = Attach({"connect", "--dir", dir, "--stdin"}, "hello\n", true);
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.out.find("33 101\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("got hello"), std::string::npos) << r.out;
  EXPECT_FALSE(FileExists(dir + "/console.sock")) << "the socket goes once the terminal came";
}

TEST_F(AttachTest, ARuntimeThatSendsNoTerminalIsHeardAndEnds) {
  std::string dir = NewDir();
  Run(dir, {"sh", "-c", "echo no terminal for you >&2; exit 3"}, {"--tty", "--console-socket"});
  SubprocessResult r = Attach({"connect", "--dir", dir});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "no terminal for you\n");
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(FileExists(dir + "/console.sock"));
}

TEST_F(AttachTest, TwoProcessesInParallelDoNotMix) {
  std::string a = NewDir(), b = NewDir();
  Run(a, {"sh", "-c", "for i in $(seq 1 500); do echo aaaa; done"});
  Run(b, {"sh", "-c", "for i in $(seq 1 500); do echo bbbb; done"});
  SubprocessResult ra = Attach({"connect", "--dir", a});
  SubprocessResult rb = Attach({"connect", "--dir", b});
  EXPECT_EQ(ra.out, [] { std::string s; for (int i = 0; i < 500; ++i) s += "aaaa\n"; return s; }());
  EXPECT_EQ(rb.out, [] { std::string s; for (int i = 0; i < 500; ++i) s += "bbbb\n"; return s; }());
}

TEST_F(AttachTest, NoDescriptorOfTheKeeperLeaksIntoTheProcess) {
  std::string dir = NewDir();
  Run(dir, {testing::Runfile("tests/probe/probe"), "fds"});
  EXPECT_EQ(Attach({"connect", "--dir", dir}).out, "0\n1\n2\n");
}

TEST_F(AttachTest, TheKeeperExitsOnceDrainedAndLeavesNoZombie) {
  std::string dir = NewDir();
  SubprocessResult run = Run(dir, {"sh", "-c", "echo bye"});
  int keeper = KeeperPid(dir);
  int process = 0;
  ASSERT_TRUE(absl::SimpleAtoi(run.out.substr(7, run.out.find(',') - 7), &process)) << run.out;
  EXPECT_EQ(Attach({"connect", "--dir", dir}).out, "bye\n");
  EXPECT_TRUE(WaitGone(keeper, absl::Seconds(10)));
  // The keeper reaped its process: no zombie of it was handed on to us.
  int status;
  EXPECT_LE(waitpid(process, &status, WNOHANG), 0);
  EXPECT_NE(kill(process, 0), 0);
  EXPECT_FALSE(FileExists(dir + "/attach.sock"));
  // A process with no output needs no reader: its keeper goes as soon as it ends.
  std::string quiet = NewDir();
  Run(quiet, {"true"});
  EXPECT_TRUE(WaitGone(KeeperPid(quiet), absl::Seconds(10)));
  EXPECT_EQ(Attach({"connect", "--dir", quiet}).exit_code, 0);
  // Released: unread output is dropped and the keeper goes.
  std::string chatty = NewDir();
  Run(chatty, {"sh", "-c", "echo unread"});
  int chatty_keeper = KeeperPid(chatty);
  usleep(100 * 1000);
  EXPECT_EQ(Attach({"release", "--dir", chatty}).exit_code, 0);
  EXPECT_TRUE(WaitGone(chatty_keeper, absl::Seconds(10)));
}

TEST_F(AttachTest, StaleAndForeignFolders) {
  EXPECT_EQ(Attach({"connect", "--dir", tmp_.Join("missing")}).exit_code, 3);
  std::string empty = NewDir();
  ASSERT_TRUE(MakeDirs(empty).ok());
  EXPECT_EQ(Attach({"status", "--dir", empty}).exit_code, 3);
  std::string corrupt = NewDir();
  ASSERT_TRUE(MakeDirs(corrupt).ok());
  ASSERT_TRUE(WriteFileAtomic(corrupt + "/process.json", "{garbage").ok());
  SubprocessResult c = Attach({"connect", "--dir", corrupt});
  EXPECT_EQ(c.exit_code, 7);
  EXPECT_THAT(c.err, HasSubstr("corrupt"));
  // A keeper killed before its process ended: reported as such, never as success.
  std::string dead = NewDir();
  Run(dead, {"sleep", "60"});
  int keeper = KeeperPid(dead);
  kill(keeper, SIGKILL);
  EXPECT_TRUE(WaitGone(keeper, absl::Seconds(10)));
  SubprocessResult r = Attach({"connect", "--dir", dead});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("died"));
  EXPECT_THAT(Attach({"status", "--dir", dead}).out, ::testing::Not(HasSubstr("keeper_alive")));
  // A folder that already holds a process.
  EXPECT_EQ(Attach({"run", "--dir", dead, "--", "true"}).exit_code, 4);
  // A program that cannot run leaves nothing behind.
  std::string bad = NewDir();
  SubprocessResult missing = Attach({"run", "--dir", bad, "--", "/no/such/program"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_FALSE(FileExists(bad + "/process.json"));
  EXPECT_FALSE(FileExists(bad + "/attach.sock"));
}

}  // namespace
}  // namespace gdn
