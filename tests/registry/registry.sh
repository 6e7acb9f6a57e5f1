# A real registry for tests and benchmarks: Debian's docker-registry (distribution 2.8) on
# 127.0.0.1, with its own config and storage under $REGISTRY_WORK. Sourced by bash scripts.
#
#   registry_start NAME [--htpasswd USER:PASS | --token USER:PASS] [--tls]
#       starts one; exports REGISTRY_<NAME>_ADDR (127.0.0.1:PORT), _PID, _DATA (its storage)
#   registry_push_layout NAME LAYOUT:TAG REPO:TAG [USER:PASS]
#       skopeo copy of an OCI layout into it (--all: every platform of an index)
#   registry_corrupt_blob NAME DIGEST
#       flips bytes of a stored blob, keeping its size
#   registry_stop NAME / registry_cleanup
#       stop one (by pid) / stop every one started here and remove $REGISTRY_WORK
# Everything listens on 127.0.0.1 only.

REGISTRY_WORK=${REGISTRY_WORK:-$(mktemp -d /tmp/gdn-registry.XXXXXX)}
mkdir -p "$REGISTRY_WORK"
_registry_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_registry_pids=()

_registry_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_registry_wait_port_file() {  # FILE: waits up to 10 s for a server to write its port
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -s $1 ]] && return 0
    sleep 0.05
  done
  return 1
}

registry_start() {
  local name=$1; shift
  local htpasswd="" token="" tls=false
  while [[ $# -gt 0 ]]; do
    case $1 in
      --htpasswd) htpasswd=$2; shift 2 ;;
      --token) token=$2; shift 2 ;;
      --tls) tls=true; shift ;;
      *) echo "registry_start: unknown flag $1" >&2; return 2 ;;
    esac
  done
  local dir=$REGISTRY_WORK/$name upper=${name^^}
  mkdir -p "$dir/data"
  local port; port=$(_registry_free_port)
  local auth="" scheme=http
  if [[ -n $htpasswd ]]; then
    htpasswd -Bbn "${htpasswd%%:*}" "${htpasswd#*:}" >"$dir/htpasswd"
    auth="auth:
  htpasswd:
    realm: gdn-test
    path: $dir/htpasswd"
  fi
  if [[ -n $token ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/token.key" -out "$dir/token.crt" \
      -days 1 -subj /CN=gdn-test-token >/dev/null 2>&1
    python3 "$_registry_dir/token_server.py" "$dir/token.key" "$dir/token.crt" "$token" gdn-test-issuer \
      "$dir/token.port" >"$dir/token.log" 2>&1 &
    _registry_pids+=($!)
    eval "export REGISTRY_${upper}_TOKEN_PID=$!"
    _registry_wait_port_file "$dir/token.port" || { echo "registry_start: the token server did not start" >&2; return 1; }
    auth="auth:
  token:
    realm: http://127.0.0.1:$(cat "$dir/token.port")/token
    service: gdn-test-registry
    issuer: gdn-test-issuer
    rootcertbundle: $dir/token.crt"
  fi
  local tls_conf=""
  if $tls; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/tls.key" -out "$dir/tls.crt" \
      -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
    tls_conf="  tls:
    certificate: $dir/tls.crt
    key: $dir/tls.key"
    scheme=https
  fi
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$tls_conf
$auth
EOF
  # A clean environment: docker-registry reads every REGISTRY_* variable as configuration.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  local pid=$!
  _registry_pids+=($pid)
  local i code
  for ((i = 0; i < 200; i++)); do
    code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" 2>/dev/null || true)
    [[ $code == 200 || $code == 401 ]] && break
    sleep 0.05
  done
  if [[ $code != 200 && $code != 401 ]]; then
    echo "registry_start: docker-registry did not answer on 127.0.0.1:$port:" >&2
    tail -5 "$dir/log" >&2
    return 1
  fi
  eval "export REGISTRY_${upper}_ADDR=127.0.0.1:$port REGISTRY_${upper}_PID=$pid REGISTRY_${upper}_DATA=$dir/data"
}

registry_push_layout() {
  local name=$1 src=$2 dest=$3 creds=${4:-}
  local addr_var="REGISTRY_${name^^}_ADDR"
  local extra=()
  [[ -n $creds ]] && extra=(--dest-creds "$creds")
  skopeo copy --all --dest-tls-verify=false "${extra[@]}" "oci:$src" "docker://${!addr_var}/$dest"
}

registry_corrupt_blob() {
  local name=$1 digest=$2
  local data_var="REGISTRY_${name^^}_DATA" hex=${2#sha256:}
  local f=${!data_var}/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
  [[ -f $f ]] || { echo "registry_corrupt_blob: no blob $digest" >&2; return 1; }
  local size; size=$(stat -c %s "$f")
  # The same size, other bytes: the middle of the blob turned to X.
  printf 'XXXXXXXXXXXXXXXX' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
}

registry_stop() {
  local upper=${1^^}
  local pid_var="REGISTRY_${upper}_PID" token_var="REGISTRY_${upper}_TOKEN_PID"
  local p
  for p in ${!pid_var:-} ${!token_var:-}; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

registry_cleanup() {
  local p
  for p in "${_registry_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  _registry_pids=()
  rm -rf "$REGISTRY_WORK"
}
