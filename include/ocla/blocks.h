/* SPDX-License-Identifier: MIT */
/* ocla layer building blocks, forward and backward: the pieces a layer is made of besides the
 * attention op (projections, gate nonlinearities), each with its backward next to it, so an
 * inference layer and a training step use the same calls. Include <ocla/ocla.h> first (it
 * includes this header through <ocla/train.h>).
 *
 * Every tensor here is dense row-major; any ndim, the last dim is the feature dim. An output may not
 * share memory with an input of the same call or with another output (OCLA_ERR_INVALID_ARGUMENT,
 * naming both tensors).
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_BLOCKS_H
#define OCLA_BLOCKS_H
#ifdef __cplusplus
extern "C" {
#endif

/* Projection through CLBlast (runtime/op_linear.c). Y = X W with X [M, IN], W [IN, OUT] (2-D),
 * Y [M, OUT] (the leading dims of X and Y are flattened to M).
 * Backward:
 *   dX = dY W^T  (skipped when dX is NULL)
 *   dW = X^T dY  (skipped when dW is NULL; accumulated into dW when accumulate_dw != 0)   */
OCLA_API ocla_status ocla_linear_forward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                         ocla_tensor *Y);
OCLA_API ocla_status ocla_linear_backward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                          const ocla_tensor *dY, ocla_tensor *dX, ocla_tensor *dW,
                                          int accumulate_dw);

/* GLA gate nonlinearity (runtime/op_gate.c, kernels_cl/gate.cl; fla's default with tau = 16):
 * g = logsigmoid(x) / tau elementwise (<= 0, a natural-log forget gate for ocla_attention_forward),
 * and its backward dx = dg * sigmoid(-x) / tau. Tensors of equal element count; tau > 0. */
OCLA_API ocla_status ocla_gate_logsigmoid(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *g, float tau);
OCLA_API ocla_status ocla_gate_logsigmoid_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *dg,
                                                   ocla_tensor *dx, float tau);

#ifdef __cplusplus
}
#endif
#endif
