# SPDX-License-Identifier: MIT
"""The layers (GLA, multi-head linear / softmax / Linformer, GAU) against float64 numpy references."""
import numpy as np
import pytest

import ocla
import reference as ref
from reference import assert_close

B, T, D = 2, 21, 16


def w(rng, *shape, s=None):
    s = (1.0 / np.sqrt(shape[0])) if s is None else s
    return (s * rng.standard_normal(shape)).astype(np.float32)


def test_gla_layer(ctx, rng):
    H, K, V, R = 2, 8, 8, 4
    weights = {"w_q": w(rng, D, H * K), "w_k": w(rng, D, H * K), "w_v": w(rng, D, H * V), "w_r": w(rng, D, H * V),
               "w_g1": w(rng, D, R), "w_g2": w(rng, R, H * K), "b_g2": w(rng, H * K, s=0.5),
               "norm_w": (1 + 0.1 * rng.standard_normal(V)).astype(np.float32), "w_o": w(rng, H * V, D)}
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    for mode in ("chunk", "recurrent"):
        with ocla.GLALayer(weights, H, K, V, mode=mode, context=ctx) as layer:
            y, s = layer(x, output_final_state=True)
            ry, rs = ref.gla_layer(x, weights, H, K, V)
            assert_close(y, ry, what="GLA layer y (%s)" % mode)
            assert_close(s, rs, what="GLA layer state (%s)" % mode)
            # chaining through the layer's state
            y1, s1 = layer(x[:, :9], output_final_state=True)
            y2, _ = layer(x[:, 9:], initial_state=s1)
            assert_close(np.concatenate([y1, y2], 1), ry, what="GLA layer split (%s)" % mode)
    with pytest.raises(TypeError):
        ocla.GLALayer({"w_q": weights["w_q"]}, H, K, V, context=ctx)
    bad = dict(weights, w_o=w(rng, H * V + 1, D))
    with pytest.raises(ocla.OclaError) as e:
        ocla.GLALayer(bad, H, K, V, context=ctx)(x)
    assert e.value.status == 2 and e.value.detail


@pytest.mark.parametrize("kind", ["linear", "softmax", "linformer"])
def test_mha_layer(ctx, rng, kind):
    H, K, V = 2, 8, 8
    weights = {"w_q": w(rng, D, H * K), "w_k": w(rng, D, H * K), "w_v": w(rng, D, H * V), "w_o": w(rng, H * V, D),
               "b_q": w(rng, H * K, s=0.1), "b_k": w(rng, H * K, s=0.1), "b_v": w(rng, H * V, s=0.1),
               "b_o": w(rng, D, s=0.1)}
    causal = kind != "linformer"
    if kind == "linformer":
        kp, n = 8, 32
        weights["E"] = w(rng, kp, n, s=n ** -0.5)
        weights["F"] = w(rng, kp, n, s=n ** -0.5)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    layer = ocla.MHALayer(weights, kind, heads=H, head_k=K, head_v=V, context=ctx)
    y = layer(x)
    assert_close(y, ref.mha_layer(x, weights, kind, H, K, V, causal=causal), what="MHA %s" % kind)
    layer.close()


def test_gau_layer(ctx, rng):
    e, s, C = 2 * D, 16, 16
    weights = {"w_uvz": w(rng, D, 2 * e + s), "b_uvz": w(rng, 2 * e + s, s=0.1),
               "gamma": (1 + 0.1 * rng.standard_normal((4, s))).astype(np.float32), "beta": w(rng, 4, s, s=0.1),
               "w_o": w(rng, e, D), "b_o": w(rng, D, s=0.1),
               "norm_w": (1 + 0.1 * rng.standard_normal(D)).astype(np.float32), "norm_b": w(rng, D, s=0.1)}
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    layer = ocla.GAULayer(weights, qk_dim=s, chunk=C, context=ctx)
    y = layer(x)
    assert_close(y, ref.gau_layer(x, weights, e, s, C), what="GAU layer")
    y = ocla.GAULayer(weights, qk_dim=s, chunk=C, residual=False, rope_dims=0, context=ctx)(x)
    assert_close(y, ref.gau_layer(x, weights, e, s, C, residual=False, rope_dims=0), what="GAU no residual/rope")
