/* Gate nonlinearities of the layers, forward and backward (include/ocla/blocks.h; kernels
 * kernels_cl/gate.cl): GLA's g = logsigmoid(x) / tau and dx = dg * sigmoid(-x) / tau. */
#include <math.h>

#include "op_common.h"

static const ocla_kfamily fam_gate = {"gate", 0, {NULL}};

static ocla_status check_tau(ocla_context *ctx, const char *fn, float tau) {
    if (tau > 0.0f && isfinite(tau)) return OCLA_SUCCESS;
    return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: tau must be positive and finite (got %g)", fn, (double)tau);
}

OCLA_API ocla_status ocla_gate_logsigmoid(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *g, float tau) {
    static const char fn[] = "ocla_gate_logsigmoid";
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    OCLA_LOCK(ctx);
    size_t n = 0;
    ocla_status st = ocla__dense_same_numel(ctx, fn, x, "x", g, "g", &n);
    if (st == OCLA_SUCCESS) st = check_tau(ctx, fn, tau);
    cl_kernel k = NULL;
    const ocla_variant v = ocla__variant(&fam_gate);
    if (st == OCLA_SUCCESS) st = ocla__variant_kernel(ctx, &v, "gate_logsigmoid", &k);
    if (st == OCLA_SUCCESS) {
        const cl_long nn = (cl_long)n, xo = (cl_long)x->offset, go = (cl_long)g->offset;
        ocla_args a = {ctx, k, 0, OCLA_SUCCESS};
        ocla__args_push(&a, sizeof nn, &nn);
        ocla__args_push(&a, sizeof x->mem, &x->mem);
        ocla__args_push(&a, sizeof xo, &xo);
        ocla__args_push(&a, sizeof g->mem, &g->mem);
        ocla__args_push(&a, sizeof go, &go);
        ocla__args_push(&a, sizeof tau, &tau);
        st = a.st == OCLA_SUCCESS ? ocla__launch_1d(ctx, k, n, "logsigmoid gate") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}

OCLA_API ocla_status ocla_gate_logsigmoid_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *dg,
                                                   ocla_tensor *dx, float tau) {
    static const char fn[] = "ocla_gate_logsigmoid_backward";
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
    OCLA_LOCK(ctx);
    size_t n = 0, n2 = 0;
    ocla_status st = ocla__dense_same_numel(ctx, fn, x, "x", dg, "dg", &n);
    if (st == OCLA_SUCCESS) st = ocla__dense_same_numel(ctx, fn, x, "x", dx, "dx", &n2);
    if (st == OCLA_SUCCESS) st = check_tau(ctx, fn, tau);
    cl_kernel k = NULL;
    const ocla_variant v = ocla__variant(&fam_gate);
    if (st == OCLA_SUCCESS) st = ocla__variant_kernel(ctx, &v, "gate_logsigmoid_bwd", &k);
    if (st == OCLA_SUCCESS) {
        const cl_long nn = (cl_long)n, xo = (cl_long)x->offset, go = (cl_long)dg->offset, dxo = (cl_long)dx->offset;
        ocla_args a = {ctx, k, 0, OCLA_SUCCESS};
        ocla__args_push(&a, sizeof nn, &nn);
        ocla__args_push(&a, sizeof x->mem, &x->mem);
        ocla__args_push(&a, sizeof xo, &xo);
        ocla__args_push(&a, sizeof dg->mem, &dg->mem);
        ocla__args_push(&a, sizeof go, &go);
        ocla__args_push(&a, sizeof dx->mem, &dx->mem);
        ocla__args_push(&a, sizeof dxo, &dxo);
        ocla__args_push(&a, sizeof tau, &tau);
        st = a.st == OCLA_SUCCESS ? ocla__launch_1d(ctx, k, n, "logsigmoid gate backward") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}
