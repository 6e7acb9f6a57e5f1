#!/usr/bin/env bash
# Self-test of registry.sh: every mode (open, htpasswd, token, token with anonymous pull,
# token signed by the openssl CLI, TLS, TLS with token), pushes of a layout and of a two-arch
# index and pulls back with skopeo, the Bearer flow by hand with curl, auth failures, a
# corrupted blob, stop and restart, starts that fail halfway, the EXIT trap and a SIGKILLed
# test shell, and that cleanup leaves no process and no file. Needs root (umoci unpack), no
# network beyond 127.0.0.1. Usage: tests/registry/registry_selftest.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The library makes its own work dir, so the end can check that cleanup removes all of it.
unset REGISTRY_WORK
# shellcheck source=registry.sh
source "$here/registry.sh"
# shellcheck source=../junit.sh
source "$here/../junit.sh"
t=$(mktemp -d /tmp/gdn-registry-selftest.XXXXXX)
busy_pid=""
cleanup() {
  set +e  # an EXIT trap under errexit would stop at the first failing command
  [[ -n $busy_pid ]] && { kill "$busy_pid" 2>/dev/null; wait "$busy_pid" 2>/dev/null; }
  registry_cleanup
  rm -rf "$t"
}
trap cleanup EXIT

started_pids=()  # every pid a registry_start exported, for the final check
starts=()        # "NAME MS" per timed start
note_pids() {    # NAME
  local u=${1^^} v
  for v in "REGISTRY_${u}_PID" "REGISTRY_${u}_TOKEN_PID"; do [[ -n ${!v:-} ]] && started_pids+=("${!v}"); done
  return 0
}
timed_start() {  # NAME FLAGS...: registry_start, timed
  local t0; t0=$(date +%s%N)
  registry_start "$@" || return 1
  starts+=("$1 $((($(date +%s%N) - t0) / 1000000))ms")
  note_pids "$1"
}
matches() { [[ $1 =~ $2 ]]; }          # STRING REGEX
fails() { ! "$@" 2>/dev/null; }        # COMMAND...: true when it fails (its stderr dropped)
hc() { curl -sk --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' "$@" || true; }  # HTTP status only
get() { curl -sk --noproxy '*' --max-time 10 "$@"; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }  # EXPR on stdin's JSON as d
alive() { [[ -d /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
alive_any() { local p; for p in "$@"; do alive "$p" && return 0; done; return 1; }
# Processes whose command line names DIR: what a leak would look like.
procs_under() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$1/" && echo "${p#/proc/}"
  done
  return 0
}
listens_only_on_loopback() {  # PID: every TCP listener of PID is on 127.0.0.1
  local addrs
  addrs=$(ss -ltnpH | awk -v p="pid=$1," '$0 ~ p {print $4}')
  [[ -n $addrs ]] && ! grep -qv '^127\.0\.0\.1:' <<<"$addrs"
}
jwt_part() {  # TOKEN N: the decoded JSON of part N (0 header, 1 claims)
  python3 -c 'import base64,sys; s=sys.argv[1].split(".")[int(sys.argv[2])]; print(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode())' "$1" "$2"
}
manifest_digest_of() {  # OCI_DIR: digest of the only image its index.json names
  jq_ 'd["manifests"][0]["digest"]' <"$1/index.json"
}

# --- Layouts -------------------------------------------------------------------------------
make_oci_layout "$t/src" v1 >"$t/v1.out"
make_oci_layout "$t/src" multi --arch amd64 --arch arm64 >"$t/multi.out"
read -r _ v1_digest v1_type <"$t/v1.out"
read -r _ multi_digest multi_type <"$t/multi.out"
base_layer=$(awk 'NR == 2 {print $4}' "$t/v1.out")
v1_config=$(awk 'NR == 2 {print $3}' "$t/v1.out")
amd64_digest=$(awk '$1 == "amd64" {print $2}' "$t/multi.out")
arm64_digest=$(awk '$1 == "arm64" {print $2}' "$t/multi.out")
check "layout: v1 is a manifest" test "$v1_type" = application/vnd.oci.image.manifest.v1+json
check "layout: multi is an index" test "$multi_type" = application/vnd.oci.image.index.v1+json
check "layout: both tags in index.json" bash -c "grep -q '\"v1\"' '$t/src/index.json' && grep -q '\"multi\"' '$t/src/index.json'"
check "layout: the arches share the busybox layer" test "$(awk 'NR > 1 {print $4}' "$t/multi.out" | sort -u | wc -l)" = 1
check "layout: the amd64 image of the index is v1's" test "$amd64_digest" = "$v1_digest"
make_oci_layout "$t/src2" multi --arch amd64 --arch arm64 >"$t/multi2.out"
check "layout: deterministic (same digests again)" cmp -s "$t/multi.out" "$t/multi2.out"
check "layout: skopeo reads it" skopeo inspect "oci:$t/src:v1" >/dev/null
umoci unpack --image "$t/src:v1" "$t/bundle" >/dev/null 2>&1
check "layout: bin/busybox is /bin/busybox" cmp -s "$t/bundle/rootfs/bin/busybox" /bin/busybox
check "layout: bin/sh -> busybox" test "$(readlink "$t/bundle/rootfs/bin/sh")" = busybox
check "layout: etc/hostname" grep -qx gdn-test "$t/bundle/rootfs/etc/hostname"
check "layout: /arch names amd64" grep -qx amd64 "$t/bundle/rootfs/arch"
check "layout: a bad flag is refused" fails make_oci_layout "$t/x" v1 --bogus

# --- Open, plain HTTP ------------------------------------------------------------------------
timed_start open
check "open: ADDR is 127.0.0.1:PORT" matches "$REGISTRY_OPEN_ADDR" '^127\.0\.0\.1:[0-9]+$'
check "open: listens on 127.0.0.1 only" listens_only_on_loopback "$REGISTRY_OPEN_PID"
check "open: /v2/ is 200" test "$(hc "$REGISTRY_OPEN_URL/v2/")" = 200
check "open: push a layout" registry_push_layout open "$t/src:v1" t/bb:v1
check "open: push an index with two platforms" registry_push_index open "$t/src:multi" t/multi:v1
check "open: pull back" registry_pull_layout open t/bb:v1 "$t/pull-open:v1"
check "open: the pulled manifest is the pushed one" test "$(manifest_digest_of "$t/pull-open")" = "$v1_digest"
check "open: the pulled base layer is whole" bash -c "[[ \$(sha256sum '$t/pull-open/blobs/sha256/${base_layer#sha256:}' | cut -d' ' -f1) == ${base_layer#sha256:} ]]"
raw=$(skopeo inspect --raw --tls-verify=false --no-creds "docker://$REGISTRY_OPEN_ADDR/t/multi:v1")
check "index: the registry serves the index as pushed" test "$(printf %s "$raw" | sha256sum | cut -d' ' -f1)" = "${multi_digest#sha256:}"
check "index: linux/amd64 and linux/arm64" test "$(jq_ '" ".join(m["platform"]["os"] + "/" + m["platform"]["architecture"] for m in d["manifests"])' <<<"$raw")" = "linux/amd64 linux/arm64"
registry_pull_layout open t/multi:v1 "$t/pull-arm:v1" -- --override-arch arm64
check "index: --override-arch arm64 gets the arm64 manifest" test "$(manifest_digest_of "$t/pull-arm")" = "$arm64_digest"
umoci unpack --image "$t/pull-arm:v1" "$t/bundle-arm" >/dev/null 2>&1
check "index: the arm64 image's /arch says arm64" grep -qx arm64 "$t/bundle-arm/rootfs/arch"
registry_pull_layout open t/multi:v1 "$t/pull-amd:v1" -- --override-arch amd64
check "index: --override-arch amd64 gets the amd64 manifest" test "$(manifest_digest_of "$t/pull-amd")" = "$amd64_digest"
check "open: the access log is in \$REGISTRY_WORK/open/log" grep -q '"GET /v2/t/bb/manifests/v1' "$REGISTRY_WORK/open/log"

# --- htpasswd (Basic) ------------------------------------------------------------------------
timed_start auth --htpasswd alice:secret --htpasswd carol:pw2
check "basic: /v2/ without credentials is 401" test "$(hc "$REGISTRY_AUTH_URL/v2/")" = 401
check "basic: the challenge is Basic" bash -c "curl -si --noproxy '*' '$REGISTRY_AUTH_URL/v2/' | grep -qi '^www-authenticate: basic realm=\"gdn-test-registry\"'"
check "basic: wrong password is 401" test "$(hc -u alice:wrong "$REGISTRY_AUTH_URL/v2/")" = 401
check "basic: right password is 200" test "$(hc -u alice:secret "$REGISTRY_AUTH_URL/v2/")" = 200
check "basic: a second user" test "$(hc -u carol:pw2 "$REGISTRY_AUTH_URL/v2/")" = 200
check "basic: push without credentials fails" fails registry_push_layout auth "$t/src:v1" t/bb:v1
check "basic: push with a wrong password fails" fails registry_push_layout auth "$t/src:v1" t/bb:v1 alice:wrong
check "basic: push with credentials" registry_push_layout auth "$t/src:v1" t/bb:v1 alice:secret
registry_pull_layout auth t/bb:v1 "$t/pull-auth-bad:v1" alice:wrong 2>"$t/auth-bad.err" && r=0 || r=$?
check "basic: pull with a wrong password fails" test "$r" != 0
check "basic: ... as unauthorized" grep -qi 'unauthorized' "$t/auth-bad.err"
check "basic: pull with credentials" registry_pull_layout auth t/bb:v1 "$t/pull-auth:v1" alice:secret
check "basic: pulled the same manifest" test "$(manifest_digest_of "$t/pull-auth")" = "$v1_digest"

# --- Token (Bearer), by hand with curl, then skopeo ----------------------------------------
timed_start tok --token bob:hunter2
u=$REGISTRY_TOK_URL
challenge=$(curl -si --noproxy '*' "$u/v2/" | tr -d '\r' | grep -i '^www-authenticate:' || true)
check "token: /v2/ is 401" test "$(hc "$u/v2/")" = 401
check "token: the challenge is Bearer realm=...,service=..." \
  matches "$challenge" '^[Ww]ww-[Aa]uthenticate: Bearer realm="http://127\.0\.0\.1:[0-9]+/token",service="[^"]+"$'
realm=$(sed -E 's/.*realm="([^"]*)".*/\1/' <<<"$challenge")
service=$(sed -E 's/.*service="([^"]*)".*/\1/' <<<"$challenge")
check "token: realm and service are the exported ones" test "$realm $service" = "$REGISTRY_TOK_REALM $REGISTRY_TOK_SERVICE"
check "token service: listens on 127.0.0.1 only" listens_only_on_loopback "$REGISTRY_TOK_TOKEN_PID"
check "token: push with credentials" registry_push_layout tok "$t/src:v1" t/bb:v1 bob:hunter2
resp=$(get -u bob:hunter2 "$realm?service=$service&scope=repository:t/bb:pull")
tok=$(jq_ 'd["token"]' <<<"$resp")
check "token service: token and access_token, the same" test "$(jq_ 'd["token"] == d["access_token"] and d["expires_in"] > 0' <<<"$resp")" = True
hdr=$(jwt_part "$tok" 0) claims=$(jwt_part "$tok" 1)
check "jwt: alg RS256 with an x5c chain of one" test "$(jq_ 'd["alg"] + " " + str(len(d["x5c"]))' <<<"$hdr")" = "RS256 1"
check "jwt: x5c is the registry's rootcertbundle" bash -c "
  [[ \$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[\"x5c\"][0])' '$hdr' | base64 -d | openssl x509 -inform DER -outform PEM) == \$(openssl x509 -in '$REGISTRY_WORK/tok/token.crt') ]]"
check "jwt: aud is the service, sub the user" test "$(jq_ 'd["aud"] + " " + d["sub"]' <<<"$claims")" = "$service bob"
check "jwt: access is what the scope asked" test "$(jq_ 'json.dumps(d["access"])' <<<"$claims")" = '[{"type": "repository", "name": "t/bb", "actions": ["pull"]}]'
check "token: manifest with the Bearer token is 200" test "$(hc -H "Authorization: Bearer $tok" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$u/v2/t/bb/manifests/v1")" = 200
check "token: ... and is v1" bash -c "curl -s --noproxy '*' -H 'Authorization: Bearer $tok' -H 'Accept: application/vnd.oci.image.manifest.v1+json' '$u/v2/t/bb/manifests/v1' -D - -o /dev/null | tr -d '\r' | grep -qi '^docker-content-digest: $v1_digest'"
check "token: manifest without a token is 401 naming the scope" bash -c "curl -si --noproxy '*' '$u/v2/t/bb/manifests/v1' | grep -qi 'scope=\"repository:t/bb:pull\"'"
check "token: a pull-only token cannot start an upload" test "$(hc -X POST -H "Authorization: Bearer $tok" "$u/v2/t/bb/blobs/uploads/")" = 401
other=$(get -u bob:hunter2 "$realm?service=$service&scope=repository:t/other:pull" | jq_ 'd["token"]')
check "token: a token for another repository is 401 insufficient_scope" bash -c "curl -si --noproxy '*' -H 'Authorization: Bearer $other' '$u/v2/t/bb/manifests/v1' | grep -qi 'error=\"insufficient_scope\"'"
# Claims for t/bb under t/other's signature: the registry must check the signature.
forged=$(python3 -c 'import sys; a=sys.argv[1].split("."); b=sys.argv[2].split("."); print(".".join([a[0], a[1], b[2]]))' "$tok" "$other")
check "token: a forged signature is 401" test "$(hc -H "Authorization: Bearer $forged" "$u/v2/t/bb/manifests/v1")" = 401
check "token service: wrong password is 401" test "$(hc -u bob:wrong "$realm?service=$service&scope=repository:t/bb:pull")" = 401
anon=$(get "$realm?service=$service&scope=repository:t/bb:pull")
check "token service: anonymous gets a token granting nothing" test "$(jq_ 'd["token"].count(".")' <<<"$anon")" = 2
check "token: ... which the registry refuses" test "$(hc -H "Authorization: Bearer $(jq_ 'd["token"]' <<<"$anon")" "$u/v2/t/bb/manifests/v1")" = 401
check "token service: an unknown service is 400" test "$(hc -u bob:hunter2 "$realm?service=nope&scope=repository:t/bb:pull")" = 400
post=$(get -X POST -d "grant_type=password&username=bob&password=hunter2&service=$service&scope=repository:t/bb:pull" "$realm")
check "token service: POST grant_type=password works too" test "$(hc -H "Authorization: Bearer $(jq_ 'd["access_token"]' <<<"$post")" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$u/v2/t/bb/manifests/v1")" = 200
check "token: skopeo pull with credentials" registry_pull_layout tok t/bb:v1 "$t/pull-tok:v1" bob:hunter2
check "token: pulled the same manifest" test "$(manifest_digest_of "$t/pull-tok")" = "$v1_digest"
check "token: skopeo pull with a wrong password fails" fails registry_pull_layout tok t/bb:v1 "$t/pull-tok-bad:v1" bob:wrong
check "token: skopeo pull without credentials fails" fails registry_pull_layout tok t/bb:v1 "$t/pull-tok-anon:v1"
check "token: skopeo push without credentials fails" fails registry_push_layout tok "$t/src:v1" t/bb:v2
check "token service: its log names who asked" bash -c "grep -q 'who=bob status=200' '$REGISTRY_WORK/tok/token.log' && grep -q 'who=BAD status=401' '$REGISTRY_WORK/tok/token.log'"

# --- Token with anonymous pull ---------------------------------------------------------------
timed_start pub --token bob:hunter2 --anon-pull
registry_push_layout pub "$t/src:v1" t/bb:v1 bob:hunter2
check "anon-pull: anonymous skopeo pull" registry_pull_layout pub t/bb:v1 "$t/pull-pub:v1"
check "anon-pull: anonymous push still fails" fails registry_push_layout pub "$t/src:v1" t/bb:v2
anon=$(get "$REGISTRY_PUB_REALM?service=$REGISTRY_PUB_SERVICE&scope=repository:t/bb:pull,push" | jq_ 'd["token"]')
check "anon-pull: asked pull,push, granted pull" test "$(jwt_part "$anon" 1 | jq_ 'json.dumps(d["access"])')" = '[{"type": "repository", "name": "t/bb", "actions": ["pull"]}]'

# --- Token signed by the openssl CLI ---------------------------------------------------------
REGISTRY_TOKEN_SIGNER=openssl timed_start ossl --token bob:hunter2
check "openssl signer: in use" grep -q 'signing with openssl' "$REGISTRY_WORK/ossl/token.out"
check "openssl signer: push" registry_push_layout ossl "$t/src:v1" t/bb:v1 bob:hunter2
check "openssl signer: pull" registry_pull_layout ossl t/bb:v1 "$t/pull-ossl:v1" bob:hunter2

# --- TLS ---------------------------------------------------------------------------------------
timed_start sec --tls
check "tls: URL is https" test "${REGISTRY_SEC_URL%%:*}" = https
check "tls: /v2/ over HTTPS is 200" test "$(hc "$REGISTRY_SEC_URL/v2/")" = 200
check "tls: plain HTTP to it is 400" test "$(hc "http://$REGISTRY_SEC_ADDR/v2/")" = 400
check "tls: the certificate verifies for 127.0.0.1 with its CA" \
  test "$(curl -s --noproxy '*' --cacert "$REGISTRY_SEC_CA" -o /dev/null -w '%{http_code}' "$REGISTRY_SEC_URL/v2/")" = 200
check "tls: push" registry_push_layout sec "$t/src:v1" t/bb:v1
check "tls: pull with --src-tls-verify=false" skopeo copy -q --src-tls-verify=false --src-no-creds "docker://$REGISTRY_SEC_ADDR/t/bb:v1" "oci:$t/pull-sec:v1"
skopeo copy -q --src-no-creds "docker://$REGISTRY_SEC_ADDR/t/bb:v1" "oci:$t/pull-sec2:v1" 2>"$t/sec.err" && r=0 || r=$?
check "tls: pull verifying the certificate fails" test "$r" != 0
check "tls: ... on the certificate" grep -q 'x509' "$t/sec.err"
check "tls: pull verifying against _CERTS" skopeo copy -q --src-cert-dir "$REGISTRY_SEC_CERTS" --src-no-creds "docker://$REGISTRY_SEC_ADDR/t/bb:v1" "oci:$t/pull-sec3:v1"
timed_start sectok --tls --token bob:hunter2
check "tls+token: the realm is https" matches "$REGISTRY_SECTOK_REALM" '^https://127\.0\.0\.1:[0-9]+/token$'
check "tls+token: push" registry_push_layout sectok "$t/src:v1" t/bb:v1 bob:hunter2
check "tls+token: pull" registry_pull_layout sectok t/bb:v1 "$t/pull-sectok:v1" bob:hunter2

# --- A corrupted blob ------------------------------------------------------------------------
timed_start bad
registry_push_layout bad "$t/src:v1" t/bb:v1
blob=$REGISTRY_BAD_DATA/docker/registry/v2/blobs/sha256/${base_layer:7:2}/${base_layer#sha256:}/data
size_before=$(stat -c %s "$blob")
check "corrupt: refuses a repository without the blob" fails registry_corrupt_blob bad t/other "$base_layer"
check "corrupt: refuses an unknown digest" fails registry_corrupt_blob bad "sha256:$(printf '%064d' 0)"
check "corrupt: NAME REPO DIGEST" registry_corrupt_blob bad t/bb "$base_layer"
check "corrupt: the size is kept" test "$(stat -c %s "$blob")" = "$size_before"
check "corrupt: the bytes are not" bash -c "[[ \$(sha256sum '$blob' | cut -d' ' -f1) != ${base_layer#sha256:} ]]"
registry_pull_layout bad t/bb:v1 "$t/pull-bad:v1" 2>"$t/bad.err" && r=0 || r=$?
check "corrupt: skopeo copy fails" test "$r" != 0
check "corrupt: ... on the digest" grep -qi 'digest' "$t/bad.err"
check "corrupt: the 2-argument form (config blob)" registry_corrupt_blob bad "$v1_config"

# --- Stop, restart ---------------------------------------------------------------------------
old_pid=$REGISTRY_OPEN_PID old_addr=$REGISTRY_OPEN_ADDR
registry_stop open
check "stop: the process is gone" fails alive "$old_pid"
check "stop: nothing answers" test "$(hc "http://$old_addr/v2/")" = 000
check "stop: ADDR stays, PID goes" test -n "${REGISTRY_OPEN_ADDR:-}" -a -z "${REGISTRY_OPEN_PID:-}"
check "stop: twice is fine" registry_stop open
check "stop: an unknown name is fine" registry_stop never_started
check "stop: a NAME that cannot be is refused" fails registry_stop 'no good'
timed_start open
check "restart: the same address" test "$REGISTRY_OPEN_ADDR" = "$old_addr"
check "restart: the same storage" registry_pull_layout open t/bb:v1 "$t/pull-restart:v1"
registry_start open 2>/dev/null && r=0 || r=$?
check "start: a running NAME is refused" test "$r" = 1
# The old port taken by someone else: a restart moves to another.
registry_stop open
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' "${old_addr#*:}" &
busy_pid=$!
for _ in $(seq 100); do ss -ltnH "sport = :${old_addr#*:}" | grep -q . && break; sleep 0.05; done
timed_start open
check "restart: its old port taken, another one" test "$REGISTRY_OPEN_ADDR" != "$old_addr"
check "restart: ... and it answers" test "$(hc "$REGISTRY_OPEN_URL/v2/")" = 200
# A port found free but taken before the registry binds it: retried on another.
eval "$(declare -f _registry_free_port | sed '1s/_registry_free_port/_orig_free_port/')"
# It runs in $(...): the count of calls goes in a file.
_registry_free_port() {
  echo x >>"$t/race.calls"
  if [[ $(wc -l <"$t/race.calls") -eq 1 ]]; then echo "${old_addr#*:}"; else _orig_free_port; fi
}
timed_start race
eval "$(declare -f _orig_free_port | sed '1s/_orig_free_port/_registry_free_port/')"
check "port race: started anyway" test "$(hc "$REGISTRY_RACE_URL/v2/")" = 200
check "port race: the log says it retried" grep -q 'was taken, trying another' "$REGISTRY_WORK/race/log"
kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; busy_pid=""

# --- Starts that fail ------------------------------------------------------------------------
registry_start 'no good' 2>/dev/null && r=0 || r=$?
check "start: a bad NAME is 2" test "$r" = 2
registry_start x --bogus 2>/dev/null && r=0 || r=$?
check "start: an unknown flag is 2" test "$r" = 2
registry_start x --htpasswd nocolon 2>/dev/null && r=0 || r=$?
check "start: USER:PASS without a colon is 2" test "$r" = 2
registry_start x --htpasswd a:b --token c:d 2>/dev/null && r=0 || r=$?
check "start: --htpasswd with --token is 2" test "$r" = 2
# The registry dies at once, after its token service started: both gone, and fast.
t0=$(date +%s)
REGISTRY_BINARY=/bin/false registry_start broken --token bob:hunter2 2>"$t/broken.err" && r=0 || r=$?
check "start failing halfway: returns 1" test "$r" = 1
check "start failing halfway: says so, with the log" grep -q 'did not answer' "$t/broken.err"
check "start failing halfway: quickly" test $(($(date +%s) - t0)) -le 5
check "start failing halfway: no process left (token service killed)" test -z "$(procs_under "$REGISTRY_WORK/broken")"
check "start failing halfway: no PID exported" test -z "${REGISTRY_BROKEN_PID:-}${REGISTRY_BROKEN_TOKEN_PID:-}"
# A registry that never answers: the timeout, then killed.
printf '#!/bin/sh\nwhile :; do sleep 0.1; done\n' >"$t/hang" && chmod +x "$t/hang"
REGISTRY_START_TIMEOUT=1 REGISTRY_BINARY=$t/hang registry_start hung 2>/dev/null && r=0 || r=$?
check "start that hangs: returns 1 after the timeout" test "$r" = 1
sleep 0.2
check "start that hangs: killed" test -z "$(procs_under "$REGISTRY_WORK/hung")"

# --- The EXIT trap of a test, and a test shell killed outright --------------------------------
cat >"$t/child.sh" <<EOF
set -euo pipefail
source '$here/registry.sh'
trap registry_cleanup EXIT
registry_start c --token u:p --tls
echo "\$REGISTRY_C_PID \$REGISTRY_C_TOKEN_PID" >'$t/child.pids'
[[ \${1:-} == hang ]] && exec sleep 60
false  # errexit: the trap must still clean up
EOF
REGISTRY_WORK=$t/child-work bash "$t/child.sh" 2>/dev/null && r=0 || r=$?
read -r c1 c2 <"$t/child.pids"
check "exit trap: the test failed (errexit)" test "$r" = 1
check "exit trap: registry and token service gone" fails alive_any "$c1" "$c2"
check "exit trap: its work dir removed" test ! -e "$t/child-work"
# A work dir the test made itself: only the registry's part of it goes.
mkdir -p "$t/shared" && echo mine >"$t/shared/keep"
REGISTRY_WORK=$t/shared bash "$t/child.sh" 2>/dev/null || true
check "exit trap, the test's own work dir: the registry's part removed" test ! -e "$t/shared/c"
check "exit trap, the test's own work dir: the rest kept" grep -qx mine "$t/shared/keep"
check "exit trap, the test's own work dir: nothing else left" test "$(ls -A "$t/shared")" = keep
rm -f "$t/child.pids"
REGISTRY_WORK=$t/child-work2 bash "$t/child.sh" hang 2>/dev/null &
child=$!
for _ in $(seq 200); do [[ -s $t/child.pids ]] && break; sleep 0.05; done
read -r c1 c2 <"$t/child.pids"
sleep 0.2  # past the exec of sleep: that process is the registry's parent now
kill -KILL "$child"; wait "$child" 2>/dev/null || true
for _ in $(seq 100); do alive_any "$c1" "$c2" || break; sleep 0.05; done
check "SIGKILLed test: registry and token service die with it (pdeathsig)" fails alive_any "$c1" "$c2"
rm -rf "$t/child-work2"

# --- Cleanup leaves nothing ------------------------------------------------------------------
work=$REGISTRY_WORK
check "before cleanup: registries run" test -n "$(procs_under "$work")"
registry_cleanup
left=""
for p in "${started_pids[@]}"; do alive "$p" && left+=" $p"; done
check "cleanup: every started pid is gone" test -z "$left"
check "cleanup: no process names the work dir" test -z "$(procs_under "$work")"
check "cleanup: the work dir is removed" test ! -e "$work"
check "cleanup: twice is fine" registry_cleanup

echo "registry_start times: ${starts[*]}"
junit_finish registry_selftest
