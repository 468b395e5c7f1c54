/* SPDX-License-Identifier: MIT */
/* Helpers shared by the [B,T,d_model] layers and the layer-family ops: see layer_common.h. */
#include "layer_common.h"
#include "op_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>


ocla_status ocla__layer_check_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *y,
                                 int64_t *B, int64_t *T, int64_t *d) {
    ocla_status st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, y, "y (x's dims [B,T,d])", 3, x->dims);
    if (st != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(x) || !ocla__tensor_is_contiguous(y))
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: x and y must be dense [B,T,d]", fn);
    *B = x->dims[0], *T = x->dims[1], *d = x->dims[2];
    return OCLA_SUCCESS;
}

ocla_status ocla__check_vo(ocla_context *ctx, const ocla_tensor *v, const ocla_tensor *o, int64_t B, int64_t Tv,
                           int64_t T, int64_t H, int64_t *Dv, const char *queries, const char *keys) {
    return ocla__check_vo_as(ctx, v, o, B, Tv, T, H, Dv, queries, keys, OCLA_F32);
}

ocla_status ocla__check_vo_as(ocla_context *ctx, const ocla_tensor *v, const ocla_tensor *o, int64_t B, int64_t Tv,
                              int64_t T, int64_t H, int64_t *Dv, const char *queries, const char *keys, ocla_dtype dt) {
    ocla_status st = ocla__check_tensor_as(ctx, v, "v", 4, NULL, dt);
    if (st != OCLA_SUCCESS) return st;
    *Dv = v->dims[3];
    char vname[64]; /* the detail names the tensor v's dims come from: a wrong one is either */
    snprintf(vname, sizeof vname, "v (B, T, H of %s)", keys);
    if ((st = ocla__check_tensor_as(ctx, v, vname, 4, (int64_t[]){B, Tv, H, *Dv}, dt)) != OCLA_SUCCESS) return st;
    char oname[64];
    snprintf(oname, sizeof oname, "o (T of %s, V of v)", queries);
    return ocla__check_tensor_as(ctx, o, oname, 4, (int64_t[]){B, T, H, *Dv}, dt);
}

ocla_status ocla__layer_check_weights(ocla_context *ctx, const char *fn, const ocla__layer_weight *w, int n,
                                      ocla_io_set *set) {
    if (set->n_in + n > OCLA_IO_MAX) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: too many weights to check", fn);
    for (const ocla__layer_weight *e = w; e < w + n; e++) {
        if (e->t || !e->optional) {
            char label[160]; /* the messages name the layer, the weight and its expected dims */
            snprintf(label, sizeof label, "%s: %s %s", fn, e->name, e->what);
            const int64_t want[2] = {e->rows, e->cols};
            ocla_status st = ocla__check_tensor(ctx, e->t, label, e->cols >= 0 ? 2 : 1, want);
            if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(e->t))
                st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must be dense row-major", label);
            if (st != OCLA_SUCCESS) return st;
        }
        set->in[set->n_in] = e->t;
        set->in_name[set->n_in++] = e->name;
    }
    return OCLA_SUCCESS;
}

/* ---- workspace ---- */
#define WS_ALIGN 64 /* floats: 256 bytes */

ocla_tensor *ocla__layer_ws_add(ocla__layer_ws *ws, int ndim, const int64_t *dims) {
    if (ws->n >= OCLA_LAYER_WS_MAX || ndim < 1 || ndim > OCLA_MAX_DIMS) {
        ws->overflow = 1;
        return &ws->t[0]; /* ocla__layer_ws_get reports it; never used */
    }
    struct ocla_tensor *t = &ws->t[ws->n++];
    *t = (struct ocla_tensor){.ctx = ws->ctx, .offset = ws->floats, .ndim = ndim, .dtype = OCLA_F32};
    size_t numel = 1, padded;
    for (int i = ndim - 1; i >= 0; i--) { /* dense strides */
        t->dims[i] = dims[i];
        t->strides[i] = (int64_t)numel;
        if (dims[i] < 0 || !ocla__mul_ok(numel, (size_t)dims[i], &numel)) ws->overflow = 1;
    }
    if (!ocla__add_ok(numel, WS_ALIGN - 1, &padded) || !ocla__add_ok(ws->floats, padded / WS_ALIGN * WS_ALIGN, &ws->floats))
        ws->overflow = 1;
    return t;
}

ocla_status ocla__layer_ws_get(ocla__layer_ws *ws, const char *fn) { return ocla__layer_ws_get_in(ws, OCLA_LAYER_SLOT, fn); }

ocla_status ocla__layer_ws_get_in(ocla__layer_ws *ws, int slot, const char *fn) {
    size_t bytes;
    if (ws->overflow || !ocla__mul_ok(ws->floats, sizeof(float), &bytes))
        return ocla__fail(ws->ctx, ws->overflow && ws->n >= OCLA_LAYER_WS_MAX ? OCLA_ERR_INTERNAL : OCLA_ERR_OVERFLOW,
                          "%s: the size of the temporaries overflows", fn);
    cl_mem m;
    ocla_status st = ocla__scratch(ws->ctx, slot, bytes, &m);
    if (st != OCLA_SUCCESS) return st;
    for (int i = 0; i < ws->n; i++) ws->t[i].mem = m;
    return OCLA_SUCCESS;
}

ocla_status ocla__layer_ws_get_apart(ocla__layer_ws *ws, int first, const char *fn) {
    /* an overflow (reported there), or too many tensors to keep apart: one buffer */
    if (ws->overflow || ws->floats > SIZE_MAX / sizeof(float) || first + ws->n > OCLA_LAYER_SLOT + 1)
        return ocla__layer_ws_get(ws, fn);
    for (int i = 0; i < ws->n; i++) { /* numel <= floats: no overflow */
        struct ocla_tensor *t = &ws->t[i];
        ocla_status st = ocla__scratch(ws->ctx, first + i, (size_t)ocla_tensor_numel(t) * sizeof(float), &t->mem);
        if (st != OCLA_SUCCESS) return st;
        t->offset = 0;
    }
    return OCLA_SUCCESS;
}

void ocla__layer_heads(const ocla_tensor *t, size_t off, int64_t H, int64_t D, ocla_tensor *out) {
    const int64_t T = t->dims[1], row = t->dims[2];
    *out = (struct ocla_tensor){.ctx = t->ctx, .mem = t->mem, .offset = t->offset + off, .ndim = 4, .dtype = t->dtype,
                                .dims = {t->dims[0], T, H, D}, .strides = {T * row, row, D, 1}};
}

/* ---- kernels, projections and bias ---- */
ocla_status ocla__layer_kernel(ocla_context *ctx, const ocla_kfamily *fam, const char *name, ocla_args *a) {
    const ocla_variant v = ocla__variant(fam);
    *a = (ocla_args){ctx, NULL, 0, OCLA_SUCCESS};
    return a->st = ocla__variant_kernel(ctx, &v, name, &a->k);
}

ocla_status ocla__layer_launch(const ocla_args *a, cl_uint dims, const size_t *global, const size_t *local,
                               const char *what) {
    return a->st != OCLA_SUCCESS ? a->st : ocla__launch(a->ctx, a->k, dims, global, local, what);
}

ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                ocla_tensor *y) {
    ocla_status st = ocla_linear_forward(ctx, x, w, y);
    if (st != OCLA_SUCCESS || !b) return st;
    const int64_t cols = y->dims[y->ndim - 1], rows = ocla_tensor_numel(y) / (cols ? cols : 1);
    if (rows * cols == 0) return OCLA_SUCCESS;
    if (rows > INT32_MAX || cols > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "layer projection bias: %lld x %lld beyond the bias kernel's int sizes",
                          (long long)rows, (long long)cols);
    ocla_args a;
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_layer_common, "layer_add_bias", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, cols), ocla__push_tensor(&a, y, NULL, 0), ocla__push_tensor(&a, b, NULL, 0);
    const size_t n = (size_t)rows * (size_t)cols;
    return ocla__layer_launch(&a, 1, &n, NULL, "layer projection bias");
}

ocla_status ocla__convert_dtype(ocla_context *ctx, const ocla_tensor *src, ocla_tensor *dst) {
    const int to_f32 = dst->dtype == OCLA_F32;
    const ocla_tensor *h = to_f32 ? src : dst, *x = to_f32 ? dst : src;
    const int64_t n = ocla_tensor_numel(h);
    if (h->dtype == OCLA_F32 || x->dtype != OCLA_F32 || ocla_tensor_numel(x) != n || !ocla__tensor_is_contiguous(x))
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "dtype conversion: one half tensor and one dense fp32 tensor of its size");
    if (n == 0) return OCLA_SUCCESS;
    int64_t d[4] = {1, 1, 1, 1}, s[4] = {0, 0, 0, 0};
    for (int i = 0; i < h->ndim; i++) d[4 - h->ndim + i] = h->dims[i], s[4 - h->ndim + i] = h->strides[i];
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_layer_common, to_f32 ? "layer_to_f32" : "layer_from_f32", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, (int)h->dtype), ocla__push_mem(&a, h->mem), ocla__push_long(&a, (int64_t)h->offset);
    for (int i = 0; i < 4; i++) ocla__push_long(&a, s[i]);
    for (int i = 0; i < 4; i++) ocla__push_long(&a, d[i]);
    /* 8 elements a work-item where every 8-element group is 16-byte aligned in h (32 in x) */
    const int w = s[3] == 1 && d[3] % 8 == 0 && h->offset % 8 == 0 && s[0] % 8 == 0 && s[1] % 8 == 0 &&
                          s[2] % 8 == 0 && x->offset % 8 == 0
                      ? 8
                      : 1;
    ocla__push_int(&a, w), ocla__push_tensor(&a, x, NULL, 0);
    /* the grid (layer_common.cl): rows of d3 / w in work-groups of up to 64 (fewer for narrow rows),
     * d2 and d1 capped at 32768 (NVIDIA's grid takes 65535 there; the kernel steps over the rest: a
     * [B, T, d] tensor puts T in d2) */
    uint64_t kwg = 0;
    if (a.st == OCLA_SUCCESS) a.st = ocla__kernel_limits(ctx, a.k, &kwg, NULL);
    const size_t n0 = (size_t)d[3] / (size_t)w;
    size_t l0 = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
    while (l0 > 1 && l0 / 2 >= n0) l0 /= 2;
    const size_t g[3] = {(n0 + l0 - 1) / l0 * l0, (size_t)(d[2] < 32768 ? d[2] : 32768),
                         (size_t)(d[1] < 32768 ? d[1] : 32768)};
    const size_t l[3] = {l0, 1, 1};
    return ocla__layer_launch(&a, 3, g, l, to_f32 ? "half to fp32" : "fp32 to half");
}

ocla_status ocla__half_enter(ocla__half_io *h, int slot, const char *fn) {
    ocla_context *ctx = h->ws.ctx;
    for (int i = 0; i < h->n; i++) {
        h->t32[i] = NULL;
        if (!h->t[i]) continue;
        ocla_status st = ocla__check_tensor_as(ctx, h->t[i], h->name[i], -1, NULL, h->dt);
        if (st != OCLA_SUCCESS) return st;
        h->t32[i] = ocla__layer_ws_add(&h->ws, h->t[i]->ndim, h->t[i]->dims);
    }
    ocla_status st = ocla__layer_ws_get_in(&h->ws, slot, fn);
    for (int i = 0; i < h->n && st == OCLA_SUCCESS; i++)
        if (h->t[i] && !h->out[i]) st = ocla__convert_dtype(ctx, h->t[i], h->t32[i]);
    return st;
}

ocla_status ocla__half_leave(ocla__half_io *h) {
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i < h->n && st == OCLA_SUCCESS; i++)
        if (h->t[i] && h->out[i]) st = ocla__convert_dtype(h->ws.ctx, h->t32[i], (ocla_tensor *)h->t[i]);
    return st;
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
