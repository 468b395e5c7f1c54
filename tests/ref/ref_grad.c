/* SPDX-License-Identifier: MIT */
/* fp64 reference forward, analytic backward and finite differences for causal linear attention,
 * simple GLA, retention and GLA (see ref_grad.h). */
#include "ref_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double phi(int f, double x) {
    if (f == 1) return x > 0 ? x + 1 : exp(x);
    if (f == 2) return x > 0 ? x : 0;
    return x;
}
static double dphi(int f, double x) {
    if (f == 1) return x > 0 ? 1 : exp(x);
    if (f == 2) return x > 0 ? 1 : 0;
    return 1;
}

#define IX4(a, b, c, d, D1, D2, D3) ((((size_t)(a) * (D1) + (b)) * (D2) + (c)) * (D3) + (d))

/* raw log gate (before the min(g,0) clamp) of token t, head h, key dim d */
static double graw(const ref_attn_cfg *c, const ref_attn_in *in, int b, int t, int h, int d) {
    if (c->gate == 1) return in->g[IX4(b, t, h, 0, c->T, c->H, 1)];
    if (c->gate == 2) return in->g[IX4(b, t, h, d, c->T, c->H, c->K)];
    if (c->gate == 3) return c->fixed_decay[h];
    return 0;
}

/* Forward for one (b,h), states of every token kept when S != NULL: S[(t+1)][d][col], VV columns. */
static void fwd_bh(const ref_attn_cfg *c, const ref_attn_in *in, int b, int h, double *S, double *o, double *op,
                   double *cur) {
    const int K = c->K, V = c->V, VV = V + (c->normalize ? 1 : 0), T = c->T, H = c->H;
    for (int d = 0; d < K; d++)
        for (int j = 0; j < VV; j++) {
            double x = 0;
            if (j < V && in->h0) x = in->h0[IX4(b, h, d, j, c->H, c->K, c->V)];
            if (j == V && in->z0) x = in->z0[((size_t)b * H + h) * K + d];
            cur[d * VV + j] = x;
        }
    if (S) memcpy(S, cur, sizeof(double) * K * VV);
    for (int t = 0; t < T; t++) {
        for (int d = 0; d < K; d++) {
            double a = c->gate ? exp(fmin(graw(c, in, b, t, h, d), 0.0)) : 1.0;
            double kk = phi(c->feature, in->k[IX4(b, t, h, d, T, H, K)]);
            for (int j = 0; j < VV; j++) {
                double vv = j < V ? in->v[IX4(b, t, h, j, T, H, V)] : 1.0;
                cur[d * VV + j] = a * cur[d * VV + j] + kk * vv;
            }
        }
        if (S) memcpy(S + (size_t)(t + 1) * K * VV, cur, sizeof(double) * K * VV);
        for (int j = 0; j < VV; j++) {
            double acc = 0;
            for (int d = 0; d < K; d++) acc += phi(c->feature, in->q[IX4(b, t, h, d, T, H, K)]) * cur[d * VV + j];
            op[(size_t)t * VV + j] = c->scale * acc;
        }
        if (o)
            for (int j = 0; j < V; j++) {
                double num = op[(size_t)t * VV + j];
                o[IX4(b, t, h, j, T, H, V)] = c->normalize ? num / (op[(size_t)t * VV + V] + c->eps) : num;
            }
    }
}

void ref_attn_forward(const ref_attn_cfg *c, const ref_attn_in *in, double *o, double *hT, double *zT) {
    const int K = c->K, V = c->V, VV = V + (c->normalize ? 1 : 0);
    double *cur = malloc(sizeof(double) * K * VV), *op = malloc(sizeof(double) * c->T * VV);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++) {
            fwd_bh(c, in, b, h, NULL, o, op, cur);
            for (int d = 0; d < K; d++) {
                if (hT)
                    for (int j = 0; j < V; j++) hT[IX4(b, h, d, j, c->H, K, V)] = cur[d * VV + j];
                if (zT && c->normalize) zT[((size_t)b * c->H + h) * K + d] = cur[d * VV + V];
            }
        }
    free(cur);
    free(op);
}

double ref_attn_loss(const ref_attn_cfg *c, const ref_attn_in *in, const double *dout, const double *dhT,
                     const double *dzT) {
    size_t no = (size_t)c->B * c->T * c->H * c->V, ns = (size_t)c->B * c->H * c->K * c->V,
           nz = (size_t)c->B * c->H * c->K;
    double *o = malloc(sizeof(double) * no), *hT = malloc(sizeof(double) * ns), *zT = malloc(sizeof(double) * nz);
    ref_attn_forward(c, in, o, hT, zT);
    double L = 0;
    for (size_t i = 0; i < no; i++) L += dout[i] * o[i];
    if (dhT)
        for (size_t i = 0; i < ns; i++) L += dhT[i] * hT[i];
    if (dzT && c->normalize)
        for (size_t i = 0; i < nz; i++) L += dzT[i] * zT[i];
    free(o), free(hT), free(zT);
    return L;
}

void ref_attn_backward(const ref_attn_cfg *c, const ref_attn_in *in, const double *dout, const double *dhT,
                       const double *dzT, ref_attn_grads *out) {
    const int B = c->B, T = c->T, H = c->H, K = c->K, V = c->V, N = c->normalize ? 1 : 0, VV = V + N;
    double *S = malloc(sizeof(double) * (size_t)(T + 1) * K * VV), *cur = malloc(sizeof(double) * K * VV);
    double *op = malloc(sizeof(double) * (size_t)T * VV), *dop = malloc(sizeof(double) * VV);
    double *dS = malloc(sizeof(double) * K * VV);
    if (out->dg) memset(out->dg, 0, sizeof(double) * (size_t)B * T * H * (c->gate == 2 ? K : 1));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            fwd_bh(c, in, b, h, S, NULL, op, cur);
            for (int d = 0; d < K; d++)
                for (int j = 0; j < VV; j++) {
                    double x = 0;
                    if (j < V && dhT) x = dhT[IX4(b, h, d, j, H, K, V)];
                    if (j == V && dzT) x = dzT[((size_t)b * H + h) * K + d];
                    dS[d * VV + j] = x;
                }
            for (int t = T - 1; t >= 0; t--) {
                /* do' : gradient w.r.t. the augmented output [numerator | s q.z] */
                if (N) {
                    double den = op[(size_t)t * VV + V] + c->eps, dot = 0;
                    for (int j = 0; j < V; j++) {
                        double g = dout[IX4(b, t, h, j, T, H, V)];
                        dop[j] = g / den;
                        dot += g * op[(size_t)t * VV + j];
                    }
                    dop[V] = -dot / (den * den);
                } else
                    for (int j = 0; j < V; j++) dop[j] = dout[IX4(b, t, h, j, T, H, V)];
                const double *St = S + (size_t)(t + 1) * K * VV, *Sp = S + (size_t)t * K * VV;
                double dgs = 0;
                for (int d = 0; d < K; d++) {
                    double qx = in->q[IX4(b, t, h, d, T, H, K)], kx = in->k[IX4(b, t, h, d, T, H, K)];
                    double qh = phi(c->feature, qx);
                    double dq = 0;
                    for (int j = 0; j < VV; j++) {
                        dS[d * VV + j] += c->scale * qh * dop[j];
                        dq += St[d * VV + j] * dop[j];
                    }
                    if (out->dq) out->dq[IX4(b, t, h, d, T, H, K)] = c->scale * dq * dphi(c->feature, qx);
                    double dk = 0, da = 0;
                    for (int j = 0; j < VV; j++) {
                        double vv = j < V ? in->v[IX4(b, t, h, j, T, H, V)] : 1.0;
                        dk += dS[d * VV + j] * vv;
                        da += dS[d * VV + j] * Sp[d * VV + j];
                    }
                    if (out->dk) out->dk[IX4(b, t, h, d, T, H, K)] = dk * dphi(c->feature, kx);
                    double gr = graw(c, in, b, t, h, d), a = c->gate ? exp(fmin(gr, 0.0)) : 1.0;
                    double dgl = gr < 0 ? da * a : 0.0; /* d a / d g = a where g < 0, 0 where clamped */
                    if (c->gate == 2 && out->dg) out->dg[IX4(b, t, h, d, T, H, K)] = dgl;
                    dgs += dgl;
                }
                if (c->gate == 1 && out->dg) out->dg[IX4(b, t, h, 0, T, H, 1)] = dgs;
                if (out->dv)
                    for (int j = 0; j < V; j++) {
                        double dv = 0;
                        for (int d = 0; d < K; d++) dv += dS[d * VV + j] * phi(c->feature, in->k[IX4(b, t, h, d, T, H, K)]);
                        out->dv[IX4(b, t, h, j, T, H, V)] = dv;
                    }
                if (c->gate)
                    for (int d = 0; d < K; d++) {
                        double a = exp(fmin(graw(c, in, b, t, h, d), 0.0));
                        for (int j = 0; j < VV; j++) dS[d * VV + j] *= a;
                    }
            }
            for (int d = 0; d < K; d++) {
                if (out->dh0)
                    for (int j = 0; j < V; j++) out->dh0[IX4(b, h, d, j, H, K, V)] = dS[d * VV + j];
                if (out->dz0 && N) out->dz0[((size_t)b * H + h) * K + d] = dS[d * VV + V];
            }
        }
    free(S), free(cur), free(op), free(dop), free(dS);
}

static void fd_array(const ref_attn_cfg *c, ref_attn_in *in, double *x, size_t n, const double *dout,
                     const double *dhT, const double *dzT, double h, double *grad) {
    if (!x || !grad) return;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], step = h * (fabs(x0) > 1 ? fabs(x0) : 1);
        x[i] = x0 + step;
        double lp = ref_attn_loss(c, in, dout, dhT, dzT);
        x[i] = x0 - step;
        double lm = ref_attn_loss(c, in, dout, dhT, dzT);
        x[i] = x0;
        grad[i] = (lp - lm) / (2 * step);
    }
}

void ref_attn_fd(const ref_attn_cfg *c, ref_attn_in *in, const double *dout, const double *dhT, const double *dzT,
                 double h, ref_attn_grads *out) {
    size_t nq = (size_t)c->B * c->T * c->H * c->K, nv = (size_t)c->B * c->T * c->H * c->V;
    size_t ns = (size_t)c->B * c->H * c->K * c->V, nz = (size_t)c->B * c->H * c->K;
    size_t ng = (size_t)c->B * c->T * c->H * (c->gate == 2 ? c->K : 1);
    fd_array(c, in, in->q, nq, dout, dhT, dzT, h, out->dq);
    fd_array(c, in, in->k, nq, dout, dhT, dzT, h, out->dk);
    fd_array(c, in, in->v, nv, dout, dhT, dzT, h, out->dv);
    if (c->gate == 1 || c->gate == 2) fd_array(c, in, in->g, ng, dout, dhT, dzT, h, out->dg);
    fd_array(c, in, in->h0, ns, dout, dhT, dzT, h, out->dh0);
    if (c->normalize) fd_array(c, in, in->z0, nz, dout, dhT, dzT, h, out->dz0);
}
