/* Optimiser steps (include/ocla/train.h; kernels kernels_cl/optim.cl): plain SGD. */
#include "op_common.h"

static const ocla_kfamily fam_optim = {"optim", 0, {NULL}};

OCLA_API ocla_status ocla_sgd_step(ocla_context *ctx, ocla_tensor *param, const ocla_tensor *grad, float lr) {
    static const char fn[] = "ocla_sgd_step";
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    OCLA_LOCK(ctx);
    size_t n = 0;
    ocla_status st = ocla__dense_same_numel(ctx, fn, param, "param", grad, "grad", &n);
    cl_kernel k = NULL;
    const ocla_variant v = ocla__variant(&fam_optim);
    if (st == OCLA_SUCCESS) st = ocla__variant_kernel(ctx, &v, "sgd_step", &k);
    if (st == OCLA_SUCCESS) {
        const cl_long nn = (cl_long)n, po = (cl_long)param->offset, go = (cl_long)grad->offset;
        ocla_args a = {ctx, k, 0, OCLA_SUCCESS};
        ocla__args_push(&a, sizeof nn, &nn);
        ocla__args_push(&a, sizeof param->mem, &param->mem);
        ocla__args_push(&a, sizeof po, &po);
        ocla__args_push(&a, sizeof grad->mem, &grad->mem);
        ocla__args_push(&a, sizeof go, &go);
        ocla__args_push(&a, sizeof lr, &lr);
        st = a.st == OCLA_SUCCESS ? ocla__launch_1d(ctx, k, n, "SGD step") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}
