/* SPDX-License-Identifier: MIT */
/* Gate nonlinearities of the layers, forward and backward (include/ocla/blocks.h; kernels
 * kernels_cl/gate.cl): GLA's g = logsigmoid(x) / tau and dx = dg * sigmoid(-x) / tau. */
#include "op_common.h"


OCLA_API ocla_status ocla_gate_logsigmoid(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *g, float tau) {
    static const ocla_elementwise e = {"ocla_gate_logsigmoid", "gate_logsigmoid", "logsigmoid gate", &ocla__fam_gate, 2,
                                       {"x", "g"}, "tau", 1, 0};
    const ocla_tensor *t[2] = {x, g};
    return ocla__elementwise(ctx, &e, t, tau);
}

OCLA_API ocla_status ocla_gate_logsigmoid_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *dg,
                                                   ocla_tensor *dx, float tau) {
    static const ocla_elementwise e = {"ocla_gate_logsigmoid_backward", "gate_logsigmoid_bwd",
                                       "logsigmoid gate backward", &ocla__fam_gate, 3, {"x", "dg", "dx"}, "tau", 2, 0};
    const ocla_tensor *t[3] = {x, dg, dx};
    return ocla__elementwise(ctx, &e, t, tau);
}
