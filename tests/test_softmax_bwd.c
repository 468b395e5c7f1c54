/* SPDX-License-Identifier: MIT */
/* ocla_softmax_backward (runtime/op_softmax_bwd.c, kernels_cl/softmax_bwd.cl) vs the fp64 quadratic
 * reference (tests/ref/ref_softmax_grad.c) on every device: causal and non-causal, Tk != T, T = 1,
 * T not a multiple of any block, K, V from 1 to 256 (each padded width of the kernels: 4 .. 256),
 * K != V, [B,H,T,D] views and offset views (strided loads), every block (the scheduler's pick and
 * forced 16, 32, 64), a default and a caller's scale, and a T long enough for the key and query
 * blocks to be split over several launches on Mesa llvmpipe. The o given to the backward is the
 * device's own forward output, as a caller has it.
 *
 * Tolerance 1e-4 normwise per gradient (tc_max_rel_err: max error / max |reference|). Justification:
 * (1) P is recomputed as exp(x - lse) from fp32 scores (K <= 256-term dot products, |x| <= ~10 for
 * these N(0,1) inputs: ~sqrt(K) 6e-8 relative, ~1e-5 absolute at K = 256, the forward's bound) and
 * an fp32 logsumexp (a few ulp of ~10); a score error d moves p by a factor 1 + d. (2) dS = P (dP - D)
 * with dP, D = V-term dot products of O(sqrt(V)) and D from the fp32 forward output (its own error
 * ~1e-6): the difference loses no more than its terms' absolute error, ~sqrt(V) 6e-8 * sqrt(V).
 * (3) dq, dk, dv sum T <= 600 such terms with weights p (a convex combination for dv and for the
 * dq row, sum_t p_ts <= T for dk): the accumulation adds ~sqrt(T) 6e-8 relative. Every term is
 * relative to the largest gradient entry, which is O(1) here; observed errors are printed (cr_log_info)
 * and are ~1e-6; 1e-4 is the bar for every method's gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_softmax_grad.h"

#define TOL 1e-4

enum { L_DENSE = 0, L_BHTD = 1, L_OFFSET = 2 };

typedef struct smb_case {
    int B, T, Tk, H, K, V;
    int layout;    /* L_DENSE; L_BHTD: [B,H,T,D] buffers viewed as [B,T,H,D]; L_OFFSET: views one element in */
    int noncausal; /* 1: non-causal only (Tk != T) */
} smb_case;

static const smb_case k_cases[] = {
    {1, 1, 1, 1, 16, 16, L_DENSE, 0},       /* T = 1 */
    {2, 37, 37, 2, 16, 8, L_DENSE, 0},      /* T not a multiple of a block, K != V */
    {1, 70, 70, 3, 17, 5, L_BHTD, 0},       /* odd dims, [B,H,T,D] views */
    {1, 45, 45, 2, 64, 64, L_OFFSET, 0},    /* offset views */
    {1, 33, 33, 1, 1, 1, L_DENSE, 0},       /* K, V = 1 */
    {1, 40, 40, 1, 4, 256, L_DENSE, 0},     /* K small, V at the limit */
    {1, 40, 40, 2, 256, 256, L_DENSE, 0},   /* K, V = 256 */
    {1, 65, 65, 1, 128, 96, L_DENSE, 0},    /* 128 / 96 */
    {2, 20, 83, 2, 32, 32, L_DENSE, 1},     /* Tk > T */
    {1, 90, 7, 1, 32, 16, L_DENSE, 1},      /* Tk < T, one key block */
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

/* A [d0,d1,d2,d3] tensor holding host (dense row-major) in the given layout; *parent: the buffer's
 * own tensor where the result is a view (destroyed after the view). */
static ocla_tensor *make(ocla_context *ctx, int layout, int64_t B, int64_t T, int64_t H, int64_t D, const float *host,
                         ocla_tensor **parent) {
    *parent = NULL;
    if (layout == L_DENSE) return tc_tensor4(ctx, B, T, H, D, host);
    ocla_tensor *view;
    int64_t dims[4] = {B, T, H, D}, str[4] = {T * H * D, H * D, D, 1};
    if (layout == L_BHTD) {
        *parent = tc_tensor4(ctx, B, H, T, D, NULL);
        str[1] = D, str[2] = T * D;
        tc_ok(ctx, ocla_tensor_view(ctx, *parent, 0, 4, dims, str, &view));
    } else {
        int64_t n = B * T * H * D + 1;
        *parent = tc_tensor(ctx, 1, &n, NULL);
        tc_ok(ctx, ocla_tensor_view(ctx, *parent, 1, 4, dims, str, &view));
    }
    if (host) tc_ok(ctx, ocla_tensor_upload(ctx, view, host, (size_t)(B * T * H * D) * 4));
    return view;
}

enum { A_Q, A_K, A_V, A_DO, A_O, A_DQ, A_DK, A_DV, A_N };

/* One case: the forward on the device, then the backward; the three errors in err[0..2]. Returns the
 * backward's status. */
static ocla_status run_case(ocla_context *ctx, const smb_case *c, int causal, int block, float scale, uint32_t seed,
                            double err[3]) {
    const int B = c->B, T = c->T, Tk = c->Tk, H = c->H, K = c->K, V = c->V;
    const int64_t rows[A_N] = {T, Tk, Tk, T, T, T, Tk, Tk}, dim[A_N] = {K, K, V, V, V, K, K, V};
    float *host[A_DO + 1];
    ocla_tensor *t[A_N], *parent[A_N];
    for (int i = 0; i < A_N; i++) {
        const size_t n = (size_t)B * (size_t)rows[i] * (size_t)H * (size_t)dim[i];
        if (i <= A_DO) {
            host[i] = malloc(n * 4);
            tc_fill_normal(host[i], n, seed + (uint32_t)i, 1.0f);
        }
        t[i] = make(ctx, c->layout, B, rows[i], H, dim[i], i <= A_DO ? host[i] : NULL, &parent[i]);
    }
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = causal, p.block = block;
    if (scale > 0) p.has_scale = 1, p.scale = scale;
    ocla_status st = ocla_softmax_attention(ctx, &p, t[A_Q], t[A_K], t[A_V], t[A_O]);
    if (st == OCLA_SUCCESS) {
        const ocla_softmax_grad_io io = {t[A_Q], t[A_K], t[A_V], t[A_O], t[A_DO], t[A_DQ], t[A_DK], t[A_DV]};
        st = ocla_softmax_backward(ctx, &p, &io);
    }
    if (st == OCLA_SUCCESS) {
        const size_t nq = (size_t)B * T * H * K, nk = (size_t)B * Tk * H * K, nv = (size_t)B * Tk * H * V;
        double *ref[3] = {malloc(nq * 8 + 8), malloc(nk * 8 + 8), malloc(nv * 8 + 8)};
        const ref_sm_shape rs = {B, T, Tk, H, K, V, causal, scale > 0 ? scale : 1.0 / sqrt((double)K)};
        ref_softmax_backward(&rs, host[A_Q], host[A_K], host[A_V], host[A_DO], NULL, ref[0], ref[1], ref[2]);
        const size_t n[3] = {nq, nk, nv};
        for (int g = 0; g < 3; g++) {
            float *got = tc_download(ctx, t[A_DQ + g]);
            cr_assert(tc_all_finite(got, n[g]), "gradient %d not finite", g);
            err[g] = tc_max_rel_err(got, ref[g], n[g]);
            free(got), free(ref[g]);
        }
    }
    for (int i = 0; i < A_N; i++) {
        ocla_tensor_destroy(t[i]), ocla_tensor_destroy(parent[i]);
        if (i <= A_DO) free(host[i]);
    }
    return st;
}

static void expect_case(ocla_context *ctx, int d, const smb_case *c, int causal, int block, float scale, uint32_t seed) {
    double e[3] = {0, 0, 0};
    const ocla_status st = run_case(ctx, c, causal, block, scale, seed, e);
    if (st != OCLA_SUCCESS) { /* a forced block the device does not take (the forward refuses the same) */
        cr_expect(st == OCLA_ERR_UNSUPPORTED && block > 16, "%s B%d T%d Tk%d K%d V%d block %d causal %d: %s",
                  tc_device_name(d), c->B, c->T, c->Tk, c->K, c->V, block, causal, ocla_last_error(ctx));
        return;
    }
    cr_log_info("softmax backward %s B%d T%d Tk%d H%d K%d V%d layout %d block %d causal %d: dq %.3g dk %.3g dv %.3g",
                tc_device_name(d), c->B, c->T, c->Tk, c->H, c->K, c->V, c->layout, block, causal, e[0], e[1], e[2]);
    for (int g = 0; g < 3; g++)
        cr_expect(e[g] <= TOL, "%s T%d Tk%d K%d V%d block %d causal %d: d%s err %.3g", tc_device_name(d), c->T, c->Tk,
                  c->K, c->V, block, causal, g == 0 ? "q" : g == 1 ? "k" : "v", e[g]);
}

/* Every case x block x causal (where the case allows it), default scale. */
Test(softmax_bwd, shapes_vs_fp64, .timeout = 1800) {
    static const int blocks[] = {0, 16, 32, 64};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
            for (size_t i = 0; i < N_CASES; i++)
                for (int causal = 0; causal < 2; causal++)
                    if (!(causal && k_cases[i].noncausal)) expect_case(ctx, d, &k_cases[i], causal, blocks[bi], 0, (uint32_t)(31 + i));
        ocla_context_destroy(ctx);
    }
}

/* A caller's scale (0.6, not K^-0.5: an op that ignored it would be off by far more than the bar),
 * and T = 600 (on Mesa llvmpipe the key and query blocks span several launches). */
Test(softmax_bwd, scale_and_long, .timeout = 1800) {
    static const smb_case scaled = {1, 50, 50, 2, 16, 16, L_DENSE, 0}, longer = {1, 600, 600, 1, 64, 64, L_DENSE, 0};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int causal = 0; causal < 2; causal++) {
            expect_case(ctx, d, &scaled, causal, 0, 0.6f, 5);
            expect_case(ctx, d, &longer, causal, 0, 0, 6);
        }
        ocla_context_destroy(ctx);
    }
}

/* Bad input: each refused with its status, nothing run. (Dims, NULL tensors, aliasing and foreign
 * tensors of every array: the op table's entries, tests/test_args.c.) */
Test(softmax_bwd, bad_input) {
    ocla_context *ctx = tc_open(0);
    ocla_tensor *q = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *k = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
    ocla_tensor *k9 = tc_tensor4(ctx, 1, 9, 1, 16, NULL), *v9 = tc_tensor4(ctx, 1, 9, 1, 16, NULL);
    ocla_tensor *v = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *o = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
    ocla_tensor *dO = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *dq = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
    ocla_tensor *dk = tc_tensor4(ctx, 1, 8, 1, 16, NULL), *dv = tc_tensor4(ctx, 1, 8, 1, 16, NULL);
    ocla_tensor *dk9 = tc_tensor4(ctx, 1, 9, 1, 16, NULL), *dv9 = tc_tensor4(ctx, 1, 9, 1, 16, NULL);
    ocla_tensor *big = tc_tensor4(ctx, 1, 8, 1, 300, NULL), *bigd = tc_tensor4(ctx, 1, 8, 1, 300, NULL);
    ocla_tensor *bigk = tc_tensor4(ctx, 1, 8, 1, 300, NULL), *bigdk = tc_tensor4(ctx, 1, 8, 1, 300, NULL);
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    ocla_softmax_grad_io io = {q, k, v, o, dO, dq, dk, dv};
    cr_assert_eq(ocla_softmax_backward(NULL, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_softmax_backward(ctx, NULL, &io), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_softmax_backward(ctx, &p, NULL), OCLA_ERR_INVALID_ARGUMENT);
    p.block = 48;
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(ocla_last_error(ctx), "block 48"), "%s", ocla_last_error(ctx));
    p.block = 0;
    ocla_softmax_grad_io cross = {q, k9, v9, o, dO, dq, dk9, dv9};
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &cross), OCLA_ERR_SHAPE, "causal with Tk != T");
    p.causal = 0;
    tc_ok(ctx, ocla_softmax_backward(ctx, &p, &cross));
    p.causal = 1;
    ocla_softmax_grad_io wide = {big, bigk, v, o, dO, bigd, bigdk, dv};
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &wide), OCLA_ERR_UNSUPPORTED, "K = 300");
    ocla_softmax_grad_io alias = {q, k, v, o, dO, q, dk, dv};
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &alias), OCLA_ERR_INVALID_ARGUMENT, "dq is q");
    ocla_softmax_grad_io twice = {q, k, v, o, dO, dq, dk, dk};
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &twice), OCLA_ERR_INVALID_ARGUMENT, "dv is dk");
    ocla_softmax_grad_io bad_do = {q, k, v, o, dk9, dq, dk, dv};
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &bad_do), OCLA_ERR_SHAPE, "d_o of 9 rows");
    ocla_softmax_grad_io no_o = {q, k, v, NULL, dO, dq, dk, dv};
    cr_assert_neq(ocla_softmax_backward(ctx, &p, &no_o), OCLA_SUCCESS, "o is NULL");
    p.has_scale = 1, p.scale = NAN;
    cr_assert_eq(ocla_softmax_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT, "NaN scale");
    ocla_tensor *all[] = {q, k, k9, v9, v, o, dO, dq, dk, dv, dk9, dv9, big, bigd, bigk, bigdk};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ocla_tensor_destroy(all[i]);
    ocla_context_destroy(ctx);
}

/* The plan: the two kernels and their tiles; on a 32 KiB, 256-item device K = V = 256 fits with an
 * item's share of its row within 32 floats; a work-group limit of 32 still plans (more per item). */
Test(softmax_bwd, plan) {
    ocla_plan_limits L;
    memset(&L, 0, sizeof L);
    L.local_mem_size = 32 * 1024, L.max_work_group_size = L.max_work_item_size0 = 256, L.compute_units = 8;
    L.is_gpu = 1, L.simd_width = 32;
    ocla_plan_request r = {OCLA_OP_SOFTMAX_BACKWARD, 1, 2048, 8, 256, 256, 0, 0, 0, 0};
    ocla_plan p;
    tc_ok(NULL, ocla_plan_compute(&L, &r, &p));
    cr_assert_str_eq(p.kernels, "smb_stats, smb_dq, smb_dkv");
    cr_assert_str_eq(p.tile_names, "BQ BK DS DK DV");
    cr_assert_leq(p.local_bytes, 32 * 1024);
    cr_assert_eq(p.wg_x, p.tile[0] * p.tile[2]);
    cr_assert_leq((p.tile[3] + p.tile[4]) / p.tile[2], 32, "DK %d DV %d DS %d", p.tile[3], p.tile[4], p.tile[2]);
    L.max_work_group_size = L.max_work_item_size0 = 32;
    tc_ok(NULL, ocla_plan_compute(&L, &r, &p));
    cr_assert_leq(p.wg_x, 32);
    r.K = 300;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_UNSUPPORTED);
}

/* The fp64 reference against central finite differences of its own fp64 forward (L = sum o . d_o),
 * causal and not, Tk != T: inputs on a grid of 2^-12 so that x +- 2^-10 is exact in fp32; the
 * difference quotient's truncation error is O(h^2) ~ 1e-6 of the largest gradient, bound 1e-5. */
static double fd_loss(const ref_sm_shape *s, const float *q, const float *k, const float *v, const float *d_o) {
    const size_t no = (size_t)s->B * s->T * s->H * s->V, nq = (size_t)s->B * s->T * s->H * s->K;
    const size_t nk = (size_t)s->B * s->Tk * s->H * s->K, nv = (size_t)s->B * s->Tk * s->H * s->V;
    double *o = malloc(no * 8), *g1 = malloc(nq * 8), *g2 = malloc(nk * 8), *g3 = malloc(nv * 8), L = 0;
    ref_softmax_backward(s, q, k, v, d_o, o, g1, g2, g3);
    for (size_t i = 0; i < no; i++) L += o[i] * d_o[i];
    free(o), free(g1), free(g2), free(g3);
    return L;
}

Test(softmax_bwd, reference_vs_finite_differences) {
    const double h = 1.0 / 1024;
    for (int c = 0; c < 3; c++) {
        const ref_sm_shape s = {2, 5, c == 2 ? 7 : 5, 2, 3, 4, c == 0, 0.7};
        const size_t n[4] = {(size_t)s.B * s.T * s.H * s.K, (size_t)s.B * s.Tk * s.H * s.K,
                             (size_t)s.B * s.Tk * s.H * s.V, (size_t)s.B * s.T * s.H * s.V};
        float *x[4];
        double *g[3];
        for (int a = 0; a < 4; a++) {
            x[a] = malloc(n[a] * 4);
            tc_fill_uniform(x[a], n[a], (uint32_t)(100 + 10 * c + a), -1.0f, 1.0f);
            for (size_t i = 0; i < n[a]; i++) x[a][i] = roundf(x[a][i] * 4096.0f) / 4096.0f;
            if (a < 3) g[a] = malloc(n[a] * 8);
        }
        ref_softmax_backward(&s, x[0], x[1], x[2], x[3], NULL, g[0], g[1], g[2]);
        for (int a = 0; a < 3; a++) {
            double err = 0, mx = 0;
            for (size_t i = 0; i < n[a]; i++) {
                const float keep = x[a][i];
                x[a][i] = keep + (float)h;
                const double up = fd_loss(&s, x[0], x[1], x[2], x[3]);
                x[a][i] = keep - (float)h;
                const double down = fd_loss(&s, x[0], x[1], x[2], x[3]);
                x[a][i] = keep;
                err = fmax(err, fabs((up - down) / (2 * h) - g[a][i]));
                mx = fmax(mx, fabs(g[a][i]));
            }
            cr_log_info("reference vs finite differences, case %d, gradient %d: %.3g of %.3g", c, a, err, mx);
            cr_assert(mx > 0.01 && err <= 1e-5 * mx, "case %d gradient %d: %.3g of %.3g", c, a, err, mx);
        }
        for (int a = 0; a < 4; a++) free(x[a]);
        for (int a = 0; a < 3; a++) free(g[a]);
    }
}

/* ---- Linformer backward (ocla_linformer_backward): dq, dk, dv, dE, dF vs tests/ref/ref_softmax_grad.c
 * for every sharing mode on every device; the same bound and the same budget as above (the GEMMs
 * around the softmax backward add sums of T or kp products of O(1) terms: ~sqrt(T) 6e-8). ---- */
#include "ref/ref_layers.h"

typedef struct lf_case {
    int B, T, H, D, Dv, kp, n;
} lf_case;

/* Errors of dq, dk, dv, dE, dF (dF: -1 where E serves both) for one case and sharing mode. */
static void run_lf(ocla_context *ctx, const lf_case *c, ocla_linformer_sharing sh, uint32_t seed, double err[5]) {
    const int per_head = sh == OCLA_LINFORMER_NONE, shared = sh == OCLA_LINFORMER_KEY_VALUE || sh == OCLA_LINFORMER_LAYERWISE;
    const size_t nq = (size_t)c->B * c->T * c->H * c->D, nv = (size_t)c->B * c->T * c->H * c->Dv;
    const size_t ne = (size_t)(per_head ? c->H : 1) * c->kp * c->n;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4), *dO = malloc(nv * 4), *E = malloc(ne * 4),
          *F = malloc(ne * 4);
    tc_fill_normal(q, nq, seed, 1.0f), tc_fill_normal(k, nq, seed + 1, 1.0f), tc_fill_normal(v, nv, seed + 2, 1.0f);
    tc_fill_normal(dO, nv, seed + 3, 1.0f);
    tc_fill_normal(E, ne, seed + 4, (float)(1.0 / sqrt((double)c->kp))), tc_fill_normal(F, ne, seed + 5, (float)(1.0 / sqrt((double)c->kp)));
    int64_t ed[3] = {c->H, c->kp, c->n};
    ocla_tensor *tq = tc_tensor4(ctx, c->B, c->T, c->H, c->D, q), *tk = tc_tensor4(ctx, c->B, c->T, c->H, c->D, k);
    ocla_tensor *tv = tc_tensor4(ctx, c->B, c->T, c->H, c->Dv, v), *to = tc_tensor4(ctx, c->B, c->T, c->H, c->Dv, NULL);
    ocla_tensor *tdo = tc_tensor4(ctx, c->B, c->T, c->H, c->Dv, dO);
    ocla_tensor *tE = tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, E);
    ocla_tensor *tF = tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, F);
    ocla_tensor *g[5] = {tc_tensor4(ctx, c->B, c->T, c->H, c->D, NULL), tc_tensor4(ctx, c->B, c->T, c->H, c->D, NULL),
                         tc_tensor4(ctx, c->B, c->T, c->H, c->Dv, NULL), tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, E),
                         shared ? NULL : tc_tensor(ctx, per_head ? 3 : 2, per_head ? ed : ed + 1, F)};
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    p.sharing = sh;
    ocla_linformer_io fio = {tq, tk, tv, tE, shared ? NULL : tF, to};
    tc_ok(ctx, ocla_linformer_attention(ctx, &p, &fio));
    ocla_linformer_grad_io io = {tq, tk, tv, tE, shared ? NULL : tF, to, tdo, g[0], g[1], g[2], g[3], g[4]};
    tc_ok(ctx, ocla_linformer_backward(ctx, &p, &io));
    double *ref[5];
    const size_t n[5] = {nq, nq, nv, ne, ne};
    for (int i = 0; i < 5; i++) ref[i] = malloc(n[i] * sizeof(double));
    const ref_lf_shape rs = {c->B, c->T, c->H, c->D, c->Dv, c->kp, c->n, per_head, 1.0 / sqrt((double)c->D)};
    ref_linformer_backward(&rs, E, shared ? E : F, q, k, v, dO, ref[0], ref[1], ref[2], ref[3], ref[4]);
    if (shared)
        for (size_t i = 0; i < ne; i++) ref[3][i] += ref[4][i]; /* E projects keys and values */
    for (int i = 0; i < 5; i++) {
        err[i] = -1;
        if (g[i]) {
            float *got = tc_download(ctx, g[i]);
            cr_assert(tc_all_finite(got, n[i]));
            err[i] = tc_max_rel_err(got, ref[i], n[i]);
            free(got);
        }
        free(ref[i]);
        ocla_tensor_destroy(g[i]);
    }
    ocla_tensor *all[] = {tq, tk, tv, to, tdo, tE, tF};
    for (int i = 0; i < 7; i++) ocla_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(dO), free(E), free(F);
}

Test(linformer_bwd, sharing_modes_vs_fp64, .timeout = 1200) {
    static const lf_case cs[] = {{2, 37, 2, 16, 8, 12, 48}, {1, 1, 1, 16, 16, 4, 8}, {1, 70, 3, 17, 5, 16, 70},
                                 {1, 100, 2, 64, 64, 32, 128}};
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            for (int sh = 0; sh <= OCLA_LINFORMER_NONE; sh++) {
                double e[5];
                run_lf(ctx, &cs[i], (ocla_linformer_sharing)sh, (uint32_t)(71 + i), e);
                cr_log_info("linformer backward %s B%d T%d H%d D%d Dv%d kp%d n%d sharing %d: dq %.3g dk %.3g dv %.3g "
                            "dE %.3g dF %.3g", tc_device_name(d), cs[i].B, cs[i].T, cs[i].H, cs[i].D, cs[i].Dv, cs[i].kp,
                            cs[i].n, sh, e[0], e[1], e[2], e[3], e[4]);
                for (int j = 0; j < 5; j++)
                    cr_expect(e[j] <= TOL, "%s case %zu sharing %d gradient %d: %.3g", tc_device_name(d), i, sh, j, e[j]);
            }
        ocla_context_destroy(ctx);
    }
}

/* The Linformer reference against central finite differences of the fp64 forward (ref_linformer),
 * L = sum o . d_o, for q, k, v and E, F (inputs on a 2^-12 grid, steps of 2^-10, as above). */
Test(linformer_bwd, reference_vs_finite_differences) {
    const ref_lf_shape s = {1, 6, 2, 3, 2, 3, 8, 1, 0.6};
    const size_t nq = 36, nv = 24, ne = (size_t)s.H * s.kp * s.n;
    const size_t n[5] = {nq, nq, nv, ne, ne};
    float *x[6];
    for (int a = 0; a < 6; a++) {
        const size_t m = a < 5 ? n[a] : nv;
        x[a] = malloc(m * 4);
        tc_fill_uniform(x[a], m, (uint32_t)(200 + a), -1.0f, 1.0f);
        for (size_t i = 0; i < m; i++) x[a][i] = roundf(x[a][i] * 4096.0f) / 4096.0f;
    }
    double *g[5], *o = malloc(nv * 8);
    for (int a = 0; a < 5; a++) g[a] = malloc(n[a] * 8);
    ref_linformer_backward(&s, x[3], x[4], x[0], x[1], x[2], x[5], g[0], g[1], g[2], g[3], g[4]);
    const double h = 1.0 / 1024;
    for (int a = 0; a < 5; a++) {
        double err = 0, mx = 0;
        for (size_t i = 0; i < n[a]; i++) {
            const float keep = x[a][i];
            double L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[a][i] = keep + (float)(sgn ? -h : h);
                ref_linformer(s.B, s.T, s.H, s.D, s.Dv, s.kp, s.n, 1, s.scale, x[3], x[4], x[0], x[1], x[2], o);
                L[sgn] = 0;
                for (size_t j = 0; j < nv; j++) L[sgn] += o[j] * x[5][j];
            }
            x[a][i] = keep;
            err = fmax(err, fabs((L[0] - L[1]) / (2 * h) - g[a][i]));
            mx = fmax(mx, fabs(g[a][i]));
        }
        cr_log_info("Linformer reference vs finite differences, gradient %d: %.3g of %.3g", a, err, mx);
        cr_assert(mx > 0.01 && err <= 1e-5 * mx, "gradient %d: %.3g of %.3g", a, err, mx);
    }
    for (int a = 0; a < 6; a++) free(x[a]);
    for (int a = 0; a < 5; a++) free(g[a]);
    free(o);
}

/* Linformer backward's own refusals (dims, NULLs and aliasing of every array: the op table's
 * entries in tests/test_args.c and tests/test_aliasing.c). */
Test(linformer_bwd, bad_input) {
    ocla_context *ctx = tc_open(0);
    ocla_tensor *t[7], *E = tc_tensor(ctx, 2, (int64_t[]){4, 16}, NULL), *dE = tc_tensor(ctx, 2, (int64_t[]){4, 16}, NULL);
    ocla_tensor *dF = tc_tensor(ctx, 2, (int64_t[]){4, 16}, NULL), *E3 = tc_tensor(ctx, 3, (int64_t[]){2, 4, 16}, NULL);
    for (int i = 0; i < 7; i++) t[i] = tc_tensor4(ctx, 1, 8, 2, 8, NULL); /* q k v o d_o dq dk; dv below */
    ocla_tensor *dv = tc_tensor4(ctx, 1, 8, 2, 8, NULL);
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    ocla_linformer_grad_io io = {t[0], t[1], t[2], E, E, t[3], t[4], t[5], t[6], dv, dE, dF};
    tc_ok(ctx, ocla_linformer_backward(ctx, &p, &io)); /* HEADWISE with F = E: legal */
    p.causal = 1;
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &io), OCLA_ERR_UNSUPPORTED, "causal");
    p.causal = 0, p.sharing = OCLA_LINFORMER_KEY_VALUE;
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT, "dF with KEY_VALUE");
    io.dF = NULL, io.F = NULL;
    tc_ok(ctx, ocla_linformer_backward(ctx, &p, &io));
    p.sharing = OCLA_LINFORMER_NONE;
    io.F = E;
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &io), OCLA_ERR_SHAPE, "sharing NONE with [kp, n] E");
    io.E = io.F = E3;
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &io), OCLA_ERR_SHAPE, "dE of E's old dims");
    p.sharing = (ocla_linformer_sharing)7;
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &io), OCLA_ERR_INVALID_ARGUMENT, "unknown sharing");
    p.sharing = OCLA_LINFORMER_HEADWISE;
    ocla_linformer_grad_io alias = {t[0], t[1], t[2], E, E, t[3], t[4], t[5], t[6], dv, E, NULL};
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &alias), OCLA_ERR_INVALID_ARGUMENT, "dE is E");
    ocla_linformer_grad_io no_dq = {t[0], t[1], t[2], E, E, t[3], t[4], NULL, t[6], dv, NULL, NULL};
    cr_assert_eq(ocla_linformer_backward(ctx, &p, &no_dq), OCLA_ERR_INVALID_ARGUMENT, "dq NULL");
    for (int i = 0; i < 7; i++) ocla_tensor_destroy(t[i]);
    ocla_tensor_destroy(dv), ocla_tensor_destroy(E), ocla_tensor_destroy(dE), ocla_tensor_destroy(dF), ocla_tensor_destroy(E3);
    ocla_context_destroy(ctx);
}
