#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ocla-bench's command line: a bad paper name, a bad --budget, options that --papers does not take,
# --papers all with --json, and an --out directory that cannot be made are refused with exit status 2
# and a message naming the option, before any work: no device is opened (stderr holds nothing but
# the one message) and no output file is written; --short and --tiny (two grids) together are refused
# too; --dtype's value, and a half --dtype with methods or modes that run fp32 only; --pick with a method
# other than linear, simple_gla, gla. No timing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
bench=build/perf/ocla-bench
[ -x $bench ] || { echo "bench-cli: $bench not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
# refused ARGS... -- EXPECTED: exit status 2, one line on stderr containing EXPECTED, nothing written
refused() {
  local args=() want
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  want=$2
  local rc=0
  (cd "$tmp" && "$OLDPWD/$bench" "${args[@]}" >out.txt 2>err.txt) || rc=$?
  [ $rc -eq 2 ] || { echo "bench-cli: '${args[*]}' exited $rc, want 2" >&2; cat "$tmp/err.txt" >&2; exit 1; }
  grep -qF -- "$want" "$tmp/err.txt" || { echo "bench-cli: '${args[*]}': stderr lacks '$want'" >&2; cat "$tmp/err.txt" >&2; exit 1; }
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || { echo "bench-cli: '${args[*]}' did more than refuse:" >&2; cat "$tmp/err.txt" >&2; exit 1; }
  [ ! -s "$tmp/out.txt" ] || { echo "bench-cli: '${args[*]}' printed on stdout" >&2; exit 1; }
  local left
  left=$(cd "$tmp" && ls | grep -v -e '^out.txt$' -e '^err.txt$' || true)
  [ -z "$left" ] || { echo "bench-cli: '${args[*]}' wrote $left" >&2; exit 1; }
  n=$((n + 1))
}
refused --papers nosuch --out res -- "--papers nosuch: want gla, lt, flash, linformer or all"
refused --papers GLA -- "--papers GLA: want"
refused --papers -- "--papers needs a value"
refused --papers lt --budget 0 -- "--budget 0: want milliseconds"
refused --papers lt --budget 1x -- "--budget 1x: want milliseconds"
refused --papers flash --methods linear -- "--papers runs its own grid and methods"
refused --papers gla --shape 1,512,2,64 -- "--papers runs its own grid and methods"
refused --papers linformer --ops -- "--papers runs its own grid and methods"
refused --papers all --json res.json -- "--papers all writes its files with --out DIR"
refused --short -- "--short, --tiny, --budget and --out go with --papers"
refused --tiny -- "--short, --tiny, --budget and --out go with --papers"
refused --out res -- "--short, --tiny, --budget and --out go with --papers"
refused --budget 100 -- "--short, --tiny, --budget and --out go with --papers"
refused --papers gla --short --tiny -- "--short and --tiny: one grid at a time"
refused --papers gla --tiny --short -- "--short and --tiny: one grid at a time"
refused --papers all --out /dev/null/res -- "--out /dev/null/res:"
refused --methods nosuch -- "--methods nosuch: want"
refused --dtype f64 -- "--dtype f64: want f32, bf16 or f16"
refused --dtype bf16 --methods gla,softmax -- "--dtype bf16: the methods linear, simple_gla and gla only (not softmax)"
refused --dtype f16 --ops -- "--dtype f16 goes with the sweep and --load-inputs only"
refused --dtype bf16 --pick -- "--dtype bf16 goes with the sweep and --load-inputs only"
refused --pick --methods linear,softmax -- "--pick --methods softmax: want linear, simple_gla or gla"
echo "bench-cli: $n refusals checked in $(( $(date +%s) - start )) s"
