/* SPDX-License-Identifier: MIT */
/* Which kernel variants the runtime builds (variant.h): the variant of each kernel a plan names,
 * and the kernels that run without a plan. The ops build their kernels through these, and
 * tests/tools/ocla_variants.c walks them to list every variant for the vendor compile check
 * (.ci/checks/16-vendor-compile.sh). Pure: no device, no context. */
#include <string.h>

#include "plan.h"

/* Each tile of a variant takes its value by name (tile_value, below): the element types from the
 * request, any other from the plan's tile of that name. */
/* kernels_cl/linear_attn.cl: the portable chunked kernels, the plan's tiles (plan_la.c; its GV is the
 * kernel's USE_GK), then the element types; not the gates' (OCLA_GTYPE), which la_gate_cumsum alone
 * reads: half requests build it from fam_half_cumsum. */
static const ocla_kfamily fam_chunk = {"linear_attn",
                                       0,
                                       {"CHUNK", "SUB", "USE_GK", "BV", "TM", "TN", "BKA", "SBK", "SBV", "STM", "STN",
                                        "SJB", "OCLA_DTYPE", "OCLA_OTYPE", NULL}};
/* kernels_cl/linear_attn_cpu.cl: the CPU-shaped chunked kernels (plan_la.c, la_tiles_cpu); of the
 * plan's tiles CHUNK SUB GV TM TN and LANES (LC_LANES: left out where 1); the value slices are
 * run-time values */
static const ocla_kfamily fam_chunk_cpu = {"linear_attn_cpu", 0, {"CHUNK", "SUB", "USE_GK", "TM", "TN", "LC_LANES", NULL}};
/* kernels_cl/linear_attn_blk.cl: llvmpipe's register-block kernels (plan_la.c, la_tiles_blk): CHUNK
 * and TM TN STM STN, LB_IMG (image views: from the request, ocla__la_blk_images; the prepared op
 * takes the variant without them where a layout or the device does not allow them); the gate
 * (scalar, fixed or per-key: USE_GK) and the feature map compile in */
static const ocla_kfamily fam_chunk_blk = {"linear_attn_blk", OCLA_VF_GATE | OCLA_VF_FEATURE,
                                           {"CHUNK", "TM", "TN", "STM", "STN", "LB_IMG", NULL}};
/* the recurrent kernel: the plan's tiles, then the element types (common.cl) */
static const ocla_kfamily fam_rec = {"linear_attn_rec", 0, {"RV", "RK", "KR", "OCLA_DTYPE", "OCLA_GTYPE", "OCLA_OTYPE", NULL}};
/* The softmax kernels as built: the plan's tiles (plan_softmax.c's families), then the element type
 * of q, k, v, o (and the backward's do and gradients) from the request's OCLA_PLAN_BF16 / _F16. */
static const ocla_kfamily fam_sm_tiled = {"softmax", 0, {"TX", "TY", "RM", "KN", "VS", "DK", "DV", "VEC4", "LSUM", "OCLA_DTYPE", NULL}};
static const ocla_kfamily fam_sm_onerow = {"softmax", 0, {"ONE_ROW", "BQ", "DK", "DV", "OCLA_DTYPE", NULL}};
static const ocla_kfamily fam_sm_bwd = {"softmax_bwd", 0, {"BQ", "BK", "DS", "DK", "DV", "OCLA_DTYPE", NULL}};
/* kernels_cl/softmax_mma_nv.cl: the NVIDIA tensor-core forward (plan_softmax.c, mma_fits), fp32 only: the
 * plan's DK DV SPLIT in its order (the context's OCLA_NV_OPTIONS appended, as the other NVIDIA kernels). */
static const ocla_kfamily fam_sm_nv = {"softmax_mma_nv", OCLA_VF_NV_EXTRA, {"DK", "DV", "SPLIT", NULL}};
/* kernels_cl/linear_attn_decode.cl: one decode step (plan_la.c, decode_plan): the plan's CW RB VEC (its
 * DV and KS are the launch's local size, read by the kernel at run time), then the element types */
static const ocla_kfamily fam_decode = {"linear_attn_decode", 0, {"CW", "RB", "VEC", "OCLA_DTYPE", "OCLA_GTYPE", "OCLA_OTYPE", NULL}};
static const ocla_kfamily fam_norm = {"la_normalize", 0, {"OCLA_DTYPE", NULL}}; /* o's type (u is fp32) */
/* kernels_cl/attn_bwd.cl: of the plan's CHUNK TS TILED WG TPG (plan_bwd.c) the kernels read TS and TPG (left
 * out where 1: one tile per work-group) */
static const ocla_kfamily fam_bwd = {"attn_bwd", OCLA_VF_GATE | OCLA_VF_FEATURE | OCLA_VF_NORM, {"TS", "TPG", NULL}};
/* kernels_cl/flash_bwd.cl: the FLASH backward's own kernels (its plan also names flash.cl's states and
 * prefix); as the forward's family, the one option is the element type (OCLA_DTYPE, from the request). */
static const ocla_kfamily fam_flash_bwd = {"flash_bwd", 0, {"OCLA_DTYPE", NULL}};
/* The NVIDIA path's kernels, as runtime/attention_nv.c builds them: CHUNK VEC IDX32 SPLIT from the
 * plan (which the prepared op may narrow to its layouts; packed: IDX32 from its sequence count),
 * VARLEN=1 for packed sequences, the data and scalar gates' types of a half request, gate and feature
 * map from the request; and la_gate_cumsum(_seq) of linear_attn.cl at the path's chunk. */
const ocla_kfamily ocla__fam_nv = {"attn_mma_nv", OCLA_VF_GATE | OCLA_VF_FEATURE | OCLA_VF_NV_EXTRA,
                                   {"CHUNK", "VEC", "IDX32", "SPLIT", "VARLEN", "OCLA_DTYPE", "OCLA_GTYPE", NULL}};
/* kernels_cl/attn_fused_nv.cl: the NVIDIA single-pass forward of bf16 linear attention, simple GLA and
 * retention (plan_la.c): the plan's IDX32, FSEG where the plan cuts the sequence in segments (1 for
 * mma_fused_part, 2 for mma_fused_fwd), the data type and the scalar gates' type, WG=1 for
 * mma_fused_fwd where the plan has it (the scores on sm_90a warpgroup products); the gate kind from
 * the request (no feature map: it runs without). */
const ocla_kfamily ocla__fam_nv_fused = {"attn_fused_nv", OCLA_VF_GATE | OCLA_VF_NV_EXTRA,
                                         {"IDX32", "FSEG", "OCLA_DTYPE", "OCLA_GTYPE", "WG", NULL}};
/* kernels_cl/attn_fused32_nv.cl: the NVIDIA single-pass forward of fp32 linear attention, simple GLA
 * and retention (plan_la.c): the plan's IDX32 and SPLIT, F32SEG where the plan cuts the sequence (1
 * for mma_fused32_part, 2 for mma_fused32_fwd); the gate kind from the request. */
const ocla_kfamily ocla__fam_nv_fused32 = {"attn_fused32_nv", OCLA_VF_GATE | OCLA_VF_NV_EXTRA,
                                           {"IDX32", "SPLIT", "F32SEG", NULL}};
static const ocla_kfamily fam_nv_cumsum = {"linear_attn", 0, {"CHUNK", NULL}};
/* Half requests: la_gate_cumsum(_seq), the one kernel that reads the gates, in a program of its own
 * (the chunk and the gates' type), so that the states and output kernels' variants do not multiply
 * by the gates' type. */
static const ocla_kfamily fam_half_cumsum = {"linear_attn", 0, {"CHUNK", "OCLA_GTYPE", NULL}};
/* The NVIDIA backward's kernels (runtime/attention_bwd_nv.c): the same source and plan tiles, REV=1
 * for the reverse forms (names with _rev, and mma_bwd_dg), HT=1 for the output kernel that reads the
 * states transposed (names ending _t); for half data their type, fp32 states (HS32) and the products'
 * output type (fp32 for dq and dk where the gate gradient finishes them). */
static const ocla_kfamily fam_nv_bwd = {"attn_mma_nv", OCLA_VF_GATE | OCLA_VF_FEATURE | OCLA_VF_NV_EXTRA,
                                        {"CHUNK", "VEC", "IDX32", "SPLIT", "REV", "HT", "OCLA_DTYPE", "OCLA_OTYPE",
                                         "HS32", NULL}};

/* Families of the kernels that run without a plan (no options: one variant each). */
const ocla_kfamily ocla_fam_selftest = {"selftest", 0, {NULL}};
const ocla_kfamily ocla__fam_probe = {"la_probe", 0, {NULL}};
const ocla_kfamily ocla__fam_layer_common = {"layer_common", 0, {NULL}};
const ocla_kfamily ocla__fam_gau = {"gau", 0, {NULL}};
/* kernels_cl/gau_bwd.cl: the GAU layer's backward steps (layer_gau_bwd.c; its norm step is gau.cl's) */
const ocla_kfamily ocla__fam_gau_bwd = {"gau_bwd", 0, {NULL}};
const ocla_kfamily ocla__fam_gla_layer = {"gla_layer", 0, {NULL}};
const ocla_kfamily ocla__fam_gate = {"gate", 0, {NULL}};
const ocla_kfamily ocla__fam_optim = {"optim", 0, {NULL}};
/* ---- model (runtime/model_forward.c; declared in runtime/model_internal.h) ---- */
extern const ocla_kfamily ocla__fam_model;
const ocla_kfamily ocla__fam_model = {"model", 0, {NULL}};
/* ---- end model ---- */
/* kernels_cl/layer_bwd.cl: the layers' backward steps (layer_bwd_common.c, layer_gla_bwd.c) */
const ocla_kfamily ocla__fam_layer_bwd = {"layer_bwd", 0, {NULL}};

const ocla_fixed_build ocla__fixed_builds[] = {
    {&ocla_fam_selftest, "ocla_selftest_axpy"},
    {&ocla__fam_probe, "la_probe"},
    {&ocla__fam_layer_common, "layer_add_bias layer_to_f32 layer_from_f32"},
    {&ocla__fam_gau, "gau_norm gau_split gau_gate gau_out gau_norm_bwd"},
    {&ocla__fam_gau_bwd, "gau_bwd_gate gau_bwd_vz"},
    {&ocla__fam_gla_layer, "gla_norm_gate"},
    {&ocla__fam_gate, "gate_logsigmoid gate_logsigmoid_bwd"},
    {&ocla__fam_optim, "sgd_step"},
    {&ocla__fam_model, "model_embed model_add_rmsnorm model_swiglu model_map model_short_conv model_conv_state"}, /* the whole-model steps */
    {&ocla__fam_layer_bwd, "layer_colsum gla_norm_gate_bwd layer_fill"},
    {&ocla__fam_nv, "mma_probe"}, /* the NVIDIA path's capability probe (attention_nv.c), defaults */
    {NULL, NULL}};

/* Where word is in list (words separated by spaces and commas): its index, or -1. */
static int word_index(const char *list, const char *word) {
    const size_t n = strlen(word);
    int i = 0;
    for (const char *s = list + strspn(list, ", "); *s; s += strspn(s, ", "), i++) {
        const size_t len = strcspn(s, ", ");
        if (len == n && !strncmp(s, word, n)) return i;
        s += len;
    }
    return -1;
}

/* A family's tiles that the plan names otherwise: {the kernel's -D name, the plan's} (plan_la.c: the
 * plan's GV is linear_attn.cl's USE_GK, its LANES linear_attn_cpu.cl's LC_LANES). */
static const char *const k_plan_name[][2] = {{"USE_GK", "GV"}, {"LC_LANES", "LANES"}};
/* Tiles left out where the plan's value is 1, their kernels' default (one tile per work-group, one
 * work-item per work-group). */
static const char *const k_default_one = "TPG LC_LANES";

/* The value of tile `tile` in the variant of kernel `name` of plan p for request r (-1: left out):
 *   OCLA_DTYPE  the data type of a half request (common.cl), -1 for fp32 (the kernels' default);
 *   OCLA_GTYPE  the gates' type: the data type where a gate tensor exists (scalar or per-key gates;
 *               fixed decays are fp32) and OCLA_PLAN_HALF_GATE says so;
 *   OCLA_OTYPE  fp32 where the normaliser divides the outputs later (la_normalize rounds once), and
 *               for the NVIDIA backward's dq and dk (_t) where the gate gradient finishes them;
 *   HS32        1 for the NVIDIA backward's kernels with half data (fp32 states), but bf16 data
 *               without a gate (ocla__nv_bwd_bf16_states: bf16 states);
 *   VARLEN      1 for packed sequences (the NVIDIA path's kernels);
 *   LB_IMG      1 where linear_attn_blk.cl may read through image views (ocla__la_blk_images);
 *   REV, HT     from the kernel's name (the NVIDIA backward: _rev and mma_bwd_dg, a trailing _t);
 *   FSEG        the NVIDIA single pass in segments: 1 for mma_fused_part, 2 for mma_fused_fwd where
 *               the plan lists mma_fused_part too; F32SEG likewise for mma_fused32_part / _fwd;
 *   WG          the plan's, for mma_fused_fwd only;
 *   any other   the plan's tile of that name (k_plan_name), left out where the plan has none. */
static int32_t tile_value(const char *tile, const ocla_plan *p, const ocla_plan_request *r, const char *name) {
    const int dt = ocla__plan_dtype(r);
    const size_t n = strlen(name);
    const int ht = n > 2 && !strcmp(name + n - 2, "_t"); /* the NVIDIA backward's transposed-state forms */
    if (!strcmp(tile, "OCLA_DTYPE")) return dt;
    if (!strcmp(tile, "OCLA_GTYPE")) /* the NVIDIA kernels read per-key gates as la_gate_cumsum's fp32 sums */
        return (r->gate == OCLA_GATE_SCALAR || (r->gate == OCLA_GATE_VECTOR && strncmp(name, "mma_", 4))) &&
                       (r->flags & OCLA_PLAN_HALF_GATE)
                   ? dt
                   : -1;
    if (!strcmp(tile, "OCLA_OTYPE") && r->op == OCLA_OP_ATTN_BACKWARD) /* dq, dk for the gate gradient */
        return dt >= 0 && (r->gate == OCLA_GATE_SCALAR || r->gate == OCLA_GATE_VECTOR) &&
                       !(r->flags & OCLA__PLAN_BWD_NO_DG) && ht
                   ? OCLA_F32
                   : -1;
    if (!strcmp(tile, "OCLA_OTYPE")) return dt >= 0 && (r->flags & OCLA_PLAN_NORMALIZE) ? OCLA_F32 : -1;
    if (!strcmp(tile, "HS32"))
        return dt >= 0 && r->op == OCLA_OP_ATTN_BACKWARD && !ocla__nv_bwd_bf16_states(r) ? 1 : -1;
    if (!strcmp(tile, "VARLEN")) return (r->flags & OCLA_PLAN_VARLEN) ? 1 : -1;
    if (!strcmp(tile, "LB_IMG")) return ocla__la_blk_images(r) ? 1 : -1; /* linear_attn_blk.cl's image views */
    if (!strcmp(tile, "REV")) return strstr(name, "_rev") || !strncmp(name, "mma_bwd_dg", 10) ? 1 : -1;
    if (!strcmp(tile, "HT")) return ht ? 1 : -1;
    if (!strcmp(tile, "WG") && strcmp(name, "mma_fused_fwd")) return -1; /* the scores' products only */
    if (!strcmp(tile, "F32SEG")) /* the plan lists mma_fused32_part where it cuts the sequence */
        return !strcmp(name, "mma_fused32_part") ? 1 : strstr(p->kernels, "mma_fused32_part") ? 2 : -1;
    if (!strcmp(tile, "FSEG")) /* the plan lists mma_fused_part where it cuts the sequence */
        return !strcmp(name, "mma_fused_part") ? 1 : strstr(p->kernels, "mma_fused_part") ? 2 : -1;
    const char *in_plan = tile;
    for (size_t i = 0; i < sizeof k_plan_name / sizeof *k_plan_name; i++)
        if (!strcmp(tile, k_plan_name[i][0])) in_plan = k_plan_name[i][1];
    const int at = word_index(p->tile_names, in_plan);
    if (at < 0 || at >= OCLA_PLAN_TILES) return -1;
    return p->tile[at] == 1 && word_index(k_default_one, tile) >= 0 ? -1 : p->tile[at];
}

int ocla__plan_kernel_variant(const ocla_plan *p, const ocla_plan_request *r, const char *name, ocla_variant *v) {
    if (word_index(p->kernels, name) < 0) return -1;
    const ocla_kfamily *fam = NULL;
    const int nv = p->path == OCLA_PATH_NVIDIA_MMA;
    switch (p->op) {
    case OCLA_OP_LINEAR_CHUNK:
    case OCLA_OP_SIMPLE_GLA_CHUNK:
    case OCLA_OP_GLA_CHUNK:
        /* the NVIDIA and CPU paths take the gate cumsums of linear_attn.cl at their chunk */
        fam = !strcmp(name, "la_normalize")                     ? &fam_norm
              : !strncmp(name, "la_cpu_", 7)                    ? &fam_chunk_cpu
              : !strncmp(name, "la_blk_", 7)                    ? &fam_chunk_blk
              : (r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16)) && !strncmp(name, "la_gate_cumsum", 14) ? &fam_half_cumsum
              : !nv && !strstr(p->kernels, "la_cpu_output") && !strstr(p->kernels, "la_blk_output") ? &fam_chunk
              : !strncmp(name, "la_gate_cumsum", 14)            ? &fam_nv_cumsum
              : !strncmp(name, "mma_fused32_", 12)              ? &ocla__fam_nv_fused32
              : !strncmp(name, "mma_fused_", 10)                ? &ocla__fam_nv_fused
                                                                : &ocla__fam_nv;
        break;
    case OCLA_OP_ATTN_RECURRENT:
        fam = !strcmp(name, "la_normalize") ? &fam_norm : !strcmp(name, "la_decode") ? &fam_decode : &fam_rec;
        break;
    case OCLA_OP_FLASH_CHUNK: fam = !strncmp(name, "flashb_", 7) ? &fam_flash_bwd : &ocla__fam_flash; break;
    case OCLA_OP_SOFTMAX_TILED:
        fam = nv ? &fam_sm_nv : !strcmp(name, "sm_tiled") ? &fam_sm_tiled : &fam_sm_onerow;
        break;
    case OCLA_OP_ATTN_BACKWARD:
        fam = !nv ? &fam_bwd : !strcmp(name, "la_gate_cumsum") ? &fam_nv_cumsum : &fam_nv_bwd;
        break;
    case OCLA_OP_SOFTMAX_BACKWARD: fam = &fam_sm_bwd; break;
    default: return -1;
    }
    *v = ocla__variant(fam);
    for (int i = 0; i < OCLA_VARIANT_TILES && fam->tiles[i]; i++) v->tile[i] = tile_value(fam->tiles[i], p, r, name);
    v->gate = (int8_t)r->gate;
    v->feature = (int8_t)r->feature;
    v->norm = (r->flags & OCLA_PLAN_NORMALIZE) != 0;
    return 0;
}
