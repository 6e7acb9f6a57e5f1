#include "lib/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/status.h"

extern char** environ;

namespace gdn {
namespace {

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// What the child reports on the error pipe when it fails before exec.
struct ChildError {
  int err;
  int step;
};
enum ChildStep { kStepDup = 1, kStepIds, kStepChdir, kStepExec };

const char* StepName(int step) {
  switch (step) {
    case kStepDup:
      return "set up stdio for";
    case kStepIds:
      return "drop credentials for";
    case kStepChdir:
      return "change folder for";
    default:
      return "exec";
  }
}

// Between clone and exec. The child shares the parent's memory (CLONE_VM, as vfork): no
// allocation, no locks, no libc call that acts on the parent's threads (setuid and friends
// are raw system calls here); report one ChildError and _exit.
[[noreturn]] void Child(const SubprocessOptions& o, int in_fd, int out_fd, int err_fd,
                        int report_fd, char* const* argv, char* const* envp,
                        const gid_t* groups, size_t ngroups, pid_t parent_pid) {
  ChildError e{0, 0};
  if (o.kill_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent_pid) _exit(127);  // the parent is already gone
  }
  // Signals came blocked from the parent: no handler of the parent's may run on its memory
  // here. Every caught one goes back to its default before they are let in.
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa;
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = SIG_DFL;
      (void)sigaction(sig, &sa, nullptr);
    }
  }
  signal(SIGPIPE, SIG_DFL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  int want[3] = {in_fd, out_fd, err_fd};
  for (int target = 0; target < 3; ++target) {
    if (want[target] < 0) continue;  // inherited as it is
    if (want[target] == target) {
      int flags = fcntl(target, F_GETFD);
      if (flags < 0 || fcntl(target, F_SETFD, flags & ~FD_CLOEXEC) < 0) goto fail_dup;
    } else if (dup2(want[target], target) < 0) {
      goto fail_dup;
    }
  }
  if (o.credentials.has_value()) {
    // glibc's setgroups/setresgid/setresuid would change every thread of the parent too.
    if (syscall(SYS_setgroups, ngroups, groups) != 0 ||
        syscall(SYS_setresgid, o.credentials->gid, o.credentials->gid, o.credentials->gid) != 0 ||
        syscall(SYS_setresuid, o.credentials->uid, o.credentials->uid, o.credentials->uid) != 0) {
      e = {errno, kStepIds};
      goto report;
    }
  }
  if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) {
    e = {errno, kStepChdir};
    goto report;
  }
  // Close everything above stdio except the report pipe, which is close-on-exec.
  if (report_fd > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(report_fd - 1), 0u);
  syscall(SYS_close_range, static_cast<unsigned>(report_fd + 1), ~0u, 0u);
  execvpe(argv[0], argv, envp);
  e = {errno, kStepExec};
  goto report;
fail_dup:
  e = {errno, kStepDup};
report:
  (void)!write(report_fd, &e, sizeof e);
  _exit(127);
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

struct ChildArgs {
  const SubprocessOptions* o;
  int in_fd, out_fd, err_fd, report_fd;
  char* const* argv;
  char* const* envp;
  const gid_t* groups;
  size_t ngroups;
  pid_t parent_pid;
};

int ChildMain(void* p) {
  const ChildArgs* a = static_cast<const ChildArgs*>(p);
  Child(*a->o, a->in_fd, a->out_fd, a->err_fd, a->report_fd, a->argv, a->envp, a->groups, a->ngroups,
        a->parent_pid);
}

// Starts the child as vfork does (CLONE_VM | CLONE_VFORK), on a stack of its own: no copy of
// the parent's page tables and no write-protecting of its memory, which for a large,
// multi-threaded parent (gdn) costs more than the exec itself. This thread waits until the
// child has exec'd or ended; the other threads go on.
pid_t StartChild(ChildArgs* args) {
  constexpr size_t kStack = 256 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(ChildMain, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, args);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  errno = err;
  return pid;
}

}  // namespace

std::string SubprocessResult::Describe() const {
  if (timed_out) return "timed out and was killed";
  if (exited) return absl::StrCat("exited with code ", exit_code);
  return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
}

absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& o) {
  if (o.argv.empty() || o.argv[0].empty()) return absl::InvalidArgumentError("empty argv");
  // A child that stops reading its stdin must not kill us with SIGPIPE.
  static const bool sigpipe_ignored = (signal(SIGPIPE, SIG_IGN), true);
  (void)sigpipe_ignored;

  std::vector<char*> argv = CStrings(o.argv);
  std::vector<char*> envp = o.env.has_value() ? CStrings(*o.env) : std::vector<char*>();
  char* const* env_ptr = o.env.has_value() ? envp.data() : environ;
  std::vector<gid_t> groups = o.credentials.has_value() ? o.credentials->groups
                                                        : std::vector<gid_t>();

  UniqueFd null_fd;
  auto need_null = o.stdin_mode == Stdio::kNull || o.stdout_mode == Stdio::kNull ||
                   o.stderr_mode == Stdio::kNull;
  if (need_null) {
    ASSIGN_OR_RETURN(null_fd, Open("/dev/null", O_RDWR));
  }
  Pipe in, out, err;
  if (o.stdin_mode == Stdio::kCapture) {
    ASSIGN_OR_RETURN(in, MakePipe());
  }
  if (o.stdout_mode == Stdio::kCapture) {
    ASSIGN_OR_RETURN(out, MakePipe());
  }
  if (o.stderr_mode == Stdio::kCapture) {
    ASSIGN_OR_RETURN(err, MakePipe());
  }
  ASSIGN_OR_RETURN(Pipe report, MakePipe());

  auto pick = [&](Stdio mode, const UniqueFd& pipe_end, int given) {
    switch (mode) {
      case Stdio::kInherit:
        return -1;
      case Stdio::kNull:
        return null_fd.get();
      case Stdio::kFd:
        return given;
      default:
        return pipe_end.get();
    }
  };
  int child_in = pick(o.stdin_mode, in.read, o.stdin_fd);
  int child_out = pick(o.stdout_mode, out.write, o.stdout_fd);
  int child_err = pick(o.stderr_mode, err.write, o.stderr_fd);
  // Moved into place one by one: a given descriptor must not be one of the three it replaces.
  for (auto [mode, fd] : {std::pair{o.stdin_mode, o.stdin_fd}, std::pair{o.stdout_mode, o.stdout_fd},
                          std::pair{o.stderr_mode, o.stderr_fd}}) {
    if (mode == Stdio::kFd && fd < 3) {
      return absl::InvalidArgumentError("Stdio::kFd takes a descriptor above 2");
    }
  }

  ChildArgs args{&o,         child_in, child_out,     child_err,     report.write.get(),
                 argv.data(), env_ptr,  groups.data(), groups.size(), getpid()};
  pid_t pid = StartChild(&args);
  if (pid < 0) return ErrnoError(errno, "start a child process");
  in.read.Reset();
  out.write.Reset();
  err.write.Reset();
  report.write.Reset();
  null_fd.Reset();

  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  SubprocessResult result;
  absl::Time deadline = absl::Now() + o.timeout;
  absl::string_view to_write = o.stdin_data;
  if (in.write.valid()) {
    fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
    if (to_write.empty()) in.write.Reset();
  }
  bool exited = false;
  while (out.read.valid() || err.read.valid() || in.write.valid() || !exited) {
    struct pollfd fds[4];
    int n = 0;
    auto add = [&](const UniqueFd& fd, short events) {
      if (fd.valid()) fds[n++] = {fd.get(), events, 0};
    };
    add(out.read, POLLIN);
    add(err.read, POLLIN);
    add(in.write, POLLOUT);
    if (!exited) {
      if (pidfd.valid()) {
        add(pidfd, POLLIN);
      }
    }
    int wait_ms = -1;
    if (o.timeout != absl::InfiniteDuration()) {
      absl::Duration left = deadline - absl::Now();
      wait_ms = left <= absl::ZeroDuration()
                    ? 0
                    : static_cast<int>(absl::ToInt64Milliseconds(left + absl::Milliseconds(1)));
    }
    if (!pidfd.valid() && !exited && n == 0) {
      // No pidfd (old kernel): fall back to polling the child.
      wait_ms = wait_ms < 0 ? 10 : std::min(wait_ms, 10);
    }
    int ready = poll(fds, n, wait_ms);
    if (ready < 0 && errno != EINTR) return ErrnoError(errno, "poll");
    if (ready == 0 && o.timeout != absl::InfiniteDuration() && absl::Now() >= deadline &&
        !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      // Grandchildren may keep the pipes open: stop reading them.
      out.read.Reset();
      err.read.Reset();
      in.write.Reset();
      continue;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      int fd = fds[i].fd;
      if (fd == pidfd.get()) {
        exited = true;
        if (o.stop_reading_at_exit) {
          // What the child wrote before it exited is in the pipes now: take it, then stop.
          for (UniqueFd* pipe : {&out.read, &err.read}) {
            if (!pipe->valid()) continue;
            fcntl(pipe->get(), F_SETFL, O_NONBLOCK);
            char buf[16384];
            ssize_t r;
            while ((r = read(pipe->get(), buf, sizeof buf)) > 0) {
              (pipe == &out.read ? result.out : result.err).append(buf, static_cast<size_t>(r));
            }
            pipe->Reset();
          }
          in.write.Reset();
          break;
        }
      } else if (fd == in.write.get()) {
        ssize_t w = write(fd, to_write.data(), to_write.size());
        if (w > 0) to_write.remove_prefix(static_cast<size_t>(w));
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || to_write.empty()) in.write.Reset();
      } else {
        char buf[16384];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          (fd == out.read.get() ? result.out : result.err).append(buf, static_cast<size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          (fd == out.read.get() ? out.read : err.read).Reset();
        }
      }
    }
    if (!pidfd.valid() && !exited) {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
        exited = true;
      }
    }
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError(errno, "waitpid");
  }
  ChildError child_error{0, 0};
  ssize_t got = read(report.read.get(), &child_error, sizeof child_error);
  if (got == static_cast<ssize_t>(sizeof child_error) && child_error.err != 0) {
    return ErrnoError(child_error.err, StepName(child_error.step), o.argv[0]);
  }
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace gdn
