// The command line of `setup`:
//
//   setup --rootless-uid U --rootless-gid G [--add-subids] [--json]
//         [--config-dir DIR] [--depot DIR] [--store DIR] [--run-dir DIR]
//         [--bin-dir DIR] [--install-dir DIR] [--setuid-group]
//         [--cgroup-root DIR] [--cgroup-controllers LIST]
//         [--chain-prefix PREFIX] [--network-config FILE]
//   setup --undo --rootless-uid U [--config-dir DIR] [--json]
#ifndef GDN_SETUP_SETUP_FLAGS_H_
#define GDN_SETUP_SETUP_FLAGS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::setup {

inline constexpr char kUsage[] =
    "usage: setup --rootless-uid U --rootless-gid G [--add-subids] [--json]\n"
    "             [--config-dir DIR] [--depot DIR] [--store DIR] [--run-dir DIR]\n"
    "             [--bin-dir DIR] [--install-dir DIR] [--setuid-group]\n"
    "             [--cgroup-root DIR] [--cgroup-controllers LIST]\n"
    "             [--chain-prefix PREFIX] [--network-config FILE]\n"
    "       setup --undo --rootless-uid U [--config-dir DIR] [--json]\n"
    "Prepares this host, as root, once, for one rootless user of gdn; --undo reverts it.";

// The cgroup v1 controllers gdn uses; memory, cpu and pids must be there, the others are
// used where the kernel has them.
inline constexpr const char* kV1Controllers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                                 "pids",   "blkio",   "devices", "freezer"};
inline constexpr const char* kV2Controllers[] = {"memory", "cpu", "cpuset", "pids", "io"};
inline constexpr const char* kRequiredControllers[] = {"memory", "cpu", "pids"};

struct SetupOptions {
  uid_t uid = 0;
  gid_t gid = 0;
  bool undo = false;
  bool json = false;
  bool add_subids = false;
  bool setuid_group = false;
  std::string config_dir;    // /etc/gdn
  std::string depot;         // /var/lib/gdn/<uid>/depot
  std::string store;         // /var/lib/gdn/<uid>/store
  std::string run_dir;       // /run/gdn/<uid>
  std::string bin_dir;       // "": beside setup
  std::string install_dir;   // /usr/local/lib/gdn
  std::string cgroup_root;   // /sys/fs/cgroup
  // Empty: the default set of the cgroup version found, where the kernel has them; given:
  // exactly these, each required.
  std::vector<std::string> cgroup_controllers;
  std::string chain_prefix;  // gdn-<uid>-
  std::string network_config_file;  // "": defaults only
};

// Parses the arguments after the program name and fills in the defaults. Every problem is
// a UsageError (exit 2).
absl::StatusOr<SetupOptions> ParseSetupFlags(const std::vector<std::string>& args);

// The longest chain prefix: iptables chain names have at most 28 characters, and the
// longest name we add to it is "postrouting".
inline constexpr size_t kMaxChainPrefix = 28 - 11;

}  // namespace gdn::setup

#endif  // GDN_SETUP_SETUP_FLAGS_H_
