/* SPDX-License-Identifier: MIT */
/* GLA layer: projections (CLBlast), low-rank logsigmoid gate, chunked GLA, per-head RMSNorm with a
 * swish output gate (kernels_cl/gla_layer.cl), output projection. See <ocla/layers.h> for the math.
 * Temporaries: one workspace in the layers' scratch slot (layer_common.h): nothing is allocated once
 * it is large enough. */

#include "layer_gla.h"
#include "layer_half.h"

#define FN "ocla_gla_layer_forward"


void ocla_gla_layer_params_defaults(ocla_gla_layer_params *p) {
    if (p)
        *p = (ocla_gla_layer_params){.size = sizeof *p, .heads = 1, .head_k = 64, .head_v = 64, .gate_tau = 16.0f,
                                     .norm_eps = 1e-5f, .form = OCLA_FORM_CHUNKED};
}

ocla_status ocla__gla_check(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                            const ocla_gla_layer_weights *w, int64_t D, int64_t *R, ocla_io_set *set) {
    const int64_t H = p->heads, K = p->head_k, V = p->head_v;
    if (H < 1 || K < 1 || V < 1 || !(p->gate_tau > 0) || !(p->norm_eps > 0))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: heads, head_k, head_v, gate_tau and norm_eps must be positive", fn);
    ocla_status st = ocla__check_tensor(ctx, w->w_g1, "w_g1 [d, R]", 2, NULL);
    if (st != OCLA_SUCCESS) return st;
    *R = w->w_g1->dims[1];
    const ocla__layer_weight weights[] = {
        {w->w_q, "w_q", "[d, H*K]", D, H * K, 0},   {w->w_k, "w_k", "[d, H*K]", D, H * K, 0},
        {w->w_v, "w_v", "[d, H*V]", D, H * V, 0},   {w->w_r, "w_r", "[d, H*V]", D, H * V, 0},
        {w->w_g1, "w_g1", "[d, R]", D, *R, 0},      {w->w_g2, "w_g2", "[R, H*K], R of w_g1", *R, H * K, 0},
        {w->b_g2, "b_g2", "[H*K]", H * K, -1, 1},   {w->norm_w, "norm_w", "[V]", V, -1, 0},
        {w->w_o, "w_o", "[H*V, d]", H * V, D, 0}};
    return ocla__layer_check_weights(ctx, fn, weights, 9, set);
}

void ocla__gla_ws_add(ocla__layer_ws *ws, int64_t B, int64_t T, const ocla_gla_layer_params *p, int64_t R,
                      ocla__gla_tensors *t) {
    const int64_t H = p->heads, dk[3] = {B, T, H * p->head_k}, dv[3] = {B, T, H * p->head_v}, dr[3] = {B, T, R};
    t->q = ocla__layer_ws_add(ws, 3, dk), t->k = ocla__layer_ws_add(ws, 3, dk);
    t->v = ocla__layer_ws_add(ws, 3, dv), t->r = ocla__layer_ws_add(ws, 3, dv);
    t->lr = ocla__layer_ws_add(ws, 3, dr), t->gl = ocla__layer_ws_add(ws, 3, dk);
    t->g = ocla__layer_ws_add(ws, 3, dk), t->o = ocla__layer_ws_add(ws, 3, dv);
    t->u = ocla__layer_ws_add(ws, 3, dv);
}

void ocla__gla_attn_params(const ocla_gla_layer_params *p, ocla_attn_params *ap) {
    ocla_attn_params_defaults(ap);
    ap->gate = OCLA_GATE_VECTOR;
    ap->form = p->form;
    ap->chunk = p->chunk;
    ap->cu_seqlens = p->cu_seqlens, ap->n_seqs = p->n_seqs;
    ap->state_slots = p->state_slots, ap->n_state_slots = p->n_state_slots;
}

ocla_status ocla__gla_forward_steps(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                                    const ocla_tensor *x, const ocla__gla_tensors *t, ocla_tensor *final_state) {
    const int64_t H = p->heads, K = p->head_k, V = p->head_v, rows = t->q->dims[0] * t->q->dims[1] * H;
    ocla_status st;
    /* projections */
    if ((st = ocla_linear_forward(ctx, x, w->w_q, t->q)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, x, w->w_k, t->k)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, x, w->w_v, t->v)) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, x, w->w_r, t->r)) != OCLA_SUCCESS)
        return st;
    /* gate: logsigmoid(x Wg1 Wg2 + b) / tau */
    if ((st = ocla_linear_forward(ctx, x, w->w_g1, t->lr)) != OCLA_SUCCESS ||
        (st = ocla__layer_project(ctx, t->lr, w->w_g2, w->b_g2, t->gl)) != OCLA_SUCCESS ||
        (st = ocla_gate_logsigmoid(ctx, t->gl, t->g, p->gate_tau)) != OCLA_SUCCESS)
        return st;
    /* attention over [B,T,H,D] views */
    struct ocla_tensor q4, k4, v4, g4, o4;
    ocla__layer_heads(t->q, 0, H, K, &q4), ocla__layer_heads(t->k, 0, H, K, &k4), ocla__layer_heads(t->v, 0, H, V, &v4);
    ocla__layer_heads(t->g, 0, H, K, &g4), ocla__layer_heads(t->o, 0, H, V, &o4);
    ocla_attn_params ap;
    ocla__gla_attn_params(p, &ap);
    const ocla_attn_io io = {.q = &q4, .k = &k4, .v = &v4, .g = &g4, .o = &o4, .initial_state = p->initial_state,
                             .final_state = final_state};
    if ((st = ocla_attention_forward(ctx, &ap, &io)) != OCLA_SUCCESS) return st;
    /* per-head RMSNorm and swish gate */
    ocla_args a;
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gla_layer, "gla_norm_gate", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, V), ocla__push_float(&a, p->norm_eps);
    ocla__push_tensor(&a, t->o, NULL, 0), ocla__push_tensor(&a, t->r, NULL, 0), ocla__push_tensor(&a, w->norm_w, NULL, 0);
    ocla__push_tensor(&a, t->u, NULL, 0);
    const size_t n = (size_t)rows;
    return ocla__layer_launch(&a, 1, &n, NULL, "GLA layer norm and gate");
}

static ocla_status forward(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                           const ocla_tensor *x, ocla_tensor *y) {
    if (x && x->dtype != OCLA_F32) OCLA__HALF_FORWARD(gla, forward, ctx, FN, p, w, x, y); /* returns; layer_half.h */
    int64_t B = 0, T = 0, D = 0, R = 0;
    ocla_status st = ocla__layer_check_io(ctx, FN, x, y, &B, &T, &D);
    if (st != OCLA_SUCCESS) return st;
    /* y and final_state apart from x, the weights and initial_state (final_state may be initial_state) */
    ocla_io_set set = {.in = {x, p->initial_state}, .in_name = {"x", "initial_state"}, .in_place = {[1] = 2},
                       .out = {y, p->final_state}, .out_name = {"y", "final_state"}, .n_in = 2, .n_out = 2};
    if ((st = ocla__gla_check(ctx, FN, p, w, D, &R, &set)) != OCLA_SUCCESS ||
        (st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS)
        return st;
    if (B * T * p->heads > INT32_MAX)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": B*T*H = %lld rows beyond the kernels' int sizes",
                          (long long)(B * T * p->heads));
    ocla__layer_ws ws = {.ctx = ctx};
    ocla__gla_tensors t;
    ocla__gla_ws_add(&ws, B, T, p, R, &t);
    if ((st = ocla__layer_ws_get(&ws, FN)) != OCLA_SUCCESS ||
        (st = ocla__gla_forward_steps(ctx, p, w, x, &t, p->final_state)) != OCLA_SUCCESS)
        return st;
    return ocla_linear_forward(ctx, t.u, w->w_o, y);
}

ocla_status ocla_gla_layer_forward(ocla_context *ctx, const ocla_gla_layer_params *params,
                                   const ocla_gla_layer_weights *weights, const ocla_tensor *x, ocla_tensor *y) {
    ocla_gla_layer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_GLA_LAYER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, weights, forward(ctx, params, weights, x, y));
}
