/* SPDX-License-Identifier: MIT */
/* fp64 references: see ref_layers.h. */
#include "ref_layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_softmax_attention(int B, int T, int H, int K, int V, int causal, double scale, const float *q,
                           const float *k, const float *v, double *o) {
    double *x = malloc((size_t)(T > 0 ? T : 1) * sizeof *x);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((size_t)b * T + t) * H + h) * K;
                int n = causal ? t + 1 : T;
                double m = -INFINITY;
                for (int s = 0; s < n; s++) {
                    const float *ks = k + (((size_t)b * T + s) * H + h) * K;
                    double d = 0;
                    for (int i = 0; i < K; i++) d += (double)qt[i] * ks[i];
                    x[s] = scale * d;
                    if (x[s] > m) m = x[s];
                }
                double l = 0;
                for (int s = 0; s < n; s++) l += (x[s] = exp(x[s] - m));
                double *ot = o + (((size_t)b * T + t) * H + h) * V;
                for (int j = 0; j < V; j++) ot[j] = 0;
                for (int s = 0; s < n; s++) {
                    const float *vs = v + (((size_t)b * T + s) * H + h) * V;
                    for (int j = 0; j < V; j++) ot[j] += x[s] / l * vs[j];
                }
            }
    free(x);
}

/* rope(x) of one row into out (fp64). */
static void rope_row(const float *x, int S, int rd, double base, double pos, double *out) {
    for (int i = 0; i < S; i++) out[i] = x[i];
    int half = rd / 2;
    for (int i = 0; i < half; i++) {
        double th = pos * pow(base, -(double)i / half);
        out[i] = x[i] * cos(th) - x[i + half] * sin(th);
        out[i + half] = x[i + half] * cos(th) + x[i] * sin(th);
    }
}

void ref_flash_attention(const ref_flash_cfg *c, const float *qq, const float *kq, const float *ql, const float *kl,
                         const float *v, double *o) {
    const int T = c->T, H = c->H, S = c->S, E = c->E, C = c->C;
    double *a = malloc((size_t)S * sizeof *a), *bb = malloc((size_t)S * sizeof *bb);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                size_t rt = ((size_t)b * T + t) * H + h;
                double *ot = o + rt * E;
                for (int j = 0; j < E; j++) ot[j] = 0;
                int g = t / C;
                /* quadratic part */
                rope_row(qq + rt * S, S, c->rope_dims, c->rope_base, (double)(c->pos0 + t), a);
                int s1 = c->causal ? t + 1 : (g + 1) * C < T ? (g + 1) * C : T;
                for (int s = g * C; s < s1; s++) {
                    size_t rs = ((size_t)b * T + s) * H + h;
                    rope_row(kq + rs * S, S, c->rope_dims, c->rope_base, (double)(c->pos0 + s), bb);
                    double x = 0;
                    for (int i = 0; i < S; i++) x += a[i] * bb[i];
                    x *= c->quad_scale;
                    if (c->bias) x += c->bias_scale * c->bias[(size_t)h * (2 * C - 1) + (t - s + C - 1)];
                    double r = x > 0 ? x : 0;
                    double w = c->quad_post * r * r;
                    for (int j = 0; j < E; j++) ot[j] += w * v[rs * E + j];
                }
                /* linear part */
                rope_row(ql + rt * S, S, c->rope_dims, c->rope_base, (double)(c->pos0 + t), a);
                int l1 = c->causal ? g * C : T;
                double f = c->lin;
                if (c->causal && c->lin_mean) f = g > 0 ? c->lin / g : 0;
                for (int s = 0; s < l1; s++) {
                    size_t rs = ((size_t)b * T + s) * H + h;
                    rope_row(kl + rs * S, S, c->rope_dims, c->rope_base, (double)(c->pos0 + s), bb);
                    double x = 0;
                    for (int i = 0; i < S; i++) x += a[i] * bb[i];
                    for (int j = 0; j < E; j++) ot[j] += f * x * v[rs * E + j];
                }
            }
    free(a);
    free(bb);
}

void ref_linformer(int B, int T, int H, int D, int Dv, int kp, int n, int per_head, double scale, const float *E,
                   const float *F, const float *q, const float *k, const float *v, double *o) {
    double *kk = malloc((size_t)kp * D * sizeof *kk), *vv = malloc((size_t)kp * Dv * sizeof *vv);
    double *x = malloc((size_t)kp * sizeof *x);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Eh = E + (per_head ? (size_t)h * kp * n : 0), *Fh = F + (per_head ? (size_t)h * kp * n : 0);
            for (int r = 0; r < kp; r++) {
                for (int d = 0; d < D; d++) {
                    double a = 0;
                    for (int t = 0; t < T; t++) a += (double)Eh[(size_t)r * n + t] * k[(((size_t)b * T + t) * H + h) * D + d];
                    kk[(size_t)r * D + d] = a;
                }
                for (int d = 0; d < Dv; d++) {
                    double a = 0;
                    for (int t = 0; t < T; t++) a += (double)Fh[(size_t)r * n + t] * v[(((size_t)b * T + t) * H + h) * Dv + d];
                    vv[(size_t)r * Dv + d] = a;
                }
            }
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((size_t)b * T + t) * H + h) * D;
                double m = -INFINITY, l = 0;
                for (int r = 0; r < kp; r++) {
                    double a = 0;
                    for (int d = 0; d < D; d++) a += qt[d] * kk[(size_t)r * D + d];
                    x[r] = scale * a;
                    if (x[r] > m) m = x[r];
                }
                for (int r = 0; r < kp; r++) l += (x[r] = exp(x[r] - m));
                double *ot = o + (((size_t)b * T + t) * H + h) * Dv;
                for (int d = 0; d < Dv; d++) {
                    double a = 0;
                    for (int r = 0; r < kp; r++) a += x[r] / l * vv[(size_t)r * Dv + d];
                    ot[d] = a;
                }
            }
        }
    free(kk), free(vv), free(x);
}
