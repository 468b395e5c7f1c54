# SPDX-License-Identifier: MIT
"""A whole GLA language model (<ocla/model.h>): load an fla checkpoint, run it on a device, generate.

    with ocla.Model("checkpoints/gla-340m", context=ocla.Context("nvidia")) as m:
        g = m.generate("Once upon a time", max_new_tokens=64, temperature=0.8, top_p=0.95, seed=1)
        print(g.text, g.decode_tokens_per_s)

The prompt is text (through the checkpoint's tokenizer.json, read by ocla.tokenizer) or token ids.
Sampling (temperature, top-k, top-p, seed) and generation run in the C library (ocla_model_generate);
prefill() and step() give the logits for other loops. docs/MODELS.md "Python"."""
import collections
import ctypes
import json
import os

import numpy as np

from . import _lib as L
from ._core import OclaError, _check, _ctx
from .tokenizer import Tokenizer

__all__ = ["Model", "Generation"]

Generation = collections.namedtuple("Generation", "tokens text prompt_tokens prefill_seconds decode_seconds "
                                                  "prefill_tokens_per_s decode_tokens_per_s")
Generation.__doc__ = """tokens: the generated ids (a stop token kept as the last); text: their decoding (None
without a tokenizer); prefill_seconds: the prompt and the first token's sampling; decode_seconds: every
later step and its sampling (wall clock, as ocla-generate prints them)."""

_LOGITS = {None: L.MODEL_LOGITS_NONE, "last": L.MODEL_LOGITS_LAST, "all": L.MODEL_LOGITS_ALL}


def _i32(a, name):
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError("%s: token ids (integers) expected, got dtype %s" % (name, arr.dtype))
    return np.ascontiguousarray(arr, dtype=np.int32)


def _ptr(a, ct):
    return a.ctypes.data_as(ctypes.POINTER(ct))


class Model:
    """A checkpoint directory (config.json + safetensors, fla's GLAForCausalLM) on a context's device,
    with the recurrent states of ``batch`` sequences. ``tokenizer``: "auto" (the directory's
    tokenizer.json when there is one), None, a path or an ocla.Tokenizer."""

    def __init__(self, path, context=None, batch=1, tokenizer="auto"):
        self.context = ctx = _ctx(context)
        self.path = path
        self._s = None
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            self.config = json.load(f)
        lib = L.library()
        host = ctypes.c_void_p()
        _check(lib.ocla_model_open(os.fsencode(path), ctypes.byref(host)), None, "ocla_model_open(%r)" % path)
        try:
            s = ctypes.c_void_p()
            ctx._check(lib.ocla_model_session_create(ctx.handle, host, int(batch), ctypes.byref(s)),
                       "ocla_model_session_create(batch=%d)" % batch)
        finally:
            lib.ocla_model_free(host)  # the session holds the weights on the device
        self._s = s.value
        ctx._resources.add(self)
        self.batch = lib.ocla_model_session_batch(self._s)
        self.vocab_size = int(lib.ocla_model_session_vocab(self._s))
        if tokenizer == "auto":
            tj = os.path.join(path, "tokenizer.json")
            tokenizer = tj if os.path.exists(tj) else None
        self.tokenizer = Tokenizer.from_file(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else tokenizer

    @property
    def handle(self):
        if self._s is None:
            raise OclaError(1, "the model was closed (or its context)", "Model")
        return self._s

    def _release(self):
        s, self._s = self._s, None
        if s is not None:
            L.library().ocla_model_session_free(s)

    def close(self):
        """Free the device copy now (else when the model or its context goes)."""
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if self._s is not None and not self.context.closed:
                self._release()
        except Exception:
            pass

    # -- text
    def encode(self, text, add_special_tokens=True):
        if self.tokenizer is None:
            raise ValueError("%s has no tokenizer.json: give token ids, or a tokenizer" % self.path)
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens)

    def decode(self, ids, skip_special_tokens=True):
        if self.tokenizer is None:
            raise ValueError("%s has no tokenizer.json: give token ids, or a tokenizer" % self.path)
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    # -- running
    def reset(self):
        """Every layer's state back to zero (a new sequence)."""
        self.context._check(L.library().ocla_model_reset(self.handle), "ocla_model_reset")

    def prefill(self, tokens, logits="last"):
        """Feed tokens [batch, T] (or [T] at batch 1) through the chunked form, after the current states.
        logits: "last" -> [batch, vocab], "all" -> [batch, T, vocab], None -> None."""
        t = _i32(tokens, "tokens")
        if t.ndim == 1:
            t = t.reshape(1, -1)
        if t.ndim != 2 or t.shape[0] != self.batch:
            raise ValueError("tokens must be [batch=%d, T]; got shape %s" % (self.batch, np.shape(tokens)))
        if logits not in _LOGITS:
            raise ValueError("logits must be 'last', 'all' or None")
        shape = {None: None, "last": (self.batch, self.vocab_size), "all": t.shape + (self.vocab_size,)}[logits]
        out = None if shape is None else np.empty(shape, dtype=np.float32)
        self.context._check(L.library().ocla_model_prefill(self.handle, _ptr(t, ctypes.c_int32), t.shape[1],
                                                           _LOGITS[logits],
                                                           None if out is None else _ptr(out, ctypes.c_float)),
                            "ocla_model_prefill")
        return out

    def step(self, tokens, logits=True):
        """One token per sequence (tokens [batch]) through the recurrent form: logits [batch, vocab]."""
        t = _i32(tokens, "tokens").reshape(-1)
        if t.shape[0] != self.batch:
            raise ValueError("tokens must be [batch=%d]; got %d" % (self.batch, t.shape[0]))
        out = np.empty((self.batch, self.vocab_size), dtype=np.float32) if logits else None
        self.context._check(L.library().ocla_model_step(self.handle, _ptr(t, ctypes.c_int32),
                                                        None if out is None else _ptr(out, ctypes.c_float)),
                            "ocla_model_step")
        return out

    def generate(self, prompt, max_new_tokens=32, temperature=0.0, top_k=0, top_p=1.0, seed=0, stop="eos",
                 reset=True):
        """Generate from prompt (text, or token ids) at batch 1: greedy by default (temperature 0).
        stop: "eos" (the config's eos_token_id), None, or token ids. Returns a Generation."""
        if self.batch != 1:
            raise ValueError("generate runs a batch-1 model (this one has batch %d): use prefill and step" % self.batch)
        ids = self.encode(prompt) if isinstance(prompt, str) else prompt
        p = _i32(ids, "prompt").reshape(-1)
        if p.size < 1:
            raise ValueError("the prompt has no tokens")
        if stop == "eos":
            eos = self.config.get("eos_token_id", 2)
            stop = [] if eos is None else (eos if isinstance(eos, list) else [eos])
        st = _i32(list(stop or []), "stop").reshape(-1)
        lib = L.library()
        sp = L.SamplerParams()
        lib.ocla_sampler_params_defaults(ctypes.byref(sp))
        sp.temperature, sp.top_k, sp.top_p, sp.seed = float(temperature), int(top_k), float(top_p), int(seed)
        smp = ctypes.c_void_p()
        _check(lib.ocla_sampler_create(ctypes.byref(sp), ctypes.byref(smp)), None, "ocla_sampler_create")
        try:
            if reset:
                self.reset()
            out = np.empty(int(max_new_tokens), dtype=np.int32)
            n = ctypes.c_int64()
            stats = L.GenerateStats()
            status = lib.ocla_model_generate(self.handle, smp, _ptr(p, ctypes.c_int32), p.size, int(max_new_tokens),
                                             _ptr(st, ctypes.c_int32) if st.size else None, int(st.size),
                                             _ptr(out, ctypes.c_int32), ctypes.byref(n), ctypes.byref(stats))
            if status != 0:  # the session's errors are the context's; the sampler's, this thread's
                why = self.context.last_error() or L.library().ocla_last_error(None).decode("utf-8", "replace")
                raise OclaError(status, why, "ocla_model_generate")
        finally:
            lib.ocla_sampler_free(smp)
        toks = out[:n.value].tolist()
        dec = stats.generated_tokens - 1
        return Generation(tokens=toks, text=self.decode(toks) if self.tokenizer is not None else None,
                          prompt_tokens=int(p.size), prefill_seconds=stats.prefill_seconds,
                          decode_seconds=stats.decode_seconds,
                          prefill_tokens_per_s=p.size / stats.prefill_seconds if stats.prefill_seconds > 0 else 0.0,
                          decode_tokens_per_s=dec / stats.decode_seconds if dec > 0 and stats.decode_seconds > 0
                          else 0.0)
