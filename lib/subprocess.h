// Running a child process the way a shell pipeline would: argv, environment, stdio passed
// through, captured, fed or closed; exit code told apart from death by a signal; an
// optional time limit; optional credentials to drop to. No descriptor of the parent other
// than the three stdio ones reaches the child.
#ifndef GDN_LIB_SUBPROCESS_H_
#define GDN_LIB_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gdn {

enum class Stdio {
  kInherit,  // the parent's descriptor
  kCapture,  // collected into the result (stdout, stderr) or fed from `stdin_data` (stdin)
  kNull,     // /dev/null
  kFd,       // a descriptor of the caller's (stdin_fd, stdout_fd, stderr_fd): one end of a
             // pipe between two children, say
};

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;  // supplementary groups; empty means none
};

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // The child's environment; nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  Stdio stdin_mode = Stdio::kNull;
  std::string stdin_data;  // written to the child when stdin_mode is kCapture
  Stdio stdout_mode = Stdio::kCapture;
  Stdio stderr_mode = Stdio::kCapture;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // for Stdio::kFd
  // The child is killed with SIGKILL when it runs longer.
  absl::Duration timeout = absl::InfiniteDuration();
  // Drop to these ids before exec (the caller must be privileged to do so).
  std::optional<Credentials> credentials;
  // Working folder of the child; empty keeps the parent's.
  std::string cwd;
  // Stop reading stdout and stderr once the child has exited, instead of at EOF: for
  // children that leave something running with the pipes (`spawn run --detach`).
  bool stop_reading_at_exit = false;
  // The child gets SIGKILL if the parent dies first (PR_SET_PDEATHSIG), so that a helper
  // never outlives a killed caller half-way through its work. The caller must not be a
  // thread that may exit before the child (the signal follows the thread).
  bool kill_with_parent = false;
};

struct SubprocessResult {
  bool exited = false;    // ended by exit(); exit_code is valid
  int exit_code = 0;
  int signal = 0;         // the signal that killed it, when !exited
  bool timed_out = false; // killed because the time limit passed
  std::string out;
  std::string err;

  bool ok() const { return exited && exit_code == 0; }
  // As a shell reports it: the exit code, or 128 + the signal.
  int ShellStatus() const { return exited ? exit_code : 128 + signal; }
  // "exited with code 3", "killed by signal 9 (Killed)", "timed out and was killed".
  std::string Describe() const;
};

// Runs the child to completion. Fails (without a result) only when it could not be started:
// a missing program is NotFound, one that may not be executed is PermissionDenied.
absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

}  // namespace gdn

#endif  // GDN_LIB_SUBPROCESS_H_
