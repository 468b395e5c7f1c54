#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every public header compiles on its own (C11, and C++ where a compiler is there), whatever OpenCL API
# version the application picks: none (the Khronos headers' default), 1.2, 2.0 or 3.0. The include path
# holds include/ and the system's only: no runtime/ header can leak into the public ones.
set -euo pipefail
cd "$(dirname "$0")/../.."
cxx=
for c in c++ clang++ g++; do command -v $c >/dev/null 2>&1 && { cxx=$c; break; }; done
# clang compiles C++ without the C++ library headers: the public headers include C headers only.
[ -z "$cxx" ] && command -v clang >/dev/null 2>&1 && cxx="clang -x c++"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for h in include/ocla/*.h; do
  name=${h#include/}
  printf '#include <%s>\nint main(void) { return 0; }\n' "$name" >"$tmp/t.c"
  for cl in "" 120 200 300; do
    def=${cl:+-DCL_TARGET_OPENCL_VERSION=$cl}
    cc -std=c11 -Wall -Wextra -Werror -pedantic $def -Iinclude -fsyntax-only "$tmp/t.c" \
      || { echo "headers: <$name> alone does not compile as C (CL_TARGET_OPENCL_VERSION=${cl:-unset})" >&2; exit 1; }
    n=$((n + 1))
    if [ -n "$cxx" ]; then
      cp "$tmp/t.c" "$tmp/t.cpp"
      $cxx -std=c++11 -Wall -Wextra -Werror -pedantic $def -Iinclude -fsyntax-only "$tmp/t.cpp" \
        || { echo "headers: <$name> alone does not compile as C++ ($cxx, CL_TARGET_OPENCL_VERSION=${cl:-unset})" >&2; exit 1; }
      n=$((n + 1))
    fi
  done
done
echo "headers: every public header compiles alone ($n builds: C11${cxx:+ and C++11 with $cxx}, OpenCL API unset/1.2/2.0/3.0)"
