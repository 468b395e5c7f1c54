/* SPDX-License-Identifier: MIT */
/* Packed sequences (ocla_attn_params.cu_seqlens): N sequences back to back in [1,T,H,D], states
 * per sequence [N,H,K,V]. On every device, for linear attention with and without the normaliser,
 * simple GLA, retention and GLA, at every chunk size the scheduler may pick:
 *  - the packed call equals each sequence run alone (its own initial state in, final state out),
 *    for length mixes with 1, C-1, C, C+1 and a long one, in random order;
 *  - packed with state slots reads and writes the slots' rows;
 *  - the plan is the portable one and says why; bad offsets are refused, naming the offset. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "plan.h"

enum { H = 2, K = 32, V = 24, MAXN = 8 };

typedef struct vcase {
    ocla_gate_kind gate;
    int normalize, chunk, n;
    int32_t cu[MAXN + 1];
} vcase;

/* The host inputs of T packed tokens. */
typedef struct vhost {
    float *q, *k, *v, *g, *s0, *z0;
    int T;
} vhost;

static size_t gate_width(ocla_gate_kind gate) { return gate == OCLA_GATE_VECTOR ? K : 1; }

static void host_make(const vcase *c, uint32_t seed, vhost *h) {
    const int T = c->cu[c->n];
    const size_t nq = (size_t)T * H * K, nv = (size_t)T * H * V, ng = (size_t)T * H * gate_width(c->gate);
    h->T = T;
    h->q = malloc(nq * 4), h->k = malloc(nq * 4), h->v = malloc(nv * 4), h->g = malloc(ng * 4);
    h->s0 = malloc((size_t)c->n * H * K * V * 4), h->z0 = malloc((size_t)c->n * H * K * 4);
    const float lo = c->normalize ? 0.0f : -1.0f; /* non-negative q, k, z: denominators away from 0 */
    tc_fill_uniform(h->q, nq, seed + 1, lo, 1), tc_fill_uniform(h->k, nq, seed + 2, lo, 1);
    tc_fill_uniform(h->v, nv, seed + 3, -1, 1), tc_fill_uniform(h->g, ng, seed + 4, -0.5f, 0);
    tc_fill_uniform(h->s0, (size_t)c->n * H * K * V, seed + 5, -1, 1);
    tc_fill_uniform(h->z0, (size_t)c->n * H * K, seed + 6, 0, 1);
}

static void host_free(vhost *h) { free(h->q), free(h->k), free(h->v), free(h->g), free(h->s0), free(h->z0); }

static ocla_tensor *gate_tensor(ocla_context *ctx, ocla_gate_kind gate, int T, const float *g) {
    if (gate == OCLA_GATE_VECTOR) return tc_tensor4(ctx, 1, T, H, K, g);
    if (gate != OCLA_GATE_SCALAR) return NULL;
    const int64_t gd[3] = {1, T, H};
    return tc_tensor(ctx, 3, gd, g);
}

static ocla_attn_params params_of(const vcase *c) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = c->gate, p.normalize = c->normalize, p.chunk = c->chunk;
    return p;
}

/* Tokens [t0, t1) of sequence i alone: o [t1-t0, H, V] into o_ref at t0, final states into s_ref,
 * z_ref at row i. */
static void run_alone(ocla_context *ctx, const vcase *c, const vhost *h, int i, float *o_ref, float *s_ref,
                      float *z_ref) {
    const int t0 = c->cu[i], L = c->cu[i + 1] - t0;
    const size_t sk = (size_t)H * K * V, zk = (size_t)H * K, gw = gate_width(c->gate);
    ocla_tensor *q = tc_tensor4(ctx, 1, L, H, K, h->q + (size_t)t0 * H * K);
    ocla_tensor *k = tc_tensor4(ctx, 1, L, H, K, h->k + (size_t)t0 * H * K);
    ocla_tensor *v = tc_tensor4(ctx, 1, L, H, V, h->v + (size_t)t0 * H * V);
    ocla_tensor *g = gate_tensor(ctx, c->gate, L, h->g + (size_t)t0 * H * gw);
    ocla_tensor *o = tc_tensor4(ctx, 1, L, H, V, NULL), *s = tc_tensor4(ctx, 1, H, K, V, h->s0 + i * sk);
    const int64_t zd[3] = {1, H, K};
    ocla_tensor *z = c->normalize ? tc_tensor(ctx, 3, zd, h->z0 + i * zk) : NULL;
    ocla_attn_params p = params_of(c);
    const ocla_attn_io io = {
        .q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = s, .final_state = s, .initial_z = z, .final_z = z};
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    float *ho = tc_download(ctx, o), *hs = tc_download(ctx, s);
    memcpy(o_ref + (size_t)t0 * H * V, ho, (size_t)L * H * V * 4);
    memcpy(s_ref + i * sk, hs, sk * 4);
    if (z) {
        float *hz = tc_download(ctx, z);
        memcpy(z_ref + i * zk, hz, zk * 4);
        free(hz);
    }
    free(ho), free(hs);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
    ocla_tensor_destroy(o), ocla_tensor_destroy(s), ocla_tensor_destroy(z);
}

static void expect_close(const float *got, const float *ref, size_t n, const char *what, int d, const vcase *c) {
    double *r = tc_to_double(ref, n);
    const double e = tc_max_rel_err(got, r, n);
    free(r);
    /* the same kernels over the same chunks of each sequence: equal to rounding (1e-6 normwise
     * leaves room for a driver that contracts differently between the two programs' launches) */
    cr_assert_leq(e, 1e-6, "%s: %s err %g (gate %d norm %d chunk %d, %d sequences, T %d)", tc_device_name(d), what, e,
                  (int)c->gate, c->normalize, c->chunk, c->n, c->cu[c->n]);
}

/* The context the sequences run alone in: ctx itself, or where ctx's device has the NVIDIA tensor-core
 * path (which a sequence alone may take, packed sequences never do) a twin of it with the portable
 * kernels only, so both sides run the same kernels (the two paths differ by ~1e-6, 3xTF32 against
 * fp32). *twin: the context to destroy, or NULL. */
static ocla_context *alone_context(ocla_context *ctx, int d, ocla_context **twin) {
    const ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 128, H, K, V, 64, 0, 0, 0};
    ocla_plan plan;
    tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, NULL, 0));
    *twin = NULL;
    if (plan.path == OCLA_PATH_PORTABLE) return ctx;
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.portable_kernels_only = 1;
    return *twin = tc_open_with(d, &o);
}

/* Packed (optionally through state slots: sequence i in slot n - 1 - i of a pool of n + 1) vs
 * every sequence alone. */
static void check_case(ocla_context *ctx, int d, const vcase *c, uint32_t seed, int slots, int prepared) {
    vhost h;
    host_make(c, seed, &h);
    const int N = c->n, T = h.T, S = slots ? N + 1 : N;
    const size_t sk = (size_t)H * K * V, zk = (size_t)H * K;
    float *o_ref = malloc((size_t)T * H * V * 4), *s_ref = malloc(N * sk * 4), *z_ref = malloc(N * zk * 4);
    ocla_context *twin, *alone = alone_context(ctx, d, &twin);
    for (int i = 0; i < N; i++) run_alone(alone, c, &h, i, o_ref, s_ref, z_ref);
    if (twin) ocla_context_destroy(twin);

    int32_t slot[MAXN];
    float *pool = calloc(S * sk, 4), *zpool = calloc(S * zk, 4);
    for (int i = 0; i < N; i++) {
        slot[i] = slots ? N - 1 - i : i;
        memcpy(pool + slot[i] * sk, h.s0 + i * sk, sk * 4), memcpy(zpool + slot[i] * zk, h.z0 + i * zk, zk * 4);
    }
    ocla_tensor *q = tc_tensor4(ctx, 1, T, H, K, h.q), *k = tc_tensor4(ctx, 1, T, H, K, h.k);
    ocla_tensor *v = tc_tensor4(ctx, 1, T, H, V, h.v), *g = gate_tensor(ctx, c->gate, T, h.g);
    ocla_tensor *o = tc_tensor4(ctx, 1, T, H, V, NULL), *s = tc_tensor4(ctx, S, H, K, V, pool);
    const int64_t zd[3] = {S, H, K};
    ocla_tensor *z = c->normalize ? tc_tensor(ctx, 3, zd, zpool) : NULL;
    ocla_attn_params p = params_of(c);
    p.cu_seqlens = c->cu, p.n_seqs = N;
    if (slots) p.state_slots = slot, p.n_state_slots = N;
    const ocla_attn_io io = {
        .q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = s, .final_state = s, .initial_z = z, .final_z = z};
    if (prepared) {
        ocla_attn_op *op;
        tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
        ocla_plan plan;
        char text[512];
        tc_ok(ctx, ocla_attention_op_explain(op, &plan, text, sizeof text));
        cr_assert_eq(plan.path, OCLA_PATH_PORTABLE, "%s: %s", tc_device_name(d), text);
        cr_assert(strstr(text, "packed sequences: portable kernels"), "%s: %s", tc_device_name(d), text);
        tc_ok(ctx, ocla_attention_run(op, &io));
        ocla_attention_op_destroy(op);
    } else {
        tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    }
    float *ho = tc_download(ctx, o), *hs = tc_download(ctx, s);
    expect_close(ho, o_ref, (size_t)T * H * V, "o", d, c);
    for (int i = 0; i < N; i++) expect_close(hs + slot[i] * sk, s_ref + i * sk, sk, "final state", d, c);
    if (slots) /* the slot no sequence names: untouched */
        cr_assert(!memcmp(hs + N * sk, pool + N * sk, sk * 4), "%s: the free slot changed", tc_device_name(d));
    if (z) {
        float *hz = tc_download(ctx, z);
        for (int i = 0; i < N; i++) expect_close(hz + slot[i] * zk, z_ref + i * zk, zk, "final z", d, c);
        free(hz);
    }
    free(ho), free(hs), free(o_ref), free(s_ref), free(z_ref), free(pool), free(zpool);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
    ocla_tensor_destroy(o), ocla_tensor_destroy(s), ocla_tensor_destroy(z);
    host_free(&h);
}

/* The chunk sizes the scheduler may pick for a packed request of this gate kind. */
static int candidates(ocla_context *ctx, ocla_gate_kind gate, int *chunks) {
    ocla_plan_limits L;
    OCLA_LOCK(ctx);
    ocla_status st = ocla__plan_limits(ctx, &L);
    OCLA_UNLOCK(ctx);
    cr_assert_eq(st, OCLA_SUCCESS, "%s", ocla_last_error(ctx));
    const ocla_op_kind op = gate == OCLA_GATE_VECTOR ? OCLA_OP_GLA_CHUNK
                            : gate == OCLA_GATE_NONE ? OCLA_OP_LINEAR_CHUNK
                                                     : OCLA_OP_SIMPLE_GLA_CHUNK;
    const ocla_plan_request r = {op, 1, 1000, H, K, V, 0, OCLA_PLAN_VARLEN, (int)gate, 0};
    const int n = ocla_plan_candidates(&L, &r, chunks, 8);
    cr_assert_gt(n, 0, "no chunk candidates");
    return n;
}

/* Lengths 1, C-1, C, C+1, a long one (3C + 7) and two random ones, shuffled. */
static void length_mix(int C, uint32_t seed, vcase *c) {
    int len[MAXN] = {1, C - 1, C, C + 1, 3 * C + 7, 0, 0};
    float r[4];
    tc_fill_uniform(r, 4, seed, 0, 1);
    len[5] = 1 + (int)(r[0] * 2 * C), len[6] = 1 + (int)(r[1] * C / 2);
    const int n = 7;
    for (int i = n - 1; i > 0; i--) { /* a fixed shuffle from the seed */
        const int j = (int)((seed * 2654435761u + (uint32_t)i * 40503u) % (uint32_t)(i + 1)), t = len[i];
        len[i] = len[j], len[j] = t;
    }
    c->n = n, c->cu[0] = 0;
    for (int i = 0; i < n; i++) c->cu[i + 1] = c->cu[i] + len[i];
}

static void sweep(ocla_gate_kind gate, int normalize) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int chunks[8];
        const int nc = candidates(ctx, gate, chunks);
        for (int ci = 0; ci < nc; ci++) {
            vcase c = {gate, normalize, chunks[ci], 0, {0}};
            const uint32_t seed = 300 + 17 * (uint32_t)ci + 5 * (uint32_t)gate + (uint32_t)normalize;
            length_mix(c.chunk, seed, &c);
            check_case(ctx, d, &c, seed, ci % 2, ci == 0);
        }
        ocla_context_destroy(ctx);
    }
}

Test(varlen, linear, .timeout = 1800) { sweep(OCLA_GATE_NONE, 0); }
Test(varlen, linear_normalized, .timeout = 1800) { sweep(OCLA_GATE_NONE, 1); }
Test(varlen, simple_gla, .timeout = 1800) { sweep(OCLA_GATE_SCALAR, 0); }
Test(varlen, retention, .timeout = 1800) { sweep(OCLA_GATE_FIXED, 0); }
Test(varlen, gla, .timeout = 1800) { sweep(OCLA_GATE_VECTOR, 0); }

/* One sequence, and many sequences of one token each (every chunk a sequence's whole). */
Test(varlen, one_and_singletons, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        vcase one = {OCLA_GATE_VECTOR, 0, 0, 1, {0, 150}};
        check_case(ctx, d, &one, 71, 0, 0);
        vcase singles = {OCLA_GATE_SCALAR, 0, 0, MAXN, {0, 1, 2, 3, 4, 5, 6, 7, 8}};
        check_case(ctx, d, &singles, 72, 1, 0);
        ocla_context_destroy(ctx);
    }
}

/* Offsets not starting at 0, empty or decreasing sequences, not covering T, B != 1, the recurrent
 * form, states with B rows instead of N: refused, naming what. The plan explains its path. */
Test(varlen, bad_offsets_refused, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        const int T = 10;
        ocla_tensor *q = tc_tensor4(ctx, 1, T, H, K, NULL), *v = tc_tensor4(ctx, 1, T, H, V, NULL);
        ocla_tensor *o = tc_tensor4(ctx, 1, T, H, V, NULL), *s = tc_tensor4(ctx, 3, H, K, V, NULL);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        int32_t cu[4] = {0, 4, 7, T};
        p.cu_seqlens = cu, p.n_seqs = 3;
        ocla_attn_io io = {.q = q, .k = q, .v = v, .o = o, .final_state = s};
        tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
        cu[0] = 1;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "cu_seqlens[0] = 1");
        cu[0] = 0, cu[2] = 4;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "sequence 1 is empty");
        cu[2] = 3;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "cu_seqlens[2] = 3");
        cu[2] = 7, cu[3] = T - 1;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "cu_seqlens[3] = 9");
        cu[3] = T;
        p.n_seqs = 0;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "n_seqs");
        p.n_seqs = 2; /* states [3,...] for 2 sequences */
        cu[2] = T;
        tc_refused(ctx, OCLA_ERR_SHAPE, ocla_attention_forward(ctx, &p, &io), "final_state");
        p.n_seqs = 3, cu[2] = 7;
        p.form = OCLA_FORM_RECURRENT;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_forward(ctx, &p, &io), "chunked form");
        p.form = OCLA_FORM_CHUNKED;
        ocla_tensor *q2 = tc_tensor4(ctx, 2, 5, H, K, NULL), *v2 = tc_tensor4(ctx, 2, 5, H, V, NULL);
        ocla_tensor *o2 = tc_tensor4(ctx, 2, 5, H, V, NULL);
        const ocla_attn_io io2 = {.q = q2, .k = q2, .v = v2, .o = o2};
        tc_refused(ctx, OCLA_ERR_SHAPE, ocla_attention_forward(ctx, &p, &io2), "[1,T,H,K]");
        /* the scheduler's explanation names the path and why */
        const ocla_plan_request r = {OCLA_OP_GLA_CHUNK, 1, 1000, H, K, V, 64, OCLA_PLAN_VARLEN, OCLA_GATE_VECTOR, 0};
        ocla_plan plan;
        char text[512];
        tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, text, sizeof text));
        cr_assert_eq(plan.path, OCLA_PATH_PORTABLE, "%s", text);
        cr_assert(strstr(text, "la_gate_cumsum_seq") && strstr(text, "packed sequences: portable kernels"), "%s",
                  text);
        ocla_tensor_destroy(q), ocla_tensor_destroy(v), ocla_tensor_destroy(o), ocla_tensor_destroy(s);
        ocla_tensor_destroy(q2), ocla_tensor_destroy(v2), ocla_tensor_destroy(o2);
        ocla_context_destroy(ctx);
    }
}
