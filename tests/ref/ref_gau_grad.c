/* SPDX-License-Identifier: MIT */
/* fp64 reference gradient of the GAU / FLASH layer: see ref_gau_grad.h. */
#include "ref_gau_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_flash_grad.h"

/* out[j] = sum over m rows of a[m * cols + j] (* b[m * cols + j] when b), or nothing when out is NULL. */
static void col_sums(const double *a, const double *b, size_t rows, int cols, double *out) {
    if (!out) return;
    memset(out, 0, (size_t)cols * sizeof *out);
    for (size_t m = 0; m < rows; m++)
        for (int j = 0; j < cols; j++) out[j] += a[m * cols + j] * (b ? b[m * cols + j] : 1.0);
}

/* dxn -> dx (written) and the norm weights' gradients, per the header. */
static void norm_backward(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, const double *dxn,
                          const ref_gau_grads *g) {
    const int D = c->d;
    const size_t M = (size_t)c->B * c->T;
    if (c->norm == 0 && g->norm_w) memset(g->norm_w, 0, (size_t)D * sizeof(double));
    if (c->norm == 1 && g->norm_w) g->norm_w[0] = 0;
    if (c->norm == 0) col_sums(dxn, NULL, M, D, g->norm_b);
    double *gr = malloc((size_t)D * sizeof *gr + 1);
    for (size_t m = 0; m < M; m++) {
        const double *xr = x + m * D, *dr = dxn + m * D;
        double *out = g->dx ? g->dx + m * D : NULL;
        if (c->norm == 0) {
            double mean, mg = 0, mgx = 0;
            const double inv = ref_gau_layernorm_stats(xr, D, c->norm_eps, &mean);
            for (int i = 0; i < D; i++) {
                const double xh = (xr[i] - mean) * inv;
                gr[i] = dr[i] * (w->norm_w ? w->norm_w[i] : 1.0);
                mg += gr[i] / D, mgx += gr[i] * xh / D;
                if (g->norm_w) g->norm_w[i] += dr[i] * xh;
            }
            for (int i = 0; out && i < D; i++) out[i] = inv * (gr[i] - mg - (xr[i] - mean) * inv * mgx);
        } else if (c->norm == 1) {
            double ss = 0, dot = 0;
            for (int i = 0; i < D; i++) ss += xr[i] * xr[i], dot += dr[i] * xr[i];
            const double n0 = sqrt(ss / D), n = n0 < c->norm_eps ? c->norm_eps : n0;
            const double wg = w->norm_w ? w->norm_w[0] : 1.0;
            if (g->norm_w) g->norm_w[0] += dot / n;
            for (int i = 0; out && i < D; i++)
                out[i] = wg / n * (dr[i] - (n0 < c->norm_eps ? 0.0 : xr[i] * dot / (D * n * n)));
        } else {
            for (int i = 0; out && i < D; i++) out[i] = dr[i];
        }
    }
    free(gr);
}

void ref_gau_backward(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, const double *dy,
                      const ref_gau_grads *g) {
    const int D = c->d, E = c->e, S = c->s, W = 2 * E + S;
    const size_t M = (size_t)c->B * c->T;
    ref_gau_acts t;
    ref_gau_acts_make(c, w, x, &t);
    double *gated = malloc(M * E * sizeof(double) + 1), *dgate = calloc(M * E + 1, sizeof(double));
    double *dav = malloc(M * E * sizeof(double) + 1), *dh = calloc(M * W + 1, sizeof(double));
    double *dq[4], *dv = malloc(M * E * sizeof(double) + 1), *dxn = calloc(M * D + 1, sizeof(double));
    for (int k = 0; k < 4; k++) dq[k] = malloc(M * S * sizeof(double) + 1);
    /* O = G W_o + b_o with G = U * AV */
    for (size_t m = 0; m < M; m++)
        for (int i = 0; i < E; i++) gated[m * E + i] = t.h[m * W + i] * t.o[m * E + i];
    for (size_t m = 0; m < M; m++)
        for (int i = 0; i < E; i++)
            for (int j = 0; j < D; j++) dgate[m * E + i] += dy[m * D + j] * w->w_o[(size_t)i * D + j];
    if (g->w_o) {
        memset(g->w_o, 0, (size_t)E * D * sizeof(double));
        for (size_t m = 0; m < M; m++)
            for (int i = 0; i < E; i++)
                for (int j = 0; j < D; j++) g->w_o[(size_t)i * D + j] += gated[m * E + i] * dy[m * D + j];
    }
    col_sums(dy, NULL, M, D, g->b_o);
    /* G = U * AV */
    for (size_t m = 0; m < M; m++)
        for (int i = 0; i < E; i++) {
            dh[m * W + i] = dgate[m * E + i] * t.o[m * E + i];
            dav[m * E + i] = dgate[m * E + i] * t.h[m * W + i];
        }
    /* AV = flash(Q_k, V), one head */
    const ref_flash_cfg fc = {c->B,          c->T,      1,         S,      E,          c->C,
                              c->causal,     c->quad_scale, c->bias_scale, c->quad_post, c->bias, c->lin_mean,
                              c->lin,        c->rope_dims, c->rope_base, c->pos0};
    const ref_flash_grads fg = {dq[0], dq[1], dq[2], dq[3], dv, g->rel_bias};
    ref_flash_backward(&fc, t.q[0], t.q[1], t.q[2], t.q[3], t.v, dav, &fg);
    /* Q_k = Z gamma[k] + beta[k], Z = h's last s columns */
    if (g->gamma) memset(g->gamma, 0, (size_t)4 * S * sizeof(double));
    if (g->beta) memset(g->beta, 0, (size_t)4 * S * sizeof(double));
    for (size_t m = 0; m < M; m++) {
        for (int i = 0; i < E; i++) dh[m * W + E + i] = dv[m * E + i];
        for (int j = 0; j < S; j++) {
            const double z = t.h[m * W + 2 * E + j];
            double dz = 0;
            for (int k = 0; k < 4; k++) {
                const double d = dq[k][m * S + j];
                dz += d * w->gamma[k * S + j];
                if (g->gamma) g->gamma[k * S + j] += d * z;
                if (g->beta) g->beta[k * S + j] += d;
            }
            dh[m * W + 2 * E + j] = dz;
        }
    }
    /* h = silu(a): dh -> da in place */
    for (size_t i = 0; i < M * W; i++) {
        const double a = t.a[i], s = 1.0 / (1.0 + exp(-a));
        dh[i] *= s * (1.0 + a * (1.0 - s));
    }
    /* a = xn W_uvz + b_uvz */
    col_sums(dh, NULL, M, W, g->b_uvz);
    if (g->w_uvz) {
        memset(g->w_uvz, 0, (size_t)D * W * sizeof(double));
        for (size_t m = 0; m < M; m++)
            for (int i = 0; i < D; i++)
                for (int j = 0; j < W; j++) g->w_uvz[(size_t)i * W + j] += t.xn[m * D + i] * dh[m * W + j];
    }
    for (size_t m = 0; m < M; m++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < W; j++) dxn[m * D + i] += dh[m * W + j] * w->w_uvz[(size_t)i * W + j];
    /* xn = norm(x), then the residual */
    norm_backward(c, w, x, dxn, g);
    for (size_t i = 0; g->dx && c->residual && i < M * D; i++) g->dx[i] += dy[i];
    ref_gau_acts_free(&t);
    free(gated), free(dgate), free(dav), free(dh), free(dv), free(dxn);
    for (int k = 0; k < 4; k++) free(dq[k]);
}
