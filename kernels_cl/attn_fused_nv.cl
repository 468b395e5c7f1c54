/* SPDX-License-Identifier: MIT */
/* attn_fused_nv.cl: NVIDIA single-pass forward of chunked causal linear attention, simple GLA and
 * retention on bf16 data (no gate or a scalar one, identity feature map, no normaliser, K <= 128 (the
 * plan: K > 64), rows of 16-byte groups).
 *
 * attn_mma_nv.cl's forward is two passes: a state pass writes the K x V state entering every chunk
 * and an output pass reads q, k, v and those states back. Here one work-group per (batch row, head,
 * 32-wide value tile) walks the chunks in order and keeps its state tile S (K x 32, fp32) in
 * registers, so no state is written and q, k, v are read once per value tile (the value tiles of one
 * head run side by side and share q and k through L2). Per chunk of 64 rows, with s the scale:
 *     o_i = s [ q_i^T S + sum_{j <= i in chunk} (q_i . k_j) v_j ],    then  S += sum_j k_j v_j^T,
 * and with scalar log gates (G_i: the chunk's inclusive cumulative sum, warp 0's scan; every
 * exponent <= 0; exponentials as ex2 of G log2(e), taken for every score and the masked ones selected
 * away: a conditional exponential is a divergent branch per element, 0.571 -> 0.364 ms at B=2, T=8192):
 *     o_i = s [ exp(G_i) q_i^T S + sum_{j <= i} (q_i . k_j) exp(G_i - G_j) v_j ],
 *     S = exp(G_last) S + sum_j (k_j exp(G_last - G_j)) v_j^T  (the scaled k rounded to bf16, as fla
 *     rounds its scaled v).
 * Products on mma.sync m16n8k16 bf16 with fp32 accumulation (the scores on Hopper's wgmma where the
 * plan sets WG=1, below). The scores and S are rounded to bf16 as
 * operands of their products (as fla's chunk kernels do, and as attn_mma_nv.cl's bf16 chunk states
 * are); S itself, the final state and every sum stay fp32; o is rounded once, to nearest even, and
 * goes out through local memory as 16-byte groups (FUSED_OUT).
 *
 * Work-group: 4 warps. Warp w owns the chunk's rows 16w .. 16w + 15 (their scores with every key of
 * the chunk, their outputs) and the state rows 32w .. 32w + 31 (their update). The next chunk's q and
 * k rows and v tile are loaded into registers (16-byte loads, 144 bytes per work-item) while this
 * chunk's products run, and stored to local memory between chunks; the products read their
 * fragments there with ldmatrix. S goes through local memory in bf16 once per chunk, for the q S
 * product of every warp. Local memory: q, k 16 KiB each, v 4 KiB, S 8 KiB (44 KiB; NVIDIA's driver
 * allows 48 KiB less 16 bytes of its own, so no second stage fits), rows unpadded with their 16-byte
 * groups permuted (XOR) so that ldmatrix and the stores hit every bank once.
 * On the H100 (bf16, H=16, D=128) against the two passes: B=2, T=8192 0.397 -> 0.252 ms; B=4,
 * T=2048 0.187 -> 0.103 ms (docs/BENCHMARKS.md). At B=2, T=8192 the grid is 128 work-groups (one per
 * SM): each chunk step waits for its loads (0.145 ms of loads and stores alone, 0.173 of products
 * alone, measured with FUSED_SKIP). Simple GLA: 0.508 -> 0.364 ms and 0.215 -> 0.131 ms.
 *
 * With few rows and heads the sequence is cut into segments walked side by side (FSEG below), each
 * from the state entering it.
 *
 * Build options: -DOCLA_DTYPE=1 (bf16; the file is empty otherwise), -DIDX32=1 (every offset fits in
 * 32 bits), -DFSEG (segments); -DFUSED_SKIP (measurement only, wrong results) leaves parts out.
 */
#ifdef __NV_CL_C_VERSION
#if OCLA_DTYPE == OCLA_DT_BF16

#define FC 64   /* rows per chunk */
#define FK 128  /* key dimensions held (K <= FK: the rest are zeros) */
#define FV 32   /* value columns per work-group */
#define FWG 128 /* work-items: 4 warps */
#ifndef IDX32
#define IDX32 0
#endif
#if IDX32
typedef int foff_t;
#else
typedef long foff_t;
#endif
#ifndef FUSED_SKIP
#define FUSED_SKIP 0 /* measurement only: 4 q S, 8 scores, 16 state, 32 stores, 64 the loads after chunk 0 left out;
                        * scalar gates: 128 the scores' factors, 256 k's, 512 the decays of o and S, 1024 the scan */
#endif
/* FUSED_GA (scalar gate tensors): the next chunk's gates copied by cp.async instead of a register load
 * that each chunk step waited for (the state pass's G_ASYNC in attn_mma_nv.cl: 0.321 -> 0.258 ms) */
#ifndef FUSED_GA
#define FUSED_GA 1
#endif
#define FSYNC() asm volatile("bar.sync 0;" ::: "memory") /* no memory fence: outstanding loads go on */
/* Scalar gates (simple GLA: -DUSE_G=1, the tensor [B,T,H] of OCLA_GTYPE; retention: -DUSE_G_GAMMA=1,
 * the op's fixed log decays per head, fp32; common.cl's defaults), under common.cl's log-gate policy. */
#define FGATE (USE_G || USE_G_GAMMA)
/* FUSED_OEARLY: the outputs stored before the state's update rather than after it; so with a gate
 * (H200, B=4, T=2048, H=16, D=128, before against after: simple GLA 0.115 against 0.121 ms, linear
 * 0.100 against 0.095) */
#ifndef FUSED_OEARLY
#define FUSED_OEARLY FGATE
#endif
#if USE_G
#define FGATE_T ocla_gdata
#define FGATE_LD(p, i) OCLA_GLD(p, i)
#else
#define FGATE_T float
#define FGATE_LD(p, i) ((p)[i])
#endif

/* 2^x on MUFU ex2 and two fp32 as a bf16 pair rounded to nearest even (common.cl) */
#define f_exp2 ocla_nv_ex2
#define f_pack ocla_nv_bf16x2
/* A bf16 pair times (f0, f1), rounded again. */
OCLA_INLINE uint f_scale2(const uint u, const float f0, const float f1) {
    return f_pack(as_float(u << 16) * f0, as_float(u & 0xffff0000u) * f1);
}
/* Element (r, c) of a staged k chunk (FK columns: 16 groups, group g of row r at g ^ (r % 8)) and of
 * a staged v chunk or the state (FV columns: 4 groups, group g at g ^ ((r / 2) % 4)). */
#define KOFF(r, c) ((r)*FK + ((((c) >> 3) ^ ((r)&7)) << 3) + ((c)&7))
#define VOFF(r, c) ((r)*FV + ((((c) >> 3) ^ (((r) >> 1) & 3)) << 3) + ((c)&7))
/* WG=1 (the plan, where the context's sm_90a probe passed: runtime/attention_nv.c): the scores
 * S = q k^T of mma_fused_fwd on Hopper's warpgroup products (wgmma.mma_async m64n64k16, the work-group
 * one warpgroup) with q and k read from local memory by the products themselves, no ldmatrix: eight
 * products a chunk over the 128 key dimensions, issued once q S is done and waited for before the
 * scores' masks. q and k then lie in local memory as two halves of 64 key dimensions, rows of 128
 * bytes, 16-byte group c of row r at c ^ (r % 8) (the 128-byte swizzle). NVIDIA's OpenCL compiler
 * targets sm_90, where ptxas refuses wgmma, so each sm_90a instruction is written as a PTX comment
 * marked "// SM90A " (inline asm substitutes its operands all the same) and the runtime builds the
 * program's PTX again with the marks removed and ".target sm_90a" (runtime/program_cache.c; the
 * method: tests/tools/wgmma_probe.c). H200, bf16, H=16, D=128, against WG=0 in one call: B=2,
 * T=8192 linear 0.217 -> 0.196 ms, simple GLA 0.271 -> 0.250; B=4, T=2048 linear 0.098 -> 0.087,
 * simple GLA 0.115 -> 0.118. Issued before q S instead (the products overlapping the mma.sync
 * ones), B=2, T=8192 linear took 0.219-0.235. */
#ifndef WG
#define WG 0
#endif
#define WGOFF(r, c) (((c) >> 6) * (FC * 64) + (r)*64 + (((((c)&63) >> 3) ^ ((r)&7)) << 3) + ((c)&7))
#if WG
#define FKOFF WGOFF
#else
#define FKOFF KOFF
#endif
#define SM90A "// SM90A "
/* a 128-byte-swizzle descriptor: start p, leading offset 16 bytes, stride 1 KiB */
OCLA_INLINE ulong f_wgdesc(__local const void *p) {
    return (ulong)((((uint)(ulong)p) & 0x3FFFF) >> 4) | ((ulong)1 << 16) | ((ulong)(1024 >> 4) << 32) | ((ulong)1 << 62);
}
#define WG_FENCE_OPERANDS(a_)                                                                               \
    _Pragma("unroll") for (int j_ = 0; j_ < 8; j_++)                                                       \
        asm volatile("" : "+f"(a_[j_][0]), "+f"(a_[j_][1]), "+f"(a_[j_][2]), "+f"(a_[j_][3])::"memory");
/* d (8 x 4, mma.sync's fragment order) += A B^T, A: 64 x 16 at descriptor da, B: 64 x 16 at db */
#define WG_MMA64(d_, da_, db_)                                                                              \
    asm volatile(SM90A "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, " \
                 "%8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, " \
                 "%27, %28, %29, %30, %31}, %32, %33, 1, 1, 1, 0, 0;"                                      \
                 : "+f"(d_[0][0]), "+f"(d_[0][1]), "+f"(d_[0][2]), "+f"(d_[0][3]), "+f"(d_[1][0]), "+f"(d_[1][1]), \
                   "+f"(d_[1][2]), "+f"(d_[1][3]), "+f"(d_[2][0]), "+f"(d_[2][1]), "+f"(d_[2][2]), "+f"(d_[2][3]), \
                   "+f"(d_[3][0]), "+f"(d_[3][1]), "+f"(d_[3][2]), "+f"(d_[3][3]), "+f"(d_[4][0]), "+f"(d_[4][1]), \
                   "+f"(d_[4][2]), "+f"(d_[4][3]), "+f"(d_[5][0]), "+f"(d_[5][1]), "+f"(d_[5][2]), "+f"(d_[5][3]), \
                   "+f"(d_[6][0]), "+f"(d_[6][1]), "+f"(d_[6][2]), "+f"(d_[6][3]), "+f"(d_[7][0]), "+f"(d_[7][1]), \
                   "+f"(d_[7][2]), "+f"(d_[7][3])                                                           \
                 : "l"(da_), "l"(db_)                                                                       \
                 : "memory")

/* The sequence in segments (runtime/plan_la.c, ocla__fused_segments): FSEG=2 builds mma_fused_fwd
 * for a work-group per (value tile, row and head, segment of SEG chunks) that starts from the state
 * entering its segment; FSEG=1 builds mma_fused_part instead, which writes the blocks' records that
 * state comes from. Without FSEG, mma_fused_fwd walks every chunk (SEG, LB and part unread). */
#ifndef FSEG
#define FSEG 0
#endif
/* Both kernels' arguments: B T H K V, the scale, q k v (buffer, four strides), the gates (buffer,
 * three strides), initial and final states, o; chunks per segment, per block; the block records. */
#define FUSED_ARGS                                                                                          \
    const int B, const int T, const int H, const int K, const int V, const float scale,                    \
    __global const ushort *q, const ocla_idx qb, const ocla_idx qt, const ocla_idx qh, const ocla_idx qd,   \
    __global const ushort *k, const ocla_idx kb, const ocla_idx kt, const ocla_idx kh, const ocla_idx kd,   \
    __global const ushort *v, const ocla_idx vb, const ocla_idx vt, const ocla_idx vh, const ocla_idx vd,   \
    __global const FGATE_T *gt_, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh,                    \
    __global const float *h0, const int has_h0, __global float *hT, const int has_hT,                        \
    __global ushort *o, const ocla_idx ob, const ocla_idx ot, const ocla_idx oh, const ocla_idx od,         \
    const int SEG, const int LB, __global float *part
/* A block's record in part (block bk of row b, head h: record (b H + h) NB + bk, NB blocks a row and
 * head): the state S its LB chunks leave from a zero state, K x VP fp32 row-major (VP: V rounded up to
 * 32, key dimensions past K zero), then their total log gate times log2(e) (and 3 floats of padding) */
#define PREC(VP_) (FK * (VP_) + 4)
/* blocks per (row, head): those of the segments before the last */
#define FUSED_NB(NT_) ((((NT_) + SEG - 1) / SEG - 1) * (SEG / LB))
/* Both kernels' state update scales each key by exp(G_last - G_j) and rounds it to bf16 again:
 * KSCALE_FACTORS(ks) the factors of this work-item's keys 16 ks + 2 t4 (+ 1) and + 8 (+ 9) (gl: the
 * chunk's last cumulative gate, Gc: all of them), KSCALE(a) applies them to an A fragment of k^T
 * (those keys in a[0..1] and a[2..3]). */
#define KSCALE_FACTORS(ks_)                                                                                 \
    const int k0_ = 16 * (ks_) + 2 * t4;                                                                    \
    const float f0_ = f_exp2(gl - Gc[k0_]), f1_ = f_exp2(gl - Gc[k0_ + 1]), f2_ = f_exp2(gl - Gc[k0_ + 8]), \
                f3_ = f_exp2(gl - Gc[k0_ + 9]);
#define KSCALE(a_)                                                                                          \
    ((a_)[0] = f_scale2((a_)[0], f0_, f1_), (a_)[1] = f_scale2((a_)[1], f0_, f1_),                         \
     (a_)[2] = f_scale2((a_)[2], f2_, f3_), (a_)[3] = f_scale2((a_)[3], f2_, f3_))

#if USE_G && FUSED_GA
/* warp 0: the aligned 4-byte words holding the next chunk's gates of rows lane and lane + 32 (gst[lane],
 * gst[lane + 32]), by cp.async (a 16-bit gate that is the tensor's last element at a word's start: its
 * 2 bytes alone); GATE_WAIT takes the gates out of them */
#define GATE_AT(r_) (gbase + (foff_t)(r_) * (foff_t)gt)
#define GATE_OFF(r_) ((int)((uintptr_t)GATE_AT(min(r_, T - 1)) & 3))
#define GATE_END (gt_ + ((foff_t)(B - 1) * gb + (foff_t)(T - 1) * gt + (foff_t)(H - 1) * gh)) /* the tensor's last gate */
#define GATE_LOAD(n_)                                                                                       \
    if (w == 0) {                                                                                           \
        _Pragma("unroll") for (int u_ = 0; u_ < 2; u_++) {                                                  \
            const int r_ = (n_)*FC + lane + 32 * u_, ok_ = r_ < T;                                          \
            __global const FGATE_T *ge_ = ok_ ? GATE_AT(r_) : gbase;                                        \
            const int nb_ = !ok_ ? 0 : sizeof(FGATE_T) < 4 && ((uintptr_t)ge_ & 3) == 0 && ge_ == gend ? 2 : 4; \
            ocla_nv_cp_async4(&gst[lane + 32 * u_],                                                         \
                              (__global const void *)((uintptr_t)ge_ & ~(uintptr_t)3), nb_);                \
        }                                                                                                   \
    }                                                                                                       \
    asm volatile("cp.async.commit_group;" ::: "memory");
#define GATE_WAIT(n_)                                                                                       \
    asm volatile("cp.async.wait_all;" ::: "memory");                                                        \
    _Pragma("unroll") for (int u_ = 0; u_ < 2; u_++)                                                        \
        graw[u_] = ocla_nv_gate_of_word(gst[lane + 32 * u_], GATE_OFF((n_)*FC + lane + 32 * u_));
#elif USE_G
#define GATE_LOAD(n_)                                                                                       \
    if (w == 0) {                                                                                           \
        graw[0] = FGATE_LD(gbase, (foff_t)min((n_)*FC + lane, T - 1) * (foff_t)gt);                         \
        graw[1] = FGATE_LD(gbase, (foff_t)min((n_)*FC + lane + 32, T - 1) * (foff_t)gt);                    \
    }
#elif USE_G_GAMMA
#define GATE_LOAD(n_) graw[0] = graw[1] = gt_[h];
#else
#define GATE_LOAD(n_)
#endif
#if FGATE
#ifndef GATE_WAIT
#define GATE_WAIT(n_)
#endif
/* warp 0: the next chunk's cumulative gates into Gc (two 32-lane scans) */
#define GATE_STORE(n_)                                                                                      \
    if (w == 0) {                                                                                           \
        GATE_WAIT(n_)                                                                                       \
        float x0_ = (n_)*FC + lane < T ? ocla_log_gate(graw[0]) : 0.0f;                                    \
        float x1_ = (n_)*FC + lane + 32 < T ? ocla_log_gate(graw[1]) : 0.0f;                               \
        _Pragma("unroll") for (int o_ = 1; o_ < 32 && !(FUSED_SKIP & 1024); o_ <<= 1) {                     \
            const float y0_ = ocla_nv_shfl_up(x0_, o_), y1_ = ocla_nv_shfl_up(x1_, o_);                     \
            if (lane >= o_) x0_ += y0_, x1_ += y1_;                                                         \
        }                                                                                                   \
        Gc[lane] = M_LOG2E_F * x0_, Gc[lane + 32] = M_LOG2E_F * (x1_ + ocla_nv_shfl_idx(x0_, 31));          \
    }
#else
#define GATE_STORE(n_)
#endif

#if FSEG == 1
/* mma_fused_part: block bk's record (chunks LB bk .. LB bk + LB - 1 of row b, head h): from a zero
 * state, S = exp(G_last) S + sum_j (k_j exp(G_last - G_j)) v_j^T per chunk as mma_fused_fwd's
 * update (k scaled and rounded to bf16 the same way), for value columns v0 .. v0 + 127. The blocks
 * of a row and head run side by side. Work-group: 8 warps; warp w owns state rows 16 w .. 16 w + 15,
 * all 128 columns (with a gate; without one PART_2D's 64 x 32 tiles); the next chunk's k and v are
 * loaded into registers under this chunk's products.
 * Local memory: k and the value slab, 16 KiB each (the slab's 16 groups permuted as k's). */
#define PWG 256
#define PV 128
/* PART_2D: warps split the state 2 x 4 (64 rows x 32 columns each) rather than by rows (16 x 128):
 * the key step's fragments read 3 KiB of local memory a warp instead of 9. Without a gate only: H200,
 * bf16, linear attention, the blocks at B=1, T=8192, H=16, D=128 0.033 -> 0.029-0.031 ms; with
 * scalar gates each warp scales four fragments of k instead of one, and the blocks took 0.036-0.038
 * -> 0.039-0.040 ms (docs/BENCHMARKS.md) */
#ifndef PART_2D
#define PART_2D (!FGATE)
#endif
__kernel __attribute__((reqd_work_group_size(PWG, 1, 1))) void mma_fused_part(FUSED_ARGS) {
    (void)B, (void)scale, (void)q, (void)qb, (void)qt, (void)qh, (void)qd, (void)kd, (void)vd;
    (void)gt_, (void)gb, (void)gt, (void)gh, (void)h0, (void)has_h0, (void)hT, (void)has_hT;
    (void)o, (void)ob, (void)ot, (void)oh, (void)od;
    __local ushort Ks[FC * FK] __attribute__((aligned(16)));
    __local ushort Vs[FC * PV] __attribute__((aligned(16)));
#if FGATE
    __local float Gc[FC]; /* as in mma_fused_fwd */
    float graw[2];
#endif
#if USE_G && FUSED_GA
    __local uint gst[FC];
#endif
    const int tid = get_local_id(0), lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const int lm = lane >> 3, lr = lane & 7;
    const int v0 = get_group_id(0) * PV, bh = get_group_id(1), b = bh / H, h = bh % H, bk = get_group_id(2);
    const int NT = (T + FC - 1) / FC, n0 = bk * LB, n1 = min(NT, n0 + LB), VP = (V + 31) / 32 * 32;
    __global const ushort *kbase = k + (b * kb + h * kh);
    __global const ushort *vbase = v + (b * vb + h * vh);
#if USE_G
    __global const FGATE_T *gbase = gt_ + (b * gb + h * gh);
#if FUSED_GA
    __global const FGATE_T *gend = GATE_END;
#endif
#endif
    /* chunk n's k rows and value slab: 4 + 4 groups of 16 bytes per work-item, clamped inside the
     * tensors; PART_STORE zeros what lies outside T, K and V */
#define PART_LOAD(n_)                                                                                       \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FK / 8 / PWG; i_++) {                                      \
        const int e_ = tid + PWG * i_;                                                                      \
        const foff_t r_ = min((n_)*FC + (e_ >> 4), T - 1);                                                  \
        kr[i_] = *(__global const uint4 *)(kbase + r_ * (foff_t)kt + min(8 * (e_ & 15), K - 8));            \
        vr[i_] = *(__global const uint4 *)(vbase + r_ * (foff_t)vt + min(v0 + 8 * (e_ & 15), V - 8));       \
    }                                                                                                       \
    GATE_LOAD(n_)
#define PART_STORE(n_)                                                                                      \
    GATE_STORE(n_)                                                                                          \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FK / 8 / PWG; i_++) {                                      \
        const int e_ = tid + PWG * i_, in_ = (n_)*FC + (e_ >> 4) < T;                                       \
        *(__local uint4 *)&Ks[KOFF(e_ >> 4, 8 * (e_ & 15))] = in_ && 8 * (e_ & 15) < K ? kr[i_] : (uint4)(0u); \
        *(__local uint4 *)&Vs[KOFF(e_ >> 4, 8 * (e_ & 15))] =                                              \
            in_ && v0 + 8 * (e_ & 15) < V ? vr[i_] : (uint4)(0u);                                           \
    }
#if PART_2D
    /* warp w owns state rows 64 wr .. 64 wr + 63 (wr = w / 4: four 16-row tiles mt) and columns
     * 32 wc .. 32 wc + 31 (wc = w % 4: four 8-column tiles j); sacc[mt][j][e]: row 64 wr + 16 mt + g
     * (+ 8 for e >= 2), column 32 wc + 8 j + 2 t4 (+ 1 for odd e) */
    const int wr = w >> 2, wc = w & 3;
    float sacc[4][4][4], gsum = 0.0f;
#define PART_ACC(stmt_)                                                                                     \
    _Pragma("unroll") for (int mt = 0; mt < 4; mt++) _Pragma("unroll") for (int j = 0; j < 4; j++)         \
        _Pragma("unroll") for (int e = 0; e < 4; e++) stmt_;
#else
    float sacc[PV / 8][4], gsum = 0.0f; /* columns 8 j + 2 t4 (+ 1), rows 16 w + g (+ 8); the total gate */
#define PART_ACC(stmt_)                                                                                     \
    _Pragma("unroll") for (int j = 0; j < PV / 8; j++) _Pragma("unroll") for (int e = 0; e < 4; e++) stmt_;
#endif
#if PART_2D
    PART_ACC(sacc[mt][j][e] = 0.0f)
#else
    PART_ACC(sacc[j][e] = 0.0f)
#endif
    uint4 kr[FC * FK / 8 / PWG], vr[FC * FK / 8 / PWG];
    PART_LOAD(n0);
    PART_STORE(n0);
    for (int n = n0; n < n1; n++) {
        if (n + 1 < n1) PART_LOAD(n + 1);
        FSYNC();
#if FGATE
        const float gl = Gc[FC - 1];
        gsum += gl;
        {
            const float el = f_exp2(gl);
#if PART_2D
            PART_ACC(sacc[mt][j][e] *= el)
#else
            PART_ACC(sacc[j][e] *= el)
#endif
        }
#endif
#pragma unroll
        for (int ks = 0; ks < FC / 16; ks++) {
#if PART_2D
            /* A: k^T of this warp's 64 state rows (4 fragments), B: v of its 32 columns (2 ldmatrix) --
             * 3 KiB of local reads a warp and key step where the row split reads 9 */
            uint a[4][4], bv[4][2];
#pragma unroll
            for (int mt = 0; mt < 4; mt++)
                ocla_nv_ldsm_t(a[mt], &Ks[KOFF(16 * ks + 8 * (lm >> 1) + lr, 64 * wr + 16 * mt + 8 * (lm & 1))]);
#if FGATE
            {
                KSCALE_FACTORS(ks)
#pragma unroll
                for (int mt = 0; mt < 4; mt++) KSCALE(a[mt]);
            }
#endif
#pragma unroll
            for (int jv = 0; jv < 4; jv += 2) {
                uint r[4];
                ocla_nv_ldsm_t(r, &Vs[KOFF(16 * ks + 8 * (lm & 1) + lr, 32 * wc + 8 * (jv + (lm >> 1)))]);
                bv[jv][0] = r[0], bv[jv][1] = r[1], bv[jv + 1][0] = r[2], bv[jv + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < 4; mt++)
#pragma unroll
                for (int j = 0; j < 4; j++) ocla_nv_mma_bf16(sacc[mt][j], a[mt], bv[j][0], bv[j][1]);
#else
            uint a[4];
            ocla_nv_ldsm_t(a, &Ks[KOFF(16 * ks + 8 * (lm >> 1) + lr, 16 * w + 8 * (lm & 1))]);
#if FGATE /* keys 16 ks + 2 t4 (+ 1) in a[0..1], + 8 in a[2..3], as mma_fused_fwd scales them */
            {
                KSCALE_FACTORS(ks)
                KSCALE(a);
            }
#endif
#pragma unroll
            for (int jv = 0; jv < PV / 8; jv += 2) {
                uint r[4];
                ocla_nv_ldsm_t(r, &Vs[KOFF(16 * ks + 8 * (lm & 1) + lr, 8 * (jv + (lm >> 1)))]);
                ocla_nv_mma_bf16(sacc[jv], a, r[0], r[1]);
                ocla_nv_mma_bf16(sacc[jv + 1], a, r[2], r[3]);
            }
#endif
        }
        FSYNC();
        if (n + 1 < n1) PART_STORE(n + 1);
    }
    __global float *rec = part + (long)(bh * FUSED_NB(NT) + bk) * (long)PREC(VP);
    /* the record through local memory (k's and the slab's, free after the last chunk's barrier; 4 KiB
     * a warp), then out as whole rows of 16-byte stores. Stored from the fragments, 8 bytes a
     * work-item and row, the blocks took 0.045 ms instead of 0.034 at B=1, T=8192, H=16, D=128 (H200,
     * linear, the row split). */
    __local float *rw = (__local float *)(w < 4 ? Ks : Vs) + 1024 * (w & 3);
#if PART_2D
    /* a 16-row tile mt at a time: 16 x 32 floats, 8-column group c of row r at c ^ (r % 4); read back
     * as 4 rows of 8 16-byte groups a load */
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                const int r = g + 8 * hf;
                *(__local float2 *)&rw[32 * r + 8 * (j ^ (r & 3)) + 2 * t4] =
                    (float2)(sacc[mt][j][2 * hf], sacc[mt][j][2 * hf + 1]);
            }
        asm volatile("bar.warp.sync -1;" ::: "memory");
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int r = (lane >> 3) + 4 * i, q4 = lane & 7, c = v0 + 32 * wc + 4 * q4;
            const float4 x = *(__local const float4 *)&rw[32 * r + 8 * ((q4 >> 1) ^ (r & 3)) + 4 * (q4 & 1)];
            if (c < VP) *(__global float4 *)(rec + (64 * wr + 16 * mt + r) * VP + c) = x;
        }
        asm volatile("bar.warp.sync -1;" ::: "memory");
    }
#else
    /* 8 of a warp's rows at a time (warp w: 8-column group c of row r at c ^ r) */
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
#pragma unroll
        for (int j = 0; j < PV / 8; j++)
            *(__local float2 *)&rw[128 * g + 8 * (j ^ g) + 2 * t4] = (float2)(sacc[j][2 * hf], sacc[j][2 * hf + 1]);
        asm volatile("bar.warp.sync -1;" ::: "memory");
#pragma unroll
        for (int i = 0; i < 8; i++) { /* row i, 16-byte group lane (columns 4 lane .. 4 lane + 3) */
            const float4 x = *(__local const float4 *)&rw[128 * i + 8 * ((lane >> 1) ^ i) + 4 * (lane & 1)];
            if (v0 + 4 * lane < VP) *(__global float4 *)(rec + (16 * w + 8 * hf + i) * VP + v0 + 4 * lane) = x;
        }
        asm volatile("bar.warp.sync -1;" ::: "memory");
    }
#endif
    if (tid == 0 && v0 == 0) rec[FK * VP] = gsum;
}
#else
__kernel __attribute__((reqd_work_group_size(FWG, 1, 1))) void mma_fused_fwd(FUSED_ARGS) {
    (void)B, (void)qd, (void)kd, (void)vd, (void)od; /* unit last strides (the plan's VEC) */
    (void)gt_, (void)gb, (void)gt, (void)gh, (void)SEG, (void)LB, (void)part;
    __local ushort Qs[FC * FK] __attribute__((aligned(1024))); /* 1 KiB: the swizzle's atoms (WG) */
    __local ushort Ks[FC * FK] __attribute__((aligned(1024)));
    __local ushort Vs[FC * FV] __attribute__((aligned(16)));
    __local ushort Ss[FK * FV] __attribute__((aligned(16)));
#if FGATE
    __local float Gc[FC]; /* the chunk's cumulative log gates (inclusive; 0 past T) times log2(e), for exp2 */
    float graw[2];        /* warp 0: the next chunk's gates of rows lane and lane + 32, as stored */
#endif
#if USE_G && FUSED_GA
    __local uint gst[FC]; /* warp 0's copies of the words holding the next chunk's gates */
#endif
    const int tid = get_local_id(0), lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const int lm = lane >> 3, lr = lane & 7; /* ldmatrix: this lane's matrix and row in it */
    const int v0 = get_group_id(0) * FV, bh = get_group_id(1), b = bh / H, h = bh % H;
    const int NT = (T + FC - 1) / FC;
#if FSEG == 2 /* segment get_group_id(2): its SEG chunks */
    const int n0 = get_group_id(2) * SEG, n1 = min(NT, n0 + SEG);
#else
    const int n0 = 0, n1 = NT;
#endif
    __global const ushort *qbase = q + (b * qb + h * qh);
    __global const ushort *kbase = k + (b * kb + h * kh);
    __global const ushort *vbase = v + (b * vb + h * vh + v0);
    __global ushort *obase = o + (b * ob + h * oh + v0);
#if USE_G
    __global const FGATE_T *gbase = gt_ + (b * gb + h * gh);
#if FUSED_GA /* the gate tensor's last element */
    __global const FGATE_T *gend = GATE_END;
#endif
#endif

    /* chunk n's q and k rows (8 groups of 16 bytes each per work-item, two rows of 256 bytes per warp
     * and load) and value tile (2 groups) into registers, from addresses clamped inside the tensors
     * (no branches); QKV_STORE(n) zeros what lies outside T, K and V as it stores them into local
     * memory, so nothing waits for the loads before then (a select at the load stalls the warp
     * there) */
#define QKV_ROW(i_) (tid + FWG * (i_))
#define QKV_LOAD(n_)                                                                                        \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FK / 8 / FWG; i_++) {                                      \
        const int e_ = QKV_ROW(i_);                                                                         \
        const foff_t r_ = min((n_)*FC + (e_ >> 4), T - 1), c_ = min(8 * (e_ & 15), K - 8);                  \
        qr[i_] = *(__global const uint4 *)(qbase + r_ * (foff_t)qt + c_);                                   \
        kr[i_] = *(__global const uint4 *)(kbase + r_ * (foff_t)kt + c_);                                   \
    }                                                                                                       \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FV / 8 / FWG; i_++) {                                      \
        const int e_ = QKV_ROW(i_);                                                                         \
        vr[i_] = *(__global const uint4 *)(vbase + min((n_)*FC + (e_ >> 2), T - 1) * (foff_t)vt +           \
                                           min(8 * (e_ & 3), V - v0 - 8));                                   \
    }                                                                                                       \
    GATE_LOAD(n_)
#define QKV_STORE(n_)                                                                                       \
    GATE_STORE(n_)                                                                                          \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FK / 8 / FWG; i_++) {                                      \
        const int e_ = QKV_ROW(i_), ok_ = (n_)*FC + (e_ >> 4) < T && 8 * (e_ & 15) < K;                     \
        *(__local uint4 *)&Qs[FKOFF(e_ >> 4, 8 * (e_ & 15))] = ok_ ? qr[i_] : (uint4)(0u);                  \
        *(__local uint4 *)&Ks[FKOFF(e_ >> 4, 8 * (e_ & 15))] = ok_ ? kr[i_] : (uint4)(0u);                  \
    }                                                                                                       \
    _Pragma("unroll") for (int i_ = 0; i_ < FC * FV / 8 / FWG; i_++) {                                      \
        const int e_ = QKV_ROW(i_), ok_ = (n_)*FC + (e_ >> 2) < T && v0 + 8 * (e_ & 3) < V;                 \
        *(__local uint4 *)&Vs[VOFF(e_ >> 2, 8 * (e_ & 3))] = ok_ ? vr[i_] : (uint4)(0u);                    \
    }

    /* the state: warp w's rows 32 w + 16 mt + gr (+ 8), columns 8 j + 2 t4 (+ 1); FOR_STATE runs its
     * statement for each of this work-item's elements sacc[mt][j][e] = S[d][c], c within the tensor */
    float sacc[2][4][4];
#define FOR_STATE(stmt_)                                                                                    \
    _Pragma("unroll") for (int mt = 0; mt < 2; mt++) _Pragma("unroll") for (int j = 0; j < 4; j++)         \
        _Pragma("unroll") for (int e = 0; e < 4; e++) {                                                     \
        const int d = 32 * w + 16 * mt + g + 8 * (e >> 1), c = v0 + 8 * j + 2 * t4 + (e & 1);              \
        stmt_;                                                                                              \
    }
    FOR_STATE(sacc[mt][j][e] = has_h0 && d < K && c < V ? h0[((ocla_idx)bh * K + d) * V + c] : 0.0f);
#if FSEG == 2
    { /* the state entering the segment, from the records of the nbk blocks before it: S_in =
       * exp(g_0 + .. + g_{nbk-1}) S0 + sum_bk exp(g_{bk+1} + .. + g_{nbk-1}) S_bk (g: a block's total
       * log gate), the blocks from the last back, two at a time so that their loads overlap */
        const int VP = (V + 31) / 32 * 32, nbk = n0 / LB;
        __global const float *r0_ = part + (long)bh * FUSED_NB(NT) * (long)PREC(VP);
        float acc[2][4][4], tail = 0.0f; /* the blocks' sum; the log gate after the block at hand */
        FOR_STATE(acc[mt][j][e] = 0.0f);
#define REC_ADD(bk_, f_)                                                                                    \
    _Pragma("unroll") for (int mt = 0; mt < 2; mt++) _Pragma("unroll") for (int j = 0; j < 4; j++)         \
        _Pragma("unroll") for (int e = 0; e < 4; e += 2) {                                                  \
        const float2 x_ = vload2(0, r0_ + (long)(bk_)*PREC(VP) + (32 * w + 16 * mt + g + 4 * e) * VP +      \
                                        v0 + 8 * j + 2 * t4);                                               \
        acc[mt][j][e] = fma(f_, x_.x, acc[mt][j][e]), acc[mt][j][e + 1] = fma(f_, x_.y, acc[mt][j][e + 1]); \
    }
        int bk = nbk - 1;
        for (; bk >= 1; bk -= 2) {
            const float g1 = r0_[(long)bk * PREC(VP) + FK * VP], g0 = r0_[(long)(bk - 1) * PREC(VP) + FK * VP];
            const float f1 = exp2(tail), f0 = exp2(tail + g1);
            REC_ADD(bk, f1)
            REC_ADD(bk - 1, f0)
            tail += g1 + g0;
        }
        if (bk == 0) {
            const float f0 = exp2(tail);
            REC_ADD(0, f0)
            tail += r0_[FK * VP];
        }
        const float fh = exp2(tail);
        FOR_STATE(sacc[mt][j][e] = fma(fh, sacc[mt][j][e], acc[mt][j][e]));
    }
#endif
#define SSTORE()                                                                                            \
    _Pragma("unroll") for (int mt = 0; mt < 2; mt++) _Pragma("unroll") for (int j = 0; j < 4; j++) {       \
        const int d_ = 32 * w + 16 * mt + g, c_ = 8 * j + 2 * t4;                                           \
        *(__local uint *)&Ss[VOFF(d_, c_)] = f_pack(sacc[mt][j][0], sacc[mt][j][1]);                        \
        *(__local uint *)&Ss[VOFF(d_ + 8, c_)] = f_pack(sacc[mt][j][2], sacc[mt][j][3]);                    \
    }
/* the outputs (rows 16 w + g (+ 8), columns 8 j + 2 t4 (+ 1)) as bf16 through this warp's own q rows
 * in local memory, which it alone reads and is done with, then out as 16-byte groups: row 16 w + r,
 * group jj of 8 columns at jj ^ ((r / 2) % 4). Stored from the fragments, 4 bytes a work-item and row,
 * they took 0.04 of 0.25 ms at B=2, T=8192, H=16, D=128 (H200, linear attention). */
#define FUSED_OUT()                                                                                         \
    {                                                                                                       \
        __local uint *ow_ = (__local uint *)&Qs[16 * w * (WG ? 64 : FK)];                                    \
        _Pragma("unroll") for (int j_ = 0; j_ < 4; j_++) {                                                  \
            ow_[16 * g + 4 * (j_ ^ ((g >> 1) & 3)) + t4] = f_pack(scale * oacc[j_][0], scale * oacc[j_][1]); \
            ow_[16 * (g + 8) + 4 * (j_ ^ ((g >> 1) & 3)) + t4] =                                            \
                f_pack(scale * oacc[j_][2], scale * oacc[j_][3]);                                           \
        }                                                                                                   \
        asm volatile("bar.warp.sync -1;" ::: "memory");                                                     \
        _Pragma("unroll") for (int u_ = 0; u_ < 2; u_++) {                                                  \
            const int e_ = lane + 32 * u_, r_ = e_ >> 2, jj_ = e_ & 3, row_ = n * FC + 16 * w + r_;          \
            const uint4 x_ = *(__local const uint4 *)&ow_[16 * r_ + 4 * (jj_ ^ ((r_ >> 1) & 3))];          \
            if (row_ < T && v0 + 8 * jj_ < V && !(FUSED_SKIP & 32))                                         \
                *(__global uint4 *)(obase + (foff_t)row_ * (foff_t)ot + 8 * jj_) = x_;                      \
        }                                                                                                   \
    }
    uint4 qr[FC * FK / 8 / FWG], kr[FC * FK / 8 / FWG], vr[FC * FV / 8 / FWG];
    QKV_LOAD(n0);
    SSTORE();
    QKV_STORE(n0);
#if WG /* the stores seen by the products' reads (the async proxy) after the barrier */
    asm volatile(SM90A "fence.proxy.async.shared::cta;" ::: "memory");
#endif

    for (int n = n0; n < n1; n++) {
#if !(FUSED_SKIP & 64)
        if (n + 1 < n1) QKV_LOAD(n + 1); /* lands under this chunk's products */
#endif
        FSYNC();                         /* chunk n and S in local memory */
        __local const ushort *Kc = Ks, *Vc = Vs;
#if FGATE
        const float gl = Gc[FC - 1], grow[2] = {Gc[16 * w + g], Gc[16 * w + g + 8]}; /* last row; own rows */
#endif
        /* per 16 key dimensions kk: q's A fragment of this warp's rows (ldmatrix of Qs: 4 registers, not
         * the 32 all eight would hold), o = q S (the state entering the chunk) and the 16 x 64 scores
         * with all the chunk's keys. Every warp runs every key step and key dimension (zeros where
         * masked or past K): per-warp branches (warp w's keys 0 .. 16 w + 15 only) serialise the
         * products and took B=2, T=8192 from 0.38 to 0.54 ms. The scores are masked to j <= i below,
         * then o += P v (P: the scores as bf16 A fragments, 16 keys a step). */
        float oacc[4][4], sc[8][4];
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) oacc[j][e] = 0.0f, sc[j][e] = sc[j + 4][e] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < FK / 16; kk++) {
            uint qf[4];
            ocla_nv_ldsm(qf, &Qs[FKOFF(16 * w + 8 * (lm & 1) + lr, 16 * kk + 8 * (lm >> 1))]);
#if !(FUSED_SKIP & 4)
#pragma unroll
            for (int jv = 0; jv < 4; jv += 2) {
                uint r[4];
                ocla_nv_ldsm_t(r, &Ss[VOFF(16 * kk + 8 * (lm & 1) + lr, 8 * (jv + (lm >> 1)))]);
                ocla_nv_mma_bf16(oacc[jv], qf, r[0], r[1]);
                ocla_nv_mma_bf16(oacc[jv + 1], qf, r[2], r[3]);
            }
#endif
#if !(FUSED_SKIP & 8) && !WG
#pragma unroll
            for (int jp = 0; jp < 4; jp++) {
                uint r[4];
                ocla_nv_ldsm(r, &Kc[KOFF(16 * jp + 8 * (lm >> 1) + lr, 16 * kk + 8 * (lm & 1))]);
                ocla_nv_mma_bf16(sc[2 * jp], qf, r[0], r[1]);
                ocla_nv_mma_bf16(sc[2 * jp + 1], qf, r[2], r[3]);
            }
#endif
        }
#if WG && !(FUSED_SKIP & 8)
        { /* the 64 x 64 scores of the work-group: half kk / 4 of q and k (8 KiB: 512 16-byte units), 32
           * bytes a product within it */
            const ulong dq = f_wgdesc(Qs), dk = f_wgdesc(Kc);
            WG_FENCE_OPERANDS(sc)
            asm volatile(SM90A "wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < FK / 16; kk++)
                WG_MMA64(sc, dq + (ulong)(512 * (kk >> 2) + 2 * (kk & 3)), dk + (ulong)(512 * (kk >> 2) + 2 * (kk & 3)));
            asm volatile(SM90A "wgmma.commit_group.sync.aligned;" ::: "memory");
            asm volatile(SM90A "wgmma.wait_group.sync.aligned 0;" ::: "memory");
            WG_FENCE_OPERANDS(sc)
        }
#endif
#if FGATE && !(FUSED_SKIP & 512)
        { /* the state's part decays to row i: exp(G_i) */
            const float e0 = f_exp2(grow[0]), e1 = f_exp2(grow[1]);
#pragma unroll
            for (int j = 0; j < 4; j++) oacc[j][0] *= e0, oacc[j][1] *= e0, oacc[j][2] *= e1, oacc[j][3] *= e1;
        }
#endif
#if !(FUSED_SKIP & 8)
#pragma unroll
        for (int jp = 0; jp < 4; jp++) {
            uint pa[4];
#pragma unroll
            for (int e = 0; e < 4; e++) { /* key 16 jp + 8 (e / 2) + 2 t4 (+1) against row 16 w + g (+8) */
                const int key = 16 * jp + 8 * (e >> 1) + 2 * t4, row = 16 * w + g + 8 * (e & 1);
                const float *s_ = sc[2 * jp + (e >> 1)] + 2 * (e & 1);
#if FGATE /* times exp(G_i - G_j) <= 1 */
                const float gi = grow[e & 1];
#if FUSED_SKIP & 128
                const float x0 = s_[0] + gi, x1 = s_[1];
#else
                const float x0 = s_[0] * f_exp2(fmin(gi - Gc[key], 0.0f)),
                            x1 = s_[1] * f_exp2(fmin(gi - Gc[key + 1], 0.0f));
#endif
                pa[e] = f_pack(key <= row ? x0 : 0.0f, key + 1 <= row ? x1 : 0.0f);
#else
                pa[e] = f_pack(key <= row ? s_[0] : 0.0f, key + 1 <= row ? s_[1] : 0.0f);
#endif
            }
#pragma unroll
            for (int jv = 0; jv < 4; jv += 2) {
                uint r[4];
                ocla_nv_ldsm_t(r, &Vc[VOFF(16 * jp + 8 * (lm & 1) + lr, 8 * (jv + (lm >> 1)))]);
                ocla_nv_mma_bf16(oacc[jv], pa, r[0], r[1]);
                ocla_nv_mma_bf16(oacc[jv + 1], pa, r[2], r[3]);
            }
        }
#endif
#if FUSED_OEARLY
        FUSED_OUT();
#endif
        /* S += k^T v for this warp's state rows */
#if !(FUSED_SKIP & 16)
#pragma unroll
        for (int ks = 0; ks < FC / 16; ks++) {
            uint a[2][4], bv[4][2];
#if FGATE && !(FUSED_SKIP & 512)
            if (ks == 0) { /* S decays over the chunk: exp(G_last) */
                const float el = f_exp2(gl);
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
#pragma unroll
                    for (int j = 0; j < 4; j++)
#pragma unroll
                        for (int e = 0; e < 4; e++) sacc[mt][j][e] *= el;
            }
#endif
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
                ocla_nv_ldsm_t(a[mt], &Kc[FKOFF(16 * ks + 8 * (lm >> 1) + lr, 32 * w + 16 * mt + 8 * (lm & 1))]);
#if FGATE && !(FUSED_SKIP & 256)
            /* k_j exp(G_last - G_j) (<= k_j), rounded to bf16 as fla rounds its scaled v: keys 16 ks + 2 t4
             * (+ 1) in a[.][0..1], + 8 in a[.][2..3] */
            {
                KSCALE_FACTORS(ks)
#pragma unroll
                for (int mt = 0; mt < 2; mt++) KSCALE(a[mt]);
            }
#endif
#pragma unroll
            for (int jv = 0; jv < 4; jv += 2) {
                uint r[4];
                ocla_nv_ldsm_t(r, &Vc[VOFF(16 * ks + 8 * (lm & 1) + lr, 8 * (jv + (lm >> 1)))]);
                bv[jv][0] = r[0], bv[jv][1] = r[1], bv[jv + 1][0] = r[2], bv[jv + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int j = 0; j < 4; j++) ocla_nv_mma_bf16(sacc[mt][j], a[mt], bv[j][0], bv[j][1]);
        }
#endif
#if !FUSED_OEARLY
        FUSED_OUT();
#endif
        FSYNC(); /* every warp is done with chunk n and S */
        SSTORE();
#if !(FUSED_SKIP & 64)
        if (n + 1 < n1) QKV_STORE(n + 1);
#endif
#if WG
        asm volatile(SM90A "fence.proxy.async.shared::cta;" ::: "memory");
#endif
    }
    if (has_hT && n1 == NT) FOR_STATE(if (d < K && c < V) hT[((ocla_idx)bh * K + d) * V + c] = sacc[mt][j][e]);
}
#endif /* FSEG */
#if WG && FSEG != 1
/* wg_probe (runtime/attention_nv.c, once per context, in the program of the unsegmented pass): the
 * scores' products alone, as mma_fused_fwd
 * runs them, on q[r][c] = (r + 3c) % 7 - 3 and k[n][c] = (2n + c) % 5 - 2 (64 rows and keys, 128
 * dimensions; exact in bf16 and in the fp32 sums): out[32 t + 4 j + e] = work-item t's scores sc[j][e] */
__kernel __attribute__((reqd_work_group_size(FWG, 1, 1))) void wg_probe(__global float *out) {
    __local ushort Qs[FC * FK] __attribute__((aligned(1024)));
    __local ushort Kc[FC * FK] __attribute__((aligned(1024)));
    const int tid = get_local_id(0);
    for (int i = tid; i < FC * FK; i += FWG) {
        const int r = i / FK, c = i % FK;
        Qs[WGOFF(r, c)] = (ushort)(as_uint((float)((r + 3 * c) % 7 - 3)) >> 16);
        Kc[WGOFF(r, c)] = (ushort)(as_uint((float)((2 * r + c) % 5 - 2)) >> 16);
    }
    asm volatile(SM90A "fence.proxy.async.shared::cta;" ::: "memory");
    barrier(CLK_LOCAL_MEM_FENCE);
    float sc[8][4];
    for (int j = 0; j < 8; j++) sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.0f;
    const ulong dq = f_wgdesc(Qs), dk = f_wgdesc(Kc);
    WG_FENCE_OPERANDS(sc)
    asm volatile(SM90A "wgmma.fence.sync.aligned;" ::: "memory");
    for (int kk = 0; kk < FK / 16; kk++)
        WG_MMA64(sc, dq + (ulong)(512 * (kk >> 2) + 2 * (kk & 3)), dk + (ulong)(512 * (kk >> 2) + 2 * (kk & 3)));
    asm volatile(SM90A "wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile(SM90A "wgmma.wait_group.sync.aligned 0;" ::: "memory");
    WG_FENCE_OPERANDS(sc)
    for (int j = 0; j < 8; j++)
        for (int e = 0; e < 4; e++) out[32 * tid + 4 * j + e] = sc[j][e];
}
#endif
#endif
#endif
