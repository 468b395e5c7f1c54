#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every kernel variant the runtime can build, compiled by the vendors' own compilers, without a GPU.
#
# The variants come from build/tests/ocla_variants (tests/tools/ocla_variants.c: the scheduler's plans
# for every op, request, chunk and device profile, mapped to variants by the function the ops build
# their kernels through); nothing here lists -D options by hand. Each variant is common.cl + its
# kernels_cl/<source>.cl with its build options, compiled
#   amd:<gfx>:O3   clang-15 for amdgcn-amd-amdhsa with the ROCm device libraries (Debian 12:
#                  rocm-device-libs; its 5.2 release has no gfx1100 ISA file, so one is made here from
#                  gfx1030's with the ISA version changed), fully linked by ld.lld: gfx90a (CDNA2,
#                  wave64), gfx1030 (RDNA2), gfx1100 (RDNA3)
#   amd:<gfx>:O0   the same without optimisation: every call that is not inlined must link (a helper
#                  declared plain `inline` in common.cl fails here with "undefined hidden symbol"):
#                  gfx90a for every portable variant, gfx1030 and gfx1100 for AMD's
#   intel:<dev>    Intel's offline compiler ocloc (Debian: unpacked from intel-opencl-icd): dg2, tgllp, pvc
#   spirv          clang-15 -O0 to SPIR-V 1.0 (llvm-spirv-15; its default, 1.4, breaks 1.4's rule that
#                  every global an entry point uses is in its interface), validated by spirv-val
#                  (spirv-tools) for OpenCL 1.2
# and the check fails on any error, or where a kernel the enumeration names is not in the AMD
# object. It prints per variant and target the largest of its kernels' registers (AMD: VGPR, SGPR,
# AGPR; Intel: GRF mode and SIMD width), local memory (LDS/SLM: static only; most tiles are __local
# arguments, sized by the plan), scratch (AMD: private segment; Intel: private bytes per work-item and
# scratch per hardware thread) and spills (AMD: VGPR+SGPR spill counts; Intel reports no count: its
# spills are in the scratch bytes, and on tgllp and pvc so are the private arrays IGC does not keep in
# registers, whose private column is 0 there: docs/data/vendor-spill-options-2026-11-27.txt). gfx1100
# compiles with `-mllvm -amdgpu-limit-to-128-vgprs=false`: clang 15's AMDGPU back end otherwise never
# gives a GFX11 kernel more than 128 VGPRs, a cap LLVM 16 dropped (ROCm's RDNA3 releases are LLVM 16 and
# later); with the option clang 15 spilled in none of the 9 kernels measured, as clang 16 and 19 (its
# VGPR counts are gfx1030's, at times above clang 19's: bwd_A_tiled 186 against 52; the same file).
# Per-kernel numbers: build/vendor-compile/resources.tsv.
#
# Half storage (variants with -DOCLA_DTYPE, OCLA_GTYPE or OCLA_OTYPE: bf16 / fp16 tensors; the same
# kernels with other load and store macros) compiles like every other variant: on every target of its
# vendor in the full scope. At 699 portable variants (392 half) that is 3531 compiles, 1.2-1.3 times
# the CPU time of compiling half storage on each vendor's first target only (2887, the rule before),
# and every is 5592, about 2.0-2.2 times (docs/KERNELS.md: how these were estimated).
# Scope (OCLA_VENDOR_SCOPE): full, the default (CI's), compiles on each vendor's targets every variant
# the runtime builds on that vendor's devices (`ocla_variants --profiles amd|intel`: the plans of the
# AMD and Intel rows of the parameter table, every request and forced chunk), and every portable
# variant for gfx90a's -O0 link check and SPIR-V (the portability checks); `every` adds every portable
# variant on every target (the other vendors' variants too: CPU kernels, NVIDIA's portable fallbacks,
# Apple and mobile tiles). sample (local runs) is described below. CPU time per compile on this machine
# (the backward's 16-kernel program is the slowest): ocloc 0.3-11 s, AMD -O3 0.15-6.5 s, -O0 0.15-1 s,
# SPIR-V 0.1 s. One `every` run of 292 variants (2336 compiles) took 5347 CPU-seconds, ocloc about two
# thirds; the `full` scope's 1712 of them 3790; in CI (333 variants, 1938 compiles) 3967 CPU-s,
# 2237 s; `every` at 333 variants is 2664 compiles, about 6100 CPU-s at that run's rate
# (docs/KERNELS.md says how each was measured). ocloc runs as `ocloc multi`, 8 compiles of one
# device per process (OCLA_VENDOR_BATCH): the same binaries, 0.05-0.16 CPU-s less per compile (IGC
# loaded once), dispatched before the AMD and SPIR-V jobs. Cheaper ways measured and not taken: one
# ocloc for the three Intel devices (a fat binary: as much CPU as three runs; its front end is
# 0.1-0.3 s of 1-11), one clang front end for every AMD target (the front end is under 0.1 s: the
# time is in optimisation and code generation, both per target), compiling each distinct
# preprocessed program once (697 of the 699 portable variants are distinct) or each distinct kernel
# once (1577 of the 2842 kernels of those programs are distinct, tests/tools/vendor_instances.py; but
# a kernel compiled alone costs 1.6-2.2 times its share of the program, and on AMD gets other
# registers than in the program the runtime builds: other inlining); forcing IGC's SIMD width (on dg2
# it compiled the backward's 16 kernels about 23 times, a second width for about 7, and kept one;
# the width it keeps is part of the report). The -O0 link check runs on gfx90a for every portable
# variant (the `inline` linking failure it is for does not depend on the target) and, for the issue's
# "optimisation on and off" on every AMD target, on gfx1030 and gfx1100 for AMD's variants: about 340
# compiles each at about 0.25 CPU-seconds (gfx90a -O0 in the CI run of 2026-11-27: 184 CPU-s for 738),
# some 170 CPU-seconds, 1.5 minutes of CI's two cores, in all. The CPU seconds per target of a run are
# in the data file it writes (docs/data/vendor-compile-*.tsv).
# sample keeps every variant for gfx90a -O3, -O0 and SPIR-V and, for the seven
# other targets, the first variant of each (source, kernels, gate / normaliser / one-row macros)
# group and every 6th of the rest. OCLA_VENDOR_ONLY=<regex> keeps the variants whose "source
# options" match; OCLA_VENDOR_JOBS compiles run at once (2); OCLA_VENDOR_KEEP=1 resumes an
# interrupted run. A run that passes writes its per-kernel numbers to build/vendor-compile/data.tsv
# (tests/tools/vendor_data.py; OCLA_VENDOR_DATA=<file> copies it there too), from which
# tests/tools/vendor_table.py writes docs/KERNELS.md's table; a `full` run fails where the data file
# that table was made from lacks a variant the run compiled for AMD or Intel
# (tests/tools/vendor_stale.py): the table cannot go stale silently.
# Recorded results (tests/tools/vendor_recorded.py): that data file records each variant's input (a
# hash of its program text, options and kernels) and the compilers' versions; an AMD -O3 or Intel
# compile whose input and compilers are those recorded is not run again (a compiler makes the same
# binary from the same input), its recorded numbers stand for it, and one in 32 of them, chosen by
# input, is compiled again and must give the recorded numbers. The -O0 links and SPIR-V always run.
# A full run fails where the data file lacks a variant or records other inputs for it (an edited
# kernel): the run's own data file, committed as the table's, makes the next run reuse its numbers.
# Without recorded results the full scope took 7191 CPU-seconds on 2026-11-29 (over an hour of CI's 2
# cores); with them 865 (the links, SPIR-V and the compiles that check the recorded numbers), 482 s in
# a fresh-clone CI run. OCLA_VENDOR_RECORDED=0 compiles everything.
set -euo pipefail
dir=build/vendor-compile
devlibs=/usr/lib/x86_64-linux-gnu/amdgcn/bitcode

# ---- one Intel job: variants $2 (line numbers of variants.tsv, comma-separated) on intel:<device> $3 ----
# One `ocloc multi` process compiles the batch (the same binaries as one `ocloc compile` each, without
# loading IGC per compile); its log is split per variant, and one intel_resources.py reads them all.
if [ "${1:-}" = --one ] && [[ $3 == intel:* ]]; then
  ids=${2//,/ } dev=${3#intel:}
  batch="$dir/out/b${2%%,*}.intel-$dev" n=0
  : > "$batch.list"
  for id in $ids; do
    IFS=$'\t' read -r source options _ < <(sed -n "${id}p" "$dir/variants.tsv")
    [ "$options" = - ] && options=""
    : > "$dir/out/$id.intel-$dev.res"
    rm -f "$dir/out/$id.$dev" "$dir/out/$id.intel-$dev.err" "$dir/out/$id.intel-$dev.res.tmp"
    printf -- '-file %s -device %s -options "-cl-std=CL1.2 %s" -output_no_suffix -out_dir %s -output %s\n' \
      "$dir/src/$source.cl" "$dev" "$options" "$dir/out" "$id.$dev" >> "$batch.list"
    n=$((n + 1))
  done
  # no -q: it would keep the build log of a failing compile out of the log; "Command number N:" starts
  # the N-th compile's part
  ocloc multi "$batch.list" > "$batch.log" 2>&1 || true
  awk -v ids="$ids" -v out="$dir/out" -v dev="$dev" 'BEGIN { split(ids, I, " ") }
    /^Command number [0-9]+:/ { f = out "/" I[$3 + 0] ".intel-" dev ".err"; next }
    /^Build command [0-9]+: / { next }
    f != "" { print > f }' "$batch.log"
  bins=()
  for id in $ids; do
    if [ -s "$dir/out/$id.$dev" ]; then bins+=("$dir/out/$id.$dev"); else
      [ -s "$dir/out/$id.intel-$dev.err" ] || echo "no binary (ocloc multi's log: $batch.log)" > "$dir/out/$id.intel-$dev.err"; fi
  done
  if [ "${#bins[@]}" -gt 0 ]; then
    # file <TAB> kernel <TAB> numbers: to <id>.intel-<dev>.res, as "id target kernel numbers"
    python3 tests/tools/intel_resources.py --names "${bins[@]}" 2>> "$batch.log" |
      awk -F'\t' -v t="intel:$dev" -v out="$dir/out" -v dev="$dev" '
      { id = $1; sub(/.*\//, "", id); sub(/\..*/, "", id)
        print id "\t" t "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6 "\t" $7 > (out "/" id ".intel-" dev ".res.tmp") }'
    for b in "${bins[@]}"; do
      id=${b##*/}; id=${id%%.*}
      if [ -s "$dir/out/$id.intel-$dev.res.tmp" ]; then
        mv "$dir/out/$id.intel-$dev.res.tmp" "$dir/out/$id.intel-$dev.res"
        rm -f "$b" "$b.spv" "$dir/out/$id.intel-$dev.err"
      else
        echo "intel_resources.py could not read its binary (log: $batch.log)" >> "$dir/out/$id.intel-$dev.err"
      fi
    done
  fi
  times > "$batch.cpu" # its second line: the compilers' CPU time, user and system
  echo "compiles $n" >> "$batch.cpu"
  failed=0
  for id in $ids; do [ -s "$dir/out/$id.intel-$dev.res" ] || failed=1; done
  [ "$failed" = 1 ] || rm -f "$batch.list" "$batch.log" # kept where a variant failed
  exit 0
fi

# ---- one job: variant number $2 (line of variants.tsv) on target $3 (AMD, SPIR-V) ----
if [ "${1:-}" = --one ]; then
  id=$2 target=$3
  IFS=$'\t' read -r source options kernels _ < <(sed -n "${id}p" "$dir/variants.tsv")
  [ "$options" = - ] && options=""
  src="$dir/src/$source.cl" base="$dir/out/$id.${target//:/-}"
  res="$base.res"
  : > "$res"
  # shellcheck disable=SC2086  # options are separate -D words
  case $target in
  amd:*)
    IFS=: read -r _ gfx opt <<< "$target"
    gfx11=() # gfx1100 without clang 15's 128-VGPR cap, as LLVM 16 and later (ROCm's RDNA3 compilers) compile it
    [ "$gfx" = gfx1100 ] && gfx11=(-mllvm -amdgpu-limit-to-128-vgprs=false)
    if ! clang-15 -x cl -cl-std=CL1.2 -target amdgcn-amd-amdhsa -mcpu="$gfx" -"$opt" "${gfx11[@]}" \
         --rocm-device-lib-path="$dir/devlibs" $options "$src" -o "$base.co" > "$base.err" 2>&1; then
      exit 0
    fi
    # the code object's metadata (amdhsa.kernels): kernel-level keys are indented 4, their args' deeper
    llvm-readelf-15 --notes "$base.co" | awk -v id="$id" -v t="$target" '
      function flush() {
        if (v["name"] != "") print id "\t" t "\t" v["name"] "\t" v["vgpr_count"] "\t" v["sgpr_count"] "\t" \
          v["agpr_count"] + 0 "\t" v["group_segment_fixed_size"] "\t" v["private_segment_fixed_size"] "\t" \
          v["vgpr_spill_count"] + v["sgpr_spill_count"]
        delete v }
      /^  - \./ { flush() }
      /^  - \.|^    \./ { key = $0; sub(/^ *-? *\./, "", key); val = key; sub(/:.*/, "", key); sub(/^[^:]*: */, "", val); v[key] = val }
      END { flush() }' > "$res.tmp"
    for k in ${kernels//,/ }; do # every kernel the enumeration names is in the object
      grep -qP "\t$k\t" "$res.tmp" || echo "kernel $k (named by the plans) is not in the program" >> "$base.err"
    done
    grep -q "is not in the program" "$base.err" && exit 0
    mv "$res.tmp" "$res"
    rm -f "$base.co" "$base.err"
    ;;
  spirv)
    if clang-15 -x cl -cl-std=CL1.2 -target spir64 -O0 -c -emit-llvm $options "$src" -o "$base.bc" > "$base.err" 2>&1 &&
       llvm-spirv-15 --spirv-max-version=1.0 "$base.bc" -o "$base.spv" >> "$base.err" 2>&1 &&
       spirv-val --target-env opencl1.2 "$base.spv" >> "$base.err" 2>&1; then
      printf '%s\tspirv\t-\tvalid\n' "$id" > "$res"
      rm -f "$base.err"
    fi
    rm -f "$base.bc" "$base.spv"
    ;;
  esac
  times > "$base.cpu" # its second line: the compilers' CPU time, user and system
  exit 0
fi

start=$(date +%s)
scope=${OCLA_VENDOR_SCOPE:-full}
case $scope in full | every | sample) ;; *) echo "16-vendor-compile: OCLA_VENDOR_SCOPE is full, every or sample"; exit 1 ;; esac
# ocloc without the Intel ICD: installing intel-opencl-icd registers an OpenCL platform for every
# program on the machine (the test suite would see it, and the ICD loader's path through it aborts
# the AddressSanitizer checks), so unless ocloc is already there its package is unpacked under build/
if ! command -v ocloc > /dev/null; then
  o=$PWD/build/ocloc-root
  if [ ! -x "$o/usr/bin/ocloc" ]; then
    rm -rf "$o" && mkdir -p "$o"
    (cd "$o" && apt-get download -q intel-opencl-icd > /dev/null 2>&1) || true
    for f in "$o"/intel-opencl-icd_*.deb; do [ -e "$f" ] && dpkg -x "$f" "$o"; done
  fi
  export PATH="$o/usr/bin:$PATH" LD_LIBRARY_PATH="$o/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
for tool in clang-15 ld.lld-15 llvm-readelf-15 llvm-dis-15 llvm-as-15 llvm-spirv-15 spirv-val ocloc python3; do
  command -v "$tool" > /dev/null || { echo "16-vendor-compile: $tool not found (tests/run.sh installs it in CI mode)"; exit 1; }
done
[ -f "$devlibs/ocml.bc" ] || { echo "16-vendor-compile: no ROCm device libraries in $devlibs (rocm-device-libs)"; exit 1; }
mkdir -p "$dir"
[ -x build/tests/ocla_variants ] || cmake --build build --target ocla_variants > /dev/null
# the three enumerations at once (the whole list: 15-vendor-kernels.sh's where it made it)
pids=()
for v in amd intel; do
  build/tests/ocla_variants --profiles "$v" 2> /dev/null | cut -f1,2 > "$dir/variants-$v.new" &
  pids+=($!)
done
if [ build/ocla-variants.tsv -nt build/tests/ocla_variants ]; then # 15-vendor-kernels.sh's, of this binary
  cp build/ocla-variants.tsv "$dir/variants.new"
else
  build/tests/ocla_variants > "$dir/variants.new"
fi
for p in "${pids[@]}"; do wait "$p"; done # a failed enumeration stops the check (set -e)
# OCLA_VENDOR_KEEP=1 resumes an interrupted run: the compiles that succeeded are kept if the variant
# list is the same (its line numbers name them)
if [ "${OCLA_VENDOR_KEEP:-0}" = 1 ] && cmp -s "$dir/variants.new" "$dir/variants.tsv"; then
  keep=1
else
  keep=0
  find "$dir" -mindepth 1 ! -name 'variants*.new' -delete
fi
mv "$dir/variants.new" "$dir/variants.tsv"
for v in amd intel; do mv "$dir/variants-$v.new" "$dir/variants-$v.tsv"; done
mkdir -p "$dir/src" "$dir/out" "$dir/devlibs"

# the device libraries, with a gfx1100 ISA file where the distribution's release predates it
for f in "$devlibs"/*.bc; do ln -sf "$f" "$dir/devlibs/"; done
if [ ! -e "$dir/devlibs/oclc_isa_version_1100.bc" ]; then
  llvm-dis-15 "$devlibs/oclc_isa_version_1030.bc" -o - | sed 's/i32 10300/i32 11000/' |
    llvm-as-15 -o "$dir/devlibs/oclc_isa_version_1100.bc"
fi
for f in kernels_cl/*.cl; do cat kernels_cl/common.cl "$f" > "$dir/src/$(basename "$f")"; done

every=(amd:gfx90a:O3 amd:gfx90a:O0 spirv)
others=(amd:gfx1030:O3 amd:gfx1100:O3 amd:gfx1030:O0 amd:gfx1100:O0 intel:dg2 intel:tgllp intel:pvc)
vendor=() # full: the targets that take their vendor's variants only
[ "$scope" = every ] && every+=("${others[@]}") && others=()
[ "$scope" = full ] && every=(amd:gfx90a:O0 spirv) && vendor=(amd:gfx90a:O3 "${others[@]}") && others=()
# jobs: every portable variant on each target of `every`; on `vendor`, the variants of that vendor's
# list; on `others`, the first variant of each (source, kernels, gate/normaliser/one-row macros)
# group and every 6th of the rest of the sorted list (tile sizes vary along it)
awk -F'\t' -v every="${every[*]}" -v vendor="${vendor[*]}" -v others="${others[*]}" -v only="${OCLA_VENDOR_ONLY:-.}" '
  BEGIN { ne = split(every, E, " "); nv = split(vendor, VT, " "); no = split(others, O, " ") }
  FILENAME ~ /variants-amd/ { amd[$1 "\t" $2] = 1; next }
  FILENAME ~ /variants-intel/ { intel[$1 "\t" $2] = 1; next }
  $4 != "any" || ($1 " " $2) !~ only { next }
  { for (i = 1; i <= ne; i++) print FNR, E[i]
    for (i = 1; i <= nv; i++) if ((VT[i] ~ /^amd/ && ($1 "\t" $2) in amd) || (VT[i] ~ /^intel/ && ($1 "\t" $2) in intel))
      print FNR, VT[i]
    g = $1 " " $3; n = split($2, w, " ")
    for (j = 1; j <= n; j++) if (w[j] ~ /^-D(USE_G|USE_GK|USE_G_GAMMA|USE_NORM|ONE_ROW)=/) g = g " " w[j]
    if (!(g in seen) || ++k % 6 == 0) { seen[g] = 1; for (i = 1; i <= no; i++) print FNR, O[i] } }' \
  "$dir/variants-amd.tsv" "$dir/variants-intel.tsv" "$dir/variants.tsv" > "$dir/jobs.txt"
nvar=$(awk -F'\t' '$4 == "any"' "$dir/variants.tsv" | wc -l)
nnv=$(awk -F'\t' '$4 == "nvidia"' "$dir/variants.tsv" | wc -l)
echo "variants: $nvar portable + $nnv NVIDIA-only (checked by 15-vendor-kernels.sh); $(wc -l < "$dir/jobs.txt") compiles, scope $scope"
# the data file docs/KERNELS.md's table was made from: its recorded numbers stand for the AMD -O3 and
# Intel compiles whose inputs are unchanged (tests/tools/vendor_recorded.py; one in 32 of them is
# compiled again and compared), and a full run fails where it is stale (below)
# shellcheck disable=SC2016  # the backquotes are the document's
table=$(sed -n 's|^Made by `tests/tools/vendor_table.py \(docs/data/[^ `]*\.tsv\) docs/KERNELS.md`.*|\1|p' docs/KERNELS.md)
python3 tests/tools/vendor_recorded.py plan "$dir" "$table"
while read -r id target; do # those without a result: all but the recorded ones (and, resuming, the done)
  [ -s "$dir/out/$id.${target//:/-}.res" ] || echo "$id $target"
done < "$dir/jobs.txt" |
  # each Intel device's compiles in batches of OCLA_VENDOR_BATCH (8), dispatched first: the longest
  # jobs start first and the short AMD and SPIR-V ones fill the end, so both cores stay busy to it
  awk -v b="${OCLA_VENDOR_BATCH:-8}" '
    $2 ~ /^intel:/ { q[$2] = q[$2] (q[$2] == "" ? "" : ",") $1; if (++c[$2] == b) { print q[$2], $2; q[$2] = ""; c[$2] = 0 }; next }
    { rest[++m] = $0 }
    END { for (t in q) if (q[t] != "") print q[t], t; for (i = 1; i <= m; i++) print rest[i] }' |
  xargs -r -P"${OCLA_VENDOR_JOBS:-2}" -n2 bash "$0" --one || true # a job that broke leaves no result: counted below

# ---- results ----
cat "$dir"/out/*.res > "$dir/resources.tsv" 2>/dev/null || true
fail=0
while read -r id target; do
  base="$dir/out/$id.${target//:/-}"
  if [ ! -s "$base.res" ]; then
    fail=$((fail + 1))
    IFS=$'\t' read -r source options _ < <(sed -n "${id}p" "$dir/variants.tsv")
    echo "FAILED: $source [$options] on $target:"
    head -20 "$base.err" 2>/dev/null | sed 's/^/    /'
  fi
done < "$dir/jobs.txt"
# per variant and target: the largest of its kernels' numbers
awk -F'\t' 'NR == FNR { src[FNR] = $1; opt[FNR] = $2; next }
  { k = $1 "\t" $2
    if (!(k in n)) { order[++m] = k; n[k] = 0 }
    n[k]++
    for (i = 4; i <= NF; i++) if (!((k, i) in mx) || $i + 0 > mx[k, i] + 0) mx[k, i] = $i }
  END {
    print "variant\ttarget\tregisters\tlocal\tscratch/spills"
    for (j = 1; j <= m; j++) {
      k = order[j]; split(k, a, "\t"); t = a[2]
      if (t ~ /:O0$/) r = "linked\t-\t-" # a link check: its unoptimised numbers mean nothing
      else if (t ~ /^amd/) r = sprintf("vgpr %s sgpr %s agpr %s\tlds %s\tscratch %s spills %s", mx[k,4], mx[k,5], mx[k,6], mx[k,7], mx[k,8], mx[k,9])
      else if (t ~ /^intel/) r = sprintf("grf %s simd %s\tslm %s\tprivate %s scratch %s", mx[k,4], mx[k,5], mx[k,6], mx[k,7], mx[k,8])
      else r = "valid\t-\t-"
      print src[a[1]] " " opt[a[1]] "\t" t "\t" r
    } }' "$dir/variants.tsv" <(sort -t$'\t' -k1,1n -k2,2 "$dir/resources.tsv")
# CPU seconds per target (an idle 2-core machine takes about half the total in wall time)
for f in "$dir"/out/*.cpu; do
  t=${f##*/}; t=${t#*.}; t=${t%.cpu}
  awk -v t="$t" 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
    NR == 3 && $1 == "compiles" { n = $2 } END { print t, s, n == "" ? 1 : n }' "$f" # an Intel batch: n compiles
done | awk '{ c[$1] += $2; n[$1] += $3; all += $2 } END {
  for (t in c) printf "cpu %-16s %4d compiles %7.1f s\n", t, n[t], c[t]; printf "cpu total %.1f s\n", all }' | sort
python3 tests/tools/vendor_recorded.py verify "$dir" || fail=$((fail + 1))
took=$(( $(date +%s) - start ))
echo "16-vendor-compile: $(wc -l < "$dir/jobs.txt") compiles of $nvar variants ($(grep -c . "$dir/recorded.txt" || true)" \
     "of them recorded, not run again), $fail failed, $took s"
[ "$fail" = 0 ] || exit 1
# the run's data file (about a second): build/vendor-compile/data.tsv, and OCLA_VENDOR_DATA's file
took="$took s"; [ "$keep" = 1 ] && took="$took (the last part of a resumed run)"
python3 tests/tools/vendor_data.py "$dir" "$scope" "$took" "$dir/data.tsv"
[ -z "${OCLA_VENDOR_DATA:-}" ] || cp "$dir/data.tsv" "$OCLA_VENDOR_DATA"
# a full run: the data file docs/KERNELS.md's table was made from must have every variant this run
# compiled for AMD and Intel (tests/tools/vendor_stale.py; tests/test_plan_spills.c reads that file too)
if [ "$scope" = full ]; then
  if [ -z "$table" ] || [ ! -f "$table" ]; then
    echo "16-vendor-compile: docs/KERNELS.md names no data file of its vendor table"
    exit 1
  fi
  if ! python3 tests/tools/vendor_stale.py "$dir/data.tsv" "$table"; then
    new="docs/data/vendor-compile-$(date -u +%F)-full.tsv"
    echo "16-vendor-compile: docs/KERNELS.md's vendor table is stale: this run compiled variants its data file"
    echo "  $table lacks or records for other inputs (edited since). Regenerate it from a full run (this"
    echo "  one's data, without compiling again; a later run then reuses its numbers):"
    echo "    cp $dir/data.tsv $new   # or: OCLA_VENDOR_DATA=$new bash .ci/checks/16-vendor-compile.sh"
    echo "    python3 tests/tools/vendor_table.py $new docs/KERNELS.md"
    echo "  then update the text above the table (date, commit, counts) and commit both"
    exit 1
  fi
fi
