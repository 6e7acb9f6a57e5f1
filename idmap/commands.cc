#include "idmap/commands.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "idmap/idmap.schema.h"
#include "idmap/policy.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/status.h"
#include "lib/subid.h"

namespace gdn::idmap {
namespace {

// A missing subordinate id file grants nothing.
absl::StatusOr<std::vector<SubidEntry>> ReadSubidFile(const char* path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return std::vector<SubidEntry>();
  if (!text.ok()) return text.status();
  return ParseSubidFile(*text);
}

absl::StatusOr<Grants> GrantsOf(const std::string& name, uid_t uid) {
  ASSIGN_OR_RETURN(std::vector<SubidEntry> subuid, ReadSubidFile(kSubuidPath));
  ASSIGN_OR_RETURN(std::vector<SubidEntry> subgid, ReadSubidFile(kSubgidPath));
  Grants grants;
  grants.uids = RangesOf(subuid, name, uid, SystemUidOfName());
  grants.gids = RangesOf(subgid, name, uid, SystemUidOfName());
  return grants;
}

absl::StatusOr<bool> MapWritten(int proc_fd, const char* file) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenAt(proc_fd, file, O_RDONLY));
  ASSIGN_OR_RETURN(std::string content, ReadAll(fd.get()));
  return !content.empty();
}

absl::StatusOr<Target> Inspect(int proc_fd, pid_t pid) {
  Target t;
  t.pid = pid;
  struct stat st;
  if (fstat(proc_fd, &st) != 0) return ErrnoError(errno, "stat", absl::StrCat("/proc/", pid));
  t.uid = st.st_uid;
  t.gid = st.st_gid;

  ASSIGN_OR_RETURN(UniqueFd ns, OpenAt(proc_fd, "ns/user", O_RDONLY));
  uid_t owner;
  if (ioctl(ns.get(), NS_GET_OWNER_UID, &owner) != 0) {
    return ErrnoError(errno, "read the owner of the user namespace of process",
                      absl::StrCat(pid));
  }
  t.userns_owner = owner;
  int parent = ioctl(ns.get(), NS_GET_PARENT);
  if (parent >= 0) {
    UniqueFd parent_fd(parent);
    struct stat parent_st, ours;
    if (fstat(parent_fd.get(), &parent_st) == 0 && stat("/proc/self/ns/user", &ours) == 0) {
      t.userns_is_child_of_ours = parent_st.st_dev == ours.st_dev && parent_st.st_ino == ours.st_ino;
    }
  } else if (errno != EPERM) {
    return ErrnoError(errno, "find the parent user namespace of process", absl::StrCat(pid));
  }
  // EPERM: the target is in the initial namespace (or above ours); not a child.

  ASSIGN_OR_RETURN(t.uid_map_written, MapWritten(proc_fd, "uid_map"));
  ASSIGN_OR_RETURN(t.gid_map_written, MapWritten(proc_fd, "gid_map"));
  return t;
}

// The kernel takes a map in one write() to a fresh descriptor.
absl::Status WriteProcFile(int proc_fd, pid_t pid, const char* file, const std::string& data) {
  std::string path = absl::StrCat("/proc/", pid, "/", file);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenAt(proc_fd, file, O_WRONLY));
  ssize_t n = write(fd.get(), data.data(), data.size());
  if (n < 0) return ErrnoError(errno, "the kernel refused to write", path);
  if (static_cast<size_t>(n) != data.size()) {
    return absl::InternalError(absl::StrCat("short write to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Show(const ShowCommand& cmd) {
  uid_t caller = getuid();
  UserIdentity who;
  if (cmd.user.has_value()) {
    ASSIGN_OR_RETURN(who, LookupUser(*cmd.user));
    if (caller != 0 && who.uid != caller) {
      return absl::PermissionDeniedError(
          absl::StrCat("only root may show the ranges of another user (", who.name, ")"));
    }
  } else {
    absl::StatusOr<UserIdentity> self = LookupUid(caller);
    who = self.ok() ? *self : UserIdentity{"", caller, getgid()};
  }
  ASSIGN_OR_RETURN(Grants grants, GrantsOf(who.name, who.uid));
  SubidRanges out;
  out.set_user(who.name);
  out.set_uid(who.uid);
  for (const gdn::IdRange& r : grants.uids) {
    auto* range = out.add_uid_ranges();
    range->set_start(static_cast<uint32_t>(r.start));
    range->set_count(static_cast<uint32_t>(r.count));
  }
  for (const gdn::IdRange& r : grants.gids) {
    auto* range = out.add_gid_ranges();
    range->set_start(static_cast<uint32_t>(r.start));
    range->set_count(static_cast<uint32_t>(r.count));
  }
  if (grants.uids.empty() && grants.gids.empty()) {
    return absl::NotFoundError(absl::StrCat("user ", who.name.empty() ? absl::StrCat(who.uid) : who.name,
                                            " has no ranges in /etc/subuid or /etc/subgid"));
  }
  return WriteAll(STDOUT_FILENO, LiteToJson(out));
}

absl::Status Apply(const ApplyCommand& cmd) {
  std::string proc = absl::StrCat("/proc/", cmd.pid);
  absl::StatusOr<UniqueFd> proc_fd = Open(proc, O_PATH | O_DIRECTORY);
  if (absl::IsNotFound(proc_fd.status())) {
    return absl::NotFoundError(absl::StrCat("no process ", cmd.pid));
  }
  if (!proc_fd.ok()) return proc_fd.status();

  Caller caller;
  caller.uid = getuid();
  caller.gid = getgid();
  Grants grants;
  if (!caller.privileged()) {
    absl::StatusOr<UserIdentity> self = LookupUid(caller.uid);
    if (self.ok()) caller.name = self->name;
    ASSIGN_OR_RETURN(grants, GrantsOf(caller.name, caller.uid));
  }
  absl::StatusOr<Target> target = Inspect(proc_fd->get(), cmd.pid);
  if (target.status().code() == absl::StatusCode::kUnknown ||
      absl::IsNotFound(target.status())) {
    // ESRCH and friends: the process went away while we looked.
    return absl::NotFoundError(absl::StrCat("process ", cmd.pid, " is gone"));
  }
  if (!target.ok()) return target.status();
  ASSIGN_OR_RETURN(Plan plan, PlanApply(cmd, caller, grants, *target));

  if (!plan.uid_map.empty()) {
    RETURN_IF_ERROR(WriteProcFile(proc_fd->get(), cmd.pid, "uid_map", plan.uid_map));
  }
  if (plan.setgroups.has_value()) {
    RETURN_IF_ERROR(WriteProcFile(proc_fd->get(), cmd.pid, "setgroups", *plan.setgroups));
  }
  if (!plan.gid_map.empty()) {
    RETURN_IF_ERROR(WriteProcFile(proc_fd->get(), cmd.pid, "gid_map", plan.gid_map));
  }
  return absl::OkStatus();
}

}  // namespace gdn::idmap
