/* SPDX-License-Identifier: MIT */
/* gau.cl: elementwise steps of the GAU / FLASH layer (Hua et al. 2022; runtime/layer_gau.c).
 * fp32, OpenCL C 1.2. Every buffer comes with an element offset (tensors may sit inside a buffer: the
 * layer's temporaries share one scratch buffer). No variant macros.
 * Rows are tokens (rows = B*T); all matrices are dense row-major.
 *
 * gau_norm:   out[r, :] = norm(x[r, :]) over d features; one work-group of L items (a power of two)
 *             per row, each item striding over d / L features, tree reductions in local memory.
 *               kind 0 LayerNorm:  (x - mean) / sqrt(var + eps) * w + b   (biased variance)
 *               kind 1 ScaleNorm:  x / max(||x|| * d^-1/2, eps) * w[0]    (lucidrains/FLASH-pytorch)
 *             has_w = 0: w = 1; has_b = 0: b = 0 (b only for LayerNorm).
 * gau_split:  h [rows, 2E+S] = [U | V | Z] pre-activations (the GEMM's output). In place:
 *               h[r, c] = silu(h[r, c] + b[c])                    c < 2E    (U and V)
 *             and for the shared Z (c = 2E + j, j < S), with z = silu(h[r, c] + b[c]):
 *               qk[r, k, :] = rope(z * gamma[k, :] + beta[k, :])  k = 0..3 (Q_quad, K_quad, Q_lin, K_lin)
 *             rope = split-half RoPE on the first rd dims at position pos0 + (r mod T) (packed
 *             sequences, OCLA_SEQ: pos0 + r's index within its sequence): common.cl's
 *             ocla_rope, as flash.cl uses it (invf made on the host in fp64, angle in fp32); rd = 0: none.
 *             Rotating here, once per token, replaces the flash op's rotation inside every score
 *             and state product (the op then runs with rope_dims = 0).
 *             silu = common.cl's ocla_silu, a / (1 + exp(-a)). has_b = 0: b = 0; has_beta = 0: beta = 0.
 *             One work-item per element of h: global (2E+S, rows).
 * gau_gate:   o[r, c] *= h[r, c]   (o [rows, E] = A V, h's first E columns = U); global (E, rows).
 * gau_out:    y[r, c] = p[r, c] + b[c] + (residual ? x[r, c] : 0); one work-item per element of y.
 *             y may be x (in place): each item reads x before writing the same element of y.
 * gau_norm_bwd: the backward of gau_norm (runtime/layer_gau_bwd.c), the same groups; given dxn = dL/dxn:
 *               kind 0 LayerNorm, xhat = (x - mean) inv, inv = 1 / sqrt(var + eps), g = dxn w:
 *                 dx = inv (g - mean(g) - xhat mean(g xhat)),   pw[r, c] = dxn xhat  (dw's terms)
 *               kind 1 ScaleNorm, n0 = ||x|| d^-1/2, n = max(n0, eps), w0 = w[0]:
 *                 dx = w0 / n (dxn - [n0 > eps] x (dxn . x) / (d n^2)),  pw[r] = (dxn . x) / n
 *               kind 2 none: dx = dxn
 *             then dx += dy when residual. has_dx = 0: no dx; has_pw = 0: no pw ([rows, d] for
 *             LayerNorm, [rows] for ScaleNorm).
 */

/* Sum of v over the L items of the group, returned to every item (red: L floats; L a power of two).
 * Ends with a barrier so red can be reused at once. */
OCLA_INLINE float group_sum(float v, __local float *red, const int lid, const int L) {
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* A row's sums for its norm over the L items of the group (all items call it): *mean (kind 0 LayerNorm;
 * 0 otherwise: ScaleNorm is not centred) and the returned sum of squares of x - mean. */
OCLA_INLINE float row_moments(__global const float *xr, const int d, const int kind, __local float *red, const int lid,
                              const int L, float *mean) {
    float acc = 0.0f;
    for (int c = lid; c < d; c += L) acc += xr[c];
    const float total = group_sum(acc, red, lid, L);
    *mean = kind == 0 ? total / (float)d : 0.0f;
    acc = 0.0f;
    for (int c = lid; c < d; c += L) {
        const float v = xr[c] - *mean;
        acc = mad(v, v, acc);
    }
    return group_sum(acc, red, lid, L);
}

OCLA_KERNEL void gau_norm(const int rows, const int d, const int kind, const float eps, OCLA_BUF(x), OCLA_BUF(w),
                          const int has_w, OCLA_BUF(b), const int has_b, OCLA_BUF_OUT(out), __local float *red) {
    /* every item of the group reaches every barrier: no early return, no barrier under a condition.
     * PoCL 3.1 (pthread) gave racy, run-to-run different rows with an 'if (row >= rows) return;' ahead
     * of the barriers even though no group ever took it (measured; rusticl was fine). */
    const int row = min((int)get_group_id(0), rows - 1);
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    __global const float *xr = x + x_o + (ocla_idx)row * d;
    __global float *orow = out + out_o + (ocla_idx)row * d;
    float mean;
    const float ss = row_moments(xr, d, kind, red, lid, L, &mean);
    if ((int)get_group_id(0) >= rows) return;
    if (kind == 0) {
        const float inv = rsqrt(ss / (float)d + eps);
        for (int c = lid; c < d; c += L) {
            float v = (xr[c] - mean) * inv;
            if (has_w) v *= w[w_o + c];
            if (has_b) v += b[b_o + c];
            orow[c] = v;
        }
    } else {
        const float nrm = fmax(sqrt(ss) * rsqrt((float)d), eps);
        const float f = (has_w ? w[w_o] : 1.0f) / nrm;
        for (int c = lid; c < d; c += L) orow[c] = xr[c] * f;
    }
}

OCLA_KERNEL void gau_split(const int rows, const int T, const int E, const int S, OCLA_BUF_OUT(h_buf), OCLA_BUF(b),
                           const int has_b, OCLA_BUF(gamma), OCLA_BUF(beta), const int has_beta, const int rd,
                           const long pos0, OCLA_BUF(invf_buf), OCLA_BUF_OUT(qk), OCLA_SEQ) {
    __global float *h = h_buf + h_buf_o;
    __global const float *invf = invf_buf + invf_buf_o;
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    const int W = 2 * E + S;
    if (c >= W || r >= rows) return;
    const ocla_idx row = (ocla_idx)r * W;
    float a = h[row + c];
    if (has_b) a += b[b_o + c];
    const float z = ocla_silu(a);
    if (c < 2 * E) { /* U, V: in place (Z's columns are only read, so partners below are safe) */
        h[row + c] = z;
        return;
    }
    const int j = c - 2 * E;
    __global float *q = qk + qk_o + (ocla_idx)r * 4 * S + j;
    if (j >= rd) {
        for (int k = 0; k < 4; k++) q[k * S] = mad(z, gamma[gamma_o + k * S + j], has_beta ? beta[beta_o + k * S + j] : 0.0f);
        return;
    }
    /* split-half RoPE at position pos0 + t: the partner column jp of the same output */
    const int jp = ocla_rope_partner(j, rd);
    float ap = h[row + 2 * E + jp];
    if (has_b) ap += b[b_o + 2 * E + jp];
    const float zp = ocla_silu(ap);
    const float pos = (float)(pos0 + (nseq > 0 ? ocla_seq_pos(r, seq_buf + seq_o, nseq) : r % T));
    for (int k = 0; k < 4; k++) {
        const float x = mad(z, gamma[gamma_o + k * S + j], has_beta ? beta[beta_o + k * S + j] : 0.0f);
        const float xp = mad(zp, gamma[gamma_o + k * S + jp], has_beta ? beta[beta_o + k * S + jp] : 0.0f);
        q[k * S] = ocla_rope(x, xp, j, rd, pos, invf);
    }
}

OCLA_KERNEL void gau_gate(const int rows, const int E, const int S, OCLA_BUF_OUT(o), OCLA_BUF(h)) {
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= E || r >= rows) return;
    o[o_o + (ocla_idx)r * E + c] *= h[h_o + (ocla_idx)r * (2 * E + S) + c];
}

OCLA_KERNEL void gau_out(const int rows, const int d, OCLA_BUF(p), OCLA_BUF(b), const int has_b, OCLA_BUF(x),
                         const int residual, OCLA_BUF_OUT(y)) {
    const ocla_idx i = get_global_id(0);
    if (i >= (ocla_idx)rows * d) return;
    float v = p[p_o + i];
    if (has_b) v += b[b_o + (int)(i % d)];
    if (residual) v += x[x_o + i];
    y[y_o + i] = v;
}

OCLA_KERNEL void gau_norm_bwd(const int rows, const int d, const int kind, const float eps, OCLA_BUF(x), OCLA_BUF(w),
                              const int has_w, OCLA_BUF(dxn), OCLA_BUF(dy), const int residual, OCLA_BUF_OUT(dx),
                              const int has_dx, OCLA_BUF_OUT(pw), const int has_pw, __local float *red) {
    /* no early return ahead of a barrier (gau_norm says why) */
    const int row = min((int)get_group_id(0), rows - 1), live = (int)get_group_id(0) < rows;
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    const ocla_idx base = (ocla_idx)row * d;
    __global const float *xr = x + x_o + base, *gr = dxn + dxn_o + base, *yr = dy + dy_o + base;
    float mean;
    const float ss = row_moments(xr, d, kind, red, lid, L, &mean);
    const float inv = rsqrt(ss / (float)d + eps); /* LayerNorm */
    const float n0 = sqrt(ss) * rsqrt((float)d), n = fmax(n0, eps); /* ScaleNorm */
    /* LayerNorm: sums of g and g xhat; ScaleNorm: dxn . x (in the first sum) */
    float a0 = 0.0f, a1 = 0.0f;
    for (int c = lid; c < d; c += L) {
        const float g = kind == 0 && has_w ? gr[c] * w[w_o + c] : gr[c];
        a0 = kind == 0 ? a0 + g : mad(g, xr[c], a0);
        a1 = mad(g, (xr[c] - mean) * inv, a1);
    }
    const float s0 = group_sum(a0, red, lid, L), s1 = group_sum(a1, red, lid, L);
    if (!live) return;
    const float w0 = kind == 1 && has_w ? w[w_o] : 1.0f, clamp = n0 > eps ? 1.0f : 0.0f;
    for (int c = lid; c < d; c += L) {
        float v = gr[c];
        if (kind == 0) {
            const float xh = (xr[c] - mean) * inv, g = has_w ? v * w[w_o + c] : v;
            if (has_pw) pw[pw_o + base + c] = v * xh;
            v = inv * (g - s0 / (float)d - xh * (s1 / (float)d));
        } else if (kind == 1) {
            v = w0 / n * (v - clamp * xr[c] * s0 / ((float)d * n * n));
        }
        if (residual) v += yr[c];
        if (has_dx) dx[dx_o + base + c] = v;
    }
    if (kind == 1 && has_pw && lid == 0) pw[pw_o + row] = s0 / n;
}
