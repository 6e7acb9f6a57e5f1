#include "lib/status.h"

#include <cerrno>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdn {
namespace {

using ::testing::HasSubstr;

TEST(ErrnoError, NamesTheCallAndThePath) {
  absl::Status s = ErrnoError(ENOENT, "open", "/etc/nothing");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "open '/etc/nothing': No such file or directory");
  EXPECT_EQ(ErrnoError(EAGAIN, "fork").message(), "fork: Resource temporarily unavailable");
}

TEST(ErrnoError, CodeFollowsErrno) {
  EXPECT_EQ(ExitCodeFor(ErrnoError(ENOENT, "x")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(ErrnoError(EEXIST, "x")), kExitExists);
  EXPECT_EQ(ExitCodeFor(ErrnoError(EPERM, "x")), kExitNotPermitted);
  EXPECT_EQ(ExitCodeFor(ErrnoError(EACCES, "x")), kExitNotPermitted);
  EXPECT_EQ(ExitCodeFor(ErrnoError(ENOSPC, "x")), kExitExhausted);
  EXPECT_EQ(ExitCodeFor(ErrnoError(EBUSY, "x")), kExitBusy);
  EXPECT_EQ(ExitCodeFor(ErrnoError(EIO, "x")), kExitFailed);
}

TEST(ExitCodeFor, CoversTheDesignTable) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::UnknownError("x")), 1);
  EXPECT_EQ(ExitCodeFor(UsageError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeFor(absl::AlreadyExistsError("x")), 4);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("x")), 5);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), 5);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("x")), 6);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), 7);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("x")), 8);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), 1);
}

TEST(ExitWith, CarriesAProcessExitCode) {
  EXPECT_TRUE(ExitWith(0).ok());
  EXPECT_EQ(ExitCodeFor(ExitWith(137)), 137);
  EXPECT_EQ(CarriedExitCode(ExitWith(3)), 3);
  EXPECT_EQ(CarriedExitCode(absl::NotFoundError("x")), std::nullopt);
}

TEST(Annotate, KeepsCodeAndUsagePayload) {
  absl::Status s = Annotate(UsageError("bad flag"), "idmap apply");
  EXPECT_EQ(s.message(), "idmap apply: bad flag");
  EXPECT_TRUE(IsUsageError(s));
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  RETURN_IF_ERROR(Half(n));
  return absl::OkStatus();
}

TEST(Macros, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6).status().message(), HasSubstr("odd"));
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gdn
