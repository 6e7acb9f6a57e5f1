#include "netns/target.h"

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn::netns {
namespace {

using ::testing::HasSubstr;

TargetFacts Mine(uid_t uid) {
  TargetFacts f;
  f.pid = 42;
  f.real_uid = uid;
  f.userns_owner = uid;
  f.netns_owner = uid;
  return f;
}

TEST(CheckTarget, OwnProcessInOwnNamespaces) {
  EXPECT_TRUE(CheckTarget(999, Mine(999)).ok());
  EXPECT_TRUE(CheckTarget(0, Mine(0)).ok());
  EXPECT_TRUE(CheckTarget(0, Mine(999)).ok());  // root may wire anyone's container
}

TEST(CheckTarget, Refusals) {
  TargetFacts f = Mine(999);
  f.real_uid = 998;
  EXPECT_THAT(CheckTarget(999, f).message(), HasSubstr("runs as uid 998"));
  f = Mine(999);
  f.userns_owner = 0;
  EXPECT_THAT(CheckTarget(999, f).message(),
              HasSubstr("user namespace of process 42 belongs to uid 0"));
  f = Mine(999);
  f.netns_owner = 0;  // e.g. it joined a network namespace root made
  EXPECT_THAT(CheckTarget(999, f).message(), HasSubstr("network namespace of process 42"));
  f = Mine(999);
  f.host_netns = true;  // `unshare --user sleep`: its own user namespace, the host's network
  EXPECT_THAT(CheckTarget(999, f).message(), HasSubstr("host's network namespace"));
  EXPECT_EQ(CheckTarget(0, f).code(), absl::StatusCode::kPermissionDenied);  // even for root
  EXPECT_EQ(CheckTarget(999, f).code(), absl::StatusCode::kPermissionDenied);
}

TEST(OpenTarget, ReadsTheFacts) {
  auto self = OpenTarget(getpid());
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_EQ(self->facts.real_uid, getuid());
  EXPECT_TRUE(self->facts.host_netns);  // this test runs in its own namespace: netns's own
  EXPECT_TRUE(self->netns.valid());
  EXPECT_EQ(OpenTarget(0x3ffffff0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenTarget(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gdn::netns
