/* Helpers shared by the small ops (runtime/op_linear.c, op_gate.c, op_optim.c) and the attention
 * backward: dense-tensor checks and a 1-D launch for kernels with one work-item per element.
 * Every function assumes the caller holds the context lock and sets the detail through
 * ocla__fail. Not installed. */
#ifndef OCLA_OP_COMMON_H
#define OCLA_OP_COMMON_H

#include "internal.h"

/* t dense row-major (any ndim): *cols = last dim, *rows = product of the others. */
ocla_status ocla__dense_2d(ocla_context *ctx, const ocla_tensor *t, const char *name, size_t *rows, size_t *cols);

/* a and b dense with the same element count (*n); the message names fn. */
ocla_status ocla__dense_same_numel(ocla_context *ctx, const char *fn, const ocla_tensor *a, const char *an,
                                   const ocla_tensor *b, const char *bn, size_t *n);

/* Enqueue n work-items of a bounds-checked 1-D kernel in work-groups of the largest power of two
 * <= 64 that the kernel's and the device's limits allow (ocla__launch checks again). */
ocla_status ocla__launch_1d(ocla_context *ctx, cl_kernel k, size_t n, const char *what);

/* The work-group ocla__launch_1d uses for a kernel whose work-group limit is kernel_wg (0 = the
 * device's): pure, so the scheduler can state it. */
size_t ocla__launch_1d_local(uint64_t kernel_wg, uint64_t device_wg, uint64_t item_size0);

#endif
