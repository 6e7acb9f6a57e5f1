#include "lib/gojson.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
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

bool Is64Bit(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

// Protobuf prints 64-bit integers as strings; Go peers want numbers.
void NumberFrom(Json& value, const FieldDescriptor* f) {
  if (!value.is_string()) return;
  const std::string& s = value.get_ref<const std::string&>();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
    int64_t n;
    if (absl::SimpleAtoi(s, &n)) value = n;
  } else {
    uint64_t n;
    if (absl::SimpleAtoi(s, &n)) value = n;
  }
}

void Numberize(Json& node, const Descriptor* d) {
  if (!node.is_object() || IsWellKnown(d)) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const FieldDescriptor* f = d->FindFieldByName(it.key());
    for (int i = 0; f == nullptr && i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == it.key()) f = d->field(i);
    }
    if (f == nullptr) continue;
    Json& value = it.value();
    if (f->is_map()) {
      const FieldDescriptor* v = f->message_type()->map_value();
      for (auto& [k, entry] : value.items()) {
        (void)k;
        if (Is64Bit(v)) NumberFrom(entry, v);
        if (v->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) Numberize(entry, v->message_type());
      }
    } else if (f->is_repeated() && value.is_array()) {
      for (Json& entry : value) {
        if (Is64Bit(f)) NumberFrom(entry, f);
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) Numberize(entry, f->message_type());
      }
    } else if (Is64Bit(f)) {
      NumberFrom(value, f);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Numberize(value, f->message_type());
    }
  }
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
  std::string normalized = doc.dump();
  google::protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = options.ignore_unknown_fields;
  auto status = google::protobuf::util::JsonStringToMessage(normalized, msg, parse_options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", msg->GetDescriptor()->name(), ": ", status.message().ToString()));
  }
  return absl::OkStatus();
}

std::string MessageToGoJson(const google::protobuf::Message& msg,
                            const GoJsonWriteOptions& options) {
  google::protobuf::util::JsonPrintOptions print_options;
  print_options.preserve_proto_field_names = !options.json_names;
  print_options.always_print_primitive_fields = options.emit_zero_values;
  print_options.always_print_enums_as_ints = options.enums_as_numbers;
  std::string text;
  (void)google::protobuf::util::MessageToJsonString(msg, &text, print_options);
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  Numberize(doc, msg.GetDescriptor());
  return doc.dump(options.indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace gdn
