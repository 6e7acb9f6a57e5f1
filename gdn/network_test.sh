#!/usr/bin/env bash
# gdn server as root with netns as its network plugin, end to end through gaol and raw HTTP:
# a container's address, net-in from the host, net-out to an "outside" server, and a destroy
# that leaves nothing of the network behind. netns runs Debian's CNI bridge and host-local on
# a bridge this test names, in a private 10.250.X.0/24 that exists only here; the "outside"
# server lives in a network namespace of its own behind a veth pair of the test's. Nothing is
# sent anywhere but to those addresses and to 127.0.0.1, and nothing masquerades (ipMasq false).
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
for tool in /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/sbin/iptables /usr/sbin/iptables-restore /usr/bin/python3 /usr/bin/curl; do
  if [[ ! -x $tool ]]; then
    [[ "${CI:-}" == true ]] && { echo "FAIL: missing $tool (tools/install-deps)"; exit 1; }
    echo "SKIP: missing $tool"; exit 0
  fi
done
privileged_work network-test
chmod 755 "$bin"
install -m 0755 "$runfiles/gdn/gdn" "$runfiles/gdn/gdn-init" "$runfiles/gdn/gaol" "$runfiles/spawn/spawn" "$runfiles/attach/attach" \
  "$runfiles/attach/attach-keeper" "$runfiles/image/image-store" "$runfiles/image/image-unpack" \
  "$runfiles/image/image-fetch" "$bin/"
# netns refuses anything someone other than root could change: root's binary in root's folder.
install -o root -g root -m 0755 "$runfiles/netns/netns" "$bin/netns"
PY=/usr/bin/python3

# Names no one else uses, and two free /24s in 10.250.0.0/16: the containers' bridge and
# the outside link.
free_net_tag
free_subnets 2 || { echo "FAIL: no free subnet in 10.250.0.0/16"; rm -rf "$work"; exit 1; }
CNET=10.250.$X ENET=10.250.$((X + 1))
BR=gdt${tag}b HOSTV=gdt${tag}h EXTV=gdt${tag}e PFX=gdt${tag}-
EXT=$ENET.2
# A port pool no one listens on.
for _ in $(seq 1 20); do
  pool=$((42000 + (RANDOM % 200) * 50))
  ss -Htln | awk '{print $4}' | grep -qE ":($(seq -s '|' "$pool" $((pool + 49))))\$" || break
done
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

pids=()
# The cgroup parents spawn makes for root containers go with the test when it made them.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for root in "$work"/*/depot/.spawn; do
    [[ -d $root ]] || continue
    for id in $("$bin/spawn" --root "$root" list -q 2>/dev/null); do "$bin/spawn" --root "$root" delete -f "$id" 2>/dev/null; done
  done
  if [[ -f $work/state/state.json ]]; then
    for h in $($PY -c 'import json,sys; print(" ".join(c["handle"] for c in json.load(open(sys.argv[1])).get("containers", [])))' "$work/state/state.json" 2>/dev/null); do
      timeout 60 "$bin/netns" --configFile "$work/etc/net.json" --action down --handle "$h" </dev/null >/dev/null 2>&1
    done
  fi
  remove_chains_of "$PFX"  # this test's chains and jumps only
  for link in "$BR" "$HOSTV"; do ip link del "$link" 2>/dev/null; done
  grep -F " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  echo "$forward_before" >/proc/sys/net/ipv4/ip_forward
  remove_new_cgroup_parents
  rm -rf "$work"
}
trap cleanup EXIT

bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
IMAGE=oci://$work/layout:latest

# ---- netns's configuration: root's, in root's folders, no one else may write any of it ----

mkdir -p "$work/etc" "$work/cni"
chmod 755 "$work/etc" "$work/cni"
printf '{"cniVersion":"1.0.0","name":"gdt%s","plugins":[{"type":"bridge","bridge":"%s","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","subnet":"%s.0/24","dataDir":"%s/ipam","routes":[{"dst":"0.0.0.0/0"}]}}]}\n' \
  "$tag" "$BR" "$CNET" "$work" >"$work/cni/10-bridge.conflist"
printf '{"cni_plugin_dir":"/usr/lib/cni","cni_config_dir":"%s/cni","bind_mount_dir":"%s/netns-mounts","state_file":"%s/state/state.json","start_port":%d,"total_ports":50,"iptables_lock_file":"%s/iptables.lock","chain_prefix":"%s"}\n' \
  "$work" "$work" "$work" "$pool" "$work" "$PFX" >"$work/etc/net.json"
chmod 644 "$work/etc/net.json" "$work/cni/10-bridge.conflist"
CONF=$work/etc/net.json

# ---- the outside: a server in a network namespace of its own, behind a veth pair ----

in_ns() { local p=$1; shift; nsenter --net=/proc/"$p"/ns/net "$@"; }
cat >"$work/outside.py" <<'PY'
import socket, sys, threading
def serve(s, port):
    while True:
        c, _ = s.accept()
        try: c.sendall(b"outside %d\n" % port)
        finally: c.close()
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    threading.Thread(target=serve, args=(s, port), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
unshare --net sleep 1000 &
ext=$!
pids+=("$ext")
for _ in $(seq 1 200); do
  [[ "$(readlink /proc/$ext/ns/net 2>/dev/null)" != "$(readlink /proc/self/ns/net)" &&
     "$(cat /proc/$ext/comm 2>/dev/null)" == sleep ]] && break
  sleep 0.01
done
ip link add "$HOSTV" type veth peer name "$EXTV" netns /proc/"$ext"/ns/net
ip addr add "$ENET.1/24" dev "$HOSTV" && ip link set "$HOSTV" up
in_ns "$ext" ip addr add "$EXT/24" dev "$EXTV"
in_ns "$ext" ip link set "$EXTV" up
in_ns "$ext" ip link set lo up
in_ns "$ext" ip route add default via "$ENET.1"
# nsenter itself (not a function, whose $! would be a subshell): it execs python, one pid.
nsenter --net=/proc/"$ext"/ns/net $PY "$work/outside.py" 8080 8081 8082 8083 >"$work/outside.ready" 2>&1 &
pids+=("$!")
for _ in $(seq 1 200); do grep -q ready "$work/outside.ready" 2>/dev/null && break; sleep 0.02; done
outside_answers() { [[ "$(in_ns "$ext" timeout 3 busybox nc "$EXT" 8080 </dev/null)" == "outside 8080" ]]; }
check "the outside server answers in its own namespace" outside_answers

# ---- helpers ----

start_server() {  # NAME [gdn server flags...]: a server as root on $work/NAME/gdn.sock
  local name=$1; shift
  mkdir -p "$work/$name"
  rm -f "$work/$name/gdn.sock"  # a killed server's: the new one's is awaited
  "$bin/gdn" server --depot "$work/$name/depot" --bind-socket "$work/$name/gdn.sock" "$@" >"$work/$name/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do [[ -S $work/$name/gdn.sock ]] && break; sleep 0.05; done
}
api() {  # SOCKET METHOD PATH [BODY]: the body, then the status code
  curl -s --max-time 30 --unix-socket "$1" -X "$2" -H 'Content-Type: application/json' ${4:+--data "$4"} \
    -w '%{http_code}' "http://api$3"
}
jget() {  # JSON PYTHON-EXPR: prints the expression over the parsed value j
  $PY -c 'import json,sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
# in_container H CMD: a shell command in the container, its output on stdout
in_container() { timeout 20 "$bin/gaol" -t "$sock" run "$1" -a -c "sh -c '$2'" </dev/null 2>&1; }
# reaches_out H PORT: the container connects to the outside server's PORT and gets its answer
reaches_out() { [[ "$(in_container "$1" "busybox timeout 3 busybox nc -w 2 $EXT $2 </dev/null")" == "outside $2" ]]; }
cant_reach_out() { ! reaches_out "$@"; }
# What the network may leave behind: bridge ports, addresses in host-local's store, rules that
# name the containers' chains or addresses, netns's bind mounts, state entries.
leftovers() {
  echo "ports: $(ip -o link show master "$BR" 2>/dev/null | wc -l)"
  echo "addresses: $(find "$work/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null | wc -l)"
  echo "rules: $( { iptables-save -t filter; iptables-save -t nat; } | not_guard | grep -E "${CNET//./\\.}\.|$PFX[oi]-|-i $BR " | grep -vc '^#')"
  echo "mounts: $(grep -cF " $work/netns-mounts/" /proc/self/mountinfo)"
  echo "state: $($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("containers", [])))' "$work/state/state.json" 2>/dev/null || echo 0)"
}
# The subnet's guard stays, like the base chains (netns/rules.h): "-A PFXforward -s NET/N", N < 32.
not_guard() { grep -vE -- "^-A ${PFX}forward -s [0-9.]+/([0-9]|[12][0-9]|3[01]) "; }
clean() {
  # A container's interface goes with its network namespace, which the kernel frees a moment
  # after the destroy (netns leaves it to it): waited for, up to 5 s.
  for _ in $(seq 1 250); do [[ $(ip -o link show master "$BR" 2>/dev/null | wc -l) == 0 ]] && break; sleep 0.02; done
  [[ "$(leftovers)" == "$(printf 'ports: 0\naddresses: 0\nrules: 0\nmounts: 0\nstate: 0')" ]] || { leftovers | sed 's/^/  /'; false; }
}

# ================= a server with netns =================

start_server net --network-plugin "$bin/netns" --network-plugin-extra-arg=--configFile="$CONF" \
  --dns-server 192.0.2.53 --additional-dns-server 192.0.2.54 --additional-host-entry "192.0.2.80 extra.example"
sock=$work/net/gdn.sock
gaol=("$bin/gaol" -t "$sock")
check "the server with netns answers ping" test "$(api "$sock" GET /ping)" = $'{}\n200'

# 1. An address.
check "gaol create with the network plugin" test "$("${gaol[@]}" create -n h -r "$IMAGE" 2>&1)" = h
info=$(api "$sock" GET /containers/h/info)
ip=$(jget "${info%???}" 'j["ContainerIP"]')
check "info: ContainerIP is in the test's subnet" eval '[[ $ip == $CNET.* && $ip != $CNET.1 && ${info: -3} == 200 ]]'
check "info: HostIP is the bridge's gateway" test "$(jget "${info%???}" 'j["HostIP"]')" = "$CNET.1"
check "info: the property garden.network.container-ip is the same" \
  test "$(jget "${info%???}" 'j["Properties"]["garden.network.container-ip"]')" = "$ip"
check "info: no ports mapped yet" test "$(jget "${info%???}" 'json.dumps(j["MappedPorts"])')" = "[]"
check "gaol info shows the ContainerIP" grep -q "\"ContainerIP\": \"$ip\"" <<<"$("${gaol[@]}" info h)"
check "the container has eth0 with that address" grep -q "inet $ip/24 " <<<"$(in_container h 'busybox ip -o -4 addr show eth0')"
check "the container's default route is the bridge" grep -q "default via $CNET.1 dev eth0" <<<"$(in_container h 'busybox ip route')"
check "the container's /etc/resolv.conf: --dns-server then --additional-dns-server" \
  test "$(in_container h 'cat /etc/resolv.conf')" = $'nameserver 192.0.2.53\nnameserver 192.0.2.54'
check "the container's /etc/hosts: localhost, its address and handle, the extra entry" \
  test "$(in_container h 'cat /etc/hosts')" = $'127.0.0.1 localhost\n'"$ip h"$'\n192.0.2.80 extra.example'
check "netns bind-mounted the container's network namespace" grep -q " $work/netns-mounts/h " /proc/self/mountinfo
check "the container is a port of the test's bridge" test "$(ip -o link show master "$BR" | wc -l)" = 1
baseline=$( { iptables-save -t filter; iptables-save -t nat; } | grep -F -- "$PFX" | grep -v '^#' | grep -vE "$PFX[oi]-|-i $BR |${CNET//./\\.}\." | sort)

# 2. net-in.
in_container h 'busybox mkdir -p /tmp/www && echo hello from h >/tmp/www/index.html' >/dev/null
"${gaol[@]}" run h -c 'busybox httpd -f -p 8080 -h /tmp/www' </dev/null >/dev/null
out=$("${gaol[@]}" net-in h -p 8080 2>&1)
hp=${out##*:}
check "gaol net-in answers a host port from netns's pool" \
  eval '[[ $out == 127.0.0.1:* && $hp -ge $pool && $hp -lt $((pool + 50)) ]]'
http_get() { curl -s --noproxy '*' --max-time 5 "http://$1/index.html"; }
got=
for _ in $(seq 1 50); do got=$(http_get "127.0.0.1:$hp") && break; sleep 0.1; done
check "the container's server answers on 127.0.0.1:<host port>" test "$got" = "hello from h"
check "... and on the bridge's address" test "$(http_get "$CNET.1:$hp")" = "hello from h"
check "... and on the container's own address" test "$(http_get "$ip:8080")" = "hello from h"
info=$(api "$sock" GET /containers/h/info)
check "info: MappedPorts lists the mapping" \
  test "$(jget "${info%???}" 'json.dumps(j["MappedPorts"])')" = "[{\"HostPort\": $hp, \"ContainerPort\": 8080}]"
check "the property garden.network.mapped-ports lists it" \
  test "$(api "$sock" GET /containers/h/properties/garden.network.mapped-ports)" = "{\"value\":\"[{\\\"HostPort\\\":$hp,\\\"ContainerPort\\\":8080}]\"}"$'\n200'
hp2=$((pool + 49))
out=$(api "$sock" POST /containers/h/net/in "{\"handle\":\"h\",\"host_port\":$hp2,\"container_port\":8080}")
check "raw net-in with a host port asked for answers that mapping" test "$out" = "{\"host_port\":$hp2,\"container_port\":8080}"$'\n200'
check "... which answers" test "$(http_get "127.0.0.1:$hp2")" = "hello from h"
check "... and joins MappedPorts" \
  test "$(jget "$(api "$sock" GET /containers/h/info | head -c -3)" 'len(j["MappedPorts"])')" = 2
out=$(api "$sock" POST /containers/h/net/in "{\"handle\":\"h\",\"host_port\":$hp2,\"container_port\":80}")
check "net-in of a host port already mapped: 500 naming the networker's action" \
  grep -qz "external networker encountered an error running 'net-in' action.*500" <<<"$out"

# 3. net-out.
check "without net-out rules the container cannot reach the outside server" cant_reach_out h 8080
out=$("${gaol[@]}" net-out h -p tcp --ip-start "$EXT" --ip-end "$EXT" --port-start 8080 --port-end 8080 2>&1)
check "gaol net-out (tcp) is applied" test "$out" = applied
check "after it the container reaches that port" reaches_out h 8080
check "... only that port (8081 stays closed)" cant_reach_out h 8081
out=$(api "$sock" POST /containers/h/net/out/bulk \
  "[{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\",\"end\":\"$EXT\"}],\"ports\":[{\"start\":8081,\"end\":8081}]},{\"protocol\":1,\"networks\":[{\"start\":\"$ENET.0\",\"end\":\"$ENET.255\"}],\"ports\":[{\"start\":8082,\"end\":8082}]}]")
check "raw bulk net-out answers {}" test "$out" = $'{}\n200'
check "after it the first rule's port answers" reaches_out h 8081
check "... and the second's" reaches_out h 8082
check "... and 8083, in neither, stays closed" cant_reach_out h 8083
out=$(api "$sock" POST /containers/h/net/out/bulk '{"protocol":1}')
check "bulk net-out of a non-array is Garden's unmarshal error" grep -qz 'cannot unmarshal.*NetOutRule.*500' <<<"$out"
out=$(api "$sock" POST /containers/h/net/out '{"protocol":4}')
check "net-out of an icmpv6 rule: netns refuses it, 500" grep -qz "running 'net-out' action.*500" <<<"$out"

# 4. destroy runs down.
check "gaol destroy" "${gaol[@]}" destroy h
check "destroy leaves no bridge port, address, rule, netns mount or state entry" clean
check "... and only the base chains of the prefix" \
  test "$( { iptables-save -t filter; iptables-save -t nat; } | grep -F -- "$PFX" | grep -v '^#' | not_guard | sort)" = "$baseline"
check "... and the mapped host port is closed" bash -c "! curl -s --noproxy '*' --max-time 2 http://127.0.0.1:$hp/ >/dev/null"
check "... and the container is gone" grep -q '404$' <<<"$(api "$sock" GET /containers/h/info)"

# Create with netin and netout_rules in the spec: up gets them, and a destroy still cleans up.
out=$(api "$sock" POST /containers "{\"handle\":\"h2\",\"image\":{\"uri\":\"$IMAGE\"},\"properties\":{\"network.app_id\":\"a\"},\"netin\":[{\"host_port\":0,\"container_port\":9090}],\"netout_rules\":[{\"protocol\":1,\"networks\":[{\"start\":\"$EXT\",\"end\":\"$EXT\"}],\"ports\":[{\"start\":8083,\"end\":8083}]}]}")
check "raw create with netin and netout_rules" test "$out" = $'{"Handle":"h2"}\n200'
info=$(api "$sock" GET /containers/h2/info)
ip2=$(jget "${info%???}" 'j["ContainerIP"]')
hp3=$(jget "${info%???}" 'j["MappedPorts"][0]["HostPort"]')
check "it gets an address in the subnet" eval '[[ $ip2 == $CNET.* ]]'
check "its MappedPorts has the spec's netin, from the pool" \
  eval '[[ $(jget "${info%???}" "j[\"MappedPorts\"][0][\"ContainerPort\"]") == 9090 && $hp3 -ge $pool && $hp3 -lt $((pool + 50)) ]]'
in_container h2 'busybox mkdir -p /tmp/www && echo hello from h2 >/tmp/www/index.html' >/dev/null
"${gaol[@]}" run h2 -c 'busybox httpd -f -p 9090 -h /tmp/www' </dev/null >/dev/null
got=
for _ in $(seq 1 50); do got=$(http_get "127.0.0.1:$hp3") && break; sleep 0.1; done
check "... which answers from the host" test "$got" = "hello from h2"
check "the spec's netout rule lets it reach its port" reaches_out h2 8083
check "... and nothing else (8080 stays closed)" cant_reach_out h2 8080
# The one masquerade netns makes: 127.0.0.1's clients of a mapped port, onto the test's bridge.
no_masquerade_out() {
  local rules; rules=$(iptables-save -t nat | grep MASQUERADE)
  ! grep -qF -- "-s $CNET." <<<"$rules" && ! grep -F -- "$PFX" <<<"$rules" | grep -vq -- "-s 127.0.0.0/8 .*-o $BR "
}
check "nothing masquerades the containers' traffic (only 127/8 clients onto the test's bridge)" no_masquerade_out
check "gaol destroy of the second container" "${gaol[@]}" destroy h2
check "its destroy leaves nothing either" clean

# 5. SIGKILL of the server right before or after the plugin's up and down: the restart runs
# down, so no address, port, rule or mount is kept (nor handed out twice later).
killing_plugin netns
killnet=(--network-plugin "$bin/killing-netns" --network-plugin-extra-arg=--configFile="$CONF")
start_server killnet "${killnet[@]}"
sock=$work/killnet/gdn.sock
for step in up:before up:after down:before down:after; do
  [[ $step == down:* ]] && "$bin/gaol" -t "$sock" create -n "k-${step%:*}-${step#*:}" -r "$IMAGE" >/dev/null
  echo "netns:$step" >"$work/kill-at"
  if [[ $step == up:* ]]; then
    "$bin/gaol" -t "$sock" create -n "k-${step%:*}-${step#*:}" -r "$IMAGE" >/dev/null 2>&1
  else
    "$bin/gaol" -t "$sock" destroy "k-${step%:*}-${step#*:}" >/dev/null 2>&1
  fi
  wait "${pids[-1]}" 2>/dev/null
  start_server killnet "${killnet[@]}"
  check "kill -9 at netns $step: after the restart the container is gone" \
    test -z "$("$bin/gaol" -t "$sock" list)"
  check "kill -9 at netns $step: ... and nothing of its network is left" clean
done
check "kill -9 at netns up/down: every kill happened" test ! -e "$work/kill-at"
"$bin/gaol" -t "$sock" create -n ka -r "$IMAGE" >/dev/null
"$bin/gaol" -t "$sock" create -n kb -r "$IMAGE" >/dev/null
ipa=$(jget "$(api "$sock" GET /containers/ka/info | head -c -3)" 'j["ContainerIP"]')
ipb=$(jget "$(api "$sock" GET /containers/kb/info | head -c -3)" 'j["ContainerIP"]')
check "after the kills two new containers get two addresses" eval '[[ $ipa == $CNET.* && $ipb == $CNET.* && $ipa != "$ipb" ]]'
"$bin/gaol" -t "$sock" destroy ka
"$bin/gaol" -t "$sock" destroy kb
check "... and their destroys leave nothing" clean

# 6. A server without a network plugin.
start_server plain
sock=$work/plain/gdn.sock
"$bin/gaol" -t "$sock" create -n h -r "$IMAGE" >/dev/null
out=$("$bin/gaol" -t "$sock" net-in h -p 8080 2>&1); rc=$?
check "without a network plugin, gaol net-in: error: cannot find container [h], exit 1" \
  eval '[[ $rc == 1 && $out == "error: cannot find container [h]" ]]'
out=$(api "$sock" POST /containers/h/net/out '{"protocol":1}')
check "without a network plugin, raw net-out: 500 cannot find container [h]" \
  grep -qz '"Message":"cannot find container \[h\]".*500' <<<"$out"
check "without a network plugin, info has no ContainerIP" \
  test "$(jget "$(api "$sock" GET /containers/h/info | head -c -3)" 'j["ContainerIP"]')" = ""
"$bin/gaol" -t "$sock" destroy h

junit_finish gdn_network_test
