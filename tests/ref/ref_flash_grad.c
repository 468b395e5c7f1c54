/* SPDX-License-Identifier: MIT */
/* fp64 reference gradient of FLASH mixed chunk attention: see ref_flash_grad.h. */
#include "ref_flash_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rotate the first rd dims of a row by angle sign * pos * freq (split-half RoPE; sign -1 is its
 * transpose), in place. */
static void rotate(double *x, int rd, double base, double pos, double sign) {
    const int half = rd / 2;
    for (int i = 0; i < half; i++) {
        const double th = sign * pos * pow(base, -(double)i / half), cs = cos(th), sn = sin(th);
        const double a = x[i], b = x[i + half];
        x[i] = a * cs - b * sn;
        x[i + half] = b * cs + a * sn;
    }
}

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy(double a, const double *x, double *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void ref_flash_backward(const ref_flash_cfg *c, const double *qq, const double *kq, const double *ql,
                        const double *kl, const double *v, const double *d_o, const ref_flash_grads *g) {
    const int B = c->B, T = c->T, H = c->H, S = c->S, E = c->E, C = c->C, nb = 2 * C - 1;
    const size_t ns = (size_t)B * T * H * S, ne = (size_t)B * T * H * E;
    /* rotated copies of the four inputs (the gradients below are taken with respect to them first) */
    const double *in[4] = {qq, kq, ql, kl};
    double *r[4], *dr[4] = {g->dqq, g->dkq, g->dql, g->dkl};
    for (int k = 0; k < 4; k++) {
        r[k] = malloc(ns * sizeof(double));
        memcpy(r[k], in[k], ns * sizeof(double));
        memset(dr[k], 0, ns * sizeof(double));
    }
    memset(g->dv, 0, ne * sizeof(double));
    if (g->dbias) memset(g->dbias, 0, (size_t)H * nb * sizeof(double));
    for (size_t row = 0; row < ns / S; row++) {
        const double pos = (double)(c->pos0 + (int64_t)(row / H % T));
        for (int k = 0; k < 4; k++) rotate(r[k] + row * S, c->rope_dims, c->rope_base, pos, 1.0);
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const size_t rt = ((size_t)b * T + t) * H + h;
                const double *dot_ = d_o + rt * E;
                const int gt = t / C;
                /* quadratic part: s in t's chunk, s <= t when causal */
                const int s1 = c->causal ? t + 1 : ((gt + 1) * C < T ? (gt + 1) * C : T);
                for (int s = gt * C; s < s1; s++) {
                    const size_t rs = ((size_t)b * T + s) * H + h;
                    double x = c->quad_scale * dot(r[0] + rt * S, r[1] + rs * S, S);
                    if (c->bias) x += c->bias_scale * c->bias[(size_t)h * nb + (t - s + C - 1)];
                    const double rl = x > 0 ? x : 0;
                    axpy(c->quad_post * rl * rl, dot_, g->dv + rs * E, E);       /* dA/dv */
                    const double dx = 2.0 * c->quad_post * rl * dot(dot_, v + rs * E, E); /* dL/dx */
                    axpy(c->quad_scale * dx, r[1] + rs * S, dr[0] + rt * S, S);
                    axpy(c->quad_scale * dx, r[0] + rt * S, dr[1] + rs * S, S);
                    if (g->dbias) g->dbias[(size_t)h * nb + (t - s + C - 1)] += c->bias_scale * dx;
                }
                /* linear part: earlier chunks (causal) or every token (non-causal), weight f */
                const int l1 = c->causal ? gt * C : T;
                const double f = c->causal && c->lin_mean ? (gt > 0 ? c->lin / gt : 0) : c->lin;
                for (int s = 0; s < l1; s++) {
                    const size_t rs = ((size_t)b * T + s) * H + h;
                    axpy(f * dot(r[2] + rt * S, r[3] + rs * S, S), dot_, g->dv + rs * E, E);
                    const double dw = f * dot(dot_, v + rs * E, E);
                    axpy(dw, r[3] + rs * S, dr[2] + rt * S, S);
                    axpy(dw, r[2] + rt * S, dr[3] + rs * S, S);
                }
            }
    /* back through RoPE: the transpose of a rotation is the rotation by the opposite angle */
    for (size_t row = 0; row < ns / S; row++) {
        const double pos = (double)(c->pos0 + (int64_t)(row / H % T));
        for (int k = 0; k < 4; k++) rotate(dr[k] + row * S, c->rope_dims, c->rope_base, pos, -1.0);
    }
    for (int k = 0; k < 4; k++) free(r[k]);
}
