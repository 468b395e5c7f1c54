/* SPDX-License-Identifier: MIT */
/* FLASH mixed chunk attention vs the fp64 masked token-level reference (tests/ref/ref_layers.c) on
 * every device: causal and non-causal, T = 1, T not a multiple of the chunk, every chunk size the
 * scheduler may pick (ocla_plan_candidates for OCLA_OP_FLASH_CHUNK), the paper's 256 and a C outside
 * them, the scheduler's pick (the chunk ocla_plan_explain names), OCLA_CHUNK (good and bad), every
 * parameter where the sources disagree (quadratic scale, bias scale, post factor, linear normaliser,
 * relative position bias, partial split-half RoPE with a position offset).
 *
 * Tolerance 1e-4 normwise (tc_max_rel_err). Justification: each output sums at most C quadratic
 * terms (S-term dots, squared: relative error ~2 * sqrt(S) * 6e-8) and one S-term product with a
 * chunk state that is a sum of up to T * S fp32 products (~sqrt(T) * 6e-8 relative to the state's
 * magnitude); for T <= 700 this stays ~1e-6. With RoPE, the angle pos * f is rounded in fp32 at
 * |pos * f| <= 700: ~4e-5 absolute at worst, hence RoPE cases keep T <= 700 (documented limit of
 * the fp32 angle; the fp64 reference computes the exact angle). One program variant (no variant
 * macros), so PoCL compiles once per device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flash_case.h"
#include "internal.h"
#include "ref/ref_layers.h"

#define TOL 1e-4

static double run_flash(ocla_context *ctx, const fcase *c, uint32_t seed) {
    size_t ns = (size_t)c->B * c->T * c->H * c->S, ne = (size_t)c->B * c->T * c->H * c->E;
    float *qq = malloc(ns * 4), *kq = malloc(ns * 4), *ql = malloc(ns * 4), *kl = malloc(ns * 4), *v = malloc(ne * 4);
    tc_fill_normal(qq, ns, seed, 1.0f), tc_fill_normal(kq, ns, seed + 1, 1.0f);
    tc_fill_normal(ql, ns, seed + 2, 1.0f), tc_fill_normal(kl, ns, seed + 3, 1.0f);
    tc_fill_normal(v, ne, seed + 4, 1.0f);
    size_t nb = (size_t)c->H * (2 * c->C - 1);
    float *bias = malloc(nb * 4);
    tc_fill_uniform(bias, nb, seed + 5, -0.5f, 0.5f);
    ocla_tensor *tqq = tc_tensor4(ctx, c->B, c->T, c->H, c->S, qq), *tkq = tc_tensor4(ctx, c->B, c->T, c->H, c->S, kq);
    ocla_tensor *tql = tc_tensor4(ctx, c->B, c->T, c->H, c->S, ql), *tkl = tc_tensor4(ctx, c->B, c->T, c->H, c->S, kl);
    ocla_tensor *tv = tc_tensor4(ctx, c->B, c->T, c->H, c->E, v), *to = tc_tensor4(ctx, c->B, c->T, c->H, c->E, NULL);
    int64_t bd[2] = {c->H, 2 * c->C - 1};
    ocla_tensor *tb = tc_tensor(ctx, 2, bd, bias);
    ocla_flash_params p;
    ref_flash_cfg r;
    fcase_setup(c, &p, &r);
    if (c->bias) p.rel_bias = tb, r.bias = bias;
    ocla_flash_io io = {tqq, tkq, tql, tkl, tv, to};
    tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
    float *o = tc_download(ctx, to);
    double *ref = malloc(ne * sizeof *ref);
    ref_flash_attention(&r, qq, kq, ql, kl, v, ref);
    cr_assert(tc_all_finite(o, ne));
    double err = tc_max_rel_err(o, ref, ne);
    ocla_tensor_destroy(tqq), ocla_tensor_destroy(tkq), ocla_tensor_destroy(tql), ocla_tensor_destroy(tkl);
    ocla_tensor_destroy(tv), ocla_tensor_destroy(to), ocla_tensor_destroy(tb);
    free(qq), free(kq), free(ql), free(kl), free(v), free(bias), free(o), free(ref);
    return err;
}

static void check(ocla_context *ctx, int d, const fcase *c, uint32_t seed) {
    double e = run_flash(ctx, c, seed);
    cr_log_info("flash %s B%d T%d H%d S%d E%d C%d causal %d quad %d bias %d mean %d rope %d: %.3g",
                tc_device_name(d), c->B, c->T, c->H, c->S, c->E, c->C, c->causal, c->quad_variant, c->bias,
                c->lin_mean, c->rope, e);
    cr_expect(e <= TOL, "%s T%d C%d causal %d: err %.3g", tc_device_name(d), c->T, c->C, c->causal, e);
}

Test(flash, shapes_and_parameters_vs_fp64, .timeout = 1200) {
    static const fcase cs[] = {
        {1, 1, 1, 32, 48, 16, 1, 0, 0, 0, 0, 0, 0},   {2, 100, 2, 32, 48, 32, 1, 0, 0, 0, 0, 0, 0},
        {1, 64, 1, 16, 16, 16, 1, 0, 0, 0, 0, 0, 0},  {1, 300, 1, 64, 64, 256, 1, 0, 0, 0, 0, 0, 0},
        {1, 150, 1, 32, 32, 32, 1, 1, 0, 1, 0, 0, 0}, {1, 150, 2, 32, 32, 32, 1, 2, 1, 0, 0, 0, 0},
        {1, 130, 1, 32, 40, 64, 1, 0, 1, 0, 16, 1, 0}, {1, 200, 1, 32, 32, 64, 1, 0, 0, 0, 32, 0, 300},
        {1, 70, 2, 16, 24, 20, 1, 0, 1, 0, 0, 0, 0},  /* C = 20: a model's C outside the scheduler's sizes */
    };
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            for (int causal = 0; causal < 2; causal++) {
                fcase c = cs[i];
                c.causal = causal;
                check(ctx, d, &c, (uint32_t)(100 + i));
            }
        ocla_context_destroy(ctx);
    }
}

Test(flash, scheduler_chunks, .timeout = 1200) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        /* every chunk the scheduler has for this op (16..256), T not a multiple of any */
        static const int chunks[] = {16, 32, 64, 128, 256};
        for (int i = 0; i < 5; i++) {
            fcase c = {1, 333, 1, 32, 32, chunks[i], 1, 0, 0, 0, 0, 0, 0};
            check(ctx, d, &c, (uint32_t)(7 + i));
        }
        /* chunk = 0: the scheduler's pick, the chunk ocla_plan_explain names: the same bits as that chunk
         * forced */
        {
            int64_t n = 1 * 90 * 1 * 32;
            float *x = malloc((size_t)n * 4);
            tc_fill_normal(x, (size_t)n, 3, 1.0f);
            ocla_tensor *t = tc_tensor4(ctx, 1, 90, 1, 32, x), *o1 = tc_tensor4(ctx, 1, 90, 1, 32, NULL);
            ocla_tensor *o2 = tc_tensor4(ctx, 1, 90, 1, 32, NULL);
            ocla_flash_params p;
            ocla_flash_params_defaults(&p);
            p.chunk = 0;
            ocla_flash_io io = {t, t, t, t, t, o1};
            tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
            ocla_plan_request rq = {OCLA_OP_FLASH_CHUNK, 1, 90, 1, 32, 32, 0, 0, 0, 0};
            ocla_plan plan;
            char text[512];
            tc_ok(ctx, ocla_plan_explain(ctx, &rq, &plan, text, sizeof text));
            cr_log_info("flash %s chunk 0: %s", tc_device_name(d), text);
            cr_expect(strstr(text, "flash_scores flash_states flash_prefix flash_out") != NULL, "%s", text);
            cr_expect(plan.passes == 4 && plan.local_bytes == 0, "%s", text);
            p.chunk = plan.chunk;
            io.o = o2;
            tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
            float *got = tc_download(ctx, o1), *forced = tc_download(ctx, o2);
            cr_expect(tc_all_finite(got, (size_t)n));
            cr_expect(!memcmp(got, forced, (size_t)n * sizeof *got), "%s: chunk 0 differs from the explained chunk %d",
                      tc_device_name(d), plan.chunk);
            free(got), free(forced);
            ocla_tensor_destroy(t), ocla_tensor_destroy(o1), ocla_tensor_destroy(o2);
            free(x);
        }
        ocla_context_destroy(ctx);
    }
}

Test(flash, bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *a = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *b = tc_tensor4(ctx, 1, 9, 1, 16, NULL);
        ocla_tensor *o = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
        int64_t bd[2] = {1, 5};
        ocla_tensor *bias = tc_tensor(ctx, 2, bd, NULL);
        ocla_flash_params p;
        ocla_flash_params_defaults(&p);
        p.chunk = 16;
        ocla_flash_io io = {a, b, a, a, a, o};
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_SHAPE); /* kq has T = 9 */
        io.kq = a;
        p.rope_dims = 3;
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        p.rope_dims = 0;
        p.chunk = -1;
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        p.chunk = 16;
        p.rel_bias = bias; /* needs [1, 31] */
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_SHAPE);
        p.rel_bias = NULL;
        cr_expect_eq(ocla_flash_attention(ctx, &p, NULL), OCLA_ERR_INVALID_ARGUMENT);
        cr_expect(ocla_last_error(ctx)[0] != 0);
        tc_ok(ctx, ocla_flash_attention(ctx, &p, &io)); /* the context still works */
        ocla_tensor_destroy(a), ocla_tensor_destroy(b), ocla_tensor_destroy(o), ocla_tensor_destroy(bias);
        fcase c = {1, 40, 1, 16, 16, 16, 1, 0, 0, 0, 0, 0, 0};
        check(ctx, d, &c, 9);
        ocla_context_destroy(ctx);
    }
}

/* OCLA_CHUNK (white box: the value the context read at creation) applies where the params leave the
 * chunk to the scheduler (chunk 0): one of the scheduler's sizes runs, as ocla_plan_explain says; any
 * other is refused with a status that names OCLA_CHUNK. A chunk in the params wins over it. */
Test(flash, chunk_from_environment) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        const int64_t n = 1 * 50 * 1 * 16;
        float *x = malloc((size_t)n * 4);
        tc_fill_normal(x, (size_t)n, 5, 1.0f);
        ocla_tensor *t = tc_tensor4(ctx, 1, 50, 1, 16, x), *o1 = tc_tensor4(ctx, 1, 50, 1, 16, NULL);
        ocla_tensor *o2 = tc_tensor4(ctx, 1, 50, 1, 16, NULL);
        ocla_flash_params p;
        ocla_flash_params_defaults(&p);
        ocla_flash_io io = {t, t, t, t, t, o1};
        ctx->env_chunk = 32;
        p.chunk = 0;
        tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
        ocla_plan_request rq = {OCLA_OP_FLASH_CHUNK, 1, 50, 1, 16, 16, 0, 0, 0, 0};
        ocla_plan plan;
        char text[512];
        tc_ok(ctx, ocla_plan_explain(ctx, &rq, &plan, text, sizeof text));
        cr_expect_eq(plan.chunk, 32, "%s", text);
        cr_expect(strstr(text, "OCLA_CHUNK") != NULL, "%s", text);
        p.chunk = 32;
        io.o = o2;
        tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
        float *a = tc_download(ctx, o1), *b = tc_download(ctx, o2);
        cr_expect(!memcmp(a, b, (size_t)n * sizeof *a), "OCLA_CHUNK=32 and chunk 32 differ");
        ctx->env_chunk = 48; /* not a FLASH chunk size */
        p.chunk = 0;
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        cr_expect(strstr(ocla_last_error(ctx), "OCLA_CHUNK") != NULL, "%s", ocla_last_error(ctx));
        ctx->env_chunk = 100000;
        cr_expect_eq(ocla_flash_attention(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        p.chunk = 24; /* the params' C wins */
        tc_ok(ctx, ocla_flash_attention(ctx, &p, &io));
        ctx->env_chunk = 0;
        free(a), free(b), free(x);
        ocla_tensor_destroy(t), ocla_tensor_destroy(o1), ocla_tensor_destroy(o2);
        ocla_context_destroy(ctx);
    }
}
