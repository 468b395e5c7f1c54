/* SPDX-License-Identifier: MIT */
/* Scheduler row of FLASH mixed chunk attention (runtime/op_flash.c, kernels_cl/flash.cl). Pure
 * function of (limits, request); the op launches exactly what is recorded here.
 *
 * What runs: four passes, flash_scores (C x C relu^2 scores per chunk into a [B*H, T, C] buffer),
 * flash_states (each chunk's K_lin^T V, [B*H, G, S, E]), flash_prefix (exclusive prefix over the
 * chunks, or the total when non-causal) and flash_out. One work-item per output element, no local
 * memory, no compile-time tiles (one program per element type for every chunk and shape). Every pass launches
 * work-groups of WG_X x WG_Y items over its first two global dimensions (C or E, then T or S):
 * WG_X = 32 items along the value/score axis (contiguous in the outputs), halved while the shorter of
 * C and E fills half of it or the work-group limit is below it, and WG_Y = 4 rows where the limit
 * allows (1 on llvmpipe, whose limit is 32), more where WG_X x 4 items fill less than a wave (the
 * parameter table's, runtime/plan_params.c).
 *
 * The backward (request flag OCLA__PLAN_FLASH_BWD, runtime/op_flash_bwd.c, kernels_cl/flash_bwd.cl):
 * flashb_scores (A and dL/dx per chunk), flash_states + flash_prefix on (kl, v), flash_states on (ql,
 * do) and flashb_suffix (their reverse exclusive suffix), flashb_dqk twice (dq, then dk), flashb_dv,
 * and with OCLA__PLAN_FLASH_DBIAS flashb_dbias + flashb_dbias_sum; the same work-groups (WG_X also
 * halved while S fills half of it), the same rule otherwise.
 *
 * Chunk C (16..256) is a model parameter of FLASH (it changes the result); the scheduler picks it only
 * when asked (chunk 0). Cost per token: the quadratic part C (S + E) FLOPs plus the chunk states and
 * their prefix, S E per chunk written and re-read (balance: 20 on GPUs, 4 on CPUs, bytes against
 * FLOPs), and the linear part's S E. */
#include "plan.h"

/* the one option: the element type of the tensors (runtime/variant_list.c sets it from the request) */
const ocla_kfamily ocla__fam_flash = {"flash", 0, {"OCLA_DTYPE", NULL}};

int ocla__flash_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                     ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L);
    if (chunk < 1 || W < 1) return 1; /* op_flash.c plans a C given in the params with this rule */
    const int bwd = (r->flags & OCLA__PLAN_FLASH_BWD) != 0;
    /* the shortest first dimension (scores: C, others: E; the backward's dq, dk: S) */
    int64_t m = chunk < r->V ? chunk : r->V;
    if (bwd && r->K < m) m = r->K;
    uint64_t wx = 32;
    while (wx > 1 && (wx > W || (int64_t)(wx / 2) >= m)) wx /= 2;
    uint64_t wy = 4;
    while (wy > 1 && wx * wy > W) wy /= 2;
    const uint64_t wave = ocla__plan_wave(L, P); /* rows enough to fill a wave where the limit allows */
    while (wx * wy < wave && wx * wy * 2 <= W) wy *= 2;
    p->wg_x = (int)wx;
    p->wg_y = (int)wy;
    p->bk = (int)r->K; /* each item walks all S dims (scores, output) */
    p->bv = 1;         /* and owns one value column */
    const int32_t tiles[2] = {(int32_t)wx, (int32_t)wy};
    ocla__plan_set_tiles(p, (const char *const[]){"WG_X", "WG_Y", NULL}, tiles);
    if (bwd)
        ocla__plan_set_kernels(p, "flashb_scores flash_states flash_prefix flash_states flashb_suffix flashb_dqk "
                                  "flashb_dqk flashb_dv%s",
                               (r->flags & OCLA__PLAN_FLASH_DBIAS) ? " flashb_dbias flashb_dbias_sum" : "");
    else
        ocla__plan_set_kernels(p, "flash_scores flash_states flash_prefix flash_out");
    const double C = chunk, Kd = (double)r->K, Vd = (double)r->V;
    /* the backward: about twice the forward's work, and two [B*H, G, S, E] state arrays */
    p->cost = (bwd ? 2.0 : 1.0) * (C * (Kd + Vd) + 4.0 * Kd * Vd + (L->is_gpu ? 20.0 : 4.0) * 8.0 * Kd * Vd / C);
    return 0;
}
