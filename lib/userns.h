// User namespaces from the outside: writing a child's uid/gid maps (directly where the kernel
// lets us, else through the setuid idmap), and running a function as root of a new user
// namespace with given maps. Shared by spawn and image-store.
#ifndef GDN_LIB_USERNS_H_
#define GDN_LIB_USERNS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lib/idmap.h"

namespace gdn {

// The idmap helper: `flag` if set, else beside this binary (or bazel-bin's idmap/), else PATH.
std::string FindIdmap(const std::string& flag = "");

// Writes the maps of `pid`'s new user namespace: directly as root, or as a user mapping only
// its own ids (setgroups denied first); anything more through idmap.
absl::Status WriteIdMaps(pid_t pid, const IdMap& uid_map, const IdMap& gid_map,
                         const std::string& idmap);

// Runs `fn` in a child that is root (uid 0, gid 0) of a new user namespace with these maps
// and returns its status (the message cut at 1 KiB). The child keeps only stdio and the
// descriptors in `keep`: a forked child holding, say, the write end of another thread's
// pipe would keep that pipe's reader from ever seeing its end.
absl::Status RunInUserNamespace(const IdMap& uid_map, const IdMap& gid_map,
                                const std::string& idmap,
                                const std::function<absl::Status()>& fn,
                                const std::vector<int>& keep = {});

}  // namespace gdn

#endif  // GDN_LIB_USERNS_H_
