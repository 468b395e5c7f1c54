#!/usr/bin/env bash
# The installed library works for an application: install to a prefix, then build examples/embed.c
# against it through pkg-config and through find_package(ocla), and run both.
set -euo pipefail
prefix=$PWD/build-install/prefix
rm -rf build-install && mkdir -p build-install
cmake --install build --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig
cc -std=c11 -Wall -Wextra -Werror examples/embed.c -o build-install/embed-pkgconfig \
   $(pkg-config --cflags --libs ocla) -Wl,-rpath,"$prefix/lib"
mkdir -p build-install/app
cp examples/embed.c build-install/app/
cat > build-install/app/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.16)
project(embed_app C)
find_package(ocla REQUIRED)
add_executable(embed embed.c)
target_link_libraries(embed PRIVATE ocla::ocla)
CM
cmake -S build-install/app -B build-install/app/build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build-install/app/build >/dev/null
for exe in build-install/embed-pkgconfig build-install/app/build/embed; do
  LD_LIBRARY_PATH=$prefix/lib "$exe" pocl
done
echo "installed-library builds: pkg-config and find_package OK"
