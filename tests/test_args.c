/* SPDX-License-Identifier: MIT */
/* Every tensor argument of every public op, broken one way at a time (issue 21, point 3):
 *
 *   a wrong shape   each dim of the array one larger (Linformer's E, F: one column fewer than T,
 *                   since any n >= T is legal), so every dim that the op reads is checked;
 *   another context the same array made on a second context of the same device;
 *   a wrong dtype   a bf16 tensor in each array's place: tests/test_half_refused.c. A value that is
 *                   no ocla_dtype never reaches an op (a tensor's dtype is set only by create / wrap,
 *                   and the struct is opaque): create and wrap refuse it below (unknown_dtype_is_refused).
 *
 * Each is refused with the right status (OCLA_ERR_SHAPE, OCLA_ERR_INVALID_ARGUMENT), a detail that
 * names the argument (ocla_last_error: the array's name as a word), and nothing written: every output
 * starts as a canary and must still hold it. The cases come from the op table (tests/op_table.c), so
 * an op registered there is covered here; an entry that makes several public calls (forward, then
 * backward) states the call that first takes each array (op_next_call), and the outputs of the calls
 * before the broken one may be written. Prepared attention entries prepare on a template of the
 * right layouts and run with the broken tensor: ocla_attention_run's checks are the ones tested. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>

static const float CANARY = -12345.5f; /* no op computes it from the table's inputs */


static int is_projection(const op_array *a) { return a->ndim && (!strcmp(a->name, "E") || !strcmp(a->name, "F")); }

/* Linformer's other projection (F for E, E for F), -1 when there is none. */
static int twin_of(const op_case *c, int i) {
    for (int j = 0; j < c->n; j++)
        if (j != i && is_projection(&c->a[i]) && is_projection(&c->a[j])) return j;
    return -1;
}

/* The change that makes dim `axis` of array i wrong (alone, or with its twin changed alike): one
 * larger; for ocla_gemm, whose descriptor gives the shapes (a larger tensor is a legal buffer for
 * them), one smaller; for the last dim of Linformer's projections (any n >= T is legal), T - 1.
 * 0: no value is wrong (kp, the rows of a Linformer projection, alone or with its twin's: any kp in
 * 1..n is a model of its own; checked against the twin's when only one changes). */
static int bad_delta(const op_case *c, int i, int axis, int with_twin) {
    const op_array *a = &c->a[i];
    if (!strcmp(c->op->family, "blas")) return a->dims[axis] > 1 ? -1 : 0;
    if (is_projection(a) && axis == a->ndim - 1) return (int)(c->s.T - 1 - a->dims[axis]);
    if (is_projection(a) && axis == a->ndim - 2) return twin_of(c, i) >= 0 && !with_twin ? 1 : 0;
    return 1;
}

/* Runs c (its mutation set) expecting `want` with a detail naming array i (and `also`, when not
 * NULL), and every output of the calls from array i's on still the canary. */
static void expect_refused(ocla_context *ctx, op_case *c, int i, ocla_status want, const char *also,
                           const char *what) {
    const op_entry *e = c->op;
    op_tensors ts;
    tc_ok(ctx, op_tensors_create(ctx, c, &ts));
    for (int j = 0; j < c->n; j++)
        if (c->a[j].output && ts.t[j]) {
            ocla_context *owner = c->mut.kind == OP_MUT_FOREIGN && j == i ? c->mut.foreign : ctx;
            tc_ok(owner, ocla_tensor_fill(owner, ts.t[j], CANARY));
        }
    ocla_status st = e->call(ctx, c, ts.t);
    const char *msg = ocla_last_error(ctx);
    cr_expect_eq(st, want, "%s: %s %s: %s (want %s): %s", e->name, c->a[i].name, what, ocla_status_string(st),
                 ocla_status_string(want), msg);
    cr_expect(tc_names(msg, c->a[i].name), "%s: %s %s: the detail does not name it: %s", e->name, c->a[i].name, what,
              msg);
    if (also) cr_assert(strstr(msg, also), "%s: %s %s: %s", e->name, c->a[i].name, what, msg);
    for (int j = 0; j < c->n; j++) {
        if (!c->a[j].output || !ts.t[j] || c->a[j].stage < c->a[i].stage) continue;
        ocla_context *owner = c->mut.kind == OP_MUT_FOREIGN && j == i ? c->mut.foreign : ctx;
        float *got = tc_download(owner, ts.t[j]);
        const size_t n = (size_t)ocla_tensor_numel(ts.t[j]);
        size_t changed = 0;
        for (size_t x = 0; x < n; x++) changed += got[x] != CANARY;
        free(got);
        cr_assert_eq(changed, 0, "%s: %s %s: %zu of %zu elements of output %s were written",
                     e->name, c->a[i].name, what, changed, n, c->a[j].name);
    }
    op_tensors_destroy(&ts);
}

ParameterizedTestParameters(args, every_argument_refused) {
    return tc_op_entries();
}

/* One entry of the op table: every present array, every dim one larger, then on another context. */
ParameterizedTest(int *index, args, every_argument_refused, .timeout = 600) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    int cases = 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d), *other = tc_open(d);
        op_case *c = op_case_new(e, &e->shapes[0], 21);
        cr_assert(c && !c->bad, "%s: shapes[0] cannot be made", e->name);
        /* the unbroken case runs (else a refusal below would prove nothing) */
        ocla_status st = op_run(ctx, c, NULL, 0, NULL);
        if (st == OCLA_ERR_UNSUPPORTED) {
            cr_log_info("%s on %s: unsupported (skipped): %s", e->name, tc_device_name(d), ocla_last_error(ctx));
        } else {
            cr_assert_eq(st, OCLA_SUCCESS, "%s on %s: %s", e->name, tc_device_name(d), ocla_last_error(ctx));
            for (int i = 0; i < c->n; i++) {
                if (!c->a[i].ndim) continue;
                const int twin = twin_of(c, i);
                for (int axis = 0; axis < c->a[i].ndim; axis++)
                    for (int pair = 0; pair <= (twin > i); pair++) { /* alone, then with its twin (a pair
                                                                        agreeing with each other only) */
                        char what[64];
                        const int delta = bad_delta(c, i, axis, pair);
                        if (!delta) continue;
                        snprintf(what, sizeof what, "with dim %d %+d%s", axis, delta, pair ? " (and its twin)" : "");
                        c->mut = (op_mutation){OP_MUT_DIM, i, axis, delta, NULL, pair ? twin + 1 : 0};
                        expect_refused(ctx, c, i, OCLA_ERR_SHAPE, NULL, what);
                        cases++;
                    }
                c->mut = (op_mutation){OP_MUT_FOREIGN, i, 0, 0, other, 0};
                expect_refused(ctx, c, i, OCLA_ERR_INVALID_ARGUMENT, "another context", "of another context");
                cases++;
            }
        }
        op_case_free(c);
        ocla_context_destroy(other);
        ocla_context_destroy(ctx);
    }
    cr_log_info("%s: %d broken arguments refused", e->name, cases);
}

/* The dtype argument of the API: create and wrap refuse a value that is no ocla_dtype and make nothing. */
Test(args, unknown_dtype_is_refused) {
    ocla_context *ctx = tc_open(0);
    const int64_t dims[2] = {4, 8};
    ocla_tensor *ok = tc_tensor(ctx, 2, dims, NULL);
    static const int bad[] = {3, -1, 255};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ocla_tensor *t = NULL;
        cr_assert_eq(ocla_tensor_create(ctx, (ocla_dtype)bad[i], 2, dims, &t), OCLA_ERR_INVALID_ARGUMENT, "dtype %d",
                     bad[i]);
        cr_assert_null(t);
        cr_assert(strstr(ocla_last_error(ctx), "dtype"), "%s", ocla_last_error(ctx));
        cr_assert_eq(ocla_tensor_wrap(ctx, ocla_tensor_buffer(ok), 0, (ocla_dtype)bad[i], 2, dims, NULL, &t),
                     OCLA_ERR_INVALID_ARGUMENT, "dtype %d", bad[i]);
        cr_assert_null(t);
        cr_assert(strstr(ocla_last_error(ctx), "dtype"), "%s", ocla_last_error(ctx));
    }
    ocla_tensor_destroy(ok);
    ocla_context_destroy(ctx);
}
