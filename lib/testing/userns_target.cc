#include "lib/testing/userns_target.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "lib/file.h"

namespace gdn::testing {

UsernsTarget::UsernsTarget(uid_t uid, gid_t gid) {
  int ready[2], release[2];
  CHECK(pipe2(ready, O_CLOEXEC) == 0);
  CHECK(pipe2(release, O_CLOEXEC) == 0);
  pid_ = fork();
  CHECK(pid_ >= 0) << "fork: " << strerror(errno);
  if (pid_ == 0) {
    close(ready[0]);
    close(release[1]);
    char status = 'x';
    if (setgroups(0, nullptr) == 0 && setresgid(gid, gid, gid) == 0 &&
        setresuid(uid, uid, uid) == 0 && prctl(PR_SET_DUMPABLE, 1) == 0 &&
        prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && unshare(CLONE_NEWUSER) == 0) {
      status = 'k';
    }
    (void)!write(ready[1], &status, 1);
    char c;
    while (read(release[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  release_fd_ = release[1];
  char status = 0;
  ssize_t n = read(ready[0], &status, 1);
  close(ready[0]);
  CHECK(n == 1 && status == 'k') << "the target process could not enter a user namespace";
}

UsernsTarget::~UsernsTarget() {
  close(release_fd_);
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
}

std::string UsernsTarget::Read(const std::string& file) const {
  auto content = ReadFile(absl::StrCat("/proc/", pid_, "/", file));
  CHECK(content.ok()) << content.status();
  return *content;
}

}  // namespace gdn::testing
