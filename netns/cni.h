// netns as a CNI runtime (the CNI 1.0 specification, "Execution protocol" and "Network
// configuration lists"): it finds the network configuration, executes each plugin of the list
// with CNI_COMMAND=ADD, DEL or CHECK and the environment and stdin the specification defines,
// chains results through prevResult, and keeps ADD's result (with the configuration it used)
// so that DEL and CHECK work after a restart, even when the configuration folder changed.
#ifndef GDN_NETNS_CNI_H_
#define GDN_NETNS_CNI_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "netns/ip4.h"
#include "netns/netns.schema.h"
#include "nlohmann/json.hpp"

namespace gdn::netns {

using Json = nlohmann::ordered_json;

// The largest network configuration file netns reads.
inline constexpr size_t kMaxNetworkConfigSize = 1 << 20;

// A network configuration list; a single plugin configuration (.conf) is a list of one.
struct NetworkList {
  std::string name;
  std::string cni_version;
  bool disable_check = false;
  // Objects, each with a plain-name "type"; an "ipam" section, when there is one, is an
  // object whose "type" (if any) is a plain name too.
  std::vector<Json> plugins;
};

// Parses a .conflist (name, cniVersion, plugins) or a single plugin configuration.
// InvalidArgument with the reason, which never quotes the text.
absl::StatusOr<NetworkList> ParseNetworkConfig(absl::string_view text);

// The plain names of the binaries a plugin configuration runs: its "type", then the "type"
// of its "ipam" section (which the plugin executes from CNI_PATH), when it has one.
std::vector<std::string> PluginBinaries(const Json& plugin);

// The list as .conflist JSON text: what the state file caches.
std::string SerializeNetworkList(const NetworkList& list);

// The network to use from `dir`: the one named `want`, or (when `want` is empty) the first
// file in name order ending .conf, .conflist or .json that parses (the others are skipped
// with a warning, warnings.h). Files larger than kMaxNetworkConfigSize are refused. With
// `require_trusted`, the folder and the file must be trusted (trust.h). NotFound when there
// is none.
absl::StatusOr<NetworkList> LoadNetwork(const std::string& dir, const std::string& want,
                                        bool require_trusted);

// -1 when a < b, 0 when equal, 1 when a > b ("0.4.0" < "1.0.0"); missing parts count as 0.
int CompareVersions(absl::string_view a, absl::string_view b);

// One execution of a plugin.
struct PluginCall {
  std::string path;
  std::vector<std::string> env;
  std::string stdin_data;
};
struct PluginOutput {
  int exit_code = 0;  // 128 + N when killed by signal N
  std::string out;
  std::string err;
};

// Runs plugins; a fake in tests.
class PluginExecutor {
 public:
  virtual ~PluginExecutor() = default;
  virtual absl::StatusOr<PluginOutput> Run(const PluginCall& call) = 0;
};

// The real one: a child process with only the given environment, a time limit of a minute.
class SubprocessExecutor : public PluginExecutor {
 public:
  absl::StatusOr<PluginOutput> Run(const PluginCall& call) override;
};

// What the runtime knows of the container for one operation.
struct RuntimeConf {
  std::string container_id;
  std::string netns;                       // may be empty for DEL when the namespace is gone
  std::string ifname;                      // inside the container
  std::vector<PortMapping> port_mappings;  // for plugins with the portMappings capability
};

class CniRuntime {
 public:
  // With `require_trusted_plugins`, the plugin folder and every binary a plugin runs (its
  // own and its IPAM plugin's) must be trusted (trust.h) before it runs; plugins then run
  // from the folder's resolved path (also their CNI_PATH), so that no symbolic link anyone
  // else could change lies between the check and the exec.
  CniRuntime(std::string plugin_dir, PluginExecutor* executor, bool require_trusted_plugins);

  // Whether every plugin of the list, and its IPAM plugin, is installed and may run (with
  // require_trusted_plugins: trust.h), so that `up` can refuse before it makes anything.
  // FailedPrecondition for a plugin that is not installed (DEL skips those: they made
  // nothing it could undo).
  absl::Status CheckPlugins(const NetworkList& list);

  // ADD through the list; the final result as JSON text.
  absl::StatusOr<std::string> Add(const NetworkList& list, const RuntimeConf& rt);
  // DEL through the list in reverse; every plugin runs even when one fails (the first error is
  // returned). `cached_result` ("" if ADD never returned) becomes prevResult from 0.4.0 on.
  absl::Status Del(const NetworkList& list, const RuntimeConf& rt,
                   const std::string& cached_result);
  // CHECK through the list (0.4.0 and later, unless the list disables it).
  absl::Status Check(const NetworkList& list, const RuntimeConf& rt,
                     const std::string& cached_result);

 private:
  // The folder plugins run from: plugin_dir_, or (trusted) its resolved path.
  absl::StatusOr<std::string> Dir();
  // May the binary `type` of the plugin folder run? NotInstalled when it is missing.
  absl::Status CheckPlugin(const std::string& type);
  absl::Status NotInstalled(const std::string& type) const;
  absl::StatusOr<std::string> Invoke(const char* command, const Json& plugin,
                                     const NetworkList& list, const RuntimeConf& rt,
                                     const Json* prev_result);

  std::string plugin_dir_;
  std::string resolved_dir_;  // Dir()'s answer once found
  PluginExecutor* executor_;
  bool require_trusted_plugins_;
};

// What netns takes from a result of any version (0.1.0 to 1.0.0).
struct ResultSummary {
  Cidr address;                // the first IPv4 address, with its prefix
  std::string gateway;         // "" when none
  std::string host_interface;  // the first interface outside the sandbox (a bridge, a veth)
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
};
absl::StatusOr<ResultSummary> SummarizeResult(absl::string_view result);

}  // namespace gdn::netns

#endif  // GDN_NETNS_CNI_H_
