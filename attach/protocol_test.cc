#include "attach/protocol.h"

#include "gtest/gtest.h"

namespace gdn::attach {
namespace {

TEST(Protocol, FramesRoundTripAcrossArbitraryCuts) {
  std::string wire = Encode(kData, 1, "hello") + Encode(kAck, 2, std::string(8, '\x01')) +
                     Encode(kExit, 0, "");
  FrameReader reader;
  std::vector<Frame> frames;
  for (char c : wire) {  // one byte at a time: frames must survive any split
    reader.Append(&c, 1);
    bool bad = false;
    while (std::optional<Frame> f = reader.Next(&bad)) frames.push_back(*f);
    ASSERT_FALSE(bad);
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].type, kData);
  EXPECT_EQ(frames[0].stream, 1);
  EXPECT_EQ(frames[0].payload, "hello");
  EXPECT_EQ(frames[1].type, kAck);
  EXPECT_EQ(frames[2].payload, "");
}

TEST(Protocol, NumbersAreLittleEndian) {
  std::string s;
  PutU64(&s, 0x0102030405060708ull);
  EXPECT_EQ(s, std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  EXPECT_EQ(GetU64(s), 0x0102030405060708ull);
  s.clear();
  PutU32(&s, 0xdeadbeef);
  EXPECT_EQ(GetU32(s), 0xdeadbeefu);
}

TEST(Protocol, RefusesOversizedFrames) {
  FrameReader reader;
  std::string header = EncodeHeader(kData, 1, kMaxPayload + 1);
  reader.Append(header.data(), header.size());
  bool bad = false;
  EXPECT_FALSE(reader.Next(&bad).has_value());
  EXPECT_TRUE(bad);
}

}  // namespace
}  // namespace gdn::attach
