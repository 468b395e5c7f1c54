/* SPDX-License-Identifier: MIT */
/* model.cl: the whole-model steps around the GLA layers (runtime/model_forward.c): the embedding
 * gather, the residual add fused with RMSNorm, and the SwiGLU product of the MLP. fp32, OpenCL C 1.2.
 * Every buffer comes with an element offset. No variant macros.
 *
 * model_embed:        x[i, c] = E[ids[i], c]                  i < rows, c < d; one work-item per value
 *                     (the ids were checked on the host: 0 <= ids[i] < vocab)
 * model_add_rmsnorm:  for output row i < rows, source row r = first + i * step of x [*, d]:
 *                       if has_add:  x[r, :] += a[r, :]        (the residual stream, in place)
 *                       y[i, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w[:]
 *                     fla's RMSNorm (and its fused residual form, prenorm=True); one work-group per
 *                     row, its local size a power of two (the __local argument holds one float per
 *                     item); has_add = 0 reads a not at all
 * model_swiglu:       g[i] = silu(g[i]) * u[i]                 i < n (fla's swiglu: x sigmoid(x) y)
 */

OCLA_KERNEL void model_embed(const ocla_idx n, const int d, __global const int *ids, OCLA_BUF(E), OCLA_BUF_OUT(x)) {
    const ocla_idx i = (ocla_idx)get_global_id(0);
    if (i >= n) return;
    const ocla_idx row = i / d, col = i - row * d;
    x[x_o + i] = E[E_o + (ocla_idx)ids[row] * d + col];
}

OCLA_KERNEL void model_add_rmsnorm(const int rows, const int d, const float eps, const int first, const int step,
                                   const int has_add, OCLA_BUF_OUT(x), OCLA_BUF(a), OCLA_BUF(w), OCLA_BUF_OUT(y),
                                   __local float *part) {
    const int i = (int)get_group_id(0), lid = (int)get_local_id(0), lanes = (int)get_local_size(0);
    if (i >= rows) return; /* uniform over the work-group */
    const ocla_idx r = (ocla_idx)first + (ocla_idx)i * step;
    __global float *xr = x + x_o + r * d;
    __global const float *ar = a + a_o + r * d;
    float ss = 0.0f;
    for (int c = lid; c < d; c += lanes) {
        float v = xr[c];
        if (has_add) {
            v += ar[c];
            xr[c] = v; /* read back below by this work-item only */
        }
        ss = mad(v, v, ss);
    }
    part[lid] = ss;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = lanes / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = rsqrt(part[0] / (float)d + eps);
    __global float *yr = y + y_o + (ocla_idx)i * d;
    for (int c = lid; c < d; c += lanes) yr[c] = xr[c] * inv * w[w_o + c];
}

OCLA_KERNEL void model_swiglu(const ocla_idx n, OCLA_BUF_OUT(g), OCLA_BUF(u)) {
    const ocla_idx i = (ocla_idx)get_global_id(0);
    if (i >= n) return;
    g[g_o + i] = ocla_silu(g[g_o + i]) * u[u_o + i];
}
