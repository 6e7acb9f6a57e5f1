// gdn-init: the first process of every container gdn makes. It holds the container's
// namespaces open, reaps whatever is reparented to it (Garden's processes are started
// beside it by `spawn exec`), and ends on SIGTERM or SIGINT. libc only, so it can be
// bind-mounted into any image.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main() {
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
