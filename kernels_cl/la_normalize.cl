/* SPDX-License-Identifier: MIT */
/* la_normalize.cl: the normaliser of linear attention (Katharopoulos et al.), shared by the
 * chunked (linear_attn.cl) and recurrent (linear_attn_rec.cl) forms, which write the denominator
 * den[bh][t] = scale * phi(q_t) . z_t beside the unnormalised outputs.
 *   o[b,t,h,:] /= den[bh][t] + eps
 * Work split: one work-item per output element (col, t, bh). */
OCLA_KERNEL void la_normalize(const int T, const int H, const int V, const float eps, OCLA_TENSOR_OUT(o),
                              __global const float *den) {
    const int col = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (col >= V || t >= T) return;
    const int b = bh / H, h = bh % H;
    const ocla_idx i = OCLA_OFF(o, b, t, h, col);
    o[i] = o[i] / (den[(ocla_idx)bh * T + t] + eps);
}
