/* SPDX-License-Identifier: MIT */
/* Multi-head attention layers on [B,T,d]: linear attention (Katharopoulos et al.), softmax attention
 * and Linformer, each as projections (CLBlast) -> attention op -> output projection. The math and
 * the API: <ocla/layers.h>; docs/KERNELS.md, "FLASH, Linformer, softmax, layers". Temporaries: one
 * workspace in the layers' scratch slot (layer_common.h): nothing is allocated once it is large enough. */
#include <math.h>

#include "layer_half.h"
#include "layer_mha.h"

#define FN "ocla_mha_layer_forward"

void ocla_mha_layer_params_defaults(ocla_mha_layer_params *p, ocla_mha_kind kind) {
    if (p)
        *p = (ocla_mha_layer_params){.size = sizeof *p, .kind = kind, .heads = 1, .head_k = 64, .head_v = 64,
                                     .causal = kind == OCLA_MHA_LINFORMER ? 0 : 1, .scale = 1.0f,
                                     .feature_map = OCLA_FEATURE_ELU1, .normalize = 1, .eps = 1e-6f,
                                     .sharing = OCLA_LINFORMER_HEADWISE};
}

/* Options that do not depend on tensors; checked before any work is enqueued. */
static ocla_status check_params(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p) {
    if ((int)p->kind < OCLA_MHA_LINEAR || (int)p->kind > OCLA_MHA_LINFORMER)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.kind %d is not a known layer kind", fn, (int)p->kind);
    if (p->heads < 1 || p->head_k < 1 || p->head_v < 1)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: heads (%d), head_k (%d) and head_v (%d) must be >= 1", fn,
                          p->heads, p->head_k, p->head_v);
    if (p->causal != 0 && p->causal != 1)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.causal must be 0 or 1 (is %d)", fn, p->causal);
    if (p->has_scale && !isfinite(p->scale))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.scale must be finite", fn);
    if ((p->cu_seqlens || p->n_seqs) && !(p->kind == OCLA_MHA_LINEAR && p->causal))
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "%s: params.cu_seqlens: packed sequences need the causal LINEAR layer (softmax and "
                          "Linformer have no sequence table; a non-causal row reads the whole time axis)", fn);
    if (p->kind == OCLA_MHA_LINEAR) {
        if ((int)p->feature_map < OCLA_FEATURE_IDENTITY || (int)p->feature_map > OCLA_FEATURE_RELU)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.feature_map %d is not a known feature map", fn,
                              (int)p->feature_map);
        if (p->normalize && !(p->eps >= 0.0f && isfinite(p->eps)))
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.eps must be finite and >= 0 (is %g)", fn,
                              (double)p->eps);
        if (p->chunk < 0)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.chunk must be >= 0 (is %d)", fn, p->chunk);
        return OCLA_SUCCESS;
    }
    if (p->kind == OCLA_MHA_LINFORMER) {
        if (p->causal)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              "%s: causal Linformer is not defined (E and F mix every token, future ones included, "
                                 "into each projected row); use OCLA_MHA_LINEAR or OCLA_MHA_SOFTMAX for causal layers", fn);
        if ((int)p->sharing < OCLA_LINFORMER_HEADWISE || (int)p->sharing > OCLA_LINFORMER_NONE)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.sharing %d is not a known sharing mode", fn,
                              (int)p->sharing);
    }
    /* SOFTMAX and LINFORMER: the softmax block */
    if (p->block != 0 && p->block != 16 && p->block != 32 && p->block != 64)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.block %d (0, 16, 32 or 64)", fn, p->block);
    return OCLA_SUCCESS;
}

void ocla__mha_op_params(const ocla_mha_layer_params *p, ocla__mha_ops *ops) {
    ocla_attn_params *ap = &ops->linear;
    ocla_attn_params_defaults(ap);
    ap->causal = p->causal;
    ap->has_scale = 1; /* the paper's layer has no scale: 1 unless the caller gives one */
    ap->scale = p->has_scale ? p->scale : 1.0f;
    ap->feature_map = p->feature_map;
    ap->normalize = p->normalize;
    ap->eps = p->eps;
    ap->form = OCLA_FORM_CHUNKED;
    ap->chunk = p->chunk;
    ap->cu_seqlens = p->cu_seqlens, ap->n_seqs = p->n_seqs;
    ocla_softmax_params *sp = &ops->softmax; /* every field given */
    ocla_softmax_params_defaults(sp);
    sp->causal = p->causal, sp->has_scale = p->has_scale, sp->scale = p->scale, sp->block = p->block;
    ocla_linformer_params *lp = &ops->linformer;
    ocla_linformer_params_defaults(lp);
    lp->causal = 0, lp->has_scale = p->has_scale, lp->scale = p->scale, lp->sharing = p->sharing, lp->block = p->block;
}

/* o [B,T,H,V] = attention(q, k, v) of the layer's kind. */
ocla_status ocla__mha_attend(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                             const ocla_tensor *q, const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o) {
    ocla__mha_ops ops;
    ocla__mha_op_params(p, &ops);
    switch (p->kind) {
    case OCLA_MHA_LINEAR: {
        const ocla_attn_io io = {.q = q, .k = k, .v = v, .o = o};
        return ocla_attention_forward(ctx, &ops.linear, &io);
    }
    case OCLA_MHA_SOFTMAX: return ocla_softmax_attention(ctx, &ops.softmax, q, k, v, o);
    case OCLA_MHA_LINFORMER: {
        const ocla_linformer_io io = {q, k, v, w->E, w->F, o};
        return ocla_linformer_attention(ctx, &ops.linformer, &io);
    }
    }
    return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": unhandled kind %d", (int)p->kind);
}

ocla_status ocla__mha_check(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                            const ocla_mha_layer_weights *w, int64_t D, int64_t T, ocla_io_set *set) {
    ocla_status st = check_params(ctx, fn, p);
    const int64_t H = p->heads, K = p->head_k, V = p->head_v;
    const ocla__layer_weight weights[] = {
        {w->w_q, "w_q", "[d, H*K]", D, H * K, 0}, {w->w_k, "w_k", "[d, H*K]", D, H * K, 0},
        {w->w_v, "w_v", "[d, H*V]", D, H * V, 0}, {w->w_o, "w_o", "[H*V, d]", H * V, D, 0},
        {w->b_q, "b_q", "[H*K]", H * K, -1, 1},   {w->b_k, "b_k", "[H*K]", H * K, -1, 1},
        {w->b_v, "b_v", "[H*V]", H * V, -1, 1},   {w->b_o, "b_o", "[d]", D, -1, 1}};
    if (st == OCLA_SUCCESS) st = ocla__layer_check_weights(ctx, fn, weights, 8, set);
    const ocla_tensor *F_used; /* the op picks it again from the sharing */
    if (st == OCLA_SUCCESS && p->kind == OCLA_MHA_LINFORMER)
        st = ocla__linformer_check_ef(ctx, fn, p->sharing, w->E, w->F, H, T, OCLA_ERR_SHAPE, &F_used);
    else if (st == OCLA_SUCCESS && (w->E || w->F))
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: weights.E / weights.F are for OCLA_MHA_LINFORMER only", fn);
    return st;
}

static ocla_status forward(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                           const ocla_tensor *x, ocla_tensor *y) {
    if (x && x->dtype != OCLA_F32) OCLA__HALF_FORWARD(mha, forward, ctx, FN, p, w, x, y); /* returns; layer_half.h */
    int64_t B = 0, T = 0, D = 0;
    ocla_status st = ocla__layer_check_io(ctx, FN, x, y, &B, &T, &D);
    const int64_t H = p->heads, K = p->head_k, V = p->head_v;
    ocla_io_set set = {.in = {x, w->E, w->F}, .in_name = {"x", "E", "F"}, .out = {y}, .out_name = {"y"}, .n_in = 3,
                       .n_out = 1};
    if (st == OCLA_SUCCESS) st = ocla__mha_check(ctx, FN, p, w, D, T, &set);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    if (st != OCLA_SUCCESS) return st;
    ocla__layer_ws ws = {.ctx = ctx};
    const int64_t dk[3] = {B, T, H * K}, dv[3] = {B, T, H * V};
    ocla_tensor *q = ocla__layer_ws_add(&ws, 3, dk), *k = ocla__layer_ws_add(&ws, 3, dk);
    ocla_tensor *v = ocla__layer_ws_add(&ws, 3, dv), *o = ocla__layer_ws_add(&ws, 3, dv);
    /* linear attention keeps to slots 0-3: q, k, v, o apart at offset 0 (the NVIDIA path takes them) */
    st = p->kind == OCLA_MHA_LINEAR ? ocla__layer_ws_get_apart(&ws, 4, FN) : ocla__layer_ws_get(&ws, FN);
    if (st != OCLA_SUCCESS) return st;
    if ((st = ocla__layer_project(ctx, x, w->w_q, w->b_q, q)) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, x, w->w_k, w->b_k, k)) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, x, w->w_v, w->b_v, v)) != OCLA_SUCCESS)
        return st;
    struct ocla_tensor q4, k4, v4, o4;
    ocla__layer_heads(q, 0, H, K, &q4), ocla__layer_heads(k, 0, H, K, &k4);
    ocla__layer_heads(v, 0, H, V, &v4), ocla__layer_heads(o, 0, H, V, &o4);
    if ((st = ocla__mha_attend(ctx, p, w, &q4, &k4, &v4, &o4)) != OCLA_SUCCESS) return st;
    return ocla__layer_project(ctx, o, w->w_o, w->b_o, y);
}

ocla_status ocla_mha_layer_forward(ocla_context *ctx, const ocla_mha_layer_params *params,
                                   const ocla_mha_layer_weights *weights, const ocla_tensor *x, ocla_tensor *y) {
    ocla_mha_layer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_MHA_LAYER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, weights, forward(ctx, params, weights, x, y));
}
