// Disk limits for a container's upper layer: an XFS project quota where the store's
// filesystem has project quotas on and we may set them (root); otherwise the limit is only
// recorded and `stats` says it is not enforced, and why.
#ifndef GDN_IMAGE_QUOTA_H_
#define GDN_IMAGE_QUOTA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace gdn::image {

struct QuotaSupport {
  bool available = false;
  std::string device;   // the block device quotactl takes, when available
  std::string why_not;  // a sentence, when not
};

// Whether project quotas can be set on the filesystem holding `dir`.
QuotaSupport ProbeProjectQuota(const std::string& dir);

// Tags `dir` (and what is made in it later) with project `id` and limits that project to
// `bytes` of disk blocks.
absl::Status SetProjectQuota(const QuotaSupport& fs, const std::string& dir, uint32_t id,
                             int64_t bytes);

// The blocks project `id` uses, in bytes.
absl::StatusOr<int64_t> ProjectBytesUsed(const QuotaSupport& fs, uint32_t id);

}  // namespace gdn::image

#endif  // GDN_IMAGE_QUOTA_H_
