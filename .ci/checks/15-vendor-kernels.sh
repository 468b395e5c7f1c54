#!/usr/bin/env bash
# Vendor fast-path kernels only compile on their vendor's driver, which CI lacks: check them with
# clang's OpenCL front end for the same target (syntax and types; NVIDIA's front end takes `asm`,
# clang spells it __asm__), for every variant the runtime can build.
set -euo pipefail
cat kernels_cl/common.cl kernels_cl/attn_mma_nv.cl > build/attn_mma_nv_check.cl
for gate in 0 1 2; do for feature in 0 1 2; do for split in 1 3; do for vec in "-DVEC=0" "-DVEC=1 -DIDX32"; do
  clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -D__NV_CL_C_VERSION=1 -Dasm=__asm__ \
        -DCHUNK=64 -DGATE=$gate -DFEATURE=$feature -DSPLIT=$split $vec -fsyntax-only -Werror build/attn_mma_nv_check.cl
done; done; done; done
echo "NVIDIA fast-path kernels: 36 variants parse and type-check"
