// Helpers for tests that run real binaries: finding them in the runfiles, making private
// temporary folders, and telling CI from a developer's machine.
#ifndef GDN_LIB_TESTING_TESTING_H_
#define GDN_LIB_TESTING_TESTING_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace gdn::testing {

// The absolute path of a file of this workspace in the test's runfiles, e.g.
// Runfile("tests/probe/probe").
std::string Runfile(absl::string_view workspace_path);

// True when running under CI (CI=true), where a test that cannot run must fail, not skip.
bool InCi();

// The unprivileged users that tools/test creates, with /etc/subuid and /etc/subgid ranges.
inline constexpr char kTestUser[] = "gdn-test";
inline constexpr char kOtherTestUser[] = "gdn-test2";

struct TestUserIds {
  std::string name;
  unsigned uid;
  unsigned gid;
};
// The ids of a test user, or an empty optional when the user does not exist.
std::optional<TestUserIds> FindTestUser(const std::string& name);

// Why this machine cannot run a privileged test, or "" when it can: root is needed, and the
// test users. Use with GDN_SKIP_UNLESS_PRIVILEGED().
std::string PrivilegedTestBlocker();

// A fresh folder under /tmp that any user may enter (mode 0755), removed with everything in
// it when the object goes away. /tmp rather than TEST_TMPDIR, because the unprivileged test
// user cannot reach Bazel's output folder.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(absl::string_view name) const;
  // Copies the file `source` into this folder as `name` with `mode` (owned by whoever runs
  // the test) and returns the copy's path. For binaries another user must be able to run.
  std::string CopyIn(const std::string& source, absl::string_view name, unsigned mode = 0755);

 private:
  std::string path_;
};

}  // namespace gdn::testing

// Skips the test where the machine cannot run it; under CI it fails instead (STYLE.md 18).
#define GDN_SKIP_UNLESS_PRIVILEGED()                                             \
  do {                                                                          \
    std::string gdn_blocker_ = ::gdn::testing::PrivilegedTestBlocker();          \
    if (!gdn_blocker_.empty()) {                                                \
      if (::gdn::testing::InCi()) {                                             \
        FAIL() << "cannot run under CI: " << gdn_blocker_;                      \
      }                                                                         \
      GTEST_SKIP() << gdn_blocker_;                                             \
    }                                                                           \
  } while (0)

#endif  // GDN_LIB_TESTING_TESTING_H_
