// Scalars of a JSON document as protobuf's JSON mapping reads them, shared by the codecs
// (lib/proto_json.h by reflection, lib/lite_json.h by schema) so that both accept and refuse
// exactly the same values with the same words. Errors are InvalidArgument naming the value
// by its path ("limits.memory", "ids[2]"; "the document" for the top).
#ifndef GDN_LIB_JSON_VALUE_H_
#define GDN_LIB_JSON_VALUE_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace gdn::json_value {

using Json = nlohmann::ordered_json;

inline absl::Status Bad(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "the document" : path, ": ", why));
}

// `path` + "." + `key`, or `key` at the top.
inline std::string Member(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// An integer from a JSON number (integral) or a string holding one, within T's range.
template <typename T>
absl::Status Integer(const Json& v, const std::string& path, T* out) {
  using Limits = std::numeric_limits<T>;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(Limits::max())) return Bad(path, "out of range");
      *out = static_cast<T>(u);
      return absl::OkStatus();
    }
    int64_t i = v.get<int64_t>();
    if (i < 0 && !Limits::is_signed) return Bad(path, "negative for an unsigned field");
    if (Limits::is_signed && (i < static_cast<int64_t>(Limits::min()) ||
                              i > static_cast<int64_t>(Limits::max()))) {
      return Bad(path, "out of range");
    }
    if (!Limits::is_signed && static_cast<uint64_t>(i) > static_cast<uint64_t>(Limits::max())) {
      return Bad(path, "out of range");
    }
    *out = static_cast<T>(i);
    return absl::OkStatus();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    // T's max as a double rounds up to 2^digits, which itself does not fit: compared with <.
    if (std::floor(d) != d || d < static_cast<double>(Limits::min()) ||
        d >= std::ldexp(1.0, Limits::digits)) {
      return Bad(path, "not an integer in range");
    }
    *out = static_cast<T>(d);
    return absl::OkStatus();
  }
  if (v.is_string()) {
    T n = 0;
    if (!absl::SimpleAtoi(v.get<std::string>(), &n)) return Bad(path, "not an integer");
    *out = n;
    return absl::OkStatus();
  }
  return Bad(path, "expected an integer");
}

// A floating-point number from a JSON number or a string holding one.
inline absl::Status Number(const Json& v, const std::string& path, double* out) {
  if (v.is_number()) {
    *out = v.get<double>();
    return absl::OkStatus();
  }
  if (v.is_string() && absl::SimpleAtod(v.get<std::string>(), out)) return absl::OkStatus();
  return Bad(path, "expected a number");
}

// A string; for a bytes field (`bytes`), the bytes its base64 (plain or web-safe) holds.
inline absl::Status String(const Json& v, const std::string& path, bool bytes, std::string* out) {
  if (!v.is_string()) return Bad(path, "expected a string");
  *out = v.get<std::string>();
  if (!bytes) return absl::OkStatus();
  std::string raw;
  if (!absl::Base64Unescape(*out, &raw) && !absl::WebSafeBase64Unescape(*out, &raw)) {
    return Bad(path, "not base64");
  }
  *out = std::move(raw);
  return absl::OkStatus();
}

inline absl::Status Bool(const Json& v, const std::string& path, bool* out) {
  if (!v.is_boolean()) return Bad(path, "expected true or false");
  *out = v.get<bool>();
  return absl::OkStatus();
}

}  // namespace gdn::json_value

#endif  // GDN_LIB_JSON_VALUE_H_
