#include "lib/proc.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "lib/file.h"

namespace gdn {
namespace {

TEST(ReadProcessStart, OfItselfAZombieAndNoProcess) {
  ProcessStart self = ReadProcessStart(getpid());
  EXPECT_GT(self.start_time, 0u);
  EXPECT_TRUE(self.running);
  EXPECT_EQ(ReadProcessStart(getpid()).start_time, self.start_time);  // stable
  pid_t child = fork();
  if (child == 0) _exit(0);
  // Not reaped yet: a zombie, which does not run.
  for (int i = 0; i < 500 && ReadProcessStart(child).running; ++i) usleep(2000);
  ProcessStart zombie = ReadProcessStart(child);
  EXPECT_GT(zombie.start_time, 0u);
  EXPECT_FALSE(zombie.running);
  int status;
  waitpid(child, &status, 0);
  EXPECT_EQ(ReadProcessStart(child).start_time, 0u);
}

TEST(SelfDir, IsTheFolderOfThisTest) {
  EXPECT_TRUE(FileExists(SelfDir() + "/proc_test"));
}

}  // namespace
}  // namespace gdn
