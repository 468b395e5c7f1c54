#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Side-by-side: ocla (OpenCL) vs flash-linear-attention (Triton) on the same GPU, same inputs.

One command (from the repo root, with ocla built in build/ and flash-linear-attention installed with
pip or its source checked out; see docs/BENCHMARKS.md "How to reproduce"):

    python3 perf/fla_compare.py --bench build/perf/ocla-bench --fla PATH/TO/flash-linear-attention --out fla-out

For each case the script makes inputs in PyTorch (seeded), writes them as raw files (fp32, or --dtype's
16-bit patterns), runs `ocla-bench --dtype D --load-inputs DIR` (which writes o.bin, the final state
for decode, and its median time
over >= 20 event-profiled runs), runs fla on the same tensors (median of triton.testing.do_bench after
warm-up, which also absorbs fla's autotuning), and reports max relative error
max|o_ocla - o_fla| / max|o_fla| and the time ratio ocla/fla (< 1: ocla faster).
Cases: chunk linear attention, chunk simple GLA, chunk GLA at (B,T,H,D) = (4,2048,16,128) and
(2,8192,16,128), forward and forward+backward (dq, dk, dv, dg from a seeded do, compared too); decode
step (recurrent, T=1) for 64 sequences x 16 heads x D=128 with state traffic in GB/s against the
bandwidth ocla-bench measures (float4 copy).

fla autotunes every kernel on its first call (~100 s per op and shape on the H100, mostly Triton compiling
the configurations one after the other). To fit one run in minutes, a warm-up phase first runs every case
in its own child process at once (--jobs, default: one per case up to the CPU count): they fill Triton's
on-disk compile cache in parallel. Their autotuning choices are thrown away (they shared the GPU); the
timed phase then autotunes again, sequentially, on an idle GPU, with every compile a cache hit. Rows are
printed and fla_compare.json rewritten after each case, so an interrupted run keeps what it measured.
fla runs in its default fp32 mode (TF32 dots); --ieee adds a second fla timing with
TRITON_F32_DEFAULT=ieee (true fp32, in a child process, since Triton reads it at compile time).
--tf32 adds a second ocla forward timing with OCLA_ALLOW_TF32=1 (one TF32 product on the tensor-core
path: fla's own precision), beside ocla's default fp32-accurate one.
--softmax adds the softmax baseline: ocla's tiled causal softmax attention (ocla-bench --methods softmax,
the scheduler's pick) against PyTorch's scaled_dot_product_attention in fp32, causal, at both shapes.
--fla-unguarded lifts fla's own guard that refuses its gated backward (simple GLA) on Hopper with
Triton 3.4 to 3.7.0 ("incorrect results"): fla is then timed as it runs, its fp64 error reported beside.
--dtype f32|bf16|f16 (default f32): the element type of q, k, v, the gates, do, o and the gradients on
both sides (the decode state stays fp32, as in fla and ocla): the inputs are made in fp32, rounded to
the dtype, written as raw 16-bit files for `ocla-bench --dtype D --load-inputs` and given to fla as
tensors of that dtype. Every case is also checked against an fp64 reference computed on the same
half-rounded inputs (the chunked form in fp64, gradients by autograd: ref_fp64), for ocla and for fla:
max|x - ref| / max|ref| (issue 14's bound: 5e-3 bf16, 1e-3 fp16). --tf32 and --ieee are fp32 options
(skipped, with a note, for the half dtypes).
--modes and --methods (comma lists; default every mode and method) select the cases: the inputs of a
case do not depend on the selection, so a selected run's rows match a full run's.
fla's code is imported from --fla and never copied into the repository.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import types

SHAPES = [(4, 2048, 16, 128), (2, 8192, 16, 128)]
DTYPES = ("f32", "bf16", "f16")


def torch_dtype(name):
    import torch
    return {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]
METHODS = ["linear", "simple_gla", "gla"]
DECODE = (64, 16, 128)  # sequences, heads, D


def naive_fns(device):
    """fp64 token-by-token recurrence in PyTorch with fla's signatures (`--fla naive`): checks this script
    and ocla's outputs without fla or a GPU. Slow: small shapes only."""
    import torch

    def rec(q, k, v, g=None, gk=None, initial_state=None, output_final_state=False, normalize=False, **_):
        B, T, H, K = q.shape
        V = v.shape[-1]
        q, k, v = q.double(), k.double(), v.double()
        S = initial_state.double().clone() if initial_state is not None else q.new_zeros(B, H, K, V)
        o = q.new_zeros(B, T, H, V)
        for t in range(T):
            if g is not None:
                S = S * g[:, t].double().exp()[..., None, None]
            if gk is not None:
                S = S * gk[:, t].double().exp()[..., None]
            S = S + k[:, t, :, :, None] * v[:, t, :, None, :]
            o[:, t] = torch.einsum("bhk,bhkv->bhv", q[:, t] * K ** -0.5, S)
        return o, S

    return dict(chunk_linear_attn=lambda q, k, v, **kw: rec(q, k, v, **kw),
                chunk_simple_gla=lambda q, k, v, g, **kw: rec(q, k, v, g=g, **kw),
                chunk_gla=lambda q, k, v, g, **kw: rec(q, k, v, gk=g, **kw),
                fused_recurrent_simple_gla=lambda q, k, v, g, **kw: rec(q, k, v, g=g, **kw))


def load_fla(path):
    import torch  # noqa: F401
    if path == "naive":
        return naive_fns(None)
    if path:  # a source checkout: its ops only
        fla_dir = os.path.join(os.path.abspath(path), "fla")
        if not os.path.isdir(fla_dir):
            raise ImportError(f"no fla package under {path}")
        # bypass fla/__init__.py (it imports fla.layers and fla.models, which need transformers)
        pkg = types.ModuleType("fla")
        pkg.__path__ = [fla_dir]
        pkg.__version__ = "0.0.0+src"
        sys.modules["fla"] = pkg
    from fla.ops.linear_attn import chunk_linear_attn
    from fla.ops.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla
    from fla.ops.gla import chunk_gla
    if os.environ.get("OCLA_FLA_UNGUARDED") == "1":  # --fla-unguarded (inherited by the children)
        import fla.ops.common.chunk_o as chunk_o
        chunk_o.TRITON_ABOVE_3_7_1 = True  # fla's version guard on its gated backward, lifted
    return dict(chunk_linear_attn=chunk_linear_attn, chunk_simple_gla=chunk_simple_gla, chunk_gla=chunk_gla,
                fused_recurrent_simple_gla=fused_recurrent_simple_gla)


def make_inputs(method, mode, B, T, H, D, seed, dtype="f32"):
    """q, k, v, the log gates (fp32 values rounded to dtype) and the decode state (fp32)."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, D, generator=g)
    k = torch.randn(B, T, H, D, generator=g)
    v = torch.randn(B, T, H, D, generator=g)
    gate = None
    if method == "simple_gla":
        gate = F.logsigmoid(torch.randn(B, T, H, generator=g)) / 16
    elif method == "gla":
        gate = F.logsigmoid(torch.randn(B, T, H, D, generator=g)) / 16
    s = torch.randn(B, H, D, D, generator=g) * 0.1 if mode == "decode" else None
    dt = torch_dtype(dtype)
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    gate = gate.to(dt) if gate is not None else None
    return q, k, v, gate, s


def write_bin(path, t):
    """t's elements, raw, in its own dtype (fp32, or the 16-bit patterns of bf16 / fp16)."""
    t = t.detach().cpu().contiguous()
    with open(path, "wb") as f:
        f.write(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))


def read_bin(path, shape, dtype="f32"):
    import torch
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return torch.frombuffer(data, dtype=torch_dtype(dtype)).clone().reshape(shape)


def ref_fp64(method, mode, q, k, v, gate, s, do=None):
    """fp64 reference on the given (half-rounded) tensors, on their device: the chunked form (chunks of 64,
    gates relative to each chunk's first token, so every exp stays within exp(64 max|g|)), gradients by
    autograd from do. Returns (o, [dq, dk, dv, dg] or None, final state or None)."""
    import torch
    leaves = [t.detach().double().requires_grad_(mode == "fwdbwd") if t is not None else None for t in (q, k, v, gate)]
    q, k, v, g = leaves
    B, T, H, K = q.shape
    qs = q * K ** -0.5
    if mode == "decode":  # one step: S' = exp(g) S + k v^T, o = scale q S'
        S = s.double() * g[:, 0].exp()[..., None, None] + k[:, 0, :, :, None] * v[:, 0, :, None, :]
        return torch.einsum("bhk,bhkv->bhv", qs[:, 0], S)[:, None], None, S
    S = q.new_zeros(B, H, K, v.shape[-1])
    outs = []
    for t0 in range(0, T, 64):
        qc, kc, vc = qs[:, t0:t0 + 64], k[:, t0:t0 + 64], v[:, t0:t0 + 64]
        if method == "linear":
            G = torch.zeros_like(qc)
        elif method == "simple_gla":
            G = g[:, t0:t0 + 64].cumsum(1)[..., None].expand_as(qc)
        else:
            G = g[:, t0:t0 + 64].cumsum(1)
        qg, kg = qc * G.exp(), kc * (-G).exp()
        A = torch.einsum("bihk,bjhk->bhij", qg, kg).tril()
        outs.append(torch.einsum("bhij,bjhv->bihv", A, vc) + torch.einsum("bihk,bhkv->bihv", qg, S))
        Gl = G[:, -1]
        S = S * Gl.exp()[..., None] + torch.einsum("bjhk,bjhv->bhkv", kc * (Gl[:, None] - G).exp(), vc)
    o = torch.cat(outs, 1)
    grads = None
    if mode == "fwdbwd":
        o.backward(do.double())
        grads = [t.grad for t in leaves if t is not None]
    return o.detach(), grads, None


def run_fla(fns, method, mode, q, k, v, gate, s, do=None):
    """A callable running fla's op on the given tensors; for mode fwdbwd it also runs the backward from do
    (the tensors must require grad) and returns (o, [dq, dk, dv, dg])."""
    if mode == "fwdbwd":
        fwd = run_fla(fns, method, "fwd", q, k, v, gate, s)
        leaves = [x for x in (q, k, v, gate) if x is not None]

        def fb():
            for x in leaves:
                x.grad = None
            o = fwd()[0]
            o.backward(do.to(o.dtype))
            return o, [x.grad for x in leaves]
        return fb
    if mode == "decode":
        fn = lambda: fns["fused_recurrent_simple_gla"](q, k, v, g=gate, initial_state=s, output_final_state=True)
    elif method == "linear":
        fn = lambda: fns["chunk_linear_attn"](q, k, v, normalize=False)
    elif method == "simple_gla":
        fn = lambda: fns["chunk_simple_gla"](q, k, v, g=gate)
    else:
        fn = lambda: fns["chunk_gla"](q, k, v, g=gate)
    return fn


def bench_fla(fn, grads=None):
    import torch
    if not torch.cuda.is_available():  # --fla naive on a machine without a GPU: host clock, median of 3
        import time
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
        return sorted(ts)[1]
    import triton.testing
    for _ in range(3):  # autotuning and compilation
        fn()
    torch.cuda.synchronize()
    try:
        return float(triton.testing.do_bench(fn, warmup=100, rep=500, grad_to_none=grads, return_mode="median"))
    except TypeError:
        return float(triton.testing.do_bench(fn, warmup=100, rep=500, grad_to_none=grads, quantiles=[0.5]))


def softmax_rows(args, gpu):
    """ocla's causal softmax baseline against PyTorch SDPA (fp32, causal) at the forward shapes."""
    import torch
    rows = []
    for (B, T, H, D) in ((4, 2048, 16, 128), (2, 8192, 16, 128)):
        row = dict(case=f"softmax/fwd/{B},{T},{H},{D}", method="softmax", mode="fwd", B=B, T=T, H=H, D=D)
        jf = os.path.join(args.out, f"softmax_{B}x{T}.json")
        rr = subprocess.run([args.bench, "--device", args.device, "--methods", "softmax", "--shape", f"{B},{T},{H},{D}",
                             "--chunks", "pick", "--no-peak", "--no-decode", "--no-backward", "--no-host-time", "--json",
                             jf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if rr.returncode == 0:
            with open(jf) as f:
                res = [r for r in json.load(f)["results"] if r["method"] == "softmax" and r["mode"] == "fwd"
                       and r["scheduler_pick"] and r["ms"] > 0]
            if res:
                row["ocla_ms"] = res[0]["ms"]
        else:
            row["ocla_error"] = rr.stderr.strip()[-500:]
        if gpu == "cuda":
            g = torch.Generator(device="cpu").manual_seed(B * 7919 + T)
            q, k, v = (torch.randn(B, H, T, D, generator=g).to(gpu) for _ in range(3))
            torch.backends.cuda.matmul.allow_tf32 = False
            fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
            row["sdpa_ms"] = bench_fla(fn)
            if "ocla_ms" in row:
                row["ratio_ocla_over_sdpa"] = row["ocla_ms"] / row["sdpa_ms"]
            del q, k, v
            torch.cuda.empty_cache()
        print(f"{row['case']:36} ocla {row.get('ocla_ms', float('nan')):9.4f} ms  PyTorch SDPA fp32 "
              f"{row.get('sdpa_ms', float('nan')):9.4f} ms  ratio {row.get('ratio_ocla_over_sdpa', float('nan')):6.2f}",
              file=sys.stderr)
        rows.append(row)
    return rows


def cases(modes=("fwd", "fwdbwd", "decode"), methods=METHODS):
    out = []
    for mode in ("fwd", "fwdbwd"):
        if mode in modes:
            for (B, T, H, D) in SHAPES:
                for m in METHODS:
                    if m in methods:
                        out.append((m, mode, B, T, H, D))
    if "decode" in modes and "simple_gla" in methods:
        out.append(("simple_gla", "decode", DECODE[0], 1, DECODE[1], DECODE[2]))
    return out


def case_seed(m, mode, B, T, H, D):
    """The same inputs for a case in every process (and for fwd and fwdbwd of a shape)."""
    return 1000 + 7 * METHODS.index(m) + 131 * T + B + (5 if mode == "decode" else 0)


def to_dev(xs, gpu, grad):
    out = []
    for x in xs:
        if x is None:
            out.append(None)
            continue
        x = x.to(gpu)
        out.append(x.requires_grad_(True) if grad else x)
    return out


def fla_only(args):
    """Child mode: time fla on each selected case (--case i or all), print JSON {case: ms}; with --warm,
    run each case's op three times only (compile + autotune) and print nothing."""
    import torch
    fns = load_fla(args.fla)
    out = {}
    all_cases = cases(args.modes.split(","), args.method_list)
    picked = [all_cases[args.case]] if args.case >= 0 else all_cases
    for (m, mode, B, T, H, D) in picked:
        q, k, v, gate, s = make_inputs(m, mode, B, T, H, D, case_seed(m, mode, B, T, H, D), args.dtype)
        g = torch.Generator().manual_seed(case_seed(m, mode, B, T, H, D) + 1)
        do = torch.randn(B, T, H, D, generator=g).to(torch_dtype(args.dtype)).cuda() if mode == "fwdbwd" else None
        dev = to_dev((q, k, v, gate, s), "cuda", mode == "fwdbwd")
        fn = run_fla(fns, m, mode, *dev, do=do)
        if args.warm:
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
        else:
            out[f"{m}/{mode}/{B},{T},{H},{D}"] = bench_fla(fn, [x for x in dev[:4] if x is not None]
                                                           if mode == "fwdbwd" else None)
        del dev, fn
        torch.cuda.empty_cache()
    if not args.warm:
        print(json.dumps(out))


def warm_up(args):
    """Fill Triton's compile cache: every case in its own process, --jobs at once (with --ieee, the
    forward cases again under TRITON_F32_DEFAULT=ieee). Returns seconds."""
    import time
    specs = [(None, args.modes, i) for i in range(len(cases(args.modes.split(","), args.method_list)))]
    if args.ieee and "fwd" in args.modes.split(","):
        ieee_env = dict(os.environ, TRITON_F32_DEFAULT="ieee")
        specs += [(ieee_env, "fwd", i) for i in range(len(cases(["fwd"], args.method_list)))]
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, len(specs)))
    t0 = time.time()
    running, failed = [], 0
    while specs or running:
        while specs and len(running) < jobs:
            env, modes, i = specs.pop(0)
            cmd = [sys.executable, __file__, "--fla-only", "--warm", "--case", str(i), "--fla", args.fla,
                   "--modes", modes, "--methods", args.methods, "--dtype", args.dtype]
            running.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            text=True))
        time.sleep(0.5)
        if args.warm_timeout and time.time() - t0 > args.warm_timeout:
            for p in running:
                p.kill()
            print(f"warm-up: stopped after {args.warm_timeout} s ({len(running)} running, {len(specs)} not started); "
                  "those cases compile in the timed phase", file=sys.stderr, flush=True)
            break
        for p in list(running):
            if p.poll() is not None:
                running.remove(p)
                err = p.stderr.read()
                if p.returncode != 0:
                    failed += 1
                    print("warm-up child failed:\n" + err[-2000:], file=sys.stderr)
    print(f"warm-up: {jobs} processes at once, {time.time() - t0:.0f} s, {failed} failed", file=sys.stderr,
          flush=True)
    return time.time() - t0


def rel_err(a, b):
    """max|a - b| / max|b|, in fp64 (either may be half)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def print_table(peak, args, rows, out=sys.stdout):
    print(f"device: {peak.get('name', '?')}  driver {peak.get('driver', '?')}  measured fp32 FMA peak "
          f"{peak.get('peak_gflops', 0):.1f} GFLOP/s, copy {peak.get('copy_gbs', 0):.1f} GB/s; "
          f"fla: {'naive fp64 recurrence (--fla naive)' if args.fla == 'naive' else args.fla}; dtype {args.dtype}"
          f"{'; fla guard lifted (--fla-unguarded)' if args.fla_unguarded else ''}", file=out)
    print(f"{'case':36} {'dtype':>5} {'ocla ms':>9} {'fla ms':>9} {'ratio':>6} {'fla ieee':>9} {'ratio':>6} "
          f"{'err o':>9} {'err grads':>9} {'ocla e64':>9} {'fla e64':>9} {'C':>4} {'%FMA/%BW':>9} {'ocla tf32':>9} "
          f"{'ratio':>6}", file=out)
    for r in rows:
        def g(k, fmt):
            w = int("".join(c for c in fmt.split(".")[0] if c.isdigit()) or 0)
            return format(r[k], fmt) if k in r else "-".rjust(w)
        pct = g("ocla_pct_bw", ".1f") if r["mode"] == "decode" else g("ocla_pct_fma", ".1f")
        print(f"{r['case']:36} {r.get('dtype', 'f32'):>5} {g('ocla_ms', '9.4f')} {g('fla_ms', '9.4f')} "
              f"{g('ratio_ocla_over_fla', '6.2f')} {g('fla_ieee_ms', '9.4f')} {g('ratio_ocla_over_fla_ieee', '6.2f')} "
              f"{g('max_rel_err_o', '9.2e')} {g('max_rel_err_grads', '9.2e')} {g('ocla_err_fp64', '9.2e')} "
              f"{g('fla_err_fp64', '9.2e')} {g('ocla_chunk', '4d')} {pct:>9} {g('ocla_tf32_ms', '9.4f')} "
              f"{g('ratio_ocla_tf32_over_fla', '6.2f')}", file=out)
        for who in ("ocla", "fla"):
            if f"{who}_error" in r and r[f"{who}_error"]:
                print(f"   {who} failed: " + r[f"{who}_error"].strip().splitlines()[-1], file=out)
    print("ratio = ocla / fla (< 1: ocla faster); fwdbwd = forward + backward (dq,dk,dv,dg) per call.\n"
          "ocla tf32: OCLA_ALLOW_TF32=1 (--tf32), its ratio against fla's default (TF32 dots).\n"
          "err o / err grads: max|ocla - fla| / max|fla| (grads: worst of dq, dk, dv, dg).\n"
          "ocla e64 / fla e64: max|x - ref| / max|ref| against fp64 on the same (half-rounded) inputs, worst of\n"
          "o and the gradients (decode: o and the state).\n"
          "decode %BW: state read+write vs measured copy bandwidth.", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/perf/ocla-bench", help="ocla-bench binary")
    ap.add_argument("--fla", default="",
                    help="folder holding fla's source (the fla/ package; default: the installed fla); 'naive' = fp64 PyTorch recurrence")
    ap.add_argument("--device", default="nvidia", help="ocla device selector")
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "bench-results"), "fla"))
    ap.add_argument("--modes", default="fwd,fwdbwd,decode", help="comma list of fwd, fwdbwd, decode")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma list of " + ", ".join(METHODS) + " (decode: simple_gla's)")
    ap.add_argument("--ieee", action="store_true", help="also time fla with TRITON_F32_DEFAULT=ieee (forward)")
    ap.add_argument("--tf32", action="store_true", help="also time ocla with OCLA_ALLOW_TF32=1 (fwd and fwdbwd)")
    ap.add_argument("--softmax", action="store_true", help="also time ocla's softmax baseline against PyTorch SDPA fp32")
    ap.add_argument("--dtype", default="f32", choices=DTYPES,
                    help="element type of q, k, v, gates, do, o and the gradients on both sides (states fp32)")
    ap.add_argument("--fla-unguarded", action="store_true",
                    help="lift fla's guard that refuses its gated backward (simple GLA) on Hopper with Triton 3.4-3.7.0 "
                         "(fla: 'incorrect results'); fla is then timed as it runs, and its fp64 error is reported")
    ap.add_argument("--jobs", type=int, default=0, help="warm-up processes at once (0: one per case, <= CPUs)")
    ap.add_argument("--no-warm", action="store_true", help="skip the parallel warm-up")
    ap.add_argument("--warm-timeout", type=int, default=330, help="stop the warm-up after this many seconds")
    ap.add_argument("--fla-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.method_list = args.methods.split(",")  # the comma list, once (the children get --methods as given)
    bad = [m for m in args.method_list if m not in METHODS]
    if bad:
        ap.error(f"--methods: unknown {', '.join(bad)} (known: {', '.join(METHODS)})")
    if args.fla_unguarded:
        os.environ["OCLA_FLA_UNGUARDED"] = "1"
    if args.fla_only:
        return fla_only(args)
    if args.dtype != "f32" and (args.tf32 or args.ieee):  # fp32 options: nothing to compare in half
        print(f"--dtype {args.dtype}: --tf32 and --ieee are fp32 options, skipped", file=sys.stderr)
        args.tf32 = args.ieee = False

    import torch
    gpu = "cuda" if torch.cuda.is_available() else "cpu"
    os.makedirs(args.out, exist_ok=True)
    try:
        fns = load_fla(args.fla)
        fla_err = None
    except Exception as e:  # fla not importable: ocla times only
        fns, fla_err = None, f"{type(e).__name__}: {e}"
        print(f"fla not importable ({fla_err}); ocla times only", file=sys.stderr)

    # the device's measured peak and bandwidth, through ocla-bench
    peak = {}
    pj = os.path.join(args.out, "peak.json")
    r = subprocess.run([args.bench, "--device", args.device, "--methods", "linear", "--shape", "1,64,1,64", "--chunks",
                        "pick", "--no-decode", "--no-backward", "--no-host-time", "--json", pj],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode == 0:
        with open(pj) as f:
            peak = json.load(f)["devices"][0]
    else:
        print(r.stderr, file=sys.stderr)

    if fns and gpu == "cuda" and args.fla != "naive" and not args.no_warm:
        report_warm = warm_up(args)
    else:
        report_warm = None

    report = dict(device=peak, fla_error=fla_err, rows=[], warm_up_s=report_warm, torch=torch.__version__,
                  dtype=args.dtype, fla_unguarded=args.fla_unguarded,
                  triton=getattr(__import__("triton"), "__version__", "?") if gpu == "cuda" else None)
    rows = report["rows"]

    def save():
        with open(os.path.join(args.out, "fla_compare.json"), "w") as f:
            json.dump(report, f, indent=1)

    for (m, mode, B, T, H, D) in cases(args.modes.split(","), args.method_list):
        key = f"{m}/{mode}/{B},{T},{H},{D}"
        d = os.path.join(args.out, key.replace("/", "_").replace(",", "x"))
        os.makedirs(d, exist_ok=True)
        seed = case_seed(m, mode, B, T, H, D)
        q, k, v, gate, s = make_inputs(m, mode, B, T, H, D, seed, args.dtype)
        do = (torch.randn(B, T, H, D, generator=torch.Generator().manual_seed(seed + 1)).to(torch_dtype(args.dtype))
              if mode == "fwdbwd" else None)
        with open(os.path.join(d, "meta"), "w") as f:
            f.write(f"{m} {mode} {B} {T} {H} {D}\n")
        for name, t in (("q", q), ("k", k), ("v", v), ("g", gate), ("s", s), ("do", do)):
            if t is not None:
                write_bin(os.path.join(d, name + ".bin"), t)
        print(f"[{key}] ocla ...", file=sys.stderr, flush=True)
        rr = subprocess.run([args.bench, "--device", args.device, "--dtype", args.dtype, "--load-inputs", d],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        row = dict(case=key, method=m, mode=mode, B=B, T=T, H=H, D=D, dtype=args.dtype)
        grad_names = ["dq", "dk", "dv"] + (["dg"] if gate is not None else [])
        if rr.returncode != 0:
            row["ocla_error"] = rr.stderr.strip()[-500:]
        else:
            with open(os.path.join(d, "result.txt")) as f:
                parts = f.read().split()
            row.update(ocla_ms=float(parts[0]), ocla_ms_min=float(parts[1]), ocla_chunk=int(parts[2]),
                       ocla_runs=int(parts[3]), ocla_device=" ".join(parts[4:]))
            o_ocla = read_bin(os.path.join(d, "o.bin"), (B, T, H, D), args.dtype)
            if mode == "fwdbwd":  # keep the default run's gradients: the TF32 run writes its own
                for name in grad_names:
                    os.replace(os.path.join(d, name + ".bin"), os.path.join(d, name + ".default.bin"))
        o_tf32 = None
        if args.tf32 and mode in ("fwd", "fwdbwd"):
            rr = subprocess.run([args.bench, "--device", args.device, "--load-inputs", d], env=dict(
                os.environ, OCLA_ALLOW_TF32="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if rr.returncode == 0:
                with open(os.path.join(d, "result.txt")) as f:
                    row["ocla_tf32_ms"] = float(f.read().split()[0])
                o_tf32 = read_bin(os.path.join(d, "o.bin"), (B, T, H, D))
            else:
                row["ocla_tf32_error"] = rr.stderr.strip()[-500:]
        # the fp64 reference on the same (rounded) inputs, for ocla's outputs here and fla's below
        print(f"[{key}] fp64 reference ...", file=sys.stderr, flush=True)
        ref = ref_fp64(m, mode, *to_dev((q, k, v, gate, s), gpu, False), do=do.to(gpu) if do is not None else None)
        if "ocla_ms" in row:
            errs = [rel_err(o_ocla, ref[0])]
            if mode == "fwdbwd":
                errs += [rel_err(read_bin(os.path.join(d, n + ".default.bin"), tuple(r.shape), args.dtype), r)
                         for n, r in zip(grad_names, ref[1])]
            if mode == "decode":
                errs.append(rel_err(read_bin(os.path.join(d, "s_out.bin"), (B, H, D, D)), ref[2]))
            row["ocla_err_fp64"] = max(errs)
        if fns:
            print(f"[{key}] fla ...", file=sys.stderr, flush=True)
            try:
                dev = to_dev((q, k, v, gate, s), gpu, mode == "fwdbwd")
                fn = run_fla(fns, m, mode, *dev, do=do.to(gpu) if do is not None else None)
                res = fn()
                o_fla = res[0]
                row["fla_ms"] = bench_fla(fn, [x for x in dev[:4] if x is not None] if mode == "fwdbwd" else None)
                if "ocla_ms" in row:
                    row["max_rel_err_o"] = rel_err(o_ocla, o_fla)
                    row["ratio_ocla_over_fla"] = row["ocla_ms"] / row["fla_ms"]
                if o_tf32 is not None:
                    row["max_rel_err_o_tf32"] = rel_err(o_tf32, o_fla)
                    row["ratio_ocla_tf32_over_fla"] = row["ocla_tf32_ms"] / row["fla_ms"]
                if mode == "fwdbwd" and "ocla_ms" in row:  # the default run's gradients against fla's
                    errs = {}
                    for name, gt in zip(grad_names, res[1]):
                        shape = tuple(gt.shape)
                        errs[name] = rel_err(read_bin(os.path.join(d, name + ".default.bin"), shape, args.dtype), gt)
                    row["rel_err_grads"] = errs
                    row["max_rel_err_grads"] = max(errs.values())
                if mode == "decode" and res[1] is not None and "ocla_ms" in row:
                    s_ocla = read_bin(os.path.join(d, "s_out.bin"), (B, H, D, D))
                    row["max_rel_err_state"] = rel_err(s_ocla, res[1])
                ferrs = [rel_err(o_fla, ref[0])]
                if mode == "fwdbwd":
                    ferrs += [rel_err(gt, r) for gt, r in zip(res[1], ref[1])]
                if mode == "decode" and res[1] is not None:
                    ferrs.append(rel_err(res[1], ref[2]))
                row["fla_err_fp64"] = max(ferrs)
                del dev, fn, res
            except Exception as e:  # keep the ocla row
                row["fla_error"] = f"{type(e).__name__}: {e}"
            if gpu == "cuda":
                torch.cuda.empty_cache()
        if mode == "decode":
            state_bytes = 2.0 * B * H * D * D * 4
            for who in ("ocla", "fla"):
                if f"{who}_ms" in row:
                    row[f"{who}_state_gbs"] = state_bytes / (row[f"{who}_ms"] * 1e-3) * 1e-9
                    if peak.get("copy_gbs"):
                        row[f"{who}_pct_bw"] = 100 * row[f"{who}_state_gbs"] / peak["copy_gbs"]
        elif mode == "fwd":
            gflop = B * H * T * (4 * row.get("ocla_chunk", 64) * D + 4 * D * D) * 1e-9
            if "ocla_ms" in row:
                row["ocla_gflops"] = gflop / (row["ocla_ms"] * 1e-3)
                if peak.get("peak_gflops"):
                    row["ocla_pct_fma"] = 100 * row["ocla_gflops"] / peak["peak_gflops"]
        del ref
        rows.append(row)
        save()
        print_table(peak, args, [row], out=sys.stderr)
        for f in ("q", "k", "v", "g", "s", "do", "o", "s_out", "dq", "dk", "dv", "dg"):  # keep $OUT small
            for p in (os.path.join(d, f + ".bin"), os.path.join(d, f + ".default.bin")):
                if os.path.exists(p):
                    os.remove(p)

    if args.ieee and fns and "fwd" in args.modes.split(","):
        # fla forward with true fp32 dots, after ocla and fla are done (nothing else on the GPU); a child
        # process because Triton reads TRITON_F32_DEFAULT at compile time
        print("fla with TRITON_F32_DEFAULT=ieee ...", file=sys.stderr, flush=True)
        env = dict(os.environ, TRITON_F32_DEFAULT="ieee")
        rr = subprocess.run([sys.executable, __file__, "--fla-only", "--fla", args.fla, "--modes", "fwd"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if rr.returncode == 0:
            ieee = json.loads(rr.stdout.strip().splitlines()[-1])
            for row in rows:
                if row["case"] in ieee:
                    row["fla_ieee_ms"] = ieee[row["case"]]
                    if "ocla_ms" in row:
                        row["ratio_ocla_over_fla_ieee"] = row["ocla_ms"] / row["fla_ieee_ms"]
        else:
            print("fla ieee run failed:\n" + rr.stderr[-3000:], file=sys.stderr)
    if args.softmax:
        report["softmax"] = softmax_rows(args, gpu)
    save()
    print_table(peak, args, rows)
    for r in report.get("softmax", []):
        print(f"{r['case']:36} ocla {r.get('ocla_ms', float('nan')):9.4f} ms  PyTorch SDPA fp32 causal "
              f"{r.get('sdpa_ms', float('nan')):9.4f} ms  ratio {r.get('ratio_ocla_over_sdpa', float('nan')):6.2f}")


if __name__ == "__main__":
    main()
