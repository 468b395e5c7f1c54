/* Helpers shared by the [B,T,d_model] layers (runtime/layer_*.c): argument checks with messages that
 * name the layer, dense temporaries, [B,T,H,D] head views and projections with an optional bias.
 * Every function assumes the caller holds the context lock and returns ocla_status with the detail
 * set through ocla__fail. */
#ifndef OCLA_LAYER_COMMON_H
#define OCLA_LAYER_COMMON_H

#include "internal.h"

/* x dense [B,T,d]; y dense [B,T,d] of the same dims. Fills B, T, d. */
ocla_status ocla__layer_check_io(ocla_context *ctx, const char *fn, const ocla_tensor *x, const ocla_tensor *y,
                                 int64_t *B, int64_t *T, int64_t *d);

/* A dense row-major weight [rows, cols] (cols < 0: a vector [rows]); what = how the dims are made
 * up, e.g. "[d, H*K]". optional != 0 lets t be NULL. */
ocla_status ocla__layer_check_weight(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *name,
                                     const char *what, int64_t rows, int64_t cols, int optional);

/* A new dense [a, b, c] fp32 tensor; the caller destroys it. */
ocla_status ocla__layer_tmp3(ocla_context *ctx, int64_t a, int64_t b, int64_t c, ocla_tensor **out);

/* A [B,T,H,D] view of a dense [B,T,H*D] tensor (shares its buffer). */
ocla_status ocla__layer_heads_view(ocla_context *ctx, const ocla_tensor *t, int64_t H, int64_t D, ocla_tensor **out);

/* y = x W (+ 1 b^T) through CLBlast: x dense [..., in], W [in, out], y dense [..., out], b [out] or
 * NULL. The bias is a rank-1 GEMM with beta = 1 against ones, a dense vector of at least rows(x)
 * ones the caller keeps (needed only when b is given), so every operand may sit at a buffer offset. */
ocla_status ocla__layer_project(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *w, const ocla_tensor *b,
                                const ocla_tensor *ones, ocla_tensor *y);

#endif
