/* SPDX-License-Identifier: MIT */
/* la_normalize.cl: the normaliser of linear attention (Katharopoulos et al.), shared by the
 * chunked (linear_attn.cl) and recurrent (linear_attn_rec.cl) forms, which write the denominator
 * den[bh][t] = scale * phi(q_t) . z_t beside the unnormalised outputs u.
 *   o[b,t,h,:] = u[b,t,h,:] / (den[bh][t] + eps)
 * u is fp32: o itself (in place) when o is fp32; a dense [B,T,H,V] fp32 buffer when o is half
 * (OCLA_DTYPE, common.cl: the forms wrote u with OCLA_OTYPE fp32, so o is rounded once).
 * Work split: one work-item per output element (col, t, bh). */
OCLA_KERNEL void la_normalize(const int T, const int H, const int V, const float eps, OCLA_TENSOR(u),
                              OCLA_DTENSOR_OUT(o), __global const float *den) {
    const int col = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (col >= V || t >= T) return;
    const int b = bh / H, h = bh % H;
    OCLA_ST(o, OCLA_OFF(o, b, t, h, col), OCLA_AT(u, b, t, h, col) / (den[(ocla_idx)bh * T + t] + eps));
}
