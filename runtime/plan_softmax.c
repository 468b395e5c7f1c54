/* Scheduler row of tiled softmax attention (runtime/op_softmax.c, kernels_cl/softmax.cl).
 * Pure function of (limits, request). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "plan.h"

static const int k_blocks[] = {16, 32, 64};

/* ---- tiled softmax (runtime/op_softmax.c, kernels_cl/softmax.cl): chunk = query rows per work-group.
 * 16, 32, 64: the register-tiled kernel sm_tiled with 8x4, 16x8, 16x8 work-items (16x16 at DV > 128),
 * each 4 query rows (8 at chunk 64, DV <= 128) x 4 keys of scores, key blocks of 32, 64, 64 rows;
 * local memory: q and k slabs of 32 dims or a value slab, P, row maxima (and row sums at TX = 16),
 * the same formula as cfg_for() in op_softmax.c. Where its work-group or local memory does not fit:
 * the one-row-per-item kernel sm_forward, chunk 16 or 32 work-items and chunk x (DK + DV) floats of
 * local memory (picked only within half the local memory). Cost: the FLOPs (4x for the one-row kernel,
 * whose inner loops are bound by local-memory loads) plus the key/value bytes re-read once per query
 * block, with the same small-grid penalty as la_cost. */
static int softmax_pad(int64_t d) { return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256; }

static int softmax_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    if (chunk != 16 && chunk != 32 && chunk != 64) return 1;
    const int tx = chunk == 16 ? 8 : 16, bk = 4 * tx;
    const int dk = softmax_pad(r->K), dvp = softmax_pad(r->V), dv = dvp < 4 * tx ? 4 * tx : dvp;
    const int nt = tx * (chunk == 16 ? 4 : chunk == 64 && dv <= 128 ? 8 : chunk / 4);
    const int area = (chunk + bk) * 36;
    int vs = bk;
    while (vs > 1 && vs * dv > area) vs /= 2;
    const uint64_t tiled =
        4ull * (uint64_t)((area > vs * dv ? area : vs * dv) + bk * (chunk + 4) + (tx == 16 ? 2 : 1) * tx * chunk);
    const uint64_t onerow = 4ull * (uint64_t)chunk * (uint64_t)(dk + dvp);
    int is_tiled = 1;
    if ((uint64_t)nt > W || tiled > avail) {
        is_tiled = 0;
        if (chunk > 32 || (uint64_t)chunk > W || 2 * onerow > avail) return 1;
    }
    p->wg_x = is_tiled ? nt : chunk;
    p->wg_y = 1;
    p->local_bytes = is_tiled ? tiled : onerow;
    p->bk = is_tiled ? bk : chunk;
    p->bv = is_tiled ? dv / tx : dvp;
    p->sub_chunk = 0;
    p->passes = 1;
    const double Kd = (double)r->K, Vd = (double)r->V, T = r->T > 0 ? (double)r->T : 1.0;
    const double balance = L->is_gpu ? 20.0 : 4.0;
    p->cost = T * (Kd + Vd) * ((is_tiled ? 2.0 : 8.0) + balance * 4.0 / chunk);
    const double units = L->compute_units ? (double)L->compute_units : 1.0, want = units * (L->is_gpu ? 4.0 : 1.0);
    const double wgs = (double)r->B * (double)r->H * (double)((r->T + chunk - 1) / chunk);
    if (wgs < want) p->cost *= 1.0 + 0.5 * (want - wgs) / want;
    return 0;
}


const ocla_plan_row ocla__plan_row_softmax = {"softmax", k_blocks, 3, softmax_fits};
