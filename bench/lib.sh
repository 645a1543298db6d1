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
