/* SPDX-License-Identifier: MIT */
/* softmax.cl: tiled (flash-style) softmax attention, OpenCL C 1.2. q, k, v, o of element type
 * ocla_data (-DOCLA_DTYPE, common.cl: fp32, bf16 or fp16 storage); scores, the running maximum and
 * sum and the accumulators fp32; o rounded once on its store.
 *
 *   o[b,t,h,:] = sum_s p_ts v[b,s,h,:],  p_ts = exp(x_ts - m_t) / l_t,  x_ts = scale * q[b,t,h,:] . k[b,s,h,:]
 *   (s <= t when causal), with the running maximum m_t and sum l_t updated block by block (online
 *   softmax): the T x T score matrix never exists in memory.
 *
 * Shapes: q [B,T,H,K], k [B,Tk,H,K], v [B,Tk,H,V], o [B,T,H,V] (causal: Tk = T), any strides (elements).
 * Two kernels, one per build: ONE_ROW = 0 (default) builds sm_tiled, 1 sm_forward. The scheduler
 * (runtime/plan_softmax.c) picks the kernel and every tile below; runtime/op_softmax.c builds exactly
 * that variant. Every macro has a default, so the file compiles on its own after common.cl.
 *
 *   sm_tiled (TX TY RM KN VS DK DV VEC4 LSUM): register-tiled. One work-group of TX*TY
 *     items = BQ = TY*RM query rows of one (b, h); key blocks of BK = TX*KN rows. Per key block:
 *     S = Q K^T in DK/32 slabs of 32 dims (q and k slabs staged in local memory, float4 rows), each
 *     item an RM x KN tile of scores (its rows ty*RM.., its keys tx + TX*j); row maxima through
 *     local memory; P = exp(S - m) to local memory (key-major); then O += P V in slabs of VS value rows,
 *     each item an RM x 4*VC tile of the output (value dims 4*(c*TX + tx)..+3). The next slab's global
 *     loads are issued into registers before the current slab is computed (one slab of prefetch).
 *     Local memory: a __local float4 argument (size: see OFF_* below and runtime/plan_softmax.c).
 *     VEC4: K, V multiples of 4, unit last stride, 16-byte aligned rows (float4 global loads).
 *     LSUM: the row sums of P come from per-item partial sums through local memory (else each item
 *     adds its rows' P values in the P V loop). No barrier inside the innermost loops.
 *   sm_forward (ONE_ROW=1, BQ DK DV): one work-item per query row (q and the accumulator in private
 *     memory), BQ key and value rows staged at a time in local memory. The small-work-group path.
 *
 * Key blocks [kb0, kb1) per launch: first = 1 starts from m = -inf, l = 0, acc = 0, else from st;
 * final_pass = 1 writes o, else saves (m, l, acc) to st ([B*H, grid rows, DV + 2]). The host splits
 * the keys over several launches where the driver caps a work-item's loop iterations (Mesa llvmpipe:
 * 65535 in total per invocation, gallivm's loop limiter; beyond it rows come out wrong, no error).
 */
#ifndef ONE_ROW
#define ONE_ROW 0 /* 0: sm_tiled; 1: sm_forward */
#endif
#ifndef DK /* padded key and value dims (the runtime sets both) */
#define DK 64
#define DV 64
#endif

#if !ONE_ROW
/* ------------------------------------------------------------------------------------------------ */
/* Defaults (the plan's block-32 tiles at K = V = 64); runtime/plan_softmax.c sets every one, so one
 * guard serves them all. */
#ifndef TX
#define TX 16
#define TY 8
#define RM 4
#define KN 4
#define VS 32
#define VEC4 0
#define LSUM 1
#endif
#define NT (TX * TY)
#define BQ (TY * RM)
#define BK (TX * KN)
#define KS 32                     /* q/k slab width (dims) */
#define LQ4 ((KS + 4) / 4)        /* row pitch of the q and k slabs, float4 (padding: no bank conflicts) */
#define LP4 ((BQ + 4) / 4)        /* row pitch of P (one row per key), float4 */
#define DV4 (DV / 4)
#define NKS (DK / KS)             /* q/k slabs per key block */
#define NVS (BK / VS)             /* value slabs per key block */
#define NST (NKS + NVS)           /* stages per key block */
#define VC (DV / (4 * TX))        /* float4 output columns per item */
#define KLD (BK * KS / (4 * NT))  /* float4 of k per item per slab */
#define QLD (BQ * KS / (4 * NT))  /* float4 of q per item per slab */
#define VLD (VS * DV / (4 * NT))  /* float4 of v per item per slab */
#define PRE (KLD + QLD > VLD ? KLD + QLD : VLD)
#define RM4 (RM / 4)
/* local memory, float4 units: [slab area: q slab BQ x LQ4, k slab BK x LQ4 | v slab VS x DV4]
 * [P: BK x LP4] [M: TX x BQ/4] [L (LSUM): TX x BQ/4] */
#define OFF_K (BQ * LQ4)
#define OFF_P ((BQ + BK) * LQ4 > VS * DV4 ? (BQ + BK) * LQ4 : VS * DV4) /* after the slab area */
#define OFF_M (OFF_P + BK * LP4)
#define OFF_L (OFF_M + TX * BQ / 4)

#if VEC4 && OCLA_DTYPE != OCLA_DT_F32
#error "VEC4 (float4 loads) is fp32 only: the plan leaves it off for half tensors"
#endif
/* p[off + i * s3] for dims d + i below lim, zero above (VEC4: one float4 load), as fp32. */
OCLA_INLINE float4 sm_ld4(__global const ocla_data *p, long off, long s3, int d, int lim) {
#if VEC4
    return *(__global const float4 *)(p + off);
#else
    float4 r = (float4)(0.0f);
    if (d < lim) r.s0 = OCLA_LD(p, off);
    if (d + 1 < lim) r.s1 = OCLA_LD(p, off + s3);
    if (d + 2 < lim) r.s2 = OCLA_LD(p, off + 2 * s3);
    if (d + 3 < lim) r.s3 = OCLA_LD(p, off + 3 * s3);
    return r;
#endif
}

/* n float4 per item of rows r0.. (those below rlim) of w float4 each, dims d0.. (zero from lim on). */
OCLA_INLINE void sm_fetch_rows(float4 *pre, int n, int w, int lid, int r0, int rlim, int d0, int lim,
                               __global const ocla_data *p, long base, long s1, long s3) {
#pragma unroll
    for (int u = 0; u < n; u++) {
        const int f = lid + NT * u, r = r0 + f / w, d = d0 + (f % w) * 4;
        pre[u] = (r < rlim && d < lim) ? sm_ld4(p, base + (long)r * s1 + (long)d * s3, s3, d, lim) : (float4)(0.0f);
    }
}

/* Global loads of stage g of key block kb into registers: g < NKS: k slab g and q slab g; else
 * value slab g - NKS. Zero outside [0, T) x [0, K) and [0, Tk) x [0, V). */
OCLA_INLINE void sm_fetch(float4 *pre, int kb, int g, int lid, int q0, int T, int Tk, int K, int V,
                          __global const ocla_data *q, long qb, long qs1, long qs3, __global const ocla_data *k,
                          long kbs, long ks1, long ks3, __global const ocla_data *v, long vb, long vs1, long vs3) {
    if (g < NKS) {
        sm_fetch_rows(pre, KLD, KS / 4, lid, kb * BK, Tk, g * KS, K, k, kbs, ks1, ks3);
        sm_fetch_rows(pre + KLD, QLD, KS / 4, lid, q0, T, g * KS, K, q, qb, qs1, qs3);
    } else {
        sm_fetch_rows(pre, VLD, DV4, lid, kb * BK + (g - NKS) * VS, Tk, 0, V, v, vb, vs1, vs3);
    }
}

/* Registers of stage g -> local memory. */
OCLA_INLINE void sm_commit(__local float4 *sm, const float4 *pre, int g, int lid) {
    if (g < NKS) {
#pragma unroll
        for (int u = 0; u < KLD; u++) {
            const int f = lid + NT * u;
            sm[OFF_K + (f / (KS / 4)) * LQ4 + f % (KS / 4)] = pre[u];
        }
#pragma unroll
        for (int u = 0; u < QLD; u++) {
            const int f = lid + NT * u;
            sm[(f / (KS / 4)) * LQ4 + f % (KS / 4)] = pre[KLD + u];
        }
    } else {
#pragma unroll
        for (int u = 0; u < VLD; u++) sm[lid + NT * u] = pre[u];
    }
}

/* x[0..RM) as RM/4 float4 at sm[off..]: an item's rows in the area of row maxima or row sums. */
OCLA_INLINE void sm_put_rows(__local float4 *sm, int off, const float *x) {
#pragma unroll
    for (int i4 = 0; i4 < RM4; i4++) sm[off + i4] = (float4)(x[4 * i4], x[4 * i4 + 1], x[4 * i4 + 2], x[4 * i4 + 3]);
}

#define SM_FETCH_NEXT()                                                                                   \
    do {                                                                                                  \
        if (++fg == NST) fg = 0, fkb++;                                                                   \
        if (fkb < kend)                                                                                   \
            sm_fetch(pre, fkb, fg, lid, q0, T, Tk, K, V, q, qbase, q_s1, q_s3, k, kbase, k_s1, k_s3, v, vbase, \
                     v_s1, v_s3);                                                                         \
    } while (0)

OCLA_KERNEL __attribute__((reqd_work_group_size(NT, 1, 1))) void
sm_tiled(OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v), OCLA_DTENSOR_OUT(o), int T, int Tk, int H, int K, int V,
         float scale, int causal, int kb0, int kb1, int first, int final_pass, __global float *st, __local float4 *sm) {
    const int lid = (int)get_local_id(0), tx = lid % TX, ty = lid / TX;
    const int bh = (int)get_group_id(0);
    const int qb = (int)get_num_groups(1) - 1 - (int)get_group_id(1); /* causal: longest rows first */
    const int b = bh / H, h = bh % H;
    const int q0 = qb * BQ;
    const ocla_idx qbase = OCLA_OFF(q, b, 0, h, 0), kbase = OCLA_OFF(k, b, 0, h, 0), vbase = OCLA_OFF(v, b, 0, h, 0);

    float4 acc[RM][VC] = {{(float4)(0.0f)}}; /* the rest zero too */
    float m[RM], l[RM] = {0.0f};
#pragma unroll
    for (int i = 0; i < RM; i++) m[i] = -INFINITY;
    /* state of an earlier launch: row (bh, q0 + r) of st holds m, l, acc[DV] */
    __global float *strow = st + ((long)bh * get_num_groups(1) * BQ + (long)q0 + (long)ty * RM) * (DV + 2);
    if (!first) {
#pragma unroll
        for (int i = 0; i < RM; i++) {
            __global const float *r = strow + (long)i * (DV + 2);
            m[i] = r[0], l[i] = r[1];
#pragma unroll
            for (int c = 0; c < VC; c++) acc[i][c] = vload4(c * TX + tx, r + 2);
        }
    }
    const int nkb = (Tk + BK - 1) / BK;
    int kend = causal ? min(nkb, (q0 + BQ - 1) / BK + 1) : nkb;
    kend = min(kend, kb1);

    float4 pre[PRE];
    int fkb = kb0 - 1, fg = NST - 1; /* the stage whose loads are in pre: from here stage 0 of key block kb0 */
    SM_FETCH_NEXT();
    for (int kb = kb0; kb < kend; kb++) {
        /* ---- S = Q K^T over DK in slabs of KS ---- */
        float s[RM][KN] = {{0.0f}};
        for (int g = 0; g < NKS; g++) {
            barrier(CLK_LOCAL_MEM_FENCE);
            sm_commit(sm, pre, g, lid);
            barrier(CLK_LOCAL_MEM_FENCE);
            SM_FETCH_NEXT();
#pragma unroll
            for (int c = 0; c < KS / 4; c++) {
                float4 a[RM], kk[KN];
#pragma unroll
                for (int i = 0; i < RM; i++) a[i] = sm[(ty * RM + i) * LQ4 + c];
#pragma unroll
                for (int j = 0; j < KN; j++) kk[j] = sm[OFF_K + (tx + TX * j) * LQ4 + c];
#pragma unroll
                for (int i = 0; i < RM; i++)
#pragma unroll
                    for (int j = 0; j < KN; j++) {
                        float x = mad(a[i].s0, kk[j].s0, s[i][j]);
                        x = mad(a[i].s1, kk[j].s1, x);
                        x = mad(a[i].s2, kk[j].s2, x);
                        s[i][j] = mad(a[i].s3, kk[j].s3, x);
                    }
            }
        }
        /* ---- scale, mask, row maxima ---- */
        float pm[RM];
#pragma unroll
        for (int i = 0; i < RM; i++) {
            const int t = q0 + ty * RM + i;
            pm[i] = -INFINITY;
#pragma unroll
            for (int j = 0; j < KN; j++) {
                const int sk = kb * BK + tx + TX * j;
                const float x = (sk < Tk && (!causal || sk <= t)) ? s[i][j] * scale : -INFINITY;
                s[i][j] = x;
                pm[i] = fmax(pm[i], x);
            }
        }
        sm_put_rows(sm, OFF_M + (tx * BQ + ty * RM) / 4, pm);
        barrier(CLK_LOCAL_MEM_FENCE); /* every item is past its q/k slab reads: the slab area takes v */
        sm_commit(sm, pre, NKS, lid);
        SM_FETCH_NEXT();
        float mr[RM];
#pragma unroll
        for (int i = 0; i < RM; i++) mr[i] = m[i];
        for (int x = 0; x < TX; x++)
#pragma unroll
            for (int i4 = 0; i4 < RM4; i4++) {
                const float4 w = sm[OFF_M + (x * BQ + ty * RM) / 4 + i4];
                mr[4 * i4] = fmax(mr[4 * i4], w.s0);
                mr[4 * i4 + 1] = fmax(mr[4 * i4 + 1], w.s1);
                mr[4 * i4 + 2] = fmax(mr[4 * i4 + 2], w.s2);
                mr[4 * i4 + 3] = fmax(mr[4 * i4 + 3], w.s3);
            }
#pragma unroll
        for (int i = 0; i < RM; i++) {
            const float ref = mr[i] == -INFINITY ? 0.0f : mr[i]; /* a row with no key yet */
            const float alpha = exp(m[i] - ref);
            m[i] = mr[i];
            l[i] *= alpha;
#pragma unroll
            for (int c = 0; c < VC; c++) acc[i][c] *= alpha;
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < KN; j++) ps += (s[i][j] = exp(s[i][j] - ref));
            pm[i] = ps;
        }
#if LSUM
        sm_put_rows(sm, OFF_L + (tx * BQ + ty * RM) / 4, pm);
#endif
#pragma unroll
        for (int j = 0; j < KN; j++)
#pragma unroll
            for (int i4 = 0; i4 < RM4; i4++)
                sm[OFF_P + (tx + TX * j) * LP4 + ty * RM4 + i4] =
                    (float4)(s[4 * i4][j], s[4 * i4 + 1][j], s[4 * i4 + 2][j], s[4 * i4 + 3][j]);
        barrier(CLK_LOCAL_MEM_FENCE);
#if LSUM
        for (int x = 0; x < TX; x++)
#pragma unroll
            for (int i4 = 0; i4 < RM4; i4++) {
                const float4 w = sm[OFF_L + (x * BQ + ty * RM) / 4 + i4];
                l[4 * i4] += w.s0, l[4 * i4 + 1] += w.s1, l[4 * i4 + 2] += w.s2, l[4 * i4 + 3] += w.s3;
            }
#endif
        /* ---- O += P V in slabs of VS value rows ---- */
        for (int g = 0; g < NVS; g++) {
            if (g > 0) {
                barrier(CLK_LOCAL_MEM_FENCE);
                sm_commit(sm, pre, NKS + g, lid);
                barrier(CLK_LOCAL_MEM_FENCE);
                SM_FETCH_NEXT();
            }
#pragma unroll 8
            for (int j = 0; j < VS; j++) {
                float p[RM];
#pragma unroll
                for (int i4 = 0; i4 < RM4; i4++) {
                    const float4 w = sm[OFF_P + (g * VS + j) * LP4 + ty * RM4 + i4];
                    p[4 * i4] = w.s0, p[4 * i4 + 1] = w.s1, p[4 * i4 + 2] = w.s2, p[4 * i4 + 3] = w.s3;
                }
#if !LSUM
#pragma unroll
                for (int i = 0; i < RM; i++) l[i] += p[i];
#endif
#pragma unroll
                for (int c = 0; c < VC; c++) {
                    const float4 w = sm[j * DV4 + c * TX + tx];
#pragma unroll
                    for (int i = 0; i < RM; i++) acc[i][c] = mad((float4)(p[i]), w, acc[i][c]);
                }
            }
        }
    }
    if (!final_pass) {
#pragma unroll
        for (int i = 0; i < RM; i++) {
            __global float *r = strow + (long)i * (DV + 2);
            if (tx == 0) r[0] = m[i], r[1] = l[i];
#pragma unroll
            for (int c = 0; c < VC; c++) vstore4(acc[i][c], c * TX + tx, r + 2);
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < RM; i++) {
        const int t = q0 + ty * RM + i;
        if (t >= T) continue;
        const float inv = 1.0f / l[i];
        const ocla_idx ob = OCLA_OFF(o, b, t, h, 0);
#pragma unroll
        for (int c = 0; c < VC; c++) {
            const int d = 4 * (c * TX + tx);
            const float4 r = acc[i][c] * inv;
#if VEC4
            if (d < V) *(__global float4 *)(o + ob + d) = r;
#else
            if (d < V) OCLA_ST(o, ob + (ocla_idx)d * o_s3, r.s0);
            if (d + 1 < V) OCLA_ST(o, ob + (ocla_idx)(d + 1) * o_s3, r.s1);
            if (d + 2 < V) OCLA_ST(o, ob + (ocla_idx)(d + 2) * o_s3, r.s2);
            if (d + 3 < V) OCLA_ST(o, ob + (ocla_idx)(d + 3) * o_s3, r.s3);
#endif
        }
    }
}

#else
/* ------------------------------------------------------------------------------------------------ */
#ifndef BQ
#define BQ 16
#endif
OCLA_KERNEL __attribute__((reqd_work_group_size(BQ, 1, 1))) void
sm_forward(OCLA_DTENSOR(q), OCLA_DTENSOR(k), OCLA_DTENSOR(v), OCLA_DTENSOR_OUT(o), int T, int Tk, int H, int K, int V,
           float scale, int causal, int kb0, int kb1, int first, int final_pass, __global float *st) {
    __local float ks[BQ][DK];
    __local float vs[BQ][DV];
    const int lid = (int)get_local_id(0), blk = (int)get_group_id(0), bh = (int)get_global_id(1);
    const int b = bh / H, h = bh % H;
    const int t = blk * BQ + lid, tq = t < T ? t : T - 1;
    float qr[DK], acc[DV];
    for (int d = 0; d < DK; d++) qr[d] = d < K ? scale * OCLA_LD(q, OCLA_OFF(q, b, tq, h, d)) : 0.0f;
    for (int d = 0; d < DV; d++) acc[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    /* state of an earlier launch over key blocks [0, kb0): row (bh, t) of st holds m, l, acc[DV] */
    __global float *row = st + ((long)bh * get_global_size(0) + (long)blk * BQ + lid) * (DV + 2);
    if (!first) {
        m = row[0], l = row[1];
        for (int d = 0; d < V; d++) acc[d] = row[2 + d];
    }
    const int nblk = (Tk + BQ - 1) / BQ;
    const int last = min(kb1, causal ? blk + 1 : nblk);
    for (int kb = kb0; kb < last; kb++) {
        const int s_load = kb * BQ + lid;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int d = 0; d < K; d++) ks[lid][d] = (s_load < Tk) ? OCLA_LD(k, OCLA_OFF(k, b, s_load, h, d)) : 0.0f;
        for (int d = 0; d < V; d++) vs[lid][d] = (s_load < Tk) ? OCLA_LD(v, OCLA_OFF(v, b, s_load, h, d)) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        int jmax = min(Tk - kb * BQ, BQ);
        if (causal && kb == blk) jmax = min(jmax, lid + 1);
        for (int j = 0; j < jmax; j++) {
            float x = 0.0f;
            for (int d = 0; d < K; d++) x = mad(qr[d], ks[j][d], x);
            if (x > m) { /* new maximum: rescale what was accumulated so far */
                const float c = exp(m - x);
                l *= c;
                for (int d = 0; d < V; d++) acc[d] *= c;
                m = x;
            }
            const float p = exp(x - m);
            l += p;
            for (int d = 0; d < V; d++) acc[d] = mad(p, vs[j][d], acc[d]);
        }
    }
    if (!final_pass) {
        row[0] = m, row[1] = l;
        for (int d = 0; d < V; d++) row[2 + d] = acc[d];
        return;
    }
    if (t < T) {
        const float inv = 1.0f / l;
        for (int d = 0; d < V; d++) OCLA_ST(o, OCLA_OFF(o, b, t, h, d), acc[d] * inv);
    }
}
#endif
