// Files and folders that a setuid helper may take orders from on behalf of a caller who is
// not root: the configuration, the CNI network configs, the plugins it executes. Trusted
// means that no one but root can have written them or can swap them: every component of the
// resolved path, from / down, belongs to root and is not writable by group or others. A
// root-owned sticky folder (/tmp) may be writable by all, since no one else can rename or
// remove what root owns inside it.
#ifndef GDN_NETNS_TRUST_H_
#define GDN_NETNS_TRUST_H_

#include <sys/stat.h>

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
// Returns an O_PATH descriptor of the last one. NotFound when it does not exist.
absl::StatusOr<UniqueFd> OpenTrusted(absl::string_view path, PathKind kind);

// The path of a descriptor from OpenTrusted, to open it for reading: /proc/self/fd/N.
std::string FdPath(const UniqueFd& fd);

}  // namespace gdn::netns

#endif  // GDN_NETNS_TRUST_H_
