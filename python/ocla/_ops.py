# SPDX-License-Identifier: MIT
"""The attention ops with flash-linear-attention's names and shapes (numpy in, numpy out).

Layout [B, T, H, K] for q, k, (vector) g; [B, T, H, V] for v and o; [B, T, H] for a scalar gate;
states [B, H, K, V]. Every function returns ``(o, final_state)``; final_state is None unless
``output_final_state``. All computation is float32 (inputs of other dtypes are converted; outputs are
float32). ``context=`` picks the ocla.Context (default: ocla.default_context()).
"""
import ctypes

import numpy as np

from . import _lib as L
from ._core import OclaError, Tensor, _ctx, as_f32, ptr

__all__ = [
    "chunk_gla", "fused_recurrent_gla",
    "chunk_simple_gla", "fused_recurrent_simple_gla", "fused_chunk_simple_gla",
    "chunk_linear_attn", "fused_recurrent_linear_attn", "fused_chunk_linear_attn",
    "chunk_retention", "fused_recurrent_retention", "fused_chunk_retention",
    "attention", "attention_backward", "softmax_attention", "linformer_attention", "flash_attention",
    "attention_limits", "explain", "plan",
]

_FEATURES = {None: L.FEATURE_IDENTITY, "identity": L.FEATURE_IDENTITY, "elu": L.FEATURE_ELU1,
             "elu1": L.FEATURE_ELU1, "elu+1": L.FEATURE_ELU1, "relu": L.FEATURE_RELU}


def _feature(fm):
    try:
        return _FEATURES[fm.lower() if isinstance(fm, str) else fm]
    except (KeyError, AttributeError):
        raise ValueError("feature_map must be one of 'identity', 'elu' (elu+1), 'relu'; got %r" % (fm,))


class _Tensors:
    """The device tensors of one call: inputs from numpy, new outputs, closed together."""

    def __init__(self, ctx):
        self.ctx, self.made = ctx, []

    def input(self, a, name):
        if a is None:
            return None
        t = Tensor.from_numpy(self.ctx, a, name)
        self.made.append(t)
        return t

    def output(self, shape):
        t = Tensor(self.ctx, shape)
        self.made.append(t)
        return t

    def close(self):
        for t in self.made:
            t.close()


def _shape_error(msg):
    return OclaError(2, msg, "ocla (python)")


_GATES = {"none": L.GATE_NONE, "scalar": L.GATE_SCALAR, "vector": L.GATE_VECTOR, "fixed": L.GATE_FIXED}


def _gate_kind(g, gate):
    """g as float32 and the gate kind's name: as given, or from g (none, scalar [B,T,H], vector [B,T,H,K])."""
    g = as_f32(g, "g")
    if gate is None:
        gate = "none" if g is None else ("scalar" if g.ndim == 3 else "vector")
    if gate not in _GATES:
        raise ValueError("gate must be one of %s" % sorted(_GATES))
    return g, gate


def _attn_params(lib, H, gate, scale, feature_map, normalize, eps, g_gamma, chunk_size):
    """Attention params with the fields the forward and the backward share, and the fixed decays' buffer
    (p points into it: keep it alive for the call)."""
    p = L.AttnParams()
    lib.ocla_attn_params_defaults(ctypes.byref(p))
    if scale is not None:
        p.has_scale, p.scale = 1, float(scale)
    p.feature_map = _feature(feature_map)
    p.normalize, p.eps, p.gate = int(bool(normalize)), float(eps), _GATES[gate]
    decay = None
    if gate == "fixed" and g_gamma is not None:
        gg = as_f32(g_gamma, "g_gamma").reshape(-1)
        if gg.size != H:
            raise _shape_error("g_gamma must have H = %d values, got shape %s" % (H, np.shape(g_gamma)))
        decay = (ctypes.c_float * H)(*gg.tolist())
        p.fixed_log_decay = ctypes.cast(decay, ctypes.POINTER(ctypes.c_float))
    p.chunk = int(chunk_size or 0)
    return p, decay


def attention(q, k, v, g=None, *, gate=None, mode="chunk", scale=None, initial_state=None,
              output_final_state=False, normalize=False, eps=1e-6, feature_map=None, causal=True,
              g_gamma=None, reverse=False, chunk_size=None, state_v_first=False, context=None):
    """The general entry point over ocla_attention_forward; the fla-named functions call it.

    gate: None (inferred: no g -> none, g [B,T,H] -> scalar, g [B,T,H,K] -> vector), "none", "scalar",
    "vector" or "fixed" (g_gamma [H] log decays, None -> RetNet's log(1 - 2^(-5-h))).
    mode: "chunk" (chunked form) or "recurrent" (token by token). With normalize, initial_state may be
    a tuple (S [B,H,K,V], z [B,H,K] or [B,1,H,K]) and final_state is (S, z [B,1,H,K]) as in fla.
    reverse: run the recurrence from the last token to the first (done by flipping the time axis).
    state_v_first: states are [B,H,V,K] (fla's option; transposed on the host)."""
    ctx = _ctx(context)
    lib = L.library()
    q, k, v = as_f32(q, "q"), as_f32(k, "k"), as_f32(v, "v")
    if q.ndim != 4 or v.ndim != 4:
        raise _shape_error("q must be [B,T,H,K] and v [B,T,H,V] (fla layout, head_first=False); got q %s, v %s"
                           % (q.shape, v.shape))
    g, gate = _gate_kind(g, gate)
    if mode not in ("chunk", "recurrent"):
        raise ValueError("mode must be 'chunk' or 'recurrent'")
    if reverse:
        q, k, v = (np.ascontiguousarray(a[:, ::-1]) for a in (q, k, v))
        if g is not None:
            g = np.ascontiguousarray(g[:, ::-1])
    B, T, H, K = q.shape
    V = v.shape[3]

    s0, z0 = initial_state, None
    if isinstance(initial_state, (tuple, list)):
        if not normalize:
            raise ValueError("initial_state is a (state, z) tuple only with normalize=True")
        s0, z0 = initial_state
    s0, z0 = as_f32(s0, "initial_state"), as_f32(z0, "initial_z")
    if state_v_first and s0 is not None:
        if s0.ndim != 4:
            raise _shape_error("initial_state must be [B,H,V,K] with state_v_first; got %s" % (s0.shape,))
        s0 = np.ascontiguousarray(s0.transpose(0, 1, 3, 2))
    if z0 is not None and z0.ndim == 4 and z0.shape[1] == 1:  # fla's z_state [B,1,H,K]
        z0 = z0.reshape(z0.shape[0], z0.shape[2], z0.shape[3])

    p, decay = _attn_params(lib, H, gate, scale, feature_map, normalize, eps, g_gamma, chunk_size)
    p.causal = int(bool(causal))
    p.form = L.FORM_CHUNKED if mode == "chunk" else L.FORM_RECURRENT

    ts = _Tensors(ctx)
    T_, new = ts.input, ts.output
    try:

        io = L.AttnIO()
        io.q, io.k, io.v = ptr(T_(q, "q")), ptr(T_(k, "k")), ptr(T_(v, "v"))
        io.g = ptr(T_(g, "g"))
        io.initial_state = ptr(T_(s0, "initial_state"))
        io.initial_z = ptr(T_(z0, "initial_z"))
        o = new((B, T, H, V))
        io.o = o.handle
        fs = fz = None
        if output_final_state:
            fs = new((B, H, K, V))
            io.final_state = fs.handle
            if normalize:
                fz = new((B, H, K))
                io.final_z = fz.handle
        ctx._check(lib.ocla_attention_forward(ctx.handle, ctypes.byref(p), ctypes.byref(io)),
                   "ocla_attention_forward")
        out = o.numpy()
        if reverse:
            out = np.ascontiguousarray(out[:, ::-1])
        final = None
        if output_final_state:
            final = fs.numpy()
            if state_v_first:
                final = np.ascontiguousarray(final.transpose(0, 1, 3, 2))
            if normalize:
                final = (final, fz.numpy().reshape(B, 1, H, K))
        return out, final
    finally:
        ts.close()
        del decay


def attention_backward(q, k, v, do, g=None, *, gate=None, scale=None, initial_state=None, dht=None,
                       normalize=False, eps=1e-6, feature_map=None, g_gamma=None, chunk_size=None, context=None):
    """Gradients of the causal forward (ocla_attention_backward) for a loss L with dL/do = do and
    dL/dS_T = dht (None: zeros). Same arguments as attention(); with normalize, initial_state may be
    (S, z) and the z gradients are not returned. Returns (dq, dk, dv, dg, dh0): dg has g's shape (None
    for the none / fixed gates), dh0 [B,H,K,V] is None unless initial_state is given. dg is the
    gradient with respect to the raw log gate (0 where g > 0: the forward clamps it)."""
    ctx = _ctx(context)
    lib = L.library()
    q, k, v, do = as_f32(q, "q"), as_f32(k, "k"), as_f32(v, "v"), as_f32(do, "do")
    if q.ndim != 4 or v.ndim != 4:
        raise _shape_error("q must be [B,T,H,K] and v [B,T,H,V]; got q %s, v %s" % (q.shape, v.shape))
    g, gate = _gate_kind(g, gate)
    H = q.shape[2]
    s0, z0 = initial_state, None
    if isinstance(initial_state, (tuple, list)):
        s0, z0 = initial_state
    s0, z0 = as_f32(s0, "initial_state"), as_f32(z0, "initial_z")
    if z0 is not None and z0.ndim == 4 and z0.shape[1] == 1:
        z0 = z0.reshape(z0.shape[0], z0.shape[2], z0.shape[3])
    p, decay = _attn_params(lib, H, gate, scale, feature_map, normalize, eps, g_gamma, chunk_size)
    ts = _Tensors(ctx)
    T_, new = ts.input, ts.output
    try:
        io = L.AttnGradIO()
        io.q, io.k, io.v, io.g = ptr(T_(q, "q")), ptr(T_(k, "k")), ptr(T_(v, "v")), ptr(T_(g, "g"))
        io.initial_state, io.initial_z = ptr(T_(s0, "initial_state")), ptr(T_(z0, "initial_z"))
        io.d_o, io.d_final_state = ptr(T_(do, "do")), ptr(T_(dht, "dht"))
        dq, dk, dv = new(q.shape), new(k.shape), new(v.shape)
        io.dq, io.dk, io.dv = dq.handle, dk.handle, dv.handle
        dg = new(g.shape) if g is not None and gate in ("scalar", "vector") else None
        io.dg = ptr(dg)
        dh0 = new(s0.shape) if s0 is not None else None
        io.d_initial_state = ptr(dh0)
        ctx._check(lib.ocla_attention_backward(ctx.handle, ctypes.byref(p), ctypes.byref(io)),
                   "ocla_attention_backward")
        return (dq.numpy(), dk.numpy(), dv.numpy(), dg.numpy() if dg is not None else None,
                dh0.numpy() if dh0 is not None else None)
    finally:
        ts.close()
        del decay


# ---- GLA ---------------------------------------------------------------------------------------
def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False, state_v_first=False, *,
              chunk_size=None, context=None, **unsupported):
    """GLA, chunked: S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = scale q_t^T S_t.
    q, k, g [B,T,H,K] (g: natural-log forget gates, <= 0), v [B,T,H,V]; initial_state [B,H,K,V]."""
    _no_extra("chunk_gla", unsupported)
    return attention(q, k, v, g, gate="vector", mode="chunk", scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, chunk_size=chunk_size, state_v_first=state_v_first,
                     context=context)


def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None, output_final_state=False,
                        reverse=False, state_v_first=False, *, context=None, **unsupported):
    """GLA, token by token (fla's fused_recurrent_gla: the gate is called gk; gv is not supported)."""
    _no_extra("fused_recurrent_gla", unsupported)
    if gv is not None:
        raise NotImplementedError("fused_recurrent_gla: value-side gates (gv) are not supported by ocla")
    return attention(q, k, v, gk, gate="none" if gk is None else "vector", mode="recurrent", scale=scale,
                     initial_state=initial_state, output_final_state=output_final_state, reverse=reverse,
                     state_v_first=state_v_first, context=context)


# ---- simple GLA / retention ---------------------------------------------------------------------
def _simple(name, mode, q, k, v, g, g_gamma, scale, initial_state, output_final_state, reverse, chunk_size,
            context, unsupported, state_v_first=False):
    _no_extra(name, unsupported)
    if g is not None and g_gamma is not None:
        raise ValueError("%s: pass g or g_gamma, not both" % name)
    gate = "scalar" if g is not None else ("fixed" if g_gamma is not None else "none")
    return attention(q, k, v, g, gate=gate, g_gamma=g_gamma, mode=mode, scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, reverse=reverse, chunk_size=chunk_size,
                     state_v_first=state_v_first, context=context)


def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None, output_final_state=False,
                     state_v_first=False, *, chunk_size=None, context=None, **unsupported):
    """Simple GLA, chunked: one log decay per head and token, g [B,T,H], or a constant per head,
    g_gamma [H]. S_t = exp(g_t) S_{t-1} + k_t v_t^T, o_t = scale q_t^T S_t."""
    return _simple("chunk_simple_gla", "chunk", q, k, v, g, g_gamma, scale, initial_state, output_final_state,
                   False, chunk_size, context, unsupported, state_v_first)


def fused_chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                           output_final_state=False, *, context=None, **unsupported):
    """Same as chunk_simple_gla (ocla has one chunked form)."""
    return _simple("fused_chunk_simple_gla", "chunk", q, k, v, g, g_gamma, scale, initial_state,
                   output_final_state, False, None, context, unsupported)


def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, state_v_first=False, *, context=None,
                               **unsupported):
    """Simple GLA, token by token."""
    return _simple("fused_recurrent_simple_gla", "recurrent", q, k, v, g, g_gamma, scale, initial_state,
                   output_final_state, reverse, None, context, unsupported, state_v_first)


def chunk_retention(q, k, v, scale=None, initial_state=None, output_final_state=False, *, chunk_size=None,
                    context=None, **unsupported):
    """Retention (RetNet): fixed per-head log decay log(1 - 2^(-5-h)), chunked."""
    _no_extra("chunk_retention", unsupported)
    return attention(q, k, v, gate="fixed", mode="chunk", scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, chunk_size=chunk_size, context=context)


def fused_chunk_retention(q, k, v, scale=None, initial_state=None, output_final_state=False, *, context=None,
                          **unsupported):
    """Same as chunk_retention."""
    return chunk_retention(q, k, v, scale, initial_state, output_final_state, context=context, **unsupported)


def fused_recurrent_retention(q, k, v, scale=None, initial_state=None, output_final_state=False, reverse=False,
                              *, context=None, **unsupported):
    """Retention, token by token."""
    _no_extra("fused_recurrent_retention", unsupported)
    return attention(q, k, v, gate="fixed", mode="recurrent", scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, reverse=reverse, context=context)


# ---- linear attention ---------------------------------------------------------------------------
def chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False, normalize=True, *,
                      eps=1e-10, feature_map=None, causal=True, chunk_size=None, context=None, **unsupported):
    """Linear attention, chunked. o_t = scale q_t^T S_t [/ (scale q_t^T z_t + eps) when normalize],
    S_t = sum_{s<=t} k_s v_s^T, z_t = sum_{s<=t} k_s. normalize defaults to True and eps to 1e-10 as in fla.
    With normalize, initial_state may be (S, z) and the final state is (S [B,H,K,V], z [B,1,H,K]).
    ocla extras: feature_map ('identity', 'elu' = elu+1, 'relu') applied to q and k inside the kernel;
    causal=False (whole-sequence state for every token; no states)."""
    _no_extra("chunk_linear_attn", unsupported)
    return attention(q, k, v, gate="none", mode="chunk", scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, normalize=normalize, eps=eps, feature_map=feature_map,
                     causal=causal, chunk_size=chunk_size, context=context)


def fused_chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False, normalize=True,
                            *, context=None, **kw):
    """Same as chunk_linear_attn."""
    return chunk_linear_attn(q, k, v, scale, initial_state, output_final_state, normalize, context=context, **kw)


def fused_recurrent_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False, reverse=False,
                                normalize=False, *, eps=1e-10, feature_map=None, context=None, **unsupported):
    """Linear attention, token by token (normalize defaults to False here, as in fla)."""
    _no_extra("fused_recurrent_linear_attn", unsupported)
    return attention(q, k, v, gate="none", mode="recurrent", scale=scale, initial_state=initial_state,
                     output_final_state=output_final_state, normalize=normalize, eps=eps, feature_map=feature_map,
                     reverse=reverse, context=context)


def _no_extra(name, kw):
    # None and fla's defaults (head_first=False, state_v_first=False) are accepted and ignored
    kw = {k: v for k, v in kw.items() if not (v is None or (k in ("head_first", "state_v_first") and v is False))}
    if "head_first" in kw:
        raise ValueError("%s: head_first is not supported; pass [B,T,H,K] (e.g. q.transpose(0, 2, 1, 3))" % name)
    if "state_v_first" in kw:
        raise NotImplementedError("%s: state_v_first=True ([N,H,V,K] states) is not supported; states are "
                                  "[B,H,K,V]" % name)
    if "cu_seqlens" in kw:
        raise NotImplementedError("%s: variable-length batches (cu_seqlens) are not supported by ocla" % name)
    if kw:
        raise TypeError("%s: unsupported argument(s) %s" % (name, ", ".join(sorted(kw))))


# ---- softmax, Linformer, FLASH ------------------------------------------------------------------
def softmax_attention(q, k, v, scale=None, causal=True, *, block=0, context=None):
    """Softmax attention, o_t = sum_s softmax_s(scale q_t . k_s) v_s (s <= t when causal).
    q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V]; returns o [B,T,H,V]."""
    ctx = _ctx(context)
    lib = L.library()
    q, k, v = as_f32(q, "q"), as_f32(k, "k"), as_f32(v, "v")
    if q.ndim != 4 or v.ndim != 4:
        raise _shape_error("q must be [B,T,H,K] and v [B,Tk,H,V]; got q %s, v %s" % (q.shape, v.shape))
    p = L.SoftmaxParams()
    lib.ocla_softmax_params_defaults(ctypes.byref(p))
    p.causal = int(bool(causal))
    if scale is not None:
        p.has_scale, p.scale = 1, float(scale)
    p.block = int(block)
    ts = [Tensor.from_numpy(ctx, a, n) for a, n in ((q, "q"), (k, "k"), (v, "v"))]
    o = Tensor(ctx, q.shape[:3] + v.shape[3:])
    try:
        ctx._check(lib.ocla_softmax_attention(ctx.handle, ctypes.byref(p), ts[0].handle, ts[1].handle,
                                              ts[2].handle, o.handle), "ocla_softmax_attention")
        return o.numpy()
    finally:
        for t in ts + [o]:
            t.close()


_SHARING = {"headwise": L.LINFORMER_HEADWISE, "key_value": L.LINFORMER_KEY_VALUE,
            "layerwise": L.LINFORMER_LAYERWISE, "none": L.LINFORMER_NONE}


def linformer_attention(q, k, v, E, F=None, scale=None, *, sharing="headwise", block=0, context=None):
    """Linformer (non-causal): K' = E[:, :T] K, V' = F[:, :T] V per (b, h), then softmax attention over
    the kp projected rows. E, F [kp, n] (sharing 'headwise'), [H, kp, n] ('none'); F unused with
    'key_value' / 'layerwise'. Returns o [B,T,H,V]."""
    ctx = _ctx(context)
    lib = L.library()
    q, k, v, E, F = (as_f32(a, n) for a, n in ((q, "q"), (k, "k"), (v, "v"), (E, "E"), (F, "F")))
    if sharing not in _SHARING:
        raise ValueError("sharing must be one of %s" % sorted(_SHARING))
    p = L.LinformerParams()
    lib.ocla_linformer_params_defaults(ctypes.byref(p))
    if scale is not None:
        p.has_scale, p.scale = 1, float(scale)
    p.sharing = _SHARING[sharing]
    p.block = int(block)
    ts = _Tensors(ctx)
    T_, new = ts.input, ts.output
    try:
        io = L.LinformerIO()
        io.q, io.k, io.v = ptr(T_(q, "q")), ptr(T_(k, "k")), ptr(T_(v, "v"))
        io.E, io.F = ptr(T_(E, "E")), ptr(T_(F, "F"))
        o = new(q.shape[:3] + v.shape[3:])
        io.o = o.handle
        ctx._check(lib.ocla_linformer_attention(ctx.handle, ctypes.byref(p), ctypes.byref(io)),
                   "ocla_linformer_attention")
        return o.numpy()
    finally:
        ts.close()


def _flash_params(lib, causal=True, chunk=256, quad_scale=None, bias_scale=1.0, quad_post=1.0,
                  lin_norm="chunk", lin_scale=None, rope_dims=0, rope_base=10000.0, pos_offset=0):
    p = L.FlashParams()
    lib.ocla_flash_params_defaults(ctypes.byref(p))
    p.causal = int(bool(causal))
    if chunk is not None:
        p.chunk = int(chunk)
    if quad_scale is not None:
        p.has_quad_scale, p.quad_scale = 1, float(quad_scale)
    p.bias_scale, p.quad_post = float(bias_scale), float(quad_post)
    p.lin_norm = {"chunk": L.FLASH_LIN_CHUNK, "mean": L.FLASH_LIN_MEAN}[lin_norm]
    if lin_scale is not None:
        p.has_lin_scale, p.lin_scale = 1, float(lin_scale)
    p.rope_dims, p.rope_base, p.pos_offset = int(rope_dims), float(rope_base), int(pos_offset)
    return p


def flash_attention(qq, kq, ql, kl, v, *, causal=True, chunk=256, quad_scale=None, bias_scale=1.0,
                    quad_post=1.0, rel_bias=None, lin_norm="chunk", lin_scale=None, rope_dims=0,
                    rope_base=10000.0, pos_offset=0, cu_seqlens=None, context=None):
    """FLASH mixed chunk attention (Hua et al. 2022; see include/ocla/flash.h for the exact math).
    qq, kq, ql, kl [B,T,H,S], v [B,T,H,E]; rel_bias None or [H, 2C-1]. Returns o [B,T,H,E].
    cu_seqlens: None, or N+1 int32 offsets of N sequences packed along T (B = 1, causal), each run as
    if alone (fla's convention)."""
    ctx = _ctx(context)
    lib = L.library()
    arrs = [as_f32(a, n) for a, n in ((qq, "qq"), (kq, "kq"), (ql, "ql"), (kl, "kl"), (v, "v"))]
    if arrs[0].ndim != 4 or arrs[4].ndim != 4:
        raise _shape_error("qq must be [B,T,H,S] and v [B,T,H,E]")
    p = _flash_params(lib, causal, chunk, quad_scale, bias_scale, quad_post, lin_norm, lin_scale, rope_dims,
                      rope_base, pos_offset)
    if cu_seqlens is not None:
        cu = np.ascontiguousarray(cu_seqlens, dtype=np.int32)
        p.cu_seqlens = cu.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        p.n_seqs = cu.size - 1
    made = [Tensor.from_numpy(ctx, a, n) for a, n in zip(arrs, ("qq", "kq", "ql", "kl", "v"))]
    try:
        if rel_bias is not None:
            rb = Tensor.from_numpy(ctx, rel_bias, "rel_bias")
            made.append(rb)
            p.rel_bias = rb.handle
        o = Tensor(ctx, arrs[0].shape[:3] + arrs[4].shape[3:])
        made.append(o)
        io = L.FlashIO(*[t.handle for t in made[:5]], o.handle)
        ctx._check(lib.ocla_flash_attention(ctx.handle, ctypes.byref(p), ctypes.byref(io)), "ocla_flash_attention")
        return o.numpy()
    finally:
        for t in made:
            t.close()


# ---- limits and plans ---------------------------------------------------------------------------
def attention_limits(gate="vector", mode="chunk", *, normalize=False, feature_map=None, context=None):
    """(max_k, max_v): the largest head dims this context's device runs for the op."""
    ctx = _ctx(context)
    lib = L.library()
    p = L.AttnParams()
    lib.ocla_attn_params_defaults(ctypes.byref(p))
    p.gate = {"none": L.GATE_NONE, "scalar": L.GATE_SCALAR, "vector": L.GATE_VECTOR, "fixed": L.GATE_FIXED}[gate]
    p.form = L.FORM_CHUNKED if mode == "chunk" else L.FORM_RECURRENT
    p.normalize = int(bool(normalize))
    p.feature_map = _feature(feature_map)
    mk, mv = ctypes.c_int(), ctypes.c_int()
    ctx._check(lib.ocla_attention_limits(ctx.handle, ctypes.byref(p), ctypes.byref(mk), ctypes.byref(mv)),
               "ocla_attention_limits")
    return mk.value, mv.value


# op name -> (ocla_op_kind, gate for the recurrent / backward rows)
_PLAN_OPS = {
    "chunk_linear_attn": (L.OP_LINEAR_CHUNK, L.GATE_NONE), "linear": (L.OP_LINEAR_CHUNK, L.GATE_NONE),
    "chunk_simple_gla": (L.OP_SIMPLE_GLA_CHUNK, L.GATE_SCALAR), "simple_gla": (L.OP_SIMPLE_GLA_CHUNK, L.GATE_SCALAR),
    "chunk_retention": (L.OP_SIMPLE_GLA_CHUNK, L.GATE_FIXED),
    "chunk_gla": (L.OP_GLA_CHUNK, L.GATE_VECTOR), "gla": (L.OP_GLA_CHUNK, L.GATE_VECTOR),
    "fused_recurrent_linear_attn": (L.OP_ATTN_RECURRENT, L.GATE_NONE),
    "fused_recurrent_simple_gla": (L.OP_ATTN_RECURRENT, L.GATE_SCALAR),
    "fused_recurrent_retention": (L.OP_ATTN_RECURRENT, L.GATE_FIXED),
    "fused_recurrent_gla": (L.OP_ATTN_RECURRENT, L.GATE_VECTOR),
    "recurrent": (L.OP_ATTN_RECURRENT, L.GATE_VECTOR),
    "flash": (L.OP_FLASH_CHUNK, L.GATE_NONE), "flash_attention": (L.OP_FLASH_CHUNK, L.GATE_NONE),
    "softmax": (L.OP_SOFTMAX_TILED, L.GATE_NONE), "softmax_attention": (L.OP_SOFTMAX_TILED, L.GATE_NONE),
    "backward": (L.OP_ATTN_BACKWARD, L.GATE_VECTOR),
}
_GATE_NAMES = {"none": L.GATE_NONE, "scalar": L.GATE_SCALAR, "vector": L.GATE_VECTOR, "fixed": L.GATE_FIXED}


def plan(op, B=1, T=1024, H=1, K=64, V=None, *, chunk=0, normalize=False, causal=True, portable=False,
         feature_map=None, gate=None, context=None):
    """The plan ocla runs for this request on the context's device (ocla_plan_explain), as a dict:
    path, kernels, chunk, sub_chunk, bk, bv, wg, passes, local_bytes, cost, tiles, reason, and
    'text', the one-line explanation. op: a function name ("chunk_gla", "chunk_simple_gla",
    "chunk_linear_attn", "fused_recurrent_gla", ...) or "flash", "softmax", "backward" (gate= picks the
    backward's gate: "none", "scalar", "vector", "fixed")."""
    ctx = _ctx(context)
    lib = L.library()
    if op not in _PLAN_OPS:
        raise ValueError("op must be one of %s" % sorted(_PLAN_OPS))
    kind, g = _PLAN_OPS[op]
    if gate is not None:
        g = _GATE_NAMES[gate]
    r = L.PlanRequest()
    r.op, r.B, r.T, r.H, r.K, r.V = kind, int(B), int(T), int(H), int(K), int(K if V is None else V)
    r.chunk = int(chunk)
    r.flags = (L.PLAN_NORMALIZE if normalize else 0) | (0 if causal else L.PLAN_NONCAUSAL) | \
        (L.PLAN_PORTABLE if portable else 0)
    r.gate, r.feature = g, _feature(feature_map)
    pl = L.Plan()
    buf = ctypes.create_string_buffer(1024)
    ctx._check(lib.ocla_plan_explain(ctx.handle, ctypes.byref(r), ctypes.byref(pl), buf, len(buf)),
               "ocla_plan_explain(%s)" % op)
    names = pl.tile_names.decode().split()
    return {
        "op": op, "path": L.PATH_NAMES.get(pl.path, str(pl.path)), "kernels": pl.kernels.decode(),
        "chunk": pl.chunk, "sub_chunk": pl.sub_chunk, "bk": pl.bk, "bv": pl.bv, "wg": (pl.wg_x, pl.wg_y),
        "passes": pl.passes, "local_bytes": int(pl.local_bytes), "cost": pl.cost,
        "tiles": dict(zip(names, list(pl.tile)[:len(names)])), "reason": pl.reason.decode(),
        "text": buf.value.decode(),
    }


def explain(op, B=1, T=1024, H=1, K=64, V=None, **kw):
    """One line saying which path, kernels, chunk and tiles ocla runs for this request on the context's
    device, and why (ocla_plan_explain). Arguments as for plan()."""
    return plan(op, B, T, H, K, V, **kw)["text"]
