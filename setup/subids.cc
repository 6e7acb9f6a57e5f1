#include "setup/subids.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::setup {
namespace {

// Writes `text` to `path` with the owner and mode it has (root 0644 when it is new).
absl::Status Rewrite(const std::string& path, const std::string& text) {
  struct stat st;
  bool existed = stat(path.c_str(), &st) == 0;
  if (!existed && errno != ENOENT) return ErrnoError(errno, "stat", path);
  RETURN_IF_ERROR(WriteFileAtomic(path, text, existed ? (st.st_mode & 07777) : 0644));
  if (existed && chown(path.c_str(), st.st_uid, st.st_gid) != 0) {
    return ErrnoError(errno, "chown", path);
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t FreeSubidStart(const std::vector<std::vector<SubidEntry>>& files) {
  uint64_t start = kLowestAddedSubid;
  for (const auto& entries : files) {
    for (const SubidEntry& e : entries) start = std::max(start, e.range.end());
  }
  return start;
}

std::string RemoveLine(const std::string& text, const std::string& line) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  auto it = std::find(lines.begin(), lines.end(), line);
  if (it == lines.end()) return text;
  lines.erase(it);
  return absl::StrJoin(lines, "\n");
}

std::string DescribeRanges(const std::vector<IdRange>& ranges, const std::string& owner) {
  std::vector<std::string> parts;
  for (const IdRange& r : ranges) parts.push_back(absl::StrCat(owner, ":", r.start, ":", r.count));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::vector<SubidEntry>> ReadSubids(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return std::vector<SubidEntry>();
  if (!text.ok()) return text.status();
  return ParseSubidFile(*text);
}

absl::Status AppendSubidLine(const std::string& path, const std::string& line,
                             std::vector<Action>* actions) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok() && !absl::IsNotFound(text.status())) return text.status();
  std::string content = text.ok() ? *text : "";
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += line + "\n";
  RETURN_IF_ERROR(Rewrite(path, content));
  Action a;
  a.set_kind(Action::SUBID);
  a.set_path(path);
  a.set_value(line);
  a.set_created(true);
  actions->push_back(a);
  return absl::OkStatus();
}

absl::StatusOr<std::string> UndoSubidAction(const Action& a) {
  absl::StatusOr<std::string> text = ReadFile(a.path());
  if (absl::IsNotFound(text.status())) return std::string("already gone");
  if (!text.ok()) return text.status();
  std::string after = RemoveLine(*text, a.value());
  if (after == *text) return std::string("already gone");
  RETURN_IF_ERROR(Rewrite(a.path(), after));
  return absl::StrCat("removed the line ", a.value());
}

}  // namespace gdn::setup
