/* SPDX-License-Identifier: MIT */
/* Tensors: a cl_mem (owned or wrapped), up to 4 dims, strides in elements. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Validate dims/strides and return the extent (max element offset + 1) in elements. */
static ocla_status check_layout(ocla_context *ctx, const char *fn, ocla_dtype dtype, int ndim, const int64_t *dims,
                                const int64_t *strides, size_t *numel, size_t *extent) {
    if (ocla_dtype_size(dtype) == 0) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: unknown dtype %d", fn, (int)dtype);
    if (ndim < 1 || ndim > OCLA_MAX_DIMS)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: ndim %d is outside 1..%d", fn, ndim, OCLA_MAX_DIMS);
    if (!dims) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: dims is NULL", fn);
    size_t n = 1, last = 0;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0)
            return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: dims[%d] = %lld must be positive", fn, i, (long long)dims[i]);
        if ((uint64_t)dims[i] > SIZE_MAX || !ocla__mul_ok(n, (size_t)dims[i], &n))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "%s: the element count overflows at dims[%d]", fn, i);
        if (strides) {
            if (strides[i] < 0)
                return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: strides[%d] = %lld is negative", fn, i,
                                  (long long)strides[i]);
            size_t span;
            if (!ocla__mul_ok((size_t)(dims[i] - 1), (size_t)strides[i], &span) || !ocla__add_ok(last, span, &last))
                return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "%s: the extent overflows at dims[%d]", fn, i);
        }
    }
    size_t bytes;
    if (!ocla__mul_ok(n, ocla_dtype_size(dtype), &bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "%s: the byte size of %zu elements overflows", fn, n);
    *numel = n;
    *extent = strides ? last + 1 : n;
    return OCLA_SUCCESS;
}

static ocla_tensor *new_tensor(ocla_context *ctx, cl_mem mem, size_t offset, ocla_dtype dtype, int ndim,
                               const int64_t *dims, const int64_t *strides) {
    ocla_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ctx = ctx;
    t->mem = mem;
    t->offset = offset;
    t->ndim = ndim;
    t->dtype = dtype;
    int64_t s = 1; /* the contiguous strides where none are given */
    for (int i = ndim - 1; i >= 0; i--) {
        t->dims[i] = dims[i];
        t->strides[i] = strides ? strides[i] : s;
        s *= dims[i];
    }
    return t;
}

ocla_status ocla_tensor_create(ocla_context *ctx, ocla_dtype dtype, int ndim, const int64_t *dims, ocla_tensor **out) {
    if (!out) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_create: out is NULL");
    *out = NULL;
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_create: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t numel, extent;
    cl_mem mem = NULL;
    ocla_status st = check_layout(ctx, "ocla_tensor_create", dtype, ndim, dims, NULL, &numel, &extent);
    if (st == OCLA_SUCCESS) st = ocla__alloc(ctx, numel * ocla_dtype_size(dtype), &mem, "creating a tensor");
    if (st == OCLA_SUCCESS) st = ocla__fill_zero(ctx, mem, 0, numel * ocla_dtype_size(dtype));
    if (st == OCLA_SUCCESS) {
        *out = new_tensor(ctx, mem, 0, dtype, ndim, dims, NULL);
        if (!*out) st = ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_tensor_create: out of host memory");
    }
    if (st != OCLA_SUCCESS && mem) clReleaseMemObject(mem);
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_tensor_wrap(ocla_context *ctx, cl_mem buffer, size_t offset, ocla_dtype dtype, int ndim,
                             const int64_t *dims, const int64_t *strides, ocla_tensor **out) {
    if (!out) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_wrap: out is NULL");
    *out = NULL;
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_wrap: ctx is NULL");
    if (!buffer) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_wrap: buffer is NULL");
    OCLA_LOCK(ctx);
    size_t numel, extent, size = 0, need;
    ocla_status st = check_layout(ctx, "ocla_tensor_wrap", dtype, ndim, dims, strides, &numel, &extent);
    cl_context owner = NULL;
    if (st == OCLA_SUCCESS) {
        cl_int err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof size, &size, NULL);
        if (err == CL_SUCCESS) err = clGetMemObjectInfo(buffer, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clGetMemObjectInfo", "wrapping a buffer");
    }
    if (st == OCLA_SUCCESS && owner != ctx->cl)
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                        "ocla_tensor_wrap: the buffer belongs to another OpenCL context than this ocla context's");
    if (st == OCLA_SUCCESS &&
        (!ocla__add_ok(offset, extent, &need) || !ocla__mul_ok(need, ocla_dtype_size(dtype), &need) || need > size))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE,
                        "ocla_tensor_wrap: offset %zu + extent %zu elements does not fit the buffer of %zu bytes",
                        offset, extent, size);
    if (st == OCLA_SUCCESS) {
        clRetainMemObject(buffer);
        *out = new_tensor(ctx, buffer, offset, dtype, ndim, dims, strides);
        if (!*out) {
            clReleaseMemObject(buffer);
            st = ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_tensor_wrap: out of host memory");
        }
    }
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_tensor_view(ocla_context *ctx, const ocla_tensor *parent, size_t offset, int ndim,
                             const int64_t *dims, const int64_t *strides, ocla_tensor **out) {
    if (out) *out = NULL;
    if (!parent) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_view: parent is NULL");
    if (ctx && parent->ctx != ctx)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_view: the parent belongs to another context");
    size_t at;
    if (!ocla__add_ok(parent->offset, offset, &at))
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_tensor_view: parent offset %zu + offset %zu overflows",
                          parent->offset, offset);
    return ocla_tensor_wrap(ctx, parent->mem, at, parent->dtype, ndim, dims, strides, out);
}

void ocla_tensor_destroy(ocla_tensor *t) {
    if (!t) return;
    if (t->mem) clReleaseMemObject(t->mem); /* wrapped buffers were retained: this drops our reference */
    free(t);
}

int ocla__tensor_is_contiguous(const ocla_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->dims[i] != 1 && t->strides[i] != s) return 0;
        s *= t->dims[i];
    }
    return 1;
}

int ocla_tensor_ndim(const ocla_tensor *t) { return t ? t->ndim : 0; }
int64_t ocla_tensor_dim(const ocla_tensor *t, int a) { return (t && a >= 0 && a < t->ndim) ? t->dims[a] : 0; }
int64_t ocla_tensor_stride(const ocla_tensor *t, int a) { return (t && a >= 0 && a < t->ndim) ? t->strides[a] : 0; }
size_t ocla_tensor_offset(const ocla_tensor *t) { return t ? t->offset : 0; }
cl_mem ocla_tensor_buffer(const ocla_tensor *t) { return t ? t->mem : NULL; }
int64_t ocla_tensor_numel(const ocla_tensor *t) {
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

static size_t extent_of(const ocla_tensor *t) {
    size_t last = 0;
    for (int i = 0; i < t->ndim; i++) last += (size_t)(t->dims[i] - 1) * (size_t)t->strides[i];
    return last + 1;
}

/* Visit every element in logical row-major order: cb(i_logical, offset_in_extent). */
static void for_each(const ocla_tensor *t, void (*cb)(size_t, size_t, void *), void *user) {
    int64_t idx[OCLA_MAX_DIMS] = {0};
    size_t n = (size_t)ocla_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        size_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += (size_t)idx[d] * (size_t)t->strides[d];
        cb(i, off, user);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->dims[d]) break;
            idx[d] = 0;
        }
    }
}

typedef struct copy_ctx {
    unsigned char *dense;
    unsigned char *span;
    size_t es; /* bytes per element */
} copy_ctx;
static void gather(size_t i, size_t off, void *u) {
    const copy_ctx *c = u;
    memcpy(c->dense + i * c->es, c->span + off * c->es, c->es);
}
static void scatter(size_t i, size_t off, void *u) {
    const copy_ctx *c = u;
    memcpy(c->span + off * c->es, c->dense + i * c->es, c->es);
}

static ocla_status check_io(ocla_context *ctx, const ocla_tensor *t, const void *host, size_t bytes, const char *fn) {
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", fn);
    if (t->ctx != ctx) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: the tensor belongs to another context", fn);
    if (!host) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: host pointer is NULL", fn);
    size_t need = (size_t)ocla_tensor_numel(t) * ocla_dtype_size(t->dtype);
    if (bytes != need)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %zu bytes given, the tensor holds %zu", fn, bytes, need);
    return ocla__pre_enqueue(ctx, "clEnqueueReadBuffer/WriteBuffer (injected)", fn);
}

/* Host <-> tensor. Contiguous: one blocking transfer. Strided: read the span, then scatter into it and
 * write it back (elements between stay intact), or gather from it. */
static ocla_status transfer(ocla_context *ctx, const ocla_tensor *t, void *host, size_t bytes, int up,
                            const char *fn) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    OCLA_LOCK(ctx);
    ocla_status st = check_io(ctx, t, host, bytes, fn);
    if (st != OCLA_SUCCESS) goto done;
    size_t es = ocla_dtype_size(t->dtype);
    cl_int err;
    if (ocla__tensor_is_contiguous(t)) {
        err = up ? clEnqueueWriteBuffer(ctx->queue, t->mem, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL)
                 : clEnqueueReadBuffer(ctx->queue, t->mem, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, up ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer", fn);
        goto done;
    }
    size_t ext = extent_of(t);
    unsigned char *span = malloc(ext * es);
    if (!span) {
        st = ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
        goto done;
    }
    err = clEnqueueReadBuffer(ctx->queue, t->mem, CL_TRUE, t->offset * es, ext * es, span, 0, NULL, NULL);
    copy_ctx c = {host, span, es};
    if (err == CL_SUCCESS) for_each(t, up ? scatter : gather, &c);
    if (err == CL_SUCCESS && up)
        err = clEnqueueWriteBuffer(ctx->queue, t->mem, CL_TRUE, t->offset * es, ext * es, span, 0, NULL, NULL);
    if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueRead/WriteBuffer (strided tensor)", fn);
    free(span);
done:
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_tensor_upload(ocla_context *ctx, ocla_tensor *t, const void *host, size_t bytes) {
    return transfer(ctx, t, (void *)(uintptr_t)host, bytes, 1, "ocla_tensor_upload");
}

ocla_status ocla_tensor_download(ocla_context *ctx, const ocla_tensor *t, void *host, size_t bytes) {
    return transfer(ctx, t, host, bytes, 0, "ocla_tensor_download");
}

ocla_status ocla_tensor_fill(ocla_context *ctx, ocla_tensor *t, float value) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_fill: ctx is NULL");
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_tensor_fill: tensor is NULL");
    const size_t n = (size_t)ocla_tensor_numel(t), es = ocla_dtype_size(t->dtype);
    unsigned char one[4], *host = malloc(n * es);
    if (!host) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_tensor_fill: out of host memory");
    ocla_convert_from_f32(t->dtype, &value, one, 1);
    for (size_t i = 0; i < n; i++) memcpy(host + i * es, one, es);
    ocla_status st = ocla_tensor_upload(ctx, t, host, n * es);
    free(host);
    return st;
}

ocla_dtype ocla_tensor_dtype(const ocla_tensor *t) { return t ? t->dtype : OCLA_F32; }

ocla_status ocla__check_tensor(ocla_context *ctx, const ocla_tensor *t, const char *name, int ndim,
                               const int64_t *expect) {
    return ocla__check_tensor_as(ctx, t, name, ndim, expect, OCLA_F32);
}

ocla_status ocla__check_tensor_as(ocla_context *ctx, const ocla_tensor *t, const char *name, int ndim,
                                  const int64_t *expect, ocla_dtype dtype) {
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s is NULL", name);
    if (t->ctx != ctx) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s belongs to another context", name);
    if (t->dtype != dtype) return ocla__refuse_dtype(ctx, t, name, dtype);
    if (ndim >= 0 && t->ndim != ndim)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s has %d dims, expected %d", name, t->ndim, ndim);
    if (expect)
        for (int i = 0; i < t->ndim; i++)
            if (expect[i] >= 0 && t->dims[i] != expect[i])
                return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: dim %d is %lld, expected %lld", name, i,
                                  (long long)t->dims[i], (long long)expect[i]);
    return OCLA_SUCCESS;
}

/* ---- aliasing: outputs may not share elements with each other or with inputs ---- */

/* t's dims with more than one element, strides ascending (insertion sort, at most 4). */
static int sorted_dims(const ocla_tensor *t, int64_t *n, int64_t *s) {
    int k = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] == 1) continue;
        int j = k++;
        for (; j > 0 && s[j - 1] > t->strides[i]; j--) n[j] = n[j - 1], s[j] = s[j - 1];
        n[j] = t->dims[i], s[j] = t->strides[i];
    }
    return k;
}

/* No two elements of t at one address: with strides ascending, each stride at least the span of
 * the dims below it (which also refuses a zero stride on a dim of more than one element). */
static int well_formed(const ocla_tensor *t) {
    int64_t n[OCLA_MAX_DIMS], s[OCLA_MAX_DIMS];
    int k = sorted_dims(t, n, s);
    int64_t span = 1;
    for (int i = 0; i < k; i++) {
        if (s[i] < span) return 0;
        span = s[i] * n[i];
    }
    return 1;
}

/* Whether element offset off (relative to the buffer) belongs to the well-formed tensor t:
 * greedy decomposition from the largest stride down is exact for such layouts. */
static int holds(const ocla_tensor *t, const int64_t *n, const int64_t *s, int k, size_t off) {
    if (off < t->offset) return 0;
    uint64_t r = off - t->offset;
    for (int i = k - 1; i >= 0; i--) {
        uint64_t q = r / (uint64_t)s[i];
        if (q >= (uint64_t)n[i]) return 0;
        r -= q * (uint64_t)s[i];
    }
    return r == 0;
}

typedef struct overlap_ctx {
    const ocla_tensor *other;
    int64_t n[OCLA_MAX_DIMS], s[OCLA_MAX_DIMS];
    int k, found;
    size_t base;
} overlap_ctx;

static void probe(size_t i, size_t off, void *u) {
    overlap_ctx *c = u;
    (void)i;
    if (!c->found && holds(c->other, c->n, c->s, c->k, c->base + off)) c->found = 1;
}

/* Whether a (any layout) and b (well formed) share an element. Different buffers or disjoint extents
 * answer at once; interleaved views of one buffer visit a's elements. */
static int overlap(const ocla_tensor *a, const ocla_tensor *b) {
    if (a->mem != b->mem) return 0;
    size_t a_end = a->offset + extent_of(a), b_end = b->offset + extent_of(b);
    if (a_end <= b->offset || b_end <= a->offset) return 0;
    overlap_ctx c = {.other = b, .base = a->offset};
    c.k = sorted_dims(b, c.n, c.s);
    for_each(a, probe, &c);
    return c.found;
}

static int same_layout(const ocla_tensor *a, const ocla_tensor *b) {
    if (a->mem != b->mem || a->offset != b->offset || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i] || a->strides[i] != b->strides[i]) return 0;
    return 1;
}

ocla_status ocla__check_disjoint(ocla_context *ctx, const char *fn, const ocla_io_set *io) {
    for (int o = 0; o < io->n_out; o++) {
        const ocla_tensor *t = io->out[o];
        if (!t) continue;
        if (!well_formed(t))
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                              "%s: output %s is a view whose elements overlap (a zero or too small stride)", fn,
                              io->out_name[o]);
        for (int p = 0; p < o; p++)
            if (io->out[p] && overlap(io->out[p], t))
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: outputs %s and %s share memory", fn,
                                  io->out_name[p], io->out_name[o]);
        for (int i = 0; i < io->n_in; i++) {
            const ocla_tensor *x = io->in[i];
            if (!x || (io->in_place[i] == o + 1 && same_layout(x, t))) continue; /* the documented update */
            if (overlap(x, t))
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                                  "%s: output %s shares memory with input %s (only an in-place state update, the "
                                  "same tensor as initial and final state, may)",
                                  fn, io->out_name[o], io->in_name[i]);
        }
    }
    return OCLA_SUCCESS;
}
