/* SPDX-License-Identifier: MIT */
/* Backward of FLASH mixed chunk attention (ocla_flash_backward) on every device against the fp64
 * analytic reference gradient (tests/ref/ref_flash_grad.c: the derivative of the masked token-level
 * forward, no chunk states), and that reference against central finite differences of the fp64
 * forward of the GAU tests (tests/ref/ref_gau.c, ref_gau_flash: an independent implementation).
 * Cases: causal and non-causal, both causal normalisers (CHUNK, MEAN), T = 1, T < C, T not a multiple
 * of C, several chunks, C = 20 (outside the scheduler's sizes), the paper's C = 256, the three
 * quadratic scalings of the sources, a relative position bias (and its gradient), partial RoPE with
 * a position offset, B and H > 1; the scheduler's chunk (chunk 0) against the same chunk given.
 *
 * Tolerances (normwise max relative error per gradient, tc_max_rel_err):
 *  - device vs fp64: TOL = 1e-4 (the target). Each gradient entry is a sum of at most
 *    C products (the quadratic part, each an S- or E-term fp32 dot product of O(1) values, scaled
 *    by relu(x) <= O(1)) plus one S- or E-term product with a chunk-state sum (M or dS) over up to
 *    T tokens; fp32 rounding of such sums is ~sqrt(n) * 6e-8 relative to their magnitude, ~1e-6
 *    for n <= 700 (the forward's own bound, test_flash.c). With RoPE the angle pos * f is rounded
 *    in fp32 (|pos| <= 700 here: ~4e-5 absolute on a rotation of O(1) entries at worst, the
 *    forward's documented limit), hence RoPE cases keep pos0 + T <= 700.
 *  - fp64 analytic vs fp64 finite differences: REF_TOL = 1e-6. The loss is piecewise quadratic in
 *    every input (linear in v and the bias inside relu^2, bilinear in q, k): central differences are
 *    exact up to rounding (~1e-16 / h = 1e-11 relative) unless a score crosses relu's kink within
 *    the step, where the error is O(h); a wrong formula is O(1).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flash_case.h"
#include "ref/ref_flash_grad.h"
#include "ref/ref_gau.h"

#define TOL 1e-4
#define REF_TOL 1e-6
#define FD_STEP 1e-5
#define BIAS_STEP (1.0 / 4096) /* exact on float biases in [-0.5, 0.5) */

/* Host data of one case: the five inputs, d_o, the bias (floats), and fp64 copies. */
typedef struct host {
    size_t ns, ne, nb;
    float *x[6], *bias; /* qq kq ql kl v d_o */
    double *xd[6];
} host;

static void host_make(const fcase *f, uint32_t seed, host *h) {
    h->ns = (size_t)f->B * f->T * f->H * f->S, h->ne = (size_t)f->B * f->T * f->H * f->E;
    h->nb = (size_t)f->H * (2 * f->C - 1);
    for (int i = 0; i < 6; i++) {
        const size_t n = i < 4 ? h->ns : h->ne;
        h->x[i] = malloc((n ? n : 1) * sizeof(float));
        cr_assert(h->x[i]);
        tc_fill_normal(h->x[i], n, seed + (uint32_t)i, 1.0f);
        h->xd[i] = tc_to_double(h->x[i], n);
    }
    h->bias = malloc(h->nb * sizeof(float));
    tc_fill_uniform(h->bias, h->nb, seed + 7, -0.5f, 0.5f);
}

static void host_free(host *h) {
    for (int i = 0; i < 6; i++) free(h->x[i]), free(h->xd[i]);
    free(h->bias);
}

/* The reference gradients of case f (dbias only with a bias): g's arrays malloc'd. */
static void reference(const fcase *f, const host *h, ref_flash_cfg *r, ref_flash_grads *g) {
    *g = (ref_flash_grads){malloc(h->ns * 8), malloc(h->ns * 8), malloc(h->ns * 8), malloc(h->ns * 8),
                           malloc(h->ne * 8), f->bias ? malloc(h->nb * 8) : NULL};
    r->bias = f->bias ? h->bias : NULL;
    ref_flash_backward(r, h->xd[0], h->xd[1], h->xd[2], h->xd[3], h->xd[4], h->xd[5], g);
}

static void grads_free(ref_flash_grads *g) { free(g->dqq), free(g->dkq), free(g->dql), free(g->dkl), free(g->dv), free(g->dbias); }

/* The device's gradients of case f against the reference; returns the largest of the six errors. */
static double run_case(ocla_context *ctx, int d, const fcase *f, uint32_t seed) {
    host h;
    host_make(f, seed, &h);
    ocla_flash_params p;
    ref_flash_cfg r;
    fcase_setup(f, &p, &r);
    ocla_tensor *t[6], *g[5];
    for (int i = 0; i < 6; i++) t[i] = tc_tensor4(ctx, f->B, f->T, f->H, i < 4 ? f->S : f->E, h.x[i]);
    for (int i = 0; i < 5; i++) g[i] = tc_tensor4(ctx, f->B, f->T, f->H, i < 4 ? f->S : f->E, NULL);
    const int64_t bd[2] = {f->H, 2 * f->C - 1};
    ocla_tensor *tb = tc_tensor(ctx, 2, bd, h.bias), *tdb = tc_tensor(ctx, 2, bd, NULL);
    if (f->bias) p.rel_bias = tb;
    ocla_flash_grad_io io = {t[0], t[1], t[2], t[3], t[4], t[5], g[0], g[1], g[2], g[3], g[4], f->bias ? tdb : NULL};
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &io));
    ref_flash_grads rg;
    reference(f, &h, &r, &rg);
    const double *want[6] = {rg.dqq, rg.dkq, rg.dql, rg.dkl, rg.dv, rg.dbias};
    static const char *const names[6] = {"dqq", "dkq", "dql", "dkl", "dv", "d_rel_bias"};
    double worst = 0;
    for (int i = 0; i < (f->bias ? 6 : 5); i++) {
        const ocla_tensor *got_t = i < 5 ? g[i] : tdb;
        const size_t n = i < 4 ? h.ns : i == 4 ? h.ne : h.nb;
        float *got = tc_download(ctx, got_t);
        cr_expect(tc_all_finite(got, n), "%s %s: not finite", tc_device_name(d), names[i]);
        const double e = tc_max_rel_err(got, want[i], n);
        cr_expect(e <= TOL, "%s B%d T%d H%d S%d E%d C%d causal %d quad %d bias %d mean %d rope %d: %s err %.3g",
                  tc_device_name(d), f->B, f->T, f->H, f->S, f->E, f->C, f->causal, f->quad_variant, f->bias,
                  f->lin_mean, f->rope, names[i], e);
        if (e > worst) worst = e;
        free(got);
    }
    cr_log_info("flash backward %s B%d T%d H%d S%d E%d C%d causal %d quad %d bias %d mean %d rope %d: %.3g",
                tc_device_name(d), f->B, f->T, f->H, f->S, f->E, f->C, f->causal, f->quad_variant, f->bias,
                f->lin_mean, f->rope, worst);
    for (int i = 0; i < 6; i++) ocla_tensor_destroy(t[i]);
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(g[i]);
    ocla_tensor_destroy(tb), ocla_tensor_destroy(tdb);
    grads_free(&rg);
    host_free(&h);
    return worst;
}

static void shapes_and_parameters(ocla_context *ctx, int d) {
    /* B T H S E C causal quad bias mean rope lin_custom pos0 */
    static const fcase cs[] = {
        {1, 1, 1, 32, 48, 16, 1, 0, 0, 0, 0, 0, 0},   /* T = 1 */
        {2, 100, 2, 32, 48, 32, 1, 0, 0, 0, 0, 0, 0}, /* several chunks, the last partial; B, H > 1 */
        {1, 64, 1, 16, 16, 16, 1, 0, 1, 0, 0, 0, 0},  /* T a multiple of C */
        {1, 10, 1, 16, 8, 32, 1, 0, 1, 0, 0, 0, 0},   /* T < C */
        {1, 300, 1, 64, 64, 256, 1, 0, 0, 0, 0, 0, 0}, /* the paper's C */
        {1, 150, 1, 32, 32, 32, 1, 1, 0, 1, 0, 0, 0}, /* paper text scaling, MEAN normaliser */
        {1, 150, 2, 32, 32, 32, 1, 2, 1, 0, 0, 0, 0}, /* lucidrains scaling, bias */
        {1, 130, 1, 32, 40, 64, 1, 0, 1, 0, 16, 1, 0}, /* partial RoPE, custom lin scale */
        {1, 200, 1, 32, 32, 64, 1, 0, 0, 1, 32, 0, 300}, /* full RoPE at an offset, MEAN */
        {2, 70, 2, 16, 24, 20, 1, 0, 1, 1, 8, 0, 5},  /* C = 20: a model's C outside the scheduler's sizes */
        {1, 45, 3, 8, 5, 7, 1, 2, 1, 1, 4, 1, 0},     /* odd sizes everywhere */
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int causal = 0; causal < 2; causal++) {
            fcase f = cs[i];
            f.causal = causal;
            run_case(ctx, d, &f, (uint32_t)(200 + 10 * i));
        }
}
Test(flash_bwd, shapes_and_parameters_vs_fp64, .timeout = 1800) { tc_on_every_device(shapes_and_parameters); }

/* L = sum d_o . o by the GAU tests' fp64 forward (H = 1). */
static double loss(const fcase *f, const ref_flash_cfg *r, double *const x[6]) {
    const ref_gau_cfg gc = {f->B, f->T, 0, f->E, f->S, 2, 0, 0, f->C, f->causal, r->quad_scale, r->bias_scale,
                            r->quad_post, r->bias, r->lin_mean, r->lin, r->rope_dims, r->rope_base, r->pos0};
    const size_t ne = (size_t)f->B * f->T * f->E;
    double *o = malloc(ne * sizeof *o), l = 0;
    ref_gau_flash(&gc, x[0], x[1], x[2], x[3], x[4], o);
    for (size_t i = 0; i < ne; i++) l += o[i] * x[5][i];
    free(o);
    return l;
}

static double norm_err(const double *got, const double *want, size_t n) {
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(want[i]));
        e = fmax(e, fabs(got[i] - want[i]));
    }
    return e / fmax(m, 1e-30);
}

/* The reference gradient against central differences of the forward, every element of every input. */
Test(flash_bwd, reference_vs_finite_differences) {
    static const fcase cs[] = {
        {2, 7, 1, 4, 3, 3, 1, 0, 1, 0, 0, 0, 0}, {2, 7, 1, 4, 3, 3, 1, 1, 1, 1, 4, 0, 3},
        {1, 9, 1, 6, 2, 4, 1, 2, 1, 0, 2, 1, 0}, {1, 1, 1, 4, 3, 2, 1, 0, 1, 1, 4, 0, 0},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        for (int causal = 0; causal < 2; causal++) {
            fcase f = cs[k];
            f.causal = causal;
            host h;
            host_make(&f, (uint32_t)(50 + k), &h);
            ocla_flash_params p;
            ref_flash_cfg r;
            fcase_setup(&f, &p, &r);
            ref_flash_grads g;
            reference(&f, &h, &r, &g);
            double *an[6] = {g.dqq, g.dkq, g.dql, g.dkl, g.dv, g.dbias};
            for (int i = 0; i < 6; i++) {
                const size_t n = i < 4 ? h.ns : i == 4 ? h.ne : h.nb;
                double *fd = malloc(n * sizeof *fd);
                for (size_t j = 0; j < n; j++) {
                    if (i == 5) { /* the bias is float in the config: a step that floats hold exactly */
                        const float b0 = h.bias[j];
                        h.bias[j] = (float)(b0 + BIAS_STEP);
                        const double lp = loss(&f, &r, h.xd);
                        h.bias[j] = (float)(b0 - BIAS_STEP);
                        const double lm = loss(&f, &r, h.xd);
                        h.bias[j] = b0;
                        fd[j] = (lp - lm) / (2 * BIAS_STEP);
                        continue;
                    }
                    const double x0 = h.xd[i][j], step = FD_STEP * fmax(1.0, fabs(x0));
                    h.xd[i][j] = x0 + step;
                    const double lp = loss(&f, &r, h.xd);
                    h.xd[i][j] = x0 - step;
                    const double lm = loss(&f, &r, h.xd);
                    h.xd[i][j] = x0;
                    fd[j] = (lp - lm) / (2 * step);
                }
                const double e = norm_err(an[i], fd, n);
                cr_expect(e <= REF_TOL, "case %zu causal %d input %d: analytic vs finite differences %.3g", k, causal,
                          i, e);
                free(fd);
            }
            grads_free(&g);
            host_free(&h);
        }
}

static void scheduler_chunk(ocla_context *ctx, int d) {
    const size_t n = 90 * 16;
    float *x = malloc(n * sizeof *x);
    tc_fill_normal(x, n, 3, 1.0f);
    ocla_tensor *t = tc_tensor4(ctx, 1, 90, 1, 16, x), *o[2][5];
    ocla_plan_request rq = {OCLA_OP_FLASH_CHUNK, 1, 90, 1, 16, 16, 0, 0, 0, 0};
    ocla_plan plan;
    char text[512];
    tc_ok(ctx, ocla_plan_explain(ctx, &rq, &plan, text, sizeof text));
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    for (int r = 0; r < 2; r++) { /* chunk 0, then the explained chunk */
        for (int i = 0; i < 5; i++) o[r][i] = tc_tensor4(ctx, 1, 90, 1, 16, NULL);
        p.chunk = r ? plan.chunk : 0;
        const ocla_flash_grad_io io = {t, t, t, t, t, t, o[r][0], o[r][1], o[r][2], o[r][3], o[r][4], NULL};
        tc_ok(ctx, ocla_flash_backward(ctx, &p, &io));
    }
    for (int i = 0; i < 5; i++) {
        float *a = tc_download(ctx, o[0][i]), *b = tc_download(ctx, o[1][i]);
        cr_expect(tc_all_finite(a, n));
        cr_expect(!memcmp(a, b, n * sizeof *a), "%s: chunk 0 differs from the explained chunk %d (gradient %d)",
                  tc_device_name(d), plan.chunk, i);
        free(a), free(b);
        ocla_tensor_destroy(o[0][i]), ocla_tensor_destroy(o[1][i]);
    }
    ocla_tensor_destroy(t);
    free(x);
}
/* Chunk 0: the scheduler's pick (the chunk ocla_plan_explain names for the forward), the same bits as
 * that chunk given. */
Test(flash_bwd, scheduler_chunk) { tc_on_every_device(scheduler_chunk); }

/* The forward's rules and the backward's own: refused with the status and a detail, nothing run,
 * the context still works after. */
static void bad_input(ocla_context *ctx, int d) {
    ocla_tensor *a = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *b9 = tc_tensor4(ctx, 1, 9, 1, 16, NULL);
    ocla_tensor *g[5];
    for (int i = 0; i < 5; i++) g[i] = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
    const int64_t bd[2] = {1, 31}, bad_bd[2] = {1, 5};
    ocla_tensor *bias = tc_tensor(ctx, 2, bd, NULL), *dbias = tc_tensor(ctx, 2, bd, NULL);
    ocla_tensor *bad_bias = tc_tensor(ctx, 2, bad_bd, NULL);
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.chunk = 16;
    ocla_flash_grad_io io = {a, a, a, a, a, a, g[0], g[1], g[2], g[3], g[4], NULL};
    io.kq = b9;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_SHAPE); /* kq has T = 9 */
    io.kq = a, io.d_o = b9;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_SHAPE); /* d_o has T = 9 */
    io.d_o = NULL;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    io.d_o = a, io.dv = b9;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_SHAPE);
    io.dv = a; /* a gradient on an input */
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(ocla_last_error(ctx), "dv") != NULL, "%s", ocla_last_error(ctx));
    io.dv = g[4], io.dkl = g[0]; /* two gradients in one tensor */
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    io.dkl = g[3], io.d_rel_bias = dbias; /* a bias gradient without a bias */
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    p.rel_bias = bias, io.d_rel_bias = bad_bias; /* needs [1, 31] */
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_SHAPE);
    p.rel_bias = bad_bias, io.d_rel_bias = dbias;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_SHAPE);
    p.rel_bias = bias, io.d_rel_bias = bias; /* the gradient on the bias itself */
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    io.d_rel_bias = dbias, p.rope_dims = 3;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    p.rope_dims = 0, p.chunk = -1;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    p.chunk = 16, p.lin_norm = (ocla_flash_lin_norm)7;
    cr_expect_eq(ocla_flash_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    p.lin_norm = OCLA_FLASH_LIN_CHUNK;
    cr_expect_eq(ocla_flash_backward(ctx, &p, NULL), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(ocla_flash_backward(ctx, NULL, &io), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect(ocla_last_error(ctx)[0] != 0);
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &io)); /* the context still works */
    ocla_tensor_destroy(a), ocla_tensor_destroy(b9), ocla_tensor_destroy(bias), ocla_tensor_destroy(dbias);
    ocla_tensor_destroy(bad_bias);
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(g[i]);
    const fcase f = {1, 40, 1, 16, 16, 16, 1, 0, 1, 0, 0, 0, 0};
    run_case(ctx, d, &f, 9);
}
Test(flash_bwd, bad_input) { tc_on_every_device(bad_input); }

/* d rel_bias over more (b, g) pairs than one bias-sum launch takes (32768, runtime/op_flash_bwd.c):
 * B = 2, C = 1, T = 16400 (32800 pairs, two launches), against its closed form at C = 1 (no RoPE):
 * d bias = bs sum_{b,t} 2 post relu(x_t) (do_t . v_t), x_t = qs q_t.k_t + bs bias. */
static void bias_sum_split(ocla_context *ctx, int d) {
    enum { B = 2, T = 16400, S = 2, E = 2 };
    const size_t ns = (size_t)B * T * S;
    float *x = malloc(6 * ns * sizeof *x), bias = 0.25f;
    cr_assert(x);
    tc_fill_normal(x, 6 * ns, 11, 1.0f);
    ocla_tensor *t[6], *g[5];
    for (int i = 0; i < 6; i++) t[i] = tc_tensor4(ctx, B, T, 1, S, x + i * ns); /* qq kq ql kl v d_o */
    for (int i = 0; i < 5; i++) g[i] = tc_tensor4(ctx, B, T, 1, S, NULL);
    const int64_t bd[2] = {1, 1};
    ocla_tensor *tb = tc_tensor(ctx, 2, bd, &bias), *tdb = tc_tensor(ctx, 2, bd, NULL);
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.chunk = 1, p.rel_bias = tb, p.bias_scale = 0.5f, p.has_quad_scale = 1, p.quad_scale = 0.3f, p.quad_post = 2.0f;
    const ocla_flash_grad_io io = {t[0], t[1], t[2], t[3], t[4], t[5], g[0], g[1], g[2], g[3], g[4], tdb};
    tc_ok(ctx, ocla_flash_backward(ctx, &p, &io));
    double want = 0;
    for (size_t r = 0; r < (size_t)B * T; r++) {
        const float *q = x + r * S, *k = x + ns + r * S, *v = x + 4 * ns + r * E, *o = x + 5 * ns + r * E;
        const double xt = 0.3 * ((double)q[0] * k[0] + (double)q[1] * k[1]) + 0.5 * bias;
        want += 0.5 * 2.0 * 2.0 * (xt > 0 ? xt : 0) * ((double)o[0] * v[0] + (double)o[1] * v[1]);
    }
    float *got = tc_download(ctx, tdb);
    /* 32800 fp32 terms of either sign summed in one running sum per launch: rounding ~ n eps |term|
     * ~ 2e-3 |term| against a sum ~ sqrt(n) |term| ~ 180 |term|, ~1e-5 relative (1e-4: 10x margin) */
    cr_expect(fabs(got[0] - want) <= 1e-4 * fabs(want), "%s: d rel_bias %.9g, fp64 %.9g", tc_device_name(d), got[0],
              want);
    free(got), free(x);
    for (int i = 0; i < 6; i++) ocla_tensor_destroy(t[i]);
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(g[i]);
    ocla_tensor_destroy(tb), ocla_tensor_destroy(tdb);
}
Test(flash_bwd, bias_sum_over_many_chunks) { tc_on_every_device(bias_sum_split); }
