#!/usr/bin/env bash
# image-store pulling from real registries: Debian's docker-registry on 127.0.0.1 (open, with
# htpasswd Basic auth, with a token service, over TLS), filled by skopeo from OCI layouts
# made here. All traffic stays on loopback.
set -uo pipefail
runfiles=${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-gdn}
source "$runfiles/tests/junit.sh"
privileged_work registry-test
install -m 0755 "$runfiles/image/image-store" "$runfiles/image/image-fetch" "$runfiles/image/image-unpack" "$bin/"
export REGISTRY_WORK=$work/registries
source "$runfiles/tests/registry/registry.sh"
proxy_pids=()
cleanup() {
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  registry_cleanup
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# Images: the three-layer busybox layout, and an index of it for amd64 and arm64.
bash "$runfiles/image/testdata/make_oci_layout.sh" "$work/layout" "$work/layout-work" >/dev/null ||
  { echo "FAIL: making the layout"; exit 1; }
python3 "$runfiles/tests/registry/make_index.py" "$work/layout" multi amd64 arm64 >"$work/arches"
chmod -R a+rX "$work/layout"

registry_start open && registry_start auth --htpasswd alice:secret && registry_start tok --token bob:hunter2 &&
  registry_start sec --tls && registry_start bad || { echo "FAIL: starting the registries"; exit 1; }
open=$REGISTRY_OPEN_ADDR
for r in open bad sec; do registry_push_layout $r "$work/layout:latest" t/bb:v1 >/dev/null; done
registry_push_layout open "$work/layout:multi" t/multi:v1 >/dev/null
registry_push_layout auth "$work/layout:latest" t/bb:v1 alice:secret >/dev/null
registry_push_layout tok "$work/layout:latest" t/bb:v1 bob:hunter2 >/dev/null

# store NAME [USER]: a fresh store; prints its path.
store() {
  local s=$work/store-$1
  "$bin/image-store" --store "$s" init-store
  echo "$s"
}
is() { "$bin/image-store" --store "$@"; }  # is STORE [flags] COMMAND...
layers_of() { grep -o 'lowerdir=[^,]*' <<<"$1" | tr ':' '\n' | sed 's/^lowerdir=//' | xargs -n1 basename | sort; }
blob_gets() { grep -c "GET /v2/t/bb/blobs/$1" "$REGISTRY_WORK/open/log"; }
big_layer=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["manifest"]["layers"][0]["digest"])' \
  <<<"$("$bin/image-fetch" --insecure-registry "$open" resolve "docker://$open/t/bb:v1")")

# By tag, by digest; the second pull downloads nothing.
s=$(store tag)
spec=$(is "$s" --insecure-registry "$open" create "docker://$open/t/bb:v1" c1 2>"$work/c1.err")
check "pull by tag: create succeeds" test $? = 0
check "pull by tag: three layers, unpacked" bash -c "[[ \$(ls '$s/layers' | wc -l) == 3 ]] && ls '$s'/layers/*/bin/busybox >/dev/null"
check "pull: quiet on a stderr that is no terminal" test ! -s "$work/c1.err"
digest=$("$bin/image-fetch" --insecure-registry "$open" resolve "docker://$open/t/bb:v1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
before=$(blob_gets "$big_layer")
spec2=$(is "$s" --insecure-registry "$open" create "docker://$open/t/bb@$digest" c2)
check "pull by digest: create succeeds" test $? = 0
check "pull by digest: the same layers as by tag" test "$(layers_of "$spec")" = "$(layers_of "$spec2")"
check "a second pull downloads no layer" test "$(blob_gets "$big_layer")" = "$before"
wrong="sha256:$(printf '%064d' 1)"
is "$s" --insecure-registry "$open" create "docker://$open/t/bb@$wrong" c3 2>"$work/c3.err"
check "pull by an unknown digest: exit 3" test $? = 3

# A multi-arch index: this machine's architecture is chosen.
arch=$(uname -m); [[ $arch == x86_64 ]] && arch=amd64; [[ $arch == aarch64 ]] && arch=arm64
s=$(store multi)
is "$s" --insecure-registry "$open" create "docker://$open/t/multi:v1" m1 >/dev/null
check "multi-arch index: create succeeds" test $? = 0
check "multi-arch index: the $arch image is chosen" bash -c "cat '$s'/layers/*/arch 2>/dev/null | grep -qx '$arch'"
arm_digest=$(awk '$1 == "arm64" {print $2}' "$work/arches")
check "multi-arch index: image-fetch --platform picks another" bash -c \
  "'$bin/image-fetch' --insecure-registry '$open' --platform linux/arm64 resolve 'docker://$open/t/multi:v1' | grep -q '\"digest\":\"$arm_digest\"'"
"$bin/image-fetch" --insecure-registry "$open" --platform linux/s390x resolve "docker://$open/t/multi:v1" >/dev/null 2>"$work/s390x.err"
check "multi-arch index: a platform it lacks is exit 3, named" bash -c "[[ $? == 3 ]] && grep -q 'no linux/s390x image (it has linux/amd64, linux/arm64)' '$work/s390x.err'"

# Unknown tag and repository.
s=$(store unknown)
is "$s" --insecure-registry "$open" create "docker://$open/t/bb:nope" u1 2>"$work/u1.err"
check "unknown tag: exit 3" test $? = 3
check "unknown tag: says so" grep -q 'no image t/bb:nope at 127.0.0.1' "$work/u1.err"
is "$s" --insecure-registry "$open" create "docker://$open/t/none:v1" u2 2>"$work/u2.err"
check "unknown repository: exit 3" test $? = 3
check "unknown: no image left" bash -c "[[ -z \$(ls -A '$s/images') ]]"

# Plain HTTP needs --insecure-registry; TLS with a certificate we cannot check too.
is "$s" create "docker://$open/t/bb:v1" i1 2>"$work/i1.err"
check "plain HTTP without --insecure-registry: exit 1" test $? = 1
check "plain HTTP without --insecure-registry: names the flag" grep -q -- '--insecure-registry' "$work/i1.err"
is "$s" create "docker://$REGISTRY_SEC_ADDR/t/bb:v1" i2 2>/dev/null
check "an unverifiable certificate without --insecure-registry: refused" test $? = 1
is "$s" --insecure-registry "$REGISTRY_SEC_ADDR" create "docker://$REGISTRY_SEC_ADDR/t/bb:v1" i3 >/dev/null
check "TLS registry named insecure: pulled" test $? = 0

# Basic auth (htpasswd) and Bearer tokens.
a=$REGISTRY_AUTH_ADDR t=$REGISTRY_TOK_ADDR
s=$(store auth)
is "$s" --insecure-registry "$a" create "docker://$a/t/bb:v1" a1 2>"$work/a1.err"
check "basic auth, no credentials: exit 5" test $? = 5
check "basic auth, no credentials: says how to give them" grep -q 'wants credentials' "$work/a1.err"
is "$s" --insecure-registry "$a" create --username alice --password wrong "docker://$a/t/bb:v1" a2 2>/dev/null
check "basic auth, wrong password: exit 5" test $? = 5
is "$s" --insecure-registry "$a" create --username alice --password secret "docker://$a/t/bb:v1" a3 >/dev/null
check "basic auth, right password: pulled" test $? = 0
printf '{"auths":{"%s":{"auth":"%s"}}}' "$a" "$(printf alice:secret | base64)" >"$work/creds.json"
is "$(store auth2)" --insecure-registry "$a" --credentials "$work/creds.json" create "docker://$a/t/bb:v1" a4 >/dev/null
check "basic auth from a credentials file: pulled" test $? = 0
s=$(store tok)
is "$s" --insecure-registry "$t" create --username bob --password hunter2 "docker://$t/t/bb:v1" t1 >/dev/null
check "token auth, right password: pulled" test $? = 0
is "$s" --insecure-registry "$t" create --username bob --password wrong "docker://$t/t/bb:v1" t2 2>/dev/null
check "token auth, wrong password: exit 5" test $? = 5
is "$s" --insecure-registry "$t" create "docker://$t/t/bb:v1" t3 2>/dev/null
check "token auth, anonymous: exit 5" test $? = 5

# A registry that breaks downloads mid-blob: resumed by range; one that always does: exit 1,
# nothing kept.
start_proxy() {  # start_proxy NAME CUTS: sets $p to the proxy's address
  python3 "$runfiles/tests/registry/flaky_proxy.py" "${open#*:}" "$work/$1.port" "$work/$1.log" "$2" \
    >"$work/$1.out" 2>&1 &
  proxy_pids+=($!)
  for _ in $(seq 1 100); do [[ -s $work/$1.port ]] && break; sleep 0.05; done
  p="127.0.0.1:$(cat "$work/$1.port")"
}
start_proxy flaky 2
s=$(store flaky)
is "$s" --insecure-registry "$p" create "docker://$p/t/bb:v1" f1 >/dev/null 2>"$work/f1.err"
check "cut mid-blob twice: the pull still succeeds" test $? = 0
check "cut mid-blob: resumed with a range request" grep -q "blobs/$big_layer bytes=" "$work/flaky.log"
check "cut mid-blob: the layer is whole" cmp -s "$(ls -d "$s"/layers/*/bin/busybox | head -1)" /bin/busybox
start_proxy dead -1
s=$(store dead)
is "$s" --insecure-registry "$p" create "docker://$p/t/bb:v1" d1 >/dev/null 2>"$work/d1.err"
check "cut mid-blob every time: exit 1" test $? = 1
check "cut mid-blob every time: says it gave up after retries" grep -q 'after 5 tries' "$work/d1.err"
check "cut mid-blob every time: no partial layer kept" bash -c \
  "! ls '$s'/layers/*/bin/busybox 2>/dev/null && [[ -z \$(ls -A '$s/tmp') && -z \$(ls -A '$s/images') ]]"

# A corrupted blob: exit 7, nothing stored.
registry_corrupt_blob bad "$big_layer"
s=$(store corrupt)
is "$s" --insecure-registry "$REGISTRY_BAD_ADDR" create "docker://$REGISTRY_BAD_ADDR/t/bb:v1" x1 >/dev/null 2>"$work/x1.err"
check "corrupted blob: exit 7" test $? = 7
check "corrupted blob: says which" grep -q "blob $big_layer .*does not match its digest" "$work/x1.err"
check "corrupted blob: nothing of it stored" bash -c \
  "! ls '$s'/layers/*/bin/busybox 2>/dev/null && [[ -z \$(ls -A '$s/tmp') && -z \$(ls -A '$s/images') ]]"

# A registry that is gone: exit 1, naming host and port.
registry_stop bad
is "$s" --insecure-registry "$REGISTRY_BAD_ADDR" create "docker://$REGISTRY_BAD_ADDR/t/bb:v1" x2 2>"$work/x2.err"
check "registry unreachable: exit 1" test $? = 1
check "registry unreachable: names host and port" grep -q "cannot reach the registry $REGISTRY_BAD_ADDR" "$work/x2.err"

# Progress for a program that asks: JSON lines on stderr.
is "$(store progress)" --insecure-registry "$open" --json-progress create "docker://$open/t/bb:v1" g1 >/dev/null 2>"$work/g1.err"
check "--json-progress: JSON lines per layer with bytes and total" \
  grep -q "{\"blob\":\"$big_layer\",\"bytes\":[0-9]*,\"total\":[0-9]*" "$work/g1.err"

# The default registry and docker:///repo.
is "$(store default)" --insecure-registry "$open" --default-registry "$open" create "docker:///t/bb:v1" n1 >/dev/null
check "docker:///repo uses --default-registry" test $? = 0

# Rootless: the test user's store, layers shifted into its subordinate ids.
rs=$work/store-rootless
mkdir -p "$rs" && chown gdn-test:gdn-test "$rs"
as_test=(setpriv --reuid=gdn-test --regid=gdn-test --clear-groups env PATH=/usr/bin:/bin)
"${as_test[@]}" "$bin/image-store" --store "$rs" init-store --uid-mapping 0:"$(id -u gdn-test)":1 \
  --uid-mapping 1:1000000:65536 --gid-mapping 0:"$(id -g gdn-test)":1 --gid-mapping 1:1000000:65536
"${as_test[@]}" "$bin/image-store" --store "$rs" --insecure-registry "$open" create "docker://$open/t/bb:v1" r1 >/dev/null
check "rootless pull: create succeeds" test $? = 0
check "rootless pull: root's files are the user's" test "$(stat -c %u "$(ls -d "$rs"/layers/*/bin/busybox | head -1)")" = "$(id -u gdn-test)"
check "rootless pull: uid 1000 is subordinate uid 1000999" test "$(stat -c %u "$(ls -d "$rs"/layers/*/home/user/file | head -1)")" = 1000999

junit_finish image_registry_test
