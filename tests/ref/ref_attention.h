/* SPDX-License-Identifier: MIT */
/* fp64 C references for linear attention, simple GLA, retention and GLA (tests only).
 *
 * Layout: q, k, g(vector) [B,T,H,K]; g(scalar) [B,T,H]; v, o [B,T,H,V]; states S [B,H,K,V],
 * z [B,H,K]; all dense row-major. Semantics (fla, inclusive):
 *   S_t = diag(exp(min(g_t,0))) S_{t-1} + phi(k_t) v_t^T,  z_t likewise with 1 in place of v_t
 *   o_t = scale phi(q_t)^T S_t  [ / (scale phi(q_t)^T z_t + eps) when normalize ]
 * Non-causal: every o_t uses S_T and z_T. */
#ifndef OCLA_REF_ATTENTION_H
#define OCLA_REF_ATTENTION_H

typedef struct ref_attn_cfg {
    int B, T, H, K, V;
    int causal;
    double scale;
    int feature;   /* 0 identity, 1 elu+1, 2 relu */
    int normalize;
    double eps;
    int gate;      /* 0 none, 1 scalar [B,T,H], 2 vector [B,T,H,K], 3 fixed per head */
    const double *fixed; /* [H] log decays for gate 3 (NULL: RetNet's log(1 - 2^(-5-h))) */
} ref_attn_cfg;

double ref_phi(double x, int feature);

/* Recurrent (token by token) form; S0/z0 may be NULL (zeros); S1/z1 may be NULL. */
void ref_attn_recurrent(const ref_attn_cfg *c, const float *q, const float *k, const float *v, const float *g,
                        const float *S0, const float *z0, double *o, double *S1, double *z1);

/* Masked quadratic form: o_i = scale sum_{j<=i} (sum_d phi(q_id) phi(k_jd) exp(Gc_id - Gc_jd)) v_j
 * + scale (phi(q_i) * exp(Gc_i))^T S0, Gc = global inclusive cumsum of the clamped log gates. */
void ref_attn_quadratic(const ref_attn_cfg *c, const float *q, const float *k, const float *v, const float *g,
                        const float *S0, const float *z0, double *o);

#endif
