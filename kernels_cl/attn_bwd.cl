/* SPDX-License-Identifier: MIT */
/* attn_bwd.cl: chunkwise backward of causal linear attention / simple GLA / retention / GLA, with
 * the optional normaliser, through the feature map. OpenCL C 1.2, fp32. Math: docs/TRAINING.md.
 *
 * Notation per (batch b, head h) = bh = b*H + h; tokens t in chunks n of C rows (the last chunk may
 * be partial, L = min(C, T - n*C) rows); qh = phi(q), kh = phi(k); s = scale; VV = V + USE_NORM.
 * The normaliser is one more value column: v'_t = [v_t, 1], state S' = [S | z], so the same kernels
 * give the normalised gradient once do' = [do/den, -(do.n)/den^2] replaces do (bwd_output).
 * Gates: graw_t = min(g_t, 0) (policy: a positive log gate never grows the state); G_t = chunk-local
 * inclusive cumsum of graw. The decay factors are exp(G_i - G_j) with j <= i, exp(G_last - G_j) and
 * exp(G_i): all <= 1, so strong gates only underflow to 0. Vector gates evaluate exp(G_i - G_j) as
 * exp(G_i) * exp(-G_j) (precomputed) only where the chunk's decay G_last >= -BWD_LIM keeps
 * exp(-G_j) <= e^60, and elementwise otherwise (see EG/EINV/KDEC below).
 *
 *   hs[bh][n]  = S'_{n*C - 1}  (state entering chunk n, then the final state)     bwd_states
 *   A[bh][n][i][j]  = sum_d qh_id kh_jd exp(G_id - G_jd), j <= i (no scale)            bwd_A
 *   dA[bh][n][i][j] = do'_i . v'_j, j <= i                                             bwd_dA
 *   dhs[bh][n] = dL/d(state leaving chunk n) through later chunks and d_final only     bwd_dstates
 *   dqh_i = s exp(G_i) (S'_n do'_i) + s sum_{j<=i} dA_ij kh_j exp(G_i - G_j)           bwd_dqk
 *   dkh_j = exp(G_last - G_j) (dh_n v'_j) + s sum_{i>=j} dA_ij qh_i exp(G_i - G_j)     bwd_dqk
 *   dv_j  = sum_d kh_jd exp(G_last,d - G_jd) dh_n[d,:] + s sum_{i>=j} A_ij do'_i       bwd_dv
 *   dlogb_t = qh_t dqh_t - kh_t dkh_t;  dg_t = sum_{t<=tau in chunk} dlogb_tau + rowsum(S'_{n+1} . dh_n)
 *                                                                                      bwd_dg
 *   dq = dqh * phi'(q), dk = dkh * phi'(k)                                             bwd_dg
 *
 * Variant macros (common.cl's encoding, formed by runtime/variant.c from the family in
 * runtime/op_attention_bwd.c): FEATURE (phi: identity, elu+1, relu); the gate kind USE_G (one log
 * gate per token and head), USE_G_GAMMA (RetNet's fixed per-head decay, a [H] buffer) or USE_GK
 * (one per key dimension), none set for ungated attention; USE_NORM (the normaliser column); TS,
 * the tile of the tiled kernels (default 16); TPG, the tiles per work-group of the tiled kernels
 * (default 1). The chunk C, sizes and strides are arguments, so one program serves every chunk and
 * shape.
 * Launches (runtime/plan_bwd.c names them in order): the item-per-entry kernels are 1-D over a
 * flattened index, bounds-checked, any work-group size; the *_tiled kernels and bwd_chunk_* take
 * their tile count and run ceil(tiles / TPG) work-groups of exactly TPG*TS items (TPG consecutive
 * tiles of TS items each) with at most TPG*(4*TS*(TS+1) floats + TS ints) + 2*TPG ints (TPG > 1) of
 * static local memory.
 * Temporaries are regions of the context's scratch buffers, passed as (buffer, offset in floats)
 * pairs: BWD_WS(p) in the signature, BWD_BIND(p) gives the pointer p in the body.
 *
 * Packed sequences (nseq > 0, B = 1; the forward's rows, kernels_cl/linear_attn.cl "Rows"): the
 * chunks n = 0 .. NT-1 are all sequences' chunks from the host's table (per sequence: first token,
 * length, first chunk; per chunk: sequence, chunk within it), so no chunk straddles two sequences;
 * the state passes run per (sequence, head) over that sequence's chunks only, from its initial state
 * (forward) and from its final-state gradient back to its initial-state gradient (reverse), so no
 * gradient crosses a boundary. Sequence r's states in hs start at index (first chunk + r).
 */
#ifndef TS
#define TS 16 /* tile of the tiled kernels: items per tile and staged slice width */
#endif
#ifndef TPG
#define TPG 1 /* tiles per work-group of the tiled kernels (a wave64 holds 4 tiles of 16) */
#endif
#ifndef BWD_LIM
#define BWD_LIM 60.0f /* vector gates: largest chunk decay the factorised exp(G_i)exp(-G_j) form takes */
#endif
/* One log gate per token and head: the scalar gate or the fixed decay (same kernels). */
#define BWD_HEAD_GATE (USE_G || USE_G_GAMMA)

/* Every kernel's first arguments: n = its work-items or tiles, then the sizes, then packed sequences:
 * nseq (0: dense rows) and the (sequence, chunk) table at seq_b + seq_o (SEQTAB). */
#define BWD_HEAD(n) long n, int T, int H, int K, int V, int C, int NT, int nseq, __global const int *seq_b, long seq_o
#define SEQTAB (seq_b + seq_o)
/* States per head in hs: every chunk's entering state and each row's final state after its chunks,
 * NT + 1 (dense) or NT + nseq (packed). */
#define HSN (NT + (nseq > 0 ? nseq : 1))
/* A temporary region: buffer and offset (floats) in the signature, the pointer in the body. */
#define BWD_WS(p) __global float *p##_b, long p##_o
#define BWD_WS_IN(p) __global const float *p##_b, long p##_o
#define BWD_BIND(p) __global float *const p = p##_b + p##_o
#define BWD_BIND_IN(p) __global const float *const p = p##_b + p##_o

/* ocla's own gate buffers: contiguous [BH][T][GW], GW = GSTEP (the stride between tokens) = K for
 * vector gates, 1 otherwise; ungated attention reads none (G = 0). */
#define GSTEP (USE_GK ? K : 1)
#define GIDX(bh, t, d) (((long)(bh) * T + (t)) * GSTEP + (USE_GK ? (d) : 0))
#define GRAW(bh, t, d) (OCLA_HAS_GATE ? graw[GIDX(bh, t, d)] : 0.0f)
#define GCUM(bh, t, d) (OCLA_HAS_GATE ? gcum[GIDX(bh, t, d)] : 0.0f)
/* Vector gates: per-token factors precomputed by bwd_gates in gfac (3 planes of N = BH*T*K floats):
 *   EG   = exp(G_t)            <= 1
 *   EINV = exp(-G_t)           <= exp(BWD_LIM), written only where the chunk's total decay
 *                              G_last >= -BWD_LIM
 *   KDEC = exp(G_last - G_t)   <= 1
 * so exp(G_i - G_j) = EG_i * EINV_j without an exp per term wherever that cannot overflow (for a
 * chunk whose decay exceeds BWD_LIM the kernels take the elementwise exp(G_i - G_j) path instead). */
#define EINV(bh, t, d) gfac[n_fac + GIDX(bh, t, d)]
#define KDEC(bh, t, d) gfac[2 * n_fac + GIDX(bh, t, d)]
/* exp(G_t): EG's plane for vector gates, computed for the others (1 where ungated). */
#define EG(bh, t, d) (USE_GK ? gfac[GIDX(bh, t, d)] : exp(GCUM(bh, t, d)))

/* v'_t[c]: value column c, or the normaliser's constant column. do'_t[c]: the normaliser's buffer
 * dop [BH][T][V+1] (written by bwd_output) or do itself; DOP_S1, DOP_S3: its token and column strides. */
#define VV (V + USE_NORM)
#define KVV ((long)K * VV) /* one state S' = [S | z] */
#define VP(b, t, h, c) (!USE_NORM || (c) < V ? OCLA_AT(v, b, t, h, c) : 1.0f)
#define DOP_PTR(bh, b, t, h, c) (USE_NORM ? dop + ((long)(bh) * T + (t)) * (V + 1) + (c) : OCLA_PTR(dout, b, t, h, c))
#define DOP_S1 (USE_NORM ? V + 1 : dout_s1)
#define DOP_S3 (USE_NORM ? 1 : dout_s3)
#define DOP(bh, b, t, h, c) (*DOP_PTR(bh, b, t, h, c))

/* Head gates (scalar or fixed): exp(G_ti - G_tj) <= 1 for tj <= ti in one chunk; 1 for the others. */
#define HEADDEC(bh, ti, tj) (BWD_HEAD_GATE ? exp(GCUM(bh, ti, 0) - GCUM(bh, tj, 0)) : 1.0f)
/* exp(G_last - G_t) of token t in the chunk that ends at tl, every gate kind. */
#define TOKDEC(bh, t, tl, d) (USE_GK ? KDEC(bh, t, d) : HEADDEC(bh, tl, t))

/* A block of work: group (or item) = ((bh*NT + n)*NY + y)*NX + x; chunk n has L tokens from t0, the
 * last tl. */
typedef struct bwd_tile {
    int x, y, n, bh, b, h, t0, L, tl;
    int r, j, hn, rh; /* state row (batch row or sequence), chunk within it, hs index of its entering
                       * state (per head), state row index r*H + h (dense: bh) */
} bwd_tile;
/* g's chunk from g.n and g.bh: dense chunk n of row b, packed chunk n of the table. */
OCLA_INLINE void bwd_chunk_fill(bwd_tile *g, int T, int H, int C, int nseq, __global const int *seqtab) {
    int ts = 0, len = T;
    g->b = g->bh / H, g->h = g->bh % H, g->r = g->b, g->j = g->n, g->hn = g->n;
    if (nseq > 0) {
        g->r = seqtab[3 * nseq + 2 * g->n], g->j = seqtab[3 * nseq + 2 * g->n + 1];
        ts = seqtab[3 * g->r], len = seqtab[3 * g->r + 1], g->hn = g->n + g->r;
    }
    g->rh = g->r * H + g->h;
    g->t0 = ts + g->j * C, g->L = min(C, ts + len - g->t0), g->tl = g->t0 + g->L - 1;
}
OCLA_INLINE bwd_tile bwd_tile_at(long grp, int NX, int NY, int T, int H, int C, int NT, int nseq,
                                 __global const int *seqtab) {
    bwd_tile g;
    g.x = (int)(grp % NX), g.y = (int)((grp / NX) % NY);
    const long r = grp / ((long)NX * NY);
    g.n = (int)(r % NT), g.bh = (int)(r / NT);
    bwd_chunk_fill(&g, T, H, C, nseq, seqtab);
    return g;
}
/* The chunk of token t (of head bh): dense t / C; packed, the sequence holding t (binary search over
 * the first tokens), then its chunk. */
OCLA_INLINE bwd_tile bwd_tile_of_token(int t, int bh, int T, int H, int C, int nseq, __global const int *seqtab) {
    bwd_tile g;
    g.x = g.y = 0, g.bh = bh, g.n = t / C;
    if (nseq > 0) {
        int lo = 0, hi = nseq - 1;
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (seqtab[3 * mid] <= t)
                lo = mid;
            else
                hi = mid - 1;
        }
        g.n = seqtab[3 * lo + 2] + (t - seqtab[3 * lo]) / C;
    }
    bwd_chunk_fill(&g, T, H, C, nseq, seqtab);
    return g;
}

/* The item-per-entry kernels over chunks: item = ((bh*NT + n)*NY + y)*NX + x, in block w. */
#define BWD_BLOCK_ITEM(NX, NY)                                                                                    \
    const long item = get_global_id(0);                                                                           \
    if (item >= n_items) return;                                                                                  \
    const bwd_tile w = bwd_tile_at(item, (NX), (NY), T, H, C, NT, nseq, SEQTAB)

/* The state passes: item = (rh*K + d)*VV + c, one entry (d, c) of S' = [S | z] of state row r (a
 * batch row, or a packed sequence) and head h, rh = r*H + h; the row's tokens [ts, te) in nch
 * chunks; its offset at its first chunk in hs ([BH][HSN][VV][K]: o_hs), dhs ([BH][NT][K][VV]: o_dh)
 * and dhsT ([BH][NT][VV][K]: o_dt), one chunk further every KVV. An optional state given as tensors
 * s [rows,H,K,V] and z [rows,H,K] with flags has_s, has_z: its entry (0 where absent), and a store
 * into it. */
#define BWD_STATE_ITEM                                                                                            \
    const long item = get_global_id(0);                                                                           \
    if (item >= n_items) return;                                                                                  \
    const int c = (int)(item % VV), d = (int)((item / VV) % K);                                                  \
    const int rh = (int)(item / ((long)VV * K)), r = rh / H, h = rh % H, b = nseq > 0 ? 0 : r, bh = b * H + h;   \
    const int ts = nseq > 0 ? SEQTAB[3 * r] : 0, te = ts + (nseq > 0 ? SEQTAB[3 * r + 1] : T);                  \
    const int first = nseq > 0 ? SEQTAB[3 * r + 2] : 0, nch = (te - ts + C - 1) / C;                            \
    const long o_hs = ((long)bh * HSN + first + (nseq > 0 ? r : 0)) * KVV + (long)c * K + d;                      \
    const long o_dt = ((long)bh * NT + first) * KVV + (long)c * K + d;                                            \
    const long o_dh = ((long)bh * NT + first) * KVV + (long)d * VV + c
#define BWD_STATE_IN(s, z) (c < V ? (has_##s ? OCLA_AT(s, r, h, d, c) : 0.0f) : has_##z ? OCLA_AT(z, r, h, d, 0) : 0.0f)
#define BWD_STATE_OUT(s, z, x)                                                                                    \
    do if (c < V ? has_##s : has_##z) *(c < V ? OCLA_PTR(s, r, h, d, c) : OCLA_PTR(z, r, h, d, 0)) = (x); while (0)

/* The per-token kernels: item = (bh*T + t)*NX + x (x = item % NX, the kernel's own); token t is row
 * i of chunk n, which has L tokens from t0, the last tl; hn: the chunk's entering state in hs. */
#define BWD_TOKEN_ITEM(NX)                                                                                        \
    const long item = get_global_id(0);                                                                           \
    if (item >= n_items) return;                                                                                  \
    const int t = (int)((item / (NX)) % T), bh = (int)(item / ((long)(NX) * T)), b = bh / H, h = bh % H;         \
    const bwd_tile tk = bwd_tile_of_token(t, bh, T, H, C, nseq, SEQTAB);                                         \
    const int n = tk.n, t0 = tk.t0, i = t - t0, L = tk.L, tl = tk.tl, hn = tk.hn

/* ---- the tiled kernels' pieces: a tile of TS items stages TS x TS slabs of its operands in local
 * memory (slab[row][column], rows padded to SLAB floats; item ii loads column ii of every row, so
 * loads are coalesced) and accumulates TS outputs per item in registers. A work-group runs TPG
 * consecutive tiles: items sub*TS .. sub*TS + TS-1 run tile group*TPG + sub with slabs of their own.
 * The tiles share the work-group's barriers, so each loop that holds a barrier runs the union of its
 * tiles' iterations (bwd_span, bwd_all) and a tile works in its own iterations only; a tile past the
 * grid (or one with no token) works in none and stores nothing. With TPG = 1 the work-group is the
 * tile, and such a tile returns instead (uniform). ---- */
#define SLAB (TS + 1)
/* A local array of n elements per tile: the work-group's TPG copies, and p = this tile's (flat: row r
 * of a slab at p + r * SLAB). */
#define BWD_LOCAL(type, p, n) __local type p##_all[TPG * (n)]; __local type *const p = p##_all + sub * (n)
/* A tile's place in its work-group: its two slabs, its item, whether it has work, and the
 * work-group's exchange of loop ranges (TPG > 1: 2 ints per tile). */
typedef struct bwd_grp {
    __local float *la, *lb;
    __local int *xch;
    int ii, sub, live;
} bwd_grp;
#if TPG > 1
#define BWD_XCH_DECL __local int bwd_xch[2 * TPG]
#define BWD_XCH bwd_xch
#else
#define BWD_XCH_DECL (void)0
#define BWD_XCH ((__local int *)0)
#endif
/* The tile's item ii (and sub, its place in the work-group), its slabs la, lb, wg (bwd_grp) and its
 * block g: the tile index clamped into the grid, so that a tile past it has valid addresses. */
#define BWD_TILE_BEGIN(NX, NY)                                                                                    \
    const int sub = TPG > 1 ? (int)get_local_id(0) / TS : 0;                                                      \
    const int ii = TPG > 1 ? (int)get_local_id(0) % TS : (int)get_local_id(0);                                   \
    BWD_LOCAL(float, la, TS * SLAB);                                                                              \
    BWD_LOCAL(float, lb, TS * SLAB);                                                                              \
    BWD_XCH_DECL;                                                                                                 \
    const long tile = (long)get_group_id(0) * TPG + sub;                                                          \
    if (TPG == 1 && tile >= n_groups) return; /* uniform where the work-group is the tile */                     \
    bwd_grp wg = {la, lb, BWD_XCH, ii, sub, tile < n_groups};                                                     \
    const bwd_tile g = bwd_tile_at(TPG > 1 ? min(tile, n_groups - 1) : tile, (NX), (NY), T, H, C, NT, nseq, SEQTAB)
/* A tile without work where cond holds (uniform in the tile): it returns where the work-group is the
 * tile, else it goes through the work-group's barriers without work. */
#define BWD_TILE_IDLE_IF(cond)                                                                                    \
    do                                                                                                            \
        if (cond) {                                                                                               \
            if (TPG == 1) return;                                                                                 \
            wg.live = 0;                                                                                          \
        }                                                                                                         \
    while (0)

/* A loop of the tile over [*s0, *s1) in steps of TS (emptied where the tile has no work): returns the
 * work-group's loop, the union of its tiles' ranges, which every item runs so that all reach the
 * same barriers; the tile works in the steps s with *s0 <= s < *s1 (every range starts at a multiple
 * of TS, so the union's steps are the tiles' steps). TPG = 1: the tile's own range. */
OCLA_INLINE int2 bwd_span(bwd_grp w, int *s0, int *s1) {
    if (!w.live || *s1 < *s0) *s1 = *s0;
#if TPG > 1
    barrier(CLK_LOCAL_MEM_FENCE); /* every item has read the previous exchange */
    if (w.ii == 0) {
        w.xch[2 * w.sub] = *s0 < *s1 ? *s0 : INT_MAX;
        w.xch[2 * w.sub + 1] = *s0 < *s1 ? *s1 : INT_MIN;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int2 r = (int2)(INT_MAX, INT_MIN);
    for (int t = 0; t < TPG; t++) r.x = min(r.x, w.xch[2 * t]), r.y = max(r.y, w.xch[2 * t + 1]);
    return r;
#else
    return (int2)(*s0, *s1);
#endif
}
/* Does x (uniform in the tile) hold in every tile of the work-group that has work? TPG = 1: x. */
OCLA_INLINE int bwd_all(bwd_grp w, int x) {
#if TPG > 1
    barrier(CLK_LOCAL_MEM_FENCE);
    if (w.ii == 0) w.xch[2 * w.sub] = x || !w.live;
    barrier(CLK_LOCAL_MEM_FENCE);
    int r = 1;
    for (int t = 0; t < TPG; t++) r = r && w.xch[2 * t];
    return r;
#else
    return x;
#endif
}

/* Gate factor of token t, key dim d (mode): BWD_F_EG exp(G_t), BWD_F_EINV exp(-G_t) (vector gates
 * only), BWD_F_KDEC exp(G_last - G_t), BWD_F_ONE 1; with BWD_F_SAFE (vector gates) 1 where the
 * chunk's decay G_last < -BWD_LIM (those dims take the elementwise exp instead). BWD_F_GK(m): m with
 * BWD_F_SAFE for vector gates, 1 for the others (their decays are applied elsewhere). The mode is a
 * constant at every call site: bwd_feat resolves it to a factor pointer once per operand, and
 * bwd_stage checks BWD_F_SAFE once per staged column, so the staging loop does one load (vector
 * gates) or one exp (head gates) per element and no branch on the mode. */
enum { BWD_F_ONE, BWD_F_EG, BWD_F_EINV, BWD_F_KDEC, BWD_F_SAFE }; /* 0..4: mode & 3 the factor, BWD_F_SAFE a flag */
#define BWD_F_GK(m) (USE_GK ? (m) | BWD_F_SAFE : BWD_F_ONE)
#define BWD_FCS USE_GK /* column stride of the gate factors: one per key dim, or one per token */

/* An operand of the tiled kernels: element (r, c) = x[r*rs + c*cs] for r < nr, c < nc, 0 outside; 1
 * in the normaliser's column c == one (not read); with phi set, phi(x), then with hasf times the gate
 * factor of row r: vector gates f[r*fs + c] (a plane of gfac from the chunk start), skipped in the
 * columns c with gl[c] < -BWD_LIM where chk is set (gl: the chunk's last G row); head gates
 * exp(ga * f[r*fs] + gb) (f = the chunk's G). */
typedef struct bwd_opnd {
    __global const float *x, *f, *gl;
    long rs, cs, fs;
    float ga, gb;
    int nr, nc, one, phi, hasf, chk;
} bwd_opnd;
OCLA_INLINE bwd_opnd bwd_op(__global const float *x, long rs, long cs, int nr, int nc, int one) {
    bwd_opnd o;
    o.x = o.f = o.gl = x, o.rs = rs, o.cs = cs, o.fs = 0, o.nr = nr, o.nc = nc, o.one = one;
    o.phi = o.hasf = o.chk = 0, o.ga = o.gb = 0.0f;
    return o;
}
OCLA_INLINE bwd_opnd bwd_feat(__global const float *x, long rs, long cs, bwd_tile g, int T, int K, int mode,
                              __global const float *gcum, __global const float *gfac, long n_fac) {
    bwd_opnd o = bwd_op(x, rs, cs, g.L, K, -1);
    const int m = mode & 3;
    o.phi = 1, o.fs = GSTEP, o.hasf = OCLA_HAS_GATE && m != BWD_F_ONE;
#if USE_GK
    o.f = gfac + (m ? m - 1 : 0) * n_fac + GIDX(g.bh, g.t0, 0);
    o.gl = gcum + GIDX(g.bh, g.tl, 0), o.chk = (mode & BWD_F_SAFE) != 0;
#elif BWD_HEAD_GATE
    o.f = gcum + GIDX(g.bh, g.t0, 0);
    o.ga = m == BWD_F_EG ? 1.0f : -1.0f;
    o.gb = m == BWD_F_KDEC ? gcum[GIDX(g.bh, g.tl, 0)] : 0.0f;
#endif
    return o;
}
/* The operands, rows = the tokens of tile g's chunk: features (phi(q), phi(k) times factor m), v', do'
 * (its first nc columns), the cumulative gates, and a row-major matrix. */
#define OP_Q(g, m) bwd_feat(OCLA_PTR(q, (g).b, (g).t0, (g).h, 0), q_s1, q_s3, (g), T, K, (m), gcum, gfac, n_fac)
#define OP_K(g, m) bwd_feat(OCLA_PTR(k, (g).b, (g).t0, (g).h, 0), k_s1, k_s3, (g), T, K, (m), gcum, gfac, n_fac)
#define OP_V(g) bwd_op(OCLA_PTR(v, (g).b, (g).t0, (g).h, 0), v_s1, v_s3, (g).L, VV, V)
#define OP_DOP(g, nc) bwd_op(DOP_PTR((g).bh, (g).b, (g).t0, (g).h, 0), DOP_S1, DOP_S3, (g).L, (nc), -1)
#define OP_G(g) bwd_op(gcum + GIDX((g).bh, (g).t0, 0), GSTEP, 1, (g).L, K, -1)
#define OP_MAT(p, ld, nr, nc) bwd_op((p), (ld), 1, (nr), (nc), -1)

/* Rows r0 .. r0+TS-1 of one column of operand o into a slab: xp, fp = the column of x and of the
 * gate factors (usef: apply them), rows at most rmax read (clamped loads), rows rr >= nr zero, the
 * normaliser's column (one) all ones. */
OCLA_INLINE void bwd_rows(__local float *s, bwd_opnd o, __global const float *xp, __global const float *fp, int usef,
                          int r0, int rmax, int nr, int one) {
    for (int rr = 0; rr < TS; rr++) {
        const int r = min(r0 + rr, rmax);
        float x = xp[r * o.rs];
        if (o.phi) x = OCLA_PHI(x);
#if USE_GK
        if (o.hasf) x *= usef ? fp[r * o.fs] : 1.0f;
#elif BWD_HEAD_GATE
        if (o.hasf) x *= exp(o.ga * fp[r * o.fs] + o.gb);
#endif
        s[rr * SLAB] = rr < nr ? (one ? 1.0f : x) : 0.0f;
    }
}
/* Stage rows r0 .. r0+TS-1 of operand o, column c, into a slab: s = &slab[0][ii] for item ii. The
 * loop has no branch: a full tile of rows reads them in stride; a partial one (or a column past nc)
 * clamps its loads into the operand (row nr-1, column 0) and masks them after. */
OCLA_INLINE void bwd_stage(__local float *s, bwd_opnd o, int r0, int c) {
    const int in = c < o.nc, one = c == o.one, cc = in && !one ? c : 0, nr = in ? o.nr - r0 : 0;
    __global const float *xp = o.x + cc * o.cs, *fp = o.f + cc * BWD_FCS;
    const int usef = !(o.chk && !(o.gl[cc] >= -BWD_LIM)); /* once per column */
    if (nr >= TS)
        bwd_rows(s, o, xp, fp, usef, r0, INT_MAX, TS, one);
    else
        bwd_rows(s, o, xp, fp, usef, r0, o.nr - 1, nr, one);
}

/* acc[q] += a[j*as] * b[j*bj + q*bq] for j < n, q < TS: a = the item's row (as = 1) or column
 * (as = SLAB) of a slab, b = a slab (bj = SLAB, bq = 1) or its transpose (bj = 1, bq = SLAB). */
OCLA_INLINE void bwd_mac(float *acc, __local const float *a, int as, __local const float *b, int bj, int bq, int n) {
    for (int j = 0; j < n; j++) {
        const float x = a[j * as];
        for (int q = 0; q < TS; q++) acc[q] += x * b[j * bj + q * bq];
    }
}

/* A tile's product over a shared index s in [s0, s1), staged TS at a time in its slabs (item ii
 * stages column ii; the work-group's loop: bwd_span), accumulated in acc[q] of item ii:
 *   BWD_TN: acc[q] += sum_s a(s, ax + ii) b(s, bx + q)     (the chunk's tokens as s)
 *   BWD_NN: acc[q] += sum_s a(ax + ii, s) b(s, bx + q)
 *   BWD_NT: acc[q] += sum_s a(ax + ii, s) b(bx + q, s)     (feature dims as s) */
enum { BWD_TN, BWD_NN, BWD_NT };
OCLA_INLINE void bwd_product(float *acc, bwd_grp w, int form, bwd_opnd a, int ax, bwd_opnd b, int bx, int s0,
                             int s1) {
    __local float *const la = w.la, *const lb = w.lb;
    const int ii = w.ii;
    const int2 r = bwd_span(w, &s0, &s1);
    for (int s = r.x; s < r.y; s += TS) {
        const int own = TPG == 1 || (s >= s0 && s < s1);
        if (own) {
            bwd_stage(la + ii, a, form == BWD_TN ? s : ax, form == BWD_TN ? ax + ii : s + ii);
            bwd_stage(lb + ii, b, form == BWD_NT ? bx : s, form == BWD_NT ? s + ii : bx + ii);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (own && form == BWD_NT)
            bwd_mac(acc, la + ii * SLAB, 1, lb, 1, SLAB, min(TS, s1 - s));
        else if (own)
            bwd_mac(acc, form == BWD_TN ? la + ii : la + ii * SLAB, form == BWD_TN ? SLAB : 1, lb, SLAB, 1, TS);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* out[c] = scale * acc[c - c0] for c0 <= c < min(c0 + TS, nc). */
OCLA_INLINE void bwd_store(__global float *out, const float *acc, float scale, int c0, int nc) {
    for (int q = 0; q < TS; q++) /* the whole tile, guarded: constant indices keep acc in registers (no #pragma unroll: it crashed PoCL 3.1's compiler) */
        if (c0 + q < nc) out[c0 + q] = scale * acc[q];
}
/* Row i (< C) of tile g of A or dA (X: [BH][NT][C][C]), columns j0 + jj: acc below the diagonal of
 * the chunk's L tokens, times exp(G_i - G_j) for head gates (gh = the head's [T] gates from the chunk
 * start), zeros elsewhere. */
OCLA_INLINE void bwd_store_tri(__global float *X, const float *acc, int active, int i, bwd_tile g, int T, int C,
                               int NT, __global const float *gcum) {
    if (i >= C) return;
    __global float *out = X + (((long)g.bh * NT + g.n) * C + i) * C;
    __global const float *gh = gcum + (long)g.bh * T + g.t0;
    const int j0 = g.x * TS, L = g.L;
    for (int jj = 0; jj < TS; jj++) { /* the whole tile, guarded: constant indices keep acc in registers */
        const int j = j0 + jj;
        if (j >= C) continue;
        float x = 0.0f;
        if (active && j <= i && i < L) {
            x = acc[jj];
            if (BWD_HEAD_GATE) x *= exp(gh[i] - gh[j]);
        }
        out[j] = x;
    }
}

/* Gate preparation. item = (bh*NT + n)*GW + d. graw = ocla_log_gate(g) = min(g,0) (USE_G_GAMMA:
 * of the fixed per-head decay, g is not read), gcum = chunk-local inclusive cumsum of graw,
 * gexp = exp(graw) (the token decay factor). */
OCLA_KERNEL void bwd_gates(BWD_HEAD(n_items), OCLA_TENSOR(g), BWD_WS_IN(decay), BWD_WS(graw), BWD_WS(gcum),
                           BWD_WS(gexp), BWD_WS(gfac), long n_fac) {
    BWD_BIND_IN(decay); BWD_BIND(graw); BWD_BIND(gcum); BWD_BIND(gexp); BWD_BIND(gfac);
    BWD_BLOCK_ITEM(GSTEP, 1);
    const int d = w.x, bh = w.bh, t1 = w.t0 + w.L;
    float acc = 0.0f;
    for (int t = w.t0; t < t1; t++) {
        const float x = ocla_log_gate(USE_G_GAMMA ? decay[w.h] : OCLA_AT(g, w.b, t, w.h, d));
        acc += x;
#if OCLA_HAS_GATE
        graw[GIDX(bh, t, d)] = x;
        gcum[GIDX(bh, t, d)] = acc;
        gexp[GIDX(bh, t, d)] = exp(x);
#endif
    }
#if USE_GK
    for (int t = w.t0; t < t1; t++) {
        const float G = gcum[GIDX(bh, t, d)];
        gfac[GIDX(bh, t, d)] = exp(G);
        EINV(bh, t, d) = acc >= -BWD_LIM ? exp(-G) : 0.0f;
        KDEC(bh, t, d) = exp(acc - G);
    }
#endif
}

/* Forward state recomputation, token by token (every factor <= 1), stored at chunk starts.
 * item = (rh*K + d)*VV + c; hs: [BH][HSN][VV][K] (key dimension fastest: the readers' work-items
 * are consecutive in d). */
OCLA_KERNEL void bwd_states(BWD_HEAD(n_items), OCLA_TENSOR(k), OCLA_TENSOR(v), BWD_WS_IN(gexp), OCLA_TENSOR(h0),
                            int has_h0, OCLA_TENSOR(z0), int has_z0, BWD_WS(hs)) {
    BWD_BIND_IN(gexp); BWD_BIND(hs);
    BWD_STATE_ITEM;
    const int isv = c < V;
    float s = BWD_STATE_IN(h0, z0);
    __global const float *kp = OCLA_PTR(k, b, ts, h, d);
    __global const float *vp = OCLA_PTR(v, b, ts, h, isv ? c : 0);
    __global const float *ap = gexp + GIDX(bh, ts, d); /* token decays, read where gated */
    for (int n = 0; n < nch; n++) {
        hs[o_hs + n * KVV] = s;
        const int t1 = min(te, ts + (n + 1) * C);
        for (int t = ts + n * C; t < t1; t++) {
            float kv = OCLA_PHI(*kp) * (isv ? *vp : 1.0f);
            s = (OCLA_HAS_GATE ? *ap : 1.0f) * s + kv;
            ap += GSTEP;
            kp += k_s1;
            vp += v_s1;
        }
    }
    hs[o_hs + nch * KVV] = s;
}

/* Chunk-level state passes (used where the tiled kernels fit; same results as bwd_states /
 * bwd_dstates up to rounding):
 *   bwd_chunk_kv:  U_n = sum_{j in n} (kh_j * exp(G_last - G_j)) v'_j^T        -> hs[n+1], [VV][K]
 *   bwd_chunk_qdo: W_n = s sum_{i in n} (qh_i * exp(G_i)) do'_i^T               -> dhs[n-1] ([K][VV]), W_0 -> w0
 *   bwd_scan:      h_{n+1} = exp(G_last,n) h_n + U_n (in place in hs);
 *                  dh_{n-1} = exp(G_last,n) dh_n + W_n (in place in dhs, copy to dhsT), dS_0 = dh_{-1}.
 * A tile of TS items, item ii owns one output row and TS columns; tokens of the chunk are staged TS
 * at a time in local memory. */

/* tile = ((bh*NT + n)*NCT + ct)*NDT + dt; NCT = ceil(VV/TS), NDT = ceil(K/TS). Row c = ct*TS + ii. */
OCLA_KERNEL void bwd_chunk_kv(BWD_HEAD(n_groups), OCLA_TENSOR(k), OCLA_TENSOR(v), BWD_WS_IN(gcum), BWD_WS_IN(gfac),
                              long n_fac, BWD_WS(hs)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(hs);
    BWD_TILE_BEGIN((K + TS - 1) / TS, (VV + TS - 1) / TS); /* x = dt, y = ct */
    const int c = g.y * TS + ii;
    float acc[TS] = {0.0f};
    bwd_product(acc, wg, BWD_TN, OP_V(g), g.y * TS, OP_K(g, BWD_F_KDEC), g.x * TS, 0, g.L);
    if (wg.live && c < VV) bwd_store(hs + ((long)g.bh * HSN + g.hn + 1) * K * VV + (long)c * K, acc, 1.0f, g.x * TS, K);
}

/* tile = ((bh*NT + n)*NDT + dt)*NCT + ct. Row d = dt*TS + ii. W_n goes to dhs[n-1] ([K][VV]); a row's
 * first chunk's W to w0 ([rows*H][K][VV]). */
OCLA_KERNEL void bwd_chunk_qdo(BWD_HEAD(n_groups), float scale, OCLA_TENSOR(q), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                               BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS(dhs), BWD_WS(w0)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(dhs); BWD_BIND(w0);
    BWD_TILE_BEGIN((VV + TS - 1) / TS, (K + TS - 1) / TS); /* x = ct, y = dt */
    const int d = g.y * TS + ii;
    float acc[TS] = {0.0f};
    bwd_product(acc, wg, BWD_TN, OP_Q(g, BWD_F_EG), g.y * TS, OP_DOP(g, VV), g.x * TS, 0, g.L);
    if (!wg.live || d >= K) return;
    bwd_store(g.j > 0 ? dhs + ((long)g.bh * NT + g.n - 1) * K * VV + (long)d * VV : w0 + ((long)g.rh * K + d) * VV,
              acc, scale, g.x * TS, VV);
}

/* item = (bh*K + d)*VV + c. pass 0: forward scan of the chunk states in hs (hs[n+1] holds U_n on
 * entry). pass 1: reverse scan of the state gradients in dhs (dhs[n-1] holds W_n, w0 holds W_0),
 * the transposed copy dhsT and the initial-state gradients. */
OCLA_KERNEL void bwd_scan(BWD_HEAD(n_items), BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS(hs), OCLA_TENSOR(h0),
                          int has_h0, OCLA_TENSOR(z0), int has_z0, BWD_WS(dhs), BWD_WS(dhsT), BWD_WS_IN(w0),
                          OCLA_TENSOR(dhT), int has_dhT, OCLA_TENSOR(dzT), int has_dzT, OCLA_TENSOR_OUT(dh0),
                          int has_dh0, OCLA_TENSOR_OUT(dz0), int has_dz0, int pass) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(hs); BWD_BIND(dhs); BWD_BIND(dhsT); BWD_BIND_IN(w0);
    BWD_STATE_ITEM;
    if (pass == 0) {
        float s = BWD_STATE_IN(h0, z0);
        hs[o_hs] = s;
        for (int n = 0; n < nch; n++) {
            const int tl = min(te, ts + (n + 1) * C) - 1;
            s = EG(bh, tl, d) * s + hs[o_hs + (n + 1) * KVV];
            hs[o_hs + (n + 1) * KVV] = s;
        }
        return;
    }
    float s = BWD_STATE_IN(dhT, dzT);
    for (int n = nch - 1; n >= 0; n--) { /* the row's chunks only: it restarts at each row's end */
        const int tl = min(te, ts + (n + 1) * C) - 1;
        dhs[o_dh + n * KVV] = s;
        dhsT[o_dt + n * KVV] = s;
        const float w = n > 0 ? dhs[o_dh + (n - 1) * KVV] : w0[(long)rh * KVV + (long)d * VV + c];
        s = EG(bh, tl, d) * s + w;
    }
    BWD_STATE_OUT(dh0, dz0, s);
}

/* Intra-chunk attention A (no scale). item = ((bh*NT + n)*C + i)*C + j; A: [BH][NT][C][C]. */
OCLA_KERNEL void bwd_A(BWD_HEAD(n_items), OCLA_TENSOR(q), OCLA_TENSOR(k), BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac,
                       BWD_WS(A)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(A);
    BWD_BLOCK_ITEM(C, C); /* x = j, y = i */
    const int ti = w.t0 + w.y, tj = w.t0 + w.x, bh = w.bh;
    float acc = 0.0f;
    if (w.x <= w.y && w.y < w.L) {
        __global const float *qp = OCLA_PTR(q, w.b, ti, w.h, 0), *kp = OCLA_PTR(k, w.b, tj, w.h, 0);
#if USE_GK
        __global const float *gi = gcum + GIDX(bh, ti, 0), *gj = gcum + GIDX(bh, tj, 0), *gl = gcum + GIDX(bh, w.tl, 0);
        __global const float *ei = gfac + GIDX(bh, ti, 0), *fj = &EINV(bh, tj, 0);
#endif
        for (int d = 0; d < K; d++) {
            float x = OCLA_PHI(*qp) * OCLA_PHI(*kp);
#if USE_GK
            x *= gl[d] >= -BWD_LIM ? ei[d] * fj[d] : exp(gi[d] - gj[d]);
#endif
            acc += x;
            qp += q_s3;
            kp += k_s3;
        }
        acc *= HEADDEC(bh, ti, tj);
    }
    A[item] = acc;
}

/* Tiled forms of bwd_A and bwd_dA (same results): a tile of TS work-items owns a TS x TS block
 * (rows i0.., columns j0..) of one chunk; work-item ii accumulates row i0+ii in registers while the
 * feature dimension is walked in slices of TS staged in local memory. Blocks above the diagonal are
 * written as zeros. tile = ((bh*NT + n)*NTI + ti)*NTI + tj, NTI = ceil(C/TS). Vector gates, per
 * slice of TS dims: where the chunk's decay allows in all of them (in every tile of the work-group
 * that works on the slice), the plain product of qh exp(G) and kh exp(-G) (two slabs, no exp); else
 * those factors where allowed and G in two more slabs for the elementwise exp (the same sums where
 * all are allowed). Local memory per tile: (2 or 4) * TS*(TS+1) floats. */
OCLA_KERNEL void bwd_A_tiled(BWD_HEAD(n_groups), OCLA_TENSOR(q), OCLA_TENSOR(k), BWD_WS_IN(gcum), BWD_WS_IN(gfac),
                             long n_fac, BWD_WS(A)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(A);
    BWD_TILE_BEGIN((C + TS - 1) / TS, (C + TS - 1) / TS); /* x = tj, y = ti; la: q, lb: k */
    const int i = g.y * TS + ii, active = g.x <= g.y && g.y * TS < g.L; /* uniform */
    float acc[TS] = {0.0f};
#if USE_GK
    BWD_LOCAL(float, qg, TS * SLAB);
    BWD_LOCAL(float, kg, TS * SLAB);
    BWD_LOCAL(int, safe, TS);
    int k0 = 0, k1 = active ? K : 0;
    const int2 kr = bwd_span(wg, &k0, &k1);
    for (int d0 = kr.x; d0 < kr.y; d0 += TS) {
        const int own = TPG == 1 || d0 < k1; /* uniform in the tile */
        int all_safe = 1; /* uniform: a slice whose dims all factorise takes the plain product */
        for (int dd = 0; dd < TS; dd++) all_safe &= d0 + dd >= K || GCUM(g.bh, g.tl, d0 + dd) >= -BWD_LIM;
        if (bwd_all(wg, all_safe | !own)) {
            bwd_product(acc, wg, BWD_NT, OP_Q(g, BWD_F_EG), g.y * TS, OP_K(g, BWD_F_EINV), g.x * TS, d0,
                        own ? min(d0 + TS, K) : d0);
            continue;
        }
        if (own) {
            bwd_stage(la + ii, OP_Q(g, BWD_F_GK(BWD_F_EG)), g.y * TS, d0 + ii);
            bwd_stage(lb + ii, OP_K(g, BWD_F_GK(BWD_F_EINV)), g.x * TS, d0 + ii);
            bwd_stage(qg + ii, OP_G(g), g.y * TS, d0 + ii);
            bwd_stage(kg + ii, OP_G(g), g.x * TS, d0 + ii);
            safe[ii] = d0 + ii < K ? GCUM(g.bh, g.tl, d0 + ii) >= -BWD_LIM : 1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int dd = 0; own && dd < min(TS, K - d0); dd++) {
            const float x = la[ii * SLAB + dd], gq = qg[ii * SLAB + dd];
            if (safe[dd])
                for (int jj = 0; jj < TS; jj++) acc[jj] += x * lb[jj * SLAB + dd];
            else
                for (int jj = 0; jj < TS; jj++)
                    acc[jj] += x * lb[jj * SLAB + dd] * exp(fmin(gq - kg[jj * SLAB + dd], 0.0f));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#else
    bwd_product(acc, wg, BWD_NT, OP_Q(g, 0), g.y * TS, OP_K(g, 0), g.x * TS, 0, active ? K : 0);
#endif
    if (wg.live) bwd_store_tri(A, acc, active, i, g, T, C, NT, gcum);
}

OCLA_KERNEL void bwd_dA_tiled(BWD_HEAD(n_groups), OCLA_TENSOR(v), OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gcum),
                              BWD_WS(dA)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND(dA);
    BWD_TILE_BEGIN((C + TS - 1) / TS, (C + TS - 1) / TS); /* x = tj, y = ti */
    const int i = g.y * TS + ii, active = g.x <= g.y && g.y * TS < g.L; /* uniform */
    float acc[TS] = {0.0f};
    bwd_product(acc, wg, BWD_NT, OP_DOP(g, VV), g.y * TS, OP_V(g), g.x * TS, 0, active ? VV : 0);
    if (wg.live) bwd_store_tri(dA, acc, active, i, g, T, C, NT, gcum);
}

#if USE_NORM
/* The normaliser's do'_t = [do_t/den_t, -(do_t.num_t)/den_t^2] from the recomputed forward
 * o'_t = s exp(G_t) qh_t^T S'_n + s sum_{j<=i} A_ij v'_j: num_t its first V columns, den_t its column V
 * (= s qh_t.z, computed first) + eps. Planned with the normaliser only. item = bh*T + t. */
OCLA_KERNEL void bwd_output(BWD_HEAD(n_items), float scale, float eps, OCLA_TENSOR(q), OCLA_TENSOR(v), BWD_WS_IN(gcum),
                            BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(hs), BWD_WS_IN(A), OCLA_TENSOR(dout), BWD_WS(dop)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(hs); BWD_BIND_IN(A); BWD_BIND(dop);
    BWD_TOKEN_ITEM(1);
    __global const float *S = hs + ((long)bh * HSN + hn) * KVV;
    __global const float *Ar = A + (((long)bh * NT + n) * C + i) * C;
    __global float *dp = dop + ((long)bh * T + t) * (V + 1);
    float den = 0.0f, dot = 0.0f;
    for (int cc = 0; cc <= V; cc++) {
        const int c = cc == 0 ? V : cc - 1;
        float acc = 0.0f;
        for (int d = 0; d < K; d++) acc += OCLA_PHI(OCLA_AT(q, b, t, h, d)) * EG(bh, t, d) * S[(long)c * K + d];
        for (int j = 0; j <= i; j++) acc += Ar[j] * VP(b, t0 + j, h, c);
        if (c == V) {
            den = scale * acc + eps;
        } else {
            const float num = scale * acc, dov = OCLA_AT(dout, b, t, h, c);
            dot += dov * num;
            dp[c] = dov / den;
        }
    }
    dp[V] = -dot / (den * den);
}
#endif

/* dA_ij = do'_i . v'_j for j <= i (times exp(G_i - G_j) for head gates: folded in here, not in
 * bwd_dqk). item as in bwd_A. */
OCLA_KERNEL void bwd_dA(BWD_HEAD(n_items), OCLA_TENSOR(v), OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gcum),
                        BWD_WS(dA)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND(dA);
    BWD_BLOCK_ITEM(C, C); /* x = j, y = i */
    const int ti = w.t0 + w.y, tj = w.t0 + w.x, bh = w.bh, b = w.b, h = w.h;
    float acc = 0.0f;
    if (w.x <= w.y && w.y < w.L) {
        for (int c = 0; c < VV; c++) acc += DOP(bh, b, ti, h, c) * VP(b, tj, h, c);
        acc *= HEADDEC(bh, ti, tj);
    }
    dA[item] = acc;
}

/* Reverse state pass: dhs[bh][n] = dL/d(state leaving chunk n) through later tokens and the final
 * state only; the value left at t = 0 is dL/dS_0 (and dL/dz_0 in column V).
 * item = (rh*K + d)*VV + c; dhs: [BH][NT][K][VV] (for bwd_dv) and dhsT: [BH][NT][VV][K] (bwd_dqk, bwd_dg). */
OCLA_KERNEL void bwd_dstates(BWD_HEAD(n_items), float scale, OCLA_TENSOR(q), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                             BWD_WS_IN(gexp), OCLA_TENSOR(dhT), int has_dhT, OCLA_TENSOR(dzT), int has_dzT, BWD_WS(dhs),
                             BWD_WS(dhsT), OCLA_TENSOR_OUT(dh0), int has_dh0, OCLA_TENSOR_OUT(dz0), int has_dz0) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gexp); BWD_BIND(dhs); BWD_BIND(dhsT);
    BWD_STATE_ITEM;
    float s = BWD_STATE_IN(dhT, dzT);
    __global const float *qp = OCLA_PTR(q, b, te - 1, h, d);
    __global const float *op = DOP_PTR(bh, b, te - 1, h, c);
    __global const float *ap = gexp + GIDX(bh, te - 1, d); /* token decays, read where gated */
    for (int n = nch - 1; n >= 0; n--) { /* the row's chunks only: it restarts at each row's end */
        dhs[o_dh + n * KVV] = s;
        dhsT[o_dt + n * KVV] = s;
        for (int t = min(te, ts + (n + 1) * C) - 1; t >= ts + n * C; t--) {
            s += scale * OCLA_PHI(*qp) * *op;
            s *= OCLA_HAS_GATE ? *ap : 1.0f;
            ap -= GSTEP;
            qp -= q_s1;
            op -= DOP_S1;
        }
    }
    BWD_STATE_OUT(dh0, dz0, s);
}

/* The arguments of bwd_dqk and bwd_dqk_tiled (n: items or groups) and their temporaries. */
#define BWD_DQK_ARGS(n)                                                                                           \
    (BWD_HEAD(n), float scale, OCLA_TENSOR(q), OCLA_TENSOR(k), OCLA_TENSOR(v), OCLA_TENSOR(dout), BWD_WS_IN(dop), \
     BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(hs), BWD_WS_IN(dhsT), BWD_WS_IN(dA), BWD_WS(dqh),   \
     BWD_WS(dkh))
#define BWD_DQK_BIND                                                                                              \
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(hs); BWD_BIND_IN(dhsT); BWD_BIND_IN(dA); \
    BWD_BIND(dqh); BWD_BIND(dkh)

/* Gradients w.r.t. the features qh, kh (before phi'). item = (bh*T + t)*K + d; dqh, dkh: [BH][T][K].
 * Vector gates: exp(G_i - G_j) as EG_i * EINV_j where the chunk's decay allows (fac), elementwise
 * otherwise; head gates: their decays are inside dA. */
OCLA_KERNEL void bwd_dqk BWD_DQK_ARGS(n_items) {
    BWD_DQK_BIND;
    BWD_TOKEN_ITEM(K);
    const int d = (int)(item % K);
    __global const float *S = hs + ((long)bh * HSN + hn) * KVV + d;
    __global const float *dS = dhsT + ((long)bh * NT + n) * KVV + d;
    __global const float *dAc = dA + ((long)bh * NT + n) * C * C;
    float x = 0.0f, y = 0.0f;
    for (int c = 0; c < VV; c++) {
        x += S[(long)c * K] * DOP(bh, b, t, h, c);
        y += dS[(long)c * K] * VP(b, t, h, c);
    }
    const int fac = USE_GK ? GCUM(bh, tl, d) >= -BWD_LIM : 0;
    const float eq = EG(bh, t, d), fq = fac ? eq : 1.0f, fk = fac ? EINV(bh, t, d) : 1.0f, kd = TOKDEC(bh, t, tl, d);
#if USE_GK
    const float Gi = GCUM(bh, t, d);
    __global const float *gp = gcum + GIDX(bh, t0, d), *fp = &EINV(bh, t0, d), *ep = gfac + GIDX(bh, t0, d);
#endif
    float a = 0.0f, e = 0.0f;
    __global const float *kp = OCLA_PTR(k, b, t0, h, d), *ar = dAc + (long)i * C;
    for (int j = 0; j <= i; j++) {
        float w = ar[j] * OCLA_PHI(*kp);
#if USE_GK
        w *= fac ? fp[(long)j * GSTEP] : exp(Gi - gp[(long)j * GSTEP]);
#endif
        a += w;
        kp += k_s1;
    }
    __global const float *qp = OCLA_PTR(q, b, t, h, d), *ac = dAc + i;
    for (int r = i; r < L; r++) {
        float w = ac[(long)r * C] * OCLA_PHI(*qp);
#if USE_GK
        w *= fac ? ep[(long)r * GSTEP] : exp(gp[(long)r * GSTEP] - Gi);
#endif
        e += w;
        qp += q_s1;
    }
    dqh[item] = scale * (eq * x + fq * a);
    dkh[item] = kd * y + scale * (fk * e);
}

#if USE_GK
/* One token tile of bwd_dqk_tiled's phases 2 and 3 for a chunk past BWD_LIM: stage the dA block
 * (rows ar0.., columns ac0..), TS rows (from r0) of the features f and their G, dim d, then acc[dd] +=
 * sum_j dA'[j] f[j][dd] (times exp(dir (G_i - G_j)) in the dims that are not safe), dA' = the item's
 * row (acol = 0) or column (acol = 1) of the block: bwd_mac with the slab of f, where the columns q
 * that are not safe take exp(min(dir * (Gi[q] - G[j][q]), 0)) per term from the staged G. A tile
 * that does not own the step (own = 0) only goes through the barriers. */
OCLA_INLINE void bwd_dqk_gk(float *acc, bwd_grp w, __local float *lg, int own, bwd_opnd dA, int ar0, int ac0, int acol,
                            bwd_opnd f, bwd_opnd G, int r0, int d, const float *Gi, const int *safe, float dir) {
    __local float *const la = w.la, *const lb = w.lb;
    const int ii = w.ii;
    if (own) {
        bwd_stage(la + ii, dA, ar0, ac0 + ii);
        bwd_stage(lb + ii, f, r0, d);
        bwd_stage(lg + ii, G, r0, d);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __local const float *a = acol ? la + ii : la + ii * SLAB;
    const int as = acol ? SLAB : 1;
    for (int j = 0; own && j < TS; j++) {
        const float x = a[j * as];
        for (int q = 0; q < TS; q++) {
            const float y = x * lb[j * SLAB + q];
            acc[q] += safe[q] ? y : y * exp(fmin(dir * (Gi[q] - lg[j * SLAB + q]), 0.0f));
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
#endif

/* Tiled bwd_dqk (same results): a tile of TS items owns TS tokens (rows) x TS key dims of one
 * chunk; item ii = one token. Phase 1 stages do', v' and the chunk's S', dS' in slices of TS value
 * columns; phase 2 stages dA and kh (times exp(-G) where the chunk decay allows, else with G for
 * the elementwise exp) over the key blocks j <= i; phase 3 stages dA^T and qh (times exp(G)) over
 * the blocks r >= i. tile = ((bh*NT + n)*NTI + ti)*NDT + dt. */
OCLA_KERNEL void bwd_dqk_tiled BWD_DQK_ARGS(n_groups) {
    BWD_DQK_BIND;
    BWD_TILE_BEGIN((K + TS - 1) / TS, (C + TS - 1) / TS); /* x = dt, y = ti */
#if USE_GK
    BWD_LOCAL(float, lg, TS * SLAB);
#endif
    const int ti = g.y, i0 = ti * TS, i = i0 + ii, d0 = g.x * TS, d = d0 + ii;
    BWD_TILE_IDLE_IF(i0 >= g.L); /* the tile has no token */
    __global const float *S = hs + ((long)g.bh * HSN + g.hn) * KVV;
    __global const float *dS = dhsT + ((long)g.bh * NT + g.n) * KVV;
    const bwd_opnd dAc = OP_MAT(dA + ((long)g.bh * NT + g.n) * C * C, C, C, C);
    float aq[TS] = {0.0f}, ak[TS] = {0.0f}, bq[TS] = {0.0f}, bk[TS] = {0.0f};
    /* phase 1: do' S^T and v' dS^T */
    bwd_product(aq, wg, BWD_NN, OP_DOP(g, VV), i0, OP_MAT(S, K, VV, K), d0, 0, VV);
    bwd_product(ak, wg, BWD_NN, OP_V(g), i0, OP_MAT(dS, K, VV, K), d0, 0, VV);
    /* phase 2: sum_{j <= i} dA_ij kh_j exp(G_i - G_j); phase 3: sum_{r >= i} dA_ri qh_r exp(G_r - G_i) */
    const bwd_opnd opk = OP_K(g, BWD_F_GK(BWD_F_EINV)), opq = OP_Q(g, BWD_F_GK(BWD_F_EG));
    float Gi[TS]; /* vector gates: all_safe is uniform in the tile, bwd_all makes it the work-group's (the
                   * common case takes the loops without exp; the other gives the same sums where safe) */
    int safe[TS], all_safe = 1;
#if USE_GK
    for (int dd = 0; dd < TS; dd++) {
        const int e = min(d0 + dd, K - 1);
        Gi[dd] = i < g.L ? GCUM(g.bh, g.t0 + i, e) : 0.0f;
        safe[dd] = GCUM(g.bh, g.tl, e) >= -BWD_LIM;
        all_safe &= safe[dd];
    }
    if (!bwd_all(wg, all_safe)) {
        int a0 = 0, a1 = i0 + 1, b0 = i0, b1 = g.L; /* phase 2: j0 <= i0; phase 3: i0 <= r0 < L */
        const int2 ra = bwd_span(wg, &a0, &a1), rb = bwd_span(wg, &b0, &b1);
        for (int j0 = ra.x; j0 < ra.y; j0 += TS)
            bwd_dqk_gk(bq, wg, lg, TPG == 1 || j0 < a1, dAc, i0, j0, 0, opk, OP_G(g), j0, d, Gi, safe, 1.0f);
        for (int r0 = rb.x; r0 < rb.y; r0 += TS)
            bwd_dqk_gk(bk, wg, lg, TPG == 1 || (r0 >= b0 && r0 < b1), dAc, r0, i0, 1, opq, OP_G(g), r0, d, Gi, safe,
                       -1.0f);
    } else
#endif
    {
        bwd_product(bq, wg, BWD_NN, dAc, i0, opk, d0, 0, i0 + 1);
        bwd_product(bk, wg, BWD_TN, dAc, i0, opq, d0, i0, g.L);
    }
    if (!wg.live || i >= g.L) return;
    const int t = g.t0 + i;
    for (int dd = 0; dd < TS; dd++) { /* guarded: constant indices keep the accumulators in registers */
        if (d0 + dd >= K) continue;
        const int e = d0 + dd, f = USE_GK && safe[dd];
        const float eq = EG(g.bh, t, e), fq = f ? eq : 1.0f, fk = f ? EINV(g.bh, t, e) : 1.0f;
        const float kd = TOKDEC(g.bh, t, g.tl, e);
        const long e2 = ((long)g.bh * T + t) * K + e;
        dqh[e2] = scale * (eq * aq[dd] + fq * bq[dd]);
        dkh[e2] = kd * ak[dd] + scale * (fk * bk[dd]);
    }
}

/* dv (the first V columns of dv'). item = (bh*T + t)*V + c. */
OCLA_KERNEL void bwd_dv(BWD_HEAD(n_items), float scale, OCLA_TENSOR(k), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                        BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(dhs), BWD_WS_IN(A),
                        OCLA_TENSOR_OUT(dv)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(dhs); BWD_BIND_IN(A);
    BWD_TOKEN_ITEM(V);
    const int c = (int)(item % V);
    __global const float *dS = dhs + ((long)bh * NT + n) * KVV + c;
    __global const float *Ac = A + ((long)bh * NT + n) * C * C;
    float x = 0.0f, y = 0.0f;
    __global const float *kp = OCLA_PTR(k, b, t, h, 0);
    for (int d = 0; d < K; d++) {
        x += OCLA_PHI(*kp) * (USE_GK ? KDEC(bh, t, d) : 1.0f) * dS[(long)d * VV];
        kp += k_s3;
    }
    x *= HEADDEC(bh, tl, t);
    __global const float *op = DOP_PTR(bh, b, t, h, c);
    for (int r = i; r < L; r++) {
        y += Ac[(long)r * C + i] * *op;
        op += DOP_S1;
    }
    OCLA_AT(dv, b, t, h, c) = x + scale * y;
}

/* Tiled bwd_dv (same results): a tile of TS items owns TS tokens x TS value columns of one chunk;
 * phase 1 stages (kh * exp(G_last - G)) and dh_n over key slices, phase 2 stages A^T and do' over
 * the token blocks r >= j. tile = ((bh*NT + n)*NTI + ti)*NCV + ct, NCV = ceil(V/TS). */
OCLA_KERNEL void bwd_dv_tiled(BWD_HEAD(n_groups), float scale, OCLA_TENSOR(k), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                              BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(dhs), BWD_WS_IN(A),
                              OCLA_TENSOR_OUT(dv)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(dhs); BWD_BIND_IN(A);
    BWD_TILE_BEGIN((V + TS - 1) / TS, (C + TS - 1) / TS); /* x = ct, y = ti */
    const int j0 = g.y * TS, j = j0 + ii, c0 = g.x * TS, c = c0 + ii;
    BWD_TILE_IDLE_IF(j0 >= g.L); /* the tile has no token */
    __global const float *dS = dhs + ((long)g.bh * NT + g.n) * KVV;
    __global const float *Ac = A + ((long)g.bh * NT + g.n) * C * C;
    float a1[TS] = {0.0f}, a2[TS] = {0.0f};
    bwd_product(a1, wg, BWD_NN, OP_K(g, BWD_F_KDEC), j0, OP_MAT(dS, VV, K, V), c0, 0, K);
    bwd_product(a2, wg, BWD_TN, OP_MAT(Ac, C, C, C), j0, OP_DOP(g, V), c0, j0, g.L);
    if (!wg.live || j >= g.L) return;
    for (int cc = 0; cc < TS; cc++) /* guarded: constant indices keep the accumulators in registers */
        if (c0 + cc < V) OCLA_AT(dv, g.b, g.t0 + j, g.h, c0 + cc) = a1[cc] + scale * a2[cc];
}

/* dq, dk through phi', and the per-dimension gate gradient (chunk-local reverse cumsum plus the
 * boundary term rowsum(S'_{n+1} . dh_n)). item = (bh*NT + n)*K + d; dgv: [BH][T][K]. */
OCLA_KERNEL void bwd_dg(BWD_HEAD(n_items), OCLA_TENSOR(q), OCLA_TENSOR(k), BWD_WS_IN(hs), BWD_WS_IN(dhsT),
                        BWD_WS_IN(dqh), BWD_WS_IN(dkh), BWD_WS(dgv), OCLA_TENSOR_OUT(dq), OCLA_TENSOR_OUT(dk)) {
    BWD_BIND_IN(hs); BWD_BIND_IN(dhsT); BWD_BIND_IN(dqh); BWD_BIND_IN(dkh); BWD_BIND(dgv);
    BWD_BLOCK_ITEM(K, 1);
    const int d = w.x, n = w.n, bh = w.bh, b = w.b, h = w.h;
    __global const float *S1 = hs + ((long)bh * HSN + w.hn + 1) * KVV + d;
    __global const float *dS = dhsT + ((long)bh * NT + n) * KVV + d;
    float acc = 0.0f;
    if (OCLA_HAS_GATE) /* the boundary term (ungated attention has no gate gradient) */
        for (int c = 0; c < VV; c++) acc += S1[(long)c * K] * dS[(long)c * K];
    for (int t = w.tl; t >= w.t0; t--) {
        long e = ((long)bh * T + t) * K + d;
        float qv = OCLA_AT(q, b, t, h, d), kv = OCLA_AT(k, b, t, h, d);
        float gq = dqh[e], gk = dkh[e];
        acc += OCLA_PHI(qv) * gq - OCLA_PHI(kv) * gk;
        if (OCLA_HAS_GATE) dgv[e] = acc;
        OCLA_AT(dq, b, t, h, d) = gq * OCLA_DPHI(qv);
        OCLA_AT(dk, b, t, h, d) = gk * OCLA_DPHI(kv);
    }
}

/* dg into the caller's tensor, zero where the log gate was >= 0 (clamped by the forward).
 * Vector gates: item = (bh*T + t)*K + d. Scalar gates: item = bh*T + t, summed over d. */
OCLA_KERNEL void bwd_dg_out(BWD_HEAD(n_items), BWD_WS_IN(graw), BWD_WS_IN(dgv), OCLA_TENSOR_OUT(dg)) {
    BWD_BIND_IN(graw); BWD_BIND_IN(dgv);
    BWD_TOKEN_ITEM(GSTEP);
    const int d = (int)(item % GSTEP);
#if USE_GK
    float x = dgv[item];
#else
    float x = 0.0f;
    for (int e = 0; e < K; e++) x += dgv[item * K + e];
#endif
    if (!(GRAW(bh, t, d) < 0.0f)) x = 0.0f;
    OCLA_AT(dg, b, t, h, d) = x;
}
