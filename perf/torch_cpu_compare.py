#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ocla on a CPU OpenCL driver (PoCL, rusticl) vs PyTorch on the same CPU, the same chunked math.

    python3 perf/torch_cpu_compare.py --bench build/perf/ocla-bench --device pocl \
        --out bench-results/torch_cpu

PyTorch (CPU build, pip) is optional for ocla and needed only here; without it the script says so and
exits with status 2.

For each case (method x shape) the script makes seeded inputs (q, k, v ~ N(0,1), log gates
logsigmoid(N(0,1))/16, as perf/fla_compare.py), writes them as raw fp32 files, runs
`ocla-bench --device DEV --load-inputs DIR` (ocla's output o.bin, its chunk C, the median of >= 20
event-profiled runs and the per-kernel split), then runs in PyTorch on the CPU the same chunked forward
with the same C:

  linear      o = scale q S_n + tril(scale q k^T) v,    S_{n+1} = S_n + k_n^T v_n
  simple GLA  G = chunk-local cumsum of min(g, 0) (restarts every chunk)
              o_i = scale (q_i e^{G_i}) S_n + sum_{j<=i} scale (q_i.k_j) e^{G_i-G_j} v_j
              S_{n+1} = e^{G_last} S_n + sum_j (k_j e^{G_last-G_j})^T v_j
  GLA         the same with per-key gates G [C, D]; the intra-chunk scores by secondary chunking
              (sub-chunks of --sub rows, docs/KERNELS.md): for a query sub-chunk I (first row n) and an
              earlier key sub-chunk J (last row e): (q_i e^{G_i-G_n}) e^{G_n-G_e} (k_j e^{G_e-G_j}),
              every exponent <= 0; the diagonal sub-chunk blocks element by element with
              e^{min(G_id-G_jd, 0)}. ocla's kernels use sub-chunks of 4 rows; the products are the same
              for any sub-chunk size (only rounding differs), so PyTorch uses the size that is fastest
              for it (16, fla's chunk_gla BC, by default).

fp32 throughout, torch.set_num_threads(--threads: default the OpenCL device's compute units from
clinfo, i.e. the threads PoCL runs, at most the CPUs; with --device pocl, --threads N also sets
POCL_MAX_PTHREAD_COUNT=N for ocla-bench, so both sides use N cores). The inter-chunk recurrence is a loop over chunks (linear: a cumsum,
the same recurrence). Timing: PyTorch wall clock (time.perf_counter) around the whole call, from
[B,T,H,D] inputs to a contiguous [B,T,H,D] output, 2 warm-up calls then the median of --runs; ocla: its
own median from result.txt (device time summed over kernels by OpenCL events; rusticl's events read 0
and ocla-bench falls back to the host clock). With --repeat R the two are measured R times alternately
and the best median of each is kept (the machine may be shared).

Reported per case: both times, ratio ocla/torch (> 1: ocla slower), max relative error
max|o_ocla - o_torch| / max|o_torch|, GFLOP/s of each by the model B*H*T*(4*C*D + 4*D*D)
(perf/fla_compare.py, ocla-bench) and % of ocla-bench's measured fp32 FMA peak (8 independent fma
chains per work-item where the device has CL_FP_FMA, else mad; perf/peak.c), plus a
PyTorch sgemm rate (1024^3, same threads) as a second yardstick (*_pct_sgemm in the JSON/CSV). Table on stdout; torch_cpu_compare.json and .csv in --out.
--chunks 16,32,... forces ocla's chunk through OCLA_CHUNK (and PyTorch uses the same C) for every case.
--portable-too also times ocla with OCLA_PORTABLE=1 (the portable kernels instead of the CPU kernels
the plan picks on PoCL: before/after in one run; columns "port ms" and "port ratio").
--backward times forward + backward instead: ocla-bench's fwdbwd mode (ocla_attention_forward, then
ocla_attention_backward for a seeded output gradient do ~ N(0,1): dq, dk, dv, dg) against PyTorch autograd
through the same chunked forward (o.backward(do)); max rel err then covers o and every gradient (also per
gradient in the JSON), GFLOP/s use ocla-bench's nominal 3x the forward's FLOPs.
--selftest checks the PyTorch chunked forms against an fp64 token-by-token recurrence (no OpenCL).
"""
import argparse
import csv
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time

METHODS = ["linear", "simple_gla", "gla"]
SHAPES = [(1, 2048, 4, 64), (1, 4096, 4, 128), (2, 1024, 8, 64)]


def need_torch():
    try:
        import torch  # noqa: F401
        return torch
    except Exception as e:  # ImportError, or a broken install
        print(f"torch_cpu_compare.py: PyTorch is not importable ({type(e).__name__}: {e}).\n"
              "It is optional for ocla and needed only for this comparison; install a CPU build, e.g.\n"
              "  python3 -m venv torch-venv && torch-venv/bin/pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu\nand run this script with that interpreter.", file=sys.stderr)
        sys.exit(2)


# ---------------------------------------------------------------------------------------------------
# The chunked forward in PyTorch (fp32, CPU)
# ---------------------------------------------------------------------------------------------------
def chunked_forward(torch, method, q, k, v, g, C, sub=16, scale=None):
    """q, k, v [B,T,H,D]; g: None, [B,T,H] (simple GLA) or [B,T,H,D] (GLA) natural-log forget gates.
    Returns o [B,T,H,D] (contiguous), causal, inclusive, identity feature map, no normaliser, no initial
    state: ocla_attention_forward's chunked form with ocla-bench's parameters."""
    B, T, H, D = q.shape
    Dv = v.shape[-1]
    scale = D ** -0.5 if scale is None else scale
    NT = (T + C - 1) // C
    Tp = NT * C

    def chunks(x):  # [B,T,H,...] -> [B,H,NT,C,...] (zero padded: padded tokens come after every real one)
        x = x.transpose(1, 2)
        if Tp != T:
            pad = x.new_zeros((B, H, Tp - T) + tuple(x.shape[3:]))
            x = torch.cat([x, pad], 2)
        return x.reshape((B, H, NT, C) + tuple(x.shape[3:]))

    qc, kc, vc = chunks(q), chunks(k), chunks(v)
    tril = torch.ones(C, C, dtype=torch.bool).tril()
    states = q.new_empty(B, H, NT, D, Dv)
    if method == "linear":
        kv = kc.transpose(-1, -2) @ vc  # [B,H,NT,D,Dv]
        if kv.requires_grad:  # --backward: cumsum(out=) has no autograd, the same sums without it
            states = torch.cat([kv.new_zeros(B, H, 1, D, Dv), torch.cumsum(kv[:, :, :-1], 2)], 2)
        else:
            states[:, :, 0].zero_()
            if NT > 1:
                torch.cumsum(kv[:, :, :-1], 2, out=states[:, :, 1:])
        o = (qc * scale) @ states
        A = (qc @ kc.transpose(-1, -2)) * scale
        A.masked_fill_(~tril, 0.0)
        o.add_(A @ vc)
    elif method == "simple_gla":
        G = torch.cumsum(chunks(g).clamp_max(0.0), -1)  # [B,H,NT,C]
        Gl = G[..., -1:]
        kv = (kc * torch.exp(Gl - G)[..., None]).transpose(-1, -2) @ vc
        decay = torch.exp(Gl)[..., None]  # [B,H,NT,1,1]
        S = q.new_zeros(B, H, D, Dv)
        for n in range(NT):
            states[:, :, n] = S
            S = S * decay[:, :, n] + kv[:, :, n]
        o = (qc * (torch.exp(G) * scale)[..., None]) @ states
        gd = (G[..., :, None] - G[..., None, :]).masked_fill_(~tril, float("-inf"))
        A = (qc @ kc.transpose(-1, -2)) * scale
        A.mul_(torch.exp(gd))
        o.add_(A @ vc)
    elif method == "gla":
        if C % sub:
            raise ValueError(f"chunk {C} is not a multiple of the sub-chunk {sub}")
        G = torch.cumsum(chunks(g).clamp_max(0.0), -2)  # [B,H,NT,C,D]
        Gl = G[..., -1:, :]
        kv = (kc * torch.exp(Gl - G)).transpose(-1, -2) @ vc
        decay = torch.exp(Gl).transpose(-1, -2)  # [B,H,NT,D,1]: scales the state's key rows
        S = q.new_zeros(B, H, D, Dv)
        for n in range(NT):
            states[:, :, n] = S
            S = S * decay[:, :, n] + kv[:, :, n]
        o = (qc * torch.exp(G) * scale) @ states
        # intra-chunk scores by sub-chunks: [.., NS, sub, D]
        NS = C // sub
        shp = (B, H, NT, NS, sub, D)
        Gs, qs, ks = G.reshape(shp), qc.reshape(shp), kc.reshape(shp)
        Gn, Ge = Gs[..., :1, :], Gs[..., -1:, :]  # first / last row of each sub-chunk [.., NS, 1, D]
        qh = qs * torch.exp(Gs - Gn)  # exponents <= 0
        kh = ks * torch.exp(Ge - Gs)  # exponents <= 0
        mid = torch.exp((Gn.unsqueeze(-3) - Ge.unsqueeze(-4)).clamp_max_(0.0))  # [.., I, J, 1, D]
        khm = (kh.unsqueeze(-4) * mid).reshape(B, H, NT, NS, C, D)  # [.., I, (J s), D]
        A = qh @ khm.transpose(-1, -2)  # [.., I, sub, C]
        blk = torch.arange(NS)
        keep = (blk[:, None] > blk[None, :])  # key sub-chunk J strictly before I
        A = A.reshape(B, H, NT, NS, sub, NS, sub)
        A.mul_(keep[:, None, :, None].to(A.dtype))
        # diagonal blocks, one key column s at a time: sum_d q_rd k_sd e^{min(G_rd - G_sd, 0)}, s <= r
        diag = q.new_zeros(B, H, NT, NS, sub, sub)
        for s in range(sub):
            e = torch.exp((Gs - Gs[..., s:s + 1, :]).clamp_max_(0.0))
            diag[..., s:, s] = (qs[..., s:, :] * ks[..., s:s + 1, :] * e[..., s:, :]).sum(-1)
        torch.diagonal(A, 0, -4, -2).copy_(diag.permute(0, 1, 2, 4, 5, 3))
        A = A.reshape(B, H, NT, C, C) * scale
        o.add_(A @ vc)
    else:
        raise ValueError(method)
    o = o.reshape(B, H, Tp, Dv)[:, :, :T].transpose(1, 2).contiguous()
    return o


def chunked_forward_backward(torch, method, q, k, v, g, dout, C, sub=16):
    """PyTorch autograd through chunked_forward: o, then (dq, dk, dv[, dg]) for the output gradient dout
    (what ocla-bench's fwdbwd mode computes: ocla_attention_forward then ocla_attention_backward)."""
    leaves = [x.detach().requires_grad_() for x in (q, k, v) + ((g,) if g is not None else ())]
    o = chunked_forward(torch, method, *leaves[:3], leaves[3] if g is not None else None, C, sub)
    o.backward(dout)
    return o.detach(), [x.grad for x in leaves]


def reference_fp64(torch, method, q, k, v, g):
    """Token-by-token recurrence in fp64 (docs/KERNELS.md semantics), for --selftest."""
    B, T, H, D = q.shape
    q, k, v = q.double(), k.double(), v.double()
    S = q.new_zeros(B, H, D, v.shape[-1])
    o = q.new_zeros(B, T, H, v.shape[-1])
    for t in range(T):
        if method == "simple_gla":
            S = S * g[:, t].double().clamp_max(0).exp()[..., None, None]
        elif method == "gla":
            S = S * g[:, t].double().clamp_max(0).exp()[..., None]
        S = S + k[:, t, :, :, None] * v[:, t, :, None, :]
        o[:, t] = torch.einsum("bhk,bhkv->bhv", q[:, t] * D ** -0.5, S)
    return o


# ---------------------------------------------------------------------------------------------------
# Inputs, files, helpers
# ---------------------------------------------------------------------------------------------------
def make_inputs(torch, method, B, T, H, D, seed):
    import torch.nn.functional as F
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, D, generator=gen)
    k = torch.randn(B, T, H, D, generator=gen)
    v = torch.randn(B, T, H, D, generator=gen)
    g = None
    if method == "simple_gla":
        g = F.logsigmoid(torch.randn(B, T, H, generator=gen)) / 16
    elif method == "gla":
        g = F.logsigmoid(torch.randn(B, T, H, D, generator=gen)) / 16
    return q, k, v, g


def write_bin(path, t):
    t = t.detach().to("cpu").float().contiguous()
    with open(path, "wb") as f:
        f.write(ctypes.string_at(t.data_ptr(), t.numel() * 4))


def read_bin(torch, path, shape):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return torch.frombuffer(data, dtype=torch.float32).clone().reshape(shape)


def rel_err(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def clinfo_compute_units(device):
    """Compute units of the first clinfo device whose name or platform matches the selector."""
    exe = shutil.which("clinfo")
    if not exe:
        return None
    try:
        env = dict(os.environ)
        if device == "rusticl":
            env.setdefault("RUSTICL_ENABLE", "llvmpipe")
        txt = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                             timeout=60).stdout
    except Exception:
        return None
    want = {"pocl": "Portable Computing Language", "rusticl": "rusticl"}.get(device, device)
    platform = None
    for line in txt.splitlines():
        m = re.match(r"\s*Platform Name\s+(.*)", line)
        if m:
            platform = m.group(1).strip()
        m = re.match(r"\s*Max compute units\s+(\d+)", line)
        if m and platform and want.lower() in platform.lower():
            return int(m.group(1))
    return None


def sgemm_gflops(torch, n=1024, runs=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / median(ts) * 1e-9


def time_torch(fn, runs):
    for _ in range(2):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return median(ts), min(ts)


def ocla_env(args):
    env = dict(os.environ)
    if args.device == "rusticl":
        env.setdefault("RUSTICL_ENABLE", "llvmpipe")
    if args.threads and args.device == "pocl":  # PoCL's pthread device runs this many threads
        env.setdefault("POCL_MAX_PTHREAD_COUNT", str(args.threads))
    return env


def run_ocla(args, d, chunk, portable=False):
    env = ocla_env(args)
    if portable:  # the portable (GPU-shaped) kernels instead of the CPU kernels the plan picks on PoCL
        env["OCLA_PORTABLE"] = "1"
    if chunk:
        env["OCLA_CHUNK"] = str(chunk)
    else:
        env.pop("OCLA_CHUNK", None)
    r = subprocess.run([args.bench, "--device", args.device, "--load-inputs", d, "--runs", str(args.ocla_runs)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        return None, (r.stderr.strip() or f"ocla-bench exit {r.returncode}")[-500:]
    with open(os.path.join(d, "result.txt")) as f:
        parts = f.read().split()
    res = dict(ms=float(parts[0]), ms_min=float(parts[1]), chunk=int(parts[2]), runs=int(parts[3]),
               device=" ".join(parts[4:]))
    dp = os.path.join(d, "detail.txt")
    if os.path.exists(dp):
        with open(dp) as f:
            res["detail"] = f.read().strip()
    return res, None


# ---------------------------------------------------------------------------------------------------
def selftest(torch, args):
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    worst = 0.0
    for m in METHODS:
        for (B, T, H, D, C, sub) in [(1, 100, 2, 16, 16, 4), (2, 64, 1, 8, 32, 16), (1, 77, 1, 12, 64, 16)]:
            q, k, v, g = make_inputs(torch, m, B, T, H, D, 7)
            if g is not None and m == "gla":
                g = g * 20  # strong gates: exponents far below 0
            ref = reference_fp64(torch, m, q, k, v, g)
            o = chunked_forward(torch, m, q, k, v, g, C, sub)
            e = rel_err(o, ref)
            worst = max(worst, e)
            print(f"selftest {m:10} B,T,H,D=({B},{T},{H},{D}) C={C:3} sub={sub:2}: max rel err vs fp64 {e:.2e}")
    ok = worst < 1e-5
    print(f"selftest: worst {worst:.2e} ({'ok' if ok else 'FAILED'}, bar 1e-5)")
    return 0 if ok else 1


def print_table(hdr, rows, out=sys.stdout, head=True, foot=True):
    if head:
        print(hdr, file=out)
        print(f"{'method':10} {'B,T,H,D':>14} {'C':>4} {'ocla ms':>9} {'torch ms':>9} {'ratio':>6} {'max rel err':>11} "
              f"{'ocla GF/s':>9} {'%peak':>6} {'torch GF/s':>10} {'%peak':>6} {'port ms':>9} {'port ratio':>10}", file=out)
    for r in rows:
        shape = f"{r['B']},{r['T']},{r['H']},{r['D']}"

        def f(key, fmt, w):
            return format(r[key], fmt) if key in r else "-".rjust(w)
        print(f"{r['method']:10} {shape:>14} {f('chunk', '4d', 4)} {f('ocla_ms', '9.3f', 9)} {f('torch_ms', '9.3f', 9)} "
              f"{f('ratio_ocla_over_torch', '6.2f', 6)} {f('max_rel_err', '11.2e', 11)} {f('ocla_gflops', '9.2f', 9)} "
              f"{f('ocla_pct_peak', '5.1f', 5)}% {f('torch_gflops', '10.2f', 10)} {f('torch_pct_peak', '5.1f', 5)}%"
              + (f" {f('portable_ms', '9.3f', 9)} {f('ratio_portable_over_torch', '10.2f', 10)}" if "portable_ms" in r else ""),
              file=out)
        for who in ("ocla", "torch"):
            if r.get(f"{who}_error"):
                print(f"   {who} failed: {r[who + '_error'].strip().splitlines()[-1]}", file=out)
    if foot:
        print("ratio = ocla ms / torch ms (> 1: ocla slower). GFLOP/s by the model B*H*T*(4*C*D + 4*D*D);\n"
              "%peak = of ocla-bench's measured fp32 FMA peak (perf/peak.c). ocla: median of event-profiled device\n"
              "time; torch: median wall clock of the whole call. max rel err = max|o_ocla - o_torch| / max|o_torch|.",
              file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/perf/ocla-bench", help="ocla-bench binary")
    ap.add_argument("--device", default="pocl", help="ocla device selector (pocl, rusticl, ...)")
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "bench-results"), "torch_cpu"))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES),
                    help="semicolon list of B,T,H,D (default %(default)s)")
    ap.add_argument("--chunks", default="pick",
                    help="'pick' (the scheduler's chunk, or OCLA_CHUNK if set) or a comma list forced through "
                         "OCLA_CHUNK; PyTorch uses the same C")
    ap.add_argument("--sub", type=int, default=16, help="PyTorch's GLA sub-chunk (rows; ocla's kernels use 4)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads (0: the device's compute units from clinfo, at most the CPUs); "
                         "with --device pocl also POCL_MAX_PTHREAD_COUNT for ocla-bench")
    ap.add_argument("--runs", type=int, default=10, help="PyTorch timed runs per measurement (median)")
    ap.add_argument("--ocla-runs", type=int, default=20, help="ocla-bench --runs (>= 20 with --load-inputs)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="measure ocla and torch this many times alternately, keep each one's best median")
    ap.add_argument("--portable-too", action="store_true",
                    help="also time ocla with OCLA_PORTABLE=1 (portable kernels): before/after in one run")
    ap.add_argument("--backward", action="store_true",
                    help="time forward + backward: ocla-bench's fwdbwd mode (forward, then ocla_attention_backward "
                         "for a seeded output gradient) against PyTorch autograd through the same chunked forward")
    ap.add_argument("--selftest", action="store_true", help="check the PyTorch forms against fp64 and exit")
    ap.add_argument("--keep-bins", action="store_true", help="keep the .bin files in --out")
    args = ap.parse_args()

    torch = need_torch()
    if args.selftest:
        return selftest(torch, args)
    if not (os.path.isfile(args.bench) and os.access(args.bench, os.X_OK)):
        print(f"torch_cpu_compare.py: no ocla-bench at {args.bench} (build it: cmake --build BUILD --target "
              "ocla-bench)", file=sys.stderr)
        return 2
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m} (one of {', '.join(METHODS)})")
    try:
        shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes.split(";") if s.strip()]
        assert all(len(s) == 4 and min(s) > 0 for s in shapes)
    except Exception:
        ap.error("--shapes wants B,T,H,D[;B,T,H,D...]")
    chunks = [0] if args.chunks == "pick" else [int(c) for c in args.chunks.split(",")]

    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # the device's compute units (PoCL: its threads), never more than the CPUs (llvmpipe reports 8 here)
    threads = args.threads or min(clinfo_compute_units(args.device) or ncpu, ncpu)
    torch.set_num_threads(threads)
    os.makedirs(args.out, exist_ok=True)

    # the device's measured peak and bandwidth, through ocla-bench
    peak = {}
    pj = os.path.join(args.out, "peak.json")
    env = ocla_env(args)
    # the peak comes with any run: one tiny forward (ocla-bench takes no empty method list)
    r = subprocess.run([args.bench, "--device", args.device, "--methods", "linear", "--shape", "1,64,1,16", "--chunks",
                        "pick", "--no-decode", "--no-backward", "--no-host-time", "--json", pj],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode == 0:
        with open(pj) as f:
            peak = json.load(f)["devices"][0]
    else:
        print(r.stderr, file=sys.stderr)
    pk = peak.get("peak_gflops") or 0.0
    gemm = sgemm_gflops(torch)
    report = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), device=peak, torch=torch.__version__,
                  torch_threads=threads, torch_sgemm_gflops_1024=gemm, sub=args.sub, argv=sys.argv[1:],
                  loadavg_start=os.getloadavg(), rows=[])
    hdr = (f"device: {peak.get('name', '?')} | {peak.get('platform', '?')} | driver {peak.get('driver', '?')} | "
           f"timer {peak.get('timer', '?')}\n"
           f"measured fp32 FMA peak {pk:.1f} GFLOP/s, copy {peak.get('copy_gbs', 0):.1f} GB/s; "
           f"PyTorch {torch.__version__}, {threads} threads, sgemm 1024^3 {gemm:.1f} GFLOP/s; GLA sub-chunk "
           f"{args.sub} (torch) / 4 (ocla portable kernels), 8 (ocla CPU kernels); load average at start {os.getloadavg()[0]:.2f}")
    print_table(hdr, [], out=sys.stderr, foot=False)
    rows = report["rows"]

    def save():
        report["loadavg_end"] = os.getloadavg()
        with open(os.path.join(args.out, "torch_cpu_compare.json"), "w") as f:
            json.dump(report, f, indent=1)
        keys = ["method", "B", "T", "H", "D", "chunk", "ocla_ms", "torch_ms", "ratio_ocla_over_torch", "max_rel_err",
                "max_rel_err_dq", "max_rel_err_dk", "max_rel_err_dv", "max_rel_err_dg", "mode",
                "ocla_gflops", "ocla_pct_peak", "torch_gflops", "torch_pct_peak", "ocla_pct_sgemm", "torch_pct_sgemm", "portable_ms", "ratio_portable_over_torch", "ocla_detail", "ocla_error",
                "torch_error"]
        with open(os.path.join(args.out, "torch_cpu_compare.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            w.writeheader()
            for row in rows:
                w.writerow(row)

    for (B, T, H, D) in shapes:
        for m in methods:
            seed = 2000 + 7 * METHODS.index(m) + 131 * T + 3 * H + D + B
            q, k, v, g = make_inputs(torch, m, B, T, H, D, seed)
            dout = torch.randn(B, T, H, D, generator=torch.Generator().manual_seed(seed + 1)) if args.backward else None
            d = os.path.join(args.out, f"{m}_{B}x{T}x{H}x{D}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "meta"), "w") as f:
                f.write(f"{m} {'fwdbwd' if args.backward else 'fwd'} {B} {T} {H} {D}\n")
            for name, t in (("q", q), ("k", k), ("v", v), ("g", g), ("do", dout)):
                if t is not None:
                    write_bin(os.path.join(d, name + ".bin"), t)
            def run_torch(C):
                if args.backward:
                    return chunked_forward_backward(torch, m, q, k, v, g, dout, C, args.sub)
                return chunked_forward(torch, m, q, k, v, g, C, args.sub)

            for forced in chunks:
                row = dict(method=m, B=B, T=T, H=H, D=D, forced_chunk=forced or None,
                           mode="fwdbwd" if args.backward else "fwd")
                ocla_meds, torch_meds, port_meds = [], [], []
                C = forced
                o_ocla = None
                for rep in range(max(1, args.repeat)):
                    print(f"[{m} {B},{T},{H},{D} C={forced or 'pick'}] ocla ({rep + 1}/{args.repeat}) ...",
                          file=sys.stderr, flush=True)
                    res, err = run_ocla(args, d, forced)
                    if err:
                        row["ocla_error"] = err
                        break
                    ocla_meds.append(res["ms"])
                    if rep == 0:
                        C = res["chunk"] or forced or 64
                        row.update(chunk=C, ocla_device=res["device"], ocla_runs=res["runs"])
                        o_ocla = read_bin(torch, os.path.join(d, "o.bin"), (B, T, H, D))
                    if res["ms"] <= min(ocla_meds):
                        row["ocla_detail"] = res.get("detail", "")
                    if args.portable_too:
                        pres, perr = run_ocla(args, d, forced, portable=True)
                        if perr:
                            row["portable_error"] = perr
                        else:
                            port_meds.append(pres["ms"])
                    print(f"[{m} {B},{T},{H},{D} C={C}] torch ({rep + 1}/{args.repeat}) ...", file=sys.stderr,
                          flush=True)
                    try:
                        fn = lambda: run_torch(C)  # noqa: E731
                        med, _ = time_torch(fn, args.runs)
                        torch_meds.append(med)
                    except Exception as e:
                        row["torch_error"] = f"{type(e).__name__}: {e}"
                        break
                if not C:  # ocla failed before telling its chunk: PyTorch at 64 alone
                    C = 64
                    row["chunk"] = C
                if "torch_error" not in row and not torch_meds:
                    try:
                        torch_meds.append(time_torch(lambda: run_torch(C), args.runs)[0])
                    except Exception as e:
                        row["torch_error"] = f"{type(e).__name__}: {e}"
                gflop = B * H * T * (4 * C * D + 4 * D * D) * 1e-9 * (3 if args.backward else 1)  # ocla-bench's 3x
                if ocla_meds:
                    row.update(ocla_ms=min(ocla_meds), ocla_ms_all=ocla_meds)
                    row["ocla_gflops"] = gflop / (row["ocla_ms"] * 1e-3)
                    if pk:
                        row["ocla_pct_peak"] = 100 * row["ocla_gflops"] / pk
                    row["ocla_pct_sgemm"] = 100 * row["ocla_gflops"] / gemm
                if port_meds:
                    row.update(portable_ms=min(port_meds), portable_ms_all=port_meds)
                if torch_meds:
                    row.update(torch_ms=min(torch_meds), torch_ms_all=torch_meds)
                    row["torch_gflops"] = gflop / (row["torch_ms"] * 1e-3)
                    if pk:
                        row["torch_pct_peak"] = 100 * row["torch_gflops"] / pk
                    row["torch_pct_sgemm"] = 100 * row["torch_gflops"] / gemm
                if ocla_meds and torch_meds:
                    row["ratio_ocla_over_torch"] = row["ocla_ms"] / row["torch_ms"]
                if port_meds and torch_meds:
                    row["ratio_portable_over_torch"] = row["portable_ms"] / row["torch_ms"]
                if o_ocla is not None and "torch_error" not in row:
                    ref = run_torch(C)
                    row["max_rel_err"] = rel_err(o_ocla, ref[0] if args.backward else ref)
                    if args.backward:  # the gradients ocla-bench wrote, against autograd's
                        for name, gt in zip(("dq", "dk", "dv", "dg"), ref[1]):
                            gp = os.path.join(d, name + ".bin")
                            if os.path.exists(gp):
                                row[f"max_rel_err_{name}"] = rel_err(read_bin(torch, gp, tuple(gt.shape)), gt)
                        row["max_rel_err"] = max([row["max_rel_err"]] + [row[key] for key in row if key.startswith("max_rel_err_")])
                rows.append(row)
                save()
                print_table(hdr, [row], out=sys.stderr, head=False, foot=False)
            if not args.keep_bins:
                for f in ("q", "k", "v", "g", "o", "do", "dq", "dk", "dv", "dg"):
                    p = os.path.join(d, f + ".bin")
                    if os.path.exists(p):
                        os.remove(p)
    print_table(hdr, rows)
    report["loadavg_end"] = os.getloadavg()
    save()
    bad = [r for r in rows if r.get("ocla_error") or r.get("torch_error")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
