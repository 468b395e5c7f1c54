/* SPDX-License-Identifier: MIT */
/* ocla FLASH op: mixed chunk attention, the attention of the GAU / FLASH layer (<ocla/layers.h>).
 * Include <ocla/ocla.h> first (it includes this header through <ocla/layers.h>).
 *
 * Layout as in <ocla/attention.h>: [B,T,H,D], any strides. The math of every kernel: docs/KERNELS.md,
 * section "FLASH, Linformer, softmax, layers".
 *
 * Element types (issue 14): qq, kq, ql, kl, v, o, params.rel_bias and, in the backward, d_o and every
 * gradient (d_rel_bias too) are all of qq's dtype: OCLA_F32, OCLA_BF16 or OCLA_F16 (another tensor's
 * dtype: OCLA_ERR_UNSUPPORTED naming it, e.g. "kq (qq's dims and dtype) is a f32 tensor and this op
 * takes bf16 here", before any kernel runs). The kernels read and write the half tensors themselves
 * (widened exactly on load); the scores, the chunk states, their prefix / suffix and every sum are
 * fp32, and each output element is rounded once to nearest even. An fp16 output beyond 65504 is +-Inf
 * (docs/RELIABILITY.md). Accuracy against fp64: docs/ARCHITECTURE.md, "Half precision".
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_FLASH_H
#define OCLA_FLASH_H
#ifdef __cplusplus
extern "C" {
#endif

/* ---- FLASH mixed chunk attention (Hua et al. 2022, methods.md section 3.2) ----
 * Chunks of C tokens, g = t / C. Quadratic part inside the chunk (causal: s <= t):
 *   A_ts = quad_post * relu(quad_scale * rope(qq_t) . rope(kq_s) + bias_scale * b[h][t - s + C - 1])^2
 * Linear part across chunks (no feature map, no denominator):
 *   causal:     S_g = lin(g) * sum_{h<g} rope(kl)_h^T v_h     (exclusive prefix over chunks)
 *   non-causal: M   = lin_scale * sum_all rope(kl)_s^T v_s   (lin_scale default 1 / T)
 *   o_t = sum_s A_ts v_s + rope(ql_t)^T S_g
 * qq, kq, ql, kl: [B,T,H,S]; v, o: [B,T,H,E]. One head in the paper (H = 1); H > 1 runs heads
 * independently. */
typedef enum ocla_flash_lin_norm {
    OCLA_FLASH_LIN_CHUNK = 0, /* causal: each chunk's K^T V divided by C, plain prefix sum (paper code as in
                                 lucidrains/FLASH-pytorch; default) */
    OCLA_FLASH_LIN_MEAN = 1   /* causal: S_g divided by the count of preceding tokens g*C (Su; the
                                 row-normalised chunk mask of the third-party transcriptions) */
} ocla_flash_lin_norm;

typedef struct ocla_flash_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_flash_params_defaults() */
    int causal;            /* 1 (default) */
    int chunk;             /* C: 256 (paper, default); any C in 1..4096; 0 = OCLA_CHUNK, else the scheduler's
                              pick of 16..256 (OCLA_OP_FLASH_CHUNK) */
    int has_quad_scale;    /* 0: quad_scale = 1 / C (paper appendix code, "qk / G") */
    float quad_scale;      /* e.g. 1/sqrt(S) with quad_post = 1/C for the paper text's variant */
    float bias_scale;      /* 1 (paper code: bias added after the 1/C); lucidrains GAU: 1/C */
    float quad_post;       /* 1 */
    const ocla_tensor *rel_bias; /* NULL (default) or [H, 2C-1]: Toeplitz bias b[h][t - s + C - 1] */
    ocla_flash_lin_norm lin_norm; /* causal linear-part normaliser, default OCLA_FLASH_LIN_CHUNK */
    int has_lin_scale;     /* 0: 1/C (causal, CHUNK) or 1/T (non-causal); 1: lin_scale replaces it */
    float lin_scale;
    int rope_dims;         /* 0: no RoPE (default); else even, <= S: split-half RoPE on the first
                              rope_dims dims of qq, kq, ql, kl at global positions pos_offset + t */
    float rope_base;       /* 10000 */
    int64_t pos_offset;    /* 0 */
    /* Packed sequences (fla's cu_seqlens; later fields, appended), causal only: NULL (default), or a
     * host array of n_seqs + 1 int32 offsets into the time axis of qq, which then holds n_seqs
     * sequences back to back: qq, kq, ql, kl [1,T,H,S], v, o [1,T,H,E] (B = 1), sequence i = tokens
     * [cu_seqlens[i], cu_seqlens[i+1]). cu_seqlens[0] = 0, every sequence at least one token
     * (strictly increasing), cu_seqlens[n_seqs] = T: OCLA_ERR_INVALID_ARGUMENT naming the offset
     * otherwise; B != 1 is OCLA_ERR_SHAPE; non-causal with offsets OCLA_ERR_UNSUPPORTED. Each
     * sequence runs as if alone: its chunks start at its first token (its last chunk may be short),
     * its linear prefix starts from 0, its RoPE positions are pos_offset + the token's index within
     * the sequence. The chunk C (the scheduler's pick for chunk 0 does not depend on T) and
     * the defaults of quad_scale and lin_scale (1 / C) are the same for every sequence. The backward
     * takes the same offsets (runtime/op_flash_seq.c). */
    const int32_t *cu_seqlens;
    int n_seqs;
} ocla_flash_params;
OCLA_API void ocla_flash_params_defaults(ocla_flash_params *params);

typedef struct ocla_flash_io {
    const ocla_tensor *qq, *kq; /* quadratic-part queries and keys [B,T,H,S] */
    const ocla_tensor *ql, *kl; /* linear-part queries and keys [B,T,H,S] */
    const ocla_tensor *v;       /* [B,T,H,E] */
    ocla_tensor *o;             /* [B,T,H,E]; may not share memory with an input (params.rel_bias too) nor
                                   have overlapping elements: OCLA_ERR_INVALID_ARGUMENT */
} ocla_flash_io;
OCLA_API ocla_status ocla_flash_attention(ocla_context *ctx, const ocla_flash_params *params,
                                          const ocla_flash_io *io);

/* ---- backward of ocla_flash_attention (runtime/op_flash_bwd.c, kernels_cl/flash_bwd.cl) ----
 * Given dL/do for a scalar loss L, the gradients of every input of the forward above with the same
 * params (causal or not, either lin_norm, scales, RoPE, relative bias), the chunk resolved as there:
 *   dX_ts = 2 quad_post relu(x_ts) (d_o_t . v_s) for the scores x_ts inside the chunk;
 *   dqq, dkq = rope^T(quad_scale sum dX rope(k / q)), d rel_bias[h][t-s+C-1] = bias_scale sum dX;
 *   dql = rope^T(S_g d_o), dkl = rope^T(dS_g v), dv = sum_t A_ts d_o_t + dS_g^T rope(kl), where dS_g is
 *   the reverse exclusive suffix over the chunks of lin(g') sum rope(ql) d_o^T (causal) or its total
 *   (non-causal). Recomputes the scores and the chunk states (nothing is kept from the forward).
 * The math, the temporaries and how it is tested: docs/TRAINING.md, "FLASH backward". */
typedef struct ocla_flash_grad_io {
    /* forward inputs, exactly as given to ocla_flash_attention (params.rel_bias too) */
    const ocla_tensor *qq, *kq, *ql, *kl; /* [B,T,H,S] */
    const ocla_tensor *v;                 /* [B,T,H,E] */
    const ocla_tensor *d_o;               /* [B,T,H,E] dL/do (required) */
    /* outputs (overwritten, never accumulated); none may share memory with an input above, with
     * params.rel_bias or with another output (OCLA_ERR_INVALID_ARGUMENT, naming both) */
    ocla_tensor *dqq, *dkq, *dql, *dkl;   /* [B,T,H,S] (required) */
    ocla_tensor *dv;                      /* [B,T,H,E] (required) */
    ocla_tensor *d_rel_bias;              /* [H, 2C-1] contiguous along its last dim, or NULL to skip;
                                             only with params.rel_bias */
} ocla_flash_grad_io;
/* Temporaries in the context's scratch slots 0-3 (grown on demand, kept for the next call). With
 * B, T or H = 0 nothing is computed or written (d_rel_bias included). */
OCLA_API ocla_status ocla_flash_backward(ocla_context *ctx, const ocla_flash_params *params,
                                         const ocla_flash_grad_io *io);

#ifdef __cplusplus
}
#endif
#endif
