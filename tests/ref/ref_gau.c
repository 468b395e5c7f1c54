/* SPDX-License-Identifier: MIT */
/* fp64 reference of the GAU / FLASH layer: see ref_gau.h. */
#include "ref_gau.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Split-half RoPE of the first rd dims of one row, in place (methods.md 3.3). */
static void rope_row(double *x, int rd, double base, double pos) {
    const int half = rd / 2;
    for (int i = 0; i < half; i++) {
        const double th = pos * pow(base, -(double)i / half), c = cos(th), s = sin(th);
        const double a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

void ref_gau_flash(const ref_gau_cfg *c, const double *qq, const double *kq, const double *ql, const double *kl,
                   const double *v, double *o) {
    const int T = c->T, S = c->s, E = c->e, C = c->C;
    const size_t n = (size_t)T * S;
    double *r[4];
    const double *in[4] = {qq, kq, ql, kl};
    for (int b = 0; b < c->B; b++) {
        for (int k = 0; k < 4; k++) {
            r[k] = malloc(n * sizeof(double));
            memcpy(r[k], in[k] + (size_t)b * n, n * sizeof(double));
            for (int t = 0; t < T; t++) rope_row(r[k] + (size_t)t * S, c->rope_dims, c->rope_base, (double)(c->pos0 + t));
        }
        const double *vb = v + (size_t)b * T * E;
        for (int t = 0; t < T; t++) {
            double *ot = o + ((size_t)b * T + t) * E;
            for (int j = 0; j < E; j++) ot[j] = 0;
            const int g = t / C;
            /* quadratic part inside the chunk (causal: s <= t) */
            const int s1 = c->causal ? t + 1 : ((g + 1) * C < T ? (g + 1) * C : T);
            for (int s = g * C; s < s1; s++) {
                double x = 0;
                for (int i = 0; i < S; i++) x += r[0][(size_t)t * S + i] * r[1][(size_t)s * S + i];
                x *= c->quad_scale;
                if (c->bias) x += c->bias_scale * c->bias[t - s + C - 1];
                const double rl = x > 0 ? x : 0, wgt = c->quad_post * rl * rl;
                for (int j = 0; j < E; j++) ot[j] += wgt * vb[(size_t)s * E + j];
            }
            /* linear part: earlier chunks (causal) or every token (non-causal) */
            const int l1 = c->causal ? g * C : T;
            double f = c->lin;
            if (c->causal && c->lin_mean) f = g > 0 ? c->lin / g : 0;
            for (int s = 0; s < l1; s++) {
                double x = 0;
                for (int i = 0; i < S; i++) x += r[2][(size_t)t * S + i] * r[3][(size_t)s * S + i];
                for (int j = 0; j < E; j++) ot[j] += f * x * vb[(size_t)s * E + j];
            }
        }
        for (int k = 0; k < 4; k++) free(r[k]);
    }
}

static double *copy64(const float *x, size_t n) {
    if (!x) return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; d && i < n; i++) d[i] = x[i];
    return d;
}

void ref_gau_weights64_make(const ref_gau_cfg *c, const ref_gau_weights *w, ref_gau_weights64 *out) {
    const size_t D = (size_t)c->d, W = 2 * (size_t)c->e + c->s, S4 = 4 * (size_t)c->s;
    *out = (ref_gau_weights64){copy64(w->w_uvz, D * W), copy64(w->b_uvz, W),
                               copy64(w->gamma, S4),    copy64(w->beta, S4),
                               copy64(w->w_o, (size_t)c->e * D), copy64(w->b_o, D),
                               copy64(w->norm_w, c->norm == 1 ? 1 : D), copy64(w->norm_b, D)};
}

void ref_gau_weights64_free(ref_gau_weights64 *w) {
    const double *all[8] = {w->w_uvz, w->b_uvz, w->gamma, w->beta, w->w_o, w->b_o, w->norm_w, w->norm_b};
    for (int i = 0; i < 8; i++) free((void *)all[i]);
}

double ref_gau_layernorm_stats(const double *x, int D, double eps, double *mean) {
    double m = 0, var = 0;
    for (int i = 0; i < D; i++) m += x[i];
    m /= D;
    for (int i = 0; i < D; i++) var += (x[i] - m) * (x[i] - m);
    *mean = m;
    return 1.0 / sqrt(var / D + eps);
}

void ref_gau_acts_make(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, ref_gau_acts *acts) {
    const int D = c->d, E = c->e, S = c->s, W = 2 * E + S;
    const size_t M = (size_t)c->B * c->T;
    double *xn = malloc(M * D * sizeof(double) + 1), *a = malloc(M * W * sizeof(double) + 1);
    double *h = malloc(M * W * sizeof(double) + 1), *v = calloc(M * E + 1, sizeof(double));
    *acts = (ref_gau_acts){xn, a, h, {NULL}, v, calloc(M * E + 1, sizeof(double))};
    for (int k = 0; k < 4; k++) acts->q[k] = calloc(M * S + 1, sizeof(double));
    /* norm */
    for (size_t m = 0; m < M; m++) {
        const double *xr = x + m * D;
        double *nr = xn + m * D;
        if (c->norm == 0) {
            double mean;
            const double inv = ref_gau_layernorm_stats(xr, D, c->norm_eps, &mean);
            for (int i = 0; i < D; i++)
                nr[i] = (xr[i] - mean) * inv * (w->norm_w ? w->norm_w[i] : 1.0) + (w->norm_b ? w->norm_b[i] : 0.0);
        } else if (c->norm == 1) {
            double ss = 0;
            for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
            double nrm = sqrt(ss) / sqrt((double)D);
            if (nrm < c->norm_eps) nrm = c->norm_eps;
            const double g = w->norm_w ? w->norm_w[0] : 1.0;
            for (int i = 0; i < D; i++) nr[i] = xr[i] / nrm * g;
        } else {
            for (int i = 0; i < D; i++) nr[i] = xr[i];
        }
    }
    /* [U | V | Z] = silu(xn W_uvz + b_uvz); the four offset-scales of Z */
    for (size_t m = 0; m < M; m++)
        for (int col = 0; col < W; col++) {
            double s = w->b_uvz ? w->b_uvz[col] : 0.0;
            for (int i = 0; i < D; i++) s += xn[m * D + i] * w->w_uvz[(size_t)i * W + col];
            const double z = s / (1.0 + exp(-s));
            a[m * W + col] = s, h[m * W + col] = z;
            if (col >= E && col < 2 * E) v[m * E + col - E] = z;
            if (col >= 2 * E) {
                const int j = col - 2 * E;
                for (int k = 0; k < 4; k++)
                    acts->q[k][m * S + j] = z * w->gamma[k * S + j] + (w->beta ? w->beta[k * S + j] : 0.0);
            }
        }
    ref_gau_flash(c, acts->q[0], acts->q[1], acts->q[2], acts->q[3], v, acts->o);
}

void ref_gau_acts_free(ref_gau_acts *acts) {
    free(acts->xn), free(acts->a), free(acts->h), free(acts->v), free(acts->o);
    for (int k = 0; k < 4; k++) free(acts->q[k]);
}

void ref_gau_layer64(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, double *y) {
    const int D = c->d, E = c->e, W = 2 * E + c->s;
    const size_t M = (size_t)c->B * c->T;
    ref_gau_acts t;
    ref_gau_acts_make(c, w, x, &t);
    /* O = (U * AV) W_o + b_o; y = x + O */
    for (size_t m = 0; m < M; m++)
        for (int col = 0; col < D; col++) {
            double s = w->b_o ? w->b_o[col] : 0.0;
            for (int i = 0; i < E; i++) s += t.h[m * W + i] * t.o[m * E + i] * w->w_o[(size_t)i * D + col];
            y[m * D + col] = s + (c->residual ? x[m * D + col] : 0.0);
        }
    ref_gau_acts_free(&t);
}

void ref_gau_layer(const ref_gau_cfg *c, const ref_gau_weights *w, const float *x, double *y) {
    ref_gau_weights64 w64;
    ref_gau_weights64_make(c, w, &w64);
    double *x64 = copy64(x, (size_t)c->B * c->T * c->d);
    ref_gau_layer64(c, &w64, x64, y);
    free(x64);
    ref_gau_weights64_free(&w64);
}
