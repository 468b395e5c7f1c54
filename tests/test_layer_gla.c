/* SPDX-License-Identifier: MIT */
/* The GLA layer (fla's GatedLinearAttention, runtime/layer_gla.c) against an fp64 reference, on every
 * device: chunked and recurrent forms, bad input, and a repeated call that allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "ref/ref_layer_grad.h"

typedef struct dims {
    int B, T, D, H, K, V, R;
} dims;

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
            const ref_gla_layer_cfg rc = {d->B, d->T, d->D, d->H, d->K, d->V, d->R, 16.0, 1e-5};
            const ref_gla_layer_w rw = {wq, wk, wv, wr, wg1, wg2, bg2, nw, wo, NULL};
            ref_gla_layer_rounded(&rc, &rw, x, ref); /* fla's defaults: gate_tau 16, norm_eps 1e-5 */
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
