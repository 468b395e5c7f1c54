/* SPDX-License-Identifier: MIT */
/* Helpers shared by the layers' backward passes: see layer_bwd_common.h. */
#include "layer_bwd_common.h"

#include <stdio.h>

#define LB_WG 32 /* kernels_cl/layer_bwd.cl's default: the column sum's work-group */

/* rows x cols of a tensor whose last dim is the feature dim. */
static void rows_cols(const ocla_tensor *t, size_t *rows, size_t *cols) {
    *cols = (size_t)t->dims[t->ndim - 1];
    *rows = *cols ? (size_t)ocla_tensor_numel(t) / *cols : 0;
}

ocla_status ocla__layer_colsum(ocla_context *ctx, const ocla_tensor *m, ocla_tensor *sums) {
    size_t rows, cols;
    rows_cols(m, &rows, &cols);
    if (cols == 0) return OCLA_SUCCESS;
    if (rows == 0) return ocla__fill_zero(ctx, sums->mem, sums->offset * sizeof(float), cols * sizeof(float));
    if (rows > INT32_MAX || cols > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "layer backward column sums: %zu x %zu beyond the kernel's int sizes",
                          rows, cols);
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_layer_bwd, "layer_colsum", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, (int64_t)rows), ocla__push_int(&a, (int64_t)cols);
    ocla__push_tensor(&a, m, NULL, 0), ocla__push_tensor(&a, sums, NULL, 0);
    const size_t global = cols * LB_WG, local = LB_WG;
    return ocla__layer_launch(&a, 1, &global, &local, "layer backward column sums");
}

ocla_status ocla__layer_fill(ocla_context *ctx, ocla_tensor *t, float value) {
    const int64_t n = ocla_tensor_numel(t);
    if (n == 0) return OCLA_SUCCESS;
    if (n > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "layer backward fill: %lld elements beyond the kernel's int sizes",
                          (long long)n);
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_layer_bwd, "layer_fill", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, n), ocla__push_float(&a, value), ocla__push_tensor(&a, t, NULL, 0);
    const size_t global = (size_t)n;
    return ocla__layer_launch(&a, 1, &global, NULL, "layer backward fill");
}

ocla_status ocla__layer_project_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w,
                                         const ocla_tensor *dy, ocla_tensor *dx, int dx_accumulate,
                                         ocla_tensor *dw, ocla_tensor *db) {
    size_t m, in, out, dy_rows;
    rows_cols(x, &m, &in);
    rows_cols(dy, &dy_rows, &out);
    if (w->ndim != 2 || (size_t)w->dims[0] != in || (size_t)w->dims[1] != out || dy_rows != m)
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "layer projection backward: x [%zu, %zu], w, dy [%zu, %zu] do not fit",
                          m, in, dy_rows, out);
    ocla_status st = OCLA_SUCCESS;
    if (m == 0 || in == 0 || out == 0) { /* no GEMM: dw = 0 (and db = 0 when there are no rows); dx unchanged or 0 */
        if (dw) st = ocla__fill_zero(ctx, dw->mem, dw->offset * sizeof(float), in * out * sizeof(float));
        if (st == OCLA_SUCCESS && dx && !dx_accumulate)
            st = ocla__fill_zero(ctx, dx->mem, dx->offset * sizeof(float), m * in * sizeof(float));
        return st == OCLA_SUCCESS && db ? ocla__layer_colsum(ctx, dy, db) : st;
    }
    ocla_gemm_desc g;
    ocla_gemm_desc_defaults(&g);
    if (dx) { /* [m, in] (+)= dy [m, out] W^T */
        g.trans_b = 1, g.m = m, g.n = in, g.k = out, g.beta = dx_accumulate ? 1.0f : 0.0f;
        st = ocla__gemm(ctx, &g, dy->mem, dy->offset, w->mem, w->offset, dx->mem, dx->offset);
    }
    if (st == OCLA_SUCCESS && dw) { /* [in, out] = x^T [in, m] dy [m, out] */
        ocla_gemm_desc_defaults(&g);
        g.trans_a = 1, g.m = in, g.n = out, g.k = m;
        st = ocla__gemm(ctx, &g, x->mem, x->offset, dy->mem, dy->offset, dw->mem, dw->offset);
    }
    if (st == OCLA_SUCCESS && db) st = ocla__layer_colsum(ctx, dy, db);
    return st;
}

/* t (named as label) dense with x's dims. */
static ocla_status check_like_x(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *label,
                                const ocla_tensor *x) {
    ocla_status st = ocla__check_tensor(ctx, t, label, 3, x->dims);
    if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(t))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s must be dense", fn, label);
    return st;
}

ocla_status ocla__layer_check_grad_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *dy,
                                      const ocla_tensor *dx, int64_t *B, int64_t *T, int64_t *d) {
    ocla_status st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(x))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: x must be dense [B,T,d]", fn);
    if (st == OCLA_SUCCESS) st = check_like_x(ctx, fn, dy, "dy (x's dims [B,T,d])", x);
    if (st == OCLA_SUCCESS && dx) st = check_like_x(ctx, fn, dx, "dx (x's dims [B,T,d])", x);
    if (st != OCLA_SUCCESS) return st;
    *B = x->dims[0], *T = x->dims[1], *d = x->dims[2];
    return OCLA_SUCCESS;
}

ocla_status ocla__layer_check_grad(ocla_context *ctx, const char *fn, const char *name, const ocla_tensor *grad,
                                   const ocla_tensor *weight) {
    if (!grad) return OCLA_SUCCESS;
    if (!weight)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: grads.%s is given but the layer has no %s", fn, name, name);
    char label[96];
    snprintf(label, sizeof label, "%s: grads.%s (the dims of %s)", fn, name, name);
    ocla_status st = ocla__check_tensor(ctx, grad, label, weight->ndim, weight->dims);
    if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(grad))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must be dense", label);
    return st;
}
