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

/* The attention core alone on fp64 inputs, one head: qq, kq, ql, kl [B,T,s], v, o [B,T,e]
 * (c->d, norm, residual unused). Same math as ref_flash_attention with H = 1. */
void ref_gau_flash(const ref_gau_cfg *c, const double *qq, const double *kq, const double *ql, const double *kl,
                   const double *v, double *o);
#endif
