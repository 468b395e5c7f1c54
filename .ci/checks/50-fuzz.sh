#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Short libFuzzer run (clang, ASan+UBSan, library instrumented for coverage) of every
# tests/fuzz/fuzz_*.c target, seeded from the committed corpus tests/fuzz/corpus/<target>/.
#   1. replay: the committed corpus and tests/fuzz/regressions/<target>/ (inputs that once
#      crashed: they must pass now) run once, each input checked;
#   2. fuzz: OCLA_FUZZ_SECONDS (default 30) seconds per target, new inputs kept in a scratch
#      directory (the repo's corpus is only grown by hand: see tests/fuzz/README.md).
# A crash, sanitizer report, leak or timeout fails the check and leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
secs=${OCLA_FUZZ_SECONDS:-30}
b=build-fuzz
start=$(date +%s)
CC=clang cmake -S . -B $b -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCLA_FUZZ=ON -DOCLA_SANITIZE=ON \
      -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" -DOCLA_BUILD_EXAMPLES=OFF -DOCLA_BUILD_PERF=OFF >/dev/null
targets=()
for src in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
[ -n "${OCLA_FUZZ_TARGETS:-}" ] && read -r -a targets <<<"$OCLA_FUZZ_TARGETS"   # e.g. "fuzz_api" 
cmake --build $b -j"$jobs" --target "${targets[@]}"
cc -shared -fPIC -O2 -o $b/no_dlclose.so tests/sanitizer/no_dlclose.c
echo "fuzz: build $(( $(date +%s) - start )) s"

# Drivers dlclose() kernels and plugins, which makes LSan report pointers held in their globals
# as "<unknown module>" leaks; keep libraries mapped (tests/sanitizer/no_dlclose.c).
export LD_PRELOAD=$PWD/$b/no_dlclose.so
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan-fuzz.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OCLA_LOG=quiet
total_runs=0
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  work=$b/corpus-$t
  rm -rf "$work" && mkdir -p "$work" "$b/artifacts-$t"
  seeds=("$corpus")
  [ -d tests/fuzz/regressions/$t ] && seeds+=(tests/fuzz/regressions/$t)
  # 1. replay every committed input (run individually, so each is checked)
  n_replay=$(find "${seeds[@]}" -type f | wc -l)
  find "${seeds[@]}" -type f -print0 | xargs -0 -r ./$b/tests/$t -runs=1 >"$b/replay-$t.log" 2>&1 || {
    tail -40 "$b/replay-$t.log" >&2; echo "fuzz: $t fails on a committed input" >&2; exit 1; }
  # 2. fuzz
  s=$(date +%s)
  ./$b/tests/$t -max_total_time="$secs" -max_len=4096 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$b/artifacts-$t/" "$work" "${seeds[@]}" >"$b/fuzz-$t.log" 2>&1 || {
    tail -60 "$b/fuzz-$t.log" >&2; ls -l "$b/artifacts-$t" >&2
    echo "fuzz: $t found a failing input (kept in $b/artifacts-$t/; add it to tests/fuzz/regressions/$t/ with the fix)" >&2
    exit 1; }
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$b/fuzz-$t.log" | grep -oE "[0-9]+$" || echo 0)
  cov=$(grep -oE "cov: [0-9]+" "$b/fuzz-$t.log" | tail -1 || true)
  found=$(find "$work" -type f | wc -l)
  total_runs=$(( total_runs + runs ))
  echo "fuzz: $t: replayed $n_replay committed inputs; $runs executions in $(( $(date +%s) - s )) s, $cov," \
       "committed corpus $(find "$corpus" -type f | wc -l) files, $found new inputs"
done
echo "fuzz: $total_runs executions in total, no crash, sanitizer report or leak"
