// gdn: the Garden server over the toolkit.
//
//   gdn server [--depot DIR] [--bind-socket PATH | --bind-ip IP --bind-port N]
//              [--image-plugin P [--image-plugin-extra-arg A]...]
//              [--network-plugin P [--network-plugin-extra-arg A]...]
//              [--runtime-plugin P [--runtime-plugin-extra-arg A]...]
//              [--uid-map-start N --uid-map-length N --gid-map-start N --gid-map-length N]
//              [--default-rootfs PATH] [--default-grace-time DURATION] [--max-containers N]
//              [--docker-registry HOST] [--insecure-docker-registry HOST]... [--assets-dir DIR]
//              [--destroy-containers-on-startup] [--skip-setup [--setup-config-dir DIR]] ...
//   With --skip-setup, a rootless server first checks that `setup` prepared the host for its
//   user (its record in /etc/gdn/setup/<uid>.json): exit 5, "run setup", if not.
//   gdn setup ...   runs `setup` (installed beside gdn) with the same arguments
//
// By default the plugins are our own binaries beside gdn (or in --assets-dir): image-store
// with a store under the depot, spawn; no network plugin unless one is named. It listens on
// a unix socket of mode 0600 ($XDG_RUNTIME_DIR/gdn.sock, else /tmp/gdn-<uid>/gdn.sock); on
// TCP only when --bind-ip is given.
#include <arpa/inet.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gdn/backend.h"
#include "gdn/http.h"
#include "gdn/server.h"
#include "lib/cli.h"
#include "lib/file.h"
#include "lib/main.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subid.h"
#include "lib/subprocess.h"
#include "setup/record.h"

namespace gdn::server {
namespace {

absl::Status Number(const ParsedFlags& f, const char* name, uint32_t* out) {
  if (!f.Has(name)) return absl::OkStatus();
  if (!absl::SimpleAtoi(f.Get(name), out)) return UsageError(absl::StrCat("--", name, " takes a number"));
  return absl::OkStatus();
}

absl::Status ServerMain(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(
      ParsedFlags f,
      ParseFlags(args,
                 {{"depot"}, {"bind-ip"}, {"bind-port"}, {"bind-socket"}, {"uid-map-start"}, {"uid-map-length"},
                  {"gid-map-start"}, {"gid-map-length"}, {"image-plugin"}, {"image-plugin-extra-arg"},
                  {"network-plugin"}, {"network-plugin-extra-arg"}, {"runtime-plugin"},
                  {"runtime-plugin-extra-arg"}, {"skip-setup", 0, false}, {"assets-dir"}, {"default-rootfs"},
                  {"default-grace-time"}, {"docker-registry"}, {"insecure-docker-registry"}, {"max-containers"},
                  {"port-pool-start"}, {"port-pool-size"}, {"dns-server"}, {"additional-dns-server"}, {"additional-host-entry"},
                  {"log-level"}, {"destroy-containers-on-startup", 0, false}, {"properties-path"},
                  {"external-ip"}, {"network-pool"}, {"tag"}, {"setup-config-dir"}},
                 false));
  if (!f.positional.empty()) return UsageError("gdn server takes flags only");
  BackendOptions o;
  uid_t uid = geteuid();
  // Each child (image-store, spawn, attach-keeper...) looks its user's name up as it starts
  // (glog does, for log file names), a read of nsswitch.conf and passwd, unless USER says it:
  // said once here for all of them.
  if (getenv("USER") == nullptr) {
    if (struct passwd* pw = getpwuid(uid); pw != nullptr) setenv("USER", pw->pw_name, 1);
  }
  // The seed's --skip-setup: `sudo gdn setup` prepared this host; check that it did, for us.
  if (f.Bool("skip-setup") && uid != 0) {
    RETURN_IF_ERROR(setup::CheckSetup(uid, f.Get("setup-config-dir", setup::kDefaultConfigDir)));
  }
  std::string home = getenv("HOME") != nullptr ? getenv("HOME") : "/tmp";
  o.depot = f.Get("depot", uid == 0 ? "/var/lib/gdn/depot" : home + "/.local/share/gdn/depot");
  o.assets = f.Get("assets-dir", SelfDir());
  o.rootless = uid != 0;
  o.runtime = f.Get("runtime-plugin", o.assets + "/spawn");
  o.runtime_args = f.All("runtime-plugin-extra-arg");
  o.default_rootfs = f.Get("default-rootfs");
  o.docker_registry = f.Get("docker-registry");
  o.insecure_registries = f.All("insecure-docker-registry");
  o.network_plugin = f.Get("network-plugin");
  o.network_plugin_args = f.All("network-plugin-extra-arg");
  o.external_ip = f.Get("external-ip");
  o.dns_servers = f.All("dns-server");
  o.additional_dns_servers = f.All("additional-dns-server");
  o.additional_host_entries = f.All("additional-host-entry");
  for (const auto* list : {&o.dns_servers, &o.additional_dns_servers}) {
    for (const std::string& ip : *list) {
      struct in_addr a;
      if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return UsageError(absl::StrCat("DNS server \"", ip, "\" is not an IPv4 address"));
    }
  }
  std::string level = f.Get("log-level", "info");
  if (level != "debug" && level != "info" && level != "error" && level != "fatal") {
    return UsageError("--log-level is one of debug, info, error, fatal");
  }
  o.log_children = level == "debug";
  uint32_t max = 0;
  RETURN_IF_ERROR(Number(f, "max-containers", &max));
  o.max_containers = static_cast<int>(max);
  if (!ParseDuration(f.Get("default-grace-time", "0"), &o.default_grace_time_ns)) {
    return UsageError("--default-grace-time takes a duration such as 5m or 30s");
  }
  RETURN_IF_ERROR(Number(f, "uid-map-start", &o.uid_map_start));
  RETURN_IF_ERROR(Number(f, "uid-map-length", &o.uid_map_length));
  RETURN_IF_ERROR(Number(f, "gid-map-start", &o.gid_map_start));
  RETURN_IF_ERROR(Number(f, "gid-map-length", &o.gid_map_length));
  RETURN_IF_ERROR(MakeDirs(o.depot, 0700));
  if (f.Has("image-plugin")) {
    o.image_plugin = f.Get("image-plugin");
    o.image_plugin_args = f.All("image-plugin-extra-arg");
  } else {
    // Our image-store, with a store beside the depot's containers, shifted like them.
    std::string store = o.depot + "/.store";
    o.image_plugin = o.assets + "/image-store";
    o.image_plugin_args = {"--store", store};
    if (!FileExists(store + "/store.json")) {
      std::vector<std::string> argv = {o.image_plugin, "--store", store, "init-store"};
      if (o.rootless) {
        argv.insert(argv.end(), {"--uid-mapping", absl::StrCat("0:", uid, ":1"), "--gid-mapping",
                                 absl::StrCat("0:", getegid(), ":1")});
        if (o.uid_map_length > 0) {
          argv.insert(argv.end(), {"--uid-mapping", absl::StrCat("1:", o.uid_map_start, ":", o.uid_map_length),
                                   "--gid-mapping", absl::StrCat("1:", o.gid_map_start, ":", o.gid_map_length)});
        }
      }
      SubprocessOptions init;
      init.argv = argv;
      ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(init));
      if (!r.ok()) return absl::InternalError(absl::StrCat("image-store init-store ", r.Describe(), ": ", r.err));
    }
  }
  Backend backend(o);
  if (f.Bool("destroy-containers-on-startup")) {
    GardenError ignored;
    for (const std::string& h : backend.List({{"garden.state", "all"}})) backend.Destroy(h, &ignored);
  }
  backend.Restore();
  ServerOptions so;
  so.bind_ip = f.Get("bind-ip");
  so.log_requests = o.log_children;
  uint32_t port = 7777;
  RETURN_IF_ERROR(Number(f, "bind-port", &port));
  so.bind_port = static_cast<int>(port);
  std::string runtime_dir = getenv("XDG_RUNTIME_DIR") != nullptr ? getenv("XDG_RUNTIME_DIR")
                                                                 : absl::StrCat("/tmp/gdn-", uid);
  so.socket_path = f.Get("bind-socket", runtime_dir + "/gdn.sock");
  if (so.bind_ip.empty()) RETURN_IF_ERROR(MakeDirs(so.socket_path.substr(0, so.socket_path.rfind('/')), 0700));
  std::vector<Route> routes = Routes(&backend);
  return Serve(so, routes, [&] {
    fprintf(stderr, "gdn: serving the Garden API on %s\n",
            so.bind_ip.empty() ? so.socket_path.c_str() : absl::StrCat(so.bind_ip, ":", so.bind_port).c_str());
  });
}

absl::Status Main(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("usage: gdn server [flags] | gdn setup [flags]");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "server") return ServerMain(rest);
  if (args[0] == "setup") {
    std::string setup = SelfDir() + "/setup";
    std::vector<char*> argv = {setup.data()};
    for (std::string& a : rest) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(setup.c_str(), argv.data());
    return absl::NotFoundError(absl::StrCat("cannot run ", setup, ": ", strerror(errno)));
  }
  return UsageError(absl::StrCat("unknown command \"", args[0], "\": server or setup"));
}

}  // namespace
}  // namespace gdn::server

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return gdn::RunCommandMain(argc, argv, gdn::server::Main);
}
