/* SPDX-License-Identifier: MIT */
/* fla's GatedLinearAttention (fla/layers/gla.py) with the options ocla_gla_layer_forward has no form
 * for, as a model layer (model_internal.h): per token rows h [B,T,d],
 *   q, k, v = h Wq, h Wk, h Wv                                  CLBlast (k, v widened to every head)
 *   use_short_conv: q, k, v = silu(causal depthwise conv)       model_short_conv, from and into the
 *                                                               layer's conv_state (model_conv_state)
 *   g = logsigmoid((h Wg1) Wg2 + b) / tau                       CLBlast, ocla_gate_logsigmoid
 *   clamp_min: g = max(g, clamp_min)                            model_map op 7
 *   feature_map: q, k = phi(q), phi(k)                          model_map op 1..6
 *   o = GLA(q, k, v, g), scale K^-1/2                           ocla_attention_forward, from the state
 *   use_output_gate: u = RMSNorm_V(o) w silu(h Wr)              gla_norm_gate (the GLA layer's kernel)
 *   else:            u = RMSNorm_V(o) w                         model_add_rmsnorm per head (fla's g_norm)
 *   y = u Wo
 * in fla's order (the convolutions on the projections, the clamp after the normaliser, the feature map
 * after the gate, on q and k only). fla's GLABlock passes no conv_bias: the convolutions have none. */
#include <stdlib.h>
#include <string.h>

#include "layer_common.h"
#include "model_internal.h"

#define FN "ocla_model (GLA options)"

enum { TQ, TK, TV, TR, TLR, TGL, TG, TO, TU, TQRAW, TKRAW, TVRAW, T_COUNT };
_Static_assert(T_COUNT <= OCLA__MODEL_ATTN_TMP, "OCLA__MODEL_ATTN_TMP too small");

int ocla__model_attn_needed(const ocla_gla_config *c) {
    return c->feature_map != OCLA_MODEL_FMAP_NONE || c->use_short_conv || !c->use_output_gate || c->has_clamp_min;
}

void ocla__model_attn_free(ocla__model_attn *m) {
    for (int i = 0; i < OCLA__MODEL_ATTN_TMP; i++) ocla_tensor_destroy(m->t[i]), m->t[i] = NULL, m->cap[i] = 0;
    if (m->info) clReleaseMemObject(m->info);
    m->info = NULL, m->info_cap = 0;
}

/* temporary i as a dense [B, T, C] tensor (grown when needed), on the caller's stack in *v */
static ocla_status tmp(ocla_context *ctx, ocla__model_attn *m, int i, int64_t B, int64_t T, int64_t C,
                       struct ocla_tensor *v) {
    const int64_t n = B * T * C;
    if (m->cap[i] < n) {
        ocla_tensor_destroy(m->t[i]);
        m->t[i] = NULL, m->cap[i] = 0;
        const ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 1, &n, &m->t[i]);
        if (st != OCLA_SUCCESS) return st;
        m->cap[i] = n;
    }
    *v = *m->t[i];
    v->offset = 0, v->ndim = 3, v->dims[0] = B, v->dims[1] = T, v->dims[2] = C;
    v->strides[0] = T * C, v->strides[1] = C, v->strides[2] = 1;
    return OCLA_SUCCESS;
}

/* x[i] = op(x[i]) in place (model_map) */
static ocla_status map(ocla_context *ctx, int op, float c, ocla_tensor *x) {
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_model, "model_map", &a);
    if (st != OCLA_SUCCESS) return st;
    const int64_t n = x->dims[0] * x->dims[1] * x->dims[2];
    ocla__push_long(&a, n), ocla__push_int(&a, op), ocla__push_float(&a, c), ocla__push_tensor(&a, x, NULL, 0);
    const size_t global = (size_t)n;
    return ocla__layer_launch(&a, 1, &global, NULL, "model feature map");
}

/* The convolutions' table: per token row its slot and position, then per sequence its slot, end row
 * and length (kernels_cl/model.cl model_short_conv, model_conv_state). */
static ocla_status upload_info(ocla_context *ctx, ocla__model_attn *m, const ocla__model_rows *b, int *n_seqs) {
    const int64_t R = b->B * b->T;
    const int N = b->cu ? b->n_seqs : (int)b->B;
    int32_t *info = malloc((size_t)(2 * R + 3 * (int64_t)N) * sizeof *info);
    if (!info) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, FN ": host memory for the convolutions' table");
    for (int n = 0; n < N; n++) {
        const int64_t begin = b->cu ? b->cu[n] : n * b->T, end = b->cu ? b->cu[n + 1] : (n + 1) * b->T;
        const int32_t slot = b->slots ? b->slots[n] : n;
        for (int64_t r = begin; r < end; r++) info[2 * r] = slot, info[2 * r + 1] = (int32_t)(r - begin);
        int32_t *seq = info + 2 * R + 3 * n;
        seq[0] = slot, seq[1] = (int32_t)end, seq[2] = (int32_t)(end - begin);
    }
    const ocla_status st = ocla__model_upload_ints(ctx, &m->info, &m->info_cap, info, 2 * R + 3 * (int64_t)N,
                                                   "the convolutions' table");
    free(info);
    *n_seqs = N;
    return st;
}

/* y = silu(conv(x)) from conv_state, then conv_state = the last W - 1 inputs of each sequence */
static ocla_status short_conv(ocla_context *ctx, ocla__model_attn *m, const ocla__model_rows *b, int n_seqs,
                              const ocla_tensor *x, const ocla_tensor *w, ocla_tensor *state, ocla_tensor *y) {
    const int64_t R = b->B * b->T, C = x->dims[2];
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_model, "model_short_conv", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, R), ocla__push_int(&a, C), ocla__push_int(&a, m->W), ocla__push_mem(&a, m->info);
    ocla__push_tensor(&a, x, NULL, 0), ocla__push_tensor(&a, w, NULL, 0), ocla__push_tensor(&a, state, NULL, 0);
    ocla__push_tensor(&a, y, NULL, 0);
    const size_t global = (size_t)(R * C);
    if ((st = ocla__layer_launch(&a, 1, &global, NULL, "model short convolution")) != OCLA_SUCCESS) return st;
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_model, "model_conv_state", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, n_seqs), ocla__push_int(&a, C), ocla__push_int(&a, m->W), ocla__push_mem(&a, m->info);
    ocla__push_int(&a, 2 * R), ocla__push_tensor(&a, x, NULL, 0), ocla__push_tensor(&a, state, NULL, 0);
    const size_t states = (size_t)n_seqs * (size_t)C;
    return ocla__layer_launch(&a, 1, &states, NULL, "model short convolution state");
}

ocla_status ocla__model_attn_forward(ocla_context *ctx, ocla__model_attn *m, const ocla__model_layer *ly,
                                     const ocla__model_rows *b, ocla_attn_form form, const ocla_tensor *h3,
                                     ocla_tensor *a3) {
    const int64_t B = b->B, T = b->T, HK = m->H * m->K, HV = m->H * m->V, rank = ly->wg1->dims[1];
    if (B * T * (HK > HV ? HK : HV) > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": %lld x %lld rows of %lld values beyond the kernels' int sizes",
                          (long long)B, (long long)T, (long long)(HK > HV ? HK : HV));
    struct ocla_tensor t[T_COUNT];
    memset(t, 0, sizeof t);
    const int64_t width[T_COUNT] = {HK, HK, HV, HV, rank, HK, HK, HV, HV, HK, HK, HV};
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i < T_COUNT && st == OCLA_SUCCESS; i++)
        if ((i != TR || m->use_output_gate) && (i < TQRAW || m->W))
            st = tmp(ctx, m, i, B, T, width[i], &t[i]);
    if (st != OCLA_SUCCESS) return st;
    /* projections, through the short convolutions when the config has them */
    const int conv = m->W > 0;
    int n_seqs = 0;
    if ((st = ocla_linear_forward(ctx, h3, ly->wq, &t[conv ? TQRAW : TQ])) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, h3, ly->wk, &t[conv ? TKRAW : TK])) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, h3, ly->wv, &t[conv ? TVRAW : TV])) != OCLA_SUCCESS)
        return st;
    if (conv && ((st = upload_info(ctx, m, b, &n_seqs)) != OCLA_SUCCESS ||
                 (st = short_conv(ctx, m, b, n_seqs, &t[TQRAW], ly->conv_w[0], ly->conv_state[0], &t[TQ])) != OCLA_SUCCESS ||
                 (st = short_conv(ctx, m, b, n_seqs, &t[TKRAW], ly->conv_w[1], ly->conv_state[1], &t[TK])) != OCLA_SUCCESS ||
                 (st = short_conv(ctx, m, b, n_seqs, &t[TVRAW], ly->conv_w[2], ly->conv_state[2], &t[TV])) != OCLA_SUCCESS))
        return st;
    /* gate, its lower bound, the feature map */
    if ((st = ocla_linear_forward(ctx, h3, ly->wg1, &t[TLR])) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, &t[TLR], ly->wg2, ly->bg2, &t[TGL])) != OCLA_SUCCESS ||
        (st = ocla_gate_logsigmoid(ctx, &t[TGL], &t[TG], m->tau)) != OCLA_SUCCESS ||
        (m->has_clamp && (st = map(ctx, 7, m->clamp_min, &t[TG])) != OCLA_SUCCESS) ||
        (m->feature_map && ((st = map(ctx, m->feature_map, 0.0f, &t[TQ])) != OCLA_SUCCESS ||
                            (st = map(ctx, m->feature_map, 0.0f, &t[TK])) != OCLA_SUCCESS)))
        return st;
    /* attention over [B,T,H,D] views, from and into the layer's state */
    struct ocla_tensor q4, k4, v4, g4, o4;
    ocla__layer_heads(&t[TQ], 0, m->H, m->K, &q4), ocla__layer_heads(&t[TK], 0, m->H, m->K, &k4);
    ocla__layer_heads(&t[TV], 0, m->H, m->V, &v4), ocla__layer_heads(&t[TG], 0, m->H, m->K, &g4);
    ocla__layer_heads(&t[TO], 0, m->H, m->V, &o4);
    ocla_attn_params ap;
    ocla_attn_params_defaults(&ap);
    ap.gate = OCLA_GATE_VECTOR, ap.form = form;
    ap.cu_seqlens = b->cu, ap.n_seqs = b->n_seqs, ap.state_slots = b->slots, ap.n_state_slots = b->n_slots;
    const ocla_attn_io io = {.q = &q4, .k = &k4, .v = &v4, .g = &g4, .o = &o4, .initial_state = ly->state,
                             .final_state = ly->state};
    if ((st = ocla_attention_forward(ctx, &ap, &io)) != OCLA_SUCCESS) return st;
    /* per-head RMSNorm, with or without the swish output gate, then the output projection */
    const int64_t rows = B * T * m->H;
    if (m->use_output_gate) {
        ocla_args a;
        if ((st = ocla_linear_forward(ctx, h3, ly->wr, &t[TR])) != OCLA_SUCCESS ||
            (st = ocla__layer_kernel(ctx, &ocla__fam_gla_layer, "gla_norm_gate", &a)) != OCLA_SUCCESS)
            return st;
        ocla__push_int(&a, rows), ocla__push_int(&a, m->V), ocla__push_float(&a, m->eps);
        ocla__push_tensor(&a, &t[TO], NULL, 0), ocla__push_tensor(&a, &t[TR], NULL, 0);
        ocla__push_tensor(&a, ly->gnorm, NULL, 0), ocla__push_tensor(&a, &t[TU], NULL, 0);
        const size_t n = (size_t)rows;
        st = ocla__layer_launch(&a, 1, &n, NULL, "model norm and gate");
    } else {
        st = ocla__model_rmsnorm(ctx, m->lanes, rows, m->V, m->eps, 0, 1, 0, &t[TO], &t[TO], ly->gnorm, &t[TU]);
    }
    return st != OCLA_SUCCESS ? st : ocla_linear_forward(ctx, &t[TU], ly->wo, a3);
}
