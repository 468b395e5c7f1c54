/* SPDX-License-Identifier: MIT */
/* The GAU / FLASH layer's forward steps that its backward recomputes (runtime/layer_gau.c, used by
 * runtime/layer_gau_bwd.c): the checks of params, x and the weights, and everything up to the
 * attention output AV. The caller holds the context lock. */
#ifndef OCLA_LAYER_GAU_H
#define OCLA_LAYER_GAU_H

#include "layer_common.h"

/* The layer's sizes: x [B,T,D], e = E, s = S, W = 2e + s columns of [U | V | Z], rows = B*T. */
typedef struct ocla__gau_dims {
    int64_t B, T, D, E, S, W;
    int rows;
    int nseq; /* packed sequences (params.cu_seqlens): their count, 0 without */
} ocla__gau_dims;

/* params, every field; messages name fn. */
ocla_status ocla__gau_check_params(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p);
/* Then, after the caller's checks of its own [B,T,d] tensors against x (so that a wrong x is named
 * there, as "y (x's dims ...)", before a weight's dims disagree with it): x dense [B,T,d] with d >= 1,
 * the weights (dims, density, ScaleNorm's absent norm_b), the kernels' int limits. Appends the
 * weights to set's inputs for the caller's aliasing check (ocla__check_disjoint). Fills dm. */
ocla_status ocla__gau_check(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                            const ocla_gau_layer_weights *w, const ocla_tensor *x, ocla_io_set *set,
                            ocla__gau_dims *dm);

/* The eight weights' descriptors (ocla__layer_check_weights) in the order of ocla_gau_layer_weights:
 * t[i] with its dims, named "weights.<field>", or with grads != 0 "grads.<field>" (every one optional:
 * the backward's gradients have their weights' dims). The norm's are NULL where the norm has none. */
void ocla__gau_weight_table(const ocla_gau_layer_params *p, const ocla__gau_dims *dm, const ocla_tensor *const t[8],
                            int grads, ocla__layer_weight out[8]);

/* The forward's temporaries (layer_gau.c's header comment): xo [B,T,D], h [B,T,W], qk [B,T,4S],
 * o [B,T,E], invf [rd/2] (NULL without RoPE), seq [N+1] (the packed offsets as int32, NULL without). */
typedef struct ocla__gau_bufs {
    ocla_tensor *xo, *h, *qk, *o, *invf, *seq;
} ocla__gau_bufs;
/* Adds them to ws (the caller adds its own, then gets the buffer). */
void ocla__gau_ws_add(ocla__layer_ws *ws, const ocla__gau_dims *dm, int rope_dims, ocla__gau_bufs *b);

/* The forward up to the attention, into b (ws already got): xn = norm(x) in b->xo (*xn = x itself for
 * OCLA_GAU_NORM_NONE), h = [silu(U) | silu(V) | Z pre-activations without the bias] (xn W_uvz, then
 * gau_split), qk = the four rotated offset-scales of silu(Z + b_Z), o = AV (FLASH, one head). */
ocla_status ocla__gau_attend(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                             const ocla_tensor *x, const ocla__gau_dims *dm, const ocla__gau_bufs *b,
                             const ocla_tensor **xn);

/* The public call's params through the ABI rule (runtime/abi.c), the nested flash params too:
 * *params then points at given. */
ocla_status ocla__gau_params_in(ocla_context *ctx, const char *fn, const ocla_gau_layer_params **params,
                                ocla_gau_layer_params *given);

/* The work-group of gau.cl's row kernels (gau_norm, gau_norm_bwd: one group of *L items per row of d):
 * a power of two <= 64 within k's limits, no larger than d needs. */
ocla_status ocla__gau_row_group(ocla_context *ctx, cl_kernel k, int64_t d, size_t *L);

/* An optional vector for a kernel: its buffer (or fallback, never read), its offset and a presence flag. */
void ocla__gau_push_opt(ocla_args *a, const ocla_tensor *t, cl_mem fallback);
/* A kernel's OCLA_SEQ arguments (common.cl): b's offsets table, or none (nseq 0). */
void ocla__gau_push_seq(ocla_args *a, const ocla__gau_bufs *b, const ocla__gau_dims *dm);

#endif
