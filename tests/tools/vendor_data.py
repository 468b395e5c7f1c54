#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The data file of a run of .ci/checks/16-vendor-compile.sh: per kernel variant, its numbers on every target.

Usage: vendor_data.py RUN_DIR SCOPE WALL OUT.tsv   (WALL: the run's wall time, as text)
RUN_DIR is the check's build/vendor-compile (variants.tsv, resources.tsv, out/*.cpu). OUT.tsv starts
with '#' lines (date, command, compiler versions, CPU seconds per target), then a header and one row
per (variant, kernel): source, options, kernel, then a cell per target:
  AMD   (gfx90a, gfx1030, gfx1100 at -O3): VGPR/SGPR/AGPR/LDS bytes/scratch bytes per item/spills
  Intel (dg2, tgllp, pvc):                 GRF mode/SIMD width/SLM bytes/private bytes per item/
                                           scratch bytes per hardware thread
'-' where the run did not compile that variant for that target (OCLA_VENDOR_SCOPE=sample). The
gfx90a -O0 link and the SPIR-V validation have no numbers: a data file exists only for a run in
which both passed for every variant. The last column, input, is the variant's input
(tests/tools/vendor_recorded.py: a hash of its program text, options and kernels), by which a later run
reuses these numbers instead of compiling again. tests/tools/vendor_table.py makes docs/KERNELS.md's
table from it.

Usage: vendor_data.py --compilers   prints the compilers line (what recorded numbers are valid for)."""
import datetime
import glob
import os
import re
import subprocess
import sys

TARGETS = ["amd:gfx90a:O3", "amd:gfx1030:O3", "amd:gfx1100:O3", "intel:dg2", "intel:tgllp", "intel:pvc"]
SHORT = {t.split(":")[1]: t for t in TARGETS}  # the data file's column names
AMD = [t.split(":")[1] for t in TARGETS if t.startswith("amd:")]  # the column names per vendor
INTEL = [t.split(":")[1] for t in TARGETS if t.startswith("intel:")]


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = (out.stdout + out.stderr).strip().splitlines()
        return lines[0].strip() if lines else "?"
    except OSError:
        return "?"


def deb_version(package):
    """The installed version, else that of the .deb the check unpacked under build/ocloc-root."""
    v = first_line(["dpkg-query", "-W", "-f", "${Status} ${Version}\n", package])
    if v.startswith("install ok installed "):
        return v.split()[-1]
    for deb in glob.glob("build/ocloc-root/%s_*.deb" % package):
        return os.path.basename(deb).split("_")[1]
    return "?"


def compilers_line():
    """The compilers and libraries the numbers depend on, as the data file's "# compilers:" line says."""
    return "%s; rocm-device-libs %s; %s; spirv-val %s; ocloc of intel-opencl-icd %s with libigc1 %s" % (
        first_line(["clang-15", "--version"]), deb_version("rocm-device-libs"),
        first_line(["llvm-spirv-15", "--version"]), deb_version("spirv-tools"),
        deb_version("intel-opencl-icd"), deb_version("libigc1"))


def read_rows(path):
    """A data file's rows, each a dict by the header's column names, and its notes (the '#' lines,
    without the '#': the run, the compilers, the CPU seconds)."""
    notes, header, rows = [], None, []
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#"):
                notes.append(line[1:].strip())
            elif not line:
                continue
            elif header is None:
                header = line.split("\t")
            else:
                rows.append(dict(zip(header, line.split("\t"))))
    return rows, notes


def compilers_of(notes):
    """The "compilers:" note of a data file (what its numbers are valid for), or None."""
    return next((n[len("compilers: "):] for n in notes if n.startswith("compilers: ")), None)


def count_lines(path):
    try:
        with open(path) as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def cpu_seconds(run_dir):
    """CPU seconds (user + system of the compilers) and compiles per target, from out/*.cpu (an Intel
    batch's file says how many compiles it ran on its third line)."""
    per = {}
    for path in glob.glob(os.path.join(run_dir, "out", "*.cpu")):
        target = os.path.basename(path).split(".", 1)[1][:-4]
        with open(path) as fh:
            lines = fh.read().splitlines()
        secs = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", lines[1]))
        count = int(lines[2].split()[1]) if len(lines) > 2 and lines[2].startswith("compiles ") else 1
        n, total = per.get(target, (0, 0.0))
        per[target] = (n + count, total + secs)
    return per


def main():
    if sys.argv[1:] == ["--compilers"]:
        print(compilers_line())
        return
    run_dir, scope, wall, out = sys.argv[1:5]
    inputs = {}
    if os.path.exists(os.path.join(run_dir, "inputs.tsv")):
        with open(os.path.join(run_dir, "inputs.tsv")) as fh:
            inputs = dict(line.split() for line in fh if line.strip())
    with open(os.path.join(run_dir, "variants.tsv")) as fh:
        variants = [line.rstrip("\n").split("\t") for line in fh]
    cells = {}  # (variant number, kernel) -> target -> cell
    order = []
    with open(os.path.join(run_dir, "resources.tsv")) as fh:
        for line in fh:
            vid, target, kernel, *vals = line.rstrip("\n").split("\t")
            if target not in TARGETS:
                continue
            key = (int(vid), kernel)
            if key not in cells:
                cells[key] = {}
                order.append(key)
            cells[key][target] = "/".join(vals)
    per = cpu_seconds(run_dir)
    total = sum(t for _, t in per.values())
    head = [
        "# .ci/checks/16-vendor-compile.sh, OCLA_VENDOR_SCOPE=%s%s, on %s at commit %s: %d of the %d portable "
        "variants, %d compiles, all passed (each of these variants also links at gfx90a -O0 and its SPIR-V "
        "passes spirv-val)"
        % (scope, ", OCLA_VENDOR_ONLY='%s'" % os.environ["OCLA_VENDOR_ONLY"] if os.environ.get("OCLA_VENDOR_ONLY")
           else "", datetime.date.today().isoformat(), first_line(["git", "rev-parse", "--short", "HEAD"]),
           len({vid for vid, _ in order}),
           sum(1 for v in variants if v[3] == "any"), sum(n for n, _ in per.values())),
        "# compilers: " + compilers_line(),
        "# CPU seconds per target (compiles): " + ", ".join(
            "%s %.0f (%d)" % (t, per[t][1], per[t][0]) for t in sorted(per)) +
        "; total %.0f; wall %s with %s jobs" % (total, wall, os.environ.get("OCLA_VENDOR_JOBS", "2")) +
        ("; %d AMD -O3 and Intel results reused from recorded ones (inputs unchanged), %d of those compiled "
         "again and equal" % (count_lines(os.path.join(run_dir, "recorded.txt")) +
                              count_lines(os.path.join(run_dir, "verify.txt")),
                              count_lines(os.path.join(run_dir, "verify.txt")))
         if count_lines(os.path.join(run_dir, "recorded.txt")) else ""),
        "# AMD cell: VGPR/SGPR/AGPR/LDS B/scratch B per item/VGPR+SGPR spills; "
        "Intel cell: GRF mode/SIMD/SLM B/private B per item/scratch B per thread; - not compiled",
    ]
    with open(out, "w") as fh:
        fh.write("\n".join(head) + "\n")
        fh.write("\t".join(["source", "options", "kernel"] + [t.split(":")[1] for t in TARGETS] + ["input"]) + "\n")
        for vid, kernel in sorted(order, key=lambda k: (variants[k[0] - 1][0], variants[k[0] - 1][1], k[1])):
            source, options = variants[vid - 1][:2]
            row = cells[(vid, kernel)]
            fh.write("\t".join([source, options, kernel] + [row.get(t, "-") for t in TARGETS] +
                                [inputs.get(str(vid), "-")]) + "\n")


if __name__ == "__main__":
    main()
