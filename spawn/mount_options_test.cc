#include "spawn/mount_options.h"

#include <sys/mount.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn::spawn {
namespace {

TEST(ParseMountOptions, FlagsPropagationAndData) {
  auto o = ParseMountOptions({"rbind", "ro", "nosuid", "nodev", "rslave", "mode=755", "size=64k"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV);
  EXPECT_EQ(o->propagation, MS_SLAVE | MS_REC);
  EXPECT_EQ(o->data, "mode=755,size=64k");
  EXPECT_TRUE(o->bind());
}

TEST(ParseMountOptions, LaterOptionsWin) {
  auto o = ParseMountOptions({"ro", "rw", "noexec", "exec", "nosuid"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID));
  EXPECT_FALSE(o->bind());
}

TEST(ParseMountOptions, OverlayDataPassesThrough) {
  auto o = ParseMountOptions({"lowerdir=/a:/b,upperdir=/u,workdir=/w"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->data, "lowerdir=/a:/b,upperdir=/u,workdir=/w");
  EXPECT_EQ(o->flags, 0u);
}

TEST(ParseMountOptions, RefusesIdMappedMounts) {
  EXPECT_EQ(ParseMountOptions({"idmap"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseMountOptions({"tmpcopyup", "z"}).ok());
}

TEST(MountFlagsToString, NamesEveryFlag) {
  EXPECT_EQ(MountFlagsToString(MS_BIND | MS_REC | MS_RDONLY), "MS_RDONLY|MS_BIND|MS_REC");
  EXPECT_EQ(MountFlagsToString(0), "0");
  EXPECT_EQ(MountFlagsToString(1ul << 30), "0x40000000");  // unnamed flags in hex
}

TEST(ParsePropagation, KnownNamesOnly) {
  EXPECT_EQ(*ParsePropagation("rprivate"), static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(*ParsePropagation(""), 0u);
  EXPECT_FALSE(ParsePropagation("sideways").ok());
}

}  // namespace
}  // namespace gdn::spawn
