/* SPDX-License-Identifier: MIT */
/* The GLA layer (fla's GatedLinearAttention, runtime/layer_gla.c) against an fp64 reference, on every
 * device: chunked and recurrent forms, bad input, and a repeated call that allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "ref/ref_attention.h"

typedef struct dims {
    int B, T, D, H, K, V, R;
} dims;

/* y = x W (x [M, in], W [in, out]) in fp64 */
static void mm(const double *x, const float *w, double *y, int M, int in, int out) {
    for (int m = 0; m < M; m++)
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int i = 0; i < in; i++) acc += x[(size_t)m * in + i] * w[(size_t)i * out + o];
            y[(size_t)m * out + o] = acc;
        }
}

static float *to_float(const double *x, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    return f;
}

/* fp64 GLA layer; the attention core is the fp64 recurrence of tests/ref (its float inputs are the
 * fp64 intermediates rounded once, 6e-8 relative: far below the tolerance). */
static void ref_gla_layer(const dims *d, const float *x, const float *wq, const float *wk, const float *wv,
                          const float *wr, const float *wg1, const float *wg2, const float *bg2, const float *nw,
                          const float *wo, double *y) {
    int M = d->B * d->T, HK = d->H * d->K, HV = d->H * d->V;
    double *xd = tc_to_double(x, (size_t)M * d->D);
    double *q = malloc(sizeof(double) * M * HK), *k = malloc(sizeof(double) * M * HK),
           *v = malloc(sizeof(double) * M * HV), *r = malloc(sizeof(double) * M * HV),
           *lr = malloc(sizeof(double) * M * d->R), *g = malloc(sizeof(double) * M * HK),
           *o = malloc(sizeof(double) * M * HV), *u = malloc(sizeof(double) * M * HV);
    mm(xd, wq, q, M, d->D, HK), mm(xd, wk, k, M, d->D, HK), mm(xd, wv, v, M, d->D, HV), mm(xd, wr, r, M, d->D, HV);
    mm(xd, wg1, lr, M, d->D, d->R);
    mm(lr, wg2, g, M, d->R, HK);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < HK; c++) {
            double z = g[(size_t)m * HK + c] + bg2[c];
            double ls = z < 0 ? z - log1p(exp(z)) : -log1p(exp(-z)); /* logsigmoid */
            g[(size_t)m * HK + c] = ls / 16.0;
        }
    float *qf = to_float(q, (size_t)M * HK), *kf = to_float(k, (size_t)M * HK), *vf = to_float(v, (size_t)M * HV),
          *gf = to_float(g, (size_t)M * HK);
    ref_attn_cfg c = {d->B, d->T, d->H, d->K, d->V, 1, 1.0 / sqrt((double)d->K), 0, 0, 0, 2, NULL};
    ref_attn_recurrent(&c, qf, kf, vf, gf, NULL, NULL, o, NULL, NULL);
    for (int row = 0; row < M * d->H; row++) {
        double ss = 0;
        for (int e = 0; e < d->V; e++) ss += o[(size_t)row * d->V + e] * o[(size_t)row * d->V + e];
        double inv = 1.0 / sqrt(ss / d->V + 1e-5);
        for (int e = 0; e < d->V; e++) {
            double z = r[(size_t)row * d->V + e];
            u[(size_t)row * d->V + e] = o[(size_t)row * d->V + e] * inv * nw[e] * z / (1 + exp(-z));
        }
    }
    mm(u, wo, y, M, HV, d->D);
    free(xd), free(q), free(k), free(v), free(r), free(lr), free(g), free(o), free(u);
    free(qf), free(kf), free(vf), free(gf);
}

static ocla_tensor *t2(ocla_context *ctx, int64_t a, int64_t b, const float *h) {
    int64_t dd[2] = {a, b};
    return tc_tensor(ctx, b > 0 ? 2 : 1, b > 0 ? dd : &dd[0], h);
}

/* Tolerance 1e-4 (the fp32 bar): six GEMMs over d <= 48 terms, the chunked GLA core (<= 5e-6 vs
 * fp64 in tests/test_attention.c) and a normalisation; fp32 rounding stays near 1e-6. */
#define LAYER_TOL 1e-4

Test(layer_gla, vs_fp64, .timeout = 600) {
    static const dims shapes[] = {{2, 37, 32, 2, 16, 16, 16}, {1, 1, 24, 3, 8, 12, 4}, {1, 130, 48, 2, 32, 24, 16}, {2, 128, 64, 4, 16, 16, 16}};
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const dims *d = &shapes[s];
            int M = d->B * d->T, HK = d->H * d->K, HV = d->H * d->V;
            float *x = malloc(sizeof(float) * M * d->D), *wq = malloc(sizeof(float) * d->D * HK),
                  *wk = malloc(sizeof(float) * d->D * HK), *wv = malloc(sizeof(float) * d->D * HV),
                  *wr = malloc(sizeof(float) * d->D * HV), *wg1 = malloc(sizeof(float) * d->D * d->R),
                  *wg2 = malloc(sizeof(float) * d->R * HK), *bg2 = malloc(sizeof(float) * HK),
                  *nw = malloc(sizeof(float) * d->V), *wo = malloc(sizeof(float) * HV * d->D);
            float sc = 1.0f / sqrtf((float)d->D);
            tc_fill_normal(x, (size_t)M * d->D, 1 + s, 1.0f);
            tc_fill_normal(wq, (size_t)d->D * HK, 2 + s, sc), tc_fill_normal(wk, (size_t)d->D * HK, 3 + s, sc);
            tc_fill_normal(wv, (size_t)d->D * HV, 4 + s, sc), tc_fill_normal(wr, (size_t)d->D * HV, 5 + s, sc);
            tc_fill_normal(wg1, (size_t)d->D * d->R, 6 + s, sc), tc_fill_normal(wg2, (size_t)d->R * HK, 7 + s, 0.5f);
            tc_fill_normal(bg2, (size_t)HK, 8 + s, 1.0f), tc_fill_uniform(nw, (size_t)d->V, 9 + s, 0.5f, 1.5f);
            tc_fill_normal(wo, (size_t)HV * d->D, 10 + s, 1.0f / sqrtf((float)HV));
            ocla_tensor *tx = tc_tensor(ctx, 3, (int64_t[]){d->B, d->T, d->D}, x);
            ocla_tensor *ty = tc_tensor(ctx, 3, (int64_t[]){d->B, d->T, d->D}, NULL);
            ocla_gla_layer_weights w = {t2(ctx, d->D, HK, wq), t2(ctx, d->D, HK, wk), t2(ctx, d->D, HV, wv),
                                        t2(ctx, d->D, HV, wr), t2(ctx, d->D, d->R, wg1), t2(ctx, d->R, HK, wg2),
                                        t2(ctx, HK, 0, bg2), t2(ctx, d->V, 0, nw), t2(ctx, HV, d->D, wo)};
            ocla_gla_layer_params p;
            ocla_gla_layer_params_defaults(&p);
            p.heads = d->H, p.head_k = d->K, p.head_v = d->V;
            tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &w, tx, ty));
            float *got = tc_download(ctx, ty);
            double *ref = malloc(sizeof(double) * M * d->D);
            ref_gla_layer(d, x, wq, wk, wv, wr, wg1, wg2, bg2, nw, wo, ref);
            double err = tc_max_rel_err(got, ref, (size_t)M * d->D);
            cr_log_info("GLA layer %s (B,T,d,H,K,V)=(%d,%d,%d,%d,%d,%d): %.2e", tc_device_name(dev), d->B, d->T, d->D,
                        d->H, d->K, d->V, err);
            cr_assert_leq(err, LAYER_TOL, "GLA layer on %s shape %zu: err %g", tc_device_name(dev), s, err);
            /* the same call again allocates nothing on the device (temporaries in the context's scratch,
             * the attention op prepared once): with every allocation refused it runs, with the same bits */
            const uint64_t max_alloc = ctx->info.max_alloc_size;
            ctx->info.max_alloc_size = 1;
            ocla_status again_st = ocla_gla_layer_forward(ctx, &p, &w, tx, ty);
            ctx->info.max_alloc_size = max_alloc;
            tc_ok(ctx, again_st);
            float *again = tc_download(ctx, ty);
            cr_assert(!memcmp(again, got, sizeof(float) * M * d->D), "a repeated call gives other bits on %s",
                      tc_device_name(dev));
            free(again);
            /* recurrent form gives the same layer output */
            p.form = OCLA_FORM_RECURRENT;
            tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &w, tx, ty));
            float *rec = tc_download(ctx, ty);
            cr_assert_leq(tc_max_rel_err(rec, ref, (size_t)M * d->D), LAYER_TOL);
            /* bad input: mismatched weights, bad params; the context still works after */
            ocla_gla_layer_weights bad = w;
            bad.w_q = w.w_o; /* [H*V, d] where [d, H*K] is expected */
            if (HK != d->D || HV != d->D) cr_assert_eq(ocla_gla_layer_forward(ctx, &p, &bad, tx, ty), OCLA_ERR_SHAPE);
            bad = w;
            bad.norm_w = NULL;
            cr_assert_eq(ocla_gla_layer_forward(ctx, &p, &bad, tx, ty), OCLA_ERR_INVALID_ARGUMENT);
            ocla_gla_layer_params bp = p;
            bp.heads = 0;
            cr_assert_eq(ocla_gla_layer_forward(ctx, &bp, &w, tx, ty), OCLA_ERR_INVALID_ARGUMENT);
            cr_assert_eq(ocla_gla_layer_forward(ctx, &p, &w, tx, NULL), OCLA_ERR_INVALID_ARGUMENT);
            p.form = OCLA_FORM_CHUNKED;
            tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &w, tx, ty));
            free(got), free(rec), free(ref), free(x), free(wq), free(wk), free(wv), free(wr), free(wg1), free(wg2);
            free(bg2), free(nw), free(wo);
            ocla_tensor_destroy(tx), ocla_tensor_destroy(ty);
            const ocla_tensor *ws[] = {w.w_q, w.w_k, w.w_v, w.w_r, w.w_g1, w.w_g2, w.b_g2, w.norm_w, w.w_o};
            for (size_t i = 0; i < 9; i++) ocla_tensor_destroy((ocla_tensor *)ws[i]);
        }
        ocla_context_destroy(ctx);
    }
}
