#include "lib/subid.h"

#include <pwd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gdn {
namespace {

// strtoul(s, &end, 0) accepting the whole string, as shadow's getulong does.
bool ParseULong(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 0);
  if (*end != '\0' || errno == ERANGE) return false;
  *out = v;
  return true;
}

absl::StatusOr<UserIdentity> FromPasswd(const struct passwd* pw, const std::string& what) {
  if (pw == nullptr) return absl::NotFoundError(absl::StrCat("no user ", what));
  return UserIdentity{pw->pw_name, pw->pw_uid, pw->pw_gid};
}

}  // namespace

std::vector<SubidEntry> ParseSubidFile(absl::string_view text) {
  std::vector<SubidEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // shadow refuses lines of 1024 bytes or more.
    if (line.size() >= 1024) continue;
    std::vector<std::string> f = absl::StrSplit(line, ':');
    if (f.size() != 3 || f[0].empty() || f[1].empty() || f[2].empty()) continue;
    SubidEntry e;
    e.owner = f[0];
    if (!ParseULong(f[1], &e.range.start) || !ParseULong(f[2], &e.range.count)) continue;
    out.push_back(std::move(e));
  }
  return out;
}

UidOfName SystemUidOfName() {
  return [](const std::string& name) -> std::optional<uid_t> {
    const struct passwd* pw = getpwnam(name.c_str());
    if (pw == nullptr) return std::nullopt;
    return pw->pw_uid;
  };
}

std::vector<IdRange> RangesOf(const std::vector<SubidEntry>& entries, const std::string& name,
                              uid_t uid, const UidOfName& uid_of_name) {
  std::vector<IdRange> out;
  const std::string uid_text = absl::StrCat(uid);
  for (const SubidEntry& e : entries) {
    bool mine = e.owner == name || e.owner == uid_text;
    if (!mine && uid_of_name) {
      std::optional<uid_t> owner_uid = uid_of_name(e.owner);
      mine = owner_uid.has_value() && *owner_uid == uid;
    }
    if (mine) out.push_back(e.range);
  }
  return out;
}

absl::StatusOr<UserIdentity> LookupUser(const std::string& name_or_uid) {
  uint32_t uid;
  if (absl::SimpleAtoi(name_or_uid, &uid)) return LookupUid(uid);
  return FromPasswd(getpwnam(name_or_uid.c_str()), absl::StrCat("named \"", name_or_uid, "\""));
}

absl::StatusOr<UserIdentity> LookupUid(uid_t uid) {
  return FromPasswd(getpwuid(uid), absl::StrCat("with uid ", uid));
}

}  // namespace gdn
