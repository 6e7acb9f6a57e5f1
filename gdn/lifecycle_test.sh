#!/usr/bin/env bash
# gdn server over its lifetime, as root, no network plugin: a server killed with SIGKILL
# and started again keeps its containers and their running processes (re-attachable) and
# removes what it was half-way through making; 20 clients at once leave nothing behind (no
# descriptor, thread, process, container or folder more than before); a slow reader of
# 100 MB gets every byte while the server's memory stays bounded.
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
privileged_work lifecycle-test
install -m 0755 "$runfiles/gdn/gdn" "$runfiles/gdn/gdn-init" "$runfiles/gdn/gaol" "$runfiles/spawn/spawn" "$runfiles/attach/attach" \
  "$runfiles/attach/attach-keeper" "$runfiles/image/image-store" "$runfiles/image/image-unpack" \
  "$runfiles/image/image-fetch" "$bin/"
server=""
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null && wait "$server" 2>/dev/null
  local root=$work/depot/.spawn
  if [[ -d $root ]]; then
    for id in $("$bin/spawn" --root "$root" list -q 2>/dev/null); do "$bin/spawn" --root "$root" delete -f "$id" 2>/dev/null; done
  fi
  # Keepers of this test's processes, by the pids in their folders.
  for f in "$work"/depot/*/processes/*/process.json; do
    [[ -f $f ]] || continue
    for key in keeper_pid pid; do
      p=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' "$f" "$key" 2>/dev/null)
      [[ -n $p && $p != 0 ]] && kill -9 "$p" 2>/dev/null
    done
  done
  remove_new_cgroup_parents
  rm -rf "$work"
}
trap cleanup EXIT

bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
sock=$work/gdn.sock
start_server() {
  rm -f "$sock"
  "$bin/gdn" server --depot "$work/depot" --bind-socket "$sock" "$@" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 200); do [[ -S $sock ]] && break; sleep 0.05; done
}
gaol() { "$bin/gaol" -t "$sock" "$@"; }
fds() { ls "/proc/$server/fd" | wc -l; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$server/status"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
children() { ps -o pid= --ppid "$server" | wc -l; }

start_server
image=oci://$work/layout:latest

# --- SIGKILL and restart: containers and their processes survive ---
gaol create -n keep -r "$image" >/dev/null
pid=$(gaol run keep -c "sh -c 'i=0; while [ \$i -lt 40 ]; do echo tick\$i; i=\$((i+1)); busybox sleep 0.1; done'" </dev/null)
check "restart: a process is running" test -n "$pid"
kill -9 "$server"; wait "$server" 2>/dev/null
start_server
check "restart: the container is listed again" grep -qx keep <<<"$(gaol list)"
out=$(gaol attach keep -p "$pid" </dev/null)
check "restart: the process is re-attached and its output is whole" \
  bash -c '[[ $(wc -l <<<"$1") == 40 && $(head -1 <<<"$1") == tick0 && $(tail -1 <<<"$1") == tick39 ]]' _ "$out"
check "restart: run works in the kept container" test "$(gaol run keep -a -c 'echo again' </dev/null)" = again
check "restart: destroy works" gaol destroy keep

# --- A destroyed container's folder goes into the depot's trash and is removed from there;
# a trash a killed server left behind is emptied by the next start ---
check "trash: the destroyed container's folder is gone at once" test ! -e "$work/depot/keep"
trash_empty() { for _ in $(seq 1 250); do [[ -z $(ls -A "$work/depot/.trash" 2>/dev/null) ]] && return 0; sleep 0.02; done; return 1; }
check "trash: and emptied meanwhile" trash_empty
mkdir -p "$work/depot/.trash/left.1/bundle" && echo x >"$work/depot/.trash/left.1/bundle/config.json"
kill -9 "$server"; wait "$server" 2>/dev/null
start_server
gone_all() { for _ in $(seq 1 250); do [[ -z $(ls -A "$work/depot" | grep '^\.trash') || -z $(find "$work/depot" -path '*trash*' -name config.json) ]] && return 0; sleep 0.02; done; return 1; }
check "trash: what a killed server left there goes at the next start" gone_all

# --- SIGKILL half-way through a create: the restart removes what was made ---
gaol create -n half -r "$image" >/dev/null 2>&1 &
creator=$!
for _ in $(seq 1 400); do [[ -e $work/depot/half/bundle/config.json ]] && break; sleep 0.005; done
kill -9 "$server"; wait "$server" 2>/dev/null
wait "$creator" 2>/dev/null
check "half-made: the killed create got as far as the bundle" test -e "$work/depot/half"
start_server
check "half-made: not listed after the restart" bash -c "! '$bin/gaol' -t '$sock' list | grep -qx half"
check "half-made: its folder is gone" test ! -e "$work/depot/half"
check "half-made: no spawn container of it" bash -c "! '$bin/spawn' --root '$work/depot/.spawn' list -q | grep -qx half"
check "half-made: no image of it in the store" bash -c "! '$bin/image-store' --store '$work/depot/.store' list 2>/dev/null | grep -qx half"

# --- SIGKILL at every step of create (image, spec, run) and destroy: the restart leaves nothing half-made ---
# The runtime and image plugin are wrappers that kill the server (their parent) right before
# or right after the named step of theirs; the step itself is the real binary's.
killing_plugin spawn
killing_plugin image-store
killing=(--runtime-plugin "$bin/killing-spawn" --image-plugin "$bin/killing-image-store"
         --image-plugin-extra-arg=--store --image-plugin-extra-arg="$work/depot/.store")
leftovers() {  # leftovers HANDLE: what of it is anywhere (nothing: empty output)
  gaol list | grep -x "$1"
  ls -d "$work/depot/$1" 2>/dev/null
  "$bin/spawn" --root "$work/depot/.spawn" list -q | grep -x "$1"
  "$bin/image-store" --store "$work/depot/.store" list 2>/dev/null | grep -x "$1"
}
kill -9 "$server"; wait "$server" 2>/dev/null
start_server "${killing[@]}"
n=0
for step in image-store:create:before image-store:create:after spawn:spec:after spawn:run:before \
            spawn:run:after; do
  n=$((n + 1))
  echo "$step" >"$work/kill-at"
  gaol create -n "kc$n" -r "$image" >/dev/null 2>&1
  wait "$server" 2>/dev/null
  start_server "${killing[@]}"
  check "kill -9 at create's $step: nothing of it after the restart" test -z "$(leftovers "kc$n")"
done
for step in spawn:delete:before spawn:delete:after image-store:delete:before image-store:delete:after; do
  n=$((n + 1))
  gaol create -n "kd$n" -r "$image" >/dev/null
  echo "$step" >"$work/kill-at"
  gaol destroy "kd$n" >/dev/null 2>&1
  wait "$server" 2>/dev/null
  start_server "${killing[@]}"
  check "kill -9 at destroy's $step: nothing of it after the restart" test -z "$(leftovers "kd$n")"
done
check "kill -9 at each step: every kill happened" test ! -e "$work/kill-at"
check "after them the server creates, runs and destroys" \
  bash -c "'$bin/gaol' -t '$sock' create -n after -r '$image' >/dev/null && [[ \$('$bin/gaol' -t '$sock' run after -a -c 'echo fine' </dev/null) == fine ]] && '$bin/gaol' -t '$sock' destroy after"
kill -9 "$server"; wait "$server" 2>/dev/null
start_server

# --- 20 clients at once, twice: nothing left behind ---
round() {
  gaol create -n "$1" -r "$image" >/dev/null && gaol run "$1" -a -c "echo hi-$1" </dev/null >"$work/$1.out" &&
    gaol destroy "$1"
}
gaol create -n warm -r "$image" >/dev/null && gaol run warm -a -c "echo warm" </dev/null >/dev/null && gaol destroy warm
fds0=$(fds) threads0=$(threads) children0=$(children)
failed=0
for r in 1 2; do
  pids=()
  for i in $(seq 1 20); do round "l$r-$i" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
done
check "20 clients x2: every round succeeded" test "$failed" = 0
check "20 clients x2: each got its own output" bash -c "for f in '$work'/l*.out; do n=\$(basename \$f .out); [[ \$(cat \$f) == hi-\$n ]] || exit 1; done"
sleep 0.5
check "20 clients x2: no container left" test -z "$(gaol list)"
check "20 clients x2: no folder left in the depot" test -z "$(ls "$work/depot")"
check "20 clients x2: no spawn container left" test -z "$("$bin/spawn" --root "$work/depot/.spawn" list -q)"
check "20 clients x2: the server's descriptors are back to $fds0" test "$(fds)" -le "$fds0"
check "20 clients x2: its threads are back to $threads0" test "$(threads)" -le "$threads0"
check "20 clients x2: no child process left" test "$(children)" -le "$children0"

# --- several clients attached to one process: each gets all of its output ---
gaol create -n multi -r "$image" >/dev/null
pid=$(gaol run multi -c "sh -c 'busybox sleep 0.6; i=0; while [ \$i -lt 30 ]; do echo t\$i; i=\$((i+1)); busybox sleep 0.03; done'" </dev/null)
gaol attach multi -p "$pid" </dev/null >"$work/a1.out" &
a1=$!
gaol attach multi -p "$pid" </dev/null >"$work/a2.out" &
a2=$!
gaol attach multi -p "$pid" </dev/null >"$work/a3.out" &
a3=$!
sleep 0.8
kill "$a3"  # one leaves half-way: the others go on
wait "$a1" "$a2"
wait "$a3" 2>/dev/null
check "attachers: the first got all 30 lines" bash -c "[[ \$(wc -l <'$work/a1.out') == 30 && \$(tail -1 '$work/a1.out') == t29 ]]"
check "attachers: the second got the same" cmp "$work/a1.out" "$work/a2.out"
check "attachers: the one that left got a beginning" bash -c "[[ \$(head -1 '$work/a3.out') == t0 ]]"
check "attachers: destroy" gaol destroy multi

# --- a slow reader of 100 MB ---
gaol create -n big -r "$image" >/dev/null
rss0=$(rss_kib)
gaol run big -a -c "busybox head -c 100000000 /dev/urandom" </dev/null |
  python3 -c '
import hashlib, sys, time
h = hashlib.sha256(); n = 0
while True:
    b = sys.stdin.buffer.read(1 << 20)
    if not b: break
    h.update(b); n += len(b)
    if n < 40 << 20: time.sleep(0.02)  # slow for the first 40 MB: the server must hold, not drop
print(n)' >"$work/big.count" &
reader=$!
peak=0
while kill -0 "$reader" 2>/dev/null; do
  r=$(rss_kib); ((r > peak)) && peak=$r
  sleep 0.1
done
wait "$reader"
check "slow reader: all 100 MB arrived" test "$(cat "$work/big.count")" = 100000000
check "slow reader: the server grew by less than 96 MiB (peak $((peak - rss0)) KiB)" test $((peak - rss0)) -lt 98304
check "slow reader: destroy" gaol destroy big

kill "$server"; wait "$server" 2>/dev/null
server=""
junit_finish lifecycle_test
