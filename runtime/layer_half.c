/* SPDX-License-Identifier: MIT */
/* The layers in half precision, converted at their boundary (runtime/layer_half.h). */
#include <stddef.h>
#include <string.h>

#include "layer_half.h"

/* A weight of the layer's weights struct W, its gradient the field of the same name in G. */
#define WEIGHT(W, G, f, name) {0, offsetof(W, f), offsetof(G, f), name, name}
#define GLA_W(f) WEIGHT(ocla_gla_layer_weights, ocla_gla_layer_grads, f, #f " (x's dtype)")
#define MHA_W(f) WEIGHT(ocla_mha_layer_weights, ocla_mha_layer_grads, f, #f " (x's dtype)")
#define GAU_W(f)                                                                                                      \
    {0, offsetof(ocla_gau_layer_weights, f), offsetof(ocla_gau_layer_grads, f), "weights." #f " (x's dtype)",         \
     "grads." #f " (x's dtype)"}

const ocla__half_layer ocla__gla_half = {
    sizeof(ocla_gla_layer_params), sizeof(ocla_gla_layer_weights), sizeof(ocla_gla_layer_grads), 0, 9,
    {GLA_W(w_q), GLA_W(w_k), GLA_W(w_v), GLA_W(w_r), GLA_W(w_g1), GLA_W(w_g2), GLA_W(b_g2), GLA_W(norm_w),
     GLA_W(w_o)}};
const ocla__half_layer ocla__mha_half = {
    sizeof(ocla_mha_layer_params), sizeof(ocla_mha_layer_weights), sizeof(ocla_mha_layer_grads), 0, 10,
    {MHA_W(w_q), MHA_W(w_k), MHA_W(w_v), MHA_W(w_o), MHA_W(b_q), MHA_W(b_k), MHA_W(b_v), MHA_W(b_o), MHA_W(E),
     MHA_W(F)}};
/* the GAU layer: params.flash.rel_bias is converted as its weights are (its gradient grads.rel_bias);
 * y may be x itself, as in the fp32 layer */
const ocla__half_layer ocla__gau_half = {
    sizeof(ocla_gau_layer_params), sizeof(ocla_gau_layer_weights), sizeof(ocla_gau_layer_grads), 1, 9,
    {GAU_W(w_uvz), GAU_W(b_uvz), GAU_W(gamma), GAU_W(beta), GAU_W(w_o), GAU_W(b_o), GAU_W(norm_w), GAU_W(norm_b),
     {1, offsetof(ocla_gau_layer_params, flash.rel_bias), offsetof(ocla_gau_layer_grads, rel_bias),
      "flash.rel_bias (x's dtype)", "grads.rel_bias (x's dtype)"}}};

/* Argument i of h: t (NULL: absent) named name, an output where out. */
static void arg(ocla__half_io *h, const ocla_tensor *t, const char *name, int out) {
    h->t[h->n] = t, h->name[h->n] = name, h->out[h->n] = out, h->n++;
}

/* The tensor field at byte offset at of a struct (weights and params: const ocla_tensor *; grads:
 * ocla_tensor *). */
static const ocla_tensor **field(void *s, size_t at) { return (const ocla_tensor **)(void *)((char *)s + at); }
static ocla_tensor **grad_field(void *s, size_t at) { return (ocla_tensor **)(void *)((char *)s + at); }

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

/* The inputs: the layer's tensors, x (and dy); the outputs: y, or the gradients and dx. Then the
 * caller's structs with each converted tensor replaced by its copy. */
static ocla_status call_enter(ocla_context *ctx, const char *fn, ocla__half_call *c, const ocla__half_layer *L,
                              int backward, const void *p, const void *w, const ocla_tensor *x,
                              const ocla_tensor *dy, ocla_tensor *y, const void *grads) {
    const int n = L->n;
    c->in = (ocla__half_io){.ws = {.ctx = ctx}, .dt = x->dtype};
    c->out = (ocla__half_io){.ws = {.ctx = ctx}, .dt = x->dtype};
    memcpy(&c->p, p, L->params_size);
    memcpy(&c->w, w, L->weights_size);
    if (grads) memcpy(&c->g, grads, L->grads_size);
    else memset(&c->g, 0, sizeof c->g); /* no gradients */
    for (int i = 0; i < n; i++)
        arg(&c->in, *field(L->t[i].in_params ? (void *)&c->p : (void *)&c->w, L->t[i].at), L->t[i].name, 0);
    arg(&c->in, x, "x", 0);
    if (backward) {
        arg(&c->in, dy, "dy (x's dtype)", 0);
        for (int i = 0; i < n; i++) arg(&c->out, *grad_field(&c->g, L->t[i].grad_at), L->t[i].grad_name, 1);
    }
    arg(&c->out, y, backward ? "dx (x's dtype)" : "y (x's dtype)", 1);
    ocla_status st = enter(ctx, fn, &c->in, &c->out, !backward && L->in_place ? n : -1);
    for (int i = 0; i < n; i++) {
        *field(L->t[i].in_params ? (void *)&c->p : (void *)&c->w, L->t[i].at) = c->in.t32[i];
        if (backward) *grad_field(&c->g, L->t[i].grad_at) = c->out.t32[i];
    }
    c->x = c->in.t32[n];
    c->dy = backward ? c->in.t32[n + 1] : NULL;
    c->y = c->out.t32[backward ? n : 0];
    return st;
}

ocla_status ocla__half_forward_enter(ocla_context *ctx, const char *fn, ocla__half_call *c, const ocla__half_layer *layer,
                                     const void *p, const void *w, const ocla_tensor *x, ocla_tensor *y) {
    return call_enter(ctx, fn, c, layer, 0, p, w, x, NULL, y, NULL);
}

ocla_status ocla__half_backward_enter(ocla_context *ctx, const char *fn, ocla__half_call *c,
                                      const ocla__half_layer *layer, const void *p, const void *w, const ocla_tensor *x,
                                      const ocla_tensor *dy, ocla_tensor *dx, const void *grads) {
    return call_enter(ctx, fn, c, layer, 1, p, w, x, dy, dx, grads);
}

ocla_status ocla__half_call_leave(ocla__half_call *c, ocla_status st) {
    return st == OCLA_SUCCESS ? ocla__half_leave(&c->out) : st;
}
