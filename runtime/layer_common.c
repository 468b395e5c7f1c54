/* Helpers shared by the [B,T,d_model] layers and the layer-family ops: see layer_common.h. */
#include "layer_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ocla_kfamily fam_layer_common = {"layer_common", 0, {NULL}};

ocla_status ocla__layer_check_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *y,
                                 int64_t *B, int64_t *T, int64_t *d) {
    if (!x || !y) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !x ? "x" : "y");
    ocla_status st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(x)) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: x must be dense [B,T,d]", fn);
    if ((st = ocla__check_tensor(ctx, y, "y", -1, NULL)) != OCLA_SUCCESS) return st;
    if (y->ndim != 3 || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] || y->dims[2] != x->dims[2])
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: y must be [B,T,d] = [%lld, %lld, %lld] like x", fn,
                          (long long)x->dims[0], (long long)x->dims[1], (long long)x->dims[2]);
    if (!ocla__tensor_is_contiguous(y)) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: y must be dense [B,T,d]", fn);
    *B = x->dims[0], *T = x->dims[1], *d = x->dims[2];
    return OCLA_SUCCESS;
}

ocla_status ocla__layer_check_weight(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *name,
                                     const char *what, int64_t rows, int64_t cols, int optional) {
    if (!t && optional) return OCLA_SUCCESS;
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: %s is NULL (expected %s)", fn, name, what);
    const int nd = cols >= 0 ? 2 : 1;
    ocla_status st = ocla__check_tensor(ctx, t, name, -1, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (t->ndim != nd || t->dims[0] != rows || (nd == 2 && t->dims[1] != cols)) {
        char got[96];
        int n = snprintf(got, sizeof got, "[%lld", (long long)t->dims[0]);
        for (int i = 1; i < t->ndim && n > 0 && (size_t)n < sizeof got; i++)
            n += snprintf(got + n, sizeof got - (size_t)n, ", %lld", (long long)t->dims[i]);
        if (n > 0 && (size_t)n < sizeof got) snprintf(got + n, sizeof got - (size_t)n, "]");
        if (nd == 2)
            return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s is %s, expected %s = [%lld, %lld]", fn, name, got, what,
                              (long long)rows, (long long)cols);
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s is %s, expected %s = [%lld]", fn, name, got, what,
                          (long long)rows);
    }
    if (!ocla__tensor_is_contiguous(t)) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s must be dense row-major", fn, name);
    return OCLA_SUCCESS;
}

/* ---- workspace ---- */
#define WS_ALIGN 64 /* floats: 256 bytes */

void ocla__layer_ws_init(ocla_context *ctx, ocla__layer_ws *ws) {
    memset(ws, 0, sizeof *ws);
    ws->ctx = ctx;
}

static void dense_strides(int ndim, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

ocla_tensor *ocla__layer_ws_add(ocla__layer_ws *ws, int ndim, const int64_t *dims) {
    if (ws->n >= OCLA_LAYER_WS_MAX || ndim < 1 || ndim > OCLA_MAX_DIMS) {
        ws->overflow = 1;
        return &ws->t[0]; /* ocla__layer_ws_get reports it; never used */
    }
    struct ocla_tensor *t = &ws->t[ws->n++];
    memset(t, 0, sizeof *t);
    t->ctx = ws->ctx;
    t->ndim = ndim;
    t->dtype = OCLA_F32;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        if (dims[i] < 0 || !ocla__mul_ok(numel, (size_t)dims[i], &numel)) ws->overflow = 1;
    }
    dense_strides(ndim, t->dims, t->strides);
    t->offset = ws->floats;
    size_t padded;
    if (!ocla__add_ok(numel, WS_ALIGN - 1, &padded) || !ocla__add_ok(ws->floats, padded / WS_ALIGN * WS_ALIGN, &ws->floats))
        ws->overflow = 1;
    return t;
}

ocla_status ocla__layer_ws_get(ocla__layer_ws *ws, const char *fn) {
    size_t bytes;
    if (ws->overflow || !ocla__mul_ok(ws->floats, sizeof(float), &bytes))
        return ocla__fail(ws->ctx, ws->overflow && ws->n >= OCLA_LAYER_WS_MAX ? OCLA_ERR_INTERNAL : OCLA_ERR_OVERFLOW,
                          "%s: the size of the temporaries overflows", fn);
    cl_mem m;
    ocla_status st = ocla__scratch(ws->ctx, OCLA_LAYER_SLOT, bytes, &m);
    if (st != OCLA_SUCCESS) return st;
    for (int i = 0; i < ws->n; i++) ws->t[i].mem = m;
    return OCLA_SUCCESS;
}

ocla_status ocla__layer_ws_get_apart(ocla__layer_ws *ws, const char *fn) {
    if (ws->overflow || ws->n > 4) return ocla__layer_ws_get(ws, fn); /* reports an overflow, or one buffer */
    for (int i = 0; i < ws->n; i++) {
        struct ocla_tensor *t = &ws->t[i];
        size_t bytes;
        if (!ocla__mul_ok((size_t)ocla_tensor_numel(t), sizeof(float), &bytes))
            return ocla__fail(ws->ctx, OCLA_ERR_OVERFLOW, "%s: the size of the temporaries overflows", fn);
        ocla_status st = ocla__scratch(ws->ctx, 4 + i, bytes, &t->mem);
        if (st != OCLA_SUCCESS) return st;
        t->offset = 0;
    }
    return OCLA_SUCCESS;
}

void ocla__layer_view(const ocla_tensor *t, size_t off, int ndim, const int64_t *dims, const int64_t *strides,
                      ocla_tensor *out) {
    memset(out, 0, sizeof *out);
    out->ctx = t->ctx;
    out->mem = t->mem;
    out->offset = t->offset + off;
    out->ndim = ndim;
    out->dtype = t->dtype;
    for (int i = 0; i < ndim; i++) out->dims[i] = dims[i];
    if (strides)
        for (int i = 0; i < ndim; i++) out->strides[i] = strides[i];
    else
        dense_strides(ndim, out->dims, out->strides);
}

void ocla__layer_heads(const ocla_tensor *t, int64_t H, int64_t D, ocla_tensor *out) {
    const int64_t d[4] = {t->dims[0], t->dims[1], H, D};
    ocla__layer_view(t, 0, 4, d, NULL, out);
}

/* ---- projections and bias ---- */
ocla_status ocla__layer_add_bias(ocla_context *ctx, cl_mem mem, size_t x_off, int64_t rows, int64_t cols, cl_mem bmem,
                                 size_t b_off, const char *what) {
    if (rows * cols == 0) return OCLA_SUCCESS;
    if (rows > INT32_MAX || cols > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "%s: %lld x %lld beyond the bias kernel's int sizes", what,
                          (long long)rows, (long long)cols);
    const ocla_variant v = ocla__variant(&fam_layer_common);
    ocla_args a = {ctx, NULL, 0, OCLA_SUCCESS};
    ocla_status st = ocla__variant_kernel(ctx, &v, "layer_add_bias", &a.k);
    if (st != OCLA_SUCCESS) return st;
    const cl_int r = (cl_int)rows, c = (cl_int)cols;
    const cl_long xo = (cl_long)x_off, bo = (cl_long)b_off;
    ocla__args_push(&a, sizeof r, &r);
    ocla__args_push(&a, sizeof c, &c);
    ocla__args_push(&a, sizeof mem, &mem);
    ocla__args_push(&a, sizeof xo, &xo);
    ocla__args_push(&a, sizeof bmem, &bmem);
    ocla__args_push(&a, sizeof bo, &bo);
    if (a.st != OCLA_SUCCESS) return a.st;
    const size_t n = (size_t)rows * (size_t)cols;
    return ocla__launch(ctx, a.k, 1, &n, NULL, what);
}

ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                ocla_tensor *y) {
    ocla_status st = ocla_linear_forward(ctx, x, w, y);
    if (st != OCLA_SUCCESS || !b) return st;
    const int64_t n = y->dims[y->ndim - 1], rows = ocla_tensor_numel(y) / (n ? n : 1);
    return ocla__layer_add_bias(ctx, y->mem, y->offset, rows, n, b->mem, b->offset, "layer projection bias");
}

/* ---- RoPE ---- */
ocla_status ocla__rope_upload(ocla_context *ctx, int rd, float base, cl_mem mem, size_t off) {
    const int half = rd / 2;
    if (half <= 0) return OCLA_SUCCESS;
    float local[256], *f = half <= 256 ? local : malloc((size_t)half * sizeof *f);
    if (!f) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "RoPE frequencies: out of host memory");
    for (int i = 0; i < half; i++) f[i] = (float)pow((double)base, -(double)i / half);
    ctx->counters.uploads++;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, mem, CL_TRUE, off * sizeof(float), (size_t)half * sizeof *f, f, 0,
                                      NULL, NULL);
    if (f != local) free(f);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading RoPE frequencies");
}
