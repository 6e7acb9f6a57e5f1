#include "lib/idmap.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gdn {
namespace {

bool ParseDecimal(absl::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t v;
  if (!absl::SimpleAtoi(s, &v) || v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool Overlap(uint64_t a, uint64_t n, uint64_t b, uint64_t m) { return a < b + m && b < a + n; }

std::string Show(const IdMapping& m) {
  return absl::StrCat(m.container, ":", m.host, ":", m.count);
}

}  // namespace

absl::StatusOr<IdMapping> ParseIdMapping(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("id mapping \"", text, "\" is not CONTAINER:HOST:COUNT"));
  }
  IdMapping m;
  const char* names[] = {"container id", "host id", "count"};
  uint32_t* fields[] = {&m.container, &m.host, &m.count};
  for (int i = 0; i < 3; ++i) {
    if (!ParseDecimal(parts[i], fields[i])) {
      return absl::InvalidArgumentError(absl::StrCat("id mapping \"", text, "\": ", names[i],
                                                     " \"", parts[i],
                                                     "\" is not a number from 0 to 4294967295"));
    }
  }
  return m;
}

absl::StatusOr<IdMap> IdMap::FromProcFile(absl::string_view text) {
  std::vector<IdMapping> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    IdMapping m;
    if (f.size() != 3 || !ParseDecimal(f[0], &m.container) || !ParseDecimal(f[1], &m.host) ||
        !ParseDecimal(f[2], &m.count)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed id map line \"", line, "\""));
    }
    out.push_back(m);
  }
  return IdMap(std::move(out));
}

absl::Status IdMap::Validate() const {
  if (mappings_.empty()) return absl::InvalidArgumentError("the id map is empty");
  if (mappings_.size() > kMaxIdMapLines) {
    return absl::InvalidArgumentError(absl::StrCat("the id map has ", mappings_.size(),
                                                   " ranges; the kernel takes at most ",
                                                   kMaxIdMapLines));
  }
  size_t bytes = ToProcFile().size();
  if (bytes > kMaxIdMapBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the id map is ", bytes,
                                                   " bytes of text; the kernel takes at most ",
                                                   kMaxIdMapBytes, " in one write"));
  }
  for (size_t i = 0; i < mappings_.size(); ++i) {
    const IdMapping& a = mappings_[i];
    if (a.count == 0) {
      return absl::InvalidArgumentError(absl::StrCat("id mapping ", Show(a), " is empty"));
    }
    if (uint64_t{a.container} + a.count - 1 > UINT32_MAX - 1 ||
        uint64_t{a.host} + a.count - 1 > UINT32_MAX - 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("id mapping ", Show(a), " runs past the largest id, 4294967294"));
    }
    for (size_t j = 0; j < i; ++j) {
      const IdMapping& b = mappings_[j];
      if (Overlap(a.container, a.count, b.container, b.count)) {
        return absl::InvalidArgumentError(absl::StrCat("id mappings ", Show(b), " and ",
                                                       Show(a), " overlap inside the namespace"));
      }
      if (Overlap(a.host, a.count, b.host, b.count)) {
        return absl::InvalidArgumentError(absl::StrCat("id mappings ", Show(b), " and ",
                                                       Show(a), " overlap on the host"));
      }
    }
  }
  return absl::OkStatus();
}

std::optional<uint32_t> IdMap::ToHost(uint32_t id) const {
  for (const IdMapping& m : mappings_) {
    if (id >= m.container && uint64_t{id} < uint64_t{m.container} + m.count) {
      return m.host + (id - m.container);
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IdMap::ToContainer(uint32_t id) const {
  for (const IdMapping& m : mappings_) {
    if (id >= m.host && uint64_t{id} < uint64_t{m.host} + m.count) {
      return m.container + (id - m.host);
    }
  }
  return std::nullopt;
}

std::string IdMap::ToProcFile() const {
  std::string out;
  for (const IdMapping& m : mappings_) absl::StrAppend(&out, m.container, " ", m.host, " ", m.count, "\n");
  return out;
}

bool RangesCover(const std::vector<IdRange>& ranges, uint64_t start, uint64_t count) {
  if (count == 0) return false;
  uint64_t next = start;
  const uint64_t end = start + count;
  // Extend coverage greedily with any range that holds `next`, as shadow's have_range does.
  bool progressed = true;
  while (next < end && progressed) {
    progressed = false;
    for (const IdRange& r : ranges) {
      if (r.count > 0 && next >= r.start && next < r.end()) {
        next = r.end();
        progressed = true;
        break;
      }
    }
  }
  return next >= end;
}

}  // namespace gdn
