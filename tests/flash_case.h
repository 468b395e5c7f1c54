/* SPDX-License-Identifier: MIT */
/* A FLASH test case (tests/test_flash.c, tests/test_flash_bwd.c): shape, mode and the parameters
 * where the sources disagree, as the public params and as the fp64 reference's config. */
#ifndef OCLA_TESTS_FLASH_CASE_H
#define OCLA_TESTS_FLASH_CASE_H

#include <math.h>

#include <ocla/ocla.h>

#include "ref/ref_layers.h"

typedef struct fcase {
    int B, T, H, S, E, C, causal;
    int quad_variant; /* 0 paper code (qk/C + b), 1 paper text (relu^2(qk/sqrt S)/C), 2 lucidrains ((qk+b)/C) */
    int bias, lin_mean, rope, lin_custom;
    int64_t pos0;
} fcase;

/* The params and the reference config of case f (no bias yet: the caller sets p->rel_bias, r->bias). */
static inline void fcase_setup(const fcase *f, ocla_flash_params *p, ref_flash_cfg *r) {
    ocla_flash_params_defaults(p);
    p->causal = f->causal;
    p->chunk = f->C;
    *r = (ref_flash_cfg){f->B, f->T, f->H, f->S, f->E, f->C, f->causal, 1.0 / f->C, 1.0, 1.0, NULL, 0,
                         f->causal ? 1.0 / f->C : 1.0 / f->T, 0, 10000.0, 0};
    if (f->quad_variant == 1) {
        p->has_quad_scale = 1, p->quad_scale = (float)(1.0 / sqrt((double)f->S)), p->quad_post = 1.0f / (float)f->C;
        r->quad_scale = (double)p->quad_scale, r->quad_post = (double)p->quad_post;
    } else if (f->quad_variant == 2) {
        p->bias_scale = 1.0f / (float)f->C;
        r->bias_scale = (double)p->bias_scale;
    }
    if (f->lin_mean) p->lin_norm = OCLA_FLASH_LIN_MEAN, r->lin_mean = 1;
    if (f->lin_custom) p->has_lin_scale = 1, p->lin_scale = 0.01f, r->lin = (double)0.01f;
    p->rope_dims = r->rope_dims = f->rope;
    p->pos_offset = r->pos0 = f->pos0;
}

#endif
