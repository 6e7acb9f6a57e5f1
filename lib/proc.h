// Facts about processes and this binary, read from /proc.
#ifndef GDN_LIB_PROC_H_
#define GDN_LIB_PROC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gdn {

struct ProcessStart {
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat; 0 when there is no such process
  bool running = false;     // neither a zombie nor dead
};

// When `pid` started and whether it still runs: with the start time recorded earlier, this
// tells a process from a later one that got its pid.
ProcessStart ReadProcessStart(pid_t pid);
// The same from the content of a /proc/PID/stat already read.
ProcessStart ParseProcessStart(absl::string_view stat);

// The folder of this binary (/proc/self/exe), where its helpers are installed beside it.
std::string SelfDir();

}  // namespace gdn

#endif  // GDN_LIB_PROC_H_
