// Folders, files and setuid helpers as `setup` makes them: every change is recorded as an
// Action (setup.proto) so that undo can revert exactly it. Symlinks are never followed at
// the last component: owners and modes are set through a descriptor opened O_NOFOLLOW.
#ifndef GDN_SETUP_FILES_H_
#define GDN_SETUP_FILES_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

// What lstat says about a path.
struct PathState {
  bool exists = false;
  bool is_dir = false;
  bool is_regular = false;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // permission bits with setuid, setgid and sticky
};
absl::StatusOr<PathState> StatPath(const std::string& path);

// "owned by 999:995, mode 0700"
std::string Describe(const PathState& st);

// OK when no one but root can change what `path` names: each existing folder on the way
// (and `path` itself when it exists) is root-owned and writable by no one else, except that
// a sticky root-owned folder such as /tmp may be world-writable on the way (its other users
// cannot rename or remove root's entries). FailedPrecondition names the culprit.
absl::Status CheckOnlyRootCanChange(const std::string& path);

// OK when `path` is absent or a folder (not a symlink, not a file).
absl::Status CheckFolderOrAbsent(const std::string& path);

// Makes `path` (and missing parents, root-owned 0755) and gives it `uid`:`gid` and `mode`.
// Appends an Action for each folder made, and for an existing one whose owner or mode it
// changed (with the previous ones).
absl::Status EnsureFolder(const std::string& path, uid_t uid, gid_t gid, mode_t mode,
                          std::vector<Action>* actions);

// Installs `source` as `target`, owned by root and `gid`, with `mode` (setuid), unless an
// identical file with that owner and mode is already there.
absl::Status InstallHelper(const std::string& source, const std::string& target, gid_t gid,
                           mode_t mode, std::vector<Action>* actions);

// Writes `content` to `path`, root-owned 0644, unless it already holds exactly that.
absl::Status EnsureRootFile(const std::string& path, const std::string& content,
                            std::vector<Action>* actions);

// Reverts a FOLDER, HELPER or FILE action. Returns the state to report: "removed",
// "restored to owned by 0:0, mode 0755", "kept: not empty", "already gone".
absl::StatusOr<std::string> UndoFileAction(const Action& action);

}  // namespace gdn::setup

#endif  // GDN_SETUP_FILES_H_
