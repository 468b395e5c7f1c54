/* SPDX-License-Identifier: MIT */
/* Scheduler row of tiled softmax attention (runtime/op_softmax.c, kernels_cl/softmax.cl). Pure
 * function of (limits, request); the op builds and runs exactly the kernel and tiles recorded here.
 *
 * chunk = query rows per work-group (the op's block): 16, 32, 64.
 *   sm_tiled (register-tiled): 8x4 work-items at 16 (keys 32 at a time), 16x8 at 32, at 64 16x8 with
 *     8 rows per item where DV <= 128, else 16x16 (keys 64 at a time); each item RM = 4 (8) query rows
 *     x KN = 4 keys of scores and RM rows x DV/TX value dims of the output. Local memory (a __local
 *     argument): q and k slabs of 32 dims or a value slab of VS rows, P, row maxima (and row sums at
 *     TX = 16, LSUM). VEC4 (float4 loads) unless the request says OCLA_PLAN_STRIDED (a buffer offset
 *     or a stride that breaks 16-byte rows) or half tensors (OCLA_PLAN_BF16 / OCLA_PLAN_F16: element
 *     loads through common.cl's OCLA_LD), or K, V are not multiples of 4. Half tensors: K and V
 *     padded to one width, the larger (as the backward does): 4 widths per dtype instead of 16. Measured on the H100 at
 *     D = 128: block 64 with 8 rows per item 30 TFLOP/s (255 registers, 4 warps), with 4 rows 26.
 *   sm_forward (one query row per work-item, key and value rows staged in static local memory of
 *     chunk x (DK + DV) floats): where the tiled kernel's work-group or local memory does not fit, at
 *     chunks 16 and 32; picked by the scheduler only within half the local memory (a forced chunk
 *     needs it to fit only).
 * Blocks above the parameter table's sm_block_max (runtime/plan_params.c: block 64 spills on AMD
 * CDNA, Intel and the mobile GPUs) are candidates only when forced.
 * Cost: the FLOPs (4x for the one-row kernel, whose inner loops are bound by local-memory loads)
 * plus the key/value bytes re-read once per query block, with the small-grid, occupancy and
 * wave-fill penalties (runtime/plan_params.c).
 *
 * The NVIDIA tensor-core forward (kernels_cl/softmax_mma_nv.cl, sm_mma_forward) at block 64: where
 * the device has the tensor-core path (L->paths: runtime/attention_nv.c's probe ran right) and the
 * request is fp32 with 16-byte rows (not OCLA_PLAN_STRIDED: cp.async copies 16 bytes), K and V
 * each 64 or 128, not OCLA_PLAN_PORTABLE (OCLA_PORTABLE=1, portable_kernels_only), and its 128
 * work-items and static local memory fit. Tiles DK DV SPLIT: 3 (3xTF32, fp32-level accuracy), 1
 * (plain TF32) where the context allows TF32. Cost: the tiled kernel's at block 64, scaled by 0.3
 * (tensor cores: chosen over every portable block). */
#include "plan.h"

const ocla_kfamily ocla__fam_softmax_tiled = {"softmax", 0, {"TX", "TY", "RM", "KN", "VS", "DK", "DV", "VEC4", "LSUM", NULL}};
const ocla_kfamily ocla__fam_softmax_onerow = {"softmax", 0, {"ONE_ROW", "BQ", "DK", "DV", NULL}};

/* softmax_mma_nv.cl's static local memory: NBUF (3) stage buffers of SMX_BK (64) rows x KP (40) floats */
#define SMX_LOCAL (3u * 64u * 40u * 4u)
#define SMX_WG 128 /* its work-group: 4 warps */

static int pad_dim(int64_t d) { return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256; }

/* sm_tiled's tiles at this block; nonzero when they do not exist (sizes that do not divide). */
static int tiled_tiles(int block, int64_t K, int64_t V, int vec4, int32_t *t, uint64_t *local) {
    const int tx = block == 16 ? 8 : 16;
    int ty = block == 16 ? 4 : block / 4, rm = 4;
    const int kn = 4, dk = pad_dim(K);
    int dv = pad_dim(V);
    if (block == 64 && dv <= 128) ty = 8, rm = 8; /* 8 x 4 scores, 8 x 8 outputs per item */
    const int nt = tx * ty;
    if (dv < 4 * tx) dv = 4 * tx; /* each item owns whole float4 columns */
    const int bq = ty * rm, bk = tx * kn, area = (bq + bk) * (OCLA_SM_KS + 4);
    int vs = bk;
    while (vs > 1 && vs * dv > area) vs /= 2;
    if ((vs * dv) % (4 * nt) || (bk * OCLA_SM_KS) % (4 * nt) || (bq * OCLA_SM_KS) % (4 * nt)) return 1;
    const int slab = area > vs * dv ? area : vs * dv, lsum = tx == 16;
    t[SM_TX] = tx, t[SM_TY] = ty, t[SM_RM] = rm, t[SM_KN] = kn, t[SM_VS] = vs, t[SM_DK] = dk, t[SM_DV] = dv;
    t[SM_VEC4] = vec4, t[SM_LSUM] = lsum;
    *local = 4ull * (uint64_t)(slab + bk * (bq + 4) + (1 + lsum) * tx * bq);
    return 0;
}

/* The forward's modelled cost: flops (per key and dim, by kernel) and the key/value bytes re-read per
 * query block of chunk rows, with the grid, occupancy and wave penalties. */
static double forward_cost(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r,
                           double flops, int chunk, uint64_t local, uint64_t items) {
    const double Kd = (double)r->K, Vd = (double)r->V, T = r->T > 0 ? (double)r->T : 1.0;
    double c = T * (Kd + Vd) * (flops + (L->is_gpu ? 20.0 : 4.0) * 4.0 / chunk); /* balance: bytes */
    c *= ocla__plan_grid_penalty(L, (double)r->B * (double)r->H * (double)((r->T + chunk - 1) / chunk));
    return c * ocla__plan_occupancy_penalty(L, P, local) * ocla__plan_wave_penalty(L, P, items);
}

/* The NVIDIA tensor-core forward at this chunk (see the top); nonzero where it does not apply. */
static int mma_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                    ocla_plan *p) {
    const int d_ok = (r->K == 64 || r->K == 128) && (r->V == 64 || r->V == 128);
    if (!(L->paths & (1u << OCLA_PATH_NVIDIA_MMA)) || chunk != 64 || !d_ok ||
        (r->flags & (OCLA_PLAN_PORTABLE | OCLA_PLAN_STRIDED | OCLA_PLAN_BF16 | OCLA_PLAN_F16)) ||
        ocla__plan_wg_limit(L) < SMX_WG || SMX_LOCAL > ocla__plan_local_avail(L))
        return 1;
    const int32_t t[3] = {(int32_t)r->K, (int32_t)r->V, L->allow_tf32 ? 1 : 3};
    p->path = OCLA_PATH_NVIDIA_MMA;
    ocla__plan_set_tiles(p, (const char *const[]){"DK", "DV", "SPLIT", NULL}, t);
    ocla__plan_set_kernels(p, "sm_mma_forward");
    p->wg_x = SMX_WG, p->wg_y = 1;
    p->bk = 64, p->bv = (int)r->V;
    p->local_bytes = SMX_LOCAL;
    p->cost = 0.3 * forward_cost(L, P, r, 2.0, chunk, SMX_LOCAL, SMX_WG);
    return 0;
}

int ocla__softmax_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                       ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    if (r->K > OCLA_SM_MAX_D || r->V > OCLA_SM_MAX_D) return 1;
    if (!mma_fits(L, P, r, chunk, p)) return 0;
    const int forced = r->chunk == chunk;
    const int half = (r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16)) != 0;
    const int vec4 = !(r->flags & OCLA_PLAN_STRIDED) && !half && r->K % 4 == 0 && r->V % 4 == 0;
    /* half: one padded width for K and V (as the backward): a quarter of the variants */
    const int64_t K = half && r->V > r->K ? r->V : r->K, V = half && r->K > r->V ? r->K : r->V;
    int32_t t[SM_NTILES];
    uint64_t local = 0;
    /* one pass either way (the op splits the keys over more launches on Mesa llvmpipe: loop limit) */
    /* the parameter table's largest block that does not spill (a forced block runs anyway) */
    const int spills = !forced && chunk > P->sm_block_max;
    const int tiled = !spills && !tiled_tiles(chunk, K, V, vec4, t, &local) &&
                      (uint64_t)t[SM_TX] * (uint64_t)t[SM_TY] <= W && local <= avail;
    if (!tiled) { /* sm_forward's tiles in t */
        t[SMR_ONE_ROW] = 1, t[SMR_BQ] = chunk, t[SMR_DK] = pad_dim(K), t[SMR_DV] = pad_dim(V);
        local = 4ull * (uint64_t)chunk * (uint64_t)(t[SMR_DK] + t[SMR_DV]);
        if (chunk > 32 || (uint64_t)chunk > W || local > avail || (!forced && 2 * local > avail)) return 1;
    }
    ocla__plan_set_tiles(p, tiled ? ocla__fam_softmax_tiled.tiles : ocla__fam_softmax_onerow.tiles, t);
    p->wg_x = tiled ? t[SM_TX] * t[SM_TY] : chunk;
    p->bk = tiled ? t[SM_TX] * t[SM_KN] : chunk;
    p->bv = tiled ? t[SM_DV] / t[SM_TX] : t[SMR_DV];
    ocla__plan_set_kernels(p, tiled ? "sm_tiled" : "sm_forward");
    p->wg_y = 1;
    p->local_bytes = local;
    p->cost = forward_cost(L, P, r, tiled ? 2.0 : 8.0, chunk, local, (uint64_t)p->wg_x);
    return 0;
}

/* ---- the backward (runtime/op_softmax_bwd.c, kernels_cl/softmax_bwd.cl) ----
 * chunk = BQ, the rows a work-group owns (query rows for smb_dq, key rows for smb_dkv): 16, 32, 64.
 * DS items per owned row: the smallest power of two that keeps an item's share of its row's two
 * operands within 32 floats ((DK + DV) / DS, the same again for smb_dkv's accumulators); a block
 * whose BQ * DS exceeds the work-group limit does not fit, except block 16, where DS is halved until
 * it does (a device with small work-groups, e.g. llvmpipe's 32: more private floats per item).
 * DK = DV = the larger of K and V padded to 32, 64, 128 or 256 (as the forward pads; one width
 * keeps the variants few: the vendor compile check builds each). BK, the rows of the other side
 * staged per step: the largest power of two in 2..64 whose local memory fits half the device's
 * (two work-groups per compute unit), else the whole. Cost: the five
 * T x T products, plus the block re-reads and the barriers of small blocks, with the forward's
 * grid, occupancy and wave penalties. */
const ocla_kfamily ocla__fam_softmax_bwd = {"softmax_bwd", 0, {"BQ", "BK", "DS", "DK", "DV", NULL}};

uint64_t ocla__softmax_bwd_local(int bq, int bk, int ds, int dk, int dv) {
    return 4ull * (uint64_t)(bk * (dk + dv) + 2 * bk + 2 * bq * bk * ds + 2 * bq * bk);
}

int ocla__softmax_bwd_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r,
                           int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    if (r->K > OCLA_SM_MAX_D || r->V > OCLA_SM_MAX_D) return 1;
    const int dk = pad_dim(r->K > r->V ? r->K : r->V), dv = dk; /* one width: few variants */
    int ds = 1;
    while ((dk + dv) / ds > 32) ds *= 2;
    while (chunk == 16 && ds > 1 && (uint64_t)chunk * (uint64_t)ds > W) ds /= 2; /* the smallest block only */
    if ((uint64_t)chunk * (uint64_t)ds > W) return 1;
    int bk = 0;
    for (int whole = 0; whole < 2 && !bk; whole++)
        for (int c = 64; c >= 2 && !bk; c /= 2)
            if (ocla__softmax_bwd_local(chunk, c, ds, dk, dv) <= (whole ? avail : avail / 2)) bk = c;
    if (!bk) return 1;
    const int32_t t[SMB_NTILES] = {chunk, bk, ds, dk, dv};
    ocla__plan_set_tiles(p, ocla__fam_softmax_bwd.tiles, t);
    ocla__plan_set_kernels(p, "smb_stats, smb_dq, smb_dkv");
    p->wg_x = chunk * ds, p->wg_y = 1;
    p->bk = bk, p->bv = dv;
    p->local_bytes = ocla__softmax_bwd_local(chunk, bk, ds, dk, dv);
    const double Kd = (double)r->K, Vd = (double)r->V, T = r->T > 0 ? (double)r->T : 1.0;
    p->cost = T * (Kd + Vd) * (5.0 + (L->is_gpu ? 20.0 : 4.0) * (4.0 / chunk + 2.0 / bk));
    p->cost *= ocla__plan_grid_penalty(L, (double)r->B * (double)r->H * (double)((r->T + chunk - 1) / chunk));
    p->cost *= ocla__plan_occupancy_penalty(L, P, p->local_bytes) * ocla__plan_wave_penalty(L, P, (uint64_t)p->wg_x);
    return 0;
}
