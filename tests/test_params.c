/* SPDX-License-Identifier: MIT */
/* Every attention parameter with a value other than its default, on every path (issue 21, point 3):
 * ignoring the caller's params.fixed_log_decay and using RetNet's decays, or ignoring scale or eps,
 * passed every test before, since every test left them at their defaults.
 *
 * Data-driven: the rows of PARAMS below (op_attn_opts, tests/op_table.h) applied to every attention
 * entry of the op table, forward and backward: chunked, recurrent, non-causal, normalised, gated,
 * retention, prepared. The entry's call and its fp64 reference both take the row, and each output
 * is checked against the entry's own tolerance (op_table.c justifies it; 1e-4 forward, 1e-3
 * backward). A field a form does not read (fixed decays without the FIXED gate, eps without the
 * normaliser) leaves that entry as it was, which is also checked. On an NVIDIA device the plan takes
 * the tensor-core path for the causal, unnormalised chunked entries at chunk 64 (runtime/plan_la.c:
 * the row with chunk 64 forces it, the others where the scheduler picks 64), so the same table checks
 * that path: OCLA_TEST_DEVICES=nvidia and the params suite as the filter.
 *
 * The other ops' parameters are op-table entries of their own (Linformer's sharing modes, the GAU
 * layer's ScaleNorm, ...): every entry is already checked on every device by test_op_table.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>

#define MAX_ENTRIES 128

/* per-head log decays unlike RetNet's log(1 - 2^(-5-h)) = -0.031, -0.016, -0.008 (and within the
 * kernels' [-20, 0] range, where the fp32 exp is accurate) */
static const float DECAYS[] = {-0.7f, -0.05f, -2.5f, -0.3f};

typedef struct params_row {
    const char *name;
    op_attn_opts o;
} params_row;

/* Values the kernels take at run time, so the rows reuse the entries' compiled variants (a feature
 * map or a chunk is a compile-time variant: the table's entries already cover every feature map and
 * a forced chunk, shapes[2]); chunk 64 is the NVIDIA path's, and the portable scheduler's pick at
 * these shapes. */
static const params_row PARAMS[] = {
    {"scale 0.37", {.has_scale = 1, .scale = 0.37f}},
    {"eps 0.5 (normaliser)", {.set_eps = 1, .eps = 0.5f}},
    {"eps 0 (normaliser), scale 2.5", {.set_eps = 1, .eps = 0.0f, .has_scale = 1, .scale = 2.5f}},
    {"caller's fixed decays", {.fixed_log_decay = DECAYS}},
    {"caller's fixed decays, chunk 64, scale 0.8", {.fixed_log_decay = DECAYS, .chunk = 64, .has_scale = 1, .scale = 0.8f}},
};
#define N_PARAMS (sizeof PARAMS / sizeof PARAMS[0])

ParameterizedTestParameters(params, attention_non_default_values) {
    static int idx[MAX_ENTRIES];
    int n = 0;
    for (int i = 0; i < op_count() && n < MAX_ENTRIES; i++)
        if (!strcmp(op_get(i)->family, "attention") || !strcmp(op_get(i)->family, "backward")) idx[n++] = i;
    return cr_make_param_array(int, idx, (size_t)n);
}

ParameterizedTest(int *index, params, attention_non_default_values, .timeout = 600) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t r = 0; r < N_PARAMS; r++)
            for (int si = 0; si < e->n_shapes; si += 2) { /* shapes 0 and 2: T = 37 and T = 70, H = 2 and 3 */
                op_case *c = op_case_new(e, &e->shapes[si], 300u + (uint32_t)r);
                cr_assert(c && !c->bad);
                c->attn = &PARAMS[r].o;
                float *out;
                double *ref;
                ocla_status st = op_run_reference(ctx, c, &out, &ref);
                if (st == OCLA_ERR_UNSUPPORTED) {
                    op_case_free(c);
                    continue;
                }
                cr_assert_eq(st, OCLA_SUCCESS, "%s, %s, on %s: %s", e->name, PARAMS[r].name, tc_device_name(d),
                             ocla_last_error(ctx));
                for (int j = 0; j < c->n; j++) {
                    size_t off = 0;
                    const long len = op_output_span(c, j, &off);
                    if (len <= 0) continue;
                    const double err = tc_max_rel_err(out + off, ref + off, (size_t)len);
                    cr_expect_leq(err, e->tol, "%s, %s, on %s, shape %d: %s error %.3g > %.0e", e->name,
                                  PARAMS[r].name, tc_device_name(d), si, c->a[j].name, err, e->tol);
                }
                free(ref), free(out), op_case_free(c);
            }
        ocla_context_destroy(ctx);
    }
}
