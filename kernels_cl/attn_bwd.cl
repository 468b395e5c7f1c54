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
 *   hs[bh][n]  = S'_{n*C - 1}  (state entering chunk n; hs[bh][NT] = final state)     bwd_states
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
 * the tile of the tiled kernels (default 16). The chunk C, sizes and strides are arguments, so one
 * program serves every chunk and shape.
 * Launches (runtime/plan_bwd.c names them in order): the item-per-entry kernels are 1-D over a
 * flattened index, bounds-checked, any work-group size; the *_tiled kernels and bwd_chunk_*
 * run work-groups of exactly TS items with at most 4*TS*(TS+1) floats of static local memory.
 * Temporaries are regions of the context's scratch buffers, passed as (buffer, offset in floats)
 * pairs: BWD_WS(p) in the signature, BWD_BIND(p) gives the pointer p in the body.
 */
#ifndef TS
#define TS 16 /* tile of the tiled kernels: work-group size and staged slice width */
#endif
#ifndef BWD_LIM
#define BWD_LIM 60.0f /* vector gates: largest chunk decay the factorised exp(G_i)exp(-G_j) form takes */
#endif
/* One log gate per token and head: the scalar gate or the fixed decay (same kernels). */
#define BWD_HEAD_GATE (USE_G || USE_G_GAMMA)

/* A temporary region: buffer and offset (floats) in the signature, the pointer in the body. */
#define BWD_WS(p) __global float *p##_b, long p##_o
#define BWD_WS_IN(p) __global const float *p##_b, long p##_o
#define BWD_BIND(p) __global float *const p = p##_b + p##_o
#define BWD_BIND_IN(p) __global const float *const p = p##_b + p##_o

/* ocla's own gate buffers: contiguous [BH][T][GW], GW = K for vector gates, 1 otherwise. */
#if USE_GK
#define GIDX(bh, t, d) (((long)(bh) * T + (t)) * K + (d))
#define GSTEP K /* gate buffer stride between tokens */
#else
#define GIDX(bh, t, d) ((long)(bh) * T + (t))
#define GSTEP 1
#endif
#if OCLA_HAS_GATE
#define GRAW(bh, t, d) graw[GIDX(bh, t, d)]
#define GCUM(bh, t, d) gcum[GIDX(bh, t, d)]
#else
#define GRAW(bh, t, d) 0.0f
#define GCUM(bh, t, d) 0.0f
#endif
/* Vector gates: per-token factors precomputed by bwd_gates in gfac (3 planes of N = BH*T*K floats):
 *   EG   = exp(G_t)            <= 1
 *   EINV = exp(-G_t)           <= exp(BWD_LIM), written only where the chunk's total decay
 *                              G_last >= -BWD_LIM
 *   KDEC = exp(G_last - G_t)   <= 1
 * so exp(G_i - G_j) = EG_i * EINV_j without an exp per term wherever that cannot overflow (for a
 * chunk whose decay exceeds BWD_LIM the kernels take the elementwise exp(G_i - G_j) path instead). */
#if USE_GK
#define EG(bh, t, d) gfac[GIDX(bh, t, d)]
#define EINV(bh, t, d) gfac[n_fac + GIDX(bh, t, d)]
#define KDEC(bh, t, d) gfac[2 * n_fac + GIDX(bh, t, d)]
#else
#define EG(bh, t, d) exp(GCUM(bh, t, d))
#endif

/* v'_t[c]: value column c, or the normaliser's constant column. */
#if USE_NORM
#define VP(b, t, h, c) ((c) < V ? OCLA_AT(v, b, t, h, c) : 1.0f)
#define DOP(bh, b, t, h, c) dop[((long)(bh) * T + (t)) * (V + 1) + (c)]
#else
#define VP(b, t, h, c) OCLA_AT(v, b, t, h, c)
#define DOP(bh, b, t, h, c) OCLA_AT(dout, b, t, h, c)
#endif
#define VV (V + USE_NORM)

/* Gate preparation. item = (bh*NT + n)*GW + d. graw = ocla_log_gate(g) = min(g,0) (USE_G_GAMMA:
 * of the fixed per-head decay, g is not read), gcum = chunk-local inclusive cumsum of graw,
 * gexp = exp(graw) (the token decay factor). */
OCLA_KERNEL void bwd_gates(long n_items, int T, int H, int K, int C, int NT, OCLA_TENSOR(g),
                           BWD_WS_IN(decay), BWD_WS(graw), BWD_WS(gcum),
                           BWD_WS(gexp), BWD_WS(gfac), long n_fac) {
    BWD_BIND_IN(decay); BWD_BIND(graw); BWD_BIND(gcum); BWD_BIND(gexp); BWD_BIND(gfac);
    long item = get_global_id(0);
    if (item >= n_items) return;
#if USE_GK
    int d = (int)(item % K);
    long r = item / K;
#else
    int d = 0;
    long r = item;
#endif
    int n = (int)(r % NT);
    int bh = (int)(r / NT), b = bh / H, h = bh % H;
    int t0 = n * C, t1 = min(t0 + C, T);
    float acc = 0.0f;
    for (int t = t0; t < t1; t++) {
#if USE_G_GAMMA
        const float x = ocla_log_gate(decay[h]);
#else
        const float x = ocla_log_gate(OCLA_AT(g, b, t, h, d));
#endif
        acc += x;
#if OCLA_HAS_GATE
        graw[GIDX(bh, t, d)] = x;
        gcum[GIDX(bh, t, d)] = acc;
        gexp[GIDX(bh, t, d)] = exp(x);
#endif
    }
#if USE_GK
    const float Gl = acc;
    for (int t = t0; t < t1; t++) {
        float G = gcum[GIDX(bh, t, d)];
        EG(bh, t, d) = exp(G);
        EINV(bh, t, d) = Gl >= -BWD_LIM ? exp(-G) : 0.0f;
        KDEC(bh, t, d) = exp(Gl - G);
    }
#endif
}

/* Forward state recomputation, token by token (every factor <= 1), stored at chunk starts.
 * item = (bh*K + d)*VV + c; hs: [BH][NT+1][VV][K] (key dimension fastest: the readers' work-items
 * are consecutive in d). */
OCLA_KERNEL void bwd_states(long n_items, int T, int H, int K, int V, int C, int NT, OCLA_TENSOR(k), OCLA_TENSOR(v),
                            BWD_WS_IN(gexp), OCLA_TENSOR(h0), int has_h0, OCLA_TENSOR(z0), int has_z0,
                            BWD_WS(hs)) {
    BWD_BIND_IN(gexp); BWD_BIND(hs);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int c = (int)(item % VV);
    int d = (int)((item / VV) % K);
    int bh = (int)(item / ((long)VV * K)), b = bh / H, h = bh % H;
    const int isv = c < V;
    float s = 0.0f;
    if (isv) {
        if (has_h0) s = OCLA_AT(h0, b, h, d, c);
    } else if (has_z0) {
        s = OCLA_AT(z0, b, h, d, 0);
    }
    const long kvv = (long)K * VV;
    __global float *out = hs + (long)bh * (NT + 1) * kvv + (long)c * K + d;
    __global const float *kp = OCLA_PTR(k, b, 0, h, d);
    __global const float *vp = OCLA_PTR(v, b, 0, h, isv ? c : 0);
#if OCLA_HAS_GATE
    __global const float *ap = gexp + GIDX(bh, 0, d);
#endif
    for (int n = 0; n < NT; n++) {
        out[(long)n * kvv] = s;
        const int t1 = min(T, (n + 1) * C);
        for (int t = n * C; t < t1; t++) {
            float kv = OCLA_PHI(*kp) * (isv ? *vp : 1.0f);
#if OCLA_HAS_GATE
            s = *ap * s + kv;
            ap += GSTEP;
#else
            s += kv;
#endif
            kp += k_s1;
            vp += v_s1;
        }
    }
    out[(long)NT * kvv] = s;
}

/* Chunk-level state passes (used where the tiled kernels fit; same results as bwd_states /
 * bwd_dstates up to rounding):
 *   bwd_chunk_kv:  U_n = sum_{j in n} (kh_j * exp(G_last - G_j)) v'_j^T        -> hs[n+1], [VV][K]
 *   bwd_chunk_qdo: W_n = s sum_{i in n} (qh_i * exp(G_i)) do'_i^T               -> dhs[n-1] ([K][VV]), W_0 -> w0
 *   bwd_scan:      h_{n+1} = exp(G_last,n) h_n + U_n (in place in hs);
 *                  dh_{n-1} = exp(G_last,n) dh_n + W_n (in place in dhs, copy to dhsT), dS_0 = dh_{-1}.
 * Tiled like bwd_A_tiled: a work-group of TS items, item ii owns one output row and TS columns;
 * tokens of the chunk are staged TS at a time in local memory. */
#if USE_GK
#define LASTDEC(bh, tl, d) EG(bh, tl, d)
#define KDECF(bh, t, tl, d) KDEC(bh, t, d)
#elif BWD_HEAD_GATE
#define LASTDEC(bh, tl, d) exp(GCUM(bh, tl, 0))
#define KDECF(bh, t, tl, d) exp(GCUM(bh, tl, 0) - GCUM(bh, t, 0))
#else
#define LASTDEC(bh, tl, d) 1.0f
#define KDECF(bh, t, tl, d) 1.0f
#endif

/* group = ((bh*NT + n)*NCT + ct)*NDT + dt; NCT = ceil(VV/TS), NDT = ceil(K/TS). Row c = ct*TS + ii. */
OCLA_KERNEL void bwd_chunk_kv(long n_groups, int T, int H, int K, int V, int C, int NT, OCLA_TENSOR(k), OCLA_TENSOR(v),
                              BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac,
                              BWD_WS(hs)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(hs);
    __local float vs[TS][TS + 1], ks[TS][TS + 1];
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return;
    const int NCT = (VV + TS - 1) / TS, NDT = (K + TS - 1) / TS;
    const int dt = (int)(grp % NDT), ct = (int)((grp / NDT) % NCT);
    const long r = grp / ((long)NDT * NCT);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0), tl = t0 + L - 1;
    float acc[TS];
    for (int q = 0; q < TS; q++) acc[q] = 0.0f;
    for (int j0 = 0; j0 < L; j0 += TS) {
        for (int rr = 0; rr < TS; rr++) {
            const int j = j0 + rr, c = ct * TS + ii, d = dt * TS + ii;
            float vv = 0.0f, kv = 0.0f;
            if (j < L && c < VV) vv = VP(b, t0 + j, h, c);
            if (j < L && d < K) kv = OCLA_PHI(OCLA_AT(k, b, t0 + j, h, d)) * KDECF(bh, t0 + j, tl, d);
            vs[rr][ii] = vv;
            ks[rr][ii] = kv;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int jj = 0; jj < TS; jj++) {
            const float vv = vs[jj][ii];
            for (int q = 0; q < TS; q++) acc[q] += vv * ks[jj][q];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int c = ct * TS + ii;
    if (c >= VV) return;
    __global float *out = hs + ((long)bh * (NT + 1) + n + 1) * ((long)K * VV) + (long)c * K;
    for (int q = 0; q < TS; q++) {
        const int d = dt * TS + q;
        if (d < K) out[d] = acc[q];
    }
}

/* group = ((bh*NT + n)*NDT + dt)*NCT + ct. Row d = dt*TS + ii. W_n goes to dhs[n-1] ([K][VV]); W_0 to w0. */
OCLA_KERNEL void bwd_chunk_qdo(long n_groups, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(q),
                               OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gcum),
                               BWD_WS_IN(gfac), long n_fac, BWD_WS(dhs), BWD_WS(w0)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(dhs); BWD_BIND(w0);
    __local float qs[TS][TS + 1], os[TS][TS + 1];
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return;
    const int NCT = (VV + TS - 1) / TS, NDT = (K + TS - 1) / TS;
    const int ct = (int)(grp % NCT), dt = (int)((grp / NCT) % NDT);
    const long r = grp / ((long)NDT * NCT);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0);
    float acc[TS];
    for (int c = 0; c < TS; c++) acc[c] = 0.0f;
    for (int i0 = 0; i0 < L; i0 += TS) {
        for (int rr = 0; rr < TS; rr++) {
            const int i = i0 + rr, d = dt * TS + ii, c = ct * TS + ii;
            float qv = 0.0f, ov = 0.0f;
            if (i < L && d < K) qv = OCLA_PHI(OCLA_AT(q, b, t0 + i, h, d)) * EG(bh, t0 + i, d);
            if (i < L && c < VV) ov = DOP(bh, b, t0 + i, h, c);
            qs[rr][ii] = qv;
            os[rr][ii] = ov;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int jj = 0; jj < TS; jj++) {
            const float qv = qs[jj][ii];
            for (int c = 0; c < TS; c++) acc[c] += qv * os[jj][c];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int d = dt * TS + ii;
    if (d >= K) return;
    __global float *out = n > 0 ? dhs + ((long)bh * NT + n - 1) * ((long)K * VV) + (long)d * VV
                                : w0 + (long)bh * K * VV + (long)d * VV;
    for (int c = 0; c < TS; c++) {
        const int cc = ct * TS + c;
        if (cc < VV) out[cc] = scale * acc[c];
    }
}

/* item = (bh*K + d)*VV + c. pass 0: forward scan of the chunk states in hs (hs[n+1] holds U_n on
 * entry). pass 1: reverse scan of the state gradients in dhs (dhs[n-1] holds W_n, w0 holds W_0),
 * the transposed copy dhsT and the initial-state gradients. */
OCLA_KERNEL void bwd_scan(long n_items, int T, int H, int K, int V, int C, int NT, BWD_WS_IN(gcum),
                          BWD_WS_IN(gfac), long n_fac, BWD_WS(hs), OCLA_TENSOR(h0), int has_h0,
                          OCLA_TENSOR(z0), int has_z0, BWD_WS(dhs), BWD_WS(dhsT),
                          BWD_WS_IN(w0), OCLA_TENSOR(dhT), int has_dhT, OCLA_TENSOR(dzT), int has_dzT,
                          OCLA_TENSOR_OUT(dh0), int has_dh0, OCLA_TENSOR_OUT(dz0), int has_dz0, int pass) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(hs); BWD_BIND(dhs); BWD_BIND(dhsT); BWD_BIND_IN(w0);
    long item = get_global_id(0);
    if (item >= n_items) return;
    const int c = (int)(item % VV);
    const int d = (int)((item / VV) % K);
    const int bh = (int)(item / ((long)VV * K)), b = bh / H, h = bh % H;
    const long kvv = (long)K * VV;
    if (pass == 0) {
    float s = 0.0f;
    if (c < V) {
        if (has_h0) s = OCLA_AT(h0, b, h, d, c);
    } else if (has_z0) {
        s = OCLA_AT(z0, b, h, d, 0);
    }
    __global float *hp = hs + (long)bh * (NT + 1) * kvv + (long)c * K + d;
    hp[0] = s;
    for (int n = 0; n < NT; n++) {
        const int tl = min(T, (n + 1) * C) - 1;
        s = LASTDEC(bh, tl, d) * s + hp[(long)(n + 1) * kvv];
        hp[(long)(n + 1) * kvv] = s;
    }
    return;
    }
    float g = 0.0f;
    if (c < V) {
        if (has_dhT) g = OCLA_AT(dhT, b, h, d, c);
    } else if (has_dzT) {
        g = OCLA_AT(dzT, b, h, d, 0);
    }
    __global float *dp = dhs + (long)bh * NT * kvv + (long)d * VV + c;
    __global float *dpt = dhsT + (long)bh * NT * kvv + (long)c * K + d;
    for (int n = NT - 1; n >= 0; n--) {
        const int tl = min(T, (n + 1) * C) - 1;
        dp[(long)n * kvv] = g;
        dpt[(long)n * kvv] = g;
        const float w = n > 0 ? dp[(long)(n - 1) * kvv] : w0[(long)bh * kvv + (long)d * VV + c];
        g = LASTDEC(bh, tl, d) * g + w;
    }
    if (c < V) {
        if (has_dh0) OCLA_AT(dh0, b, h, d, c) = g;
    } else if (has_dz0) {
        OCLA_AT(dz0, b, h, d, 0) = g;
    }
}

/* Intra-chunk attention A (no scale). item = ((bh*NT + n)*C + i)*C + j; A: [BH][NT][C][C]. */
OCLA_KERNEL void bwd_A(long n_items, int T, int H, int K, int C, int NT, OCLA_TENSOR(q), OCLA_TENSOR(k),
                       BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac, BWD_WS(A)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(A);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int j = (int)(item % C), i = (int)((item / C) % C);
    long r = item / ((long)C * C);
    int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    int ti = n * C + i, tj = n * C + j;
    float acc = 0.0f;
    if (j <= i && ti < T) {
        __global const float *qp = OCLA_PTR(q, b, ti, h, 0), *kp = OCLA_PTR(k, b, tj, h, 0);
#if USE_GK
        const int tl = min(T, (n + 1) * C) - 1;
        __global const float *gi = gcum + GIDX(bh, ti, 0), *gj = gcum + GIDX(bh, tj, 0), *gl = gcum + GIDX(bh, tl, 0);
        __global const float *ei = &EG(bh, ti, 0), *fj = &EINV(bh, tj, 0);
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
#if BWD_HEAD_GATE
        acc *= exp(GCUM(bh, ti, 0) - GCUM(bh, tj, 0));
#endif
    }
    A[item] = acc;
}

/* Tiled forms of bwd_A and bwd_dA (same results): a work-group of TS work-items owns a TS x TS
 * tile (rows i0.., columns j0..) of one chunk; work-item ii accumulates row i0+ii in registers while
 * the feature dimension is walked in slices of TS staged in local memory (loads coalesced across
 * the work-group). Tiles above the diagonal are written as zeros. group = ((bh*NT + n)*NTI + ti)*NTI
 * + tj, NTI = ceil(C/TS). Local memory: (2 or 4) * TS*(TS+1) floats. */
OCLA_KERNEL void bwd_A_tiled(long n_groups, int T, int H, int K, int C, int NT, OCLA_TENSOR(q), OCLA_TENSOR(k),
                             BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac,
                             BWD_WS(A)) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND(A);
    __local float qs[TS][TS + 1], ks[TS][TS + 1];
#if USE_GK
    __local float qf[TS][TS + 1], kf[TS][TS + 1];
    __local int safe[TS];
#endif
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return; /* uniform over the work-group */
    const int NTI = (C + TS - 1) / TS;
    const int tj = (int)(grp % NTI), ti = (int)((grp / NTI) % NTI);
    const long r = grp / ((long)NTI * NTI);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0);
    const int i = ti * TS + ii;
    float acc[TS];
    for (int jj = 0; jj < TS; jj++) acc[jj] = 0.0f;
    const int active = tj <= ti && ti * TS < L; /* uniform */
    if (active) {
        for (int d0 = 0; d0 < K; d0 += TS) {
            const int d = d0 + ii;
#if USE_GK
            const int sd = d < K ? GCUM(bh, t0 + L - 1, d) >= -BWD_LIM : 1;
            safe[ii] = sd;
#endif
            for (int rr = 0; rr < TS; rr++) {
                const int iq = ti * TS + rr, jk = tj * TS + rr;
                float qv = 0.0f, kv = 0.0f;
                if (iq < L && d < K) qv = OCLA_PHI(OCLA_AT(q, b, t0 + iq, h, d));
                if (jk < L && d < K) kv = OCLA_PHI(OCLA_AT(k, b, t0 + jk, h, d));
                qs[rr][ii] = qv;
                ks[rr][ii] = kv;
#if USE_GK
                float fq = 0.0f, fk = 0.0f;
                if (iq < L && d < K) fq = sd ? EG(bh, t0 + iq, d) : GCUM(bh, t0 + iq, d);
                if (jk < L && d < K) fk = sd ? EINV(bh, t0 + jk, d) : GCUM(bh, t0 + jk, d);
                qf[rr][ii] = fq;
                kf[rr][ii] = fk;
#endif
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const int dn = min(TS, K - d0);
            for (int dd = 0; dd < dn; dd++) {
                const float qv = qs[ii][dd];
#if USE_GK
                if (safe[dd]) {
                    const float qg = qv * qf[ii][dd];
                    for (int jj = 0; jj < TS; jj++) acc[jj] += qg * ks[jj][dd] * kf[jj][dd];
                } else {
                    const float gq = qf[ii][dd];
                    for (int jj = 0; jj < TS; jj++) acc[jj] += qv * ks[jj][dd] * exp(fmin(gq - kf[jj][dd], 0.0f));
                }
#else
                for (int jj = 0; jj < TS; jj++) acc[jj] += qv * ks[jj][dd];
#endif
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    if (i >= C) return;
    __global float *out = A + (((long)bh * NT + n) * C + i) * C;
    for (int jj = 0; jj < TS; jj++) {
        const int j = tj * TS + jj;
        if (j >= C) break;
        float x = 0.0f;
        if (active && j <= i && i < L) {
            x = acc[jj];
#if BWD_HEAD_GATE
            x *= exp(GCUM(bh, t0 + i, 0) - GCUM(bh, t0 + j, 0));
#endif
        }
        out[j] = x;
    }
}

OCLA_KERNEL void bwd_dA_tiled(long n_groups, int T, int H, int V, int C, int NT, OCLA_TENSOR(v), OCLA_TENSOR(dout),
                              BWD_WS_IN(dop), BWD_WS_IN(gcum), BWD_WS(dA)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND(dA);
    __local float os[TS][TS + 1], vs[TS][TS + 1];
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return;
    const int NTI = (C + TS - 1) / TS;
    const int tj = (int)(grp % NTI), ti = (int)((grp / NTI) % NTI);
    const long r = grp / ((long)NTI * NTI);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0);
    const int i = ti * TS + ii;
    float acc[TS];
    for (int jj = 0; jj < TS; jj++) acc[jj] = 0.0f;
    const int active = tj <= ti && ti * TS < L;
    if (active) {
        for (int c0 = 0; c0 < VV; c0 += TS) {
            const int c = c0 + ii;
            for (int rr = 0; rr < TS; rr++) {
                const int io = ti * TS + rr, jv = tj * TS + rr;
                float ov = 0.0f, vv = 0.0f;
                if (io < L && c < VV) ov = DOP(bh, b, t0 + io, h, c);
                if (jv < L && c < VV) vv = VP(b, t0 + jv, h, c);
                os[rr][ii] = ov;
                vs[rr][ii] = vv;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const int cn = min(TS, VV - c0);
            for (int cc = 0; cc < cn; cc++) {
                const float ov = os[ii][cc];
                for (int jj = 0; jj < TS; jj++) acc[jj] += ov * vs[jj][cc];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    if (i >= C) return;
    __global float *out = dA + (((long)bh * NT + n) * C + i) * C;
    for (int jj = 0; jj < TS; jj++) {
        const int j = tj * TS + jj;
        if (j >= C) break;
        float x = 0.0f;
        if (active && j <= i && i < L) {
            x = acc[jj];
#if BWD_HEAD_GATE
            x *= exp(GCUM(bh, t0 + i, 0) - GCUM(bh, t0 + j, 0));
#endif
        }
        out[j] = x;
    }
}

/* Forward outputs from the recomputed states: o'_t = s exp(G_t) qh_t^T S'_n + s sum_{j<=i} A_ij v'_j
 * (column V = s qh.z). NORM: writes do' = [do/den, -(do.n)/den^2] with den = s qh.z + eps. Writes o
 * when has_o (normalised when NORM). item = bh*T + t. */
OCLA_KERNEL void bwd_output(long n_items, int T, int H, int K, int V, int C, int NT, float scale, float eps,
                            OCLA_TENSOR(q), OCLA_TENSOR(v), BWD_WS_IN(gcum), BWD_WS_IN(gfac),
                            long n_fac, BWD_WS_IN(hs),
                            BWD_WS_IN(A), OCLA_TENSOR(dout), BWD_WS(dop), OCLA_TENSOR_OUT(o), int has_o) {
    BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(hs); BWD_BIND_IN(A); BWD_BIND(dop);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int t = (int)(item % T), bh = (int)(item / T), b = bh / H, h = bh % H;
    int n = t / C, i = t % C, t0 = n * C;
    const long kvv = (long)K * VV;
    __global const float *S = hs + ((long)bh * (NT + 1) + n) * kvv;
    __global const float *Ar = A + (((long)bh * NT + n) * C + i) * C;
#if USE_NORM
    float den = 0.0f;
    {
        float acc = 0.0f;
        for (int d = 0; d < K; d++) acc += OCLA_PHI(OCLA_AT(q, b, t, h, d)) * EG(bh, t, d) * S[(long)V * K + d];
        for (int j = 0; j <= i; j++) acc += Ar[j];
        den = scale * acc + eps;
    }
    float dot = 0.0f;
#endif
    for (int c = 0; c < V; c++) {
        float acc = 0.0f;
        for (int d = 0; d < K; d++) acc += OCLA_PHI(OCLA_AT(q, b, t, h, d)) * EG(bh, t, d) * S[(long)c * K + d];
        for (int j = 0; j <= i; j++) acc += Ar[j] * OCLA_AT(v, b, t0 + j, h, c);
        float num = scale * acc;
#if USE_NORM
        float dov = OCLA_AT(dout, b, t, h, c);
        dot += dov * num;
        dop[((long)bh * T + t) * (V + 1) + c] = dov / den;
        if (has_o) OCLA_AT(o, b, t, h, c) = num / den;
#else
        if (has_o) OCLA_AT(o, b, t, h, c) = num;
#endif
    }
#if USE_NORM
    dop[((long)bh * T + t) * (V + 1) + V] = -dot / (den * den);
#endif
}

/* dA_ij = do'_i . v'_j for j <= i (times exp(G_i - G_j) for scalar gates). item as in bwd_A. */
OCLA_KERNEL void bwd_dA(long n_items, int T, int H, int V, int C, int NT, OCLA_TENSOR(v), OCLA_TENSOR(dout),
                        BWD_WS_IN(dop), BWD_WS_IN(gcum), BWD_WS(dA)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND(dA);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int j = (int)(item % C), i = (int)((item / C) % C);
    long r = item / ((long)C * C);
    int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    int ti = n * C + i, tj = n * C + j;
    float acc = 0.0f;
    if (j <= i && ti < T) {
        for (int c = 0; c < VV; c++) acc += DOP(bh, b, ti, h, c) * VP(b, tj, h, c);
#if BWD_HEAD_GATE
        acc *= exp(GCUM(bh, ti, 0) - GCUM(bh, tj, 0)); /* scalar decays: folded in here, not in bwd_dqk */
#endif
    }
    dA[item] = acc;
}

/* Reverse state pass: dhs[bh][n] = dL/d(state leaving chunk n) through later tokens and the final
 * state only; the value left at t = 0 is dL/dS_0 (and dL/dz_0 in column V).
 * item = (bh*K + d)*VV + c; dhs: [BH][NT][K][VV] (for bwd_dv) and dhsT: [BH][NT][VV][K] (bwd_dqk, bwd_dg). */
OCLA_KERNEL void bwd_dstates(long n_items, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(q),
                             OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gexp),
                             OCLA_TENSOR(dhT), int has_dhT, OCLA_TENSOR(dzT), int has_dzT, BWD_WS(dhs),
                             BWD_WS(dhsT), OCLA_TENSOR_OUT(dh0), int has_dh0, OCLA_TENSOR_OUT(dz0), int has_dz0) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gexp); BWD_BIND(dhs); BWD_BIND(dhsT);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int c = (int)(item % VV);
    int d = (int)((item / VV) % K);
    int bh = (int)(item / ((long)VV * K)), b = bh / H, h = bh % H;
    float s = 0.0f;
    if (c < V) {
        if (has_dhT) s = OCLA_AT(dhT, b, h, d, c);
    } else if (has_dzT) {
        s = OCLA_AT(dzT, b, h, d, 0);
    }
    const long kvv = (long)K * VV;
    __global float *out = dhs + (long)bh * NT * kvv + (long)d * VV + c;
    __global float *outT = dhsT + (long)bh * NT * kvv + (long)c * K + d;
    __global const float *qp = OCLA_PTR(q, b, T - 1, h, d);
#if USE_NORM
    __global const float *op = dop + ((long)bh * T + T - 1) * (V + 1) + c;
    const long os = V + 1;
#else
    __global const float *op = OCLA_PTR(dout, b, T - 1, h, c);
    const long os = dout_s1;
#endif
#if OCLA_HAS_GATE
    __global const float *ap = gexp + GIDX(bh, T - 1, d);
#endif
    for (int n = NT - 1; n >= 0; n--) {
        out[(long)n * kvv] = s;
        outT[(long)n * kvv] = s;
        for (int t = min(T, (n + 1) * C) - 1; t >= n * C; t--) {
            s += scale * OCLA_PHI(*qp) * *op;
#if OCLA_HAS_GATE
            s *= *ap;
            ap -= GSTEP;
#endif
            qp -= q_s1;
            op -= os;
        }
    }
    if (c < V) {
        if (has_dh0) OCLA_AT(dh0, b, h, d, c) = s;
    } else if (has_dz0) {
        OCLA_AT(dz0, b, h, d, 0) = s;
    }
}

/* Gradients w.r.t. the features qh, kh (before phi'). item = (bh*T + t)*K + d; dqh, dkh: [BH][T][K]. */
OCLA_KERNEL void bwd_dqk(long n_items, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(q),
                         OCLA_TENSOR(k), OCLA_TENSOR(v), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                         BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac,
                         BWD_WS_IN(hs), BWD_WS_IN(dhsT), BWD_WS_IN(dA),
                         BWD_WS(dqh), BWD_WS(dkh)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(hs); BWD_BIND_IN(dhsT); BWD_BIND_IN(dA);
    BWD_BIND(dqh); BWD_BIND(dkh);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int d = (int)(item % K);
    int t = (int)((item / K) % T), bh = (int)(item / ((long)K * T)), b = bh / H, h = bh % H;
    int n = t / C, i = t % C, t0 = n * C, L = min(C, T - t0);
    const long kvv = (long)K * VV;
    __global const float *S = hs + ((long)bh * (NT + 1) + n) * kvv + d;
    __global const float *dS = dhsT + ((long)bh * NT + n) * kvv + d;
    __global const float *dAc = dA + ((long)bh * NT + n) * C * C;
    float Gi = GCUM(bh, t, d), Gl = GCUM(bh, t0 + L - 1, d);
    float x = 0.0f, y = 0.0f;
    for (int c = 0; c < VV; c++) {
        x += S[(long)c * K] * DOP(bh, b, t, h, c);
        y += dS[(long)c * K] * VP(b, t, h, c);
    }
#if USE_GK
    float dq = EG(bh, t, d) * x, dk = 0.0f;
    if (Gl >= -BWD_LIM) { /* factorised: exp(G_i - G_j) = EG_i * EINV_j, no exp per term */
        __global const float *kp = OCLA_PTR(k, b, t0, h, d), *ar = dAc + (long)i * C, *fp = &EINV(bh, t0, d);
        float a = 0.0f;
        for (int j = 0; j <= i; j++) {
            a += ar[j] * OCLA_PHI(*kp) * fp[(long)j * GSTEP];
            kp += k_s1;
        }
        dq += EG(bh, t, d) * a;
        __global const float *qp = OCLA_PTR(q, b, t, h, d), *ac = dAc + i, *ep = &EG(bh, t, d);
        a = 0.0f;
        for (int r = i; r < L; r++) {
            a += ac[(long)r * C] * OCLA_PHI(*qp) * ep[(long)(r - i) * GSTEP];
            qp += q_s1;
        }
        dqh[item] = scale * dq;
        dkh[item] = KDEC(bh, t, d) * y + scale * EINV(bh, t, d) * a;
        return;
    }
#else
    float dq = exp(Gi) * x, dk = 0.0f;
#endif
    {
        __global const float *kp = OCLA_PTR(k, b, t0, h, d), *ar = dAc + (long)i * C;
#if USE_GK
        __global const float *gp = gcum + GIDX(bh, t0, d);
#endif
        for (int j = 0; j <= i; j++) {
#if USE_GK
            dq += ar[j] * OCLA_PHI(*kp) * exp(Gi - gp[(long)j * GSTEP]);
#else
            dq += ar[j] * OCLA_PHI(*kp); /* scalar decays are inside dA */
#endif
            kp += k_s1;
        }
    }
    {
        __global const float *qp = OCLA_PTR(q, b, t, h, d), *ac = dAc + i;
#if USE_GK
        __global const float *gp = gcum + GIDX(bh, t, d);
#endif
        for (int r = i; r < L; r++) {
#if USE_GK
            dk += ac[(long)r * C] * OCLA_PHI(*qp) * exp(gp[(long)(r - i) * GSTEP] - Gi);
#else
            dk += ac[(long)r * C] * OCLA_PHI(*qp);
#endif
            qp += q_s1;
        }
    }
    dqh[item] = scale * dq;
#if USE_GK
    dkh[item] = KDEC(bh, t, d) * y + scale * dk;
#else
    dkh[item] = exp(Gl - Gi) * y + scale * dk;
#endif
}

/* Tiled bwd_dqk (same results): a work-group of TS items owns TS tokens (rows) x TS key dims of one
 * chunk; item ii = one token. Phase 1 stages do', v' and the chunk's S', dS' in slices of TS value
 * columns; phase 2 stages dA and kh (times exp(-G) where the chunk decay allows, else with G for
 * the elementwise exp) over the key tiles j <= i; phase 3 stages dA^T and qh (times exp(G)) over the
 * tiles r >= i. group = ((bh*NT + n)*NTI + ti)*NDT + dt. */
OCLA_KERNEL void bwd_dqk_tiled(long n_groups, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(q),
                               OCLA_TENSOR(k), OCLA_TENSOR(v), OCLA_TENSOR(dout), BWD_WS_IN(dop),
                               BWD_WS_IN(gcum), BWD_WS_IN(gfac), long n_fac,
                               BWD_WS_IN(hs), BWD_WS_IN(dhsT), BWD_WS_IN(dA),
                               BWD_WS(dqh), BWD_WS(dkh)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(hs); BWD_BIND_IN(dhsT); BWD_BIND_IN(dA);
    BWD_BIND(dqh); BWD_BIND(dkh);
    __local float la[TS][TS + 1], lb[TS][TS + 1], la2[TS][TS + 1], lb2[TS][TS + 1];
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return;
    const int NTI = (C + TS - 1) / TS, NDT = (K + TS - 1) / TS;
    const int dt = (int)(grp % NDT), ti = (int)((grp / NDT) % NTI);
    const long r = grp / ((long)NDT * NTI);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0), tl = t0 + L - 1;
    if (ti * TS >= L) return; /* uniform: the tile has no token */
    const int i = ti * TS + ii, d0 = dt * TS;
    const long kvv = (long)K * VV;
    __global const float *S = hs + ((long)bh * (NT + 1) + n) * kvv;
    __global const float *dS = dhsT + ((long)bh * NT + n) * kvv;
    __global const float *dAc = dA + ((long)bh * NT + n) * C * C;
    float aq[TS], ak[TS], bq[TS], bk[TS];
#if USE_GK
    float Gi[TS];
    int safe[TS];
#endif
    for (int dd = 0; dd < TS; dd++) {
        aq[dd] = ak[dd] = bq[dd] = bk[dd] = 0.0f;
#if USE_GK
        const int d = min(d0 + dd, K - 1);
        Gi[dd] = i < L ? GCUM(bh, t0 + i, d) : 0.0f;
        safe[dd] = GCUM(bh, tl, d) >= -BWD_LIM;
#endif
    }
#if USE_GK
    int all_safe = 1; /* uniform over the work-group: the common case takes the loops without exp */
    for (int dd = 0; dd < TS; dd++) all_safe &= safe[dd];
#endif
    /* phase 1: do' S^T and v' dS^T */
    for (int c0 = 0; c0 < VV; c0 += TS) {
        for (int rr = 0; rr < TS; rr++) {
            const int row = ti * TS + rr, c = c0 + ii, cr = c0 + rr, d = d0 + ii;
            const int okr = row < L && c < VV, okc = cr < VV && d < K;
            la[rr][ii] = okr ? DOP(bh, b, t0 + row, h, c) : 0.0f;
            la2[rr][ii] = okr ? VP(b, t0 + row, h, c) : 0.0f;
            lb[rr][ii] = okc ? S[(long)cr * K + d] : 0.0f;
            lb2[rr][ii] = okc ? dS[(long)cr * K + d] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int cc = 0; cc < TS; cc++) {
            const float x = la[ii][cc], y = la2[ii][cc];
            for (int dd = 0; dd < TS; dd++) {
                aq[dd] += x * lb[cc][dd];
                ak[dd] += y * lb2[cc][dd];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    /* phase 2: sum_{j <= i} dA_ij kh_j exp(G_i - G_j) */
    for (int tj = 0; tj <= ti; tj++) {
        const int j0 = tj * TS;
        for (int rr = 0; rr < TS; rr++) {
            const int row = ti * TS + rr, col = j0 + ii, j = j0 + rr, d = d0 + ii;
            la[rr][ii] = row < C && col < C ? dAc[(long)row * C + col] : 0.0f;
            float kv = 0.0f, gv = 0.0f;
            if (j < L && d < K) {
                kv = OCLA_PHI(OCLA_AT(k, b, t0 + j, h, d));
#if USE_GK
                gv = GCUM(bh, t0 + j, d);
                if (GCUM(bh, tl, d) >= -BWD_LIM) kv *= EINV(bh, t0 + j, d);
#endif
            }
            lb[rr][ii] = kv;
            lb2[rr][ii] = gv;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int jj = 0; jj < TS; jj++) {
            const float a = la[ii][jj];
#if USE_GK
            if (all_safe)
                for (int dd = 0; dd < TS; dd++) bq[dd] += a * lb[jj][dd];
            else
                for (int dd = 0; dd < TS; dd++)
                    bq[dd] += safe[dd] ? a * lb[jj][dd] : a * lb[jj][dd] * exp(fmin(Gi[dd] - lb2[jj][dd], 0.0f));
#else
            for (int dd = 0; dd < TS; dd++) bq[dd] += a * lb[jj][dd];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    /* phase 3: sum_{r >= i} dA_ri qh_r exp(G_r - G_i) */
    for (int tr = ti; tr * TS < L; tr++) {
        const int r0 = tr * TS;
        for (int rr = 0; rr < TS; rr++) {
            const int row = r0 + rr, col = ti * TS + ii, d = d0 + ii;
            la[rr][ii] = row < C && col < C ? dAc[(long)row * C + col] : 0.0f;
            float qv = 0.0f, gv = 0.0f;
            if (row < L && d < K) {
                qv = OCLA_PHI(OCLA_AT(q, b, t0 + row, h, d));
#if USE_GK
                gv = GCUM(bh, t0 + row, d);
                if (GCUM(bh, tl, d) >= -BWD_LIM) qv *= EG(bh, t0 + row, d);
#endif
            }
            lb[rr][ii] = qv;
            lb2[rr][ii] = gv;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int rr = 0; rr < TS; rr++) {
            const float a = la[rr][ii];
#if USE_GK
            if (all_safe)
                for (int dd = 0; dd < TS; dd++) bk[dd] += a * lb[rr][dd];
            else
                for (int dd = 0; dd < TS; dd++)
                    bk[dd] += safe[dd] ? a * lb[rr][dd] : a * lb[rr][dd] * exp(fmin(lb2[rr][dd] - Gi[dd], 0.0f));
#else
            for (int dd = 0; dd < TS; dd++) bk[dd] += a * lb[rr][dd];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i >= L) return;
    const int t = t0 + i;
#if BWD_HEAD_GATE
    const float eg = exp(GCUM(bh, t, 0)), kd = exp(GCUM(bh, tl, 0) - GCUM(bh, t, 0));
#endif
    for (int dd = 0; dd < TS; dd++) {
        const int d = d0 + dd;
        if (d >= K) break;
        float gq, gk;
#if USE_GK
        const float e = EG(bh, t, d);
        gq = scale * (e * aq[dd] + (safe[dd] ? e * bq[dd] : bq[dd]));
        gk = KDEC(bh, t, d) * ak[dd] + scale * (safe[dd] ? EINV(bh, t, d) * bk[dd] : bk[dd]);
#elif BWD_HEAD_GATE
        gq = scale * (eg * aq[dd] + bq[dd]);
        gk = kd * ak[dd] + scale * bk[dd];
#else
        gq = scale * (aq[dd] + bq[dd]);
        gk = ak[dd] + scale * bk[dd];
#endif
        const long e2 = ((long)bh * T + t) * K + d;
        dqh[e2] = gq;
        dkh[e2] = gk;
    }
}

/* dv (the first V columns of dv'). item = (bh*T + t)*V + c. */
OCLA_KERNEL void bwd_dv(long n_items, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(k),
                        OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gcum),
                        BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(dhs), BWD_WS_IN(A),
                        OCLA_TENSOR_OUT(dv)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(dhs); BWD_BIND_IN(A);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int c = (int)(item % V);
    int t = (int)((item / V) % T), bh = (int)(item / ((long)V * T)), b = bh / H, h = bh % H;
    int n = t / C, i = t % C, t0 = n * C, L = min(C, T - t0);
    const long kvv = (long)K * VV;
    __global const float *dS = dhs + ((long)bh * NT + n) * kvv + c;
    __global const float *Ac = A + ((long)bh * NT + n) * C * C;
    float x = 0.0f, y = 0.0f;
    {
        __global const float *kp = OCLA_PTR(k, b, t, h, 0);
#if USE_GK
        __global const float *kd = &KDEC(bh, t, 0);
        for (int d = 0; d < K; d++) {
            x += OCLA_PHI(*kp) * kd[d] * dS[(long)d * VV];
            kp += k_s3;
        }
#else
        for (int d = 0; d < K; d++) {
            x += OCLA_PHI(*kp) * dS[(long)d * VV];
            kp += k_s3;
        }
        x *= exp(GCUM(bh, t0 + L - 1, 0) - GCUM(bh, t, 0));
#endif
    }
#if USE_NORM
    __global const float *op = dop + ((long)bh * T + t) * (V + 1) + c;
    const long os = V + 1;
#else
    __global const float *op = OCLA_PTR(dout, b, t, h, c);
    const long os = dout_s1;
#endif
    for (int r = i; r < L; r++) {
        y += Ac[(long)r * C + i] * *op;
        op += os;
    }
    OCLA_AT(dv, b, t, h, c) = x + scale * y;
}

/* Tiled bwd_dv (same results): a work-group of TS items owns TS tokens x TS value columns of one
 * chunk; phase 1 stages (kh * exp(G_last - G)) and dh_n over key slices, phase 2 stages A^T and do'
 * over the token tiles r >= j. group = ((bh*NT + n)*NTI + ti)*NCV + ct, NCV = ceil(V/TS). */
OCLA_KERNEL void bwd_dv_tiled(long n_groups, int T, int H, int K, int V, int C, int NT, float scale, OCLA_TENSOR(k),
                              OCLA_TENSOR(dout), BWD_WS_IN(dop), BWD_WS_IN(gcum),
                              BWD_WS_IN(gfac), long n_fac, BWD_WS_IN(dhs),
                              BWD_WS_IN(A), OCLA_TENSOR_OUT(dv)) {
    BWD_BIND_IN(dop); BWD_BIND_IN(gcum); BWD_BIND_IN(gfac); BWD_BIND_IN(dhs); BWD_BIND_IN(A);
    __local float la[TS][TS + 1], lb[TS][TS + 1];
    const long grp = get_group_id(0);
    const int ii = (int)get_local_id(0);
    if (grp >= n_groups) return;
    const int NTI = (C + TS - 1) / TS, NCV = (V + TS - 1) / TS;
    const int ct = (int)(grp % NCV), ti = (int)((grp / NCV) % NTI);
    const long r = grp / ((long)NCV * NTI);
    const int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    const int t0 = n * C, L = min(C, T - t0), tl = t0 + L - 1;
    if (ti * TS >= L) return; /* uniform */
    const int j = ti * TS + ii, c0 = ct * TS;
    const long kvv = (long)K * VV;
    __global const float *dS = dhs + ((long)bh * NT + n) * kvv;
    __global const float *Ac = A + ((long)bh * NT + n) * C * C;
    float a1[TS], a2[TS];
    for (int cc = 0; cc < TS; cc++) a1[cc] = a2[cc] = 0.0f;
    for (int d0 = 0; d0 < K; d0 += TS) {
        for (int rr = 0; rr < TS; rr++) {
            const int row = ti * TS + rr, d = d0 + ii, dr = d0 + rr, c = c0 + ii;
            la[rr][ii] = row < L && d < K ? OCLA_PHI(OCLA_AT(k, b, t0 + row, h, d)) * KDECF(bh, t0 + row, tl, d) : 0.0f;
            lb[rr][ii] = dr < K && c < V ? dS[(long)dr * VV + c] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int dd = 0; dd < TS; dd++) {
            const float x = la[ii][dd];
            for (int cc = 0; cc < TS; cc++) a1[cc] += x * lb[dd][cc];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int tr = ti; tr * TS < L; tr++) {
        const int r0 = tr * TS;
        for (int rr = 0; rr < TS; rr++) {
            const int row = r0 + rr, col = ti * TS + ii, c = c0 + ii;
            la[rr][ii] = row < C && col < C ? Ac[(long)row * C + col] : 0.0f;
            lb[rr][ii] = row < L && c < V ? DOP(bh, b, t0 + row, h, c) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int rr = 0; rr < TS; rr++) {
            const float x = la[rr][ii];
            for (int cc = 0; cc < TS; cc++) a2[cc] += x * lb[rr][cc];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (j >= L) return;
    for (int cc = 0; cc < TS; cc++) {
        const int c = c0 + cc;
        if (c >= V) break;
        OCLA_AT(dv, b, t0 + j, h, c) = a1[cc] + scale * a2[cc];
    }
}

/* dq, dk through phi', and the per-dimension gate gradient (chunk-local reverse cumsum plus the
 * boundary term rowsum(S'_{n+1} . dh_n)). item = (bh*NT + n)*K + d; dgv: [BH][T][K]. */
OCLA_KERNEL void bwd_dg(long n_items, int T, int H, int K, int V, int C, int NT, OCLA_TENSOR(q), OCLA_TENSOR(k),
                        BWD_WS_IN(hs), BWD_WS_IN(dhsT), BWD_WS_IN(dqh),
                        BWD_WS_IN(dkh), BWD_WS(dgv), OCLA_TENSOR_OUT(dq), OCLA_TENSOR_OUT(dk)) {
    BWD_BIND_IN(hs); BWD_BIND_IN(dhsT); BWD_BIND_IN(dqh); BWD_BIND_IN(dkh); BWD_BIND(dgv);
    long item = get_global_id(0);
    if (item >= n_items) return;
    int d = (int)(item % K);
    long r = item / K;
    int n = (int)(r % NT), bh = (int)(r / NT), b = bh / H, h = bh % H;
    int t0 = n * C, t1 = min(t0 + C, T);
    float acc = 0.0f;
#if OCLA_HAS_GATE
    const long kvv = (long)K * VV;
    __global const float *S1 = hs + ((long)bh * (NT + 1) + n + 1) * kvv + d;
    __global const float *dS = dhsT + ((long)bh * NT + n) * kvv + d;
    for (int c = 0; c < VV; c++) acc += S1[(long)c * K] * dS[(long)c * K];
#endif
    for (int t = t1 - 1; t >= t0; t--) {
        long e = ((long)bh * T + t) * K + d;
        float qv = OCLA_AT(q, b, t, h, d), kv = OCLA_AT(k, b, t, h, d);
        float gq = dqh[e], gk = dkh[e];
        acc += OCLA_PHI(qv) * gq - OCLA_PHI(kv) * gk;
#if OCLA_HAS_GATE
        dgv[e] = acc;
#endif
        OCLA_AT(dq, b, t, h, d) = gq * OCLA_DPHI(qv);
        OCLA_AT(dk, b, t, h, d) = gk * OCLA_DPHI(kv);
    }
}

/* dg into the caller's tensor, zero where the log gate was >= 0 (clamped by the forward).
 * Vector gates: item = (bh*T + t)*K + d. Scalar gates: item = bh*T + t, summed over d. */
OCLA_KERNEL void bwd_dg_out(long n_items, int T, int H, int K, BWD_WS_IN(graw),
                            BWD_WS_IN(dgv), OCLA_TENSOR_OUT(dg)) {
    BWD_BIND_IN(graw); BWD_BIND_IN(dgv);
    long item = get_global_id(0);
    if (item >= n_items) return;
#if USE_GK
    int d = (int)(item % K);
    long r = item / K;
#else
    int d = 0;
    long r = item;
#endif
    int t = (int)(r % T), bh = (int)(r / T), b = bh / H, h = bh % H;
    float x;
#if USE_GK
    x = dgv[item];
#else
    x = 0.0f;
    for (int e = 0; e < K; e++) x += dgv[r * K + e];
#endif
#if OCLA_HAS_GATE
    if (!(GRAW(bh, t, d) < 0.0f)) x = 0.0f;
#endif
    OCLA_AT(dg, b, t, h, d) = x;
}
