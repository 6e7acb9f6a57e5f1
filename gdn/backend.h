// Garden's containers over the toolkit. Every container lives in the depot as files, so the
// server may die at any point and start again:
//
//   <depot>/<handle>/container.json     the record: spec, properties, plugin answers, state
//   <depot>/<handle>/bundle/            the OCI bundle spawn runs (config.json)
//   <depot>/<handle>/image.json         what the image plugin answered
//   <depot>/<handle>/processes/<id>/    one attach folder per process (its keeper, exit status)
//   <depot>/.spawn/                     spawn's --root
//
// A container is made by the image plugin (`create`), spawn (`create`, `start` of a tiny
// reaping init), and the network plugin (`up`), in that order; a failure undoes the steps
// before it. Processes run as `attach run -- spawn exec`, so they outlive the server.
#ifndef GDN_GDN_BACKEND_H_
#define GDN_GDN_BACKEND_H_

#include <cstdint>
#include <functional>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace gdn::server {

struct BackendOptions {
  std::string depot;
  std::string assets;  // where spawn, attach, image-store, netns, gdn-init are
  std::string image_plugin;  // empty: none (raw rootfs paths only)
  std::vector<std::string> image_plugin_args;
  std::string network_plugin;  // empty: containers get no network
  std::vector<std::string> network_plugin_args;
  std::string runtime;  // spawn
  std::vector<std::string> runtime_args;
  std::string default_rootfs;
  int64_t default_grace_time_ns = 0;
  int max_containers = 0;
  bool rootless = false;
  uint32_t uid_map_start = 0, uid_map_length = 0, gid_map_start = 0, gid_map_length = 0;
  std::vector<std::string> insecure_registries;
  std::string docker_registry;
  std::string external_ip;  // --external-ip: the HostIP of net-in
  // --dns-server (instead of the plugin's or the host's), --additional-dns-server,
  // --additional-host-entry ("IP NAME..."): the resolv.conf and hosts of networked containers.
  std::vector<std::string> dns_servers, additional_dns_servers, additional_host_entries;
  bool log_children = false;  // --log-level debug: each child's command line and time on stderr
};

// Garden's error kinds (GARDEN_API.md 1.2): how a failure is answered.
enum class ErrorKind { kOther, kContainerNotFound, kProcessNotFound, kExecutableNotFound };
struct GardenError {
  ErrorKind kind = ErrorKind::kOther;
  std::string message;
  std::string handle, process_id;
};

// Ordered: responses keep Garden's key order.
using Json = nlohmann::ordered_json;

// A JSON field looked up as Go does: the exact key, else ignoring ASCII case.
const Json* Field(const Json& obj, const std::string& key);

class Backend {
 public:
  explicit Backend(BackendOptions options);

  // Removes containers whose creation was cut short (a crash); keeps the rest.
  void Restore();

  absl::StatusOr<std::string> Create(const Json& spec, GardenError* err);
  bool Destroy(const std::string& handle, GardenError* err);
  std::vector<std::string> List(const std::map<std::string, std::string>& filter);
  bool Exists(const std::string& handle);
  absl::StatusOr<Json> Info(const std::string& handle, GardenError* err);
  absl::StatusOr<std::map<std::string, std::string>> Properties(const std::string& handle, GardenError* err);
  bool SetProperty(const std::string& handle, const std::string& key, const std::string& value, GardenError* err);
  bool RemoveProperty(const std::string& handle, const std::string& key, GardenError* err);
  bool Stop(const std::string& handle, bool kill, GardenError* err);
  bool SetGraceTime(const std::string& handle, int64_t ns, GardenError* err);
  Json Capacity();
  // NetIn through the network plugin: the mapping it made ({"host_port","container_port"}),
  // appended to garden.network.mapped-ports.
  absl::StatusOr<Json> NetIn(const std::string& handle, const Json& request, GardenError* err);
  // NetOut (one rule) and BulkNetOut (`rules` is an array) through the network plugin.
  bool NetOut(const std::string& handle, const Json& rules, bool bulk, GardenError* err);
  // StreamIn: the tar `body` (read until it returns 0) extracted at `destination` in the
  // container, as `user`, by gdn-init run through spawn exec.
  bool StreamIn(const std::string& handle, const std::string& user, const std::string& destination,
                const std::function<long(char*, size_t)>& body, GardenError* err);
  // StreamOut: a tar of `source` in the container, as `user`, handed to `out` in pieces.
  // InternalError when it failed before any byte, DataLoss after some.
  absl::Status StreamOut(const std::string& handle, const std::string& user, const std::string& source,
                         const std::function<bool(absl::string_view)>& out, GardenError* err);
  // The limits stored at creation: "bandwidth", "cpu", "disk" or "memory".
  absl::StatusOr<Json> Limits(const std::string& handle, const std::string& kind, GardenError* err);
  // Garden's Metrics: the cgroups' usage (spawn events --stats), the image plugin's disk
  // count, the age.
  absl::StatusOr<Json> Metrics(const std::string& handle, GardenError* err);

  // Starts a process; returns its id. The process's folder is `ProcessDir(handle, id)`.
  absl::StatusOr<std::string> Run(const std::string& handle, const Json& spec, GardenError* err);
  std::string ProcessDir(const std::string& handle, const std::string& id) const;
  bool ProcessExists(const std::string& handle, const std::string& id);

 private:
  // The container's hosts and resolv.conf once its network is up (GARDEN_API.md 5.7).
  // The network plugin's down for `handle`: true when it succeeded (or there is no plugin).
  bool NetworkDown(const std::string& handle);
  absl::Status WriteDnsFiles(const std::string& handle, const std::string& ip, const Json& plugin_out);
  std::string Dir(const std::string& handle) const;
  // The process spec (a file in the container's folder) of `/.gdn-init VERB PATH` as `user`.
  absl::StatusOr<std::string> TarProcess(const std::string& handle, const std::string& user,
                                         const std::string& verb, const std::string& path, GardenError* err);
  absl::StatusOr<Json> Load(const std::string& handle);
  absl::Status Save(const std::string& handle, const Json& record);
  // The init's pid and start time as create recorded them: in the container's `record`
  // (init_pid, init_start), or in the files init.pid and init.start of an earlier server.
  struct RecordedInit {
    int pid = 0;
    uint64_t start_time = 0;
  };
  std::optional<RecordedInit> InitRecord(const std::string& handle, const Json& record);
  absl::StatusOr<int> InitPid(const std::string& handle);
  std::vector<std::string> Runtime(const std::vector<std::string>& args) const;
  void Teardown(const std::string& handle, const Json& record);
  // Moves a container's folder into <depot>/.trash (a rename) and removes it there in the
  // background.
  void Discard(const std::string& dir);
  static void RemoveInBackground(const std::string& path);
  std::atomic<uint64_t> discarded_{0};
  // The image plugin's delete for `handle`: true when it succeeded (or there is no plugin).
  bool DeleteImage(const std::string& handle);
  // Kills the container's init with SIGKILL (the kernel takes every other process of its pid
  // namespace along) and waits until it is gone. False when the init recorded at create is
  // not known for sure (then the runtime's delete does the killing).
  bool KillInit(const std::string& handle, const Json& record);

  // The runtime's spec for the image answer `fragment` of container `handle`: spawn spec's
  // config.json text, or "" with *why set.
  std::string Spec(const std::string& handle, const std::string& bundle, const std::string& fragment,
                   const std::vector<std::string>& args, std::string* why);

  BackendOptions o_;
  std::mutex mu_;  // guards the records and the sets below
  std::set<std::string> destroying_, creating_;
  std::mutex spec_mu_;
  std::map<std::string, std::string> specs_;  // see Spec
};

}  // namespace gdn::server

#endif  // GDN_GDN_BACKEND_H_
