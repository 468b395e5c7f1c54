#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Warning-free with clang too (-Wall -Wextra -Werror), library, tests, examples and bench. Built
# without optimisation: clang's warnings come from its front end and do not depend on the
# optimisation level, and an unoptimised build takes a fraction of a Release build's CPU time (the
# Release build with gcc is tests/run.sh's own).
set -euo pipefail
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG=-O0 -DOCLA_WERROR=ON >/dev/null
start=$(date +%s)
cmake --build build-clang -j"$(nproc)"
echo "clang: -Werror build, unoptimised, $(( $(date +%s) - start )) s"
