/* SPDX-License-Identifier: MIT */
/* fp64 references for linear attention / GLA (see ref_attention.h). Straightforward loops. */
#include "ref_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ref_phi(double x, int feature) {
    if (feature == 1) return x > 0 ? x + 1.0 : exp(x);
    if (feature == 2) return x > 0 ? x : 0.0;
    return x;
}

static double log_gate(const ref_attn_cfg *c, const float *g, int b, int t, int h, int d) {
    double x = 0;
    if (c->gate == 1) x = g[((size_t)b * c->T + t) * c->H + h];
    else if (c->gate == 2) x = g[(((size_t)b * c->T + t) * c->H + h) * c->K + d];
    else if (c->gate == 3) x = c->fixed ? c->fixed[h] : log(1.0 - pow(2.0, -5.0 - h));
    return x < 0 ? x : 0.0; /* positive-gate policy: min(g, 0) */
}

void ref_attn_recurrent(const ref_attn_cfg *c, const float *q, const float *k, const float *v, const float *g,
                        const float *S0, const float *z0, double *o, double *S1, double *z1) {
    const int B = c->B, T = c->T, H = c->H, K = c->K, V = c->V;
    double *S = malloc(sizeof(double) * K * V), *z = malloc(sizeof(double) * K), *qp = malloc(sizeof(double) * K),
           *kp = malloc(sizeof(double) * K), *dec = malloc(sizeof(double) * K);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t sb = ((size_t)b * H + h);
            for (int i = 0; i < K * V; i++) S[i] = S0 ? S0[sb * K * V + i] : 0.0;
            for (int i = 0; i < K; i++) z[i] = z0 ? z0[sb * K + i] : 0.0;
            if (!c->causal) { /* whole-sequence sums first */
                for (int t = 0; t < T; t++) {
                    size_t r = ((size_t)b * T + t) * H + h;
                    for (int a = 0; a < K; a++) {
                        double ka = ref_phi(k[r * K + a], c->feature);
                        z[a] += ka;
                        for (int e = 0; e < V; e++) S[a * V + e] += ka * v[r * V + e];
                    }
                }
            }
            for (int t = 0; t < T; t++) {
                size_t r = ((size_t)b * T + t) * H + h;
                for (int a = 0; a < K; a++) {
                    qp[a] = ref_phi(q[r * K + a], c->feature);
                    kp[a] = ref_phi(k[r * K + a], c->feature);
                    dec[a] = exp(log_gate(c, g, b, t, h, a));
                }
                if (c->causal)
                    for (int a = 0; a < K; a++) {
                        z[a] = dec[a] * z[a] + kp[a];
                        for (int e = 0; e < V; e++) S[a * V + e] = dec[a] * S[a * V + e] + kp[a] * v[r * V + e];
                    }
                double den = 0;
                for (int a = 0; a < K; a++) den += qp[a] * z[a];
                den = c->scale * den + c->eps;
                for (int e = 0; e < V; e++) {
                    double acc = 0;
                    for (int a = 0; a < K; a++) acc += qp[a] * S[a * V + e];
                    acc *= c->scale;
                    o[r * V + e] = c->normalize ? acc / den : acc;
                }
            }
            if (S1) memcpy(S1 + sb * K * V, S, sizeof(double) * K * V);
            if (z1) memcpy(z1 + sb * K, z, sizeof(double) * K);
        }
    free(S), free(z), free(qp), free(kp), free(dec);
}

void ref_attn_quadratic(const ref_attn_cfg *c, const float *q, const float *k, const float *v, const float *g,
                        const float *S0, const float *z0, double *o) {
    const int B = c->B, T = c->T, H = c->H, K = c->K, V = c->V;
    double *Gc = malloc(sizeof(double) * (size_t)T * K), *num = malloc(sizeof(double) * V);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t sb = ((size_t)b * H + h);
            for (int d = 0; d < K; d++) {
                double acc = 0;
                for (int t = 0; t < T; t++) {
                    if (c->causal) acc += log_gate(c, g, b, t, h, d);
                    Gc[(size_t)t * K + d] = acc;
                }
            }
            for (int i = 0; i < T; i++) {
                size_t ri = ((size_t)b * T + i) * H + h;
                for (int e = 0; e < V; e++) num[e] = 0;
                double den = 0;
                int jmax = c->causal ? i : T - 1;
                for (int j = 0; j <= jmax; j++) {
                    size_t rj = ((size_t)b * T + j) * H + h;
                    double w = 0;
                    for (int d = 0; d < K; d++)
                        w += ref_phi(q[ri * K + d], c->feature) * ref_phi(k[rj * K + d], c->feature) *
                             exp(Gc[(size_t)i * K + d] - Gc[(size_t)j * K + d]);
                    for (int e = 0; e < V; e++) num[e] += w * v[rj * V + e];
                    den += w;
                }
                if (S0 || z0)
                    for (int d = 0; d < K; d++) {
                        double qd = ref_phi(q[ri * K + d], c->feature) * exp(Gc[(size_t)i * K + d]);
                        if (S0)
                            for (int e = 0; e < V; e++) num[e] += qd * S0[(sb * K + d) * V + e];
                        if (z0) den += qd * z0[sb * K + d];
                    }
                den = c->scale * den + c->eps;
                for (int e = 0; e < V; e++) o[ri * V + e] = c->normalize ? c->scale * num[e] / den : c->scale * num[e];
            }
        }
    free(Gc), free(num);
}
