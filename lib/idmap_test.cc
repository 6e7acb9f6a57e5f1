#include "lib/idmap.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn {
namespace {

using ::testing::HasSubstr;

TEST(ParseIdMapping, ReadsThreeDecimals) {
  auto m = ParseIdMapping("0:1000:1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, (IdMapping{0, 1000, 1}));
  EXPECT_EQ(*ParseIdMapping("1:100000:65536"), (IdMapping{1, 100000, 65536}));
  EXPECT_EQ(*ParseIdMapping("0:4294967295:0"), (IdMapping{0, 4294967295u, 0}));
}

TEST(ParseIdMapping, RejectsWhatIsNotCHN) {
  for (const char* bad : {"", "0:1", "0:1:2:3", "a:1:1", "0:-1:1", "0:1:+1", "0:0x10:1",
                          "0:4294967296:1", " 0:1:1", "0:1:1 "}) {
    EXPECT_EQ(ParseIdMapping(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseIdMapping("0:x:1").status().message(), HasSubstr("host id \"x\""));
}

TEST(IdMap, ValidatesAsTheKernelDoes) {
  EXPECT_TRUE(IdMap({{0, 1000, 1}, {1, 100000, 65536}}).Validate().ok());
  EXPECT_THAT(IdMap(std::vector<IdMapping>{}).Validate().message(), HasSubstr("empty"));
  EXPECT_THAT(IdMap({{0, 1000, 0}}).Validate().message(), HasSubstr("is empty"));
  EXPECT_THAT(IdMap({{0, 1000, 10}, {5, 2000, 10}}).Validate().message(),
              HasSubstr("overlap inside the namespace"));
  EXPECT_THAT(IdMap({{0, 1000, 10}, {20, 1005, 10}}).Validate().message(),
              HasSubstr("overlap on the host"));
  EXPECT_TRUE(IdMap({{0, 1000, 10}, {10, 1010, 10}}).Validate().ok());
  EXPECT_THAT(IdMap({{4294967295u, 0, 1}}).Validate().message(), HasSubstr("runs past"));
  EXPECT_TRUE(IdMap({{4294967294u, 0, 1}}).Validate().ok());
  std::vector<IdMapping> many;
  for (uint32_t i = 0; i < 341; ++i) many.push_back({i, 100 + i, 1});
  EXPECT_THAT(IdMap(many).Validate().message(), HasSubstr("at most 340"));
  many.pop_back();
  EXPECT_TRUE(IdMap(many).Validate().ok());
  // 340 lines, but more text than one page.
  std::vector<IdMapping> wide;
  for (uint32_t i = 0; i < 340; ++i) wide.push_back({1000000 + i, 1000000 + i, 1});
  EXPECT_THAT(IdMap(wide).Validate().message(), HasSubstr("bytes of text"));
}

TEST(IdMap, TranslatesBothWays) {
  IdMap map({{0, 1000, 1}, {1, 100000, 65536}});
  EXPECT_EQ(map.ToHost(0), 1000u);
  EXPECT_EQ(map.ToHost(1), 100000u);
  EXPECT_EQ(map.ToHost(65536), 165535u);
  EXPECT_EQ(map.ToHost(65537), std::nullopt);
  EXPECT_EQ(map.ToContainer(1000), 0u);
  EXPECT_EQ(map.ToContainer(100999), 1000u);
  EXPECT_EQ(map.ToContainer(999), std::nullopt);
}

TEST(IdMap, ProcFileRoundTrip) {
  IdMap map({{0, 1000, 1}, {1, 100000, 65536}});
  EXPECT_EQ(map.ToProcFile(), "0 1000 1\n1 100000 65536\n");
  auto back = IdMap::FromProcFile("         0       1000          1\n"
                                  "         1     100000      65536\n");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->mappings(), map.mappings());
  EXPECT_TRUE(IdMap::FromProcFile("")->empty());
  EXPECT_FALSE(IdMap::FromProcFile("0 1\n").ok());
}

TEST(RangesCover, NeedsEveryIdInsideTheUnion) {
  std::vector<IdRange> granted = {{100000, 65536}, {165536, 1000}, {300000, 10}};
  EXPECT_TRUE(RangesCover(granted, 100000, 65536));
  EXPECT_TRUE(RangesCover(granted, 160000, 6000));  // spans two adjacent ranges
  EXPECT_FALSE(RangesCover(granted, 99999, 2));
  EXPECT_FALSE(RangesCover(granted, 166000, 1000));  // runs past the second range
  EXPECT_TRUE(RangesCover(granted, 300009, 1));
  EXPECT_FALSE(RangesCover(granted, 300000, 11));
  EXPECT_FALSE(RangesCover(granted, 100000, 0));
  EXPECT_FALSE(RangesCover({}, 0, 1));
}

}  // namespace
}  // namespace gdn
