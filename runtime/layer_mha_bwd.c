/* SPDX-License-Identifier: MIT */
/* Backward of the multi-head attention layers (<ocla/layers.h>, ocla_mha_layer_backward): q, k, v and
 * o recomputed as the forward computes them (runtime/layer_mha.c), then
 *   d_o = dy Wo^T, dWo = o^T dy, dbo = sum dy               (ocla__layer_project_backward)
 *   dq, dk, dv (dE, dF) = the op's backward                 (attention / softmax / Linformer)
 *   dx = dq Wq^T + dk Wk^T + dv Wv^T, dWq = x^T dq, dbq = sum dq, ... for k and v
 * Temporaries: q, k, v, o in scratch slot OCLA_LAYER_BWD_SLOT, d_o, dq, dk, dv in the next one
 * (layer_bwd_common.h), the non-causal linear layer's states in the third; nothing is allocated once
 * they are large enough. */
#include "layer_bwd_common.h"
#include "layer_half.h"
#include "layer_mha.h"

#define FN "ocla_mha_layer_backward"

static ocla_status check(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                         const ocla_tensor *x, const ocla_tensor *dy, const ocla_tensor *dx,
                         const ocla_mha_layer_grads *g, int64_t dims[3]) {
    ocla_status st = ocla__layer_check_grad_io(ctx, FN, x, dy, dx, &dims[0], &dims[1], &dims[2]);
    ocla_io_set set = {.in = {x, dy, w->E, w->F}, .in_name = {"x", "dy", "E", "F"}, .n_in = 4,
                       .out = {dx, g->w_q, g->w_k, g->w_v, g->w_o, g->b_q, g->b_k, g->b_v, g->b_o, g->E, g->F},
                       .out_name = {"dx", "grads.w_q", "grads.w_k", "grads.w_v", "grads.w_o", "grads.b_q",
                                    "grads.b_k", "grads.b_v", "grads.b_o", "grads.E", "grads.F"},
                       .n_out = 11};
    if (st == OCLA_SUCCESS) st = ocla__mha_check(ctx, FN, p, w, dims[2], dims[1], &set);
    if (st != OCLA_SUCCESS) return st;
    const int shared_kv = p->sharing == OCLA_LINFORMER_KEY_VALUE || p->sharing == OCLA_LINFORMER_LAYERWISE;
    if (g->F && p->kind == OCLA_MHA_LINFORMER && shared_kv)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": grads.F must be NULL with sharing KEY_VALUE / "
                                                           "LAYERWISE (E projects keys and values; grads.E holds both)");
    const ocla_tensor *const gw[10] = {g->w_q, g->w_k, g->w_v, g->w_o, g->b_q, g->b_k, g->b_v, g->b_o, g->E, g->F};
    const ocla_tensor *const ww[10] = {w->w_q, w->w_k, w->w_v, w->w_o, w->b_q, w->b_k, w->b_v, w->b_o, w->E, w->F};
    static const char *const names[10] = {"w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o", "E", "F"};
    for (int i = 0; i < 10 && st == OCLA_SUCCESS; i++) st = ocla__layer_check_grad(ctx, FN, names[i], gw[i], ww[i]);
    return st == OCLA_SUCCESS ? ocla__check_disjoint(ctx, FN, &set) : st;
}

/* Non-causal linear attention, o_t = read(q_t; S, z) = scale phi(q_t)^T S / (scale phi(q_t)^T z + eps)
 * with S, z the whole sequence's state, through the causal op's backward (ocla_attention_backward has
 * no non-causal form):
 *   1. S, z = the final state of the causal forward over k, v;
 *   2. the read is the causal op started from S, z over keys whose phi is 0 (0; elu+1: -1e30, whose
 *      exp is 0, as is its derivative) and values 0: its backward gives dq and dS, dz (the initial
 *      state's gradients);
 *   3. the causal backward over k, v with d_o = 0 and d_final_state = dS, d_final_z = dz gives dk, dv.
 * Temporaries in scratch slot OCLA_LAYER_BWD_SLOT + 2. */
static ocla_status noncausal_linear_backward(ocla_context *ctx, const ocla_attn_params *forward,
                                             const ocla_tensor *const in[4], const ocla_tensor *d_o,
                                             ocla_tensor *const d[3]) {
    const int64_t B = in[0]->dims[0], T = in[0]->dims[1], H = in[0]->dims[2], K = in[0]->dims[3], V = in[2]->dims[3];
    const int norm = forward->normalize;
    ocla_attn_params ap = *forward;
    ap.causal = 1;
    ocla__layer_ws ws = {.ctx = ctx};
    const int64_t ds[4] = {B, H, K, V}, dz_[3] = {B, H, K}, dk[4] = {B, T, H, K}, dv[4] = {B, T, H, V};
    ocla_tensor *S = ocla__layer_ws_add(&ws, 4, ds), *dS = ocla__layer_ws_add(&ws, 4, ds);
    ocla_tensor *z = ocla__layer_ws_add(&ws, 3, dz_), *dz = ocla__layer_ws_add(&ws, 3, dz_);
    ocla_tensor *keys = ocla__layer_ws_add(&ws, 4, dk), *junk_k = ocla__layer_ws_add(&ws, 4, dk); /* junk: unused */
    ocla_tensor *zero_v = ocla__layer_ws_add(&ws, 4, dv), *junk_v = ocla__layer_ws_add(&ws, 4, dv);
    ocla_status st = ocla__layer_ws_get_in(&ws, OCLA_LAYER_BWD_SLOT + 2, FN);
    if (st == OCLA_SUCCESS) st = ocla__layer_fill(ctx, keys, forward->feature_map == OCLA_FEATURE_ELU1 ? -1e30f : 0.0f);
    if (st == OCLA_SUCCESS) st = ocla__layer_fill(ctx, zero_v, 0.0f);
    if (st != OCLA_SUCCESS) return st;
    const ocla_attn_io state = {.q = in[0], .k = in[1], .v = in[2], .o = junk_v, .final_state = S,
                                .final_z = norm ? z : NULL};
    const ocla_attn_grad_io read = {.q = in[0], .k = keys, .v = zero_v, .initial_state = S, .initial_z = norm ? z : NULL,
                                    .d_o = d_o, .dq = d[0], .dk = junk_k, .dv = junk_v, .d_initial_state = dS,
                                    .d_initial_z = norm ? dz : NULL};
    const ocla_attn_grad_io sums = {.q = in[0], .k = in[1], .v = in[2], .d_o = zero_v, .d_final_state = dS,
                                    .d_final_z = norm ? dz : NULL, .dq = junk_k, .dk = d[1], .dv = d[2]};
    if ((st = ocla_attention_forward(ctx, &ap, &state)) != OCLA_SUCCESS ||
        (st = ocla_attention_backward(ctx, &ap, &read)) != OCLA_SUCCESS)
        return st;
    return ocla_attention_backward(ctx, &ap, &sums);
}

/* dq, dk, dv (and the projections' gradients dE, dF) of the layer's attention, [B,T,H,D] views. */
static ocla_status attend_backward(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                                   const ocla_tensor *const in[4], const ocla_tensor *d_o, ocla_tensor *const d[3],
                                   const ocla_mha_layer_grads *g) {
    ocla__mha_ops ops; /* the forward's */
    ocla__mha_op_params(p, &ops);
    switch (p->kind) {
    case OCLA_MHA_LINEAR: {
        if (!p->causal) return noncausal_linear_backward(ctx, &ops.linear, in, d_o, d);
        const ocla_attn_grad_io io = {.q = in[0], .k = in[1], .v = in[2], .d_o = d_o, .dq = d[0], .dk = d[1], .dv = d[2]};
        return ocla_attention_backward(ctx, &ops.linear, &io);
    }
    case OCLA_MHA_SOFTMAX: {
        const ocla_softmax_grad_io io = {in[0], in[1], in[2], in[3], d_o, d[0], d[1], d[2]};
        return ocla_softmax_backward(ctx, &ops.softmax, &io);
    }
    case OCLA_MHA_LINFORMER: {
        const ocla_linformer_grad_io io = {in[0], in[1], in[2], w->E, w->F, in[3], d_o, d[0], d[1], d[2], g->E, g->F};
        return ocla_linformer_backward(ctx, &ops.linformer, &io);
    }
    }
    return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": unhandled kind %d", (int)p->kind);
}

static ocla_status backward(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                            const ocla_tensor *x, const ocla_tensor *dy, ocla_tensor *dx,
                            const ocla_mha_layer_grads *grads) {
    if (x && x->dtype != OCLA_F32) /* returns; layer_half.h */
        OCLA__HALF_BACKWARD(mha, backward, ctx, FN, p, w, x, dy, dx, grads);
    const ocla_mha_layer_grads none = {0};
    const ocla_mha_layer_grads *g = grads ? grads : &none;
    int64_t dims[3] = {0, 0, 0};
    ocla_status st = check(ctx, p, w, x, dy, dx, g, dims);
    if (st != OCLA_SUCCESS) return st;
    const int64_t B = dims[0], T = dims[1], H = p->heads, K = p->head_k, V = p->head_v;
    const int64_t dk_[3] = {B, T, H * K}, dv_[3] = {B, T, H * V};
    ocla__layer_ws fwd = {.ctx = ctx}, bwd = {.ctx = ctx};
    ocla_tensor *q = ocla__layer_ws_add(&fwd, 3, dk_), *k = ocla__layer_ws_add(&fwd, 3, dk_);
    ocla_tensor *v = ocla__layer_ws_add(&fwd, 3, dv_), *o = ocla__layer_ws_add(&fwd, 3, dv_);
    ocla_tensor *d_o = ocla__layer_ws_add(&bwd, 3, dv_), *dq = ocla__layer_ws_add(&bwd, 3, dk_);
    ocla_tensor *dk = ocla__layer_ws_add(&bwd, 3, dk_), *dv = ocla__layer_ws_add(&bwd, 3, dv_);
    if ((st = ocla__layer_ws_get_in(&fwd, OCLA_LAYER_BWD_SLOT, FN)) != OCLA_SUCCESS ||
        (st = ocla__layer_ws_get_in(&bwd, OCLA_LAYER_BWD_SLOT + 1, FN)) != OCLA_SUCCESS)
        return st;
    /* the forward, as ocla_mha_layer_forward computes it */
    if ((st = ocla__layer_project(ctx, x, w->w_q, w->b_q, q)) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, x, w->w_k, w->b_k, k)) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, x, w->w_v, w->b_v, v)) != OCLA_SUCCESS)
        return st;
    struct ocla_tensor q4, k4, v4, o4, do4, dq4, dk4, dv4;
    ocla__layer_heads(q, 0, H, K, &q4), ocla__layer_heads(k, 0, H, K, &k4);
    ocla__layer_heads(v, 0, H, V, &v4), ocla__layer_heads(o, 0, H, V, &o4);
    ocla__layer_heads(d_o, 0, H, V, &do4), ocla__layer_heads(dq, 0, H, K, &dq4);
    ocla__layer_heads(dk, 0, H, K, &dk4), ocla__layer_heads(dv, 0, H, V, &dv4);
    if ((st = ocla__mha_attend(ctx, p, w, &q4, &k4, &v4, &o4)) != OCLA_SUCCESS) return st;
    /* back through the output projection, the attention and the input projections */
    if ((st = ocla__layer_project_backward(ctx, o, w->w_o, dy, d_o, 0, g->w_o, g->b_o)) != OCLA_SUCCESS) return st;
    const ocla_tensor *const in[4] = {&q4, &k4, &v4, &o4};
    ocla_tensor *const d[3] = {&dq4, &dk4, &dv4};
    if ((st = attend_backward(ctx, p, w, in, &do4, d, g)) != OCLA_SUCCESS) return st;
    if ((st = ocla__layer_project_backward(ctx, x, w->w_q, dq, dx, 0, g->w_q, g->b_q)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, x, w->w_k, dk, dx, 1, g->w_k, g->b_k)) != OCLA_SUCCESS)
        return st;
    return ocla__layer_project_backward(ctx, x, w->w_v, dv, dx, 1, g->w_v, g->b_v);
}

ocla_status ocla_mha_layer_backward(ocla_context *ctx, const ocla_mha_layer_params *params,
                                    const ocla_mha_layer_weights *weights, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_mha_layer_grads *grads) {
    ocla_mha_layer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_MHA_LAYER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, weights, backward(ctx, params, weights, x, dy, dx, grads));
}
