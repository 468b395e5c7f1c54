/* The op table shared by the reliability harnesses: tests/tools/leak_cycle.c, tests/test_concurrency.c,
 * tests/test_faults.c (and the fuzz target's choice of ops). Header-only (static functions), no
 * Criterion: the leak tool is a plain program.
 *
 * Each entry runs one public op end to end on small deterministic inputs: create its tensors,
 * upload, run, download the output into the caller's buffer, destroy everything, on every path,
 * success or failure. So one call is a self-contained unit that a harness can repeat (leak cycle),
 * run from several threads (concurrency), or break at every enqueue (faults).
 *
 * Adding an op is one line in REL_OPS below (plus its run function if it needs new inputs).
 * A run function returns the op's status; OCLA_ERR_UNSUPPORTED means "not on this device" and the
 * harnesses skip it.
 */
#ifndef OCLA_TESTS_RELIABILITY_OPS_H
#define OCLA_TESTS_RELIABILITY_OPS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocla/ocla.h"

/* Shapes: T = 37 is not a multiple of any chunk size (partial last chunk); K != V. */
enum { REL_B = 1, REL_T = 37, REL_H = 2, REL_K = 16, REL_V = 8 };
#define REL_OUT_MAX 8192 /* floats: the largest output of any entry */

static uint32_t rel_xs(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    return *s = x;
}
static void rel_fill(float *x, size_t n, uint32_t seed, float lo, float hi) {
    uint32_t s = seed * 2654435761u + 99u;
    if (!s) s = 1;
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((rel_xs(&s) >> 8) * (1.0 / 16777216.0));
}

/* A tensor of 1..4 dims filled with uniform values in [lo, hi) (NULL on failure, status in *st). */
static ocla_tensor *rel_tensor(ocla_context *ctx, ocla_status *st, int ndim, const int64_t *dims, uint32_t seed,
                               float lo, float hi) {
    if (*st != OCLA_SUCCESS) return NULL;
    ocla_tensor *t = NULL;
    *st = ocla_tensor_create(ctx, OCLA_F32, ndim, dims, &t);
    if (*st != OCLA_SUCCESS) return NULL;
    size_t n = (size_t)ocla_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h) {
        *st = OCLA_ERR_OUT_OF_MEMORY;
        ocla_tensor_destroy(t);
        return NULL;
    }
    rel_fill(h, n, seed, lo, hi);
    *st = ocla_tensor_upload(ctx, t, h, n * sizeof *h);
    free(h);
    if (*st != OCLA_SUCCESS) {
        ocla_tensor_destroy(t);
        return NULL;
    }
    return t;
}

static ocla_status rel_download(ocla_context *ctx, ocla_status st, const ocla_tensor *t, float *out, size_t *n) {
    if (st != OCLA_SUCCESS) return st;
    size_t m = (size_t)ocla_tensor_numel(t);
    if (*n + m > REL_OUT_MAX) return OCLA_ERR_INTERNAL;
    st = ocla_tensor_download(ctx, t, out + *n, m * sizeof(float));
    if (st == OCLA_SUCCESS) *n += m;
    return st;
}

/* ---- attention forward, every gate kind and form ---- */
typedef struct rel_attn_cfg {
    ocla_gate_kind gate;
    ocla_attn_form form;
    int causal, normalize, with_state;
    ocla_feature_map fmap;
} rel_attn_cfg;

static ocla_status rel_attention(ocla_context *ctx, const rel_attn_cfg *c, float *out, size_t *n) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = c->gate, p.form = c->form, p.causal = c->causal, p.normalize = c->normalize;
    p.feature_map = c->fmap;
    ocla_status st = OCLA_SUCCESS;
    int64_t qd[4] = {REL_B, REL_T, REL_H, REL_K}, vd[4] = {REL_B, REL_T, REL_H, REL_V};
    int64_t gd[4] = {REL_B, REL_T, REL_H, c->gate == OCLA_GATE_VECTOR ? REL_K : 1};
    int64_t sd[4] = {REL_B, REL_H, REL_K, REL_V};
    ocla_tensor *q = rel_tensor(ctx, &st, 4, qd, 1, -1, 1), *k = rel_tensor(ctx, &st, 4, qd, 2, -1, 1);
    ocla_tensor *v = rel_tensor(ctx, &st, 4, vd, 3, -1, 1), *o = rel_tensor(ctx, &st, 4, vd, 4, 0, 0);
    ocla_tensor *g = NULL, *s0 = NULL, *s1 = NULL;
    if (c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR)
        g = rel_tensor(ctx, &st, c->gate == OCLA_GATE_VECTOR ? 4 : 3, gd, 5, -0.5f, -0.01f);
    if (c->with_state) s0 = rel_tensor(ctx, &st, 4, sd, 6, -1, 1), s1 = rel_tensor(ctx, &st, 4, sd, 7, 0, 0);
    if (st == OCLA_SUCCESS) {
        ocla_attn_io io;
        memset(&io, 0, sizeof io);
        io.q = q, io.k = k, io.v = v, io.g = g, io.o = o, io.initial_state = s0, io.final_state = s1;
        st = ocla_attention_forward(ctx, &p, &io);
    }
    st = rel_download(ctx, st, o, out, n);
    if (s1) st = rel_download(ctx, st, s1, out, n);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(o);
    ocla_tensor_destroy(g), ocla_tensor_destroy(s0), ocla_tensor_destroy(s1);
    return st;
}

#define REL_ATTN(fn, ...)                                                     \
    static ocla_status fn(ocla_context *ctx, float *out, size_t *n) {         \
        static const rel_attn_cfg c = {__VA_ARGS__};                          \
        return rel_attention(ctx, &c, out, n);                                \
    }
/*                 gate                form                causal norm state fmap */
REL_ATTN(rel_la_chunk, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_ELU1)
REL_ATTN(rel_la_rec, OCLA_GATE_NONE, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_ELU1)
REL_ATTN(rel_la_norm, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 1, 1, 0, OCLA_FEATURE_ELU1)
REL_ATTN(rel_la_noncausal, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 0, 1, 0, OCLA_FEATURE_RELU)
REL_ATTN(rel_sgla_chunk, OCLA_GATE_SCALAR, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY)
REL_ATTN(rel_sgla_rec, OCLA_GATE_SCALAR, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY)
REL_ATTN(rel_gla_chunk, OCLA_GATE_VECTOR, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY)
REL_ATTN(rel_gla_rec, OCLA_GATE_VECTOR, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY)
REL_ATTN(rel_retention, OCLA_GATE_FIXED, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY)

/* ---- BLAS ---- */
static ocla_status rel_gemm(ocla_context *ctx, float *out, size_t *n) {
    ocla_status st = OCLA_SUCCESS;
    int64_t ad[2] = {24, 40}, bd[2] = {40, 16}, cd[2] = {24, 16};
    ocla_tensor *a = rel_tensor(ctx, &st, 2, ad, 11, -1, 1), *b = rel_tensor(ctx, &st, 2, bd, 12, -1, 1);
    ocla_tensor *c = rel_tensor(ctx, &st, 2, cd, 13, 0, 0);
    if (st == OCLA_SUCCESS) {
        ocla_gemm_desc d;
        ocla_gemm_desc_defaults(&d);
        d.m = 24, d.n = 16, d.k = 40;
        st = ocla_gemm(ctx, &d, a, b, c);
    }
    st = rel_download(ctx, st, c, out, n);
    ocla_tensor_destroy(a), ocla_tensor_destroy(b), ocla_tensor_destroy(c);
    return st;
}

static ocla_status rel_gemm_batched(ocla_context *ctx, float *out, size_t *n) {
    ocla_status st = OCLA_SUCCESS;
    int64_t ad[3] = {3, 8, 12}, bd[3] = {3, 12, 8}, cd[3] = {3, 8, 8};
    ocla_tensor *a = rel_tensor(ctx, &st, 3, ad, 14, -1, 1), *b = rel_tensor(ctx, &st, 3, bd, 15, -1, 1);
    ocla_tensor *c = rel_tensor(ctx, &st, 3, cd, 16, 0, 0);
    if (st == OCLA_SUCCESS) {
        ocla_gemm_desc d;
        ocla_gemm_desc_defaults(&d);
        d.m = 8, d.n = 8, d.k = 12, d.batch = 3, d.trans_b = 0;
        st = ocla_gemm(ctx, &d, a, b, c);
    }
    st = rel_download(ctx, st, c, out, n);
    ocla_tensor_destroy(a), ocla_tensor_destroy(b), ocla_tensor_destroy(c);
    return st;
}

/* ---- training: attention backward, projections, SGD (include/ocla/train.h) ---- */
static ocla_status rel_attention_backward(ocla_context *ctx, float *out, size_t *n) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = OCLA_GATE_VECTOR, p.feature_map = OCLA_FEATURE_IDENTITY;
    ocla_status st = OCLA_SUCCESS;
    int64_t qd[4] = {REL_B, REL_T, REL_H, REL_K}, vd[4] = {REL_B, REL_T, REL_H, REL_V};
    int64_t sd[4] = {REL_B, REL_H, REL_K, REL_V};
    ocla_tensor *q = rel_tensor(ctx, &st, 4, qd, 21, -1, 1), *k = rel_tensor(ctx, &st, 4, qd, 22, -1, 1);
    ocla_tensor *v = rel_tensor(ctx, &st, 4, vd, 23, -1, 1), *g = rel_tensor(ctx, &st, 4, qd, 24, -0.5f, -0.01f);
    ocla_tensor *s0 = rel_tensor(ctx, &st, 4, sd, 25, -1, 1), *dout = rel_tensor(ctx, &st, 4, vd, 26, -1, 1);
    ocla_tensor *dS = rel_tensor(ctx, &st, 4, sd, 27, -1, 1);
    ocla_tensor *dq = rel_tensor(ctx, &st, 4, qd, 0, 0, 0), *dk = rel_tensor(ctx, &st, 4, qd, 0, 0, 0);
    ocla_tensor *dv = rel_tensor(ctx, &st, 4, vd, 0, 0, 0), *dg = rel_tensor(ctx, &st, 4, qd, 0, 0, 0);
    ocla_tensor *ds0 = rel_tensor(ctx, &st, 4, sd, 0, 0, 0);
    if (st == OCLA_SUCCESS) {
        ocla_attn_grad_io io;
        memset(&io, 0, sizeof io);
        io.q = q, io.k = k, io.v = v, io.g = g, io.initial_state = s0, io.d_o = dout, io.d_final_state = dS;
        io.dq = dq, io.dk = dk, io.dv = dv, io.dg = dg, io.d_initial_state = ds0;
        st = ocla_attention_backward(ctx, &p, &io);
    }
    st = rel_download(ctx, st, dq, out, n);
    st = rel_download(ctx, st, dk, out, n);
    st = rel_download(ctx, st, dv, out, n);
    st = rel_download(ctx, st, dg, out, n);
    st = rel_download(ctx, st, ds0, out, n);
    ocla_tensor *all[] = {q, k, v, g, s0, dout, dS, dq, dk, dv, dg, ds0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    return st;
}

static ocla_status rel_linear_train_step(ocla_context *ctx, float *out, size_t *n) {
    ocla_status st = OCLA_SUCCESS;
    int64_t xd[3] = {2, 5, 12}, wd[2] = {12, 8}, yd[3] = {2, 5, 8};
    ocla_tensor *x = rel_tensor(ctx, &st, 3, xd, 31, -1, 1), *w = rel_tensor(ctx, &st, 2, wd, 32, -1, 1);
    ocla_tensor *y = rel_tensor(ctx, &st, 3, yd, 0, 0, 0), *dy = rel_tensor(ctx, &st, 3, yd, 33, -1, 1);
    ocla_tensor *dx = rel_tensor(ctx, &st, 3, xd, 0, 0, 0), *dw = rel_tensor(ctx, &st, 2, wd, 34, -1, 1);
    if (st == OCLA_SUCCESS) st = ocla_linear_forward(ctx, x, w, y);
    if (st == OCLA_SUCCESS) st = ocla_linear_backward(ctx, x, w, dy, dx, dw, 1);
    if (st == OCLA_SUCCESS) st = ocla_sgd_step(ctx, w, dw, 0.1f);
    st = rel_download(ctx, st, y, out, n);
    st = rel_download(ctx, st, dx, out, n);
    st = rel_download(ctx, st, w, out, n);
    ocla_tensor *all[] = {x, w, y, dy, dx, dw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    return st;
}

/* ---- layers: softmax attention, FLASH (include/ocla/layers.h) ---- */
static ocla_status rel_softmax(ocla_context *ctx, int causal, float *out, size_t *n) {
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = causal;
    ocla_status st = OCLA_SUCCESS;
    int64_t qd[4] = {REL_B, REL_T, REL_H, REL_K}, vd[4] = {REL_B, REL_T, REL_H, REL_V};
    ocla_tensor *q = rel_tensor(ctx, &st, 4, qd, 41, -1, 1), *k = rel_tensor(ctx, &st, 4, qd, 42, -1, 1);
    ocla_tensor *v = rel_tensor(ctx, &st, 4, vd, 43, -1, 1), *o = rel_tensor(ctx, &st, 4, vd, 0, 0, 0);
    if (st == OCLA_SUCCESS) st = ocla_softmax_attention(ctx, &p, q, k, v, o);
    st = rel_download(ctx, st, o, out, n);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(o);
    return st;
}
static ocla_status rel_softmax_causal(ocla_context *ctx, float *out, size_t *n) { return rel_softmax(ctx, 1, out, n); }
static ocla_status rel_softmax_full(ocla_context *ctx, float *out, size_t *n) { return rel_softmax(ctx, 0, out, n); }

static ocla_status rel_flash(ocla_context *ctx, int causal, float *out, size_t *n) {
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.causal = causal, p.chunk = 16; /* several chunks at T = 37, the last one partial */
    ocla_status st = OCLA_SUCCESS;
    int64_t sd[4] = {REL_B, REL_T, REL_H, REL_K}, ed[4] = {REL_B, REL_T, REL_H, REL_V};
    ocla_tensor *qq = rel_tensor(ctx, &st, 4, sd, 51, -1, 1), *kq = rel_tensor(ctx, &st, 4, sd, 52, -1, 1);
    ocla_tensor *ql = rel_tensor(ctx, &st, 4, sd, 53, -1, 1), *kl = rel_tensor(ctx, &st, 4, sd, 54, -1, 1);
    ocla_tensor *v = rel_tensor(ctx, &st, 4, ed, 55, -1, 1), *o = rel_tensor(ctx, &st, 4, ed, 0, 0, 0);
    if (st == OCLA_SUCCESS) {
        ocla_flash_io io;
        memset(&io, 0, sizeof io);
        io.qq = qq, io.kq = kq, io.ql = ql, io.kl = kl, io.v = v, io.o = o;
        st = ocla_flash_attention(ctx, &p, &io);
    }
    st = rel_download(ctx, st, o, out, n);
    ocla_tensor *all[] = {qq, kq, ql, kl, v, o};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    return st;
}
static ocla_status rel_flash_causal(ocla_context *ctx, float *out, size_t *n) { return rel_flash(ctx, 1, out, n); }
static ocla_status rel_flash_full(ocla_context *ctx, float *out, size_t *n) { return rel_flash(ctx, 0, out, n); }

static ocla_status rel_linformer(ocla_context *ctx, float *out, size_t *n) {
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    ocla_status st = OCLA_SUCCESS;
    int64_t qd[4] = {REL_B, REL_T, REL_H, REL_K}, vd[4] = {REL_B, REL_T, REL_H, REL_V}, ed[2] = {12, 48};
    ocla_tensor *q = rel_tensor(ctx, &st, 4, qd, 61, -1, 1), *k = rel_tensor(ctx, &st, 4, qd, 62, -1, 1);
    ocla_tensor *v = rel_tensor(ctx, &st, 4, vd, 63, -1, 1), *o = rel_tensor(ctx, &st, 4, vd, 0, 0, 0);
    ocla_tensor *E = rel_tensor(ctx, &st, 2, ed, 64, -0.2f, 0.2f), *F = rel_tensor(ctx, &st, 2, ed, 65, -0.2f, 0.2f);
    if (st == OCLA_SUCCESS) {
        ocla_linformer_io io;
        memset(&io, 0, sizeof io);
        io.q = q, io.k = k, io.v = v, io.E = E, io.F = F, io.o = o; /* n = 48 >= T: first T columns */
        st = ocla_linformer_attention(ctx, &p, &io);
    }
    st = rel_download(ctx, st, o, out, n);
    ocla_tensor *all[] = {q, k, v, o, E, F};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    return st;
}

/* ---- the table: one line per op ---- */
typedef struct rel_op {
    const char *name;
    ocla_status (*run)(ocla_context *ctx, float *out, size_t *n);
} rel_op;

static const rel_op REL_OPS[] = {
    {"linear_attention_chunked", rel_la_chunk},
    {"linear_attention_recurrent", rel_la_rec},
    {"linear_attention_normalized", rel_la_norm},
    {"linear_attention_noncausal", rel_la_noncausal},
    {"simple_gla_chunked", rel_sgla_chunk},
    {"simple_gla_recurrent", rel_sgla_rec},
    {"gla_chunked", rel_gla_chunk},
    {"gla_recurrent", rel_gla_rec},
    {"retention_chunked", rel_retention},
    {"gemm", rel_gemm},
    {"gemm_strided_batched", rel_gemm_batched},
    {"gla_backward", rel_attention_backward},
    {"linear_fwd_bwd_sgd", rel_linear_train_step},
    {"softmax_attention_causal", rel_softmax_causal},
    {"softmax_attention_noncausal", rel_softmax_full},
    {"flash_causal", rel_flash_causal},
    {"flash_noncausal", rel_flash_full},
    {"linformer", rel_linformer},
};
#define REL_N_OPS ((int)(sizeof REL_OPS / sizeof REL_OPS[0]))

#endif
