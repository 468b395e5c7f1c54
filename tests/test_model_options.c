/* SPDX-License-Identifier: MIT */
/* The options of fla's GatedLinearAttention in a whole model (runtime/model_attn.c): feature maps on
 * q and k, short convolutions of q, k, v, no output gate, clamp_min, and all together with grouped
 * heads. Small checkpoints with random fp32 weights (tests/ref/ref_model_ckpt.c) on every device,
 * against the fp64 reference (tests/ref/ref_model.c, written from fla's modeling code):
 *   - every prompt position of a prefill (chunked form);
 *   - 32 greedy decoding steps after it (recurrent form, the convolutions from their states): each
 *     step's logits against the reference of the whole sequence, each greedy token its argmax;
 *   - the whole sequence in one prefill equal to prefill + steps; a prefill of 2 tokens (fewer than
 *     a convolution's W - 1) then one of the rest;
 *   - requests in state slots (packed prefill, decode in another slot order) against each alone in a
 *     dense session, and against the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_model.h"
#include "ref/ref_model_ckpt.h"

#if OCLA_HAVE_JANSSON

/* fp32 against fp64, as in test_model_run.c (2-3 layers of sums over 32..64 terms, recurrences of
 * <= 52 steps with gates in (0, 1], unit-size RMSNormed rows), plus the feature maps and
 * convolutions (a few more fp32 roundings per value, sqrelu squaring q and k). Measured at most
 * ~2e-6 (logged per option); 2e-5 leaves 10x and is 5x below the 1e-4 target against fla. */
#define TOL 2e-5
/* a request in a slot against the same request alone (fp32 against fp32; test_model_run.c's SERVE_TOL) */
#define SERVE_TOL 1e-5

enum { P = 20, STEPS = 32, N = P + STEPS };

typedef struct option_case {
    const char *name;
    ref_model_spec m;
} option_case;

static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

static int32_t argmax(const float *x, int64_t n) {
    int32_t a = 0;
    for (int64_t i = 1; i < n; i++) a = x[i] > x[a] ? (int32_t)i : a;
    return a;
}

static int32_t argmax_d(const double *x, int64_t n) {
    int32_t a = 0;
    for (int64_t i = 1; i < n; i++) a = x[i] > x[a] ? (int32_t)i : a;
    return a;
}

static double worst_rows(const float *got, const double *ref, int rows, int64_t NV) {
    return tc_max_rel_err_rows(got, ref, (size_t)rows * (size_t)NV, (size_t)NV);
}

static double worst_rows_f(const float *got, const float *want, int rows, int64_t NV) {
    double w = 0.0;
    for (int r = 0; r < rows; r++) {
        const double e = tc_max_rel_err_f(got + (size_t)r * NV, want + (size_t)r * NV, (size_t)NV);
        w = e > w ? e : w;
    }
    return w;
}

static option_case *cases(int *n) {
    static option_case c[16];
    const ref_model_spec s = ref_model_small();
    int i = 0;
    static const char *const fmaps[6][2] = {{"fmap relu", "\"feature_map\": \"relu\","},
                                            {"fmap sigmoid", "\"feature_map\": \"sigmoid\","},
                                            {"fmap logsigmoid", "\"feature_map\": \"logsigmoid\","},
                                            {"fmap swish", "\"feature_map\": \"swish\","},
                                            {"fmap sqrelu", "\"feature_map\": \"sqrelu\","},
                                            {"fmap gelu", "\"feature_map\": \"gelu\","}};
    for (int f = 0; f < 6; f++) c[i] = (option_case){fmaps[f][0], s}, c[i++].m.extra = fmaps[f][1];
    c[i] = (option_case){"conv 4", s}, c[i++].m.conv = 4;
    c[i] = (option_case){"conv 2", s}, c[i++].m.conv = 2;
    c[i] = (option_case){"conv 1", s}, c[i++].m.conv = 1; /* no state: each token alone */
    c[i] = (option_case){"conv 4 grouped", s}, c[i].m.conv = 4, c[i].m.H = 4, c[i++].m.kvH = 2;
    c[i] = (option_case){"no output gate", s}, c[i++].m.no_gate = 1;
    c[i] = (option_case){"no output gate, unfused, no affine", s}, c[i].m.no_gate = 1, c[i].m.fuse = 0;
    c[i++].m.affine = 0;
    c[i] = (option_case){"clamp_min", s}, c[i++].m.extra = "\"clamp_min\": -0.05,";
    c[i] = (option_case){"combined", s}; /* grouped heads, conv 3, swish, no gate, clamp, no affine, 3 layers */
    c[i].m.H = 4, c[i].m.kvH = 2, c[i].m.conv = 3, c[i].m.no_gate = 1, c[i].m.affine = 0, c[i].m.L = 3;
    c[i++].m.extra = "\"feature_map\": \"swish\", \"clamp_min\": -0.03,";
    *n = i;
    return c;
}

static ocla_model *write_open(const ref_model_spec *m, uint32_t seed, char **dir) {
    *dir = tc_temp_dir();
    cr_assert_eq(ref_model_write(*dir, m, seed), 0, "cannot write a checkpoint in %s", *dir);
    ocla_model *model = NULL;
    cr_assert_eq(ocla_model_open(*dir, &model), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
    return model;
}

/* One option on every device: prefill, 32 greedy steps, one long prefill, a split prefill. */
static void check_option(const option_case *oc, uint32_t seed) {
    char *dir;
    ocla_model *model = write_open(&oc->m, seed, &dir);
    const int64_t NV = oc->m.vocab;
    int32_t tok[N];
    for (int i = 0; i < P; i++) tok[i] = (int32_t)(rng(&seed) % (uint32_t)NV);
    double *ref = malloc((size_t)N * NV * sizeof *ref);
    float *pre = malloc((size_t)N * NV * sizeof *pre), *dec = malloc((size_t)N * NV * sizeof *dec);
    cr_assert(ref && pre && dec);
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        ocla_model_session *s = NULL;
        tc_ok(ctx, ocla_model_session_create(ctx, model, 1, &s));
        /* prefill of the prompt, then greedy steps: dec row t = the logits at position t */
        tc_ok(ctx, ocla_model_prefill(s, tok, P, OCLA_MODEL_LOGITS_ALL, dec));
        for (int t = P; t < N; t++) {
            tok[t] = argmax(dec + (size_t)(t - 1) * NV, NV);
            tc_ok(ctx, ocla_model_step(s, &tok[t], dec + (size_t)t * NV));
        }
        cr_assert_eq(ref_model_logits(model, tok, N, ref), 0);
        const double e_prompt = worst_rows(dec, ref, P, NV), e_steps = worst_rows(dec + (size_t)P * NV,
                                                                                   ref + (size_t)P * NV, STEPS, NV);
        int same = 1;
        for (int t = P; t < N; t++) same &= tok[t] == argmax_d(ref + (size_t)(t - 1) * NV, NV);
        /* the whole sequence in one prefill; 2 tokens then the rest */
        tc_ok(ctx, ocla_model_reset(s));
        tc_ok(ctx, ocla_model_prefill(s, tok, N, OCLA_MODEL_LOGITS_ALL, pre));
        const double e_long = worst_rows(pre, ref, N, NV), e_vs_steps = worst_rows_f(dec, pre, N, NV);
        tc_ok(ctx, ocla_model_reset(s));
        tc_ok(ctx, ocla_model_prefill(s, tok, 2, OCLA_MODEL_LOGITS_ALL, pre));
        tc_ok(ctx, ocla_model_prefill(s, tok + 2, N - 2, OCLA_MODEL_LOGITS_ALL, pre + 2 * NV));
        const double e_split = worst_rows(pre, ref, N, NV);
        cr_log_info("%s on %s: prompt %.2e, %d steps %.2e (greedy %s), one prefill %.2e (vs steps %.2e), split %.2e",
                    oc->name, tc_device_name(dv), e_prompt, STEPS, e_steps, same ? "identical" : "DIFFER", e_long,
                    e_vs_steps, e_split);
        cr_expect_leq(e_prompt, TOL, "%s on %s: prompt logits %.3e", oc->name, tc_device_name(dv), e_prompt);
        cr_expect_leq(e_steps, TOL, "%s on %s: decoded logits %.3e", oc->name, tc_device_name(dv), e_steps);
        cr_expect(same, "%s on %s: a greedy token is not the reference's argmax", oc->name, tc_device_name(dv));
        cr_expect_leq(e_long, TOL, "%s on %s: long prefill %.3e", oc->name, tc_device_name(dv), e_long);
        cr_expect_leq(e_vs_steps, 2 * TOL, "%s on %s: prefill vs steps %.3e", oc->name, tc_device_name(dv), e_vs_steps);
        cr_expect_leq(e_split, TOL, "%s on %s: split prefill %.3e", oc->name, tc_device_name(dv), e_split);
        ocla_model_session_free(s);
        ocla_context_destroy(ctx);
    }
    free(ref), free(pre), free(dec);
    ocla_model_free(model);
    tc_remove_tree(dir);
    free(dir);
}

Test(model_options, every_option_matches_reference, .timeout = 900) {
    int n = 0;
    const option_case *c = cases(&n);
    for (int i = 0; i < n; i++) check_option(&c[i], 100 + (uint32_t)i);
}

/* Two requests in slots 2 and 0 of a pool of 3 (one packed prefill of 11 and 4 tokens, then 6 steps
 * naming the slots in the other order) against each alone in a batch-1 session and the reference. */
static void check_slots(const option_case *oc, uint32_t seed) {
    enum { C = 6, LA = 11, LB = 4 };
    char *dir;
    ocla_model *model = write_open(&oc->m, seed, &dir);
    const int64_t NV = oc->m.vocab;
    int32_t a[LA + C], b[LB + C];
    for (int i = 0; i < LA + C; i++) a[i] = (int32_t)(rng(&seed) % (uint32_t)NV);
    for (int i = 0; i < LB + C; i++) b[i] = (int32_t)(rng(&seed) % (uint32_t)NV);
    double *ra = malloc((size_t)(LA + C) * NV * sizeof *ra), *rb = malloc((size_t)(LB + C) * NV * sizeof *rb);
    float *alone_a = malloc((size_t)(1 + C) * NV * sizeof(float)), *alone_b = malloc((size_t)(1 + C) * NV * sizeof(float));
    float *got = malloc((size_t)2 * NV * sizeof *got);
    cr_assert(ra && rb && alone_a && alone_b && got);
    cr_assert_eq(ref_model_logits(model, a, LA + C, ra), 0);
    cr_assert_eq(ref_model_logits(model, b, LB + C, rb), 0);
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        ocla_model_session *alone = NULL, *s = NULL;
        tc_ok(ctx, ocla_model_session_create(ctx, model, 1, &alone));
        tc_ok(ctx, ocla_model_prefill(alone, a, LA, OCLA_MODEL_LOGITS_LAST, alone_a));
        for (int j = 0; j < C; j++) tc_ok(ctx, ocla_model_step(alone, &a[LA + j], alone_a + (size_t)(1 + j) * NV));
        tc_ok(ctx, ocla_model_reset(alone));
        tc_ok(ctx, ocla_model_prefill(alone, b, LB, OCLA_MODEL_LOGITS_LAST, alone_b));
        for (int j = 0; j < C; j++) tc_ok(ctx, ocla_model_step(alone, &b[LB + j], alone_b + (size_t)(1 + j) * NV));
        tc_ok(ctx, ocla_model_session_create(ctx, model, 3, &s));
        /* slot 1 holds another request's state: it must stay out of the others' logits */
        const int32_t other[5] = {3, 1, 4, 1, 5}, one = 1;
        tc_ok(ctx, ocla_model_prefill_slots(s, 1, &one, (const int32_t[]){0, 5}, other, OCLA_MODEL_LOGITS_NONE, NULL));
        const int32_t slots[2] = {2, 0}, cu[3] = {0, LA, LA + LB};
        int32_t packed[LA + LB];
        memcpy(packed, a, sizeof(int32_t) * LA), memcpy(packed + LA, b, sizeof(int32_t) * LB);
        tc_ok(ctx, ocla_model_slot_reset(s, 2));
        tc_ok(ctx, ocla_model_slot_reset(s, 0));
        tc_ok(ctx, ocla_model_prefill_slots(s, 2, slots, cu, packed, OCLA_MODEL_LOGITS_LAST, got));
        double e_alone = worst_rows_f(got, alone_a, 1, NV);
        double e_ref = worst_rows(got, ra + (size_t)(LA - 1) * NV, 1, NV);
        const double eb = worst_rows_f(got + NV, alone_b, 1, NV), rb0 = worst_rows(got + NV, rb + (size_t)(LB - 1) * NV, 1, NV);
        e_alone = eb > e_alone ? eb : e_alone, e_ref = rb0 > e_ref ? rb0 : e_ref;
        for (int j = 0; j < C; j++) {
            const int32_t order[2] = {0, 2}, tk[2] = {b[LB + j], a[LA + j]};
            tc_ok(ctx, ocla_model_step_slots(s, 2, order, tk, got));
            const double e[4] = {worst_rows_f(got, alone_b + (size_t)(1 + j) * NV, 1, NV),
                                 worst_rows_f(got + NV, alone_a + (size_t)(1 + j) * NV, 1, NV),
                                 worst_rows(got, rb + (size_t)(LB + j) * NV, 1, NV),
                                 worst_rows(got + NV, ra + (size_t)(LA + j) * NV, 1, NV)};
            e_alone = fmax(e_alone, fmax(e[0], e[1])), e_ref = fmax(e_ref, fmax(e[2], e[3]));
        }
        cr_log_info("%s in slots on %s: vs alone %.2e, vs reference %.2e", oc->name, tc_device_name(dv), e_alone, e_ref);
        cr_expect_leq(e_alone, SERVE_TOL, "%s slots on %s: %.3e against alone", oc->name, tc_device_name(dv), e_alone);
        cr_expect_leq(e_ref, TOL, "%s slots on %s: %.3e against the reference", oc->name, tc_device_name(dv), e_ref);
        ocla_model_session_free(s), ocla_model_session_free(alone);
        ocla_context_destroy(ctx);
    }
    free(ra), free(rb), free(alone_a), free(alone_b), free(got);
    ocla_model_free(model);
    tc_remove_tree(dir);
    free(dir);
}

Test(model_options, slots_match_alone, .timeout = 900) {
    int n = 0;
    const option_case *c = cases(&n);
    for (int i = 0; i < n; i++)
        if (c[i].m.conv || !strcmp(c[i].name, "combined") || !strcmp(c[i].name, "no output gate"))
            check_slots(&c[i], 200 + (uint32_t)i);
}

#else
Test(model_options, needs_the_loader) { cr_skip("ocla was built without jansson: no checkpoint loader to run models from"); }
#endif
