/* SPDX-License-Identifier: MIT */
/* Small GLAForCausalLM checkpoints (ref_model_ckpt.h). */
#include "ref_model_ckpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_T = 64 };

typedef struct wfile {
    char name[MAX_T][96];
    int ndim[MAX_T];
    int64_t dims[MAX_T][3], numel[MAX_T];
    float *data[MAX_T];
    int n, failed;
} wfile;

ref_model_spec ref_model_small(void) {
    return (ref_model_spec){.vocab = 64, .d = 32, .L = 2, .H = 2, .kvH = 2, .I = 48, .ek = 0.5, .ev = 1.0,
                            .affine = 1, .fuse = 1};
}

static float unif(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return (float)(*s >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

static void add(wfile *w, uint32_t *seed, const char *fmt, int64_t l, int ndim, int64_t d0, int64_t d1) {
    if (w->failed || w->n == MAX_T) {
        w->failed = 1;
        return;
    }
    const int i = w->n++;
    snprintf(w->name[i], sizeof w->name[i], fmt, (long long)l);
    w->ndim[i] = ndim, w->dims[i][0] = d0, w->dims[i][1] = d1;
    const int64_t n = w->numel[i] = ndim == 2 ? d0 * d1 : d0;
    if (!(w->data[i] = malloc((size_t)n * sizeof(float)))) {
        w->failed = 1;
        return;
    }
    const int is_norm = strstr(w->name[i], "norm") != NULL, is_bias = strstr(w->name[i], "bias") != NULL;
    const int is_emb = strstr(w->name[i], "embeddings") != NULL;
    const float lin = ndim == 2 ? sqrtf(3.0f / (float)d1) : 0.0f;
    for (int64_t k = 0; k < n; k++) {
        const float u = unif(seed);
        w->data[i][k] = is_norm ? 1.0f + 0.2f * u : is_bias ? 0.5f * u : is_emb ? u : lin * u;
    }
}

/* a depthwise Conv1d weight [C, 1, W]: written as [C, W] (values of variance 1/W), then given its shape */
static void add_conv(wfile *w, uint32_t *seed, const char *fmt, int64_t l, int64_t C, int64_t W) {
    add(w, seed, fmt, l, 2, C, W);
    if (w->failed) return;
    const int i = w->n - 1;
    w->ndim[i] = 3, w->dims[i][0] = C, w->dims[i][1] = 1, w->dims[i][2] = W;
}

static void weights(const ref_model_spec *m, wfile *w, uint32_t seed) {
    const int64_t kd = (int64_t)(m->d * m->ek), vd = (int64_t)(m->d * m->ev), g = m->H / m->kvH;
    add(w, &seed, "model.embeddings.weight", 0, 2, m->vocab, m->d);
    for (int64_t l = 0; l < m->L; l++) {
        add(w, &seed, "model.layers.%lld.attn_norm.weight", l, 1, m->d, 0);
        add(w, &seed, "model.layers.%lld.attn.q_proj.weight", l, 2, kd, m->d);
        add(w, &seed, "model.layers.%lld.attn.k_proj.weight", l, 2, kd / g, m->d);
        add(w, &seed, "model.layers.%lld.attn.v_proj.weight", l, 2, vd / g, m->d);
        if (!m->no_gate) add(w, &seed, "model.layers.%lld.attn.g_proj.weight", l, 2, vd, m->d);
        if (m->conv > 0) {
            add_conv(w, &seed, "model.layers.%lld.attn.q_conv1d.weight", l, kd, m->conv);
            add_conv(w, &seed, "model.layers.%lld.attn.k_conv1d.weight", l, kd / g, m->conv);
            add_conv(w, &seed, "model.layers.%lld.attn.v_conv1d.weight", l, vd / g, m->conv);
        }
        add(w, &seed, "model.layers.%lld.attn.gk_proj.0.weight", l, 2, 16, m->d);
        add(w, &seed, "model.layers.%lld.attn.gk_proj.1.weight", l, 2, kd / g, 16);
        add(w, &seed, "model.layers.%lld.attn.gk_proj.1.bias", l, 1, kd / g, 0);
        add(w, &seed, "model.layers.%lld.attn.o_proj.weight", l, 2, m->d, vd);
        if (m->affine)
            add(w, &seed,
                m->fuse && !m->no_gate ? "model.layers.%lld.attn.g_norm_swish_gate.weight"
                                       : "model.layers.%lld.attn.g_norm.weight",
                l, 1, vd / m->H, 0);
        add(w, &seed, "model.layers.%lld.mlp_norm.weight", l, 1, m->d, 0);
        add(w, &seed, "model.layers.%lld.mlp.gate_proj.weight", l, 2, m->I, m->d);
        add(w, &seed, "model.layers.%lld.mlp.up_proj.weight", l, 2, m->I, m->d);
        add(w, &seed, "model.layers.%lld.mlp.down_proj.weight", l, 2, m->d, m->I);
    }
    add(w, &seed, "model.norm.weight", 0, 1, m->d, 0);
    if (!m->tied) add(w, &seed, "lm_head.weight", 0, 2, m->vocab, m->d);
}

static int write_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    const int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The safetensors image: an 8-byte little-endian header length, the JSON header padded with
 * spaces to a multiple of 8 (as the reference writer does), the fp32 data in order. */
static int write_safetensors(const char *dir, const wfile *w) {
    size_t cap = 1 << 16, hl = 0, data = 0;
    char *h = malloc(cap);
    if (!h) return -1;
    hl += (size_t)snprintf(h, cap, "{");
    for (int i = 0; i < w->n && hl < cap - 256; i++) {
        char shape[64];
        if (w->ndim[i] == 3)
            snprintf(shape, sizeof shape, "%lld, %lld, %lld", (long long)w->dims[i][0], (long long)w->dims[i][1],
                     (long long)w->dims[i][2]);
        else if (w->ndim[i] == 2)
            snprintf(shape, sizeof shape, "%lld, %lld", (long long)w->dims[i][0], (long long)w->dims[i][1]);
        else
            snprintf(shape, sizeof shape, "%lld", (long long)w->dims[i][0]);
        hl += (size_t)snprintf(h + hl, cap - hl, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%s], \"data_offsets\": [%zu, %zu]}",
                               i ? ", " : "", w->name[i], shape, data, data + (size_t)w->numel[i] * 4);
        data += (size_t)w->numel[i] * 4;
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    while (hl % 8) h[hl++] = ' ';
    uint8_t *file = malloc(8 + hl + data);
    int rc = file && hl < cap - 8 ? 0 : -1;
    if (!rc) {
        for (int b = 0; b < 8; b++) file[b] = (uint8_t)((uint64_t)hl >> (8 * b));
        memcpy(file + 8, h, hl);
        size_t at = 8 + hl;
        for (int i = 0; i < w->n; i++) { /* little-endian fp32: the host's order on every platform tested */
            memcpy(file + at, w->data[i], (size_t)w->numel[i] * 4);
            at += (size_t)w->numel[i] * 4;
        }
        rc = write_file(dir, "model.safetensors", file, at);
    }
    free(file), free(h);
    return rc;
}

int ref_model_write(const char *dir, const ref_model_spec *m, uint32_t seed) {
    char cfg[2048], opt[128] = "";
    if (m->conv > 0) snprintf(opt, sizeof opt, "\"use_short_conv\": true, \"conv_size\": %lld, ", (long long)m->conv);
    if (m->no_gate) strcat(opt, "\"use_output_gate\": false, ");
    const int len = snprintf(
        cfg, sizeof cfg,
        "{\"model_type\": \"gla\", %s%s\"vocab_size\": %lld, \"hidden_size\": %lld, \"num_hidden_layers\": %lld,"
        "\"num_heads\": %lld, \"num_kv_heads\": %lld, \"expand_k\": %g, \"expand_v\": %g, \"intermediate_size\": %lld,"
        "\"elementwise_affine\": %s, \"fuse_norm\": %s, \"tie_word_embeddings\": %s, \"norm_eps\": 1e-06}",
        opt, m->extra ? m->extra : "", (long long)m->vocab, (long long)m->d, (long long)m->L, (long long)m->H,
        (long long)m->kvH, m->ek, m->ev, (long long)m->I, m->affine ? "true" : "false", m->fuse ? "true" : "false",
        m->tied ? "true" : "false");
    if (len < 0 || len >= (int)sizeof cfg || write_file(dir, "config.json", cfg, (size_t)len)) return -1;
    wfile *w = calloc(1, sizeof *w);
    if (!w) return -1;
    weights(m, w, seed);
    const int rc = w->failed ? -1 : write_safetensors(dir, w);
    for (int i = 0; i < w->n; i++) free(w->data[i]);
    free(w);
    return rc;
}
