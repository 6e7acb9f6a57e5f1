#include "idmap/policy.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/status.h"

namespace gdn::idmap {
namespace {

std::string Show(const IdMapping& m) {
  return absl::StrCat(m.container, ":", m.host, ":", m.count);
}

std::string ShowRanges(const std::vector<IdRange>& ranges) {
  if (ranges.empty()) return "none";
  return absl::StrJoin(ranges, ", ", [](std::string* out, const IdRange& r) {
    absl::StrAppend(out, r.start, "-", r.start + r.count - 1);
  });
}

// Checks one map (uid or gid) of an unprivileged caller. Sets *uses_subordinate when any
// mapping needed the subordinate ranges.
absl::Status CheckMappings(const std::vector<IdMapping>& map, const char* kind, unsigned own_id,
                           const std::vector<IdRange>& granted, const char* file,
                           bool* uses_subordinate) {
  for (const IdMapping& m : map) {
    if (RangesCover(granted, m.host, m.count)) {
      *uses_subordinate = true;
      continue;
    }
    if (m.count == 1 && m.host == own_id) continue;
    return absl::PermissionDeniedError(absl::StrCat(
        kind, " mapping ", Show(m), " is not yours: you may map your own ", kind, " ", own_id,
        " (count 1) and the host ranges ", file, " grants you (", ShowRanges(granted), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckValid(const std::vector<IdMapping>& map, const char* kind) {
  if (map.empty()) return absl::OkStatus();
  absl::Status valid = IdMap(map).Validate();
  if (!valid.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("the ", kind, " map may not be written: ",
                                                    valid.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Plan> PlanApply(const ApplyCommand& cmd, const Caller& caller,
                               const Grants& grants, const Target& target) {
  if (!caller.privileged()) {
    if (target.uid != caller.uid || target.gid != caller.gid) {
      return absl::PermissionDeniedError(
          absl::StrCat("process ", target.pid, " belongs to uid ", target.uid, " gid ",
                       target.gid, ", not to you (uid ", caller.uid, " gid ", caller.gid, ")"));
    }
    if (target.userns_owner != caller.uid) {
      return absl::PermissionDeniedError(
          absl::StrCat("the user namespace of process ", target.pid, " was created by uid ",
                       target.userns_owner, ", not by you"));
    }
    if (!target.userns_is_child_of_ours) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the user namespace of process ", target.pid,
          " is not a direct child of the initial user namespace; nested maps are not supported"));
    }
  }
  RETURN_IF_ERROR(CheckValid(cmd.uid_map, "uid"));
  RETURN_IF_ERROR(CheckValid(cmd.gid_map, "gid"));
  if (!cmd.uid_map.empty() && target.uid_map_written) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the uid map of process ", target.pid, " is already written; a map is written once"));
  }
  if (!cmd.gid_map.empty() && target.gid_map_written) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the gid map of process ", target.pid, " is already written; a map is written once"));
  }

  Plan plan;
  plan.uid_map = IdMap(cmd.uid_map).ToProcFile();
  plan.gid_map = IdMap(cmd.gid_map).ToProcFile();

  if (caller.privileged()) {
    if (cmd.setgroups == Setgroups::kDeny) plan.setgroups = "deny";
    if (cmd.setgroups == Setgroups::kAllow) plan.setgroups = "allow";
    return plan;
  }

  bool uid_subordinate = false;
  RETURN_IF_ERROR(CheckMappings(cmd.uid_map, "uid", caller.uid, grants.uids, "/etc/subuid",
                                &uid_subordinate));
  bool gid_subordinate = false;
  RETURN_IF_ERROR(CheckMappings(cmd.gid_map, "gid", caller.gid, grants.gids, "/etc/subgid",
                                &gid_subordinate));
  if (!cmd.gid_map.empty()) {
    if (cmd.setgroups == Setgroups::kDeny || !gid_subordinate) {
      // A gid map of only the caller's own gid must not leave setgroups usable: dropping
      // supplementary groups could then lift a "negative" group permission (CVE-2018-7169).
      if (cmd.setgroups == Setgroups::kAllow) {
        return absl::PermissionDeniedError(
            "--setgroups allow needs a gid map that uses your /etc/subgid ranges; with only "
            "your own gid mapped, setgroups is denied");
      }
      plan.setgroups = "deny";
    }
  }
  return plan;
}

}  // namespace gdn::idmap
