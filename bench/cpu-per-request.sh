#!/usr/bin/env bash
# CPU time a server spends per request, independent of how much of the core it got:
#   bench/cpu-per-request.sh PID URL [extra wrk args, e.g. -H "Authorization: Bearer …"]
# Reads utime+stime of PID (all its threads) from /proc before and after an 8 s (DURATION)
# wrk -c64 run on core 1 and divides by the requests served. 127.0.0.1 only.
set -euo pipefail
PID=$1; URL=$2; shift 2
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
t0=$(cpu)
out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION:-8s}" "$@" "$URL")
t1=$(cpu)
req=$(echo "$out" | awk '/requests in/{print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
python3 -c "print('req/s %s  cpu_us_per_request %.2f' % ('$rps', ($t1-$t0)/$(getconf CLK_TCK)*1e6/$req))"
