# SPDX-License-Identifier: MIT
"""ocla: linear-time attention on any OpenCL device, from Python (numpy in, numpy out).

    import numpy as np, ocla
    print(ocla.devices())                       # every OpenCL device
    with ocla.Context("pocl") as ctx:           # or "rusticl", "gpu", "nvidia", 0, "1:0", ...
        o, state = ocla.chunk_gla(q, k, v, g, output_final_state=True)
        print(ctx.explain("chunk_gla", B=1, T=2048, H=4, K=64))

The op functions are named and shaped like flash-linear-attention's (fla.ops): [B, T, H, K] layout,
``(o, final_state)`` results. Errors raise ocla.OclaError carrying ocla_last_error()'s text. The
shared library is found through OCLA_LIBRARY, a copy bundled in this package, the system loader, or
a build/ directory (see python/README.md).
"""
from ._core import (Context, Device, OclaError, Tensor, default_context, devices, select_device,
                    set_default_context, version)
from ._lib import library_path
from ._ops import (attention, attention_backward, attention_limits, chunk_gla, chunk_linear_attn, chunk_retention,
                   chunk_simple_gla, explain, flash_attention, fused_chunk_linear_attn, fused_chunk_retention,
                   fused_chunk_simple_gla, fused_recurrent_gla, fused_recurrent_linear_attn,
                   fused_recurrent_retention, fused_recurrent_simple_gla, linformer_attention, plan,
                   softmax_attention)
from .layers import GAULayer, GLALayer, MHALayer
from .model import Generation, Model
from .tokenizer import Tokenizer, TokenizerError

__version__ = "0.4.0"

__all__ = [
    "Context", "Device", "OclaError", "Tensor", "default_context", "devices", "select_device",
    "set_default_context", "version", "library_path",
    "attention", "attention_backward", "attention_limits", "chunk_gla", "chunk_linear_attn", "chunk_retention",
    "chunk_simple_gla",
    "explain", "flash_attention", "fused_chunk_linear_attn", "fused_chunk_retention", "fused_chunk_simple_gla",
    "fused_recurrent_gla", "fused_recurrent_linear_attn", "fused_recurrent_retention",
    "fused_recurrent_simple_gla", "linformer_attention", "plan", "softmax_attention",
    "GLALayer", "MHALayer", "GAULayer", "Model", "Generation", "Tokenizer", "TokenizerError",
]
