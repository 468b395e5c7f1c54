#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Time chunk_gla's forward on every OpenCL device and print a table.

    OCLA_LIBRARY=build/libocla.so RUSTICL_ENABLE=llvmpipe python3 python/examples/compare_devices.py
    python3 compare_devices.py --B 1 --T 2048 --H 4 --K 64 --V 64 --runs 5

Each device gets its own context; one warm-up call (kernel build or cache load) is timed apart, then
the median of --runs calls is reported. Times are host wall clock around the whole call, so they
include the upload of q, k, v, g and the download of o (what a numpy caller pays). The result of
every device is checked against the first one's.
"""
import argparse
import statistics
import time

import numpy as np

import ocla


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--B", type=int, default=1)
    ap.add_argument("--T", type=int, default=1024)
    ap.add_argument("--H", type=int, default=4)
    ap.add_argument("--K", type=int, default=64)
    ap.add_argument("--V", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5, help="timed calls per device (median reported)")
    ap.add_argument("--devices", default="", help="comma-separated selectors (default: every device)")
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    B, T, H, K, V = a.B, a.T, a.H, a.K, a.V
    q = rng.standard_normal((B, T, H, K), dtype=np.float32)
    k = rng.standard_normal((B, T, H, K), dtype=np.float32)
    v = rng.standard_normal((B, T, H, V), dtype=np.float32)
    g = (np.log(1 / (1 + np.exp(-rng.standard_normal((B, T, H, K))))) / 16).astype(np.float32)  # fla's gate

    devs = [ocla.select_device(s) for s in a.devices.split(",") if s] if a.devices else ocla.devices()
    if not devs:
        raise SystemExit("no OpenCL device found")
    print("chunk_gla forward, B=%d T=%d H=%d K=%d V=%d, float32, median of %d runs" % (B, T, H, K, V, a.runs))
    head = "%-3s %-40s %10s %10s %10s %12s  %s" % ("#", "device", "first ms", "median ms", "ktok/s", "max |diff|",
                                                    "plan")
    print(head)
    print("-" * len(head))
    first = None
    for d in devs:
        try:
            with ocla.Context(d) as ctx:
                t0 = time.perf_counter()
                o, _ = ocla.chunk_gla(q, k, v, g)
                warm = (time.perf_counter() - t0) * 1e3
                times = []
                for _ in range(a.runs):
                    t0 = time.perf_counter()
                    o, _ = ocla.chunk_gla(q, k, v, g)
                    times.append((time.perf_counter() - t0) * 1e3)
                med = statistics.median(times)
                if first is None:
                    first = o
                diff = float(np.max(np.abs(o - first)))
                p = ctx.plan("chunk_gla", B, T, H, K, V)
                plan = "%s, chunk %d/%d" % (p["path"], p["chunk"], p["sub_chunk"])
                print("%-3d %-40s %10.1f %10.2f %10.3f %12.2e  %s" % (
                    d.index, d.short_name[:40], warm, med, B * T / med, diff, plan))
        except ocla.OclaError as e:
            print("%-3d %-40s failed: %s" % (d.index, d.short_name[:40], e))


if __name__ == "__main__":
    main()
