// The iptables rules of netns, as text for one `iptables-restore --noflush` run: pure code,
// unit-tested without root.
//
// Chains, with P the configuration's chain_prefix ("gdn-" by default):
//   filter  P input, P forward          base chains (setup makes them; netns does if missing),
//   nat     P prerouting, P output,      jumped to from INPUT, FORWARD, PREROUTING, OUTPUT,
//           P postrouting                POSTROUTING
//   filter  P o-<id>   one per container: its egress. <id> is a hash of the handle.
//   nat     P i-<id>   one per container with port mappings: the DNAT rules.
//
// A container's egress goes P forward -> `-s IP -j P o-<id>` (established and related
// traffic, its own subnet, the overlay network, then one ACCEPT per allowed kind of traffic)
// and, when nothing there accepted it, the next rule `-s IP -j REJECT`. So a net-out only
// appends to P o-<id>: no position to compute, nothing deleted, and the batch is atomic.
// Those rules go at the top of P forward. At its end, each subnet's guard, made once (with
// the first container of the subnet that has no net-out rules) and kept like the base
// chains: `-s SUBNET` established and related traffic, the subnet itself and the overlay
// network accepted, the rest rejected. A container without net-out rules has no chain of
// its own: its `up` and `down` change no iptables rule (the first net-out makes its chain).
// Net-in: P prerouting and P output jump to P i-<id>, whose rules DNAT a host port on a
// local address (or on instance_address) to the container; P postrouting masquerades what
// 127.0.0.1 sends there (the bridge has route_localnet on), and a guard in P input drops
// anything else a container sends to 127.0.0.0/8 through that bridge.
#ifndef GDN_NETNS_RULES_H_
#define GDN_NETNS_RULES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "netns/netns.schema.h"

namespace gdn::netns {

struct BaseChains {
  std::string prefix;
  std::string input() const { return prefix + "input"; }
  std::string forward() const { return prefix + "forward"; }
  std::string prerouting() const { return prefix + "prerouting"; }
  std::string output() const { return prefix + "output"; }
  std::string postrouting() const { return prefix + "postrouting"; }
};

// The hex id of a handle's chains: a stable 64-bit hash (FNV-1a) of prefix and handle, cut
// so that P o-<id> fits iptables' 28 characters. `salt` > 0 gives another id, for the rare
// collision between two handles of one state file.
std::string ChainId(const std::string& prefix, const std::string& handle, int salt);
std::string OutChain(const std::string& prefix, const std::string& id);
std::string InChain(const std::string& prefix, const std::string& id);

// Checks a Garden NetOutRule: protocol all, tcp, udp or icmp (icmpv6 needs IPv6, which netns
// does not set up); IPv4 ranges with start <= end; ports 1-65535, start <= end, only for tcp
// and udp (ignored for icmp, as Garden does; refused for "all"); icmps only for icmp.
// InvalidArgument with the reason.
absl::Status ValidateNetOutRule(const NetOutRule& rule);

// Lines for one iptables-restore run, per table.
struct Batch {
  std::vector<std::string> filter;
  std::vector<std::string> nat;
  bool empty() const { return filter.empty() && nat.empty(); }
  void Append(const Batch& other);
  // The input of iptables-restore: "*nat ... COMMIT" then "*filter ... COMMIT".
  std::string Text() const;
};

// Everything a container's rules are made from.
struct ContainerRules {
  BaseChains base;
  std::string id;                // chain id
  std::string handle;            // for log prefixes
  std::string ip;                // the container's address
  std::string subnet;            // its network (CIDR)
  std::string overlay;           // another network it may always reach (CIDR), or ""
  std::string bridge;            // the host side interface, or "" (then no 127.0.0.1 support)
  std::string instance_address;  // net-in only on this address, or "" for every local one
  bool log_all = false;          // iptables_asg_logging
};

// The rule lines (without "-A chain") that allow `rule`; a LOG line before each ACCEPT when
// the rule (or log_all) asks for it. The rule must be valid.
std::vector<std::string> NetOutRuleSpecs(const NetOutRule& rule, bool log,
                                         const std::string& log_prefix);

// Creates P o-<id> with the fixed rules and `rules`, and hooks it into P forward:
// CreateEgress (which needs no address, so `up` sends it before the CNI ADD) then HookEgress.
Batch InstallEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules);
Batch CreateEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules);
Batch HookEgress(const ContainerRules& c);
// Appends more allowed kinds of traffic to P o-<id>.
Batch AppendEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules);
// Unhooks (when the address is known) and deletes P o-<id>.
Batch RemoveEgress(const ContainerRules& c);

// Creates P i-<id> with `mappings` and hooks it into P prerouting, P output, P postrouting.
Batch InstallIngress(const ContainerRules& c, const std::vector<PortMapping>& mappings);
Batch AppendIngress(const ContainerRules& c, const std::vector<PortMapping>& mappings);
Batch RemoveIngress(const ContainerRules& c);

// The guard of a subnet (a network CIDR, as the CNI result gives it), as iptables-save
// prints its lines; and what makes it complete given `iptables-save -t filter` now: nothing
// when every line is there, else the lines there removed and all of them appended in order.
std::vector<std::string> SubnetGuardLines(const BaseChains& base, const std::string& subnet,
                                          const std::string& overlay);
Batch MissingSubnetGuard(const BaseChains& base, const std::string& subnet,
                         const std::string& overlay, const std::string& filter_save);

// The guard of a bridge with route_localnet on.
Batch AddLocalnetGuard(const BaseChains& base, const std::string& bridge);
Batch RemoveLocalnetGuard(const BaseChains& base, const std::string& bridge);

// The lines that create the base chains and their jumps from the built-in chains, given
// what `iptables-save -t filter` and `-t nat` print now: only what is missing.
Batch MissingBaseChains(const BaseChains& base, const std::string& filter_save,
                        const std::string& nat_save);

}  // namespace gdn::netns

#endif  // GDN_NETNS_RULES_H_
