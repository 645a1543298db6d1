#!/usr/bin/env bash
# ingress.sh — the client APIs beside chat completions, against chat in the
# same run: Anthropic's Messages API (POST /v1/messages) and OpenAI's
# Responses API (POST /v1/responses), each passed through to an upstream that
# speaks it and translated to one that does not.
#
# One canned upstream (nginx, bench/nginx/upstream.conf with the answers of
# bench/canned_answers.mjs: the same short answer as a chat.completion, an
# Anthropic message and a Responses response, whole and as SSE) on the load
# core, one cloudmux worker on the proxy core.  Paths, all through that one gateway:
#   chat                  /v1/chat/completions → an openai provider (the bar)
#   messages              /v1/messages → an anthropic provider (passed through)
#   responses             /v1/responses → an openai provider (passed through)
#   messages-translated   /v1/messages → an openai provider (Messages ↔ chat)
#   responses-translated  /v1/responses → an anthropic provider (Responses ↔ chat ↔ Messages)
# wrk sends the same ~1 KB conversation in each API's shape (chat.lua,
# BENCH_API).  For each path and scenario (json, stream): req/s at -c32 and
# CPU µs per request of the gateway, medians of interleaved rounds, and the
# ratios to chat: of req/s, and of CPU per request (what one busy core would
# serve: the fairer figure when other work shares the machine).  Writes bench/out/ingress.md.
#
# With valgrind installed, also the instructions per request of each path
# (callgrind; about 2 minutes more; BENCH_INSTR=0 leaves them out).
#
# Knobs: CLOUDMUX_BIN, BENCH_ROUNDS (3), BENCH_DURATION (4 s), BENCH_CONNS (32),
# BENCH_INSTR (1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-4}
CONNS=${BENCH_CONNS:-32}
OUT=$HERE/out
CLK_TCK=$(getconf CLK_TCK)

for tool in nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (run: scripts/deps.sh bench)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench: no binary at $BIN (build it with: make build)" >&2; exit 1; }
if [ "$(nproc)" -ge 2 ]; then PROXY_CORE=0 LOAD_CORE=1; else PROXY_CORE=0 LOAD_CORE=0; fi

. "$HERE/lib.sh"
bench_tmp cmx-ingress

node "$HERE/canned_answers.mjs" "$TMP/canned"
UP_PORT=$(pick_port)
UP_H2_PORT=$(pick_port) # the upstream listens for h2c too; unused here
start_nginx upstream "$HERE/nginx/upstream.conf" "$UP_PORT" 0 "$LOAD_CORE"
UP="http://127.0.0.1:$UP_PORT"

CMX_PORT=$(pick_port)
cat >"$TMP/cloudmux.yaml" <<EOF
providers:
  chat-json: { type: openai, base_url: "$UP/json/v1" }
  chat-sse: { type: openai, base_url: "$UP/stream/v1" }
  claude-json: { type: anthropic, base_url: "$UP/anthropic" }
  claude-sse: { type: anthropic, base_url: "$UP/anthropic-stream" }
models:
  chat-json: { targets: [ { provider: chat-json, model: gpt-4o-mini } ] }
  chat-stream: { targets: [ { provider: chat-sse, model: gpt-4o-mini } ] }
  claude-json: { targets: [ { provider: claude-json, model: claude-sonnet-4-20250514 } ] }
  claude-stream: { targets: [ { provider: claude-sse, model: claude-sonnet-4-20250514 } ] }
EOF
taskset -c "$PROXY_CORE" "$BIN" serve --config "$TMP/cloudmux.yaml" --listen "127.0.0.1:$CMX_PORT" --workers 1 \
  >"$TMP/cloudmux.out" 2>"$TMP/cloudmux.err" &
CMX_PID=$!
PIDS+=("$CMX_PID")
for _ in $(seq 100); do
  [ "$(status_of "http://127.0.0.1:$CMX_PORT/health/ready")" = 200 ] && break
  sleep 0.05
done
[ "$(status_of "http://127.0.0.1:$CMX_PORT/health/ready")" = 200 ] || { log "cloudmux did not start:"; cat "$TMP/cloudmux.err" >&2; exit 1; }

PATHS=(chat messages responses messages-translated responses-translated)
api_of() { case $1 in chat) echo chat ;; messages*) echo messages ;; responses*) echo responses ;; esac; }
url_of() { # path
  case $(api_of "$1") in
    chat) echo "http://127.0.0.1:$CMX_PORT/v1/chat/completions" ;;
    messages) echo "http://127.0.0.1:$CMX_PORT/v1/messages" ;;
    responses) echo "http://127.0.0.1:$CMX_PORT/v1/responses" ;;
  esac
}
model_of() { # path scenario: the group whose upstream speaks (or does not speak) the API
  local kind
  case $1 in chat | responses | messages-translated) kind=chat ;; *) kind=claude ;; esac
  echo "$kind-$2"
}

# Each path answers 200 with its API's shape before anything is measured.
for p in "${PATHS[@]}"; do
  for s in json stream; do
    out=$(BENCH_API=$(api_of "$p") BENCH_MODEL=$(model_of "$p" "$s") BENCH_STREAM=$([ "$s" = stream ] && echo 1 || echo 0) \
      wrk -t1 -c1 -d1s -s "$HERE/chat.lua" "$(url_of "$p")")
    grep -q 'errors=0 non2xx=0' <<<"$(grep '^BENCH ' <<<"$out")" || { log "$p/$s does not answer 200: $out"; exit 1; }
  done
done

RESULTS=$TMP/results.tsv
: >"$RESULTS"
measure() { # round path scenario
  local t0 t1 out line
  t0=$(cpu_ticks "$CMX_PID")
  out=$(BENCH_API=$(api_of "$2") BENCH_MODEL=$(model_of "$2" "$3") BENCH_STREAM=$([ "$3" = stream ] && echo 1 || echo 0) \
    taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$HERE/chat.lua" "$(url_of "$2")")
  t1=$(cpu_ticks "$CMX_PID")
  line=$(grep '^BENCH ' <<<"$out") || { log "wrk gave no result for $2/$3"; exit 1; }
  awk -v r="$1" -v p="$2" -v s="$3" -v dt="$((t1 - t0))" -v hz="$CLK_TCK" '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { n = v["requests"]; printf "%s %s %s %.1f %.2f %d %d %d\n", r, p, s, n / (v["duration_us"] / 1e6),
          (n > 0 ? dt * 1e6 / hz / n : 0), v["p50_us"], v["p99_us"], v["errors"] + v["non2xx"] }' <<<"$line" >>"$RESULTS"
  tail -n 1 "$RESULTS" | awk '{ printf "bench: round %s %-21s %-6s %9.0f req/s  cpu %6.2f us/req%s\n", $1, $2, $3, $4, $5, ($8 > 0 ? "  ERRORS " $8 : "") }' >&2
}

log "upstream :$UP_PORT (core $LOAD_CORE), cloudmux :$CMX_PORT (core $PROXY_CORE)"
for round in $(seq "$ROUNDS"); do
  for s in json stream; do
    for p in "${PATHS[@]}"; do measure "$round" "$p" "$s"; done
  done
done

med() { awk -v p="$1" -v s="$2" -v col="$3" '$2 == p && $3 == s { print $col }' "$RESULTS" | median; }

# Instructions per request (callgrind, lib.sh): a gateway of its own under
# valgrind for each path and scenario, counted only while wrk runs (after a
# warm-up) — the same on a busy machine as on an idle one.
INSTR=$TMP/instr.tsv
: >"$INSTR"
instructions() { # path scenario
  local counted n ir
  cg_gateway "cg-$1-$2" "$TMP/cloudmux.yaml"
  counted=$(BENCH_API=$(api_of "$1") BENCH_MODEL=$(model_of "$1" "$2") BENCH_STREAM=$([ "$2" = stream ] && echo 1 || echo 0) \
    cg_count "$(url_of "$1" | sed "s/:$CMX_PORT/:$CG_PORT/")" 3)
  kill "$CG_PID"
  wait "$CG_PID" 2>/dev/null || true
  read -r n ir <<<"$counted"
  awk -v p="$1" -v s="$2" -v n="$n" -v t="$ir" 'BEGIN { printf "%s %s %.0f\n", p, s, (n > 0 ? t / n : 0) }' >>"$INSTR"
  tail -n 1 "$INSTR" | awk '{ printf "bench: %-21s %-6s %9d instructions/request\n", $1, $2, $3 }' >&2
}
if [ "${BENCH_INSTR:-1}" = 1 ] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  for s in json stream; do
    for p in "${PATHS[@]}"; do instructions "$p" "$s"; done
  done
fi
ins() { awk -v p="$1" -v s="$2" '$1 == p && $2 == s { print $3 }' "$INSTR"; }
mkdir -p "$OUT"
REPORT=$OUT/ingress.md
{
  echo "# cloudmux benchmark: the client APIs against chat completions"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, one cloudmux worker on core $PROXY_CORE ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), upstream (canned nginx) and wrk on core $LOAD_CORE."
  echo "Medians of $ROUNDS interleaved rounds of ${DURATION} s at c=$CONNS; the same ~1 KB conversation in each API's shape."
  echo "Streams: chat 10 chunks + [DONE]; Messages 13 events; Responses 16 events (their APIs' own sequences)."
  for s in json stream; do
    echo
    echo "## $s"
    echo
    echo "| path | req/s | ×chat | CPU µs/req | ×chat by CPU | p50 µs | p99 µs |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    c=$(med chat "$s" 4)
    ccpu=$(med chat "$s" 5)
    for p in "${PATHS[@]}"; do
      awk -v p="$p" -v r="$(med "$p" "$s" 4)" -v c="$c" -v cpu="$(med "$p" "$s" 5)" -v ccpu="$ccpu" -v p50="$(med "$p" "$s" 6)" -v p99="$(med "$p" "$s" 7)" \
        'BEGIN { printf "| %s | %.0f | %.2f | %.2f | %.2f | %d | %d |\n", p, r, r / c, cpu, (cpu > 0 ? ccpu / cpu : 0), p50, p99 }'
    done
    if [ -s "$INSTR" ]; then
      echo
      echo "Instructions per request (callgrind, the gateway process while wrk ran at c=1, 3 s):"
      echo
      echo "| path | instructions/request | ×chat (chat's count ÷ the path's) |"
      echo "|---|---:|---:|"
      for p in "${PATHS[@]}"; do
        awk -v p="$p" -v i="$(ins "$p" "$s")" -v c="$(ins chat "$s")" 'BEGIN { printf "| %s | %d | %.2f |\n", p, i, (i > 0 ? c / i : 0) }'
      done
    fi
  done
  raw_runs "round path scenario rps cpu_us p50_us p99_us errors" "$RESULTS"
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
