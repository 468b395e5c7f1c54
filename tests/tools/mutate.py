#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Mutation testing: does the suite notice a small wrong change to a kernel or an op?

Applies each mutation of a catalogue (tests/tools/mutations.txt) to a copy of the source tree, one
at a time, rebuilds that copy incrementally (its own build directory, ccache when present), runs the
test suites the mutation names on one device (PoCL by default), and restores the file, always
(also on Ctrl-C or a timeout). The working tree is never modified.

A mutation is an exact text replacement that must match exactly once in its file: when the code
moves, the mutation is reported `stale` (text not found) or `ambiguous` (found more than once)
instead of silently testing something else. Results:

  killed     a suite failed (or crashed) with the mutation applied
  survived   every suite named passed: a gap in the tests, or an equivalent mutation
  timeout    a suite ran past --timeout (counted as killed: a hang is noticed)
  stale      the text is no longer in the file (update the catalogue)
  ambiguous  the text occurs more than once (make it longer)
  build      the mutated tree does not compile (not a useful mutation: rewrite it)

usage:
  tests/tools/mutate.py [--only ID,ID] [--sample N --seed S] [--budget SEC] [--timeout SEC] [--jobs N]
                        [--workdir DIR | --in-place] [--devices SEL] [--report FILE] [--list] [--check]
A test is a Criterion suite name (`attention`), a pattern (`attention/matrix*`), or
`sweep:FILTER` (~ for a space): the kernel sweep's matching runs under Oclgrind's race and bounds
checks (.ci/checks/45-oclgrind.sh), which catch races that the CPU drivers schedule away; or
`grind:PATTERN`: the suite's tests matching PATTERN (as above) on the Oclgrind device, under the same
checks (tests that simulate other devices' limits, e.g. backward/tiles_per_group's GPU waves).
--check only verifies that every mutation applies (no build, no test): cheap, run it in CI.
--in-place mutates the repository itself and builds in its build/ (CI's fresh clone: no second
build); the file is restored whatever happens, and build/ rebuilt unmutated at the end.
--budget starts no new mutation after SEC seconds (the sampled CI run).
A mutation with `devices = SEL` runs its suites there instead (code that only runs on some
devices, e.g. kernels the scheduler picks for small work-groups). A mutation marked
`known = survivor` in the catalogue (an equivalent mutation, or a gap the report names) is
reported but does not fail the run.
Exit status: 0 when no mutation survived unexpectedly and none is stale, ambiguous or fails to
build; 1 otherwise.
Python 3 standard library only.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CATALOGUE = os.path.join(ROOT, "tests", "tools", "mutations.txt")


class Mutation:
    def __init__(self, ident):
        self.id = ident
        self.file = self.cls = self.old = self.new = None
        self.tests = []
        self.why = self.known = self.devices = ""


def unescape(s):
    """Catalogue values are one line; \\n is a newline, \\t a tab, \\\\ a backslash, \\s a space."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "\\": "\\", "s": " "}.get(s[i + 1], "\\" + s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def load(path):
    """The catalogue: blocks of `[id]` then `key = value` lines (file, class, tests, old, new, why)."""
    muts, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("["):
                cur = Mutation(line.strip()[1:-1])
                muts.append(cur)
                continue
            key, sep, value = line.partition(" = ")
            if not sep:  # "new =" with an empty value: a deletion
                key, sep, value = line.partition(" =")
            key = key.strip()
            if cur is None or not sep or key not in ("file", "class", "tests", "old", "new", "why", "known", "devices"):
                sys.exit(f"{path}:{n}: expected [id] or key = value, got: {line}")
            if key == "tests":
                cur.tests = value.split()
            elif key in ("old", "new"):
                setattr(cur, key, unescape(value))
            else:
                setattr(cur, "cls" if key == "class" else key, value)
    ids = set()
    for m in muts:
        if m.id in ids:
            sys.exit(f"{path}: duplicate id {m.id}")
        ids.add(m.id)
        if not (m.file and m.cls and m.old and m.new is not None and m.tests):
            sys.exit(f"{path}: [{m.id}] needs file, class, tests, old and new")
        if m.old == m.new:
            sys.exit(f"{path}: [{m.id}] old and new are the same")
    return muts


def sync_tree(src, dst):
    """Copy the tracked and untracked-but-not-ignored files of src into dst, only those that differ
    (mtimes of unchanged files are kept, so the build stays incremental)."""
    files = subprocess.run(["git", "-C", src, "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        a, b = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.isfile(a):
            continue
        with open(a, "rb") as f:
            data = f.read()
        if os.path.isfile(b):
            with open(b, "rb") as f:
                if f.read() == data:
                    continue
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy2(a, b)


def run(cmd, cwd, timeout, env=None, log=None):
    """Run cmd in its own process group; returns (status, seconds); status None on timeout."""
    t0 = time.time()
    with open(log or os.devnull, "ab") as out:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
    return rc, time.time() - t0


class Tree:
    def __init__(self, workdir, jobs, in_place):
        self.src = ROOT if in_place else os.path.join(workdir, "src")
        self.build = os.path.join(ROOT if in_place else workdir, "build")
        self.log = os.path.join(self.build if in_place else workdir, "mutate-last.log")
        self.jobs = jobs
        if not in_place:
            os.makedirs(self.src, exist_ok=True)
            sync_tree(ROOT, self.src)

    def configure(self):
        cmd = ["cmake", "-S", self.src, "-B", self.build, "-DCMAKE_BUILD_TYPE=Release", "-DOCLA_BUILD_EXAMPLES=OFF",
               "-DOCLA_BUILD_PERF=OFF"]
        if shutil.which("ccache"):
            cmd.append("-DCMAKE_C_COMPILER_LAUNCHER=ccache")
        rc, _ = run(cmd, self.src, 600, log=self.log)
        return rc == 0

    def compile(self):
        rc, _ = run(["nice", "cmake", "--build", self.build, "-j", str(self.jobs), "--target", "ocla-tests",
                     "kernel_sweep"], self.src, 1200, log=self.log)
        return rc == 0

    def sweep(self, name, timeout):
        """`sweep:FILTER` (~ for a space): tests/tools/kernel_sweep.c's runs whose label contains FILTER,
        under Oclgrind's race and bounds checks (.ci/checks/45-oclgrind.sh); any report kills."""
        report = os.path.join(self.build, "mutate-oclgrind.log")
        if os.path.exists(report):
            os.remove(report)
        cmd = ["nice", "oclgrind", "--data-races", "--check-api", "--log", report,
               os.path.join(self.build, "tests", "kernel_sweep"), "oclgrind", name[len("sweep:"):].replace("~", " ")]
        rc, sec = run(cmd, self.src, timeout, log=self.log)
        if rc == 0 and os.path.exists(report) and os.path.getsize(report) > 0:
            rc = 1
        return rc, sec

    def grind(self, name, timeout):
        """`grind:PATTERN`: the suite's tests matching PATTERN on the Oclgrind device, under its race and
        bounds checks; a failed test or any report kills."""
        report = os.path.join(self.build, "mutate-oclgrind.log")
        if os.path.exists(report):
            os.remove(report)
        pattern = name[len("grind:"):]
        env = dict(os.environ, OCLA_TEST_DEVICES="oclgrind")
        cmd = ["nice", "oclgrind", "--data-races", "--check-api", "--log", report,
               os.path.join(self.build, "tests", "ocla-tests"), "-j", "1", "--filter",
               pattern if "/" in pattern else pattern + "/*"]
        rc, sec = run(cmd, self.src, timeout, env=env, log=self.log)
        if rc == 0 and os.path.exists(report) and os.path.getsize(report) > 0:
            rc = 1
        return rc, sec

    def suite(self, name, devices, timeout):
        if name.startswith("sweep:"):
            return self.sweep(name, timeout)
        if name.startswith("grind:"):
            return self.grind(name, timeout)
        env = dict(os.environ, OCLA_TEST_DEVICES=devices, RUSTICL_ENABLE=os.environ.get("RUSTICL_ENABLE", "llvmpipe"))
        cmd = ["nice", os.path.join(self.build, "tests", "ocla-tests"), "-j", str(self.jobs), "--filter",
               name if "/" in name else name + "/*"]
        return run(cmd, self.src, timeout, env=env, log=self.log)


def apply_check(path, m):
    """'ok', 'stale' or 'ambiguous', and the file's text."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    n = text.count(m.old)
    return ("ok" if n == 1 else "stale" if n == 0 else "ambiguous"), text


def test_mutant(tree, m, args):
    path = os.path.join(tree.src, m.file)
    state, text = apply_check(path, m)
    if state != "ok":
        return state, "", 0.0
    t0 = time.time()
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(m.old, m.new, 1))
        if not tree.compile():
            return "build", "", time.time() - t0
        for s in m.tests:
            rc, _ = tree.suite(s, m.devices or args.devices, args.timeout)
            if rc is None:
                return "timeout", s, time.time() - t0
            if rc != 0:
                return "killed", s, time.time() - t0
        return "survived", "", time.time() - t0
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalogue", default=CATALOGUE)
    ap.add_argument("--only", help="comma-separated ids, run in this order")
    ap.add_argument("--sample", type=int, help="run N mutations chosen by --seed")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds per suite run (default 900: a mutation of common.cl makes PoCL rebuild every kernel)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--devices", default="pocl", help="OCLA_TEST_DEVICES for the suites (default pocl)")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build-mutants"))
    ap.add_argument("--in-place", action="store_true", help="mutate the repository itself, build in build/")
    ap.add_argument("--budget", type=float, help="start no new mutation after this many seconds")
    ap.add_argument("--report", help="also write the result table to this file")
    ap.add_argument("--list", action="store_true", help="list the catalogue and exit")
    ap.add_argument("--check", action="store_true", help="only check that every mutation applies once")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of every suite used")
    args = ap.parse_args()

    # SIGTERM and SIGHUP unwind like Ctrl-C, so the mutated file is restored (test_mutant's finally)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    muts = load(args.catalogue)
    if args.only:
        want = args.only.split(",")
        unknown = set(want) - {m.id for m in muts}
        if unknown:
            sys.exit("unknown ids: " + ", ".join(sorted(unknown)))
        by_id = {m.id: m for m in muts}
        muts = [by_id[i] for i in want]  # in the order given
    if args.sample is not None:
        muts = random.Random(args.seed).sample(muts, min(args.sample, len(muts)))
    if args.list:
        for m in muts:
            print(f"{m.id:34} {m.file:32} {m.cls:28} {' '.join(m.tests)}")
        return 0
    if args.check:
        bad = 0
        for m in muts:
            state, _ = apply_check(os.path.join(ROOT, m.file), m)
            if state != "ok":
                print(f"{m.id}: {state} in {m.file}")
                bad += 1
        print(f"mutations: {len(muts)} checked, {bad} stale or ambiguous")
        return 1 if bad else 0

    tree = Tree(args.workdir, args.jobs, args.in_place)
    print(f"mutations: {len(muts)}; tree copy {tree.src}, build {tree.build}, log {tree.log}", flush=True)
    fresh = not args.in_place or not os.path.exists(os.path.join(tree.build, "CMakeCache.txt"))
    if (fresh and not tree.configure()) or not tree.compile():
        sys.exit(f"the unmutated tree does not build: see {tree.log}")
    if not args.no_baseline:
        for s, dev in sorted({(s, m.devices or args.devices) for m in muts for s in m.tests}):
            rc, sec = tree.suite(s, dev, args.timeout)
            print(f"baseline {s} on {dev}: {'ok' if rc == 0 else 'FAILED'} ({sec:.0f} s)", flush=True)
            if rc != 0:
                sys.exit(f"the unmutated suite {s} fails on {dev}: see {tree.log}")
    rows, counts, t_all, unexpected = [], {}, time.time(), 0
    for i, m in enumerate(muts, 1):
        if args.budget is not None and time.time() - t_all > args.budget:
            print(f"budget of {args.budget:.0f} s spent: {len(muts) - i + 1} mutations not run", flush=True)
            break
        state, by, sec = test_mutant(tree, m, args)
        counts[state] = counts.get(state, 0) + 1
        expected = state == "survived" and m.known == "survivor"
        unexpected += state not in ("killed", "timeout") and not expected
        row = f"{m.id:30} {state:9} {sec:5.0f} s  {m.cls:33} {by}" + (" (known survivor)" if expected else "")
        rows.append(row)
        print(f"[{i}/{len(muts)}] {row}", flush=True)
    tree.compile()  # leave the copy's build unmutated
    tested = sum(counts.get(k, 0) for k in ("killed", "survived", "timeout"))
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    summary = (f"{len(muts)} mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
               (f"; kill rate {100.0 * killed / tested:.1f} % ({killed}/{tested})" if tested else "") +
               f"; {time.time() - t_all:.0f} s")
    print(summary)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write("\n".join(rows + [summary]) + "\n")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
