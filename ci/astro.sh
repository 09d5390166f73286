#!/usr/bin/env bash
# examples/astro behind isr, in headless Chromium, on a clean machine (as root): npm ci,
# astro build, the node server and isr (the debug binary) on free loopback ports, then
# ci/astro-browser.mjs (playwright-core driving Debian's chromium) checks that pages load
# with their CSS, that a rebuild switches isr to the new build with no restart (its
# assets load), that login and logout work under a catch-all route, and that the webhook
# purge brings new content. Screenshots go to target/ci-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
app="$root/examples/astro"
artifacts="$root/target/ci-artifacts"
mkdir -p "$artifacts"

step() { printf '\n== %s\n' "$*"; }

step "chromium and node"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
chromium --version
node --version

step "isr (debug build)"
cargo build -p isr-server --locked
isr="$root/target/debug/isr"

step "npm ci and the first build (examples/astro)"
cd "$app"
npm ci --no-audit --no-fund
cp src/styles/theme.css "$artifacts/theme.css.orig"
cp data/content.json "$artifacts/content.json.orig"
trap 'cp "$artifacts/theme.css.orig" "$app/src/styles/theme.css"; cp "$artifacts/content.json.orig" "$app/data/content.json"; stop' EXIT
npx astro build

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
astro_port=$(free_port)
isr_port=$(free_port)
token="ci-admin-token-0123456789"
secret="ci-webhook-secret"
astro_pid=""
isr_pid=""
stop() {
  [[ -n "$astro_pid" ]] && kill "$astro_pid" 2>/dev/null || true
  [[ -n "$isr_pid" ]] && kill "$isr_pid" 2>/dev/null || true
}
start_astro() {
  HOST=127.0.0.1 PORT="$astro_port" ISR_URL="http://127.0.0.1:$isr_port" \
    ISR_ADMIN_TOKEN="$token" WEBHOOK_SECRET="$secret" \
    node ./dist/server/entry.mjs >>"$artifacts/astro-server.log" 2>&1 &
  astro_pid=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$astro_port/posts/up" && return 0
    sleep 0.05
  done
  echo "the astro server did not start"; cat "$artifacts/astro-server.log"; exit 1
}
start_astro

step "isr in front (isr.toml of the example, origin and port of this run)"
"$isr" serve -c isr.toml --origin "http://127.0.0.1:$astro_port" --listen "127.0.0.1:$isr_port" \
  --admin-token "$token" --cache-dir "$root/target/ci-astro-cache-$$" --log info \
  >"$artifacts/isr.log" 2>&1 &
isr_pid=$!
for _ in $(seq 1 200); do
  curl -fs -o /dev/null "http://127.0.0.1:$isr_port/posts/up" && break
  sleep 0.05
done

browser() {
  ISR="http://127.0.0.1:$isr_port" WEBHOOK_SECRET="$secret" ARTIFACTS="$artifacts" \
    APP="$app" ASTRO="http://127.0.0.1:$astro_port" node "$root/ci/astro-browser.mjs" "$1"
}

step "headless Chromium: pages and their CSS, login and logout, the webhook purge"
browser first

step "a new build (another CSS file name), the server restarted, isr not"
sed -i 's/rgb(0, 0, 255)/rgb(255, 0, 0)/' src/styles/theme.css
npx astro build >"$artifacts/astro-build-2.log" 2>&1
kill "$astro_pid"; wait "$astro_pid" 2>/dev/null || true
start_astro
# isr watches dist/isr-build-id: wait (bounded) until it says it serves the new build.
want=$(tr -d '\n' < dist/isr-build-id)
switched=""
for _ in $(seq 1 400); do
  got=$(ISR_ADMIN_TOKEN="$token" "$isr" build show --json --url "http://127.0.0.1:$isr_port" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).current))')
  if [[ "$got" == "$want" ]]; then switched=1; break; fi
  sleep 0.05
done
[[ -n "$switched" ]] || { echo "isr did not switch to build $want"; exit 1; }
echo "isr serves build $want"

step "headless Chromium: the new build's HTML and its assets"
BUILD="$want" browser second
echo "astro CI passed"
