/* SPDX-License-Identifier: MIT */
/* attn_fused32_nv.cl: NVIDIA single-pass forward of chunked causal linear attention, simple GLA and
 * retention on fp32 data (no gate or a scalar one, identity feature map, no normaliser, K <= 128 (the
 * plan: K > 64), rows of 16-byte groups).
 *
 * attn_mma_nv.cl's forward is two passes, which write the state entering every chunk and read it
 * back: at fp32 that is half the bytes the forward moves. Here one work-group per (64-wide value
 * tile, batch row and head) walks the chunks of C = 32 rows in order with its state in registers, as
 * attn_fused_nv.cl does for bf16 (fp32 q and k rows of 128 key dimensions take 32 KiB a chunk of 64
 * rows each, so the chunk is 32 rows here). Per chunk, with s the scale and G_i the chunk's inclusive
 * cumulative log gates (0 without a gate; every exponent <= 0):
 *     o_i = s [ exp(G_i) q_i^T S + sum_{j <= i in chunk} (q_i . k_j) exp(G_i - G_j) v_j ],
 *     S = exp(G_last) S + sum_j k_j (v_j exp(G_last - G_j))^T.
 * Products on mma.sync m16n8k8 TF32 (SPLIT 1: one product, the plan's allow_tf32 mode; SPLIT 3:
 * 3xTF32, big and small parts, the state's chunk update summed from zero and added in IEEE fp32).
 *
 * Work-group: 4 warps. Warp w holds the transposed state S^T[c][d] of its 16 value columns
 * c = 16 w .. 16 w + 15 for every key dimension d < 128 in mma accumulators (16 tiles of 16 x 8, 64
 * floats a work-item). That layout is the A operand of o^T = S^T q^T as it is: the fragment's columns
 * t and t + 4 of contraction step n are the accumulators' columns 8 n + 2 t and 8 n + 2 t + 1, so q's B
 * fragments are float2 loads of those two key dimensions; no state goes through local memory. The
 * chunk's 32 x 32 scores P = q k^T (tiles of 16 x 16: warps 0, 2 and 3; warp 1's lie above the
 * diagonal) are gated, masked and shared through local memory for o^T += v^T P^T, and
 * S^T += (v exp(G_last - G_j))^T k closes the chunk.
 * Local memory (one stage, 48,768 bytes with gates, 48,640 without; the driver allows 48 KiB less 16): q and k [32][136]
 * floats (float2 fragment loads at row r, column 8 n + 2 t: 136 = 8 mod 32 banks apart), v [32][72],
 * P [32][36], the gates [32]. The next chunk's q is copied (cp.async) once every warp has read this
 * one's, while o's products run; k and v once the state update is done.
 *
 * Build options: -DSPLIT=1|3, -DIDX32=1 (every offset fits in 32 bits), -DUSE_G=1 (the scalar gate
 * tensor [B,T,H], fp32) or -DUSE_G_GAMMA=1 (the op's fixed log decays per head), common.cl's log-gate
 * policy on both.
 */
#ifdef __NV_CL_C_VERSION

#define C32 32   /* rows per chunk */
#define QP 136   /* q and k row pitch (floats) */
#define VP 72    /* v row pitch */
#define PP 36    /* score row pitch */
#define F32WG 128
#ifndef SPLIT
#define SPLIT 3
#endif
#ifndef IDX32
#define IDX32 0
#endif
#if IDX32
typedef int f32off_t;
#else
typedef long f32off_t;
#endif
#define F32GATE (USE_G || USE_G_GAMMA)

OCLA_INLINE uint f32_tf32(float x) {
    uint r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}
/* x -> its big (and small) TF32 parts; plain TF32 hands the fp32 bits over (the tensor cores read
 * the top 19) */
#if SPLIT == 1
#define F32SPL(x, b, s) { (b) = as_uint(x); }
#else
#define F32SPL(x, b, s) { (b) = f32_tf32(x); (s) = f32_tf32((x) - as_float(b)); }
#endif
/* d += a b (small terms first); F32MMA2: the small terms into d2, a second accumulator (3xTF32), or
 * every odd contraction step s_ into d2 (plain TF32), so that two chains of products run side by
 * side (the kernel alone, H200, B=4, T=2048, H=16, D=128: 0.231 -> 0.215 ms in TF32, 0.475 -> 0.464 in 3xTF32) */
#if SPLIT == 1
#define F32MMA(d, ab, as, bb, bs) ocla_nv_mma_tf32(d, ab, bb);
#define F32MMA2(d, d2, s_, ab, as, bb, bs) { if ((s_) & 1) ocla_nv_mma_tf32(d2, ab, bb); else ocla_nv_mma_tf32(d, ab, bb); }
#else
#define F32MMA(d, ab, as, bb, bs) { ocla_nv_mma_tf32(d, as, bb); ocla_nv_mma_tf32(d, ab, bs); ocla_nv_mma_tf32(d, ab, bb); }
#define F32MMA2(d, d2, s_, ab, as, bb, bs) { ocla_nv_mma_tf32(d2, as, bb); ocla_nv_mma_tf32(d2, ab, bs); ocla_nv_mma_tf32(d, ab, bb); }
#endif
#define F32ZERO(a_, n_) _Pragma("unroll") for (int z_ = 0; z_ < (n_); z_++) a_[z_][0] = a_[z_][1] = a_[z_][2] = a_[z_][3] = 0.0f;
#define F32ADD(a_, b_, n_) _Pragma("unroll") for (int z_ = 0; z_ < (n_); z_++) a_[z_][0] += b_[z_][0], a_[z_][1] += b_[z_][1], a_[z_][2] += b_[z_][2], a_[z_][3] += b_[z_][3];

/* the copies of chunk n_'s q, and of its k and v tile (zeros past T, K and V) */
#define F32_ISSUE_Q(n_)                                                                                      \
    for (int e = tid; e < C32 * 32; e += F32WG) {                                                            \
        const int r = e >> 5, c = (e & 31) * 4, t = (n_)*C32 + r, ok = t < T && c < K;                       \
        ocla_nv_cp_async16(&Ql[r * QP + c], qbase + (ok ? (f32off_t)t * (f32off_t)qt + c : 0), ok);         \
    }
#define F32_ISSUE_KV(n_)                                                                                     \
    for (int e = tid; e < C32 * 32; e += F32WG) {                                                            \
        const int r = e >> 5, c = (e & 31) * 4, t = (n_)*C32 + r, ok = t < T && c < K;                       \
        ocla_nv_cp_async16(&Kl[r * QP + c], kbase + (ok ? (f32off_t)t * (f32off_t)kt + c : 0), ok);         \
    }                                                                                                        \
    for (int e = tid; e < C32 * 16; e += F32WG) {                                                            \
        const int r = e >> 4, c = (e & 15) * 4, t = (n_)*C32 + r, ok = t < T && v0 + c < V;                  \
        ocla_nv_cp_async16(&Vl[r * VP + c], vbase + (ok ? (f32off_t)t * (f32off_t)vt + c : 0), ok);         \
    }
/* warp 0: the raw gate of chunk n_'s row lane (the address clamped inside the tensor), then the
 * chunk's cumulative gates from it (a 32-lane scan). The load is issued a chunk step before the
 * scan needs it: loaded there, each chunk step waited for it (H200, simple GLA, B=4, T=2048,
 * H=16, D=128, TF32: 0.282 -> 0.250 ms) */
#if USE_G
#define F32_GATE_RAW(n_) gt_[b * gb + h * gh + (f32off_t)min((n_)*C32 + lane, T - 1) * (f32off_t)gt]
#elif USE_G_GAMMA
#define F32_GATE_RAW(n_) gt_[h]
#endif
#if F32GATE
#define F32_GATE_LOAD(n_) if (w == 0) graw = F32_GATE_RAW(n_);
#define F32_GATES(n_)                                                                                        \
    if (w == 0) {                                                                                            \
        const int t_ = (n_)*C32 + lane;                                                                      \
        float x_ = t_ < T ? ocla_log_gate(graw) * 1.44269504088896341f : 0.0f;                                \
        _Pragma("unroll") for (int s_ = 1; s_ < 32; s_ <<= 1) {                                              \
            const float y_ = ocla_nv_shfl_up(x_, s_);                                                        \
            if (lane >= s_) x_ += y_;                                                                        \
        }                                                                                                    \
        Gl[lane] = x_;                                                                                       \
    }
#else
#define F32_GATE_LOAD(n_)
#define F32_GATES(n_)
#endif

/* Both kernels' walk over chunks n0 .. n1 - 1: F32_FIRST copies chunk n0's k and v (q too, before
 * it, in the forward) and scans its gates; F32_LANDED waits for this chunk's copies and loads the
 * next chunk's raw gates; F32_NEXT, once every warp has read k, v and the gates, copies and scans the
 * next chunk's. */
#define F32_FIRST(n_)                                                                                        \
    F32_ISSUE_KV(n_)                                                                                         \
    asm volatile("cp.async.commit_group;" ::: "memory");                                                     \
    F32_GATE_LOAD(n_)                                                                                        \
    F32_GATES(n_)
#define F32_LANDED(n_)                                                                                       \
    asm volatile("cp.async.wait_all;" ::: "memory");                                                         \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                            \
    F32_GATE_LOAD((n_) + 1) /* past the last chunk: a row inside the tensor, unused */
#define F32_NEXT(n_, n1_)                                                                                    \
    barrier(CLK_LOCAL_MEM_FENCE); /* k, v and the gates read by every warp */                                \
    if ((n_) + 1 < (n1_)) {                                                                                  \
        F32_ISSUE_KV((n_) + 1)                                                                               \
        asm volatile("cp.async.commit_group;" ::: "memory");                                                 \
        F32_GATES((n_) + 1)                                                                                  \
    }

/* S^T = exp(G_last) S^T + (v^T diag(exp(G_last - G_j))) k from the staged k, v and gates (Kl, Vl, Gl;
 * in scope: st, w, gr, tg): 3xTF32 sums the chunk's update from zero (dt) and adds it in IEEE fp32,
 * plain TF32 accumulates into the decayed state itself */
#if F32GATE
#define F32_UPD_GL const float gl = Gl[C32 - 1], dl = ocla_nv_ex2(gl);
#define F32_UPD_FACT(r_) const float f0 = ocla_nv_ex2(gl - Gl[r_]), f1 = ocla_nv_ex2(gl - Gl[(r_) + 4]);
#else
#define F32_UPD_GL
#define F32_UPD_FACT(r_) const float f0 = 1.0f, f1 = 1.0f;
#endif
#if SPLIT == 1
#define F32_DACC st
#define F32_UPD_POST
#if F32GATE
#define F32_UPD_PRE _Pragma("unroll") for (int s = 0; s < 16; s++) st[s][0] *= dl, st[s][1] *= dl, st[s][2] *= dl, st[s][3] *= dl;
#else
#define F32_UPD_PRE
#endif
#else
#define F32_DACC dt
#define F32_UPD_PRE float dt[16][4]; F32ZERO(dt, 16)
#if F32GATE
#define F32_UPD_POST _Pragma("unroll") for (int s = 0; s < 16; s++) _Pragma("unroll") for (int e = 0; e < 4; e++) st[s][e] = fma(dl, st[s][e], dt[s][e]);
#else
#define F32_UPD_POST F32ADD(st, dt, 16)
#endif
#endif
#define F32_UPDATE()                                                                                         \
    {                                                                                                        \
        F32_UPD_GL F32_UPD_PRE                                                                               \
        _Pragma("unroll") for (int r8 = 0; r8 < 4; r8++) {                                                   \
            const int r = 8 * r8 + tg;                                                                       \
            F32_UPD_FACT(r)                                                                                  \
            uint ab[4], as[4];                                                                               \
            const float a0 = Vl[r * VP + 16 * w + gr] * f0, a1 = Vl[r * VP + 16 * w + gr + 8] * f0;         \
            const float a2 = Vl[(r + 4) * VP + 16 * w + gr] * f1, a3 = Vl[(r + 4) * VP + 16 * w + gr + 8] * f1; \
            F32SPL(a0, ab[0], as[0]) F32SPL(a1, ab[1], as[1]) F32SPL(a2, ab[2], as[2]) F32SPL(a3, ab[3], as[3]) \
            _Pragma("unroll") for (int s = 0; s < 16; s++) {                                                 \
                uint bb[2], bs[2];                                                                           \
                const float b0 = Kl[r * QP + 8 * s + gr], b1 = Kl[(r + 4) * QP + 8 * s + gr];                \
                F32SPL(b0, bb[0], bs[0]) F32SPL(b1, bb[1], bs[1])                                            \
                F32MMA(F32_DACC[s], ab, as, bb, bs)                                                          \
            }                                                                                                \
        }                                                                                                    \
        F32_UPD_POST                                                                                         \
    }

/* The arguments of attn_fused_nv.cl's kernels (runtime/attention_nv.c, fused_args) with fp32 data:
 * B T H K V, the scale, q k v (buffer, four strides), the gates (buffer, three strides), initial and
 * final states [B,H,K,V], o; chunks per segment and per block, the block records. */
#define F32_ARGS                                                                                             \
    const int B, const int T, const int H, const int K, const int V, const float scale,                     \
    __global const float *q, const ocla_idx qb, const ocla_idx qt, const ocla_idx qh, const ocla_idx qd,   \
    __global const float *k, const ocla_idx kb, const ocla_idx kt, const ocla_idx kh, const ocla_idx kd,   \
    __global const float *v, const ocla_idx vb, const ocla_idx vt, const ocla_idx vh, const ocla_idx vd,   \
    __global const float *gt_, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh,                    \
    __global const float *h0, const int has_h0, __global float *hT, const int has_hT,                        \
    __global float *o, const ocla_idx ob, const ocla_idx ot_, const ocla_idx oh, const ocla_idx od,         \
    const int SEG, const int LB, __global float *part
/* Segments (F32SEG, runtime/plan_la.c: few rows and heads): F32SEG=1 builds mma_fused32_part, a
 * work-group per (value tile, row and head, block of LB chunks of the segments before the last) that
 * walks its block from a zero state and writes its record: the state S^T as [128][64] fp32 (key dims
 * and value columns past K and V zero) and the block's total log gate times log2(e); F32SEG=2 builds
 * mma_fused32_fwd for a work-group per (value tile, row and head, segment of SEG chunks) that starts
 * from the initial state and the records of the blocks before its segment, each decayed by the
 * gates after it, then walks its segment. */
#ifndef F32SEG
#define F32SEG 0
#endif
#define F32REC (128 * 64 + 4) /* floats a record */
#define F32_FOR_STATE(body_)                                                                                 \
    _Pragma("unroll") for (int n_ = 0; n_ < 16; n_++) _Pragma("unroll") for (int e_ = 0; e_ < 4; e_++) {    \
        const int c = 16 * w + gr + 8 * (e_ >> 1), d = 8 * n_ + 2 * tg + (e_ & 1);                          \
        body_;                                                                                               \
    }

#if F32SEG != 1
__kernel __attribute__((reqd_work_group_size(F32WG, 1, 1))) void mma_fused32_fwd(F32_ARGS) {
    (void)B, (void)qd, (void)kd, (void)vd, (void)od, (void)SEG, (void)LB, (void)part; /* unit last strides (VEC) */
    (void)gt_, (void)gb, (void)gt, (void)gh;
    __local float Ql[C32 * QP] __attribute__((aligned(16)));
    __local float Kl[C32 * QP] __attribute__((aligned(16)));
    __local float Vl[C32 * VP] __attribute__((aligned(16)));
    __local float Pl[C32 * PP] __attribute__((aligned(16)));
#if F32GATE
    __local float Gl[C32]; /* the chunk's inclusive cumulative log gates (0 past T) times log2(e), for ex2 */
    float graw = 0.0f;     /* warp 0: the next chunk's gate of row lane, loaded a chunk step ahead */
#endif
    const int tid = get_local_id(0), w = tid >> 5, lane = tid & 31, gr = lane >> 2, tg = lane & 3;
    const int v0 = get_group_id(0) * 64, bh = get_group_id(1), b = bh / H, h = bh % H;
    __global const float *qbase = q + (b * qb + h * qh), *kbase = k + (b * kb + h * kh);
    __global const float *vbase = v + (b * vb + h * vh + v0);
    __global float *obase = o + (b * ob + h * oh + v0);
    const int NCH = (T + C32 - 1) / C32;
#if F32SEG == 2
    const int sg = get_group_id(2), n0 = sg * SEG, n1 = min(n0 + SEG, NCH), last = sg + 1 == (int)get_num_groups(2);
#else
    const int n0 = 0, n1 = NCH, last = n1 == NCH; /* every work-group */
#endif

    /* S^T: tile n holds key dims 8n .. 8n + 7; element e: value column 16 w + gr (+ 8 for e >= 2),
     * key dim 8 n + 2 tg (+ 1 for odd e) */
    float st[16][4];
    F32_FOR_STATE(st[n_][e_] = has_h0 && d < K && v0 + c < V ? h0[((ocla_idx)bh * K + d) * V + v0 + c] : 0.0f)
#if F32SEG == 2
    { /* the blocks before this segment, in order: S = 2^g S + R */
        const int nb = (get_num_groups(2) - 1) * (SEG / LB);
        __global const float *rec = part + ((ocla_idx)bh * get_num_groups(0) + get_group_id(0)) * nb * F32REC;
        for (int z = 0; z < sg * (SEG / LB); z++, rec += F32REC) {
#if F32GATE
            const float f = ocla_nv_ex2(rec[128 * 64]);
#else
            const float f = 1.0f;
#endif
            F32_FOR_STATE(st[n_][e_] = fma(f, st[n_][e_], rec[d * 64 + c]))
        }
    }
#endif

    F32_ISSUE_Q(n0)
    F32_FIRST(n0)

    for (int n = n0; n < n1; n++) {
        F32_LANDED(n)
        /* scores: warp w -> rows 16 (w >> 1) .. + 15, keys 16 (w & 1) .. + 15 (warp 1's: above the diagonal) */
        if (w != 1) {
            const int m0 = 16 * (w >> 1), j0 = 16 * (w & 1);
            float sc[2][4], sc2[2][4];
            F32ZERO(sc, 2)
            F32ZERO(sc2, 2)
#pragma unroll 4
            for (int s = 0; s < 16; s++) {
                const float2 a01 = vload2(0, &Ql[(m0 + gr) * QP + 8 * s + 2 * tg]);
                const float2 a23 = vload2(0, &Ql[(m0 + gr + 8) * QP + 8 * s + 2 * tg]);
                uint ab[4], as[4];
                F32SPL(a01.x, ab[0], as[0]) F32SPL(a23.x, ab[1], as[1]) F32SPL(a01.y, ab[2], as[2]) F32SPL(a23.y, ab[3], as[3])
#pragma unroll
                for (int jt = 0; jt < 2; jt++) {
                    const float2 bk = vload2(0, &Kl[(j0 + 8 * jt + gr) * QP + 8 * s + 2 * tg]);
                    uint bb[2], bs[2];
                    F32SPL(bk.x, bb[0], bs[0]) F32SPL(bk.y, bb[1], bs[1])
                    F32MMA2(sc[jt], sc2[jt], s, ab, as, bb, bs)
                }
            }
            F32ADD(sc, sc2, 2)
#pragma unroll
            for (int jt = 0; jt < 2; jt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int i = m0 + gr + 8 * (e >> 1), j = j0 + 8 * jt + 2 * tg + (e & 1);
#if F32GATE
                    const float f = ocla_nv_ex2(fmin(Gl[i] - Gl[j], 0.0f)); /* every score's, the masked selected away */
#else
                    const float f = 1.0f;
#endif
                    Pl[i * PP + j] = j <= i ? sc[jt][e] * f : 0.0f;
                }
        }
        /* o^T = S^T q^T, the state entering the chunk */
        float oa[4][4], oa2[4][4];
        F32ZERO(oa, 4)
        F32ZERO(oa2, 4)
#pragma unroll
        for (int s = 0; s < 16; s++) {
            uint ab[4], as[4];
            F32SPL(st[s][0], ab[0], as[0]) F32SPL(st[s][2], ab[1], as[1]) F32SPL(st[s][1], ab[2], as[2]) F32SPL(st[s][3], ab[3], as[3])
#pragma unroll
            for (int a = 0; a < 4; a++) {
                const float2 bq = vload2(0, &Ql[(8 * a + gr) * QP + 8 * s + 2 * tg]);
                uint bb[2], bs[2];
                F32SPL(bq.x, bb[0], bs[0]) F32SPL(bq.y, bb[1], bs[1])
                F32MMA2(oa[a], oa2[a], s, ab, as, bb, bs)
            }
        }
        F32ADD(oa, oa2, 4)
        barrier(CLK_LOCAL_MEM_FENCE); /* the scores are in; every warp has read q */
        if (n + 1 < n1) {
            F32_ISSUE_Q(n + 1)
            asm volatile("cp.async.commit_group;" ::: "memory");
        }
#if F32GATE
#pragma unroll
        for (int a = 0; a < 4; a++) {
            const float f0 = ocla_nv_ex2(Gl[8 * a + 2 * tg]), f1 = ocla_nv_ex2(Gl[8 * a + 2 * tg + 1]);
            oa[a][0] *= f0, oa[a][2] *= f0, oa[a][1] *= f1, oa[a][3] *= f1;
        }
#endif
        /* o^T += v^T P^T: rows i of tile a, keys j of step bj <= a */
#pragma unroll
        for (int bj = 0; bj < 4; bj++) {
            const int j = 8 * bj + tg;
            uint ab[4], as[4];
            const float a0 = Vl[j * VP + 16 * w + gr], a1 = Vl[j * VP + 16 * w + gr + 8];
            const float a2 = Vl[(j + 4) * VP + 16 * w + gr], a3 = Vl[(j + 4) * VP + 16 * w + gr + 8];
            F32SPL(a0, ab[0], as[0]) F32SPL(a1, ab[1], as[1]) F32SPL(a2, ab[2], as[2]) F32SPL(a3, ab[3], as[3])
#pragma unroll
            for (int a = bj; a < 4; a++) {
                const float p0 = Pl[(8 * a + gr) * PP + j], p1 = Pl[(8 * a + gr) * PP + j + 4];
                uint bb[2], bs[2];
                F32SPL(p0, bb[0], bs[0]) F32SPL(p1, bb[1], bs[1])
                F32MMA(oa[a], ab, as, bb, bs)
            }
        }
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = 8 * a + 2 * tg + (e & 1), c = 16 * w + gr + 8 * (e >> 1), t = n * C32 + i;
                if (t < T && v0 + c < V) obase[(f32off_t)t * (f32off_t)ot_ + c] = scale * oa[a][e];
            }
        F32_UPDATE()
        F32_NEXT(n, n1)
    }
    if (has_hT && last) F32_FOR_STATE(if (d < K && v0 + c < V) hT[((ocla_idx)bh * K + d) * V + v0 + c] = st[n_][e_])
}
#else
/* F32SEG=1: a block's record (above) */
__kernel __attribute__((reqd_work_group_size(F32WG, 1, 1))) void mma_fused32_part(F32_ARGS) {
    (void)B, (void)scale, (void)q, (void)qb, (void)qt, (void)qh, (void)qd, (void)kd, (void)vd, (void)SEG;
    (void)gt_, (void)gb, (void)gt, (void)gh, (void)h0, (void)has_h0, (void)hT, (void)has_hT;
    (void)o, (void)ob, (void)ot_, (void)oh, (void)od;
    __local float Kl[C32 * QP] __attribute__((aligned(16)));
    __local float Vl[C32 * VP] __attribute__((aligned(16)));
#if F32GATE
    __local float Gl[C32];
    float graw = 0.0f, gsum = 0.0f;
#endif
    const int tid = get_local_id(0), w = tid >> 5, lane = tid & 31, gr = lane >> 2, tg = lane & 3;
    const int v0 = get_group_id(0) * 64, bh = get_group_id(1), b = bh / H, h = bh % H, z = get_group_id(2);
    __global const float *kbase = k + (b * kb + h * kh), *vbase = v + (b * vb + h * vh + v0);
    const int NCH = (T + C32 - 1) / C32, n0 = z * LB, n1 = min(n0 + LB, NCH);
    float st[16][4];
    F32ZERO(st, 16)
    F32_FIRST(n0)
    for (int n = n0; n < n1; n++) {
        F32_LANDED(n)
        F32_UPDATE()
#if F32GATE
        gsum += Gl[C32 - 1];
#endif
        F32_NEXT(n, n1)
    }
    __global float *rec = part + (((ocla_idx)bh * get_num_groups(0) + get_group_id(0)) * get_num_groups(2) + z) * F32REC;
    F32_FOR_STATE(rec[d * 64 + c] = st[n_][e_])
#if F32GATE
    if (tid == 0) rec[128 * 64] = gsum;
#endif
}
#endif

#endif
