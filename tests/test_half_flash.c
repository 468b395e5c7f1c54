/* SPDX-License-Identifier: MIT */
/* FLASH and the GAU layer in half precision (issue 14), on every device, against the fp64 references
 * computed on the same half-rounded inputs:
 *  - ocla_flash_attention and ocla_flash_backward with every tensor (the relative bias and its
 *    gradient too) bf16 or fp16 (kernels_cl/flash.cl, flash_bwd.cl with -DOCLA_DTYPE): causal and
 *    non-causal, both causal normalisers, the three quadratic scalings, RoPE at an offset, T = 1, odd
 *    sizes, B and H > 1, strided views (rows padded: the loads and stores take the strides), and
 *    packed sequences (cu_seqlens: each sequence's reference alone, tests/ref/ref_layers.h and
 *    ref_flash_grad.h);
 *  - ocla_gau_layer_forward / _backward with x, every weight, the relative bias, y, dy, dx and every
 *    gradient of x's dtype (runtime/layer_half.c: converted at the boundary), LayerNorm and ScaleNorm,
 *    against tests/ref/ref_gau.c and ref_gau_grad.c; y in place (y = x) equals y apart;
 *  - a tensor of the other half dtype refused by both, naming it, nothing written.
 * Tolerances (normwise, tc_max_rel_err: max error / max |reference|), issue 14's: 5e-3 bf16, 1e-3 fp16.
 * The inputs are the same on both sides, so what differs is each output's one rounding (at most the
 * dtype's unit roundoff of the largest element: 2^-8 = 3.9e-3, 2^-11 = 4.9e-4) plus the fp32
 * arithmetic, within 1e-4 of fp64 in test_flash*.c and test_gau*.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flash_case.h"
#include "ref/ref_flash_grad.h"
#include "ref/ref_gau_grad.h"

#define PAD 3 /* extra elements per row of a strided case */

static double tol_of(ocla_dtype dt) { return dt == OCLA_BF16 ? 5e-3 : 1e-3; }

/* A [B,T,H,D] tensor of dtype dt holding host: dense, or (padded) a view of the first D of D + PAD
 * elements per row, whose own tensor is *parent (destroyed after the view). */
static ocla_tensor *make4(ocla_context *ctx, ocla_dtype dt, const int64_t d[4], int padded, const float *host,
                          ocla_tensor **parent) {
    *parent = NULL;
    if (!padded) return tc_tensor_as(ctx, dt, 4, d, host);
    const int64_t W = d[3] + PAD, pd[4] = {d[0], d[1], d[2], W}, rows = d[0] * d[1] * d[2];
    float *wide = calloc((size_t)(rows * W), sizeof *wide);
    cr_assert(wide);
    for (int64_t r = 0; host && r < rows; r++) memcpy(wide + r * W, host + r * d[3], (size_t)d[3] * sizeof *wide);
    *parent = tc_tensor_as(ctx, dt, 4, pd, wide);
    free(wide);
    ocla_tensor *view;
    tc_ok(ctx, ocla_tensor_view(ctx, *parent, 0, 4, d, (const int64_t[]){d[1] * d[2] * W, d[2] * W, W, 1}, &view));
    return view;
}

enum { X_QQ, X_KQ, X_QL, X_KL, X_V, X_DO, X_N };
enum { G_O, G_DQQ, G_DKQ, G_DQL, G_DKL, G_DV, G_DB, G_N };
static const char *const G_NAME[G_N] = {"o", "dqq", "dkq", "dql", "dkl", "dv", "d_rel_bias"};

/* The fp64 forward and gradients of f on x (dense host arrays, half-rounded) and bias: the whole batch,
 * or with cu (B = 1) each sequence alone, its slice of the time axis, the bias gradient summed. */
static void reference(const fcase *f, const float *const x[X_N], const float *bias, const int32_t *cu, int ns,
                      double *const ref[G_N]) {
    ocla_flash_params p;
    ref_flash_cfg r;
    fcase_setup(f, &p, &r);
    r.bias = f->bias ? bias : NULL;
    const int nb = f->H * (2 * f->C - 1), n = ns ? ns : 1;
    double *db = malloc((size_t)nb * sizeof *db);
    cr_assert(db);
    if (f->bias) memset(ref[G_DB], 0, (size_t)nb * sizeof(double));
    for (int i = 0; i < n; i++) {
        const int t0 = ns ? cu[i] : 0, T = ns ? cu[i + 1] - cu[i] : f->T;
        r.T = T;
        const size_t rs = (size_t)f->H * f->S, re = (size_t)f->H * f->E, n_s = (size_t)r.B * T * rs;
        const size_t n_e = (size_t)r.B * T * re, os = (size_t)t0 * rs, oe = (size_t)t0 * re;
        ref_flash_attention(&r, x[X_QQ] + os, x[X_KQ] + os, x[X_QL] + os, x[X_KL] + os, x[X_V] + oe, ref[G_O] + oe);
        double *xd[X_N];
        for (int k = 0; k < X_N; k++) xd[k] = tc_to_double(x[k] + (k < X_V ? os : oe), k < X_V ? n_s : n_e);
        const ref_flash_grads g = {ref[G_DQQ] + os, ref[G_DKQ] + os, ref[G_DQL] + os, ref[G_DKL] + os, ref[G_DV] + oe,
                                   f->bias ? db : NULL};
        ref_flash_backward(&r, xd[X_QQ], xd[X_KQ], xd[X_QL], xd[X_KL], xd[X_V], xd[X_DO], &g);
        for (int k = 0; f->bias && k < nb; k++) ref[G_DB][k] += db[k];
        for (int k = 0; k < X_N; k++) free(xd[k]);
    }
    free(db);
}

/* Case f in dtype dt (padded: strided views; cu, ns: packed sequences, f->T = cu[ns], B = 1): forward and
 * backward on the device against reference(); err[i] the error of output i (-1: not computed). */
static void run_case(ocla_context *ctx, const fcase *f, ocla_dtype dt, int padded, const int32_t *cu, int ns,
                     uint32_t seed, double err[G_N]) {
    const int64_t ds[4] = {f->B, f->T, f->H, f->S}, de[4] = {f->B, f->T, f->H, f->E};
    const size_t n_s = (size_t)(f->B * f->T * f->H * f->S), n_e = (size_t)(f->B * f->T * f->H * f->E);
    const size_t nb = (size_t)f->H * (2 * f->C - 1);
    float *x[X_N], *bias = malloc(nb * sizeof *bias);
    ocla_tensor *t[X_N], *g[G_DB], *parent[X_N + G_DB];
    cr_assert(bias);
    for (int i = 0; i < X_N; i++) {
        const size_t n = i < X_V ? n_s : n_e;
        x[i] = malloc(n * sizeof(float));
        cr_assert(x[i]);
        tc_fill_normal(x[i], n, seed + (uint32_t)i, 1.0f);
        tc_round_to(dt, x[i], n);
        t[i] = make4(ctx, dt, i < X_V ? ds : de, padded, x[i], &parent[i]);
    }
    for (int i = 0; i < G_DB; i++) g[i] = make4(ctx, dt, i == G_O || i == G_DV ? de : ds, padded, NULL, &parent[X_N + i]);
    tc_fill_uniform(bias, nb, seed + 9, -0.5f, 0.5f);
    tc_round_to(dt, bias, nb);
    const int64_t bd[2] = {f->H, 2 * f->C - 1};
    ocla_tensor *tb = tc_tensor_as(ctx, dt, 2, bd, bias), *tdb = tc_tensor_as(ctx, dt, 2, bd, NULL);
    ocla_flash_params p;
    ref_flash_cfg r;
    fcase_setup(f, &p, &r);
    if (f->bias) p.rel_bias = tb;
    p.cu_seqlens = cu, p.n_seqs = ns;
    const ocla_flash_io io = {t[X_QQ], t[X_KQ], t[X_QL], t[X_KL], t[X_V], g[G_O]};
    tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
    const ocla_flash_grad_io gio = {t[X_QQ], t[X_KQ],   t[X_QL],   t[X_KL],   t[X_V],   t[X_DO],
                                    g[G_DQQ], g[G_DKQ], g[G_DQL], g[G_DKL], g[G_DV], f->bias ? tdb : NULL};
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &gio));
    double *ref[G_N];
    for (int i = 0; i < G_N; i++) {
        const size_t n = i == G_DB ? nb : i == G_O || i == G_DV ? n_e : n_s;
        ref[i] = malloc(n * sizeof(double));
        cr_assert(ref[i]);
    }
    reference(f, (const float *const *)x, bias, cu, ns, ref);
    for (int i = 0; i < G_N; i++) {
        err[i] = -1;
        if (i == G_DB && !f->bias) continue;
        const size_t n = i == G_DB ? nb : i == G_O || i == G_DV ? n_e : n_s;
        float *got = tc_download(ctx, i == G_DB ? tdb : g[i]);
        cr_assert(tc_all_finite(got, n), "%s: %s not finite", ocla_dtype_name(dt), G_NAME[i]);
        err[i] = tc_max_rel_err(got, ref[i], n);
        free(got);
    }
    for (int i = 0; i < G_N; i++) free(ref[i]);
    for (int i = 0; i < X_N; i++) ocla_tensor_destroy(t[i]), free(x[i]);
    for (int i = 0; i < G_DB; i++) ocla_tensor_destroy(g[i]);
    for (int i = 0; i < X_N + G_DB; i++) ocla_tensor_destroy(parent[i]);
    ocla_tensor_destroy(tb), ocla_tensor_destroy(tdb);
    free(bias);
}

/* The errors of one run against the dtype's bound; worst[] keeps the largest of each output. */
static void expect_within(int d, ocla_dtype dt, const char *what, const double err[G_N], double worst[G_N]) {
    for (int i = 0; i < G_N; i++) {
        if (err[i] < 0) continue;
        cr_expect(err[i] <= tol_of(dt), "%s %s %s: %s error %.3g (tol %.0e)", tc_device_name(d), ocla_dtype_name(dt),
                  what, G_NAME[i], err[i], tol_of(dt));
        worst[i] = fmax(worst[i], err[i]);
    }
}

Test(half_flash, forward_and_backward_vs_fp64, .timeout = 1800) {
    /* B T H S E C causal quad bias mean rope lin_custom pos0 */
    static const fcase cs[] = {
        {1, 1, 1, 16, 16, 16, 1, 0, 1, 0, 0, 0, 0},      /* T = 1 */
        {2, 100, 2, 32, 48, 32, 1, 0, 1, 0, 0, 0, 0},    /* several chunks, the last partial; B, H > 1 */
        {1, 150, 1, 32, 32, 32, 1, 1, 0, 1, 0, 0, 0},    /* paper text scaling, MEAN normaliser */
        {1, 130, 1, 32, 40, 64, 1, 2, 1, 0, 16, 1, 0},   /* lucidrains scaling, partial RoPE, lin scale */
        {1, 200, 1, 32, 32, 64, 1, 0, 0, 1, 32, 0, 300}, /* full RoPE at an offset */
        {1, 45, 3, 8, 5, 7, 1, 2, 1, 1, 4, 1, 0},        /* odd sizes everywhere */
    };
    const size_t n = sizeof cs / sizeof cs[0];
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            double worst[G_N] = {0};
            char what[96];
            for (size_t i = 0; i <= n; i++) /* the cases, then the second one strided */
                for (int causal = 0; causal < 2; causal++) {
                    fcase f = cs[i < n ? i : 1];
                    f.causal = causal;
                    double e[G_N];
                    run_case(ctx, &f, (ocla_dtype)dt, i == n, NULL, 0, (uint32_t)(300 + 10 * i), e);
                    snprintf(what, sizeof what, "case %zu%s causal %d", i, i == n ? " (strided)" : "", causal);
                    expect_within(d, (ocla_dtype)dt, what, e, worst);
                }
            cr_log_info("%s FLASH %s: max error o %.3g, dqq %.3g, dkq %.3g, dql %.3g, dkl %.3g, dv %.3g, d_rel_bias "
                        "%.3g", tc_device_name(d), ocla_dtype_name((ocla_dtype)dt), worst[0], worst[1], worst[2],
                        worst[3], worst[4], worst[5], worst[6]);
        }
        ocla_context_destroy(ctx);
    }
}

/* Packed sequences (causal): each sequence against its own reference, at a scheduler chunk and a
 * model's C = 5; lengths 1, C - 1, C, C + 1, 3C + 7. */
Test(half_flash, packed_sequences_vs_fp64, .timeout = 1200) {
    static const int chunks[2] = {16, 5};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            double worst[G_N] = {0};
            for (int ci = 0; ci < 2; ci++) {
                const int C = chunks[ci], len[5] = {1, C - 1, C, C + 1, 3 * C + 7};
                int32_t cu[6] = {0};
                for (int i = 0; i < 5; i++) cu[i + 1] = cu[i] + len[i];
                const fcase f = {1, cu[5], 2, 16, 24, C, 1, 0, 1, ci, ci ? 8 : 0, 0, ci ? 5 : 0};
                double e[G_N];
                run_case(ctx, &f, (ocla_dtype)dt, 0, cu, 5, 700u + (uint32_t)ci, e);
                expect_within(d, (ocla_dtype)dt, ci ? "packed C 5" : "packed C 16", e, worst);
            }
            cr_log_info("%s FLASH packed %s: max error o %.3g, dqq %.3g, dkq %.3g, dql %.3g, dkl %.3g, dv %.3g, "
                        "d_rel_bias %.3g", tc_device_name(d), ocla_dtype_name((ocla_dtype)dt), worst[0], worst[1],
                        worst[2], worst[3], worst[4], worst[5], worst[6]);
        }
        ocla_context_destroy(ctx);
    }
}

/* ---- the GAU layer ---- */
enum { GB = 2, GT = 37, GD = 16, GE = 24, GS = 16, GC = 16 };
enum { W_UVZ, B_UVZ, GAMMA, BETA, W_O, B_O, NORM_W, NORM_B, REL_BIAS, N_W };
static const char *const W_NAME[N_W] = {"w_uvz", "b_uvz", "gamma", "beta", "w_o", "b_o", "norm_w", "norm_b", "rel_bias"};

/* The elements of weight i under norm (LayerNorm 0, ScaleNorm 1; ScaleNorm has no norm_b: 0). */
static size_t w_numel(int i, int norm) {
    const size_t n[N_W] = {GD * (2 * GE + GS), 2 * GE + GS, 4 * GS, 4 * GS, GE * GD, GD,
                           norm ? 1 : GD,      norm ? 0 : GD, 2 * GC - 1};
    return n[i];
}

/* The layer with norm in dtype dt: y (and y computed in place), dx and every gradient against fp64;
 * the largest error, *inplace_diff the largest |y in place - y|. */
static double gau_case(ocla_context *ctx, ocla_dtype dt, int norm, double *inplace_diff) {
    const int W = 2 * GE + GS;
    const size_t nx = (size_t)GB * GT * GD;
    float *w[N_W], *x = malloc(nx * 4), *dy = malloc(nx * 4);
    ocla_tensor *tw[N_W], *tg[N_W];
    cr_assert(x && dy);
    for (int i = 0; i < N_W; i++) {
        const size_t n = w_numel(i, norm);
        w[i] = n ? malloc(n * 4) : NULL;
        tw[i] = tg[i] = NULL;
        if (!n) continue;
        cr_assert(w[i]);
        const float sd = i == W_UVZ ? 1.0f / sqrtf((float)GD) : i == W_O ? 1.0f / sqrtf((float)GE) : 0.3f;
        tc_fill_normal(w[i], n, 800u + (uint32_t)i, sd);
        if (i == GAMMA || i == NORM_W)
            for (size_t j = 0; j < n; j++) w[i][j] += 1.0f;
        tc_round_to(dt, w[i], n);
        const int64_t dims[2] = {i == W_UVZ ? GD : i == W_O ? GE : i == GAMMA || i == BETA ? 4 : i == REL_BIAS ? 1 : (int64_t)n,
                                 i == W_UVZ ? W : i == W_O ? GD : i == GAMMA || i == BETA ? GS : i == REL_BIAS ? 2 * GC - 1 : 1};
        const int nd = i == W_UVZ || i == W_O || i == GAMMA || i == BETA || i == REL_BIAS ? 2 : 1;
        tw[i] = tc_tensor_as(ctx, dt, nd, dims, w[i]);
        tg[i] = tc_tensor_as(ctx, dt, nd, dims, NULL);
    }
    tc_fill_normal(x, nx, 830, 1.0f), tc_fill_normal(dy, nx, 831, 1.0f);
    tc_round_to(dt, x, nx), tc_round_to(dt, dy, nx);
    const int64_t xd[3] = {GB, GT, GD};
    ocla_tensor *tx = tc_tensor_as(ctx, dt, 3, xd, x), *tdy = tc_tensor_as(ctx, dt, 3, xd, dy);
    ocla_tensor *ty = tc_tensor_as(ctx, dt, 3, xd, NULL), *tdx = tc_tensor_as(ctx, dt, 3, xd, NULL);
    ocla_tensor *tin = tc_tensor_as(ctx, dt, 3, xd, x); /* y computed in place over a copy of x */
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    p.hidden_dim = GE, p.qk_dim = GS, p.norm = norm ? OCLA_GAU_NORM_SCALE : OCLA_GAU_NORM_LAYER;
    p.flash.chunk = GC, p.flash.rope_dims = GS, p.flash.rel_bias = tw[REL_BIAS];
    const ocla_gau_layer_weights wt = {tw[W_UVZ], tw[B_UVZ], tw[GAMMA], tw[BETA], tw[W_O], tw[B_O], tw[NORM_W], tw[NORM_B]};
    const ocla_gau_layer_grads gt = {tg[W_UVZ], tg[B_UVZ], tg[GAMMA], tg[BETA], tg[W_O],
                                     tg[B_O],   tg[NORM_W], tg[NORM_B], tg[REL_BIAS]};
    tc_ok(ctx, ocla_gau_layer_forward(ctx, &p, &wt, tx, ty));
    tc_ok(ctx, ocla_gau_layer_forward(ctx, &p, &wt, tin, tin));
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &wt, tx, tdy, tdx, &gt));

    const ref_gau_cfg r = {GB, GT, GD, GE, GS, norm, (double)p.norm_eps, 1, GC, 1, 1.0 / GC, 1.0, 1.0, w[REL_BIAS], 0,
                           1.0 / GC, GS, (double)p.flash.rope_base, 0};
    const ref_gau_weights rw = {w[W_UVZ], w[B_UVZ], w[GAMMA], w[BETA], w[W_O], w[B_O], w[NORM_W], w[NORM_B]};
    double *ry = malloc(nx * 8), *rdx = malloc(nx * 8), *rg[N_W];
    for (int i = 0; i < N_W; i++) rg[i] = w_numel(i, norm) ? malloc(w_numel(i, norm) * 8) : NULL;
    ref_gau_layer(&r, &rw, x, ry);
    ref_gau_weights64 w64;
    ref_gau_weights64_make(&r, &rw, &w64);
    double *x64 = tc_to_double(x, nx), *dy64 = tc_to_double(dy, nx);
    const ref_gau_grads rgr = {rdx, rg[W_UVZ], rg[B_UVZ], rg[GAMMA], rg[BETA], rg[W_O], rg[B_O], rg[NORM_W], rg[NORM_B],
                               rg[REL_BIAS]};
    ref_gau_backward(&r, &w64, x64, dy64, &rgr);

    float *y = tc_download(ctx, ty), *yin = tc_download(ctx, tin), *dx = tc_download(ctx, tdx);
    double e = fmax(tc_max_rel_err(y, ry, nx), tc_max_rel_err(dx, rdx, nx));
    *inplace_diff = 0;
    for (size_t j = 0; j < nx; j++) *inplace_diff = fmax(*inplace_diff, fabs((double)yin[j] - y[j]));
    for (int i = 0; i < N_W; i++) {
        if (!tg[i]) continue;
        float *got = tc_download(ctx, tg[i]);
        const double gi = tc_max_rel_err(got, rg[i], w_numel(i, norm));
        cr_expect(gi <= tol_of(dt), "%s GAU %s: grads.%s error %.3g", ocla_dtype_name(dt), norm ? "scale" : "layer",
                  W_NAME[i], gi);
        e = fmax(e, gi);
        free(got);
    }
    free(y), free(yin), free(dx), free(ry), free(rdx), free(x64), free(dy64), free(x), free(dy);
    ref_gau_weights64_free(&w64);
    for (int i = 0; i < N_W; i++) free(w[i]), free(rg[i]), ocla_tensor_destroy(tw[i]), ocla_tensor_destroy(tg[i]);
    ocla_tensor *all[5] = {tx, tdy, ty, tdx, tin};
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(all[i]);
    return e;
}

Test(half_flash, gau_layer_forward_and_backward_vs_fp64, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int norm = 0; norm <= 1; norm++) {
                double inplace;
                const double e = gau_case(ctx, (ocla_dtype)dt, norm, &inplace);
                const char *dn = ocla_dtype_name((ocla_dtype)dt), *nn = norm ? "ScaleNorm" : "LayerNorm";
                cr_expect(e <= tol_of((ocla_dtype)dt), "%s %s GAU %s: error %.3g (tol %.0e)", tc_device_name(d), dn,
                          nn, e, tol_of((ocla_dtype)dt));
                cr_expect(inplace == 0.0, "%s %s GAU %s: y in place differs by %g", tc_device_name(d), dn, nn, inplace);
                cr_log_info("%s %s GAU layer %s: max error of y, dx and every gradient %.3g", tc_device_name(d), dn,
                            nn, e);
            }
        ocla_context_destroy(ctx);
    }
}

/* Mixed dtypes are refused (fla has no FLASH; the layer follows x): one tensor of the other half dtype
 * among half ones is OCLA_ERR_UNSUPPORTED with a detail naming it and both dtypes, and the output
 * keeps its canary (test_half_refused.c gives each tensor as half among fp32 ones). */
Test(half_flash, mixed_half_dtypes_refused) {
    const int64_t d4[4] = {1, 20, 1, 8}, xd[3] = {1, 20, 8};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *t[6];
        for (int i = 0; i < 6; i++) t[i] = tc_tensor_as(ctx, OCLA_BF16, 4, d4, NULL);
        ocla_tensor *v16 = tc_tensor_as(ctx, OCLA_F16, 4, d4, NULL);
        tc_ok(ctx, ocla_tensor_fill(ctx, t[5], 3.0f));
        ocla_flash_params p;
        ocla_flash_params_defaults(&p);
        p.chunk = 8;
        const ocla_flash_io io = {t[0], t[1], t[2], t[3], v16, t[5]};
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_UNSUPPORTED);
        const char *msg = ocla_last_error(ctx);
        cr_expect(tc_names(msg, "v") && strstr(msg, "f16") && strstr(msg, "bf16"), "%s", msg);
        float *o = tc_download(ctx, t[5]);
        for (int i = 0; i < 20 * 8; i++) cr_assert_eq(o[i], 3.0f, "o written");
        free(o);
        /* the GAU layer: x bf16, w_o fp16 */
        ocla_gau_layer_params lp;
        ocla_gau_layer_params_defaults(&lp);
        lp.hidden_dim = 8, lp.qk_dim = 4, lp.flash.rope_dims = 4, lp.flash.chunk = 8;
        ocla_tensor *x = tc_tensor_as(ctx, OCLA_BF16, 3, xd, NULL), *y = tc_tensor_as(ctx, OCLA_BF16, 3, xd, NULL);
        ocla_tensor *wuvz = tc_tensor_as(ctx, OCLA_BF16, 2, (const int64_t[]){8, 20}, NULL);
        ocla_tensor *gamma = tc_tensor_as(ctx, OCLA_BF16, 2, (const int64_t[]){4, 4}, NULL);
        ocla_tensor *wo = tc_tensor_as(ctx, OCLA_F16, 2, (const int64_t[]){8, 8}, NULL);
        tc_ok(ctx, ocla_tensor_fill(ctx, y, 3.0f));
        const ocla_gau_layer_weights w = {wuvz, NULL, gamma, NULL, wo, NULL, NULL, NULL};
        cr_expect_eq(ocla_gau_layer_forward(ctx, &lp, &w, x, y), OCLA_ERR_UNSUPPORTED);
        msg = ocla_last_error(ctx);
        cr_expect(tc_names(msg, "w_o") && strstr(msg, "f16") && strstr(msg, "bf16"), "%s", msg);
        float *yy = tc_download(ctx, y);
        for (int i = 0; i < 20 * 8; i++) cr_assert_eq(yy[i], 3.0f, "y written");
        free(yy);
        ocla_tensor *all[] = {t[0], t[1], t[2], t[3], t[4], t[5], v16, x, y, wuvz, gamma, wo};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
        ocla_context_destroy(ctx);
    }
}
