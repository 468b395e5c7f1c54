/* Tiled softmax attention vs the fp64 quadratic reference (tests/ref/ref_layers.c) on every device.
 *
 * Tolerance 1e-4 normwise (tc_max_rel_err). Justification: each output is a convex combination of
 * value rows; the fp32 error comes from the K-term score dot products (~sqrt(K) * 6e-8 relative to
 * |q||k|, scores here are O(1..5)), exp() of fp32 scores (|x| * 6e-8 relative per weight), and the
 * T-term running sums of l and the accumulator (~sqrt(T) * 6e-8 for T <= 4096: ~4e-6). Observed
 * errors are ~1e-6; 1e-4 is the acceptance bar of issue 4.
 *
 * Program variants are few (PoCL compiles each for seconds): the runtime's block pick with K,V <= 64,
 * and a forced block of 16 with K,V <= 32. Many shapes run per variant. */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "ref/ref_layers.h"

#define TOL 1e-4

static double run_case(ocla_context *ctx, int B, int T, int H, int K, int V, int causal, int block, uint32_t seed,
                       int bhtd) {
    size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4);
    tc_fill_normal(q, nq, seed, 1.0f);
    tc_fill_normal(k, nq, seed + 1, 1.0f);
    tc_fill_normal(v, nv, seed + 2, 1.0f);
    ocla_tensor *tq, *tk, *tv, *to;
    ocla_tensor *pq = NULL, *pk = NULL, *pv = NULL, *po = NULL;
    if (!bhtd) {
        tq = tc_tensor4(ctx, B, T, H, K, q), tk = tc_tensor4(ctx, B, T, H, K, k), tv = tc_tensor4(ctx, B, T, H, V, v);
        to = tc_tensor4(ctx, B, T, H, V, NULL);
    } else { /* [B,H,T,D] buffers viewed as [B,T,H,D]: upload through the views */
        pq = tc_tensor4(ctx, B, H, T, K, NULL), pk = tc_tensor4(ctx, B, H, T, K, NULL);
        pv = tc_tensor4(ctx, B, H, T, V, NULL), po = tc_tensor4(ctx, B, H, T, V, NULL);
        int64_t dk[4] = {B, T, H, K}, sk[4] = {(int64_t)H * T * K, K, (int64_t)T * K, 1};
        int64_t dv[4] = {B, T, H, V}, sv[4] = {(int64_t)H * T * V, V, (int64_t)T * V, 1};
        tc_ok(ctx, ocla_tensor_view(ctx, pq, 0, 4, dk, sk, &tq));
        tc_ok(ctx, ocla_tensor_view(ctx, pk, 0, 4, dk, sk, &tk));
        tc_ok(ctx, ocla_tensor_view(ctx, pv, 0, 4, dv, sv, &tv));
        tc_ok(ctx, ocla_tensor_view(ctx, po, 0, 4, dv, sv, &to));
        tc_ok(ctx, ocla_tensor_upload(ctx, tq, q, nq * 4));
        tc_ok(ctx, ocla_tensor_upload(ctx, tk, k, nq * 4));
        tc_ok(ctx, ocla_tensor_upload(ctx, tv, v, nv * 4));
    }
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = causal;
    p.block = block;
    tc_ok(ctx, ocla_softmax_attention(ctx, &p, tq, tk, tv, to));
    float *o = tc_download(ctx, to);
    double *ref = malloc(nv * sizeof *ref);
    ref_softmax_attention(B, T, H, K, V, causal, 1.0 / sqrt((double)K), q, k, v, ref);
    cr_assert(tc_all_finite(o, nv));
    double err = tc_max_rel_err(o, ref, nv);
    ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(to);
    ocla_tensor_destroy(pq), ocla_tensor_destroy(pk), ocla_tensor_destroy(pv), ocla_tensor_destroy(po);
    free(q), free(k), free(v), free(o), free(ref);
    return err;
}

Test(softmax, shapes_vs_fp64, .timeout = 1200) {
    static const struct { int B, T, H, K, V, block, bhtd; } cs[] = {
        {1, 1, 1, 64, 64, 0, 0},   {2, 17, 3, 64, 48, 0, 0}, {1, 100, 2, 40, 64, 0, 1}, {1, 257, 1, 64, 64, 0, 0},
        {1, 1, 2, 32, 32, 16, 0},  {2, 33, 2, 32, 16, 16, 1}, {1, 200, 1, 8, 32, 16, 0},
    };
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            for (int causal = 0; causal < 2; causal++) {
                double e = run_case(ctx, cs[i].B, cs[i].T, cs[i].H, cs[i].K, cs[i].V, causal, cs[i].block,
                                    (uint32_t)(11 + i), cs[i].bhtd);
                cr_log_info("softmax %s B%d T%d H%d K%d V%d block %d causal %d: %.3g", tc_device_name(d), cs[i].B,
                            cs[i].T, cs[i].H, cs[i].K, cs[i].V, cs[i].block, causal, e);
                cr_expect(e <= TOL, "%s case %zu causal %d: err %.3g", tc_device_name(d), i, causal, e);
            }
        ocla_context_destroy(ctx);
    }
}

Test(softmax, long_4096, .timeout = 1200) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int causal = 0; causal < 2; causal++) {
            double e = run_case(ctx, 1, 4096, 1, 64, 64, causal, 0, 77, 0);
            cr_log_info("softmax %s T4096 causal %d: %.3g", tc_device_name(d), causal, e);
            cr_expect(e <= TOL, "%s T=4096 causal %d: err %.3g", tc_device_name(d), causal, e);
        }
        ocla_context_destroy(ctx);
    }
}

Test(softmax, bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *q = tc_tensor4(ctx, 1, 8, 1, 32, NULL), *k = tc_tensor4(ctx, 1, 9, 1, 32, NULL);
        ocla_tensor *v = tc_tensor4(ctx, 1, 8, 1, 32, NULL), *o = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
        ocla_tensor *big = tc_tensor4(ctx, 1, 8, 1, 300, NULL);
        ocla_softmax_params p;
        ocla_softmax_params_defaults(&p);
        cr_expect_eq(ocla_softmax_attention(ctx, &p, q, k, v, v), OCLA_ERR_SHAPE);   /* k has T=9 */
        cr_expect_eq(ocla_softmax_attention(ctx, &p, q, q, v, o), OCLA_ERR_SHAPE);   /* o has V=16 */
        cr_expect_eq(ocla_softmax_attention(ctx, &p, big, big, v, v), OCLA_ERR_UNSUPPORTED); /* K > 256 */
        cr_expect_eq(ocla_softmax_attention(ctx, NULL, q, q, v, v), OCLA_ERR_INVALID_ARGUMENT);
        cr_expect_eq(ocla_softmax_attention(ctx, &p, NULL, q, v, v), OCLA_ERR_INVALID_ARGUMENT);
        p.block = 48;
        cr_expect_eq(ocla_softmax_attention(ctx, &p, q, q, v, v), OCLA_ERR_INVALID_ARGUMENT);
        cr_expect(ocla_last_error(ctx)[0] != 0);
        ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(o);
        ocla_tensor_destroy(big);
        /* the context still works */
        double e = run_case(ctx, 1, 20, 1, 32, 32, 1, 16, 5, 0);
        cr_expect(e <= TOL, "after bad input: err %.3g", e);
        ocla_context_destroy(ctx);
    }
}
