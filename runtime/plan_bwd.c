/* SPDX-License-Identifier: MIT */
/* Scheduler row of the chunked attention backward (runtime/op_attention_bwd.c,
 * kernels_cl/attn_bwd.cl). Pure function of (limits, request).
 *
 * Chunks (the table in plan.c): powers of two 1..256 (the kernels take the chunk as an argument,
 * so every one runs on every device). The scheduler picks among 16..256 by fla's rule, min(64, max(16, next_pow2(T)))
 * (the cost model); 1..8 are candidates only when forced (tests, the simple path's coverage).
 * Path: tiled (tiles of TS = 16 items with static local slices; chunk-level state passes and a
 * scan over chunks) where the chunk is at least TS and the device allows TS-wide groups and
 * 4*TS*(TS+1) floats (+TS ints) of local memory; else the simple path (one work-item per output
 * entry, token-level state recurrences), same results. The tiled kernels run TPG tiles per
 * work-group (bwd_tpg: enough to fill whole waves where the table knows the wave; TS stays 16,
 * since 32 spills, docs/TRAINING.md). The plan names the kernels in launch
 * order; the op runs exactly that list. Temporaries beyond the device's largest allocation are the
 * op's error (OCLA_ERR_TOO_LARGE, naming them), not a reason to pick another chunk. */
#include <string.h>

#include "op_common.h"
#include "plan.h"

#define BWD_TS 16 /* the kernels' TS (kernels_cl/attn_bwd.cl default) */
#define ALIGN 64  /* region alignment in floats (256 bytes) */
#define MIN_PICK 16 /* the smallest chunk the scheduler picks (fla's lower bound) */

int ocla__bwd_layout_for(const ocla_plan_request *r, int chunk, ocla__bwd_layout *L) {
    memset(L, 0, sizeof *L);
    if (chunk < 1 || r->B < 1 || r->T < 1 || r->H < 1 || r->K < 1 || r->V < 1) return 1;
    const size_t vec = r->gate == OCLA_GATE_VECTOR, gated = r->gate != OCLA_GATE_NONE;
    const size_t norm = (r->flags & OCLA_PLAN_NORMALIZE) != 0, fixed = r->gate == OCLA_GATE_FIXED;
    const size_t H = (size_t)r->H, BH = (size_t)r->B * H, T = (size_t)r->T, K = (size_t)r->K;
    const size_t VV = (size_t)r->V + norm, GW = vec ? K : 1;
    const size_t C = (size_t)chunk, NT = (T + C - 1) / C;
    /* per region: its floats as the product of four factors (a factor 0 where the variant does not
     * use it), then its slot */
    const size_t dims[OCLA__BWD_REGIONS][5] = {
        [OCLA__BWD_GRAW] = {BH, T, GW, gated, 0},
        [OCLA__BWD_GCUM] = {BH, T, GW, gated, 0},
        [OCLA__BWD_GEXP] = {BH, T, GW, gated, 0},
        [OCLA__BWD_GFAC] = {BH, T, K, 3 * vec, 0},
        [OCLA__BWD_DECAY] = {H, fixed, 1, 1, 0},
        [OCLA__BWD_A] = {BH, NT, C, C, 0},
        [OCLA__BWD_DA] = {BH, NT, C, C, 0},
        [OCLA__BWD_HS] = {BH, NT + 1, K, VV, 1},
        [OCLA__BWD_W0] = {BH, K, VV, 1, 1},
        [OCLA__BWD_DHS] = {BH, NT, K, VV, 2},
        [OCLA__BWD_DHST] = {BH, NT, K, VV, 2},
        [OCLA__BWD_DOP] = {BH, T, VV, norm, 3},
        [OCLA__BWD_DQH] = {BH, T, K, 1, 3},
        [OCLA__BWD_DKH] = {BH, T, K, 1, 3},
        [OCLA__BWD_DGV] = {BH, T, K, gated, 3},
    };
    size_t end[OCLA__BWD_SLOTS] = {0};
    for (int i = 0; i < OCLA__BWD_REGIONS; i++) {
        const int s = (int)dims[i][4];
        size_t n = 1, o = (end[s] + ALIGN - 1) / ALIGN * ALIGN;
        for (int j = 0; j < 4; j++)
            if (!ocla__mul_ok(n, dims[i][j], &n)) return 1;
        if (o < end[s] || !ocla__add_ok(o, n, &end[s])) return 1;
        L->slot[i] = s;
        L->off[i] = o;
    }
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if (!ocla__mul_ok(end[s], 4, &L->slot_bytes[s])) return 1;
    return 0;
}

void ocla__bwd_tiles_from_plan(const ocla_plan *p, ocla__bwd_tiles *t) {
    t->chunk = p->tile[0], t->ts = p->tile[1], t->tiled = p->tile[2], t->wg = p->tile[3], t->tpg = p->tile[4];
}

/* Static local memory of a work-group of the tiled kernels with tpg tiles of tile_local bytes each
 * (and the work-group's exchange of loop ranges: 2 ints per tile where tpg > 1). */
static uint64_t group_local(uint64_t tile_local, int tpg) {
    return tile_local * (uint64_t)tpg + (tpg > 1 ? 8ull * (uint64_t)tpg : 0);
}

/* Tiles per work-group of the tiled kernels: the fewest whose tpg*TS items fill whole waves
 * (wave / gcd(wave, TS): wave64 4, wave32 2, wave16 1), fewer where the work-group limit or local
 * memory does not take them, or where they would leave fewer work-groups per compute unit than the
 * table row wants and one tile per work-group keeps them (Adreno-like 32 KiB wave64: 3 tiles, two
 * work-groups, rather than 4 and one). 1 on CPUs, where the wave is unknown, and on NVIDIA: the H100's
 * backward was measured and tuned with 16-item work-groups (docs/BENCHMARKS.md), 2 tiles there are
 * not measured. */
static int bwd_tpg(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t W, uint64_t avail,
                   uint64_t tile_local) {
    uint64_t wave = ocla__plan_wave(L, P), a = wave, b = BWD_TS;
    if (!L->is_gpu || !wave || L->vendor == OCLA_VENDOR_NVIDIA) return 1;
    while (b) { /* a = gcd(wave, TS) */
        const uint64_t r = a % b;
        a = b, b = r;
    }
    const int keep = ocla__plan_wgs_per_cu(L, P, group_local(tile_local, 1)) >= P->want_wgs;
    int tpg = wave / a > 64 ? 64 : (int)(wave / a);
    while (tpg > 1 && ((uint64_t)tpg * BWD_TS > W || group_local(tile_local, tpg) > avail ||
                       (keep && ocla__plan_wgs_per_cu(L, P, group_local(tile_local, tpg)) < P->want_wgs)))
        tpg--;
    return tpg;
}

/* The NVIDIA tensor-core backward (runtime/attention_bwd_nv.c): chunk 64, no normaliser, identity
 * feature map, any gate (none, scalar, fixed, per key: GLA), dense tensors at offset 0, each of its two state
 * buffers (B*H*NT*K*V floats) within the largest allocation. Fills p; 1 where it does not apply. */
static int bwd_nv_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const int64_t nt = (r->T + 63) / 64;
    const double span = (double)r->B * r->H * (double)nt * r->K * r->V;
    const double ext = (double)r->B * (double)(nt * 64) * r->H * (double)(r->K > r->V ? r->K : r->V);
    if (!(L->paths & (1u << OCLA_PATH_NVIDIA_MMA)) || chunk != 64 || r->feature != OCLA_FEATURE_IDENTITY ||
        (r->flags &
         (OCLA_PLAN_NORMALIZE | OCLA_PLAN_NONCAUSAL | OCLA_PLAN_STRIDED | OCLA_PLAN_PORTABLE | OCLA_PLAN_VARLEN)) ||
        (L->max_alloc_size && 4.0 * span > (double)L->max_alloc_size))
        return 1;
    /* half data (OCLA_PLAN_BF16 / _F16: the kernels read and write them, runtime/op_attention_bwd_half.c):
     * staged in 16-byte groups of 8 (VEC: K and V multiples of 8); bf16 is exact in TF32, so one TF32
     * pass (the bf16 forward's rule), fp16 the context's setting as fp32 */
    const int half = (r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16)) != 0, w = half ? 8 : 4;
    const int32_t vals[4] = {64, (r->K % w == 0 && r->V % w == 0) ? 1 : 0,
                             (span < 2147483648.0 && ext < 2147483648.0) ? 1 : 0,
                             L->allow_tf32 || (r->flags & OCLA_PLAN_BF16) ? 1 : 3};
    p->path = OCLA_PATH_NVIDIA_MMA;
    ocla__plan_set_tiles(p, (const char *const[]){"CHUNK", "VEC", "IDX32", "SPLIT", NULL}, vals);
    /* (GLA: the cumulative gates,) states, state gradients, dq, dv, dk, dg */
    const int vec = r->gate == OCLA_GATE_VECTOR, dg = !(r->flags & OCLA__PLAN_BWD_NO_DG);
    ocla__plan_set_kernels(p, "%smma_chunk_states, mma_chunk_states_rev, mma_chunk_output_t, mma_chunk_output_rev, "
                              "mma_chunk_output_rev_t%s",
                           vec ? "la_gate_cumsum, " : "",
                           vec && dg ? ", mma_bwd_dgk" : r->gate == OCLA_GATE_SCALAR && dg ? ", mma_bwd_dg" : "");
    p->bk = 64, p->bv = 128, p->wg_x = 256, p->wg_y = 1;
    p->cost = 0.5; /* below every portable candidate (1 at its best): measured 3-8x faster on the H100 */
    return 0;
}

int ocla__bwd_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                   ocla_plan *p) {
    if (!bwd_nv_fits(L, r, chunk, p)) return 0;
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    if (chunk < MIN_PICK && chunk != r->chunk) return 1; /* small chunks: forced only */
    ocla__bwd_layout lay;
    if (ocla__bwd_layout_for(r, chunk, &lay)) return 1; /* sizes overflow */
    const int vec = r->gate == OCLA_GATE_VECTOR;
    const int dg_out = (r->gate == OCLA_GATE_SCALAR || vec) && !(r->flags & OCLA__PLAN_BWD_NO_DG);
    /* static local memory of one tile of the tiled kernels, at most: bwd_A_tiled 4 slices + TS flags
     * with vector gates (2 otherwise), bwd_dqk_tiled 3 with vector gates (2 otherwise), the others 2 */
    const uint64_t tile_local = 4ull * 4 * BWD_TS * (BWD_TS + 1) + (vec ? 4ull * BWD_TS : 0);
    const int tiled = chunk >= BWD_TS && W >= BWD_TS && tile_local <= avail;
    const int tpg = tiled ? bwd_tpg(L, P, W, avail, tile_local) : 1;
    /* the item kernels' work-group: 64 items, or one wave where waves are wider (a multiple of
     * the wave either way), within the limits */
    int wg = (int)ocla__launch_1d_local(L->kernel_wg_size, L->max_work_group_size, L->max_work_item_size0);
    const uint64_t wave = ocla__plan_wave(L, P);
    while ((uint64_t)wg < wave && (uint64_t)wg * 2 <= W) wg *= 2;
    const int32_t vals[5] = {chunk, BWD_TS, tiled, wg, tpg};
    ocla__plan_set_tiles(p, (const char *const[]){"CHUNK", "TS", "TILED", "WG", "TPG", NULL}, vals);
    ocla__plan_set_kernels(p, "%s%s%s, %s, bwd_dg%s", r->gate != OCLA_GATE_NONE ? "bwd_gates, " : "",
                           tiled ? "bwd_chunk_kv, bwd_scan, bwd_A_tiled" : "bwd_states, bwd_A",
                           (r->flags & OCLA_PLAN_NORMALIZE) ? ", bwd_output" : "",
                           tiled ? "bwd_dA_tiled, bwd_chunk_qdo, bwd_scan, bwd_dqk_tiled, bwd_dv_tiled"
                                 : "bwd_dA, bwd_dstates, bwd_dqk, bwd_dv",
                           dg_out ? ", bwd_dg_out" : "");
    p->bk = p->bv = tiled ? BWD_TS : 1;
    p->wg_x = tiled ? BWD_TS * tpg : wg, p->wg_y = 1;
    p->local_bytes = tiled ? group_local(tile_local, tpg) : 0;
    int want = 16;
    while (want < r->T && want < 64) want *= 2;
    p->cost = chunk == want ? 1.0 : 2.0 + (chunk > want ? chunk - want : want - chunk);
    return 0;
}
