#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel sources checked without a GPU, with clang's OpenCL front end:
#  1. every kernels_cl/*.cl compiles on its own (common.cl + the file, no options: every macro a
#     file reads has a default) for a generic 64-bit target;
#  2. the NVIDIA fast-path kernels (kernels_cl/*_nv.cl), which only compile on NVIDIA's driver, parse
#     and type-check for nvptx (NVIDIA's front end takes `asm`, clang spells it __asm__) in every
#     variant the runtime can build: the "nvidia" lines of build/tests/ocla_variants (the scheduler's
#     plans mapped to variants: attn_mma_nv's gate kinds, feature maps, TF32 split 1 or 3, float4 rows
#     and 32-bit offsets on or off, packed sequences (VARLEN), the backward's forms REV and HT;
#     softmax_mma_nv's head dims and split), and each file's defaults.
set -euo pipefail
mkdir -p build/kernel-check
n=0
for f in kernels_cl/*.cl; do
  name=$(basename "$f" .cl)
  [ "$name" = common ] && continue
  case "$name" in *_nv) continue ;; esac  # NVIDIA inline PTX: checked below
  cat kernels_cl/common.cl "$f" > build/kernel-check/"$name".cl
  clang -x cl -cl-std=CL1.2 -target spir64 -fsyntax-only -Werror build/kernel-check/"$name".cl
  n=$((n + 1))
done
echo "kernel files compiled on their own with their defaults: $n"
# clang's nvptx target declares no vload_half / vstore_half family (NVIDIA's driver has them, as
# every OpenCL 1.2 device): declared here for the fp16 variants (OCLA_DTYPE)
cat > build/kernel-check/nv_half.h <<'EOF'
#define OV __attribute__((overloadable))
float OV vload_half(size_t, const __global half *);
float OV vload_half(size_t, const __local half *);
float2 OV vload_half2(size_t, const __local half *);
float4 OV vload_half4(size_t, const __global half *);
void OV vstore_half_rte(float, size_t, __global half *);
#undef OV
EOF
nvsrc=()
for f in kernels_cl/*_nv.cl; do
  name=$(basename "$f" .cl)
  cat kernels_cl/common.cl "$f" > build/kernel-check/"$name".cl
  nvsrc+=("$name")
done
[ -x build/tests/ocla_variants ] || cmake --build build --target ocla_variants > /dev/null
# the runtime's whole variant list, kept for 16-vendor-compile.sh (the same list: it reuses this one
# while it is newer than the enumerating binary)
build/tests/ocla_variants > build/ocla-variants.tsv 2> /dev/null
awk -F'\t' '$4 == "nvidia" { print $1 "\t" $2 }' build/ocla-variants.tsv > build/kernel-check/nvidia.tsv
declare -A seen=()
while IFS=$'\t' read -r source _; do
  [ -f build/kernel-check/"$source".cl ] || { echo "15-vendor-kernels: no kernels_cl/$source.cl"; exit 1; }
  seen[$source]=1
done < build/kernel-check/nvidia.tsv
v=$(grep -c . build/kernel-check/nvidia.tsv || true)
# each variant: clang's OpenCL front end for NVIDIA's target, on every core (xargs fails if any does)
# shellcheck disable=SC2016  # $1 and $2 are the inner shell's
tr '\t' '\n' < build/kernel-check/nvidia.tsv | xargs -d '\n' -n2 -P"$(nproc)" bash -c '
  options=$2; [ "$options" = - ] && options=""
  # shellcheck disable=SC2086  # options are separate -D words
  clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ \
        -include build/kernel-check/nv_half.h $options -fsyntax-only -Werror build/kernel-check/"$1".cl ||
    { echo "15-vendor-kernels: $1 [$2] does not compile (above)"; exit 255; }' _
for name in "${nvsrc[@]}"; do
  [ -n "${seen[$name]:-}" ] || { echo "15-vendor-kernels: ocla_variants listed no variant of $name"; exit 1; }
  clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ -fsyntax-only -Werror \
        build/kernel-check/"$name".cl
done
echo "NVIDIA fast-path kernels (${nvsrc[*]}): $v variants and the defaults parse and type-check"
