/* SPDX-License-Identifier: MIT */
/* Helpers shared by the [B,T,d_model] layers (runtime/layer_*.c) and the layer-family ops (FLASH,
 * softmax, Linformer): argument checks with messages that name the layer, the layers' temporaries in
 * context-owned scratch, [B,T,H,D] head views, projections with an optional bias, RoPE frequencies.
 * Every function assumes the caller holds the context lock and returns ocla_status with the detail
 * set through ocla__fail.
 *
 * Scratch slots of this family (the layers' range 4-7, runtime/internal.h): 4 softmax's carried rows
 * (Mesa) and FLASH's scores, 5-6 FLASH's chunk states and RoPE frequencies, Linformer's projected keys
 * and values, 7 the layers' own temporaries (one workspace per call, below). A layer calls one op at a
 * time, so its slot 7 never meets the ops' 4-6 (the linear-attention layer, whose op uses slots 0-3,
 * may spread its temporaries over 4-7). */
#ifndef OCLA_LAYER_COMMON_H
#define OCLA_LAYER_COMMON_H

#include "internal.h"

#define OCLA_LAYER_SLOT 7

/* x dense [B,T,d]; y dense [B,T,d] of the same dims. Fills B, T, d. */
ocla_status ocla__layer_check_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *y,
                                 int64_t *B, int64_t *T, int64_t *d);

/* The attention ops' values and outputs: v [B, Tv, H, Dv], o [B, T, H, Dv], any Dv (filled); queries and
 * keys name the tensors that T and B, Tv, H come from (in the detail of a mismatch). */
ocla_status ocla__check_vo(ocla_context *ctx, const ocla_tensor *v, const ocla_tensor *o, int64_t B, int64_t Tv,
                           int64_t T, int64_t H, int64_t *Dv, const char *queries, const char *keys);
/* The same for v and o of dtype dt (ocla__check_vo: fp32). */
ocla_status ocla__check_vo_as(ocla_context *ctx, const ocla_tensor *v, const ocla_tensor *o, int64_t B, int64_t Tv,
                              int64_t T, int64_t H, int64_t *Dv, const char *queries, const char *keys, ocla_dtype dt);

/* A layer's weight: dense row-major [rows, cols] (cols < 0: a vector [rows]); what = how the dims are
 * made up, e.g. "[d, H*K]"; optional != 0 lets t be NULL. */
typedef struct ocla__layer_weight {
    const ocla_tensor *t;
    const char *name, *what;
    int64_t rows, cols;
    int optional;
} ocla__layer_weight;
/* Checks the n weights in order (the messages name fn, the weight and its dims) and appends each to
 * set's inputs under its name, for the aliasing rule (ocla__check_disjoint) that the caller applies. */
ocla_status ocla__layer_check_weights(ocla_context *ctx, const char *fn, const ocla__layer_weight *w, int n,
                                      ocla_io_set *set);

/* ---- a layer's temporaries: one scratch buffer (slot OCLA_LAYER_SLOT), no allocation once it is
 * large enough ----
 *   ocla__layer_ws ws = {.ctx = ctx};
 *   ocla_tensor *q = ocla__layer_ws_add(&ws, 3, (int64_t[]){B, T, H * K}), ...;
 *   st = ocla__layer_ws_get(&ws, fn);  // the buffer; every tensor added gets its mem
 * The tensors are dense fp32, each at an offset aligned to 64 floats (float4 loads, GEMM operands),
 * live inside ws (no destroy) and hold their contents until the next layer call on this context. */
#define OCLA_LAYER_WS_MAX 16
typedef struct ocla__layer_ws {
    ocla_context *ctx;
    size_t floats; /* total, aligned */
    int n, overflow;
    struct ocla_tensor t[OCLA_LAYER_WS_MAX];
} ocla__layer_ws;
ocla_tensor *ocla__layer_ws_add(ocla__layer_ws *ws, int ndim, const int64_t *dims);
ocla_status ocla__layer_ws_get(ocla__layer_ws *ws, const char *fn);
/* The same in scratch slot slot (a layer backward's temporaries: layer_bwd_common.h). */
ocla_status ocla__layer_ws_get_in(ocla__layer_ws *ws, int slot, const char *fn);
/* The same with each tensor in its own scratch slot first, first + 1, ... at offset 0 (up to slot
 * OCLA_LAYER_SLOT), for a caller whose op uses none of those slots: the linear-attention layer
 * (ocla_attention_forward keeps its own slots 0-3; the op then sees dense tensors at offset 0, which
 * its NVIDIA path needs) from slot 4, FLASH's scores, states and RoPE frequencies from slot 4,
 * Linformer's projected keys and values from slot 5 (softmax's slot 4 stays free). */
ocla_status ocla__layer_ws_get_apart(ocla__layer_ws *ws, int first, const char *fn);

/* out = the [B,T,H,D] view at element offset off of a [B,T,row] tensor t (row >= H*D; the [B,T,H,D]
 * view of a dense [B,T,H*D] tensor at off 0); a value on the caller's stack, nothing allocated. */
void ocla__layer_heads(const ocla_tensor *t, size_t off, int64_t H, int64_t D, ocla_tensor *out);

/* y = x W (+ b) through CLBlast and, for the bias, kernels_cl/layer_common.cl: x dense [..., in],
 * W [in, out], y dense [..., out], b [out] or NULL; every operand may sit at a buffer offset. */
ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                ocla_tensor *y);

/* Half precision at an op's boundary: src to dst, one a bf16 / fp16 tensor of any strides, the other a
 * dense fp32 tensor of as many elements (a workspace tensor); kernels_cl/layer_common.cl, rounding
 * to nearest even on the way to half. */
ocla_status ocla__convert_dtype(ocla_context *ctx, const ocla_tensor *src, ocla_tensor *dst);

/* An op in half precision through its fp32 core ("convert at the boundaries"): every tensor t[i]
 * (NULL: absent) must be of dtype dt (else OCLA_ERR_UNSUPPORTED naming name[i]); ocla__half_enter
 * gives each a dense fp32 copy t32[i] in scratch slot `slot` (inputs, out[i] = 0, converted), the
 * core runs on the copies, and ocla__half_leave rounds the outputs (out[i] = 1) into t[i]. The
 * caller checks aliasing on the originals (the core sees only the copies). */
#define OCLA_HALF_IO_MAX 12
typedef struct ocla__half_io {
    ocla__layer_ws ws; /* .ctx set by the caller */
    ocla_dtype dt;
    int n;
    const ocla_tensor *t[OCLA_HALF_IO_MAX];
    const char *name[OCLA_HALF_IO_MAX];
    int out[OCLA_HALF_IO_MAX];
    ocla_tensor *t32[OCLA_HALF_IO_MAX];
} ocla__half_io;
ocla_status ocla__half_enter(ocla__half_io *h, int slot, const char *fn);
ocla_status ocla__half_leave(ocla__half_io *h);

/* a = the named kernel of fam (no tiles), ready for its pushes. */
ocla_status ocla__layer_kernel(ocla_context *ctx, const ocla_kfamily *fam, const char *name, ocla_args *a);
/* Launch a's kernel once its arguments are pushed (a->st keeps the first failed push). */
ocla_status ocla__layer_launch(const ocla_args *a, cl_uint dims, const size_t *global, const size_t *local,
                               const char *what);

/* Linformer's E and F (runtime/op_linformer.c) for the op and the layer: [kp, n] shared by the heads, or
 * [H, kp, n] for sharing NONE; F as E unless sharing KEY_VALUE / LAYERWISE ignores it; kp <= n, T <= n;
 * dense, else not_dense (the op: OCLA_ERR_UNSUPPORTED, the layer: OCLA_ERR_SHAPE). *F_used = the
 * matrix the values are projected with (E or F). */
ocla_status ocla__linformer_check_ef(ocla_context *ctx, const char *fn, ocla_linformer_sharing sharing,
                                     const ocla_tensor *E, const ocla_tensor *F, int64_t H, int64_t T,
                                     ocla_status not_dense, const ocla_tensor **F_used);
/* Linformer's first step (op_linformer.c; the forward's and the backward's): K' = E[:, :T] k and
 * V' = F[:, :T] v per (b, h) into *tk, *tv (dense [B, kp, H, D], [B, kp, H, Dv] tensors of ws, in
 * scratch slots 5 and 6), and *sp = the softmax parameters of the core (non-causal, p's scale and
 * block). Arguments already checked. */
ocla_status ocla__linformer_project_kv(ocla_context *ctx, const ocla_linformer_params *p, const ocla_tensor *E,
                                      const ocla_tensor *F, const ocla_tensor *k, const ocla_tensor *v,
                                      ocla__layer_ws *ws, ocla_tensor **tk, ocla_tensor **tv, ocla_softmax_params *sp);

/* Split-half RoPE inverse frequencies base^(-i / (rd/2)), i < rd/2, made in fp64 and written as fp32 at
 * element offset off of mem (blocking write; rd/2 floats). */
ocla_status ocla__rope_upload(ocla_context *ctx, int rd, float base, cl_mem mem, size_t off);

/* The body of a public entry point: ctx, then the pointer arguments a and b (named in the message as
 * written), then call, under the context lock. */
#define OCLA__LOCKED_CALL(fn, ctx, a, b, call)                                                                  \
    do {                                                                                                        \
        if (!(ctx)) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, fn ": ctx is NULL");                     \
        if (!(a) || !(b)) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, fn ": %s is NULL", !(a) ? #a : #b); \
        OCLA_LOCK(ctx);                                                                                         \
        const ocla_status st_ = (call);                                                                         \
        OCLA_UNLOCK(ctx);                                                                                       \
        return st_;                                                                                             \
    } while (0)

#endif
