#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mutation testing, sampled: tests/tools/mutate.py with its catalogue tests/tools/mutations.txt.
#  1. every mutation of the catalogue must still apply (its text found exactly once): a mutation
#     made stale by a code change fails here, so the catalogue moves with the code;
#  2. OCLA_MUTANTS (default 4) mutations chosen by a seed from the date (OCLA_MUTANT_SEED overrides;
#     the seed is printed, so a red run can be repeated with it), applied one at a time to the
#     repository itself, build/ rebuilt incrementally, their suites run on PoCL. A survivor fails,
#     unless the catalogue marks it `known = survivor` (an equivalent mutation or a documented gap).
#     No new mutation starts after OCLA_MUTANT_BUDGET seconds (default 240), so the check stays
#     within about five minutes on 2 cores; every file is restored and build/ rebuilt unmutated.
# The full run (every mutation: tests/tools/mutate.py, ~1 h here) and its result: docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(( $(nproc) < 2 ? $(nproc) : 2 ))
start=$(date +%s)
python3 tests/tools/mutate.py --check
seed=${OCLA_MUTANT_SEED:-$(date -u +%Y%m%d)}
n=${OCLA_MUTANTS:-4}
echo "mutants: $n sampled with seed $seed (repeat: OCLA_MUTANT_SEED=$seed bash $0)"
[ -d build ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
python3 tests/tools/mutate.py --in-place --no-baseline --sample "$n" --seed "$seed" --jobs "$jobs" \
  --budget "${OCLA_MUTANT_BUDGET:-240}" --timeout 600
if ! git diff --quiet -- kernels_cl runtime; then
  echo "mutants: kernels_cl/ or runtime/ differ from the commit after the run" >&2
  exit 1
fi
echo "mutants: $(( $(date +%s) - start )) s"
