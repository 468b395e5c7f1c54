/* SPDX-License-Identifier: MIT */
/* Dense-tensor checks and the elementwise ops' launch (see op_common.h). */
#include <math.h>

#include "op_common.h"

ocla_status ocla__dense_2d(ocla_context *ctx, const ocla_tensor *t, const char *name, size_t *rows, size_t *cols) {
    ocla_status st = ocla__check_tensor(ctx, t, name, -1, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(t)) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must be dense row-major", name);
    *cols = (size_t)t->dims[t->ndim - 1];
    size_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++) r *= (size_t)t->dims[i];
    *rows = r;
    return OCLA_SUCCESS;
}

/* The one refusal of a tensor's dtype (internal.h): every op's tensor checks come here. */
ocla_status ocla__refuse_dtype(ocla_context *ctx, const ocla_tensor *t, const char *name, ocla_dtype expected) {
    return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                      "%s is a %s tensor and this op takes %s here (which ops run in half precision: "
                      "docs/ARCHITECTURE.md, \"Half precision\")",
                      name, ocla_dtype_name(t->dtype), ocla_dtype_name(expected));
}

size_t ocla__launch_1d_local(uint64_t kernel_wg, uint64_t device_wg, uint64_t item_size0) {
    uint64_t lim = device_wg;
    if (kernel_wg && kernel_wg < lim) lim = kernel_wg;
    if (item_size0 && item_size0 < lim) lim = item_size0;
    size_t l = 1;
    while (l * 2 <= lim && l * 2 <= 64) l *= 2;
    return l;
}

ocla_status ocla__elementwise(ocla_context *ctx, const ocla_elementwise *e, const ocla_tensor *const *t, float x) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", e->fn);
    OCLA_LOCK(ctx);
    size_t n = 0, rows = 0, cols = 0;
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i < e->nt && st == OCLA_SUCCESS; i++) {
        st = ocla__dense_2d(ctx, t[i], e->names[i], &rows, &cols);
        if (i == 0) n = rows * cols;
        else if (st == OCLA_SUCCESS && rows * cols != n)
            st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s has %zu elements, %s %zu", e->fn, e->names[0], n, e->names[i],
                            rows * cols);
    }
    if (st == OCLA_SUCCESS) { /* the output apart from the inputs (an in-place output: from the others) */
        ocla_io_set set = {.out = {t[e->out]}, .out_name = {e->names[e->out]}, .n_out = 1};
        for (int i = 0; i < e->nt; i++)
            if (i != e->out || e->in_place) {
                set.in_place[set.n_in] = i == e->out;
                set.in_name[set.n_in] = e->names[i];
                set.in[set.n_in++] = t[i];
            }
        st = ocla__check_disjoint(ctx, e->fn, &set);
    }
    if (st == OCLA_SUCCESS && e->positive && !(x > 0.0f && isfinite(x)))
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: %s must be positive and finite (got %g)", e->fn,
                        e->positive, (double)x);
    cl_kernel k = NULL;
    const ocla_variant v = ocla__variant(e->fam);
    if (st == OCLA_SUCCESS) st = ocla__variant_kernel(ctx, &v, e->kernel, &k);
    if (st == OCLA_SUCCESS) {
        ocla_args a = {ctx, k, 0, OCLA_SUCCESS};
        ocla__push_long(&a, (int64_t)n);
        for (int i = 0; i < e->nt; i++) {
            ocla__push_mem(&a, t[i]->mem);
            ocla__push_long(&a, (int64_t)t[i]->offset);
        }
        ocla__push_float(&a, x);
        uint64_t kwg = 0;
        st = a.st == OCLA_SUCCESS ? ocla__kernel_limits(ctx, k, &kwg, NULL) : a.st;
        const size_t l = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
        if (st == OCLA_SUCCESS) st = ocla__launch(ctx, k, 1, &n, &l, e->what);
    }
    OCLA_UNLOCK(ctx);
    return st;
}
