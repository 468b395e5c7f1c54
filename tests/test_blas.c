/* SPDX-License-Identifier: MIT */
/* SGEMM through the BLAS module (CLBlast) against an fp64 reference, on every device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b], row-major, in fp64. */
static void ref_gemm(int ta, int tb, size_t m, size_t n, size_t k, double alpha, const float *a, size_t lda,
                     size_t sa, const float *b, size_t ldb, size_t sb, double beta, const float *c0, double *c,
                     size_t ldc, size_t sc, size_t batch) {
    for (size_t z = 0; z < batch; z++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double acc = 0;
                for (size_t p = 0; p < k; p++) {
                    double av = ta ? a[z * sa + p * lda + i] : a[z * sa + i * lda + p];
                    double bv = tb ? b[z * sb + j * ldb + p] : b[z * sb + p * ldb + j];
                    acc += av * bv;
                }
                size_t o = z * sc + i * ldc + j;
                c[o] = alpha * acc + beta * c0[o];
            }
}

/* Tolerance: fp32 products summed over k <= 96 terms of magnitude <= 1: the worst-case relative
 * rounding error is ~k * 2^-24 ~ 6e-6 of the largest entry; 1e-5 leaves room for blocked sums. */
#define GEMM_TOL 1e-5

static void check_case(ocla_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, size_t batch, float alpha,
                       float beta) {
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    size_t na = batch * ar * ac, nb = batch * br * bc, nc = batch * m * n;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *got;
    double *ref = malloc(nc * 8);
    tc_fill_uniform(a, na, (uint32_t)(m * 7 + k), -1, 1);
    tc_fill_uniform(b, nb, (uint32_t)(n * 3 + k), -1, 1);
    tc_fill_uniform(c, nc, 5, -1, 1);
    int64_t da[1] = {(int64_t)na}, db[1] = {(int64_t)nb}, dc[1] = {(int64_t)nc};
    ocla_tensor *A = tc_tensor(ctx, 1, da, a), *Bt = tc_tensor(ctx, 1, db, b), *C = tc_tensor(ctx, 1, dc, c);
    ocla_gemm_desc g;
    ocla_gemm_desc_defaults(&g);
    g.trans_a = ta, g.trans_b = tb, g.m = m, g.n = n, g.k = k, g.alpha = alpha, g.beta = beta, g.batch = batch;
    tc_ok(ctx, ocla_gemm(ctx, &g, A, Bt, C));
    got = tc_download(ctx, C);
    ref_gemm(ta, tb, m, n, k, alpha, a, ac, ar * ac, b, bc, br * bc, beta, c, ref, n, m * n, batch);
    double err = tc_max_rel_err(got, ref, nc);
    cr_assert_leq(err, GEMM_TOL, "gemm ta=%d tb=%d %zux%zux%zu batch %zu: err %g", ta, tb, m, n, k, batch, err);
    free(a), free(b), free(c), free(got), free(ref);
    ocla_tensor_destroy(A), ocla_tensor_destroy(Bt), ocla_tensor_destroy(C);
}

Test(blas, sgemm_vs_fp64_every_device, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) check_case(ctx, ta, tb, 37, 53, 71, 1, 1.0f, 0.0f);
        check_case(ctx, 0, 0, 64, 64, 96, 1, 0.5f, 1.0f);
        check_case(ctx, 0, 1, 17, 33, 9, 4, 1.0f, 0.0f); /* strided-batched */
        check_case(ctx, 1, 0, 8, 5, 3, 3, 2.0f, -1.0f);
        ocla_context_destroy(ctx);
    }
}

Test(blas, bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int64_t dims[1] = {64};
        ocla_tensor *A = tc_tensor(ctx, 1, dims, NULL), *B = tc_tensor(ctx, 1, dims, NULL),
                    *C = tc_tensor(ctx, 1, dims, NULL);
        ocla_gemm_desc g;
        ocla_gemm_desc_defaults(&g);
        g.m = 8, g.n = 8, g.k = 8; /* 64 elements each: fits */
        tc_ok(ctx, ocla_gemm(ctx, &g, A, B, C));
        g.m = 0;
        cr_assert_eq(ocla_gemm(ctx, &g, A, B, C), OCLA_ERR_SHAPE);
        g.m = 9; /* C needs 72 elements */
        cr_assert_eq(ocla_gemm(ctx, &g, A, B, C), OCLA_ERR_SHAPE);
        g.m = 8, g.batch = 2;
        cr_assert_eq(ocla_gemm(ctx, &g, A, B, C), OCLA_ERR_SHAPE);
        g.batch = 1, g.lda = 4; /* ld below the row length */
        cr_assert_eq(ocla_gemm(ctx, &g, A, B, C), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_gemm(ctx, NULL, A, B, C), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_gemm(ctx, &g, NULL, A, A), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_gemm(NULL, &g, A, B, C), OCLA_ERR_INVALID_ARGUMENT);
        g.lda = 0;
        tc_ok(ctx, ocla_gemm(ctx, &g, A, B, C)); /* still works */
        tc_ok(ctx, ocla_gemm(ctx, &g, A, A, C)); /* inputs may share memory */
        cr_assert_eq(ocla_gemm(ctx, &g, A, B, B), OCLA_ERR_INVALID_ARGUMENT); /* the output may not */
        cr_assert(strstr(ocla_last_error(ctx), "C shares memory with input B"), "%s", ocla_last_error(ctx));
        ocla_tensor_destroy(A), ocla_tensor_destroy(B), ocla_tensor_destroy(C);
        ocla_context_destroy(ctx);
    }
}

/* A GEMM large enough for CLBlast's indirect path (m n k >= XGEMM_MIN_INDIRECT_SIZE^3: 896^3 on
 * CPU drivers by CLBlast 1.5.3's default, up to 1984^3 on NVIDIA; row-major C always needs the copy
 * back there): pad/transpose kernels, the main kernel and C's copy, of which CLBlast hands back the
 * copy's event only. Under a profile ocla times the call from a gated marker (runtime/blas.c): the
 * call must still give the right product, count as one launch and appear in the profile's detail.
 * Devices whose events work only (elsewhere no marker is made); m = n = 1024, k = 1024 reaches the
 * CPU drivers' threshold, k = 8192 the GPUs'. Every 97th row against fp64, each entry's error
 * against the classic bound for a sum of k fp32 products in any order: k 2^-24 sum_p |a_ip b_pj|
 * (twice that, for the products' own rounding). */
Test(blas, profiled_indirect_gemm_counts_the_whole_call, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options opts;
        ocla_context_options_defaults(&opts);
        opts.profiling = 1;
        ocla_context *ctx = tc_open_with(d, &opts);
        ocla_device_info info;
        tc_ok(ctx, ocla_context_device_info(ctx, &info));
        if (!info.profiling_works) {
            ocla_context_destroy(ctx);
            continue;
        }
        const size_t m = 1024, n = 1024, k = info.is_gpu ? 8192 : 1024;
        float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *got;
        tc_fill_uniform(a, m * k, 11, -1, 1);
        tc_fill_uniform(b, k * n, 13, -1, 1);
        int64_t da[1] = {(int64_t)(m * k)}, db[1] = {(int64_t)(k * n)}, dc[1] = {(int64_t)(m * n)};
        ocla_tensor *A = tc_tensor(ctx, 1, da, a), *B = tc_tensor(ctx, 1, db, b), *C = tc_tensor(ctx, 1, dc, NULL);
        ocla_gemm_desc g;
        ocla_gemm_desc_defaults(&g);
        g.m = m, g.n = n, g.k = k;
        tc_ok(ctx, ocla_profile_begin(ctx));
        tc_ok(ctx, ocla_gemm(ctx, &g, A, B, C));
        double ms = -1;
        int kernels = 0;
        tc_ok(ctx, ocla_profile_end(ctx, &ms, &kernels));
        cr_assert_eq(kernels, 1, "one GEMM call counts once, whatever CLBlast enqueues");
        cr_assert(ms > 0 && isfinite(ms));
        char detail[256];
        tc_ok(ctx, ocla_profile_detail(ctx, detail, sizeof detail));
        cr_assert(strncmp(detail, "gemm ", 5) == 0, "detail: %s", detail);
        got = tc_download(ctx, C);
        double worst = 0; /* the largest error over its bound */
        for (size_t i = 0; i < m; i += 97)
            for (size_t j = 0; j < n; j++) {
                double acc = 0, mag = 0;
                for (size_t p = 0; p < k; p++) {
                    acc += (double)a[i * k + p] * b[p * n + j];
                    mag += fabs((double)a[i * k + p] * b[p * n + j]);
                }
                worst = fmax(worst, fabs(acc - got[i * n + j]) / (2.0 * (double)k * 0x1p-24 * mag));
            }
        cr_assert_leq(worst, 1.0, "%s: an entry's error is %g times its bound", info.device_name, worst);
        free(a), free(b), free(got);
        ocla_tensor_destroy(A), ocla_tensor_destroy(B), ocla_tensor_destroy(C);
        ocla_context_destroy(ctx);
    }
}
