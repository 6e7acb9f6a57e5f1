#!/usr/bin/env bash
# setup end to end on the real host, as root: every effect checked from the outside (stat,
# the cgroup tree, iptables-save, sysctl) and as the unprivileged test user; a second run
# changes nothing and prints the same; --undo puts the host back as it was; a user without
# subordinate ids gets exit 5 and no change (and --add-subids, on a throwaway user); the
# network config cannot be changed by the user. Everything it makes is relocated under a
# temporary folder, with iptables chains of a prefix of its own, except the cgroups (the
# real hierarchies, gdn-<uid of gdn-test>) and ip_forward; all of it is undone on exit.
set -uo pipefail
if [[ $(id -u) -ne 0 ]] || ! getent passwd gdn-test >/dev/null; then
  [[ "${CI:-}" == true ]] && { echo "FAIL: needs root and gdn-test (tools/test)"; exit 1; }
  echo "SKIP: needs root and the test user"; exit 0
fi
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"

uid=$(id -u gdn-test) gid=$(id -g gdn-test)
cgroot=/sys/fs/cgroup
mark=gst$$                     # in every chain prefix this test uses
prefix=${mark}a- prefix_tmp=${mark}b- prefix_v2=${mark}c-
# The test works on the real cgroup hierarchies; a subtree of that name made by someone else
# must not be touched, not even by the cleanup.
existing=$(find "$cgroot" -maxdepth 2 -name "gdn-$uid" 2>/dev/null)
if [[ -n "$existing" ]]; then
  echo "FAIL: cgroups named gdn-$uid exist before the test; not touching them: $existing"
  exit 1
fi

work=$(mktemp -d /tmp/gdn-setup-test.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/bin" "$work/bin-idmap-only" "$work/out"
install -m 0755 "$runfiles/setup/setup" "$runfiles/idmap/idmap" "$work/bin/"
install -m 0755 "$runfiles/idmap/idmap" "$work/bin-idmap-only/"
install -m 0755 /bin/true "$work/bin/netns"  # a stand-in for a built netns
setup=$work/bin/setup
out=$work/out
forward_before=$(sysctl -n net.ipv4.ip_forward)
unified_before=$(cat "$cgroot/unified/cgroup.subtree_control" 2>/dev/null)
tmpuser="" tmpuid=""
# The options of the cgroup2 superblock (favordynmods among them), "" without a cgroup2 mount.
cgroup2_options() { awk '{ for (i = 1; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $(i + 3); exit } break } }' /proc/self/mountinfo; }
cgroup2_before=$(cgroup2_options)

cleanup() {
  for dir in etc etc-v2 etc-tmp; do
    [[ -d "$work/$dir" ]] && "$setup" --undo --rootless-uid "$uid" --config-dir "$work/$dir" >/dev/null 2>&1
  done
  [[ -n "$tmpuid" ]] && "$setup" --undo --rootless-uid "$tmpuid" --config-dir "$work/etc-tmp" >/dev/null 2>&1
  # Whatever is left: the cgroups (none existed before), the chains, ip_forward.
  for d in $(find "$cgroot" -maxdepth 2 \( -name "gdn-$uid" -o -name "gdn-${tmpuid:-none}" \) 2>/dev/null); do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  if [[ -f "$cgroot/unified/cgroup.subtree_control" ]]; then
    for c in $(cat "$cgroot/unified/cgroup.subtree_control"); do
      [[ " $unified_before " == *" $c "* ]] || echo "-$c" >"$cgroot/unified/cgroup.subtree_control"
    done
  fi
  for t in filter nat; do
    iptables-save -t $t | grep -E "^-A [A-Z]+ -j $mark" | sed 's/^-A //' |
      while read -r rule; do iptables -w -t $t -D $rule; done
    iptables-save -t $t | grep -oE "^:$mark[^ ]+" | cut -c2- |
      while read -r c; do iptables -w -t $t -F "$c"; iptables -w -t $t -X "$c"; done
  done
  sysctl -qw net.ipv4.ip_forward="$forward_before"
  if [[ ,$(cgroup2_options), == *,favordynmods,* && ,$cgroup2_before, != *,favordynmods,* ]]; then
    echo "setup_test: favordynmods left on the cgroup2 superblock (setup --undo failed)" >&2
  fi
  if [[ -n "$tmpuser" ]]; then
    sed -i "/^$tmpuser:/d" /etc/subuid /etc/subgid
    userdel "$tmpuser" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups env PATH=/usr/bin:/bin "$@"; }

# The host as the test can see it: the gdn-* cgroups (owners and modes of their files), the
# unified root's controllers, this test's iptables rules and chains, ip_forward, every file
# under the work folder, the subordinate id files.
snapshot() {
  echo "== cgroups"
  find "$cgroot" -maxdepth 2 -name 'gdn-*' 2>/dev/null | sort | while read -r d; do
    find "$d" -maxdepth 1 -printf '%p %U:%G %m\n' | sort
  done
  echo "== unified"; cat "$cgroot/unified/cgroup.subtree_control" 2>/dev/null
  echo "== iptables"
  for t in filter nat; do iptables-save -t $t | grep -F -- "$mark" | sed "s/^/$t /"; done
  echo "== sysctl"; sysctl -n net.ipv4.ip_forward
  echo "== cgroup2 superblock options"; cgroup2_options
  echo "== files"
  find "$work" -mindepth 1 \( -path "$work/bin*" -o -path "$out" \) -prune -o -printf '%p %U:%G %m %s\n' | sort
  echo "== subids"; sha256sum /etc/subuid /etc/subgid
}

cat >"$work/net.json" <<EOF
{"bind_mount_dir": "$work/netns", "state_file": "$work/netstate/state.json", "subnet": "10.253.0.0/24"}
EOF
args=(--rootless-uid "$uid" --rootless-gid "$gid" --config-dir "$work/etc" --depot "$work/var/depot"
      --store "$work/var/store" --run-dir "$work/run/$uid" --install-dir "$work/lib"
      --bin-dir "$work/bin" --chain-prefix "$prefix" --network-config "$work/net.json")

if [[ $(stat -f -c %T "$cgroot") == cgroup2fs ]]; then
  v2=1 subtrees=("$cgroot/gdn-$uid") memory=$cgroot/gdn-$uid limit=memory.max
else
  v2=0 memory=$cgroot/memory/gdn-$uid limit=memory.limit_in_bytes subtrees=()
  for c in memory cpu cpuacct cpuset pids blkio devices freezer; do
    [[ $(stat -f -c %T "$cgroot/$c" 2>/dev/null) == cgroupfs ]] && subtrees+=("$(realpath "$cgroot/$c")/gdn-$uid")
  done
fi

# A store folder that exists before setup: handed over, and given back (not removed) by undo.
mkdir -p "$work/var/store" && chmod 755 "$work/var" "$work/var/store"
snapshot >"$out/before"

# ---- A failed check changes nothing.
as_user "$setup" "${args[@]}" >/dev/null 2>"$out/err-user"
check "run by a user: exit 5" test $? = 5
check "run by a user: says it needs root" grep -q "must run as root" "$out/err-user"
mkdir "$work/userdir" && chown "$uid:$gid" "$work/userdir"
"$setup" "${args[@]/$work\/etc/$work/userdir/etc}" >/dev/null 2>"$out/err-writable"
check "a config dir the user could change: exit 5" test $? = 5
check "a config dir the user could change: named" grep -q "$work/userdir is owned by $uid:$gid" "$out/err-writable"
rmdir "$work/userdir"
check "failed checks changed nothing" diff "$out/before" <(snapshot)
# A failure half-way (the network config's place taken by a folder) rolls back what the run did.
mkdir -p "$work/etc/network/$uid.json"
snapshot >"$out/before-halfway"
"$setup" "${args[@]}" >/dev/null 2>"$out/err-halfway"
check "a failure half-way: exit 4" test $? = 4
check "a failure half-way: says why" grep -q "$uid.json exists and is no regular file" "$out/err-halfway"
check "a failure half-way: everything rolled back" diff "$out/before-halfway" <(snapshot)
rm -r "$work/etc"

# ---- setup.
"$setup" "${args[@]}" >"$out/run1" 2>"$out/err1"
check "setup exits 0" test $? = 0
cat "$out/run1"
for s in "${subtrees[@]}"; do
  check "cgroup $s is the user's" test "$(stat -c %u:%g "$s" "$s/cgroup.procs")" = "$uid:$gid"$'\n'"$uid:$gid"
  if [[ $v2 == 0 ]]; then
    check "cgroup $s: tasks is the user's" test "$(stat -c %u:%g "$s/tasks")" = "$uid:$gid"
    check "cgroup $s: limits stay root's" test "$(stat -c %u "$s/notify_on_release")" = 0
  else
    check "cgroup $s: subtree_control and threads are the user's" \
      test "$(stat -c %u:%g "$s/cgroup.subtree_control" "$s/cgroup.threads" | sort -u)" = "$uid:$gid"
  fi
  check "cgroup $s is in the output" grep -qF "cgroup $s: owned by $uid:$gid" "$out/run1"
done
if [[ $v2 == 0 ]]; then
  check "v1 cpuset: cpus and mems copied down" \
    test "$(cat "$cgroot/cpuset/gdn-$uid/cpuset.cpus" "$cgroot/cpuset/gdn-$uid/cpuset.mems")" = \
         "$(cat "$cgroot/cpuset/cpuset.cpus" "$cgroot/cpuset/cpuset.mems")"
fi
check "the user makes a cgroup in its subtree and writes a memory limit" as_user sh -c "
  mkdir '$memory/c1' && echo 104857600 >'$memory/c1/$limit' && [ \$(cat '$memory/c1/$limit') = 104857600 ] &&
  rmdir '$memory/c1'"
check "the user cannot make a cgroup beside its subtree" as_user sh -c "! mkdir '$(dirname "$memory")/gdn-x-$$' 2>/dev/null"

check "depot, store, run folder: the user's, 0700" test "$(stat -c '%u:%g %a' "$work/var/depot" "$work/var/store" "$work/run/$uid" | sort -u)" = "$uid:$gid 700"
check "parents made root's, 0755" test "$(stat -c '%u:%g %a' "$work/run" | sort -u)" = "0:0 755"
check "idmap installed root-owned 4755" test "$(stat -c '%u:%g %a' "$work/lib/idmap")" = "0:0 4755"
check "netns installed root-owned 4755" test "$(stat -c '%u:%g %a' "$work/lib/netns")" = "0:0 4755"
check "installed idmap is the built one" cmp -s "$work/lib/idmap" "$runfiles/idmap/idmap"
as_user "$work/lib/idmap" show --user gdn-test >"$out/show" 2>&1
check "idmap show works for the user" grep -q '"uid":'"$uid"',"uid_ranges":\[{"start":1000000,"count":65536}' "$out/show"
# The setuid idmap maps the user's subordinate ranges into a namespace of its own.
as_user bash -c '
  unshare --user sleep 30 & pid=$!
  for i in $(seq 100); do [[ $(readlink /proc/$pid/ns/user) != $(readlink /proc/self/ns/user) ]] && break; sleep 0.05; done
  "$1" apply --pid $pid --uid-map 0:'"$uid"':1 --uid-map 1:1000000:65536 --gid-map 0:'"$gid"':1 --gid-map 1:1000000:65536 &&
    tr -s " " </proc/$pid/uid_map; kill $pid' _ "$work/lib/idmap" >"$out/uid_map" 2>&1
check "idmap maps the user's ranges" grep -qx " *1 1000000 65536" "$out/uid_map"
grep -qx " *1 1000000 65536" "$out/uid_map" || sed 's/^/  idmap apply: /' "$out/uid_map"

check "record root-owned 0644 in root-owned 0755 folders" \
  test "$(stat -c '%u:%g %a' "$work/etc/setup/$uid.json" "$work/etc/setup" "$work/etc")" = $'0:0 644\n0:0 755\n0:0 755'
check "record is for the user and lists actions" python3 -c "
import json, sys
r = json.load(open('$work/etc/setup/$uid.json'))
assert r['uid'] == $uid and r['gid'] == $gid and r['user'] == 'gdn-test', r
kinds = {a['kind'] for a in r['actions']}
assert {'FOLDER', 'CGROUP', 'HELPER', 'FILE', 'CHAIN', 'JUMP'} <= kinds, kinds
assert r['idmap'] == '$work/lib/idmap' and r['netns'] == '$work/lib/netns', r"
netcfg=$work/etc/network/$uid.json
check "network config root-owned 0644 in a root-owned 0755 folder" \
  test "$(stat -c '%u:%g %a' "$netcfg" "$work/etc/network")" = $'0:0 644\n0:0 755'
check "network config holds the fields netns needs" python3 -c "
import json
c = json.load(open('$netcfg'))
for k in ['cni_plugin_dir', 'cni_config_dir', 'bind_mount_dir', 'state_file', 'start_port', 'total_ports',
          'log_prefix', 'iptables_lock_file', 'subnet', 'uid', 'chain_prefix']:
    assert k in c, k
assert c['subnet'] == '10.253.0.0/24' and c['uid'] == $uid and c['chain_prefix'] == '$prefix', c"
sum_before=$(sha256sum "$netcfg")
as_user sh -c "echo '{}' >'$netcfg'" 2>/dev/null; r1=$?
as_user rm -f "$netcfg" 2>/dev/null; r2=$?
as_user mv "$netcfg" "$netcfg.x" 2>/dev/null; r3=$?
as_user touch "$work/etc/network/cni-$uid/evil.conflist" 2>/dev/null; r4=$?
check "the user cannot write, remove or rename the network config" test "$r1$r2$r3" != 000 -a $r1 != 0 -a $r2 != 0 -a $r3 != 0
check "the user cannot add a CNI config" test $r4 != 0
check "the network config is unchanged" test "$(sha256sum "$netcfg")" = "$sum_before"
conflist=$work/etc/network/cni-$uid/gdn-$uid.conflist
check "a CNI network for netns: root-owned 0644" test "$(stat -c '%u:%g %a' "$conflist")" = "0:0 644"
check "a CNI network for netns: bridge and host-local over the subnet" python3 -c "
import json
n = json.load(open('$conflist'))
b = n['plugins'][0]
assert b['type'] == 'bridge' and b['ipam']['type'] == 'host-local', n
assert b['ipam']['ranges'] == [[{'subnet': '10.253.0.0/24'}]] and b['ipam']['dataDir'] == '$work/netstate/ipam', n"
check "CNI config and state folders root-owned 0755" \
  test "$(stat -c '%u:%g %a' "$work/etc/network/cni-$uid" "$work/netstate" | sort -u)" = "0:0 755"
check "the bind-mount folder root's alone, 0700" test "$(stat -c '%u:%g %a' "$work/netns")" = "0:0 700"

iptables-save >"$out/iptables"
for c in "filter INPUT input" "filter FORWARD forward" "nat PREROUTING prerouting" "nat OUTPUT output" "nat POSTROUTING postrouting"; do
  read -r table parent name <<<"$c"
  check "iptables $table: chain $prefix$name exists" grep -q "^:$prefix$name " <(iptables-save -t "$table")
  check "iptables $table: $parent jumps to $prefix$name" grep -qx -- "-A $parent -j $prefix$name" <(iptables-save -t "$table")
done
check "one masquerade rule for the subnet's traffic to elsewhere" \
  test "$(iptables-save -t nat | grep -c -- "-A ${prefix}postrouting -s 10.253.0.0/24 ! -d 10.253.0.0/24 -j MASQUERADE")" = 1
check "ip_forward is 1" test "$(sysctl -n net.ipv4.ip_forward)" = 1
if [[ -n $cgroup2_before ]]; then
  # Linux 6.0+ knows it; an older kernel leaves it off and says so.
  check "cgroup2 favordynmods on, the other superblock options kept" python3 -c "
before, now = set('$cgroup2_before'.split(',')), set('$(cgroup2_options)'.split(','))
assert now == before | {'favordynmods'} or ('off: ' in open('$out/run1').read() and now == before), (before, now)"
  check "the output says favordynmods is on" grep -qE "^cgroup option favordynmods: (on|off: this kernel)" "$out/run1"
fi
check "the output says netns was installed" grep -qF "helper $work/lib/netns: owned by 0:0, mode 4755" "$out/run1"
check "one line per item" test "$(grep -cv '^[a-z][a-z ]* [^ ]*.*: ' "$out/run1")" = 0

# ---- A second run changes nothing and prints the same.
snapshot >"$out/after1"
cp "$work/etc/setup/$uid.json" "$out/record1"
"$setup" "${args[@]}" >"$out/run2" 2>&1
check "second run exits 0" test $? = 0
check "second run prints the same" diff "$out/run1" "$out/run2"
check "second run changes nothing" diff "$out/after1" <(snapshot)
check "second run keeps the record as it was" cmp "$out/record1" "$work/etc/setup/$uid.json"
check "iptables rules not added twice" test "$(iptables-save | grep -c -- "-j $prefix")" = 5
"$setup" "${args[@]}" --json >"$out/json"
check "--json prints a summary with every line as an item" python3 -c "
import json
s = json.load(open('$out/json'))
lines = open('$out/run1').read().splitlines()
assert s['uid'] == $uid and len(s['items']) == len(lines), (len(s['items']), len(lines))
assert all(f\"{i['kind']} {i['name']}: {i['state']}\" == l for i, l in zip(s['items'], lines))"
"$setup" "${args[@]/$work\/var\/depot/$work/var/depot2}" >/dev/null 2>"$out/err-other"
check "a run with other settings: exit 4" test $? = 4
check "a run with other settings: says undo first" grep -q "already set up with other settings.*--undo" "$out/err-other"
check "a run with other settings changes nothing" diff "$out/after1" <(snapshot)

# ---- Users never share addresses or host ports: another user asking for this one's subnet,
# or for its ports, is refused before anything changes.
uid2=$(id -u gdn-test2) gid2=$(id -g gdn-test2)
args2=(--rootless-uid "$uid2" --rootless-gid "$gid2" --config-dir "$work/etc" --depot "$work/var/depot-2"
       --store "$work/var/store-2" --run-dir "$work/run/$uid2" --install-dir "$work/lib"
       --bin-dir "$work/bin" --chain-prefix "${prefix}b")
cat >"$work/net2.json" <<EOF
{"bind_mount_dir": "$work/netns2", "state_file": "$work/netstate2/state.json", "subnet": "10.253.0.128/25"}
EOF
"$setup" "${args2[@]}" --network-config "$work/net2.json" >/dev/null 2>"$out/err-overlap"
check "another user's overlapping subnet: exit 4" test $? = 4
check "another user's overlapping subnet: both named" grep -q "subnet 10.253.0.128/25 overlaps uid $uid's 10.253.0.0/24" "$out/err-overlap"
cat >"$work/net2.json" <<EOF
{"bind_mount_dir": "$work/netns2", "state_file": "$work/netstate2/state.json", "subnet": "10.253.1.0/24", "start_port": 65000, "total_ports": 100}
EOF
"$setup" "${args2[@]}" --network-config "$work/net2.json" >/dev/null 2>"$out/err-ports"
check "another user's overlapping host ports: exit 4" test $? = 4
check "another user's overlapping host ports: both named" grep -q "host ports 65000-65099 overlap uid $uid's 61001-65534" "$out/err-ports"
rm -f "$work/net2.json"
check "refused overlaps changed nothing" diff "$out/after1" <(snapshot)

# ---- --undo puts everything back (netns's runtime state folder too, once it holds no
# container: its state file, locks and host-local's leases, as netns leaves them).
mkdir -p "$work/netstate/ipam/net" && echo '{"containers":[]}' >"$work/netstate/state.json"
touch "$work/netstate/state.json.lock" "$work/netstate/ipam/net/lock" "$work/netstate/ipam/net/last_reserved_ip.0"
"$setup" --undo --rootless-uid "$uid" --config-dir "$work/etc" >"$out/undo" 2>&1
check "undo exits 0" test $? = 0
cat "$out/undo"
check "undo returns the host to the state before" diff "$out/before" <(snapshot)
check "a folder that existed before is given back, not removed" test "$(stat -c '%u:%g %a' "$work/var/store")" = "0:0 755"
check "ip_forward is back" test "$(sysctl -n net.ipv4.ip_forward)" = "$forward_before"
check "the cgroup2 superblock options are back" test "$(cgroup2_options)" = "$cgroup2_before"
check "no chain of the prefix is left" bash -c "! iptables-save | grep -qF -- '$prefix'"
"$setup" --undo --rootless-uid "$uid" --config-dir "$work/etc" >"$out/undo2" 2>&1
check "a second undo exits 0 and finds nothing" grep -q "absent, nothing to undo" "$out/undo2"

# ---- A user without subordinate ids: exit 5 and no change; --add-subids adds one range.
tmpuser=gdnst$$
if useradd --system --no-create-home --shell /usr/sbin/nologin "$tmpuser"; then
  tmpuid=$(id -u "$tmpuser") tmpgid=$(id -g "$tmpuser")
  tmpargs=(--rootless-uid "$tmpuid" --rootless-gid "$tmpgid" --config-dir "$work/etc-tmp"
           --depot "$work/tmp/depot" --store "$work/tmp/store" --run-dir "$work/tmp/run"
           --install-dir "$work/lib-tmp" --bin-dir "$work/bin-idmap-only" --chain-prefix "$prefix_tmp"
           --network-config "$work/net.json")
  snapshot >"$out/before-tmp"
  "$setup" "${tmpargs[@]}" >"$out/tmp-out" 2>"$out/tmp-err"
  check "no subordinate ids: exit 5" test $? = 5
  cat "$out/tmp-err"
  free=$(awk -F: 'NF == 3 && $2 ~ /^[0-9]+$/ { e = $2 + $3; if (e > m) m = e } END { print (m > 100000 ? m : 100000) }' /etc/subuid /etc/subgid)
  check "no subordinate ids: the exact line to add is named" \
    grep -qF "add the line \"$tmpuser:$free:65536\" to /etc/subuid" "$out/tmp-err"
  check "no subordinate ids: nothing changed" diff "$out/before-tmp" <(snapshot)
  "$setup" "${tmpargs[@]}" --add-subids >"$out/tmp-add" 2>&1
  check "--add-subids: exit 0" test $? = 0
  check "--add-subids: one range appended to /etc/subuid" test "$(grep -c "^$tmpuser:" /etc/subuid)" = 1
  check "--add-subids: the free range $free:65536 in both files" \
    test "$(grep "^$tmpuser:" /etc/subuid /etc/subgid | cut -d: -f2-)" = "$tmpuser:$free:65536"$'\n'"$tmpuser:$free:65536"
  check "netns not built: said and skipped" grep -qx "helper netns: not built, skipped" "$out/tmp-add"
  check "netns not built: not installed" test ! -e "$work/lib-tmp/netns"
  "$setup" --undo --rootless-uid "$tmpuid" --config-dir "$work/etc-tmp" >"$out/tmp-undo" 2>&1
  check "--add-subids undone: exit 0" test $? = 0
  check "--add-subids undone: the host as before" diff "$out/before-tmp" <(snapshot)
  sed -i "/^$tmpuser:/d" /etc/subuid /etc/subgid
  userdel "$tmpuser" && tmpuser="" tmpuid=""
else
  check "useradd of a throwaway user" false
fi

# ---- cgroup v2 delegation, on the hybrid host's cgroup2 hierarchy where it has a controller.
unified=$cgroot/unified
if [[ $v2 == 0 && $(stat -f -c %T "$unified" 2>/dev/null) == cgroup2fs && -n $(cat "$unified/cgroup.controllers" 2>/dev/null) ]]; then
  ctl=$(awk '{ print $1 }' "$unified/cgroup.controllers")
  v2args=("${args[@]/$work\/etc/$work/etc-v2}")
  v2args=("${v2args[@]/$prefix/$prefix_v2}" --cgroup-root "$unified" --cgroup-controllers "$ctl")
  snapshot >"$out/before-v2"
  "$setup" "${v2args[@]}" >"$out/v2" 2>&1
  check "v2: exit 0" test $? = 0
  sub=$unified/gdn-$uid
  check "v2: $ctl enabled in the root's cgroup.subtree_control" grep -qw "$ctl" "$unified/cgroup.subtree_control"
  check "v2: the subtree and its delegation files are the user's" \
    test "$(stat -c %u:%g "$sub" "$sub/cgroup.procs" "$sub/cgroup.subtree_control" "$sub/cgroup.threads" | sort -u)" = "$uid:$gid"
  check "v2: the user's child cgroups get $ctl" as_user sh -c "
    mkdir '$sub/c1' && grep -qw '$ctl' '$sub/c1/cgroup.controllers' && rmdir '$sub/c1'"
  if [[ $ctl == hugetlb ]]; then
    check "v2: the user writes a hugetlb limit in its child" as_user sh -c "
      mkdir '$sub/c1' && f=\$(ls '$sub/c1' | grep -m1 '^hugetlb\.[^.]*\.max$') && echo 0 >'$sub/c1/'\$f &&
      [ \$(cat '$sub/c1/'\$f) = 0 ] && rmdir '$sub/c1'"
  fi
  "$setup" "${v2args[@]}" >"$out/v2-again" 2>&1
  check "v2: a second run prints the same" diff "$out/v2" "$out/v2-again"
  "$setup" --undo --rootless-uid "$uid" --config-dir "$work/etc-v2" >/dev/null 2>&1
  check "v2: undo exits 0" test $? = 0
  check "v2: undo returns the host to the state before" diff "$out/before-v2" <(snapshot)
fi

junit_finish setup_test
