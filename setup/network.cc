#include "setup/network.h"

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/contract.h"
#include "lib/status.h"
#include "nlohmann/json.hpp"

namespace gdn::setup {
namespace {

absl::Status CheckAbsolute(const std::string& value, const char* field) {
  if (value.empty() || value[0] != '/' || value.find("/../") != std::string::npos ||
      absl::EndsWith(value, "/..")) {
    return absl::InvalidArgumentError(
        absl::StrCat("network config: ", field, " \"", value, "\" is not an absolute path"));
  }
  return absl::OkStatus();
}

// The IPv4 range [first, last] of a validated "a.b.c.d/n".
std::pair<uint32_t, uint32_t> Range(const std::string& subnet) {
  std::string::size_type slash = subnet.find('/');
  struct in_addr addr = {};
  int bits = 32;
  if (slash == std::string::npos || inet_pton(AF_INET, subnet.substr(0, slash).c_str(), &addr) != 1 ||
      !absl::SimpleAtoi(subnet.substr(slash + 1), &bits) || bits < 1 || bits > 32) {
    return {1, 0};  // empty: overlaps nothing (validation refuses it anyway)
  }
  uint32_t first = ntohl(addr.s_addr), size = bits == 32 ? 0 : (uint32_t{0xffffffff} >> bits);
  return {first, first + size};
}

bool SubnetsOverlap(const std::string& a, const std::string& b) {
  auto [a1, a2] = Range(a);
  auto [b1, b2] = Range(b);
  return a1 <= a2 && b1 <= b2 && a1 <= b2 && b1 <= a2;
}

bool PortsOverlap(const NetworkConfig& a, const NetworkConfig& b) {
  uint64_t a1 = a.start_port(), a2 = a1 + a.total_ports(), b1 = b.start_port(), b2 = b1 + b.total_ports();
  return a1 < b2 && b1 < a2;
}

// The default pool number `slot` (0 is Garden's: 10.254.0.0/22, ports 61001..65534; the next
// ones 10.254.4k.0/22 and 1000 ports each going down from 32767, below the kernel's
// ephemeral range), or false when there is none.
bool DefaultPool(int slot, NetworkConfig* c) {
  if (slot == 0) {
    c->set_subnet("10.254.0.0/22");
    c->set_start_port(61001);
    c->set_total_ports(4534);
    return true;
  }
  if (slot > 12) return false;
  c->set_subnet(absl::StrCat("10.254.", 4 * slot, ".0/22"));
  c->set_start_port(32768 - 1000 * slot);
  c->set_total_ports(1000);
  return true;
}

}  // namespace

NetworkConfig DefaultNetworkConfig(uid_t uid, const std::string& config_dir,
                                   const std::string& chain_prefix) {
  NetworkConfig c;
  c.set_cni_plugin_dir("/usr/lib/cni");
  c.set_cni_config_dir(absl::StrCat(config_dir, "/network/cni-", uid));
  c.set_bind_mount_dir(absl::StrCat("/run/gdn-netns/", uid));
  c.set_state_file(absl::StrCat("/run/gdn-netns-state/", uid, "/state.json"));
  c.set_start_port(61001);
  c.set_total_ports(4534);
  c.set_log_prefix(absl::StrCat("gdn-", uid));
  c.set_iptables_lock_file("/run/xtables.lock");
  c.set_subnet("10.254.0.0/22");
  c.set_uid(uid);
  c.set_chain_prefix(chain_prefix);
  return c;
}

absl::StatusOr<NetworkConfig> ResolveNetworkConfig(uid_t uid, const std::string& config_dir,
                                                   const std::string& chain_prefix,
                                                   const std::string& path,
                                                   const std::vector<NetworkConfig>& others,
                                                   const NetworkConfig* kept) {
  NetworkConfig config = DefaultNetworkConfig(uid, config_dir, chain_prefix);
  NetworkConfig given;
  // Values a file or the user's earlier setup fixed; the rest come from the first default
  // pool no other user's network overlaps.
  bool fixed_subnet = false, fixed_ports = false;
  if (kept != nullptr) {
    config.set_subnet(kept->subnet());
    config.set_start_port(kept->start_port());
    config.set_total_ports(kept->total_ports());
    fixed_subnet = fixed_ports = true;
  }
  if (!path.empty()) {
    RETURN_IF_ERROR(ReadJsonMessage(path, &given));
    if (given.uid() != 0 && given.uid() != uid) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": uid ", given.uid(), " is not ", uid));
    }
    if (!given.chain_prefix().empty() && given.chain_prefix() != chain_prefix) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": chain_prefix \"", given.chain_prefix(), "\": use --chain-prefix"));
    }
    if (given.search_domains_size() > 0) config.clear_search_domains();
    config.MergeFrom(given);
    fixed_subnet = fixed_subnet || !given.subnet().empty();
    fixed_ports = fixed_ports || given.start_port() != 0 || given.total_ports() != 0;
  }
  RETURN_IF_ERROR(ValidateNetworkConfig(config));
  auto clash = [&](const NetworkConfig& c, bool subnet, bool ports) -> const NetworkConfig* {
    for (const NetworkConfig& o : others) {
      if ((subnet && SubnetsOverlap(c.subnet(), o.subnet())) || (ports && PortsOverlap(c, o))) return &o;
    }
    return nullptr;
  };
  // Two users sharing addresses or host ports would reach into each other's containers.
  if (const NetworkConfig* o = clash(config, fixed_subnet, false)) {
    return absl::AlreadyExistsError(absl::StrCat("subnet ", config.subnet(), " overlaps uid ", o->uid(), "'s ",
                                                 o->subnet(), ": give another in --network-config"));
  }
  if (const NetworkConfig* o = clash(config, false, fixed_ports)) {
    return absl::AlreadyExistsError(absl::StrCat("host ports ", config.start_port(), "-",
                                                 config.start_port() + config.total_ports() - 1, " overlap uid ",
                                                 o->uid(), "'s ", o->start_port(), "-",
                                                 o->start_port() + o->total_ports() - 1,
                                                 ": give others in --network-config"));
  }
  if (fixed_subnet && fixed_ports) return config;
  for (int slot = 0;; ++slot) {
    NetworkConfig pool;
    if (!DefaultPool(slot, &pool)) {
      return absl::ResourceExhaustedError(
          "every default network pool is taken by other users: give a subnet and ports in --network-config");
    }
    NetworkConfig c = config;
    if (!fixed_subnet) c.set_subnet(pool.subnet());
    if (!fixed_ports) {
      c.set_start_port(pool.start_port());
      c.set_total_ports(pool.total_ports());
    }
    if (clash(c, !fixed_subnet, !fixed_ports) == nullptr) return c;
  }
}

absl::Status ValidateNetworkConfig(const NetworkConfig& c) {
  RETURN_IF_ERROR(CheckAbsolute(c.cni_plugin_dir(), "cni_plugin_dir"));
  RETURN_IF_ERROR(CheckAbsolute(c.cni_config_dir(), "cni_config_dir"));
  RETURN_IF_ERROR(CheckAbsolute(c.bind_mount_dir(), "bind_mount_dir"));
  RETURN_IF_ERROR(CheckAbsolute(c.state_file(), "state_file"));
  RETURN_IF_ERROR(CheckAbsolute(c.iptables_lock_file(), "iptables_lock_file"));
  if (c.start_port() == 0 || c.total_ports() == 0 ||
      uint64_t{c.start_port()} + c.total_ports() > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("network config: ports ", c.start_port(),
                                                   " + ", c.total_ports(), " do not fit in 1..65535"));
  }
  std::string subnet = c.subnet();
  std::string::size_type slash = subnet.find('/');
  struct in_addr addr;
  int bits = 0;
  if (slash == std::string::npos || inet_pton(AF_INET, subnet.substr(0, slash).c_str(), &addr) != 1 ||
      !absl::SimpleAtoi(subnet.substr(slash + 1), &bits) || bits < 8 || bits > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        "network config: subnet \"", subnet, "\" is not an IPv4 a.b.c.d/n with n in 8..30"));
  }
  uint32_t host = ntohl(addr.s_addr) & ((uint32_t{1} << (32 - bits)) - 1);
  if (host != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("network config: subnet \"", subnet, "\" has host bits set"));
  }
  return absl::OkStatus();
}

std::string DescribeNetwork(const NetworkConfig& c) {
  return absl::StrCat("subnet ", c.subnet(), ", ports ", c.start_port(), "-",
                      c.start_port() + c.total_ports() - 1);
}

std::string CniConflistName(uid_t uid) { return absl::StrCat("gdn-", uid, ".conflist"); }

std::string DefaultCniConflist(uid_t uid, const NetworkConfig& c) {
  std::string state_dir = c.state_file().substr(0, c.state_file().rfind('/'));
  nlohmann::ordered_json ipam = {
      {"type", "host-local"},
      {"ranges", {{{{"subnet", c.subnet()}}}}},
      {"routes", {{{"dst", "0.0.0.0/0"}}}},
      {"dataDir", state_dir + "/ipam"},
  };
  nlohmann::ordered_json bridge = {
      {"type", "bridge"},
      {"bridge", absl::StrCat("gdnbr", uid)},  // at most 15 characters, as interface names
      {"isGateway", true},
      // Masquerading is one rule of setup's for the whole subnet (see EnsureMasquerade).
      {"ipMasq", false},
      {"ipam", ipam},
  };
  nlohmann::ordered_json list = {
      {"cniVersion", "1.0.0"},
      {"name", absl::StrCat("gdn-", uid)},
      {"plugins", {bridge}},
  };
  return list.dump(2) + "\n";
}

}  // namespace gdn::setup
