/* ocla layers API: tiled softmax attention (the baseline) and FLASH mixed chunk attention.
 *
 * Layout as in <ocla/attention.h>: q, k [B,T,H,K], v, o [B,T,H,V], any strides (so [B,H,T,D]
 * views work too). fp32 throughout. The math of every kernel: docs/KERNELS.md, section
 * "FLASH, Linformer, softmax, layers".
 */
#ifndef OCLA_LAYERS_H
#define OCLA_LAYERS_H
#ifdef __cplusplus
extern "C" {
#endif

/* ---- softmax attention (flash-style: online softmax over key blocks, never T x T in memory) ----
 *   o_t = sum_s softmax_s(scale * q_t . k_s) v_s,  s <= t when causal.
 * q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], o [B,T,H,V]; non-causal allows Tk != T (cross attention,
 * Linformer's projected keys), causal needs Tk = T. */
typedef struct ocla_softmax_params {
    int causal;     /* 1 (default) */
    int has_scale;  /* 0: scale = K^-0.5 */
    float scale;
    int block;      /* query/key block: 0 = the runtime's pick; else 16, 32 or 64 */
} ocla_softmax_params;
OCLA_API void ocla_softmax_params_defaults(ocla_softmax_params *params);
/* K and V up to 256. */
OCLA_API ocla_status ocla_softmax_attention(ocla_context *ctx, const ocla_softmax_params *params,
                                            const ocla_tensor *q, const ocla_tensor *k, const ocla_tensor *v,
                                            ocla_tensor *o);

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
    int causal;            /* 1 (default) */
    int chunk;             /* C: 256 (paper, default); 0 = the scheduler's pick (OCLA_OP_FLASH_CHUNK) */
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
} ocla_flash_params;
OCLA_API void ocla_flash_params_defaults(ocla_flash_params *params);

typedef struct ocla_flash_io {
    const ocla_tensor *qq, *kq; /* quadratic-part queries and keys [B,T,H,S] */
    const ocla_tensor *ql, *kl; /* linear-part queries and keys [B,T,H,S] */
    const ocla_tensor *v;       /* [B,T,H,E] */
    ocla_tensor *o;             /* [B,T,H,E] */
} ocla_flash_io;
OCLA_API ocla_status ocla_flash_attention(ocla_context *ctx, const ocla_flash_params *params,
                                          const ocla_flash_io *io);

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

/* ---- GLA layer (flash-linear-attention's GatedLinearAttention, default options) ----
 *   q = x Wq, k = x Wk, v = x Wv                    [B,T,H,K] / [B,T,H,V] views of [B,T,H*K] ...
 *   g = logsigmoid(x Wg1 Wg2 + bg2) / tau           low-rank gate, [B,T,H,K]
 *   o = GLA(q, k, v, g)                             ocla_attention_forward, scale K^-0.5
 *   u = RMSNorm_v(o) * norm_w * swish(x Wr)         per head over V, eps; swish(z) = z sigmoid(z)
 *   y = u Wo                                        [B,T,d]
 * x and y are dense [B,T,d]; weights are dense row-major [in, out] (y = x W). Projections run
 * through CLBlast. Intermediates are allocated per call. */
typedef struct ocla_gla_layer_params {
    int heads;            /* H */
    int head_k, head_v;   /* K, V per head */
    float gate_tau;       /* 16 (fla's gate_logit_normalizer) */
    float norm_eps;       /* 1e-5 */
    ocla_attn_form form;  /* chunked (default) or recurrent */
    int chunk;            /* 0 = scheduler */
    ocla_tensor *final_state; /* optional [B,H,K,V]: the state after the last token */
    const ocla_tensor *initial_state; /* optional [B,H,K,V] */
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
 * x and y are dense [B,T,d]; weights are dense row-major [in, out] (y = x W), biases [out] or NULL.
 * Projections run through CLBlast; intermediates are allocated per call and freed before return. */
typedef enum ocla_mha_kind {
    OCLA_MHA_LINEAR = 0,   /* linear attention (Katharopoulos et al. 2020) */
    OCLA_MHA_SOFTMAX = 1,  /* softmax attention, the baseline */
    OCLA_MHA_LINFORMER = 2 /* Linformer (Wang et al. 2020) */
} ocla_mha_kind;

typedef struct ocla_mha_layer_params {
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
 * x and y are dense [B,T,d] fp32 (y may be x itself: in place); weights are dense row-major [in, out]
 * (y = x W). Projections run through CLBlast; intermediates (about B*T*(d + 3e + 5s) floats) are
 * allocated per call and freed before return. */
typedef enum ocla_gau_norm {
    OCLA_GAU_NORM_LAYER = 0, /* LayerNorm (the paper's code default; methods.md 3.1) */
    OCLA_GAU_NORM_SCALE = 1, /* ScaleNorm (lucidrains' FLASHTransformer default) */
    OCLA_GAU_NORM_NONE = 2   /* no norm (the caller normalises, or a pre-normed input) */
} ocla_gau_norm;

typedef struct ocla_gau_layer_params {
    int hidden_dim;          /* e, the width of U and V: 0 (default) = 2 * d (the paper's e = 2d) */
    int qk_dim;              /* s, the width of Z: 128 (paper, default) */
    ocla_gau_norm norm;      /* OCLA_GAU_NORM_LAYER (default) */
    float norm_eps;          /* 1e-5 (LayerNorm: inside the sqrt; ScaleNorm: the clamp) */
    int residual;            /* 1 (default): y = x + O; 0: y = O */
    ocla_flash_params flash; /* ocla_flash_params_defaults (chunk 256, relu(qk/C + b)^2, causal, linear
                                part / C with an exclusive chunk prefix) except rope_dims = 128 = qk_dim:
                                the paper's model applies RoPE to all s dims of the four Q/K (set 0 to
                                turn it off; keep rope_dims <= qk_dim when changing qk_dim) */
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
/* ==== end: GAU / FLASH layer ==== */

#ifdef __cplusplus
}
#endif
#endif
