/* SPDX-License-Identifier: MIT */
/* linear_attn_blk.cl: the chunked forward of linear attention, simple GLA / retention and GLA
 * for drivers that vectorise ACROSS work-items (Mesa llvmpipe: each SIMD lane runs one work-item).
 * Same arguments (with LB_IMG: image views after them), same math and the same chunk states hs as
 * linear_attn.cl's la_chunk_states / la_chunk_output (notation, rows, packed sequences, state slots,
 * split walks: see that file); docs/KERNELS.md, "CPU drivers", Blocks.
 *
 * Why this shape: in rusticl 22.3's llvmpipe every load inside a loop is a loop over the lanes (one
 * scalar load per lane, 12-21 lane-vector multiply-adds per float, whatever the address pattern),
 * and a private array indexed at run time costs ~780 (docs/BENCHMARKS.md). So each work-item owns
 * a TM x TN register block (8 x 8: 64 accumulators), and every inner loop holds only the block's
 * TM + TN loads and TM * TN multiply-adds; every private index is a constant after unrolling (the
 * loops over a, c, e have constant bounds), offsets are 32-bit (the plan checks the sizes), no
 * division in a loop, and the state walk has no barrier (the outputs one).
 * And no branch reads or writes the accumulators (rusticl 22.3, measured: docs/BENCHMARKS.md,
 * 2026-11-27): an if/else, ?: or early continue around acc, anywhere in the kernel, made the whole
 * kernel 3-5x slower (as if llvmpipe kept acc in memory through the hot loops). So the walk's first state is written to
 * hs and loaded back, its final state read back from hs, the outputs go out through local memory,
 * and the scores above the diagonal are stored (and never read) rather than selected.
 *
 *   la_blk_gk_gates (GLA only, in place of la_gate_cumsum): the cumsums G and q, k gated to their
 *     block of TM rows (LB_QG, LB_KB below), once per element.
 *   la_blk_states: work-item = one STM x STN block of a (row, head)'s state [K][Ve] (Ve = V + the
 *     normaliser column), walking the chunks [n0, n1) in order with the block in registers; lanes
 *     blocks per work-group along get_group_id(1) (the host sizes the grid). Per token: STM gated
 *     keys, STN values, STM STN multiply-adds; per chunk the block is written to hs once. GLA:
 *     per block of TM tokens, state row r decayed by exp(G_jend,r - G_jend before,r), then the
 *     block's keys gated to its last row (LB_KB): over the chunk exp(G_last,r - G_j,r) and exp(G_last,r).
 *   la_blk_output: work-group = one (batch, head, chunk) (the host picks the work-items: up to
 *     (CHUNK / TM) x ceil(Ve / TN), at most 32). First the scores A (every TM x TM block, split over
 *     the work-items, into sA; the causal outputs read the entries j <= i only), one barrier, then
 *     the output blocks split over the work-items: block (row block, column block) sums
 *     scale exp(G_i) phi(q_i)^T h_n (K steps) and A v (the keys before its rows, then its diagonal
 *     block with constant j <= i conditions, so a NaN in a later token never reaches an output).
 *     GLA: the score block of rows i0.. and keys ..jend sums, over d, q_i exp(G_i - G_i0) times
 *     k_j exp(G_jend - G_j) times exp(G_i0 - G_jend) (every exponent <= 0 below the diagonal; on
 *     it the middle one is the block's decay, at most LB_GK_CAP), a diagonal block whose decay
 *     passes LB_GK_TH recomputed element by element in a branch that holds no accumulator; the
 *     inter-chunk rows phi(q_i) exp(G_i) (LB_QG times exp(G_i0); exponents <= 0).
 * LB_IMG: the rows of q, k, v, hs and G's planes read as texels (4 floats) of image1d_buffer views
 * (below: a texel into every lane costs llvmpipe 2.3-3 floats' loads).
 *
 * Build options: CHUNK (tokens per chunk, a multiple of TM), TM x TN (the outputs' block), STM x
 * STN (the walk's), the gate (USE_G / USE_G_GAMMA: per-token cumsums G [B*H][T], the run-time
 * gmode 1; USE_GK: per-key cumsums G [B*H][T][K], gmode 2; none: gmode 0), FEATURE (common.cl)
 * and LB_IMG (the image views: 8 x 8 blocks, K and V multiples of 4, no normaliser column, rows of
 * whole texels; the plan's request and the prepared op decide), compile-time so that the inner
 * loops hold no exp or branch they do not need. */
#ifndef CHUNK
#define CHUNK 32
#endif
#ifndef TM
#define TM 8
#endif
#ifndef TN
#define TN 8
#endif
#ifndef STM /* the state walk's block (STM x STN) */
#define STM 8
#endif
#ifndef STN
#define STN 8
#endif
#if CHUNK % TM
#error "CHUNK must be a multiple of TM"
#endif
#define LB_NB (CHUNK / TM) /* row blocks of a chunk */
#define LB_LDA (CHUNK + 4) /* row pitch of the scores sA (as the host sizes it) */
#define LB_UNROLL _Pragma("unroll")
#define LB_GATED (USE_G || USE_G_GAMMA)
/* The gate factors inside the loops (exponents <= 0): native_exp, ~3.5x cheaper than exp on
 * llvmpipe (measured; the gates' rounding is within the tests' 1e-4 of the fp64 references) */
#define LB_EXP(x) native_exp(x)
#if USE_GK
#define LB_KG K /* G [B*H][T][K]: row t of a (batch, head) at t K */
#else
#define LB_KG 1
#endif
/* GLA's scores, block (row block I from i0, key block J up to jend): exp(G_i - G_j) as the product
 * exp(G_i - G_i0) exp(G_i0 - G_jend) exp(G_jend - G_j), each exponent <= 0 off the diagonal; in a
 * diagonal block the middle one is >= 0, the block's own decay, used up to LB_GK_CAP (the three
 * factors then within e^-CAP..e^CAP); past it the block is recomputed element by element */
#define LB_GK_CAP 40.0f /* the middle factor's largest exponent */
#ifndef LB_GK_TH /* (an option for checks: -DLB_GK_TH=-1 takes the element-wise path in every diagonal block) */
#define LB_GK_TH LB_GK_CAP
#endif
/* GLA's gated rows, written once per chunk by la_blk_gk_gates beside the cumsums G, in the same buffer
 * (planes of BHn T K floats after G's, BHn = B H dense, H packed; rows as G's: [BHn][T][K]):
 *   LB_QG  phi(q_i) exp(G_i - G_i0)      (i0: the first row of i's block of TM rows)
 *   LB_KB  phi(k_j) exp(G_jend - G_j)    (jend: the last row of j's block, clamped to the chunk)
 * every exponent <= 0. The hot loops then load plain rows as linear attention's do: a score block
 * multiplies them by exp(G_i0 - G_jend) (once per step of d), the inter-chunk rows by exp(G_i0), and
 * the walk decays its state block by block (exp(G_jend - G_jend of the previous block) per row). */
#define LB_QG 1
#define LB_KB 2

/* Value column col of a token row at p: v, 1 for the normaliser column V, else 0; the load is made
 * at a valid offset (off: the column clamped to V - 1, by the caller) and selected, not branched. */
OCLA_INLINE float lb_vcol(__global const float *p, const int off, const int col, const int V, const int norm) {
    const float x = p[off];
    return col < V ? x : (col == V && norm) ? 1.0f : 0.0f;
}

/* LB_IMG (the plan's choice where K and V are multiples of 4, no normaliser column, dense rows:
 * variant_list.c): the hot loops read q, k, v, the chunk states hs and GLA's planes of G through
 * image1d_buffer views of their buffers (RGBA fp32: a texel is 4 consecutive floats of a row).
 * llvmpipe fetches a texel into every lane at about 40 8-lane multiply-adds against ~17 per float
 * loaded from a buffer (each a loop over the lanes): 8 x 8 blocks of the walk's shape ran 3x faster
 * (docs/BENCHMARKS.md, 2026-11-27). Texel indices are element offsets / 4 (32-bit, as the offsets
 * above); a block's second texel is clamped to the image (its columns past K or V are never used). */
#if LB_IMG
#if TM != 8 || TN != 8 || STM != 8 || STN != 8
#error "LB_IMG takes 8 x 8 blocks"
#endif
/* the views, then each one's last texel (the host's: PoCL 3.1 has no get_image_width for them) */
#define LB_IMG_S_ARGS                                                                                           \
    , __read_only image1d_buffer_t kim, __read_only image1d_buffer_t vim, __read_only image1d_buffer_t gim,    \
        const int kmax, const int vmax, const int gmax
#define LB_IMG_O_ARGS                                                                                           \
    , __read_only image1d_buffer_t qim, __read_only image1d_buffer_t kim, __read_only image1d_buffer_t vim,    \
        __read_only image1d_buffer_t gim, __read_only image1d_buffer_t him, const int qmax, const int kmax,   \
        const int vmax, const int gmax, const int hmax
/* the 4 floats of texel u into x[0..3][a] (private floats: float4 arrays ran 10-20x slower) */
#define LB_SPLIT4(x, a, u)                                                                                      \
    do {                                                                                                       \
        const float4 u_ = (u);                                                                                 \
        x[0][a] = u_.s0, x[1][a] = u_.s1, x[2][a] = u_.s2, x[3][a] = u_.s3;                                    \
    } while (0)
/* 8 floats of a row: texel t and the next (clamped to tmax, the image's last) */
#define LB_IMG8(im, t, tmax, x)                                                                                 \
    do {                                                                                                       \
        const float4 u_ = read_imagef(im, (t)), w_ = read_imagef(im, min((t) + 1, (tmax)));                    \
        x[0] = u_.s0, x[1] = u_.s1, x[2] = u_.s2, x[3] = u_.s3, x[4] = w_.s0, x[5] = w_.s1, x[6] = w_.s2,      \
        x[7] = w_.s3;                                                                                          \
    } while (0)
#define LB_PHI4(u) ((float4)(OCLA_PHI((u).s0), OCLA_PHI((u).s1), OCLA_PHI((u).s2), OCLA_PHI((u).s3)))
#define LB_TEX(off) ((int)((off) >> 2)) /* the texel of an element offset (a multiple of 4) */
#else
#define LB_IMG_S_ARGS
#define LB_IMG_O_ARGS
#endif

#if USE_GK
/* GLA's gates for the block kernels (in place of la_gate_cumsum(_seq); the same first arguments):
 * one work-item per (key column d, chunk n, bh) writes the chunk-local cumsums G (as la_gate_cumsum)
 * and the gated rows LB_QG, LB_KB above (the exps here, once per element, not in the block kernels'
 * inner loops). A block of TM rows at a time, unrolled: rows past the chunk read row L - 1 and add no
 * gate, so every value they store is row L - 1's own (no branch; the same stores again). Packed
 * sequences (nseq > 0): chunk n of all NT from seqtab. */
OCLA_KERNEL void la_blk_gk_gates(const int T, const int H, const int KG, const int NT, const int mode, OCLA_GTENSOR(g),
                                 __global const float *dec, __global float *G, const int nseq,
                                 __global const int *seqtab, const int feature, OCLA_DTENSOR(q), OCLA_DTENSOR(k)
#if LB_IMG /* the views of q, k and the gates: then 4 key columns per work-item, a texel each per row */
                                 , __read_only image1d_buffer_t qim, __read_only image1d_buffer_t kim,
                                 __read_only image1d_buffer_t gim
#endif
) {
    (void)mode, (void)dec, (void)feature; /* per-key gates (mode 2); the feature map is compiled in */
#if LB_IMG
    const int d = 4 * (int)get_global_id(0), n = (int)get_global_id(1), bh = (int)get_global_id(2);
#else
    const int d = (int)get_global_id(0), n = (int)get_global_id(1), bh = (int)get_global_id(2);
#endif
    if (d >= KG || n >= NT) return;
    int t0 = n * CHUNK, te = T;
    if (nseq > 0) {
        const la_row w = la_row_of(seqtab[3 * nseq + 2 * n], T, nseq, seqtab);
        t0 = w.ts + seqtab[3 * nseq + 2 * n + 1] * CHUNK, te = w.ts + w.len;
    }
    const int L = min(CHUNK, te - t0), b = bh / H, h = bh % H, K = KG;
    const ocla_idx P = (ocla_idx)get_global_size(2) * T * K; /* a plane */
    __global float *gc = G + ((ocla_idx)bh * T + t0) * K + d; /* column d of the chunk's rows */
    __global const ocla_gdata *gb = OCLA_PTR(g, b, t0, h, d);
    __global const ocla_data *qb = OCLA_PTR(q, b, t0, h, d), *kb = OCLA_PTR(k, b, t0, h, d);
    const int qs = (int)q_s1, ks = (int)k_s1, gs = (int)g_s1;
#if LB_IMG
    const int gt = LB_TEX(OCLA_OFF(g, b, t0, h, d)), qt = LB_TEX(OCLA_OFF(q, b, t0, h, d)), kt = LB_TEX(OCLA_OFF(k, b, t0, h, d));
    float4 acc4 = (float4)(0.0f);
    for (int i0 = 0; i0 < L; i0 += TM) {
        float gv[4][TM], x[4][TM], y[4][TM];
        int r[TM];
        LB_UNROLL for (int a = 0; a < TM; a++) {
            r[a] = min(i0 + a, L - 1);
            const float4 lg = fmax(fmin(read_imagef(gim, gt + r[a] * (gs / 4)), 0.0f), OCLA_LOG_GATE_MIN);
            acc4 += lg * (i0 + a < L ? 1.0f : 0.0f);
            LB_SPLIT4(gv, a, acc4);
            LB_SPLIT4(x, a, LB_PHI4(read_imagef(qim, qt + r[a] * (qs / 4))));
            LB_SPLIT4(y, a, LB_PHI4(read_imagef(kim, kt + r[a] * (ks / 4))));
        }
        LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < 4; c++) {
            gc[r[a] * K + c] = gv[c][a];
            gc[LB_QG * P + r[a] * K + c] = x[c][a] * LB_EXP(gv[c][a] - gv[c][0]);
            gc[LB_KB * P + r[a] * K + c] = y[c][a] * LB_EXP(gv[c][TM - 1] - gv[c][a]);
        }
    }
    if (0) /* (the buffers' form below: compiled, never taken with the views) */
#endif
    {
    float acc = 0.0f;
    for (int i0 = 0; i0 < L; i0 += TM) {
        float gv[TM], x[TM], y[TM];
        int r[TM];
        LB_UNROLL for (int a = 0; a < TM; a++) {
            r[a] = min(i0 + a, L - 1);
            const float lg = ocla_log_gate(OCLA_GLD(gb, r[a] * gs));
            acc += i0 + a < L ? lg : 0.0f;
            gv[a] = acc, x[a] = OCLA_PHI(OCLA_LD(qb, r[a] * qs)), y[a] = OCLA_PHI(OCLA_LD(kb, r[a] * ks));
        }
        LB_UNROLL for (int a = 0; a < TM; a++) { /* gv[TM - 1]: the block's last row's (clamped) */
            gc[r[a] * K] = gv[a];
            gc[LB_QG * P + r[a] * K] = x[a] * LB_EXP(gv[a] - gv[0]);
            gc[LB_KB * P + r[a] * K] = y[a] * LB_EXP(gv[TM - 1] - gv[a]);
        }
    }
    }
}
#endif

OCLA_KERNEL void la_blk_states(OCLA_LA_STATES_ARGS LB_IMG_S_ARGS) {
    (void)nvt, (void)feature, (void)gmode, (void)sK, (void)sV;
    const int rh = (int)get_group_id(2), rr = rh / H, h = rh % H;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b, bh = b * H + h, ntr = (w.len + CHUNK - 1) / CHUNK;
    if (n0 > 0 && n0 >= ntr) return; /* this row's walk ended in an earlier launch */
    const int m1 = min(n1, ntr), Ve = V + norm;
    const int ncb = (Ve + STN - 1) / STN, nrb = (K + STM - 1) / STM;
    const int bi = (int)get_group_id(1) * (int)get_local_size(0) + (int)get_local_id(0);
    if (bi >= nrb * ncb) return; /* no barrier in this kernel */
    const int rb = bi / ncb, r0 = rb * STM, c0 = (bi - rb * ncb) * STN;
    const int sb = has_slots ? slots[rr] : rr;
    const int kv = K * Ve;
    __global float *hrow = hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb) * kv;
    /* 32-bit per-lane offsets: rows of k, columns of v; a state element at (r, c): r Ve + c */
    int ko[STM], vo[STN], cc[STN];
    LB_UNROLL for (int a = 0; a < STM; a++) ko[a] = min(r0 + a, K - 1) * (int)k_s3;
    LB_UNROLL for (int c = 0; c < STN; c++) cc[c] = c0 + c, vo[c] = min(c0 + c, V - 1) * (int)v_s3;
#define LB_HO(a, c) (min(r0 + (a), K - 1) * Ve + min(cc[c], Ve - 1))
    /* The block's first state: the previous launch's (n0 > 0), else S0 / z0 or 0, which the first
     * launch writes to state 0 first. acc is then loaded from state n0 with no branch around it
     * (branches choosing it made the walk ~5x slower, measured). Rows and columns past the state read a clamped element, never stored. */
    if (n0 == 0)
        LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++) {
            const int r = r0 + a, col = cc[c];
            if (r >= K || col >= Ve) continue;
            float x = 0.0f;
            if (col < V && has_s0) x = OCLA_AT(S0, sb, h, r, col);
            else if (col == V && norm && has_z0) x = OCLA_AT(z0, sb, h, r, 0);
            hrow[LB_HO(a, c)] = x;
        }
    float acc[STM][STN];
    __global const float *hprev = hrow + (ocla_idx)n0 * kv;
    LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++) acc[a][c] = hprev[LB_HO(a, c)];
    __global const float *kb = OCLA_PTR(k, b, w.ts, h, 0), *vb = OCLA_PTR(v, b, w.ts, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + w.ts) * LB_KG;
    const int ks = (int)k_s1, vs = (int)v_s1;
#if USE_GK
    int go[STM]; /* the block's key rows in a row of G (and of the gated keys LB_KB) */
    LB_UNROLL for (int a = 0; a < STM; a++) go[a] = min(r0 + a, K - 1);
    /* the gated keys' plane (la_blk_gk_gates): BHn rows of T K, BHn = H packed, else the grid's B H */
    __global const float *kgb = Gb + LB_KB * (ocla_idx)(nseq > 0 ? H : (int)get_num_groups(2)) * T * K;
#endif
#if LB_IMG /* texels of row w.ts at the block's first row r0 (k, G's planes) and column c0 (v) */
    const int kt = LB_TEX(OCLA_OFF(k, b, w.ts, h, r0)), vt = LB_TEX(OCLA_OFF(v, b, w.ts, h, c0));
    (void)kmax, (void)gmax;
#if USE_GK
    const int gt = LB_TEX((Gb - G) + r0), kgt = LB_TEX((kgb - G) + r0);
#endif
#endif
    for (int n = n0; n < m1; n++) {
        const int t0 = n * CHUNK, L = min(CHUNK, w.len - t0), tl = t0 + L - 1;
#if USE_GK
        /* blocks of TM tokens: row r of the state decays by exp(G_jend,r - G_prev,r) (G_prev: the last
         * row of the block before, 0 before the first), then takes the block's keys, gated to its last
         * row (LB_KB); over the chunk that is exp(G_last,r) and exp(G_last,r - G_j,r). Tokens past L
         * read row L - 1 and add nothing (their keys times 0). */
        (void)tl;
        __global const float *gp = Gb + t0 * K, *kgp = kgb + t0 * K, *vp = vb + t0 * vs;
        float gprev[STM];
        LB_UNROLL for (int a = 0; a < STM; a++) gprev[a] = 0.0f;
        for (int j0 = 0; j0 < L; j0 += TM) {
            const int je = min(j0 + TM - 1, L - 1) * K;
            float ge[STM];
#if LB_IMG
            LB_IMG8(gim, gt + (t0 * K + je) / 4, gmax, ge);
#else
            LB_UNROLL for (int a = 0; a < STM; a++) ge[a] = gp[je + go[a]];
#endif
            LB_UNROLL for (int a = 0; a < STM; a++) {
                const float f = LB_EXP(ge[a] - gprev[a]); /* exponent <= 0 */
                gprev[a] = ge[a];
                LB_UNROLL for (int c = 0; c < STN; c++) acc[a][c] *= f;
            }
            LB_UNROLL for (int e = 0; e < TM; e++) {
                const int jr = min(j0 + e, L - 1);
                const float live = j0 + e < L ? 1.0f : 0.0f;
                float x[STM], y[STN];
#if LB_IMG
                LB_IMG8(gim, kgt + (t0 + jr) * (K / 4), gmax, x);
                LB_IMG8(vim, vt + (t0 + jr) * (vs / 4), vmax, y);
                LB_UNROLL for (int a = 0; a < STM; a++) x[a] *= live;
                LB_UNROLL for (int c = 0; c < STN; c++) y[c] = cc[c] < V ? y[c] : (cc[c] == V && norm) ? 1.0f : 0.0f;
#else
                __global const float *kr = kgp + jr * K, *vr = vp + jr * vs;
                LB_UNROLL for (int a = 0; a < STM; a++) x[a] = kr[go[a]] * live;
                LB_UNROLL for (int c = 0; c < STN; c++) y[c] = lb_vcol(vr, vo[c], cc[c], V, norm);
#endif
                LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++)
                    acc[a][c] = mad(x[a], y[c], acc[a][c]);
            }
        }
#else
#if LB_GATED
        const float gl = Gb[tl], f = exp(gl); /* decay of the state over the chunk */
        LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++) acc[a][c] *= f;
        __global const float *gp = Gb + t0;
#endif
        __global const float *kp = kb + t0 * ks, *vp = vb + t0 * vs;
        for (int j = 0; j < L; j++) { /* acc += (phi(k_j) exp(G_last - G_j)) [v_j, 1]^T */
#if LB_GATED
            const float gj = LB_EXP(gl - gp[j]);
#else
            const float gj = 1.0f;
#endif
            float x[STM], y[STN];
#if LB_IMG
            LB_IMG8(kim, kt + (t0 + j) * (ks / 4), kmax, x);
            LB_IMG8(vim, vt + (t0 + j) * (vs / 4), vmax, y);
            LB_UNROLL for (int a = 0; a < STM; a++) x[a] = OCLA_PHI(x[a]) * gj;
            LB_UNROLL for (int c = 0; c < STN; c++) y[c] = cc[c] < V ? y[c] : (cc[c] == V && norm) ? 1.0f : 0.0f;
#else
            LB_UNROLL for (int a = 0; a < STM; a++) x[a] = OCLA_PHI(kp[ko[a]]) * gj;
            LB_UNROLL for (int c = 0; c < STN; c++) y[c] = lb_vcol(vp, vo[c], cc[c], V, norm);
#endif
            LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++)
                acc[a][c] = mad(x[a], y[c], acc[a][c]);
            kp += ks, vp += vs;
        }
#endif
        __global float *hn1 = hrow + (ocla_idx)(n + 1) * kv;
        LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++)
            if (r0 + a < K && cc[c] < Ve) hn1[LB_HO(a, c)] = acc[a][c];
    }
    if (n1 < ntr) return;
    /* the final state from the one this work-item wrote last (reading acc in these branches would
     * cost as above) */
    __global const float *hl = hrow + (ocla_idx)ntr * kv;
    LB_UNROLL for (int a = 0; a < STM; a++) LB_UNROLL for (int c = 0; c < STN; c++) {
        const int r = r0 + a, col = cc[c];
        if (r < K && col < V && has_s1) OCLA_AT(S1, sb, h, r, col) = hl[LB_HO(a, c)];
        else if (r < K && col == V && norm && has_z1) OCLA_AT(z1, sb, h, r, 0) = hl[LB_HO(a, c)];
    }
#undef LB_HO
}

/* GLA's score block out of acc (la_blk_output): every entry, those above the diagonal (j > i) too, never
 * read; then a diagonal block whose decay dm passes LB_GK_TH: its entries j <= i again, element by
 * element (exponents <= 0), from scalars only (this branch never touches acc) */
#define LB_GK_SCORES_OUT                                                                                        \
    LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int e = 0; e < TM; e++)                              \
        sA[(i0 + a) * LB_LDA + j0 + e] = scale * acc[a][e];                                                    \
    if (ib == jb && dm > LB_GK_TH)                                                                             \
        for (int a = 0; a < TM; a++)                                                                           \
            for (int e = 0; e <= a; e++) {                                                                     \
                const int i = min(i0 + a, L - 1), jk = min(i0 + e, L - 1);                                     \
                float s = 0.0f;                                                                                \
                for (int d = 0; d < K; d++)                                                                    \
                    s = mad(OCLA_PHI(qb[i * qs + d * qd]) * OCLA_PHI(kb[jk * ks + d * kd]),                    \
                            LB_EXP(fmin(Gb[i * K + d] - Gb[jk * K + d], 0.0f)), s);                            \
                sA[(i0 + a) * LB_LDA + i0 + e] = scale * s;                                                    \
            }

OCLA_KERNEL void la_blk_output(OCLA_LA_OUTPUT_ARGS LB_IMG_O_ARGS) {
    (void)nvt, (void)feature, (void)gmode;
    const int n = (int)get_group_id(1), bh = (int)get_group_id(2), h = bh % H;
    const int rr = nseq > 0 ? seqtab[3 * nseq + 2 * n] : bh / H, j = nseq > 0 ? seqtab[3 * nseq + 2 * n + 1] : n;
    const la_row w = la_row_of(rr, T, nseq, seqtab);
    const int b = w.b, Ve = V + norm, lid = (int)get_local_id(0), lanes = (int)get_local_size(0);
    const int t0 = w.ts + j * CHUNK, L = min(CHUNK, w.len - j * CHUNK);
    __global const float *qb = OCLA_PTR(q, b, t0, h, 0), *kb = OCLA_PTR(k, b, t0, h, 0), *vb = OCLA_PTR(v, b, t0, h, 0);
    __global const float *Gb = G + ((ocla_idx)bh * T + t0) * LB_KG; /* row i of this chunk: Gb[i LB_KG] */
    __global const float *hn =
        hs + ((ocla_idx)bh * (NT + (nseq > 0 ? nseq : 1)) + w.hb + (noncausal ? NT : j)) * (ocla_idx)K * Ve;
    const int qs = (int)q_s1, qd = (int)q_s3, ks = (int)k_s1, kd = (int)k_s3;
#if USE_GK
    const ocla_idx gplane = (ocla_idx)get_num_groups(2) * T * K; /* la_blk_gk_gates' planes (BHn = the grid's B H) */
#endif
#if LB_IMG /* texels of this chunk's first row (q, k, v at column 0, G and its planes) and of its state */
    const int qt = LB_TEX(OCLA_OFF(q, b, t0, h, 0)), kt = LB_TEX(OCLA_OFF(k, b, t0, h, 0));
    const int vt = LB_TEX(OCLA_OFF(v, b, t0, h, 0)), ht = LB_TEX(hn - hs), qs4 = qs / 4, ks4 = ks / 4, vs4 = (int)v_s1 / 4;
    const int K4 = K / 4, Ve4 = Ve / 4;
    (void)qmax, (void)kmax, (void)gmax;
#if USE_GK
    const int gt = LB_TEX(Gb - G), gqt = LB_TEX((Gb - G) + LB_QG * gplane), gkt = LB_TEX((Gb - G) + LB_KB * gplane);
#endif
#endif

    /* ---- scores: sA[i][j] = scale exp(G_i - G_j) phi(q_i)^T phi(k_j), read for j <= i only ---- */
    if (!noncausal && L > 0)
        for (int p = lid; p < LB_NB * LB_NB; p += lanes) {
            /* every (row block, key block) pair, those above the diagonal or past L too (their entries
             * are 0 or never read): a branch here costs ~2.5x the scores on llvmpipe (measured) */
            const int ib = p / LB_NB, jb = p - ib * LB_NB, i0 = ib * TM, j0 = jb * TM;
            int qo[TM], ko[TM];
            LB_UNROLL for (int a = 0; a < TM; a++) qo[a] = min(i0 + a, L - 1) * qs, ko[a] = min(j0 + a, L - 1) * ks;
            float acc[TM][TM];
            LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int e = 0; e < TM; e++) acc[a][e] = 0.0f;
            __global const float *qp = qb, *kp = kb;
#if LB_IMG
            { /* texels of the block's rows and keys; 4 steps of d per texel */
                int xt[TM], yt[TM];
#if USE_GK
                LB_UNROLL for (int a = 0; a < TM; a++) xt[a] = gqt + min(i0 + a, L - 1) * K4, yt[a] = gkt + min(j0 + a, L - 1) * K4;
                const int g0 = gt + min(i0, L - 1) * K4, ge = gt + min(j0 + TM - 1, L - 1) * K4;
                float dm = 0.0f;
#else
                LB_UNROLL for (int a = 0; a < TM; a++) xt[a] = qt + min(i0 + a, L - 1) * qs4, yt[a] = kt + min(j0 + a, L - 1) * ks4;
#endif
                for (int d4 = 0; d4 < K4; d4++) {
                    float x[4][TM], y[4][TM];
#if USE_GK
                    const float4 xm = read_imagef(gim, g0 + d4) - read_imagef(gim, ge + d4), m = LB_EXP(fmin(xm, LB_GK_CAP));
                    dm = fmax(dm, fmax(fmax(xm.s0, xm.s1), fmax(xm.s2, xm.s3)));
                    LB_UNROLL for (int a = 0; a < TM; a++) LB_SPLIT4(x, a, read_imagef(gim, xt[a] + d4));
                    LB_UNROLL for (int e = 0; e < TM; e++) LB_SPLIT4(y, e, read_imagef(gim, yt[e] + d4) * m);
#else
                    LB_UNROLL for (int a = 0; a < TM; a++) LB_SPLIT4(x, a, LB_PHI4(read_imagef(qim, xt[a] + d4)));
                    LB_UNROLL for (int e = 0; e < TM; e++) LB_SPLIT4(y, e, LB_PHI4(read_imagef(kim, yt[e] + d4)));
#endif
                    LB_UNROLL for (int s4 = 0; s4 < 4; s4++) LB_UNROLL for (int a = 0; a < TM; a++)
                        LB_UNROLL for (int e = 0; e < TM; e++) acc[a][e] = mad(x[s4][a], y[s4][e], acc[a][e]);
                }
#if USE_GK
                LB_GK_SCORES_OUT
#endif
            }
#else
#if USE_GK
            /* the gated rows (la_blk_gk_gates): the block's rows and keys in rows of K; the rows of G
             * of its first row i0 and its last key jend (clamped to L) */
            int gq[TM], gk[TM];
            LB_UNROLL for (int a = 0; a < TM; a++) gq[a] = min(i0 + a, L - 1) * K, gk[a] = min(j0 + a, L - 1) * K;
            const int g0 = min(i0, L - 1) * K, ge = min(j0 + TM - 1, L - 1) * K;
            float dm = 0.0f; /* the largest middle exponent (a diagonal block's decay) */
            __global const float *gp = Gb, *gqp = Gb + LB_QG * gplane, *gkp = Gb + LB_KB * gplane;
#endif
            for (int d = 0; d < K; d++) {
                float x[TM], y[TM];
#if USE_GK
                const float xm = gp[g0] - gp[ge], m = LB_EXP(fmin(xm, LB_GK_CAP));
                dm = fmax(dm, xm);
                LB_UNROLL for (int a = 0; a < TM; a++) x[a] = gqp[gq[a]];
                LB_UNROLL for (int e = 0; e < TM; e++) y[e] = gkp[gk[e]] * m;
                gp += 1, gqp += 1, gkp += 1;
#else
                LB_UNROLL for (int a = 0; a < TM; a++) x[a] = OCLA_PHI(qp[qo[a]]);
                LB_UNROLL for (int e = 0; e < TM; e++) y[e] = OCLA_PHI(kp[ko[e]]);
#endif
                LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int e = 0; e < TM; e++)
                    acc[a][e] = mad(x[a], y[e], acc[a][e]);
                qp += qd, kp += kd;
            }
#if USE_GK
            LB_GK_SCORES_OUT
#endif
#endif /* LB_IMG */
#if !USE_GK
            float gi[TM], gj[TM];
            LB_UNROLL for (int a = 0; a < TM; a++) {
#if LB_GATED
                gi[a] = Gb[min(i0 + a, L - 1)], gj[a] = Gb[min(j0 + a, L - 1)];
#else
                gi[a] = gj[a] = 0.0f;
#endif
            }
            /* exp(G_i - G_j), j <= i: exponent <= 0. The entries above the diagonal (j > i) are stored too
             * and never read (the outputs take keys j < i0 and j = i0 + e <= i0 + a only): a select
             * here costs ~3x the whole output kernel on llvmpipe (measured) */
            LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int e = 0; e < TM; e++)
                sA[(i0 + a) * LB_LDA + j0 + e] = scale * acc[a][e] * LB_EXP(fmin(gi[a] - gj[e], 0.0f));
#endif
        }
    barrier(CLK_LOCAL_MEM_FENCE);

    /* ---- outputs: each work-item its (row block, column block) pairs ---- */
    const int ncb = (Ve + TN - 1) / TN;
    for (int p = lid; p < LB_NB * ncb; p += lanes) {
    const int rb = p / ncb, i0 = rb * TM, c0 = (p - rb * ncb) * TN;
    if (i0 >= L) break; /* the later pairs' rows are past L too */
    int qo[TM], cc[TN], hc[TN], vo[TN];
    LB_UNROLL for (int a = 0; a < TM; a++) qo[a] = min(i0 + a, L - 1) * qs;
    LB_UNROLL for (int c = 0; c < TN; c++) cc[c] = c0 + c, hc[c] = min(c0 + c, Ve - 1), vo[c] = min(c0 + c, V - 1) * (int)v_s3;
    float acc[TM][TN];
    LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++) acc[a][c] = 0.0f;
    __global const float *qp = qb, *hp = hn;
#if LB_IMG
    { /* phi(q_i)^T h_n, 4 steps of d per texel: the block's rows, 4 rows of the state's 8 columns */
        int xt[TM];
#if USE_GK
        LB_UNROLL for (int a = 0; a < TM; a++) xt[a] = gqt + min(i0 + a, L - 1) * K4;
        const int g0 = gt + i0 * K4; /* i0 < L here */
#else
        LB_UNROLL for (int a = 0; a < TM; a++) xt[a] = qt + min(i0 + a, L - 1) * qs4;
#endif
        for (int d4 = 0; d4 < K4; d4++) {
            float x[4][TM];
#if USE_GK
            const float4 e0 = LB_EXP(read_imagef(gim, g0 + d4));
            LB_UNROLL for (int a = 0; a < TM; a++) LB_SPLIT4(x, a, read_imagef(gim, xt[a] + d4) * e0);
#else
            LB_UNROLL for (int a = 0; a < TM; a++) LB_SPLIT4(x, a, LB_PHI4(read_imagef(qim, xt[a] + d4)));
#endif
            LB_UNROLL for (int s4 = 0; s4 < 4; s4++) {
                float y[TN];
                LB_IMG8(him, ht + (4 * d4 + s4) * Ve4 + c0 / 4, hmax, y);
                LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++)
                    acc[a][c] = mad(x[s4][a], y[c], acc[a][c]);
            }
        }
    }
    if (0) /* (the buffers' form below: compiled, never taken with the views) */
#endif
    {
#if USE_GK
    int gq[TM]; /* rows of phi(q_i) exp(G_i - G_i0) (LB_QG), times exp(G_i0) per step of d */
    LB_UNROLL for (int a = 0; a < TM; a++) gq[a] = min(i0 + a, L - 1) * K;
    const int g0 = i0 * K; /* i0 < L here */
    __global const float *gp = Gb, *gqp = Gb + LB_QG * gplane;
#endif
    for (int d = 0; d < K; d++) { /* phi(q_i)^T h_n */
        float x[TM], y[TN];
#if USE_GK
        const float e0 = LB_EXP(gp[g0]);
        LB_UNROLL for (int a = 0; a < TM; a++) x[a] = gqp[gq[a]] * e0;
        gp += 1, gqp += 1;
#else
        LB_UNROLL for (int a = 0; a < TM; a++) x[a] = OCLA_PHI(qp[qo[a]]);
#endif
        LB_UNROLL for (int c = 0; c < TN; c++) y[c] = hp[hc[c]];
        LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++) acc[a][c] = mad(x[a], y[c], acc[a][c]);
        qp += qd, hp += Ve;
    }
    }
    LB_UNROLL for (int a = 0; a < TM; a++) { /* scale exp(G_i) */
#if LB_GATED && !USE_GK
        const float f = scale * LB_EXP(Gb[min(i0 + a, L - 1)]);
#else
        const float f = scale;
#endif
        LB_UNROLL for (int c = 0; c < TN; c++) acc[a][c] *= f;
    }
    { /* A v (non-causal: no keys; a select, not a branch, around acc: see la_blk_states) */
        const int vs = (int)v_s1;
        __global const float *vp = vb;
        __local const float *ap = sA + i0 * LB_LDA;
        for (int jj = 0; jj < (noncausal ? 0 : i0); jj++) { /* the keys before the block: j < i0 <= i */
            float x[TM], y[TN];
            LB_UNROLL for (int a = 0; a < TM; a++) x[a] = ap[a * LB_LDA];
#if LB_IMG
            LB_IMG8(vim, vt + jj * vs4 + c0 / 4, vmax, y);
            LB_UNROLL for (int c = 0; c < TN; c++) y[c] = cc[c] < V ? y[c] : (cc[c] == V && norm) ? 1.0f : 0.0f;
#else
            LB_UNROLL for (int c = 0; c < TN; c++) y[c] = lb_vcol(vp, vo[c], cc[c], V, norm);
#endif
            LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++) acc[a][c] = mad(x[a], y[c], acc[a][c]);
            ap += 1, vp += vs;
        }
        /* the diagonal block: key i0 + e for row i0 + a where e <= a (constants), rows < L only read keys < L */
        LB_UNROLL for (int e = 0; e < TM; e++) {
            float y[TN];
#if LB_IMG
            LB_IMG8(vim, vt + min(i0 + e, L - 1) * vs4 + c0 / 4, vmax, y);
            LB_UNROLL for (int c = 0; c < TN; c++) y[c] = cc[c] < V ? y[c] : (cc[c] == V && norm) ? 1.0f : 0.0f;
#else
            __global const float *ve = vb + min(i0 + e, L - 1) * vs;
            LB_UNROLL for (int c = 0; c < TN; c++) y[c] = lb_vcol(ve, vo[c], cc[c], V, norm);
#endif
            /* a from 0, not e: both loops unroll fully and a >= e is a constant (a loop from e would
             * leave acc indexed at run time: ~780x per access on llvmpipe) */
            LB_UNROLL for (int a = 0; a < TM; a++) {
                if (a < e) continue;
                const float s = sA[(i0 + a) * LB_LDA + i0 + e], x = noncausal ? 0.0f : s; /* loaded, then selected */
                LB_UNROLL for (int c = 0; c < TN; c++) acc[a][c] = mad(x, y[c], acc[a][c]);
            }
        }
    }
    /* through this work-item's TM x TN floats of sX, stored with no branch: reading acc in the
     * branches that pick the stores (rows < L, columns < V, the normaliser column) costs ~4x the
     * whole kernel on llvmpipe (measured); read back by the same work-item, no barrier */
    __local float *so = sX + lid * (TM * TN);
    LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++) so[a * TN + c] = acc[a][c];
    __global float *ob = OCLA_PTR(o, b, t0, h, 0);
    LB_UNROLL for (int a = 0; a < TM; a++) LB_UNROLL for (int c = 0; c < TN; c++) {
        const int i = i0 + a, col = cc[c];
        if (i >= L) continue;
        if (col < V) ob[(ocla_idx)i * o_s1 + (ocla_idx)col * o_s3] = so[a * TN + c];
        else if (col == V && norm) den[(ocla_idx)bh * T + t0 + i] = so[a * TN + c];
    }
    }
}
