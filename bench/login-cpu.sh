#!/usr/bin/env bash
# CPU time per login, by thread, for a gatehouse already running with a user to log in as:
#   BENCH_USER=alice BENCH_PASSWORD=… bench/login-cpu.sh PID URL
# Reads every thread's run time (ns, /proc/PID/task/*/schedstat) before and after an 8 s
# (DURATION) wrk run of password-grant logins at c8 on core 1 (shared/bench/token.lua), and
# prints logins/s and each thread name's milliseconds of CPU per login (the hashing thread,
# the runtime thread, the SQLite worker, the preempter...) with its context switches per login
# (from /proc/PID/task/*/sched, where the kernel shows it). docs/PERFORMANCE.md, sessions 10, 11.
# 127.0.0.1 only; start the server pinned (taskset -c 0) for figures comparable with run.sh's.
set -euo pipefail
PID=$1; URL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
LUA=$(cd "$HERE/../../shared/bench" 2>/dev/null && pwd)/token.lua
[ -f "$LUA" ] || { echo "login-cpu.sh: $LUA not found" >&2; exit 1; }
: "${BENCH_USER:?set BENCH_USER}" "${BENCH_PASSWORD:?set BENCH_PASSWORD}"
export BENCH_USER BENCH_PASSWORD
snap() {  # name, run time ns, context switches (0 where /proc/…/sched is missing)
  for t in /proc/"$PID"/task/*; do
    printf '%s %s %s\n' "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
      "$(awk '/^nr_switches/ {print $3}' "$t/sched" 2>/dev/null || echo 0)"
  done | awk '{a[$1] += $2; s[$1] += ($3 == "" ? 0 : $3)} END {for (k in a) print k, a[k], s[k]}' | sort
}
before=$(snap)
out=$(taskset -c 1 wrk -t1 -c8 -d"${DURATION:-8s}" -s "$LUA" "$URL/token")
after=$(snap)
n=$(echo "$out" | awk '/requests in/{print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
bad=$(echo "$out" | awk '/Non-2xx/{print $5}')
[ "${n:-0}" -gt 0 ] || { echo "login-cpu.sh: no logins completed" >&2; exit 1; }
[ -z "$bad" ] || echo "login-cpu.sh: $bad responses were not 2xx (wrong BENCH_PASSWORD, or throttled?)" >&2
echo "logins/s $rps ($n logins)"
join <(echo "$before") <(echo "$after") | awk -v n="$n" '
  { d = ($4 - $2) / 1e6 / n; sw = ($5 - $3) / n; total += d; tsw += sw
    if (d >= 0.005) printf "  %-18s %7.3f ms/login %6.1f switches/login\n", $1, d, sw }
  END { printf "  %-18s %7.3f ms/login %6.1f switches/login\n", "all threads", total, tsw }'
