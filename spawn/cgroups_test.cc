// The Cgroups interface against the kernel, as root: the v1 hierarchies of this host, and
// the v2 code path on a cgroup2 mount (a hybrid host's /sys/fs/cgroup/unified, which has no
// controllers gdn uses, but freezing, cgroup.kill, joining and removing are v2's own).
#include "spawn/cgroups.h"

#include <signal.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"

namespace gdn::spawn {
namespace {

using ::testing::HasSubstr;

constexpr long kCgroup2Magic = 0x63677270;

// A child that sleeps until killed, reaped by the test.
pid_t Sleeper() {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

// 'R', 'S', 'T', 'Z'...: the process's state.
char State(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return '?';
  return (*stat)[stat->rfind(')') + 2];
}

class CgroupsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    GDN_SKIP_UNLESS_PRIVILEGED();
    mount_root_ = GetParam();
    struct statfs sf;
    if (statfs(mount_root_.c_str(), &sf) != 0) GTEST_SKIP() << "no " << mount_root_;
    id_ = absl::StrCat("cgroups-test-", getpid());
    // The "spawn" parents this test makes go with it; those that were there stay.
    for (const char* h : {"", "/memory", "/cpu", "/cpuacct", "/cpuset", "/pids", "/blkio",
                          "/devices", "/freezer"}) {
      std::string parent = absl::StrCat(mount_root_, h, "/spawn");
      if (!FileExists(parent)) new_parents_.push_back(parent);
    }
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      int status;
      waitpid(pid, &status, 0);
    }
    if (cgroups_.has_value()) (void)cgroups_->Remove(/*kill=*/true);
    for (const std::string& p : new_parents_) rmdir(p.c_str());
  }

  std::string mount_root_, id_;
  std::optional<Cgroups> cgroups_;
  std::vector<pid_t> children_;
  std::vector<std::string> new_parents_;
};

TEST_P(CgroupsTest, MadeJoinedFrozenKilledAndRemoved) {
  oci::Linux linux;
  absl::StatusOr<Cgroups> cg = Cgroups::ForContainer(linux, id_, 0, 0, mount_root_);
  ASSERT_TRUE(cg.ok()) << cg.status();
  cgroups_ = *cg;
  struct statfs sf;
  statfs(mount_root_.c_str(), &sf);
  EXPECT_EQ(cg->version(), static_cast<long>(sf.f_type) == kCgroup2Magic ? 2 : 1);
  ASSERT_FALSE(cg->empty());
  for (const std::string& d : cg->dirs()) {
    EXPECT_TRUE(absl::EndsWith(d, absl::StrCat("/spawn/", id_))) << d;
  }
  ASSERT_TRUE(cg->Create().ok());
  for (const std::string& d : cg->dirs()) EXPECT_TRUE(FileExists(d)) << d;

  pid_t a = Sleeper(), b = Sleeper();
  children_ = {a, b};
  ASSERT_TRUE(cg->Join(a).ok());
  ASSERT_TRUE(cg->Join(b).ok());
  std::vector<int> want = {std::min(a, b), std::max(a, b)};
  EXPECT_EQ(cg->Pids(), want);
  // A cgroup holding processes is not taken by another container.
  EXPECT_TRUE(absl::IsAlreadyExists(Cgroups(cg->version(), cg->dirs()).Create()));

  ASSERT_TRUE(cg->Freeze(true).ok());
  // Frozen tasks sleep in the freezer (v1 'D', v2 'S' with the cgroup frozen).
  EXPECT_NE(State(a), 'R');
  ASSERT_TRUE(cg->Freeze(false).ok());

  ASSERT_TRUE(cg->Signal(SIGKILL).ok());
  for (pid_t pid : {a, b}) {
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  children_.clear();
  ASSERT_TRUE(cg->Remove(/*kill=*/false).ok());
  for (const std::string& d : cg->dirs()) EXPECT_FALSE(FileExists(d)) << d;
  cgroups_.reset();
}

TEST_P(CgroupsTest, RemoveKillsWhatIsLeftWhenAsked) {
  absl::StatusOr<Cgroups> cg = Cgroups::ForContainer(oci::Linux(), id_, 0, 0, mount_root_);
  ASSERT_TRUE(cg.ok()) << cg.status();
  cgroups_ = *cg;
  ASSERT_TRUE(cg->Create().ok());
  pid_t a = Sleeper();
  children_ = {a};
  ASSERT_TRUE(cg->Join(a).ok());
  absl::Status refused = cg->Remove(/*kill=*/false);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  // Remove(kill) waits for the cgroup to empty: the test reaps its child meanwhile.
  std::thread reaper([a] {
    int status;
    waitpid(a, &status, 0);
  });
  EXPECT_TRUE(cg->Remove(/*kill=*/true).ok());
  reaper.join();
  children_.clear();
  for (const std::string& d : cg->dirs()) EXPECT_FALSE(FileExists(d)) << d;
  cgroups_.reset();
}

TEST_P(CgroupsTest, ALimitWithoutItsControllerSaysWhich) {
  absl::StatusOr<Cgroups> cg = Cgroups::ForContainer(oci::Linux(), id_, 0, 0, mount_root_);
  ASSERT_TRUE(cg.ok());
  cgroups_ = *cg;
  ASSERT_TRUE(cg->Create().ok());
  oci::Resources r;
  r.mutable_pids()->set_limit(5);
  absl::Status s = cg->Apply(r);
  if (cg->version() == 2 && !FileExists(cg->dirs()[0] + "/pids.max")) {
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("pids.max"));
  } else {
    EXPECT_TRUE(s.ok()) << s;
  }
  oci::Resources unified;
  (*unified.mutable_unified())["../escape"] = "1";
  if (cg->version() == 2) {
    EXPECT_TRUE(absl::IsInvalidArgument(cg->Apply(unified)));
  } else {
    EXPECT_THAT(cg->Apply(unified).message(), HasSubstr("needs cgroup v2"));
  }
}

TEST(CgroupsPathTest, PathsAreCheckedAndRootlessWithoutASubtreeNeedsSetup) {
  oci::Linux linux;
  linux.set_cgroups_path("/a/../../etc");
  EXPECT_TRUE(absl::IsInvalidArgument(
      Cgroups::ForContainer(linux, "x", 0, 0, "/sys/fs/cgroup").status()));
  linux.set_cgroups_path("/");
  EXPECT_TRUE(absl::IsInvalidArgument(
      Cgroups::ForContainer(linux, "x", 0, 0, "/sys/fs/cgroup").status()));
  linux.set_cgroups_path("machine.slice:libpod:abc");
  absl::StatusOr<Cgroups> systemd = Cgroups::ForContainer(linux, "x", 0, 0, "/sys/fs/cgroup");
  ASSERT_TRUE(systemd.ok());
  for (const std::string& d : systemd->dirs()) EXPECT_TRUE(absl::EndsWith(d, "/spawn/libpod-abc")) << d;
  // A uid no setup ever delegated a subtree to.
  linux.clear_cgroups_path();
  absl::StatusOr<Cgroups> none = Cgroups::ForContainer(linux, "x", 4000000, 4000000, "/sys/fs/cgroup");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  linux.mutable_resources()->mutable_memory()->set_limit(1 << 20);
  absl::Status s = Cgroups::ForContainer(linux, "x", 4000000, 4000000, "/sys/fs/cgroup").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_THAT(s.message(), HasSubstr("run `sudo setup --rootless-uid 4000000 --rootless-gid 4000000`"));
  // Device rules alone (every spec has them) ask for no cgroups.
  oci::Resources devices;
  devices.add_devices()->set_access("rwm");
  EXPECT_FALSE(HasResources(devices));
}

INSTANTIATE_TEST_SUITE_P(Versions, CgroupsTest,
                         ::testing::Values("/sys/fs/cgroup", "/sys/fs/cgroup/unified"),
                         [](const auto& info) {
                           return info.param == "/sys/fs/cgroup" ? "Host" : "Unified";
                         });

}  // namespace
}  // namespace gdn::spawn
