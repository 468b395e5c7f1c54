/* SPDX-License-Identifier: MIT */
/* The GLA layer's pieces shared by the forward (runtime/layer_gla.c) and the backward
 * (runtime/layer_gla_bwd.c). The caller holds the context lock. */
#ifndef OCLA_LAYER_GLA_H
#define OCLA_LAYER_GLA_H

#include "layer_common.h"

/* The forward's intermediates, dense [B,T,*]: q, k [H*K]; v, r [H*V]; lr [R] = x Wg1; gl [H*K] =
 * lr Wg2 + b; g = logsigmoid(gl) / tau; o [H*V] the attention output; u [H*V] = RMSNorm(o) w silu(r). */
typedef struct ocla__gla_tensors {
    ocla_tensor *q, *k, *v, *r, *lr, *gl, *g, *o, *u;
} ocla__gla_tensors;

/* params and the weights for a layer on [B,T,D] inputs (appended to set's inputs for the aliasing
 * rule); *R = the gate's rank. The messages name fn. */
ocla_status ocla__gla_check(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                            const ocla_gla_layer_weights *w, int64_t D, int64_t *R, ocla_io_set *set);
/* Adds the intermediates to ws (9 tensors). */
void ocla__gla_ws_add(ocla__layer_ws *ws, int64_t B, int64_t T, const ocla_gla_layer_params *p, int64_t R,
                      ocla__gla_tensors *t);
/* The attention's parameters (vector gate, params' form and chunk, the op's default scale K^-0.5). */
void ocla__gla_attn_params(const ocla_gla_layer_params *p, ocla_attn_params *ap);
/* The forward up to u (everything but the output projection); final_state: written when not NULL. */
ocla_status ocla__gla_forward_steps(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                                    const ocla_tensor *x, const ocla__gla_tensors *t, ocla_tensor *final_state);

#endif
