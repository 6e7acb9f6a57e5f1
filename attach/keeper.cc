#include "attach/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "attach/protocol.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/proc.h"
#include "lib/status.h"

extern char** environ;

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
  std::vector<std::string> args = {keeper_binary, "--dir", o.dir, "--listen-fd", "3", "--report-fd", "4",
                                   "--buffer", absl::StrCat(o.buffer_limit)};
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

  // The keeper: its own session, and none of the caller's stdio, so that whoever started
  // `attach run` may exit, be killed, or wait for EOF on its pipes. Started by posix_spawn
  // (vfork-like: no copy of a large caller's memory, as gdn is); it detaches itself, so
  // that no caller collects keepers as its children. The descriptors go to
  // 3, 4 (and 5) from copies above them, whatever numbers they had.
  UniqueFd listen_high(fcntl(listener.get(), F_DUPFD_CLOEXEC, 10));
  UniqueFd report_high(fcntl(report.write.get(), F_DUPFD_CLOEXEC, 10));
  UniqueFd console_high(console.valid() ? fcntl(console.get(), F_DUPFD_CLOEXEC, 10) : -1);
  if (!listen_high.valid() || !report_high.valid() || (console.valid() && !console_high.valid())) {
    return ErrnoError(errno, "duplicate the keeper's descriptors");
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  absl::Cleanup free_spawn = [&] {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  };
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&actions, 0, 1);
  posix_spawn_file_actions_adddup2(&actions, 0, 2);
  posix_spawn_file_actions_adddup2(&actions, listen_high.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, report_high.get(), 4);
  if (console.valid()) posix_spawn_file_actions_adddup2(&actions, console_high.get(), 5);
  posix_spawn_file_actions_addclosefrom_np(&actions, console.valid() ? 6 : 5);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t starter;
  int spawned = posix_spawn(&starter, argv[0], &actions, &attr, argv.data(), environ);
  if (spawned != 0) return ErrnoError(spawned, "start", keeper_binary);
  listener.Reset();
  report.write.Reset();
  listen_high.Reset();
  report_high.Reset();
  console_high.Reset();
  int status;
  while (waitpid(starter, &status, 0) < 0 && errno == EINTR) {
  }
  ASSIGN_OR_RETURN(std::string answer, ReadAll(report.read.get()));
  if (answer == "ok\n") {
    Process p;
    RETURN_IF_ERROR(ReadLiteJson(process_path, &p));
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
