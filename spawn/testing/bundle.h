// OCI bundles made at test time from busybox-static (applets as hard links: crun refuses
// symlinked applets) and the probe, plus the spawn and setuid idmap binaries installed
// where the unprivileged test user can run them.
#ifndef GDN_SPAWN_TESTING_BUNDLE_H_
#define GDN_SPAWN_TESTING_BUNDLE_H_

#include <memory>
#include <string>
#include <vector>

#include "lib/subprocess.h"
#include "lib/testing/testing.h"
#include "spawn/config.schema.h"

namespace gdn::spawn::testing {

// Who runs spawn in a test.
struct Runner {
  bool rootless = false;
  unsigned uid = 0, gid = 0;  // the user's host ids when rootless
};

class Bundle {
 public:
  // A bundle in a fresh folder: rootfs/ with busybox and probe, config.json from
  // `spawn spec` (rootless when `runner.rootless`, with the test user's subordinate range
  // mapped to ids 1..65536).
  Bundle(const std::string& spawn_binary, const Runner& runner);
  ~Bundle();

  const std::string& dir() const { return dir_->path(); }
  std::string rootfs() const { return dir_->Join("rootfs"); }
  oci::Spec& spec() { return spec_; }
  // Writes spec() to config.json.
  void Save();
  // A folder the container's user may write into, owned by host ids for container ids
  // `uid`/`gid`; returns its host path.
  std::string MakeWritableDir(const std::string& name, unsigned uid, unsigned gid);

 private:
  std::unique_ptr<gdn::testing::TempDir> dir_;
  oci::Spec spec_;
  Runner runner_;
};

// spawn and a setuid idmap beside it, in a folder every user can reach.
class Binaries {
 public:
  Binaries();
  const std::string& spawn() const { return spawn_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  gdn::testing::TempDir dir_;
  std::string spawn_;
};

// Runs `argv` as the runner (dropping to the test user when rootless).
SubprocessResult RunAs(const Runner& runner, std::vector<std::string> argv,
                       const std::string& stdin_data = "", absl::Duration timeout = absl::Seconds(30));

}  // namespace gdn::spawn::testing

#endif  // GDN_SPAWN_TESTING_BUNDLE_H_
