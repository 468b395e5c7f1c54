/* Scheduler row of the chunked attention backward (runtime/op_attention_bwd.c,
 * kernels_cl/attn_bwd.cl). Pure function of (limits, request).
 * Rule (fla's): chunk min(64, max(16, next_pow2(T))) unless forced; the cost model prefers it. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "plan.h"

static const int k_chunks[] = {16, 32, 64};

static int bwd_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L);
    if (W < 16) return 1;
    int want = 16;
    while (want < r->T && want < 64) want *= 2;
    const int32_t vals[1] = {chunk};
    ocla__plan_set_tiles(p, "CHUNK", vals, 1);
    snprintf(p->kernels, sizeof p->kernels, "bwd_* (attn_bwd.cl)");
    p->path = OCLA_PATH_PORTABLE;
    p->wg_x = 16, p->wg_y = 1;
    p->passes = 8;
    p->cost = chunk == want ? 1.0 : 2.0 + (chunk > want ? chunk - want : want - chunk);
    return 0;
}

const ocla_plan_row ocla__plan_row_backward = {"attention backward", k_chunks, 3, bwd_fits};
