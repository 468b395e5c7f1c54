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

/* A dense row-major weight [rows, cols] (cols < 0: a vector [rows]); what = how the dims are made
 * up, e.g. "[d, H*K]". optional != 0 lets t be NULL. */
ocla_status ocla__layer_check_weight(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *name,
                                     const char *what, int64_t rows, int64_t cols, int optional);

/* ---- a layer's temporaries: one scratch buffer (slot OCLA_LAYER_SLOT), no allocation once it is
 * large enough ----
 *   ocla__layer_ws ws;
 *   ocla__layer_ws_init(ctx, &ws);
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
void ocla__layer_ws_init(ocla_context *ctx, ocla__layer_ws *ws);
ocla_tensor *ocla__layer_ws_add(ocla__layer_ws *ws, int ndim, const int64_t *dims);
ocla_status ocla__layer_ws_get(ocla__layer_ws *ws, const char *fn);
/* The same with each tensor in its own scratch slot 4, 5, 6, 7 at offset 0 (at most four tensors),
 * for a layer whose op uses none of those slots (the linear-attention layer: ocla_attention_forward
 * keeps its own slots 0-3): the op then sees dense tensors at offset 0, which its NVIDIA path needs. */
ocla_status ocla__layer_ws_get_apart(ocla__layer_ws *ws, const char *fn);

/* out = a view of t (same buffer) at element offset off with the given dims and strides (NULL:
 * dense); a value on the caller's stack, nothing allocated. */
void ocla__layer_view(const ocla_tensor *t, size_t off, int ndim, const int64_t *dims, const int64_t *strides,
                      ocla_tensor *out);
/* The [B,T,H,D] view of a dense [B,T,H*D] tensor. */
void ocla__layer_heads(const ocla_tensor *t, int64_t H, int64_t D, ocla_tensor *out);

/* y = x W (+ b) through CLBlast and, for the bias, kernels_cl/layer_common.cl: x dense [..., in],
 * W [in, out], y dense [..., out], b [out] or NULL; every operand may sit at a buffer offset. */
ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                ocla_tensor *y);

/* x [rows, cols] (dense, at x_off in mem) += b[cols] (at b_off in bmem). */
ocla_status ocla__layer_add_bias(ocla_context *ctx, cl_mem mem, size_t x_off, int64_t rows, int64_t cols, cl_mem bmem,
                                 size_t b_off, const char *what);

/* Split-half RoPE inverse frequencies base^(-i / (rd/2)), i < rd/2, made in fp64 and written as fp32 at
 * element offset off of mem (blocking write; rd/2 floats). */
ocla_status ocla__rope_upload(ocla_context *ctx, int rd, float base, cl_mem mem, size_t off);

#endif
