// The OCI runtime commands over a state root: create, start, run, exec, state, kill,
// delete, list, ps. One folder per container under the root, locked while a command works
// on it; the container's init is the only process spawn leaves behind.
#ifndef GDN_SPAWN_RUNTIME_H_
#define GDN_SPAWN_RUNTIME_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "spawn/config.schema.h"

namespace gdn::spawn {

struct RuntimeOptions {
  std::string root;   // state folder; empty: /run/spawn, $XDG_RUNTIME_DIR/spawn, /tmp/spawn-UID
  std::string idmap;  // the idmap helper; empty: beside spawn, then PATH
};

struct CreateOptions {
  std::string id;
  std::string bundle;  // empty: the working folder
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
};

struct ExecOptions {
  std::string id;
  std::string process_file;       // an OCI "process" JSON; else the fields below
  std::vector<std::string> args;
  std::vector<std::string> env;   // NAME=VALUE, over the container's
  std::string cwd;
  std::string user;               // UID[:GID]
  std::vector<std::string> caps;  // added to the container's
  bool tty = false;
  bool no_new_privs = false;
  bool detach = false;
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);

  absl::Status Create(const CreateOptions& options);
  absl::Status Start(const std::string& id);
  // create + start + wait + delete; the process's status (128+N for signal N).
  absl::StatusOr<int> Run(const CreateOptions& options, bool detach, bool keep);
  // The process's status, or 0 when detached.
  absl::StatusOr<int> Exec(const ExecOptions& options);
  // The OCI state as JSON.
  absl::StatusOr<std::string> State(const std::string& id);
  absl::Status Kill(const std::string& id, const std::string& signal, bool all);
  absl::Status Delete(const std::string& id, bool force);
  absl::StatusOr<std::string> List(const std::string& format, bool quiet);
  absl::StatusOr<std::string> Ps(const std::string& id, const std::string& format);
  // Changes the limits of a created or running container (its cgroups).
  absl::Status Update(const std::string& id, const oci::Resources& resources);
  // One "stats" event, as runc's `events --stats` prints it: memory, CPU, pids, block I/O.
  absl::StatusOr<std::string> Stats(const std::string& id);
  // A "stats" event every `interval` and an "oom" event whenever the OOM killer ends one
  // of the container's processes, one JSON line each, until the container stops.
  absl::Status Events(const std::string& id, absl::Duration interval,
                      const std::function<absl::Status(const std::string&)>& out);

  const std::string& root() const { return root_; }

 private:
  absl::Status EnsureRoot();
  // Makes the container up to its init waiting to exec: on exec.fifo when
  // `wait_for_start`, else it execs at once. The init's pid.
  // `wait_for_exec` (run --detach): returns once the process runs, not when it is about to.
  absl::StatusOr<int> CreateInit(const CreateOptions& options, bool wait_for_start,
                                 bool wait_for_exec = false);
  std::string Dir(const std::string& id) const;

  RuntimeOptions options_;
  std::string root_;
};

// Whether `id` is a valid container id: 1-128 of [A-Za-z0-9_.-], not starting with . or -.
absl::Status CheckContainerId(const std::string& id);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_RUNTIME_H_
