#include "lib/subid.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn {
namespace {

constexpr char kFile[] =
    "# a comment line\n"
    "\n"
    "alice:100000:65536\n"
    "bob:165536:65536\n"
    "1000:300000:10\n"
    "alias:400000:5\n"
    "alice:0x70000:0x10\n"
    "alice:010:2\n"
    "broken line\n"
    "alice:1:\n"
    "alice::1\n"
    ":1:1\n"
    "alice:1:2:3\n"
    "alice:-:1\n"
    "alice:99999999999999999999999:1\n"
    "carol:500000:100\r\n";

std::optional<uid_t> FakeUids(const std::string& name) {
  static const std::map<std::string, uid_t> uids = {
      {"alice", 1000}, {"bob", 1001}, {"alias", 1000}, {"carol", 1002}};
  auto it = uids.find(name);
  if (it == uids.end()) return std::nullopt;
  return it->second;
}

TEST(ParseSubidFile, KeepsWellFormedLinesOnly) {
  std::vector<SubidEntry> e = ParseSubidFile(kFile);
  ASSERT_EQ(e.size(), 7u);
  EXPECT_EQ(e[0].owner, "alice");
  EXPECT_EQ(e[0].range.start, 100000u);
  EXPECT_EQ(e[0].range.count, 65536u);
  EXPECT_EQ(e[4].range.start, 0x70000u);  // hex, as strtoul(..., 0) reads it
  EXPECT_EQ(e[4].range.count, 16u);
  EXPECT_EQ(e[5].range.start, 8u);  // octal
  EXPECT_EQ(e[6].owner, "carol");   // CRLF tolerated
  EXPECT_EQ(e[6].range.count, 100u);
}

TEST(RangesOf, NameNumericUidAndAliasesCount) {
  std::vector<SubidEntry> e = ParseSubidFile(kFile);
  std::vector<IdRange> alice = RangesOf(e, "alice", 1000, FakeUids);
  std::vector<uint64_t> starts;
  for (const IdRange& r : alice) starts.push_back(r.start);
  EXPECT_THAT(starts, ::testing::ElementsAre(100000, 300000, 400000, 0x70000, 8));
  EXPECT_EQ(RangesOf(e, "bob", 1001, FakeUids).size(), 1u);
  EXPECT_TRUE(RangesOf(e, "dave", 1003, FakeUids).empty());
  // Without a user database, only the name and the numeric uid count.
  EXPECT_EQ(RangesOf(e, "alice", 1000, nullptr).size(), 4u);
}

TEST(LookupUser, ByNameAndUid) {
  auto root = LookupUser("root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->uid, 0u);
  auto by_uid = LookupUser("0");
  ASSERT_TRUE(by_uid.ok());
  EXPECT_EQ(by_uid->name, "root");
  EXPECT_EQ(LookupUser("no-such-user-here").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gdn
