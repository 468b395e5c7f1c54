/* SPDX-License-Identifier: MIT */
/* The layer backward entries of the op table (see op_table.h, op_table.c): ocla_mha_layer_backward
 * (LINEAR, SOFTMAX, LINFORMER) and ocla_gla_layer_backward. Arrays: the forward's inputs (x and the
 * weights, in the order of the weights struct; GLA: then initial_state), dy, then the gradients in
 * the same order (dx first). The fp64 reference (tests/ref/ref_layer_grad.h): central finite
 * differences of the fp64 layer (ref_mha_layer, ref_gla_layer_fwd) for L = sum(dy . y), ~1e-8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_table_impl.h"
#include "ref/ref_layer_grad.h"
#include "ref/ref_layers_mha.h"

#define FD_STEP 1e-5

/* A case's inputs as writable copies (the finite differences perturb them in place), dy, and the
 * forward that the loss evaluates. */
typedef struct lg_inputs {
    const op_case *c;
    int n_in;           /* inputs before dy */
    float *in[OP_MAX_ARRAYS / 2];
    const float *dy;
    size_t ny;
    void (*forward)(const struct lg_inputs *li, double *y);
} lg_inputs;

static size_t numel_of(const op_array *a) {
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= (size_t)a->dims[d];
    return a->ndim ? n : 0;
}

static double lg_loss(const void *arg) {
    const lg_inputs *li = arg;
    double *y = malloc((li->ny ? li->ny : 1) * sizeof *y), L = 0;
    if (!y) return NAN;
    li->forward(li, y);
    for (size_t i = 0; i < li->ny; i++) L += (double)li->dy[i] * y[i];
    free(y);
    return L;
}

/* ref: the finite-difference gradient of every input whose gradient array (n_in + 1 + i) is present. */
static void lg_reference(const op_case *c, int n_in, void (*forward)(const lg_inputs *, double *), double *ref) {
    lg_inputs li = {.c = c, .n_in = n_in, .forward = forward, .dy = op_host(c, n_in), .ny = numel_of(&c->a[n_in])};
    for (int i = 0; i < n_in; i++) {
        const float *h = op_host(c, i);
        const size_t n = numel_of(&c->a[i]);
        li.in[i] = h ? malloc(n * sizeof(float)) : NULL;
        if (li.in[i]) memcpy(li.in[i], h, n * sizeof(float));
    }
    for (int i = 0; i < n_in; i++) {
        double *g = op_slice(c, ref, n_in + 1 + i);
        if (g && li.in[i]) ref_lg_fd(lg_loss, &li, li.in[i], numel_of(&c->a[i]), FD_STEP, g);
    }
    for (int i = 0; i < n_in; i++) free(li.in[i]);
}

/* ---- multi-head layers ---- */
enum { MX, MWQ, MWK, MWV, MWO, MBQ, MBK, MBV, MBO, ME, MF, M_IN };
static const char *const mha_names[M_IN] = {"x", "w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o", "E", "F"};
static const char *const mha_grad_names[M_IN] = {"dx",        "grads.w_q", "grads.w_k", "grads.w_v",
                                                 "grads.w_o", "grads.b_q", "grads.b_k", "grads.b_v",
                                                 "grads.b_o", "grads.E",   "grads.F"};

static int linformer_n(const op_shape *s) { return s->N >= s->T ? s->N : s->T; }

void op_mha_bwd_make(op_case *c) {
    const op_mha_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int64_t HK = s->H * s->K, HV = s->H * s->V, n = linformer_n(s);
    const int64_t dims[M_IN][3] = {{s->B, s->T, s->D}, {s->D, HK}, {s->D, HK}, {s->D, HV}, {HV, s->D}, {HK},
                                   {HK},               {HV},       {s->D},     {s->P, n},  {s->P, n}};
    const int nd[M_IN] = {3, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2};
    const float sd[M_IN] = {1.0f, s->D > 0 ? 1 / sqrtf((float)s->D) : 1, s->D > 0 ? 1 / sqrtf((float)s->D) : 1,
                            s->D > 0 ? 1 / sqrtf((float)s->D) : 1, HV > 0 ? 1 / sqrtf((float)HV) : 1, 0.5f, 0.5f, 0.5f,
                            0.5f, n > 0 ? 1 / sqrtf((float)n) : 1, n > 0 ? 1 / sqrtf((float)n) : 1};
    const int lf = f->kind == OCLA_MHA_LINFORMER;
    for (int i = 0; i < M_IN; i++) {
        if (i >= ME && !lf) op_absent(c, mha_names[i]);
        else op_in_normal(c, mha_names[i], nd[i], dims[i], sd[i]);
    }
    op_in_normal(c, "dy", 3, dims[MX], 1.0f);
    for (int i = 0; i < M_IN; i++) {
        /* the softmax layer's b_k gradient is zero by symmetry (a shift of every key moves all of a
           query's scores alike): its fp32 value is rounding, not comparable normwise; not asked for */
        const int skip = (i >= ME && !lf) || (i == MBK && f->kind == OCLA_MHA_SOFTMAX);
        if (skip) op_absent(c, mha_grad_names[i]);
        else op_out(c, mha_grad_names[i], nd[i], dims[i]);
    }
}

static void mha_params(const op_case *c, ocla_mha_layer_params *p) {
    const op_mha_bwd_cfg *f = c->op->cfg;
    ocla_mha_layer_params_defaults(p, f->kind);
    p->heads = c->s.H, p->head_k = c->s.K, p->head_v = c->s.V, p->causal = f->causal;
    if (f->kind == OCLA_MHA_LINEAR) p->chunk = c->s.chunk;
    else p->block = c->s.chunk;
    if (f->eps > 0) p->eps = f->eps;
}

ocla_status op_mha_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_mha_layer_params p;
    mha_params(c, &p);
    const ocla_mha_layer_weights w = {t[MWQ], t[MWK], t[MWV], t[MWO], t[MBQ], t[MBK], t[MBV], t[MBO], t[ME], t[MF]};
    ocla_tensor *const *g = t + M_IN + 1;
    const ocla_mha_layer_grads grads = {g[MWQ], g[MWK], g[MWV], g[MWO], g[MBQ], g[MBK], g[MBV], g[MBO], g[ME], g[MF]};
    return ocla_mha_layer_backward(ctx, &p, &w, t[MX], t[M_IN], g[MX], &grads);
}

static void mha_forward(const lg_inputs *li, double *y) {
    const op_shape *s = &li->c->s;
    ocla_mha_layer_params p;
    mha_params(li->c, &p);
    const ref_mha_cfg r = {(int)p.kind,
                           s->B, s->T, s->D, s->H, s->K, s->V, p.causal,
                           p.kind == OCLA_MHA_LINEAR ? 1.0 : 1.0 / sqrt((double)s->K),
                           (int)p.feature_map, p.normalize, p.eps, s->P, linformer_n(s), 0, li->in[ME], li->in[MF]};
    const ref_mha_weights w = {li->in[MWQ], li->in[MWK], li->in[MWV], li->in[MWO],
                               li->in[MBQ], li->in[MBK], li->in[MBV], li->in[MBO]};
    ref_mha_layer(&r, &w, li->in[MX], y);
}

void op_mha_bwd_reference(const op_case *c, double *ref) { lg_reference(c, M_IN, mha_forward, ref); }

/* the forward's flops twice more (the recomputed forward, then the backward's two GEMMs per
   projection and the op's backward at about twice its forward) */
void op_mha_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double M = (double)s->B * s->T, D = s->D, HK = (double)s->H * s->K, HV = (double)s->H * s->V;
    *flops = 3.0 * (2.0 * M * D * (2 * HK + 2 * HV) + 2.0 * M * s->H * (4.0 * s->K * s->V));
    *bytes = 4.0 * (4 * M * D + 2 * D * (2 * HK + 2 * HV));
}

/* ---- GLA layer ---- */
enum { GX, GWQ, GWK, GWV, GWR, GWG1, GWG2, GBG2, GNW, GWO, GH0, G_IN };
static const char *const gla_names[G_IN] = {"x",    "w_q",  "w_k",    "w_v", "w_r",          "w_g1",
                                            "w_g2", "b_g2", "norm_w", "w_o", "initial_state"};
static const char *const gla_grad_names[G_IN] = {"dx",         "grads.w_q",  "grads.w_k",    "grads.w_v",
                                                 "grads.w_r",  "grads.w_g1", "grads.w_g2",   "grads.b_g2",
                                                 "grads.norm_w", "grads.w_o", "grads.initial_state"};

void op_gla_bwd_make(op_case *c) {
    const op_shape *s = &c->s; /* x [B,T,D], H heads of K / V, gate rank P */
    const int64_t HK = s->H * s->K, HV = s->H * s->V;
    const int64_t dims[G_IN][4] = {{s->B, s->T, s->D}, {s->D, HK}, {s->D, HK}, {s->D, HV}, {s->D, HV}, {s->D, s->P},
                                   {s->P, HK},         {HK},       {s->V},     {HV, s->D}, {s->B, s->H, s->K, s->V}};
    const int nd[G_IN] = {3, 2, 2, 2, 2, 2, 2, 1, 1, 2, 4};
    const float sd = s->D > 0 ? 1.0f / sqrtf((float)s->D) : 1.0f;
    const float sds[G_IN] = {1.0f, sd, sd, sd, sd, sd, 0.5f, 1.0f, 0, HV > 0 ? 1 / sqrtf((float)HV) : 1, 1.0f};
    for (int i = 0; i < G_IN; i++) {
        if (i == GNW) op_in(c, gla_names[i], nd[i], dims[i], 0.5f, 1.5f);
        else op_in_normal(c, gla_names[i], nd[i], dims[i], sds[i]);
    }
    op_in_normal(c, "dy", 3, dims[GX], 1.0f);
    for (int i = 0; i < G_IN; i++) op_out(c, gla_grad_names[i], nd[i], dims[i]);
}

static void gla_params(const op_case *c, ocla_tensor *h0, ocla_gla_layer_params *p) {
    const op_gla_bwd_cfg *f = c->op->cfg;
    ocla_gla_layer_params_defaults(p);
    p->heads = c->s.H, p->head_k = c->s.K, p->head_v = c->s.V, p->form = f->form, p->chunk = c->s.chunk;
    p->initial_state = h0;
}

ocla_status op_gla_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_gla_layer_params p;
    gla_params(c, t[GH0], &p);
    const ocla_gla_layer_weights w = {t[GWQ], t[GWK], t[GWV], t[GWR], t[GWG1], t[GWG2], t[GBG2], t[GNW], t[GWO]};
    ocla_tensor *const *g = t + G_IN + 1;
    const ocla_gla_layer_grads grads = {g[GWQ],  g[GWK],  g[GWV], g[GWR], g[GWG1],
                                        g[GWG2], g[GBG2], g[GNW], g[GWO], g[GH0]};
    return ocla_gla_layer_backward(ctx, &p, &w, t[GX], t[G_IN], g[GX], &grads);
}

static void gla_forward(const lg_inputs *li, double *y) {
    const op_shape *s = &li->c->s;
    ocla_gla_layer_params p;
    gla_params(li->c, NULL, &p);
    const ref_gla_layer_cfg r = {s->B, s->T, s->D, s->H, s->K, s->V, s->P, p.gate_tau, p.norm_eps};
    const ref_gla_layer_w w = {li->in[GWQ],  li->in[GWK],  li->in[GWV], li->in[GWR], li->in[GWG1],
                               li->in[GWG2], li->in[GBG2], li->in[GNW], li->in[GWO], li->in[GH0]};
    ref_gla_layer_fwd(&r, &w, li->in[GX], y);
}

void op_gla_bwd_reference(const op_case *c, double *ref) { lg_reference(c, G_IN, gla_forward, ref); }

/* as the multi-head layers': three forwards' worth */
void op_gla_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double M = (double)s->B * s->T, D = s->D, HK = (double)s->H * s->K, HV = (double)s->H * s->V;
    *flops = 3.0 * (2.0 * M * (D * (2 * HK + 2 * HV + s->P) + s->P * HK + HV * D) + 4.0 * M * s->H * s->K * s->V);
    *bytes = 4.0 * (4 * M * D + 2 * D * (2 * HK + 2 * HV + s->P) + 2 * s->P * HK);
}
