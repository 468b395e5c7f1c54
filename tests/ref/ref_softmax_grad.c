/* SPDX-License-Identifier: MIT */
/* fp64 softmax attention gradients (ref_softmax_grad.h): per (b, h, t) the row of probabilities,
 * then the row's contributions to every gradient. O(B H T Tk (K + V)). */
#include "ref_softmax_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT(p, b, t, T, h, H, D) ((p) + ((((size_t)(b) * (size_t)(T) + (size_t)(t)) * (size_t)(H) + (size_t)(h)) * (size_t)(D)))

/* The core on fp64 inputs; D from og where given. */
static void backward(const ref_sm_shape *s, const double *q, const double *k, const double *v, const double *d_o,
                     const float *og, double *o, double *dq, double *dk, double *dv) {
    const int B = s->B, T = s->T, Tk = s->Tk, H = s->H, K = s->K, V = s->V;
    memset(dq, 0, (size_t)B * T * H * K * sizeof *dq);
    memset(dk, 0, (size_t)B * Tk * H * K * sizeof *dk);
    memset(dv, 0, (size_t)B * Tk * H * V * sizeof *dv);
    double *p = malloc((size_t)(Tk > 0 ? Tk : 1) * sizeof *p), *ot = malloc((size_t)(V > 0 ? V : 1) * sizeof *ot);
    if (!p || !ot) abort(); /* tests only */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = AT(q, b, t, T, h, H, K), *dot = AT(d_o, b, t, T, h, H, V);
                const int n = s->causal ? t + 1 : Tk;
                double m = -INFINITY, l = 0, D = 0;
                for (int j = 0; j < n; j++) {
                    const double *kj = AT(k, b, j, Tk, h, H, K);
                    double x = 0;
                    for (int i = 0; i < K; i++) x += qt[i] * kj[i];
                    p[j] = s->scale * x;
                    if (p[j] > m) m = p[j];
                }
                for (int j = 0; j < n; j++) l += (p[j] = exp(p[j] - m));
                for (int i = 0; i < V; i++) ot[i] = 0;
                for (int j = 0; j < n; j++) {
                    p[j] /= l;
                    const double *vj = AT(v, b, j, Tk, h, H, V);
                    for (int i = 0; i < V; i++) ot[i] += p[j] * vj[i];
                }
                const float *ogt = og ? og + (AT(d_o, b, t, T, h, H, V) - d_o) : NULL;
                for (int i = 0; i < V; i++) D += dot[i] * (ogt ? (double)ogt[i] : ot[i]);
                if (o) memcpy(AT(o, b, t, T, h, H, V), ot, (size_t)V * sizeof *ot);
                double *dqt = AT(dq, b, t, T, h, H, K);
                for (int j = 0; j < n; j++) {
                    const double *kj = AT(k, b, j, Tk, h, H, K), *vj = AT(v, b, j, Tk, h, H, V);
                    double *dkj = AT(dk, b, j, Tk, h, H, K), *dvj = AT(dv, b, j, Tk, h, H, V);
                    double dp = 0;
                    for (int i = 0; i < V; i++) dp += dot[i] * vj[i];
                    const double ds = p[j] * (dp - D) * s->scale;
                    for (int i = 0; i < V; i++) dvj[i] += p[j] * dot[i];
                    for (int i = 0; i < K; i++) dqt[i] += ds * kj[i], dkj[i] += ds * qt[i];
                }
            }
    free(p), free(ot);
}

static double *to_d(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) abort(); /* tests only */
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static void backward_f(const ref_sm_shape *s, const float *q, const float *k, const float *v, const float *d_o,
                       const float *og, double *o, double *dq, double *dk, double *dv) {
    const size_t bh = (size_t)s->B * (size_t)s->H;
    double *x[4] = {to_d(q, bh * s->T * s->K), to_d(k, bh * s->Tk * s->K), to_d(v, bh * s->Tk * s->V),
                    to_d(d_o, bh * s->T * s->V)};
    backward(s, x[0], x[1], x[2], x[3], og, o, dq, dk, dv);
    for (int i = 0; i < 4; i++) free(x[i]);
}

void ref_softmax_backward(const ref_sm_shape *s, const float *q, const float *k, const float *v, const float *d_o,
                          double *o, double *dq, double *dk, double *dv) {
    backward_f(s, q, k, v, d_o, NULL, o, dq, dk, dv);
}

void ref_softmax_backward_given_o(const ref_sm_shape *s, const float *q, const float *k, const float *v,
                                  const float *d_o, const float *o_given, double *dq, double *dk, double *dv) {
    backward_f(s, q, k, v, d_o, o_given, NULL, dq, dk, dv);
}

/* P_h[:, :T] x per (b, h) (dir 0) or P_h[:, :T]^T y (dir 1): x [B,T,H,D], y [B,kp,H,D]. */
static void seq_project(const ref_lf_shape *s, const float *P, int h, int D, double *x, double *y, int dir) {
    const float *Ph = P + (s->per_head ? (size_t)h * s->kp * s->n : 0);
    for (int b = 0; b < s->B; b++)
        for (int r = 0; r < s->kp; r++)
            for (int t = 0; t < s->T; t++) {
                const double w = Ph[(size_t)r * s->n + t];
                double *yr = AT(y, b, r, s->kp, h, s->H, D), *xt = AT(x, b, t, s->T, h, s->H, D);
                for (int i = 0; i < D; i++) {
                    if (dir == 0) yr[i] += w * xt[i];
                    else xt[i] += w * yr[i];
                }
            }
}

/* dP_h[r, t] += sum_b dy[b, r, h, :] . x[b, t, h, :] */
static void seq_grad(const ref_lf_shape *s, double *dP, int h, int D, const double *dy, const double *x) {
    double *Ph = dP + (s->per_head ? (size_t)h * s->kp * s->n : 0);
    for (int b = 0; b < s->B; b++)
        for (int r = 0; r < s->kp; r++)
            for (int t = 0; t < s->T; t++) {
                const double *yr = AT(dy, b, r, s->kp, h, s->H, D), *xt = AT(x, b, t, s->T, h, s->H, D);
                double acc = 0;
                for (int i = 0; i < D; i++) acc += yr[i] * xt[i];
                Ph[(size_t)r * s->n + t] += acc;
            }
}

static void lf_backward(const ref_lf_shape *s, const float *E, const float *F, const float *q, const float *k,
                        const float *v, const float *d_o, const float *og, double *dq, double *dk, double *dv,
                        double *dE, double *dF) {
    const size_t bh = (size_t)s->B * (size_t)s->H, ne = (size_t)(s->per_head ? s->H : 1) * s->kp * s->n;
    const size_t nk = bh * s->kp * s->D, nv = bh * s->kp * s->Dv;
    double *kd = to_d(k, bh * s->T * s->D), *vd = to_d(v, bh * s->T * s->Dv), *qd = to_d(q, bh * s->T * s->D);
    double *dod = to_d(d_o, bh * s->T * s->Dv);
    double *kp = calloc(nk, sizeof *kp), *vp = calloc(nv, sizeof *vp), *dkp = malloc(nk * 8), *dvp = malloc(nv * 8);
    if (!kp || !vp || !dkp || !dvp) abort();
    for (int h = 0; h < s->H; h++) seq_project(s, E, h, s->D, kd, kp, 0), seq_project(s, F, h, s->Dv, vd, vp, 0);
    const ref_sm_shape ss = {s->B, s->T, s->kp, s->H, s->D, s->Dv, 0, s->scale};
    backward(&ss, qd, kp, vp, dod, og, NULL, dq, dkp, dvp);
    memset(dk, 0, bh * s->T * s->D * sizeof *dk), memset(dv, 0, bh * s->T * s->Dv * sizeof *dv);
    memset(dE, 0, ne * sizeof *dE), memset(dF, 0, ne * sizeof *dF);
    for (int h = 0; h < s->H; h++) {
        seq_project(s, E, h, s->D, dk, dkp, 1), seq_project(s, F, h, s->Dv, dv, dvp, 1);
        seq_grad(s, dE, h, s->D, dkp, kd), seq_grad(s, dF, h, s->Dv, dvp, vd);
    }
    free(kd), free(vd), free(qd), free(dod), free(kp), free(vp), free(dkp), free(dvp);
}

void ref_linformer_backward(const ref_lf_shape *s, const float *E, const float *F, const float *q, const float *k,
                            const float *v, const float *d_o, double *dq, double *dk, double *dv, double *dE,
                            double *dF) {
    lf_backward(s, E, F, q, k, v, d_o, NULL, dq, dk, dv, dE, dF);
}

void ref_linformer_backward_given_o(const ref_lf_shape *s, const float *E, const float *F, const float *q,
                                    const float *k, const float *v, const float *d_o, const float *o_given, double *dq,
                                    double *dk, double *dv, double *dE, double *dF) {
    lf_backward(s, E, F, q, k, v, d_o, o_given, dq, dk, dv, dE, dF);
}
