#include "attach/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "attach/protocol.h"
#include "lib/contract.h"
#include "lib/fd.h"
#include "lib/proc.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::attach {
namespace {

absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(
        absl::StrCat("the folder path is too long for a unix socket: ", path));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, "bind", path);
  }
  if (listen(fd.get(), 8) != 0) return ErrnoError(errno, "listen", path);
  return fd;
}

}  // namespace

absl::StatusOr<Process> StartKeeper(const RunOptions& o) {
  if (o.argv.empty()) return UsageError("attach run needs a command after --");
  RETURN_IF_ERROR(MakeDirs(o.dir, 0700));
  std::string process_path = absl::StrCat(o.dir, "/", kProcessFile);
  std::string socket_path = absl::StrCat(o.dir, "/", kSocketFile);
  std::string exit_path = absl::StrCat(o.dir, "/", kExitFile);
  if (access(process_path.c_str(), F_OK) == 0 || access(socket_path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(o.dir, " already holds a process"));
  }
  unlink(exit_path.c_str());
  // attach-keeper is installed beside attach (as Bazel builds them too).
  std::string keeper_binary = o.keeper_binary.empty() ? SelfDir() + "/attach-keeper" : o.keeper_binary;
  if (access(keeper_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("attach-keeper is missing (", keeper_binary, ")"));
  }
  ASSIGN_OR_RETURN(UniqueFd listener, Listen(socket_path));
  UniqueFd console;
  if (o.console_socket) {
    if (!o.tty) return UsageError("--console-socket goes with --tty");
    std::string console_path = absl::StrCat(o.dir, "/", kConsoleFile);
    unlink(console_path.c_str());
    ASSIGN_OR_RETURN(console, Listen(console_path));
  }
  ASSIGN_OR_RETURN(Pipe report, MakePipe());
  std::vector<std::string> args = {keeper_binary, "--dir", o.dir, "--listen-fd", "3",
                                   "--report-fd", "4", "--buffer", absl::StrCat(o.buffer_limit)};
  if (o.tty) {
    args.insert(args.end(), {"--tty", "--rows", absl::StrCat(o.rows), "--cols", absl::StrCat(o.cols)});
  }
  if (o.stdin) args.push_back("--stdin");
  if (console.valid()) args.insert(args.end(), {"--console-fd", "5"});
  args.push_back("--");
  args.insert(args.end(), o.argv.begin(), o.argv.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t middle = fork();
  if (middle < 0) return ErrnoError(errno, "fork the keeper");
  if (middle == 0) {
    // The keeper: its own session, and none of the caller's stdio, so that whoever started
    // `attach run` may exit, be killed, or wait for EOF on its pipes. Forked once more, so
    // that a long-lived caller (gdn) does not collect keepers as its children.
    setsid();
    pid_t keeper = _Fork();
    if (keeper != 0) _exit(keeper < 0 ? 127 : 0);
    // Move both out of the way first (either may sit on 3 or 4), then into place; dup2 to
    // a new number clears close-on-exec.
    int listen_high = fcntl(listener.get(), F_DUPFD, 10);
    int report_high = fcntl(report.write.get(), F_DUPFD, 10);
    int console_high = console.valid() ? fcntl(console.get(), F_DUPFD, 10) : -1;
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || listen_high < 0 || report_high < 0 || dup2(listen_high, 3) < 0 ||
        dup2(report_high, 4) < 0 || (console.valid() && (console_high < 0 || dup2(console_high, 5) < 0))) {
      _exit(127);
    }
    for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
    syscall(SYS_close_range, console.valid() ? 6u : 5u, ~0u, 0u);
    execv(argv[0], argv.data());
    _exit(127);
  }
  listener.Reset();
  report.write.Reset();
  int status;
  while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  ASSIGN_OR_RETURN(std::string answer, ReadAll(report.read.get()));
  if (answer == "ok\n") {
    Process p;
    RETURN_IF_ERROR(ReadJsonMessage(process_path, &p));
    return p;
  }
  // A keeper that failed has ended (or is ending) by itself after its report.
  unlink(socket_path.c_str());
  unlink(process_path.c_str());
  int err = 0;
  char what[256] = {};
  if (sscanf(answer.c_str(), "ERR %d %255[^\n]", &err, what) == 2) {
    return ErrnoError(err, what, o.argv[0]);
  }
  return absl::InternalError("the keeper died before it started the process");
}

}  // namespace gdn::attach
