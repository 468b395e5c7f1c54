/* SPDX-License-Identifier: MIT */
/* Optimiser steps (include/ocla/train.h; kernels kernels_cl/optim.cl): plain SGD. */
#include "op_common.h"


OCLA_API ocla_status ocla_sgd_step(ocla_context *ctx, ocla_tensor *param, const ocla_tensor *grad, float lr) {
    static const ocla_elementwise e = {"ocla_sgd_step", "sgd_step", "SGD step", &ocla__fam_optim, 2, {"param", "grad"}, NULL, 0, 1};
    const ocla_tensor *t[2] = {param, grad};
    return ocla__elementwise(ctx, &e, t, lr);
}
