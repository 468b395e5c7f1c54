/* SPDX-License-Identifier: MIT */
/* Kernel variants as data. A kernel family is one .cl source and the list of -D macros its
 * variants set; a variant is a family plus values (gate kind, feature map, normaliser and the
 * family's tiles). ocla__variant_options() (variant.c) is the only place where build options are
 * formed; ocla__variant_kernel() finds a built kernel by the variant's compact key (no hashing, no
 * allocation once built). Not installed.
 *
 * One gate encoding everywhere (kernels_cl/common.cl defines the defaults):
 *   OCLA_GATE_NONE   -> no macro                plain linear attention
 *   OCLA_GATE_SCALAR -> -DUSE_G=1               one log gate per token and head  (fla: g)
 *   OCLA_GATE_FIXED  -> -DUSE_G_GAMMA=1         a fixed per-head log decay       (fla: g_gamma)
 *   OCLA_GATE_VECTOR -> -DUSE_GK=1              per-key-dimension log gates      (fla: gk)
 * Kernels that take the gate kind as a run-time argument take the ocla_gate_kind value itself
 * (OCLA_GATE_NONE .. OCLA_GATE_FIXED, mirrored in common.cl). */
#ifndef OCLA_VARIANT_H
#define OCLA_VARIANT_H

#include <stdint.h>

#include "ocla/ocla.h"

#define OCLA_VARIANT_TILES 16

/* Which variant fields a family's kernels read at compile time (others are zeroed in the key). */
enum {
    OCLA_VF_GATE = 1u << 0,    /* USE_G / USE_G_GAMMA / USE_GK */
    OCLA_VF_FEATURE = 1u << 1, /* FEATURE=<ocla_feature_map> */
    OCLA_VF_NORM = 1u << 2,    /* USE_NORM=1 */
    OCLA_VF_NV_EXTRA = 1u << 4 /* append the context's OCLA_NV_OPTIONS (kernel experiments) */
};

typedef struct ocla_kfamily {
    const char *source;                   /* kernels_cl/<source>.cl (after common.cl) */
    unsigned fields;                      /* OCLA_VF_* */
    const char *tiles[OCLA_VARIANT_TILES]; /* -D name of tile[i]; NULL ends the list */
} ocla_kfamily;

typedef struct ocla_variant {
    const ocla_kfamily *fam;
    int8_t gate, feature, norm;
    int32_t tile[OCLA_VARIANT_TILES]; /* values for fam->tiles; a tile < 0 is left out (kernel default) */
} ocla_variant;

/* A variant of fam with every value zero (no gate, identity feature map, no normaliser) and every
 * tile left out. */
ocla_variant ocla__variant(const ocla_kfamily *fam);

/* The kernel named name of this variant, built on first use (memory cache, then disk cache, then
 * the driver), with its limits. A hit compares the compact key only. */
typedef struct ocla_kernel_entry ocla_kernel_entry;
ocla_status ocla__variant_kernel(ocla_context *ctx, const ocla_variant *v, const char *name, cl_kernel *out);
ocla_status ocla__variant_entry(ocla_context *ctx, const ocla_variant *v, const char *name,
                                const ocla_kernel_entry **out);

/* The build options of v (as ocla__variant_entry forms them, without the context's OCLA_NV_OPTIONS),
 * each after a space. Returns 0, or -1 when they do not fit in size. */
int ocla__variant_build_options(const ocla_variant *v, char *buf, size_t size);

/* ---- which variants the runtime builds (variant_list.c; pure) ----
 * The variant that builds kernel `name` of plan p, planned for request r: every op builds the
 * kernels its plan names through this. Returns 0, or -1 where the plan names no such kernel. */
int ocla__plan_kernel_variant(const ocla_plan *p, const ocla_plan_request *r, const char *name, ocla_variant *v);

/* The kernels that run without a plan, each family with its kernels (space-separated); the list
 * ends with a NULL family. Their families have no options: one variant each. */
typedef struct ocla_fixed_build {
    const ocla_kfamily *fam;
    const char *kernels;
} ocla_fixed_build;
extern const ocla_fixed_build ocla__fixed_builds[];
extern const ocla_kfamily ocla_fam_selftest;      /* selftest.cl (ocla_selftest, ocla-info) */
extern const ocla_kfamily ocla__fam_probe;        /* la_probe.cl: the work-group limit probe (plan.c) */
extern const ocla_kfamily ocla__fam_layer_common; /* layer_common.cl: the layers' projection bias */
extern const ocla_kfamily ocla__fam_gau;          /* gau.cl: the GAU layer */
extern const ocla_kfamily ocla__fam_gau_bwd;      /* gau_bwd.cl: the GAU layer's backward */
extern const ocla_kfamily ocla__fam_gla_layer;    /* gla_layer.cl: the GLA layer's norm and gate */
extern const ocla_kfamily ocla__fam_gate;         /* gate.cl: the log-sigmoid gate op */
extern const ocla_kfamily ocla__fam_optim;        /* optim.cl: the SGD step */
extern const ocla_kfamily ocla__fam_layer_bwd;    /* layer_bwd.cl: the layers' backward steps */
extern const ocla_kfamily ocla__fam_nv;           /* attn_mma_nv.cl: the NVIDIA path (and its probe) */
extern const ocla_kfamily ocla__fam_nv_fused32;   /* attn_fused32_nv.cl: the fp32 single pass */
extern const ocla_kfamily ocla__fam_nv_fused;     /* attn_fused_nv.cl: the bf16 single pass (and the wgmma probe) */

#endif
