#include "spawn/cgroups.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/status.h"
#include "nlohmann/json.hpp"

namespace gdn::spawn {
namespace {

constexpr long kCgroupMagic = 0x27e0eb;
constexpr long kCgroup2Magic = 0x63677270;

// The v1 controllers spawn uses, each in its own hierarchy or co-mounted.
constexpr const char* kV1Controllers[] = {"memory", "cpu",     "cpuacct", "cpuset",
                                          "pids",   "blkio",   "devices", "freezer"};
// The v2 controllers a parent passes down to spawn's cgroups, where it has them.
constexpr const char* kV2Controllers[] = {"cpu", "cpuset", "memory", "pids", "io"};

long FsType(const std::string& path) {
  struct statfs sf;
  if (statfs(path.c_str(), &sf) != 0) return 0;
  return static_cast<long>(sf.f_type);
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::Status WriteCgroup(const std::string& dir, const char* file, absl::string_view value) {
  std::string path = absl::StrCat(dir, "/", file);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) {
    return ErrnoError(err, absl::StrCat("write \"", value, "\" to"), path);
  }
  return absl::OkStatus();
}

// The file's text, or "" when it cannot be read.
std::string ReadCgroup(const std::string& dir, const char* file) {
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat(dir, "/", file));
  return text.ok() ? *text : "";
}

std::optional<uint64_t> ReadU64(const std::string& dir, const char* file) {
  std::string text(absl::StripAsciiWhitespace(ReadCgroup(dir, file)));
  uint64_t v;
  if (text == "max") return UINT64_MAX;
  if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
  return v;
}

// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
std::map<std::string, uint64_t> ReadKeyed(const std::string& dir, const char* file) {
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(ReadCgroup(dir, file), '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t v;
    if (f.size() == 2 && absl::SimpleAtoi(f[1], &v)) out[std::string(f[0])] = v;
  }
  return out;
}

bool Exists(const std::string& dir, const char* file) {
  return access(absl::StrCat(dir, "/", file).c_str(), F_OK) == 0;
}

// A cgroupsPath made relative to a hierarchy's root; InvalidArgument for "..".
absl::StatusOr<std::string> RelativePath(const std::string& cgroups_path, const std::string& id,
                                         const std::string& parent) {
  std::string path = cgroups_path;
  // systemd's "slice:prefix:name" (podman --cgroup-manager=systemd): spawn drives cgroupfs
  // itself, so the unit becomes a folder under the default parent.
  std::vector<std::string> parts = absl::StrSplit(path, ':');
  if (parts.size() == 3) path = absl::StrCat(parts[1].empty() ? "" : parts[1] + "-", parts[2]);
  std::string rel;
  if (path.empty()) {
    rel = absl::StrCat(parent, "/", id);
  } else if (path[0] == '/') {
    rel = path.substr(1);
  } else {
    rel = absl::StrCat(parent, "/", path);
  }
  std::vector<std::string> clean;
  for (absl::string_view c : absl::StrSplit(rel, '/', absl::SkipEmpty())) {
    if (c == "." ) continue;
    if (c == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.cgroupsPath \"", cgroups_path, "\": \"..\" is not allowed"));
    }
    clean.emplace_back(c);
  }
  if (clean.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.cgroupsPath \"", cgroups_path, "\" names the root cgroup"));
  }
  return absl::StrJoin(clean, "/");
}

absl::Status NeedsSetup(uid_t euid, gid_t egid, const std::string& where) {
  return absl::FailedPreconditionError(absl::StrCat(
      "this container asks for resource limits, which need a cgroup subtree delegated to uid ",
      euid, " (", where, " is missing or not yours): run `sudo setup --rootless-uid ", euid,
      " --rootless-gid ", egid, "` once (or `gdn setup`)"));
}

// Makes `dir` and its missing parents. v1 cpuset folders get their parent's cpus and mems;
// on v2 every parent passes the controllers it has down to its children.
absl::Status MakeCgroupDir(const std::string& dir, int version) {
  std::vector<std::string> missing;
  std::string at = dir;
  while (!IsDir(at)) {
    missing.push_back(at);
    std::string::size_type slash = at.rfind('/');
    if (slash == 0 || slash == std::string::npos) {
      return absl::NotFoundError(absl::StrCat("no cgroup hierarchy above ", dir));
    }
    at = at.substr(0, slash);
  }
  std::reverse(missing.begin(), missing.end());
  std::string parent = at;
  for (const std::string& d : missing) {
    if (version == 2) {
      std::vector<std::string> have = absl::StrSplit(ReadCgroup(parent, "cgroup.controllers"),
                                                     absl::ByAnyChar(" \n"), absl::SkipEmpty());
      std::string enabled = ReadCgroup(parent, "cgroup.subtree_control");
      for (const char* c : kV2Controllers) {
        if (std::find(have.begin(), have.end(), c) == have.end()) continue;
        if (absl::StrContains(absl::StrCat(" ", enabled, " "), absl::StrCat(" ", c, " "))) continue;
        // Refused where the parent holds processes or is not ours: then the child goes
        // without that controller, and a limit on it fails below with the file named.
        (void)WriteCgroup(parent, "cgroup.subtree_control", absl::StrCat("+", c));
      }
    }
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      int err = errno;
      if (err == EACCES || err == EPERM || err == EROFS) {
        return absl::PermissionDeniedError(absl::StrCat(
            "cannot create the cgroup ", d, ": ", strerror(err),
            getuid() != 0 ? " (rootless: cgroups can only go inside the subtree setup "
                            "delegated to you, gdn-<uid>)"
                          : ""));
      }
      return ErrnoError(err, "create the cgroup", d);
    }
    if (version == 1 && Exists(d, "cpuset.cpus")) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        std::string mine(absl::StripAsciiWhitespace(ReadCgroup(d, f)));
        if (!mine.empty()) continue;
        std::string theirs(absl::StripAsciiWhitespace(ReadCgroup(parent, f)));
        RETURN_IF_ERROR(WriteCgroup(d, f, theirs));
      }
    }
    parent = d;
  }
  return absl::OkStatus();
}

std::string Num(int64_t v) { return absl::StrCat(v); }

// v2 cpu.weight (1..10000) from v1 cpu.shares (2..262144), as the OCI runtimes convert.
uint64_t SharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::string DeviceRule(const oci::DeviceCgroup& d) {
  std::string type = d.type().empty() ? "a" : d.type();
  std::string major = d.has_major() && d.major() >= 0 ? absl::StrCat(d.major()) : "*";
  std::string minor = d.has_minor() && d.minor() >= 0 ? absl::StrCat(d.minor()) : "*";
  std::string access = d.access().empty() ? "rwm" : d.access();
  if (type == "a") return "a";
  return absl::StrCat(type, " ", major, ":", minor, " ", access);
}

absl::Status CheckDeviceRule(const oci::DeviceCgroup& d, int i) {
  std::string where = absl::StrCat("linux.resources.devices[", i, "]");
  if (!d.type().empty() && d.type() != "a" && d.type() != "b" && d.type() != "c") {
    return absl::InvalidArgumentError(absl::StrCat(where, ".type \"", d.type(), "\": a, b or c"));
  }
  for (char c : d.access()) {
    if (c != 'r' && c != 'w' && c != 'm') {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".access \"", d.access(), "\": letters of rwm"));
    }
  }
  return absl::OkStatus();
}

// The devices every container may use, whatever the spec's rules say (runc's defaults).
constexpr const char* kDefaultDeviceRules[] = {
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",  // null zero full random urandom
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",                            // tty console ptmx
    "c 136:* rwm",                                                    // pts
};

absl::Status ApplyV1(const Cgroups& cg, const oci::Resources& r,
                     const std::vector<std::string>& devices_allowed,
                     const std::function<std::string(const char*)>& dir_of) {
  if (!r.unified().empty()) {
    return absl::InvalidArgumentError(
        "linux.resources.unified needs cgroup v2; this host uses cgroup v1");
  }
  auto need = [&](const char* controller, const char* what) -> absl::StatusOr<std::string> {
    std::string d = dir_of(controller);
    if (d.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " needs the ", controller, " cgroup controller, which this container has no "
          "cgroup of (rootless: setup delegates it)"));
    }
    return d;
  };
  if (r.has_memory()) {
    const oci::Memory& m = r.memory();
    if (m.has_limit() || m.has_swap() || m.has_reservation() || m.has_swappiness() ||
        m.has_disable_oom_killer()) {
      ASSIGN_OR_RETURN(std::string d, need("memory", "linux.resources.memory"));
      // memory.memsw (memory + swap) may never be below memory.limit: raise it first when
      // the new limit would pass it.
      bool swap = m.has_swap() && m.swap() != 0 && Exists(d, "memory.memsw.limit_in_bytes");
      if (m.has_limit()) {
        absl::Status s = WriteCgroup(d, "memory.limit_in_bytes", Num(m.limit()));
        if (!s.ok() && swap) {
          RETURN_IF_ERROR(WriteCgroup(d, "memory.memsw.limit_in_bytes", Num(m.swap())));
          RETURN_IF_ERROR(WriteCgroup(d, "memory.limit_in_bytes", Num(m.limit())));
          swap = false;
        } else if (!s.ok()) {
          return s;
        }
      }
      if (swap) RETURN_IF_ERROR(WriteCgroup(d, "memory.memsw.limit_in_bytes", Num(m.swap())));
      if (m.has_reservation()) {
        RETURN_IF_ERROR(WriteCgroup(d, "memory.soft_limit_in_bytes", Num(m.reservation())));
      }
      if (m.has_swappiness() && m.swappiness() <= 100) {
        RETURN_IF_ERROR(WriteCgroup(d, "memory.swappiness", Num(m.swappiness())));
      }
      if (m.has_disable_oom_killer()) {
        RETURN_IF_ERROR(WriteCgroup(d, "memory.oom_control", m.disable_oom_killer() ? "1" : "0"));
      }
    }
  }
  if (r.has_cpu()) {
    const oci::Cpu& c = r.cpu();
    if (c.has_shares() || c.has_quota() || c.has_period() || c.has_burst() ||
        c.has_realtime_runtime() || c.has_realtime_period() || c.has_idle()) {
      ASSIGN_OR_RETURN(std::string d, need("cpu", "linux.resources.cpu"));
      if (c.has_shares() && c.shares() != 0) {
        RETURN_IF_ERROR(WriteCgroup(d, "cpu.shares", Num(c.shares())));
      }
      if (c.has_period() && c.period() != 0) {
        RETURN_IF_ERROR(WriteCgroup(d, "cpu.cfs_period_us", Num(c.period())));
      }
      if (c.has_quota()) {
        RETURN_IF_ERROR(WriteCgroup(d, "cpu.cfs_quota_us", Num(c.quota() > 0 ? c.quota() : -1)));
      }
      if (c.has_burst()) RETURN_IF_ERROR(WriteCgroup(d, "cpu.cfs_burst_us", Num(c.burst())));
      if (c.has_realtime_period()) {
        RETURN_IF_ERROR(WriteCgroup(d, "cpu.rt_period_us", Num(c.realtime_period())));
      }
      if (c.has_realtime_runtime()) {
        RETURN_IF_ERROR(WriteCgroup(d, "cpu.rt_runtime_us", Num(c.realtime_runtime())));
      }
      if (c.has_idle()) RETURN_IF_ERROR(WriteCgroup(d, "cpu.idle", Num(c.idle())));
    }
    if (!c.cpus().empty() || !c.mems().empty()) {
      ASSIGN_OR_RETURN(std::string d, need("cpuset", "linux.resources.cpu.cpus/mems"));
      if (!c.cpus().empty()) RETURN_IF_ERROR(WriteCgroup(d, "cpuset.cpus", c.cpus()));
      if (!c.mems().empty()) RETURN_IF_ERROR(WriteCgroup(d, "cpuset.mems", c.mems()));
    }
  }
  if (r.has_pids()) {
    ASSIGN_OR_RETURN(std::string d, need("pids", "linux.resources.pids"));
    RETURN_IF_ERROR(
        WriteCgroup(d, "pids.max", r.pids().limit() > 0 ? Num(r.pids().limit()) : "max"));
  }
  if (r.has_block_io()) {
    const oci::BlockIO& b = r.block_io();
    ASSIGN_OR_RETURN(std::string d, need("blkio", "linux.resources.blockIO"));
    const char* weight = Exists(d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
    const char* weight_device =
        Exists(d, "blkio.weight_device") ? "blkio.weight_device" : "blkio.bfq.weight_device";
    if ((b.has_weight() || b.weight_device_size() > 0) && !Exists(d, weight)) {
      return absl::FailedPreconditionError(
          "linux.resources.blockIO weights need the CFQ or BFQ I/O scheduler, which no block "
          "device of this host uses (no blkio.weight or blkio.bfq.weight)");
    }
    if (b.has_weight() && b.weight() != 0) RETURN_IF_ERROR(WriteCgroup(d, weight, Num(b.weight())));
    for (const oci::WeightDevice& w : b.weight_device()) {
      if (!w.has_weight()) continue;
      RETURN_IF_ERROR(WriteCgroup(d, weight_device,
                                  absl::StrCat(w.major(), ":", w.minor(), " ", w.weight())));
    }
    struct {
      const char* file;
      const google::protobuf::RepeatedPtrField<oci::ThrottleDevice>* list;
    } throttles[] = {
        {"blkio.throttle.read_bps_device", &b.throttle_read_bps_device()},
        {"blkio.throttle.write_bps_device", &b.throttle_write_bps_device()},
        {"blkio.throttle.read_iops_device", &b.throttle_read_iops_device()},
        {"blkio.throttle.write_iops_device", &b.throttle_write_iops_device()},
    };
    for (const auto& t : throttles) {
      for (const oci::ThrottleDevice& dev : *t.list) {
        RETURN_IF_ERROR(
            WriteCgroup(d, t.file, absl::StrCat(dev.major(), ":", dev.minor(), " ", dev.rate())));
      }
    }
  }
  for (int i = 0; i < r.devices_size(); ++i) RETURN_IF_ERROR(CheckDeviceRule(r.devices(i), i));
  std::string devices = dir_of("devices");
  if (!devices.empty() && geteuid() == 0) {
    // Deny everything, then allow what the spec allows, the container's own device nodes
    // and the defaults.
    RETURN_IF_ERROR(WriteCgroup(devices, "devices.deny", "a"));
    for (const oci::DeviceCgroup& d : r.devices()) {
      std::string rule = DeviceRule(d);
      if (!d.allow() && rule == "a") continue;  // already denied
      RETURN_IF_ERROR(WriteCgroup(devices, d.allow() ? "devices.allow" : "devices.deny", rule));
    }
    for (const std::string& rule : devices_allowed) {
      RETURN_IF_ERROR(WriteCgroup(devices, "devices.allow", rule));
    }
    for (const char* rule : kDefaultDeviceRules) {
      RETURN_IF_ERROR(WriteCgroup(devices, "devices.allow", rule));
    }
  }
  (void)cg;
  return absl::OkStatus();
}

absl::Status ApplyV2(const std::string& d, const oci::Resources& r) {
  if (r.has_memory()) {
    const oci::Memory& m = r.memory();
    if (m.has_limit()) {
      RETURN_IF_ERROR(WriteCgroup(d, "memory.max", m.limit() > 0 ? Num(m.limit()) : "max"));
    }
    if (m.has_swap() && m.swap() != 0) {
      std::string value = "max";
      if (m.swap() > 0) {
        int64_t limit = m.has_limit() ? m.limit() : 0;
        if (limit > 0 && m.swap() < limit) {
          return absl::InvalidArgumentError(
              "linux.resources.memory.swap (memory and swap together) is below memory.limit");
        }
        value = Num(limit > 0 ? m.swap() - limit : m.swap());
      }
      RETURN_IF_ERROR(WriteCgroup(d, "memory.swap.max", value));
    }
    if (m.has_reservation()) {
      RETURN_IF_ERROR(WriteCgroup(d, "memory.low", m.reservation() > 0 ? Num(m.reservation()) : "0"));
    }
  }
  if (r.has_cpu()) {
    const oci::Cpu& c = r.cpu();
    if (c.has_shares() && c.shares() != 0) {
      RETURN_IF_ERROR(WriteCgroup(d, "cpu.weight", Num(SharesToWeight(c.shares()))));
    }
    if (c.has_quota() || c.has_period()) {
      uint64_t period = c.has_period() && c.period() != 0 ? c.period() : 100000;
      std::string quota = c.has_quota() && c.quota() > 0 ? Num(c.quota()) : "max";
      RETURN_IF_ERROR(WriteCgroup(d, "cpu.max", absl::StrCat(quota, " ", period)));
    }
    if (c.has_burst()) RETURN_IF_ERROR(WriteCgroup(d, "cpu.max.burst", Num(c.burst())));
    if (c.has_idle()) RETURN_IF_ERROR(WriteCgroup(d, "cpu.idle", Num(c.idle())));
    if (!c.cpus().empty()) RETURN_IF_ERROR(WriteCgroup(d, "cpuset.cpus", c.cpus()));
    if (!c.mems().empty()) RETURN_IF_ERROR(WriteCgroup(d, "cpuset.mems", c.mems()));
  }
  if (r.has_pids()) {
    RETURN_IF_ERROR(
        WriteCgroup(d, "pids.max", r.pids().limit() > 0 ? Num(r.pids().limit()) : "max"));
  }
  if (r.has_block_io()) {
    const oci::BlockIO& b = r.block_io();
    const char* weight = Exists(d, "io.weight") ? "io.weight" : "io.bfq.weight";
    if (b.has_weight() && b.weight() != 0) {
      // v1 weights run 10..1000, v2 1..10000.
      uint64_t w = 1 + (static_cast<uint64_t>(b.weight()) - 10) * 9999 / 990;
      if (b.weight() < 10) w = 1;
      RETURN_IF_ERROR(WriteCgroup(d, weight, absl::StrCat("default ", w)));
    }
    for (const oci::WeightDevice& w : b.weight_device()) {
      if (!w.has_weight()) continue;
      RETURN_IF_ERROR(
          WriteCgroup(d, weight, absl::StrCat(w.major(), ":", w.minor(), " ", w.weight())));
    }
    struct {
      const char* key;
      const google::protobuf::RepeatedPtrField<oci::ThrottleDevice>* list;
    } throttles[] = {
        {"rbps", &b.throttle_read_bps_device()},
        {"wbps", &b.throttle_write_bps_device()},
        {"riops", &b.throttle_read_iops_device()},
        {"wiops", &b.throttle_write_iops_device()},
    };
    for (const auto& t : throttles) {
      for (const oci::ThrottleDevice& dev : *t.list) {
        RETURN_IF_ERROR(WriteCgroup(
            d, "io.max", absl::StrCat(dev.major(), ":", dev.minor(), " ", t.key, "=", dev.rate())));
      }
    }
  }
  for (int i = 0; i < r.devices_size(); ++i) RETURN_IF_ERROR(CheckDeviceRule(r.devices(i), i));
  // Device rules on v2 are an eBPF program; spawn does not attach one (the container's
  // device nodes are the only ones it gets, and mknod needs CAP_MKNOD).
  for (const auto& [key, value] : r.unified()) {
    if (key.empty() || key.find('/') != std::string::npos || key[0] == '.' ||
        absl::StartsWith(key, "cgroup.")) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.resources.unified: \"", key, "\" is not a controller file"));
    }
    RETURN_IF_ERROR(WriteCgroup(d, key.c_str(), value));
  }
  return absl::OkStatus();
}

}  // namespace

bool HasResources(const oci::Resources& r) {
  // Device rules alone are what every spec carries (deny all): they ask for no delegation.
  oci::Resources without_devices = r;
  without_devices.clear_devices();
  return without_devices.ByteSizeLong() != 0;
}

absl::StatusOr<Cgroups> Cgroups::ForContainer(const oci::Linux& linux, const std::string& id,
                                              uid_t euid, gid_t egid,
                                              const std::string& mount_root) {
  bool rootless = euid != 0;
  bool want = HasResources(linux.resources());
  std::string subtree = absl::StrCat("gdn-", euid);
  std::string parent = rootless ? subtree : "spawn";
  ASSIGN_OR_RETURN(std::string rel, RelativePath(linux.cgroups_path(), id, parent));
  long type = FsType(mount_root);
  if (type == kCgroup2Magic) {
    std::string delegated = absl::StrCat(mount_root, "/", subtree);
    if (rootless && access(delegated.c_str(), W_OK) != 0) {
      if (want) return NeedsSetup(euid, egid, delegated);
      return Cgroups();
    }
    return Cgroups(2, {absl::StrCat(mount_root, "/", rel)});
  }
  std::vector<std::string> roots;
  std::vector<std::string> missing;
  for (const char* c : kV1Controllers) {
    std::string dir = absl::StrCat(mount_root, "/", c);
    if (FsType(dir) != kCgroupMagic) continue;
    // Rootless: a device cgroup needs CAP_SYS_ADMIN on the host to write; leave it.
    if (rootless && std::string(c) == "devices") continue;
    char real[PATH_MAX];
    if (realpath(dir.c_str(), real) == nullptr) continue;
    if (std::find(roots.begin(), roots.end(), real) != roots.end()) continue;
    if (rootless && access(absl::StrCat(real, "/", subtree).c_str(), W_OK) != 0) {
      missing.push_back(absl::StrCat(real, "/", subtree));
      continue;
    }
    roots.push_back(real);
  }
  if (roots.empty()) {
    if (want) {
      return missing.empty() ? absl::FailedPreconditionError(absl::StrCat(
                                   "this container asks for resource limits but ", mount_root,
                                   " holds no cgroup hierarchy"))
                             : NeedsSetup(euid, egid, missing[0]);
    }
    return Cgroups();
  }
  if (want && !missing.empty()) return NeedsSetup(euid, egid, missing[0]);
  std::vector<std::string> dirs;
  for (const std::string& r : roots) dirs.push_back(absl::StrCat(r, "/", rel));
  return Cgroups(1, std::move(dirs));
}

std::string Cgroups::Dir(const char* controller) const {
  if (version_ == 2) return dirs_.empty() ? "" : dirs_[0];
  // A v1 folder is <hierarchy root>/<rel>, the root named after its controllers
  // ("cpu,cpuacct" when co-mounted).
  for (const std::string& d : dirs_) {
    std::string::size_type at = d.find(absl::StrCat(kCgroupRoot, "/"));
    absl::string_view rest = d;
    if (at == 0) rest.remove_prefix(strlen(kCgroupRoot) + 1);
    absl::string_view hierarchy = rest.substr(0, rest.find('/'));
    for (absl::string_view c : absl::StrSplit(hierarchy, ',')) {
      if (c == controller) return d;
    }
  }
  return "";
}

absl::Status Cgroups::Create() {
  // An empty leftover of a container that is gone is taken over; one holding processes not.
  for (const std::string& d : dirs_) {
    if (IsDir(d) && !absl::StripAsciiWhitespace(ReadCgroup(d, "cgroup.procs")).empty()) {
      return absl::AlreadyExistsError(absl::StrCat("the cgroup ", d, " is in use"));
    }
  }
  for (size_t i = 0; i < dirs_.size(); ++i) {
    absl::Status s = MakeCgroupDir(dirs_[i], version_);
    if (!s.ok()) {
      for (size_t j = 0; j < i; ++j) rmdir(dirs_[j].c_str());
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Cgroups::Apply(const oci::Resources& resources,
                            const std::vector<std::string>& devices_allowed) {
  if (dirs_.empty()) {
    if (HasResources(resources)) {
      return absl::FailedPreconditionError("this container has no cgroup to limit");
    }
    return absl::OkStatus();
  }
  if (version_ == 2) return ApplyV2(dirs_[0], resources);
  return ApplyV1(*this, resources, devices_allowed,
                 [this](const char* c) { return Dir(c); });
}

absl::Status Cgroups::Join(pid_t pid) const {
  std::string value = absl::StrCat(pid);
  for (const std::string& d : dirs_) RETURN_IF_ERROR(WriteCgroup(d, "cgroup.procs", value));
  return absl::OkStatus();
}

absl::Status Cgroups::Freeze(bool frozen) const {
  std::string d;
  const char* file;
  const char* want;
  if (version_ == 2) {
    if (dirs_.empty()) return absl::OkStatus();
    d = dirs_[0];
    RETURN_IF_ERROR(WriteCgroup(d, "cgroup.freeze", frozen ? "1" : "0"));
    file = "cgroup.events";
    want = frozen ? "frozen 1" : "frozen 0";
  } else {
    d = Dir("freezer");
    if (d.empty()) {
      return absl::FailedPreconditionError("this container has no freezer cgroup");
    }
    RETURN_IF_ERROR(WriteCgroup(d, "freezer.state", frozen ? "FROZEN" : "THAWED"));
    file = "freezer.state";
    want = frozen ? "FROZEN" : "THAWED";
  }
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (int i = 0;; ++i) {
    if (absl::StrContains(ReadCgroup(d, file), want)) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("the cgroup ", d, " did not become ", want));
    }
    // v1 may stay FREEZING when a task was busy: asking again moves it on.
    if (version_ == 1 && frozen && i % 10 == 9) (void)WriteCgroup(d, "freezer.state", "FROZEN");
    usleep(1000);
  }
}

std::vector<int> Cgroups::Pids() const {
  std::vector<int> pids;
  std::string d = version_ == 1 ? Dir("pids") : "";
  if (d.empty() && !dirs_.empty()) d = dirs_[0];
  if (d.empty()) return pids;
  for (absl::string_view line : absl::StrSplit(ReadCgroup(d, "cgroup.procs"), '\n', absl::SkipEmpty())) {
    int pid;
    if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

absl::Status Cgroups::Signal(int sig) const {
  if (dirs_.empty()) return absl::OkStatus();
  if (version_ == 2 && sig == SIGKILL && Exists(dirs_[0], "cgroup.kill")) {
    return WriteCgroup(dirs_[0], "cgroup.kill", "1");
  }
  // Thawed afterwards even when freezing did not finish in time (v1 can stay FREEZING while
  // a task is busy in the kernel): the tasks frozen meanwhile could not act on the signal,
  // and a SIGKILLed init would never end.
  absl::Status froze = Freeze(true);
  bool asked = froze.code() != absl::StatusCode::kFailedPrecondition;  // there is a freezer
  for (int pid : Pids()) {
    if (kill(pid, sig) != 0 && errno != ESRCH) {
      int err = errno;
      if (asked) (void)Freeze(false);
      return ErrnoError(err, "kill", absl::StrCat(pid));
    }
  }
  if (asked) {
    absl::Status thawed = Freeze(false);
    if (froze.ok()) RETURN_IF_ERROR(thawed);
  }
  return absl::OkStatus();
}

absl::Status Cgroups::Remove(bool kill_rest) const {
  bool killed = false;
  for (const std::string& d : dirs_) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (rmdir(d.c_str()) != 0) {
      if (errno == ENOENT) break;
      if (errno != EBUSY) return ErrnoError(errno, "remove the cgroup", d);
      if (!kill_rest && !Pids().empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the cgroup ", d, " still holds processes"));
      }
      if (kill_rest && !killed) {
        RETURN_IF_ERROR(Signal(SIGKILL));
        killed = true;
      }
      if (absl::Now() > deadline) {
        return absl::UnavailableError(absl::StrCat("the cgroup ", d, " stayed busy"));
      }
      usleep(1000);
    }
  }
  return absl::OkStatus();
}

uint64_t Cgroups::OomKills() const {
  if (version_ == 2) {
    if (dirs_.empty()) return 0;
    return ReadKeyed(dirs_[0], "memory.events")["oom_kill"];
  }
  std::string d = Dir("memory");
  if (d.empty()) return 0;
  return ReadKeyed(d, "memory.oom_control")["oom_kill"];
}

std::string Cgroups::StatsJson() const {
  using nlohmann::json;
  json data = json::object();
  auto value = [](std::optional<uint64_t> v) -> json {
    if (!v.has_value()) return 0;
    if (*v == UINT64_MAX || *v >= (UINT64_C(1) << 62)) return 0;  // "max" / unlimited
    return *v;
  };
  auto io_entries = [](const std::string& text) {
    json list = json::array();
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() != 3) continue;
      std::vector<absl::string_view> mm = absl::StrSplit(f[0], ':');
      uint64_t major, minor, v;
      if (mm.size() != 2 || !absl::SimpleAtoi(mm[0], &major) || !absl::SimpleAtoi(mm[1], &minor) ||
          !absl::SimpleAtoi(f[2], &v)) {
        continue;
      }
      list.push_back({{"major", major}, {"minor", minor}, {"op", std::string(f[1])}, {"value", v}});
    }
    return list;
  };
  if (version_ == 1) {
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t tick_ns = hz > 0 ? 1000000000ull / static_cast<uint64_t>(hz) : 10000000ull;
    std::string acct = Dir("cpuacct"), cpu = Dir("cpu");
    json usage = {{"total", value(ReadU64(acct, "cpuacct.usage"))}};
    std::map<std::string, uint64_t> st = ReadKeyed(acct, "cpuacct.stat");
    usage["user"] = st["user"] * tick_ns;
    usage["kernel"] = st["system"] * tick_ns;
    json percpu = json::array();
    for (absl::string_view v : absl::StrSplit(ReadCgroup(acct, "cpuacct.usage_percpu"),
                                              absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
      uint64_t n;
      if (absl::SimpleAtoi(v, &n)) percpu.push_back(n);
    }
    usage["percpu"] = percpu;
    std::map<std::string, uint64_t> th = ReadKeyed(cpu, "cpu.stat");
    data["cpu"] = {{"usage", usage},
                   {"throttling",
                    {{"periods", th["nr_periods"]},
                     {"throttledPeriods", th["nr_throttled"]},
                     {"throttledTime", th["throttled_time"]}}}};
    std::string mem = Dir("memory");
    std::map<std::string, uint64_t> raw = ReadKeyed(mem, "memory.stat");
    data["memory"] = {
        {"usage",
         {{"usage", value(ReadU64(mem, "memory.usage_in_bytes"))},
          {"max", value(ReadU64(mem, "memory.max_usage_in_bytes"))},
          {"limit", value(ReadU64(mem, "memory.limit_in_bytes"))},
          {"failcnt", value(ReadU64(mem, "memory.failcnt"))}}},
        {"swap",
         {{"usage", value(ReadU64(mem, "memory.memsw.usage_in_bytes"))},
          {"max", value(ReadU64(mem, "memory.memsw.max_usage_in_bytes"))},
          {"limit", value(ReadU64(mem, "memory.memsw.limit_in_bytes"))},
          {"failcnt", value(ReadU64(mem, "memory.memsw.failcnt"))}}},
        {"cache", raw["cache"]},
        {"oomKills", OomKills()},
        {"raw", raw}};
    std::string pids = Dir("pids");
    data["pids"] = {{"current", value(ReadU64(pids, "pids.current"))},
                    {"limit", value(ReadU64(pids, "pids.max"))}};
    std::string blkio = Dir("blkio");
    data["blkio"] = {
        {"ioServiceBytesRecursive",
         io_entries(ReadCgroup(blkio, "blkio.throttle.io_service_bytes_recursive"))},
        {"ioServicedRecursive", io_entries(ReadCgroup(blkio, "blkio.throttle.io_serviced_recursive"))}};
  } else if (version_ == 2 && !dirs_.empty()) {
    const std::string& d = dirs_[0];
    std::map<std::string, uint64_t> st = ReadKeyed(d, "cpu.stat");
    data["cpu"] = {{"usage",
                    {{"total", st["usage_usec"] * 1000},
                     {"user", st["user_usec"] * 1000},
                     {"kernel", st["system_usec"] * 1000}}},
                   {"throttling",
                    {{"periods", st["nr_periods"]},
                     {"throttledPeriods", st["nr_throttled"]},
                     {"throttledTime", st["throttled_usec"] * 1000}}}};
    std::map<std::string, uint64_t> raw = ReadKeyed(d, "memory.stat");
    data["memory"] = {{"usage",
                       {{"usage", value(ReadU64(d, "memory.current"))},
                        {"max", value(ReadU64(d, "memory.peak"))},
                        {"limit", value(ReadU64(d, "memory.max"))},
                        {"failcnt", ReadKeyed(d, "memory.events")["max"]}}},
                      {"swap",
                       {{"usage", value(ReadU64(d, "memory.swap.current"))},
                        {"limit", value(ReadU64(d, "memory.swap.max"))}}},
                      {"cache", raw["file"]},
                      {"oomKills", OomKills()},
                      {"raw", raw}};
    data["pids"] = {{"current", value(ReadU64(d, "pids.current"))},
                    {"limit", value(ReadU64(d, "pids.max"))}};
    json bytes = json::array(), ios = json::array();
    for (absl::string_view line : absl::StrSplit(ReadCgroup(d, "io.stat"), '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.empty()) continue;
      std::vector<absl::string_view> mm = absl::StrSplit(f[0], ':');
      uint64_t major, minor;
      if (mm.size() != 2 || !absl::SimpleAtoi(mm[0], &major) || !absl::SimpleAtoi(mm[1], &minor)) {
        continue;
      }
      for (size_t i = 1; i < f.size(); ++i) {
        std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(f[i], '=');
        uint64_t v;
        if (!absl::SimpleAtoi(kv.second, &v)) continue;
        const char* op = kv.first == "rbytes" || kv.first == "rios"   ? "Read"
                         : kv.first == "wbytes" || kv.first == "wios" ? "Write"
                                                                       : nullptr;
        if (op == nullptr) continue;
        json e = {{"major", major}, {"minor", minor}, {"op", op}, {"value", v}};
        (absl::EndsWith(kv.first, "bytes") ? bytes : ios).push_back(e);
      }
    }
    data["blkio"] = {{"ioServiceBytesRecursive", bytes}, {"ioServicedRecursive", ios}};
  }
  return data.dump();
}

}  // namespace gdn::spawn
