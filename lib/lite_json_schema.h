// What lib/lite_json needs to know of a message to read and write it as JSON without
// protobuf's reflection: its fields' names, numbers and kinds. Tables of these are generated
// from the .proto by tools/protoschema (cc_proto with lite = True), never written by hand.
#ifndef GDN_LIB_LITE_JSON_SCHEMA_H_
#define GDN_LIB_LITE_JSON_SCHEMA_H_

#include <cstdint>

namespace gdn::lite_json {

enum class Kind : uint8_t {
  kInt32,
  kInt64,
  kUInt32,
  kUInt64,
  kBool,
  kEnum,
  kString,
  kBytes,
  kDouble,
  kFloat,
  kMessage,
};

struct EnumValue {
  const char* name;
  int number;
};

struct EnumSchema {
  const char* name;
  const EnumValue* values;
  int value_count;
};

struct MessageSchema;

struct FieldSchema {
  const char* name;       // as declared
  const char* json_name;  // lowerCamelCase, or the json_name option
  int number;
  Kind kind;
  bool repeated;
  // Printed whenever it is set, even to its zero value: messages and `optional` scalars.
  bool presence;
  // A map: repeated entries of `message`, whose field 1 is the (string) key and 2 the value.
  bool map;
  const MessageSchema* message;  // kMessage and maps
  const EnumSchema* enum_type;   // kEnum
};

struct MessageSchema {
  const char* name;  // the message's own name ("State"), for error messages
  const FieldSchema* fields;
  int field_count;
};

}  // namespace gdn::lite_json

#endif  // GDN_LIB_LITE_JSON_SCHEMA_H_
