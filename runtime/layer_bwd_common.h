/* SPDX-License-Identifier: MIT */
/* Helpers shared by the layers' backward passes (runtime/layer_*_bwd.c): the backward of a projection
 * with an optional bias, column sums, and the layers' backward temporaries in context-owned scratch.
 * Kernels: kernels_cl/layer_bwd.cl. Every function assumes the caller holds the context lock and has
 * checked the tensors (the layer's own checks name them); it returns ocla_status with the detail set
 * through ocla__fail.
 *
 * Scratch slots: a layer's backward recomputes its forward's intermediates and keeps them, and its
 * gradients of intermediates, in slots OCLA_LAYER_BWD_SLOT .. OCLA_LAYER_BWD_SLOT + 3 (8-11, which no
 * op uses), through ocla__layer_ws_get_in: the ops it calls (attention 0-3, softmax 4, FLASH and
 * Linformer 4-7) and the forward's own slot 7 never meet them. One layer call at a time runs under
 * the context lock, so the layers share these slots. */
#ifndef OCLA_LAYER_BWD_COMMON_H
#define OCLA_LAYER_BWD_COMMON_H

#include "layer_common.h"

#define OCLA_LAYER_BWD_SLOT 8

/* The backward of y = x W (+ b) (ocla__layer_project): x dense [..., in], w [in, out], dy dense [..., out].
 * dx: NULL = skipped; else dx = dy W^T, or dx += dy W^T when dx_accumulate != 0.
 * dw: NULL = skipped; else dw = x^T dy ([in, out]).  db: NULL = skipped; else db = column sums of dy ([out]).
 * Through CLBlast (ocla__gemm / ocla_gemm) and a column-sum kernel; no allocation once scratch is large enough. */
ocla_status ocla__layer_project_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w,
                                         const ocla_tensor *dy, ocla_tensor *dx, int dx_accumulate,
                                         ocla_tensor *dw, ocla_tensor *db);

/* sums[c] = sum_r m[r, c]: m dense [..., cols] (the leading dims are the rows), sums dense [cols]
 * (kernels_cl/layer_bwd.cl, layer_colsum: one work-group per column). A bias's gradient, and a weight
 * shared by rows (the GLA layer's norm weight) from per-row terms. */
ocla_status ocla__layer_colsum(ocla_context *ctx, const ocla_tensor *m, ocla_tensor *sums);

/* Every element of the dense tensor t = value (layer_fill). */
ocla_status ocla__layer_fill(ocla_context *ctx, ocla_tensor *t, float value);

/* The tensors every layer backward takes: x dense [B,T,d] (fills B, T, d), dy x's dims, dx NULL or
 * x's dims; both dense. Messages name fn and the tensor. */
ocla_status ocla__layer_check_grad_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *dy,
                                      const ocla_tensor *dx, int64_t *B, int64_t *T, int64_t *d);
/* A weight's gradient grad (grads.<name>): NULL (not wanted), else dense with the dims of weight
 * (weights.<name>, already checked), which must then be given (OCLA_ERR_INVALID_ARGUMENT). */
ocla_status ocla__layer_check_grad(ocla_context *ctx, const char *fn, const char *name, const ocla_tensor *grad,
                                   const ocla_tensor *weight);

#endif
