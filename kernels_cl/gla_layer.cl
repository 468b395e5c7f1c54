/* layers.cl: elementwise steps of the attention layers. fp32, OpenCL C 1.2.
 *
 * add_bias_rows:  x[r, c] += b[c]                                  one work-item per element
 * gla_norm_gate:  out[row, :] = o[row, :] / sqrt(mean(o[row, :]^2) + eps) * w[:] * swish(r[row, :])
 *                 rows = B*T*H, each of V values; swish(z) = z / (1 + exp(-z)); one work-item per row
 */
OCLA_KERNEL void add_bias_rows(const int rows, const int cols, __global float *x, __global const float *b) {
    const ocla_idx i = get_global_id(0);
    if (i < (ocla_idx)rows * cols) x[i] += b[i % cols];
}

OCLA_KERNEL void gla_norm_gate(const int rows, const int V, const float eps, __global const float *o,
                               __global const float *r, __global const float *w, __global float *out) {
    const int row = (int)get_global_id(0);
    if (row >= rows) return;
    const ocla_idx base = (ocla_idx)row * V;
    float ss = 0.0f;
    for (int c = 0; c < V; c++) ss = mad(o[base + c], o[base + c], ss);
    const float inv = rsqrt(ss / (float)V + eps);
    for (int c = 0; c < V; c++) {
        const float z = r[base + c];
        out[base + c] = o[base + c] * inv * w[c] * (z / (1.0f + exp(-z)));
    }
}
