/* Dense-tensor checks and the 1-D launch of the small ops (see op_common.h). */
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

ocla_status ocla__dense_same_numel(ocla_context *ctx, const char *fn, const ocla_tensor *a, const char *an,
                                   const ocla_tensor *b, const char *bn, size_t *n) {
    size_t r1 = 0, c1 = 0, r2 = 0, c2 = 0;
    *n = 0;
    ocla_status st = ocla__dense_2d(ctx, a, an, &r1, &c1);
    if (st == OCLA_SUCCESS) st = ocla__dense_2d(ctx, b, bn, &r2, &c2);
    if (st == OCLA_SUCCESS && r1 * c1 != r2 * c2)
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s has %zu elements, %s %zu", fn, an, r1 * c1, bn, r2 * c2);
    if (st == OCLA_SUCCESS) *n = r1 * c1;
    return st;
}

size_t ocla__launch_1d_local(uint64_t kernel_wg, uint64_t device_wg, uint64_t item_size0) {
    uint64_t lim = device_wg;
    if (kernel_wg && kernel_wg < lim) lim = kernel_wg;
    if (item_size0 && item_size0 < lim) lim = item_size0;
    size_t l = 1;
    while (l * 2 <= lim && l * 2 <= 64) l *= 2;
    return l;
}

ocla_status ocla__launch_1d(ocla_context *ctx, cl_kernel k, size_t n, const char *what) {
    uint64_t kwg = 0;
    ocla_status st = ocla__kernel_limits(ctx, k, &kwg, NULL);
    if (st != OCLA_SUCCESS) return st;
    const size_t l = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
    return ocla__launch(ctx, k, 1, &n, &l, what);
}
