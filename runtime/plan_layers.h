/* Kernel families of the softmax and FLASH ops and the bridge between a plan and a variant: the
 * scheduler rows (plan_softmax.c, plan_flash.c) record a kernel's tiles under the family's own -D
 * names and in the family's order, so the op (op_softmax.c, op_flash.c) builds the variant straight
 * from the plan it runs. Not installed. */
#ifndef OCLA_PLAN_LAYERS_H
#define OCLA_PLAN_LAYERS_H

#include <string.h>

#include "internal.h"
#include "plan.h"

/* kernels_cl/softmax.cl. Tiles in this order are the plan's tile[] for the kernel the plan names. */
extern const ocla_kfamily ocla__fam_softmax_tiled;  /* sm_tiled:   TX TY RM KN VS DK DV VEC4 LSUM */
extern const ocla_kfamily ocla__fam_softmax_onerow; /* sm_forward: ONE_ROW(=1) BQ DK DV */
enum { SM_TX, SM_TY, SM_RM, SM_KN, SM_VS, SM_DK, SM_DV, SM_VEC4, SM_LSUM, SM_NTILES };
enum { SMR_ONE_ROW, SMR_BQ, SMR_DK, SMR_DV, SMR_NTILES };
#define OCLA_SM_KS 32 /* sm_tiled's q/k slab width (KS in softmax.cl) */
#define OCLA_SM_MAX_D 256

/* kernels_cl/flash.cl: no compile-time tiles (one program for every chunk and shape). */
extern const ocla_kfamily ocla__fam_flash;

/* Record fam's tile names (space-separated, in the family's order) and values in the plan. */
static inline void ocla__plan_set_family_tiles(ocla_plan *p, const ocla_kfamily *fam, const int32_t *vals) {
    char names[sizeof p->tile_names];
    size_t off = 0;
    int n = 0;
    names[0] = 0;
    for (; n < OCLA_VARIANT_TILES && n < OCLA_PLAN_TILES && fam->tiles[n]; n++) {
        const size_t len = strlen(fam->tiles[n]);
        if (off + len + 2 > sizeof names) break;
        if (n) names[off++] = ' ';
        memcpy(names + off, fam->tiles[n], len + 1);
        off += len;
    }
    ocla__plan_set_tiles(p, names, vals, n);
}

/* The variant of fam whose tiles are the plan's (the family's order). */
static inline ocla_variant ocla__variant_from_plan(const ocla_kfamily *fam, const ocla_plan *p) {
    ocla_variant v = ocla__variant(fam);
    for (int i = 0; i < OCLA_VARIANT_TILES && i < OCLA_PLAN_TILES && fam->tiles[i]; i++) v.tile[i] = p->tile[i];
    return v;
}

#endif
