#include "netns/trust.h"

#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"

namespace gdn::netns {
namespace {

using ::testing::HasSubstr;

struct stat Stat(uid_t uid, mode_t mode) {
  struct stat st = {};
  st.st_uid = uid;
  st.st_mode = mode;
  return st;
}

TEST(CheckTrustedComponent, RootOwnedAndNotWritableByOthers) {
  EXPECT_TRUE(CheckTrustedComponent("/etc", Stat(0, S_IFDIR | 0755), false, PathKind::kFile).ok());
  EXPECT_TRUE(CheckTrustedComponent("/etc/x", Stat(0, S_IFREG | 0644), true, PathKind::kFile).ok());
  EXPECT_TRUE(
      CheckTrustedComponent("/usr/lib/cni", Stat(0, S_IFDIR | 0755), true, PathKind::kDir).ok());

  absl::Status s =
      CheckTrustedComponent("/home/u", Stat(999, S_IFDIR | 0755), false, PathKind::kFile);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("/home/u belongs to uid 999"));
  s = CheckTrustedComponent("/etc/x", Stat(0, S_IFREG | 0664), true, PathKind::kFile);
  EXPECT_THAT(s.message(), HasSubstr("writable by its group"));
  s = CheckTrustedComponent("/etc/x", Stat(0, S_IFREG | 0646), true, PathKind::kFile);
  EXPECT_THAT(s.message(), HasSubstr("writable by others"));
  s = CheckTrustedComponent("/srv", Stat(0, S_IFDIR | 0775), false, PathKind::kFile);
  EXPECT_THAT(s.message(), HasSubstr("writable by its group"));
}

TEST(CheckTrustedComponent, StickyFoldersArePassagesOnly) {
  // /tmp may be passed through: no one else can rename root's entries in it.
  EXPECT_TRUE(CheckTrustedComponent("/tmp", Stat(0, S_IFDIR | 01777), false, PathKind::kFile).ok());
  // But it is no trusted folder itself (anyone could add a plugin or a network config).
  EXPECT_FALSE(CheckTrustedComponent("/tmp", Stat(0, S_IFDIR | 01777), true, PathKind::kDir).ok());
  // A sticky folder someone else owns is theirs.
  EXPECT_FALSE(CheckTrustedComponent("/t", Stat(5, S_IFDIR | 01777), false, PathKind::kFile).ok());
}

TEST(CheckTrustedComponent, KindOfTheLast) {
  EXPECT_FALSE(CheckTrustedComponent("/etc", Stat(0, S_IFDIR | 0755), true, PathKind::kFile).ok());
  EXPECT_FALSE(CheckTrustedComponent("/etc/x", Stat(0, S_IFREG | 0644), true, PathKind::kDir).ok());
  EXPECT_FALSE(
      CheckTrustedComponent("/etc/x", Stat(0, S_IFREG | 0644), false, PathKind::kFile).ok());
  EXPECT_FALSE(
      CheckTrustedComponent("/dev/null", Stat(0, S_IFCHR | 0644), true, PathKind::kFile).ok());
}

TEST(OpenTrusted, RealPaths) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the files";
  testing::TempDir dir;  // 0755, root's, in /tmp (sticky)
  std::string conf = dir.Join("c.json");
  ASSERT_TRUE(WriteFileAtomic(conf, "{}", 0644).ok());
  EXPECT_TRUE(OpenTrusted(conf, PathKind::kFile).ok());
  EXPECT_TRUE(OpenTrusted(dir.path(), PathKind::kDir).ok());
  // Through a root-owned symlink: the target is what counts.
  ASSERT_EQ(symlink(conf.c_str(), dir.Join("link").c_str()), 0);
  EXPECT_TRUE(OpenTrusted(dir.Join("link"), PathKind::kFile).ok());

  ASSERT_EQ(chmod(conf.c_str(), 0666), 0);
  EXPECT_EQ(OpenTrusted(conf, PathKind::kFile).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(chmod(conf.c_str(), 0644), 0);
  ASSERT_EQ(chown(conf.c_str(), 999, 0), 0);
  EXPECT_EQ(OpenTrusted(conf, PathKind::kFile).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(chown(conf.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  EXPECT_EQ(OpenTrusted(conf, PathKind::kFile).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(OpenTrusted(dir.Join("none"), PathKind::kFile).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gdn::netns
