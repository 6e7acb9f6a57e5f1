// Errors for every gdn binary: absl::Status built from errno with the operation and path
// in the message, and the mapping from a status to the exit codes of the design's table.
#ifndef GDN_LIB_STATUS_H_
#define GDN_LIB_STATUS_H_

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn {

// The exit codes every binary shares (DESIGN.md, "Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitExists = 4,
  kExitNotPermitted = 5,
  kExitExhausted = 6,
  kExitInvalid = 7,
  kExitBusy = 8,
};

// A status for a failed system call: "open '/etc/x': No such file or directory".
// The code follows errno (ENOENT is NotFound, EACCES is PermissionDenied, ...).
absl::Status ErrnoError(int err, absl::string_view op, absl::string_view path = "");

// A status for bad or missing flags; ExitCodeFor() maps it to kExitUsage.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// A status that makes a binary exit with `code` and print nothing: for commands such as
// `spawn run` that exit with their process's status. OK for 0.
absl::Status ExitWith(int code);
// The code carried by ExitWith(), if any.
std::optional<int> CarriedExitCode(const absl::Status& status);

// The documented exit code for a status.
int ExitCodeFor(const absl::Status& status);

// Returns `status` with `context` and ": " put before its message, code and payloads kept.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

namespace internal {
inline absl::Status AsStatus(absl::Status s) { return s; }
template <typename T>
absl::Status AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

}  // namespace gdn

#define GDN_STATUS_CONCAT_INNER_(a, b) a##b
#define GDN_STATUS_CONCAT_(a, b) GDN_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                                     \
  do {                                                            \
    absl::Status gdn_status_ = ::gdn::internal::AsStatus((expr)); \
    if (!gdn_status_.ok()) return gdn_status_;                    \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` assigns the value of a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  GDN_ASSIGN_OR_RETURN_IMPL_(GDN_STATUS_CONCAT_(gdn_statusor_, __LINE__), lhs, expr)
#define GDN_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                               \
  if (!var.ok()) return std::move(var).status();   \
  lhs = std::move(var).value()

#endif  // GDN_LIB_STATUS_H_
