# SPDX-License-Identifier: MIT
"""Write GLA checkpoints in fla's layout (config.json + model.safetensors, fp32) from numpy, without
torch: random models for tests, demos and perf/model_compare.py's runs without fla.

    ocla.checkpoint.random_gla("gla-tiny", dict(vocab_size=256, hidden_size=64, num_hidden_layers=2,
                                                num_heads=2), seed=0)

Tensor names and shapes are those of fla's GLAForCausalLM (tests/ref/ref_model_ckpt.c writes the same
ones in C). Weights are unit-scale (Linear [out, in] uniform with variance 1/in, norms 1 +- 0.2, biases
+- 0.5, embeddings +- 1), as tests/tools/make_gla_fixtures.py makes them: logits spread over a few
units, so greedy choices are far from ties."""
import json
import os
import struct

import numpy as np

# GLAConfig's defaults for the keys the layout depends on (docs/MODELS.md "The config")
_DEFAULTS = dict(vocab_size=32000, hidden_size=2048, num_hidden_layers=24, num_heads=4, num_kv_heads=None,
                 expand_k=0.5, expand_v=1.0, hidden_ratio=4, intermediate_size=None, fuse_norm=True,
                 elementwise_affine=True, tie_word_embeddings=False, norm_eps=1e-6, bos_token_id=1,
                 eos_token_id=2)


def save_safetensors(path, tensors):
    """tensors: {name: float32 ndarray}, written in name order as one safetensors file."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = dict(dtype="F32", shape=list(a.shape), data_offsets=[offset, offset + a.nbytes])
        offset += a.nbytes
        blobs.append(a)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in blobs:
            f.write(a.tobytes())


def full_config(config):
    """config.json's content: GLAConfig's defaults overridden by config, with the derived MLP width."""
    c = dict(_DEFAULTS, model_type="gla", architectures=["GLAForCausalLM"], attn_mode="chunk", hidden_act="swish")
    c.update(config)
    if not c["intermediate_size"]:
        i = int(c["hidden_size"] * c["hidden_ratio"] * 2 / 3)
        c["intermediate_size"] = 256 * ((i + 255) // 256)
    return c


def gla_shapes(c):
    """{tensor name: shape} of a GLAForCausalLM with config c (full_config's)."""
    d, H, L = c["hidden_size"], c["num_heads"], c["num_hidden_layers"]
    g = H // (c["num_kv_heads"] or H)
    kd, vd, inter = int(d * c["expand_k"]), int(d * c["expand_v"]), c["intermediate_size"]
    s = {"model.embeddings.weight": (c["vocab_size"], d), "model.norm.weight": (d,)}
    for i in range(L):
        p = "model.layers.%d." % i
        s.update({p + "attn_norm.weight": (d,), p + "attn.q_proj.weight": (kd, d),
                  p + "attn.k_proj.weight": (kd // g, d), p + "attn.v_proj.weight": (vd // g, d),
                  p + "attn.g_proj.weight": (vd, d),
                  p + "attn.gk_proj.0.weight": (16, d), p + "attn.gk_proj.1.weight": (kd // g, 16),
                  p + "attn.gk_proj.1.bias": (kd // g,), p + "attn.o_proj.weight": (d, vd), p + "mlp_norm.weight": (d,),
                  p + "mlp.gate_proj.weight": (inter, d), p + "mlp.up_proj.weight": (inter, d),
                  p + "mlp.down_proj.weight": (d, inter)})
        if c["elementwise_affine"]:
            s[p + ("attn.g_norm_swish_gate.weight" if c["fuse_norm"] else "attn.g_norm.weight")] = (vd // H,)
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = (c["vocab_size"], d)
    return s


def random_gla(directory, config, seed=0):
    """Write a GLAForCausalLM checkpoint with unit-scale random weights to directory; returns the
    config written."""
    c = full_config(config)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in gla_shapes(c).items():
        u = rng.uniform(-1.0, 1.0, size=shape)
        if "embeddings" in name:
            v = u
        elif "norm" in name:
            v = 1 + 0.2 * u
        elif name.endswith("bias"):
            v = 0.5 * u
        else:
            v = u * np.sqrt(3.0 / shape[1])
        tensors[name] = v.astype(np.float32)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    save_safetensors(os.path.join(directory, "model.safetensors"), tensors)
    return c


def load_safetensors(path):
    """{name: ndarray} of an F32 safetensors file (as save_safetensors writes; other dtypes refused)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError("%s: %s is %s; only F32 is read here" % (path, name, t["dtype"]))
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
    return out
