/* SPDX-License-Identifier: MIT */
/* Small GLAForCausalLM checkpoints for the tests and the kernel sweep (no Criterion): config.json and
 * model.safetensors with random fp32 weights, tensor names and shapes as fla's modeling code
 * registers them (fla/models/gla/modeling_gla.py, fla/layers/gla.py, fla/modules/mlp.py). */
#ifndef OCLA_REF_MODEL_CKPT_H
#define OCLA_REF_MODEL_CKPT_H
#include <stdint.h>

typedef struct ref_model_spec {
    int64_t vocab, d, L, H, kvH, I; /* vocab_size, hidden_size, layers, heads, kv heads, intermediate_size */
    double ek, ev;                  /* expand_k, expand_v */
    int affine, fuse, tied;         /* elementwise_affine, fuse_norm, tie_word_embeddings */
    const char *extra;              /* more config.json members, each ending with a comma, or NULL */
    int64_t conv;                   /* > 0: use_short_conv with conv_size conv (the q, k, v conv1d weights) */
    int no_gate;                    /* use_output_gate false: no g_proj, the norm is g_norm */
} ref_model_spec;

/* vocab 64, d 32, 2 layers, 2 heads (K 8, V 16), I 48, affine, fused norms, untied */
ref_model_spec ref_model_small(void);

/* Write m into the existing directory dir. Random values of unit scale: Linear weights [out, in]
 * uniform with variance 1/in (outputs of unit size), norm weights 1 +- 0.2, the gate bias +-0.5,
 * embeddings +-1, so logits spread over a few units (greedy choices far from ties). 0 on success,
 * -1 when a file cannot be written or memory runs out. */
int ref_model_write(const char *dir, const ref_model_spec *m, uint32_t seed);
#endif
