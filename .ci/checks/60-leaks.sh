#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Leak check: tests/tools/leak_cycle.c creates a context, runs every op of the op table (tests/op_table.h)
# and destroys the context, 100 times (OCLA_LEAK_CYCLES), on PoCL. Checked by LeakSanitizer (the ASan
# build of 40-sanitize.sh): a definite leak from ocla code fails. Driver suppressions:
# tests/sanitizer/lsan.supp (each justified); drivers' dlclose() is disabled (no_dlclose.c) so that
# leaks name their library.
#
# OCLA_LEAK_TOOL=valgrind runs valgrind memcheck instead (tests/sanitizer/valgrind.supp), with
# OCLA_LEAK_CYCLES defaulting to 3: under memcheck PoCL's kernel compiler makes one cycle take
# ~2.5 min here, so 100 cycles do not fit CI; LeakSanitizer checks the same allocations.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
tool=${OCLA_LEAK_TOOL:-lsan}
device=${OCLA_LEAK_DEVICE:-pocl}
start=$(date +%s)
if [ "$tool" = valgrind ]; then
  cycles=${OCLA_LEAK_CYCLES:-3}
  b=build-rel
  cmake -S . -B $b -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCLA_BUILD_EXAMPLES=OFF -DOCLA_BUILD_PERF=OFF >/dev/null
  cmake --build $b -j"$jobs" --target leak_cycle
  valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 \
           --num-callers=40 --suppressions=tests/sanitizer/valgrind.supp ./$b/tests/leak_cycle "$cycles" "$device"
  echo "leaks: valgrind memcheck, $cycles cycles on $device: no definite leak, no memory error ($(( $(date +%s) - start )) s)"
  exit 0
fi
cycles=${OCLA_LEAK_CYCLES:-100}
b=build-asan
cmake -S . -B $b -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCLA_SANITIZE=ON -DOCLA_BUILD_EXAMPLES=OFF \
      -DOCLA_BUILD_PERF=OFF >/dev/null
cmake --build $b -j"$jobs" --target leak_cycle
cc -shared -fPIC -O2 -o $b/no_dlclose.so tests/sanitizer/no_dlclose.c
# Only the shim is preloaded (not libasan): PoCL runs the system linker for every kernel it builds,
# and children must not inherit ASan. verify_asan_link_order=0 lets the shim come first.
preload="$PWD/$b/no_dlclose.so"
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "leaks: build $(( $(date +%s) - start )) s"
# Warm PoCL's own kernel cache outside the sanitizer (PoCL compiles each kernel on first launch in a
# thread of its own and keeps a 16-byte block per compile: see lsan.supp). In CI the suite has
# already run on PoCL, so this is quick; it also keeps LLVM's compile out of the ASan run's time.
[ -x build/tests/leak_cycle ] && ./build/tests/leak_cycle 1 "$device" >/dev/null 2>&1 || true
# The checker must be on: a run that leaks on purpose must fail.
if LD_PRELOAD="$preload" ./$b/tests/leak_cycle 1 "$device" canary >$b/leak-canary.log 2>&1 ||
   ! grep -q "Direct leak of 4096 byte(s) in 1 object(s)" $b/leak-canary.log; then
  cat $b/leak-canary.log >&2
  echo "leaks: LeakSanitizer did not catch the deliberate leak: the check would prove nothing" >&2
  exit 1
fi
start=$(date +%s)
if ! LD_PRELOAD="$preload" ./$b/tests/leak_cycle "$cycles" "$device" >$b/leak-cycle.log 2>&1; then
  cat $b/leak-cycle.log >&2
  echo "leaks: leak cycle failed (above)" >&2
  exit 1
fi
cat $b/leak-cycle.log
echo "leaks: LeakSanitizer, $cycles create/run-every-op/destroy cycles on $device: no leak ($(( $(date +%s) - start )) s)"
