// Runs in the container's init between clone and exec; see init_child.h for the rules.
// Every path here is resolved inside the container's root with openat2(RESOLVE_IN_ROOT),
// and mounts are made onto /proc/self/fd/N of the resolved target (STYLE.md 12), so a
// symlink in an image cannot point a mount outside the root.
#include "spawn/init_child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#include "spawn/sync.h"

namespace gdn::spawn {
namespace {

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int g_sync = -1;

// Sends kError with errno `err` and a formatted sentence, then exits.
[[noreturn]] __attribute__((format(printf, 2, 3))) void Fail(int err, const char* fmt, ...) {
  SyncMessage m;
  memset(&m, 0, sizeof m);
  m.type = kError;
  m.err = err;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(m.text, sizeof m.text, fmt, ap);
  va_end(ap);
  if (err != 0 && n > 0 && static_cast<size_t>(n) < sizeof m.text) {
    snprintf(m.text + n, sizeof m.text - n, ": %s", strerror(err));
  }
  if (g_sync >= 0) {
    (void)!send(g_sync, &m, sizeof m, MSG_NOSIGNAL);
  } else {
    (void)!write(STDERR_FILENO, m.text, strlen(m.text));
    (void)!write(STDERR_FILENO, "\n", 1);
  }
  _exit(1);
}

// "MS_BIND|MS_REC" into buf, without allocating.
const char* FlagNames(unsigned long flags, char* buf, size_t size) {
  static const struct {
    unsigned long flag;
    const char* name;
  } kNames[] = {{MS_RDONLY, "MS_RDONLY"}, {MS_NOSUID, "MS_NOSUID"}, {MS_NODEV, "MS_NODEV"},
                {MS_NOEXEC, "MS_NOEXEC"}, {MS_REMOUNT, "MS_REMOUNT"}, {MS_BIND, "MS_BIND"},
                {MS_REC, "MS_REC"}, {MS_PRIVATE, "MS_PRIVATE"}, {MS_SLAVE, "MS_SLAVE"},
                {MS_SHARED, "MS_SHARED"}, {MS_UNBINDABLE, "MS_UNBINDABLE"},
                {MS_NOATIME, "MS_NOATIME"}, {MS_NODIRATIME, "MS_NODIRATIME"},
                {MS_RELATIME, "MS_RELATIME"}, {MS_STRICTATIME, "MS_STRICTATIME"}};
  buf[0] = '\0';
  size_t used = 0;
  for (const auto& n : kNames) {
    if ((flags & n.flag) == 0) continue;
    int w = snprintf(buf + used, size - used, "%s%s", used ? "|" : "", n.name);
    if (w < 0 || static_cast<size_t>(w) >= size - used) break;
    used += w;
  }
  if (used == 0) snprintf(buf, size, "0");
  return buf;
}

int OpenInRoot(int rootfd, const char* path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  // No fallback: resolving inside the root needs openat2 (Linux 5.6); a walk with plain
  // openat would follow a symlink in the middle of a path out of the root.
  int fd = static_cast<int>(syscall(SYS_openat2, rootfd, path, &how, sizeof how));
  return fd;
}

// Splits `path` into its parent (in `parent`, "/" at least) and last component.
const char* SplitLast(const char* path, char* parent, size_t size) {
  snprintf(parent, size, "%s", path);
  size_t len = strlen(parent);
  while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0';
  char* slash = strrchr(parent, '/');
  if (slash == nullptr) {
    snprintf(parent, size, "/");
    return path;
  }
  const char* last = path + (slash - parent) + 1;
  if (slash == parent) {
    parent[1] = '\0';
  } else {
    *slash = '\0';
  }
  return last;
}

// mkdir -p inside the root. Returns 0 or errno.
int MkdirAllInRoot(int rootfd, const char* path, mode_t mode) {
  char prefix[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof prefix) return ENAMETOOLONG;
  for (size_t i = 1; i <= len; ++i) {
    if (i != len && path[i] != '/') continue;
    memcpy(prefix, path, i);
    prefix[i] = '\0';
    int fd = OpenInRoot(rootfd, prefix, O_PATH | O_DIRECTORY);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno != ENOENT) return errno;
    char parent[PATH_MAX];
    const char* name = SplitLast(prefix, parent, sizeof parent);
    int pfd = OpenInRoot(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) return errno;
    int r = mkdirat(pfd, name, mode);
    int err = errno;
    close(pfd);
    if (r != 0 && err != EEXIST) return err;
    fd = OpenInRoot(rootfd, prefix, O_PATH | O_DIRECTORY);
    if (fd < 0) return errno;  // e.g. a dangling symlink in the image
    close(fd);
  }
  return 0;
}

// Makes `path` exist inside the root: a folder, or an empty file (for binds of files).
int MakeTargetInRoot(int rootfd, const char* path, bool dir) {
  if (dir) return MkdirAllInRoot(rootfd, path, 0755);
  int fd = OpenInRoot(rootfd, path, O_PATH);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  char parent[PATH_MAX];
  const char* name = SplitLast(path, parent, sizeof parent);
  int err = MkdirAllInRoot(rootfd, parent, 0755);
  if (err != 0) return err;
  int pfd = OpenInRoot(rootfd, parent, O_PATH | O_DIRECTORY);
  if (pfd < 0) return errno;
  fd = openat(pfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  err = errno;
  close(pfd);
  if (fd < 0) return err;
  close(fd);
  return 0;
}

// The flags the kernel locks on a mount seen from a user namespace: a remount must restate
// them (STYLE.md 13).
unsigned long LockedFlags(const char* path) {
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) return 0;
  unsigned long flags = 0;
  if (sv.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// Opens the mount point `dest` inside the root and names it /proc/self/fd/N in `fdpath`.
int OpenTarget(int rootfd, const char* dest, char* fdpath, size_t size) {
  int fd = OpenInRoot(rootfd, dest, O_PATH);
  if (fd < 0) Fail(errno, "open the mount point %s", dest);
  snprintf(fdpath, size, "/proc/self/fd/%d", fd);
  return fd;
}

// Changes flags and propagation of the mount now on `dest`. The descriptor used for the
// first mount still names the folder beneath it, so the target is opened afresh.
// For a recursive bind, the flags go on every submount too: a remount touches only the top
// one, so a read-only rbind of a tree with submounts would leave them writable.
int SetRecursive(int fd, unsigned long flags) {
  struct mount_attr_v0 {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
  } attr = {};
  if (flags & MS_RDONLY) attr.attr_set |= 0x00000001;  // MOUNT_ATTR_RDONLY
  if (flags & MS_NOSUID) attr.attr_set |= 0x00000002;  // MOUNT_ATTR_NOSUID
  if (flags & MS_NODEV) attr.attr_set |= 0x00000004;   // MOUNT_ATTR_NODEV
  if (flags & MS_NOEXEC) attr.attr_set |= 0x00000008;  // MOUNT_ATTR_NOEXEC
  if (attr.attr_set == 0) return 0;
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
  return static_cast<int>(syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                                  sizeof attr));
}

void Adjust(int rootfd, const char* dest, unsigned long flags, unsigned long propagation,
            bool bind, bool recursive = false) {
  unsigned long wanted = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if ((!bind || wanted == 0) && propagation == 0) return;
  char fdpath[64], names[160];
  int fd = OpenTarget(rootfd, dest, fdpath, sizeof fdpath);
  if (bind && wanted != 0) {
    unsigned long remount = MS_BIND | MS_REMOUNT | wanted | LockedFlags(fdpath);
    if (mount(nullptr, fdpath, nullptr, remount, nullptr) != 0) {
      Fail(errno, "remount %s (%s)", dest, FlagNames(remount, names, sizeof names));
    }
    if (recursive) {
      int tree = OpenInRoot(rootfd, dest, O_PATH);
      if (tree < 0 || SetRecursive(tree, wanted) != 0) {
        Fail(errno, "apply %s to the submounts of %s", FlagNames(wanted, names, sizeof names), dest);
      }
      close(tree);
    }
  }
  if (propagation != 0 && mount(nullptr, fdpath, nullptr, propagation, nullptr) != 0) {
    Fail(errno, "set propagation of %s (%s)", dest, FlagNames(propagation, names, sizeof names));
  }
  close(fd);
}

void BindAt(const char* source, int rootfd, const char* dest, bool recursive,
            unsigned long flags, unsigned long propagation) {
  char fdpath[64], names[160];
  int fd = OpenTarget(rootfd, dest, fdpath, sizeof fdpath);
  unsigned long bind = MS_BIND | (recursive ? MS_REC : 0);
  if (mount(source, fdpath, nullptr, bind, nullptr) != 0) {
    int err = errno;
    struct stat st;
    if (err == ENOENT && stat(source, &st) != 0) {
      Fail(err, "bind mount of %s on %s: the source is missing", source, dest);
    }
    Fail(err, "mount %s on %s (%s)", source, dest, FlagNames(bind, names, sizeof names));
  }
  close(fd);
  Adjust(rootfd, dest, flags, propagation, true, recursive);
}

// Where a rootless container may not mount a filesystem, it gets the host's bound instead.
const char* HostFallback(const char* type) {
  if (strcmp(type, "sysfs") == 0) return "/sys";
  if (strcmp(type, "mqueue") == 0) return "/dev/mqueue";
  if (strcmp(type, "proc") == 0) return "/proc";
  return nullptr;
}

void DoMount(int rootfd, const MountStep& m, bool in_userns, bool new_pidns) {
  const char* dest = m.destination.c_str();
  bool dir = m.kind == MountKind::kFilesystem || m.source_is_dir;
  int err = MakeTargetInRoot(rootfd, dest, dir);
  if (err != 0) Fail(err, "make the mount point %s", dest);

  if (m.kind == MountKind::kBind) {
    BindAt(m.source.c_str(), rootfd, dest, m.recursive, m.flags, m.propagation);
    return;
  }
  if (m.type == "cgroup" || m.type == "cgroup2") {
    // The host's hierarchy (v1, v2 or hybrid) as it is; read-only if asked.
    BindAt("/sys/fs/cgroup", rootfd, dest, true, m.flags, m.propagation);
    return;
  }
  char fdpath[64];
  int fd = OpenTarget(rootfd, dest, fdpath, sizeof fdpath);
  const char* data = m.data.empty() ? nullptr : m.data.c_str();
  if (mount(m.source.c_str(), fdpath, m.type.c_str(), m.flags, data) != 0) {
    int mount_err = errno;
    close(fd);
    const char* fallback = HostFallback(m.type.c_str());
    // The host's /proc would show a container with its own pid namespace the host's
    // processes: no fallback for proc then.
    if (new_pidns && m.type == "proc") fallback = nullptr;
    if (in_userns && fallback != nullptr && (mount_err == EPERM || mount_err == EACCES)) {
      BindAt(fallback, rootfd, dest, true, m.flags, m.propagation);
      return;
    }
    char names[160];
    Fail(mount_err, "mount %s (%s, %s, data \"%s\") on %s", m.source.c_str(), m.type.c_str(),
         FlagNames(m.flags, names, sizeof names), data ? data : "", dest);
  }
  close(fd);
  Adjust(rootfd, dest, 0, m.propagation, false);
}

void MakeDevices(int rootfd, const Plan& plan, bool in_userns) {
  for (const DeviceStep& d : plan.devices) {
    char parent[PATH_MAX];
    const char* name = SplitLast(d.path.c_str(), parent, sizeof parent);
    int err = MkdirAllInRoot(rootfd, parent, 0755);
    if (err != 0) Fail(err, "make the folder of %s", d.path.c_str());
    int pfd = OpenInRoot(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) Fail(errno, "open the folder of %s", d.path.c_str());
    if (!in_userns) {
      unlinkat(pfd, name, 0);
      if (mknodat(pfd, name, d.mode, makedev(d.major, d.minor)) != 0) {
        Fail(errno, "mknod %s", d.path.c_str());
      }
      if (fchownat(pfd, name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0) {
        Fail(errno, "chown %s", d.path.c_str());
      }
      close(pfd);
      continue;
    }
    // A user namespace may not make device nodes: bind the host's (same path) onto a file.
    close(pfd);
    err = MakeTargetInRoot(rootfd, d.path.c_str(), false);
    if (err != 0) Fail(err, "make %s", d.path.c_str());
    BindAt(d.path.c_str(), rootfd, d.path.c_str(), false, 0, 0);
  }
  int dev = OpenInRoot(rootfd, "/dev", O_PATH | O_DIRECTORY);
  if (dev < 0) Fail(errno, "open /dev in the container");
  static const struct {
    const char* target;
    const char* name;
  } kLinks[] = {{"/proc/self/fd", "fd"},
                {"/proc/self/fd/0", "stdin"},
                {"/proc/self/fd/1", "stdout"},
                {"/proc/self/fd/2", "stderr"}};
  for (const auto& l : kLinks) {
    if (symlinkat(l.target, dev, l.name) != 0 && errno != EEXIST) {
      Fail(errno, "symlink /dev/%s", l.name);
    }
  }
  bool has_pts = false;
  for (const MountStep& m : plan.mounts) has_pts = has_pts || m.destination == "/dev/pts";
  if (has_pts) {
    unlinkat(dev, "ptmx", 0);
    if (symlinkat("pts/ptmx", dev, "ptmx") != 0) Fail(errno, "symlink /dev/ptmx");
  }
  close(dev);
}

void PivotInto(int rootfd) {
  if (fchdir(rootfd) != 0) Fail(errno, "chdir into the root filesystem");
  if (syscall(SYS_pivot_root, ".", ".") != 0) Fail(errno, "pivot_root");
  // The old root is stacked under the new one: detach it.
  if (umount2(".", MNT_DETACH) != 0) Fail(errno, "detach the old root");
  if (chdir("/") != 0) Fail(errno, "chdir /");
}

void MaskPaths(const Plan& plan) {
  for (const std::string& p : plan.masked_paths) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) continue;
    int r = S_ISDIR(st.st_mode)
                ? mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "size=0")
                : mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr);
    if (r != 0) Fail(errno, "mask %s", p.c_str());
  }
  for (const std::string& p : plan.readonly_paths) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) continue;
    if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      Fail(errno, "bind %s to make it read-only", p.c_str());
    }
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | LockedFlags(p.c_str());
    if (mount(nullptr, p.c_str(), nullptr, flags, nullptr) != 0) {
      Fail(errno, "make %s read-only", p.c_str());
    }
    int tree = open(p.c_str(), O_PATH | O_CLOEXEC);
    if (tree < 0 || SetRecursive(tree, MS_RDONLY) != 0) Fail(errno, "make the submounts of %s read-only", p.c_str());
    close(tree);
  }
}

void WriteSmallFile(const char* path, const char* value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) Fail(errno, "open %s", path);
  ssize_t n = write(fd, value, strlen(value));
  int err = errno;
  close(fd);
  if (n < 0) Fail(err, "write %s", path);
}

}  // namespace

int SetUpTerminal(const ProcessPlan& p, int console, const char** what) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) {
    *what = "open /dev/ptmx in the container";
    return errno;
  }
  int unlock = 0;
  int slave = -1;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0 ||
      (slave = static_cast<int>(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY))) < 0) {
    *what = "open the terminal's peer";
    return errno;
  }
  if (fchown(slave, p.uid, p.gid) != 0 && errno != EINVAL) {
    *what = "chown the terminal";
    return errno;
  }
  // The master goes to the --console-socket, as runc sends it.
  char name[] = "pty";
  struct iovec iov = {name, sizeof name - 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof master);
  if (sendmsg(console, &msg, MSG_NOSIGNAL) < 0) {
    *what = "send the terminal to the console socket";
    return errno;
  }
  close(master);
  close(console);
  if (setsid() < 0) {
    *what = "setsid";
    return errno;
  }
  if (ioctl(slave, TIOCSCTTY, 0) != 0) {
    *what = "make the terminal the controlling one";
    return errno;
  }
  for (int fd = 0; fd < 3; ++fd) {
    if (dup2(slave, fd) < 0) {
      *what = "put the terminal on stdio";
      return errno;
    }
  }
  if (slave > 2) close(slave);
  return 0;
}

int FinalizeProcess(const ProcessPlan& p, bool in_userns, const char** what) {
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: while we still have it.
  if (p.seccomp.has_value() && !p.no_new_privileges) {
    int err = LoadSeccomp(*p.seccomp);
    if (err != 0) {
      *what = "load the seccomp filter";
      return err;
    }
  }
  for (const RlimitStep& r : p.rlimits) {
    if (setrlimit(r.resource, &r.limit) != 0) {
      *what = "setrlimit (raising a hard limit needs privilege on the host)";
      return errno;
    }
  }
  if (p.umask.has_value()) umask(*p.umask);
  // Every capability the kernel knows: until PR_CAPBSET_READ says EINVAL. (Not from
  // /proc/sys/kernel/cap_last_cap: after pivot_root that file is the image's to forge.)
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    if ((p.cap_bounding >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      *what = "drop a capability from the bounding set";
      return errno;
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    *what = "keep capabilities";
    return errno;
  }
  if (!p.additional_gids.empty()) {
    if (setgroups(p.additional_gids.size(), p.additional_gids.data()) != 0) {
      *what = in_userns ? "setgroups (this user namespace denies setgroups: a rootless container "
                          "whose gid map holds only your own gid cannot have additional gids)"
                        : "setgroups";
      return errno;
    }
  } else if (setgroups(0, nullptr) != 0 && !(in_userns && errno == EPERM)) {
    *what = "drop supplementary groups";
    return errno;
  }
  if (setresgid(p.gid, p.gid, p.gid) != 0) {
    *what = "setresgid";
    return errno;
  }
  if (setresuid(p.uid, p.uid, p.uid) != 0) {
    *what = "setresuid";
    return errno;
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
    *what = "clear keepcaps";
    return errno;
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(p.cap_effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(p.cap_permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(p.cap_inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) {
    *what = "set capabilities";
    return errno;
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap < 64; ++cap) {
    if (((p.cap_ambient >> cap) & 1) &&
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      *what = "raise an ambient capability (it must be permitted and inheritable too)";
      return errno;
    }
  }
  if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *what = "set no_new_privs";
    return errno;
  }
  if (chdir(p.cwd.c_str()) != 0) {
    *what = "chdir to process.cwd";
    return errno;
  }
  // A cwd that resolved outside the root (a descriptor of the host through /proc/self/fd,
  // CVE-2024-21626's way out): the kernel's getcwd then answers "(unreachable)...".
  char cwd[PATH_MAX];
  if (syscall(SYS_getcwd, cwd, sizeof cwd) < 0 || cwd[0] != '/') {
    *what = "process.cwd resolves outside the container's root filesystem";
    return EPERM;
  }
  return 0;
}

int SealProcess() {
  // Not dumpable: the container's processes cannot open /proc/PID/exe (spawn's binary) or
  // /proc/PID/fd of this process while it is still spawn (CVE-2019-5736): that needs
  // CAP_SYS_PTRACE in the user namespace spawn was started in. exec makes the container's
  // program dumpable again as usual.
  return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : errno;
}

int ExecProcess(const ProcessPlan& p, char* const* argv, char* const* envp) {
  const char* file = p.args[0].c_str();
  // With no_new_privs: as close to exec as it gets.
  if (p.seccomp.has_value() && p.no_new_privileges) {
    int err = LoadSeccomp(*p.seccomp);
    if (err != 0) {
      const char line[] = "spawn: load the seccomp filter: ";
      (void)!write(STDERR_FILENO, line, sizeof line - 1);
      const char* text = strerror(err);
      (void)!write(STDERR_FILENO, text, strlen(text));
      (void)!write(STDERR_FILENO, "\n", 1);
      _exit(1);
    }
  }
  if (strchr(file, '/') != nullptr) {
    execve(file, argv, envp);
    return errno;
  }
  int err = ENOENT;
  char candidate[PATH_MAX];
  const char* dirs = p.path_env.c_str();
  while (*dirs) {
    const char* end = strchr(dirs, ':');
    size_t len = end ? static_cast<size_t>(end - dirs) : strlen(dirs);
    int n = snprintf(candidate, sizeof candidate, "%.*s/%s", static_cast<int>(len),
                     len ? dirs : ".", file);
    if (n > 0 && static_cast<size_t>(n) < sizeof candidate) {
      execve(candidate, argv, envp);
      if (errno == EACCES) err = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    if (!end) break;
    dirs = end + 1;
  }
  return err;
}

// Marks every descriptor from `first` on close-on-exec: close_range (Linux 5.11), else one by
// one. Returns 0 or -1 with errno.
int CloexecFrom(int first) {
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, CLOSE_RANGE_CLOEXEC) == 0) {
    return 0;
  }
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd < (max > 0 ? max : 65536); ++fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) return -1;
  }
  return 0;
}

// Closes every descriptor above stdio but the preserved ones and those in `keep` (the
// runtime's lock on the state folder among them: holding it would block `start`).
void CloseAllBut(int preserve, const int* keep, int nkeep) {
  int sorted[8];
  int n = 0;
  for (int i = 0; i < nkeep && n < 8; ++i) {
    if (keep[i] >= 3 + preserve) sorted[n++] = keep[i];
  }
  for (int i = 1; i < n; ++i) {
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) {
      int t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  }
  // Without close_range (before Linux 5.9), one by one.
  auto close_between = [](unsigned from, unsigned to) {
    if (syscall(SYS_close_range, from, to, 0u) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    unsigned limit = max > 0 ? static_cast<unsigned>(max) : 65536u;
    for (unsigned fd = from; fd <= to && fd < limit; ++fd) close(static_cast<int>(fd));
  };
  unsigned from = 3u + static_cast<unsigned>(preserve);
  for (int i = 0; i < n; ++i) {
    if (static_cast<unsigned>(sorted[i]) > from) close_between(from, static_cast<unsigned>(sorted[i] - 1));
    from = static_cast<unsigned>(sorted[i]) + 1;
  }
  close_between(from, ~0u);
}

void RunInitChild(const Plan& plan, const InitFds& fds) {
  g_sync = fds.sync;
  int keep[] = {fds.sync, fds.exec_fifo, fds.console};
  CloseAllBut(fds.preserve_fds, keep, 3);
  SyncMessage m;
  bool in_userns = plan.new_userns || plan.runtime_in_userns;
  for (const auto& [flag, path] : plan.joins) {
    if (flag == CLONE_NEWUSER) in_userns = true;
  }
  if (plan.new_userns) {
    ssize_t n = recv(fds.sync, &m, sizeof m, 0);
    if (n != sizeof m || m.type != kMapsWritten) _exit(1);  // the parent gave up
  }
  // Join namespaces by path: the user namespace first, it grants the rights for the rest.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [flag, path] : plan.joins) {
      if ((pass == 0) != (flag == CLONE_NEWUSER)) continue;
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) Fail(errno, "open the namespace %s", path.c_str());
      if (setns(fd, flag) != 0) Fail(errno, "join the namespace %s", path.c_str());
      close(fd);
    }
  }
  if (plan.new_userns || (in_userns && !plan.runtime_in_userns)) {
    // Become root of the user namespace (if 0 is mapped) for the set-up; the process's own
    // ids come last, in FinalizeProcess.
    bool uid0 = plan.uid_map.ToHost(0).has_value() || !plan.new_userns;
    bool gid0 = plan.gid_map.ToHost(0).has_value() || !plan.new_userns;
    if (gid0 && setresgid(0, 0, 0) != 0) Fail(errno, "become gid 0 in the user namespace");
    if (uid0 && setresuid(0, 0, 0) != 0) Fail(errno, "become root in the user namespace");
  }
  if (plan.process.oom_score_adj.has_value()) {
    char value[16];
    snprintf(value, sizeof value, "%d", *plan.process.oom_score_adj);
    WriteSmallFile("/proc/self/oom_score_adj", value);
  }

  // Nothing we mount may propagate back to the host (STYLE.md 14). A private
  // rootfsPropagation is applied now; a shared one after pivot_root, which refuses shared.
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
    Fail(errno, "make / a slave mount");
  }
  if ((plan.rootfs_propagation & (MS_PRIVATE | MS_UNBINDABLE)) != 0 &&
      mount(nullptr, "/", nullptr, plan.rootfs_propagation, nullptr) != 0) {
    Fail(errno, "set rootfsPropagation");
  }
  // The root filesystem is nodev: device nodes an image ships are inert; the container's
  // devices live on its own /dev.
  if (plan.root_overlay.has_value()) {
    const MountStep& o = *plan.root_overlay;
    if (mount("overlay", plan.rootfs.c_str(), "overlay", o.flags | MS_NODEV, o.data.c_str()) != 0) {
      Fail(errno, "mount the overlay root filesystem on %s (%s)", plan.rootfs.c_str(),
           o.data.c_str());
    }
  } else {
    if (mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      Fail(errno, "bind the root filesystem %s", plan.rootfs.c_str());
    }
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NODEV | LockedFlags(plan.rootfs.c_str());
    if (mount(nullptr, plan.rootfs.c_str(), nullptr, flags, nullptr) != 0) {
      Fail(errno, "make the root filesystem nodev");
    }
  }
  int rootfd = open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) Fail(errno, "open the root filesystem %s", plan.rootfs.c_str());

  bool new_pidns = (plan.clone_flags & CLONE_NEWPID) != 0;
  for (const MountStep& step : plan.mounts) DoMount(rootfd, step, in_userns, new_pidns);
  if (plan.dev_is_tmpfs) MakeDevices(rootfd, plan, in_userns);
  int err = MkdirAllInRoot(rootfd, plan.process.cwd.c_str(), 0755);
  if (err != 0) Fail(err, "make process.cwd %s", plan.process.cwd.c_str());

  PivotInto(rootfd);
  close(rootfd);
  if (plan.rootfs_propagation & MS_SHARED) {
    if (mount(nullptr, "/", nullptr, plan.rootfs_propagation, nullptr) != 0) {
      Fail(errno, "make / shared");
    }
  }
  if (!plan.hostname.empty() && sethostname(plan.hostname.c_str(), plan.hostname.size()) != 0) {
    Fail(errno, "set the hostname");
  }
  if (!plan.domainname.empty() &&
      setdomainname(plan.domainname.c_str(), plan.domainname.size()) != 0) {
    Fail(errno, "set the domain name");
  }
  // Before readonlyPaths makes /proc/sys read-only.
  for (const auto& [path, value] : plan.sysctl) WriteSmallFile(path.c_str(), value.c_str());
  MaskPaths(plan);
  if (plan.rootfs_readonly) {
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | LockedFlags("/");
    if (mount(nullptr, "/", nullptr, flags, nullptr) != 0) Fail(errno, "make / read-only");
  }

  if (plan.process.terminal) {
    if (fds.console < 0) Fail(0, "process.terminal is true but there is no --console-socket");
    const char* what = "";
    err = SetUpTerminal(plan.process, fds.console, &what);
    if (err != 0) Fail(err, "%s", what);
  }
  if (plan.wait_for_parent) {
    // In the container's cgroups before its process can run (or fork).
    ssize_t n = recv(fds.sync, &m, sizeof m, 0);
    if (n != sizeof m || m.type != kJoined) _exit(1);  // the parent gave up
  }
  const char* what = "";
  err = FinalizeProcess(plan.process, in_userns, &what);
  if (err != 0) Fail(err, "%s", what);
  err = SealProcess();
  if (err != 0) Fail(err, "make the init not dumpable");
  // No descriptor of the runtime reaches the process (STYLE.md 16): all above the preserved
  // ones become close-on-exec (the sync socket and exec.fifo already are).
  if (CloexecFrom(3 + fds.preserve_fds) != 0) Fail(errno, "mark descriptors close-on-exec");

  // Check the program is there before saying we are ready, so that create reports it.
  const char* file = plan.process.args[0].c_str();
  if (strchr(file, '/') != nullptr && access(file, X_OK) != 0) {
    Fail(errno, "cannot run %s", file);
  }

  memset(&m, 0, sizeof m);
  m.type = kReady;
  if (send(fds.sync, &m, sizeof m, MSG_NOSIGNAL) < 0) _exit(1);
  if (!fds.report_exec) {
    close(fds.sync);
    g_sync = -1;
  }
  // With `run --detach` the sync socket stays open, close-on-exec: the parent sees it close
  // when the process runs (the exec succeeded), or gets the error of the exec.

  if (fds.exec_fifo >= 0) {
    char byte;
    ssize_t n;
    do {
      n = read(fds.exec_fifo, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(1);
    close(fds.exec_fifo);
  }
  err = ExecProcess(plan.process, plan.process.argv.data(), plan.process.envp.data());
  if (g_sync >= 0) Fail(err, "exec %s", file);
  char line[512];
  int len = snprintf(line, sizeof line, "spawn: exec %s: %s\n", file, strerror(err));
  if (len > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(len));
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace gdn::spawn
