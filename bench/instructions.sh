#!/usr/bin/env bash
# User-space instructions per `/users/me` request, counted by callgrind: the same figure for
# the same binary whatever else the machine is doing, so a 1% change in the request path can be
# compared on a host where wall-clock samples move by ±30% from one minute to the next.
#
#   bench/instructions.sh                # build (release, own target dir), count, show the top functions
#   GH_BIN=/path/to/gatehouse bench/instructions.sh   # count a binary built as below
#   HELLO=1 bench/instructions.sh        # also count axum_min's `/hello` (the floor), if bench/run.sh built it
#
# Kernel time is not counted (callgrind sees user space only): see docs/PERFORMANCE.md for the
# per-request CPU method that includes it.
#
# The binary is built with `--cfg rustix_use_libc`: rustix's own vDSO lookup faults under
# valgrind (bytecodealliance/rustix#1559), its libc backend does not. The coarse clock then goes
# through libc's `clock_gettime` rather than rustix's vDSO call; everything else is the
# release build. Knobs: SCOPE (conn or all, below), DURATION (load, default 4s), CONNS (wrk
# connections, default 8), TOP (functions listed, default 30), BENCH_WORK (default /tmp/gh-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/gh-bench}
DURATION=${DURATION:-4s}
CONNS=${CONNS:-8}
TOP=${TOP:-30}
mkdir -p "$WORK"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

for tool in valgrind callgrind_control callgrind_annotate wrk curl python3 taskset; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is not installed (apt-get install valgrind wrk)" >&2; exit 2; }
done

if [ -z "${GH_BIN:-}" ]; then
  log "building gatehouse (release, --cfg rustix_use_libc) into $WORK/target-callgrind"
  (cd "$ROOT" && RUSTFLAGS="--cfg rustix_use_libc" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release -q -p gatehouse-server --bin gatehouse --target-dir "$WORK/target-callgrind")
  GH_BIN=$WORK/target-callgrind/release/gatehouse
fi

# What is counted. `conn` (default): only inside the HTTP connection's poll, where all of a
# request's own work happens (parse, routing, middleware, handler, response, access line);
# the runtime's scheduling and epoll, and the server's periodic tasks (cache refreshes run
# on timers; under valgrind they are a larger share of each second), are left out, so the
# figure does not move with how many requests a run got through. `all`: every instruction
# of the process while the load runs.
case "${SCOPE:-conn}" in
  conn) SCOPE_ARGS=(--instr-atstart=no --collect-atstart=no '--toggle-collect=*UpgradeableConnection*::poll') ;;
  all) SCOPE_ARGS=(--instr-atstart=no) ;;
  *) echo "instructions.sh: SCOPE is conn or all" >&2; exit 2 ;;
esac

PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# count LABEL URL OUTFILE [wrk header args]: load URL for DURATION with collection on; prints Ir/request.
count() {
  local label=$1 url=$2 out=$3; shift 3
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "$@" "$url" >/dev/null   # warm caches and connections
  callgrind_control -i on "$PID" >/dev/null 2>&1
  local res
  res=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" "$@" "$url")
  callgrind_control -i off "$PID" >/dev/null 2>&1
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  local req non2xx ir
  req=$(echo "$res" | awk '/requests in/{print $1}')
  non2xx=$(echo "$res" | awk '/Non-2xx/{print $NF}')
  [ -z "$non2xx" ] || { echo "instructions.sh: $label answered $non2xx non-2xx responses" >&2; exit 1; }
  ir=$(awk '/^totals:/{s+=$2} END{print s}' "$out")
  python3 -c "print('%-22s %8d requests  %14d Ir  %8.0f Ir/request' % ('$label', $req, $ir, $ir/$req))"
}

data=$(mktemp -d "$WORK/cg-data.XXXXXX")
out=$WORK/callgrind.gatehouse.out
rm -f "$out"
log "gatehouse under callgrind (startup and the setup logins take a minute)"
env GATEHOUSE_DATA_DIR="$data" GATEHOUSE_BIND=127.0.0.1:8100 GATEHOUSE_HASH_WORKERS=1 \
  GATEHOUSE_ADMIN_PASSWORD=bench-admin-pw-123 \
  taskset -c 0 valgrind --tool=callgrind "${SCOPE_ARGS[@]}" --callgrind-out-file="$out" \
  "$GH_BIN" serve >"$WORK/callgrind.gatehouse.log" 2>&1 &
PID=$!
for _ in $(seq 600); do curl -sf -o /dev/null http://127.0.0.1:8100/healthz && break; sleep 0.2; done
token() {
  curl -sf --max-time 120 -X POST http://127.0.0.1:8100/token --data-urlencode grant_type=password \
    --data-urlencode "username=$1" --data-urlencode "password=$2" \
    | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])'
}
admin=$(token admin bench-admin-pw-123)
curl -sf --max-time 120 -o /dev/null -X POST http://127.0.0.1:8100/admin/users -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"username":"alice","password":"bench-alice-pw-123"}'
tok=$(token alice bench-alice-pw-123)
count "gatehouse /users/me" http://127.0.0.1:8100/users/me "$out" -H "Authorization: Bearer $tok"
rm -rf "$data"

if [ "${HELLO:-0}" = 1 ] && [ -x "$WORK/axum_min/target/release/axum-min" ]; then
  hout=$WORK/callgrind.hello.out
  rm -f "$hout"
  (cd "$WORK/axum_min" && JWT_ALG=RS256 BIND=127.0.0.1:8102 taskset -c 0 valgrind --tool=callgrind \
    "${SCOPE_ARGS[@]}" --callgrind-out-file="$hout" ./target/release/axum-min >"$WORK/callgrind.hello.log" 2>&1) &
  PID=$!
  for _ in $(seq 300); do curl -sf -o /dev/null http://127.0.0.1:8102/hello && break; sleep 0.2; done
  PID=$(pgrep -f "callgrind-out-file=$hout" | head -1)
  count "axum_min /hello" http://127.0.0.1:8102/hello "$hout"
fi

echo
echo "Top $TOP functions by instructions (self), gatehouse /users/me:"
callgrind_annotate --auto=no --threshold=100 "$out" 2>/dev/null | sed -n '/file:function/,$p' | sed '/^$/d' | head -n "$((TOP + 1))"
