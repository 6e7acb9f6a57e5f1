#include "lib/file.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(d);
  return names;
}

TEST(WriteFileAtomic, WritesContentAndMode) {
  testing::TempDir dir;
  std::string path = dir.Join("record.json");
  ASSERT_TRUE(WriteFileAtomic(path, "{\"a\":1}", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "{\"a\":1}");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(List(dir.path()), std::vector<std::string>{"record.json"});
}

TEST(WriteFileAtomic, ReplacesAndLeavesNoTemporaryFile) {
  testing::TempDir dir;
  std::string path = dir.Join("f");
  ASSERT_TRUE(WriteFileAtomic(path, "old").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "new content").ok());
  EXPECT_EQ(*ReadFile(path), "new content");
  EXPECT_EQ(List(dir.path()), std::vector<std::string>{"f"});
}

TEST(WriteFileAtomic, FailureLeavesTheOldFileAndNoTemporary) {
  testing::TempDir dir;
  std::string path = dir.Join("sub");
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  // Renaming a file over a folder fails after the temporary was written.
  absl::Status s = WriteFileAtomic(path, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(List(dir.path()), std::vector<std::string>{"sub"});
  EXPECT_FALSE(WriteFileAtomic(dir.Join("missing/f"), "x").ok());
}

// Runtime state (no fsync) replaces by exchange: the same outcome, the old content's inode
// gone, the mode the new one's; a folder or a symlink in the way is dealt with as by rename.
TEST(WriteFileAtomic, ProcessCrashDurabilityReplacesLikeRename) {
  testing::TempDir dir;
  std::string path = dir.Join("state.json");
  ASSERT_TRUE(WriteFileAtomic(path, "first", 0644, Durability::kProcessCrash).ok());
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE(WriteFileAtomic(path, "second, longer", 0600, Durability::kProcessCrash).ok());
  EXPECT_EQ(*ReadFile(path), "second, longer");
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 0777, 0600u);
  EXPECT_EQ(List(dir.path()), std::vector<std::string>{"state.json"});

  std::string sub = dir.Join("sub");
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  EXPECT_FALSE(WriteFileAtomic(sub, "x", 0644, Durability::kProcessCrash).ok());
  struct stat st;
  ASSERT_EQ(lstat(sub.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));

  std::string link = dir.Join("link");
  ASSERT_EQ(symlink("state.json", link.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomic(link, "own", 0644, Durability::kProcessCrash).ok());
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(*ReadFile(path), "second, longer");
  std::vector<std::string> names = List(dir.path());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"link", "state.json", "sub"}));
}

TEST(MakeDirs, MakesParentsAndAcceptsExisting) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("a/b/c"), 0700).ok());
  struct stat st;
  ASSERT_EQ(stat(dir.Join("a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(MakeDirs(dir.Join("a/b"), 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("f"), "x").ok());
  EXPECT_FALSE(MakeDirs(dir.Join("f"), 0700).ok());
}

TEST(RemoveAll, RemovesATreeWithoutFollowingSymlinks) {
  testing::TempDir dir;
  std::string outside = dir.Join("outside"), tree = dir.Join("tree");
  ASSERT_TRUE(MakeDirs(outside).ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/keep", "x").ok());
  ASSERT_TRUE(MakeDirs(tree + "/a/b/c").ok());
  ASSERT_TRUE(WriteFileAtomic(tree + "/a/b/c/f", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(tree + "/a/g", "x").ok());
  ASSERT_EQ(symlink(outside.c_str(), (tree + "/a/link").c_str()), 0);
  ASSERT_EQ(mkfifo((tree + "/fifo").c_str(), 0600), 0);
  // Folders that deny their owner writing or searching (overlayfs leaves work/work 000).
  ASSERT_TRUE(MakeDirs(tree + "/locked/in").ok());
  ASSERT_TRUE(WriteFileAtomic(tree + "/locked/in/f", "x").ok());
  ASSERT_EQ(chmod((tree + "/locked/in").c_str(), 0), 0);
  ASSERT_EQ(chmod((tree + "/locked").c_str(), 0500), 0);
  ASSERT_TRUE(RemoveAll(tree).ok());
  EXPECT_FALSE(FileExists(tree));
  EXPECT_TRUE(FileExists(outside + "/keep"));
  EXPECT_TRUE(RemoveAll(tree).ok()) << "a missing path is nothing to do";
  ASSERT_TRUE(WriteFileAtomic(tree, "x").ok());
  EXPECT_TRUE(RemoveAll(tree).ok());
  EXPECT_FALSE(FileExists(tree));
}

TEST(ReadFile, MissingIsNotFound) {
  auto r = ReadFile("/nonexistent");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gdn
