#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ocla as an application gets it (docs/EMBEDDING.md):
#  1. `cmake --install` lays out the public headers, the libraries, the pkg-config file, the CMake
#     package and the ocla-* tools, nothing else (no example programs in bin/);
#  2. an application (examples/embed.c and .ci/checks/consumer/check_version.c, with only the public
#     headers on its include path) builds three ways and runs: pkg-config, find_package(ocla) and
#     add_subdirectory(ocla); the CMake ways link ocla::ocla_static too. The subproject leaves the
#     parent's build type and install alone;
#  3. configuring without Criterion skips the test suite with a message instead of failing.
set -euo pipefail
cd "$(dirname "$0")/../.."
b=build-install
prefix=$PWD/$b/prefix
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
rm -rf $b && mkdir -p $b

# 1. the installed tree
cmake --install build --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name libocla.so -print -quit); libdir=${libdir%/libocla.so} # lib or lib/<multiarch>
bins=$(ls "$prefix/bin" | tr '\n' ' ')
for f in "$prefix"/bin/*; do
  case $(basename "$f") in ocla-*) ;; *) echo "install: bin/ has $(basename "$f"), not an ocla-* tool" >&2; exit 1;; esac
done
diff <(cd include/ocla && ls *.h) <(cd "$prefix/include/ocla" && ls) \
  || { echo "install: include/ocla differs from the public headers" >&2; exit 1; }
soname=$(readelf -d "$libdir/libocla.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -e "$libdir/$soname" ] || { echo "install: SONAME $soname not installed" >&2; exit 1; }
echo "install: bin/ $bins; SONAME $soname; $(ls "$prefix/include/ocla" | wc -l) public headers"

app() { # a fresh application directory: only its own sources
  rm -rf "$b/$1" && mkdir -p "$b/$1"
  cp examples/embed.c .ci/checks/consumer/check_version.c .ci/checks/consumer/CMakeLists.txt "$b/$1/"
}

# 2a. pkg-config (no CL_TARGET_OPENCL_VERSION: the application keeps the headers' default)
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags ocla)
case " $cflags " in *"$PWD/include"*|*"/runtime"*) echo "pkg-config: $cflags reaches into the source tree" >&2; exit 1;; esac
app pkgconfig
cc -std=c11 -Wall -Wextra -Werror -pedantic $b/pkgconfig/embed.c -o $b/pkgconfig/embed \
   $cflags $(pkg-config --libs ocla) -Wl,-rpath,"$libdir"
# check_version calls OpenCL itself: it asks for OpenCL too
cc -std=c11 -Wall -Wextra -Werror -pedantic $b/pkgconfig/check_version.c -o $b/pkgconfig/check_version \
   $(pkg-config --cflags --libs ocla OpenCL) -Wl,-rpath,"$libdir"

# 2b. find_package(ocla)
app find_package
cmake -S $b/find_package -B $b/find_package/build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build $b/find_package/build -j"$jobs" >/dev/null

# 2c. add_subdirectory(ocla): the parent sets no build type and must keep none; ocla installs nothing
# into the parent's install; the parent's targets named like ocla's examples do not clash.
app subdirectory
cmake -S $b/subdirectory -B $b/subdirectory/build -DOCLA_SOURCE_DIR="$PWD" >/dev/null
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' $b/subdirectory/build/CMakeCache.txt)
[ -z "$bt" ] || { echo "add_subdirectory: ocla set the parent's CMAKE_BUILD_TYPE to '$bt'" >&2; exit 1; }
cmake --build $b/subdirectory/build -j"$jobs" >/dev/null
cmake --install $b/subdirectory/build --prefix $b/subdirectory/prefix >/dev/null
installed=$(cd $b/subdirectory/prefix && find . -type f | sort | tr '\n' ' ')
[ "$installed" = "./bin/check_version ./bin/embed ./bin/embed_static " ] \
  || { echo "add_subdirectory: the parent's install got ocla's files: $installed" >&2; exit 1; }

# Each finds its libocla.so by its own run path: the installed one, or the subproject's build.
for way in pkgconfig find_package/build subdirectory/build; do
  echo "-- $way"
  ./$b/$way/check_version
  ./$b/$way/embed pocl
  [ ! -e $b/$way/embed_static ] || ./$b/$way/embed_static pocl # ocla::ocla_static (the CMake ways)
done

# 3. no Criterion: configures, says so, builds no suite
log=$(cmake -S . -B $b/no-criterion -DCMAKE_DISABLE_FIND_PACKAGE_Criterion=ON -DOCLA_BUILD_EXAMPLES=OFF \
            -DOCLA_BUILD_PERF=OFF 2>&1) || { echo "$log" >&2; echo "configure without Criterion failed" >&2; exit 1; }
grep -q "Criterion not found: the test suite (ocla-tests) is not built" <<<"$log" \
  || { echo "$log" >&2; echo "configure without Criterion: no message" >&2; exit 1; }
if cmake --build $b/no-criterion --target help | grep -q 'ocla-tests'; then
  echo "configure without Criterion: ocla-tests still a target" >&2; exit 1
fi
echo "installed-library builds: pkg-config, find_package and add_subdirectory OK; no Criterion: suite skipped"
