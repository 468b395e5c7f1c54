#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel sources checked without a GPU, with clang's OpenCL front end:
#  1. every kernels_cl/*.cl compiles on its own (common.cl + the file, no options: every macro a
#     file reads has a default) for a generic 64-bit target;
#  2. the NVIDIA fast-path kernels, which only compile on NVIDIA's driver, parse and type-check for
#     nvptx (NVIDIA's front end takes `asm`, clang spells it __asm__) in every variant the runtime
#     can build: gate none / USE_G / USE_G_GAMMA / USE_GK, three feature maps, TF32 split 1 or 3, float4 rows
#     and 32-bit offsets on or off; and the backward's forms (REV, HT; every gate kind, identity map).
set -euo pipefail
mkdir -p build/kernel-check
n=0
for f in kernels_cl/*.cl; do
  name=$(basename "$f" .cl)
  [ "$name" = common ] && continue
  [ "$name" = attn_mma_nv ] && continue  # NVIDIA inline PTX: checked below
  cat kernels_cl/common.cl "$f" > build/kernel-check/"$name".cl
  clang -x cl -cl-std=CL1.2 -target spir64 -fsyntax-only -Werror build/kernel-check/"$name".cl
  n=$((n + 1))
done
echo "kernel files compiled on their own with their defaults: $n"
cat kernels_cl/common.cl kernels_cl/attn_mma_nv.cl > build/kernel-check/attn_mma_nv.cl
v=0
for gate in "" "-DUSE_G=1" "-DUSE_G_GAMMA=1" "-DUSE_GK=1"; do for feature in 0 1 2; do for split in 1 3; do
  for lay in "-DVEC=0 -DIDX32=0" "-DVEC=1 -DIDX32=0" "-DVEC=1 -DIDX32=1"; do
    clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ \
          -DCHUNK=64 $gate -DFEATURE=$feature -DSPLIT=$split $lay -fsyntax-only -Werror build/kernel-check/attn_mma_nv.cl
    v=$((v + 1))
  done
done; done; done
for form in "-DREV=1" "-DHT=1" "-DREV=1 -DHT=1"; do for gate in "" "-DUSE_G=1" "-DUSE_G_GAMMA=1" "-DUSE_GK=1"; do for split in 1 3; do
  for lay in "-DVEC=0 -DIDX32=0" "-DVEC=1 -DIDX32=0" "-DVEC=1 -DIDX32=1"; do
    clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ \
          -DCHUNK=64 $form $gate -DSPLIT=$split $lay -fsyntax-only -Werror build/kernel-check/attn_mma_nv.cl
    v=$((v + 1))
  done
done; done; done
clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ -fsyntax-only -Werror \
      build/kernel-check/attn_mma_nv.cl
echo "NVIDIA fast-path kernels: $v variants and the defaults parse and type-check"
