/* SPDX-License-Identifier: MIT */
/* Packed sequences (cu_seqlens) and state slots through the layers (include/ocla/layers.h): the GLA
 * layer and the causal linear multi-head layer on a packed batch against each sequence run alone
 * (outputs, final states, and the backward's dx and weight gradients: the packed gradient of a weight
 * is the sum of the sequences' own), the GLA layer's decode step reading and writing a state pool
 * through slots against each row alone, and the refusals (GAU's non-causal form, softmax and
 * non-causal layers, bad offsets and slots), each naming the argument. The backward tests skip with the reason while
 * ocla_attention_backward refuses packed sequences. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h" /* tensor dims for the gradients' shapes */

enum { D = 24, H = 2, K = 8, V = 8, R = 4, CH = 16, NS = 5 };
/* lengths 1, C-1, C, C+1 and a long one at chunk 16 */
static const int lens[NS] = {1, CH - 1, CH, CH + 1, 40};

/* Packed against alone: the same kernels per token and per sequence (the state walk of each sequence
 * starts its own chunks at its first token, as when alone); only CLBlast's GEMMs over another row
 * count may sum in another order: fp32 rounding of sums over d = 24 terms (~1e-7). The bar
 * is 1e-6 normwise; measured values are logged. */
#define PACK_TOL 1e-6
/* Gradients of weights are sums over every token: the packed one sums all sequences' tokens in one
 * GEMM, the reference adds five GEMMs' results; ~T * 1e-7 relative at worst for T = 89 terms, 1e-5.
 * dx likewise (the attention backward's reverse walk and four GEMMs summed into it). */
#define GRAD_TOL 1e-5

static void offsets(int32_t cu[NS + 1]) {
    cu[0] = 0;
    for (int i = 0; i < NS; i++) cu[i + 1] = cu[i] + lens[i];
}

static ocla_tensor *rnd(ocla_context *ctx, int ndim, const int64_t *dims, uint32_t seed, float sd) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    float *h = malloc(n * sizeof *h);
    tc_fill_normal(h, n, seed, sd);
    ocla_tensor *t = tc_tensor(ctx, ndim, dims, h);
    free(h);
    return t;
}

static ocla_tensor *sub_tensor(ocla_context *ctx, const float *host, int64_t rows, int64_t cols) {
    const int64_t d[3] = {1, rows, cols};
    return tc_tensor(ctx, 3, d, host);
}

static double err_f(const float *got, const float *want, size_t n) { return tc_max_rel_err_f(got, want, n); }

/* ---- the GLA layer ---- */

typedef struct gla_w {
    ocla_tensor *t[9];
    ocla_gla_layer_weights w;
} gla_w;

static void gla_weights(ocla_context *ctx, gla_w *g) {
    const int64_t dq[2] = {D, H * K}, dv[2] = {D, H * V}, d1[2] = {D, R}, d2[2] = {R, H * K}, db[1] = {H * K},
                  dn[1] = {V}, dout[2] = {H * V, D};
    const int64_t *dims[9] = {dq, dq, dv, dv, d1, d2, db, dn, dout};
    const int nd[9] = {2, 2, 2, 2, 2, 2, 1, 1, 2};
    for (int i = 0; i < 9; i++) g->t[i] = rnd(ctx, nd[i], dims[i], 100 + (uint32_t)i, i == 7 ? 1.0f : 0.3f);
    g->w = (ocla_gla_layer_weights){g->t[0], g->t[1], g->t[2], g->t[3], g->t[4], g->t[5], g->t[6], g->t[7], g->t[8]};
}

static void gla_free(gla_w *g) {
    for (int i = 0; i < 9; i++) ocla_tensor_destroy(g->t[i]);
}

static void gla_params(ocla_gla_layer_params *p) {
    ocla_gla_layer_params_defaults(p);
    p->heads = H, p->head_k = K, p->head_v = V, p->chunk = CH;
}

/* Packed forward (states by sequence, or a pool of NS + 2 through slots) against each sequence alone. */
static void gla_packed(ocla_context *ctx, int dv, int use_slots) {
    int32_t cu[NS + 1];
    offsets(cu);
    const int T = cu[NS], S = use_slots ? NS + 2 : NS;
    static const int32_t slot_of[NS] = {6, 1, 3, 0, 5};
    gla_w g;
    gla_weights(ctx, &g);
    float *x = malloc(sizeof(float) * T * D), *pool = malloc(sizeof(float) * S * H * K * V);
    tc_fill_normal(x, (size_t)T * D, 7, 1.0f), tc_fill_normal(pool, (size_t)S * H * K * V, 8, 0.5f);
    const int64_t sd[4] = {S, H, K, V};
    ocla_tensor *xt = sub_tensor(ctx, x, T, D), *yt = sub_tensor(ctx, NULL, T, D), *st = tc_tensor(ctx, 4, sd, pool);
    ocla_gla_layer_params p;
    gla_params(&p);
    p.cu_seqlens = cu, p.n_seqs = NS, p.initial_state = st, p.final_state = st; /* in place */
    if (use_slots) p.state_slots = slot_of, p.n_state_slots = NS;
    tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt));
    float *y = tc_download(ctx, yt), *fin = tc_download(ctx, st);
    double ey = 0, es = 0;
    for (int i = 0; i < NS; i++) {
        const int row = use_slots ? slot_of[i] : i;
        const size_t hkv = (size_t)H * K * V;
        ocla_tensor *xi = sub_tensor(ctx, x + (size_t)cu[i] * D, lens[i], D), *yi = sub_tensor(ctx, NULL, lens[i], D);
        ocla_tensor *si = tc_tensor4(ctx, 1, H, K, V, pool + row * hkv);
        ocla_gla_layer_params pi;
        gla_params(&pi);
        pi.initial_state = si, pi.final_state = si;
        tc_ok(ctx, ocla_gla_layer_forward(ctx, &pi, &g.w, xi, yi));
        float *ya = tc_download(ctx, yi), *sa = tc_download(ctx, si);
        const double e1 = err_f(y + (size_t)cu[i] * D, ya, (size_t)lens[i] * D), e2 = err_f(fin + row * hkv, sa, hkv);
        ey = e1 > ey ? e1 : ey, es = e2 > es ? e2 : es;
        free(ya), free(sa);
        ocla_tensor_destroy(xi), ocla_tensor_destroy(yi), ocla_tensor_destroy(si);
    }
    if (use_slots) /* the pool rows no sequence names are untouched */
        for (int r = 0; r < S; r++)
            if (r == 2 || r == 4)
                cr_expect_eq(memcmp(fin + (size_t)r * H * K * V, pool + (size_t)r * H * K * V, sizeof(float) * H * K * V),
                             0, "pool row %d was written", r);
    cr_log_info("GLA layer packed%s on %s: y %.2e, final states %.2e vs alone", use_slots ? " into slots" : "",
                tc_device_name(dv), ey, es);
    cr_expect_leq(ey, PACK_TOL, "packed y on %s: %.3e", tc_device_name(dv), ey);
    cr_expect_leq(es, PACK_TOL, "packed final states on %s: %.3e", tc_device_name(dv), es);
    free(x), free(pool), free(y), free(fin);
    ocla_tensor_destroy(xt), ocla_tensor_destroy(yt), ocla_tensor_destroy(st);
    gla_free(&g);
}

Test(layer_varlen, gla_packed_vs_alone, .timeout = 600) {
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        gla_packed(ctx, dv, 0);
        gla_packed(ctx, dv, 1);
        ocla_context_destroy(ctx);
    }
}

/* The decode step: B = 3 rows of one token, their states in slots {4, 0, 2} of a pool of 5, in place. */
Test(layer_varlen, gla_slots_decode_vs_alone, .timeout = 600) {
    enum { B = 3, S = 5 };
    static const int32_t slots[B] = {4, 0, 2};
    const size_t hkv = (size_t)H * K * V;
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        gla_w g;
        gla_weights(ctx, &g);
        float x[B * D], pool[S * H * K * V];
        tc_fill_normal(x, B * D, 11, 1.0f), tc_fill_normal(pool, S * hkv, 12, 0.5f);
        const int64_t xd[3] = {B, 1, D}, sd[4] = {S, H, K, V};
        ocla_tensor *xt = tc_tensor(ctx, 3, xd, x), *yt = tc_tensor(ctx, 3, xd, NULL), *st = tc_tensor(ctx, 4, sd, pool);
        ocla_gla_layer_params p;
        gla_params(&p);
        p.form = OCLA_FORM_RECURRENT, p.initial_state = st, p.final_state = st;
        p.state_slots = slots, p.n_state_slots = B;
        tc_ok(ctx, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt));
        float *y = tc_download(ctx, yt), *fin = tc_download(ctx, st);
        double worst = 0;
        for (int b = 0; b < B; b++) {
            ocla_tensor *xi = sub_tensor(ctx, x + b * D, 1, D), *yi = sub_tensor(ctx, NULL, 1, D);
            ocla_tensor *si = tc_tensor4(ctx, 1, H, K, V, pool + slots[b] * hkv);
            ocla_gla_layer_params pi = p;
            pi.state_slots = NULL, pi.n_state_slots = 0, pi.initial_state = si, pi.final_state = si;
            tc_ok(ctx, ocla_gla_layer_forward(ctx, &pi, &g.w, xi, yi));
            float *ya = tc_download(ctx, yi), *sa = tc_download(ctx, si);
            const double e1 = err_f(y + b * D, ya, D), e2 = err_f(fin + slots[b] * hkv, sa, hkv);
            worst = e1 > worst ? e1 : worst, worst = e2 > worst ? e2 : worst;
            free(ya), free(sa);
            ocla_tensor_destroy(xi), ocla_tensor_destroy(yi), ocla_tensor_destroy(si);
        }
        for (int r = 1; r < S; r += 2) /* rows 1 and 3: no row's slot */
            cr_expect_eq(memcmp(fin + r * hkv, pool + r * hkv, sizeof(float) * hkv), 0, "pool row %d was written", r);
        cr_log_info("GLA layer decode step in slots on %s: %.2e vs alone", tc_device_name(dv), worst);
        cr_expect_leq(worst, PACK_TOL, "slots decode on %s: %.3e", tc_device_name(dv), worst);
        /* bad slots: refused by the attention, naming the index */
        const int32_t out_of_range[B] = {4, 5, 0}, repeated[B] = {1, 1, 0};
        p.state_slots = out_of_range;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "state_slots[1]");
        p.state_slots = repeated;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "state_slots[1]");
        p.state_slots = slots, p.n_state_slots = 2;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "n_state_slots");
        free(y), free(fin);
        ocla_tensor_destroy(xt), ocla_tensor_destroy(yt), ocla_tensor_destroy(st);
        gla_free(&g);
        ocla_context_destroy(ctx);
    }
}

/* ---- the causal linear multi-head layer ---- */

typedef struct mha_w {
    ocla_tensor *t[4];
    ocla_mha_layer_weights w;
} mha_w;

static void mha_weights(ocla_context *ctx, mha_w *m) {
    const int64_t dq[2] = {D, H * K}, dv[2] = {D, H * V}, dout[2] = {H * V, D};
    const int64_t *dims[4] = {dq, dq, dv, dout};
    for (int i = 0; i < 4; i++) m->t[i] = rnd(ctx, 2, dims[i], 200 + (uint32_t)i, 0.3f);
    m->w = (ocla_mha_layer_weights){.w_q = m->t[0], .w_k = m->t[1], .w_v = m->t[2], .w_o = m->t[3]};
}

static void mha_params(ocla_mha_layer_params *p) {
    ocla_mha_layer_params_defaults(p, OCLA_MHA_LINEAR);
    p->heads = H, p->head_k = K, p->head_v = V, p->chunk = CH;
}

Test(layer_varlen, mha_linear_packed_vs_alone, .timeout = 600) {
    int32_t cu[NS + 1];
    offsets(cu);
    const int T = cu[NS];
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        mha_w m;
        mha_weights(ctx, &m);
        float *x = malloc(sizeof(float) * T * D);
        tc_fill_normal(x, (size_t)T * D, 21, 1.0f);
        ocla_tensor *xt = sub_tensor(ctx, x, T, D), *yt = sub_tensor(ctx, NULL, T, D);
        ocla_mha_layer_params p;
        mha_params(&p);
        p.cu_seqlens = cu, p.n_seqs = NS;
        tc_ok(ctx, ocla_mha_layer_forward(ctx, &p, &m.w, xt, yt));
        float *y = tc_download(ctx, yt);
        double worst = 0;
        for (int i = 0; i < NS; i++) {
            ocla_tensor *xi = sub_tensor(ctx, x + (size_t)cu[i] * D, lens[i], D), *yi = sub_tensor(ctx, NULL, lens[i], D);
            ocla_mha_layer_params pi;
            mha_params(&pi);
            tc_ok(ctx, ocla_mha_layer_forward(ctx, &pi, &m.w, xi, yi));
            float *ya = tc_download(ctx, yi);
            const double e = err_f(y + (size_t)cu[i] * D, ya, (size_t)lens[i] * D);
            worst = e > worst ? e : worst;
            free(ya);
            ocla_tensor_destroy(xi), ocla_tensor_destroy(yi);
        }
        cr_log_info("linear MHA layer packed on %s: %.2e vs alone", tc_device_name(dv), worst);
        cr_expect_leq(worst, PACK_TOL, "packed MHA on %s: %.3e", tc_device_name(dv), worst);
        /* kinds and forms without offsets, and bad offsets, named */
        const int32_t bad[NS + 1] = {0, 1, 1, 20, 30, 89};
        p.cu_seqlens = bad;
        tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_mha_layer_forward(ctx, &p, &m.w, xt, yt), "cu_seqlens[2]");
        p.cu_seqlens = cu, p.causal = 0;
        tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_mha_layer_forward(ctx, &p, &m.w, xt, yt), "cu_seqlens");
        ocla_mha_layer_params sp;
        ocla_mha_layer_params_defaults(&sp, OCLA_MHA_SOFTMAX);
        sp.heads = H, sp.head_k = K, sp.head_v = V, sp.cu_seqlens = cu, sp.n_seqs = NS;
        tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_mha_layer_forward(ctx, &sp, &m.w, xt, yt), "cu_seqlens");
        free(x), free(y);
        ocla_tensor_destroy(xt), ocla_tensor_destroy(yt);
        for (int i = 0; i < 4; i++) ocla_tensor_destroy(m.t[i]);
        ocla_context_destroy(ctx);
    }
}

/* GAU refuses offsets with non-causal attention and names a bad one (its packed runs:
 * tests/test_flash_varlen.c); the GLA layer passes bad offsets to the attention, which names them. */
Test(layer_varlen, refusals_name_the_argument) {
    ocla_context *ctx = tc_open(0);
    int32_t cu[NS + 1];
    offsets(cu);
    const int T = cu[NS];
    ocla_tensor *xt = sub_tensor(ctx, NULL, T, D), *yt = sub_tensor(ctx, NULL, T, D);
    ocla_gau_layer_params gp;
    ocla_gau_layer_params_defaults(&gp);
    gp.cu_seqlens = cu, gp.n_seqs = NS, gp.flash.causal = 0;
    const ocla_gau_layer_weights none = {0};
    tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_gau_layer_forward(ctx, &gp, &none, xt, yt), "cu_seqlens");
    tc_refused(ctx, OCLA_ERR_UNSUPPORTED, ocla_gau_layer_backward(ctx, &gp, &none, xt, yt, NULL, NULL), "cu_seqlens");
    const int32_t past[NS + 1] = {0, 1, 16, 32, 49, 90};
    gp.flash.causal = 1, gp.cu_seqlens = past;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_forward(ctx, &gp, &none, xt, yt), "cu_seqlens[5]");
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gau_layer_backward(ctx, &gp, &none, xt, yt, NULL, NULL),
               "cu_seqlens[5]");
    gla_w g;
    gla_weights(ctx, &g);
    ocla_gla_layer_params p;
    gla_params(&p);
    const int32_t short_total[NS + 1] = {0, 1, 16, 32, 49, 88}, start[NS + 1] = {1, 2, 17, 33, 50, 89};
    p.cu_seqlens = short_total, p.n_seqs = NS;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "cu_seqlens[5]");
    p.cu_seqlens = start;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "cu_seqlens[0]");
    p.cu_seqlens = cu, p.form = OCLA_FORM_RECURRENT;
    tc_refused(ctx, OCLA_ERR_INVALID_ARGUMENT, ocla_gla_layer_forward(ctx, &p, &g.w, xt, yt), "cu_seqlens");
    gla_free(&g);
    ocla_tensor_destroy(xt), ocla_tensor_destroy(yt);
    ocla_context_destroy(ctx);
}

/* ---- backward: packed gradients == the sequences' own (dx by rows, weight gradients summed) ---- */

/* One layer's backward: run(c, cu, n_seqs, x, dy, dx) writes dx and the n weight gradients gt. */
typedef struct bwd_case {
    ocla_context *ctx;
    const char *name;
    int n;
    ocla_tensor *const *gt;
    const void *layer; /* the weights and grads the run function knows */
    ocla_status (*run)(const struct bwd_case *c, const int32_t *cu, int n_seqs, const ocla_tensor *x,
                       const ocla_tensor *dy, ocla_tensor *dx);
} bwd_case;

/* True (the reason logged) when the attention backward refuses packed sequences. */
static int backward_refuses(ocla_context *ctx, ocla_status st) {
    if (st != OCLA_ERR_UNSUPPORTED || !strstr(ocla_last_error(ctx), "ocla_attention_backward") ||
        !strstr(ocla_last_error(ctx), "cu_seqlens"))
        return 0;
    cr_log_warn("skipped: %s", ocla_last_error(ctx));
    return 1;
}

/* The packed backward against each sequence's; returns 1 when the attention backward refused. */
static int compare_backward(const bwd_case *c, int dv, uint32_t seed) {
    ocla_context *ctx = c->ctx;
    int32_t cu[NS + 1];
    offsets(cu);
    const int T = cu[NS];
    float *x = malloc(sizeof(float) * T * D), *dy = malloc(sizeof(float) * T * D), *packed[9], *sum[9];
    tc_fill_normal(x, (size_t)T * D, seed, 1.0f), tc_fill_normal(dy, (size_t)T * D, seed + 1, 1.0f);
    ocla_tensor *xt = sub_tensor(ctx, x, T, D), *dyt = sub_tensor(ctx, dy, T, D), *dxt = sub_tensor(ctx, NULL, T, D);
    size_t numel[9];
    for (int i = 0; i < c->n; i++) numel[i] = (size_t)ocla_tensor_numel(c->gt[i]), sum[i] = calloc(numel[i], sizeof(float));
    const ocla_status st = c->run(c, cu, NS, xt, dyt, dxt);
    const int skip = backward_refuses(ctx, st);
    if (!skip) {
        tc_ok(ctx, st);
        float *dx = tc_download(ctx, dxt);
        for (int i = 0; i < c->n; i++) packed[i] = tc_download(ctx, c->gt[i]);
        double edx = 0, ew = 0;
        for (int s = 0; s < NS; s++) {
            ocla_tensor *xi = sub_tensor(ctx, x + (size_t)cu[s] * D, lens[s], D);
            ocla_tensor *dyi = sub_tensor(ctx, dy + (size_t)cu[s] * D, lens[s], D), *dxi = sub_tensor(ctx, NULL, lens[s], D);
            tc_ok(ctx, c->run(c, NULL, 0, xi, dyi, dxi));
            float *da = tc_download(ctx, dxi);
            const double e = err_f(dx + (size_t)cu[s] * D, da, (size_t)lens[s] * D);
            edx = e > edx ? e : edx;
            for (int i = 0; i < c->n; i++) { /* the weights' gradients add up over the sequences */
                float *h = tc_download(ctx, c->gt[i]);
                for (size_t j = 0; j < numel[i]; j++) sum[i][j] += h[j];
                free(h);
            }
            free(da);
            ocla_tensor_destroy(xi), ocla_tensor_destroy(dyi), ocla_tensor_destroy(dxi);
        }
        for (int i = 0; i < c->n; i++) {
            const double e = err_f(packed[i], sum[i], numel[i]);
            ew = e > ew ? e : ew;
            free(packed[i]);
        }
        cr_log_info("%s backward packed on %s: dx %.2e, weight gradients %.2e vs alone", c->name, tc_device_name(dv),
                    edx, ew);
        cr_expect_leq(edx, GRAD_TOL, "%s packed dx on %s: %.3e", c->name, tc_device_name(dv), edx);
        cr_expect_leq(ew, GRAD_TOL, "%s packed weight gradients on %s: %.3e", c->name, tc_device_name(dv), ew);
        free(dx);
    }
    for (int i = 0; i < c->n; i++) free(sum[i]);
    free(x), free(dy);
    ocla_tensor_destroy(xt), ocla_tensor_destroy(dyt), ocla_tensor_destroy(dxt);
    return skip;
}

typedef struct gla_bwd {
    const gla_w *g;
    const ocla_gla_layer_grads *grads;
} gla_bwd;

static ocla_status gla_run(const bwd_case *c, const int32_t *cu, int n_seqs, const ocla_tensor *x,
                           const ocla_tensor *dy, ocla_tensor *dx) {
    const gla_bwd *b = c->layer;
    ocla_gla_layer_params p;
    gla_params(&p);
    p.cu_seqlens = cu, p.n_seqs = n_seqs;
    return ocla_gla_layer_backward(c->ctx, &p, &b->g->w, x, dy, dx, b->grads);
}

typedef struct mha_bwd {
    const mha_w *m;
    const ocla_mha_layer_grads *grads;
} mha_bwd;

static ocla_status mha_run(const bwd_case *c, const int32_t *cu, int n_seqs, const ocla_tensor *x,
                           const ocla_tensor *dy, ocla_tensor *dx) {
    const mha_bwd *b = c->layer;
    ocla_mha_layer_params p;
    mha_params(&p);
    p.cu_seqlens = cu, p.n_seqs = n_seqs;
    return ocla_mha_layer_backward(c->ctx, &p, &b->m->w, x, dy, dx, b->grads);
}

/* Gradient tensors of the weights' dims (zeros). */
static void grad_tensors(ocla_context *ctx, ocla_tensor *const *w, int n, ocla_tensor **gt) {
    for (int i = 0; i < n; i++) gt[i] = tc_tensor(ctx, w[i]->ndim, w[i]->dims, NULL);
}

Test(layer_varlen, gla_backward_packed_vs_alone, .timeout = 600) {
    int skip = 0;
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        gla_w g;
        gla_weights(ctx, &g);
        ocla_tensor *gt[9];
        grad_tensors(ctx, g.t, 9, gt);
        const ocla_gla_layer_grads grads = {gt[0], gt[1], gt[2], gt[3], gt[4], gt[5], gt[6], gt[7], gt[8], NULL};
        const gla_bwd b = {&g, &grads};
        const bwd_case c = {ctx, "GLA layer", 9, gt, &b, gla_run};
        skip |= compare_backward(&c, dv, 31);
        for (int i = 0; i < 9; i++) ocla_tensor_destroy(gt[i]);
        gla_free(&g);
        ocla_context_destroy(ctx);
    }
    if (skip) cr_skip("the attention backward takes no packed sequences yet: packed layer gradients not compared");
}

Test(layer_varlen, mha_linear_backward_packed_vs_alone, .timeout = 600) {
    int skip = 0;
    for (int dv = 0; dv < tc_device_count(); dv++) {
        ocla_context *ctx = tc_open(dv);
        mha_w m;
        mha_weights(ctx, &m);
        ocla_tensor *gt[4];
        grad_tensors(ctx, m.t, 4, gt);
        const ocla_mha_layer_grads grads = {.w_q = gt[0], .w_k = gt[1], .w_v = gt[2], .w_o = gt[3]};
        const mha_bwd b = {&m, &grads};
        const bwd_case c = {ctx, "linear MHA layer", 4, gt, &b, mha_run};
        skip |= compare_backward(&c, dv, 41);
        for (int i = 0; i < 4; i++) ocla_tensor_destroy(gt[i]), ocla_tensor_destroy(m.t[i]);
        ocla_context_destroy(ctx);
    }
    if (skip) cr_skip("the attention backward takes no packed sequences yet: packed layer gradients not compared");
}
