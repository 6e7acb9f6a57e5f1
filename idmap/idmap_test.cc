// idmap as it is installed: a root-owned 4755 copy, run by the unprivileged test users
// against fresh user namespaces of the real kernel. newuidmap and newgidmap (Debian's
// uidmap) are the reference for which requests are allowed.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/idmap.h"
#include "lib/subprocess.h"
#include "lib/testing/testing.h"
#include "lib/testing/userns_target.h"

namespace gdn {
namespace {

using ::gdn::testing::TempDir;
using ::gdn::testing::TestUserIds;
using ::gdn::testing::UsernsTarget;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The test user's ranges (tools/test-users): a name line, a numeric-uid line, and a name
// line right after it; gdn-test2 owns the range just above the first.
constexpr uint32_t kMine = 1000000;
constexpr uint32_t kNumericLine = 1200000;
constexpr uint32_t kOthers = 1065536;

class IdmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GDN_SKIP_UNLESS_PRIVILEGED();
    user_ = *testing::FindTestUser(testing::kTestUser);
    other_ = *testing::FindTestUser(testing::kOtherTestUser);
    dir_ = std::make_unique<TempDir>();
    idmap_ = dir_->CopyIn(testing::Runfile("idmap/idmap"), "idmap", 0755);
    ASSERT_EQ(chown(idmap_.c_str(), 0, 0), 0);
    ASSERT_EQ(chmod(idmap_.c_str(), 04755), 0);
  }

  // Runs a program as `who`, with an environment of our choosing.
  SubprocessResult RunAs(const TestUserIds& who, std::vector<std::string> argv,
                         std::vector<std::string> env = {"PATH=/usr/bin:/bin"}) {
    SubprocessOptions o;
    o.argv = std::move(argv);
    o.env = std::move(env);
    o.credentials = Credentials{who.uid, who.gid, {}};
    o.timeout = absl::Seconds(20);
    auto r = RunSubprocess(o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : SubprocessResult{};
  }

  SubprocessResult Idmap(const TestUserIds& who, std::vector<std::string> args,
                         std::vector<std::string> env = {"PATH=/usr/bin:/bin"}) {
    args.insert(args.begin(), idmap_);
    return RunAs(who, std::move(args), std::move(env));
  }

  std::vector<std::string> Apply(pid_t pid, const std::vector<std::string>& uid_maps,
                                 const std::vector<std::string>& gid_maps = {}) {
    std::vector<std::string> args = {"apply", "--pid", absl::StrCat(pid)};
    for (const auto& m : uid_maps) args.insert(args.end(), {"--uid-map", m});
    for (const auto& m : gid_maps) args.insert(args.end(), {"--gid-map", m});
    return args;
  }

  std::string Map(uint32_t c, uint32_t h, uint32_t n) { return absl::StrCat(c, ":", h, ":", n); }

  TestUserIds user_, other_;
  std::unique_ptr<TempDir> dir_;
  std::string idmap_;
};

TEST_F(IdmapTest, MapsAFreshUserNamespace) {
  UsernsTarget target(user_.uid, user_.gid);
  SubprocessResult r = Idmap(user_, Apply(target.pid(), {Map(0, user_.uid, 1), Map(1, kMine, 65536)},
                                          {Map(0, user_.gid, 1), Map(1, kMine, 65536)}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  auto uid_map = IdMap::FromProcFile(target.Read("uid_map"));
  ASSERT_TRUE(uid_map.ok());
  EXPECT_EQ(uid_map->mappings(),
            (std::vector<IdMapping>{{0, user_.uid, 1}, {1, kMine, 65536}}));
  auto gid_map = IdMap::FromProcFile(target.Read("gid_map"));
  EXPECT_EQ(gid_map->mappings(),
            (std::vector<IdMapping>{{0, user_.gid, 1}, {1, kMine, 65536}}));
  // A subordinate gid range leaves setgroups allowed.
  EXPECT_EQ(target.Read("setgroups"), "allow\n");
}

TEST_F(IdmapTest, OwnGidAloneDeniesSetgroupsFirst_CVE_2018_7169) {
  UsernsTarget target(user_.uid, user_.gid);
  SubprocessResult r = Idmap(user_, Apply(target.pid(), {}, {Map(0, user_.gid, 1)}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(target.Read("setgroups"), "deny\n");
  EXPECT_THAT(target.Read("gid_map"), HasSubstr(absl::StrCat(user_.gid)));
}

TEST_F(IdmapTest, SetgroupsDenyOnRequestWithSubordinateGids) {
  UsernsTarget target(user_.uid, user_.gid);
  std::vector<std::string> args = Apply(target.pid(), {}, {Map(0, kMine, 10)});
  args.insert(args.end(), {"--setgroups", "deny"});
  EXPECT_EQ(Idmap(user_, args).exit_code, 0);
  EXPECT_EQ(target.Read("setgroups"), "deny\n");
}

TEST_F(IdmapTest, NumericUidLinesAndAdjacentRangesCount) {
  UsernsTarget target(user_.uid, user_.gid);
  // 1200000..1200999 is granted by "UID:1200000:1000", 1201000.. by "gdn-test:1201000:1000".
  SubprocessResult r = Idmap(user_, Apply(target.pid(), {Map(0, kNumericLine + 500, 1000)}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

struct Refusal {
  const char* name;
  std::vector<std::string> uid_maps;
  std::vector<std::string> gid_maps;
  const char* says;
};

TEST_F(IdmapTest, EveryRuleRefusesWithExitFiveAndASentence) {
  const std::vector<Refusal> refusals = {
      {"root's uid", {"0:0:1"}, {}, "uid mapping 0:0:1 is not yours"},
      {"own uid with count 2", {Map(0, user_.uid, 2)}, {}, "is not yours"},
      {"another user's range", {Map(0, kOthers, 10)}, {}, "is not yours"},
      {"past the end of the range", {Map(0, kMine + 65000, 1000)}, {}, "is not yours"},
      {"another user's gid range", {}, {Map(0, kOthers, 1)}, "gid mapping"},
      {"root's gid", {}, {"0:0:1"}, "gid mapping 0:0:1 is not yours"},
      {"overlap inside", {Map(0, kMine, 10), Map(5, kMine + 100, 10)}, {}, "overlap inside"},
      {"overlap on the host", {Map(0, kMine, 10), Map(20, kMine + 5, 10)}, {}, "overlap on the host"},
  };
  for (const Refusal& refusal : refusals) {
    UsernsTarget target(user_.uid, user_.gid);
    SubprocessResult r = Idmap(user_, Apply(target.pid(), refusal.uid_maps, refusal.gid_maps));
    EXPECT_EQ(r.exit_code, 5) << refusal.name << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(refusal.says)) << refusal.name;
    EXPECT_THAT(r.err, ::testing::StartsWith("idmap: ")) << refusal.name;
    EXPECT_EQ(target.Read("uid_map"), "") << refusal.name;
    EXPECT_EQ(target.Read("gid_map"), "") << refusal.name;
  }
}

TEST_F(IdmapTest, RefusesMoreLinesThanTheKernelTakes) {
  UsernsTarget target(user_.uid, user_.gid);
  std::vector<std::string> maps;
  for (uint32_t i = 0; i < 341; ++i) maps.push_back(Map(i, kMine + i, 1));
  SubprocessResult r = Idmap(user_, Apply(target.pid(), maps));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("at most 340"));
  // 340 lines of seven-digit ids make more text than the kernel reads in one write.
  maps.pop_back();
  r = Idmap(user_, Apply(target.pid(), maps));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("bytes of text"));
  // Root, with short ids, may write all 340 lines.
  std::vector<std::string> args = {idmap_, "apply", "--pid", absl::StrCat(target.pid())};
  for (uint32_t i = 0; i < 340; ++i) args.insert(args.end(), {"--uid-map", Map(i, 1000 + i, 1)});
  SubprocessOptions as_root;
  as_root.argv = args;
  auto root = RunSubprocess(as_root);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->exit_code, 0) << root->err;
  EXPECT_EQ(IdMap::FromProcFile(target.Read("uid_map"))->mappings().size(), 340u);
}

TEST_F(IdmapTest, RefusesAnotherUsersProcess) {
  UsernsTarget target(other_.uid, other_.gid);
  SubprocessResult r = Idmap(user_, Apply(target.pid(), {Map(0, user_.uid, 1)}));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("not to you"));
  EXPECT_EQ(target.Read("uid_map"), "");
}

TEST_F(IdmapTest, RefusesAMapAlreadyWritten) {
  UsernsTarget target(user_.uid, user_.gid);
  ASSERT_EQ(Idmap(user_, Apply(target.pid(), {Map(0, user_.uid, 1)})).exit_code, 0);
  SubprocessResult again = Idmap(user_, Apply(target.pid(), {Map(0, kMine, 1)}));
  EXPECT_EQ(again.exit_code, 5);
  EXPECT_THAT(again.err, HasSubstr("already written"));
}

TEST_F(IdmapTest, RefusesAProcessOutsideAUserNamespace) {
  // The caller's own process in the initial namespace: a shell that names itself.
  SubprocessResult r = RunAs(user_, {"/bin/sh", "-c",
                                     absl::StrCat(idmap_, " apply --pid $$ --uid-map 0:",
                                                  user_.uid, ":1")});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("user namespace"));
}

TEST_F(IdmapTest, MissingProcessIsExitThree) {
  SubprocessResult r = Idmap(user_, Apply(999999999, {Map(0, user_.uid, 1)}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no process 999999999"));
}

TEST_F(IdmapTest, BadFlagsAreExitTwo) {
  EXPECT_EQ(Idmap(user_, {"apply", "--pid", "1"}).exit_code, 2);
  EXPECT_EQ(Idmap(user_, {"apply", "--pid", "1", "--uid-map", "zero"}).exit_code, 2);
  EXPECT_EQ(Idmap(user_, {}).exit_code, 2);
}

TEST_F(IdmapTest, ShowPrintsTheCallersRanges) {
  SubprocessResult r = Idmap(user_, {"show"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            absl::StrCat(R"({"user":"gdn-test","uid":)", user_.uid,
                         R"(,"uid_ranges":[{"start":1000000,"count":65536},)"
                         R"({"start":1200000,"count":1000},{"start":1201000,"count":1000}],)"
                         R"("gid_ranges":[{"start":1000000,"count":65536},)"
                         R"({"start":1200000,"count":1000},{"start":1201000,"count":1000}]})",
                         "\n"));
}

TEST_F(IdmapTest, ShowOfAnotherUserIsForRootOnly) {
  SubprocessResult r = Idmap(user_, {"show", "--user", testing::kOtherTestUser});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("only root"));
  SubprocessOptions o;
  o.argv = {idmap_, "show", "--user", testing::kOtherTestUser};
  auto as_root = RunSubprocess(o);
  ASSERT_TRUE(as_root.ok());
  EXPECT_EQ(as_root->exit_code, 0);
  EXPECT_THAT(as_root->out, HasSubstr("1065536"));
  // A user with no ranges at all.
  o.argv = {idmap_, "show", "--user", "nobody"};
  as_root = RunSubprocess(o);
  EXPECT_EQ(as_root->exit_code, 3);
  EXPECT_THAT(as_root->err, HasSubstr("has no ranges"));
}

// Abuse of the setuid bit by an unprivileged caller.

TEST_F(IdmapTest, CannotBeMadeToReadARootOnlyFile) {
  std::string secret = dir_->Join("secret");
  ASSERT_TRUE(WriteFileAtomic(secret, "--uid-map=0:0:65536\nTOP-SECRET-CONTENT\n", 0600).ok());
  for (const std::string& flag : std::vector<std::string>{"--flagfile=" + secret, "-flagfile=" + secret,
                                  std::string("--fromenv=uid_map"), std::string("--tryfromenv=uid_map")}) {
    UsernsTarget target(user_.uid, user_.gid);
    SubprocessResult r = Idmap(user_, {"apply", flag, "--pid", absl::StrCat(target.pid()),
                                       "--uid-map", Map(0, user_.uid, 1)},
                               {"FLAGS_uid_map=0:0:1", "PATH=/bin"});
    EXPECT_EQ(r.exit_code, 2) << flag;
    EXPECT_THAT(r.err, HasSubstr("refusing")) << flag;
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("TOP-SECRET"))) << flag;
    EXPECT_EQ(target.Read("uid_map"), "") << flag;
  }
}

TEST_F(IdmapTest, CannotBeMadeToWriteALog) {
  // A folder only root may write to: a log written there would be written as root.
  std::string logs = dir_->Join("logs");
  ASSERT_EQ(mkdir(logs.c_str(), 0755), 0);
  UsernsTarget target(user_.uid, user_.gid);
  // A refused request makes idmap talk; with GLOG_* it would log to files.
  SubprocessResult r =
      Idmap(user_, Apply(target.pid(), {"0:0:1"}),
            {"GLOG_log_dir=" + logs, "GLOG_logtostderr=0", "GLOG_alsologtostderr=0",
             "GLOG_minloglevel=0", "GLOG_v=9", "GLOG_log_link=" + logs + "/link"});
  EXPECT_EQ(r.exit_code, 5);
  SubprocessResult flag = Idmap(user_, {"show", "--log_dir=" + logs});
  EXPECT_EQ(flag.exit_code, 2);
  SubprocessResult link = Idmap(user_, {"show", "--log_link", logs + "/l"});
  EXPECT_EQ(link.exit_code, 2);
  SubprocessOptions ls;
  ls.argv = {"ls", "-A", logs};
  auto listing = RunSubprocess(ls);
  ASSERT_TRUE(listing.ok());
  EXPECT_THAT(listing->out, IsEmpty());
}

TEST_F(IdmapTest, ClosedStdioCannotRedirectItsWrites) {
  // With stdout and stderr closed, files idmap opens could land on fds 1 and 2; it must
  // reopen them on /dev/null first so that its messages cannot go into a map file.
  UsernsTarget target(user_.uid, user_.gid);
  SubprocessResult r = RunAs(
      user_, {"/bin/sh", "-c",
              absl::StrCat("exec ", idmap_, " apply --pid ", target.pid(), " --uid-map 0:0:1 >&- 2>&-")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(target.Read("uid_map"), "");
}

// The same requests through idmap and through newuidmap/newgidmap: the same verdicts.
struct Case {
  const char* name;
  std::vector<std::string> uid_maps;
  std::vector<std::string> gid_maps;
};

TEST_F(IdmapTest, AgreesWithNewuidmapAndNewgidmap) {
  const std::vector<Case> cases = {
      {"own uid", {Map(0, user_.uid, 1)}, {}},
      {"own uid at another container id", {Map(1000, user_.uid, 1)}, {}},
      {"own uid and subordinate range", {Map(0, user_.uid, 1), Map(1, kMine, 65536)}, {}},
      {"whole subordinate range", {Map(0, kMine, 65536)}, {}},
      {"middle of the range", {Map(0, kMine + 100, 10)}, {}},
      {"numeric-uid line", {Map(0, kNumericLine, 1000)}, {}},
      {"numeric and name lines together", {Map(0, kNumericLine + 900, 200)}, {}},
      {"root", {"0:0:1"}, {}},
      {"own uid count 2", {Map(0, user_.uid, 2)}, {}},
      {"another user's range", {Map(0, kOthers, 1)}, {}},
      {"past the range", {Map(0, kMine + 65535, 2)}, {}},
      {"empty range", {Map(0, kMine, 0)}, {}},
      {"overlap inside", {Map(0, kMine, 10), Map(5, kMine + 100, 10)}, {}},
      {"overlap on the host", {Map(0, kMine, 10), Map(20, kMine + 5, 10)}, {}},
      {"own gid", {}, {Map(0, user_.gid, 1)}},
      {"own gid and subordinate gids", {}, {Map(0, user_.gid, 1), Map(1, kMine, 65536)}},
      {"root gid", {}, {"0:0:1"}},
      {"another user's gids", {}, {Map(0, kOthers, 100)}},
  };
  for (const Case& c : cases) {
    bool ours_ok, theirs_ok;
    std::string ours_uid, ours_gid, ours_sg, theirs_uid, theirs_gid, theirs_sg;
    {
      UsernsTarget target(user_.uid, user_.gid);
      SubprocessResult r = Idmap(user_, Apply(target.pid(), c.uid_maps, c.gid_maps));
      ours_ok = r.exit_code == 0;
      EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 5) << c.name << ": " << r.Describe();
      ours_uid = target.Read("uid_map");
      ours_gid = target.Read("gid_map");
      ours_sg = target.Read("setgroups");
    }
    {
      UsernsTarget target(user_.uid, user_.gid);
      theirs_ok = true;
      for (const auto& [tool, maps] :
           {std::pair{"newuidmap", c.uid_maps}, std::pair{"newgidmap", c.gid_maps}}) {
        if (maps.empty()) continue;
        std::vector<std::string> argv = {absl::StrCat("/usr/bin/", tool), absl::StrCat(target.pid())};
        for (const std::string& m : maps) {
          for (absl::string_view part : absl::StrSplit(m, ':')) argv.emplace_back(part);
        }
        theirs_ok = theirs_ok && RunAs(user_, argv).ok();
      }
      theirs_uid = target.Read("uid_map");
      theirs_gid = target.Read("gid_map");
      theirs_sg = target.Read("setgroups");
    }
    EXPECT_EQ(ours_ok, theirs_ok) << c.name;
    EXPECT_EQ(ours_uid, theirs_uid) << c.name;
    EXPECT_EQ(ours_gid, theirs_gid) << c.name;
    EXPECT_EQ(ours_sg, theirs_sg) << c.name;
  }
}

}  // namespace
}  // namespace gdn
