// Protobuf's binary form, as far as gdn writes or reads it by hand: lib/lite_json translates
// JSON to and from it, lib/proto_json adds fields to messages through it.
#ifndef GDN_LIB_WIRE_H_
#define GDN_LIB_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gdn::wire {

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void PutVarint(std::string* out, uint64_t v);
void PutTag(std::string* out, int number, WireType type);
// Field `number` holding `bytes` (a string, or an encoded message).
void PutBytes(std::string* out, int number, absl::string_view bytes);
// Field `number` holding the low `size` (4 or 8) bytes of `bits`, little-endian.
void PutFixed(std::string* out, int number, uint64_t bits, int size);

// Each takes what it read off the front of `in`; false when `in` ends first.
bool ReadVarint(absl::string_view* in, uint64_t* v);
bool ReadFixed(absl::string_view* in, int size, uint64_t* v);

}  // namespace gdn::wire

#endif  // GDN_LIB_WIRE_H_
