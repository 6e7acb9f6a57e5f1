// IPv4 addresses and networks as netns needs them: parsed strictly (inet_pton), printed in
// dotted quads, networks in CIDR form.
#ifndef GDN_NETNS_IP4_H_
#define GDN_NETNS_IP4_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace gdn::netns {

// Host byte order.
std::optional<uint32_t> ParseIPv4(absl::string_view text);
std::string FormatIPv4(uint32_t address);

struct Cidr {
  uint32_t address = 0;  // as written (an interface address keeps its host bits)
  int prefix = 0;        // 0..32
  uint32_t Mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  // The network: "10.1.2.0/24" for "10.1.2.5/24".
  std::string Network() const;
  std::string Address() const { return FormatIPv4(address); }
};

// "a.b.c.d/n"; a bare address is /32.
std::optional<Cidr> ParseCidr(absl::string_view text);

}  // namespace gdn::netns

#endif  // GDN_NETNS_IP4_H_
