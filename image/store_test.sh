#!/usr/bin/env bash
# image-store end to end, as root and as the unprivileged test user: an OCI layout made here
# becomes a container root filesystem that spawn mounts (inside the container) and runs.
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
privileged_work image-test
install -m 0755 "$runfiles/image/image-store" "$runfiles/image/image-unpack" "$runfiles/spawn/spawn" "$bin/"
cleanup() {
  mountpoint -q "$work/xfs" && umount "$work/xfs"
  for root in "$work"/state-*; do
    [[ -d $root ]] || continue
    for id in $("$bin/spawn" --root "$root" list -q 2>/dev/null); do "$bin/spawn" --root "$root" delete -f "$id"; done
  done
  remove_new_cgroup_parents
  rm -rf "$work"
}
trap cleanup EXIT

bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
chmod -R a+rX "$work/layout"

# run_case NAME AS_USER INIT_FLAGS... : init, create, run a container, inspect, delete, clean.
run_case() {
  local name=$1 user=$2; shift 2
  local store=$work/store-$name state=$work/state-$name bundle=$work/bundle-$name
  local as=()
  if [[ $user != root ]]; then
    as=(setpriv --reuid="$user" --regid="$user" --clear-groups env PATH=/usr/bin:/bin)
    mkdir -p "$bundle" && chown "$user:$user" "$bundle"
    touch "$store.init" && chown "$user:$user" "$store.init"
    mkdir -p "$store" "$state" && chown "$user:$user" "$store" "$state"
  else
    mkdir -p "$bundle"
  fi
  "${as[@]}" "$bin/image-store" --store "$store" init-store "$@" || { check "$name: init-store" false; return; }
  local spec
  spec=$("${as[@]}" "$bin/image-store" --store "$store" create oci://"$work"/layout:latest c1)
  check "$name: create prints the overlay for /" grep -q '"destination":"/","type":"overlay"' <<<"$spec"
  # Linux 5.10+: volatile (the container's end syncs nothing); the container runs from it below.
  if [[ $(printf '%s\n' "5.10" "$(uname -r | cut -d. -f1,2)" | sort -V | head -1) == 5.10 ]]; then
    check "$name: the overlay is volatile" grep -q ',volatile"' <<<"$spec"
  fi
  check "$name: nothing is mounted on the host" bash -c "! grep -q '$store' /proc/self/mountinfo"
  echo "$spec" >"$bundle/image.json"
  local rootless=()
  [[ $user != root ]] && rootless=(--rootless)
  "${as[@]}" "$bin/spawn" spec --bundle "$bundle" "${rootless[@]}" --image "$bundle/image.json"
  # Container ids 1..65536 are the user's subordinate range, as in the store.
  if [[ $user != root ]]; then
    local uid gid; uid=$(id -u "$user"); gid=$(id -g "$user")
    sed -i "s/\"uidMappings\": \[/\"uidMappings\": [{\"containerID\": 1, \"hostID\": 1000000, \"size\": 65536},/; s/\"gidMappings\": \[/\"gidMappings\": [{\"containerID\": 1, \"hostID\": 1000000, \"size\": 65536},/" "$bundle/config.json"
  fi
  sed -i 's/"terminal": true/"terminal": false/; s/"args": \[\n\s*"sh"/X/' "$bundle/config.json"
  python3 - "$bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", "stat -c '%u %n' /bin/busybox /home/user/file; ls /opaque; test -e /gone && echo gone-visible; echo written > /made-inside; echo $FROM_IMAGE"]
json.dump(c, open(sys.argv[1], "w"))
PY
  local out
  out=$("${as[@]}" "$bin/spawn" --root "$state" run --bundle "$bundle" c1 2>&1)
  check "$name: root's files are 0 inside, the uid-1000 file 1000" \
    grep -qz "0 /bin/busybox.1000 /home/user/file" <<<"$(tr '\n' '.' <<<"$out")"
  check "$name: an opaque dir hides the lower layer" bash -c "grep -q '^new$' <<<'$out' && ! grep -q lower-secret <<<'$out'"
  check "$name: a whiteout removes a lower file" bash -c "! grep -q gone-visible <<<'$out'"
  check "$name: the image's env reaches the process" grep -q '^yes$' <<<"$out"
  check "$name: writes land in the container's upper layer" test -f "$store/images/c1/diff/made-inside"
  check "$name: stats reports usage" bash -c "'${as[*]}' true; ${as[*]} '$bin/image-store' --store '$store' stats c1 | grep -q '\"exclusive_bytes_used\":[1-9]'"
  "${as[@]}" "$bin/image-store" --store "$store" delete c1 >/dev/null
  "${as[@]}" "$bin/image-store" --store "$store" clean
  check "$name: delete then clean leaves an empty store" \
    bash -c "[[ -z \$(find '$store/layers' '$store/images' '$store/tmp' -mindepth 1) ]]"
  # Two creates of one new image at once: both succeed, each layer unpacked once.
  "${as[@]}" "$bin/image-store" --store "$store" create oci://"$work"/layout:latest a >/dev/null & p1=$!
  "${as[@]}" "$bin/image-store" --store "$store" create oci://"$work"/layout:latest b >/dev/null & p2=$!
  wait $p1; s1=$?; wait $p2; s2=$?
  check "$name: concurrent creates both succeed" test "$s1$s2" = 00
  check "$name: each layer unpacked once" test "$(ls "$store/layers" | wc -l)" = 3
  # A crash mid-unpack leaves an -incomplete- folder; the next command removes it.
  "${as[@]}" mkdir "$store/tmp/$(printf '%064d' 0)-incomplete-crash"
  "${as[@]}" "$bin/image-store" --store "$store" list >/dev/null
  check "$name: leftovers of a crash are removed" bash -c "[[ -z \$(ls -A '$store/tmp') ]]"
  for h in a b; do "${as[@]}" "$bin/image-store" --store "$store" delete $h >/dev/null; done
  "${as[@]}" "$bin/image-store" --store "$store" clean
}

run_case root root
run_case rootless gdn-test --uid-mapping 0:"$(id -u gdn-test)":1 --uid-mapping 1:1000000:65536 \
  --gid-mapping 0:"$(id -g gdn-test)":1 --gid-mapping 1:1000000:65536

# Images made independently: a docker-archive by skopeo (from the layout), an OCI layout by umoci.
other=$work/store-other
"$bin/image-store" --store "$other" init-store
if skopeo copy oci:"$work/layout:latest" docker-archive:"$work/image.tar:test/busybox:latest" >/dev/null 2>&1; then
  spec=$("$bin/image-store" --store "$other" create docker-archive://"$work"/image.tar d1)
  check "docker-archive (skopeo): create succeeds" test $? = 0
  oci_layers=$("$bin/image-store" --store "$work/store-check" init-store &&
    "$bin/image-store" --store "$work/store-check" create oci://"$work"/layout:latest x | grep -o 'lowerdir=[^,]*' | tr ':' '\n' | xargs -n1 basename | sort)
  archive_layers=$(grep -o 'lowerdir=[^,]*' <<<"$spec" | tr ':' '\n' | xargs -n1 basename | sort)
  check "docker-archive (skopeo): the same layers as the OCI layout" test "$oci_layers" = "$archive_layers"
else
  check "docker-archive (skopeo): skopeo made the archive" false
fi
if umoci init --layout "$work/umoci" && umoci new --image "$work/umoci:v1" &&
   umoci unpack --image "$work/umoci:v1" "$work/umoci-bundle" >/dev/null &&
   mkdir -p "$work/umoci-bundle/rootfs/bin" && cp /bin/busybox "$work/umoci-bundle/rootfs/bin/busybox" &&
   ln "$work/umoci-bundle/rootfs/bin/busybox" "$work/umoci-bundle/rootfs/bin/sh" &&
   echo umoci-made >"$work/umoci-bundle/rootfs/marker" &&
   umoci repack --image "$work/umoci:v1" "$work/umoci-bundle" >/dev/null; then
  spec=$("$bin/image-store" --store "$other" create oci://"$work"/umoci:v1 u1)
  check "OCI layout (umoci): create succeeds" test $? = 0
  echo "$spec" >"$work/umoci-image.json"
  mkdir -p "$work/bundle-umoci"
  "$bin/spawn" spec --bundle "$work/bundle-umoci" --image "$work/umoci-image.json"
  python3 - "$work/bundle-umoci/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/sh", "-c", "read m < /marker; echo $m"]
c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
PY
  out=$("$bin/spawn" --root "$work/state-umoci" run --bundle "$work/bundle-umoci" u1 2>&1)
  check "OCI layout (umoci): a container runs from it" test "$out" = umoci-made
else
  check "OCI layout (umoci): umoci made the image" false
fi

# kill -9 in the middle of an unpack: the helper dies too, the next command repairs the store.
big=$work/big
mkdir -p "$big/blobs/sha256" "$work/big-rootfs/data"
for i in $(seq 1 24); do head -c 10000000 /dev/urandom >"$work/big-rootfs/data/f$i"; done
tar -C "$work/big-rootfs" -cf "$work/big.tar" .
bd=$(sha256sum "$work/big.tar" | cut -d' ' -f1)
mv "$work/big.tar" "$big/blobs/sha256/$bd"
cfg="{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$bd\"]}}"
cd_=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1); printf '%s' "$cfg" >"$big/blobs/sha256/$cd_"
man="{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:$cd_\",\"size\":${#cfg}},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$bd\",\"size\":240000000}]}"
md=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1); printf '%s' "$man" >"$big/blobs/sha256/$md"
echo "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:$md\",\"size\":${#man},\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" >"$big/index.json"
crash=$work/store-crash
"$bin/image-store" --store "$crash" init-store
"$bin/image-store" --store "$crash" create oci://"$big":latest k1 >/dev/null 2>&1 &
victim=$!
for _ in $(seq 1 200); do
  [[ -n $(find "$crash/tmp" -mindepth 2 -maxdepth 3 -name 'f*' 2>/dev/null) ]] && break
  sleep 0.01
done
kill -9 "$victim"; wait "$victim" 2>/dev/null
sleep 0.2
check "kill -9 mid-unpack: a half layer was left in tmp/" bash -c "[[ -n \$(find '$crash/tmp' -mindepth 1) ]]"
check "kill -9 mid-unpack: no layer was published" bash -c "[[ -z \$(find '$crash/layers' -mindepth 1) ]]"
check "kill -9 mid-unpack: the helper died with it" bash -c "! pgrep -f '[i]mage-unpack.*$crash' >/dev/null"
"$bin/image-store" --store "$crash" list >/dev/null
check "kill -9 mid-unpack: the next command removes the leftovers" bash -c "[[ -z \$(find '$crash/tmp' -mindepth 1) ]]"
"$bin/image-store" --store "$crash" create oci://"$big":latest k1 >/dev/null
check "kill -9 mid-unpack: create then succeeds" test -f "$crash/layers/$bd/data/f24"
rm -rf "$work/big-rootfs"

# A hostile layer: refused with exit 7, nothing kept.
mkdir -p "$work/evil/blobs/sha256"
cp -r "$work/layout/." "$work/evil/"
python3 - "$work/evil" <<'PY'
import hashlib, io, json, os, sys, tarfile, gzip
root = sys.argv[1]
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    info = tarfile.TarInfo("../escaped"); data = b"x"; info.size = 1
    t.addfile(info, io.BytesIO(data))
tar = raw.getvalue(); gz = gzip.compress(tar, mtime=0)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(f"{root}/blobs/sha256/{d}", "wb").write(b); return d
layer = put(gz)
config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode()
cd = put(config)
manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + cd, "size": len(config)},
                       "layers": [{"digest": "sha256:" + layer, "size": len(gz)}]}).encode()
md = put(manifest)
json.dump({"schemaVersion": 2, "manifests": [{"digest": "sha256:" + md, "size": len(manifest),
          "annotations": {"org.opencontainers.image.ref.name": "evil"}}]}, open(f"{root}/index.json", "w"))
PY
"$bin/image-store" --store "$work/store-evil" init-store
"$bin/image-store" --store "$work/store-evil" create oci://"$work"/evil:evil e1 >/dev/null 2>"$work/evil.err"
status=$?
check "hostile layer: exit 7" test $status = 7
check "hostile layer: says why" grep -q 'climbs out' "$work/evil.err"
check "hostile layer: nothing kept" bash -c "[[ -z \$(find '$work/store-evil/layers' '$work/store-evil/tmp' '$work/store-evil/images' -mindepth 1) ]]"
check "hostile layer: nothing written outside" test ! -e "$work/store-evil/escaped"

# Disk limits. On this ext4 there are no project quotas: the limit is recorded, stats says it
# is not enforced and why, and reports what is really used.
lim=$work/store-limit
"$bin/image-store" --store "$lim" init-store
"$bin/image-store" --store "$lim" create --disk-limit-size-bytes 1000000 --exclude-image-from-quota \
  oci://"$work"/layout:latest l1 >/dev/null
check "disk limit: create with a limit succeeds" test $? = 0
head -c 3000000 /dev/urandom >"$lim/images/l1/diff/big"
stats=$("$bin/image-store" --store "$lim" stats l1)
check "disk limit: stats reports the limit" grep -q '"limit_bytes":1000000' <<<"$stats"
if [[ $(stat -f -c %T "$lim") != xfs ]]; then
  check "disk limit: stats says it is not enforced, and why" \
    grep -q '"enforced":false.*"not_enforced_because":"the store.s filesystem is not XFS' <<<"$stats"
fi
check "disk limit: usage past the limit is reported truthfully" \
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(d["disk_usage"]["exclusive_bytes_used"] < 3000000)' "$stats"
"$bin/image-store" --store "$lim" create --disk-limit-size-bytes 1000 oci://"$work"/layout:latest l2 >/dev/null 2>"$work/limit.err"
check "disk limit: a limit smaller than the image exits 7" test $? = 7
check "disk limit: and says so" grep -q "not more than the image" "$work/limit.err"
check "disk limit: and leaves no image behind" test ! -e "$lim/images/l2"
"$bin/image-store" --store "$lim" create --disk-limit-size-bytes 50000000 oci://"$work"/layout:latest l3 >/dev/null
check "disk limit: counts the image against the limit unless excluded" \
  python3 -c 'import json,sys; d=json.loads(sys.argv[1])["disk_limit"]; sys.exit(not (d["image_bytes"] > 1000000 and d["image_bytes"] < 5000000 and not d["exclude_image_from_quota"]))' \
  "$("$bin/image-store" --store "$lim" stats l3)"
"$bin/image-store" --store "$lim" create --disk-limit-size-bytes -5 oci://"$work"/layout:latest l4 2>/dev/null
check "disk limit: a negative limit exits 2" test $? = 2
"$bin/image-store" --store "$lim" create --disk-limit-size-bytes lots oci://"$work"/layout:latest l4 2>/dev/null
check "disk limit: a limit that is no number exits 2" test $? = 2
# Where the kernel has quotas, an XFS store mounted with prjquota enforces the limit.
truncate -s 300M "$work/xfs.img"
if mkfs.xfs -q "$work/xfs.img" && mkdir "$work/xfs" && mount -o loop,prjquota "$work/xfs.img" "$work/xfs" 2>/dev/null; then
  "$bin/image-store" --store "$work/xfs/store" init-store
  "$bin/image-store" --store "$work/xfs/store" create --disk-limit-size-bytes 1000000 --exclude-image-from-quota \
    oci://"$work"/layout:latest q1 >/dev/null
  check "xfs quota: stats says the limit is enforced" bash -c "'$bin/image-store' --store '$work/xfs/store' stats q1 | grep -q '\"enforced\":true'"
  check "xfs quota: writing past the limit fails" bash -c "! head -c 3000000 /dev/zero >'$work/xfs/store/images/q1/diff/big' 2>/dev/null"
  umount "$work/xfs"
else
  echo "SKIP: xfs quota: this kernel cannot mount XFS with prjquota ($(dmesg 2>/dev/null | grep -o 'quota support not available.*' | tail -1))"
fi
rm -f "$work/xfs.img"

# A layer with a device node, a user.* xattr and a trusted.* one, unpacked rootless: the xattr
# a user may set is kept, what cannot be made is skipped and said on stderr, the rest works.
dl=$work/devlayout
mkdir -p "$dl/blobs/sha256" "$work/devroot/dev" "$work/devroot/etc"
mknod "$work/devroot/dev/null2" c 1 3
echo x >"$work/devroot/etc/tagged"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.gdn", b"kept"); os.setxattr(sys.argv[1], "trusted.gdn", b"root-only")' "$work/devroot/etc/tagged"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/devroot" -cf "$work/dev.tar" dev etc
ddiff=$(sha256sum "$work/dev.tar" | cut -d' ' -f1)
gzip -n -c "$work/dev.tar" >"$work/dev.tar.gz"
dblob=$(sha256sum "$work/dev.tar.gz" | cut -d' ' -f1); cp "$work/dev.tar.gz" "$dl/blobs/sha256/$dblob"
dconf="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$ddiff\"]}}"
dcd=$(printf '%s' "$dconf" | sha256sum | cut -d' ' -f1); printf '%s' "$dconf" >"$dl/blobs/sha256/$dcd"
dman="{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$dcd\",\"size\":${#dconf}},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dblob\",\"size\":$(stat -c %s "$work/dev.tar.gz")}]}"
dmd=$(printf '%s' "$dman" | sha256sum | cut -d' ' -f1); printf '%s' "$dman" >"$dl/blobs/sha256/$dmd"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$dmd\",\"size\":${#dman}}]}" >"$dl/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$dl/oci-layout"
chmod -R a+rX "$dl"
ds=$work/store-dev
mkdir -p "$ds" && chown gdn-test:gdn-test "$ds"
as_test=(setpriv --reuid=gdn-test --regid=gdn-test --clear-groups env PATH=/usr/bin:/bin)
"${as_test[@]}" "$bin/image-store" --store "$ds" init-store --uid-mapping 0:"$(id -u gdn-test)":1 --uid-mapping 1:1000000:65536 \
  --gid-mapping 0:"$(id -g gdn-test)":1 --gid-mapping 1:1000000:65536
"${as_test[@]}" "$bin/image-store" --store "$ds" create oci://"$dl" dev1 >/dev/null 2>"$work/dev.err"
check "rootless device node: create still succeeds" test $? = 0
check "rootless device node: skipped, and said on stderr" grep -q 'skipped dev/null2 (device nodes cannot be made here)' "$work/dev.err"
check "rootless device node: not made" bash -c "! ls '$ds'/layers/*/dev/null2 2>/dev/null"
check "rootless xattrs: user.* kept" python3 -c 'import os,sys,glob; sys.exit(os.getxattr(glob.glob(sys.argv[1] + "/layers/*/etc/tagged")[0], "user.gdn") != b"kept")' "$ds"
check "rootless xattrs: trusted.* skipped, and said" grep -q 'skipped etc/tagged xattr trusted.gdn' "$work/dev.err"

junit_finish image_store_test
