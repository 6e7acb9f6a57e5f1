#include "netns/iptables.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/fd.h"
#include "lib/status.h"
#include "lib/subprocess.h"
#include "netns/trust.h"

namespace gdn::netns {
namespace {

constexpr char kIptables[] = "/usr/sbin/iptables";
constexpr char kRestore[] = "/usr/sbin/iptables-restore";
constexpr char kSave[] = "/usr/sbin/iptables-save";

// xtables' own lock, which `iptables -w` takes itself: holding it here would deadlock the
// legacy backend (and the nf_tables one does not use it).
bool IsXtablesLock(const std::string& path) {
  return path == "/run/xtables.lock" || path == "/var/run/xtables.lock";
}

// An flock on the configured file (an invalid descriptor when none is configured), opened
// as root's own file (trust.h): no symbolic link followed, no one else able to open it.
absl::StatusOr<UniqueFd> TakeLock(const std::string& path) {
  if (path.empty() || IsXtablesLock(path)) return UniqueFd();
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRootLockFile(path));
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoError(errno, "lock", path);
  }
  return fd;
}

bool LegacyBackend() {
  static const bool legacy = [] {
    char real[PATH_MAX];
    return realpath(kRestore, real) != nullptr && absl::StrContains(real, "legacy");
  }();
  return legacy;
}

SubprocessOptions Options(std::vector<std::string> argv) {
  SubprocessOptions o;
  o.argv = std::move(argv);
  o.env = std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  o.timeout = absl::Minutes(1);
  return o;
}

absl::StatusOr<std::string> Outcome(const absl::StatusOr<SubprocessResult>& r,
                                    const std::string& program) {
  if (!r.ok()) return r.status();
  if (!r->ok()) {
    std::string err(absl::StripAsciiWhitespace(r->err));
    return absl::InternalError(
        absl::StrCat(program, " ", r->Describe(), err.empty() ? "" : ": ", err));
  }
  return r->out;
}

}  // namespace

Iptables::Session::~Session() {
  if (!finished_) (void)Finish();
}

absl::Status Iptables::Session::Send(const Batch& batch) {
  // Each rule is one line of iptables-restore's input: one that is more is an injection.
  for (const auto* lines : {&batch.nat, &batch.filter}) {
    for (const std::string& l : *lines) {
      if (l.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) {
        return absl::InternalError("refusing an iptables rule with a line break or NUL in it");
      }
    }
  }
  std::string text = batch.Text();
  if (!async_) {
    pending_ += text;
    return absl::OkStatus();
  }
  // A failed write means iptables-restore already gave up; Finish tells why.
  (void)WriteAll(input_.get(), text);
  return absl::OkStatus();
}

absl::Status Iptables::Session::Finish() {
  finished_ = true;
  absl::Status status;
  if (async_) {
    input_.Reset();
    if (runner_.joinable()) runner_.join();
    status = result_.status();
  } else if (!pending_.empty()) {
    SubprocessOptions o = Options({kRestore, "--noflush", "-w"});
    o.stdin_mode = Stdio::kCapture;
    o.stdin_data = pending_;
    status = Outcome(RunSubprocess(o), kRestore).status();
  }
  lock_.Reset();
  return status;
}

Iptables::Iptables(BaseChains base, std::string lock_file)
    : base_(std::move(base)), lock_file_(std::move(lock_file)) {}

absl::StatusOr<std::unique_ptr<Iptables::Session>> Iptables::Begin() {
  std::unique_ptr<Session> s(new Session());
  ASSIGN_OR_RETURN(s->lock_, TakeLock(lock_file_));
  s->async_ = !LegacyBackend();
  if (!s->async_) return s;
  ASSIGN_OR_RETURN(Pipe pipe, MakePipe());
  s->input_ = std::move(pipe.write);
  Session* session = s.get();
  int read_end = pipe.read.Release();
  s->runner_ = std::thread([session, read_end] {
    UniqueFd in(read_end);
    SubprocessOptions o = Options({kRestore, "--noflush", "-w"});
    o.stdin_mode = Stdio::kFd;
    o.stdin_fd = in.get();
    session->result_ = Outcome(RunSubprocess(o), kRestore);
  });
  return s;
}

absl::StatusOr<std::string> Iptables::Run(const std::vector<std::string>& argv,
                                          const std::string& input) {
  ASSIGN_OR_RETURN(UniqueFd lock, TakeLock(lock_file_));
  SubprocessOptions o = Options(argv);
  if (!input.empty()) {
    o.stdin_mode = Stdio::kCapture;
    o.stdin_data = input;
  }
  return Outcome(RunSubprocess(o), argv[0]);
}

absl::Status Iptables::Restore(const Batch& batch) {
  if (batch.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Begin());
  RETURN_IF_ERROR(s->Send(batch));
  return s->Finish();
}

absl::Status Iptables::Apply(const Batch& batch, const Batch& undo) {
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Begin());
  return Apply(Batch(), batch, undo, std::move(session));
}

absl::Status Iptables::Apply(const Batch& sent, const Batch& rest, const Batch& undo,
                             std::unique_ptr<Session> session) {
  absl::Status first = session->Send(rest);
  absl::Status finished = session->Finish();
  if (first.ok()) first = finished;
  if (first.ok()) return first;
  // Most often the base chains are missing (no setup yet, or a reboot): normal once. Nothing
  // is logged here: the caller holds the state file's lock, and a stderr that is never read
  // would block us with it (warnings.h).
  Sweep(undo);
  RETURN_IF_ERROR(EnsureBaseChains());
  Batch all = sent;
  all.Append(rest);
  absl::Status second = Restore(all);
  if (!second.ok()) Sweep(undo);
  return second;
}

void Iptables::Sweep(const Batch& removal) {
  for (const auto& [table, lines] :
       {std::pair{"nat", &removal.nat}, std::pair{"filter", &removal.filter}}) {
    for (const std::string& line : *lines) {
      std::vector<std::string> argv = {kIptables, "-w", "-t", table};
      for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
        argv.emplace_back(word);
      }
      bool repeat = absl::StartsWith(line, "-D ");
      for (int i = 0; i < (repeat ? 16 : 1); ++i) {
        if (!Run(argv, "").ok()) break;
      }
    }
  }
}

void Iptables::Remove(const Batch& removal) {
  if (removal.empty()) return;
  absl::Status s = Restore(removal);
  if (!s.ok()) Sweep(removal);
}

absl::Status Iptables::EnsureBaseChains() {
  // Under the lock for the whole read-then-write, so two runs do not both declare (and so
  // flush) a chain the other just made.
  ASSIGN_OR_RETURN(UniqueFd lock, TakeLock(lock_file_));
  std::string saved_lock = std::move(lock_file_);
  lock_file_.clear();
  absl::StatusOr<std::string> filter = Run({kSave, "-t", "filter"}, "");
  absl::StatusOr<std::string> nat = Run({kSave, "-t", "nat"}, "");
  absl::Status status = filter.ok() ? nat.status() : filter.status();
  if (status.ok()) {
    Batch missing = MissingBaseChains(base_, *filter, *nat);
    for (const std::string& subnet : guarded_) {
      missing.Append(MissingSubnetGuard(base_, subnet, overlay_, *filter));
    }
    status = Restore(missing);
  }
  lock_file_ = std::move(saved_lock);
  return status;
}

absl::Status Iptables::EnsureSubnetGuard(const std::string& subnet) {
  if (std::find(guarded_.begin(), guarded_.end(), subnet) == guarded_.end()) guarded_.push_back(subnet);
  return EnsureBaseChains();
}

absl::StatusOr<bool> Iptables::SubnetGuarded(const std::string& subnet) {
  ASSIGN_OR_RETURN(std::string filter, Run({kSave, "-t", "filter"}, ""));
  return MissingSubnetGuard(base_, subnet, overlay_, filter).empty();
}

bool Iptables::ChainExists(const char* table, const std::string& chain) {
  return Run({kIptables, "-w", "-t", table, "-S", chain}, "").ok();
}

}  // namespace gdn::netns
