#include "netns/cni.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/names.h"
#include "lib/status.h"
#include "lib/subprocess.h"
#include "netns/trust.h"
#include "netns/warnings.h"

namespace gdn::netns {
namespace {

constexpr char kOldestVersion[] = "0.1.0";

absl::StatusOr<Json> ParseObject(absl::string_view text, absl::string_view what) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  }
  return doc;
}

std::string StringField(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// The messages name fields, never their values: the file may be one the caller cannot read.
absl::Status ValidatePlugin(const Json& plugin, size_t index) {
  if (!plugin.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("plugin ", index, " is not an object"));
  }
  std::string type = StringField(plugin, "type");
  // The type names a binary in the plugin folder: nothing that could lead out of it.
  if (!IsPlainName(type, 255)) {
    return absl::InvalidArgumentError(absl::StrCat("plugin ", index, " has no plain \"type\""));
  }
  // So does the IPAM plugin's, which the plugin executes from CNI_PATH.
  auto ipam = plugin.find("ipam");
  if (ipam != plugin.end() && !ipam->is_null()) {
    if (!ipam->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin ", index, "'s \"ipam\" is not an object"));
    }
    auto ipam_type = ipam->find("type");
    if (ipam_type != ipam->end() &&
        !(ipam_type->is_string() && IsPlainName(ipam_type->get<std::string>(), 255))) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin ", index, "'s \"ipam\" has no plain \"type\""));
    }
  }
  return absl::OkStatus();
}

std::string CniError(absl::string_view out, absl::string_view err) {
  Json doc = Json::parse(out.begin(), out.end(), nullptr, false);
  if (doc.is_object() && doc.contains("msg")) {
    std::string msg = StringField(doc, "msg");
    std::string details = StringField(doc, "details");
    if (!details.empty()) absl::StrAppend(&msg, " (", details, ")");
    return msg;
  }
  std::string text(absl::StripAsciiWhitespace(err.empty() ? out : err));
  return text.empty() ? "no message" : text;
}

int CniErrorCode(absl::string_view out) {
  Json doc = Json::parse(out.begin(), out.end(), nullptr, false);
  if (doc.is_object() && doc.contains("code") && doc["code"].is_number_integer()) {
    return doc["code"].get<int>();
  }
  return 0;
}

}  // namespace

int CompareVersions(absl::string_view a, absl::string_view b) {
  std::vector<absl::string_view> pa = absl::StrSplit(a, '.');
  std::vector<absl::string_view> pb = absl::StrSplit(b, '.');
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    int x = 0, y = 0;
    if (i < pa.size()) (void)absl::SimpleAtoi(pa[i], &x);
    if (i < pb.size()) (void)absl::SimpleAtoi(pb[i], &y);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

absl::StatusOr<NetworkList> ParseNetworkConfig(absl::string_view text) {
  ASSIGN_OR_RETURN(Json doc, ParseObject(text, "the network configuration"));
  NetworkList list;
  list.name = StringField(doc, "name");
  list.cni_version = StringField(doc, "cniVersion");
  if (list.cni_version.empty()) list.cni_version = kOldestVersion;
  if (list.name.empty())
    return absl::InvalidArgumentError("the network configuration has no \"name\"");
  if (doc.contains("plugins")) {
    const Json& plugins = doc["plugins"];
    if (!plugins.is_array() || plugins.empty()) {
      return absl::InvalidArgumentError("\"plugins\" is not a list of plugin configurations");
    }
    for (size_t i = 0; i < plugins.size(); ++i) {
      RETURN_IF_ERROR(ValidatePlugin(plugins[i], i));
      list.plugins.push_back(plugins[i]);
    }
    if (doc.contains("disableCheck")) {
      const Json& d = doc["disableCheck"];
      list.disable_check =
          (d.is_boolean() && d.get<bool>()) || (d.is_string() && d.get<std::string>() == "true");
    }
  } else {
    RETURN_IF_ERROR(ValidatePlugin(doc, 0));
    list.plugins.push_back(doc);
  }
  return list;
}

std::vector<std::string> PluginBinaries(const Json& plugin) {
  std::vector<std::string> out = {StringField(plugin, "type")};
  auto ipam = plugin.find("ipam");
  if (ipam != plugin.end() && ipam->is_object()) {
    std::string type = StringField(*ipam, "type");
    if (!type.empty()) out.push_back(type);
  }
  return out;
}

std::string SerializeNetworkList(const NetworkList& list) {
  Json doc = Json::object();
  doc["cniVersion"] = list.cni_version;
  doc["name"] = list.name;
  if (list.disable_check) doc["disableCheck"] = true;
  doc["plugins"] = Json::array();
  for (const Json& p : list.plugins) doc["plugins"].push_back(p);
  return doc.dump();
}

absl::StatusOr<NetworkList> LoadNetwork(const std::string& dir, const std::string& want,
                                        bool require_trusted) {
  std::string dir_path = dir;
  UniqueFd trusted_dir;
  if (require_trusted) {
    absl::StatusOr<UniqueFd> fd = OpenTrusted(dir, PathKind::kDir);
    if (!fd.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("refusing the CNI configuration folder: ", fd.status().message()));
    }
    trusted_dir = std::move(*fd);
    dir_path = FdPath(trusted_dir);
  }
  DIR* d = opendir(dir_path.c_str());
  if (d == nullptr) return ErrnoError(errno, "list the CNI configuration folder", dir);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (absl::EndsWith(name, ".conf") || absl::EndsWith(name, ".conflist") ||
        absl::EndsWith(name, ".json")) {
      names.push_back(name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = absl::StrCat(dir, "/", name);
    std::string text;
    if (require_trusted) {
      absl::StatusOr<UniqueFd> fd = OpenTrusted(path, PathKind::kFile);
      if (!fd.ok()) {
        return absl::PermissionDeniedError(
            absl::StrCat("refusing the CNI configuration: ", fd.status().message()));
      }
      ASSIGN_OR_RETURN(text, ReadLimited(FdPath(*fd), kMaxNetworkConfigSize, path));
    } else {
      ASSIGN_OR_RETURN(text, ReadLimited(path, kMaxNetworkConfigSize, path));
    }
    absl::StatusOr<NetworkList> list = ParseNetworkConfig(text);
    if (!list.ok()) {
      Warn(absl::StrCat("skipping ", path, ": ", list.status().message()));
      continue;
    }
    if (want.empty() || list->name == want) return list;
  }
  return absl::NotFoundError(want.empty()
                                 ? absl::StrCat("no CNI network configuration in ", dir)
                                 : absl::StrCat("no CNI network named ", want, " in ", dir));
}

absl::StatusOr<PluginOutput> SubprocessExecutor::Run(const PluginCall& call) {
  SubprocessOptions o;
  o.argv = {call.path};
  o.env = call.env;
  o.stdin_mode = Stdio::kCapture;
  o.stdin_data = call.stdin_data;
  o.timeout = absl::Minutes(1);
  ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(o));
  PluginOutput out;
  out.exit_code = r.timed_out ? 124 : r.ShellStatus();
  out.out = std::move(r.out);
  out.err = std::move(r.err);
  return out;
}

CniRuntime::CniRuntime(std::string plugin_dir, PluginExecutor* executor,
                       bool require_trusted_plugins)
    : plugin_dir_(std::move(plugin_dir)),
      executor_(executor),
      require_trusted_plugins_(require_trusted_plugins) {}

absl::Status CniRuntime::NotInstalled(const std::string& type) const {
  return absl::FailedPreconditionError(
      absl::StrCat("the CNI plugin ", type, " is not installed in ", plugin_dir_));
}

absl::StatusOr<std::string> CniRuntime::Dir() {
  if (!require_trusted_plugins_) return plugin_dir_;
  if (resolved_dir_.empty()) {
    std::string resolved;
    absl::StatusOr<UniqueFd> fd = OpenTrusted(plugin_dir_, PathKind::kDir, &resolved);
    if (absl::IsNotFound(fd.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("the CNI plugin folder ", plugin_dir_, " does not exist"));
    }
    if (!fd.ok()) {
      return absl::PermissionDeniedError(absl::StrCat("refusing to run the CNI plugins of ",
                                                      plugin_dir_, ": ", fd.status().message()));
    }
    resolved_dir_ = resolved;
  }
  return resolved_dir_;
}

absl::Status CniRuntime::CheckPlugin(const std::string& type) {
  // ParseNetworkConfig saw to it already; a name that leads out of the folder never runs.
  if (!IsPlainName(type, 255)) {
    return absl::PermissionDeniedError("refusing to run a CNI plugin whose type is no plain name");
  }
  if (!require_trusted_plugins_) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string dir, Dir());
  std::string path = absl::StrCat(dir, "/", type);
  absl::StatusOr<UniqueFd> fd = OpenTrusted(path, PathKind::kFile);
  if (absl::IsNotFound(fd.status())) return NotInstalled(type);
  if (!fd.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("refusing to run the CNI plugin ", path, ": ", fd.status().message()));
  }
  return absl::OkStatus();
}

absl::Status CniRuntime::CheckPlugins(const NetworkList& list) {
  ASSIGN_OR_RETURN(std::string dir, Dir());
  for (const Json& plugin : list.plugins) {
    for (const std::string& type : PluginBinaries(plugin)) {
      RETURN_IF_ERROR(CheckPlugin(type));
      std::string path = absl::StrCat(dir, "/", type);
      if (access(path.c_str(), X_OK) != 0) return NotInstalled(type);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CniRuntime::Invoke(const char* command, const Json& plugin,
                                               const NetworkList& list, const RuntimeConf& rt,
                                               const Json* prev_result) {
  std::string type = StringField(plugin, "type");
  ASSIGN_OR_RETURN(std::string dir, Dir());
  std::vector<std::string> binaries = PluginBinaries(plugin);
  for (size_t i = 0; i < binaries.size(); ++i) {
    absl::Status allowed = CheckPlugin(binaries[i]);
    // An IPAM plugin that is missing runs nothing (and only root could add one): the plugin
    // reports it. The plugin's own is NotInstalled, which DEL skips.
    if (i > 0 && absl::IsFailedPrecondition(allowed)) continue;
    RETURN_IF_ERROR(allowed);
  }
  PluginCall call;
  call.path = absl::StrCat(dir, "/", type);
  Json conf = plugin;
  conf["cniVersion"] = list.cni_version;
  conf["name"] = list.name;
  if (prev_result != nullptr) conf["prevResult"] = *prev_result;
  // runtimeConfig carries only what the plugin declares it can take.
  auto caps = plugin.find("capabilities");
  if (caps != plugin.end() && caps->is_object()) {
    Json runtime = Json::object();
    auto pm = caps->find("portMappings");
    if (pm != caps->end() && pm->is_boolean() && pm->get<bool>() && !rt.port_mappings.empty()) {
      Json mappings = Json::array();
      for (const PortMapping& m : rt.port_mappings) {
        mappings.push_back({{"hostPort", m.host_port()},
                            {"containerPort", m.container_port()},
                            {"protocol", "tcp"}});
      }
      runtime["portMappings"] = std::move(mappings);
    }
    if (!runtime.empty()) conf["runtimeConfig"] = std::move(runtime);
  }
  call.stdin_data = conf.dump();
  call.env = {
      absl::StrCat("CNI_COMMAND=", command), absl::StrCat("CNI_CONTAINERID=", rt.container_id),
      absl::StrCat("CNI_NETNS=", rt.netns),  absl::StrCat("CNI_IFNAME=", rt.ifname),
      absl::StrCat("CNI_PATH=", dir),        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
  };
  absl::StatusOr<PluginOutput> out = executor_->Run(call);
  if (absl::IsNotFound(out.status())) return NotInstalled(type);
  if (!out.ok()) return Annotate(out.status(), absl::StrCat("CNI plugin ", type, " ", command));
  if (out->exit_code != 0) {
    std::string message =
        absl::StrCat("CNI plugin ", type, " ", command, " failed: ", CniError(out->out, out->err));
    if (CniErrorCode(out->out) == 11) return absl::UnavailableError(message);  // try again later
    if (absl::StrContains(message, "no IP addresses available") ||
        absl::StrContains(message, "no more addresses")) {
      return absl::ResourceExhaustedError(message);
    }
    return absl::InternalError(message);
  }
  return std::move(out->out);
}

absl::StatusOr<std::string> CniRuntime::Add(const NetworkList& list, const RuntimeConf& rt) {
  Json prev;
  bool have_prev = false;
  for (const Json& plugin : list.plugins) {
    ASSIGN_OR_RETURN(std::string out, Invoke("ADD", plugin, list, rt, have_prev ? &prev : nullptr));
    absl::StatusOr<Json> result = ParseObject(
        out, absl::StrCat("the ADD result of CNI plugin ", StringField(plugin, "type")));
    if (!result.ok()) return absl::InternalError(result.status().message());
    prev = std::move(*result);
    have_prev = true;
  }
  return prev.dump();
}

absl::Status CniRuntime::Del(const NetworkList& list, const RuntimeConf& rt,
                             const std::string& cached_result) {
  Json prev;
  bool have_prev = false;
  if (!cached_result.empty() && CompareVersions(list.cni_version, "0.4.0") >= 0) {
    absl::StatusOr<Json> parsed = ParseObject(cached_result, "the cached ADD result");
    if (parsed.ok()) {
      prev = std::move(*parsed);
      have_prev = true;
    }
  }
  absl::Status first = absl::OkStatus();
  for (auto it = list.plugins.rbegin(); it != list.plugins.rend(); ++it) {
    absl::StatusOr<std::string> out = Invoke("DEL", *it, list, rt, have_prev ? &prev : nullptr);
    if (absl::IsFailedPrecondition(out.status())) {
      // A plugin that is not installed made nothing we could undo with it.
      Warn(absl::StrCat(out.status().message(), "; skipping its DEL"));
      continue;
    }
    if (!out.ok() && first.ok()) first = out.status();
  }
  return first;
}

absl::Status CniRuntime::Check(const NetworkList& list, const RuntimeConf& rt,
                               const std::string& cached_result) {
  if (CompareVersions(list.cni_version, "0.4.0") < 0 || list.disable_check) {
    return absl::OkStatus();
  }
  if (cached_result.empty()) {
    return absl::FailedPreconditionError("CHECK needs the result of ADD, and there is none");
  }
  ASSIGN_OR_RETURN(Json prev, ParseObject(cached_result, "the cached ADD result"));
  for (const Json& plugin : list.plugins) {
    RETURN_IF_ERROR(Invoke("CHECK", plugin, list, rt, &prev).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<ResultSummary> SummarizeResult(absl::string_view text) {
  ASSIGN_OR_RETURN(Json doc, ParseObject(text, "the CNI result"));
  ResultSummary s;
  bool found = false;
  auto take = [&](const Json& entry, const char* address_key) {
    std::string address = StringField(entry, address_key);
    std::optional<Cidr> cidr = ParseCidr(address);
    if (found || !cidr || address.find('/') == std::string::npos) return;
    s.address = *cidr;
    s.gateway = StringField(entry, "gateway");
    found = true;
  };
  if (doc.contains("ips") && doc["ips"].is_array()) {
    for (const Json& ip : doc["ips"]) {
      if (ip.is_object()) take(ip, "address");
    }
  }
  if (doc.contains("ip4") && doc["ip4"].is_object()) take(doc["ip4"], "ip");
  if (!found) return absl::InternalError("the CNI result has no IPv4 address");
  if (doc.contains("interfaces") && doc["interfaces"].is_array()) {
    for (const Json& iface : doc["interfaces"]) {
      if (iface.is_object() && StringField(iface, "sandbox").empty()) {
        s.host_interface = StringField(iface, "name");
        break;
      }
    }
  }
  if (doc.contains("dns") && doc["dns"].is_object()) {
    const Json& dns = doc["dns"];
    for (const char* key : {"nameservers", "search"}) {
      if (!dns.contains(key) || !dns[key].is_array()) continue;
      for (const Json& v : dns[key]) {
        if (v.is_string())
          (std::string(key) == "search" ? s.search : s.nameservers).push_back(v.get<std::string>());
      }
    }
  }
  return s;
}

}  // namespace gdn::netns
