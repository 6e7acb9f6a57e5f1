#!/bin/bash
# make_oci_layout.sh OUT WORK: an OCI image layout (tag "latest") with three gzip layers made
# from busybox-static with tar, gzip and sha256sum:
#   1. busybox, /opaque/lower-secret and /gone, owned by root
#   2. /home/user/file, owned by uid and gid 1000
#   3. a whiteout of /gone, and /opaque made opaque holding only "new"
set -euo pipefail
out=$1 work=$2
mkdir -p "$work/l1/bin" "$work/l1/etc" "$work/l1/opaque" "$work/l1/proc" "$work/l1/sys" "$work/l1/dev" "$work/l1/tmp" "$work/l2/home/user" "$work/l3/opaque" "$out/blobs/sha256"
cp /bin/busybox "$work/l1/bin/busybox"
for a in sh ls cat echo id stat test; do ln "$work/l1/bin/busybox" "$work/l1/bin/$a"; done
echo lower > "$work/l1/opaque/lower-secret"
echo gone > "$work/l1/gone"
echo mine > "$work/l2/home/user/file"
touch "$work/l3/.wh.gone" "$work/l3/opaque/.wh..wh..opq"
echo new > "$work/l3/opaque/new"
diff_ids=() layers=()
for l in l1 l2 l3; do
  owner=(--owner=0 --group=0)
  [[ $l == l2 ]] && owner=(--owner=1000 --group=1000)
  tar --numeric-owner "${owner[@]}" --sort=name --mtime=@1700000000 -C "$work/$l" -cf "$work/$l.tar" .
  diff_ids+=("sha256:$(sha256sum "$work/$l.tar" | cut -d' ' -f1)")
  gzip -n -c "$work/$l.tar" >"$work/$l.tar.gz"
  d=$(sha256sum "$work/$l.tar.gz" | cut -d' ' -f1)
  cp "$work/$l.tar.gz" "$out/blobs/sha256/$d"
  layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$work/$l.tar.gz")}")
done
ids=$(printf '"%s",' "${diff_ids[@]}"); ids=${ids%,}
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\",\"FROM_IMAGE=yes\"],\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$ids]}}"
cd_=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
printf '%s' "$config" >"$out/blobs/sha256/$cd_"
ls_=$(IFS=,; echo "${layers[*]}")
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":${#config}},\"layers\":[$ls_]}"
md=$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)
printf '%s' "$manifest" >"$out/blobs/sha256/$md"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":${#manifest},\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" >"$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
