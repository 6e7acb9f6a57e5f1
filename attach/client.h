// The client side of a process folder: connect to its keeper, ask its status, signal it,
// resize its terminal, release it.
#ifndef GDN_ATTACH_CLIENT_H_
#define GDN_ATTACH_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "attach/attach.schema.h"

namespace gdn::attach {

struct ConnectOptions {
  std::string dir;
  bool stdin = false;
  bool stdout = true;   // a stream not asked for is read and discarded
  bool stderr = true;
  int in_fd = 0, out_fd = 1, err_fd = 2;
};

// Joins the caller's stdio to the process until it has ended and its output is drained.
// Returns its status as a shell reports it (128+N for signal N). NotFound for a folder with
// no process; Internal when the keeper died before the exit status was written.
absl::StatusOr<int> Connect(const ConnectOptions& options);

absl::StatusOr<Status> GetStatus(const std::string& dir);
absl::Status Signal(const std::string& dir, int signal);
absl::Status Resize(const std::string& dir, unsigned rows, unsigned cols);
absl::Status Release(const std::string& dir);

}  // namespace gdn::attach

#endif  // GDN_ATTACH_CLIENT_H_
