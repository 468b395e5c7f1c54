# SPDX-License-Identifier: MIT
"""ctypes mirror of the public C API (include/ocla/*.h) and the shared-library lookup.

Every Structure here has the fields of its C struct in the same order with the same types; the
``*_defaults()`` functions of the library fill them (always called before a field is set, so fields
added later keep their defaults). Keep this file in step with the headers.
"""
import ctypes
import ctypes.util
import os
import sys

c_int, c_uint, c_float, c_double = ctypes.c_int, ctypes.c_uint, ctypes.c_float, ctypes.c_double
c_int32, c_int64, c_uint32, c_uint64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint32, ctypes.c_uint64
c_size_t, c_char_p, c_void_p = ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
P = ctypes.POINTER
c_enum = ctypes.c_int  # C enums here are int-sized (every value fits an int)

# ---- ocla.h ----------------------------------------------------------------------------------
STATUS_NAMES = {
    0: "OCLA_SUCCESS", 1: "OCLA_ERR_INVALID_ARGUMENT", 2: "OCLA_ERR_SHAPE", 3: "OCLA_ERR_OVERFLOW",
    4: "OCLA_ERR_TOO_LARGE", 5: "OCLA_ERR_NO_DEVICE", 6: "OCLA_ERR_OPENCL", 7: "OCLA_ERR_BUILD",
    8: "OCLA_ERR_OUT_OF_MEMORY", 9: "OCLA_ERR_UNSUPPORTED", 10: "OCLA_ERR_BLAS", 11: "OCLA_ERR_CACHE",
    12: "OCLA_ERR_DEVICE_LOST", 13: "OCLA_ERR_INTERNAL",
}
VENDOR_NAMES = ["unknown", "nvidia", "amd", "intel", "apple", "arm", "qualcomm", "pocl", "mesa"]


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("platform_index", c_int), ("device_index", c_int), ("global_index", c_int),
        ("platform_name", ctypes.c_char * 128), ("platform_version", ctypes.c_char * 128),
        ("device_name", ctypes.c_char * 128), ("device_vendor", ctypes.c_char * 128),
        ("device_version", ctypes.c_char * 128), ("driver_version", ctypes.c_char * 128),
        ("opencl_c_version", ctypes.c_char * 128),
        ("vendor", c_enum), ("is_gpu", c_int), ("is_cpu", c_int),
        ("local_mem_size", c_uint64), ("max_work_group_size", c_uint64), ("max_work_item_sizes", c_uint64 * 3),
        ("compute_units", c_uint32), ("preferred_wg_multiple", c_uint32),
        ("max_alloc_size", c_uint64), ("global_mem_size", c_uint64),
        ("has_fp16", c_int), ("has_fp64", c_int), ("has_subgroups", c_int), ("profiling_works", c_int),
    ]


LOG_FN = ctypes.CFUNCTYPE(None, c_enum, c_char_p, c_void_p)


class ContextOptions(ctypes.Structure):
    _fields_ = [
        ("size", c_size_t),  # sizeof the C struct: set by ocla_context_options_defaults
        ("device", c_char_p), ("cache_dir", c_char_p), ("cache_mode", c_enum),
        ("log", LOG_FN), ("log_user", c_void_p), ("log_level", c_enum),
        ("profiling", c_int), ("portable_kernels_only", c_int), ("allow_tf32", c_int),
    ]


class CacheStats(ctypes.Structure):
    _fields_ = [("memory_hits", c_uint64), ("disk_hits", c_uint64), ("disk_rejects", c_uint64),
                ("disk_writes", c_uint64), ("builds", c_uint64), ("disk_enabled", c_int)]


# op kinds, paths, plan flags
OP_LINEAR_CHUNK, OP_SIMPLE_GLA_CHUNK, OP_GLA_CHUNK, OP_FLASH_CHUNK, OP_SOFTMAX_TILED, OP_ATTN_RECURRENT, \
    OP_ATTN_BACKWARD = range(7)
PATH_NAMES = {0: "portable", 1: "nvidia_mma"}
PLAN_NORMALIZE, PLAN_NONCAUSAL, PLAN_STRIDED, PLAN_PORTABLE = 1, 2, 4, 8
PLAN_TILES = 12


class PlanRequest(ctypes.Structure):
    _fields_ = [("op", c_enum), ("B", c_int64), ("T", c_int64), ("H", c_int64), ("K", c_int64), ("V", c_int64),
                ("chunk", c_int), ("flags", c_uint), ("gate", c_int), ("feature", c_int)]


class Plan(ctypes.Structure):
    _fields_ = [("op", c_enum), ("path", c_enum), ("chunk", c_int), ("sub_chunk", c_int), ("bk", c_int),
                ("bv", c_int), ("wg_x", c_int), ("wg_y", c_int), ("passes", c_int), ("local_bytes", c_uint64),
                ("cost", c_double), ("tile", c_int32 * PLAN_TILES), ("tile_names", ctypes.c_char * 96),
                ("kernels", ctypes.c_char * 160), ("reason", ctypes.c_char * 256)]


# ---- attention.h -----------------------------------------------------------------------------
FEATURE_IDENTITY, FEATURE_ELU1, FEATURE_RELU = 0, 1, 2
GATE_NONE, GATE_SCALAR, GATE_VECTOR, GATE_FIXED = 0, 1, 2, 3
FORM_CHUNKED, FORM_RECURRENT = 0, 1


class AttnParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("causal", c_int), ("has_scale", c_int), ("scale", c_float),
                ("feature_map", c_enum), ("normalize", c_int), ("eps", c_float), ("gate", c_enum),
                ("fixed_log_decay", P(c_float)), ("form", c_enum), ("chunk", c_int),
                ("state_slots", P(ctypes.c_int32)), ("n_state_slots", c_int),
                ("cu_seqlens", P(ctypes.c_int32)), ("n_seqs", c_int)]


class AttnIO(ctypes.Structure):
    _fields_ = [("q", c_void_p), ("k", c_void_p), ("v", c_void_p), ("g", c_void_p),
                ("initial_state", c_void_p), ("initial_z", c_void_p), ("o", c_void_p),
                ("final_state", c_void_p), ("final_z", c_void_p)]


class AttnGradIO(ctypes.Structure):  # train.h
    _fields_ = [("q", c_void_p), ("k", c_void_p), ("v", c_void_p), ("g", c_void_p), ("initial_state", c_void_p),
                ("initial_z", c_void_p), ("d_o", c_void_p), ("d_final_state", c_void_p), ("d_final_z", c_void_p),
                ("dq", c_void_p), ("dk", c_void_p), ("dv", c_void_p), ("dg", c_void_p),
                ("d_initial_state", c_void_p), ("d_initial_z", c_void_p)]


# ---- softmax.h / flash.h ---------------------------------------------------------------------
class SoftmaxParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("causal", c_int), ("has_scale", c_int), ("scale", c_float), ("block", c_int)]


LINFORMER_HEADWISE, LINFORMER_KEY_VALUE, LINFORMER_LAYERWISE, LINFORMER_NONE = 0, 1, 2, 3


class LinformerParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("causal", c_int), ("has_scale", c_int), ("scale", c_float), ("sharing", c_enum),
                ("block", c_int)]


class LinformerIO(ctypes.Structure):
    _fields_ = [("q", c_void_p), ("k", c_void_p), ("v", c_void_p), ("E", c_void_p), ("F", c_void_p),
                ("o", c_void_p)]


FLASH_LIN_CHUNK, FLASH_LIN_MEAN = 0, 1


class FlashParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("causal", c_int), ("chunk", c_int), ("has_quad_scale", c_int),
                ("quad_scale", c_float), ("bias_scale", c_float), ("quad_post", c_float), ("rel_bias", c_void_p),
                ("lin_norm", c_enum), ("has_lin_scale", c_int), ("lin_scale", c_float), ("rope_dims", c_int),
                ("rope_base", c_float), ("pos_offset", c_int64),
                ("cu_seqlens", P(ctypes.c_int32)), ("n_seqs", c_int)]


class FlashIO(ctypes.Structure):
    _fields_ = [("qq", c_void_p), ("kq", c_void_p), ("ql", c_void_p), ("kl", c_void_p), ("v", c_void_p),
                ("o", c_void_p)]


# ---- layers.h --------------------------------------------------------------------------------
class GLALayerParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("heads", c_int), ("head_k", c_int), ("head_v", c_int), ("gate_tau", c_float),
                ("norm_eps", c_float), ("form", c_enum), ("chunk", c_int), ("final_state", c_void_p),
                ("initial_state", c_void_p),
                ("cu_seqlens", P(ctypes.c_int32)), ("n_seqs", c_int),
                ("state_slots", P(ctypes.c_int32)), ("n_state_slots", c_int)]


class GLALayerWeights(ctypes.Structure):
    _fields_ = [("w_q", c_void_p), ("w_k", c_void_p), ("w_v", c_void_p), ("w_r", c_void_p), ("w_g1", c_void_p),
                ("w_g2", c_void_p), ("b_g2", c_void_p), ("norm_w", c_void_p), ("w_o", c_void_p)]


MHA_LINEAR, MHA_SOFTMAX, MHA_LINFORMER = 0, 1, 2


class MHALayerParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("kind", c_enum), ("heads", c_int), ("head_k", c_int), ("head_v", c_int),
                ("causal", c_int), ("has_scale", c_int), ("scale", c_float), ("feature_map", c_enum),
                ("normalize", c_int), ("eps", c_float), ("chunk", c_int), ("block", c_int), ("sharing", c_enum),
                ("cu_seqlens", P(ctypes.c_int32)), ("n_seqs", c_int)]


class MHALayerWeights(ctypes.Structure):
    _fields_ = [("w_q", c_void_p), ("w_k", c_void_p), ("w_v", c_void_p), ("w_o", c_void_p), ("b_q", c_void_p),
                ("b_k", c_void_p), ("b_v", c_void_p), ("b_o", c_void_p), ("E", c_void_p), ("F", c_void_p)]


GAU_NORM_LAYER, GAU_NORM_SCALE, GAU_NORM_NONE = 0, 1, 2


class GAULayerParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("hidden_dim", c_int), ("qk_dim", c_int), ("norm", c_enum), ("norm_eps", c_float),
                ("residual", c_int), ("flash", FlashParams),
                ("cu_seqlens", P(ctypes.c_int32)), ("n_seqs", c_int)]


class GAULayerWeights(ctypes.Structure):
    _fields_ = [("w_uvz", c_void_p), ("b_uvz", c_void_p), ("gamma", c_void_p), ("beta", c_void_p),
                ("w_o", c_void_p), ("b_o", c_void_p), ("norm_w", c_void_p), ("norm_b", c_void_p)]


# ---- model.h ---------------------------------------------------------------------------------
MODEL_LOGITS_NONE, MODEL_LOGITS_LAST, MODEL_LOGITS_ALL = 0, 1, 2


class SamplerParams(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("temperature", c_float), ("top_k", c_int), ("top_p", c_float),
                ("seed", c_uint64)]


class GenerateStats(ctypes.Structure):
    _fields_ = [("prompt_tokens", c_int64), ("generated_tokens", c_int64), ("prefill_seconds", c_double),
                ("decode_seconds", c_double)]


# ---- function prototypes ---------------------------------------------------------------------
_S = c_enum  # ocla_status
_PROTOTYPES = {
    "ocla_version": (c_char_p, []),
    "ocla_status_string": (c_char_p, [_S]),
    "ocla_vendor_name": (c_char_p, [c_enum]),
    "ocla_device_count": (_S, [P(c_size_t)]),
    "ocla_device_get_info": (_S, [c_size_t, P(DeviceInfo)]),
    "ocla_device_select": (_S, [c_char_p, P(c_size_t)]),
    "ocla_context_options_defaults": (None, [P(ContextOptions)]),
    "ocla_context_create": (_S, [P(ContextOptions), P(c_void_p)]),
    "ocla_context_destroy": (None, [c_void_p]),
    "ocla_last_error": (c_char_p, [c_void_p]),
    "ocla_context_device_info": (_S, [c_void_p, P(DeviceInfo)]),
    "ocla_finish": (_S, [c_void_p]),
    "ocla_cache_get_stats": (_S, [c_void_p, P(CacheStats)]),
    "ocla_selftest": (_S, [c_void_p, P(c_double)]),
    "ocla_warmup": (_S, [c_void_p, P(c_double)]),
    "ocla_profile_begin": (_S, [c_void_p]),
    "ocla_profile_end": (_S, [c_void_p, P(c_double), P(c_int)]),
    "ocla_tensor_create": (_S, [c_void_p, c_enum, c_int, P(c_int64), P(c_void_p)]),
    "ocla_tensor_destroy": (None, [c_void_p]),
    "ocla_tensor_upload": (_S, [c_void_p, c_void_p, c_void_p, c_size_t]),
    "ocla_tensor_download": (_S, [c_void_p, c_void_p, c_void_p, c_size_t]),
    "ocla_plan_explain": (_S, [c_void_p, P(PlanRequest), P(Plan), c_char_p, c_size_t]),
    "ocla_attn_params_defaults": (None, [P(AttnParams)]),
    "ocla_attention_forward": (_S, [c_void_p, P(AttnParams), P(AttnIO)]),
    "ocla_attention_backward": (_S, [c_void_p, P(AttnParams), P(AttnGradIO)]),
    "ocla_attention_limits": (_S, [c_void_p, P(AttnParams), P(c_int), P(c_int)]),
    "ocla_softmax_params_defaults": (None, [P(SoftmaxParams)]),
    "ocla_softmax_attention": (_S, [c_void_p, P(SoftmaxParams), c_void_p, c_void_p, c_void_p, c_void_p]),
    "ocla_linformer_params_defaults": (None, [P(LinformerParams)]),
    "ocla_linformer_attention": (_S, [c_void_p, P(LinformerParams), P(LinformerIO)]),
    "ocla_flash_params_defaults": (None, [P(FlashParams)]),
    "ocla_flash_attention": (_S, [c_void_p, P(FlashParams), P(FlashIO)]),
    "ocla_gla_layer_params_defaults": (None, [P(GLALayerParams)]),
    "ocla_gla_layer_forward": (_S, [c_void_p, P(GLALayerParams), P(GLALayerWeights), c_void_p, c_void_p]),
    "ocla_mha_layer_params_defaults": (None, [P(MHALayerParams), c_enum]),
    "ocla_mha_layer_forward": (_S, [c_void_p, P(MHALayerParams), P(MHALayerWeights), c_void_p, c_void_p]),
    "ocla_gau_layer_params_defaults": (None, [P(GAULayerParams)]),
    "ocla_gau_layer_forward": (_S, [c_void_p, P(GAULayerParams), P(GAULayerWeights), c_void_p, c_void_p]),
    "ocla_model_open": (_S, [c_char_p, P(c_void_p)]),
    "ocla_model_free": (None, [c_void_p]),
    "ocla_model_session_create": (_S, [c_void_p, c_void_p, c_int, P(c_void_p)]),
    "ocla_model_session_free": (None, [c_void_p]),
    "ocla_model_reset": (_S, [c_void_p]),
    "ocla_model_session_vocab": (c_int64, [c_void_p]),
    "ocla_model_session_batch": (c_int, [c_void_p]),
    "ocla_model_prefill": (_S, [c_void_p, P(c_int32), c_int64, c_enum, P(c_float)]),
    "ocla_model_step": (_S, [c_void_p, P(c_int32), P(c_float)]),
    "ocla_sampler_params_defaults": (None, [P(SamplerParams)]),
    "ocla_sampler_create": (_S, [P(SamplerParams), P(c_void_p)]),
    "ocla_sampler_free": (None, [c_void_p]),
    "ocla_sampler_sample": (_S, [c_void_p, P(c_float), c_int64, P(c_int32)]),
    "ocla_model_generate": (_S, [c_void_p, c_void_p, P(c_int32), c_int64, c_int64, P(c_int32), c_int, P(c_int32),
                                 P(c_int64), P(GenerateStats)]),
}


def _candidates():
    """Where to look for the shared library, in order."""
    env = os.environ.get("OCLA_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    names = ["ocla.dll", "libocla.dylib"] if sys.platform in ("win32", "darwin") else \
        ["libocla.so", "libocla.so.0"]
    for n in names:  # bundled into the wheel (OCLA_BUNDLE_LIBRARY at build time)
        yield os.path.join(here, n)
    found = ctypes.util.find_library("ocla")
    if found:
        yield found
    # a build tree: this source tree's (python/ocla -> ../../build), then the working directory's
    roots = [os.path.dirname(os.path.dirname(here)), os.getcwd(), os.path.dirname(os.getcwd())]
    for root in roots:
        for d in ("build", "build-release", "build/Release"):
            for n in names:
                yield os.path.join(root, d, n)
    for d in ("/usr/local/lib", "/usr/local/lib64", "/usr/lib", "/usr/lib64"):
        for n in names:
            yield os.path.join(d, n)


_lib = None
_lib_path = None


def library():
    """The loaded shared library (loaded on first use)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        missing = [n for n in _PROTOTYPES if not hasattr(lib, n)]
        if missing:
            tried.append("%s (not ocla: lacks %s)" % (path, missing[0]))
            continue
        for name, (res, args) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _lib, _lib_path = lib, path
        return lib
    raise ImportError(
        "ocla: cannot find the shared library libocla. Build it with CMake (it produces build/libocla.so) "
        "and set OCLA_LIBRARY=/path/to/libocla.so, or install it where the loader finds it. Tried:\n  "
        + "\n  ".join(tried))


def library_path():
    library()
    return _lib_path
