/* flash.cl: FLASH mixed chunk attention (Hua et al. 2022), fp32, OpenCL C 1.2.
 *
 * Shapes: qq, kq, ql, kl [B,T,H,S], v, o [B,T,H,E], any strides (elements). Chunks of C tokens,
 * g = t / C, G = ceil(T / C). rope(x, p) = split-half RoPE on the first rd dims at position p:
 *   i < rd/2:        x_i cos(p f_i) - x_{i+rd/2} sin(p f_i)
 *   rd/2 <= i < rd:  x_i cos(p f_j) + x_{i-rd/2} sin(p f_j),  j = i - rd/2,  f = invf[] (host-made)
 * Passes:
 *   flash_scores  A[bh,t,c] = post * relu(qs * rope(qq_t).rope(kq_s) + bs * bias[h, t-s+C-1])^2,
 *                 s = g*C + c (0 where s >= T or, causal, s > t)                     global (C, T, B*H)
 *   flash_states  KV[bh,g,i,j] = sum_{s in chunk g} rope(kl_s)_i v_sj                 global (E, S, B*H*G)
 *   flash_prefix  causal: KV[g] <- lin(g) * sum_{h<g} KV[h] (exclusive, in place);
 *                 non-causal: KV[0] <- lin * sum_g KV[g]                              global (E, S, B*H)
 *   flash_out     o_tj = sum_c A[bh,t,c] v_{gC+c,j} + sum_i rope(ql_t)_i KV[g or 0][i][j]  global (E, T, B*H)
 */
#define TP(x) __global const float *x, long x##o, long x##s0, long x##s1, long x##s2, long x##s3
#define TI(x, b, t, h, d) (x##o + (long)(b) * x##s0 + (long)(t) * x##s1 + (long)(h) * x##s2 + (long)(d) * x##s3)

/* Element i of rope(x) for the row starting at x[base] (stride sd between dims). */
OCLA_INLINE float fl_rope(__global const float *x, long base, long sd, int i, int rd, float pos,
                          __global const float *invf) {
    const float xi = x[base + (long)i * sd];
    if (i >= rd) return xi;
    const int hr = rd / 2;
    if (i < hr) {
        const float th = pos * invf[i];
        return xi * cos(th) - x[base + (long)(i + hr) * sd] * sin(th);
    }
    const int j = i - hr;
    const float th = pos * invf[j];
    return xi * cos(th) + x[base + (long)j * sd] * sin(th);
}

__kernel void flash_scores(TP(qq), TP(kq), __global const float *bias, long bias_o, long bias_h, __global const float *invf,
                           __global float *A, int T, int H, int S, int C, int causal, int has_bias, int rd,
                           long pos0, float qs, float bs, float post) {
    const int c = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (c >= C || t >= T) return;
    const int b = bh / H, h = bh % H;
    const int s = (t / C) * C + c;
    float a = 0.0f;
    if (s < T && (!causal || s <= t)) {
        const long qb = TI(qq, b, t, h, 0), kb = TI(kq, b, s, h, 0);
        const float pt = (float)(pos0 + t), ps = (float)(pos0 + s);
        float x = 0.0f;
        for (int i = 0; i < S; i++)
            x = fma(fl_rope(qq, qb, qqs3, i, rd, pt, invf), fl_rope(kq, kb, kqs3, i, rd, ps, invf), x);
        x *= qs;
        if (has_bias) x += bs * bias[bias_o + (long)h * bias_h + (t - s + C - 1)];
        const float r = fmax(x, 0.0f);
        a = post * r * r;
    }
    A[((long)bh * T + t) * C + c] = a;
}

__kernel void flash_states(TP(kl), TP(v), __global const float *invf, __global float *KV, int T, int H, int S,
                           int E, int C, int G, int rd, long pos0) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), bhg = (int)get_global_id(2);
    if (j >= E || i >= S) return;
    const int g = bhg % G, bh = bhg / G;
    const int b = bh / H, h = bh % H;
    const int s1 = min(T, (g + 1) * C);
    float acc = 0.0f;
    for (int s = g * C; s < s1; s++)
        acc = fma(fl_rope(kl, TI(kl, b, s, h, 0), kls3, i, rd, (float)(pos0 + s), invf), v[TI(v, b, s, h, j)], acc);
    KV[(((long)bh * G + g) * S + i) * E + j] = acc;
}

/* lin_norm: 0 = multiply by lin; 1 = multiply by lin / g (mean over preceding chunks; g = 0 -> 0). */
__kernel void flash_prefix(__global float *KV, int S, int E, int G, int causal, int lin_norm, float lin) {
    const int j = (int)get_global_id(0), i = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (j >= E || i >= S) return;
    const long base = (long)bh * G * S * E + (long)i * E + j, gs = (long)S * E;
    float run = 0.0f;
    for (int g = 0; g < G; g++) {
        const float x = KV[base + g * gs];
        if (causal) {
            const float f = lin_norm == 1 ? (g > 0 ? lin / (float)g : 0.0f) : lin;
            KV[base + g * gs] = run * f;
        }
        run += x;
    }
    if (!causal) KV[base] = run * lin;
}

__kernel void flash_out(TP(ql), TP(v), __global const float *invf, __global const float *A,
                        __global const float *KV, __global float *o, long oo, long os0, long os1, long os2, long os3,
                        int T, int H, int S, int E, int C, int G, int causal, int rd, long pos0) {
    const int j = (int)get_global_id(0), t = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (j >= E || t >= T) return;
    const int b = bh / H, h = bh % H;
    const int g = t / C;
    const int s0 = g * C;
    const int s1 = causal ? t + 1 : min(T, s0 + C);
    const long ab = ((long)bh * T + t) * C;
    float acc = 0.0f;
    for (int s = s0; s < s1; s++) acc = fma(A[ab + (s - s0)], v[TI(v, b, s, h, j)], acc);
    const long kvb = ((long)bh * G + (causal ? g : 0)) * S * E + j;
    const long qb = TI(ql, b, t, h, 0);
    const float pt = (float)(pos0 + t);
    for (int i = 0; i < S; i++) acc = fma(fl_rope(ql, qb, qls3, i, rd, pt, invf), KV[kvb + (long)i * E], acc);
    o[TI(o, b, t, h, j)] = acc;
}
