#include "spawn/linux_names.h"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include "gtest/gtest.h"

namespace gdn::spawn {
namespace {

TEST(LinuxNames, Capabilities) {
  EXPECT_EQ(*CapabilityNumber("CAP_CHOWN"), 0);
  EXPECT_EQ(*CapabilityNumber("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(*CapabilityNumber("net_bind_service"), 10);
  EXPECT_EQ(*CapabilityNumber("CAP_CHECKPOINT_RESTORE"), 40);
  EXPECT_FALSE(CapabilityNumber("CAP_FLY").ok());
  EXPECT_EQ(*CapabilityMask({"CAP_KILL", "CAP_CHOWN"}), (1u << 5) | 1u);
  EXPECT_GE(LastCapability(), 36);
}

TEST(LinuxNames, RlimitsSignalsNamespaces) {
  EXPECT_EQ(*RlimitNumber("RLIMIT_NOFILE"), RLIMIT_NOFILE);
  EXPECT_FALSE(RlimitNumber("NOFILE").ok());
  EXPECT_EQ(*SignalNumber("KILL"), SIGKILL);
  EXPECT_EQ(*SignalNumber("SIGTERM"), SIGTERM);
  EXPECT_EQ(*SignalNumber("hup"), SIGHUP);
  EXPECT_EQ(*SignalNumber("9"), 9);
  EXPECT_FALSE(SignalNumber("0").ok());
  EXPECT_FALSE(SignalNumber("NOPE").ok());
  EXPECT_EQ(*NamespaceFlag("network"), CLONE_NEWNET);
  EXPECT_EQ(*NamespaceFlag("mount"), CLONE_NEWNS);
  EXPECT_FALSE(NamespaceFlag("time-travel").ok());
  EXPECT_STREQ(NamespaceFile(CLONE_NEWNS), "mnt");
}

}  // namespace
}  // namespace gdn::spawn
