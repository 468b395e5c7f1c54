/* SPDX-License-Identifier: MIT */
/* linear_attn_rec.cl: the recurrent (token-by-token) form of linear attention / simple GLA /
 * retention / GLA: the decode step (T = 1) and the reference form. fp32, OpenCL C 1.2.
 *
 *   S_t = diag(exp(ocla_log_gate(g_t))) S_{t-1} + phi(k_t) [v_t, 1]^T      (column V = z when norm)
 *   o_t = scale * phi(q_t)^T S_t   (columns < V -> o; column V -> den[bh][t], see la_normalize)
 *
 * gmode: the ocla_gate_kind (common.cl OCLA_GATE_*): NONE, SCALAR g [B,T,H], VECTOR g [B,T,H,K],
 * FIXED decay dec[h].
 * Build options: RV (value columns per work-group), RK (work-items splitting the key rows),
 * KR (key rows per work-item, RK * KR >= K).
 * Work split: one work-group of RV x RK work-items per (b, h, value tile); work-item (c, r) keeps
 * rows r, r + RK, ... of column c of the state in registers; per token q, k and the gate come
 * through local memory and the partial dot products are summed over RK in local memory.
 * Each work-group reads its own state tile before and writes it after, so S1 may alias S0. */
#ifndef RV
#define RV 32
#endif
#ifndef RK
#define RK 8
#endif
#ifndef KR
#define KR 16
#endif

OCLA_KERNEL void la_recurrent(
    const int T, const int H, const int K, const int V, const float scale, const int feature, const int gmode,
    const int norm, __global const float *q, const ocla_idx q_off, const ocla_idx qsb, const ocla_idx qst,
    const ocla_idx qsh, const ocla_idx qsd, __global const float *k, const ocla_idx k_off, const ocla_idx ksb,
    const ocla_idx kst, const ocla_idx ksh, const ocla_idx ksd, __global const float *v, const ocla_idx v_off,
    const ocla_idx vsb, const ocla_idx vst, const ocla_idx vsh, const ocla_idx vsd, __global const float *g,
    const ocla_idx g_off, const ocla_idx gsb, const ocla_idx gst, const ocla_idx gsh, const ocla_idx gsd,
    __global const float *dec, const int has_s0, __global const float *S0, const ocla_idx s0_off,
    const ocla_idx s0b, const ocla_idx s0h, const ocla_idx s0k, const ocla_idx s0v, const int has_z0,
    __global const float *z0, const ocla_idx z0_off, const ocla_idx z0b, const ocla_idx z0h, const ocla_idx z0k,
    const int has_s1, __global float *S1, const ocla_idx s1_off, const ocla_idx s1b, const ocla_idx s1h,
    const ocla_idx s1k, const ocla_idx s1v, const int has_z1, __global float *z1, const ocla_idx z1_off,
    const ocla_idx z1b, const ocla_idx z1h, const ocla_idx z1k, __global float *o, const ocla_idx o_off,
    const ocla_idx osb, const ocla_idx ost, const ocla_idx osh, const ocla_idx osd, __global float *den) {
    __local float sq[RK * KR], sk[RK * KR], sg[RK * KR], part[RK * RV];
    const int c = (int)get_local_id(0), r = (int)get_local_id(1);
    const int col = (int)get_group_id(0) * RV + c;
    const int bh = (int)get_group_id(2), b = bh / H, h = bh % H;
    const int tid = r * RV + c;
    float S[KR];
    for (int i = 0; i < KR; i++) {
        const int row = r + i * RK;
        float x = 0.0f;
        if (row < K && col < V && has_s0)
            x = S0[s0_off + b * s0b + h * s0h + row * s0k + col * s0v];
        else if (row < K && col == V && norm && has_z0)
            x = z0[z0_off + b * z0b + h * z0h + row * z0k];
        S[i] = x;
    }
    const ocla_idx qbase = q_off + (ocla_idx)b * qsb + (ocla_idx)h * qsh;
    const ocla_idx kbase = k_off + (ocla_idx)b * ksb + (ocla_idx)h * ksh;
    const ocla_idx vbase = v_off + (ocla_idx)b * vsb + (ocla_idx)h * vsh;
    const ocla_idx gbase = g_off + (ocla_idx)b * gsb + (ocla_idx)h * gsh;
    const float fixed = gmode == OCLA_GATE_FIXED ? exp(ocla_log_gate(dec[h])) : 1.0f;
    for (int t = 0; t < T; t++) {
        for (int e = tid; e < K; e += RK * RV) {
            sq[e] = ocla_phi(q[qbase + (ocla_idx)t * qst + (ocla_idx)e * qsd], feature);
            sk[e] = ocla_phi(k[kbase + (ocla_idx)t * kst + (ocla_idx)e * ksd], feature);
            float f = fixed;
            if (gmode == OCLA_GATE_SCALAR) f = exp(ocla_log_gate(g[gbase + (ocla_idx)t * gst]));
            else if (gmode == OCLA_GATE_VECTOR) f = exp(ocla_log_gate(g[gbase + (ocla_idx)t * gst + (ocla_idx)e * gsd]));
            sg[e] = f;
        }
        float vc = 0.0f;
        if (col < V) vc = v[vbase + (ocla_idx)t * vst + (ocla_idx)col * vsd];
        else if (col == V && norm) vc = 1.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        float acc = 0.0f;
        for (int i = 0; i < KR; i++) {
            const int row = r + i * RK;
            if (row < K) {
                S[i] = mad(S[i], sg[row], sk[row] * vc);
                acc = mad(sq[row], S[i], acc);
            }
        }
        part[r * RV + c] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (r == 0) {
            float s = 0.0f;
            for (int i = 0; i < RK; i++) s += part[i * RV + c];
            s *= scale;
            if (col < V) o[o_off + (ocla_idx)b * osb + (ocla_idx)t * ost + (ocla_idx)h * osh + (ocla_idx)col * osd] = s;
            else if (col == V && norm) den[(ocla_idx)bh * T + t] = s;
        }
    }
    for (int i = 0; i < KR; i++) {
        const int row = r + i * RK;
        if (row >= K) continue;
        if (col < V && has_s1) S1[s1_off + b * s1b + h * s1h + row * s1k + col * s1v] = S[i];
        else if (col == V && norm && has_z1) z1[z1_off + b * z1b + h * z1h + row * z1k] = S[i];
    }
}
