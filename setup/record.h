// The setup record: where `setup` keeps what it did for one rootless user, and the check
// every binary that runs as that user makes first (exit 5, "run setup", when the host is not
// prepared for it).
//
//   <config-dir>/setup/<uid>.json     SetupRecord (setup.proto), root-owned 0644
//   <config-dir>/network/<uid>.json   NetworkConfig for netns, root-owned 0644
#ifndef GDN_SETUP_RECORD_H_
#define GDN_SETUP_RECORD_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "setup/setup.pb.h"

namespace gdn::setup {

inline constexpr char kDefaultConfigDir[] = "/etc/gdn";

std::string RecordDir(const std::string& config_dir);
std::string RecordPath(const std::string& config_dir, uid_t uid);
std::string NetworkConfigPath(const std::string& config_dir, uid_t uid);

// Reads the record of `uid`. NotFound when there is none; InvalidArgument when it does not
// parse.
absl::StatusOr<SetupRecord> ReadRecord(const std::string& config_dir, uid_t uid);

// Writes the record (root-owned 0644, atomically) into <config-dir>/setup, which must exist.
absl::Status WriteRecord(const std::string& config_dir, const SetupRecord& record);

// The uids of every record in <config-dir>/setup but `uid`'s: shared things (the installed
// helpers, ip_forward) that another user's setup still needs are kept by --undo.
std::vector<SetupRecord> OtherRecords(const std::string& config_dir, uid_t uid);

// OK when this host is set up for `uid`: its record exists, is root-owned and not writable
// by anyone else, and was made for `uid`. Otherwise FailedPrecondition (exit 5) saying
// "this host is not set up for uid N: run `sudo setup --rootless-uid N --rootless-gid G`".
absl::Status CheckSetup(uid_t uid, const std::string& config_dir = kDefaultConfigDir);

// CheckSetup, then the record itself.
absl::StatusOr<SetupRecord> LoadSetup(uid_t uid, const std::string& config_dir = kDefaultConfigDir);

}  // namespace gdn::setup

#endif  // GDN_SETUP_RECORD_H_
