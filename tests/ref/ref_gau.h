/* SPDX-License-Identifier: MIT */
/* fp64 C reference of the GAU / FLASH layer (tests only; the math of <ocla/layers.h>'s GAU block).
 * Every intermediate stays in fp64: norm, projections, SiLU, offset-scales, the mixed chunk attention
 * (masked token-level form, no chunk states), the gate, the output projection and the residual. */
#ifndef OCLA_REF_GAU_H
#define OCLA_REF_GAU_H
#include <stdint.h>

typedef struct ref_gau_cfg {
    int B, T, d, e, s;
    int norm;        /* 0 LayerNorm, 1 ScaleNorm, 2 none (the values of ocla_gau_norm) */
    double norm_eps;
    int residual;
    /* the mixed chunk attention, as ref_flash_cfg (tests/ref/ref_layers.h) with H = 1 */
    int C, causal;
    double quad_scale, bias_scale, quad_post;
    const float *bias; /* [2C-1] or NULL */
    int lin_mean;
    double lin;
    int rope_dims;
    double rope_base;
    int64_t pos0;
} ref_gau_cfg;

typedef struct ref_gau_weights {
    const float *w_uvz;  /* [d, 2e+s] */
    const float *b_uvz;  /* [2e+s] or NULL */
    const float *gamma;  /* [4, s] */
    const float *beta;   /* [4, s] or NULL */
    const float *w_o;    /* [e, d] */
    const float *b_o;    /* [d] or NULL */
    const float *norm_w; /* LayerNorm [d], ScaleNorm [1], or NULL (1) */
    const float *norm_b; /* LayerNorm [d] or NULL */
} ref_gau_weights;

/* y [B,T,d] (fp64) from x [B,T,d]. */
void ref_gau_layer(const ref_gau_cfg *c, const ref_gau_weights *w, const float *x, double *y);

/* The same layer with fp64 weights and input (the gradient reference and its finite-difference check
 * perturb them); the fields mean what ref_gau_weights' do. */
typedef struct ref_gau_weights64 {
    const double *w_uvz, *b_uvz, *gamma, *beta, *w_o, *b_o, *norm_w, *norm_b;
} ref_gau_weights64;
void ref_gau_layer64(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, double *y);

/* The forward's intermediates (M = B*T rows, W = 2e+s), malloc'd by ref_gau_acts_make:
 *   xn [M,d] norm(x); a [M,W] xn W_uvz + b_uvz; h [M,W] silu(a); q[k] [M,s] Z gamma[k] + beta[k]
 *   (before RoPE); v [M,e] (V, a copy of h's middle columns); o [M,e] the attention output AV. */
typedef struct ref_gau_acts {
    double *xn, *a, *h, *q[4], *v, *o;
} ref_gau_acts;
void ref_gau_acts_make(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, ref_gau_acts *acts);
/* LayerNorm's statistics of one row x[D] (the forward's and ref_gau_grad.c's): *mean, and the
 * returned 1 / sqrt(var + eps). */
double ref_gau_layernorm_stats(const double *x, int D, double eps, double *mean);
void ref_gau_acts_free(ref_gau_acts *acts);

/* fp64 copies of float weights (NULL stays NULL), sized by c; free with ref_gau_weights64_free. */
void ref_gau_weights64_make(const ref_gau_cfg *c, const ref_gau_weights *w, ref_gau_weights64 *out);
void ref_gau_weights64_free(ref_gau_weights64 *w);

/* The attention core alone on fp64 inputs, one head: qq, kq, ql, kl [B,T,s], v, o [B,T,e]
 * (c->d, norm, residual unused). Same math as ref_flash_attention with H = 1. */
void ref_gau_flash(const ref_gau_cfg *c, const double *qq, const double *kq, const double *ql, const double *kl,
                   const double *v, double *o);
#endif
