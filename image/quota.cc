#include "image/quota.h"

#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"

namespace gdn::image {
namespace {

constexpr long kXfsMagic = 0x58465342;

int QuotaCtl(int cmd, const std::string& device, uint32_t id, void* addr) {
  return static_cast<int>(syscall(SYS_quotactl, QCMD(cmd, PRJQUOTA), device.c_str(), id, addr));
}

// The mount source of the filesystem whose device is `dev`, from mountinfo.
std::string DeviceOf(dev_t dev) {
  absl::StatusOr<std::string> info = ReadFile("/proc/self/mountinfo");
  if (!info.ok()) return "";
  std::string want = absl::StrCat(major(dev), ":", minor(dev));
  for (absl::string_view line : absl::StrSplit(*info, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 10 || f[2] != want) continue;
    // Fields after the " - " separator: type, source, options.
    for (size_t i = 6; i + 2 < f.size(); ++i) {
      if (f[i] == "-") return std::string(f[i + 2]);
    }
  }
  return "";
}

}  // namespace

QuotaSupport ProbeProjectQuota(const std::string& dir) {
  QuotaSupport q;
  struct statfs fs;
  struct stat st;
  if (statfs(dir.c_str(), &fs) != 0 || stat(dir.c_str(), &st) != 0) {
    q.why_not = absl::StrCat("cannot stat ", dir, ": ", strerror(errno));
    return q;
  }
  if (fs.f_type != kXfsMagic) {
    q.why_not = "the store's filesystem is not XFS, the one with project quotas we use";
    return q;
  }
  if (geteuid() != 0) {
    q.why_not = "only root may set project quotas (a rootless store reports usage only)";
    return q;
  }
  q.device = DeviceOf(st.st_dev);
  struct fs_quota_stat stat_buf;
  memset(&stat_buf, 0, sizeof(stat_buf));
  if (q.device.empty() || QuotaCtl(Q_XGETQSTAT, q.device, 0, &stat_buf) != 0) {
    q.why_not = absl::StrCat("project quotas are not available on ", dir, " (",
                             q.device.empty() ? "no device" : strerror(errno), ")");
    return q;
  }
  if ((stat_buf.qs_flags & FS_QUOTA_PDQ_ENFD) == 0) {
    q.why_not = absl::StrCat("the XFS filesystem of ", dir, " is not mounted with prjquota");
    return q;
  }
  q.available = true;
  return q;
}

absl::Status SetProjectQuota(const QuotaSupport& fs, const std::string& dir, uint32_t id,
                             int64_t bytes) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(dir, O_RDONLY | O_DIRECTORY));
  struct fsxattr attr;
  if (ioctl(fd.get(), FS_IOC_FSGETXATTR, &attr) != 0) return ErrnoError(errno, "FS_IOC_FSGETXATTR", dir);
  attr.fsx_projid = id;
  attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
  if (ioctl(fd.get(), FS_IOC_FSSETXATTR, &attr) != 0) return ErrnoError(errno, "FS_IOC_FSSETXATTR", dir);
  struct fs_disk_quota limit;
  memset(&limit, 0, sizeof(limit));
  limit.d_version = FS_DQUOT_VERSION;
  limit.d_id = id;
  limit.d_flags = FS_PROJ_QUOTA;
  limit.d_fieldmask = FS_DQ_BSOFT | FS_DQ_BHARD;
  // In 512-byte basic blocks, rounded up.
  limit.d_blk_hardlimit = limit.d_blk_softlimit = static_cast<uint64_t>((bytes + 511) / 512);
  if (QuotaCtl(Q_XSETQLIM, fs.device, id, &limit) != 0) {
    return ErrnoError(errno, "set the project quota of", dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ProjectBytesUsed(const QuotaSupport& fs, uint32_t id) {
  struct fs_disk_quota q;
  memset(&q, 0, sizeof(q));
  if (QuotaCtl(Q_XGETQUOTA, fs.device, id, &q) != 0) {
    return ErrnoError(errno, "read the project quota", std::to_string(id));
  }
  return static_cast<int64_t>(q.d_bcount) * 512;
}

}  // namespace gdn::image
