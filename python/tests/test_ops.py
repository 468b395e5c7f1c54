# SPDX-License-Identifier: MIT
"""The fla-named ops against the float64 recurrence (tests/reference.py), chunk vs recurrent agreement,
state chaining, dtype / layout handling, on every device."""
import numpy as np
import pytest

import ocla
import reference as ref
from reference import assert_close

B, T, H, K, V = 2, 37, 2, 16, 8  # T not a multiple of any chunk: tails are exercised


def inputs(rng, T=T, K=K, V=V):
    q = rng.standard_normal((B, T, H, K)).astype(np.float32)
    k = rng.standard_normal((B, T, H, K)).astype(np.float32)
    v = rng.standard_normal((B, T, H, V)).astype(np.float32)
    gv = (ref.logsigmoid(rng.standard_normal((B, T, H, K)) + 2.0) / 4).astype(np.float32)  # (-0.5, 0)
    gs = (ref.logsigmoid(rng.standard_normal((B, T, H)) + 2.0) / 4).astype(np.float32)
    s0 = (0.1 * rng.standard_normal((B, H, K, V))).astype(np.float32)
    return q, k, v, gv, gs, s0


# ---- each function vs the fp64 reference --------------------------------------------------------
@pytest.mark.parametrize("fn", ["chunk_gla", "fused_recurrent_gla"])
def test_gla(ctx, rng, fn):
    q, k, v, g, _, s0 = inputs(rng)
    o, s = getattr(ocla, fn)(q, k, v, g, initial_state=s0, output_final_state=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, g, gate="vector", s0=s0)
    assert o.dtype == np.float32 and o.shape == (B, T, H, V) and s.shape == (B, H, K, V)
    assert_close(o, ro, what=fn + " o")
    assert_close(s, rs, what=fn + " final_state")
    o2, s2 = getattr(ocla, fn)(q, k, v, g, context=ctx)
    assert s2 is None
    ro2, _, _ = ref.recurrent(q, k, v, g, gate="vector")
    assert_close(o2, ro2, what=fn + " o (no state)")


@pytest.mark.parametrize("fn", ["chunk_simple_gla", "fused_recurrent_simple_gla", "fused_chunk_simple_gla"])
def test_simple_gla(ctx, rng, fn):
    q, k, v, _, g, s0 = inputs(rng)
    o, s = getattr(ocla, fn)(q, k, v, g, initial_state=s0, output_final_state=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, g, gate="scalar", s0=s0)
    assert_close(o, ro, what=fn + " o")
    assert_close(s, rs, what=fn + " final_state")
    # constant per-head decay
    gamma = np.log(np.array([0.9, 0.97]))
    o, s = getattr(ocla, fn)(q, k, v, g_gamma=gamma, output_final_state=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, gate="fixed", g_gamma=gamma)
    assert_close(o, ro, what=fn + " g_gamma o")
    assert_close(s, rs, what=fn + " g_gamma final_state")


@pytest.mark.parametrize("fn", ["chunk_retention", "fused_recurrent_retention"])
def test_retention(ctx, rng, fn):
    q, k, v, _, _, s0 = inputs(rng)
    o, s = getattr(ocla, fn)(q, k, v, initial_state=s0, output_final_state=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, gate="fixed", s0=s0)
    assert_close(o, ro, what=fn)
    assert_close(s, rs, what=fn + " final_state")


@pytest.mark.parametrize("normalize", [True, False])
def test_chunk_linear_attn(ctx, rng, normalize):
    q, k, v, _, _, s0 = inputs(rng)
    # positive features keep the normaliser away from 0 (as fla's users do with a feature map)
    q, k = np.abs(q), np.abs(k)
    o, st = ocla.chunk_linear_attn(q, k, v, normalize=normalize, output_final_state=True, context=ctx)
    ro, rs, rz = ref.recurrent(q, k, v, normalize=normalize, eps=1e-10)
    assert_close(o, ro, what="chunk_linear_attn o")
    if normalize:
        assert isinstance(st, tuple) and st[1].shape == (B, 1, H, K)  # fla's (kv_state, z_state [B,1,H,K])
        assert_close(st[0], rs, what="S")
        assert_close(st[1][:, 0], rz, what="z")
    else:
        assert_close(st, rs, what="S")


def test_fused_recurrent_linear_attn(ctx, rng):
    q, k, v, _, _, s0 = inputs(rng)
    o, s = ocla.fused_recurrent_linear_attn(q, k, v, initial_state=s0, output_final_state=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, s0=s0)  # normalize defaults to False here, as in fla
    assert_close(o, ro, what="o")
    assert_close(s, rs, what="S")
    q, k = np.abs(q), np.abs(k)
    o, _ = ocla.fused_recurrent_linear_attn(q, k, v, normalize=True, context=ctx)
    assert_close(o, ref.recurrent(q, k, v, normalize=True, eps=1e-10)[0], what="o normalised")


@pytest.mark.parametrize("feature", ["elu", "relu"])
def test_feature_maps_and_noncausal(ctx, rng, feature):
    q, k, v, _, _, _ = inputs(rng)
    o, _ = ocla.chunk_linear_attn(q, k, v, feature_map=feature, scale=1.0, eps=1e-6, context=ctx)
    assert_close(o, ref.recurrent(q, k, v, scale=1.0, normalize=True, eps=1e-6, feature=feature)[0], what=feature)
    if feature == "elu":
        o, _ = ocla.chunk_linear_attn(q, k, v, feature_map=feature, causal=False, normalize=True, eps=1e-6,
                                      context=ctx)
        ro = ref.recurrent(q, k, v, normalize=True, eps=1e-6, feature=feature, causal=False)[0]
        assert_close(o, ro, what="non-causal")


def test_reverse(ctx, rng):
    q, k, v, g, gs, s0 = inputs(rng)
    o, s = ocla.fused_recurrent_gla(q, k, v, g, initial_state=s0, output_final_state=True, reverse=True,
                                    context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, g, gate="vector", s0=s0, reverse=True)
    assert_close(o, ro, what="reverse o")
    assert_close(s, rs, what="reverse S")
    o, _ = ocla.fused_recurrent_simple_gla(q, k, v, gs, reverse=True, context=ctx)
    assert_close(o, ref.recurrent(q, k, v, gs, gate="scalar", reverse=True)[0], what="reverse simple")


def test_scale(ctx, rng):
    q, k, v, g, _, _ = inputs(rng)
    o_default, _ = ocla.chunk_gla(q, k, v, g, context=ctx)
    o_explicit, _ = ocla.chunk_gla(q, k, v, g, scale=K ** -0.5, context=ctx)
    assert_close(o_default, o_explicit, tol=1e-6, what="scale default = K^-0.5")
    o, _ = ocla.chunk_gla(q, k, v, g, scale=0.3, context=ctx)
    assert_close(o, ref.recurrent(q, k, v, g, scale=0.3)[0], what="scale 0.3")


# ---- chunk vs recurrent, chaining -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gla", "simple_gla", "linear_attn", "retention"])
def test_chunk_matches_recurrent(ctx, rng, kind):
    q, k, v, gv, gs, s0 = inputs(rng, T=70)
    args = {"gla": (gv,), "simple_gla": (gs,), "linear_attn": (), "retention": ()}[kind]
    kw = {"normalize": False} if kind == "linear_attn" else {}
    oc, sc = getattr(ocla, "chunk_" + kind)(q, k, v, *args, initial_state=s0, output_final_state=True, context=ctx,
                                            **kw)
    orr, sr = getattr(ocla, "fused_recurrent_" + kind)(q, k, v, *args, initial_state=s0, output_final_state=True,
                                                       context=ctx)
    assert_close(oc, orr, what="o chunk vs recurrent")
    assert_close(sc, sr, what="state chunk vs recurrent")


@pytest.mark.parametrize("fn", ["chunk_gla", "chunk_simple_gla", "fused_recurrent_gla"])
def test_state_chaining(ctx, rng, fn):
    q, k, v, gv, gs, _ = inputs(rng, T=50)
    g = gs if "simple" in fn else gv
    f = getattr(ocla, fn)
    o, s = f(q, k, v, g, output_final_state=True, context=ctx)
    cut = 19
    o1, s1 = f(q[:, :cut], k[:, :cut], v[:, :cut], g[:, :cut], output_final_state=True, context=ctx)
    o2, s2 = f(q[:, cut:], k[:, cut:], v[:, cut:], g[:, cut:], initial_state=s1, output_final_state=True,
               context=ctx)
    assert_close(np.concatenate([o1, o2], 1), o, what="split outputs = whole")
    assert_close(s2, s, what="split final state = whole")


def test_state_chaining_normalized(ctx, rng):
    q, k, v, _, _, _ = inputs(rng, T=50)
    q, k = np.abs(q), np.abs(k)
    o, st = ocla.chunk_linear_attn(q, k, v, output_final_state=True, context=ctx)
    o1, st1 = ocla.chunk_linear_attn(q[:, :23], k[:, :23], v[:, :23], output_final_state=True, context=ctx)
    o2, st2 = ocla.chunk_linear_attn(q[:, 23:], k[:, 23:], v[:, 23:], initial_state=st1, output_final_state=True,
                                     context=ctx)
    assert_close(np.concatenate([o1, o2], 1), o, what="normalised split = whole")
    assert_close(st2[0], st[0], what="S")
    assert_close(st2[1], st[1], what="z")


def test_decode_token_by_token(ctx, rng):
    """One token at a time with the recurrent form, carrying the state: what a decoder does."""
    q, k, v, g, _, _ = inputs(rng, T=6)
    o_all, s_all = ocla.chunk_gla(q, k, v, g, output_final_state=True, context=ctx)
    s, outs = None, []
    for t in range(q.shape[1]):
        o, s = ocla.fused_recurrent_gla(q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1], g[:, t:t + 1],
                                        initial_state=s, output_final_state=True, context=ctx)
        outs.append(o)
    assert_close(np.concatenate(outs, 1), o_all, what="decode")
    assert_close(s, s_all, what="decode state")


# ---- dtypes and layouts -------------------------------------------------------------------------------
def test_dtypes_and_noncontiguous(ctx, rng):
    q, k, v, g, _, _ = inputs(rng)
    o32, _ = ocla.chunk_gla(q, k, v, g, context=ctx)
    o64, _ = ocla.chunk_gla(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), g.astype(np.float64),
                            context=ctx)
    assert o64.dtype == np.float32
    assert_close(o64, o32, tol=1e-6, what="float64 in")
    # [B,H,T,K] storage viewed as [B,T,H,K]: a non-contiguous array
    qh = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    assert not qh.flags.c_contiguous
    oh, _ = ocla.chunk_gla(qh, k, v, g, context=ctx)
    assert_close(oh, o32, tol=1e-6, what="non-contiguous q")
    # lists work too
    o_list, _ = ocla.chunk_gla(q.tolist(), k, v, g, context=ctx)
    assert_close(o_list, o32, tol=1e-6, what="list q")


def test_chunk_size(ctx, rng):
    q, k, v, _, gs, _ = inputs(rng)
    o16, _ = ocla.chunk_simple_gla(q, k, v, gs, chunk_size=16, context=ctx)
    assert_close(o16, ref.recurrent(q, k, v, gs, gate="scalar")[0], what="chunk_size=16")


# ---- other ops --------------------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [True, False])
def test_softmax_attention(ctx, rng, causal):
    q, k, v, _, _, _ = inputs(rng)
    o = ocla.softmax_attention(q, k, v, causal=causal, context=ctx)
    assert_close(o, ref.softmax_attention(q, k, v, causal=causal), what="softmax")


@pytest.mark.parametrize("sharing", ["headwise", "none"])
def test_linformer(ctx, rng, sharing):
    q, k, v, _, _, _ = inputs(rng)
    kp, n = 8, 48
    shape = (kp, n) if sharing == "headwise" else (H, kp, n)
    E = (rng.standard_normal(shape) / np.sqrt(n)).astype(np.float32)
    F = (rng.standard_normal(shape) / np.sqrt(n)).astype(np.float32)
    o = ocla.linformer_attention(q, k, v, E, F, sharing=sharing, context=ctx)
    assert_close(o, ref.linformer(q, k, v, E, F), what="linformer")


@pytest.mark.parametrize("causal", [True, False])
def test_flash_attention(ctx, rng, causal):
    S, E, C = 16, 8, 16
    qq, kq, ql, kl = (rng.standard_normal((B, T, 1, S)).astype(np.float32) for _ in range(4))
    v = rng.standard_normal((B, T, 1, E)).astype(np.float32)
    rb = (0.1 * rng.standard_normal((1, 2 * C - 1))).astype(np.float32)
    o = ocla.flash_attention(qq, kq, ql, kl, v, causal=causal, chunk=C, rel_bias=rb, rope_dims=8, context=ctx)
    ro = ref.flash(qq, kq, ql, kl, v, C, causal=causal, rel_bias=rb, rope_dims=8)
    assert_close(o, ro, what="flash")


def test_flash_packed_sequences(ctx, rng):
    """cu_seqlens: the packed call equals each sequence run alone; bad offsets are refused."""
    S, E, C = 16, 8, 16
    cu = np.array([0, 1, 16, 32, 49, 90], np.int32)
    Tp = int(cu[-1])
    qq, kq, ql, kl = (rng.standard_normal((1, Tp, 2, S)).astype(np.float32) for _ in range(4))
    v = rng.standard_normal((1, Tp, 2, E)).astype(np.float32)
    o = ocla.flash_attention(qq, kq, ql, kl, v, chunk=C, rope_dims=8, cu_seqlens=cu, context=ctx)
    for a, b in zip(cu[:-1], cu[1:]):
        alone = ocla.flash_attention(qq[:, a:b], kq[:, a:b], ql[:, a:b], kl[:, a:b], v[:, a:b], chunk=C,
                                     rope_dims=8, context=ctx)
        assert_close(o[:, a:b], alone, tol=1e-6, what="packed sequence %d..%d" % (a, b))
    with pytest.raises(ocla.OclaError, match=r"cu_seqlens\[2\]"):
        ocla.flash_attention(qq, kq, ql, kl, v, chunk=C, cu_seqlens=[0, 5, 5, Tp], context=ctx)


def test_state_v_first(ctx, rng):
    q, k, v, g, gs, s0 = inputs(rng)
    o, s = ocla.chunk_gla(q, k, v, g, initial_state=s0, output_final_state=True, context=ctx)
    o2, s2 = ocla.chunk_gla(q, k, v, g, initial_state=s0.transpose(0, 1, 3, 2), output_final_state=True,
                            state_v_first=True, context=ctx)
    assert s2.shape == (B, H, V, K)
    assert_close(o2, o, tol=1e-6, what="o")
    assert_close(s2.transpose(0, 1, 3, 2), s, tol=1e-6, what="state [B,H,V,K]")
    o3, s3 = ocla.fused_recurrent_simple_gla(q, k, v, gs, initial_state=s0.transpose(0, 1, 3, 2),
                                             output_final_state=True, state_v_first=True, context=ctx)
    ro, rs, _ = ref.recurrent(q, k, v, gs, gate="scalar", s0=s0)
    assert_close(o3, ro, what="o simple")
    assert_close(s3.transpose(0, 1, 3, 2), rs, what="state simple")


# ---- backward -----------------------------------------------------------------------------------------
def numeric_grads(q, k, v, g, gate, s0, do, dht, eps=1e-6):
    """Central differences of L = sum(o * do) + sum(S_T * dht) through the float64 recurrence."""
    arrs = {"q": q, "k": k, "v": v, "g": g, "s0": s0}
    base = {n: np.array(a, np.float64) for n, a in arrs.items() if a is not None}

    def loss(x):
        o, S, _ = ref.recurrent(x["q"], x["k"], x["v"], x.get("g"), gate=gate, s0=x.get("s0"))
        return float(np.sum(o * do) + np.sum(S * dht))
    out = {}
    for n, a in base.items():
        grad = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            x = dict(base)
            for sgn in (1, -1):
                b = a.copy()
                b[idx] += sgn * eps
                x[n] = b
                grad[idx] += sgn * loss(x) / (2 * eps)
        out[n] = grad
    return out


@pytest.mark.parametrize("gate", ["vector", "scalar", "none"])
def test_attention_backward(ctx, rng, gate):
    b, t, h, kk, vv = 1, 7, 2, 4, 3
    q, k = rng.standard_normal((2, b, t, h, kk))
    v = rng.standard_normal((b, t, h, vv))
    g = {"vector": -rng.random((b, t, h, kk)) * 0.5, "scalar": -rng.random((b, t, h)) * 0.5, "none": None}[gate]
    s0 = 0.3 * rng.standard_normal((b, h, kk, vv))
    do = rng.standard_normal((b, t, h, vv))
    dht = rng.standard_normal((b, h, kk, vv))
    # the fp64 reference runs on the float32-rounded inputs the device sees
    q, k, v, s0, do, dht = (a.astype(np.float32) for a in (q, k, v, s0, do, dht))
    g = None if g is None else g.astype(np.float32)
    dq, dk, dv, dg, dh0 = ocla.attention_backward(q, k, v, do, g, initial_state=s0, dht=dht, context=ctx)
    num = numeric_grads(q, k, v, g, gate, s0, do, dht)
    assert_close(dq, num["q"], tol=1e-4, what="dq")
    assert_close(dk, num["k"], tol=1e-4, what="dk")
    assert_close(dv, num["v"], tol=1e-4, what="dv")
    assert_close(dh0, num["s0"], tol=1e-4, what="dh0")
    if gate == "none":
        assert dg is None
    else:
        assert_close(dg, num["g"], tol=1e-4, what="dg")
