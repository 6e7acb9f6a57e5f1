// The keeper: one small process per container process, holding its stdio in a folder so
// that it outlives whoever started it (dadoo's place in Garden, conmon's in podman).
#ifndef GDN_ATTACH_KEEPER_H_
#define GDN_ATTACH_KEEPER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attach/attach.schema.h"

namespace gdn::attach {

struct RunOptions {
  std::string dir;
  bool tty = false;
  unsigned rows = 24, cols = 80;
  bool stdin = false;  // feed the process's stdin from `connect --stdin` (else /dev/null)
  // With tty: the terminal comes from the process's runtime over D/console.sock (pass that
  // path as its --console-socket), made inside the container, instead of from the keeper.
  bool console_socket = false;
  // Output held per stream while nobody reads it; past this the keeper stops reading and
  // the process waits.
  size_t buffer_limit = 4 << 20;
  std::vector<std::string> argv;
  // The attach-keeper binary; empty: the one beside this program.
  std::string keeper_binary;
};

// Prepares the folder, starts the keeper (in its own session, detached from the caller's
// stdio, and not the caller's child: nobody has to reap it) and the process under it.
// Returns once the process has started. The folder must not hold a process already
// (AlreadyExists); a program that cannot be run is NotFound or PermissionDenied, and then
// nothing is left in the folder.
absl::StatusOr<Process> StartKeeper(const RunOptions& options);

// File names inside a process folder.
inline constexpr char kProcessFile[] = "process.json";
inline constexpr char kExitFile[] = "exit.json";
inline constexpr char kSocketFile[] = "attach.sock";
inline constexpr char kConsoleFile[] = "console.sock";

}  // namespace gdn::attach

#endif  // GDN_ATTACH_KEEPER_H_
