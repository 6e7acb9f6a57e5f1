// attach: keeps one container process's stdio and exit status in a folder, so that it
// outlives whoever started it and can be re-attached.
//
//   attach run --dir D [--tty [--rows R --cols C] [--console-socket]] [--stdin] [--buffer BYTES] -- CMD ARGS...
//     (--console-socket: CMD's runtime makes the terminal and sends it to D/console.sock)
//   attach connect --dir D [--stdin] [--stdout] [--stderr]
//   attach status --dir D | attach signal --dir D SIGNAL
//   attach resize --dir D --rows R --cols C | attach release --dir D
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "attach/client.h"
#include "attach/keeper.h"
#include "lib/cli.h"
#include "lib/lite_json.h"
#include "lib/main.h"
#include "lib/status.h"
#include "spawn/linux_names.h"

namespace gdn::attach {
namespace {

absl::StatusOr<unsigned> Number(const ParsedFlags& f, const char* name, unsigned fallback) {
  if (!f.Has(name)) return fallback;
  unsigned n;
  if (!absl::SimpleAtoi(f.Get(name), &n)) return UsageError(absl::StrCat("--", name, " takes a number"));
  return n;
}

absl::StatusOr<std::string> Dir(const ParsedFlags& f) {
  std::string dir = f.Get("dir");
  if (dir.empty()) return UsageError("--dir is required");
  if (dir[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) return UsageError("--dir must be absolute");
    dir = absl::StrCat(cwd, "/", dir);
  }
  return dir;
}

absl::Status Main(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("missing command: run, connect, status, signal, resize, release");
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "run") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"dir"}, {"tty", 't', false}, {"rows"}, {"cols"},
                                                      {"stdin", 'i', false}, {"buffer"},
                                                      {"console-socket", 0, false}},
                                               false));
    RunOptions o;
    ASSIGN_OR_RETURN(o.dir, Dir(f));
    o.tty = f.Bool("tty");
    o.stdin = f.Bool("stdin");
    o.console_socket = f.Bool("console-socket");
    ASSIGN_OR_RETURN(o.rows, Number(f, "rows", 24));
    ASSIGN_OR_RETURN(o.cols, Number(f, "cols", 80));
    ASSIGN_OR_RETURN(unsigned buffer, Number(f, "buffer", 4 << 20));
    if (buffer < 4096) return UsageError("--buffer must be at least 4096 bytes");
    o.buffer_limit = buffer;
    o.argv = f.positional;
    ASSIGN_OR_RETURN(Process p, StartKeeper(o));
    return WriteLiteJsonToStdout(p);
  }
  if (cmd == "connect") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"dir"}, {"stdin", 'i', false},
                                                      {"stdout", 0, false}, {"stderr", 0, false}},
                                               false));
    ConnectOptions o;
    ASSIGN_OR_RETURN(o.dir, Dir(f));
    o.stdin = f.Bool("stdin");
    if (f.Has("stdout") || f.Has("stderr")) {
      o.stdout = f.Bool("stdout");
      o.stderr = f.Bool("stderr");
    }
    ASSIGN_OR_RETURN(int status, Connect(o));
    return ExitWith(status);
  }
  ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"dir"}, {"rows"}, {"cols"}}, false));
  ASSIGN_OR_RETURN(std::string dir, Dir(f));
  if (cmd == "status") {
    ASSIGN_OR_RETURN(Status s, GetStatus(dir));
    return WriteLiteJsonToStdout(s);
  }
  if (cmd == "signal") {
    if (f.positional.size() != 1) return UsageError("signal takes one signal name or number");
    absl::StatusOr<int> sig = spawn::SignalNumber(f.positional[0]);
    if (!sig.ok()) return UsageError(sig.status().message());
    return Signal(dir, *sig);
  }
  if (cmd == "resize") {
    if (!f.Has("rows") || !f.Has("cols")) return UsageError("resize needs --rows and --cols");
    ASSIGN_OR_RETURN(unsigned rows, Number(f, "rows", 0));
    ASSIGN_OR_RETURN(unsigned cols, Number(f, "cols", 0));
    return Resize(dir, rows, cols);
  }
  if (cmd == "release") return Release(dir);
  return UsageError(absl::StrCat("unknown command \"", cmd, "\""));
}

}  // namespace
}  // namespace gdn::attach

int main(int argc, char** argv) { return gdn::RunCommandMain(argc, argv, gdn::attach::Main); }
