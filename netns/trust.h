// Files and folders that a setuid helper may take orders from on behalf of a caller who is
// not root: the configuration, the CNI network configs, the plugins it executes. Trusted
// means that no one but root can have written them or can swap them: every component of the
// resolved path, from / down, belongs to root and is not writable by group or others. A
// root-owned sticky folder (/tmp) may be writable by all, since no one else can rename or
// remove what root owns inside it.
#ifndef GDN_NETNS_TRUST_H_
#define GDN_NETNS_TRUST_H_

#include <sys/stat.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd.h"

namespace gdn::netns {

enum class PathKind { kFile, kDir };

// The rule for one component, from its stat: OK, or PermissionDenied naming `path` and why.
// `last` is the component the caller asked for, which must be of `kind`.
absl::Status CheckTrustedComponent(const std::string& path, const struct stat& st, bool last,
                                   PathKind kind);

// Resolves `path` (symbolic links included, as realpath does) and checks every component
// of the result, walking it with O_NOFOLLOW so that nothing can be swapped in between.
// Returns an O_PATH descriptor of the last one, and the resolved path in `resolved_path` when
// given: a path with no symbolic link in it, all of whose components passed. NotFound when
// it does not exist.
absl::StatusOr<UniqueFd> OpenTrusted(absl::string_view path, PathKind kind,
                                     std::string* resolved_path = nullptr);

// The path of a descriptor from OpenTrusted, to open it for reading: /proc/self/fd/N.
std::string FdPath(const UniqueFd& fd);

// The content of `path` (a path from FdPath, say), at most `limit` bytes: InvalidArgument
// when there is more. Messages name the file as `shown` and never quote what it holds, so
// that a setuid caller cannot read a file through them.
absl::StatusOr<std::string> ReadLimited(const std::string& path, size_t limit,
                                        absl::string_view shown);

// Root's own files, which no one else may open or change.
//
// The folder `dir` as root's alone, mode 0700, for entries no one else should list or open
// (the bind mounts of network namespaces): made so when missing (missing parents root's,
// 0755), narrowed to 0700 when it is wider. With `require_trusted`, its parent must be
// trusted and it must pass CheckTrustedComponent before it is narrowed. PermissionDenied
// when it is a symbolic link, no folder, or not root's.
absl::Status MakeRootOnlyDir(const std::string& dir, bool require_trusted);

// Opens the lock file `path` read-write for flock, creating it (root's, 0600) when missing,
// without following a symbolic link. Its folder must be root's and not writable by group
// or others unless sticky; the file must be a regular file of root's. One that group or
// others may open is narrowed to 0600: whoever can open a lock file can hold the lock.
// PermissionDenied when a rule fails.
absl::StatusOr<UniqueFd> OpenRootLockFile(const std::string& path);

}  // namespace gdn::netns

#endif  // GDN_NETNS_TRUST_H_
