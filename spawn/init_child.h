// The container's init between clone and exec. Its own regime (STYLE.md 10): it only replays
// a Plan made before clone, allocates nothing, takes no locks, and on failure sends one
// kError message (errno and a sentence) on the sync socket and _exits.
#ifndef GDN_SPAWN_INIT_CHILD_H_
#define GDN_SPAWN_INIT_CHILD_H_

#include "spawn/plan.h"

namespace gdn::spawn {

struct InitFds {
  int sync = -1;          // the child's end of the socket pair
  int exec_fifo = -1;     // exec.fifo opened O_RDWR before clone, or -1 to exec at once
  int console = -1;       // a connected --console-socket, or -1
  int preserve_fds = 0;   // keep fds 3 .. 3+N-1 open for the process (LISTEN_FDS style)
  bool report_exec = false;  // keep `sync` (close-on-exec) until the exec, and say if it fails
};

[[noreturn]] void RunInitChild(const Plan& plan, const InitFds& fds);

// The part shared with `exec`: rlimits, oom score, umask, groups, ids, capabilities,
// no_new_privs, working folder. Returns 0, or the errno of the failed step with `what` set.
int FinalizeProcess(const ProcessPlan& p, bool in_userns, const char** what);

// Makes the calling process not dumpable, so that the container cannot reach spawn's binary
// through /proc/PID/exe while this process is still spawn. Returns 0 or errno.
int SealProcess();

// Opens a terminal in the container (its /dev/ptmx), sends the master over `console` and
// makes the peer the process's controlling terminal and stdio. Returns 0 or errno.
int SetUpTerminal(const ProcessPlan& p, int console, const char** what);

// Marks every descriptor from `first` on close-on-exec (close_range, else one by one).
// Returns 0, or -1 with errno.
int CloexecFrom(int first);

// Execs args[0] of `p`, looking it up in the plan's PATH when it has no '/'. Returns errno.
int ExecProcess(const ProcessPlan& p, char* const* argv, char* const* envp);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_INIT_CHILD_H_
