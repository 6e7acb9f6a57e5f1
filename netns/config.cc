#include "netns/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/fd.h"
#include "lib/lite_json.h"
#include "lib/status.h"
#include "netns/ip4.h"
#include "netns/trust.h"

namespace gdn::netns {
namespace {

// The messages name fields and never quote their values: the file may be one the caller of a
// setuid netns cannot read (its path is all they learn).
absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("configuration: ", field, " ", why));
}

absl::Status NeedAbsolute(absl::string_view field, const std::string& value, bool required) {
  if (value.empty()) return required ? Invalid(field, "is missing") : absl::OkStatus();
  if (value[0] != '/') return Invalid(field, "must be an absolute path");
  if (absl::StrContains(value, "/../") || absl::EndsWith(value, "/..")) {
    return Invalid(field, "must not contain ..");
  }
  return absl::OkStatus();
}

bool ChainPrefixOk(const std::string& p) {
  if (p.empty() || p.size() > kMaxChainPrefix) return false;
  for (char c : p) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

std::string DefaultConfigPath(uid_t uid) { return absl::StrCat("/etc/gdn/network/", uid, ".json"); }

absl::StatusOr<Config> ParseConfig(absl::string_view json) {
  Config c;
  absl::Status parsed = GoJsonToLite(json, &c);
  if (!parsed.ok()) return Annotate(parsed, "configuration");
  if (c.cni_plugin_dir().empty()) c.set_cni_plugin_dir(kDefaultPluginDir);
  RETURN_IF_ERROR(NeedAbsolute("cni_plugin_dir", c.cni_plugin_dir(), true));
  RETURN_IF_ERROR(NeedAbsolute("cni_config_dir", c.cni_config_dir(), true));
  RETURN_IF_ERROR(NeedAbsolute("bind_mount_dir", c.bind_mount_dir(), true));
  RETURN_IF_ERROR(NeedAbsolute("state_file", c.state_file(), true));
  RETURN_IF_ERROR(NeedAbsolute("iptables_lock_file", c.iptables_lock_file(), false));
  if (c.start_port() == 0) c.set_start_port(kDefaultStartPort);
  if (c.total_ports() == 0) c.set_total_ports(kDefaultTotalPorts);
  if (uint64_t{c.start_port()} + c.total_ports() - 1 > 65535) {
    return Invalid("start_port", "+ total_ports runs past 65535");
  }
  if (c.chain_prefix().empty()) c.set_chain_prefix(kDefaultChainPrefix);
  if (!ChainPrefixOk(c.chain_prefix())) {
    return Invalid("chain_prefix",
                   absl::StrCat("must be 1 to ", kMaxChainPrefix, " of A-Z a-z 0-9 - _"));
  }
  if (!c.overlay_network().empty() && !ParseCidr(c.overlay_network())) {
    return Invalid("overlay_network", "is not an IPv4 CIDR");
  }
  if (!c.instance_address().empty() && !ParseIPv4(c.instance_address())) {
    return Invalid("instance_address", "is not an IPv4 address");
  }
  if (!c.cni_network().empty() && c.cni_network().find('/') != std::string::npos) {
    return Invalid("cni_network", "is a network name, not a path");
  }
  return c;
}

absl::StatusOr<Config> LoadConfig(const std::optional<std::string>& given, uid_t caller) {
  std::string path = given.value_or(DefaultConfigPath(caller));
  std::string text;
  if (caller == 0) {
    absl::StatusOr<std::string> read = ReadLimited(path, kMaxConfigSize, path);
    if (absl::IsNotFound(read.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("no configuration at ", path, given ? "" : " (run setup)"));
    }
    if (!read.ok()) return read.status();
    text = std::move(*read);
  } else {
    // A file the caller could not read themselves is none of their business: its existence,
    // owner or mode are not told either. access(2) asks as the real uid, the caller.
    absl::StatusOr<UniqueFd> fd = absl::UnknownError("unchecked");
    if (access(path.c_str(), R_OK) != 0) {
      fd = ErrnoError(errno, "read", path);
    } else {
      fd = OpenTrusted(path, PathKind::kFile);
    }
    if (!fd.ok()) {
      if (absl::IsNotFound(fd.status()) && !given) {
        return absl::FailedPreconditionError(absl::StrCat("this host is not set up for uid ",
                                                          caller, ": no ", path, " (run setup)"));
      }
      return absl::PermissionDeniedError(absl::StrCat(
          "refusing the configuration ", path, ": ", fd.status().message(),
          " (a setuid netns only takes a root-owned configuration that no one else can change)"));
    }
    ASSIGN_OR_RETURN(text, ReadLimited(FdPath(*fd), kMaxConfigSize, path));
  }
  absl::StatusOr<Config> config = ParseConfig(text);
  if (!config.ok()) return Annotate(config.status(), path);
  if (caller != 0 && config->uid() != 0 && config->uid() != caller) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the configuration ", path, " is for another uid, not for you (", caller, ")"));
  }
  return config;
}

}  // namespace gdn::netns
