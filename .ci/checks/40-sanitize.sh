#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) over the library and the test
# suite, on PoCL only (OCLA_TEST_DEVICES=pocl): the sanitizers instrument host code, which is the
# same whatever the device, and one CPU driver keeps the run short.
#
# Subset: every test but softmax/long_4096 (the forward at T = 4096: softmax/shapes_vs_fp64's host
# path at a larger T, a minute of PoCL's kernel time under the sanitizers), or what
# OCLA_SANITIZE_FILTER (a Criterion glob; `*` is every test) narrows it to. Any
# sanitizer report fails the check, including leak reports that Criterion itself does not count
# (LeakSanitizer speaks at the exit of each test process, after the test has passed).
#
# Drivers dlclose() their plugins at exit, which turns pointers kept in those plugins' globals into
# unreadable "<unknown module>" leaks; tests/sanitizer/no_dlclose.c (preloaded) keeps libraries
# mapped so every report names its library. Driver suppressions: tests/sanitizer/lsan.supp.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
b=build-asan
start=$(date +%s)
cmake -S . -B $b -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCLA_SANITIZE=ON -DOCLA_BUILD_EXAMPLES=OFF \
      -DOCLA_BUILD_PERF=OFF >/dev/null
cmake --build $b -j"$jobs" --target ocla-tests
cc -shared -fPIC -O2 -o $b/no_dlclose.so tests/sanitizer/no_dlclose.c
echo "sanitize: build $(( $(date +%s) - start )) s"

# The library never prints to stdout, never exits, never aborts, never asserts: none of those
# functions may even be linked from it (fprintf is used for stderr logging only, see status.c).
if nm -u $b/libocla.a | grep -wE "abort|exit|_exit|_Exit|quick_exit|printf|vprintf|puts|putchar|__assert_fail|stdout"; then
  echo "sanitize: libocla.a references a function that prints to stdout, exits or aborts (above)" >&2
  exit 1
fi
echo "sanitize: libocla.a links no abort/exit/printf/puts/assert/stdout"

# Only the shim is preloaded (not libasan): PoCL runs the system linker for every kernel it builds,
# and children must not inherit ASan. verify_asan_link_order=0 lets the shim come first.
preload="$PWD/$b/no_dlclose.so"
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OCLA_TEST_DEVICES=pocl
export OCLA_CACHE_DIR=$PWD/$b/cache
# PoCL compiles each kernel on its first launch in a thread of its own and keeps one small block
# per compile (lsan.supp explains; matching it needs full stacks, which makes a cold run ~10x
# slower). So the run needs PoCL's kernel cache warm: in CI tests/run.sh has just run the suite on
# PoCL; standalone, the release suite is run on PoCL first (when built) to warm it.
if [ "${CI:-false}" != true ] && [ -x build/tests/ocla-tests ]; then
  OCLA_TEST_DEVICES=pocl ./build/tests/ocla-tests -j"$jobs" >/dev/null 2>&1 || true
fi
filter=${OCLA_SANITIZE_FILTER:-!(softmax/long_4096)}
log=$b/sanitize.log
start=$(date +%s)
rc=0
LD_PRELOAD="$preload" ./$b/tests/ocla-tests -j"$jobs" --filter "$filter" >"$log" 2>&1 || rc=$?
tail -n 3 "$log"
echo "sanitize: suite ($filter) on PoCL $(( $(date +%s) - start )) s"
if grep -nE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer" "$log"; then
  echo "sanitize: sanitizer reports above (full log: $log)" >&2
  grep -nE -A30 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log" | head -200 >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  cat "$log" | grep -E "\[FAIL\]|CRASH|Assertion|Synthesis" | head -50 >&2
  echo "sanitize: the suite failed under the sanitizers (rc=$rc, log: $log)" >&2
  exit 1
fi
echo "sanitize: no AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer report"
