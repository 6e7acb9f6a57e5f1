#!/usr/bin/env bash
# gdn server end to end, as root and rootless (the test user): the Garden API over a unix
# socket, driven by raw HTTP (curl, and python for the hijacked process streams), with an
# image from an OCI layout made here. No network plugin.
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
privileged_work server-test
install -m 0755 "$runfiles/gdn/gdn" "$runfiles/gdn/gdn-init" "$runfiles/gdn/gaol" "$runfiles/spawn/spawn" "$runfiles/attach/attach" \
  "$runfiles/attach/attach-keeper" "$runfiles/image/image-store" "$runfiles/image/image-unpack" \
  "$runfiles/image/image-fetch" "$bin/"
server_pids=()
# The cgroup parents spawn makes for root containers go with the test when it made them.
cleanup() {
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for root in "$work"/*/depot/.spawn; do
    [[ -d $root ]] || continue
    for id in $("$bin/spawn" --root "$root" list -q 2>/dev/null); do "$bin/spawn" --root "$root" delete -f "$id" 2>/dev/null; done
  done
  remove_new_cgroup_parents
  rm -rf "$work"
}
trap cleanup EXIT

bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
chmod -R a+rX "$work/layout"

# garden.py: the hijacked process protocol of GARDEN_API.md 1.6 over the unix socket.
cat >"$work/garden.py" <<'PY'
import json, socket, sys, threading
sock_path, handle = sys.argv[1], sys.argv[2]
spec = json.loads(sys.argv[3])
stdin_data = sys.argv[4] if len(sys.argv) > 4 else None

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    return s

def request(s, method, path, body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
    if body: head += f"Content-Length: {len(body)}\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    f = s.makefile("rb")
    status = f.readline().decode()
    headers = []
    while True:
        line = f.readline()
        if line in (b"\r\n", b""): break
        headers.append(line.decode().strip())
    return status, headers, f

c = connect()
status, headers, f = request(c, "POST", f"/containers/{handle}/processes", json.dumps(spec).encode() + b"\n")
print("STATUS", status.strip())
if not status.startswith("HTTP/1.1 201"):
    length = next(int(h.split(":")[1]) for h in headers if h.lower().startswith("content-length:"))
    print("BODY", f.read(length).decode()); sys.exit(0)
first = json.loads(f.readline())
pid, sid = first["process_id"], first["stream_id"]
print("FIRST", json.dumps(first, sort_keys=True))
if stdin_data is not None:
    c.sendall(json.dumps({"process_id": pid, "source": 0, "data": stdin_data}).encode() + b"\n")
c.sendall(json.dumps({"process_id": pid, "source": 0}).encode() + b"\n")
out = {}
def read_stream(name):
    s = connect()
    st, hd, g = request(s, "GET", f"/containers/{handle}/processes/{pid}/attaches/{sid}/{name}")
    out[name] = g.read().decode()
ts = [threading.Thread(target=read_stream, args=(n,)) for n in ("stdout", "stderr")]
for t in ts: t.start()
last = f.readline()
for t in ts: t.join()
print("LAST", last.decode().strip())
print("STDOUT", json.dumps(out.get("stdout")))
print("STDERR", json.dumps(out.get("stderr")))
PY

# api METHOD PATH [BODY]: prints the status code, then the body.
api() {
  curl -s --unix-socket "$sock" -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
    -w '%{http_code}' "http://api$2"
}

run_case() {  # run_case NAME USER
  local name=$1 user=$2
  local dir=$work/$name
  mkdir -p "$dir"
  sock=$dir/gdn.sock
  local as=() extra=()
  if [[ $user != root ]]; then
    chown "$user:$user" "$dir"
    as=(setpriv --reuid="$user" --regid="$user" --clear-groups env PATH=/usr/bin:/bin HOME="$dir")
    extra=(--uid-map-start 1000000 --uid-map-length 65536 --gid-map-start 1000000 --gid-map-length 65536)
  fi
  "${as[@]}" "$bin/gdn" server --depot "$dir/depot" --bind-socket "$sock" "${extra[@]}" >"$dir/server.log" 2>&1 &
  server_pids+=($!)
  for _ in $(seq 1 100); do [[ -S $sock ]] && break; sleep 0.05; done
  check "$name: the socket is the owner's alone (0600)" test "$(stat -c %a "$sock")" = 600
  check "$name: ping" test "$(api GET /ping)" = $'{}\n200'
  local out
  out=$(api POST /containers "{\"handle\":\"c1\",\"image\":{\"uri\":\"oci://$work/layout:latest\"},\"env\":[\"FROM_SPEC=1\"],\"properties\":{\"owner\":\"me\"}}")
  check "$name: create answers the handle" test "$out" = $'{"Handle":"c1"}\n200'
  check "$name: list shows it" grep -q '"Handles":\["c1"\]' <<<"$(api GET /containers)"
  check "$name: list filters by property" grep -q '"Handles":\[\]' <<<"$(api GET '/containers?owner=you')"
  out=$(api POST /containers '{"handle":"c1"}')
  check "$name: a duplicate handle is Garden's error" grep -q "\"Message\":\"Handle 'c1' already in use\"" <<<"$out"
  out=$(api GET /containers/nope/info)
  check "$name: an unknown handle is 404 ContainerNotFoundError with Handle" \
    grep -qz '"Type":"ContainerNotFoundError".*"Handle":"nope".*404' <<<"$out"
  out=$(api GET /containers/c1/info)
  check "$name: info is active with its properties" grep -q '"State":"active".*"owner":"me"' <<<"$out"
  api PUT /containers/c1/properties/color '{"value":"blue"}' >/dev/null
  check "$name: a property set is read back" test "$(api GET /containers/c1/properties/color)" = $'{"value":"blue"}\n200'
  out=$(python3 "$work/garden.py" "$sock" c1 '{"path":"sh","args":["-c","cat; echo err >&2; echo $FROM_SPEC $USER; exit 3"],"user":"root","rlimits":{},"image":{}}' 'hello-stdin')
  check "$name: run answers 201 and a first frame" grep -q '^STATUS HTTP/1.1 201 Created' <<<"$out"
  check "$name: run delivers the exit status" python3 -c 'import json,sys
last = [l for l in sys.argv[1].splitlines() if l.startswith("LAST ")][0]
ok = json.loads(last[5:]).get("exit_status") == 3
ok or print(sys.argv[1])
sys.exit(not ok)' "$out"
  check "$name: stdin reached the process and stdout came back" grep -q '^STDOUT "hello-stdin1 root\\n"' <<<"$out"
  check "$name: stderr came back apart" grep -q '^STDERR "err\\n"' <<<"$out"
  out=$(python3 "$work/garden.py" "$sock" c1 '{"path":"does-not-exist","rlimits":{},"image":{}}')
  check "$name: a missing executable is Garden's ExecutableNotFoundError" \
    grep -q '^BODY {"Type":"ExecutableNotFoundError","Message":"exec: \\"does-not-exist\\": executable file not found in $PATH"' <<<"$out"
  out=$(api GET /containers/c1/processes/nope)
  check "$name: attach to an unknown process is 404 ProcessNotFoundError" \
    grep -qz '"Type":"ProcessNotFoundError".*"ProcessID":"nope".*404' <<<"$out"
  check "$name: destroy" test "$(api DELETE /containers/c1)" = $'{}\n200'
  check "$name: destroyed is gone" grep -q '404$' <<<"$(api GET /containers/c1/info)"
  check "$name: destroy leaves no container folder" test ! -e "$dir/depot/c1"
  check "$name: unknown path is Go's 404" test "$(api GET /nothing)" = $'404 page not found\n404'

  # Limits (GARDEN_API.md 5.4) and metrics.
  local limits='{"bandwidth_limits":{},"cpu_limits":{"weight":512},"disk_limits":{},"memory_limits":{"limit_in_bytes":67108864},"pid_limits":{"max":40}}'
  out=$(api POST /containers "{\"handle\":\"lim\",\"image\":{\"uri\":\"oci://$work/layout:latest\"},\"limits\":$limits}")
  if [[ $user == root ]]; then
    check "$name: create with limits" test "$out" = $'{"Handle":"lim"}\n200'
    check "$name: limits/memory as created" test "$(api GET /containers/lim/limits/memory)" = $'{"limit_in_bytes":67108864}\n200'
    check "$name: limits/cpu as created" test "$(api GET /containers/lim/limits/cpu)" = $'{"weight":512}\n200'
    check "$name: limits/bandwidth and disk are {} (as guardian)" \
      test "$(api GET /containers/lim/limits/bandwidth)$(api GET /containers/lim/limits/disk)" = $'{}\n200{}\n200'
    check "$name: limits of an unknown handle: 404" grep -q '404$' <<<"$(api GET /containers/nope/limits/cpu)"
    check "$name: the memory limit is the cgroup's" \
      test "$(cat /sys/fs/cgroup/memory/spawn/lim/memory.limit_in_bytes)" = 67108864
    check "$name: the cpu weight is the cgroup's shares" test "$(cat /sys/fs/cgroup/cpu/spawn/lim/cpu.shares)" = 512
    "$bin/gaol" -t "$sock" run lim -c "sh -c 'i=0; while [ \$i -lt 60 ]; do busybox sleep 3 & i=\$((i+1)); done 2>/dev/null; wait'" </dev/null >/dev/null
    sleep 0.5
    out=$(api GET /containers/lim/metrics)
    check "$name: metrics: the pids limit holds (PidStat)" python3 -c 'import json,sys
m = json.loads(sys.argv[1][:-3]); p = m["PidStat"]
sys.exit(not (p["Max"] == 40 and 30 <= p["Current"] <= 40))' "$out"
    check "$name: metrics: every Garden key, usage counted" python3 -c 'import json,sys
m = json.loads(sys.argv[1][:-3])
keys = {"MemoryStat","CPUStat","DiskStat","NetworkStat","PidStat","Age","CPUEntitlement"}
ms = m["MemoryStat"]
ok = set(m) == keys and len(ms) == 32 and ms["hierarchical_memory_limit"] == 67108864 \
  and ms["TotalUsageTowardLimit"] > 0 and m["CPUStat"]["Usage"] > 0 and m["Age"] > 0 \
  and m["DiskStat"]["TotalBytesUsed"] > 0 and m["NetworkStat"] is None
sys.exit(not ok)' "$out"
    out=$(api GET '/containers/bulk_metrics?handles=lim,nope')
    check "$name: bulk_metrics: each handle, an error for the unknown" python3 -c 'import json,sys
m = json.loads(sys.argv[1][:-3])
sys.exit(not (m["lim"]["Err"] is None and m["lim"]["Metrics"]["PidStat"]["Max"] == 40
              and m["nope"]["Err"]["Message"] == "unknown handle: nope"))' "$out"
    check "$name: destroy of a limited container" test "$(api DELETE /containers/lim)" = $'{}\n200'
    check "$name: destroy leaves no cgroup" bash -c '! ls -d /sys/fs/cgroup/*/spawn/lim 2>/dev/null | grep -q .'
  else
    check "$name: limits without setup's cgroups: Garden's error naming setup" grep -q 'run `sudo setup --rootless-uid' <<<"$out"
    check "$name: and nothing of it is left" bash -c "! ls '$dir/depot' | grep -qx lim"
  fi

  # The same through gaol, as the seed's walkthrough uses it.
  local gaol=("$bin/gaol" -t "$sock")
  check "$name: gaol ping" "${gaol[@]}" ping
  check "$name: gaol create prints the handle" test "$("${gaol[@]}" create -n g1 -r "oci://$work/layout:latest" -e FROM=gaol)" = g1
  check "$name: gaol list" grep -qx g1 <<<"$("${gaol[@]}" list)"
  "${gaol[@]}" run g1 -a -c "sh -c 'echo out; echo err >&2; exit 3'" >"$dir/run.out" 2>"$dir/run.err" </dev/null
  check "$name: gaol run -a exits with the process's status" test $? = 3
  check "$name: gaol run -a relays stdout and stderr" bash -c "[[ \$(cat '$dir/run.out') == out && \$(cat '$dir/run.err') == err ]]"
  check "$name: gaol run -a feeds stdin" test "$(echo Hello Rootless :D | "${gaol[@]}" run g1 -a -c cat)" = "Hello Rootless :D"
  check "$name: gaol run -a sees the container's env" test "$("${gaol[@]}" run g1 -a -c 'sh -c "echo \$FROM"' </dev/null)" = gaol
  # A second container of one image (its spec comes from the server's kept one) has its own
  # root filesystem, hostname and env.
  "${gaol[@]}" create -n g2 -r "oci://$work/layout:latest" -e FROM=second >/dev/null
  "${gaol[@]}" run g1 -a -c 'sh -c "echo mine >/only-g1"' </dev/null
  check "$name: two containers of one image: the first sees its file" \
    test "$("${gaol[@]}" run g1 -a -c 'cat /only-g1' </dev/null)" = mine
  check "$name: two containers of one image: the second has its own root filesystem" \
    test "$("${gaol[@]}" run g2 -a -c 'sh -c "cat /only-g1 2>/dev/null || echo none"' </dev/null)" = none
  check "$name: two containers of one image: the second's own hostname and env" \
    test "$("${gaol[@]}" run g2 -a -c 'sh -c "echo \$(hostname) \$FROM"' </dev/null)" = "g2 second"
  "${gaol[@]}" destroy g2
  # Garden's rootless containers cannot call setgroups; ours can: idmap writes the maps with
  # privilege, so the namespace allows it.
  check "$name: a working dir that is missing is made (gaol run -d)" \
    test "$("${gaol[@]}" run g1 -a -d /tmp/made/deeper -c 'sh -c pwd' </dev/null)" = /tmp/made/deeper
  check "$name: a relative working dir is under the home (/ here: the image has no passwd)" \
    test "$("${gaol[@]}" run g1 -a -d rel -c 'sh -c pwd' </dev/null)" = /rel
  check "$name: setgroups is allowed in the container" \
    test "$("${gaol[@]}" run g1 -a -c 'cat /proc/self/setgroups' </dev/null)" = allow
  check "$name: an unprivileged container runs under seccomp" \
    test "$("${gaol[@]}" run g1 -a -c 'busybox grep Seccomp: /proc/self/status' </dev/null)" = $'Seccomp:\t2'
  check "$name: the default profile refuses namespaces" \
    grep -q 'Operation not permitted' <<<"$("${gaol[@]}" run g1 -a -c 'busybox unshare -U busybox true' </dev/null 2>&1)"
  pid=$("${gaol[@]}" run g1 -c "sh -c 'busybox sleep 0.3; echo later'" </dev/null)
  check "$name: gaol run without -a prints the process id" test -n "$pid"
  check "$name: gaol attach -p gets the output of a running process" test "$("${gaol[@]}" attach g1 -p "$pid" </dev/null)" = later
  # gaol shell: a login shell on a terminal (made in the container's own devpts, so tty(1)
  # names it), its size given and kept in step with the window.
  check "$name: gaol shell runs a login shell on the terminal and follows its size" python3 - "$bin/gaol" "$sock" g1 <<'PY'
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-t", sys.argv[2], "shell", sys.argv[3]])
def resize(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
resize(31, 97)
got = b""
def wait_for(text, seconds=10):
    global got
    end = time.time() + seconds
    while text not in got and time.time() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                got += os.read(fd, 4096)
            except OSError:
                break
    return text in got
time.sleep(0.5)
os.write(fd, b"stty size; echo size-$((6*7))\n")
first = wait_for(b"size-42") and b"31 97" in got
resize(44, 120)
time.sleep(0.5)
os.write(fd, b"stty size; tty; echo done-$((6*8)); exit 5\n")
second = wait_for(b"done-48") and b"44 120" in got and b"/dev/pts/0" in got
_, status = os.waitpid(pid, 0)
ok = first and second and os.WEXITSTATUS(status) == 5
if not ok:
    print(repr(got), status, file=sys.stderr)
sys.exit(not ok)
PY
  check "$name: gaol shell without a terminal: a sentence" \
    grep -q "gaol shell needs a terminal" <<<"$("${gaol[@]}" shell g1 </dev/null 2>&1)"
  # StreamIn / StreamOut (GARDEN_API.md 1.4), through gaol.
  mkdir -p "$dir/tar-in/d" && echo hello >"$dir/tar-in/d/f" && head -c 3000000 /dev/urandom >"$dir/tar-in/d/big"
  tar -C "$dir/tar-in" -cf - d | "${gaol[@]}" stream-in g1 -d /tmp/up
  check "$name: stream-in extracts into the container" test "$("${gaol[@]}" run g1 -a -c 'cat /tmp/up/d/f' </dev/null)" = hello
  "${gaol[@]}" run g1 -a -c 'sh -c "busybox mkdir -p /tmp/shared && busybox chmod 1777 /tmp/shared"' </dev/null
  tar -C "$dir/tar-in" -cf - d | "${gaol[@]}" stream-in g1 -d /tmp/shared/mine -u 1000:1000
  check "$name: stream-in as a user: the files are the user's" \
    test "$("${gaol[@]}" run g1 -a -c 'stat -c %u:%g /tmp/shared/mine/d/f' </dev/null)" = 1000:1000
  out=$(tar -C "$dir/tar-in" -cf - d | "${gaol[@]}" stream-in g1 -d /root/not-yours -u 1000:1000 2>&1)
  check "$name: stream-in as a user cannot write where the user may not" grep -q 'Permission denied' <<<"$out"
  check "$name: stream-out gives basename/... entries" \
    test "$("${gaol[@]}" stream-out g1 -s /tmp/up/d | tar -tf - | sort | tr '\n' ' ')" = "d/ d/big d/f "
  check "$name: stream-out of a folder with a / gives ./... entries" \
    test "$("${gaol[@]}" stream-out g1 -s /tmp/up/d/ | tar -tf - | sort | tr '\n' ' ')" = "./ ./big ./f "
  check "$name: 3 MB round trip, byte for byte" bash -c "'$bin/gaol' -t '$sock' stream-out g1 -s /tmp/up/d | tar -xOf - d/big | cmp - '$dir/tar-in/d/big'"
  out=$("${gaol[@]}" stream-out g1 -s /nope 2>&1 >/dev/null)
  check "$name: stream-out of a missing path: Garden's error, before any byte" \
    grep -q 'error streaming out: exit status 2. Output: tar: /nope: Cannot stat' <<<"$out"
  python3 -c 'import io, tarfile, sys
t = tarfile.open(fileobj=sys.stdout.buffer, mode="w|")
i = tarfile.TarInfo("../../escape"); data = b"x"; i.size = 1
t.addfile(i, io.BytesIO(data)); t.close()' >"$dir/evil.tar"
  out=$("${gaol[@]}" stream-in g1 -d /tmp/evil <"$dir/evil.tar" 2>&1)
  check "$name: stream-in refuses a member with .." grep -q "member name contains '..'" <<<"$out"
  check "$name: gaol properties" grep -q $'^garden.state\tcreated$' <<<"$("${gaol[@]}" properties g1)"
  check "$name: gaol destroy" "${gaol[@]}" destroy g1
  # Grace time: reaped when idle that long; a client attached holds it off.
  "${gaol[@]}" create -n short -g 1s -r "oci://$work/layout:latest" >/dev/null
  sleep 2.5
  check "$name: a container idle past its grace time is destroyed" bash -c "! '$bin/gaol' -t '$sock' list | grep -qx short"
  "${gaol[@]}" create -n held -g 1s -r "oci://$work/layout:latest" >/dev/null
  "${gaol[@]}" run held -a -c "busybox sleep 2" </dev/null
  check "$name: an attached client pauses the grace time" grep -qx held <<<"$("${gaol[@]}" list)"
  sleep 2.5
  check "$name: and the countdown starts again when it leaves" bash -c "! '$bin/gaol' -t '$sock' list | grep -qx held"
  "${gaol[@]}" run g1 -c true </dev/null 2>"$dir/gone.err"
  check "$name: gaol on a destroyed container: error: unknown handle, exit 1" \
    bash -c "[[ $? == 1 ]] && grep -qx 'error: unknown handle: g1' '$dir/gone.err'"
}

run_case root root
run_case rootless gdn-test

# --skip-setup (the seed's flag): a user the host was not set up for is told to run setup.
mkdir -p "$work/nosetup" && chown gdn-test:gdn-test "$work/nosetup"
setpriv --reuid=gdn-test --regid=gdn-test --clear-groups env PATH=/usr/bin:/bin HOME="$work/nosetup" \
  "$bin/gdn" server --skip-setup --setup-config-dir "$work/nosetup/etc" --depot "$work/nosetup/depot" \
  --bind-socket "$work/nosetup/gdn.sock" 2>"$work/nosetup/err"
check "--skip-setup without setup: exit 5" test $? = 5
check "--skip-setup without setup: says to run setup" grep -q 'run .*setup --rootless-uid' "$work/nosetup/err"

junit_finish gdn_server_test
