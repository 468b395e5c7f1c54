/* SPDX-License-Identifier: MIT */
/* The prepared linear-attention op (runtime/op_attention.c; the NVIDIA path in
 * runtime/attention_nv.c): everything a run needs, decided once. Not installed. */
#ifndef OCLA_ATTN_OP_H
#define OCLA_ATTN_OP_H

#include "internal.h"
#include "plan.h"

/* io slots, in this order everywhere: the tensors with a time axis first, then the states */
enum { IO_Q, IO_K, IO_V, IO_G, IO_O, IO_S0, IO_Z0, IO_S1, IO_Z1, IO_N };
/* buffers a run needs: gate cumsums, chunk states, denominators, recurrent carry */
enum { BUF_G, BUF_HS, BUF_DEN, BUF_CARRY, BUF_N };
/* the launches of a run, in launch order: gate cumsum, chunk states (or the recurrent kernel),
 * packed sequences' carries (the NVIDIA path), chunk outputs, packed sequences' initial states in
 * their first blocks (the NVIDIA path), normaliser; a launch sized 0 in any dimension is skipped */
enum { L_GATE, L_MAIN, L_CARRY, L_OUT, L_H0, L_NORM, L_N };
/* when a launch runs in the sequential walk over segments: before the first, in each, after the last */
enum { AT_FIRST, AT_EACH, AT_LAST };

typedef struct attn_layout {
    int present, ndim, offset; /* offset: the tensor starts inside its buffer */
    int dtype;                 /* ocla_dtype */
    int64_t dims[4], strides[4];
} attn_layout;

typedef struct attn_key {
    int causal, has_scale, feature, normalize, gate, form, chunk;
    int slots; /* state slots: the states are pools indexed by the op's slot table */
    int nseq;  /* packed sequences (params.n_seqs), 0: dense rows */
    float scale, eps;
    attn_layout lay[IO_N];
} attn_key;

/* One launch, sized at prepare (local[0] == 0: the driver picks the work-group). */
typedef struct attn_launch {
    cl_kernel k; /* the op's own kernel object: its arguments stay set between runs */
    int when;    /* AT_* */
    size_t global[3], local[3];
    const char *what;
} attn_launch;

/* What the kernels' arguments were set from: a run with the same buffers and offsets sets none. */
typedef struct attn_binding {
    cl_mem mem[IO_N], buf[BUF_N];
    size_t off[IO_N];
} attn_binding;

struct ocla_attn_op {
    ocla_context *ctx;
    attn_key key;
    float *decay;       /* H values for OCLA_GATE_FIXED (a copy), else NULL */
    int B, T, H, K, V;
    float scale;
    ocla_plan plan;
    int own;            /* owns its buffers (a user's prepared op) or uses context scratch */
    attn_launch launch[L_N];       /* k == NULL: not part of this op */
    /* sets the kernels' arguments for segment seg of the walk (every kernel's when seg == 0) */
    ocla_status (*bind)(ocla_attn_op *op, const ocla_attn_io *io, int seg);
    uint64_t min_wg, static_local; /* the kernels' CL_KERNEL_WORK_GROUP_SIZE and own local memory */
    cl_mem buf[BUF_N];
    size_t need[BUF_N];
    cl_mem dec;         /* the decays on the device (owned) */
    int nseg;           /* launches of the sequential walk (llvmpipe splits long sequences) */
    int seg;            /* chunks (chunked) or tokens (recurrent) per launch; the NVIDIA single
                         * pass: chunks per segment (ocla__fused_segments) */
    int fused_lb;       /* the NVIDIA single pass: chunks per block of mma_fused_part */
    attn_binding binding; /* of the last good run; zeroed (never a run's: q has a buffer) until then */
    /* state slots (key.slots): the table of the last upload, its device copy, the pool size
     * (the first dim of the given state tensors, one for all) and a pool-sized scratch for the
     * repeat check (-1 between checks) */
    int32_t *slots;
    cl_mem slot_buf;
    int slots_set, pool;
    int *slot_seen;
    /* packed sequences (key.nseq): rows = sequences (B otherwise); the offsets of the table on the
     * device, the table (per sequence: first token, length, first chunk; per chunk: sequence,
     * chunk within it; kernels_cl/linear_attn.cl), its capacity in ints and the chunks it holds */
    int rows;
    int32_t *cu, *seqtab;
    cl_mem seq_buf;
    int seq_set, seq_cap, nct;
    int nce; /* the NVIDIA path: the walk table's carry entries (nct its portions, -1 to build) */
    int walk; /* the NVIDIA path: 64-row blocks per walk of the packed state pass (attention_nv.c) */
    /* linear_attn_blk.cl's image views (LB_IMG, op_attention.c): q, k, v, the gate cumsums, the
     * chunk states and GLA's gates as RGBA fp32 image1d_buffers, the buffers they view (remade when
     * one changes) and each one's last texel */
    int blk_img;
    cl_mem img[6], img_src[6];
    int img_last[6];
};

/* The op's own instance of a variant's kernel as launch slot (op_attention.c). */
ocla_status ocla__attn_add_launch(ocla_attn_op *op, const ocla_variant *v, const char *name, int slot, int when,
                                  const size_t global[3], const size_t *local, const char *what);
/* A launch slot for kernel `name` of the op's plan, in the variant the plan names for it
 * (ocla__plan_kernel_variant: the list the vendor compile check walks). */
ocla_status ocla__attn_add_planned(ocla_attn_op *op, const ocla_plan_request *r, const char *name, int slot, int when,
                                   const size_t global[3], const size_t *local, const char *what);

/* Room for a packed-sequence table of n ints, host and device (op_attention.c; filled by its set_seqs). */
ocla_status ocla__attn_seq_reserve(ocla_attn_op *op, int n);

/* NVIDIA tensor-core path (attention_nv.c): launches and arguments from the plan's variant. */
ocla_status ocla__nv_prepare(ocla_attn_op *op, const ocla_plan_request *r);

/* ocla_attention_backward with q of a half dtype (runtime/op_attention_bwd_half.c): widen, the fp32
 * backward, round the gradients back. Called without the context lock. */
ocla_status ocla__attn_backward_half(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io);
/* The half backward's NVIDIA route (runtime/op_attention_bwd.c, for op_attention_bwd_half.c; the
 * caller holds the lock): io's data tensors (q, k, v, d_o, dq, dk, dv) of dtype, its gates, dg and
 * states fp32; with a gate gradient dq32 and dk32 are fp32 temporaries of dq's dims (ocla__nv_backward).
 * Checks the arguments and plans; where the plan is not the NVIDIA path's, sets *not_taken and
 * does nothing (the caller widens the data and runs the fp32 backward). */
typedef struct ocla__bwd_half {
    ocla_dtype dtype;
    const ocla_tensor *dq32, *dk32;
    int *not_taken;
} ocla__bwd_half;
ocla_status ocla__attn_backward_half_nv(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                                        const ocla__bwd_half *half);

#endif
