#!/usr/bin/env bash
# netns end to end, as root and as the unprivileged test user through a setuid copy, with
# Debian's CNI plugins (bridge, host-local, tuning): containers are processes in network
# namespaces this test makes, on bridges this test names, with addresses from private
# 10.250.x.0/24 subnets that exist only there; the "outside" server lives in another network
# namespace behind a veth pair of the test's. Nothing is sent anywhere but to those addresses
# and to 127.0.0.1, and no rule masquerades onto a real interface.
set -uo pipefail
if [[ $(id -u) -ne 0 ]] || ! getent passwd gdn-test >/dev/null || ! getent passwd gdn-test2 >/dev/null; then
  [[ "${CI:-}" == true ]] && { echo "FAIL: needs root and the test users (tools/test)"; exit 1; }
  echo "SKIP: needs root and the test users"; exit 0
fi
for tool in /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/tuning /usr/sbin/iptables-restore /usr/bin/python3; do
  if [[ ! -x $tool ]]; then
    [[ "${CI:-}" == true ]] && { echo "FAIL: missing $tool (tools/install-deps)"; exit 1; }
    echo "SKIP: missing $tool"; exit 0
  fi
done
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
PY=/usr/bin/python3
PROBE=$runfiles/netns/testdata/netprobe.py

work=$(mktemp -d /tmp/gdn-netns-test.XXXXXX)
chmod 755 "$work"
bin=$work/bin
mkdir -p "$bin" && chmod 755 "$bin"
install -o root -g root -m 4755 "$runfiles/netns/netns" "$bin/netns"
NETNS=$bin/netns

# Names no one else uses, and three free /24s in 10.250.0.0/16: root's bridge, the user's
# bridge, the outside link.
free_net_tag
free_subnets 3 || { echo "FAIL: no free subnet in 10.250.0.0/16"; exit 1; }
RNET=10.250.$X UNET=10.250.$((X + 1)) ENET=10.250.$((X + 2))
RBR=gdt${tag}r UBR=gdt${tag}u HOSTV=gdt${tag}h EXTV=gdt${tag}e
RPFX=gdt${tag}r- UPFX=gdt${tag}u-
EXT=$ENET.2
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

pids=()
cleanup() {
  for conf in "$work"/etc/*.json; do
    [[ -f $conf ]] || continue
    state=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_file"])' "$conf" 2>/dev/null)
    [[ -f $state ]] || continue
    for h in $($PY -c 'import json,sys; print(" ".join(c["handle"] for c in json.load(open(sys.argv[1])).get("containers", [])))' "$state" 2>/dev/null); do
      timeout 60 "$NETNS" --configFile "$conf" --action down --handle "$h" </dev/null >/dev/null 2>&1
    done
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  remove_chains_of "gdt${tag}"  # this test's chains and jumps only
  for link in "$RBR" "$UBR" "$HOSTV"; do ip link del "$link" 2>/dev/null; done
  grep -F " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  echo "$forward_before" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$work"
}
trap cleanup EXIT

# ---- helpers ----

last=
wait_netns() {  # PID: until the process runs in a network namespace of its own
  for _ in $(seq 1 200); do
    [[ "$(readlink /proc/"$1"/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" &&
       "$(cat /proc/"$1"/comm 2>/dev/null)" == sleep ]] && return 0
    sleep 0.01
  done
  return 1
}
container() {  # a root container: a process in a new network namespace; its pid in $last
  unshare --net sleep 1000 &
  last=$!
  pids+=("$last")
  wait_netns "$last" && nsenter --net=/proc/"$last"/ns/net ip link set lo up
}
as_user() {  # USER CMD...: as that user, with a clean environment
  local user=$1; shift
  setpriv --reuid="$user" --regid="$user" --clear-groups env -i PATH=/usr/bin:/bin "$@"
}
user_container() {  # USER: a rootless container (own user and network namespaces); pid in $last
  # Not through as_user: a function run in the background is a subshell, and $! its pid.
  setpriv --reuid="$1" --regid="$1" --clear-groups env -i PATH=/usr/bin:/bin unshare --user --map-root-user --net sleep 1000 &
  last=$!
  pids+=("$last")
  wait_netns "$last" && nsenter --net=/proc/"$last"/ns/net ip link set lo up
}
in_ns() { local p=$1; shift; nsenter --net=/proc/"$p"/ns/net "$@"; }
serve() {  # PID SPEC...: a netprobe server in that network namespace, once its ports are bound
  local p=$1 ready=$work/ready.$RANDOM; shift
  in_ns "$p" $PY "$PROBE" serve "$@" >"$ready" &
  pids+=("$!")
  for _ in $(seq 1 200); do grep -q ready "$ready" 2>/dev/null && return 0; sleep 0.02; done
  echo "  (server $* in $p did not start)"; return 1
}
reach() { local p=$1; shift; in_ns "$p" timeout 5 $PY "$PROBE" "$@" 2>/dev/null; }  # PID tcp|udp HOST PORT
cant() { ! reach "$@"; }
pings() { in_ns "$1" timeout 5 busybox ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
cant_ping() { ! pings "$@"; }
host_reach() { timeout 5 $PY "$PROBE" tcp "$1" "$2" "$3" 2>/dev/null; }  # HOST PORT SERVED

out= err= rc=
# run CONF ACTION HANDLE [STDIN] [USER]: netns's answer in $out, stderr in $err, exit code in $rc.
run() {
  local conf=$1 action=$2 handle=$3 input=${4:-} user=${5:-root} errf=$work/err
  if [[ $user == root ]]; then
    out=$(printf '%s' "$input" | timeout 120 "$NETNS" --configFile "$conf" --action "$action" --handle "$handle" 2>"$errf")
  else
    out=$(printf '%s' "$input" | as_user "$user" timeout 120 "$NETNS" --configFile "$conf" --action "$action" --handle "$handle" 2>"$errf")
  fi
  rc=$?
  err=$(cat "$errf")
  [[ $rc -eq 0 ]] || echo "  (netns $action $handle: exit $rc: $err)"
}
prop() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])["properties"][sys.argv[2]])' "$out" "$1"; }
field() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$out" "$1"; }
containers_in() { $PY -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("containers", [])))' "$1"; }
refused() { [[ $rc -eq 5 && -n $err ]]; }  # exit 5 with a sentence

# What netns may leave behind for one network: bridge ports, addresses in host-local's store,
# rules that name its chains or addresses, mounts in this test's folder, state entries.
leftovers() {  # BRIDGE NET PREFIX IPAM STATE
  echo "ports: $(ip -o link show master "$1" 2>/dev/null | wc -l)"
  echo "addresses: $(find "$4" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null | wc -l)"
  echo "rules: $( { iptables-save -t filter; iptables-save -t nat; } | not_guard "$3" | grep -E "${2//./\\.}\.|$3[oi]-|-i $1 " | grep -vc '^#')"
  echo "mounts: $(grep -cF " $work/" /proc/self/mountinfo)"
  echo "state: $([[ -f $5 ]] && containers_in "$5" || echo 0)"
  echo "route_localnet: $(cat /proc/sys/net/ipv4/conf/"$1"/route_localnet 2>/dev/null || echo none)"
}
# A subnet's guard (rules.h) stays, like the base chains: its lines are "-A PREFIXforward -s
# NETWORK/N" with N < 32 (a container's own lines name its /32).
guard_re() { echo "^-A ${1}forward -s [0-9.]+/([0-9]|[12][0-9]|3[01]) "; }
not_guard() { grep -vE -- "$(guard_re "$1")"; }
guard_lines() {  # PREFIX NET: the guard of NET.0/24, in order
  iptables-save -t filter | grep -E -- "$(guard_re "$1")" | grep -F -- "-s $2.0/24 "
}
base_rules() {  # PREFIX: every rule line that names the prefix (base chains and their jumps)
  { iptables-save -t filter; iptables-save -t nat; } | grep -F -- "$1" | grep -v '^#' | not_guard "$1" | sort
}
clean() { [[ "$(leftovers "$@")" == "$(printf 'ports: 0\naddresses: 0\nrules: 0\nmounts: 0\nstate: 0\nroute_localnet: %s' "${6:-0}")" ]] || { leftovers "$@" | sed 's/^/  /'; false; }; }

# ---- configurations ----

mkdir -p "$work/etc" "$work/cni-root" "$work/cni-user" "$work/cni-fail" "$work/cni-missing" "$work/cni-slow" "$work/cni-tuning" "$work/plugins"
chmod 755 "$work"/etc "$work"/cni-* "$work/plugins"
cp /usr/lib/cni/bridge /usr/lib/cni/host-local "$runfiles/netns/testdata/test-plugin" "$work/plugins/"
chmod 755 "$work"/plugins/*

bridge_conf() {  # NAME BRIDGE NET IPAM
  printf '{"type":"bridge","bridge":"%s","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","subnet":"%s.0/24","dataDir":"%s","routes":[{"dst":"0.0.0.0/0"}]}}' "$2" "$3" "$4"
}
# The seed's form: one plugin, bridge with host-local.
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"gdt$tag-root\",$(bridge_conf x "$RBR" "$RNET" "$work/ipam-root" | sed 's/^{//')" >"$work/cni-root/10-bridge.conf"
echo "{\"cniVersion\":\"0.4.0\",\"name\":\"gdt$tag-user\",$(bridge_conf x "$UBR" "$UNET" "$work/ipam-user" | sed 's/^{//')" >"$work/cni-user/10-bridge.conf"
# Lists: after bridge, a plugin that fails; one that is not installed; one that sleeps;
# tuning, which needs prevResult.
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"gdt$tag-root\",\"plugins\":[$(bridge_conf x "$RBR" "$RNET" "$work/ipam-root"),{\"type\":\"test-plugin\",\"fail\":true}]}" >"$work/cni-fail/10-list.conflist"
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"gdt$tag-root\",\"plugins\":[$(bridge_conf x "$RBR" "$RNET" "$work/ipam-root"),{\"type\":\"gdn-no-such-plugin\"}]}" >"$work/cni-missing/10-list.conflist"
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"gdt$tag-root\",\"plugins\":[$(bridge_conf x "$RBR" "$RNET" "$work/ipam-root"),{\"type\":\"test-plugin\",\"pidFile\":\"$work/slow.pid\",\"sleep\":60}]}" >"$work/cni-slow/10-list.conflist"
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"gdt$tag-root\",\"plugins\":[$(bridge_conf x "$RBR" "$RNET" "$work/ipam-root"),{\"type\":\"tuning\",\"mtu\":1280}]}" >"$work/cni-tuning/10-list.conflist"

config() {  # FILE CNI_DIR PLUGIN_DIR PREFIX STATE_NAME [extra JSON fields]
  printf '{"cni_plugin_dir":"%s","cni_config_dir":"%s","bind_mount_dir":"%s/netns-%s","state_file":"%s/state-%s/state.json","start_port":%d,"total_ports":%d,"iptables_lock_file":"%s/iptables.lock","chain_prefix":"%s","log_prefix":"ignored"%s}\n' \
    "$3" "$2" "$work" "$5" "$work" "$5" "$6" "$7" "$work" "$4" "${8:-}" >"$1"
}
RCONF=$work/etc/root.json
UCONF=$work/etc/user.json
config "$RCONF" "$work/cni-root" /usr/lib/cni "$RPFX" root 40100 50
config "$UCONF" "$work/cni-user" /usr/lib/cni "$UPFX" user 40200 50 ",\"uid\":$(id -u gdn-test)"
config "$work/etc/fail.json" "$work/cni-fail" "$work/plugins" "$RPFX" root 40100 50
config "$work/etc/missing.json" "$work/cni-missing" "$work/plugins" "$RPFX" root 40100 50
config "$work/etc/slow.json" "$work/cni-slow" "$work/plugins" "$RPFX" root 40100 50
config "$work/etc/tuning.json" "$work/cni-tuning" /usr/lib/cni "$RPFX" root 40100 50
chmod 644 "$work"/etc/*.json "$work"/cni-*/*
RSTATE=$work/state-root/state.json USTATE=$work/state-user/state.json
rleft() { clean "$RBR" "$RNET" "$RPFX" "$work/ipam-root" "$RSTATE" "$@"; }
uleft() { clean "$UBR" "$UNET" "$UPFX" "$work/ipam-user" "$USTATE" "$@"; }

# ---- the outside: a server in a network namespace of its own, behind a veth pair ----

unshare --net sleep 1000 &
ext=$!
pids+=("$ext")
wait_netns "$ext"
ip link add "$HOSTV" type veth peer name "$EXTV" netns /proc/"$ext"/ns/net
ip addr add "$ENET.1/24" dev "$HOSTV" && ip link set "$HOSTV" up
in_ns "$ext" ip addr add "$EXT/24" dev "$EXTV"
in_ns "$ext" ip link set "$EXTV" up
in_ns "$ext" ip link set lo up
in_ns "$ext" ip route add default via "$ENET.1"
serve "$ext" tcp:8080 tcp:8081 udp:5353 udp:5354

# ================= root =================

container; c1=$last
container; c2=$last
run "$RCONF" up r1 "{\"Pid\":$c1,\"Properties\":{\"app_id\":\"a\"}}"
check "root: up succeeds" test "$rc" = 0
up1=$out
ip1=$(prop garden.network.container-ip)
check "root: container-ip is in the network's subnet" eval '[[ $ip1 == $RNET.* ]]'
check "root: host-ip is the bridge's gateway" test "$(prop garden.network.host-ip)" = "$RNET.1"
check "root: mapped-ports is an empty JSON list" test "$(prop garden.network.mapped-ports)" = "[]"
check "root: interface is eth0" test "$(prop garden.network.interface)" = eth0
check "root: the container has eth0 with that address" bash -c "nsenter --net=/proc/$c1/ns/net ip -o addr show eth0 | grep -q ' $ip1/24 '"
check "root: its network namespace is bind-mounted under bind_mount_dir" bash -c "grep -q ' $work/netns-root/r1 ' /proc/self/mountinfo"
run "$RCONF" up r2 "{\"Pid\":$c2}"
ip2=$(prop garden.network.container-ip)
check "root: a second container gets another address" eval '[[ $rc == 0 && $ip2 == $RNET.* && $ip2 != $ip1 ]]'
# After the first up, the base chains exist; what names the prefix now is the baseline.
baseline_root=$(base_rules "$RPFX" | grep -vE "$RPFX[oi]-|-i $RBR |$RNET\.")
expected_guard=$(printf '%s\n' "-A ${RPFX}forward -s $RNET.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" \
  "-A ${RPFX}forward -s $RNET.0/24 -d $RNET.0/24 -j ACCEPT" \
  "-A ${RPFX}forward -s $RNET.0/24 -j REJECT --reject-with icmp-port-unreachable")
check "root: containers without net-out rules have no rule of their own" \
  bash -c "! iptables-save | grep -qE -- '-s ($ip1|$ip2)/32|${RPFX}o-'"
reject_line="-A ${RPFX}forward -s $RNET.0/24 -j REJECT --reject-with icmp-port-unreachable"
check "root: their subnet's guard is in ${RPFX}forward, once and in order" test "$(guard_lines "$RPFX" "$RNET")" = "$expected_guard"
check "root: ... its REJECT last" test "$(iptables-save -t filter | grep -- "-A ${RPFX}forward " | tail -1)" = "$reject_line"

serve "$c1" tcp:7070
check "root: containers reach each other over the bridge (tcp)" reach "$c2" tcp "$ip1" 7070
check "root: containers reach each other over the bridge (icmp)" pings "$c2" "$ip1"
check "root: without net-out rules, no tcp to the outside server" cant "$c1" tcp "$EXT" 8080
check "root: without net-out rules, no udp to it" cant "$c1" udp "$EXT" 5353
check "root: without net-out rules, no ping to it" cant_ping "$c1" "$EXT"

run "$RCONF" net-out r1 "{\"container_ip\":\"$ip1\",\"netout_rule\":{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\",\"end\":\"$EXT\"}],\"ports\":[{\"start\":8080,\"end\":8080}]}}"
check "root: net-out (tcp) succeeds" test "$rc" = 0
check "root: after a tcp rule, its port answers" reach "$c1" tcp "$EXT" 8080
check "root: ... only its port (8081 stays closed)" cant "$c1" tcp "$EXT" 8081
check "root: ... only tcp (udp stays closed)" cant "$c1" udp "$EXT" 5353
check "root: ... only for that container" cant "$c2" tcp "$EXT" 8080
run "$RCONF" net-out r1 "{\"container_ip\":\"$ip1\",\"netout_rule\":{\"protocol\":2,\"networks\":[{\"start\":\"$EXT\"}],\"ports\":[{\"start\":5353,\"end\":5353}]}}"
check "root: after a udp rule, its port answers" reach "$c1" udp "$EXT" 5353
check "root: ... only its port (5354 stays closed)" cant "$c1" udp "$EXT" 5354
check "root: no icmp rule yet: no ping" cant_ping "$c1" "$EXT"
run "$RCONF" net-out r1 "{\"container_ip\":\"$ip1\",\"netout_rule\":{\"protocol\":3,\"networks\":[{\"start\":\"$ENET.0\",\"end\":\"$ENET.255\"}],\"icmps\":{\"type\":8,\"code\":0}}}"
check "root: after an icmp echo rule, ping answers" pings "$c1" "$EXT"
check "root: ... and tcp 8081 stays closed" cant "$c1" tcp "$EXT" 8081
run "$RCONF" bulk-net-out r2 "{\"container_ip\":\"$ip2\",\"netout_rules\":[{\"protocol\":1,\"networks\":[{\"start\":\"$ENET.1\",\"end\":\"$ENET.9\"}],\"ports\":[{\"start\":8081,\"end\":8090}],\"log\":true},{\"protocol\":2,\"ports\":[{\"start\":5354}]}]}"
check "root: bulk-net-out succeeds" test "$rc" = 0
check "root: after bulk-net-out, its tcp range answers" reach "$c2" tcp "$EXT" 8081
check "root: ... its udp port too" reach "$c2" udp "$EXT" 5354
check "root: ... 8080 (not in it) stays closed" cant "$c2" tcp "$EXT" 8080
check "root: a rule with log gets a LOG rule" bash -c "iptables-save -t filter | grep -- '-A $RPFX""o-' | grep -q 'LOG --log-prefix \"r2: \"'"
run "$RCONF" net-out r1 "{\"container_ip\":\"10.9.9.9\",\"netout_rule\":{\"protocol\":1}}"
check "root: net-out with another container's ip is invalid (7)" test "$rc" = 7
run "$RCONF" net-out r1 "{\"netout_rule\":{\"protocol\":4}}"
check "root: an icmpv6 rule is invalid (7)" test "$rc" = 7
run "$RCONF" net-out nosuch "{\"netout_rule\":{\"protocol\":1}}"
check "root: net-out for an unknown handle is not found (3)" test "$rc" = 3

serve "$c1" tcp:9090
run "$RCONF" net-in r1 "{\"HostIP\":\"1.2.3.4\",\"HostPort\":0,\"ContainerIP\":\"$ip1\",\"ContainerPort\":9090}"
hp=$(field host_port 2>/dev/null)
cp_=$(field container_port 2>/dev/null)
check "root: net-in hands out a port from the pool" eval '[[ $rc == 0 && $hp -ge 40100 && $hp -lt 40150 && $cp_ == 9090 ]]'
check "root: a client on the host reaches it via the bridge's address" host_reach "$RNET.1" "$hp" 9090
check "root: ... and via 127.0.0.1" host_reach 127.0.0.1 "$hp" 9090
run "$RCONF" net-in r1 "{\"HostPort\":40149,\"ContainerPort\":9090}"
check "root: net-in honours the host port asked for" eval '[[ $rc == 0 && $(field host_port 2>/dev/null) == 40149 ]]'
check "root: ... which answers" host_reach 127.0.0.1 40149 9090
run "$RCONF" net-in r2 "{\"HostPort\":40149,\"ContainerPort\":80}"
check "root: a host port already mapped is refused (4)" test "$rc" = 4
run "$RCONF" net-in r2 "{\"HostPort\":9999,\"ContainerPort\":80}"
check "root: root may map a port outside the pool" test "$rc" = 0
check "root: a guard rule keeps containers off the host's 127.0.0.0/8 through the bridge" \
  bash -c "iptables-save -t filter | grep -q -- '-A ${RPFX}input -d 127.0.0.0/8 -i $RBR'"
check "root: route_localnet is on for the bridge while ports are mapped" test "$(cat /proc/sys/net/ipv4/conf/$RBR/route_localnet)" = 1

container; c3=$last
serve "$c3" tcp:8000
run "$RCONF" up r3 "{\"Pid\":$c3,\"netin\":[{\"host_port\":0,\"container_port\":8000}],\"netout_rules\":[{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\"}],\"ports\":[{\"start\":8081}]}]}"
mapped=$(prop garden.network.mapped-ports 2>/dev/null)
hp3=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])[0]["HostPort"])' "$mapped" 2>/dev/null)
check "root: up with netin reports the mapping in mapped-ports" test "$rc:$mapped" = "0:[{\"HostPort\":$hp3,\"ContainerPort\":8000}]"
check "root: ... and it answers" host_reach "$RNET.1" "$hp3" 8000
check "root: up with netout_rules applies them" reach "$c3" tcp "$EXT" 8081
check "root: ... and nothing else" cant "$c3" tcp "$EXT" 8080
run "$RCONF" check r3
check "root: check (CNI CHECK and the chains) succeeds" test "$rc" = 0
run "$RCONF" up r3 "{\"Pid\":$c3}"
check "root: up of a handle that has a network already exists (4)" test "$rc" = 4

for h in r1 r2 r3; do run "$RCONF" down "$h" null; done
check "root: down of every container succeeds" test "$rc" = 0
check "root: down leaves no port, address, rule, mount or state, and route_localnet back at 0" rleft
check "root: down leaves no eth0 in the container" bash -c "! nsenter --net=/proc/$c1/ns/net ip link show eth0 >/dev/null 2>&1"
check "root: the base chains are all that is left" test "$(base_rules "$RPFX")" = "$baseline_root"
run "$RCONF" down r1 null
check "root: down again succeeds" test "$rc" = 0
run "$RCONF" down never-up null
check "root: down of a handle never up succeeds" test "$rc" = 0

# A container without rules relies on its subnet's guard: check says when the guard is
# incomplete, and an up whose state no longer records it completes it, without duplicates.
container; c8=$last
run "$RCONF" up r8 "{\"Pid\":$c8}"
run "$RCONF" check r8
check "root: check of a container without rules: its guard is there" test "$rc" = 0
iptables -w -D ${reject_line#-A }
run "$RCONF" check r8
check "root: check says when the guard lost its REJECT" eval '[[ $rc != 0 && $err == *"guard of $RNET.0/24"* ]]'
$PY -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); s.pop("guardedSubnets", None); s.pop("guarded_subnets", None); json.dump(s, open(p, "w"))' "$RSTATE"
container; c9=$last
run "$RCONF" up r9 "{\"Pid\":$c9}"
check "root: an up with the guard no longer recorded completes it, in order, once" \
  eval '[[ $rc == 0 && "$(guard_lines "$RPFX" "$RNET")" == "$expected_guard" ]]'
for h in r8 r9; do run "$RCONF" down "$h" null; done
check "root: ... and their downs leave nothing" rleft
# Base chains made again (someone deleted ${RPFX}forward) get the guards netns made back.
iptables -w -D FORWARD -j "${RPFX}forward"; iptables -w -F "${RPFX}forward"; iptables -w -X "${RPFX}forward"
container; c10=$last
run "$RCONF" up r10 "{\"Pid\":$c10,\"netout_rules\":[{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\"}],\"ports\":[{\"start\":8081}]}]}"
check "root: an up that finds ${RPFX}forward gone makes it again, with the subnet's guard" \
  eval '[[ $rc == 0 && "$(guard_lines "$RPFX" "$RNET")" == "$expected_guard" ]]'
check "root: ... below the container's own rules" test "$(iptables-save -t filter | grep -- "-A ${RPFX}forward " | tail -1)" = "$reject_line"
run "$RCONF" down r10 null
check "root: ... and its down leaves nothing" rleft

# Down when the container process is gone: the bind mount kept its namespace.
container; c4=$last
run "$RCONF" up r4 "{\"Pid\":$c4}"
kill -9 "$c4"; wait "$c4" 2>/dev/null
run "$RCONF" down r4 null
check "root: down after the container died succeeds" test "$rc" = 0
check "root: ... and leaves nothing" rleft

# Down when the container was the init of its own pid namespace and has ended: its processes
# all ended with it, so netns leaves the interface to the kernel, which removes it with the
# namespace once the bind mount is gone. A process that joined the network namespace alone
# keeps it (and the interface) until it ends; its address is given back at once.
pid_container() {  # a root container whose process is the init of a pid namespace; pid in $last
  unshare --net --pid --fork --kill-child sleep 1000 &
  pids+=("$!")
  last=
  for _ in $(seq 1 200); do
    last=$(cat /proc/$!/task/$!/children 2>/dev/null | awk '{print $1}')
    [[ -n $last ]] && wait_netns "$last" && return 0
    sleep 0.01
  done
  return 1
}
ports_gone() {  # BRIDGE: within 5 s, no port left on it
  for _ in $(seq 1 250); do [[ $(ip -o link show master "$1" 2>/dev/null | wc -l) == 0 ]] && return 0; sleep 0.02; done
  return 1
}
pid_container; c6=$last
run "$RCONF" up r6 "{\"Pid\":$c6}"
check "root: up of a pid namespace's init succeeds" test "$rc" = 0
kill -9 "$c6"
for _ in $(seq 1 200); do [[ -d /proc/$c6 ]] || break; sleep 0.01; done
run "$RCONF" down r6 null
check "root: down after a pid namespace's init ended succeeds" test "$rc" = 0
check "root: ... its interface goes with the namespace" ports_gone "$RBR"
check "root: ... and nothing is left" rleft
pid_container; c7=$last
run "$RCONF" up r7 "{\"Pid\":$c7}"
nsenter --net=/proc/"$c7"/ns/net sleep 1000 &
holder=$!
pids+=("$holder")
wait_netns "$holder"
kill -9 "$c7"
for _ in $(seq 1 200); do [[ -d /proc/$c7 ]] || break; sleep 0.01; done
run "$RCONF" down r7 null
check "root: down with a process left in the ended container's network namespace succeeds" test "$rc" = 0
check "root: ... its address is given back, its rules, mount and state gone" \
  test "$(leftovers "$RBR" "$RNET" "$RPFX" "$work/ipam-root" "$RSTATE" | grep -v '^ports:')" = "$(printf 'addresses: 0\nrules: 0\nmounts: 0\nstate: 0\nroute_localnet: 0')"
check "root: ... the interface stays while that process is in the namespace" \
  test "$(ip -o link show master "$RBR" 2>/dev/null | wc -l)" = 1
kill -9 "$holder"; wait "$holder" 2>/dev/null
check "root: ... and goes when it ends" ports_gone "$RBR"

# DEL after the configuration changed: the cached one is used.
container; c5=$last
run "$RCONF" up r5 "{\"Pid\":$c5}"
mv "$work/cni-root/10-bridge.conf" "$work/cni-root/10-bridge.conf.moved"
run "$RCONF" down r5 null
mv "$work/cni-root/10-bridge.conf.moved" "$work/cni-root/10-bridge.conf"
check "root: down works from the cached CNI configuration and result" test "$rc" = 0
check "root: ... and leaves nothing" rleft

# A plugin list whose second plugin fails: up fails and undoes the first.
run "$work/etc/fail.json" up f1 "{\"Pid\":$c5}"
check "root: a failing plugin fails up with its message" eval '[[ $rc == 1 && $err == *"test-plugin fails as asked"* ]]'
check "root: ... which undoes itself completely (the bridge plugin's DEL ran)" rleft
run "$work/etc/missing.json" up f2 "{\"Pid\":$c5}"
check "root: a plugin that is not installed is refused (5) before anything is made" eval '[[ $rc == 5 && $err == *"gdn-no-such-plugin is not installed"* ]]'
check "root: ... nothing is left" rleft

# prevResult chaining with a real plugin that needs it: tuning sets the MTU bridge made.
run "$work/etc/tuning.json" up t1 "{\"Pid\":$c5}"
check "root: a plugin list chains prevResult (tuning set eth0's MTU)" bash -c "[[ $rc == 0 ]] && nsenter --net=/proc/$c5/ns/net ip -o link show eth0 | grep -q 'mtu 1280'"
run "$work/etc/tuning.json" down t1 null
check "root: ... and down undoes the list" rleft

# kill -9 in the middle of up (the second plugin sleeps): the next down repairs everything.
rm -f "$work/slow.pid"
printf '{"Pid":%d}' "$c5" | "$NETNS" --configFile "$work/etc/slow.json" --action up --handle k1 >/dev/null 2>&1 &
victim=$!  # netns itself, the last command of the pipeline
for _ in $(seq 1 300); do [[ -s $work/slow.pid ]] && break; sleep 0.02; done
kill -9 "$victim"; wait "$victim" 2>/dev/null
slow=$(cat "$work/slow.pid" 2>/dev/null) && kill -9 "$slow" 2>/dev/null
check "root: up was cut short with its state recorded" eval '[[ -n "$slow" && $(containers_in "$RSTATE") == 1 ]]'
run "$work/etc/slow.json" down k1 null
check "root: down after a killed up succeeds" test "$rc" = 0
check "root: ... and leaves nothing" rleft

# 200 cycles on one container: nothing accumulates.
container; c6=$last
cycle_fail=0
start=$(date +%s%N)
for i in $(seq 1 200); do
  printf '{"Pid":%d}' "$c6" | "$NETNS" --configFile "$RCONF" --action up --handle cyc >/dev/null 2>"$work/err" || { cycle_fail=1; cat "$work/err"; break; }
  "$NETNS" --configFile "$RCONF" --action down --handle cyc </dev/null 2>"$work/err" || { cycle_fail=1; cat "$work/err"; break; }
done
echo "  200 up/down cycles in $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "root: 200 up/down cycles all succeed" test "$cycle_fail" = 0
check "root: ... and leak nothing" rleft
check "root: ... not even base-chain rules" test "$(base_rules "$RPFX")" = "$baseline_root"

# Concurrent ups get distinct addresses (and concurrent downs clean up).
cps=() jobs_=()
for i in $(seq 1 8); do container; cps+=("$last"); done
for i in $(seq 1 8); do
  printf '{"Pid":%d}' "${cps[$((i - 1))]}" | timeout 120 "$NETNS" --configFile "$RCONF" --action up --handle "p$i" >"$work/up-$i.json" 2>"$work/up-$i.err" &
  jobs_+=("$!")
done
wait "${jobs_[@]}"
ips=$(for i in $(seq 1 8); do $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["properties"]["garden.network.container-ip"])' "$work/up-$i.json" 2>/dev/null; done)
check "root: 8 concurrent ups all succeed" test "$(echo "$ips" | grep -c "^$RNET\.")" = 8
check "root: ... with 8 distinct addresses" test "$(echo "$ips" | sort -u | grep -c .)" = 8
jobs_=()
for i in $(seq 1 8); do
  timeout 120 "$NETNS" --configFile "$RCONF" --action down --handle "p$i" </dev/null &
  jobs_+=("$!")
done
wait "${jobs_[@]}"
check "root: concurrent downs leave nothing" rleft

# ================= rootless (gdn-test through the setuid copy) =================

user_container gdn-test; u1=$last
user_container gdn-test; u2=$last
run "$UCONF" up u1 "{\"Pid\":$u1}" gdn-test
uip1=$(prop garden.network.container-ip 2>/dev/null)
check "rootless: up of the user's own container succeeds" eval '[[ $rc == 0 && $uip1 == $UNET.* ]]'
run "$UCONF" up u2 "{\"Pid\":$u2}" gdn-test
uip2=$(prop garden.network.container-ip 2>/dev/null)
check "rootless: a second one gets another address" eval '[[ $rc == 0 && $uip2 == $UNET.* && $uip2 != $uip1 ]]'
serve "$u1" tcp:7070
check "rootless: they reach each other" reach "$u2" tcp "$uip1" 7070
check "rootless: no net-out rule, no way out" cant "$u1" tcp "$EXT" 8080
run "$UCONF" net-out u1 "{\"container_ip\":\"$uip1\",\"netout_rule\":{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\"}],\"ports\":[{\"start\":8080}]}}" gdn-test
check "rootless: net-out succeeds" test "$rc" = 0
check "rootless: the allowed port answers" reach "$u1" tcp "$EXT" 8080
check "rootless: ... only that one" cant "$u1" tcp "$EXT" 8081
run "$UCONF" net-in u1 "{\"HostPort\":0,\"ContainerPort\":7070}" gdn-test
uhp=$(field host_port 2>/dev/null)
check "rootless: net-in from the pool succeeds" eval '[[ $rc == 0 && $uhp -ge 40200 && $uhp -lt 40250 ]]'
check "rootless: the host reaches the mapped port" host_reach "$UNET.1" "$uhp" 7070
run "$UCONF" net-in u1 "{\"HostPort\":22,\"ContainerPort\":7070}" gdn-test
check "rootless: net-in of a host port outside the pool (22) is refused (5)" refused

# Abuse, each refused with exit 5 and a sentence.
# A NUL in an address once ended netns's check early while iptables-restore read on: the
# rest of the line (here a COMMIT and a root INPUT rule) must never reach it.
run "$UCONF" net-out u1 "{\"container_ip\":\"$uip1\",\"netout_rule\":{\"protocol\":1,\"networks\":[{\"start\":\"10.9.9.9\\u0000\\nCOMMIT\\n*filter\\n-I INPUT 1 -s 10.9.9.8/32 -j ACCEPT\"}]}}" gdn-test
check "abuse: an address with a NUL and rule lines after it is refused as input (7), before iptables" \
  eval '[[ $rc == 7 && "$err" == *"is not an IPv4 range"* ]]'
check "abuse: ... and no line of it reached iptables" bash -c "! iptables-save | grep -q 10.9.9.8"
run "$UCONF" up x1 "{\"Pid\":$c6}" gdn-test
check "abuse: up of root's process is refused" refused
user_container gdn-test2; o1=$last
run "$UCONF" up x2 "{\"Pid\":$o1}" gdn-test
check "abuse: up of another user's rootless container is refused" refused
setpriv --reuid=gdn-test --regid=gdn-test --clear-groups unshare --user sleep 1000 &
hostnet=$!
pids+=("$hostnet")
for _ in $(seq 1 100); do [[ "$(cat /proc/$hostnet/comm 2>/dev/null)" == sleep ]] && break; sleep 0.01; done
run "$UCONF" up x3 "{\"Pid\":$hostnet}" gdn-test
check "abuse: up of an own process in the host's network namespace is refused" eval '[[ $rc == 5 && $err == *"in the host"* ]]'
mkdir -p "$work/mine" && cp "$UCONF" "$work/mine/c.json" && chown -R gdn-test: "$work/mine"
run "$work/mine/c.json" up x4 "{\"Pid\":$u1}" gdn-test
check "abuse: the user's own configuration file is refused" refused
mkdir -p "$work/open" && cp "$UCONF" "$work/open/c.json" && chmod 777 "$work/open"
run "$work/open/c.json" up x5 "{\"Pid\":$u1}" gdn-test
check "abuse: a root-owned configuration in a folder others can write is refused" refused
chmod 666 "$work/etc/user.json"
run "$UCONF" up x6 "{\"Pid\":$u1}" gdn-test
chmod 644 "$work/etc/user.json"
check "abuse: a configuration others can write is refused" refused
mkdir -p "$work/userplugins" && cp /usr/lib/cni/bridge /usr/lib/cni/host-local "$work/userplugins/" && chown -R gdn-test: "$work/userplugins"
config "$work/etc/userplugins.json" "$work/cni-user" "$work/userplugins" "$UPFX" user 40200 50
chmod 644 "$work/etc/userplugins.json"
user_container gdn-test; u3=$last
run "$work/etc/userplugins.json" up x7 "{\"Pid\":$u3}" gdn-test
check "abuse: plugins from a folder the user owns are refused" eval '[[ $rc == 5 && "$err" == *"refusing to run the CNI plugin"* ]]'
check "abuse: ... and that up left nothing behind" bash -c "! grep -q '\"x7\"' $USTATE"
mkdir -p "$work/usercni" && cp "$work/cni-user/10-bridge.conf" "$work/usercni/" && chown -R gdn-test: "$work/usercni"
config "$work/etc/usercni.json" "$work/usercni" /usr/lib/cni "$UPFX" user 40200 50
chmod 644 "$work/etc/usercni.json"
run "$work/etc/usercni.json" up x8 "{\"Pid\":$u3}" gdn-test
check "abuse: network configs from a folder the user owns are refused" refused
config "$work/etc/other.json" "$work/cni-user" /usr/lib/cni "$UPFX" user 40200 50 ",\"uid\":$(id -u gdn-test2)"
chmod 644 "$work/etc/other.json"
run "$work/etc/other.json" up x13 "{\"Pid\":$u3}" gdn-test
check "abuse: a configuration written for another user (its uid field) is refused" refused
run "$UCONF" up ../x9 "{\"Pid\":$u3}" gdn-test
check "abuse: a ../ handle is refused" refused
run "$UCONF" down a/b null gdn-test
check "abuse: a handle with a slash is refused" refused
out=$(as_user gdn-test "$NETNS" --flagfile=/etc/passwd --action up --handle h </dev/null 2>&1); rc=$?
check "abuse: --flagfile is refused (usage)" test "$rc" = 2
out=$(printf '{"Pid":%d}' "$u3" | setpriv --reuid=gdn-test --regid=gdn-test --clear-groups env -i PATH=/usr/bin:/bin GLOG_log_dir="$work/mine" GLOG_logtostderr=0 "$NETNS" --configFile "$UCONF" --action up --handle x10 2>&1); rc=$?
check "abuse: GLOG_ variables are ignored (no log files)" eval '[[ -z $(find $work/mine -name "*netns*") ]]'
[[ $rc -eq 0 ]] && run "$UCONF" down x10 null gdn-test
# A configuration that shares root's state: root's handle stays root's.
container; c7=$last
run "$RCONF" up r7 "{\"Pid\":$c7}"
config "$work/etc/shared.json" "$work/cni-root" /usr/lib/cni "$RPFX" root 40100 50
chmod 644 "$work/etc/shared.json"
run "$work/etc/shared.json" down r7 null gdn-test
check "abuse: down of root's handle is refused" refused
run "$work/etc/shared.json" net-out r7 "{\"netout_rule\":{\"protocol\":0}}" gdn-test
check "abuse: net-out on root's handle is refused" refused
run "$RCONF" down r7 null
if [[ ! -e /etc/gdn/network/$(id -u gdn-test).json ]]; then
  out=$(printf '{"Pid":%d}' "$u3" | as_user gdn-test "$NETNS" --action up --handle x11 2>&1); rc=$?
  check "rootless: without setup's configuration the host is not set up (5)" eval '[[ $rc == 5 && "$out" == *"run setup"* ]]'
fi
sleep 1000 & gone=$!; kill -9 "$gone"; wait "$gone" 2>/dev/null
run "$UCONF" up x12 "{\"Pid\":$gone}" gdn-test
check "rootless: up of a process that is gone is not found (3)" test "$rc" = 3

for h in u1 u2; do run "$UCONF" down "$h" null gdn-test; done
check "rootless: down succeeds" test "$rc" = 0
check "rootless: down leaves nothing" uleft
check "root: and root's network is clean too" rleft

junit_finish netns_test
