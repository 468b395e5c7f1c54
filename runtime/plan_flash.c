/* Scheduler row of FLASH mixed chunk attention (runtime/op_flash.c, kernels_cl/flash.cl).
 * Pure function of (limits, request). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "plan.h"

static const int k_chunks[] = {16, 32, 64, 128, 256};

/* ---- FLASH mixed chunk and tiled softmax (kernels by another helper; rows may change) ---- */
static int flash_fits(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p) {
    const uint64_t W = ocla__plan_wg_limit(L), avail = ocla__plan_local_avail(L);
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


const ocla_plan_row ocla__plan_row_flash = {"FLASH", k_chunks, 5, flash_fits};
