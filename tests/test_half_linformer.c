/* SPDX-License-Identifier: MIT */
/* Linformer in half precision (issue 14): ocla_linformer_attention and ocla_linformer_backward with
 * every tensor (q, k, v, E, F, o and the gradients) bf16 or fp16, every sharing mode, on every
 * device, against the fp64 references (tests/ref/) computed on the same half-rounded inputs (the
 * backward's reference takes the device's rounded o, an input like the others). The op converts at
 * its boundary and runs its fp32 core (runtime/op_linformer.c): each output is rounded once.
 * Tolerances (normwise, tc_max_rel_err), issue 14's: 5e-3 bf16, 1e-3 fp16 (the outputs' own
 * rounding is at most 3.9e-3 and 4.9e-4; the fp32 core adds ~1e-6, test_linformer.c). */
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "ref/ref_layers.h"
#include "ref/ref_softmax_grad.h"

typedef struct hl_case {
    int B, T, H, D, Dv, kp, n;
} hl_case;

/* partial softmax blocks (kp = 5), D != Dv, T < n; and a strided-free larger one */
static const hl_case CASES[] = {{2, 23, 3, 16, 24, 5, 30}, {1, 64, 2, 32, 32, 16, 64}};

enum { A_Q, A_K, A_V, A_E, A_F, A_DO, A_O, A_DQ, A_DK, A_DV, A_DE, A_DF, A_N };

/* One case: errors of o, dq, dk, dv, dE, dF (dF: 0 when E is shared) in err[0..5]. */
static void run_case(ocla_context *ctx, const hl_case *c, ocla_linformer_sharing sharing, ocla_dtype dt,
                     double err[6]) {
    const int per_head = sharing == OCLA_LINFORMER_NONE;
    const int shared = sharing == OCLA_LINFORMER_KEY_VALUE || sharing == OCLA_LINFORMER_LAYERWISE;
    const int64_t dq[4] = {c->B, c->T, c->H, c->D}, dvv[4] = {c->B, c->T, c->H, c->Dv};
    const int64_t de[3] = {c->H, c->kp, c->n}, *ed = per_head ? de : de + 1;
    const int end = per_head ? 3 : 2;
    const int64_t *dims[A_N] = {dq, dq, dvv, ed, ed, dvv, dvv, dq, dq, dvv, ed, ed};
    const int nd[A_N] = {4, 4, 4, end, end, 4, 4, 4, 4, 4, end, end};
    float *host[A_N] = {NULL};
    ocla_tensor *t[A_N] = {NULL};
    size_t n[A_N];
    for (int i = 0; i < A_N; i++) {
        n[i] = 1;
        for (int j = 0; j < nd[i]; j++) n[i] *= (size_t)dims[i][j];
        if (shared && (i == A_F || i == A_DF)) continue;
        if (i <= A_DO) {
            host[i] = malloc(n[i] * sizeof(float));
            cr_assert(host[i]);
            tc_fill_normal(host[i], n[i], 60u + (uint32_t)i, i == A_E || i == A_F ? (float)(1.0 / sqrt(c->n)) : 1.0f);
            tc_round_to(dt, host[i], n[i]);
        }
        t[i] = tc_tensor_as(ctx, dt, nd[i], dims[i], i <= A_DO ? host[i] : NULL);
    }
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    p.sharing = sharing;
    const ocla_linformer_io io = {t[A_Q], t[A_K], t[A_V], t[A_E], t[A_F], t[A_O]};
    tc_ok(ctx, ocla_linformer_attention(ctx, &p, &io));
    const ocla_linformer_grad_io gio = {t[A_Q], t[A_K], t[A_V], t[A_E], t[A_F], t[A_O], t[A_DO],
                                        t[A_DQ], t[A_DK], t[A_DV], t[A_DE], t[A_DF]};
    tc_ok(ctx, ocla_linformer_backward(ctx, &p, &gio));
    const float *F = shared ? host[A_E] : host[A_F];
    const double scale = 1.0 / sqrt((double)c->D);
    double *ref[A_N] = {NULL};
    for (int i = A_O; i < A_N; i++) {
        ref[i] = malloc(n[i] * sizeof(double));
        cr_assert(ref[i]);
    }
    ref_linformer(c->B, c->T, c->H, c->D, c->Dv, c->kp, c->n, per_head, scale, host[A_E], F, host[A_Q], host[A_K],
                  host[A_V], ref[A_O]);
    float *o = tc_download(ctx, t[A_O]);
    const ref_lf_shape rs = {c->B, c->T, c->H, c->D, c->Dv, c->kp, c->n, per_head, scale};
    ref_linformer_backward_given_o(&rs, host[A_E], F, host[A_Q], host[A_K], host[A_V], host[A_DO], o, ref[A_DQ],
                                   ref[A_DK], ref[A_DV], ref[A_DE], ref[A_DF]);
    free(o);
    if (shared) /* E projects keys and values: its gradient holds both terms */
        for (size_t i = 0; i < n[A_DE]; i++) ref[A_DE][i] += ref[A_DF][i];
    for (int i = A_O; i < A_N; i++) {
        err[i - A_O] = 0.0;
        if (!t[i]) continue;
        float *got = tc_download(ctx, t[i]);
        cr_assert(tc_all_finite(got, n[i]), "output %d not finite", i);
        err[i - A_O] = tc_max_rel_err(got, ref[i], n[i]);
        free(got);
    }
    for (int i = 0; i < A_N; i++) ocla_tensor_destroy(t[i]), free(host[i]), free(ref[i]);
}

Test(half_linformer, forward_and_backward_every_sharing, .timeout = 900) {
    static const char *const what[6] = {"o", "dq", "dk", "dv", "dE", "dF"};
    static const char *const modes[4] = {"headwise", "key_value", "layerwise", "none"};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
            const double tol = dt == OCLA_BF16 ? 5e-3 : 1e-3;
            double worst[6] = {0};
            for (int m = OCLA_LINFORMER_HEADWISE; m <= OCLA_LINFORMER_NONE; m++)
                for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
                    double e[6];
                    run_case(ctx, &CASES[i], (ocla_linformer_sharing)m, (ocla_dtype)dt, e);
                    for (int g = 0; g < 6; g++) {
                        cr_expect(e[g] <= tol, "%s %s %s case %zu: %s error %.3g (tol %.0e)", tc_device_name(d),
                                  ocla_dtype_name((ocla_dtype)dt), modes[m], i, what[g], e[g], tol);
                        worst[g] = fmax(worst[g], e[g]);
                    }
                }
            cr_log_info("%s linformer %s: max error o %.3g, dq %.3g, dk %.3g, dv %.3g, dE %.3g, dF %.3g",
                        tc_device_name(d), ocla_dtype_name((ocla_dtype)dt), worst[0], worst[1], worst[2], worst[3],
                        worst[4], worst[5]);
        }
        ocla_context_destroy(ctx);
    }
}
