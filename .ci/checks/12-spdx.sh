#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every tracked source, build and script file names its licence (MIT, LICENSE) in an SPDX line.
set -euo pipefail
missing=0
while IFS= read -r f; do
  case "$f" in
    docs/data/*|*/corpus/*|*/regressions/*) continue ;;
    *.c|*.h|*.cl|*.py|*.sh|*.cmake|*.toml|CMakeLists.txt|*/CMakeLists.txt|.ci/run) ;;
    *) continue ;;
  esac
  if ! head -n 3 "$f" | grep -q "SPDX-License-Identifier: MIT"; then
    echo "no SPDX line: $f"
    missing=$((missing + 1))
  fi
done < <(git ls-files)
[ "$missing" -eq 0 ] || { echo "$missing file(s) without an SPDX line"; exit 1; }
echo "every source file has an SPDX line"
