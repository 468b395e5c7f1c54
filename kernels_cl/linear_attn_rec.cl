/* SPDX-License-Identifier: MIT */
/* linear_attn_rec.cl: the recurrent (token-by-token) form of linear attention / simple GLA /
 * retention / GLA: the decode step (T = 1) and the reference form. OpenCL C 1.2. q, k, v in
 * OCLA_DTYPE, g in OCLA_GTYPE, o in OCLA_OTYPE (common.cl: fp32, bf16 or fp16); state and arithmetic fp32.
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
 * Each work-group reads its own state tile before and writes it after, so S1 may alias S0.
 * State slots: with slot_s0 (slot_s1) set, row b's state is row slots[b] of S0 / z0 (S1 / z1), a
 * pool [S,H,K,V] / [S,H,K]; the host checks that the slots are in the pool and distinct, so the
 * rows' work-groups never touch the same state. */
#ifndef RV
#define RV 32
#endif
#ifndef RK
#define RK 8
#endif
#ifndef KR
#define KR 16
#endif

OCLA_KERNEL void la_recurrent(const int T, const int H, const int K, const int V, const float scale, const int feature,
                              const int gmode, const int norm, OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v),
                              OCLA_GTENSOR(g), OCLA_OTENSOR_OUT(o), const int has_s0, OCLA_TENSOR(S0), const int has_z0,
                              OCLA_TENSOR(z0), const int has_s1, OCLA_TENSOR_OUT(S1), const int has_z1,
                              OCLA_TENSOR_OUT(z1), __global const float *dec, __global float *den, const int slot_s0,
                              const int slot_s1, __global const int *slots) {
    __local float sq[RK * KR], sk[RK * KR], sg[RK * KR], part[RK * RV];
    const int c = (int)get_local_id(0), r = (int)get_local_id(1);
    const int col = (int)get_group_id(0) * RV + c;
    const int bh = (int)get_group_id(2), b = bh / H, h = bh % H;
    const int tid = r * RV + c;
    const int sb0 = slot_s0 ? slots[b] : b, sb1 = slot_s1 ? slots[b] : b; /* state rows */
    float S[KR];
    for (int i = 0; i < KR; i++) {
        const int row = r + i * RK;
        float x = 0.0f;
        if (row < K && col < V && has_s0)
            x = OCLA_AT(S0, sb0, h, row, col);
        else if (row < K && col == V && norm && has_z0)
            x = OCLA_AT(z0, sb0, h, row, 0);
        S[i] = x;
    }
    __global const ocla_data *qb = OCLA_PTR(q, b, 0, h, 0), *kb = OCLA_PTR(k, b, 0, h, 0);
    __global const ocla_data *vb = OCLA_PTR(v, b, 0, h, 0);
    __global const ocla_gdata *gb = OCLA_PTR(g, b, 0, h, 0);
    const float fixed = gmode == OCLA_GATE_FIXED ? exp(ocla_log_gate(dec[h])) : 1.0f;
    for (int t = 0; t < T; t++) {
        for (int e = tid; e < K; e += RK * RV) {
            sq[e] = ocla_phi(OCLA_LD(qb, (ocla_idx)t * q_s1 + (ocla_idx)e * q_s3), feature);
            sk[e] = ocla_phi(OCLA_LD(kb, (ocla_idx)t * k_s1 + (ocla_idx)e * k_s3), feature);
            float f = fixed;
            if (gmode == OCLA_GATE_SCALAR) f = exp(ocla_log_gate(OCLA_GLD(gb, (ocla_idx)t * g_s1)));
            else if (gmode == OCLA_GATE_VECTOR) f = exp(ocla_log_gate(OCLA_GLD(gb, (ocla_idx)t * g_s1 + (ocla_idx)e * g_s3)));
            sg[e] = f;
        }
        float vc = 0.0f;
        if (col < V) vc = OCLA_LD(vb, (ocla_idx)t * v_s1 + (ocla_idx)col * v_s3);
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
            if (col < V) OCLA_OST(o, OCLA_OFF(o, b, t, h, col), s);
            else if (col == V && norm) den[(ocla_idx)bh * T + t] = s;
        }
    }
    for (int i = 0; i < KR; i++) {
        const int row = r + i * RK;
        if (row >= K) continue;
        if (col < V && has_s1) OCLA_AT(S1, sb1, h, row, col) = S[i];
        else if (col == V && norm && has_z1) OCLA_AT(z1, sb1, h, row, 0) = S[i];
    }
}
