#include "netns/ip4.h"

#include <arpa/inet.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gdn::netns {

std::optional<uint32_t> ParseIPv4(absl::string_view text) {
  // Digits and dots only, the whole string: a NUL would end inet_pton's look early and let
  // what follows reach an iptables-restore line (a root rule of the caller's choosing).
  if (text.empty() || text.size() > 15) return std::nullopt;
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && c != '.') return std::nullopt;
  }
  std::string s(text);
  struct in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string FormatIPv4(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 255, ".", (address >> 8) & 255, ".",
                      address & 255);
}

std::string Cidr::Network() const {
  return absl::StrCat(FormatIPv4(address & Mask()), "/", prefix);
}

std::optional<Cidr> ParseCidr(absl::string_view text) {
  Cidr c;
  absl::string_view::size_type slash = text.find('/');
  std::optional<uint32_t> a = ParseIPv4(text.substr(0, slash));
  if (!a) return std::nullopt;
  c.address = *a;
  c.prefix = 32;
  if (slash != absl::string_view::npos) {
    absl::string_view n = text.substr(slash + 1);
    if (n.empty() || n.size() > 2 || !absl::ascii_isdigit(n[0]) || !absl::ascii_isdigit(n.back()) ||
        !absl::SimpleAtoi(n, &c.prefix) || c.prefix > 32) {
      return std::nullopt;
    }
  }
  return c;
}

}  // namespace gdn::netns
