/* SPDX-License-Identifier: MIT */
/* The multi-head attention layers of <ocla/layers.h> (linear, softmax, Linformer on [B,T,d]) against
 * the fp64 whole-layer references of tests/ref/ref_layers_mha.c, on every device (each call repeated
 * with device allocation refused: the layers keep their temporaries in scratch); bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "ocla_debug.h"
#include "ref/ref_layers_mha.h"

/* Tolerance 1e-4 normwise (tc_max_rel_err), the fp32 bar of issue 4. Each layer is four fp32 GEMMs
 * over at most 32 (d) or 48 (H*V) terms and an attention core whose op suites measure <= 3e-6 vs
 * fp64 (linear attention: test_attention.c; softmax, Linformer: test_softmax.c, test_linformer.c);
 * fp32 rounding of the whole layer stays near 1e-6, so 1e-4 leaves margin for driver differences in
 * summation order (CLBlast tiles, exp/expm1 ulps) while still catching any indexing, bias, scale,
 * feature-map or causal-mask mistake (those give errors of order 1e-2..1). */
#define MHA_TOL 1e-4

typedef struct shape {
    int B, T, D, H, K, V;
} shape;

/* The shapes every layer runs: H > 1, odd d, K != V, T = 1, T not a multiple of any chunk, T > 64. */
static const shape SHAPES[] = {
    {2, 37, 24, 2, 16, 16},
    {1, 1, 13, 3, 8, 12},
    {1, 70, 17, 1, 32, 24},
    {2, 130, 32, 4, 8, 8},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Host weights of one shape and their device tensors. */
typedef struct layer_case {
    shape s;
    float *x, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo; /* biases NULL unless asked for */
    ocla_tensor *tx, *ty;
    ocla_mha_layer_weights w;
} layer_case;

static float *randn(size_t n, uint32_t seed, float sd) {
    float *p = malloc(n * sizeof *p);
    tc_fill_normal(p, n, seed, sd);
    return p;
}

static ocla_tensor *t2(ocla_context *ctx, int64_t a, int64_t b, const float *h) {
    int64_t dd[2] = {a, b};
    return tc_tensor(ctx, b > 0 ? 2 : 1, b > 0 ? dd : &dd[0], h);
}

static void case_make(ocla_context *ctx, layer_case *c, const shape *s, uint32_t seed, int with_bias) {
    memset(c, 0, sizeof *c);
    c->s = *s;
    const int M = s->B * s->T, HK = s->H * s->K, HV = s->H * s->V;
    const float sd = 1.0f / sqrtf((float)s->D);
    c->x = randn((size_t)M * s->D, seed, 1.0f);
    c->wq = randn((size_t)s->D * HK, seed + 1, sd), c->wk = randn((size_t)s->D * HK, seed + 2, sd);
    c->wv = randn((size_t)s->D * HV, seed + 3, sd), c->wo = randn((size_t)HV * s->D, seed + 4, 1.0f / sqrtf((float)HV));
    if (with_bias) {
        c->bq = randn((size_t)HK, seed + 5, 0.5f), c->bk = randn((size_t)HK, seed + 6, 0.5f);
        c->bv = randn((size_t)HV, seed + 7, 0.5f), c->bo = randn((size_t)s->D, seed + 8, 0.5f);
    }
    c->tx = tc_tensor(ctx, 3, (int64_t[]){s->B, s->T, s->D}, c->x);
    c->ty = tc_tensor(ctx, 3, (int64_t[]){s->B, s->T, s->D}, NULL);
    c->w.w_q = t2(ctx, s->D, HK, c->wq), c->w.w_k = t2(ctx, s->D, HK, c->wk);
    c->w.w_v = t2(ctx, s->D, HV, c->wv), c->w.w_o = t2(ctx, HV, s->D, c->wo);
    if (with_bias) {
        c->w.b_q = t2(ctx, HK, 0, c->bq), c->w.b_k = t2(ctx, HK, 0, c->bk);
        c->w.b_v = t2(ctx, HV, 0, c->bv), c->w.b_o = t2(ctx, s->D, 0, c->bo);
    }
}

static void case_free(layer_case *c) {
    const ocla_tensor *ts[] = {c->tx, c->ty, c->w.w_q, c->w.w_k, c->w.w_v, c->w.w_o, c->w.b_q, c->w.b_k, c->w.b_v, c->w.b_o};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ocla_tensor_destroy((ocla_tensor *)ts[i]);
    float *hs[] = {c->x, c->wq, c->wk, c->wv, c->wo, c->bq, c->bk, c->bv, c->bo};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) free(hs[i]);
}

static ref_mha_cfg ref_cfg(const layer_case *c, const ocla_mha_layer_params *p) {
    ref_mha_cfg r;
    memset(&r, 0, sizeof r);
    r.kind = (int)p->kind;
    r.B = c->s.B, r.T = c->s.T, r.d = c->s.D, r.H = c->s.H, r.K = c->s.K, r.V = c->s.V;
    r.causal = p->causal;
    /* the layer's defaults: no scale for linear attention (the paper), K^-0.5 otherwise */
    r.scale = p->has_scale ? p->scale : p->kind == OCLA_MHA_LINEAR ? 1.0 : 1.0 / sqrt((double)c->s.K);
    r.feature = (int)p->feature_map, r.normalize = p->normalize, r.eps = p->eps;
    return r;
}

/* Run the layer, compare with the fp64 reference, return the error (asserted <= MHA_TOL). */
static double check_layer(ocla_context *ctx, int dev, layer_case *c, const ocla_mha_layer_params *p,
                          const ref_mha_cfg *rc, const char *what) {
    const size_t n = (size_t)c->s.B * c->s.T * c->s.D;
    tc_ok(ctx, ocla_mha_layer_forward(ctx, p, &c->w, c->tx, c->ty));
    float *got = tc_download(ctx, c->ty);
    double *ref = malloc(n * sizeof *ref);
    ref_mha_weights rw = {c->wq, c->wk, c->wv, c->wo, c->bq, c->bk, c->bv, c->bo};
    ref_mha_layer(rc, &rw, c->x, ref);
    double err = tc_max_rel_err(got, ref, n);
    cr_log_info("%s on %s (B,T,d,H,K,V)=(%d,%d,%d,%d,%d,%d) causal %d bias %d: %.2e", what, tc_device_name(dev),
                c->s.B, c->s.T, c->s.D, c->s.H, c->s.K, c->s.V, p->causal, c->bq != NULL, err);
    cr_assert(tc_all_finite(got, n), "%s on %s: non-finite output", what, tc_device_name(dev));
    cr_assert_leq(err, MHA_TOL, "%s on %s (T=%d, H=%d, causal %d): err %g", what, tc_device_name(dev), c->s.T, c->s.H,
                  p->causal, err);
    /* the same call again allocates nothing on the device (temporaries in the context's scratch, ops
     * planned and built): with every allocation refused it runs and gives the same bits */
    const uint64_t max_alloc = ctx->info.max_alloc_size;
    ctx->info.max_alloc_size = 1;
    const ocla_status st = ocla_mha_layer_forward(ctx, p, &c->w, c->tx, c->ty);
    ctx->info.max_alloc_size = max_alloc;
    tc_ok(ctx, st);
    float *again = tc_download(ctx, c->ty);
    cr_assert(!memcmp(again, got, n * sizeof *got), "%s on %s: a repeated call gives other bits", what,
              tc_device_name(dev));
    free(got), free(ref), free(again);
    return err;
}

Test(layers_mha, linear_vs_fp64, .timeout = 900) {
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        double worst = 0;
        for (size_t si = 0; si < NSHAPES; si++) {
            layer_case c;
            case_make(ctx, &c, &SHAPES[si], 100 + 10 * (uint32_t)si, si % 2 == 0);
            ocla_mha_layer_params p;
            ocla_mha_layer_params_defaults(&p, OCLA_MHA_LINEAR);
            p.heads = c.s.H, p.head_k = c.s.K, p.head_v = c.s.V;
            for (int causal = 1; causal >= 0; causal--) { /* elu+1, normalised, the scheduler's chunk */
                p.causal = causal;
                ref_mha_cfg rc = ref_cfg(&c, &p);
                worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "linear layer"));
            }
            if (si == 0 || si == 2) {
                /* a forced chunk of 16: T = 37 and 70 span several chunks, the last one partial */
                p.causal = 1, p.chunk = 16;
                ref_mha_cfg rc = ref_cfg(&c, &p);
                worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "linear layer, chunk 16"));
                /* relu, normalised, explicit scale (only moves eps relative to the denominator) */
                p.chunk = 0, p.feature_map = OCLA_FEATURE_RELU, p.has_scale = 1, p.scale = 0.5f;
                for (int causal = 1; causal >= 0; causal--) {
                    p.causal = causal;
                    rc = ref_cfg(&c, &p);
                    worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "linear layer, relu"));
                }
                /* identity, unnormalised (identity with a normaliser can divide by ~0: ill-posed) */
                p.feature_map = OCLA_FEATURE_IDENTITY, p.normalize = 0, p.has_scale = 0;
                for (int causal = 1; causal >= 0; causal--) {
                    p.causal = causal;
                    rc = ref_cfg(&c, &p);
                    worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "linear layer, identity"));
                }
            }
            case_free(&c);
        }
        cr_log_info("linear layer on %s: max error %.2e", tc_device_name(dev), worst);
        ocla_context_destroy(ctx);
    }
}

Test(layers_mha, softmax_vs_fp64, .timeout = 900) {
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        double worst = 0;
        for (size_t si = 0; si < NSHAPES; si++) {
            layer_case c;
            case_make(ctx, &c, &SHAPES[si], 200 + 10 * (uint32_t)si, si % 2 == 1);
            ocla_mha_layer_params p;
            ocla_mha_layer_params_defaults(&p, OCLA_MHA_SOFTMAX);
            p.heads = c.s.H, p.head_k = c.s.K, p.head_v = c.s.V;
            for (int causal = 1; causal >= 0; causal--) {
                p.causal = causal;
                ref_mha_cfg rc = ref_cfg(&c, &p);
                worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "softmax layer"));
            }
            if (si == 0) { /* an explicit scale */
                p.has_scale = 1, p.scale = 0.3f, p.causal = 1;
                ref_mha_cfg rc = ref_cfg(&c, &p);
                worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, "softmax layer, scale 0.3"));
            }
            case_free(&c);
        }
        cr_log_info("softmax layer on %s: max error %.2e", tc_device_name(dev), worst);
        ocla_context_destroy(ctx);
    }
}

/* E, F host arrays ([kp, n] or [H, kp, n]) and tensors. */
typedef struct proj {
    float *E, *F;
    ocla_tensor *tE, *tF;
} proj;

static proj proj_make(ocla_context *ctx, int H, int kp, int n, int per_head, int shared, uint32_t seed) {
    proj r = {0};
    const size_t cnt = (size_t)(per_head ? H : 1) * kp * n;
    const float sd = 1.0f / sqrtf((float)n);
    r.E = randn(cnt, seed, sd);
    r.F = shared ? r.E : randn(cnt, seed + 1, sd);
    int64_t d3[3] = {H, kp, n};
    r.tE = tc_tensor(ctx, per_head ? 3 : 2, per_head ? d3 : d3 + 1, r.E);
    r.tF = shared ? NULL : tc_tensor(ctx, per_head ? 3 : 2, per_head ? d3 : d3 + 1, r.F);
    return r;
}

static void proj_free(proj *r) {
    if (r->F != r->E) free(r->F);
    free(r->E);
    ocla_tensor_destroy(r->tE), ocla_tensor_destroy(r->tF);
}

Test(layers_mha, linformer_vs_fp64, .timeout = 900) {
    /* per shape: (kp, n) with T < n and with T = n; sharing cycles through the four modes */
    static const int KPN[NSHAPES][2][2] = {
        {{16, 48}, {12, 37}}, {{4, 8}, {1, 1}}, {{24, 96}, {24, 70}}, {{32, 160}, {40, 130}}};
    static const ocla_linformer_sharing SHARING[] = {OCLA_LINFORMER_HEADWISE, OCLA_LINFORMER_KEY_VALUE,
                                                     OCLA_LINFORMER_NONE, OCLA_LINFORMER_LAYERWISE};
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        double worst = 0;
        for (size_t si = 0; si < NSHAPES; si++) {
            layer_case c;
            case_make(ctx, &c, &SHAPES[si], 300 + 10 * (uint32_t)si, si % 2 == 0);
            for (int j = 0; j < 2; j++) {
                const int kp = KPN[si][j][0], n = KPN[si][j][1];
                const ocla_linformer_sharing sh = SHARING[(si * 2 + (size_t)j) % 4];
                const int per_head = sh == OCLA_LINFORMER_NONE;
                const int shared = sh == OCLA_LINFORMER_KEY_VALUE || sh == OCLA_LINFORMER_LAYERWISE;
                proj e = proj_make(ctx, c.s.H, kp, n, per_head, shared, 400 + 10 * (uint32_t)si + (uint32_t)j);
                ocla_mha_layer_params p;
                ocla_mha_layer_params_defaults(&p, OCLA_MHA_LINFORMER);
                p.heads = c.s.H, p.head_k = c.s.K, p.head_v = c.s.V, p.sharing = sh;
                c.w.E = e.tE, c.w.F = e.tF;
                ref_mha_cfg rc = ref_cfg(&c, &p);
                rc.kp = kp, rc.n = n, rc.per_head = per_head, rc.E = e.E, rc.F = e.F;
                worst = fmax(worst, check_layer(ctx, dev, &c, &p, &rc, j ? "Linformer layer, T = n" : "Linformer layer, T < n"));
                c.w.E = c.w.F = NULL;
                proj_free(&e);
            }
            case_free(&c);
        }
        cr_log_info("Linformer layer on %s: max error %.2e", tc_device_name(dev), worst);
        ocla_context_destroy(ctx);
    }
}

/* A refused call: the expected status, a non-empty detail, and y left usable. */
#define EXPECT_FAIL(ctx, expr, status)                                                                      \
    do {                                                                                                    \
        ocla_status st_ = (expr);                                                                           \
        cr_assert_eq(st_, (status), "%s -> %s, expected %s (%s)", #expr, ocla_status_string(st_),           \
                     ocla_status_string(status), ocla_last_error(ctx));                                     \
        const char *e_ = ocla_last_error(ctx);                                                              \
        cr_assert(e_ && e_[0], "%s: empty error detail", #expr);                                            \
        cr_log_info("%s -> %s: %s", #expr, ocla_status_string(st_), e_);                                    \
    } while (0)

Test(layers_mha, bad_inputs, .timeout = 600) {
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        layer_case c;
        case_make(ctx, &c, &SHAPES[0], 500, 1); /* B 2, T 37, d 24, H 2, K = V = 16 */
        const shape *s = &c.s;
        ocla_mha_layer_params p;
        ocla_mha_layer_params_defaults(&p, OCLA_MHA_SOFTMAX);
        p.heads = s->H, p.head_k = s->K, p.head_v = s->V;
        ocla_mha_layer_weights w = c.w, bad;

        /* NULLs */
        EXPECT_FAIL(NULL, ocla_mha_layer_forward(NULL, &p, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, NULL, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, NULL, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &w, NULL, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &w, c.tx, NULL), OCLA_ERR_INVALID_ARGUMENT);
        bad = w, bad.w_v = NULL;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);

        /* mismatched weights: w_q [H*V, d] = [32, 24] where [d, H*K] = [24, 32] is expected, and friends */
        bad = w, bad.w_q = w.w_o;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad = w, bad.w_o = w.w_k;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad = w, bad.b_o = w.b_q; /* [H*K] = 32 where [d] = 24 */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad = w, bad.w_k = w.b_k; /* a vector where a matrix is expected */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        ocla_mha_layer_params bp = p;
        bp.head_k = s->K + 1; /* weights no longer match the params */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &w, c.tx, c.ty), OCLA_ERR_SHAPE);
        ocla_tensor *y2 = tc_tensor(ctx, 3, (int64_t[]){s->B, s->T, s->D + 1}, NULL);
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &w, c.tx, y2), OCLA_ERR_SHAPE);
        ocla_tensor_destroy(y2);

        /* bad options */
        bp = p, bp.heads = 0;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bp = p, bp.kind = (ocla_mha_kind)7;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bp = p, bp.block = 48;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        { /* linear-attention options */
            ocla_mha_layer_params lp;
            ocla_mha_layer_params_defaults(&lp, OCLA_MHA_LINEAR);
            lp.heads = s->H, lp.head_k = s->K, lp.head_v = s->V;
            ocla_mha_layer_params l2 = lp;
            l2.feature_map = (ocla_feature_map)9;
            EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &l2, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
            l2 = lp, l2.eps = -1.0f;
            EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &l2, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
            l2 = lp, l2.chunk = -16;
            EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &l2, &w, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        }

        /* Linformer: causal, missing E / F, kp > n, T > n, wrong head count, E on another kind */
        ocla_mha_layer_params lf;
        ocla_mha_layer_params_defaults(&lf, OCLA_MHA_LINFORMER);
        lf.heads = s->H, lf.head_k = s->K, lf.head_v = s->V;
        proj ok = proj_make(ctx, s->H, 8, 64, 0, 0, 600);     /* kp 8, n 64 >= T 37 */
        proj kbig = proj_make(ctx, s->H, 65, 64, 0, 0, 610);  /* kp > n */
        proj tbig = proj_make(ctx, s->H, 8, 30, 0, 0, 620);   /* n 30 < T 37 */
        proj ph = proj_make(ctx, s->H + 1, 8, 64, 1, 1, 630); /* [H+1, kp, n] */
        proj kdiff = proj_make(ctx, s->H, 4, 64, 0, 0, 640);  /* kp 4: F disagrees with E */
        bad = w, bad.E = ok.tE, bad.F = ok.tF;
        tc_ok(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty));
        bp = lf, bp.causal = 1;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &bad, c.tx, c.ty), OCLA_ERR_UNSUPPORTED);
        cr_assert(strstr(ocla_last_error(ctx), "causal"), "the detail names the cause: %s", ocla_last_error(ctx));
        bad.F = NULL;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bad.E = NULL, bad.F = ok.tF;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bad.E = kbig.tE, bad.F = kbig.tF;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad.E = tbig.tE, bad.F = tbig.tF;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad.E = ok.tE, bad.F = kdiff.tF; /* E and F disagree */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &lf, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bp = lf, bp.sharing = OCLA_LINFORMER_NONE;
        bad.E = ph.tE, bad.F = NULL;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bad.F = ph.tE; /* per-head, but H+1 heads */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bad.E = bad.F = ok.tE; /* [kp, n] where NONE needs [H, kp, n] */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &bad, c.tx, c.ty), OCLA_ERR_SHAPE);
        bp = lf, bp.sharing = (ocla_linformer_sharing)11;
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &bp, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        bad = w, bad.E = ok.tE; /* E given to the softmax layer */
        EXPECT_FAIL(ctx, ocla_mha_layer_forward(ctx, &p, &bad, c.tx, c.ty), OCLA_ERR_INVALID_ARGUMENT);
        proj_free(&ok), proj_free(&kbig), proj_free(&tbig), proj_free(&ph), proj_free(&kdiff);

        /* the context still works, and y holds the right answer although it held NaN before */
        float *nan = malloc(sizeof(float) * s->B * s->T * s->D);
        for (int i = 0; i < s->B * s->T * s->D; i++) nan[i] = NAN;
        tc_ok(ctx, ocla_tensor_upload(ctx, c.ty, nan, sizeof(float) * s->B * s->T * s->D));
        ref_mha_cfg rc = ref_cfg(&c, &p);
        check_layer(ctx, dev, &c, &p, &rc, "softmax layer after refused calls, y was NaN");
        free(nan);
        case_free(&c);
        ocla_context_destroy(ctx);
    }
}

/* A failure at every enqueue of each layer (temporaries, GEMMs, attention kernels): a clean status
 * that names the injected call, nothing leaked or left locked, and the next call gives the same bits. */
Test(layers_mha, enqueue_failure_at_every_position, .timeout = 900) {
    static const shape s = {1, 20, 12, 2, 8, 8};
    for (int dev = 0; dev < tc_device_count(); dev++) {
        ocla_context *ctx = tc_open(dev);
        layer_case c;
        case_make(ctx, &c, &s, 700, 1);
        proj e = proj_make(ctx, s.H, 8, 32, 0, 0, 710);
        const size_t n = (size_t)s.B * s.T * s.D;
        for (int kind = OCLA_MHA_LINEAR; kind <= OCLA_MHA_LINFORMER; kind++) {
            ocla_mha_layer_params p;
            ocla_mha_layer_params_defaults(&p, (ocla_mha_kind)kind);
            p.heads = s.H, p.head_k = s.K, p.head_v = s.V;
            c.w.E = kind == OCLA_MHA_LINFORMER ? e.tE : NULL, c.w.F = kind == OCLA_MHA_LINFORMER ? e.tF : NULL;
            tc_ok(ctx, ocla_mha_layer_forward(ctx, &p, &c.w, c.tx, c.ty));
            float *ref = tc_download(ctx, c.ty);
            int nth;
            for (nth = 1; nth <= 200; nth++) {
                ocla_debug_inject_enqueue_failure(ctx, nth);
                ocla_status st = ocla_mha_layer_forward(ctx, &p, &c.w, c.tx, c.ty);
                ocla_debug_inject_enqueue_failure(ctx, 0);
                if (st == OCLA_SUCCESS) break; /* fewer than nth enqueues */
                cr_assert_neq(st, OCLA_ERR_INTERNAL, "kind %d, enqueue %d: %s", kind, nth, ocla_last_error(ctx));
                cr_assert(strstr(ocla_last_error(ctx), "injected"), "kind %d, enqueue %d on %s: %s", kind, nth,
                          tc_device_name(dev), ocla_last_error(ctx));
                tc_ok(ctx, ocla_mha_layer_forward(ctx, &p, &c.w, c.tx, c.ty));
                float *got = tc_download(ctx, c.ty);
                cr_assert(!memcmp(got, ref, n * sizeof *got), "kind %d: a different result after a failure at enqueue %d",
                          kind, nth);
                free(got);
            }
            cr_assert_lt(nth, 200, "kind %d never completes with injection", kind);
            cr_log_info("%s: layer kind %d failed cleanly at each of its %d enqueues", tc_device_name(dev), kind, nth - 1);
            free(ref);
        }
        c.w.E = c.w.F = NULL;
        proj_free(&e);
        case_free(&c);
        ocla_context_destroy(ctx);
    }
}
