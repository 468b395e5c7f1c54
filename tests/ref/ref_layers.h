/* SPDX-License-Identifier: MIT */
/* fp64 C references for softmax attention and FLASH mixed chunk attention (tests only).
 * Layout: q, k [B,T,H,K], v, o [B,T,H,V], dense row-major. */
#ifndef OCLA_REF_LAYERS_H
#define OCLA_REF_LAYERS_H
#include <stdint.h>

/* Quadratic softmax attention: o_t = sum_s softmax(scale q_t.k_s) v_s, s <= t when causal. */
void ref_softmax_attention(int B, int T, int H, int K, int V, int causal, double scale, const float *q,
                           const float *k, const float *v, double *o);

typedef struct ref_flash_cfg {
    int B, T, H, S, E, C, causal;
    double quad_scale, bias_scale, quad_post;
    const float *bias; /* [H, 2C-1] or NULL */
    int lin_mean;      /* causal: divide the exclusive prefix by g (count of preceding chunks) */
    double lin;        /* 1/C causal, 1/T non-causal unless overridden */
    int rope_dims;
    double rope_base;
    int64_t pos0;
} ref_flash_cfg;

/* Masked token-level form (no chunked states): o_t = sum_{s in chunk(t), s<=t if causal} A_ts v_s
 *   + sum_{s in earlier chunks (causal) | all s (non-causal)} w * (rope(ql_t).rope(kl_s)) v_s. */
void ref_flash_attention(const ref_flash_cfg *c, const float *qq, const float *kq, const float *ql, const float *kl,
                         const float *v, double *o);
/* Linformer: K' = E_h[:, :T] K, V' = F_h[:, :T] V per (b, h) (E_h = E + h*kp*n when per_head), then
 * softmax attention over the kp rows with scale. E, F: [kp, n] or [H, kp, n]. */
void ref_linformer(int B, int T, int H, int D, int Dv, int kp, int n, int per_head, double scale, const float *E,
                   const float *F, const float *q, const float *k, const float *v, double *o);
#endif
