/* SPDX-License-Identifier: MIT */
/* ocla softmax-family ops: tiled softmax attention (the baseline every benchmark compares against)
 * and Linformer, whose core is the same softmax kernel over the projected keys and values.
 * Include <ocla/ocla.h> first (it includes this header through <ocla/layers.h>).
 *
 * Layout as in <ocla/attention.h>: q, k [B,T,H,K], v, o [B,T,H,V], any strides (so [B,H,T,D]
 * views work too). fp32, except where an op below says it takes half-precision tensors (issue 14;
 * docs/ARCHITECTURE.md, "Half precision"). The math of every kernel: docs/KERNELS.md, section
 * "FLASH, Linformer, softmax, layers".
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_SOFTMAX_H
#define OCLA_SOFTMAX_H
#ifdef __cplusplus
extern "C" {
#endif

/* ---- softmax attention (flash-style: online softmax over key blocks, never T x T in memory) ----
 *   o_t = sum_s softmax_s(scale * q_t . k_s) v_s,  s <= t when causal.
 * q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], o [B,T,H,V]; non-causal allows Tk != T (cross attention,
 * Linformer's projected keys), causal needs Tk = T. o may not share memory with q, k or v nor have
 * overlapping elements (OCLA_ERR_INVALID_ARGUMENT); the same holds for Linformer's o (and E, F).
 * Half precision: q, k, v, o all OCLA_F32, all OCLA_BF16 or all OCLA_F16 (q's dtype; another mix is
 * OCLA_ERR_UNSUPPORTED naming the tensor). Scores, the running maximum and sum and the accumulators
 * are fp32 whatever the dtype; o is rounded once, to nearest even. An fp16 o beyond 65504 is stored
 * as +-Inf and the call returns OCLA_SUCCESS (outputs are not scanned: docs/RELIABILITY.md). */
typedef struct ocla_softmax_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_softmax_params_defaults() */
    int causal;     /* 1 (default) */
    int has_scale;  /* 0: scale = K^-0.5 */
    float scale;
    int block;      /* query rows per work-group: 0 = the scheduler's pick (or OCLA_CHUNK); else 16, 32
                       or 64 (OCLA_OP_SOFTMAX_TILED; ocla_plan_explain shows the kernel and tiles) */
} ocla_softmax_params;
OCLA_API void ocla_softmax_params_defaults(ocla_softmax_params *params);
/* K and V up to 256. */
OCLA_API ocla_status ocla_softmax_attention(ocla_context *ctx, const ocla_softmax_params *params,
                                            const ocla_tensor *q, const ocla_tensor *k, const ocla_tensor *v,
                                            ocla_tensor *o);

/* ---- softmax attention backward (flash-style: P recomputed from q, k and each row's logsumexp) ----
 * For the forward above and dL/do = d_o: dv_s = sum_t p_ts do_t, dq_t = scale sum_s ds_ts k_s,
 * dk_s = scale sum_t ds_ts q_t, with ds_ts = p_ts (do_t . v_s - do_t . o_t). params as given to the
 * forward (causal, scale, block: query and key rows per work-group; OCLA_OP_SOFTMAX_BACKWARD in
 * ocla_plan_explain shows the tiles); o is the forward's output (its D_t = do_t . o_t). The
 * logsumexp of every row is recomputed (one more Q K^T pass), never taken from the forward.
 * Memory: 8 bytes per (b, h, query row) of the context's scratch; nothing T x T. The outputs are
 * overwritten, never accumulated, and may not share memory with an input or with each other
 * (OCLA_ERR_INVALID_ARGUMENT); shapes, K, V and the block as the forward refuses them. Math and
 * tests: docs/TRAINING.md, "Softmax attention backward".
 * Half precision: every tensor of q's dtype (fp32, bf16 or fp16); the logsumexp, D, P, dS and the
 * accumulators fp32, each gradient rounded once (where the blocks are split over launches, Mesa
 * llvmpipe, the accumulators carry over in fp32 scratch: B*H*max(T, Tk)*(DK + DV) floats more);
 * an fp16 gradient beyond 65504 is stored as +-Inf, as for the forward's o. */
typedef struct ocla_softmax_grad_io {
    const ocla_tensor *q, *k, *v, *o; /* the forward's inputs and output */
    const ocla_tensor *d_o;           /* dL/do, o's dims */
    ocla_tensor *dq, *dk, *dv;        /* dims of q, k, v */
} ocla_softmax_grad_io;
OCLA_API ocla_status ocla_softmax_backward(ocla_context *ctx, const ocla_softmax_params *params,
                                           const ocla_softmax_grad_io *io);

/* ---- Linformer (Wang et al. 2020, methods.md section 2), non-causal only ----
 * Keys and values are projected along the sequence axis with E, F [kp, n] (CLBlast), any T <= n
 * using the first T columns (as fairseq does): K' = E[:, :T] K, V' = F[:, :T] V per (b, h), then
 * fp32 softmax attention over the kp projected rows:  o_t = sum_r softmax_r(scale q_t . K'_r) V'_r.
 * q [B,T,H,D], k [B,T,H,D], v [B,T,H,Dv] with unit stride along the last dim; o [B,T,H,Dv]. */
typedef enum ocla_linformer_sharing {
    OCLA_LINFORMER_HEADWISE = 0,  /* E, F [kp, n], shared by all heads (default) */
    OCLA_LINFORMER_KEY_VALUE = 1, /* one E [kp, n] for keys and values (F ignored) */
    OCLA_LINFORMER_LAYERWISE = 2, /* as KEY_VALUE; the caller passes the same E to every layer */
    OCLA_LINFORMER_NONE = 3       /* per head: E, F [H, kp, n] */
} ocla_linformer_sharing;
typedef struct ocla_linformer_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_linformer_params_defaults() */
    int causal;    /* 0 (default); 1 is refused: the projection mixes future tokens into every row */
    int has_scale; /* 0: scale = D^-0.5 */
    float scale;
    ocla_linformer_sharing sharing;
    int block;     /* softmax block, see ocla_softmax_params */
} ocla_linformer_params;
OCLA_API void ocla_linformer_params_defaults(ocla_linformer_params *params);
typedef struct ocla_linformer_io {
    const ocla_tensor *q, *k, *v;
    const ocla_tensor *E, *F; /* contiguous; F NULL with KEY_VALUE / LAYERWISE */
    ocla_tensor *o;
} ocla_linformer_io;
OCLA_API ocla_status ocla_linformer_attention(ocla_context *ctx, const ocla_linformer_params *params,
                                              const ocla_linformer_io *io);

/* Linformer backward: for the forward above and dL/do = d_o, dq, dk, dv and the projections'
 * gradients dE, dF (runtime/op_linformer_bwd.c): K', V' are projected again, ocla_softmax_backward
 * gives dq, dK', dV' over the kp projected rows, then per (b, h) dk = E[:, :T]^T dK', dv =
 * F[:, :T]^T dV', dE[:, :T] = sum_b,h dK' k^T (per head for sharing NONE), dF likewise (CLBlast),
 * columns T..n-1 of dE and dF zero. KEY_VALUE / LAYERWISE: E serves keys and values, dE holds both
 * terms and dF must be NULL. dE, dF may be NULL (frozen projections); dq, dk, dv are required; dk and
 * dv need unit stride along the last dim and a token stride >= it (GEMM operands), like k and v.
 * Temporaries: K', V', dK', dV' ([B,kp,H,D or Dv] each) in the context's scratch slot 7 and the
 * softmax backward's row statistics. */
typedef struct ocla_linformer_grad_io {
    const ocla_tensor *q, *k, *v, *E, *F; /* the forward's inputs (F NULL with KEY_VALUE / LAYERWISE) */
    const ocla_tensor *o;                 /* the forward's output */
    const ocla_tensor *d_o;               /* dL/do, o's dims */
    ocla_tensor *dq, *dk, *dv;            /* dims of q, k, v */
    ocla_tensor *dE, *dF;                 /* E's dims, dense; NULL to skip */
} ocla_linformer_grad_io;
OCLA_API ocla_status ocla_linformer_backward(ocla_context *ctx, const ocla_linformer_params *params,
                                             const ocla_linformer_grad_io *io);

#ifdef __cplusplus
}
#endif
#endif
