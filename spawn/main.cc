// spawn: an OCI runtime with the command line runc and crun share.
//
//   spawn [--root DIR] [--log FILE] [--log-format text|json] [--idmap PATH] COMMAND ...
//     create --bundle DIR [--pid-file F] [--console-socket S] [--preserve-fds N] ID
//     start ID
//     run --bundle DIR [--detach] [--keep] [--pid-file F] [--console-socket S] ID
//     exec [--process FILE | ID -- ARGS...] [--detach] [--pid-file F] [--tty]
//          [--console-socket S] [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--cap CAP]...
//     state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
//     list [--format table|json] [--quiet] | ps [--format table|json] ID
//     update [--resources FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N]
//            [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L]
//            [--cpuset-mems L] [--pids-limit N] [--blkio-weight N] ID
//     events [--stats] [--interval DURATION] ID
//     spec [--bundle DIR] [--rootless] [--image FILE|-] [--seccomp default]
//
// Flags that podman and conmon pass to a runtime (--systemd-cgroup, --no-pivot,
// --no-new-keyring, --debug, ...) are accepted.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/cli.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/main.h"
#include "lib/status.h"
#include "spawn/runtime.h"
#include "spawn/seccomp.h"
#include "spawn/spec.h"

namespace gdn::spawn {
namespace {

constexpr char kVersion[] = "spawn version 0.1.0\nspec: 1.0.2\n";

const std::vector<FlagSpec> kGlobal = {
    {"root"}, {"log"}, {"log-format"}, {"idmap"}, {"criu"}, {"rootless"},
    {"debug", 0, false}, {"systemd-cgroup", 0, false}, {"version", 'v', false},
    {"help", 'h', false}};

const std::vector<FlagSpec> kCreate = {
    {"bundle", 'b'}, {"pid-file"}, {"console-socket"}, {"preserve-fds"},
    {"no-pivot", 0, false}, {"no-new-keyring", 0, false}, {"detach", 'd', false},
    {"keep", 0, false}};

const std::vector<FlagSpec> kExec = {
    {"process", 'p'}, {"detach", 'd', false}, {"pid-file"}, {"console-socket"},
    {"tty", 't', false}, {"cwd"}, {"env", 'e'}, {"user", 'u'}, {"cap", 'c'},
    {"no-new-privs", 0, false}, {"process-label"}, {"apparmor"}, {"preserve-fds"},
    {"additional-gids", 'g'}, {"ignore-paused", 0, false}, {"cgroup"}};

absl::StatusOr<std::string> One(const ParsedFlags& f, const char* what) {
  if (f.positional.size() != 1) {
    return UsageError(absl::StrCat("expected exactly one ", what));
  }
  return f.positional[0];
}

absl::StatusOr<int> Int(const ParsedFlags& f, const char* name) {
  int n = 0;
  if (f.Has(name) && (!absl::SimpleAtoi(f.Get(name), &n) || n < 0)) {
    return UsageError(absl::StrCat("--", name, " takes a number"));
  }
  return n;
}

absl::Status Print(const std::string& text) { return WriteAll(STDOUT_FILENO, text); }

const std::vector<FlagSpec> kUpdate = {
    {"resources", 'r'}, {"memory", 'm'}, {"memory-swap"}, {"memory-reservation"},
    {"kernel-memory"}, {"kernel-memory-tcp"}, {"cpu-shares"}, {"cpu-quota"}, {"cpu-period"},
    {"cpu-rt-period"}, {"cpu-rt-runtime"}, {"cpuset-cpus"}, {"cpuset-mems"}, {"pids-limit"},
    {"blkio-weight"}};

// A byte count: a number with an optional k, m, g or t (powers of 1024), or -1.
absl::StatusOr<int64_t> Bytes(const std::string& flag, const std::string& text) {
  std::string digits = text;
  int64_t unit = 1;
  if (!digits.empty()) {
    switch (absl::ascii_tolower(digits.back())) {
      case 'k': unit = int64_t{1} << 10; break;
      case 'm': unit = int64_t{1} << 20; break;
      case 'g': unit = int64_t{1} << 30; break;
      case 't': unit = int64_t{1} << 40; break;
      default: break;
    }
    if (unit != 1) digits.pop_back();
    if (unit != 1 && !digits.empty() && absl::ascii_tolower(digits.back()) == 'b') digits.pop_back();
  }
  int64_t n;
  if (!absl::SimpleAtoi(digits, &n) || n < -1 || (n > 0 && n > INT64_MAX / unit)) {
    return UsageError(absl::StrCat("--", flag, " \"", text, "\" is not a size (like 512m, 2g or -1)"));
  }
  return n == -1 ? -1 : n * unit;
}

absl::StatusOr<int64_t> Number(const std::string& flag, const std::string& text) {
  int64_t n;
  if (!absl::SimpleAtoi(text, &n)) {
    return UsageError(absl::StrCat("--", flag, " \"", text, "\" is not a number"));
  }
  return n;
}

absl::StatusOr<oci::Resources> UpdateResources(const ParsedFlags& f) {
  oci::Resources r;
  if (f.Has("resources")) {
    std::string path = f.Get("resources");
    std::string text;
    if (path == "-") {
      ASSIGN_OR_RETURN(text, ReadAll(STDIN_FILENO));
    } else {
      ASSIGN_OR_RETURN(text, ReadFile(path));
    }
    RETURN_IF_ERROR(ParseLiteJson(text, &r, {/*ignore_unknown_fields=*/true}));
  }
  if (f.Has("memory")) {
    ASSIGN_OR_RETURN(int64_t v, Bytes("memory", f.Get("memory")));
    r.mutable_memory()->set_limit(v);
  }
  if (f.Has("memory-swap")) {
    ASSIGN_OR_RETURN(int64_t v, Bytes("memory-swap", f.Get("memory-swap")));
    r.mutable_memory()->set_swap(v);
  }
  if (f.Has("memory-reservation")) {
    ASSIGN_OR_RETURN(int64_t v, Bytes("memory-reservation", f.Get("memory-reservation")));
    r.mutable_memory()->set_reservation(v);
  }
  if (f.Has("cpu-shares")) {
    ASSIGN_OR_RETURN(int64_t v, Number("cpu-shares", f.Get("cpu-shares")));
    r.mutable_cpu()->set_shares(static_cast<uint64_t>(v));
  }
  if (f.Has("cpu-quota")) {
    ASSIGN_OR_RETURN(int64_t v, Number("cpu-quota", f.Get("cpu-quota")));
    r.mutable_cpu()->set_quota(v);
  }
  if (f.Has("cpu-period")) {
    ASSIGN_OR_RETURN(int64_t v, Number("cpu-period", f.Get("cpu-period")));
    r.mutable_cpu()->set_period(static_cast<uint64_t>(v));
  }
  if (f.Has("cpu-rt-period")) {
    ASSIGN_OR_RETURN(int64_t v, Number("cpu-rt-period", f.Get("cpu-rt-period")));
    r.mutable_cpu()->set_realtime_period(static_cast<uint64_t>(v));
  }
  if (f.Has("cpu-rt-runtime")) {
    ASSIGN_OR_RETURN(int64_t v, Number("cpu-rt-runtime", f.Get("cpu-rt-runtime")));
    r.mutable_cpu()->set_realtime_runtime(v);
  }
  if (f.Has("cpuset-cpus")) r.mutable_cpu()->set_cpus(f.Get("cpuset-cpus"));
  if (f.Has("cpuset-mems")) r.mutable_cpu()->set_mems(f.Get("cpuset-mems"));
  if (f.Has("pids-limit")) {
    ASSIGN_OR_RETURN(int64_t v, Number("pids-limit", f.Get("pids-limit")));
    r.mutable_pids()->set_limit(v);
  }
  if (f.Has("blkio-weight")) {
    ASSIGN_OR_RETURN(int64_t v, Number("blkio-weight", f.Get("blkio-weight")));
    r.mutable_block_io()->set_weight(static_cast<uint32_t>(v));
  }
  return r;
}

absl::Status Dispatch(const std::string& cmd, const std::vector<std::string>& rest,
                      Runtime& runtime) {
  if (cmd == "create" || cmd == "run") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, kCreate, false));
    CreateOptions o;
    ASSIGN_OR_RETURN(o.id, One(f, "container id"));
    o.bundle = f.Get("bundle");
    o.pid_file = f.Get("pid-file");
    o.console_socket = f.Get("console-socket");
    ASSIGN_OR_RETURN(o.preserve_fds, Int(f, "preserve-fds"));
    if (cmd == "create") return runtime.Create(o);
    ASSIGN_OR_RETURN(int status, runtime.Run(o, f.Bool("detach"), f.Bool("keep")));
    return ExitWith(status);
  }
  if (cmd == "start" || cmd == "state" || cmd == "delete" || cmd == "kill" || cmd == "ps") {
    std::vector<FlagSpec> specs;
    if (cmd == "delete") specs = {{"force", 'f', false}};
    if (cmd == "kill") specs = {{"all", 'a', false}, {"signal", 's'}};
    if (cmd == "ps") specs = {{"format", 'f'}};
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, specs, false));
    if (cmd == "kill") {
      if (f.positional.empty() || f.positional.size() > 2) {
        return UsageError("kill takes a container id and, optionally, a signal");
      }
      std::string signal = f.positional.size() == 2 ? f.positional[1] : f.Get("signal", "TERM");
      return runtime.Kill(f.positional[0], signal, f.Bool("all"));
    }
    ASSIGN_OR_RETURN(std::string id, One(f, "container id"));
    if (cmd == "start") return runtime.Start(id);
    if (cmd == "delete") return runtime.Delete(id, f.Bool("force"));
    if (cmd == "ps") {
      ASSIGN_OR_RETURN(std::string out, runtime.Ps(id, f.Get("format")));
      return Print(out);
    }
    ASSIGN_OR_RETURN(std::string out, runtime.State(id));
    return Print(out);
  }
  if (cmd == "list") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"format", 'f'}, {"quiet", 'q', false}}, false));
    if (!f.positional.empty()) return UsageError("list takes no arguments");
    ASSIGN_OR_RETURN(std::string out, runtime.List(f.Get("format"), f.Bool("quiet")));
    return Print(out);
  }
  if (cmd == "update") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, kUpdate, false));
    ASSIGN_OR_RETURN(std::string id, One(f, "container id"));
    ASSIGN_OR_RETURN(oci::Resources r, UpdateResources(f));
    return runtime.Update(id, r);
  }
  if (cmd == "events") {
    ASSIGN_OR_RETURN(ParsedFlags f,
                     ParseFlags(rest, {{"stats", 0, false}, {"interval"}}, false));
    ASSIGN_OR_RETURN(std::string id, One(f, "container id"));
    if (f.Bool("stats")) {
      ASSIGN_OR_RETURN(std::string out, runtime.Stats(id));
      return Print(out);
    }
    absl::Duration interval = absl::Seconds(5);
    if (f.Has("interval") &&
        (!absl::ParseDuration(f.Get("interval"), &interval) || interval <= absl::ZeroDuration())) {
      return UsageError(absl::StrCat("--interval \"", f.Get("interval"),
                                     "\" is not a duration (like 5s or 500ms)"));
    }
    return runtime.Events(id, interval, Print);
  }
  if (cmd == "exec") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, kExec, true));
    if (f.positional.empty()) return UsageError("exec needs a container id");
    ExecOptions o;
    o.id = f.positional[0];
    o.args.assign(f.positional.begin() + 1, f.positional.end());
    o.process_file = f.Get("process");
    o.env = f.All("env");
    o.cwd = f.Get("cwd");
    o.user = f.Get("user");
    o.caps = f.All("cap");
    o.tty = f.Bool("tty");
    o.no_new_privs = f.Bool("no-new-privs");
    o.detach = f.Bool("detach");
    o.pid_file = f.Get("pid-file");
    o.console_socket = f.Get("console-socket");
    ASSIGN_OR_RETURN(o.preserve_fds, Int(f, "preserve-fds"));
    ASSIGN_OR_RETURN(int status, runtime.Exec(o));
    return ExitWith(status);
  }
  if (cmd == "spec") {
    ASSIGN_OR_RETURN(ParsedFlags f,
                     ParseFlags(rest, {{"bundle", 'b'}, {"rootless", 0, false}, {"image"}, {"seccomp"}}, false));
    if (!f.positional.empty()) return UsageError("spec takes no arguments");
    oci::Spec spec = DefaultSpec({f.Bool("rootless"), geteuid(), getegid()});
    if (f.Has("seccomp")) {
      if (f.Get("seccomp") != "default") {
        return UsageError(absl::StrCat("--seccomp takes \"default\", not \"", f.Get("seccomp"), "\""));
      }
      *spec.mutable_linux()->mutable_seccomp() = DefaultSeccompProfile();
    }
    if (f.Has("image")) {
      std::string image = f.Get("image");
      std::string text;
      if (image == "-") {
        ASSIGN_OR_RETURN(text, ReadAll(STDIN_FILENO));
      } else {
        ASSIGN_OR_RETURN(text, ReadFile(image));
      }
      RETURN_IF_ERROR(MergeImage(text, &spec));
    }
    std::string path = absl::StrCat(f.Get("bundle", "."), "/config.json");
    if (access(path.c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists; remove it first"));
    }
    return WriteFileAtomic(path, SpecJson(spec), 0644);
  }
  if (cmd == "features") {
    return Print(R"({"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2"})" "\n");
  }
  if (cmd == "version") return Print(kVersion);
  return UsageError(absl::StrCat("unknown command \"", cmd, "\"; see spawn --help"));
}

// conmon and podman read the error of a failed runtime call from --log.
void Log(const std::string& path, const std::string& format, const absl::Status& status) {
  if (path.empty() || status.ok() || CarriedExitCode(status).has_value()) return;
  std::string now = absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
  std::string msg(status.message());
  std::string line;
  if (format == "json") {
    std::string escaped;
    for (char c : msg) {
      if (c == '"' || c == '\\') escaped.push_back('\\');
      if (static_cast<unsigned char>(c) < 0x20) continue;
      escaped.push_back(c);
    }
    line = absl::StrCat(R"({"level":"error","msg":")", escaped, R"(","time":")", now, "\"}\n");
  } else {
    line = absl::StrCat("time=\"", now, "\" level=error msg=\"", msg, "\"\n");
  }
  absl::StatusOr<UniqueFd> fd = Open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd.ok()) (void)WriteAll(fd->get(), line);
}

constexpr char kUsage[] =
    "usage: spawn [--root DIR] [--log FILE] [--log-format text|json] [--idmap PATH] COMMAND\n"
    "commands: create, start, run, exec, state, kill, delete, list, ps, update, events, spec,\n"
    "          features\n";

absl::Status Main(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(ParsedFlags global, ParseFlags(args, kGlobal, true));
  if (global.Bool("version")) return Print(kVersion);
  if (global.Bool("help") || global.positional.empty()) {
    RETURN_IF_ERROR(Print(kUsage));
    return global.positional.empty() && !global.Bool("help") ? UsageError("missing command")
                                                            : absl::OkStatus();
  }
  Runtime runtime({global.Get("root"), global.Get("idmap")});
  std::vector<std::string> rest(global.positional.begin() + 1, global.positional.end());
  absl::Status status = Dispatch(global.positional[0], rest, runtime);
  Log(global.Get("log"), global.Get("log-format"), status);
  return status;
}

}  // namespace
}  // namespace gdn::spawn

int main(int argc, char** argv) { return gdn::RunCommandMain(argc, argv, gdn::spawn::Main); }
