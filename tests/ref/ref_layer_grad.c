/* SPDX-License-Identifier: MIT */
/* fp64 reference gradients of the layers: see ref_layer_grad.h. */
#include "ref_layer_grad.h"

#include <math.h>
#include <stdlib.h>

#include "ref_grad.h"
#include "ref_layers_mha.h"

void ref_lg_fd(ref_lg_loss loss, const void *arg, float *a, size_t n, double h, double *grad) {
    for (size_t i = 0; i < n; i++) {
        const float keep = a[i];
        const double step = h * fmax(1.0, fabs((double)keep));
        a[i] = (float)((double)keep + step);
        const double up_step = (double)a[i] - keep, up = loss(arg);
        a[i] = (float)((double)keep - step);
        const double down_step = keep - (double)a[i], down = loss(arg);
        a[i] = keep;
        grad[i] = (up - down) / (up_step + down_step);
    }
}

void ref_gla_layer_fwd(const ref_gla_layer_cfg *c, const ref_gla_layer_w *w, const float *x, double *y) {
    const int M = c->B * c->T, HK = c->H * c->K, HV = c->H * c->V, D = c->d, V = c->V;
    double *xd = malloc(sizeof(double) * M * D), *q = malloc(sizeof(double) * M * HK), *k = malloc(sizeof(double) * M * HK),
           *v = malloc(sizeof(double) * M * HV), *r = malloc(sizeof(double) * M * HV), *lr = malloc(sizeof(double) * M * c->R),
           *g = malloc(sizeof(double) * M * HK), *o = malloc(sizeof(double) * M * HV), *u = malloc(sizeof(double) * M * HV);
    const size_t nh = (size_t)c->B * c->H * c->K * c->V;
    double *h0 = w->h0 ? malloc(sizeof(double) * nh) : NULL;
    for (size_t i = 0; i < (size_t)M * D; i++) xd[i] = x[i];
    for (size_t i = 0; h0 && i < nh; i++) h0[i] = w->h0[i];
    ref_linear(xd, w->wq, NULL, q, M, D, HK), ref_linear(xd, w->wk, NULL, k, M, D, HK);
    ref_linear(xd, w->wv, NULL, v, M, D, HV), ref_linear(xd, w->wr, NULL, r, M, D, HV);
    ref_linear(xd, w->wg1, NULL, lr, M, D, c->R), ref_linear(lr, w->wg2, w->bg2, g, M, c->R, HK);
    for (size_t i = 0; i < (size_t)M * HK; i++) { /* logsigmoid / tau */
        const double z = g[i];
        g[i] = (z < 0 ? z - log1p(exp(z)) : -log1p(exp(-z))) / c->tau;
    }
    const ref_attn_cfg ac = {c->B, c->T, c->H, c->K, c->V, 0, 2, 0, 0.0, 1.0 / sqrt((double)c->K), NULL};
    const ref_attn_in in = {q, k, v, g, h0, NULL};
    ref_attn_forward(&ac, &in, o, NULL, NULL);
    for (int row = 0; row < M * c->H; row++) { /* per-head RMSNorm and swish gate */
        double ss = 0;
        for (int e = 0; e < V; e++) ss += o[(size_t)row * V + e] * o[(size_t)row * V + e];
        const double inv = 1.0 / sqrt(ss / V + c->eps);
        for (int e = 0; e < V; e++) {
            const double z = r[(size_t)row * V + e];
            u[(size_t)row * V + e] = o[(size_t)row * V + e] * inv * w->norm_w[e] * z / (1 + exp(-z));
        }
    }
    ref_linear(u, w->wo, NULL, y, M, HV, D);
    free(xd), free(q), free(k), free(v), free(r), free(lr), free(g), free(o), free(u), free(h0);
}
