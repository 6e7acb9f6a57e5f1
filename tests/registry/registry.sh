# shellcheck shell=bash
# A real registry for tests and benchmarks: Debian's docker-registry (distribution 2.8) on
# 127.0.0.1, each with its own config, storage and log under $REGISTRY_WORK/NAME. Sourced by
# bash scripts (with or without `set -euo pipefail`). Needs docker-registry, skopeo, openssl,
# htpasswd (apache2-utils), curl and python3 (stdlib only). Nothing listens beyond 127.0.0.1.
#
#   registry_start NAME [--htpasswd USER:PASS]... [--token USER:PASS]... [--anon-pull] [--tls]
#       Starts one on a free port and waits until /v2/ answers. Modes: open (no flag), Basic
#       auth from an htpasswd file, or Bearer tokens from a token service run here (the Docker
#       Hub scheme); --anon-pull lets the token service grant pull to anonymous clients;
#       --tls serves HTTPS (and the token service too) with a self-signed certificate.
#       Exports REGISTRY_<NAME>_ADDR (127.0.0.1:PORT), _URL, _PID, _DATA (its storage);
#       with --token also _TOKEN_PID, _REALM, _SERVICE; with --tls also _CA (the certificate)
#       and _CERTS (a directory holding it as ca.crt, for skopeo --src-cert-dir).
#       Calling it again for a stopped NAME restarts it on the same storage (same port if free).
#   registry_stop NAME
#       Stops that registry and its token service (by pid; SIGTERM, then SIGKILL after 5 s).
#       Its _ADDR stays set, so a test can try an address where nothing answers.
#   registry_cleanup
#       Stops every registry started here and removes what they left (all of $REGISTRY_WORK
#       when this library created it). Safe in an EXIT trap, whatever state things are in.
#   registry_push_layout NAME OCI_DIR:TAG REPO:TAG [USER:PASS] [-- SKOPEO_COPY_FLAGS...]
#   registry_push_index  (the same: every push is `skopeo copy --all`, so an index in the
#       layout goes up with every platform's manifest)
#   registry_pull_layout NAME REPO:TAG OCI_DIR:TAG [USER:PASS] [-- SKOPEO_COPY_FLAGS...]
#       skopeo copy back out (this machine's platform of an index; add `-- --all` for all of
#       it, or `-- --override-arch arm64` for another)
#   make_oci_layout DIR TAG [--arch ARCH[/VARIANT]]... [--index]
#       Builds a tiny OCI layout from busybox; see the function for what it holds and prints.
#   registry_corrupt_blob NAME [REPO] DIGEST
#       Flips bytes in the middle of a stored blob, keeping its size.
#
# Environment: REGISTRY_WORK (default: a new mktemp -d /tmp/gdn-registry.XXXXXX),
# REGISTRY_BINARY (default docker-registry), REGISTRY_TOKEN_SIGNER (auto | cryptography |
# openssl), REGISTRY_BUSYBOX (default /bin/busybox), REGISTRY_START_TIMEOUT (seconds, 15),
# REGISTRY_VERBOSE (set: skopeo shows its progress).
# Call registry_start in the test's own shell, not in $(...) or a pipeline: it exports
# variables, and what it starts dies with the shell that started it (setpriv --pdeathsig).

# Sourced twice in one shell: keep the first one's state (the started registries).
if [[ -z ${_registry_sourced:-} ]]; then
  _registry_sourced=1
  _registry_names=()     # every NAME started here, for registry_cleanup
  _registry_own_work=""  # set when REGISTRY_WORK was made here: cleanup removes all of it
  if [[ -z ${REGISTRY_WORK:-} ]]; then
    REGISTRY_WORK=$(mktemp -d /tmp/gdn-registry.XXXXXX)
    _registry_own_work=$REGISTRY_WORK
  else
    # Absolute: pids are told apart by the paths in their command lines.
    REGISTRY_WORK=$(realpath -m "$REGISTRY_WORK")
    if [[ ! -e $REGISTRY_WORK ]]; then
      mkdir -p "$REGISTRY_WORK"
      _registry_own_work=$REGISTRY_WORK
    fi
  fi
  export REGISTRY_WORK
fi

_registry_err() { echo "registry: $*" >&2; }

# Sets $_registry_py to the real interpreter behind python3: a pyenv shim costs 0.2 s a call.
# Called in the caller's shell (not in $(...)), so that it is looked up once.
_registry_find_python() {
  if [[ -z ${_registry_py:-} ]]; then
    _registry_py=$(python3 -c 'import sys; print(sys.executable)') || { _registry_err "no python3"; return 1; }
  fi
}

# True while PID runs (a zombie counts as gone) and its command line names DIR: a pid that
# was reused by some other process since is never touched.
_registry_is_ours() {
  local pid=$1 dir=$2 state cmd
  [[ -r /proc/$pid/stat ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$dir/"* ]]
}

_registry_alive() {  # PID: running, not a zombie
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]]
}

_registry_kill() {  # PID DIR
  local pid=$1 dir=$2 i
  if _registry_is_ours "$pid" "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 250; i++)); do
      _registry_is_ours "$pid" "$dir" || break
      sleep 0.02
    done
    if _registry_is_ours "$pid" "$dir"; then kill -KILL "$pid" 2>/dev/null || true; fi
  elif [[ -d /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
    return 0  # the pid lives on as someone else's: neither kill nor wait for it
  fi
  # Reaps it when it is our child; for any other pid `wait` just fails.
  wait "$pid" 2>/dev/null || true
  return 0
}

# A port free on 127.0.0.1 now. Another process may still take it before the registry binds
# it, so registry_start retries on "address already in use".
_registry_free_port() {
  "$_registry_py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

_registry_port_free() {  # PORT: true if nothing listens there and we may bind it
  # SO_REUSEADDR as Go's listeners do: the connections of the last run, in TIME_WAIT on
  # that port, do not keep the registry from it.
  "$_registry_py" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

_registry_setvar() { export "$1=$2"; }

registry_start() {
  # Errors are checked one by one here; the caller's errexit must not cut a start in half.
  local -
  set +e
  local name=${1:-}
  [[ $name =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || { _registry_err "registry_start NAME: NAME must be [A-Za-z][A-Za-z0-9_]*, not '$name'"; return 2; }
  shift
  local -a basic_users=() token_users=()
  local anon_pull=false tls=false
  while [[ $# -gt 0 ]]; do
    case $1 in
      --htpasswd|--token)
        [[ ${2:-} == ?*:* ]] || { _registry_err "registry_start: $1 needs USER:PASS"; return 2; }
        if [[ $1 == --htpasswd ]]; then basic_users+=("$2"); else token_users+=("$2"); fi
        shift 2 ;;
      --anon-pull) anon_pull=true; shift ;;
      --tls) tls=true; shift ;;
      *) _registry_err "registry_start: unknown flag $1"; return 2 ;;
    esac
  done
  if [[ ${#basic_users[@]} -gt 0 && ${#token_users[@]} -gt 0 ]]; then
    _registry_err "registry_start: --htpasswd and --token exclude each other"; return 2
  fi
  if $anon_pull && [[ ${#token_users[@]} -eq 0 ]]; then
    _registry_err "registry_start: --anon-pull needs --token"; return 2
  fi
  local upper=${name^^}
  local pid_var=REGISTRY_${upper}_PID token_pid_var=REGISTRY_${upper}_TOKEN_PID addr_var=REGISTRY_${upper}_ADDR
  local dir=$REGISTRY_WORK/$name
  if [[ -n ${!pid_var:-} ]] && _registry_is_ours "${!pid_var}" "$dir"; then
    _registry_err "registry_start: $name is already running"; return 1
  fi
  # What a previous run of NAME exported and this one may not set again.
  unset "REGISTRY_${upper}_REALM" "REGISTRY_${upper}_SERVICE" "REGISTRY_${upper}_CA" "REGISTRY_${upper}_CERTS"
  # A restart keeps the old address when it can: a test may want the registry "back".
  local old_port=""
  [[ -d $dir && -n ${!addr_var:-} ]] && old_port=${!addr_var##*:}
  mkdir -p "$dir/data" || return 1
  [[ " ${_registry_names[*]} " == *" $name "* ]] || _registry_names+=("$name")
  _registry_find_python || return 1
  local timeout=${REGISTRY_START_TIMEOUT:-15}
  local scheme=http
  local t0; t0=$(date +%s%N)

  local tls_conf=""
  if $tls; then
    # EC P-256: a key in milliseconds where RSA takes about a second on a busy host.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$dir/tls.key" -out "$dir/tls.crt" -days 2 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
      { _registry_err "registry_start: openssl could not make the TLS certificate"; return 1; }
    mkdir -p "$dir/certs" && cp "$dir/tls.crt" "$dir/certs/ca.crt" || return 1
    scheme=https
    tls_conf="  tls:
    certificate: $dir/tls.crt
    key: $dir/tls.key"
  fi

  local auth_conf=""
  if [[ ${#basic_users[@]} -gt 0 ]]; then
    : >"$dir/htpasswd"
    local u line
    for u in "${basic_users[@]}"; do
      # distribution accepts bcrypt entries only.
      line=$(htpasswd -Bbn "${u%%:*}" "${u#*:}") || { _registry_err "registry_start: htpasswd failed"; return 1; }
      printf '%s\n' "$line" >>"$dir/htpasswd"
    done
    auth_conf="auth:
  htpasswd:
    realm: gdn-test-registry
    path: $dir/htpasswd"
  fi

  if [[ ${#token_users[@]} -gt 0 ]]; then
    # One RSA key for every token service in this work dir (RSA key generation is the slow
    # part); each registry gets its own self-signed certificate for it.
    local key=$REGISTRY_WORK/token-signing.key
    if [[ ! -s $key ]]; then
      if ! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key.tmp" >/dev/null 2>&1; then
        _registry_err "registry_start: openssl could not make the token key"; return 1
      fi
      mv "$key.tmp" "$key" || return 1
    fi
    openssl req -x509 -new -key "$key" -out "$dir/token.crt" -days 2 -subj "/CN=gdn-test-token-$name" \
      >/dev/null 2>&1 || { _registry_err "registry_start: openssl could not make the token certificate"; return 1; }
    printf '%s\n' "${token_users[@]}" >"$dir/token.users"
    _registry_token_server_py >"$dir/token_server.py"
    local service=gdn-test-registry-$name issuer=gdn-test-token-issuer-$name
    local -a targs=(--key "$key" --cert "$dir/token.crt" --issuer "$issuer" --service "$service"
      --users "$dir/token.users" --port-file "$dir/token.port" --log "$dir/token.log"
      --signer "${REGISTRY_TOKEN_SIGNER:-auto}")
    $anon_pull && targs+=(--anon-pull)
    $tls && targs+=(--tls-cert "$dir/tls.crt" --tls-key "$dir/tls.key")
    rm -f "$dir/token.port"
    # --pdeathsig: should this shell die without its EXIT trap (SIGKILL), the service dies too.
    setpriv --pdeathsig KILL "$_registry_py" "$dir/token_server.py" "${targs[@]}" >"$dir/token.out" 2>&1 &
    _registry_setvar "$token_pid_var" $!
    local i
    for ((i = 0; i < timeout * 50; i++)); do
      [[ -s $dir/token.port ]] && break
      _registry_alive "${!token_pid_var}" || break
      sleep 0.02
    done
    if [[ ! -s $dir/token.port ]]; then
      _registry_err "registry_start: the token service of $name did not start:"
      tail -5 "$dir/token.out" >&2
      registry_stop "$name"; return 1
    fi
    local realm
    realm=$scheme://127.0.0.1:$(<"$dir/token.port")/token
    _registry_setvar "REGISTRY_${upper}_REALM" "$realm"
    _registry_setvar "REGISTRY_${upper}_SERVICE" "$service"
    auth_conf="auth:
  token:
    realm: $realm
    service: $service
    issuer: $issuer
    rootcertbundle: $dir/token.crt"
  fi

  local attempt port pid code started=false
  for ((attempt = 0; attempt < 5; attempt++)); do
    if [[ $attempt -eq 0 && -n $old_port ]] && _registry_port_free "$old_port"; then
      port=$old_port
    else
      port=$(_registry_free_port) || { _registry_err "registry_start: no free port"; registry_stop "$name"; return 1; }
    fi
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
$tls_conf
$auth_conf
health:
  storagedriver:
    enabled: false
EOF
    local log_from
    log_from=$(($(stat -c %s "$dir/log" 2>/dev/null || echo 0) + 1))
    # A clean environment: docker-registry reads every REGISTRY_* variable as configuration,
    # and this library exports several.
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --pdeathsig KILL \
      "${REGISTRY_BINARY:-docker-registry}" serve "$dir/config.yml" >>"$dir/log" 2>&1 &
    pid=$!
    _registry_setvar "$pid_var" "$pid"
    local i
    for ((i = 0; i < timeout * 50; i++)); do
      # Our own child, not reaped yet, so its pid cannot have been reused: only whether it
      # still runs matters (right after the fork its cmdline is still this shell's).
      _registry_alive "$pid" || break
      # Its own log must say it bound the port before /v2/ counts: in a port race, whoever
      # took the port may answer /v2/ (another test's registry) or never answer at all.
      if ! tail -c "+$log_from" "$dir/log" | grep -q "listening on 127\.0\.0\.1:$port\b"; then
        sleep 0.02; continue
      fi
      code=$(curl -sk --noproxy '*' --max-time 1 -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" 2>/dev/null) || true
      if [[ $code == 200 || $code == 401 ]]; then started=true; break; fi
      sleep 0.02
    done
    $started && break
    _registry_kill "$pid" "$dir"
    tail -c "+$log_from" "$dir/log" | grep -q 'address already in use' || break
    echo "registry: port $port was taken, trying another" >>"$dir/log"
  done
  if ! $started; then
    _registry_err "registry_start: docker-registry $name did not answer on 127.0.0.1:$port; its log:"
    tail -5 "$dir/log" >&2
    registry_stop "$name"; return 1
  fi
  _registry_setvar "$addr_var" "127.0.0.1:$port"
  _registry_setvar "REGISTRY_${upper}_URL" "$scheme://127.0.0.1:$port"
  _registry_setvar "REGISTRY_${upper}_DATA" "$dir/data"
  if $tls; then
    _registry_setvar "REGISTRY_${upper}_CA" "$dir/tls.crt"
    _registry_setvar "REGISTRY_${upper}_CERTS" "$dir/certs"
  fi
  echo "registry: $name on $scheme://127.0.0.1:$port up in $((($(date +%s%N) - t0) / 1000000)) ms" >>"$dir/log"
}

registry_stop() {
  local name=${1:-}
  local -  # from an EXIT trap under errexit too, it must run to the end
  set +e
  [[ $name =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || { _registry_err "registry_stop NAME: no registry '$name'"; return 2; }
  local upper=${name^^} dir=$REGISTRY_WORK/$name v
  for v in "REGISTRY_${upper}_PID" "REGISTRY_${upper}_TOKEN_PID"; do
    [[ -n ${!v:-} ]] && _registry_kill "${!v}" "$dir"
    unset "$v"
  done
  return 0
}

registry_cleanup() {
  local n
  local -
  set +e
  for n in "${_registry_names[@]}"; do registry_stop "$n"; done
  if [[ -n $_registry_own_work && $_registry_own_work == "$REGISTRY_WORK" && $REGISTRY_WORK == /?* ]]; then
    rm -rf "$REGISTRY_WORK"
  elif [[ -n ${REGISTRY_WORK:-} && -d $REGISTRY_WORK ]]; then
    # A work dir the caller made: only what we put there goes.
    for n in "${_registry_names[@]}"; do [[ -n $n ]] && rm -rf "${REGISTRY_WORK:?}/$n"; done
    rm -f "$REGISTRY_WORK/token-signing.key" "$REGISTRY_WORK/token-signing.key.tmp"
  fi
  _registry_names=()
  return 0
}

# _registry_copy dest|src NAME SRC DEST [USER:PASS] [-- FLAGS...]: push and pull's shared part.
_registry_copy() {
  local which=$1 name=$2 src=$3 dest=$4; shift 4
  local creds=""
  if [[ $# -gt 0 && $1 != -- ]]; then creds=$1; shift; fi
  [[ ${1:-} == -- ]] && shift
  local addr_var=REGISTRY_${name^^}_ADDR
  [[ -n ${!addr_var:-} ]] || { _registry_err "no registry named $name"; return 1; }
  local -a flags=("--$which-tls-verify=false")
  # A push takes every platform of an index; a pull takes this machine's unless told.
  [[ $which == dest ]] && flags+=(--all)
  # Without credentials, anonymous on purpose: never ones from an auth.json of this machine.
  if [[ -n $creds ]]; then flags+=("--$which-creds" "$creds"); else flags+=("--$which-no-creds"); fi
  [[ -n ${REGISTRY_VERBOSE:-} ]] || flags+=(--quiet)
  if [[ $which == dest ]]; then
    skopeo copy "${flags[@]}" "$@" "oci:$src" "docker://${!addr_var}/$dest"
  else
    skopeo copy "${flags[@]}" "$@" "docker://${!addr_var}/$src" "oci:$dest"
  fi
}

registry_push_layout() {  # NAME OCI_DIR:TAG REPO:TAG [USER:PASS] [-- SKOPEO_FLAGS...]
  [[ $# -ge 3 ]] || { _registry_err "registry_push_layout NAME OCI_DIR:TAG REPO:TAG [USER:PASS] [-- FLAGS]"; return 2; }
  _registry_copy dest "$@"
}

registry_push_index() { registry_push_layout "$@"; }

registry_pull_layout() {  # NAME REPO:TAG OCI_DIR:TAG [USER:PASS] [-- SKOPEO_FLAGS...]
  [[ $# -ge 3 ]] || { _registry_err "registry_pull_layout NAME REPO:TAG OCI_DIR:TAG [USER:PASS] [-- FLAGS]"; return 2; }
  _registry_copy src "$@"
}

registry_corrupt_blob() {  # NAME [REPO] DIGEST
  local name=${1:-} repo="" digest
  case $# in
    2) digest=$2 ;;
    3) repo=$2 digest=$3 ;;
    *) _registry_err "registry_corrupt_blob NAME [REPO] DIGEST"; return 2 ;;
  esac
  local hex=${digest#sha256:}
  [[ $hex =~ ^[0-9a-f]{64}$ ]] || { _registry_err "registry_corrupt_blob: not a sha256 digest: $digest"; return 2; }
  local root=$REGISTRY_WORK/$name/data/docker/registry/v2
  local f=$root/blobs/sha256/${hex:0:2}/$hex/data
  [[ -f $f ]] || { _registry_err "registry_corrupt_blob: $name stores no blob $digest"; return 1; }
  if [[ -n $repo && ! -e $root/repositories/$repo/_layers/sha256/$hex/link &&
        ! -e $root/repositories/$repo/_manifests/revisions/sha256/$hex/link ]]; then
    _registry_err "registry_corrupt_blob: repository $repo of $name does not link $digest"; return 1
  fi
  # Inverting bytes always changes them; the registry serves the file as it is, with its
  # recorded size, so the client reads every byte and only the digest check can catch it.
  _registry_find_python || return 1
  "$_registry_py" - "$f" <<'PY'
import os, sys
path = sys.argv[1]
size = os.path.getsize(path)
if size == 0:
    sys.exit("registry_corrupt_blob: an empty blob cannot be corrupted")
n = min(16, size)
off = max(0, size // 2 - n // 2)
with open(path, "r+b") as f:
    f.seek(off)
    data = f.read(n)
    f.seek(off)
    f.write(bytes(b ^ 0xFF for b in data))
PY
}

# make_oci_layout DIR TAG [--arch ARCH[/VARIANT]]... [--index]
# An OCI layout in DIR (made, or added to) whose TAG names a tiny linux image built from
# $REGISTRY_BUSYBOX (/bin/busybox). Each image has two gzip layers:
#   1. bin/busybox, bin/sh -> busybox, etc/hostname ("gdn-test")  (the same blob for every arch)
#   2. /arch holding the architecture's name (with /VARIANT if given), so a test can tell which
#      image a client chose
# With no --arch: one image for this machine's architecture. With one --arch: that image.
# With two or more (or --index): TAG names an image index with one manifest per platform.
# Everything is deterministic (fixed times and owners): the same call gives the same digests.
# Prints, one per line: "TAG DIGEST MEDIATYPE" for what TAG names, then per image
# "ARCH[/VARIANT] MANIFEST_DIGEST CONFIG_DIGEST BASE_LAYER_DIGEST ARCH_LAYER_DIGEST".
make_oci_layout() {
  [[ $# -ge 2 ]] || { _registry_err "make_oci_layout DIR TAG [--arch ARCH[/VARIANT]]... [--index]"; return 2; }
  local dir=$1 tag=$2; shift 2
  local -a arches=()
  local index=false
  while [[ $# -gt 0 ]]; do
    case $1 in
      --arch) [[ -n ${2:-} ]] || { _registry_err "make_oci_layout: --arch needs a value"; return 2; }
        arches+=("$2"); shift 2 ;;
      --index) index=true; shift ;;
      *) _registry_err "make_oci_layout: unknown flag $1"; return 2 ;;
    esac
  done
  if [[ ${#arches[@]} -eq 0 ]]; then
    case $(uname -m) in
      x86_64) arches=(amd64) ;; aarch64) arches=(arm64) ;; *) arches=("$(uname -m)") ;;
    esac
  fi
  local busybox=${REGISTRY_BUSYBOX:-/bin/busybox}
  [[ -f $busybox ]] || { _registry_err "make_oci_layout: no $busybox"; return 1; }
  _registry_find_python || return 1
  "$_registry_py" - "$dir" "$tag" "$busybox" "$index" "${arches[@]}" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

out, tag, busybox, force_index, arches = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "true", sys.argv[5:]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
MTIME = 1700000000

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

def layer(entries):
    """entries: (path, kind, payload/target, mode). Returns (diff_id, digest, size)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path, kind, payload, mode in entries:
            info = tarfile.TarInfo(path)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = MTIME, mode, 0, 0, "root", "root"
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                t.addfile(info)
            else:
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
    tar = raw.getvalue()
    digest, size = put(gzip.compress(tar, mtime=0))
    return "sha256:" + hashlib.sha256(tar).hexdigest(), digest, size

def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()

with open(busybox, "rb") as f:
    bb = f.read()
base = layer([("bin", "dir", None, 0o755), ("bin/busybox", "file", bb, 0o755), ("bin/sh", "symlink", "busybox", 0o777),
              ("etc", "dir", None, 0o755), ("etc/hostname", "file", b"gdn-test\n", 0o644)])
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
images = []
for spec in arches:
    arch, _, variant = spec.partition("/")
    marker = layer([("arch", "file", (spec + "\n").encode(), 0o644)])
    config = {"architecture": arch, "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": [base[0], marker[0]]},
              "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "make_oci_layout: busybox"},
                          {"created": "2023-11-14T22:13:20Z", "created_by": "make_oci_layout: /arch"}]}
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        config["variant"] = platform["variant"] = variant
    config_digest, config_size = put(dumps(config))
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": LAYER, "digest": base[1], "size": base[2]},
                           {"mediaType": LAYER, "digest": marker[1], "size": marker[2]}]}
    m_digest, m_size = put(dumps(manifest))
    images.append((spec, {"mediaType": MANIFEST, "digest": m_digest, "size": m_size, "platform": platform},
                   config_digest, base[1], marker[1]))

if len(images) > 1 or force_index:
    idx = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [d for _, d, *_ in images]}
    digest, size = put(dumps(idx))
    top = {"mediaType": INDEX, "digest": digest, "size": size}
else:
    top = dict(images[0][1])
top["annotations"] = {"org.opencontainers.image.ref.name": tag}

# The layout's own index.json: TAG replaced if it was there, other tags kept.
index_path = os.path.join(out, "index.json")
layout = {"schemaVersion": 2, "manifests": []}
if os.path.exists(index_path):
    with open(index_path) as f:
        layout = json.load(f)
layout["manifests"] = [m for m in layout.get("manifests", [])
                       if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag] + [top]
with open(index_path + ".tmp", "w") as f:
    json.dump(layout, f)
os.replace(index_path + ".tmp", index_path)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print(tag, top["digest"], top["mediaType"])
for spec, d, config_digest, base_digest, marker_digest in images:
    print(spec, d["digest"], config_digest, base_digest, marker_digest)
PY
}

# The token service registry_start runs for --token: python3 stdlib (plus `cryptography` when
# it imports, else the openssl CLI, to sign). Kept here so this file is all a test needs.
_registry_token_server_py() {
  cat <<'PY'
#!/usr/bin/env python3
"""A registry token service (Docker Hub's scheme) on 127.0.0.1, for tests. Written out and run
by registry.sh's registry_start --token.

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] answers
{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": T}; so does
POST /token with a form grant_type=password&username=U&password=P&service=S&scope=...
  - Basic credentials that match a USER:PASS line of --users: every action asked for.
  - wrong credentials: 401.
  - none: with --anon-pull, "pull" where asked for; else a token granting nothing (as Docker
    Hub does for a private repository), so the registry answers 401 insufficient_scope.
The JWT is RS256 and carries the signing certificate in its x5c header, which the registry
verifies against its auth.token.rootcertbundle; iss and aud must equal its issuer and service.
Each request is logged to --log as: METHOD PATH who=USER|-|BAD status=N access=JSON.
"""
import argparse, base64, datetime, http.server, json, os, ssl, subprocess, sys, threading, time, urllib.parse

p = argparse.ArgumentParser()
for flag in ("--key", "--cert", "--issuer", "--service", "--users", "--port-file", "--log"):
    p.add_argument(flag, required=True)
p.add_argument("--anon-pull", action="store_true")
p.add_argument("--tls-cert")
p.add_argument("--tls-key")
p.add_argument("--ttl", type=int, default=300)
p.add_argument("--signer", choices=("auto", "cryptography", "openssl"), default="auto")
args = p.parse_args()

with open(args.users) as f:
    users = dict(line.rstrip("\n").split(":", 1) for line in f if ":" in line)
with open(args.cert) as f:
    pem = f.read()
# x5c holds standard (not URL-safe) base64 DER, as distribution decodes it.
cert_der_b64 = "".join(l for l in pem.splitlines() if l and "-----" not in l)


def make_signer():
    if args.signer in ("auto", "cryptography"):
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
        except ImportError:
            if args.signer == "cryptography":
                raise
        else:
            with open(args.key, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            return "cryptography", lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def openssl(data):
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    return "openssl", openssl


signer_name, sign_bytes = make_signer()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(sign_bytes(signing_input.encode()))


def parse_scopes(values):
    """'repository:a/b:pull,push' (several per value, space separated) -> [(type, name, [actions])].
    The name is what lies between the first and the last colon; a type's (class) is dropped."""
    out = []
    for value in values:
        for scope in value.split():
            if scope.count(":") < 2:
                continue
            typ, rest = scope.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            out.append((typ.split("(")[0], name, [a for a in actions.split(",") if a]))
    return out


log_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "gdn-test-token/1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj, who, access=None, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        with log_lock, open(args.log, "a") as f:
            f.write("%s %s who=%s status=%d access=%s\n" % (self.command, self.path, who, status,
                                                           json.dumps(access if access is not None else [])))

    def handle_token(self, params, user, password):
        if user is None:
            who = "-"
        elif users.get(user) == password:
            who = user
        else:
            self.reply(401, {"details": "incorrect username or password"}, "BAD",
                       headers=[("WWW-Authenticate", 'Basic realm="gdn-test-token"')])
            return
        service = params.get("service", [""])[0]
        if service != args.service:
            self.reply(400, {"details": "unknown service %r" % service}, who)
            return
        access = []
        for typ, name, actions in parse_scopes(params.get("scope", [])):
            if user is None:
                actions = ["pull"] if args.anon_pull and typ == "repository" and "pull" in actions else []
            if actions:
                access.append({"type": typ, "name": name, "actions": actions})
        now = int(time.time())
        # aud is a string: distribution 2.8 unmarshals it into a string field.
        token = jwt({"iss": args.issuer, "sub": user or "", "aud": args.service, "exp": now + args.ttl,
                     "nbf": now - 10, "iat": now, "jti": b64url(os.urandom(12)), "access": access})
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.reply(200, {"token": token, "access_token": token, "expires_in": args.ttl, "issued_at": issued},
                   who, access)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"details": "not found"}, "-")
            return
        user = password = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", None
        self.handle_token(urllib.parse.parse_qs(url.query), user, password)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if url.path != "/token":
            self.reply(404, {"details": "not found"}, "-")
            return
        if form.get("grant_type", [""])[0] != "password":
            self.reply(400, {"error": "unsupported_grant_type"}, "-")
            return
        self.handle_token(form, form.get("username", [""])[0], form.get("password", [""])[0])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
if args.tls_cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("token service on 127.0.0.1:%d, signing with %s" % (server.server_address[1], signer_name), flush=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
PY
}
