/* SPDX-License-Identifier: MIT */
/* The layers' backward toolkit (runtime/layer_bwd_common.c, kernels_cl/layer_bwd.cl) against fp64 on
 * every device: ocla__layer_project_backward's dx (written and accumulated), dw and db for y = x W + b
 * with x [B, T, in] (the layers' shapes), each output skipped in turn; ocla__layer_colsum over more
 * rows than one work-group covers many times (not a multiple of the work-group).
 *
 * Tolerance 1e-4 normwise (tc_max_rel_err). Each entry is one fp32 dot product of at most 3000 terms
 * of O(1) values: the summation error is ~sqrt(n) * 6e-8 relative to the sum of magnitudes (~3e-6
 * at n = 3000), and the sum of magnitudes is within ~sqrt(n) of the largest entry for these N(0,1)
 * inputs, so 1e-4 holds with margin; a wrong transpose, a missing accumulation or a dropped row is an
 * O(1) error. */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "layer_bwd_common.h"

#define TOL 1e-4

/* y = x W + b: x [M, in], W [in, out], dy [M, out]. fp64 references of dx = dy W^T (+ dx0), dw = x^T dy,
 * db = column sums of dy. */
static void ref_project_bwd(int M, int in, int out, const float *x, const float *w, const float *dy,
                            const float *dx0, double *dx, double *dw, double *db) {
    for (int r = 0; r < M; r++)
        for (int i = 0; i < in; i++) {
            double s = dx0 ? dx0[(size_t)r * in + i] : 0.0;
            for (int o = 0; o < out; o++) s += (double)dy[(size_t)r * out + o] * w[(size_t)i * out + o];
            dx[(size_t)r * in + i] = s;
        }
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int r = 0; r < M; r++) s += (double)x[(size_t)r * in + i] * dy[(size_t)r * out + o];
            dw[(size_t)i * out + o] = s;
        }
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int r = 0; r < M; r++) s += dy[(size_t)r * out + o];
        db[o] = s;
    }
}

static double err_of(ocla_context *ctx, const ocla_tensor *t, const double *ref, size_t n) {
    float *got = tc_download(ctx, t);
    cr_assert(tc_all_finite(got, n));
    const double e = tc_max_rel_err(got, ref, n);
    free(got);
    return e;
}

/* One shape; skip = which output is NULL (0 none, 1 dx, 2 dw, 3 db); acc: dx accumulated onto random values. */
static void project_case(ocla_context *ctx, int d, int B, int T, int in, int out, int skip, int acc, uint32_t seed) {
    const int M = B * T;
    const size_t nx = (size_t)M * in, nw = (size_t)in * out, ny = (size_t)M * out;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *dx0 = malloc(nx * 4);
    double *rdx = malloc(nx * 8), *rdw = malloc(nw * 8), *rdb = malloc((size_t)out * 8);
    tc_fill_normal(x, nx, seed, 1.0f), tc_fill_normal(w, nw, seed + 1, 1.0f);
    tc_fill_normal(dy, ny, seed + 2, 1.0f), tc_fill_normal(dx0, nx, seed + 3, 1.0f);
    ocla_tensor *tx = tc_tensor(ctx, 3, (int64_t[]){B, T, in}, x), *tw = tc_tensor(ctx, 2, (int64_t[]){in, out}, w);
    ocla_tensor *tdy = tc_tensor(ctx, 3, (int64_t[]){B, T, out}, dy);
    ocla_tensor *tdx = tc_tensor(ctx, 3, (int64_t[]){B, T, in}, dx0), *tdw = tc_tensor(ctx, 2, (int64_t[]){in, out}, NULL);
    ocla_tensor *tdb = tc_tensor(ctx, 1, (int64_t[]){out}, NULL);
    OCLA_LOCK(ctx);
    const ocla_status st = ocla__layer_project_backward(ctx, tx, tw, tdy, skip == 1 ? NULL : tdx, acc,
                                                        skip == 2 ? NULL : tdw, skip == 3 ? NULL : tdb);
    OCLA_UNLOCK(ctx);
    tc_ok(ctx, st);
    ref_project_bwd(M, in, out, x, w, dy, acc ? dx0 : NULL, rdx, rdw, rdb);
    const double e[3] = {skip == 1 ? 0 : err_of(ctx, tdx, rdx, nx), skip == 2 ? 0 : err_of(ctx, tdw, rdw, nw),
                         skip == 3 ? 0 : err_of(ctx, tdb, rdb, (size_t)out)};
    cr_log_info("project backward %s B%d T%d in %d out %d skip %d acc %d: dx %.3g dw %.3g db %.3g", tc_device_name(d),
                B, T, in, out, skip, acc, e[0], e[1], e[2]);
    for (int i = 0; i < 3; i++)
        cr_expect(e[i] <= TOL, "%s B%d T%d in %d out %d skip %d acc %d: gradient %d err %.3g", tc_device_name(d), B, T,
                  in, out, skip, acc, i, e[i]);
    if (skip == 1) { /* dx untouched */
        float *got = tc_download(ctx, tdx);
        for (size_t i = 0; i < nx; i++) cr_assert_eq(got[i], dx0[i], "skipped dx written at %zu", i);
        free(got);
    }
    ocla_tensor *all[] = {tx, tw, tdy, tdx, tdw, tdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(x), free(w), free(dy), free(dx0), free(rdx), free(rdw), free(rdb);
}

Test(layer_bwd_common, project_backward_vs_fp64, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        project_case(ctx, d, 1, 1, 1, 1, 0, 0, 3);
        project_case(ctx, d, 2, 37, 24, 40, 0, 0, 5);
        project_case(ctx, d, 2, 37, 24, 40, 0, 1, 7);
        project_case(ctx, d, 1, 50, 33, 17, 1, 0, 9);
        project_case(ctx, d, 3, 20, 16, 64, 2, 1, 11);
        project_case(ctx, d, 1, 3000, 8, 5, 3, 0, 13);
        ocla_context_destroy(ctx);
    }
}

/* Column sums of 70,001 rows (2,188 per work-item of 32: many passes, a partial last one). Values in
 * [1, 2), so every row adds at least 1: a dropped or doubled row moves a sum by >= 1. The rounding
 * error: each item's running sum stays below ~4,400 (ulp 2.4e-4 / 2) over 2,188 additions, ~sqrt(2188)
 * * 2.4e-4 = 6e-3 as a random walk and 0.27 at worst (all roundings one way), then 5 tree levels of
 * sums below 1.1e5 (ulp 3.9e-3 each): 0.5 passes every rounding and no lost row. */
Test(layer_bwd_common, colsum_many_rows, .timeout = 600) {
    const int rows = 70001, cols = 3;
    float *m = malloc((size_t)rows * cols * 4);
    tc_fill_uniform(m, (size_t)rows * cols, 21, 1.0f, 2.0f);
    double ref[3] = {0, 0, 0};
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) ref[c] += m[(size_t)r * cols + c];
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *tm = tc_tensor(ctx, 2, (int64_t[]){rows, cols}, m), *ts = tc_tensor(ctx, 1, (int64_t[]){cols}, NULL);
        OCLA_LOCK(ctx);
        const ocla_status st = ocla__layer_colsum(ctx, tm, ts);
        OCLA_UNLOCK(ctx);
        tc_ok(ctx, st);
        float *got = tc_download(ctx, ts);
        for (int c = 0; c < cols; c++)
            cr_expect(fabs(got[c] - ref[c]) <= 0.5, "%s column %d: %.3f vs %.3f", tc_device_name(d), c, (double)got[c],
                      ref[c]);
        free(got);
        ocla_tensor_destroy(tm), ocla_tensor_destroy(ts);
        ocla_context_destroy(ctx);
    }
    free(m);
}
