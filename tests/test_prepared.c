/* SPDX-License-Identifier: MIT */
/* The prepared-op API (plan once, launch many) and the hot path it promises, on every device:
 *  - a prepared op gives the one-shot call's results, bit for bit (same plan, same kernels);
 *  - a decode loop through a prepared op (state in place) equals the fp64 recurrence;
 *  - after the first run, runs make no kernel lookup, cache allocation, source hash, upload or
 *    environment read (ocla_debug_get_counters); a cached kernel lookup hashes and allocates
 *    nothing;
 *  - runs with other layouts are refused; the op explains the plan it runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ocla_debug.h"
#include "ref/ref_attention.h"

typedef struct pcase {
    int B, T, H, K, V;
    ocla_gate_kind gate;
    int normalize;
    ocla_attn_form form;
} pcase;

typedef struct pdata {
    ocla_tensor *q, *k, *v, *g, *o, *s;
} pdata;

static void make(ocla_context *ctx, const pcase *c, uint32_t seed, pdata *d, float **hq, float **hk, float **hv,
                 float **hg) {
    const size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * c->H * c->V;
    const size_t ng = c->gate == OCLA_GATE_VECTOR ? nq : (size_t)c->B * c->T * c->H;
    *hq = malloc(nq * 4), *hk = malloc(nq * 4), *hv = malloc(nv * 4), *hg = malloc(ng * 4);
    tc_fill_uniform(*hq, nq, seed + 1, c->normalize ? 0.0f : -1.0f, 1);
    tc_fill_uniform(*hk, nq, seed + 2, c->normalize ? 0.0f : -1.0f, 1);
    tc_fill_uniform(*hv, nv, seed + 3, -1, 1);
    tc_fill_uniform(*hg, ng, seed + 4, -0.5f, 0);
    d->q = tc_tensor4(ctx, c->B, c->T, c->H, c->K, *hq);
    d->k = tc_tensor4(ctx, c->B, c->T, c->H, c->K, *hk);
    d->v = tc_tensor4(ctx, c->B, c->T, c->H, c->V, *hv);
    d->o = tc_tensor4(ctx, c->B, c->T, c->H, c->V, NULL);
    d->s = tc_tensor4(ctx, c->B, c->H, c->K, c->V, NULL);
    d->g = NULL;
    if (c->gate == OCLA_GATE_VECTOR) d->g = tc_tensor4(ctx, c->B, c->T, c->H, c->K, *hg);
    if (c->gate == OCLA_GATE_SCALAR) {
        const int64_t gd[3] = {c->B, c->T, c->H};
        d->g = tc_tensor(ctx, 3, gd, *hg);
    }
}

static void drop(pdata *d) {
    ocla_tensor_destroy(d->q), ocla_tensor_destroy(d->k), ocla_tensor_destroy(d->v);
    ocla_tensor_destroy(d->g), ocla_tensor_destroy(d->o), ocla_tensor_destroy(d->s);
}

static ocla_attn_io io_of(const pdata *d) {
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = d->q, io.k = d->k, io.v = d->v, io.g = d->g, io.o = d->o, io.final_state = d->s;
    return io;
}

/* Two cases a, b of a's gate on one context (seeds seed, seed + 1): their tensors and host inputs, the
 * params (chunk 0: the scheduler's) and each one's io. */
typedef struct ppair {
    pdata da, db;
    float *h[8];
    ocla_attn_params p;
    ocla_attn_io ia, ib;
} ppair;

static void pair_make(ocla_context *ctx, const pcase *a, const pcase *b, uint32_t seed, int chunk, ppair *r) {
    make(ctx, a, seed, &r->da, &r->h[0], &r->h[1], &r->h[2], &r->h[3]);
    make(ctx, b, seed + 1, &r->db, &r->h[4], &r->h[5], &r->h[6], &r->h[7]);
    ocla_attn_params_defaults(&r->p);
    r->p.gate = a->gate;
    if (chunk) r->p.chunk = chunk;
    r->ia = io_of(&r->da), r->ib = io_of(&r->db);
}

static void pair_drop(ppair *r) {
    for (int i = 0; i < 8; i++) free(r->h[i]);
    drop(&r->da), drop(&r->db);
}

/* Prepared op == one-shot call (bit-identical), for chunked and recurrent forms and every gate. */
Test(prepared, equals_one_shot, .timeout = 1800) {
    static const pcase cases[] = {
        {2, 100, 3, 32, 48, OCLA_GATE_VECTOR, 0, OCLA_FORM_CHUNKED},
        {1, 130, 2, 64, 64, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED},
        {1, 70, 4, 16, 16, OCLA_GATE_FIXED, 0, OCLA_FORM_CHUNKED},
        {1, 65, 2, 32, 32, OCLA_GATE_NONE, 1, OCLA_FORM_CHUNKED},
        {2, 9, 2, 32, 32, OCLA_GATE_VECTOR, 0, OCLA_FORM_RECURRENT},
        {1, 5, 3, 16, 24, OCLA_GATE_FIXED, 1, OCLA_FORM_RECURRENT},
    };
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const pcase *c = &cases[i];
            pdata d;
            float *hq, *hk, *hv, *hg;
            make(ctx, c, 10 + (uint32_t)i, &d, &hq, &hk, &hv, &hg);
            ocla_attn_params p;
            ocla_attn_params_defaults(&p);
            p.gate = c->gate, p.normalize = c->normalize, p.form = c->form;
            ocla_attn_io io = io_of(&d);
            tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
            float *o1 = tc_download(ctx, d.o), *s1 = tc_download(ctx, d.s);
            tc_ok(ctx, ocla_tensor_fill(ctx, d.o, 0.0f));
            tc_ok(ctx, ocla_tensor_fill(ctx, d.s, 0.0f));
            ocla_attn_op *op = NULL;
            tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
            tc_ok(ctx, ocla_attention_run(op, &io));
            tc_ok(ctx, ocla_attention_run(op, &io)); /* twice: no state carried between runs */
            float *o2 = tc_download(ctx, d.o), *s2 = tc_download(ctx, d.s);
            const size_t nv = (size_t)c->B * c->T * c->H * c->V, ns = (size_t)c->B * c->H * c->K * c->V;
            cr_assert(!memcmp(o1, o2, nv * 4), "case %zu on %s: prepared output differs from the one-shot call", i,
                      tc_device_name(dv));
            cr_assert(!memcmp(s1, s2, ns * 4), "case %zu on %s: prepared state differs", i, tc_device_name(dv));
            char text[1024];
            ocla_plan plan;
            tc_ok(ctx, ocla_attention_op_explain(op, &plan, text, sizeof text));
            cr_assert(strstr(text, c->form == OCLA_FORM_RECURRENT ? "la_recurrent" : "chunk"), "%s", text);
            cr_assert_eq(plan.op, c->form == OCLA_FORM_RECURRENT ? OCLA_OP_ATTN_RECURRENT
                                  : c->gate == OCLA_GATE_VECTOR  ? OCLA_OP_GLA_CHUNK
                                  : c->gate == OCLA_GATE_NONE    ? OCLA_OP_LINEAR_CHUNK
                                                                 : OCLA_OP_SIMPLE_GLA_CHUNK);
            ocla_attention_op_destroy(op);
            free(o1), free(s1), free(o2), free(s2), free(hq), free(hk), free(hv), free(hg);
            drop(&d);
        }
        ocla_context_destroy(ctx);
    }
}

/* A decode loop through one prepared op (T = 1, state updated in place, new inputs uploaded into
 * the same tensors every step) equals the fp64 recurrence over the whole sequence, and the steps
 * after the first do no lookup, cache allocation, hashing, upload or environment read. */
Test(prepared, decode_loop_hot_path, .timeout = 1800) {
    const int B = 2, H = 3, K = 32, V = 40, STEPS = 24;
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        const pcase one = {B, 1, H, K, V, OCLA_GATE_VECTOR, 0, OCLA_FORM_RECURRENT};
        const pcase all = {B, STEPS, H, K, V, OCLA_GATE_VECTOR, 0, OCLA_FORM_RECURRENT};
        float *hq, *hk, *hv, *hg;
        pdata full;
        make(ctx, &all, 77, &full, &hq, &hk, &hv, &hg); /* host inputs of the whole sequence */
        drop(&full);
        pdata d;
        float *xq, *xk, *xv, *xg;
        make(ctx, &one, 1, &d, &xq, &xk, &xv, &xg);
        free(xq), free(xk), free(xv), free(xg);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = OCLA_GATE_VECTOR, p.form = OCLA_FORM_RECURRENT;
        ocla_attn_io io = io_of(&d);
        io.initial_state = d.s; /* in place */
        ocla_attn_op *op = NULL;
        tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
        float *o = malloc((size_t)B * STEPS * H * V * 4), *row = malloc((size_t)B * H * (K > V ? K : V) * 4);
        ocla_debug_counters c0, c1;
        for (int t = 0; t < STEPS; t++) {
            /* rows t of [B,STEPS,H,D] -> [B,1,H,D] */
            for (int which = 0; which < 4; which++) {
                const float *src = which == 0 ? hq : which == 1 ? hk : which == 2 ? hv : hg;
                const int D = which == 2 ? V : K;
                for (int b = 0; b < B; b++)
                    memcpy(row + (size_t)b * H * D, src + ((size_t)b * STEPS + t) * H * D, (size_t)H * D * 4);
                ocla_tensor *dst = which == 0 ? d.q : which == 1 ? d.k : which == 2 ? d.v : d.g;
                tc_ok(ctx, ocla_tensor_upload(ctx, dst, row, (size_t)B * H * D * 4));
            }
            if (t == 1) ocla_debug_get_counters(ctx, &c0);
            tc_ok(ctx, ocla_attention_run(op, &io));
            tc_ok(ctx, ocla_tensor_download(ctx, d.o, row, (size_t)B * H * V * 4));
            for (int b = 0; b < B; b++)
                memcpy(o + ((size_t)b * STEPS + t) * H * V, row + (size_t)b * H * V, (size_t)H * V * 4);
        }
        ocla_debug_get_counters(ctx, &c1);
        cr_assert_eq(c1.kernel_lookups, c0.kernel_lookups, "runs looked kernels up");
        cr_assert_eq(c1.cache_allocs, c0.cache_allocs, "runs allocated in the caches");
        cr_assert_eq(c1.source_hashes, c0.source_hashes, "runs hashed a source");
        cr_assert_eq(c1.uploads, c0.uploads, "runs uploaded constants");
        cr_assert_eq(c1.env_reads, c0.env_reads, "runs read the environment");
        ref_attn_cfg rc;
        memset(&rc, 0, sizeof rc);
        rc.B = B, rc.T = STEPS, rc.H = H, rc.K = K, rc.V = V, rc.causal = 1, rc.scale = 1.0 / sqrt((double)K);
        rc.gate = 2;
        const size_t nv = (size_t)B * STEPS * H * V;
        double *ro = malloc(nv * 8), *rs = malloc((size_t)B * H * K * V * 8);
        ref_attn_recurrent(&rc, hq, hk, hv, hg, NULL, NULL, ro, rs, NULL);
        float *s = tc_download(ctx, d.s);
        const double eo = tc_max_rel_err(o, ro, nv), es = tc_max_rel_err(s, rs, (size_t)B * H * K * V);
        cr_log_info("decode loop on %s: o %.2e state %.2e", tc_device_name(dv), eo, es);
        cr_assert_leq(eo, 1e-4, "decode output error %g on %s", eo, tc_device_name(dv));
        cr_assert_leq(es, 1e-4, "decode state error %g on %s", es, tc_device_name(dv));
        free(s), free(ro), free(rs), free(o), free(row), free(hq), free(hk), free(hv), free(hg);
        ocla_attention_op_destroy(op);
        drop(&d);
        ocla_context_destroy(ctx);
    }
}

/* The one-shot call reuses its prepared op: a repeated call looks nothing up; a new shape with
 * kernels already built finds them without hashing a source or allocating in the caches. */
Test(prepared, one_shot_cache_and_cached_lookup, .timeout = 1800) {
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        const pcase a = {1, 40, 2, 32, 32, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED};
        const pcase b = {2, 50, 2, 32, 32, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED};
        ppair r;
        pair_make(ctx, &a, &b, 5, 32, &r);
        tc_ok(ctx, ocla_attention_forward(ctx, &r.p, &r.ia)); /* builds */
        ocla_debug_counters c0, c1, c2;
        ocla_debug_get_counters(ctx, &c0);
        tc_ok(ctx, ocla_attention_forward(ctx, &r.p, &r.ia)); /* the cached prepared op */
        ocla_debug_get_counters(ctx, &c1);
        cr_assert_eq(c1.kernel_lookups, c0.kernel_lookups, "a repeated one-shot call looked kernels up");
        cr_assert_eq(c1.uploads, c0.uploads);
        cr_assert_eq(c1.env_reads, c0.env_reads);
        tc_ok(ctx, ocla_attention_forward(ctx, &r.p, &r.ib)); /* new shape, same kernels: cached lookups */
        ocla_debug_get_counters(ctx, &c2);
        cr_assert_gt(c2.kernel_lookups, c1.kernel_lookups, "the new shape was planned");
        cr_assert_eq(c2.kernel_creates, c1.kernel_creates, "the kernels were already built");
        cr_assert_eq(c2.source_hashes, c1.source_hashes, "a cached kernel lookup hashed a source");
        cr_assert_eq(c2.cache_allocs, c1.cache_allocs, "a cached kernel lookup allocated");
        pair_drop(&r);
        ocla_context_destroy(ctx);
    }
}

/* Runs with tensors of other layouts, or from another context, are refused with the detail. */
Test(prepared, refuses_other_layouts, .timeout = 900) {
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        const pcase a = {1, 20, 2, 16, 16, OCLA_GATE_VECTOR, 0, OCLA_FORM_CHUNKED};
        const pcase b = {1, 21, 2, 16, 16, OCLA_GATE_VECTOR, 0, OCLA_FORM_CHUNKED};
        ppair r;
        pair_make(ctx, &a, &b, 5, 0, &r);
        ocla_attn_op *op = NULL;
        tc_ok(ctx, ocla_attention_prepare(ctx, &r.p, &r.ia, &op));
        cr_assert_eq(ocla_attention_run(op, &r.ib), OCLA_ERR_SHAPE);
        cr_assert(strstr(ocla_last_error(ctx), "q"), "%s", ocla_last_error(ctx));
        ocla_attn_io ic = r.ia;
        ic.final_state = NULL;
        cr_assert_eq(ocla_attention_run(op, &ic), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(ocla_last_error(ctx), "final_state"), "%s", ocla_last_error(ctx));
        cr_assert_eq(ocla_attention_run(op, NULL), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_attention_run(NULL, &r.ia), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_attention_prepare(ctx, &r.p, &r.ia, NULL), OCLA_ERR_INVALID_ARGUMENT);
        r.ia.g = NULL; /* bad io: refused at prepare */
        ocla_attn_op *bad = (ocla_attn_op *)1;
        cr_assert_eq(ocla_attention_prepare(ctx, &r.p, &r.ia, &bad), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_null(bad);
        ocla_attention_op_destroy(op);
        ocla_attention_op_destroy(NULL);
        pair_drop(&r);
        ocla_context_destroy(ctx);
    }
}

/* Ops that share a kernel variant keep their own arguments: the one-shot call alternating between
 * two shapes (two cached ops, same kernels) and two prepared ops run in turn give the results of
 * running each alone. (Kernel arguments belong to a cl_kernel: each op has its own.) */
Test(prepared, alternating_ops_keep_their_arguments, .timeout = 1800) {
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        const pcase a = {1, 40, 2, 32, 32, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED};
        const pcase b = {2, 70, 2, 32, 32, OCLA_GATE_SCALAR, 0, OCLA_FORM_CHUNKED};
        ppair r;
        pair_make(ctx, &a, &b, 7, 32, &r);
        const size_t na = (size_t)a.B * a.T * a.H * a.V, nb = (size_t)b.B * b.T * b.H * b.V;
        tc_ok(ctx, ocla_attention_forward(ctx, &r.p, &r.ia));
        tc_ok(ctx, ocla_attention_forward(ctx, &r.p, &r.ib));
        float *a1 = tc_download(ctx, r.da.o), *b1 = tc_download(ctx, r.db.o);
        for (int round = 0; round < 2; round++) {
            ocla_attn_op *oa = NULL, *ob = NULL;
            if (round == 1) {
                tc_ok(ctx, ocla_attention_prepare(ctx, &r.p, &r.ia, &oa));
                tc_ok(ctx, ocla_attention_prepare(ctx, &r.p, &r.ib, &ob));
            }
            for (int it = 0; it < 2; it++) {
                tc_ok(ctx, ocla_tensor_fill(ctx, r.da.o, 0.0f));
                tc_ok(ctx, ocla_tensor_fill(ctx, r.db.o, 0.0f));
                tc_ok(ctx, oa ? ocla_attention_run(oa, &r.ia) : ocla_attention_forward(ctx, &r.p, &r.ia));
                tc_ok(ctx, ob ? ocla_attention_run(ob, &r.ib) : ocla_attention_forward(ctx, &r.p, &r.ib));
                float *a2 = tc_download(ctx, r.da.o), *b2 = tc_download(ctx, r.db.o);
                cr_assert(!memcmp(a1, a2, na * 4), "round %d: the first op ran with the other's arguments on %s", round,
                          tc_device_name(dv));
                cr_assert(!memcmp(b1, b2, nb * 4), "round %d: the second op differs on %s", round, tc_device_name(dv));
                free(a2), free(b2);
            }
            ocla_attention_op_destroy(oa);
            ocla_attention_op_destroy(ob);
        }
        free(a1), free(b1);
        pair_drop(&r);
        ocla_context_destroy(ctx);
    }
}
