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

/* A layer as the half path sees it: the tensors it converts (its weights, and the GAU layer's
 * params.flash.rel_bias), each with its gradient, as offsets into the layer's structs (layer_half.c). */
#define OCLA_HALF_LAYER_MAX 10
typedef struct ocla__half_layer {
    size_t params_size, weights_size, grads_size;
    int in_place; /* y may be x itself (the GAU layer) */
    int n;
    struct {
        int in_params;                 /* the tensor is a field of the params, else of the weights */
        size_t at, grad_at;            /* its offset there, its gradient's in the grads */
        const char *name, *grad_name;  /* as a refusal names them */
    } t[OCLA_HALF_LAYER_MAX];
} ocla__half_layer;
extern const ocla__half_layer ocla__gla_half, ocla__mha_half, ocla__gau_half;

/* One call of a layer in half. ocla__half_forward_enter / _backward_enter (x is half: the caller
 * checked) check the dtypes and the aliasing rule on the originals, convert the inputs and fill the
 * copies: the params p, weights w and gradients g (the caller's, NULL gradients where grads is NULL,
 * each converted tensor replaced by its fp32 copy), x, dy and y (y or dx); the caller runs its fp32
 * path on them where that returned OCLA_SUCCESS, and ocla__half_call_leave rounds the outputs into the
 * caller's tensors where st (what the fp32 path returned) is OCLA_SUCCESS, and returns st or its own. */
typedef struct ocla__half_call {
    union {
        ocla_gla_layer_params gla;
        ocla_mha_layer_params mha;
        ocla_gau_layer_params gau;
    } p;
    union {
        ocla_gla_layer_weights gla;
        ocla_mha_layer_weights mha;
        ocla_gau_layer_weights gau;
    } w;
    union {
        ocla_gla_layer_grads gla;
        ocla_mha_layer_grads mha;
        ocla_gau_layer_grads gau;
    } g;
    const ocla_tensor *x, *dy;
    ocla_tensor *y;
    ocla__half_io in, out;
} ocla__half_call;
ocla_status ocla__half_forward_enter(ocla_context *ctx, const char *fn, ocla__half_call *c, const ocla__half_layer *layer,
                                     const void *p, const void *w, const ocla_tensor *x, ocla_tensor *y);
ocla_status ocla__half_backward_enter(ocla_context *ctx, const char *fn, ocla__half_call *c,
                                      const ocla__half_layer *layer, const void *p, const void *w, const ocla_tensor *x,
                                      const ocla_tensor *dy, ocla_tensor *dx, const void *grads);
ocla_status ocla__half_call_leave(ocla__half_call *c, ocla_status st);

/* In a layer's fp32 path f (its forward: f(ctx, p, w, x, y); its backward: f(ctx, p, w, x, dy, dx, g)),
 * where x is half: return f run on the fp32 copies, each output rounded once. m names the layer (gla,
 * mha, gau: ocla__<m>_half, the copies' union member). */
#define OCLA__HALF_FORWARD(m, f, ctx, fn, P, W, X, Y)                                                                 \
    OCLA__HALF_CALL(ocla__half_forward_enter(ctx, fn, &h_, &ocla__##m##_half, P, W, X, Y),                            \
                    f(ctx, &h_.p.m, &h_.w.m, h_.x, h_.y))
#define OCLA__HALF_BACKWARD(m, f, ctx, fn, P, W, X, DY, DX, G)                                                        \
    OCLA__HALF_CALL(ocla__half_backward_enter(ctx, fn, &h_, &ocla__##m##_half, P, W, X, DY, DX, G),                   \
                    f(ctx, &h_.p.m, &h_.w.m, h_.x, h_.dy, h_.y, &h_.g.m))
/* Their body: enter (on h_), then run where that succeeded, then leave. */
#define OCLA__HALF_CALL(enter, run)                                                                                   \
    do {                                                                                                              \
        ocla__half_call h_;                                                                                           \
        const ocla_status st_ = (enter);                                                                              \
        return ocla__half_call_leave(&h_, st_ != OCLA_SUCCESS ? st_ : (run));                                         \
    } while (0)

#endif
