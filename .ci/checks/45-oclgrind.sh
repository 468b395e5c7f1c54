#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel sanitizer: every kernel variant the runtime builds, run at tiny shapes on Oclgrind (Debian's
# `oclgrind` 21.10, an OpenCL 1.2 device simulator) with its data-race detector (--data-races:
# races on local and global memory within a work-group and between work-groups) and its API checks
# (--check-api); its out-of-bounds checks (reads and writes past a buffer, a local array or a
# private one) are always on. Any report fails the check.
#
# What runs: tests/tools/kernel_sweep.c (its header lists every part): every op-table entry
# (every public op and form, the layers, GEMM, gate, SGD) against its fp64 reference; the entries
# that take a chunk at every chunk ocla_plan_candidates gives for this device, T = C + 3; every gate
# kind x feature map x normaliser of the forward (chunked at every candidate chunk, recurrent,
# non-causal) and the backward (with and without dg); the selftest and the probe kernel at context
# creation. Then the same softmax runs on a simulated device with 16-item work-groups, where the
# scheduler picks the one-row softmax kernel instead of the tiled one.
# Not covered: the NVIDIA tensor-core path (kernels_cl/attn_mma_nv.cl needs NVIDIA's inline PTX).
#
# Oclgrind's uninitialised-value check (--uninitialized) is not used: Debian's 21.10 build aborts on
# LLVM's `freeze` instruction in every kernel ("Unsupported instruction: freeze").
#
# Oclgrind writes its reports to stderr and leaves the program's exit status alone, so its log
# (--log) is read here: any line in it fails. A canary (a kernel with a race and an out-of-bounds
# write, `kernel_sweep oclgrind canary`) must be reported first, so the check cannot pass vacuously.
#
# Time on the 2-core development machine (shared, niced): see docs/RELIABILITY.md ("Kernel sanitizer").
# OCLA_OCLGRIND_FILTER=substring runs only the sweep's runs whose label contains it.
# Listing: build/oclgrind/variants.txt holds the build options of every program variant the sweep
# built (compare with the runtime's variant list to see what it misses).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
start=$(date +%s)
command -v oclgrind >/dev/null || { echo "oclgrind: not installed (apt-get install oclgrind)" >&2; exit 1; }
b=build
[ -d $b ] || cmake -S . -B $b -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $b -j"$jobs" --target kernel_sweep >/dev/null
out=$b/oclgrind
rm -rf $out && mkdir -p $out
sweep="$PWD/$b/tests/kernel_sweep"

# 1. the canary: both faults must be reported
oclgrind --data-races --check-api --log $out/canary.log "$sweep" oclgrind canary >$out/canary.out 2>&1 || true
if ! grep -q "Invalid write of size 4 at global memory" $out/canary.log ||
   ! grep -q "data race at local memory" $out/canary.log; then
  cat $out/canary.out $out/canary.log >&2
  echo "oclgrind: the canary's race and out-of-bounds write were not both reported: the check would prove nothing" >&2
  exit 1
fi

# 2. the sweep; 3. softmax on a device of 16-item work-groups (the one-row kernel)
fail=0
run() { # name, oclgrind options..., -- sweep arguments...
  local name=$1; shift
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
  local t0; t0=$(date +%s)
  local rc=0
  oclgrind --data-races --check-api "${opts[@]}" --log $out/$name.log "$sweep" oclgrind "$@" \
    >$out/$name.out 2>&1 || rc=$?
  cat $out/$name.out
  if [ $rc -ne 0 ] || [ -s $out/$name.log ]; then
    echo "oclgrind: $name: sweep exit status $rc, $(grep -c . $out/$name.log || true) lines of Oclgrind reports:" >&2
    head -n 80 $out/$name.log >&2
    fail=1
  fi
  echo "oclgrind: $name: $(( $(date +%s) - t0 )) s"
}
run sweep -- "${OCLA_OCLGRIND_FILTER:-}" $out/variants.txt
run small-workgroups --max-wgsize 16 -- "${OCLA_OCLGRIND_FILTER:-table softmax}" $out/variants-small.txt
if [ $fail -ne 0 ]; then
  echo "oclgrind: FAILED (reports above; full logs in $out/)" >&2
  exit 1
fi
echo "oclgrind: every kernel variant ran clean under --data-races --check-api" \
     "($(sort -u $out/variants.txt $out/variants-small.txt | grep -c .) distinct build options; $(( $(date +%s) - start )) s)"
