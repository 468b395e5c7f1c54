/* The attention backward's plan, shared by its scheduler row (runtime/plan_bwd.c) and the op
 * (runtime/op_attention_bwd.c): the request flag for "no dg", the temporaries' layout in the
 * context's scratch slots, and the tiles read back from a plan. Not installed. */
#ifndef OCLA_PLAN_BWD_H
#define OCLA_PLAN_BWD_H

#include <stddef.h>

#include "ocla/ocla.h"

/* Request flag (private to the backward): the caller passes no dg tensor, so bwd_dg_out is not
 * planned. Without it (ocla_plan_explain's default) the plan is the one with dg. */
#define OCLA__PLAN_BWD_NO_DG (1u << 16)

/* The scratch slots the backward uses (the attention range, see runtime/internal.h). */
#define OCLA__BWD_SLOT0 0
#define OCLA__BWD_SLOTS 4

/* Temporaries, each a region of one scratch slot (sizes in floats: docs/TRAINING.md, "Memory"). */
typedef enum ocla__bwd_region {
    OCLA__BWD_GRAW,  /* clamped gates [BH][T][GW]                      slot 0 */
    OCLA__BWD_GCUM,  /* chunk-local cumulative gates [BH][T][GW]       slot 0 */
    OCLA__BWD_GEXP,  /* token decays exp(graw) [BH][T][GW]             slot 0 */
    OCLA__BWD_GFAC,  /* vector gates: exp(G), exp(-G), exp(G_l - G)    slot 0 */
    OCLA__BWD_DECAY, /* fixed per-head decays [H]                      slot 0 */
    OCLA__BWD_A,     /* intra-chunk A [BH][NT][C][C]                    slot 0 */
    OCLA__BWD_DA,    /* intra-chunk dA                                  slot 0 */
    OCLA__BWD_HS,    /* chunk states [BH][NT+1][VV][K]                  slot 1 */
    OCLA__BWD_W0,    /* the first chunk's state gradient term [BH][K][VV] slot 1 */
    OCLA__BWD_DHS,   /* state gradients [BH][NT][K][VV]                 slot 2 */
    OCLA__BWD_DHST,  /* the same, [BH][NT][VV][K]                       slot 2 */
    OCLA__BWD_DOP,   /* normaliser: do' [BH][T][VV]                     slot 3 */
    OCLA__BWD_DQH,   /* dq before phi' [BH][T][K]                       slot 3 */
    OCLA__BWD_DKH,   /* dk before phi' [BH][T][K]                       slot 3 */
    OCLA__BWD_DGV,   /* per-dimension dg [BH][T][K] (gated)             slot 3 */
    OCLA__BWD_REGIONS
} ocla__bwd_region;

typedef struct ocla__bwd_layout {
    int slot[OCLA__BWD_REGIONS];         /* 0..OCLA__BWD_SLOTS-1, relative to OCLA__BWD_SLOT0 */
    size_t off[OCLA__BWD_REGIONS];       /* floats from the start of the slot (aligned to 64 floats) */
    size_t floats[OCLA__BWD_REGIONS];    /* 0 where the variant does not use the region */
    size_t slot_bytes[OCLA__BWD_SLOTS];  /* what each slot must hold */
} ocla__bwd_layout;

/* The layout for request r (B, T, H, K, V, gate, OCLA_PLAN_NORMALIZE) at chunk C. Returns 0, or
 * nonzero when a size overflows size_t. Pure. */
int ocla__bwd_layout_for(const ocla_plan_request *r, int chunk, ocla__bwd_layout *out);

/* The tiles of a backward plan: "CHUNK TS TILED WG" (WG = work-group of the item-per-entry
 * kernels; the tiled kernels run work-groups of TS). */
typedef struct ocla__bwd_tiles {
    int chunk, ts, tiled, wg;
} ocla__bwd_tiles;
void ocla__bwd_tiles_from_plan(const ocla_plan *p, ocla__bwd_tiles *t);

#endif
