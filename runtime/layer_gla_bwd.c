/* SPDX-License-Identifier: MIT */
/* Backward of the GLA layer (<ocla/layers.h>, ocla_gla_layer_backward): the forward's intermediates
 * recomputed (ocla__gla_forward_steps, runtime/layer_gla.c), then back through
 *   y = u Wo                      du = dy Wo^T, dWo = u^T dy                  (CLBlast)
 *   u = RMSNorm(o) w silu(r)      do, dr, dw (kernels_cl/layer_bwd.cl gla_norm_gate_bwd + column sums)
 *   o = GLA(q, k, v, g; h0)       dq, dk, dv, dg, dh0 (ocla_attention_backward)
 *   g = logsigmoid(gl) / tau      dgl (ocla_gate_logsigmoid_backward)
 *   gl = lr Wg2 + b, lr = x Wg1   dlr, dWg2, db, dWg1
 *   dx = dq Wq^T + dk Wk^T + dv Wv^T + dr Wr^T + dlr Wg1^T, dWq = x^T dq, ...
 * Temporaries: the intermediates in scratch slot OCLA_LAYER_BWD_SLOT, the gradients of intermediates in
 * the next one (layer_bwd_common.h); nothing is allocated once they are large enough. */
#include "layer_bwd_common.h"
#include "layer_gla.h"
#include "layer_half.h"

#define FN "ocla_gla_layer_backward"

static ocla_status check(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                         const ocla_tensor *x, const ocla_tensor *dy, const ocla_tensor *dx,
                         const ocla_gla_layer_grads *g, int64_t dims[4]) {
    ocla_status st = ocla__layer_check_grad_io(ctx, FN, x, dy, dx, &dims[0], &dims[1], &dims[2]);
    ocla_io_set set = {.in = {x, dy, p->initial_state}, .in_name = {"x", "dy", "initial_state"}, .n_in = 3,
                       .out = {dx, g->w_q, g->w_k, g->w_v, g->w_r, g->w_g1, g->w_g2, g->b_g2, g->norm_w, g->w_o,
                               g->initial_state},
                       .out_name = {"dx", "grads.w_q", "grads.w_k", "grads.w_v", "grads.w_r", "grads.w_g1",
                                    "grads.w_g2", "grads.b_g2", "grads.norm_w", "grads.w_o", "grads.initial_state"},
                       .n_out = 11};
    if (st == OCLA_SUCCESS) st = ocla__gla_check(ctx, FN, p, w, dims[2], &dims[3], &set);
    const ocla_tensor *const gw[10] = {g->w_q,  g->w_k, g->w_v,    g->w_r, g->w_g1,
                                       g->w_g2, g->b_g2, g->norm_w, g->w_o, g->initial_state};
    const ocla_tensor *const ww[10] = {w->w_q,  w->w_k, w->w_v,    w->w_r, w->w_g1,
                                       w->w_g2, w->b_g2, w->norm_w, w->w_o, p->initial_state};
    static const char *const names[10] = {"w_q", "w_k", "w_v", "w_r", "w_g1", "w_g2", "b_g2", "norm_w", "w_o",
                                          "initial_state"};
    for (int i = 0; i < 10 && st == OCLA_SUCCESS; i++) st = ocla__layer_check_grad(ctx, FN, names[i], gw[i], ww[i]);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    if (st == OCLA_SUCCESS && dims[0] * dims[1] * p->heads > INT32_MAX)
        st = ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": B*T*H = %lld rows beyond the kernels' int sizes",
                        (long long)(dims[0] * dims[1] * p->heads));
    return st;
}

/* do, dr and (over du) the rows' terms of dw, from du: the backward of gla_norm_gate. */
static ocla_status norm_gate_backward(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_tensor *norm_w,
                                      const ocla__gla_tensors *t, ocla_tensor *du, ocla_tensor *d_o, ocla_tensor *dr) {
    const int64_t rows = t->o->dims[0] * t->o->dims[1] * p->heads;
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_layer_bwd, "gla_norm_gate_bwd", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, p->head_v), ocla__push_float(&a, p->norm_eps);
    ocla__push_tensor(&a, t->o, NULL, 0), ocla__push_tensor(&a, t->r, NULL, 0), ocla__push_tensor(&a, norm_w, NULL, 0);
    ocla__push_tensor(&a, du, NULL, 0), ocla__push_tensor(&a, d_o, NULL, 0), ocla__push_tensor(&a, dr, NULL, 0);
    const size_t n = (size_t)rows;
    return ocla__layer_launch(&a, 1, &n, NULL, "GLA layer norm and gate backward");
}

static ocla_status backward(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                            const ocla_tensor *x, const ocla_tensor *dy, ocla_tensor *dx,
                            const ocla_gla_layer_grads *grads) {
    if (x && x->dtype != OCLA_F32) /* returns; layer_half.h */
        OCLA__HALF_BACKWARD(gla, backward, ctx, FN, p, w, x, dy, dx, grads);
    const ocla_gla_layer_grads none = {0};
    const ocla_gla_layer_grads *g = grads ? grads : &none;
    int64_t dims[4] = {0, 0, 0, 0};
    ocla_status st = check(ctx, p, w, x, dy, dx, g, dims);
    if (st != OCLA_SUCCESS) return st;
    const int64_t B = dims[0], T = dims[1], R = dims[3], H = p->heads, K = p->head_k, V = p->head_v;
    ocla__layer_ws fwd = {.ctx = ctx}, bwd = {.ctx = ctx};
    ocla__gla_tensors t, d; /* the intermediates and their gradients (d.u: du, then the rows' terms of dw) */
    ocla__gla_ws_add(&fwd, B, T, p, R, &t);
    ocla__gla_ws_add(&bwd, B, T, p, R, &d);
    if ((st = ocla__layer_ws_get_in(&fwd, OCLA_LAYER_BWD_SLOT, FN)) != OCLA_SUCCESS ||
        (st = ocla__layer_ws_get_in(&bwd, OCLA_LAYER_BWD_SLOT + 1, FN)) != OCLA_SUCCESS ||
        (st = ocla__gla_forward_steps(ctx, p, w, x, &t, NULL)) != OCLA_SUCCESS)
        return st;
    /* output projection, norm and gate */
    if ((st = ocla__layer_project_backward(ctx, t.u, w->w_o, dy, d.u, 0, g->w_o, NULL)) != OCLA_SUCCESS ||
        (st = norm_gate_backward(ctx, p, w->norm_w, &t, d.u, d.o, d.r)) != OCLA_SUCCESS)
        return st;
    if (g->norm_w) { /* the sum of the rows' terms over B*T*H rows of V */
        struct ocla_tensor terms = *d.u;
        terms.ndim = 2, terms.dims[0] = B * T * H, terms.dims[1] = V, terms.strides[0] = V, terms.strides[1] = 1;
        if ((st = ocla__layer_colsum(ctx, &terms, g->norm_w)) != OCLA_SUCCESS) return st;
    }
    /* attention */
    struct ocla_tensor q4, k4, v4, g4, do4, dq4, dk4, dv4, dg4;
    ocla__layer_heads(t.q, 0, H, K, &q4), ocla__layer_heads(t.k, 0, H, K, &k4), ocla__layer_heads(t.v, 0, H, V, &v4);
    ocla__layer_heads(t.g, 0, H, K, &g4), ocla__layer_heads(d.o, 0, H, V, &do4);
    ocla__layer_heads(d.q, 0, H, K, &dq4), ocla__layer_heads(d.k, 0, H, K, &dk4), ocla__layer_heads(d.v, 0, H, V, &dv4);
    ocla__layer_heads(d.g, 0, H, K, &dg4);
    ocla_attn_params ap;
    ocla__gla_attn_params(p, &ap);
    const ocla_attn_grad_io io = {.q = &q4, .k = &k4, .v = &v4, .g = &g4, .initial_state = p->initial_state,
                                  .d_o = &do4, .dq = &dq4, .dk = &dk4, .dv = &dv4, .dg = &dg4,
                                  .d_initial_state = g->initial_state};
    if ((st = ocla_attention_backward(ctx, &ap, &io)) != OCLA_SUCCESS) return st;
    /* gate, then every projection of x */
    if ((st = ocla_gate_logsigmoid_backward(ctx, t.gl, d.g, d.gl, p->gate_tau)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, t.lr, w->w_g2, d.gl, d.lr, 0, g->w_g2, g->b_g2)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, x, w->w_q, d.q, dx, 0, g->w_q, NULL)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, x, w->w_k, d.k, dx, 1, g->w_k, NULL)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, x, w->w_v, d.v, dx, 1, g->w_v, NULL)) != OCLA_SUCCESS ||
        (st = ocla__layer_project_backward(ctx, x, w->w_r, d.r, dx, 1, g->w_r, NULL)) != OCLA_SUCCESS)
        return st;
    return ocla__layer_project_backward(ctx, x, w->w_g1, d.lr, dx, 1, g->w_g1, NULL);
}

ocla_status ocla_gla_layer_backward(ocla_context *ctx, const ocla_gla_layer_params *params,
                                    const ocla_gla_layer_weights *weights,
                                    const ocla_tensor *x, const ocla_tensor *dy, ocla_tensor *dx,
                                    const ocla_gla_layer_grads *grads) {
    ocla_gla_layer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_GLA_LAYER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, weights, backward(ctx, params, weights, x, dy, dx, grads));
}
