/* Tile configuration behind an ocla_plan for the chunked linear-attention family (runtime/plan.c,
 * used by runtime/op_attention.c). Not installed. */
#ifndef OCLA_ATTN_PLAN_H
#define OCLA_ATTN_PLAN_H

#include "ocla/ocla.h"

typedef struct ocla__la_tiles {
    int chunk, sub;          /* C, GLA sub-chunk (0 = none) */
    int gv;                  /* per-key-dimension gates */
    int bv, tm, tn, bka;     /* output kernel: value tile, per-item outputs, key slab */
    int sbk, sbv, stm, stn, sjb; /* state kernel */
    int out_threads, state_threads;
    uint64_t out_local, state_local; /* bytes of __local arguments per work-group */
} ocla__la_tiles;

/* Tiles for one chunk size: returns 0 when it fits the limits (local memory minus the kernel's own,
 * work-group limit), nonzero otherwise. op: LINEAR / SIMPLE_GLA / GLA chunk kinds. */
int ocla__la_tiles_for(const ocla_plan_limits *L, ocla_op_kind op, int64_t K, int64_t V, int chunk,
                       ocla__la_tiles *out);

/* Work-group limit the plan must respect: kernel limit if known, device limit, work-item size 0. */
uint64_t ocla__plan_wg_limit(const ocla_plan_limits *L);

/* Limits of this context's device for the plan, including the per-kernel work-group limit of a
 * probe kernel (llvmpipe reports 32). Caller holds the context lock. (runtime/op_attention.c) */
ocla_status ocla__attn_device_limits(ocla_context *ctx, ocla_plan_limits *limits);

#endif
