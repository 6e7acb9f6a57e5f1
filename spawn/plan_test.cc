#include "spawn/plan.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/lite_json.h"
#include "lib/testing/testing.h"
#include "spawn/spec.h"

namespace gdn::spawn {
namespace {

using ::testing::HasSubstr;

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(dir_.Join("rootfs").c_str(), 0755), 0);
    spec_ = DefaultSpec({});
  }
  absl::StatusOr<Plan> Make(bool rootless = false) {
    return MakePlan(spec_, dir_.path(), RuntimeContext{rootless ? 1000u : 0u, rootless ? 1000u : 0u});
  }
  absl::Status Refusal(bool rootless = false) { return Make(rootless).status(); }

  gdn::testing::TempDir dir_;
  oci::Spec spec_;
};

TEST_F(PlanTest, TheDefaultSpecPlans) {
  auto plan = Make();
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->rootfs, dir_.Join("rootfs"));
  EXPECT_TRUE(plan->rootfs_readonly);
  EXPECT_EQ(plan->clone_flags,
            CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWNET);
  EXPECT_TRUE(plan->dev_is_tmpfs);
  EXPECT_EQ(plan->devices.size(), 6u);
  EXPECT_EQ(plan->process.args, std::vector<std::string>{"sh"});
  EXPECT_EQ(plan->process.cap_bounding, (1ull << 29) | (1ull << 5) | (1ull << 10));
  EXPECT_TRUE(plan->process.no_new_privileges);
  ASSERT_EQ(plan->process.rlimits.size(), 1u);
  EXPECT_EQ(plan->process.rlimits[0].limit.rlim_max, 1024u);
}

TEST_F(PlanTest, RootlessNeedsAUserNamespace) {
  EXPECT_THAT(Refusal(true).message(), HasSubstr("needs a user namespace"));
  spec_ = DefaultSpec({true, 1000, 1000});
  auto plan = Make(true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->new_userns);
  EXPECT_EQ(plan->uid_map.ToHost(0), 1000u);
}

TEST_F(PlanTest, MalformedFieldsAreInvalidAndNamed) {
  spec_.mutable_process()->clear_args();
  EXPECT_THAT(Refusal().message(), HasSubstr("process.args"));
  spec_ = DefaultSpec({});
  spec_.mutable_process()->add_env("NOEQUALS");
  EXPECT_THAT(Refusal().message(), HasSubstr("process.env"));
  spec_ = DefaultSpec({});
  spec_.mutable_process()->set_cwd("relative");
  EXPECT_THAT(Refusal().message(), HasSubstr("process.cwd"));
  spec_ = DefaultSpec({});
  spec_.mutable_process()->mutable_capabilities()->add_bounding("CAP_FLY");
  EXPECT_THAT(Refusal().message(), HasSubstr("CAP_FLY"));
  spec_ = DefaultSpec({});
  spec_.mutable_process()->mutable_rlimits(0)->set_soft(2048);
  EXPECT_THAT(Refusal().message(), HasSubstr("soft 2048 above hard 1024"));
  spec_ = DefaultSpec({});
  spec_.mutable_linux()->add_namespaces()->set_type("pid");
  EXPECT_THAT(Refusal().message(), HasSubstr("given twice"));
  spec_ = DefaultSpec({});
  spec_.mutable_linux()->mutable_namespaces(0)->set_path("/proc/1/ns/pid");
  EXPECT_THAT(Refusal().message(), HasSubstr("joining a pid namespace"));
  spec_ = DefaultSpec({});
  spec_.mutable_mounts(0)->set_destination("proc");
  EXPECT_THAT(Refusal().message(), HasSubstr("mounts.destination"));
  spec_ = DefaultSpec({});
  spec_.mutable_linux()->set_rootfs_propagation("sideways");
  EXPECT_THAT(Refusal().message(), HasSubstr("rootfsPropagation"));
  spec_ = DefaultSpec({true, 1000, 1000});
  spec_.mutable_process()->mutable_user()->set_uid(5);
  EXPECT_THAT(Refusal(true).message(), HasSubstr("process.user.uid"));
  EXPECT_EQ(Refusal(true).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PlanTest, MissingRootfsIsNotFound) {
  spec_.mutable_root()->set_path("nowhere");
  EXPECT_EQ(Refusal().code(), absl::StatusCode::kNotFound);
}

TEST_F(PlanTest, AnOverlayOnSlashBecomesTheRoot) {
  oci::Mount* m = spec_.add_mounts();
  m->set_destination("/");
  m->set_type("overlay");
  m->set_source("overlay");
  m->add_options("lowerdir=/l,upperdir=/u,workdir=/w");
  auto plan = Make();
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->root_overlay.has_value());
  EXPECT_EQ(plan->root_overlay->data, "lowerdir=/l,upperdir=/u,workdir=/w");
  m->set_type("tmpfs");
  EXPECT_THAT(Refusal().message(), HasSubstr("only an overlay"));
}

TEST_F(PlanTest, BindsAreResolvedAgainstTheBundle) {
  oci::Mount* m = spec_.add_mounts();
  m->set_destination("/data");
  m->set_type("bind");
  m->set_source("rootfs");
  m->add_options("rbind");
  m->add_options("ro");
  auto plan = Make();
  ASSERT_TRUE(plan.ok());
  const MountStep& step = plan->mounts.back();
  EXPECT_EQ(step.kind, MountKind::kBind);
  EXPECT_EQ(step.source, dir_.Join("rootfs"));
  EXPECT_TRUE(step.recursive);
  EXPECT_EQ(step.flags, static_cast<unsigned long>(MS_RDONLY));
  m->set_source("missing");
  EXPECT_EQ(Refusal().code(), absl::StatusCode::kNotFound);
}

TEST(SpecImage, MergesAnImagePluginAnswer) {
  oci::Spec spec = DefaultSpec({});
  // What grootfs (or image-store) prints for `create`, as Go writes it.
  ASSERT_TRUE(MergeImage(R"({"root":{"path":"/store/images/c1/rootfs"},"process":{"env":["PATH=/img/bin","LANG=C"]},)"
                         R"("mounts":[{"destination":"/","type":"overlay","source":"overlay",)"
                         R"("options":["lowerdir=/l,upperdir=/u,workdir=/w"]}]})",
                         &spec)
                  .ok());
  EXPECT_EQ(spec.root().path(), "/store/images/c1/rootfs");
  EXPECT_FALSE(spec.root().readonly());
  EXPECT_EQ(spec.mounts(0).destination(), "/");
  EXPECT_EQ(spec.mounts(1).destination(), "/proc");
  EXPECT_THAT(spec.process().env(), ::testing::ElementsAre("PATH=/img/bin", "LANG=C", "TERM=xterm"));
  EXPECT_FALSE(MergeImage("{}", &spec).ok());
  EXPECT_FALSE(MergeImage("not json", &spec).ok());
}

}  // namespace
}  // namespace gdn::spawn
