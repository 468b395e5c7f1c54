#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Decode throughput side by side: ocla-generate (OpenCL) against flash-linear-attention's own
`generate` on the same GLA checkpoint, in one run.

On the GPU machine (CUDA torch, triton, transformers, fla's source), from the repository root with ocla
built in BUILD:

    python3 perf/model_compare.py --fla PATH/TO/flash-linear-attention --generate BUILD/examples/ocla-generate \
        --device nvidia --out OUT

1. Builds a GLAForCausalLM of fla's gla-340M shape (fla's legacy/training/configs/gla_340M.json: d = 1024,
   24 layers, 4 heads, expand_k 0.5, vocabulary 32000, tied embeddings; MLP width 2816) with fla's
   modeling code, seeded unit-scale random weights (--init unit, as tests/tools/make_gla_fixtures.py:
   logits spread over units, so greedy choices are not near-ties; --init fla keeps fla's std-0.02
   initialisation), and saves it with save_pretrained (fp32, 1.3 GB) plus a seeded prompt in --model-dir
   (default TMPDIR/ocla-model-compare/gla-340m).
2. ocla: `ocla-generate DIR --file prompt.txt -n NEW --no-stop --batch B --device SEL` for each batch
   (one untimed warm-up inside, then one timed run): its prefill and decode tokens/s and the greedy
   tokens of the first sequence.
3. fla: `model.generate(greedy, use_cache, min_new_tokens = max_new_tokens = NEW)` in fp32 (TF32 off
   for torch; TRITON_F32_DEFAULT=ieee unless --fla-tf32), one short warm-up per batch (Triton compiles
   and autotunes there), then one timed run. A logits processor synchronises CUDA and takes the time
   at each step: prefill = up to the first token's logits (the prompt's forward), decode = the other
   NEW - 1 tokens, as ocla-generate splits them. Then "fla-loop": the same model without generate's
   machinery (a forward of the prompt with use_cache, a forward per token with the cache, argmax on the
   GPU), fla's raw decode speed.
4. Ratios ocla / fla of both speeds, and whether the greedy tokens agree (the first divergence if not;
   fp32 sums in different orders may flip a near-tie late).
5. --tokenizer-check: ocla.tokenizer against the `tokenizers` library and transformers'
   PreTrainedTokenizerFast on every tokenizer.json found under --tokenizers paths and the Hugging Face
   cache, and on three it trains itself with `tokenizers` (GPT-2-style byte-level BPE; Llama-style BPE
   with byte fallback, in the Prepend/Replace form and the Metaspace form).

Writes OUT/model_compare.json (rewritten after every stage, so an interrupted run keeps what it
measured) and OUT/model_compare.txt (the table). Stages past --budget seconds are skipped, saying so;
a stage still running at --budget + --grace is interrupted (the table is written all the same).
--fla none runs the ocla side alone on a checkpoint written with numpy (ocla.checkpoint), which is
how the script is checked without a GPU: e.g. --config tiny --device pocl.
"""
import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "python"))

CONFIGS = {  # fla's gla-340M shape; a tiny one for checking the script
    "340m": dict(vocab_size=32000, hidden_size=1024, num_hidden_layers=24, num_heads=4, expand_k=0.5, expand_v=1.0,
                 hidden_ratio=4, tie_word_embeddings=True, norm_eps=1e-6),
    "tiny": dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_heads=2, tie_word_embeddings=True),
}
T0 = time.perf_counter()


def log(msg):
    print("[%6.1f s] %s" % (time.perf_counter() - T0, msg), flush=True)


class Overtime(BaseException):
    """Raised by the alarm at --budget + --grace seconds (a BaseException: the stages' handlers let it through)."""


def _alarm(signum, frame):
    raise Overtime()


def elapsed():
    return time.perf_counter() - T0


class Results:
    def __init__(self, out, args):
        self.out = out
        self.data = dict(args={k: v for k, v in vars(args).items()}, stages={}, skipped=[])

    def set(self, key, value):
        self.data["stages"][key] = value
        self.save()

    def skip(self, what, why):
        log("skipped %s: %s" % (what, why))
        self.data["skipped"].append("%s: %s" % (what, why))
        self.save()

    def save(self):
        with open(os.path.join(self.out, "model_compare.json"), "w") as f:
            json.dump(self.data, f, indent=1)


# ---- the checkpoint --------------------------------------------------------------------------
def fla_modules(fla_dir):
    """torch, transformers and fla's GLA classes, imported as tests/tools/make_gla_fixtures.py does."""
    sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
    import make_gla_fixtures as mk
    return mk, mk.imports(fla_dir)


def make_checkpoint_fla(mods, mk, cfg, init, seed, directory, device):
    torch, transformers, _, GLAConfig, GLAForCausalLM = mods
    torch.manual_seed(seed)
    if isinstance(GLAForCausalLM._tied_weights_keys, list) and int(transformers.__version__.split(".")[0]) >= 5:
        GLAForCausalLM._tied_weights_keys = {"lm_head.weight": "model.embeddings.weight"}
    model = GLAForCausalLM(GLAConfig(**cfg)).float()
    if init == "unit":
        mk.init_weights(torch, model, torch.Generator().manual_seed(seed))
    model.tie_weights()
    model = model.to(device).eval()
    model.save_pretrained(directory, safe_serialization=True)
    gc = os.path.join(directory, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    n = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return model, n


def make_prompt(vocab, n, seed, directory):
    import numpy as np
    ids = np.random.default_rng(seed).integers(3, vocab, size=n).tolist()  # above bos/eos/pad
    with open(os.path.join(directory, "prompt.txt"), "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    return ids


# ---- ocla ------------------------------------------------------------------------------------
_SPEED = re.compile(r"prefill (\d+)(?: x (\d+))? tokens in ([0-9.]+) s \(([0-9.]+) tokens/s\); "
                    r"decode (\d+)(?: x (\d+))? tokens in ([0-9.]+) s \(([0-9.]+) tokens/s\)")


def parse_generate(text):
    """ocla-generate's stdout: the ids line, then the speeds line."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    m = _SPEED.search(text)
    if not m or len(lines) < 2:
        raise ValueError("unexpected ocla-generate output: %r" % text[-400:])
    return dict(tokens=[int(t) for t in lines[0].split()], prefill_tps=float(m.group(4)),
                decode_tps=float(m.group(8)), prefill_s=float(m.group(3)), decode_s=float(m.group(7)))


def run_ocla(exe, directory, new, batch, device, timeout):
    cmd = [exe, directory, "--file", os.path.join(directory, "prompt.txt"), "-n", str(new), "--no-stop",
           "--batch", str(batch)]
    if device:
        cmd += ["--device", device]
    log("ocla: " + " ".join(cmd))
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("ocla-generate exited %d: %s" % (p.returncode, p.stderr.strip()[-600:]))
    r = parse_generate(p.stdout)
    info = [ln for ln in p.stderr.splitlines() if " on " in ln]
    r.update(wall_s=round(time.perf_counter() - t, 2), device_line=info[-1].rsplit(" on ", 1)[1] if info else "?")
    return r


# ---- fla -------------------------------------------------------------------------------------
def run_fla(torch, model, prompt, new, batch, warm_new):
    """fla's generate at this batch: a warm-up of warm_new tokens, then the timed run."""
    from transformers import LogitsProcessor, LogitsProcessorList

    class Stamp(LogitsProcessor):
        def __init__(self):
            self.times = []

        def __call__(self, input_ids, scores):
            torch.cuda.synchronize()
            self.times.append(time.perf_counter())
            return scores

    ids = torch.tensor([prompt] * batch, device="cuda")
    res = None
    for n in (warm_new, new):
        stamp = Stamp()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=ids, max_new_tokens=n,
                                 min_new_tokens=n, do_sample=False, use_cache=True,
                                 logits_processor=LogitsProcessorList([stamp]),
                                 pad_token_id=model.config.eos_token_id)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        got = out.shape[1] - len(prompt)
        if got != n or len(stamp.times) != n:
            raise RuntimeError("fla generate made %d tokens (%d steps) of %d" % (got, len(stamp.times), n))
        pre, dec = stamp.times[0] - t0, t1 - stamp.times[0]
        res = dict(tokens=out[0, len(prompt):].tolist(), prefill_s=pre, decode_s=dec,
                   prefill_tps=batch * len(prompt) / pre, decode_tps=batch * (n - 1) / dec,
                   rows_agree=bool((out == out[0:1]).all()))
        log("fla batch %d %s: prefill %.4f s, decode %d tokens in %.4f s" % (
            batch, "warm-up" if n == warm_new else "timed", pre, n - 1, dec))
    return res


def run_fla_loop(torch, model, prompt, new, batch):
    """fla's model without generate's machinery: one forward of the prompt with use_cache, then a
    forward per token with the cache, greedy (argmax on the GPU). Already warm (run_fla ran first)."""
    ids = torch.tensor([prompt] * batch, device="cuda")
    toks = []
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        o = model(input_ids=ids, use_cache=True)
        nxt = o.logits[:, -1].argmax(-1, keepdim=True)
        toks.append(nxt)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        pkv = o.past_key_values
        for _ in range(new - 1):
            o = model(input_ids=nxt, past_key_values=pkv, use_cache=True)
            pkv = o.past_key_values
            nxt = o.logits[:, -1].argmax(-1, keepdim=True)
            toks.append(nxt)
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    first = torch.cat(toks, dim=1)[0].tolist()
    return dict(tokens=first, prefill_s=t1 - t0, decode_s=t2 - t1, prefill_tps=batch * len(prompt) / (t1 - t0),
                decode_tps=batch * (new - 1) / (t2 - t1))


def first_divergence(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


# ---- tokenizer check ------------------------------------------------------------------------
TOKENIZER_SAMPLES = [
    "Hello world", " Hello  world ", "It's a test: don't, we'll, they've, I'm, you'd, she's.",
    "numbers 1234567 and 3.14159, tabs\tand\nnew lines\n\n  indented",
    "caf\u00e9 na\u00efve \u00fcber \u00c5ngstr\u00f6m",
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3068\u4e2d\u6587",
    "emoji \U0001F600\U0001F680 and \u2581 the metaspace char",
    "<s>special</s> tokens <|endoftext|> inside", "   ", "", "a", "trailing spaces   ", "x" * 300,
    "def f(x):\n    return x ** 2  # code\n",
]


def _corpus():
    text = []
    for root in ("docs", "python/ocla", "perf"):
        d = os.path.join(REPO, root)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if f.endswith((".md", ".py")):
                with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
                    text.extend(fh.read().splitlines())
    return text + TOKENIZER_SAMPLES * 3


def _random_texts(n, seed=0):
    """Short strings of pieces that stress the edges: whitespace kinds (U+001C is not White_Space,
    U+00A0 and U+3000 are), contractions, combining marks, the metaspace character, special tokens."""
    import random
    pieces = list("abcXYZ019_.,!") + [" ", "  ", "\t", "\n", "\r", "\x1c", "\u00a0", "\u3000", "\u2581", "'s", "'ll",
                                      "'", "e\u0301", "\u00e9", "\u65e5", "\U0001F600", "\u0663", "\u00bd", "<s>",
                                      "</s>", "<|endoftext|>", "<unk>", "<0x41>"]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def _trained(tk_mod, kind):
    """A tokenizer.json trained here with the tokenizers library: GPT-2 style or Llama style."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    if kind == "gpt2":
        tk = Tokenizer(models.BPE())
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tk.decoder = decoders.ByteLevel()
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
        tr = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|endoftext|>"],
                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        if kind == "llama":
            tk.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
            tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                            decoders.Strip(" ", 1, 0)])
        else:  # the newer Metaspace form
            tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
            tk.decoder = decoders.Sequence([decoders.Metaspace(replacement="\u2581", prepend_scheme="first",
                                                               split=False), decoders.ByteFallback(), decoders.Fuse()])
        tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                 limit_alphabet=60)
    tk.train_from_iterator(_corpus(), tr)
    spec = json.loads(tk.to_str())
    if kind != "gpt2":  # byte fallback tokens in the model's vocab, as Llama's tokenizer.json has them
        v = spec["model"]["vocab"]
        for b in range(256):  # ids after every other (tokenizers numbers new added tokens from the vocab's size)
            v.setdefault("<0x%02X>" % b, max(v.values()) + 1)
    return json.dumps(spec)


def _compare(ours, theirs, texts):
    for text in texts:
        want = theirs.encode(text).ids
        got = ours.encode(text)
        if got != want:
            return "encode differs on %r: ocla %s, tokenizers %s" % (text[:40], got[:12], want[:12])
        for skip in (False, True):
            w, g = theirs.decode(want, skip_special_tokens=skip), ours.decode(want, skip_special_tokens=skip)
            if g != w:
                return "decode(skip_special_tokens=%s) differs on %r: ocla %r, tokenizers %r" % (
                    skip, text[:40], g[:40], w[:40])
    return "agrees on %d texts (encode, decode with and without special tokens)" % len(texts)


class _Transformers:
    """transformers' fast tokenizer over a tokenizer.json, in the interface of tokenizers.Tokenizer that
    _compare uses (no clean-up of spaces: the text as the decoder makes it)."""

    def __init__(self, path):
        from transformers import PreTrainedTokenizerFast
        self.t = PreTrainedTokenizerFast(tokenizer_file=path, clean_up_tokenization_spaces=False)

    def encode(self, text):
        return types.SimpleNamespace(ids=self.t.encode(text))

    def decode(self, ids, skip_special_tokens=True):
        return self.t.decode(ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False)


def tokenizer_check(paths, out, log):
    """ocla.tokenizer against the tokenizers library and transformers' fast tokenizer: [{file, result}]."""
    try:
        import tokenizers
    except ImportError:
        return [dict(file="-", result="skipped: no `tokenizers` package")]
    from ocla.tokenizer import Tokenizer, TokenizerError
    files = []
    for p in list(paths) + [os.path.expanduser("~/.cache/huggingface/hub")]:
        if os.path.isfile(p):
            files.append(p)
        elif os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n == "tokenizer.json"]
    for kind in ("gpt2", "llama", "metaspace"):
        path = os.path.join(out, "tokenizer-%s.json" % kind)
        with open(path, "w") as f:
            f.write(_trained(tokenizers, kind))
        files.append(path)
    texts = TOKENIZER_SAMPLES + _corpus()[:200] + _random_texts(500)
    results = []
    for path in files:
        try:
            ours = Tokenizer.from_file(path)
            theirs = tokenizers.Tokenizer.from_file(path)
            r = "tokenizers %s: %s" % (tokenizers.__version__, _compare(ours, theirs, texts))
            try:
                hf = _Transformers(path)
            except Exception as e:
                r += "; transformers: unavailable (%s: %s)" % (type(e).__name__, str(e)[:120])
            else:
                import transformers
                r += "; transformers %s: %s" % (transformers.__version__, _compare(ours, hf, texts))
        except TokenizerError as e:
            r = "refused: %s" % e
        except Exception as e:
            r = "error: %s: %s" % (type(e).__name__, e)
        log("tokenizer %s: %s" % (path, r))
        results.append(dict(file=path, result=r))
    return results


# ---- table -----------------------------------------------------------------------------------
def table(res):
    st = res["stages"]
    lines = []
    if "checkpoint" in st:
        c = st["checkpoint"]
        lines.append("model: %s, %.1fM parameters, init %s; prompt %d tokens, %d new; ocla on %s" % (
            c["config"], c["parameters"] / 1e6, c["init"], c["prompt"], c["new"], st.get("ocla_device", "?")))
    lines.append("%-6s %-8s %14s %14s %10s %10s   %s" % ("batch", "impl", "prefill tok/s", "decode tok/s",
                                                        "prefill s", "decode s", "greedy tokens vs fla"))
    for b in res["args"]["batches"]:
        o, f, fl = st.get("ocla_b%d" % b), st.get("fla_b%d" % b), st.get("fla_loop_b%d" % b)
        for name, r in (("fla", f), ("fla-loop", fl), ("ocla", o)):
            if not r or "error" in r:
                lines.append("%-6d %-8s %s" % (b, name, (r or {}).get("error", "not run")))
                continue
            agree = ""
            if name != "fla" and f and "tokens" in f:
                d = first_divergence(r["tokens"], f["tokens"])
                agree = "identical" if d is None else "first divergence at new token %d (%d vs %d)" % (
                    d, r["tokens"][d] if d < len(r["tokens"]) else -1, f["tokens"][d] if d < len(f["tokens"]) else -1)
            lines.append("%-6d %-8s %14.1f %14.1f %10.4f %10.4f   %s" % (b, name, r["prefill_tps"], r["decode_tps"],
                                                                       r["prefill_s"], r["decode_s"], agree))
        for ref, what in ((f, "fla generate"), (fl, "fla-loop")):
            if o and ref and "decode_tps" in o and "decode_tps" in ref:
                lines.append("%-6d %-8s %14.2fx %13.2fx   (ocla / %s; > 1: ocla faster)" % (
                    b, "ratio", o["prefill_tps"] / ref["prefill_tps"], o["decode_tps"] / ref["decode_tps"], what))
    tk = st.get("tokenizer_check")
    if tk:
        for r in tk:
            lines.append("tokenizer %s: %s" % (r["file"], r["result"]))
    for s in res["skipped"]:
        lines.append("skipped: " + s)
    return "\n".join(lines) + "\n"


# ---- main ------------------------------------------------------------------------------------
def find_generate(given):
    if given:
        return given
    for d in (".gpu/build", "build", "build-release"):
        p = os.path.join(REPO, d, "examples", "ocla-generate")
        if os.path.exists(p):
            return p
    return None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fla", default=None,
                    help="directory containing fla/ (default .gpu/fla-src or .gpu/fla when present); 'none': ocla only")
    ap.add_argument("--generate", help="the ocla-generate binary (default: .gpu/build, build, build-release)")
    ap.add_argument("--out", required=True, help="output directory (model_compare.json, model_compare.txt)")
    ap.add_argument("--model-dir", help="where to save the checkpoint (default TMPDIR/ocla-model-compare/gla-<config>; "
                                        "1.3 GB for 340m: keep it out of OUT)")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="340m")
    ap.add_argument("--init", choices=["unit", "fla"], default="unit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens (default 128)")
    ap.add_argument("--new", type=int, default=256, help="new tokens (default 256)")
    ap.add_argument("--batches", default="1,64", help="comma-separated batch sizes (default 1,64)")
    ap.add_argument("--device", default="nvidia", help="ocla's device selector (default nvidia)")
    ap.add_argument("--fla-tf32", action="store_true", help="let fla's Triton dots use TF32 (default: ieee fp32)")
    ap.add_argument("--warmup-new", type=int, default=4, help="tokens of fla's warm-up generate (default 4)")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds; later stages are skipped past it")
    ap.add_argument("--grace", type=float, default=40.0,
                    help="seconds past --budget after which the running stage is interrupted (default 40)")
    ap.add_argument("--tokenizer-check", action="store_true", help="compare ocla.tokenizer with `tokenizers`")
    ap.add_argument("--tokenizers", nargs="*", default=[], help="tokenizer.json files or directories to check too")
    a = ap.parse_args(argv)
    try:
        a.batches = [int(b) for b in a.batches.split(",") if b.strip()]
    except ValueError:
        ap.error("--batches: comma-separated integers expected, got %r" % a.batches)
    if not a.batches or min(a.batches) < 1:
        ap.error("--batches: each batch must be >= 1")
    if a.prompt < 1 or a.new < 2 or a.warmup_new < 2:
        ap.error("--prompt >= 1, --new >= 2 and --warmup-new >= 2 expected")
    if a.fla is None:
        a.fla = next((p for p in (os.path.join(REPO, ".gpu", "fla-src"), os.path.join(REPO, ".gpu", "fla"))
                      if os.path.isdir(os.path.join(p, "fla"))), None)
        if a.fla is None:
            ap.error("no fla source at .gpu/fla-src or .gpu/fla: give --fla DIR (or --fla none: ocla only)")
    a.generate = find_generate(a.generate)
    if not a.generate or not os.access(a.generate, os.X_OK):
        ap.error("no ocla-generate binary (build ocla, or give --generate PATH)")
    return a


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    res = Results(args.out, args)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, int(args.budget + args.grace - elapsed())))
    try:
        stages(args, res)
    except Overtime:
        res.skip("the rest", "interrupted at %.0f s (--budget %.0f + --grace %.0f)" % (elapsed(), args.budget,
                                                                                      args.grace))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    text = table(res.data)
    with open(os.path.join(args.out, "model_compare.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    log("done")
    return 0


def stages(args, res):
    use_fla = args.fla != "none"
    cfg = CONFIGS[args.config]
    model_dir = args.model_dir or os.path.join(tempfile.gettempdir(), "ocla-model-compare", "gla-" + args.config)
    os.makedirs(model_dir, exist_ok=True)
    torch = model = None
    if use_fla:
        if not args.fla_tf32:
            os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")  # read by Triton when it compiles
        try:
            mk, mods = fla_modules(args.fla)
            if not mods[0].cuda.is_available():
                raise SystemExit("no CUDA device for fla")
        except SystemExit as e:  # make_gla_fixtures' die(): still time ocla, on a numpy-written checkpoint
            res.skip("fla", "cannot run fla (%s): ocla side only" % e)
            use_fla = False
    if use_fla:
        torch = mods[0]
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        log("fla from %s, torch %s, transformers %s; building the %s model" % (
            args.fla, torch.__version__, mods[1].__version__, args.config))
        model, n = make_checkpoint_fla(mods, mk, cfg, args.init, args.seed, model_dir, "cuda")
        versions = dict(torch=torch.__version__, transformers=mods[1].__version__,
                        fla=getattr(mods[2], "__version__", "?"), gpu=torch.cuda.get_device_name(),
                        triton_f32=os.environ.get("TRITON_F32_DEFAULT", "tf32 (default)"))
    else:
        from ocla import checkpoint
        if args.init != "unit":
            sys.exit("model_compare: --init fla needs fla")
        c = checkpoint.random_gla(model_dir, cfg, seed=args.seed)
        n = sum(math.prod(s) for s in checkpoint.gla_shapes(c).values())
        versions = {}
    prompt = make_prompt(cfg["vocab_size"], args.prompt, args.seed + 1, model_dir)
    res.set("checkpoint", dict(config=args.config, dir=model_dir, parameters=n, init=args.init, prompt=args.prompt,
                               new=args.new, seconds=round(elapsed(), 1), **versions))
    log("checkpoint: %.1fM parameters in %s" % (n / 1e6, model_dir))

    for b in args.batches:  # ocla first: a subprocess, while nothing else uses the GPU
        if elapsed() > args.budget:
            res.skip("ocla batch %d" % b, "past the %.0f s budget" % args.budget)
            continue
        try:
            r = run_ocla(args.generate, model_dir, args.new, b, args.device, max(30, args.budget - elapsed() + 60))
            res.data["stages"]["ocla_device"] = r.pop("device_line")
            res.set("ocla_b%d" % b, r)
            log("ocla batch %d: prefill %.1f tokens/s, decode %.1f tokens/s" % (b, r["prefill_tps"], r["decode_tps"]))
        except Exception as e:  # keep going: the other stages still tell something
            res.set("ocla_b%d" % b, dict(error="%s: %s" % (type(e).__name__, e)))
            log("ocla batch %d failed: %s" % (b, e))

    if use_fla:  # fla's generate at every batch first (the comparison the issue asks for), then fla-loop
        runs = [("fla_b%d", b, lambda b=b: run_fla(torch, model, prompt, args.new, b, args.warmup_new))
                for b in args.batches]
        runs += [("fla_loop_b%d", b, lambda b=b: run_fla_loop(torch, model, prompt, args.new, b)) for b in args.batches]
        for key, b, fn in runs:
            if elapsed() > args.budget:
                res.skip(key % b, "past the %.0f s budget" % args.budget)
                continue
            try:
                r = fn()
                res.set(key % b, r)
                log("%s: prefill %.1f tokens/s, decode %.1f tokens/s" % (key % b, r["prefill_tps"], r["decode_tps"]))
            except Exception as e:
                res.set(key % b, dict(error="%s: %s" % (type(e).__name__, str(e)[:300])))
                log("%s failed: %s" % (key % b, e))
            torch.cuda.empty_cache()
    elif args.fla == "none":
        res.skip("fla", "--fla none")

    if args.tokenizer_check:
        if elapsed() > args.budget:
            res.skip("tokenizer check", "past the %.0f s budget" % args.budget)
        else:
            res.set("tokenizer_check", tokenizer_check(args.tokenizers, args.out, log))


if __name__ == "__main__":
    sys.exit(main())
