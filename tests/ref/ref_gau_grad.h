/* SPDX-License-Identifier: MIT */
/* fp64 reference gradient of the GAU / FLASH layer (tests only): the chain rule through the fp64
 * forward of tests/ref/ref_gau.c (ref_gau_acts_make: every intermediate kept), step by step:
 *   y = x residual + O,  O = G W_o + b_o,  G = U * AV     dG = dy W_o^T, dW_o = G^T dy, db_o = sum dy
 *   dU = dG * AV, dAV = dG * U
 *   AV = flash(Q_quad, K_quad, Q_lin, K_lin, V)          ref_flash_backward (tests/ref/ref_flash_grad.h,
 *                                                         RoPE and its transpose included), H = 1
 *   Q_k = Z gamma[k] + beta[k]                           dZ = sum_k dQ_k gamma[k], dgamma[k] = sum Z dQ_k,
 *                                                         dbeta[k] = sum dQ_k
 *   [U | V | Z] = silu(a), a = xn W_uvz + b_uvz          da = dh silu'(a), silu'(a) = s (1 + a (1 - s)),
 *                                                         s = sigmoid(a); dW_uvz = xn^T da, db_uvz = sum da
 *   xn = norm(x)                                         LayerNorm: with xhat = (x - mean) inv, g = dxn w:
 *                                                         dx = inv (g - mean(g) - xhat mean(g xhat)),
 *                                                         dw = sum dxn xhat, db = sum dxn;
 *                                                         ScaleNorm (n = max(|x| d^-1/2, eps), xn = x w / n):
 *                                                         dx = w / n (dxn - [n > eps] x (dxn . x) / (d n^2)),
 *                                                         dw = sum (dxn . x) / n
 * (sums over the B*T tokens). The finite-difference check in tests/test_gau_bwd.c holds it against
 * ref_gau_layer64 itself. */
#ifndef OCLA_REF_GAU_GRAD_H
#define OCLA_REF_GAU_GRAD_H

#include "ref_gau.h"

typedef struct ref_gau_grads {
    double *dx;                   /* [B,T,d] */
    double *w_uvz, *b_uvz;        /* [d, 2e+s], [2e+s] */
    double *gamma, *beta;         /* [4, s] each */
    double *w_o, *b_o;            /* [e, d], [d] */
    double *norm_w, *norm_b;      /* LayerNorm [d], [d]; ScaleNorm [1], - */
    double *rel_bias;             /* [2C-1] (c->bias set) */
} ref_gau_grads;

/* Gradients of L = sum dy . y for the layer of ref_gau_layer64; every pointer of g may be NULL
 * (skipped). */
void ref_gau_backward(const ref_gau_cfg *c, const ref_gau_weights64 *w, const double *x, const double *dy,
                      const ref_gau_grads *g);
#endif
