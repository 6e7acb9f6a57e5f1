// linux.seccomp: the OCI profile compiled to classic BPF with libseccomp before clone, and
// loaded by the child between fork and exec without allocating (STYLE.md 3 and 10).
#ifndef GDN_SPAWN_SECCOMP_H_
#define GDN_SPAWN_SECCOMP_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"
#include "spawn/config.schema.h"

namespace gdn::spawn {

struct SeccompProgram {
  std::vector<struct sock_filter> filter;  // the compiled BPF
  unsigned int flags = 0;                  // SECCOMP_FILTER_FLAG_* for seccomp(2)
};

// Compiles linux.seccomp (the OCI message oci::Seccomp) with libseccomp, before clone.
// A malformed profile is InvalidArgument naming the field, e.g.
// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`. Syscall names that
// libseccomp does not know are skipped (as runc does), and so are rules whose action is the
// default action.
absl::StatusOr<SeccompProgram> CompileSeccomp(const oci::Seccomp& profile);

// Loads the program into the calling process, between fork and exec: allocates nothing and
// is async-signal-safe (seccomp(2) with the flags; prctl(PR_SET_SECCOMP) where seccomp(2)
// is missing and the flags are 0). The caller sets no_new_privs first unless it has
// CAP_SYS_ADMIN. Returns 0 or errno (ESRCH when TSYNC could not synchronize a thread).
int LoadSeccomp(const SeccompProgram& program);

// The default profile for Garden-style unprivileged containers: an allowlist (everything
// else fails with EPERM) in the spirit of Docker's default, written as a table in
// seccomp.cc.
oci::Seccomp DefaultSeccompProfile();

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_SECCOMP_H_
