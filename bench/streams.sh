#!/usr/bin/env bash
# streams.sh — ten thousand concurrent slow SSE streams through one gateway.
#
# cloudmux (two workers) relays N streaming chat requests, sent evenly over
# BENCH_STREAMS_RAMP ms by bench/stream_client.c (libevent; one HTTP/1.1
# connection per stream, all opened before the first request), to
# bench/h2_upstream.c (nghttp2; each answer BENCH_STREAMS_CHUNKS chunks
# BENCH_STREAMS_GAP ms apart, ~10 s), four ways:
#   direct     client → upstream over HTTP/1.1, no gateway: the harness's floor
#   http2      client → cloudmux → upstream over h2c (250 streams allowed per
#              connection, cloudmux at most 32 connections per worker)
#   http2-tls  the same over TLS, HTTP/2 chosen by ALPN (a throwaway
#              certificate for 127.0.0.1, trusted through ca_file)
#   http1.1    http2: off (one upstream connection per stream)
# Each chunk carries the upstream's write time; the client stamps its
# arrival twice, when the kernel queued it on the client's socket
# (SO_TIMESTAMPNS) and when the client read it.  "path" (socket − write) is
# what the gateway and the loopback hops added; "read" adds the client's own
# loop on top.  The direct run shows what the machine adds without a
# gateway.  Also: start latency (request written → first response byte),
# streams ok (200, chunks, [DONE], terminating chunk), upstream connections
# (the upstream counts them), the gateway's peak RSS (VmHWM), CPU seconds of
# each process, how long the gateway's threads waited for a CPU (schedstat),
# how long its event loop held each turn (bench/loop_turns.c, preloaded:
# thread CPU time per turn, so other processes' share is left out), and
# how late the harness itself was (upstream writes behind their schedule,
# requests behind theirs) — a loaded machine shows there.
#
# Pinned like bench/run.sh: the gateway (both workers) on core 0, the
# upstream and the client on core 1.  Writes bench/out/streams.md (also
# printed): the targets with pass/fail, then every figure.
#
# Needs cc, pkg-config, openssl and the build's libraries (libevent,
# nghttp2, OpenSSL).  Knobs: CLOUDMUX_BIN, BENCH_STREAMS (10000), BENCH_STREAMS_RAMP
# (4000 ms), BENCH_STREAMS_CHUNKS (20), BENCH_STREAMS_GAP (500 ms),
# BENCH_STREAMS_BODY (a chat request file; default a short one),
# BENCH_STREAMS_RT (0; 1 runs the gateway, upstream and client as
# SCHED_FIFO 20 with chrt, so that other processes on a shared machine
# cannot take their cores: what is left is the gateway's own latency).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
N=${BENCH_STREAMS:-10000}
RAMP=${BENCH_STREAMS_RAMP:-4000}
CHUNKS=${BENCH_STREAMS_CHUNKS:-20}
GAP=${BENCH_STREAMS_GAP:-500}
RT=${BENCH_STREAMS_RT:-0}
OUT=$HERE/out

for tool in cc pkg-config curl taskset openssl; do
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

if [ "$(nproc)" -ge 2 ]; then
  GW_CORE=0 HARNESS_CORE=1
else
  GW_CORE=0 HARNESS_CORE=0
fi

PRIO=()
SCHEDULING="normal (shared with whatever else runs)"
if [ "$RT" = 1 ]; then
  command -v chrt >/dev/null && chrt -f 20 true 2>/dev/null ||
    { echo "bench: BENCH_STREAMS_RT=1 needs chrt and the right to use SCHED_FIFO" >&2; exit 1; }
  PRIO=(chrt -f 20)
  SCHEDULING="SCHED_FIFO 20 for the gateway, upstream and client (other processes cannot take their cores)"
fi

bench_tmp cmx-streams

CFLAGS="-O2 -Wall -Wextra -Wno-unused-parameter"
# shellcheck disable=SC2046,SC2086
cc $CFLAGS -o "$TMP/h2_upstream" "$HERE/h2_upstream.c" \
  $(pkg-config --cflags --libs libevent_core libevent_openssl libnghttp2 openssl)
cc $CFLAGS -shared -fPIC -o "$TMP/loop_turns.so" "$HERE/loop_turns.c" -ldl
# shellcheck disable=SC2046,SC2086
cc $CFLAGS -o "$TMP/stream_client" "$HERE/stream_client.c" $(pkg-config --cflags --libs libevent_core)
BODY=${BENCH_STREAMS_BODY:-$TMP/body.json}
[ -n "${BENCH_STREAMS_BODY:-}" ] ||
  echo '{"model":"m","stream":true,"messages":[{"role":"user","content":"count for me"}]}' >"$BODY"
TIMEOUT=$(((RAMP + CHUNKS * GAP) / 1000 + 60))

RESULTS=$TMP/results.tsv
: >"$RESULTS"

start_upstream() { # mode → sets UP_PID, UP_PORT
  local tls=()
  [ "$1" = tls ] && tls=(--tls "$TMP/cert.pem" "$TMP/key.pem")
  "${PRIO[@]}" taskset -c "$HARNESS_CORE" "$TMP/h2_upstream" --mode "$1" "${tls[@]}" --max-streams 250 --chunks "$CHUNKS" --gap "$GAP" \
    >"$TMP/up.out" 2>"$TMP/up.err" &
  UP_PID=$!
  PIDS+=("$UP_PID")
  for _ in $(seq 100); do grep -q LISTENING "$TMP/up.out" && break; sleep 0.05; done
  UP_PORT=$(awk '/LISTENING/ { print $2 }' "$TMP/up.out")
  [ -n "$UP_PORT" ] || { log "upstream did not start: $(cat "$TMP/up.err")"; exit 1; }
}

# Stops the upstream (it prints its report line on SIGTERM) → sets UP_LINE.
# Not in a subshell: only this shell can wait for it.
stop_upstream() {
  kill -TERM "$UP_PID" 2>/dev/null || true
  wait "$UP_PID" 2>/dev/null || true
  UP_LINE=$(grep '^connections=' "$TMP/up.out" || echo "connections=?")
}

client() { # port streams → the client's report line
  "${PRIO[@]}" taskset -c "$HARNESS_CORE" "$TMP/stream_client" --port "$1" --streams "$2" --ramp "$RAMP" --body "$BODY" \
    --timeout "$TIMEOUT" 2>"$TMP/client.err" || true
}

run_gateway() { # label upstream-mode(h2c|tls|h1) max_conns streams
  local label=$1 mode=$2 max_conns=$3 n=$4 gw_port line hwm gw_cpu up_cpu provider
  start_upstream "$mode"
  case $mode in
    h2c) provider="base_url: \"http://127.0.0.1:$UP_PORT/v1\", http2: on" ;;
    tls) provider="base_url: \"https://127.0.0.1:$UP_PORT/v1\", http2: auto, ca_file: \"$TMP/cert.pem\"" ;;
    h1) provider="base_url: \"http://127.0.0.1:$UP_PORT/v1\", http2: off" ;;
  esac
  cat >"$TMP/cloudmux.yaml" <<EOF
server: { access_log: false }
upstream: { max_conns_per_origin: $max_conns, max_idle_per_origin: $max_conns, queue_timeout: 5s }
providers:
  up: { type: openai, $provider, timeouts: { idle: 10s, total: 60s } }
models:
  m: { targets: [ { provider: up, model: gpt-4o-mini } ] }
EOF
  gw_port=$(pick_port)
  LD_PRELOAD="$TMP/loop_turns.so" LOOP_TURNS_OUT="$TMP/turns.$label" \
    "${PRIO[@]}" taskset -c "$GW_CORE" "$BIN" serve --config "$TMP/cloudmux.yaml" --listen "127.0.0.1:$gw_port" --workers 2 \
    >"$TMP/gw.out" 2>"$TMP/gw.err" &
  local gw_pid=$!
  PIDS+=("$gw_pid")
  for _ in $(seq 100); do [ "$(status_of "http://127.0.0.1:$gw_port/health/ready")" = 200 ] && break; sleep 0.05; done
  log "$label: $n streams of $CHUNKS chunks ${GAP} ms apart, sent over $RAMP ms (cloudmux :$gw_port on core $GW_CORE; upstream :$UP_PORT and client on core $HARNESS_CORE)"
  local wait0 wait1
  wait0=$(runq_wait_seconds "$gw_pid")
  line=$(client "$gw_port" "$n")
  wait1=$(runq_wait_seconds "$gw_pid")
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$gw_pid/status")
  gw_cpu=$(cpu_seconds "$gw_pid")
  up_cpu=$(cpu_seconds "$UP_PID")
  kill "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  stop_upstream
  local turns
  turns=$(sed 's/^/loop_/; s/ / loop_/g' "$TMP/turns.$label" 2>/dev/null || echo "loop_turns=-")
  # The turns over 5 ms of CPU while the streams ran (not while connections
  # were accepted before, or closed after).
  turns="$turns $(awk -v from="$(sed -n 's/.* from_us=\([0-9]*\).*/\1/p' <<<"$line")" \
    -v until="$(sed -n 's/.* until_us=\([0-9]*\).*/\1/p' <<<"$line")" \
    -v list="$(sed -n 's/.* loop_long=\([0-9:,]*\).*/\1/p' <<<"$turns ")" 'BEGIN {
      n = split(list, e, ","); c = 0; m = 0
      for (i = 1; i <= n; i++) { split(e[i], p, ":"); if (p[1] >= from && p[1] <= until) { c++; if (p[2] > m) m = p[2] } }
      printf "loop_run_over_5ms=%d loop_run_max_us=%d", c, m }')"
  UP_LINE="$UP_LINE $turns"
  log "$label: $line $UP_LINE peak_rss_kib=$hwm gateway_cpu_s=$gw_cpu upstream_cpu_s=$up_cpu"
  echo "$label $line $UP_LINE peak_rss_kib=$hwm gateway_cpu_s=$gw_cpu upstream_cpu_s=$up_cpu gateway_runq_wait_s=$(awk -v a="${wait0:-0}" -v b="${wait1:-0}" 'BEGIN { printf "%.2f", b - a }')" >>"$RESULTS"
}

run_direct() {
  local line up_cpu
  start_upstream h1
  log "direct: $N streams straight to the upstream (:$UP_PORT, HTTP/1.1), upstream and client on core $HARNESS_CORE"
  line=$(client "$UP_PORT" "$N")
  up_cpu=$(cpu_seconds "$UP_PID")
  stop_upstream
  log "direct: $line $UP_LINE upstream_cpu_s=$up_cpu"
  echo "direct $line $UP_LINE peak_rss_kib=0 gateway_cpu_s=- upstream_cpu_s=$up_cpu gateway_runq_wait_s=-" >>"$RESULTS"
}

# The TLS run's certificate: for 127.0.0.1, trusted through ca_file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null

run_direct
run_gateway http2 h2c 32 "$N"
run_gateway http2-tls tls 32 "$N"
run_gateway http1.1 h1 $((N_H1 + 100)) "$N_H1"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$(grep "^$1 " "$RESULTS")"; }
verdict() { awk -v ok="$1" 'BEGIN { print ok ? "**pass**" : "**FAIL**" }'; }
turns_cell() { # label → "p99 / max µs; count, longest µs while streaming", or —
  local p99
  p99=$(field "$1" loop_cpu_p99_us)
  [ -n "$p99" ] && echo "$p99 / $(field "$1" loop_cpu_max_us) µs; $(field "$1" loop_run_over_5ms), $(field "$1" loop_run_max_us) µs" || echo —
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

mkdir -p "$OUT"
REPORT=$OUT/streams.md
{
  echo "# Concurrent slow streams"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, cloudmux $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') with 2 workers on core $GW_CORE; upstream (bench/h2_upstream.c) and client (bench/stream_client.c) on core $HARNESS_CORE."
  echo "$N streaming chat requests sent evenly over $RAMP ms on $N open connections; each answer $CHUNKS chunks ${GAP} ms apart. Scheduling: $SCHEDULING."
  echo
  echo "## Targets (http2 row)"
  echo
  echo "| target | measured | verdict |"
  echo "|---|---|---|"
  s_max=$(field http2 start_max_ms)
  echo "| all $N start within 1 s of being sent | start max $s_max ms (p99 $(field http2 start_p99_ms) ms) | $(verdict "$(awk -v m="$s_max" 'BEGIN { print m <= 1000 }')") |"
  echo "| none fails | $(field http2 ok) ok, $(field http2 failed) failed | $(verdict "$([ "$(field http2 failed)" = 0 ] && [ "$(field http2 ok)" = "$N" ] && echo 1 || echo 0)") |"
  conns=$(field http2 connections)
  echo "| upstream connections ≤ 64 | $conns | $(verdict "$([ "$conns" -le 64 ] && echo 1 || echo 0)") |"
  hwm=$(field http2 peak_rss_kib)
  echo "| gateway RSS ≤ 150 MB | peak $(mib "$hwm") ($(awk -v k="$hwm" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB) | $(verdict "$(awk -v k="$hwm" 'BEGIN { print k * 1024 <= 150e6 }')") |"
  p99=$(field http2 path_p99_ms)
  echo "| added p99 per chunk ≤ 5 ms | path p99 $p99 ms (direct: $(field direct path_p99_ms) ms); at the client's read $(field http2 added_p99_ms) ms (direct: $(field direct added_p99_ms) ms) | $(verdict "$(awk -v m="$p99" 'BEGIN { print m <= 5 }')") |"
  echo
  echo "\"path\": the upstream's write → the chunk queued on the client's socket (kernel timestamp): what the gateway and the loopback hops add; the verdict uses it. \"read\": → the client read it, adding the client's own loop (harness). \"direct\" is the same client straight at the upstream: the floor of this machine."
  echo "Preliminary when the machine is shared: \"upstream late\" and \"client late\" below show how far the harness itself fell behind its schedule (both near zero: the harness did not distort the run), and \"gateway waited for a CPU\" how long the gateway's threads were runnable but not running (schedstat: its core taken by other processes)."
  echo
  [ "$N_H1" -lt "$N" ] && echo "HTTP/1.1 ran $N_H1 streams, not $N: the open-file hard limit here ($LIMIT) cannot hold $N client and $N upstream sockets in one process." && echo
  echo "| path | streams ok / failed | start p50 / p99 / max | path p50 / p99 / p99.9 / max | read p50 / p99 / max | upstream connections | gateway peak RSS | CPU s gateway / upstream | gateway waited for a CPU | gateway loop turns (CPU): p99 / max; while streaming: turns over 5 ms, longest | upstream late p99 / max | client late p99 / max |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for l in direct http2 http2-tls http1.1; do
    printf '| %s | %s / %s | %s / %s / %s ms | %s / %s / %s / %s ms | %s / %s / %s ms | %s | %s | %s / %s | %s s | %s | %s / %s ms | %s / %s ms |\n' "$l" \
      "$(field $l ok)" "$(field $l failed)" \
      "$(field $l start_p50_ms)" "$(field $l start_p99_ms)" "$(field $l start_max_ms)" \
      "$(field $l path_p50_ms)" "$(field $l path_p99_ms)" "$(field $l path_p999_ms)" "$(field $l path_max_ms)" \
      "$(field $l added_p50_ms)" "$(field $l added_p99_ms)" "$(field $l added_max_ms)" \
      "$([ $l = direct ] && echo — || field $l connections)" \
      "$(k=$(field $l peak_rss_kib); [ "$k" = 0 ] && echo — || mib "$k")" \
      "$(field $l gateway_cpu_s)" "$(field $l upstream_cpu_s)" "$(field $l gateway_runq_wait_s)" \
      "$(turns_cell $l)" \
      "$(field $l upstream_lag_p99_ms)" "$(field $l upstream_lag_max_ms)" \
      "$(field $l send_lag_p99_ms)" "$(field $l send_lag_max_ms)"
  done
  echo
  echo "<details><summary>raw lines (client, then upstream, then gateway figures)</summary>"
  echo
  echo '```'
  cat "$RESULTS"
  echo '```'
  echo "</details>"
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
