// Whether the rootless user can do what gdn needs of the kernel, tried as that user: make a
// user namespace (mapping only its own ids, as it can without idmap) and, inside it with a
// mount namespace, mount an overlay on the filesystem the image store will live on.
#ifndef GDN_SETUP_PROBE_H_
#define GDN_SETUP_PROBE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"

namespace gdn::setup {

// OK when both work. FailedPrecondition otherwise, saying which step failed, why, and the
// sysctl that restricts user namespaces where one does. The probe's folders are made in a
// temporary folder inside `near` (or its closest existing parent) and removed again.
absl::Status ProbeUserNamespaces(uid_t uid, gid_t gid, const std::string& near);

}  // namespace gdn::setup

#endif  // GDN_SETUP_PROBE_H_
