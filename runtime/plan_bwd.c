/* Scheduler row of the chunked attention backward (runtime/op_attention_bwd.c,
 * kernels_cl/attn_bwd.cl). Pure function of (limits, request).
 *
 * Chunks: powers of two 1..256 (the kernels take the chunk as an argument, so every one runs on
 * every device). The scheduler picks among 16..256 by fla's rule, min(64, max(16, next_pow2(T)))
 * (the cost model); 1..8 are candidates only when forced (tests, the simple path's coverage).
 * Path: tiled (work-groups of TS = 16 with static local slices; chunk-level state passes and a
 * scan over chunks) where the chunk is at least TS and the device allows TS-wide groups and
 * 4*TS*(TS+1) floats (+TS ints) of local memory; else the simple path (one work-item per output
 * entry, token-level state recurrences), same results. The plan names the kernels in launch
 * order; the op runs exactly that list. Temporaries beyond the device's largest allocation are the
 * op's error (OCLA_ERR_TOO_LARGE, naming them), not a reason to pick another chunk. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "op_common.h"
#include "plan.h"
#include "plan_bwd.h"

static const int k_chunks[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define BWD_TS 16 /* the kernels' TS (kernels_cl/attn_bwd.cl default) */
#define ALIGN 64  /* region alignment in floats (256 bytes) */
#define MIN_PICK 16 /* the smallest chunk the scheduler picks (fla's lower bound) */

static int mul3(size_t a, size_t b, size_t c, size_t *out) {
    size_t x;
    return !ocla__mul_ok(a, b, &x) || !ocla__mul_ok(x, c, out);
}

int ocla__bwd_layout_for(const ocla_plan_request *r, int chunk, ocla__bwd_layout *L) {
    memset(L, 0, sizeof *L);
    if (chunk < 1 || r->B < 1 || r->T < 1 || r->H < 1 || r->K < 1 || r->V < 1) return 1;
    const int vec = r->gate == OCLA_GATE_VECTOR, gated = r->gate != OCLA_GATE_NONE;
    const int norm = (r->flags & OCLA_PLAN_NORMALIZE) != 0;
    const size_t BH = (size_t)r->B * (size_t)r->H, T = (size_t)r->T, K = (size_t)r->K;
    const size_t VV = (size_t)r->V + (size_t)norm, GW = vec ? K : 1;
    const size_t NT = (T + (size_t)chunk - 1) / (size_t)chunk, C = (size_t)chunk;
    size_t kvv, n;
    int bad = !ocla__mul_ok(K, VV, &kvv);
    size_t *f = L->floats;
    bad |= mul3(BH, T, GW, &n);
    f[OCLA__BWD_GRAW] = f[OCLA__BWD_GCUM] = f[OCLA__BWD_GEXP] = gated ? n : 0;
    bad |= mul3(BH, T, K, &n);
    bad |= !ocla__mul_ok(vec ? n : 0, 3, &f[OCLA__BWD_GFAC]);
    f[OCLA__BWD_DECAY] = r->gate == OCLA_GATE_FIXED ? (size_t)r->H : 0;
    bad |= mul3(BH * NT, C, C, &f[OCLA__BWD_A]);
    f[OCLA__BWD_DA] = f[OCLA__BWD_A];
    bad |= mul3(BH, NT + 1, kvv, &f[OCLA__BWD_HS]);
    bad |= !ocla__mul_ok(BH, kvv, &f[OCLA__BWD_W0]);
    bad |= mul3(BH, NT, kvv, &f[OCLA__BWD_DHS]);
    f[OCLA__BWD_DHST] = f[OCLA__BWD_DHS];
    bad |= mul3(BH, T, VV, &n);
    f[OCLA__BWD_DOP] = norm ? n : 0;
    bad |= mul3(BH, T, K, &f[OCLA__BWD_DQH]);
    f[OCLA__BWD_DKH] = f[OCLA__BWD_DQH];
    f[OCLA__BWD_DGV] = gated ? f[OCLA__BWD_DQH] : 0;
    if (bad) return 1;
    static const int slot_of[OCLA__BWD_REGIONS] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3};
    size_t end[OCLA__BWD_SLOTS] = {0};
    for (int i = 0; i < OCLA__BWD_REGIONS; i++) {
        const int s = slot_of[i];
        size_t o = (end[s] + ALIGN - 1) / ALIGN * ALIGN;
        if (o < end[s] || !ocla__add_ok(o, f[i], &end[s])) return 1;
        L->slot[i] = s;
        L->off[i] = o;
    }
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if (!ocla__mul_ok(end[s], 4, &L->slot_bytes[s])) return 1;
    return 0;
}

void ocla__bwd_tiles_from_plan(const ocla_plan *p, ocla__bwd_tiles *t) {
    t->chunk = p->tile[0], t->ts = p->tile[1], t->tiled = p->tile[2], t->wg = p->tile[3];
}

/* Append a kernel name to the plan's list. */
static void add(ocla_plan *p, const char *name) {
    size_t n = strlen(p->kernels);
    snprintf(p->kernels + n, sizeof p->kernels - n, "%s%s", n ? ", " : "", name);
    p->passes++;
}

static int bwd_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    if (W < 1) return 1;
    if (chunk < MIN_PICK && chunk != r->chunk) return 1; /* small chunks: forced only */
    ocla__bwd_layout lay;
    if (ocla__bwd_layout_for(r, chunk, &lay)) return 1; /* sizes overflow */
    const int vec = r->gate == OCLA_GATE_VECTOR, gated = r->gate != OCLA_GATE_NONE;
    const int norm = (r->flags & OCLA_PLAN_NORMALIZE) != 0;
    const int dg_out = (r->gate == OCLA_GATE_SCALAR || vec) && !(r->flags & OCLA__PLAN_BWD_NO_DG);
    /* static local memory of the tiled kernels, at most: bwd_A_tiled 4 slices + TS flags with vector
     * gates (2 otherwise), bwd_dqk_tiled 3 with vector gates (2 otherwise), the others 2 */
    const uint64_t tiled_local = 4ull * 4 * BWD_TS * (BWD_TS + 1) + (vec ? 4ull * BWD_TS : 0);
    const int tiled = chunk >= BWD_TS && W >= BWD_TS && tiled_local <= avail;
    const int wg = (int)ocla__launch_1d_local(L->kernel_wg_size, L->max_work_group_size, L->max_work_item_size0);
    const int32_t vals[4] = {chunk, BWD_TS, tiled, wg};
    ocla__plan_set_tiles(p, "CHUNK TS TILED WG", vals, 4);
    p->path = OCLA_PATH_PORTABLE;
    p->kernels[0] = 0;
    p->passes = 0;
    if (gated) add(p, "bwd_gates");
    if (tiled) {
        add(p, "bwd_chunk_kv"), add(p, "bwd_scan"), add(p, "bwd_A_tiled");
        if (norm) add(p, "bwd_output");
        add(p, "bwd_dA_tiled"), add(p, "bwd_chunk_qdo"), add(p, "bwd_scan"), add(p, "bwd_dqk_tiled");
        add(p, "bwd_dv_tiled");
    } else {
        add(p, "bwd_states"), add(p, "bwd_A");
        if (norm) add(p, "bwd_output");
        add(p, "bwd_dA"), add(p, "bwd_dstates"), add(p, "bwd_dqk"), add(p, "bwd_dv");
    }
    add(p, "bwd_dg");
    if (dg_out) add(p, "bwd_dg_out");
    p->sub_chunk = 0;
    p->bk = p->bv = tiled ? BWD_TS : 1;
    p->wg_x = tiled ? BWD_TS : wg, p->wg_y = 1;
    p->local_bytes = tiled ? tiled_local : 0;
    int want = 16;
    while (want < r->T && want < 64) want *= 2;
    p->cost = chunk == want ? 1.0 : 2.0 + (chunk > want ? chunk - want : want - chunk);
    return 0;
}

const ocla_plan_row ocla__plan_row_backward = {"attention backward", k_chunks, 9, bwd_fits, 0};
