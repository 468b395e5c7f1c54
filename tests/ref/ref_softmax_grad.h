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
/* The same for a backward given o (its input o, e.g. rounded to half): D = do . o_given. */
void ref_softmax_backward_given_o(const ref_sm_shape *s, const float *q, const float *k, const float *v,
                                  const float *d_o, const float *o_given, double *dq, double *dk, double *dv);

/* Linformer (non-causal): K' = E_h[:, :T] k, V' = F_h[:, :T] v per (b, h), o = softmax attention of q
 * over K', V' (scale); E, F [kp, n] (per_head: [H, kp, n], dense). Writes dq, dk, dv and dE, dF
 * (E's dims; columns from T on zero): dE = sum dK' k^T, dF = sum dV' v^T, each for the matrix as
 * used on keys (E) and on values (F): a caller whose E and F are the same matrix adds the two. */
typedef struct ref_lf_shape {
    int B, T, H, D, Dv, kp, n, per_head;
    double scale;
} ref_lf_shape;
void ref_linformer_backward(const ref_lf_shape *s, const float *E, const float *F, const float *q, const float *k,
                            const float *v, const float *d_o, double *dq, double *dk, double *dv, double *dE,
                            double *dF);
/* The same for a backward given o (its input o, e.g. rounded to half): D = do . o_given. */
void ref_linformer_backward_given_o(const ref_lf_shape *s, const float *E, const float *F, const float *q,
                                    const float *k, const float *v, const float *d_o, const float *o_given, double *dq,
                                    double *dk, double *dv, double *dE, double *dF);

#endif
