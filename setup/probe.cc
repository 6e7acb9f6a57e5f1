#include "setup/probe.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::setup {
namespace {

// What a sysctl that restricts user namespaces says, or "" when none does.
std::string RestrictingSysctl() {
  auto read = [](const char* path) -> std::string {
    absl::StatusOr<std::string> v = ReadFile(path);
    return v.ok() ? std::string(absl::StripAsciiWhitespace(*v)) : "";
  };
  if (read("/proc/sys/user/max_user_namespaces") == "0") {
    return "user.max_user_namespaces is 0: set it, e.g. `sysctl -w user.max_user_namespaces=15000`";
  }
  if (read("/proc/sys/kernel/unprivileged_userns_clone") == "0") {
    return "kernel.unprivileged_userns_clone is 0: `sysctl -w kernel.unprivileged_userns_clone=1`";
  }
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1") {
    return "kernel.apparmor_restrict_unprivileged_userns is 1: allow gdn's binaries an AppArmor "
           "profile with `userns,` or `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`";
  }
  return "";
}

// The child: one letter for the step that failed and the errno, through `fd`.
[[noreturn]] void Fail(int fd, char step) {
  int err = errno;
  char msg[2 + sizeof(int)];
  msg[0] = step;
  memcpy(msg + 1, &err, sizeof err);
  (void)!write(fd, msg, 1 + sizeof err);
  _exit(1);
}

bool WriteProcFile(const char* path, const std::string& data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  return ok;
}

}  // namespace

absl::Status ProbeUserNamespaces(uid_t uid, gid_t gid, const std::string& near) {
  std::string base = near;
  while (base != "/" && !FileExists(base)) {
    std::string::size_type slash = base.rfind('/');
    base = slash == 0 ? "/" : base.substr(0, slash);
  }
  std::string dir = (base == "/" ? "" : base) + "/.gdn-setup-probe-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return ErrnoError(errno, "mkdtemp", dir);
  absl::Cleanup remove = [&dir] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  std::string lower = dir + "/lower", upper = dir + "/upper", work = dir + "/work",
              merged = dir + "/merged";
  for (const std::string& d : {dir, lower, upper, work, merged}) {
    if (d != dir && mkdir(d.c_str(), 0700) != 0) return ErrnoError(errno, "mkdir", d);
    if (chown(d.c_str(), uid, gid) != 0) return ErrnoError(errno, "chown", d);
  }
  std::string uid_map = absl::StrCat("0 ", uid, " 1\n"), gid_map = absl::StrCat("0 ", gid, " 1\n");
  std::string options = absl::StrCat("lowerdir=", lower, ",upperdir=", upper, ",workdir=", work);
  ASSIGN_OR_RETURN(Pipe pipe, MakePipe());

  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) {
    int fd = pipe.write.get();
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      Fail(fd, 'C');
    }
    // Changing ids made this process undumpable, which leaves /proc/self/*_map root's.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (unshare(CLONE_NEWUSER) != 0) Fail(fd, 'U');
    if (!WriteProcFile("/proc/self/setgroups", "deny") ||
        !WriteProcFile("/proc/self/uid_map", uid_map) ||
        !WriteProcFile("/proc/self/gid_map", gid_map)) {
      Fail(fd, 'I');
    }
    if (unshare(CLONE_NEWNS) != 0) Fail(fd, 'N');
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Fail(fd, 'N');
    if (mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) Fail(fd, 'O');
    _exit(0);
  }
  pipe.write.Reset();
  absl::StatusOr<std::string> report = ReadAll(pipe.read.get());
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return absl::OkStatus();
  if (!report.ok() || report->size() != 1 + sizeof(int)) {
    return absl::InternalError(absl::StrCat("the user namespace probe for uid ", uid,
                                            " died (status ", wstatus, ")"));
  }
  int err;
  memcpy(&err, report->data() + 1, sizeof err);
  std::string why = strerror(err);
  std::string sysctl = RestrictingSysctl();
  switch ((*report)[0]) {
    case 'C':
      return absl::InternalError(absl::StrCat("cannot become uid ", uid, ": ", why));
    case 'U':
      return absl::FailedPreconditionError(absl::StrCat(
          "uid ", uid, " cannot make a user namespace: ", why,
          sysctl.empty() ? "" : absl::StrCat(" (", sysctl, ")")));
    case 'I':
      return absl::FailedPreconditionError(
          absl::StrCat("uid ", uid, " cannot map its own ids in its user namespace: ", why));
    case 'N':
      return absl::FailedPreconditionError(absl::StrCat(
          "uid ", uid, " cannot make a mount namespace in its user namespace: ", why));
    default:
      return absl::FailedPreconditionError(absl::StrCat(
          "uid ", uid, " cannot mount overlayfs inside a user namespace on ", base, ": ", why,
          " (Linux 5.11 or later is needed, on a filesystem overlayfs takes as upper layer)"));
  }
}

}  // namespace gdn::setup
