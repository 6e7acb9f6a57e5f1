#include "spawn/linux_names.h"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gdn::spawn {
namespace {

// Capability numbers from linux/capability.h, in order.
const char* const kCapabilities[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

struct Named {
  const char* name;
  int value;
};

constexpr Named kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

constexpr Named kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},   {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

constexpr Named kNamespaces[] = {
    {"pid", CLONE_NEWPID},   {"network", CLONE_NEWNET}, {"net", CLONE_NEWNET},
    {"mount", CLONE_NEWNS},  {"mnt", CLONE_NEWNS},      {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS},   {"user", CLONE_NEWUSER},   {"cgroup", CLONE_NEWCGROUP},
    {"time", CLONE_NEWTIME},
};

}  // namespace

absl::StatusOr<int> CapabilityNumber(const std::string& name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "CAP_")) upper = "CAP_" + upper;
  for (int i = 0; i < static_cast<int>(sizeof kCapabilities / sizeof kCapabilities[0]); ++i) {
    if (upper == kCapabilities[i]) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown capability \"", name, "\""));
}

absl::StatusOr<uint64_t> CapabilityMask(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const std::string& name : names) {
    absl::StatusOr<int> n = CapabilityNumber(name);
    if (!n.ok()) return n.status();
    mask |= uint64_t{1} << *n;
  }
  return mask;
}

int LastCapability() {
  static const int last = [] {
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    int n = 40;
    if (!(f >> n)) n = 40;
    return n;
  }();
  return last;
}

const std::vector<std::string>& AllCapabilityNames() {
  static const std::vector<std::string> all(std::begin(kCapabilities), std::end(kCapabilities));
  return all;
}

absl::StatusOr<int> RlimitNumber(const std::string& name) {
  for (const Named& r : kRlimits) {
    if (name == r.name) return r.value;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown rlimit type \"", name, "\""));
}

absl::StatusOr<int> SignalNumber(const std::string& name) {
  int n;
  if (absl::SimpleAtoi(name, &n)) {
    if (n > 0 && n < NSIG) return n;
    return absl::InvalidArgumentError(absl::StrCat("signal ", name, " is out of range"));
  }
  std::string upper = absl::AsciiStrToUpper(name);
  if (absl::StartsWith(upper, "SIG")) upper = upper.substr(3);
  for (const Named& s : kSignals) {
    if (upper == s.name) return s.value;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown signal \"", name, "\""));
}

absl::StatusOr<int> NamespaceFlag(const std::string& type) {
  for (const Named& ns : kNamespaces) {
    if (type == ns.name) return ns.value;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown namespace type \"", type, "\""));
}

const char* NamespaceFile(int flag) {
  switch (flag) {
    case CLONE_NEWPID:
      return "pid";
    case CLONE_NEWNET:
      return "net";
    case CLONE_NEWNS:
      return "mnt";
    case CLONE_NEWIPC:
      return "ipc";
    case CLONE_NEWUTS:
      return "uts";
    case CLONE_NEWUSER:
      return "user";
    case CLONE_NEWCGROUP:
      return "cgroup";
    case CLONE_NEWTIME:
      return "time";
    default:
      return "?";
  }
}

}  // namespace gdn::spawn
