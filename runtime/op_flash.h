/* SPDX-License-Identifier: MIT */
/* What the FLASH forward (runtime/op_flash.c) and its backward (runtime/op_flash_bwd.c) share: the
 * argument rules, the plan with its kernels, the resolved scalars, and the two chunk-state passes of
 * kernels_cl/flash.cl that the backward runs too. Every function assumes the caller holds the context
 * lock; messages name the public call fn. Not installed. */
#ifndef OCLA_OP_FLASH_H
#define OCLA_OP_FLASH_H

#include "layer_common.h"
#include "plan.h"

#define OCLA__FLASH_MAX_CHUNK 4096
#define OCLA__FLASH_MAX_KERNELS 12

/* One call's sizes, planned chunk and scalars (the params' values with their defaults resolved). */
typedef struct ocla__flash_call {
    int64_t B, T, H, S, E, G;
    ocla_dtype dt; /* qq's: every input, output, gradient and the bias have it (the variants' OCLA_DTYPE) */
    int C, causal, lin_norm, rd;
    float qs, lin;
    int64_t pos0;
    size_t local[3]; /* the plan's work-group */
    /* packed sequences (runtime/op_flash_seq.c): nseq = N (0: dense), the host offsets cu, and the
     * device table (common.cl's OCLA_SEQ: cu[0..N], then each sequence's first chunk) in aux at seq_o
     * ints, after the RoPE frequencies at 0 */
    int nseq;
    const int32_t *cu;
    cl_mem aux;
    size_t seq_o;
} ocla__flash_call;

/* The params and the inputs qq, kq, ql, kl [B,T,H,S] and v [B,T,H,E] (any E), all of qq's dtype (fp32,
 * bf16 or fp16; another: OCLA_ERR_UNSUPPORTED naming the tensor); fills the sizes and the dtype of c.
 * Outputs and the relative bias are the caller's to check (the bias after the plan: its length is
 * 2C-1). */
ocla_status ocla__flash_check(ocla_context *ctx, const char *fn, const ocla_flash_params *p, const ocla_tensor *const x[4],
                              const ocla_tensor *v, ocla__flash_call *c);
/* t (rel_bias or its gradient) is [H, 2C-1] of c's dtype, contiguous along its last dim. */
ocla_status ocla__flash_check_bias(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *name,
                                   const ocla__flash_call *c);
/* Plan (flags: OCLA_PLAN_NONCAUSAL from the params, plus the backward's OCLA__PLAN_FLASH_*), build the
 * n kernels named in names (each must be one the plan names) into k, and fill c's chunk, scalars and
 * work-group. */
ocla_status ocla__flash_plan(ocla_context *ctx, const char *fn, const ocla_flash_params *p, unsigned flags,
                             const char *const *names, int n, ocla__flash_call *c, ocla_plan *plan, cl_kernel *k);
/* flash.cl's flash_states on (x, v) into KV [B*H, G, S, E], then (with prefix) flash_prefix: the
 * forward's chunk states of (kl, v) and their scaled prefix; the backward's sums of ql do^T per chunk. */
ocla_status ocla__flash_states(ocla_context *ctx, cl_kernel states, const ocla_tensor *x, const ocla_tensor *v,
                               cl_mem invf, cl_mem KV, const ocla__flash_call *c);
ocla_status ocla__flash_prefix(ocla_context *ctx, cl_kernel prefix, cl_mem KV, const ocla__flash_call *c);

/* ---- packed sequences (runtime/op_flash_seq.c) ---- */
/* p's cu_seqlens, n_seqs against qq's dims (called by ocla__flash_check): causal only (UNSUPPORTED),
 * B = 1, the offsets' rules (runtime/seq_table.c); sets c->nseq, c->cu. */
ocla_status ocla__flash_check_seqs(ocla_context *ctx, const char *fn, const ocla_flash_params *p, ocla__flash_call *c);
/* The chunk count G at chunk c->C: ceil(T / C), or packed the sum over the sequences. */
int64_t ocla__flash_chunks(const ocla__flash_call *c);
/* The floats of the RoPE frequencies and the sequence table together (at least 1); sets c->seq_o. */
size_t ocla__flash_aux_floats(ocla__flash_call *c);
/* Into aux (a buffer of ocla__flash_aux_floats): the RoPE frequencies of rd, base and the sequence
 * table; sets c->aux. */
ocla_status ocla__flash_aux_upload(ocla_context *ctx, float rope_base, cl_mem aux, ocla__flash_call *c);
/* A kernel's OCLA_SEQ arguments (the table, its offset, nseq). */
void ocla__flash_push_seq(ocla_args *a, const ocla__flash_call *c);

#endif
