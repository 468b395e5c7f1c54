# SPDX-License-Identifier: MIT
"""The attention layers of <ocla/layers.h> on x [B, T, d]: GLA, multi-head linear / softmax / Linformer,
and GAU (FLASH). A layer uploads its weights once (numpy arrays, row-major [in, out]: y = x W) and keeps
them on the device; calling it uploads x and returns y as float32 numpy."""
import ctypes

import numpy as np

from . import _lib as L
from ._core import Tensor, _ctx, as_f32, ptr
from ._ops import _feature, _flash_params, _SHARING, _shape_error

__all__ = ["GLALayer", "MHALayer", "GAULayer"]


class _Layer:
    _WEIGHTS = ()
    _REQUIRED = ()

    def _upload(self, weights):
        unknown = set(weights) - set(self._WEIGHTS)
        if unknown:
            raise TypeError("%s: unknown weight(s) %s; expected some of %s"
                            % (type(self).__name__, sorted(unknown), list(self._WEIGHTS)))
        missing = [n for n in self._REQUIRED if weights.get(n) is None]
        if missing:
            raise TypeError("%s: missing weight(s) %s" % (type(self).__name__, missing))
        self._w = {n: (None if weights.get(n) is None else Tensor.from_numpy(self.context, weights[n], n))
                   for n in self._WEIGHTS}

    def _weights_struct(self, cls):
        return cls(*[ptr(self._w[n]) for n, _ in cls._fields_])

    def _run(self, x, fn, *args):
        x = as_f32(x, "x")
        if x.ndim != 3:
            raise _shape_error("x must be [B,T,d]; got %s" % (x.shape,))
        ctx = self.context
        xt = Tensor.from_numpy(ctx, x, "x")
        yt = Tensor(ctx, self._out_shape(x))
        try:
            ctx._check(fn(ctx.handle, *args, xt.handle, yt.handle), fn.__name__)
            return yt.numpy()
        finally:
            xt.close()
            yt.close()

    def _out_shape(self, x):
        return x.shape

    def close(self):
        """Release the device copies of the weights now (else when the layer or its context goes)."""
        for t in self._w.values():
            if t is not None:
                t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class GLALayer(_Layer):
    """flash-linear-attention's GatedLinearAttention with its default options (ocla_gla_layer_forward):
        q = x w_q, k = x w_k, v = x w_v;  g = logsigmoid(x w_g1 w_g2 + b_g2) / gate_tau
        o = GLA(q, k, v, g) (scale K^-0.5);  u = RMSNorm_V(o) * norm_w * swish(x w_r);  y = u w_o
    weights: w_q, w_k [d, H*K]; w_v, w_r [d, H*V]; w_g1 [d, R]; w_g2 [R, H*K]; b_g2 [H*K] (optional);
    norm_w [V]; w_o [H*V, d].  layer(x, initial_state=None, output_final_state=False) -> (y, final_state)."""
    _WEIGHTS = ("w_q", "w_k", "w_v", "w_r", "w_g1", "w_g2", "b_g2", "norm_w", "w_o")
    _REQUIRED = ("w_q", "w_k", "w_v", "w_r", "w_g1", "w_g2", "norm_w", "w_o")

    def __init__(self, weights, heads, head_k, head_v, *, gate_tau=16.0, norm_eps=1e-5, mode="chunk",
                 chunk_size=None, context=None):
        self.context = _ctx(context)
        self.heads, self.head_k, self.head_v = int(heads), int(head_k), int(head_v)
        self.gate_tau, self.norm_eps, self.mode, self.chunk_size = gate_tau, norm_eps, mode, chunk_size
        if mode not in ("chunk", "recurrent"):
            raise ValueError("mode must be 'chunk' or 'recurrent'")
        self._upload(weights)

    def __call__(self, x, initial_state=None, output_final_state=False):
        lib = L.library()
        ctx = self.context
        p = L.GLALayerParams()
        lib.ocla_gla_layer_params_defaults(ctypes.byref(p))
        p.heads, p.head_k, p.head_v = self.heads, self.head_k, self.head_v
        p.gate_tau, p.norm_eps = float(self.gate_tau), float(self.norm_eps)
        p.form = L.FORM_CHUNKED if self.mode == "chunk" else L.FORM_RECURRENT
        p.chunk = int(self.chunk_size or 0)
        B = np.shape(x)[0]
        s0 = fs = None
        try:
            if initial_state is not None:
                s0 = Tensor.from_numpy(ctx, initial_state, "initial_state")
                p.initial_state = s0.handle
            if output_final_state:
                fs = Tensor(ctx, (B, self.heads, self.head_k, self.head_v))
                p.final_state = fs.handle
            w = self._weights_struct(L.GLALayerWeights)
            y = self._run(x, lib.ocla_gla_layer_forward, ctypes.byref(p), ctypes.byref(w))
            return y, (fs.numpy() if fs is not None else None)
        finally:
            for t in (s0, fs):
                if t is not None:
                    t.close()


class MHALayer(_Layer):
    """Multi-head attention layer on [B,T,d] (ocla_mha_layer_forward), kind "linear" (Katharopoulos et al.:
    elu+1 features, normalised, no scale by default), "softmax" or "linformer":
        q = x w_q (+ b_q), k = x w_k (+ b_k), v = x w_v (+ b_v);  o = attention(q, k, v);  y = o w_o (+ b_o)
    weights: w_q, w_k [d, H*K]; w_v [d, H*V]; w_o [H*V, d]; biases optional; Linformer: E, F.
    Options left at None keep the C defaults of the kind. layer(x) -> y."""
    _WEIGHTS = ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o", "E", "F")
    _REQUIRED = ("w_q", "w_k", "w_v", "w_o")
    _KINDS = {"linear": L.MHA_LINEAR, "softmax": L.MHA_SOFTMAX, "linformer": L.MHA_LINFORMER}

    def __init__(self, weights, kind="linear", heads=1, head_k=64, head_v=64, *, causal=None, scale=None,
                 feature_map=None, normalize=None, eps=None, chunk_size=None, block=None, sharing=None,
                 context=None):
        if kind not in self._KINDS:
            raise ValueError("kind must be one of %s" % sorted(self._KINDS))
        self.context = _ctx(context)
        lib = L.library()
        p = L.MHALayerParams()
        lib.ocla_mha_layer_params_defaults(ctypes.byref(p), self._KINDS[kind])
        p.heads, p.head_k, p.head_v = int(heads), int(head_k), int(head_v)
        if causal is not None:
            p.causal = int(bool(causal))
        if scale is not None:
            p.has_scale, p.scale = 1, float(scale)
        if feature_map is not None:
            p.feature_map = _feature(feature_map)
        if normalize is not None:
            p.normalize = int(bool(normalize))
        if eps is not None:
            p.eps = float(eps)
        if chunk_size is not None:
            p.chunk = int(chunk_size)
        if block is not None:
            p.block = int(block)
        if sharing is not None:
            p.sharing = _SHARING[sharing]
        self.kind, self._p = kind, p
        self._upload(weights)

    def _out_shape(self, x):
        d_out = self._w["w_o"].shape[1]
        return x.shape[:2] + (d_out,)

    def __call__(self, x):
        lib = L.library()
        w = self._weights_struct(L.MHALayerWeights)
        return self._run(x, lib.ocla_mha_layer_forward, ctypes.byref(self._p), ctypes.byref(w))


class GAULayer(_Layer):
    """GAU / FLASH layer (Hua et al. 2022; ocla_gau_layer_forward):
        xn = norm(x);  [U | V | Z] = silu(xn w_uvz + b_uvz);  Q/K (quad, lin) = Z * gamma[i] + beta[i]
        AV = flash_attention(...);  y = x + (U * AV) w_o + b_o  (residual) or y = (U * AV) w_o + b_o
    weights: w_uvz [d, 2e+s]; b_uvz [2e+s]; gamma, beta [4, s]; w_o [e, d]; b_o [d]; norm_w, norm_b [d]
    (LayerNorm) or norm_w [1] (ScaleNorm); all but w_uvz, gamma, w_o optional. hidden_dim e (0 = 2d),
    qk_dim s, norm "layer" | "scale" | "none", flash options as for ocla.flash_attention (rope_dims defaults
    to qk_dim, as the paper's model does). layer(x) -> y."""
    _WEIGHTS = ("w_uvz", "b_uvz", "gamma", "beta", "w_o", "b_o", "norm_w", "norm_b")
    _REQUIRED = ("w_uvz", "gamma", "w_o")
    _NORMS = {"layer": L.GAU_NORM_LAYER, "scale": L.GAU_NORM_SCALE, "none": L.GAU_NORM_NONE}

    def __init__(self, weights, *, hidden_dim=0, qk_dim=128, norm="layer", norm_eps=1e-5, residual=True,
                 causal=True, chunk=256, quad_scale=None, bias_scale=None, quad_post=None, rel_bias=None,
                 lin_norm="chunk", lin_scale=None, rope_dims=None, rope_base=10000.0, pos_offset=0, context=None):
        self.context = _ctx(context)
        lib = L.library()
        p = L.GAULayerParams()
        lib.ocla_gau_layer_params_defaults(ctypes.byref(p))
        p.hidden_dim, p.qk_dim = int(hidden_dim), int(qk_dim)
        p.norm = self._NORMS[norm]
        p.norm_eps, p.residual = float(norm_eps), int(bool(residual))
        f = _flash_params(lib, causal, chunk, quad_scale,
                          p.flash.bias_scale if bias_scale is None else bias_scale,
                          p.flash.quad_post if quad_post is None else quad_post, lin_norm, lin_scale,
                          qk_dim if rope_dims is None else rope_dims, rope_base, pos_offset)
        self._rel = Tensor.from_numpy(self.context, rel_bias, "rel_bias") if rel_bias is not None else None
        f.rel_bias = ptr(self._rel)
        p.flash = f
        self._p = p
        self._upload(weights)

    def _out_shape(self, x):
        return x.shape[:2] + (self._w["w_o"].shape[1],)

    def __call__(self, x):
        lib = L.library()
        w = self._weights_struct(L.GAULayerWeights)
        return self._run(x, lib.ocla_gau_layer_forward, ctypes.byref(self._p), ctypes.byref(w))

    def close(self):
        super().close()
        if self._rel is not None:
            self._rel.close()
