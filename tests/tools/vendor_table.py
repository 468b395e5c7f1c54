#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The per-vendor resource table of docs/KERNELS.md, from a data file of tests/tools/vendor_data.py.

Usage: vendor_table.py DATA.tsv DOC.md
Rewrites the part of DOC.md between the lines "<!-- vendor-resources:begin -->" and
"<!-- vendor-resources:end -->": per vendor, one row per kernel that needs scratch or spills on some
target, a cell per target with the range (min-max) over the kernel's variants and how many of them
use scratch or spill; the other kernels of a source share a row."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vendor_data  # noqa: E402  (same folder)

BEGIN, END = "<!-- vendor-resources:begin -->", "<!-- vendor-resources:end -->"
AMD, INTEL = vendor_data.AMD, vendor_data.INTEL  # the data file's target columns


def span(values):
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else "%d-%d" % (lo, hi)


def amd_cell(rows):  # VGPR/SGPR/AGPR/LDS/scratch/spills
    hot = sum(1 for r in rows if r[4] or r[5])
    return "%s+%s / %s / %s / %s%s" % (span([r[0] for r in rows]), span([r[2] for r in rows]),
                                       span([r[3] for r in rows]), span([r[4] for r in rows]),
                                       span([r[5] for r in rows]), " (%d of %d)" % (hot, len(rows)) if hot else "")


def intel_cell(rows):  # GRF/SIMD/SLM/private/scratch
    hot = sum(1 for r in rows if r[3] or r[4])
    return "%s%s" % (" / ".join(span([r[i] for r in rows]) for i in (1, 2, 3, 4)),
                     " (%d of %d)" % (hot, len(rows)) if hot else "")


def grf_modes(data):
    """Which GRF modes the Intel binaries use, per target."""
    modes = {t: sorted({per[t][0] for _, _, _, per in data if per[t] is not None}) for t in INTEL}
    if len({tuple(m) for m in modes.values()}) == 1:
        return "%s registers on every target" % " or ".join(map(str, modes[INTEL[0]]))
    return "; ".join("%s %s" % (t, " or ".join(map(str, m))) for t, m in modes.items())


def table(data, targets, cell, hot):
    """One row per kernel that uses scratch or spills somewhere; the other kernels of a source share one."""
    by = {}  # (source, kernel) -> target -> [numbers per variant]
    for source, _options, kernel, per in data:
        for t in targets:
            if per[t] is not None:
                by.setdefault((source, kernel), {}).setdefault(t, []).append(per[t])
    lines = ["| kernel (source) | variants | " + " | ".join(targets) + " |", "|---|---|" + "---|" * len(targets)]
    calm = {}
    for (source, kernel), per in sorted(by.items()):
        if not any(hot(r) for rows in per.values() for r in rows):
            calm.setdefault(source, []).append((kernel, per))
            continue
        n = max(len(rows) for rows in per.values())
        lines.append("| `%s` (%s) | %d | %s |" % (kernel, source, n,
                                                   " | ".join(cell(per[t]) if t in per else "-" for t in targets)))
    for source, kernels in sorted(calm.items()):
        n = max(len(rows) for _, per in kernels for rows in per.values())
        cells = [cell([r for _, per in kernels for r in per.get(t, [])]) for t in targets]
        lines.append("| %s (%s), no scratch, no spills | %d | %s |" % (
            ", ".join("`%s`" % k for k, _ in kernels), source, n, " | ".join(cells)))
    return lines


def main():
    data_path, doc = sys.argv[1:3]
    rows, notes = vendor_data.read_rows(data_path)  # notes: the run, the compilers, the CPU seconds
    data = [(r["source"], r["options"], r["kernel"],
             {t: None if r[t] == "-" else [int(x) for x in r[t].split("/")] for t in AMD + INTEL if t in r})
            for r in rows]
    body = [BEGIN, "",
            "Made by `tests/tools/vendor_table.py %s docs/KERNELS.md` from the data a run of the check wrote "
            "(`OCLA_VENDOR_DATA=%s bash .ci/checks/16-vendor-compile.sh`: one row per variant and kernel with "
            "every target's numbers). The run: %s. %s. %s." % (data_path, data_path, notes[0], notes[1], notes[2]),
            "",
            "Each row: one kernel, each cell the range over its variants (`variants`: how many) and, where some "
            "use scratch or spill, how many of them do (`k of n`).",
            "",
            "AMD (`-O3`, fully linked). A cell: VGPR+AGPR / LDS B (static only: the tiles passed as `__local` "
            "arguments are in the plan's `local_bytes`) / scratch B per work-item / VGPR+SGPR spills (gfx90a "
            "spills VGPRs into AGPRs and SGPRs into VGPR lanes first: spills without scratch):", ""]
    body += table(data, AMD, amd_cell, lambda r: r[4] or r[5])
    body += ["", "Intel (`ocloc`, default optimisation). A cell: SIMD width / SLM B / private B per work-item "
             "(arrays the compiler did not keep in registers) / scratch B per hardware thread (register spills; "
             "IGC reports no spill count). GRF mode (the binary records the register file a kernel was compiled "
             "for, not how many registers it uses): %s:" % grf_modes(data), ""]
    body += table(data, INTEL, intel_cell, lambda r: r[3] or r[4])
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
