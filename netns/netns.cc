#include "netns/netns.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/names.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "netns/cni.h"
#include "netns/config.h"
#include "netns/ip4.h"
#include "netns/iptables.h"
#include "netns/rules.h"
#include "netns/state.h"
#include "netns/target.h"
#include "netns/trust.h"
#include "netns/warnings.h"

namespace gdn::netns {
namespace {

constexpr char kIfName[] = "eth0";
constexpr char kDefaultIptablesLock[] = "/run/gdn-netns-iptables.lock";
constexpr absl::Duration kStateLockTimeout = absl::Minutes(2);
constexpr size_t kMaxInput = 16 << 20;

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

std::string Dirname(const std::string& path) {
  std::string::size_type slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Makes `dir` (root's, 0755) and, for a caller other than root, checks that no one else can
// change it: a state or mount folder someone could swap would let them steer root.
absl::Status PrepareDir(const std::string& dir, uid_t caller) {
  RETURN_IF_ERROR(MakeDirs(dir, 0755));
  if (caller == 0) return absl::OkStatus();
  absl::StatusOr<UniqueFd> fd = OpenTrusted(dir, PathKind::kDir);
  if (!fd.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("refusing the folder ", dir, ": ", fd.status().message()));
  }
  return absl::OkStatus();
}

// Makes the folder of the bind mounts root's alone (0700): no one else lists the handles in
// it or opens the namespaces. For a caller other than root it must be trusted, as PrepareDir.
absl::Status PrepareMountDir(const std::string& dir, uid_t caller) {
  return MakeRootOnlyDir(dir, /*require_trusted=*/caller != 0);
}

// Keeps the network namespace alive at `path` with a bind mount, made by descriptor.
absl::Status BindNetns(const std::string& path, int netns_fd) {
  int raw = open(path.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (raw < 0) return ErrnoError(errno, "create the mount point", path);
  UniqueFd target(raw);
  std::string source = absl::StrCat("/proc/self/fd/", netns_fd);
  if (mount(source.c_str(), FdPath(target).c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError(errno, "bind-mount (MS_BIND) the network namespace onto", path);
  }
  return absl::OkStatus();
}

bool IsNetnsMount(const std::string& path) {
  struct statfs s;
  return !path.empty() && statfs(path.c_str(), &s) == 0 && s.f_type == NSFS_MAGIC;
}

void UnbindNetns(const std::string& path) {
  for (int i = 0; i < 8 && umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0; ++i) {
  }
  unlink(path.c_str());
}

// Has the container's init, the pid namespace's, ended (gone, a zombie, or its pid another
// process's now)? Its namespace's processes all ended before it did (the kernel kills and
// reaps them as the init exits).
bool InitEnded(const ContainerState& c) {
  if (!c.pid_namespace_init() || c.pid_start_time() == 0 || c.pid() <= 0 || c.pid() > INT_MAX) {
    return false;
  }
  ProcessStart now = ReadProcessStart(static_cast<pid_t>(c.pid()));
  return now.start_time != c.pid_start_time() || !now.running;
}

std::string RouteLocalnetPath(const std::string& bridge) {
  return absl::StrCat("/proc/sys/net/ipv4/conf/", bridge, "/route_localnet");
}

absl::Status WriteSysctl(const std::string& path, const std::string& value) {
  ASSIGN_OR_RETURN(UniqueFd fd, Open(path, O_WRONLY));
  return WriteAll(fd.get(), value);
}

template <typename Message>
absl::Status ParseInput(absl::string_view input, const char* action, Message* msg) {
  if (absl::StripAsciiWhitespace(input).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(action, " needs its JSON input on stdin"));
  }
  absl::Status s = GoJsonToLite(input, msg);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(action, " input: ", s.message()));
  return absl::OkStatus();
}

std::string MappedPortsJson(const ContainerState& c) {
  std::string out = "[";
  for (int i = 0; i < c.port_mappings_size(); ++i) {
    const PortMapping& m = c.port_mappings(i);
    absl::StrAppend(&out, i ? "," : "", "{\"HostPort\":", m.host_port(),
                    ",\"ContainerPort\":", m.container_port(), "}");
  }
  return out + "]";
}

class Network {
 public:
  Network(const Config& config, uid_t caller)
      : config_(config),
        caller_(caller),
        base_{config.chain_prefix()},
        cni_(config.cni_plugin_dir(), &executor_, caller != 0),
        iptables_(base_, config.iptables_lock_file().empty() ? kDefaultIptablesLock
                                                             : config.iptables_lock_file()) {}

  absl::StatusOr<std::string> Up(const std::string& handle, absl::string_view input);
  absl::StatusOr<std::string> Down(const std::string& handle);
  absl::StatusOr<std::string> NetIn(const std::string& handle, absl::string_view input);
  absl::StatusOr<std::string> NetOut(const std::string& handle, const std::string& container_ip,
                                     const std::vector<NetOutRule>& rules);
  absl::StatusOr<std::string> Check(const std::string& handle);

 private:
  absl::StatusOr<StateFile> LockState() {
    RETURN_IF_ERROR(PrepareDir(Dirname(config_.state_file()), caller_));
    return StateFile::Lock(config_.state_file(), kStateLockTimeout);
  }
  // The container of `handle`, if the caller may act on it.
  absl::StatusOr<ContainerState*> Owned(State* state, const std::string& handle, bool need_up);
  ContainerRules RulesOf(const ContainerState& c) const;
  // A host port for `want` (host_port 0: from the pool).
  absl::StatusOr<PortMapping> Reserve(State* state, const PortMapping& want);
  // Records a localnet guard for `bridge` (with its route_localnet now) unless it has one;
  // whether it recorded one.
  static bool RecordGuard(State* state, const std::string& bridge);
  // Undoes everything made for `handle` and removes it from `state` (kept, marked, when the
  // CNI DEL failed, so that another down can try again).
  absl::Status TearDown(State* state, const std::string& handle);
  // The state, whose guarded subnets the iptables runs then know (to make them again with
  // base chains that went missing).
  absl::StatusOr<State> Load(const StateFile& store);
  // Whether netns made the guard of `subnet` (state.guarded_subnets).
  bool Guarded(const State& state, const std::string& subnet) const;

  const Config& config_;
  uid_t caller_;
  BaseChains base_;
  SubprocessExecutor executor_;
  CniRuntime cni_;
  Iptables iptables_;
};

absl::StatusOr<ContainerState*> Network::Owned(State* state, const std::string& handle,
                                               bool need_up) {
  ContainerState* c = FindContainer(state, handle);
  if (c == nullptr)
    return absl::NotFoundError(absl::StrCat("no network for handle ", handle, " (up first)"));
  if (caller_ != 0 && c->owner_uid() != caller_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "handle ", handle, " belongs to uid ", c->owner_uid(), ", not to you (", caller_, ")"));
  }
  if (need_up && c->cni_result().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("up of ", handle, " has not finished; down it"));
  }
  return c;
}

ContainerRules Network::RulesOf(const ContainerState& c) const {
  ContainerRules r;
  r.base = base_;
  r.id = c.chain_id();
  r.handle = c.handle();
  r.ip = c.container_ip();
  r.subnet = c.subnet();
  if (std::optional<Cidr> overlay = ParseCidr(config_.overlay_network()))
    r.overlay = overlay->Network();
  r.bridge = c.host_interface();
  r.instance_address = config_.instance_address();
  r.log_all = config_.iptables_asg_logging();
  return r;
}

absl::StatusOr<PortMapping> Network::Reserve(State* state, const PortMapping& want) {
  if (want.host_port() > 65535 || want.container_port() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", want.host_port(), ":", want.container_port(), " is beyond 65535"));
  }
  PortMapping m;
  if (want.host_port() == 0) {
    ASSIGN_OR_RETURN(uint32_t port,
                     AllocatePort(state, config_.start_port(), config_.total_ports()));
    m.set_host_port(port);
  } else {
    uint32_t first = config_.start_port(), last = config_.start_port() + config_.total_ports() - 1;
    if (caller_ != 0 && (want.host_port() < first || want.host_port() > last)) {
      return absl::PermissionDeniedError(
          absl::StrCat("host port ", want.host_port(), " is outside your pool ", first, "-", last));
    }
    if (PortInUse(*state, want.host_port())) {
      return absl::AlreadyExistsError(
          absl::StrCat("host port ", want.host_port(), " is already mapped"));
    }
    m.set_host_port(want.host_port());
  }
  m.set_container_port(want.container_port() == 0 ? m.host_port() : want.container_port());
  return m;
}

absl::StatusOr<State> Network::Load(const StateFile& store) {
  ASSIGN_OR_RETURN(State state, store.Load());
  std::string overlay;
  if (std::optional<Cidr> o = ParseCidr(config_.overlay_network())) overlay = o->Network();
  iptables_.KnowGuards({state.guarded_subnets().begin(), state.guarded_subnets().end()}, overlay);
  return state;
}

bool Network::Guarded(const State& state, const std::string& subnet) const {
  for (const std::string& s : state.guarded_subnets()) {
    if (s == subnet) return true;
  }
  return false;
}

bool Network::RecordGuard(State* state, const std::string& bridge) {
  if (bridge.empty()) return false;
  for (const LocalnetGuard& g : state->guards()) {
    if (g.bridge() == bridge) return false;
  }
  LocalnetGuard* g = state->add_guards();
  g->set_bridge(bridge);
  absl::StatusOr<std::string> before = ReadFile(RouteLocalnetPath(bridge));
  g->set_route_localnet_before(before.ok() ? std::string(absl::StripAsciiWhitespace(*before))
                                           : "0");
  return true;
}

absl::Status Network::TearDown(State* state, const std::string& handle) {
  ContainerState* c = FindContainer(state, handle);
  if (c == nullptr) return absl::OkStatus();
  ContainerRules rules = RulesOf(*c);
  Batch removal;
  if (c->nat_installed()) removal.Append(RemoveIngress(rules));
  if (c->filter_installed()) removal.Append(RemoveEgress(rules));
  // The bridge's guard goes with the last container that maps ports through it.
  std::optional<LocalnetGuard> drop_guard;
  if (c->nat_installed() && !c->host_interface().empty()) {
    bool others = false;
    for (const ContainerState& o : state->containers()) {
      others =
          others || (&o != c && o.nat_installed() && o.host_interface() == c->host_interface());
    }
    for (const LocalnetGuard& g : state->guards()) {
      if (!others && g.bridge() == c->host_interface()) drop_guard = g;
    }
  }
  if (drop_guard) removal.Append(RemoveLocalnetGuard(base_, drop_guard->bridge()));

  // The rules go first, in a session left open while the CNI DEL runs: the grace period
  // that deleting rules costs then passes meanwhile (see iptables.h).
  std::unique_ptr<Iptables::Session> session;
  if (!removal.empty()) {
    absl::StatusOr<std::unique_ptr<Iptables::Session>> begun = iptables_.Begin();
    if (begun.ok()) {
      session = std::move(*begun);
      (void)session->Send(removal);
    }
  }
  // A container whose processes have all ended: its network namespace goes with the bind
  // mount, and the kernel removes the interface with it (after this returns; deleting it here
  // would wait out RCU grace periods, ~15 ms). The DEL then gets no namespace and only gives
  // back the address, as CNI has it for a namespace that is gone. A process that joined the
  // namespace alone (setns) keeps it, and the interface, until it leaves.
  if (!c->netns_path().empty() && InitEnded(*c)) UnbindNetns(c->netns_path());
  absl::Status cni_status = absl::OkStatus();
  if (!c->cni_config().empty()) {
    absl::StatusOr<NetworkList> list = ParseNetworkConfig(c->cni_config());
    if (list.ok()) {
      RuntimeConf rt;
      rt.container_id = handle;
      rt.netns = IsNetnsMount(c->netns_path()) ? c->netns_path() : "";
      rt.ifname = kIfName;
      rt.port_mappings.assign(c->port_mappings().begin(), c->port_mappings().end());
      cni_status = cni_.Del(*list, rt, c->cni_result());
    } else {
      cni_status = Annotate(list.status(), "the cached CNI configuration");
    }
  }
  if (!removal.empty() && (session == nullptr || !session->Finish().ok())) {
    iptables_.Sweep(removal);  // it was cut short, or it never was: rule by rule
  }
  if (!c->netns_path().empty()) UnbindNetns(c->netns_path());
  if (drop_guard) {
    (void)WriteSysctl(
        RouteLocalnetPath(drop_guard->bridge()),
        drop_guard->route_localnet_before().empty() ? "0" : drop_guard->route_localnet_before());
    auto* guards = state->mutable_guards();
    for (int i = 0; i < guards->size(); ++i) {
      if (guards->Get(i).bridge() == drop_guard->bridge()) guards->DeleteSubrange(i--, 1);
    }
  }
  if (!cni_status.ok()) {
    c->set_filter_installed(false);
    c->set_nat_installed(false);
    c->set_netns_path("");
    return cni_status;
  }
  RemoveContainer(state, handle);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Network::Up(const std::string& handle, absl::string_view input) {
  // Plan and validate everything first.
  UpInput in;
  RETURN_IF_ERROR(ParseInput(input, "up", &in));
  if (in.pid() <= 0 || in.pid() > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("Pid ", in.pid(), " is no process id"));
  }
  std::vector<NetOutRule> rules(in.netout_rules().begin(), in.netout_rules().end());
  for (const NetOutRule& r : rules) RETURN_IF_ERROR(ValidateNetOutRule(r));
  ASSIGN_OR_RETURN(Target target, OpenTarget(static_cast<pid_t>(in.pid())));
  RETURN_IF_ERROR(CheckTarget(caller_, target.facts));
  ASSIGN_OR_RETURN(NetworkList list,
                   LoadNetwork(config_.cni_config_dir(), config_.cni_network(), caller_ != 0));
  RETURN_IF_ERROR(cni_.CheckPlugins(list));
  RETURN_IF_ERROR(PrepareMountDir(config_.bind_mount_dir(), caller_));
  ASSIGN_OR_RETURN(StateFile store, LockState());
  ASSIGN_OR_RETURN(State state, Load(store));
  if (FindContainer(&state, handle) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("handle ", handle, " already has a network"));
  }
  // Recorded before anything is made, so that down can always find it.
  ContainerState* c = state.add_containers();
  c->set_handle(handle);
  c->set_owner_uid(caller_);
  c->set_pid(in.pid());
  c->set_pid_namespace_init(target.facts.pid_ns_init);
  c->set_pid_start_time(target.facts.start_time);
  c->set_chain_id(UniqueChainId(state, base_.prefix, handle));
  c->set_netns_path(absl::StrCat(config_.bind_mount_dir(), "/", handle));
  c->set_cni_config(SerializeNetworkList(list));
  // A container with net-out rules gets its own egress chain, made while the CNI ADD runs;
  // one without relies on its subnet's guard (rules.h) and needs no rule of its own.
  bool own_chain = !rules.empty();
  c->set_filter_installed(own_chain);
  for (const PortMapping& want : in.netin()) {
    ASSIGN_OR_RETURN(PortMapping m, Reserve(&state, want));
    *c->add_port_mappings() = m;
  }
  RETURN_IF_ERROR(store.Save(state));
  absl::Cleanup undo = [&] {
    (void)TearDown(&state, handle);
    (void)store.Save(state);
  };

  // iptables-restore starts now and makes the egress chain (which needs no address) while the
  // CNI ADD runs; it gets the rest after. (Declared after `undo`: it must end before a
  // teardown takes the lock again.)
  std::unique_ptr<Iptables::Session> session;
  Batch created;
  if (own_chain) {
    ASSIGN_OR_RETURN(session, iptables_.Begin());
    created = CreateEgress(RulesOf(*c), rules);
    RETURN_IF_ERROR(session->Send(created));
  }
  RETURN_IF_ERROR(BindNetns(c->netns_path(), target.netns.get()));
  RuntimeConf rt;
  rt.container_id = handle;
  rt.netns = c->netns_path();
  rt.ifname = kIfName;
  rt.port_mappings.assign(c->port_mappings().begin(), c->port_mappings().end());
  ASSIGN_OR_RETURN(std::string result, cni_.Add(list, rt));
  c->set_cni_result(result);
  ASSIGN_OR_RETURN(ResultSummary summary, SummarizeResult(result));
  c->set_container_ip(summary.address.Address());
  c->set_gateway_ip(summary.gateway);
  c->set_subnet(summary.address.Network());
  // A host interface name goes into a /proc/sys path and iptables rules: plain names only.
  if (IsPlainName(summary.host_interface, 15)) c->set_host_interface(summary.host_interface);
  *c->mutable_netout_rules() = in.netout_rules();
  c->set_nat_installed(c->port_mappings_size() > 0);
  bool new_guard = c->nat_installed() && RecordGuard(&state, c->host_interface());
  RETURN_IF_ERROR(store.Save(state));

  ContainerRules r = RulesOf(*c);
  Batch batch, batch_undo;
  if (own_chain) {
    batch = HookEgress(r);
    batch_undo = RemoveEgress(r);
  }
  if (c->nat_installed()) {
    batch.Append(InstallIngress(r, rt.port_mappings));
    batch_undo.Append(RemoveIngress(r));
  }
  if (new_guard) {
    batch.Append(AddLocalnetGuard(base_, c->host_interface()));
    batch_undo.Append(RemoveLocalnetGuard(base_, c->host_interface()));
  }
  if (session != nullptr) {
    RETURN_IF_ERROR(iptables_.Apply(created, batch, batch_undo, std::move(session)));
  } else if (!batch.empty()) {
    RETURN_IF_ERROR(iptables_.Apply(batch, batch_undo));
  }
  if (!own_chain && !Guarded(state, r.subnet)) {
    // The first container of its subnet without rules: the guard, once.
    RETURN_IF_ERROR(iptables_.EnsureSubnetGuard(r.subnet));
    state.add_guarded_subnets(r.subnet);
    RETURN_IF_ERROR(store.Save(state));
  }
  if (new_guard) RETURN_IF_ERROR(WriteSysctl(RouteLocalnetPath(c->host_interface()), "1"));
  std::move(undo).Cancel();

  UpOutput out;
  auto& props = *out.mutable_properties();
  props["garden.network.container-ip"] = c->container_ip();
  props["garden.network.host-ip"] = c->gateway_ip().empty() ? "255.255.255.255" : c->gateway_ip();
  props["garden.network.mapped-ports"] = MappedPortsJson(*c);
  props["garden.network.interface"] = kIfName;
  for (const std::string& s : config_.dns_servers()) out.add_dns_servers(s);
  for (const std::string& s : summary.nameservers) out.add_dns_servers(s);
  for (const std::string& s : config_.search_domains()) out.add_search_domains(s);
  for (const std::string& s : summary.search) out.add_search_domains(s);
  return LiteToGoJson(out);
}

absl::StatusOr<std::string> Network::Down(const std::string& handle) {
  ASSIGN_OR_RETURN(StateFile store, LockState());
  ASSIGN_OR_RETURN(State state, Load(store));
  absl::StatusOr<ContainerState*> c = Owned(&state, handle, /*need_up=*/false);
  if (absl::IsNotFound(c.status())) return std::string();  // nothing (left) to undo
  if (!c.ok()) return c.status();
  absl::Status torn = TearDown(&state, handle);
  RETURN_IF_ERROR(store.Save(state));
  RETURN_IF_ERROR(torn);
  return std::string();
}

absl::StatusOr<std::string> Network::NetIn(const std::string& handle, absl::string_view input) {
  NetInInput in;
  RETURN_IF_ERROR(ParseInput(input, "net-in", &in));
  ASSIGN_OR_RETURN(StateFile store, LockState());
  ASSIGN_OR_RETURN(State state, Load(store));
  ASSIGN_OR_RETURN(ContainerState * c, Owned(&state, handle, /*need_up=*/true));
  if (!in.container_ip().empty() && in.container_ip() != c->container_ip()) {
    return absl::InvalidArgumentError(absl::StrCat("ContainerIP ", in.container_ip(), " is not ",
                                                   handle, "'s address (", c->container_ip(), ")"));
  }
  PortMapping want;
  want.set_host_port(in.host_port());
  want.set_container_port(in.container_port());
  uint32_t next_port_before = state.next_port();
  ASSIGN_OR_RETURN(PortMapping m, Reserve(&state, want));
  bool installed = c->nat_installed();
  bool new_guard = !installed && RecordGuard(&state, c->host_interface());
  *c->add_port_mappings() = m;
  c->set_nat_installed(true);
  RETURN_IF_ERROR(store.Save(state));

  ContainerRules r = RulesOf(*c);
  Batch batch, batch_undo;
  if (installed) {
    batch = AppendIngress(r, {m});
  } else {
    batch = InstallIngress(r, {m});
    batch_undo = RemoveIngress(r);
  }
  if (new_guard) {
    batch.Append(AddLocalnetGuard(base_, c->host_interface()));
    batch_undo.Append(RemoveLocalnetGuard(base_, c->host_interface()));
  }
  absl::Status applied = iptables_.Apply(batch, batch_undo);
  if (applied.ok() && new_guard) applied = WriteSysctl(RouteLocalnetPath(c->host_interface()), "1");
  if (!applied.ok()) {
    c->mutable_port_mappings()->RemoveLast();
    c->set_nat_installed(installed);
    state.set_next_port(next_port_before);
    if (new_guard) state.mutable_guards()->RemoveLast();
    (void)store.Save(state);
    return applied;
  }
  GoJsonWriteOptions o;
  o.emit_zero_values = true;
  return LiteToGoJson(m, o);
}

absl::StatusOr<std::string> Network::NetOut(const std::string& handle,
                                            const std::string& container_ip,
                                            const std::vector<NetOutRule>& rules) {
  for (const NetOutRule& r : rules) RETURN_IF_ERROR(ValidateNetOutRule(r));
  ASSIGN_OR_RETURN(StateFile store, LockState());
  ASSIGN_OR_RETURN(State state, Load(store));
  ASSIGN_OR_RETURN(ContainerState * c, Owned(&state, handle, /*need_up=*/true));
  if (!container_ip.empty() && container_ip != c->container_ip()) {
    return absl::InvalidArgumentError(absl::StrCat("container_ip ", container_ip, " is not ",
                                                   handle, "'s address (", c->container_ip(), ")"));
  }
  if (rules.empty()) return std::string();
  int before = c->netout_rules_size();
  bool had_chain = c->filter_installed();
  for (const NetOutRule& r : rules) *c->add_netout_rules() = r;
  c->set_filter_installed(true);
  RETURN_IF_ERROR(store.Save(state));
  ContainerRules cr = RulesOf(*c);
  // The first rules of a container up without any: its own chain, hooked above the guard.
  absl::Status applied =
      had_chain ? iptables_.Apply(AppendEgress(cr, rules), Batch())
                : iptables_.Apply(InstallEgress(cr, {c->netout_rules().begin(), c->netout_rules().end()}),
                                  RemoveEgress(cr));
  if (!applied.ok()) {
    c->mutable_netout_rules()->DeleteSubrange(before, c->netout_rules_size() - before);
    c->set_filter_installed(had_chain);
    (void)store.Save(state);
    return applied;
  }
  return std::string();
}

absl::StatusOr<std::string> Network::Check(const std::string& handle) {
  ASSIGN_OR_RETURN(StateFile store, LockState());
  ASSIGN_OR_RETURN(State state, Load(store));
  ASSIGN_OR_RETURN(ContainerState * c, Owned(&state, handle, /*need_up=*/true));
  if (!IsNetnsMount(c->netns_path())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the network namespace of ", handle, " is no longer mounted at ", c->netns_path()));
  }
  ASSIGN_OR_RETURN(NetworkList list, ParseNetworkConfig(c->cni_config()));
  RuntimeConf rt;
  rt.container_id = handle;
  rt.netns = c->netns_path();
  rt.ifname = kIfName;
  rt.port_mappings.assign(c->port_mappings().begin(), c->port_mappings().end());
  RETURN_IF_ERROR(cni_.Check(list, rt, c->cni_result()));
  if (c->filter_installed() &&
      !iptables_.ChainExists("filter", OutChain(base_.prefix, c->chain_id()))) {
    return absl::FailedPreconditionError(
        absl::StrCat("the egress chain of ", handle, " is missing"));
  }
  if (!c->filter_installed()) {
    ContainerRules r = RulesOf(*c);
    ASSIGN_OR_RETURN(bool guarded, iptables_.SubnetGuarded(r.subnet));
    if (!guarded) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the guard of ", r.subnet, " (which ", handle, ", without net-out rules, relies on) is incomplete"));
    }
  }
  if (c->nat_installed() && !iptables_.ChainExists("nat", InChain(base_.prefix, c->chain_id()))) {
    return absl::FailedPreconditionError(
        absl::StrCat("the net-in chain of ", handle, " is missing"));
  }
  return std::string();
}

// Becomes root in every id, so that the caller can no longer signal or trace this process
// and every child runs as plain root; and undoes the resource limits the caller set.
absl::Status BecomeRoot() {
  if (setresgid(0, 0, 0) != 0) return ErrnoError(errno, "setresgid");
  if (setgroups(0, nullptr) != 0) return ErrnoError(errno, "setgroups");
  if (setresuid(0, 0, 0) != 0) return ErrnoError(errno, "setresuid");
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  for (int resource : {RLIMIT_FSIZE, RLIMIT_CPU, RLIMIT_AS, RLIMIT_DATA}) {
    (void)setrlimit(resource, &unlimited);
  }
  struct rlimit files = {4096, 4096};
  (void)setrlimit(RLIMIT_NOFILE, &files);
  umask(022);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe is an error to report, not a reason to die
  // A terminal's signals reach us and our children whatever our ids: ignored, which (unlike
  // a blocked mask, which children reset) carries across exec into the CNI plugins and
  // iptables-restore, and out of the caller's session where we can leave it.
  for (int sig : {SIGINT, SIGQUIT, SIGTSTP, SIGHUP, SIGTTIN, SIGTTOU}) signal(sig, SIG_IGN);
  (void)setsid();  // fails (and is not needed) for a group leader; the above holds anyway
  // Not in a folder of the caller's choosing (a FUSE mount could hang our children there).
  if (chdir("/") != 0) return ErrnoError(errno, "chdir /");
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckHandle(const std::string& handle) {
  if (!IsPlainName(handle, 128)) {
    return absl::PermissionDeniedError(
        absl::StrCat("refusing handle \"", handle,
                     "\": handles are 1 to 128 of A-Z a-z 0-9 _ . - (not starting with . or -)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RunAction(const Invocation& inv, const Config& config, uid_t caller,
                                      absl::string_view input) {
  RETURN_IF_ERROR(CheckHandle(inv.handle));
  Network net(config, caller);
  switch (inv.action) {
    case Action::kUp:
      return net.Up(inv.handle, input);
    case Action::kDown:
      return net.Down(inv.handle);
    case Action::kNetIn:
      return net.NetIn(inv.handle, input);
    case Action::kNetOut: {
      NetOutInput in;
      RETURN_IF_ERROR(ParseInput(input, "net-out", &in));
      return net.NetOut(inv.handle, in.container_ip(), {in.netout_rule()});
    }
    case Action::kBulkNetOut: {
      BulkNetOutInput in;
      RETURN_IF_ERROR(ParseInput(input, "bulk-net-out", &in));
      return net.NetOut(
          inv.handle, in.container_ip(),
          std::vector<NetOutRule>(in.netout_rules().begin(), in.netout_rules().end()));
    }
    case Action::kCheck:
      return net.Check(inv.handle);
  }
  return absl::InternalError("unknown action");
}

absl::Status Main(const Invocation& inv) {
  uid_t caller = getuid();
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "netns needs root: run it as root, or install it root-owned with mode 4755 (setup does)");
  }
  RETURN_IF_ERROR(CheckHandle(inv.handle));
  ASSIGN_OR_RETURN(Config config, LoadConfig(inv.config_file, caller));
  RETURN_IF_ERROR(BecomeRoot());
  std::string input;
  if (inv.action != Action::kDown && inv.action != Action::kCheck) {
    char buf[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "read stdin");
      }
      input.append(buf, static_cast<size_t>(n));
      if (input.size() > kMaxInput) return absl::InvalidArgumentError("the input is over 16 MiB");
    }
  }
  absl::StatusOr<std::string> out = RunAction(inv, config, caller, input);
  // Only now, with every lock released: a stderr the caller never reads blocks no one else.
  for (const std::string& warning : TakeWarnings()) {
    (void)WriteAll(STDERR_FILENO, absl::StrCat("netns: warning: ", warning, "\n"));
  }
  if (!out.ok()) return out.status();
  if (!out->empty()) RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, *out));
  return absl::OkStatus();
}

}  // namespace gdn::netns
