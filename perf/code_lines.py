#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Size of the library: lines and code lines (neither blank nor comment) of runtime/*.{c,h} and
kernels_cl/*.cl at a git revision.   python3 perf/code_lines.py [REV ...] [--files]"""
import re
import subprocess
import sys


def count(rev, per_file=False):
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "runtime", "kernels_cl"],
                           capture_output=True, text=True, check=True).stdout.split()
    total = code = 0
    rows = []
    for name in (n for n in names if re.search(r"\.(c|h|cl)$", n)):
        text = subprocess.run(["git", "show", f"{rev}:{name}"], capture_output=True, text=True, check=True).stdout
        bare = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        bare = re.sub(r"//[^\n]*", "", bare)
        c = sum(1 for line in bare.split("\n") if line.strip())
        total += text.count("\n")
        code += c
        rows.append((c, text.count("\n"), name))
    print(f"{rev}: {len(rows)} files, {total} lines, {code} code lines")
    if per_file:
        for c, n, name in sorted(rows, reverse=True):
            print(f"{c:7d} {n:7d}  {name}")


if __name__ == "__main__":
    revs = [a for a in sys.argv[1:] if not a.startswith("--")] or ["HEAD"]
    for r in revs:
        count(r, "--files" in sys.argv)
