#!/usr/bin/env bash
# streams.sh — ten thousand concurrent slow SSE streams through one gateway.
#
# cloudmux (two workers) relays N streaming chat requests, started evenly
# over BENCH_STREAMS_RAMP ms, to the HTTP/2 emulator (tests/emulators/h2,
# Node) answering each with BENCH_STREAMS_CHUNKS chunks BENCH_STREAMS_GAP ms
# apart (~10 s per answer), first over HTTP/2 (h2c, the emulator allowing
# 250 streams per connection, cloudmux at most 32 connections per worker),
# then the same over HTTP/1.1 (one upstream connection per stream).  The
# load comes from bench/stream_load.c (one epoll loop).  For each: streams
# that ended with [DONE], time from request to first byte (p99, max), the
# delay each chunk picked up between the upstream writing it and the client
# reading it (p50, p99: an upper bound of what the gateway adds, since the
# client and the emulator share the machine), upstream connections used,
# and the gateway's peak RSS (VmHWM).  Everything shares the machine's cores.
# Writes bench/out/streams.md (also printed).
#
# Needs node and the test packages' emulator (no npm packages).  Knobs:
# CLOUDMUX_BIN, BENCH_STREAMS (10000), BENCH_STREAMS_RAMP (4000 ms),
# BENCH_STREAMS_CHUNKS (20), BENCH_STREAMS_GAP (500 ms).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
N=${BENCH_STREAMS:-10000}
RAMP=${BENCH_STREAMS_RAMP:-4000}
CHUNKS=${BENCH_STREAMS_CHUNKS:-20}
GAP=${BENCH_STREAMS_GAP:-500}
OUT=$HERE/out

for tool in node curl cc; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench: no cloudmux at $BIN (make build)" >&2; exit 1; }
. "$HERE/lib.sh"
# The gateway holds N client sockets and, over HTTP/1.1, N upstream ones.
# Where the hard limit stops below 2N (a sandbox), the HTTP/1.1 run takes as
# many streams as fit, and says so.
raise_fd_limit
LIMIT=$FD_LIMIT
if [ "$LIMIT" -lt $((N + 1000)) ]; then
  echo "bench: open-file limit $LIMIT is too low for $N streams" >&2
  exit 1
fi
N_H1=$N
[ "$LIMIT" -lt $((2 * N + 1000)) ] && N_H1=$(((LIMIT - 1000) / 2))

bench_tmp cmx-streams

cc -O2 -o "$TMP/stream_load" "$HERE/stream_load.c"
printf '{"model":"m","stream":true,"messages":[{"role":"user","content":"[[fault:timed n=%d ms=%d]] count for me"}]}' \
  "$CHUNKS" "$GAP" >"$TMP/body.json"

RESULTS=$TMP/results.tsv
: >"$RESULTS"

run_one() { # label emulator-mode http2 max_conns streams
  local label=$1 mode=$2 http2=$3 max_conns=$4 n=$5 emu_port gw_port line stats conns hwm
  node "$ROOT/tests/emulators/h2/server.mjs" --mode "$mode" --max-streams 250 >"$TMP/emu.out" 2>"$TMP/emu.err" &
  local emu_pid=$!
  PIDS+=("$emu_pid")
  for _ in $(seq 100); do grep -q LISTENING "$TMP/emu.out" && break; sleep 0.05; done
  emu_port=$(awk '/LISTENING/ { print $2 }' "$TMP/emu.out")
  [ -n "$emu_port" ] || { log "emulator did not start: $(cat "$TMP/emu.err")"; exit 1; }
  cat >"$TMP/cloudmux.yaml" <<EOF
server: { access_log: false }
upstream: { max_conns_per_origin: $max_conns, max_idle_per_origin: $max_conns, queue_timeout: 5s }
providers:
  up: { type: openai, base_url: "http://127.0.0.1:$emu_port/v1", http2: $http2, timeouts: { idle: 10s, total: 60s } }
models:
  m: { targets: [ { provider: up, model: gpt-4o-mini } ] }
EOF
  gw_port=$(pick_port)
  "$BIN" serve --config "$TMP/cloudmux.yaml" --listen "127.0.0.1:$gw_port" --workers 2 >"$TMP/gw.out" 2>"$TMP/gw.err" &
  local gw_pid=$!
  PIDS+=("$gw_pid")
  for _ in $(seq 100); do [ "$(status_of "http://127.0.0.1:$gw_port/health/ready")" = 200 ] && break; sleep 0.05; done
  log "$label: $n streams of $CHUNKS chunks ${GAP} ms apart, started over $RAMP ms (gateway :$gw_port, 2 workers; emulator :$emu_port, $mode)"
  line=$("$TMP/stream_load" "$gw_port" "$n" "$RAMP" "$TMP/body.json") || true
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$gw_pid/status")
  local gw_cpu emu_cpu
  gw_cpu=$(cpu_seconds "$gw_pid")
  emu_cpu=$(cpu_seconds "$emu_pid")
  if [ "$mode" = h2c ]; then
    stats=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$emu_port/_emulator/stats")
  else
    stats=$(curl -s "http://127.0.0.1:$emu_port/_emulator/stats")
  fi
  conns=$(sed -n 's/.*"connections":\([0-9]*\).*/\1/p' <<<"$stats")
  # The stats request itself used one connection.
  log "$label: $line upstream_connections=$((conns - 1)) gateway_peak_rss_kib=$hwm gateway_cpu_s=$gw_cpu emulator_cpu_s=$emu_cpu"
  echo "$label $line upstream_connections=$((conns - 1)) peak_rss_kib=$hwm gateway_cpu_s=$gw_cpu emulator_cpu_s=$emu_cpu" >>"$RESULTS"
  kill "$gw_pid" "$emu_pid" 2>/dev/null || true
  wait "$gw_pid" "$emu_pid" 2>/dev/null || true
}

# The floor: the client straight to the emulator over HTTP/1.1, no gateway.
direct() {
  local emu_port line stats conns emu_cpu
  node "$ROOT/tests/emulators/h2/server.mjs" --mode h1 >"$TMP/emu.out" 2>"$TMP/emu.err" &
  local emu_pid=$!
  PIDS+=("$emu_pid")
  for _ in $(seq 100); do grep -q LISTENING "$TMP/emu.out" && break; sleep 0.05; done
  emu_port=$(awk '/LISTENING/ { print $2 }' "$TMP/emu.out")
  log "direct: $N streams straight to the emulator (:$emu_port, h1)"
  line=$("$TMP/stream_load" "$emu_port" "$N" "$RAMP" "$TMP/body.json") || true
  emu_cpu=$(cpu_seconds "$emu_pid")
  log "direct: $line emulator_cpu_s=$emu_cpu"
  echo "direct $line upstream_connections=- peak_rss_kib=0 gateway_cpu_s=- emulator_cpu_s=$emu_cpu" >>"$RESULTS"
  kill "$emu_pid" 2>/dev/null || true
  wait "$emu_pid" 2>/dev/null || true
}

direct
run_one http2 h2c on 32 "$N"
run_one http1.1 h1 off $((N_H1 + 100)) "$N_H1"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$(grep "^$1 " "$RESULTS")"; }
mkdir -p "$OUT"
REPORT=$OUT/streams.md
{
  echo "# Concurrent slow streams"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, cloudmux $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') with 2 workers, node $(node -v)."
  echo "$N streaming chat requests started over $RAMP ms; each answer $CHUNKS chunks ${GAP} ms apart from the HTTP/2 emulator. Gateway, emulator and client share the machine."
  echo "\"start\": request sent → first byte. \"chunk delay\": upstream write → client read, per chunk (what the gateway, the kernel and the client add)."
  echo
  [ "$N_H1" -lt "$N" ] && echo "HTTP/1.1 ran $N_H1 streams, not $N: the open-file hard limit here ($LIMIT) cannot hold $N client and $N upstream sockets in one process." && echo
  echo "\"direct\": the client straight to the emulator over HTTP/1.1, without the gateway: the floor the machine allows."
  echo
  echo "| path | streams ok / failed | start p50 | start p99 | start max | chunk delay p50 | chunk delay p99 | upstream connections | gateway peak RSS | gateway CPU | emulator CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for l in direct http2 http1.1; do
    printf '| %s | %s / %s | %s ms | %s ms | %s ms | %s ms | %s ms | %s | %s | %s s | %s s |\n' "$l" "$(field $l ok)" "$(field $l failed)" \
      "$(field $l start_p50_ms)" "$(field $l start_p99_ms)" "$(field $l start_max_ms)" "$(field $l chunk_p50_ms)" "$(field $l chunk_p99_ms)" \
      "$(field $l upstream_connections)" "$(awk -v k="$(field $l peak_rss_kib)" 'BEGIN { print k ? sprintf("%.1f MiB", k / 1024) : "—" }')" \
      "$(field $l gateway_cpu_s)" "$(field $l emulator_cpu_s)"
  done
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
