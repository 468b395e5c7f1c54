/* SPDX-License-Identifier: MIT */
/* ocla_mha_layer_backward (runtime/layer_mha_bwd.c) against fp64 on every device: the LINEAR (causal
 * and not; elu+1 with the normaliser, identity with a scale, relu), SOFTMAX (causal and not) and LINFORMER
 * (headwise, key-value and per-head E, F) layers, biases present and absent, one and several heads,
 * T across several chunks / blocks; dx and every weight's gradient. Then the bad input.
 *
 * The non-causal LINEAR layer's backward is composed from the causal op's (runtime/layer_mha_bwd.c).
 *
 * The reference (tests/ref/ref_layer_grad.h): central finite differences of the fp64 layer
 * (ref_mha_layer), good to ~1e-8; that forward is first held to the device's forward (the function
 * the gradient is of), at the layer forward's own bar.
 *
 * Tolerance 1e-4 normwise per gradient (tc_max_rel_err), the bar for every gradient. Its
 * budget: the recomputed fp32 forward (projections of d <= 24 terms, the op: <= 5e-6 against fp64 in
 * the ops' own suites), the op's backward (<= ~1e-5: test_backward.c, test_softmax_bwd.c), and the
 * projections' backward: GEMMs of at most B*T = 140 terms (sqrt(140) 6e-8 ~ 1e-6 relative). The
 * weights are N(0, 1/in), so every intermediate is O(1) and no gradient is dominated by cancellation.
 * Observed errors are logged (cr_log_info). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_layer_grad.h"
#include "ref/ref_layers_mha.h"

#define TOL 1e-4
#define FD_STEP 1e-5

typedef struct mb_case {
    ocla_mha_kind kind;
    int B, T, d, H, K, V;
    int causal, bias;
    ocla_feature_map feature; /* LINEAR */
    int normalize;            /* LINEAR */
    float scale;              /* > 0: the caller's */
    ocla_linformer_sharing sharing;
    int kp, n;                /* LINFORMER */
} mb_case;

static const mb_case k_cases[] = {
    {OCLA_MHA_LINEAR, 1, 20, 12, 2, 8, 8, 1, 1, OCLA_FEATURE_ELU1, 1, 0, 0, 0, 0},
    {OCLA_MHA_LINEAR, 2, 70, 16, 2, 8, 4, 1, 0, OCLA_FEATURE_ELU1, 1, 0, 0, 0, 0},     /* several chunks, K != V */
    {OCLA_MHA_LINEAR, 1, 33, 8, 1, 16, 8, 1, 1, OCLA_FEATURE_IDENTITY, 0, 0.3f, 0, 0, 0},
    {OCLA_MHA_LINEAR, 1, 25, 8, 2, 4, 4, 1, 0, OCLA_FEATURE_RELU, 1, 0, 0, 0, 0},
    {OCLA_MHA_LINEAR, 2, 37, 12, 2, 8, 8, 0, 1, OCLA_FEATURE_ELU1, 1, 0, 0, 0, 0},     /* non-causal */
    {OCLA_MHA_LINEAR, 1, 70, 8, 1, 16, 8, 0, 0, OCLA_FEATURE_IDENTITY, 0, 0.3f, 0, 0, 0},
    {OCLA_MHA_LINEAR, 1, 25, 8, 2, 4, 4, 0, 1, OCLA_FEATURE_RELU, 1, 0, 0, 0, 0},
    {OCLA_MHA_SOFTMAX, 1, 20, 12, 2, 8, 8, 1, 1, 0, 0, 0, 0, 0, 0},
    {OCLA_MHA_SOFTMAX, 2, 70, 16, 2, 8, 4, 1, 0, 0, 0, 0, 0, 0, 0},                   /* several blocks */
    {OCLA_MHA_SOFTMAX, 1, 37, 8, 1, 16, 8, 0, 1, 0, 0, 0.4f, 0, 0, 0},
    {OCLA_MHA_SOFTMAX, 2, 45, 12, 3, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0},
    {OCLA_MHA_LINFORMER, 1, 20, 12, 2, 8, 8, 0, 1, 0, 0, 0, OCLA_LINFORMER_HEADWISE, 8, 24},
    {OCLA_MHA_LINFORMER, 2, 40, 16, 2, 8, 4, 0, 0, 0, 0, 0, OCLA_LINFORMER_KEY_VALUE, 12, 40},
    {OCLA_MHA_LINFORMER, 1, 30, 8, 2, 4, 8, 0, 1, 0, 0, 0.5f, OCLA_LINFORMER_NONE, 6, 32},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

/* The arrays of a case: inputs (host and device) and gradients (device). */
enum { X, WQ, WK, WV, WO, BQ, BK, BV, BO, E, F, N_IN };
static const char *const k_names[N_IN] = {"x", "w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o", "E", "F"};

typedef struct mb_run {
    const mb_case *c;
    float *host[N_IN], *dy;
    size_t n[N_IN];
    ocla_tensor *t[N_IN], *g[N_IN], *tdy, *ty;
    ref_mha_cfg rc;
    ref_mha_weights rw;
} mb_run;

static double loss(const void *arg) {
    const mb_run *r = arg;
    const size_t ny = r->n[X];
    double *y = malloc(ny * sizeof *y), L = 0;
    ref_mha_layer(&r->rc, &r->rw, r->host[X], y);
    for (size_t i = 0; i < ny; i++) L += (double)r->dy[i] * y[i];
    free(y);
    return L;
}

static int used(const mb_case *c, int i) {
    if (i >= BQ && i <= BO) return c->bias;
    if (i == E) return c->kind == OCLA_MHA_LINFORMER;
    if (i == F) return c->kind == OCLA_MHA_LINFORMER && c->sharing != OCLA_LINFORMER_KEY_VALUE;
    return 1;
}

static void make(ocla_context *ctx, const mb_case *c, uint32_t seed, mb_run *r) {
    memset(r, 0, sizeof *r);
    r->c = c;
    const int HK = c->H * c->K, HV = c->H * c->V, per_head = c->sharing == OCLA_LINFORMER_NONE;
    const int64_t dims[N_IN][3] = {{c->B, c->T, c->d}, {c->d, HK}, {c->d, HK}, {c->d, HV}, {HV, c->d}, {HK},
                                   {HK},  {HV},        {c->d},     {c->H, c->kp, c->n},     {c->H, c->kp, c->n}};
    const int nd[N_IN] = {3, 2, 2, 2, 2, 1, 1, 1, 1, per_head ? 3 : 2, per_head ? 3 : 2};
    const float sd[N_IN] = {1.0f, 1 / sqrtf((float)c->d), 1 / sqrtf((float)c->d), 1 / sqrtf((float)c->d),
                            1 / sqrtf((float)HV), 0.5f, 0.5f, 0.5f, 0.5f, 1 / sqrtf((float)c->T), 1 / sqrtf((float)c->T)};
    for (int i = 0; i < N_IN; i++) {
        if (!used(c, i)) continue;
        const int64_t *dd = dims[i] + (nd[i] == 2 && i >= E ? 1 : 0);
        r->n[i] = 1;
        for (int j = 0; j < nd[i]; j++) r->n[i] *= (size_t)dd[j];
        r->host[i] = malloc(r->n[i] * sizeof(float));
        tc_fill_normal(r->host[i], r->n[i], seed + (uint32_t)i, sd[i]);
        r->t[i] = tc_tensor(ctx, nd[i], dd, r->host[i]);
        r->g[i] = tc_tensor(ctx, nd[i], dd, NULL);
    }
    r->dy = malloc(r->n[X] * sizeof(float));
    tc_fill_normal(r->dy, r->n[X], seed + 99, 1.0f);
    r->tdy = tc_tensor(ctx, 3, dims[X], r->dy), r->ty = tc_tensor(ctx, 3, dims[X], NULL);
    const double scale = c->scale > 0 ? c->scale : c->kind == OCLA_MHA_LINEAR ? 1.0 : 1.0 / sqrt((double)c->K);
    r->rc = (ref_mha_cfg){(int)c->kind, c->B, c->T, c->d, c->H, c->K, c->V, c->causal, scale, (int)c->feature,
                          c->normalize, 1e-6, c->kp, c->n, per_head, r->host[E],
                          c->sharing == OCLA_LINFORMER_KEY_VALUE ? r->host[E] : r->host[F]};
    r->rw = (ref_mha_weights){r->host[WQ], r->host[WK], r->host[WV], r->host[WO],
                              r->host[BQ], r->host[BK], r->host[BV], r->host[BO]};
}

static void params_of(const mb_case *c, ocla_mha_layer_params *p) {
    ocla_mha_layer_params_defaults(p, c->kind);
    p->heads = c->H, p->head_k = c->K, p->head_v = c->V, p->causal = c->causal;
    p->feature_map = c->feature, p->normalize = c->normalize, p->sharing = c->sharing;
    if (c->scale > 0) p->has_scale = 1, p->scale = c->scale;
}

static ocla_mha_layer_weights weights_of(const mb_run *r) {
    return (ocla_mha_layer_weights){r->t[WQ], r->t[WK], r->t[WV], r->t[WO], r->t[BQ],
                                    r->t[BK], r->t[BV], r->t[BO], r->t[E],  r->t[F]};
}

static ocla_mha_layer_grads grads_of(const mb_run *r) {
    return (ocla_mha_layer_grads){r->g[WQ], r->g[WK], r->g[WV], r->g[WO], r->g[BQ],
                                  r->g[BK], r->g[BV], r->g[BO], r->g[E],  r->g[F]};
}

static void release(mb_run *r) {
    for (int i = 0; i < N_IN; i++) ocla_tensor_destroy(r->t[i]), ocla_tensor_destroy(r->g[i]), free(r->host[i]);
    ocla_tensor_destroy(r->tdy), ocla_tensor_destroy(r->ty), free(r->dy);
}

/* Normwise error (tc_max_rel_err), except for a gradient that is zero by symmetry: the softmax layer's
 * d b_k (a shift of every key adds q . b_k to all of a query's scores, which softmax ignores), whose
 * reference is finite-difference noise (~1e-11) and whose fp32 value is rounding (~1e-7 of the other
 * gradients): held to the bar relative to the case's largest gradient entry instead. */
static double err_of(const float *got, const double *ref, size_t n, double largest) {
    double mx = 0, diff = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i])), diff = fmax(diff, fabs(got[i] - ref[i]));
    return mx < 1e-6 * largest ? diff / largest : tc_max_rel_err(got, ref, n);
}

Test(layer_mha_bwd, vs_fp64, .timeout = 1800) {
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const mb_case *c = &k_cases[ci];
        double *ref[N_IN] = {0}, *yref = NULL;
        for (int d = 0; d < tc_device_count(); d++) {
            ocla_context *ctx = tc_open(d);
            mb_run r;
            make(ctx, c, (uint32_t)(100 + 17 * ci), &r);
            if (!yref) { /* the reference, once per case (the inputs do not depend on the device) */
                yref = malloc(r.n[X] * sizeof *yref);
                ref_mha_layer(&r.rc, &r.rw, r.host[X], yref);
                for (int i = 0; i < N_IN; i++)
                    if (r.host[i]) ref[i] = malloc(r.n[i] * sizeof(double)), ref_lg_fd(loss, &r, r.host[i], r.n[i], FD_STEP, ref[i]);
            }
            ocla_mha_layer_params p;
            params_of(c, &p);
            const ocla_mha_layer_weights w = weights_of(&r);
            const ocla_mha_layer_grads g = grads_of(&r);
            tc_ok(ctx, ocla_mha_layer_forward(ctx, &p, &w, r.t[X], r.ty));
            float *y = tc_download(ctx, r.ty);
            const double ey = tc_max_rel_err(y, yref, r.n[X]);
            free(y);
            cr_expect(ey <= TOL, "case %zu on %s: the forward is %.3g from the reference's", ci, tc_device_name(d), ey);
            tc_ok(ctx, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &g));
            double worst = 0, largest = 0; /* the largest reference entry of the case */
            for (int i = 0; i < N_IN; i++)
                for (size_t j = 0; r.g[i] && j < r.n[i]; j++) largest = fmax(largest, fabs(ref[i][j]));
            for (int i = 0; i < N_IN; i++) {
                if (!r.g[i]) continue;
                float *got = tc_download(ctx, r.g[i]);
                cr_assert(tc_all_finite(got, r.n[i]), "case %zu on %s: d%s not finite", ci, tc_device_name(d), k_names[i]);
                const double e = err_of(got, ref[i], r.n[i], largest);
                free(got);
                cr_expect(e <= TOL, "case %zu (kind %d causal %d bias %d) on %s: d%s err %.3g", ci, (int)c->kind,
                          c->causal, c->bias, tc_device_name(d), k_names[i], e);
                if (e > worst) worst = e;
            }
            cr_log_info("MHA layer backward case %zu kind %d (B,T,d,H,K,V)=(%d,%d,%d,%d,%d,%d) causal %d bias %d on %s: "
                        "forward %.2e, worst gradient %.2e",
                        ci, (int)c->kind, c->B, c->T, c->d, c->H, c->K, c->V, c->causal, c->bias, tc_device_name(d), ey,
                        worst);
            release(&r);
            ocla_context_destroy(ctx);
        }
        for (int i = 0; i < N_IN; i++) free(ref[i]);
        free(yref);
    }
}

/* Bad input: each refused with its status and a detail naming the argument, nothing written (dx keeps
 * its canary). Dims of every array and foreign tensors: the op table's entries (tests/test_args.c). */
Test(layer_mha_bwd, bad_input) {
    ocla_context *ctx = tc_open(0);
    static const mb_case lin = {OCLA_MHA_LINEAR, 1, 8, 8, 2, 4, 4, 1, 1, OCLA_FEATURE_ELU1, 1, 0, 0, 0, 0};
    static const mb_case lf = {OCLA_MHA_LINFORMER, 1, 8, 8, 2, 4, 4, 0, 0, 0, 0, 0, OCLA_LINFORMER_KEY_VALUE, 4, 8};
    mb_run r, rl;
    make(ctx, &lin, 1, &r);
    make(ctx, &lf, 2, &rl);
    ocla_mha_layer_params p, pl;
    params_of(&lin, &p), params_of(&lf, &pl);
    ocla_mha_layer_weights w = weights_of(&r);
    const ocla_mha_layer_weights wl = weights_of(&rl);
    ocla_mha_layer_grads g = grads_of(&r), gl = grads_of(&rl);
    const float canary = -12345.5f;
    float *fill = malloc(r.n[X] * sizeof *fill);
    for (size_t i = 0; i < r.n[X]; i++) fill[i] = canary;
    tc_ok(ctx, ocla_tensor_upload(ctx, r.g[X], fill, r.n[X] * sizeof *fill));
    ocla_tensor *dy_bad = tc_tensor(ctx, 3, (int64_t[]){1, 8, 9}, NULL), *wq_bad = tc_tensor(ctx, 2, (int64_t[]){8, 9}, NULL);
    cr_assert_eq(ocla_mha_layer_backward(NULL, &p, &w, r.t[X], r.tdy, r.g[X], &g), OCLA_ERR_INVALID_ARGUMENT);
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, NULL, &w, r.t[X], r.tdy, r.g[X], &g), "params");
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, NULL, r.t[X], r.tdy, r.g[X], &g), "weights");
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], dy_bad, r.g[X], &g), "dy");
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, dy_bad, &g), "dx");
    ocla_mha_layer_grads bad = g;
    bad.w_q = wq_bad;
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "grads.w_q");
    bad = g, bad.w_q = r.t[WQ]; /* the weight itself */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "grads.w_q");
    bad = g, bad.w_k = g.w_q; /* two gradients in one tensor */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "grads.w_k");
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.t[X], &g), "dx");
    ocla_mha_layer_weights nob = w;
    nob.b_q = NULL; /* a bias's gradient without the bias */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, &nob, r.t[X], r.tdy, r.g[X], &g), "b_q");
    bad = g, bad.E = g.b_q; /* E's gradient for a layer without E */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "E");
    ocla_mha_layer_params q = p;
    q.causal = 2;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &q, &w, r.t[X], r.tdy, r.g[X], &g), "causal");
    q = p, q.heads = 0;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &q, &w, r.t[X], r.tdy, r.g[X], &g), "heads");
    q = p, q.size = 3;
    cr_assert_neq(ocla_mha_layer_backward(ctx, &q, &w, r.t[X], r.tdy, r.g[X], &g), OCLA_SUCCESS, "params.size 3");
    pl.causal = 1;
    tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_mha_layer_backward(ctx, &pl, &wl, rl.t[X], rl.tdy, rl.g[X], &gl), "causal");
    pl.causal = 0;
    gl.F = rl.g[WQ], gl.w_q = NULL; /* KEY_VALUE: no F gradient (E's holds both) */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_backward(ctx, &pl, &wl, rl.t[X], rl.tdy, rl.g[X], &gl), "grads.F");
    float *got = tc_download(ctx, r.g[X]);
    for (size_t i = 0; i < r.n[X]; i++) cr_assert_eq(got[i], canary, "dx written at %zu by a refused call", i);
    free(got), free(fill);
    /* nothing wanted: runs, writes nothing */
    tc_ok(ctx, ocla_mha_layer_backward(ctx, &p, &w, r.t[X], r.tdy, NULL, NULL));
    ocla_tensor_destroy(dy_bad), ocla_tensor_destroy(wq_bad);
    release(&r), release(&rl);
    ocla_context_destroy(ctx);
}
