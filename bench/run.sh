#!/usr/bin/env bash
# gatehouse benchmark suite — one command:   bench/run.sh
#
# Sets up (idempotently) wrk, the FastAPI peer's venv, the axum_min peer and a release build of
# gatehouse, then loads each server in turn — server pinned to core 0, wrk to core 1 — with
# ../shared/bench/peer_bench.sh and a few extra probes, and prints every figure as a RATIO against
# the peers measured in the same run (absolute numbers are noise on a shared 2-core box).
#
# Env knobs (all optional):
#   DURATION=10s        wrk duration per peer_bench phase
#   HS256=1             also run the HS256 variants of all three servers (0 = RS256 only)
#   SKIP_FASTAPI=0      1 = skip the FastAPI peer (e.g. no network for pip)
#   SKIP_BUILD=0        1 = do not rebuild gatehouse (use the existing target/release/gatehouse)
#   RSS_LEVELS="10 100 200 1000"   concurrency levels of the login-flood RSS probe
#   RSS_DURATION=10s    duration of each RSS flood
#   PHASES="peers gatehouse interleaved rss"   which load phases to run
#   ROUNDS=5 SAMPLE=5s  the interleaved phase: rounds of /hello, FastAPI, axum_min and gatehouse RS256
#   SHARED_BENCH=../shared/bench   where the peers and peer_bench.sh live (read-only is fine)
#   BENCH_WORK=/tmp/gh-bench       scratch dir: peer build copy, data dirs, logs, results
# Every server started here is killed by PID on exit (trap); every load is time-bounded and on
# 127.0.0.1 only.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$(cd "$ROOT/../shared/bench" && pwd)}
WORK=${BENCH_WORK:-/tmp/gh-bench}
export DURATION=${DURATION:-10s}
HS256=${HS256:-1}
SKIP_FASTAPI=${SKIP_FASTAPI:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
RSS_LEVELS=${RSS_LEVELS:-"10 100 200 1000"}
RSS_DURATION=${RSS_DURATION:-10s}
PHASES=${PHASES:-"peers gatehouse interleaved rss"}
VENV=/tmp/ref-venv
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GH_BIN=$TARGET_DIR/release/gatehouse
AXUM_DIR=$WORK/axum_min
AXUM_BIN=$AXUM_DIR/target/release/axum-min
A2T_DIR=$WORK/argon2-time
A2T_BIN=$A2T_DIR/target/release/argon2-time
RESULTS=$WORK/results-$(date -u +%Y%m%dT%H%M%SZ)
REC=$RESULTS/results.txt
ADMIN_PW="bench-admin-pw-$(date +%s)-not-secret"
BENCH_PASSWORD="correct horse battery staple"
HS_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

mkdir -p "$RESULTS"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$RESULTS/run.log" >&2; }
rec() { echo "$*" >>"$REC"; }   # "key value..." lines, read by report.py
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- process hygiene
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    kill -TERM "$p" 2>/dev/null || true
  done
  sleep 0.5
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

SERVER_PID=
# start_server LOG READY_URL CMD... — CMD is exec'd (so $! is the server's own PID) on core 0.
start_server() {
  local logf=$1 ready=$2; shift 2
  ( exec taskset -c 0 "$@" ) >"$logf" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 240); do
    if curl -sf -o /dev/null --max-time 2 "$ready"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { log "server died during start-up, see $logf"; tail -5 "$logf" >&2; return 1; }
    sleep 0.25
  done
  log "server not ready after 60 s: $ready"; return 1
}
stop_server() {
  local p=$SERVER_PID i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  SERVER_PID=
}

# ---------------------------------------------------------------- setup (idempotent)
setup() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  if [ "$SKIP_FASTAPI" != 1 ] && ! "$VENV/bin/python" -c 'import fastapi, uvicorn, jwt, pwdlib, multipart' 2>/dev/null; then
    log "creating $VENV for fastapi_ref (pinned requirements)"
    python3 -m venv "$VENV"
    if ! timeout 300 "$VENV/bin/pip" install -q -r "$SHARED/fastapi_ref/requirements.txt"; then
      log "pip install failed or timed out: SKIPPING the FastAPI peer"; SKIP_FASTAPI=1
    fi
  fi
  if [ ! -x "$AXUM_BIN" ]; then
    log "building axum_min in $AXUM_DIR (fresh RSA keys)"
    rm -rf "$AXUM_DIR" && mkdir -p "$WORK" && cp -r "$SHARED/axum_min" "$AXUM_DIR" && chmod -R u+w "$AXUM_DIR"
    (cd "$AXUM_DIR" \
      && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_private.pem 2>/dev/null \
      && openssl rsa -in rsa_private.pem -pubout -out rsa_public.pem 2>/dev/null \
      && CARGO_TARGET_DIR="$AXUM_DIR/target" cargo build --release -q)
  fi
  if [ ! -x "$A2T_BIN" ] || ! cmp -s "$HERE/argon2-time/src/main.rs" "$A2T_DIR/src/main.rs" \
     || ! cmp -s "$HERE/argon2-time/Cargo.toml" "$A2T_DIR/Cargo.toml.orig"; then
    log "building the argon2 timer in $A2T_DIR"
    rm -rf "$A2T_DIR" && cp -r "$HERE/argon2-time" "$A2T_DIR" && cp "$HERE/argon2-time/Cargo.toml" "$A2T_DIR/Cargo.toml.orig"
    cp "$ROOT/Cargo.lock" "$A2T_DIR/Cargo.lock"  # the workspace's versions (cargo drops the rest)
    sed -i "s#\"../../crates/gatehouse-alloc\"#\"$ROOT/crates/gatehouse-alloc\"#" "$A2T_DIR/Cargo.toml"
    (cd "$A2T_DIR" && CARGO_TARGET_DIR="$A2T_DIR/target" cargo build --release -q)
  fi
  if has_phase gatehouse || has_phase rss; then
    if [ "$SKIP_BUILD" != 1 ]; then
      log "building gatehouse (release) from the current tree"
      (cd "$ROOT" && cargo build --release -p gatehouse-server --bin gatehouse)
    fi
    [ -x "$GH_BIN" ] || { log "no gatehouse binary at $GH_BIN"; exit 1; }
  fi
}

# ---------------------------------------------------------------- machine + tree description
describe() {
  {
    echo "date_utc $(date -u +%FT%TZ)"
    echo "nproc $(nproc)"
    echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "mem_total_kb $(awk '/MemTotal/{print $2}' /proc/meminfo)"
    echo "kernel $(uname -r)"
    echo "loadavg_at_start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git_head $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "git_dirty_crates $(git -C "$ROOT" status --porcelain -- crates 2>/dev/null | wc -l)"
    echo "gatehouse_bin_mtime $(date -u -r "$GH_BIN" +%FT%TZ 2>/dev/null || echo none)"
    # With SKIP_BUILD=1 the binary need not be the checkout's HEAD: name it by path and hash.
    echo "gatehouse_bin $GH_BIN sha256:$(sha256sum "$GH_BIN" 2>/dev/null | cut -c1-12)"
    echo "wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
  } >>"$REC"
}

# ---------------------------------------------------------------- gatehouse helpers
# gh_env ALG — the environment gatehouse runs with (fresh data dir each start).
GH_DATA=
GH_EXTRA_ENV=(GATEHOUSE_BENCH=1)   # extra env for the next gh_start (a harmless placeholder by default)
gh_start() {  # gh_start ALG LOGNAME
  local alg=$1 name=$2
  GH_DATA=$(mktemp -d "$WORK/gh-data.XXXXXX")
  local extra=("${GH_EXTRA_ENV[@]}")
  [ "$alg" = HS256 ] && extra+=(GATEHOUSE_JWT_ALG=HS256 GATEHOUSE_JWT_SECRET=$HS_SECRET)
  start_server "$RESULTS/$name.log" http://127.0.0.1:8100/healthz \
    env GATEHOUSE_DATA_DIR="$GH_DATA" GATEHOUSE_BIND=127.0.0.1:8100 GATEHOUSE_HASH_WORKERS=1 \
        GATEHOUSE_ADMIN_PASSWORD="$ADMIN_PW" \
        GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP=1000000 GATEHOUSE_LOGIN_MAX_FAILURES_PER_USER=1000000 \
        "${extra[@]}" "$GH_BIN" serve
  # bench user: admin logs in, creates alice (role user -> scope me)
  local tok
  tok=$(curl -sf --max-time 10 -X POST http://127.0.0.1:8100/token --data-urlencode grant_type=password \
          --data-urlencode username=admin --data-urlencode "password=$ADMIN_PW" \
        | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  curl -sf --max-time 10 -o /dev/null -X POST http://127.0.0.1:8100/admin/users -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -d "{\"username\":\"alice\",\"password\":\"$BENCH_PASSWORD\"}" \
    || { log "could not create alice on gatehouse"; return 1; }
}
gh_stop() { stop_server; rm -rf "$GH_DATA"; GH_DATA=; }

# ---------------------------------------------------------------- probes
# peer LABEL BASE — peer_bench.sh plus an idle /users/me run at 8 connections (the concurrency
# peer_bench uses for its "during login flood" phase), so flood-vs-idle compares like with like.
peer() {
  local label=$1 base=$2 line
  log "peer_bench $label"
  line=$(timeout 120 "$SHARED/peer_bench.sh" "$label" "$base") || { log "peer_bench failed for $label"; return 0; }
  echo "$line" | tee -a "$RESULTS/peer_bench.txt" >&2
  python3 - "$label" "$line" >>"$REC" <<'EOF'
import re, sys
label, line = sys.argv[1], sys.argv[2]
n = r"([\d.]+|inf|nan)"
m = re.search(r"me:\s+"+n+r" req/s p50\s+"+n+r" ms p99\s+"+n+r" ms \(non2xx (\d+)\) \| token:\s+"+n+r" req/s p50\s+"+n+r" ms p99\s+"+n+r" ms \(non2xx (\d+)\) \| me during flood: p50\s+"+n+r" ms p99\s+"+n+r" ms", line)
if m:
    for k, v in zip("me_rps me_p50 me_p99 me_bad tok_rps tok_p50 tok_p99 tok_bad fl_p50 fl_p99".split(), m.groups()):
        print(f"{label}.{k} {v}")
EOF
  local token
  token=$(curl -sf -X POST "$base/token" --data-urlencode grant_type=password --data-urlencode username=alice \
            --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me \
          | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  sleep 2
  read -r r p50 p99 bad _ < <(taskset -c 1 wrk -t1 -c8 -d"$DURATION" --latency -H "Authorization: Bearer $token" "$base/users/me" | python3 "$HERE/wrkparse.py")
  echo "$label idle /users/me c8: $r req/s p50 $p50 ms p99 $p99 ms (non2xx $bad)" | tee -a "$RESULTS/peer_bench.txt" >&2
  rec "$label.idle8_rps $r"; rec "$label.idle8_p50 $p50"; rec "$label.idle8_p99 $p99"
}

hello_floor() {  # hello_floor [KEY] — KEY=hello (default) or hello_after (the re-measure after gatehouse)
  local key=${1:-hello}
  log "axum /hello floor ($key)"
  read -r r p50 p99 bad _ < <(taskset -c 1 wrk -t1 -c"${CONNS:-64}" -d"$DURATION" --latency http://127.0.0.1:8102/hello | python3 "$HERE/wrkparse.py")
  echo "axum /hello ($key): $r req/s p50 $p50 ms p99 $p99 ms (non2xx $bad)" | tee -a "$RESULTS/peer_bench.txt" >&2
  rec "$key.rps $r"; rec "$key.p50 $p50"; rec "$key.p99 $p99"
}

# sequential logins: p50/p90/min of N logins over a fresh connection each (curl's own timer)
login_latency() {
  local key=$1 base=$2 n=${3:-20} i
  curl -sf -o /dev/null -X POST "$base/token" --data-urlencode grant_type=password --data-urlencode username=alice \
       --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me   # warm-up
  for i in $(seq 1 "$n"); do
    taskset -c 1 curl -sf -o /dev/null -w '%{time_total}\n' -X POST "$base/token" --data-urlencode grant_type=password \
      --data-urlencode username=alice --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me
  done | python3 -c '
import sys; v=sorted(float(x)*1000 for x in sys.stdin if x.strip()); n=len(v)
print("%s.login_seq_p50 %.2f\n%s.login_seq_p90 %.2f\n%s.login_seq_min %.2f\n%s.login_seq_n %d" % ("'"$key"'", v[n//2], "'"$key"'", v[int(n*0.9)], "'"$key"'", v[0], "'"$key"'", n))' >>"$REC"
  log "sequential login latency ($key): $(grep "^$key.login_seq_p50" "$REC" | tail -1 | cut -d' ' -f2) ms p50"
}

# rss_probe C — fresh gatehouse, 10 s login flood at C connections, RSS sampled every 100 ms.
rss_probe() {
  local c=$1 base_rss hwm0 peak=0 cur out wpid
  gh_start RS256 "gh_rss_c$c"
  local pid=$SERVER_PID
  sleep 1
  base_rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status); hwm0=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  out=$RESULTS/rss_c$c.wrk
  BENCH_USER=alice BENCH_PASSWORD=$BENCH_PASSWORD taskset -c 1 wrk -t1 -c"$c" -d"$RSS_DURATION" --timeout 10s --latency \
      -s "$HERE/login_status.lua" http://127.0.0.1:8100/token >"$out" 2>&1 &
  wpid=$!; PIDS+=("$wpid")
  local threads_peak=0 th
  while kill -0 "$wpid" 2>/dev/null; do
    cur=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    th=$(awk '/Threads/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    [ "${cur:-0}" -gt "$peak" ] && peak=$cur
    [ "${th:-0}" -gt "$threads_peak" ] && threads_peak=$th
    sleep 0.1
  done
  wait "$wpid" || true
  local hwm; hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  read -r r p50 p99 bad sock ok busy lim other < <(python3 "$HERE/wrkparse.py" <"$out")
  rec "rss.$c.base_kb $base_rss"; rec "rss.$c.hwm_before_kb $hwm0"; rec "rss.$c.peak_rss_kb $peak"; rec "rss.$c.hwm_kb $hwm"
  rec "rss.$c.threads_peak $threads_peak"; rec "rss.$c.rps $r"; rec "rss.$c.p50 $p50"; rec "rss.$c.p99 $p99"
  rec "rss.$c.ok $ok"; rec "rss.$c.s503 $busy"; rec "rss.$c.s429 $lim"; rec "rss.$c.other $other"; rec "rss.$c.sockerr $sock"
  log "login flood c=$c: RSS start ${base_rss} kB, peak ${peak} kB, VmHWM ${hwm} kB, threads ${threads_peak}; 2xx=$ok 503=$busy 429=$lim other=$other socket-errors=$sock; $r resp/s"
  gh_stop
}

# me_only KEY TOKEN_BASE — just the /users/me c64 run (for variants)
me_only() {
  local key=$1 base=$2 token
  token=$(curl -sf -X POST "$base/token" --data-urlencode grant_type=password --data-urlencode username=alice \
            --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me \
          | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  read -r r p50 p99 bad _ < <(taskset -c 1 wrk -t1 -c"${CONNS:-64}" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$base/users/me" | python3 "$HERE/wrkparse.py")
  echo "$key /users/me c64: $r req/s p50 $p50 ms p99 $p99 ms (non2xx $bad)" | tee -a "$RESULTS/peer_bench.txt" >&2
  rec "$key.me_rps $r"; rec "$key.me_p50 $p50"; rec "$key.me_p99 $p99"; rec "$key.me_bad $bad"
}

# gatehouse RS256 with request logging off (RUST_LOG=warn): how much the default INFO access log costs;
# then, if perf works, a 5 s cpu-clock profile of the default config under the /users/me load.
gh_extras() {
  GH_EXTRA_ENV=(RUST_LOG=warn)
  gh_start RS256 gh_rs_quiet
  GH_EXTRA_ENV=(GATEHOUSE_BENCH=1)
  me_only gh_rs_quiet http://127.0.0.1:8100
  gh_stop
  if [ "${PERF:-1}" = 1 ] && command -v perf >/dev/null && perf stat -e cpu-clock true >/dev/null 2>&1; then
    gh_start RS256 gh_perf
    local token wpid
    token=$(curl -sf -X POST http://127.0.0.1:8100/token --data-urlencode grant_type=password --data-urlencode username=alice \
              --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me \
            | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
    taskset -c 1 wrk -t1 -c64 -d8s -H "Authorization: Bearer $token" http://127.0.0.1:8100/users/me >/dev/null 2>&1 &
    wpid=$!; PIDS+=("$wpid")
    sleep 1
    timeout 20 perf record -q -e cpu-clock -F 999 -g -p "$SERVER_PID" -o "$RESULTS/gh_perf.data" -- sleep 5 >/dev/null 2>&1 || true
    wait "$wpid" || true
    timeout 60 perf report -i "$RESULTS/gh_perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
      | grep -v '^#' | grep -E '^ +[0-9.]+%' | head -40 >"$RESULTS/gh_perf_top.txt" || true
    timeout 60 perf report -i "$RESULTS/gh_perf.data" --no-children --sort dso --stdio 2>/dev/null \
      | grep -v '^#' | grep -E '^ +[0-9.]+%' | head -15 >"$RESULTS/gh_perf_dso.txt" || true
    log "perf profile: $RESULTS/gh_perf_top.txt"
    gh_stop
  fi
}

# interleaved — the throughput ratios again, from medians: /hello, FastAPI RS256, axum_min RS256
# and gatehouse RS256 all run at once (each pinned to core 0; an idle server takes no CPU) and
# wrk loads them in turn, SAMPLE each, ROUNDS times. A slow or fast minute then lands on every
# server in turn instead of on whichever was loaded at that moment; report.py uses the medians.
interleaved() {
  local rounds=${ROUNDS:-5} d=${SAMPLE:-5s} r t url rps tok_gh tok_ax tok_fa="" pids=()
  local token_of='import sys,json; print(json.load(sys.stdin)["access_token"])'
  start_server "$RESULTS/il_axum.log" http://127.0.0.1:8102/hello env JWT_ALG=RS256 BIND=127.0.0.1:8102 "$AXUM_BIN" || return 0
  pids+=("$SERVER_PID")
  if [ "$SKIP_FASTAPI" != 1 ] && start_server "$RESULTS/il_fastapi.log" http://127.0.0.1:8101/healthz \
       env -C "$SHARED/fastapi_ref" JWT_ALG=RS256 JWT_SECRET=$HS_SECRET PYTHONDONTWRITEBYTECODE=1 \
       "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port 8101 --log-level warning --no-access-log; then
    pids+=("$SERVER_PID")
  fi
  gh_start RS256 il_gh || { SERVER_PID=; return 0; }
  pids+=("$SERVER_PID")
  login() { curl -sf -X POST "$1/token" --data-urlencode grant_type=password --data-urlencode username=alice \
              --data-urlencode "password=$BENCH_PASSWORD" --data-urlencode scope=me | python3 -c "$token_of"; }
  tok_gh=$(login http://127.0.0.1:8100); tok_ax=$(login http://127.0.0.1:8102)
  [ ${#pids[@]} = 3 ] && tok_fa=$(login http://127.0.0.1:8101)
  log "interleaved: $rounds rounds of $d per server"
  for r in $(seq 1 "$rounds"); do
    for t in hello fastapi_rs axum_rs gh_rs; do
      case $t in
        hello) url=http://127.0.0.1:8102/hello; set -- ;;
        fastapi_rs) [ -n "$tok_fa" ] || continue; url=http://127.0.0.1:8101/users/me; set -- -H "Authorization: Bearer $tok_fa" ;;
        axum_rs) url=http://127.0.0.1:8102/users/me; set -- -H "Authorization: Bearer $tok_ax" ;;
        gh_rs) url=http://127.0.0.1:8100/users/me; set -- -H "Authorization: Bearer $tok_gh" ;;
      esac
      read -r rps _ < <(taskset -c 1 wrk -t1 -c"${CONNS:-64}" -d"$d" "$@" "$url" | python3 "$HERE/wrkparse.py")
      rec "il.$t.$r $rps"
    done
    log "interleaved round $r: $(grep -E "^il\.[a-z_]+\.$r " "$REC" | awk '{printf "%s=%s ", $1, $2}')"
  done
  # The three servers: gh_stop stops gatehouse (the last started); the others by PID.
  gh_stop
  for p in "${pids[@]:0:${#pids[@]}-1}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

# ---------------------------------------------------------------- main
setup
describe
log "results in $RESULTS"

# single-hash time with gatehouse's default argon2 params, on the core the servers use
# (argon2_time KEY: timed now and again right after gatehouse's login phase; report.py takes the
# faster median, so a slow minute during one timing cannot lower the login ceiling)
argon2_time() {
  local a2
  a2=$(taskset -c 0 "$A2T_BIN" 19456 2 1 15); echo "$a2" | tee -a "$RESULTS/run.log" >&2
  rec "$1.gh_ms $(echo "$a2" | sed -E 's/.*median ([0-9.]+) ms.*/\1/')"
  rec "$1.gh_min_ms $(echo "$a2" | sed -E 's/.*min ([0-9.]+) ms.*/\1/')"
}
argon2_time argon2

if has_phase peers; then
  if [ "$SKIP_FASTAPI" != 1 ]; then
    for alg in RS256 $([ "$HS256" = 1 ] && echo HS256); do
      key=fastapi_$( [ $alg = RS256 ] && echo rs || echo hs )
      if start_server "$RESULTS/$key.log" http://127.0.0.1:8101/healthz \
           env -C "$SHARED/fastapi_ref" JWT_ALG=$alg JWT_SECRET=$HS_SECRET PYTHONDONTWRITEBYTECODE=1 \
           "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port 8101 --log-level warning --no-access-log; then
        peer "$key" http://127.0.0.1:8101
      else
        log "FastAPI $alg did not start: skipped"
      fi
      stop_server
    done
  else
    log "FastAPI peer SKIPPED (SKIP_FASTAPI=1 or install failed)"; rec "fastapi.skipped 1"
  fi
  for alg in RS256 $([ "$HS256" = 1 ] && echo HS256); do
    key=axum_$( [ $alg = RS256 ] && echo rs || echo hs )
    start_server "$RESULTS/$key.log" http://127.0.0.1:8102/hello env JWT_ALG=$alg BIND=127.0.0.1:8102 "$AXUM_BIN"
    [ $alg = RS256 ] && hello_floor
    peer "$key" http://127.0.0.1:8102
    stop_server
  done
fi

if has_phase gatehouse; then
  for alg in RS256 $([ "$HS256" = 1 ] && echo HS256); do
    key=gh_$( [ $alg = RS256 ] && echo rs || echo hs )
    gh_start $alg "$key"
    [ $alg = RS256 ] && login_latency gh http://127.0.0.1:8100 20
    peer "$key" http://127.0.0.1:8100
    gh_stop
    [ $alg = RS256 ] && argon2_time argon2_after
    [ $alg = RS256 ] && [ "${GH_EXTRAS:-1}" = 1 ] && gh_extras
  done
  # The floor again, right after gatehouse: a starved minute during the first /hello would
  # otherwise flatter every "÷ /hello" ratio. report.py uses the higher of the two.
  if has_phase peers; then
    start_server "$RESULTS/axum_hello_after.log" http://127.0.0.1:8102/hello env JWT_ALG=RS256 BIND=127.0.0.1:8102 "$AXUM_BIN"
    hello_floor hello_after
    stop_server
  fi
fi

if has_phase interleaved; then
  interleaved
fi

if has_phase rss; then
  for c in $RSS_LEVELS; do rss_probe "$c"; done
fi

# PHASES=me: the quick /users/me loop used while optimising — /hello floor, axum_min RS256 and
# gatehouse RS256 at c64 in one run, printed as ratios (no FastAPI, no logins, no RSS).
if has_phase me; then
  start_server "$RESULTS/axum_rs.log" http://127.0.0.1:8102/hello env JWT_ALG=RS256 BIND=127.0.0.1:8102 "$AXUM_BIN"
  hello_floor
  me_only axum_rs http://127.0.0.1:8102
  stop_server
  gh_start RS256 gh_me
  me_only gh_rs http://127.0.0.1:8100
  gh_stop
  python3 - "$REC" <<'EOF2'
import sys
r = dict(l.split(None, 1) for l in open(sys.argv[1]) if l.strip())
f = lambda k: float(r[k].split()[0])
print("quick /users/me c64: gatehouse %.0f req/s, axum_min RS256 %.0f, /hello %.0f -> %.2fx axum_min, %.0f%% of /hello"
      % (f("gh_rs.me_rps"), f("axum_rs.me_rps"), f("hello.rps"), f("gh_rs.me_rps") / f("axum_rs.me_rps"),
         100 * f("gh_rs.me_rps") / f("hello.rps")))
EOF2
fi

echo "loadavg_at_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$REC"
[ "$PHASES" = me ] && exit 0
python3 "$HERE/report.py" "$REC" | tee "$RESULTS/report.md"
log "raw results: $REC ; report: $RESULTS/report.md"
