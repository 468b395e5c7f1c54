/* SPDX-License-Identifier: MIT */
/* Scheduler rows of the linear attention family: chunked linear attention, simple GLA / retention
 * and GLA (portable kernels_cl/linear_attn.cl, or the NVIDIA tensor-core kernels
 * kernels_cl/attn_mma_nv.cl where the device has them), and the recurrent (decode) form
 * (kernels_cl/linear_attn_rec.cl). Pure functions of (limits, request). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

/* Work-items and bytes of __local arguments of both kernels, from the tiles. */
static void la_derive(ocla__la_tiles *t) {
    if (t->blk) { /* linear_attn_blk.cl: the scores sA [C][C + 4], each output work-item's TM x TN block (sX) */
        /* the outputs' (C / TM) x (BV / TN) blocks over at most 32 work-items (llvmpipe's limit), whole lane vectors */
        const int blocks = (t->chunk / t->tm) * (t->bv / t->tn);
        t->state_threads = t->lanes, t->out_threads = blocks < 32 ? (blocks + t->lanes - 1) / t->lanes * t->lanes : 32;
        t->out_local = 4 * ((uint64_t)t->chunk * (uint64_t)(t->chunk + 4) + (uint64_t)t->out_threads * t->tm * t->tn);
        t->state_local = 4 * (uint64_t)t->sjb * (uint64_t)(t->sbk + t->sbv);
        return;
    }
    if (t->cpu) { /* linear_attn_cpu.cl's staging (its header); BKA = SBK = K rounded up to 4 */
        const uint64_t C = (uint64_t)t->chunk, KP = (uint64_t)t->bka, gv = (uint64_t)t->gv, CT = (C + 15) / 16 * 16;
        t->out_local = 4 * (C * (C + 4) + (2 + gv) * C * KP + CT * KP + C * t->bv + KP * t->bv + gv * KP);
        t->state_local = 4 * (uint64_t)t->sjb * (uint64_t)(t->sbk + t->sbv);
        t->out_threads = t->state_threads = t->lanes > 1 ? t->lanes : 1;
        return;
    }
    const uint64_t lda = (uint64_t)t->chunk + 4; /* transposed slabs and A: pitch C + 4 */
    const uint64_t nslab = 2 + 3 * (uint64_t)t->gv; /* q, k (+ G, rescaled q, rescaled k) */
    uint64_t slab = nslab * lda * t->bka, inter = lda * t->bka + (uint64_t)t->bka * t->bv;
    if (inter > slab) slab = inter;
    t->out_local = 4 * ((uint64_t)t->chunk * lda + slab);
    t->state_local = 4 * (uint64_t)t->sjb * (uint64_t)(t->sbk + t->sbv);
    t->out_threads = (t->chunk / t->tm) * (t->bv / t->tn);
    t->state_threads = (t->sbk / t->stm) * (t->sbv / t->stn);
}

/* The portable kernels' tiles for one chunk size; nonzero when none fit. */
static int la_tiles_for(const ocla_plan_limits *L, const ocla__plan_params *P, ocla_op_kind op, int64_t V, int chunk,
                        ocla__la_tiles *t) {
    memset(t, 0, sizeof *t);
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
    /* Aim for up to 256 work-items (GPUs: 8 warps); fewer where the kernel limit says so. */
    const uint64_t target = W < 256 ? W : 256;
    t->chunk = chunk;
    t->gv = op == OCLA_OP_GLA_CHUNK;
    t->sub = t->gv ? 4 : 0; /* GLA sub-chunk = one 4x4 score block (see docs/KERNELS.md) */
    /* output kernel: value tile and per-item block */
    /* one value tile for V up to 128 where the work-group allows: the C x C score block is then
     * computed once per chunk instead of once per 64-wide value tile */
    t->bv = W < 128 ? 32 : (V >= 128 && W >= 256) ? 128 : 64;
    if (P->la_bv_max && t->bv > P->la_bv_max) t->bv = P->la_bv_max; /* the wider one spills there */
    t->tm = 4, t->tn = 4;
    while ((uint64_t)(chunk / t->tm) * (uint64_t)(t->bv / t->tn) > target) {
        if (t->tm <= t->tn && t->tm < 32 && t->tm < chunk) t->tm *= 2;
        else if (t->tn < 8) t->tn *= 2;
        else if (t->tm < 32 && t->tm < chunk) t->tm *= 2;
        else if (t->bv > 16) t->bv /= 2;
        else return 1;
    }
    /* state kernel: SBK x SBV tile, STM x STN per item */
    t->sbk = t->sbv = W < 256 ? 32 : 64;
    t->stm = 4, t->stn = 4;
    while ((uint64_t)(t->sbk / t->stm) * (uint64_t)(t->sbv / t->stn) > target) {
        if (t->stm <= t->stn && t->stm < 16) t->stm *= 2;
        else if (t->stn < 16) t->stn *= 2;
        else return 1;
    }
    t->sjb = 16;
    /* key slab: the widest of 32/16/8 that fits next to the C x C score block and keeps the
     * parameter table's work-groups per compute unit (AMD at C = 64: 42.5 KB with 32 leaves one
     * work-group per 64 KiB CU, 16 two); else the widest that fits */
    const int want = P->want_wgs;
    for (int keep = 1; keep >= 0; keep--)
        for (t->bka = 32; t->bka >= 8; t->bka /= 2) {
            la_derive(t);
            const int wgs = ocla__plan_wgs_per_cu(L, P, t->out_local > t->state_local ? t->out_local : t->state_local);
            if (t->out_local <= avail && (!keep || !wgs || wgs >= want)) return t->state_local > avail;
        }
    return 1;
}

/* ---- CPU devices (the parameter table's cpu_kernels rows: PoCL, llvmpipe): kernels_cl/linear_attn_cpu.cl ----
 * PoCL runs a work-group's items as loops on one core and splits them at barriers, and vectorises
 * within a work-item: there these kernels run one work-item per work-group, no barrier. llvmpipe
 * vectorises across the work-items (one SIMD lane each): there a work-group is LANES work-items (the
 * row's cpu_kernels; its device name's "128 bits" / "512 bits" give 4 / 16), each owning one column
 * of every register block (floats, not float8), with two barriers per chunk.
 * The state walk: one work-group per (row, head, value slice of SBV columns: the widest that leaves
 * two walks per compute unit, so the gated keys are staged once for as many columns as the cores
 * allow), the outputs one per (batch, head, chunk, value slice of BV columns: all of V (+ the
 * normaliser column) where the staging fits the device's local memory, so the C x C scores are
 * computed once per chunk). The slices are run-time values in the kernels (lc_slice: from the slice
 * count); SBV and BV here size the local memory. TM x TN = 4 x 2 float8 accumulators (with lanes:
 * 4 x 16 / LANES floats per lane). GLA's reference-point block SUB = 8 rows (the fewest exps at
 * C = 32-64 between the off-diagonal key rescaling and the element-wise diagonal block; every
 * exponent <= 0). Nonzero when nothing fits. */

/* llvmpipe stops a work-item's loops after ~65535 iterations in total (common.cl), silently. The
 * loop iterations one work-item of the lanes kernels runs, as the kernels' loops count them: the
 * state walk over the 2048 tokens of one launch (runtime/op_attention.c splits Mesa's walks so), the
 * outputs of one chunk. Loops with constant trip counts are unrolled and count nothing. */
#define LANES_LOOP_BUDGET 40000.0 /* of 65535: room for what the estimate misses */
static double lanes_state_iters(const ocla_plan_request *r, const ocla__la_tiles *t) {
    const double C = t->chunk, K = (double)r->K, KP = t->bka, rows = C / t->lanes, cb = 8.0 * t->tn;
    const double chunks = 2048.0 / C > 1.0 ? 2048.0 / C : 1.0, edge = 2.0 * K * t->sbv / t->lanes;
    const double per_chunk = (KP / t->tm) * (t->sbv / cb) * (C + 1.0) + rows * (KP / 4.0 + (1.0 + t->gv) * K / 4.0 + 2.0) +
                             rows * t->sbv / 4.0;
    return chunks * per_chunk + edge;
}
static double lanes_output_iters(const ocla_plan_request *r, const ocla__la_tiles *t) {
    const double C = t->chunk, K = (double)r->K, KP = t->bka, rows = C / t->lanes, cb = 8.0 * t->tn, ct = (C + 15) / 16 * 16;
    double n = rows * 3.0 * KP / 4.0 + ct / t->lanes * KP + rows * (t->bv / 4.0 + K) + KP / t->lanes * t->bv / 4.0;
    if (t->gv) /* q rescaled, keys before each block one per lane, the diagonal block a row per lane */
        n += rows * K + (C / t->sub) * (C / 2.0 / t->lanes + 1.0) * K + rows * (t->sub / 2.0 + 1.0) * K;
    else
        n += (C / t->tm) * (C / cb / 2.0 + 1.0) * KP;
    return n + (C / t->tm) * (t->bv / cb) * (K + C / 2.0 + t->tm);
}

/* SIMD lanes of a row that vectorises across work-items: the row's, or its device name's vector bits / 32. */
static int cpu_lanes(const ocla_plan_limits *L, const ocla__plan_params *P) {
    if (P->cpu_kernels <= 1) return 1;
    const char *a = L->arch, *end = memchr(a, 0, sizeof L->arch); /* the caller's arch need not end in a 0 */
    const size_t n = end ? (size_t)(end - a) : sizeof L->arch;
    for (size_t i = 0; i + 8 <= n; i++)
        if (!strncmp(a + i, "128 bits", 8) || !strncmp(a + i, "512 bits", 8)) return a[i] == '1' ? 4 : 16;
    return P->cpu_kernels;
}

static int la_tiles_cpu(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                        ocla__la_tiles *t) {
    memset(t, 0, sizeof *t);
    const uint64_t avail = ocla__plan_local_avail(L);
    t->cpu = 1;
    t->lanes = cpu_lanes(L, P);
    t->chunk = chunk;
    t->gv = r->op == OCLA_OP_GLA_CHUNK;
    t->sub = t->gv ? 8 : 0;
    /* TM x TN = 4 x 2 float8 accumulators (the kernels' VW = 8): 8 AVX2 registers, 16 columns. With
     * lanes: 8 rows x one column per lane (8 columns; 16 lanes: 16), 8 registers as well, and half
     * the state walk's loop iterations of 4 rows (llvmpipe's loop limit) */
    t->tm = t->lanes > 1 ? 8 : 4, t->tn = t->lanes > 8 ? 2 : t->lanes > 1 ? 1 : 2;
    if ((t->gv && chunk % 8) || chunk % t->tm) return 1;
    if (t->lanes > 1 && (uint64_t)t->lanes > ocla__plan_wg_limit(L)) return 1;
    t->bka = t->sbk = (int)((r->K + 3) / 4 * 4);
    t->stm = t->tm, t->stn = t->tn, t->sjb = chunk;
    const int64_t Ve = r->V + ((r->flags & OCLA_PLAN_NORMALIZE) != 0);
    /* value slices as the kernels form them from the slice count n: ceil(Ve / n) rounded up to 8 TN.
     * The state walk: the widest slice that still gives every compute unit two walks (with lanes:
     * one register block, the loop budget). */
    const double cu = L->compute_units ? (double)L->compute_units : 1.0;
    const int64_t cb = 8 * t->tn; /* the kernels' block columns, LC_CB */
    for (int64_t n = 1;; n *= 2) {
        t->sbv = (int)(((Ve + n - 1) / n + cb - 1) / cb * cb);
        if (t->sbv == cb || (t->lanes == 1 && (double)r->B * (double)r->H * (double)n >= 2.0 * cu)) break;
    }
    if (t->lanes > 1 && lanes_state_iters(r, t) > LANES_LOOP_BUDGET) return 1;
    /* the outputs: one slice where the staging fits (and with lanes the loop budget), else more */
    for (int64_t n = 1;; n *= 2) {
        t->bv = (int)(((Ve + n - 1) / n + cb - 1) / cb * cb);
        la_derive(t);
        if (t->out_local <= avail && t->state_local <= avail && (t->lanes == 1 || lanes_output_iters(r, t) <= LANES_LOOP_BUDGET))
            return 0;
        if (t->bv == cb) break;
    }
    return 1;
}

/* linear_attn_blk.cl (the row's cpu_block; fp32; GLA's per-key gates compile in): 8 x 8 floats per work-item
 * (TM x TN of the outputs, STM x STN of a state; 8 x 4 states measured 1.2-1.7x slower on llvmpipe),
 * 8 work-items per state work-group (one lane vector), the outputs' work-group a whole chunk (BV
 * covers Ve: the (C / 8) x (BV / 8) blocks over up to 32 work-items, llvmpipe's kernel limit).
 * Offsets are 32-bit: the dense extent of every tensor the kernels index and the chunk states of
 * one row under 2^31 floats (a strided view of a larger buffer is the caller's to keep within it).
 * llvmpipe's loop limit: the walk runs ~C + 1 iterations per chunk (2048 tokens a launch), an
 * output work-item about K (C / 8)^2 / W + (K + C) (C / 8) (BV / 8) / W (W its work-group's
 * work-items; GLA 37 K more), checked against LANES_LOOP_BUDGET. Nonzero when it does not fit. */
static int la_tiles_blk(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla__la_tiles *t) {
    memset(t, 0, sizeof *t);
    const int64_t Ve = r->V + ((r->flags & OCLA_PLAN_NORMALIZE) != 0);
    t->cpu = t->blk = 1, t->lanes = 8, t->chunk = chunk, t->tm = t->tn = 8;
    t->gv = r->op == OCLA_OP_GLA_CHUNK; /* per-key gates: USE_GK (the variant's gate) */
    if (chunk % t->tm || chunk > 64) return 1;
    t->stm = t->stn = 8;
    t->bka = t->sbk = t->stm, t->sbv = t->stn, t->sjb = 1;
    t->bv = (int)((Ve + t->tn - 1) / t->tn * t->tn);
    const double big = 2147483647.0, kv = (double)r->K * (double)Ve, tok = (double)r->B * (double)r->T * (double)r->H;
    if (tok * (double)(r->K > Ve ? r->K : Ve) >= big || kv * ((double)r->T / chunk + 2.0 + r->B) >= big) return 1;
    la_derive(t);
    /* an output work-item's loop iterations: its score blocks (K each), GLA's element-wise diagonal
     * block where the gates are strong (at most one per work-item: 36 K), its output blocks (K + C) */
    const double nb = chunk / 8.0, w = t->out_threads, K = (double)r->K;
    const double out_iters = ceil(nb * nb / w) * K + (t->gv ? 37.0 * K : 0.0) + ceil(nb * (t->bv / 8.0) / w) * (K + chunk);
    return (uint64_t)t->out_threads > ocla__plan_wg_limit(L) || t->out_local > ocla__plan_local_avail(L) ||
           t->state_local > ocla__plan_local_avail(L) || out_iters > LANES_LOOP_BUDGET;
}

int ocla__la_blk_images(const ocla_plan_request *r) {
    return r->K % 4 == 0 && r->V % 4 == 0 && r->K > 0 && r->V > 0 &&
           !(r->flags & (OCLA_PLAN_NORMALIZE | OCLA_PLAN_STRIDED | OCLA_PLAN_BF16 | OCLA_PLAN_F16));
}

/* Cost per token in arbitrary units: FLOPs plus bytes weighted by the device's compute/bandwidth
 * balance, plus a penalty when the launch has fewer work-groups than the device can run at once,
 * when a compute unit holds fewer work-groups than the parameter table wants (local memory) and
 * when the work-group leaves lanes of its last wave idle (runtime/plan_params.c). */
static double la_cost(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r,
                      const ocla__la_tiles *t) {
    const double C = t->chunk, K = (double)r->K, Ve = (double)r->V + 1.0, gv = t->gv;
    /* intra-chunk scores (half of C x C x K, exps for GLA count as ~2 FMAs each), A.V, q.h, update */
    double flops = C * K * (1.0 + 1.0 * gv) + C * Ve + 4.0 * K * Ve + gv * 40.0 * K;
    /* q, k, v, o (+ g) once; chunk states written once and read once per chunk */
    double bytes = 4.0 * (2.0 * K + 2.0 * Ve + gv * K) + 8.0 * K * Ve / C;
    double cost = flops + (L->is_gpu ? 20.0 : 4.0) * bytes; /* compute/bandwidth balance */
    /* parallelism: output work-groups B*H*NT*ceil(V/BV); the state pass is a sequential walk over
     * NT chunks per (b, h, tile), whose per-step overhead (a barrier and a state store) grows as C
     * shrinks. */
    const double nt = r->T > 0 ? (double)((r->T + t->chunk - 1) / t->chunk) : 1.0;
    const double wgs = (double)r->B * (double)r->H * nt * (double)((r->V + 1 + t->bv - 1) / t->bv);
    cost *= ocla__plan_grid_penalty(L, wgs);
    cost *= ocla__plan_occupancy_penalty(L, P, t->out_local > t->state_local ? t->out_local : t->state_local);
    cost *= ocla__plan_wave_penalty(L, P, (uint64_t)t->out_threads);
    /* more than 32 outputs per work-item (small work-group limits, e.g. llvmpipe's 32, force big
     * per-item blocks at large C) spill registers: measured ~1.7x slower on rusticl at C = 64 */
    if (t->tm * t->tn > 32) cost *= 1.0 + 0.5 * (t->tm * t->tn / 32.0 - 1.0);
    cost += (L->is_gpu ? 2048.0 : 256.0) * K / C; /* per-chunk step latency of the state pass */
    return cost;
}

void ocla__la_tiles_from_plan(const ocla_plan *p, ocla__la_tiles *t) {
    memset(t, 0, sizeof *t);
    t->chunk = p->tile[0], t->sub = p->tile[1], t->gv = p->tile[2], t->bv = p->tile[3], t->tm = p->tile[4];
    t->tn = p->tile[5], t->bka = p->tile[6], t->sbk = p->tile[7], t->sbv = p->tile[8], t->stm = p->tile[9];
    t->stn = p->tile[10], t->sjb = p->tile[11];
    t->blk = strstr(p->kernels, "la_blk_output") != NULL;
    t->cpu = t->blk || strstr(p->kernels, "la_cpu_output") != NULL;
    if (t->cpu) t->lanes = t->sjb, t->sjb = t->blk ? 1 : t->chunk; /* the CPU kernels' tile 11 is LANES */
    la_derive(t);
}

int ocla__la_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                  ocla_plan *p) {
    ocla__la_tiles t;
    const int portable = !la_tiles_for(L, P, r->op, r->V, chunk, &t);
    const int64_t nt = (r->T + 63) / 64;
    const double span = (double)r->B * r->H * (double)nt * r->K * r->V; /* per-chunk state floats at chunk 64 */
    /* The NVIDIA tensor-core path (chunk 64, causal, no normaliser, fp32 or half tensors, dense tensors and
     * states (no state slots; packed sequences through its VARLEN kernels), per-chunk states within
     * the largest allocation). */
    const unsigned half = r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16); /* not the CPU kernels */
    if ((L->paths & (1u << OCLA_PATH_NVIDIA_MMA)) && chunk == 64 &&
        !(r->flags & (OCLA_PLAN_NORMALIZE | OCLA_PLAN_NONCAUSAL | OCLA_PLAN_STRIDED | OCLA_PLAN_PORTABLE |
                      OCLA_PLAN_SLOTS)) &&
        (!L->max_alloc_size || 4.0 * span <= (double)L->max_alloc_size)) {
        /* 8 warps per work-group; the state pass owns a 64x64 state tile, the output pass a
         * (chunk, 128-wide value tile); local memory is the kernels' own (static) */
        const double ext = (double)r->B * (double)(nt * 64) * r->H * (double)(r->K > r->V ? r->K : r->V);
        const int vq = half ? 8 : 4; /* VEC: rows of 16-byte groups */
        const int32_t vals[5] = {64, (r->K % vq == 0 && r->V % vq == 0) ? 1 : 0,
                                 (span < 2147483648.0 && ext < 2147483648.0) ? 1 : 0,
                                 /* bf16 inputs are exact in TF32 and its outputs' rounding (2^-8) far above
                                  * TF32's on the derived operands: one pass (attn_mma_nv.cl, OCLA_DTYPE);
                                  * fp16 keeps 10 bits, as TF32: 3xTF32 (one pass measured 1.25e-3 > 1e-3) */
                                 L->allow_tf32 || (half & OCLA_PLAN_BF16) ? 1 : 3,
                                 1}; /* WG: below */
        p->path = OCLA_PATH_NVIDIA_MMA;
        /* bf16 linear attention, simple GLA and retention without a feature map, 64 < K <= 128, rows of
         * 16-byte groups: one pass (attn_fused_nv.cl), the state tile in registers, no chunk states
         * written or read. It holds 128 key dimensions whatever K (zeros past K): at K <= 64 it would
         * do the work of K = 128, where the two passes do half theirs, and that size was not measured */
        const int scalar = r->op == OCLA_OP_SIMPLE_GLA_CHUNK && (r->gate == OCLA_GATE_SCALAR || r->gate == OCLA_GATE_FIXED);
        int seg, lb, blocks;
        const int fused = (half & OCLA_PLAN_BF16) && (r->op == OCLA_OP_LINEAR_CHUNK || scalar) &&
                          r->feature == OCLA_FEATURE_IDENTITY && !(r->flags & OCLA_PLAN_VARLEN) && r->K > 64 &&
                          r->K <= 128 && vals[1];
        /* the single pass's scores on sm_90a warpgroup products where the device runs them (WG=1,
         * attn_fused_nv.cl); the tile is left out otherwise */
        const int wg = fused && (L->paths & (1u << OCLA_PATH_NVIDIA_WGMMA));
        /* fp32 with plain TF32 products (allow_tf32), the same ops and layouts: one pass too
         * (attn_fused32_nv.cl), where its work-groups (one per 64-wide value tile, batch row and head,
         * each walking the whole sequence) come to nine tenths of the compute units or more, or where
         * the sequence cut in segments brings them there (ocla__fused32_segments). H200, H=16,
         * K=V=128, against the two passes: B=4, T=2048 (128 work-groups on 132 SMs) 0.273 -> 0.220
         * ms, B=8 0.512 -> 0.272; B=2, T=8192 in one segment (64) 0.583 -> 0.798, in 5 segments 0.587
         * -> 0.373 (docs/BENCHMARKS.md).
         * In 3xTF32 it measured 0.450 -> 0.464 and 0.861 -> 0.763 ms: the two passes stay there */
        int seg32, lb32, blocks32;
        const int fused32 = !half && L->allow_tf32 && (r->op == OCLA_OP_LINEAR_CHUNK || scalar) &&
                            r->feature == OCLA_FEATURE_IDENTITY && !(r->flags & OCLA_PLAN_VARLEN) && r->K > 64 &&
                            r->K <= 128 && vals[1] ?
                            ocla__fused32_segments(r->T, (double)((r->V + 63) / 64) * r->B * r->H,
                                                   (int)L->compute_units, &seg32, &lb32, &blocks32) : 0;
        ocla__plan_set_tiles(p, (const char *const[]){"CHUNK", "VEC", "IDX32", "SPLIT", wg ? "WG" : NULL, NULL}, vals);
        if (fused32)
            ocla__plan_set_kernels(p, fused32 > 1 ? "mma_fused32_part, mma_fused32_fwd" : "mma_fused32_fwd");
        else if (fused)
            ocla__plan_set_kernels(p, ocla__fused_segments(r->T, ((r->V + 31) / 32) * (double)r->B * r->H,
                                                           (int)L->compute_units, scalar, &seg, &lb, &blocks) > 1
                                          ? "mma_fused_part, mma_fused_fwd"
                                          : "mma_fused_fwd");
        else
            ocla__plan_set_kernels(p, "%smma_chunk_states, %smma_chunk_output%s", r->op == OCLA_OP_GLA_CHUNK ? "la_gate_cumsum, " : "",
                                   (r->flags & OCLA_PLAN_VARLEN) ? "mma_varlen_carry, " : "",
                                   (r->flags & OCLA_PLAN_VARLEN) ? ", mma_varlen_h0" : "");
        p->bk = 64, p->bv = 128, p->wg_x = 256, p->wg_y = 1;
        /* measured on the H100: 2.5-3x faster than the portable kernels at the same chunk */
        p->cost = portable ? 0.3 * la_cost(L, P, r, &t) : 1.0;
        return 0;
    }
    ocla__la_tiles c;
    const int cpu = !L->is_gpu && !(r->flags & OCLA_PLAN_PORTABLE) && !half;
    if (cpu && P->cpu_block && !la_tiles_blk(L, r, chunk, &c)) t = c;
    else if (cpu && P->cpu_kernels && !la_tiles_cpu(L, P, r, chunk, &c)) t = c;
    else if (!portable) return 1;
    static const char *const names[] = {"CHUNK", "SUB", "GV", "BV",  "TM",  "TN",  "BKA",
                                        "SBK",   "SBV", "STM", "STN", "SJB", NULL};
    /* the CPU kernels' state walk takes the chunk's rows at once (SJB = CHUNK): that slot holds their LANES */
    static const char *const cpu_names[] = {"CHUNK", "SUB", "GV", "BV",  "TM",  "TN",   "BKA",
                                            "SBK",   "SBV", "STM", "STN", "LANES", NULL};
    const int32_t vals[12] = {t.chunk, t.sub ? t.sub : 16, t.gv, t.bv, t.tm, t.tn, t.bka, t.sbk, t.sbv, t.stm, t.stn,
                              t.cpu ? (t.lanes > 1 ? t.lanes : 1) : t.sjb};
    ocla__plan_set_tiles(p, t.cpu ? cpu_names : names, vals);
    const int gated = r->op != OCLA_OP_LINEAR_CHUNK && !(r->flags & OCLA_PLAN_NONCAUSAL);
    /* GLA on the block kernels: la_blk_gk_gates writes the cumsums and the gated rows (packed too) */
    ocla__plan_set_kernels(p, "%s%s%s",
                           !gated                                 ? ""
                           : t.blk && t.gv                        ? "la_blk_gk_gates, "
                           : (r->flags & OCLA_PLAN_VARLEN)        ? "la_gate_cumsum_seq, "
                                                                  : "la_gate_cumsum, ",
                           t.blk   ? "la_blk_states, la_blk_output"
                           : t.cpu ? "la_cpu_states, la_cpu_output"
                                   : "la_chunk_states, la_chunk_output",
                           (r->flags & OCLA_PLAN_NORMALIZE) ? ", la_normalize" : "");
    p->sub_chunk = t.sub;
    p->bk = t.bka;
    p->bv = t.bv;
    p->wg_x = t.out_threads > t.state_threads ? t.out_threads : t.state_threads;
    p->wg_y = 1;
    p->local_bytes = t.out_local > t.state_local ? t.out_local : t.state_local;
    p->cost = la_cost(L, P, r, &t);
    return 0;
}

/* ---- one decode step (T = 1): kernels_cl/linear_attn_decode.cl, which streams each state once.
 * GPUs: DV = 32..128 work-items along the value columns, each owning 4 contiguous columns read and
 * written as one float4 where the rows are 16-byte aligned (VEC: dense states, V % 4 == 0, no
 * normaliser; a warp then moves 512 contiguous bytes of a state row per load), else one column
 * (CW = 1: 128 bytes per warp), KS key splits (a power of two up to 8, at least 2 RB rows each)
 * while the grid stays within 2048 work-items per compute unit (a full wave on NVIDIA's SMs; at 64
 * rows x 16 heads x 128 x 128 on 132 SMs, float4 rows: DV 32, KS 4, 1024 work-groups); RB rows
 * loaded before they are stored (the loads in flight that hide the memory latency): with float4
 * rows the kernel loads the next RB while it stores these, and RB = 2 was the fastest there (H200:
 * 72-74 % of the copy bandwidth against 68-71 % for RB = 8 unpipelined, RB = 4 and 8 pipelined
 * 70-72 % and 55-59 %: docs/KERNELS.md); one column a work-item: RB = 8.
 * CPUs: one work-item per work-group walking CW = 32 contiguous columns row by row (the row's
 * columns vectorise; a work-group of one item has no barrier loops); with portable_kernels_only
 * (OCLA_PLAN_PORTABLE) the GPU shape, so that CPU drivers test it too (tests/test_decode.c). ---- */
static int decode_plan(const ocla_plan_limits *L, const ocla_plan_request *r, uint64_t W, ocla_plan *p) {
    const int64_t Ve = r->V + ((r->flags & OCLA_PLAN_NORMALIZE) != 0);
    int DV = 1, KS = 1, CW = 32, RB = 1, VEC = 0;
    if (L->is_gpu || (r->flags & OCLA_PLAN_PORTABLE)) { /* portable kernels only: the GPU shape anywhere */
        const uint64_t dv_max = W < 128 ? W : 128;
        /* float4 rows where every state row is 16-byte aligned: dense states, V % 4 == 0 and no
         * normaliser column (z is a tensor of its own) */
        VEC = !(r->flags & (OCLA_PLAN_NORMALIZE | OCLA_PLAN_STRIDED)) && r->V % 4 == 0;
        CW = VEC ? 4 : 1, RB = VEC ? 2 : 8;
        DV = dv_max < 32 ? (int)dv_max : 32;
        while ((int64_t)DV * CW < Ve && (uint64_t)DV * 2 <= dv_max) DV *= 2;
        const double want = 2048.0 * (L->compute_units ? (double)L->compute_units : 1.0);
        const double items = (double)r->B * (double)r->H * (double)((Ve + DV * CW - 1) / (DV * CW)) * DV;
        while (KS < 8 && items * KS * 2 <= want && (uint64_t)DV * KS * 2 <= W && (int64_t)KS * 2 * RB <= r->K &&
               DV * KS * 2 * CW <= 2048) /* 2048: the kernel's PART */
            KS *= 2;
    }
    const int32_t vals[5] = {DV, KS, CW, RB, VEC};
    ocla__plan_set_tiles(p, (const char *const[]){"DV", "KS", "CW", "RB", "VEC", NULL}, vals);
    ocla__plan_set_kernels(p, "la_decode%s", (r->flags & OCLA_PLAN_NORMALIZE) ? ", la_normalize" : "");
    p->bk = KS, p->bv = DV * CW;
    p->wg_x = DV, p->wg_y = KS;
    p->local_bytes = 4 * (uint64_t)(3 * 256 + 2048); /* staged q, k, gates + partial sums (static: KMAX, PART) */
    p->cost = (double)r->K * (double)r->V;
    snprintf(p->reason, sizeof p->reason,
             "decode step: %d x %d work-items, %d column(s) each%s, %d rows loaded ahead (device/kernel limit %llu)", DV,
             KS, CW, VEC ? " as one float4" : "", RB, (unsigned long long)W);
    return 0;
}

/* ---- recurrent (decode) form: one work-group of RV x RK work-items per (b, h, value tile);
 * work-item (c, r) keeps rows r, r + RK, ... (KR of them, a power of two >= 8) of state column c
 * in registers. RV = 32 where 256 work-items fit (16 at 64, else 8), RK = up to 8. ---- */
int ocla__rec_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int chunk,
                   ocla_plan *p) {
    (void)chunk, (void)P;
    const uint64_t W = ocla__plan_wg_limit(L); /* >= 1 (plan.c) */
    if (r->T == 1 && r->K <= 256) return decode_plan(L, r, W, p); /* 256: the decode kernel's KMAX */
    int RV = W >= 256 ? 32 : W >= 64 ? 16 : 8;
    if ((uint64_t)RV > W) RV = (int)W;
    int RK = (int)(W / (uint64_t)RV); /* >= 1: RV <= W */
    if (RK > 8) RK = 8;
    int KR = 8;
    while ((int64_t)KR * RK < r->K) KR *= 2;
    const int32_t vals[3] = {RV, RK, KR};
    ocla__plan_set_tiles(p, (const char *const[]){"RV", "RK", "KR", NULL}, vals);
    ocla__plan_set_kernels(p, "la_recurrent%s", (r->flags & OCLA_PLAN_NORMALIZE) ? ", la_normalize" : "");
    p->bk = KR * RK;
    p->bv = RV;
    p->wg_x = RV, p->wg_y = RK;
    p->local_bytes = 4 * (uint64_t)(3 * KR * RK + RV * RK); /* q, k, gate rows + partial sums (static) */
    p->cost = (double)r->T * (double)r->K * (double)r->V;
    snprintf(p->reason, sizeof p->reason, "recurrent attention: %d x %d work-items (device/kernel limit %llu)", RV, RK,
             (unsigned long long)W);
    return 0;
}

/* The single pass's segments (plan.h). At B=2, T=8192, H=16, V=128 its 128 work-groups (one per SM
 * of the H100) each wait on their own products and loads every chunk step; with the same work in 256
 * work-groups (B=4, T=4096) simple GLA took 0.251 ms against 0.330 and linear attention 0.201 against
 * 0.249 (H200, 2026-11-28). So the sequence is cut until the work-groups number twice the compute
 * units, at most 8 segments of a multiple of OCLA__FUSED_BLOCK chunks; mma_fused_part's blocks cost
 * about 0.05 ms there, so two segments (B=2, T=8192) pay for gated attention (0.327 -> 0.292 ms) but
 * not without a gate (0.246 -> 0.264), and four (B=1, T=8192) for both (0.325 -> 0.179, 0.251 ->
 * 0.162; docs/BENCHMARKS.md): without a gate, three segments at least. */
int ocla__fused32_segments(int T, double tiles, int cu, int *seg, int *lb, int *blocks) {
    const int NC = T > 32 ? (T + 31) / 32 : 1, c = cu > 0 ? cu : 1;
    *seg = NC, *lb = 0, *blocks = 0;
    if (10.0 * tiles >= 9.0 * c) return 1;
    if (NC < 64 || tiles < 1.0) return 0;
    int n = (int)ceil(2.0 * c / tiles);
    if (n > 8) n = 8;
    int s = (NC + n - 1) / n;
    s += s & 1; /* two blocks a segment */
    n = (NC + s - 1) / s;
    *seg = s, *lb = s / 2, *blocks = 2 * (n - 1);
    return n;
}

int ocla__fused_segments(int T, double tiles, int cu, int gated, int *seg, int *lb, int *blocks) {
    const int NT = T > 64 ? (T + 63) / 64 : 1;
    const double want = 2.0 * (cu > 0 ? cu : 1) / (tiles > 1.0 ? tiles : 1.0);
    int p = want < 8.0 ? (int)want : 8;
    if (p > NT / OCLA__FUSED_BLOCK) p = NT / OCLA__FUSED_BLOCK;
    *seg = NT, *lb = OCLA__FUSED_BLOCK, *blocks = 0;
    if (p < (gated ? 2 : 3)) return 1;
    const int s = (NT + p - 1) / p, l = (s + 7) / 8 > OCLA__FUSED_BLOCK ? (s + 7) / 8 : OCLA__FUSED_BLOCK;
    *seg = (s + l - 1) / l * l, *lb = l;
    const int n = (NT + *seg - 1) / *seg;
    *blocks = (n - 1) * (*seg / l);
    return n;
}
