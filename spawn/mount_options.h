// Mount options as the OCI spec writes them ("ro", "nosuid", "rbind", "rslave", "mode=755")
// turned into mount(2) flags, a propagation change and filesystem data; and flags turned back
// into names for error messages (MS_BIND|MS_REC|MS_RDONLY).
#ifndef GDN_SPAWN_MOUNT_OPTIONS_H_
#define GDN_SPAWN_MOUNT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdn::spawn {

struct MountOptions {
  unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, ... (MS_BIND and MS_REC for binds)
  unsigned long propagation = 0;  // MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE (| MS_REC)
  std::string data;               // what the filesystem reads: "mode=755,size=65536k"
  bool bind() const;
};

// InvalidArgument names an option we refuse (id-mapped mounts, for now).
absl::StatusOr<MountOptions> ParseMountOptions(const std::vector<std::string>& options);

// "MS_BIND|MS_REC|MS_RDONLY"; "0" for none.
std::string MountFlagsToString(unsigned long flags);

// A rootfsPropagation value ("rslave", "private", ...) as flags; 0 for "".
absl::StatusOr<unsigned long> ParsePropagation(const std::string& name);

}  // namespace gdn::spawn

#endif  // GDN_SPAWN_MOUNT_OPTIONS_H_
