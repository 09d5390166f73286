#!/usr/bin/env bash
# The Next.js cache handler package (packages/next-cache-handler), on a clean machine (as
# root): its unit tests (node:test) against a real isr binary, then the end-to-end test of
# a real Next.js app (packages/next-cache-handler/e2e: `next build`, two `next start`
# behind two isr nodes sharing one redis-server). Installs what is missing: redis-server
# and Node.js from Debian, the app's packages with `npm ci`. Next.js 16 needs Node.js 20.9
# or later (Debian 12's own nodejs is 18: install a newer one first).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "redis-server and node"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
redis-server --version
node --version
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 9) ? 0 : 1)'; then
  echo "Next.js 16 needs Node.js 20.9 or later; this is $(node --version)" >&2
  exit 1
fi

step "the isr binary the tests run"
cargo build -p isr-server --locked
export ISR_BIN="$PWD/target/debug/isr"

step "the handlers against isr (npm test)"
(cd packages/next-cache-handler && npm ci --no-audit --no-fund && npm test)

step "a real Next.js app: next build, two instances behind two isr nodes on one Redis"
(
  cd packages/next-cache-handler/e2e
  export NEXT_TELEMETRY_DISABLED=1
  npm ci --no-audit --no-fund
  npm run build
  npm test
)
