// The options of the JSON codecs: lib/contract.h and lib/gojson.h (by reflection) and
// lib/lite_json.h (generated schemas), which read and write the same JSON.
#ifndef GDN_LIB_JSON_OPTIONS_H_
#define GDN_LIB_JSON_OPTIONS_H_

namespace gdn {

struct ParseOptions {
  // OCI documents must ignore unknown properties; our own contracts reject them.
  bool ignore_unknown_fields = false;
};

struct PrintOptions {
  bool pretty = false;
  // Field names as declared (snake_case, our contracts) or their json_name (documents
  // defined by others, such as OCI's "ociVersion" and "containerID").
  bool json_names = false;
  // Print fields that hold their default value.
  bool defaults = false;
};

struct GoJsonReadOptions {
  // Go ignores keys it has no field for; so do we by default.
  bool ignore_unknown_fields = true;
};

struct GoJsonWriteOptions {
  // Print scalar fields that hold their zero value (Go fields without omitempty).
  // Fields declared `optional` are printed whenever they are set, like Go pointers.
  bool emit_zero_values = false;
  // Print enums as numbers, as Go does for its integer-typed enums.
  bool enums_as_numbers = true;
  // Keys as the fields' json_name (OCI's "ociVersion", "containerID") instead of their
  // declared names.
  bool json_names = false;
  // Indent nested values by this many spaces; -1 prints compactly.
  int indent = -1;
};

}  // namespace gdn

#endif  // GDN_LIB_JSON_OPTIONS_H_
