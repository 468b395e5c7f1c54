/* SPDX-License-Identifier: MIT */
/* Multi-head attention layers on [B,T,d]: linear attention (Katharopoulos et al.), softmax attention
 * and Linformer, each as projections (CLBlast) -> attention op -> output projection. The math and
 * the API: <ocla/layers.h>; docs/KERNELS.md, "FLASH, Linformer, softmax, layers". Temporaries: one
 * workspace in the layers' scratch slot (layer_common.h): nothing is allocated once it is large enough. */
#include <math.h>

#include "layer_common.h"

#define FN "ocla_mha_layer_forward"

void ocla_mha_layer_params_defaults(ocla_mha_layer_params *p, ocla_mha_kind kind) {
    if (p)
        *p = (ocla_mha_layer_params){.size = sizeof *p, .kind = kind, .heads = 1, .head_k = 64, .head_v = 64,
                                     .causal = kind == OCLA_MHA_LINFORMER ? 0 : 1, .scale = 1.0f,
                                     .feature_map = OCLA_FEATURE_ELU1, .normalize = 1, .eps = 1e-6f,
                                     .sharing = OCLA_LINFORMER_HEADWISE};
}

/* Options that do not depend on tensors; checked before any work is enqueued. */
static ocla_status check_params(ocla_context *ctx, const ocla_mha_layer_params *p) {
    if ((int)p->kind < OCLA_MHA_LINEAR || (int)p->kind > OCLA_MHA_LINFORMER)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.kind %d is not a known layer kind", (int)p->kind);
    if (p->heads < 1 || p->head_k < 1 || p->head_v < 1)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": heads (%d), head_k (%d) and head_v (%d) must be >= 1",
                          p->heads, p->head_k, p->head_v);
    if (p->causal != 0 && p->causal != 1)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.causal must be 0 or 1 (is %d)", p->causal);
    if (p->has_scale && !isfinite(p->scale))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.scale must be finite");
    if (p->kind == OCLA_MHA_LINEAR) {
        if ((int)p->feature_map < OCLA_FEATURE_IDENTITY || (int)p->feature_map > OCLA_FEATURE_RELU)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.feature_map %d is not a known feature map",
                              (int)p->feature_map);
        if (p->normalize && !(p->eps >= 0.0f && isfinite(p->eps)))
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.eps must be finite and >= 0 (is %g)",
                              (double)p->eps);
        if (p->chunk < 0)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.chunk must be >= 0 (is %d)", p->chunk);
        return OCLA_SUCCESS;
    }
    if (p->kind == OCLA_MHA_LINFORMER) {
        if (p->causal)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              FN ": causal Linformer is not defined (E and F mix every token, future ones included, "
                                 "into each projected row); use OCLA_MHA_LINEAR or OCLA_MHA_SOFTMAX for causal layers");
        if ((int)p->sharing < OCLA_LINFORMER_HEADWISE || (int)p->sharing > OCLA_LINFORMER_NONE)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.sharing %d is not a known sharing mode",
                              (int)p->sharing);
    }
    /* SOFTMAX and LINFORMER: the softmax block */
    if (p->block != 0 && p->block != 16 && p->block != 32 && p->block != 64)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": params.block %d (0, 16, 32 or 64)", p->block);
    return OCLA_SUCCESS;
}

/* o [B,T,H,V] = attention(q, k, v) of the layer's kind. */
static ocla_status attend(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                          const ocla_tensor *q, const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o) {
    switch (p->kind) {
    case OCLA_MHA_LINEAR: {
        ocla_attn_params ap;
        ocla_attn_params_defaults(&ap);
        ap.causal = p->causal;
        ap.has_scale = 1; /* the paper's layer has no scale: 1 unless the caller gives one */
        ap.scale = p->has_scale ? p->scale : 1.0f;
        ap.feature_map = p->feature_map;
        ap.normalize = p->normalize;
        ap.eps = p->eps;
        ap.form = OCLA_FORM_CHUNKED;
        ap.chunk = p->chunk;
        const ocla_attn_io io = {.q = q, .k = k, .v = v, .o = o};
        return ocla_attention_forward(ctx, &ap, &io);
    }
    case OCLA_MHA_SOFTMAX: { /* every field given */
        ocla_softmax_params sp;
        ocla_softmax_params_defaults(&sp);
        sp.causal = p->causal, sp.has_scale = p->has_scale, sp.scale = p->scale, sp.block = p->block;
        return ocla_softmax_attention(ctx, &sp, q, k, v, o);
    }
    case OCLA_MHA_LINFORMER: {
        ocla_linformer_params lp;
        ocla_linformer_params_defaults(&lp);
        lp.causal = 0, lp.has_scale = p->has_scale, lp.scale = p->scale, lp.sharing = p->sharing, lp.block = p->block;
        const ocla_linformer_io io = {q, k, v, w->E, w->F, o};
        return ocla_linformer_attention(ctx, &lp, &io);
    }
    }
    return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": unhandled kind %d", (int)p->kind);
}

static ocla_status forward(ocla_context *ctx, const ocla_mha_layer_params *p, const ocla_mha_layer_weights *w,
                           const ocla_tensor *x, ocla_tensor *y) {
    int64_t B = 0, T = 0, D = 0;
    ocla_status st = check_params(ctx, p);
    if (st == OCLA_SUCCESS) st = ocla__layer_check_io(ctx, FN, x, y, &B, &T, &D);
    const int64_t H = p->heads, K = p->head_k, V = p->head_v;
    const ocla__layer_weight weights[] = {
        {w->w_q, "w_q", "[d, H*K]", D, H * K, 0}, {w->w_k, "w_k", "[d, H*K]", D, H * K, 0},
        {w->w_v, "w_v", "[d, H*V]", D, H * V, 0}, {w->w_o, "w_o", "[H*V, d]", H * V, D, 0},
        {w->b_q, "b_q", "[H*K]", H * K, -1, 1},   {w->b_k, "b_k", "[H*K]", H * K, -1, 1},
        {w->b_v, "b_v", "[H*V]", H * V, -1, 1},   {w->b_o, "b_o", "[d]", D, -1, 1}};
    ocla_io_set set = {.in = {x, w->E, w->F}, .in_name = {"x", "E", "F"}, .out = {y}, .out_name = {"y"}, .n_in = 3,
                       .n_out = 1};
    if (st == OCLA_SUCCESS) st = ocla__layer_check_weights(ctx, FN, weights, 8, &set);
    const ocla_tensor *F_used; /* the op picks it again from the sharing */
    if (st == OCLA_SUCCESS && p->kind == OCLA_MHA_LINFORMER)
        st = ocla__linformer_check_ef(ctx, FN, p->sharing, w->E, w->F, H, T, OCLA_ERR_SHAPE, &F_used);
    else if (st == OCLA_SUCCESS && (w->E || w->F))
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": weights.E / weights.F are for OCLA_MHA_LINFORMER only");
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
    if ((st = attend(ctx, p, w, &q4, &k4, &v4, &o4)) != OCLA_SUCCESS) return st;
    return ocla__layer_project(ctx, o, w->w_o, w->b_o, y);
}

ocla_status ocla_mha_layer_forward(ocla_context *ctx, const ocla_mha_layer_params *params,
                                   const ocla_mha_layer_weights *weights, const ocla_tensor *x, ocla_tensor *y) {
    ocla_mha_layer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_MHA_LAYER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, weights, forward(ctx, params, weights, x, y));
}
