#!/usr/bin/env bash
# CI step: the public HTTP caching conformance suite (cache-tests, vendored in suite/)
# against the isr binary, gated by check.mjs: no required test may fail and nothing in
# expected-pass.txt may stop passing. Installs node, npm and curl if they are missing; the
# suite's one npm dependency (undici) is installed into a scratch copy under target/.
#
#   conformance/cache-tests/ci.sh                 # uses target/debug/isr
#   ISR_BIN=target/release/isr conformance/cache-tests/ci.sh
#   conformance/cache-tests/ci.sh --record        # rewrite expected-pass.txt from this run
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=conformance/cache-tests
ISR_BIN="${ISR_BIN:-$PWD/target/debug/isr}"

if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v curl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq nodejs npm curl
fi
OUT="$PWD/target/cache-tests/ci"
rm -rf "$OUT"
SYSTEMS=isr ISR_BIN="$ISR_BIN" OUT="$OUT" "$HERE/run"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo "# cache-tests that isr passes (recorded by ci.sh --record; CI fails if one stops passing)"
    node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      for (const r of s.perTest) if (r.sys.isr.cat === "pass") console.log(r.id)' "$OUT/summary.json"
  } > "$HERE/expected-pass.txt"
  echo "* recorded $(grep -vc '^#' "$HERE/expected-pass.txt") passing tests in $HERE/expected-pass.txt"
fi
node "$HERE/check.mjs" "$OUT/summary.json" "$HERE/expected-pass.txt"
