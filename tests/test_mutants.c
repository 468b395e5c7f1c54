/* SPDX-License-Identifier: MIT */
/* Tests that kill survivors of the mutation run (tests/tools/mutate.py, docs/RELIABILITY.md):
 * params fields that no other test set to a non-default value, checked through identities of the
 * math instead of a second reference, on every device:
 *  - scale: unnormalised attention is linear in the scale, so with has_scale = 1 and
 *    scale = 2 / sqrt(K) the forward's o doubles, and so does every gradient of the backward (the
 *    loss <d_o, o> is linear in the scale); chunked and recurrent forms, ungated and scalar-gated
 *    (mutations attn-caller-scale, bwd-caller-scale: the default K^-1/2 used instead);
 *  - fixed_log_decay: retention with the caller's per-head decays d_h equals simple GLA with the
 *    log gate g[b,t,h] = d_h, forward and backward (mutations attn-fixed-decay-ignored,
 *    bwd-fixed-decay-ignored: RetNet's default decays used instead);
 *  - validation that only a smaller tensor, a tensor of another context or a non-positive value
 *    reaches: attention tensors one element short along any dim, the gate's tau and its tensors
 *    (mutations tensor-check-dims, attn-final-state-shape, tensor-check-context, elementwise-count,
 *    elementwise-positive). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ocla/train.h"

enum { B = 1, T = 37, H = 2, K = 16, V = 8 };
#define NQ ((size_t)B * T * H * K)
#define NV ((size_t)B * T * H * V)
#define NG ((size_t)B * T * H)

typedef struct run_out {
    float *o, *dq, *dk, *dv, *dg; /* malloc'd downloads; dg NULL unless a scalar gate */
} run_out;

static void run_out_free(run_out *r) { free(r->o), free(r->dq), free(r->dk), free(r->dv), free(r->dg); }

/* Forward then backward of p on fixed seeded inputs; g (host, [B,T,H]) only for a scalar gate. */
static run_out run(ocla_context *ctx, const ocla_attn_params *p, const float *g_host) {
    float *q = malloc(NQ * sizeof *q), *k = malloc(NQ * sizeof *k), *v = malloc(NV * sizeof *v);
    float *d_o = malloc(NV * sizeof *d_o);
    cr_assert(q && k && v && d_o);
    tc_fill_uniform(q, NQ, 1, -1, 1), tc_fill_uniform(k, NQ, 2, -1, 1), tc_fill_uniform(v, NV, 3, -1, 1);
    tc_fill_uniform(d_o, NV, 4, -1, 1);
    ocla_tensor *tq = tc_tensor4(ctx, B, T, H, K, q), *tk = tc_tensor4(ctx, B, T, H, K, k);
    ocla_tensor *tv = tc_tensor4(ctx, B, T, H, V, v), *to = tc_tensor4(ctx, B, T, H, V, NULL);
    ocla_tensor *tdo = tc_tensor4(ctx, B, T, H, V, d_o);
    ocla_tensor *tdq = tc_tensor4(ctx, B, T, H, K, NULL), *tdk = tc_tensor4(ctx, B, T, H, K, NULL);
    ocla_tensor *tdv = tc_tensor4(ctx, B, T, H, V, NULL);
    ocla_tensor *tg = g_host ? tc_tensor(ctx, 3, (int64_t[]){B, T, H}, g_host) : NULL;
    ocla_tensor *tdg = g_host ? tc_tensor(ctx, 3, (int64_t[]){B, T, H}, NULL) : NULL;
    ocla_attn_io io = {.q = tq, .k = tk, .v = tv, .g = tg, .o = to};
    ocla_status st = ocla_attention_forward(ctx, p, &io);
    cr_assert_eq(st, OCLA_SUCCESS, "forward: %s", ocla_last_error(ctx));
    ocla_attn_grad_io gio = {.q = tq, .k = tk, .v = tv, .g = tg, .d_o = tdo, .dq = tdq, .dk = tdk, .dv = tdv, .dg = tdg};
    st = ocla_attention_backward(ctx, p, &gio);
    cr_assert_eq(st, OCLA_SUCCESS, "backward: %s", ocla_last_error(ctx));
    run_out r = {tc_download(ctx, to), tc_download(ctx, tdq), tc_download(ctx, tdk), tc_download(ctx, tdv),
                 tdg ? tc_download(ctx, tdg) : NULL};
    ocla_tensor *all[] = {tq, tk, tv, to, tdo, tdq, tdk, tdv, tg, tdg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(d_o);
    return r;
}

/* got == factor * ref elementwise within tol, normwise (tc_max_rel_err_f). */
static void check_scaled(const char *what, const float *got, const float *ref, size_t n, float factor, double tol) {
    float *want = malloc(n * sizeof *want);
    cr_assert(want);
    for (size_t i = 0; i < n; i++) want[i] = factor * ref[i];
    const double err = tc_max_rel_err_f(got, want, n);
    free(want);
    cr_assert_leq(err, tol, "%s: error %.3g against %g x the reference run", what, err, (double)factor);
}

static void check_all(const char *form, const run_out *got, const run_out *ref, float factor, double tol) {
    cr_log_info("%s", form);
    check_scaled("o", got->o, ref->o, NV, factor, tol);
    check_scaled("dq", got->dq, ref->dq, NQ, factor, tol);
    check_scaled("dk", got->dk, ref->dk, NQ, factor, tol);
    check_scaled("dv", got->dv, ref->dv, NV, factor, tol);
    if (got->dg && ref->dg) check_scaled("dg", got->dg, ref->dg, NG, factor, tol);
}

/* Tolerance 1e-5 normwise: the two runs differ only by the factor applied at one place in fp32
 * (exact for 2) and by the order of the fp32 sums (~T ulps of the largest term, 37 x 6e-8 = 2e-6). */
Test(mutants, caller_scale_reaches_every_form) {
    float g[NG];
    tc_fill_uniform(g, NG, 5, -0.5f, -0.01f);
    const ocla_gate_kind gates[] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR};
    const ocla_attn_form forms[] = {OCLA_FORM_CHUNKED, OCLA_FORM_RECURRENT};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gi = 0; gi < 2; gi++)
            for (int fi = 0; fi < 2; fi++) {
                ocla_attn_params p;
                ocla_attn_params_defaults(&p);
                p.gate = gates[gi], p.form = forms[fi], p.feature_map = OCLA_FEATURE_IDENTITY;
                run_out ref = run(ctx, &p, gates[gi] == OCLA_GATE_SCALAR ? g : NULL);
                p.has_scale = 1, p.scale = 2.0f / sqrtf((float)K); /* twice the default K^-1/2 */
                run_out got = run(ctx, &p, gates[gi] == OCLA_GATE_SCALAR ? g : NULL);
                char what[96];
                snprintf(what, sizeof what, "%s: scale x2, gate %d, form %d", tc_device_name(d), (int)gates[gi],
                         (int)forms[fi]);
                check_all(what, &got, &ref, 2.0f, 1e-5);
                run_out_free(&ref), run_out_free(&got);
            }
        ocla_context_destroy(ctx);
    }
}

/* Same tolerance: one decay per head as a fixed decay or as a gate of that value per token is the
 * same math; the kernels differ only in where the cumulative sums are formed (fp32). */
Test(mutants, caller_fixed_decays_equal_a_constant_scalar_gate) {
    const float decay[H] = {-0.3f, -1.5f}; /* far from RetNet's log(1 - 2^(-5-h)) = -0.031, -0.016 */
    float g[NG];
    for (size_t i = 0; i < NG; i++) g[i] = decay[i % H]; /* g [B,T,H]: head fastest */
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int fi = 0; fi < 2; fi++) {
            ocla_attn_params p;
            ocla_attn_params_defaults(&p);
            p.form = fi ? OCLA_FORM_RECURRENT : OCLA_FORM_CHUNKED, p.feature_map = OCLA_FEATURE_IDENTITY;
            p.gate = OCLA_GATE_SCALAR;
            run_out ref = run(ctx, &p, g);
            p.gate = OCLA_GATE_FIXED, p.fixed_log_decay = decay;
            run_out got = run(ctx, &p, NULL);
            char what[96];
            snprintf(what, sizeof what, "%s: fixed decays as a scalar gate, form %d", tc_device_name(d), fi);
            check_all(what, &got, &ref, 1.0f, 1e-5);
            run_out_free(&ref), run_out_free(&got);
        }
        ocla_context_destroy(ctx);
    }
}

/* Every attention tensor one element short along each of its dims (where that dim is > 1 and fixed
 * by the others): OCLA_ERR_SHAPE, naming nothing else wrong. A smaller tensor than the op reads is
 * the dangerous direction (the kernels would read or write past its end). */
Test(mutants, attention_refuses_tensors_one_element_short) {
    enum { IQ, IK, IV, IG, IS0, IO, IS1, NI };
    static const char *names[NI] = {"q", "k", "v", "g", "initial_state", "o", "final_state"};
    static const int ndims[NI] = {4, 4, 4, 3, 4, 4, 4};
    const int64_t full[NI][4] = {{B, T, H, K}, {B, T, H, K}, {B, T, H, V}, {B, T, H, 1},
                                 {B, H, K, V}, {B, T, H, V}, {B, H, K, V}};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = OCLA_GATE_SCALAR;
        for (int which = 0; which < NI; which++)
            for (int axis = 0; axis < ndims[which]; axis++) {
                /* q fixes B, T, H, K; v's last dim is V by definition (a shorter v is a smaller V) */
                if (which == IQ || (which == IV && axis == 3) || full[which][axis] < 2) continue;
                ocla_tensor *t[NI];
                for (int i = 0; i < NI; i++) {
                    int64_t dims[4];
                    memcpy(dims, full[i], sizeof dims);
                    if (i == which) dims[axis]--;
                    t[i] = tc_tensor(ctx, ndims[i], dims, NULL);
                }
                ocla_attn_io io = {t[IQ], t[IK], t[IV], t[IG], t[IS0], NULL, t[IO], t[IS1], NULL};
                ocla_status st = ocla_attention_forward(ctx, &p, &io);
                cr_expect_eq(st, OCLA_ERR_SHAPE, "%s: %s one short along dim %d: %s (%s)", tc_device_name(d),
                             names[which], axis, ocla_status_string(st), ocla_last_error(ctx));
                for (int i = 0; i < NI; i++) ocla_tensor_destroy(t[i]);
            }
        ocla_context_destroy(ctx);
    }
}

/* A tensor of another context (same device) as an attention input or output: refused (checked twice:
 * by the tensor check and again by the prepared op's run). */
Test(mutants, attention_refuses_a_tensor_of_another_context) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d), *other = tc_open(d);
        ocla_tensor *q = tc_tensor4(ctx, B, T, H, K, NULL), *k = tc_tensor4(ctx, B, T, H, K, NULL);
        ocla_tensor *v = tc_tensor4(ctx, B, T, H, V, NULL), *o = tc_tensor4(ctx, B, T, H, V, NULL);
        ocla_tensor *fk = tc_tensor4(other, B, T, H, K, NULL), *fv = tc_tensor4(other, B, T, H, V, NULL);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        const ocla_attn_io ios[] = {{q, fk, v, NULL, NULL, NULL, o, NULL, NULL},
                                    {q, k, fv, NULL, NULL, NULL, o, NULL, NULL},
                                    {q, k, v, NULL, NULL, NULL, fv, NULL, NULL}};
        for (int i = 0; i < 3; i++) {
            ocla_status st = ocla_attention_forward(ctx, &p, &ios[i]);
            cr_expect_eq(st, OCLA_ERR_INVALID_ARGUMENT, "%s: case %d: %s", tc_device_name(d), i, ocla_status_string(st));
        }
        ocla_tensor *all[] = {q, k, v, o, fk, fv};
        for (int i = 0; i < 6; i++) ocla_tensor_destroy(all[i]);
        ocla_context_destroy(other);
        ocla_context_destroy(ctx);
    }
}

/* The elementwise ops (gate, SGD): a second tensor with fewer or more elements is OCLA_ERR_SHAPE; a
 * tensor of another context and a tau of 0, below 0 or NaN are OCLA_ERR_INVALID_ARGUMENT (the SGD
 * step takes any lr: the caller's). */
Test(mutants, elementwise_ops_refuse_wrong_tensors_and_a_nonpositive_tau) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *x = tc_tensor(ctx, 2, (int64_t[]){4, 8}, NULL), *g = tc_tensor(ctx, 2, (int64_t[]){4, 8}, NULL);
        for (int64_t cols = 7; cols <= 9; cols += 2) {
            ocla_tensor *y = tc_tensor(ctx, 2, (int64_t[]){4, cols}, NULL); /* 28 or 36 elements, not 32 */
            cr_expect_eq(ocla_gate_logsigmoid(ctx, x, y, 1.0f), OCLA_ERR_SHAPE, "gate: g of %d elements", 4 * (int)cols);
            cr_expect_eq(ocla_gate_logsigmoid_backward(ctx, x, g, y, 1.0f), OCLA_ERR_SHAPE, "gate backward: dx");
            cr_expect_eq(ocla_sgd_step(ctx, x, y, 0.1f), OCLA_ERR_SHAPE, "sgd: grad of %d elements", 4 * (int)cols);
            ocla_tensor_destroy(y);
        }
        ocla_context *other = tc_open(d); /* elementwise ops have no second context check (attention has) */
        ocla_tensor *foreign = tc_tensor(other, 2, (int64_t[]){4, 8}, NULL);
        ocla_status fst = ocla_sgd_step(ctx, x, foreign, 0.1f);
        cr_expect_eq(fst, OCLA_ERR_INVALID_ARGUMENT, "%s: sgd with a grad of another context: %s", tc_device_name(d),
                     ocla_status_string(fst));
        ocla_tensor_destroy(foreign);
        ocla_context_destroy(other);
        const float bad[] = {0.0f, -1.0f, NAN};
        for (int i = 0; i < 3; i++) {
            ocla_status st = ocla_gate_logsigmoid(ctx, x, g, bad[i]);
            cr_expect_eq(st, OCLA_ERR_INVALID_ARGUMENT, "%s: gate with tau %g: %s", tc_device_name(d), (double)bad[i],
                         ocla_status_string(st));
        }
        ocla_tensor_destroy(x), ocla_tensor_destroy(g);
        ocla_context_destroy(ctx);
    }
}
