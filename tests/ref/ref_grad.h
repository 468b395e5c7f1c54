/* SPDX-License-Identifier: MIT */
/* fp64 reference for the attention backward (tests/test_backward.c):
 *  - ref_attn_forward: token-by-token forward (the semantics of include/ocla/attention.h), fp64;
 *  - ref_attn_backward: analytic gradients by the recurrence + a reverse pass over the stored
 *    per-token states (independent of the chunked formulas the kernels use: dg comes from
 *    d(state)/d(decay), not from the q.dq - k.dk identity);
 *  - ref_attn_fd: central finite differences of ref_attn_forward for the scalar loss
 *      L = sum(d_o . o) + sum(d_final_state . S_T) + sum(d_final_z . z_T).
 * Layouts dense: q,k [B,T,H,K], v,o [B,T,H,V], g [B,T,H] or [B,T,H,K], states [B,H,K,V], z [B,H,K]. */
#ifndef OCLA_REF_GRAD_H
#define OCLA_REF_GRAD_H

typedef struct ref_attn_cfg {
    int B, T, H, K, V;
    int feature;   /* 0 identity, 1 elu+1, 2 relu (ocla_feature_map) */
    int gate;      /* ocla_gate_kind: 0 none, 1 scalar [B,T,H], 2 vector [B,T,H,K], 3 fixed decay */
    int normalize;
    double eps, scale;
    const double *fixed_decay; /* [H] for gate 3 */
} ref_attn_cfg;

typedef struct ref_attn_in {
    double *q, *k, *v, *g; /* g NULL unless gate 1/2 */
    double *h0, *z0;       /* NULL = zeros */
} ref_attn_in;

typedef struct ref_attn_grads {
    double *dq, *dk, *dv, *dg, *dh0, *dz0; /* each may be NULL (not computed) */
} ref_attn_grads;

/* o [B,T,H,V] (may be NULL), hT [B,H,K,V] (may be NULL), zT [B,H,K] (may be NULL). */
void ref_attn_forward(const ref_attn_cfg *c, const ref_attn_in *in, double *o, double *hT, double *zT);
double ref_attn_loss(const ref_attn_cfg *c, const ref_attn_in *in, const double *dout, const double *dhT,
                     const double *dzT);
void ref_attn_backward(const ref_attn_cfg *c, const ref_attn_in *in, const double *dout, const double *dhT,
                       const double *dzT, ref_attn_grads *out);
/* Finite differences with step h (relative to max(1,|x|)); perturbs in->* in place and restores. */
void ref_attn_fd(const ref_attn_cfg *c, ref_attn_in *in, const double *dout, const double *dhT, const double *dzT,
                 double h, ref_attn_grads *out);

#endif
