// The user's subordinate ids: found in /etc/subuid and /etc/subgid as shadow's newuidmap
// reads them (lib/subid.h), and with --add-subids, one free range of 65536 appended.
#ifndef GDN_SETUP_SUBIDS_H_
#define GDN_SETUP_SUBIDS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/subid.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

inline constexpr uint64_t kAddedSubidCount = 65536;
inline constexpr uint64_t kLowestAddedSubid = 100000;

// The start of a range above the end of every range in `files` (and at least 100000),
// the same in both files so the user's uids and gids line up.
uint64_t FreeSubidStart(const std::vector<std::vector<SubidEntry>>& files);

// `text` without its first line equal to `line` (the text unchanged when there is none).
std::string RemoveLine(const std::string& text, const std::string& line);

// "name:1000000:65536 name:1200000:1000"
std::string DescribeRanges(const std::vector<IdRange>& ranges, const std::string& owner);

// The entries of a subordinate id file; an absent file has none.
absl::StatusOr<std::vector<SubidEntry>> ReadSubids(const std::string& path);

// Appends `line` (and a newline) to `path`, keeping its owner and mode, and records it.
absl::Status AppendSubidLine(const std::string& path, const std::string& line,
                             std::vector<Action>* actions);

// Removes the line a SUBID action added, if it is still there.
absl::StatusOr<std::string> UndoSubidAction(const Action& action);

}  // namespace gdn::setup

#endif  // GDN_SETUP_SUBIDS_H_
