#include "lib/wire.h"

namespace gdn::wire {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(std::string* out, int number, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(number) << 3) | type);
}

void PutBytes(std::string* out, int number, absl::string_view bytes) {
  PutTag(out, number, kLengthDelimited);
  PutVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

void PutFixed(std::string* out, int number, uint64_t bits, int size) {
  PutTag(out, number, size == 8 ? kFixed64 : kFixed32);
  for (int i = 0; i < size; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

bool ReadVarint(absl::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool ReadFixed(absl::string_view* in, int size, uint64_t* v) {
  if (in->size() < static_cast<size_t>(size)) return false;
  *v = 0;
  for (int i = 0; i < size; ++i) *v |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(size);
  return true;
}

}  // namespace gdn::wire
