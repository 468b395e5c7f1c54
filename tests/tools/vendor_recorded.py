#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Recorded results for .ci/checks/16-vendor-compile.sh: a compile whose inputs are unchanged is not run again.

Usage: vendor_recorded.py plan RUN_DIR DATA.tsv     (before the compiles)
       vendor_recorded.py verify RUN_DIR            (after them)

A variant's input is the SHA-256 (first 16 hex digits) of its program text (kernels_cl/common.cl and its
source, as the check compiles them), its build options and the kernels the plans name in it. The data
file (tests/tools/vendor_data.py; the one docs/KERNELS.md's table was made from) records each
variant's input beside its numbers, and the compilers it was made with. `plan`:
  - writes RUN_DIR/inputs.tsv (variant number, input) for every variant of RUN_DIR/variants.tsv;
  - for each job of RUN_DIR/jobs.txt on an AMD -O3 or Intel target whose variant the data file holds
    with the same input, made by the same compilers (its "# compilers:" line equals this machine's),
    writes the recorded numbers as the job's result (out/<id>.<target>.res, the form a compile writes)
    and lists the job in RUN_DIR/recorded.txt, so the check does not compile it;
  - except one job in 32 of those (chosen by input and target, the same every run), which is compiled
    again: its recorded numbers go to out/<id>.<target>.rec and the job to RUN_DIR/verify.txt.
`verify` compares each of those compiles with its recorded numbers: any difference fails (exit 1), as
the recorded results would then not be what the compilers make.

The -O0 link checks and the SPIR-V validation have no numbers in the data file and always compile
(about 3.5 CPU-minutes for every portable variant). OCLA_VENDOR_RECORDED=0 compiles every job."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vendor_data  # noqa: E402  (same folder)

VERIFY_ONE_IN = 32


def input_key(src_text, options, kernels):
    h = hashlib.sha256()
    h.update(options.encode() + b"\n" + kernels.encode() + b"\n" + src_text)
    return h.hexdigest()[:16]


def read_data(path):
    """compilers line, {(source, options): (input, {target: [(kernel, cell)]})} of a data file."""
    rows, notes = vendor_data.read_rows(path)
    compilers = vendor_data.compilers_of(notes)
    out = {}
    for rec in rows:
        if "input" not in rec:
            return compilers, {}  # a data file from before inputs were recorded: nothing to reuse
        entry = out.setdefault((rec["source"], rec["options"]), (rec["input"], {}))
        if entry[0] != rec["input"]:
            continue
        for short, target in vendor_data.SHORT.items():
            if rec.get(short, "-") != "-":
                entry[1].setdefault(target, []).append((rec["kernel"], rec[short]))
    return compilers, out


def plan(run_dir, data_path):
    with open(os.path.join(run_dir, "variants.tsv")) as fh:
        variants = [line.rstrip("\n").split("\t") for line in fh]
    texts, keys = {}, []
    for source, options, kernels, *_ in variants:
        if source not in texts:
            with open(os.path.join(run_dir, "src", source + ".cl"), "rb") as fh:
                texts[source] = fh.read()
        keys.append(input_key(texts[source], options, kernels))
    with open(os.path.join(run_dir, "inputs.tsv"), "w") as fh:
        fh.writelines("%d\t%s\n" % (i + 1, k) for i, k in enumerate(keys))
    compilers, rows = (None, {})
    if os.environ.get("OCLA_VENDOR_RECORDED", "1") != "0" and data_path and os.path.isfile(data_path):
        compilers, rows = read_data(data_path)
    here = vendor_data.compilers_line()
    why = ""
    if os.environ.get("OCLA_VENDOR_RECORDED", "1") == "0":
        why = " (OCLA_VENDOR_RECORDED=0)"
    elif not rows:
        why = " (%s records no inputs)" % data_path
    elif compilers != here:
        why = " (%s was made by other compilers: %s; here: %s)" % (data_path, compilers, here)
        rows = {}
    reused = verify = jobs = 0
    with open(os.path.join(run_dir, "jobs.txt")) as fh, \
            open(os.path.join(run_dir, "recorded.txt"), "w") as rec_fh, \
            open(os.path.join(run_dir, "verify.txt"), "w") as ver_fh:
        for line in fh:
            vid, target = line.split()
            vid = int(vid)
            if target not in vendor_data.TARGETS:
                continue
            jobs += 1
            source, options = variants[vid - 1][:2]
            entry = rows.get((source, options))
            if not entry or entry[0] != keys[vid - 1] or target not in entry[1]:
                continue
            base = os.path.join(run_dir, "out", "%d.%s" % (vid, target.replace(":", "-")))
            lines = "".join("%d\t%s\t%s\t%s\n" % (vid, target, kernel, "\t".join(cell.split("/")))
                            for kernel, cell in entry[1][target])
            pick = int(hashlib.sha256((keys[vid - 1] + target).encode()).hexdigest()[:8], 16) % VERIFY_ONE_IN == 0
            with open(base + (".rec" if pick else ".res"), "w") as out:
                out.write(lines)
            if pick:
                verify += 1
                ver_fh.write("%d %s\n" % (vid, target))
            else:
                reused += 1
                rec_fh.write("%d %s\n" % (vid, target))
    print("recorded: %d of the %d AMD -O3 and Intel compiles have recorded results in %s%s; %d of them "
          "compiled again to check them" % (reused + verify, jobs, data_path, why, verify))


def read_res(path):
    with open(path) as fh:
        return sorted(line.rstrip("\n") for line in fh if line.strip())


def verify(run_dir):
    bad = 0
    checked = 0
    with open(os.path.join(run_dir, "verify.txt")) as fh:
        for line in fh:
            vid, target = line.split()
            base = os.path.join(run_dir, "out", "%s.%s" % (vid, target.replace(":", "-")))
            if not os.path.exists(base + ".res"):
                continue  # the compile failed: the check reports it
            checked += 1
            got, want = read_res(base + ".res"), read_res(base + ".rec")
            if got != want:
                bad += 1
                print("recorded: variant %s on %s compiled to other numbers than recorded:" % (vid, target))
                for w, g in zip(want, got):
                    if w != g:
                        print("    recorded %s\n    compiled %s" % (w, g))
    print("recorded: %d compiles checked against the recorded numbers, %d differ" % (checked, bad))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "plan":
        plan(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        return verify(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
