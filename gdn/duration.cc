#include "gdn/duration.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace gdn::server {

// Go's time.ParseDuration for what operators write: "0", "30s", "5m", "1h30m", "250ms".
bool ParseDuration(const std::string& s, int64_t* ns) {
  if (s == "0" || s.empty()) {
    *ns = 0;
    return true;
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (absl::ascii_isdigit(s[j]) || s[j] == '.')) ++j;
    double v;
    if (j == i || !absl::SimpleAtod(s.substr(i, j - i), &v)) return false;
    size_t k = j;
    while (k < s.size() && absl::ascii_isalpha(s[k])) ++k;
    std::string unit = s.substr(j, k - j);
    double mult = unit == "ns" ? 1 : unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9
                : unit == "m" ? 60e9 : unit == "h" ? 3600e9 : -1;
    if (mult < 0) return false;
    total += static_cast<int64_t>(v * mult);
    i = k;
  }
  *ns = total;
  return true;
}


}  // namespace gdn::server
