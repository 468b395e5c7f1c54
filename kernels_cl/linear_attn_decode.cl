/* SPDX-License-Identifier: MIT */
/* linear_attn_decode.cl: one decode step (the recurrent form at T = 1) of linear attention / simple
 * GLA / retention / GLA, streaming each state once. OpenCL C 1.2. q, k, v in OCLA_DTYPE, g in
 * OCLA_GTYPE, o in OCLA_OTYPE (common.cl: fp32, bf16 or fp16, as linear_attn_rec.cl); the state and
 * the arithmetic fp32.
 *
 *   S = diag(exp(ocla_log_gate(g))) S0 + phi(k) [v, 1]^T      (column V = z when norm)
 *   o = scale * phi(q)^T S   (columns < V -> o; column V -> den[bh], see la_normalize)
 *
 * The arguments are la_recurrent's (linear_attn_rec.cl; T must be 1), so the host binds both alike.
 * gmode: the ocla_gate_kind (common.cl OCLA_GATE_*): NONE, SCALAR g [B,1,H], VECTOR g [B,1,H,K],
 * FIXED decay dec[h].
 * Work-group: DV x KS work-items (the launch's local size, read at run time so that one program
 * serves every grid): DV along the value columns, KS splitting the key rows (DV * KS * CW <= PART).
 * Build options: CW (value columns per work-item), RB (key rows loaded before any is stored), VEC (1: CW = 4
 * contiguous columns read and written as one float4; the plan sets it only where every state row is
 * 16-byte aligned: dense states, V % 4 == 0, no normaliser column).
 * Work split: one work-group of DV x KS work-items per (b, h, DV * CW value columns); work-item
 * (c, r) owns columns c, c + DV, ... (CW of them; with VEC the 4 columns from 4c) of its tile and the
 * key rows r, r + KS, ...:
 * per row it reads the state, writes the update back and accumulates q_i s_ij in registers, so
 * neighbouring work-items touch neighbouring columns of one row (coalesced on GPUs, contiguous for
 * one work-item of DV = 1 on CPUs). phi(q), phi(k) and the gates of all K <= KMAX rows are staged
 * once in local memory; with KS > 1 the partial outputs are summed in local memory.
 * RB rows are loaded before the first of them is stored: S1 may alias S0 (in place), so no
 * compiler may move a later row's load above an earlier row's store, and the loads in flight per
 * work-item are what hides the memory latency. With VEC the next RB rows are loaded before this
 * batch is stored (two batches in registers), and the first before q, k and the gates are staged.
 * State slots: with slot_s0 (slot_s1) set, row b's state is row slots[b] of S0 / z0 (S1 / z1), a
 * pool [S,H,K,V] / [S,H,K]; the host checks that the slots are in the pool and distinct, so no
 * two work-groups touch the same state element. */
#ifndef CW
#define CW 1
#endif
#ifndef RB
#define RB 8
#endif
#ifndef VEC
#define VEC 0
#endif
#if VEC && CW != 4
#error "VEC reads 4 contiguous columns: CW must be 4"
#endif
#define KMAX 256 /* the attention ops' largest K (ocla_attention_limits) */
#define PART 2048 /* partial sums of a work-group with KS > 1: KS * DV * CW at most (plan_la.c) */

OCLA_KERNEL void la_decode(const int T, const int H, const int K, const int V, const float scale, const int feature,
                           const int gmode, const int norm, OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v),
                           OCLA_GTENSOR(g), OCLA_OTENSOR_OUT(o), const int has_s0, OCLA_TENSOR(S0), const int has_z0,
                           OCLA_TENSOR(z0), const int has_s1, OCLA_TENSOR_OUT(S1), const int has_z1,
                           OCLA_TENSOR_OUT(z1), __global const float *dec, __global float *den, const int slot_s0,
                           const int slot_s1, __global const int *slots) {
    __local float sq[KMAX], sk[KMAX], sg[KMAX];
    __local float part[PART];
    (void)T; /* 1: the host plans this kernel for single tokens only */
    const int DV = (int)get_local_size(0), KS = (int)get_local_size(1);
    const int c = (int)get_local_id(0), r = (int)get_local_id(1), tid = r * DV + c;
    const int bh = (int)get_group_id(2), b = bh / H, h = bh % H;
    const int sb0 = slot_s0 ? slots[b] : b, sb1 = slot_s1 ? slots[b] : b; /* state rows */
    const float fixed = gmode == OCLA_GATE_FIXED ? exp(ocla_log_gate(dec[h])) : 1.0f;
#if VEC /* 4 contiguous value columns as one float4: no normaliser column (the plan's condition) */
    const int col0 = (int)get_group_id(0) * DV * 4 + 4 * c;
    const int live = col0 < V;
    /* the first RB rows are loaded before q, k and the gates are staged (they do not need them) */
    float4 s[RB], sn[RB];
    for (int j = 0; j < RB; j++) {
        const int i = r + j * KS;
        s[j] = live && i < K && has_s0 ? *(__global const float4 *)OCLA_PTR(S0, sb0, h, i, col0) : (float4)(0.0f);
    }
#endif
    for (int e = tid; e < K; e += DV * KS) { /* phi(q), phi(k) and the gates of all K rows */
        sq[e] = ocla_phi(OCLA_LD(q, OCLA_OFF(q, b, 0, h, e)), feature);
        sk[e] = ocla_phi(OCLA_LD(k, OCLA_OFF(k, b, 0, h, e)), feature);
        float f = fixed;
        if (gmode == OCLA_GATE_SCALAR) f = exp(ocla_log_gate(OCLA_GLD(g, OCLA_OFF(g, b, 0, h, 0))));
        else if (gmode == OCLA_GATE_VECTOR) f = exp(ocla_log_gate(OCLA_GLD(g, OCLA_OFF(g, b, 0, h, e))));
        sg[e] = f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
#if VEC
    float4 vc4 = (float4)(0.0f), acc4 = (float4)(0.0f);
    if (live)
        vc4 = (float4)(OCLA_LD(v, OCLA_OFF(v, b, 0, h, col0)), OCLA_LD(v, OCLA_OFF(v, b, 0, h, col0 + 1)),
                       OCLA_LD(v, OCLA_OFF(v, b, 0, h, col0 + 2)), OCLA_LD(v, OCLA_OFF(v, b, 0, h, col0 + 3)));
    /* software pipelined: the next RB rows are loaded before this batch's rows are stored, so reads
     * stay in flight while the writes drain (the rows differ, so in place this reads what it would
     * have read anyway) */
    for (int i0 = r; live && i0 < K; i0 += KS * RB) {
        for (int j = 0; j < RB; j++) {
            const int i = i0 + (RB + j) * KS;
            sn[j] = i < K && has_s0 ? *(__global const float4 *)OCLA_PTR(S0, sb0, h, i, col0) : (float4)(0.0f);
        }
        for (int j = 0; j < RB; j++) {
            const int i = i0 + j * KS;
            if (i >= K) break;
            const float4 x = mad(s[j], (float4)(sg[i]), sk[i] * vc4);
            acc4 = mad((float4)(sq[i]), x, acc4);
            if (has_s1) *(__global float4 *)OCLA_PTR(S1, sb1, h, i, col0) = x;
        }
        for (int j = 0; j < RB; j++) s[j] = sn[j];
    }
    float acc[CW];
    acc[0] = acc4.s0, acc[1] = acc4.s1, acc[2] = acc4.s2, acc[3] = acc4.s3;
    int kind[CW];
    for (int u = 0; u < CW; u++) kind[u] = live;
#define DEC_COL(u) (col0 + (u))
#else
    const int col0 = (int)get_group_id(0) * DV * CW + c;
    /* per column: its value (1 for the normaliser column), where it reads and writes, whether it exists */
    float vc[CW], acc[CW];
    int kind[CW]; /* 0: outside, 1: a value column of S, 2: the normaliser column (z) */
    for (int u = 0; u < CW; u++) {
        const int col = col0 + u * DV;
        kind[u] = col < V ? 1 : (col == V && norm) ? 2 : 0;
        vc[u] = kind[u] == 1 ? OCLA_LD(v, OCLA_OFF(v, b, 0, h, col)) : kind[u] == 2 ? 1.0f : 0.0f;
        acc[u] = 0.0f;
    }
    for (int i0 = r; i0 < K; i0 += KS * RB) {
        float s[RB][CW];
        for (int j = 0; j < RB; j++) { /* every load of the RB rows before any store */
            const int i = i0 + j * KS;
            for (int u = 0; u < CW; u++) {
                const int col = col0 + u * DV;
                float x = 0.0f;
                if (i < K && has_s0 && kind[u] == 1) x = OCLA_AT(S0, sb0, h, i, col);
                else if (i < K && has_z0 && kind[u] == 2) x = OCLA_AT(z0, sb0, h, i, 0);
                s[j][u] = x;
            }
        }
        for (int j = 0; j < RB; j++) {
            const int i = i0 + j * KS;
            if (i >= K) break;
            for (int u = 0; u < CW; u++) {
                const int col = col0 + u * DV;
                const float x = mad(s[j][u], sg[i], sk[i] * vc[u]);
                acc[u] = mad(sq[i], x, acc[u]);
                if (has_s1 && kind[u] == 1) OCLA_AT(S1, sb1, h, i, col) = x;
                else if (has_z1 && kind[u] == 2) OCLA_AT(z1, sb1, h, i, 0) = x;
            }
        }
    }
#define DEC_COL(u) (col0 + (u) * DV)
#endif
    if (KS > 1) { /* uniform across the work-group: every item reaches the barrier */
        for (int u = 0; u < CW; u++) part[(r * CW + u) * DV + c] = acc[u];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (r > 0) return;
        for (int u = 0; u < CW; u++) {
            float x = 0.0f;
            for (int i = 0; i < KS; i++) x += part[(i * CW + u) * DV + c];
            acc[u] = x;
        }
    }
    for (int u = 0; u < CW; u++) {
        const int col = DEC_COL(u);
        if (kind[u] == 1) OCLA_OST(o, OCLA_OFF(o, b, 0, h, col), scale * acc[u]);
        else if (kind[u] == 2) den[bh] = scale * acc[u];
    }
#undef DEC_COL
}
