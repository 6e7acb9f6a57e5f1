#include "lib/proto_json.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "lib/json_value.h"
#include "lib/status.h"
#include "lib/wire.h"

namespace gdn {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Json = nlohmann::ordered_json;

using json_value::Bad;
using json_value::Integer;

absl::Status Value(const Json& v, const FieldDescriptor* f, const std::string& path, Message* msg, bool repeated,
                   bool ignore_unknown);

// `msg` with field `f` added to it in protobuf's binary form: `payload` (an encoded message)
// under f's tag. Parsing it leaves the new sub-message where the generated code puts it.
void MergeEncodedField(Message* msg, const FieldDescriptor* f, const std::string& payload) {
  std::string encoded;
  wire::PutBytes(&encoded, f->number(), payload);
  msg->MergeFromString(encoded);
}

// A sub-message of `msg` in its message field `f` (a new one appended, when f is repeated),
// made without Reflection's AddMessage or MutableMessage on an unset field. Those ask the
// generated MessageFactory for the sub-message's prototype, and that factory's first lookup
// makes protobuf build the descriptors of descriptor.proto itself (DescriptorPool::
// generated_pool forces them in): ~0.3 ms of CPU in every short-lived binary that reads
// JSON. An empty sub-message parsed into place needs no prototype.
Message* NewSubMessage(Message* msg, const FieldDescriptor* f) {
  const Reflection* r = msg->GetReflection();
  if (!f->is_repeated() && r->HasField(*msg, f)) return r->MutableMessage(msg, f);
  MergeEncodedField(msg, f, "");
  return f->is_repeated() ? r->MutableRepeatedMessage(msg, f, r->FieldSize(*msg, f) - 1) : r->MutableMessage(msg, f);
}

// Adds an entry for each of `keys` to map field `f` (with the value's default; one already
// there is replaced), by parsing entries that hold only their key; then the map's entries as
// messages, by key, for their values to be set. All entries are added before any is
// changed through Reflection: once its entries have been changed as messages, a map no
// longer takes parsed ones into account.
std::map<std::string, Message*> AddMapEntries(Message* msg, const FieldDescriptor* f,
                                              const std::vector<std::string>& keys) {
  const FieldDescriptor* kf = f->message_type()->map_key();
  for (const std::string& key : keys) {
    std::string entry;
    wire::PutBytes(&entry, kf->number(), key);
    MergeEncodedField(msg, f, entry);
  }
  std::map<std::string, Message*> entries;
  const Reflection* r = msg->GetReflection();
  for (int i = 0; i < r->FieldSize(*msg, f); ++i) {
    Message* e = r->MutableRepeatedMessage(msg, f, i);
    entries[e->GetReflection()->GetString(*e, kf)] = e;
  }
  return entries;
}

absl::Status Object(const Json& json, Message* msg, const std::string& path, bool ignore_unknown) {
  if (!json.is_object()) return Bad(path, "expected an object");
  const Descriptor* d = msg->GetDescriptor();
  const Reflection* r = msg->GetReflection();
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    const FieldDescriptor* f = d->FindFieldByName(key);
    for (int i = 0; f == nullptr && i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == key) f = d->field(i);
    }
    std::string sub = json_value::Member(path, key);
    if (f == nullptr) {
      if (ignore_unknown) continue;
      return Bad(sub, absl::StrCat("no such field in ", d->name()));
    }
    const Json& v = it.value();
    if (v.is_null()) {
      r->ClearField(msg, f);
      continue;
    }
    if (f->is_map()) {
      if (!v.is_object()) return Bad(sub, "expected an object (a map)");
      const Descriptor* entry = f->message_type();
      const FieldDescriptor* kf = entry->map_key();
      const FieldDescriptor* vf = entry->map_value();
      if (kf->cpp_type() != FieldDescriptor::CPPTYPE_STRING) return Bad(sub, "only string map keys are handled");
      std::map<std::string, const Json*> given;  // a key given twice: its last value
      for (auto e = v.begin(); e != v.end(); ++e) given[e.key()] = &e.value();
      std::vector<std::string> keys;
      for (const auto& [k, _] : given) keys.push_back(k);
      std::map<std::string, Message*> entries = AddMapEntries(msg, f, keys);
      for (const auto& [k, value] : given) {
        auto entry = entries.find(k);
        if (entry == entries.end()) return Bad(sub, absl::StrCat("cannot add the map entry ", k));
        RETURN_IF_ERROR(Value(*value, vf, absl::StrCat(sub, "[", k, "]"), entry->second, false, ignore_unknown));
      }
      continue;
    }
    if (f->is_repeated()) {
      if (!v.is_array()) return Bad(sub, "expected an array");
      for (size_t i = 0; i < v.size(); ++i) {
        RETURN_IF_ERROR(Value(v[i], f, absl::StrCat(sub, "[", i, "]"), msg, true, ignore_unknown));
      }
      continue;
    }
    RETURN_IF_ERROR(Value(v, f, sub, msg, false, ignore_unknown));
  }
  return absl::OkStatus();
}

absl::Status Value(const Json& v, const FieldDescriptor* f, const std::string& path, Message* msg, bool repeated,
                   bool ignore_unknown) {
  const Reflection* r = msg->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      return Object(v, NewSubMessage(msg, f), path, ignore_unknown);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s;
      RETURN_IF_ERROR(json_value::String(v, path, f->type() == FieldDescriptor::TYPE_BYTES, &s));
      repeated ? r->AddString(msg, f, s) : r->SetString(msg, f, s);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b = false;
      RETURN_IF_ERROR(json_value::Bool(v, path, &b));
      repeated ? r->AddBool(msg, f, b) : r->SetBool(msg, f, b);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t n = 0;
      RETURN_IF_ERROR(Integer(v, path, &n));
      repeated ? r->AddInt32(msg, f, n) : r->SetInt32(msg, f, n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t n = 0;
      RETURN_IF_ERROR(Integer(v, path, &n));
      repeated ? r->AddInt64(msg, f, n) : r->SetInt64(msg, f, n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t n = 0;
      RETURN_IF_ERROR(Integer(v, path, &n));
      repeated ? r->AddUInt32(msg, f, n) : r->SetUInt32(msg, f, n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t n = 0;
      RETURN_IF_ERROR(Integer(v, path, &n));
      repeated ? r->AddUInt64(msg, f, n) : r->SetUInt64(msg, f, n);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double d = 0;
      RETURN_IF_ERROR(json_value::Number(v, path, &d));
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        repeated ? r->AddDouble(msg, f, d) : r->SetDouble(msg, f, d);
      } else {
        repeated ? r->AddFloat(msg, f, static_cast<float>(d)) : r->SetFloat(msg, f, static_cast<float>(d));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* e = nullptr;
      if (v.is_string()) {
        e = f->enum_type()->FindValueByName(v.get<std::string>());
      } else if (v.is_number_integer()) {
        e = f->enum_type()->FindValueByNumber(v.get<int>());
      }
      if (e == nullptr) return Bad(path, absl::StrCat("not a value of ", f->enum_type()->name()));
      repeated ? r->AddEnum(msg, f, e) : r->SetEnum(msg, f, e);
      return absl::OkStatus();
    }
  }
  return Bad(path, "unsupported field type");
}

Json Scalar(const Message& msg, const FieldDescriptor* f, int index, const ProtoJsonOptions& o) {
  const Reflection* r = msg.GetReflection();
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r->GetRepeatedMessage(msg, f, index) : r->GetMessage(msg, f), o);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(msg, f, index) : r->GetString(msg, f);
      if (f->type() == FieldDescriptor::TYPE_BYTES) return absl::Base64Escape(s);
      return s;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(msg, f, index) : r->GetBool(msg, f);
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(msg, f, index) : r->GetInt32(msg, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(msg, f, index) : r->GetUInt32(msg, f);
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t n = rep ? r->GetRepeatedInt64(msg, f, index) : r->GetInt64(msg, f);
      return o.int64_as_numbers ? Json(n) : Json(std::to_string(n));
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t n = rep ? r->GetRepeatedUInt64(msg, f, index) : r->GetUInt64(msg, f);
      return o.int64_as_numbers ? Json(n) : Json(std::to_string(n));
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r->GetRepeatedDouble(msg, f, index) : r->GetDouble(msg, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(msg, f, index) : r->GetFloat(msg, f);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumValueDescriptor* e = rep ? r->GetRepeatedEnum(msg, f, index) : r->GetEnum(msg, f);
      return o.enums_as_numbers ? Json(e->number()) : Json(e->name());
    }
  }
  return nullptr;
}

}  // namespace

absl::Status JsonToProto(const Json& json, Message* msg, bool ignore_unknown_fields) {
  return Object(json, msg, "", ignore_unknown_fields);
}

Json ProtoToJson(const Message& msg, const ProtoJsonOptions& o) {
  Json out = Json::object();
  const Descriptor* d = msg.GetDescriptor();
  const Reflection* r = msg.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    std::string key = o.json_names ? f->json_name() : f->name();
    if (f->is_map()) {
      int n = r->FieldSize(msg, f);
      if (n == 0 && !o.defaults) continue;
      // Sorted by key, so that output is stable.
      std::map<std::string, Json> entries;
      for (int k = 0; k < n; ++k) {
        const Message& e = r->GetRepeatedMessage(msg, f, k);
        const Descriptor* ed = e.GetDescriptor();
        entries[e.GetReflection()->GetString(e, ed->map_key())] = Scalar(e, ed->map_value(), -1, o);
      }
      Json obj = Json::object();
      for (auto& [k, v] : entries) obj[k] = std::move(v);
      out[key] = std::move(obj);
    } else if (f->is_repeated()) {
      int n = r->FieldSize(msg, f);
      if (n == 0 && !o.defaults) continue;
      Json arr = Json::array();
      for (int k = 0; k < n; ++k) arr.push_back(Scalar(msg, f, k, o));
      out[key] = std::move(arr);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE || f->has_presence()) {
      if (r->HasField(msg, f)) out[key] = Scalar(msg, f, -1, o);
    } else {
      if (!o.defaults && !r->HasField(msg, f)) continue;  // proto3: "has" means not default
      out[key] = Scalar(msg, f, -1, o);
    }
  }
  return out;
}

}  // namespace gdn
