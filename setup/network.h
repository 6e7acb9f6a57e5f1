// The network configuration `netns` trusts, as `setup` writes it for one user: defaults,
// overridden by the fields a --network-config file sets, validated.
//
// netns reads the file as its Config (netns/netns.proto) with unknown keys ignored: the
// fields here that it does not know (subnet, uid, log_prefix) are for people and for setup.
//
// Defaults: CNI plugins from /usr/lib/cni (Debian's containernetworking-plugins), CNI
// network configurations from <config-dir>/network/cni-<uid>, where setup writes
// gdn-<uid>.conflist (bridge gdnbr<uid> + host-local over the subnet; outgoing traffic is
// masqueraded by one rule of setup's, see EnsureMasquerade) unless that folder already holds configurations of its own; network namespaces
// bound under /run/gdn-netns/<uid>, netns's state in /run/gdn-netns-state/<uid>/state.json
// (host-local's leases in ipam/ beside it; runtime state on tmpfs: a reboot ends the
// containers, their namespaces and rules, so their addresses and ports must go with them,
// and no write of it waits for the disk), subnet 10.254.0.0/22 and host ports
// 61001..65534 (Garden's defaults) for the first user; each other user gets the next pool
// that no one else's overlaps (10.254.4.0/22 with ports 31768..32767, then 10.254.8.0/22
// with 30768..31767, ...), the system's xtables lock /run/xtables.lock.
#ifndef GDN_SETUP_NETWORK_H_
#define GDN_SETUP_NETWORK_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

NetworkConfig DefaultNetworkConfig(uid_t uid, const std::string& config_dir,
                                   const std::string& chain_prefix);

// The defaults with the fields set in the JSON file `path` (when not empty) put over them.
// The file may not name another uid or chain prefix. InvalidArgument (exit 7) for a
// malformed file or values that do not hold (see ValidateNetworkConfig).
//
// Users never share addresses or host ports: the subnet and port pool are `kept`'s (the
// user's earlier setup) or the file's when given, and must not overlap any of `others`
// (AlreadyExists, exit 4); otherwise they are the first default pool free of `others`
// (ResourceExhausted, exit 6, when all are taken).
absl::StatusOr<NetworkConfig> ResolveNetworkConfig(uid_t uid, const std::string& config_dir,
                                                   const std::string& chain_prefix,
                                                   const std::string& path,
                                                   const std::vector<NetworkConfig>& others = {},
                                                   const NetworkConfig* kept = nullptr);

// Absolute paths, an IPv4 subnet "a.b.c.d/n" with n in 8..30 and no host bits, a port pool
// inside 1..65535.
absl::Status ValidateNetworkConfig(const NetworkConfig& config);

// "subnet 10.254.0.0/22, ports 61001-65534"
std::string DescribeNetwork(const NetworkConfig& config);

// The CNI network setup writes into cni_config_dir: its file name and its JSON text.
std::string CniConflistName(uid_t uid);
std::string DefaultCniConflist(uid_t uid, const NetworkConfig& config);

}  // namespace gdn::setup

#endif  // GDN_SETUP_NETWORK_H_
