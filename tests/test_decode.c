/* SPDX-License-Identifier: MIT */
/* The decode step (recurrent form, T = 1): kernels_cl/linear_attn_decode.cl. On every device:
 *  - the plan names la_decode for one token and la_recurrent for more, so the single-token calls
 *    below (and in the other suites) run the decode kernel; a chunked call of one token (of two half
 *    tokens) runs the decode (recurrent) kernel too, with the recurrent form's results;
 *  - two decode steps, states updated in place (dense states, or a pool through state slots), equal
 *    the fp64 recurrence and the recurrent kernel (linear_attn_rec.cl) run over the same two tokens
 *    from the same states: outputs of both tokens, final states and z, for every gate kind, with and
 *    without the normaliser, every feature map, at shapes below and above the kernel's tiles (K up
 *    to 256, the ops' limit; V = 129, more than one work-group's columns on GPUs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_attention.h"

enum { B = 3, S = 5, H = 2, T2 = 2 };
static const int32_t slot_of[B] = {3, 0, 4};

/* fp32 against fp64 over at most 256-term dot products and two steps: ~sqrt(K) eps ~ 2e-6 typical,
 * K eps ~ 2e-5 in the worst case; the recurrent kernel sums in another order (its partial sums),
 * so the two fp32 results differ by as much. 1e-4 normwise, as the attention suite's recurrent
 * checks, leaves room for a driver's contractions and is far below any indexing or gate mistake
 * (a wrong row, column or gate changes the outputs by O(1)). */
#define TOL 1e-4

typedef struct dcase {
    int K, V, gate, norm, feature, slots;
} dcase;

/* Inputs of two tokens [B,2,H,*], states [B,H,K,V] / z [B,H,K], the pool's other rows */
typedef struct dhost {
    float *q, *k, *v, *g, *s0, *z0, *pool, *zpool;
    size_t nq, nv, ng, ns, nz;
} dhost;

static void make_host(const dcase *c, uint32_t seed, dhost *h) {
    h->nq = (size_t)B * T2 * H * c->K, h->nv = (size_t)B * T2 * H * c->V;
    h->ng = c->gate == OCLA_GATE_VECTOR ? h->nq : (size_t)B * T2 * H;
    h->ns = (size_t)B * H * c->K * c->V, h->nz = (size_t)B * H * c->K;
    h->q = malloc(h->nq * 4), h->k = malloc(h->nq * 4), h->v = malloc(h->nv * 4), h->g = malloc(h->ng * 4);
    h->s0 = malloc(h->ns * 4), h->z0 = malloc(h->nz * 4);
    const size_t per_s = h->ns / B, per_z = h->nz / B;
    h->pool = malloc((size_t)S * per_s * 4), h->zpool = malloc((size_t)S * per_z * 4);
    const float lo = c->norm ? 0.0f : -1.0f; /* normaliser: non-negative features keep denominators from 0 */
    tc_fill_uniform(h->q, h->nq, seed + 1, lo, 1), tc_fill_uniform(h->k, h->nq, seed + 2, lo, 1);
    tc_fill_uniform(h->v, h->nv, seed + 3, -1, 1), tc_fill_uniform(h->g, h->ng, seed + 4, -1.0f, 0);
    tc_fill_uniform(h->s0, h->ns, seed + 5, -1, 1), tc_fill_uniform(h->z0, h->nz, seed + 6, 0, 2);
    tc_fill_uniform(h->pool, (size_t)S * per_s, seed + 7, -1, 1), tc_fill_uniform(h->zpool, (size_t)S * per_z, seed + 8, 0, 2);
    for (int b = 0; b < B; b++) { /* the rows' states in their slots */
        memcpy(h->pool + (size_t)slot_of[b] * per_s, h->s0 + (size_t)b * per_s, per_s * 4);
        memcpy(h->zpool + (size_t)slot_of[b] * per_z, h->z0 + (size_t)b * per_z, per_z * 4);
    }
}

static void free_host(dhost *h) {
    free(h->q), free(h->k), free(h->v), free(h->g), free(h->s0), free(h->z0), free(h->pool), free(h->zpool);
}

/* Token t of x [B,2,H,n] as [B,1,H,n] */
static float *token(const float *x, int t, int n) {
    float *y = malloc((size_t)B * H * n * 4);
    for (int b = 0; b < B; b++)
        memcpy(y + (size_t)b * H * n, x + ((size_t)b * T2 + t) * H * n, (size_t)H * n * 4);
    return y;
}

static ocla_tensor *gate_tensor(ocla_context *ctx, const dcase *c, int T, const float *g) {
    if (c->gate == OCLA_GATE_VECTOR) return tc_tensor4(ctx, B, T, H, c->K, g);
    if (c->gate != OCLA_GATE_SCALAR) return NULL;
    const int64_t gd[3] = {B, T, H};
    return tc_tensor(ctx, 3, gd, g);
}

static ocla_attn_params params_of(const dcase *c) {
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = (ocla_gate_kind)c->gate, p.normalize = c->norm, p.feature_map = (ocla_feature_map)c->feature;
    p.form = OCLA_FORM_RECURRENT;
    return p;
}

/* got [B,1,H,V] against token t of ref [B,2,H,V] */
static double token_err(const float *got, const double *ref, int t, int V) {
    double *r = malloc((size_t)B * H * V * 8);
    for (int b = 0; b < B; b++)
        memcpy(r + (size_t)b * H * V, ref + ((size_t)b * T2 + t) * H * V, (size_t)H * V * 8);
    const double e = tc_max_rel_err(got, r, (size_t)B * H * V);
    free(r);
    return e;
}

/* The rows' states out of the pool (dense: as they are) */
static float *rows_of(const float *st, const dcase *c, size_t per) {
    float *y = malloc((size_t)B * per * 4);
    for (int b = 0; b < B; b++) memcpy(y + (size_t)b * per, st + (size_t)(c->slots ? slot_of[b] : b) * per, per * 4);
    return y;
}

static void check(ocla_context *ctx, int d, const dcase *c, uint32_t seed) {
    dhost h;
    make_host(c, seed, &h);
    const size_t per_s = h.ns / B, per_z = h.nz / B, nv1 = (size_t)B * H * c->V;
    const int64_t zd[3] = {B, H, c->K}, zpd[3] = {S, H, c->K};
    /* the recurrent kernel over both tokens, states dense, into fresh tensors */
    ocla_tensor *q2 = tc_tensor4(ctx, B, T2, H, c->K, h.q), *k2 = tc_tensor4(ctx, B, T2, H, c->K, h.k);
    ocla_tensor *v2 = tc_tensor4(ctx, B, T2, H, c->V, h.v), *g2 = gate_tensor(ctx, c, T2, h.g);
    ocla_tensor *o2 = tc_tensor4(ctx, B, T2, H, c->V, NULL);
    ocla_tensor *s0 = tc_tensor4(ctx, B, H, c->K, c->V, h.s0), *s1 = tc_tensor4(ctx, B, H, c->K, c->V, NULL);
    ocla_tensor *z0 = c->norm ? tc_tensor(ctx, 3, zd, h.z0) : NULL, *z1 = c->norm ? tc_tensor(ctx, 3, zd, NULL) : NULL;
    ocla_attn_params p = params_of(c);
    ocla_attn_io io = {.q = q2, .k = k2, .v = v2, .g = g2, .o = o2, .initial_state = s0, .final_state = s1,
                       .initial_z = z0, .final_z = z1};
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    float *ro2 = tc_download(ctx, o2), *rs1 = tc_download(ctx, s1), *rz1 = c->norm ? tc_download(ctx, z1) : NULL;
    /* two decode steps in place: dense states, or the pool through the slots */
    ocla_tensor *st = c->slots ? tc_tensor4(ctx, S, H, c->K, c->V, h.pool) : tc_tensor4(ctx, B, H, c->K, c->V, h.s0);
    ocla_tensor *zt = !c->norm ? NULL : c->slots ? tc_tensor(ctx, 3, zpd, h.zpool) : tc_tensor(ctx, 3, zd, h.z0);
    if (c->slots) p.state_slots = slot_of, p.n_state_slots = B;
    float *o_dec[T2];
    for (int t = 0; t < T2; t++) {
        float *qt = token(h.q, t, c->K), *kt = token(h.k, t, c->K), *vt = token(h.v, t, c->V);
        float *gt = token(h.g, t, c->gate == OCLA_GATE_VECTOR ? c->K : 1);
        ocla_tensor *q = tc_tensor4(ctx, B, 1, H, c->K, qt), *k = tc_tensor4(ctx, B, 1, H, c->K, kt);
        ocla_tensor *v = tc_tensor4(ctx, B, 1, H, c->V, vt), *g = gate_tensor(ctx, c, 1, gt);
        ocla_tensor *o = tc_tensor4(ctx, B, 1, H, c->V, NULL);
        const ocla_attn_io step = {.q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = st, .final_state = st,
                                   .initial_z = zt, .final_z = zt};
        tc_ok(ctx, ocla_attention_forward(ctx, &p, &step));
        o_dec[t] = tc_download(ctx, o);
        free(qt), free(kt), free(vt), free(gt);
        ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(g);
        ocla_tensor_destroy(o);
    }
    float *st_all = tc_download(ctx, st), *zt_all = zt ? tc_download(ctx, zt) : NULL;
    float *ds = rows_of(st_all, c, per_s), *dz = zt_all ? rows_of(zt_all, c, per_z) : NULL;
    /* fp64 over both tokens */
    ref_attn_cfg rc;
    memset(&rc, 0, sizeof rc);
    rc.B = B, rc.T = T2, rc.H = H, rc.K = c->K, rc.V = c->V, rc.causal = 1, rc.scale = 1.0 / sqrt((double)c->K);
    rc.feature = c->feature, rc.normalize = c->norm, rc.eps = p.eps, rc.gate = c->gate;
    double *ro = malloc(h.nv * 8), *rs = malloc(h.ns * 8), *rz = malloc(h.nz * 8);
    ref_attn_recurrent(&rc, h.q, h.k, h.v, h.g, h.s0, c->norm ? h.z0 : NULL, ro, rs, rz);
    double *ro2d = tc_to_double(ro2, h.nv), *rs1d = tc_to_double(rs1, h.ns), *rz1d = rz1 ? tc_to_double(rz1, h.nz) : NULL;
    const char *dev = tc_device_name(d);
    for (int t = 0; t < T2; t++) {
        const double e64 = token_err(o_dec[t], ro, t, c->V), erec = token_err(o_dec[t], ro2d, t, c->V);
        cr_assert(e64 <= TOL && erec <= TOL, "%s: K %d V %d gate %d norm %d feature %d slots %d: token %d output err %g "
                  "(fp64), %g (recurrent kernel)", dev, c->K, c->V, c->gate, c->norm, c->feature, c->slots, t, e64, erec);
        cr_assert(tc_all_finite(o_dec[t], nv1));
    }
    const double es64 = tc_max_rel_err(ds, rs, h.ns), esrec = tc_max_rel_err(ds, rs1d, h.ns);
    cr_assert(es64 <= TOL && esrec <= TOL, "%s: K %d V %d gate %d norm %d feature %d slots %d: state err %g (fp64), %g "
              "(recurrent kernel)", dev, c->K, c->V, c->gate, c->norm, c->feature, c->slots, es64, esrec);
    if (c->norm) {
        const double ez64 = tc_max_rel_err(dz, rz, h.nz), ezrec = tc_max_rel_err(dz, rz1d, h.nz);
        cr_assert(ez64 <= TOL && ezrec <= TOL, "%s: K %d V %d gate %d feature %d slots %d: z err %g (fp64), %g (recurrent)",
                  dev, c->K, c->V, c->gate, c->feature, c->slots, ez64, ezrec);
    }
    if (c->slots) /* the slots no row names: untouched */
        for (int sl = 0; sl < S; sl++)
            if (sl != slot_of[0] && sl != slot_of[1] && sl != slot_of[2])
                cr_assert(!memcmp(st_all + (size_t)sl * per_s, h.pool + (size_t)sl * per_s, per_s * 4),
                          "%s: slot %d changed", dev, sl);
    for (int t = 0; t < T2; t++) free(o_dec[t]);
    free(ro2), free(rs1), free(rz1), free(st_all), free(zt_all), free(ds), free(dz), free(ro), free(rs), free(rz);
    free(ro2d), free(rs1d), free(rz1d);
    ocla_tensor_destroy(q2), ocla_tensor_destroy(k2), ocla_tensor_destroy(v2), ocla_tensor_destroy(g2);
    ocla_tensor_destroy(o2), ocla_tensor_destroy(s0), ocla_tensor_destroy(s1), ocla_tensor_destroy(z0);
    ocla_tensor_destroy(z1), ocla_tensor_destroy(st), ocla_tensor_destroy(zt);
    free_host(&h);
}

/* The plan of one token is the decode kernel's, of two the recurrent kernel's. */
Test(decode, plans_decode_kernel, .timeout = 300) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int T = 1; T <= 2; T++) {
            const ocla_plan_request r = {.op = OCLA_OP_ATTN_RECURRENT, .B = 64, .T = T, .H = 16, .K = 128, .V = 128,
                                         .gate = OCLA_GATE_VECTOR};
            ocla_plan plan;
            char text[1024];
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, text, sizeof text));
            cr_assert(strstr(plan.kernels, T == 1 ? "la_decode" : "la_recurrent"), "%s: T = %d: %s", tc_device_name(d),
                      T, text);
        }
        ocla_context_destroy(ctx);
    }
}

/* A chunked causal call of one token runs the decode step in every dtype, of two half tokens the
 * recurrent kernel (runtime/op_attention.c, make_key): its plan names them, and its outputs and final
 * states are the recurrent form's bit for bit. Three tokens, two fp32 tokens and packed sequences stay
 * chunked. */
Test(decode, few_tokens_of_the_chunked_form, .timeout = 300) {
    static const ocla_dtype dts[3] = {OCLA_F32, OCLA_BF16, OCLA_F16};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int di = 0; di < 3; di++)
            for (int nt = 1; nt <= 3; nt++)
                for (int packed = 0; packed <= (nt == 1); packed++) {
                    const ocla_dtype dt = dts[di];
                    const int nb = packed ? 1 : 2, nh = 2, dk = 16, dv = 24;
                    const size_t nq = (size_t)nb * nt * nh * dk, nv = (size_t)nb * nt * nh * dv, ns = (size_t)nb * nh * dk * dv;
                    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *g = malloc((size_t)nb * nt * nh * 4),
                          *h0 = malloc(ns * 4);
                    tc_fill_uniform(q, nq, 500 + nt, -1, 1), tc_fill_uniform(k, nq, 501 + nt, -1, 1);
                    tc_fill_uniform(v, nv, 502 + nt, -1, 1), tc_fill_uniform(h0, ns, 503 + nt, -1, 1);
                    tc_fill_uniform(g, (size_t)nb * nt * nh, 504 + nt, -0.5f, 0.0f);
                    const int64_t dq[4] = {nb, nt, nh, dk}, dvv[4] = {nb, nt, nh, dv}, dg[3] = {nb, nt, nh};
                    ocla_tensor *tq = tc_tensor_as(ctx, dt, 4, dq, q), *tk = tc_tensor_as(ctx, dt, 4, dq, k),
                                *tv = tc_tensor_as(ctx, dt, 4, dvv, v), *tg = tc_tensor_as(ctx, OCLA_F32, 3, dg, g),
                                *th0 = tc_tensor4(ctx, nb, nh, dk, dv, h0);
                    ocla_tensor *to[2] = {tc_tensor_as(ctx, dt, 4, dvv, NULL), tc_tensor_as(ctx, dt, 4, dvv, NULL)};
                    ocla_tensor *th[2] = {tc_tensor4(ctx, nb, nh, dk, dv, NULL), tc_tensor4(ctx, nb, nh, dk, dv, NULL)};
                    const int32_t cu[2] = {0, 1};
                    ocla_plan plan[2];
                    for (int form = 0; form <= 1 - packed; form++) { /* chunked, recurrent (no cu_seqlens there) */
                        ocla_attn_params p;
                        ocla_attn_params_defaults(&p);
                        p.gate = OCLA_GATE_SCALAR;
                        p.form = form ? OCLA_FORM_RECURRENT : OCLA_FORM_CHUNKED;
                        if (packed) p.cu_seqlens = cu, p.n_seqs = 1;
                        ocla_attn_io io = {.q = tq, .k = tk, .v = tv, .g = tg, .o = to[form], .initial_state = th0,
                                           .final_state = th[form]};
                        ocla_attn_op *op = NULL;
                        tc_ok(ctx, ocla_attention_prepare(ctx, &p, &io, &op));
                        tc_ok(ctx, ocla_attention_op_explain(op, &plan[form], NULL, 0));
                        tc_ok(ctx, ocla_attention_run(op, &io));
                        ocla_attention_op_destroy(op);
                    }
                    const int decode = nt == 1 && !packed, rec = nt == 2 && dt != OCLA_F32;
                    const char *kn = plan[0].kernels;
                    cr_assert_eq(strstr(kn, "la_decode") != NULL, decode, "%s: dtype %d, %d tokens, packed %d: %s",
                                 tc_device_name(d), (int)dt, nt, packed, kn);
                    cr_assert_eq(strstr(kn, "la_recurrent") != NULL, rec, "%s: dtype %d, %d tokens: %s", tc_device_name(d),
                                 (int)dt, nt, kn);
                    if (decode || rec) { /* the recurrent form's kernel: the same bits */
                        cr_assert_str_eq(plan[0].kernels, plan[1].kernels);
                        for (int t = 0; t < 2; t++) {
                            float *a = tc_download(ctx, t ? th[0] : to[0]), *b = tc_download(ctx, t ? th[1] : to[1]);
                            cr_assert(!memcmp(a, b, (t ? ns : nv) * 4), "%s: dtype %d, %d tokens: %s differs",
                                      tc_device_name(d), (int)dt, nt, t ? "the final state" : "o");
                            free(a), free(b);
                        }
                    }
                    ocla_tensor_destroy(tq), ocla_tensor_destroy(tk), ocla_tensor_destroy(tv), ocla_tensor_destroy(tg);
                    ocla_tensor_destroy(th0);
                    for (int f = 0; f < 2; f++) ocla_tensor_destroy(to[f]), ocla_tensor_destroy(th[f]);
                    free(q), free(k), free(v), free(g), free(h0);
                }
        ocla_context_destroy(ctx);
    }
}

/* Every gate kind x normaliser x feature map x (dense, slots) at a few shapes. */
Test(decode, vs_fp64_and_recurrent, .timeout = 1800) {
    static const int dims[][2] = {{1, 1}, {5, 17}, {64, 128}, {256, 33}, {32, 129}};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        uint32_t seed = 100;
        int which = 0;
        for (int gate = 0; gate <= 3; gate++)
            for (int norm = 0; norm <= 1; norm++)
                for (int f = 0; f <= 2; f++)
                    for (int slots = 0; slots <= 1; slots++) {
                        if (norm && f == OCLA_FEATURE_IDENTITY) continue; /* as the attention suite: phi > 0 */
                        /* every shape for one feature map per gate and normaliser; one rotating shape otherwise */
                        const int all = f == (norm ? OCLA_FEATURE_ELU1 : OCLA_FEATURE_IDENTITY), one = which++ % 5;
                        for (int i = 0; i < 5; i++, seed++) {
                            if (!all && i != one) continue;
                            const dcase c = {dims[i][0], dims[i][1], gate, norm, f, slots};
                            check(ctx, d, &c, seed);
                        }
                    }
        ocla_context_destroy(ctx);
    }
}

/* The GPU shape on every device (portable_kernels_only plans it on CPUs too): DV x KS work-groups with
 * key splits, float4 rows where the plan allows them (dense states, V % 4 == 0, no normaliser) and
 * one column per work-item otherwise, at shapes with partial and several column tiles. */
Test(decode, gpu_shape_vs_fp64_and_recurrent, .timeout = 1800) {
    static const dcase cases[] = {
        {64, 128, OCLA_GATE_VECTOR, 0, OCLA_FEATURE_IDENTITY, 0}, {64, 128, OCLA_GATE_SCALAR, 0, OCLA_FEATURE_IDENTITY, 1},
        {256, 32, OCLA_GATE_FIXED, 0, OCLA_FEATURE_ELU1, 0},     {16, 4, OCLA_GATE_NONE, 0, OCLA_FEATURE_RELU, 1},
        {24, 256, OCLA_GATE_VECTOR, 0, OCLA_FEATURE_IDENTITY, 1}, {32, 129, OCLA_GATE_VECTOR, 0, OCLA_FEATURE_IDENTITY, 0},
        {5, 17, OCLA_GATE_SCALAR, 1, OCLA_FEATURE_ELU1, 1},      {64, 128, OCLA_GATE_NONE, 1, OCLA_FEATURE_ELU1, 0},
    };
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.portable_kernels_only = 1;
        ocla_context *ctx = tc_open_with(d, &o);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const dcase *c = &cases[i];
            /* the plan's shape: float4 exactly where the rows allow it */
            const ocla_plan_request r = {.op = OCLA_OP_ATTN_RECURRENT, .B = B, .T = 1, .H = H, .K = c->K, .V = c->V,
                                         .gate = c->gate, .feature = c->feature,
                                         .flags = c->norm ? OCLA_PLAN_NORMALIZE : 0u};
            ocla_plan plan;
            char text[1024];
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, text, sizeof text));
            const int vec = !c->norm && c->V % 4 == 0;
            cr_assert(strstr(plan.kernels, "la_decode") && (strstr(text, "VEC=1") != NULL) == vec, "%s: %s",
                      tc_device_name(d), text);
            check(ctx, d, c, 500 + (uint32_t)i);
        }
        ocla_context_destroy(ctx);
    }
}
