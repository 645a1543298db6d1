#!/usr/bin/env bash
# run.sh — the cloudmux benchmark: the gateway against nginx, same run, same machine.
#
# Three ways to reach one canned LLM upstream (nginx on the load core):
#   direct   wrk → upstream                      (the floor)
#   nginx    wrk → nginx keep-alive proxy → up   (the bar to meet)
#   cloudmux wrk → cloudmux → up                 (what we ship)
# and variants of cloudmux: a 3-target weighted group (cloudmux-3w); a
# second process with its state shared through a redis-server on loopback
# (state on, cache off: cloudmux-redis, and with an rpm limit counted in
# Redis on every request: cloudmux-redis-rpm); and answers from the response
# cache (cloudmux-cache: every request after the first is a hit); and the
# same answer in the formats cloudmux translates (cloudmux-anthropic,
# cloudmux-bedrock, cloudmux-vertex: Anthropic Messages, Bedrock Converse
# and Gemini answers and streams from the same upstream).
# The proxy under test (nginx or cloudmux) gets core 0 to itself; wrk and the
# upstream share core 1.  For each: req/s at -c32, p50/p99 at c=1 and c=32,
# CPU µs per request of the proxy process (/proc/PID/stat), then cloudmux's
# RSS after the run and its cold start.  Rounds are interleaved and medians
# reported, so a noisy moment hurts all three alike.  Writes bench/out/results.md.
#
# cloudmux-gov is the same gateway with governance on, measured in the same
# rounds: every request carries one of 100 virtual keys (each with a budget,
# all in one team with a budget), budgets and limits are checked, and every
# request is a row in a SQLite spend ledger.  cloudmux-gov-fleet is that
# gateway as one replica of a fleet: the same keys, each also with an rpm
# and a max_parallel held fleet-wide in the redis-server (far from their
# limits: the allowance and spare-slot paths).  Then bench/ledger_bench.c
# writes BENCH_LEDGER_ROWS ledger rows and times reports from the roll-ups.
#
# Installs nothing: `make bench` runs scripts/deps.sh bench first.
# Knobs: CLOUDMUX_BIN, CLOUDMUX_STATIC_BIN, BENCH_ROUNDS (3), BENCH_DURATION (4 s), BENCH_C1_DURATION (2 s),
#        BENCH_CONNS (32), BENCH_COLD_STARTS (7), BENCH_LEDGER_ROWS (10000000; 0 skips),
#        BENCH_H2 (1; 0 leaves out the cloudmux-h2 row, e.g. to run a cloudmux
#        from before HTTP/2), BENCH_TARGETS (the cloudmux rows to run, e.g.
#        "cloudmux cloudmux-redis"; all by default).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
STATIC_BIN=${CLOUDMUX_STATIC_BIN:-$ROOT/build-static/cloudmux}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-4}
C1_DURATION=${BENCH_C1_DURATION:-2}
CONNS=${BENCH_CONNS:-32}
COLD_STARTS=${BENCH_COLD_STARTS:-7}
LEDGER_ROWS=${BENCH_LEDGER_ROWS:-10000000}
H2=${BENCH_H2:-1}
OUT=$HERE/out
CLK_TCK=$(getconf CLK_TCK)

for tool in nginx wrk taskset curl redis-server node; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (run: scripts/deps.sh bench)" >&2; exit 1; }
done

if [ "$(nproc)" -ge 2 ]; then
  PROXY_CORE=0 LOAD_CORE=1
else
  PROXY_CORE=0 LOAD_CORE=0
  echo "bench: only one CPU; proxy, upstream and wrk share it (numbers are not comparable to a 2-core run)" >&2
fi

. "$HERE/lib.sh"
bench_tmp cmx-bench

# ---- the upstream and the nginx proxy -------------------------------------
node "$HERE/canned_answers.mjs" "$TMP/canned"
UP_PORT=$(pick_port)
UP_H2_PORT=$(pick_port)
start_nginx upstream "$HERE/nginx/upstream.conf" "$UP_PORT" 0 "$LOAD_CORE"
UP_PID=$NGINX_PID
PX_PORT=$(pick_port)
start_nginx proxy "$HERE/nginx/proxy.conf" "$PX_PORT" "$UP_PORT" "$PROXY_CORE"
PX_PID=$NGINX_PID

# ---- cloudmux, if it is there and serves ----------------------------------
CMX_PID=
CMX_SKIP=
CMX_CONFIG=$TMP/cloudmux.yaml
cat >"$CMX_CONFIG" <<EOF
providers:
  upjson: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
  upsse: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/stream/v1" }
  upjson2: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
  upjson3: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
  upsse2: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/stream/v1" }
  upsse3: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/stream/v1" }
$(translated_providers_yaml "$UP_PORT")
$([ "$H2" = 1 ] && printf '%s\n' \
  "  upjson-h2: { type: openai, base_url: \"http://127.0.0.1:$UP_H2_PORT/json/v1\", http2: on }" \
  "  upsse-h2: { type: openai, base_url: \"http://127.0.0.1:$UP_H2_PORT/stream/v1\", http2: on }")
models:
$([ "$H2" = 1 ] && printf '%s\n' \
  "  bench-h2: { targets: [ { provider: upjson-h2, model: gpt-4o-mini } ] }" \
  "  bench-h2-stream: { targets: [ { provider: upsse-h2, model: gpt-4o-mini } ] }")
  bench: { targets: [ { provider: upjson, model: gpt-4o-mini } ] }
  bench-stream: { targets: [ { provider: upsse, model: gpt-4o-mini } ] }
  bench-3w:
    strategy: weighted
    targets:
      - { provider: upjson, model: gpt-4o-mini, weight: 3 }
      - { provider: upjson2, model: gpt-4o-mini, weight: 2 }
      - { provider: upjson3, model: gpt-4o-mini, weight: 1 }
  bench-3w-stream:
    strategy: weighted
    targets:
      - { provider: upsse, model: gpt-4o-mini, weight: 3 }
      - { provider: upsse2, model: gpt-4o-mini, weight: 2 }
      - { provider: upsse3, model: gpt-4o-mini, weight: 1 }
  bench-cached: { cache: { ttl: 1h }, targets: [ { provider: upjson, model: gpt-4o-mini } ] }
  bench-rpm: { targets: [ { provider: upjson, model: gpt-4o-mini, rpm: 100000000 } ] }
  bench-rpm-stream: { targets: [ { provider: upsse, model: gpt-4o-mini, rpm: 100000000 } ] }
  bench-anthropic: { targets: [ { provider: upanthropic, model: claude-sonnet-4-5 } ] }
  bench-anthropic-stream: { targets: [ { provider: upanthropic-stream, model: claude-sonnet-4-5 } ] }
  bench-bedrock: { targets: [ { provider: upbedrock, model: "amazon.nova-micro-v1:0" } ] }
  bench-vertex: { targets: [ { provider: upvertex, model: gemini-2.5-flash } ] }
EOF
# The same gateway with its state in Redis (on the load core, like a remote
# dependency would be): breakers and cooldowns read the local mirror, an rpm
# limit costs one Lua call per request.
REDIS_PORT=$(pick_port)
taskset -c "$LOAD_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
wait_listening "$REDIS_PORT" 5 || { log "redis-server did not start:"; cat "$TMP/redis.log" >&2; exit 1; }
CMX_REDIS_CONFIG=$TMP/cloudmux-redis.yaml
{ cat "$CMX_CONFIG"; printf 'state:\n  redis: { url: "redis://127.0.0.1:%s/0", timeout: 5ms }\n' "$REDIS_PORT"; } \
  >"$CMX_REDIS_CONFIG"

# The governance variant: the same groups, plus 100 keys in a team, budgets
# that are checked on every request (never reached), and the ledger; the
# fleet variant: every key also has limits the whole fleet shares.
GOV_CONFIG=$TMP/cloudmux-gov.yaml
GOV_FLEET_CONFIG=$TMP/cloudmux-gov-fleet.yaml
KEYS_FILE=$TMP/gov-keys.txt
sed -n '/^providers:/,$p' "$CMX_CONFIG" >"$TMP/gov-base.yaml"
gov_configs "$TMP/gov-base.yaml" "$GOV_CONFIG" "$GOV_FLEET_CONFIG" "$KEYS_FILE" "$REDIS_PORT"

start_cloudmux() { # port [config] [name] → sets CMX_PID, or returns 1
  local name=${3:-cloudmux}
  taskset -c "$PROXY_CORE" "$BIN" serve --config "${2:-$CMX_CONFIG}" --listen "127.0.0.1:$1" --workers 1 \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  CMX_PID=$!
  PIDS+=("$CMX_PID")
  local deadline=$((SECONDS + 5))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(status_of "http://127.0.0.1:$1/health/ready")" = 200 ] && return 0
    kill -0 "$CMX_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill "$CMX_PID" 2>/dev/null || true
  wait "$CMX_PID" 2>/dev/null || true
  CMX_PID=
  return 1
}

CMX_PORT=$(pick_port)
if [ ! -x "$BIN" ]; then
  CMX_SKIP="no binary at $BIN (build it with: make build)"
elif ! start_cloudmux "$CMX_PORT"; then
  CMX_SKIP="$BIN did not become ready: $(tail -n 3 "$TMP/cloudmux.err" | tr '\n' ' ')"
fi
[ -n "$CMX_SKIP" ] && log "skipping cloudmux: $CMX_SKIP"
CMX_STATELESS_PID=$CMX_PID
CMX_REDIS_PORT=$(pick_port)
CMX_REDIS_PID=
if [ -z "$CMX_SKIP" ]; then
  start_cloudmux "$CMX_REDIS_PORT" "$CMX_REDIS_CONFIG" cloudmux-redis || {
    log "cloudmux with Redis did not become ready: $(tail -n 3 "$TMP/cloudmux-redis.err" | tr '\n' ' ')"
    exit 1
  }
  CMX_REDIS_PID=$CMX_PID
  CMX_PID=$CMX_STATELESS_PID
  for _ in $(seq 100); do # connected to Redis
    grep -q "state store: connected" "$TMP/cloudmux-redis.err" && break
    sleep 0.05
  done
fi
GOV_PID= GOV_PORT=
if [ -z "$CMX_SKIP" ]; then
  GOV_PORT=$(pick_port)
  if start_cloudmux "$GOV_PORT" "$GOV_CONFIG" cloudmux-gov; then
    GOV_PID=$CMX_PID
  else
    log "skipping cloudmux-gov: $(tail -n 3 "$TMP/cloudmux-gov.err" | tr '\n' ' ')"
  fi
  CMX_PID=$CMX_STATELESS_PID
fi
GOV_FLEET_PID= GOV_FLEET_PORT=
if [ -n "$GOV_PID" ]; then
  GOV_FLEET_PORT=$(pick_port)
  if start_cloudmux "$GOV_FLEET_PORT" "$GOV_FLEET_CONFIG" cloudmux-gov-fleet; then
    GOV_FLEET_PID=$CMX_PID
    for _ in $(seq 100); do # connected to Redis
      grep -q "state store: connected" "$TMP/cloudmux-gov-fleet.err" && break
      sleep 0.05
    done
  else
    log "skipping cloudmux-gov-fleet: $(tail -n 3 "$TMP/cloudmux-gov-fleet.err" | tr '\n' ' ')"
  fi
  CMX_PID=$CMX_STATELESS_PID
fi

TARGETS=(direct nginx)
# cloudmux-3w: the same gateway, a group of three weighted targets with
# circuit breakers on, to show what routing costs against a single target.
# cloudmux-h2: the same gateway speaking HTTP/2 (h2c) to the same upstream
# (nginx-proxy cannot: its upstream side is HTTP/1.1 only).
[ -z "$CMX_SKIP" ] && TARGETS+=(cloudmux cloudmux-3w cloudmux-redis cloudmux-redis-rpm cloudmux-cache
  cloudmux-anthropic cloudmux-bedrock cloudmux-vertex)
[ -z "$CMX_SKIP" ] && [ "$H2" = 1 ] && TARGETS+=(cloudmux-h2)
TRANSLATED=(cloudmux-anthropic cloudmux-bedrock cloudmux-vertex)
[ -n "$GOV_PID" ] && TARGETS+=(cloudmux-gov)
[ -n "$GOV_FLEET_PID" ] && TARGETS+=(cloudmux-gov-fleet)
# BENCH_TARGETS: only these cloudmux rows (direct and nginx always run).
if [ -n "${BENCH_TARGETS:-}" ]; then
  kept=(direct nginx)
  for t in "${TARGETS[@]}"; do
    [[ " $BENCH_TARGETS " == *" $t "* ]] && kept+=("$t")
  done
  TARGETS=("${kept[@]}")
fi
ran() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

url_of() { # target scenario
  case $1 in
    direct) echo "http://127.0.0.1:$UP_PORT/$2/v1/chat/completions" ;;
    nginx) echo "http://127.0.0.1:$PX_PORT/$2/v1/chat/completions" ;;
    cloudmux-redis*) echo "http://127.0.0.1:$CMX_REDIS_PORT/v1/chat/completions" ;;
    cloudmux-gov-fleet) echo "http://127.0.0.1:$GOV_FLEET_PORT/v1/chat/completions" ;;
    cloudmux-gov) echo "http://127.0.0.1:$GOV_PORT/v1/chat/completions" ;;
    cloudmux*) echo "http://127.0.0.1:$CMX_PORT/v1/chat/completions" ;;
  esac
}
pid_of() {
  case $1 in
    direct) echo "$UP_PID" ;; nginx) echo "$PX_PID" ;;
    cloudmux-redis*) echo "$CMX_REDIS_PID" ;; cloudmux-gov) echo "$GOV_PID" ;;
    cloudmux-gov-fleet) echo "$GOV_FLEET_PID" ;; cloudmux*) echo "$CMX_PID" ;;
  esac
}
keys_of() { [[ $1 == cloudmux-gov* ]] && echo "$KEYS_FILE" || true; }
model_of() { # target scenario
  case $1 in
    cloudmux | cloudmux-redis | cloudmux-gov | cloudmux-gov-fleet) [ "$2" = json ] && echo bench || echo bench-stream ;;
    cloudmux-3w) [ "$2" = json ] && echo bench-3w || echo bench-3w-stream ;;
    cloudmux-h2) [ "$2" = json ] && echo bench-h2 || echo bench-h2-stream ;;
    cloudmux-redis-rpm) [ "$2" = json ] && echo bench-rpm || echo bench-rpm-stream ;;
    cloudmux-cache) echo bench-cached ;; # one group: a stored answer replays as a stream too
    cloudmux-anthropic) [ "$2" = json ] && echo bench-anthropic || echo bench-anthropic-stream ;;
    cloudmux-bedrock) echo bench-bedrock ;; # the path says whether it streams
    cloudmux-vertex) echo bench-vertex ;;
    *) echo gpt-4o-mini ;;
  esac
}

# Sanity: each path answers 200 before anything is measured.
for t in "${TARGETS[@]}"; do
  for s in json stream; do
    code=$(curl -s -o "$TMP/probe.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $(head -n 1 "$KEYS_FILE")" \
      -d "{\"model\":\"$(model_of "$t" "$s")\",\"stream\":$([ $s = stream ] && echo true || echo false),\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
      "$(url_of "$t" "$s")" || true)
    if [ "$code" != 200 ]; then
      log "$t/$s answers $code, not 200: $(head -c 300 "$TMP/probe.out")"
      exit 1
    fi
  done
done

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# One wrk run; appends "round target scenario conns rps p50_us p99_us cpu_us requests errors".
measure() { # round target scenario conns seconds
  local round=$1 t=$2 s=$3 c=$4 d=$5 pid out line t0 t1
  pid=$(pid_of "$t")
  t0=$(cpu_ticks "$pid")
  out=$(BENCH_MODEL=$(model_of "$t" "$s") BENCH_STREAM=$([ "$s" = stream ] && echo 1 || echo 0) \
    BENCH_KEYS_FILE=$(keys_of "$t") \
    taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${d}s" --latency -s "$HERE/chat.lua" "$(url_of "$t" "$s")")
  t1=$(cpu_ticks "$pid")
  line=$(grep '^BENCH ' <<<"$out") || { log "wrk gave no result for $t/$s:"; echo "$out" >&2; exit 1; }
  awk -v r="$round" -v t="$t" -v s="$s" -v c="$c" -v dt="$((t1 - t0))" -v hz="$CLK_TCK" '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END {
      n = v["requests"]; rps = n / (v["duration_us"] / 1e6)
      cpu = n > 0 ? dt * 1e6 / hz / n : 0
      printf "%s %s %s %s %.1f %d %d %.2f %d %d\n", r, t, s, c, rps, v["p50_us"], v["p99_us"], cpu, n, v["errors"] + v["non2xx"]
    }' <<<"$line" >>"$RESULTS"
  tail -n 1 "$RESULTS" | awk '{ printf "bench: round %s %-8s %-6s c=%-3s %9.0f req/s  p50 %5d us  p99 %6d us  cpu %6.2f us/req%s\n",
    $1, $2, $3, $4, $5, $6, $7, $8, ($10 > 0 ? "  ERRORS " $10 : "") }' >&2
}

cmx_where="cloudmux :$CMX_PORT (core $PROXY_CORE)"
[ -n "$CMX_SKIP" ] && cmx_where="cloudmux skipped"
log "upstream :$UP_PORT (core $LOAD_CORE), nginx proxy :$PX_PORT (core $PROXY_CORE), $cmx_where; wrk on core $LOAD_CORE"
log "warming up"
for t in "${TARGETS[@]}"; do
  for s in json stream; do
    BENCH_MODEL=$(model_of "$t" "$s") BENCH_STREAM=$([ "$s" = stream ] && echo 1 || echo 0) \
      BENCH_KEYS_FILE=$(keys_of "$t") \
      taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNS" -d1s -s "$HERE/chat.lua" "$(url_of "$t" "$s")" >/dev/null
  done
done

for round in $(seq "$ROUNDS"); do
  for s in json stream; do
    for t in "${TARGETS[@]}"; do
      measure "$round" "$t" "$s" "$CONNS" "$DURATION"
      measure "$round" "$t" "$s" 1 "$C1_DURATION"
    done
  done
done

# ---- governance: the ledger's count, then the gateway stops ---------------
GOV_ROWS= GOV_DROPPED= GOV_ERRORS= GOV_SERVED= GOV_RSS=
if [ -n "$GOV_PID" ]; then
  sleep 0.5 # the last batch committed
  metrics=$(curl -s "http://127.0.0.1:$GOV_PORT/metrics")
  GOV_ROWS=$(awk '/^cloudmux_ledger_rows_written_total/ { print $2 }' <<<"$metrics")
  GOV_DROPPED=$(awk '/^cloudmux_ledger_rows_dropped_total/ { print $2 }' <<<"$metrics")
  GOV_ERRORS=$(awk '/^cloudmux_ledger_write_errors_total/ { print $2 }' <<<"$metrics")
  GOV_SERVED=$(grep -c '"path":"/v1/chat/completions"' "$TMP/cloudmux-gov.out" || true)
  GOV_RSS=$(rss_kib "$GOV_PID")
  kill "$GOV_PID"
  wait "$GOV_PID" 2>/dev/null || true
fi

# ---- the ledger at scale: a report over many rows, from the roll-ups -------
LEDGER_LINE= LEDGER_OUT=$TMP/ledger.txt
if [ "$LEDGER_ROWS" -gt 0 ]; then
  LEDGER_BENCH=${LEDGER_BENCH:-$(dirname "$BIN")/ledger_bench}
  [ -x "$LEDGER_BENCH" ] || cmake --build "$(dirname "$BIN")" --target ledger_bench >/dev/null 2>&1 || true
  if [ -x "$LEDGER_BENCH" ]; then
    log "ledger: writing $LEDGER_ROWS rows, then reports (about a minute per 10 million rows)"
    taskset -c "$PROXY_CORE" "$LEDGER_BENCH" "$TMP" "$LEDGER_ROWS" >"$LEDGER_OUT" 2>&1 || true
    LEDGER_LINE=$(grep '^LEDGER ' "$LEDGER_OUT" || true)
    [ -n "$LEDGER_LINE" ] || { log "ledger bench failed:"; cat "$LEDGER_OUT" >&2; }
  else
    log "skipping the ledger bench: no $LEDGER_BENCH (cmake --build build --target ledger_bench)"
  fi
fi

# ---- cloudmux memory and cold start ---------------------------------------
CMX_RSS= CMX_SERVED= COLD_MS= COLD_ALL= STATIC_COLD_MS= STATIC_COLD_ALL= LAMBDA_INIT=
if [ -z "$CMX_SKIP" ]; then
  CMX_RSS=$(rss_kib "$CMX_PID")
  # The gateway's own time per request (total minus upstream), from its
  # access log: median and p99 per scenario.
  overhead() { # model → "median p99" in µs
    { grep -o "\"model\":\"$1\".*\"overhead_us\":[0-9]*" "$TMP/cloudmux.out" || true; } |
      sed 's/.*"overhead_us"://' | sort -n |
      awk '{ a[NR] = $1 } END { if (NR == 0) { print "n/a n/a"; exit }; i = int(NR * 0.99); if (i < NR * 0.99) i++; if (i < 1) i = 1; print a[int((NR + 1) / 2)], a[i] }'
  }
  OVH_JSON=$(overhead bench)
  OVH_STREAM=$(overhead bench-stream)
  CMX_SERVED=$(awk '$2 == "cloudmux" || $2 == "cloudmux-3w" || $2 == "cloudmux-cache" { n += $9 } END { print n + 0 }' "$RESULTS")
  kill "$CMX_PID" "$CMX_REDIS_PID"
  wait "$CMX_PID" 2>/dev/null || true
  wait "$CMX_REDIS_PID" 2>/dev/null || true

  # exec → first 200 on /health/ready, polled by a small C program in a
  # tight loop (a shell poller would measure the shell).  The static build
  # (make static) is timed the same way, interleaved with the dynamic one, so
  # the dynamic loader's share of the start shows.
  cc -O2 -I "$ROOT/src" -o "$TMP/cold_start" "$ROOT/bench/cold_start.c"
  cold_sample() { # binary → prints exec-to-ready in µs
    local port ms
    port=$(pick_port)
    ms=$(taskset -c "$PROXY_CORE" "$TMP/cold_start" "$port" "$1" "$CMX_CONFIG" 2>/dev/null) &&
      awk -v m="$ms" 'BEGIN { printf "%d\n", m * 1000 }'
  }
  samples=() static_samples=()
  for _ in $(seq "$COLD_STARTS"); do
    if sample=$(cold_sample "$BIN"); then samples+=("$sample"); fi
    if [ -x "$STATIC_BIN" ] && sample=$(cold_sample "$STATIC_BIN"); then static_samples+=("$sample"); fi
  done
  cold_summary() { # samples... → "median|all" in ms
    [ $# -gt 0 ] || return 0
    printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1; all = all (NR > 1 ? " " : "") sprintf("%.1f", $1 / 1000) }
      END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f|%s", m / 1000, all }'
  }
  c=$(cold_summary "${samples[@]}") && [ -n "$c" ] && COLD_MS=${c%%|*} COLD_ALL=${c#*|}
  c=$(cold_summary "${static_samples[@]}") && [ -n "$c" ] && STATIC_COLD_MS=${c%%|*} STATIC_COLD_ALL=${c#*|}

  # Lambda init: exec of `cloudmux lambda` to its first /next on the
  # Runtime API emulator, dynamic and static builds interleaved.
  if command -v node >/dev/null; then
    lambda_bins=("$BIN")
    [ -x "$STATIC_BIN" ] && lambda_bins+=("$STATIC_BIN")
    LAMBDA_INIT=$(taskset -c "$PROXY_CORE" node "$HERE/lambda_init.mjs" --runs "$COLD_STARTS" "$CMX_CONFIG" \
      "${lambda_bins[@]}" 2>&1) || LAMBDA_INIT="lambda init: failed: $LAMBDA_INIT"
  fi
fi

# ---- report -----------------------------------------------------------------
med() { # target scenario conns column
  awk -v t="$1" -v s="$2" -v c="$3" -v col="$4" '$2 == t && $3 == s && $4 == c { print $col }' "$RESULTS" | median
}
errors_total=$(awk '{ n += $10 } END { print n + 0 }' "$RESULTS")

mkdir -p "$OUT"
REPORT=$OUT/results.md
{
  echo "# cloudmux benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)), $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')."
  echo "cloudmux: $( [ -n "$CMX_SKIP" ] && echo "skipped — $CMX_SKIP" || echo "$BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))")."
  echo "Proxy on core $PROXY_CORE; upstream (canned nginx) and wrk on core $LOAD_CORE. ~1 KB chat request body."
  echo "Medians of $ROUNDS interleaved rounds; c=$CONNS runs ${DURATION} s, c=1 runs ${C1_DURATION} s. Latencies in µs."
  echo "\"added p50\" = p50 at c=1 minus the direct p50 at c=1; CPU = utime+stime of the proxy process / requests (direct: the upstream's)."
  echo "Ratios are against the nginx proxy: throughput (higher is better), CPU and added p50 (lower is better)."
  [ "$errors_total" -gt 0 ] && echo "**WARNING: $errors_total failed or non-2xx requests during the runs — see the raw data.**"
  for s in json stream; do
    echo
    echo "## ${s} (POST /v1/chat/completions, $( [ $s = json ] && echo 'whole ~320-byte answer' || echo 'SSE, 10 chunks + [DONE]'))"
    echo
    echo "| target | req/s c=$CONNS | p50 c=1 | p99 c=1 | p50 c=$CONNS | p99 c=$CONNS | added p50 | CPU µs/req | req/s ratio | CPU ratio | added p50 ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    d50=$(med direct "$s" 1 6)
    n_rps=$(med nginx "$s" "$CONNS" 5)
    n_cpu=$(med nginx "$s" "$CONNS" 8)
    n_add=$(awk -v a="$(med nginx "$s" 1 6)" -v d="$d50" 'BEGIN { print a - d }')
    for t in "${TARGETS[@]}"; do
      rps=$(med "$t" "$s" "$CONNS" 5) cpu=$(med "$t" "$s" "$CONNS" 8)
      p50_1=$(med "$t" "$s" 1 6) p99_1=$(med "$t" "$s" 1 7)
      p50_c=$(med "$t" "$s" "$CONNS" 6) p99_c=$(med "$t" "$s" "$CONNS" 7)
      awk -v t="$t" -v rps="$rps" -v cpu="$cpu" -v p501="$p50_1" -v p991="$p99_1" -v p50c="$p50_c" -v p99c="$p99_c" \
        -v d50="$d50" -v nrps="$n_rps" -v ncpu="$n_cpu" -v nadd="$n_add" 'BEGIN {
          add = p501 - d50
          if (t == "direct") { addc = "—"; r1 = "—"; r2 = "—"; r3 = "—" }
          else {
            addc = sprintf("%+d", add)
            r1 = sprintf("%.2f", rps / nrps); r2 = sprintf("%.2f", cpu / ncpu)
            r3 = nadd > 0 ? sprintf("%.2f", add / nadd) : "n/a"
          }
          printf "| %s | %.0f | %d | %d | %d | %d | %s | %.2f | %s | %s | %s |\n", t, rps, p501, p991, p50c, p99c, addc, cpu, r1, r2, r3
        }'
    done
  done
  echo
  echo "## cloudmux process"
  echo
  if [ -n "$CMX_SKIP" ]; then
    echo "Skipped: $CMX_SKIP"
  else
    echo "- RSS after the run: $(awk -v k="$CMX_RSS" 'BEGIN { printf "%.1f MiB", k / 1024 }') after $CMX_SERVED measured requests (plus warm-up)."
    echo "- Cold start (exec → first 200 on /health/ready), median of ${#samples[@]}: ${COLD_MS:-n/a} ms (all: ${COLD_ALL:-none})."
    if [ -x "$STATIC_BIN" ]; then
      echo "- Cold start of the static build ($STATIC_BIN), median of ${#static_samples[@]}: ${STATIC_COLD_MS:-n/a} ms (all: ${STATIC_COLD_ALL:-none})."
    else
      echo "- Cold start of the static build: skipped, no $STATIC_BIN (make static)."
    fi
    if [ -n "$LAMBDA_INIT" ]; then
      while IFS= read -r line; do echo "- ${line/lambda init /Lambda init (exec → first \/next), }"; done <<<"$LAMBDA_INIT"
    fi
    for s in json stream; do
      ran cloudmux-3w || continue
      awk -v s="$s" -v a="$(med cloudmux-3w "$s" "$CONNS" 5)" -v b="$(med cloudmux "$s" "$CONNS" 5)" \
        -v ca="$(med cloudmux-3w "$s" "$CONNS" 8)" -v cb="$(med cloudmux "$s" "$CONNS" 8)" 'BEGIN {
          printf "- Routing cost, %s: a 3-target weighted group with breakers against a single target: throughput %.3f×, CPU %.3f×.\n", s, a / b, ca / cb }'
    done
    echo "- Gateway overhead per request (access log \`overhead_us\`: total time minus time waiting on the upstream), median / p99: json ${OVH_JSON% *} / ${OVH_JSON#* } µs, stream ${OVH_STREAM% *} / ${OVH_STREAM#* } µs."
    for v in cloudmux-redis cloudmux-redis-rpm; do
      ran "$v" || continue
      for s in json stream; do
        awk -v v="$v" -v s="$s" -v a="$(med "$v" "$s" "$CONNS" 5)" -v b="$(med cloudmux "$s" "$CONNS" 5)" \
          -v pa="$(med "$v" "$s" 1 6)" -v pb="$(med cloudmux "$s" 1 6)" 'BEGIN {
            printf "- State in Redis (%s), %s: throughput %.2f× the state-less gateway, added p50 %+d µs.\n", v, s, a / b, pa - pb }'
      done
    done
    for t in "${TRANSLATED[@]}"; do
      ran "$t" || continue
      for s in json stream; do
        awk -v t="$t" -v s="$s" -v a="$(med "$t" "$s" "$CONNS" 5)" -v n="$(med nginx "$s" "$CONNS" 5)" \
          -v c="$(med "$t" "$s" "$CONNS" 8)" -v nc="$(med nginx "$s" "$CONNS" 8)" 'BEGIN {
            printf "- Translated (%s), %s: %.0f req/s, %.2f× nginx-proxy throughput, CPU %.2f× nginx-proxy.\n", t, s, a, a / n, c / nc }'
      done
    done
    for s in json stream; do
      ran cloudmux-cache || continue
      awk -v s="$s" -v a="$(med cloudmux-cache "$s" "$CONNS" 5)" -v n="$(med nginx "$s" "$CONNS" 5)" \
        -v c="$(med cloudmux "$s" "$CONNS" 5)" 'BEGIN {
          printf "- Cache hits, %s: %.0f req/s, %.2f× nginx-proxy, %.2f× the gateway without a cache.\n", s, a, a / n, a / c }'
    done
  fi
  echo
  echo "## Governance"
  echo
  if [ -z "$GOV_ROWS" ] || ! ran cloudmux-gov; then
    echo "cloudmux-gov skipped."
  else
    for s in json stream; do
      awk -v s="$s" -v a="$(med cloudmux-gov "$s" "$CONNS" 5)" -v b="$(med cloudmux "$s" "$CONNS" 5)" \
        -v ca="$(med cloudmux-gov "$s" "$CONNS" 8)" -v cb="$(med cloudmux "$s" "$CONNS" 8)" 'BEGIN {
          printf "- %s: governance on (100 keys in a team, budgets and limits checked, a SQLite ledger row per request) against off: throughput %.3f×, CPU %.3f×.\n", s, a / b, ca / cb }'
    done
    for s in json stream; do
      ran cloudmux-gov-fleet || continue
      awk -v s="$s" -v a="$(med cloudmux-gov-fleet "$s" "$CONNS" 5)" -v b="$(med cloudmux-gov "$s" "$CONNS" 5)" \
        -v ca="$(med cloudmux-gov-fleet "$s" "$CONNS" 8)" -v cb="$(med cloudmux-gov "$s" "$CONNS" 8)" \
        -v pa="$(med cloudmux-gov-fleet "$s" 1 6)" -v pb="$(med cloudmux-gov "$s" 1 6)" 'BEGIN {
          printf "- %s: as one replica of a fleet (rpm and max_parallel of every key held in Redis) against governance on one gateway: throughput %.3f×, CPU %.3f×, added p50 %+d µs.\n", s, a / b, ca / cb, pa - pb }'
    done
    echo "- Ledger: $GOV_ROWS rows written for $GOV_SERVED chat requests served (warm-ups and probes included), $GOV_DROPPED dropped, $GOV_ERRORS write errors. RSS of cloudmux-gov after its runs: $(awk -v k="$GOV_RSS" 'BEGIN { printf "%.1f MiB", k / 1024 }')."
  fi
  if [ -n "$LEDGER_LINE" ]; then
    echo "- Ledger at scale (bench/ledger_bench.c, SQLite):"
    echo
    echo '```'
    grep -v '^LEDGER ' "$LEDGER_OUT"
    echo '```'
  fi
  raw_runs "round target scenario conns rps p50_us p99_us cpu_us requests errors" "$RESULTS"
} >"$REPORT"

cat "$REPORT"
log "written to $REPORT"
