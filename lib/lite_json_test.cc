// lib/lite_json against the reflection codecs it stands in for: the same documents read
// through lib/gojson.h and lib/contract.h into sample.proto's Spec (full runtime) and through
// lib/lite_json.h into the same Spec built for the lite runtime (sample_lite.proto) must give
// the same answers, errors word for word, and print back the same JSON with every option.
#include "lib/lite_json.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/contract.h"
#include "lib/gojson.h"
#include "lib/testdata/sample.pb.h"
#include "lib/testdata/sample_lite.pb.h"
#include "lib/testdata/sample_lite.schema.h"

namespace gdn {
namespace {

using Full = testdata::Spec;
using Lite = testdata::lite::Spec;

// Documents of every shape: nested and repeated messages, maps of strings and of messages,
// 64-bit integers as numbers and strings at their limits, an optional scalar at zero, enums
// by name and number, bytes-free doubles aside (Spec has none), nulls, keys twice, unknown
// keys, Go's key spellings, and the wrong type in each kind of place.
const std::vector<std::string> kDocuments = {
    R"({})",
    R"({"handle":"foo","grace_time":30000000000,"image":{"uri":"docker:///alpine"},)"
    R"("bind_mounts":[{"src_path":"/tmp","dst_path":"/mnt","mode":-3}],"network":"10.1.0.0/24",)"
    R"("env":["A=1","B=\u003e\ud83d\ude00"],"limits":{"memory_limits":{}},"privileged":true})",
    R"({"graceTime":"-9223372036854775808","ids":[18446744073709551615,"1",0],"exitStatus":0})",
    R"({"properties":{"b":"2","a":"1","":""},"named_limits":{"k":{"cpu_weight":-1},"e":{}}})",
    R"({"source":"STDERR","args":[]})",
    R"({"source":1,"limits":{"cpu_weight":"7","memory_limits":{"limit_in_bytes":5}}})",
    R"({"handle":"first","handle":"second","image":null,"env":null})",
    R"({"limits":{"cpu_weight":1},"limits":{"memory_limits":{"limit_in_bytes":2}}})",
    R"({"handle":"a","rootfs":"","extra":{"x":[1]}})",
    R"({"limits":{"nope":1}})",
    R"({"HANDLE":"a","Grace_Time":5,"Limits":{"Memory_Limits":{"LIMIT_IN_BYTES":7}},)"
    R"("Named_Limits":{"Key":{"CPU_WEIGHT":3}},"bind_MOUNTS":[{"SRC_path":"/x"}]})",
    R"({"grace_time":"x"})",
    R"({"grace_time":1.5})",
    R"({"grace_time":2.0,"exit_status":-1})",
    R"({"exit_status":2147483648})",
    R"({"ids":[-1]})",
    R"({"ids":7})",
    R"({"properties":{"a":1}})",
    R"({"properties":[]})",
    R"({"named_limits":{"k":{"cpu_weight":"x"}}})",
    R"({"named_limits":{"k":null}})",
    R"({"bind_mounts":[{"mode":true}]})",
    R"({"bind_mounts":[null]})",
    R"({"image":"alpine"})",
    R"({"privileged":"yes"})",
    R"({"source":"STDWHAT"})",
    R"({"source":9})",
    R"({"handle":7})",
    // One field named twice (name and json_name): taken in turn by protobuf's mapping, the
    // last kept by Go's; and a bad value before an unknown key.
    R"({"bind_mounts":[{"src_path":"/a"}],"bindMounts":[{"src_path":"/b"}]})",
    R"({"properties":{"a":"1"},"exit_status":3,"exitStatus":null,"source":1,"source":"STDERR"})",
    R"({"limits":{"memory_limits":{"limit_in_bytes":1},"memoryLimits":{}}})",
    R"({"grace_time":"x","graceTime":1})",
    R"({"handle":7,"nope":1})",
    // Integral doubles at and past the 64-bit limits.
    R"({"ids":[18446744073709551616]})",
    R"({"grace_time":9.223372036854775808e18})",
    R"({"grace_time":-9.223372036854775808e18,"exit_status":2147483648.0})",
    R"([1,2])",
    R"("a")",
    R"({"handle":)",
    R"()",
};

std::string Describe(const absl::Status& s) { return s.ok() ? "ok" : s.ToString(); }

TEST(LiteJson, ReadsAndWritesGoJsonAsGojsonDoes) {
  for (bool ignore_unknown : {true, false}) {
    for (const std::string& doc : kDocuments) {
      SCOPED_TRACE(doc + (ignore_unknown ? "" : " (unknown keys refused)"));
      Full full;
      Lite lite;
      absl::Status f = GoJsonToMessage(doc, &full, {ignore_unknown});
      absl::Status l = GoJsonToLite(doc, &lite, {ignore_unknown});
      // gojson finds unknown keys everywhere before it reads any value; lite_json reads in
      // one pass and reports the first problem. Only documents with one of them compare.
      if (!ignore_unknown && !f.ok() && !l.ok()) continue;
      ASSERT_EQ(Describe(l), Describe(f));
      if (!f.ok()) continue;
      for (bool zeros : {false, true}) {
        for (bool names : {false, true}) {
          for (bool enum_numbers : {false, true}) {
            GoJsonWriteOptions o;
            o.emit_zero_values = zeros;
            o.json_names = names;
            o.enums_as_numbers = enum_numbers;
            EXPECT_EQ(LiteToGoJson(lite, o), MessageToGoJson(full, o));
          }
        }
      }
      GoJsonWriteOptions indented;
      indented.indent = 2;
      EXPECT_EQ(LiteToGoJson(lite, indented), MessageToGoJson(full, indented));
    }
  }
}

TEST(LiteJson, ReadsAndWritesContractJsonAsContractDoes) {
  for (bool ignore_unknown : {false, true}) {
    for (const std::string& doc : kDocuments) {
      SCOPED_TRACE(doc + (ignore_unknown ? " (unknown keys ignored)" : ""));
      Full full;
      Lite lite;
      absl::Status f = ParseJson(doc, &full, {ignore_unknown});
      absl::Status l = ParseLiteJson(doc, &lite, {ignore_unknown});
      ASSERT_EQ(Describe(l), Describe(f));
      if (!f.ok()) continue;
      for (bool pretty : {false, true}) {
        for (bool names : {false, true}) {
          for (bool defaults : {false, true}) {
            PrintOptions o;
            o.pretty = pretty;
            o.json_names = names;
            o.defaults = defaults;
            EXPECT_EQ(LiteToJson(lite, o), ToJson(full, o));
          }
        }
      }
    }
  }
}

TEST(LiteJson, ClearsTheMessageFirst) {
  Lite lite;
  lite.set_handle("old");
  lite.add_env("X=1");
  ASSERT_TRUE(GoJsonToLite(R"({"network":"n"})", &lite).ok());
  EXPECT_EQ(LiteToGoJson(lite), R"({"network":"n"})");
  ASSERT_TRUE(ParseLiteJson(R"({"args":["a"]})", &lite).ok());
  EXPECT_EQ(LiteToJson(lite), "{\"args\":[\"a\"]}\n");
}

// The values of the message are the ones the document gave: read back through the lite
// runtime's own accessors, not only through lite_json's printing.
TEST(LiteJson, FillsTheGeneratedMessage) {
  Lite lite;
  ASSERT_TRUE(GoJsonToLite(R"({"Handle":"h","grace_time":"-5","ids":[1,18446744073709551615],)"
                           R"("named_limits":{"k":{"memory_limits":{"limit_in_bytes":9}}},)"
                           R"("exit_status":0,"source":"STDOUT","properties":{"a":"b"}})",
                           &lite)
                  .ok());
  EXPECT_EQ(lite.handle(), "h");
  EXPECT_EQ(lite.grace_time(), -5);
  ASSERT_EQ(lite.ids_size(), 2);
  EXPECT_EQ(lite.ids(1), 18446744073709551615u);
  EXPECT_EQ(lite.named_limits().at("k").memory_limits().limit_in_bytes(), 9u);
  EXPECT_TRUE(lite.has_exit_status());
  EXPECT_EQ(lite.source(), testdata::lite::Spec::STDOUT);
  EXPECT_EQ(lite.properties().at("a"), "b");
  // Integral doubles just past a 64-bit type's range do not fit it (they once became 0).
  EXPECT_FALSE(GoJsonToLite(R"({"ids":[18446744073709551616]})", &lite).ok());
  EXPECT_FALSE(GoJsonToLite(R"({"grace_time":9.223372036854775808e18})", &lite).ok());
  ASSERT_TRUE(GoJsonToLite(R"({"grace_time":-9.223372036854775808e18})", &lite).ok());
  EXPECT_EQ(lite.grace_time(), INT64_MIN);
}

}  // namespace
}  // namespace gdn
