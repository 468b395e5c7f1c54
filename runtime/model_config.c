/* SPDX-License-Identifier: MIT */
/* config.json of a GLAForCausalLM (fla's GLAConfig) -> ocla_gla_config. Absent keys take GLAConfig's
 * defaults (transformers builds the config as GLAConfig(**json)). Every key is known: one that sets
 * the math is read and checked; one that cannot change inference (training switches, generation
 * defaults, bookkeeping of transformers) is listed in `harmless`; any other key is refused, since
 * it may be an option of a newer fla that changes the math (refused rather than guessed). */
#if OCLA_HAVE_JANSSON
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "model_internal.h"

#define FAIL(st, ...) ocla__fail(NULL, (st), __VA_ARGS__)
#define MAX_SIZE 2147483647 /* every size of the config fits in 31 bits: shape products stay in int64 */

/* Keys that do not change what the model computes at inference. */
static const char *const harmless[] = {
    /* GLAConfig: training and kernel-fusion switches, the cache, positions (GLA has none) */
    "fuse_swiglu", "fuse_cross_entropy", "fuse_linear_cross_entropy", "use_l2warp", "initializer_range",
    "use_cache", "max_position_embeddings",
    /* transformers' PretrainedConfig: bookkeeping, task heads, generation defaults */
    "architectures", "transformers_version", "torch_dtype", "dtype", "_name_or_path", "_commit_hash",
    "_attn_implementation", "_attn_implementation_autoset", "auto_map", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward",
    "is_encoder_decoder", "is_decoder", "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder",
    "finetuning_task", "id2label", "label2id", "num_labels", "tokenizer_class", "prefix", "sep_token_id",
    "decoder_start_token_id", "task_specific_params", "problem_type", "max_length", "min_length", "do_sample",
    "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
    "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", "gradient_checkpointing"};

/* Keys read below (the ones that set the math or the tokens). */
static const char *const known[] = {
    "model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_heads", "num_kv_heads", "expand_k",
    "expand_v", "hidden_ratio", "intermediate_size", "feature_map", "attn_mode", "use_short_conv", "conv_size",
    "use_output_gate", "clamp_min", "hidden_act", "elementwise_affine", "norm_eps", "use_gk", "use_gv",
    "gate_logit_normalizer", "gate_low_rank_dim", "attn", "attnres_block_size", "fuse_norm",
    "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"};

static int in_list(const char *key, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(key, list[i])) return 1;
    return 0;
}

typedef struct reader {
    json_t *root;
    const char *file;
} reader;

/* An integer in [lo, MAX_SIZE]; absent: dflt; null: null_value where allowed (allow_null). */
static ocla_status get_int(const reader *r, const char *key, int64_t dflt, int allow_null, int64_t null_value,
                           int64_t lo, int64_t *out) {
    json_t *v = json_object_get(r->root, key);
    *out = dflt;
    if (!v) return OCLA_SUCCESS;
    if (json_is_null(v) && allow_null) {
        *out = null_value;
        return OCLA_SUCCESS;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > MAX_SIZE)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: %s: an integer in [%lld, %d]%s expected", r->file, key,
                    (long long)lo, MAX_SIZE, allow_null ? " or null" : "");
    *out = (int64_t)json_integer_value(v);
    return OCLA_SUCCESS;
}

/* A finite number (integer or real); *is_null set where null is allowed and given. */
static ocla_status get_num(const reader *r, const char *key, double dflt, int *is_null, double *out) {
    json_t *v = json_object_get(r->root, key);
    *out = dflt;
    if (is_null) *is_null = 0;
    if (!v) return OCLA_SUCCESS;
    if (json_is_null(v) && is_null) {
        *is_null = 1;
        return OCLA_SUCCESS;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: %s: a finite number%s expected", r->file, key,
                    is_null ? " or null" : "");
    *out = json_number_value(v);
    return OCLA_SUCCESS;
}

/* true / false; null counts as false where allow_null */
static ocla_status get_bool(const reader *r, const char *key, int dflt, int allow_null, int *out) {
    json_t *v = json_object_get(r->root, key);
    *out = dflt;
    if (!v) return OCLA_SUCCESS;
    if (json_is_null(v) && allow_null) {
        *out = 0;
        return OCLA_SUCCESS;
    }
    if (!json_is_boolean(v))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: %s: true or false expected", r->file, key);
    *out = json_is_true(v);
    return OCLA_SUCCESS;
}

/* A string option: NULL when absent or null (where allowed). */
static ocla_status get_string(const reader *r, const char *key, int allow_null, const char **out) {
    json_t *v = json_object_get(r->root, key);
    *out = NULL;
    if (!v || (json_is_null(v) && allow_null)) return OCLA_SUCCESS;
    if (!json_is_string(v))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: %s: a string%s expected", r->file, key,
                    allow_null ? " or null" : "");
    *out = json_string_value(v);
    return OCLA_SUCCESS;
}

static const struct {
    const char *name;
    ocla_model_feature_map map;
} feature_maps[] = {{"relu", OCLA_MODEL_FMAP_RELU},   {"sigmoid", OCLA_MODEL_FMAP_SIGMOID},
                    {"logsigmoid", OCLA_MODEL_FMAP_LOGSIGMOID}, {"swish", OCLA_MODEL_FMAP_SWISH},
                    {"silu", OCLA_MODEL_FMAP_SWISH}, {"sqrelu", OCLA_MODEL_FMAP_SQRELU},
                    {"gelu", OCLA_MODEL_FMAP_GELU}};

/* The options fla's GLA model reads; sizes as given. */
static ocla_status read_options(const reader *r, ocla_gla_config *c) {
    ocla_status st;
    const char *s;
    int is_null;
    double x;
#define TRY(call)                                                                                                     \
    if ((st = (call)) != OCLA_SUCCESS) return st
    TRY(get_string(r, "model_type", 0, &s));
    if (s && strcmp(s, "gla"))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: model_type '%s' (ocla reads fla's GLA models, \"gla\")", r->file, s);
    TRY(get_int(r, "vocab_size", 32000, 0, 0, 1, &c->vocab_size));
    TRY(get_int(r, "hidden_size", 2048, 0, 0, 1, &c->hidden_size));
    TRY(get_int(r, "num_hidden_layers", 24, 0, 0, 1, &c->num_hidden_layers));
    TRY(get_int(r, "num_heads", 4, 0, 0, 1, &c->num_heads));
    TRY(get_int(r, "num_kv_heads", c->num_heads, 1, c->num_heads, 1, &c->num_kv_heads));
    TRY(get_num(r, "expand_k", 0.5, NULL, &c->expand_k));
    TRY(get_num(r, "expand_v", 1.0, NULL, &c->expand_v));
    TRY(get_num(r, "hidden_ratio", 4.0, &is_null, &c->hidden_ratio));
    if (is_null) c->hidden_ratio = 4.0; /* fla's GatedMLP: None -> 4 */
    TRY(get_int(r, "intermediate_size", 0, 1, 0, 1, &c->intermediate_size));
    TRY(get_string(r, "feature_map", 1, &s));
    c->feature_map = OCLA_MODEL_FMAP_NONE;
    if (s) {
        size_t i = 0, n = sizeof feature_maps / sizeof feature_maps[0];
        while (i < n && strcmp(s, feature_maps[i].name)) i++;
        if (i == n)
            return FAIL(OCLA_ERR_UNSUPPORTED, "%s: feature_map '%s' (known: null, relu, sigmoid, logsigmoid, swish, "
                        "silu, sqrelu, gelu)", r->file, s);
        c->feature_map = feature_maps[i].map;
    }
    /* the three modes compute the same function with different kernels */
    TRY(get_string(r, "attn_mode", 0, &s));
    if (s && strcmp(s, "chunk") && strcmp(s, "fused_chunk") && strcmp(s, "fused_recurrent"))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: attn_mode '%s' (known: chunk, fused_chunk, fused_recurrent)", r->file,
                    s);
    TRY(get_bool(r, "use_short_conv", 0, 0, &c->use_short_conv));
    TRY(get_int(r, "conv_size", 4, 0, 0, 1, &c->conv_size));
    TRY(get_bool(r, "use_output_gate", 1, 0, &c->use_output_gate));
    TRY(get_num(r, "clamp_min", 0, &is_null, &x));
    c->has_clamp_min = !is_null && json_object_get(r->root, "clamp_min") != NULL;
    if (fabs(x) > 1e30) /* within float's range */
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: clamp_min %g: a number in [-1e30, 1e30] expected", r->file, x);
    c->clamp_min = (float)x;
    /* the MLP's activation and the output gate's: fla's GatedMLP refuses anything but swish and powlu,
     * and its GLA layer has no powlu */
    TRY(get_string(r, "hidden_act", 0, &s));
    if (s && strcmp(s, "swish"))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: hidden_act '%s' (fla's GLA model runs \"swish\")", r->file, s);
    TRY(get_bool(r, "elementwise_affine", 1, 1, &c->elementwise_affine));
    TRY(get_num(r, "norm_eps", 1e-6, NULL, &x));
    if (!(x > 0 && x <= 1))
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: norm_eps %g: a number in (0, 1] expected", r->file, x);
    c->norm_eps = (float)x;
    TRY(get_bool(r, "fuse_norm", 1, 0, &c->fuse_norm));
    TRY(get_bool(r, "tie_word_embeddings", 0, 0, &c->tie_word_embeddings));
    TRY(get_int(r, "bos_token_id", 1, 1, -1, 0, &c->bos_token_id));
    TRY(get_int(r, "eos_token_id", 2, 1, -1, 0, &c->eos_token_id));
    TRY(get_int(r, "pad_token_id", -1, 1, -1, 0, &c->pad_token_id));
    return OCLA_SUCCESS;
}

/* Options fla's GLA model does not read (the layer's fixed 16 and 16, use_gk, use_gv) or that ocla
 * does not run (hybrid softmax layers, attention residuals): a value other than the one fla's
 * model computes with is refused. */
static ocla_status refuse_unrun(const reader *r, ocla_gla_config *c) {
    ocla_status st;
    int b;
    double x;
    int64_t n;
    TRY(get_num(r, "gate_logit_normalizer", 16, NULL, &x));
    if (x != 16)
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: gate_logit_normalizer %g: fla's GLA model always divides by 16",
                    r->file, x);
    c->gate_logit_normalizer = 16;
    TRY(get_int(r, "gate_low_rank_dim", 16, 0, 0, 1, &n));
    if (n != 16)
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: gate_low_rank_dim %lld: fla's GLA model always uses 16", r->file,
                    (long long)n);
    c->gate_low_rank_dim = 16;
    TRY(get_bool(r, "use_gk", 1, 0, &b));
    if (!b) return FAIL(OCLA_ERR_UNSUPPORTED, "%s: use_gk false: fla's GLA model always gates the keys", r->file);
    TRY(get_bool(r, "use_gv", 0, 0, &b));
    if (b) return FAIL(OCLA_ERR_UNSUPPORTED, "%s: use_gv true: fla's GLA model has no value gate", r->file);
    json_t *v = json_object_get(r->root, "attn");
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: attn: hybrid softmax attention layers are not supported", r->file);
    v = json_object_get(r->root, "attnres_block_size");
    if (v && !json_is_null(v))
        return FAIL(OCLA_ERR_UNSUPPORTED, "%s: attnres_block_size: attention residuals are not supported", r->file);
    return OCLA_SUCCESS;
}

/* Derived sizes, as fla's GatedLinearAttention and GatedMLP compute them. */
static ocla_status derive(const reader *r, ocla_gla_config *c) {
    const int64_t d = c->hidden_size, H = c->num_heads;
    if (!(c->expand_k > 0) || !(c->expand_v > 0) || !(c->hidden_ratio > 0) || c->hidden_ratio > MAX_SIZE)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: expand_k, expand_v and hidden_ratio must be > 0 (hidden_ratio "
                    "at most %d)", r->file, MAX_SIZE);
    const double kd = (double)d * c->expand_k, vd = (double)d * c->expand_v; /* Python: int(d * expand) */
    if (kd < 1 || vd < 1 || kd > MAX_SIZE || vd > MAX_SIZE)
        return FAIL(OCLA_ERR_SHAPE, "%s: hidden_size * expand_k = %g, * expand_v = %g: each must be in [1, %d]",
                    r->file, kd, vd, MAX_SIZE);
    c->key_dim = (int64_t)kd;
    c->value_dim = (int64_t)vd;
    if (c->key_dim % H || c->value_dim % H)
        return FAIL(OCLA_ERR_SHAPE, "%s: num_heads %lld does not divide key_dim %lld and value_dim %lld", r->file,
                    (long long)H, (long long)c->key_dim, (long long)c->value_dim);
    if (H % c->num_kv_heads)
        return FAIL(OCLA_ERR_SHAPE, "%s: num_kv_heads %lld does not divide num_heads %lld", r->file,
                    (long long)c->num_kv_heads, (long long)H);
    const int64_t groups = H / c->num_kv_heads;
    c->head_k_dim = c->key_dim / H;
    c->head_v_dim = c->value_dim / H;
    c->key_dim_per_group = c->key_dim / groups;
    c->value_dim_per_group = c->value_dim / groups;
    if (!c->intermediate_size) {
        /* int(d * hidden_ratio * 2 / 3) rounded up to a multiple of 256; Python multiplies an integer
         * ratio exactly before the one rounding of the division */
        const int exact = c->hidden_ratio == floor(c->hidden_ratio) && c->hidden_ratio <= 1048576; /* d < 2^31 */
        double r3 = exact ? (double)(d * (int64_t)c->hidden_ratio * 2) / 3.0 : (double)d * c->hidden_ratio * 2.0 / 3.0;
        if (r3 > MAX_SIZE - 256)
            return FAIL(OCLA_ERR_SHAPE, "%s: hidden_size * hidden_ratio too large", r->file);
        int64_t i = (int64_t)r3;
        c->intermediate_size = 256 * ((i + 255) / 256);
        if (!c->intermediate_size)
            return FAIL(OCLA_ERR_SHAPE, "%s: the MLP width int(hidden_size * hidden_ratio * 2/3) is 0", r->file);
    }
    return OCLA_SUCCESS;
}

ocla_status ocla__gla_config_parse(const char *json, size_t len, const char *file, ocla_gla_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t jerr;
    reader r = {json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), file};
    if (!r.root)
        return FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: not valid JSON: %s (line %d, column %d)", file, jerr.text,
                    jerr.line, jerr.column);
    ocla_status st = OCLA_SUCCESS;
    ocla_gla_config c;
    memset(&c, 0, sizeof c);
    if (!json_is_object(r.root)) {
        st = FAIL(OCLA_ERR_INVALID_ARGUMENT, "%s: not a JSON object", file);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(r.root, key, v) {
        if (!in_list(key, known, sizeof known / sizeof known[0]) &&
            !in_list(key, harmless, sizeof harmless / sizeof harmless[0])) {
            st = FAIL(OCLA_ERR_UNSUPPORTED, "%s: unknown option '%s' (it may change the model's math: refused "
                      "rather than guessed)", file, key);
            goto done;
        }
    }
    if ((st = read_options(&r, &c)) != OCLA_SUCCESS || (st = refuse_unrun(&r, &c)) != OCLA_SUCCESS ||
        (st = derive(&r, &c)) != OCLA_SUCCESS)
        goto done;
    *cfg = c;
done:
    json_decref(r.root);
    return st;
}
#undef TRY
#else
typedef int ocla__model_config_unused; /* built without jansson: runtime/model_unavailable.c */
#endif
