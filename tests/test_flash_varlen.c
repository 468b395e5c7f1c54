/* SPDX-License-Identifier: MIT */
/* Packed sequences of FLASH (ocla_flash_params.cu_seqlens) and of the GAU layer
 * (ocla_gau_layer_params.cu_seqlens), on every device:
 *  - the packed forward and backward (o; dqq, dkq, dql, dkl, dv; d rel_bias, the sum of each
 *    sequence's) equal each sequence run alone through the dense call, at every chunk the scheduler
 *    may pick (16..256) and a C given outside them, for length mixes of 1, C-1, C, C+1, a long one and
 *    a random one in random order, with RoPE at a position offset, a relative bias, both causal
 *    normalisers and the quadratic-scale variants;
 *  - the GAU layer likewise (y, dx, every weight's gradient summed over the sequences): its RoPE
 *    positions count from each sequence's first token;
 *  - bad offsets are refused, one check per class, forward and backward, naming what is wrong.
 * Tolerance 1e-6 normwise (tc_max_rel_err_f): both sides run the same kernels over the same chunks of
 * each sequence, so they agree to rounding; only sums over the sequences (d rel_bias, the layer's
 * weight gradients) add in another order. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flash_case.h"

#define TOL 1e-6
enum { H = 2, S = 16, E = 12, MAXN = 8, N_OUT = 7 };

typedef struct vcase {
    int C, quad_variant, bias, lin_mean, rope;
    int64_t pos0;
    int n;
    int32_t cu[MAXN + 1];
} vcase;

/* Host inputs of T packed tokens: qq, kq, ql, kl [T,H,S], v, do [T,H,E], the bias [H, 2C-1]. */
typedef struct vhost {
    float *x[4], *v, *d_o, *bias;
} vhost;

static void host_make(const vcase *c, uint32_t seed, vhost *h) {
    const size_t T = (size_t)c->cu[c->n], ns = T * H * S, ne = T * H * E, nb = (size_t)H * (2 * c->C - 1);
    for (int i = 0; i < 4; i++) h->x[i] = malloc(ns * 4), tc_fill_normal(h->x[i], ns, seed + (uint32_t)i, 1.0f);
    h->v = malloc(ne * 4), h->d_o = malloc(ne * 4), h->bias = malloc(nb * 4);
    tc_fill_normal(h->v, ne, seed + 4, 1.0f), tc_fill_normal(h->d_o, ne, seed + 5, 1.0f);
    tc_fill_uniform(h->bias, nb, seed + 6, -0.5f, 0.5f);
}

static void host_free(vhost *h) {
    for (int i = 0; i < 4; i++) free(h->x[i]);
    free(h->v), free(h->d_o), free(h->bias);
}

/* The sizes of output k: o, dqq, dkq, dql, dkl, dv per token (floats per token), d rel_bias in all. */
static size_t out_width(int k) { return k == 0 || k == 5 ? (size_t)H * E : (size_t)H * S; }

/* Forward and backward of tokens [t0, t0 + L): alone (cu NULL) or packed (cu, n). out[k] at token t0
 * (k < 6), out[6] += d rel_bias. */
static void run(ocla_context *ctx, const vcase *c, const vhost *h, int t0, int L, const int32_t *cu, int n,
                float *out[N_OUT]) {
    const fcase f = {1, L, H, S, E, c->C, 1, c->quad_variant, c->bias, c->lin_mean, c->rope, 0, c->pos0};
    ocla_flash_params p;
    ref_flash_cfg r;
    fcase_setup(&f, &p, &r);
    p.cu_seqlens = cu, p.n_seqs = n;
    const int64_t bd[2] = {H, 2 * c->C - 1};
    ocla_tensor *tb = tc_tensor(ctx, 2, bd, h->bias), *tdb = c->bias ? tc_tensor(ctx, 2, bd, NULL) : NULL;
    if (c->bias) p.rel_bias = tb;
    ocla_tensor *in[4], *g[N_OUT - 1];
    for (int i = 0; i < 4; i++) in[i] = tc_tensor4(ctx, 1, L, H, S, h->x[i] + (size_t)t0 * H * S);
    ocla_tensor *tv = tc_tensor4(ctx, 1, L, H, E, h->v + (size_t)t0 * H * E);
    ocla_tensor *tdo = tc_tensor4(ctx, 1, L, H, E, h->d_o + (size_t)t0 * H * E);
    for (int k = 0; k < N_OUT - 1; k++) g[k] = tc_tensor4(ctx, 1, L, H, (int64_t)out_width(k) / H, NULL);
    const ocla_flash_io io = {in[0], in[1], in[2], in[3], tv, g[0]};
    tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
    const ocla_flash_grad_io gio = {in[0], in[1], in[2], in[3], tv, tdo, g[1], g[2], g[3], g[4], g[5], tdb};
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &gio));
    for (int k = 0; k < N_OUT - 1; k++) {
        float *got = tc_download(ctx, g[k]);
        memcpy(out[k] + (size_t)t0 * out_width(k), got, (size_t)L * out_width(k) * 4);
        free(got);
        ocla_tensor_destroy(g[k]);
    }
    if (tdb) {
        float *got = tc_download(ctx, tdb);
        for (size_t i = 0; i < (size_t)bd[0] * (size_t)bd[1]; i++) out[6][i] += got[i];
        free(got);
    }
    for (int i = 0; i < 4; i++) ocla_tensor_destroy(in[i]);
    ocla_tensor_destroy(tv), ocla_tensor_destroy(tdo), ocla_tensor_destroy(tb), ocla_tensor_destroy(tdb);
}

static const char *const out_names[N_OUT] = {"o", "dqq", "dkq", "dql", "dkl", "dv", "d_rel_bias"};

static void check_case(ocla_context *ctx, int d, const vcase *c, uint32_t seed) {
    vhost h;
    host_make(c, seed, &h);
    const int T = c->cu[c->n];
    float *packed[N_OUT], *alone[N_OUT];
    for (int k = 0; k < N_OUT; k++) {
        const size_t n = k < 6 ? (size_t)T * out_width(k) : (size_t)H * (2 * c->C - 1);
        packed[k] = calloc(n, 4), alone[k] = calloc(n, 4);
    }
    run(ctx, c, &h, 0, T, c->cu, c->n, packed);
    for (int i = 0; i < c->n; i++) run(ctx, c, &h, c->cu[i], c->cu[i + 1] - c->cu[i], NULL, 0, alone);
    for (int k = 0; k < N_OUT; k++) {
        if (k == 6 && !c->bias) break;
        const size_t n = k < 6 ? (size_t)T * out_width(k) : (size_t)H * (2 * c->C - 1);
        cr_assert(tc_all_finite(packed[k], n));
        const double e = tc_max_rel_err_f(packed[k], alone[k], n);
        cr_assert_leq(e, TOL, "%s: %s packed vs alone %g (C %d, %d sequences, T %d, rope %d bias %d mean %d quad %d)",
                      tc_device_name(d), out_names[k], e, c->C, c->n, T, c->rope, c->bias, c->lin_mean,
                      c->quad_variant);
    }
    for (int k = 0; k < N_OUT; k++) free(packed[k]), free(alone[k]);
    host_free(&h);
}

/* Offsets of lengths len[0..n) in an order shuffled by seed. */
static void offsets(vcase *c, const int *len, int n, uint32_t seed) {
    int l[MAXN];
    memcpy(l, len, (size_t)n * sizeof *l);
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates on a small LCG */
        seed = seed * 1103515245u + 12345u;
        const int j = (int)((seed >> 8) % (uint32_t)(i + 1)), t = l[i];
        l[i] = l[j], l[j] = t;
    }
    c->n = n, c->cu[0] = 0;
    for (int i = 0; i < n; i++) c->cu[i + 1] = c->cu[i] + l[i];
}

/* Every chunk the scheduler may pick (plan.c's FLASH row: 16..256) and C = 5 given in the params. */
static void packed_vs_alone(ocla_context *ctx, int d) {
    static const int chunks[] = {5, 16, 32, 64, 128, 256};
    for (int i = 0; i < 6; i++) {
        const int C = chunks[i];
        uint32_t seed = 100u + (uint32_t)i;
        const int rnd = 1 + (int)((seed * 2654435761u) >> 7) % (2 * C);
        const int len[6] = {1, C - 1, C, C + 1, 3 * C + 7, rnd};
        vcase c = {C, i % 3, i != 2, i % 2, i == 3 ? 0 : 8, i == 1 ? 0 : 5, 0, {0}};
        offsets(&c, len, 6, seed);
        check_case(ctx, d, &c, seed);
    }
    /* a single sequence, and many short ones */
    vcase one = {16, 0, 1, 0, 8, 3, 0, {0}};
    offsets(&one, (const int[]){40}, 1, 1);
    check_case(ctx, d, &one, 7);
    vcase many = {16, 0, 1, 1, 8, 0, 0, {0}};
    offsets(&many, (const int[]){1, 2, 1, 3, 17, 1, 5, 16}, 8, 3);
    check_case(ctx, d, &many, 8);
}
Test(flash_varlen, packed_vs_alone, .timeout = 1800) { tc_on_every_device(packed_vs_alone); }

/* One offsets error: the status and a word of the detail, forward and backward alike. */
static void expect_refused(ocla_context *ctx, ocla_flash_params *p, const ocla_flash_io *io,
                           const ocla_flash_grad_io *gio, ocla_status want, const char *word) {
    cr_expect_eq(ocla_flash_attention(ctx, p, io), want, "forward: %s", ocla_last_error(ctx));
    cr_expect(strstr(ocla_last_error(ctx), word) != NULL, "forward: '%s' not in %s", word, ocla_last_error(ctx));
    cr_expect_eq(ocla_flash_backward(ctx, p, gio), want, "backward: %s", ocla_last_error(ctx));
    cr_expect(strstr(ocla_last_error(ctx), word) != NULL, "backward: '%s' not in %s", word, ocla_last_error(ctx));
}

static void bad_offsets(ocla_context *ctx, int d) {
    (void)d;
    ocla_tensor *x = tc_tensor4(ctx, 1, 10, 1, 8, NULL), *o = tc_tensor4(ctx, 1, 10, 1, 8, NULL);
    ocla_tensor *g[5];
    for (int i = 0; i < 5; i++) g[i] = tc_tensor4(ctx, 1, 10, 1, 8, NULL);
    ocla_tensor *x2 = tc_tensor4(ctx, 2, 5, 1, 8, NULL), *o2 = tc_tensor4(ctx, 2, 5, 1, 8, NULL);
    const ocla_flash_io io = {x, x, x, x, x, o}, io2 = {x2, x2, x2, x2, x2, o2};
    const ocla_flash_grad_io gio = {x, x, x, x, x, x, g[0], g[1], g[2], g[3], g[4], NULL};
    const ocla_flash_grad_io gio2 = {x2, x2, x2, x2, x2, x2, o2, o2, o2, o2, o2, NULL};
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.chunk = 4;
    int32_t cu[4] = {0, 3, 7, 10};
    p.cu_seqlens = cu, p.n_seqs = 3;
    tc_ok(ctx, ocla_flash_attention(ctx, &p, &io)); /* the good offsets pass */
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &gio));
    /* B != 1 */
    int32_t cu2[2] = {0, 5};
    p.cu_seqlens = cu2, p.n_seqs = 1;
    cr_expect_eq(ocla_flash_attention(ctx, &p, &io2), OCLA_ERR_SHAPE);
    cr_expect(strstr(ocla_last_error(ctx), "qq must be [1,T,H,S]"), "%s", ocla_last_error(ctx));
    cr_expect_eq(ocla_flash_backward(ctx, &p, &gio2), OCLA_ERR_SHAPE);
    p.cu_seqlens = cu;
    /* the first offset not 0 */
    cu[0] = 1, p.n_seqs = 3;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens[0] = 1");
    /* an empty sequence */
    cu[0] = 0, cu[1] = 0;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "empty");
    /* decreasing */
    cu[1] = 8;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens[2] = 7");
    /* the last offset not T (short, and past T) */
    cu[1] = 3, cu[3] = 9;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens[3] = 9");
    cu[3] = 11;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "must cover T = 10");
    cu[3] = 10;
    /* n_seqs out of range, or without offsets */
    p.n_seqs = 0;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "n_seqs is 0");
    p.n_seqs = 11;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "n_seqs is 11");
    p.n_seqs = 3, p.cu_seqlens = NULL;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_INVALID_ARGUMENT, "cu_seqlens is NULL");
    /* non-causal */
    p.cu_seqlens = cu, p.causal = 0;
    expect_refused(ctx, &p, &io, &gio, OCLA_ERR_UNSUPPORTED, "causal");
    p.causal = 1;
    tc_ok(ctx, ocla_flash_attention(ctx, &p, &io)); /* the context still works */
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(g[i]);
    ocla_tensor_destroy(x), ocla_tensor_destroy(o), ocla_tensor_destroy(x2), ocla_tensor_destroy(o2);
}
Test(flash_varlen, bad_offsets) { tc_on_every_device(bad_offsets); }

/* ---- the GAU layer ---- */
enum { GD = 16, GE = 24, GS = 16, GW = 2 * GE + GS, N_GW = 8 };

/* The layer's weights [in, out] in the order of ocla_gau_layer_weights (LayerNorm's norm_w, norm_b). */
static const int64_t g_rows[N_GW] = {GD, GW, 4, 4, GE, GD, GD, GD}, g_cols[N_GW] = {GW, 0, GS, GS, GD, 0, 0, 0};
static size_t g_numel(int i) { return (size_t)g_rows[i] * (size_t)(g_cols[i] ? g_cols[i] : 1); }
static ocla_tensor *g_tensor(ocla_context *ctx, int i, const float *host) {
    return g_cols[i] ? tc_tensor(ctx, 2, (const int64_t[]){g_rows[i], g_cols[i]}, host)
                     : tc_tensor(ctx, 1, &g_rows[i], host);
}

/* Layer forward and backward of tokens [t0, t0 + L) (packed: cu, n). y and dx at token t0 in
 * out[0], out[1]; out[2 + i] += weight i's gradient, out[2 + N_GW] += rel_bias's. */
static void gau_run(ocla_context *ctx, int C, float *const w[N_GW + 1], const float *x, const float *dy, int t0, int L,
                    const int32_t *cu, int n, float *out[N_GW + 3]) {
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    p.hidden_dim = GE, p.qk_dim = GS, p.flash.chunk = C, p.flash.rope_dims = GS, p.flash.pos_offset = 3;
    p.cu_seqlens = cu, p.n_seqs = n;
    const int64_t xd[3] = {1, L, GD}, bd[2] = {1, 2 * C - 1};
    ocla_tensor *tw[N_GW], *tg[N_GW];
    for (int i = 0; i < N_GW; i++) tw[i] = g_tensor(ctx, i, w[i]), tg[i] = g_tensor(ctx, i, NULL);
    ocla_tensor *tb = tc_tensor(ctx, 2, bd, w[N_GW]), *tdb = tc_tensor(ctx, 2, bd, NULL);
    p.flash.rel_bias = tb;
    ocla_tensor *tx = tc_tensor(ctx, 3, xd, x + (size_t)t0 * GD), *tdy = tc_tensor(ctx, 3, xd, dy + (size_t)t0 * GD);
    ocla_tensor *ty = tc_tensor(ctx, 3, xd, NULL), *tdx = tc_tensor(ctx, 3, xd, NULL);
    const ocla_gau_layer_weights gw = {tw[0], tw[1], tw[2], tw[3], tw[4], tw[5], tw[6], tw[7]};
    const ocla_gau_layer_grads gg = {tg[0], tg[1], tg[2], tg[3], tg[4], tg[5], tg[6], tg[7], tdb};
    tc_ok(ctx, ocla_gau_layer_forward(ctx, &p, &gw, tx, ty));
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &gw, tx, tdy, tdx, &gg));
    ocla_tensor *const tok[2] = {ty, tdx};
    for (int k = 0; k < 2; k++) {
        float *got = tc_download(ctx, tok[k]);
        memcpy(out[k] + (size_t)t0 * GD, got, (size_t)L * GD * 4);
        free(got);
    }
    for (int i = 0; i <= N_GW; i++) {
        float *got = tc_download(ctx, i < N_GW ? tg[i] : tdb);
        const size_t n_el = i < N_GW ? g_numel(i) : (size_t)(2 * C - 1);
        for (size_t j = 0; j < n_el; j++) out[2 + i][j] += got[j];
        free(got);
    }
    for (int i = 0; i < N_GW; i++) ocla_tensor_destroy(tw[i]), ocla_tensor_destroy(tg[i]);
    ocla_tensor_destroy(tb), ocla_tensor_destroy(tdb), ocla_tensor_destroy(tx), ocla_tensor_destroy(tdy);
    ocla_tensor_destroy(ty), ocla_tensor_destroy(tdx);
}

/* The layer on a packed batch against each sequence alone (y, dx by tokens; every weight's gradient
 * and rel_bias's summed over the sequences), at two chunks. */
static void gau_packed_vs_alone(ocla_context *ctx, int d) {
    static const int chunks[] = {16, 32};
    for (int ci = 0; ci < 2; ci++) {
        const int C = chunks[ci];
        vcase c = {C, 0, 1, 0, GS, 3, 0, {0}};
        offsets(&c, (const int[]){1, C - 1, C, C + 1, 2 * C + 9}, 5, 11u + (uint32_t)ci);
        const int T = c.cu[c.n];
        float *w[N_GW + 1];
        for (int i = 0; i <= N_GW; i++) {
            const size_t n_el = i < N_GW ? g_numel(i) : (size_t)(2 * C - 1);
            w[i] = malloc(n_el * 4);
            tc_fill_uniform(w[i], n_el, 40u + (uint32_t)i, -0.5f, 0.5f);
            if (i == 2 || i == 6)
                for (size_t j = 0; j < n_el; j++) w[i][j] += 1.0f; /* gamma, norm_w: around 1 */
        }
        float *x = malloc((size_t)T * GD * 4), *dy = malloc((size_t)T * GD * 4);
        tc_fill_normal(x, (size_t)T * GD, 60, 1.0f), tc_fill_normal(dy, (size_t)T * GD, 61, 1.0f);
        float *packed[N_GW + 3], *alone[N_GW + 3];
        for (int k = 0; k < N_GW + 3; k++) {
            const size_t n_el = k < 2 ? (size_t)T * GD : k < 2 + N_GW ? g_numel(k - 2) : (size_t)(2 * C - 1);
            packed[k] = calloc(n_el, 4), alone[k] = calloc(n_el, 4);
        }
        gau_run(ctx, C, w, x, dy, 0, T, c.cu, c.n, packed);
        for (int i = 0; i < c.n; i++) gau_run(ctx, C, w, x, dy, c.cu[i], c.cu[i + 1] - c.cu[i], NULL, 0, alone);
        static const char *const names[N_GW + 3] = {"y",    "dx",  "d w_uvz", "d b_uvz",  "d gamma",   "d beta",
                                                    "d w_o", "d b_o", "d norm_w", "d norm_b", "d rel_bias"};
        for (int k = 0; k < N_GW + 3; k++) {
            const size_t n_el = k < 2 ? (size_t)T * GD : k < 2 + N_GW ? g_numel(k - 2) : (size_t)(2 * C - 1);
            cr_assert(tc_all_finite(packed[k], n_el));
            const double e = tc_max_rel_err_f(packed[k], alone[k], n_el);
            /* weight gradients: sums over T tokens in another order (one sum against N sums added) */
            cr_assert_leq(e, TOL, "%s: GAU %s packed vs alone %g (C %d, T %d)", tc_device_name(d), names[k], e, C, T);
            free(packed[k]), free(alone[k]);
        }
        for (int i = 0; i <= N_GW; i++) free(w[i]);
        free(x), free(dy);
    }
}
Test(flash_varlen, gau_layer_packed_vs_alone, .timeout = 1800) { tc_on_every_device(gau_packed_vs_alone); }
