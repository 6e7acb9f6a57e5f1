#include "attach/protocol.h"

#include <string>

namespace gdn::attach {

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string EncodeHeader(uint8_t type, uint8_t stream, uint32_t length) {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(stream));
  PutU32(&out, length);
  return out;
}

std::string Encode(uint8_t type, uint8_t stream, std::string_view payload) {
  std::string out = EncodeHeader(type, stream, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  return out;
}

std::optional<Frame> FrameReader::Next(bool* bad) {
  *bad = false;
  if (buffer_.size() - start_ < kHeaderSize) return std::nullopt;
  std::string_view head(buffer_.data() + start_, kHeaderSize);
  uint32_t length = GetU32(head.substr(2));
  if (length > kMaxPayload) {
    *bad = true;
    return std::nullopt;
  }
  if (buffer_.size() - start_ < kHeaderSize + length) return std::nullopt;
  Frame f;
  f.type = static_cast<uint8_t>(head[0]);
  f.stream = static_cast<uint8_t>(head[1]);
  f.payload.assign(buffer_.data() + start_ + kHeaderSize, length);
  start_ += kHeaderSize + length;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > (1 << 16)) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return f;
}

}  // namespace gdn::attach
