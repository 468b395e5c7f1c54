/* SPDX-License-Identifier: MIT */
/* Linear attention / simple GLA / retention / GLA forward on every device, against the fp64
 * references in tests/ref/ref_attention.c and against each other (chunked vs recurrent, split
 * prefill vs whole, decode loop vs chunked), for every chunk size the scheduler may pick.
 *
 * Tolerance (unless a test says otherwise): 1e-4 normwise max relative error vs fp64
 * (tc_max_rel_err), the acceptance bar of issue 3. Justification: every output is a sum of at most
 * C (intra-chunk) + K*V-state terms accumulated in fp32 with fma; fp32 rounding (6e-8) grows with
 * the sum length roughly like sqrt(n) for random signs, n <= ~C*K + K here, giving ~1e-6..1e-5
 * observed; exp() of fp32 cumulative log gates adds |G| * 6e-8 relative per factor (|G| <= ~C*5 for
 * strong gates, but those factors multiply terms that are tiny relative to the max output). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "plan.h"
#include "internal.h"
#include "ref/ref_attention.h"

#define TOL 1e-4

typedef struct acase {
    int B, T, H, K, V;
    ocla_gate_kind gate;
    ocla_feature_map feature;
    int normalize, causal;
    ocla_attn_form form;
    int chunk;
    int with_state; /* initial state (and z) in, final state out */
    int bhtd;       /* inputs as [B,H,T,D] buffers viewed as [B,T,H,D] */
    float glo, ghi; /* log gate range */
    int spikes;     /* every 7th gate value one of -1e4, -1e6, -1e30, -inf in turn (legal: hard resets) */
    const float *decays; /* fixed log decays [H] (NULL: RetNet's) */
    uint32_t seed;
} acase;

typedef struct aresult {
    double err_o, err_s, err_z;
    int finite;
} aresult;

/* A [B,T,H,D] tensor; with bhtd the buffer is laid out [B,H,T,D] and viewed through strides. */
static ocla_tensor *make_input(ocla_context *ctx, int bhtd, int B, int T, int H, int D, const float *host,
                               ocla_tensor **parent) {
    *parent = NULL;
    if (!bhtd) return tc_tensor4(ctx, B, T, H, D, host);
    *parent = tc_tensor4(ctx, B, H, T, D, NULL);
    int64_t dims[4] = {B, T, H, D}, strides[4] = {(int64_t)H * T * D, D, (int64_t)T * D, 1};
    ocla_tensor *t = NULL;
    tc_ok(ctx, ocla_tensor_view(ctx, *parent, 0, 4, dims, strides, &t));
    if (host) tc_ok(ctx, ocla_tensor_upload(ctx, t, host, (size_t)B * T * H * D * sizeof(float)));
    return t;
}

static void fill_inputs(const acase *c, float *q, float *k, float *v, float *g, float *s0, float *z0) {
    size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * c->H * c->V;
    size_t ng = c->gate == OCLA_GATE_VECTOR ? nq : (size_t)c->B * c->T * c->H;
    float lo = c->normalize ? 0.0f : -1.0f; /* normaliser tests: positive features, as fla's tests */
    tc_fill_uniform(q, nq, c->seed + 1, lo, 1);
    tc_fill_uniform(k, nq, c->seed + 2, lo, 1);
    tc_fill_uniform(v, nv, c->seed + 3, -1, 1);
    if (g) tc_fill_uniform(g, ng, c->seed + 4, c->glo, c->ghi);
    static const float spike[4] = {-1e4f, -1e6f, -1e30f, -INFINITY};
    for (size_t i = 3; g && c->spikes && i < ng; i += 7) g[i] = spike[(i / 7) % 4];
    if (s0) tc_fill_uniform(s0, (size_t)c->B * c->H * c->K * c->V, c->seed + 5, -1, 1);
    if (z0) tc_fill_uniform(z0, (size_t)c->B * c->H * c->K, c->seed + 6, 0, 2);
}

static void cfg_of(const acase *c, const ocla_attn_params *p, ref_attn_cfg *r) {
    memset(r, 0, sizeof *r);
    r->B = c->B, r->T = c->T, r->H = c->H, r->K = c->K, r->V = c->V;
    r->causal = c->causal;
    r->scale = p->has_scale ? p->scale : 1.0 / sqrt((double)c->K);
    r->feature = (int)c->feature;
    r->normalize = c->normalize;
    r->eps = p->eps;
    r->gate = (int)c->gate;
    static double dd[16];
    for (int h = 0; c->decays && h < c->H && h < 16; h++) dd[h] = c->decays[h];
    if (c->decays) r->fixed = dd;
}

/* Run one case on ctx; compare with the fp64 recurrence. Returns errors; asserts statuses. */
static aresult run_case(ocla_context *ctx, const acase *c) {
    aresult res = {0, 0, 0, 1};
    const int B = c->B, T = c->T, H = c->H, K = c->K, V = c->V;
    size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V, ns = (size_t)B * H * K * V, nz = (size_t)B * H * K;
    int has_g = c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR;
    size_t ng = c->gate == OCLA_GATE_VECTOR ? nq : (size_t)B * T * H;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = has_g ? malloc(ng * 4) : NULL;
    float *s0 = c->with_state ? malloc(ns * 4) : NULL, *z0 = c->with_state && c->normalize ? malloc(nz * 4) : NULL;
    fill_inputs(c, q, k, v, g, s0, z0);
    ocla_tensor *pq, *pk, *pv, *pg = NULL, *po;
    ocla_tensor *tq = make_input(ctx, c->bhtd, B, T, H, K, q, &pq), *tk = make_input(ctx, c->bhtd, B, T, H, K, k, &pk),
                *tv = make_input(ctx, c->bhtd, B, T, H, V, v, &pv), *to = make_input(ctx, c->bhtd, B, T, H, V, NULL, &po);
    ocla_tensor *tg = NULL;
    if (c->gate == OCLA_GATE_VECTOR) tg = make_input(ctx, c->bhtd, B, T, H, K, g, &pg);
    if (c->gate == OCLA_GATE_SCALAR) {
        int64_t gd[3] = {B, T, H};
        tg = tc_tensor(ctx, 3, gd, g);
    }
    ocla_tensor *ts0 = s0 ? tc_tensor4(ctx, B, H, K, V, s0) : NULL, *ts1 = tc_tensor4(ctx, B, H, K, V, NULL);
    int64_t zd[3] = {B, H, K};
    ocla_tensor *tz0 = z0 ? tc_tensor(ctx, 3, zd, z0) : NULL, *tz1 = c->normalize ? tc_tensor(ctx, 3, zd, NULL) : NULL;
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.causal = c->causal, p.feature_map = c->feature, p.normalize = c->normalize, p.gate = c->gate;
    p.form = c->form, p.chunk = c->chunk, p.fixed_log_decay = c->decays;
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = tq, io.k = tk, io.v = tv, io.g = tg, io.o = to, io.initial_state = ts0, io.final_state = ts1;
    io.initial_z = tz0, io.final_z = tz1;
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    float *o = tc_download(ctx, to), *s1 = tc_download(ctx, ts1), *z1 = tz1 ? tc_download(ctx, tz1) : NULL;
    ref_attn_cfg rc;
    cfg_of(c, &p, &rc);
    double *ro = malloc(nv * 8), *rs = malloc(ns * 8), *rz = malloc(nz * 8);
    ref_attn_recurrent(&rc, q, k, v, g, s0, z0, ro, rs, rz);
    res.err_o = tc_max_rel_err(o, ro, nv);
    res.err_s = tc_max_rel_err(s1, rs, ns);
    res.err_z = z1 ? tc_max_rel_err(z1, rz, nz) : 0;
    res.finite = tc_all_finite(o, nv) && tc_all_finite(s1, ns);
    free(o), free(s1), free(z1), free(ro), free(rs), free(rz);
    ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(to);
    ocla_tensor_destroy(tg), ocla_tensor_destroy(ts0), ocla_tensor_destroy(ts1), ocla_tensor_destroy(tz0);
    ocla_tensor_destroy(tz1);
    ocla_tensor_destroy(pq), ocla_tensor_destroy(pk), ocla_tensor_destroy(pv), ocla_tensor_destroy(po);
    ocla_tensor_destroy(pg);
    free(q), free(k), free(v), free(g), free(s0), free(z0);
    return res;
}

static void check_case(ocla_context *ctx, int d, const acase *c, double tol, const char *what) {
    aresult r = run_case(ctx, c);
    cr_log_info("%s on %s: gate %d feat %d norm %d causal %d form %d C %d (B,T,H,K,V)=(%d,%d,%d,%d,%d)%s: o %.2e "
                "state %.2e z %.2e",
                what, tc_device_name(d), (int)c->gate, (int)c->feature, c->normalize, c->causal, (int)c->form, c->chunk,
                c->B, c->T, c->H, c->K, c->V, c->bhtd ? " [B,H,T,D]" : "", r.err_o, r.err_s, r.err_z);
    cr_assert(r.finite, "%s: non-finite output on %s", what, tc_device_name(d));
    cr_assert_leq(r.err_o, tol, "%s on %s: o err %g (gate %d C %d T %d K %d V %d)", what, tc_device_name(d), r.err_o,
                  (int)c->gate, c->chunk, c->T, c->K, c->V);
    cr_assert_leq(r.err_s, tol, "%s on %s: state err %g (gate %d C %d T %d K %d V %d)", what, tc_device_name(d),
                  r.err_s, (int)c->gate, c->chunk, c->T, c->K, c->V);
    cr_assert_leq(r.err_z, tol, "%s on %s: z err %g", what, tc_device_name(d), r.err_z);
}

static int candidates(ocla_context *ctx, ocla_op_kind op, int K, int V, int *chunks) {
    const ocla_plan_request r = {op, 1, 1000, 2, K, V, 0, 0, 0, 0};
    return tc_plan_candidates(ctx, &r, chunks, 8);
}

static acase base_case(void) {
    acase c;
    memset(&c, 0, sizeof c);
    c.B = 1, c.T = 64, c.H = 2, c.K = 16, c.V = 16;
    c.causal = 1;
    c.form = OCLA_FORM_CHUNKED;
    c.glo = -0.5f, c.ghi = 0.0f;
    c.with_state = 1;
    c.seed = 7;
    return c;
}

/* The main matrix: every gate kind x every candidate chunk x T in {1, C-1, C, C+1, 1000}, cycling
 * K,V through {1,5,17,64,128,256}. One program variant per (gate family, chunk). */
static void matrix(ocla_gate_kind gate) {
    static const int dims[][2] = {{1, 5}, {5, 17}, {17, 64}, {64, 128}, {128, 256}, {256, 1}, {64, 64}};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_op_kind op = gate == OCLA_GATE_VECTOR ? OCLA_OP_GLA_CHUNK
                          : gate == OCLA_GATE_NONE ? OCLA_OP_LINEAR_CHUNK
                                                   : OCLA_OP_SIMPLE_GLA_CHUNK;
        int chunks[8];
        int nc = candidates(ctx, op, 64, 64, chunks);
        int which = 0;
        for (int ci = 0; ci < nc; ci++) {
            int C = chunks[ci];
            const int Ts[] = {1, C - 1, C, C + 1, 1000};
            for (int ti = 0; ti < 5; ti++, which++) {
                acase c = base_case();
                c.gate = gate, c.chunk = C, c.T = Ts[ti];
                c.K = dims[which % nd][0], c.V = dims[which % nd][1];
                if (c.T >= 1000 && c.K * c.V > 64 * 128) c.K = 64, c.V = 64; /* keep the fp64 reference quick */
                c.H = c.T >= 1000 ? 1 : 2;
                c.B = ti == 1 ? 2 : 1;
                c.with_state = ti != 2;
                c.seed = 100 + which;
                check_case(ctx, d, &c, TOL, "matrix");
            }
        }
        /* T = 4099 (not a multiple of any chunk) with the scheduler's own pick */
        acase c = base_case();
        c.gate = gate, c.T = 4099, c.H = 1, c.K = 32, c.V = 48, c.chunk = 0;
        check_case(ctx, d, &c, TOL, "T=4099");
        ocla_context_destroy(ctx);
    }
}

Test(attention, chunked_linear_vs_fp64, .timeout = 1800) { matrix(OCLA_GATE_NONE); }
Test(attention, chunked_simple_gla_vs_fp64, .timeout = 1800) { matrix(OCLA_GATE_SCALAR); }
Test(attention, chunked_gla_vs_fp64, .timeout = 1800) { matrix(OCLA_GATE_VECTOR); }

Test(attention, chunked_retention_vs_fp64, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int chunks[8], nc = candidates(ctx, OCLA_OP_SIMPLE_GLA_CHUNK, 64, 64, chunks);
        for (int ci = 0; ci < nc; ci++) {
            acase c = base_case();
            c.gate = OCLA_GATE_FIXED, c.chunk = chunks[ci], c.T = 3 * chunks[ci] + 5, c.H = 4, c.K = 17, c.V = 64;
            check_case(ctx, d, &c, TOL, "retention");
        }
        ocla_context_destroy(ctx);
    }
}

/* The recurrent form (decode kernel) against fp64, every gate kind, K,V from 1 to 256. */
Test(attention, recurrent_vs_fp64, .timeout = 1800) {
    static const int dims[][2] = {{1, 1}, {5, 17}, {17, 5}, {64, 128}, {128, 64}, {256, 256}};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 0; gate <= 3; gate++)
            for (int i = 0; i < 6; i++) {
                acase c = base_case();
                c.form = OCLA_FORM_RECURRENT, c.gate = (ocla_gate_kind)gate;
                c.K = dims[i][0], c.V = dims[i][1], c.T = i == 5 ? 40 : 1 + 37 * i;
                c.normalize = i % 2, c.feature = c.normalize ? OCLA_FEATURE_ELU1 : OCLA_FEATURE_IDENTITY;
                c.seed = 300 + 10 * gate + i;
                check_case(ctx, d, &c, TOL, "recurrent");
            }
        ocla_context_destroy(ctx);
    }
}

/* Normaliser and feature maps, causal chunked and non-causal, with z state in and out. */
Test(attention, normaliser_and_feature_maps, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int f = 0; f <= 2; f++)
            for (int causal = 0; causal <= 1; causal++)
                for (int norm = 0; norm <= 1; norm++) {
                    acase c = base_case();
                    c.feature = (ocla_feature_map)f, c.causal = causal, c.normalize = norm;
                    c.T = 200, c.K = 20, c.V = 33, c.seed = 500 + 4 * f + 2 * causal + norm;
                    if (norm && f == 0) c.feature = OCLA_FEATURE_ELU1; /* identity + normaliser: denominators near 0 */
                    check_case(ctx, d, &c, TOL, causal ? "causal feature/normaliser" : "non-causal");
                }
        ocla_context_destroy(ctx);
    }
}

/* [B,H,T,D] buffers viewed as [B,T,H,D] through strides. */
Test(attention, strided_bhtd_inputs, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 0; gate <= 2; gate++)
            for (int form = 0; form <= 1; form++) {
                acase c = base_case();
                c.bhtd = 1, c.gate = (ocla_gate_kind)gate, c.form = (ocla_attn_form)form;
                c.B = 2, c.T = 77, c.H = 3, c.K = 24, c.V = 40, c.seed = 600 + gate * 2 + form;
                check_case(ctx, d, &c, TOL, "strided");
            }
        ocla_context_destroy(ctx);
    }
}

/* Strong gates (log gate ~ -5 per step): no NaN/Inf, no garbage from underflow; every chunk. */
Test(attention, strong_gates, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 1; gate <= 2; gate++) {
            int chunks[8], nc = candidates(ctx, gate == 2 ? OCLA_OP_GLA_CHUNK : OCLA_OP_SIMPLE_GLA_CHUNK, 64, 64, chunks);
            for (int ci = 0; ci < nc; ci++) {
                acase c = base_case();
                c.gate = (ocla_gate_kind)gate, c.chunk = chunks[ci], c.T = 300, c.K = 32, c.V = 32;
                c.glo = -6.0f, c.ghi = -4.0f, c.seed = 700 + ci;
                check_case(ctx, d, &c, TOL, "strong gates");
            }
            acase c = base_case();
            c.gate = (ocla_gate_kind)gate, c.form = OCLA_FORM_RECURRENT, c.T = 300, c.glo = -6.0f, c.ghi = -4.0f;
            check_case(ctx, d, &c, TOL, "strong gates recurrent");
            /* extreme gates (-40..-20 per step: exp of any positive partial sum would overflow) and
             * moderate ones (-2..-1: off-diagonal sub-chunk terms still matter) */
            c.form = OCLA_FORM_CHUNKED, c.glo = -40.0f, c.ghi = -20.0f, c.seed = 750 + gate;
            check_case(ctx, d, &c, TOL, "extreme gates");
            c.glo = -2.0f, c.ghi = -1.0f, c.seed = 760 + gate;
            check_case(ctx, d, &c, TOL, "moderate gates");
        }
        ocla_context_destroy(ctx);
    }
}

/* Gates at any legal value (docs/RELIABILITY.md): ordinary log gates mixed with -1e4, -1e6, -1e30 and
 * -inf (a hard reset: the state is forgotten). Chunked, at every chunk the scheduler may pick, and
 * recurrent agree with the fp64 recurrence (which takes the gates as given: exp(-inf) = 0). */
/* c at every chunk the scheduler may pick for op, then in the recurrent form (what + " recurrent"). */
static void check_every_form(ocla_context *ctx, int d, acase c, ocla_op_kind op, const char *what) {
    int chunks[8], nc = candidates(ctx, op, 64, 64, chunks);
    char rec[96];
    snprintf(rec, sizeof rec, "%s recurrent", what);
    const int seed = c.seed;
    for (int ci = 0; ci <= nc; ci++) {
        c.seed = seed + ci;
        if (ci < nc)
            c.chunk = chunks[ci];
        else
            c.form = OCLA_FORM_RECURRENT;
        check_case(ctx, d, &c, TOL, ci < nc ? what : rec);
    }
}

Test(attention, gates_at_any_legal_value, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 1; gate <= 2; gate++) {
            acase c = base_case();
            c.gate = (ocla_gate_kind)gate, c.T = 200, c.K = 32, c.V = 32, c.with_state = 1;
            c.glo = -0.5f, c.ghi = 0.0f, c.spikes = 1, c.seed = 800;
            check_every_form(ctx, d, c, gate == 2 ? OCLA_OP_GLA_CHUNK : OCLA_OP_SIMPLE_GLA_CHUNK, "spiked gates");
        }
        ocla_context_destroy(ctx);
    }
}

/* Fixed decays at any legal value: -3e38 (used to pass validation and give NaN), -inf (a reset at every
 * step: used to be refused), -1e4 and an ordinary one, one per head; chunked at every chunk and recurrent
 * vs the fp64 recurrence with the decays as given. */
Test(attention, fixed_decays_at_any_legal_value, .timeout = 1800) {
    static const float decays[4] = {-3e38f, -INFINITY, -1e4f, -0.1f};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        acase c = base_case();
        c.gate = OCLA_GATE_FIXED, c.H = 4, c.T = 150, c.K = 16, c.V = 16, c.with_state = 1, c.decays = decays;
        c.seed = 850;
        check_every_form(ctx, d, c, OCLA_OP_SIMPLE_GLA_CHUNK, "extreme fixed decays");
        ocla_context_destroy(ctx);
    }
}

/* Weak gates over T = 16384 (state accumulates ~1/(1-decay) tokens): finite and accurate. */
Test(attention, weak_gates_long_sequence, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 0; gate <= 2; gate++) {
            acase c = base_case();
            c.gate = (ocla_gate_kind)gate, c.T = 16384, c.B = 1, c.H = 1, c.K = 32, c.V = 32;
            c.glo = -0.002f, c.ghi = 0.0f, c.seed = 800 + gate;
            check_case(ctx, d, &c, TOL, "weak gates T=16384");
        }
        /* the recurrent form over the same length (several launches where the driver needs it) */
        acase c = base_case();
        c.gate = OCLA_GATE_VECTOR, c.form = OCLA_FORM_RECURRENT, c.T = 16384, c.H = 1, c.K = 32, c.V = 32;
        c.normalize = 1, c.feature = OCLA_FEATURE_ELU1, c.glo = -0.002f, c.ghi = 0.0f, c.seed = 810;
        check_case(ctx, d, &c, TOL, "weak gates T=16384 recurrent");
        ocla_context_destroy(ctx);
    }
}

/* Positive log gates: the documented policy is min(g, 0) (the reference clamps the same way), so a
 * positive gate never makes the state grow; chunked and recurrent agree with it. */
Test(attention, positive_gate_policy, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 1; gate <= 2; gate++)
            for (int form = 0; form <= 1; form++) {
                acase c = base_case();
                c.gate = (ocla_gate_kind)gate, c.form = (ocla_attn_form)form, c.T = 150;
                c.glo = -1.0f, c.ghi = 1.0f, c.seed = 900 + gate * 2 + form;
                check_case(ctx, d, &c, TOL, "positive gates clamped");
            }
        ocla_context_destroy(ctx);
    }
}

/* Runs a forward with explicit tensors (helper for the composition tests). */
static void fwd(ocla_context *ctx, ocla_attn_params *p, ocla_tensor *q, ocla_tensor *k, ocla_tensor *v, ocla_tensor *g,
                ocla_tensor *o, ocla_tensor *s0, ocla_tensor *s1, ocla_tensor *z0, ocla_tensor *z1) {
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = q, io.k = k, io.v = v, io.g = g, io.o = o, io.initial_state = s0, io.final_state = s1;
    io.initial_z = z0, io.final_z = z1;
    tc_ok(ctx, ocla_attention_forward(ctx, p, &io));
}

/* Views of rows [t0, t0+n) of a [B,T,H,D] tensor. */
static ocla_tensor *rows(ocla_context *ctx, ocla_tensor *t, int t0, int n) {
    int64_t dims[4] = {ocla_tensor_dim(t, 0), n, ocla_tensor_dim(t, 2), ocla_tensor_ndim(t) == 4 ? ocla_tensor_dim(t, 3) : 1};
    int64_t strides[4] = {ocla_tensor_stride(t, 0), ocla_tensor_stride(t, 1), ocla_tensor_stride(t, 2),
                          ocla_tensor_ndim(t) == 4 ? ocla_tensor_stride(t, 3) : 1};
    ocla_tensor *r = NULL;
    tc_ok(ctx, ocla_tensor_view(ctx, t, (size_t)t0 * (size_t)strides[1], ocla_tensor_ndim(t), dims, strides, &r));
    return r;
}

/* prefill(T1) then prefill(T2) with the state equals prefill(T1+T2); then a decode loop of T=1
 * recurrent steps (state updated in place) equals the chunked output of the whole sequence.
 * Tolerance 1e-4 between fp32 results (tc_max_rel_err_f): both sides carry the fp32 error above. */
Test(attention, split_prefill_and_decode_loop, .timeout = 1800) {
    const int B = 2, H = 2, K = 32, V = 24, T1 = 100, T2 = 77, TD = 12, T = T1 + T2 + TD;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int gate = 0; gate <= 3; gate++)
            for (int norm = 0; norm <= 1; norm++) {
                size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
                float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(nq * 4);
                tc_fill_uniform(q, nq, 1000 + gate, norm ? 0 : -1, 1);
                tc_fill_uniform(k, nq, 1010 + gate, norm ? 0 : -1, 1);
                tc_fill_uniform(v, nv, 1020 + gate, -1, 1);
                tc_fill_uniform(g, nq, 1030 + gate, -0.3f, 0);
                ocla_tensor *tq = tc_tensor4(ctx, B, T, H, K, q), *tk = tc_tensor4(ctx, B, T, H, K, k),
                            *tv = tc_tensor4(ctx, B, T, H, V, v), *tow = tc_tensor4(ctx, B, T, H, V, NULL),
                            *tos = tc_tensor4(ctx, B, T, H, V, NULL);
                ocla_tensor *tg = NULL;
                if (gate == OCLA_GATE_VECTOR) tg = tc_tensor4(ctx, B, T, H, K, g);
                if (gate == OCLA_GATE_SCALAR) {
                    int64_t gd[3] = {B, T, H};
                    tg = tc_tensor(ctx, 3, gd, g);
                }
                ocla_tensor *sw = tc_tensor4(ctx, B, H, K, V, NULL), *ss = tc_tensor4(ctx, B, H, K, V, NULL);
                int64_t zd[3] = {B, H, K};
                ocla_tensor *zw = norm ? tc_tensor(ctx, 3, zd, NULL) : NULL, *zs = norm ? tc_tensor(ctx, 3, zd, NULL) : NULL;
                ocla_attn_params p;
                ocla_attn_params_defaults(&p);
                p.gate = (ocla_gate_kind)gate, p.normalize = norm;
                p.feature_map = norm ? OCLA_FEATURE_ELU1 : OCLA_FEATURE_IDENTITY;
                /* whole */
                fwd(ctx, &p, tq, tk, tv, tg, tow, NULL, sw, NULL, zw);
                /* split: T1 then T2 (chunked, state through ss/zs), then TD decode steps in place */
                ocla_tensor *v1[5], *v2[5];
                ocla_tensor *srcs[5] = {tq, tk, tv, tg, tos};
                for (int i = 0; i < 5; i++) {
                    v1[i] = srcs[i] ? rows(ctx, srcs[i], 0, T1) : NULL;
                    v2[i] = srcs[i] ? rows(ctx, srcs[i], T1, T2) : NULL;
                }
                fwd(ctx, &p, v1[0], v1[1], v1[2], v1[3], v1[4], NULL, ss, NULL, zs);
                fwd(ctx, &p, v2[0], v2[1], v2[2], v2[3], v2[4], ss, ss, zs, zs);
                ocla_attn_params pr = p;
                pr.form = OCLA_FORM_RECURRENT;
                for (int t = T1 + T2; t < T; t++) {
                    ocla_tensor *w[5];
                    for (int i = 0; i < 5; i++) w[i] = srcs[i] ? rows(ctx, srcs[i], t, 1) : NULL;
                    fwd(ctx, &pr, w[0], w[1], w[2], w[3], w[4], ss, ss, zs, zs);
                    for (int i = 0; i < 5; i++) ocla_tensor_destroy(w[i]);
                }
                float *ow = tc_download(ctx, tow), *os = tc_download(ctx, tos), *hw = tc_download(ctx, sw),
                      *hs = tc_download(ctx, ss);
                double eo = tc_max_rel_err_f(os, ow, nv), eh = tc_max_rel_err_f(hs, hw, (size_t)B * H * K * V);
                cr_log_info("split/decode on %s gate %d norm %d: o %.2e state %.2e", tc_device_name(d), gate, norm, eo, eh);
                cr_assert_leq(eo, TOL, "split prefill + decode vs whole: o err %g (gate %d norm %d) on %s", eo, gate, norm,
                              tc_device_name(d));
                cr_assert_leq(eh, TOL, "split prefill + decode vs whole: state err %g (gate %d norm %d)", eh, gate, norm);
                if (norm) {
                    float *a = tc_download(ctx, zw), *b = tc_download(ctx, zs);
                    cr_assert_leq(tc_max_rel_err_f(b, a, (size_t)B * H * K), TOL, "z state");
                    free(a), free(b);
                }
                /* also against fp64 */
                ref_attn_cfg rc;
                memset(&rc, 0, sizeof rc);
                rc.B = B, rc.T = T, rc.H = H, rc.K = K, rc.V = V, rc.causal = 1, rc.scale = 1.0 / sqrt((double)K);
                rc.feature = (int)p.feature_map, rc.normalize = norm, rc.eps = p.eps, rc.gate = gate;
                double *ro = malloc(nv * 8);
                ref_attn_recurrent(&rc, q, k, v, gate == 1 || gate == 2 ? g : NULL, NULL, NULL, ro, NULL, NULL);
                cr_assert_leq(tc_max_rel_err(os, ro, nv), TOL, "split vs fp64");
                free(ro);
                for (int i = 0; i < 5; i++) ocla_tensor_destroy(v1[i]), ocla_tensor_destroy(v2[i]);
                free(ow), free(os), free(hw), free(hs);
                ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(tow);
                ocla_tensor_destroy(tos), ocla_tensor_destroy(tg), ocla_tensor_destroy(sw), ocla_tensor_destroy(ss);
                ocla_tensor_destroy(zw), ocla_tensor_destroy(zs);
                free(q), free(k), free(v), free(g);
            }
        ocla_context_destroy(ctx);
    }
}

/* The fp64 references agree with each other (masked quadratic form vs recurrence). */
Test(attention, references_agree) {
    acase c = base_case();
    for (int gate = 0; gate <= 3; gate++)
        for (int norm = 0; norm <= 1; norm++)
            for (int causal = 0; causal <= 1; causal++) {
                if (!causal && gate) continue;
                int B = 2, T = 37, H = 2, K = 5, V = 7;
                size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
                float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc(nq * 4),
                      *s0 = malloc((size_t)B * H * K * V * 4), *z0 = malloc((size_t)B * H * K * 4);
                c.B = B, c.T = T, c.H = H, c.K = K, c.V = V, c.normalize = norm, c.gate = (ocla_gate_kind)gate;
                c.glo = -2, c.ghi = 0.5f;
                fill_inputs(&c, q, k, v, g, s0, z0);
                ref_attn_cfg rc = {B, T, H, K, V, causal, 0.3, norm ? 1 : 0, norm, 1e-6, gate, NULL};
                double *a = malloc(nv * 8), *b = malloc(nv * 8);
                ref_attn_recurrent(&rc, q, k, v, g, s0, norm ? z0 : NULL, a, NULL, NULL);
                ref_attn_quadratic(&rc, q, k, v, g, s0, norm ? z0 : NULL, b);
                double maxd = 0, maxr = 0;
                for (size_t i = 0; i < nv; i++) {
                    maxd = fmax(maxd, fabs(a[i] - b[i]));
                    maxr = fmax(maxr, fabs(a[i]));
                }
                cr_assert_leq(maxd / maxr, 1e-12, "references differ: gate %d norm %d causal %d: %g", gate, norm, causal,
                              maxd / maxr);
                free(q), free(k), free(v), free(g), free(s0), free(z0), free(a), free(b);
            }
}

/* Bad input: a clear status, and the context still works afterwards. */
Test(attention, bad_input_then_context_works, .timeout = 1800) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        const int B = 1, T = 20, H = 2, K = 8, V = 8;
        ocla_tensor *q = tc_tensor4(ctx, B, T, H, K, NULL), *k = tc_tensor4(ctx, B, T, H, K, NULL),
                    *v = tc_tensor4(ctx, B, T, H, V, NULL), *o = tc_tensor4(ctx, B, T, H, V, NULL);
        ocla_tensor *kbad = tc_tensor4(ctx, B, T + 1, H, K, NULL), *obad = tc_tensor4(ctx, B, T, H, V + 1, NULL);
        ocla_tensor *gvec = tc_tensor4(ctx, B, T, H, K, NULL), *sbad = tc_tensor4(ctx, B, H, V, K + 1, NULL);
        int64_t g3[3] = {B, T, H};
        ocla_tensor *gsc = tc_tensor(ctx, 3, g3, NULL);
        ocla_tensor *qbig = tc_tensor4(ctx, B, 2, H, 257, NULL), *vbig = tc_tensor4(ctx, B, 2, H, 300, NULL),
                    *obig = tc_tensor4(ctx, B, 2, H, 300, NULL);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        ocla_attn_io io;
#define EXPECT(st_expected, ...)                                                                                     \
    do {                                                                                                           \
        memset(&io, 0, sizeof io);                                                                                 \
        io.q = q, io.k = k, io.v = v, io.o = o;                                                                    \
        ocla_attn_params pp = p;                                                                                   \
        __VA_ARGS__;                                                                                               \
        ocla_status st = ocla_attention_forward(ctx, &pp, &io);                                                    \
        cr_assert_eq(st, st_expected, "%s: got %s (%s)", #__VA_ARGS__, ocla_status_string(st), ocla_last_error(ctx)); \
        cr_assert(strlen(ocla_last_error(ctx)) > 0, "error detail present");                                       \
    } while (0)
        EXPECT(OCLA_ERR_SHAPE, io.k = kbad);
        EXPECT(OCLA_ERR_SHAPE, io.o = obad);
        EXPECT(OCLA_ERR_SHAPE, io.initial_state = sbad);
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.gate = OCLA_GATE_VECTOR);              /* gate missing */
        EXPECT(OCLA_ERR_SHAPE, pp.gate = OCLA_GATE_VECTOR; io.g = gsc);             /* scalar shape for vector gate */
        EXPECT(OCLA_ERR_SHAPE, pp.gate = OCLA_GATE_SCALAR; io.g = gvec);            /* vector shape for scalar gate */
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.gate = OCLA_GATE_NONE; io.g = gvec);   /* gate given, none asked */
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.causal = 0; pp.gate = OCLA_GATE_SCALAR; io.g = gsc);
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.feature_map = (ocla_feature_map)7);
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.chunk = 48);                           /* not a chunk size */
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.chunk = -1);
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, pp.normalize = 1; pp.eps = -1.0f);
        EXPECT(OCLA_ERR_INVALID_ARGUMENT, io.final_z = (ocla_tensor *)sbad);       /* z without normalize */
        EXPECT(OCLA_ERR_UNSUPPORTED, io.q = qbig; io.k = qbig; io.v = vbig; io.o = obig); /* K, V beyond 256 */
        int mk = 0, mv = 0;
        tc_ok(ctx, ocla_attention_limits(ctx, &p, &mk, &mv));
        cr_assert_eq(mk, 256);
        cr_assert_eq(mv, 256);
        cr_assert_neq(ocla_attention_forward(ctx, NULL, &io), OCLA_SUCCESS);
        cr_assert_neq(ocla_attention_forward(ctx, &p, NULL), OCLA_SUCCESS);
        cr_assert_neq(ocla_attention_forward(NULL, &p, &io), OCLA_SUCCESS);
        /* a chunk that exists but does not fit this device's local memory: UNSUPPORTED (only where
         * 256 does not fit) */
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        if (info.local_mem_size < 300 * 1024) EXPECT(OCLA_ERR_UNSUPPORTED, pp.chunk = 256);
#undef EXPECT
        ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(o);
        ocla_tensor_destroy(kbad), ocla_tensor_destroy(obad), ocla_tensor_destroy(gvec), ocla_tensor_destroy(sbad);
        ocla_tensor_destroy(gsc), ocla_tensor_destroy(qbig), ocla_tensor_destroy(vbig), ocla_tensor_destroy(obig);
        /* the context still works */
        acase c = base_case();
        c.gate = OCLA_GATE_VECTOR, c.T = 50;
        check_case(ctx, d, &c, TOL, "after bad input");
        ocla_context_destroy(ctx);
    }
}
