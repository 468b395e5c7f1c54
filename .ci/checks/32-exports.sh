#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shared library exports the public API and nothing else: every dynamic symbol of libocla.so is a
# function declared with OCLA_API in include/ocla/*.h, and every such function is exported (the test
# hooks of runtime/ocla_debug.h are not). Also: the SONAME follows docs/EMBEDDING.md (libocla.so.0.MINOR
# before 1.0, libocla.so.MAJOR after), and the build's version is the headers' OCLA_VERSION_*.
# The test suite links the static library, which keeps the internal symbols.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib=build/libocla.so
[ -e $lib ] || { echo "exports: $lib not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Declarations: "OCLA_API <type> <name>(" (the name on the line of OCLA_API, as in every header).
grep -ho 'OCLA_API[^;(#]*[ *][A-Za-z_][A-Za-z0-9_]*(' include/ocla/*.h | sed -E 's/.*[ *]([A-Za-z_][A-Za-z0-9_]*)\($/\1/' \
  | grep -v '^_' | sort -u >"$tmp/declared"
nm -D --defined-only $lib | awk '$2 ~ /^[A-Za-z]$/ {print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
[ -z "$extra" ] || { echo "exports: not public API, yet exported by $lib:" >&2; echo "$extra" >&2; exit 1; }
[ -z "$missing" ] || { echo "exports: declared OCLA_API but not exported by $lib:" >&2; echo "$missing" >&2; exit 1; }

v() { sed -n "s/^#define OCLA_VERSION_$1 \([0-9]*\).*/\1/p" include/ocla/ocla.h; }
major=$(v MAJOR) minor=$(v MINOR) patch=$(v PATCH)
if [ "$major" = 0 ]; then want=libocla.so.0.$minor; else want=libocla.so.$major; fi
soname=$(readelf -d $lib | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "$want" ] || { echo "exports: SONAME $soname, the ABI policy says $want" >&2; exit 1; }
[ -e build/libocla.so.$major.$minor.$patch ] || { echo "exports: no libocla.so.$major.$minor.$patch (version drift)" >&2; exit 1; }
echo "exports: $(wc -l <"$tmp/exported") symbols, each an OCLA_API function of include/ocla; SONAME $soname"
