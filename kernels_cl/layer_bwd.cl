/* SPDX-License-Identifier: MIT */
/* layer_bwd.cl: elementwise and reduction steps of the layers' backward passes
 * (runtime/layer_bwd_common.c, runtime/layer_gla_bwd.c). fp32, OpenCL C 1.2. Every buffer comes with
 * an element offset (the temporaries share scratch buffers). Macro (default): LB_WG 32, the column
 * sum's work-group (llvmpipe runs 32 wherever it runs a kernel).
 *
 * layer_colsum:       sums[c] = sum_r m[r, c], m dense [rows, cols]; one work-group of LB_WG items per
 *                     column, item i adds rows i, i + LB_WG, ... (rows / LB_WG iterations: within
 *                     llvmpipe's loop limit up to 2M rows), then a tree in local memory
 * gla_norm_gate_bwd:  the backward of gla_layer.cl's gla_norm_gate, u = n * w * silu(r) with
 *                     n = o / sqrt(mean(o^2) + eps) per row of V values; given du:
 *                       dr = du * n * w * silu'(r),  silu'(r) = s (1 + r (1 - s)), s = sigmoid(r)
 *                       dn = du * w * silu(r),       do = (dn - n * mean(dn * n)) / sqrt(mean(o^2) + eps)
 *                       wt = du * n * silu(r)        (the row's term of dw; written over du: each
 *                                                     item reads its row of du before it writes it)
 *                     rows = B*T*H; one work-item per row
 * layer_fill:         x[i] = value, n elements; one work-item per element
 */
#ifndef LB_WG
#define LB_WG 32
#endif

OCLA_KERNEL __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void layer_colsum(const int rows, const int cols,
                                                                                 OCLA_BUF(m), OCLA_BUF_OUT(sums)) {
    __local float part[LB_WG];
    const int c = (int)get_group_id(0), i = (int)get_local_id(0);
    float s = 0.0f;
    for (int r = i; r < rows; r += LB_WG) s += m[m_o + (ocla_idx)r * cols + c];
    part[i] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = LB_WG / 2; step > 0; step /= 2) {
        if (i < step) part[i] += part[i + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i == 0) sums[sums_o + c] = part[0];
}

OCLA_KERNEL void gla_norm_gate_bwd(const int rows, const int V, const float eps, OCLA_BUF(o), OCLA_BUF(r),
                                   OCLA_BUF(w), OCLA_BUF_OUT(du), OCLA_BUF_OUT(d_o), OCLA_BUF_OUT(dr)) {
    const int row = (int)get_global_id(0);
    if (row >= rows) return;
    const ocla_idx base = (ocla_idx)row * V;
    float ss = 0.0f;
    for (int c = 0; c < V; c++) ss = mad(o[o_o + base + c], o[o_o + base + c], ss);
    const float inv = rsqrt(ss / (float)V + eps);
    float dot = 0.0f; /* sum_c dn_c n_c */
    for (int c = 0; c < V; c++) {
        const float n = o[o_o + base + c] * inv, rv = r[r_o + base + c];
        const float dn = du[du_o + base + c] * w[w_o + c] * ocla_silu(rv);
        dot = mad(dn, n, dot);
    }
    const float mean_dot = dot / (float)V;
    for (int c = 0; c < V; c++) {
        const float n = o[o_o + base + c] * inv, rv = r[r_o + base + c], g = du[du_o + base + c];
        const float s = 1.0f / (1.0f + exp(-rv)), silu = rv * s;
        const float dn = g * w[w_o + c] * silu;
        dr[dr_o + base + c] = g * n * w[w_o + c] * s * (1.0f + rv * (1.0f - s));
        d_o[d_o_o + base + c] = (dn - n * mean_dot) * inv;
        du[du_o + base + c] = g * n * silu;
    }
}

OCLA_KERNEL void layer_fill(const int n, const float value, OCLA_BUF_OUT(x)) {
    const int i = (int)get_global_id(0);
    if (i < n) x[x_o + i] = value;
}
