/* SPDX-License-Identifier: MIT */
/* State slots (ocla_attn_params.state_slots): the states are a pool [S,H,K,V] (z [S,H,K]) and row
 * b reads and writes row state_slots[b]. On every device, for the recurrent (decode) and chunked
 * forms and every gate kind:
 *  - a run with slots equals the dense run whose initial states were gathered from the pool by
 *    hand, and its final states land in the rows the slots name (scattered by hand), the other
 *    rows untouched;
 *  - the prepared op and ocla_attention_op_set_slots do the same, a decode step stays one launch,
 *    and steps whose slots did not change upload nothing;
 *  - slots out of the pool, repeated, of the wrong count or without a state tensor are refused,
 *    naming the index. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ocla_debug.h"

enum { B = 3, S = 5, H = 2 };

typedef struct scase {
    int T, K, V;
    ocla_gate_kind gate;
    int normalize;
    ocla_attn_form form;
} scase;

/* Inputs of one case on the host. */
typedef struct shost {
    float *q, *k, *v, *g, *pool, *zpool; /* pool [S,H,K,V], zpool [S,H,K] */
    size_t nq, nv, ng, ns, nz;
} shost;

static void host_make(const scase *c, uint32_t seed, shost *h) {
    h->nq = (size_t)B * c->T * H * c->K, h->nv = (size_t)B * c->T * H * c->V;
    h->ng = c->gate == OCLA_GATE_VECTOR ? h->nq : (size_t)B * c->T * H;
    h->ns = (size_t)S * H * c->K * c->V, h->nz = (size_t)S * H * c->K;
    h->q = malloc(h->nq * 4), h->k = malloc(h->nq * 4), h->v = malloc(h->nv * 4), h->g = malloc(h->ng * 4);
    h->pool = malloc(h->ns * 4), h->zpool = malloc(h->nz * 4);
    /* the normaliser's denominators stay away from 0 with non-negative q, k and z */
    const float lo = c->normalize ? 0.0f : -1.0f;
    tc_fill_uniform(h->q, h->nq, seed + 1, lo, 1), tc_fill_uniform(h->k, h->nq, seed + 2, lo, 1);
    tc_fill_uniform(h->v, h->nv, seed + 3, -1, 1), tc_fill_uniform(h->g, h->ng, seed + 4, -0.5f, 0);
    tc_fill_uniform(h->pool, h->ns, seed + 5, -1, 1), tc_fill_uniform(h->zpool, h->nz, seed + 6, 0, 1);
}

static void host_free(shost *h) {
    free(h->q), free(h->k), free(h->v), free(h->g), free(h->pool), free(h->zpool);
}

static ocla_tensor *gate_tensor(ocla_context *ctx, const scase *c, const float *g) {
    if (c->gate == OCLA_GATE_VECTOR) return tc_tensor4(ctx, B, c->T, H, c->K, g);
    if (c->gate != OCLA_GATE_SCALAR) return NULL;
    const int64_t gd[3] = {B, c->T, H};
    return tc_tensor(ctx, 3, gd, g);
}

static ocla_attn_params params_of(const scase *c) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = c->gate, p.normalize = c->normalize, p.form = c->form, p.feature_map = OCLA_FEATURE_IDENTITY;
    return p;
}

/* Pool rows to or from rows (per row: H*n floats), by slot. */
static void gather(const float *pool, const int32_t *slots, size_t per, float *rows) {
    for (int b = 0; b < B; b++) memcpy(rows + (size_t)b * per, pool + (size_t)slots[b] * per, per * 4);
}

/* Run the case with slots (pool in place) and densely (gathered states); compare. */
static void check_case(ocla_context *ctx, int d, const scase *c, const int32_t slots[B], uint32_t seed, int prepared) {
    shost h;
    host_make(c, seed, &h);
    const size_t per_s = (size_t)H * c->K * c->V, per_z = (size_t)H * c->K;
    ocla_tensor *q = tc_tensor4(ctx, B, c->T, H, c->K, h.q), *k = tc_tensor4(ctx, B, c->T, H, c->K, h.k);
    ocla_tensor *v = tc_tensor4(ctx, B, c->T, H, c->V, h.v), *g = gate_tensor(ctx, c, h.g);
    ocla_tensor *o_slot = tc_tensor4(ctx, B, c->T, H, c->V, NULL), *o_dense = tc_tensor4(ctx, B, c->T, H, c->V, NULL);
    ocla_tensor *pool = tc_tensor4(ctx, S, H, c->K, c->V, h.pool);
    const int64_t zd[3] = {S, H, c->K}, zbd[3] = {B, H, c->K};
    ocla_tensor *zpool = c->normalize ? tc_tensor(ctx, 3, zd, h.zpool) : NULL;
    float *rows = malloc((size_t)B * per_s * 4), *zrows = malloc((size_t)B * per_z * 4);
    gather(h.pool, slots, per_s, rows), gather(h.zpool, slots, per_z, zrows);
    ocla_tensor *s_dense = tc_tensor4(ctx, B, H, c->K, c->V, rows);
    ocla_tensor *z_dense = c->normalize ? tc_tensor(ctx, 3, zbd, zrows) : NULL;

    ocla_attn_params p = params_of(c);
    ocla_attn_io io = {.q = q, .k = k, .v = v, .g = g, .o = o_dense, .initial_state = s_dense,
                       .final_state = s_dense, .initial_z = z_dense, .final_z = z_dense};
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    io.o = o_slot, io.initial_state = io.final_state = pool, io.initial_z = io.final_z = zpool;
    p.state_slots = slots, p.n_state_slots = B;
    if (prepared) { /* prepared with other slots, then set to these */
        const int32_t other[B] = {0, 1, 2};
        ocla_attn_params pp = p;
        pp.state_slots = other;
        ocla_attn_op *op;
        tc_ok(ctx, ocla_attention_prepare(ctx, &pp, &io, &op));
        tc_ok(ctx, ocla_attention_op_set_slots(op, slots, B));
        tc_ok(ctx, ocla_attention_run(op, &io));
        ocla_attention_op_destroy(op);
    } else {
        tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    }
    float *os = tc_download(ctx, o_slot), *od = tc_download(ctx, o_dense), *ps = tc_download(ctx, pool);
    float *sd = tc_download(ctx, s_dense);
    /* the same kernels on the same values in the same order: equal to rounding; 1e-6 normwise
     * leaves room for a driver that contracts differently per launch */
    const double tol = 1e-6;
    double *odd = tc_to_double(od, h.nv);
    const double eo = tc_max_rel_err(os, odd, h.nv);
    cr_assert_leq(eo, tol, "%s: gate %d form %d norm %d T %d: o err %g", tc_device_name(d), (int)c->gate,
                  (int)c->form, c->normalize, c->T, eo);
    for (int sl = 0; sl < S; sl++) {
        int b = -1;
        for (int r = 0; r < B; r++)
            if (slots[r] == sl) b = r;
        const float *got = ps + (size_t)sl * per_s;
        if (b < 0) { /* a slot no row names: untouched, bit for bit */
            cr_assert(!memcmp(got, h.pool + (size_t)sl * per_s, per_s * 4), "%s: slot %d changed", tc_device_name(d), sl);
            continue;
        }
        double *ref = tc_to_double(sd + (size_t)b * per_s, per_s);
        const double es = tc_max_rel_err(got, ref, per_s);
        free(ref);
        cr_assert_leq(es, tol, "%s: gate %d form %d: state of row %d (slot %d) err %g", tc_device_name(d),
                      (int)c->gate, (int)c->form, b, sl, es);
    }
    if (c->normalize) {
        float *zs = tc_download(ctx, zpool), *zdn = tc_download(ctx, z_dense);
        for (int b = 0; b < B; b++) {
            double *ref = tc_to_double(zdn + (size_t)b * per_z, per_z);
            const double ez = tc_max_rel_err(zs + (size_t)slots[b] * per_z, ref, per_z);
            free(ref);
            cr_assert_leq(ez, tol, "%s: z of row %d err %g", tc_device_name(d), b, ez);
        }
        free(zs), free(zdn);
    }
    free(os), free(od), free(ps), free(sd), free(odd), free(rows), free(zrows);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
    ocla_tensor_destroy(o_slot), ocla_tensor_destroy(o_dense), ocla_tensor_destroy(pool), ocla_tensor_destroy(zpool);
    ocla_tensor_destroy(s_dense), ocla_tensor_destroy(z_dense);
    host_free(&h);
}

/* Both forms, every gate kind, with and without the normaliser (ungated), one-shot and prepared. */
Test(slots, equal_dense_gathered, .timeout = 1800) {
    static const ocla_gate_kind gates[] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR, OCLA_GATE_VECTOR, OCLA_GATE_FIXED};
    static const int32_t slots[B] = {3, 0, 4};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int which = 0;
        for (int form = 0; form < 2; form++)
            for (int gi = 0; gi < 4; gi++)
                for (int norm = 0; norm <= (gates[gi] == OCLA_GATE_NONE); norm++, which++) {
                    /* decode: T = 1 (and a few tokens); chunked: more than one chunk of 64 */
                    const scase c = {form ? (which % 2 ? 1 : 3) : 70, 32, 24, gates[gi], norm, (ocla_attn_form)form};
                    check_case(ctx, d, &c, slots, 40 + (uint32_t)which, which % 3 == 0);
                }
        /* long enough that llvmpipe splits the recurrent walk (the carry between launches is dense;
         * the slots index the first launch's S0 and the last one's S1) and the chunked walk */
        const scase rec = {2500, 32, 24, OCLA_GATE_VECTOR, 1, OCLA_FORM_RECURRENT};
        check_case(ctx, d, &rec, slots, 90, 0);
        const scase chk = {2500, 32, 24, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED};
        check_case(ctx, d, &chk, slots, 91, 1);
        ocla_context_destroy(ctx);
    }
}

/* A decode loop through a prepared op: one launch per step, and no upload while the slots stay. */
Test(slots, decode_one_launch_no_upload, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options opts;
        ocla_context_options_defaults(&opts);
        opts.profiling = 1;
        ocla_context *ctx = tc_open_with(d, &opts);
        const scase c = {1, 64, 64, OCLA_GATE_VECTOR, 0, OCLA_FORM_RECURRENT};
        shost h;
        host_make(&c, 5, &h);
        ocla_tensor *q = tc_tensor4(ctx, B, 1, H, c.K, h.q), *k = tc_tensor4(ctx, B, 1, H, c.K, h.k);
        ocla_tensor *v = tc_tensor4(ctx, B, 1, H, c.V, h.v), *g = gate_tensor(ctx, &c, h.g);
        ocla_tensor *o = tc_tensor4(ctx, B, 1, H, c.V, NULL), *pool = tc_tensor4(ctx, S, H, c.K, c.V, h.pool);
        ocla_attn_params p = params_of(&c);
        int32_t slots[B] = {4, 2, 0};
        p.state_slots = slots, p.n_state_slots = B;
        const ocla_attn_io io = {.q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = pool, .final_state = pool};
        ocla_attn_op *op;
        tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
        tc_ok(ctx, ocla_attention_run(op, &io)); /* first run: arguments bound */
        ocla_debug_counters before, after;
        ocla_debug_get_counters(ctx, &before);
        tc_ok(ctx, ocla_profile_begin(ctx));
        for (int s = 0; s < 4; s++) tc_ok(ctx, ocla_attention_run(op, &io));
        double ms;
        int kernels;
        tc_ok(ctx, ocla_profile_end(ctx, &ms, &kernels));
        ocla_debug_get_counters(ctx, &after);
        cr_assert_eq(kernels, 4, "%s: %d kernels for 4 decode steps", tc_device_name(d), kernels);
        cr_assert_eq(after.uploads, before.uploads, "%s: a step with unchanged slots uploaded", tc_device_name(d));
        slots[1] = 3; /* a row moves: one upload, the same results as the one-shot call */
        tc_ok(ctx, ocla_attention_op_set_slots(op, slots, B));
        ocla_debug_get_counters(ctx, &after);
        cr_assert_eq(after.uploads, before.uploads + 1, "%s: a changed slot table is uploaded once", tc_device_name(d));
        tc_ok(ctx, ocla_attention_op_set_slots(op, slots, B)); /* unchanged: nothing */
        ocla_debug_get_counters(ctx, &before);
        cr_assert_eq(after.uploads, before.uploads, "%s", tc_device_name(d));
        ocla_attention_op_destroy(op);
        ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
        ocla_tensor_destroy(o), ocla_tensor_destroy(pool);
        host_free(&h);
        ocla_context_destroy(ctx);
    }
}

/* Bad slots: outside the pool (either end), repeated, wrong count, no state tensor, non-causal, and
 * ocla_attention_op_set_slots on an op prepared without slots or with bad values. Nothing runs. */
Test(slots, bad_input_refused, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int form = 0; form < 2; form++) {
            const scase c = {2, 16, 16, OCLA_GATE_SCALAR, 0, (ocla_attn_form)form};
            shost h;
            host_make(&c, 9, &h);
            ocla_tensor *q = tc_tensor4(ctx, B, c.T, H, c.K, h.q), *v = tc_tensor4(ctx, B, c.T, H, c.V, h.v);
            ocla_tensor *g = gate_tensor(ctx, &c, h.g), *o = tc_tensor4(ctx, B, c.T, H, c.V, NULL);
            ocla_tensor *pool = tc_tensor4(ctx, S, H, c.K, c.V, h.pool);
            ocla_attn_params p = params_of(&c);
            ocla_attn_io io = {.q = q, .k = q, .v = v, .g = g, .o = o, .initial_state = pool, .final_state = pool};
            int32_t slots[B] = {0, S, 1};
            p.state_slots = slots, p.n_state_slots = B;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "state_slots[1] = 5");
            slots[1] = -1;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "state_slots[1] = -1");
            slots[1] = 2, slots[2] = 0;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "state_slots[2] = 0 repeats state_slots[0]");
            slots[2] = 1;
            p.n_state_slots = B - 1;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "n_state_slots");
            p.n_state_slots = B;
            ocla_attn_io none = io;
            none.initial_state = none.final_state = NULL;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &none), "no state tensor");
            tc_ok(ctx, ocla_attention_forward(ctx, &p, &io)); /* the fixed table runs */
            ocla_tensor *bigger = tc_tensor4(ctx, S + 1, H, c.K, c.V, NULL); /* pools of two sizes */
            ocla_attn_io two = io;
            two.final_state = bigger;
            cr_assert_eq(ocla_attention_forward(ctx, &p, &two), OCLA_ERR_SHAPE, "%s", tc_device_name(d));
            cr_assert(strstr(ocla_last_error(ctx), "final_state: dim 0 is 6, initial_state's is 5"), "%s",
                      ocla_last_error(ctx));
            ocla_tensor_destroy(bigger);
            ocla_attn_op *op;
            tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
            const int32_t dup[B] = {4, 4, 0}, out[B] = {0, 1, 7};
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_op_set_slots(op, dup, B), "state_slots[1] = 4 repeats state_slots[0]");
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_op_set_slots(op, out, B), "state_slots[2] = 7");
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_op_set_slots(op, slots, B + 1), "n != B");
            ocla_attention_op_destroy(op);
            slots[0] = 9;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_prepare(ctx, &p, &io, &op), "state_slots[0] = 9");
            slots[0] = 0;
            ocla_attn_params nc = p;
            nc.causal = 0, nc.gate = OCLA_GATE_NONE, nc.form = OCLA_FORM_CHUNKED;
            ocla_attn_io nio = io;
            nio.g = NULL;
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &nc, &nio), "non-causal");
            p.state_slots = NULL; /* dense states are [B,...]: the pool's first dim is refused */
            cr_assert_eq(ocla_attention_forward(ctx, &p, &io), OCLA_ERR_SHAPE, "%s", tc_device_name(d));
            ocla_tensor *dense = tc_tensor4(ctx, B, H, c.K, c.V, NULL);
            io.initial_state = io.final_state = dense;
            tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
            tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_op_set_slots(op, slots, B), "without params.state_slots");
            ocla_attention_op_destroy(op);
            ocla_tensor_destroy(dense);
            ocla_tensor_destroy(q), ocla_tensor_destroy(v), ocla_tensor_destroy(g), ocla_tensor_destroy(o);
            ocla_tensor_destroy(pool);
            host_free(&h);
        }
        ocla_context_destroy(ctx);
    }
}
