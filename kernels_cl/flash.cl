/* SPDX-License-Identifier: MIT */
/* flash.cl: FLASH mixed chunk attention (Hua et al. 2022), OpenCL C 1.2. One variant macro,
 * OCLA_DTYPE (common.cl): the element type of qq, kq, ql, kl, v, o and the bias (fp32, bf16 or fp16;
 * loads widen, the output is rounded once); the scores, chunk states and every sum are fp32. One
 * program per dtype serves every chunk size and shape (C, sizes and strides are arguments).
 *
 * Shapes: qq, kq, ql, kl [B,T,H,S], v, o [B,T,H,E], any strides (elements; OCLA_TENSOR). Chunks of C
 * tokens, g = t / C, G = ceil(T / C). rope(x, p) = split-half RoPE on the first rd dims at position p
 * (common.cl's ocla_rope; inverse frequencies invf[] made on the host in fp64, the angle in fp32).
 * Passes (runtime/op_flash.c launches them in this order; the plan, runtime/plan_flash.c, names them):
 *   flash_scores  A[bh,t,c] = post * relu(qs * rope(qq_t).rope(kq_s) + bs * bias[h, t-s+C-1])^2,
 *                 s = g*C + c (0 where s >= T or, causal, s > t)                     global (C, T, B*H)
 *   flash_states  KV[bh,g,i,j] = sum_{s in chunk g} rope(kl_s)_i v_sj                 global (E, S, B*H*G)
 *   flash_prefix  causal: KV[g] <- lin(g) * sum_{h<g} KV[h] (exclusive, in place);
 *                 non-causal: KV[0] <- lin * sum_g KV[g]                              global (E, S, B*H)
 *   flash_out     o_tj = sum_c A[bh,t,c] v_{gC+c,j} + sum_i rope(ql_t)_i KV[g or 0][i][j]  global (E, T, B*H)
 * One work-item per output element, no local memory and no barrier: any work-group shape runs (the
 * plan's), and items past the end of a dimension return at once.
 * Packed sequences (every kernel's last arguments, OCLA_SEQ, common.cl; B = 1): chunks start at each
 * sequence's first token (common.cl's ocla_fchunk: g, s0, s1 for the C of a chunk above, G the chunks
 * of all sequences), RoPE positions count from it, and flash_prefix runs one item per (bh, sequence,
 * i, j) over that sequence's chunks (global (E, S, B*H*N)); nseq = 0 is the dense batch above.
 */

/* Element i of rope(x) for the row at x[base] (stride sd between dims). */
OCLA_INLINE float fl_rope_at(__global const ocla_data *x, ocla_idx base, ocla_idx sd, int i, int rd, float pos,
                             __global const float *invf) {
    const float xi = OCLA_LD(x, base + (ocla_idx)i * sd);
    return i < rd ? ocla_rope(xi, OCLA_LD(x, base + (ocla_idx)ocla_rope_partner(i, rd) * sd), i, rd, pos, invf) : xi;
}

OCLA_KERNEL void flash_scores(OCLA_DTENSOR(qq), OCLA_DTENSOR(kq), __global const ocla_data *bias, ocla_idx bias_o,
                              ocla_idx bias_h, __global const float *invf, __global float *A, int T, int H, int S,
                              int C, int causal, int has_bias, int rd, long pos0, float qs, float bs, float post,
                              OCLA_SEQ) {
    const int c = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (c >= C || t >= T) return;
    const int b = bh / H, h = bh % H;
    const ocla_fchunk ch = ocla_fchunk_of(t, T, C, seq_buf + seq_o, nseq);
    const int s = ch.s0 + c;
    float a = 0.0f;
    if (s < ch.s1 && (!causal || s <= t)) {
        const ocla_idx qb = OCLA_OFF(qq, b, t, h, 0), kb = OCLA_OFF(kq, b, s, h, 0);
        const float pt = (float)(pos0 + t - ch.q0), ps = (float)(pos0 + s - ch.q0);
        float x = 0.0f;
        for (int i = 0; i < S; i++)
            x = mad(fl_rope_at(qq, qb, qq_s3, i, rd, pt, invf), fl_rope_at(kq, kb, kq_s3, i, rd, ps, invf), x);
        x *= qs;
        if (has_bias) x += bs * OCLA_LD(bias, bias_o + (ocla_idx)h * bias_h + (t - s + C - 1));
        const float r = fmax(x, 0.0f);
        a = post * r * r;
    }
    A[((ocla_idx)bh * T + t) * C + c] = a;
}

OCLA_KERNEL void flash_states(OCLA_DTENSOR(kl), OCLA_DTENSOR(v), __global const float *invf, __global float *KV, int T,
                              int H, int S, int E, int C, int G, int rd, long pos0, OCLA_SEQ) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), bhg = (int)get_global_id(2);
    if (j >= E || i >= S) return;
    const int g = bhg % G, bh = bhg / G;
    const int b = bh / H, h = bh % H;
    const ocla_fchunk ch = ocla_fchunk_at(g, T, C, seq_buf + seq_o, nseq);
    float acc = 0.0f;
    for (int s = ch.s0; s < ch.s1; s++)
        acc = mad(fl_rope_at(kl, OCLA_OFF(kl, b, s, h, 0), kl_s3, i, rd, (float)(pos0 + s - ch.q0), invf),
                  OCLA_LD(v, OCLA_OFF(v, b, s, h, j)), acc);
    KV[(((ocla_idx)bh * G + g) * S + i) * E + j] = acc;
}

/* lin_norm: 0 = multiply by lin; 1 = multiply by lin / g (mean over preceding chunks; g = 0 -> 0),
 * g counted within the sequence. */
OCLA_KERNEL void flash_prefix(__global float *KV, int S, int E, int G, int causal, int lin_norm, float lin, OCLA_SEQ) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), r = (int)get_global_id(2);
    if (j >= E || i >= S) return;
    __global const int *seq = seq_buf + seq_o;
    const int ns = max(nseq, 1), bh = r / ns, n = r % ns;
    const int g0 = nseq > 0 ? seq[nseq + 1 + n] : 0, g1 = nseq > 0 ? seq[nseq + 2 + n] : G;
    const ocla_idx base = ((ocla_idx)bh * G + g0) * S * E + (ocla_idx)i * E + j, gs = (ocla_idx)S * E;
    float run = 0.0f;
    for (int g = 0; g < g1 - g0; g++) {
        const float x = KV[base + g * gs];
        if (causal) {
            const float f = lin_norm == 1 ? (g > 0 ? lin / (float)g : 0.0f) : lin;
            KV[base + g * gs] = run * f;
        }
        run += x;
    }
    if (!causal) KV[base] = run * lin;
}

OCLA_KERNEL void flash_out(OCLA_DTENSOR(ql), OCLA_DTENSOR(v), __global const float *invf, __global const float *A,
                           __global const float *KV, OCLA_DTENSOR_OUT(o), int T, int H, int S, int E, int C, int G,
                           int causal, int rd, long pos0, OCLA_SEQ) {
    const int j = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (j >= E || t >= T) return;
    const int b = bh / H, h = bh % H;
    const ocla_fchunk ch = ocla_fchunk_of(t, T, C, seq_buf + seq_o, nseq);
    const int g = ch.g, s0 = ch.s0, s1 = causal ? t + 1 : ch.s1;
    const ocla_idx ab = ((ocla_idx)bh * T + t) * C;
    float acc = 0.0f;
    for (int s = s0; s < s1; s++) acc = mad(A[ab + (s - s0)], OCLA_LD(v, OCLA_OFF(v, b, s, h, j)), acc);
    const ocla_idx kvb = ((ocla_idx)bh * G + (causal ? g : 0)) * S * E + j;
    const ocla_idx qb = OCLA_OFF(ql, b, t, h, 0);
    const float pt = (float)(pos0 + t - ch.q0);
    for (int i = 0; i < S; i++) acc = mad(fl_rope_at(ql, qb, ql_s3, i, rd, pt, invf), KV[kvb + (ocla_idx)i * E], acc);
    OCLA_ST(o, OCLA_OFF(o, b, t, h, j), acc);
}
