#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Is docs/KERNELS.md's vendor table stale? Compares a run's data file with the committed one.

Usage: vendor_stale.py RUN.tsv COMMITTED.tsv
Both are data files of tests/tools/vendor_data.py (one row per source, options and kernel, a cell per
target, '-' where the run did not compile it, and the variant's input: a hash of its program text,
options and kernels). Exit status 1, with the first stale variants on stdout, when the run compiled a
variant for a vendor (an AMD or an Intel target) that the committed file has no numbers for on that
vendor (a variant added since the table was made), or has them for other inputs (its program edited
since: the table's numbers, and the results a run reuses, are no longer that program's). A committed
file from before inputs were recorded is checked for missing variants only."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vendor_data  # noqa: E402  (same folder)

VENDORS = {"AMD": tuple(vendor_data.AMD), "Intel": tuple(vendor_data.INTEL)}
TARGETS = VENDORS["AMD"] + VENDORS["Intel"]


def read(path):
    """(source, options, kernel) -> ({target: cell} of the targets that have numbers, input or None)."""
    rows, _ = vendor_data.read_rows(path)
    return {(r["source"], r["options"], r["kernel"]): ({t: r[t] for t in TARGETS if r.get(t, "-") != "-"},
                                                       r.get("input")) for r in rows}


def main():
    run_path, committed_path = sys.argv[1:3]
    run, committed = read(run_path), read(committed_path)
    stale, changed, pairs = [], 0, 0
    for key, (cells, inp) in sorted(run.items()):
        old, old_inp = committed.get(key, ({}, None))
        for vendor, targets in VENDORS.items():
            if any(t in cells for t in targets):
                pairs += 1
                if not any(t in old for t in targets):
                    stale.append((vendor, key, "missing"))
                elif old_inp is not None and inp is not None and old_inp != inp:
                    stale.append((vendor, key, "other inputs"))
        changed += any(old.get(t, c) != c for t, c in cells.items())
    variants = sorted({(v, k[0], k[1], why) for v, k, why in stale})
    print("vendor_stale: %d of the %d (vendor, kernel) pairs this run compiled are missing from %s or recorded "
          "there for other inputs (%d variants); %d kernels' numbers differ from it"
          % (len(stale), pairs, committed_path, len(variants), changed))
    for vendor, source, options, why in variants[:20]:
        print("    %s: %s %s (%s)" % (vendor, source, options, why))
    if len(variants) > 20:
        print("    ... and %d more" % (len(variants) - 20))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
