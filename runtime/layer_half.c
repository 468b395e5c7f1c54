/* SPDX-License-Identifier: MIT */
/* The layers in half precision, converted at their boundary (runtime/layer_half.h). */
#include "layer_half.h"

/* Argument i of h: t (NULL: absent) named name, an output where out. */
static void arg(ocla__half_io *h, const ocla_tensor *t, const char *name, int out) {
    h->t[h->n] = t, h->name[h->n] = name, h->out[h->n] = out, h->n++;
}

/* The copies of in (inputs) and out (outputs), then the aliasing rule on the originals (the fp32 path
 * sees only the copies); input in_place (-1: none) may be output 0 itself. */
static ocla_status enter(ocla_context *ctx, const char *fn, ocla__half_io *in, ocla__half_io *out, int in_place) {
    ocla_status st = ocla__half_enter(in, OCLA_HALF_IN_SLOT, fn);
    if (st == OCLA_SUCCESS) st = ocla__half_enter(out, OCLA_HALF_OUT_SLOT, fn);
    ocla_io_set set = {0};
    for (int i = 0; i < in->n && set.n_in < OCLA_IO_MAX; i++)
        set.in_place[set.n_in] = i == in_place, set.in[set.n_in] = in->t[i], set.in_name[set.n_in++] = in->name[i];
    for (int i = 0; i < out->n && set.n_out < OCLA_IO_MAX; i++)
        set.out[set.n_out] = out->t[i], set.out_name[set.n_out++] = out->name[i];
    return st == OCLA_SUCCESS ? ocla__check_disjoint(ctx, fn, &set) : st;
}

#define HALF_IO(h, ctx, x) ocla__half_io h = {.ws = {.ctx = (ctx)}, .dt = (x)->dtype}

static void gla_weights(ocla__half_io *h, const ocla_gla_layer_weights *w) {
    arg(h, w->w_q, "w_q (x's dtype)", 0), arg(h, w->w_k, "w_k (x's dtype)", 0), arg(h, w->w_v, "w_v (x's dtype)", 0);
    arg(h, w->w_r, "w_r (x's dtype)", 0), arg(h, w->w_g1, "w_g1 (x's dtype)", 0), arg(h, w->w_g2, "w_g2 (x's dtype)", 0);
    arg(h, w->b_g2, "b_g2 (x's dtype)", 0), arg(h, w->norm_w, "norm_w (x's dtype)", 0), arg(h, w->w_o, "w_o (x's dtype)", 0);
}
static ocla_gla_layer_weights gla_copies(ocla_tensor *const *c) {
    return (ocla_gla_layer_weights){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]};
}

static void mha_weights(ocla__half_io *h, const ocla_mha_layer_weights *w) {
    arg(h, w->w_q, "w_q (x's dtype)", 0), arg(h, w->w_k, "w_k (x's dtype)", 0), arg(h, w->w_v, "w_v (x's dtype)", 0);
    arg(h, w->w_o, "w_o (x's dtype)", 0), arg(h, w->b_q, "b_q (x's dtype)", 0), arg(h, w->b_k, "b_k (x's dtype)", 0);
    arg(h, w->b_v, "b_v (x's dtype)", 0), arg(h, w->b_o, "b_o (x's dtype)", 0), arg(h, w->E, "E (x's dtype)", 0);
    arg(h, w->F, "F (x's dtype)", 0);
}
static ocla_mha_layer_weights mha_copies(ocla_tensor *const *c) {
    return (ocla_mha_layer_weights){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]};
}

/* The GAU layer's weights and params.flash.rel_bias (its gradients with grads != 0), in the order of
 * ocla_gau_layer_weights, the bias at 8. */
static void gau_weights(ocla__half_io *h, const ocla_tensor *const t[9], int grads) {
    static const char *const names[2][9] = {
        {"weights.w_uvz (x's dtype)", "weights.b_uvz (x's dtype)", "weights.gamma (x's dtype)",
         "weights.beta (x's dtype)", "weights.w_o (x's dtype)", "weights.b_o (x's dtype)",
         "weights.norm_w (x's dtype)", "weights.norm_b (x's dtype)", "flash.rel_bias (x's dtype)"},
        {"grads.w_uvz (x's dtype)", "grads.b_uvz (x's dtype)", "grads.gamma (x's dtype)", "grads.beta (x's dtype)",
         "grads.w_o (x's dtype)", "grads.b_o (x's dtype)", "grads.norm_w (x's dtype)", "grads.norm_b (x's dtype)",
         "grads.rel_bias (x's dtype)"}};
    for (int i = 0; i < 9; i++) arg(h, t[i], names[grads][i], grads);
}
static ocla_gau_layer_weights gau_copies(ocla_tensor *const *c) {
    return (ocla_gau_layer_weights){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
}

ocla_status ocla__gla_forward_half(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                                   const ocla_gla_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__gla_fwd_fn f) {
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    gla_weights(&in, w), arg(&in, x, "x", 0), arg(&out, y, "y (x's dtype)", 1);
    ocla_status st = enter(ctx, fn, &in, &out, -1);
    const ocla_gla_layer_weights w32 = gla_copies(in.t32);
    if (st == OCLA_SUCCESS) st = f(ctx, p, &w32, in.t32[9], out.t32[0]);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}

ocla_status ocla__gla_backward_half(ocla_context *ctx, const char *fn, const ocla_gla_layer_params *p,
                                    const ocla_gla_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_gla_layer_grads *g, ocla__gla_bwd_fn f) {
    static const ocla_gla_layer_grads none = {0};
    const ocla_gla_layer_grads *gg = g ? g : &none;
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    gla_weights(&in, w), arg(&in, x, "x", 0), arg(&in, dy, "dy (x's dtype)", 0);
    const ocla_gla_layer_weights gw = {gg->w_q, gg->w_k, gg->w_v, gg->w_r, gg->w_g1, gg->w_g2, gg->b_g2, gg->norm_w, gg->w_o};
    gla_weights(&out, &gw), arg(&out, dx, "dx (x's dtype)", 1);
    for (int i = 0; i < out.n; i++) out.out[i] = 1;
    ocla_status st = enter(ctx, fn, &in, &out, -1);
    const ocla_gla_layer_weights w32 = gla_copies(in.t32);
    ocla_tensor *const *c = out.t32;
    const ocla_gla_layer_grads g32 = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], gg->initial_state};
    if (st == OCLA_SUCCESS) st = f(ctx, p, &w32, in.t32[9], in.t32[10], out.t32[9], &g32);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}

ocla_status ocla__mha_forward_half(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                                   const ocla_mha_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__mha_fwd_fn f) {
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    mha_weights(&in, w), arg(&in, x, "x", 0), arg(&out, y, "y (x's dtype)", 1);
    ocla_status st = enter(ctx, fn, &in, &out, -1);
    const ocla_mha_layer_weights w32 = mha_copies(in.t32);
    if (st == OCLA_SUCCESS) st = f(ctx, p, &w32, in.t32[10], out.t32[0]);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}

ocla_status ocla__mha_backward_half(ocla_context *ctx, const char *fn, const ocla_mha_layer_params *p,
                                    const ocla_mha_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_mha_layer_grads *g, ocla__mha_bwd_fn f) {
    static const ocla_mha_layer_grads none = {0};
    const ocla_mha_layer_grads *gg = g ? g : &none;
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    mha_weights(&in, w), arg(&in, x, "x", 0), arg(&in, dy, "dy (x's dtype)", 0);
    const ocla_mha_layer_weights gw = {gg->w_q, gg->w_k, gg->w_v, gg->w_o, gg->b_q, gg->b_k, gg->b_v, gg->b_o, gg->E, gg->F};
    mha_weights(&out, &gw), arg(&out, dx, "dx (x's dtype)", 1);
    for (int i = 0; i < out.n; i++) out.out[i] = 1;
    ocla_status st = enter(ctx, fn, &in, &out, -1);
    const ocla_mha_layer_weights w32 = mha_copies(in.t32);
    ocla_tensor *const *c = out.t32;
    const ocla_mha_layer_grads g32 = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]};
    if (st == OCLA_SUCCESS) st = f(ctx, p, &w32, in.t32[10], in.t32[11], out.t32[10], &g32);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}

ocla_status ocla__gau_forward_half(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                                   const ocla_gau_layer_weights *w, const ocla_tensor *x, ocla_tensor *y,
                                   ocla__gau_fwd_fn f) {
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    const ocla_tensor *const wt[9] = {w->w_uvz, w->b_uvz, w->gamma, w->beta, w->w_o, w->b_o, w->norm_w, w->norm_b,
                                      p->flash.rel_bias};
    gau_weights(&in, wt, 0), arg(&in, x, "x", 0), arg(&out, y, "y (x's dtype)", 1);
    ocla_status st = enter(ctx, fn, &in, &out, 9); /* y may be x itself */
    ocla_gau_layer_params p32 = *p;
    p32.flash.rel_bias = in.t32[8];
    const ocla_gau_layer_weights w32 = gau_copies(in.t32);
    if (st == OCLA_SUCCESS) st = f(ctx, &p32, &w32, in.t32[9], out.t32[0]);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}

ocla_status ocla__gau_backward_half(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                                    const ocla_gau_layer_weights *w, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_gau_layer_grads *g, ocla__gau_bwd_fn f) {
    static const ocla_gau_layer_grads none = {0};
    const ocla_gau_layer_grads *gg = g ? g : &none;
    HALF_IO(in, ctx, x);
    HALF_IO(out, ctx, x);
    const ocla_tensor *const wt[9] = {w->w_uvz, w->b_uvz, w->gamma, w->beta, w->w_o, w->b_o, w->norm_w, w->norm_b,
                                      p->flash.rel_bias};
    const ocla_tensor *const gt[9] = {gg->w_uvz, gg->b_uvz, gg->gamma, gg->beta, gg->w_o, gg->b_o, gg->norm_w,
                                      gg->norm_b, gg->rel_bias};
    gau_weights(&in, wt, 0), arg(&in, x, "x", 0), arg(&in, dy, "dy (x's dtype)", 0);
    gau_weights(&out, gt, 1), arg(&out, dx, "dx (x's dtype)", 1);
    ocla_status st = enter(ctx, fn, &in, &out, -1);
    ocla_gau_layer_params p32 = *p;
    p32.flash.rel_bias = in.t32[8];
    const ocla_gau_layer_weights w32 = gau_copies(in.t32);
    ocla_tensor *const *c = out.t32;
    const ocla_gau_layer_grads g32 = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]};
    if (st == OCLA_SUCCESS) st = f(ctx, &p32, &w32, in.t32[9], in.t32[10], out.t32[9], &g32);
    return st == OCLA_SUCCESS ? ocla__half_leave(&out) : st;
}
