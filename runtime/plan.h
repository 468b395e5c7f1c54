/* SPDX-License-Identifier: MIT */
/* The scheduler's internal interface: one rule per op kind (runtime/plan_*.c), the helpers the
 * rules share, what the ops read back from a plan (tiles, the backward's temporaries, the kernel
 * families whose tiles a plan records) and the device profile. The rules are pure functions of
 * (limits, request): no device, no I/O, no op file. Not installed. */
#ifndef OCLA_PLAN_H
#define OCLA_PLAN_H

#include "internal.h"

typedef struct ocla__plan_params ocla__plan_params; /* the vendor parameter table's row (below) */
/* An op kind's rule: fill the (zeroed) plan for one chunk (0 for an op without chunks) on limits L
 * whose parameter table row is P; 0 when it fits. */
typedef int ocla__plan_fits(const ocla_plan_limits *L, const ocla__plan_params *P, const ocla_plan_request *r,
                            int chunk, ocla_plan *p);
ocla__plan_fits ocla__la_fits;      /* plan_la.c: linear attention, simple GLA, GLA (chunked) */
ocla__plan_fits ocla__rec_fits;     /* plan_la.c: recurrent (decode) form */
ocla__plan_fits ocla__flash_fits;   /* plan_flash.c */
ocla__plan_fits ocla__softmax_fits; /* plan_softmax.c */
ocla__plan_fits ocla__bwd_fits;     /* plan_bwd.c */
ocla__plan_fits ocla__softmax_bwd_fits; /* plan_softmax.c: the softmax backward */

/* One row per op kind (plan.c): its name in messages, its candidate chunk sizes ({0}: the op has
 * no chunk, one plan, and a forced chunk is ignored) and its rule. */
typedef struct ocla_plan_row {
    const char *name;
    const int *chunks;
    int n_chunks;
    ocla__plan_fits *fits;
} ocla_plan_row;
extern const ocla_plan_row ocla__plan_rows[OCLA_OP_COUNT];
#define ocla__plan_row_flash (ocla__plan_rows[OCLA_OP_FLASH_CHUNK]) /* op_flash.c plans any C itself */
/* Request flags (private) of the FLASH backward (op_flash_bwd.c), planned by the FLASH row: its kernels
 * instead of the forward's, and with them the relative bias gradient's. */
#define OCLA__PLAN_FLASH_BWD (1u << 17)
#define OCLA__PLAN_FLASH_DBIAS (1u << 18)

/* ---- the vendor parameter table (runtime/plan_params.c): what the rules need to know about an
 * architecture beyond the OpenCL limits. Rows are data; the most specific row that matches the
 * device (vendor, then the architecture in its name) is used, else the default row, which keeps
 * the plans the scheduler made before the table. ---- */
struct ocla__plan_params {
    const char *name;      /* shown in ocla_plan_explain's reason */
    ocla_vendor vendor;    /* OCLA_VENDOR_UNKNOWN: the default row */
    int gpu;               /* 1: GPUs of the vendor only, 0: CPUs only, -1: either */
    const char *arch;      /* "|"-separated substrings of the device name (any case); NULL: the vendor's row */
    uint32_t wave;         /* lanes per wave (warp, wavefront, sub-group); 0: unknown (simd_width) */
    uint32_t regs;         /* 32-bit registers per lane before a kernel spills; 0: unknown */
    uint64_t local_per_cu; /* local memory the work-groups of one compute unit share; 0: unknown */
    int want_wgs;          /* work-groups per compute unit the tiles keep where the op allows */
    int sm_block_max;      /* largest softmax block whose sm_tiled kernel stays within regs */
    int cpu_kernels;       /* the linear attention forward's CPU-shaped kernels (plan_la.c) on this row's CPUs:
                            * 0 none, else their work-items per work-group (LC_LANES): 1 for drivers that
                            * vectorise within a work-item (PoCL), the SIMD width for those that vectorise
                            * across work-items (llvmpipe) */
    int cpu_block;         /* 1: linear attention, simple GLA and GLA take linear_attn_blk.cl's
                            * register-block kernels on this row's CPUs (a work-item per 8 x 8 block; the
                            * drivers that vectorise across work-items: llvmpipe), cpu_kernels' others */
    int la_bv_max;         /* the portable linear-attention output kernel's value block (BV) at most, 0: no
                            * limit (plan_la.c; a wider one spills on this row's devices) */
};
/* The row for a device: by vendor, CPU or GPU, and device name (NULL: none). Never NULL. */
const ocla__plan_params *ocla__plan_params_find(ocla_vendor vendor, int is_gpu, const char *name);
/* The row for limits (their vendor, is_gpu and arch). */
const ocla__plan_params *ocla__plan_params_for(const ocla_plan_limits *L);
/* The wave width the rules use: simd_width, else the row's; 0 when neither knows. */
uint32_t ocla__plan_wave(const ocla_plan_limits *L, const ocla__plan_params *P);
/* Work-groups of local_bytes each that one compute unit holds by local memory: 0 when the row does
 * not know the compute unit's local memory (or the work-group uses none). */
int ocla__plan_wgs_per_cu(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t local_bytes);
/* Cost factor for a work-group of local_bytes: 1 where it keeps the row's work-groups per compute
 * unit (or the row does not know), above 1 the fewer it keeps. */
double ocla__plan_occupancy_penalty(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t local_bytes);
/* Cost factor for a work-group of `items` work-items: 1 where they fill whole waves (or the wave
 * is unknown), wave-rounded items / items otherwise (AMD: 32 items fill half a wave64). */
double ocla__plan_wave_penalty(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t items);

/* Helpers the rules share (plan.c). */
uint64_t ocla__plan_wg_limit(const ocla_plan_limits *L); /* kernel limit if known, device, item size 0 */
uint64_t ocla__plan_local_avail(const ocla_plan_limits *L);
/* Record the tiles: names is a NULL-terminated list (a family's tiles) matching vals. */
void ocla__plan_set_tiles(ocla_plan *p, const char *const *names, const int32_t *vals);
/* Record the kernels in launch order, separated by ", " (or one space), and count them as passes. */
void ocla__plan_set_kernels(ocla_plan *p, const char *fmt, ...) OCLA_PRINTF(2, 3);
/* Small-grid penalty: cost grows when fewer work-groups than the device runs at once. */
double ocla__plan_grid_penalty(const ocla_plan_limits *L, double work_groups);

/* ---- linear attention family tiles (plan_la.c; the op reads them back from plan.tile) ---- */
typedef struct ocla__la_tiles {
    int chunk, sub;          /* C, GLA sub-chunk */
    int gv;                  /* per-key-dimension gates */
    int bv, tm, tn, bka;     /* output kernel: value tile, per-item outputs, key slab */
    int sbk, sbv, stm, stn, sjb; /* state kernel */
    int cpu;                 /* the CPU-shaped kernels (linear_attn_cpu.cl) */
    int lanes;               /* their work-items per work-group (LC_LANES; the plan's tile SJB slot) */
    int blk;                 /* linear_attn_blk.cl's kernels (cpu set too: the same tile slots) */
    int out_threads, state_threads;
    uint64_t out_local, state_local; /* bytes of __local arguments per work-group */
} ocla__la_tiles;
/* The tiles back from a portable linear-attention plan. */
void ocla__la_tiles_from_plan(const ocla_plan *p, ocla__la_tiles *t);
/* linear_attn_blk.cl reads its rows through image views (LB_IMG) for this request: fp32, K and V
 * multiples of 4, no normaliser column, no tensor starting inside its buffer (plan_la.c) */
int ocla__la_blk_images(const ocla_plan_request *r);
/* The NVIDIA single pass's segments of the sequence (attn_fused_nv.cl, plan_la.c): T tokens, `tiles`
 * work-groups per segment (value tiles x batch rows x heads), cu compute units, gated (scalar gates or
 * fixed decays). Returns the segments; sets *seg to the chunks in each (all T's chunks where one), *lb
 * to the chunks in each block that mma_fused_part walks (at least OCLA__FUSED_BLOCK, at most 8 blocks
 * a segment) and *blocks to the blocks of the segments before the last. */
#define OCLA__FUSED_BLOCK 8
int ocla__fused_segments(int T, double tiles, int cu, int gated, int *seg, int *lb, int *blocks);
/* The fp32 single pass's segments (attn_fused32_nv.cl, plan_la.c): T tokens in chunks of 32, `tiles`
 * work-groups per segment (64-wide value tiles x batch rows x heads), cu compute units. Returns 1
 * (one walk of every chunk: *seg = the chunks, no blocks) where the tiles come to 0.9 of the compute
 * units; else, with 64 chunks at least, the segments (2 to 8) that bring them to twice the compute
 * units, *seg chunks each (even), in two blocks of *lb chunks (mma_fused32_part) for each segment
 * before the last (*blocks of them); else 0 (the two passes). */
int ocla__fused32_segments(int T, double tiles, int cu, int *seg, int *lb, int *blocks);

/* ---- the attention backward (plan_bwd.c; the op is runtime/op_attention_bwd.c) ---- */
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
    size_t slot_bytes[OCLA__BWD_SLOTS];  /* what each slot must hold */
} ocla__bwd_layout;

/* The layout for request r (B, T, H, K, V, gate, OCLA_PLAN_NORMALIZE) at chunk C. Returns 0, or
 * nonzero when a size overflows size_t. Pure. */
int ocla__bwd_layout_for(const ocla_plan_request *r, int chunk, ocla__bwd_layout *out);

/* The tiles of a backward plan: "CHUNK TS TILED WG TPG" (WG = work-group of the item-per-entry
 * kernels; the tiled kernels run work-groups of TPG tiles of TS items). */
typedef struct ocla__bwd_tiles {
    int chunk, ts, tiled, wg, tpg;
} ocla__bwd_tiles;
void ocla__bwd_tiles_from_plan(const ocla_plan *p, ocla__bwd_tiles *t);
/* The backward on the NVIDIA tensor-core path (runtime/attention_bwd_nv.c) for a plan that chose it:
 * arguments checked, tensors dense at offset 0. Caller holds the context lock. Half data (the
 * request's OCLA_PLAN_BF16 / _F16: q, k, v, d_o, dq, dk, dv of that type; gates, dg and states fp32)
 * with a gate gradient: dq32 and dk32, dense fp32 tensors of dq's dims, hold dq and dk until the gate
 * gradient's kernel finishes them into io's (NULL otherwise). */
ocla_status ocla__nv_backward(ocla_context *ctx, const ocla_plan *plan, const ocla_plan_request *req,
                              const ocla_attn_params *p, const ocla_attn_grad_io *io, const ocla_tensor *dq32,
                              const ocla_tensor *dk32);

/* ---- kernel families of the softmax and FLASH ops: their rows (plan_softmax.c, plan_flash.c)
 * record a kernel's tiles under the family's -D names and in its order, so the op (op_softmax.c,
 * op_flash.c) builds the variant straight from the plan it runs ---- */
/* kernels_cl/softmax.cl. Tiles in this order are the plan's tile[] for the kernel the plan names. */
extern const ocla_kfamily ocla__fam_softmax_tiled;  /* sm_tiled:   TX TY RM KN VS DK DV VEC4 LSUM */
extern const ocla_kfamily ocla__fam_softmax_onerow; /* sm_forward: ONE_ROW(=1) BQ DK DV */
enum { SM_TX, SM_TY, SM_RM, SM_KN, SM_VS, SM_DK, SM_DV, SM_VEC4, SM_LSUM, SM_NTILES };
enum { SMR_ONE_ROW, SMR_BQ, SMR_DK, SMR_DV, SMR_NTILES };
#define OCLA_SM_KS 32 /* sm_tiled's q/k slab width (KS in softmax.cl) */
#define OCLA_SM_MAX_D 256

/* kernels_cl/softmax_bwd.cl (smb_dq, smb_dkv): BQ owned rows, BK rows of the other side per step, DS
 * items per owned row, padded dims DK DV; the __local argument's bytes for those tiles. */
extern const ocla_kfamily ocla__fam_softmax_bwd;
enum { SMB_BQ, SMB_BK, SMB_DS, SMB_DK, SMB_DV, SMB_NTILES };
uint64_t ocla__softmax_bwd_local(int bq, int bk, int ds, int dk, int dv);

/* kernels_cl/flash.cl: no compile-time tiles (one program for every chunk and shape); its one option is
 * the tensors' element type, OCLA_DTYPE (variant_list.c). */
extern const ocla_kfamily ocla__fam_flash;

/* Half precision: the request flag of tensors of dtype dt (OCLA_PLAN_BF16 / OCLA_PLAN_F16; none for
 * fp32), and the dtype a request's flags name (-1: fp32), as the variants' -DOCLA_DTYPE takes it. */
static inline unsigned ocla__plan_dtype_flags(ocla_dtype dt) {
    return dt == OCLA_BF16 ? OCLA_PLAN_BF16 : dt == OCLA_F16 ? OCLA_PLAN_F16 : 0u;
}
static inline int ocla__plan_dtype(const ocla_plan_request *r) {
    return (r->flags & OCLA_PLAN_BF16) ? OCLA_BF16 : (r->flags & OCLA_PLAN_F16) ? OCLA_F16 : -1;
}
/* The NVIDIA backward's chunk states and state gradients in bf16 (attn_mma_nv.cl's HS_HALF, as the
 * forward keeps them): bf16 data without a gate or with scalar gates or fixed decays (the gate
 * gradient reads them as bf16); per-key gates keep them fp32 (HS32). */
static inline int ocla__nv_bwd_bf16_states(const ocla_plan_request *r) {
    return (r->flags & OCLA_PLAN_BF16) && r->gate != OCLA_GATE_VECTOR;
}

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
/* ocla_plan_compute with the context's limits (ocla__plan_for) or with L, as the context's limits
 * adjusted to a built kernel's (ocla__plan_with); failures carry their detail in ctx. */
ocla_status ocla__plan_for(ocla_context *ctx, const ocla_plan_request *r, ocla_plan *plan);
ocla_status ocla__plan_with(ocla_context *ctx, const ocla_plan_limits *L, const ocla_plan_request *r, ocla_plan *p);

#endif
