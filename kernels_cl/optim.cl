/* SPDX-License-Identifier: MIT */
/* optim.cl: optimiser steps (runtime/op_optim.c), one work-item per element of dense buffers
 * (offsets in elements). No variant macros. */

/* Plain SGD: p -= lr * grad over n elements. */
OCLA_KERNEL void sgd_step(ocla_idx n, __global float *p, ocla_idx p_o, __global const float *gr, ocla_idx g_o,
                          float lr) {
    const ocla_idx i = get_global_id(0);
    if (i < n) p[p_o + i] -= lr * gr[g_o + i];
}
