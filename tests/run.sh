#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command (README, .ci/run): installs what is missing, builds, and runs the whole suite on
# every OpenCL device found (here: PoCL and Mesa rusticl's llvmpipe CPU device).
#
# With CI=true it also runs the checks a green CI needs beyond the suite: a clang -Werror build,
# the AddressSanitizer+UBSan build with its test subset, the leak cycle, the short fuzz run, the
# installed-library builds (pkg-config and find_package), and the Windows / arm64 cross-compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
# each step's wall time, printed at the end (CI's whole run must stay well inside its 90 minutes)
t_all=$(date +%s) t_step=$t_all name_step="" times=()
step() {
  local now; now=$(date +%s)
  [ -z "$name_step" ] || times+=("$(printf '%5d s  %s' $((now - t_step)) "$name_step")")
  t_step=$now name_step=$*
  [ -z "$*" ] || printf '\n==== %s ====\n' "$*"
}
ci=${CI:-false}
extra=(python3-venv python3-numpy python3-pytest python3-pip)   # the Python binding's step
if [ "$ci" = true ]; then
  extra+=(clang libclang-rt-14-dev gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross valgrind)
  # 16-vendor-compile (Debian 12 names); ocloc's own libraries only: the check unpacks ocloc from
  # intel-opencl-icd without installing it, which would register an Intel OpenCL platform here
  extra+=(clang-15 lld-15 llvm-15 llvm-spirv-15 spirv-tools rocm-device-libs libigc1 libigdfcl1 libigdgmm12)
  extra+=(oclgrind)   # the kernel sanitizer: .ci/checks/45-oclgrind.sh (Oclgrind's race and bounds checks)
  extra+=(libjansson-dev)   # the checkpoint loader (include/ocla/model.h): its suite, sanitizer run and fuzz target
fi
step "install what is missing"
bash cmake/install_deps.sh "${extra[@]}"
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}   # Mesa's CPU device (rusticl)
jobs=$(nproc 2>/dev/null || echo 2)


step "build (gcc, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DOCLA_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

step "devices"
./build/examples/ocla-info | grep -E "^device|ocla kernels|OpenCL device" || true

step "test suite on every device"
start=$(date +%s)
./build/tests/ocla-tests -j"$jobs" ${OCLA_TEST_FILTER:+--filter "$OCLA_TEST_FILTER"}
echo "suite: $(( $(date +%s) - start )) s"

step "python binding: pip install ./python (offline), pytest on every device"
start=$(date +%s)
py=/usr/bin/python3; [ -x "$py" ] || py=python3   # the distribution's python (its numpy and pytest)
rm -rf build/py-venv
"$py" -m venv --system-site-packages build/py-venv
PIP_ROOT_USER_ACTION=ignore build/py-venv/bin/pip install --no-index --disable-pip-version-check -q ./python
# from the repository root, so `import ocla` is the installed package, not python/ocla
lib="$PWD/build/libocla.so"
OCLA_LIBRARY="$lib" build/py-venv/bin/python -c 'import ocla; print("ocla", ocla.__version__, "from", ocla.__file__, "on", ocla.library_path())'
OCLA_LIBRARY="$lib" build/py-venv/bin/python -m pytest -q -p no:cacheprovider python/tests
echo "python binding: $(( $(date +%s) - start )) s"

if [ "$ci" = true ]; then
  for f in .ci/checks/*.sh; do
    [ -e "$f" ] || continue
    step "$(basename "$f" .sh)"
    bash "$f"
  done
fi
step ""
printf '\n==== wall time per step ====\n'
printf '%s\n' "${times[@]}"
echo "total $(( $(date +%s) - t_all )) s"
echo "ocla: all tests passed"
