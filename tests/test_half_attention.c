/* SPDX-License-Identifier: MIT */
/* Linear attention in half precision (issue 14): the recurrent form (the portable la_recurrent
 * kernel, the decode step at T = 1) with q, k, v, o in bf16 or fp16, gates in fp32 or in q's dtype,
 * states fp32, every gate kind, on every device, against the fp64 reference (tests/ref/) computed on
 * the same half-rounded inputs (the chunked form: test_half_chunked.c). Mixed data dtypes are
 * refused, naming the tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_attention.h"

typedef struct half_case {
    int B, T, H, K, V;
} half_case;

/* decode step, a partial work-group tile (V = 40 over RV columns, K = 24 over RK * KR rows), longer */
static const half_case SHAPES[] = {{3, 1, 2, 16, 16}, {2, 37, 3, 24, 40}, {1, 160, 2, 64, 64}};

/* n values of dtype (its bits in *bits) and their exact fp32 values in f: the inputs every side sees */
static float *half_inputs(ocla_dtype dtype, size_t n, uint32_t seed, float lo, float hi, uint16_t **bits) {
    float *f = malloc(n * sizeof *f);
    *bits = malloc(n * sizeof **bits);
    cr_assert(f && *bits);
    tc_fill_uniform(f, n, seed, lo, hi);
    if (dtype == OCLA_F32) return f;
    cr_assert_eq(ocla_convert_from_f32(dtype, f, *bits, n), OCLA_SUCCESS);
    cr_assert_eq(ocla_convert_to_f32(dtype, *bits, f, n), OCLA_SUCCESS);
    return f;
}

static ocla_tensor *upload(ocla_context *ctx, ocla_dtype dtype, int nd, const int64_t *dims, const float *f,
                           const uint16_t *bits) {
    ocla_tensor *t = NULL;
    tc_ok(ctx, ocla_tensor_create(ctx, dtype, nd, dims, &t));
    const size_t n = (size_t)ocla_tensor_numel(t);
    tc_ok(ctx, ocla_tensor_upload(ctx, t, dtype == OCLA_F32 ? (const void *)f : (const void *)bits,
                                  n * ocla_dtype_size(dtype)));
    return t;
}

/* One forward: returns the normwise max relative error of o (and *state_err of the final state). */
static double run_case(ocla_context *ctx, const half_case *s, ocla_dtype dt, ocla_dtype gdt, ocla_gate_kind gate,
                       double *state_err) {
    const int64_t qd[4] = {s->B, s->T, s->H, s->K}, vd[4] = {s->B, s->T, s->H, s->V};
    const int64_t sd[4] = {s->B, s->H, s->K, s->V}, gd3[3] = {s->B, s->T, s->H};
    const size_t nq = (size_t)s->B * s->T * s->H * s->K, nv = (size_t)s->B * s->T * s->H * s->V;
    const size_t ns = (size_t)s->B * s->H * s->K * s->V, ng = gate == OCLA_GATE_VECTOR ? nq : nq / (size_t)s->K;
    uint16_t *qb, *kb, *vb, *gb, *sb;
    float *q = half_inputs(dt, nq, 1, -1.0f, 1.0f, &qb), *k = half_inputs(dt, nq, 2, -1.0f, 1.0f, &kb);
    float *v = half_inputs(dt, nv, 3, -1.0f, 1.0f, &vb), *g = half_inputs(gdt, ng, 4, -0.6f, 0.0f, &gb);
    float *s0 = half_inputs(OCLA_F32, ns, 5, -0.5f, 0.5f, &sb);
    ocla_tensor *tq = upload(ctx, dt, 4, qd, q, qb), *tk = upload(ctx, dt, 4, qd, k, kb);
    ocla_tensor *tv = upload(ctx, dt, 4, vd, v, vb), *ts0 = upload(ctx, OCLA_F32, 4, sd, s0, sb);
    ocla_tensor *tg = gate == OCLA_GATE_SCALAR   ? upload(ctx, gdt, 3, gd3, g, gb)
                      : gate == OCLA_GATE_VECTOR ? upload(ctx, gdt, 4, qd, g, gb)
                                                 : NULL;
    ocla_tensor *to = NULL, *ts1 = NULL;
    tc_ok(ctx, ocla_tensor_create(ctx, dt, 4, vd, &to));
    tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F32, 4, sd, &ts1));
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.form = OCLA_FORM_RECURRENT, p.gate = gate;
    const ocla_attn_io io = {.q = tq, .k = tk, .v = tv, .g = tg, .initial_state = ts0, .o = to, .final_state = ts1};
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    uint16_t *ob = malloc(nv * sizeof *ob);
    float *o = malloc(nv * sizeof *o), *s1 = tc_download(ctx, ts1);
    cr_assert(ob && o);
    tc_ok(ctx, ocla_tensor_download(ctx, to, ob, nv * sizeof *ob));
    cr_assert_eq(ocla_convert_to_f32(dt, ob, o, nv), OCLA_SUCCESS);
    double *ro = malloc(nv * sizeof *ro), *rs = malloc(ns * sizeof *rs);
    cr_assert(ro && rs);
    const ref_attn_cfg rc = {s->B, s->T, s->H, s->K, s->V, 1, 1.0 / sqrt((double)s->K), 0, 0, 0, (int)gate, NULL};
    ref_attn_recurrent(&rc, q, k, v, tg ? g : NULL, s0, NULL, ro, rs, NULL);
    const double err = tc_max_rel_err(o, ro, nv);
    *state_err = tc_max_rel_err(s1, rs, ns);
    ocla_tensor *all[] = {tq, tk, tv, tg, ts0, to, ts1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(g), free(s0), free(qb), free(kb), free(vb), free(gb), free(sb);
    free(ob), free(o), free(s1), free(ro), free(rs);
    return err;
}

/* Tolerances, normwise (tc_max_rel_err): the output's own rounding is at most the unit roundoff of
 * its dtype, 2^-8 = 3.9e-3 (bf16) and 2^-11 = 4.9e-4 (fp16), of each element, so of the largest; the
 * fp32 state walk over at most 160 tokens adds ~1e-6. Issue 14's targets, 5e-3 and 1e-3, are the
 * bounds. The final state is fp32: 1e-4 (its fp32 arithmetic gives ~1e-6 here). */
Test(half_attention, recurrent_every_gate_and_dtype, .timeout = 600) {
    static const char *const gates[] = {"none", "scalar", "vector", "fixed"};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int gate = OCLA_GATE_NONE; gate <= OCLA_GATE_FIXED; gate++)
                for (int mixed = 0; mixed <= (gate == OCLA_GATE_SCALAR || gate == OCLA_GATE_VECTOR); mixed++) {
                    const double tol = dt == OCLA_BF16 ? 5e-3 : 1e-3;
                    double worst = 0.0, worst_s = 0.0;
                    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
                        double es;
                        const double e = run_case(ctx, &SHAPES[i], (ocla_dtype)dt, mixed ? OCLA_F32 : (ocla_dtype)dt,
                                                  (ocla_gate_kind)gate, &es);
                        cr_assert(e <= tol && es <= 1e-4, "%s %s gate %s%s, shape %zu: o error %.3g (tol %.0e), state %.3g",
                                  tc_device_name(d), ocla_dtype_name((ocla_dtype)dt), gates[gate],
                                  mixed ? " (fp32 gates)" : "", i, e, tol, es);
                        worst = fmax(worst, e), worst_s = fmax(worst_s, es);
                    }
                    cr_log_info("%s: recurrent %s, gate %s%s: o max error %.3g, final state %.3g", tc_device_name(d),
                                ocla_dtype_name((ocla_dtype)dt), gates[gate], mixed ? " (fp32 gates)" : "", worst,
                                worst_s);
                }
        ocla_context_destroy(ctx);
    }
}

/* Mixed data dtypes are refused, naming the tensor: k or o of another dtype than q (bf16 q), in
 * the recurrent and the chunked forms; gates may be fp32 or q's dtype, not the other half type. */
Test(half_attention, mixed_dtypes_refused) {
    ocla_context *ctx = tc_open(0);
    const int64_t d[4] = {1, 8, 1, 16}, gd[3] = {1, 8, 1};
    ocla_tensor *t[4], *k16, *g16;
    for (int i = 0; i < 4; i++) tc_ok(ctx, ocla_tensor_create(ctx, OCLA_BF16, 4, d, &t[i]));
    tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F16, 4, d, &k16));
    tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F16, 3, gd, &g16));
    for (int c = 0; c < 3; c++)
        for (int form = OCLA_FORM_CHUNKED; form <= OCLA_FORM_RECURRENT; form++) {
            ocla_attn_params p;
            ocla_attn_params_defaults(&p);
            p.form = (ocla_attn_form)form;
            ocla_attn_io io = {.q = t[0], .k = c == 0 ? k16 : t[1], .v = t[2], .o = c == 1 ? k16 : t[3]};
            if (c == 2) p.gate = OCLA_GATE_SCALAR, io.g = g16;
            const char *name = c == 0 ? "k" : c == 1 ? "o" : "g";
            cr_assert_eq(ocla_attention_forward(ctx, &p, &io), OCLA_ERR_UNSUPPORTED, "%s", ocla_last_error(ctx));
            cr_assert(tc_names(ocla_last_error(ctx), name) && strstr(ocla_last_error(ctx), "a f16 tensor"), "%s: %s", name,
                      ocla_last_error(ctx));
        }
    for (int i = 0; i < 4; i++) ocla_tensor_destroy(t[i]);
    ocla_tensor_destroy(k16), ocla_tensor_destroy(g16);
    ocla_context_destroy(ctx);
}
