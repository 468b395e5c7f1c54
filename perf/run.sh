#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job (README): installs what is missing, builds, and runs ocla-bench on every OpenCL device
# found: measured peak and bandwidth, then each method over a short sweep; table on stdout, JSON, CSV
# and an SVG chart under bench-results/. Extra arguments go to ocla-bench (e.g. --full, --device nvidia).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install_deps.sh
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}   # Mesa's CPU device (rusticl)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p bench-results
exec ./build/perf/ocla-bench --json bench-results/bench.json --csv bench-results/bench.csv \
     --svg bench-results/bench.svg "$@"
