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
# answer replayed as a stream), gov (100 virtual keys with budgets and the
# SQLite ledger, as bench/run.sh's cloudmux-gov) and gov-fleet (the same keys
# with rpm and max_parallel shared through Redis, as cloudmux-gov-fleet),
# each with requests on one key and spread over all 100, as JSON and as
# streams; the client APIs passed through (messages-json/stream to an
# anthropic provider, responses-json/stream to an openai one); and the
# translated providers (anthropic, bedrock, vertex: json and stream, the
# canned answers of bench/run.sh's cloudmux-anthropic/-bedrock/-vertex).
# Writes bench/out/callgrind.md.
# Knobs: CLOUDMUX_BIN, BENCH_CG_SECONDS (6), BENCH_CG_KEEP (a directory: each
# variant's callgrind dump is kept there as <variant>.cg, for
# callgrind_annotate), BENCH_CG_ONLY (a regular expression: only the
# variants whose label matches are measured).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
SECONDS_PER=${BENCH_CG_SECONDS:-6}
OUT=$HERE/out

for tool in nginx wrk redis-server valgrind callgrind_control curl node; do
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

RESULTS=$TMP/callgrind.tsv
: >"$RESULTS"
measure() { # label port model stream(0|1)
  local counted n ir
  [[ $1 =~ ${BENCH_CG_ONLY:-.} ]] || return 0
  counted=$(CG_LABEL=$1 BENCH_MODEL=$3 BENCH_STREAM=$4 cg_count "http://127.0.0.1:$2/v1/chat/completions" "$SECONDS_PER")
  read -r n ir <<<"$counted"
  printf '%s\t%s\t%s\n' "$1" "$n" "$ir" >>"$RESULTS"
  awk -v l="$1" -v n="$n" -v ir="$ir" 'BEGIN { printf "bench: %-22s %6d requests  %10.0f instructions/request\n", l, n, ir / n }' >&2
}

cg_gateway stateless "$TMP/stateless.yaml"
measure stateless-json "$CG_PORT" bench 0
measure stateless-stream "$CG_PORT" bench-stream 1
measure cache-hit-json "$CG_PORT" bench-cached 0
measure cache-hit-stream "$CG_PORT" bench-cached 1
kill "$CG_PID"
wait "$CG_PID" 2>/dev/null || true

cg_gateway state "$TMP/state.yaml"
for _ in $(seq 100); do grep -q "state store: connected" "$TMP/state.err" && break; sleep 0.1; done
measure state-json "$CG_PORT" bench 0
measure state-rpm-json "$CG_PORT" bench-rpm 0
measure state-rpm-stream "$CG_PORT" bench-rpm-stream 1
kill "$CG_PID"
wait "$CG_PID" 2>/dev/null || true

# Governance: the keys and limits of bench/run.sh's cloudmux-gov(-fleet).
gov_configs "$TMP/stateless.yaml" "$TMP/gov.yaml" "$TMP/gov-fleet.yaml" "$TMP/gov-keys.txt" "$REDIS_PORT"
head -n 1 "$TMP/gov-keys.txt" >"$TMP/gov-key1.txt"
for variant in gov gov-fleet; do
  cg_gateway "$variant" "$TMP/$variant.yaml"
  for _ in $(seq 100); do [ "$variant" = gov ] || grep -q "state store: connected" "$TMP/$variant.err" && break; sleep 0.1; done
  BENCH_KEYS_FILE=$TMP/gov-key1.txt measure "$variant-json-1key" "$CG_PORT" bench 0
  BENCH_KEYS_FILE=$TMP/gov-keys.txt measure "$variant-json-100keys" "$CG_PORT" bench 0
  BENCH_KEYS_FILE=$TMP/gov-key1.txt measure "$variant-stream-1key" "$CG_PORT" bench-stream 1
  BENCH_KEYS_FILE=$TMP/gov-keys.txt measure "$variant-stream-100keys" "$CG_PORT" bench-stream 1
  kill "$CG_PID"
  wait "$CG_PID" 2>/dev/null || true
done

# The client APIs beside chat, passed through to an upstream that speaks
# them (bench/ingress.sh's messages and responses paths): Anthropic's
# Messages API to an anthropic provider, OpenAI's Responses API to an openai
# provider, each to set beside the stateless-json/stream chat rows above.
node "$HERE/canned_answers.mjs" "$TMP/canned"
cat >"$TMP/ingress.yaml" <<EOF
providers:
  upjson: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
  upsse: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/stream/v1" }
  claude-json: { type: anthropic, base_url: "http://127.0.0.1:$UP_PORT/anthropic" }
  claude-sse: { type: anthropic, base_url: "http://127.0.0.1:$UP_PORT/anthropic-stream" }
models:
  bench: { targets: [ { provider: upjson, model: gpt-4o-mini } ] }
  bench-stream: { targets: [ { provider: upsse, model: gpt-4o-mini } ] }
  claude-json: { targets: [ { provider: claude-json, model: claude-sonnet-4-20250514 } ] }
  claude-stream: { targets: [ { provider: claude-sse, model: claude-sonnet-4-20250514 } ] }
EOF
measure_api() { # label port api path model stream(0|1)
  local counted n ir
  [[ $1 =~ ${BENCH_CG_ONLY:-.} ]] || return 0
  counted=$(CG_LABEL=$1 BENCH_API=$3 BENCH_MODEL=$5 BENCH_STREAM=$6 cg_count "http://127.0.0.1:$2$4" "$SECONDS_PER")
  read -r n ir <<<"$counted"
  printf '%s\t%s\t%s\n' "$1" "$n" "$ir" >>"$RESULTS"
  awk -v l="$1" -v n="$n" -v ir="$ir" 'BEGIN { printf "bench: %-22s %6d requests  %10.0f instructions/request\n", l, n, ir / n }' >&2
}
cg_gateway ingress "$TMP/ingress.yaml"
measure_api messages-json "$CG_PORT" messages /v1/messages claude-json 0
measure_api messages-stream "$CG_PORT" messages /v1/messages claude-stream 1
measure_api responses-json "$CG_PORT" responses /v1/responses bench 0
measure_api responses-stream "$CG_PORT" responses /v1/responses bench-stream 1
kill "$CG_PID"
wait "$CG_PID" 2>/dev/null || true

# Translated providers: the same answer as Anthropic Messages, Bedrock
# Converse and Gemini (JSON and stream), from the canned files of
# bench/canned_answers.mjs, with the provider shapes of bench/run.sh.
cat >"$TMP/translated.yaml" <<EOF
providers:
$(translated_providers_yaml "$UP_PORT")
models:
  bench-anthropic: { targets: [ { provider: upanthropic, model: claude-sonnet-4-5 } ] }
  bench-anthropic-stream: { targets: [ { provider: upanthropic-stream, model: claude-sonnet-4-5 } ] }
  bench-bedrock: { targets: [ { provider: upbedrock, model: "amazon.nova-micro-v1:0" } ] }
  bench-vertex: { targets: [ { provider: upvertex, model: gemini-2.5-flash } ] }
EOF
cg_gateway translated "$TMP/translated.yaml"
measure anthropic-json "$CG_PORT" bench-anthropic 0
measure anthropic-stream "$CG_PORT" bench-anthropic-stream 1
measure bedrock-json "$CG_PORT" bench-bedrock 0
measure bedrock-stream "$CG_PORT" bench-bedrock 1 # the path says it streams
measure vertex-json "$CG_PORT" bench-vertex 0
measure vertex-stream "$CG_PORT" bench-vertex 1
kill "$CG_PID"
wait "$CG_PID" 2>/dev/null || true

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
  awk -F'\t' -v base="$base" '{ per = $3 / $2; printf "| %s | %d | %.0f | %s |\n", $1, $2, per, (base > 0 ? sprintf("%.2f×", per / base) : "-") }' "$RESULTS"
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
