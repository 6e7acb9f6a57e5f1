#include "idmap/policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn::idmap {
namespace {

using ::testing::HasSubstr;

constexpr uid_t kUid = 1000;
constexpr gid_t kGid = 1000;

Caller User() { return Caller{kUid, kGid, "alice"}; }
Caller Root() { return Caller{0, 0, "root"}; }
Grants AliceGrants() { return Grants{{{100000, 65536}}, {{100000, 65536}}}; }

Target OwnFreshTarget() {
  Target t;
  t.pid = 4242;
  t.uid = kUid;
  t.gid = kGid;
  t.userns_owner = kUid;
  t.userns_is_child_of_ours = true;
  return t;
}

ApplyCommand Cmd(std::vector<IdMapping> uids, std::vector<IdMapping> gids,
                 Setgroups sg = Setgroups::kUnchanged) {
  ApplyCommand c;
  c.pid = 4242;
  c.uid_map = std::move(uids);
  c.gid_map = std::move(gids);
  c.setgroups = sg;
  return c;
}

absl::Status Refusal(const ApplyCommand& c, const Target& t = OwnFreshTarget()) {
  return PlanApply(c, User(), AliceGrants(), t).status();
}

TEST(PlanApply, OwnIdsAndSubordinateRangesAreAllowed) {
  auto plan = PlanApply(Cmd({{0, kUid, 1}, {1, 100000, 65536}}, {{0, kGid, 1}, {1, 100000, 65536}}),
                        User(), AliceGrants(), OwnFreshTarget());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->uid_map, "0 1000 1\n1 100000 65536\n");
  EXPECT_EQ(plan->gid_map, "0 1000 1\n1 100000 65536\n");
  // A subordinate gid range keeps setgroups as the kernel has it (allowed).
  EXPECT_FALSE(plan->setgroups.has_value());
}

TEST(PlanApply, OwnGidAloneDeniesSetgroups_CVE_2018_7169) {
  auto plan = PlanApply(Cmd({}, {{0, kGid, 1}}), User(), AliceGrants(), OwnFreshTarget());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->setgroups, "deny");
  EXPECT_THAT(Refusal(Cmd({}, {{0, kGid, 1}}, Setgroups::kAllow)).message(),
              HasSubstr("--setgroups allow needs"));
}

TEST(PlanApply, SetgroupsDenyOnRequest) {
  auto plan = PlanApply(Cmd({}, {{0, 100000, 10}}, Setgroups::kDeny), User(), AliceGrants(),
                        OwnFreshTarget());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->setgroups, "deny");
}

TEST(PlanApply, RefusesIdsThatAreNotTheCallers) {
  EXPECT_THAT(Refusal(Cmd({{0, 0, 1}}, {})).message(), HasSubstr("uid mapping 0:0:1 is not yours"));
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 2}}, {})).message(), HasSubstr("not yours"));
  EXPECT_THAT(Refusal(Cmd({{0, 99999, 10}}, {})).message(), HasSubstr("100000-165535"));
  EXPECT_THAT(Refusal(Cmd({{0, 100000, 65537}}, {})).message(), HasSubstr("not yours"));
  EXPECT_THAT(Refusal(Cmd({}, {{0, 0, 1}})).message(), HasSubstr("gid mapping 0:0:1"));
  EXPECT_THAT(Refusal(Cmd({}, {{0, kUid + 1, 1}})).message(), HasSubstr("/etc/subgid"));
}

TEST(PlanApply, RefusesOverlapsAndTooManyLines) {
  EXPECT_THAT(Refusal(Cmd({{0, 100000, 10}, {5, 100100, 10}}, {})).message(),
              HasSubstr("overlap inside the namespace"));
  EXPECT_THAT(Refusal(Cmd({{0, 100000, 10}, {10, 100005, 10}}, {})).message(),
              HasSubstr("overlap on the host"));
  std::vector<IdMapping> many;
  for (uint32_t i = 0; i < 341; ++i) many.push_back({i, 100000 + i, 1});
  EXPECT_THAT(Refusal(Cmd(many, {})).message(), HasSubstr("at most 340"));
}

TEST(PlanApply, RefusesAnotherUsersProcess) {
  Target t = OwnFreshTarget();
  t.uid = 1001;
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 1}}, {}), t).message(), HasSubstr("belongs to uid 1001"));
  t = OwnFreshTarget();
  t.gid = 0;
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 1}}, {}), t).message(), HasSubstr("not to you"));
  t = OwnFreshTarget();
  t.userns_owner = 0;
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 1}}, {}), t).message(), HasSubstr("created by uid 0"));
  t = OwnFreshTarget();
  t.userns_is_child_of_ours = false;
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 1}}, {}), t).message(), HasSubstr("direct child"));
}

TEST(PlanApply, RefusesMapsAlreadyWritten) {
  Target t = OwnFreshTarget();
  t.uid_map_written = true;
  EXPECT_THAT(Refusal(Cmd({{0, kUid, 1}}, {}), t).message(), HasSubstr("already written"));
  // The gid map alone may still be written.
  EXPECT_TRUE(Refusal(Cmd({}, {{0, kGid, 1}}), t).ok());
  t.gid_map_written = true;
  EXPECT_THAT(Refusal(Cmd({}, {{0, kGid, 1}}), t).message(), HasSubstr("gid map"));
}

TEST(PlanApply, EveryRefusalIsPermissionDenied) {
  EXPECT_EQ(Refusal(Cmd({{0, 0, 1}}, {})).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Refusal(Cmd({{0, 100000, 10}, {5, 100100, 10}}, {})).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(PlanApply, RootMayMapAnything) {
  Target t = OwnFreshTarget();
  t.uid = 1001;
  t.userns_owner = 1001;
  auto plan = PlanApply(Cmd({{0, 0, 65536}}, {{0, 0, 65536}}, Setgroups::kAllow), Root(), {}, t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->uid_map, "0 0 65536\n");
  EXPECT_EQ(plan->setgroups, "allow");
  // but not what the kernel refuses.
  EXPECT_FALSE(PlanApply(Cmd({{0, 0, 10}, {5, 100, 10}}, {}), Root(), {}, t).ok());
}

}  // namespace
}  // namespace gdn::idmap
