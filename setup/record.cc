#include "setup/record.h"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/contract.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::setup {
namespace {

absl::Status NotSetUp(uid_t uid, const std::string& config_dir, absl::string_view why) {
  std::string gid = "G";
  if (struct passwd* pw = getpwuid(uid)) gid = std::to_string(pw->pw_gid);
  std::string flags = absl::StrCat("--rootless-uid ", uid, " --rootless-gid ", gid);
  if (config_dir != kDefaultConfigDir) absl::StrAppend(&flags, " --config-dir ", config_dir);
  return absl::FailedPreconditionError(absl::StrCat("this host is not set up for uid ", uid, " (",
                                                    why, "): run `sudo setup ", flags, "`"));
}

}  // namespace

std::string RecordDir(const std::string& config_dir) { return config_dir + "/setup"; }

std::string RecordPath(const std::string& config_dir, uid_t uid) {
  return absl::StrCat(RecordDir(config_dir), "/", uid, ".json");
}

std::string NetworkConfigPath(const std::string& config_dir, uid_t uid) {
  return absl::StrCat(config_dir, "/network/", uid, ".json");
}

absl::StatusOr<SetupRecord> ReadRecord(const std::string& config_dir, uid_t uid) {
  SetupRecord record;
  RETURN_IF_ERROR(ReadJsonMessage(RecordPath(config_dir, uid), &record));
  return record;
}

absl::Status WriteRecord(const std::string& config_dir, const SetupRecord& record) {
  PrintOptions print;
  print.pretty = true;
  return WriteFileAtomic(RecordPath(config_dir, record.uid()), ToJson(record, print), 0644);
}

std::vector<SetupRecord> OtherRecords(const std::string& config_dir, uid_t uid) {
  std::vector<SetupRecord> out;
  std::string dir = RecordDir(config_dir);
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return out;
  while (struct dirent* e = readdir(d.get())) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumeSuffix(&name, ".json")) continue;
    uint32_t other;
    if (!absl::SimpleAtoi(name, &other) || other == uid) continue;
    absl::StatusOr<SetupRecord> r = ReadRecord(config_dir, other);
    if (r.ok()) out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<SetupRecord> LoadSetup(uid_t uid, const std::string& config_dir) {
  std::string path = RecordPath(config_dir, uid);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotSetUp(uid, config_dir, absl::StrCat("no ", path));
    return ErrnoError(errno, "stat", path);
  }
  // A record anyone but root could have written proves nothing.
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
    return NotSetUp(uid, config_dir,
                    absl::StrCat(path, " is not a root-owned file only root may write"));
  }
  absl::StatusOr<SetupRecord> record = ReadRecord(config_dir, uid);
  if (!record.ok()) return NotSetUp(uid, config_dir, record.status().message());
  if (record->uid() != uid) {
    return NotSetUp(uid, config_dir, absl::StrCat(path, " was made for uid ", record->uid()));
  }
  return record;
}

absl::Status CheckSetup(uid_t uid, const std::string& config_dir) {
  return LoadSetup(uid, config_dir).status();
}

}  // namespace gdn::setup
