/* SPDX-License-Identifier: MIT */
/* The CPU-shaped chunked kernels (kernels_cl/linear_attn_cpu.cl; linear_attn_blk.cl at the end): the
 * plan chooses them on the CPU drivers whose parameter-table row says so (PoCL: one work-item per work-group; on rusticl's
 * llvmpipe, with the context named as the table's "lanes" row: 8 work-items per work-group, one SIMD
 * lane each, at the chunks whose loops stay within llvmpipe's loop limit), and the portable kernels still run there with
 * portable_kernels_only (OCLA_PORTABLE=1). The fp64 comparisons of tests/test_attention.c run the
 * CPU kernels on PoCL at the picked chunk; here both kernel sets run on the same inputs and must agree,
 * the CPU kernels at every chunk the scheduler may pick. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"

/* llvmpipe plans the portable kernels; a context named as the parameter table's "lanes" row plans
 * the lanes kernels there (runtime/plan_params.c). */
static void name_lanes(ocla_context *ctx) {
    if (ctx->info.vendor != OCLA_VENDOR_MESA) return;
    char name[sizeof ctx->info.device_name];
    snprintf(name, sizeof name, "lanes %.100s", ctx->info.device_name);
    memcpy(ctx->info.device_name, name, sizeof name);
}

/* Each kernel set is within 1e-4 of the fp64 recurrence (tests/test_attention.c's TOL), so the two
 * differ by at most 2e-4 of the largest output. */
#define AGREE_TOL 2e-4

typedef struct cpu_run {
    float *o, *s1;
    char kernels[160];
} cpu_run;

static cpu_run run_forward_g(ocla_context *ctx, ocla_gate_kind gate, float glo, int norm, int chunk, int B, int T,
                             int H, int K, int V) {
    const size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V, ng = gate == OCLA_GATE_VECTOR ? nq : (size_t)B * T * H;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(ng * 4);
    float *s0 = malloc((size_t)B * H * K * V * 4);
    tc_fill_uniform(q, nq, 11, norm ? 0.0f : -1.0f, 1), tc_fill_uniform(k, nq, 12, norm ? 0.0f : -1.0f, 1);
    tc_fill_uniform(v, nv, 13, -1, 1), tc_fill_uniform(g, ng, 14, glo, glo < -1.0f ? glo + 4.0f : 0.0f);
    tc_fill_uniform(s0, (size_t)B * H * K * V, 15, -1, 1);
    ocla_tensor *tq = tc_tensor4(ctx, B, T, H, K, q), *tk = tc_tensor4(ctx, B, T, H, K, k), *tv = tc_tensor4(ctx, B, T, H, V, v);
    ocla_tensor *to = tc_tensor4(ctx, B, T, H, V, NULL), *ts0 = tc_tensor4(ctx, B, H, K, V, s0);
    ocla_tensor *ts1 = tc_tensor4(ctx, B, H, K, V, NULL), *tg = NULL;
    if (gate == OCLA_GATE_VECTOR) tg = tc_tensor4(ctx, B, T, H, K, g);
    if (gate == OCLA_GATE_SCALAR) tg = tc_tensor(ctx, 3, (int64_t[]){B, T, H}, g);
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = gate, p.normalize = norm, p.chunk = chunk;
    ocla_attn_io io = {.q = tq, .k = tk, .v = tv, .g = tg, .o = to, .initial_state = ts0, .final_state = ts1};
    ocla_attn_op *op = NULL;
    ocla_plan plan;
    cpu_run r = {NULL, NULL, ""};
    const ocla_status st = ocla_attention_prepare(ctx, &p, &io, &op);
    if (st != OCLA_ERR_UNSUPPORTED) { /* unsupported: this chunk does not fit the device (r.o stays NULL) */
        tc_ok(ctx, st);
        tc_ok(ctx, ocla_attention_op_explain(op, &plan, NULL, 0));
        tc_ok(ctx, ocla_attention_run(op, &io));
        r.o = tc_download(ctx, to), r.s1 = tc_download(ctx, ts1);
        memcpy(r.kernels, plan.kernels, sizeof r.kernels);
        ocla_attention_op_destroy(op);
    }
    ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(to);
    ocla_tensor_destroy(ts0), ocla_tensor_destroy(ts1), ocla_tensor_destroy(tg);
    free(q), free(k), free(v), free(g), free(s0);
    return r;
}

/* run_forward_g with log gates in [-0.5, 0] */
static cpu_run run_forward(ocla_context *ctx, ocla_gate_kind gate, int norm, int chunk, int B, int T, int H, int K,
                           int V) {
    return run_forward_g(ctx, gate, -0.5f, norm, chunk, B, T, H, K, V);
}

Test(attention_cpu, cpu_kernels_where_planned_and_portable_ones_agree, .timeout = 1800) {
    const char *env = getenv("OCLA_PORTABLE");
    const int forced_portable = env && strcmp(env, "0") != 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        name_lanes(ctx);
        ocla_context_options opts;
        ocla_context_options_defaults(&opts);
        opts.portable_kernels_only = 1;
        ocla_context *pctx = tc_open_with(d, &opts);
        ocla_device_info info;
        tc_ok(ctx, ocla_context_device_info(ctx, &info));
        const int want_cpu = !info.is_gpu && (info.vendor == OCLA_VENDOR_POCL || info.vendor == OCLA_VENDOR_MESA) &&
                             !forced_portable;
        /* llvmpipe: the lanes kernels up to chunk 32 (its 32 KiB of local memory), portable above */
        const int lanes = info.vendor == OCLA_VENDOR_MESA;
        static const ocla_gate_kind gates[] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR, OCLA_GATE_VECTOR, OCLA_GATE_NONE};
        /* every chunk the scheduler may pick (plan.c): the CPU kernels against the portable ones at theirs */
        static const int chunks[] = {16, 32, 64, 128, 256};
        for (int i = 0; i < 4; i++) {
            const int norm = i == 3, B = 2, T = 300, H = 2, K = 36, V = 20 + 13 * i; /* K, V not multiples of 16 */
            cpu_run b = run_forward(pctx, gates[i], norm, 0, B, T, H, K, V);
            cr_assert_null(strstr(b.kernels, "la_cpu_"), "%s, portable kernels only: the plan runs %s",
                           tc_device_name(d), b.kernels);
            double *ro = tc_to_double(b.o, (size_t)B * T * H * V), *rs = tc_to_double(b.s1, (size_t)B * H * K * V);
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                cpu_run a = run_forward(ctx, gates[i], norm, chunks[c], B, T, H, K, V);
                /* the CPU kernels fit every chunk; the portable ones on rusticl not the largest */
                cr_assert(a.o || !want_cpu || lanes, "%s: chunk %d does not fit", tc_device_name(d), chunks[c]);
                if (!a.o) continue;
                if (!lanes || chunks[c] <= 32)
                    cr_assert_eq(strstr(a.kernels, "la_cpu_output") != NULL, want_cpu, "%s: the plan runs %s",
                                 tc_device_name(d), a.kernels);
                const double eo = tc_max_rel_err(a.o, ro, (size_t)B * T * H * V);
                const double es = tc_max_rel_err(a.s1, rs, (size_t)B * H * K * V);
                cr_log_info("%s gate %d norm %d chunk %d: %s vs portable: o %.2e, state %.2e", tc_device_name(d),
                            (int)gates[i], norm, chunks[c], a.kernels, eo, es);
                cr_assert_leq(eo, AGREE_TOL, "%s gate %d norm %d chunk %d: outputs differ by %g", tc_device_name(d),
                              (int)gates[i], norm, chunks[c], eo);
                cr_assert_leq(es, AGREE_TOL, "%s gate %d norm %d chunk %d: final states differ by %g",
                              tc_device_name(d), (int)gates[i], norm, chunks[c], es);
                free(a.o), free(a.s1);
            }
            free(b.o), free(b.s1), free(ro), free(rs);
        }
        ocla_context_destroy(pctx);
        ocla_context_destroy(ctx);
    }
}

/* llvmpipe's loop limit: a state walk over a whole launch (2048 tokens on Mesa, op_attention.c) and
 * more, at the head size of the benchmarks, each chunk the lanes kernels take, against the portable
 * kernels (which the fp64 tests check). A walk whose loops stopped early leaves the later chunk states
 * and outputs wrong. */
/* Device d's context (named as the "lanes" row where lanes is set) and a portable-kernels-only twin
 * in *pctx, where d is llvmpipe (a Mesa CPU); else NULL. */
static ocla_context *open_mesa(int d, int lanes, ocla_context **pctx) {
    ocla_context *ctx = tc_open(d);
    if (lanes) name_lanes(ctx);
    ocla_device_info info;
    tc_ok(ctx, ocla_context_device_info(ctx, &info));
    if (info.is_gpu || info.vendor != OCLA_VENDOR_MESA) {
        ocla_context_destroy(ctx);
        return NULL;
    }
    ocla_context_options opts;
    ocla_context_options_defaults(&opts);
    opts.portable_kernels_only = 1;
    *pctx = tc_open_with(d, &opts);
    return ctx;
}

Test(attention_cpu, lanes_kernels_long_walk, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *pctx, *ctx = open_mesa(d, 1, &pctx);
        if (!ctx) continue;
        static const ocla_gate_kind gates[] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR, OCLA_GATE_VECTOR};
        /* the chunks the lanes kernels take at K = 64 (16) and K = 32 (16, 32) in 32 KiB of local memory */
        static const int chunks[] = {16, 32};
        for (int i = 0; i < 6; i++) {
            const int B = 1, T = 2100, H = 1, K = i < 3 ? 64 : 32, V = 64, nc = K == 64 ? 1 : 2;
            cpu_run b = run_forward(pctx, gates[i % 3], 0, 0, B, T, H, K, V);
            double *ro = tc_to_double(b.o, (size_t)B * T * H * V), *rs = tc_to_double(b.s1, (size_t)B * H * K * V);
            for (int c = 0; c < nc; c++) {
                cpu_run a = run_forward(ctx, gates[i % 3], 0, chunks[c], B, T, H, K, V);
                cr_assert(a.o, "%s: chunk %d does not fit", tc_device_name(d), chunks[c]);
                cr_assert(strstr(a.kernels, "la_cpu_output") != NULL, "%s chunk %d: the plan runs %s", tc_device_name(d),
                          chunks[c], a.kernels);
                const double eo = tc_max_rel_err(a.o, ro, (size_t)B * T * H * V);
                const double es = tc_max_rel_err(a.s1, rs, (size_t)B * H * K * V);
                cr_log_info("%s gate %d chunk %d T %d K %d: lanes kernels vs portable: o %.2e, state %.2e",
                            tc_device_name(d), (int)gates[i % 3], chunks[c], T, K, eo, es);
                cr_assert_leq(eo, AGREE_TOL, "%s gate %d chunk %d K %d: outputs differ by %g", tc_device_name(d),
                              (int)gates[i % 3], chunks[c], K, eo);
                cr_assert_leq(es, AGREE_TOL, "%s gate %d chunk %d K %d: final states differ by %g", tc_device_name(d),
                              (int)gates[i % 3], chunks[c], K, es);
                free(a.o), free(a.s1);
            }
            free(b.o), free(b.s1), free(ro), free(rs);
        }
        ocla_context_destroy(pctx);
        ocla_context_destroy(ctx);
    }
}

/* llvmpipe's own row (an unnamed context): linear attention, simple GLA and GLA run linear_attn_blk.cl's
 * register-block kernels at chunks up to 64 (the larger ones the portable kernels); each against the
 * portable kernels on the same inputs: K, V not multiples of the 8 x 8 block, T not a multiple of any
 * chunk, with and without the normaliser, a 2100-token walk (two launches on Mesa: the second starts
 * from the state the first wrote, and llvmpipe's loop limit), and GLA with log gates in [-24, -20]
 * (every diagonal score block past LB_GK_TH: the element-wise scores) and [-6, -2] (some blocks
 * either side of it). The fp64 comparisons of tests/test_attention.c run them at every candidate
 * chunk too (strong and extreme gates among them). */
Test(attention_cpu, blk_kernels_on_llvmpipe_agree_with_portable, .timeout = 1800) {
    const char *env = getenv("OCLA_PORTABLE");
    const int forced_portable = env && strcmp(env, "0") != 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *pctx, *ctx = open_mesa(d, 0, &pctx);
        if (!ctx) continue;
        static const int chunks[] = {16, 32, 64, 128, 256};
        for (int i = 0; i < 12; i++) {
            /* 0-5: none / scalar gates; 6: the long walk; 7-11: per-key gates (9, 10: strong ones; 11: long) */
            const int gk = i >= 7, gate = gk ? OCLA_GATE_VECTOR : i % 2 ? OCLA_GATE_SCALAR : OCLA_GATE_NONE;
            const int norm = i == 4 || i == 5 || i == 8, lng = i == 6 || i == 11, m = gk ? i - 7 : i / 2;
            const float glo = i == 9 ? -24.0f : i == 10 ? -6.0f : -0.5f;
            const int B = lng ? 1 : 2, T = lng ? 2100 : 300, H = lng ? 1 : 2, K = lng ? 64 : 36 - 7 * (m % 3);
            const int V = lng ? 64 : 20 + 13 * (m % 3); /* K 36, 29, 22, V 20, 33, 46: not multiples of 8 */
            cpu_run b = run_forward_g(pctx, (ocla_gate_kind)gate, glo, norm, 0, B, T, H, K, V);
            double *ro = tc_to_double(b.o, (size_t)B * T * H * V), *rs = tc_to_double(b.s1, (size_t)B * H * K * V);
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                cpu_run a = run_forward_g(ctx, (ocla_gate_kind)gate, glo, norm, chunks[c], B, T, H, K, V);
                if (!a.o) continue; /* a chunk that does not fit rusticl's local memory */
                const int blk = strstr(a.kernels, "la_blk_output") != NULL;
                cr_assert_eq(blk, chunks[c] <= 64 && !forced_portable, "%s chunk %d: the plan runs %s",
                             tc_device_name(d), chunks[c], a.kernels);
                const double eo = tc_max_rel_err(a.o, ro, (size_t)B * T * H * V);
                const double es = tc_max_rel_err(a.s1, rs, (size_t)B * H * K * V);
                cr_log_info("%s gate %d norm %d chunk %d T %d K %d V %d: %s vs portable: o %.2e, state %.2e",
                            tc_device_name(d), gate, norm, chunks[c], T, K, V, a.kernels, eo, es);
                cr_assert_leq(eo, AGREE_TOL, "%s gate %d norm %d chunk %d K %d V %d: outputs differ by %g",
                              tc_device_name(d), gate, norm, chunks[c], K, V, eo);
                cr_assert_leq(es, AGREE_TOL, "%s gate %d norm %d chunk %d K %d V %d: final states differ by %g",
                              tc_device_name(d), gate, norm, chunks[c], K, V, es);
                free(a.o), free(a.s1);
            }
            free(b.o), free(b.s1), free(ro), free(rs);
        }
        ocla_context_destroy(pctx);
        ocla_context_destroy(ctx);
    }
}
