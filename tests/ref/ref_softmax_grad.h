/* SPDX-License-Identifier: MIT */
/* fp64 reference gradients of softmax attention (tests/ref/ref_softmax_grad.c): the quadratic form,
 * every score and probability explicit. */
#ifndef OCLA_REF_SOFTMAX_GRAD_H
#define OCLA_REF_SOFTMAX_GRAD_H

/* Shapes: q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], d_o [B,T,H,V], all dense; causal needs Tk = T.
 *   p_ts = softmax_s(scale q_t . k_s) (s <= t when causal), o_t = sum_s p_ts v_s,
 *   dv_s = sum_t p_ts do_t, ds_ts = p_ts (do_t . v_s - do_t . o_t),
 *   dq_t = scale sum_s ds_ts k_s, dk_s = scale sum_t ds_ts q_t.
 * Writes o (unless NULL), dq, dk, dv (dense, the shapes of d_o, q, k, v). */
typedef struct ref_sm_shape {
    int B, T, Tk, H, K, V, causal;
    double scale;
} ref_sm_shape;
void ref_softmax_backward(const ref_sm_shape *s, const float *q, const float *k, const float *v, const float *d_o,
                          double *o, double *dq, double *dk, double *dv);

#endif
