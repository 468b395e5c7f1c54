#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How many of the portable variants .ci/checks/16-vendor-compile.sh compiles are distinct programs,
and how many distinct kernels they hold: the measure of compiling each distinct instance once.

Usage: vendor_instances.py [RUN_DIR]   (default build/vendor-compile: variants.tsv and src/ of a run)
Each portable variant's program (src/<source>.cl: common.cl + its file) is preprocessed as the SPIR-V
job compiles it (clang-15 -E -P -x cl -cl-std=CL1.2 -cl-no-stdinc -target spir64 -O3 with its
options; -cl-no-stdinc keeps OpenCL's header out of the text, so its macros stay unexpanded names).
A program is the hash of that text. A kernel instance is the hash of the text a program would have
with that kernel alone: every top-level item of the preprocessed program except the other functions,
less the functions the kernel does not reach through calls. Prints, per source and in all: variants,
distinct programs, kernels compiled (each variant's program compiles all its kernels) and distinct
kernel instances, then per kernel of the sources that have any repeated instance."""
import collections
import hashlib
import re
import subprocess
import sys

WORD = re.compile(r"[A-Za-z_]\w*")
KERNEL = re.compile(r"(?<![A-Za-z0-9])(__)?kernel\b")


def strip_attributes(head):
    """head without its __attribute__((...)) groups (their parentheses would look like a call)."""
    while True:
        i = head.find("__attribute__")
        if i < 0:
            return head
        depth, k = 0, head.index("(", i)
        for k in range(k, len(head)):
            depth += {"(": 1, ")": -1}.get(head[k], 0)
            if depth == 0:
                break
        head = head[:i] + " " + head[k + 1:]


def items(text):
    """The top-level items of preprocessed OpenCL C, in order: (function name or None, text)."""
    out, cur, depth = [], [], 0
    for line in text.split("\n"):
        if depth == 0 and not "".join(cur).strip() and line.lstrip().startswith("#"):
            out.append((None, line + "\n"))  # a pragma
            continue
        for ch in line:
            cur.append(ch)
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                s = "".join(cur)
                head = s[:s.index("{")]
                if depth == 0 and "(" in head and "=" not in head and not re.match(r"\s*(typedef|struct|union|enum)\b", head):
                    names = re.findall(r"([A-Za-z_]\w*)\s*\(", strip_attributes(head))
                    out.append((names[0] if names else None, s + "\n"))
                    cur = []
            elif ch == ";" and depth == 0:
                out.append((None, "".join(cur) + "\n"))
                cur = []
        cur.append("\n")
    if "".join(cur).strip():
        out.append((None, "".join(cur)))
    return out


def kernel_text(its, kernel):
    """The program with one kernel: the functions it reaches and every other top-level item."""
    funcs = {n: t for n, t in its if n}
    keep, todo = set(), [kernel]
    while todo:
        f = todo.pop()
        if f not in keep:
            keep.add(f)
            todo += [w for w in set(WORD.findall(funcs[f])) if w in funcs and w not in keep]
    return "".join(t for n, t in its if n is None or n in keep)


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "build/vendor-compile"
    variants = programs = 0
    per_src = collections.defaultdict(lambda: [0, set(), 0, set()])
    per_kernel = collections.defaultdict(lambda: [0, set()])
    for line in open(run + "/variants.tsv"):
        source, options, _, device = line.rstrip("\n").split("\t")
        if device != "any":
            continue
        text = subprocess.run(["clang-15", "-E", "-P", "-x", "cl", "-cl-std=CL1.2", "-cl-no-stdinc", "-target", "spir64",
                               "-O3"] + ([] if options == "-" else options.split()) + ["%s/src/%s.cl" % (run, source)],
                              capture_output=True, text=True, check=True).stdout
        its = items(text)
        s = per_src[source]
        s[0] += 1
        s[1].add(hashlib.sha256(text.encode()).hexdigest())
        for name, t in its:
            if name and KERNEL.search(t[:t.index(name)]):
                h = hashlib.sha256(kernel_text(its, name).encode()).hexdigest()
                s[2] += 1
                s[3].add(h)
                per_kernel[(source, name)][0] += 1
                per_kernel[(source, name)][1].add(h)
    total = [0, 0, 0, 0]
    print("source\tvariants\tprograms\tkernels\tkernel instances")
    for source, (n, progs, k, insts) in sorted(per_src.items()):
        row = [n, len(progs), k, len(insts)]
        total = [a + b for a, b in zip(total, row)]
        print("\t".join([source] + [str(x) for x in row]))
    print("\t".join(["all"] + [str(x) for x in total]))
    print("\nsource\tkernel\tcompiles\tinstances")
    for (source, name), (n, insts) in sorted(per_kernel.items()):
        if per_src[source][2] != len(per_src[source][3]):
            print("%s\t%s\t%d\t%d" % (source, name, n, len(insts)))


if __name__ == "__main__":
    main()
