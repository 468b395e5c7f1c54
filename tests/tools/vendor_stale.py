#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Is docs/KERNELS.md's vendor table stale? Compares a run's data file with the committed one.

Usage: vendor_stale.py RUN.tsv COMMITTED.tsv
Both are data files of tests/tools/vendor_data.py (one row per source, options and kernel, a cell per
target, '-' where the run did not compile it). Exit status 1, with the first missing rows on stdout,
when the run compiled a kernel of a variant for a vendor (an AMD or an Intel target) that the
committed file has no numbers for on that vendor: a variant added since the table was made. Numbers
that differ (a kernel edited since) are counted, not failed: the table still names every variant."""
import sys

VENDORS = {"AMD": ("gfx90a", "gfx1030", "gfx1100"), "Intel": ("dg2", "tgllp", "pvc")}


def read(path):
    """(source, options, kernel) -> {target: cell} of the targets that have numbers."""
    rows, header = {}, None
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#") or not line:
                continue
            f = line.split("\t")
            if header is None:
                header = f
                continue
            rows[tuple(f[:3])] = {t: c for t, c in zip(header[3:], f[3:]) if c != "-"}
    return rows


def main():
    run_path, committed_path = sys.argv[1:3]
    run, committed = read(run_path), read(committed_path)
    missing, changed, pairs = [], 0, 0
    for key, cells in sorted(run.items()):
        old = committed.get(key, {})
        for vendor, targets in VENDORS.items():
            if any(t in cells for t in targets):
                pairs += 1
                if not any(t in old for t in targets):
                    missing.append((vendor, key))
        changed += any(old.get(t, c) != c for t, c in cells.items())
    variants = sorted({(v, k[0], k[1]) for v, k in missing})
    print("vendor_stale: %d of the %d (vendor, kernel) pairs this run compiled are missing from %s (%d variants); "
          "%d kernels' numbers differ from it" % (len(missing), pairs, committed_path, len(variants), changed))
    for vendor, source, options in variants[:20]:
        print("    %s: %s %s" % (vendor, source, options))
    if len(variants) > 20:
        print("    ... and %d more" % (len(variants) - 20))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
