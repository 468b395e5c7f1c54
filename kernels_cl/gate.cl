/* SPDX-License-Identifier: MIT */
/* gate.cl: gate nonlinearities of the layers (runtime/op_gate.c), forward and backward, one
 * work-item per element of dense buffers (offsets in elements). No variant macros. */

/* GLA's gate: g = logsigmoid(x) / tau (<= 0), computed as (min(x,0) - log1p(exp(-|x|))) / tau so
 * neither exp overflows. n elements. */
OCLA_KERNEL void gate_logsigmoid(ocla_idx n, OCLA_BUF(x), OCLA_BUF_OUT(g), float tau) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const float v = x[x_o + i];
    g[g_o + i] = (fmin(v, 0.0f) - log1p(exp(-fabs(v)))) / tau;
}

/* Its backward: dx = dg * sigmoid(-x) / tau, sigmoid(-x) from exp(-|x|) <= 1 (no overflow). */
OCLA_KERNEL void gate_logsigmoid_bwd(ocla_idx n, OCLA_BUF(x), OCLA_BUF(dg), OCLA_BUF_OUT(dx), float tau) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const float v = x[x_o + i];
    const float e = exp(-fabs(v));
    const float sneg = v >= 0.0f ? e / (1.0f + e) : 1.0f / (1.0f + e);
    dx[dx_o + i] = dg[dg_o + i] * sneg / tau;
}
