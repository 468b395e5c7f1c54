/* SPDX-License-Identifier: MIT */
/* ocla_gla_layer_backward (runtime/layer_gla_bwd.c) against fp64 on every device: dx and the gradients
 * of every weight (w_q, w_k, w_v, w_r, w_g1, w_g2, b_g2, norm_w, w_o) and of the initial state, with
 * and without b_g2 and initial_state, one and several heads, K != V, T over several chunks (the
 * scheduler's and a forced chunk 16), the chunked and the recurrent forward. Then the bad input.
 *
 * The reference (tests/ref/ref_layer_grad.h): central finite differences of the fp64 layer
 * (ref_gla_layer_fwd, every intermediate in double), good to ~1e-8; that forward is first held to
 * the device's forward (the function the gradient is of).
 *
 * Tolerance 1e-4 normwise per gradient (tc_max_rel_err), the bar for every gradient. Its
 * budget: the recomputed fp32 forward (test_layer_gla.c holds it to 1e-4, observed ~1e-6), the GLA
 * backward (<= ~1e-5, test_backward.c), the norm-gate backward (V-term sums per row: ~sqrt(V) 6e-8),
 * the gate's (elementwise) and the projections' (GEMMs of at most B*T = 140 terms: ~1e-6). Weights
 * are N(0, 1/in), so every intermediate is O(1). Observed errors are logged (cr_log_info). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ref/ref_layer_grad.h"

#define TOL 1e-4
#define FD_STEP 1e-5

typedef struct gb_case {
    int B, T, d, H, K, V, R;
    int bias, h0;
    ocla_attn_form form;
    int chunk;
} gb_case;

static const gb_case k_cases[] = {
    {1, 20, 12, 2, 8, 8, 4, 1, 1, OCLA_FORM_CHUNKED, 0},
    {2, 70, 16, 2, 8, 4, 4, 0, 0, OCLA_FORM_CHUNKED, 16},  /* several chunks, K != V */
    {1, 37, 8, 1, 16, 8, 3, 1, 0, OCLA_FORM_CHUNKED, 0},
    {2, 25, 12, 3, 4, 8, 2, 0, 1, OCLA_FORM_RECURRENT, 0}, /* the recurrent forward; V > K */
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

enum { X, WQ, WK, WV, WR, WG1, WG2, BG2, NW, WO, H0, N_IN };
static const char *const k_names[N_IN] = {"x",    "w_q", "w_k",    "w_v", "w_r",          "w_g1",
                                          "w_g2", "b_g2", "norm_w", "w_o", "initial_state"};

typedef struct gb_run {
    float *host[N_IN], *dy;
    size_t n[N_IN];
    ocla_tensor *t[N_IN], *g[N_IN], *tdy, *ty;
    ref_gla_layer_cfg rc;
    ref_gla_layer_w rw;
} gb_run;

static double loss(const void *arg) {
    const gb_run *r = arg;
    double *y = malloc(r->n[X] * sizeof *y), L = 0;
    ref_gla_layer_fwd(&r->rc, &r->rw, r->host[X], y);
    for (size_t i = 0; i < r->n[X]; i++) L += (double)r->dy[i] * y[i];
    free(y);
    return L;
}

static void make(ocla_context *ctx, const gb_case *c, uint32_t seed, gb_run *r) {
    memset(r, 0, sizeof *r);
    const int HK = c->H * c->K, HV = c->H * c->V;
    const int64_t dims[N_IN][4] = {{c->B, c->T, c->d}, {c->d, HK}, {c->d, HK}, {c->d, HV}, {c->d, HV}, {c->d, c->R},
                                   {c->R, HK},         {HK},       {c->V},     {HV, c->d}, {c->B, c->H, c->K, c->V}};
    const int nd[N_IN] = {3, 2, 2, 2, 2, 2, 2, 1, 1, 2, 4};
    const float sd[N_IN] = {1.0f, 1 / sqrtf((float)c->d), 1 / sqrtf((float)c->d), 1 / sqrtf((float)c->d),
                            1 / sqrtf((float)c->d), 1 / sqrtf((float)c->d), 1 / sqrtf((float)c->R), 1.0f, 0, 1 / sqrtf((float)HV),
                            1.0f};
    for (int i = 0; i < N_IN; i++) {
        if ((i == BG2 && !c->bias) || (i == H0 && !c->h0)) continue;
        r->n[i] = 1;
        for (int j = 0; j < nd[i]; j++) r->n[i] *= (size_t)dims[i][j];
        r->host[i] = malloc(r->n[i] * sizeof(float));
        if (i == NW) tc_fill_uniform(r->host[i], r->n[i], seed + (uint32_t)i, 0.5f, 1.5f);
        else tc_fill_normal(r->host[i], r->n[i], seed + (uint32_t)i, sd[i]);
        r->t[i] = tc_tensor(ctx, nd[i], dims[i], r->host[i]);
        r->g[i] = tc_tensor(ctx, nd[i], dims[i], NULL);
    }
    r->dy = malloc(r->n[X] * sizeof(float));
    tc_fill_normal(r->dy, r->n[X], seed + 99, 1.0f);
    r->tdy = tc_tensor(ctx, 3, dims[X], r->dy), r->ty = tc_tensor(ctx, 3, dims[X], NULL);
    r->rc = (ref_gla_layer_cfg){c->B, c->T, c->d, c->H, c->K, c->V, c->R, 16.0, 1e-5};
    r->rw = (ref_gla_layer_w){r->host[WQ],  r->host[WK],  r->host[WV], r->host[WR], r->host[WG1],
                              r->host[WG2], r->host[BG2], r->host[NW], r->host[WO], r->host[H0]};
}

static void params_of(const gb_case *c, const gb_run *r, ocla_gla_layer_params *p) {
    ocla_gla_layer_params_defaults(p);
    p->heads = c->H, p->head_k = c->K, p->head_v = c->V, p->form = c->form, p->chunk = c->chunk;
    p->initial_state = r->t[H0];
}

static ocla_gla_layer_weights weights_of(const gb_run *r) {
    return (ocla_gla_layer_weights){r->t[WQ], r->t[WK], r->t[WV], r->t[WR], r->t[WG1],
                                    r->t[WG2], r->t[BG2], r->t[NW], r->t[WO]};
}

static ocla_gla_layer_grads grads_of(const gb_run *r) {
    return (ocla_gla_layer_grads){r->g[WQ],  r->g[WK],  r->g[WV], r->g[WR], r->g[WG1],
                                  r->g[WG2], r->g[BG2], r->g[NW], r->g[WO], r->g[H0]};
}

static void release(gb_run *r) {
    for (int i = 0; i < N_IN; i++) ocla_tensor_destroy(r->t[i]), ocla_tensor_destroy(r->g[i]), free(r->host[i]);
    ocla_tensor_destroy(r->tdy), ocla_tensor_destroy(r->ty), free(r->dy);
}

Test(layer_gla_bwd, vs_fp64, .timeout = 1800) {
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const gb_case *c = &k_cases[ci];
        double *ref[N_IN] = {0}, *yref = NULL;
        for (int d = 0; d < tc_device_count(); d++) {
            ocla_context *ctx = tc_open(d);
            gb_run r;
            make(ctx, c, (uint32_t)(300 + 13 * ci), &r);
            if (!yref) { /* the reference, once per case (the inputs do not depend on the device) */
                yref = malloc(r.n[X] * sizeof *yref);
                ref_gla_layer_fwd(&r.rc, &r.rw, r.host[X], yref);
                for (int i = 0; i < N_IN; i++)
                    if (r.host[i]) ref[i] = malloc(r.n[i] * sizeof(double)), ref_lg_fd(loss, &r, r.host[i], r.n[i], FD_STEP, ref[i]);
            }
            ocla_gla_layer_params p;
            params_of(c, &r, &p);
            const ocla_gla_layer_weights w = weights_of(&r);
            const ocla_gla_layer_grads g = grads_of(&r);
            tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &w, r.t[X], r.ty));
            float *y = tc_download(ctx, r.ty);
            const double ey = tc_max_rel_err(y, yref, r.n[X]);
            free(y);
            cr_expect(ey <= TOL, "case %zu on %s: the forward is %.3g from the reference's", ci, tc_device_name(d), ey);
            tc_ok(ctx, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &g));
            double worst = 0;
            for (int i = 0; i < N_IN; i++) {
                if (!r.g[i]) continue;
                float *got = tc_download(ctx, r.g[i]);
                cr_assert(tc_all_finite(got, r.n[i]), "case %zu on %s: d%s not finite", ci, tc_device_name(d), k_names[i]);
                const double e = tc_max_rel_err(got, ref[i], r.n[i]);
                free(got);
                cr_expect(e <= TOL, "case %zu on %s: d%s err %.3g", ci, tc_device_name(d), k_names[i], e);
                if (e > worst) worst = e;
            }
            cr_log_info("GLA layer backward case %zu (B,T,d,H,K,V,R)=(%d,%d,%d,%d,%d,%d,%d) bias %d h0 %d form %d on %s: "
                        "forward %.2e, worst gradient %.2e",
                        ci, c->B, c->T, c->d, c->H, c->K, c->V, c->R, c->bias, c->h0, (int)c->form, tc_device_name(d),
                        ey, worst);
            release(&r);
            ocla_context_destroy(ctx);
        }
        for (int i = 0; i < N_IN; i++) free(ref[i]);
        free(yref);
    }
}

/* Bad input: each refused with its status and a detail naming the argument, nothing written (dx keeps
 * its canary). Dims of every array and foreign tensors: the op table's entry (tests/test_args.c). */
Test(layer_gla_bwd, bad_input) {
    ocla_context *ctx = tc_open(0);
    static const gb_case with = {1, 8, 8, 2, 4, 4, 2, 1, 1, OCLA_FORM_CHUNKED, 0},
                         without = {1, 8, 8, 2, 4, 4, 2, 0, 0, OCLA_FORM_CHUNKED, 0};
    gb_run r, rn;
    make(ctx, &with, 1, &r);
    make(ctx, &without, 2, &rn);
    ocla_gla_layer_params p, pn;
    params_of(&with, &r, &p), params_of(&without, &rn, &pn);
    const ocla_gla_layer_weights w = weights_of(&r), wn = weights_of(&rn);
    const ocla_gla_layer_grads g = grads_of(&r);
    const float canary = -12345.5f;
    float *fill = malloc(r.n[X] * sizeof *fill);
    for (size_t i = 0; i < r.n[X]; i++) fill[i] = canary;
    tc_ok(ctx, ocla_tensor_upload(ctx, r.g[X], fill, r.n[X] * sizeof *fill));
    ocla_tensor *dy_bad = tc_tensor(ctx, 3, (int64_t[]){1, 9, 8}, NULL), *nw_bad = tc_tensor(ctx, 1, (int64_t[]){5}, NULL);
    cr_assert_eq(ocla_gla_layer_backward(NULL, &p, &w, r.t[X], r.tdy, r.g[X], &g), OCLA_ERR_INVALID_ARGUMENT);
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, NULL, &w, r.t[X], r.tdy, r.g[X], &g), "params");
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &p, NULL, r.t[X], r.tdy, r.g[X], &g), "weights");
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], dy_bad, r.g[X], &g), "dy");
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, dy_bad, &g), "dx");
    ocla_gla_layer_grads bad = g;
    bad.norm_w = nw_bad;
    tc_refused(ctx, OCLA_ERR_SHAPE, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "grads.norm_w");
    bad = g, bad.w_o = r.t[WO]; /* the weight itself */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad), "grads.w_o");
    bad = g, bad.initial_state = r.t[H0];
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.g[X], &bad),
            "grads.initial_state");
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, r.t[X], &g), "dx");
    /* gradients of a bias and an initial state the call does not have */
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &pn, &wn, rn.t[X], rn.tdy, rn.g[X], &g), "b_g2");
    bad = g, bad.b_g2 = NULL;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &pn, &wn, rn.t[X], rn.tdy, rn.g[X], &bad),
            "initial_state");
    ocla_gla_layer_params q = p;
    q.norm_eps = 0;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_backward(ctx, &q, &w, r.t[X], r.tdy, r.g[X], &g), "norm_eps");
    q = p, q.size = 3;
    cr_assert_neq(ocla_gla_layer_backward(ctx, &q, &w, r.t[X], r.tdy, r.g[X], &g), OCLA_SUCCESS, "params.size 3");
    float *got = tc_download(ctx, r.g[X]);
    for (size_t i = 0; i < r.n[X]; i++) cr_assert_eq(got[i], canary, "dx written at %zu by a refused call", i);
    free(got), free(fill);
    tc_ok(ctx, ocla_gla_layer_backward(ctx, &p, &w, r.t[X], r.tdy, NULL, NULL)); /* nothing wanted */
    ocla_tensor_destroy(dy_bad), ocla_tensor_destroy(nw_bad);
    release(&r), release(&rn);
    ocla_context_destroy(ctx);
}
