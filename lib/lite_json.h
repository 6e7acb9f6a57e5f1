// JSON for messages of protobuf's lite runtime, which has no descriptors or reflection: the
// message's generated schema (lib/lite_json_schema.h) says what its fields are, and the JSON
// is translated to and from the message's binary form, which the lite runtime parses and
// writes. Reading and writing give exactly what lib/contract.h and lib/gojson.h give for the
// same message built with the full runtime (lite_json_test holds them side by side).
//
// Why: a binary that links the full runtime registers descriptor.proto's descriptors at
// start-up, and one that reads JSON by reflection builds its own messages' descriptors on
// first use; for netns, a short-lived setuid helper run twice per container, that was a fifth
// of its CPU.
//
// cc_proto(lite = True) generates, next to <file>.pb.h, <file>.schema.h with one
// `JsonSchemaOf(const M&)` per message M, found by argument-dependent lookup by the
// templates at the end.
#ifndef GDN_LIB_LITE_JSON_H_
#define GDN_LIB_LITE_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "lib/json_options.h"
#include "lib/lite_json_schema.h"

namespace gdn {

// As ParseJson (lib/contract.h): exact keys (names or json_names), unknown ones refused
// unless told otherwise. `msg` is cleared first.
absl::Status ParseLiteJson(absl::string_view json, const lite_json::MessageSchema& schema,
                           google::protobuf::MessageLite* msg, const ParseOptions& options = {});

// As ToJson (lib/contract.h): text followed by a newline.
std::string LiteToJson(const google::protobuf::MessageLite& msg,
                       const lite_json::MessageSchema& schema, const PrintOptions& options = {});

// As ReadJsonMessage (lib/contract.h): from the file `path` (named in errors), or from stdin
// when `path` is "-".
absl::Status ReadLiteJson(absl::string_view path, const lite_json::MessageSchema& schema,
                          google::protobuf::MessageLite* msg, const ParseOptions& options = {});

// As WriteJsonToStdout (lib/contract.h).
absl::Status WriteLiteJsonToStdout(const google::protobuf::MessageLite& msg,
                                   const lite_json::MessageSchema& schema,
                                   const PrintOptions& options = {});

// As GoJsonToMessage (lib/gojson.h): keys matched as Go does, 64-bit integers as numbers or
// strings, unknown keys ignored by default. `msg` is cleared first.
absl::Status GoJsonToLite(absl::string_view json, const lite_json::MessageSchema& schema,
                          google::protobuf::MessageLite* msg,
                          const GoJsonReadOptions& options = {});

// As MessageToGoJson (lib/gojson.h).
std::string LiteToGoJson(const google::protobuf::MessageLite& msg,
                         const lite_json::MessageSchema& schema,
                         const GoJsonWriteOptions& options = {});

// The same, with the schema of the message's type.
template <typename M>
absl::Status ParseLiteJson(absl::string_view json, M* msg, const ParseOptions& options = {}) {
  return ParseLiteJson(json, JsonSchemaOf(*msg), msg, options);
}
template <typename M>
std::string LiteToJson(const M& msg, const PrintOptions& options = {}) {
  return LiteToJson(msg, JsonSchemaOf(msg), options);
}
template <typename M>
absl::Status ReadLiteJson(absl::string_view path, M* msg, const ParseOptions& options = {}) {
  return ReadLiteJson(path, JsonSchemaOf(*msg), msg, options);
}
template <typename M>
absl::Status WriteLiteJsonToStdout(const M& msg, const PrintOptions& options = {}) {
  return WriteLiteJsonToStdout(msg, JsonSchemaOf(msg), options);
}
template <typename M>
absl::Status GoJsonToLite(absl::string_view json, M* msg, const GoJsonReadOptions& options = {}) {
  return GoJsonToLite(json, JsonSchemaOf(*msg), msg, options);
}
template <typename M>
std::string LiteToGoJson(const M& msg, const GoJsonWriteOptions& options = {}) {
  return LiteToGoJson(msg, JsonSchemaOf(msg), options);
}

}  // namespace gdn

#endif  // GDN_LIB_LITE_JSON_H_
