# Sourced by the shell tests: check NAME COMMAND... runs one check, prints PASS/FAIL, and at
# the end junit_finish writes every check as a test case to Bazel's $XML_OUTPUT_FILE (so
# tools/test counts them one by one) and prints "N passed, N failed".
passes=0 failures=0
junit_cases=""
xml_escape() { sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g' <<<"$1"; }
check() {  # check NAME COMMAND...
  local name=$1; shift
  local escaped; escaped=$(xml_escape "$name")
  if "$@"; then
    passes=$((passes + 1)); echo "PASS: $name"
    junit_cases+="<testcase name=\"$escaped\" status=\"run\" result=\"completed\"/>"
  else
    failures=$((failures + 1)); echo "FAIL: $name"
    junit_cases+="<testcase name=\"$escaped\" status=\"run\" result=\"completed\"><failure message=\"failed\"/></testcase>"
  fi
}
junit_finish() {  # junit_finish SUITE
  if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="%s" tests="%d" failures="%d">\n%s\n</testsuite></testsuites>\n' \
      "$1" $((passes + failures)) "$failures" "$(sed 's/<testcase/\n<testcase/g' <<<"$junit_cases")" >"$XML_OUTPUT_FILE"
  fi
  echo "$passes passed, $failures failed"
  [[ $failures -eq 0 ]]
}

# privileged_work NAME: the start every privileged test shares. Skips (or fails under CI)
# unless run as root with the test user; then makes $work (mode 0755, for the test user
# too), enters it, and makes $bin with a setuid copy of idmap from $runfiles.
privileged_work() {
  if [[ $(id -u) -ne 0 ]] || ! getent passwd gdn-test >/dev/null; then
    [[ "${CI:-}" == true ]] && { echo "FAIL: needs root and gdn-test (tools/test)"; exit 1; }
    echo "SKIP: needs root and the test user"; exit 0
  fi
  work=$(mktemp -d "/tmp/gdn-$1.XXXXXX")
  chmod 755 "$work"
  cd "$work" || exit 1
  bin=$work/bin
  mkdir -p "$bin"
  install -o root -g root -m 4755 "$runfiles/idmap/idmap" "$bin/idmap"
  # The cgroup parents spawn makes as root ("spawn" in each hierarchy) that are not there
  # yet: the test's to remove (remove_new_cgroup_parents, in its cleanup).
  new_cgroup_parents=()
  local h
  for h in /sys/fs/cgroup/*/; do [[ -e ${h}spawn ]] || new_cgroup_parents+=("${h}spawn"); done
}

# remove_new_cgroup_parents: for a test's cleanup, once its containers are gone.
remove_new_cgroup_parents() {
  local p
  for p in "${new_cgroup_parents[@]}"; do rmdir "$p" 2>/dev/null; done
  return 0
}

# killing_plugin TOOL: writes $bin/killing-TOOL, a stand-in for $bin/TOOL that gdn runs as
# a plugin. When $work/kill-at says "TOOL:ARG:before" or "TOOL:ARG:after" for one of its
# arguments (a subcommand or action), it kills its parent (the server) with SIGKILL right
# before that step, or right after the real TOOL did it, once; otherwise it is TOOL.
killing_plugin() {
  local tool=$1
  cat >"$bin/killing-$tool" <<SCRIPT
#!/bin/bash
at=\$(cat '$work/kill-at' 2>/dev/null)
for a in "\$@"; do
  if [[ \$at == "$tool:\$a:before" ]]; then rm -f '$work/kill-at'; kill -9 \$PPID; exit 1; fi
  if [[ \$at == "$tool:\$a:after" ]]; then rm -f '$work/kill-at'; '$bin/$tool' "\$@"; rc=\$?; kill -9 \$PPID; exit \$rc; fi
done
exec '$bin/$tool' "\$@"
SCRIPT
  chmod 0755 "$bin/killing-$tool"
}

# free_net_tag: sets $tag to 4 hex digits that no link's name "gdt$tag..." uses yet.
free_net_tag() {
  local _
  for _ in $(seq 1 50); do
    tag=$(printf '%04x' $((RANDOM)))
    ip -o link show | grep -q "gdt$tag" || break
  done
}

# free_subnets N: sets $X so that the N /24s 10.250.X.0 ... 10.250.(X+N-1).0 are on no
# address or route of this host; false when none is found.
free_subnets() {
  local n=$1 cand i nets
  X=
  for cand in $(shuf -i 10-240 -n 40); do
    nets=$cand
    for ((i = 1; i < n; i++)); do nets+="|$((cand + i))"; done
    if ! ip -o addr show | grep -qE "10\.250\.($nets)\." && ! ip route show | grep -qE "10\.250\.($nets)\."; then
      X=$cand
      return 0
    fi
  done
  return 1
}

# remove_chains_of PREFIX: for a cleanup, the iptables chains whose names start with PREFIX
# (filter and nat), and the built-in chains' jumps to them; nothing else.
remove_chains_of() {
  local prefix=$1 table rule chain
  for table in filter nat; do
    iptables -w -t "$table" -S 2>/dev/null | grep -E "^-A [A-Z]+ .*-j $prefix" | sed 's/^-A/-D/' |
      while read -r rule; do eval "iptables -w -t $table $rule"; done
    for chain in $(iptables -w -t "$table" -S 2>/dev/null | awk -v p="$prefix" '$1 == "-N" && index($2, p) == 1 {print $2}'); do
      iptables -w -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $(iptables -w -t "$table" -S 2>/dev/null | awk -v p="$prefix" '$1 == "-N" && index($2, p) == 1 {print $2}'); do
      iptables -w -t "$table" -X "$chain" 2>/dev/null
    done
  done
}
