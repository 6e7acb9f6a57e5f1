// glog's stack traces over glog_unwind.cc: a failed CHECK prints the frames that led to it,
// named, from the failing function down to main.
#include "glog/logging.h"
#include "gtest/gtest.h"

namespace {

__attribute__((noinline)) void Innermost(const char* why) { CHECK(why == nullptr) << "fails on purpose"; }

__attribute__((noinline)) void Outer(const char* why) {
  Innermost(why);
  asm volatile("");  // not a tail call: Outer keeps its frame
}

TEST(GlogUnwindTest, FailedCheckPrintsTheFramesThatLedToIt) {
  // gtest's death-test expressions are POSIX extended ones, where "." also matches newlines.
  EXPECT_DEATH(Outer("x"),
               "fails on purpose.*"
               "Check failure stack trace:.*"
               "@ +0x[0-9a-f]+ +google::LogMessage::Fail\\(\\).*"
               "@ +0x[0-9a-f]+ +\\(anonymous namespace\\)::Innermost\\(.*"
               "@ +0x[0-9a-f]+ +\\(anonymous namespace\\)::Outer\\(.*"
               "@ +0x[0-9a-f]+ +main\n");
}

// The last frame is _start's: the walk stops there, without a frame at address 0.
TEST(GlogUnwindTest, TheWalkEndsAtStart) {
  EXPECT_DEATH(Outer("x"), "@ +0x[0-9a-f]+ +_start\n$");
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  google::InitGoogleLogging(argv[0]);
  return RUN_ALL_TESTS();
}
