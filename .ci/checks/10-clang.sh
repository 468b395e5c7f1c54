#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Warning-free with clang too (-Wall -Wextra -Werror), library, tests, examples and bench.
set -euo pipefail
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DOCLA_WERROR=ON >/dev/null
cmake --build build-clang -j"$(nproc)"
