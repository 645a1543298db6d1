# lib.sh — what the bench scripts share (sourced, not run): a temp directory
# and the processes started, both cleaned up on exit; free ports; waiting for
# a listener; reading a process's memory and CPU time.

# Makes $TMP and arranges for it, and every PID added to PIDS, to go on exit.
bench_tmp() { # name
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}

log() { printf 'bench: %s\n' "$*" >&2; }

# A port below the ephemeral range that no socket uses, in any state (a
# TIME-WAIT left by an earlier run can make bind() fail here).
pick_port() {
  local low used p
  low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  used=$(for h in $(awk 'NR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    echo $((16#$h)); done | sort -u)
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % (low - 20000)))
    grep -qx "$p" <<<"$used" || { echo "$p"; return; }
  done
  echo "bench: no free port found" >&2
  return 1
}

# HTTP status of GET url, or 000.
status_of() { curl -s -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null || true; }

wait_listening() { # port seconds
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    { : >/dev/tcp/127.0.0.1/$1; } 2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}

# utime+stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name is skipped first, it may hold spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
cpu_seconds() { awk -v t="$(cpu_ticks "$1")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'; }

# nginx in the foreground from one of bench/nginx/*.conf, its placeholders
# filled (@PREFIX@ the temp directory, @PORT@, @UPSTREAM_PORT@, @H2_PORT@
# from UP_H2_PORT), pinned to a core.
start_nginx() { # name template port upstream_port core → sets NGINX_PID
  local name=$1 conf="$TMP/$1.conf"
  sed -e "s#@PREFIX@#$TMP#g" -e "s#@PORT@#$3#g" -e "s#@UPSTREAM_PORT@#${4:-0}#g" -e "s#@H2_PORT@#${UP_H2_PORT:-0}#g" "$2" >"$conf"
  taskset -c "$5" nginx -p "$TMP" -c "$conf" -e "$TMP/$name-error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_listening "$3" 5 || { log "$name nginx did not start:"; cat "$TMP/$name-error.log" >&2; exit 1; }
}

# Seconds all threads of a process spent runnable but waiting for a CPU
# (field 2 of /proc/PID/task/TID/schedstat, ns): time other processes on
# its cores took from it.  Empty where schedstat is missing.
runq_wait_seconds() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ w += $2 } END { if (NR) printf "%.2f", w / 1e9 }'
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Raises this shell's open-file limit as high as allowed (root may raise the
# hard limit too) and sets FD_LIMIT to it ("unlimited" counts as plenty).
raise_fd_limit() {
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)"
  FD_LIMIT=$(ulimit -n)
  [ "$FD_LIMIT" = unlimited ] && FD_LIMIT=1048576
  return 0
}

# The median of the numbers on stdin, one a line ("nan" when there are none).
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# A report's closing block: the raw runs file, folded away.
raw_runs() { # "column names" file
  echo
  echo "<details><summary>raw runs ($1)</summary>"
  echo
  echo '```'
  cat "$2"
  echo '```'
  echo "</details>"
}

# ---- provider configs -------------------------------------------------------

# The providers whose answers cloudmux translates (Anthropic, Bedrock
# Converse, Vertex Gemini), on the canned upstream at port $1, as lines of a
# config's `providers:` mapping; their placeholder credentials are exported
# here (the upstream checks none).
export CMX_BENCH_KEY=bench-key CMX_BENCH_AWS_KEY_ID=AKIDBENCHEXAMPLE CMX_BENCH_AWS_SECRET=bench-secret
translated_providers_yaml() { # upstream_port
  cat <<EOF
  upanthropic: { type: anthropic, base_url: "http://127.0.0.1:$1/anthropic", api_key: env:CMX_BENCH_KEY }
  upanthropic-stream:
    { type: anthropic, base_url: "http://127.0.0.1:$1/anthropic-stream", api_key: env:CMX_BENCH_KEY }
  upbedrock:
    type: bedrock
    region: us-east-1
    endpoint_url: "http://127.0.0.1:$1"
    access_key_id: env:CMX_BENCH_AWS_KEY_ID
    secret_access_key: env:CMX_BENCH_AWS_SECRET
  upvertex:
    type: vertex
    project: bench
    endpoint_url: "http://127.0.0.1:$1"
    metadata_server: true
    metadata_url: "http://127.0.0.1:$1"
EOF
}

# ---- governance configs -----------------------------------------------------

# bench/run.sh's cloudmux-gov and cloudmux-gov-fleet: the providers and
# models of $1, plus 100 virtual keys in a team with budgets that are checked
# on every request (never reached) and a SQLite ledger in $TMP/gov → $2, the
# keys one a line → $4; the same keys each also with an rpm and a
# max_parallel the fleet shares through the redis-server on port $5 → $3.
gov_configs() { # base gov_config fleet_config keys_file redis_port
  local i key
  mkdir -p "$TMP/gov"
  {
    cat "$1"
    echo "governance: { store: \"sqlite://$TMP/gov/cloudmux.db\" }"
    echo "teams: { bench: { budget: { usd: 1000000, period: monthly } } }"
    echo "keys:"
    for i in $(seq 0 99); do
      key="cmx-bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "$key" >>"$4"
      printf '%s\n' "$key" >"$TMP/gov/k$i"
      echo "  k$i: { key: \"file:$TMP/gov/k$i\", team: bench, budget: { usd: 10000, period: monthly } }"
    done
  } >"$2"
  {
    sed -e "s#sqlite://$TMP/gov/cloudmux.db#sqlite://$TMP/gov/fleet.db#" \
      -e 's/budget: { usd: 10000, period: monthly } }$/budget: { usd: 10000, period: monthly }, rpm: 100000000, max_parallel: 1000 }/' \
      "$2"
    printf 'state:\n  redis: { url: "redis://127.0.0.1:%s/0", timeout: 5ms, key_prefix: "gov-fleet:" }\n' "$5"
  } >"$3"
}

# ---- instructions per request (callgrind) ---------------------------------

# A gateway ($BIN) under callgrind, `serve --workers 1` with config $2,
# waited for until ready → sets CG_PID and CG_PORT.  Its dumps go to
# $TMP/<name>.<pid>.cg*.
cg_gateway() { # name config
  CG_PORT=$(pick_port)
  valgrind --tool=callgrind --callgrind-out-file="$TMP/$1.%p.cg" \
    "$BIN" serve --config "$2" --listen "127.0.0.1:$CG_PORT" --workers 1 \
    >"$TMP/$1.out" 2>"$TMP/$1.err" &
  CG_PID=$!
  PIDS+=("$CG_PID")
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(status_of "http://127.0.0.1:$CG_PORT/health/ready")" = 200 ] && return 0
    sleep 0.2
  done
  log "$1: cloudmux under callgrind did not become ready: $(tail -n 3 "$TMP/$1.err")"
  exit 1
}

# Counts the CG_PID gateway's instructions over wrk -t1 -c1 for $2 seconds
# against $1 (bench/chat.lua, with whatever BENCH_* the caller exports),
# after a 2 s warm-up; prints "requests instructions".  Fails on any
# non-2xx answer.
cg_count() { # url seconds
  local out n dump
  wrk -t1 -c1 -d2s -s "$HERE/chat.lua" "$1" >/dev/null
  callgrind_control -z "$CG_PID" >/dev/null
  out=$(wrk -t1 -c1 -d"$2s" -s "$HERE/chat.lua" "$1")
  callgrind_control -d "$CG_PID" >/dev/null
  grep -q 'non2xx=0 ' <<<"$out" || { log "$1: non-2xx answers: $out"; exit 1; }
  n=$(grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2)
  dump=$(ls -t "$TMP"/*.cg.* 2>/dev/null | head -n 1)
  echo "$n $(awk '/^(summary|totals):/ { print $2; exit }' "$dump")"
  if [ -n "${BENCH_CG_KEEP:-}" ]; then
    mkdir -p "$BENCH_CG_KEEP" && mv "$dump" "$BENCH_CG_KEEP/${CG_LABEL:-run}.cg"
  else
    rm -f "$dump"
  fi
}
