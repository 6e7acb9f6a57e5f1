// The keeper process itself (`attach-keeper`, exec'd by `attach run`). It lives as long as
// the process it keeps, one per process, so it is kept tiny: libc and the standard library
// only, no Abseil, protobuf or glog (each of those costs every keeper private memory at
// start-up). It writes process.json and exit.json with a small printer whose output a test
// holds equal to protobuf's JSON for the same attach.proto messages.
#ifndef GDN_ATTACH_KEEPER_CORE_H_
#define GDN_ATTACH_KEEPER_CORE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gdn::attach {

struct KeeperOptions {
  std::string dir;
  bool tty = false;
  unsigned rows = 24, cols = 80;
  bool stdin = false;
  size_t buffer_limit = 4 << 20;
  int listen_fd = -1;  // the bound, listening socket D/attach.sock
  // With tty: the listening socket D/console.sock, where the process's runtime sends the
  // terminal it made (runc's --console-socket) instead of the keeper making one; -1: none.
  int console_fd = -1;
  int report_fd = -1;  // "ok\n", or "ERR <errno> <what>\n", once the process has started
  std::vector<std::string> argv;
};

// Starts the process and relays its stdio until it has ended and its output is delivered.
// Returns the keeper's exit code.
int RunKeeper(const KeeperOptions& options);

// JSON of attach.proto's ExitStatus and Process, as protobuf prints them (snake_case,
// defaults omitted, 64-bit integers as strings).
std::string ExitStatusJson(bool exited, int code, int signal);
std::string ProcessJson(int pid, int keeper_pid, uint64_t keeper_start_time,
                        const std::string& dir, bool tty);

// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
uint64_t ProcessStartTime(pid_t pid);

}  // namespace gdn::attach

#endif  // GDN_ATTACH_KEEPER_CORE_H_
