#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Make the fla fixtures of tests/test_model_run.c (suite model_run, test fla_fixtures).

Builds small GLAForCausalLM models with flash-linear-attention's own modeling code (fla/models/gla)
and Hugging Face transformers, with random weights (seeded), and saves each in OUT/<name>/:

  config.json, model.safetensors (or shards + model.safetensors.index.json)   save_pretrained, fp32
  logits.bin     float32 little-endian, (N + M) rows of vocab_size: the logits of the prompt at every
                 position (N rows), then the logits after feeding each of the M greedy tokens
  expected.txt   "prompt N id...", "tokens M id..." (greedy: token i is the argmax of the row before
                 it), "vocab V", then lines of information (versions, cross-checks) the test ignores

Needs a CUDA GPU (fla's Triton kernels), torch, transformers, einops and fla's source:

  python3 tests/tools/make_gla_fixtures.py --fla /path/to/flash-linear-attention --out tests/fixtures/gla

(--fla is the directory that contains the fla/ package.) --only NAME[,NAME] makes only those fixtures
(each keeps the seed of its place in CONFIGS, so a partial run makes the same files). With --bench DIR it also saves a GLA model of
about 340M parameters (hidden 1024, 24 layers, 4 heads, vocabulary 32000, random weights, 1.4 GB
fp32: not a fixture) in DIR and times fla's own decoding of it at batch 1 and 64, printing the
ocla-generate command lines that time ocla on the same checkpoint. The logits are fla's in fp32 with TF32 off
and every GLA layer in its 'fused_recurrent' mode (fla picks it itself for T <= 64; it has no tl.dot,
so no TF32 rounding at any length); the 'chunk' mode's logits are compared on the side. The script
also computes the whole model in float64 on the CPU (plain torch, from the saved weights, written
from fla's modeling code as tests/ref/ref_model.c is) and fails if fla's logits are not within 1e-4
of it, or if a greedy choice is closer to a tie than 1e-3 (then it tries the next seed).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

# Small configurations: each well under 1 MB of fp32 weights. Every option ocla runs is covered
# somewhere: default MLP width rounding, grouped kv heads, tied embeddings, no affine output norm,
# unfused norms, a sharded save, head dims of 32, a prompt longer than fla's 64-token switch, the
# feature maps, short convolutions, no output gate and clamp_min.
CONFIGS = [
    dict(name="base", prompt=20, cfg=dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_heads=2)),
    dict(name="tied_grouped", prompt=20,
         cfg=dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_heads=4, num_kv_heads=2,
                  intermediate_size=128, tie_word_embeddings=True, elementwise_affine=False)),
    dict(name="sharded", prompt=20, shard="120KB",
         cfg=dict(vocab_size=128, hidden_size=64, num_hidden_layers=3, num_heads=2, expand_v=2.0,
                  intermediate_size=128, fuse_norm=False)),
    dict(name="long", prompt=100,
         cfg=dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_heads=2, expand_k=1.0,
                  intermediate_size=128)),
    # the options of fla's GatedLinearAttention beyond the defaults (feature maps on q and k, short
    # convolutions of q, k, v, no output gate, a lower bound on the log gates), one per model, then
    # all together with grouped heads; vocabulary 64, width 32, one layer (two where states chain
    # through layers: conv2_long, options_combined), 60-145 KB each. fla's GLABlock passes no conv_bias
    # to the layer (its ShortConvolutions have no bias in a GLAForCausalLM), so no fixture can have one.
    dict(name="fmap_relu", prompt=20, cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2,
                                               intermediate_size=64, feature_map="relu")),
    dict(name="fmap_swish", prompt=20, cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2,
                                                intermediate_size=64, feature_map="swish")),
    dict(name="fmap_gelu", prompt=20, cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2,
                                               intermediate_size=64, feature_map="gelu")),
    dict(name="fmap_logsigmoid", prompt=20,
         cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2, intermediate_size=64,
                  feature_map="logsigmoid")),
    dict(name="conv4", prompt=20, cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2,
                                           intermediate_size=64, use_short_conv=True, conv_size=4)),
    dict(name="conv2_long", prompt=100,
         cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_heads=2, intermediate_size=64,
                  use_short_conv=True, conv_size=2)),
    dict(name="no_output_gate", prompt=20,
         cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2, intermediate_size=64,
                  use_output_gate=False)),
    dict(name="clamp_min", prompt=20, cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_heads=2,
                                               intermediate_size=64, clamp_min=-0.05)),
    dict(name="options_combined", prompt=70,
         cfg=dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_heads=4, num_kv_heads=2,
                  intermediate_size=64, feature_map="sigmoid", use_short_conv=True, conv_size=3,
                  use_output_gate=False, clamp_min=-0.03, elementwise_affine=False)),
]
STEPS = 32
MAX_BYTES = 1 << 20   # per model's weights
TOL_FP64 = 1e-4       # fla (fp32) against the float64 reference, normwise per row
MARGIN = 1e-3         # greedy: top-1 minus top-2 at least MARGIN * |top-1| + 1e-4


def die(msg):
    sys.exit("make_gla_fixtures: " + msg)


def imports(fla_dir):
    if not os.path.isdir(os.path.join(fla_dir, "fla")):
        die(f"--fla {fla_dir}: no fla/ package there (give the directory that contains fla/)")
    sys.path.insert(0, os.path.abspath(fla_dir))
    try:
        import torch
        import transformers
    except ImportError as e:
        die(f"needs torch and transformers ({e})")
    try:
        import fla
        from fla.models.gla import GLAConfig, GLAForCausalLM
    except Exception as e:  # fla's import pulls triton and einops
        die(f"cannot import fla's GLA model from {fla_dir}: {type(e).__name__}: {e}")
    if os.path.dirname(os.path.abspath(fla.__file__)) != os.path.join(os.path.abspath(fla_dir), "fla"):
        die(f"imported fla from {fla.__file__}, not from --fla {fla_dir} (an installed fla shadows it?)")
    return torch, transformers, fla, GLAConfig, GLAForCausalLM


def init_weights(torch, model, gen):
    """Unit-scale random weights (as tests/test_model_run.c writes its own): Linear [out, in]
    uniform with variance 1/in, norm weights 1 +- 0.2, biases +- 0.5, embeddings +- 1. fla's own
    initialisation (std 0.02) makes nearly uniform logits, whose greedy choices are near ties."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            u = torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1
            if "embeddings" in name:
                v = u
            elif "norm" in name:
                v = 1 + 0.2 * u
            elif name.endswith("bias"):
                v = 0.5 * u
            elif p.dim() == 2:
                v = u * math.sqrt(3.0 / p.shape[1])
            elif p.dim() == 3 and "conv1d" in name:  # depthwise Conv1d [channels, 1, conv_size]
                v = u * math.sqrt(3.0 / p.shape[2])
            else:
                die(f"parameter {name} {tuple(p.shape)}: no rule to initialise it (a newer fla option?)")
            p.copy_(v.to(p.dtype))


def set_mode(model, mode):
    n = 0
    for m in model.modules():
        if type(m).__name__ == "GatedLinearAttention":
            if not hasattr(m, "mode"):
                die("fla's GatedLinearAttention has no 'mode' attribute in this version")
            m.mode = mode
            n += 1
    if n == 0:
        die("no GatedLinearAttention layer in the model")


def logits_of(torch, model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=False)
    lg = out.logits if hasattr(out, "logits") else out[0]
    if lg.shape[1] != ids.shape[1]:
        die(f"the model returned logits for {lg.shape[1]} of {ids.shape[1]} positions")
    return lg[0].double().cpu()


def reference(torch, sd, c, ids):
    """float64 whole model on the CPU, from the state dict (the math of tests/ref/ref_model.c)."""
    F = torch.nn.functional
    W = {k: v.detach().double().cpu() for k, v in sd.items()}
    d, H = c.hidden_size, c.num_heads
    G = H // (c.num_kv_heads or H)
    kd, vd = int(d * c.expand_k), int(d * c.expand_v)
    K, V = kd // H, vd // H
    eps = c.norm_eps

    def rms(x, w):
        y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
        return y * w if w is not None else y

    def short_conv(z, name):
        """fla's ShortConvolution (activation silu, no bias in a GLA model): causal depthwise
        y[t, c] = silu(sum_j w[c, 0, j] z[t - (W - 1) + j, c]), zeros before the first token."""
        w = W[name]
        n = w.shape[2]
        zp = torch.cat([torch.zeros(n - 1, z.shape[1], dtype=z.dtype), z])
        y = sum(zp[j:j + z.shape[0]] * w[:, 0, j] for j in range(n))
        return F.silu(y)

    fmap = {None: lambda z: z, "relu": F.relu, "sigmoid": torch.sigmoid, "logsigmoid": F.logsigmoid,
            "swish": F.silu, "silu": F.silu, "sqrelu": lambda z: F.relu(z) ** 2,
            # fla's ACT2FN['gelu'] is its tanh approximation, with these constants
            "gelu": lambda z: z * 0.5 * (1.0 + torch.tanh(0.79788456 * z * (1 + 0.044715 * z * z)))}
    if c.feature_map not in fmap:
        die(f"feature_map {c.feature_map!r}: the float64 reference does not compute it")

    x = W["model.embeddings.weight"][ids]
    for l in range(c.num_hidden_layers):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "attn_norm.weight"])
        q = h @ W[p + "attn.q_proj.weight"].T
        k = h @ W[p + "attn.k_proj.weight"].T
        v = h @ W[p + "attn.v_proj.weight"].T
        if c.use_short_conv:  # fla: the convolutions of the projections, before the heads are split
            q, k, v = (short_conv(z, p + f"attn.{n}_conv1d.weight") for z, n in ((q, "q"), (k, "k"), (v, "v")))
        gk = (h @ W[p + "attn.gk_proj.0.weight"].T) @ W[p + "attn.gk_proj.1.weight"].T + W[p + "attn.gk_proj.1.bias"]
        T = x.shape[0]
        q = q.view(T, H, K)
        k = k.view(T, H // G, K).repeat_interleave(G, dim=1)  # fla: '(h d) -> (h g) d'
        gk = (F.logsigmoid(gk) / 16).view(T, H // G, K).repeat_interleave(G, dim=1)
        if c.clamp_min is not None:  # fla: clamp_min on the normalised log gate
            gk = torch.clamp_min(gk, torch.tensor(c.clamp_min, dtype=torch.float32).double())
        v = v.view(T, H // G, V).repeat_interleave(G, dim=1)
        q, k = fmap[c.feature_map](q), fmap[c.feature_map](k)  # fla: after the gate, on q and k only
        S = torch.zeros(H, K, V, dtype=torch.float64)
        o = torch.empty(T, H, V, dtype=torch.float64)
        for t in range(T):
            S = torch.exp(gk[t])[:, :, None] * S + k[t][:, :, None] * v[t][:, None, :]
            o[t] = torch.einsum("hk,hkv->hv", q[t], S) * K ** -0.5
        gw = W.get(p + "attn.g_norm_swish_gate.weight", W.get(p + "attn.g_norm.weight"))
        o = rms(o, gw).reshape(T, vd)
        if c.use_output_gate:  # else fla's o = g_norm(o): RMSNorm only
            o = o * F.silu(h @ W[p + "attn.g_proj.weight"].T)
        x = x + o @ W[p + "attn.o_proj.weight"].T
        h = rms(x, W[p + "mlp_norm.weight"])
        z = F.silu(h @ W[p + "mlp.gate_proj.weight"].T) * (h @ W[p + "mlp.up_proj.weight"].T)
        x = x + z @ W[p + "mlp.down_proj.weight"].T
    head = W["model.embeddings.weight"] if c.tie_word_embeddings else W["lm_head.weight"]
    return rms(x, W["model.norm.weight"]) @ head.T


def row_err(a, b):
    """max over rows of max|a - b| / max|b| (the C test's metric)"""
    return max(float((a[i] - b[i]).abs().max() / b[i].abs().max().clamp_min(1e-30)) for i in range(b.shape[0]))


def margin_ok(row):
    top = torch_topk2(row)
    return top[0] - top[1] >= MARGIN * abs(top[0]) + 1e-4


def torch_topk2(row):
    v = row.topk(2).values
    return float(v[0]), float(v[1])


def loader_keys(repo):
    """The config keys ocla's loader reads or ignores (runtime/model_config.c), or None."""
    path = os.path.join(repo, "runtime", "model_config.c")
    try:
        src = open(path).read()
    except OSError:
        return None
    return set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', src))


def make_one(mods, spec, out, seed, device, repo):
    torch, transformers, fla, GLAConfig, GLAForCausalLM = mods
    cfg = GLAConfig(**spec["cfg"])
    for attempt in range(20):
        s = seed + 1000 * attempt
        torch.manual_seed(s)
        # transformers >= 5 wants _tied_weights_keys as {tied: source}; fla's models give a list
        if isinstance(GLAForCausalLM._tied_weights_keys, list) and int(transformers.__version__.split(".")[0]) >= 5:
            GLAForCausalLM._tied_weights_keys = {"lm_head.weight": "model.embeddings.weight"}
        model = GLAForCausalLM(cfg).float()
        gen = torch.Generator().manual_seed(s)
        init_weights(torch, model, gen)
        model.tie_weights()
        model = model.to(device).eval()
        nbytes = sum(p.numel() * 4 for p in {id(p): p for p in model.parameters()}.values())
        if nbytes > MAX_BYTES:
            die(f"{spec['name']}: {nbytes} bytes of weights, above {MAX_BYTES}")
        vocab = cfg.vocab_size
        prompt = torch.randint(0, vocab, (1, spec["prompt"]), generator=gen).to(device)
        set_mode(model, "fused_recurrent")
        rows = [logits_of(torch, model, prompt)]
        seq = prompt
        toks, margins = [], [rows[0][-1]]
        for i in range(STEPS):
            t = int(rows[-1][-1].argmax())
            toks.append(t)
            seq = torch.cat([seq, torch.tensor([[t]], device=device)], dim=1)
            rows.append(logits_of(torch, model, seq)[-1:])
            margins.append(rows[-1][-1])
        if all(margin_ok(r) for r in margins[:-1]):
            break
        print(f"  {spec['name']}: seed {s}: a greedy choice within {MARGIN} of a tie, next seed")
    else:
        die(f"{spec['name']}: no seed of 20 gave greedy choices away from ties")
    logits = torch.cat(rows, dim=0)  # N + M rows
    ids = seq[0].cpu()
    # cross-checks: float64 reference, fla's chunk mode, fla's cached decoding
    ref = reference(torch, model.state_dict(), cfg, ids)
    e64 = row_err(logits, ref)
    if e64 > TOL_FP64:
        die(f"{spec['name']}: fla's logits differ from the float64 reference by {e64:.3e} (> {TOL_FP64}): "
            "fla's math is not what tests/ref/ref_model.c assumes; look before committing fixtures")
    set_mode(model, "chunk")
    e_chunk = row_err(logits_of(torch, model, seq), ref)
    set_mode(model, "fused_recurrent")
    e_cache = "n/a"
    try:
        with torch.no_grad():
            o = model(input_ids=prompt, use_cache=True)
            pkv, dec = o.past_key_values, []
            for t in toks:
                o = model(input_ids=torch.tensor([[t]], device=device), past_key_values=pkv, use_cache=True)
                pkv = o.past_key_values
                dec.append(o.logits[0, -1:].double().cpu())
        e_cache = f"{row_err(torch.cat(dec), logits[spec['prompt']:]):.3e}"
    except Exception as e:  # the cache API changes between versions: informational only
        e_cache = f"failed ({type(e).__name__}: {str(e)[:80]})"
    # save
    d = os.path.join(out, spec["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith((".safetensors", ".json", ".bin", ".txt")):
            os.remove(os.path.join(d, f))
    kw = dict(safe_serialization=True)
    if "shard" in spec:
        kw["max_shard_size"] = spec["shard"]
    model.save_pretrained(d, **kw)
    gc = os.path.join(d, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)  # not part of the fixture
    if "shard" in spec and not os.path.exists(os.path.join(d, "model.safetensors.index.json")):
        die(f"{spec['name']}: save_pretrained(max_shard_size={spec['shard']}) wrote no index")
    with open(os.path.join(d, "config.json")) as f:
        keys = set(json.load(f))
    known = loader_keys(repo)
    if known is not None and keys - known:
        die(f"{spec['name']}: config.json has keys ocla's loader does not know: {sorted(keys - known)} "
            "(runtime/model_config.c refuses them; add those that cannot change the math to its ignore list)")
    with open(os.path.join(d, "logits.bin"), "wb") as f:
        f.write(struct.pack(f"<{logits.numel()}f", *logits.float().flatten().tolist()))
    with open(os.path.join(d, "expected.txt"), "w") as f:
        f.write(f"prompt {spec['prompt']} {' '.join(str(int(t)) for t in prompt[0].tolist())}\n")
        f.write(f"tokens {len(toks)} {' '.join(str(t) for t in toks)}\n")
        f.write(f"vocab {vocab}\n")
        f.write(f"# fla {getattr(fla, '__version__', '?')}, torch {torch.__version__}, "
                f"transformers {transformers.__version__}, device {torch.cuda.get_device_name() if device == 'cuda' else device}\n")
        f.write(f"# seed {s}; logits: fla fused_recurrent mode, fp32, TF32 off\n")
        f.write(f"# fla vs float64 reference {e64:.3e}; fla chunk mode vs reference {e_chunk:.3e}; "
                f"fla cached decoding vs full forward {e_cache}\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"  {spec['name']}: {size} bytes; fla vs fp64 {e64:.2e}, chunk mode {e_chunk:.2e}, cached decode {e_cache}")
    return size


BENCH_CFG = dict(vocab_size=32000, hidden_size=1024, num_hidden_layers=24, num_heads=4)


def bench(mods, out, device, prompt_len=128, new=128):
    """fla's decoding speed on a ~340M GLA model (tokens/s at batch 1 and 64), saved to out."""
    torch, _, _, GLAConfig, GLAForCausalLM = mods
    torch.manual_seed(0)
    model = GLAForCausalLM(GLAConfig(**BENCH_CFG)).float().to(device).eval()
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out, safe_serialization=True)
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, BENCH_CFG["vocab_size"], (prompt_len,), generator=gen)
    with open(os.path.join(out, "prompt.txt"), "w") as f:
        f.write(" ".join(str(int(t)) for t in prompt) + "\n")
    print(f"bench: {n / 1e6:.0f}M parameters saved to {out}; prompt {prompt_len} tokens, {new} new")
    for batch in (1, 64):
        ids = prompt.repeat(batch, 1).to(device)
        for run in ("warm-up", "timed"):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            try:
                with torch.no_grad():
                    o = model.generate(input_ids=ids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                       use_cache=True)
            except Exception as e:
                print(f"bench: fla generate at batch {batch} failed: {type(e).__name__}: {str(e)[:200]}")
                break
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        else:
            print(f"bench: fla generate batch {batch}: {o.shape[1] - prompt_len} new tokens x {batch} in {dt:.3f} s "
                  f"(prefill included): {batch * (o.shape[1] - prompt_len) / dt:.1f} tokens/s")
        print(f"bench: ocla: ocla-generate {out} --file {out}/prompt.txt -n {new} --no-stop --batch {batch}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fla", required=True, help="directory containing fla/ (flash-linear-attention's source)")
    ap.add_argument("--out", required=True, help="output directory, e.g. tests/fixtures/gla")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", metavar="NAME[,NAME]", help="make only these fixtures (names of CONFIGS)")
    ap.add_argument("--bench", metavar="DIR", help="also save a ~340M model in DIR and time fla's decoding of it")
    args = ap.parse_args()
    names = [c["name"] for c in CONFIGS]
    only = args.only.split(",") if args.only else names
    for n in only:
        if n not in names:
            die(f"--only {n}: no such fixture (the fixtures: {', '.join(names)})")
    mods = imports(args.fla)
    torch = mods[0]
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        die("no CUDA device: fla's Triton kernels need a GPU (--device cuda)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for i, spec in enumerate(CONFIGS):  # seeds by position in CONFIGS: --only makes the same fixtures
        if spec["name"] in only:
            total += make_one(mods, spec, args.out, args.seed + i, args.device, repo)
    print(f"wrote {len(only)} fixtures, {total} bytes, to {args.out}")
    if args.bench:
        bench(mods, args.bench, args.device)


if __name__ == "__main__":
    main()
