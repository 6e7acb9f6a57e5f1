#include "setup/iptables.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/status.h"
#include "lib/subprocess.h"

namespace gdn::setup {
namespace {

// Runs iptables -w -t TABLE ARGS...; returns its exit code (0 yes, 1 no), or an error for
// anything else.
absl::StatusOr<int> Run(const std::string& iptables, const std::string& table,
                        std::vector<std::string> args) {
  SubprocessOptions o;
  o.argv = {iptables, "-w", "-t", table};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.timeout = absl::Minutes(2);
  ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(o));
  if (r.exited && (r.exit_code == 0 || r.exit_code == 1)) return r.exit_code;
  std::string err(absl::StripTrailingAsciiWhitespace(r.err));
  return absl::InternalError(absl::StrCat(absl::StrJoin(o.argv, " "), " ", r.Describe(),
                                          err.empty() ? "" : ": ", err));
}

absl::StatusOr<bool> ChainExists(const std::string& iptables, const std::string& table,
                                 const std::string& chain) {
  ASSIGN_OR_RETURN(int code, Run(iptables, table, {"-S", chain}));
  return code == 0;
}

absl::StatusOr<bool> JumpExists(const std::string& iptables, const std::string& table,
                                const std::string& parent, const std::string& chain) {
  ASSIGN_OR_RETURN(int code, Run(iptables, table, {"-C", parent, "-j", chain}));
  return code == 0;
}

absl::Status MustSucceed(const std::string& iptables, const std::string& table,
                         std::vector<std::string> args) {
  std::string what = absl::StrJoin(args, " ");
  ASSIGN_OR_RETURN(int code, Run(iptables, table, std::move(args)));
  if (code != 0) {
    return absl::InternalError(absl::StrCat("iptables -t ", table, " ", what, " failed"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<BaseChain> BaseChains(const std::string& prefix) {
  return {{"filter", prefix + "input", "INPUT"},
          {"filter", prefix + "forward", "FORWARD"},
          {"nat", prefix + "prerouting", "PREROUTING"},
          {"nat", prefix + "output", "OUTPUT"},
          {"nat", prefix + "postrouting", "POSTROUTING"}};
}

absl::StatusOr<std::string> FindIptables() {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string path = absl::StrCat(dir, "/iptables");
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError("iptables is not installed (Debian: apt-get install iptables)");
}

absl::Status CheckIptables(const std::string& iptables) {
  for (const char* table : {"filter", "nat"}) {
    ASSIGN_OR_RETURN(int code, Run(iptables, table, {"-S"}));
    if (code != 0) return absl::FailedPreconditionError(absl::StrCat("iptables cannot list the ", table, " table"));
  }
  return absl::OkStatus();
}

absl::Status EnsureChains(const std::string& iptables, const std::string& prefix,
                          std::vector<Action>* actions) {
  for (const BaseChain& c : BaseChains(prefix)) {
    ASSIGN_OR_RETURN(bool exists, ChainExists(iptables, c.table, c.name));
    if (!exists) {
      RETURN_IF_ERROR(MustSucceed(iptables, c.table, {"-N", c.name}));
      Action a;
      a.set_kind(Action::CHAIN);
      a.set_table(c.table);
      a.set_chain(c.name);
      a.set_created(true);
      actions->push_back(a);
    }
    ASSIGN_OR_RETURN(bool jumps, JumpExists(iptables, c.table, c.parent, c.name));
    if (!jumps) {
      // First in the built-in chain, so that the host's own rules after it do not decide
      // for containers first.
      RETURN_IF_ERROR(MustSucceed(iptables, c.table, {"-I", c.parent, "1", "-j", c.name}));
      Action a;
      a.set_kind(Action::JUMP);
      a.set_table(c.table);
      a.set_chain(c.name);
      a.set_parent_chain(c.parent);
      a.set_created(true);
      actions->push_back(a);
    }
  }
  return absl::OkStatus();
}

absl::Status EnsureMasquerade(const std::string& iptables, const std::string& prefix, const std::string& subnet) {
  std::string chain = prefix + "postrouting";
  std::vector<std::string> rule = {"-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE"};
  std::vector<std::string> check = {"-C", chain};
  check.insert(check.end(), rule.begin(), rule.end());
  ASSIGN_OR_RETURN(int code, Run(iptables, "nat", check));
  if (code == 0) return absl::OkStatus();
  std::vector<std::string> add = {"-A", chain};
  add.insert(add.end(), rule.begin(), rule.end());
  return MustSucceed(iptables, "nat", add);
}

absl::StatusOr<std::string> DescribeChain(const std::string& iptables, const BaseChain& c) {
  ASSIGN_OR_RETURN(bool exists, ChainExists(iptables, c.table, c.name));
  if (!exists) return std::string("missing");
  ASSIGN_OR_RETURN(bool jumps, JumpExists(iptables, c.table, c.parent, c.name));
  return jumps ? absl::StrCat("jumped to from ", c.parent)
               : absl::StrCat("not jumped to from ", c.parent);
}

absl::StatusOr<std::string> UndoIptablesAction(const std::string& iptables, const Action& a) {
  ASSIGN_OR_RETURN(bool exists, ChainExists(iptables, a.table(), a.chain()));
  if (!exists) return std::string("already gone");
  if (a.kind() == Action::JUMP) {
    ASSIGN_OR_RETURN(bool jumps, JumpExists(iptables, a.table(), a.parent_chain(), a.chain()));
    if (!jumps) return std::string("already gone");
    RETURN_IF_ERROR(MustSucceed(iptables, a.table(), {"-D", a.parent_chain(), "-j", a.chain()}));
    return absl::StrCat("removed the jump from ", a.parent_chain());
  }
  // netns's rules live in the chain and go with it.
  RETURN_IF_ERROR(MustSucceed(iptables, a.table(), {"-F", a.chain()}));
  RETURN_IF_ERROR(MustSucceed(iptables, a.table(), {"-X", a.chain()}));
  return std::string("removed");
}

}  // namespace gdn::setup
