// The frames the keeper and `attach connect` exchange over the keeper's unix socket.
// Every frame: type (1 byte), stream (1 byte), payload length (4 bytes, little endian),
// payload. Output is acknowledged by the client once it has written it out, and the keeper
// forgets only acknowledged bytes, so a client that dies loses nothing: the next one gets
// everything from the last acknowledged offset on.
//
//   keeper -> client  kData   stream 1|2, payload = 8-byte offset of the first byte + bytes
//   keeper -> client  kExit   payload = code(4) signal(4) exited(1): all output delivered
//   client -> keeper  kAck    stream 1|2, payload = 8-byte offset up to which it wrote out
//   client -> keeper  kData   stream 0, payload = bytes for the process's stdin
//   client -> keeper  kStdinEof
//   client -> keeper  kResize payload = rows(2) cols(2)
//   client -> keeper  kRelease   the keeper drops unread output and exits once the process has
//   client -> keeper  kAttach    this connection is the reader (one at a time; others may
//                                only send control frames: kResize, kRelease)
#ifndef GDN_ATTACH_PROTOCOL_H_
#define GDN_ATTACH_PROTOCOL_H_

#include <cstdint>
#include <optional>
#include <string>

#include <string_view>

namespace gdn::attach {

enum FrameType : uint8_t {
  kData = 1,
  kExit = 2,
  kAck = 3,
  kStdinEof = 4,
  kResize = 5,
  kRelease = 6,
  kAttach = 7,  // client -> keeper: this connection reads the output (replaces any other)
};

inline constexpr size_t kHeaderSize = 6;
inline constexpr uint32_t kMaxPayload = 4 << 20;

struct Frame {
  uint8_t type = 0;
  uint8_t stream = 0;
  std::string payload;
};

std::string EncodeHeader(uint8_t type, uint8_t stream, uint32_t length);
std::string Encode(uint8_t type, uint8_t stream, std::string_view payload);

void PutU64(std::string* out, uint64_t v);
uint64_t GetU64(std::string_view in);
void PutU32(std::string* out, uint32_t v);
uint32_t GetU32(std::string_view in);

// Accumulates bytes and cuts frames out of them.
class FrameReader {
 public:
  void Append(const char* data, size_t n) { buffer_.append(data, n); }
  // The next whole frame, if there is one. Sets *bad on a frame that is too large.
  std::optional<Frame> Next(bool* bad);

 private:
  std::string buffer_;
  size_t start_ = 0;
};

}  // namespace gdn::attach

#endif  // GDN_ATTACH_PROTOCOL_H_
