#!/usr/bin/env bash
# Two gatehouse instances vs one, on one PostgreSQL and one Redis — one command:
#
#   bench/scale_out.sh
#
# Measures, for 1 and then 2 instances (release build, GATEHOUSE_HASH_WORKERS=1 each, default
# argon2 m=19456 t=2 p=1, a fresh PostgreSQL database and a fresh Redis key prefix):
#   - GET /users/me req/s   (wrk, ME_CONNS connections in total, split over the instances)
#   - POST /token logins/s  (wrk + login_status.lua, TOKEN_CONNS connections in total; only 2xx count)
#   - with 2 instances: revoke on A (POST /token/revoke) -> first 401 on B, REVOKE_SAMPLES times
# and prints a table with the 2-vs-1 ratios (stdout and $WORK/report.md).
#
# For 2 instances, two wrk processes (one per instance) run at the same time and their figures
# are summed. Every load-generating run holds /tmp/gh-bench.lock (flock) so it never overlaps
# another benchmark on this machine.
#
# Env knobs (all optional):
#   GATEHOUSE_TEST_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
#                                a scratch database gh_bench_* is created there and dropped at exit
#   GATEHOUSE_TEST_REDIS_URL     Redis (default redis://127.0.0.1:6379); keys under a fresh prefix, deleted at exit
#   DURATION=10s  ME_CONNS=64  TOKEN_CONNS=8  REVOKE_SAMPLES=50
#   PIN=1         1: each instance gets its own core (taskset: 1 instance on core 0; 2 instances on
#                 cores 0 and 1) — one "machine" per instance; wrk, PostgreSQL and Redis float.
#                 0: nothing pinned.
#   SKIP_BUILD=0  1: reuse target/release/gatehouse
#   BENCH_WORK=/tmp/gh-bench   scratch dir (logs, wrk outputs, report)
# Every process started here is killed by PID on exit; every load is bounded by -d; 127.0.0.1 only.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PG_URL=${GATEHOUSE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${GATEHOUSE_TEST_REDIS_URL:-redis://127.0.0.1:6379}
DURATION=${DURATION:-10s}
ME_CONNS=${ME_CONNS:-64}
TOKEN_CONNS=${TOKEN_CONNS:-8}
REVOKE_SAMPLES=${REVOKE_SAMPLES:-50}
PIN=${PIN:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
LOCK=/tmp/gh-bench.lock
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GH_BIN=$TARGET_DIR/release/gatehouse
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=${BENCH_WORK:-/tmp/gh-bench}/scale-out-$STAMP
TAG=$(date +%s)_$$
DB=gh_bench_$TAG
DB_URL="${PG_URL%/*}/$DB"
PREFIX="gh-bench-$TAG:"
ADMIN_PW="bench-admin-pw-$TAG-not-secret"
export BENCH_USER=alice BENCH_PASSWORD="correct horse battery staple"
PORTS=(8110 8111)
secs=${DURATION%s}

mkdir -p "$WORK"
ulimit -n 65536 2>/dev/null || true
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$WORK/run.log" >&2; }

# ---------------------------------------------------------------- process hygiene
PIDS=()
DB_CREATED=0
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && { kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }; done
  if [ "$DB_CREATED" = 1 ]; then psql "$PG_URL" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true; fi
  redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- setup
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for c in psql redis-cli curl python3 flock; do command -v $c >/dev/null || { log "needs $c"; exit 1; }; done
psql "$PG_URL" -qAtc 'select 1' >/dev/null || { log "PostgreSQL not reachable at $PG_URL"; exit 1; }
[ "$(redis-cli -u "$REDIS_URL" ping)" = PONG ] || { log "Redis not reachable at $REDIS_URL"; exit 1; }
if [ "$SKIP_BUILD" != 1 ]; then
  log "building gatehouse (release) from the current tree"
  (cd "$ROOT" && cargo build --release -p gatehouse-server --bin gatehouse)
fi
[ -x "$GH_BIN" ] || { log "no gatehouse binary at $GH_BIN"; exit 1; }
psql "$PG_URL" -qc "create database $DB" && DB_CREATED=1
log "scratch database $DB, Redis prefix $PREFIX, results in $WORK"
{
  echo "date_utc $(date -u +%FT%TZ)"
  echo "nproc $(nproc)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "git_head $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "loadavg_at_start $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$WORK/machine.txt"

# ---------------------------------------------------------------- gatehouse instances
INSTANCE_PIDS=()
# gh_start INDEX — instance INDEX (0 or 1) on PORTS[INDEX], pinned to core INDEX when PIN=1.
gh_start() {
  local i=$1 port=${PORTS[$1]} pin=() data
  [ "$PIN" = 1 ] && pin=(taskset -c "$i")
  data=$(mktemp -d "$WORK/data$i.XXXXXX")
  ( exec "${pin[@]}" env -i PATH="$PATH" \
      GATEHOUSE_BIND=127.0.0.1:$port GATEHOUSE_DATA_DIR="$data" \
      GATEHOUSE_DATABASE_URL="$DB_URL" GATEHOUSE_REDIS_URL="$REDIS_URL" GATEHOUSE_REDIS_PREFIX="$PREFIX" \
      GATEHOUSE_ISSUER=http://gatehouse.bench GATEHOUSE_AUDIENCE=api \
      GATEHOUSE_HASH_WORKERS=1 GATEHOUSE_ADMIN_PASSWORD="$ADMIN_PW" \
      GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP=1000000 GATEHOUSE_LOGIN_MAX_FAILURES_PER_USER=1000000 \
      "$GH_BIN" serve ) >>"$WORK/gatehouse$i.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid"); INSTANCE_PIDS+=("$pid")
  local n
  for n in $(seq 1 120); do
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { log "instance $i died during start-up:"; tail -5 "$WORK/gatehouse$i.log" >&2; exit 1; }
    sleep 0.25
  done
  log "instance $i not ready after 30 s"; exit 1
}
gh_stop_all() {
  local p
  for p in "${INSTANCE_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${INSTANCE_PIDS[@]:-}"; do [ -n "$p" ] && { wait "$p" 2>/dev/null || true; }; done
  INSTANCE_PIDS=()
}
json_field() { python3 -c 'import sys,json; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login_token() {  # login_token BASE USER PASSWORD [SCOPE]
  curl -sf --max-time 10 -X POST "$1/token" --data-urlencode grant_type=password --data-urlencode "username=$2" \
    --data-urlencode "password=$3" ${4:+--data-urlencode "scope=$4"} | json_field access_token
}

# ---------------------------------------------------------------- load
# load NAME PATH_KIND TOTAL_CONNS BASE... — one wrk per BASE, all at once, under the lock;
# prints "sum_rps max_p50 max_p99 non2xx sockerr sum_ok sum_503 sum_429 sum_other per_instance_rps"
# (the last field like 7080+902: how the load split between the instances).
load() {
  local name=$1 kind=$2 total=$3; shift 3
  local n=$# per=$(( total / $# )) cmd="" i=0 b
  for b in "$@"; do
    if [ "$kind" = me ]; then
      cmd+="wrk -t1 -c$per -d$DURATION --latency -H $(printf %q "Authorization: Bearer $ME_TOKEN") $b/users/me >$WORK/$name.$i.wrk 2>&1 & "
    else
      cmd+="wrk -t1 -c$per -d$DURATION --timeout 10s --latency -s $HERE/login_status.lua $b/token >$WORK/$name.$i.wrk 2>&1 & "
    fi
    i=$((i + 1))
  done
  flock "$LOCK" bash -c "$cmd wait"
  for i in $(seq 0 $((n - 1))); do python3 "$HERE/wrkparse.py" <"$WORK/$name.$i.wrk"; done | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
f = lambda i: [float(r[i]) if i < len(r) else 0.0 for r in rows]
print("%.0f %.2f %.2f %d %d %d %d %d %d %s" % (sum(f(0)), max(f(1)), max(f(2)), sum(f(3)), sum(f(4)),
      sum(f(5)), sum(f(6)), sum(f(7)), sum(f(8)), "+".join("%.0f" % x for x in f(0))))'
}

declare -A R
measure() {  # measure KEY BASE...
  local key=$1; shift
  sleep 1
  read -r rps p50 p99 bad sock _ _ _ _ per < <(load "$key-me" me "$ME_CONNS" "$@")
  R[$key.me_rps]=$rps; R[$key.me_split]=$per; R[$key.me_p50]=$p50; R[$key.me_p99]=$p99; R[$key.me_bad]=$((bad + sock))
  log "$key /users/me: $rps req/s ($per), p50 $p50 ms, p99 $p99 ms (worst instance), non-2xx+socket errors $((bad + sock))"
  sleep 1
  read -r rps p50 p99 bad sock ok busy lim other per < <(load "$key-token" token "$TOKEN_CONNS" "$@")
  R[$key.login_ps]=$(python3 -c "print('%.1f' % ($ok / $secs))"); R[$key.tok_split]=$per; R[$key.tok_p50]=$p50; R[$key.tok_p99]=$p99
  R[$key.tok_503]=$busy; R[$key.tok_other]=$((lim + other + sock))
  log "$key /token: ${R[$key.login_ps]} logins/s ($per responses/s), (2xx=$ok 503=$busy 429=$lim other=$other socket=$sock), p50 $p50 ms, p99 $p99 ms"
}

# ---------------------------------------------------------------- 1 instance
A=http://127.0.0.1:${PORTS[0]}
B=http://127.0.0.1:${PORTS[1]}
log "phase 1: one instance ($([ "$PIN" = 1 ] && echo 'core 0' || echo unpinned))"
gh_start 0
ADMIN_TOKEN=$(login_token "$A" admin "$ADMIN_PW")
curl -sf --max-time 10 -o /dev/null -X POST "$A/admin/users" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}" \
  || { log "could not create $BENCH_USER"; exit 1; }
ME_TOKEN=$(login_token "$A" "$BENCH_USER" "$BENCH_PASSWORD" me)
measure one "$A"
gh_stop_all

# ---------------------------------------------------------------- 2 instances
log "phase 2: two instances ($([ "$PIN" = 1 ] && echo 'cores 0 and 1' || echo unpinned)), same PostgreSQL + Redis"
gh_start 0
gh_start 1
ME_TOKEN=$(login_token "$A" "$BENCH_USER" "$BENCH_PASSWORD" me)
curl -sf --max-time 10 -o /dev/null -H "Authorization: Bearer $ME_TOKEN" "$B/users/me" \
  || { log "a token from A is refused on B: instances do not share keys/issuer"; exit 1; }
measure two "$A" "$B"

log "revoke on A -> refused on B, $REVOKE_SAMPLES samples"
flock "$LOCK" python3 - "$A" "$B" "$REVOKE_SAMPLES" >"$WORK/revoke.txt" <<'EOF'
import http.client, json, os, statistics, sys, time, urllib.parse
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def conn(base):
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)
ca, cb = conn(a), conn(b)
def req(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read()
form = {"Content-Type": "application/x-www-form-urlencoded"}
user, pw = os.environ["BENCH_USER"], os.environ["BENCH_PASSWORD"]
total, after, polls = [], [], []
for _ in range(n):
    s, body = req(ca, "POST", "/token", urllib.parse.urlencode(
        {"grant_type": "password", "username": user, "password": pw, "scope": "me"}), form)
    assert s == 200, (s, body)
    tok = json.loads(body)["access_token"]
    bearer = {"Authorization": "Bearer " + tok}
    assert req(cb, "GET", "/users/me", headers=bearer)[0] == 200
    t0 = time.perf_counter()
    s, _ = req(ca, "POST", "/token/revoke", urllib.parse.urlencode({"token": tok}), form)
    t1 = time.perf_counter()
    assert s == 200, s
    k = 0
    while True:
        k += 1
        s, _ = req(cb, "GET", "/users/me", headers=bearer)
        if s == 401:
            break
        assert s == 200, s
        assert time.perf_counter() - t0 < 5, "not refused on B within 5 s"
    t2 = time.perf_counter()
    total.append((t2 - t0) * 1000); after.append((t2 - t1) * 1000); polls.append(k)
q = lambda v, p: sorted(v)[min(len(v) - 1, int(len(v) * p))]
print("revoke_total_p50 %.2f" % statistics.median(total))
print("revoke_total_p95 %.2f" % q(total, 0.95))
print("revoke_total_max %.2f" % max(total))
print("revoke_after_p50 %.2f" % statistics.median(after))
print("revoke_after_max %.2f" % max(after))
print("revoke_polls_max %d" % max(polls))
print("revoke_first_poll_refused %d/%d" % (sum(1 for k in polls if k == 1), n))
EOF
while read -r k v; do R[$k]=$v; done <"$WORK/revoke.txt"
gh_stop_all
echo "loadavg_at_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"

# ---------------------------------------------------------------- report
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (b/a) if a else 'n/a')" "$1" "$2"; }
{
  echo "## gatehouse: two instances vs one ($(date -u +%F), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), shared by the"
  echo "instances, wrk, PostgreSQL and Redis. PIN=$PIN$([ "$PIN" = 1 ] && echo ': 1 instance on core 0; 2 instances on cores 0 and 1; wrk/PostgreSQL/Redis unpinned')."
  echo "Each instance: GATEHOUSE_HASH_WORKERS=1, argon2 m=19456 t=2 p=1, INFO request log. wrk -t1 per instance,"
  echo "$DURATION per run; /users/me at $ME_CONNS connections in total, /token at $TOKEN_CONNS in total (split evenly)."
  echo "Load average: $(grep loadavg_at_start "$WORK/machine.txt" | cut -d' ' -f2-) at start, $(grep loadavg_at_end "$WORK/machine.txt" | cut -d' ' -f2-) at end."
  echo
  echo "| | 1 instance | 2 instances | 2 vs 1 |"
  echo "|---|---:|---:|---:|"
  echo "| \`GET /users/me\` req/s | ${R[one.me_rps]} | ${R[two.me_rps]} | $(ratio "${R[one.me_rps]}" "${R[two.me_rps]}")x |"
  echo "| \`GET /users/me\` p50 / p99 ms (worst instance) | ${R[one.me_p50]} / ${R[one.me_p99]} | ${R[two.me_p50]} / ${R[two.me_p99]} | |"
  echo "| \`POST /token\` logins/s (2xx) | ${R[one.login_ps]} | ${R[two.login_ps]} | $(ratio "${R[one.login_ps]}" "${R[two.login_ps]}")x |"
  echo "| \`POST /token\` p50 / p99 ms | ${R[one.tok_p50]} / ${R[one.tok_p99]} | ${R[two.tok_p50]} / ${R[two.tok_p99]} | |"
  echo "| \`/token\` 503 (pool full) / other errors | ${R[one.tok_503]} / ${R[one.tok_other]} | ${R[two.tok_503]} / ${R[two.tok_other]} | |"
  echo "| \`/users/me\` non-2xx + socket errors | ${R[one.me_bad]} | ${R[two.me_bad]} | |"
  echo "| split over A+B: \`/users/me\` req/s; \`/token\` responses/s | | ${R[two.me_split]}; ${R[two.tok_split]} | |"
  echo
  echo "Revoke on A (\`POST /token/revoke\`) → first 401 on B, $REVOKE_SAMPLES samples: p50 ${R[revoke_total_p50]} ms,"
  echo "p95 ${R[revoke_total_p95]} ms, max ${R[revoke_total_max]} ms from sending the revoke (after A's 200: p50"
  echo "${R[revoke_after_p50]} ms, max ${R[revoke_after_max]} ms; B refused on the very first poll in ${R[revoke_first_poll_refused]} samples)."
} | tee "$WORK/report.md"
log "report: $WORK/report.md (wrk outputs and logs next to it)"
