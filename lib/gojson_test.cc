#include "lib/gojson.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testdata/sample.pb.h"

namespace gdn {
namespace {

using ::gdn::testdata::Spec;
using ::testing::HasSubstr;

// The body gaol sends for `gaol create` (GARDEN_API.md, section 2), byte for byte.
constexpr char kGaolCreate[] =
    R"({"handle":"foo","grace_time":30000000000,"image":{"uri":"docker:///alpine"},)"
    R"("bind_mounts":[{"src_path":"/tmp","dst_path":"/mnt"}],"network":"10.1.0.0/24",)"
    R"("env":["A=1"],"limits":{"bandwidth_limits":{},"cpu_limits":{},"disk_limits":{},)"
    R"("memory_limits":{},"pid_limits":{}}})"
    "\n";

// Go escapes '>' and '&' (GARDEN_API.md, section 1.1).
constexpr char kGoEscapes[] =
    R"({"path":"sh","args":["-c","echo out; echo err \u003e\u00262; exit 3"],"user":"root"})";

TEST(GoJson, ReadsWhatGoClientsSend) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(kGaolCreate, &spec).ok());
  EXPECT_EQ(spec.handle(), "foo");
  EXPECT_EQ(spec.grace_time(), 30000000000);
  EXPECT_EQ(spec.image().uri(), "docker:///alpine");
  EXPECT_EQ(spec.bind_mounts(0).dst_path(), "/mnt");
  EXPECT_EQ(spec.env(0), "A=1");
}

TEST(GoJson, DecodesGoEscapesAndSurrogatePairs) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(kGoEscapes, &spec).ok());
  EXPECT_EQ(spec.args(1), "echo out; echo err >&2; exit 3");
  ASSERT_TRUE(GoJsonToMessage(R"({"handle":"\ud83d\ude00 \u2028"})", &spec).ok());
  EXPECT_EQ(spec.handle(), "\xF0\x9F\x98\x80 \xE2\x80\xA8");
}

TEST(GoJson, MatchesKeysWithoutRegardToCase) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(
                  R"({"HANDLE":"a","Grace_Time":5,"Limits":{"Memory_Limits":{"LIMIT_IN_BYTES":7}},)"
                  R"("Named_Limits":{"Key":{"CPU_WEIGHT":3}},"bind_MOUNTS":[{"SRC_path":"/x"}]})",
                  &spec)
                  .ok());
  EXPECT_EQ(spec.handle(), "a");
  EXPECT_EQ(spec.grace_time(), 5);
  EXPECT_EQ(spec.limits().memory_limits().limit_in_bytes(), 7u);
  // Map keys are data, not field names: kept as sent.
  ASSERT_EQ(spec.named_limits().count("Key"), 1u);
  EXPECT_EQ(spec.named_limits().at("Key").cpu_weight(), 3);
  EXPECT_EQ(spec.bind_mounts(0).src_path(), "/x");
}

TEST(GoJson, ExactMatchWinsOverFoldedMatchAndLastDuplicateWins) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(R"({"handle":"first","handle":"second"})", &spec).ok());
  EXPECT_EQ(spec.handle(), "second");
}

TEST(GoJson, TakesLargeNumbersExactly) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(
                  R"({"grace_time":-9223372036854775808,"ids":[18446744073709551615,1]})", &spec)
                  .ok());
  EXPECT_EQ(spec.grace_time(), INT64_MIN);
  EXPECT_EQ(spec.ids(0), UINT64_MAX);
}

TEST(GoJson, UnknownKeysIgnoredLikeGoUnlessAsked) {
  Spec spec;
  EXPECT_TRUE(GoJsonToMessage(R"({"handle":"a","rootfs":"","extra":{"x":[1]}})", &spec).ok());
  absl::Status strict = GoJsonToMessage(R"({"limits":{"nope":1}})", &spec, {false});
  EXPECT_EQ(strict.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(strict.message(), HasSubstr("limits.nope"));
}

TEST(GoJson, RejectsMalformedInput) {
  Spec spec;
  EXPECT_EQ(GoJsonToMessage("{\"handle\":", &spec).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GoJsonToMessage("[1]", &spec).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GoJsonToMessage(R"({"grace_time":"x"})", &spec).code(),
            absl::StatusCode::kInvalidArgument);
  // null means the zero value, as in Go.
  EXPECT_TRUE(GoJsonToMessage(R"({"handle":null})", &spec).ok());
}

TEST(GoJson, WritesSixtyFourBitNumbersAsNumbers) {
  Spec spec;
  spec.set_handle("foo");
  spec.set_grace_time(30000000000);
  spec.mutable_limits()->mutable_memory_limits()->set_limit_in_bytes(UINT64_MAX);
  spec.add_ids(42);
  (*spec.mutable_named_limits())["k"].set_cpu_weight(-1);
  EXPECT_EQ(MessageToGoJson(spec),
            R"({"handle":"foo","grace_time":30000000000,)"
            R"("limits":{"memory_limits":{"limit_in_bytes":18446744073709551615}},)"
            R"("ids":[42],"named_limits":{"k":{"cpu_weight":-1}}})");
}

TEST(GoJson, JsonNamesAndIndentForDocumentsOfOthers) {
  Spec spec;
  spec.set_grace_time(5);
  GoJsonWriteOptions o;
  o.json_names = true;
  EXPECT_EQ(MessageToGoJson(spec, o), R"({"graceTime":5})");
  o.indent = 2;
  EXPECT_EQ(MessageToGoJson(spec, o), "{\n  \"graceTime\": 5\n}");
}

TEST(GoJson, OptionalFieldsActLikeGoPointers) {
  Spec spec;
  spec.set_exit_status(0);
  spec.set_source(Spec::STDOUT);
  EXPECT_EQ(MessageToGoJson(spec), R"({"exit_status":0,"source":1})");
  Spec empty;
  EXPECT_EQ(MessageToGoJson(empty), "{}");
  GoJsonWriteOptions all;
  all.emit_zero_values = true;
  EXPECT_THAT(MessageToGoJson(empty, all), HasSubstr(R"("grace_time":0)"));
}

TEST(GoJson, RoundTrips) {
  Spec spec;
  ASSERT_TRUE(GoJsonToMessage(kGaolCreate, &spec).ok());
  Spec back;
  ASSERT_TRUE(GoJsonToMessage(MessageToGoJson(spec), &back).ok());
  EXPECT_EQ(back.SerializeAsString(), spec.SerializeAsString());
}

}  // namespace
}  // namespace gdn
