// Contract I/O: every file or stream that passes between two gdn binaries is one protobuf
// message written as JSON with the protobuf library's mapping (snake_case field names).
#ifndef GDN_LIB_CONTRACT_H_
#define GDN_LIB_CONTRACT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "lib/json_options.h"

namespace gdn {

// Parses JSON text into `msg`. A malformed document or an unknown field is InvalidArgument
// with a message that names the offending field.
absl::Status ParseJson(absl::string_view json, google::protobuf::Message* msg,
                       const ParseOptions& options = {});

// Reads one message from the file `path`, or from stdin when `path` is "-".
absl::Status ReadJsonMessage(absl::string_view path, google::protobuf::Message* msg,
                             const ParseOptions& options = {});

// The message as JSON text, followed by a newline.
std::string ToJson(const google::protobuf::Message& msg, const PrintOptions& options = {});

// Writes ToJson(msg) to stdout.
absl::Status WriteJsonToStdout(const google::protobuf::Message& msg,
                               const PrintOptions& options = {});

}  // namespace gdn

#endif  // GDN_LIB_CONTRACT_H_
