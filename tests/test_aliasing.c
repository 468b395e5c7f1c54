/* SPDX-License-Identifier: MIT */
/* The aliasing rule (issue 16, point 3) on every op of the table: an output that shares memory with
 * an input of the same call, or an output view whose own elements overlap (a zero stride), is
 * refused with OCLA_ERR_INVALID_ARGUMENT naming both tensors, before anything runs; the documented
 * in-place updates (initial_state as final_state, initial_z as final_z, the GAU layer's y = x) are
 * not refused; the op still works after a refusal. Both directions: an output on an input's memory,
 * and an input (a weight, a bias) as a view of an output's memory. The rule itself is unit-tested in
 * tests/test_hostile.c (hostile/aliasing_rule); the in-place state update's values in
 * tests/test_attention.c (split_prefill_and_decode_loop) and tests/test_prepared.c. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>


/* haystack contains needle, ignoring case (the API names X, W; the table x, w) */
static int has_name(const char *hay, const char *needle) {
    const size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* Array pairs an op may legitimately take as one tensor: the documented in-place updates. */
static int in_place_pair(const op_entry *e, const char *in, const char *out) {
    if (!strcmp(in, "initial_state") && !strcmp(out, "final_state")) return 1;
    if (!strcmp(in, "initial_z") && !strcmp(out, "final_z")) return 1;
    return !strcmp(e->family, "layer") && strstr(e->name, "gau") && !strcmp(in, "x") && !strcmp(out, "y");
}

static float *run_plain(ocla_context *ctx, const op_entry *e, size_t *n_out, ocla_status *st) {
    op_case *c = op_case_new(e, NULL, 7u);
    cr_assert(c && !c->bad, "%s: cannot make its case", e->name);
    float *out = malloc((c->n_out ? c->n_out : 1) * sizeof *out);
    cr_assert_not_null(out);
    *st = op_run(ctx, c, out, c->n_out, n_out);
    op_case_free(c);
    return out;
}

ParameterizedTestParameters(aliasing, every_op_refuses_an_output_on_an_input) {
    return tc_op_entries();
}

ParameterizedTest(int *index, aliasing, every_op_refuses_an_output_on_an_input, .timeout = 900) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    ocla_context *ctx = tc_open(0);
    size_t n0 = 0;
    ocla_status st0;
    float *before = run_plain(ctx, e, &n0, &st0);
    if (st0 == OCLA_ERR_UNSUPPORTED) {
        cr_log_info("%s: unsupported here (skipped): %s", e->name, ocla_last_error(ctx));
        free(before);
        ocla_context_destroy(ctx);
        return;
    }
    cr_assert_eq(st0, OCLA_SUCCESS, "%s: %s", e->name, ocla_last_error(ctx));
    op_case *c = op_case_new(e, NULL, 7u);
    cr_assert_not_null(c);
    int refused = 0, allowed = 0, bcast = 0;
    for (int o = 0; o < c->n; o++) {
        const op_array *out = &c->a[o];
        /* pure outputs: an in/out array (an SGD parameter, an accumulated gradient) is also an
         * input of a later call in the entry, where taking another input's tensor is legitimate */
        if (!out->ndim || !out->output || out->host) continue;
        for (int i = 0; i < o; i++) {
            const op_array *in = &c->a[i];
            if (!in->ndim || in->output) continue;
            /* the input's memory viewed with the output's dims (an output shaped like the input and on
             * its buffer), where the input is large enough */
            int64_t nin = 1, nout = 1;
            for (int d = 0; d < in->ndim; d++) nin *= in->dims[d];
            for (int d = 0; d < out->ndim; d++) nout *= out->dims[d];
            if (nout > nin) continue;
            c->mut = (op_mutation){OP_MUT_ALIAS, o, i, 1, NULL, 0};
            ocla_status st = op_run(ctx, c, NULL, 0, NULL);
            const char *msg = ocla_last_error(ctx);
            if (in_place_pair(e, in->name, out->name)) {
                cr_expect_eq(st, OCLA_SUCCESS, "%s: %s as %s (in place) refused: %s", e->name, out->name, in->name,
                             msg);
                allowed++;
                continue;
            }
            cr_expect_eq(st, OCLA_ERR_INVALID_ARGUMENT, "%s: output %s as input %s: %s (%s)", e->name, out->name,
                         in->name, ocla_status_string(st), msg);
            cr_expect(has_name(msg, in->name) && has_name(msg, out->name) && strstr(msg, "shares memory"),
                      "%s: output %s as input %s: the message names both: %s", e->name, out->name, in->name, msg);
            refused++;
        }
        /* the other way round: the input as a view of the output's memory (weights, biases: smaller
         * than the output they could be written through) */
        for (int i = 0; i < c->n; i++) {
            const op_array *in = &c->a[i];
            if (i == o || !in->ndim || in->output || in_place_pair(e, in->name, out->name)) continue;
            /* entries that chain a forward and its backward: dy / dg are the later call's inputs, y / g
             * the earlier call's outputs; the same memory for both is a legitimate chain */
            if (in->name[0] == 'd' && !strcmp(in->name + 1, out->name)) continue;
            int64_t nin = 1, nout = 1;
            for (int d = 0; d < in->ndim; d++) nin *= in->dims[d];
            for (int d = 0; d < out->ndim; d++) nout *= out->dims[d];
            if (nin > nout || (i < o && nout <= nin)) continue; /* too large, or the same pair as above */
            c->mut.kind = OP_MUT_NONE;
            op_tensors ts;
            tc_ok(ctx, op_tensors_create(ctx, c, &ts));
            ocla_tensor *saved = ts.t[i], *v = NULL;
            tc_ok(ctx, ocla_tensor_view(ctx, ts.t[o], 0, in->ndim, in->dims, NULL, &v));
            ts.t[i] = v;
            ocla_status st = e->call(ctx, c, ts.t);
            const char *msg = ocla_last_error(ctx);
            cr_expect_eq(st, OCLA_ERR_INVALID_ARGUMENT, "%s: input %s on output %s's memory: %s (%s)", e->name,
                         in->name, out->name, ocla_status_string(st), msg);
            cr_expect(has_name(msg, in->name) && has_name(msg, out->name), "%s: input %s on output %s: %s", e->name,
                      in->name, out->name, msg);
            ts.t[i] = saved;
            ocla_tensor_destroy(v);
            op_tensors_destroy(&ts);
            refused++;
        }
        /* the output as a view whose elements overlap */
        c->mut = (op_mutation){OP_MUT_BCAST, o, 0, 0, NULL, 0};
        ocla_status st = op_run(ctx, c, NULL, 0, NULL);
        const char *msg = ocla_last_error(ctx);
        int all_one = 1;
        for (int d = 0; d < out->ndim; d++) all_one &= out->dims[d] <= 1;
        if (all_one) continue;
        /* dense-only ops (projections, elementwise) refuse the layout first (OCLA_ERR_SHAPE) */
        cr_expect(st == OCLA_ERR_INVALID_ARGUMENT || st == OCLA_ERR_SHAPE, "%s: %s with a zero stride: %s (%s)",
                  e->name, out->name, ocla_status_string(st), msg);
        if (st == OCLA_ERR_INVALID_ARGUMENT)
            cr_expect(has_name(msg, out->name) && strstr(msg, "overlap"), "%s: %s with a zero stride: %s", e->name,
                      out->name, msg);
        bcast++;
    }
    op_case_free(c);
    cr_log_info("%s: %d aliased pairs refused, %d in-place pairs run, %d zero-stride outputs refused", e->name,
                refused, allowed, bcast);
    /* still works, with the same result: the same op, inputs and device, so the same result up to
     * the order of a reduction that a driver may change between runs (a few ulps: 1e-5 normwise is
     * ~100 ulps of margin; a wrong result is O(1)) */
    size_t n1 = 0;
    float *after = run_plain(ctx, e, &n1, &st0);
    cr_assert_eq(st0, OCLA_SUCCESS, "%s after the refusals: %s", e->name, ocla_last_error(ctx));
    cr_assert_eq(n1, n0);
    cr_assert_leq(tc_max_rel_err_f(after, before, n0), 1e-5, "%s: another result after the refusals", e->name);
    free(before), free(after);
    ocla_context_destroy(ctx);
}

/* The in-place state update through the prepared op and the one-shot call: one tensor as initial and
 * final state (and z) is run and equals two tensors; a state that overlaps o, or a final_state that
 * is a shifted view of initial_state, is refused by ocla_attention_run too, and the op runs after. */
Test(aliasing, prepared_op_checks_every_run) {
    ocla_context *ctx = tc_open(0);
    const int64_t B = 1, T = 8, H = 2, K = 8, V = 8;
    const size_t nq = (size_t)(B * T * H * K), nv = (size_t)(B * T * H * V), ns = (size_t)(B * H * K * V);
    float *hq = malloc(nq * sizeof *hq), *hk = malloc(nq * sizeof *hk), *hv = malloc(nv * sizeof *hv);
    float *hs = malloc(ns * sizeof *hs);
    tc_fill_uniform(hq, nq, 1, -1, 1), tc_fill_uniform(hk, nq, 2, -1, 1), tc_fill_uniform(hv, nv, 3, -1, 1);
    tc_fill_uniform(hs, ns, 4, -1, 1);
    ocla_tensor *q = tc_tensor4(ctx, B, T, H, K, hq), *k = tc_tensor4(ctx, B, T, H, K, hk);
    ocla_tensor *v = tc_tensor4(ctx, B, T, H, V, hv), *o = tc_tensor4(ctx, B, T, H, V, NULL);
    ocla_tensor *s = tc_tensor4(ctx, B, H, K, V, hs), *s0 = tc_tensor4(ctx, B, H, K, V, hs);
    ocla_tensor *s1 = tc_tensor4(ctx, B, H, K, V, NULL);
    /* one buffer holding o and a state right after it, and a view of it shifted by one element */
    const int64_t big = (int64_t)(nv + ns + 1);
    ocla_tensor *buf = tc_tensor(ctx, 1, &big, NULL), *o_in = NULL, *s_in = NULL, *s_shift = NULL;
    const int64_t od[4] = {B, T, H, V}, sd[4] = {B, H, K, V};
    tc_ok(ctx, ocla_tensor_view(ctx, buf, 0, 4, od, NULL, &o_in));
    tc_ok(ctx, ocla_tensor_view(ctx, buf, nv, 4, sd, NULL, &s_in));
    tc_ok(ctx, ocla_tensor_view(ctx, buf, nv + 1, 4, sd, NULL, &s_shift));
    tc_ok(ctx, ocla_tensor_upload(ctx, s_in, hs, ns * sizeof *hs));
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.form = OCLA_FORM_RECURRENT;
    ocla_attn_io io = {.q = q, .k = k, .v = v, .o = o, .initial_state = s0, .final_state = s1};
    ocla_attn_op *op = NULL;
    tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
    tc_ok(ctx, ocla_attention_run(op, &io));
    float *want_o = tc_download(ctx, o), *want_s = tc_download(ctx, s1);
    /* in place: s is initial and final state */
    ocla_attn_io inplace = io;
    inplace.initial_state = s, inplace.final_state = s;
    tc_ok(ctx, ocla_attention_run(op, &inplace));
    float *got_o = tc_download(ctx, o), *got_s = tc_download(ctx, s);
    /* the same prepared op on the same values: the same kernels and order, so equal to a few ulps
     * (1e-6 normwise ~ 10 ulps); reading a state being overwritten would be O(1) off */
    cr_expect_leq(tc_max_rel_err_f(got_o, want_o, nv), 1e-6);
    cr_expect_leq(tc_max_rel_err_f(got_s, want_s, ns), 1e-6);
    free(got_o), free(got_s);
    /* o is q: refused by the run (the prepared layouts match) */
    ocla_attn_io bad = io;
    bad.o = (ocla_tensor *)k; /* k [B,T,H,K] has o's layout (K = V) */
    cr_expect_eq(ocla_attention_run(op, &bad), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(ocla_last_error(ctx), "output o shares memory with input k"), "%s", ocla_last_error(ctx));
    cr_expect_eq(ocla_attention_forward(ctx, &p, &bad), OCLA_ERR_INVALID_ARGUMENT);
    /* final_state overlapping initial_state partly (not the same layout): refused */
    bad = io;
    bad.initial_state = s_in, bad.final_state = s_shift;
    cr_expect_eq(ocla_attention_run(op, &bad), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(ocla_last_error(ctx), "final_state") && strstr(ocla_last_error(ctx), "initial_state"), "%s",
              ocla_last_error(ctx));
    /* o and the state in one buffer, apart: fine */
    bad = io;
    bad.o = o_in, bad.initial_state = s_in, bad.final_state = s_in;
    tc_ok(ctx, ocla_attention_run(op, &bad));
    /* a prepare with the aliased tensors is refused as well */
    ocla_attn_op *op2 = NULL;
    bad = io;
    bad.final_state = (ocla_tensor *)s0;
    bad.initial_state = s_shift; /* same dims, other memory than s0: fine */
    tc_ok(ctx, ocla_attention_prepare(ctx, &p, &bad, &op2));
    ocla_attention_op_destroy(op2), op2 = NULL;
    bad.o = (ocla_tensor *)k;
    cr_expect_eq(ocla_attention_prepare(ctx, &p, &bad, &op2), OCLA_ERR_INVALID_ARGUMENT);
    cr_expect_null(op2);
    /* still runs, same result */
    tc_ok(ctx, ocla_attention_run(op, &io));
    float *again = tc_download(ctx, o);
    /* as above: the same prepared op and values */
    cr_expect_leq(tc_max_rel_err_f(again, want_o, nv), 1e-6);
    free(again), free(want_o), free(want_s);
    ocla_attention_op_destroy(op);
    ocla_tensor *ts[] = {q, k, v, o, s, s0, s1, o_in, s_in, s_shift, buf};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ocla_tensor_destroy(ts[i]);
    free(hq), free(hk), free(hv), free(hs);
    ocla_context_destroy(ctx);
}
