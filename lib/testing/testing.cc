#include "lib/testing/testing.h"

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "lib/subprocess.h"

namespace gdn::testing {

std::string Runfile(absl::string_view workspace_path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  CHECK(srcdir != nullptr) << "TEST_SRCDIR is not set: run this test with bazel test";
  std::string path = absl::StrCat(srcdir, "/", workspace ? workspace : "gdn", "/", workspace_path);
  char resolved[PATH_MAX];
  CHECK(realpath(path.c_str(), resolved) != nullptr) << "no runfile " << path;
  return resolved;
}

bool InCi() {
  const char* ci = getenv("CI");
  return ci != nullptr && strcmp(ci, "true") == 0;
}

std::optional<TestUserIds> FindTestUser(const std::string& name) {
  const struct passwd* pw = getpwnam(name.c_str());
  if (pw == nullptr) return std::nullopt;
  return TestUserIds{pw->pw_name, pw->pw_uid, pw->pw_gid};
}

std::string PrivilegedTestBlocker() {
  if (geteuid() != 0) return "needs root (run tools/test as root)";
  for (const char* user : {kTestUser, kOtherTestUser}) {
    if (!FindTestUser(user).has_value()) {
      return absl::StrCat("needs the test user ", user, " (tools/test creates it)");
    }
  }
  return "";
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/gdn-test-XXXXXX";
  CHECK(mkdtemp(tmpl) != nullptr) << "mkdtemp: " << strerror(errno);
  path_ = tmpl;
  CHECK(chmod(path_.c_str(), 0755) == 0);
}

TempDir::~TempDir() {
  SubprocessOptions rm;
  rm.argv = {"rm", "-rf", "--one-file-system", path_};
  auto result = RunSubprocess(rm);
  if (!result.ok() || !result->ok()) LOG(ERROR) << "could not remove " << path_;
}

std::string TempDir::CopyIn(const std::string& source, absl::string_view name, unsigned mode) {
  std::string dest = Join(name);
  SubprocessOptions cp;
  cp.argv = {"cp", source, dest};
  auto result = RunSubprocess(cp);
  CHECK(result.ok() && result->ok()) << "could not copy " << source << " to " << dest;
  CHECK(chmod(dest.c_str(), mode) == 0) << "chmod " << dest << ": " << strerror(errno);
  return dest;
}

std::string TempDir::Join(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

}  // namespace gdn::testing
