// spawn against the real kernel, as root and as the unprivileged test user (whose
// subordinate ids idmap maps), on bundles made from busybox-static.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/testing/testing.h"
#include "nlohmann/json.hpp"
#include "setup/cgroups.h"
#include "spawn/testing/bundle.h"

namespace gdn::spawn {
namespace {

using ::gdn::spawn::testing::Binaries;
using ::gdn::spawn::testing::Bundle;
using ::gdn::spawn::testing::Runner;
using ::testing::HasSubstr;
using ::testing::Not;

class SpawnTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    GDN_SKIP_UNLESS_PRIVILEGED();
    // Containers whose `create` has exited are reparented to us, not to the machine's init,
    // so that TearDown can reap them and count what is left.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    auto user = gdn::testing::FindTestUser(gdn::testing::kTestUser);
    runner_.rootless = GetParam();
    if (runner_.rootless) {
      runner_.uid = user->uid;
      runner_.gid = user->gid;
    }
    bins_ = std::make_unique<Binaries>();
    state_ = std::make_unique<gdn::testing::TempDir>();
    if (runner_.rootless) {
      ASSERT_EQ(chown(state_->path().c_str(), runner_.uid, runner_.gid), 0);
    }
    bundle_ = std::make_unique<Bundle>(bins_->spawn(), runner_);
    // The cgroup parents spawn makes for root ("spawn" in each hierarchy) go with the test
    // when it made them.
    for (const char* h : {"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices",
                          "freezer"}) {
      std::string parent = absl::StrCat("/sys/fs/cgroup/", h, "/spawn");
      if (!FileExists(parent)) new_cgroup_parents_.push_back(parent);
    }
  }

  void TearDown() override {
    if (bins_ == nullptr) return;
    // Whatever a failed test left running: delete --force every container, by id.
    SubprocessResult ids = Spawn({"list", "-q"});
    for (absl::string_view id : absl::StrSplit(ids.out, '\n', absl::SkipEmpty())) {
      Spawn({"delete", "--force", std::string(id)});
    }
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
    for (const std::string& p : new_cgroup_parents_) {
      if (rmdir(p.c_str()) != 0 && errno != ENOENT) ADD_FAILURE() << p << " is not empty";
    }
  }

  SubprocessResult Spawn(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {bins_->spawn(), "--root", state_->path()});
    return testing::RunAs(runner_, args, stdin_data);
  }

  // Runs `args` in a fresh container of the bundle; the result of `spawn run`.
  SubprocessResult RunIn(std::vector<std::string> args, const std::string& id = "c1") {
    bundle_->spec().mutable_process()->clear_args();
    for (const std::string& a : args) bundle_->spec().mutable_process()->add_args(a);
    bundle_->Save();
    return Spawn({"run", "--bundle", bundle_->dir(), id});
  }

  void SetArgs(std::vector<std::string> args) {
    bundle_->spec().mutable_process()->clear_args();
    for (const std::string& a : args) bundle_->spec().mutable_process()->add_args(a);
    bundle_->Save();
  }

  std::string StateField(const std::string& id, const std::string& field) {
    SubprocessResult r = Spawn({"state", id});
    std::string key = absl::StrCat("\"", field, "\": ");
    std::string::size_type at = r.out.find(key);
    if (at == std::string::npos) return "";
    std::string rest = r.out.substr(at + key.size());
    rest = rest.substr(0, rest.find_first_of(",\n"));
    return std::string(absl::StripSuffix(absl::StripPrefix(rest, "\""), "\""));
  }

  // The host uid the container's uid `uid` is.
  unsigned HostUid(unsigned uid) const {
    if (!runner_.rootless) return uid;
    return uid == 0 ? runner_.uid : 1000000 + uid - 1;
  }

  // Zombie children of this test process (containers are reparented to it).
  int Zombies() {
    int n = 0;
    SubprocessOptions o;
    o.argv = {"ps", "-o", "stat=", "--ppid", absl::StrCat(getpid())};
    auto r = RunSubprocess(o);
    for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "Z")) ++n;
    }
    return n;
  }

  Runner runner_;
  std::unique_ptr<Binaries> bins_;
  std::unique_ptr<gdn::testing::TempDir> state_;
  std::unique_ptr<Bundle> bundle_;
  std::vector<std::string> new_cgroup_parents_;
};

TEST_P(SpawnTest, RunPrintsOutputAndExitsWithTheProcessStatus) {
  SubprocessResult r = RunIn({"sh", "-c", "echo hello from $0; echo oops >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "hello from sh\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(RunIn({"true"}).exit_code, 0);
  // Init of a pid namespace ignores signals from inside it: without one, it dies.
  auto* namespaces = bundle_->spec().mutable_linux()->mutable_namespaces();
  for (int i = 0; i < namespaces->size(); ++i) {
    if (namespaces->Get(i).type() == "pid") namespaces->DeleteSubrange(i, 1);
  }
  EXPECT_EQ(RunIn({"sh", "-c", "kill -KILL $$"}).exit_code, 137);
  // run deletes its container afterwards.
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
  EXPECT_EQ(Zombies(), 0);
}

TEST_P(SpawnTest, IdsInsideAreRootOnTheHostTheUser) {
  SubprocessResult r = RunIn({"probe", "ids"});
  EXPECT_EQ(r.out, "uid 0 0 0\ngid 0 0 0\ngroups\n") << r.err;
  // A long-lived container, seen from the host.
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "--detach", "--bundle", bundle_->dir(), "c2"}).exit_code, 0);
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(StateField("c2", "pid"), &pid));
  auto status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(*status, HasSubstr(absl::StrCat("Uid:\t", HostUid(0), "\t")));
  EXPECT_EQ(Spawn({"delete", "--force", "c2"}).exit_code, 0);
}

// run --detach returns once the process runs (not while the sealed init is about to exec
// it), so an exec right after it joins the container, rootless too.
TEST_P(SpawnTest, RunDetachReturnsOnceTheProcessRunsAndExecJoinsAtOnce) {
  SetArgs({"sleep", "100"});
  for (int i = 0; i < 5; ++i) {
    std::string id = absl::StrCat("d", i);
    ASSERT_EQ(Spawn({"run", "--detach", "--bundle", bundle_->dir(), id}).exit_code, 0);
    int pid = 0;
    ASSERT_TRUE(absl::SimpleAtoi(StateField(id, "pid"), &pid));
    auto stat = ReadFile(absl::StrCat("/proc/", pid, "/comm"));
    ASSERT_TRUE(stat.ok());
    EXPECT_EQ(*stat, "sleep\n");
    SubprocessResult r = Spawn({"exec", id, "true"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    SubprocessResult d = Spawn({"delete", "--force", id});
    EXPECT_EQ(d.exit_code, 0) << d.err;
  }
  // A program that cannot be run is reported by run --detach itself, and leaves nothing.
  SetArgs({"no-such-program-anywhere"});
  SubprocessResult r = Spawn({"run", "--detach", "--bundle", bundle_->dir(), "dbad"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no-such-program-anywhere"));
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

TEST_P(SpawnTest, FilesCreatedInsideBelongToTheMappedOwner) {
  std::string data = bundle_->MakeWritableDir("data", 1000, 1000);
  oci::Mount* m = bundle_->spec().add_mounts();
  m->set_destination("/data");
  m->set_type("bind");
  m->set_source(data);
  m->add_options("rbind");
  bundle_->spec().mutable_process()->mutable_user()->set_uid(1000);
  bundle_->spec().mutable_process()->mutable_user()->set_gid(1000);
  SubprocessResult r = RunIn({"probe", "write", "/data/made-inside", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat((data + "/made-inside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, HostUid(1000));
  EXPECT_EQ(st.st_gid, HostUid(1000));
}

TEST_P(SpawnTest, HostnameEnvCwdAndRlimitsHold) {
  bundle_->spec().set_hostname("box1");
  bundle_->spec().mutable_process()->add_env("GREETING=hi there");
  bundle_->spec().mutable_process()->set_cwd("/srv/dir");
  oci::Rlimit* nofile = bundle_->spec().mutable_process()->mutable_rlimits(0);
  nofile->set_soft(200);
  nofile->set_hard(300);
  EXPECT_EQ(RunIn({"probe", "hostname"}).out, "box1\n");
  EXPECT_THAT(RunIn({"probe", "env"}).out, HasSubstr("GREETING=hi there\n"));
  EXPECT_EQ(RunIn({"probe", "cwd"}).out, "/srv/dir\n");
  EXPECT_EQ(RunIn({"probe", "rlimit", "nofile"}).out, "200 300\n");
}

TEST_P(SpawnTest, MaskedAndReadOnlyPathsHold) {
  // /proc/keys is masked by /dev/null; /proc/sys is read-only; / is read-only when asked.
  EXPECT_THAT(RunIn({"probe", "stat", "/proc/keys"}).out, HasSubstr("type=chr"));
  EXPECT_THAT(RunIn({"probe", "stat", "/proc/acpi"}).out, HasSubstr("type=dir"));
  SubprocessResult sys = RunIn({"probe", "write", "/proc/sys/kernel/hostname", "evil"});
  EXPECT_NE(sys.exit_code, 0);
  EXPECT_THAT(sys.err, HasSubstr("Read-only file system"));
  bundle_->spec().mutable_root()->set_readonly(true);
  SubprocessResult root = RunIn({"probe", "write", "/newfile", "x"});
  EXPECT_NE(root.exit_code, 0);
  EXPECT_THAT(root.err, HasSubstr("Read-only file system"));
}

TEST_P(SpawnTest, DevicesAndDevLinks) {
  SubprocessResult r = RunIn({"sh", "-c", "echo x > /dev/null && ls /dev && head -c 4 /dev/zero | wc -c"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "ptmx", "pts", "shm"}) {
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat(dev, "\n"))) << dev;
  }
}

TEST_P(SpawnTest, LifecycleCreateStartExecKillDelete) {
  SetArgs({"sleep", "100"});
  SubprocessResult created = Spawn({"create", "--bundle", bundle_->dir(), "life"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(StateField("life", "status"), "created");
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(StateField("life", "pid"), &pid));
  // Created: the process waits before its exec, so it is not yet `sleep`.
  auto comm = ReadFile(absl::StrCat("/proc/", pid, "/comm"));
  EXPECT_NE(*comm, "sleep\n");
  EXPECT_EQ(Spawn({"create", "--bundle", bundle_->dir(), "life"}).exit_code, 4);

  ASSERT_EQ(Spawn({"start", "life"}).exit_code, 0);
  EXPECT_EQ(StateField("life", "status"), "running");
  EXPECT_EQ(Spawn({"start", "life"}).exit_code, 5);
  SubprocessResult exec = Spawn({"exec", "life", "sh", "-c", "echo in $(hostname); exit 4"});
  EXPECT_EQ(exec.exit_code, 4) << exec.err;
  EXPECT_EQ(exec.out, "in spawn\n");
  EXPECT_EQ(Zombies(), 0);
  SubprocessResult ps = Spawn({"ps", "--format", "json", "life"});
  EXPECT_EQ(ps.out, absl::StrCat("[", pid, "]\n"));

  SubprocessResult refused = Spawn({"delete", "life"});
  EXPECT_EQ(refused.exit_code, 5);
  EXPECT_THAT(refused.err, HasSubstr("is running"));
  ASSERT_EQ(Spawn({"kill", "life", "KILL"}).exit_code, 0);
  for (int i = 0; i < 200 && StateField("life", "status") != "stopped"; ++i) usleep(10000);
  EXPECT_EQ(StateField("life", "status"), "stopped");
  EXPECT_EQ(Spawn({"kill", "life"}).exit_code, 5);
  EXPECT_EQ(Spawn({"delete", "life"}).exit_code, 0);
  EXPECT_EQ(Spawn({"state", "life"}).exit_code, 3);
  EXPECT_EQ(Spawn({"delete", "life"}).exit_code, 3);
  EXPECT_EQ(Spawn({"delete", "--force", "life"}).exit_code, 0);
}

TEST_P(SpawnTest, DeleteForceKillsARunningContainer) {
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "doomed"}).exit_code, 0);
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(StateField("doomed", "pid"), &pid));
  EXPECT_EQ(Spawn({"delete", "--force", "doomed"}).exit_code, 0);
  int status;
  waitpid(pid, &status, 0);
  EXPECT_NE(kill(pid, 0), 0);
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

TEST_P(SpawnTest, OverlayRootfsIsMountedOnlyInsideTheContainer) {
  std::string upper = bundle_->MakeWritableDir("upper", 0, 0);
  std::string work = bundle_->MakeWritableDir("work", 0, 0);
  std::string merged = bundle_->MakeWritableDir("merged", 0, 0);
  bundle_->spec().mutable_root()->set_path(merged);
  oci::Mount overlay;
  overlay.set_destination("/");
  overlay.set_type("overlay");
  overlay.set_source("overlay");
  overlay.add_options(absl::StrCat("lowerdir=", bundle_->rootfs(), ",upperdir=", upper,
                                   ",workdir=", work));
  auto* mounts = bundle_->spec().mutable_mounts();
  *mounts->Add() = overlay;
  std::rotate(mounts->begin(), mounts->end() - 1, mounts->end());
  SetArgs({"sh", "-c", "echo layered > /made-in-overlay && sleep 100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "ov"}).exit_code, 0);
  // The shell creates the file before it writes to it: wait for the content, not the name.
  for (int i = 0; i < 200 && ReadFile(upper + "/made-in-overlay").value_or("") != "layered\n"; ++i) usleep(10000);
  EXPECT_EQ(*ReadFile(upper + "/made-in-overlay"), "layered\n");
  EXPECT_NE(access((bundle_->rootfs() + "/made-in-overlay").c_str(), F_OK), 0);
  // Nothing is mounted on the host for it.
  EXPECT_THAT(*ReadFile("/proc/self/mountinfo"), Not(HasSubstr(merged)));
  EXPECT_EQ(Spawn({"delete", "--force", "ov"}).exit_code, 0);
  EXPECT_THAT(*ReadFile("/proc/self/mountinfo"), Not(HasSubstr(bundle_->dir())));
}

TEST_P(SpawnTest, BadBundlesGiveDocumentedExitCodes) {
  ASSERT_TRUE(WriteFileAtomic(bundle_->dir() + "/config.json", R"({"process":{"args":["sh"],"user":{"uid":"root"}},"root":{"path":"rootfs"}})").ok());
  SubprocessResult malformed = Spawn({"run", "--bundle", bundle_->dir(), "bad"});
  EXPECT_EQ(malformed.exit_code, 7);
  EXPECT_THAT(malformed.err, HasSubstr("uid"));
  ASSERT_TRUE(WriteFileAtomic(bundle_->dir() + "/config.json", "{not json").ok());
  EXPECT_EQ(Spawn({"run", "--bundle", bundle_->dir(), "bad"}).exit_code, 7);
  bundle_->spec().mutable_root()->set_path("no-such-rootfs");
  bundle_->Save();
  SubprocessResult missing = Spawn({"run", "--bundle", bundle_->dir(), "bad"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.err, HasSubstr("no-such-rootfs"));
  EXPECT_EQ(Spawn({"run", "--bundle", "/nonexistent-bundle", "bad"}).exit_code, 3);
  EXPECT_EQ(Spawn({"run", "--bundle", bundle_->dir(), "../escape"}).exit_code, 2);
  EXPECT_EQ(Spawn({"frobnicate"}).exit_code, 2);
  // Nothing half-made is left behind.
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

TEST_P(SpawnTest, MissingProgramIsReportedByCreate) {
  SetArgs({"/bin/no-such-program"});
  SubprocessResult r = Spawn({"run", "--bundle", bundle_->dir(), "np"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("/bin/no-such-program"));
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

TEST_P(SpawnTest, NoDescriptorOfTheRuntimeLeaksIntoTheContainer) {
  SubprocessResult r = RunIn({"probe", "fds"});
  EXPECT_EQ(r.out, "0\n1\n2\n") << r.err;
  // Nor into a process exec'd into it, nor with seccomp and cgroups in play.
  bundle_->spec().mutable_linux()->mutable_seccomp()->set_default_action("SCMP_ACT_ALLOW");
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "fds"}).exit_code, 0);
  r = Spawn({"exec", "fds", "probe", "fds"});
  EXPECT_EQ(r.out, "0\n1\n2\n") << r.err;
  r = Spawn({"exec", "fds", "sh", "-c", "ls /proc/1/fd"});
  EXPECT_EQ(r.out, "0\n1\n2\n") << r.err;
  EXPECT_EQ(Spawn({"delete", "--force", "fds"}).exit_code, 0);
}

// Commands racing on one container: the id is taken once, start succeeds once.
TEST_P(SpawnTest, ConcurrentCommandsOnOneContainerAreSafe) {
  SetArgs({"sleep", "100"});
  constexpr int kRacers = 6;
  std::vector<std::thread> racers;
  std::vector<int> create_codes(kRacers), start_codes(kRacers);
  for (int i = 0; i < kRacers; ++i) {
    racers.emplace_back([&, i] {
      create_codes[i] = Spawn({"create", "--bundle", bundle_->dir(), "race"}).exit_code;
    });
  }
  for (auto& t : racers) t.join();
  EXPECT_EQ(std::count(create_codes.begin(), create_codes.end(), 0), 1);
  EXPECT_EQ(std::count(create_codes.begin(), create_codes.end(), 4), kRacers - 1);
  racers.clear();
  for (int i = 0; i < kRacers; ++i) {
    racers.emplace_back([&, i] { start_codes[i] = Spawn({"start", "race"}).exit_code; });
  }
  for (auto& t : racers) t.join();
  EXPECT_EQ(std::count(start_codes.begin(), start_codes.end(), 0), 1);
  EXPECT_EQ(std::count(start_codes.begin(), start_codes.end(), 5), kRacers - 1);
  EXPECT_EQ(StateField("race", "status"), "running");
  // A second container never sees the first's state.
  ASSERT_EQ(Spawn({"create", "--bundle", bundle_->dir(), "other"}).exit_code, 0);
  EXPECT_EQ(StateField("other", "status"), "created");
  EXPECT_NE(StateField("other", "pid"), StateField("race", "pid"));
  EXPECT_EQ(Spawn({"delete", "--force", "race"}).exit_code, 0);
  EXPECT_EQ(Spawn({"delete", "--force", "other"}).exit_code, 0);
}

TEST_P(SpawnTest, EachNamespaceAskedForIsNew) {
  bundle_->spec().mutable_linux()->add_namespaces()->set_type("cgroup");
  std::vector<std::string> kinds = {"pid", "ipc", "uts", "mnt", "net", "cgroup"};
  if (runner_.rootless) kinds.push_back("user");
  std::string script;
  for (const std::string& k : kinds) absl::StrAppend(&script, "readlink /proc/self/ns/", k, ";");
  SubprocessResult r = RunIn({"sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> inside = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(inside.size(), kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    char host[64] = {};
    ASSERT_GT(readlink(absl::StrCat("/proc/self/ns/", kinds[i]).c_str(), host, sizeof host - 1), 0);
    EXPECT_NE(inside[i], host) << kinds[i] << " is the host's";
  }
}

// Device nodes an image ships are inert: the root filesystem is nodev.
TEST_P(SpawnTest, DeviceNodesOfTheImageAreInert) {
  std::string node = bundle_->rootfs() + "/tmp/mem-like";
  ASSERT_EQ(mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);  // /dev/null's numbers
  SubprocessResult r = RunIn({"sh", "-c", "echo x > /tmp/mem-like && echo wrote"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("wrote")));
  EXPECT_THAT(r.err, HasSubstr("Permission denied"));
}

// A read-only recursive bind is read-only all the way down: the host's cgroup controllers
// (submounts of /sys/fs/cgroup on this hybrid host) must not be writable from inside.
TEST_P(SpawnTest, ReadOnlyRbindCoversSubmounts) {
  SubprocessResult r = RunIn({"probe", "write", "/sys/fs/cgroup/cpu/notify_on_release", "0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
}

TEST_P(SpawnTest, KillAllSignalsEveryProcessOfTheContainer) {
  SetArgs({"sh", "-c", "sleep 100 & sleep 100 & wait"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "many"}).exit_code, 0);
  std::vector<std::string> pids;
  for (int i = 0; i < 200; ++i) {
    std::string out(absl::StripTrailingAsciiWhitespace(Spawn({"ps", "--format", "json", "many"}).out));
    pids = absl::StrSplit(absl::StripSuffix(absl::StripPrefix(out, "["), "]"), ',');
    if (pids.size() == 3) break;
    usleep(10000);
  }
  ASSERT_EQ(pids.size(), 3u);
  ASSERT_EQ(Spawn({"kill", "--all", "many", "KILL"}).exit_code, 0);
  for (int i = 0; i < 200 && StateField("many", "status") != "stopped"; ++i) usleep(10000);
  EXPECT_EQ(StateField("many", "status"), "stopped");
  for (const std::string& pid : pids) {
    int status;
    int n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(pid, &n));
    waitpid(n, &status, WNOHANG);
    EXPECT_NE(kill(n, 0), 0) << "pid " << pid << " survived kill --all";
  }
  EXPECT_EQ(Spawn({"delete", "many"}).exit_code, 0);
}

TEST_P(SpawnTest, TerminalGoesToTheConsoleSocket) {
  gdn::testing::TempDir sock_dir;
  if (runner_.rootless) {
    ASSERT_EQ(chown(sock_dir.path().c_str(), runner_.uid, runner_.gid), 0);
  }
  std::string path = sock_dir.Join("console.sock");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(chmod(path.c_str(), 0777), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  int master = -1;
  std::thread receiver([&] {
    int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    char buf[16];
    struct iovec iov = {buf, sizeof buf};
    union {
      char control[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } u = {};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.control;
    msg.msg_controllen = sizeof u.control;
    if (recvmsg(conn, &msg, 0) > 0) {
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (c != nullptr && c->cmsg_type == SCM_RIGHTS) memcpy(&master, CMSG_DATA(c), sizeof master);
    }
    close(conn);
  });
  bundle_->spec().mutable_process()->set_terminal(true);
  SetArgs({"sh", "-c", "tty; echo on the terminal"});
  SubprocessResult created =
      Spawn({"create", "--console-socket", path, "--bundle", bundle_->dir(), "tty"});
  receiver.join();
  close(listener);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_GE(master, 0);
  ASSERT_EQ(Spawn({"start", "tty"}).exit_code, 0);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(master);
  EXPECT_THAT(out, HasSubstr("/dev/pts/0"));
  EXPECT_THAT(out, HasSubstr("on the terminal"));
  EXPECT_EQ(Spawn({"delete", "--force", "tty"}).exit_code, 0);
  // Without a console socket, a terminal cannot be handed over: invalid input.
  EXPECT_EQ(Spawn({"run", "--bundle", bundle_->dir(), "tty2"}).exit_code, 7);
}

TEST_P(SpawnTest, ExecTakesEnvCwdAndUser) {
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "ex"}).exit_code, 0);
  SubprocessResult r = Spawn({"exec", "--env", "X=1", "--cwd", "/tmp", "--user", "1000:1000",
                              "ex", "sh", "-c", "echo $X $(pwd) $(id -u):$(id -g)"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 /tmp 1000:1000\n");
  EXPECT_EQ(Spawn({"exec", "ex", "/no/such"}).exit_code, 127);
  EXPECT_EQ(Spawn({"exec", "nosuch", "true"}).exit_code, 3);
  EXPECT_EQ(Zombies(), 0);
  EXPECT_EQ(Spawn({"delete", "--force", "ex"}).exit_code, 0);
}

// In the container's pid namespace the exec'd process is a child that spawn's helper forks
// and names; the child may report itself before the helper does when the CPUs are busy. Each
// exec must still report its own process's exit code and reap it: waiting for the helper
// instead, spawn exited 0 and left a zombie that kept the container's init from dying. Busy
// loops in sessions of their own (scheduling groups of their own, with autogroups) make that
// order common: the old code failed this test in every run.
TEST_P(SpawnTest, ExecOnBusyCpusReportsItsOwnProcessAndReapsIt) {
  std::vector<pid_t> busy;
  absl::Cleanup stop_busy = [&busy] {
    for (pid_t p : busy) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
  };
  for (int i = 0; i < 3; ++i) {
    pid_t p = fork();
    ASSERT_GE(p, 0);
    if (p == 0) {
      setsid();  // a session of its own: with autogroups, a scheduling group of its own too
      for (volatile uint64_t n = 0;; n = n + 1) {
      }
    }
    busy.push_back(p);
  }
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "busy"}).exit_code, 0);
  for (int i = 0; i < 40; ++i) {
    SubprocessResult r = Spawn({"exec", "busy", "/no/such"});
    EXPECT_EQ(r.exit_code, 127) << "exec " << i << ": " << r.err;
  }
  EXPECT_EQ(Zombies(), 0);
  EXPECT_EQ(Spawn({"delete", "--force", "busy"}).exit_code, 0);
}

// exec takes the spec the container was created with (as runc keeps it in its state): a
// config.json changed or removed since makes no difference to it.
TEST_P(SpawnTest, ExecUsesTheSpecTheContainerWasCreatedWith) {
  bundle_->spec().mutable_process()->add_env("FROM=create");
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "kept"}).exit_code, 0);
  for (std::string& e : *bundle_->spec().mutable_process()->mutable_env()) {
    if (e == "FROM=create") e = "FROM=later";
  }
  bundle_->Save();
  SubprocessResult r = Spawn({"exec", "kept", "sh", "-c", "echo $FROM"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "create\n");
  ASSERT_EQ(unlink(absl::StrCat(bundle_->dir(), "/config.json").c_str()), 0);
  r = Spawn({"exec", "kept", "sh", "-c", "echo $FROM"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "create\n");
  // A damaged copy is said to be one, not taken for an empty spec.
  std::string copy = state_->Join("kept/config.pb");
  {
    std::ofstream damaged(copy, std::ios::trunc);  // the same file: its owner stays
    damaged << "\xff\xff\xff";
  }
  r = Spawn({"exec", "kept", "true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("not a spec"));
  EXPECT_EQ(Spawn({"delete", "--force", "kept"}).exit_code, 0);
  // Nothing of it is left in spawn's root.
  EXPECT_FALSE(std::filesystem::exists(state_->Join("kept")));
  bundle_->Save();  // config.json back for the tests after this one
}

INSTANTIATE_TEST_SUITE_P(RootAndRootless, SpawnTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Rootless" : "Root"; });

// Capabilities inside (/proc/self/status) are exactly the spec's five sets; nothing is
// inheritable by default.
TEST_P(SpawnTest, CapabilitiesInsideEqualTheSpec) {
  SubprocessResult d = RunIn({"probe", "caps"});
  EXPECT_THAT(d.out, HasSubstr("CapInh:\t0000000000000000")) << d.err;
  EXPECT_THAT(d.out, HasSubstr("CapAmb:\t0000000000000000"));
  oci::Capabilities* caps = bundle_->spec().mutable_process()->mutable_capabilities();
  caps->Clear();
  for (const char* c : {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}) {
    caps->add_bounding(c);
    caps->add_permitted(c);
  }
  caps->add_effective("CAP_CHOWN");
  caps->add_effective("CAP_KILL");
  // As root, exec makes the effective set the permitted one (the kernel's rule for uid 0,
  // runc's and crun's containers alike).
  SubprocessResult r = RunIn({"probe", "caps"});
  EXPECT_EQ(r.out,
            "CapInh:\t0000000000000000\nCapPrm:\t0000000000000421\nCapEff:\t0000000000000421\n"
            "CapBnd:\t0000000000000421\nCapAmb:\t0000000000000000\n")
      << r.err;
  // A non-root user with nothing ambient ends with no capabilities but the bounding set.
  bundle_->spec().mutable_process()->mutable_user()->set_uid(1000);
  r = RunIn({"probe", "caps"});
  EXPECT_EQ(r.out,
            "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
            "CapBnd:\t0000000000000421\nCapAmb:\t0000000000000000\n")
      << r.err;
  // A non-root user keeps what is ambient (and so inheritable and permitted) across exec.
  caps->add_inheritable("CAP_NET_BIND_SERVICE");
  caps->add_ambient("CAP_NET_BIND_SERVICE");
  r = RunIn({"probe", "caps"});
  EXPECT_EQ(r.out,
            "CapInh:\t0000000000000400\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\n"
            "CapBnd:\t0000000000000421\nCapAmb:\t0000000000000400\n")
      << r.err;
}

// CVE-2019-5736's way: while the container's init is still spawn (created, not started), a
// process in the container opens /proc/1/exe to overwrite spawn's binary. It may not even
// read it.
TEST_P(SpawnTest, TheContainerCannotReachSpawnsBinaryThroughProcExe) {
  std::string before = *ReadFile(bins_->spawn());
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"create", "--bundle", bundle_->dir(), "exe"}).exit_code, 0);
  if (runner_.rootless) {
    // Rootless, nothing can join a container before it starts (the sealed init's
    // namespaces are out of reach), so nothing in it can try.
    SubprocessResult r = Spawn({"exec", "exe", "true"});
    EXPECT_EQ(r.exit_code, 5);
    EXPECT_THAT(r.err, HasSubstr("exec waits for `spawn start`"));
    EXPECT_EQ(Spawn({"delete", "--force", "exe"}).exit_code, 0);
    return;
  }
  SubprocessResult r = Spawn(
      {"exec", "exe", "sh", "-c",
       "id -u; cat /proc/1/comm; cat /proc/1/exe > /dev/null && echo READ; "
       "echo x >> /proc/1/exe && echo WROTE; readlink /proc/1/fd/0 && echo FD; "
       "readlink /proc/1/exe && echo LINKED; true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("READ")));
  EXPECT_THAT(r.out, Not(HasSubstr("WROTE")));
  EXPECT_THAT(r.out, Not(HasSubstr("FD")));
  EXPECT_THAT(r.out, Not(HasSubstr("LINKED")));
  EXPECT_THAT(r.err, HasSubstr("Permission denied"));
  EXPECT_EQ(*ReadFile(bins_->spawn()), before);
  // Once started, the container's own program is an ordinary dumpable process again.
  ASSERT_EQ(Spawn({"start", "exe"}).exit_code, 0);
  SubprocessResult after = Spawn({"exec", "exe", "sh", "-c", "cat /proc/1/comm; readlink /proc/1/exe"});
  EXPECT_EQ(after.out, "sleep\n/bin/sleep\n") << after.err;
  EXPECT_EQ(Spawn({"delete", "--force", "exe"}).exit_code, 0);
}

// CVE-2024-21626's way: a working folder reached through a descriptor of the host. With
// no runtime descriptor leaking in, the test hands one in on purpose (--preserve-fds).
TEST_P(SpawnTest, ACwdResolvingOutsideTheRootIsRefused) {
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "cwd"}).exit_code, 0);
  std::string script = absl::StrCat(
      "exec 3<", bundle_->dir(), "; exec ", bins_->spawn(), " --root ", state_->path(),
      " exec --preserve-fds 1 --cwd /proc/self/fd/3 cwd sh -c 'pwd; ls ../rootfs'");
  SubprocessResult r = testing::RunAs(runner_, {"sh", "-c", script});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("process.cwd resolves outside the container's root filesystem"));
  EXPECT_THAT(r.out, Not(HasSubstr("busybox")));
  // The same descriptor as a plain preserved fd is fine: only the cwd is refused.
  script = absl::StrCat("exec 3<", bundle_->dir(), "; exec ", bins_->spawn(), " --root ",
                        state_->path(), " exec --preserve-fds 1 cwd sh -c 'ls /proc/self/fd'");
  r = testing::RunAs(runner_, {"sh", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3"));
  EXPECT_EQ(Spawn({"delete", "--force", "cwd"}).exit_code, 0);
}

// CVE-2021-30465's way: a mount target that is a symlink to a host path. It resolves inside
// the root: the host folder gets neither the mount nor the file written through it.
TEST_P(SpawnTest, AMountTargetSymlinkedToAHostPathStaysInside) {
  gdn::testing::TempDir host;
  ASSERT_EQ(chmod(host.path().c_str(), 0777), 0);
  ASSERT_EQ(symlink(host.path().c_str(), (bundle_->rootfs() + "/evil").c_str()), 0);
  oci::Mount* m = bundle_->spec().add_mounts();
  m->set_destination("/evil");
  m->set_type("tmpfs");
  m->set_source("tmpfs");
  // The link resolves inside the root, where its target does not exist: refused, with the
  // host folder untouched.
  SubprocessResult r = RunIn({"sh", "-c", "echo x > /evil/planted && cat /evil/planted"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("/evil"));
  // Where the target exists inside the root, the mount lands there.
  std::string inside = bundle_->rootfs() + host.path();
  ASSERT_TRUE(MakeDirs(inside, 0777).ok());
  r = RunIn({"sh", "-c", "echo x > /evil/planted && cat /evil/planted && grep -c ' /evil ' /proc/self/mountinfo; "
                         "grep -c \" " + host.path() + " \" /proc/self/mountinfo"});
  EXPECT_EQ(r.out, "x\n0\n1\n") << r.err;
  EXPECT_FALSE(FileExists(host.Join("planted")));
  EXPECT_FALSE(FileExists(inside + "/planted"));  // it went into the tmpfs
  EXPECT_THAT(*ReadFile("/proc/self/mountinfo"), Not(HasSubstr(host.path())));
}

// The /proc and /sys paths that control the host are masked or read-only by default.
// (This host's kernel has neither /proc/kcore nor /proc/sysrq-trigger: those are checked
// where they exist.)
TEST_P(SpawnTest, HostControlInProcAndSysIsMaskedOrReadOnly) {
  for (const char* masked : {"/proc/kcore", "/proc/timer_list", "/proc/keys"}) {
    if (!FileExists(masked)) continue;
    EXPECT_THAT(RunIn({"probe", "stat", masked}).out, HasSubstr("type=chr")) << masked;
  }
  if (FileExists("/proc/sysrq-trigger")) {
    SubprocessResult sysrq = RunIn({"probe", "write", "/proc/sysrq-trigger", "h"});
    EXPECT_NE(sysrq.exit_code, 0);
    EXPECT_THAT(sysrq.err, HasSubstr("Read-only file system"));
  }
  ASSERT_FALSE(RunIn({"ls", "-A", "/sys"}).out.empty());
  EXPECT_EQ(RunIn({"ls", "-A", "/sys/firmware"}).out, "");
  SubprocessResult sys = RunIn({"probe", "write", "/proc/sys/vm/drop_caches", "3"});
  EXPECT_NE(sys.exit_code, 0);
}

TEST_P(SpawnTest, NoNewPrivilegesOomScoreAndOnlyNamespacedSysctls) {
  std::string host_forward = *ReadFile("/proc/sys/net/ipv4/ip_forward");
  oci::Process* p = bundle_->spec().mutable_process();
  p->set_no_new_privileges(true);
  p->set_oom_score_adj(500);
  // Through mutable_sysctl() each time: a map reference kept across a reflection read
  // (Save) no longer reaches what is written out.
  auto sysctl = [this]() -> auto& { return *bundle_->spec().mutable_linux()->mutable_sysctl(); };
  sysctl()["net.ipv4.ip_forward"] = host_forward == "1\n" ? "0" : "1";
  sysctl()["kernel.shmmni"] = "1000";
  SubprocessResult r = RunIn({"sh", "-c",
                              "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj "
                              "/proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"});
  EXPECT_EQ(r.out, absl::StrCat("NoNewPrivs:\t1\n500\n", sysctl()["net.ipv4.ip_forward"], "\n1000\n"))
      << r.err;
  EXPECT_EQ(*ReadFile("/proc/sys/net/ipv4/ip_forward"), host_forward);
  // A sysctl of no namespace of the container's would change the host: refused before
  // anything runs.
  std::string swappiness = *ReadFile("/proc/sys/vm/swappiness");
  sysctl()["vm.swappiness"] = "7";
  r = RunIn({"true"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("\"vm.swappiness\" is not in a namespace of the container's own"));
  EXPECT_EQ(*ReadFile("/proc/sys/vm/swappiness"), swappiness);
  sysctl().erase("vm.swappiness");
  // Without its own network namespace, net.* is the host's.
  auto* namespaces = bundle_->spec().mutable_linux()->mutable_namespaces();
  for (int i = 0; i < namespaces->size(); ++i) {
    if (namespaces->Get(i).type() == "network") namespaces->DeleteSubrange(i--, 1);
  }
  r = RunIn({"true"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("net.ipv4.ip_forward"));
}

TEST_P(SpawnTest, SeccompMakesAChosenSyscallFailWithItsErrno) {
  oci::Seccomp* profile = bundle_->spec().mutable_linux()->mutable_seccomp();
  profile->set_default_action("SCMP_ACT_ALLOW");
  oci::SeccompSyscall* rule = profile->add_syscalls();
  rule->add_names("mkdir");
  rule->add_names("mkdirat");
  rule->set_action("SCMP_ACT_ERRNO");
  rule->set_errno_ret(EXDEV);
  std::vector<std::string> script = {
      "sh", "-c", "mkdir /tmp/x; echo rc=$?; touch /tmp/y && echo touched; grep Seccomp: /proc/self/status"};
  SubprocessResult r = RunIn(script);
  EXPECT_THAT(r.err, HasSubstr("Invalid cross-device link"));
  EXPECT_EQ(r.out, "rc=1\ntouched\nSeccomp:\t2\n");
  // Without no_new_privileges the filter goes in while the capabilities allow it.
  bundle_->spec().mutable_process()->set_no_new_privileges(false);
  r = RunIn(script);
  EXPECT_THAT(r.err, HasSubstr("Invalid cross-device link"));
  EXPECT_EQ(r.out, "rc=1\ntouched\nSeccomp:\t2\n");
  // The compiled filter is kept in the state root; a damaged copy is compiled anew.
  std::string cache = state_->Join(".seccomp");
  std::vector<std::string> kept;
  for (const auto& e : std::filesystem::directory_iterator(cache)) kept.push_back(e.path());
  ASSERT_EQ(kept.size(), 1u);
  ASSERT_EQ(truncate(kept[0].c_str(), 10), 0);
  r = RunIn(script);
  EXPECT_EQ(r.out, "rc=1\ntouched\nSeccomp:\t2\n");
  EXPECT_GT(std::filesystem::file_size(kept[0]), 100u);  // written again, whole
  // Processes exec'd into the container get it too.
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "sc"}).exit_code, 0);
  SubprocessResult e = Spawn({"exec", "sc", "mkdir", "/tmp/z"});
  EXPECT_NE(e.exit_code, 0);
  EXPECT_THAT(e.err, HasSubstr("Invalid cross-device link"));
  EXPECT_EQ(Spawn({"delete", "--force", "sc"}).exit_code, 0);
  // A malformed profile: exit 7 naming the field, before anything runs.
  bundle_->spec().mutable_linux()->mutable_seccomp()->mutable_syscalls(0)->set_action("SCMP_ACT_FOO");
  r = RunIn({"true"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("linux.seccomp.syscalls[0].action"));
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

TEST_P(SpawnTest, TheDefaultSeccompProfileRunsProgramsAndRefusesNamespaces) {
  SubprocessResult spec = testing::RunAs(
      runner_, {bins_->spawn(), "spec", "--bundle", state_->path(), "--seccomp", "default"});
  ASSERT_EQ(spec.exit_code, 0) << spec.err;
  oci::Spec with_default;
  ASSERT_TRUE(ReadLiteJson(state_->Join("config.json"), &with_default, {true}).ok());
  unlink(state_->Join("config.json").c_str());
  ASSERT_EQ(with_default.linux().seccomp().default_action(), "SCMP_ACT_ERRNO");
  *bundle_->spec().mutable_linux()->mutable_seccomp() = with_default.linux().seccomp();
  SubprocessResult r = RunIn(
      {"sh", "-c", "ls / > /dev/null && echo ls; echo x | cat; (sleep 0; echo forked) & wait; "
                   "unshare -U true; echo unshare=$?; mount -t tmpfs none /tmp; echo mount=$?"});
  EXPECT_EQ(r.out, "ls\nx\nforked\nunshare=1\nmount=1\n") << r.err;
  EXPECT_THAT(r.err, HasSubstr("Operation not permitted"));
}

// Rootless without a cgroup subtree delegated by setup: a spec without resources runs, one
// with resources is refused with exit 5 and a sentence naming setup.
TEST_P(SpawnTest, ResourcesWithoutADelegatedSubtreeNameSetup) {
  if (!runner_.rootless) GTEST_SKIP() << "rootless only";
  if (access(absl::StrCat("/sys/fs/cgroup/pids/gdn-", runner_.uid).c_str(), F_OK) == 0 ||
      access(absl::StrCat("/sys/fs/cgroup/gdn-", runner_.uid).c_str(), F_OK) == 0) {
    GTEST_SKIP() << "this host was set up for the test user";
  }
  EXPECT_EQ(RunIn({"true"}).exit_code, 0);
  bundle_->spec().mutable_linux()->mutable_resources()->mutable_pids()->set_limit(10);
  SubprocessResult r = RunIn({"true"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("run `sudo setup --rootless-uid"));
  EXPECT_EQ(Spawn({"list", "-q"}).out, "");
}

// Limits, as root and as the test user with the cgroup subtrees setup delegates (made here
// by setup's own code and undone after).
class SpawnLimitsTest : public SpawnTest {
 protected:
  void SetUp() override {
    SpawnTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    absl::StatusOr<setup::CgroupLayout> layout = setup::DetectCgroups("/sys/fs/cgroup", {});
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    if (runner_.rootless) {
      ASSERT_TRUE(setup::EnsureCgroups(layout_, runner_.uid, runner_.gid, &delegated_).ok());
    }
  }

  void TearDown() override {
    SpawnTest::TearDown();
    // Nothing of the test's containers is left in any hierarchy.
    for (const std::string& dir : ParentDirs()) {
      for (const char* id : {"lim", "lim2"}) {
        EXPECT_FALSE(FileExists(absl::StrCat(dir, "/", id))) << dir << "/" << id << " was left";
      }
    }
    for (auto it = delegated_.rbegin(); it != delegated_.rend(); ++it) {
      absl::StatusOr<std::string> undone = setup::UndoCgroupAction(*it);
      EXPECT_TRUE(undone.ok()) << undone.status();
    }
  }

  // The folder the containers' cgroups go in, per hierarchy.
  std::vector<std::string> ParentDirs() const {
    std::vector<std::string> out;
    for (const setup::CgroupHierarchy& h : layout_.hierarchies) {
      out.push_back(absl::StrCat(h.root, "/",
                                 runner_.rootless ? absl::StrCat("gdn-", runner_.uid) : "spawn"));
    }
    return out;
  }

  std::string CgroupDir(const std::string& controller, const std::string& id) const {
    if (layout_.version == 2) return absl::StrCat(ParentDirs()[0], "/", id);
    for (size_t i = 0; i < layout_.hierarchies.size(); ++i) {
      for (const std::string& c : layout_.hierarchies[i].controllers) {
        if (c == controller) return absl::StrCat(ParentDirs()[i], "/", id);
      }
    }
    return "";
  }

  oci::Resources& Resources() { return *bundle_->spec().mutable_linux()->mutable_resources(); }

  nlohmann::json Stats(const std::string& id) {
    SubprocessResult r = Spawn({"events", "--stats", id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    EXPECT_EQ(j.value("type", ""), "stats");
    return j.is_discarded() ? nlohmann::json::object() : j["data"];
  }

  bool WaitStopped(const std::string& id) {
    for (int i = 0; i < 1000; ++i) {
      if (StateField(id, "status") == "stopped") return true;
      usleep(10000);
    }
    return false;
  }

  setup::CgroupLayout layout_;
  std::vector<setup::Action> delegated_;
};

TEST_P(SpawnLimitsTest, AForkBombStopsAtThePidsLimitAndDeleteEndsIt) {
  Resources().mutable_pids()->set_limit(32);
  SetArgs({"sh", "-c", "b() { b | b & }; b 2>/dev/null; sleep 1000"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "lim"}).exit_code, 0);
  std::string pids_dir = CgroupDir("pids", "lim");
  // pids.events counts the forks the limit refused.
  std::string refused = "max 0\n";
  for (int i = 0; i < 500 && refused == "max 0\n"; ++i) {
    usleep(10000);
    refused = *ReadFile(pids_dir + "/pids.events");
  }
  EXPECT_NE(refused, "max 0\n");
  for (int i = 0; i < 20; ++i) {
    nlohmann::json stats = Stats("lim");
    EXPECT_EQ(stats["pids"]["limit"], 32);
    EXPECT_LE(stats["pids"]["current"].get<int>(), 32);
    EXPECT_GE(stats["pids"]["current"].get<int>(), 2);
  }
  // The host is fine: we can still fork.
  SubprocessOptions o;
  o.argv = {"true"};
  EXPECT_TRUE(RunSubprocess(o)->ok());
  // delete --force freezes the cgroup, kills all and removes it: nothing forked away.
  EXPECT_EQ(Spawn({"delete", "--force", "lim"}).exit_code, 0);
  EXPECT_FALSE(FileExists(pids_dir));
}

TEST_P(SpawnLimitsTest, AMemoryHogIsOomKilledAndTheOomReported) {
  Resources().mutable_memory()->set_limit(32 << 20);
  SetArgs({"dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"});
  ASSERT_EQ(Spawn({"create", "--bundle", bundle_->dir(), "lim"}).exit_code, 0);
  // `events` streams until the container stops.
  std::vector<std::string> argv = {bins_->spawn(), "--root", state_->path(), "events",
                                   "--interval", "10s", "lim"};
  SubprocessResult events;
  std::thread watcher([&] { events = testing::RunAs(runner_, argv); });
  usleep(300000);
  ASSERT_EQ(Spawn({"start", "lim"}).exit_code, 0);
  watcher.join();
  EXPECT_EQ(events.exit_code, 0) << events.err;
  EXPECT_THAT(events.out, HasSubstr(R"({"type":"oom","id":"lim"})"));
  EXPECT_THAT(events.out, HasSubstr(R"({"type":"stats","id":"lim")"));
  EXPECT_TRUE(WaitStopped("lim"));
  std::string oom = *ReadFile(CgroupDir("memory", "lim") +
                              (layout_.version == 2 ? "/memory.events" : "/memory.oom_control"));
  EXPECT_THAT(oom, HasSubstr("oom_kill 1"));
  // A plain delete removes the cgroup after the OOM.
  EXPECT_EQ(Spawn({"delete", "lim"}).exit_code, 0);
  EXPECT_FALSE(FileExists(CgroupDir("memory", "lim")));
}

TEST_P(SpawnLimitsTest, ACpuQuotaOfAFifthHoldsABusyLoopNearAFifth) {
  Resources().mutable_cpu()->set_quota(20000);
  Resources().mutable_cpu()->set_period(100000);
  SetArgs({"sh", "-c", "while :; do :; done"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "lim"}).exit_code, 0);
  usleep(300000);
  uint64_t before = Stats("lim")["cpu"]["usage"]["total"];
  absl::Time start = absl::Now();
  usleep(3000000);
  uint64_t after = Stats("lim")["cpu"]["usage"]["total"];
  double share = static_cast<double>(after - before) /
                 static_cast<double>(absl::ToInt64Nanoseconds(absl::Now() - start));
  std::cout << "busy loop under a 0.2 CPU quota used " << share << " CPU\n";
  EXPECT_GT(share, 0.12);
  EXPECT_LT(share, 0.26);
  EXPECT_GT(Stats("lim")["cpu"]["throttling"]["throttledPeriods"].get<uint64_t>(), 0u);
  EXPECT_EQ(Spawn({"delete", "--force", "lim"}).exit_code, 0);
}

TEST_P(SpawnLimitsTest, UpdateChangesTheLimitsOfARunningContainer) {
  Resources().mutable_pids()->set_limit(50);
  Resources().mutable_memory()->set_limit(64 << 20);
  Resources().mutable_memory()->set_swap(128 << 20);
  Resources().mutable_memory()->set_reservation(32 << 20);
  Resources().mutable_cpu()->set_shares(256);
  Resources().mutable_cpu()->set_cpus("0");
  Resources().mutable_block_io()->set_weight(300);
  SetArgs({"sleep", "1000"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "lim"}).exit_code, 0);
  if (layout_.version == 1) {
    auto file = [&](const char* controller, const char* name) {
      return std::string(absl::StripAsciiWhitespace(
          ReadFile(absl::StrCat(CgroupDir(controller, "lim"), "/", name)).value_or("?")));
    };
    EXPECT_EQ(file("memory", "memory.memsw.limit_in_bytes"), absl::StrCat(128 << 20));
    EXPECT_EQ(file("memory", "memory.soft_limit_in_bytes"), absl::StrCat(32 << 20));
    EXPECT_EQ(file("cpu", "cpu.shares"), "256");
    EXPECT_EQ(file("cpuset", "cpuset.cpus"), "0");
    EXPECT_THAT(file("blkio", "blkio.bfq.weight"), ::testing::EndsWith("300"));
    if (!runner_.rootless) {
      // Devices: everything denied but the container's own nodes and the defaults.
      std::string list = file("devices", "devices.list");
      EXPECT_THAT(list, Not(HasSubstr("a *:* rwm")));
      EXPECT_THAT(list, HasSubstr("c 1:3 rwm"));
      EXPECT_THAT(list, HasSubstr("c 136:* rwm"));
    }
  }
  nlohmann::json stats = Stats("lim");
  EXPECT_EQ(stats["pids"]["limit"], 50);
  EXPECT_EQ(stats["memory"]["usage"]["limit"], 64 << 20);
  SubprocessResult u = Spawn({"update", "--pids-limit", "7", "--memory", "48m", "--cpu-quota",
                              "30000", "lim"});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  stats = Stats("lim");
  EXPECT_EQ(stats["pids"]["limit"], 7);
  EXPECT_EQ(stats["memory"]["usage"]["limit"], 48 << 20);
  std::string cpu = CgroupDir("cpu", "lim");
  EXPECT_THAT(*ReadFile(cpu + (layout_.version == 2 ? "/cpu.max" : "/cpu.cfs_quota_us")),
              HasSubstr("30000"));
  // From a file, as runc's --resources.
  SubprocessResult f = Spawn({"update", "--resources", "-", "lim"}, R"({"pids":{"limit":9}})");
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(Stats("lim")["pids"]["limit"], 9);
  EXPECT_EQ(Spawn({"update", "--memory", "lots", "lim"}).exit_code, 2);
  EXPECT_EQ(Spawn({"update", "--pids-limit", "3", "nosuch"}).exit_code, 3);
  EXPECT_EQ(Spawn({"delete", "--force", "lim"}).exit_code, 0);
  EXPECT_EQ(Spawn({"update", "--pids-limit", "3", "lim"}).exit_code, 3);
}

TEST_P(SpawnLimitsTest, KillAllReachesWhatForksMeanwhileAndExecJoinsTheCgroup) {
  Resources().mutable_pids()->set_limit(200);
  // Children that keep forking new children: without freezing, kill --all chases them.
  SetArgs({"sh", "-c", "for i in 1 2 3 4; do (while :; do sleep 100 & sleep 0.01; done) & done; wait"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "lim"}).exit_code, 0);
  SubprocessResult in = Spawn({"exec", "lim", "cat", "/proc/self/cgroup"});
  EXPECT_THAT(in.out, HasSubstr(runner_.rootless ? absl::StrCat("/gdn-", runner_.uid, "/lim")
                                                 : std::string("/spawn/lim")))
      << in.err;
  usleep(200000);
  std::string procs = CgroupDir("pids", "lim") + "/cgroup.procs";
  std::vector<std::string> running = absl::StrSplit(*ReadFile(procs), '\n', absl::SkipEmpty());
  EXPECT_GT(running.size(), 5u);
  ASSERT_EQ(Spawn({"kill", "--all", "lim", "KILL"}).exit_code, 0);
  std::string left;
  for (int i = 0; i < 300; ++i) {
    left = *ReadFile(procs);
    if (left.empty()) break;
    usleep(10000);
  }
  EXPECT_EQ(left, "");
  EXPECT_TRUE(WaitStopped("lim"));
  EXPECT_EQ(Spawn({"delete", "lim"}).exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(RootAndRootless, SpawnLimitsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Rootless" : "Root"; });

class SpawnRootlessOwnIdsTest : public SpawnTest {};

// Garden's known limit: a rootless container whose gid map holds only the user's own gid
// has setgroups denied, so it cannot have additional gids. spawn says so.
TEST_P(SpawnRootlessOwnIdsTest, AdditionalGidsNeedSetgroupsAndSaySo) {
  for (auto* maps : {bundle_->spec().mutable_linux()->mutable_uid_mappings(),
                     bundle_->spec().mutable_linux()->mutable_gid_mappings()}) {
    maps->DeleteSubrange(1, maps->size() - 1);
  }
  bundle_->spec().mutable_process()->mutable_user()->add_additional_gids(0);
  SubprocessResult r = RunIn({"true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("user namespace denies setgroups"));
}

INSTANTIATE_TEST_SUITE_P(Rootless, SpawnRootlessOwnIdsTest, ::testing::Values(true));

class SpawnRootTest : public SpawnTest {};

// Joining a namespace by path: a second container in the network namespace of the first.
TEST_P(SpawnRootTest, JoinsANamespaceByPath) {
  SetArgs({"sleep", "100"});
  ASSERT_EQ(Spawn({"run", "-d", "--bundle", bundle_->dir(), "first"}).exit_code, 0);
  std::string pid = StateField("first", "pid");
  char want[64] = {};
  ASSERT_GT(readlink(absl::StrCat("/proc/", pid, "/ns/net").c_str(), want, sizeof want - 1), 0);
  for (auto& ns : *bundle_->spec().mutable_linux()->mutable_namespaces()) {
    if (ns.type() == "network") ns.set_path(absl::StrCat("/proc/", pid, "/ns/net"));
  }
  SubprocessResult r = RunIn({"sh", "-c", "readlink /proc/self/ns/net"}, "second");
  EXPECT_EQ(r.out, absl::StrCat(want, "\n")) << r.err;
  EXPECT_EQ(Spawn({"delete", "--force", "first"}).exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(Root, SpawnRootTest, ::testing::Values(false));

}  // namespace
}  // namespace gdn::spawn
