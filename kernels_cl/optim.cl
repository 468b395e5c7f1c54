/* SPDX-License-Identifier: MIT */
/* optim.cl: optimiser steps (runtime/op_optim.c), one work-item per element of dense buffers
 * (offsets in elements). No variant macros. */

/* Plain SGD: p -= lr * grad over n elements. */
OCLA_KERNEL void sgd_step(ocla_idx n, OCLA_BUF_OUT(p), OCLA_BUF(g), float lr) {
    const ocla_idx i = get_global_id(0);
    if (i < n) p[p_o + i] -= lr * g[g_o + i];
}
