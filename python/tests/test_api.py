# SPDX-License-Identifier: MIT
"""Devices, contexts, plans and errors."""
import gc

import numpy as np
import pytest

import ocla


def small(rng, B=1, T=8, H=1, K=8, V=4):
    return (rng.standard_normal((B, T, H, K)).astype(np.float32), rng.standard_normal((B, T, H, K)).astype(np.float32),
            rng.standard_normal((B, T, H, V)).astype(np.float32))


# ---- the ctypes mirror ---------------------------------------------------------------------------------
def test_structs_have_the_c_sizes():
    """Each *_defaults() writes the C struct's sizeof into its size field: a mirror smaller than the C
    struct would be overrun by that call (a header that grew without ocla/_lib.py following it)."""
    import ctypes
    from ocla import _lib as L
    lib = L.library()
    structs = {"ocla_context_options_defaults": L.ContextOptions, "ocla_attn_params_defaults": L.AttnParams,
               "ocla_softmax_params_defaults": L.SoftmaxParams, "ocla_linformer_params_defaults": L.LinformerParams,
               "ocla_flash_params_defaults": L.FlashParams, "ocla_gla_layer_params_defaults": L.GLALayerParams,
               "ocla_mha_layer_params_defaults": L.MHALayerParams, "ocla_gau_layer_params_defaults": L.GAULayerParams,
               "ocla_sampler_params_defaults": L.SamplerParams}
    for name, st in structs.items():
        buf = ctypes.create_string_buffer(4096)  # room for any C struct of these
        fn = getattr(lib, name)
        args = [ctypes.cast(buf, ctypes.POINTER(st))] + ([0] if "mha" in name else [])
        fn(*args)
        c_size = ctypes.c_size_t.from_buffer(buf).value
        assert c_size == ctypes.sizeof(st), "%s: C struct %d bytes, ocla/_lib.py %s %d" % (
            name, c_size, st.__name__, ctypes.sizeof(st))


# ---- devices and contexts ---------------------------------------------------------------------------
def test_devices_listing():
    devs = ocla.devices()
    assert isinstance(devs, list)
    for i, d in enumerate(devs):
        assert d.index == i and d.device_name and d.platform_name
        assert d.vendor in ("unknown", "nvidia", "amd", "intel", "apple", "arm", "qualcomm", "pocl", "mesa")
        assert d.local_mem_size > 0 and d.max_work_group_size > 0 and d.compute_units > 0
        assert isinstance(d.as_dict(), dict) and repr(d).startswith("Device(")
        assert ocla.select_device(str(i)).index == i
        assert ocla.select_device(i).index == i
        assert ocla.select_device(d).index == i
        assert ocla.select_device("%d:%d" % (d.platform_index, d.device_index)).index == i


def test_select_by_name():
    devs = ocla.devices()
    if not devs:
        pytest.skip("no OpenCL device")
    names = {d.vendor for d in devs}
    if "pocl" in names:
        assert ocla.select_device("pocl").vendor == "pocl"
    if any("rusticl" in d.platform_name.lower() for d in devs):
        assert "rusticl" in ocla.select_device("rusticl").platform_name.lower()
    assert ocla.select_device(None).index in range(len(devs))


def test_bad_selector_raises():
    with pytest.raises(ocla.OclaError) as e:
        ocla.select_device("no-such-device-xyz")
    assert e.value.status == 5 and e.value.status_name == "OCLA_ERR_NO_DEVICE"
    assert "no-such-device-xyz" in str(e.value) or e.value.detail
    with pytest.raises(ocla.OclaError) as e:
        ocla.Context("no-such-device-xyz")
    assert e.value.status == 5 and e.value.detail


def test_context_lifecycle(ctx, rng):
    c = ocla.Context(ctx.device)  # a second context on the same device
    assert c.device.index == ctx.device.index and not c.closed
    assert c.selftest() >= 0
    with c:
        assert ocla.default_context() is c  # inside `with` it is the default of the module functions
        q, k, v = small(rng)
        o, _ = ocla.chunk_linear_attn(q, k, v, normalize=False)
        assert o.shape == (1, 8, 1, 4)
        o2, _ = c.chunk_linear_attn(q, k, v, normalize=False)  # bound method form
        np.testing.assert_array_equal(o, o2)
    assert c.closed and ocla.default_context() is not c
    with pytest.raises(ocla.OclaError):
        ocla.chunk_linear_attn(q, k, v, context=c)
    c.close()  # twice is fine
    # closed on garbage collection too
    c2 = ocla.Context(ctx.device)
    del c2
    gc.collect()
    stats = ctx.cache_stats()
    assert set(stats) >= {"memory_hits", "builds", "disk_enabled"}


# ---- plans -------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["chunk_gla", "chunk_simple_gla", "chunk_linear_attn", "fused_recurrent_gla",
                                "softmax", "flash", "backward"])
def test_explain(ctx, op):
    text = ctx.explain(op, B=1, T=256, H=2, K=32, V=32)
    assert isinstance(text, str) and "path" in text and "kernels" in text
    p = ctx.plan(op, B=1, T=256, H=2, K=32, V=32)
    assert p["text"] == text and p["path"] == "portable" or p["path"] == "nvidia_mma"
    assert p["kernels"] and p["reason"] and p["passes"] >= 1
    assert ocla.explain(op, 1, 256, 2, 32, 32, context=ctx) == text


def test_explain_forced_chunk(ctx):
    p = ctx.plan("chunk_simple_gla", T=256, K=32, chunk=32)
    assert p["chunk"] == 32 and p["tiles"].get("CHUNK") == 32
    with pytest.raises(ValueError):
        ctx.plan("no_such_op")


def test_attention_limits(ctx):
    mk, mv = ocla.attention_limits("vector", context=ctx)
    assert mk >= 64 and mv >= 64


# ---- errors ----------------------------------------------------------------------------------------
def test_shape_error_carries_last_error(ctx, rng):
    q, k, v = small(rng)
    with pytest.raises(ocla.OclaError) as e:
        ocla.chunk_linear_attn(q, k[:, :-1], v, context=ctx)
    err = e.value
    assert err.status == 2 and err.status_name == "OCLA_ERR_SHAPE"
    assert err.detail and err.detail == ctx.last_error()
    assert "OCLA_ERR_SHAPE" in str(err) and err.detail in str(err)
    g = np.zeros((1, 8, 1, 3), np.float32)  # gate of the wrong width
    with pytest.raises(ocla.OclaError) as e:
        ocla.chunk_gla(q, k, v, g, context=ctx)
    assert e.value.status == 2 and "g" in e.value.detail
    with pytest.raises(ocla.OclaError) as e:  # initial state of the wrong shape
        ocla.chunk_gla(q, k, v, np.zeros_like(q), initial_state=np.zeros((1, 1, 8, 5), np.float32), context=ctx)
    assert e.value.status == 2 and e.value.detail
    with pytest.raises(ocla.OclaError) as e:  # g_gamma of the wrong length
        ocla.chunk_simple_gla(q, k, v, g_gamma=np.zeros(3), context=ctx)
    assert e.value.status == 2
    with pytest.raises(ocla.OclaError) as e:  # not [B,T,H,K]
        ocla.chunk_gla(q[0], k[0], v[0], q[0], context=ctx)
    assert e.value.status == 2


def test_invalid_argument(ctx, rng):
    q, k, v = small(rng)
    with pytest.raises(ocla.OclaError) as e:
        ocla.chunk_simple_gla(q, k, v, chunk_size=7, context=ctx)
    assert e.value.status in (1, 9) and e.value.detail
    with pytest.raises(ocla.OclaError) as e:  # non-causal takes no gate
        ocla.attention(q, k, v, np.zeros_like(q), causal=False, context=ctx)
    assert e.value.status == 1 and "gate" in e.value.detail


def test_unsupported_fla_arguments(ctx, rng):
    q, k, v = small(rng)
    with pytest.raises(NotImplementedError):
        ocla.fused_recurrent_gla(q, k, v, gv=np.zeros_like(v), context=ctx)
    with pytest.raises(NotImplementedError):
        ocla.chunk_gla(q, k, v, np.zeros_like(q), cu_seqlens=np.array([0, 8]), context=ctx)
    with pytest.raises(ValueError):
        ocla.chunk_simple_gla(q, k, v, head_first=True, context=ctx)
    ocla.chunk_simple_gla(q, k, v, head_first=False, context=ctx)  # fla's default is accepted
    with pytest.raises(TypeError):
        ocla.chunk_gla(q, k, v, np.zeros_like(q), bogus=1, context=ctx)
    with pytest.raises(ValueError):
        ocla.chunk_simple_gla(q, k, v, g=np.zeros((1, 8, 1)), g_gamma=np.zeros(1), context=ctx)
    with pytest.raises(TypeError):
        ocla.chunk_gla(q.astype(str), k, v, np.zeros_like(q), context=ctx)


def test_positive_gates_are_clamped(ctx, rng):
    """Documented policy: the kernels use min(g, 0)."""
    q, k, v = small(rng)
    g = np.abs(rng.standard_normal(q.shape)).astype(np.float32)
    o_pos, _ = ocla.chunk_gla(q, k, v, g, context=ctx)
    o_zero, _ = ocla.chunk_gla(q, k, v, np.zeros_like(g), context=ctx)
    np.testing.assert_allclose(o_pos, o_zero, rtol=1e-5, atol=1e-5)
