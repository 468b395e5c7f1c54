/* SPDX-License-Identifier: MIT */
/* fp64 reference gradient of FLASH mixed chunk attention (tests only): the analytic derivative of the
 * masked token-level forward of tests/ref/ref_layers.h (ref_flash_attention, the same ref_flash_cfg),
 * term by term: for every score inside a chunk x_ts = qs rope(qq_t).rope(kq_s) + bs bias, and every
 * linear term f(g) rope(ql_t).rope(kl_s) v_s with s in an earlier chunk (causal) or anywhere
 * (non-causal), the product rule and relu^2' = 2 relu, then RoPE's transpose (the rotation back).
 * No chunk states: nothing shared with the kernels' formulation. Layout [B,T,H,S] / [B,T,H,E], dense. */
#ifndef OCLA_REF_FLASH_GRAD_H
#define OCLA_REF_FLASH_GRAD_H

#include "ref_layers.h"

typedef struct ref_flash_grads {
    double *dqq, *dkq, *dql, *dkl; /* [B,T,H,S] */
    double *dv;                    /* [B,T,H,E] */
    double *dbias;                 /* [H, 2C-1], or NULL to skip (c->bias set) */
} ref_flash_grads;

/* Gradients of L = sum_t d_o_t . o_t (inputs in fp64: the finite-difference check perturbs them). */
void ref_flash_backward(const ref_flash_cfg *c, const double *qq, const double *kq, const double *ql,
                        const double *kl, const double *v, const double *d_o, const ref_flash_grads *g);
#endif
