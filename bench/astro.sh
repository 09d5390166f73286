#!/usr/bin/env bash
# HIT req/s through isr against Astro alone, on the same page, in one run:
# examples/astro (Astro 5 + @astrojs/node standalone) serving /posts/hello (which sends
# `Cache-Control: s-maxage=60`), measured directly and through isr (release binary, one
# thread) in front of it. Each server is pinned to core 0, wrk (one thread) to core 1;
# rounds alternate Astro and isr, and the median of each is reported, with the ratio.
# Results are from one run on this machine: compare the ratio, not the numbers.
#
#   bench/astro.sh [--rounds 3] [--duration 10] [--connections 64] [--isr-bin PATH]
#
# Needs wrk and node (installed with apt-get if missing), builds examples/astro if it has
# no dist/, and `cargo build --release -p isr-server` unless --isr-bin is given. Waits
# while /tmp/isr-quiet exists (another benchmark needs the machine). Everything it starts
# is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
rounds=3 duration=10 connections=64 isr_bin=""
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --isr-bin) isr_bin="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [[ -z "$isr_bin" ]]; then
  cargo build --release -p isr-server --locked
  isr_bin="$root/target/release/isr"
fi
app="$root/examples/astro"
if [[ ! -e "$app/dist/server/entry.mjs" ]]; then
  (cd "$app" && npm ci --no-audit --no-fund && npx astro build)
fi

work=$(mktemp -d /tmp/isr-astro-bench.XXXXXX)
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
astro_port=$(free_port)
isr_port=$(free_port)
page=/posts/hello

(cd "$app" && HOST=127.0.0.1 PORT="$astro_port" exec taskset -c 0 node ./dist/server/entry.mjs) \
  >"$work/astro.log" 2>&1 &
pids+=($!)
taskset -c 0 "$isr_bin" serve --origin "http://127.0.0.1:$astro_port" \
  --listen "127.0.0.1:$isr_port" --threads 1 --cache-dir "$work/cache" >"$work/isr.log" 2>&1 &
pids+=($!)
for port in "$astro_port" "$isr_port"; do
  for _ in $(seq 1 400); do curl -fs -o /dev/null "http://127.0.0.1:$port$page" && break; sleep 0.05; done
done
cache=$(curl -fs -o /dev/null -D - "http://127.0.0.1:$isr_port$page" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-isr-cache"{print $2}')
[[ "$cache" == "HIT" ]] || { echo "isr does not answer $page from its cache ($cache)"; exit 1; }

rps() { # port → requests/s of one wrk run
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$1$page" \
    | tee -a "$work/wrk.log" | awk '/Requests\/sec/{print $2}'
}
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
astro=() through=()
for ((r = 1; r <= rounds; r++)); do
  while [ -e /tmp/isr-quiet ]; do sleep 15; done
  taskset -c 1 wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$astro_port$page" >/dev/null
  astro+=("$(rps "$astro_port")")
  taskset -c 1 wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$isr_port$page" >/dev/null
  through+=("$(rps "$isr_port")")
  echo "round $r: astro ${astro[-1]} req/s, isr ${through[-1]} req/s" >&2
done
a=$(printf '%s\n' "${astro[@]}" | median)
i=$(printf '%s\n' "${through[@]}" | median)
ratio=$(awk -v a="$a" -v i="$i" 'BEGIN{printf "%.1f", i/a}')
echo "| server | HIT req/s (median of $rounds × ${duration}s, $connections connections) | rounds |"
echo "| --- | --- | --- |"
echo "| Astro alone (node, standalone) | $(printf '%.0f' "$a") | ${astro[*]} |"
echo "| isr in front (HIT) | $(printf '%.0f' "$i") | ${through[*]} |"
echo "| ratio | **${ratio}×** | |"
printf '{"page":"%s","astro_rps":%s,"isr_rps":%s,"ratio":%s}\n' "$page" "$a" "$i" "$ratio"
