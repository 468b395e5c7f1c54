# SPDX-License-Identifier: MIT
"""Errors, devices, contexts and the host <-> device tensor helpers."""
import atexit
import ctypes
import threading
import weakref

import numpy as np

from . import _lib as L


class OclaError(Exception):
    """A failed ocla call. ``status`` is the ocla_status code, ``status_name`` its name
    (e.g. "OCLA_ERR_SHAPE") and ``detail`` the text of ocla_last_error()."""

    def __init__(self, status, detail, call=None):
        self.status = int(status)
        self.status_name = L.STATUS_NAMES.get(self.status, "OCLA_STATUS_%d" % self.status)
        self.detail = detail or ""
        self.call = call
        msg = "%s%s: %s" % (call + ": " if call else "", self.status_name, self.detail or "(no detail)")
        super().__init__(msg)


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


def _check(status, ctx_handle, call):
    if status != 0:
        lib = L.library()
        raise OclaError(status, _text(lib.ocla_last_error(ctx_handle)), call)


def version():
    """The version string of the loaded C library."""
    return _text(L.library().ocla_version())


# ---- devices ---------------------------------------------------------------------------------
class Device:
    """One OpenCL device as ocla sees it (a copy of ocla_device_info). ``index`` is the global index
    (what the selector "N" selects)."""

    _FIELDS = ("platform_index", "device_index", "global_index", "is_gpu", "is_cpu", "local_mem_size",
               "max_work_group_size", "compute_units", "preferred_wg_multiple", "max_alloc_size",
               "global_mem_size", "has_fp16", "has_fp64", "has_subgroups", "profiling_works")
    _STRINGS = ("platform_name", "platform_version", "device_name", "device_vendor", "device_version",
                "driver_version", "opencl_c_version")

    def __init__(self, info):
        for f in self._FIELDS:
            setattr(self, f, int(getattr(info, f)))
        for f in self._STRINGS:
            setattr(self, f, _text(getattr(info, f)))
        self.max_work_item_sizes = tuple(int(x) for x in info.max_work_item_sizes)
        v = int(info.vendor)
        self.vendor = L.VENDOR_NAMES[v] if 0 <= v < len(L.VENDOR_NAMES) else "unknown"
        for f in ("is_gpu", "is_cpu", "has_fp16", "has_fp64", "has_subgroups", "profiling_works"):
            setattr(self, f, bool(getattr(self, f)))

    @property
    def index(self):
        return self.global_index

    @property
    def name(self):
        return self.device_name

    @property
    def short_name(self):
        """A short label: the driver (vendor) and the device name, e.g. "pocl: pthread-haswell"."""
        return "%s: %s" % (self.vendor, self.device_name)

    @property
    def selector(self):
        """The selector string that picks exactly this device."""
        return str(self.global_index)

    def as_dict(self):
        d = {f: getattr(self, f) for f in self._FIELDS + self._STRINGS}
        d["vendor"] = self.vendor
        d["max_work_item_sizes"] = self.max_work_item_sizes
        return d

    def __repr__(self):
        return "Device(%d, %r, vendor=%r, platform=%r, %s)" % (
            self.global_index, self.device_name, self.vendor, self.platform_name,
            "GPU" if self.is_gpu else "CPU" if self.is_cpu else "other")


def devices():
    """Every OpenCL device on every platform, in ocla's global order (may be empty)."""
    lib = L.library()
    n = ctypes.c_size_t()
    _check(lib.ocla_device_count(ctypes.byref(n)), None, "ocla_device_count")
    out = []
    for i in range(n.value):
        info = L.DeviceInfo()
        _check(lib.ocla_device_get_info(i, ctypes.byref(info)), None, "ocla_device_get_info")
        out.append(Device(info))
    return out


def select_device(selector=None):
    """Resolve a selector the way contexts do: "N" (global index), "P:D", "gpu", "cpu", or a
    case-insensitive substring of vendor, platform or device name ("pocl", "rusticl", "nvidia").
    None or "" means OCLA_DEVICE, else the first GPU, else device 0. Returns the Device."""
    lib = L.library()
    idx = ctypes.c_size_t()
    sel = _selector_bytes(selector)
    _check(lib.ocla_device_select(sel, ctypes.byref(idx)), None, "ocla_device_select(%r)" % (selector,))
    info = L.DeviceInfo()
    _check(lib.ocla_device_get_info(idx.value, ctypes.byref(info)), None, "ocla_device_get_info")
    return Device(info)


def _selector_bytes(selector):
    if selector is None:
        return None
    if isinstance(selector, Device):
        selector = selector.selector
    if isinstance(selector, int):
        selector = str(selector)
    return str(selector).encode()


# ---- contexts --------------------------------------------------------------------------------
_LOG_LEVELS = {"error": 0, "warn": 1, "warning": 1, "info": 2, "debug": 3}
_CACHE_MODES = {"auto": 0, "on": 1, "off": 2}
_tls = threading.local()


class Context:
    """An ocla context on one device: owns the OpenCL context, queue, program cache and scratch memory.

    ``Context()`` picks the default device (OCLA_DEVICE, else the first GPU, else device 0);
    ``Context("pocl")``, ``Context("rusticl")``, ``Context("gpu")``, ``Context(1)``, ``Context("0:1")``
    or ``Context(device_object)`` select like ocla_context_options.device. Use it as a context manager
    (``with ocla.Context("pocl") as ctx:``): inside the block it is also the default context of the
    module-level functions in this thread, and it is closed on exit. It is closed when garbage-collected
    too, and ``close()`` may be called at any time (later calls raise OclaError)."""

    def __init__(self, device=None, *, cache_dir=None, cache="auto", log_level=None, profiling=False,
                 portable_kernels_only=False, allow_tf32=False):
        lib = L.library()
        self._handle = None
        self._lock = threading.Lock()
        self._resources = weakref.WeakSet()
        opts = L.ContextOptions()
        lib.ocla_context_options_defaults(ctypes.byref(opts))
        sel = _selector_bytes(device)
        cdir = cache_dir.encode() if cache_dir else None
        self._keep = (sel, cdir)  # the C struct borrows these buffers
        opts.device = sel
        opts.cache_dir = cdir
        if cache not in _CACHE_MODES:
            raise ValueError("cache must be one of %s" % sorted(_CACHE_MODES))
        opts.cache_mode = _CACHE_MODES[cache]
        if log_level is not None:
            opts.log_level = _LOG_LEVELS[log_level] if isinstance(log_level, str) else int(log_level)
        opts.profiling = int(bool(profiling))
        opts.portable_kernels_only = int(bool(portable_kernels_only))
        opts.allow_tf32 = int(bool(allow_tf32))
        h = ctypes.c_void_p()
        _check(lib.ocla_context_create(ctypes.byref(opts), ctypes.byref(h)), None,
               "ocla_context_create(device=%r)" % (device,))
        self._handle = h.value
        info = L.DeviceInfo()
        _check(lib.ocla_context_device_info(self._handle, ctypes.byref(info)), self._handle,
               "ocla_context_device_info")
        self.device = Device(info)

    # -- lifetime
    @property
    def handle(self):
        if self._handle is None:
            raise OclaError(1, "the context is closed", "Context")
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        """Destroy the context (and any device tensors or layers still alive on it)."""
        h, self._handle = self._handle, None
        if h is None:
            return
        for r in list(self._resources):
            r._release()
        L.library().ocla_context_destroy(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        st = _stack()
        if st and st[-1] is self:
            st.pop()
        self.close()
        return False

    def __repr__(self):
        return "Context(%s%s)" % (self.device.short_name, ", closed" if self.closed else "")

    # -- errors
    def last_error(self):
        return _text(L.library().ocla_last_error(self.handle))

    def _check(self, status, call):
        if status != 0:
            raise OclaError(status, self.last_error() if self._handle else "", call)

    # -- utilities
    def finish(self):
        self._check(L.library().ocla_finish(self.handle), "ocla_finish")

    def selftest(self):
        """Build and run a tiny kernel; returns the build time in seconds (raises on failure)."""
        s = ctypes.c_double()
        self._check(L.library().ocla_selftest(self.handle, ctypes.byref(s)), "ocla_selftest")
        return s.value

    def warmup(self):
        """Build (or load) every op's kernels now; returns the seconds it took."""
        s = ctypes.c_double()
        self._check(L.library().ocla_warmup(self.handle, ctypes.byref(s)), "ocla_warmup")
        return s.value

    def cache_stats(self):
        st = L.CacheStats()
        self._check(L.library().ocla_cache_get_stats(self.handle, ctypes.byref(st)), "ocla_cache_get_stats")
        return {f: int(getattr(st, f)) for f, _ in L.CacheStats._fields_}

    def explain(self, op, *args, **kw):
        """See ocla.explain(); the plan for this context's device."""
        from ._ops import explain
        return explain(op, *args, context=self, **kw)

    def plan(self, op, *args, **kw):
        from ._ops import plan
        return plan(op, *args, context=self, **kw)

    def __getattr__(self, name):
        # ctx.chunk_gla(...) etc.: the module-level op functions bound to this context
        from . import _ops, layers
        fn = getattr(_ops, name, None) or getattr(layers, name, None)
        if name.startswith("_") or fn is None or not callable(fn) or name not in _ops.__all__ + layers.__all__:
            raise AttributeError(name)

        def bound(*a, **k):
            k["context"] = self
            return fn(*a, **k)
        bound.__name__ = name
        bound.__doc__ = fn.__doc__
        return bound


def _stack():
    st = getattr(_tls, "stack", None)
    if st is None:
        st = _tls.stack = []
    return st


_default = None
_default_lock = threading.Lock()


def default_context():
    """The context the module-level functions use when none is given: the innermost ``with Context``
    of this thread, else one shared context on the default device (made on first use)."""
    st = _stack()
    if st:
        return st[-1]
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Context()
        return _default


def set_default_context(ctx_or_selector):
    """Replace the shared default context: a Context, or a selector to open one (None: default device).
    Returns the new default context."""
    global _default
    ctx = ctx_or_selector if isinstance(ctx_or_selector, Context) else Context(ctx_or_selector)
    with _default_lock:
        old, _default = _default, ctx
    if old is not None and old is not ctx:
        old.close()
    return ctx


@atexit.register
def _close_default():
    global _default
    if _default is not None:
        try:
            _default.close()
        except Exception:
            pass
        _default = None


def _ctx(context):
    if context is None:
        return default_context()
    if isinstance(context, Context):
        return context
    raise TypeError("context must be an ocla.Context or None, not %r" % type(context).__name__)


# ---- device tensors --------------------------------------------------------------------------
def as_f32(a, name):
    """A C-contiguous float32 ndarray of a (copied only where needed)."""
    if a is None:
        return None
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError("%s: expected a numeric array, got dtype %s" % (name, arr.dtype))
    return np.ascontiguousarray(arr, dtype=np.float32)


class Tensor:
    """A device tensor (float32, contiguous, 1..4 dims) owned by a Context. Used internally for one call;
    layers keep their weights in these. ``numpy()`` downloads it."""

    def __init__(self, ctx, shape, data=None):
        shape = tuple(int(s) for s in shape)
        if not 1 <= len(shape) <= 4:
            raise ValueError("ocla tensors have 1 to 4 dims, got shape %s" % (shape,))
        self.ctx = ctx
        self.shape = shape
        self._h = None
        dims = (ctypes.c_int64 * len(shape))(*shape)
        h = ctypes.c_void_p()
        ctx._check(L.library().ocla_tensor_create(ctx.handle, 0, len(shape), dims, ctypes.byref(h)),
                   "ocla_tensor_create(%s)" % (shape,))
        self._h = h.value
        ctx._resources.add(self)
        if data is not None:
            self.upload(data)

    @classmethod
    def from_numpy(cls, ctx, a, name="array"):
        a = as_f32(a, name)
        if a.ndim == 0:
            a = a.reshape(1)
        return cls(ctx, a.shape, a)

    @property
    def handle(self):
        if self._h is None:
            raise OclaError(1, "the tensor was released (its context closed?)", "Tensor")
        return self._h

    def upload(self, a):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if a.size != int(np.prod(self.shape)):
            raise ValueError("upload: %d elements into a tensor of shape %s" % (a.size, self.shape))
        self.ctx._check(L.library().ocla_tensor_upload(self.ctx.handle, self.handle, a.ctypes.data_as(ctypes.c_void_p),
                                                       a.nbytes), "ocla_tensor_upload")

    def numpy(self):
        out = np.empty(self.shape, dtype=np.float32)
        self.ctx._check(L.library().ocla_tensor_download(self.ctx.handle, self.handle,
                                                         out.ctypes.data_as(ctypes.c_void_p), out.nbytes),
                        "ocla_tensor_download")
        return out

    def _release(self):
        h, self._h = self._h, None
        if h is not None:
            L.library().ocla_tensor_destroy(h)

    def close(self):
        self._release()

    def __del__(self):
        try:
            if self._h is not None and not self.ctx.closed:
                self._release()
        except Exception:
            pass


def ptr(t):
    """The C handle of an optional Tensor (None -> NULL)."""
    return None if t is None else t.handle
