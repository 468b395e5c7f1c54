/* SPDX-License-Identifier: MIT */
/* The GLA layer in fp64 with its attention core on the fp64 intermediates rounded once to float
 * (ref_gla_layer_rounded: ref_layer_grad.h). */
#include <math.h>
#include <stdlib.h>

#include "ref_attention.h"
#include "ref_layer_grad.h"
#include "ref_layers_mha.h"

static float *to_float(const double *x, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    return f;
}

void ref_gla_layer_rounded(const ref_gla_layer_cfg *c, const ref_gla_layer_w *w, const float *x, double *y) {
    const int M = c->B * c->T, HK = c->H * c->K, HV = c->H * c->V, D = c->d, R = c->R;
    double *xd = malloc(sizeof(double) * M * D);
    for (size_t i = 0; i < (size_t)M * D; i++) xd[i] = x[i];
    double *q = malloc(sizeof(double) * M * HK), *k = malloc(sizeof(double) * M * HK),
           *v = malloc(sizeof(double) * M * HV), *r = malloc(sizeof(double) * M * HV),
           *lr = malloc(sizeof(double) * M * R), *g = malloc(sizeof(double) * M * HK),
           *o = malloc(sizeof(double) * M * HV), *u = malloc(sizeof(double) * M * HV);
    ref_linear(xd, w->wq, NULL, q, M, D, HK), ref_linear(xd, w->wk, NULL, k, M, D, HK);
    ref_linear(xd, w->wv, NULL, v, M, D, HV), ref_linear(xd, w->wr, NULL, r, M, D, HV);
    ref_linear(xd, w->wg1, NULL, lr, M, D, R);
    ref_linear(lr, w->wg2, NULL, g, M, R, HK);
    for (int m = 0; m < M; m++)
        for (int j = 0; j < HK; j++) {
            double z = g[(size_t)m * HK + j] + (w->bg2 ? w->bg2[j] : 0.0f);
            double ls = z < 0 ? z - log1p(exp(z)) : -log1p(exp(-z)); /* logsigmoid */
            g[(size_t)m * HK + j] = ls / c->tau;
        }
    float *qf = to_float(q, (size_t)M * HK), *kf = to_float(k, (size_t)M * HK), *vf = to_float(v, (size_t)M * HV),
          *gf = to_float(g, (size_t)M * HK);
    ref_attn_cfg rc = {c->B, c->T, c->H, c->K, c->V, 1, 1.0 / sqrt((double)c->K), 0, 0, 0, 2, NULL};
    ref_attn_recurrent(&rc, qf, kf, vf, gf, NULL, NULL, o, NULL, NULL);
    for (int row = 0; row < M * c->H; row++) {
        double ss = 0;
        for (int e = 0; e < c->V; e++) ss += o[(size_t)row * c->V + e] * o[(size_t)row * c->V + e];
        double inv = 1.0 / sqrt(ss / c->V + c->eps);
        for (int e = 0; e < c->V; e++) {
            double z = r[(size_t)row * c->V + e];
            u[(size_t)row * c->V + e] = o[(size_t)row * c->V + e] * inv * w->norm_w[e] * z / (1 + exp(-z));
        }
    }
    ref_linear(u, w->wo, NULL, y, M, HV, D);
    free(xd), free(q), free(k), free(v), free(r), free(lr), free(g), free(o), free(u);
    free(qf), free(kf), free(vf), free(gf);
}
