/* SPDX-License-Identifier: MIT */
/* ocla model API: open a gated linear attention language model checkpoint as
 * flash-linear-attention's Hugging Face models save it (GLAForCausalLM), read its config and get its
 * tensors by name. What is read and validated: docs/MODELS.md.
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

#ifdef __cplusplus
}
#endif

#endif /* OCLA_MODEL_H */
