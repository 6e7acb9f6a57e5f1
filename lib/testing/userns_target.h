// A process, owned by a given user, that has just entered a new user namespace and waits
// there with its maps unwritten: the target that idmap (or newuidmap) is pointed at.
#ifndef GDN_LIB_TESTING_USERNS_TARGET_H_
#define GDN_LIB_TESTING_USERNS_TARGET_H_

#include <sys/types.h>

#include <string>

namespace gdn::testing {

class UsernsTarget {
 public:
  // Forks a child that becomes uid/gid (no supplementary groups), stays dumpable so that its
  // /proc folder belongs to that user, unshares its user namespace, and waits. CHECK-fails
  // if the child cannot get there.
  UsernsTarget(uid_t uid, gid_t gid);
  // Ends the child (by its pid) and reaps it.
  ~UsernsTarget();
  UsernsTarget(const UsernsTarget&) = delete;
  UsernsTarget& operator=(const UsernsTarget&) = delete;

  pid_t pid() const { return pid_; }
  // The content of /proc/PID/<file> (uid_map, gid_map, setgroups).
  std::string Read(const std::string& file) const;

 private:
  pid_t pid_ = -1;
  int release_fd_ = -1;
};

}  // namespace gdn::testing

#endif  // GDN_LIB_TESTING_USERNS_TARGET_H_
