#include "lib/proto_json.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "lib/testdata/sample.pb.h"

namespace gdn {
namespace {

using ::gdn::testdata::Spec;
using Json = nlohmann::ordered_json;

TEST(ProtoJson, FillsSubMessagesRepeatedMessagesAndMaps) {
  Spec spec;
  Json j = Json::parse(R"({
    "limits": {"cpu_weight": 3, "memory_limits": {"limit_in_bytes": 7}},
    "bind_mounts": [{"src_path": "/a"}, {"src_path": "/b", "mode": 1}, {}],
    "properties": {"x": "1", "y": "2", "x": "3"},
    "named_limits": {"k": {"cpu_weight": 4}, "j": {"memory_limits": {"limit_in_bytes": 9}}}
  })");
  absl::Status s = JsonToProto(j, &spec, false);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.limits().cpu_weight(), 3);
  EXPECT_EQ(spec.limits().memory_limits().limit_in_bytes(), 7u);
  ASSERT_EQ(spec.bind_mounts_size(), 3);
  EXPECT_EQ(spec.bind_mounts(0).src_path(), "/a");
  EXPECT_EQ(spec.bind_mounts(1).src_path(), "/b");
  EXPECT_EQ(spec.bind_mounts(1).mode(), 1);
  EXPECT_EQ(spec.bind_mounts(2).src_path(), "");
  EXPECT_EQ(spec.properties().size(), 2u);
  EXPECT_EQ(spec.properties().at("x"), "3");  // the last of a repeated key
  EXPECT_EQ(spec.properties().at("y"), "2");
  ASSERT_EQ(spec.named_limits().size(), 2u);
  EXPECT_EQ(spec.named_limits().at("k").cpu_weight(), 4);
  EXPECT_EQ(spec.named_limits().at("j").memory_limits().limit_in_bytes(), 9u);
}

TEST(ProtoJson, MergesIntoWhatIsThereAndNullClears) {
  Spec spec;
  spec.mutable_limits()->set_cpu_weight(5);
  spec.add_bind_mounts()->set_src_path("/old");
  (*spec.mutable_properties())["kept"] = "yes";
  (*spec.mutable_named_limits())["k"].set_cpu_weight(1);
  Json j = Json::parse(R"({"limits": {"memory_limits": {"limit_in_bytes": 2}},
                           "bind_mounts": [{"src_path": "/new"}],
                           "properties": {"more": "1"},
                           "named_limits": {"k": {"memory_limits": {"limit_in_bytes": 6}}},
                           "image": null})");
  spec.mutable_image()->set_uri("gone");
  ASSERT_TRUE(JsonToProto(j, &spec, false).ok());
  EXPECT_EQ(spec.limits().cpu_weight(), 5);
  EXPECT_EQ(spec.limits().memory_limits().limit_in_bytes(), 2u);
  ASSERT_EQ(spec.bind_mounts_size(), 2);
  EXPECT_EQ(spec.bind_mounts(1).src_path(), "/new");
  EXPECT_EQ(spec.properties().at("kept"), "yes");
  EXPECT_EQ(spec.properties().at("more"), "1");
  // A map entry given again is replaced, as protobuf's own parsers do.
  EXPECT_EQ(spec.named_limits().at("k").cpu_weight(), 0);
  EXPECT_EQ(spec.named_limits().at("k").memory_limits().limit_in_bytes(), 6u);
  EXPECT_FALSE(spec.has_image());
}

TEST(ProtoJson, ErrorsNameTheFieldInsideSubMessages) {
  Spec spec;
  absl::Status s = JsonToProto(Json::parse(R"({"named_limits": {"k": {"cpu_weight": "x"}}})"), &spec, false);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("named_limits[k].cpu_weight"));
  s = JsonToProto(Json::parse(R"({"bind_mounts": [{"mode": true}]})"), &spec, false);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("bind_mounts[0].mode"));
}

// Reading and writing JSON does not make protobuf build descriptor.proto's descriptors (a
// third of a millisecond at every start of a short-lived binary): checked in a child process,
// where nothing else has used protobuf yet.
TEST(ProtoJson, DoesNotBuildDescriptorProto) {
  EXPECT_EXIT(
      {
        Spec spec;
        Json j = Json::parse(R"({"limits": {"cpu_weight": 3}, "bind_mounts": [{"src_path": "/a"}],
                                 "named_limits": {"k": {"cpu_weight": 4}}, "properties": {"a": "b"}})");
        bool ok = JsonToProto(j, &spec, false).ok();
        Json back = ProtoToJson(spec, {});
        ok = ok && back["named_limits"]["k"]["cpu_weight"] == "4";
        bool built = google::protobuf::DescriptorPool::internal_generated_pool()->InternalIsFileLoaded(
            "google/protobuf/descriptor.proto");
        std::exit(!ok ? 2 : built ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gdn
