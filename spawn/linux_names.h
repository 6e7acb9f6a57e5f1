// Names the OCI spec uses for kernel constants: capabilities ("CAP_CHOWN"), rlimits
// ("RLIMIT_NOFILE"), signals ("KILL", "SIGKILL", "9") and namespaces ("pid").
#ifndef GDN_SPAWN_LINUX_NAMES_H_
#define GDN_SPAWN_LINUX_NAMES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::spawn {

// The number of a capability name; InvalidArgument for an unknown name.
absl::StatusOr<int> CapabilityNumber(const std::string& name);
// A set of capability names as a bit mask.
absl::StatusOr<uint64_t> CapabilityMask(const std::vector<std::string>& names);
// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).
int LastCapability();
// Every capability name we know, in number order.
const std::vector<std::string>& AllCapabilityNames();

absl::StatusOr<int> RlimitNumber(const std::string& name);

// "KILL", "SIGKILL", "kill", "9" -> 9.
absl::StatusOr<int> SignalNumber(const std::string& name);

// "pid" -> CLONE_NEWPID, ...; InvalidArgument for an unknown type.
absl::StatusOr<int> NamespaceFlag(const std::string& type);
// CLONE_NEWPID -> "pid" (the /proc/PID/ns/ file name).
const char* NamespaceFile(int flag);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_LINUX_NAMES_H_
