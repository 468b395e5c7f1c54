/* SPDX-License-Identifier: MIT */
/* ocla training API: the backward of the attention ops, and an SGD step. The layer building
 * blocks (projections, gate nonlinearities) with their backward are in <ocla/blocks.h>, included
 * here so callers of the training API see them too.
 *
 * Attention backward (causal, chunked): for the forward of <ocla/attention.h>
 *
 *   S_t = diag(exp(min(g_t,0))) S_{t-1} + phi(k_t) v_t^T,   z_t = diag(exp(min(g_t,0))) z_{t-1} + phi(k_t)
 *   o_t = scale * phi(q_t)^T S_t   [ / (scale * phi(q_t)^T z_t + eps) when normalize ]
 *
 * and a scalar loss L with dL/do = d_o, dL/dS_T = d_final_state, dL/dz_T = d_final_z, compute
 * dL/dq, dL/dk, dL/dv, dL/dg (w.r.t. the raw natural-log gate g as passed to the forward),
 * dL/dS_0 and dL/dz_0. Gate kinds: none (linear attention), scalar (simple GLA), fixed (retention:
 * no dg), vector (GLA). Feature maps identity, elu+1, relu (the chain rule through phi is applied;
 * relu passes gradient only where x > 0). Positive log gates: the forward uses min(g,0), so dg is
 * 0 wherever g >= 0. The math and the memory cost are in docs/TRAINING.md ("Backward").
 */
/* The core API first, outside the guard: this header compiles on its own, and included before
 * <ocla/ocla.h> it still sees the core types (ocla.h includes the topic headers after them). */
#include "ocla/ocla.h"
#ifndef OCLA_TRAIN_H
#define OCLA_TRAIN_H

#include "ocla/blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocla_attn_grad_io {
    /* forward inputs, exactly as given to ocla_attention_forward */
    const ocla_tensor *q, *k, *v;       /* [B,T,H,K], [B,T,H,K], [B,T,H,V] */
    const ocla_tensor *g;               /* [B,T,H] (scalar) or [B,T,H,K] (vector) per params.gate; else NULL */
    const ocla_tensor *initial_state;   /* [B,H,K,V] or NULL (zeros) */
    const ocla_tensor *initial_z;       /* [B,H,K] or NULL; only with normalize */
    /* upstream gradients */
    const ocla_tensor *d_o;             /* [B,T,H,V] dL/do (required) */
    const ocla_tensor *d_final_state;   /* [B,H,K,V] or NULL (zeros) */
    const ocla_tensor *d_final_z;       /* [B,H,K] or NULL (zeros); only with normalize */
    /* outputs (overwritten, never accumulated); none may share memory with an input above or with
     * another output (OCLA_ERR_INVALID_ARGUMENT, naming both) */
    ocla_tensor *dq, *dk, *dv;          /* shapes of q, k, v (required) */
    ocla_tensor *dg;                    /* shape of g, or NULL to skip; must be NULL for FIXED/NONE */
    ocla_tensor *d_initial_state;       /* [B,H,K,V] or NULL to skip */
    ocla_tensor *d_initial_z;           /* [B,H,K] or NULL to skip; only with normalize */
} ocla_attn_grad_io;

/* Backward of the causal chunked forward (params.causal must be 1; params.form is ignored: the
 * gradient is that of the exact forward, whichever form computed it). params.chunk (or OCLA_CHUNK)
 * forces the chunk, a power of two 1..256; 0 = the scheduler's choice, min(64, max(16,
 * next_pow2(T))) as in flash-linear-attention. ocla_plan_explain with OCLA_OP_ATTN_BACKWARD names
 * the kernels that run. Temporaries live in the context's scratch buffers (grown on demand, kept
 * for the next call, released with the context; sizes in docs/TRAINING.md).
 * Packed sequences (params.cu_seqlens, n_seqs; as the forward's, with the same offsets check): q, k,
 * v, g, d_o and their gradients [1,T,H,D], the states and their gradients per sequence [N,H,K,V] /
 * [N,H,K]; each sequence's gradients are those of it run alone (none crosses a boundary); portable
 * kernels only. params.state_slots (decoding) is refused with OCLA_ERR_UNSUPPORTED. */
OCLA_API ocla_status ocla_attention_backward(ocla_context *ctx, const ocla_attn_params *params,
                                             const ocla_attn_grad_io *io);

/* Plain SGD step on dense tensors (runtime/op_optim.c, kernels_cl/optim.cl): param -= lr * grad
 * (same element count), param updated in place; grad may not share memory with param. */
OCLA_API ocla_status ocla_sgd_step(ocla_context *ctx, ocla_tensor *param, const ocla_tensor *grad, float lr);

#ifdef __cplusplus
}
#endif
#endif
