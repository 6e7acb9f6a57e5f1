#include "spawn/spec.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "lib/lite_json.h"

namespace gdn::spawn {
namespace {

void AddMount(oci::Spec* spec, const std::string& dest, const std::string& type,
              const std::string& source, const std::vector<std::string>& options) {
  oci::Mount* m = spec->add_mounts();
  m->set_destination(dest);
  m->set_type(type);
  m->set_source(source);
  for (const std::string& o : options) m->add_options(o);
}

}  // namespace

oci::Spec DefaultSpec(const SpecOptions& o) {
  oci::Spec spec;
  spec.set_oci_version("1.0.2");
  oci::Process* p = spec.mutable_process();
  p->add_args("sh");
  p->add_env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  p->add_env("TERM=xterm");
  p->set_cwd("/");
  p->mutable_user()->set_uid(0);
  p->mutable_user()->set_gid(0);
  for (const char* cap : {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}) {
    p->mutable_capabilities()->add_bounding(cap);
    p->mutable_capabilities()->add_effective(cap);
    p->mutable_capabilities()->add_permitted(cap);
  }
  oci::Rlimit* nofile = p->add_rlimits();
  nofile->set_type("RLIMIT_NOFILE");
  nofile->set_hard(1024);
  nofile->set_soft(1024);
  p->set_no_new_privileges(true);
  spec.mutable_root()->set_path("rootfs");
  spec.mutable_root()->set_readonly(true);
  spec.set_hostname("spawn");

  AddMount(&spec, "/proc", "proc", "proc", {});
  AddMount(&spec, "/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"});
  if (o.rootless) {
    AddMount(&spec, "/dev/pts", "devpts", "devpts",
             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"});
  } else {
    AddMount(&spec, "/dev/pts", "devpts", "devpts",
             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
  }
  AddMount(&spec, "/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});
  AddMount(&spec, "/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"});
  if (o.rootless) {
    AddMount(&spec, "/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"});
  } else {
    AddMount(&spec, "/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"});
  }
  AddMount(&spec, "/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"});

  oci::Linux* linux = spec.mutable_linux();
  for (const char* ns : {"pid", "ipc", "uts", "mount", "network"}) {
    linux->add_namespaces()->set_type(ns);
  }
  if (o.rootless) {
    linux->add_namespaces()->set_type("user");
    oci::IdMapping* u = linux->add_uid_mappings();
    u->set_container_id(0);
    u->set_host_id(o.uid);
    u->set_size(1);
    oci::IdMapping* g = linux->add_gid_mappings();
    g->set_container_id(0);
    g->set_host_id(o.gid);
    g->set_size(1);
  }
  for (const char* path : {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                           "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                           "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}) {
    linux->add_masked_paths(path);
  }
  for (const char* path : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                           "/proc/sysrq-trigger"}) {
    linux->add_readonly_paths(path);
  }
  return spec;
}

absl::Status MergeImage(const std::string& image_json, oci::Spec* spec) {
  oci::Spec image;
  // The answer comes from a plugin that may be written in Go: read it as Go would.
  absl::Status parsed = GoJsonToLite(image_json, &image);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("image plugin answer: ", parsed.message()));
  if (image.root().path().empty()) {
    return absl::InvalidArgumentError("image plugin answer: root.path is missing");
  }
  spec->mutable_root()->set_path(image.root().path());
  // The container writes into the overlay's upper layer.
  spec->mutable_root()->set_readonly(false);
  google::protobuf::RepeatedPtrField<oci::Mount> mounts = image.mounts();
  for (const oci::Mount& m : spec->mounts()) *mounts.Add() = m;
  spec->mutable_mounts()->Swap(&mounts);
  if (!image.process().env().empty()) {
    std::vector<std::string> env(image.process().env().begin(), image.process().env().end());
    for (const std::string& e : spec->process().env()) {
      std::string name = e.substr(0, e.find('=') + 1);
      bool present = false;
      for (const std::string& i : env) present = present || absl::StartsWith(i, name);
      if (!present) env.push_back(e);
    }
    spec->mutable_process()->clear_env();
    for (const std::string& e : env) spec->mutable_process()->add_env(e);
  }
  return absl::OkStatus();
}

std::string SpecJson(const oci::Spec& spec) {
  // Other runtimes read config.json with Go or C parsers that want 64-bit numbers as numbers.
  GoJsonWriteOptions print;
  print.json_names = true;
  print.indent = 2;
  print.enums_as_numbers = false;
  return LiteToGoJson(spec, print) + "\n";
}

}  // namespace gdn::spawn
