/* SPDX-License-Identifier: MIT */
/* The tensors of a GLAForCausalLM checkpoint and their shapes, from the config, as fla's modules
 * name them (nn.Linear weights are [out, in]; the short convolutions are depthwise Conv1d,
 * [channels, 1, conv_size]). */
#if OCLA_HAVE_JANSSON
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

typedef struct list {
    ocla__expected_tensor *t;
    size_t n;
} list;

static void add(list *l, int optional, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, long long layer,
                const char *what) {
    ocla__expected_tensor *e = &l->t[l->n++];
    if (layer >= 0)
        snprintf(e->name, sizeof e->name, fmt, layer, what);
    else
        snprintf(e->name, sizeof e->name, fmt, what);
    e->ndim = ndim;
    e->dims[0] = d0, e->dims[1] = d1, e->dims[2] = d2, e->dims[3] = 0;
    e->optional = optional;
}

#define PER_LAYER 18 /* an upper bound of the tensors of one layer */

ocla_status ocla__gla_expected_tensors(const ocla_gla_config *c, ocla__expected_tensor **out, size_t *count) {
    *out = NULL;
    *count = 0;
    size_t n;
    if (!ocla__mul_ok((size_t)c->num_hidden_layers, PER_LAYER, &n) || !ocla__add_ok(n, 3, &n))
        return ocla__fail(NULL, OCLA_ERR_OVERFLOW, "config: num_hidden_layers %lld too large",
                          (long long)c->num_hidden_layers);
    list l = {calloc(n, sizeof(ocla__expected_tensor)), 0};
    if (!l.t) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "no memory for %zu tensor names", n);
    const int64_t d = c->hidden_size, kg = c->key_dim_per_group, vg = c->value_dim_per_group, I = c->intermediate_size;
    const int64_t R = c->gate_low_rank_dim, conv = c->conv_size;
    const char *L = "model.layers.%lld.%s";
    add(&l, 0, 2, c->vocab_size, d, 0, "model.%s", -1, "embeddings.weight");
    for (long long i = 0; i < c->num_hidden_layers; i++) {
        add(&l, 0, 1, d, 0, 0, L, i, "attn_norm.weight");
        add(&l, 0, 2, c->key_dim, d, 0, L, i, "attn.q_proj.weight");
        add(&l, 0, 2, kg, d, 0, L, i, "attn.k_proj.weight");
        add(&l, 0, 2, vg, d, 0, L, i, "attn.v_proj.weight");
        if (c->use_output_gate) add(&l, 0, 2, c->value_dim, d, 0, L, i, "attn.g_proj.weight");
        if (c->use_short_conv) {
            add(&l, 0, 3, c->key_dim, 1, conv, L, i, "attn.q_conv1d.weight");
            add(&l, 0, 3, kg, 1, conv, L, i, "attn.k_conv1d.weight");
            add(&l, 0, 3, vg, 1, conv, L, i, "attn.v_conv1d.weight");
        }
        add(&l, 0, 2, R, d, 0, L, i, "attn.gk_proj.0.weight");
        add(&l, 0, 2, kg, R, 0, L, i, "attn.gk_proj.1.weight");
        add(&l, 0, 1, kg, 0, 0, L, i, "attn.gk_proj.1.bias");
        add(&l, 0, 2, d, c->value_dim, 0, L, i, "attn.o_proj.weight");
        /* hidden_act is swish (model_config.c): the fused norm-and-gate module where there is a gate */
        if (c->elementwise_affine)
            add(&l, 0, 1, c->head_v_dim, 0, 0, L, i,
                c->fuse_norm && c->use_output_gate ? "attn.g_norm_swish_gate.weight" : "attn.g_norm.weight");
        add(&l, 0, 1, d, 0, 0, L, i, "mlp_norm.weight");
        add(&l, 0, 2, I, d, 0, L, i, "mlp.gate_proj.weight");
        add(&l, 0, 2, I, d, 0, L, i, "mlp.up_proj.weight");
        add(&l, 0, 2, d, I, 0, L, i, "mlp.down_proj.weight");
    }
    add(&l, 0, 1, d, 0, 0, "model.%s", -1, "norm.weight");
    /* transformers leaves a tied head out of the file */
    add(&l, c->tie_word_embeddings, 2, c->vocab_size, d, 0, "%s", -1, "lm_head.weight");
    *out = l.t;
    *count = l.n;
    return OCLA_SUCCESS;
}
#else
typedef int ocla__model_tensors_unused; /* built without jansson: runtime/model_unavailable.c */
#endif
