# SPDX-License-Identifier: MIT
"""ocla.Model over the C model API (on every device), and python -m ocla.generate.

The checkpoint is written with numpy (ocla.checkpoint.random_gla: fla's tensor names, unit-scale
weights). Logits are checked against a float64 numpy model written from fla's modeling code (the math
of tests/ref/ref_model.c); the C tests check the same math on more configurations and against fla."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ocla
from ocla import checkpoint
from conftest import DEVICES
from tokenizer_specs import GPT2

CFG = dict(vocab_size=11, hidden_size=32, num_hidden_layers=2, num_heads=2, intermediate_size=64)
PROMPT = [8, 9, 3, 0, 5, 7, 2, 6, 1]  # no eos (2) needed: the tests pass stop explicitly


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("gla")
    checkpoint.random_gla(str(d), CFG, seed=5)
    import json
    (d / "tokenizer.json").write_text(json.dumps(GPT2), encoding="utf-8")  # an 11-token vocabulary too
    return str(d)


def reference(d, ids):
    """float64 logits [T, vocab] of the whole model (recurrent attention, fla's GLABlock)."""
    W = {k: v.astype(np.float64) for k, v in checkpoint.load_safetensors(os.path.join(d, "model.safetensors")).items()}
    c = checkpoint.full_config(CFG)
    H, eps = c["num_heads"], c["norm_eps"]
    kd, vd = int(c["hidden_size"] * c["expand_k"]), int(c["hidden_size"] * c["expand_v"])
    K, V, T = kd // H, vd // H, len(ids)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def silu(x):
        return x / (1 + np.exp(-x))

    x = W["model.embeddings.weight"][ids]
    for layer in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        h = rms(x, W[p + "attn_norm.weight"])
        q, k, v, r = (h @ W[p + "attn.%s_proj.weight" % n].T for n in "qkvg")
        gk = (h @ W[p + "attn.gk_proj.0.weight"].T) @ W[p + "attn.gk_proj.1.weight"].T + W[p + "attn.gk_proj.1.bias"]
        gk = -np.logaddexp(0, -gk) / 16  # logsigmoid / 16
        q, k, v, gk = q.reshape(T, H, K), k.reshape(T, H, K), v.reshape(T, H, V), gk.reshape(T, H, K)
        S, o = np.zeros((H, K, V)), np.empty((T, H, V))
        for t in range(T):
            S = np.exp(gk[t])[:, :, None] * S + k[t][:, :, None] * v[t][:, None, :]
            o[t] = np.einsum("hk,hkv->hv", q[t], S) * K ** -0.5
        o = rms(o, W[p + "attn.g_norm_swish_gate.weight"]).reshape(T, vd) * silu(r)
        x = x + o @ W[p + "attn.o_proj.weight"].T
        h = rms(x, W[p + "mlp_norm.weight"])
        x = x + (silu(h @ W[p + "mlp.gate_proj.weight"].T) * (h @ W[p + "mlp.up_proj.weight"].T)) @ \
            W[p + "mlp.down_proj.weight"].T
    return rms(x, W["model.norm.weight"]) @ W["lm_head.weight"].T


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_logits_match_the_reference(ctx, ckpt):
    ref = reference(ckpt, PROMPT + [4, 4, 1])
    with ocla.Model(ckpt, context=ctx) as m:
        assert (m.batch, m.vocab_size) == (1, 11)
        all_ = m.prefill(PROMPT, logits="all")
        assert all_.shape == (1, len(PROMPT), 11)
        # fp32 against fp64 over 2 layers of d = 32: the C tests see <= 2e-6 at this scale; 1e-4 is the
        # issue's target and far below what a wrong weight (order-one differences) gives
        assert rel(all_[0], ref[:len(PROMPT)]) < 1e-4
        steps = [m.step([t])[0] for t in (4, 4, 1)]
        assert rel(np.stack(steps), ref[len(PROMPT):]) < 1e-4
        m.reset()
        last = m.prefill(np.array([PROMPT]), logits="last")
        assert rel(last[0], ref[len(PROMPT) - 1]) < 1e-4
        assert m.prefill(PROMPT, logits=None) is None


def test_greedy_generate_is_the_argmax_chain(ctx, ckpt):
    with ocla.Model(ckpt, context=ctx) as m:
        g = m.generate(PROMPT, max_new_tokens=12, stop=None)
        assert len(g.tokens) == 12 and g.prompt_tokens == len(PROMPT)
        m.reset()
        lg, want = m.prefill(PROMPT)[0], []
        for _ in range(12):
            want.append(int(np.argmax(lg)))
            lg = m.step([want[-1]])[0]
        assert g.tokens == want
        assert g.text == m.tokenizer.decode(want)  # the directory's tokenizer.json is picked up
        assert g.prefill_seconds > 0 and g.decode_seconds > 0 and g.decode_tokens_per_s > 0
        stop = want[3]
        s = m.generate(PROMPT, max_new_tokens=12, stop=[stop])
        assert s.tokens == want[:want.index(stop) + 1]  # the stop token kept as the last


def test_text_prompt_and_sampling(ctx, ckpt):
    with ocla.Model(ckpt, context=ctx) as m:
        ids = m.encode("hello hello")
        assert ids == [8, 9]
        a = m.generate("hello hello", max_new_tokens=10, stop=None)
        assert a.tokens == m.generate(ids, max_new_tokens=10, stop=None).tokens
        kw = dict(max_new_tokens=16, temperature=1.5, top_k=8, top_p=0.95, stop=None)
        s1, s2 = m.generate(ids, seed=1, **kw), m.generate(ids, seed=1, **kw)
        assert s1.tokens == s2.tokens
        seeds = {tuple(m.generate(ids, seed=s, **kw).tokens) for s in range(2, 6)}
        assert len(seeds) > 1  # at temperature 1.5 over 16 tokens, four seeds giving one sequence is implausible


def test_batch_and_bad_input(ctx, ckpt):
    with ocla.Model(ckpt, context=ctx, batch=2, tokenizer=None) as m:
        assert m.batch == 2
        two = m.prefill([PROMPT, PROMPT[::-1]], logits="last")
        m.reset()
        one = m.prefill([PROMPT, PROMPT], logits="last")
        np.testing.assert_array_equal(one[0], one[1])
        assert rel(two[0], one[0]) < 1e-5  # sequence 0 is the same in both calls; batch rows are independent
        with pytest.raises(ValueError, match="batch"):
            m.generate(PROMPT)
        with pytest.raises(ValueError, match="batch=2"):
            m.prefill(PROMPT)
        with pytest.raises(ValueError, match="tokenizer"):
            m.encode("hello")
        with pytest.raises(ocla.OclaError) as e:
            m.step([0, 11])
        assert e.value.status_name == "OCLA_ERR_INVALID_ARGUMENT"
        with pytest.raises(TypeError):
            m.step([0.5, 1.0])
    with pytest.raises(ocla.OclaError) as e:
        ocla.Model(ckpt, context=ctx, batch=0)
    with pytest.raises(OSError):
        ocla.Model(os.path.join(ckpt, "absent"), context=ctx)


def test_generate_module(ckpt):
    if not DEVICES:
        pytest.skip("no OpenCL device")
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(ocla.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    run = [sys.executable, "-m", "ocla.generate", "--model", ckpt, "--device", str(DEVICES[0].index), "-n", "6",
           "--no-stop"]
    p = subprocess.run(run + ["--prompt", "hello hello"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "tokens/s" in p.stderr and p.stdout.strip() != ""
    p = subprocess.run(run + ["--ids", "8 9 x"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--ids" in p.stderr
