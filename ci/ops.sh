#!/usr/bin/env bash
# The operations tests that need tools from outside Rust, on a clean machine (as root):
# promtool (Debian's prometheus) checks the /metrics text, and Debian's headless Chromium,
# driven by puppeteer-core from npm, runs the dashboard as a person would. Installs what is
# missing, then runs the two ignored tests. The dashboard's screenshot is left at
# target/artifacts/dashboard.png (a CI artifact).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "promtool, chromium and node"
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
promtool --version | head -1
chromium --version
node --version

step "puppeteer-core (crates/isr-server/tests/browser)"
(cd crates/isr-server/tests/browser && npm ci --no-audit --no-fund)

step "the Prometheus scrape example is a valid configuration"
promtool check config deploy/prometheus/prometheus.yml

step "promtool accepts /metrics; the dashboard in headless Chromium"
CHROMIUM="$(command -v chromium)" cargo test -p isr-server --locked \
  --test metrics --test dashboard_browser -- --ignored
ls -l target/artifacts/dashboard.png
