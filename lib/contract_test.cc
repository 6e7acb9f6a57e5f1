#include "lib/contract.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testdata/sample.pb.h"
#include "lib/testing/testing.h"

namespace gdn {
namespace {

using ::gdn::testdata::Spec;
using ::testing::HasSubstr;

TEST(Contract, RoundTripsWithSnakeCaseNames) {
  Spec spec;
  spec.set_handle("c1");
  spec.set_grace_time(30000000000);
  spec.add_bind_mounts()->set_src_path("/tmp");
  std::string json = ToJson(spec);
  EXPECT_THAT(json, HasSubstr("\"grace_time\""));
  EXPECT_THAT(json, HasSubstr("\"bind_mounts\":[{\"src_path\":\"/tmp\"}]"));
  EXPECT_EQ(json.back(), '\n');
  Spec back;
  ASSERT_TRUE(ParseJson(json, &back).ok());
  EXPECT_EQ(back.grace_time(), 30000000000);
  EXPECT_EQ(back.bind_mounts(0).src_path(), "/tmp");
}

TEST(Contract, RejectsUnknownFieldsByName) {
  Spec spec;
  absl::Status s = ParseJson(R"({"handle":"x","bogus_field":1})", &spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bogus_field"));
  EXPECT_TRUE(ParseJson(R"({"handle":"x","bogus_field":1})", &spec, {true}).ok());
}

TEST(Contract, RejectsMalformedJson) {
  Spec spec;
  EXPECT_EQ(ParseJson("{\"handle\":", &spec).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJson(R"({"grace_time":"soon"})", &spec).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Contract, ReadsFromAFileAndNamesIt) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("spec.json"), R"({"handle":"h"})").ok());
  Spec spec;
  ASSERT_TRUE(ReadJsonMessage(dir.Join("spec.json"), &spec).ok());
  EXPECT_EQ(spec.handle(), "h");
  ASSERT_TRUE(WriteFileAtomic(dir.Join("bad.json"), R"({"nope":1})").ok());
  absl::Status s = ReadJsonMessage(dir.Join("bad.json"), &spec);
  EXPECT_THAT(s.message(), HasSubstr("bad.json"));
  EXPECT_EQ(ReadJsonMessage(dir.Join("missing.json"), &spec).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gdn
