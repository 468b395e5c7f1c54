/* SPDX-License-Identifier: MIT */
/* linear_attn.cl: chunkwise causal linear attention, simple GLA / retention, GLA (vector gates),
 * and non-causal linear attention. OpenCL C 1.2: q, k, v in OCLA_DTYPE, g in OCLA_GTYPE, o in
 * OCLA_OTYPE (common.cl: fp32, bf16 or fp16, widened on load); G, states, local staging and arithmetic fp32. Math and work split: docs/KERNELS.md.
 *
 * Notation per (batch b, head h): phi = feature map (0 identity, 1 elu+1, 2 relu) applied on load to
 * q and k; log gates are clamped to min(g, 0) (positive-gate policy); C = CHUNK tokens per chunk,
 * NT = ceil(T / C) chunks; Ve = V + norm columns: with the normaliser a virtual all-ones value
 * column V is appended, so the state column V is z and the output column V is the denominator.
 * G = chunk-local inclusive cumsum of the (clamped) log gates, fp32, written by la_gate_cumsum.
 *
 * Build options (one program variant per distinct string; sizes and strides are kernel arguments):
 *   CHUNK    tokens per chunk (16..256, multiple of 16)
 *   SUB      GLA sub-chunk (reference-point block) size, divides CHUNK, multiple of 4
 *   USE_GK   1: per-key-dimension gates (GLA, secondary chunking); 0: no gate or one scalar gate
 *            per token (common.cl's gate encoding; the run-time argument gate is the ocla_gate_kind)
 *   BV, TM, TN, BKA   output kernel: value tile, per-work-item TM x TN outputs, key slab width
 *   SBK, SBV, STM, STN, SJB   state kernel: BK x BV state tile, per-item STM x STN, rows per slab
 * Large local arrays are passed as __local kernel arguments (sizes from the plan).
 *
 * Rows: the state walk runs per row, a batch row b (dense: nseq = 0, NT = ceil(T / C) chunks per
 * row) or a packed sequence (nseq > 0, B = 1: sequence i is tokens [ts_i, ts_i + len_i) of the time
 * axis, NT = all sequences' chunks). seqtab, built by the host: per sequence (ts, len, first
 * chunk) at 3i, then per chunk (sequence, chunk within it) at 3 nseq + 2c. Chunks never straddle
 * two sequences. hs holds per (b, h) HSN = NT + 1 (dense) or NT + nseq (packed: each sequence's
 * chunk states and its final state) states; row r's start at hb (dense 0, packed first chunk + i).
 */

#define LA_NTHR ((CHUNK / TM) * (BV / TN))
#define LA_SNTHR ((SBK / STM) * (SBV / STN))
#define LA_LDA (CHUNK + 4) /* row pitch of the transposed slabs and of A: float4-aligned, fewer bank conflicts */

/* phi: ocla_phi (common.cl). Run-time gate kinds: OCLA_GATE_* (common.cl); FIXED runs as SCALAR
 * once la_gate_cumsum has turned the decay into per-token cumulative log gates. */
#ifndef CHUNK
#define CHUNK 64
#endif
#ifndef SUB
#define SUB 16
#endif
#ifndef BV
#define BV 64
#endif
#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef BKA
#define BKA 16
#endif
#ifndef SBK
#define SBK 64
#endif
#ifndef SBV
#define SBV 64
#endif
#ifndef STM
#define STM 4
#endif
#ifndef STN
#define STN 4
#endif
#ifndef SJB
#define SJB 16
#endif

/* A row of the state walk (see Rows above): la_row, la_row_of (common.cl). */

/* The chunk-local cumsums of tokens [t0, t1) (see la_gate_cumsum). */
OCLA_INLINE void la_cumsum_chunk(const int T, const int H, const int KG, const int mode, OCLA_GTENSOR(g),
                            __global const float *dec, __global float *G, const int kg, const int bh, const int t0,
                            const int t1) {
    const int b = bh / H, h = bh % H;
    __global float *out = G + ((ocla_idx)bh * T) * KG + kg;
    float acc = 0.0f;
    if (mode == 3) {
        const float d = ocla_log_gate(dec[h]);
        for (int t = t0; t < t1; t++) out[(ocla_idx)t * KG] = d * (float)(t - t0 + 1);
        return;
    }
    __global const ocla_gdata *gb = OCLA_PTR(g, b, 0, h, mode == 2 ? kg : 0);
    /* eight rows' loads before their stores: a store may alias the next load as far as the compiler
     * knows, so row-by-row code waits for each load in turn */
    for (int t = t0; t < t1; t += 8) {
        float x[8];
#pragma unroll
        for (int i = 0; i < 8; i++) x[i] = t + i < t1 ? ocla_log_gate(OCLA_GLD(gb, (ocla_idx)(t + i) * g_s1)) : 0.0f;
#pragma unroll
        for (int i = 0; i < 8; i++)
            if (t + i < t1) {
                acc += x[i];
                out[(ocla_idx)(t + i) * KG] = acc;
            }
    }
}

/* G[bh][t][kg] (kg < KG; KG = K for vector gates, 1 otherwise): chunk-local inclusive cumsum of
 * min(g, 0). mode 1: g [B,T,H]; mode 2: g [B,T,H,K]; mode 3: fixed per-head decay dec[h]
 * (G = (i+1) * min(dec[h], 0) for the i-th row of a chunk).
 * Work split: one work-item per (kg, chunk, bh), sequential over the chunk's rows. */
OCLA_KERNEL void la_gate_cumsum(const int T, const int H, const int KG, const int NT, const int mode, OCLA_GTENSOR(g),
                                __global const float *dec, __global float *G) {
    const int kg = (int)get_global_id(0), n = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (kg >= KG || n >= NT) return;
    la_cumsum_chunk(T, H, KG, mode, g, g_o, g_s0, g_s1, g_s2, g_s3, dec, G, kg, bh, n * CHUNK, min(n * CHUNK + CHUNK, T));
}

/* la_gate_cumsum over packed sequences (B = 1): chunk n of all NT is chunk j of sequence i (seqtab),
 * tokens [ts_i + j C, min(ts_i + (j + 1) C, ts_i + len_i)). */
OCLA_KERNEL void la_gate_cumsum_seq(const int T, const int H, const int KG, const int NT, const int mode,
                                    OCLA_GTENSOR(g), __global const float *dec, __global float *G, const int nseq,
                                    __global const int *seqtab) {
    const int kg = (int)get_global_id(0), n = (int)get_global_id(1), bh = (int)get_global_id(2);
    if (kg >= KG || n >= NT) return;
    const la_row w = la_row_of(seqtab[3 * nseq + 2 * n], T, nseq, seqtab);
    const int t0 = w.ts + seqtab[3 * nseq + 2 * n + 1] * CHUNK;
    la_cumsum_chunk(T, H, KG, mode, g, g_o, g_s0, g_s1, g_s2, g_s3, dec, G, kg, bh, t0, min(t0 + CHUNK, w.ts + w.len));
}

/* Chunk states: for every chunk n the state entering it, hs[bh][n] (K x Ve, fp32), hs[bh][NT] = the
 * state after the last token, and optionally the final state S1 [B,H,K,V] / z1 [B,H,K].
 *   S_{n+1} = diag(exp(G_last)) S_n + sum_{j in chunk} (phi(k_j) * exp(G_last - G_j)) [v_j, 1]^T
 * (scalar gates: exp(G_last - G_j) per row; no gate: factors 1). S_0 = [S0 | z0] or zeros.
 * Work split: one work-group per (b, h, K tile of SBK rows, V tile of SBV columns), walking the
 * chunks in order; each work-item keeps STM x STN state entries in registers; k and v rows come
 * through local memory in slabs of SJB rows. One launch walks chunks [n0, n1) (starting from hs[n0]
 * when n0 > 0): the host splits long sequences into several launches so that no launch runs an
 * unbounded loop (Mesa llvmpipe stops a kernel's loops after ~65535 iterations; GPU watchdogs).
 * State slots (has_slots): row b's initial and final states are row slots[b] of S0 / z0 / S1 / z1
 * (state pools [S,H,K,V] / [S,H,K]; the host checks the slots are in the pool and distinct).
 * With gmode = 0 and no chunk-boundary semantics needed
 * (non-causal), the same kernel computes KV = sum_t phi(k_t) v_t^T. */
OCLA_KERNEL void la_chunk_states(OCLA_LA_STATES_ARGS) {
    const int tid = (int)get_local_id(0);
    const int kt = (int)get_group_id(1) / nvt, vt = (int)get_group_id(1) % nvt;
    const int rh = (int)get_group_id(2), rr = rh / H, h = rh % H;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b, bh = b * H + h, ntr = (w.len + CHUNK - 1) / CHUNK; /* this row's chunks */
    if (n0 > 0 && n0 >= ntr) return; /* this row's walk ended in an earlier launch */
    const int m1 = min(n1, ntr);
    const int sb = has_slots ? slots[rr] : rr; /* the row of S0 / z0 / S1 / z1 (a state pool with slots) */
    const int Ve = V + norm;
    const int KG = gmode == 2 ? K : 1;
    const int tx = tid % (SBV / STN), ty = tid / (SBV / STN);
    /* rows r0 .. r0+STM-1; columns c0 + c * (SBV/STN): adjacent work-items own adjacent columns
     * (coalesced stores, conflict-free local reads) */
    const int r0 = kt * SBK + ty * STM, c0 = vt * SBV + tx;
    const ocla_idx kv = (ocla_idx)K * Ve;
    __global float *hrow = hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb) * kv; /* this row's states */
    float S[STM][STN];
    for (int a = 0; a < STM; a++)
        for (int c = 0; c < STN; c++) {
            const int r = r0 + a, col = c0 + c * (SBV / STN);
            float x = 0.0f;
            if (n0 > 0) { /* continuing a split walk: the state entering chunk n0 */
                if (r < K && col < Ve) x = hrow[n0 * kv + (ocla_idx)r * Ve + col];
            } else if (r < K && col < V && has_s0)
                x = OCLA_AT(S0, sb, h, r, col);
            else if (r < K && col == V && norm && has_z0)
                x = OCLA_AT(z0, sb, h, r, 0);
            S[a][c] = x;
        }
    __global const ocla_data *kb = OCLA_PTR(k, b, w.ts, h, 0), *vb = OCLA_PTR(v, b, w.ts, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + w.ts) * KG;
    for (int n = n0; n <= m1; n++) {
        __global float *hn = hrow + n * kv;
        for (int a = 0; a < STM; a++)
            for (int c = 0; c < STN; c++)
                if (r0 + a < K && c0 + c * (SBV / STN) < Ve) hn[(ocla_idx)(r0 + a) * Ve + c0 + c * (SBV / STN)] = S[a][c];
        if (n == m1) break;
        const int t0 = n * CHUNK, L = min(CHUNK, w.len - t0), tl = t0 + L - 1; /* tokens of the row */
        /* decay the state over the whole chunk: exp(G_last) <= 1 */
        if (gmode == 1) {
            const float f = exp(Gb[tl]);
            for (int a = 0; a < STM; a++)
                for (int c = 0; c < STN; c++) S[a][c] *= f;
        } else if (gmode == 2) {
            for (int a = 0; a < STM; a++) {
                const float f = r0 + a < K ? exp(Gb[(ocla_idx)tl * K + r0 + a]) : 0.0f;
                for (int c = 0; c < STN; c++) S[a][c] *= f;
            }
        }
        for (int j0 = 0; j0 < L; j0 += SJB) {
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int e = tid; e < SJB * SBK; e += LA_SNTHR) {
                const int jj = e / SBK, rr = e % SBK, j = j0 + jj, r = kt * SBK + rr;
                float x = 0.0f;
                if (j < L && r < K) {
                    const int t = t0 + j;
                    x = ocla_phi(OCLA_LD(kb, (ocla_idx)t * k_s1 + (ocla_idx)r * k_s3), feature);
                    if (gmode == 1) x *= exp(Gb[tl] - Gb[t]);
                    else if (gmode == 2) x *= exp(Gb[(ocla_idx)tl * K + r] - Gb[(ocla_idx)t * K + r]);
                }
                sK[jj * SBK + rr] = x;
            }
            for (int e = tid; e < SJB * SBV; e += LA_SNTHR) {
                const int jj = e / SBV, cc = e % SBV, j = j0 + jj, col = vt * SBV + cc;
                float x = 0.0f;
                if (j < L) {
                    if (col < V) x = OCLA_LD(vb, (ocla_idx)(t0 + j) * v_s1 + (ocla_idx)col * v_s3);
                    else if (col == V && norm) x = 1.0f;
                }
                sV[jj * SBV + cc] = x;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const int jn = min(SJB, L - j0);
            for (int jj = 0; jj < jn; jj++) {
                float kr[STM], vc[STN];
                for (int a = 0; a < STM; a++) kr[a] = sK[jj * SBK + ty * STM + a];
                for (int c = 0; c < STN; c++) vc[c] = sV[jj * SBV + tx + c * (SBV / STN)];
                for (int a = 0; a < STM; a++)
                    for (int c = 0; c < STN; c++) S[a][c] = mad(kr[a], vc[c], S[a][c]);
            }
        }
    }
    if (n1 < ntr) return;
    for (int a = 0; a < STM; a++)
        for (int c = 0; c < STN; c++) {
            const int r = r0 + a, col = c0 + c * (SBV / STN);
            if (r >= K) continue;
            if (col < V && has_s1) OCLA_AT(S1, sb, h, r, col) = S[a][c];
            else if (col == V && norm && has_z1) OCLA_AT(z1, sb, h, r, 0) = S[a][c];
        }
}

/* Chunk outputs: for chunk n of (b, h) (packed: of all sequences) and value tile [vt*BV, vt*BV + BV):
 *   o_i = scale * (phi(q_i) * exp(G_i))^T h_n + sum_{j <= i in chunk} A_ij [v_j, 1]
 *   A_ij = scale * sum_d phi(q_id) phi(k_jd) exp(G_id - G_jd)        (j <= i, else 0)
 * GV = 0: A = scale * exp(G_i - G_j) * (phi(q_i) . phi(k_j)), the factor applied by select.
 * GV = 1 (GLA): secondary chunking with sub-chunks of SUB = 4 rows (one 4x4 block); for a query
 * in sub-chunk I and a key in an earlier sub-chunk J, with n = first row of I and e = last row of J
 * (j <= e < n <= i):
 *   phi(q_id) exp(G_id - G_nd) * exp(G_nd - G_ed) * phi(k_jd) exp(G_ed - G_jd),
 * three factors with exponents <= 0 (the outer two precomputed per slab, the middle one per block);
 * diagonal sub-blocks are evaluated element by element as exp(min(G_id - G_jd, 0)).
 * Non-causal (noncausal = 1): o_i = scale * phi(q_i)^T hs[NT] (the whole sequence's KV), no A.
 * Columns < V go to o; with the normaliser column V (the denominator scale * phi(q_i) . z_i) goes
 * to den[bh][t] and la_normalize divides.
 * Work split: one work-group per (b, h, chunk, value tile); each work-item owns TM x TN outputs;
 * A (CHUNK x CHUNK, stored transposed with pitch CHUNK+4) lives in local memory (sA), computed in
 * 4x4 blocks (float4 loads) spread over the work-items, from transposed q/k/G slabs of BKA key
 * columns (sX); adjacent work-items own adjacent output columns (coalesced, conflict-free). */
OCLA_KERNEL void la_chunk_output(OCLA_LA_OUTPUT_ARGS) {
    const int tid = (int)get_local_id(0);
    const int n = (int)get_group_id(1) / nvt, vt = (int)get_group_id(1) % nvt;
    const int bh = (int)get_group_id(2), h = bh % H;
    /* chunk n: chunk j of row rr (a packed sequence's from the table) */
    const int rr = nseq > 0 ? seqtab[3 * nseq + 2 * n] : bh / H, j = nseq > 0 ? seqtab[3 * nseq + 2 * n + 1] : n;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b;
    const int Ve = V + norm;
    const int KG = gmode == 2 ? K : 1;
    const int t0 = w.ts + j * CHUNK, L = min(CHUNK, w.len - j * CHUNK);
    __global const ocla_data *qb = OCLA_PTR(q, b, 0, h, 0), *kb = OCLA_PTR(k, b, 0, h, 0);
    __global const ocla_data *vb = OCLA_PTR(v, b, 0, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + t0) * KG; /* row i of this chunk: Gb[i * KG] */
    const int tx = tid % (BV / TN), ty = tid / (BV / TN);
    const int i0 = ty * TM, c0 = vt * BV; /* rows i0 .. i0+TM-1, columns c0 + tx + c * (BV/TN) */

    /* ---- A = intra-chunk scores (causal only), stored transposed: sA[j * LA_LDA + i] ---- */
    if (!noncausal) {
        for (int e = tid; e < CHUNK * LA_LDA; e += LA_NTHR) sA[e] = 0.0f;
        __local float *sq = sX, *sk = sX + BKA * LA_LDA; /* slabs [dd][row], row-contiguous */
#if USE_GK
        /* G, and q, k rescaled to their sub-chunk's reference rows (SUB = 4 rows per sub-chunk):
         * qh_i = q_i exp(G_i - G_n(i)), n(i) = first row of i's sub-chunk;
         * kh_j = k_j exp(G_e(j) - G_j), e(j) = last valid row of j's sub-chunk. */
        __local float *sg = sX + 2 * BKA * LA_LDA, *sqh = sX + 3 * BKA * LA_LDA, *skh = sX + 4 * BKA * LA_LDA;
#endif
        for (int d0 = 0; d0 < K; d0 += BKA) {
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int e = tid; e < CHUNK * BKA; e += LA_NTHR) {
                const int i = e / BKA, dd = e % BKA, d = d0 + dd;
                float xq = 0.0f, xk = 0.0f;
                if (i < L && d < K) {
                    const ocla_idx t = t0 + i;
                    xq = ocla_phi(OCLA_LD(qb, t * q_s1 + (ocla_idx)d * q_s3), feature);
                    xk = ocla_phi(OCLA_LD(kb, t * k_s1 + (ocla_idx)d * k_s3), feature);
                }
                sq[dd * LA_LDA + i] = xq;
                sk[dd * LA_LDA + i] = xk;
#if USE_GK
                sg[dd * LA_LDA + i] = (i < L && d < K) ? Gb[(ocla_idx)i * K + d] : 0.0f;
#endif
            }
            barrier(CLK_LOCAL_MEM_FENCE);
#if USE_GK
            for (int e = tid; e < CHUNK * BKA; e += LA_NTHR) {
                const int i = e % CHUNK, dd = e / CHUNK, x = dd * LA_LDA + i;
                const int nr = i & ~(SUB - 1), er = min(i | (SUB - 1), L - 1);
                sqh[x] = sq[x] * exp(fmin(sg[x] - sg[dd * LA_LDA + nr], 0.0f));
                skh[x] = i < L ? sk[x] * exp(fmin(sg[dd * LA_LDA + er] - sg[x], 0.0f)) : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
#endif
            for (int tt = tid; tt < (CHUNK / 4) * (CHUNK / 4); tt += LA_NTHR) {
                const int ai = (tt / (CHUNK / 4)) * 4, aj = (tt % (CHUNK / 4)) * 4;
                if (aj > ai || ai >= L) continue;
                float4 acc0 = (float4)(0.0f), acc1 = (float4)(0.0f), acc2 = (float4)(0.0f), acc3 = (float4)(0.0f);
#if USE_GK
                if (ai == aj) { /* diagonal sub-block: element by element, exponent min(G_i - G_j, 0) */
                    for (int dd = 0; dd < BKA; dd++) {
                        const float4 qv = vload4(0, sq + dd * LA_LDA + ai), kv = vload4(0, sk + dd * LA_LDA + aj);
                        const float4 gq = vload4(0, sg + dd * LA_LDA + ai), gk = vload4(0, sg + dd * LA_LDA + aj);
                        acc0 = mad(qv.s0 * kv, exp(fmin((float4)(gq.s0) - gk, 0.0f)), acc0);
                        acc1 = mad(qv.s1 * kv, exp(fmin((float4)(gq.s1) - gk, 0.0f)), acc1);
                        acc2 = mad(qv.s2 * kv, exp(fmin((float4)(gq.s2) - gk, 0.0f)), acc2);
                        acc3 = mad(qv.s3 * kv, exp(fmin((float4)(gq.s3) - gk, 0.0f)), acc3);
                    }
                } else { /* key sub-chunk before the query's: qh * kh * exp(G_n - G_e), every factor <= 1 */
                    const int er = aj + SUB - 1; /* < ai <= L - 1: a full, valid sub-chunk */
                    for (int dd = 0; dd < BKA; dd++) {
                        const float f = exp(fmin(sg[dd * LA_LDA + ai] - sg[dd * LA_LDA + er], 0.0f));
                        const float4 qf = vload4(0, sqh + dd * LA_LDA + ai) * f;
                        const float4 kf = vload4(0, skh + dd * LA_LDA + aj);
                        acc0 = mad((float4)(qf.s0), kf, acc0);
                        acc1 = mad((float4)(qf.s1), kf, acc1);
                        acc2 = mad((float4)(qf.s2), kf, acc2);
                        acc3 = mad((float4)(qf.s3), kf, acc3);
                    }
                }
#else
                for (int dd = 0; dd < BKA; dd++) {
                    const float4 qv = vload4(0, sq + dd * LA_LDA + ai), kv = vload4(0, sk + dd * LA_LDA + aj);
                    acc0 = mad((float4)(qv.s0), kv, acc0);
                    acc1 = mad((float4)(qv.s1), kv, acc1);
                    acc2 = mad((float4)(qv.s2), kv, acc2);
                    acc3 = mad((float4)(qv.s3), kv, acc3);
                }
#endif
                /* transpose the 4x4 block into sA[j][i] */
                __local float *a0 = sA + aj * LA_LDA + ai;
                vstore4(vload4(0, a0) + (float4)(acc0.s0, acc1.s0, acc2.s0, acc3.s0), 0, a0);
                vstore4(vload4(0, a0 + LA_LDA) + (float4)(acc0.s1, acc1.s1, acc2.s1, acc3.s1), 0, a0 + LA_LDA);
                vstore4(vload4(0, a0 + 2 * LA_LDA) + (float4)(acc0.s2, acc1.s2, acc2.s2, acc3.s2), 0, a0 + 2 * LA_LDA);
                vstore4(vload4(0, a0 + 3 * LA_LDA) + (float4)(acc0.s3, acc1.s3, acc2.s3, acc3.s3), 0, a0 + 3 * LA_LDA);
            }
        }
        /* scale, decay factor (scalar gates: select, never a multiply by an overflowing factor),
         * causal mask: each work-item finishes its own blocks */
        for (int tt = tid; tt < (CHUNK / 4) * (CHUNK / 4); tt += LA_NTHR) {
            const int ai = (tt / (CHUNK / 4)) * 4, aj = (tt % (CHUNK / 4)) * 4;
            if (aj > ai || ai >= L) continue;
            for (int c = 0; c < 4; c++)
                for (int a = 0; a < 4; a++) {
                    const int i = ai + a, j = aj + c;
                    float x = sA[j * LA_LDA + i] * scale;
                    if (gmode == 1 && j <= i && i < L) x *= exp(Gb[i] - Gb[j]);
                    sA[j * LA_LDA + i] = (j <= i && i < L) ? x : 0.0f;
                }
        }
    }

    /* ---- inter-chunk part: scale * (phi(q) * exp(G)) h_n ---- */
    float acc[TM][TN];
    for (int a = 0; a < TM; a++)
        for (int c = 0; c < TN; c++) acc[a][c] = 0.0f;
    __global const float *hn =
        hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb + (noncausal ? NT : j)) * (ocla_idx)K * Ve;
    __local float *sq = sX, *sh = sX + BKA * LA_LDA;
    for (int d0 = 0; d0 < K; d0 += BKA) {
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = tid; e < CHUNK * BKA; e += LA_NTHR) {
            const int i = e / BKA, dd = e % BKA, d = d0 + dd;
            float x = 0.0f;
            if (i < L && d < K) {
                x = ocla_phi(OCLA_LD(qb, (ocla_idx)(t0 + i) * q_s1 + (ocla_idx)d * q_s3), feature);
                if (!noncausal) {
                    if (gmode == 1) x *= exp(Gb[i]);
                    else if (gmode == 2) x *= exp(Gb[(ocla_idx)i * K + d]);
                }
            }
            sq[dd * LA_LDA + i] = x;
        }
        for (int e = tid; e < BKA * BV; e += LA_NTHR) {
            const int dd = e / BV, cc = e % BV, d = d0 + dd, col = c0 + cc;
            sh[e] = (d < K && col < Ve) ? hn[(ocla_idx)d * Ve + col] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int dd = 0; dd < BKA; dd++) {
            float qa[TM], hc[TN];
            for (int a = 0; a < TM; a += 4) {
                const float4 x = vload4(0, sq + dd * LA_LDA + i0 + a);
                qa[a] = x.s0, qa[a + 1] = x.s1, qa[a + 2] = x.s2, qa[a + 3] = x.s3;
            }
            for (int c = 0; c < TN; c++) hc[c] = sh[dd * BV + tx + c * (BV / TN)];
            for (int a = 0; a < TM; a++)
                for (int c = 0; c < TN; c++) acc[a][c] = mad(qa[a], hc[c], acc[a][c]);
        }
    }
    for (int a = 0; a < TM; a++)
        for (int c = 0; c < TN; c++) acc[a][c] *= scale;

    /* ---- intra-chunk part: A [v, 1] ---- */
    if (!noncausal) {
        __local float *sv = sX;
        const int jmax = min(L, i0 + TM); /* rows of this work-item need j < i0 + TM */
        for (int j0 = 0; j0 < L; j0 += BKA) {
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int e = tid; e < BKA * BV; e += LA_NTHR) {
                const int jj = e / BV, cc = e % BV, j = j0 + jj, col = c0 + cc;
                float x = 0.0f;
                if (j < L) {
                    if (col < V) x = OCLA_LD(vb, (ocla_idx)(t0 + j) * v_s1 + (ocla_idx)col * v_s3);
                    else if (col == V && norm) x = 1.0f;
                }
                sv[e] = x;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const int jn = min(BKA, jmax - j0);
            for (int jj = 0; jj < jn; jj++) {
                float aa[TM], vc[TN];
                for (int a = 0; a < TM; a += 4) {
                    const float4 x = vload4(0, sA + (j0 + jj) * LA_LDA + i0 + a);
                    aa[a] = x.s0, aa[a + 1] = x.s1, aa[a + 2] = x.s2, aa[a + 3] = x.s3;
                }
                for (int c = 0; c < TN; c++) vc[c] = sv[jj * BV + tx + c * (BV / TN)];
                /* rows before j skip v_j instead of multiplying it by the masked 0: an Inf or NaN
                 * in a later token must not reach earlier outputs (0 * Inf = NaN) */
                for (int a = 0; a < TM; a++)
                    if (j0 + jj <= i0 + a)
                        for (int c = 0; c < TN; c++) acc[a][c] = mad(aa[a], vc[c], acc[a][c]);
            }
        }
    }

    __global ocla_odata *ob = OCLA_PTR(o, b, 0, h, 0);
    for (int a = 0; a < TM; a++) {
        const int i = i0 + a;
        if (i >= L) break;
        for (int c = 0; c < TN; c++) {
            const int col = c0 + tx + c * (BV / TN);
            if (col < V)
                OCLA_OST(ob, (ocla_idx)(t0 + i) * o_s1 + (ocla_idx)col * o_s3, acc[a][c]);
            else if (col == V && norm)
                den[(ocla_idx)bh * T + t0 + i] = acc[a][c];
        }
    }
}
