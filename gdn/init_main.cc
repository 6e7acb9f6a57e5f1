// gdn-init: the first process of every container gdn makes. It holds the container's
// namespaces open, reaps whatever is reparented to it (Garden's processes are started
// beside it by `spawn exec`), and ends on SIGTERM or SIGINT. Static, so it can be
// bind-mounted into any image.
//
// It is also the tar of StreamIn and StreamOut, run by `spawn exec` in the container as the
// requested user: `/.gdn-init tar-in DEST` (an archive on stdin) and `/.gdn-init tar-out SRC`
// (an archive on stdout).
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "gdn/tar.h"

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "tar-in") == 0) return gdn::TarIn(STDIN_FILENO, argv[2]);
  if (argc == 3 && strcmp(argv[1], "tar-out") == 0) return gdn::TarOut(STDOUT_FILENO, argv[2]);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGTERM || sig == SIGINT) return 0;
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
}
