#include "lib/proc.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lib/file.h"

namespace gdn {

ProcessStart ReadProcessStart(pid_t pid) {
  ProcessStart out;
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return out;
  // The command name (field 2) may hold spaces and parentheses: start after the last ')'.
  std::string::size_type close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return out;
  char state = (*stat)[close + 2];
  const char* p = stat->c_str() + close + 2;  // field 3
  for (int field = 3; field < 22 && *p; ++p) {
    if (*p == ' ') ++field;
  }
  out.start_time = strtoull(p, nullptr, 10);
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
