/* SPDX-License-Identifier: MIT */
/* Backward of causal linear attention / simple GLA / retention / GLA (ocla_attention_backward) on
 * every device, against the fp64 analytic reference gradient (tests/ref/ref_grad.c: token-level
 * recurrence + reverse pass) and against central finite differences of the fp64 forward; plus the
 * projection backward (ocla_linear_backward) against fp64.
 *
 * Tolerances (normwise max relative error, tc_max_rel_err):
 *  - device vs fp64: BWD_TOL = 1e-3, the acceptance bound. What fp32 gives: every gradient
 *    entry is a sum of at most C*(K+V) + K*V products of O(1) inputs with factors <= 1, so the
 *    rounding is ~1e-6 of the largest entry (measured: <= 5e-6 on PoCL and rusticl); dg is a
 *    reverse cumulative sum over a chunk of differences q.dq - k.dk, which nearly cancel where
 *    gates are strong, so it is the worst entry there (measured <= 4e-5 at log gates -6..-4 per
 *    step). The bound leaves > 20x margin for GPUs' contracted/fused arithmetic and exp.
 *  - fp64 analytic vs fp64 finite differences: REF_TOL = 1e-6. Central differences with a relative
 *    step of 1e-5 have truncation error ~h^2 ~ 1e-10 and cancellation error ~1e-16/h ~ 1e-11
 *    relative; 1e-6 only fails on a wrong formula (a wrong term is O(1) relative).
 *  - device vs finite differences: the same 1e-3 (FD is accurate to ~1e-10, so this is the device
 *    error plus nothing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "plan.h"
#include "ref/ref_grad.h"

#define BWD_TOL 1e-3
#define REF_TOL 1e-6
#define FD_STEP 1e-5

typedef struct variant {
    const char *name;
    ocla_feature_map feature;
    ocla_gate_kind gate;
    int normalize;
    float glo, ghi; /* log gates uniform in [glo, ghi) */
} variant;

typedef struct shape {
    int B, T, H, K, V, chunk;
} shape;

typedef struct host_case {
    ref_attn_cfg cfg;
    size_t nq, nv, ng, ns, nz;
    float *q, *k, *v, *g, *h0, *z0, *dout, *dhT, *dzT;
    double *dq_, *dk_, *dv_, *dg_, *dh0_, *dz0_; /* fp64 copies of the inputs */
    ref_attn_in in;
    double decay[16];
} host_case;

static float *fvec(size_t n, uint32_t seed, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert(x);
    tc_fill_uniform(x, n, seed, lo, hi);
    return x;
}

/* Keep log gates away from 0 (the clamp's kink) so finite differences are smooth there. */
static void away_from_zero(float *g, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fabsf(g[i]) < 0.02f) g[i] = g[i] < 0 ? -0.02f - fabsf(g[i]) : 0.02f + g[i];
}

static void make_case(host_case *hc, const variant *vr, const shape *sh, uint32_t seed, int with_states) {
    memset(hc, 0, sizeof *hc);
    ref_attn_cfg *c = &hc->cfg;
    c->B = sh->B, c->T = sh->T, c->H = sh->H, c->K = sh->K, c->V = sh->V;
    c->feature = (int)vr->feature, c->gate = (int)vr->gate, c->normalize = vr->normalize;
    c->eps = 1e-6f; /* the float the device gets, in double */
    c->scale = (float)(1.0 / sqrt((double)sh->K));
    hc->nq = (size_t)sh->B * sh->T * sh->H * sh->K, hc->nv = (size_t)sh->B * sh->T * sh->H * sh->V;
    hc->ng = (size_t)sh->B * sh->T * sh->H * (vr->gate == OCLA_GATE_VECTOR ? sh->K : 1);
    hc->ns = (size_t)sh->B * sh->H * sh->K * sh->V, hc->nz = (size_t)sh->B * sh->H * sh->K;
    /* elu+1 / relu with the normaliser: inputs that keep the denominator away from eps */
    float lo = vr->normalize ? -0.5f : -1.0f;
    hc->q = fvec(hc->nq, seed + 1, lo, 1);
    hc->k = fvec(hc->nq, seed + 2, lo, 1);
    hc->v = fvec(hc->nv, seed + 3, -1, 1);
    hc->dout = fvec(hc->nv, seed + 4, -1, 1);
    if (vr->gate == OCLA_GATE_SCALAR || vr->gate == OCLA_GATE_VECTOR) {
        hc->g = fvec(hc->ng, seed + 5, vr->glo, vr->ghi);
        away_from_zero(hc->g, hc->ng);
    }
    if (with_states) {
        hc->h0 = fvec(hc->ns, seed + 6, -1, 1);
        hc->dhT = fvec(hc->ns, seed + 7, -1, 1);
        if (vr->normalize) {
            hc->z0 = fvec(hc->nz, seed + 8, 0, 2);
            hc->dzT = fvec(hc->nz, seed + 9, -1, 1);
        }
    }
    for (int h = 0; h < 16; h++) hc->decay[h] = (float)log(1.0 - pow(2.0, -5.0 - h)); /* what the device uses */
    c->fixed_decay = hc->decay;
    hc->in.q = tc_to_double(hc->q, hc->nq);
    hc->in.k = tc_to_double(hc->k, hc->nq);
    hc->in.v = tc_to_double(hc->v, hc->nv);
    hc->in.g = hc->g ? tc_to_double(hc->g, hc->ng) : NULL;
    hc->in.h0 = hc->h0 ? tc_to_double(hc->h0, hc->ns) : NULL;
    hc->in.z0 = hc->z0 ? tc_to_double(hc->z0, hc->nz) : NULL;
}

static void free_case(host_case *hc) {
    free(hc->q), free(hc->k), free(hc->v), free(hc->g), free(hc->h0), free(hc->z0), free(hc->dout), free(hc->dhT),
        free(hc->dzT);
    free(hc->in.q), free(hc->in.k), free(hc->in.v), free(hc->in.g), free(hc->in.h0), free(hc->in.z0);
}

typedef struct grads64 {
    double *dq, *dk, *dv, *dg, *dh0, *dz0;
} grads64;

static void alloc_grads(grads64 *g, const host_case *hc) {
    g->dq = calloc(hc->nq, 8), g->dk = calloc(hc->nq, 8), g->dv = calloc(hc->nv, 8), g->dg = calloc(hc->ng, 8);
    g->dh0 = calloc(hc->ns, 8), g->dz0 = calloc(hc->nz, 8);
}
static void free_grads(grads64 *g) { free(g->dq), free(g->dk), free(g->dv), free(g->dg), free(g->dh0), free(g->dz0); }

static void ref_grads(host_case *hc, grads64 *out, int fd) {
    double *dout = tc_to_double(hc->dout, hc->nv);
    double *dhT = hc->dhT ? tc_to_double(hc->dhT, hc->ns) : NULL;
    double *dzT = hc->dzT ? tc_to_double(hc->dzT, hc->nz) : NULL;
    ref_attn_grads g = {out->dq, out->dk, out->dv, hc->g ? out->dg : NULL, hc->h0 ? out->dh0 : NULL,
                        hc->z0 ? out->dz0 : NULL};
    if (fd)
        ref_attn_fd(&hc->cfg, &hc->in, dout, dhT, dzT, FD_STEP, &g);
    else
        ref_attn_backward(&hc->cfg, &hc->in, dout, dhT, dzT, &g);
    free(dout), free(dhT), free(dzT);
}

typedef struct errs {
    double dq, dk, dv, dg, dh0, dz0;
} errs;

static double maxerr(const errs *e) {
    double m = e->dq;
    if (e->dk > m) m = e->dk;
    if (e->dv > m) m = e->dv;
    if (e->dg > m) m = e->dg;
    if (e->dh0 > m) m = e->dh0;
    if (e->dz0 > m) m = e->dz0;
    return m;
}

/* [B,T,H,D] tensors either dense, or (strided = 1) a view of a [B,H,T,D] buffer starting 5 floats
 * in, so the kernels' strides and offsets are exercised (the layout fla's head-first mode uses). */
static int g_strided;
static ocla_tensor *g_parents[16];
static int g_np;

static ocla_tensor *t4(ocla_context *ctx, int64_t B, int64_t T, int64_t H, int64_t D, const float *host) {
    if (!g_strided) return tc_tensor4(ctx, B, T, H, D, host);
    const int64_t off = 5, n = B * T * H * D;
    float *buf = calloc((size_t)(n + off), sizeof *buf);
    cr_assert(buf);
    if (host)
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t d = 0; d < D; d++)
                        buf[off + ((b * H + h) * T + t) * D + d] = host[((b * T + t) * H + h) * D + d];
    int64_t pd[1] = {n + off};
    ocla_tensor *parent = tc_tensor(ctx, 1, pd, buf), *view = NULL;
    free(buf);
    int64_t dims[4] = {B, T, H, D}, strides[4] = {H * T * D, D, T * D, 1};
    tc_ok(ctx, ocla_tensor_view(ctx, parent, (size_t)off, 4, dims, strides, &view));
    cr_assert(g_np < 16);
    g_parents[g_np++] = parent;
    return view;
}

/* Run the device backward for hc and compare with ref (a fp64 gradient set). */
static errs run_device(ocla_context *ctx, const variant *vr, host_case *hc, int chunk, const grads64 *ref) {
    const ref_attn_cfg *c = &hc->cfg;
    ocla_tensor *q = t4(ctx, c->B, c->T, c->H, c->K, hc->q), *k = t4(ctx, c->B, c->T, c->H, c->K, hc->k);
    ocla_tensor *v = t4(ctx, c->B, c->T, c->H, c->V, hc->v), *dout = t4(ctx, c->B, c->T, c->H, c->V, hc->dout);
    ocla_tensor *dq = t4(ctx, c->B, c->T, c->H, c->K, NULL), *dk = t4(ctx, c->B, c->T, c->H, c->K, NULL);
    ocla_tensor *dv = t4(ctx, c->B, c->T, c->H, c->V, NULL);
    ocla_tensor *g = NULL, *dg = NULL, *h0 = NULL, *dhT = NULL, *dh0 = NULL, *z0 = NULL, *dzT = NULL, *dz0 = NULL;
    if (hc->g) {
        int64_t gd[4] = {c->B, c->T, c->H, c->K};
        int nd = vr->gate == OCLA_GATE_VECTOR ? 4 : 3;
        g = nd == 4 ? t4(ctx, c->B, c->T, c->H, c->K, hc->g) : tc_tensor(ctx, nd, gd, hc->g);
        dg = nd == 4 ? t4(ctx, c->B, c->T, c->H, c->K, NULL) : tc_tensor(ctx, nd, gd, NULL);
    }
    if (hc->h0) {
        h0 = tc_tensor4(ctx, c->B, c->H, c->K, c->V, hc->h0);
        dhT = tc_tensor4(ctx, c->B, c->H, c->K, c->V, hc->dhT);
        dh0 = tc_tensor4(ctx, c->B, c->H, c->K, c->V, NULL);
    }
    if (hc->z0) {
        int64_t zd[3] = {c->B, c->H, c->K};
        z0 = tc_tensor(ctx, 3, zd, hc->z0);
        dzT = tc_tensor(ctx, 3, zd, hc->dzT);
        dz0 = tc_tensor(ctx, 3, zd, NULL);
    }
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.causal = 1, p.feature_map = vr->feature, p.normalize = vr->normalize, p.eps = 1e-6f, p.gate = vr->gate;
    p.chunk = chunk;
    ocla_attn_grad_io io;
    memset(&io, 0, sizeof io);
    io.q = q, io.k = k, io.v = v, io.g = g, io.initial_state = h0, io.initial_z = z0, io.d_o = dout;
    io.d_final_state = dhT, io.d_final_z = dzT, io.dq = dq, io.dk = dk, io.dv = dv, io.dg = dg;
    io.d_initial_state = dh0, io.d_initial_z = dz0;
    tc_ok(ctx, ocla_attention_backward(ctx, &p, &io));
    errs e = {0};
    float *x;
    x = tc_download(ctx, dq), e.dq = tc_max_rel_err(x, ref->dq, hc->nq), free(x);
    x = tc_download(ctx, dk), e.dk = tc_max_rel_err(x, ref->dk, hc->nq), free(x);
    x = tc_download(ctx, dv), e.dv = tc_max_rel_err(x, ref->dv, hc->nv), free(x);
    if (dg) x = tc_download(ctx, dg), e.dg = tc_max_rel_err(x, ref->dg, hc->ng), free(x);
    if (dh0) x = tc_download(ctx, dh0), e.dh0 = tc_max_rel_err(x, ref->dh0, hc->ns), free(x);
    if (dz0) x = tc_download(ctx, dz0), e.dz0 = tc_max_rel_err(x, ref->dz0, hc->nz), free(x);
    ocla_tensor *all[] = {q, k, v, dout, dq, dk, dv, g, dg, h0, dhT, dh0, z0, dzT, dz0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    for (int i = 0; i < g_np; i++) ocla_tensor_destroy(g_parents[i]);
    g_np = 0;
    return e;
}

/* Shapes: T not a multiple of the chunk, odd K/V, every chunk the forward's plan may pick
 * (16..256) plus the backward's default (0) and a tiny chunk (4) that makes short sequences
 * multi-chunk; at chunk 64 (where NVIDIA's tensor-core backward runs: identity map, no normaliser)
 * float4 rows (K, V multiples of 4) and not, a last chunk of 8 tokens, and K, V past one
 * 64 x 64 state tile and one 128-wide output tile (72 x 136). Modest sizes: PoCL and rusticl run
 * these on 2 CI cores. */
static const shape SHAPES[] = {
    {2, 37, 2, 5, 17, 16}, {1, 100, 1, 17, 5, 32}, {1, 70, 2, 8, 8, 64}, {1, 130, 1, 16, 9, 128},
    {2, 45, 1, 7, 3, 0},   {1, 23, 1, 4, 6, 4},     {1, 300, 1, 6, 5, 256},
    {1, 1, 1, 1, 1, 0},    {3, 5, 3, 2, 1, 16}, /* degenerate: one token, one-wide key/value */
    {1, 200, 2, 72, 136, 64},
};
static const shape FD_SHAPE = {1, 11, 2, 3, 5, 4};

static void check_variant(const variant *vr) {
    /* fp64 analytic vs finite differences first: validates the reference itself. */
    {
        host_case hc;
        make_case(&hc, vr, &FD_SHAPE, 99, 1);
        grads64 an, fd;
        alloc_grads(&an, &hc), alloc_grads(&fd, &hc);
        ref_grads(&hc, &an, 0);
        ref_grads(&hc, &fd, 1);
        /* normwise relative error between two fp64 arrays (the metric of tc_max_rel_err) */
        const double *pa[6] = {an.dq, an.dk, an.dv, an.dg, an.dh0, an.dz0}, *pf[6] = {fd.dq, fd.dk, fd.dv, fd.dg, fd.dh0, fd.dz0};
        size_t nn[6] = {hc.nq, hc.nq, hc.nv, hc.g ? hc.ng : 0, hc.h0 ? hc.ns : 0, hc.z0 ? hc.nz : 0};
        for (int a = 0; a < 6; a++) {
            double mr = 0, md = 0;
            for (size_t i = 0; i < nn[a]; i++) {
                if (fabs(pf[a][i]) > mr) mr = fabs(pf[a][i]);
                if (fabs(pa[a][i] - pf[a][i]) > md) md = fabs(pa[a][i] - pf[a][i]);
            }
            double err = nn[a] ? md / (mr > 1e-30 ? mr : 1e-30) : 0;
            cr_assert_leq(err, REF_TOL, "%s: fp64 analytic vs finite differences, gradient %d: %g", vr->name, a, err);
        }
        /* device vs finite differences */
        for (int d = 0; d < tc_device_count(); d++) {
            ocla_context *ctx = tc_open(d);
            errs e2 = run_device(ctx, vr, &hc, FD_SHAPE.chunk, &fd);
            cr_assert_leq(maxerr(&e2), BWD_TOL, "%s on %s vs finite differences: dq %g dk %g dv %g dg %g dh0 %g dz0 %g",
                          vr->name, tc_device_name(d), e2.dq, e2.dk, e2.dv, e2.dg, e2.dh0, e2.dz0);
            ocla_context_destroy(ctx);
        }
        free_grads(&an), free_grads(&fd);
        free_case(&hc);
    }
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        double worst = 0;
        errs w = {0};
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++)
            for (int states = 0; states < 2; states++) {
                if (!states && s % 2) continue; /* without initial/final states on half the shapes */
                /* Normalised with K = 1, o = S/z does not depend on q except through eps: dq is
                 * ~eps-sized and is the difference of two O(1) terms, so no fp32 method gets it to
                 * a relative 1e-3 (the problem is ill-conditioned, not the kernel). */
                if (vr->normalize && SHAPES[s].K == 1) continue;
                host_case hc;
                make_case(&hc, vr, &SHAPES[s], (uint32_t)(s * 31 + 7), states);
                grads64 ref;
                alloc_grads(&ref, &hc);
                ref_grads(&hc, &ref, 0);
                errs e = run_device(ctx, vr, &hc, SHAPES[s].chunk, &ref);
                double m = maxerr(&e);
                if (m > worst) worst = m;
                if (getenv("OCLA_TEST_EACH_SHAPE")) /* where a worst case comes from */
                    fprintf(stderr, "  %s on %s, B%d T%d H%d K%d V%d chunk %d states %d: dq %.2g dk %.2g dv %.2g dg %.2g\n",
                            vr->name, tc_device_name(d), SHAPES[s].B, SHAPES[s].T, SHAPES[s].H, SHAPES[s].K,
                            SHAPES[s].V, SHAPES[s].chunk, states, e.dq, e.dk, e.dv, e.dg);
                w.dq = fmax(w.dq, e.dq), w.dk = fmax(w.dk, e.dk), w.dv = fmax(w.dv, e.dv), w.dg = fmax(w.dg, e.dg);
                w.dh0 = fmax(w.dh0, e.dh0), w.dz0 = fmax(w.dz0, e.dz0);
                cr_assert_leq(m, BWD_TOL,
                              "%s on %s, B%d T%d H%d K%d V%d chunk %d states %d: dq %g dk %g dv %g dg %g dh0 %g dz0 %g",
                              vr->name, tc_device_name(d), SHAPES[s].B, SHAPES[s].T, SHAPES[s].H, SHAPES[s].K,
                              SHAPES[s].V, SHAPES[s].chunk, states, e.dq, e.dk, e.dv, e.dg, e.dh0, e.dz0);
                free_grads(&ref);
                free_case(&hc);
            }
        fprintf(stderr,
                "backward %s on %s: max relative error vs fp64 %.3g (dq %.2g dk %.2g dv %.2g dg %.2g dh0 %.2g dz0 %.2g)\n",
                vr->name, tc_device_name(d), worst, w.dq, w.dk, w.dv, w.dg, w.dh0, w.dz0);
        ocla_context_destroy(ctx);
    }
}

Test(backward, linear_identity, .timeout = 900) {
    variant v = {"linear identity", OCLA_FEATURE_IDENTITY, OCLA_GATE_NONE, 0, 0, 0};
    check_variant(&v);
}
Test(backward, linear_elu1_normalized, .timeout = 900) {
    variant v = {"linear elu+1 normalised", OCLA_FEATURE_ELU1, OCLA_GATE_NONE, 1, 0, 0};
    check_variant(&v);
}
Test(backward, linear_relu, .timeout = 900) {
    variant v = {"linear relu", OCLA_FEATURE_RELU, OCLA_GATE_NONE, 0, 0, 0};
    check_variant(&v);
}
Test(backward, simple_gla, .timeout = 900) {
    variant v = {"simple GLA", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -0.7f, -0.01f};
    check_variant(&v);
    variant s = {"simple GLA strong gates", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -6.0f, -4.0f};
    check_variant(&s);
    variant p = {"simple GLA some positive gates (clamped)", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -0.5f, 0.3f};
    check_variant(&p);
}
/* Gates at any legal value (docs/RELIABILITY.md): every 7th log gate -1e4, -1e30 or -inf among ordinary
 * ones. The policy reads a gate as max(min(g, 0), -20) everywhere, so the gradients must be finite and
 * equal the fp64 gradients at the gates so read (dg of a floored gate is the gradient at the floor). */
Test(backward, gates_at_any_legal_value, .timeout = 900) {
    static const float spike[3] = {-1e4f, -1e30f, -INFINITY};
    for (int gate = OCLA_GATE_SCALAR; gate <= OCLA_GATE_VECTOR; gate++) {
        variant vr = {"spiked gates", OCLA_FEATURE_IDENTITY, (ocla_gate_kind)gate, 0, -0.7f, -0.01f};
        for (int d = 0; d < tc_device_count(); d++) {
            ocla_context *ctx = tc_open(d);
            for (size_t s = 0; s < 4; s++) {
                host_case hc;
                make_case(&hc, &vr, &SHAPES[s], (uint32_t)(s * 17 + 900 + gate), 1);
                float *spiked = malloc(hc.ng * sizeof(float));
                for (size_t i = 0; i < hc.ng; i++) spiked[i] = hc.g[i];
                for (size_t i = 3; i < hc.ng; i += 7) spiked[i] = spike[(i / 7) % 3], hc.g[i] = -20.0f;
                free(hc.in.g);
                hc.in.g = tc_to_double(hc.g, hc.ng); /* the reference reads its fp64 copy */
                grads64 ref;
                alloc_grads(&ref, &hc);
                ref_grads(&hc, &ref, 0); /* fp64 at the gates as the policy reads them */
                memcpy(hc.g, spiked, hc.ng * sizeof(float));
                errs e = run_device(ctx, &vr, &hc, SHAPES[s].chunk, &ref);
                cr_assert_leq(maxerr(&e), BWD_TOL, "gate %d on %s, shape %zu: dq %g dk %g dv %g dg %g dh0 %g", gate,
                              tc_device_name(d), s, e.dq, e.dk, e.dv, e.dg, e.dh0);
                free(spiked);
                free_grads(&ref);
                free_case(&hc);
            }
            ocla_context_destroy(ctx);
        }
    }
}

Test(backward, retention, .timeout = 900) {
    variant v = {"retention", OCLA_FEATURE_IDENTITY, OCLA_GATE_FIXED, 0, 0, 0};
    check_variant(&v);
}
Test(backward, gla, .timeout = 900) {
    variant v = {"GLA", OCLA_FEATURE_IDENTITY, OCLA_GATE_VECTOR, 0, -0.7f, -0.01f};
    check_variant(&v);
    variant s = {"GLA strong gates", OCLA_FEATURE_IDENTITY, OCLA_GATE_VECTOR, 0, -6.0f, -4.0f};
    check_variant(&s);
    variant p = {"GLA some positive gates (clamped)", OCLA_FEATURE_IDENTITY, OCLA_GATE_VECTOR, 0, -0.5f, 0.3f};
    check_variant(&p);
}
Test(backward, gla_elu1_normalized, .timeout = 900) {
    variant v = {"GLA elu+1 normalised", OCLA_FEATURE_ELU1, OCLA_GATE_VECTOR, 1, -0.5f, -0.01f};
    check_variant(&v);
}

/* Work-groups of several tiles. On a GPU the scheduler runs TPG tiles of 16 items per work-group of
 * the tiled kernels, TPG = wave / gcd(wave, 16) (runtime/plan_bwd.c: 4 on wave64, 3 on a 48-lane
 * wave, 2 on wave32); PoCL and llvmpipe plan TPG = 1. White box, as test_softmax's simulated_limits:
 * the context's copy of the device limits is edited after creation so that the device plans as a
 * GPU of that wave (portable kernels only, so no NVIDIA probe runs); ocla_plan_explain must then
 * show TPG and a work-group of TPG*16 items (fewer tiles where the kernels' work-group limit is
 * lower: llvmpipe's 32 gives 2), and the gradients must match fp64 within BWD_TOL as in
 * check_variant. The shapes give tile counts that are not multiples of TPG (work-groups with tiles
 * past the grid), chunks whose last tiles have no token next to tiles that have, and work-groups
 * whose tiles belong to two chunks or two heads (different loop lengths, one barrier sequence).
 * "GLA mixed" has chunk decays around BWD_LIM = 60 (16 log gates in [-5, -2.5]), so the vector-gate
 * kernels take the factorised and the elementwise paths in tiles of one work-group. */
Test(backward, tiles_per_group, .timeout = 900) {
    static const struct {
        uint32_t wave;
        int tpg;
    } waves[] = {{64, 4}, {48, 3}, {32, 2}};
    /* the three kinds of kernel code: no gate (with the normaliser's column), head gates, vector gates */
    static const variant vs[] = {
        {"linear elu+1 normalised", OCLA_FEATURE_ELU1, OCLA_GATE_NONE, 1, 0, 0},
        {"simple GLA", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -0.7f, -0.01f},
        {"GLA mixed", OCLA_FEATURE_IDENTITY, OCLA_GATE_VECTOR, 0, -5.0f, -2.5f},
    };
    /* tiles of bwd_A_tiled / bwd_dqk_tiled / bwd_chunk_kv: 12 / 12 / 12 (24 normalised); 16 / 16 / 8
     * (the last chunk 4 tokens); 16 / 4 / 1 (chunk 64, 45 tokens: the 4th token tile empty); 9 / 9 /
     * 9 (nine heads of 5 tokens); 128 / 16 / 2 (the second chunk 2 tokens) */
    static const shape shapes[] = {
        {2, 37, 2, 5, 17, 16}, {1, 100, 1, 17, 5, 32}, {1, 45, 1, 7, 3, 0}, {3, 5, 3, 2, 1, 16}, {1, 130, 1, 16, 9, 128},
    };
    for (int d = 0; d < tc_device_count(); d++)
        for (size_t w = 0, done = 0; w < sizeof waves / sizeof waves[0]; w++) { /* done: TPG values run (bits) */
            ocla_context_options o;
            ocla_context_options_defaults(&o);
            o.portable_kernels_only = 1;
            ocla_context *ctx = tc_open_with(d, &o);
            ctx->info.is_gpu = 1;
            ctx->info.preferred_wg_multiple = waves[w].wave;
            ctx->info.vendor = OCLA_VENDOR_AMD; /* NVIDIA's row keeps one tile per group (its measured plans) */
            ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, 1, 100, 2, 8, 8, 0, 0, OCLA_GATE_VECTOR, 0};
            ocla_plan plan;
            ocla_plan_limits L;
            char text[1024], want[16];
            tc_ok(ctx, ocla__plan_limits(ctx, &L));
            int tpg = waves[w].tpg;
            while ((uint64_t)tpg * 16 > ocla__plan_wg_limit(&L)) tpg--;
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, text, sizeof text));
            snprintf(want, sizeof want, "TPG=%d", tpg);
            cr_assert(tpg > 1 && strstr(text, want) && plan.wg_x == 16 * tpg, "wave %u: %s", waves[w].wave, text);
            if (done & (1u << tpg)) { /* the work-group limit gave this TPG for a wider wave already */
                ocla_context_destroy(ctx);
                continue;
            }
            done |= 1u << tpg;
            double worst = 0;
            for (size_t v = 0; v < sizeof vs / sizeof vs[0]; v++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                    if (waves[w].tpg != 4 && v != 2) continue; /* 3 and 2 tiles: the vector gates' kernels */
                    const int states = (int)((s + v) % 2); /* with initial/final states on half the cases */
                    if (vs[v].normalize && shapes[s].K == 2) continue; /* ill-conditioned dq: check_variant */
                    host_case hc;
                    make_case(&hc, &vs[v], &shapes[s], (uint32_t)(s * 13 + v * 101 + 5), states);
                    grads64 ref;
                    alloc_grads(&ref, &hc);
                    ref_grads(&hc, &ref, 0);
                    errs e = run_device(ctx, &vs[v], &hc, shapes[s].chunk, &ref);
                    worst = fmax(worst, maxerr(&e));
                    cr_assert_leq(maxerr(&e), BWD_TOL,
                                  "%s on %s, TPG %d, B%d T%d H%d K%d V%d chunk %d: dq %g dk %g dv %g dg %g dh0 %g dz0 %g",
                                  vs[v].name, tc_device_name(d), tpg, shapes[s].B, shapes[s].T, shapes[s].H,
                                  shapes[s].K, shapes[s].V, shapes[s].chunk, e.dq, e.dk, e.dv, e.dg, e.dh0, e.dz0);
                    free_grads(&ref);
                    free_case(&hc);
                }
            fprintf(stderr, "backward with %d tiles per work-group on %s: max relative error vs fp64 %.3g\n", tpg,
                    tc_device_name(d), worst);
            ocla_context_destroy(ctx);
        }
}

/* The gradient is that of ocla_attention_forward: check that the forward computes what the fp64
 * reference differentiates (o, final state, final z), for every variant above, chunked and
 * recurrent. Tolerance: the forward's own fp32 bound, 1e-4 (sums of <= T*K products of O(1)). */
#define FWD_TOL 1e-4
static void check_forward(ocla_context *ctx, const variant *vr, const shape *sh, ocla_attn_form form) {
    host_case hc;
    make_case(&hc, vr, sh, 1234, 1);
    const ref_attn_cfg *c = &hc.cfg;
    double *o = malloc(hc.nv * 8), *hT = malloc(hc.ns * 8), *zT = malloc(hc.nz * 8);
    ref_attn_forward(c, &hc.in, o, hT, zT);
    ocla_tensor *q = tc_tensor4(ctx, c->B, c->T, c->H, c->K, hc.q), *k = tc_tensor4(ctx, c->B, c->T, c->H, c->K, hc.k);
    ocla_tensor *v = tc_tensor4(ctx, c->B, c->T, c->H, c->V, hc.v), *ot = tc_tensor4(ctx, c->B, c->T, c->H, c->V, NULL);
    ocla_tensor *h0 = tc_tensor4(ctx, c->B, c->H, c->K, c->V, hc.h0), *hTt = tc_tensor4(ctx, c->B, c->H, c->K, c->V, NULL);
    ocla_tensor *g = NULL, *z0 = NULL, *zTt = NULL;
    int64_t gd[4] = {c->B, c->T, c->H, c->K}, zd[3] = {c->B, c->H, c->K};
    if (hc.g) g = tc_tensor(ctx, vr->gate == OCLA_GATE_VECTOR ? 4 : 3, gd, hc.g);
    if (hc.z0) z0 = tc_tensor(ctx, 3, zd, hc.z0), zTt = tc_tensor(ctx, 3, zd, NULL);
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.feature_map = vr->feature, p.normalize = vr->normalize, p.eps = 1e-6f, p.gate = vr->gate, p.chunk = sh->chunk;
    p.form = form;
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = q, io.k = k, io.v = v, io.g = g, io.initial_state = h0, io.initial_z = z0, io.o = ot, io.final_state = hTt;
    io.final_z = zTt;
    tc_ok(ctx, ocla_attention_forward(ctx, &p, &io));
    float *x = tc_download(ctx, ot);
    double eo = tc_max_rel_err(x, o, hc.nv);
    free(x);
    x = tc_download(ctx, hTt);
    double eh = tc_max_rel_err(x, hT, hc.ns);
    free(x);
    double ez = 0;
    if (zTt) x = tc_download(ctx, zTt), ez = tc_max_rel_err(x, zT, hc.nz), free(x);
    cr_assert_leq(eo > eh ? (eo > ez ? eo : ez) : (eh > ez ? eh : ez), FWD_TOL,
                  "forward %s (%s) on %s: o %g final state %g final z %g", vr->name,
                  form == OCLA_FORM_CHUNKED ? "chunked" : "recurrent", tc_device_name(0), eo, eh, ez);
    ocla_tensor *all[] = {q, k, v, ot, h0, hTt, g, z0, zTt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(o), free(hT), free(zT);
    free_case(&hc);
}

Test(backward, forward_semantics, .timeout = 900) {
    const variant vs[] = {
        {"linear identity", OCLA_FEATURE_IDENTITY, OCLA_GATE_NONE, 0, 0, 0},
        {"linear elu+1 normalised", OCLA_FEATURE_ELU1, OCLA_GATE_NONE, 1, 0, 0},
        {"simple GLA (some positive gates)", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -0.5f, 0.3f},
        {"retention", OCLA_FEATURE_IDENTITY, OCLA_GATE_FIXED, 0, 0, 0},
        {"GLA strong gates", OCLA_FEATURE_IDENTITY, OCLA_GATE_VECTOR, 0, -6.0f, -4.0f},
        {"GLA elu+1 normalised", OCLA_FEATURE_ELU1, OCLA_GATE_VECTOR, 1, -0.5f, 0.3f},
    };
    const shape sh = {2, 37, 2, 5, 17, 16};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            check_forward(ctx, &vs[i], &sh, OCLA_FORM_CHUNKED);
            check_forward(ctx, &vs[i], &sh, OCLA_FORM_RECURRENT);
        }
        ocla_context_destroy(ctx);
    }
}

/* Projection backward vs fp64: dX = dY W^T, dW = X^T dY (and accumulated). Tolerance as the SGEMM
 * test: sums of <= 40 products of O(1) values, ~1e-6; 1e-5 leaves room for blocked sums. */
Test(backward, linear_projection, .timeout = 300) {
    const size_t M = 37, IN = 13, OUT = 21;
    float *x = fvec(M * IN, 1, -1, 1), *w = fvec(IN * OUT, 2, -1, 1), *dy = fvec(M * OUT, 3, -1, 1);
    double *dx = calloc(M * IN, 8), *dw = calloc(IN * OUT, 8), *y = calloc(M * OUT, 8);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < OUT; j++)
            for (size_t p = 0; p < IN; p++) {
                y[i * OUT + j] += (double)x[i * IN + p] * w[p * OUT + j];
                dx[i * IN + p] += (double)dy[i * OUT + j] * w[p * OUT + j];
                dw[p * OUT + j] += (double)x[i * IN + p] * dy[i * OUT + j];
            }
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int64_t dX[3] = {1, (int64_t)M, (int64_t)IN}, dW[2] = {(int64_t)IN, (int64_t)OUT}, dYd[3] = {1, (int64_t)M, (int64_t)OUT};
        ocla_tensor *X = tc_tensor(ctx, 3, dX, x), *W = tc_tensor(ctx, 2, dW, w), *DY = tc_tensor(ctx, 3, dYd, dy);
        ocla_tensor *Y = tc_tensor(ctx, 3, dYd, NULL), *DX = tc_tensor(ctx, 3, dX, NULL), *DW = tc_tensor(ctx, 2, dW, NULL);
        tc_ok(ctx, ocla_linear_forward(ctx, X, W, Y));
        tc_ok(ctx, ocla_linear_backward(ctx, X, W, DY, DX, DW, 0));
        float *g = tc_download(ctx, Y);
        cr_assert_leq(tc_max_rel_err(g, y, M * OUT), 1e-5);
        free(g);
        g = tc_download(ctx, DX);
        cr_assert_leq(tc_max_rel_err(g, dx, M * IN), 1e-5);
        free(g);
        g = tc_download(ctx, DW);
        cr_assert_leq(tc_max_rel_err(g, dw, IN * OUT), 1e-5);
        free(g);
        tc_ok(ctx, ocla_linear_backward(ctx, X, W, DY, NULL, DW, 1)); /* accumulate: 2 dW */
        g = tc_download(ctx, DW);
        for (size_t i = 0; i < IN * OUT; i++) g[i] *= 0.5f;
        cr_assert_leq(tc_max_rel_err(g, dw, IN * OUT), 1e-5);
        free(g);
        tc_ok(ctx, ocla_sgd_step(ctx, W, DW, 0.25f)); /* w - 0.25 * 2 dw */
        g = tc_download(ctx, W);
        double *wn = malloc(IN * OUT * 8);
        for (size_t i = 0; i < IN * OUT; i++) wn[i] = w[i] - 0.5 * dw[i];
        cr_assert_leq(tc_max_rel_err(g, wn, IN * OUT), 1e-5);
        free(g), free(wn);
        cr_assert_eq(ocla_linear_backward(ctx, X, DY, DY, DX, NULL, 0), OCLA_ERR_SHAPE);
        ocla_tensor *all[] = {X, W, DY, Y, DX, DW};
        for (size_t i = 0; i < 6; i++) ocla_tensor_destroy(all[i]);
        ocla_context_destroy(ctx);
    }
    free(x), free(w), free(dy), free(dx), free(dw), free(y);
}

/* Argument checks: clear statuses, nothing launched. */
Test(backward, bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *q = tc_tensor4(ctx, 1, 8, 1, 4, NULL), *v = tc_tensor4(ctx, 1, 8, 1, 3, NULL);
        ocla_tensor *dq = tc_tensor4(ctx, 1, 8, 1, 4, NULL), *dk = tc_tensor4(ctx, 1, 8, 1, 4, NULL);
        ocla_tensor *dv = tc_tensor4(ctx, 1, 8, 1, 3, NULL), *wrong = tc_tensor4(ctx, 1, 7, 1, 3, NULL);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        ocla_attn_grad_io io;
        memset(&io, 0, sizeof io);
        io.q = q, io.k = q, io.v = v, io.d_o = v, io.dq = dq, io.dk = dk, io.dv = dv;
        tc_ok(ctx, ocla_attention_backward(ctx, &p, &io));
        cr_assert_eq(ocla_attention_backward(NULL, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_attention_backward(ctx, NULL, &io), OCLA_ERR_INVALID_ARGUMENT);
        io.d_o = wrong;
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_SHAPE);
        io.d_o = v, io.dq = NULL;
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        io.dq = dq;
        p.gate = OCLA_GATE_SCALAR; /* g missing */
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        p.gate = OCLA_GATE_FIXED, io.dg = dq; /* no dg for a fixed decay */
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        io.dg = NULL, p.gate = OCLA_GATE_NONE, p.causal = 0;
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_UNSUPPORTED);
        p.causal = 1, p.chunk = 1000;
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
        p.chunk = 0; /* packed sequences: the forward's offsets check (tests/test_varlen.c); state slots refused */
        const int32_t cu[3] = {0, 3, 7}, slots[1] = {0};
        p.cu_seqlens = cu, p.n_seqs = 2;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_attention_backward(ctx, &p, &io), "cu_seqlens[2] = 7");
        p.cu_seqlens = NULL, p.n_seqs = 0, p.state_slots = slots, p.n_state_slots = 1;
        cr_assert_eq(ocla_attention_backward(ctx, &p, &io), OCLA_ERR_UNSUPPORTED);
        cr_assert(strstr(ocla_last_error(ctx), "state_slots"), "%s", ocla_last_error(ctx));
        ocla_tensor *all[] = {q, v, dq, dk, dv, wrong};
        for (size_t i = 0; i < 6; i++) ocla_tensor_destroy(all[i]);
        ocla_context_destroy(ctx);
    }
}

/* GLA gate nonlinearity g = logsigmoid(x)/tau and its backward vs fp64 (elementwise; fp32 exp/log1p
 * are accurate to a few ulp, so 1e-5 normwise is generous). */
Test(backward, gate_logsigmoid) {
    const size_t n = 301;
    float *x = fvec(n, 5, -30, 30), *dg = fvec(n, 6, -1, 1);
    double *g = malloc(n * 8), *dx = malloc(n * 8);
    const float tau = 16.0f;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        g[i] = (fmin(v, 0.0) - log1p(exp(-fabs(v)))) / tau;
        dx[i] = dg[i] / (1.0 + exp(v)) / tau;
    }
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        int64_t dims[1] = {(int64_t)n};
        ocla_tensor *X = tc_tensor(ctx, 1, dims, x), *DG = tc_tensor(ctx, 1, dims, dg);
        ocla_tensor *G = tc_tensor(ctx, 1, dims, NULL), *DX = tc_tensor(ctx, 1, dims, NULL);
        tc_ok(ctx, ocla_gate_logsigmoid(ctx, X, G, tau));
        tc_ok(ctx, ocla_gate_logsigmoid_backward(ctx, X, DG, DX, tau));
        float *got = tc_download(ctx, G);
        cr_assert_leq(tc_max_rel_err(got, g, n), 1e-5);
        free(got);
        got = tc_download(ctx, DX);
        cr_assert_leq(tc_max_rel_err(got, dx, n), 1e-5);
        free(got);
        cr_assert_eq(ocla_gate_logsigmoid(ctx, X, G, 0.0f), OCLA_ERR_INVALID_ARGUMENT);
        ocla_tensor_destroy(X), ocla_tensor_destroy(DG), ocla_tensor_destroy(G), ocla_tensor_destroy(DX);
        ocla_context_destroy(ctx);
    }
    free(x), free(dg), free(g), free(dx);
}

/* Head-first [B,H,T,D] buffers with an offset, seen as [B,T,H,D] views (the dense case is above). */
Test(backward, strided_views, .timeout = 900) {
    const variant vs[] = {
        {"GLA elu+1 normalised (strided)", OCLA_FEATURE_ELU1, OCLA_GATE_VECTOR, 1, -0.5f, -0.01f},
        {"simple GLA (strided)", OCLA_FEATURE_IDENTITY, OCLA_GATE_SCALAR, 0, -0.7f, -0.01f},
    };
    const shape sh = {2, 37, 3, 5, 7, 16};
    g_strided = 1;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            host_case hc;
            make_case(&hc, &vs[i], &sh, 77, 1);
            grads64 ref;
            alloc_grads(&ref, &hc);
            ref_grads(&hc, &ref, 0);
            errs e = run_device(ctx, &vs[i], &hc, sh.chunk, &ref);
            cr_assert_leq(maxerr(&e), BWD_TOL, "%s on %s: dq %g dk %g dv %g dg %g dh0 %g dz0 %g", vs[i].name,
                          tc_device_name(d), e.dq, e.dk, e.dv, e.dg, e.dh0, e.dz0);
            free_grads(&ref);
            free_case(&hc);
        }
        ocla_context_destroy(ctx);
    }
    g_strided = 0;
}

/* The scheduler's backward row (runtime/plan_bwd.c): ocla_plan_explain names the kernels the op
 * runs, in launch order: the gate pass only where there is a gate, the normaliser pass only with
 * normalize, dg into the caller's tensor only for scalar and vector gates; the tiled kernels at
 * the default chunk (fla's rule, 64 for T = 100), the simple ones at a forced chunk below the
 * tile (16); on NVIDIA's tensor-core path (chunk 64, no normaliser) its own kernels. The op runs
 * exactly that list: the profiler counts plan.passes launches (the tiled
 * and the simple path differ in count). Chunks are powers of two 1..256 (48 is refused). */
static void explain_and_run(ocla_context *ctx, ocla_gate_kind gate, int normalize, int chunk, const char *const *has,
                            const char *const *lacks) {
    const int B = 1, T = 100, H = 2, K = 8, V = 8;
    ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, B, T, H, K, V, chunk, normalize ? OCLA_PLAN_NORMALIZE : 0u,
                           (int)gate, (int)OCLA_FEATURE_IDENTITY};
    ocla_plan plan;
    char text[1024];
    tc_ok(ctx, ocla_plan_explain(ctx, &r, &plan, text, sizeof text));
    cr_log_info("backward plan: %s", text);
    cr_assert_eq(plan.op, OCLA_OP_ATTN_BACKWARD);
    cr_assert_eq(plan.chunk, chunk ? chunk : 64, "%s", text);
    cr_assert(strstr(text, plan.kernels), "the explanation names the kernels: %s", text);
    int n = 1;
    for (const char *s = plan.kernels; *s; s++) n += *s == ',';
    cr_assert_eq(plan.passes, n, "%s", text);
    if (plan.path == OCLA_PATH_NVIDIA_MMA) { /* the tensor-core backward: identity map, no normaliser */
        cr_assert(!normalize && plan.chunk == 64, "%s", text);
        cr_assert(strstr(plan.kernels, "mma_chunk_states, mma_chunk_states_rev, mma_chunk_output_t, "
                                       "mma_chunk_output_rev, mma_chunk_output_rev_t"),
                  "%s", text);
        const int vec = gate == OCLA_GATE_VECTOR; /* GLA: the cumulative gates first, dg per key */
        cr_assert_eq(strstr(plan.kernels, "la_gate_cumsum, mma_chunk_states") != NULL, vec, "%s", text);
        cr_assert_eq(strstr(plan.kernels, "mma_bwd_dg") != NULL, gate == OCLA_GATE_SCALAR || vec, "%s", text);
        cr_assert_eq(strstr(plan.kernels, "mma_bwd_dgk") != NULL, vec, "%s", text);
    } else {
        for (int i = 0; has[i]; i++) cr_assert(strstr(plan.kernels, has[i]), "plan lacks %s: %s", has[i], text);
        for (int i = 0; lacks[i]; i++) cr_assert(!strstr(plan.kernels, lacks[i]), "plan has %s: %s", lacks[i], text);
        const int tiled = strstr(plan.kernels, "_tiled") != NULL;
        cr_assert(strstr(text, tiled ? "TILED=1" : "TILED=0"), "%s", text);
        cr_assert_eq(tiled, (chunk ? chunk : 64) >= 16, "%s", text);
    }

    /* run the op with the same request and count its launches */
    const int64_t gd[4] = {B, T, H, K};
    const size_t nq = (size_t)B * T * H * K, nv = (size_t)B * T * H * V;
    float *x = fvec(nq > nv ? nq : nv, 11, -0.5f, -0.01f);
    ocla_tensor *q = tc_tensor4(ctx, B, T, H, K, x), *k = tc_tensor4(ctx, B, T, H, K, x);
    ocla_tensor *v = tc_tensor4(ctx, B, T, H, V, x), *dout = tc_tensor4(ctx, B, T, H, V, x);
    ocla_tensor *dq = tc_tensor4(ctx, B, T, H, K, NULL), *dk = tc_tensor4(ctx, B, T, H, K, NULL);
    ocla_tensor *dv = tc_tensor4(ctx, B, T, H, V, NULL), *g = NULL, *dg = NULL;
    if (gate == OCLA_GATE_SCALAR || gate == OCLA_GATE_VECTOR) {
        const int nd = gate == OCLA_GATE_VECTOR ? 4 : 3;
        g = tc_tensor(ctx, nd, gd, x), dg = tc_tensor(ctx, nd, gd, NULL);
    }
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = gate, p.normalize = normalize, p.chunk = chunk;
    ocla_attn_grad_io io;
    memset(&io, 0, sizeof io);
    io.q = q, io.k = k, io.v = v, io.g = g, io.d_o = dout, io.dq = dq, io.dk = dk, io.dv = dv, io.dg = dg;
    double ms = 0;
    int kernels = 0;
    tc_ok(ctx, ocla_profile_begin(ctx));
    tc_ok(ctx, ocla_attention_backward(ctx, &p, &io));
    tc_ok(ctx, ocla_profile_end(ctx, &ms, &kernels));
    cr_assert_eq(kernels, plan.passes, "the op launched %d kernels, the plan names %d: %s", kernels, plan.passes,
                 plan.kernels);
    ocla_tensor *all[] = {q, k, v, dout, dq, dk, dv, g, dg};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    free(x);
}

Test(backward, plan_explain_names_kernels, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        {
            const char *has[] = {"bwd_gates", "bwd_chunk_kv", "bwd_scan", "bwd_A_tiled", "bwd_dA_tiled", "bwd_chunk_qdo",
                                 "bwd_dqk_tiled", "bwd_dv_tiled", "bwd_dg", "bwd_dg_out", NULL};
            const char *lacks[] = {"bwd_output", "bwd_states", NULL};
            explain_and_run(ctx, OCLA_GATE_VECTOR, 0, 0, has, lacks);
        }
        {
            const char *has[] = {"bwd_states", "bwd_A,", "bwd_output", "bwd_dA,", "bwd_dstates", "bwd_dqk,", "bwd_dv,",
                                 "bwd_dg", NULL};
            const char *lacks[] = {"bwd_gates", "_tiled", "bwd_scan", "bwd_dg_out", NULL};
            explain_and_run(ctx, OCLA_GATE_NONE, 1, 4, has, lacks);
        }
        {
            const char *has[] = {"bwd_gates", "bwd_dqk_tiled", "bwd_dg", NULL};
            const char *lacks[] = {"bwd_dg_out", "bwd_output", NULL};
            explain_and_run(ctx, OCLA_GATE_FIXED, 0, 32, has, lacks);
        }
        {
            const char *has[] = {"bwd_gates", "bwd_dg_out", NULL};
            const char *lacks[] = {"bwd_output", NULL};
            explain_and_run(ctx, OCLA_GATE_SCALAR, 0, 0, has, lacks);
        }
        ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, 1, 100, 2, 8, 8, 48, 0, 0, 0};
        ocla_plan plan;
        cr_assert_eq(ocla_plan_explain(ctx, &r, &plan, NULL, 0), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(ocla_last_error(ctx), "chunk 48"), "%s", ocla_last_error(ctx));
        ocla_context_destroy(ctx);
    }
}
