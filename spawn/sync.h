// The handshake between `spawn create` (the parent) and the container's init (the child),
// over a SOCK_SEQPACKET socket pair: one message per step, so a short read never splits one.
//
//   parent (spawn create / run)                 child (container init, after clone)
//   ---------------------------                 -----------------------------------
//   clone(CLONE_NEW*) ---------------------->   waits for kMapsWritten
//   writes uid_map, setgroups, gid_map
//   (directly, or through idmap)
//   kMapsWritten --------------------------->   becomes root of its user namespace;
//                                               mounts, devices, pivot_root, masked and
//                                               read-only paths, hostname, sysctl, the
//                                               terminal
//   moves it into its cgroups
//   kJoined -------------------------------->   (when it has cgroups) rlimits, ids,
//                                               capabilities, seccomp
//                <---------------------------  kReady (or kError + errno + one sentence)
//   records the state, writes --pid-file;       opens exec.fifo O_RDWR and blocks reading it
//   create exits (the state is "created")
//   `spawn start` writes one byte to exec.fifo  reads it; execs the process
//   and removes the fifo ("running")
//
// With `run` there is no fifo: the child execs right after kReady.
#ifndef GDN_SPAWN_SYNC_H_
#define GDN_SPAWN_SYNC_H_

namespace gdn::spawn {

enum SyncType : int {
  kMapsWritten = 1,
  kReady = 2,
  kError = 3,
  kJoined = 4,  // the child is in its cgroups (sent only when it has some)
};

struct SyncMessage {
  int type;
  int err;          // errno of the failed step, for kError
  char text[1024];  // one sentence, NUL-terminated, for kError
};

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_SYNC_H_
