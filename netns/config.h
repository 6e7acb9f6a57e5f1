// The configuration file of netns: the fields of the Garden seed's garden-cni-config.json
// (cni_plugin_dir, cni_config_dir, bind_mount_dir, overlay_network, state_file, start_port,
// total_ports, iptables_lock_file, instance_address, iptables_asg_logging) plus chain_prefix,
// dns_servers, search_domains and cni_network. JSON, read as Go reads it (keys without regard
// to case, unknown keys ignored: the seed's file has more). See netns.proto for each field.
#ifndef GDN_NETNS_CONFIG_H_
#define GDN_NETNS_CONFIG_H_

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "netns/netns.schema.h"

namespace gdn::netns {

inline constexpr char kDefaultPluginDir[] = "/usr/lib/cni";
inline constexpr uint32_t kDefaultStartPort = 61001;  // Garden's --port-pool-start
inline constexpr uint32_t kDefaultTotalPorts = 4534;  // Garden's --port-pool-size
inline constexpr char kDefaultChainPrefix[] = "gdn-";
// iptables takes chain names of at most 28 characters; ours are the prefix plus at most
// "postrouting" (11), or "o-" and a hash of at least 8 hex digits.
inline constexpr size_t kMaxChainPrefix = 17;

// The largest configuration file netns reads.
inline constexpr size_t kMaxConfigSize = 1 << 20;

// The file `setup` writes for a user: /etc/gdn/network/<uid>.json.
std::string DefaultConfigPath(uid_t uid);

// Parses and validates a configuration, filling defaults. InvalidArgument names the field,
// never its value or any text of the file.
absl::StatusOr<Config> ParseConfig(absl::string_view json);

// The configuration for `caller` (a real uid): `given` or the default path, at most
// kMaxConfigSize bytes (InvalidArgument). For a caller other than root, the file must be
// one they can read themselves (access(2), which asks as the real uid: call it with
// caller == getuid()), trusted (trust.h) and, when it names a uid, theirs: PermissionDenied
// otherwise, and FailedPrecondition ("not set up") when the default file is missing.
// Messages name the file, never what it holds.
absl::StatusOr<Config> LoadConfig(const std::optional<std::string>& given, uid_t caller);

}  // namespace gdn::netns

#endif  // GDN_NETNS_CONFIG_H_
