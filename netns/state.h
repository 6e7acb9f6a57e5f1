// The state file: what netns made for each handle (allocations, ports, chains, the CNI cache),
// so that any later run, after any crash, can undo it. One lock (<state_file>.lock, flock)
// is held for a whole action, so two runs never hand out the same port or step on each
// other's half-made container; every write replaces the file atomically (lib/file.h).
//
// The file describes kernel objects that do not survive a reboot: /run (a tmpfs) is its
// natural home, where the fsync of each write costs nothing.
#ifndef GDN_NETNS_STATE_H_
#define GDN_NETNS_STATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/fd.h"
#include "netns/netns.schema.h"

namespace gdn::netns {

class StateFile {
 public:
  // Makes the folder if missing and takes the lock, waiting at most `timeout`; Unavailable
  // (exit 8, busy) after that.
  static absl::StatusOr<StateFile> Lock(const std::string& path, absl::Duration timeout);

  // The state; empty when the file does not exist yet.
  absl::StatusOr<State> Load() const;
  absl::Status Save(const State& state) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd lock_;
};

ContainerState* FindContainer(State* state, const std::string& handle);
void RemoveContainer(State* state, const std::string& handle);

// Whether any container of the state maps `port`.
bool PortInUse(const State& state, uint32_t port);

// A free host port of the pool [start, start + total), handed out round-robin from
// state.next_port so that a port just released is not reused at once. ResourceExhausted
// when every port is taken.
absl::StatusOr<uint32_t> AllocatePort(State* state, uint32_t start, uint32_t total);

// A chain id for `handle` that no other container of the state has.
std::string UniqueChainId(const State& state, const std::string& prefix, const std::string& handle);

}  // namespace gdn::netns

#endif  // GDN_NETNS_STATE_H_
