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
# Then every variant of the runtime's list for Oclgrind's limits that those parts did not build,
# through the first request whose plan builds it (its head dims: softmax's padded DK, DV and float4
# loads, the chunked output's value tile, the recurrent form's rows per item). And the backward's
# multi-tile work-groups (TPG > 1, planned only for GPUs with waves of 32 lanes and more):
# backward/tiles_per_group, which plans as such GPUs, run on the Oclgrind device.
# Not covered: the NVIDIA tensor-core path (kernels_cl/attn_mma_nv.cl needs NVIDIA's inline PTX).
#
# Coverage, compared here: `oclgrind ocla_variants --device oclgrind --witness` lists every variant
# (source + build options) the runtime can build with the limits it reads from Oclgrind's device
# (tests/tools/ocla_variants.c: every op, request, head dim and chunk through the scheduler and
# runtime/variant_list.c); the sweep lists every program it built (program_cache.c's debug log line).
# Every portable variant of the first must be in the second, else the check fails naming each one;
# the NVIDIA-only ones are listed as excluded. With OCLA_OCLGRIND_FILTER set there is no comparison.
#
# Oclgrind's uninitialised-value check (--uninitialized) is not used: Debian's 21.10 build aborts on
# LLVM's `freeze` instruction in every kernel ("Unsupported instruction: freeze").
#
# Oclgrind writes its reports to stderr and leaves the program's exit status alone, so its log
# (--log) is read here: any line in it fails. A canary (a kernel with a race and an out-of-bounds
# write, `kernel_sweep oclgrind canary`) must be reported first, so the check cannot pass vacuously.
#
# Time on the 2-core development machine (shared, niced): see docs/RELIABILITY.md ("Kernel sanitizer").
# OCLA_OCLGRIND_FILTER=substring runs only the sweep's runs whose label contains it (in one process;
# without it, on two cores or more, the sweep runs as two processes at once: step 3 below).
# Files: build/oclgrind/list.tsv (the runtime's variants for Oclgrind), variants.txt (what the sweep
# built: source, tab, options), *.log (Oclgrind's reports), *.out (the sweep's output).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
start=$(date +%s)
command -v oclgrind >/dev/null || { echo "oclgrind: not installed (apt-get install oclgrind)" >&2; exit 1; }
b=build
[ -d $b ] || cmake -S . -B $b -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $b -j"$jobs" --target kernel_sweep ocla_variants >/dev/null
out=$b/oclgrind
rm -rf $out && mkdir -p $out
sweep="$PWD/$b/tests/kernel_sweep"
filter=${OCLA_OCLGRIND_FILTER:-}

# 1. the canary: both faults must be reported
oclgrind --data-races --check-api --log $out/canary.log "$sweep" oclgrind canary >$out/canary.out 2>&1 || true
if ! grep -q "Invalid write of size 4 at global memory" $out/canary.log ||
   ! grep -q "data race at local memory" $out/canary.log; then
  cat $out/canary.out $out/canary.log >&2
  echo "oclgrind: the canary's race and out-of-bounds write were not both reported: the check would prove nothing" >&2
  exit 1
fi

# 2. the runtime's variant list for the limits it reads from Oclgrind's device
oclgrind "$PWD/$b/tests/ocla_variants" --device oclgrind --witness >$out/list.tsv 2>$out/list.err ||
  { cat $out/list.err >&2; echo "oclgrind: ocla_variants --device oclgrind failed" >&2; exit 1; }

# 3. the sweep (with that list: the variants its own parts miss); 4. softmax on a device of
# 16-item work-groups (the one-row kernel)
fail=0
run() { # name, oclgrind options..., -- program and its arguments
  local name=$1; shift
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
  local t0; t0=$(date +%s)
  local rc=0
  oclgrind --data-races --check-api "${opts[@]}" --log $out/$name.log "$@" >$out/$name.out 2>&1 || rc=$?
  cat $out/$name.out
  # --check-api writes its reports ("OpenCL runtime error detected") to stderr, not to the log. The
  # one expected: the NVIDIA path's probe program has no kernel outside NVIDIA's compiler
  # (runtime/attention_nv.c asks for it and falls back to the portable kernels).
  local api
  api=$(awk '/OpenCL runtime error detected/ { b = 1; t = "" } b { t = t $0 "\n" }
             b && /^$/ { b = 0; if (t !~ /Kernel .mma_probe. not found/) printf "%s", t }
             END { if (b && t !~ /Kernel .mma_probe. not found/) printf "%s", t }' $out/$name.out)
  if [ $rc -ne 0 ] || [ -s $out/$name.log ] || [ -n "$api" ]; then
    echo "oclgrind: $name: exit status $rc, $(grep -c . $out/$name.log || true) lines of Oclgrind reports:" >&2
    head -n 80 $out/$name.log >&2
    printf '%s\n' "$api" | head -n 40 >&2
    fail=1
  fi
  echo "oclgrind: $name: $(( $(date +%s) - t0 )) s"
}
if [ "$jobs" -ge 2 ] && [ -z "$filter" ]; then
  # two processes at once (kernel_sweep's OCLA_SWEEP_SHARD): parts 1 to 3 and 5 split by run, then
  # part 4 split by list line, given the variants both halves of the first built (one process: 800
  # s on the 2-core machine, most of it part 4)
  shard() { # phase, shard, filter, list...
    ( OCLA_SWEEP_SHARD=$2/2 run sweep-$1$2 -- "$sweep" oclgrind "$3" $out/variants-$1$2.txt "${@:4}"; [ $fail -eq 0 ] )
  }
  shard a 0 "" & a0=$!
  shard a 1 "" & a1=$!
  wait $a0 || fail=1
  wait $a1 || fail=1
  export OCLA_SWEEP_BUILT="$out/variants-a0.txt $out/variants-a1.txt"
  shard b 0 variant $out/list.tsv & b0=$!
  shard b 1 variant $out/list.tsv & b1=$!
  wait $b0 || fail=1
  wait $b1 || fail=1
  unset OCLA_SWEEP_BUILT
  cat $out/variants-[ab][01].txt >$out/variants.txt 2>/dev/null || true
else
  run sweep -- "$sweep" oclgrind "$filter" $out/variants.txt $out/list.tsv
fi
run small-workgroups --max-wgsize 16 -- "$sweep" oclgrind "${filter:-table softmax}" $out/variants-small.txt
# the backward's multi-tile work-groups (TPG 2, 3, 4 tiles of 16 items, planned for GPU waves of 32,
# 48 and 64 lanes, which Oclgrind's limits never plan): the test that makes a context plan as such a
# GPU, on the Oclgrind device
[ -n "$filter" ] || OCLA_TEST_DEVICES=oclgrind run tiles-per-group -- "$PWD/$b/tests/ocla-tests" -j1 \
  --filter backward/tiles_per_group
if [ $fail -ne 0 ]; then
  echo "oclgrind: FAILED (reports above; full logs in $out/)" >&2
  exit 1
fi

# 5. coverage: every portable variant of the list built (and so run) by the sweep. A variant is its
# source and its build options, the options sorted so that their order does not matter; the
# context's own options (-DOCLA_HALF_BITS on a CPU device with fp32 subnormals, runtime/variant.c)
# are not the variant's.
variant() { awk -F'\t' -v want="$1" '
  want == "" || $4 == want { n = split($2, a, " "); m = 0; for (i = 1; i <= n; i++) if (a[i] !~ /^-DOCLA_HALF_BITS=/) o[++m] = a[i]; if (!m) o[++m] = "-"; n = m
    for (i = 2; i <= n; i++) for (j = i; j > 1 && o[j] < o[j-1]; j--) { t = o[j]; o[j] = o[j-1]; o[j-1] = t }
    s = $1 "\t"; for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") o[i]; print s }' | sort -u; }
if [ -z "$filter" ]; then
  variant any <$out/list.tsv >$out/expected.tsv
  variant "" <$out/variants.txt >$out/built.tsv
  missing=$(comm -23 $out/expected.tsv $out/built.tsv)
  while IFS=$'\t' read -r source options _ compiles _; do
    [ "$compiles" = any ] || echo "oclgrind: excluded: $source ($options): compiles on NVIDIA's driver only (inline PTX)"
  done <$out/list.tsv
  total=$(grep -c . $out/expected.tsv)
  if [ -n "$missing" ]; then
    echo "oclgrind: the sweep did not build $(grep -c . <<<"$missing") of the $total portable variants the runtime" \
         "builds on Oclgrind's limits (build/oclgrind/list.tsv):" >&2
    sed 's/^/  missing: /' <<<"$missing" >&2
    exit 1
  fi
  covered="; $total of $total portable variants of the runtime's list for Oclgrind built and run"
fi
echo "oclgrind: every kernel variant ran clean under --data-races --check-api" \
     "($(sort -u $out/variants.txt $out/variants-small.txt | grep -c .) distinct variants built${covered:-}; $(( $(date +%s) - start )) s)"
