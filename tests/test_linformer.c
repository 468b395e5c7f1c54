/* SPDX-License-Identifier: MIT */
/* Linformer vs the fp64 reference (tests/ref/ref_layers.c) on every device: every sharing mode,
 * T < n (first T columns of E, F) and T = n, plus bad input (k > n, T > n, mismatched shapes, causal).
 *
 * Tolerance 1e-4 normwise (tc_max_rel_err). Justification: the projections are T-term fp32 dot
 * products in CLBlast (~sqrt(T) * 6e-8 relative to |E||K|, E entries ~ 1/sqrt(T) here), then the
 * softmax kernel (see test_softmax.c: ~1e-6); observed ~1e-6. */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "ref/ref_layers.h"

#define TOL 1e-4

static double run_lin(ocla_context *ctx, int B, int T, int H, int D, int Dv, int kp, int n,
                      ocla_linformer_sharing sh, uint32_t seed) {
    const int per_head = sh == OCLA_LINFORMER_NONE, shared = sh == OCLA_LINFORMER_KEY_VALUE || sh == OCLA_LINFORMER_LAYERWISE;
    size_t nq = (size_t)B * T * H * D, nv = (size_t)B * T * H * Dv, ne = (size_t)(per_head ? H : 1) * kp * n;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *E = malloc(ne * 4), *F = malloc(ne * 4);
    tc_fill_normal(q, nq, seed, 1.0f), tc_fill_normal(k, nq, seed + 1, 1.0f), tc_fill_normal(v, nv, seed + 2, 1.0f);
    tc_fill_normal(E, ne, seed + 3, (float)(1.0 / sqrt((double)n))), tc_fill_normal(F, ne, seed + 4, (float)(1.0 / sqrt((double)n)));
    ocla_tensor *tq = tc_tensor4(ctx, B, T, H, D, q), *tk = tc_tensor4(ctx, B, T, H, D, k);
    ocla_tensor *tv = tc_tensor4(ctx, B, T, H, Dv, v), *to = tc_tensor4(ctx, B, T, H, Dv, NULL);
    int64_t ed[3] = {H, kp, n};
    ocla_tensor *tE = tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, E);
    ocla_tensor *tF = tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, F);
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    p.sharing = sh;
    ocla_linformer_io io = {tq, tk, tv, tE, shared ? NULL : tF, to};
    tc_ok(ctx, ocla_linformer_attention(ctx, &p, &io));
    float *o = tc_download(ctx, to);
    double *ref = malloc(nv * sizeof *ref);
    ref_linformer(B, T, H, D, Dv, kp, n, per_head, 1.0 / sqrt((double)D), E, shared ? E : F, q, k, v, ref);
    cr_assert(tc_all_finite(o, nv));
    double err = tc_max_rel_err(o, ref, nv);
    ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(to);
    ocla_tensor_destroy(tE), ocla_tensor_destroy(tF);
    free(q), free(k), free(v), free(E), free(F), free(o), free(ref);
    return err;
}

Test(linformer, sharing_modes_vs_fp64, .timeout = 1200) {
    static const struct { int B, T, H, D, Dv, kp, n; } cs[] = {
        {2, 100, 2, 32, 32, 16, 128}, {1, 128, 3, 64, 48, 32, 128}, {1, 1, 1, 32, 32, 8, 64}, {1, 200, 2, 32, 32, 64, 256},
    };
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            for (int sh = 0; sh <= OCLA_LINFORMER_NONE; sh++) {
                double e = run_lin(ctx, cs[i].B, cs[i].T, cs[i].H, cs[i].D, cs[i].Dv, cs[i].kp, cs[i].n,
                                   (ocla_linformer_sharing)sh, (uint32_t)(31 + i));
                cr_log_info("linformer %s B%d T%d H%d D%d kp%d n%d sharing %d: %.3g", tc_device_name(d), cs[i].B,
                            cs[i].T, cs[i].H, cs[i].D, cs[i].kp, cs[i].n, sh, e);
                cr_expect(e <= TOL, "%s case %zu sharing %d: err %.3g", tc_device_name(d), i, sh, e);
            }
        ocla_context_destroy(ctx);
    }
}

Test(linformer, bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *q = tc_tensor4(ctx, 1, 40, 1, 32, NULL), *o = tc_tensor4(ctx, 1, 40, 1, 32, NULL);
        ocla_tensor *q16 = tc_tensor4(ctx, 1, 40, 1, 16, NULL);
        int64_t e1[2] = {16, 32}, e2[2] = {64, 48}, e3[2] = {16, 64}, e4[2] = {8, 64};
        ocla_tensor *Eshort = tc_tensor(ctx, 2, e1, NULL), *Ebig = tc_tensor(ctx, 2, e2, NULL);
        ocla_tensor *E = tc_tensor(ctx, 2, e3, NULL), *F8 = tc_tensor(ctx, 2, e4, NULL);
        ocla_linformer_params p;
        ocla_linformer_params_defaults(&p);
        ocla_linformer_io io = {q, q, q, Eshort, Eshort, o};
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_SHAPE); /* T = 40 > n = 32 */
        io.E = io.F = Ebig;
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_SHAPE); /* k = 64 > n = 48 */
        io.E = E, io.F = F8;
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_SHAPE); /* F [8,64] vs E [16,64] */
        io.F = E, io.k = q16;
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_SHAPE); /* k has D = 16 */
        io.k = q;
        p.causal = 1;
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_UNSUPPORTED);
        cr_expect(ocla_last_error(ctx)[0] != 0);
        p.causal = 0;
        p.sharing = OCLA_LINFORMER_NONE; /* needs [H, kp, n] */
        cr_expect_eq(ocla_linformer_attention(ctx, &p, &io), OCLA_ERR_SHAPE);
        p.sharing = OCLA_LINFORMER_HEADWISE;
        tc_ok(ctx, ocla_linformer_attention(ctx, &p, &io)); /* the context still works */
        ocla_tensor_destroy(q), ocla_tensor_destroy(o), ocla_tensor_destroy(q16), ocla_tensor_destroy(Eshort);
        ocla_tensor_destroy(Ebig), ocla_tensor_destroy(E), ocla_tensor_destroy(F8);
        double e = run_lin(ctx, 1, 30, 1, 32, 32, 8, 64, OCLA_LINFORMER_HEADWISE, 3);
        cr_expect(e <= TOL, "after bad input: err %.3g", e);
        ocla_context_destroy(ctx);
    }
}
