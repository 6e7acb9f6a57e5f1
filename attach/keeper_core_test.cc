// The keeper prints attach.proto messages without protobuf: its output must be what
// protobuf's JSON printer makes of the same message, so that the contract stays the proto.
#include "attach/keeper_core.h"

#include <unistd.h>

#include "attach/attach.schema.h"
#include "gtest/gtest.h"
#include "lib/lite_json.h"

namespace gdn::attach {
namespace {

TEST(KeeperJson, ExitStatusMatchesProtobuf) {
  for (auto [exited, code, signal] : {std::tuple{true, 0, 0}, std::tuple{true, 3, 0},
                                      std::tuple{false, 0, 9}, std::tuple{true, 255, 0}}) {
    ExitStatus e;
    e.set_exited(exited);
    e.set_code(code);
    e.set_signal(signal);
    EXPECT_EQ(ExitStatusJson(exited, code, signal), LiteToJson(e));
  }
}

TEST(KeeperJson, ProcessMatchesProtobufAndEscapes) {
  for (const std::string& dir : {std::string("/tmp/d"), std::string("/odd \"dir\"\\\n\t\x01 é")}) {
    Process p;
    p.set_pid(12);
    p.set_keeper_pid(11);
    p.set_keeper_start_time(123456789012ull);
    p.set_dir(dir);
    p.set_tty(true);
    EXPECT_EQ(ProcessJson(12, 11, 123456789012ull, dir, true), LiteToJson(p));
    Process back;
    ASSERT_TRUE(ParseLiteJson(ProcessJson(12, 11, 123456789012ull, dir, true), &back).ok());
    EXPECT_EQ(back.dir(), dir);
  }
  EXPECT_EQ(ProcessJson(0, 0, 0, "", false), LiteToJson(Process()));
}

TEST(KeeperJson, StartTimeOfItself) { EXPECT_GT(ProcessStartTime(getpid()), 0u); }

}  // namespace
}  // namespace gdn::attach
