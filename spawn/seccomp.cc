#include "spawn/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/fd.h"
#include "lib/status.h"

namespace gdn::spawn {
namespace {

constexpr char kField[] = "linux.seccomp";

// --- Names of the OCI profile -------------------------------------------------------------

template <typename T>
struct Named {
  const char* name;
  T value;
};

constexpr Named<uint32_t> kArchitectures[] = {
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
};

constexpr Named<unsigned int> kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
};

// clang-format off
constexpr Named<scmp_compare> kOps[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};
// clang-format on

template <typename T, size_t N>
std::optional<T> Lookup(const Named<T> (&table)[N], const std::string& name) {
  for (const auto& entry : table) {
    if (name == entry.name) return entry.value;
  }
  return std::nullopt;
}

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// The largest errno the kernel passes back from SECCOMP_RET_ERRNO (MAX_ERRNO).
constexpr uint32_t kMaxErrno = 4095;

// The libseccomp action for an OCI action name; `errno_ret` is errnoRet (or
// defaultErrnoRet), `field` names the action for messages.
absl::StatusOr<uint32_t> ParseAction(const std::string& name, std::optional<uint32_t> errno_ret,
                                     const std::string& field) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_ERRNO" || name == "SCMP_ACT_TRACE") {
    uint32_t value = errno_ret.value_or(EPERM);
    bool is_errno = name == "SCMP_ACT_ERRNO";
    if (value > (is_errno ? kMaxErrno : 0xffff)) {
      return Invalid(field, absl::StrFormat("%s return value %u out of range", name, value));
    }
    return is_errno ? SCMP_ACT_ERRNO(value) : SCMP_ACT_TRACE(value);
  }
  if (name == "SCMP_ACT_NOTIFY") {
    return Invalid(field, "SCMP_ACT_NOTIFY is not supported (no seccomp listener)");
  }
  if (name.empty()) return Invalid(field, "no action");
  return Invalid(field, absl::StrFormat("unknown action \"%s\"", name));
}

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

absl::Status LibseccompError(int rc, absl::string_view what) {
  return absl::InternalError(absl::StrCat("libseccomp ", what, ": ", std::strerror(-rc)));
}

// The compiled filter of `ctx` as BPF: libseccomp 2.5 only writes it to a descriptor.
absl::StatusOr<std::vector<struct sock_filter>> ExportBpf(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!fd) return ErrnoError(errno, "memfd_create");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc != 0) return LibseccompError(rc, "export");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, "fstat", "seccomp memfd");
  size_t size = st.st_size;
  if (size == 0 || size % sizeof(struct sock_filter) != 0) {
    return absl::InternalError(absl::StrCat("libseccomp exported ", size, " bytes of BPF"));
  }
  std::vector<struct sock_filter> filter(size / sizeof(struct sock_filter));
  char* out = reinterpret_cast<char*>(filter.data());
  for (size_t done = 0; done < size;) {
    ssize_t n = pread(fd.get(), out + done, size - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read", "seccomp memfd");
    if (n == 0) return absl::InternalError("seccomp memfd: short read");
    done += n;
  }
  return filter;
}

// One rule of the profile, validated, for the native syscall number `nr` (libseccomp
// translates it to each architecture's own number, by name).
struct Rule {
  uint32_t action;
  int nr;
  std::vector<struct scmp_arg_cmp> conditions;
  bool any_condition;  // conditions on a repeated argument: OR, else AND
  std::string field;   // "linux.seccomp.syscalls[i].names[j]", for errors
  std::string name;
};

// What happens to a syscall of an architecture the filter does not list (libseccomp's
// default): the thread is killed.
constexpr uint32_t kBadArchAction = SCMP_ACT_KILL_THREAD;

// The filter of one architecture, whose "not my architecture" exits return `next_arch`.
absl::StatusOr<std::vector<struct sock_filter>> CompileArch(uint32_t arch, uint32_t default_action,
                                                            uint32_t next_arch,
                                                            const std::vector<Rule>& rules) {
  Filter filter(seccomp_init(default_action));
  if (!filter) return absl::InternalError("libseccomp: seccomp_init failed");
  scmp_filter_ctx ctx = filter.get();
  // spawn sets no_new_privs itself, when the spec asks for it.
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return LibseccompError(rc, "SCMP_FLTATR_CTL_NNP");
  rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, next_arch);
  if (rc != 0) return LibseccompError(rc, "SCMP_FLTATR_ACT_BADARCH");
  // A binary tree of syscall numbers instead of a linear list: fewer instructions run per
  // syscall with long allowlists. Best effort: only an optimization.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (arch != seccomp_arch_native()) {
    rc = seccomp_arch_add(ctx, arch);
    if (rc == 0) rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
    if (rc != 0) return LibseccompError(rc, "architecture");
  }
  for (const Rule& rule : rules) {
    auto add = [&](unsigned count, const struct scmp_arg_cmp* cmp) -> absl::Status {
      int rc = seccomp_rule_add_array(ctx, rule.action, rule.nr, count, cmp);
      if (rc == 0) return absl::OkStatus();
      return Invalid(rule.field,
                     absl::StrFormat("rule for \"%s\": %s", rule.name, std::strerror(-rc)));
    };
    if (rule.any_condition) {
      for (const auto& cmp : rule.conditions) RETURN_IF_ERROR(add(1, &cmp));
    } else {
      RETURN_IF_ERROR(add(rule.conditions.size(), rule.conditions.data()));
    }
  }
  return ExportBpf(ctx);
}

}  // namespace

absl::StatusOr<SeccompProgram> CompileSeccomp(const oci::Seccomp& profile) {
  const std::string field = kField;
  if (!profile.listener_path().empty()) {
    return Invalid(field + ".listenerPath", "seccomp notify listeners are not supported");
  }
  uint32_t default_action;
  ASSIGN_OR_RETURN(default_action,
                   ParseAction(profile.default_action(),
                               profile.has_default_errno_ret()
                                   ? std::optional<uint32_t>(profile.default_errno_ret())
                                   : std::nullopt,
                               field + ".defaultAction"));

  SeccompProgram program;
  for (int i = 0; i < profile.flags_size(); ++i) {
    std::optional<unsigned int> flag = Lookup(kFlags, profile.flags(i));
    if (!flag) {
      return Invalid(absl::StrCat(field, ".flags[", i, "]"),
                     absl::StrFormat("unknown flag \"%s\"", profile.flags(i)));
    }
    program.flags |= *flag;
  }

  // The native architecture first: most syscalls are decided by its part of the filter.
  std::vector<uint32_t> arches = {seccomp_arch_native()};
  for (int i = 0; i < profile.architectures_size(); ++i) {
    const std::string& name = profile.architectures(i);
    std::optional<uint32_t> arch = Lookup(kArchitectures, name);
    if (!arch) {
      return Invalid(absl::StrCat(field, ".architectures[", i, "]"),
                     absl::StrFormat("unknown architecture \"%s\"", name));
    }
    if (std::find(arches.begin(), arches.end(), *arch) == arches.end()) arches.push_back(*arch);
  }

  std::vector<Rule> rules;
  std::vector<uint32_t> actions = {default_action};
  for (int i = 0; i < profile.syscalls_size(); ++i) {
    const oci::SeccompSyscall& entry = profile.syscalls(i);
    std::string entry_field = absl::StrCat(field, ".syscalls[", i, "]");
    uint32_t action;
    ASSIGN_OR_RETURN(action,
                     ParseAction(entry.action(),
                                 entry.has_errno_ret() ? std::optional<uint32_t>(entry.errno_ret())
                                                       : std::nullopt,
                                 entry_field + ".action"));
    std::vector<struct scmp_arg_cmp> conditions;
    unsigned seen_indexes = 0;
    bool repeated_index = false;
    for (int j = 0; j < entry.args_size(); ++j) {
      const oci::SeccompArg& arg = entry.args(j);
      std::string arg_field = absl::StrCat(entry_field, ".args[", j, "]");
      if (arg.index() > 5) {
        return Invalid(arg_field + ".index",
                       absl::StrFormat("%u is not a syscall argument (0 to 5)", arg.index()));
      }
      std::optional<scmp_compare> op = Lookup(kOps, arg.op());
      if (!op) return Invalid(arg_field + ".op", absl::StrFormat("unknown op \"%s\"", arg.op()));
      // libseccomp's datum_a is the mask for SCMP_CMP_MASKED_EQ and datum_b the value it
      // must equal: OCI's value and valueTwo, in that order, for every op.
      conditions.push_back({arg.index(), *op, arg.value(), arg.value_two()});
      repeated_index |= (seen_indexes & (1u << arg.index())) != 0;
      seen_indexes |= 1u << arg.index();
    }
    for (int j = 0; j < entry.names_size(); ++j) {
      const std::string& name = entry.names(j);
      std::string name_field = absl::StrCat(entry_field, ".names[", j, "]");
      if (name.empty()) return Invalid(name_field, "empty syscall name");
      // libseccomp refuses rules that do what the default action does; they change nothing.
      if (action == default_action) continue;
      // Names this libseccomp does not know on any architecture are skipped, as runc does:
      // profiles list syscalls of newer kernels and other architectures.
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;
      rules.push_back(Rule{action, nr, conditions, repeated_index, std::move(name_field), name});
    }
    actions.push_back(action);
  }

  // libseccomp's rule database and code generation grow faster than linearly with the
  // rules of a filter (measured on the default profile: x86_64, x86 and x32 in one filter,
  // 15 to 18 ms; one filter per architecture, 7 to 8 ms in all). So each architecture is
  // compiled alone and the filters are chained: where the filter of one architecture
  // returns "not my architecture" (an action no rule uses), the chain jumps to the next
  // filter; the last one kills. The native filter comes first.
  uint32_t next_arch = SCMP_ACT_TRACE(0xffff);
  while (std::find(actions.begin(), actions.end(), next_arch) != actions.end()) --next_arch;
  for (size_t a = 0; a < arches.size(); ++a) {
    std::vector<struct sock_filter> part;
    ASSIGN_OR_RETURN(part, CompileArch(arches[a], default_action, next_arch, rules));
    bool last = a + 1 == arches.size();
    for (size_t pc = 0; pc < part.size(); ++pc) {
      struct sock_filter& insn = part[pc];
      if (insn.code != (BPF_RET | BPF_K) || insn.k != next_arch) continue;
      if (last) {
        insn = sock_filter{BPF_RET | BPF_K, 0, 0, kBadArchAction};
      } else {
        insn = sock_filter{BPF_JMP | BPF_JA, 0, 0, static_cast<uint32_t>(part.size() - pc - 1)};
      }
    }
    program.filter.insert(program.filter.end(), part.begin(), part.end());
  }
  if (program.filter.size() > BPF_MAXINSNS) {
    return Invalid(field, absl::StrFormat("the filter has %zu instructions, more than the "
                                          "kernel's %d",
                                          program.filter.size(), BPF_MAXINSNS));
  }
  return program;
}

int LoadSeccomp(const SeccompProgram& program) {
  if (program.filter.empty() || program.filter.size() > BPF_MAXINSNS) return EINVAL;
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(program.filter.size());
  prog.filter = const_cast<struct sock_filter*>(program.filter.data());
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog);
  if (rc == 0) return 0;
  // With SECCOMP_FILTER_FLAG_TSYNC, a thread id: that thread could not be synchronized.
  if (rc > 0) return ESRCH;
  int err = errno;
  if (err == ENOSYS && program.flags == 0) {
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0) return 0;
    err = errno;
  }
  return err;
}

// --- The default profile ------------------------------------------------------------------
//
// An allowlist: what ordinary programs (shells, language runtimes, servers) call. Not in it,
// and so EPERM: loading kernel code or rebooting (kexec_load, kexec_file_load, init_module,
// finit_module, delete_module, reboot), swap (swapon, swapoff), mounts (mount, umount,
// umount2, pivot_root, move_mount, fsopen, fsconfig, fsmount, fspick, open_tree,
// mount_setattr), namespaces (unshare, setns), accounting (acct), the clock (settimeofday,
// stime, clock_settime, clock_adjtime, adjtimex), bpf, perf_event_open, the kernel keyring
// (add_key, keyctl, request_key), file handles (open_by_handle_at, name_to_handle_at),
// userfaultfd, lookup_dcookie, I/O ports (iopl, ioperm), quotactl, syslog, looking into other
// processes (ptrace, kcmp, process_vm_readv, process_vm_writev, pidfd_getfd,
// process_madvise), vm86, fanotify_init, io_uring, modify_ldt, NUMA page moves
// (move_pages, migrate_pages), and everything newer than this table.
//
// Names of other architectures and of 32-bit ABIs are listed too: libseccomp skips what an
// architecture does not have.

// Allowed whatever the arguments.
// clang-format off
const char* const kAllowedSyscalls[] = {
    // Processes and threads.
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid",
    "waitpid", "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid",
    "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address", "set_robust_list",
    "get_robust_list", "rseq", "restart_syscall", "prctl", "arch_prctl", "set_thread_area",
    "get_thread_area", "seccomp", "pidfd_open", "pidfd_send_signal", "membarrier",
    "capget", "capset", "chroot", "uname", "sysinfo", "getcpu", "getrandom", "sethostname",
    "setdomainname", "pause", "alarm", "times", "getrusage",
    // ARM's own.
    "breakpoint", "cacheflush", "set_tls",

    // Credentials (and their 32-bit *32 forms).
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid",
    "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32",
    "getgroups32", "setuid32", "setgid32", "setreuid32", "setregid32", "setresuid32",
    "setresgid32", "setgroups32", "setfsuid32", "setfsgid32",

    // Limits and scheduling.
    "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getpriority", "setpriority",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
    "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "ioprio_get", "ioprio_set",

    // Signals.
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "sigaction", "sigprocmask", "sigreturn", "sigsuspend", "sigpending", "signal",
    "sigaltstack", "signalfd", "signalfd4",

    // Memory.
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind",
    "memfd_create",

    // Descriptors and file I/O.
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "lseek", "_llseek", "open", "openat", "openat2", "creat",
    "close", "close_range", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "fcntl64",
    "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
    "sync_file_range2", "arm_sync_file_range", "fallocate", "truncate", "truncate64",
    "ftruncate", "ftruncate64", "fadvise64", "fadvise64_64", "arm_fadvise64_64",
    "readahead", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range",

    // File names and metadata.
    "stat", "lstat", "fstat", "stat64", "lstat64", "fstat64", "newfstatat", "fstatat64",
    "statx", "statfs", "fstatfs", "statfs64", "fstatfs64", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir",
    "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "umask",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "chown32", "fchown32", "lchown32", "utime", "utimes", "futimesat", "utimensat",
    "utimensat_time64",
    "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
    "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",

    // Waiting: poll, select, epoll, event and timer descriptors, futexes, AIO.
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
    "timerfd_gettime64", "futex", "futex_time64", "futex_waitv", "io_setup", "io_destroy",
    "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",

    // Time: reading clocks, sleeping, timers (setting the clock is left out).
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
    "clock_getres_time64", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
    "getitimer", "setitimer", "timer_create", "timer_delete", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timer_getoverrun",

    // System V and POSIX IPC (the container's own IPC namespace).
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",

    // Sockets (socket itself is below: not AF_VSOCK).
    "socketcall", "socketpair", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "sendto", "recvfrom", "send", "recv", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "shutdown", "setsockopt",
    "getsockopt",

    // Landlock: a process sandboxing itself further.
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
};
// clang-format on

// clone flags that make namespaces: refused (EPERM) like unshare and setns.
constexpr uint64_t kNamespaceCloneFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;

// personality(2) values that change nothing dangerous: Linux, 32-bit Linux, the 2.6 uname
// of UNAME26, and 0xffffffff, which only asks for the current one.
constexpr uint64_t kHarmlessPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

namespace {

oci::SeccompSyscall* AddRule(oci::Seccomp& profile, const char* name, const char* action) {
  oci::SeccompSyscall* rule = profile.add_syscalls();
  rule->add_names(name);
  rule->set_action(action);
  return rule;
}

void AddArg(oci::SeccompSyscall* rule, unsigned index, const char* op, uint64_t value,
            uint64_t value_two = 0) {
  oci::SeccompArg* arg = rule->add_args();
  arg->set_index(index);
  arg->set_op(op);
  arg->set_value(value);
  arg->set_value_two(value_two);
}

}  // namespace

oci::Seccomp DefaultSeccompProfile() {
  oci::Seccomp profile;
  profile.set_default_action("SCMP_ACT_ERRNO");
  profile.set_default_errno_ret(EPERM);
#if defined(__x86_64__) || defined(__i386__)
  for (const char* arch : {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}) {
    profile.add_architectures(arch);
  }
#elif defined(__aarch64__) || defined(__arm__)
  for (const char* arch : {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}) profile.add_architectures(arch);
#endif

  oci::SeccompSyscall* allowed = profile.add_syscalls();
  for (const char* name : kAllowedSyscalls) allowed->add_names(name);
  allowed->set_action("SCMP_ACT_ALLOW");

  // clone: fork and threads, but no new namespaces (flags are argument 0 on x86 and ARM).
  AddArg(AddRule(profile, "clone", "SCMP_ACT_ALLOW"), 0, "SCMP_CMP_MASKED_EQ", kNamespaceCloneFlags,
         0);
  // clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes libc fall
  // back to clone.
  AddRule(profile, "clone3", "SCMP_ACT_ERRNO")->set_errno_ret(ENOSYS);
  // Sockets of every family but vsock (which reaches the host of a virtual machine).
  AddArg(AddRule(profile, "socket", "SCMP_ACT_ALLOW"), 0, "SCMP_CMP_NE", AF_VSOCK);
  // personality: conditions on the same argument are alternatives.
  oci::SeccompSyscall* personality = AddRule(profile, "personality", "SCMP_ACT_ALLOW");
  for (uint64_t value : kHarmlessPersonalities) AddArg(personality, 0, "SCMP_CMP_EQ", value);
  return profile;
}

}  // namespace gdn::spawn
