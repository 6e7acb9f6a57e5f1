// The base iptables chains netns hangs its rules on (netns/rules.h): filter <prefix>input and
// <prefix>forward, nat <prefix>prerouting, <prefix>output (net-in from the host itself) and
// <prefix>postrouting, each jumped to from the first rule of its built-in chain. Run through the iptables binary, with -w so that a held
// xtables lock is waited for. IPv4 only, as Garden's networking is.
#ifndef GDN_SETUP_IPTABLES_H_
#define GDN_SETUP_IPTABLES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

struct BaseChain {
  std::string table;   // filter, nat
  std::string name;    // <prefix>input
  std::string parent;  // INPUT
};
std::vector<BaseChain> BaseChains(const std::string& prefix);

// The iptables binary (in /usr/sbin, /sbin, /usr/bin or /bin; PATH is not trusted), or
// NotFound saying which package to install.
absl::StatusOr<std::string> FindIptables();

// OK when iptables can list the filter and nat tables.
absl::Status CheckIptables(const std::string& iptables);

// Makes the chains and jumps that are missing, appending an Action for each.
absl::Status EnsureChains(const std::string& iptables, const std::string& prefix,
                          std::vector<Action>* actions);

// Containers' traffic leaving `subnet` for elsewhere is masqueraded: one rule for the whole
// subnet in the nat <prefix>postrouting chain (made by EnsureChains, whose undo takes it),
// instead of the CNI bridge plugin's chain per container and its iptables runs on every
// up and down. Added once.
absl::Status EnsureMasquerade(const std::string& iptables, const std::string& prefix, const std::string& subnet);

// Whether `chain` exists and whether its jump from `parent` does, for the output.
absl::StatusOr<std::string> DescribeChain(const std::string& iptables, const BaseChain& chain);

// Reverts a CHAIN action (flushes and deletes the chain) or a JUMP action (deletes that one
// jump).
absl::StatusOr<std::string> UndoIptablesAction(const std::string& iptables, const Action& action);

}  // namespace gdn::setup

#endif  // GDN_SETUP_IPTABLES_H_
