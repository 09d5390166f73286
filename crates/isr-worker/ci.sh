#!/usr/bin/env bash
# Build the isr Worker and run its tests under workerd (Miniflare 4), from a clean clone,
# with no network beyond crates.io and npm.
#
# Tools are installed once into $ISR_WORKER_TOOLS (default ~/.cache/isr-worker-tools) and
# skipped when present: worker-build 0.8.7 and wasm-bindgen-cli at exactly the version in
# Cargo.lock (worker-build would otherwise download them). esbuild and Miniflare come from
# npm (package-lock.json). The native `isr` binary is built too, for the shared scenarios
# (ISR_SKIP_NATIVE=1 skips that part).
#
# Tests: test/worker.test.mjs (the Worker), test/library.test.mjs (example-app/, isr as a
# library), test/native.test.mjs (the same scenarios, test/scenarios.mjs, against the
# native proxy). Checks beside fmt and clippy: no two of the crate's files import each
# other, and its lint tables are the workspace's `[workspace.lints]`.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD

TOOLS=${ISR_WORKER_TOOLS:-$HOME/.cache/isr-worker-tools}
mkdir -p "$TOOLS"
export PATH="$TOOLS/bin:$PATH"
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "toolchain"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# `worker-build --version` prints the bare version.
if [ "$("$TOOLS/bin/worker-build" --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]; then
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --root "$TOOLS" --force
fi
if [ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Not --locked: its lockfile pins a crate version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --no-default-features \
    --root "$TOOLS" --force
fi
# `npm ci` trips over platform-specific optional packages (a known npm bug): install.
if ! npm ls --silent miniflare esbuild >/dev/null 2>&1; then
  npm install --no-audit --no-fund
fi

# The example app (isr as a library) has its own target directory: built as its
# dependency, isr-worker's cdylib has no entry point, and in a shared directory it would
# replace the isr Worker's own .wasm.
unset CARGO_TARGET_DIR
export ESBUILD_BIN="$here/node_modules/@esbuild/linux-x64/bin/esbuild"
export WASM_BINDGEN_BIN="$TOOLS/bin/wasm-bindgen"

step "no two files import each other"
# One edge per `crate::module` a file names (an item of lib.rs: an edge to lib); tsort
# fails on a loop.
for file in src/*.rs; do
  from=$(basename "$file" .rs)
  echo "$from $from"
  { grep -o 'crate::[a-z_]*' "$file" || true; } | sed 's/^crate:://' | sort -u | while read -r to; do
    if [ -f "src/$to.rs" ]; then echo "$from $to"; else echo "$from lib"; fi
  done
done | tsort >/dev/null

step "fmt and clippy"
cargo fmt --manifest-path Cargo.toml --check
cargo fmt --manifest-path example-app/Cargo.toml --check
cargo clippy --locked --target wasm32-unknown-unknown -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --no-default-features -- -D warnings
cargo clippy --locked --manifest-path example-app/Cargo.toml --target wasm32-unknown-unknown -- -D warnings

step "worker-build: the isr Worker, and an app using it as a library"
worker-build --release --no-opt
(cd example-app && worker-build --release --no-opt)

if [ "${ISR_SKIP_NATIVE:-0}" != 1 ]; then
  step "native isr (for the shared scenarios)"
  # Into the workspace's own target directory, where test/native.test.mjs looks (and where
  # .ci/run has already built it).
  (cd ../.. && env -u CARGO_TARGET_DIR cargo build --locked -p isr-server --bin isr)
fi

step "tests under workerd"
node --test --test-concurrency=1 test/*.test.mjs

step "the lints are the workspace's"
# The crate is outside the workspace and cannot inherit `[workspace.lints]`: its tables
# (and the example app's) must say exactly what the workspace's say, spaces and comments
# aside.
lint_table() { # manifest, table name
  awk -v want="[$2]" '
    /^[[:space:]]*\[/ { line = $0; gsub(/[[:space:]]/, "", line); inside = (line == want); next }
    inside { sub(/#.*/, ""); gsub(/[[:space:]]/, ""); if ($0 != "") print }
  ' "$1" | sort
}
for table in rust clippy; do
  workspace=$(lint_table ../../Cargo.toml "workspace.lints.$table")
  for manifest in Cargo.toml example-app/Cargo.toml; do
    if ! differences=$(diff <(echo "$workspace") <(lint_table "$manifest" "lints.$table")); then
      echo "$manifest [lints.$table] differs from [workspace.lints.$table] of ../../Cargo.toml:" >&2
      echo "$differences" >&2
      exit 1
    fi
  done
done

step "done"
