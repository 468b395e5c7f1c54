/* SPDX-License-Identifier: MIT */
/* Inputs of very different magnitudes (issue 21, point 3). The op table's cases (tests/op_table.c)
 * with the rows of one input scaled by 1e-5, 1e-4, ..., 1e3 in turn and every tenth row all zero,
 * every output checked three ways against the fp64 reference of the same scaled inputs:
 *
 *   normwise  tc_max_rel_err, as the accuracy test: the error relative to the largest output;
 *   rowwise   tc_max_rel_err_rows: each row relative to its own largest value, so a mistake
 *             confined to small rows (an eps added where it should clamp, an eps outside a square
 *             root) is as visible as one in the largest row;
 *   elementwise (the elementwise gate): tc_elem_err, each element relative to itself.
 *
 * Which input is scaled: the one the outputs depend on linearly or through a norm, so that every row
 * stays a well-conditioned function of its inputs and the entry's own tolerance (op_table.c says why
 * it holds) bounds each row: q for linear attention and its backward (o_t = scale phi(q_t)^T S_t),
 * v for softmax, FLASH and Linformer (a q or k row scaled by 1e3 makes the scores 1e3 times larger
 * and the softmax an argmax decided by the fp32 rounding of the scores: ill-conditioned, not a test
 * of the op), A for GEMM, SGD's gradient, x for the blocks and the GLA, linear and GAU layers (the GAU layer's
 * LayerNorm / ScaleNorm sees rows of RMS 1e-5 ... 1e3 and 0: its eps decides the small rows). The
 * softmax and Linformer layers are left out: x feeds their scores (as above). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>


/* The input array of an entry whose rows are scaled, NULL where none can be (see above). */
static const char *scaled_array(const op_entry *e) {
    static const struct {
        const char *family, *array;
    } by_family[] = {{"attention", "q"}, {"backward", "q"}, {"softmax", "v"}, {"flash", "v"},
                     {"linformer", "v"}, {"blas", "a"},     {"block", "x"},   {"layer", "x"}};
    if (!strcmp(e->name, "mha_softmax_layer") || !strcmp(e->name, "mha_linformer_layer")) return NULL;
    if (!strcmp(e->name, "sgd_step")) return "grad";
    for (size_t i = 0; i < sizeof by_family / sizeof by_family[0]; i++)
        if (!strcmp(e->family, by_family[i].family)) return by_family[i].array;
    return NULL;
}

/* Row r of an array (its last dim) times 10^(r mod 10 - 5) for r mod 10 < 9 (1e-5 ... 1e3), zero
 * for r mod 10 = 9. Returns the number of rows. */
static long scale_rows(op_array *a) {
    const long cols = (long)a->dims[a->ndim - 1];
    long n = 1;
    for (int d = 0; d < a->ndim; d++) n *= (long)a->dims[d];
    for (long r = 0; r < n / cols; r++) {
        const int k = (int)(r % 10);
        const float s = k == 9 ? 0.0f : (float)pow(10.0, k - 5);
        for (long c = 0; c < cols; c++) a->host[r * cols + c] *= s;
    }
    return n / cols;
}

ParameterizedTestParameters(magnitudes, rows_from_1e_5_to_1e3) {
    return tc_op_entries();
}

ParameterizedTest(int *index, magnitudes, rows_from_1e_5_to_1e3, .timeout = 600) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    const char *name = scaled_array(e);
    if (!name) cr_skip_test("%s: no input whose scale leaves the op well-conditioned (test_magnitudes.c)", e->name);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int si = 0; si < e->n_shapes; si++) {
            op_case *c = op_case_new(e, &e->shapes[si], 77u + (uint32_t)si);
            cr_assert(c && !c->bad, "%s: shape %d cannot be made", e->name, si);
            int i = 0;
            while (i < c->n && strcmp(c->a[i].name, name)) i++;
            cr_assert(i < c->n && c->a[i].host, "%s has no input %s", e->name, name);
            const long rows = scale_rows(&c->a[i]);
            float *out;
            double *ref;
            ocla_status st = op_run_reference(ctx, c, &out, &ref);
            if (st == OCLA_ERR_UNSUPPORTED) {
                op_case_free(c);
                continue;
            }
            cr_assert_eq(st, OCLA_SUCCESS, "%s on %s: %s", e->name, tc_device_name(d), ocla_last_error(ctx));
            for (int j = 0; j < c->n; j++) {
                size_t off = 0;
                const long len = op_output_span(c, j, &off);
                if (len <= 0) continue;
                const size_t cols = (size_t)c->a[j].dims[c->a[j].ndim - 1];
                const double nw = tc_max_rel_err(out + off, ref + off, (size_t)len),
                             rw = tc_max_rel_err_rows(out + off, ref + off, (size_t)len, cols);
                cr_expect(nw <= e->tol && rw <= e->tol,
                          "%s on %s, shape %d, %ld rows of %s scaled 1e-5..1e3 and 0: %s error normwise %.3g, "
                          "rowwise %.3g > %.0e",
                          e->name, tc_device_name(d), si, rows, name, c->a[j].name, nw, rw, e->tol);
                if (!strncmp(e->name, "gate_logsigmoid", 15)) {
                    /* elementwise: fp32 logsigmoid and sigmoid are a few ulps (rtol 1e-5 = 80 ulps
                     * of margin); atol 1e-36 covers a result below FLT_MIN that a device flushes to
                     * zero (sigmoid(-x) for x > 87) */
                    const double el = tc_elem_err(out + off, ref + off, (size_t)len, 1e-36, 1e-5);
                    cr_expect(el <= 1, "%s on %s: %s elementwise error %.3g x (1e-36 + 1e-5 |ref|)", e->name,
                              tc_device_name(d), c->a[j].name, el);
                }
            }
            free(ref), free(out), op_case_free(c);
        }
        ocla_context_destroy(ctx);
    }
}
