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
