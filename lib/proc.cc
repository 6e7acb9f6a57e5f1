#include "lib/proc.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lib/file.h"

namespace gdn {

ProcessStart ReadProcessStart(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return ProcessStart();
  return ParseProcessStart(*stat);
}

ProcessStart ParseProcessStart(absl::string_view stat) {
  ProcessStart out;
  // The command name (field 2) may hold spaces and parentheses: start after the last ')'.
  absl::string_view::size_type close = stat.rfind(')');
  if (close == absl::string_view::npos || close + 2 >= stat.size()) return out;
  char state = stat[close + 2];
  size_t i = close + 2;  // field 3
  for (int field = 3; field < 22 && i < stat.size(); ++i) {
    if (stat[i] == ' ') ++field;
  }
  uint64_t start = 0;
  for (; i < stat.size() && stat[i] >= '0' && stat[i] <= '9'; ++i) start = start * 10 + (stat[i] - '0');
  out.start_time = start;
  out.running = out.start_time != 0 && state != 'Z' && state != 'X';
  return out;
}

std::string SelfDir() {
  char self[PATH_MAX] = {};
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string("./x");
  return path.substr(0, path.rfind('/'));
}

}  // namespace gdn
