/* SPDX-License-Identifier: MIT */
/* A GAU layer test case (tests/test_gau.c, tests/test_gau_bwd.c): shape, the layer's options and the
 * FLASH parameters where the sources disagree, as the public params and as the fp64 reference's
 * config; and the sweep over a table of cases, causal and not. */
#ifndef OCLA_TESTS_GAU_CASE_H
#define OCLA_TESTS_GAU_CASE_H

#include <math.h>

#include <ocla/ocla.h>

#include "ref/ref_gau.h"

typedef struct gcase {
    int B, T, d, e, s, C, causal;
    int norm;      /* ocla_gau_norm */
    int residual;
    int rel_bias;  /* Toeplitz bias [1, 2C-1] (and, backward, its gradient) */
    int rope;      /* rope_dims */
    int64_t pos0;
    int lin_mean;
    int quad_text; /* the paper text's relu^2(qk / sqrt s) / C instead of relu^2(qk / C + b) */
    int no_opt;    /* every optional weight NULL (backward: their gradients still asked for) */
    int offsets;   /* test_gau.c: x, y and the bias vectors as views at a buffer offset */
    int in_place;  /* test_gau.c: y = x */
    float tiny_row; /* test_gau_bwd.c: 0, or row 1 of x scaled by this: under ScaleNorm's clamp */
} gcase;

static inline const char *gcase_norm_name(int n) { return n == 0 ? "layer" : n == 1 ? "scale" : "none"; }

/* The params of case c (hidden_dim = e) and the reference config to match (no bias: the caller sets
 * r->bias and the params' rel_bias). */
static inline void gcase_setup(const gcase *c, ocla_gau_layer_params *p, ref_gau_cfg *r) {
    ocla_gau_layer_params_defaults(p);
    p->hidden_dim = c->e, p->qk_dim = c->s, p->norm = (ocla_gau_norm)c->norm, p->residual = c->residual;
    p->flash.causal = c->causal, p->flash.chunk = c->C, p->flash.rope_dims = c->rope, p->flash.pos_offset = c->pos0;
    *r = (ref_gau_cfg){c->B, c->T, c->d, c->e, c->s, c->norm, 1e-5, c->residual, c->C, c->causal, 1.0 / c->C, 1.0,
                       1.0, NULL, 0, c->causal ? 1.0 / c->C : 1.0 / c->T, c->rope, 10000.0, c->pos0};
    if (c->quad_text) {
        p->flash.has_quad_scale = 1, p->flash.quad_scale = (float)(1.0 / sqrt((double)c->s));
        p->flash.quad_post = 1.0f / (float)c->C;
        r->quad_scale = 1.0 / sqrt((double)c->s), r->quad_post = 1.0 / c->C;
    }
    if (c->lin_mean) p->flash.lin_norm = OCLA_FLASH_LIN_MEAN, r->lin_mean = 1;
}

/* check(ctx, dev, case, seed) for each of the n cases of cs, causal and not (case i with seed
 * seed0 + 10 i); returns the largest error. */
static inline double gcase_sweep(ocla_context *ctx, int dev, const gcase *cs, size_t n, uint32_t seed0,
                                 double (*check)(ocla_context *ctx, int dev, const gcase *c, uint32_t seed)) {
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (int causal = 0; causal < 2; causal++) {
            gcase c = cs[i];
            c.causal = causal;
            worst = fmax(worst, check(ctx, dev, &c, seed0 + 10u * (uint32_t)i));
        }
    return worst;
}

#endif
