/* SPDX-License-Identifier: MIT */
/* The GAU / FLASH layer's backward entries of the op table (see op_table.h): inputs as the forward
 * entries' (tests/op_table.c, gau_make) plus dy; outputs dx and the gradient of every weight; fp64
 * reference tests/ref/ref_gau_grad.h. RoPE on all s dims, no relative bias, the default scalings. */
#include <math.h>
#include <stdlib.h>

#include "op_table_impl.h"
#include "ref/ref_gau_grad.h"

enum { X, WUVZ, BUVZ, GAMMA, BETA, WO, BO, NW, NB, DY, DX, GWUVZ, GBUVZ, GGAMMA, GBETA, GWO, GBO, GNW, GNB };

void op_gau_bwd_make(op_case *c) {
    const op_gau_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s; /* x [B,T,D]; e = V, s = K; chunk C */
    const int W = 2 * s->V + s->K, sn = f->norm == OCLA_GAU_NORM_SCALE;
    op_in_normal(c, "x", 3, OP_D(s->B, s->T, s->D), 1.0f);
    op_in_normal(c, "w_uvz", 2, OP_D(s->D, W), s->D > 0 ? 1.0f / sqrtf((float)s->D) : 1.0f);
    op_in(c, "b_uvz", 1, OP_D(W), -0.2f, 0.2f);
    op_in_normal(c, "gamma", 2, OP_D(4, s->K), 1.5f); /* scores of order 1 */
    op_in(c, "beta", 2, OP_D(4, s->K), -0.2f, 0.2f);
    op_in_normal(c, "w_o", 2, OP_D(s->V, s->D), s->V > 0 ? 1.0f / sqrtf((float)s->V) : 1.0f);
    op_in(c, "b_o", 1, OP_D(s->D), -0.2f, 0.2f);
    op_in(c, "norm_w", 1, OP_D(sn ? 1 : s->D), 0.5f, 1.5f);
    if (sn) op_absent(c, "norm_b");
    else op_in(c, "norm_b", 1, OP_D(s->D), -0.2f, 0.2f);
    op_in_normal(c, "dy", 3, OP_D(s->B, s->T, s->D), 1.0f);
    op_out(c, "dx", 3, OP_D(s->B, s->T, s->D));
    op_out(c, "grads.w_uvz", 2, OP_D(s->D, W));
    op_out(c, "grads.b_uvz", 1, OP_D(W));
    op_out(c, "grads.gamma", 2, OP_D(4, s->K));
    op_out(c, "grads.beta", 2, OP_D(4, s->K));
    op_out(c, "grads.w_o", 2, OP_D(s->V, s->D));
    op_out(c, "grads.b_o", 1, OP_D(s->D));
    op_out(c, "grads.norm_w", 1, OP_D(sn ? 1 : s->D));
    if (sn) op_absent(c, "grads.norm_b");
    else op_out(c, "grads.norm_b", 1, OP_D(s->D));
}

static void params(const op_case *c, ocla_gau_layer_params *p) {
    const op_gau_bwd_cfg *f = c->op->cfg;
    ocla_gau_layer_params_defaults(p);
    p->hidden_dim = c->s.V, p->qk_dim = c->s.K, p->norm = f->norm, p->residual = f->residual;
    p->flash.causal = f->causal, p->flash.chunk = c->s.chunk, p->flash.rope_dims = c->s.K;
}

ocla_status op_gau_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_gau_layer_params p;
    params(c, &p);
    const ocla_gau_layer_weights w = {t[WUVZ], t[BUVZ], t[GAMMA], t[BETA], t[WO], t[BO], t[NW], t[NB]};
    const ocla_gau_layer_grads g = {t[GWUVZ], t[GBUVZ], t[GGAMMA], t[GBETA], t[GWO], t[GBO], t[GNW], t[GNB], NULL};
    return ocla_gau_layer_backward(ctx, &p, &w, t[X], t[DY], t[DX], &g);
}

void op_gau_bwd_reference(const op_case *c, double *ref) {
    const op_shape *s = &c->s;
    ocla_gau_layer_params p;
    params(c, &p);
    const int C = p.flash.chunk;
    const ref_gau_cfg r = {s->B, s->T, s->D, s->V, s->K, (int)p.norm, (double)p.norm_eps, p.residual, C,
                           p.flash.causal, 1.0 / C, 1.0, 1.0, NULL, 0, p.flash.causal ? 1.0 / C : 1.0 / s->T,
                           p.flash.rope_dims, (double)p.flash.rope_base, 0};
    const ref_gau_weights fw = {op_host(c, WUVZ), op_host(c, BUVZ), op_host(c, GAMMA), op_host(c, BETA),
                                op_host(c, WO),   op_host(c, BO),   op_host(c, NW),    op_host(c, NB)};
    ref_gau_weights64 w;
    ref_gau_weights64_make(&r, &fw, &w);
    const size_t nx = (size_t)s->B * s->T * s->D;
    double *x = op_to_double(op_host(c, X), nx), *dy = op_to_double(op_host(c, DY), nx);
    const ref_gau_grads g = {op_slice(c, ref, DX),  op_slice(c, ref, GWUVZ), op_slice(c, ref, GBUVZ),
                             op_slice(c, ref, GGAMMA), op_slice(c, ref, GBETA), op_slice(c, ref, GWO),
                             op_slice(c, ref, GBO), op_slice(c, ref, GNW), op_slice(c, ref, GNB), NULL};
    ref_gau_backward(&r, &w, x, dy, &g);
    free(x), free(dy);
    ref_gau_weights64_free(&w);
}

/* ocla-bench's convention for a backward: 2x the forward's flops (op_table.c's gau_cost) plus the
 * recomputed forward; x, dy and the weights read, dx and the weight gradients written. */
void op_gau_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double M = (double)s->B * s->T, D = s->D, E = s->V, S = s->K, C = s->chunk ? s->chunk : 256;
    const double fwd = 2.0 * M * D * (2 * E + S) + 2.0 * M * E * D + M * (C * (S + E) + 4.0 * S * E);
    *flops = 3.0 * fwd;
    *bytes = 4.0 * (3 * M * D + 2 * (D * (2 * E + S) + E * D));
}
