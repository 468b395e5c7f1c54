/* SPDX-License-Identifier: MIT */
/* The checkpoint loader (include/ocla/model.h): small GLAForCausalLM checkpoints written here, as
 * flash-linear-attention saves them (config.json + model.safetensors, or shards with an index),
 * read back exactly for F32, BF16 and F16 data, single and sharded; and one test per class of
 * malformed input, each refused with its status and a detail naming the file and the field.
 *
 * The tensor names and shapes below are written from fla's modeling code (GLAForCausalLM,
 * GatedLinearAttention, GatedMLP), not from the library's own list. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#if OCLA_HAVE_JANSSON

/* A small model's options; the config.json written from them, plus `extra` JSON members. */
typedef struct mcfg {
    int64_t V, d, L, H, kvH, I;
    double ek, ev;
    int gate, conv, affine, fuse, tied;
    const char *extra; /* e.g. "\"feature_map\": \"relu\"," (each member ends with a comma) */
} mcfg;

static mcfg base_cfg(void) {
    return (mcfg){.V = 32, .d = 16, .L = 2, .H = 2, .kvH = 2, .I = 32, .ek = 0.5, .ev = 1.0, .gate = 1, .affine = 1,
                  .fuse = 1};
}

enum { F32 = 0, BF16 = 1, F16 = 2 };
static const char *const dtype_names[] = {"F32", "BF16", "F16"};

typedef struct tspec {
    char name[96];
    int dtype, ndim;
    int64_t dims[4];
    size_t numel;
    uint8_t *bytes; /* little-endian file data */
    float *want;    /* what the loader must give (fp32) */
} tspec;

typedef struct ckpt {
    tspec t[64];
    int n;
} ckpt;

static void add_t(ckpt *c, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *fmt, int layer) {
    tspec *t = &c->t[c->n++];
    cr_assert(c->n <= 64);
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->ndim = ndim;
    t->dims[0] = d0, t->dims[1] = d1, t->dims[2] = d2;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= (size_t)t->dims[i];
}

/* fla's GLAForCausalLM parameters (nn.Linear: [out, in]). */
static void model_tensors(const mcfg *m, ckpt *c) {
    const int64_t kd = (int64_t)(m->d * m->ek), vd = (int64_t)(m->d * m->ev), g = m->H / m->kvH;
    c->n = 0;
    add_t(c, 2, m->V, m->d, 0, "model.embeddings.weight", 0);
    for (int i = 0; i < m->L; i++) {
        add_t(c, 1, m->d, 0, 0, "model.layers.%d.attn_norm.weight", i);
        add_t(c, 2, kd, m->d, 0, "model.layers.%d.attn.q_proj.weight", i);
        add_t(c, 2, kd / g, m->d, 0, "model.layers.%d.attn.k_proj.weight", i);
        add_t(c, 2, vd / g, m->d, 0, "model.layers.%d.attn.v_proj.weight", i);
        if (m->gate) add_t(c, 2, vd, m->d, 0, "model.layers.%d.attn.g_proj.weight", i);
        if (m->conv) {
            add_t(c, 3, kd, 1, m->conv, "model.layers.%d.attn.q_conv1d.weight", i);
            add_t(c, 3, kd / g, 1, m->conv, "model.layers.%d.attn.k_conv1d.weight", i);
            add_t(c, 3, vd / g, 1, m->conv, "model.layers.%d.attn.v_conv1d.weight", i);
        }
        add_t(c, 2, 16, m->d, 0, "model.layers.%d.attn.gk_proj.0.weight", i);
        add_t(c, 2, kd / g, 16, 0, "model.layers.%d.attn.gk_proj.1.weight", i);
        add_t(c, 1, kd / g, 0, 0, "model.layers.%d.attn.gk_proj.1.bias", i);
        add_t(c, 2, m->d, vd, 0, "model.layers.%d.attn.o_proj.weight", i);
        if (m->affine)
            add_t(c, 1, vd / m->H, 0, 0,
                  m->fuse && m->gate ? "model.layers.%d.attn.g_norm_swish_gate.weight"
                                     : "model.layers.%d.attn.g_norm.weight",
                  i);
        add_t(c, 1, m->d, 0, 0, "model.layers.%d.mlp_norm.weight", i);
        add_t(c, 2, m->I, m->d, 0, "model.layers.%d.mlp.gate_proj.weight", i);
        add_t(c, 2, m->I, m->d, 0, "model.layers.%d.mlp.up_proj.weight", i);
        add_t(c, 2, m->d, m->I, 0, "model.layers.%d.mlp.down_proj.weight", i);
    }
    add_t(c, 1, m->d, 0, 0, "model.norm.weight", 0);
    if (!m->tied) add_t(c, 2, m->V, m->d, 0, "lm_head.weight", 0);
}

/* An independent fp16 -> fp32 reference: the value as a double (exact), by its definition. */
static float f16_ref(uint16_t h, uint32_t *bits) {
    int s = h >> 15, e = (h >> 10) & 31, f = h & 1023;
    double v;
    if (e == 31) { /* inf or NaN: the payload is kept, as PyTorch does */
        *bits = (uint32_t)s << 31 | 0x7f800000u | (uint32_t)f << 13;
        float x;
        memcpy(&x, bits, 4);
        return x;
    }
    v = e ? ldexp(1024 + f, e - 25) : ldexp(f, -24);
    float x = (float)(s ? -v : v);
    memcpy(bits, &x, 4);
    return x;
}

static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

/* Data for every tensor in `dtype`: every 16-bit pattern in turn for the half types (so the
 * 65536-value embeddings of a 4096 x 16 model hold each pattern once), random finite floats for F32. */
static void fill(ckpt *c, int dtype, uint32_t seed) {
    uint32_t pattern = 0, s = seed;
    for (int i = 0; i < c->n; i++) {
        tspec *t = &c->t[i];
        t->dtype = dtype;
        const size_t es = dtype == F32 ? 4 : 2;
        t->bytes = malloc(t->numel * es + 1);
        t->want = malloc(t->numel * sizeof(float) + 1);
        cr_assert(t->bytes && t->want);
        for (size_t k = 0; k < t->numel; k++) {
            uint32_t bits;
            if (dtype == F32) {
                float x = (float)((int32_t)rng(&s)) * 1e-9f;
                memcpy(&bits, &x, 4);
                t->want[k] = x;
            } else {
                uint16_t h = (uint16_t)(pattern++ & 0xffff);
                if (dtype == BF16) {
                    bits = (uint32_t)h << 16;
                    memcpy(&t->want[k], &bits, 4);
                } else
                    t->want[k] = f16_ref(h, &bits), memcpy(&t->want[k], &bits, 4);
                bits = h;
            }
            for (size_t b = 0; b < es; b++) t->bytes[k * es + b] = (uint8_t)(bits >> (8 * b));
        }
    }
}

static void free_ckpt(ckpt *c) {
    for (int i = 0; i < c->n; i++) free(c->t[i].bytes), free(c->t[i].want);
    c->n = 0;
}

/* The end of every test: the checkpoint's buffers and its directory. */
static void finish(ckpt *c, char *dir) {
    free_ckpt(c);
    tc_remove_tree(dir);
    free(dir);
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    write_bytes(dir, name, text, strlen(text));
}

static void write_config(const char *dir, const mcfg *m) {
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"architectures\": [\"GLAForCausalLM\"], \"model_type\": \"gla\", %s"
             "\"vocab_size\": %lld, \"hidden_size\": %lld, \"num_hidden_layers\": %lld, \"num_heads\": %lld,"
             "\"num_kv_heads\": %lld, \"expand_k\": %g, \"expand_v\": %g, \"hidden_ratio\": 4,"
             "\"intermediate_size\": %lld, \"use_output_gate\": %s, \"use_short_conv\": %s, \"conv_size\": %d,"
             "\"elementwise_affine\": %s, \"fuse_norm\": %s, \"tie_word_embeddings\": %s, \"norm_eps\": 1e-06,"
             "\"attn_mode\": \"chunk\", \"hidden_act\": \"swish\", \"feature_map\": null, \"clamp_min\": null,"
             "\"torch_dtype\": \"float32\", \"transformers_version\": \"4.48.0\", \"use_cache\": true}",
             m->extra ? m->extra : "", (long long)m->V, (long long)m->d, (long long)m->L, (long long)m->H,
             (long long)m->kvH, m->ek, m->ev, (long long)m->I, m->gate ? "true" : "false",
             m->conv ? "true" : "false", m->conv ? m->conv : 4, m->affine ? "true" : "false",
             m->fuse ? "true" : "false", m->tied ? "true" : "false");
    write_text(dir, "config.json", buf);
}

/* A safetensors file of tensors [from, to) of c, offsets in order, header padded with spaces to a
 * multiple of 8 as the reference writer does. header_override replaces the JSON when given. */
static void write_safetensors(const char *dir, const char *name, const ckpt *c, int from, int to,
                              const char *header_override) {
    size_t cap = 1 << 16, len = 0, data = 0;
    char *h = malloc(cap);
    cr_assert_not_null(h);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\": {\"format\": \"pt\"}");
    for (int i = from; i < to; i++) {
        const tspec *t = &c->t[i];
        size_t bytes = t->numel * (t->dtype == F32 ? 4 : 2);
        len += (size_t)snprintf(h + len, cap - len, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [", t->name,
                                dtype_names[t->dtype]);
        for (int k = 0; k < t->ndim; k++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", k ? ", " : "", (long long)t->dims[k]);
        len += (size_t)snprintf(h + len, cap - len, "], \"data_offsets\": [%zu, %zu]}", data, data + bytes);
        data += bytes;
        cr_assert(len < cap - 256);
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    if (header_override) len = (size_t)snprintf(h, cap, "%s", header_override);
    while (len % 8) h[len++] = ' ';
    uint8_t *file = malloc(8 + len + data + 1);
    cr_assert_not_null(file);
    for (int b = 0; b < 8; b++) file[b] = (uint8_t)((uint64_t)len >> (8 * b));
    memcpy(file + 8, h, len);
    size_t at = 8 + len;
    for (int i = from; i < to; i++) {
        size_t bytes = c->t[i].numel * (c->t[i].dtype == F32 ? 4 : 2);
        memcpy(file + at, c->t[i].bytes, bytes);
        at += bytes;
    }
    write_bytes(dir, name, file, at);
    free(file);
    free(h);
}

/* Every tensor of c is in the model with its shape and exactly its values; nothing else is. */
static void expect_same(const ocla_model *m, const ckpt *c) {
    cr_assert_eq(ocla_model_tensor_count(m), (size_t)c->n);
    for (int i = 0; i < c->n; i++) {
        ocla_model_tensor t;
        cr_assert_eq(ocla_model_tensor_get(m, c->t[i].name, &t), OCLA_SUCCESS, "%s: %s", c->t[i].name,
                     ocla_last_error(NULL));
        cr_assert_eq(t.ndim, c->t[i].ndim, "%s", t.name);
        for (int k = 0; k < t.ndim; k++) cr_assert_eq(t.dims[k], c->t[i].dims[k], "%s dim %d", t.name, k);
        cr_assert_eq(t.numel, (int64_t)c->t[i].numel);
        cr_assert_eq((int)t.stored_dtype, c->t[i].dtype);
        cr_assert_eq(memcmp(t.data, c->t[i].want, c->t[i].numel * sizeof(float)), 0, "%s: values differ", t.name);
    }
}

/* Open dir and expect status st with every word of `words` in the detail. */
static void expect_refused(const char *dir, ocla_status st, const char *words[]) {
    ocla_model *m = (ocla_model *)(uintptr_t)1;
    ocla_status got = ocla_model_open(dir, &m);
    const char *why = ocla_last_error(NULL);
    cr_assert_eq(got, st, "status %s, expected %s: %s", ocla_status_string(got), ocla_status_string(st), why);
    cr_assert_null(m);
    for (int i = 0; words[i]; i++) cr_assert_not_null(strstr(why, words[i]), "'%s' not in: %s", words[i], why);
}
#define REFUSED(dir, st, ...) expect_refused((dir), (st), (const char *[]){__VA_ARGS__, NULL})

/* config.json replaced by json: refused with st, the detail naming config.json and word. */
static void config_refused(const char *dir, const char *json, ocla_status st, const char *word) {
    write_text(dir, "config.json", json);
    REFUSED(dir, st, "config.json", word);
}

/* A single-file checkpoint of m in dtype written to dir (c holds what the loader must give). */
static void write_checkpoint(const char *dir, const mcfg *m, ckpt *c, int dtype, uint32_t seed) {
    model_tensors(m, c);
    fill(c, dtype, seed);
    write_config(dir, m);
    write_safetensors(dir, "model.safetensors", c, 0, c->n, NULL);
}

static ocla_model *open_ok(const char *dir) {
    ocla_model *model = NULL;
    cr_assert_eq(ocla_model_open(dir, &model), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
    return model;
}

/* A valid single-file checkpoint of base_cfg in fp32 (the malformed tests' starting point). */
static char *valid_dir(ckpt *c, mcfg *m) {
    char *dir = tc_temp_dir();
    *m = base_cfg();
    write_checkpoint(dir, m, c, F32, 7);
    return dir;
}

static void roundtrip(int dtype, mcfg m) {
    char *dir = tc_temp_dir();
    ckpt c;
    write_checkpoint(dir, &m, &c, dtype, 11);
    ocla_model *model = open_ok(dir);
    expect_same(model, &c);
    ocla_model_free(model);
    finish(&c, dir);
}

Test(model_load, f32_roundtrip_and_config) {
    mcfg m = base_cfg();
    char *dir = tc_temp_dir();
    ckpt c;
    write_checkpoint(dir, &m, &c, F32, 3);
    ocla_model *model = open_ok(dir);
    expect_same(model, &c);
    const ocla_gla_config *g = ocla_model_config(model);
    cr_assert_eq(g->vocab_size, 32);
    cr_assert_eq(g->hidden_size, 16);
    cr_assert_eq(g->num_hidden_layers, 2);
    cr_assert_eq(g->key_dim, 8);
    cr_assert_eq(g->value_dim, 16);
    cr_assert_eq(g->head_k_dim, 4);
    cr_assert_eq(g->head_v_dim, 8);
    cr_assert_eq(g->intermediate_size, 32);
    cr_assert_eq(g->gate_low_rank_dim, 16);
    cr_assert_float_eq(g->gate_logit_normalizer, 16.0f, 0);
    cr_assert_float_eq(g->norm_eps, 1e-6f, 0);
    cr_assert(g->use_output_gate && !g->use_short_conv && g->fuse_norm && !g->tie_word_embeddings);
    cr_assert_eq(g->feature_map, OCLA_MODEL_FMAP_NONE);
    cr_assert_eq(g->has_clamp_min, 0);
    cr_assert_eq(g->bos_token_id, 1);
    cr_assert_eq(g->eos_token_id, 2);
    cr_assert_eq(g->pad_token_id, -1);
    /* by index: name order */
    ocla_model_tensor a, b;
    for (size_t i = 1; i < ocla_model_tensor_count(model); i++) {
        cr_assert_eq(ocla_model_tensor_at(model, i - 1, &a), OCLA_SUCCESS);
        cr_assert_eq(ocla_model_tensor_at(model, i, &b), OCLA_SUCCESS);
        cr_assert_lt(strcmp(a.name, b.name), 0);
    }
    cr_assert_eq(ocla_model_tensor_at(model, ocla_model_tensor_count(model), &a), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_model_tensor_get(model, "model.layers.9.attn.q_proj.weight", &a), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(ocla_last_error(NULL), "model.layers.9.attn.q_proj.weight"));
    ocla_model_free(model);
    finish(&c, dir);
}

/* bf16 -> fp32 is a shift, fp16 -> fp32 exact for every value: the 4096 x 16 embeddings and head
 * carry every 16-bit pattern (subnormals, infinities, NaNs included), compared bit for bit. */
Test(model_load, bf16_every_pattern_exact) {
    mcfg m = base_cfg();
    m.V = 4096;
    roundtrip(BF16, m);
}

Test(model_load, f16_every_pattern_exact) {
    mcfg m = base_cfg();
    m.V = 4096;
    roundtrip(F16, m);
}

/* Options that change the tensors: grouped k/v heads, short convolutions, no output gate (so the
 * unfused g_norm), no affine output norm, tied embeddings (head absent), one layer. */
Test(model_load, option_variants) {
    mcfg m = base_cfg();
    m.kvH = 1, m.conv = 4, m.L = 1;
    roundtrip(F32, m);
    m = base_cfg();
    m.gate = 0, m.tied = 1;
    roundtrip(BF16, m);
    m = base_cfg();
    m.affine = 0, m.fuse = 0;
    roundtrip(F16, m);
}

/* A mixed-dtype file: bf16 tensors and an fp32 output norm (fla builds that norm in fp32). */
Test(model_load, mixed_dtypes) {
    mcfg m = base_cfg();
    m.fuse = 0;
    char *dir = tc_temp_dir();
    ckpt c, c2;
    model_tensors(&m, &c);
    model_tensors(&m, &c2);
    fill(&c, BF16, 5);
    fill(&c2, F32, 6);
    for (int i = 0; i < c.n; i++)
        if (strstr(c.t[i].name, "g_norm")) {
            tspec tmp = c.t[i];
            c.t[i] = c2.t[i];
            c2.t[i] = tmp;
        }
    write_config(dir, &m);
    write_safetensors(dir, "model.safetensors", &c, 0, c.n, NULL);
    ocla_model *model = open_ok(dir);
    expect_same(model, &c);
    ocla_model_free(model);
    free_ckpt(&c);
    free_ckpt(&c2);
    tc_remove_tree(dir);
    free(dir);
}

/* Absent keys take GLAConfig's defaults; the MLP width comes from hidden_ratio as fla's GatedMLP
 * computes it: int(16 * 4 * 2/3) = 42, rounded up to 256. */
Test(model_load, config_defaults_and_derived_sizes) {
    mcfg m = base_cfg();
    m.I = 256;
    char *dir = tc_temp_dir();
    ckpt c;
    model_tensors(&m, &c);
    fill(&c, F32, 9);
    write_text(dir, "config.json",
               "{\"model_type\": \"gla\", \"vocab_size\": 32, \"hidden_size\": 16, \"num_hidden_layers\": 2,"
               " \"num_heads\": 2, \"intermediate_size\": null, \"num_kv_heads\": null, \"eos_token_id\": 0,"
               " \"clamp_min\": -5.5, \"feature_map\": \"silu\"}");
    write_safetensors(dir, "model.safetensors", &c, 0, c.n, NULL);
    ocla_model *model = open_ok(dir);
    const ocla_gla_config *g = ocla_model_config(model);
    cr_assert_eq(g->intermediate_size, 256);
    cr_assert_eq(g->num_kv_heads, 2);
    cr_assert_float_eq(g->expand_k, 0.5, 0);
    cr_assert_float_eq(g->norm_eps, 1e-6f, 0);
    cr_assert_eq(g->eos_token_id, 0);
    cr_assert(g->has_clamp_min && g->clamp_min == -5.5f);
    cr_assert_eq(g->feature_map, OCLA_MODEL_FMAP_SWISH);
    expect_same(model, &c);
    ocla_model_free(model);
    finish(&c, dir);
}

static void write_index(const char *dir, const ckpt *c, int split, const char *moved_name, const char *moved_file) {
    size_t cap = 1 << 15, len = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    len += (size_t)snprintf(s, cap, "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    for (int i = 0; i < c->n; i++) {
        const char *file = i < split ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        if (moved_name && !strcmp(c->t[i].name, moved_name)) file = moved_file;
        len += (size_t)snprintf(s + len, cap - len, "%s\"%s\": \"%s\"", i ? ", " : "", c->t[i].name, file);
        cr_assert(len < cap - 256);
    }
    snprintf(s + len, cap - len, "}}");
    write_text(dir, "model.safetensors.index.json", s);
    free(s);
}

/* Two shards and an index, as save_pretrained(max_shard_size=...) writes them. */
static char *sharded_dir(ckpt *c, int dtype) {
    char *dir = tc_temp_dir();
    mcfg m = base_cfg();
    model_tensors(&m, c);
    fill(c, dtype, 13);
    write_config(dir, &m);
    const int split = c->n / 2;
    write_safetensors(dir, "model-00001-of-00002.safetensors", c, 0, split, NULL);
    write_safetensors(dir, "model-00002-of-00002.safetensors", c, split, c->n, NULL);
    write_index(dir, c, split, NULL, NULL);
    return dir;
}

Test(model_load, sharded_roundtrip) {
    for (int dtype = F32; dtype <= F16; dtype++) {
        ckpt c;
        char *dir = sharded_dir(&c, dtype);
        ocla_model *model = open_ok(dir);
        expect_same(model, &c);
        ocla_model_free(model);
        finish(&c, dir);
    }
}

/* ---- malformed inputs: one test per class ---- */

Test(model_load, truncated_file) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size - 3), 0); /* the last tensor loses 3 bytes */
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "truncated", "lm_head.weight");
    cr_assert_eq(truncate(path, 5), 0); /* not even the 8-byte length */
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "truncated", "8-byte");
    cr_assert_eq(truncate(path, 0), 0);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "truncated");
    finish(&c, dir);
}

Test(model_load, header_length_past_the_end) {
    char *dir = tc_temp_dir();
    mcfg m = base_cfg();
    write_config(dir, &m);
    uint8_t img[24] = {0};
    img[0] = 200; /* 200 bytes of header announced, 16 present */
    memcpy(img + 8, "{\"a\": 1}        ", 16);
    write_bytes(dir, "model.safetensors", img, sizeof img);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "header length 200 past the end");
    memset(img, 0xff, 8); /* 2^64 - 1 */
    write_bytes(dir, "model.safetensors", img, sizeof img);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "header length");
    memset(img, 0, 8); /* 0 */
    write_bytes(dir, "model.safetensors", img, sizeof img);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "header length 0");
    tc_remove_tree(dir);
    free(dir);
}

Test(model_load, bad_json) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    write_safetensors(dir, "model.safetensors", &c, 0, 0, "{\"x\": {\"dtype\": \"F32\", ");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "not valid JSON");
    write_safetensors(dir, "model.safetensors", &c, 0, 0, "[1, 2]");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "not a JSON object");
    /* one name twice in a header */
    write_safetensors(dir, "model.safetensors", &c, 0, 0,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 0]},"
                      " \"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 0]}}");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "duplicate");
    /* fields of the wrong type */
    write_safetensors(dir, "model.safetensors", &c, 0, 0,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "shape[0]");
    write_safetensors(dir, "model.safetensors", &c, 0, 0,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"extra\": 1}}");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "extra");
    write_safetensors(dir, "model.safetensors", &c, 0, 0, "{\"__metadata__\": {\"format\": 1}}");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "__metadata__");
    /* config.json */
    write_text(dir, "config.json", "{\"hidden_size\": 16,}");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "config.json", "not valid JSON", "line 1");
    config_refused(dir, "{\"hidden_size\": \"16\"}", OCLA_ERR_INVALID_ARGUMENT, "hidden_size");
    config_refused(dir, "{\"num_heads\": 0}", OCLA_ERR_INVALID_ARGUMENT, "num_heads");
    /* values out of the ranges fla's sizes and fp32 can hold */
    config_refused(dir, "{\"hidden_size\": 16, \"hidden_ratio\": 1e300}", OCLA_ERR_INVALID_ARGUMENT, "hidden_ratio");
    config_refused(dir, "{\"hidden_size\": 16, \"norm_eps\": 1e300}", OCLA_ERR_INVALID_ARGUMENT, "norm_eps");
    config_refused(dir, "{\"hidden_size\": 16, \"expand_k\": 1e300}", OCLA_ERR_SHAPE, "expand_k");
    finish(&c, dir);
}

Test(model_load, overlapping_or_out_of_range_offsets) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    static const char overlap[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                                  " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, overlap);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "overlap");
    static const char hole[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                               " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, hole);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'b'", "no tensor holds");
    static const char reversed[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 0]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, reversed);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "end before begin");
    /* past the end of the file: the header's offsets are right, the data is missing */
    static const char beyond[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, beyond);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "data_offsets [0, 16] past the end");
    static const char huge[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904],"
                               " \"data_offsets\": [0, 16]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, huge);
    REFUSED(dir, OCLA_ERR_OVERFLOW, "model.safetensors", "'a'");
    /* bytes past the last tensor */
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_safetensors(dir, "model.safetensors", &c, 0, c.n, NULL);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("tail", f);
    fclose(f);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "4 bytes past the last tensor");
    finish(&c, dir);
}

Test(model_load, offsets_not_matching_dtype_and_shape) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    static const char h[] = "{\"a\": {\"dtype\": \"BF16\", \"shape\": [3, 2], \"data_offsets\": [0, 24]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, h);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "hold 24 bytes", "needs 12");
    finish(&c, dir);
}

Test(model_load, unknown_dtype) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    static const char f64[] = "{\"a\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, f64);
    REFUSED(dir, OCLA_ERR_UNSUPPORTED, "model.safetensors", "'a'", "dtype 'F64'");
    static const char q4[] = "{\"a\": {\"dtype\": \"Q4_K\", \"shape\": [1], \"data_offsets\": [0, 8]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, q4);
    REFUSED(dir, OCLA_ERR_UNSUPPORTED, "model.safetensors", "dtype 'Q4_K'");
    static const char num[] = "{\"a\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}";
    write_safetensors(dir, "model.safetensors", &c, 0, 0, num);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "'a'", "dtype");
    finish(&c, dir);
}

Test(model_load, wrong_shapes_for_the_config) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    /* a file made for num_kv_heads 1 (k_proj [4, 16]) under a config of 2 kv heads */
    mcfg other = m;
    other.kvH = 1;
    ckpt c2;
    model_tensors(&other, &c2);
    fill(&c2, F32, 1);
    write_safetensors(dir, "model.safetensors", &c2, 0, c2.n, NULL);
    REFUSED(dir, OCLA_ERR_SHAPE, "model.safetensors", "model.layers.0.attn.k_proj.weight",
            "shape [4, 16], the config gives [8, 16]");
    /* sizes that do not fit together in the config itself */
    m.kvH = 3;
    write_config(dir, &m);
    REFUSED(dir, OCLA_ERR_SHAPE, "config.json", "num_kv_heads 3");
    free_ckpt(&c);
    free_ckpt(&c2);
    tc_remove_tree(dir);
    free(dir);
}

Test(model_load, missing_or_extra_tensors) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    write_safetensors(dir, "model.safetensors", &c, 0, c.n - 1, NULL); /* without lm_head.weight */
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "lm_head.weight", "missing");
    m.L = 1; /* a config of one layer: layer 1's tensors are extra */
    write_config(dir, &m);
    write_safetensors(dir, "model.safetensors", &c, 0, c.n, NULL);
    REFUSED(dir, OCLA_ERR_UNSUPPORTED, "model.safetensors", "model.layers.1.", "not part of");
    /* a tied model whose stored head is not the embedding matrix */
    m = base_cfg();
    m.tied = 1;
    write_config(dir, &m);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors", "lm_head.weight differs");
    /* no safetensors file at all */
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(remove(path), 0);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors.index.json", "cannot be opened");
    snprintf(path, sizeof path, "%s/config.json", dir);
    cr_assert_eq(remove(path), 0);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "config.json", "cannot be opened");
    finish(&c, dir);
}

Test(model_load, shard_and_index_errors) {
    ckpt c;
    char *dir = sharded_dir(&c, F32);
    const int split = c.n / 2;
    /* a tensor of shard 1 also in shard 2: a duplicate across shards */
    write_safetensors(dir, "model-00002-of-00002.safetensors", &c, split - 1, c.n, NULL);
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, c.t[split - 1].name, "two files", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors");
    write_safetensors(dir, "model-00002-of-00002.safetensors", &c, split, c.n, NULL);
    /* the index puts a tensor in the other shard */
    write_index(dir, &c, split, c.t[0].name, "model-00002-of-00002.safetensors");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, c.t[0].name, "weight_map");
    /* the index names a file outside the directory */
    write_index(dir, &c, split, c.t[0].name, "../model-00001-of-00002.safetensors");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "index.json", c.t[0].name, "not a file name");
    /* a shard the index names is missing */
    write_index(dir, &c, split, c.t[0].name, "model-00003-of-00002.safetensors");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model-00003-of-00002.safetensors", "cannot be opened");
    /* the index is not JSON */
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": ");
    REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "model.safetensors.index.json", "not valid JSON");
    finish(&c, dir);
}

/* Options that would change the math and that ocla does not run, or does not know: refused. */
Test(model_load, unknown_or_unrun_config_options) {
    ckpt c;
    mcfg m;
    char *dir = valid_dir(&c, &m);
    static const struct {
        const char *extra, *word;
    } cases[] = {
        {"\"use_rope\": true,", "unknown option 'use_rope'"},
        {"\"quantization_config\": {\"bits\": 4},", "quantization_config"},
        {"\"gate_logit_normalizer\": 8,", "gate_logit_normalizer"},
        {"\"gate_low_rank_dim\": 32,", "gate_low_rank_dim"},
        {"\"use_gv\": true,", "use_gv"},
        {"\"attn\": {\"layers\": [0], \"num_heads\": 2},", "attn"},
        {"\"attnres_block_size\": 2,", "attnres_block_size"},
        {"\"model_type\": \"llama\", \"hidden_size\": 16,", "model_type 'llama'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        m.extra = cases[i].extra;
        write_config(dir, &m);
        if (i == 7) /* model_type twice: the duplicate is what is refused */
            REFUSED(dir, OCLA_ERR_INVALID_ARGUMENT, "config.json", "duplicate");
        else
            REFUSED(dir, OCLA_ERR_UNSUPPORTED, "config.json", cases[i].word);
    }
    /* values of known options that fla's model does not run */
    config_refused(dir, "{\"hidden_size\": 16, \"hidden_act\": \"gelu\"}", OCLA_ERR_UNSUPPORTED, "hidden_act 'gelu'");
    config_refused(dir, "{\"hidden_size\": 16, \"feature_map\": \"elu\"}", OCLA_ERR_UNSUPPORTED, "feature_map 'elu'");
    config_refused(dir, "{\"hidden_size\": 16, \"attn_mode\": \"parallel\"}",
                   OCLA_ERR_UNSUPPORTED, "attn_mode 'parallel'");
    finish(&c, dir);
}

Test(model_load, null_arguments_and_upload) {
    ocla_model *m = NULL;
    cr_assert_eq(ocla_model_open(NULL, &m), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_model_open("", &m), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_model_open("/nonexistent-ocla-dir", NULL), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_model_open("/nonexistent-ocla-dir", &m), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(ocla_last_error(NULL), "/nonexistent-ocla-dir/config.json"));
    cr_assert_null(ocla_model_config(NULL));
    cr_assert_eq(ocla_model_tensor_count(NULL), 0);
    ocla_model_free(NULL);
    /* a tensor onto a device and back */
    ckpt c;
    mcfg mc;
    char *dir = valid_dir(&c, &mc);
    cr_assert_eq(ocla_model_open(dir, &m), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
    ocla_model_tensor info;
    cr_assert_eq(ocla_model_tensor_get(m, NULL, &info), OCLA_ERR_INVALID_ARGUMENT);
    if (tc_device_count() > 0) {
        ocla_context *ctx = tc_open(0);
        ocla_tensor *t = NULL;
        tc_ok(ctx, ocla_model_tensor_upload(ctx, m, "model.layers.1.attn.gk_proj.0.weight", &t));
        cr_assert_eq(ocla_tensor_ndim(t), 2);
        cr_assert_eq(ocla_tensor_dim(t, 0), 16);
        cr_assert_eq(ocla_tensor_dim(t, 1), 16);
        float *back = tc_download(ctx, t);
        cr_assert_eq(ocla_model_tensor_get(m, "model.layers.1.attn.gk_proj.0.weight", &info), OCLA_SUCCESS);
        cr_assert_eq(memcmp(back, info.data, 256 * sizeof(float)), 0);
        free(back);
        ocla_tensor_destroy(t);
        cr_assert_eq(ocla_model_tensor_upload(ctx, m, "nope", &t), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_null(t);
        ocla_context_destroy(ctx);
    }
    ocla_model_free(m);
    finish(&c, dir);
}

#else
/* A build without jansson: the API is there and says why it cannot load. */
Test(model_load, unavailable_without_jansson) {
    ocla_model *m = (ocla_model *)(uintptr_t)1;
    cr_assert_eq(ocla_model_open("/tmp", &m), OCLA_ERR_UNSUPPORTED);
    cr_assert_null(m);
    cr_assert_not_null(strstr(ocla_last_error(NULL), "jansson"));
}
#endif
