// The user-namespace id mapping model: ranges of container ids mapped to host ids, parsed
// from "C:H:N", validated as the kernel would, and translated both ways. Shared by idmap,
// image-store and spawn.
#ifndef GDN_LIB_IDMAP_H_
#define GDN_LIB_IDMAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn {

// Since Linux 4.15 a uid_map or gid_map may hold this many lines.
inline constexpr size_t kMaxIdMapLines = 340;
// ... and the whole map must be written in one write() of less than a page.
inline constexpr size_t kMaxIdMapBytes = 4095;

// `count` ids from `container` inside the namespace are `host` ... outside it.
struct IdMapping {
  uint32_t container = 0;
  uint32_t host = 0;
  uint32_t count = 0;

  bool operator==(const IdMapping& o) const {
    return container == o.container && host == o.host && count == o.count;
  }
};

// Parses "C:H:N" (decimal). InvalidArgument names the malformed part.
absl::StatusOr<IdMapping> ParseIdMapping(absl::string_view text);

class IdMap {
 public:
  IdMap() = default;
  explicit IdMap(std::vector<IdMapping> mappings) : mappings_(std::move(mappings)) {}

  // Parses the content of /proc/PID/uid_map ("C H N" per line, any spacing).
  static absl::StatusOr<IdMap> FromProcFile(absl::string_view text);

  // What the kernel demands of a map: 1..340 lines in less than 4096 bytes of text, no
  // empty range, no range that runs past 2^32-1, no two ranges overlapping on either side.
  // The message names the offending mapping.
  absl::Status Validate() const;

  // The host id of a container id, if mapped.
  std::optional<uint32_t> ToHost(uint32_t container_id) const;
  // The container id of a host id, if mapped.
  std::optional<uint32_t> ToContainer(uint32_t host_id) const;

  // The text to write to /proc/PID/uid_map: "C H N\n" per mapping.
  std::string ToProcFile() const;

  const std::vector<IdMapping>& mappings() const { return mappings_; }
  bool empty() const { return mappings_.empty(); }

 private:
  std::vector<IdMapping> mappings_;
};

// A host id range [start, start + count).
struct IdRange {
  uint64_t start = 0;
  uint64_t count = 0;
  uint64_t end() const { return start + count; }
};

// True when every id of [start, start + count) lies in the union of `ranges`.
bool RangesCover(const std::vector<IdRange>& ranges, uint64_t start, uint64_t count);

}  // namespace gdn

#endif  // GDN_LIB_IDMAP_H_
