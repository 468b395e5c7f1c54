/* SPDX-License-Identifier: MIT */
/* The layers in half precision (issue 14; runtime/layer_half.c): x of dtype bf16 or fp16, every
 * weight, y, dy, dx and the weights' gradients of x's dtype (states fp32, as the attention op takes
 * them; the GAU layer's relative bias of x's dtype too). Each layer converts at its boundary: dense
 * fp32 copies of its half inputs in scratch slot OCLA_HALF_IN_SLOT, of its half outputs in
 * OCLA_HALF_OUT_SLOT (no layer or op uses those), its fp32
 * path on the copies (intermediates fp32: projections by SGEMM, the attention op in fp32), then each
 * output rounded once. Switching an intermediate to half later (once the attention op takes half
 * q, k, v, o) is a change inside the fp32 path, not here. Not installed. */
#ifndef OCLA_LAYER_HALF_H
#define OCLA_LAYER_HALF_H

#include "layer_common.h"

#define OCLA_HALF_IN_SLOT 12
#define OCLA_HALF_OUT_SLOT 13

typedef ocla_status (*ocla__gla_fwd_fn)(ocla_context *, const ocla_gla_layer_params *, const ocla_gla_layer_weights *,
                                        const ocla_tensor *, ocla_tensor *);
typedef ocla_status (*ocla__gla_bwd_fn)(ocla_context *, const ocla_gla_layer_params *, const ocla_gla_layer_weights *,
                                        const ocla_tensor *, const ocla_tensor *, ocla_tensor *,
                                        const ocla_gla_layer_grads *);
typedef ocla_status (*ocla__gau_fwd_fn)(ocla_context *, const ocla_gau_layer_params *, const ocla_gau_layer_weights *,
                                        const ocla_tensor *, ocla_tensor *);
typedef ocla_status (*ocla__gau_bwd_fn)(ocla_context *, const ocla_gau_layer_params *, const ocla_gau_layer_weights *,
                                        const ocla_tensor *, const ocla_tensor *, ocla_tensor *,
                                        const ocla_gau_layer_grads *);
typedef ocla_status (*ocla__mha_fwd_fn)(ocla_context *, const ocla_mha_layer_params *, const ocla_mha_layer_weights *,
                                        const ocla_tensor *, ocla_tensor *);
typedef ocla_status (*ocla__mha_bwd_fn)(ocla_context *, const ocla_mha_layer_params *, const ocla_mha_layer_weights *,
                                        const ocla_tensor *, const ocla_tensor *, ocla_tensor *,
                                        const ocla_mha_layer_grads *);

/* f (the layer's fp32 path) on fp32 copies of the arguments; x is half (the caller checked). */
ocla_status ocla__gla_forward_half(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                                   const ocla_gla_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__gla_fwd_fn f);
ocla_status ocla__gla_backward_half(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                                    const ocla_gla_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_gla_layer_grads *g, ocla__gla_bwd_fn f);
ocla_status ocla__mha_forward_half(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                                   const ocla_mha_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__mha_fwd_fn f);
ocla_status ocla__mha_backward_half(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                                    const ocla_mha_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_mha_layer_grads *g, ocla__mha_bwd_fn f);
/* The GAU layer: params.flash.rel_bias (and grads.rel_bias) of x's dtype too, copied as the weights are;
 * y may be x itself, as in the fp32 layer. */
ocla_status ocla__gau_forward_half(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                                   const ocla_gau_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__gau_fwd_fn f);
ocla_status ocla__gau_backward_half(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                                    const ocla_gau_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_gau_layer_grads *g, ocla__gau_bwd_fn f);

#endif
