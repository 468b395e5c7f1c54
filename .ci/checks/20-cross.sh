#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The static library cross-compiles warning-free for Windows (mingw-w64) and arm64 Linux. Only the
# OpenCL and CLBlast *headers* are needed (copied into a private include dir so the cross compiler
# does not see the host's glibc headers).
set -euo pipefail
inc=build-cross/include
rm -rf build-cross && mkdir -p "$inc"
cp -r /usr/include/CL "$inc/"
cp /usr/include/clblast_c.h "$inc/"
for tc in mingw64 aarch64; do
  cmake -S . -B build-cross/$tc -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$tc.cmake -DOCLA_LIBRARY_ONLY=ON \
        -DOCLA_WERROR=ON -DOpenCL_INCLUDE_DIR="$PWD/$inc" -DCLBLAST_INCLUDE_DIR="$PWD/$inc" >/dev/null
  cmake --build build-cross/$tc -j"$(nproc)" --target ocla_static
  ls -l build-cross/$tc/libocla.a
done
