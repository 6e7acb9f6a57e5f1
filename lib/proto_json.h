// Protobuf messages to and from JSON values by reflection, with protobuf's JSON mapping (field
// names or json_names, 64-bit integers as strings on output and numbers or strings on input,
// enums by name or number, maps as objects, null as unset). It replaces protobuf's own
// JsonStringToMessage and MessageToJsonString, whose first use builds a TypeResolver and the
// descriptors of google/protobuf/type.proto: a millisecond or more of every short command
// (image-store create, spawn), for no gain. Well-known types are not handled (no contract
// uses them).
#ifndef GDN_LIB_PROTO_JSON_H_
#define GDN_LIB_PROTO_JSON_H_

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace gdn {

// Fills `msg` (not cleared first) from `json`, which must be an object. InvalidArgument names
// the offending field by its path ("limits.memory").
absl::Status JsonToProto(const nlohmann::ordered_json& json, google::protobuf::Message* msg,
                         bool ignore_unknown_fields);

struct ProtoJsonOptions {
  bool json_names = false;          // keys as json_name instead of the declared name
  bool defaults = false;            // print scalars holding their default value
  bool enums_as_numbers = false;
  bool int64_as_numbers = false;    // Go's way, not protobuf's strings
};

nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& msg, const ProtoJsonOptions& options);

}  // namespace gdn

#endif  // GDN_LIB_PROTO_JSON_H_
