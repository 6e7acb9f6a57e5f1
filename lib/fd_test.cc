#include "lib/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "gtest/gtest.h"

namespace gdn {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }
bool IsCloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

TEST(UniqueFd, ClosesWhenItGoesAway) {
  int raw;
  {
    auto fd = Open("/dev/null", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.status();
    raw = fd->get();
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFd, MovesOwnership) {
  auto fd = Open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd.ok());
  int raw = fd->get();
  UniqueFd a = std::move(*fd);
  EXPECT_FALSE(fd->valid());
  UniqueFd b;
  b = std::move(a);
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
  int released = b.Release();
  EXPECT_FALSE(b.valid());
  EXPECT_TRUE(IsOpen(released));
  close(released);
}

TEST(Open, AlwaysSetsCloexec) {
  auto fd = Open("/dev/null", O_RDWR);
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(IsCloexec(fd->get()));
  auto dir = Open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.ok());
  auto at = OpenAt(dir->get(), "dev/null", O_RDONLY);
  ASSERT_TRUE(at.ok());
  EXPECT_TRUE(IsCloexec(at->get()));
  auto pipe = MakePipe();
  ASSERT_TRUE(pipe.ok());
  EXPECT_TRUE(IsCloexec(pipe->read.get()));
  EXPECT_TRUE(IsCloexec(pipe->write.get()));
}

TEST(Open, ReportsThePath) {
  auto fd = Open("/nonexistent/file", O_RDONLY);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fd.status().message(), "open '/nonexistent/file': No such file or directory");
}

TEST(ReadWriteAll, RoundTripThroughAPipe) {
  auto pipe = MakePipe();
  ASSERT_TRUE(pipe.ok());
  ASSERT_TRUE(WriteAll(pipe->write.get(), "hello pipe").ok());
  pipe->write.Reset();
  auto data = ReadAll(pipe->read.get());
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "hello pipe");
}

}  // namespace
}  // namespace gdn
