/* SPDX-License-Identifier: MIT */
/* ocla model API: open a gated linear attention language model checkpoint as
 * flash-linear-attention's Hugging Face models save it (GLAForCausalLM), read its config and get its
 * tensors by name; run the model on a device (prefill, decode steps) and sample tokens ("Running the
 * model", below). What is read and validated, what runs: docs/MODELS.md.
 *
 * A checkpoint directory holds config.json and either model.safetensors or shards
 * model-0000N-of-0000M.safetensors listed by model.safetensors.index.json (when both exist the
 * single file is used, as transformers does). Tensors stored as F32, BF16 or F16 are converted to
 * fp32 on load (both conversions are exact); every tensor is held in host memory as dense
 * row-major fp32, in the layout the checkpoint stores it (nn.Linear weights are [out, in]).
 *
 * The loader needs jansson (a JSON library, Debian: libjansson-dev) at build time. A build without
 * it keeps these functions, which then return OCLA_ERR_UNSUPPORTED (docs/MODELS.md).
 *
 * Statuses of ocla_model_open; ocla_last_error(NULL) names the file and the field:
 *   OCLA_ERR_INVALID_ARGUMENT  NULL argument; a file missing or unreadable; a malformed file
 *                              (truncated, header length past the end, bad JSON, data_offsets out
 *                              of range, overlapping, leaving holes or not matching dtype x shape);
 *                              an index naming a shard outside the directory; a tensor in two shards;
 *                              a tensor the config calls for that the checkpoint lacks
 *   OCLA_ERR_SHAPE             a tensor whose shape is not the one the config gives; a config whose
 *                              sizes do not fit together (key_dim not a multiple of num_heads, ...)
 *   OCLA_ERR_UNSUPPORTED       a config option that changes the math and that ocla does not know or
 *                              does not run (refused rather than guessed); a dtype other than F32,
 *                              BF16, F16; more than 4 dims; a tensor the config does not call for;
 *                              a build without jansson
 *   OCLA_ERR_OVERFLOW          sizes whose product overflows
 *   OCLA_ERR_OUT_OF_MEMORY     a host allocation failed
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_MODEL_H
#define OCLA_MODEL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocla_model ocla_model;

/* fla's feature_map (applied to q and k), by its name in config.json */
typedef enum ocla_model_feature_map {
    OCLA_MODEL_FMAP_NONE = 0,   /* null */
    OCLA_MODEL_FMAP_RELU,       /* "relu" */
    OCLA_MODEL_FMAP_SIGMOID,    /* "sigmoid" */
    OCLA_MODEL_FMAP_LOGSIGMOID, /* "logsigmoid" */
    OCLA_MODEL_FMAP_SWISH,      /* "swish" or "silu": x sigmoid(x) */
    OCLA_MODEL_FMAP_SQRELU,     /* "sqrelu": relu(x)^2 */
    OCLA_MODEL_FMAP_GELU        /* "gelu": fla's tanh approximation */
} ocla_model_feature_map;

/* The config of a GLAForCausalLM (fla's GLAConfig). Values absent from config.json take GLAConfig's
 * defaults; derived sizes are filled in. Fields are only ever appended. */
typedef struct ocla_gla_config {
    int64_t vocab_size;          /* 32000 */
    int64_t hidden_size;         /* d, 2048 */
    int64_t num_hidden_layers;   /* 24 */
    int64_t num_heads;           /* H, 4 */
    int64_t num_kv_heads;        /* null -> num_heads; H / num_kv_heads heads share one k, v, gate */
    double expand_k, expand_v;   /* 0.5, 1 */
    int64_t key_dim, value_dim;  /* int(d * expand_k), int(d * expand_v): q and output-gate widths */
    int64_t key_dim_per_group, value_dim_per_group; /* key_dim / (H / num_kv_heads), likewise: k, v, gate widths */
    int64_t head_k_dim, head_v_dim;                 /* key_dim / H, value_dim / H */
    double hidden_ratio;         /* 4 (null -> 4) */
    int64_t intermediate_size;   /* the MLP width: given, else 256 * ceil(int(d * hidden_ratio * 2/3) / 256) */
    int64_t gate_low_rank_dim;   /* 16 (fixed in fla's GLA model) */
    float gate_logit_normalizer; /* 16 (fixed in fla's GLA model): g = logsigmoid(.) / 16 */
    int has_clamp_min;           /* clamp_min not null: g = max(g, clamp_min) */
    float clamp_min;
    ocla_model_feature_map feature_map;
    int use_output_gate;         /* 1: o = RMSNorm(o) * swish(x Wg) */
    int use_short_conv;          /* 0; 1: depthwise causal convolutions of q, k, v (then silu) */
    int64_t conv_size;           /* 4 */
    int elementwise_affine;      /* 1: the per-head output norm has a weight */
    int fuse_norm;               /* 1: only the output norm's tensor name depends on it */
    float norm_eps;              /* 1e-6, every RMSNorm of the model */
    int tie_word_embeddings;     /* 0; 1: the LM head is the embedding matrix */
    int64_t bos_token_id, eos_token_id, pad_token_id; /* 1, 2, null; -1 stands for null */
} ocla_gla_config;

/* One tensor of the checkpoint. data is dense row-major fp32 with dims[0..ndim) (ndim 0: one value),
 * owned by the model. */
typedef enum ocla_model_dtype { OCLA_MODEL_F32 = 0, OCLA_MODEL_BF16 = 1, OCLA_MODEL_F16 = 2 } ocla_model_dtype;
typedef struct ocla_model_tensor {
    const char *name;              /* e.g. "model.layers.0.attn.q_proj.weight" */
    int ndim;                      /* 0..OCLA_MAX_DIMS */
    int64_t dims[OCLA_MAX_DIMS];
    int64_t numel;
    ocla_model_dtype stored_dtype; /* the dtype in the file (data is always fp32) */
    const float *data;
} ocla_model_tensor;

/* Open the checkpoint in directory dir: reads config.json, maps the safetensors headers, checks
 * every tensor the config calls for against the config and reads them (converted to fp32). */
OCLA_API ocla_status ocla_model_open(const char *dir, ocla_model **out);
OCLA_API void ocla_model_free(ocla_model *model);
/* The config (owned by the model). NULL for NULL. */
OCLA_API const ocla_gla_config *ocla_model_config(const ocla_model *model);
/* A tensor by its name in the checkpoint. OCLA_ERR_INVALID_ARGUMENT for a name it does not hold. */
OCLA_API ocla_status ocla_model_tensor_get(const ocla_model *model, const char *name, ocla_model_tensor *tensor);
/* Every tensor, in name order: index < ocla_model_tensor_count(). */
OCLA_API size_t ocla_model_tensor_count(const ocla_model *model);
OCLA_API ocla_status ocla_model_tensor_at(const ocla_model *model, size_t index, ocla_model_tensor *tensor);
/* A new ocla_tensor on ctx with the tensor's dims (a 0-dim tensor becomes [1]) and its data. */
OCLA_API ocla_status ocla_model_tensor_upload(ocla_context *ctx, const ocla_model *model, const char *name,
                                              ocla_tensor **out);

/* ==== Running the model (runtime/model_forward.c, model_sample.c, model_generate.c) ====
 * A session holds the model's weights on a context's device (transposed once to [in, out]; grouped
 * k, v and gate projections widened to every head) and the recurrent state of each layer for
 * `batch` sequences. Per layer, as fla's GLABlock:
 *   h = RMSNorm(x) * attn_norm;  x = x + GatedLinearAttention(h)   (ocla_gla_layer_forward, or with
 *                                                                   the options below its own steps)
 *   h = RMSNorm(x) * mlp_norm;   x = x + down(silu(gate(h)) * up(h))
 * then logits = (RMSNorm(x) * norm) lm_head (the embedding matrix when tied). Every RMSNorm uses the
 * config's norm_eps. Prefill runs the chunked form of the attention, a step the recurrent form; both
 * continue from the layers' states and leave them after the last token, so prefill(A) then
 * prefill(B) equals prefill(A B), and prefill(A) then a step per token of B likewise.
 *
 * fla's options run as fla computes them: feature_map (on q and k), use_short_conv (causal depthwise
 * convolutions of q, k, v of conv_size taps, then silu; the last conv_size - 1 inputs of each are kept
 * per layer and sequence (slot) beside the recurrent state, filled by prefills, reset with it),
 * use_output_gate = false (o = RMSNorm(o) * g_norm), clamp_min (on the log gates).
 * Token ids are int32 in [0, vocab_size): anything else is OCLA_ERR_INVALID_ARGUMENT before any
 * work. Logits are downloaded to host memory as fp32. Errors: ocla_last_error(ctx). */
typedef struct ocla_model_session ocla_model_session;

/* Upload model (which may be freed afterwards) onto ctx for batch >= 1 sequences; states zero. */
OCLA_API ocla_status ocla_model_session_create(ocla_context *ctx, const ocla_model *model, int batch,
                                               ocla_model_session **out);
OCLA_API void ocla_model_session_free(ocla_model_session *session);
/* Every layer's state back to zero (a new sequence). */
OCLA_API ocla_status ocla_model_reset(ocla_model_session *session);
/* vocab_size of the session's model (0 for NULL); the batch it was made for. */
OCLA_API int64_t ocla_model_session_vocab(const ocla_model_session *session);
OCLA_API int ocla_model_session_batch(const ocla_model_session *session);

typedef enum ocla_model_logits {
    OCLA_MODEL_LOGITS_NONE = 0, /* states only (logits may be NULL) */
    OCLA_MODEL_LOGITS_LAST = 1, /* logits [batch, vocab] of each sequence's last token */
    OCLA_MODEL_LOGITS_ALL = 2   /* logits [batch, T, vocab] of every token */
} ocla_model_logits;
/* Feed T >= 1 tokens of each sequence (tokens [batch, T], row-major) through the chunked form. */
OCLA_API ocla_status ocla_model_prefill(ocla_model_session *session, const int32_t *tokens, int64_t T,
                                        ocla_model_logits which, float *logits);
/* Feed one token of each sequence (tokens [batch]) through the recurrent form; logits [batch, vocab]
 * (NULL: states only). */
OCLA_API ocla_status ocla_model_step(ocla_model_session *session, const int32_t *tokens, float *logits);

/* ---- serving: requests in state slots (continuous batching) ----
 * The session's per-layer states are a pool of `batch` slots. A server keeps each request in a slot
 * of its own: it admits a request with ocla_model_slot_reset (that slot's states to zero in every
 * layer) and a prefill into the slot, decodes every active request together, one token each per
 * step, and retires a request by no longer naming its slot (nothing is copied or freed). The other
 * slots are neither read nor written by a call. A request's logits equal those of running it alone
 * (the same kernels per row; docs/MODELS.md, "Serving").
 * slots: n int32 slot indices, 1 <= n <= batch, each in [0, batch), none repeated:
 * OCLA_ERR_INVALID_ARGUMENT naming the index otherwise, before any work. */
OCLA_API ocla_status ocla_model_slot_reset(ocla_model_session *session, int slot);
/* Prefill n requests together, request i's tokens being tokens[cu_seqlens[i] .. cu_seqlens[i+1])
 * (packed back to back; cu_seqlens[0] = 0, every request at least one token), continuing from slot
 * slots[i]'s states and leaving them there. One chunked pass over the packed tokens (the attention's
 * packed-sequence form: no token sees another request's). logits: LAST [n, vocab] (each request's
 * last token), ALL [cu_seqlens[n], vocab]. */
OCLA_API ocla_status ocla_model_prefill_slots(ocla_model_session *session, int n, const int32_t *slots,
                                              const int32_t *cu_seqlens, const int32_t *tokens,
                                              ocla_model_logits which, float *logits);
/* One token of each of n requests (tokens [n]) in slots slots[0..n) through the recurrent form, one
 * launch per kernel for all n; logits [n, vocab] (NULL: states only). */
OCLA_API ocla_status ocla_model_step_slots(ocla_model_session *session, int n, const int32_t *slots,
                                           const int32_t *tokens, float *logits);

/* ---- sampling (on the host, over downloaded logits) ----
 * In order, as Hugging Face's generate: temperature (logits / t), top-k (the k largest), top-p (the
 * fewest largest whose probabilities sum to >= p), then a draw from the softmax of what is left.
 * temperature 0 is greedy: the first largest logit. Draws come from xoshiro256** seeded by splitmix64
 * of `seed`: a seed gives the same tokens on every run and platform. */
typedef struct ocla_sampler_params {
    size_t size;       /* sizeof this struct in the application's build: set by the defaults */
    float temperature; /* 0 (default): greedy; else > 0 */
    int top_k;         /* 0 (default): off; else >= 1 */
    float top_p;       /* 1 (default): off; else in (0, 1] */
    uint64_t seed;     /* 0 */
} ocla_sampler_params;
OCLA_API void ocla_sampler_params_defaults(ocla_sampler_params *params);
typedef struct ocla_sampler ocla_sampler;
OCLA_API ocla_status ocla_sampler_create(const ocla_sampler_params *params, ocla_sampler **out);
OCLA_API void ocla_sampler_free(ocla_sampler *sampler);
/* One token from logits [vocab]. A NaN logit is OCLA_ERR_INVALID_ARGUMENT. Errors:
 * ocla_last_error(NULL). */
OCLA_API ocla_status ocla_sampler_sample(ocla_sampler *sampler, const float *logits, int64_t vocab, int32_t *token);

/* ---- generation (a session of batch 1) ----
 * Prefill the prompt (n_prompt >= 1 tokens, after the session's current state), then sample and step
 * until max_new tokens are out or a token of stop[0..n_stop) is sampled (kept as the last token).
 * out holds max_new tokens; *n_out the number written. stats (may be NULL) gets the wall times. */
typedef struct ocla_generate_stats {
    int64_t prompt_tokens, generated_tokens;
    double prefill_seconds; /* the prefill and the first token's sampling */
    double decode_seconds;  /* every later step and its sampling */
} ocla_generate_stats;
OCLA_API ocla_status ocla_model_generate(ocla_model_session *session, ocla_sampler *sampler, const int32_t *prompt,
                                         int64_t n_prompt, int64_t max_new, const int32_t *stop, int n_stop,
                                         int32_t *out, int64_t *n_out, ocla_generate_stats *stats);
/* ==== end: running the model ==== */

#ifdef __cplusplus
}
#endif

#endif /* OCLA_MODEL_H */
