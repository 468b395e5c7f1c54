/* SPDX-License-Identifier: MIT */
/* fp64 references of the multi-head attention layers: see ref_layers_mha.h. */
#include "ref_layers_mha.h"

#include <math.h>
#include <stdlib.h>

#include "ref_attention.h" /* ref_phi */

void ref_linear(const double *x, const float *w, const float *b, double *y, int M, int in, int out) {
    for (int m = 0; m < M; m++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) acc += x[(size_t)m * in + i] * (double)w[(size_t)i * out + o];
            y[(size_t)m * out + o] = acc;
        }
}

/* Row r of head h of a [B,T,H,D] array (dense). */
#define ROW(p, c, b, t, h, D) ((p) + (((size_t)(b) * (c)->T + (t)) * (c)->H + (h)) * (D))

static void linear_attention(const ref_mha_cfg *c, const double *q, const double *k, const double *v, double *o) {
    const int K = c->K, V = c->V;
    double *S = malloc(sizeof(double) * K * V), *z = malloc(sizeof(double) * K), *pq = malloc(sizeof(double) * K);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++) {
            for (int i = 0; i < K * V; i++) S[i] = 0;
            for (int i = 0; i < K; i++) z[i] = 0;
            if (!c->causal) /* the whole sequence's state */
                for (int s = 0; s < c->T; s++)
                    for (int a = 0; a < K; a++) {
                        double ka = ref_phi(ROW(k, c, b, s, h, K)[a], c->feature);
                        z[a] += ka;
                        for (int e = 0; e < V; e++) S[a * V + e] += ka * ROW(v, c, b, s, h, V)[e];
                    }
            for (int t = 0; t < c->T; t++) {
                if (c->causal) /* inclusive: token t sees itself */
                    for (int a = 0; a < K; a++) {
                        double ka = ref_phi(ROW(k, c, b, t, h, K)[a], c->feature);
                        z[a] += ka;
                        for (int e = 0; e < V; e++) S[a * V + e] += ka * ROW(v, c, b, t, h, V)[e];
                    }
                double den = 0;
                for (int a = 0; a < K; a++) {
                    pq[a] = c->scale * ref_phi(ROW(q, c, b, t, h, K)[a], c->feature);
                    den += pq[a] * z[a];
                }
                double *ot = ROW(o, c, b, t, h, V);
                for (int e = 0; e < V; e++) {
                    double num = 0;
                    for (int a = 0; a < K; a++) num += pq[a] * S[a * V + e];
                    ot[e] = c->normalize ? num / (den + c->eps) : num;
                }
            }
        }
    free(S), free(z), free(pq);
}

/* o_t = sum_r softmax_r(scale q_t . keys_r) vals_r over nk rows; keys [nk, K], vals [nk, V]. */
static void softmax_row(const ref_mha_cfg *c, const double *qt, const double *keys, size_t kstride,
                        const double *vals, size_t vstride, int nk, double *x, double *ot) {
    double m = -INFINITY, l = 0;
    for (int r = 0; r < nk; r++) {
        double a = 0;
        for (int i = 0; i < c->K; i++) a += qt[i] * keys[(size_t)r * kstride + i];
        x[r] = c->scale * a;
        if (x[r] > m) m = x[r];
    }
    for (int r = 0; r < nk; r++) l += (x[r] = exp(x[r] - m));
    for (int e = 0; e < c->V; e++) {
        double a = 0;
        for (int r = 0; r < nk; r++) a += x[r] / l * vals[(size_t)r * vstride + e];
        ot[e] = a;
    }
}

static void softmax_attention(const ref_mha_cfg *c, const double *q, const double *k, const double *v, double *o) {
    double *x = malloc(sizeof(double) * (size_t)c->T);
    const size_t ks = (size_t)c->H * c->K, vs = (size_t)c->H * c->V; /* row strides of [B,T,H,D] */
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int t = 0; t < c->T; t++)
                softmax_row(c, ROW(q, c, b, t, h, c->K), ROW(k, c, b, 0, h, c->K), ks, ROW(v, c, b, 0, h, c->V), vs,
                            c->causal ? t + 1 : c->T, x, ROW(o, c, b, t, h, c->V));
    free(x);
}

static void linformer(const ref_mha_cfg *c, const double *q, const double *k, const double *v, double *o) {
    const int K = c->K, V = c->V, kp = c->kp, n = c->n;
    double *kk = malloc(sizeof(double) * kp * K), *vv = malloc(sizeof(double) * kp * V), *x = malloc(sizeof(double) * kp);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++) {
            const float *Eh = c->E + (c->per_head ? (size_t)h * kp * n : 0);
            const float *Fh = c->F + (c->per_head ? (size_t)h * kp * n : 0);
            for (int r = 0; r < kp; r++) { /* first T columns of E and F */
                for (int i = 0; i < K; i++) {
                    double a = 0;
                    for (int t = 0; t < c->T; t++) a += (double)Eh[(size_t)r * n + t] * ROW(k, c, b, t, h, K)[i];
                    kk[(size_t)r * K + i] = a;
                }
                for (int e = 0; e < V; e++) {
                    double a = 0;
                    for (int t = 0; t < c->T; t++) a += (double)Fh[(size_t)r * n + t] * ROW(v, c, b, t, h, V)[e];
                    vv[(size_t)r * V + e] = a;
                }
            }
            for (int t = 0; t < c->T; t++)
                softmax_row(c, ROW(q, c, b, t, h, K), kk, (size_t)K, vv, (size_t)V, kp, x, ROW(o, c, b, t, h, V));
        }
    free(kk), free(vv), free(x);
}

void ref_mha_layer(const ref_mha_cfg *c, const ref_mha_weights *w, const float *x, double *y) {
    const int M = c->B * c->T, HK = c->H * c->K, HV = c->H * c->V;
    double *xd = malloc(sizeof(double) * (size_t)M * c->d);
    for (size_t i = 0; i < (size_t)M * c->d; i++) xd[i] = x[i];
    double *q = malloc(sizeof(double) * (size_t)M * HK), *k = malloc(sizeof(double) * (size_t)M * HK),
           *v = malloc(sizeof(double) * (size_t)M * HV), *o = malloc(sizeof(double) * (size_t)M * HV);
    ref_linear(xd, w->wq, w->bq, q, M, c->d, HK);
    ref_linear(xd, w->wk, w->bk, k, M, c->d, HK);
    ref_linear(xd, w->wv, w->bv, v, M, c->d, HV);
    if (c->kind == REF_MHA_LINEAR) linear_attention(c, q, k, v, o);
    else if (c->kind == REF_MHA_SOFTMAX) softmax_attention(c, q, k, v, o);
    else linformer(c, q, k, v, o);
    ref_linear(o, w->wo, w->bo, y, M, HV, c->d);
    free(xd), free(q), free(k), free(v), free(o);
}
