// setup: prepares a host, as root and once, for one rootless user of gdn; `--undo` reverts
// exactly what it did. The only gdn binary a user runs with sudo.
//
//   setup --rootless-uid U --rootless-gid G [--add-subids] [--json]
//         [--config-dir DIR] [--depot DIR] [--store DIR] [--run-dir DIR]
//         [--bin-dir DIR] [--install-dir DIR] [--setuid-group]
//         [--cgroup-root DIR] [--cgroup-controllers LIST]
//         [--chain-prefix PREFIX] [--network-config FILE]
//   setup --undo --rootless-uid U [--config-dir DIR] [--json]
//
// Checks first (record.h's CheckSetup is what the other binaries call), then acts:
//  - checks: root; a passwd entry for U; the user's ranges in /etc/subuid and /etc/subgid
//    (missing: exit 5 with the exact line to add; --add-subids appends one free range of
//    65536 above every range in either file, at least 100000, the same start in both);
//    user namespaces and overlayfs, tried as U (probe.h); the cgroup version (cgroups.h);
//    iptables usable; idmap built; every root folder setup writes in, and the network
//    config, changeable by root only (sticky /tmp on the way is fine); a re-run made with
//    the settings of the record (else exit 4: --undo first). A failed check changes nothing.
//  - cgroups: gdn-U in each v1 hierarchy (memory, cpu, cpuacct, cpuset, pids, blkio,
//    devices, freezer; memory, cpu and pids required) or on v2 <root>/gdn-U, delegated. On
//    this hybrid kind of host the empty cgroup2 at <root>/unified is left alone (cgroups.h),
//    but for its superblock's favordynmods, turned on (Linux 6.0+) so that moving a process
//    into a cgroup does not wait out an RCU grace period (~10 ms) each time; undo turns it
//    off again when no other user's record remains (cgroups.h).
//  - folders: depot (/var/lib/gdn/U/depot), store (/var/lib/gdn/U/store), run folder
//    (/run/gdn/U) owned U:G mode 0700; missing parents root 0755.
//  - helpers: idmap, and netns where one is built (else "helper netns: not built,
//    skipped"), from --bin-dir or beside setup (bazel-bin/<name>/<name> too), installed in
//    --install-dir (/usr/local/lib/gdn) root-owned 4755, or 4750 root:G with --setuid-group.
//    Shared by every user set up: --undo keeps one another user's record names.
//  - network: <config-dir>/network/U.json (NetworkConfig, network.h for the defaults),
//    root-owned 0644 in root-owned 0755 folders, with the CNI config dir, bind-mount dir and
//    state folder netns uses made root-owned 0755.
//  - net.ipv4.ip_forward=1 (undo restores the old value only if setup changed it and no
//    other user's record remains); iptables chains (iptables.h), prefix gdn-U- by default:
//    filter input, forward; nat prerouting, output, postrouting (the five netns uses).
//  - the record, <config-dir>/setup/U.json, root-owned 0644: every change as an Action
//    (setup.proto). A re-run adds only what it changed again; --undo reverts the actions
//    newest first. Things that existed before setup get their previous owner and mode back,
//    not removed. A folder setup made but the user filled (depot, store) is kept, said so:
//    undo does not delete a user's images or containers. A cgroup subtree is removed with
//    the cgroups the user made inside; while one holds processes undo stops with exit 8
//    and keeps those actions in the record for the next --undo.
// Output: one line per item, "<kind> <name>: <state>", describing the state reached, so a
// second run prints exactly what the first did; --json prints a Summary instead.
// Run one setup at a time: it takes no lock.
#include <string>
#include <vector>

#include "lib/main.h"
#include "lib/status.h"
#include "setup/setup.h"
#include "setup/setup_flags.h"

int main(int argc, char** argv) {
  return gdn::RunCommandMain(argc, argv, [](const std::vector<std::string>& args) -> absl::Status {
    ASSIGN_OR_RETURN(gdn::setup::SetupOptions options, gdn::setup::ParseSetupFlags(args));
    return gdn::setup::RunSetup(options);
  });
}
