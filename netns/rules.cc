#include "netns/rules.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "netns/ip4.h"

namespace gdn::netns {
namespace {

constexpr uint32_t kAll = 0, kTcp = 1, kUdp = 2, kIcmp = 3, kIcmpv6 = 4;
constexpr char kReject[] = "-j REJECT --reject-with icmp-port-unreachable";
constexpr char kLocalnetGuard[] =
    "-d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP";

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("net-out rule: ", why));
}

// A range's end may be left out: then it is the start.
std::string EndOrStart(const IPRange& r) { return r.end().empty() ? r.start() : r.end(); }
uint32_t EndOrStart(const PortRange& r) { return r.end() == 0 ? r.start() : r.end(); }

}  // namespace

std::string ChainId(const std::string& prefix, const std::string& handle, int salt) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(prefix);
  mix(absl::string_view("\0", 1));
  mix(handle);
  if (salt > 0) {
    mix(absl::string_view("\0", 1));
    mix(absl::StrCat(salt));
  }
  std::string hex = absl::StrFormat("%016x", h);
  size_t keep = std::min<size_t>(16, 26 - std::min<size_t>(prefix.size(), 18));
  return hex.substr(0, keep);
}

std::string OutChain(const std::string& prefix, const std::string& id) {
  return absl::StrCat(prefix, "o-", id);
}
std::string InChain(const std::string& prefix, const std::string& id) {
  return absl::StrCat(prefix, "i-", id);
}

absl::Status ValidateNetOutRule(const NetOutRule& rule) {
  if (rule.protocol() == kIcmpv6) {
    return Invalid("protocol icmpv6 needs IPv6, and netns gives containers IPv4 only");
  }
  if (rule.protocol() > kIcmpv6) return Invalid(absl::StrCat("unknown protocol ", rule.protocol()));
  for (const IPRange& r : rule.networks()) {
    std::optional<uint32_t> start = ParseIPv4(r.start());
    std::optional<uint32_t> end = ParseIPv4(EndOrStart(r));
    if (!start || !end) {
      return Invalid(absl::StrCat("network ", r.start(), "-", r.end(), " is not an IPv4 range"));
    }
    if (*start > *end) {
      return Invalid(absl::StrCat("network ", r.start(), "-", r.end(), " ends before it starts"));
    }
  }
  // Each network meets each port range in a rule line of its own: bounded, so that one
  // request cannot make a root process build billions of them.
  if (static_cast<int64_t>(std::max(rule.networks_size(), 1)) * std::max(rule.ports_size(), 1) > 4096) {
    return Invalid(absl::StrCat("a rule of ", rule.networks_size(), " networks and ", rule.ports_size(),
                                " port ranges makes more than 4096 iptables rules"));
  }
  if (rule.ports_size() > 0 && rule.protocol() == kAll) {
    return Invalid("ports need protocol tcp or udp, not all");
  }
  if (rule.protocol() == kTcp || rule.protocol() == kUdp) {
    for (const PortRange& p : rule.ports()) {
      if (p.start() < 1 || p.start() > 65535 || EndOrStart(p) > 65535 ||
          EndOrStart(p) < p.start()) {
        return Invalid(
            absl::StrCat("port range ", p.start(), "-", p.end(), " is not within 1-65535"));
      }
    }
  }
  if (rule.has_icmps()) {
    if (rule.protocol() != kIcmp) return Invalid("icmps go with protocol icmp only");
    if (rule.icmps().type() > 255 || (rule.icmps().has_code() && rule.icmps().code() > 255)) {
      return Invalid("icmp type and code are 0-255");
    }
  }
  return absl::OkStatus();
}

void Batch::Append(const Batch& other) {
  filter.insert(filter.end(), other.filter.begin(), other.filter.end());
  nat.insert(nat.end(), other.nat.begin(), other.nat.end());
}

std::string Batch::Text() const {
  std::string out;
  // nat first: a failure there (a missing base chain) leaves filter untouched too.
  for (const auto& [table, lines] : {std::pair{"nat", &nat}, std::pair{"filter", &filter}}) {
    if (lines->empty()) continue;
    absl::StrAppend(&out, "*", table, "\n");
    for (const std::string& l : *lines) absl::StrAppend(&out, l, "\n");
    absl::StrAppend(&out, "COMMIT\n");
  }
  return out;
}

std::vector<std::string> NetOutRuleSpecs(const NetOutRule& rule, bool log,
                                         const std::string& log_prefix) {
  std::string proto;
  switch (rule.protocol()) {
    case kTcp:
      proto = "-p tcp";
      break;
    case kUdp:
      proto = "-p udp";
      break;
    case kIcmp:
      proto = "-p icmp";
      break;
    default:
      break;
  }
  std::vector<std::string> destinations;
  for (const IPRange& r : rule.networks()) {
    // Formatted from the parsed numbers, never from the caller's strings (checked before).
    std::string start = FormatIPv4(ParseIPv4(r.start()).value_or(0));
    std::string end = FormatIPv4(ParseIPv4(EndOrStart(r)).value_or(0));
    destinations.push_back(start == end ? absl::StrCat("-d ", start, "/32")
                                        : absl::StrCat("-m iprange --dst-range ", start, "-", end));
  }
  if (destinations.empty()) destinations.push_back("");
  std::vector<std::string> extras;
  if (rule.protocol() == kTcp || rule.protocol() == kUdp) {
    const char* match = rule.protocol() == kTcp ? "-m tcp" : "-m udp";
    for (const PortRange& p : rule.ports()) {
      uint32_t end = EndOrStart(p);
      extras.push_back(end == p.start() ? absl::StrCat(match, " --dport ", p.start())
                                        : absl::StrCat(match, " --dport ", p.start(), ":", end));
    }
  } else if (rule.protocol() == kIcmp && rule.has_icmps()) {
    extras.push_back(
        rule.icmps().has_code()
            ? absl::StrCat("-m icmp --icmp-type ", rule.icmps().type(), "/", rule.icmps().code())
            : absl::StrCat("-m icmp --icmp-type ", rule.icmps().type()));
  }
  if (extras.empty()) extras.push_back("");
  std::vector<std::string> specs;
  for (const std::string& d : destinations) {
    for (const std::string& e : extras) {
      std::string match;
      for (const std::string* part : {static_cast<const std::string*>(&proto), &d, &e}) {
        if (part->empty()) continue;
        if (!match.empty()) match += " ";
        match += *part;
      }
      std::string sep = match.empty() ? "" : " ";
      if (log || rule.log()) {
        specs.push_back(absl::StrCat(
            match, sep, "-m conntrack --ctstate NEW -j LOG --log-prefix \"", log_prefix, "\""));
      }
      specs.push_back(absl::StrCat(match, sep, "-j ACCEPT"));
    }
  }
  return specs;
}

namespace {

std::string LogPrefix(const ContainerRules& c) {
  // iptables takes at most 29 characters; handles are plain names (no quotes, no spaces).
  return absl::StrCat(c.handle.substr(0, 27), ": ");
}

void AppendRuleLines(const ContainerRules& c, const std::vector<NetOutRule>& rules, Batch* b) {
  std::string chain = OutChain(c.base.prefix, c.id);
  for (const NetOutRule& r : rules) {
    for (const std::string& spec : NetOutRuleSpecs(r, c.log_all, LogPrefix(c))) {
      b->filter.push_back(absl::StrCat("-A ", chain, " ", spec));
    }
  }
}

std::string SourceJump(const ContainerRules& c) {
  return absl::StrCat(c.base.forward(), " -s ", c.ip, "/32 -j ", OutChain(c.base.prefix, c.id));
}
std::string SourceReject(const ContainerRules& c) {
  return absl::StrCat(c.base.forward(), " -s ", c.ip, "/32 ", kReject);
}
// What 127.0.0.1 sends to a mapped port leaves with the bridge's address, so that the
// container's answer comes back to the host.
std::string MasqueradeSpec(const ContainerRules& c) {
  return absl::StrCat("-s 127.0.0.0/8 -d ", c.ip, "/32 -o ", c.bridge, " -j MASQUERADE");
}

void AppendDnat(const ContainerRules& c, const std::vector<PortMapping>& mappings, Batch* b) {
  std::string chain = InChain(c.base.prefix, c.id);
  std::string where = c.instance_address.empty() ? std::string("-m addrtype --dst-type LOCAL")
                                                 : absl::StrCat("-d ", c.instance_address, "/32");
  for (const PortMapping& m : mappings) {
    b->nat.push_back(absl::StrCat("-A ", chain, " ", where, " -p tcp -m tcp --dport ",
                                  m.host_port(), " -j DNAT --to-destination ", c.ip, ":",
                                  m.container_port()));
  }
}

}  // namespace

Batch CreateEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules) {
  Batch b;
  std::string chain = OutChain(c.base.prefix, c.id);
  b.filter.push_back(absl::StrCat(":", chain, " - [0:0]"));
  b.filter.push_back(
      absl::StrCat("-A ", chain, " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"));
  AppendRuleLines(c, rules, &b);
  return b;
}

Batch HookEgress(const ContainerRules& c) {
  Batch b;
  std::string chain = OutChain(c.base.prefix, c.id);
  // Right after the first rule (established and related): the container's own networks.
  int position = 2;
  for (const std::string* net : {&c.subnet, &c.overlay}) {
    if (net->empty()) continue;
    b.filter.push_back(absl::StrCat("-I ", chain, " ", position++, " -d ", *net, " -j ACCEPT"));
  }
  // Inserted at the top, the jump above the REJECT.
  b.filter.push_back(absl::StrCat("-I ", c.base.forward(), " 1 -s ", c.ip, "/32 ", kReject));
  b.filter.push_back(absl::StrCat("-I ", c.base.forward(), " 1 -s ", c.ip, "/32 -j ", chain));
  return b;
}

Batch InstallEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules) {
  Batch b = CreateEgress(c, rules);
  b.Append(HookEgress(c));
  return b;
}

Batch AppendEgress(const ContainerRules& c, const std::vector<NetOutRule>& rules) {
  Batch b;
  AppendRuleLines(c, rules, &b);
  return b;
}

Batch RemoveEgress(const ContainerRules& c) {
  Batch b;
  std::string chain = OutChain(c.base.prefix, c.id);
  if (!c.ip.empty()) {
    b.filter.push_back(absl::StrCat("-D ", SourceJump(c)));
    b.filter.push_back(absl::StrCat("-D ", SourceReject(c)));
  }
  b.filter.push_back(absl::StrCat("-F ", chain));
  b.filter.push_back(absl::StrCat("-X ", chain));
  return b;
}

Batch InstallIngress(const ContainerRules& c, const std::vector<PortMapping>& mappings) {
  Batch b;
  std::string chain = InChain(c.base.prefix, c.id);
  b.nat.push_back(absl::StrCat(":", chain, " - [0:0]"));
  AppendDnat(c, mappings, &b);
  b.nat.push_back(absl::StrCat("-I ", c.base.prerouting(), " 1 -j ", chain));
  b.nat.push_back(absl::StrCat("-I ", c.base.output(), " 1 -j ", chain));
  if (!c.bridge.empty()) {
    b.nat.push_back(absl::StrCat("-I ", c.base.postrouting(), " 1 ", MasqueradeSpec(c)));
  }
  return b;
}

Batch AppendIngress(const ContainerRules& c, const std::vector<PortMapping>& mappings) {
  Batch b;
  AppendDnat(c, mappings, &b);
  return b;
}

Batch RemoveIngress(const ContainerRules& c) {
  Batch b;
  std::string chain = InChain(c.base.prefix, c.id);
  b.nat.push_back(absl::StrCat("-D ", c.base.prerouting(), " -j ", chain));
  b.nat.push_back(absl::StrCat("-D ", c.base.output(), " -j ", chain));
  if (!c.bridge.empty()) {
    b.nat.push_back(absl::StrCat("-D ", c.base.postrouting(), " ", MasqueradeSpec(c)));
  }
  b.nat.push_back(absl::StrCat("-F ", chain));
  b.nat.push_back(absl::StrCat("-X ", chain));
  return b;
}

std::vector<std::string> SubnetGuardLines(const BaseChains& base, const std::string& subnet,
                                          const std::string& overlay) {
  std::string from = absl::StrCat("-A ", base.forward(), " -s ", subnet);
  std::vector<std::string> lines = {
      absl::StrCat(from, " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
      absl::StrCat(from, " -d ", subnet, " -j ACCEPT"),
  };
  if (!overlay.empty() && overlay != subnet) lines.push_back(absl::StrCat(from, " -d ", overlay, " -j ACCEPT"));
  lines.push_back(absl::StrCat(from, " ", kReject));
  return lines;
}

Batch MissingSubnetGuard(const BaseChains& base, const std::string& subnet,
                         const std::string& overlay, const std::string& filter_save) {
  std::set<std::string> saved;
  for (absl::string_view l : absl::StrSplit(filter_save, '\n')) {
    saved.insert(std::string(absl::StripTrailingAsciiWhitespace(l)));
  }
  std::vector<std::string> lines = SubnetGuardLines(base, subnet, overlay);
  Batch b;
  bool complete = true;
  for (const std::string& l : lines) complete = complete && saved.count(l) > 0;
  if (complete) return b;
  // In order or not at all: a REJECT left above its ACCEPTs would cut them off.
  for (const std::string& l : lines) {
    if (saved.count(l) > 0) b.filter.push_back(absl::StrCat("-D", l.substr(2)));
  }
  b.filter.insert(b.filter.end(), lines.begin(), lines.end());
  return b;
}

Batch AddLocalnetGuard(const BaseChains& base, const std::string& bridge) {
  Batch b;
  b.filter.push_back(absl::StrCat("-I ", base.input(), " 1 -i ", bridge, " ", kLocalnetGuard));
  return b;
}

Batch RemoveLocalnetGuard(const BaseChains& base, const std::string& bridge) {
  Batch b;
  b.filter.push_back(absl::StrCat("-D ", base.input(), " -i ", bridge, " ", kLocalnetGuard));
  return b;
}

Batch MissingBaseChains(const BaseChains& base, const std::string& filter_save,
                        const std::string& nat_save) {
  struct Need {
    bool nat;
    const char* builtin;
    std::string chain;
  };
  const Need needs[] = {
      {false, "INPUT", base.input()},
      {false, "FORWARD", base.forward()},
      {true, "PREROUTING", base.prerouting()},
      {true, "OUTPUT", base.output()},
      {true, "POSTROUTING", base.postrouting()},
  };
  Batch b;
  for (const Need& n : needs) {
    const std::string& save = n.nat ? nat_save : filter_save;
    std::set<std::string> lines;
    for (absl::string_view l : absl::StrSplit(save, '\n'))
      lines.insert(std::string(absl::StripTrailingAsciiWhitespace(l)));
    bool have_chain = false;
    for (const std::string& l : lines) {
      if (absl::StartsWith(l, absl::StrCat(":", n.chain, " "))) have_chain = true;
    }
    std::vector<std::string>& out = n.nat ? b.nat : b.filter;
    if (!have_chain) out.push_back(absl::StrCat(":", n.chain, " - [0:0]"));
    if (lines.count(absl::StrCat("-A ", n.builtin, " -j ", n.chain)) == 0) {
      out.push_back(absl::StrCat("-A ", n.builtin, " -j ", n.chain));
    }
  }
  return b;
}

}  // namespace gdn::netns
