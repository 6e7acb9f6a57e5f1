#include "spawn/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace gdn::spawn {
namespace {

using ::testing::HasSubstr;

// --- Helpers ------------------------------------------------------------------------------

oci::SeccompSyscall* AddRule(oci::Seccomp& profile, std::vector<std::string> names,
                             const std::string& action) {
  oci::SeccompSyscall* rule = profile.add_syscalls();
  for (const auto& name : names) rule->add_names(name);
  rule->set_action(action);
  return rule;
}

void AddArg(oci::SeccompSyscall* rule, unsigned index, const std::string& op, uint64_t value,
            uint64_t value_two = 0) {
  oci::SeccompArg* arg = rule->add_args();
  arg->set_index(index);
  arg->set_op(op);
  arg->set_value(value);
  arg->set_value_two(value_two);
}

oci::Seccomp AllowByDefault() {
  oci::Seccomp profile;
  profile.set_default_action("SCMP_ACT_ALLOW");
  return profile;
}

// A probe's result: 0 for success, else the errno of the syscall it made.
int Errno(long rc) { return rc < 0 ? errno : 0; }

constexpr int kLoadFailed = 200;  // exit code: LoadSeccomp failed (errno added, capped)

// How a child ended: its exit code, or a signal.
struct Ended {
  int code = -1;
  int signal = 0;
};

// Forks; the child sets no_new_privs and loads `program` (when given) after `before`, runs
// `probe` and exits with its result.
Ended RunInChild(const SeccompProgram* program, const std::function<int()>& probe,
                 const std::function<void()>& before = nullptr) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // SIGSYS would dump one
    if (before) before();
    if (program != nullptr) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(kLoadFailed);
      int err = LoadSeccomp(*program);
      if (err != 0) _exit(kLoadFailed + (err < 50 ? err : 50));
    }
    _exit(probe());
  }
  Ended ended;
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "fork or waitpid: " << strerror(errno);
    return ended;
  }
  if (WIFEXITED(status)) ended.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) ended.signal = WTERMSIG(status);
  return ended;
}

// The probe's result (0 or errno) under `program`; -1 when the child was killed.
int ResultUnder(const SeccompProgram* program, const std::function<int()>& probe,
                const std::function<void()>& before = nullptr) {
  Ended ended = RunInChild(program, probe, before);
  EXPECT_LT(ended.code, kLoadFailed) << "LoadSeccomp failed";
  return ended.signal != 0 ? -1 : ended.code;
}

SeccompProgram MustCompile(const oci::Seccomp& profile) {
  absl::StatusOr<SeccompProgram> program = CompileSeccomp(profile);
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *std::move(program) : SeccompProgram{};
}

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", getpid());
}

// --- Malformed profiles -------------------------------------------------------------------

struct BadProfile {
  const char* what;
  std::function<void(oci::Seccomp&)> edit;
  const char* message;
};

TEST(CompileSeccompTest, MalformedProfilesNameTheField) {
  const BadProfile cases[] = {
      {"unknown action",
       [](oci::Seccomp& p) {
         AddRule(p, {"getpid"}, "SCMP_ACT_ERRNO");
         AddRule(p, {"getppid"}, "SCMP_ACT_FOO");
       },
       "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_FOO\""},
      {"unknown op",
       [](oci::Seccomp& p) {
         auto* rule = AddRule(p, {"personality"}, "SCMP_ACT_ERRNO");
         AddArg(rule, 0, "SCMP_CMP_EQ", 1);
         AddArg(rule, 1, "SCMP_CMP_LIKE", 1);
       },
       "linux.seccomp.syscalls[0].args[1].op: unknown op \"SCMP_CMP_LIKE\""},
      {"argument index",
       [](oci::Seccomp& p) { AddArg(AddRule(p, {"read"}, "SCMP_ACT_ERRNO"), 6, "SCMP_CMP_EQ", 1); },
       "linux.seccomp.syscalls[0].args[0].index: 6 is not a syscall argument"},
      {"bad architecture",
       [](oci::Seccomp& p) {
         p.add_architectures("SCMP_ARCH_X86_64");
         p.add_architectures("SCMP_ARCH_VAX");
       },
       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\""},
      {"bad flag", [](oci::Seccomp& p) { p.add_flags("SECCOMP_FILTER_FLAG_FAST"); },
       "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FAST\""},
      {"notify action", [](oci::Seccomp& p) { AddRule(p, {"mkdir"}, "SCMP_ACT_NOTIFY"); },
       "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported"},
      {"notify default", [](oci::Seccomp& p) { p.set_default_action("SCMP_ACT_NOTIFY"); },
       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported"},
      {"listener path", [](oci::Seccomp& p) { p.set_listener_path("/run/seccomp.sock"); },
       "linux.seccomp.listenerPath: seccomp notify listeners are not supported"},
      {"empty default action", [](oci::Seccomp& p) { p.clear_default_action(); },
       "linux.seccomp.defaultAction: no action"},
      {"unknown default action", [](oci::Seccomp& p) { p.set_default_action("ALLOW"); },
       "linux.seccomp.defaultAction: unknown action \"ALLOW\""},
      {"errno out of range",
       [](oci::Seccomp& p) { AddRule(p, {"mkdir"}, "SCMP_ACT_ERRNO")->set_errno_ret(70000); },
       "linux.seccomp.syscalls[0].action: SCMP_ACT_ERRNO return value 70000 out of range"},
      {"empty name",
       [](oci::Seccomp& p) {
         AddRule(p, {"read", ""}, "SCMP_ACT_ERRNO");
       },
       "linux.seccomp.syscalls[0].names[1]: empty syscall name"},
  };
  for (const BadProfile& c : cases) {
    oci::Seccomp profile = AllowByDefault();
    c.edit(profile);
    absl::StatusOr<SeccompProgram> program = CompileSeccomp(profile);
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument)
        << c.what << ": " << program.status();
    EXPECT_THAT(std::string(program.status().message()), HasSubstr(c.message)) << c.what;
  }
}

TEST(CompileSeccompTest, UnknownSyscallNamesAreSkipped) {
  oci::Seccomp profile = AllowByDefault();
  AddRule(profile, {"no_such_syscall", "getppid", "vm86"}, "SCMP_ACT_ERRNO");
  SeccompProgram program = MustCompile(profile);
  EXPECT_FALSE(program.filter.empty());
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_getppid)); }), EPERM);
}

TEST(CompileSeccompTest, RulesLikeTheDefaultActionAreSkipped) {
  oci::Seccomp profile;
  profile.set_default_action("SCMP_ACT_ERRNO");
  profile.set_default_errno_ret(EXDEV);
  AddRule(profile, {"getppid"}, "SCMP_ACT_ERRNO")->set_errno_ret(EXDEV);  // same: skipped
  AddRule(profile, {"getpid"}, "SCMP_ACT_ERRNO");  // EPERM: differs from EXDEV, kept
  // Everything the probe's exit needs.
  AddRule(profile, {"exit_group", "exit"}, "SCMP_ACT_ALLOW");
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_getppid)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_getpid)); }), EPERM);
}

TEST(CompileSeccompTest, FlagsAndArchitectures) {
  oci::Seccomp profile = AllowByDefault();
  profile.add_flags("SECCOMP_FILTER_FLAG_LOG");
  profile.add_flags("SECCOMP_FILTER_FLAG_TSYNC");
  profile.add_architectures("SCMP_ARCH_X86_64");  // native on x86_64: already there
  profile.add_architectures("SCMP_ARCH_X86");
  profile.add_architectures("SCMP_ARCH_AARCH64");
  AddRule(profile, {"mkdir"}, "SCMP_ACT_ERRNO");
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(program.flags, SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_TSYNC);
  std::string dir = TempPath("flags");
  EXPECT_EQ(ResultUnder(&program, [&] { return Errno(mkdir(dir.c_str(), 0755)); }), EPERM);
}

// --- Loading: actions ---------------------------------------------------------------------

TEST(LoadSeccompTest, ErrnoRuleFailsOnlyItsSyscalls) {
  oci::Seccomp profile = AllowByDefault();
  AddRule(profile, {"mkdirat", "mkdir"}, "SCMP_ACT_ERRNO")->set_errno_ret(EXDEV);
  SeccompProgram program = MustCompile(profile);
  std::string dir = TempPath("exdev");
  EXPECT_EQ(ResultUnder(&program, [&] { return Errno(mkdir(dir.c_str(), 0755)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program,
                        [&] { return Errno(syscall(SYS_mkdirat, AT_FDCWD, dir.c_str(), 0755)); }),
            EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return syscall(SYS_getpid) > 0 ? 0 : 1; }), 0);
  // Without the filter the same mkdir works: the EXDEV above came from the rule.
  EXPECT_EQ(ResultUnder(nullptr, [&] { return Errno(mkdir(dir.c_str(), 0755)); }), 0);
  rmdir(dir.c_str());
}

TEST(LoadSeccompTest, Actions) {
  auto getppid_under = [](const std::string& action) {
    oci::Seccomp profile = AllowByDefault();
    AddRule(profile, {"getppid"}, action);
    SeccompProgram program = MustCompile(profile);
    return RunInChild(&program, [] { return Errno(syscall(SYS_getppid)); });
  };
  EXPECT_EQ(getppid_under("SCMP_ACT_ERRNO").code, EPERM);  // errnoRet defaults to EPERM
  EXPECT_EQ(getppid_under("SCMP_ACT_LOG").code, 0);
  // No tracer: the syscall is skipped and fails with ENOSYS.
  EXPECT_EQ(getppid_under("SCMP_ACT_TRACE").code, ENOSYS);
  for (const char* kill :
       {"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"}) {
    EXPECT_EQ(getppid_under(kill).signal, SIGSYS) << kill;
  }
  oci::Seccomp profile = AllowByDefault();
  profile.set_default_action("SCMP_ACT_ERRNO");
  profile.set_default_errno_ret(EXDEV);
  AddRule(profile, {"exit_group", "exit"}, "SCMP_ACT_ALLOW");
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_getppid)); }), EXDEV);
}

// --- Loading: argument conditions ---------------------------------------------------------

TEST(LoadSeccompTest, ArgumentConditionHolds) {
  // personality is allowed only to ask (0xffffffff); anything else fails.
  oci::Seccomp profile = AllowByDefault();
  AddArg(AddRule(profile, {"personality"}, "SCMP_ACT_ERRNO"), 0, "SCMP_CMP_NE", 0xffffffff);
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(0xffffffff)); }), 0);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(PER_LINUX)); }), EPERM);
}

TEST(LoadSeccompTest, MaskedEqualTakesTheMaskFromValue) {
  // umask fails when (mode & 0700) == 0500: value is the mask, valueTwo what it must equal.
  oci::Seccomp profile = AllowByDefault();
  auto* rule = AddRule(profile, {"umask"}, "SCMP_ACT_ERRNO");
  rule->set_errno_ret(EXDEV);
  AddArg(rule, 0, "SCMP_CMP_MASKED_EQ", 0700, 0500);
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_umask, 0577)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_umask, 0522)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_umask, 0777)); }), 0);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(syscall(SYS_umask, 0022)); }), 0);
}

TEST(LoadSeccompTest, ConditionsOnDifferentArgumentsAllHold) {
  // getpriority(PRIO_PROCESS, 0) fails; other pairs do not (AND).
  oci::Seccomp profile = AllowByDefault();
  auto* rule = AddRule(profile, {"getpriority"}, "SCMP_ACT_ERRNO");
  rule->set_errno_ret(EXDEV);
  AddArg(rule, 0, "SCMP_CMP_EQ", PRIO_PROCESS);
  AddArg(rule, 1, "SCMP_CMP_EQ", 0);
  SeccompProgram program = MustCompile(profile);
  auto getpriority_of = [&](int which, int who) {
    return ResultUnder(&program, [=] {
      return Errno(syscall(SYS_getpriority, which, who == -1 ? getpid() : who));
    });
  };
  EXPECT_EQ(getpriority_of(PRIO_PROCESS, 0), EXDEV);
  EXPECT_EQ(getpriority_of(PRIO_PROCESS, -1), 0);
  EXPECT_EQ(getpriority_of(PRIO_PGRP, 0), 0);
}

TEST(LoadSeccompTest, ConditionsOnTheSameArgumentAreAlternatives) {
  oci::Seccomp profile = AllowByDefault();
  auto* rule = AddRule(profile, {"personality"}, "SCMP_ACT_ERRNO");
  rule->set_errno_ret(EXDEV);
  AddArg(rule, 0, "SCMP_CMP_EQ", PER_LINUX32);
  AddArg(rule, 0, "SCMP_CMP_EQ", UNAME26);
  SeccompProgram program = MustCompile(profile);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(PER_LINUX32)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(UNAME26)); }), EXDEV);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(0xffffffff)); }), 0);
  EXPECT_EQ(ResultUnder(&program, [] { return Errno(personality(PER_LINUX)); }), 0);
}

// --- The default profile ------------------------------------------------------------------

// The names of the default profile's unconditional ALLOW rules.
std::set<std::string> UnconditionallyAllowed(const oci::Seccomp& profile) {
  std::set<std::string> names;
  for (const auto& rule : profile.syscalls()) {
    if (rule.action() != "SCMP_ACT_ALLOW" || rule.args_size() != 0) continue;
    names.insert(rule.names().begin(), rule.names().end());
  }
  return names;
}

TEST(DefaultSeccompProfileTest, CompilesQuickly) {
  oci::Seccomp profile = DefaultSeccompProfile();
  constexpr int kRuns = 20;
  std::vector<double> ms;
  SeccompProgram program;
  for (int i = 0; i < kRuns; ++i) {
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<SeccompProgram> compiled = CompileSeccomp(profile);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    program = *std::move(compiled);
  }
  std::sort(ms.begin(), ms.end());
  int native = 0, names = 0;
  for (const auto& rule : profile.syscalls()) {
    if (rule.action() != "SCMP_ACT_ALLOW") continue;
    for (const auto& name : rule.names()) {
      ++names;
      if (seccomp_syscall_resolve_name(name.c_str()) >= 0) ++native;
    }
  }
  std::printf(
      "default profile: %d allowed names (%d are syscalls of this architecture), %zu BPF "
      "instructions; compile: first %.3f ms, median %.3f ms, max %.3f ms of %d runs\n",
      names, native, program.filter.size(), ms.front(), ms[kRuns / 2], ms.back(), kRuns);
  EXPECT_LE(program.filter.size(), BPF_MAXINSNS);
}

TEST(DefaultSeccompProfileTest, AllowsWhatShellsAndStaticProgramsNeed) {
  std::set<std::string> allowed = UnconditionallyAllowed(DefaultSeccompProfile());
  // clang-format off
  for (const char* name :
       {"execve", "brk", "mmap", "munmap", "mprotect", "rt_sigaction", "rt_sigprocmask",
        "rt_sigreturn", "wait4", "waitid", "pipe2", "dup2", "dup3", "openat", "close",
        "read", "write", "newfstatat", "statx", "getdents64", "fcntl", "ioctl", "poll",
        "ppoll", "select", "pselect6", "nanosleep", "clock_nanosleep", "futex", "rseq",
        "set_robust_list", "set_tid_address", "prlimit64", "getrandom", "exit_group",
        "arch_prctl", "uname", "getcwd", "chdir", "kill", "getpid", "getuid", "umask",
        "vfork", "readlink", "lseek", "access", "faccessat2", "clock_gettime", "sysinfo"}) {
    // clang-format on
    EXPECT_TRUE(allowed.count(name)) << name;
    EXPECT_GE(seccomp_syscall_resolve_name(name), 0) << name << " is not a syscall here";
  }
  // clang-format off
  for (const char* name :
       {"kexec_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
        "swapoff", "mount", "umount2", "pivot_root", "acct", "settimeofday", "clock_settime",
        "adjtimex", "bpf", "perf_event_open", "add_key", "keyctl", "request_key",
        "open_by_handle_at", "name_to_handle_at", "userfaultfd", "lookup_dcookie", "iopl",
        "ioperm", "quotactl", "syslog", "kcmp", "process_vm_readv", "process_vm_writev",
        "ptrace", "unshare", "setns", "vm86", "fanotify_init", "move_mount", "fsopen",
        "fsmount", "open_tree", "personality", "clone", "clone3", "socket"}) {
    // clang-format on
    EXPECT_FALSE(allowed.count(name)) << name;
  }
}

// --- The default profile's filter, run in a small classic-BPF interpreter -----------------
//
// Every syscall number of every listed architecture (x86 and x32 cannot be run here) is put
// through the chained filter and its verdict compared with what the profile says, using
// libseccomp's own number-to-name tables.

struct SeccompData {  // struct seccomp_data, as the filter reads it
  uint32_t nr;
  uint32_t arch;
  uint64_t ip;
  uint64_t args[6];
};

// Runs `filter` on `data`; `steps` counts the instructions executed.
uint32_t RunFilter(const std::vector<struct sock_filter>& filter, const SeccompData& data,
                   int* steps = nullptr) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(&data);
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  for (size_t pc = 0; pc < filter.size(); ++pc) {
    if (steps != nullptr) ++*steps;
    const struct sock_filter& insn = filter[pc];
    uint32_t src = BPF_SRC(insn.code) == BPF_X ? x : insn.k;
    switch (BPF_CLASS(insn.code)) {
      case BPF_LD:
        if (insn.code == (BPF_LD | BPF_W | BPF_ABS) && insn.k + 4 <= sizeof data) {
          std::memcpy(&a, bytes + insn.k, 4);
        } else if (insn.code == (BPF_LD | BPF_MEM) && insn.k < BPF_MEMWORDS) {
          a = mem[insn.k];
        } else if (insn.code == (BPF_LD | BPF_IMM)) {
          a = insn.k;
        } else {
          ADD_FAILURE() << "unsupported load " << insn.code << " at " << pc;
          return 0xdeadbeef;
        }
        break;
      case BPF_LDX:
        x = BPF_MODE(insn.code) == BPF_MEM ? mem[insn.k % BPF_MEMWORDS] : insn.k;
        break;
      case BPF_ST:
        mem[insn.k % BPF_MEMWORDS] = a;
        break;
      case BPF_STX:
        mem[insn.k % BPF_MEMWORDS] = x;
        break;
      case BPF_ALU:
        switch (BPF_OP(insn.code)) {
          case BPF_AND:
            a &= src;
            break;
          case BPF_OR:
            a |= src;
            break;
          case BPF_ADD:
            a += src;
            break;
          case BPF_SUB:
            a -= src;
            break;
          case BPF_RSH:
            a >>= src;
            break;
          case BPF_LSH:
            a <<= src;
            break;
          default:
            ADD_FAILURE() << "unsupported alu " << insn.code;
            return 0xdeadbeef;
        }
        break;
      case BPF_JMP: {
        bool taken;
        switch (BPF_OP(insn.code)) {
          case BPF_JA:
            pc += insn.k;
            continue;
          case BPF_JEQ:
            taken = a == src;
            break;
          case BPF_JGT:
            taken = a > src;
            break;
          case BPF_JGE:
            taken = a >= src;
            break;
          case BPF_JSET:
            taken = (a & src) != 0;
            break;
          default:
            ADD_FAILURE() << "unsupported jump " << insn.code;
            return 0xdeadbeef;
        }
        pc += taken ? insn.jt : insn.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(insn.code) == BPF_A ? a : insn.k;
      case BPF_MISC:
        if (insn.code == (BPF_MISC | BPF_TAX))
          x = a;
        else
          a = x;
        break;
    }
  }
  ADD_FAILURE() << "ran off the end of the filter";
  return 0xdeadbeef;
}

// What the default profile says for syscall `name` with first argument `a0`.
uint32_t Expected(const std::set<std::string>& allowed, const char* name, uint64_t a0) {
  constexpr uint64_t kNamespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                   CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  if (name == nullptr) return SCMP_ACT_ERRNO(EPERM);
  std::string n = name;
  if (allowed.count(n)) return SCMP_ACT_ALLOW;
  if (n == "clone") return (a0 & kNamespaces) == 0 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
  if (n == "clone3") return SCMP_ACT_ERRNO(ENOSYS);
  if (n == "socket") return a0 != AF_VSOCK ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
  if (n == "personality") {
    for (uint64_t ok : {0x0ul, 0x8ul, 0x20000ul, 0x20008ul, 0xfffffffful}) {
      if (a0 == ok) return SCMP_ACT_ALLOW;
    }
  }
  return SCMP_ACT_ERRNO(EPERM);
}

TEST(DefaultSeccompProfileTest, EveryArchitectureGetsTheProfile) {
  oci::Seccomp profile = DefaultSeccompProfile();
  std::set<std::string> allowed = UnconditionallyAllowed(profile);
  SeccompProgram program = MustCompile(profile);
  struct Abi {
    const char* name;
    uint32_t arch;        // the AUDIT_ARCH the kernel reports
    uint32_t libseccomp;  // the table to name its numbers
    uint32_t nr_base;     // x32's syscall bit
    bool wide_args;
  };
  std::vector<Abi> abis;
#if defined(__x86_64__)
  abis = {{"x86_64", SCMP_ARCH_X86_64, SCMP_ARCH_X86_64, 0, true},
          {"x86", SCMP_ARCH_X86, SCMP_ARCH_X86, 0, false},
          {"x32", SCMP_ARCH_X86_64, SCMP_ARCH_X32, 0x40000000, false}};
#elif defined(__aarch64__)
  abis = {{"aarch64", SCMP_ARCH_AARCH64, SCMP_ARCH_AARCH64, 0, true},
          {"arm", SCMP_ARCH_ARM, SCMP_ARCH_ARM, 0, false}};
#endif
  ASSERT_FALSE(abis.empty()) << "no expectations for this architecture";
  const uint64_t kFirstArgs[] = {0,
                                 8,
                                 AF_VSOCK,
                                 0x20000,
                                 0xffffffff,
                                 SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID,
                                 CLONE_NEWUSER | SIGCHLD,
                                 CLONE_NEWNET,
                                 CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                     CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                                     CLONE_CHILD_CLEARTID,
                                 0x100000000};
  int checked = 0, native_max_steps = 0, native_allowed = 0;
  for (const Abi& abi : abis) {
    for (uint32_t nr = 0; nr < 600; ++nr) {
      char* name = seccomp_syscall_resolve_num_arch(abi.libseccomp, nr);
      for (uint64_t a0 : kFirstArgs) {
        if (!abi.wide_args && a0 > 0xffffffff) continue;
        SeccompData data = {};
        data.nr = abi.nr_base + nr;
        data.arch = abi.arch;
        data.args[0] = a0;
        int steps = 0;
        uint32_t got = RunFilter(program.filter, data, &steps);
        uint32_t want = Expected(allowed, name, a0);
        ++checked;
        if (&abi == &abis[0]) {
          native_max_steps = std::max(native_max_steps, steps);
          if (a0 == 0 && got == SCMP_ACT_ALLOW) ++native_allowed;
        }
        if (got != want) {
          ADD_FAILURE() << abi.name << " syscall " << nr << " (" << (name ? name : "?")
                        << ") a0=" << a0 << ": filter says " << std::hex << got << ", want "
                        << want;
        }
      }
      free(name);
    }
  }
  // An architecture the profile does not list is killed.
  SeccompData foreign = {};
  foreign.arch = SCMP_ARCH_PPC64LE;
  EXPECT_EQ(RunFilter(program.filter, foreign), SCMP_ACT_KILL_THREAD);
  std::printf(
      "default profile: %d syscalls allowed natively (with a0=0), %d verdicts checked, "
      "at most %d BPF instructions run for a native syscall\n",
      native_allowed, checked, native_max_steps);
}

class DefaultProfileLoadedTest : public ::testing::Test {
 protected:
  void SetUp() override { program_ = MustCompile(DefaultSeccompProfile()); }
  int Under(const std::function<int()>& probe, const std::function<void()>& before = nullptr) {
    return ResultUnder(&program_, probe, before);
  }
  SeccompProgram program_;
};

int ForkExecTrue() {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    execve(argv[0], argv, environ);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 100;
}

TEST_F(DefaultProfileLoadedTest, ForksExecsWritesFilesAndUsesSockets) {
  EXPECT_EQ(Under(ForkExecTrue), 0);
  // glibc's posix_spawn and pthread_create try clone3 first, then clone.
  EXPECT_EQ(Under([] {
              pid_t pid;
              char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
              int err = posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ);
              if (err != 0) return err;
              int status;
              if (waitpid(pid, &status, 0) != pid) return errno;
              return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 100;
            }),
            0);
  EXPECT_EQ(Under([] {
              pthread_t thread;
              int err = pthread_create(
                  &thread, nullptr, [](void*) -> void* { return nullptr; }, nullptr);
              return err != 0 ? err : pthread_join(thread, nullptr);
            }),
            0);
  std::string file = TempPath("written");
  EXPECT_EQ(Under([&] {
              int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
              if (fd < 0) return errno;
              if (write(fd, "hello", 5) != 5) return errno;
              if (fsync(fd) != 0 || close(fd) != 0) return errno;
              return unlink(file.c_str()) == 0 ? 0 : errno;
            }),
            0);
  for (int family : {AF_INET, AF_INET6, AF_UNIX}) {
    EXPECT_EQ(Under([=] {
                int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                return fd < 0 ? errno : 0;
              }),
              0)
        << "family " << family;
  }
  EXPECT_EQ(Under([] {
              int fds[2];
              return Errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
            }),
            0);
  EXPECT_EQ(Under([] {
              int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
              if (fd < 0) return errno;
              struct sockaddr_in addr = {};
              addr.sin_family = AF_INET;
              addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
              return Errno(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
            }),
            0);
  EXPECT_EQ(Under([] { return Errno(personality(0xffffffff)); }), 0);
}

TEST_F(DefaultProfileLoadedTest, RunsABusyboxShell) {
  if (access("/bin/busybox", X_OK) != 0) {
    if (getenv("CI") != nullptr && std::string(getenv("CI")) == "true") {
      FAIL() << "/bin/busybox missing (busybox-static)";
    }
    GTEST_SKIP() << "/bin/busybox missing (busybox-static)";
  }
  std::string dir = TempPath("busybox");
  std::string script = absl::StrCat("set -e\n",                           //
                                    "mkdir -p ", dir, "\n",               //
                                    "cd ", dir, "\n",                     //
                                    "echo hello > f\n",                   //
                                    "test \"$(cat f | wc -c)\" -eq 6\n",  //
                                    "ls -la . > /dev/null\n",             //
                                    "sleep 0.01\n",                       //
                                    "(exit 3) & pid=$!\n",                //
                                    "wait $pid || test $? -eq 3\n",       //
                                    "ln -s f g\n",                        //
                                    "stat g > /dev/null\n",               //
                                    "date > /dev/null\n",                 //
                                    "id > /dev/null\n",                   //
                                    "cd /\n",                             //
                                    "rm -rf ", dir, "\n");
  EXPECT_EQ(Under([&] {
              pid_t pid = fork();
              if (pid < 0) return errno;
              if (pid == 0) {
                execl("/bin/busybox", "sh", "-c", script.c_str(), nullptr);
                _exit(127);
              }
              int status;
              if (waitpid(pid, &status, 0) != pid) return errno;
              return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }),
            0);
}

// Each probe runs without the filter first, where it must succeed (else the EPERM under the
// filter would prove nothing), then under it.
struct Refused {
  const char* what;
  std::function<int()> probe;
  int filtered_errno;
  bool needs_userns = false;     // the unfiltered run needs user namespaces
  bool check_unfiltered = true;  // false where a sysctl may refuse it anyway
};

long RawClone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return pid;
}

TEST_F(DefaultProfileLoadedTest, RefusesWhatContainersMustNotDo) {
  std::string target = TempPath("mnt");
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  // mount is tried in a user and mount namespace of the probe's own, made before the filter.
  auto own_namespaces = [] {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(150);
    mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  };
  const Refused cases[] = {
      {"unshare(CLONE_NEWUSER)", [] { return Errno(unshare(CLONE_NEWUSER)); }, EPERM, true},
      {"clone(CLONE_NEWUSER)", [] { return Errno(RawClone(CLONE_NEWUSER)); }, EPERM, true},
      {"clone3",
       [] {
         struct clone_args args = {};
         args.exit_signal = SIGCHLD;
         long pid = syscall(SYS_clone3, &args, sizeof args);
         if (pid == 0) _exit(0);
         if (pid > 0) waitpid(pid, nullptr, 0);
         return Errno(pid);
       },
       ENOSYS},
      {"keyctl",
       [] {
         return Errno(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
       },
       EPERM},
      {"ptrace(PTRACE_TRACEME)", [] { return Errno(ptrace(PTRACE_TRACEME, 0, nullptr, nullptr)); },
       EPERM},
      {"personality(ADDR_NO_RANDOMIZE)", [] { return Errno(personality(ADDR_NO_RANDOMIZE)); },
       EPERM},
      // vm.unprivileged_userfaultfd may refuse it without the filter too.
      {"userfaultfd", [] { return Errno(syscall(SYS_userfaultfd, O_CLOEXEC)); }, EPERM, false,
       false},
  };
  for (const Refused& c : cases) {
    int unfiltered = ResultUnder(nullptr, c.probe);
    if (c.needs_userns && unfiltered == EPERM) {
      std::printf("%s: EPERM even without the filter (user namespaces restricted?)\n", c.what);
    } else if (c.check_unfiltered) {
      EXPECT_EQ(unfiltered, 0) << c.what << " without the filter";
    }
    EXPECT_EQ(Under(c.probe), c.filtered_errno) << c.what;
  }

  auto mount_tmpfs = [&] { return Errno(mount("none", target.c_str(), "tmpfs", 0, nullptr)); };
  int unfiltered = ResultUnder(nullptr, mount_tmpfs, own_namespaces);
  if (unfiltered == 150) {
    std::printf("mount: no user namespace for the unfiltered run\n");
  } else {
    EXPECT_EQ(unfiltered, 0) << "mount without the filter";
  }
  if (unfiltered != 150) {
    EXPECT_EQ(Under(mount_tmpfs, own_namespaces), EPERM) << "mount";
  }

  // vsock: whatever the kernel would say (EAFNOSUPPORT without the module), the filter says
  // EPERM first.
  EXPECT_EQ(Under([] {
              int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
              return fd < 0 ? errno : 0;
            }),
            EPERM);
  rmdir(target.c_str());
}

// Kernels without seccomp(2) (before 3.17): prctl, when no flags are asked for. A first
// filter makes seccomp(2) fail with ENOSYS.
TEST(LoadSeccompTest, FallsBackToPrctlWithoutSeccompSyscall) {
  oci::Seccomp no_seccomp_syscall = AllowByDefault();
  AddRule(no_seccomp_syscall, {"seccomp"}, "SCMP_ACT_ERRNO")->set_errno_ret(ENOSYS);
  SeccompProgram first = MustCompile(no_seccomp_syscall);
  oci::Seccomp profile = AllowByDefault();
  AddRule(profile, {"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO")->set_errno_ret(EXDEV);
  SeccompProgram second = MustCompile(profile);
  std::string dir = TempPath("fallback");
  EXPECT_EQ(ResultUnder(&first,
                        [&] {
                          int err = LoadSeccomp(second);
                          if (err != 0) return 100 + err;
                          return Errno(mkdir(dir.c_str(), 0755));
                        }),
            EXDEV);
  second.flags = SECCOMP_FILTER_FLAG_LOG;
  EXPECT_EQ(ResultUnder(&first, [&] { return LoadSeccomp(second); }), ENOSYS);
  rmdir(dir.c_str());
}

TEST(LoadSeccompTest, EmptyProgramIsEinval) {
  SeccompProgram empty;
  EXPECT_EQ(LoadSeccomp(empty), EINVAL);
}

}  // namespace
}  // namespace gdn::spawn
