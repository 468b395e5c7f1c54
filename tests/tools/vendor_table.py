#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The per-vendor resource table of docs/KERNELS.md, from a full run of .ci/checks/16-vendor-compile.sh.

Usage: vendor_table.py VARIANTS.tsv RESOURCES.tsv DOC.md
Rewrites the part of DOC.md between the lines "<!-- vendor-resources:begin -->" and
"<!-- vendor-resources:end -->": per vendor, one row per kernel that needs scratch or spills on some
target, a cell per target with the range (min-max) over the run's variants of that kernel; the
other kernels of a source share a row. The optimisation-off AMD build (a link check) is left out."""
import datetime
import os
import subprocess
import sys

BEGIN, END = "<!-- vendor-resources:begin -->", "<!-- vendor-resources:end -->"


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except OSError:
        return "?"


def span(values):
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else "%d-%d" % (lo, hi)


def table(res, source_of, vendor, targets, cell, quiet):
    """One row per kernel that uses scratch or spills somewhere, a cell per target (ranges over its
    variants); the other kernels of a source share one row."""
    by = {}  # (source, kernel) -> target -> [resource rows as ints]
    for vid, target, kernel, *vals in res:
        t = target.split(":")[1]
        if target.startswith(vendor) and not target.endswith(":O0"):
            by.setdefault((source_of[vid], kernel), {}).setdefault(t, []).append([int(x) for x in vals])
    lines = ["| kernel (source) | variants | " + " | ".join(targets) + " |", "|---|---|" + "---|" * len(targets)]
    calm = {}
    for (source, kernel) in sorted(by):
        per = by[(source, kernel)]
        n = max(len(v) for v in per.values())
        if all(quiet(r) for v in per.values() for r in v):
            calm.setdefault(source, []).append((kernel, per))
            continue
        cells = [cell(per[t]) if t in per else "-" for t in targets]
        lines.append("| `%s` (%s) | %d | %s |" % (kernel, source, n, " | ".join(cells)))
    for source, kernels in sorted(calm.items()):
        cells = [cell([r for _, per in kernels for r in per.get(t, [])]) for t in targets]
        lines.append("| %s (%s), no scratch, no spills | %d | %s |" % (
            ", ".join("`%s`" % k for k, _ in kernels), source, max(len(v) for _, per in kernels for v in per.values()),
            " | ".join(cells)))
    return lines


def main():
    variants, resources, doc, scope = sys.argv[1:5]
    source_of = {}
    with open(variants) as fh:
        for i, line in enumerate(fh, 1):
            source_of[str(i)] = line.split("\t")[0]
    with open(resources) as fh:
        res = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    res = [r for r in res if r[1] != "spirv"]
    body = [BEGIN, "",
            "Made by `%sOCLA_VENDOR_SCOPE=%s OCLA_VENDOR_TABLE=docs/KERNELS.md bash .ci/checks/16-vendor-compile.sh` "
            "on %s with %s (ROCm device libraries of Debian's rocm-device-libs) and %s. Each row: one kernel on "
            "the targets, the range over the variants of it that the run compiled (`variants`: how many; "
            "`OCLA_VENDOR_ONLY` picks some, the default all)."
            % ("OCLA_VENDOR_ONLY='%s' " % os.environ["OCLA_VENDOR_ONLY"] if os.environ.get("OCLA_VENDOR_ONLY") else "",
               scope, datetime.date.today().isoformat(), version(["clang-15", "--version"]),
               "ocloc " + version(["dpkg-query", "-W", "-f", "${Version}", "intel-opencl-icd"])),
            "",
            "AMD (`-O3`, fully linked). A cell: VGPR+AGPR / LDS B (static only: the tiles passed as `__local` "
            "arguments are in the plan's `local_bytes`) / scratch B per work-item / VGPR+SGPR spills (gfx90a "
            "spills VGPRs into AGPRs and SGPRs into VGPR lanes first: spills without scratch):", ""]
    body += table(res, source_of, "amd", ["gfx90a", "gfx1030", "gfx1100"],
                  lambda rows: "%s+%s / %s / %s / %s" % tuple(span([r[i] for r in rows]) for i in (0, 2, 3, 4, 5)),
                  lambda r: r[4] == 0 and r[5] == 0)
    body += ["", "Intel (`ocloc`, default optimisation; every kernel compiles for 128 GRF). A cell: SIMD width / "
             "SLM B / private B per work-item (arrays the compiler did not keep in registers) / scratch B per "
             "hardware thread (register spills):", ""]
    body += table(res, source_of, "intel", ["dg2", "tgllp", "pvc"],
                  lambda rows: " / ".join(span([r[i] for r in rows]) for i in (1, 2, 3, 4)),
                  lambda r: r[3] == 0 and r[4] == 0)
    body += ["", END]
    with open(doc) as fh:
        text = fh.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(body) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    with open(doc, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
