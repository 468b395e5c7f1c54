/* SPDX-License-Identifier: MIT */
/* Helpers shared by the small ops (runtime/op_linear.c, op_gate.c, op_optim.c) and the attention
 * backward: dense-tensor checks and the elementwise ops (one work-item per element).
 * The checks assume the caller holds the context lock; all set the detail through ocla__fail.
 * Not installed. */
#ifndef OCLA_OP_COMMON_H
#define OCLA_OP_COMMON_H

#include "internal.h"

/* t dense row-major (any ndim): *cols = last dim, *rows = product of the others. */
ocla_status ocla__dense_2d(ocla_context *ctx, const ocla_tensor *t, const char *name, size_t *rows, size_t *cols);

/* The work-group of an elementwise launch for a kernel whose work-group limit is kernel_wg (0 = the
 * device's): the largest power of two <= 64 the limits allow. Pure, so the scheduler can state it. */
size_t ocla__launch_1d_local(uint64_t kernel_wg, uint64_t device_wg, uint64_t item_size0);

/* An elementwise op: fn(ctx, t[0] .. t[nt-1], x) with every tensor dense and of t[0]'s element
 * count (names[i] in the messages); x must be positive and finite where `positive` names it. The
 * kernel of fam takes n, each tensor's buffer and offset (elements), then x; one work-item per
 * element, bounds-checked. */
typedef struct ocla_elementwise {
    const char *fn, *kernel, *what;
    const ocla_kfamily *fam;
    int nt;
    const char *names[3];
    const char *positive;
    int out;      /* the index of the output tensor (the others are inputs) */
    int in_place; /* the output is also read: updated in place (an SGD parameter) */
} ocla_elementwise;
/* The whole op: checks ctx, takes the lock, validates, launches. */
ocla_status ocla__elementwise(ocla_context *ctx, const ocla_elementwise *e, const ocla_tensor *const *t, float x);

/* Packed sequences (runtime/seq_table.c; the forward and the backward share both). The offsets
 * p->cu_seqlens of p->n_seqs sequences checked against q's dims qd on the host: the causal chunked
 * form, B = 1, 0 = cu[0] < cu[1] < ... < cu[N] = T (the detail names the offset). */
ocla_status ocla__check_seqlens(ocla_context *ctx, const ocla_attn_params *p, const int64_t *qd);
/* The offsets' rules alone, for any op: N offsets cu into a time axis of qd[1] tokens, qd[0] = B = 1
 * (else OCLA_ERR_SHAPE with shape, e.g. "q must be [1,T,H,K]", in the detail). */
ocla_status ocla__check_offsets(ocla_context *ctx, const int32_t *cu, int N, const int64_t *qd, const char *shape);
/* The (sequence, chunk) table of checked offsets cu at chunk C into tab: per sequence (first token,
 * length, first chunk) at 3i, then per chunk (sequence, chunk within it) at 3N + 2c; room for
 * 3N + 2 * sum ceil(len_i / C) ints. Returns the chunk count; *most = the longest sequence's. */
int ocla__seq_table_fill(const int32_t *cu, int N, int C, int32_t *tab, int *most);
/* The NVIDIA path's table for packed sequences (kernels_cl/attn_mma_nv.cl, VARLEN), for checked
 * offsets cu of T = cu[N] tokens and walks of at most W 64-row blocks: tab[t] = the first token of
 * token t's sequence (T ints); then 4 ints per portion (first token r0, end r1, sequence, flags: 1 it
 * continues its sequence, 2 it ends it, (previous portion + 1) << 2), a portion being a sequence's
 * tokens in the blocks from the one holding r0 to W blocks on (a sequence of at most W blocks is
 * one portion); then 3 per carry entry (kind, block, portion: mma_varlen_carry); then the portions in the
 * order the state pass takes them (longest first). The portions whose end state goes to the carry
 * buffer (the sequence goes on, or its final state is wanted, has_hT, and earlier portions feed it)
 * are numbered first. Room: T + 5 (N + NW) + 3 (NB + NW) ints (NB blocks, NW = ceil((NB + N) / W):
 * a sequence touches at most its length / 64 + 2 blocks, and is cut once every W). Returns that
 * count of portions, -1 out of host memory; *np all of them, *ne the entries. */
int ocla__nv_walk_table(const int32_t *cu, int N, int W, int has_hT, int32_t *tab, int *np, int *ne);

#endif
