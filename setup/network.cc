#include "setup/network.h"

#include <arpa/inet.h>

#include <cstdint>
#include <string>

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

}  // namespace

NetworkConfig DefaultNetworkConfig(uid_t uid, const std::string& config_dir,
                                   const std::string& chain_prefix) {
  NetworkConfig c;
  c.set_cni_plugin_dir("/usr/lib/cni");
  c.set_cni_config_dir(absl::StrCat(config_dir, "/network/cni-", uid));
  c.set_bind_mount_dir(absl::StrCat("/run/gdn-netns/", uid));
  c.set_state_file(absl::StrCat("/var/lib/gdn-netns/", uid, "/state.json"));
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
                                                   const std::string& path) {
  NetworkConfig config = DefaultNetworkConfig(uid, config_dir, chain_prefix);
  if (!path.empty()) {
    NetworkConfig given;
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
  }
  RETURN_IF_ERROR(ValidateNetworkConfig(config));
  return config;
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
      {"ipMasq", true},
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
