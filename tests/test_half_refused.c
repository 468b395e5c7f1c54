/* SPDX-License-Identifier: MIT */
/* Every op refuses a half-precision tensor it cannot run (issue 14): each entry of the op table
 * (tests/op_table.c), each present array in turn made a bf16, then an fp16 tensor (the others fp32):
 * OCLA_ERR_UNSUPPORTED, a detail naming the array (as a word) and its dtype, and nothing written
 * (every output of the calls from that array's on still holds the canary), so no kernel ever reads
 * half data as fp32. The ops that do take half tensors take them together (ocla_attention_forward in
 * every form and ocla_attention_backward: q, k, v, o of one dtype, the gates fp32 or that dtype, the
 * states fp32 (tests/test_half_attention.c, test_half_chunked.c, test_half_backward.c); softmax
 * attention and Linformer, forward and backward: every tensor of q's dtype; the GLA and multi-head
 * layers: every tensor but the states of x's dtype), so one half array among fp32 ones is refused by
 * them too, naming it or, where the odd one is q or x, naming the first tensor that differs from it
 * "(q's dtype)" / "(x's dtype)": they stay in this list as a check of the mixed-dtype rule. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>

static const float CANARY = -1216.0f; /* -1.0011b * 2^10: exact in bf16 and fp16, which the outputs may be */

/* How many elements of output tensor t no longer hold the canary. */
static size_t written(ocla_context *ctx, const ocla_tensor *t) {
    const size_t n = (size_t)ocla_tensor_numel(t);
    const ocla_dtype dt = ocla_tensor_dtype(t);
    void *raw = malloc(n * ocla_dtype_size(dt));
    float *got = malloc(n * sizeof *got);
    cr_assert(raw && got);
    tc_ok(ctx, ocla_tensor_download(ctx, t, raw, n * ocla_dtype_size(dt)));
    cr_assert_eq(ocla_convert_to_f32(dt, raw, got, n), OCLA_SUCCESS);
    size_t changed = 0;
    for (size_t x = 0; x < n; x++) changed += got[x] != CANARY;
    free(raw);
    free(got);
    return changed;
}

static void expect_refused(ocla_context *ctx, op_case *c, int i, ocla_dtype dtype) {
    const op_entry *e = c->op;
    const char *dn = ocla_dtype_name(dtype);
    c->mut = (op_mutation){OP_MUT_DTYPE, i, 0, (int)dtype, NULL, 0};
    op_tensors ts;
    tc_ok(ctx, op_tensors_create(ctx, c, &ts));
    cr_assert_eq(ocla_tensor_dtype(ts.t[i]), dtype);
    for (int j = 0; j < c->n; j++)
        if (c->a[j].output && ts.t[j]) tc_ok(ctx, ocla_tensor_fill(ctx, ts.t[j], CANARY));
    const ocla_status st = e->call(ctx, c, ts.t);
    const char *msg = ocla_last_error(ctx);
    cr_expect_eq(st, OCLA_ERR_UNSUPPORTED, "%s: %s as %s: %s: %s", e->name, c->a[i].name, dn, ocla_status_string(st),
                 msg);
    cr_expect(tc_names(msg, c->a[i].name) && strstr(msg, dn), "%s: %s as %s: the detail names neither: %s", e->name,
              c->a[i].name, dn, msg);
    for (int j = 0; j < c->n; j++)
        if (c->a[j].output && ts.t[j] && c->a[j].stage >= c->a[i].stage)
            cr_assert_eq(written(ctx, ts.t[j]), 0, "%s: %s as %s: output %s was written", e->name, c->a[i].name, dn,
                         c->a[j].name);
    op_tensors_destroy(&ts);
    c->mut = (op_mutation){0};
}

ParameterizedTestParameters(half_refused, every_argument) {
    return tc_op_entries();
}

ParameterizedTest(int *index, half_refused, every_argument, .timeout = 600) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    int cases = 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        op_case *c = op_case_new(e, &e->shapes[0], 14);
        cr_assert(c && !c->bad, "%s: shapes[0] cannot be made", e->name);
        for (int i = 0; i < c->n; i++)
            if (c->a[i].ndim)
                for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++, cases++) expect_refused(ctx, c, i, (ocla_dtype)dt);
        op_case_free(c);
        ocla_context_destroy(ctx);
    }
    cr_log_info("%s: %d half tensors refused", e->name, cases);
}
