#include "lib/contract.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn {

absl::Status ParseJson(absl::string_view json, google::protobuf::Message* msg,
                       const ParseOptions& options) {
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = options.ignore_unknown_fields;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), msg, parse_options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", msg->GetDescriptor()->name(),
                                                   " document: ", status.message().ToString()));
  }
  return absl::OkStatus();
}

absl::Status ReadJsonMessage(absl::string_view path, google::protobuf::Message* msg,
                             const ParseOptions& options) {
  std::string data;
  if (path == "-") {
    ASSIGN_OR_RETURN(data, ReadAll(STDIN_FILENO));
  } else {
    ASSIGN_OR_RETURN(data, ReadFile(path));
  }
  absl::Status parsed = ParseJson(data, msg, options);
  if (!parsed.ok() && path != "-") return Annotate(parsed, std::string(path));
  return parsed;
}

std::string ToJson(const google::protobuf::Message& msg, const PrintOptions& options) {
  google::protobuf::util::JsonPrintOptions print_options;
  print_options.preserve_proto_field_names = !options.json_names;
  print_options.add_whitespace = options.pretty;
  print_options.always_print_primitive_fields = options.defaults;
  std::string out;
  // Printing a valid message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(msg, &out, print_options);
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

absl::Status WriteJsonToStdout(const google::protobuf::Message& msg,
                               const PrintOptions& options) {
  return WriteAll(STDOUT_FILENO, ToJson(msg, options));
}

}  // namespace gdn
