#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, and runs the whole suite on
# every OpenCL device found (here: PoCL and Mesa rusticl's llvmpipe CPU device).
#
# With CI=true it also runs the checks a green CI needs beyond the suite: a clang -Werror build,
# the AddressSanitizer+UBSan build with its test subset, the leak cycle, the short fuzz run, the
# installed-library builds (pkg-config and find_package), and the Windows / arm64 cross-compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
ci=${CI:-false}
extra=()
if [ "$ci" = true ]; then
  extra=(clang libclang-rt-14-dev gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross valgrind)
fi
bash cmake/install_deps.sh "${extra[@]}"
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}   # Mesa's CPU device (rusticl)
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== %s ====\n' "$*"; }

step "build (gcc, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DOCLA_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

step "devices"
./build/examples/ocla-info | grep -E "^device|ocla kernels|OpenCL device" || true

step "test suite on every device"
start=$(date +%s)
./build/tests/ocla-tests -j"$jobs" ${OCLA_TEST_FILTER:+--filter "$OCLA_TEST_FILTER"}
echo "suite: $(( $(date +%s) - start )) s"

if [ "$ci" = true ]; then
  for f in .ci/checks/*.sh; do
    [ -e "$f" ] || continue
    step "$(basename "$f" .sh)"
    bash "$f"
  done
fi
echo "ocla: all tests passed"
