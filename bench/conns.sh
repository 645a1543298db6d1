#!/usr/bin/env bash
# conns.sh — what an idle client connection costs: cloudmux against nginx, same run.
#
# For each server (the nginx keep-alive proxy of bench/nginx/proxy.conf, one
# worker; cloudmux, one worker) and each kind of connection:
#   unused  10,000 connections that have sent nothing
#   idle    10,000 keep-alive connections after one proxied chat request each
# RSS (VmRSS) of the server before the connections open (after a warm-up
# request), while all are held, and 2 s after they closed; the cost per
# connection is (held - before) / N.  Connections are opened and held by
# bench/conn_hold.c.  Writes bench/out/conns.md (also printed).
#
# Installs nothing: `make bench` runs scripts/deps.sh bench first.
# Knobs: CLOUDMUX_BIN, BENCH_IDLE_CONNS (10000).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${CLOUDMUX_BIN:-$ROOT/build/cloudmux}
N=${BENCH_IDLE_CONNS:-10000}
OUT=$HERE/out

for tool in nginx curl cc; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' not found (run: scripts/deps.sh bench)" >&2; exit 1; }
done
. "$HERE/lib.sh"
# Each side holds N descriptors, and the proxies as many again toward the
# upstream at most.
raise_fd_limit
LIMIT=$FD_LIMIT
if [ "$LIMIT" -lt $((N + 1000)) ]; then
  echo "bench: open-file limit $LIMIT is too low for $N connections" >&2
  exit 1
fi

bench_tmp cmx-conns

cc -O2 -o "$TMP/conn_hold" "$HERE/conn_hold.c"
BODY=$TMP/body.json
printf '{"model":"%s","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}' gpt-4o-mini >"$BODY"

# nginx: the bench's configs, with room for N connections.
start_nginx() { # name template port upstream_port → NGINX_PID
  sed -e "s#@PREFIX@#$TMP#g" -e "s#@PORT@#$3#g" -e "s#@UPSTREAM_PORT@#$4#g" -e "s#@H2_PORT@#$(pick_port)#g" \
    -e "s#worker_connections [0-9]*;#worker_connections $((2 * N + 1000));#" "$2" >"$TMP/$1.conf"
  printf 'worker_rlimit_nofile %d;\n' $((2 * N + 2000)) >>"$TMP/$1.conf"
  nginx -p "$TMP" -c "$TMP/$1.conf" -e "$TMP/$1-error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_listening "$3" 5 || { log "$1 nginx did not start"; cat "$TMP/$1-error.log" >&2; exit 1; }
}
UP_PORT=$(pick_port)
start_nginx upstream "$HERE/nginx/upstream.conf" "$UP_PORT" 0
PX_PORT=$(pick_port)
start_nginx proxy "$HERE/nginx/proxy.conf" "$PX_PORT" "$UP_PORT"
PX_PID=$NGINX_PID

CMX_PID=
if [ -x "$BIN" ]; then
  cat >"$TMP/cloudmux.yaml" <<EOF
providers:
  up: { type: openai, base_url: "http://127.0.0.1:$UP_PORT/json/v1" }
models:
  gpt-4o-mini: { targets: [ { provider: up, model: gpt-4o-mini } ] }
EOF
  CMX_PORT=$(pick_port)
  "$BIN" serve --config "$TMP/cloudmux.yaml" --listen "127.0.0.1:$CMX_PORT" --workers 1 >/dev/null 2>"$TMP/cloudmux.err" &
  CMX_PID=$!
  PIDS+=("$CMX_PID")
  wait_listening "$CMX_PORT" 5 || { log "cloudmux did not start: $(tail -n 3 "$TMP/cloudmux.err")"; CMX_PID=; }
else
  log "skipping cloudmux: no binary at $BIN"
fi

RESULTS=$TMP/results.tsv
: >"$RESULTS"
measure() { # name pid port path mode
  local name=$1 pid=$2 port=$3 path=$4 mode=$5 before held after
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "http://127.0.0.1:$port$path" # warm-up
  sleep 0.5
  before=$(rss_kib "$pid")
  coproc HOLD { "$TMP/conn_hold" "$port" "$N" "$mode" "$path" "$BODY"; }
  local line
  if ! read -r -t 120 line <&"${HOLD[0]}" || [ "${line%% *}" != held ]; then
    log "$name/$mode: connections were not all held"
    exit 1
  fi
  sleep 3.5 # cloudmux parks an idle connection's state for a second, then trims a second later
  held=$(rss_kib "$pid")
  echo close >&"${HOLD[1]}"
  read -r -t 60 line <&"${HOLD[0]}" || true
  wait "$HOLD_PID" 2>/dev/null || true
  sleep 2
  after=$(rss_kib "$pid")
  echo "$name $mode $before $held $after" >>"$RESULTS"
  awk -v n="$N" '{ printf "bench: %-8s %-6s RSS before %6.1f MiB, %d held %6.1f MiB, after close %6.1f MiB: %5.0f bytes per connection\n",
    $1, $2, $3 / 1024, n, $4 / 1024, $5 / 1024, ($4 - $3) * 1024 / n }' <<<"$(tail -n 1 "$RESULTS")" >&2
}

log "holding $N connections on nginx :$PX_PORT${CMX_PID:+ and cloudmux :$CMX_PORT}"
for mode in unused idle; do
  measure nginx "$PX_PID" "$PX_PORT" /json/v1/chat/completions "$mode"
  [ -n "$CMX_PID" ] && measure cloudmux "$CMX_PID" "$CMX_PORT" /v1/chat/completions "$mode"
done

mkdir -p "$OUT"
REPORT=$OUT/conns.md
{
  echo "# Memory per client connection"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(nginx -v 2>&1 | sed 's/^nginx version: //'), cloudmux $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "$N connections held at once; RSS (VmRSS) of the one server process. \"idle\": after one proxied chat request each (keep-alive); \"unused\": nothing sent."
  echo
  echo "| server | connections | RSS before | RSS held | RSS 2 s after close | bytes per connection |"
  echo "|---|---|---:|---:|---:|---:|"
  awk -v n="$N" '{ printf "| %s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.0f |\n", $1, $2, $3 / 1024, $4 / 1024, $5 / 1024, ($4 - $3) * 1024 / n }' "$RESULTS"
} >"$REPORT"
cat "$REPORT"
log "written to $REPORT"
