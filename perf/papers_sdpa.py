#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The GLA claim against PyTorch's SDPA: `ocla-bench --papers gla` beside
torch.nn.functional.scaled_dot_product_attention (fp32, causal) on the same grid.

One command, after `ocla-bench --papers gla --out DIR` (or `--papers all --out DIR`) on the same machine:

    python3 perf/papers_sdpa.py --dir DIR            # on a GPU: CUDA
    python3 perf/papers_sdpa.py --dir DIR --cpu      # on the CPU (a check of the script)

It reads DIR/papers-gla.json (the grid: B, H, D, the lengths T and the per-call budget of the run's
"claim" member, and ocla's rows), times SDPA on that grid, forward and forward+backward, and writes
DIR/papers-gla-sdpa.{txt,json,csv}: the combined table, ocla's linear attention and GLA against SDPA
(speedup = SDPA time / ocla time, and the crossover: the shortest T of the grid from which the ocla
method is faster at every longer T measured), and ocla's softmax against SDPA.

Inputs as ocla-bench's: q, k, v fp32 [B, T, H, D] (seeded normal values), passed to SDPA as
[B, H, T, D] views (transpose(1, 2), no copy), is_causal=True, the default scale 1/sqrt(D);
forward+backward = the forward and torch.autograd.grad of q, k, v from a seeded dL/do. Timing rules
as ocla-bench --papers: two warm-up calls, then the median of --runs timed calls (CUDA events around
each call on a GPU, the host clock after a synchronize on the CPU); a warm-up call slower than the
budget ends that mode's row (the first warm-up call counts only once the row has a measured point:
before that it may include loading kernels), the longer T say "skipped: a shorter T was over the
budget". TF32 is off (torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 =
False, float32 matmul precision "highest"). The SDPA backend is reported two ways: which backends
torch allows (torch.backends.cuda.*_sdp_enabled()) and the kernel names the profiler records for one
forward and one forward+backward call at the shortest T. PyTorch before 2.0 has no SDPA: there the
script times the same attention written out (softmax(q k^T * scale + causal mask) v, "torch_math")
and says so.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
import time


def load_ocla(path):
    with open(path) as f:
        d = json.load(f)
    claim = d.get("claim") or {}
    if claim.get("paper") != "gla":
        sys.exit(f"papers_sdpa: {path} is not an ocla-bench --papers gla result (no gla claim)")
    return d, claim


def ocla_ms(d, dev, method, mode, T):
    """ocla's median ms at (method, mode, T) on device dev: the forward row the scheduler picked."""
    for r in d["results"]:
        if (r.get("device") == dev and r.get("method") == method and r.get("mode") == mode and r.get("T") == T
                and r.get("status") == "ok" and r.get("ms") and (mode != "fwd" or r.get("scheduler_pick"))):
            return r["ms"]
    return None


def ocla_status(d, dev, method, mode, T):
    for r in d["results"]:
        if r.get("device") == dev and r.get("method") == method and r.get("mode") == mode and r.get("T") == T:
            return r.get("status")
    return "not run"


class Timer:
    def __init__(self, torch, cuda):
        self.torch, self.cuda = torch, cuda

    def __call__(self, fn):
        """ms of one call of fn (device time on a GPU: CUDA events)."""
        torch = self.torch
        if self.cuda:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            return a.elapsed_time(b)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    def wall(self, fn):
        """ms of one call and its wait, on the host clock (the budget's rule)."""
        if self.cuda:
            self.torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if self.cuda:
            self.torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1e3


def attention_fn(torch):
    F = torch.nn.functional
    if hasattr(F, "scaled_dot_product_attention"):
        return "torch_sdpa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def math_attn(q, k, v):  # PyTorch < 2.0: the same attention written out
        T = q.shape[-2]
        s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        return torch.matmul(torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1), v)

    return "torch_math", math_attn


def backend_report(torch, cuda, attn, q, k, v, do):
    """Which SDPA backends torch allows, and the kernels the profiler saw in one call of each mode."""
    rep = {"torch": torch.__version__}
    if cuda:
        b = torch.backends.cuda
        for name in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
            if hasattr(b, name):
                rep[name] = bool(getattr(b, name)())
        rep["matmul_allow_tf32"] = bool(b.matmul.allow_tf32)
        rep["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        rep["device"] = torch.cuda.get_device_name()
    try:
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        for mode in ("fwd", "fwdbwd"):
            with profile(activities=acts) as prof:
                o = attn(q, k, v)
                if mode == "fwdbwd":
                    torch.autograd.grad(o, (q, k, v), do)
                if cuda:
                    torch.cuda.synchronize()
            names = []
            for e in prof.key_averages():
                on_gpu = getattr(e, "device_type", None) is not None and "CUDA" in str(e.device_type)
                if (cuda and on_gpu) or (not cuda and ("attention" in e.key or "softmax" in e.key or "bmm" in e.key)):
                    names.append(e.key)
            rep[f"kernels_{mode}"] = sorted(set(n[:80] for n in names))[:12]
    except Exception as e:  # the profiler is a report, not the measurement
        rep["profiler_error"] = str(e)[:200]
    return rep


def time_sdpa(torch, cuda, attn, B, H, D, Ts, runs, budget_ms, seed):
    dev = "cuda" if cuda else "cpu"
    timer = Timer(torch, cuda)
    rows, report = [], None
    for mode in ("fwd", "fwdbwd"):
        warm, stop = False, None
        for T in Ts:
            row = {"method": attn[0], "mode": mode, "B": B, "T": T, "H": H, "D": D, "runs": runs}
            if stop:
                row["status"] = stop
                rows.append(row)
                continue
            g = torch.Generator(device="cpu").manual_seed(seed + T)
            x = [torch.randn(B, T, H, D, generator=g).to(dev) for _ in range(4)]
            q, k, v = (t.transpose(1, 2).requires_grad_(mode == "fwdbwd") for t in x[:3])
            do = x[3].transpose(1, 2)

            def call():
                if mode == "fwd":
                    with torch.no_grad():
                        attn[1](q, k, v)
                else:
                    torch.autograd.grad(attn[1](q, k, v), (q, k, v), do)

            try:
                over = None
                for w in range(2):
                    ms = timer.wall(call)
                    if budget_ms > 0 and (w or warm) and ms > budget_ms:
                        over = f"skipped: {ms:.0f} ms a call, over the budget of {budget_ms:.0f} ms"
                        break
                if over:
                    row["status"], stop = over, "skipped: a shorter T was over the budget"
                else:
                    t = [timer(call) for _ in range(runs)]
                    row.update(status="ok", ms=statistics.median(t), ms_min=min(t))
                    if mode == "fwd":
                        row["scheduler_pick"] = True
                    warm = True
                    if report is None:
                        report = backend_report(torch, cuda, attn[1], *(t_.detach().requires_grad_() for t_ in (q, k, v)),
                                                do)
            except RuntimeError as e:  # out of memory and the like: the row ends here
                row["status"] = "failed: " + str(e).splitlines()[0][:80]
                stop = "skipped: a shorter T failed"
                if cuda:
                    torch.cuda.empty_cache()
            rows.append(row)
            del q, k, v, do, x
            print(f"  {attn[0]} {mode:6} T={T:6}: " + (f"{row['ms']:.4f} ms" if "ms" in row else row["status"]),
                  file=sys.stderr, flush=True)
    return rows, report or {}


def compare(ms_m, ms_b, Ts):
    """Speedups (baseline / method) per T and the crossover by ocla-bench's rule."""
    pts, cross, measured, every = [], 0, 0, True
    for T in Ts:
        m, b = ms_m.get(T), ms_b.get(T)
        if not m or not b:
            continue
        s = b / m
        pts.append({"T": T, "ms": m, "baseline_ms": b, "speedup": round(s, 4)})
        measured += 1
        if s > 1.0:
            cross = cross or T
        else:
            cross, every = 0, False
    return pts, (cross if measured else None), bool(measured) and every, measured


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="the directory ocla-bench --papers gla|all --out wrote")
    ap.add_argument("--cpu", action="store_true", help="run SDPA on the CPU (default: CUDA)")
    ap.add_argument("--ocla-device", type=int, default=None,
                    help="index into the ocla JSON's devices to compare with (default: the first GPU with "
                         "CUDA, else 0)")
    ap.add_argument("--runs", type=int, default=10, help="timed calls per point (median; default 10)")
    ap.add_argument("--budget", type=float, default=None,
                    help="per-call budget in ms (default: the ocla run's, from its JSON)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    src = os.path.join(args.dir, "papers-gla.json")
    d, claim = load_ocla(src)
    B, H, D, Ts = claim["B"], claim["H"], claim["D"], list(claim["T"])
    budget = args.budget if args.budget is not None else claim.get("budget_ms", 0)
    if args.ocla_device is not None:
        odev = args.ocla_device
    else:
        gpus = [i for i, x in enumerate(d["devices"]) if "CUDA" in x.get("platform", "") or "NVIDIA" in x.get("name", "")]
        odev = gpus[0] if gpus and not args.cpu else 0
    if not 0 <= odev < len(d["devices"]):
        sys.exit(f"papers_sdpa: --ocla-device {odev}: the run has {len(d['devices'])} device(s)")

    import torch
    cuda = not args.cpu
    if cuda and not torch.cuda.is_available():
        sys.exit("papers_sdpa: no CUDA device (--cpu runs on the CPU)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("highest")
    attn = attention_fn(torch)
    t0 = time.time()
    rows, backend = time_sdpa(torch, cuda, attn, B, H, D, Ts, args.runs, budget, args.seed)
    wall = time.time() - t0

    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    sdpa_dev = {"name": where, "platform": f"PyTorch {torch.__version__}" + (f", CUDA {torch.version.cuda}" if cuda else ""),
                "driver": "", "timer": "cuda events" if cuda else "host clock"}
    lines = []
    out = lines.append
    out(f"ocla-bench --papers gla ({src}, device {odev}: {d['devices'][odev]['name']}) against "
        f"{attn[0]} on {where}")
    out(f"   B={B} H={H} D={D}, fp32, causal, lengths {','.join(map(str, Ts))}; a call over {budget:.0f} ms ends its row"
        f"; {args.runs} timed calls a point (median); the SDPA run's wall time {wall:.0f} s")
    if attn[0] == "torch_math":
        out("   PyTorch " + torch.__version__ + " has no scaled_dot_product_attention: torch_math is the same attention "
            "written out (matmul, mask, softmax, matmul)")
    out("   TF32 off (matmul and cuDNN); backend: " + ", ".join(f"{k}={v}" for k, v in backend.items()
                                                               if not k.startswith("kernels")))
    for mode in ("fwd", "fwdbwd"):
        ks = backend.get(f"kernels_{mode}")
        if ks:
            out(f"   {mode} kernels (profiler, shortest T): " + "; ".join(ks))
    sd = {mode: {r["T"]: r.get("ms") for r in rows if r["mode"] == mode} for mode in ("fwd", "fwdbwd")}
    out("   speedup = SDPA time / ocla time (medians; ocla: device time from its events, " +
        ("SDPA: CUDA events);" if cuda else "SDPA: the host clock);"))
    out("   crossover = the shortest T from which the ocla method is faster at every longer T measured")
    out("")
    cmp_rows, table = [], []
    for mode in ("fwd", "fwdbwd"):
        out(f"{mode}: ms per call")
        out(f"{'T':>7} {'linear':>10} {'gla':>10} {'softmax':>10} {attn[0]:>11} {'lin/sdpa':>9} {'gla/sdpa':>9} "
            f"{'sm/sdpa':>8}")
        o = {m: {T: ocla_ms(d, odev, m, mode, T) for T in Ts} for m in ("linear", "gla", "softmax")}
        for T in Ts:
            s = sd[mode].get(T)
            f = lambda v: f"{v:10.4f}" if v else f"{'-':>10}"  # noqa: E731
            sp = lambda m, w: f"{s / o[m][T]:{w}.2f}x" if s and o[m][T] else f"{'-':>{w + 1}}"  # noqa: E731
            out(f"{T:>7} {f(o['linear'][T])} {f(o['gla'][T])} {f(o['softmax'][T])} {f(s):>11} {sp('linear', 8)} "
                f"{sp('gla', 8)} {sp('softmax', 7)}")
            table.append({"mode": mode, "T": T, "linear_ms": o["linear"][T], "gla_ms": o["gla"][T],
                          "softmax_ms": o["softmax"][T], "sdpa_ms": s})
        for m in ("linear", "gla", "softmax"):
            pts, cross, every, n = compare(o[m], sd[mode], Ts)
            cmp_rows.append({"device": odev, "mode": mode, "method": m, "baseline": attn[0], "crossover_T": cross,
                             "faster_at_every_T": every, "points": pts})
            if not n:
                txt = "not measured"
            elif every:
                txt = f"faster at every T (from {pts[0]['T']})"
            elif cross:
                txt = f"crossover T = {cross}"
            else:
                txt = f"none up to T = {pts[-1]['T']}"
            out(f"   {m} vs {attn[0]}: {txt}")
        for T in Ts:
            for m in ("linear", "gla", "softmax"):
                if o[m][T] is None:
                    st = ocla_status(d, odev, m, mode, T)
                    if st and st != "ok":
                        out(f"   ocla {m} at T = {T}: {st}")
                        break
            r = next(r for r in rows if r["mode"] == mode and r["T"] == T)
            if r.get("status") != "ok":
                out(f"   {attn[0]} from T = {T}: {r['status']}")
                break
        out("")
    text = "\n".join(lines)
    print(text)

    base = os.path.join(args.dir, "papers-gla-sdpa")
    with open(base + ".txt", "w") as f:
        f.write(text + "\n")
    # rows in ocla-bench's result format: the SDPA device appended to ocla's device list
    sdev = len(d["devices"])
    res = [dict(r, device=sdev, config="fp32, causal, TF32 off") for r in rows]
    for c in cmp_rows:
        c["baseline_device"] = sdev
    with open(base + ".json", "w") as f:
        json.dump({"devices": d["devices"] + [sdpa_dev], "results": res,
                   "claim": {"paper": "gla", "text": claim.get("text"), "baseline": attn[0], "grid": claim.get("grid"),
                             "B": B, "H": H, "D": D, "budget_ms": budget, "T": Ts, "ocla_json": src,
                             "backend": backend, "rows": cmp_rows}}, f, indent=1)
    with open(base + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["mode", "T", "linear_ms", "gla_ms", "softmax_ms", "sdpa_ms"])
        w.writeheader()
        for r in table:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    print(f"papers_sdpa: wrote {base}.txt, .json, .csv", file=sys.stderr)


if __name__ == "__main__":
    main()
