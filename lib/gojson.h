// The JSON codec for Go peers (Garden clients, image and network plugins).
//
// Protobuf messages stay the schema, but Go's encoding/json differs from protobuf's JSON
// mapping in two ways that matter on the wire: it writes 64-bit integers as numbers (protobuf
// writes them as strings), and it matches object keys without regard to case (protobuf
// matches exactly). This codec bridges both: on input, keys are matched to fields the way Go
// does (exact match first, then ASCII case-insensitively) and 64-bit integers are accepted as
// numbers or strings; on output, 64-bit integers are printed as numbers. Everything else
// (escapes such as \u003e and surrogate pairs, enums as numbers, maps, nested messages,
// well-known types) follows protobuf's JSON mapping. Every Go-facing body goes through here.
#ifndef GDN_LIB_GOJSON_H_
#define GDN_LIB_GOJSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "lib/json_options.h"

namespace gdn {

// Parses JSON from a Go peer into `msg` (cleared first). InvalidArgument on malformed input.
absl::Status GoJsonToMessage(absl::string_view json, google::protobuf::Message* msg,
                             const GoJsonReadOptions& options = {});

// The message as compact JSON for a Go peer, without a trailing newline.
std::string MessageToGoJson(const google::protobuf::Message& msg,
                            const GoJsonWriteOptions& options = {});

}  // namespace gdn

#endif  // GDN_LIB_GOJSON_H_
