#!/usr/bin/env bash
# The login-flood phase of run.sh as alternating A/B pairs, for settings that change it:
#   bench/flood-pairs.sh "A_ENV" "B_ENV" [PAIRS]
#   e.g. bench/flood-pairs.sh "" "GATEHOUSE_REQUEST_SLICE_US=0" 4
# Each sample starts a fresh gatehouse (target/release/gatehouse, or $GH_BIN) pinned to core 0
# with the environment given (space-separated NAME=VALUE pairs; "" for the defaults), creates
# alice, measures /users/me at c8 for 5 s while idle, then runs c32 password-grant logins
# (shared/bench/token.lua) and, one second in, /users/me at c8 for 10 s: the shape of
# peer_bench.sh's "me during flood" phase. wrk runs on core 1. It prints one line per sample:
# the idle c8 p99, the flood p99 and the logins/s of the flood. A and B alternate so that a
# noisy minute on this shared machine falls on both. docs/PERFORMANCE.md, session 11.
# 127.0.0.1:8110 only; every server is stopped by PID.
set -euo pipefail
A=${1-}; B=${2-}; PAIRS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
LUA=$(cd "$HERE/../../shared/bench" 2>/dev/null && pwd)/token.lua
[ -f "$LUA" ] || { echo "flood-pairs.sh: $LUA not found" >&2; exit 1; }
BIN=${GH_BIN:-$HERE/../target/release/gatehouse}
[ -x "$BIN" ] || { echo "flood-pairs.sh: $BIN not found (cargo build --release -p gatehouse-server, or set GH_BIN)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "flood-pairs.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
PORT=8110 URL=http://127.0.0.1:8110 ADMIN_PW=flood-pairs-admin-pw PW=flood-pairs-alice-pw
export BENCH_USER=alice BENCH_PASSWORD=$PW

token() {  # token USER PASSWORD -> access token
  curl -sf --max-time 10 -X POST "$URL/token" --data-urlencode grant_type=password \
    --data-urlencode "username=$1" --data-urlencode "password=$2" \
    | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])'
}
p99() { awk '/ 99%/ {print $2}'; }

sample() {  # sample LABEL "ENV"
  local label=$1 envs=$2 dir pid tok out idle flood logins
  dir=$(mktemp -d /tmp/flood-pairs.XXXXXX)
  # shellcheck disable=SC2086  # the environment is a list of NAME=VALUE words
  env GATEHOUSE_DATA_DIR="$dir" GATEHOUSE_BIND=127.0.0.1:$PORT GATEHOUSE_HASH_WORKERS=1 \
      GATEHOUSE_ADMIN_PASSWORD=$ADMIN_PW \
      GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP=1000000 GATEHOUSE_LOGIN_MAX_FAILURES_PER_USER=1000000 \
      $envs taskset -c 0 "$BIN" serve >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$URL/healthz" && break; sleep 0.1; done
  tok=$(token admin "$ADMIN_PW")
  curl -sf --max-time 10 -o /dev/null -X POST "$URL/admin/users" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -d "{\"username\":\"alice\",\"password\":\"$PW\"}"
  tok=$(token alice "$PW")
  idle=$(taskset -c 1 wrk -t1 -c8 -d5s --latency -H "Authorization: Bearer $tok" "$URL/users/me" | p99)
  taskset -c 1 wrk -t1 -c32 -d13s -s "$LUA" "$URL/token" >"$dir/logins" &
  local w=$!
  sleep 1
  flood=$(taskset -c 1 wrk -t1 -c8 -d10s --latency -H "Authorization: Bearer $tok" "$URL/users/me" | p99)
  wait "$w"
  logins=$(awk '/Requests\/sec/ {print $2}' "$dir/logins")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  printf '%-2s %-40s idle c8 p99 %9s  flood p99 %9s  logins/s %6s\n' "$label" "${envs:-(defaults)}" "$idle" "$flood" "$logins"
}

for i in $(seq "$PAIRS"); do
  sample A "$A"
  sample B "$B"
done
