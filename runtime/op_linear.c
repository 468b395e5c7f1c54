/* SPDX-License-Identifier: MIT */
/* Projections through CLBlast (include/ocla/blocks.h): Y = X W and its backward dX = dY W^T,
 * dW = X^T dY (optionally accumulated). No kernels of its own. */
#include "op_common.h"

/* A backward output (named cname): dense [m, n]. */
static ocla_status check_grad(ocla_context *ctx, const char *cname, const ocla_tensor *c, size_t m, size_t n) {
    size_t rows = 0, cols = 0;
    ocla_status st = ocla__dense_2d(ctx, c, cname, &rows, &cols);
    if (st == OCLA_SUCCESS && (rows != m || cols != n))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linear_backward: %s must be [%zu,%zu]", cname, m, n);
    return st;
}

/* C [m,n] = op(A) op(B) + beta C (shapes checked by the caller). */
static ocla_status gemm(ocla_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float beta,
                        const ocla_tensor *a, const ocla_tensor *b, ocla_tensor *c) {
    ocla_gemm_desc d;
    ocla_gemm_desc_defaults(&d);
    d.trans_a = ta, d.trans_b = tb, d.m = m, d.n = n, d.k = k, d.alpha = 1.0f, d.beta = beta;
    d.lda = ta ? m : k, d.ldb = tb ? k : n, d.ldc = n;
    return ocla__gemm(ctx, &d, a->mem, a->offset, b->mem, b->offset, c->mem, c->offset);
}

/* X [m, in], W [in, out] (2-D), Y [m, out]. */
static ocla_status check_xwy(ocla_context *ctx, const char *fn, const ocla_tensor *X, const ocla_tensor *W,
                             const ocla_tensor *Y, const char *yname, size_t *m, size_t *in, size_t *out) {
    size_t win = 0, ym = 0, yn = 0;
    ocla_status st = ocla__dense_2d(ctx, X, "X", m, in);
    if (st == OCLA_SUCCESS) st = ocla__dense_2d(ctx, W, "W", &win, out);
    if (st == OCLA_SUCCESS) st = ocla__dense_2d(ctx, Y, yname, &ym, &yn);
    if (st == OCLA_SUCCESS && (W->ndim != 2 || win != *in || ym != *m || yn != *out))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: X [%zu,%zu], W [%zu,%zu], %s [%zu,%zu] do not fit", fn, *m, *in, win,
                        *out, yname, ym, yn);
    return st;
}

OCLA_API ocla_status ocla_linear_forward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                         ocla_tensor *Y) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_linear_forward: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t m = 0, in = 0, out = 0;
    ocla_status st = check_xwy(ctx, "ocla_linear_forward", X, W, Y, "Y", &m, &in, &out);
    const ocla_io_set set = {.in = {X, W}, .in_name = {"X", "W"}, .out = {Y}, .out_name = {"Y"}, .n_in = 2, .n_out = 1};
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, "ocla_linear_forward", &set);
    if (st == OCLA_SUCCESS) st = gemm(ctx, 0, 0, m, out, in, 0.0f, X, W, Y);
    OCLA_UNLOCK(ctx);
    return st;
}

OCLA_API ocla_status ocla_linear_backward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                          const ocla_tensor *dY, ocla_tensor *dX, ocla_tensor *dW,
                                          int accumulate_dw) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_linear_backward: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t m = 0, in = 0, out = 0;
    ocla_status st = check_xwy(ctx, "ocla_linear_backward", X, W, dY, "dY", &m, &in, &out);
    /* dX [m, in] and dW [in, out], both checked before either is written */
    if (st == OCLA_SUCCESS && dX) st = check_grad(ctx, "dX", dX, m, in);
    if (st == OCLA_SUCCESS && dW) st = check_grad(ctx, "dW", dW, in, out);
    const ocla_io_set set = {.in = {X, W, dY}, .in_name = {"X", "W", "dY"}, .out = {dX, dW}, .out_name = {"dX", "dW"},
                             .n_in = 3, .n_out = 2};
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, "ocla_linear_backward", &set);
    if (st == OCLA_SUCCESS && dX) st = gemm(ctx, 0, 1, m, in, out, 0.0f, dY, W, dX); /* dY [m,out] W^T [out,in] */
    if (st == OCLA_SUCCESS && dW) st = gemm(ctx, 1, 0, in, out, m, accumulate_dw ? 1.0f : 0.0f, X, dY, dW);
    OCLA_UNLOCK(ctx);
    return st;
}
