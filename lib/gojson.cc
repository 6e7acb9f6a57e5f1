#include "lib/gojson.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "lib/proto_json.h"
#include "nlohmann/json.hpp"

namespace gdn {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

// Messages whose JSON form is not an object of fields (Struct, Value, Timestamp, ...):
// their content is passed through untouched.
bool IsWellKnown(const Descriptor* d) {
  return absl::StartsWith(d->full_name(), "google.protobuf.");
}

// Go's rule: a key names the field whose name equals it, else the first whose name equals
// it without regard to (ASCII) case. We accept the proto name and the lowerCamel json_name.
const FieldDescriptor* FindField(const Descriptor* d, const std::string& key) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->name() == key || f->json_name() == key) return f;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (absl::EqualsIgnoreCase(f->name(), key) || absl::EqualsIgnoreCase(f->json_name(), key)) {
      return f;
    }
  }
  return nullptr;
}

// Renames the keys of `node` (an object for message `d`) to exact field names, recursively.
absl::Status Canonicalize(Json& node, const Descriptor* d, const GoJsonReadOptions& options,
                          const std::string& where) {
  if (!node.is_object() || IsWellKnown(d)) return absl::OkStatus();
  Json out = Json::object();
  for (auto it = node.begin(); it != node.end(); ++it) {
    const FieldDescriptor* f = FindField(d, it.key());
    std::string path = where.empty() ? it.key() : absl::StrCat(where, ".", it.key());
    if (f == nullptr) {
      if (options.ignore_unknown_fields) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", path, "\" in ", d->name()));
    }
    Json value = it.value();
    if (f->is_map()) {
      const FieldDescriptor* v = f->message_type()->map_value();
      if (v->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && value.is_object()) {
        for (auto& [k, entry] : value.items()) {
          absl::Status s =
              Canonicalize(entry, v->message_type(), options, absl::StrCat(path, "[", k, "]"));
          if (!s.ok()) return s;
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated() && value.is_array()) {
        for (size_t i = 0; i < value.size(); ++i) {
          absl::Status s =
              Canonicalize(value[i], f->message_type(), options, absl::StrCat(path, "[", i, "]"));
          if (!s.ok()) return s;
        }
      } else {
        absl::Status s = Canonicalize(value, f->message_type(), options, path);
        if (!s.ok()) return s;
      }
    }
    // Go keeps the last of duplicate keys; so does assignment here.
    out[f->name()] = std::move(value);
  }
  node = std::move(out);
  return absl::OkStatus();
}

}  // namespace

absl::Status GoJsonToMessage(absl::string_view json, google::protobuf::Message* msg,
                             const GoJsonReadOptions& options) {
  msg->Clear();
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON for ", msg->GetDescriptor()->name()));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object for ", msg->GetDescriptor()->name()));
  }
  absl::Status canonical = Canonicalize(doc, msg->GetDescriptor(), options, "");
  if (!canonical.ok()) return canonical;
  absl::Status parsed = JsonToProto(doc, msg, options.ignore_unknown_fields);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", msg->GetDescriptor()->name(), ": ", parsed.message()));
  }
  return absl::OkStatus();
}

std::string MessageToGoJson(const google::protobuf::Message& msg,
                            const GoJsonWriteOptions& options) {
  ProtoJsonOptions o;
  o.json_names = options.json_names;
  o.defaults = options.emit_zero_values;
  o.enums_as_numbers = options.enums_as_numbers;
  o.int64_as_numbers = true;
  Json doc = ProtoToJson(msg, o);
  return doc.dump(options.indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace gdn
