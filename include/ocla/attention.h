/* SPDX-License-Identifier: MIT */
/* ocla attention ops: causal / non-causal linear attention (Katharopoulos et al.) and gated linear
 * attention (GLA, simple GLA, retention), with the semantics of flash-linear-attention:
 *
 *   layout q,k,g: [B,T,H,K], v,o: [B,T,H,V] (any strides, so [B,H,T,D] views work too),
 *   state S: [B,H,K,V] fp32, normaliser state z: [B,H,K],
 *   S_t = diag(exp(g_t)) S_{t-1} + phi(k_t) v_t^T     (inclusive: token t sees itself)
 *   o_t = scale * phi(q_t)^T S_t   [ / (scale * phi(q_t)^T z_t + eps) when normalize ]
 *
 * Gates are natural-log forget gates (<= 0), and so are fixed decays: every value in [-inf, 0] is
 * legal (-inf forgets the state). The kernels read each as max(min(g, 0), -20): a positive gate never
 * makes the state grow, and a gate below -20 acts as a decay of e^-20 (docs/RELIABILITY.md). A NaN
 * fixed decay is refused; NaN gates in tensors are not scanned for.
 * Half precision (0.4.0): ocla_attention_forward (every form: chunked, recurrent, decode; causal and
 * non-causal; the normaliser; packed sequences and views) and ocla_attention_backward take q, k, v, o
 * (d_o, dq, dk, dv) as OCLA_BF16 or OCLA_F16 tensors, all of one dtype; g (and dg) fp32 or that
 * dtype; states, z and their gradients fp32. Arithmetic is fp32; each output is rounded once, to
 * nearest even. A mixed set is refused with OCLA_ERR_UNSUPPORTED naming the tensor. Chunked half
 * requests run the NVIDIA tensor-core kernels where fp32 would (they widen q, k, v to fp32 as they
 * stage them; bf16 in one TF32 pass, fp16 as fp32), else the portable kernels (the CPU kernels are
 * fp32; ocla_plan_explain says which); the backward widens its half inputs to fp32 temporaries
 * (docs/ARCHITECTURE.md, "Half precision").
 * The math of every kernel is in docs/KERNELS.md.
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_ATTENTION_H
#define OCLA_ATTENTION_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocla_feature_map {
    OCLA_FEATURE_IDENTITY = 0, /* phi(x) = x (GLA default) */
    OCLA_FEATURE_ELU1 = 1,     /* phi(x) = elu(x) + 1 (the linear-transformer paper's default) */
    OCLA_FEATURE_RELU = 2      /* phi(x) = max(x, 0) */
} ocla_feature_map;

typedef enum ocla_gate_kind {
    OCLA_GATE_NONE = 0,   /* plain linear attention */
    OCLA_GATE_SCALAR = 1, /* simple GLA: g [B,T,H] */
    OCLA_GATE_VECTOR = 2, /* GLA: g [B,T,H,K] */
    OCLA_GATE_FIXED = 3   /* retention: fixed per-head log decay, params.fixed_log_decay[H] */
} ocla_gate_kind;

typedef enum ocla_attn_form {
    OCLA_FORM_CHUNKED = 0,   /* tiled chunkwise (the fast path) */
    OCLA_FORM_RECURRENT = 1  /* token by token (decode; reference form) */
} ocla_attn_form;

typedef struct ocla_attn_params {
    size_t size; /* sizeof this struct in the application's build: set by ocla_attn_params_defaults() */
    int causal;                  /* 1 (default); 0 = non-causal (no gates, no states) */
    int has_scale;               /* 0: scale = K^-0.5 (fla's default) */
    float scale;
    ocla_feature_map feature_map;/* applied to q and k */
    int normalize;               /* divide by scale*phi(q).z + eps */
    float eps;                   /* default 1e-6 (fast-transformers); fla uses 1e-10 */
    ocla_gate_kind gate;
    const float *fixed_log_decay;/* [H] host array for OCLA_GATE_FIXED; NULL = RetNet's log(1-2^(-5-h)) */
    ocla_attn_form form;
    int chunk;                   /* 0 = scheduler's pick (or OCLA_CHUNK); else 16..256 */
    /* State slots (continuous batching), both forms, causal only: NULL, or a host array of
     * n_state_slots int32 slot indices, one per row (the B rows of q). With slots the state tensors
     * are pools: initial_state / final_state [S,H,K,V] and initial_z / final_z [S,H,K] for one
     * S >= 1 (every given pool the same S; OCLA_ERR_SHAPE otherwise), and row b reads its initial state from row state_slots[b] of the pool and writes its
     * final state to row state_slots[b] (in place when final_state is initial_state); the other rows
     * of the pool are neither read nor written. At least one state tensor must be given. Every
     * index must lie in [0, S) of each given pool and no index may repeat within one call:
     * OCLA_ERR_INVALID_ARGUMENT naming the index otherwise. The array is read during the call
     * (ocla_attention_forward) or copied (ocla_attention_prepare, ocla_attention_op_set_slots);
     * it is uploaded only when its values change, so a decode loop whose rows keep their slots
     * pays one comparison of n_state_slots values per step. */
    const int32_t *state_slots;
    int n_state_slots;           /* must equal B (N when packed) when state_slots is given */
    /* Packed sequences (fla's cu_seqlens), chunked causal form only: NULL, or a host array of
     * n_seqs + 1 int32 offsets into the time axis of q, which holds N = n_seqs sequences back to
     * back: q, k, g [1,T,H,K], v, o [1,T,H,V] (B = 1), sequence i = tokens [cu_seqlens[i],
     * cu_seqlens[i+1]). cu_seqlens[0] = 0, every sequence at least one token (strictly increasing),
     * cu_seqlens[n_seqs] = T: OCLA_ERR_INVALID_ARGUMENT naming the offset otherwise. Each sequence
     * runs as if alone: no token sees another sequence's, and chunks never straddle two sequences.
     * States are per sequence: initial_state / final_state [N,H,K,V], z [N,H,K] (or pools indexed
     * by state_slots, one slot per sequence). The offsets are read during the call; a prepared op
     * keeps the offsets it was prepared with. The NVIDIA tensor-core path takes no offsets: packed
     * calls plan the portable kernels (ocla_plan_explain says so for OCLA_PLAN_VARLEN). */
    const int32_t *cu_seqlens;
    int n_seqs;
} ocla_attn_params;

OCLA_API void ocla_attn_params_defaults(ocla_attn_params *params);

typedef struct ocla_attn_io {
    const ocla_tensor *q, *k, *v; /* [B,T,H,K], [B,T,H,K], [B,T,H,V] */
    const ocla_tensor *g;         /* [B,T,H] or [B,T,H,K] per params.gate; else NULL */
    const ocla_tensor *initial_state; /* [B,H,K,V] or NULL (zeros) */
    const ocla_tensor *initial_z;     /* [B,H,K] or NULL; only with normalize */
    ocla_tensor *o;                   /* [B,T,H,V] */
    ocla_tensor *final_state;         /* [B,H,K,V] or NULL; may be the same tensor as initial_state */
    ocla_tensor *final_z;             /* [B,H,K] or NULL; may be the same tensor as initial_z */
} ocla_attn_io;
/* Aliasing: o, final_state and final_z may not share an element with an input (q, k, v, g, the initial
 * states) or with each other, and may not be views whose elements overlap (a zero stride): refused
 * with OCLA_ERR_INVALID_ARGUMENT naming both tensors. The one exception is the in-place state update:
 * final_state the same memory and layout as initial_state (likewise final_z and initial_z). Inputs
 * may overlap each other. ocla_attention_run checks this again when its tensors' buffers change. */

/* Forward over T tokens in params.form (chunked or recurrent). Non-causal (params.causal = 0)
 * computes o_t = phi(q_t)^T S_T for every t with the whole sequence's state. A causal call without
 * cu_seqlens of T = 1 runs the decode step in either form, and of T = 2 in bf16 or fp16 the recurrent
 * form: the same math with the state in fp32 throughout (ocla_plan_explain names the kernel). */
OCLA_API ocla_status ocla_attention_forward(ocla_context *ctx, const ocla_attn_params *params,
                                            const ocla_attn_io *io);

/* Plan once, launch many. A prepared op is made once for params and the layouts of io (a template:
 * the tensors it will run with, or tensors of the same shapes and strides) and then run many times
 * with new tensors of those layouts. Preparing validates, plans, builds or finds the kernels,
 * uploads constants (fixed decays) and allocates the op's workspace; a run only sets the kernel
 * arguments that changed and enqueues: no kernel lookup, allocation, upload or environment read.
 * ocla_attention_forward does the same through a small cache of prepared ops per context.
 * A prepared op belongs to its context; destroy it before the context. Runs are ordered on the
 * context's queue; an op may be run from any thread (calls lock the context). */
typedef struct ocla_attn_op ocla_attn_op;
OCLA_API ocla_status ocla_attention_prepare(ocla_context *ctx, const ocla_attn_params *params,
                                            const ocla_attn_io *io, ocla_attn_op **out);
/* Run with tensors of the prepared layouts (same presence, dims and strides; OCLA_ERR_SHAPE or
 * OCLA_ERR_INVALID_ARGUMENT otherwise). params.fixed_log_decay was copied when preparing. */
OCLA_API ocla_status ocla_attention_run(ocla_attn_op *op, const ocla_attn_io *io);
OCLA_API void ocla_attention_op_destroy(ocla_attn_op *op);
/* A prepared op with state slots (params.state_slots given when preparing): the slots of the
 * following runs, n values (the prepared B), checked as params.state_slots is, and copied. An
 * op prepared without slots refuses (OCLA_ERR_INVALID_ARGUMENT). */
OCLA_API ocla_status ocla_attention_op_set_slots(ocla_attn_op *op, const int32_t *slots, int n);
/* The plan the op runs and one line saying so (path, kernels, tiles, why); either may be NULL. */
OCLA_API ocla_status ocla_attention_op_explain(const ocla_attn_op *op, ocla_plan *plan, char *text,
                                               size_t text_size);

/* Largest K and V this context's device can run for the op (clear status beyond it). */
OCLA_API ocla_status ocla_attention_limits(ocla_context *ctx, const ocla_attn_params *params, int *max_k,
                                           int *max_v);

#ifdef __cplusplus
}
#endif
#endif
