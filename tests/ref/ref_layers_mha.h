/* SPDX-License-Identifier: MIT */
/* fp64 C references of the whole multi-head attention layers of <ocla/layers.h> (tests only):
 * projections -> attention -> output projection, every intermediate in double.
 *   q = x Wq + bq, k = x Wk + bk [B,T,H*K]; v = x Wv + bv [B,T,H*V]; y = o Wo + bo [B,T,d]
 *   LINEAR:    o_t = scale phi(q_t)^T S_t [ / (scale phi(q_t)^T z_t + eps) ], S_t = sum_{s<=t} phi(k_s) v_s^T,
 *              z_t = sum_{s<=t} phi(k_s) (s over all T when non-causal)
 *   SOFTMAX:   o_t = sum_{s(<=t)} softmax_s(scale q_t.k_s) v_s
 *   LINFORMER: K' = E_h[:, :T] k, V' = F_h[:, :T] v per (b, h), o_t = sum_r softmax_r(scale q_t.K'_r) V'_r
 * Weights dense row-major [in, out]; biases may be NULL (zero). */
#ifndef OCLA_REF_LAYERS_MHA_H
#define OCLA_REF_LAYERS_MHA_H

enum { REF_MHA_LINEAR = 0, REF_MHA_SOFTMAX = 1, REF_MHA_LINFORMER = 2 };

typedef struct ref_mha_cfg {
    int kind;            /* REF_MHA_* */
    int B, T, d, H, K, V;
    int causal;
    double scale;        /* already resolved (no defaults here) */
    int feature;         /* LINEAR: 0 identity, 1 elu+1, 2 relu */
    int normalize;       /* LINEAR */
    double eps;          /* LINEAR */
    int kp, n, per_head; /* LINFORMER: E, F [kp, n] or [H, kp, n] (per_head) */
    const float *E, *F;  /* F may be E (shared) */
} ref_mha_cfg;

/* y[M, out] = x[M, in] w[in, out] + b (b may be NULL), all sums in double (the layers' projections:
 * here, ref_layer_grad.c, ref_gla_layer.c). */
void ref_linear(const double *x, const float *w, const float *b, double *y, int M, int in, int out);

typedef struct ref_mha_weights {
    const float *wq, *wk, *wv, *wo; /* [d,H*K], [d,H*K], [d,H*V], [H*V,d] */
    const float *bq, *bk, *bv, *bo; /* [H*K], [H*K], [H*V], [d] or NULL */
} ref_mha_weights;

/* y [B,T,d] in fp64. */
void ref_mha_layer(const ref_mha_cfg *c, const ref_mha_weights *w, const float *x, double *y);

#endif
