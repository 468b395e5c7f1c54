/* SPDX-License-Identifier: MIT */
/* Softmax attention in half precision (issue 14): ocla_softmax_attention and ocla_softmax_backward
 * with every tensor bf16 or fp16, on every device, against the fp64 references (tests/ref/) computed
 * on the same half-rounded inputs; and the fp16 overflow policy (docs/RELIABILITY.md, "Numerics").
 *
 * Shapes: T = 1, partial blocks, K != V, odd dims (element loads), non-causal Tk != T, T = 1500,
 * long enough for the blocks to be split over launches on Mesa llvmpipe (the backward's gradients
 * then carry over in fp32), and [B,H,T,D] views (strided loads and stores). The scheduler picks the block (one variant per padded width and dtype:
 * the compiled variants stay few); the 16-row block is forced once per dtype.
 *
 * Tolerances (normwise, tc_max_rel_err: max error / max |reference|), issue 14's: 5e-3 bf16, 1e-3
 * fp16. The output's own rounding is at most the dtype's unit roundoff (2^-8 = 3.9e-3, 2^-11 =
 * 4.9e-4) of each element, so of the largest; the fp32 arithmetic adds ~1e-6 (test_softmax.c). The
 * backward reads the device's half o (D = do . o), a rounded input like the others: the
 * fp64 reference takes that o as well (ref_softmax_backward_given_o): every input of the backward is the
 * same on both sides. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_softmax_grad.h"

typedef struct hs_case {
    int B, T, Tk, H, K, V, causal, bhtd; /* bhtd: every tensor a [B,T,H,D] view of a [B,H,T,D] buffer */
} hs_case;

static const hs_case CASES[] = {
    {1, 1, 1, 1, 16, 16, 1, 0},   /* T = 1 */
    {2, 37, 37, 3, 24, 40, 1, 0}, /* partial blocks, K != V */
    {1, 45, 70, 2, 17, 5, 0, 0},  /* odd dims, Tk > T */
    {1, 1500, 1500, 1, 32, 32, 1, 0}, /* split over launches on llvmpipe (~900 rows a launch here) */
    {2, 29, 29, 2, 20, 12, 1, 1}, /* strided views: element loads with strides */
};

/* A [B,T,H,D] tensor of dtype dt holding host: dense, or (bhtd) a view of a [B,H,T,D] buffer, whose
 * own tensor is *parent (destroyed after the view). */
static ocla_tensor *make(ocla_context *ctx, ocla_dtype dt, const int64_t *dims, int bhtd, const float *host,
                         ocla_tensor **parent) {
    *parent = NULL;
    if (!bhtd) return tc_tensor_as(ctx, dt, 4, dims, host);
    const int64_t B = dims[0], T = dims[1], H = dims[2], D = dims[3], str[4] = {T * H * D, D, T * D, 1};
    ocla_tensor *view;
    *parent = tc_tensor_as(ctx, dt, 4, (int64_t[]){B, H, T, D}, NULL);
    tc_ok(ctx, ocla_tensor_view(ctx, *parent, 0, 4, dims, str, &view));
    if (host) {
        const size_t n = (size_t)(B * T * H * D);
        uint16_t *bits = malloc(n * sizeof *bits);
        cr_assert(bits && ocla_convert_from_f32(dt, host, bits, n) == OCLA_SUCCESS);
        tc_ok(ctx, ocla_tensor_upload(ctx, view, bits, n * sizeof *bits));
        free(bits);
    }
    return view;
}

enum { A_Q, A_K, A_V, A_DO, A_O, A_DQ, A_DK, A_DV, A_N };

/* One case in dtype dt at block: forward and backward; err[0] o, err[1..3] dq, dk, dv. */
static void run_case(ocla_context *ctx, const hs_case *c, ocla_dtype dt, int block, uint32_t seed, double err[4]) {
    const int64_t rows[A_N] = {c->T, c->Tk, c->Tk, c->T, c->T, c->T, c->Tk, c->Tk};
    const int64_t dim[A_N] = {c->K, c->K, c->V, c->V, c->V, c->K, c->K, c->V};
    float *host[A_DO + 1];
    ocla_tensor *t[A_N], *parent[A_N];
    size_t n[A_N];
    for (int i = 0; i < A_N; i++) {
        const int64_t dims[4] = {c->B, rows[i], c->H, dim[i]};
        n[i] = (size_t)(c->B * rows[i] * c->H * dim[i]);
        if (i <= A_DO) {
            host[i] = malloc(n[i] * sizeof(float));
            cr_assert(host[i]);
            tc_fill_normal(host[i], n[i], seed + (uint32_t)i, 1.0f);
            tc_round_to(dt, host[i], n[i]);
        }
        t[i] = make(ctx, dt, dims, c->bhtd, i <= A_DO ? host[i] : NULL, &parent[i]);
    }
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = c->causal, p.block = block;
    tc_ok(ctx, ocla_softmax_attention(ctx, &p, t[A_Q], t[A_K], t[A_V], t[A_O]));
    const ocla_softmax_grad_io io = {t[A_Q], t[A_K], t[A_V], t[A_O], t[A_DO], t[A_DQ], t[A_DK], t[A_DV]};
    tc_ok(ctx, ocla_softmax_backward(ctx, &p, &io));
    const double scale = 1.0 / sqrt((double)c->K);
    double *ref[4];
    for (int g = 0; g < 4; g++) {
        ref[g] = malloc(n[A_O + g] * sizeof(double));
        cr_assert(ref[g]);
    }
    const ref_sm_shape rs = {c->B, c->T, c->Tk, c->H, c->K, c->V, c->causal, scale};
    ref_softmax_backward(&rs, host[A_Q], host[A_K], host[A_V], host[A_DO], ref[0], ref[1], ref[2], ref[3]);
    float *o = tc_download(ctx, t[A_O]); /* the backward's input o, as rounded to dt: its gradients' D */
    ref_softmax_backward_given_o(&rs, host[A_Q], host[A_K], host[A_V], host[A_DO], o, ref[1], ref[2], ref[3]);
    free(o);
    for (int g = 0; g < 4; g++) {
        float *got = tc_download(ctx, t[A_O + g]);
        cr_assert(tc_all_finite(got, n[A_O + g]), "%s output %d not finite", ocla_dtype_name(dt), g);
        err[g] = tc_max_rel_err(got, ref[g], n[A_O + g]);
        free(got), free(ref[g]);
    }
    for (int i = 0; i < A_N; i++) {
        ocla_tensor_destroy(t[i]), ocla_tensor_destroy(parent[i]);
        if (i <= A_DO) free(host[i]);
    }
}

Test(half_softmax, forward_and_backward_every_dtype, .timeout = 900) {
    static const char *const what[4] = {"o", "dq", "dk", "dv"};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            const double tol = dt == OCLA_BF16 ? 5e-3 : 1e-3;
            double worst[4] = {0, 0, 0, 0};
            for (size_t i = 0; i <= sizeof CASES / sizeof CASES[0]; i++) {
                /* the cases at the scheduler's block, then the second one at a forced 16 */
                const hs_case *c = &CASES[i < sizeof CASES / sizeof CASES[0] ? i : 1];
                const int block = i < sizeof CASES / sizeof CASES[0] ? 0 : 16;
                double e[4];
                run_case(ctx, c, (ocla_dtype)dt, block, (uint32_t)(40 + 7 * i), e);
                for (int g = 0; g < 4; g++) {
                    cr_expect(e[g] <= tol, "%s %s case %zu block %d: %s error %.3g (tol %.0e)", tc_device_name(d),
                              ocla_dtype_name((ocla_dtype)dt), i, block, what[g], e[g], tol);
                    worst[g] = fmax(worst[g], e[g]);
                }
            }
            cr_log_info("%s softmax %s: max error o %.3g, dq %.3g, dk %.3g, dv %.3g", tc_device_name(d),
                        ocla_dtype_name((ocla_dtype)dt), worst[0], worst[1], worst[2], worst[3]);
        }
        ocla_context_destroy(ctx);
    }
}

/* The fp16 overflow policy: a value beyond fp16's range (65504; from 65520 on it rounds to Inf) is
 * stored as +-Inf, exactly what vstore_half_rte and ocla_f32_to_f16 give, and the call returns
 * OCLA_SUCCESS: outputs are not scanned, as inputs are not (docs/RELIABILITY.md). Only the elements
 * beyond the range are Inf: every other element equals the fp64 result to fp16 rounding. Arithmetic
 * is fp32, so intermediate values beyond 65504 (scores of 2e9 here) do not overflow at all.
 * Case: non-causal, one key (p = 1): dv_0 = sum_t do_t, whose first dimension sums 4 x 30000 =
 * 120000 (Inf in fp16, 1.2e5 in bf16) and whose others stay small; dq = dk = 0 (do . v - D = 0). */
Test(half_softmax, fp16_overflow_on_store_is_inf) {
    enum { T = 4, D = 8 };
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            float q[T * D], k[D], v[D], dout[T * D];
            tc_fill_uniform(q, T * D, 3, -1.0f, 1.0f);
            tc_fill_uniform(v, D, 5, -1.0f, 1.0f);
            tc_fill_uniform(dout, T * D, 6, -1.0f, 1.0f);
            for (int i = 0; i < D; i++) k[i] = 30000.0f; /* scores of ~1e9 x q: fp32, no overflow */
            for (int r = 0; r < T; r++) dout[r * D] = 30000.0f;
            tc_round_to((ocla_dtype)dt, q, T * D), tc_round_to((ocla_dtype)dt, dout, T * D);
            tc_round_to((ocla_dtype)dt, v, D);
            const int64_t qd[4] = {1, T, 1, D}, kd[4] = {1, 1, 1, D};
            ocla_tensor *tq = tc_tensor_as(ctx, dt, 4, qd, q), *tk = tc_tensor_as(ctx, dt, 4, kd, k);
            ocla_tensor *tv = tc_tensor_as(ctx, dt, 4, kd, v), *tdo = tc_tensor_as(ctx, dt, 4, qd, dout);
            ocla_tensor *to = tc_tensor_as(ctx, dt, 4, qd, NULL), *tdq = tc_tensor_as(ctx, dt, 4, qd, NULL);
            ocla_tensor *tdk = tc_tensor_as(ctx, dt, 4, kd, NULL), *tdv = tc_tensor_as(ctx, dt, 4, kd, NULL);
            ocla_softmax_params p;
            ocla_softmax_params_defaults(&p);
            p.causal = 0;
            cr_assert_eq(ocla_softmax_attention(ctx, &p, tq, tk, tv, to), OCLA_SUCCESS, "%s", ocla_last_error(ctx));
            const ocla_softmax_grad_io io = {tq, tk, tv, to, tdo, tdq, tdk, tdv};
            cr_assert_eq(ocla_softmax_backward(ctx, &p, &io), OCLA_SUCCESS, "%s", ocla_last_error(ctx));
            float *o = tc_download(ctx, to), *dq = tc_download(ctx, tdq), *dv = tc_download(ctx, tdv);
            for (int r = 0; r < T; r++)
                for (int i = 0; i < D; i++) cr_assert_eq(o[r * D + i], v[i], "o = v (one key)");
            cr_assert(tc_all_finite(dq, T * D), "dq: %s", "not finite");
            double sum0 = 0.0;
            for (int r = 0; r < T; r++) sum0 += dout[r * D];
            if (dt == OCLA_F16) cr_assert(isinf(dv[0]) && dv[0] > 0, "fp16 dv[0] = %g, want +Inf", (double)dv[0]);
            else cr_assert(fabs(dv[0] - sum0) <= 5e-3 * sum0, "bf16 dv[0] = %g, want %g", (double)dv[0], sum0);
            for (int i = 1; i < D; i++) {
                double s = 0.0;
                for (int r = 0; r < T; r++) s += dout[r * D + i];
                cr_assert(isfinite(dv[i]) && fabs(dv[i] - s) <= 4e-3 * fabs(s) + 1e-6, /* one rounding */ "%s dv[%d] = %g, want %g",
                          ocla_dtype_name((ocla_dtype)dt), i, (double)dv[i], s);
            }
            cr_log_info("%s %s: dv[0] = %g (sum %g), the other dims finite", tc_device_name(d),
                        ocla_dtype_name((ocla_dtype)dt), (double)dv[0], sum0);
            free(o), free(dq), free(dv);
            ocla_tensor *all[] = {tq, tk, tv, tdo, to, tdq, tdk, tdv};
            for (int i = 0; i < 8; i++) ocla_tensor_destroy(all[i]);
        }
        ocla_context_destroy(ctx);
    }
}
