/* GLA layer: projections (CLBlast), low-rank logsigmoid gate, chunked GLA, per-head RMSNorm with a
 * swish output gate, output projection. See <ocla/layers.h> for the math. */
#include <stdio.h>

#include "internal.h"

void ocla_gla_layer_params_defaults(ocla_gla_layer_params *p) {
    if (!p) return;
    *p = (ocla_gla_layer_params){0};
    p->heads = 1;
    p->head_k = p->head_v = 64;
    p->gate_tau = 16.0f;
    p->norm_eps = 1e-5f;
    p->form = OCLA_FORM_CHUNKED;
}

static ocla_status check_weight(ocla_context *ctx, const ocla_tensor *t, const char *name, int64_t rows,
                                int64_t cols) {
    int64_t want[2] = {rows, cols};
    ocla_status st = ocla__check_tensor(ctx, t, name, cols >= 0 ? 2 : 1, cols >= 0 ? want : &want[0]);
    if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(t))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must be dense row-major", name);
    if (st == OCLA_SUCCESS && cols < 0 && t->offset != 0) /* read by our own elementwise kernels */
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must start at the beginning of its buffer", name);
    return st;
}

/* A new dense tensor of 3 dims (released by the caller). */
static ocla_status tmp3(ocla_context *ctx, int64_t a, int64_t b, int64_t c, ocla_tensor **out) {
    int64_t d[3] = {a, b, c};
    return ocla_tensor_create(ctx, OCLA_F32, 3, d, out);
}

/* A [B,T,H,D] view of a dense [B,T,H*D] tensor. */
static ocla_status heads_view(ocla_context *ctx, const ocla_tensor *t, int64_t H, int64_t D, ocla_tensor **out) {
    int64_t d[4] = {t->dims[0], t->dims[1], H, D};
    return ocla_tensor_view(ctx, t, 0, 4, d, NULL, out);
}

ocla_status ocla_gla_layer_forward(ocla_context *ctx, const ocla_gla_layer_params *p, const ocla_gla_layer_weights *w,
                                   const ocla_tensor *x, ocla_tensor *y) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_gla_layer_forward: ctx is NULL");
    if (!p || !w)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_gla_layer_forward: %s is NULL", !p ? "params" : "weights");
    if (p->heads < 1 || p->head_k < 1 || p->head_v < 1 || !(p->gate_tau > 0) || !(p->norm_eps > 0))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_gla_layer_forward: heads, head_k, head_v, gate_tau and norm_eps must be positive");
    OCLA_LOCK(ctx);
    ocla_status st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    const int64_t H = p->heads, K = p->head_k, V = p->head_v;
    int64_t B = 0, T = 0, D = 0, R = 0;
    if (st == OCLA_SUCCESS) {
        B = x->dims[0], T = x->dims[1], D = x->dims[2];
        int64_t yd[3] = {B, T, D};
        if (!ocla__tensor_is_contiguous(x)) st = ocla__fail(ctx, OCLA_ERR_SHAPE, "x must be dense [B,T,d]");
        if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, y, "y", 3, yd);
        if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(y))
            st = ocla__fail(ctx, OCLA_ERR_SHAPE, "y must be dense [B,T,d]");
    }
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_q, "w_q", D, H * K);
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_k, "w_k", D, H * K);
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_v, "w_v", D, H * V);
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_r, "w_r", D, H * V);
    if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, w->w_g1, "w_g1", 2, NULL);
    if (st == OCLA_SUCCESS) {
        R = w->w_g1->dims[1];
        st = check_weight(ctx, w->w_g1, "w_g1", D, R);
    }
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_g2, "w_g2", R, H * K);
    if (st == OCLA_SUCCESS && w->b_g2) st = check_weight(ctx, w->b_g2, "b_g2", H * K, -1);
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->norm_w, "norm_w", V, -1);
    if (st == OCLA_SUCCESS) st = check_weight(ctx, w->w_o, "w_o", H * V, D);

    ocla_tensor *q = NULL, *k = NULL, *v = NULL, *r = NULL, *lr = NULL, *gl = NULL, *g = NULL, *o = NULL, *u = NULL;
    ocla_tensor *q4 = NULL, *k4 = NULL, *v4 = NULL, *g4 = NULL, *o4 = NULL;
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * K, &q);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * K, &k);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * V, &v);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * V, &r);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, R, &lr);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * K, &gl);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * K, &g);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * V, &o);
    if (st == OCLA_SUCCESS) st = tmp3(ctx, B, T, H * V, &u);
    /* projections */
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w->w_q, q);
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w->w_k, k);
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w->w_v, v);
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w->w_r, r);
    /* gate: logsigmoid(x Wg1 Wg2 + b) / tau */
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w->w_g1, lr);
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, lr, w->w_g2, gl);
    if (st == OCLA_SUCCESS && w->b_g2) {
        cl_kernel kb;
        st = ocla__get_kernel(ctx, "layers", "", "add_bias_rows", &kb);
        int rows = (int)(B * T), cols = (int)(H * K);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kb, 0, rows);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kb, 1, cols);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kb, 2, gl->mem);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kb, 3, w->b_g2->mem);
        size_t n = (size_t)rows * (size_t)cols;
        if (st == OCLA_SUCCESS) st = ocla__launch(ctx, kb, 1, &n, NULL, "GLA layer gate bias");
    }
    if (st == OCLA_SUCCESS) st = ocla_gate_logsigmoid(ctx, gl, g, p->gate_tau);
    /* attention over [B,T,H,D] views */
    if (st == OCLA_SUCCESS) st = heads_view(ctx, q, H, K, &q4);
    if (st == OCLA_SUCCESS) st = heads_view(ctx, k, H, K, &k4);
    if (st == OCLA_SUCCESS) st = heads_view(ctx, v, H, V, &v4);
    if (st == OCLA_SUCCESS) st = heads_view(ctx, g, H, K, &g4);
    if (st == OCLA_SUCCESS) st = heads_view(ctx, o, H, V, &o4);
    if (st == OCLA_SUCCESS) {
        ocla_attn_params ap;
        ocla_attn_params_defaults(&ap);
        ap.gate = OCLA_GATE_VECTOR;
        ap.form = p->form;
        ap.chunk = p->chunk;
        ocla_attn_io io = {0};
        io.q = q4, io.k = k4, io.v = v4, io.g = g4, io.o = o4;
        io.initial_state = p->initial_state, io.final_state = p->final_state;
        st = ocla_attention_forward(ctx, &ap, &io);
    }
    /* per-head RMSNorm and swish gate, then the output projection */
    if (st == OCLA_SUCCESS) {
        cl_kernel kn;
        st = ocla__get_kernel(ctx, "layers", "", "gla_norm_gate", &kn);
        int rows = (int)(B * T * H), vv = (int)V;
        float eps = p->norm_eps;
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 0, rows);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 1, vv);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 2, eps);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 3, o->mem);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 4, r->mem);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 5, w->norm_w->mem);
        if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, kn, 6, u->mem);
        size_t n = (size_t)rows;
        if (st == OCLA_SUCCESS) st = ocla__launch(ctx, kn, 1, &n, NULL, "GLA layer norm and gate");
    }
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, u, w->w_o, y);
    ocla_tensor *all[] = {q4, k4, v4, g4, o4, q, k, v, r, lr, gl, g, o, u};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    OCLA_UNLOCK(ctx);
    return st;
}
