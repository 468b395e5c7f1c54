/* SPDX-License-Identifier: MIT */
/* fp64 softmax attention gradients (ref_softmax_grad.h): per (b, h, t) the row of probabilities,
 * then the row's contributions to every gradient. O(B H T Tk (K + V)). */
#include "ref_softmax_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT(p, b, t, T, h, H, D) ((p) + ((((size_t)(b) * (size_t)(T) + (size_t)(t)) * (size_t)(H) + (size_t)(h)) * (size_t)(D)))

void ref_softmax_backward(const ref_sm_shape *s, const float *q, const float *k, const float *v, const float *d_o,
                          double *o, double *dq, double *dk, double *dv) {
    const int B = s->B, T = s->T, Tk = s->Tk, H = s->H, K = s->K, V = s->V;
    memset(dq, 0, (size_t)B * T * H * K * sizeof *dq);
    memset(dk, 0, (size_t)B * Tk * H * K * sizeof *dk);
    memset(dv, 0, (size_t)B * Tk * H * V * sizeof *dv);
    double *p = malloc((size_t)(Tk > 0 ? Tk : 1) * sizeof *p), *ot = malloc((size_t)(V > 0 ? V : 1) * sizeof *ot);
    if (!p || !ot) abort(); /* tests only */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = AT(q, b, t, T, h, H, K), *dot = AT(d_o, b, t, T, h, H, V);
                const int n = s->causal ? t + 1 : Tk;
                double m = -INFINITY, l = 0, D = 0;
                for (int j = 0; j < n; j++) {
                    const float *kj = AT(k, b, j, Tk, h, H, K);
                    double x = 0;
                    for (int i = 0; i < K; i++) x += (double)qt[i] * kj[i];
                    p[j] = s->scale * x;
                    if (p[j] > m) m = p[j];
                }
                for (int j = 0; j < n; j++) l += (p[j] = exp(p[j] - m));
                for (int i = 0; i < V; i++) ot[i] = 0;
                for (int j = 0; j < n; j++) {
                    p[j] /= l;
                    const float *vj = AT(v, b, j, Tk, h, H, V);
                    for (int i = 0; i < V; i++) ot[i] += p[j] * vj[i];
                }
                for (int i = 0; i < V; i++) D += (double)dot[i] * ot[i];
                if (o) memcpy(AT(o, b, t, T, h, H, V), ot, (size_t)V * sizeof *ot);
                double *dqt = AT(dq, b, t, T, h, H, K);
                for (int j = 0; j < n; j++) {
                    const float *kj = AT(k, b, j, Tk, h, H, K), *vj = AT(v, b, j, Tk, h, H, V);
                    double *dkj = AT(dk, b, j, Tk, h, H, K), *dvj = AT(dv, b, j, Tk, h, H, V);
                    double dp = 0;
                    for (int i = 0; i < V; i++) dp += (double)dot[i] * vj[i];
                    const double ds = p[j] * (dp - D) * s->scale;
                    for (int i = 0; i < V; i++) dvj[i] += p[j] * dot[i];
                    for (int i = 0; i < K; i++) dqt[i] += ds * kj[i], dkj[i] += ds * qt[i];
                }
            }
    free(p), free(ot);
}
