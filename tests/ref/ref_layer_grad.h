/* SPDX-License-Identifier: MIT */
/* fp64 reference gradients of the layers of <ocla/layers.h> (tests/ref/ref_layer_grad.c): central
 * finite differences of fp64 forwards, for the loss L = sum(dy . y).
 *   - the multi-head layers: ref_mha_layer (tests/ref/ref_layers_mha.c), every intermediate in double;
 *   - the GLA layer: ref_gla_layer_fwd below, every intermediate in double (the attention core is
 *     ref_attn_forward of tests/ref/ref_grad.c, the token-by-token recurrence with an initial state).
 * The inputs are fp32 arrays (the device's own); each is perturbed in place (and restored) by about h,
 * and the difference quotient divides by the steps actually taken (x + h rounded to fp32), so the
 * rounding of the step costs no accuracy. With h = 1e-5 the truncation error is O(h^2) ~ 1e-10 and
 * the cancellation error ~ 1e-16 |L| / h ~ 1e-11 |L|: the reference is good to ~1e-8 relative for
 * these O(1) shapes, far below the 1e-4 bar. The forwards are checked against the devices' own
 * forward and against the existing references by the tests (test_layer_mha_bwd.c, test_layer_gla_bwd.c). */
#ifndef OCLA_REF_LAYER_GRAD_H
#define OCLA_REF_LAYER_GRAD_H
#include <stddef.h>

/* L(arg) for the current contents of the arrays arg points at. */
typedef double (*ref_lg_loss)(const void *arg);
/* grad[i] = dL/da[i] for the n floats of a (which loss reads through arg), central differences. */
void ref_lg_fd(ref_lg_loss loss, const void *arg, float *a, size_t n, double h, double *grad);

/* The GLA layer (ocla_gla_layer_forward's math; defaults tau, eps as given). Weights dense [in, out];
 * b_g2 and h0 ([B,H,K,V]) may be NULL. */
typedef struct ref_gla_layer_cfg {
    int B, T, d, H, K, V, R;
    double tau, eps;
} ref_gla_layer_cfg;
typedef struct ref_gla_layer_w {
    const float *wq, *wk, *wv, *wr, *wg1, *wg2, *bg2, *norm_w, *wo, *h0;
} ref_gla_layer_w;
/* y [B,T,d] in fp64. */
void ref_gla_layer_fwd(const ref_gla_layer_cfg *c, const ref_gla_layer_w *w, const float *x, double *y);
/* The same layer (h0 not read: no initial state) with its attention core the fp64 recurrence of
 * tests/ref/ref_attention.c on the fp64 intermediates rounded once to float (6e-8 relative, far below
 * the 1e-4 bar); tests/ref/ref_gla_layer.c. The forward's reference in test_layer_gla.c and the op table. */
void ref_gla_layer_rounded(const ref_gla_layer_cfg *c, const ref_gla_layer_w *w, const float *x, double *y);
#endif
