// The subordinate id files, /etc/subuid and /etc/subgid, read the way shadow's newuidmap
// reads them: "owner:start:count" per line, where owner is a user name or a numeric uid;
// lines that do not have exactly three non-empty fields with numbers (decimal, 0x hex or
// 0 octal, as strtoul reads them) are skipped, which covers comments and blank lines.
#ifndef GDN_LIB_SUBID_H_
#define GDN_LIB_SUBID_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/idmap.h"

namespace gdn {

inline constexpr char kSubuidPath[] = "/etc/subuid";
inline constexpr char kSubgidPath[] = "/etc/subgid";

struct SubidEntry {
  std::string owner;
  IdRange range;
};

// Every well-formed line of a subuid/subgid file, in order.
std::vector<SubidEntry> ParseSubidFile(absl::string_view text);

// Looks up the uid of a user name (getpwnam); nullopt when there is none.
using UidOfName = std::function<std::optional<uid_t>(const std::string& name)>;
UidOfName SystemUidOfName();

// The ranges that belong to the user `name` with uid `uid`: lines whose owner is the name,
// the uid in decimal, or another name with the same uid.
std::vector<IdRange> RangesOf(const std::vector<SubidEntry>& entries, const std::string& name,
                              uid_t uid, const UidOfName& uid_of_name);

// A user as the kernel and the password database know it.
struct UserIdentity {
  std::string name;
  uid_t uid;
  gid_t gid;
};
// Looks a user up by name or by decimal uid. NotFound when there is no such user.
absl::StatusOr<UserIdentity> LookupUser(const std::string& name_or_uid);
absl::StatusOr<UserIdentity> LookupUid(uid_t uid);

}  // namespace gdn

#endif  // GDN_LIB_SUBID_H_
