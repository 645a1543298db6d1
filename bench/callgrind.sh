#!/usr/bin/env bash
# callgrind.sh — instructions per request of the gateway, by variant: counted
# by valgrind's callgrind, so the figures do not move with the machine's load
# (wall-clock ratios on a shared machine do).
#
# One canned upstream (bench/nginx/upstream.conf) and a redis-server; two
# gateways under callgrind (`serve --workers 1`): one without state, one with
# `state.redis`.  For each variant: a warm-up with wrk (the cache variants
# store their answer then), the counters zeroed (callgrind_control -z), wrk
# -t1 -c1 for BENCH_CG_SECONDS, the counters dumped (-d); instructions (Ir)
# divided by the requests wrk completed.  Startup and warm-up are not in it.
#
# Variants: stateless (json, stream), state (Redis, no limits), state-rpm (an
# rpm limit on the target), cache (every request a hit: json, and the stored
# answer replayed as a stream).  Writes bench/out/callgrind.md.
# Knobs: CLOUDMUX_BIN, BENCH_CG_SECONDS (6).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
SECONDS_PER=${BENCH_CG_SECONDS:-6}
OUT=$HERE/out

for tool in nginx wrk redis-server valgrind callgrind_control curl; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (run: scripts/deps.sh bench)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench: no binary at $BIN (make build)" >&2; exit 1; }

. "$HERE/lib.sh"
bench_tmp cmx-callgrind

UP_PORT=$(pick_port)
sed -e "s#@PREFIX@#$TMP#g" -e "s#@PORT@#$UP_PORT#g" -e "s#@H2_PORT@#$(pick_port)#g" \
  "$HERE/nginx/upstream.conf" >"$TMP/upstream.conf"
nginx -p "$TMP" -c "$TMP/upstream.conf" -e "$TMP/upstream-error.log" &
PIDS+=("$!")
wait_listening "$UP_PORT" 5 || { log "upstream nginx did not start"; exit 1; }

REDIS_PORT=$(pick_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
wait_listening "$REDIS_PORT" 5 || { log "redis-server did not start"; exit 1; }

cat >"$TMP/stateless.yaml" <<EOF
providers:
  upjson: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
  upsse: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/stream/v1" }
models:
  bench: { targets: [ { provider: upjson, model: gpt-4o-mini } ] }
  bench-stream: { targets: [ { provider: upsse, model: gpt-4o-mini } ] }
  bench-rpm: { targets: [ { provider: upjson, model: gpt-4o-mini, rpm: 100000000 } ] }
  bench-rpm-stream: { targets: [ { provider: upsse, model: gpt-4o-mini, rpm: 100000000 } ] }
  bench-cached: { cache: { ttl: 1h }, targets: [ { provider: upjson, model: gpt-4o-mini } ] }
EOF
{ cat "$TMP/stateless.yaml"; printf 'state:\n  redis: { url: "redis://127.0.0.1:%s/0", timeout: 5ms }\n' "$REDIS_PORT"; } \
  >"$TMP/state.yaml"

start_gateway() { # name config → sets GW_PID, GW_PORT
  GW_PORT=$(pick_port)
  valgrind --tool=callgrind --callgrind-out-file="$TMP/$1.%p.cg" \
    "$BIN" serve --config "$2" --listen "127.0.0.1:$GW_PORT" --workers 1 \
    >"$TMP/$1.out" 2>"$TMP/$1.err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(status_of "http://127.0.0.1:$GW_PORT/health/ready")" = 200 ] && return 0
    sleep 0.2
  done
  log "$1: cloudmux under callgrind did not become ready: $(tail -n 3 "$TMP/$1.err")"
  exit 1
}

RESULTS=$TMP/callgrind.tsv
: >"$RESULTS"
measure() { # label pid port model stream(0|1)
  local label=$1 pid=$2 url="http://127.0.0.1:$3/v1/chat/completions" out n ir dump
  BENCH_MODEL=$4 BENCH_STREAM=$5 wrk -t1 -c1 -d2s -s "$HERE/chat.lua" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  out=$(BENCH_MODEL=$4 BENCH_STREAM=$5 wrk -t1 -c1 -d"${SECONDS_PER}s" -s "$HERE/chat.lua" "$url")
  callgrind_control -d "$label" "$pid" >/dev/null
  n=$(grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2)
  grep -q 'non2xx=0 ' <<<"$out" || { log "$label: non-2xx answers: $out"; exit 1; }
  dump=$(ls -t "$TMP"/*.cg.* 2>/dev/null | head -n 1)
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  rm -f "$dump"
  printf '%s\t%s\t%s\n' "$label" "$n" "$ir" >>"$RESULTS"
  awk -v l="$label" -v n="$n" -v ir="$ir" 'BEGIN { printf "bench: %-22s %6d requests  %10.0f instructions/request\n", l, n, ir / n }' >&2
}

start_gateway stateless "$TMP/stateless.yaml"
measure stateless-json "$GW_PID" "$GW_PORT" bench 0
measure stateless-stream "$GW_PID" "$GW_PORT" bench-stream 1
measure cache-hit-json "$GW_PID" "$GW_PORT" bench-cached 0
measure cache-hit-stream "$GW_PID" "$GW_PORT" bench-cached 1
kill "$GW_PID"
wait "$GW_PID" 2>/dev/null || true

start_gateway state "$TMP/state.yaml"
for _ in $(seq 100); do grep -q "state store: connected" "$TMP/state.err" && break; sleep 0.1; done
measure state-json "$GW_PID" "$GW_PORT" bench 0
measure state-rpm-json "$GW_PID" "$GW_PORT" bench-rpm 0
measure state-rpm-stream "$GW_PID" "$GW_PORT" bench-rpm-stream 1
kill "$GW_PID"
wait "$GW_PID" 2>/dev/null || true

mkdir -p "$OUT"
REPORT=$OUT/callgrind.md
{
  echo "# cloudmux: instructions per request (callgrind)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))."
  echo "\`serve --workers 1\` under callgrind, wrk -t1 -c1 for ${SECONDS_PER} s per variant after a 2 s warm-up; startup not counted."
  echo
  echo "| variant | requests | instructions / request | vs stateless-json |"
  echo "|---|---:|---:|---:|"
  base=$(awk -F'\t' '$1 == "stateless-json" { printf "%.0f", $3 / $2 }' "$RESULTS")
  awk -F'\t' -v base="$base" '{ per = $3 / $2; printf "| %s | %d | %.0f | %.2f× |\n", $1, $2, per, per / base }' "$RESULTS"
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
