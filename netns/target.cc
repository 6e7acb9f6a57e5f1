#include "netns/target.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/proc.h"
#include "lib/status.h"

namespace gdn::netns {
namespace {

absl::Status Gone(pid_t pid) { return absl::NotFoundError(absl::StrCat("no process ", pid)); }

// ENOENT and ESRCH (a process that died after we opened its folder) mean it is gone.
absl::Status ProcError(int err, pid_t pid, absl::string_view what) {
  if (err == ENOENT || err == ESRCH) return Gone(pid);
  return ErrnoError(err, absl::StrCat("read ", what, " of process"), absl::StrCat(pid));
}

absl::StatusOr<uid_t> OwnerOfUserns(int userns_fd, pid_t pid) {
  uid_t owner;
  if (ioctl(userns_fd, NS_GET_OWNER_UID, &owner) != 0) {
    return ProcError(errno, pid, "the owner of a user namespace");
  }
  return owner;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

absl::StatusOr<Target> OpenTarget(pid_t pid) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("Pid ", pid, " is no process id"));
  std::string proc = absl::StrCat("/proc/", pid);
  int raw = open(proc.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return ProcError(errno, pid, "the folder");
  UniqueFd dir(raw);
  Target t;
  t.facts.pid = pid;

  raw = openat(dir.get(), "status", O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ProcError(errno, pid, "the status");
  UniqueFd status_fd(raw);
  absl::StatusOr<std::string> status = ReadAll(status_fd.get());
  if (!status.ok()) return Gone(pid);
  bool have_uid = false;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "NSpid:")) {
      // Its pid in each pid namespace, outermost first: 1 last, in a nested one, is an init.
      std::vector<absl::string_view> ids =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      t.facts.pid_ns_init = ids.size() >= 2 && ids.back() == "1";
      continue;
    }
    if (!absl::ConsumePrefix(&line, "Uid:")) continue;
    std::vector<absl::string_view> ids =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!ids.empty() && absl::SimpleAtoi(ids[0], &t.facts.real_uid)) have_uid = true;
  }
  if (!have_uid) return absl::InternalError(absl::StrCat("no Uid line in ", proc, "/status"));

  raw = openat(dir.get(), "ns/user", O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ProcError(errno, pid, "the user namespace");
  UniqueFd userns(raw);
  ASSIGN_OR_RETURN(t.facts.userns_owner, OwnerOfUserns(userns.get(), pid));

  raw = openat(dir.get(), "ns/net", O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ProcError(errno, pid, "the network namespace");
  t.netns = UniqueFd(raw);
  raw = ioctl(t.netns.get(), NS_GET_USERNS);
  if (raw >= 0) {
    UniqueFd net_owner_ns(raw);
    ASSIGN_OR_RETURN(t.facts.netns_owner, OwnerOfUserns(net_owner_ns.get(), pid));
  } else if (errno == EPERM) {
    // Owned by a user namespace above ours: no caller's.
    t.facts.netns_owner = static_cast<uid_t>(-1);
  } else {
    return ProcError(errno, pid, "the owning user namespace of the network namespace");
  }

  struct stat target_st, st;
  if (fstat(t.netns.get(), &target_st) != 0) return ProcError(errno, pid, "the network namespace");
  for (const char* host : {"/proc/1/ns/net", "/proc/self/ns/net"}) {
    if (stat(host, &st) == 0 && SameFile(st, target_st)) t.facts.host_netns = true;
  }
  // The folder is still that process's: reading through it now fails if the pid was reused.
  raw = openat(dir.get(), "stat", O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ProcError(errno, pid, "the stat");
  UniqueFd stat_fd(raw);
  absl::StatusOr<std::string> stat_line = ReadAll(stat_fd.get());
  if (!stat_line.ok()) return Gone(pid);
  t.facts.start_time = ParseProcessStart(*stat_line).start_time;
  return t;
}

absl::Status CheckTarget(uid_t caller, const TargetFacts& f) {
  if (f.host_netns) {
    return absl::PermissionDeniedError(
        absl::StrCat("process ", f.pid,
                     " is in the host's network namespace; netns only wires a container's own"));
  }
  if (caller == 0) return absl::OkStatus();
  if (f.real_uid != caller) {
    return absl::PermissionDeniedError(absl::StrCat("process ", f.pid, " runs as uid ", f.real_uid,
                                                    ", not as you (", caller, ")"));
  }
  if (f.userns_owner != caller) {
    return absl::PermissionDeniedError(absl::StrCat("the user namespace of process ", f.pid,
                                                    " belongs to uid ", f.userns_owner,
                                                    ", not to you (", caller, ")"));
  }
  if (f.netns_owner != caller) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the network namespace of process ", f.pid, " belongs to a user namespace of uid ",
        f.netns_owner, ", not to one of yours (", caller, ")"));
  }
  return absl::OkStatus();
}

}  // namespace gdn::netns
