/* Helpers shared by the [B,T,d_model] layers: see layer_common.h. */
#include "layer_common.h"

#include <stdio.h>

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

ocla_status ocla__layer_tmp3(ocla_context *ctx, int64_t a, int64_t b, int64_t c, ocla_tensor **out) {
    const int64_t d[3] = {a, b, c};
    return ocla_tensor_create(ctx, OCLA_F32, 3, d, out);
}

ocla_status ocla__layer_heads_view(ocla_context *ctx, const ocla_tensor *t, int64_t H, int64_t D, ocla_tensor **out) {
    const int64_t d[4] = {t->dims[0], t->dims[1], H, D};
    return ocla_tensor_view(ctx, t, 0, 4, d, NULL, out);
}

ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                const ocla_tensor *ones, ocla_tensor *y) {
    ocla_status st = ocla_linear_forward(ctx, x, w, y);
    if (st != OCLA_SUCCESS || !b) return st;
    const size_t n = (size_t)y->dims[y->ndim - 1], rows = (size_t)(ocla_tensor_numel(y) / y->dims[y->ndim - 1]);
    if (!ones || (size_t)ocla_tensor_numel(ones) < rows || !ocla__tensor_is_contiguous(ones))
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "layer bias: no vector of %zu ones", rows);
    ocla_gemm_desc g; /* y[rows, n] += ones[rows, 1] b[1, n] */
    ocla_gemm_desc_defaults(&g);
    g.m = rows, g.n = n, g.k = 1;
    g.alpha = 1.0f, g.beta = 1.0f;
    g.lda = 1, g.ldb = n, g.ldc = n;
    return ocla__gemm(ctx, &g, ones->mem, ones->offset, b->mem, b->offset, y->mem, y->offset);
}
