/* SPDX-License-Identifier: MIT */
/* ocla layers API: attention blocks on [B,T,d] built from the ops and CLBlast projections: the GLA
 * layer, the multi-head linear / softmax / Linformer layers and the GAU / FLASH layer. Include
 * <ocla/ocla.h> first (it includes this header). The ops the layers use have their own headers,
 * included here: <ocla/softmax.h> (softmax attention, Linformer) and <ocla/flash.h> (FLASH).
 *
 * The math of every kernel: docs/KERNELS.md, section "FLASH, Linformer, softmax, layers".
 *
 * Half precision (issue 14): the GLA layer, the multi-head layers (linear, softmax, Linformer) and the
 * GAU / FLASH layer, forward and backward, take x of dtype OCLA_BF16 or OCLA_F16 with every weight
 * (the GAU layer's params.flash.rel_bias too), y, dy, dx and every weight's gradient of x's dtype
 * (another mix: OCLA_ERR_UNSUPPORTED naming the tensor); states
 * (initial_state, final_state and its gradient) stay fp32. Today each such call converts at its
 * boundary: fp32 copies of its half tensors in the context's scratch (one per tensor: 2 bytes more
 * per element of every argument than the fp32 call), the fp32 layer on them (projections by SGEMM,
 * intermediates and the attention op fp32), each output rounded once to nearest even. An fp16
 * output beyond 65504 is +-Inf (docs/RELIABILITY.md). Cost and accuracy: docs/ARCHITECTURE.md,
 * "Half precision".
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_LAYERS_H
#define OCLA_LAYERS_H

#include "ocla/flash.h"
#include "ocla/softmax.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GLA layer (flash-linear-attention's GatedLinearAttention, default options) ----
 *   q = x Wq, k = x Wk, v = x Wv                    [B,T,H,K] / [B,T,H,V] views of [B,T,H*K] ...
 *   g = logsigmoid(x Wg1 Wg2 + bg2) / tau           low-rank gate, [B,T,H,K]
 *   o = GLA(q, k, v, g)                             ocla_attention_forward, scale K^-0.5
 *   u = RMSNorm_v(o) * norm_w * swish(x Wr)         per head over V, eps; swish(z) = z sigmoid(z)
 *   y = u Wo                                        [B,T,d]
 * x and y are dense [B,T,d]; weights are dense row-major [in, out] (y = x W). Projections run
 * through CLBlast. Intermediates live in the context's scratch memory: a repeated call allocates
 * nothing on the device. */
typedef struct ocla_gla_layer_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_gla_layer_params_defaults() */
    int heads;            /* H */
    int head_k, head_v;   /* K, V per head */
    float gate_tau;       /* 16 (fla's gate_logit_normalizer) */
    float norm_eps;       /* 1e-5 */
    ocla_attn_form form;  /* chunked (default) or recurrent */
    int chunk;            /* 0 = scheduler */
    ocla_tensor *final_state; /* optional [B,H,K,V]: the state after the last token; may be
                                 initial_state itself (in place); y and final_state may not share
                                 memory with x, a weight or initial_state otherwise */
    const ocla_tensor *initial_state; /* optional [B,H,K,V] */
    /* Packed sequences (fla's cu_seqlens; later fields, appended): NULL, or n_seqs + 1 int32 offsets
     * into the time axis of x [1,T,d] (B = 1), which holds n_seqs sequences back to back; each runs as
     * if alone. The projections, gate and norm are per token; the attention gets the offsets
     * (ocla_attn_params.cu_seqlens: chunked form only, offsets checked there, OCLA_ERR_INVALID_ARGUMENT
     * naming the offset). States are then per sequence: initial_state / final_state [n_seqs,H,K,V]. */
    const int32_t *cu_seqlens;
    int n_seqs;
    /* State slots (continuous batching): NULL, or n_state_slots int32 indices, one per row of x (per
     * sequence when packed); initial_state / final_state are then pools [S,H,K,V] and row b reads and
     * writes row state_slots[b] only (ocla_attn_params.state_slots: indices in [0, S), no repeats,
     * refused naming the index otherwise). Both forms; the recurrent one is the decode step. */
    const int32_t *state_slots;
    int n_state_slots;
} ocla_gla_layer_params;
OCLA_API void ocla_gla_layer_params_defaults(ocla_gla_layer_params *params);

typedef struct ocla_gla_layer_weights {
    const ocla_tensor *w_q, *w_k; /* [d, H*K] */
    const ocla_tensor *w_v, *w_r; /* [d, H*V]; w_r: the swish output gate */
    const ocla_tensor *w_g1;      /* [d, R] low-rank gate, e.g. R = 16 */
    const ocla_tensor *w_g2;      /* [R, H*K] */
    const ocla_tensor *b_g2;      /* [H*K] or NULL */
    const ocla_tensor *norm_w;    /* [V] RMSNorm weight, shared by the heads */
    const ocla_tensor *w_o;       /* [H*V, d] */
} ocla_gla_layer_weights;
OCLA_API ocla_status ocla_gla_layer_forward(ocla_context *ctx, const ocla_gla_layer_params *params,
                                            const ocla_gla_layer_weights *w, const ocla_tensor *x, ocla_tensor *y);

/* ---- GLA layer backward (runtime/layer_gla_bwd.c) ----
 * For the forward above with the same params, weights and x, and dL/dy = dy [B,T,d]: dx (NULL =
 * not wanted) and the gradients of the weights in grads (NULL grads or NULL fields = not wanted;
 * each has its weight's dims, dense; b_g2 only when weights.b_g2 is given; initial_state [B,H,K,V]
 * only when params.initial_state is given). Gradients are written, never accumulated. The forward's
 * intermediates are recomputed in the context's scratch (nothing saved between the calls); the chain
 * runs back through the output projection, the swish gate and RMSNorm (kernels_cl/layer_bwd.cl),
 * ocla_attention_backward (the gradient of the exact forward, whichever params.form computed it),
 * the log-sigmoid gate (ocla_gate_logsigmoid_backward) and the projections (CLBlast). params.final_state
 * is not written and contributes no gradient (the loss is a function of y). No output may share memory
 * with x, dy, a weight, initial_state or another output (OCLA_ERR_INVALID_ARGUMENT); shapes as the
 * forward checks them (OCLA_ERR_SHAPE, naming the tensor). */
typedef struct ocla_gla_layer_grads {
    ocla_tensor *w_q, *w_k, *w_v, *w_r, *w_g1, *w_g2, *b_g2, *norm_w, *w_o;
    ocla_tensor *initial_state;
} ocla_gla_layer_grads;
OCLA_API ocla_status ocla_gla_layer_backward(ocla_context *ctx, const ocla_gla_layer_params *params,
                                             const ocla_gla_layer_weights *weights, const ocla_tensor *x,
                                             const ocla_tensor *dy, ocla_tensor *dx, const ocla_gla_layer_grads *grads);

/* ==== begin: multi-head attention layers (linear, softmax, Linformer) on [B,T,d] (runtime/layer_mha.c) ====
 *   q = x Wq (+ bq), k = x Wk (+ bk)    [B,T,H*K], viewed as [B,T,H,K]
 *   v = x Wv (+ bv)                     [B,T,H*V], viewed as [B,T,H,V]
 *   o = attention(q, k, v)              per params.kind:
 *       LINEAR     ocla_attention_forward, chunked: o_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps) with
 *                  S_t = sum_{s<=t} phi(k_s) v_s^T, z_t = sum_{s<=t} phi(k_s) (all s when non-causal);
 *                  phi = elu+1 by default (Katharopoulos et al. / fast-transformers: no 1/sqrt(K) scale,
 *                  eps 1e-6)
 *       SOFTMAX    ocla_softmax_attention: o_t = sum_{s(<=t)} softmax_s(scale q_t . k_s) v_s, scale K^-0.5
 *       LINFORMER  ocla_linformer_attention: o_t = softmax(scale q_t (E k)^T) (F v), E/F [kp, n] (or
 *                  [H, kp, n]) with the first T columns; the paper's / lucidrains' order (E after the k
 *                  projection and its bias, not fairseq's E before it); non-causal only
 *   y = o Wo (+ bo)                     [B,T,d]
 * x and y are dense [B,T,d]; weights are dense row-major [in, out] (y = x W), biases [out] or NULL;
 * y may not share memory with x or a weight (OCLA_ERR_INVALID_ARGUMENT). Projections run through CLBlast; intermediates live in the context's scratch memory (a repeated
 * call allocates nothing on the device). */
typedef enum ocla_mha_kind {
    OCLA_MHA_LINEAR = 0,   /* linear attention (Katharopoulos et al. 2020) */
    OCLA_MHA_SOFTMAX = 1,  /* softmax attention, the baseline */
    OCLA_MHA_LINFORMER = 2 /* Linformer (Wang et al. 2020) */
} ocla_mha_kind;

typedef struct ocla_mha_layer_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_mha_layer_params_defaults() */
    ocla_mha_kind kind;
    int heads;                   /* H (default 1) */
    int head_k, head_v;          /* K and V per head (default 64) */
    int causal;                  /* LINEAR, SOFTMAX: 1 (default) or 0; LINFORMER: 0 (1 is refused) */
    int has_scale;               /* 0: LINEAR 1 (the paper has no scale), SOFTMAX / LINFORMER K^-0.5 */
    float scale;
    ocla_feature_map feature_map;/* LINEAR: OCLA_FEATURE_ELU1 (default), RELU or IDENTITY */
    int normalize;               /* LINEAR: 1 (default): divide by phi(q).z + eps */
    float eps;                   /* LINEAR: 1e-6 (fast-transformers) */
    int chunk;                   /* LINEAR: 0 = the scheduler's pick (or OCLA_CHUNK); else 16..256 */
    int block;                   /* SOFTMAX / LINFORMER: softmax block, 0 = the runtime's pick */
    ocla_linformer_sharing sharing; /* LINFORMER: which of weights.E / weights.F are used, see above */
    /* Packed sequences (later fields, appended): NULL, or n_seqs + 1 int32 offsets into the time axis
     * of x [1,T,d], as ocla_attn_params.cu_seqlens. LINEAR causal only (the attention op takes them);
     * SOFTMAX, LINFORMER and non-causal LINEAR refuse them (OCLA_ERR_UNSUPPORTED naming cu_seqlens):
     * their ops have no sequence table, and a non-causal or Linformer row mixes the whole time axis.
     * The layer keeps no states, so it has no state slots. */
    const int32_t *cu_seqlens;
    int n_seqs;
} ocla_mha_layer_params;
/* Defaults of the given kind (see the fields); heads 1, head_k = head_v = 64. */
OCLA_API void ocla_mha_layer_params_defaults(ocla_mha_layer_params *params, ocla_mha_kind kind);

typedef struct ocla_mha_layer_weights {
    const ocla_tensor *w_q, *w_k; /* [d, H*K] */
    const ocla_tensor *w_v;       /* [d, H*V] */
    const ocla_tensor *w_o;       /* [H*V, d] */
    const ocla_tensor *b_q, *b_k; /* [H*K] or NULL */
    const ocla_tensor *b_v;       /* [H*V] or NULL */
    const ocla_tensor *b_o;       /* [d] or NULL */
    const ocla_tensor *E, *F;     /* LINFORMER only: sequence projections [kp, n] (HEADWISE), [H, kp, n]
                                     (NONE); F NULL with KEY_VALUE / LAYERWISE. kp <= n, T <= n. */
} ocla_mha_layer_weights;
OCLA_API ocla_status ocla_mha_layer_forward(ocla_context *ctx, const ocla_mha_layer_params *params,
                                            const ocla_mha_layer_weights *weights, const ocla_tensor *x,
                                            ocla_tensor *y);

/* Backward of ocla_mha_layer_forward (runtime/layer_mha_bwd.c): for the same params, weights and x and
 * dL/dy = dy [B,T,d], dx (NULL = not wanted) and the weights' gradients in grads (NULL grads or NULL
 * fields = not wanted; each has its weight's dims, dense; a bias's only when the weight has that
 * bias; E, F: LINFORMER only, F not with KEY_VALUE / LAYERWISE, where E's gradient holds both uses).
 * Gradients are written, never accumulated. q, k, v and o are recomputed in the context's scratch
 * (nothing is saved between the calls), then the output projection's backward, the op's backward
 * (LINEAR: ocla_attention_backward; non-causal from the causal op's: the whole sequence's state as
 * its final state, the read of it as the op started from that state (runtime/layer_mha_bwd.c);
 * SOFTMAX: ocla_softmax_backward; LINFORMER: ocla_linformer_backward with E's and F's gradients) and
 * the input projections' (CLBlast). No output may share memory with x, dy, a weight or another output
 * (OCLA_ERR_INVALID_ARGUMENT); shapes as the forward checks them (OCLA_ERR_SHAPE, naming the tensor). */
typedef struct ocla_mha_layer_grads {
    ocla_tensor *w_q, *w_k, *w_v, *w_o;
    ocla_tensor *b_q, *b_k, *b_v, *b_o;
    ocla_tensor *E, *F;
} ocla_mha_layer_grads;
OCLA_API ocla_status ocla_mha_layer_backward(ocla_context *ctx, const ocla_mha_layer_params *params,
                                             const ocla_mha_layer_weights *weights, const ocla_tensor *x,
                                             const ocla_tensor *dy, ocla_tensor *dx, const ocla_mha_layer_grads *grads);
/* ==== end: multi-head attention layers ==== */

/* ==== begin: GAU / FLASH layer (Hua et al. 2022, methods.md section 3) on [B,T,d] (runtime/layer_gau.c) ====
 *   xn = norm(x)                                   LayerNorm (default) / ScaleNorm / none, see below
 *   [U | V | Z] = silu(xn W_uvz + b_uvz)           U, V [B,T,e], Z [B,T,s]; silu(a) = a sigmoid(a)
 *   Q_quad = Z gamma[0] + beta[0], K_quad = Z gamma[1] + beta[1]        per-dim scale and offset
 *   Q_lin  = Z gamma[2] + beta[2], K_lin  = Z gamma[3] + beta[3]        ("OffsetScale", [4, s])
 *   AV = ocla_flash_attention(qq = Q_quad, kq = K_quad, ql = Q_lin, kl = K_lin, v = V), one head (H = 1)
 *   O  = (U * AV) W_o + b_o                        [B,T,d]
 *   y  = x + O  (residual = 1, default)  or  y = O  (residual = 0)
 * The attention is exactly ocla_flash_attention with params.flash (chunk, scales, causal / linear
 * normaliser, rel_bias [1, 2C-1], RoPE, pos_offset), so everything said there holds here. (The layer
 * applies the RoPE rotation itself, once per token, and runs the op with rope_dims = 0: same math.)
 * Norms: LAYER  (x - mean) / sqrt(var + eps) * norm_w + norm_b    (biased variance; norm_w, norm_b [d])
 *        SCALE  x / max(||x|| d^-1/2, eps) * norm_w[0]             (lucidrains' ScaleNorm; norm_w [1])
 *        NONE   xn = x                                             (norm_w, norm_b ignored)
 * NULL norm_w means 1, NULL norm_b / b_uvz / beta / b_o mean 0.
 * x and y are dense [B,T,d] of one dtype, fp32 or half (above; y may be x itself, in place, but no
 * other overlap of y with x or a weight: OCLA_ERR_INVALID_ARGUMENT); weights are dense row-major [in, out]
 * (y = x W). Projections run through CLBlast; intermediates (about B*T*(d + 3e + 5s) floats) live
 * in the context's scratch memory (a repeated call allocates nothing on the device). */
typedef enum ocla_gau_norm {
    OCLA_GAU_NORM_LAYER = 0, /* LayerNorm (the paper's code default; methods.md 3.1) */
    OCLA_GAU_NORM_SCALE = 1, /* ScaleNorm (lucidrains' FLASHTransformer default) */
    OCLA_GAU_NORM_NONE = 2   /* no norm (the caller normalises, or a pre-normed input) */
} ocla_gau_norm;

typedef struct ocla_gau_layer_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_gau_layer_params_defaults() */
    int hidden_dim;          /* e, the width of U and V: 0 (default) = 2 * d (the paper's e = 2d) */
    int qk_dim;              /* s, the width of Z: 128 (paper, default) */
    ocla_gau_norm norm;      /* OCLA_GAU_NORM_LAYER (default) */
    float norm_eps;          /* 1e-5 (LayerNorm: inside the sqrt; ScaleNorm: the clamp) */
    int residual;            /* 1 (default): y = x + O; 0: y = O */
    ocla_flash_params flash; /* ocla_flash_params_defaults (chunk 256, relu(qk/C + b)^2, causal, linear
                                part / C with an exclusive chunk prefix) except rope_dims = 128 = qk_dim:
                                the paper's model applies RoPE to all s dims of the four Q/K (set 0 to
                                turn it off; keep rope_dims <= qk_dim when changing qk_dim) */
    /* Packed sequences (later fields, appended): NULL, or n_seqs + 1 int32 offsets into the time
     * axis of x [1,T,d] (B = 1), which holds n_seqs sequences back to back; each runs as if alone
     * (forward and backward): the layer passes them to ocla_flash_attention / ocla_flash_backward
     * (ocla_flash_params.cu_seqlens: FLASH's chunks and linear prefix restart at each sequence) and
     * counts its RoPE positions from each sequence's first token; the norm, projections and gate are
     * per token. Causal only (flash.causal = 0 with offsets: OCLA_ERR_UNSUPPORTED naming cu_seqlens);
     * the offsets are checked as the attention op's (OCLA_ERR_INVALID_ARGUMENT naming the offset).
     * params.flash.cu_seqlens must stay NULL (OCLA_ERR_INVALID_ARGUMENT): the layer sets it. No state
     * slots: the layer has no recurrent form. */
    const int32_t *cu_seqlens;
    int n_seqs;
} ocla_gau_layer_params;
OCLA_API void ocla_gau_layer_params_defaults(ocla_gau_layer_params *params);

typedef struct ocla_gau_layer_weights {
    const ocla_tensor *w_uvz;  /* [d, 2e + s]: columns [U | V | Z] */
    const ocla_tensor *b_uvz;  /* [2e + s] or NULL */
    const ocla_tensor *gamma;  /* [4, s]: scales of Q_quad, K_quad, Q_lin, K_lin */
    const ocla_tensor *beta;   /* [4, s] or NULL: offsets, same order */
    const ocla_tensor *w_o;    /* [e, d] */
    const ocla_tensor *b_o;    /* [d] or NULL */
    const ocla_tensor *norm_w; /* LAYER: [d] or NULL; SCALE: [1] or NULL */
    const ocla_tensor *norm_b; /* LAYER: [d] or NULL */
} ocla_gau_layer_weights;
OCLA_API ocla_status ocla_gau_layer_forward(ocla_context *ctx, const ocla_gau_layer_params *params,
                                            const ocla_gau_layer_weights *weights, const ocla_tensor *x,
                                            ocla_tensor *y);

/* Backward of ocla_gau_layer_forward (runtime/layer_gau_bwd.c, kernels_cl/gau_bwd.cl): given dy = dL/dy
 * for a scalar loss L, dx = dL/dx and the gradient of every weight, for the same params, weights and x
 * (every norm, residual on or off, RoPE, causal or not, either FLASH normaliser, rel_bias). It
 * recomputes the forward's intermediates (nothing is kept from a forward call) and runs
 * ocla_flash_backward for the attention. Gradients are WRITTEN, never accumulated: add them up
 * yourself across calls (ocla_sgd_step takes one gradient tensor per weight).
 * Each field of ocla_gau_layer_grads is optional (NULL: not computed) and has the dims of its weight,
 * dense. A gradient may be asked for an optional weight that is NULL in weights (a bias of 0, a gain
 * of 1): it is the gradient at that value. norm_w and norm_b have no gradient without a norm, nor
 * norm_b with ScaleNorm; rel_bias only with params.flash.rel_bias (then [1, 2C-1] as that).
 * dx may be NULL (x is data); dy and dx are dense [B,T,d]. No output may share memory with an input
 * (x, dy, a weight, params.flash.rel_bias) or another output: OCLA_ERR_INVALID_ARGUMENT naming both.
 * Bad input otherwise as the forward (the same checks and statuses). grads may be NULL (dx alone).
 * Temporaries (at most B*T*(3d + 7e + 18s) floats) live in the context's scratch memory. The math,
 * step by step: tests/ref/ref_gau_grad.h (the fp64 reference the tests hold it to). */
typedef struct ocla_gau_layer_grads {
    ocla_tensor *w_uvz;    /* [d, 2e+s] */
    ocla_tensor *b_uvz;    /* [2e+s] */
    ocla_tensor *gamma;    /* [4, s] */
    ocla_tensor *beta;     /* [4, s] */
    ocla_tensor *w_o;      /* [e, d] */
    ocla_tensor *b_o;      /* [d] */
    ocla_tensor *norm_w;   /* LAYER: [d]; SCALE: [1] */
    ocla_tensor *norm_b;   /* LAYER: [d] */
    ocla_tensor *rel_bias; /* params.flash.rel_bias's dims [1, 2C-1] */
} ocla_gau_layer_grads;
OCLA_API ocla_status ocla_gau_layer_backward(ocla_context *ctx, const ocla_gau_layer_params *params,
                                             const ocla_gau_layer_weights *weights, const ocla_tensor *x,
                                             const ocla_tensor *dy, ocla_tensor *dx,
                                             const ocla_gau_layer_grads *grads);
/* ==== end: GAU / FLASH layer ==== */

#ifdef __cplusplus
}
#endif
#endif
