#!/usr/bin/env bash
# Fuzzing on stable Rust, bounded in time: every decoder of untrusted input (stored
# entries, requests and keys, Cache-Control, route patterns, tags, config files, admin
# JSON and queries, purge records, the Redis tier's announcements and values) is fed its
# corpus in fuzz/corpus/, mutations of it, and arbitrary bytes, for ISR_FUZZ_CASES cases
# each (default 20,000), and must never panic. ISR_FUZZ_SECONDS (default 600) bounds the
# whole run: past it the run fails, since a decoder that hangs is a bug too.
# A failing case is printed by proptest, with the seed to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${ISR_FUZZ_CASES:-20000}"
seconds="${ISR_FUZZ_SECONDS:-600}"
export PROPTEST_CASES="$cases"
timeout "$seconds" cargo test --locked -p isr-core --test fuzz_decoders
timeout "$seconds" cargo test --locked -p isr-store --features redis --lib redis_tier::fuzz
