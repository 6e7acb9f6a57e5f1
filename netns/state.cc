#include "netns/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/status.h"
#include "netns/rules.h"

namespace gdn::netns {

absl::StatusOr<StateFile> StateFile::Lock(const std::string& path, absl::Duration timeout) {
  std::string::size_type slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    RETURN_IF_ERROR(MakeDirs(path.substr(0, slash), 0755));
  StateFile f;
  f.path_ = path;
  std::string lock_path = absl::StrCat(path, ".lock");
  ASSIGN_OR_RETURN(f.lock_, Open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600));
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  while (flock(f.lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return ErrnoError(errno, "lock", lock_path);
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("the state ", path, " stayed locked for ",
                                                 absl::FormatDuration(timeout), "; try again"));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
  return f;
}

absl::StatusOr<State> StateFile::Load() const {
  State state;
  absl::StatusOr<std::string> text = ReadFile(path_);
  if (absl::IsNotFound(text.status())) return state;
  if (!text.ok()) return text.status();
  absl::Status parsed = ParseLiteJson(*text, &state);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("the state file ", path_, " is damaged: ", parsed.message()));
  }
  return state;
}

absl::Status StateFile::Save(const State& state) const {
  return WriteFileAtomic(path_, LiteToJson(state), 0600);
}

ContainerState* FindContainer(State* state, const std::string& handle) {
  for (ContainerState& c : *state->mutable_containers()) {
    if (c.handle() == handle) return &c;
  }
  return nullptr;
}

void RemoveContainer(State* state, const std::string& handle) {
  auto* list = state->mutable_containers();
  for (int i = 0; i < list->size(); ++i) {
    if (list->Get(i).handle() == handle) {
      list->DeleteSubrange(i, 1);
      return;
    }
  }
}

bool PortInUse(const State& state, uint32_t port) {
  for (const ContainerState& c : state.containers()) {
    for (const PortMapping& m : c.port_mappings()) {
      if (m.host_port() == port) return true;
    }
  }
  return false;
}

absl::StatusOr<uint32_t> AllocatePort(State* state, uint32_t start, uint32_t total) {
  uint32_t next = state->next_port();
  if (next < start || next >= start + total) next = start;
  for (uint32_t i = 0; i < total; ++i) {
    uint32_t port = start + (next - start + i) % total;
    if (!PortInUse(*state, port)) {
      state->set_next_port(port + 1 >= start + total ? start : port + 1);
      return port;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("all ", total, " host ports from ", start, " are mapped"));
}

std::string UniqueChainId(const State& state, const std::string& prefix,
                          const std::string& handle) {
  for (int salt = 0;; ++salt) {
    std::string id = ChainId(prefix, handle, salt);
    bool taken = false;
    for (const ContainerState& c : state.containers()) taken = taken || c.chain_id() == id;
    if (!taken) return id;
  }
}

}  // namespace gdn::netns
