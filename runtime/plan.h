/* The scheduler's internal interface: one row per op kind (runtime/plan_*.c) and the device
 * profile the rows read. Pure functions of (limits, request): no device, no I/O, no op file.
 * Not installed. */
#ifndef OCLA_PLAN_H
#define OCLA_PLAN_H

#include "ocla/ocla.h"

/* One op kind's planning rule: candidate chunk sizes (NULL = the op has no chunk: one call of
 * fits with chunk 0) and a function that fills the plan for one chunk, returning 0 when it fits. */
typedef struct ocla_plan_row {
    const char *name;
    const int *chunks;
    int n_chunks;
    int (*fits)(const ocla_plan_limits *L, const ocla_plan_request *r, int chunk, ocla_plan *p);
    int any_forced; /* a forced chunk need not be a candidate (FLASH: the chunk is a model setting) */
} ocla_plan_row;

extern const ocla_plan_row ocla__plan_row_la;        /* plan_la.c: linear / simple GLA / GLA chunk */
extern const ocla_plan_row ocla__plan_row_recurrent; /* plan_la.c */
extern const ocla_plan_row ocla__plan_row_flash;     /* plan_flash.c */
extern const ocla_plan_row ocla__plan_row_softmax;   /* plan_softmax.c */
extern const ocla_plan_row ocla__plan_row_backward;  /* plan_bwd.c */

/* Helpers the rows share (plan.c). */
uint64_t ocla__plan_wg_limit(const ocla_plan_limits *L); /* kernel limit if known, device, item size 0 */
uint64_t ocla__plan_local_avail(const ocla_plan_limits *L);
/* Record tile names and values: names is a space-separated list matching vals. */
void ocla__plan_set_tiles(ocla_plan *p, const char *names, const int32_t *vals, int n);
/* Small-grid penalty: cost grows when fewer work-groups than the device runs at once. */
double ocla__plan_grid_penalty(const ocla_plan_limits *L, double work_groups);

/* ---- linear attention family tiles (plan_la.c; the op reads them back from plan.tile) ---- */
typedef struct ocla__la_tiles {
    int chunk, sub;          /* C, GLA sub-chunk (0 = none) */
    int gv;                  /* per-key-dimension gates */
    int bv, tm, tn, bka;     /* output kernel: value tile, per-item outputs, key slab */
    int sbk, sbv, stm, stn, sjb; /* state kernel */
    int out_threads, state_threads;
    uint64_t out_local, state_local; /* bytes of __local arguments per work-group */
} ocla__la_tiles;
int ocla__la_tiles_for(const ocla_plan_limits *L, ocla_op_kind op, int64_t K, int64_t V, int chunk,
                       ocla__la_tiles *out);
/* The tiles back from a portable linear-attention plan. */
void ocla__la_tiles_from_plan(const ocla_plan *p, ocla__la_tiles *t);

/* ---- device profile (plan.c; needs a context) ---- */
/* Limits of this context's device as the plan function wants them: device limits, the per-kernel
 * work-group limit of a probe kernel (llvmpipe reports 32), vendor paths and precision options.
 * Probed once per context. Caller holds the context lock. */
ocla_status ocla__plan_limits(ocla_context *ctx, ocla_plan_limits *limits);
/* The chunk an op runs with when it was not given one: params' chunk, else OCLA_CHUNK (read once
 * at context creation), else 0 (the scheduler picks). */
int ocla__resolve_chunk(const ocla_context *ctx, int param_chunk);
/* One line: path, kernels, chunk, tiles and the reason (ocla_plan_explain's text). */
int ocla__plan_describe(const ocla_plan *p, char *text, size_t size);
/* ocla_plan_compute with the context's limits; failures carry their detail in ctx. */
ocla_status ocla__plan_for(ocla_context *ctx, const ocla_plan_request *r, ocla_plan *plan);

#endif
