#!/usr/bin/env bash
# Fuzz smoke run: builds every target in fuzz/ once and runs each for a bounded time.
#
#   scripts/fuzz-smoke.sh                      # every target, 20 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh      # longer
#   FUZZ_TARGETS="jwt_decode phc_parse" scripts/fuzz-smoke.sh
#
# Prints the executions per target and any crash; exits 1 when a target crashes (the input
# is kept under fuzz/artifacts/<target>/), 0 otherwise. When the fuzz toolchain cannot be
# set up here (cargo-fuzz cannot be installed, the compiler refuses the sanitizer flags,
# libFuzzer does not build), it prints `SKIPPED: <reason>` and exits 0.
#
# How it builds: cargo-fuzz needs nightly-only flags (-Zsanitizer=address, …). The machine
# has stable Rust only, so the build runs with RUSTC_BOOTSTRAP=1, which lets stable rustc
# and cargo accept them. AddressSanitizer is used when it works, else `--sanitizer none`
# (coverage-guided fuzzing still works; only memory-error detection in C code is lost).
#
# Other settings: FUZZ_SANITIZER (address|none; default: try address, then none),
# FUZZ_RSS_MB (per-process memory cap, default 2048), FUZZ_INPUT_TIMEOUT (seconds one
# input may take before it counts as a hang, default 10), FUZZ_INSTALL_TIMEOUT (seconds
# for `cargo install cargo-fuzz`, default 900).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
INPUT_TIMEOUT="${FUZZ_INPUT_TIMEOUT:-10}"
INSTALL_TIMEOUT="${FUZZ_INSTALL_TIMEOUT:-900}"
ALL_TARGETS="jwt_decode phc_parse form_parse basic_header config_parse"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"
LOG_DIR="$FUZZ_DIR/target/smoke-logs"
TRIPLE="x86_64-unknown-linux-gnu"

export RUSTC_BOOTSTRAP=1
# Two cores, shared with other builds: stay polite.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

skip() {
    echo "SKIPPED: $*"
    exit 0
}

command -v cargo >/dev/null 2>&1 || skip "cargo is not installed"
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) skip "fuzzing is set up for x86_64 Linux only (this is $(uname -s)-$(uname -m))" ;;
esac

# 1. cargo-fuzz, installed from crates.io when missing (bounded in time).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz (at most ${INSTALL_TIMEOUT}s)…"
    if ! timeout "$INSTALL_TIMEOUT" nice -n 10 cargo install cargo-fuzz --locked >/tmp/fuzz-smoke-install.log 2>&1; then
        tail -5 /tmp/fuzz-smoke-install.log
        skip "could not install cargo-fuzz (log: /tmp/fuzz-smoke-install.log)"
    fi
fi
echo "fuzz-smoke: $(cargo fuzz --version), $(rustc --version), RUSTC_BOOTSTRAP=1"

# 2. Does this compiler take the sanitizer flags at all? (A probe, so that a compile error in
#    the project is reported as a failure and not mistaken for a missing toolchain.)
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
echo 'pub fn f(x: &[u8]) -> usize { x.len() }' >"$probe_dir/p.rs"
sanitizers="${FUZZ_SANITIZER:-address none}"
usable=""
for s in $sanitizers; do
    flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-inline-8bit-counters --cfg fuzzing"
    [ "$s" != none ] && flags="$flags -Zsanitizer=$s"
    # shellcheck disable=SC2086
    if rustc --edition 2021 --crate-type lib -O $flags -o "$probe_dir/p.rlib" "$probe_dir/p.rs" >/dev/null 2>&1; then
        usable="$usable $s"
    fi
done
[ -n "$usable" ] || skip "rustc accepts neither -Zsanitizer=address nor the plain coverage flags with RUSTC_BOOTSTRAP=1"

# 3. Build every target once; the runs below use these binaries, so a source edit made
#    while the smoke run goes on cannot trigger a rebuild half-way.
mkdir -p "$LOG_DIR"
SANITIZER=""
for s in $usable; do
    echo "fuzz-smoke: building all targets with --sanitizer $s (first build takes several minutes)…"
    if (cd "$FUZZ_DIR" && nice -n 10 cargo fuzz build --sanitizer "$s") >"$LOG_DIR/build-$s.log" 2>&1; then
        SANITIZER="$s"
        break
    fi
    if grep -q "could not compile \`gatehouse" "$LOG_DIR/build-$s.log"; then
        grep -E "^error" -A5 "$LOG_DIR/build-$s.log" | head -40
        echo "FAILED: the project does not compile for fuzzing (log: $LOG_DIR/build-$s.log)"
        exit 1
    fi
    tail -5 "$LOG_DIR/build-$s.log"
done
[ -n "$SANITIZER" ] || skip "cargo fuzz build failed with sanitizers:$usable (logs: $LOG_DIR/build-*.log)"

# 4. Run each target for a bounded time, one after the other (one core busy).
status=0
summary=""
for t in $TARGETS; do
    bin="$FUZZ_DIR/target/$TRIPLE/release/$t"
    if [ ! -x "$bin" ]; then
        echo "FAILED: no binary for target $t"
        status=1
        continue
    fi
    corpus="$FUZZ_DIR/corpus/$t"
    artifacts="$FUZZ_DIR/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    [ -d "$FUZZ_DIR/seeds/$t" ] && seeds=("$FUZZ_DIR/seeds/$t")
    log="$LOG_DIR/$t.log"
    echo "fuzz-smoke: $t for ${SECONDS_EACH}s…"
    start=$(date +%s)
    timeout "$((SECONDS_EACH + 300))" nice -n 5 "$bin" "$corpus" "${seeds[@]}" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -timeout="$INPUT_TIMEOUT" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    [ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    if [ "$rc" -eq 0 ]; then
        line="ok     $t: ${execs:-?} executions in ${took}s (coverage ${cov:-?} edges)"
    else
        status=1
        artifact=$(grep -oE "(Test unit written to|written to) [^ ]+" "$log" | tail -1 | awk '{print $NF}')
        line="CRASH  $t: exit $rc after ${execs:-?} executions in ${took}s; input: ${artifact:-see $log}"
        echo "---- $t: crash report (full log: $log) ----"
        grep -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY|==[0-9]+==|out-of-memory|timeout after|deadly signal" "$log" | head -20
        [ -n "${artifact:-}" ] && echo "reproduce: $bin $artifact"
    fi
    echo "$line"
    summary="$summary$line"$'\n'
done

echo
echo "fuzz-smoke summary (sanitizer: $SANITIZER, ${SECONDS_EACH}s per target):"
printf '%s' "$summary"
exit "$status"
