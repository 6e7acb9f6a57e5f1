// Changes to iptables through the iptables and iptables-restore binaries: one batch per
// change (`iptables-restore --noflush -w`, atomic per table), under the configured lock file.
//
// With the nf_tables backend a batch that deletes rules is committed at its COMMIT line, but
// the process then waits for an RCU grace period as it closes its netlink socket (nf_tables
// flushes its destroy work on release), holding the commit mutex that deleting a network
// device also needs: 10-20 ms on a small VM. A Session starts iptables-restore early, sends
// the batch when it is ready and lets the process go only at Finish, so the grace period
// passes while netns does other work (the CNI DEL, the CNI ADD).
#ifndef GDN_NETNS_IPTABLES_H_
#define GDN_NETNS_IPTABLES_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/fd.h"
#include "netns/rules.h"

namespace gdn::netns {

class Iptables {
 public:
  // One iptables-restore run: started by Begin, fed by Send, ended by Finish, which returns
  // its status. With the legacy backend (which holds xtables' lock for its whole run, and
  // would block a CNI plugin's own iptables calls meanwhile) everything happens in Finish.
  class Session {
   public:
    ~Session();
    absl::Status Send(const Batch& batch);
    absl::Status Finish();

   private:
    friend class Iptables;
    Session() = default;
    std::string pending_;  // what Finish sends (legacy backend)
    bool async_ = false;
    UniqueFd lock_;
    UniqueFd input_;
    std::thread runner_;
    absl::StatusOr<std::string> result_ = std::string();
    bool finished_ = false;
  };

  // `lock_file`: flocked around every run ("" for none). Not xtables' own lock, which
  // iptables -w takes itself.
  Iptables(BaseChains base, std::string lock_file);

  // Starts a session. Holds the configured lock until Finish.
  absl::StatusOr<std::unique_ptr<Session>> Begin();

  // Applies `batch` as one iptables-restore run.
  absl::Status Restore(const Batch& batch);

  // Applies `batch`; if that fails, removes what it may have half applied (`undo`, swept),
  // makes the base chains that are missing, and tries once more.
  absl::Status Apply(const Batch& batch, const Batch& undo);
  // The same for a batch whose first part, `sent`, went to `session` earlier: `rest` goes
  // there too, and the retry (if any) applies both in one run.
  absl::Status Apply(const Batch& sent, const Batch& rest, const Batch& undo,
                     std::unique_ptr<Session> session);

  // Runs each line of a removal batch on its own, ignoring what is already gone: "-D" lines
  // until nothing matches any more (so duplicates go too), "-F" and "-X" once. For cleaning
  // up after a change that was cut short.
  void Sweep(const Batch& removal);

  // Removes with one batch, or sweeps when that fails.
  void Remove(const Batch& removal);

  // Creates the base chains and their jumps from the built-in chains where missing, and
  // completes the guards of the subnets given to KnowGuards (a P forward made again holds
  // none, and the containers without rules of those subnets rely on them).
  absl::Status EnsureBaseChains();
  // The subnets whose guards netns made (the state's), with the overlay network.
  void KnowGuards(std::vector<std::string> subnets, std::string overlay) {
    guarded_ = std::move(subnets);
    overlay_ = std::move(overlay);
  }

  // Adds `subnet` to the guards known and makes them complete (rules.h), with the base chains
  // where missing: EnsureBaseChains.
  absl::Status EnsureSubnetGuard(const std::string& subnet);
  // Whether the guard of `subnet` (with the overlay network given to KnowGuards) is all there.
  absl::StatusOr<bool> SubnetGuarded(const std::string& subnet);

  // Whether a chain exists (iptables -S CHAIN).
  bool ChainExists(const char* table, const std::string& chain);

 private:
  absl::StatusOr<std::string> Run(const std::vector<std::string>& argv, const std::string& input);

  BaseChains base_;
  std::string lock_file_;
  std::vector<std::string> guarded_;
  std::string overlay_;
};

}  // namespace gdn::netns

#endif  // GDN_NETNS_IPTABLES_H_
