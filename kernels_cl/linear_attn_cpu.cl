/* SPDX-License-Identifier: MIT */
/* linear_attn_cpu.cl: the chunked forward of linear attention, simple GLA / retention, GLA and
 * non-causal linear attention shaped for CPU drivers (PoCL, rusticl/llvmpipe). Same math, same
 * arguments and the same chunk states hs as linear_attn.cl's la_chunk_states / la_chunk_output
 * (notation, rows, packed sequences, state slots, split walks: see that file); docs/KERNELS.md.
 *
 * Why another shape: a CPU driver runs a work-group as loops over its work-items on one core,
 * splits those loops at every barrier and treats __local memory as plain memory. So here one
 * work-item is a whole work-group: it owns a (row, head, value slice) of the state walk or a
 * (batch, head, chunk, value slice) of the outputs, stages what it reads into __local memory once
 * per chunk (feature map, gates, the all-ones normaliser column and zero padding applied there),
 * and runs every product (scores q k^T, outputs q h + A v, state update k^T v) as one register-block
 * loop, lc_mm: TM rows x 8 TN columns (vectors of VW floats) in registers, one fma per step, over
 * staged rows with unit-stride vector loads (the keys staged transposed for q k^T); no barrier at all.
 *
 * Build options (defaults here; the plan sets them, runtime/plan_la.c):
 *   CHUNK   tokens per chunk
 *   SUB     GLA reference-point block (rows): queries of block I are rescaled to its first row n,
 *           keys before n by exp(G_n - G_j); the diagonal block element by element (exponents <= 0)
 *   USE_GK  1: per-key-dimension gates
 *   TM, TN  register block: TM rows x 8 TN columns, held as vectors of VW floats
 *   LC_VW   floats per vector (VW): 8 by default (one AVX2 register). For AVX-512 the experiment is
 *           OCLA_CL_OPTIONS="-DLC_VW=16 -DLC_TM=8" (LC_TM overrides TM: 8 accumulators of 16 floats)
 *   LC_LANES  work-items per work-group (default 1). Drivers that vectorise ACROSS work-items (Mesa
 *           llvmpipe: each SIMD lane is one work-item) take LC_LANES = their SIMD width and VW = 1:
 *           lane l owns columns l, l + LANES, ... of every register block (unit-stride loads across
 *           the lanes), the rows of A are the same for every lane (broadcast), staging is split by
 *           rows over the lanes with a barrier after it (two per chunk), and GLA's off-diagonal
 *           scores run one key per lane (its exps vectorise across the lanes).
 * Value slices are run-time values: the Ve = V + norm columns split into nvt slices of lc_slice(Ve, nvt)
 * columns (a multiple of LC_CB = 8 TN), sbv in the state walk, bv in the outputs. CHUNK % TM == 0.
 * Local memory (floats, KP = K rounded up to 4), from the host's sizes (plan_la.c, la_derive):
 *   states: sK [CHUNK][KP] gated keys, sV [CHUNK][sbv] values
 *   output: sA [CHUNK][CHUNK + 4] scores; sX = q [CHUNK][KP], k [KP][LC_CT] transposed (GLA: [CHUNK][KP]),
 *           scale q exp(G) [CHUNK][KP], v [CHUNK][bv],
 *           h [KP][bv], and for GLA q rescaled [CHUNK][KP] and one key row [KP]. */
#ifndef CHUNK
#define CHUNK 64
#endif
#define LC_CT ((CHUNK + 15) / 16 * 16) /* CHUNK rounded up to 16: pitch of the transposed keys */
#define LC_LDA (CHUNK + 4)              /* row pitch of the scores sA */
#ifndef SUB
#define SUB 8
#endif
#if !defined(TM) || !defined(TN) /* the register block: both from the plan, else both defaults */
#undef TM
#undef TN
#define TM 4
#define TN 2
#endif
#ifdef LC_TM /* experiments: a taller block than the plan's (OCLA_CL_OPTIONS; the plan checks CHUNK % 4) */
#undef TM
#define TM LC_TM
#endif
#ifndef LC_LANES
#define LC_LANES 1
#endif
#if LC_LANES > 1 /* one float per lane: the driver's SIMD runs across the lanes */
#define VW 1
#define LC_LANE ((int)get_local_id(0))
#define LC_SYNC() barrier(CLK_LOCAL_MEM_FENCE)
#elif defined(LC_VW)
#define VW LC_VW
#else
#define VW 8 /* floats per vector: 8 fills an AVX2 register (PoCL packs a float8 into one) */
#endif
#if LC_LANES == 1
#define LC_LANE 0
#define LC_SYNC() /* one work-item per work-group: nothing to wait for */
#endif
#if VW == 1
#define LC_V float
#define LC_LOAD(i, p) ((p)[i])
#define LC_STORE(x, i, p) ((p)[i] = (x))
#elif VW == 16
#define LC_V float16
#define LC_LOAD vload16
#define LC_STORE vstore16
#elif VW == 4
#define LC_V float4
#define LC_LOAD vload4
#define LC_STORE vstore4
#else
#undef VW
#define VW 8
#define LC_V float8
#define LC_LOAD vload8
#define LC_STORE vstore8
#endif
/* fma where the target has it (x86-64 with FMA3, ARMv8): PoCL lowers mad to a multiply and an add
 * but fma to one vfmadd; elsewhere (llvmpipe defines neither macro) mad, never a library fma */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define LC_MAD(a, b, c) fma(a, b, c)
#else
#define LC_MAD(a, b, c) mad(a, b, c)
#endif
#define LC_CB (8 * TN)      /* columns of one register block; value slices are multiples of it */
#define LC_NV (LC_CB / (VW * LC_LANES)) /* vectors per row of the block, per work-item */
#if LC_CB % (VW * LC_LANES)
#error "VW * LC_LANES must divide 8 TN"
#endif
/* Column offset of this work-item's vector c within a register block. */
#define LC_VOFF(c) ((c) * VW * LC_LANES + LC_LANE * VW)

/* Columns of each of the nvt value slices of Ve columns: a multiple of LC_CB (plan_la.c sizes the same). */
OCLA_INLINE int lc_slice(const int Ve, const int nvt) { return ((Ve + nvt - 1) / nvt + LC_CB - 1) / LC_CB * LC_CB; }

/* The register-block product acc[a][c] += sum_{d < n} A[a * as + d * ds] B[d * ldb + c VW ...]: TM
 * rows of A as scalars (broadcast), LC_NV vectors of each row of B (unit stride). Straight loops over
 * staged rows that the driver keeps in vector registers. */
OCLA_INLINE void lc_mm(LC_V acc[TM][LC_NV], __local const float *A, const int as, const int ds, __local const float *B,
                       const int ldb, const int n) {
    for (int d = 0; d < n; d++) {
        LC_V b[LC_NV];
        #pragma unroll
        for (int c = 0; c < LC_NV; c++) b[c] = LC_LOAD(0, B + d * ldb + LC_VOFF(c));
        #pragma unroll
        for (int a = 0; a < TM; a++) {
            const LC_V x = (LC_V)(A[a * as + d * ds]);
            #pragma unroll
            for (int c = 0; c < LC_NV; c++) acc[a][c] = LC_MAD(x, b[c], acc[a][c]);
        }
    }
}

OCLA_INLINE void lc_zero(LC_V acc[TM][LC_NV]) {
    #pragma unroll
    for (int a = 0; a < TM; a++)
        #pragma unroll
        for (int c = 0; c < LC_NV; c++) acc[a][c] = (LC_V)(0.0f);
}

/* The first n floats at p as a vector (n >= VW: all of them; the others 0). */
OCLA_INLINE LC_V lc_load_n(__global const float *p, const int n) {
    if (n >= VW) return LC_LOAD(0, p);
#if VW == 1
    return 0.0f;
#else
    float t[VW];
    for (int e = 0; e < VW; e++) t[e] = e < n ? p[e] : 0.0f;
    return LC_LOAD(0, t);
#endif
}

/* The first n lanes of x to p (n >= VW: all). */
OCLA_INLINE void lc_store_n(const LC_V x, __global float *p, const int n) {
    if (n >= VW) {
        LC_STORE(x, 0, p);
        return;
    }
#if VW > 1
    float t[VW];
    LC_STORE(x, 0, t);
    for (int e = 0; e < n; e++) p[e] = t[e];
#endif
}

/* Value column col of token row p (stride s): v, the all-ones normaliser column V, else 0. */
OCLA_INLINE float lc_vcol(__global const float *p, const ocla_idx s, const int col, const int V, const int norm) {
    return col < V ? p[(ocla_idx)col * s] : (col == V && norm) ? 1.0f : 0.0f;
}

/* Stage CHUNK value rows of columns [c0, c0 + W) into dst [CHUNK][W] (missing rows and columns 0);
 * the rows split over the lanes. */
OCLA_INLINE void lc_stage_v(__local float *dst, const int W, __global const float *vb, const ocla_idx s1,
                            const ocla_idx s3, const int t0, const int L, const int c0, const int V, const int norm) {
    for (int j = LC_LANE; j < CHUNK; j += LC_LANES) {
        __global const float *p = vb + (ocla_idx)(t0 + j) * s1;
        if (j < L && s3 == 1 && c0 + W <= V)
            for (int c = 0; c < W; c += 4) vstore4(vload4(0, p + c0 + c), 0, dst + j * W + c);
        else
            for (int c = 0; c < W; c++) dst[j * W + c] = j < L ? lc_vcol(p, s3, c0 + c, V, norm) : 0.0f;
    }
}

/* Stage phi(x) of `rows` token rows (K features, row t0 + i at src + (t0 + i) s1, feature d at d s3)
 * into dst[i * pi + d * pd] (the rows split over the lanes); rows past L and features past K up to KP are 0. Unit-stride
 * identity-feature rows go as float4 copies (K % 4 == 0), the rest element by element. */
OCLA_INLINE void lc_stage_phi(__local float *dst, const int pi, const int pd, __global const float *src, const ocla_idx s1,
                              const ocla_idx s3, const int t0, const int L, const int rows, const int K, const int KP,
                              const int feature) {
    const int vec = s3 == 1 && feature == 0 && pd == 1 && K % 4 == 0;
    for (int i = LC_LANE; i < rows; i += LC_LANES) {
        __global const float *p = src + (ocla_idx)(t0 + i) * s1;
        __local float *d = dst + i * pi;
        if (i >= L)
            for (int c = 0; c < KP; c++) d[c * pd] = 0.0f;
        else if (vec)
            for (int c = 0; c < K; c += 4) vstore4(vload4(0, p + c), 0, d + c);
        else {
            for (int c = 0; c < K; c++) d[c * pd] = ocla_phi(p[(ocla_idx)c * s3], feature);
            for (int c = K; c < KP; c++) d[c * pd] = 0.0f;
        }
    }
}

/* Chunk states, as la_chunk_states: hs[n + 1] = diag(exp(G_last)) hs[n] + sum_j (phi(k_j) exp(G_last - G_j)) [v_j, 1]^T.
 * Work split: one work-item (and work-group) per (row, head, value slice of sbv columns), walking
 * the chunks [n0, n1) in order; the state lives in hs (each chunk's state is written anyway), a
 * block of TM key rows x LC_CB columns in registers while a chunk's keys and values stream from sK, sV. */
OCLA_KERNEL void la_cpu_states(OCLA_LA_STATES_ARGS) {
    const int vt = (int)get_group_id(1) % nvt;
    const int rh = (int)get_group_id(2), rr = rh / H, h = rh % H;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b, bh = b * H + h, ntr = (w.len + CHUNK - 1) / CHUNK;
    if (n0 > 0 && n0 >= ntr) return; /* this row's walk ended in an earlier launch */
    const int m1 = min(n1, ntr);
    const int sb = has_slots ? slots[rr] : rr;
    const int Ve = V + norm, KP = (K + 3) & ~3, KG = gmode == 2 ? K : 1;
    const int sbv = lc_slice(Ve, nvt), c0 = vt * sbv, nc = min(sbv, Ve - c0);
    const ocla_idx kv = (ocla_idx)K * Ve;
    __global float *hrow = hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb) * kv;
    if (n0 == 0) /* each lane its own columns (those of its register blocks) */
        for (int r = 0; r < K; r++)
            for (int c = LC_LANE; c < nc; c += LC_LANES) {
                const int col = c0 + c;
                float x = 0.0f;
                if (col < V && has_s0) x = OCLA_AT(S0, sb, h, r, col);
                else if (col == V && norm && has_z0) x = OCLA_AT(z0, sb, h, r, 0);
                hrow[(ocla_idx)r * Ve + col] = x;
            }
    __global const float *kb = OCLA_PTR(k, b, w.ts, h, 0), *vb = OCLA_PTR(v, b, w.ts, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + w.ts) * KG;
    for (int n = n0; n < m1; n++) {
        __global const float *hn = hrow + n * kv;
        __global float *hn1 = hrow + (n + 1) * kv;
        const int t0 = n * CHUNK, L = min(CHUNK, w.len - t0), tl = t0 + L - 1;
        LC_SYNC(); /* the previous chunk's sK, sV read */
        lc_stage_phi(sK, KP, 1, kb, k_s1, k_s3, t0, L, CHUNK, K, KP, feature);
        if (gmode == 2) /* one factor per key element (rows as lc_stage_phi split them), 4 at a time */
            for (int j = LC_LANE; j < L; j += LC_LANES)
                for (int r = 0; r < K; r += 4) {
                    __global const float *gl = Gb + (ocla_idx)tl * K + r, *gj = Gb + (ocla_idx)(t0 + j) * K + r;
                    float4 e;
                    if (r + 4 <= K) e = exp(vload4(0, gl) - vload4(0, gj));
                    else e = (float4)(exp(gl[0] - gj[0]), r + 1 < K ? exp(gl[1] - gj[1]) : 0.0f,
                                      r + 2 < K ? exp(gl[2] - gj[2]) : 0.0f, 0.0f);
                    vstore4(e * vload4(0, sK + j * KP + r), 0, sK + j * KP + r);
                }
        if (gmode == 1) /* one factor per key row */
            for (int j = LC_LANE; j < L; j += LC_LANES) {
                const float f = exp(Gb[tl] - Gb[t0 + j]);
                for (int r = 0; r < KP; r += 4) vstore4(f * vload4(0, sK + j * KP + r), 0, sK + j * KP + r);
            }
        lc_stage_v(sV, sbv, vb, v_s1, v_s3, t0, L, c0, V, norm);
        LC_SYNC();
        for (int r0 = 0; r0 < K; r0 += TM)
            for (int cb = 0; cb < nc; cb += LC_CB) { /* TM key rows x LC_CB columns in registers */
                LC_V acc[TM][LC_NV];
                #pragma unroll
                for (int a = 0; a < TM; a++) {
                    const int r = min(r0 + a, K - 1); /* rows past K: computed, never stored */
                    const float f = gmode == 1 ? exp(Gb[tl]) : gmode == 2 ? exp(Gb[(ocla_idx)tl * K + r]) : 1.0f;
                    __global const float *src = hn + (ocla_idx)r * Ve + c0 + cb;
                    #pragma unroll
                    for (int c = 0; c < LC_NV; c++) acc[a][c] = f * lc_load_n(src + LC_VOFF(c), nc - cb - LC_VOFF(c));
                }
                lc_mm(acc, sK + r0, 1, KP, sV + cb, sbv, L); /* sum_j (gated k_j)^T v_j */
                #pragma unroll
                for (int a = 0; a < TM && r0 + a < K; a++) {
                    __global float *dst = hn1 + (ocla_idx)(r0 + a) * Ve + c0 + cb;
                    #pragma unroll
                    for (int c = 0; c < LC_NV; c++) lc_store_n(acc[a][c], dst + LC_VOFF(c), nc - cb - LC_VOFF(c));
                }
            }
    }
    if (n1 < ntr) return;
    __global const float *hl = hrow + ntr * kv;
    for (int r = 0; r < K; r++)
        for (int c = LC_LANE; c < nc; c += LC_LANES) { /* the columns this lane wrote */
            const int col = c0 + c;
            if (col < V && has_s1) OCLA_AT(S1, sb, h, r, col) = hl[(ocla_idx)r * Ve + col];
            else if (col == V && norm && has_z1) OCLA_AT(z1, sb, h, r, 0) = hl[(ocla_idx)r * Ve + col];
        }
}

/* Dot product of two staged rows of KP floats (KP a multiple of 4). */
OCLA_INLINE float lc_dot(__local const float *a, __local const float *b, const int KP) {
    float4 s = (float4)(0.0f);
    for (int d = 0; d < KP; d += 4) s = mad(vload4(0, a + d), vload4(0, b + d), s);
    return (s.s0 + s.s1) + (s.s2 + s.s3);
}

/* Chunk outputs, as la_chunk_output (same arguments, same math):
 *   o_i = scale (phi(q_i) exp(G_i))^T h_n + sum_{j <= i in chunk} A_ij [v_j, 1],
 *   A_ij = scale sum_d phi(q_id) phi(k_jd) exp(G_id - G_jd).
 * Work split: one work-item (and work-group) per (batch, head, chunk, value slice of bv columns).
 * It stages phi(q), phi(k), the value slice and the state slice, computes the causal scores A in
 * register blocks (GLA, row by row: for query block I with first row n, keys j < n against
 * q_i exp(G_i - G_n) and k_j exp(G_n - G_j); keys in I element by element with exp(min(G_i - G_j, 0));
 * every exponent <= 0), then the outputs TM rows at a time. */
OCLA_KERNEL void la_cpu_output(OCLA_LA_OUTPUT_ARGS) {
    const int n = (int)get_group_id(1) / nvt, vt = (int)get_group_id(1) % nvt;
    const int bh = (int)get_group_id(2), h = bh % H;
    const int rr = nseq > 0 ? seqtab[3 * nseq + 2 * n] : bh / H, j = nseq > 0 ? seqtab[3 * nseq + 2 * n + 1] : n;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b, Ve = V + norm, KP = (K + 3) & ~3, KG = gmode == 2 ? K : 1;
    const int t0 = w.ts + j * CHUNK, L = min(CHUNK, w.len - j * CHUNK);
    const int bv = lc_slice(Ve, nvt), c0 = vt * bv;
    __global const float *qb = OCLA_PTR(q, b, 0, h, 0), *kb = OCLA_PTR(k, b, 0, h, 0);
    __global const float *vb = OCLA_PTR(v, b, 0, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + t0) * KG; /* row i of this chunk: Gb[i * KG] */
    __global const float *hn =
        hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb + (noncausal ? NT : j)) * (ocla_idx)K * Ve;
    /* sk: phi(k) [CHUNK][KP] for GLA, else transposed [KP][LC_CT] (columns past CHUNK 0) */
    __local float *sq = sX, *sk = sq + CHUNK * KP, *sg = sk + LC_CT * KP, *sv = sg + CHUNK * KP, *sh = sv + CHUNK * bv;

    /* ---- stage phi(q), phi(k), the value slice and the state slice ---- */
    lc_stage_phi(sq, KP, 1, qb, q_s1, q_s3, t0, L, CHUNK, K, KP, feature);
#if USE_GK
    lc_stage_phi(sk, KP, 1, kb, k_s1, k_s3, t0, noncausal ? 0 : L, CHUNK, K, KP, feature);
#else
    lc_stage_phi(sk, 1, LC_CT, kb, k_s1, k_s3, t0, noncausal ? 0 : L, LC_CT, K, KP, feature);
#endif
    /* the inter-chunk query rows: scale phi(q_i) exp(G_i) */
    for (int i = LC_LANE; i < CHUNK; i += LC_LANES) { /* rows as lc_stage_phi split them */
        const float f = scale * (gmode == 1 && !noncausal && i < L ? exp(Gb[i]) : 1.0f);
        for (int d = 0; d < KP; d += 4) vstore4(f * vload4(0, sq + i * KP + d), 0, sg + i * KP + d);
        if (gmode == 2 && !noncausal && i < L)
            for (int d = 0; d < K; d++) sg[i * KP + d] *= exp(Gb[(ocla_idx)i * K + d]);
    }
    if (!noncausal) lc_stage_v(sv, bv, vb, v_s1, v_s3, t0, L, c0, V, norm);
    for (int d = LC_LANE; d < KP; d += LC_LANES) {
        __global const float *p = hn + (ocla_idx)d * Ve + c0;
        if (d < K && c0 + bv <= Ve)
            for (int c = 0; c < bv; c += 4) vstore4(vload4(0, p + c), 0, sh + d * bv + c);
        else
            for (int c = 0; c < bv; c++) sh[d * bv + c] = d < K && c0 + c < Ve ? p[c] : 0.0f;
    }

    /* ---- scores: sA[i * LC_LDA + j] = A_ij for j <= i < L (scale and gates included) ---- */
    LC_SYNC(); /* the staged rows, from every lane */
    if (!noncausal) {
#if USE_GK
        __local float *sqt = sh + KP * bv, *skt = sqt + CHUNK * KP;
        for (int i = LC_LANE; i < L; i += LC_LANES) { /* q_i exp(G_i - G_n(i)): exponent <= 0 */
            const int nr = i - i % SUB;
            for (int d = 0; d < K; d++)
                sqt[i * KP + d] = sq[i * KP + d] * exp(fmin(Gb[(ocla_idx)i * K + d] - Gb[(ocla_idx)nr * K + d], 0.0f));
            for (int d = K; d < KP; d++) sqt[i * KP + d] = 0.0f;
        }
        LC_SYNC();
        for (int i0 = 0; i0 < L; i0 += SUB) {
            const int i1 = min(i0 + SUB, L);
#if LC_LANES > 1
            /* keys before the block, one per lane: the SUB query rows' scores of key jj in
             * registers, one exp per (jj, d), vectorised across the lanes */
            (void)skt;
            for (int jj = LC_LANE; jj < i0; jj += LC_LANES) {
                float s[SUB];
                #pragma unroll
                for (int a = 0; a < SUB; a++) s[a] = 0.0f;
                for (int d = 0; d < K; d++) {
                    const float kf = sk[jj * KP + d] * exp(fmin(Gb[(ocla_idx)i0 * K + d] - Gb[(ocla_idx)jj * K + d], 0.0f));
                    #pragma unroll
                    for (int a = 0; a < SUB; a++) s[a] = LC_MAD(sqt[min(i0 + a, CHUNK - 1) * KP + d], kf, s[a]);
                }
                #pragma unroll
                for (int a = 0; a < SUB; a++)
                    if (i0 + a < i1) sA[(i0 + a) * LC_LDA + jj] = scale * s[a];
            }
#else
            for (int jj = 0; jj < i0; jj++) { /* keys before the block: k_j exp(G_n - G_j) */
                for (int d = 0; d < K; d++)
                    skt[d] = sk[jj * KP + d] * exp(fmin(Gb[(ocla_idx)i0 * K + d] - Gb[(ocla_idx)jj * K + d], 0.0f));
                for (int d = K; d < KP; d++) skt[d] = 0.0f;
                for (int i = i0; i < i1; i++) sA[i * LC_LDA + jj] = scale * lc_dot(sqt + i * KP, skt, KP);
            }
#endif
            for (int i = i0 + LC_LANE; i < i1; i += LC_LANES) /* the diagonal block, a row per lane */
                for (int jj = i0; jj <= i; jj++) {
                    float s = 0.0f;
                    for (int d = 0; d < K; d++)
                        s = mad(sq[i * KP + d] * sk[jj * KP + d],
                                exp(fmin(Gb[(ocla_idx)i * K + d] - Gb[(ocla_idx)jj * K + d], 0.0f)), s);
                    sA[i * LC_LDA + jj] = scale * s;
                }
        }
#else
        /* TM query rows x LC_CB keys per block, the key blocks up to the diagonal; entries past the
         * diagonal are computed (exponent clamped to 0) and never read */
        for (int i0 = 0; i0 < L; i0 += TM)
            for (int j0 = 0; j0 < min(i0 + TM, L); j0 += LC_CB) {
                LC_V acc[TM][LC_NV];
                lc_zero(acc);
                lc_mm(acc, sq + i0 * KP, KP, 1, sk + j0, LC_CT, KP);
                #pragma unroll
                for (int a = 0; a < TM; a++) {
                    const float gi = gmode == 1 && i0 + a < L ? Gb[i0 + a] : 0.0f;
                    #pragma unroll
                    for (int c = 0; c < LC_NV; c++) {
                        const int jc = j0 + LC_VOFF(c);
                        LC_V f = (LC_V)(scale);
                        if (gmode == 1) { /* exp(G_i - G_j), j <= i: exponent <= 0 */
                            float t[VW];
                            for (int e = 0; e < VW; e++) t[e] = jc + e < L ? Gb[jc + e] : gi;
                            f *= exp(fmin((LC_V)(gi) - LC_LOAD(0, t), (LC_V)(0.0f)));
                        }
                        __local float *dst = sA + (i0 + a) * LC_LDA + jc;
                        if (jc + VW <= CHUNK) LC_STORE(acc[a][c] * f, 0, dst);
#if VW > 1
                        else { /* the last block of a chunk that is not a multiple of LC_CB */
                            float x[VW];
                            LC_STORE(acc[a][c] * f, 0, x);
                            for (int e = 0; e < VW && jc + e < CHUNK; e++) dst[e] = x[e];
                        }
#endif
                    }
                }
            }
#endif
    }

    LC_SYNC(); /* the scores, from every lane */
    /* ---- outputs, TM rows x LC_CB columns at a time: scale (phi(q) exp(G)) h_n + A [v, 1] ---- */
    __global float *ob = OCLA_PTR(o, b, 0, h, 0);
    for (int i0 = 0; i0 < L; i0 += TM)
        for (int cb = 0; cb < bv; cb += LC_CB) {
            LC_V acc[TM][LC_NV];
            lc_zero(acc);
            lc_mm(acc, sg + i0 * KP, KP, 1, sh + cb, bv, K); /* rows past L read zeros (staged), never stored */
            if (!noncausal) {
                /* keys before the block: j < i0 <= i */
                lc_mm(acc, sA + i0 * LC_LDA, LC_LDA, 1, sv + cb, bv, i0);
                /* keys in the block, j <= i only: an Inf or NaN in a later token must not reach earlier outputs */
                for (int jj = i0; jj < min(i0 + TM, L); jj++)
                    #pragma unroll
                    for (int a = 0; a < TM; a++) {
                        if (jj > i0 + a) continue;
                        const LC_V s = (LC_V)(sA[(i0 + a) * LC_LDA + jj]);
                        #pragma unroll
                        for (int c = 0; c < LC_NV; c++)
                            acc[a][c] = LC_MAD(s, LC_LOAD(0, sv + cb + jj * bv + LC_VOFF(c)), acc[a][c]);
                    }
            }
            #pragma unroll
            for (int a = 0; a < TM && i0 + a < L; a++) {
                const ocla_idx t = t0 + i0 + a;
                __global float *orow = ob + t * o_s1;
                #pragma unroll
                for (int c = 0; c < LC_NV; c++) {
                    const int col = c0 + cb + LC_VOFF(c);
                    if (o_s3 == 1 && col + VW <= V) {
                        LC_STORE(acc[a][c], 0, orow + col);
                        continue;
                    }
                    float x[VW];
                    LC_STORE(acc[a][c], 0, x);
                    for (int e = 0; e < VW; e++) { /* past V: the denominator column, else nothing */
                        if (col + e < V) orow[(ocla_idx)(col + e) * o_s3] = x[e];
                        else if (col + e == V && norm) den[(ocla_idx)bh * T + t] = x[e];
                    }
                }
            }
        }
}
