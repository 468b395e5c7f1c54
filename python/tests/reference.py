# SPDX-License-Identifier: MIT
"""float64 numpy references of the math (include/ocla/*.h, docs/KERNELS.md, tests/ref/*.c): the
token-by-token recurrence for every gate kind, softmax attention, Linformer, FLASH, and the GLA,
multi-head and GAU layers. Plain loops over tokens; small shapes only."""
import numpy as np


def phi(x, feature):
    if feature in (None, "identity"):
        return x
    if feature in ("elu", "elu1", "elu+1"):
        return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0)))
    if feature == "relu":
        return np.maximum(x, 0)
    raise ValueError(feature)


def retnet_decay(H):
    return np.log(1.0 - 2.0 ** (-5.0 - np.arange(H)))


def recurrent(q, k, v, g=None, gate=None, scale=None, s0=None, z0=None, normalize=False, eps=1e-6,
              feature=None, causal=True, g_gamma=None, reverse=False):
    """o [B,T,H,V], S [B,H,K,V], z [B,H,K] with
    S_t = diag(exp(min(g_t,0))) S_{t-1} + phi(k_t) v_t^T, z_t likewise with phi(k_t),
    o_t = scale phi(q_t)^T S_t [/ (scale phi(q_t)^T z_t + eps)]."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, T, H, K = q.shape
    V = v.shape[3]
    scale = K ** -0.5 if scale is None else scale
    if gate is None:
        gate = "none" if g is None else ("scalar" if np.ndim(g) == 3 else "vector")
    if gate == "fixed":
        lg = retnet_decay(H) if g_gamma is None else np.asarray(g_gamma, np.float64)
        logg = np.broadcast_to(lg[None, None, :, None], (B, T, H, K))
    elif gate == "scalar":
        logg = np.broadcast_to(np.asarray(g, np.float64)[..., None], (B, T, H, K))
    elif gate == "vector":
        logg = np.asarray(g, np.float64)
    else:
        logg = np.zeros((B, T, H, K))
    logg = np.minimum(logg, 0.0)
    pq, pk = phi(q, feature), phi(k, feature)
    order = range(T - 1, -1, -1) if reverse else range(T)
    S = np.zeros((B, H, K, V)) if s0 is None else np.array(s0, np.float64)
    z = np.zeros((B, H, K)) if z0 is None else np.array(z0, np.float64).reshape(B, H, K)
    o = np.zeros((B, T, H, V))
    if not causal:
        S = np.einsum("bthk,bthv->bhkv", pk, v)
        z = pk.sum(1)
    for t in order:
        if causal:
            d = np.exp(logg[:, t])  # [B,H,K]
            S = d[..., None] * S + pk[:, t, :, :, None] * v[:, t, :, None, :]
            z = d * z + pk[:, t]
        num = scale * np.einsum("bhk,bhkv->bhv", pq[:, t], S)
        if normalize:
            den = scale * np.einsum("bhk,bhk->bh", pq[:, t], z) + eps
            num = num / den[..., None]
        o[:, t] = num
    return o, S, z


def softmax_attention(q, k, v, scale=None, causal=True):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    K = q.shape[3]
    scale = K ** -0.5 if scale is None else scale
    s = scale * np.einsum("bthk,bshk->bhts", q, k)
    if causal:
        T = q.shape[1]
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhts,bshv->bthv", p, v)


def linformer(q, k, v, E, F, scale=None):
    """E, F [kp, n] shared by heads, or [H, kp, n] per head; first T columns."""
    q, k, v, E, F = (np.asarray(a, np.float64) for a in (q, k, v, E, F))
    T = q.shape[1]
    if E.ndim == 2:
        kk = np.einsum("rt,bthd->brhd", E[:, :T], k)
        vv = np.einsum("rt,bthd->brhd", F[:, :T], v)
    else:
        kk = np.einsum("hrt,bthd->brhd", E[:, :, :T], k)
        vv = np.einsum("hrt,bthd->brhd", F[:, :, :T], v)
    return softmax_attention(q, kk, vv, scale, causal=False)


def rope(x, rd, base, pos0=0):
    """Split-half RoPE on the first rd dims of x [B,T,H,S] at positions pos0 + t."""
    x = np.array(x, np.float64)
    if rd == 0:
        return x
    half = rd // 2
    T = x.shape[1]
    th = (pos0 + np.arange(T))[:, None] * base ** (-np.arange(half) / half)  # [T, half]
    c, s = np.cos(th)[None, :, None, :], np.sin(th)[None, :, None, :]
    a, b = x[..., :half].copy(), x[..., half:rd].copy()
    x[..., :half] = a * c - b * s
    x[..., half:rd] = b * c + a * s
    return x


def flash(qq, kq, ql, kl, v, C, causal=True, quad_scale=None, bias_scale=1.0, quad_post=1.0, rel_bias=None,
          lin_scale=None, rope_dims=0, rope_base=10000.0, pos0=0):
    """FLASH mixed chunk attention (lin_norm 'chunk'), masked token-level form."""
    qq, kq, ql, kl = (rope(a, rope_dims, rope_base, pos0) for a in (qq, kq, ql, kl))
    v = np.asarray(v, np.float64)
    B, T, H, S = qq.shape
    quad_scale = 1.0 / C if quad_scale is None else quad_scale
    lin = (1.0 / C if causal else 1.0 / T) if lin_scale is None else lin_scale
    t = np.arange(T)
    gt = t // C
    same = gt[:, None] == gt[None, :]
    quad_mask = same & (t[None, :] <= t[:, None]) if causal else same
    lin_mask = (gt[None, :] < gt[:, None]) if causal else np.ones((T, T), bool)
    x = quad_scale * np.einsum("bthd,bshd->bhts", qq, kq)
    if rel_bias is not None:
        rb = np.asarray(rel_bias, np.float64)  # [H, 2C-1]
        idx = np.clip(t[:, None] - t[None, :] + C - 1, 0, 2 * C - 2)
        x = x + bias_scale * rb[:, idx][None]
    a = quad_post * np.maximum(x, 0) ** 2 * quad_mask
    lx = lin * np.einsum("bthd,bshd->bhts", ql, kl) * lin_mask
    return np.einsum("bhts,bshe->bthe", a + lx, v)


def logsigmoid(z):
    return np.where(z < 0, z - np.log1p(np.exp(np.minimum(z, 0))), -np.log1p(np.exp(-np.maximum(z, 0))))


def gla_layer(x, w, H, K, V, tau=16.0, eps=1e-5, s0=None):
    x = np.asarray(x, np.float64)
    W = {n: (None if a is None else np.asarray(a, np.float64)) for n, a in w.items()}
    B, T, d = x.shape
    q = (x @ W["w_q"]).reshape(B, T, H, K)
    k = (x @ W["w_k"]).reshape(B, T, H, K)
    v = (x @ W["w_v"]).reshape(B, T, H, V)
    r = (x @ W["w_r"]).reshape(B, T, H, V)
    gl = x @ W["w_g1"] @ W["w_g2"]
    if W.get("b_g2") is not None:
        gl = gl + W["b_g2"]
    g = (logsigmoid(gl) / tau).reshape(B, T, H, K)
    o, S, _ = recurrent(q, k, v, g, gate="vector", s0=s0)
    inv = 1.0 / np.sqrt((o * o).mean(-1, keepdims=True) + eps)
    u = o * inv * W["norm_w"] * (r / (1 + np.exp(-r)))
    return u.reshape(B, T, H * V) @ W["w_o"], S


def mha_layer(x, w, kind, H, K, V, causal=True, scale=None, feature=None, normalize=True, eps=1e-6):
    x = np.asarray(x, np.float64)
    W = {n: (None if a is None else np.asarray(a, np.float64)) for n, a in w.items()}
    B, T, d = x.shape

    def lin(a, wn, bn):
        y = a @ W[wn]
        return y + W[bn] if W.get(bn) is not None else y
    q = lin(x, "w_q", "b_q").reshape(B, T, H, K)
    k = lin(x, "w_k", "b_k").reshape(B, T, H, K)
    v = lin(x, "w_v", "b_v").reshape(B, T, H, V)
    if kind == "linear":
        o, _, _ = recurrent(q, k, v, scale=1.0 if scale is None else scale, normalize=normalize, eps=eps,
                            feature="elu" if feature is None else feature, causal=causal)
    elif kind == "softmax":
        o = softmax_attention(q, k, v, scale, causal)
    else:
        o = linformer(q, k, v, W["E"], W["F"], scale)
    return lin(o.reshape(B, T, H * V), "w_o", "b_o")


def gau_layer(x, w, e, s, C, norm_eps=1e-5, residual=True, causal=True, rope_dims=None):
    """GAU with LayerNorm (norm_w / norm_b optional), FLASH defaults (quad_scale 1/C, lin 1/C)."""
    x = np.asarray(x, np.float64)
    W = {n: (None if a is None else np.asarray(a, np.float64)) for n, a in w.items()}
    B, T, d = x.shape
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    xn = (x - mu) / np.sqrt(var + norm_eps)
    if W.get("norm_w") is not None:
        xn = xn * W["norm_w"]
    if W.get("norm_b") is not None:
        xn = xn + W["norm_b"]
    h = xn @ W["w_uvz"]
    if W.get("b_uvz") is not None:
        h = h + W["b_uvz"]
    h = h / (1 + np.exp(-h))
    U, Vv, Z = h[..., :e], h[..., e:2 * e], h[..., 2 * e:]
    beta = W.get("beta")
    qk = [Z * W["gamma"][i] + (beta[i] if beta is not None else 0.0) for i in range(4)]
    qk = [a.reshape(B, T, 1, s) for a in qk]
    av = flash(*qk, Vv.reshape(B, T, 1, e), C, causal=causal, rope_dims=s if rope_dims is None else rope_dims)
    out = (U * av.reshape(B, T, e)) @ W["w_o"]
    if W.get("b_o") is not None:
        out = out + W["b_o"]
    return x + out if residual else out


def assert_close(got, ref, tol=1e-4, what=""):
    """max |got - ref| <= tol * max(1, max |ref|) (the fp32 bar of the C suite)."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, "%s: shape %s, expected %s" % (what, got.shape, ref.shape)
    assert np.all(np.isfinite(got)), "%s: non-finite values" % what
    err = np.max(np.abs(got - ref)) if got.size else 0.0
    bar = tol * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    assert err <= bar, "%s: max error %.3g > %.3g" % (what, err, bar)
