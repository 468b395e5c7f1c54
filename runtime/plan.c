/* SPDX-License-Identifier: MIT */
/* The scheduler: a pure function from (device limits, op, shape) to a plan. No device, no I/O,
 * no globals. Each op kind has a row here (its candidate chunk sizes) and a rule (runtime/plan_*.c)
 * that fills the plan for one chunk: path, tiles, work-group, local memory, kernels, cost.
 * ocla_plan_compute keeps the candidates that fit and takes the cheapest. The model and the tile
 * rules are written up in docs/KERNELS.md. The device profile (limits, probe, paths) is read once
 * per context here too, so ops and ocla_plan_explain plan from the same limits. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

#define MAX_DIM ((int64_t)1 << 24)
#define MAX_CHUNKS 16 /* candidate chunks of a row, at most */

static const int k_chunks[] = {16, 32, 64, 128, 256};
static const int k_sm_blocks[] = {16, 32, 64};                        /* query rows per work-group */
static const int k_bwd_chunks[] = {1, 2, 4, 8, 16, 32, 64, 128, 256}; /* below 16 forced only */
static const int k_no_chunk[] = {0};

/* FLASH's chunk is a model setting: the scheduler picks it only when asked (chunk 0). */
const ocla_plan_row ocla__plan_rows[OCLA_OP_COUNT] = {
    [OCLA_OP_LINEAR_CHUNK] = {"linear attention", k_chunks, 5, ocla__la_fits},
    [OCLA_OP_SIMPLE_GLA_CHUNK] = {"simple GLA", k_chunks, 5, ocla__la_fits},
    [OCLA_OP_GLA_CHUNK] = {"GLA", k_chunks, 5, ocla__la_fits},
    [OCLA_OP_FLASH_CHUNK] = {"FLASH", k_chunks, 5, ocla__flash_fits},
    [OCLA_OP_SOFTMAX_TILED] = {"softmax", k_sm_blocks, 3, ocla__softmax_fits},
    [OCLA_OP_ATTN_RECURRENT] = {"recurrent attention", k_no_chunk, 1, ocla__rec_fits},
    [OCLA_OP_ATTN_BACKWARD] = {"attention backward", k_bwd_chunks, 9, ocla__bwd_fits},
    [OCLA_OP_SOFTMAX_BACKWARD] = {"softmax backward", k_sm_blocks, 3, ocla__softmax_bwd_fits},
};

uint64_t ocla__plan_wg_limit(const ocla_plan_limits *L) {
    uint64_t w = L->max_work_group_size;
    if (L->kernel_wg_size && L->kernel_wg_size < w) w = L->kernel_wg_size;
    if (L->max_work_item_size0 && L->max_work_item_size0 < w) w = L->max_work_item_size0;
    return w;
}

uint64_t ocla__plan_local_avail(const ocla_plan_limits *L) {
    return L->kernel_local_mem <= L->local_mem_size ? L->local_mem_size - L->kernel_local_mem : 0;
}

/* (The plan is zeroed before a rule fills it: tiles not named stay 0.) */
void ocla__plan_set_tiles(ocla_plan *p, const char *const *names, const int32_t *vals) {
    size_t off = 0;
    for (int i = 0; i < OCLA_PLAN_TILES && names[i] && off < sizeof p->tile_names; i++) {
        p->tile[i] = vals[i];
        off += (size_t)snprintf(p->tile_names + off, sizeof p->tile_names - off, "%s%s", i ? " " : "", names[i]);
    }
}

void ocla__plan_set_kernels(ocla_plan *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->kernels, sizeof p->kernels, fmt, ap);
    va_end(ap);
    p->passes = p->kernels[0] != 0;
    for (const char *s = p->kernels; *s; s++) p->passes += *s == ' ';
}

double ocla__plan_grid_penalty(const ocla_plan_limits *L, double wgs) {
    const double units = L->compute_units ? (double)L->compute_units : 1.0, want = units * (L->is_gpu ? 4.0 : 1.0);
    return wgs < want ? 1.0 + 0.5 * (want - wgs) / want : 1.0;
}

static int request_ok(const ocla_plan_limits *L, const ocla_plan_request *r) {
    return L && r && (int)r->op >= 0 && r->op < OCLA_OP_COUNT && r->B >= 1 && r->H >= 1 && r->K >= 1 && r->V >= 1 &&
           r->T >= 0 && r->B <= MAX_DIM && r->H <= MAX_DIM && r->T <= ((int64_t)1 << 40) && r->K <= MAX_DIM &&
           r->V <= MAX_DIM && r->chunk >= 0 && r->gate >= OCLA_GATE_NONE && r->gate <= OCLA_GATE_FIXED &&
           r->feature >= 0 && r->feature <= 2;
}

/* The parameter table's row and the work-groups per compute unit (where the row knows the compute
 * unit's local memory) at the end of the reason. */
static void append_occupancy(const ocla_plan_limits *L, const ocla__plan_params *P, ocla_plan *p) {
    const size_t n = strlen(p->reason);
    const int wgs = ocla__plan_wgs_per_cu(L, P, p->local_bytes);
    const unsigned wave = ocla__plan_wave(L, P);
    char occ[80] = "";
    if (wave) snprintf(occ, sizeof occ, " (wave %u", wave);
    else if (wgs) snprintf(occ, sizeof occ, " (wave unknown"); /* neither (CPUs): the row alone */
    if (wgs)
        snprintf(occ + strlen(occ), sizeof occ - strlen(occ), ", %d work-group%s per compute unit", wgs,
                 wgs > 1 ? "s" : "");
    if (occ[0]) strcat(occ, ")");
    snprintf(p->reason + n, sizeof p->reason - n, "; table row %s%s", P->name, occ);
}

/* Plan r for each chunk of its row (forced: r->chunk only) and keep the cheapest in best, with the
 * runner-up's cost (0 if none) in second; the chunks that fit go to fit[0..max). Returns how many.
 * Every row: a work-group limit of at least 1, and the plan's local memory within what the kernel's
 * own leaves (also for rows whose kernels use only static local memory: a kernel that alone exceeds
 * the device never fits). */
static int scan(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r, int forced, int *fit,
                int max, ocla_plan *best, double *second) {
    const ocla_plan_row *row = &ocla__plan_rows[r->op];
    int n = 0;
    *second = 0;
    if (ocla__plan_wg_limit(L) < 1 || L->kernel_local_mem > L->local_mem_size) return 0;
    for (int i = 0; i < row->n_chunks && n < max; i++) {
        ocla_plan p = {.op = r->op, .chunk = row->chunks[i]}; /* zeroed: tiles a rule does not name stay 0 */
        if ((forced && p.chunk != r->chunk) || row->fits(L, P, r, p.chunk, &p) ||
            p.local_bytes > ocla__plan_local_avail(L))
            continue;
        if (fit) fit[n] = row->chunks[i];
        if (++n == 1 || p.cost < best->cost) {
            if (n > 1) *second = best->cost;
            *best = p;
        } else if (*second == 0 || p.cost < *second)
            *second = p.cost;
    }
    return n;
}

int ocla_plan_candidates(const ocla_plan_limits *limits, const ocla_plan_request *request, int *chunks,
                         int max_chunks) {
    ocla_plan best;
    double second;
    if (!request_ok(limits, request) || max_chunks <= 0) return 0;
    return scan(limits, ocla__plan_params_for(limits), request, 0, chunks, max_chunks, &best, &second);
}

ocla_status ocla_plan_compute(const ocla_plan_limits *limits, const ocla_plan_request *r, ocla_plan *plan) {
    if (!plan) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_compute: plan is NULL");
    if (!request_ok(limits, r))
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_compute: %s",
                          !limits ? "limits is NULL"
                          : !r    ? "request is NULL"
                                  : "bad op kind, shape (B,H,K,V >= 1, T >= 0), chunk, gate or feature map");
    const ocla_plan_row *row = &ocla__plan_rows[r->op];
    const unsigned long long avail = ocla__plan_local_avail(limits), W = ocla__plan_wg_limit(limits);
    const int forced = r->chunk > 0 && row->chunks[0]; /* an op without chunks ignores a forced one */
    char list[64] = "";
    int known = !forced;
    for (int i = 0; i < row->n_chunks; i++) {
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? ", " : "", row->chunks[i]);
        known |= row->chunks[i] == r->chunk;
    }
    if (!known)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: chunk %d is not one of the chunk sizes this op has (%s)",
                          row->name, r->chunk, list);
    int fit[MAX_CHUNKS];
    double second;
    const ocla__plan_params *P = ocla__plan_params_for(limits); /* resolved once per plan */
    const int nfit = scan(limits, P, r, forced, fit, MAX_CHUNKS, plan, &second);
    if (!nfit && forced)
        return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED,
                          "%s: forced chunk %d does not fit this device (%llu bytes of local memory available, "
                          "work-group limit %llu)",
                          row->name, r->chunk, avail, W);
    if (!nfit)
        return ocla__fail(NULL, OCLA_ERR_UNSUPPORTED,
                          "%s: no %s fits this device (%llu bytes of local memory available, work-group limit %llu)",
                          row->name, row->chunks[0] ? "chunk size" : "tiling", avail, W);
    if (forced)
        snprintf(plan->reason, sizeof plan->reason, "%s: chunk %d forced; fits %llu B local memory (uses %llu B)",
                 row->name, r->chunk, avail, (unsigned long long)plan->local_bytes);
    else if (row->chunks[0]) /* an op without chunks keeps its rule's reason */
        snprintf(plan->reason, sizeof plan->reason,
                 "%s: lowest modelled cost of %d fitting chunk sizes (largest fitting %d in %llu B local, wg <= %llu)%s",
                 row->name, nfit, fit[nfit - 1], avail, W,
                 nfit > 1 && second > 0 && second / plan->cost < 1.05 ? "; runner-up within 5%" : "");
    if (plan->path == OCLA_PATH_NVIDIA_MMA && (r->flags & OCLA_PLAN_VARLEN))
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 "; packed sequences: NVIDIA kernels over the packed axis' blocks");
    else if (r->flags & (OCLA_PLAN_SLOTS | OCLA_PLAN_VARLEN)) /* the NVIDIA path has dense states only */
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 "; %s: portable kernels", r->flags & OCLA_PLAN_VARLEN ? "packed sequences" : "state slots");
    if ((r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16)) && (r->op == OCLA_OP_LINEAR_CHUNK ||
                                                         r->op == OCLA_OP_SIMPLE_GLA_CHUNK || r->op == OCLA_OP_GLA_CHUNK))
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 strstr(plan->kernels, "mma_fused_fwd") && strstr(plan->tile_names, "WG")
                     ? "; %s: one pass on bf16 tensor-core products, the state in registers, the scores on sm_90a "
                       "warpgroup products"
                 : strstr(plan->kernels, "mma_fused_fwd")
                     ? "; %s: one pass on bf16 tensor-core products, the state in registers"
                 : plan->path == OCLA_PATH_NVIDIA_MMA
                     ? "; %s: NVIDIA kernels widen q, k, v to fp32 as they stage them"
                     : "; %s: portable kernels (the CPU kernels are fp32)",
                 r->flags & OCLA_PLAN_BF16 ? "bf16" : "fp16");
    if (strstr(plan->kernels, "mma_fused32_fwd"))
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 "; fp32: one pass on TF32 tensor-core products, the state in registers");
    if (strstr(plan->kernels, "la_cpu_output")) /* plan_la.c, la_tiles_cpu: value slices from the limits */
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 "; CPU kernels for %u compute units: walks %d cols, outputs %d, %d item%s/work-group%s",
                 limits->compute_units, (int)plan->tile[8], (int)plan->tile[3], plan->wg_x, plan->wg_x > 1 ? "s" : "",
                 plan->wg_x > 1 ? " (1 SIMD lane each)" : "");
    if (strstr(plan->kernels, "la_blk_output")) /* plan_la.c, la_tiles_blk */
        snprintf(plan->reason + strlen(plan->reason), sizeof plan->reason - strlen(plan->reason),
                 "; register-block kernels: %d x %d floats/item, walks %d items/group, outputs %d%s",
                 (int)plan->tile[4], (int)plan->tile[5], (int)plan->tile[11], plan->wg_x,
                 ocla__la_blk_images(r) ? ", rows read as images" : "");
    append_occupancy(limits, P, plan);
    return OCLA_SUCCESS;
}

ocla_status ocla__plan_limits(ocla_context *ctx, ocla_plan_limits *L) {
    const ocla_device_info *info = &ctx->info;
    *L = (ocla_plan_limits){.local_mem_size = info->local_mem_size,
                            .max_work_group_size = info->max_work_group_size,
                            .max_work_item_size0 = info->max_work_item_sizes[0],
                            .compute_units = info->compute_units,
                            .simd_width = info->preferred_wg_multiple,
                            .is_gpu = info->is_gpu,
                            .max_alloc_size = info->max_alloc_size,
                            .vendor = info->vendor};
    snprintf(L->arch, sizeof L->arch, "%.*s", (int)sizeof L->arch - 1, info->device_name); /* the table's key */
    if (!ctx->probe_done) {
        ocla_variant v = ocla__variant(&ocla__fam_probe);
        const ocla_kernel_entry *e;
        ocla_status st = ocla__variant_entry(ctx, &v, "la_probe", &e);
        if (st != OCLA_SUCCESS) return st;
        ctx->probe_wg_size = e->wg_size;
        ctx->probe_done = 1;
    }
    if (ctx->probe_wg_size && ctx->probe_wg_size < L->max_work_group_size) L->kernel_wg_size = ctx->probe_wg_size;
    /* The NVIDIA tensor-core path where its probe ran right on this device (whatever the vendor
     * string says) and the context did not ask for the portable kernels only. */
    if (ocla__nv_available(ctx)) L->paths |= 1u << OCLA_PATH_NVIDIA_MMA;
    /* the sm_90a warpgroup products (OCLA_PATH_NVIDIA_WGMMA): ocla__plan_with, for bf16 requests only */
    L->allow_tf32 = ctx->allow_tf32;
    return OCLA_SUCCESS;
}

int ocla__resolve_chunk(const ocla_context *ctx, int param_chunk) { return param_chunk ? param_chunk : ctx->env_chunk; }

ocla_status ocla__plan_with(ocla_context *ctx, const ocla_plan_limits *L, const ocla_plan_request *req, ocla_plan *p) {
    ocla_plan_request rq = *req;
    if (ctx->portable_only) rq.flags |= OCLA_PLAN_PORTABLE; /* no vendor path, no CPU kernels (plan_la.c) */
    const ocla_plan_request *r = &rq;
    /* Only the bf16 single pass (plan_la.c) runs on warpgroup products: their probe (a bf16 program
     * built through its sm_90a PTX, once per context) waits for the first bf16 request, so that a
     * context that plans nothing in bf16 never builds it. */
    ocla_plan_limits Lw;
    if ((L->paths & (1u << OCLA_PATH_NVIDIA_MMA)) && (r->flags & OCLA_PLAN_BF16) && ocla__nv_wgmma_available(ctx)) {
        Lw = *L;
        Lw.paths |= 1u << OCLA_PATH_NVIDIA_WGMMA;
        L = &Lw;
    }
    const ocla_status st = ocla_plan_compute(L, r, p);
    if (st != OCLA_SUCCESS) /* ocla_plan_compute has no context: move its detail here */
        ocla__fail(ctx, st, "%s%s", ocla_last_error(NULL),
                   r->chunk && r->chunk == ctx->env_chunk ? " (chunk from OCLA_CHUNK)" : "");
    return st;
}

ocla_status ocla__plan_for(ocla_context *ctx, const ocla_plan_request *r, ocla_plan *plan) {
    ocla_plan_limits L;
    const ocla_status st = ocla__plan_limits(ctx, &L);
    return st != OCLA_SUCCESS ? st : ocla__plan_with(ctx, &L, r, plan);
}

static const char *path_name(ocla_path p) { return p == OCLA_PATH_NVIDIA_MMA ? "NVIDIA tensor cores (mma.sync)" : "portable"; }

int ocla__plan_describe(const ocla_plan *p, char *text, size_t size) {
    char tiles[256] = "";
    const char *n = p->tile_names;
    for (int i = 0; i < OCLA_PLAN_TILES && *n; i++) {
        const int len = (int)strcspn(n, " ");
        snprintf(tiles + strlen(tiles), sizeof tiles - strlen(tiles), "%s%.*s=%d", i ? " " : "", len, n, (int)p->tile[i]);
        n += len + (n[len] == ' ');
    }
    return snprintf(text, size,
                    "%s path: kernels %s; chunk %d, sub-chunk %d, work-group %dx%d, %d passes, %llu B local; "
                    "tiles %s; %s",
                    path_name(p->path), p->kernels[0] ? p->kernels : "?", p->chunk, p->sub_chunk, p->wg_x, p->wg_y,
                    p->passes, (unsigned long long)p->local_bytes, tiles[0] ? tiles : "-", p->reason);
}

ocla_status ocla_plan_explain(ocla_context *ctx, const ocla_plan_request *request, ocla_plan *plan, char *text,
                              size_t text_size) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_explain: ctx is NULL");
    if (!request) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_plan_explain: request is NULL");
    OCLA_LOCK(ctx);
    ocla_plan local_plan;
    ocla_plan *p = plan ? plan : &local_plan;
    ocla_plan_request r = *request;
    r.chunk = ocla__resolve_chunk(ctx, r.chunk);
    ocla_status st = ocla__plan_for(ctx, &r, p);
    if (st == OCLA_SUCCESS && text && text_size > 0) {
        ocla__plan_describe(p, text, text_size);
        if (request->chunk == 0 && ctx->env_chunk > 0 && strlen(text) + 14 < text_size) strcat(text, " (OCLA_CHUNK)");
    }
    OCLA_UNLOCK(ctx);
    return st;
}
