/* SPDX-License-Identifier: MIT */
/* The chunked form of linear attention, simple GLA, retention and GLA in half precision (issue
 * 14): q, k, v, o in bf16 or fp16, gates fp32 or q's dtype, states, normalisers and arithmetic fp32,
 * on the portable kernels (linear_attn.cl; la_normalize.cl rounds a normalised output once), on every
 * device, against the fp64 reference (tests/ref/) on the same half-rounded inputs and against the
 * recurrent form in the same dtype; causal and non-causal, with and without the normaliser, every
 * chunk size the scheduler may pick, packed sequences and strided views. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "plan.h"
#include "ref/ref_attention.h"

typedef struct hcase {
    int B, T, H, K, V;
    ocla_gate_kind gate;
    int norm, causal, chunk, feature, strided;
    ocla_dtype dt, gdt;
    int nseq;          /* packed sequences (B = 1, no states) */
    const int32_t *cu; /* their offsets */
} hcase;

typedef struct hres {
    double o, state, rec; /* o vs fp64, final state (and z) vs fp64, chunked o vs recurrent o */
} hres;

/* n values of dtype (bits in *bits, NULL for fp32) and their exact fp32 values: what every side sees */
static float *inputs(ocla_dtype dt, size_t n, uint32_t seed, float lo, float hi, uint16_t **bits) {
    float *f = malloc(n * sizeof *f);
    cr_assert(f);
    tc_fill_uniform(f, n, seed, lo, hi);
    *bits = NULL;
    if (dt == OCLA_F32) return f;
    *bits = malloc(n * sizeof **bits);
    cr_assert(*bits);
    cr_assert_eq(ocla_convert_from_f32(dt, f, *bits, n), OCLA_SUCCESS);
    cr_assert_eq(ocla_convert_to_f32(dt, *bits, f, n), OCLA_SUCCESS);
    return f;
}

/* A tensor of dims holding host values; strided: a view of the first half of the last dim of a
 * [.., 2 D] parent (*parent: destroy it after the view). */
static ocla_tensor *put(ocla_context *ctx, ocla_dtype dt, int nd, const int64_t *dims, const float *f,
                        const uint16_t *bits, int strided, ocla_tensor **parent) {
    ocla_tensor *t = NULL;
    *parent = NULL;
    if (strided) {
        int64_t pd[4], st[4];
        memcpy(pd, dims, (size_t)nd * sizeof *pd);
        pd[nd - 1] *= 2;
        int64_t s = 1;
        for (int i = nd - 1; i >= 0; i--) st[i] = s, s *= pd[i];
        tc_ok(ctx, ocla_tensor_create(ctx, dt, nd, pd, parent));
        tc_ok(ctx, ocla_tensor_view(ctx, *parent, 0, nd, dims, st, &t));
    } else {
        tc_ok(ctx, ocla_tensor_create(ctx, dt, nd, dims, &t));
    }
    if (f) {
        const size_t n = (size_t)ocla_tensor_numel(t);
        tc_ok(ctx, ocla_tensor_upload(ctx, t, dt == OCLA_F32 ? (const void *)f : (const void *)bits,
                                      n * ocla_dtype_size(dt)));
    }
    return t;
}

/* The fp64 reference: dense rows, or each packed sequence from zero states. */
static void reference(const hcase *c, const float *q, const float *k, const float *v, const float *g,
                      const float *s0, const float *z0, double *o, double *s1, double *z1) {
    ref_attn_cfg rc = {c->B, c->T, c->H, c->K, c->V, c->causal, 1.0 / sqrt((double)c->K), c->feature, c->norm,
                       1e-6, (int)c->gate, NULL};
    if (!c->nseq) {
        ref_attn_recurrent(&rc, q, k, v, g, s0, z0, o, s1, z1);
        return;
    }
    const size_t gw = c->gate == OCLA_GATE_VECTOR ? (size_t)c->K : 1;
    for (int i = 0; i < c->nseq; i++) {
        const size_t t0 = (size_t)c->cu[i];
        rc.T = c->cu[i + 1] - c->cu[i];
        ref_attn_recurrent(&rc, q + t0 * c->H * c->K, k + t0 * c->H * c->K, v + t0 * c->H * c->V,
                           g ? g + t0 * c->H * gw : NULL, NULL, NULL, o + t0 * c->H * c->V, NULL, NULL);
    }
}

/* One case: the chunked forward (and, causal and dense, the recurrent one) against fp64. */
static hres run_case(ocla_context *ctx, const hcase *c) {
    const int states = c->causal && !c->nseq;
    const int64_t qd[4] = {c->B, c->T, c->H, c->K}, vd[4] = {c->B, c->T, c->H, c->V};
    const int64_t sd[4] = {c->B, c->H, c->K, c->V}, zd[3] = {c->B, c->H, c->K}, gd3[3] = {c->B, c->T, c->H};
    const size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * c->H * c->V;
    const size_t ns = (size_t)c->B * c->H * c->K * c->V, nz = (size_t)c->B * c->H * c->K;
    const size_t ng = c->gate == OCLA_GATE_VECTOR ? nq : nq / (size_t)c->K;
    const int gated = c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR;
    uint16_t *bq, *bk, *bv, *bg, *bs, *bz;
    /* the normaliser with positive features (elu + 1) and a positive z0: denominators away from 0 */
    float *q = inputs(c->dt, nq, 11, -1.0f, 1.0f, &bq), *k = inputs(c->dt, nq, 12, -1.0f, 1.0f, &bk);
    float *v = inputs(c->dt, nv, 13, -1.0f, 1.0f, &bv), *g = inputs(c->gdt, ng, 14, -0.6f, 0.0f, &bg);
    float *s0 = inputs(OCLA_F32, ns, 15, -0.5f, 0.5f, &bs), *z0 = inputs(OCLA_F32, nz, 16, 0.5f, 1.5f, &bz);
    ocla_tensor *par[6], *tq = put(ctx, c->dt, 4, qd, q, bq, c->strided, &par[0]);
    ocla_tensor *tk = put(ctx, c->dt, 4, qd, k, bk, c->strided, &par[1]);
    ocla_tensor *tv = put(ctx, c->dt, 4, vd, v, bv, c->strided, &par[2]);
    ocla_tensor *tg = !gated                      ? NULL
                      : c->gate == OCLA_GATE_SCALAR ? put(ctx, c->gdt, 3, gd3, g, bg, 0, &par[3])
                                                    : put(ctx, c->gdt, 4, qd, g, bg, c->strided, &par[3]);
    if (!gated) par[3] = NULL;
    ocla_tensor *to = put(ctx, c->dt, 4, vd, NULL, NULL, c->strided, &par[4]);
    ocla_tensor *tr = put(ctx, c->dt, 4, vd, NULL, NULL, 0, &par[5]);
    ocla_tensor *ts0 = NULL, *ts1 = NULL, *tz0 = NULL, *tz1 = NULL;
    if (states) {
        tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F32, 4, sd, &ts0));
        tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F32, 4, sd, &ts1));
        tc_ok(ctx, ocla_tensor_upload(ctx, ts0, s0, ns * sizeof *s0));
        if (c->norm) {
            tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F32, 3, zd, &tz0));
            tc_ok(ctx, ocla_tensor_create(ctx, OCLA_F32, 3, zd, &tz1));
            tc_ok(ctx, ocla_tensor_upload(ctx, tz0, z0, nz * sizeof *z0));
        }
    }
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = c->gate, p.causal = c->causal, p.normalize = c->norm, p.eps = 1e-6f, p.feature_map = c->feature;
    p.chunk = c->chunk;
    if (c->nseq) p.cu_seqlens = c->cu, p.n_seqs = c->nseq;
    ocla_attn_io io = {.q = tq, .k = tk, .v = tv, .g = tg, .o = to, .initial_state = ts0, .final_state = ts1,
                       .initial_z = tz0, .final_z = tz1};
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    float *o = tc_download(ctx, to);
    double *ro = malloc(nv * sizeof *ro), *rs = malloc(ns * sizeof *rs), *rz = malloc(nz * sizeof *rz);
    cr_assert(ro && rs && rz);
    reference(c, q, k, v, tg ? g : NULL, states ? s0 : NULL, states && c->norm ? z0 : NULL, ro, rs, rz);
    hres r = {tc_max_rel_err(o, ro, nv), 0.0, 0.0};
    if (states) {
        float *s1 = tc_download(ctx, ts1);
        r.state = tc_max_rel_err(s1, rs, ns);
        free(s1);
        if (c->norm) {
            float *z1 = tc_download(ctx, tz1);
            r.state = fmax(r.state, tc_max_rel_err(z1, rz, nz));
            free(z1);
        }
        /* the recurrent form in the same dtype, same inputs */
        p.form = OCLA_FORM_RECURRENT, p.chunk = 0;
        io.o = tr;
        tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
        float *orec = tc_download(ctx, tr);
        r.rec = tc_max_rel_err_f(o, orec, nv);
        free(orec);
    }
    ocla_tensor *all[] = {tq, tk, tv, tg, to, tr, ts0, ts1, tz0, tz1, par[0], par[1], par[2], par[3], par[4], par[5]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(g), free(s0), free(z0), free(bq), free(bk), free(bv), free(bg), free(bs), free(bz);
    free(o), free(ro), free(rs), free(rz);
    return r;
}

/* Tolerances (test_half_attention.c): o within its dtype's bound of issue 14 (5e-3 bf16, 1e-3 fp16:
 * one rounding of each element, unit roundoff 3.9e-3 and 4.9e-4, the fp32 arithmetic ~1e-6); the
 * fp32 final state 1e-4; chunked vs recurrent, both rounded from fp32 values within ~1e-6 of each
 * other, differ by at most one unit in the last place of an element: 2^-7 (bf16), 2^-10 (fp16) of
 * the largest. */
static double tol_o(ocla_dtype dt) { return dt == OCLA_BF16 ? 5e-3 : 1e-3; }

/* The plan runs the NVIDIA kernels in one TF32 pass (bf16 there): the fp32 final state then carries the
 * TF32 rounding of its gated operands (2^-11 per operand; test_attention_nv.c's NV_TF32_TOL), not the
 * 1e-4 of fp32 arithmetic. */
static int nv_one_pass(ocla_context *ctx, const hcase *c) {
    static const ocla_op_kind by_gate[4] = {OCLA_OP_LINEAR_CHUNK, OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_OP_GLA_CHUNK,
                                            OCLA_OP_SIMPLE_GLA_CHUNK};
    const int gated = c->gate == OCLA_GATE_SCALAR || c->gate == OCLA_GATE_VECTOR;
    const unsigned flags = (c->dt == OCLA_BF16 ? OCLA_PLAN_BF16 : OCLA_PLAN_F16) |
                           (gated && c->gdt == c->dt ? OCLA_PLAN_HALF_GATE : 0u) | (c->nseq ? OCLA_PLAN_VARLEN : 0u) |
                           (c->norm ? OCLA_PLAN_NORMALIZE : 0u) | /* the strided views start at offset 0 */
                           (c->causal ? 0u : OCLA_PLAN_NONCAUSAL);
    ocla_plan_request r = {c->causal ? by_gate[c->gate] : OCLA_OP_LINEAR_CHUNK, c->nseq ? 1 : c->B, c->T, c->H, c->K,
                           c->V, c->chunk, flags, (int)c->gate, c->feature};
    ocla_plan p;
    tc_ok(ctx, ocla_plan_explain(ctx, &r, &p, NULL, 0));
    return p.path == OCLA_PATH_NVIDIA_MMA && p.tile[3] == 1;
}
static double tol_rec(ocla_dtype dt) { return dt == OCLA_BF16 ? 0x1p-7 : 0x1p-10; }

static const char *const GATES[] = {"none", "scalar", "vector", "fixed"};

static void check(ocla_context *ctx, int d, const hcase *c, const char *what, double *worst) {
    const hres r = run_case(ctx, c);
    const double tol_state = nv_one_pass(ctx, c) ? 2e-3 : 1e-4;
    cr_assert(r.o <= tol_o(c->dt) && r.state <= tol_state && r.rec <= tol_rec(c->dt) * 1.01,
              "%s %s %s gate %s%s norm %d causal %d chunk %d (B,T,H,K,V) = (%d,%d,%d,%d,%d)%s: o error %.3g "
              "(tol %.0e), state %.3g (tol %.0e), vs recurrent %.3g",
              tc_device_name(d), what, ocla_dtype_name(c->dt), GATES[c->gate],
              c->gdt == OCLA_F32 && c->gate != OCLA_GATE_NONE && c->gate != OCLA_GATE_FIXED ? " (fp32 gates)" : "",
              c->norm, c->causal, c->chunk, c->B, c->T, c->H, c->K, c->V, c->strided ? " strided" : "", r.o,
              tol_o(c->dt), r.state, tol_state, r.rec);
    worst[0] = fmax(worst[0], r.o), worst[1] = fmax(worst[1], r.state), worst[2] = fmax(worst[2], r.rec);
}

/* The chunk sizes the scheduler may pick for a half request of op on the device. */
static int half_candidates(ocla_context *ctx, ocla_op_kind op, ocla_dtype dt, int *chunks) {
    const ocla_plan_request r = {op, 1, 1000, 2, 64, 64, 0, dt == OCLA_BF16 ? OCLA_PLAN_BF16 : OCLA_PLAN_F16, 0, 0};
    return tc_plan_candidates(ctx, &r, chunks, 8);
}

/* Every gate kind x normaliser x dtype x gate dtype (fp32 or q's), causal, at the scheduler's chunk;
 * the non-causal form with and without the normaliser; a strided view; several shapes per compiled
 * variant (partial chunks and tiles). The second shape's B*T*H is odd: a 16-bit gate tensor's last
 * element starts a 4-byte word there (the NVIDIA state pass copies 2 bytes of it). */
Test(half_chunked, every_gate_norm_and_dtype, .timeout = 1200) {
    static const int shapes[][5] = {{2, 37, 3, 24, 40}, {1, 161, 3, 64, 64}, {1, 1, 2, 16, 8}};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int gate = OCLA_GATE_NONE; gate <= OCLA_GATE_FIXED; gate++)
                for (int mixed = 0; mixed <= (gate == OCLA_GATE_SCALAR || gate == OCLA_GATE_VECTOR); mixed++)
                    for (int norm = 0; norm <= 1; norm++)
                        for (int causal = gate == OCLA_GATE_NONE ? 0 : 1; causal <= 1; causal++) {
                            double worst[3] = {0};
                            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                                hcase c = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4],
                                           (ocla_gate_kind)gate, norm, causal, 0, norm ? OCLA_FEATURE_ELU1 : 0,
                                           s == 0, (ocla_dtype)dt, mixed ? OCLA_F32 : (ocla_dtype)dt, 0, NULL};
                                check(ctx, d, &c, "chunked", worst);
                            }
                            cr_log_info("%s: chunked %s gate %s%s norm %d causal %d: o %.3g, state %.3g, vs "
                                        "recurrent %.3g",
                                        tc_device_name(d), ocla_dtype_name((ocla_dtype)dt), GATES[gate],
                                        mixed ? " (fp32 gates)" : "", norm, causal, worst[0], worst[1], worst[2]);
                        }
        ocla_context_destroy(ctx);
    }
}

/* Every chunk size the scheduler may pick, in both dtypes: simple GLA with half gates and the
 * normaliser (the fp32-output variant), GLA with fp32 gates (the per-key kernels), T around the
 * chunk. */
Test(half_chunked, every_chunk, .timeout = 1200) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int gate = OCLA_GATE_SCALAR; gate <= OCLA_GATE_VECTOR; gate++) {
                int chunks[8];
                const int nc = half_candidates(ctx, gate == OCLA_GATE_VECTOR ? OCLA_OP_GLA_CHUNK
                                                                             : OCLA_OP_SIMPLE_GLA_CHUNK,
                                               (ocla_dtype)dt, chunks);
                for (int ci = 0; ci < nc; ci++) {
                    double worst[3] = {0};
                    const int C = chunks[ci], Ts[] = {C - 1, C + 1, 2 * C + 5};
                    for (int ti = 0; ti < 3; ti++) {
                        const int norm = gate == OCLA_GATE_SCALAR;
                        hcase c = {1, Ts[ti], 2, ti == 1 ? 40 : 32, ti == 2 ? 72 : 32, (ocla_gate_kind)gate, norm, 1,
                                   C, norm ? OCLA_FEATURE_ELU1 : 0, 0, (ocla_dtype)dt,
                                   gate == OCLA_GATE_VECTOR ? OCLA_F32 : (ocla_dtype)dt, 0, NULL};
                        check(ctx, d, &c, "chunk", worst);
                    }
                    cr_log_info("%s: %s gate %s chunk %d: o %.3g, state %.3g, vs recurrent %.3g", tc_device_name(d),
                                ocla_dtype_name((ocla_dtype)dt), GATES[gate], C, worst[0], worst[1], worst[2]);
                }
            }
        ocla_context_destroy(ctx);
    }
}

/* Packed sequences (cu_seqlens) in half: each sequence as its own row of the fp64 reference. */
Test(half_chunked, packed_sequences) {
    static const int32_t cu[] = {0, 5, 70, 71, 150};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int gate = OCLA_GATE_NONE; gate <= OCLA_GATE_VECTOR; gate++) {
                double worst[3] = {0};
                hcase c = {1, 150, 2, 32, 24, (ocla_gate_kind)gate, 0, 1, 0, 0, 0, (ocla_dtype)dt, (ocla_dtype)dt, 4, cu};
                check(ctx, d, &c, "packed", worst);
            }
        ocla_context_destroy(ctx);
    }
}

/* The plan of a half request names its kernels and says why: the NVIDIA kernels where the fp32 request
 * takes them (one TF32 pass), else the portable kernels (never the CPU kernels, which are fp32). */
Test(half_chunked, plan_names_path) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int op = OCLA_OP_LINEAR_CHUNK; op <= OCLA_OP_GLA_CHUNK; op++) {
            ocla_plan_request r = {(ocla_op_kind)op, 2, 4096, 16, 128, 128, 64, 0,
                                   op == OCLA_OP_GLA_CHUNK ? OCLA_GATE_VECTOR
                                   : op == OCLA_OP_SIMPLE_GLA_CHUNK ? OCLA_GATE_SCALAR
                                                                    : OCLA_GATE_NONE,
                                   0};
            char text[1024];
            ocla_plan p;
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &p, text, sizeof text));
            const int nv = p.path == OCLA_PATH_NVIDIA_MMA;
            r.flags = OCLA_PLAN_BF16;
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &p, text, sizeof text));
            if (nv) {
                const int one = op != OCLA_OP_GLA_CHUNK; /* attn_fused_nv.cl: no gate or a scalar one */
                cr_assert(p.path == OCLA_PATH_NVIDIA_MMA && strstr(text, one ? "mma_fused_fwd" : "mma_chunk_output"),
                          "%s", text);
                cr_assert(strstr(text, one ? "bf16: one pass" : "bf16: NVIDIA kernels widen"), "%s", text);
            } else {
                cr_assert(strstr(text, "la_chunk_output") && !strstr(text, "la_cpu_") && !strstr(text, "mma_"), "%s", text);
                cr_assert(strstr(text, "bf16: portable kernels"), "%s", text);
            }
        }
        /* and a fake device with the NVIDIA path, fp32-accurate mode: fp32 and fp16 take it with 3xTF32,
         * bf16 with one TF32 pass (tiles CHUNK VEC IDX32 SPLIT) */
        ocla_plan_limits L = {.local_mem_size = 227 * 1024, .max_work_group_size = 1024, .max_work_item_size0 = 1024,
                              .compute_units = 132, .simd_width = 32, .is_gpu = 1, .vendor = OCLA_VENDOR_NVIDIA,
                              .paths = 1u << OCLA_PATH_NVIDIA_MMA, .allow_tf32 = 0};
        ocla_plan_request r = {OCLA_OP_SIMPLE_GLA_CHUNK, 2, 4096, 16, 128, 128, 64, 0, OCLA_GATE_SCALAR, 0};
        ocla_plan p;
        cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS);
        cr_assert(p.path == OCLA_PATH_NVIDIA_MMA && p.tile[3] == 3, "%s split %d", p.kernels, (int)p.tile[3]);
        for (unsigned f = OCLA_PLAN_BF16; f <= OCLA_PLAN_F16; f <<= 1) {
            r.flags = f;
            cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS);
            const int split = f == OCLA_PLAN_BF16 ? 1 : 3;
            cr_assert(p.path == OCLA_PATH_NVIDIA_MMA && p.tile[3] == split, "%s split %d", p.kernels, (int)p.tile[3]);
        }
        /* linear attention, simple GLA and retention in bf16 take the single pass (attn_fused_nv.cl)
         * where it applies: no feature map, 64 < K <= 128, rows of 16-byte groups, dense sequences;
         * fp16, GLA and the rest the two passes */
        static const struct { ocla_op_kind op; int gate; unsigned flags; int K, V, feature, fused; } lin[] = {
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 128, 128, OCLA_FEATURE_IDENTITY, 1},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 72, 40, OCLA_FEATURE_IDENTITY, 1},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 64, 64, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 136, 64, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 128, 64, OCLA_FEATURE_ELU1, 0},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16, 128, 36, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_F16, 128, 64, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_LINEAR_CHUNK, 0, OCLA_PLAN_BF16 | OCLA_PLAN_VARLEN, 128, 64, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_GATE_SCALAR, OCLA_PLAN_BF16, 128, 128, OCLA_FEATURE_IDENTITY, 1},
            {OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_GATE_SCALAR, OCLA_PLAN_BF16 | OCLA_PLAN_HALF_GATE, 128, 64,
             OCLA_FEATURE_IDENTITY, 1},
            {OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_GATE_FIXED, OCLA_PLAN_BF16, 128, 64, OCLA_FEATURE_IDENTITY, 1},
            {OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_GATE_SCALAR, OCLA_PLAN_F16, 128, 64, OCLA_FEATURE_IDENTITY, 0},
            {OCLA_OP_GLA_CHUNK, OCLA_GATE_VECTOR, OCLA_PLAN_BF16, 128, 64, OCLA_FEATURE_IDENTITY, 0}};
        for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++) {
            ocla_plan_request rl = {lin[i].op, 2, 4096, 16, lin[i].K, lin[i].V, 64, lin[i].flags, lin[i].gate,
                                    lin[i].feature};
            cr_assert_eq(ocla_plan_compute(&L, &rl, &p), OCLA_SUCCESS);
            cr_assert(p.path == OCLA_PATH_NVIDIA_MMA, "case %zu: %s", i, p.kernels);
            cr_assert_eq(strstr(p.kernels, "mma_fused_fwd") != NULL, lin[i].fused, "case %zu: %s", i, p.kernels);
        }
        /* the single pass cuts the sequence where its work-groups number under twice the compute units
         * (132 here), into two segments at least with gates, three without: B, T, H, V, gated ->
         * segments, chunks a segment, chunks a block, blocks */
        static const int segs[][9] = {{2, 8192, 16, 128, 1, 2, 64, 8, 8},  {2, 8192, 16, 128, 0, 1, 128, 8, 0},
                                      {4, 2048, 16, 128, 1, 1, 32, 8, 0},  {1, 8192, 16, 128, 1, 4, 32, 8, 12},
                                      {1, 8192, 16, 128, 0, 4, 32, 8, 12}, {1, 4099, 1, 128, 0, 5, 16, 8, 8},
                                      {1, 1000, 2, 64, 1, 2, 8, 8, 1},     {1, 1000, 2, 64, 0, 1, 16, 8, 0},
                                      {1, 65536, 1, 32, 0, 8, 128, 16, 56}, {2, 1100, 1, 32, 1, 2, 16, 8, 2},
                                      {1, 64, 1, 128, 1, 1, 1, 8, 0}};
        for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
            const int *c = segs[i];
            int seg, lb, blocks;
            const int n =
                ocla__fused_segments(c[1], (double)((c[3] + 31) / 32) * c[0] * c[2], 132, c[4], &seg, &lb, &blocks);
            cr_assert(n == c[5] && seg == c[6] && lb == c[7] && blocks == c[8],
                      "(%d,%d,%d,%d) gated %d: %d x %d chunks, %d a block, %d blocks", c[0], c[1], c[2], c[3], c[4], n,
                      seg, lb, blocks);
            cr_assert((n - 1) * seg < (c[1] + 63) / 64 && n * seg >= (c[1] + 63) / 64, "every segment has chunks");
            ocla_plan_request rs = {c[4] ? OCLA_OP_SIMPLE_GLA_CHUNK : OCLA_OP_LINEAR_CHUNK, c[0], c[1], c[2], 128, c[3], 64,
                                    OCLA_PLAN_BF16, c[4] ? OCLA_GATE_SCALAR : OCLA_GATE_NONE, OCLA_FEATURE_IDENTITY};
            cr_assert_eq(ocla_plan_compute(&L, &rs, &p), OCLA_SUCCESS);
            cr_assert_str_eq(p.kernels, n > 1 ? "mma_fused_part, mma_fused_fwd" : "mma_fused_fwd", "case %zu", i);
        }
        ocla_context_destroy(ctx);
    }
}
