#include "netns/trust.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"

namespace gdn::netns {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(ReadLimited, CapsTheSizeAndNeverQuotesTheFile) {
  testing::TempDir dir;
  std::string file = dir.Join("f");
  ASSERT_TRUE(WriteFileAtomic(file, "root:SECRET-HASH:19000:0:99999:7:::\n", 0644).ok());
  absl::StatusOr<std::string> all = ReadLimited(file, 1000, "/etc/shown");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(*all, HasSubstr("SECRET-HASH"));
  absl::StatusOr<std::string> capped = ReadLimited(file, 10, "/etc/shown");
  EXPECT_EQ(capped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(capped.status().message(), HasSubstr("/etc/shown is larger than 10 bytes"));
  EXPECT_THAT(capped.status().message(), Not(HasSubstr("SECRET")));
  absl::StatusOr<std::string> missing = ReadLimited(dir.Join("none"), 10, "/etc/shown");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/etc/shown"));
}

TEST(OpenTrusted, TellsTheResolvedPath) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the files";
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("real"), 0755).ok());
  ASSERT_EQ(symlink(dir.Join("real").c_str(), dir.Join("link").c_str()), 0);
  std::string resolved;
  ASSERT_TRUE(OpenTrusted(dir.Join("link"), PathKind::kDir, &resolved).ok());
  char real[PATH_MAX];
  ASSERT_NE(realpath(dir.Join("real").c_str(), real), nullptr);
  EXPECT_EQ(resolved, real);
}

TEST(MakeRootOnlyDir, MakesOrNarrowsToRootsAlone) {
  EXPECT_EQ(MakeRootOnlyDir("/", false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(MakeRootOnlyDir("relative/x", false).code(), absl::StatusCode::kPermissionDenied);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own the folder";
  testing::TempDir dir;
  auto mode = [](const std::string& path) {
    struct stat st = {};
    return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
  };
  // Made 0700, with its missing parents.
  std::string made = dir.Join("a/mounts");
  ASSERT_TRUE(MakeRootOnlyDir(made, true).ok());
  EXPECT_EQ(mode(made), 0700u);
  // An existing 0755 folder (as setup made them) is narrowed.
  ASSERT_EQ(chmod(made.c_str(), 0755), 0);
  ASSERT_TRUE(MakeRootOnlyDir(made + "/", false).ok());
  EXPECT_EQ(mode(made), 0700u);
  // Not a symbolic link, not someone else's, not (for a caller other than root) one others
  // could write.
  ASSERT_EQ(symlink(made.c_str(), dir.Join("link").c_str()), 0);
  EXPECT_EQ(MakeRootOnlyDir(dir.Join("link"), false).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(chown(made.c_str(), 999, 999), 0);
  absl::Status s = MakeRootOnlyDir(made, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("belongs to uid 999"));
  ASSERT_EQ(chown(made.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(made.c_str(), 0777), 0);
  EXPECT_EQ(MakeRootOnlyDir(made, true).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(mode(made), 0777u);  // refused before anything changed
  ASSERT_TRUE(MakeRootOnlyDir(made, false).ok());
  EXPECT_EQ(mode(made), 0700u);
}

TEST(OpenRootLockFile, RootsOwnRegularFileOnly) {
  EXPECT_EQ(OpenRootLockFile("relative.lock").status().code(), absl::StatusCode::kPermissionDenied);
  testing::TempDir dir;
  if (geteuid() != 0) {
    // The test's folder is not root's: no lock file of root's belongs in it.
    EXPECT_EQ(OpenRootLockFile(dir.Join("l")).status().code(), absl::StatusCode::kPermissionDenied);
    GTEST_SKIP() << "needs root for the rest";
  }
  auto stat_of = [](const std::string& path) {
    struct stat st = {};
    if (lstat(path.c_str(), &st) != 0) st = {};
    return st;
  };
  std::string lock = dir.Join("iptables.lock");
  absl::StatusOr<UniqueFd> fd = OpenRootLockFile(lock);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_TRUE(S_ISREG(stat_of(lock).st_mode));
  EXPECT_EQ(stat_of(lock).st_mode & 07777, 0600u);
  EXPECT_NE(fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  // One that others may open is narrowed: whoever opens it can hold the lock.
  ASSERT_EQ(chmod(lock.c_str(), 0644), 0);
  ASSERT_TRUE(OpenRootLockFile(lock).ok());
  EXPECT_EQ(stat_of(lock).st_mode & 07777, 0600u);
  // Someone else's file, a symbolic link, a FIFO: refused.
  ASSERT_EQ(chown(lock.c_str(), 999, 999), 0);
  EXPECT_EQ(OpenRootLockFile(lock).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(symlink("/etc/passwd", dir.Join("link.lock").c_str()), 0);
  EXPECT_EQ(OpenRootLockFile(dir.Join("link.lock")).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(mkfifo(dir.Join("fifo.lock").c_str(), 0600), 0);
  EXPECT_EQ(OpenRootLockFile(dir.Join("fifo.lock")).status().code(),
            absl::StatusCode::kPermissionDenied);
  // A folder others can write, unless it is sticky.
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  EXPECT_EQ(OpenRootLockFile(dir.Join("other.lock")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(FileExists(dir.Join("other.lock")));
  ASSERT_EQ(chmod(dir.path().c_str(), 01777), 0);
  EXPECT_TRUE(OpenRootLockFile(dir.Join("other.lock")).ok());
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
}

}  // namespace
}  // namespace gdn::netns
