/* SPDX-License-Identifier: MIT */
/* gla_layer.cl: the GLA layer's own elementwise step (runtime/layer_gla.c). fp32, OpenCL C 1.2.
 * Every buffer comes with an element offset (the layer's temporaries share one scratch buffer).
 * No variant macros.
 *
 * gla_norm_gate:  out[row, :] = o[row, :] / sqrt(mean(o[row, :]^2) + eps) * w[:] * silu(r[row, :])
 *                 rows = B*T*H, each of V values (per-head RMSNorm, fla's FusedRMSNormGated with the
 *                 swish gate; silu = swish = common.cl's ocla_silu); one work-item per row
 */
OCLA_KERNEL void gla_norm_gate(const int rows, const int V, const float eps, OCLA_BUF(o), OCLA_BUF(r), OCLA_BUF(w),
                               OCLA_BUF_OUT(out)) {
    const int row = (int)get_global_id(0);
    if (row >= rows) return;
    __global const float *orow = o + o_o + (ocla_idx)row * V;
    __global const float *rrow = r + r_o + (ocla_idx)row * V;
    __global float *dst = out + out_o + (ocla_idx)row * V;
    float ss = 0.0f;
    for (int c = 0; c < V; c++) ss = mad(orow[c], orow[c], ss);
    const float inv = rsqrt(ss / (float)V + eps);
    for (int c = 0; c < V; c++) dst[c] = orow[c] * inv * w[w_o + c] * ocla_silu(rrow[c]);
}
