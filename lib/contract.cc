#include "lib/contract.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lib/proto_json.h"
#include "nlohmann/json.hpp"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn {

absl::Status ParseJson(absl::string_view json, google::protobuf::Message* msg,
                       const ParseOptions& options) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(json.begin(), json.end(), nullptr, false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", msg->GetDescriptor()->name(),
                                                   " document: malformed JSON"));
  }
  absl::Status s = JsonToProto(doc, msg, options.ignore_unknown_fields);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", msg->GetDescriptor()->name(),
                                                   " document: ", s.message()));
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
  ProtoJsonOptions o;
  o.json_names = options.json_names;
  o.defaults = options.defaults;
  return ProtoToJson(msg, o).dump(options.pretty ? 2 : -1, ' ', false,
                                  nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

absl::Status WriteJsonToStdout(const google::protobuf::Message& msg,
                               const PrintOptions& options) {
  return WriteAll(STDOUT_FILENO, ToJson(msg, options));
}

}  // namespace gdn
