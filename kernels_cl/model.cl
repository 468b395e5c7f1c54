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
 *
 * The options of fla's GatedLinearAttention (runtime/model_attn.c):
 * model_map:          x[i] = f(x[i]) in place, i < n; op 1..6 the feature maps of fla's ACT2FN
 *                     (ocla_model_feature_map: relu, sigmoid, logsigmoid, swish, sqrelu, gelu = fla's
 *                     tanh approximation), op 7 clamp_min: max(x[i], c)
 * model_short_conv:   fla's ShortConvolution (depthwise, causal, no bias, silu) of x [rows, C]:
 *                       y[r, c] = silu(sum_{j < W} w[j, c] src(r, t_r - (W - 1) + j, c))
 *                     info[2r] = s_r the state row (slot) of token row r, info[2r + 1] = t_r its
 *                     position in its sequence; src(r, tau, c) = x[r - t_r + tau, c] for tau >= 0,
 *                     else state[s_r, W - 1 + tau, c] (state [S, W - 1, C]: the W - 1 inputs before
 *                     the call, oldest first: fla's conv_state); one work-item per value
 * model_conv_state:   the states after the call, per sequence n < n_seqs (seq = info + seq_o: seq[3n] its slot,
 *                     seq[3n + 1] one past its last row of x, seq[3n + 2] its length L) and c < C:
 *                       state[slot, i, c] = src(L - (W - 1) + i) for i = 0 .. W - 2 in that order
 *                     (in place: entry i reads x or the old entry L + i > i); one work-item per (n, c)
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

OCLA_KERNEL void model_map(const ocla_idx n, const int op, const float c, OCLA_BUF_OUT(x)) {
    const ocla_idx i = (ocla_idx)get_global_id(0);
    if (i >= n) return;
    const float v = x[x_o + i];
    float y = v;
    switch (op) {
    case 1: y = fmax(v, 0.0f); break;
    case 2: y = 1.0f / (1.0f + exp(-v)); break;
    case 3: y = fmin(v, 0.0f) - log1p(exp(-fabs(v))); break;
    case 4: y = ocla_silu(v); break;
    case 5: y = fmax(v, 0.0f) * fmax(v, 0.0f); break;
    case 6: y = v * 0.5f * (1.0f + tanh(0.79788456f * v * (1.0f + 0.044715f * v * v))); break;
    case 7: y = fmax(v, c); break;
    default: break;
    }
    x[x_o + i] = y;
}

OCLA_KERNEL void model_short_conv(const int rows, const int C, const int W, __global const int *info, OCLA_BUF(x),
                                  OCLA_BUF(w), OCLA_BUF(state), OCLA_BUF_OUT(y)) {
    const ocla_idx gid = (ocla_idx)get_global_id(0);
    if (gid >= (ocla_idx)rows * C) return;
    const ocla_idx r = gid / C;
    const int c = (int)(gid - r * C), slot = info[2 * r], t = info[2 * r + 1];
    float acc = 0.0f;
    for (int j = 0; j < W; j++) {
        const int tau = t - (W - 1) + j;
        const float v = tau >= 0 ? x[x_o + (r - t + tau) * C + c]
                                 : state[state_o + ((ocla_idx)slot * (W - 1) + (W - 1 + tau)) * C + c];
        acc = mad(w[w_o + (ocla_idx)j * C + c], v, acc);
    }
    y[y_o + gid] = ocla_silu(acc);
}

OCLA_KERNEL void model_conv_state(const int n_seqs, const int C, const int W, __global const int *info,
                                  const int seq_o, OCLA_BUF(x), OCLA_BUF_OUT(state)) {
    __global const int *seq = info + seq_o;
    const int gid = (int)get_global_id(0);
    if (gid >= n_seqs * C) return;
    const int n = gid / C, c = gid - n * C, slot = seq[3 * n], end = seq[3 * n + 1], L = seq[3 * n + 2];
    __global float *st = state + state_o + (ocla_idx)slot * (W - 1) * C + c;
    for (int i = 0; i < W - 1; i++) {
        const int tau = L - (W - 1) + i;
        st[(ocla_idx)i * C] = tau >= 0 ? x[x_o + ((ocla_idx)end - L + tau) * C + c] : st[(ocla_idx)(W - 1 + tau) * C];
    }
}
