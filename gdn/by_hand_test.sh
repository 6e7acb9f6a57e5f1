#!/usr/bin/env bash
# The README's "By hand, stage by stage" block, run exactly as it is written (extracted from
# README.md), as root, on an OCI layout made here; then nothing of it may be left.
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
privileged_work by-hand-test
install -m 0755 "$runfiles/spawn/spawn" "$runfiles/attach/attach" "$runfiles/attach/attach-keeper" \
  "$runfiles/image/image-store" "$runfiles/image/image-unpack" "$runfiles/image/image-fetch" "$bin/"
cleanup() {
  for root in "$work"/tmp/*/state; do
    [[ -d $root ]] || continue
    for id in $("$bin/spawn" --root "$root" list -q 2>/dev/null); do "$bin/spawn" --root "$root" delete -f "$id"; done
  done
  remove_new_cgroup_parents
  rm -rf "$work"
}
trap cleanup EXIT
command -v jq >/dev/null || { echo "FAIL: jq is missing (tools/install-deps)"; exit 1; }
bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
sed -n '/<!-- by-hand:begin -->/,/<!-- by-hand:end -->/p' "$runfiles/README.md" | sed '1,2d;$d' | sed '$d' >"$work/by-hand.sh"
check "the README has the block" grep -q 'image-store --store store create' "$work/by-hand.sh"
mkdir -p "$work/tmp"
PATH=$bin:$PATH IMAGE="oci://$work/layout:latest" TMPDIR=$work/tmp bash "$work/by-hand.sh" >"$work/out" 2>"$work/err"
rc=$?
cat "$work/out" "$work/err" | sed 's/^/  | /'
check "the block runs to its end" test "$rc" = 0
check "stage 1 printed the image's root filesystem" grep -q '"root":{"path":' "$work/out"
check "stage 3 printed a running container" grep -q '"status": "running"' "$work/out"
check "stage 5: the process's output" grep -qx 'Hello Rootless :D' "$work/out"
check "stage 5: its exit status, from attach connect and attach status" \
  bash -c "grep -qx 'exit status 3' '$work/out' && grep -q '\"code\":3' '$work/out'"
dir=$(ls -d "$work"/tmp/*/ | head -1)
check "stage 6: no container left" test -z "$("$bin/spawn" --root "$dir/state" list -q)"
check "stage 6: no image left" test -z "$("$bin/image-store" --store "$dir/store" list)"
check "stage 6: no mount left under the work folder" bash -c "! grep -q ' $work' /proc/self/mountinfo"
junit_finish by_hand_test
