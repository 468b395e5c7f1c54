/* SPDX-License-Identifier: MIT */
/* softmax_mma_nv.cl: NVIDIA tensor-core forward of softmax attention (flash-attention style), fp32
 * in and out. The math is softmax.cl's (the portable kernel, which stays the reference and the
 * fallback):
 *   o[b,t,h,:] = sum_s p_ts v[b,s,h,:],  p_ts = exp(x_ts - m_t) / l_t,  x_ts = scale q[b,t,h,:].k[b,s,h,:]
 *   (s <= t when causal), with the running maximum m_t and sum l_t updated per key block (online
 *   softmax). Here in base 2: q is scaled by scale * log2(e) as it is loaded, so the scores are
 *   x_ts log2(e) and p = exp2(x2 - m2) is the same weight.
 *
 * Guarded vendor path: built only on NVIDIA's OpenCL (inline PTX needs __NV_CL_C_VERSION; elsewhere
 * the file is empty). Planned by runtime/plan_softmax.c where the device has the tensor-core path
 * (its probe: runtime/attention_nv.c), for fp32 tensors with 16-byte rows (unit last stride, the
 * offset and the other strides multiples of 4: cp.async copies 16 bytes), K = DK and V = DV in
 * {64, 128}. Any Tk (non-causal cross attention too); causal needs Tk = T (the op checks).
 *
 * Work-group: 128 work-items = 4 warps, 64 query rows of one (b, h) (grid: B*H x query blocks, the
 * longest causal rows first); warp w owns rows 16 w .. 16 w + 15 of the block. Per key block of 64
 * keys (up to the diagonal block when causal):
 *   S = Q K^T (16 x 64 per warp: 8 mma tiles of 16x8; Q's A fragments in registers all along
 *   (QREG 1, the default at DK 64), or read again from global memory at each K stage, before its
 *   wait (QREG 0, the default at DK 128: 48 fewer registers; cp.async.cg bypasses L1, so Q's 32 KB
 *   per work-group stay there)),
 *   mask (the diagonal block and a last partial block only), row maxima over the quad of lanes
 *   that shares a row, rescale of O and l, P = exp2(S - m) in place, O += P V (16 x DV per warp).
 * Products: mma.sync.aligned.m16n8k8.row.col, tf32 operands, fp32 accumulators. SPLIT 3 (default):
 * "3xTF32" as attn_mma_nv.cl (x = hi + lo, hi = x rounded to tf32, lo = x - hi: smx_hi; a b ~=
 * a_lo b_hi + a_hi b_lo + a_hi b_hi), fp32-level accuracy; P V of each staged slice is summed on the tensor
 * cores from zero and added to O in IEEE fp32 (the tensor cores' accumulation truncates: over
 * thousands of keys that bias would grow). SPLIT 1: plain TF32 (the context's allow_tf32), the
 * operands rounded to tf32 once, O the accumulator itself.
 *
 * Fragment layouts (PTX ISA, m16n8k8 .tf32 .row.col; g = lane >> 2, t = lane & 3), as
 * attn_mma_nv.cl's FRAG macros and its probe check on the device:
 *   A (16 x 8, row m, k): a0 (g, t)  a1 (g + 8, t)  a2 (g, t + 4)  a3 (g + 8, t + 4)
 *   B (8 x 8, k, col n):  b0 (t, g)  b1 (t + 4, g)
 *   C (16 x 8, row, col): c0 (g, 2t)  c1 (g, 2t + 1)  c2 (g + 8, 2t)  c3 (g + 8, 2t + 1)
 * The contraction index is permuted inside every 8-wide k-step, the same way in A and B (which
 * leaves the product unchanged): k positions t and t + 4 carry contraction indices 2t and 2t + 1.
 * Then a lane's accumulators of a score tile are exactly its A fragment of P for that k-step
 * (a0 = c0, a1 = c2, a2 = c1, a3 = c3: no shuffle, no local memory), and q's and k's fragments
 * are float2 pairs of a row.
 *
 * Staging: k and v reach local memory by cp.async (16 bytes, no registers) in stages of 10 KB, three
 * buffers, two stages ahead of the one being computed: per key block DK / 32 K stages (64 keys x 32
 * dims, row pitch 40 floats: 8 mod 32, conflict-free float2 reads) then 64 / VR V stages (VR =
 * 2048 / DV keys x DV, row pitch DV + 4: 4 mod 32, conflict-free reads of rows 2t and 2t + 1).
 * One barrier per stage: at stage s every work-item waits for its own copies of s (wait_group 1:
 * s + 1 may still be in flight), the barrier publishes them and says that stage s - 1's buffer,
 * (s + 2) % 3, is no longer read, and stage s + 2 is issued into it. Every work-item commits one
 * group per stage (empty past the last), so that wait_group counts stages. Keys at or past Tk are
 * copied as zeros (src-size 0) and their scores masked to -inf: p = 0 times a zero row.
 *
 * Build options: -DDK=64|128 -DDV=64|128 (K and V exactly), -DSPLIT=3|1; -DQREG=1|0 overrides the
 * default (an experiment through OCLA_NV_OPTIONS, not planned). Register use as clang 15 + libclc +
 * ptxas 13.0 for sm_90 see it (NVIDIA's own compiler may differ): 221-255 registers; spills only at
 * DK = DV = 128, SPLIT 3: 72 bytes with QREG 1, 40 with QREG 0 (the default there, for headroom). */
#ifdef __NV_CL_C_VERSION

#ifndef DK
#define DK 128
#endif
#ifndef DV
#define DV 128
#endif
#ifndef SPLIT
#define SPLIT 3
#endif
#if (DK != 64 && DK != 128) || (DV != 64 && DV != 128)
#error "softmax_mma_nv.cl: DK and DV must be 64 or 128"
#endif
#if SPLIT != 1 && SPLIT != 3
#error "softmax_mma_nv.cl: SPLIT must be 1 or 3"
#endif
#ifndef QREG
#define QREG (DK == 64) /* Q's fragments in registers all along (DK 64), or per K stage (DK 128) */
#endif

#define SMX_WG 128   /* work-items: 4 warps */
#define SMX_BQ 64    /* query rows per work-group (16 per warp) */
#define SMX_BK 64    /* keys per block: 8 score tiles of 8 per warp */
#define KSL 32       /* key dims per K stage */
#define KP (KSL + 8) /* K stage row pitch, floats */
#define VR (2048 / DV) /* keys per V stage: 16 (DV 128) or 32 (DV 64) */
#define VP (DV + 4)  /* V stage row pitch, floats */
#define NKS (DK / KSL)  /* K stages per key block */
#define NVS (SMX_BK / VR) /* V stages per key block */
#define NST (NKS + NVS) /* stages per key block */
#define STAGE_F (SMX_BK * KP) /* floats per stage buffer (the larger of the two kinds) */
#define NBUF 3
#if VR * VP > STAGE_F
#error "softmax_mma_nv.cl: a V stage does not fit a stage buffer"
#endif
#if SMX_BK * KSL != 4 * 4 * SMX_WG || VR * DV != 4 * 4 * SMX_WG
#error "softmax_mma_nv.cl: each stage is 4 copies of 16 bytes per work-item"
#endif

/* Work-group barrier without the memory fence NVIDIA's barrier() may add (a fence waits for
 * outstanding global accesses); bar.sync orders the work-group's shared-memory accesses. */
#define SYNC() asm volatile("bar.sync 0;" ::: "memory")

/* hi and lo tf32 parts. hi = x rounded to nearest at tf32's 11 significant bits by Veltkamp's split:
 * c = x (2^13 + 1), hi = c - (c - x) (exact for |x| < 2^115: beyond, and for infinities, hi is NaN;
 * a NaN stays NaN). The product goes through inline PTX mul.rn, which no compiler fuses into the
 * subtraction (OpenCL's FP_CONTRACT is on by default: c - x as one fma would not round c, and hi
 * would keep low bits). 3 fp32 operations; cvt.rna.tf32.f32 takes 3 instructions on sm_90 (ptxas
 * 13.0, by code size) and adding 2^12 to the bits, 1, turns NVIDIA's canonical NaN (0x7fffffff)
 * into -0: a NaN input would vanish.
 * SPLIT 3: lo = x - hi (exact); the tensor cores read the top 19 bits of lo's register (truncation:
 * 2^-10 of lo, 2^-21 of x); a b ~= a_lo b_hi + a_hi b_lo + a_hi b_hi misses a_lo b_lo (2^-22).
 * SPLIT 1: hi alone (this kernel emulated lane by lane on the CPU with N(0,1) inputs: truncation,
 * the fp32 bits as they are, gave up to 2.6e-3 normwise error on non-causal rows over 333 keys,
 * rounding 6.5e-4); lo = 0, unused.
 * Straight-line code, not loops: a compiler may turn a loop that copies an array into a memcpy, which
 * keeps the arrays in memory (seen with clang at SPLIT 1). */
OCLA_INLINE float smx_hi(const float x) {
    float c;
    asm("mul.rn.f32 %0, %1, 0f46000400;" : "=f"(c) : "f"(x)); /* x * 8193 */
    return c - (c - x);
}
#define TF32_HI(x) as_uint(smx_hi(x))
#if SPLIT == 1
#define TF32_LO(x, hi) 0u
#else
#define TF32_LO(x, hi) as_uint((x) - as_float(hi))
#endif
OCLA_INLINE void smx_split2(const float x0, const float x1, uint *hi, uint *lo) {
    hi[0] = TF32_HI(x0), hi[1] = TF32_HI(x1);
    lo[0] = TF32_LO(x0, hi[0]), lo[1] = TF32_LO(x1, hi[1]);
}
OCLA_INLINE void smx_split4(const float x0, const float x1, const float x2, const float x3, uint *hi, uint *lo) {
    smx_split2(x0, x1, hi, lo);
    smx_split2(x2, x3, hi + 2, lo + 2);
}

/* d += a b: one m16n8k8 tile, tf32 operands (a: A fragment, b: B fragment), fp32 accumulators
 * (common.cl). */
#define smx_mma ocla_nv_mma_tf32

/* d += a b from split operands: SPLIT 3 the two cross terms (small) first, hi x hi last. */
OCLA_INLINE void smx_mma_split(float *d, const uint *ah, const uint *al, const uint *bh, const uint *bl) {
#if SPLIT == 3
    smx_mma(d, al, bh);
    smx_mma(d, ah, bl);
#endif
    smx_mma(d, ah, bh);
}

/* Max and sum over the 4 lanes of a quad (the lanes holding one row of a C fragment), in each. */
#define smx_xor ocla_nv_shfl_xor
OCLA_INLINE float quad_max(float x) {
    x = fmax(x, smx_xor(x, 1));
    return fmax(x, smx_xor(x, 2));
}
OCLA_INLINE float quad_sum(float x) {
    x += smx_xor(x, 1);
    return x + smx_xor(x, 2);
}

/* 16 bytes global -> local without registers; ok == 0 writes zeros and reads nothing (common.cl). */
#define smx_cp16 ocla_nv_cp_async16

/* Stage s of this work-group's walk into buffer s % NBUF: key block s / NST, part i = s % NST: a K
 * stage (i < NKS: keys 64 kb .., dims 32 i ..) or a V stage (keys 64 kb + VR (i - NKS) .., all DV
 * dims); 4 copies of 16 bytes per work-item (element group e: row e / (width / 4), column 4 (e %
 * (width / 4))). Nothing past the walk's last stage; the group is committed either way. */
OCLA_INLINE void smx_issue(__local float *stg, const int s, const int nstage, const int tid, __global const float *kp,
                           const ocla_idx ks1, __global const float *vp, const ocla_idx vs1, const int Tk) {
    if (s < nstage) {
        __local float *dst = stg + (s % NBUF) * STAGE_F;
        const int kb = s / NST, i = s % NST;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            const int e = tid + SMX_WG * l;
            if (i < NKS) {
                const int r = e / (KSL / 4), c = 4 * (e % (KSL / 4)), key = kb * SMX_BK + r, ok = key < Tk;
                smx_cp16(dst + r * KP + c, kp + (ok ? (ocla_idx)key * ks1 + i * KSL + c : 0), ok);
            } else {
                const int r = e / (DV / 4), c = 4 * (e % (DV / 4)), key = kb * SMX_BK + (i - NKS) * VR + r;
                const int ok = key < Tk;
                smx_cp16(dst + r * VP + c, vp + (ok ? (ocla_idx)key * vs1 + c : 0), ok);
            }
        }
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
}

/* Q's A fragment of the dims 8kk' .. 8kk' + 7 (kk' = d8 / 8), scaled by qs = scale * log2(e), rows
 * past T zeros: f = {q[row0][d8 + 2t], q[row0 + 8][d8 + 2t], q[row0][d8 + 2t + 1], q[row0 + 8][d8 + 2t + 1]}
 * (a0 a1 a2 a3: k positions t and t + 4 carry dims 2t and 2t + 1). */
OCLA_INLINE void smx_qfrag(float *f, __global const float *qrow0, const ocla_idx qs1, const int row0, const int T,
                           const int d8, const int t, const float qs) {
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        const float2 x = row0 + 8 * hf < T ? vload2(0, qrow0 + 8 * hf * qs1 + d8 + 2 * t) * qs : (float2)(0.0f);
        f[hf] = x.x;
        f[2 + hf] = x.y;
    }
}

/* Start of stage s: its copies landed and are visible, stage s + 2 issued (see the top). */
#define STAGE_BEGIN(s_)                                                                                          \
    asm volatile("cp.async.wait_group 1;" ::: "memory");                                                         \
    SYNC();                                                                                                      \
    smx_issue(stg, (s_) + 2, nstage, tid, kp, k_s1, vp, v_s1, Tk);

/* ---- grid (128 * B * H, ceil(T / 64)), local 128 ---- */
__kernel __attribute__((reqd_work_group_size(SMX_WG, 1, 1))) void sm_mma_forward(
    OCLA_TENSOR(q), OCLA_TENSOR(k), OCLA_TENSOR(v), OCLA_TENSOR_OUT(o), const int T, const int Tk, const int H,
    const float scale, const int causal) {
    __local float stg[NBUF * STAGE_F] __attribute__((aligned(16)));
    const int tid = get_local_id(0), lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int bh = get_group_id(0), b = bh / H, h = bh % H;
    const int qb = (int)get_num_groups(1) - 1 - (int)get_group_id(1); /* causal: longest rows first */
    const int q0 = qb * SMX_BQ, row0 = q0 + 16 * (tid >> 5) + g;      /* this lane's rows: row0, row0 + 8 */
    __global const float *kp = k + OCLA_OFF(k, b, 0, h, 0), *vp = v + OCLA_OFF(v, b, 0, h, 0);
    const int nkb = (Tk + SMX_BK - 1) / SMX_BK, kend = causal ? min(nkb, qb + 1) : nkb, nstage = kend * NST;

    smx_issue(stg, 0, nstage, tid, kp, k_s1, vp, v_s1, Tk);
    smx_issue(stg, 1, nstage, tid, kp, k_s1, vp, v_s1, Tk);

    /* Q's A fragments (smx_qfrag): qf[kk] of dims 8kk .., all of them (QREG) or the K stage's */
    const float qs = scale * M_LOG2E_F;
    __global const float *qrow0 = q + OCLA_OFF(q, b, min(row0, T - 1), h, 0); /* rows past T are not read */
#if QREG
    float qf[DK / 8][4];
#pragma unroll
    for (int kk = 0; kk < DK / 8; kk++) smx_qfrag(qf[kk], qrow0, q_s1, row0, T, 8 * kk, t, qs);
#define QF(ks, kk) qf[(ks) * (KSL / 8) + (kk)]
#else
#define QF(ks, kk) qf[kk]
#endif
    /* O (16 x DV per warp: tile n holds columns 8n .. 8n + 7), and per row (hf: row0 + 8 hf) the
     * running maximum (base 2) and this lane's part of the running sum (its columns; the quad adds
     * its four parts at the end: they share m) */
    float oacc[DV / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int n = 0; n < DV / 8; n++)
#pragma unroll
        for (int r = 0; r < 4; r++) oacc[n][r] = 0.0f;

    for (int kb = 0; kb < kend; kb++) {
        const int s0 = kb * NST; /* the block's first stage */
        float sacc[SMX_BK / 8][4]; /* S: tile j holds keys 64 kb + 8j .. + 7 */
#pragma unroll
        for (int j = 0; j < SMX_BK / 8; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) sacc[j][r] = 0.0f;
        /* S += Q K^T over the K stages (dims 32 ks ..) */
#pragma unroll
        for (int ks = 0; ks < NKS; ks++) {
#if !QREG
            float qf[KSL / 8][4]; /* this stage's, loaded before the wait */
#pragma unroll
            for (int kk = 0; kk < KSL / 8; kk++) smx_qfrag(qf[kk], qrow0, q_s1, row0, T, ks * KSL + 8 * kk, t, qs);
#endif
            STAGE_BEGIN(s0 + ks)
            __local const float *X = stg + ((s0 + ks) % NBUF) * STAGE_F;
#pragma unroll
            for (int kk = 0; kk < KSL / 8; kk++) {
                uint ah[4], al[4];
                smx_split4(QF(ks, kk)[0], QF(ks, kk)[1], QF(ks, kk)[2], QF(ks, kk)[3], ah, al);
#pragma unroll
                for (int j = 0; j < SMX_BK / 8; j++) { /* b0 = K[8j + g][8kk + 2t], b1 = K[8j + g][8kk + 2t + 1] */
                    const float2 x = *(__local const float2 *)(X + (8 * j + g) * KP + 8 * kk + 2 * t);
                    uint bh[2], bl[2];
                    smx_split2(x.x, x.y, bh, bl);
                    smx_mma_split(sacc[j], ah, al, bh, bl);
                }
            }
        }
        /* mask: keys past Tk, and (causal) keys after the row; only the diagonal block and a last
         * partial block have any. Element r of tile j: row row0 + 8 (r >> 1), key 64 kb + 8j + 2t + (r & 1).
         * Every row keeps at least one key per block (key 64 kb <= its row; 64 kb < Tk), so the
         * block's maximum below is finite. */
        if ((causal && kb == qb) || (kb + 1) * SMX_BK > Tk) {
#pragma unroll
            for (int j = 0; j < SMX_BK / 8; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int key = kb * SMX_BK + 8 * j + 2 * t + (r & 1), row = row0 + 8 * (r >> 1);
                    if (key >= Tk || (causal && key > row)) sacc[j][r] = -INFINITY;
                }
        }
        /* online softmax per row: new maximum, rescale O and l by exp2(m_old - m_new) (0 at the
         * first block: m_old = -inf), P = exp2(S - m_new) in place, l += this lane's P */
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < SMX_BK / 8; j++) mx = fmax(mx, fmax(sacc[j][2 * hf], sacc[j][2 * hf + 1]));
            const float mn = fmax(m[hf], quad_max(mx)), alpha = exp2(m[hf] - mn);
            m[hf] = mn;
            l[hf] *= alpha;
#pragma unroll
            for (int n = 0; n < DV / 8; n++) oacc[n][2 * hf] *= alpha, oacc[n][2 * hf + 1] *= alpha;
#pragma unroll
            for (int j = 0; j < SMX_BK / 8; j++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    const float p = exp2(sacc[j][2 * hf + c] - mn);
                    sacc[j][2 * hf + c] = p;
                    l[hf] += p;
                }
        }
        /* O += P V over the V stages (keys VR vs .. of the block: k-steps kk, score tiles vs VR/8 + kk) */
#pragma unroll
        for (int vs = 0; vs < NVS; vs++) {
            STAGE_BEGIN(s0 + NKS + vs)
            __local const float *X = stg + ((s0 + NKS + vs) % NBUF) * STAGE_F;
            uint ph[VR / 8][4], pl[VR / 8][4]; /* P's A fragments: a0 = c0, a1 = c2, a2 = c1, a3 = c3 */
#pragma unroll
            for (int kk = 0; kk < VR / 8; kk++) {
                const int J = vs * (VR / 8) + kk;
                smx_split4(sacc[J][0], sacc[J][2], sacc[J][1], sacc[J][3], ph[kk], pl[kk]);
            }
#pragma unroll
            for (int n = 0; n < DV / 8; n++) {
                /* the tensor cores' accumulator: SPLIT 3 this stage's part from zero, added to O in
                 * IEEE fp32 below; SPLIT 1 O's tile itself */
#if SPLIT == 3
                float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#define PV_ACC d
#else
#define PV_ACC oacc[n]
#endif
#pragma unroll
                for (int kk = 0; kk < VR / 8; kk++) { /* b0 = V[8kk + 2t][8n + g], b1 = V[8kk + 2t + 1][8n + g] */
                    uint bh[2], bl[2];
                    smx_split2(X[(8 * kk + 2 * t) * VP + 8 * n + g], X[(8 * kk + 2 * t + 1) * VP + 8 * n + g], bh, bl);
                    smx_mma_split(PV_ACC, ph[kk], pl[kk], bh, bl);
                }
#undef PV_ACC
#if SPLIT == 3
                oacc[n][0] += d[0], oacc[n][1] += d[1], oacc[n][2] += d[2], oacc[n][3] += d[3];
#endif
            }
        }
    }
    /* o = O / l: element r of tile n is row row0 + 8 (r >> 1), column 8n + 2t + (r & 1) */
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        const int row = row0 + 8 * hf;
        const float inv = 1.0f / quad_sum(l[hf]);
        if (row >= T) continue;
        __global float *orow = o + OCLA_OFF(o, b, row, h, 0);
#pragma unroll
        for (int n = 0; n < DV / 8; n++) vstore2((float2)(oacc[n][2 * hf], oacc[n][2 * hf + 1]) * inv, 0, orow + 8 * n + 2 * t);
    }
}

#endif /* __NV_CL_C_VERSION */
