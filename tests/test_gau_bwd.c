/* SPDX-License-Identifier: MIT */
/* Backward of the GAU / FLASH layer (ocla_gau_layer_backward) on every device against the fp64
 * reference gradient (tests/ref/ref_gau_grad.c: the chain rule through the fp64 forward, with the
 * FLASH core's analytic gradient of tests/ref/ref_flash_grad.c), and that reference against central
 * finite differences of the fp64 layer forward (ref_gau_layer64) for every element of x and of every
 * weight. Cases: LayerNorm, ScaleNorm (a row under its clamp too) and no norm; residual on and off;
 * RoPE full, partial, with a position offset, and off; causal and non-causal; both causal
 * normalisers (CHUNK, MEAN); the paper text's quadratic scaling; a relative position bias and its
 * gradient; every optional weight absent (gradients still asked for: at bias 0 and gain 1); e != 2d;
 * T = 1, T < C, T not a multiple of C, the paper's C = 256; B > 1. Then: a part of the gradients asked
 * for gives the same bits as all of them, a repeated call creates no kernel, and bad input.
 *
 * Tolerances (normwise max relative error per gradient, tc_max_rel_err; dx rowwise,
 * tc_max_rel_err_rows, so a row far below the largest, e.g. ScaleNorm's clamped row, is held too):
 *  - device vs fp64: TOL = 1e-4 (the bound). The chain is the forward's steps (GEMMs over
 *    d <= 32, e <= 64 or s <= 64 fp32 terms, ~sqrt(n) 6e-8 relative; SiLU, norms: a few ulps), the
 *    FLASH backward (<= 1e-4 by test_flash_bwd.c's argument; ~1e-6 without and ~1e-5 with RoPE, whose
 *    fp32 angles keep positions <= 400 here) and the weight gradients' sums over B*T <= 300 tokens
 *    (fp32 sums of terms of both signs: ~sqrt(n) 6e-8 relative to the terms, the sum itself ~sqrt(n)
 *    terms). Composed, ~1e-5 at worst.
 *  - fp64 analytic vs fp64 finite differences: REF_TOL = 1e-6. The layer is smooth but for relu^2
 *    (C1: its second derivative jumps at 0, an O(h) error where a score crosses it within the step)
 *    and ScaleNorm's clamp (a test row stays far inside); central differences with h = 1e-5 are
 *    O(h^2) = 1e-10 relative plus rounding ~1e-16 / h, measured <= 3e-8; a wrong formula is O(1).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gau_case.h"
#include "ocla_debug.h"
#include "ref/ref_gau_grad.h"

#define TOL 1e-4
#define REF_TOL 1e-6
#define FD_STEP 1e-5
#define BIAS_STEP (1.0 / 4096) /* exact on float biases in [-0.5, 0.5) */

enum { W_UVZ, B_UVZ, GAMMA, BETA, W_O, B_O, NORM_W, NORM_B, N_W };
static const char *const w_names[N_W] = {"w_uvz", "b_uvz", "gamma", "beta", "w_o", "b_o", "norm_w", "norm_b"};

/* Host data of a case: x, dy, the weights (all eight, filled; absent ones are left out of the call),
 * the bias; each weight's dims (cols 0: a vector). */
typedef struct host {
    size_t nx;
    float *x, *dy, *w[N_W], *bias;
    int64_t rows[N_W], cols[N_W];
} host;

static size_t numel(const host *h, int i) { return (size_t)h->rows[i] * (size_t)(h->cols[i] ? h->cols[i] : 1); }

static void host_make(const gcase *c, uint32_t seed, host *h) {
    const int W = 2 * c->e + c->s, D = c->d;
    const int64_t rows[N_W] = {D, W, 4, 4, c->e, D, c->norm == OCLA_GAU_NORM_SCALE ? 1 : D, D};
    const int64_t cols[N_W] = {W, 0, c->s, c->s, D, 0, 0, 0};
    memcpy(h->rows, rows, sizeof rows), memcpy(h->cols, cols, sizeof cols);
    h->nx = (size_t)c->B * c->T * D;
    h->x = malloc(h->nx * sizeof(float) + 4), h->dy = malloc(h->nx * sizeof(float) + 4);
    tc_fill_normal(h->x, h->nx, seed, 1.0f);
    for (size_t i = 0; i < h->nx; i++) h->x[i] += 0.5f; /* a mean for LayerNorm to remove */
    if (c->tiny_row > 0 && c->B * c->T > 1)
        for (int i = 0; i < D; i++) h->x[D + i] *= c->tiny_row;
    tc_fill_normal(h->dy, h->nx, seed + 1, 1.0f);
    /* scales as test_gau.c's: scores of order 1 */
    const float amp[N_W] = {1.0f / sqrtf((float)D), 0.2f, 1.5f, 0.2f, 1.0f / sqrtf((float)c->e), 0.2f, 0.5f, 0.2f};
    for (int i = 0; i < N_W; i++) {
        h->w[i] = malloc(numel(h, i) * sizeof(float));
        if (h->cols[i] && i != BETA) tc_fill_normal(h->w[i], numel(h, i), seed + 2 + (uint32_t)i, amp[i]);
        else tc_fill_uniform(h->w[i], numel(h, i), seed + 2 + (uint32_t)i, -amp[i], amp[i]);
    }
    for (size_t i = 0; i < numel(h, NORM_W); i++) h->w[NORM_W][i] += 1.0f; /* gains around 1 */
    h->bias = malloc((size_t)(2 * c->C - 1) * sizeof(float));
    tc_fill_uniform(h->bias, (size_t)(2 * c->C - 1), seed + 20, -0.5f, 0.5f);
}

static void host_free(host *h) {
    free(h->x), free(h->dy), free(h->bias);
    for (int i = 0; i < N_W; i++) free(h->w[i]);
}

/* Whether weight i takes part in case c (present in the call; for the norm's, used by its norm). */
static int used(const gcase *c, int i) {
    if (i == NORM_W) return c->norm != OCLA_GAU_NORM_NONE;
    if (i == NORM_B) return c->norm == OCLA_GAU_NORM_LAYER;
    return 1;
}
static int present(const gcase *c, int i) {
    const int optional = i == B_UVZ || i == BETA || i == B_O || i == NORM_W || i == NORM_B;
    return used(c, i) && !(optional && c->no_opt);
}

/* The fp64 weights of case c: the present ones, NULL for the others (malloc'd copies). */
static void weights64(const gcase *c, const ref_gau_cfg *r, const host *h, ref_gau_weights64 *w) {
    const float *f[N_W];
    for (int i = 0; i < N_W; i++) f[i] = present(c, i) ? h->w[i] : NULL;
    const ref_gau_weights fw = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
    ref_gau_weights64_make(r, &fw, w);
}

/* Device gradients of case c; which[i] != 0 asks for weight i's gradient (used ones only), with_dx for
 * dx. out[0..N_W-1] the weights' gradients, out[N_W] dx, out[N_W + 1] the bias's (NULL where not
 * asked; malloc'd). repeat: the call follows one with the same shapes, so it creates no kernel. */
static void device_grads(ocla_context *ctx, const gcase *c, const host *h, const int *which, int with_dx,
                         int repeat, float **out) {
    ocla_gau_layer_params p;
    ref_gau_cfg r;
    gcase_setup(c, &p, &r);
    const int64_t xd[3] = {c->B, c->T, c->d}, bd[2] = {1, 2 * c->C - 1};
    ocla_tensor *tx = tc_tensor(ctx, 3, xd, h->x), *tdy = tc_tensor(ctx, 3, xd, h->dy);
    ocla_tensor *tdx = with_dx ? tc_tensor(ctx, 3, xd, NULL) : NULL, *tb = tc_tensor(ctx, 2, bd, h->bias);
    ocla_tensor *tdb = c->rel_bias && which[N_W] ? tc_tensor(ctx, 2, bd, NULL) : NULL;
    ocla_tensor *tw[N_W], *tg[N_W];
    const ocla_tensor *wp[N_W];
    for (int i = 0; i < N_W; i++) {
        const int64_t dims[2] = {h->rows[i], h->cols[i]};
        const int nd = h->cols[i] ? 2 : 1;
        tw[i] = tc_tensor(ctx, nd, dims, h->w[i]);
        wp[i] = present(c, i) ? tw[i] : NULL;
        tg[i] = which[i] && used(c, i) ? tc_tensor(ctx, nd, dims, NULL) : NULL;
    }
    if (c->rel_bias) p.flash.rel_bias = tb;
    const ocla_gau_layer_weights w = {wp[0], wp[1], wp[2], wp[3], wp[4], wp[5], wp[6], wp[7]};
    const ocla_gau_layer_grads g = {tg[0], tg[1], tg[2], tg[3], tg[4], tg[5], tg[6], tg[7], tdb};
    ocla_debug_counters before, after;
    ocla_debug_get_counters(ctx, &before);
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &w, tx, tdy, tdx, &g));
    ocla_debug_get_counters(ctx, &after);
    cr_expect(!repeat || after.kernel_creates == before.kernel_creates, "a repeated call created %llu kernels",
              (unsigned long long)(after.kernel_creates - before.kernel_creates));
    for (int i = 0; i < N_W; i++) out[i] = tg[i] ? tc_download(ctx, tg[i]) : NULL;
    out[N_W] = tdx ? tc_download(ctx, tdx) : NULL;
    out[N_W + 1] = tdb ? tc_download(ctx, tdb) : NULL;
    for (int i = 0; i < N_W; i++) ocla_tensor_destroy(tw[i]), ocla_tensor_destroy(tg[i]);
    ocla_tensor_destroy(tx), ocla_tensor_destroy(tdy), ocla_tensor_destroy(tdx), ocla_tensor_destroy(tb);
    ocla_tensor_destroy(tdb);
}

static const int all_grads[N_W + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};


/* Every gradient of case c on ctx against the reference; returns the worst error. */
static double check_case(ocla_context *ctx, int dev, const gcase *c, uint32_t seed) {
    host h;
    host_make(c, seed, &h);
    float *got[N_W + 2];
    device_grads(ctx, c, &h, all_grads, 1, 0, got);
    ocla_gau_layer_params p;
    ref_gau_cfg r;
    gcase_setup(c, &p, &r);
    if (c->rel_bias) r.bias = h.bias;
    ref_gau_weights64 w;
    weights64(c, &r, &h, &w);
    double *want[N_W + 2];
    for (int i = 0; i < N_W; i++) want[i] = used(c, i) ? malloc(numel(&h, i) * sizeof(double)) : NULL;
    want[N_W] = malloc(h.nx * sizeof(double) + 8);
    want[N_W + 1] = c->rel_bias ? malloc((size_t)(2 * c->C - 1) * sizeof(double)) : NULL;
    const ref_gau_grads rg = {want[N_W], want[0], want[1], want[2], want[3], want[4], want[5], want[6], want[7],
                              want[N_W + 1]};
    double *x64 = tc_to_double(h.x, h.nx), *dy64 = tc_to_double(h.dy, h.nx);
    ref_gau_backward(&r, &w, x64, dy64, &rg);
    double worst = 0;
    for (int i = 0; i < N_W + 2; i++) {
        if (!want[i]) continue;
        const size_t n = i < N_W ? numel(&h, i) : i == N_W ? h.nx : (size_t)(2 * c->C - 1);
        const char *name = i < N_W ? w_names[i] : i == N_W ? "dx" : "rel_bias";
        cr_assert(got[i], "%s: no gradient", name);
        cr_expect(tc_all_finite(got[i], n), "%s %s: not finite", tc_device_name(dev), name);
        const double e = i == N_W ? tc_max_rel_err_rows(got[i], want[i], n, (size_t)c->d) : tc_max_rel_err(got[i], want[i], n);
        cr_expect(e <= TOL, "%s B%d T%d d%d e%d s%d C%d causal %d norm %s res %d bias %d rope %d+%lld mean %d text %d "
                  "noopt %d tiny %g: d%s err %.3g",
                  tc_device_name(dev), c->B, c->T, c->d, c->e, c->s, c->C, c->causal, gcase_norm_name(c->norm),
                  c->residual, c->rel_bias, c->rope, (long long)c->pos0, c->lin_mean, c->quad_text, c->no_opt,
                  (double)c->tiny_row, name, e);
        worst = fmax(worst, e);
    }
    cr_log_info("gau backward %s B%d T%d d%d e%d s%d C%d causal %d norm %s res %d bias %d rope %d+%lld mean %d "
                "text %d noopt %d tiny %g: worst %.3g",
                tc_device_name(dev), c->B, c->T, c->d, c->e, c->s, c->C, c->causal, gcase_norm_name(c->norm),
                c->residual, c->rel_bias, c->rope, (long long)c->pos0, c->lin_mean, c->quad_text, c->no_opt,
                (double)c->tiny_row, worst);
    for (int i = 0; i < N_W + 2; i++) free(got[i]), free(want[i]);
    free(x64), free(dy64);
    ref_gau_weights64_free(&w);
    host_free(&h);
    return worst;
}

static void shapes_and_parameters(ocla_context *ctx, int d) {
    /* B  T  d  e  s  C  causal norm res bias rope pos0 mean text noopt off inplace tiny */
    static const gcase cs[] = {
        {1, 1, 16, 32, 16, 16, 0, OCLA_GAU_NORM_LAYER, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},        /* T = 1 */
        {2, 100, 16, 32, 32, 32, 0, OCLA_GAU_NORM_LAYER, 1, 1, 32, 0, 0, 0, 0, 0, 0, 0},     /* chunks, bias, full RoPE */
        {1, 150, 24, 48, 32, 64, 0, OCLA_GAU_NORM_SCALE, 0, 0, 16, 7, 0, 0, 0, 0, 0, 1e-7f}, /* clamped row, partial RoPE */
        {1, 64, 16, 24, 16, 16, 0, OCLA_GAU_NORM_NONE, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0},        /* no norm, e != 2d, no opt */
        {2, 77, 20, 40, 24, 32, 0, OCLA_GAU_NORM_LAYER, 0, 1, 24, 0, 1, 1, 0, 0, 0, 0},      /* MEAN, the paper text's scale */
        {1, 300, 32, 64, 64, 256, 0, OCLA_GAU_NORM_LAYER, 1, 0, 64, 100, 0, 0, 0, 0, 0, 0},  /* the paper's C */
        {2, 37, 8, 16, 8, 16, 0, OCLA_GAU_NORM_SCALE, 1, 1, 8, 0, 0, 0, 1, 0, 0, 0},         /* ScaleNorm's gain absent */
        {3, 19, 16, 32, 16, 16, 0, OCLA_GAU_NORM_NONE, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0},        /* T < C, residual, MEAN */
        {1, 45, 12, 20, 16, 16, 0, OCLA_GAU_NORM_LAYER, 1, 1, 16, 3, 0, 0, 1, 0, 0, 0},      /* LayerNorm's weights absent */
    };
    const double worst = gcase_sweep(ctx, d, cs, sizeof cs / sizeof cs[0], 400, check_case);
    cr_log_info("gau backward shapes_and_parameters %s: worst %.3g", tc_device_name(d), worst);
}
Test(gau_bwd, shapes_and_parameters_vs_fp64, .timeout = 1800) { tc_on_every_device(shapes_and_parameters); }

/* L = sum dy . y by the fp64 forward. */
static double loss(const ref_gau_cfg *r, const ref_gau_weights64 *w, const double *x, const double *dy, size_t nx) {
    double *y = malloc(nx * sizeof *y), l = 0;
    ref_gau_layer64(r, w, x, y);
    for (size_t i = 0; i < nx; i++) l += y[i] * dy[i];
    free(y);
    return l;
}

/* The reference gradient against central differences of the fp64 forward, every element of x, of
 * every weight and of the bias. */
Test(gau_bwd, reference_vs_finite_differences) {
    /* B  T  d  e  s  C  causal norm res bias rope pos0 mean text noopt off inplace tiny */
    static const gcase cs[] = {
        {2, 7, 5, 4, 4, 3, 0, OCLA_GAU_NORM_LAYER, 1, 1, 4, 3, 1, 0, 0, 0, 0, 0},
        {1, 9, 4, 6, 6, 4, 0, OCLA_GAU_NORM_SCALE, 0, 1, 2, 0, 0, 1, 0, 0, 0, 0.1f},
        {2, 5, 3, 2, 4, 2, 0, OCLA_GAU_NORM_NONE, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {1, 6, 4, 3, 2, 4, 0, OCLA_GAU_NORM_LAYER, 0, 1, 2, 0, 1, 1, 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        for (int causal = 0; causal < 2; causal++) {
            gcase c = cs[k];
            c.causal = causal;
            host h;
            host_make(&c, (uint32_t)(70 + k), &h);
            ocla_gau_layer_params p;
            ref_gau_cfg r;
            gcase_setup(&c, &p, &r);
            /* ScaleNorm's clamp at 0.5 holds the row scaled by 0.1 (RMS ~0.1) within a step, while the
             * others (RMS ~1.1) stay above it; a small eps would amplify the step by 1 / eps there */
            r.norm_eps = 0.5;
            if (c.rel_bias) r.bias = h.bias;
            ref_gau_weights64 w;
            weights64(&c, &r, &h, &w);
            double *x = tc_to_double(h.x, h.nx), *dy = tc_to_double(h.dy, h.nx);
            double *an[N_W + 2];
            for (int i = 0; i < N_W; i++) an[i] = used(&c, i) ? malloc(numel(&h, i) * sizeof(double)) : NULL;
            an[N_W] = malloc(h.nx * sizeof(double));
            an[N_W + 1] = c.rel_bias ? malloc((size_t)(2 * c.C - 1) * sizeof(double)) : NULL;
            const ref_gau_grads g = {an[N_W], an[0], an[1], an[2], an[3], an[4], an[5], an[6], an[7], an[N_W + 1]};
            ref_gau_backward(&r, &w, x, dy, &g);
            double *const in[N_W + 1] = {(double *)w.w_uvz, (double *)w.b_uvz, (double *)w.gamma, (double *)w.beta,
                                         (double *)w.w_o,   (double *)w.b_o,   (double *)w.norm_w, (double *)w.norm_b, x};
            for (int i = 0; i < N_W + 2; i++) {
                if (!an[i] || (i < N_W && !in[i])) continue; /* unused, or absent: nothing to perturb */
                const size_t n = i < N_W ? numel(&h, i) : i == N_W ? h.nx : (size_t)(2 * c.C - 1);
                double *fd = malloc(n * sizeof *fd), em = 0, mx = 0;
                for (size_t j = 0; j < n; j++) {
                    if (i == N_W + 1) { /* the bias is float in the config: a step that floats hold exactly */
                        const float b0 = h.bias[j];
                        h.bias[j] = (float)(b0 + BIAS_STEP);
                        const double lp = loss(&r, &w, x, dy, h.nx);
                        h.bias[j] = (float)(b0 - BIAS_STEP);
                        const double lm = loss(&r, &w, x, dy, h.nx);
                        h.bias[j] = b0;
                        fd[j] = (lp - lm) / (2 * BIAS_STEP);
                    } else {
                        double *v = in[i] + j;
                        const double v0 = *v, step = FD_STEP * fmax(1.0, fabs(v0));
                        *v = v0 + step;
                        const double lp = loss(&r, &w, x, dy, h.nx);
                        *v = v0 - step;
                        const double lm = loss(&r, &w, x, dy, h.nx);
                        *v = v0;
                        fd[j] = (lp - lm) / (2 * step);
                    }
                    em = fmax(em, fabs(fd[j] - an[i][j])), mx = fmax(mx, fabs(fd[j]));
                }
                const char *name = i < N_W ? w_names[i] : i == N_W ? "dx" : "rel_bias";
                cr_expect(em <= REF_TOL * fmax(mx, 1e-30), "case %zu causal %d d%s: analytic vs finite differences %.3g",
                          k, causal, name, em / fmax(mx, 1e-30));
                free(fd);
            }
            for (int i = 0; i < N_W + 2; i++) free(an[i]);
            free(x), free(dy);
            ref_gau_weights64_free(&w);
            host_free(&h);
        }
}

/* Any part of the gradients asked for (dx alone, the weights alone, one of them) gives the bits that
 * all of them give; grads NULL is dx alone; a repeated call creates no kernel. */
static void partial_and_repeated(ocla_context *ctx, int d) {
    const gcase c = {2, 40, 12, 20, 16, 16, 1, OCLA_GAU_NORM_LAYER, 1, 1, 16, 0, 0, 0, 0, 0, 0, 0};
    host h;
    host_make(&c, 77, &h);
    float *full[N_W + 2], *part[N_W + 2];
    device_grads(ctx, &c, &h, all_grads, 1, 0, full);
    static const int none[N_W + 1] = {0}, only_gamma[N_W + 1] = {0, 0, 1}, only_norm[N_W + 1] = {0, 0, 0, 0, 0, 0, 1, 1};
    const int *asks[4] = {none, all_grads, only_gamma, only_norm};
    for (int k = 0; k < 4; k++) {
        /* the kernels were built by the first call */
        device_grads(ctx, &c, &h, asks[k], k != 1, 1, part);
        for (int i = 0; i < N_W + 2; i++) {
            if (!part[i]) continue;
            const size_t n = i < N_W ? numel(&h, i) : i == N_W ? h.nx : (size_t)(2 * c.C - 1);
            cr_expect(!memcmp(part[i], full[i], n * sizeof(float)), "%s: part %d, gradient %d differs from the full call",
                      tc_device_name(d), k, i);
            free(part[i]);
        }
    }
    /* grads NULL: dx alone */
    {
        ocla_gau_layer_params p;
        ref_gau_cfg r;
        gcase_setup(&c, &p, &r);
        const int64_t xd[3] = {c.B, c.T, c.d}, bd[2] = {1, 2 * c.C - 1};
        ocla_tensor *tx = tc_tensor(ctx, 3, xd, h.x), *tdy = tc_tensor(ctx, 3, xd, h.dy), *tdx = tc_tensor(ctx, 3, xd, NULL);
        ocla_tensor *tb = tc_tensor(ctx, 2, bd, h.bias), *tw[N_W];
        for (int i = 0; i < N_W; i++) {
            const int64_t dims[2] = {h.rows[i], h.cols[i]};
            tw[i] = tc_tensor(ctx, h.cols[i] ? 2 : 1, dims, h.w[i]);
        }
        p.flash.rel_bias = tb;
        const ocla_gau_layer_weights w = {tw[0], tw[1], tw[2], tw[3], tw[4], tw[5], tw[6], tw[7]};
        tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &w, tx, tdy, tdx, NULL));
        float *dx = tc_download(ctx, tdx);
        cr_expect(!memcmp(dx, full[N_W], h.nx * sizeof(float)), "%s: grads NULL changes dx", tc_device_name(d));
        free(dx);
        for (int i = 0; i < N_W; i++) ocla_tensor_destroy(tw[i]);
        ocla_tensor_destroy(tx), ocla_tensor_destroy(tdy), ocla_tensor_destroy(tdx), ocla_tensor_destroy(tb);
    }
    for (int i = 0; i < N_W + 2; i++) free(full[i]);
    host_free(&h);
}
Test(gau_bwd, partial_gradients_and_repeated_calls) { tc_on_every_device(partial_and_repeated); }

/* The forward's rules (a sample: the full list is test_gau.c's) and the backward's own; the context
 * still works and gives the same gradients after. */
static void bad_input(ocla_context *ctx, int d) {
    const int B = 1, T = 20, D = 8, E = 16, S = 8, W = 2 * E + S;
    const int64_t xd[3] = {B, T, D}, xd_bad[3] = {B, T + 1, D};
    float hx[1 * 20 * 8], hw[8 * 40], hg[4 * 8], ho[16 * 8];
    tc_fill_normal(hx, sizeof hx / 4, 60, 1.0f), tc_fill_normal(hw, sizeof hw / 4, 61, 0.3f);
    tc_fill_normal(hg, sizeof hg / 4, 62, 1.0f), tc_fill_normal(ho, sizeof ho / 4, 63, 0.25f);
    ocla_tensor *x = tc_tensor(ctx, 3, xd, hx), *dy = tc_tensor(ctx, 3, xd, hx), *dx = tc_tensor(ctx, 3, xd, NULL);
    ocla_tensor *bad = tc_tensor(ctx, 3, xd_bad, NULL);
    const int64_t dw[2] = {D, W}, dg[2] = {4, S}, dwo[2] = {E, D}, dbias[2] = {1, 31}, n1 = 1, nd = D, nw = W;
    ocla_tensor *w_uvz = tc_tensor(ctx, 2, dw, hw), *gamma = tc_tensor(ctx, 2, dg, hg), *w_o = tc_tensor(ctx, 2, dwo, ho);
    ocla_tensor *g_uvz = tc_tensor(ctx, 2, dw, NULL), *g_gamma = tc_tensor(ctx, 2, dg, NULL);
    ocla_tensor *g_wo = tc_tensor(ctx, 2, dwo, NULL), *g_bad = tc_tensor(ctx, 2, dwo, NULL);
    ocla_tensor *g_nw = tc_tensor(ctx, 1, &nd, NULL), *g_nb = tc_tensor(ctx, 1, &nd, NULL), *g_sw = tc_tensor(ctx, 1, &n1, NULL);
    ocla_tensor *g_b = tc_tensor(ctx, 1, &nw, NULL), *bias = tc_tensor(ctx, 2, dbias, NULL), *g_bias = tc_tensor(ctx, 2, dbias, NULL);
    ocla_gau_layer_params p;
    ocla_gau_layer_params_defaults(&p);
    p.qk_dim = S, p.flash.rope_dims = S, p.flash.chunk = 16;
    const ocla_gau_layer_weights w = {w_uvz, NULL, gamma, NULL, w_o, NULL, NULL, NULL};
    const ocla_gau_layer_grads good = {g_uvz, g_b, g_gamma, NULL, g_wo, NULL, g_nw, g_nb, NULL};
    ocla_gau_layer_grads g = good;
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    float *a0 = tc_download(ctx, dx), *b0 = tc_download(ctx, g_gamma);

    tc_fails(NULL, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(NULL, &p, &w, x, dy, dx, &g));
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, NULL, &w, x, dy, dx, &g));
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, NULL, x, dy, dx, &g));
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, NULL, dy, dx, &g));
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, NULL, dx, &g));
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &p, &w, x, bad, dx, &g));
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &p, &w, x, dy, bad, &g));
    /* the forward's checks */
    ocla_gau_layer_weights wb = w;
    wb.w_o = g_uvz; /* [d, 2e+s], not [e, d] */
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &p, &wb, x, dy, dx, &g));
    ocla_gau_layer_params q = p;
    q.flash.rope_dims = 3;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    q = p, q.norm = (ocla_gau_norm)9;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    q = p, q.flash.chunk = -1; /* refused inside the flash op, after the recomputation */
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    /* gradient dims */
    g = good, g.w_o = g_bad, g.w_uvz = g_wo;
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    g = good, g.norm_w = g_sw; /* LayerNorm's is [d] */
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    /* the norm's rules */
    q = p, q.norm = OCLA_GAU_NORM_NONE, g = good;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    q = p, q.norm = OCLA_GAU_NORM_SCALE, g = good, g.norm_w = g_sw;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    g.norm_b = NULL;
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    /* the relative bias's gradient needs the bias, and its dims */
    g = good, g.rel_bias = g_bias;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    q = p, q.flash.rel_bias = bias, g.rel_bias = g_nw;
    tc_fails(ctx, OCLA_ERR_SHAPE, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    g.rel_bias = g_bias;
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    /* aliasing: an output on an input, two outputs in one tensor */
    g = good;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dy, &g));
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, x, &g));
    g.gamma = gamma; /* the gradient over its weight */
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    cr_expect(strstr(ocla_last_error(ctx), "grads.gamma") != NULL, "%s", ocla_last_error(ctx));
    g = good, g.norm_b = g_nw;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    q = p, q.flash.rel_bias = bias, g = good, g.rel_bias = bias;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &q, &w, x, dy, dx, &g));
    /* a tensor of another context */
    ocla_context *other = tc_open(d);
    ocla_tensor *foreign = tc_tensor(other, 2, dg, NULL);
    g = good, g.gamma = foreign;
    tc_fails(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    ocla_tensor_destroy(foreign);
    ocla_context_destroy(other);
    /* the context still works, with the same answer */
    g = good;
    tc_ok(ctx, ocla_gau_layer_backward(ctx, &p, &w, x, dy, dx, &g));
    float *a1 = tc_download(ctx, dx), *b1 = tc_download(ctx, g_gamma);
    cr_expect(tc_all_finite(a1, (size_t)B * T * D));
    cr_expect(!memcmp(a0, a1, sizeof(float) * B * T * D) && !memcmp(b0, b1, sizeof(float) * 4 * S),
              "gradients changed after the failed calls");
    free(a0), free(a1), free(b0), free(b1);
    ocla_tensor *all[] = {x, dy, dx, bad, w_uvz, gamma, w_o, g_uvz, g_gamma, g_wo, g_bad, g_nw, g_nb, g_sw, g_b, bias, g_bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
}
Test(gau_bwd, bad_input) { tc_on_every_device(bad_input); }
