#include "lib/lite_json.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/json_value.h"
#include "lib/status.h"
#include "lib/wire.h"
#include "nlohmann/json.hpp"

namespace gdn {
namespace {

using google::protobuf::MessageLite;
using json_value::Bad;
using json_value::Json;
using lite_json::EnumSchema;
using lite_json::FieldSchema;
using lite_json::Kind;
using lite_json::MessageSchema;
using wire::kFixed32;
using wire::kFixed64;
using wire::kLengthDelimited;
using wire::kVarint;
using wire::PutBytes;
using wire::PutFixed;
using wire::PutTag;
using wire::PutVarint;
using wire::ReadFixed;
using wire::ReadVarint;
using wire::WireType;

// ---- The binary form (lib/wire.h), read into fields ----

// One field's value on the wire: a varint or fixed-size number, or bytes.
struct WireValue {
  explicit WireValue(WireType t = kVarint) : type(t) {}
  WireType type;
  uint64_t number = 0;
  absl::string_view bytes;
};

// The fields of an encoded message by number, each with its values in order. The messages
// are the lite runtime's own encoding: anything it would not write ends the reading.
std::map<int, std::vector<WireValue>> ReadFields(absl::string_view in) {
  std::map<int, std::vector<WireValue>> fields;
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!ReadVarint(&in, &tag)) break;
    WireValue v(static_cast<WireType>(tag & 7));
    bool ok = false;
    switch (v.type) {
      case kVarint:
        ok = ReadVarint(&in, &v.number);
        break;
      case kFixed64:
        ok = ReadFixed(&in, 8, &v.number);
        break;
      case kFixed32:
        ok = ReadFixed(&in, 4, &v.number);
        break;
      case kLengthDelimited: {
        uint64_t size = 0;
        ok = ReadVarint(&in, &size) && size <= in.size();
        if (ok) {
          v.bytes = in.substr(0, size);
          in.remove_prefix(size);
        }
        break;
      }
    }
    if (!ok) break;
    fields[static_cast<int>(tag >> 3)].push_back(v);
  }
  return fields;
}

bool IsVarintKind(Kind k) {
  return k == Kind::kInt32 || k == Kind::kInt64 || k == Kind::kUInt32 || k == Kind::kUInt64 ||
         k == Kind::kBool || k == Kind::kEnum;
}

// ---- JSON to the binary form ----

struct ReadMode {
  bool go_keys;  // Go's key matching (lib/gojson.h) rather than protobuf's (lib/contract.h)
  bool ignore_unknown;
};

// The field a key names: its name or json_name exactly, else (Go) either without regard to
// ASCII case.
const FieldSchema* FindField(const MessageSchema& s, const std::string& key, bool go_keys) {
  for (int i = 0; i < s.field_count; ++i) {
    if (key == s.fields[i].name || key == s.fields[i].json_name) return &s.fields[i];
  }
  for (int i = 0; go_keys && i < s.field_count; ++i) {
    if (absl::EqualsIgnoreCase(s.fields[i].name, key) ||
        absl::EqualsIgnoreCase(s.fields[i].json_name, key)) {
      return &s.fields[i];
    }
  }
  return nullptr;
}

// Where a value is: `path` in error messages about the value (keys as fields' names for Go
// input, as given otherwise), `given` in those about an unknown key (keys as given).
struct Where {
  std::string path;
  std::string given;
  Where Index(absl::string_view i) const {
    return {absl::StrCat(path, "[", i, "]"), absl::StrCat(given, "[", i, "]")};
  }
};

absl::Status EncodeObject(const Json& obj, const MessageSchema& s, const ReadMode& mode,
                          const Where& where, std::string* out);

absl::Status EncodeValue(const Json& v, const FieldSchema& f, const ReadMode& mode,
                         const Where& where, std::string* out) {
  const std::string& path = where.path;
  switch (f.kind) {
    case Kind::kMessage: {
      std::string payload;
      RETURN_IF_ERROR(EncodeObject(v, *f.message, mode, where, &payload));
      PutBytes(out, f.number, payload);
      return absl::OkStatus();
    }
    case Kind::kString:
    case Kind::kBytes: {
      std::string s;
      RETURN_IF_ERROR(json_value::String(v, path, f.kind == Kind::kBytes, &s));
      PutBytes(out, f.number, s);
      return absl::OkStatus();
    }
    case Kind::kDouble:
    case Kind::kFloat: {
      double d = 0;
      RETURN_IF_ERROR(json_value::Number(v, path, &d));
      uint64_t bits = 0;
      if (f.kind == Kind::kDouble) {
        std::memcpy(&bits, &d, 8);
        PutFixed(out, f.number, bits, 8);
      } else {
        float x = static_cast<float>(d);
        uint32_t b32 = 0;
        std::memcpy(&b32, &x, 4);
        PutFixed(out, f.number, b32, 4);
      }
      return absl::OkStatus();
    }
    default:
      break;
  }
  uint64_t n = 0;  // a varint: what the generated code writes for the kind
  switch (f.kind) {
    case Kind::kBool: {
      bool b = false;
      RETURN_IF_ERROR(json_value::Bool(v, path, &b));
      n = b;
      break;
    }
    case Kind::kInt32: {
      int32_t i = 0;
      RETURN_IF_ERROR(json_value::Integer(v, path, &i));
      n = static_cast<uint64_t>(static_cast<int64_t>(i));
      break;
    }
    case Kind::kInt64: {
      int64_t i = 0;
      RETURN_IF_ERROR(json_value::Integer(v, path, &i));
      n = static_cast<uint64_t>(i);
      break;
    }
    case Kind::kUInt32: {
      uint32_t u = 0;
      RETURN_IF_ERROR(json_value::Integer(v, path, &u));
      n = u;
      break;
    }
    case Kind::kUInt64:
      RETURN_IF_ERROR(json_value::Integer(v, path, &n));
      break;
    case Kind::kEnum: {
      const EnumSchema& e = *f.enum_type;
      const lite_json::EnumValue* found = nullptr;
      for (int i = 0; found == nullptr && i < e.value_count; ++i) {
        if ((v.is_string() && v.get_ref<const std::string&>() == e.values[i].name) ||
            (v.is_number_integer() && v.get<int>() == e.values[i].number)) {
          found = &e.values[i];
        }
      }
      if (found == nullptr) return Bad(path, absl::StrCat("not a value of ", e.name));
      n = static_cast<uint64_t>(static_cast<int64_t>(found->number));
      break;
    }
    default:
      return Bad(path, "unsupported field type");
  }
  PutTag(out, f.number, kVarint);
  PutVarint(out, n);
  return absl::OkStatus();
}

// A field's value: an object for a map, an array for a repeated field, else one value.
absl::Status EncodeField(const Json& v, const FieldSchema& f, const ReadMode& mode,
                         const Where& where, std::string* out) {
  if (f.map) {
    if (!v.is_object()) return Bad(where.path, "expected an object (a map)");
    std::map<std::string, const Json*> entries;  // sorted, as lib/proto_json takes them
    for (auto e = v.begin(); e != v.end(); ++e) entries[e.key()] = &e.value();
    const FieldSchema& value_field = f.message->fields[1];
    for (const auto& [key, value] : entries) {
      std::string entry;
      PutBytes(&entry, 1, key);
      RETURN_IF_ERROR(EncodeValue(*value, value_field, mode, where.Index(key), &entry));
      PutBytes(out, f.number, entry);
    }
    return absl::OkStatus();
  }
  if (f.repeated) {
    if (!v.is_array()) return Bad(where.path, "expected an array");
    for (size_t i = 0; i < v.size(); ++i) {
      RETURN_IF_ERROR(EncodeValue(v[i], f, mode, where.Index(std::to_string(i)), out));
    }
    return absl::OkStatus();
  }
  return EncodeValue(v, f, mode, where, out);
}

absl::Status EncodeObject(const Json& obj, const MessageSchema& s, const ReadMode& mode,
                          const Where& where, std::string* out) {
  if (!obj.is_object()) return Bad(where.path, "expected an object");
  // Each field's encoding, in the order the fields were first named. Two keys may name one
  // field (its name and its json_name; for Go also spellings that differ in case). protobuf's
  // mapping (lib/proto_json) takes each in turn: a repeated field gets both, a message both
  // merged, a scalar the last, a null clears what came before; joined encodings parse to just
  // that. Go (lib/gojson) looks every key up first and keeps the last value of each field.
  std::vector<std::pair<const FieldSchema*, std::string>> fields;
  auto apply = [&](const FieldSchema* f, const Json& v, const Where& at) -> absl::Status {
    size_t i = 0;
    while (i < fields.size() && fields[i].first != f) ++i;
    if (i == fields.size()) fields.emplace_back(f, std::string());
    std::string& encoded = fields[i].second;
    if (mode.go_keys || v.is_null()) encoded.clear();
    return v.is_null() ? absl::OkStatus() : EncodeField(v, *f, mode, at, &encoded);
  };
  struct Given {
    const FieldSchema* field;
    const Json* value;
    Where where;
  };
  std::vector<Given> given;  // Go's: the last value of each field
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& key = it.key();
    const FieldSchema* f = FindField(s, key, mode.go_keys);
    Where sub{json_value::Member(where.path, f != nullptr && mode.go_keys ? f->name : key),
              json_value::Member(where.given, key)};
    if (f == nullptr) {
      if (mode.ignore_unknown) continue;
      // Go's words, which lib/gojson gives without the "invalid <message>" before them.
      if (mode.go_keys) {
        return absl::NotFoundError(
            absl::StrCat("unknown field \"", sub.given, "\" in ", s.name));
      }
      return Bad(sub.path, absl::StrCat("no such field in ", s.name));
    }
    if (!mode.go_keys) {
      RETURN_IF_ERROR(apply(f, it.value(), sub));
      continue;
    }
    Given g{f, &it.value(), std::move(sub)};
    bool replaced = false;
    for (Given& earlier : given) {
      if (earlier.field == f) {
        earlier = g;
        replaced = true;
      }
    }
    if (!replaced) given.push_back(std::move(g));
  }
  for (const Given& g : given) RETURN_IF_ERROR(apply(g.field, *g.value, g.where));
  for (const auto& [f, encoded] : fields) out->append(encoded);
  return absl::OkStatus();
}

// ---- The binary form to JSON ----

struct WriteMode {
  bool json_names;
  bool defaults;  // print fields that hold their default value
  bool enums_as_numbers;
  bool int64_as_numbers;  // Go's way, not protobuf's strings
};

Json DecodeObject(absl::string_view wire, const MessageSchema& s, const WriteMode& mode);

// A value of field `f` (a single one of a repeated field) as JSON.
Json Decode(const FieldSchema& f, const WireValue& v, const WriteMode& mode) {
  switch (f.kind) {
    case Kind::kInt32:
      return static_cast<int32_t>(v.number);
    case Kind::kUInt32:
      return static_cast<uint32_t>(v.number);
    case Kind::kInt64: {
      int64_t n = static_cast<int64_t>(v.number);
      return mode.int64_as_numbers ? Json(n) : Json(std::to_string(n));
    }
    case Kind::kUInt64:
      return mode.int64_as_numbers ? Json(v.number) : Json(std::to_string(v.number));
    case Kind::kBool:
      return v.number != 0;
    case Kind::kEnum: {
      int number = static_cast<int32_t>(v.number);
      for (int i = 0; !mode.enums_as_numbers && i < f.enum_type->value_count; ++i) {
        if (f.enum_type->values[i].number == number) return f.enum_type->values[i].name;
      }
      return number;
    }
    case Kind::kString:
      return std::string(v.bytes);
    case Kind::kBytes:
      return absl::Base64Escape(v.bytes);
    case Kind::kDouble: {
      double d = 0;
      std::memcpy(&d, &v.number, 8);
      return d;
    }
    case Kind::kFloat: {
      uint32_t bits = static_cast<uint32_t>(v.number);
      float x = 0;
      std::memcpy(&x, &bits, 4);
      return x;
    }
    case Kind::kMessage:
      return DecodeObject(v.bytes, *f.message, mode);
  }
  return nullptr;
}

// The values of a repeated field: packed ones (several numbers in one run of bytes) apart.
std::vector<WireValue> Unpack(const FieldSchema& f, const std::vector<WireValue>& values) {
  std::vector<WireValue> out;
  for (const WireValue& v : values) {
    bool packable = IsVarintKind(f.kind) || f.kind == Kind::kDouble || f.kind == Kind::kFloat;
    if (!packable || v.type != kLengthDelimited) {
      out.push_back(v);
      continue;
    }
    absl::string_view run = v.bytes;
    while (!run.empty()) {
      WireValue one(IsVarintKind(f.kind) ? kVarint : f.kind == Kind::kDouble ? kFixed64 : kFixed32);
      bool ok = one.type == kVarint ? ReadVarint(&run, &one.number)
                                    : ReadFixed(&run, one.type == kFixed64 ? 8 : 4, &one.number);
      if (!ok) break;
      out.push_back(one);
    }
  }
  return out;
}

Json DecodeObject(absl::string_view wire, const MessageSchema& s, const WriteMode& mode) {
  std::map<int, std::vector<WireValue>> fields = ReadFields(wire);
  static const std::vector<WireValue> kNone;
  Json out = Json::object();
  for (int i = 0; i < s.field_count; ++i) {
    const FieldSchema& f = s.fields[i];
    const char* key = mode.json_names ? f.json_name : f.name;
    auto found = fields.find(f.number);
    const std::vector<WireValue>& values = found == fields.end() ? kNone : found->second;
    if (f.map) {
      // Sorted by key, so that output is stable; of a key given twice, the last.
      std::map<std::string, Json> entries;
      const FieldSchema& value_field = f.message->fields[1];
      for (const WireValue& e : values) {
        std::map<int, std::vector<WireValue>> entry = ReadFields(e.bytes);
        std::string k = entry.count(1) ? std::string(entry[1].back().bytes) : "";
        entries[k] = entry.count(2) ? Decode(value_field, entry[2].back(), mode)
                                    : Decode(value_field, WireValue(), mode);
      }
      if (entries.empty() && !mode.defaults) continue;
      Json obj = Json::object();
      for (auto& [k, v] : entries) obj[k] = std::move(v);
      out[key] = std::move(obj);
    } else if (f.repeated) {
      std::vector<WireValue> items = Unpack(f, values);
      if (items.empty() && !mode.defaults) continue;
      Json arr = Json::array();
      for (const WireValue& v : items) arr.push_back(Decode(f, v, mode));
      out[key] = std::move(arr);
    } else if (f.kind == Kind::kMessage) {
      if (values.empty()) continue;
      // A message given in parts is their merge, which is what their concatenation parses to.
      std::string whole;
      for (const WireValue& v : values) whole.append(v.bytes.data(), v.bytes.size());
      out[key] = DecodeObject(whole, *f.message, mode);
    } else {
      // Without presence, the lite runtime writes a scalar only when it is not its default.
      WireValue v = values.empty() ? WireValue() : values.back();
      bool is_default = v.number == 0 && v.bytes.empty();
      if (f.presence ? values.empty() : is_default && !mode.defaults) continue;
      out[key] = Decode(f, v, mode);
    }
  }
  return out;
}

std::string Dump(const Json& doc, int indent) {
  return doc.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::Status Finish(const std::string& wire, const MessageSchema& schema, MessageLite* msg) {
  if (!msg->ParseFromString(wire)) {
    return absl::InternalError(absl::StrCat("the encoded ", schema.name, " does not parse"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseLiteJson(absl::string_view json, const MessageSchema& schema, MessageLite* msg,
                           const ParseOptions& options) {
  msg->Clear();
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", schema.name, " document: malformed JSON"));
  }
  std::string encoded;
  absl::Status s = EncodeObject(doc, schema, {false, options.ignore_unknown_fields}, {}, &encoded);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", schema.name, " document: ", s.message()));
  }
  return Finish(encoded, schema, msg);
}

std::string LiteToJson(const MessageLite& msg, const MessageSchema& schema,
                       const PrintOptions& options) {
  WriteMode mode{options.json_names, options.defaults, false, false};
  return Dump(DecodeObject(msg.SerializeAsString(), schema, mode), options.pretty ? 2 : -1) +
         "\n";
}

absl::Status ReadLiteJson(absl::string_view path, const MessageSchema& schema, MessageLite* msg,
                          const ParseOptions& options) {
  ASSIGN_OR_RETURN(std::string data, path == "-" ? ReadAll(STDIN_FILENO) : ReadFile(path));
  absl::Status parsed = ParseLiteJson(data, schema, msg, options);
  if (!parsed.ok() && path != "-") return Annotate(parsed, std::string(path));
  return parsed;
}

absl::Status WriteLiteJsonToStdout(const MessageLite& msg, const MessageSchema& schema,
                                   const PrintOptions& options) {
  return WriteAll(STDOUT_FILENO, LiteToJson(msg, schema, options));
}

absl::Status GoJsonToLite(absl::string_view json, const MessageSchema& schema, MessageLite* msg,
                          const GoJsonReadOptions& options) {
  msg->Clear();
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON for ", schema.name));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a JSON object for ", schema.name));
  }
  std::string encoded;
  absl::Status s = EncodeObject(doc, schema, {true, options.ignore_unknown_fields}, {}, &encoded);
  if (absl::IsNotFound(s)) return absl::InvalidArgumentError(s.message());
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", schema.name, ": ", s.message()));
  }
  return Finish(encoded, schema, msg);
}

std::string LiteToGoJson(const MessageLite& msg, const MessageSchema& schema,
                         const GoJsonWriteOptions& options) {
  WriteMode mode{options.json_names, options.emit_zero_values, options.enums_as_numbers, true};
  return Dump(DecodeObject(msg.SerializeAsString(), schema, mode), options.indent);
}

}  // namespace gdn
