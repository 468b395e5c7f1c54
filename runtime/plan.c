/* The scheduler: a pure function from (device limits, op, shape) to a plan. No device, no I/O,
 * no globals. Per op kind a table row says which chunk sizes exist and how local memory, work-group
 * shape and cost follow from the chunk size; ocla_plan_compute keeps the candidates that fit
 * (local memory minus the kernel's own CL_KERNEL_LOCAL_MEM_SIZE, work-group limits) and takes the
 * cheapest by the cost model. The model and the tile rules are written up in docs/KERNELS.md. */
#include <stdio.h>
#include <string.h>

#include "attn_plan.h"
#include "internal.h"

static const int k_chunks[] = {16, 32, 64, 128, 256};
#define N_CHUNKS ((int)(sizeof k_chunks / sizeof k_chunks[0]))
#define MAX_DIM ((int64_t)1 << 24)

uint64_t ocla__plan_wg_limit(const ocla_plan_limits *L) {
    uint64_t w = L->max_work_group_size;
    if (L->kernel_wg_size && L->kernel_wg_size < w) w = L->kernel_wg_size;
    if (L->max_work_item_size0 && L->max_work_item_size0 < w) w = L->max_work_item_size0;
    return w;
}

static uint64_t local_avail(const ocla_plan_limits *L) {
    return L->kernel_local_mem <= L->local_mem_size ? L->local_mem_size - L->kernel_local_mem : 0;
}

/* ---- linear attention family: tiles for one chunk size ---- */
int ocla__la_tiles_for(const ocla_plan_limits *L, ocla_op_kind op, int64_t K, int64_t V, int chunk,
                       ocla__la_tiles *t) {
    (void)K;
    memset(t, 0, sizeof *t);
    const uint64_t W = ocla__plan_wg_limit(L), avail = local_avail(L);
    if (W < 1) return 1;
    /* Aim for up to 256 work-items (GPUs: 8 warps); fewer where the kernel limit says so. */
    const uint64_t target = W < 256 ? W : 256;
    t->chunk = chunk;
    t->gv = op == OCLA_OP_GLA_CHUNK;
    t->sub = t->gv ? 4 : 0; /* GLA sub-chunk = one 4x4 score block (see docs/KERNELS.md) */
    /* output kernel: value tile and per-item block */
    /* one value tile for V up to 128 where the work-group allows: the C x C score block is then
     * computed once per chunk instead of once per 64-wide value tile */
    t->bv = W < 128 ? 32 : (V >= 128 && W >= 256) ? 128 : 64;
    t->tm = 4, t->tn = 4;
    while ((uint64_t)(chunk / t->tm) * (uint64_t)(t->bv / t->tn) > target) {
        if (t->tm <= t->tn && t->tm < 32 && t->tm < chunk) t->tm *= 2;
        else if (t->tn < 8) t->tn *= 2;
        else if (t->tm < 32 && t->tm < chunk) t->tm *= 2;
        else if (t->bv > 16) t->bv /= 2;
        else return 1;
    }
    t->out_threads = (chunk / t->tm) * (t->bv / t->tn);
    /* key slab: the widest of 32/16/8 that fits next to the C x C score block */
    const int nslab = 2 + 3 * t->gv; /* q, k (+ G, rescaled q, rescaled k) */
    t->bka = 0;
    for (int bka = 32; bka >= 8; bka /= 2) {
        const uint64_t lda = (uint64_t)chunk + 4; /* transposed slabs and A: pitch C + 4 */
        uint64_t slab = (uint64_t)nslab * lda * bka, inter = lda * bka + (uint64_t)bka * t->bv;
        if (inter > slab) slab = inter;
        uint64_t bytes = 4 * ((uint64_t)chunk * lda + slab);
        if (bytes <= avail) {
            t->bka = bka;
            t->out_local = bytes;
            break;
        }
    }
    if (!t->bka) return 1;
    /* state kernel: SBK x SBV tile, STM x STN per item */
    t->sbk = t->sbv = W < 256 ? 32 : 64;
    t->stm = 4, t->stn = 4;
    while ((uint64_t)(t->sbk / t->stm) * (uint64_t)(t->sbv / t->stn) > target) {
        if (t->stm <= t->stn && t->stm < 16) t->stm *= 2;
        else if (t->stn < 16) t->stn *= 2;
        else return 1;
    }
    t->state_threads = (t->sbk / t->stm) * (t->sbv / t->stn);
    t->sjb = 16;
    t->state_local = 4 * (uint64_t)t->sjb * (uint64_t)(t->sbk + t->sbv);
    if (t->state_local > avail) return 1;
    return 0;
}

/* Cost per token in arbitrary units: FLOPs plus bytes weighted by the device's compute/bandwidth
 * balance, plus a penalty when the launch has fewer work-groups than the device can run at once. */
static double la_cost(const ocla_plan_limits *L, const ocla_plan_request *r, const ocla__la_tiles *t) {
    const double C = t->chunk, K = (double)r->K, Ve = (double)r->V + 1.0;
    const double gv = t->gv;
    /* intra-chunk scores (half of C x C x K, exps for GLA count as ~2 FMAs each), A.V, q.h, update */
    double flops = C * K * (1.0 + 1.0 * gv) + C * Ve + 4.0 * K * Ve + gv * 40.0 * K;
    /* q, k, v, o (+ g) once; chunk states written once and read once per chunk */
    double bytes = 4.0 * (2.0 * K + 2.0 * Ve + gv * K) + 8.0 * K * Ve / C;
    double balance = L->is_gpu ? 20.0 : 4.0;
    double cost = flops + balance * bytes;
    /* parallelism: output work-groups B*H*NT*ceil(V/BV); the state pass is a sequential walk over
     * NT chunks per (b, h, tile), whose per-step overhead (a barrier and a state store) grows as C
     * shrinks. */
    double units = L->compute_units ? (double)L->compute_units : 1.0;
    double nt = (double)((r->T + t->chunk - 1) / t->chunk);
    if (nt < 1) nt = 1;
    double wgs = (double)r->B * (double)r->H * nt * (double)((r->V + 1 + t->bv - 1) / t->bv);
    double want = units * (L->is_gpu ? 4.0 : 1.0);
    if (wgs < want) cost *= 1.0 + 0.5 * (want - wgs) / want;
    /* more than 32 outputs per work-item (small work-group limits, e.g. llvmpipe's 32, force big
     * per-item blocks at large C) spill registers: measured ~1.7x slower on rusticl at C = 64 */
    const int per_item = t->tm * t->tn;
    if (per_item > 32) cost *= 1.0 + 0.5 * (per_item / 32.0 - 1.0);
    if (L->is_gpu) cost += 2048.0 * K / C; /* per-chunk step latency of the state pass */
    else cost += 256.0 * K / C;
    return cost;
}

/* ---- FLASH mixed chunk and tiled softmax (kernels by another helper; rows may change) ---- */
static int other_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = local_avail(L);
    int64_t D = r->K > r->V ? r->K : r->V;
    if (D > 64) D = 64; /* head dims beyond 64 go through local memory in 64-wide slabs */
    uint64_t threads = (uint64_t)chunk * 4 > 256 ? 256 : (uint64_t)chunk * 4;
    if (threads > W) threads = W;
    if (threads < 1) return 1;
    uint64_t bytes;
    if (r->op == OCLA_OP_FLASH_CHUNK) /* C x C relu^2 scores + q/k slabs of 32 columns */
        bytes = 4 * ((uint64_t)chunk * chunk + 2 * (uint64_t)chunk * 32);
    else /* query block + key and value blocks of (up to 64) D columns */
        bytes = 4 * (uint64_t)chunk * 3 * (uint64_t)D;
    if (bytes > avail) return 1;
    p->wg_x = (int)threads;
    p->wg_y = 1;
    p->local_bytes = bytes;
    p->bk = (int)(r->K < 32 ? r->K : 32);
    p->bv = (int)(r->V < 64 ? r->V : 64);
    p->sub_chunk = 0;
    p->passes = r->op == OCLA_OP_FLASH_CHUNK ? 3 : 1;
    double C = chunk, Kd = (double)r->K, Vd = (double)r->V;
    if (r->op == OCLA_OP_FLASH_CHUNK)
        p->cost = C * (Kd + Vd) + 4.0 * Kd * Vd + (L->is_gpu ? 20.0 : 4.0) * 8.0 * Kd * Vd / C;
    else /* flash-style: fewer passes over K/V with bigger query blocks */
        p->cost = 2.0 * (double)r->T * (Kd + Vd) * (1.0 + 16.0 / C);
    return 0;
}

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
    const uint64_t W = ocla__plan_wg_limit(L), avail = local_avail(L);
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

static ocla_status check_request(const ocla_plan_limits *L, const ocla_plan_request *r) {
    if (!L || !r) return OCLA_ERR_INVALID_ARGUMENT;
    if ((int)r->op < 0 || r->op >= OCLA_OP_COUNT) return OCLA_ERR_INVALID_ARGUMENT;
    if (r->B < 1 || r->H < 1 || r->K < 1 || r->V < 1 || r->T < 0 || r->B > MAX_DIM || r->H > MAX_DIM ||
        r->T > ((int64_t)1 << 40) || r->K > MAX_DIM || r->V > MAX_DIM)
        return OCLA_ERR_INVALID_ARGUMENT;
    if (r->chunk < 0) return OCLA_ERR_INVALID_ARGUMENT;
    return OCLA_SUCCESS;
}

static int is_la(ocla_op_kind op) {
    return op == OCLA_OP_LINEAR_CHUNK || op == OCLA_OP_SIMPLE_GLA_CHUNK || op == OCLA_OP_GLA_CHUNK;
}

/* Fill plan for one chunk size; 0 when it fits. */
static int plan_for_chunk(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    memset(p, 0, sizeof *p);
    p->chunk = chunk;
    if (is_la(r->op)) {
        ocla__la_tiles t;
        if (ocla__la_tiles_for(L, r->op, r->K, r->V, chunk, &t)) return 1;
        p->sub_chunk = t.sub;
        p->bk = t.bka;
        p->bv = t.bv;
        p->wg_x = t.out_threads > t.state_threads ? t.out_threads : t.state_threads;
        p->wg_y = 1;
        p->passes = 2 + (r->op != OCLA_OP_LINEAR_CHUNK); /* gate cumsum, states, outputs */
        p->local_bytes = t.out_local > t.state_local ? t.out_local : t.state_local;
        p->cost = la_cost(L, r, &t);
        return 0;
    }
    if (r->op == OCLA_OP_SOFTMAX_TILED) return softmax_fits(L, r, chunk, p);
    return other_fits(L, r, chunk, p);
}

static const char *op_name(ocla_op_kind op) {
    switch (op) {
    case OCLA_OP_LINEAR_CHUNK: return "linear attention";
    case OCLA_OP_SIMPLE_GLA_CHUNK: return "simple GLA";
    case OCLA_OP_GLA_CHUNK: return "GLA";
    case OCLA_OP_FLASH_CHUNK: return "FLASH";
    case OCLA_OP_SOFTMAX_TILED: return "softmax";
    default: return "?";
    }
}

/* Chunk sizes that exist for an op (softmax: query blocks 16, 32, 64). */
static int chunk_exists(ocla_op_kind op, int c) {
    if (op == OCLA_OP_SOFTMAX_TILED) return c <= 64;
    return 1;
}

int ocla_plan_candidates(const ocla_plan_limits *limits, const ocla_plan_request *request, int *chunks,
                         int max_chunks) {
    if (check_request(limits, request) != OCLA_SUCCESS || max_chunks <= 0) return 0;
    int n = 0;
    for (int i = 0; i < N_CHUNKS && n < max_chunks; i++) {
        ocla_plan p;
        if (!chunk_exists(request->op, k_chunks[i]) || plan_for_chunk(limits, request, k_chunks[i], &p)) continue;
        if (chunks) chunks[n] = k_chunks[i];
        n++;
    }
    return n;
}

ocla_status ocla_plan_compute(const ocla_plan_limits *limits, const ocla_plan_request *request, ocla_plan *plan) {
    if (!plan) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_compute: plan is NULL");
    ocla_status st = check_request(limits, request);
    if (st != OCLA_SUCCESS)
        return ocla__fail(NULL, st, "ocla_plan_compute: %s", !limits ? "limits is NULL" : !request ? "request is NULL"
                                                                   : "bad op kind, shape (B,H,K,V >= 1, T >= 0) or chunk");
    const ocla_plan_request *r = request;
    const uint64_t avail = local_avail(limits), W = ocla__plan_wg_limit(limits);
    if (r->chunk > 0) {
        int known = 0;
        for (int i = 0; i < N_CHUNKS; i++) known |= k_chunks[i] == r->chunk && chunk_exists(r->op, r->chunk);
        if (!known)
            return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT,
                              "%s: chunk %d is not one of the chunk sizes this op has (16, 32, 64, 128, 256%s)",
                              op_name(r->op), r->chunk,
                              r->op == OCLA_OP_SOFTMAX_TILED ? "; softmax: 16, 32, 64" : "");
        if (plan_for_chunk(limits, r, r->chunk, plan))
            return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED,
                              "%s: forced chunk %d does not fit this device (%llu bytes of local memory available, "
                              "work-group limit %llu)",
                              op_name(r->op), r->chunk, (unsigned long long)avail, (unsigned long long)W);
        snprintf(plan->reason, sizeof plan->reason, "%s: chunk %d forced; fits %llu B local memory (uses %llu B)",
                 op_name(r->op), r->chunk, (unsigned long long)avail, (unsigned long long)plan->local_bytes);
        return OCLA_SUCCESS;
    }
    ocla_plan best, p;
    int found = 0, nfit = 0;
    double second = 0;
    for (int i = 0; i < N_CHUNKS; i++) {
        if (!chunk_exists(r->op, k_chunks[i]) || plan_for_chunk(limits, r, k_chunks[i], &p)) continue;
        nfit++;
        if (!found || p.cost < best.cost) {
            if (found) second = best.cost;
            best = p;
            found = 1;
        } else if (second == 0 || p.cost < second)
            second = p.cost;
    }
    if (!found)
        return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED,
                          "%s: no chunk size fits this device (%llu bytes of local memory available, work-group "
                          "limit %llu)",
                          op_name(r->op), (unsigned long long)avail, (unsigned long long)W);
    *plan = best;
    int largest = 0;
    for (int i = 0; i < N_CHUNKS; i++)
        if (chunk_exists(r->op, k_chunks[i]) && !plan_for_chunk(limits, r, k_chunks[i], &p)) largest = k_chunks[i];
    snprintf(plan->reason, sizeof plan->reason,
             "%s: lowest modelled cost of %d fitting chunk sizes (largest fitting %d in %llu B local, wg <= %llu)%s",
             op_name(r->op), nfit, largest, (unsigned long long)avail, (unsigned long long)W,
             nfit > 1 && second > 0 ? (second / best.cost < 1.05 ? "; runner-up within 5%" : "") : "");
    return OCLA_SUCCESS;
}

void ocla__plan_limits_from_device(const ocla_device_info *info, ocla_plan_limits *limits) {
    memset(limits, 0, sizeof *limits);
    limits->local_mem_size = info->local_mem_size;
    limits->max_work_group_size = info->max_work_group_size;
    limits->max_work_item_size0 = info->max_work_item_sizes[0];
    limits->compute_units = info->compute_units;
    limits->simd_width = info->preferred_wg_multiple;
    limits->is_gpu = info->is_gpu;
}

ocla_status ocla_plan_explain(ocla_context *ctx, const ocla_plan_request *request, ocla_plan *plan, char *text,
                              size_t text_size) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_explain: ctx is NULL");
    if (!request) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_explain: request is NULL");
    OCLA_LOCK(ctx);
    ocla_plan_limits L;
    ocla_status st = ocla__attn_device_limits(ctx, &L);
    ocla_plan local_plan;
    ocla_plan *p = plan ? plan : &local_plan;
    ocla_plan_request r = *request;
    if (st == OCLA_SUCCESS) {
        if (r.chunk == 0 && ctx->env_chunk > 0) r.chunk = ctx->env_chunk;
        st = ocla_plan_compute(&L, &r, p);
        if (st != OCLA_SUCCESS) {
            /* ocla_plan_compute has no context: move its detail here */
            const char *detail = ocla_last_error(NULL);
            ocla__fail(ctx, st, "%s%s", detail ? detail : "no plan",
                       request->chunk == 0 && ctx->env_chunk > 0 ? " (chunk from OCLA_CHUNK)" : "");
        }
    }
    if (st == OCLA_SUCCESS && text && text_size > 0)
        snprintf(text, text_size, "chunk %d, sub-chunk %d, BK %d, BV %d, work-group %dx%d, %d passes, %llu B local; %s%s",
                 p->chunk, p->sub_chunk, p->bk, p->bv, p->wg_x, p->wg_y, p->passes,
                 (unsigned long long)p->local_bytes, p->reason,
                 request->chunk == 0 && ctx->env_chunk > 0 ? " (OCLA_CHUNK)" : "");
    OCLA_UNLOCK(ctx);
    return st;
}
