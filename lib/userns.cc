#include "lib/userns.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/fd.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subprocess.h"

namespace gdn {
namespace {

absl::Status WriteProc(pid_t pid, const char* file, const std::string& data) {
  std::string path = absl::StrCat("/proc/", pid, "/", file);
  ASSIGN_OR_RETURN(UniqueFd fd, Open(path, O_WRONLY));
  if (write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return ErrnoError(errno, "write", path);
  }
  return absl::OkStatus();
}

struct Answer {
  int code;  // absl::StatusCode
  char text[1024];
};

}  // namespace

std::string FindIdmap(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::string dir = SelfDir();
  for (const std::string& candidate : {dir + "/idmap", dir + "/../idmap/idmap"}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "idmap";
}

absl::Status WriteIdMaps(pid_t pid, const IdMap& uid_map, const IdMap& gid_map,
                         const std::string& idmap) {
  uid_t euid = geteuid();
  gid_t egid = getegid();
  if (euid == 0) {
    RETURN_IF_ERROR(WriteProc(pid, "uid_map", uid_map.ToProcFile()));
    return WriteProc(pid, "gid_map", gid_map.ToProcFile());
  }
  const auto& u = uid_map.mappings();
  const auto& g = gid_map.mappings();
  if (u.size() == 1 && u[0].host == euid && u[0].count == 1 && g.size() == 1 &&
      g[0].host == egid && g[0].count == 1) {
    RETURN_IF_ERROR(WriteProc(pid, "setgroups", "deny"));
    RETURN_IF_ERROR(WriteProc(pid, "gid_map", gid_map.ToProcFile()));
    return WriteProc(pid, "uid_map", uid_map.ToProcFile());
  }
  SubprocessOptions o;
  o.argv = {idmap, "apply", "--pid", absl::StrCat(pid)};
  for (const IdMapping& m : u) {
    o.argv.insert(o.argv.end(), {"--uid-map", absl::StrCat(m.container, ":", m.host, ":", m.count)});
  }
  for (const IdMapping& m : g) {
    o.argv.insert(o.argv.end(), {"--gid-map", absl::StrCat(m.container, ":", m.host, ":", m.count)});
  }
  o.timeout = absl::Seconds(30);
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  if (!r.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the uid/gid maps need the setuid helper idmap, which could not be run (",
        r.status().message(), "); install it with setup or pass --idmap"));
  }
  if (!r->ok()) {
    std::string why(absl::StripTrailingAsciiWhitespace(r->err));
    std::string message = absl::StrCat("idmap ", r->Describe(), ": ", why);
    if (r->exited && r->exit_code == kExitNotFound) return absl::NotFoundError(message);
    return absl::PermissionDeniedError(message);
  }
  return absl::OkStatus();
}

absl::Status RunInUserNamespace(const IdMap& uid_map, const IdMap& gid_map,
                                const std::string& idmap,
                                const std::function<absl::Status()>& fn,
                                const std::vector<int>& keep) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoError(errno, "socketpair");
  }
  UniqueFd ours(pair[0]), theirs(pair[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) {
    ours.Reset();
    // Everything else the parent (or its other threads) had open is closed here.
    std::vector<int> kept(keep);
    kept.push_back(theirs.get());
    std::sort(kept.begin(), kept.end());
    unsigned from = 3;
    for (int fd : kept) {
      if (fd < 3) continue;
      if (static_cast<unsigned>(fd) > from) syscall(SYS_close_range, from, static_cast<unsigned>(fd - 1), 0u);
      from = static_cast<unsigned>(fd) + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0u);
    Answer a = {};
    char go = 0;
    if (unshare(CLONE_NEWUSER) != 0) {
      a.code = static_cast<int>(absl::StatusCode::kPermissionDenied);
      snprintf(a.text, sizeof a.text, "unshare a user namespace: %s", strerror(errno));
    } else if (write(theirs.get(), &go, 1) != 1 || read(theirs.get(), &go, 1) != 1 || go != 1) {
      _exit(1);  // the parent could not write our maps; it reports why
    } else if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
      a.code = static_cast<int>(absl::StatusCode::kPermissionDenied);
      snprintf(a.text, sizeof a.text, "become root in the user namespace: %s", strerror(errno));
    } else {
      absl::Status s = fn();
      a.code = static_cast<int>(s.code());
      snprintf(a.text, sizeof a.text, "%s", std::string(s.message()).c_str());
    }
    (void)!write(theirs.get(), &a, sizeof a);
    _exit(a.code == 0 ? 0 : 1);
  }
  theirs.Reset();
  auto reap = [pid] {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  };
  char ready = 0;
  Answer a = {};
  ssize_t n = read(ours.get(), &ready, 1);
  if (n != 1) {
    // The child failed before it was ready: its answer follows instead.
    reap();
    return absl::PermissionDeniedError("could not make a user namespace");
  }
  absl::Status maps = WriteIdMaps(pid, uid_map, gid_map, idmap);
  char go = maps.ok() ? 1 : 0;
  (void)!write(ours.get(), &go, 1);
  if (!maps.ok()) {
    reap();
    return maps;
  }
  n = read(ours.get(), &a, sizeof a);
  reap();
  if (n != static_cast<ssize_t>(sizeof a)) return absl::InternalError("the user-namespace child died");
  return absl::Status(static_cast<absl::StatusCode>(a.code), a.text);
}

}  // namespace gdn
