#include "lib/status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace gdn {
namespace {
constexpr char kUsagePayload[] = "gdn/usage";
}  // namespace

absl::Status ErrnoError(int err, absl::string_view op, absl::string_view path) {
  std::string message = path.empty() ? std::string(op) : absl::StrCat(op, " '", path, "'");
  absl::StrAppend(&message, ": ", std::strerror(err));
  absl::StatusCode code;
  switch (err) {
    // Busy or locked: retrying may succeed (exit 8).
    case EBUSY:
    case EAGAIN:
    case ETXTBSY:
      code = absl::StatusCode::kUnavailable;
      break;
    // Out of a resource (exit 6).
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      code = absl::ErrnoToStatusCode(err);
  }
  return absl::Status(code, message);
}

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

absl::Status ExitWith(int code) {
  if (code == 0) return absl::OkStatus();
  absl::Status status = absl::UnknownError("");
  status.SetPayload("gdn/exit-code", absl::Cord(std::to_string(code)));
  return status;
}

std::optional<int> CarriedExitCode(const absl::Status& status) {
  auto payload = status.GetPayload("gdn/exit-code");
  if (!payload.has_value()) return std::nullopt;
  return std::stoi(std::string(*payload));
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (std::optional<int> code = CarriedExitCode(status)) return *code;
  if (IsUsageError(status)) return kExitUsage;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
      return kExitExists;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnauthenticated:
      return kExitNotPermitted;
    case absl::StatusCode::kResourceExhausted:
      return kExitExhausted;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      return kExitBusy;
    default:
      return kExitFailed;
  }
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace gdn
