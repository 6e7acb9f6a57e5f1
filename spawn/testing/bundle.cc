#include "spawn/testing/bundle.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "spawn/spec.h"

namespace gdn::spawn::testing {
namespace {

constexpr const char* kApplets[] = {"sh", "echo", "id", "cat", "ls", "hostname", "sleep",
                                    "true", "false", "touch", "mkdir", "env", "pwd", "kill",
                                    "stat", "mount", "ps", "test", "grep", "wc", "tty", "readlink", "head",
                                    "dd", "rm", "unshare"};

void Must(const std::vector<std::string>& argv) {
  SubprocessOptions o;
  o.argv = argv;
  auto r = RunSubprocess(o);
  CHECK(r.ok() && r->ok()) << argv[0] << " failed: " << (r.ok() ? r->err : r.status().ToString());
}

}  // namespace

Binaries::Binaries() {
  spawn_ = dir_.CopyIn(gdn::testing::Runfile("spawn/spawn"), "spawn", 0755);
  std::string idmap = dir_.CopyIn(gdn::testing::Runfile("idmap/idmap"), "idmap", 0755);
  CHECK(chown(idmap.c_str(), 0, 0) == 0);
  CHECK(chmod(idmap.c_str(), 04755) == 0);
}

Bundle::Bundle(const std::string& spawn_binary, const Runner& runner)
    : dir_(std::make_unique<gdn::testing::TempDir>()), runner_(runner) {
  std::string bin = dir_->Join("rootfs/bin");
  Must({"mkdir", "-p", bin, dir_->Join("rootfs/tmp"), dir_->Join("rootfs/etc"),
        dir_->Join("rootfs/proc"), dir_->Join("rootfs/sys"), dir_->Join("rootfs/dev")});
  Must({"cp", "/bin/busybox", bin + "/busybox"});
  for (const char* applet : kApplets) Must({"ln", bin + "/busybox", absl::StrCat(bin, "/", applet)});
  Must({"cp", gdn::testing::Runfile("tests/probe/probe"), bin + "/probe"});
  if (runner.rootless) {
    // As image-store will unpack it: the image's root-owned files belong to the user.
    Must({"chown", "-R", absl::StrCat(runner.uid, ":", runner.gid), dir_->path()});
  }
  SubprocessResult spec = RunAs(runner, {spawn_binary, "spec", "--bundle", dir_->path(),
                                         runner.rootless ? "--rootless" : "--rootless=false"});
  CHECK(spec.ok()) << spec.err;
  CHECK(ReadLiteJson(dir_->Join("config.json"), &spec_, {true}).ok());
  if (runner.rootless) {
    // Ids 1..65536 of the container are the test user's subordinate range.
    for (auto* maps : {spec_.mutable_linux()->mutable_uid_mappings(),
                       spec_.mutable_linux()->mutable_gid_mappings()}) {
      oci::IdMapping* m = maps->Add();
      m->set_container_id(1);
      m->set_host_id(1000000);
      m->set_size(65536);
    }
  }
  spec_.mutable_root()->set_readonly(false);
  spec_.mutable_process()->set_terminal(false);
  Save();
}

Bundle::~Bundle() = default;

void Bundle::Save() {
  CHECK(WriteFileAtomic(dir_->Join("config.json"), SpecJson(spec_), 0644).ok());
}

std::string Bundle::MakeWritableDir(const std::string& name, unsigned uid, unsigned gid) {
  std::string path = dir_->Join(name);
  CHECK(mkdir(path.c_str(), 0755) == 0);
  unsigned host_uid = uid, host_gid = gid;
  if (runner_.rootless) {
    host_uid = uid == 0 ? runner_.uid : 1000000 + uid - 1;
    host_gid = gid == 0 ? runner_.gid : 1000000 + gid - 1;
  }
  CHECK(chown(path.c_str(), host_uid, host_gid) == 0);
  return path;
}

SubprocessResult RunAs(const Runner& runner, std::vector<std::string> argv,
                       const std::string& stdin_data, absl::Duration timeout) {
  SubprocessOptions o;
  o.argv = std::move(argv);
  o.env = std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  if (runner.rootless) o.credentials = Credentials{runner.uid, runner.gid, {}};
  if (!stdin_data.empty()) {
    o.stdin_mode = Stdio::kCapture;
    o.stdin_data = stdin_data;
  }
  o.timeout = timeout;
  // A detached container keeps our pipes: return when spawn does.
  o.stop_reading_at_exit = true;
  auto r = RunSubprocess(o);
  CHECK(r.ok()) << r.status();
  return *r;
}

}  // namespace gdn::spawn::testing
