#!/usr/bin/env bash
# A real client drives spawn: `podman --runtime spawn run --rm` of a busybox image, as root
# and as the unprivileged test user (cgroupfs manager), compared with the same command run
# through crun. crun refuses this host's hybrid cgroup layout, so each podman call runs in a
# private mount namespace where /sys/fs/cgroup/unified is unmounted; spawn is run the same
# way for a fair comparison, and once more on the host as it is.
# Everything lives in a private folder (podman's --root/--runroot, the user's HOME and
# XDG_RUNTIME_DIR) that is removed at the end, with podman's own processes ended by pid.
set -uo pipefail

if [[ $(id -u) -ne 0 ]] || ! getent passwd gdn-test >/dev/null || ! command -v podman >/dev/null; then
  [[ "${CI:-}" == true ]] && { echo "FAIL: needs root, gdn-test and podman (tools/test)"; exit 1; }
  echo "SKIP: needs root, the test user and podman"; exit 0
fi

runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
work=$(mktemp -d /tmp/gdn-podman-test.XXXXXX)
chmod 755 "$work"
cd "$work"  # the test user cannot enter Bazel's runfiles folder
install -m 0755 "$runfiles/spawn/spawn" "$work/spawn"
install -o root -g root -m 4755 "$runfiles/idmap/idmap" "$work/idmap"
source "$runfiles/tests/junit.sh"

# podman's shared-memory lock files, which its first runs make: removed at the end if this
# test made them.
podman_locks=()
for f in /dev/shm/libpod_lock "/dev/shm/libpod_rootless_lock_$(id -u gdn-test)"; do
  [[ -e $f ]] || podman_locks+=("$f")
done

cleanup() {
  # Root podman: containers and images in our private store, then its mounts.
  podman --root "$work/root-storage" --runroot "$work/root-run" rm -af >/dev/null 2>&1
  podman --root "$work/root-storage" --runroot "$work/root-run" rmi -af >/dev/null 2>&1
  # Rootless podman keeps a pause process holding its user namespace: end it by its pid.
  for pidfile in "$work"/user-run/libpod/tmp/pause.pid; do
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  # Mount points (field 5 of mountinfo) under our folder, deepest first.
  awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -ru |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work" 2>/dev/null
  for f in "${podman_locks[@]}"; do rm -f "$f"; done
}
trap cleanup EXIT

# A busybox image, imported from a tarball (no registry, no network).
mkdir -p "$work/image/bin" "$work/image/proc" "$work/image/sys" "$work/image/dev" "$work/image/etc" "$work/image/tmp"
cp /bin/busybox "$work/image/bin/busybox"
for a in sh echo id cat; do ln "$work/image/bin/busybox" "$work/image/bin/$a"; done
tar -C "$work/image" -cf "$work/image.tar" .

expect() {  # expect NAME EXPECTED_STATUS EXPECTED_OUT STATUS OUT
  if [[ "$4" != "$2" || "$5" != "$3" ]]; then
    echo "    exit $4 (want $2), output:"; echo "$5" | sed 's/^/    /'
  fi
  check "$1" same "$4" "$2" "$5" "$3"
}
same() { [[ "$1" == "$2" && "$3" == "$4" ]]; }

script='echo hello from podman; id -u; exit 3'
want_out=$'hello from podman\n0'

# --- root ---
rootpodman=(podman --root "$work/root-storage" --runroot "$work/root-run" --cgroup-manager cgroupfs
  --events-backend file)
"${rootpodman[@]}" import "$work/image.tar" localhost/gdn-busybox >/dev/null || { check "root podman imports the image" false; junit_finish podman_test; exit 1; }
# This host's root lacks CAP_SYS_RESOURCE: ask for limits it may set (crun needs the same).
runflags=(run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 localhost/gdn-busybox sh -c "$script")
out=$("${rootpodman[@]}" --runtime "$work/spawn" "${runflags[@]}" 2>&1); status=$?
expect "root, spawn on the host as it is" 3 "$want_out" "$status" "$out"
for runtime in "$work/spawn" crun; do
  out=$(unshare -m --propagation private bash -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' _ \
    "${rootpodman[@]}" --runtime "$runtime" "${runflags[@]}" 2>&1); status=$?
  expect "root, $(basename "$runtime") without the unified mount" 3 "$want_out" "$status" "$out"
done

# --- rootless: the test user, with its own storage and runtime folder ---
mkdir -p "$work/user-home/.config/containers" "$work/user-run"
printf '[storage]\ndriver = "overlay"\n' >"$work/user-home/.config/containers/storage.conf"
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
  >"$work/user-home/.config/containers/containers.conf"
cp "$work/image.tar" "$work/user-home/"
chown -R gdn-test:gdn-test "$work/user-home" "$work/user-run"
chmod 700 "$work/user-run"
as_user() {
  setpriv --reuid=gdn-test --regid=gdn-test --clear-groups \
    env -i HOME="$work/user-home" XDG_RUNTIME_DIR="$work/user-run" PATH=/usr/bin:/bin "$@"
}
as_user podman import "$work/user-home/image.tar" localhost/gdn-busybox >/dev/null 2>&1 ||
  { check "rootless podman imports the image" false; junit_finish podman_test; exit 1; }
userflags=(run --rm --network none localhost/gdn-busybox sh -c "$script")
out=$(as_user podman --runtime "$work/spawn" "${userflags[@]}" 2>&1 | grep -v 'is not a shared mount'); status=${PIPESTATUS[0]}
expect "rootless, spawn on the host as it is" 3 "$want_out" "$status" "$out"
# Rootless podman joins the namespaces of its pause process: end it (by pid) so that the
# next one starts inside the mount namespace without the unified hierarchy.
pidfile="$work/user-run/libpod/tmp/pause.pid"
if [[ -f "$pidfile" ]]; then
  pause=$(cat "$pidfile")
  kill "$pause" 2>/dev/null
  while kill -0 "$pause" 2>/dev/null; do sleep 0.05; done
fi
for runtime in "$work/spawn" /usr/bin/crun; do
  out=$(unshare -m --propagation private bash -c 'umount /sys/fs/cgroup/unified 2>/dev/null; shift; exec "$@"' _ \
    _ setpriv --reuid=gdn-test --regid=gdn-test --clear-groups \
    env -i HOME="$work/user-home" XDG_RUNTIME_DIR="$work/user-run" PATH=/usr/bin:/bin \
    podman --runtime "$runtime" "${userflags[@]}" 2>&1 | grep -v 'is not a shared mount'); status=${PIPESTATUS[0]}
  expect "rootless, $(basename "$runtime") without the unified mount" 3 "$want_out" "$status" "$out"
done
as_user podman rm -af >/dev/null 2>&1
as_user podman system reset -f >/dev/null 2>&1

junit_finish podman_test
