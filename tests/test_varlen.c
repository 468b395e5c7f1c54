/* SPDX-License-Identifier: MIT */
/* Packed sequences (ocla_attn_params.cu_seqlens): N sequences back to back in [1,T,H,D], states
 * per sequence [N,H,K,V]. On every device, for linear attention with and without the normaliser,
 * simple GLA, retention and GLA, at every chunk size the scheduler may pick:
 *  - the packed call equals each sequence run alone (its own initial state in, final state out),
 *    for length mixes with 1, C-1, C, C+1 and a long one, in random order;
 *  - packed with state slots reads and writes the slots' rows;
 *  - the plan is the portable one, or the NVIDIA path's, and says why; bad offsets are refused,
 *    naming the offset;
 *  - on the NVIDIA path, walks forced short (carries between a sequence's portions), with and
 *    without initial and final states;
 *  - the backward (varlen_bwd): the packed gradients (dq, dk, dv, dg, initial-state gradients) equal
 *    each sequence's through the dense backward alone, for every gate kind, every chunk the
 *    backward's scheduler may pick and a forced small one, with and without initial states; one mix
 *    against the fp64 reference; the same offsets refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "ocla_debug.h"
#include "op_common.h"
#include "plan.h"
#include "ref/ref_grad.h"

enum { H = 2, K = 32, V = 24, MAXN = 8 };

typedef struct vcase {
    ocla_gate_kind gate;
    int normalize, chunk, n;
    int32_t cu[MAXN + 1];
    int nostates; /* 1: no initial states (zeros alone), 2: no final states, 3: neither */
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
    if (c->nostates & 1) memset(h->s0, 0, (size_t)c->n * H * K * V * 4);
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

/* The bound of expect_close (varlen.nv_walks raises it: see there). expect_close reports every case
 * past it (cr_expect: the test goes on to the next case) and the test fails at its end. */
static double tolerance = 1e-6;

static void expect_close(const float *got, const float *ref, size_t n, const char *what, int d, const vcase *c) {
    double *r = tc_to_double(ref, n);
    const double e = tc_max_rel_err(got, r, n);
    free(r);
    /* the same kernels over the same chunks of each sequence: equal to rounding (1e-6 normwise
     * leaves room for a driver that contracts differently between the two programs' launches) */
    cr_expect_leq(e, tolerance, "%s: %s err %g (gate %d norm %d chunk %d, %d sequences, T %d, states %d)", tc_device_name(d),
                  what, e, (int)c->gate, c->normalize, c->chunk, c->n, c->cu[c->n], 3 - c->nostates);
}

/* The context the sequences run alone in: ctx itself where a sequence alone takes the path the packed
 * call takes, else a twin of it with the portable kernels only, so both sides run the same kernels
 * (the NVIDIA tensor-core path and the portable kernels differ by ~1e-6, 3xTF32 against fp32). The
 * packed forward of case c (slots: through state slots) plans as a request with OCLA_PLAN_VARLEN
 * (and OCLA_PLAN_SLOTS); c NULL: the packed backward, which runs the portable kernels (plan_bwd.c).
 * *twin: the context to destroy, or NULL. */
static ocla_context *alone_context(ocla_context *ctx, int d, const vcase *c, int slots, ocla_context **twin) {
    const ocla_gate_kind gate = c ? c->gate : OCLA_GATE_NONE;
    const ocla_op_kind op = gate == OCLA_GATE_NONE     ? OCLA_OP_LINEAR_CHUNK
                            : gate == OCLA_GATE_VECTOR ? OCLA_OP_GLA_CHUNK
                                                       : OCLA_OP_SIMPLE_GLA_CHUNK;
    ocla_plan_request r = {op, 1, 128, H, K, V, 64, c && c->normalize ? OCLA_PLAN_NORMALIZE : 0u, gate, 0};
    ocla_plan alone, packed;
    tc_ok(ctx, ocla_plan_explain(ctx, &r, &alone, NULL, 0));
    packed.path = OCLA_PATH_PORTABLE;
    r.flags |= OCLA_PLAN_VARLEN | (slots ? OCLA_PLAN_SLOTS : 0u);
    if (c) tc_ok(ctx, ocla_plan_explain(ctx, &r, &packed, NULL, 0));
    *twin = NULL;
    if (alone.path == packed.path) return ctx;
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
    ocla_context *twin, *alone = alone_context(ctx, d, c, slots, &twin);
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
    const ocla_attn_io io = {.q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = c->nostates & 1 ? NULL : s,
                             .final_state = c->nostates & 2 ? NULL : s, .initial_z = z, .final_z = z};
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
    for (int i = 0; i < N && !(c->nostates & 2); i++) expect_close(hs + slot[i] * sk, s_ref + i * sk, sk, "final state", d, c);
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
    const ocla_op_kind op = gate == OCLA_GATE_VECTOR ? OCLA_OP_GLA_CHUNK
                            : gate == OCLA_GATE_NONE ? OCLA_OP_LINEAR_CHUNK
                                                     : OCLA_OP_SIMPLE_GLA_CHUNK;
    const ocla_plan_request r = {op, 1, 1000, H, K, V, 0, OCLA_PLAN_VARLEN, (int)gate, 0};
    return tc_plan_candidates(ctx, &r, chunks, 8);
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
            vcase c = {gate, normalize, chunks[ci], 0, {0}, 0};
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

/* The NVIDIA path (where the device has it) walks each sequence in portions of at most a few
 * 64-row blocks of the packed axis, each from a zero state, and a carry pass adds what came before a
 * portion: forced to 1 and 2 blocks a walk (the 3C + 7 sequence then spans up to five portions) and
 * the op's own pick, every gate kind, with and without initial and final states. Bound 2e-6: a carry
 * decays an earlier portion's end by exp(L), L the fp32 sum of the log gates between, where a walk
 * alone multiplies the state by each chunk's exp(G_last); both are off by about |L| eps relative
 * (L reaches -15 over these mixes' gates), and at one or two blocks a walk the two measured 1.0 to
 * 1.4e-6 apart on an H200 in 5 of these 48 cases (no gate and per-key gates within 1e-6). */
Test(varlen, nv_walks, .timeout = 1800) {
    tolerance = 2e-6;
    static const ocla_gate_kind gates[4] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR, OCLA_GATE_FIXED, OCLA_GATE_VECTOR};
    static const int widths[3] = {0, 2, 1};
    for (int d = 0; d < tc_device_count(); d++)
        for (int w = 0; w < 3; w++) {
            ocla_context *ctx = tc_open(d); /* a fresh one: the one-shot call's ops keep their walks */
            const ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 1000, H, K, V, 64, OCLA_PLAN_VARLEN, 0, 0};
            ocla_plan plan;
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, NULL, 0));
            if (plan.path == OCLA_PATH_NVIDIA_MMA) {
                ocla_debug_nv_walk_width(ctx, widths[w]);
                for (int gi = 0; gi < 4; gi++)
                    for (int ns = 3; ns >= 0; ns--) { /* without states first */
                        vcase c = {gates[gi], 0, 64, 0, {0}, ns};
                        const uint32_t seed = 900 + 31 * (uint32_t)w + 7 * (uint32_t)gi + (uint32_t)ns;
                        length_mix(64, seed, &c);
                        check_case(ctx, d, &c, seed, 0, 0);
                    }
            }
            ocla_context_destroy(ctx);
        }
    tolerance = 1e-6;
}

/* A [1, L, WH, width] tensor of dtype dt (fp32 or bf16) holding host (rounded to dt). */
static ocla_tensor *wide_tensor(ocla_context *ctx, ocla_dtype dt, int64_t L, int64_t heads, int64_t width, const float *host) {
    const int64_t dims[4] = {1, L, heads, width};
    return dt == OCLA_F32 ? tc_tensor4(ctx, 1, L, heads, width, host) : tc_tensor_as(ctx, dt, 4, dims, host);
}

/* The NVIDIA path at a wider shape than the file's: K 128 (two key tiles in the state pass), V 96 (a
 * partial value tile), the elu + 1 feature map (a masked row's zero k reads as phi(0) = 1: its v, zero
 * too, keeps it out), with and without per-key gates, walks of one block and the op's pick, initial and
 * final states (one tensor), fp32 and bf16 data: packed against each sequence alone, 2e-6 in fp32
 * (nv_walks' bound); in bf16 1e-2: two bf16 computations over different chunks (the packed axis'
 * blocks, each sequence's own), each within half_chunked's 5e-3 of fp64 (bf16 chunk states, scores
 * rounded for S V, a carried block's state rounded twice); measured 4.8e-3 (no gate) and 5.3e-3 (GLA)
 * apart on the H200, the same with walks of one block and of the pick. NVIDIA only. */
Test(varlen, nv_walks_wide, .timeout = 900) {
    enum { WH = 2, WK = 128, WV = 96, WN = 6 };
    static const int lens[WN] = {1, 63, 64, 65, 300, 130};
    int32_t cu[WN + 1] = {0};
    for (int i = 0; i < WN; i++) cu[i + 1] = cu[i] + lens[i];
    const int T = cu[WN];
    const size_t nq = (size_t)T * WH * WK, nv = (size_t)T * WH * WV, sk = (size_t)WH * WK * WV;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(nq * 4), *s0 = malloc(WN * sk * 4);
    float *o_ref = malloc(nv * 4), *s_ref = malloc(WN * sk * 4);
    tc_fill_uniform(q, nq, 41, -1, 1), tc_fill_uniform(k, nq, 42, -1, 1), tc_fill_uniform(v, nv, 43, -1, 1);
    tc_fill_uniform(g, nq, 44, -0.5f, 0), tc_fill_uniform(s0, WN * sk, 45, -1, 1);
    for (int d = 0; d < tc_device_count(); d++)
        for (int w = 0; w < 2; w++) {
            ocla_context *ctx = tc_open(d);
            const ocla_plan_request r = {OCLA_OP_GLA_CHUNK, 1, T, WH, WK, WV, 64, OCLA_PLAN_VARLEN, OCLA_GATE_VECTOR, 0};
            ocla_plan plan;
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, NULL, 0));
            if (plan.path == OCLA_PATH_NVIDIA_MMA) {
                ocla_debug_nv_walk_width(ctx, w ? 0 : 1);
                for (int gi = 0; gi < 4; gi++) {
                    const ocla_dtype dt = gi >= 2 ? OCLA_BF16 : OCLA_F32;
                    const double bound = dt == OCLA_F32 ? 2e-6 : 1e-2;
                    ocla_attn_params p;
                    ocla_attn_params_defaults(&p);
                    p.feature_map = OCLA_FEATURE_ELU1, p.gate = gi & 1 ? OCLA_GATE_VECTOR : OCLA_GATE_NONE, p.chunk = 64;
                    for (int i = 0; i < WN; i++) { /* alone */
                        const int t0 = cu[i], L = lens[i];
                        ocla_tensor *qa = wide_tensor(ctx, dt, L, WH, WK, q + (size_t)t0 * WH * WK);
                        ocla_tensor *ka = wide_tensor(ctx, dt, L, WH, WK, k + (size_t)t0 * WH * WK);
                        ocla_tensor *va = wide_tensor(ctx, dt, L, WH, WV, v + (size_t)t0 * WH * WV);
                        ocla_tensor *ga = gi & 1 ? tc_tensor4(ctx, 1, L, WH, WK, g + (size_t)t0 * WH * WK) : NULL;
                        ocla_tensor *oa = wide_tensor(ctx, dt, L, WH, WV, NULL), *sa = tc_tensor4(ctx, 1, WH, WK, WV, s0 + i * sk);
                        const ocla_attn_io io = {.q = qa, .k = ka, .v = va, .g = ga, .o = oa, .initial_state = sa, .final_state = sa};
                        tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
                        float *ho = tc_download(ctx, oa), *hs = tc_download(ctx, sa);
                        memcpy(o_ref + (size_t)t0 * WH * WV, ho, (size_t)L * WH * WV * 4), memcpy(s_ref + i * sk, hs, sk * 4);
                        free(ho), free(hs);
                        ocla_tensor_destroy(qa), ocla_tensor_destroy(ka), ocla_tensor_destroy(va), ocla_tensor_destroy(ga);
                        ocla_tensor_destroy(oa), ocla_tensor_destroy(sa);
                    }
                    ocla_tensor *qp = wide_tensor(ctx, dt, T, WH, WK, q), *kp = wide_tensor(ctx, dt, T, WH, WK, k);
                    ocla_tensor *vp = wide_tensor(ctx, dt, T, WH, WV, v), *gp = gi & 1 ? tc_tensor4(ctx, 1, T, WH, WK, g) : NULL;
                    ocla_tensor *op = wide_tensor(ctx, dt, T, WH, WV, NULL), *sp = tc_tensor4(ctx, WN, WH, WK, WV, s0);
                    p.cu_seqlens = cu, p.n_seqs = WN;
                    const ocla_attn_io io = {.q = qp, .k = kp, .v = vp, .g = gp, .o = op, .initial_state = sp, .final_state = sp};
                    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
                    float *ho = tc_download(ctx, op), *hs = tc_download(ctx, sp);
                    double *ro = tc_to_double(o_ref, nv), *rs = tc_to_double(s_ref, WN * sk);
                    const double eo = tc_max_rel_err(ho, ro, nv), es = tc_max_rel_err(hs, rs, WN * sk);
                    cr_expect_leq(eo, bound, "%s: walk %d case %d: o err %g", tc_device_name(d), w ? 0 : 1, gi, eo);
                    cr_expect_leq(es, bound, "%s: walk %d case %d: final state err %g", tc_device_name(d), w ? 0 : 1, gi, es);
                    cr_log_info("%s: walk %d case %d (gate %d, %s): o err %g, final state err %g", tc_device_name(d), w ? 0 : 1,
                                gi, gi & 1, dt == OCLA_F32 ? "fp32" : "bf16", eo, es);
                    free(ho), free(hs), free(ro), free(rs);
                    ocla_tensor_destroy(qp), ocla_tensor_destroy(kp), ocla_tensor_destroy(vp), ocla_tensor_destroy(gp);
                    ocla_tensor_destroy(op), ocla_tensor_destroy(sp);
                }
            }
            ocla_context_destroy(ctx);
        }
    free(q), free(k), free(v), free(g), free(s0), free(o_ref), free(s_ref);
}

/* A non-finite v in one sequence stays in it: on the NVIDIA path a 64-row block holds several
 * sequences, and its sums over a tile with a non-finite v (element by element) start at each row's
 * own sequence (an earlier sequence's masked score times Inf would be NaN). Sequence 0 (10 tokens)
 * holds an Inf; sequence 1, in the same block, equals itself run alone. Every device. */
Test(varlen, nonfinite_stays_in_its_sequence) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gi = 0; gi < 2; gi++) {
            vcase c = {gi ? OCLA_GATE_VECTOR : OCLA_GATE_NONE, 0, 0, 2, {0, 10, 100}, 3};
            vhost h;
            host_make(&c, 77 + (uint32_t)gi, &h);
            h.v[(size_t)5 * H * V + 3] = INFINITY; /* token 5, head 0, column 3 */
            const int T = h.T;
            float *o_ref = malloc((size_t)T * H * V * 4), *s_ref = malloc(2 * (size_t)H * K * V * 4), *z_ref = malloc(2 * (size_t)H * K * 4);
            run_alone(ctx, &c, &h, 1, o_ref, s_ref, z_ref);
            ocla_tensor *q = tc_tensor4(ctx, 1, T, H, K, h.q), *k = tc_tensor4(ctx, 1, T, H, K, h.k);
            ocla_tensor *v = tc_tensor4(ctx, 1, T, H, V, h.v), *g = gate_tensor(ctx, c.gate, T, h.g);
            ocla_tensor *o = tc_tensor4(ctx, 1, T, H, V, NULL);
            ocla_attn_params p = params_of(&c);
            p.cu_seqlens = c.cu, p.n_seqs = 2;
            const ocla_attn_io io = {.q = q, .k = k, .v = v, .g = g, .o = o};
            tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
            float *ho = tc_download(ctx, o);
            const size_t r0 = (size_t)10 * H * V, n1 = (size_t)90 * H * V;
            for (size_t i = 0; i < n1; i++)
                cr_assert(isfinite(ho[r0 + i]), "%s: gate %d: sequence 1's o[%zu] = %g", tc_device_name(d), (int)c.gate, i, ho[r0 + i]);
            double *r = tc_to_double(o_ref + r0, n1);
            const double e = tc_max_rel_err(ho + r0, r, n1);
            cr_assert_leq(e, 1e-6, "%s: gate %d: sequence 1 err %g", tc_device_name(d), (int)c.gate, e);
            free(r), free(ho), free(o_ref), free(s_ref), free(z_ref);
            ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g), ocla_tensor_destroy(o);
            host_free(&h);
        }
        ocla_context_destroy(ctx);
    }
}

/* The NVIDIA path's walk table (runtime/seq_table.c), on the host: for random mixes and walk widths,
 * the portions cover each sequence's tokens in order, each in at most W blocks, linked to the previous
 * one, those with an end state in the carry buffer first; every token's sequence start; every
 * block boundary inside a sequence gets its state once: from a portion that starts the sequence
 * (no entry), or from an entry (kind 0 inside a continuing portion, kind 1 at a walk's end); kind 2
 * entries exactly for continuing last portions where final states are wanted; the walk order a
 * permutation of the portions, longest first. */
Test(varlen, walk_table) {
    enum { NS = 40 };
    int32_t cu[NS + 1], *tab = malloc(1 << 20);
    for (int round = 0; round < 40; round++) {
        float r[NS];
        tc_fill_uniform(r, NS, 500 + (uint32_t)round, 0, 1);
        const int N = 1 + round % NS, W = 1 + round % 5, hT = round & 1;
        cu[0] = 0;
        for (int i = 0; i < N; i++) cu[i + 1] = cu[i] + 1 + (int)(r[i] * (round % 3 == 0 ? 300 : 70));
        const int T = cu[N];
        int P, E;
        const int own = ocla__nv_walk_table(cu, N, W, hT, tab, &P, &E);
        const int32_t *walk = tab + T, *ent = walk + 4 * P;
        const int NW = ((T + 63) / 64 + N + W - 1) / W; /* the room's bound on the cuts (op_common.h) */
        cr_assert(P <= N + NW && own <= 2 * NW && E <= (T + 63) / 64 + NW, "P %d own %d E %d", P, own, E);
        for (int t = 0, s = 0; t < T; t++) {
            while (t >= cu[s + 1]) s++;
            cr_assert_eq(tab[t], cu[s], "token %d", t);
        }
        int *seen = calloc((size_t)P, sizeof *seen), *got = calloc((size_t)T / 64 + 2, sizeof *got);
        for (int s = 0; s < N; s++) { /* follow the sequence's portions back from the one that ends it */
            int p = -1;
            for (int i = 0; i < P; i++)
                if (walk[4 * i + 2] == s && (walk[4 * i + 3] & 2)) {
                    cr_assert_eq(p, -1);
                    p = i;
                }
            cr_assert_geq(p, 0, "sequence %d has no last portion", s);
            int end = cu[s + 1];
            for (; p >= 0; p = (walk[4 * p + 3] >> 2) - 1) {
                const int r0 = walk[4 * p], r1 = walk[4 * p + 1], cont = walk[4 * p + 3] & 1, last = r1 == cu[s + 1];
                cr_assert(!seen[p]++ && r1 == end && r0 < r1 && walk[4 * p + 2] == s, "portion %d", p);
                cr_assert_lt((r1 - 1) / 64 - r0 / 64, W, "portion %d: more than %d blocks", p, W);
                cr_assert(last || r1 % 64 == 0, "portion %d ends inside a block", p);
                cr_assert_eq(cont, r0 > cu[s]);
                cr_assert_eq(p < own, !last || (cont && hT), "portion %d numbered", p);
                if (!cont) /* the states it writes itself, inside */
                    for (int b = r0 / 64 + 1; b <= (r1 - 1) / 64; b++) got[b]++;
                end = r0;
            }
            cr_assert_eq(end, cu[s], "sequence %d's portions start at %d", s, end);
        }
        int finals = 0;
        for (int e = 0; e < E; e++) {
            const int kind = ent[3 * e], b = ent[3 * e + 1], p = ent[3 * e + 2];
            cr_assert(p >= 0 && p < P && kind >= 0 && kind <= 2);
            const int r0 = walk[4 * p], r1 = walk[4 * p + 1], fl = walk[4 * p + 3];
            if (kind == 0) {
                cr_assert((fl & 1) && r0 < 64 * b && 64 * b < r1, "entry %d", e);
                got[b]++;
            }
            if (kind == 1) {
                cr_assert(!(fl & 2) && 64 * b == r1 && p < own, "entry %d", e);
                got[b]++;
            }
            if (kind == 2) {
                cr_assert((fl & 3) == 3 && hT && p < own, "entry %d", e);
                finals++;
            }
        }
        for (int b = 1; 64 * b < T; b++) { /* a boundary inside a sequence: one writer; else none */
            int inside = 0;
            for (int s = 0; s < N; s++) inside |= cu[s] < 64 * b && 64 * b < cu[s + 1];
            cr_assert_eq(got[b], inside, "block %d: %d writers (W %d, round %d)", b, got[b], W, round);
        }
        int want = 0;
        for (int p = 0; p < P; p++) want += (walk[4 * p + 3] & 3) == 3 && hT;
        cr_assert_eq(finals, want);
        const int32_t *order = ent + 3 * E; /* a permutation, longest portions first */
        memset(seen, 0, (size_t)P * sizeof *seen);
        for (int i = 0; i < P; i++) {
            cr_assert(order[i] >= 0 && order[i] < P && !seen[order[i]]++, "order[%d] = %d", i, order[i]);
            if (i) cr_assert_geq(walk[4 * order[i - 1] + 1] - walk[4 * order[i - 1]], walk[4 * order[i] + 1] - walk[4 * order[i]]);
        }
        free(seen), free(got);
    }
    free(tab);
}

/* One sequence, and many sequences of one token each (every chunk a sequence's whole). */
Test(varlen, one_and_singletons, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        vcase one = {OCLA_GATE_VECTOR, 0, 0, 1, {0, 150}, 0};
        check_case(ctx, d, &one, 71, 0, 0);
        vcase singles = {OCLA_GATE_SCALAR, 0, 0, MAXN, {0, 1, 2, 3, 4, 5, 6, 7, 8}, 0};
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
        const int nv = plan.path == OCLA_PATH_NVIDIA_MMA; /* where the device has the tensor-core path */
        cr_assert(nv || plan.path == OCLA_PATH_PORTABLE, "%s", text);
        /* the cumsums: la_gate_cumsum_seq, on llvmpipe's block kernels la_blk_gk_gates (packed too), on the
         * NVIDIA path the dense rows' la_gate_cumsum over the packed axis and the carries between portions */
        cr_assert((nv ? strstr(text, "la_gate_cumsum,") && strstr(text, "mma_varlen_carry")
                      : strstr(text, "la_gate_cumsum_seq") || strstr(text, "la_blk_gk_gates")) &&
                      strstr(text, nv ? "packed sequences: NVIDIA kernels over the packed axis' blocks"
                                      : "packed sequences: portable kernels"),
                  "%s", text);
        ocla_tensor_destroy(q), ocla_tensor_destroy(v), ocla_tensor_destroy(o), ocla_tensor_destroy(s);
        ocla_tensor_destroy(q2), ocla_tensor_destroy(v2), ocla_tensor_destroy(o2);
        ocla_context_destroy(ctx);
    }
}

/* ---- the backward: packed gradients == each sequence's alone ---- */
/* The backward's host inputs beyond vhost: d_o [T,H,V], d_final_state [N,H,K,V], d_final_z [N,H,K];
 * and its gradients (float, or fp64 from the reference), laid out as the packed tensors. */
typedef struct vbwd {
    float *dout, *dhT, *dzT;
} vbwd;
typedef struct vgrads {
    float *dq, *dk, *dv, *dg, *dh0, *dz0;
} vgrads;

static void grads_alloc(vgrads *r, const vcase *c) {
    const size_t T = (size_t)c->cu[c->n], N = (size_t)c->n;
    r->dq = calloc(T * H * K, 4), r->dk = calloc(T * H * K, 4), r->dv = calloc(T * H * V, 4);
    r->dg = calloc(T * H * gate_width(c->gate), 4), r->dh0 = calloc(N * H * K * V, 4), r->dz0 = calloc(N * H * K, 4);
}
static void grads_free(vgrads *r) { free(r->dq), free(r->dk), free(r->dv), free(r->dg), free(r->dh0), free(r->dz0); }

/* One backward call over tokens [t0, t0 + L) and state rows [r0, r0 + R) of the packed inputs:
 * packed (c's offsets, t0 = r0 = 0) or one sequence alone (R = 1); gradients into out at the same
 * places. with_states: initial states (and z) in; d_final_state (and z) always given. */
static void run_backward(ocla_context *ctx, const vcase *c, const vhost *h, const vbwd *hb, int t0, int L, int r0,
                         int R, int packed, int with_states, vgrads *out) {
    const size_t sk = (size_t)H * K * V, zk = (size_t)H * K, gw = gate_width(c->gate);
    const int g_in = c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR;
    const int64_t zd[3] = {R, H, K};
    ocla_tensor *q = tc_tensor4(ctx, 1, L, H, K, h->q + (size_t)t0 * H * K);
    ocla_tensor *k = tc_tensor4(ctx, 1, L, H, K, h->k + (size_t)t0 * H * K);
    ocla_tensor *v = tc_tensor4(ctx, 1, L, H, V, h->v + (size_t)t0 * H * V);
    ocla_tensor *g = gate_tensor(ctx, c->gate, L, h->g + (size_t)t0 * H * gw);
    ocla_tensor *dg = g_in ? gate_tensor(ctx, c->gate, L, NULL) : NULL;
    ocla_tensor *dout = tc_tensor4(ctx, 1, L, H, V, hb->dout + (size_t)t0 * H * V);
    ocla_tensor *dq = tc_tensor4(ctx, 1, L, H, K, NULL), *dk = tc_tensor4(ctx, 1, L, H, K, NULL);
    ocla_tensor *dv = tc_tensor4(ctx, 1, L, H, V, NULL);
    ocla_tensor *s0 = with_states ? tc_tensor4(ctx, R, H, K, V, h->s0 + r0 * sk) : NULL;
    ocla_tensor *dhT = tc_tensor4(ctx, R, H, K, V, hb->dhT + r0 * sk), *dh0 = tc_tensor4(ctx, R, H, K, V, NULL);
    ocla_tensor *z0 = NULL, *dzT = NULL, *dz0 = NULL;
    if (c->normalize) {
        z0 = with_states ? tc_tensor(ctx, 3, zd, h->z0 + r0 * zk) : NULL;
        dzT = tc_tensor(ctx, 3, zd, hb->dzT + r0 * zk), dz0 = tc_tensor(ctx, 3, zd, NULL);
    }
    ocla_attn_params p = params_of(c);
    if (packed) p.cu_seqlens = c->cu, p.n_seqs = c->n;
    const ocla_attn_grad_io io = {.q = q, .k = k, .v = v, .g = g, .initial_state = s0, .initial_z = z0, .d_o = dout,
                                  .d_final_state = dhT, .d_final_z = dzT, .dq = dq, .dk = dk, .dv = dv, .dg = dg,
                                  .d_initial_state = dh0, .d_initial_z = dz0};
    tc_ok(ctx, ocla_attention_backward(ctx, &p, &io));
    const ocla_tensor *from[6] = {dq, dk, dv, dg, dh0, dz0};
    float *to[6] = {out->dq + (size_t)t0 * H * K, out->dk + (size_t)t0 * H * K, out->dv + (size_t)t0 * H * V,
                    out->dg + (size_t)t0 * H * gw, out->dh0 + r0 * sk, out->dz0 + r0 * zk};
    for (int i = 0; i < 6; i++)
        if (from[i]) {
            float *x = tc_download(ctx, from[i]);
            memcpy(to[i], x, (size_t)ocla_tensor_numel(from[i]) * 4);
            free(x);
        }
    ocla_tensor *all[] = {q, k, v, g, dg, dout, dq, dk, dv, s0, dhT, dh0, z0, dzT, dz0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
}

static void bwd_make(const vcase *c, uint32_t seed, vbwd *hb) {
    const size_t T = (size_t)c->cu[c->n], N = (size_t)c->n;
    hb->dout = malloc(T * H * V * 4), hb->dhT = malloc(N * H * K * V * 4), hb->dzT = malloc(N * H * K * 4);
    tc_fill_uniform(hb->dout, T * H * V, seed + 7, -1, 1);
    tc_fill_uniform(hb->dhT, N * H * K * V, seed + 8, -1, 1);
    tc_fill_uniform(hb->dzT, N * H * K, seed + 9, -1, 1);
}

/* Every gradient of two runs (packed and alone, or packed and fp64 as float) within tol; returns the
 * largest error. */
static double grads_close(const vgrads *got, const vgrads *ref, const vcase *c, double tol, const char *vs, int d,
                        int with_states) {
    const size_t T = (size_t)c->cu[c->n], N = (size_t)c->n;
    const int g_in = c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR;
    const size_t n[6] = {T * H * K, T * H * K, T * H * V, g_in ? T * H * gate_width(c->gate) : 0, N * H * K * V,
                         c->normalize ? N * H * K : 0};
    const float *a[6] = {got->dq, got->dk, got->dv, got->dg, got->dh0, got->dz0};
    const float *b[6] = {ref->dq, ref->dk, ref->dv, ref->dg, ref->dh0, ref->dz0};
    static const char *const names[6] = {"dq", "dk", "dv", "dg", "d_initial_state", "d_initial_z"};
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        if (!n[i]) continue;
        const double e = tc_max_rel_err_f(a[i], b[i], n[i]);
        if (e > worst) worst = e;
        cr_assert_leq(e, tol, "%s: packed %s vs %s: err %g (gate %d norm %d chunk %d states %d, %d sequences, T %d)",
                      tc_device_name(d), names[i], vs, e, (int)c->gate, c->normalize, c->chunk, with_states, c->n,
                      c->cu[c->n]);
    }
    return worst;
}

/* The packed backward vs each sequence through the dense backward alone (same kernels on the same
 * chunks: equal to rounding, 1e-6 normwise as the forward's check). */
static double check_backward(ocla_context *ctx, int d, const vcase *c, uint32_t seed, int with_states) {
    vhost h;
    vbwd hb;
    host_make(c, seed, &h), bwd_make(c, seed, &hb);
    vgrads packed, alone;
    grads_alloc(&packed, c), grads_alloc(&alone, c);
    run_backward(ctx, c, &h, &hb, 0, h.T, 0, c->n, 1, with_states, &packed);
    ocla_context *twin, *actx = alone_context(ctx, d, NULL, 0, &twin);
    for (int i = 0; i < c->n; i++)
        run_backward(actx, c, &h, &hb, c->cu[i], c->cu[i + 1] - c->cu[i], i, 1, 0, with_states, &alone);
    if (twin) ocla_context_destroy(twin);
    const double e = grads_close(&packed, &alone, c, 1e-6, "each sequence alone", d, with_states);
    grads_free(&packed), grads_free(&alone);
    free(hb.dout), free(hb.dhT), free(hb.dzT);
    host_free(&h);
    return e;
}

/* The chunk sizes the backward's scheduler may pick for a packed request, and a forced chunk below
 * the tiled kernels' tile (8: the simple kernels, token-level state passes). */
static int bwd_candidates(ocla_context *ctx, ocla_gate_kind gate, int normalize, int *chunks) {
    const ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, 1, 1000, H, K, V, 0,
                                 OCLA_PLAN_VARLEN | (normalize ? OCLA_PLAN_NORMALIZE : 0u), (int)gate, 0};
    const int n = tc_plan_candidates(ctx, &r, chunks, 7);
    chunks[n] = 8;
    return n + 1;
}

static void sweep_backward(ocla_gate_kind gate, int normalize) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int chunks[8];
        const int nc = bwd_candidates(ctx, gate, normalize, chunks);
        double worst = 0;
        for (int ci = 0; ci < nc; ci++) {
            vcase c = {gate, normalize, chunks[ci], 0, {0}, 0};
            const uint32_t seed = 500 + 17 * (uint32_t)ci + 5 * (uint32_t)gate + (uint32_t)normalize;
            length_mix(c.chunk, seed, &c);
            worst = fmax(worst, check_backward(ctx, d, &c, seed, 1));
            if (ci % 2 == 0) worst = fmax(worst, check_backward(ctx, d, &c, seed + 1, 0)); /* no initial states */
        }
        fprintf(stderr, "varlen_bwd gate %d normalize %d on %s: %d chunks, packed vs alone max error %.3g\n", (int)gate,
                normalize, tc_device_name(d), nc, worst);
        ocla_context_destroy(ctx);
    }
}

Test(varlen_bwd, linear, .timeout = 1800) { sweep_backward(OCLA_GATE_NONE, 0); }
Test(varlen_bwd, linear_normalized, .timeout = 1800) { sweep_backward(OCLA_GATE_NONE, 1); }
Test(varlen_bwd, simple_gla, .timeout = 1800) { sweep_backward(OCLA_GATE_SCALAR, 0); }
Test(varlen_bwd, retention, .timeout = 1800) { sweep_backward(OCLA_GATE_FIXED, 0); }
Test(varlen_bwd, gla, .timeout = 1800) { sweep_backward(OCLA_GATE_VECTOR, 0); }

/* The packed backward against the fp64 reference (tests/ref/ref_grad.c), each sequence a batch of
 * one there, on one mix: GLA with the normaliser and initial states at the scheduler's chunk. The
 * bound is the dense backward's against the same reference (tests/test_backward.c, BWD_TOL): fp32
 * chunked sums against the fp64 token recurrence. */
Test(varlen_bwd, fp64_reference, .timeout = 900) {
    const vcase c0 = {OCLA_GATE_VECTOR, 1, 0, 0, {0}, 0};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        vcase c = c0;
        length_mix(64, 91, &c);
        vhost h;
        vbwd hb;
        host_make(&c, 91, &h), bwd_make(&c, 91, &hb);
        vgrads packed, ref;
        grads_alloc(&packed, &c), grads_alloc(&ref, &c);
        run_backward(ctx, &c, &h, &hb, 0, h.T, 0, c.n, 1, 1, &packed);
        const size_t sk = (size_t)H * K * V, zk = (size_t)H * K;
        for (int i = 0; i < c.n; i++) {
            const int t0 = c.cu[i], L = c.cu[i + 1] - t0;
            const size_t nq = (size_t)L * H * K, nv = (size_t)L * H * V;
            const ref_attn_cfg cfg = {1, L, H, K, V, 0, 2, 1, 1e-6f, (float)(1.0 / sqrt((double)K)), NULL};
            ref_attn_in in = {tc_to_double(h.q + t0 * H * K, nq), tc_to_double(h.k + t0 * H * K, nq),
                              tc_to_double(h.v + t0 * H * V, nv), tc_to_double(h.g + t0 * H * K, nq),
                              tc_to_double(h.s0 + i * sk, sk), tc_to_double(h.z0 + i * zk, zk)};
            double *dout = tc_to_double(hb.dout + t0 * H * V, nv), *dhT = tc_to_double(hb.dhT + i * sk, sk);
            double *dzT = tc_to_double(hb.dzT + i * zk, zk);
            ref_attn_grads g = {calloc(nq, 8), calloc(nq, 8), calloc(nv, 8), calloc(nq, 8), calloc(sk, 8),
                                calloc(zk, 8)};
            ref_attn_backward(&cfg, &in, dout, dhT, dzT, &g);
            double *from[6] = {g.dq, g.dk, g.dv, g.dg, g.dh0, g.dz0};
            float *to[6] = {ref.dq + t0 * H * K, ref.dk + t0 * H * K, ref.dv + t0 * H * V, ref.dg + t0 * H * K,
                            ref.dh0 + i * sk, ref.dz0 + i * zk};
            const size_t n[6] = {nq, nq, nv, nq, sk, zk};
            for (int a = 0; a < 6; a++) {
                for (size_t e = 0; e < n[a]; e++) to[a][e] = (float)from[a][e];
                free(from[a]);
            }
            free(in.q), free(in.k), free(in.v), free(in.g), free(in.h0), free(in.z0), free(dout), free(dhT), free(dzT);
        }
        const double e = grads_close(&packed, &ref, &c, 1e-3, "fp64 reference", d, 1);
        fprintf(stderr, "varlen_bwd fp64_reference on %s: max error %.3g\n", tc_device_name(d), e);
        grads_free(&packed), grads_free(&ref);
        free(hb.dout), free(hb.dhT), free(hb.dzT);
        host_free(&h);
        ocla_context_destroy(ctx);
    }
}

/* The backward refuses what the forward refuses (the shared check: the detail names the offset),
 * states of B rows instead of N, and state slots; a packed plan never takes the NVIDIA path, even
 * on a device profile that has it. */
Test(varlen_bwd, bad_offsets_refused, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        const int T = 10;
        ocla_tensor *q = tc_tensor4(ctx, 1, T, H, K, NULL), *v = tc_tensor4(ctx, 1, T, H, V, NULL);
        ocla_tensor *dq = tc_tensor4(ctx, 1, T, H, K, NULL), *dk = tc_tensor4(ctx, 1, T, H, K, NULL);
        ocla_tensor *dv = tc_tensor4(ctx, 1, T, H, V, NULL), *s = tc_tensor4(ctx, 3, H, K, V, NULL);
        ocla_tensor *s1 = tc_tensor4(ctx, 1, H, K, V, NULL);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        int32_t cu[4] = {0, 4, 7, T};
        p.cu_seqlens = cu, p.n_seqs = 3;
        ocla_attn_grad_io io = {.q = q, .k = q, .v = v, .d_o = v, .dq = dq, .dk = dk, .dv = dv, .d_initial_state = s};
        tc_ok(ctx, ocla_attention_backward(ctx, &p, &io));
        cu[0] = 1;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "cu_seqlens[0] = 1");
        cu[0] = 0, cu[2] = 4;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "sequence 1 is empty");
        cu[2] = 3;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "cu_seqlens[2] = 3");
        cu[2] = 7, cu[3] = T - 1;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "cu_seqlens[3] = 9");
        cu[3] = T, p.n_seqs = 0;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "n_seqs");
        p.n_seqs = 3;
        io.d_initial_state = s1; /* B = 1 rows for 3 sequences */
        tc_refused(ctx, OCLA_ERR_SHAPE, ocla_attention_backward(ctx, &p, &io), "d_initial_state");
        io.d_initial_state = s;
        const int32_t slots[3] = {0, 1, 2};
        p.state_slots = slots, p.n_state_slots = 3;
        tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_attention_backward(ctx, &p, &io), "state_slots");
        p.state_slots = NULL, p.n_state_slots = 0;
        ocla_tensor *q2 = tc_tensor4(ctx, 2, 5, H, K, NULL), *v2 = tc_tensor4(ctx, 2, 5, H, V, NULL);
        ocla_tensor *dq2 = tc_tensor4(ctx, 2, 5, H, K, NULL), *dk2 = tc_tensor4(ctx, 2, 5, H, K, NULL);
        ocla_tensor *dv2 = tc_tensor4(ctx, 2, 5, H, V, NULL);
        const ocla_attn_grad_io io2 = {.q = q2, .k = q2, .v = v2, .d_o = v2, .dq = dq2, .dk = dk2, .dv = dv2};
        tc_refused(ctx, OCLA_ERR_SHAPE, ocla_attention_backward(ctx, &p, &io2), "[1,T,H,K]");
        /* the plan: portable, and why, also where the profile offers the NVIDIA backward (chunk 64,
         * identity map, scalar gate: the NVIDIA path's case without the offsets) */
        ocla_plan_limits L;
        OCLA_LOCK(ctx);
        tc_ok(ctx, ocla__plan_limits(ctx, &L));
        OCLA_UNLOCK(ctx);
        L.paths |= 1u << OCLA_PATH_NVIDIA_MMA;
        ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, 1, 1000, H, K, V, 64, 0, OCLA_GATE_SCALAR, 0};
        ocla_plan plan;
        cr_assert_eq(ocla_plan_compute(&L, &r, &plan), OCLA_SUCCESS);
        cr_assert_eq(plan.path, OCLA_PATH_NVIDIA_MMA, "%s", plan.reason);
        r.flags = OCLA_PLAN_VARLEN;
        cr_assert_eq(ocla_plan_compute(&L, &r, &plan), OCLA_SUCCESS);
        cr_assert_eq(plan.path, OCLA_PATH_PORTABLE, "%s", plan.reason);
        cr_assert(strstr(plan.reason, "packed sequences: portable kernels"), "%s", plan.reason);
        ocla_tensor *all[] = {q, v, dq, dk, dv, s, s1, q2, v2, dq2, dk2, dv2};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
        ocla_context_destroy(ctx);
    }
}
