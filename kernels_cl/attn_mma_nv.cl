/* SPDX-License-Identifier: MIT */
/* attn_mma_nv.cl: NVIDIA tensor-core fast path for chunked causal linear attention and scalar-gate
 * GLA (simple GLA, retention), fp32 in and out with fp32-level accuracy.
 *
 * Guarded vendor path: built only on NVIDIA's OpenCL (inline PTX needs __NV_CL_C_VERSION); the
 * portable kernels stay the reference and the fallback. Products use mma.sync.m16n8k8 with tf32
 * operands split "3xTF32" style: x = big + small (big = tf32(x), small = tf32(x - big)), and
 * a*b ~= big_a*big_b + big_a*small_b + small_a*big_b, which keeps ~fp32 accuracy (measured 1.5e-5
 * normwise vs fp64 on a 2048^3 GEMM, against 2.3e-4 for plain tf32) at 3x the tensor work.
 *
 * Math (per batch b, head h; scalar log gate g_t <= 0, cumulative within a chunk G_i, scale s):
 *   chunk states:   H_{n+1} = exp(G_last) H_n + sum_j phi(k_j) (v_j exp(G_last - G_j))^T
 *   outputs:        o_i = s * [ exp(G_i) phi(q_i)^T H_n + sum_{j<=i in chunk} (phi(q_i).phi(k_j)) exp(G_i - G_j) v_j ]
 * Every exponent is <= 0 (inclusive cumsum; j <= i), so nothing overflows.
 *
 * Per-key gates (USE_GK, GLA): G_i is a vector over the key dimensions d, read from the chunk-local
 * cumsums that la_gate_cumsum (linear_attn.cl) writes ([B*H][T][K], dense). The state pass scales
 * phi(k_j) by exp(G_last - G_j) and each state row d by exp(G_last,d). The output pass uses the GLA
 * paper's secondary chunking with 16-row sub-chunks (one per warp row): with f(I) the first row of
 * sub-chunk I, q^_i = phi(q_i) exp(G_i - G_f(I)) (<= phi(q_i)), k~_j = phi(k_j) exp(G_f(J) - G_j)
 * (>= phi(k_j)) and c_IJ = exp(G_f(I) - G_f(J)) (<= 1), the score block (I, J <= I) is
 * q^_I diag(c_IJ) k~_J^T on the tensor cores and the inter-chunk product is (q^_i exp(G_f(I))) H_n.
 * Every factor comes from rows at or before the output's row, so an output never depends on a later
 * token, not even in rounding. k~ grows with the gates' strength inside one sub-chunk: where
 * G_f(J) - G_l(J) (l: last row) passes 30 (gates near the log-gate floor) for a sub-chunk J <= I in
 * any key dimension, warp I sums its scores element by element from the inputs instead (rare).
 *
 * Build options: -DCHUNK=64 (C, multiple of 32), -DFEATURE=0/1/2 (identity, elu+1, relu),
 *                gate: common.cl encoding, USE_G (tensor [B,T,H]) or USE_G_GAMMA (fixed per-head decay buffer),
 *                -DOCLA_DTYPE (common.cl): q, k, v and o in bf16 or fp16 (the backward's data and gradients
 *                too, with fp32 states by HS32 but for bf16 without gates; gates' cumsums and accumulation
 *                fp32): cp.async stages the half elements
 *                (VEC: rows of 8-element, 16-byte groups) and the fragment reads widen them exactly to fp32
 *                (per-key gates' state pass and VEC 0: widened in registers as they are staged), so a half
 *                input is exact in TF32; o is rounded once, to nearest even (-DOCLA_OTYPE: the output's own
 *                type, fp32 for the backward's dq and dk that mma_bwd_dg(k) finishes).
 *                -DOCLA_GTYPE: the scalar gates' type (USE_G).
 *                -DVARLEN=1: packed sequences (forward only; B = 1; T and NT the packed axis and its
 *                64-row blocks): the state pass's work-group rows are portions of sequences (its
 *                table from runtime/seq_table.c), the output pass's chunks the blocks, and
 *                mma_varlen_carry and mma_varlen_h0 complete them (at mma_varlen_carry below)
 * Work-groups: 128 work-items = 4 warps in a 2x2 arrangement; each warp owns a 32x32 block as
 * 2 x 4 mma tiles of 16x8 (fragment layouts per the PTX ISA for m16n8k8 .row.col).
 */
#ifdef __NV_CL_C_VERSION

#ifndef CHUNK
#define CHUNK 64
#endif
#ifndef VARLEN
#define VARLEN 0
#endif
#define GATE (USE_G || USE_G_GAMMA) /* any gate */
/* Work-group barrier without the memory fence NVIDIA's barrier(CLK_LOCAL_MEM_FENCE) may add
 * (a fence waits for outstanding global loads and stores, which defeats prefetching). bar.sync
 * orders shared-memory accesses of the work-group, which is all these kernels rely on. */
#define SYNC() asm volatile("bar.sync 0;" ::: "memory")
#define TILE 64    /* state tile (K x V) in the state kernel, output tile width in the output kernel */
#ifndef KS
#define KS 32 /* key-dimension slice of the output kernel (element-loaded forms) */
#endif
#define PAD 4      /* local-memory row padding: conflict-free fragment loads */

#define phi(x) OCLA_PHI(x) /* common.cl, the variant's FEATURE */
/* phi per component. Applied only to elements inside K and T: padding stays 0 (phi(0) = 1 for elu+1
 * would otherwise add the padded key dimensions to every score). */
#define phi4(f4) ((float4)(phi((f4).x), phi((f4).y), phi((f4).z), phi((f4).w)))

OCLA_INLINE uint tf32_bits(float x) {
    uint r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

/* d += a * b: one 16x8x8 tile of tf32 (common.cl's ocla_nv_mma_tf32); half data (OCLA_DTYPE bf16 /
 * fp16): one 16x8x16 tile of packed pairs (mma16). */
#define mma_tf32 ocla_nv_mma_tf32
#if OCLA_DTYPE == OCLA_DT_BF16
#define mma16 ocla_nv_mma_bf16
#else
#define mma16 ocla_nv_mma_f16
#endif

/* Split n floats into tf32 big and small parts. Plain TF32 (SPLIT 1, no small parts) hands the fp32
 * bits to the tensor cores as they are, which read the top 19 (truncation instead of cvt.rna's
 * rounding: up to 2^-10 relative per operand instead of 2^-11, inside the TF32 mode's error budget)
 * and saves a conversion per fragment element. */
#ifndef SPLIT
#define SPLIT 3 /* 3: 3xTF32 (fp32 accuracy); 1: plain TF32 (fla's default "fp32" precision) */
#endif
OCLA_INLINE void split(const float *x, uint *big, uint *small, int n) {
    #pragma unroll
    for (int i = 0; i < n; i++) {
#if SPLIT == 1
        big[i] = as_uint(x[i]);
        small[i] = 0u;
#else
        big[i] = tf32_bits(x[i]);
        small[i] = tf32_bits(x[i] - as_float(big[i]));
#endif
    }
}

/* The m16n8k8 A fragment of the rows r, r + 8 and columns c0 + tg, c0 + tg + 4 of a row-major local
 * tile with row pitch P (each lane's four values), split into big and small TF32 parts. A macro whose
 * index sums associate as (row * P + c0) + tg: grouping (c0 + tg) instead, inside an inline function
 * or a macro, made the output kernel 11 % slower on the H100 (0.345 -> 0.386 ms; measured). */
#define FRAG_LOADX(a_, X, P, r, c0, tg, LD_)                                                                     \
    float a_[4] = {LD_(X, (r) * (P) + c0 + tg), LD_(X, ((r) + 8) * (P) + c0 + tg), LD_(X, (r) * (P) + c0 + tg + 4),  \
                   LD_(X, ((r) + 8) * (P) + c0 + tg + 4)};
#define LDF(X, i) (X)[i]
#define FRAG_LOAD(a_, X, P, r, c0, tg) FRAG_LOADX(a_, X, P, r, c0, tg, LDF)
#define FRAG_A(X, P, r, c0, tg, big, small)                                                                      \
    {                                                                                                            \
        FRAG_LOAD(a_, X, P, r, c0, tg)                                                                           \
        split(a_, big, small, 4);                                                                                 \
    }

/* 1 when p is nonzero in any lane of the warp (the callers' branches are warp-uniform). */
OCLA_INLINE int warp_any(int p) {
    int r;
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.s32 q, %1, 0;\n\tvote.sync.any.pred q, q, 0xffffffff;\n\t"
                 "selp.s32 %0, 1, 0, q;\n\t}"
                 : "=r"(r)
                 : "r"(p));
    return r;
}

/* Inclusive scan over the 32 lanes of a warp (shfl.sync.up; every lane of the warp calls it). */
OCLA_INLINE float warp_scan(float x, const int lane) {
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const float y = ocla_nv_shfl_up(x, o);
        if (lane >= o) x += y;
    }
    return x;
}

/* gs[i] = x_0 + ... + x_i for the chunk's rows i < CHUNK, where work-item i holds x_i (the chunk's
 * inclusive cumulative log gates): each of the first two warps scans its 32 rows, the second adds
 * the first's total. Ends with a barrier. (A serial sum per work-item instead made the simple-GLA
 * state pass 13 % slower on the H100: 0.334 -> 0.292 ms at B=4, T=2048, H=16, D=128.) */
#if CHUNK != 32 && CHUNK != 64
#error "attn_mma_nv.cl: CHUNK must be 32 or 64"
#endif
OCLA_INLINE void chunk_cumsum(__local float *gs, const float x, const int tid) {
    if (tid < CHUNK) gs[tid] = warp_scan(x, tid & 31);
    SYNC();
    if (tid >= 32 && tid < CHUNK) gs[tid] += gs[31];
    SYNC();
}

/* VEC=1: unit last-dimension strides, K and V multiples of 4, other strides multiples of 4: every
 * row is float4-aligned, so tiles are loaded as float4. IDX32=1: every offset fits in 32 bits. */
#ifndef VEC
#define VEC 0
#endif
#ifndef IDX32
#define IDX32 0
#endif
#if IDX32
typedef int off_t_;
#else
typedef long off_t_;
#endif
/* Tile loads and stores W elements at a time: float4 rows (unit last stride) or single elements (any
 * last stride sd). WLOAD(base, t, c, st, sd) = base[t * st + c * sd]; WBAD: a non-finite element. */
#if VEC
#define W 4
typedef float4 wvec;
#define WLOAD(base, t, c, st, sd) vload4(0, (base) + (off_t_)(t) * (off_t_)(st) + c) /* c unbracketed: + ks0 + c */
#define WSTORE(x, p) vstore4(x, 0, p)
#define WPHI(x) phi4(x)
#define WBAD(a_) (!isfinite((a_).x) | !isfinite((a_).y) | !isfinite((a_).z) | !isfinite((a_).w))
#else
#define W 1
typedef float wvec;
#define WLOAD(base, t, c, st, sd) (base)[(ocla_idx)(t) * (st) + (ocla_idx)(c) * (sd)]
#define WSTORE(x, p) (*(p) = (x))
#define WPHI(x) phi(x)
#define WBAD(x) (!isfinite(x))
#endif
/* The data tensors (q, k, v) by OCLA_DTYPE, widened to fp32: DWLOAD is WLOAD of a data pointer, DLD
 * one element (common.cl's OCLA_LD). fp32: WLOAD itself. */
#define HALF_IO (OCLA_DTYPE != OCLA_DT_F32)
#if !HALF_IO
#define DWLOAD WLOAD
#elif VEC && OCLA_DTYPE == OCLA_DT_BF16
#define DWLOAD(base, t, c, st, sd) as_float4(convert_uint4(vload4(0, (base) + (off_t_)(t) * (off_t_)(st) + c)) << 16)
#elif VEC
#define DWLOAD(base, t, c, st, sd) vload_half4(0, (base) + (off_t_)(t) * (off_t_)(st) + c)
#else
#define DWLOAD(base, t, c, st, sd) OCLA_LD(base, (ocla_idx)(t) * (st) + (ocla_idx)(c) * (sd))
#endif
#define DLD(p, i) OCLA_LD(p, i)
/* HS32=1: the chunk states and their gradients fp32 whatever the data's type (the backward's programs
 * with gates, runtime/variant_list.c; its half data are read as the forward reads them). Without it
 * bf16 data keep bf16 states (HS_HALF below), in the backward too. */
#ifndef HS32
#define HS32 0
#endif
/* Staged (cp.async) data in local memory: fp32, or the half bit patterns (ushort) widened as they are
 * read: LDX(X, i) element i, LROW2H(X, t, c) elements c and c + 1 (c even) of row t as a float2. */
#if HALF_IO
typedef ushort stg_t;
#define VPC 8 /* elements per 16-byte copy */
#if OCLA_DTYPE == OCLA_DT_BF16
#define LDX(X, i) as_float((uint)(X)[i] << 16)
OCLA_INLINE float2 ldpair(__local const ushort *p) {
    const uint u = *(__local const uint *)p;
    return (float2)(as_float(u << 16), as_float(u & 0xffff0000u));
}
#else
#define LDX(X, i) vload_half((size_t)(i), (__local const half *)(X))
#define ldpair(p) vload_half2(0, (__local const half *)(p))
#endif
#define LROW2H(X, t, c) ldpair(&X[t][c])
#else
typedef float stg_t;
#define VPC 4
#define LDX(X, i) (X)[i]
#define LROW2H LROW2
#endif
/* The chunk states between the passes (hbuf): bf16 for bf16 data (rounded once, to nearest even, as
 * fla keeps them in the inputs' type; fp16's range could overflow: fp32), else fp32. The final
 * state and every accumulation stay fp32. HS_LD/HWLOAD read as fp32 (HWLOAD: W at a time, WLOAD's
 * arguments), HLDX a staged element of local memory. */
#define HS_HALF (OCLA_DTYPE == OCLA_DT_BF16 && !HS32)
#if HS_HALF
typedef ushort hs_t;
#define HS_VPC 8
#define HS_ST(p, i, x) ((p)[i] = ocla_bf16_rne(x))
#define HLDX(X, i) as_float((uint)(X)[i] << 16)
#if VEC
#define HWLOAD(base, t, c, st, sd) as_float4(convert_uint4(vload4(0, (base) + (off_t_)(t) * (off_t_)(st) + c)) << 16)
#else
#define HWLOAD(base, t, c, st, sd) ocla_bf16_load((base)[(ocla_idx)(t) * (st) + (ocla_idx)(c) * (sd)])
#endif
#else
typedef float hs_t;
#define HS_VPC 4
#define HS_ST(p, i, x) ((p)[i] = (x))
#define HLDX(X, i) (X)[i]
#define HWLOAD WLOAD
#endif
#define HS_LD(p, i) HLDX(p, i) /* element i of a global state buffer, as fp32 */
/* The backward's forms (runtime/attention_bwd_nv.c; math at mma_chunk_states and mma_chunk_output):
 * REV=1 builds the reverse forms mma_chunk_states_rev (state gradients, last chunk first) and
 * mma_chunk_output_rev (anti-causal products), and mma_bwd_dg; HT=1 builds the output kernel as
 * mma_chunk_output_t (mma_chunk_output_rev_t with REV=1), which reads each chunk's [K][V] state as
 * the transposed operand ([V][K] per chunk: the state of the product, of K x V, is stored [V][K]). */
#ifndef REV
#define REV 0
#endif
#ifndef HT
#define HT 0
#endif
/* Per-key gates in the backward (GLA): the state-gradient pass scales q_i by exp(G_i) per key;
 * mma_chunk_output_rev (dv) keeps them in the contraction as the forward's outputs do (GKC);
 * mma_chunk_output_t (dq) and mma_chunk_output_rev_t (dk) have them on their output columns (GKO,
 * at the output kernel); mma_bwd_dgk is the per-dimension gate gradient. */
#define GKC (USE_GK && !HT)
/* Unroll factor of the contraction loops (register pressure vs ILP): 2 for the GLA forward's output
 * kernel with half data (H100, bf16, B=2, T=8192, H=16, D=128: its outputs 0.571 -> 0.470 ms; B=4,
 * T=2048 the forward 0.465 -> 0.414), 1 elsewhere (the backward's GLA dk form took 0.608 -> 0.844 ms at
 * 2; fp32 not measured). */
#ifndef UNROLL_K
#if USE_GK && !HT && !REV && HALF_IO
#define UNROLL_K 2
#else
#define UNROLL_K 1
#endif
#endif
#define GKO (USE_GK && HT)
#if REV
#define STATES_KERNEL mma_chunk_states_rev
#else
#define STATES_KERNEL mma_chunk_states
#endif
#if REV && HT
#define OUTPUT_KERNEL mma_chunk_output_rev_t
#elif REV
#define OUTPUT_KERNEL mma_chunk_output_rev
#elif HT
#define OUTPUT_KERNEL mma_chunk_output_t
#else
#define OUTPUT_KERNEL mma_chunk_output
#endif
/* The chunk the m-th step of the state pass works on. */
#define CH(m) (REV ? NT - 1 - (m) : (m))

/* Sum over the 32 lanes of a warp, in every lane. */
OCLA_INLINE float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += ocla_nv_shfl_xor(x, o);
    return x;
}

/* Scalar gate at (b, t, h) as stored (raw: a prefetch must not wait for its load) and under the
 * log-gate policy (common.cl). */
#if USE_G
#define GATE_T ocla_gdata /* a scalar gate tensor: OCLA_GTYPE */
#define GATE_LD(g, i) OCLA_GLD(g, i)
#else
#define GATE_T float /* fixed decays, per-key gates' cumsums: fp32 buffers of the op */
#define GATE_LD(g, i) ((g)[i])
#endif
OCLA_INLINE float raw_gate(__global const GATE_T *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh, int b,
                           int t, int h) {
#if USE_G
    return GATE_LD(g, b * gb + t * gt + h * gh);
#elif USE_G_GAMMA
    return g[h];
#else
    return 0.0f;
#endif
}
#define log_gate(g, gb, gt, gh, b, t, h) ocla_log_gate(raw_gate(g, gb, gt, gh, b, t, h))

/* ---- chunk states: grid (ceil(V/64) * 256, ceil(K/64), B*H), local 256 ----
 * Writes hbuf[((b*H + h)*NT + n)*K*V + kd*V + vd] = state entering chunk n, and the final state
 * (VARLEN: grid z = portions * H; the states at the block boundaries inside the portion, its end
 * state into the carry buffer or the final state: at the VARLEN branch below).
 * The pass is sequential over chunks, so its speed is the latency of one chunk step: the next
 * k and v rows are copied to local memory with cp.async (dense float4 rows) or loaded into
 * registers (otherwise, and with per-key gates) while the tensor cores work on this chunk. On the
 * H100 (B=4, T=2048, H=16, D=128, 3xTF32) cp.async took linear 0.277 -> 0.205 ms and simple GLA
 * 0.294 -> 0.221 ms: the prefetch registers had held the kernel to one work-group per SM.
 * 8 warps as 4 (rows) x 2 (columns); each warp owns 16 x 32 of the 64 x 64 state tile
 * (1 x 4 mma tiles), which keeps every value in registers (no spills; 4 warps and 2 x 4 tiles
 * spilled 608 bytes and ran 1.5x slower). */
#define SWG 256
/* k and v staged by cp.async where rows are 16-byte groups (per-key gates: their factors still come
 * through the register prefetch and are applied to the staged k in place; GLA states 0.339 ->
 * 0.305 ms on the H100 at B=4, T=2048, H=16, D=128, fp32; half data: into an fp32 copy of the
 * half-chunk: GLA bf16 states 0.595 -> 0.389 ms at B=2, T=8192). */
#define ST_ASYNC VEC
/* MMA16S: half data with the identity feature map and no gate, forward: the states' products on
 * m16n8k16 from the staged half rows as they are (exact products, fp32 accumulation), both operands'
 * fragments by ldmatrix.trans (K^T and V are contracted over the chunk's rows) instead of widening
 * each element to a (3x)TF32 operand. MMA16_ST=1 (default): fp16 data (fp32 states, 3xTF32 before;
 * H100, linear, B=2, T=8192 / B=4, T=2048, H=16, D=128: states 0.341-0.347 -> 0.179 ms / 0.146 ->
 * 0.093); 2: bf16 too (one TF32 pass there: 0.182 -> 0.161 at T=8192 but 0.069 -> 0.089 at T=2048, so
 * off by default); 0: off. Gated forms stay on TF32: scaling the staged k by exp(G_last - G_t) and
 * rounding it back measured slower (simple GLA bf16 states 0.283 -> 0.315 ms / 0.097 -> 0.114) and
 * put fp16's final state at 1.7e-4 (> 1e-4). */
#ifndef MMA16_ST
#define MMA16_ST 1
#endif
#define MMA16S ((MMA16_ST == 2 || (MMA16_ST == 1 && OCLA_DTYPE == OCLA_DT_F16)) && ST_ASYNC && HALF_IO && FEATURE == OCLA_FEATURE_IDENTITY && !GATE && !USE_GK && !REV)
#if ST_ASYNC
#define HALF (CHUNK / 2)
/* staged rows: 8 mod 32 words (conflict-free fragment reads); MMA16S: 4 mod 32 (ldmatrix's eight
 * 16-byte rows on distinct banks) */
#define SPITCH (MMA16S ? TILE + 8 : HALF_IO ? TILE + 16 : TILE + 8)
/* stages of the ring (half-chunks): the copies run ST_NST - 1 half-chunks ahead of the tensor cores.
 * Half data: three (a stage is half of fp32's; H100, bf16, B=2, T=8192, H=16, D=128: linear states
 * 0.221 -> 0.178 ms; four measured the same); fp32: two (48 KiB of local memory) */
/* GKA: per-key gates with half data: the chunk's cumulative gates of the key slice staged by cp.async
 * with k and v (fp32 rows, [ST_NST][HALF][TILE]) and the chunk's last row beside them, instead of a
 * register prefetch that each chunk step waited for; two stages then fit 48 KiB */
#ifndef GKA
#define GKA (ST_ASYNC && USE_GK && HALF_IO)
#endif
#ifndef ST_NST
#define ST_NST (GKA ? 2 : HALF_IO ? 3 : 2)
#endif
#if ST_NST == 2
#define ST_WAIT "1"
#elif ST_NST == 3
#define ST_WAIT "2"
#elif ST_NST == 4
#define ST_WAIT "3"
#elif ST_NST == 5
#define ST_WAIT "4"
#else
#error "ST_NST: 2 to 5 stages"
#endif
#endif
/* Scalar gate tensors staged by cp.async too (G_ASYNC): work-item t < CHUNK copies the aligned 4-byte
 * word holding the gate of row t of the next chunk (a register load there made each step wait for
 * it: simple GLA's state pass, bf16, B=2, T=8192, H=16, D=128 on the H100, took 0.321 ms with the
 * load against 0.258 with a constant gate; linear's 0.180) */
#define G_ASYNC (ST_ASYNC && USE_G)
#if ST_ASYNC || VEC
/* 4 bytes global -> local and the gate in a copied word: common.cl's */
#define cp_async4 ocla_nv_cp_async4
#define gate_of_word ocla_nv_gate_of_word
/* 16 bytes global -> local without registers: common.cl's ocla_nv_cp_async16 */
#define cp_async16 ocla_nv_cp_async16
#endif
#define LOADS (CHUNK * TILE / SWG) /* elements of each of k and v one work-item loads per chunk */
/* The split passes over the four 16x8 tiles j_ of a 16 x 32 block whose condition on is true
 * (small parts first, the big-by-big product last). */
#if SPLIT == 3
#define MMA_PASSES_IF(acc, ab, as, bb, bs, on)                                                       \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; j_++) if (on) mma_tf32(acc[j_], as, bb[j_]);          \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; j_++) if (on) mma_tf32(acc[j_], ab, bs[j_]);          \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; j_++) if (on) mma_tf32(acc[j_], ab, bb[j_]);
#else
#define MMA_PASSES_IF(acc, ab, as, bb, bs, on)                                                       \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; j_++) if (on) mma_tf32(acc[j_], ab, bb[j_]);
#endif
#define MMA_PASSES_1x4(acc, ab, as, bb, bs) MMA_PASSES_IF(acc, ab, as, bb, bs, 1)
__kernel __attribute__((reqd_work_group_size(SWG, 1, 1))) void STATES_KERNEL(
    const int B, const int Tall, const int H, const int K, const int V, const int NTall,
    __global const ocla_data *k, const ocla_idx kb, const ocla_idx kt, const ocla_idx kh, const ocla_idx kd_,
    __global const ocla_data *v, const ocla_idx vb, const ocla_idx vt, const ocla_idx vh, const ocla_idx vd_,
    __global const GATE_T *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh,
    __global const float *h0, const int has_h0, __global hs_t *hbuf, __global float *hT, const int has_hT
#if REV
    , const float scale
#endif
#if VARLEN
    , __global const int *vtab, const int woff, const int ooff, __global float *cbuf, const ocla_idx gend_off, const ocla_idx gblk_off,
    const ocla_idx h0_off
#endif
    ) {
#if ST_ASYNC
    __local stg_t Kst[ST_NST][HALF][SPITCH] __attribute__((aligned(16)));
    __local stg_t Vst[ST_NST][HALF][SPITCH] __attribute__((aligned(16)));
#if USE_GK && HALF_IO
    __local float Kf[HALF][TILE + 8] __attribute__((aligned(16))); /* this half's gated k, fp32 */
#endif
#if GKA
    __local float Gst[ST_NST][HALF][TILE] __attribute__((aligned(16))); /* cumulative gates of the half */
    __local float Gla[3][TILE] __attribute__((aligned(16)));            /* the chunk's last row (by chunk) */
#endif
#if G_ASYNC
    __local uint gst[2][CHUNK]; /* the next chunk's gates: the aligned word holding each */
#endif
    __local float vf[CHUNK];
#else
    __local float Ks[CHUNK][TILE + 8] __attribute__((aligned(16))); /* phi(k) of the chunk, key slice */
    __local float Vs[CHUNK][TILE + 8] __attribute__((aligned(16))); /* v * exp(G_last - G_j), value slice
                                                                     * (row stride 8 mod 32: conflict-free) */
#endif
    __local float gs[CHUNK];
    const int tid = get_local_id(0), lane = tid & 31, warp = tid >> 5, gr = lane >> 2, tg = lane & 3;
    const int wm = (warp >> 1) * 16, wn = (warp & 1) * 32;
    const int v0 = get_group_id(0) * TILE, k0 = get_group_id(1) * TILE;
    const int bh = get_group_id(2), h = bh % H;
#if G_ASYNC
    /* the gate tensor's last element: a 16-bit gate there is copied alone (2 bytes of its word) */
    __global const GATE_T *gend = g + ((ocla_idx)(B - 1) * gb + (ocla_idx)(Tall - 1) * gt + (ocla_idx)(H - 1) * gh);
#endif
#if VARLEN
    /* row bh / H walks portion p of the walk table (runtime/seq_table.c; rows in its order, longest
     * portions first): tokens [r0, r1) of sequence
     * sq in at most a walk's width of the packed axis' 64-row blocks, from a zero state. Its chunks are the
     * blocks from the one holding r0 (rows before r0 masked: their k, v and gates read as zeros), so
     * states land at block boundaries ([H][NTall blocks][K][V]: the state entering block n, written
     * by the portion that crosses that boundary); the state at r1 and the log decay over the portion
     * go to the carry buffer, and mma_varlen_carry adds what came before the portion (the first
     * portion of a sequence starts from its initial state, decayed from r0) */
    const int p = vtab[ooff + bh / H], r0 = vtab[woff + 4 * p], r1 = vtab[woff + 4 * p + 1], sq = vtab[woff + 4 * p + 2];
    const int wfl = vtab[woff + 4 * p + 3], b = 0, ts = r0 / CHUNK * CHUNK, lo = r0 - ts, T = r1 - ts;
    const int NT = (T + CHUNK - 1) / CHUNK, sbh = sq * H + h; /* initial and final states: row sq, [N,H,K,V] */
    const ocla_idx hrow = (ocla_idx)h * NTall + ts / CHUNK, trow = (ocla_idx)h * Tall + ts;
    g += (ocla_idx)ts * gt; /* scalar gates [1,T,H] (fixed decays and the cumsums: gt = 0) */
#define KG_ (USE_GK ? K : GATE ? 1 : 0) /* log decays per (portion or block, head): K values, one, none */
#define H0_HERE (has_h0 && !(wfl & 1)) /* the initial state: where the portion starts its sequence */
#define SKIP_M0 (m == 0)               /* the state entering the first block: its own writer's */
    float gtot = 0.0f; /* the log decay from r0 to this chunk's start: per key tid (USE_GK), or the head's */
#else
    const int b = bh / H, ts = 0, T = Tall, NT = NTall, sbh = bh, lo = 0;
#define H0_HERE has_h0
#define SKIP_M0 (m < 0)
    const ocla_idx hrow = (ocla_idx)bh * NT, trow = (ocla_idx)bh * T; /* rows of [B*H][NT] and [B*H][T] */
#endif
    __global const ocla_data *kbase = k + b * kb + h * kh + k0 * kd_ + (ocla_idx)ts * kt;
    __global const ocla_data *vbase = v + b * vb + h * vh + v0 * vd_ + (ocla_idx)ts * vt;
    float acc[4][4];
#if USE_GK
    /* per-key gates: the chunk's cumulative gates of this key slice (W-wide loads), those of its
     * last row, and the last row's values at this work-item's two state rows */
    __global const float *gkb = g + trow * K + k0;
#if VARLEN /* the cumsums at row r0 - 1 of the state rows (r0 inside its block): the first chunk's decays start at r0 */
    float glo[2] = {0.0f, 0.0f};
    for (int i = 0; i < 2; i++)
        if (lo > 0 && k0 + wm + 2 * gr + i < K) glo[i] = gkb[(off_t_)(lo - 1) * K + wm + 2 * gr + i];
#define GLO(i) (m == 0 ? glo[i] : 0.0f)
#else
#define GLO(i) 0.0f
#endif
#if GKA
#define GK_LOADS(t0_, rows_)
#else
    wvec pgk[LOADS / W], pgl = (wvec)(0.0f);
    float pdr[2] = {0.0f, 0.0f};
#define GK_LOADS(t0_, rows_)                                                                                \
    {                                                                                                       \
        const int c_ = W * (tid % (TILE / W)), last_ = (t0_) + (rows_)-1;                                   \
        pgl = k0 + c_ < K ? WLOAD(gkb, last_, c_, K, 1) : (wvec)(0.0f);                                     \
        _Pragma("unroll") for (int l = 0; l < LOADS / W; l++) {                                             \
            int e = tid + SWG * l, t = e / (TILE / W), c = W * (e % (TILE / W));                             \
            pgk[l] = (t < (rows_) && k0 + c < K) ? WLOAD(gkb, (t0_) + t, c, K, 1) : pgl;                     \
        }                                                                                                   \
        pdr[0] = k0 + wm + 2 * gr < K ? gkb[(off_t_)last_ * K + wm + 2 * gr] : 0.0f;                        \
        pdr[1] = k0 + wm + 2 * gr + 1 < K ? gkb[(off_t_)last_ * K + wm + 2 * gr + 1] : 0.0f;                \
    }
#endif
#if REV
#define GK_STATE_F(gk_) exp(gk_) /* q_i exp(G_i) */
#else
#define GK_STATE_F(gk_) exp(pgl - (gk_)) /* phi(k_j) exp(G_last - G_j) */
#endif
#else
#define GK_LOADS(t0_, rows_)
#endif
    /* fragment element (j, r) is state row SROW(r), column SCOL(j, r): the mma tiles' rows and
     * columns are permuted so that each lane reads its A fragment as two float2 and its B fragments
     * of the four column tiles as four float2 of local memory (6 loads per 8 chunk rows instead of
     * 12), and writes its accumulators as four float4 (row SROW(2 hr), columns SCOL(2 p, 0) ..
     * + 3: 64 contiguous bytes of a state row per 4 lanes) */
#if MMA16S /* m16n8k16's own layout: rows gr and gr + 8, columns 2 tg and 2 tg + 1 of tile j */
#define SROW(r) (k0 + wm + gr + 8 * ((r) >> 1))
#define SCOL(j, r) (v0 + wn + 8 * (j) + 2 * tg + ((r)&1))
#else
#define SROW(r) (k0 + wm + 2 * gr + ((r) >> 1))
#define SCOL(j, r) (v0 + wn + 16 * ((j) >> 1) + 4 * tg + 2 * ((r)&1) + ((j)&1))
#endif
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = SROW(r), col = SCOL(j, r);
            acc[j][r] = (H0_HERE && row < K && col < V) ? h0[((ocla_idx)sbh * K + row) * V + col] : 0.0f;
#if VARLEN /* a copy for mma_varlen_h0, which runs after the final states may have overwritten h0 */
            if (H0_HERE && row < K && col < V) cbuf[h0_off + ((ocla_idx)sbh * K + row) * V + col] = acc[j][r];
#endif
        }
    float pg = 0.0f; /* the next chunk's raw scalar gate at row tid */
#if ST_ASYNC
    /* k and v go from global to local memory with cp.async (no registers), in half-chunks of HALF
     * rows and ST_NST stages: the next ST_NST - 1 halves load while the tensor cores work on this
     * one; phi and the gate factors are applied as the fragments are read. */
#if G_ASYNC
    /* the gate of row tid of chunk n_: the address and the byte offset in its aligned word */
#define GATE_AT(n_) (g + ((ocla_idx)b * gb + (ocla_idx)((n_) * CHUNK + tid) * gt + (ocla_idx)h * gh))
#define GATE_OFF(n_) ((int)((uintptr_t)GATE_AT(n_) & 3))
#define PREFETCH(n_)                                                                                         \
    if (tid < CHUNK) { /* committed with the next ISSUE */                                                   \
        const int ok_ = tid < min(CHUNK, T - (n_) * CHUNK) && (n_) * CHUNK + tid >= lo;                      \
        __global const GATE_T *ge_ = ok_ ? GATE_AT(n_) : g;                                                  \
        const int n4_ = !ok_ ? 0 : (sizeof(GATE_T) < 4 && ((uintptr_t)ge_ & 3) == 0 && ge_ == gend) ? 2 : 4; \
        cp_async4(&gst[(n_)&1][tid], (__global const void *)((uintptr_t)ge_ & ~(uintptr_t)3), n4_);          \
    }
#else
#define PREFETCH(n_)                                                                                         \
    {                                                                                                        \
        const int t0_ = (n_) * CHUNK, rows_ = min(CHUNK, T - t0_);                                           \
        pg = tid < rows_ && t0_ + tid >= lo ? raw_gate(g, gb, gt, gh, b, t0_ + tid, h) : 0.0f;               \
        GK_LOADS(t0_, rows_)                                                                                 \
    }
#endif
#define ISSUE(hs_)                                                                                           \
    {                                                                                                        \
        const int t0_ = CH((hs_) >> 1) * CHUNK + ((hs_)&1) * HALF, st_ = (hs_) % ST_NST;                    \
        if ((hs_) < 2 * NT) {                                                                                \
            _Pragma("unroll") for (int l = 0; l < HALF * TILE / VPC / SWG; l++) {                            \
                const int e = tid + SWG * l, t = e / (TILE / VPC), c = VPC * (e % (TILE / VPC));             \
                const int okt = t0_ + t < T && t0_ + t >= lo, okk = okt && k0 + c < K, okv = okt && v0 + c < V; \
                cp_async16(&Kst[st_][t][c], kbase + (okk ? (off_t_)(t0_ + t) * (off_t_)kt + c : 0), okk);    \
                cp_async16(&Vst[st_][t][c], vbase + (okv ? (off_t_)(t0_ + t) * (off_t_)vt + c : 0), okv);    \
            }                                                                                                \
            GK_ISSUE(hs_, t0_, st_)                                                                          \
        }                                                                                                    \
        asm volatile("cp.async.commit_group;" ::: "memory");                                                 \
    }
#if GKA
/* the half's gates (rows t0_ .., this key slice) and, with a chunk's first half, its last row */
#define GK_ISSUE(hs_, t0_, st_)                                                                              \
    _Pragma("unroll") for (int l = 0; l < HALF * TILE / 4 / SWG; l++) {                                      \
        const int e = tid + SWG * l, t = e / (TILE / 4), c = 4 * (e % (TILE / 4));                           \
        const int okg = (t0_) + t < T && k0 + c < K;                                                         \
        cp_async16(&Gst[st_][t][c], gkb + (okg ? (off_t_)((t0_) + t) * K + c : 0), okg);                     \
    }                                                                                                        \
    if (((hs_)&1) == 0 && tid < TILE / 4) {                                                                  \
        const int c = 4 * tid, okg = k0 + c < K, last_ = min(CH((hs_) >> 1) * CHUNK + CHUNK, T) - 1;       \
        cp_async16(&Gla[((hs_) >> 1) % 3][c], gkb + (okg ? (off_t_)last_ * K + c : 0), okg);                 \
    }
#else
#define GK_ISSUE(hs_, t0_, st_)
#endif
    for (int hs0 = 0; hs0 < ST_NST - 1; hs0++) ISSUE(hs0) /* past the end: empty groups */
#else
    /* prefetch registers: element group e = tid + SWG*l of the chunk tile is (t = e / (TILE/W), c = W*(e % (TILE/W))) */
    wvec pk[LOADS / W], pv[LOADS / W];
#define PREFETCH(n_)                                                                                  \
    {                                                                                                 \
        const int t0_ = (n_) * CHUNK, rows_ = min(CHUNK, T - t0_);                                    \
        _Pragma("unroll") for (int l = 0; l < LOADS / W; l++) {                                       \
            int e = tid + SWG * l, t = e / (TILE / W), c = W * (e % (TILE / W));                     \
            const int okt_ = t < rows_ && t0_ + t >= lo;                                              \
            pk[l] = (okt_ && k0 + c < K) ? WPHI(DWLOAD(kbase, t0_ + t, c, kt, kd_)) : (wvec)(0.0f);   \
            pv[l] = (okt_ && v0 + c < V) ? DWLOAD(vbase, t0_ + t, c, vt, vd_) : (wvec)(0.0f);         \
        }                                                                                             \
        pg = tid < rows_ && t0_ + tid >= lo ? raw_gate(g, gb, gt, gh, b, t0_ + tid, h) : 0.0f;         \
        GK_LOADS(t0_, rows_)                                                                          \
    }
#endif
#define SAME(x) (x)
#define ONE(t) 1.0f
/* DELTA += PHI_(Kx)^T (Vx * F_): the rows_ rows of a local chunk tile, tile row t being the chunk's
 * row toff_ + t (A[kd][t] = Kx[t][kd], B[t][vd] = Vx[t][vd], contraction over t; rows and columns
 * permuted as SROW/SCOL say: A rows 2 gr and 2 gr + 1 of the warp's 16, B column 16 (j >> 1) +
 * 2 gr + (j & 1) of its 32). */
#define LROW2(X, t, c) (*(__local const float2 *)&X[t][c])
#define CHUNK_MMA(Kx, KL2_, Vx, L2_, rows_, toff_, PHI_, F_)                                                 \
    _Pragma("unroll 2") for (int t8 = 0; t8 < (rows_); t8 += 8) {                                            \
        uint ab[4], as[4], bb[4][2], bs[4][2];                                                               \
        const float2 ka_ = KL2_(Kx, t8 + tg, wm + 2 * gr), kc_ = KL2_(Kx, t8 + tg + 4, wm + 2 * gr);          \
        float a[4] = {PHI_(ka_.x), PHI_(ka_.y), PHI_(kc_.x), PHI_(kc_.y)};                                    \
        split(a, ab, as, 4);                                                                                 \
        const float f0_ = F_((toff_) + t8 + tg), f1_ = F_((toff_) + t8 + tg + 4);                              \
        _Pragma("unroll") for (int p = 0; p < 2; p++) { /* column tiles 2p, 2p + 1 */                        \
            const float2 va_ = L2_(Vx, t8 + tg, wn + 16 * p + 2 * gr) * f0_;                                    \
            const float2 vc_ = L2_(Vx, t8 + tg + 4, wn + 16 * p + 2 * gr) * f1_;                                \
            const float b0_[2] = {va_.x, vc_.x}, b1_[2] = {va_.y, vc_.y};                                     \
            split(b0_, bb[2 * p], bs[2 * p], 2);                                                             \
            split(b1_, bb[2 * p + 1], bs[2 * p + 1], 2);                                                     \
        }                                                                                                    \
        MMA_PASSES_1x4(DELTA, ab, as, bb, bs)                                                                \
    }
    PREFETCH(CH(0))
    for (int m = 0; m < NT; m++) {
        const int n = CH(m);
        /* the state entering chunk n (REV: the gradient of the state leaving it) */
        __global hs_t *hn = hbuf + (hrow + n) * K * V;
#if MMA16S /* two adjacent columns a lane, tile j, rows SROW(2 hr) (lanes paired by shuffles to store
           * four adjacent columns each measured slower with bf16 states: 0.089 -> 0.101 ms at B=4, T=2048) */
#pragma unroll
        for (int hr = 0; hr < 2; hr++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int row = SROW(2 * hr), col = SCOL(j, 0);
                if (row >= K || col >= V || SKIP_M0) continue;
                __global hs_t *dst = hn + (ocla_idx)row * V + col;
#if HS_HALF
                if (col + 1 < V && (V & 1) == 0) /* 4-byte aligned */
                    *(__global uint *)dst = (uint)ocla_bf16_rne(acc[j][2 * hr]) | (uint)ocla_bf16_rne(acc[j][2 * hr + 1]) << 16;
#else
                if (col + 1 < V && (V & 1) == 0) /* 8-byte aligned */
                    *(__global float2 *)dst = (float2)(acc[j][2 * hr], acc[j][2 * hr + 1]);
#endif
                else
#pragma unroll
                    for (int c = 0; c < 2; c++)
                        if (col + c < V) HS_ST(dst, c, acc[j][2 * hr + c]);
            }
#else
#pragma unroll
        for (int hr = 0; hr < 2; hr++)
#pragma unroll
            for (int p = 0; p < 2; p++) {
                const int row = SROW(2 * hr), col = SCOL(2 * p, 0), j = 2 * p, r = 2 * hr;
                if (row >= K || col >= V || SKIP_M0) continue;
                __global hs_t *dst = hn + (ocla_idx)row * V + col;
                const float e_[4] = {acc[j][r], acc[j + 1][r], acc[j][r + 1], acc[j + 1][r + 1]};
#if HS_HALF
                if (col + 3 < V && (V & 3) == 0) /* 8-byte aligned: V and col multiples of 4 */
                    *(__global uint2 *)dst = (uint2)((uint)ocla_bf16_rne(e_[0]) | (uint)ocla_bf16_rne(e_[1]) << 16,
                                                     (uint)ocla_bf16_rne(e_[2]) | (uint)ocla_bf16_rne(e_[3]) << 16);
#else
                if (col + 3 < V && (V & 3) == 0) /* 16-byte aligned: V and col multiples of 4 */
                    *(__global float4 *)dst = (float4)(e_[0], e_[1], e_[2], e_[3]);
#endif
                else
#pragma unroll
                    for (int c = 0; c < 4; c++)
                        if (col + c < V) HS_ST(dst, c, e_[c]);
            }
#endif
#if VARLEN && (GATE || USE_GK)
        /* the log decay from r0 to this block's start (where the carry needs it, with the state
         * above), then this chunk's added: per key of the slice from the cumsums (less the masked
         * rows' before r0 in the first block), or the scalar gates' chunk total (below) */
        if (m > 0 && v0 == 0 && (USE_GK ? tid < TILE && k0 + tid < K : tid == 0 && k0 == 0))
            cbuf[gblk_off + ((ocla_idx)(ts / CHUNK + m) * H + h) * KG_ + (USE_GK ? k0 + tid : 0)] = gtot;
#if USE_GK
        if (tid < TILE && k0 + tid < K)
            gtot += gkb[(off_t_)(min(n * CHUNK + CHUNK, T) - 1) * K + tid] - (m == 0 && lo > 0 ? gkb[(off_t_)(lo - 1) * K + tid] : 0.0f);
#endif
#endif
#if G_ASYNC
        /* this chunk's gates: copied with the first ISSUE after its PREFETCH (the first chunk's:
         * with none yet, so all of them), at most one newer group pending */
        if (m == 0)
            asm volatile("cp.async.wait_all;" ::: "memory");
        else
            asm volatile("cp.async.wait_group 1;" ::: "memory");
        if (tid < CHUNK)
            pg = tid < min(CHUNK, T - n * CHUNK) && n * CHUNK + tid >= lo ? gate_of_word(gst[n & 1][tid], GATE_OFF(n)) : 0.0f;
#endif
#if GATE
        chunk_cumsum(gs, ocla_log_gate(pg), tid);
        const float glast = gs[CHUNK - 1];
#if VARLEN && !USE_GK
        gtot += glast;
#endif
#else
        const float glast = 0.0f;
#endif
#if USE_GK
#if GKA
        float dec0 = 1.0f, dec1 = 1.0f; /* the state rows' decays over the chunk: from Gla, below */
#else
        /* the state rows' decays over the chunk (VARLEN: from r0 in the first) */
        const float dec0 = exp(pdr[0] - GLO(0)), dec1 = exp(pdr[1] - GLO(1));
#endif
#endif
#if ST_ASYNC
#if GATE
#if REV
        if (tid < CHUNK) vf[tid] = scale * exp(gs[tid]); /* read after the next barrier */
#else
        if (tid < CHUNK) vf[tid] = exp(glast - gs[tid]); /* read after the next barrier */
#endif
#define VF(t) vf[t]
#elif REV
#define VF(t) scale
#else
#define VF ONE
#endif
#if !USE_GK
        if (m + 1 < NT) PREFETCH(CH(m + 1))
#endif
#else
#pragma unroll
        for (int l = 0; l < LOADS / W; l++) {
            int e = tid + SWG * l, t = e / (TILE / W), c = W * (e % (TILE / W));
            wvec kk = pk[l]; /* phi applied at the prefetch */
#if USE_GK
            kk *= GK_STATE_F(pgk[l]);
#endif
            WSTORE(kk, &Ks[t][c]);
#if GATE && REV
            WSTORE(pv[l] * (scale * exp(gs[t])), &Vs[t][c]);
#elif GATE
            WSTORE(pv[l] * exp(glast - gs[t]), &Vs[t][c]);
#elif REV
            WSTORE(pv[l] * scale, &Vs[t][c]);
#else
            WSTORE(pv[l], &Vs[t][c]);
#endif
        }
        SYNC();
        if (m + 1 < NT) PREFETCH(CH(m + 1))
#endif
        /* delta = phi(K)^T (V * exp(G_last - G_j)). 3xTF32: the chunk's contribution is summed on the
         * tensor cores from zero, then added to the state in IEEE fp32 (tensor-core accumulation
         * truncates, and over thousands of chunks that grew to 1.2e-4 relative error at T = 16384 when
         * the state itself was the mma accumulator). Plain TF32 (SPLIT 1): the decayed state is the
         * accumulator, since its truncation is far below TF32's own rounding; that saves 16 registers
         * and made the pass faster on the H100 (B=4, T=2048, H=16, D=128: linear 0.217 -> 0.184 ms,
         * simple GLA 0.265 -> 0.201 ms). */
#if USE_GK
#define ROW_DECAY(r) ((r) < 2 ? dec0 : dec1)
#else
        const float decay = exp(glast);
#define ROW_DECAY(r) decay
#endif
/* the state decayed over the chunk (plain TF32: before the chunk's products accumulate into it) */
#define DECAY_STATE()                                                                                            \
    _Pragma("unroll") for (int j = 0; j < 4; j++) _Pragma("unroll") for (int r = 0; r < 4; r++) acc[j][r] *= ROW_DECAY(r);
#if SPLIT == 1
#define DELTA acc
#if !GKA /* GKA: once the chunk's last gates have landed */
        DECAY_STATE()
#endif
#else
#define DELTA delta
        float delta[4][4];
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) delta[j][r] = 0.0f;
#endif
#if ST_ASYNC
#if USE_GK
#pragma unroll
#endif
        for (int hh = 0; hh < 2; hh++) {
            const int hs = 2 * m + hh, st = hs % ST_NST;
            ISSUE(hs + ST_NST - 1) /* into the stage the last step used (an empty group past the end) */
            asm volatile("cp.async.wait_group " ST_WAIT ";" ::: "memory"); /* this half's copies landed */
            SYNC();
#if GKA
            if (hh == 0) { /* the chunk's last gates landed with its first half */
                dec0 = exp(Gla[m % 3][wm + 2 * gr] - GLO(0));
                dec1 = exp(Gla[m % 3][wm + 2 * gr + 1] - GLO(1));
#if SPLIT == 1
                DECAY_STATE()
#endif
            }
#endif
#if USE_GK
            /* phi(k) exp(G_last - G_j) (REV: q exp(G_i)) per key dimension, in place (half data: into
             * Kf): each work-item scales rows 16 l .. 16 l + 15 (l = 2 hh, 2 hh + 1), their gates from its
             * prefetch registers or, with GKA, from the staged rows */
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const int l = 2 * hh + i, e = tid + SWG * l, t = e / (TILE / 4) - hh * HALF, c = 4 * (e % (TILE / 4));
#if GKA /* the factors from the staged gates (rows past the sequence's end: 0) */
                const float4 gk_ = vload4(0, &Gst[st][t][c]);
#if REV
                float4 f_ = exp(gk_);
#else
                float4 f_ = exp(vload4(0, &Gla[m % 3][c]) - gk_);
#endif
                f_ = hh * HALF + t < T - n * CHUNK ? f_ : (float4)(0.0f);
                __local const stg_t *p_ = &Kst[st][t][c];
                vstore4(phi4((float4)(LDX(p_, 0), LDX(p_, 1), LDX(p_, 2), LDX(p_, 3))) * f_, 0, &Kf[t][c]);
#elif HALF_IO /* into fp32 rows (rounding k exp(G_last - G_j) to the half type cost the states 1e-4) */
                __local const stg_t *p_ = &Kst[st][t][c];
                vstore4(phi4((float4)(LDX(p_, 0), LDX(p_, 1), LDX(p_, 2), LDX(p_, 3))) * GK_STATE_F(pgk[l]), 0, &Kf[t][c]);
#else
                vstore4(phi4(vload4(0, &Kst[st][t][c])) * GK_STATE_F(pgk[l]), 0, &Kst[st][t][c]);
#endif
            }
            SYNC();
            if (hh == 1 && m + 1 < NT) PREFETCH(CH(m + 1)) /* this chunk's gates were read: the next one's */
#define KPHI SAME
#else
#define KPHI phi
#endif
#if MMA16S
            /* DELTA += K^T V over the half's rows, 16 at a time: A (16 key dims x 16 rows) and B (16 rows
             * x 8 values, four tiles) by ldmatrix.trans from the [row][dim] staging */
#pragma unroll
            for (int t16 = 0; t16 < HALF; t16 += 16) {
                uint a_[4], b_[4];
                ocla_nv_ldsm_t(a_, &Kst[st][t16 + ((lane >> 4) & 1) * 8 + (lane & 7)][wm + ((lane >> 3) & 1) * 8]);
#pragma unroll
                for (int jj = 0; jj < 2; jj++) {
                    ocla_nv_ldsm_t(b_, &Vst[st][t16 + ((lane >> 3) & 1) * 8 + (lane & 7)][wn + 16 * jj + (lane >> 4) * 8]);
                    mma16(DELTA[2 * jj], a_, b_[0], b_[1]);
                    mma16(DELTA[2 * jj + 1], a_, b_[2], b_[3]);
                }
            }
#elif USE_GK && HALF_IO
            CHUNK_MMA(Kf, LROW2, Vst[st], LROW2H, HALF, hh * HALF, KPHI, VF)
#else
            CHUNK_MMA(Kst[st], LROW2H, Vst[st], LROW2H, HALF, hh * HALF, KPHI, VF)
#endif
#undef KPHI
            SYNC(); /* before ISSUE refills this stage */
        }
#undef VF
#else
        CHUNK_MMA(Ks, LROW2, Vs, LROW2, CHUNK, 0, SAME, ONE)
#endif
#if SPLIT != 1
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[j][r] = mad(acc[j][r], ROW_DECAY(r), delta[j][r]);
#endif
#undef DELTA
#undef ROW_DECAY
#undef DECAY_STATE
#if !ST_ASYNC
        SYNC();
#endif
    }
#undef ISSUE
#undef CHUNK_MMA
#undef SAME
#undef ONE
#undef PREFETCH
#undef GK_LOADS
#undef GK_STATE_F
#if VARLEN
    /* the state at r1: the sequence's final state where the portion is its first and last; else, where
     * the sequence goes on or its final state is wanted, the portion's own into the carry buffer
     * ([P'][H][K][V]: the table numbers the P' portions that have one first), with the log decay */
    const int carried = wfl & 1, last = (wfl >> 1) & 1, own = !last || (carried && has_hT);
    __global float *hend = own ? cbuf + ((ocla_idx)p * H + h) * K * V
                               : last && !carried && has_hT ? hT + (ocla_idx)sbh * K * V : NULL;
#if GATE || USE_GK
    if (own && v0 == 0 && (USE_GK ? tid < TILE && k0 + tid < K : tid == 0 && k0 == 0))
        cbuf[gend_off + ((ocla_idx)p * H + h) * KG_ + (USE_GK ? k0 + tid : 0)] = gtot;
#endif
    if (hend)
#else
    __global float *hend = hT + (ocla_idx)sbh * K * V;
    if (has_hT)
#endif
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int row = SROW(r), col = SCOL(j, r);
                if (row < K && col < V) hend[(ocla_idx)row * V + col] = acc[j][r];
            }
#undef SROW
#undef SCOL
#undef GLO
#undef KG_
#undef H0_HERE
#undef SKIP_M0
}

/* ---- outputs: grid (ceil(V/128) * 256, NT, B*H), local 256 (VARLEN: (.., H, NT)) ----
 * (strict = 1: without the diagonal j = i of the intra-chunk sum: the backward's dq and dk where it
 * adds that term itself, in mma_bwd_dg; scale and scale_inter: the intra- and inter-chunk factors) 
 * One work-group per (chunk, 128-wide value tile), so S = phi(Q) phi(K)^T is computed once for
 * V <= 128. 8 warps as 4 (rows) x 2 (columns): each warp owns 16 rows; of S (64 x 64) 32 columns,
 * of O (64 x 128) 32 columns in each 64-wide half.
 * Phase 1 (over key slices of 32): S += Q_s K_s^T, O += Q_s H_n[s, :].
 * Then O *= exp(G_i); S_ij *= exp(G_i - G_j) for j <= i, 0 above the diagonal; O += S V (two
 * 64-wide halves of V through local memory); o = scale * O. */
#define OWG 256
#define OT 128                                   /* output tile width */
/* O_STAGED: half outputs (the forward's o; the backward's dq, dk, dv where no gate gradient takes
 * them in fp32) stored through local memory as 16-byte groups where every row is 16-byte groups (VEC:
 * o's strides too, runtime/attention_nv.c fit_layout) and chunks are 64 rows (the plan's always);
 * O_LST stores one element there rounded to nearest even, as OCLA_OST rounds */
#define O_STAGED (CHUNK == 64 && VEC && OCLA_OTYPE != OCLA_DT_F32)
#if OCLA_OTYPE == OCLA_DT_BF16
#define O_LST(p, i, x) ((p)[i] = ocla_bf16_rne(x))
#else /* common.cl's conversion: vstore_half_rte's bits (a NaN's payload aside) */
#define O_LST(p, i, x) ((p)[i] = ocla_f16_rne(x))
#endif
/* q, k and state slices staged by cp.async (float4 rows, no per-key gates): slices of OKS key
 * dimensions in O_NST stages, the next slices loading while the tensor cores work on this one (H100,
 * B=4, T=2048, H=16, D=128, 3xTF32: linear 0.344 -> 0.293 ms, simple GLA 0.354 -> 0.300 ms). */
/* MMA16: bf16 data and states with the identity feature map on m16n8k16 (H staged bf16 too); the
 * backward's forms too unless MMA16_REV=0 (their scores rounded to bf16 for the product with the third
 * operand, as the forward's) */
#ifndef MMA16_REV
#define MMA16_REV 1
#endif
#define MMA16 (HS_HALF && FEATURE == OCLA_FEATURE_IDENTITY && (MMA16_REV || (!REV && !HT)))
/* GKM: per-key gates in the forward's output kernel on m16n8k16 too (bf16 states, the identity
 * feature map, dense rows): the chunk's cumulative gates staged with q, k and the state slice by
 * cp.async, and the factors applied as each warp reads its fragments, rounded to bf16 as fla rounds
 * its gated q and k: the scores' block (I, J <= I) from q exp(G_i - G_f(I)) and k exp(G_f(I) - G_j)
 * (G_f(I): sub-chunk I's first row), the inter-chunk part from q exp(G_i). GKM_ON=0: the element-loaded
 * TF32 kernel instead. */
#ifndef GKM_ON
#define GKM_ON 1
#endif
#define GKM (GKM_ON && GKC && MMA16 && !REV && VEC)
#define O_ASYNC (VEC && (!GKC || GKM))
#if O_ASYNC
#define OKS 16
/* q and k slices' row pitch in elements (fp32: 20 words; half: 12 words, a multiple of 16 bytes), and
 * one slice's size in floats */
#define QKP (HALF_IO ? OKS + 8 : OKS + PAD)
#define QKF (HALF_IO ? CHUNK * QKP / 2 : CHUNK * QKP)
#if HT
#define HTP (HS_HALF ? OKS + 8 : OKS + PAD) /* the staged [OT][.] state slice's pitch in elements */
#define OSTAGE (2 * QKF + (HS_HALF ? OT * HTP / 2 : OT * HTP)) /* one stage's local floats */
#else
#define GKP (OKS + 4) /* GKM: the staged gates' row pitch in floats */
#define OSTAGE (2 * QKF + (HS_HALF ? OKS * (OT + 8) / 2 : OKS * (OT + 8)) + (GKM ? CHUNK * GKP : 0)) /* one stage's floats */
#endif
/* O_NST stages in a ring: the copies run O_NST - 1 slices ahead of the tensor cores; with MMA16 four
 * and V through the ring too (O_VPRE, below; H100, bf16, B=2, T=8192, H=16, D=128: linear outputs
 * 0.245 -> 0.216 ms, simple GLA 0.265 -> 0.229), else two (fp32 stages: 48 KiB of local memory) */
/* bf16 states without MMA16 (feature maps other than the identity; measured on the backward's forms
 * before they took MMA16: three stages, H100, linear bf16 forward + backward, B=2, T=8192, H=16, D=128:
 * 1.754 -> 1.700 ms; B=4, T=2048: 0.861 -> 0.835; a transposed-state stage of four passes 48 KiB) */
#ifndef O_NSTH
#define O_NSTH 3
#endif
#ifndef O_NST
#define O_NST (MMA16 ? (HT || GKM ? 3 : 4) : HS_HALF ? O_NSTH : 2) /* HT, GKM: four stages would pass 48 KiB */
#endif
#if O_NST == 2
#define O_WAIT "1"
#elif O_NST == 3
#define O_WAIT "2"
#elif O_NST == 4
#define O_WAIT "3"
#elif O_NST == 5
#define O_WAIT "4"
#else
#error "O_NST: 2 to 5 stages"
#endif
#define P1 (O_NST * OSTAGE)
#else
#define P1 (2 * CHUNK * (KS + PAD) + (HT ? OT * (KS + PAD) : KS * (OT + 8))) /* phase-1 local floats */
#endif
/* One contraction step (key dims d8 .. d8+7 of a slice) without per-key gates: S += PHI_(Q) PHI_(K)^T
 * and O += PHI_(Q) H, from local tiles Qx, Kx (row pitch p_) and Hx (row pitch OT + 8; HT: hp_, the
 * staged q and k rows' pitch but for half data: the states stay fp32); KIN_(d): slice column d lies
 * inside K (phi(0) may be nonzero: padded key columns must not reach S). */
/* K's fragment loads are unconditional and selected after (the staged slice is OKS / KS columns
 * wide, zeros past K): under the condition the driver's PTX branched around each of the 8 loads, and
 * ptxas kept the branches in the VARLEN build (8 BSSY/BSYNC pairs a step); H200, fp32, H=16: packed
 * linear outputs at 32 x 2048, D 64 1.206 -> 1.007 ms (dense 1.064 -> 1.004) */
#define SLICE_BK(Kx, i_, d_, PHI_, KIN_, LD_)                                                                    \
    const float kl0_ = LD_(Kx, i_), kl1_ = LD_(Kx, (i_) + 4);                                                    \
    float bk[2] = {KIN_(d_) ? PHI_(kl0_) : 0.0f, KIN_((d_) + 4) ? PHI_(kl1_) : 0.0f};
#define SLICE_STEP(Qx, Kx, Hx, p_, hp_, d8, PHI_, KIN_, LD_, HLD_)                                               \
    {                                                                                                            \
        uint ab[4], as[4], kb_[4][2], ksm[4][2];                                                                 \
        FRAG_LOADX(a_, Qx, p_, wm + gr, d8, tg, LD_)                                                             \
        _Pragma("unroll") for (int i_ = 0; i_ < 4; i_++) a_[i_] = PHI_(a_[i_]);                                  \
        split(a_, ab, as, 4);                                                                                    \
        _Pragma("unroll") for (int j = 0; j < 4; j++) { /* S: B[d][j'] = K[j'][d] */                             \
            const int c0 = wn + j * 8;                                                                           \
            SLICE_BK(Kx, (c0 + gr) * (p_) + d8 + tg, d8 + tg, PHI_, KIN_, LD_)                                 \
            split(bk, kb_[j], ksm[j], 2);                                                                        \
        }                                                                                                        \
        MMA_PASSES_1x4(sacc, ab, as, kb_, ksm)                                                                   \
        H_STEP(Hx, d8, hp_, HLD_)                                                                                \
    }
/* O += A H for one contraction step (A fragments ab/as in scope): the state slice in local memory as
 * [contraction][OT + 8], or with HT as [OT][p_]. */
#if HT
#define H_B(Hx, d, c0, p_, HLD_) HLD_(Hx, ((c0) + gr) * (p_) + (d))
#else
#define H_B(Hx, d, c0, p_, HLD_) HLD_(Hx, (d) * (OT + 8) + (c0) + gr)
#endif
#define H_STEP(Hx, d8, p_, HLD_)                                                                                 \
    _Pragma("unroll") for (int hf = 0; hf < 2; hf++) if (hf == 0 || v0 + 64 < V) { /* V <= 64: one half */     \
        uint hb_[4][2], hsm[4][2];                                                                               \
        _Pragma("unroll") for (int j = 0; j < 4; j++) { /* O: B[d][vd] = H[d][vd] */                             \
            const int c0 = hf * 64 + wn + j * 8;                                                                 \
            float bh_[2] = {H_B(Hx, (d8) + tg, c0, p_, HLD_), H_B(Hx, (d8) + tg + 4, c0, p_, HLD_)};             \
            split(bh_, hb_[j], hsm[j], 2);                                                                       \
        }                                                                                                        \
        MMA_PASSES_1x4(oacc[hf], ab, as, hb_, hsm)                                                               \
    }
#define SAME(x) (x)
#define ALL_IN(d) 1
/* Half data with the identity feature map (MMA16): one 16-wide slice step on m16n8k16 tensor cores,
 * the staged half elements as they are (exact products, fp32 accumulation): S += Q K^T from packed
 * pairs along the key dimension, O += Q H with H's fragments by ldmatrix.trans (H: [OKS][OT + 8],
 * 272-byte rows: conflict-free). Padded key dimensions were staged as zeros (cp.async). */
/* O_VPRE=1 (MMA16 with cp.async staging): V's two halves go through the stage ring after the key slices
 * (positions NS and NS + 1; the scores in stage NS + 2), so that their copies overlap the last slices'
 * products instead of waiting after them */
#ifndef O_VPRE
#define O_VPRE MMA16
#endif
#define OVP (O_VPRE && MMA16 && O_ASYNC)
#if OVP && O_NST < 3
#error "O_VPRE: at least three stages"
#endif
#if OVP && CHUNK * (TILE + 8) / 2 > OSTAGE
#error "O_VPRE: a stage holds a half of V and the scores"
#endif
#define LD32(p) (*(__local const uint *)(p))
#define SLICE_STEP16(Qx, Kx, Hx, p_)                                                                             \
    {                                                                                                            \
        __local const stg_t *qr_ = Qx + (wm + gr) * (p_) + 2 * tg;                                               \
        const uint a_[4] = {LD32(qr_), LD32(qr_ + 8 * (p_)), LD32(qr_ + 8), LD32(qr_ + 8 * (p_) + 8)};           \
        _Pragma("unroll") for (int j = 0; j < 4; j++) {                                                          \
            __local const stg_t *kr_ = Kx + (wn + 8 * j + gr) * (p_) + 2 * tg;                                   \
            mma16(sacc[j], a_, LD32(kr_), LD32(kr_ + 8));                                                        \
        }                                                                                                        \
        H_STEP16(Hx)                                                                                             \
    }
#if HT /* H as [OT][HTP]: B[d][c] = H[c][d], pairs along d contiguous */
#define H_STEP16(Hx)                                                                                             \
    _Pragma("unroll") for (int hf = 0; hf < 2; hf++) if (hf == 0 || v0 + 64 < V)                                \
        _Pragma("unroll") for (int j = 0; j < 4; j++) {                                                          \
        __local const hs_t *hr_ = Hx + (hf * 64 + wn + 8 * j + gr) * HTP + 2 * tg;                              \
        mma16(oacc[hf][j], a_, LD32(hr_), LD32(hr_ + 8));                                                        \
    }
#else /* H as [OKS][OT + 8]: fragments by ldmatrix.trans */
#define H_STEP16(Hx)                                                                                             \
    _Pragma("unroll") for (int hf = 0; hf < 2; hf++) if (hf == 0 || v0 + 64 < V)                                \
        _Pragma("unroll") for (int jj = 0; jj < 2; jj++) {                                                       \
        uint b_[4];                                                                                              \
        ocla_nv_ldsm_t(b_, Hx + (((lane >> 3) & 1) * 8 + (lane & 7)) * (OT + 8) + hf * 64 + wn + 16 * jj +      \
                                  (lane >> 4) * 8);                                                              \
        mma16(oacc[hf][2 * jj], a_, b_[0], b_[1]);                                                               \
        mma16(oacc[hf][2 * jj + 1], a_, b_[2], b_[3]);                                                           \
    }
#endif
#if GKM
/* One 16-wide slice step with per-key gates (GKM, above) from the staged q, k, state and gates Gx
 * ([CHUNK][GKP] fp32; rows past the chunk's end and key dims past K staged as zeros). Warp I's
 * reference row is G_f(I) (the chunk's last row where sub-chunk I lies past it); rows and columns
 * past the chunk's end are selected to zero (their factors may overflow). Where G_f(I) - G_l(I) passes
 * 30 in one of the slice's key dims, k's factor in the diagonal block could overflow: the warp's
 * scores then come element by element after the slices (big). */
/* Each gated operand is rounded once to bf16. Splitting q's into two bf16 terms (a second product
 * each) measured 0.330 -> 0.365 ms (outputs, H100, B=2, T=8192, H=16, D=128) for a worst error of
 * 3.74e-3 -> 3.69e-3 against fp64 (test_attention_nv.c): the scores' rounding dominated, below. */
#define GK_STEP16(Qx, Kx, Hx, Gx)                                                                                        \
    {                                                                                                                    \
        __local const float *gf_ = Gx + min(wm, rows - 1) * GKP + 2 * tg;                                                \
        __local const float *gl_ = Gx + min(wm + 15, rows - 1) * GKP + 2 * tg;                                           \
        const float2 f0_ = vload2(0, gf_), f1_ = vload2(0, gf_ + 8);                                                     \
        const float2 l0_ = vload2(0, gl_), l1_ = vload2(0, gl_ + 8);                                                     \
        big = big || warp_any((f0_.x - l0_.x > 30.0f) | (f0_.y - l0_.y > 30.0f) | (f1_.x - l1_.x > 30.0f) |              \
                              (f1_.y - l1_.y > 30.0f));                                                                  \
        const float2 e0_ = f0_ * M_LOG2E_F, e1_ = f1_ * M_LOG2E_F;                                                       \
        uint as_[4], a_[4]; /* q exp(G_i - G_f(I)) for S, q exp(G_i) for O */                                            \
        _Pragma("unroll") for (int i_ = 0; i_ < 4; i_++) {                                                               \
            const int r_ = wm + gr + 8 * (i_ & 1), c_ = 2 * tg + 8 * (i_ >> 1), ok_ = r_ < rows;                         \
            const float2 q_ = ldpair(Qx + r_ * QKP + c_);                                                                \
            const float q0_ = q_.x, q1_ = q_.y;                                                                          \
            const float2 g_ = vload2(0, Gx + r_ * GKP + c_) * M_LOG2E_F, e_ = (i_ >> 1) ? e1_ : e0_;                     \
            const float s0_ = ok_ ? q0_ * ocla_nv_ex2(g_.x - e_.x) : 0.0f, s1_ = ok_ ? q1_ * ocla_nv_ex2(g_.y - e_.y) : 0.0f; \
            const float h0_ = q0_ * ocla_nv_ex2(g_.x), h1_ = q1_ * ocla_nv_ex2(g_.y);                                    \
            as_[i_] = ocla_nv_bf16x2(s0_, s1_);                                                                          \
            a_[i_] = ocla_nv_bf16x2(h0_, h1_);                                                                           \
        }                                                                                                                \
        _Pragma("unroll") for (int j = 0; j < 4; j++) if (!big && ((wn + 8 * j) >> 4) <= I) {                            \
            const int t_ = wn + 8 * j + gr, ok_ = t_ < rows;                                                             \
            __local const stg_t *kr_ = Kx + t_ * QKP + 2 * tg;                                                           \
            const float2 k0_ = ldpair(kr_), k1_ = ldpair(kr_ + 8);                                                       \
            const float2 g0_ = vload2(0, Gx + t_ * GKP + 2 * tg) * M_LOG2E_F, g1_ = vload2(0, Gx + t_ * GKP + 2 * tg + 8) * M_LOG2E_F; \
            const float x0_ = ok_ ? k0_.x * ocla_nv_ex2(e0_.x - g0_.x) : 0.0f;                                           \
            const float x1_ = ok_ ? k0_.y * ocla_nv_ex2(e0_.y - g0_.y) : 0.0f;                                           \
            const float x2_ = ok_ ? k1_.x * ocla_nv_ex2(e1_.x - g1_.x) : 0.0f;                                           \
            const float x3_ = ok_ ? k1_.y * ocla_nv_ex2(e1_.y - g1_.y) : 0.0f;                                           \
            mma16(sacc[j], as_, ocla_nv_bf16x2(x0_, x1_), ocla_nv_bf16x2(x2_, x3_));                                     \
        }                                                                                                                \
        H_STEP16(Hx)                                                                                                     \
    }
#endif
#define P2 (CHUNK * (CHUNK + PAD) + CHUNK * (TILE + 8))
/* Per-key gates: phi(q) and phi(k) at chunk row t, key dims d.. (W wide) -> q^ and k~ (see the top).
 * REV (dv): the rows are k's (k~ = k exp(G_f(J) - G_j)), the columns q's (q^ = q exp(G_i - G_f(I))). */
#if REV
#define GK_SCALE(qv, kv, t, d)                                                                                    \
    {                                                                                                             \
        const wvec x_ = WLOAD(gkc, t, d, K, 1) - WLOAD(gkc, (t) & ~15, d, K, 1);                                  \
        qv *= exp(-x_);                                                                                           \
        kv *= exp(x_);                                                                                            \
    }
#else
#define GK_SCALE(qv, kv, t, d)                                                                                    \
    {                                                                                                             \
        const wvec x_ = WLOAD(gkc, t, d, K, 1) - WLOAD(gkc, (t) & ~15, d, K, 1);                                  \
        qv *= exp(x_);                                                                                            \
        kv *= exp(-x_);                                                                                           \
    }
#endif
__kernel __attribute__((reqd_work_group_size(OWG, 1, 1))) void OUTPUT_KERNEL(
    const int B, const int T, const int H, const int K, const int V, const int NT, const float scale,
    const float scale_inter, const int strict,
    __global const ocla_data *q, const ocla_idx qb, const ocla_idx qt, const ocla_idx qh, const ocla_idx qd,
    __global const ocla_data *k, const ocla_idx kb, const ocla_idx kt, const ocla_idx kh, const ocla_idx kd_,
    __global const ocla_data *v, const ocla_idx vb, const ocla_idx vt, const ocla_idx vh, const ocla_idx vd_,
    __global const GATE_T *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh, __global const hs_t *hbuf,
    __global ocla_odata *o, const ocla_idx ob, const ocla_idx ot, const ocla_idx oh, const ocla_idx od
#if REV && HT
    , __global float *oi, const ocla_idx oio /* strict (dk for dg): the inter-chunk part goes here */
#endif
#if VARLEN
    , __global const int *vtab
#endif
    ) {
    __local float mem[P1 > P2 ? P1 : P2] __attribute__((aligned(16)));
    __local float gs[CHUNK];
#if GKC && !GKM
    /* c_IJ (J < I: pair I(I-1)/2 + J), G_f - G_l, exp(G_f(I)) (REV: exp(G_last - G_f(I))) */
    __local float cs[6][KS], dx[4][KS], en[4][KS];
#endif
    __local float *Qs = mem, *Ks = mem + CHUNK * (KS + PAD), *Hs = mem + 2 * CHUNK * (KS + PAD);
#if O_ASYNC
    const int NS = (K + OKS - 1) / OKS; /* key slices */
#endif
#if OVP
    __local float *Ss = mem + ((NS + 2) % O_NST) * OSTAGE, *Vs = mem;
#else
    __local float *Ss = mem, *Vs = mem + CHUNK * (CHUNK + PAD);
#endif
    const int tid = get_local_id(0), lane = tid & 31, warp = tid >> 5, gr = lane >> 2, tg = lane & 3;
    const int wm = (warp >> 1) * 16, wn = (warp & 1) * 32;
#if VARLEN /* grid (.., H, NT): the heads of one block run together, so the rows they read (H D wide) are
           * read at once, as a dense call's B H rows of one chunk index are (blocks first: linear
           * attention's packed output pass 14 % slower than the dense one on the H200) */
    const int v0 = get_group_id(0) * OT, cg = get_group_id(2);
    const int bh = get_group_id(1), h = bh % H;
#else
    const int v0 = get_group_id(0) * OT, cg = get_group_id(1);
    const int bh = get_group_id(2), h = bh % H;
#endif
    const int b = bh / H, t0 = cg * CHUNK, rows = min(CHUNK, T - t0);
#if VARLEN
    /* packed sequences (B = 1): the chunks are the packed axis' 64-row blocks, as dense rows'; a row
     * takes scores from keys of its own sequence only and the block's entering state only where its
     * sequence began before the block. lsr: each row's sequence start relative to the block (the
     * walk table's first T entries: every token's sequence start), stored once the first copies are
     * under way and read after the key slices' barriers (a load and a barrier first made the linear
     * packed output pass 15 % slower than the dense one on the H200, at 32 x 2048 tokens) */
    __local int lsr[CHUNK];
#define LSR_STORE() if (tid < CHUNK) lsr[tid] = tid < rows ? vtab[t0 + tid] - t0 : 0;
#define SEQ_OK(row, col) ((col) >= lsr[row])
#define T_FIRST(row) max(lsr[row], 0) /* the first key of the row's sequence in the block (the sums of
                                        * a non-finite v: 0 * Inf in an earlier sequence's column) */
#else
#define LSR_STORE()
#define SEQ_OK(row, col) 1
#define T_FIRST(row) 0
#endif
    __global const hs_t *hn = hbuf + ((ocla_idx)bh * NT + cg) * K * V;
    __global const ocla_data *qbase = q + b * qb + h * qh + (ocla_idx)t0 * qt;
    __global const ocla_data *kbase = k + b * kb + h * kh + (ocla_idx)t0 * kt;
    __global const ocla_data *vbase = v + b * vb + h * vh + (ocla_idx)t0 * vt;
#if USE_GK
    const int GW = GKO ? V : K; /* the gates' width: the contraction's, or (GKO) the output's */
    __global const float *gkc = g + ((ocla_idx)bh * T + t0) * GW; /* cumulative gates of the chunk */
    const int I = warp >> 1;                                      /* this warp's sub-chunk of rows */
#endif
#if GKC
    int big = 0; /* a sub-chunk with strong gates: this warp's scores go element by element */
#endif
    float sacc[4][4], oacc[2][4][4]; /* S: cols wn+j*8; O: cols hf*64+wn+j*8 */
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) sacc[j][r] = oacc[0][j][r] = oacc[1][j][r] = 0.0f;
#if GATE
    chunk_cumsum(gs, tid < rows ? log_gate(g, gb, gt, gh, b, t0 + tid, h) : 0.0f, tid);
#endif
#if O_ASYNC
/* The state slice of OKS contraction rows x OT columns, element group e of 4 floats: stored [K][V]
 * (rows of the slice in memory), or with HT [V][K] (columns of the slice in memory: [OT][OKS + PAD]). */
#if HT
#define H_ISSUE(hd_, ks_, e)                                                                                     \
    {                                                                                                            \
        const int r = (e) / (OKS / HS_VPC), c = HS_VPC * ((e) % (OKS / HS_VPC)), ok = v0 + r < V && ks_ + c < K;  \
        cp_async16((__local hs_t *)(hd_) + r * HTP + c, hn + (ok ? (off_t_)(v0 + r) * K + ks_ + c : 0), ok);      \
    }
#else
#define H_ISSUE(hd_, ks_, e)                                                                                     \
    {                                                                                                            \
        const int r = (e) / (OT / HS_VPC), c = HS_VPC * ((e) % (OT / HS_VPC)), ok = ks_ + r < K && v0 + c < V;   \
        cp_async16((__local hs_t *)(hd_) + r * (OT + 8) + c, hn + (ok ? (off_t_)(ks_ + r) * V + v0 + c : 0), ok); \
    }
#endif
/* Ring position p_ (stage p_ % O_NST): key slice p_ while p_ < NS; with OVP the two 64-wide halves of
 * V at positions NS and NS + 1 (V's copies run under the last slices' products); past those an empty
 * group, so that one wait count fits every step. */
#if OVP
#define V_ISSUE(p_, sd_)                                                                                         \
    else if ((p_) < NS + 2 && v0 + ((p_)-NS) * 64 < V) {                                                         \
        __local ushort *vd_ = (__local ushort *)(sd_);                                                           \
        _Pragma("unroll") for (int l = 0; l < CHUNK * TILE / 8 / OWG; l++) {                                     \
            const int e = tid + OWG * l, t = e / (TILE / 8), c = 8 * (e % (TILE / 8)), col = v0 + ((p_)-NS) * 64 + c; \
            const int ok = t < rows && col < V;                                                                  \
            cp_async16(vd_ + t * (TILE + 8) + c, vbase + (ok ? (off_t_)t * (off_t_)vt + col : 0), ok);           \
        }                                                                                                        \
    }
#else
#define V_ISSUE(p_, sd_)
#endif
#if GKM /* the slice's cumulative gates, CHUNK rows x OKS, after the state slice */
#define G_ISSUE(sd_, ks_)                                                                                        \
    for (int e = tid; e < CHUNK * OKS / 4; e += OWG) {                                                           \
        const int t = e / (OKS / 4), c = 4 * (e % (OKS / 4)), ok = t < rows && (ks_) + c < K;                    \
        cp_async16((sd_) + 2 * QKF + OKS * (OT + 8) / 2 + t * GKP + c, gkc + (ok ? (off_t_)t * K + (ks_) + c : 0), ok); \
    }
#else
#define G_ISSUE(sd_, ks_)
#endif
#define OISSUE(p_)                                                                                               \
    {                                                                                                            \
        const int ks_ = (p_) * OKS;                                                                              \
        __local float *sd_ = mem + ((p_) % O_NST) * OSTAGE;                                                      \
        __local stg_t *qd_ = (__local stg_t *)sd_, *kd2_ = qd_ + CHUNK * QKP;                                    \
        __local float *hd_ = sd_ + 2 * QKF;                                                                      \
        if ((p_) < NS) {                                                                                         \
            for (int e = tid; e < CHUNK * OKS / VPC; e += OWG) { /* q and k: CHUNK rows x OKS */                \
                const int t = e / (OKS / VPC), c = VPC * (e % (OKS / VPC)), ok = t < rows && ks_ + c < K;        \
                cp_async16(qd_ + t * QKP + c, qbase + (ok ? (off_t_)t * (off_t_)qt + ks_ + c : 0), ok);          \
                cp_async16(kd2_ + t * QKP + c, kbase + (ok ? (off_t_)t * (off_t_)kt + ks_ + c : 0), ok);         \
            }                                                                                                    \
            _Pragma("unroll") for (int l = 0; l < OKS * OT / HS_VPC / OWG; l++) H_ISSUE(hd_, ks_, tid + OWG * l) \
            G_ISSUE(sd_, ks_)                                                                                    \
        }                                                                                                        \
        V_ISSUE(p_, sd_)                                                                                         \
        asm volatile("cp.async.commit_group;" ::: "memory");                                                     \
    }
    for (int p0 = 0; p0 < O_NST - 1; p0++) OISSUE(p0)
    LSR_STORE()
    for (int sl = 0; sl < NS; sl++) {
/* O_LOOP2: two-stage rings keep their own loop (the last slice waits for everything, no empty group)
 * except in the reverse transposed form (dk): H100, bf16 GLA backward, B=2, T=8192 / B=4, T=2048,
 * H=16, D=128: dk 0.610 / 0.312 ms with the general ring against 0.840 / 0.433 with this loop; the fp32
 * forward's outputs within 1 % either way there (0.603-0.617 / 0.308-0.315 ms) */
#ifndef O_LOOP2
#define O_LOOP2 (!(REV && HT))
#endif
#if O_NST == 2 && !OVP && O_LOOP2 /* two stages: the last slice waits for everything (no empty group) */
        if (sl + 1 < NS) {
            OISSUE(sl + 1)
            asm volatile("cp.async.wait_group 1;" ::: "memory"); /* this slice's copies landed */
        } else {
            asm volatile("cp.async.wait_group 0;" ::: "memory");
        }
#else
        OISSUE(sl + O_NST - 1) /* into the stage the last step used */
        asm volatile("cp.async.wait_group " O_WAIT ";" ::: "memory"); /* this slice's copies landed */
#endif
        SYNC();
        __local stg_t *Qa = (__local stg_t *)(mem + (sl % O_NST) * OSTAGE), *Ka = Qa + CHUNK * QKP;
        __local hs_t *Ha = (__local hs_t *)(mem + (sl % O_NST) * OSTAGE + 2 * QKF);
        const int ks0 = sl * OKS;
#define KIN(d) (FEATURE != OCLA_FEATURE_ELU1 || ks0 + (d) < K) /* staged zeros past K: phi(0) = 0 but for elu+1 */
#if GKM
        GK_STEP16(Qa, Ka, Ha, (__local const float *)(mem + (sl % O_NST) * OSTAGE + 2 * QKF + OKS * (OT + 8) / 2))
#elif MMA16
        SLICE_STEP16(Qa, Ka, Ha, QKP)
#else
#pragma unroll UNROLL_K
        for (int d8 = 0; d8 < OKS; d8 += 8) SLICE_STEP(Qa, Ka, Ha, QKP, HTP, d8, phi, KIN, LDX, HLDX)
#endif
#undef KIN
        SYNC(); /* before OISSUE refills this stage */
    }
#undef OISSUE
#undef V_ISSUE
#undef G_ISSUE
#else
    LSR_STORE()
    for (int ks0 = 0; ks0 < K; ks0 += KS) {
        /* every load from an address inside the tensors (row and column 0 where out of range), every
         * factor taken, the zeros selected as the values are stored: no branch around the loads (here
         * and for the state and v below). H100, bf16 GLA, H=16, D=128: forward outputs B=2, T=8192
         * 0.469-0.472 -> 0.455 ms, B=4, T=2048 0.243 -> 0.236; the backward's forms unchanged within
         * noise (dq 0.510-0.515 -> 0.515-0.520, dv 0.493-0.495 -> 0.485-0.491 ms at B=2, T=8192) */
#pragma unroll
        for (int l = 0; l < CHUNK * KS / OWG / W; l++) {
            const int e = tid + OWG * l, t = e / (KS / W), c = W * (e % (KS / W)), ok = t < rows && ks0 + c < K;
            const int tt = ok ? t : 0, cc = ok ? ks0 + c : 0;
            wvec qv = WPHI(DWLOAD(qbase, tt, cc, qt, qd)), kv = WPHI(DWLOAD(kbase, tt, cc, kt, kd_));
#if GKC
            GK_SCALE(qv, kv, tt, cc)
#endif
            WSTORE(ok ? qv : (wvec)(0.0f), Qs + t * (KS + PAD) + c);
            WSTORE(ok ? kv : (wvec)(0.0f), Ks + t * (KS + PAD) + c);
        }
#pragma unroll
        for (int l = 0; l < KS * OT / OWG / W; l++) {
#if HT /* the slice's columns from the [V][K] state: Hs [OT][KS + PAD] */
            int e = tid + OWG * l, r = e / (KS / W), c = W * (e % (KS / W));
            wvec hv = (v0 + r < V && ks0 + c < K) ? HWLOAD(hn, v0 + r, ks0 + c, K, 1) : (wvec)(0.0f);
            WSTORE(hv, Hs + r * (KS + PAD) + c);
#else
            int e = tid + OWG * l, r = e / (OT / W), c = W * (e % (OT / W));
            const int ok = ks0 + r < K && v0 + c < V;
            const int hr = ok ? ks0 + r : 0, hc = ok ? v0 + c : 0;
            const wvec hv = HWLOAD(hn, hr, hc, V, 1);
            WSTORE(ok ? hv : (wvec)(0.0f), Hs + r * (OT + 8) + c);
#endif
        }
#if GKC
        /* the slice's c_IJ for the six pairs J < I, G_f(J) - G_l(J) and exp(G_f(I)) (REV: exp(G_last - G_f(I))) */
        for (int e = tid; e < 14 * KS; e += OWG) {
            const int p = e / KS, d = e % KS, in = ks0 + d < K;
            const int pI = p < 6 ? (p >= 3 ? 3 : p >= 1 ? 2 : 1) : (p - 6) & 3, pJ = p - pI * (pI - 1) / 2;
            const float gf = in ? gkc[(off_t_)min(16 * pI, rows - 1) * K + ks0 + d] : 0.0f;
            if (p < 6)
                cs[p][d] = in ? exp(gf - gkc[(off_t_)min(16 * pJ, rows - 1) * K + ks0 + d]) : 0.0f;
            else if (p < 10)
                dx[pI][d] = in ? gf - gkc[(off_t_)min(16 * pI + 15, rows - 1) * K + ks0 + d] : 0.0f;
            else
                en[pI][d] = in ? exp(REV ? gkc[(off_t_)(rows - 1) * K + ks0 + d] - gf : gf) : 0.0f;
        }
#endif
        SYNC();
#if GKC
        /* once set, the warp's scores come from the element-wise sums after the slices (the factors
         * that grow: k~ of the sub-chunks J <= I; REV: of the warp's own rows) */
#if KS != 16 && KS != 32
#error "attn_mma_nv.cl: KS must be 16 or 32 (a lane per slice column below)"
#endif
        const int dl = lane % KS; /* KS = 16: lanes 16-31 repeat 0-15 */
#if REV
        big = big || warp_any(dx[I][dl] > 30.0f);
#else
        big = big || warp_any((dx[0][dl] > 30.0f) | (I >= 1 && dx[1][dl] > 30.0f) |
                              (I >= 2 && dx[2][dl] > 30.0f) | (I >= 3 && dx[3][dl] > 30.0f));
#endif
#endif
#pragma unroll UNROLL_K
        for (int d8 = 0; d8 < KS; d8 += 8) {
#if GKC
            uint ab[4], as[4], kb_[4][2], ksm[4][2];
            FRAG_LOAD(a_, Qs, KS + PAD, wm + gr, d8, tg)
            split(a_, ab, as, 4);
#pragma unroll
            for (int j = 0; j < 4; j++) { /* S: B[d][j'] = K[j'][d] */
                int c0 = wn + j * 8;
                float bk[2] = {Ks[(c0 + gr) * (KS + PAD) + d8 + tg], Ks[(c0 + gr) * (KS + PAD) + d8 + tg + 4]};
                const int J = c0 >> 4;
#if REV /* the warp's rows: sub-chunk I of k; the columns: sub-chunks J >= I of q */
                if (J > I) {
                    bk[0] *= cs[J * (J - 1) / 2 + I][d8 + tg];
                    bk[1] *= cs[J * (J - 1) / 2 + I][d8 + tg + 4];
                }
#else
                if (J < I) {
                    bk[0] *= cs[I * (I - 1) / 2 + J][d8 + tg];
                    bk[1] *= cs[I * (I - 1) / 2 + J][d8 + tg + 4];
                }
#endif
                split(bk, kb_[j], ksm[j], 2);
            }
            /* blocks masked by causality are skipped; the inter-chunk rows are q^ exp(G_f(I)) (REV:
             * k~ exp(G_last - G_f(I)), or from the inputs where k~ may have overflowed) */
            MMA_PASSES_IF(sacc, ab, as, kb_, ksm, !big && (REV ? ((wn + j_ * 8) >> 4) >= I : ((wn + j_ * 8) >> 4) <= I))
            {
                const float e0 = en[I][d8 + tg], e1 = en[I][d8 + tg + 4];
                float ai[4] = {a_[0] * e0, a_[1] * e0, a_[2] * e1, a_[3] * e1};
#if REV
                if (big)
#pragma unroll
                    for (int m_ = 0; m_ < 4; m_++) {
                        const int row = wm + gr + 8 * (m_ & 1), d = ks0 + d8 + tg + 4 * (m_ >> 1);
                        ai[m_] = row < rows && d < K ? phi(DLD(qbase, row * qt + d * qd)) *
                                                           exp(gkc[(ocla_idx)(rows - 1) * K + d] - gkc[(ocla_idx)row * K + d])
                                                     : 0.0f;
                    }
#endif
                split(ai, ab, as, 4);
            }
            H_STEP(Hs, d8, KS + PAD, LDF)
#else
            SLICE_STEP(Qs, Ks, Hs, KS + PAD, KS + PAD, d8, SAME, ALL_IN, LDF, LDF)
#endif
        }
        SYNC();
    }
#endif
    /* gate the inter-chunk part by exp(G_i) and the intra-chunk scores by exp(G_i - G_j), causal;
     * REV: by exp(G_last - G_i) and exp(G_j - G_i), anti-causal (j >= i); then the scales */
/* the scores in local memory: fp32 [CHUNK][CHUNK + PAD], or (MMA16V) bf16 [CHUNK][CHUNK + 8], rounded
 * once as fla rounds them, for S V on m16n8k16 */
#define MMA16V (MMA16 && O_ASYNC)
#if MMA16V && GKM
/* GKM: the scores as two bf16 terms, S = hi + lo (2^-17), and S V as two products: one rounding of
 * the scores measured up to 6.7e-3 normwise on the H100 where strong gates leave one or two scores
 * per row (o_i ~ S_ii v_i: the rounding does not average out). hi as MMA16V's; lo in the stage tails
 * past V's halves and hi ([CHUNK][CHUNK + 8] bf16; rows 0-31 in the scores' stage, 32-63 in V's first) */
#if CHUNK * (TILE + 8) / 2 + 32 * (CHUNK + 8) / 2 > OSTAGE
#error "GKM: a stage's tail holds 32 rows of the scores' low terms"
#endif
#define SLO_ROW(r)                                                                                               \
    ((__local ushort *)(mem + (((r) < 32 ? NS + 2 : NS) % O_NST) * OSTAGE + CHUNK * (TILE + 8) / 2) +             \
     ((r)&31) * (CHUNK + 8))
#define SS_ST(row, col, x)                                                                                       \
    {                                                                                                            \
        const float x_ = (x);                                                                                    \
        const ushort h_ = ocla_bf16_rne(x_);                                                                     \
        ((__local ushort *)Ss)[(row) * (CHUNK + 8) + (col)] = h_;                                                \
        SLO_ROW(row)[col] = ocla_bf16_rne(x_ - ocla_bf16_load(h_));                                        \
    }
#define S_AT(row, t) (LDX(S16, (row) * (CHUNK + 8) + (t)) + LDX(SLO_ROW(row), t))
#elif MMA16V
#define SS_ST(row, col, x) (((__local ushort *)Ss)[(row) * (CHUNK + 8) + (col)] = ocla_bf16_rne(x))
#define S_AT(row, t) LDX(S16, (row) * (CHUNK + 8) + (t))
#else
#define SS_ST(row, col, x) (Ss[(row) * (CHUNK + PAD) + (col)] = (x))
#endif
#if REV
#define KEEP(row, col) ((col) > (row) || (!strict && (col) == (row)))
#else
#define KEEP(row, col) (((col) < (row) || (!strict && (col) == (row))) && SEQ_OK(row, col))
#endif
    /* the exponentials are taken for every element and the masked ones selected away (fmin keeps them
     * finite): a conditional exp is a divergent branch per element, each waiting on its gs load */
#if GATE
    const float grw[2] = {gs[wm + gr], gs[wm + gr + 8]};
#if REV
    const float fiw[2] = {scale_inter * exp(gs[CHUNK - 1] - grw[0]), scale_inter * exp(gs[CHUNK - 1] - grw[1])};
#else
    const float fiw[2] = {scale_inter * exp(grw[0]), scale_inter * exp(grw[1])};
#endif
#endif
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int row = wm + gr + 8 * (r >> 1), col = wn + j * 8 + 2 * tg + (r & 1);
#if GATE
            const float fi = fiw[r >> 1];
#if REV
            const float x = scale * sacc[j][r] * exp(fmin(gs[col] - grw[r >> 1], 0.0f));
#else
            const float x = scale * sacc[j][r] * exp(fmin(grw[r >> 1] - gs[col], 0.0f));
#endif
            SS_ST(row, col, KEEP(row, col) ? x : 0.0f);
#else
            const float fi = scale_inter;
#if GKC
            if (!big)
#endif
                SS_ST(row, col, KEEP(row, col) ? scale * sacc[j][r] : 0.0f);
#endif
#if VARLEN /* a select: the state of a block whose first row starts a sequence is never written */
            const int cont = lsr[row] < 0;
            oacc[0][j][r] = cont ? oacc[0][j][r] * fi : 0.0f;
            oacc[1][j][r] = cont ? oacc[1][j][r] * fi : 0.0f;
#else
            oacc[0][j][r] *= fi;
            oacc[1][j][r] *= fi;
#endif
        }
#if GKC
    if (big) /* replaces this warp's scores (its tensor-core products were skipped) */
        for (int e = lane; e < 16 * 32; e += 32) {
            const int row = wm + e / 32, col = wn + e % 32;
            float sum = 0.0f;
            if (REV ? col >= row && col < rows : col <= row && row < rows && SEQ_OK(row, col))
                for (int d = 0; d < K; d++)
                    sum += phi(DLD(qbase, row * qt + d * qd)) * phi(DLD(kbase, col * kt + d * kd_)) *
                           exp(REV ? gkc[(ocla_idx)col * K + d] - gkc[(ocla_idx)row * K + d]
                                   : gkc[(ocla_idx)row * K + d] - gkc[(ocla_idx)col * K + d]);
            SS_ST(row, col, scale * sum);
        }
#endif
/* The statements for every element (hf, j, r) of the O accumulator, at chunk row `row` and output
 * column `col`. */
#define FOR_OACC(...)                                                                                            \
    _Pragma("unroll") for (int hf = 0; hf < 2; hf++) _Pragma("unroll") for (int j = 0; j < 4; j++)             \
        _Pragma("unroll") for (int r = 0; r < 4; r++) {                                                          \
        const int row = wm + gr + 8 * (r >> 1), col = v0 + hf * 64 + wn + j * 8 + 2 * tg + (r & 1);             \
        __VA_ARGS__                                                                                              \
    }
#if GKO
    /* per-key gates on the output columns (dq, dk): the inter-chunk part's exp(G_i) (REV: exp(G_last -
     * G_j)) per element (rows past the chunk's end read its last row's gates) */
    FOR_OACC(const ocla_idx gi_ = (ocla_idx)min(row, rows - 1) * GW + col;
             if (col < V) oacc[hf][j][r] *= exp(REV ? gkc[(ocla_idx)(rows - 1) * GW + col] - gkc[gi_] : gkc[gi_]);)
#endif
#if REV && HT
    /* dk for the gate gradient: its inter-chunk part exp(G_last - G_j) dH_{n+1} v_j apart (mma_bwd_dg
     * adds the two; it sums k_j.(this part) over earlier rows, where the chunk's decay makes it small) */
    if (strict) {
        __global float *ibase = oi + oio + b * ob + h * oh + (ocla_idx)t0 * ot;
        FOR_OACC(if (row < rows && col < V) ibase[row * ot + col * od] = oacc[hf][j][r]; oacc[hf][j][r] = 0.0f;)
    }
#endif
    /* O += S V in two 64-wide halves. A non-finite v_j must reach only rows i >= j: the masked
     * zeros of S would turn it into NaN in earlier rows (0 * Inf), so a half whose V tile holds a
     * non-finite value is done with a select-based loop instead of the tensor cores (rare). */
    __local int nonfinite;
/* acc += S[the warp's rows][t8 .. t8 + 7] V[t8 .. t8 + 7][the warp's columns] on the tensor cores */
#define SV_STEP(acc, t8)                                                                                         \
    {                                                                                                            \
        uint ab[4], as[4], bb[4][2], bs[4][2];                                                                   \
        FRAG_A(Ss, CHUNK + PAD, wm + gr, t8, tg, ab, as)                                                         \
        _Pragma("unroll") for (int j = 0; j < 4; j++) {                                                          \
            const int c0 = wn + j * 8;                                                                           \
            float bf[2] = {Vs[((t8) + tg) * (TILE + 8) + c0 + gr], Vs[((t8) + tg + 4) * (TILE + 8) + c0 + gr]};   \
            split(bf, bb[j], bs[j], 2);                                                                          \
        }                                                                                                        \
        MMA_PASSES_1x4(acc, ab, as, bb, bs)                                                                      \
    }
#if MMA16V
    /* bf16 S [CHUNK][CHUNK + 8] and V [CHUNK][TILE + 8] (rows of 144 bytes: 16-byte aligned,
     * conflict-free for ldmatrix); V by cp.async, its non-finite values found in local memory */
    __local const ushort *S16 = (__local const ushort *)Ss;
#if !OVP
    __local ushort *V16 = (__local ushort *)(mem + CHUNK * (CHUNK + 8) / 2);
#endif
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        if (v0 + hf * 64 >= V) break;
        if (tid == 0) nonfinite = 0;
        SYNC();
        int bad = 0;
#if OVP /* copied during the key slices (V_ISSUE: this work-item's elements as below) */
        __local ushort *V16 = (__local ushort *)(mem + ((NS + hf) % O_NST) * OSTAGE);
#else
#pragma unroll
        for (int l = 0; l < CHUNK * TILE / 8 / OWG; l++) {
            const int e = tid + OWG * l, t = e / (TILE / 8), c = 8 * (e % (TILE / 8)), col = v0 + hf * 64 + c;
            const int ok = t < rows && col < V;
            cp_async16(V16 + t * (TILE + 8) + c, vbase + (ok ? (off_t_)t * (off_t_)vt + col : 0), ok);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
#endif
        asm volatile("cp.async.wait_group 0;" ::: "memory");
#pragma unroll
        for (int l = 0; l < CHUNK * TILE / 8 / OWG; l++) {
            const int e = tid + OWG * l, t = e / (TILE / 8), c = 8 * (e % (TILE / 8));
            const uint4 w_ = *(__local const uint4 *)(V16 + t * (TILE + 8) + c); /* this work-item's copy */
            const uint4 x_ = w_ & (uint4)(0x7f807f80u);
            bad |= any((x_ & (uint4)(0x7f80u)) == (uint4)(0x7f80u)) | any((x_ >> 16) == (uint4)(0x7f80u));
        }
        if (bad) nonfinite = 1;
        SYNC();
        if (nonfinite) {
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    int row = wm + gr + 8 * (r >> 1), c = wn + j * 8 + 2 * tg + (r & 1);
                    float sum = 0.0f;
                    for (int t = REV ? row + strict : T_FIRST(row); t <= (REV ? rows - 1 : row - strict); t++)
                        sum = mad(S_AT(row, t), LDX(V16, t * (TILE + 8) + c), sum);
                    oacc[hf][j][r] += sum;
                }
            SYNC();
            continue;
        }
        /* O += S V: m16n8k16 over the chunk's time steps, V's fragments by ldmatrix.trans */
#pragma unroll
        for (int t16 = 0; t16 < CHUNK; t16 += 16) {
            __local const ushort *sr_ = S16 + (wm + gr) * (CHUNK + 8) + t16 + 2 * tg;
            const uint a_[4] = {LD32(sr_), LD32(sr_ + 8 * (CHUNK + 8)), LD32(sr_ + 8), LD32(sr_ + 8 * (CHUNK + 8) + 8)};
#if GKM
            __local const ushort *sl_ = SLO_ROW(wm + gr) + t16 + 2 * tg; /* rows wm + gr + 8 lie in the same half */
            const uint al_[4] = {LD32(sl_), LD32(sl_ + 8 * (CHUNK + 8)), LD32(sl_ + 8), LD32(sl_ + 8 * (CHUNK + 8) + 8)};
#endif
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                uint b_[4];
                ocla_nv_ldsm_t(b_, V16 + (t16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * (TILE + 8) + wn + 16 * jj +
                                       (lane >> 4) * 8);
                mma16(oacc[hf][2 * jj], a_, b_[0], b_[1]);
                mma16(oacc[hf][2 * jj + 1], a_, b_[2], b_[3]);
#if GKM
                mma16(oacc[hf][2 * jj], al_, b_[0], b_[1]);
                mma16(oacc[hf][2 * jj + 1], al_, b_[2], b_[3]);
#endif
            }
        }
        SYNC();
    }
#else
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        if (v0 + hf * 64 >= V) break;
        if (tid == 0) nonfinite = 0;
        SYNC();
        int bad = 0;
#pragma unroll
        for (int l = 0; l < CHUNK * TILE / OWG / W; l++) {
            int e = tid + OWG * l, t = e / (TILE / W), c = W * (e % (TILE / W)), col = v0 + hf * 64 + c;
            const int okv = t < rows && col < V;
            const int vr = okv ? t : 0, vc = okv ? col : 0;
            wvec vv = DWLOAD(vbase, vr, vc, vt, vd_);
            vv = okv ? vv : (wvec)(0.0f);
            bad |= WBAD(vv);
#if GKO /* w~ = w exp(G_f(J) - G_t) (REV: w exp(G_t - G_l(J))) for row t of sub-chunk J: >= w */
            if (t < rows && col < V)
                vv *= REV ? exp(WLOAD(gkc, t, col, GW, 1) - WLOAD(gkc, min(t | 15, rows - 1), col, GW, 1))
                          : exp(WLOAD(gkc, t & ~15, col, GW, 1) - WLOAD(gkc, t, col, GW, 1));
#endif
            WSTORE(vv, Vs + t * (TILE + 8) + c);
        }
        if (bad) nonfinite = 1;
        SYNC();
#if GKO
        /* The products with gates on the output columns, per warp over its sub-chunks J of the
         * contraction (dq: J = 0 .. I; dk, REV: J = 3 down to I) in Horner form: the partial sum
         * is rescaled per column by exp(G_f(J) - G_f(J-1)) (REV: exp(G_l(J+1) - G_l(J))), <= 1,
         * before J's products with w~, and at the end each row by exp(G_i - G_f(I)) (REV:
         * exp(G_l(I) - G_j)), <= 1; w~ <= w exp(G_f(J) - G_l(J)). Where that passes exp(30) in one
         * of the warp's columns (gates near the floor), or w holds a non-finite value, the warp sums
         * element by element from the inputs instead. */
        {
            const int cw = v0 + hf * 64 + wn + lane;
            int strong = 0;
            for (int J = REV ? I : 0; J <= (REV ? 3 : I); J++)
                strong |= cw < V && gkc[(ocla_idx)min(16 * J, rows - 1) * GW + cw] -
                                            gkc[(ocla_idx)min(16 * J + 15, rows - 1) * GW + cw] > 30.0f;
            if (nonfinite || warp_any(strong)) {
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int r = 0; r < 4; r++) {
                        const int row = wm + gr + 8 * (r >> 1), c = v0 + hf * 64 + wn + j * 8 + 2 * tg + (r & 1);
                        float sum = 0.0f;
                        if (row < rows && c < V)
                            for (int t = REV ? row + strict : T_FIRST(row); t <= (REV ? rows - 1 : row - strict); t++)
                                sum = mad(Ss[row * (CHUNK + PAD) + t] * DLD(vbase, (ocla_idx)t * vt + (ocla_idx)c * vd_),
                                          exp(REV ? gkc[(ocla_idx)t * GW + c] - gkc[(ocla_idx)row * GW + c]
                                                  : gkc[(ocla_idx)row * GW + c] - gkc[(ocla_idx)t * GW + c]),
                                          sum);
                        oacc[hf][j][r] += sum;
                    }
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int r = 0; r < 4; r++) sacc[j][r] = 0.0f; /* the scores are in Ss: reused */
                for (int s_ = 0; s_ < (REV ? 4 - I : I + 1); s_++) {
                    const int J = REV ? 3 - s_ : s_;
                    if (s_ > 0)
#pragma unroll
                        for (int j = 0; j < 4; j++)
#pragma unroll
                            for (int cc = 0; cc < 2; cc++) {
                                const int col = v0 + hf * 64 + wn + j * 8 + 2 * tg + cc;
                                const int fa = min(REV ? 16 * J + 31 : 16 * J, rows - 1), fb = min(REV ? 16 * J + 15 : 16 * J - 16, rows - 1);
                                const float f = col < V ? exp(gkc[(ocla_idx)fa * GW + col] - gkc[(ocla_idx)fb * GW + col]) : 1.0f;
                                sacc[j][cc] *= f;
                                sacc[j][cc + 2] *= f;
                            }
#pragma unroll
                    for (int u = 0; u < 2; u++) {
                        const int t8 = 16 * J + 8 * u;
                        SV_STEP(sacc, t8)
                    }
                }
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int r = 0; r < 4; r++) {
                        const int row = min(wm + gr + 8 * (r >> 1), rows - 1), col = v0 + hf * 64 + wn + j * 8 + 2 * tg + (r & 1);
                        const int ref = min(REV ? 16 * I + 15 : 16 * I, rows - 1);
                        if (col < V)
                            oacc[hf][j][r] += sacc[j][r] * exp(REV ? gkc[(ocla_idx)ref * GW + col] - gkc[(ocla_idx)row * GW + col]
                                                                   : gkc[(ocla_idx)row * GW + col] - gkc[(ocla_idx)ref * GW + col]);
                    }
            }
        }
#else
        if (nonfinite) {
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    int row = wm + gr + 8 * (r >> 1), c = wn + j * 8 + 2 * tg + (r & 1);
                    float sum = 0.0f;
                    for (int t = REV ? row + strict : T_FIRST(row); t <= (REV ? CHUNK - 1 : row - strict); t++)
                        sum = mad(Ss[row * (CHUNK + PAD) + t], Vs[t * (TILE + 8) + c], sum);
                    oacc[hf][j][r] += sum;
                }
            SYNC();
            continue;
        }
        /* contraction over the chunk's time steps */
#pragma unroll UNROLL_K
        for (int t8 = 0; t8 < CHUNK; t8 += 8) SV_STEP(oacc[hf], t8)
#endif
        SYNC();
    }
#endif /* MMA16V */
#undef SV_STEP
    __global ocla_odata *obase = o + b * ob + h * oh + (ocla_idx)t0 * ot;
#if O_STAGED
    /* half outputs in rows of 16-byte groups: the 64 x 128 tile through local memory (row r: 128
     * elements, 16-byte group G at G ^ (r % 8)), rounded as OCLA_OST rounds, then out as 16-byte
     * groups, instead of one 2-byte store per element (eight rows a store instruction) */
    SYNC(); /* every warp is done with local memory */
    {
        __local ushort *os_ = (__local ushort *)mem;
        FOR_OACC(O_LST(os_, row * OT + 8 * (((col - v0) >> 3) ^ (row & 7)) + ((col - v0) & 7), oacc[hf][j][r]);)
        SYNC();
#pragma unroll
        for (int l = 0; l < CHUNK * OT / 8 / OWG; l++) {
            const int e = tid + OWG * l, row = e / (OT / 8), gi = e % (OT / 8), col = v0 + 8 * gi;
            __local const ushort *x_ = os_ + row * OT + 8 * (gi ^ (row & 7));
            if (row < rows && col < V) {
                __global ushort *d_ = (__global ushort *)obase + (ocla_idx)row * ot + col;
                if (col + 8 <= V)
                    *(__global uint4 *)d_ = *(__local const uint4 *)x_;
                else
                    for (int i = 0; i < V - col; i++) d_[i] = x_[i];
            }
        }
    }
#else
    FOR_OACC(if (row < rows && col < V) OCLA_OST(obase, row * ot + col * od, oacc[hf][j][r]);)
#endif
#undef FOR_OACC
}
#undef SEQ_OK
#undef LSR_STORE
#undef T_FIRST

#if VARLEN && !REV
/* ---- packed sequences' carries: grid (K*V rounded up to 256, entries, H), local 256 ----
 * The state pass walks each sequence in portions of at most a walk's width of blocks, each
 * from a zero state (runtime/seq_table.c). With S_p the true state entering portion p (the state at
 * the end of its sequence's previous portion), a state the portion wrote at a point x is
 * local_x + exp(L_x) S_p, L_x the log decay over [r0, x) (per key with per-key gates: row kd of the
 * state scales by exp(L_x[kd]); 0 without a gate), and S_p = the sum over the sequence's earlier
 * portions q of end_q decayed over the portions after q (the first portion's end holds the initial
 * state already: the state pass starts it there). Every exponent is a
 * sum of log gates, <= 0. An entry (kind, block, p): 0, the state entering block `block`, inside
 * portion p, in place; 1, the state entering block `block`, the end of portion p; 2, the final state
 * of p's sequence, the end of its last portion p. Entries read the carry buffer (kind 0 also its own
 * state element) and write the states, so none depends on another. bf16 states (HS_HALF): a kind-0
 * state is rounded twice, as the portion's own and with the carry added. */
#define KG_ (USE_GK ? K : GATE ? 1 : 0)
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void mma_varlen_carry(
    const int H, const int K, const int V, const int NB, __global const int *vtab, const int woff, const int eoff,
    __global hs_t *hbuf, __global const float *cbuf, const ocla_idx gend_off, const ocla_idx gblk_off,
    __global float *hT) {
    const int e = get_global_id(0), en = get_group_id(1), h = get_group_id(2);
    if (e >= K * V) return;
    const int kd = e / V, kind = vtab[eoff + 3 * en], blk = vtab[eoff + 3 * en + 1], p = vtab[eoff + 3 * en + 2];
    const ocla_idx KV = (ocla_idx)K * V;
#define LOGDEC(off_, i_) (KG_ ? cbuf[(off_) + ((ocla_idx)(i_) * H + h) * KG_ + (KG_ > 1 ? kd : 0)] : 0.0f)
    float s = 0.0f, l = 0.0f; /* S_p, and the log decay from the newest portion's end back to r0 of p */
    for (int q = (vtab[woff + 4 * p + 3] >> 2) - 1; q >= 0; q = (vtab[woff + 4 * q + 3] >> 2) - 1) {
        s += exp(l) * cbuf[((ocla_idx)q * H + h) * KV + e];
        l += LOGDEC(gend_off, q);
    }
    const int sq = vtab[woff + 4 * p + 2];
    __global hs_t *hs = hbuf + ((ocla_idx)h * NB + blk) * KV + e;
    const float base = kind == 0 ? HS_LD(hs, 0) : cbuf[((ocla_idx)p * H + h) * KV + e];
    const float x = base + exp(kind == 0 ? LOGDEC(gblk_off, blk) : LOGDEC(gend_off, p)) * s;
    if (kind == 2)
        hT[((ocla_idx)sq * H + h) * KV + e] = x;
    else
        HS_ST(hs, 0, x);
#undef LOGDEC
}
#undef KG_

/* ---- packed sequences' initial states: grid (64 * V rounded up to 256, N, H), local 256 ----
 * The output pass takes a block's entering state only for rows whose sequence began before the
 * block, and the state pass starts each sequence from its initial state h0, so the rows of sequence
 * s inside the block holding its first token r0 miss o_i += scale (phi(q_i) exp(G_i - G_(r0-1)))^T h0_s
 * (G: the cumulative log gates, per key with per-key gates, whose cumsums run from the block's
 * start): added here, one work-item per (row, value column), after the output pass (a half o is
 * rounded a second time there), from the copy of h0 the state pass made in the carry buffer (the
 * final states may be h0's memory). cu: the offsets, at coff of the table. */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void mma_varlen_h0(
    const int T, const int H, const int K, const int V, const float scale,
    __global const ocla_data *q, const ocla_idx qb, const ocla_idx qt, const ocla_idx qh, const ocla_idx qd,
    __global const GATE_T *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh, __global const float *cbuf,
    const ocla_idx h0_off, __global ocla_odata *o, const ocla_idx ob, const ocla_idx ot, const ocla_idx oh,
    const ocla_idx od, __global const int *vtab, const int coff) {
    const int e = get_global_id(0), sq = get_group_id(1), h = get_group_id(2), row = e / V, c = e % V;
    const int r0 = vtab[coff + sq], r1 = vtab[coff + sq + 1], i = r0 + row;
    if (row >= CHUNK || i >= min(r1, (r0 / CHUNK + 1) * CHUNK)) return;
    __global const float *hs = cbuf + h0_off + (ocla_idx)sq * H * K * V + (ocla_idx)h * K * V + c; /* h0's copy */
    __global const ocla_data *qi = q + (ocla_idx)i * qt + (ocla_idx)h * qh;
#if USE_GK /* the cumsums [H][T][K] */
    const int inner = r0 % CHUNK > 0; /* row r0 - 1 in the same block: its cumsum is subtracted */
    __global const float *gi = g + ((ocla_idx)h * T + i) * K, *gp = g + ((ocla_idx)h * T + (inner ? r0 - 1 : i)) * K;
    float acc = 0.0f;
    for (int d = 0; d < K; d++) acc += phi(DLD(qi, (ocla_idx)d * qd)) * exp(gi[d] - (inner ? gp[d] : 0.0f)) * hs[(ocla_idx)d * V];
#else
    float l = 0.0f, acc = 0.0f;
#if GATE
    for (int t = r0; t <= i; t++) l += log_gate(g, gb, gt, gh, 0, t, h);
#endif
    for (int d = 0; d < K; d++) acc += phi(DLD(qi, (ocla_idx)d * qd)) * hs[(ocla_idx)d * V];
    acc *= exp(l);
#endif
    __global ocla_odata *oi = o + (ocla_idx)i * ot + (ocla_idx)h * oh + (ocla_idx)c * od;
    OCLA_OST(oi, 0, OCLA_DT_CAT(OCLA_DT_LD_, OCLA_OTYPE)(oi, 0) + scale * acc);
}
#endif

#if REV
/* The gate gradients' arguments before the gate's own (mma_bwd_dg, mma_bwd_dgk: runtime/attention_bwd_nv.c).
 * q, k, v and dout are the data (OCLA_DTYPE); dq and dk the products' fp32 results without their
 * diagonal terms, read here; dqo and dko (OCLA_DTYPE, the strides of dq and dk) receive the finished
 * gradients: for fp32 data the same buffers as dq and dk, for half data the caller's tensors. */
#define MMA_BWD_DG_ARGS                                                                                            \
    const int T, const int H, const int K, const int V, const int NT,                                          \
    __global const ocla_data *q, const ocla_idx qb, const ocla_idx qt, const ocla_idx qh, const ocla_idx qd,   \
    __global const ocla_data *k, const ocla_idx kb, const ocla_idx kt, const ocla_idx kh, const ocla_idx kd_,  \
    __global const ocla_data *v, const ocla_idx vb, const ocla_idx vt, const ocla_idx vh, const ocla_idx vd_,  \
    __global const ocla_data *dout, const ocla_idx db, const ocla_idx dt, const ocla_idx dh, const ocla_idx dd,\
    __global const float *dq, const ocla_idx dqb, const ocla_idx dqt, const ocla_idx dqh, const ocla_idx dqd,  \
    __global const float *dk, const ocla_idx dkb, const ocla_idx dkt, const ocla_idx dkh, const ocla_idx dkd,  \
    __global ocla_data *dqo, __global ocla_data *dko,                                                          \
    const float scale, __global const hs_t *hfwd, __global const hs_t *dhs, __global const float *dfin,      \
    const int has_final,
/* dH_{n+1} at element i of chunk n's state: the state-gradient pass's (x2), or after the last chunk
 * the final state's gradient (x2f, fp32). fp32 states: one pointer, chosen once (a choice per element
 * took GLA's bf16 dg kernel 0.814 -> 0.955 ms on the H100 at B=2, T=8192, H=16, D=128) */
#if HS_HALF
#define X2_DECL                                                                                                \
    __global const hs_t *x2 = dhs + ((ocla_idx)bh * NT + n) * KV;                                              \
    __global const float *x2f = dfin + (ocla_idx)bh * KV; /* after the last chunk */
#define X2(i) (n + 1 < NT ? HS_LD(x2, i) : x2f[i])
#else
#define X2_DECL __global const float *x2 = n + 1 < NT ? dhs + ((ocla_idx)bh * NT + n) * KV : dfin + (ocla_idx)bh * KV;
#define X2(i) x2[i]
#endif

#endif
#if REV && !USE_GK
/* ---- scalar gates' gradient: grid (256 * NT, B*H), local 256 ----
 * dq and dk come without their diagonal terms (mma_chunk_output(_rev) with strict = 1), dk's
 * inter-chunk part e_j = exp(G_L - G_j) dH_{n+1} v_j apart (dki); this adds them. With dk' = dk - e,
 *   dg_t = sum over chunk n's rows t' >= t of (q_t'.dq_t' - k_t'.dk'_t')
 *          + exp(G_L) <H_n, dH_{n+1}> + sum of k_j.e_j over the rows j < t,
 * which is sum over t' >= t of (q.dq - k.dk) + <H_{n+1}, dH_{n+1}> rearranged: that form subtracts
 * the large k_j.e_j of the chunk's last rows (undecayed, of the order of dH) from the boundary term,
 * and lost 2e-4 of dg to it where gates are strong; this one adds only terms that decay with the
 * chunk. 0 where the log gate was not negative (clamped to 0 by the forward); q and k
 * identity-mapped (phi = x). H_n: hfwd ([B*H][NT][K][V]); dH_{n+1}: dhs (chunk n), after the last
 * chunk dfin ([B*H][K][V]; has_final 0: no final-state gradient, the term is 0). */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void mma_bwd_dg(
    MMA_BWD_DG_ARGS
    __global const float *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh,
    __global float *dg, const ocla_idx ob, const ocla_idx ot, const ocla_idx oh,
    __global const float *dki, const ocla_idx dkio) {
    __local float rr[CHUNK], uu[CHUNK], cs[CHUNK], cu[CHUNK], gl[CHUNK], part[8];
    const int tid = get_local_id(0), n = get_group_id(0), bh = get_group_id(1), b = bh / H, h = bh % H;
    const int t0 = n * CHUNK, rows = min(CHUNK, T - t0), lane = tid & 31, warp = tid >> 5;
    /* the boundary term <H_n, dH_{n+1}> */
    const ocla_idx KV = (ocla_idx)K * V;
    __global const hs_t *x1 = hfwd + ((ocla_idx)bh * NT + n) * KV;
    X2_DECL
    float bsum = 0.0f;
    if (n + 1 < NT || has_final)
        for (ocla_idx i = tid; i < KV; i += 256) bsum += HS_LD(x1, i) * X2(i);
    bsum = warp_sum(bsum);
    if ((tid & 31) == 0) part[tid >> 5] = bsum;
    /* the rows' q.dq - k.dk from dq and dk without their diagonal terms (strict products), then those
     * terms added: p_t = scale do_t.v_t, dq_t += p_t k_t, dk_t += p_t q_t (they cancel in q.dq - k.dk,
     * which then carries no rounding of them). A warp per row at a time, its lanes along the row
     * (coalesced; four lanes per row along a stride of four read half of every 32-byte sector). */
    for (int row = warp; row < rows; row += 8) {
        const ocla_idx t = t0 + row;
        float x = 0.0f, u = 0.0f, p = 0.0f;
        for (int c = lane; c < V; c += 32)
            p += DLD(dout, b * db + t * dt + h * dh + c * dd) * DLD(v, b * vb + t * vt + h * vh + c * vd_);
        p = scale * warp_sum(p);
        for (int d = lane; d < K; d += 32) {
            const ocla_idx iq = b * dqb + t * dqt + h * dqh + d * dqd, ik = b * dkb + t * dkt + h * dkh + d * dkd;
            const float qv = DLD(q, b * qb + t * qt + h * qh + d * qd), kv = DLD(k, b * kb + t * kt + h * kh + d * kd_);
            const float gq = dq[iq], gk = dk[ik], ge = dki[dkio + ik];
            x += qv * gq - kv * gk;
            u += kv * ge;
            OCLA_ST(dqo, iq, mad(p, kv, gq));
            OCLA_ST(dko, ik, mad(p, qv, gk + ge));
        }
        x = warp_sum(x);
        u = warp_sum(u);
        if (lane == 0) rr[row] = x, uu[row] = u;
    }
    if (tid < CHUNK && tid >= rows) rr[tid] = uu[tid] = 0.0f;
    SYNC();
    chunk_cumsum(cs, tid < CHUNK ? rr[CHUNK - 1 - tid] : 0.0f, tid);   /* cs[m] = sum of rows >= CHUNK-1-m */
    chunk_cumsum(cu, tid < CHUNK && tid > 0 ? uu[tid - 1] : 0.0f, tid); /* cu[m] = sum of rows < m */
    chunk_cumsum(gl, tid < rows ? log_gate(g, gb, gt, gh, b, t0 + tid, h) : 0.0f, tid);
    if (tid < rows) {
        const ocla_idx t = t0 + tid;
        const float bnd = part[0] + part[1] + part[2] + part[3] + part[4] + part[5] + part[6] + part[7];
        dg[b * ob + t * ot + h * oh] = ocla_log_gate(g[b * gb + t * gt + h * gh]) < 0.0f
                                           ? cs[CHUNK - 1 - tid] + exp(gl[CHUNK - 1]) * bnd + cu[tid]
                                           : 0.0f;
    }
}
#endif

#if REV && USE_GK
/* ---- per-key gates' gradient: grid (256 * NT, B*H), local 256 ----
 * As mma_bwd_dg per key dimension d: dq and dk come without their diagonal terms, which this adds
 * (p_t k_t and p_t q_t, p_t = scale do_t.v_t: the gate factor of the diagonal is 1), and dk's
 * inter-chunk part e apart (dki); with dk' = dk - e,
 * dg_t[d] = sum over chunk n's rows t' >= t of (q_t'[d] dq_t'[d] - k_t'[d] dk'_t'[d]) +
 * exp(G_L[d]) sum_v H_n[d][v] dH_{n+1}[d][v] + sum over rows j < t of k_j[d] e_j[d], 0 where the raw
 * log gate was not negative. Key dimensions go in slices of 64: the rows' terms in local memory, one
 * work-item per dimension for the prefix and suffix sums. */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void mma_bwd_dgk(
    MMA_BWD_DG_ARGS
    __global const float *g, const ocla_idx gb, const ocla_idx gt, const ocla_idx gh, const ocla_idx gd,
    __global float *dg, const ocla_idx ob, const ocla_idx ot, const ocla_idx oh, const ocla_idx od,
    __global const float *dki, const ocla_idx dkio) {
    __local float pr[CHUNK], xs[CHUNK][65], us[CHUNK][65], bnd[64];
    const int tid = get_local_id(0), n = get_group_id(0), bh = get_group_id(1), b = bh / H, h = bh % H;
    const int t0 = n * CHUNK, rows = min(CHUNK, T - t0), lane = tid & 31, warp = tid >> 5;
    const ocla_idx KV = (ocla_idx)K * V;
    __global const hs_t *x1 = hfwd + ((ocla_idx)bh * NT + n) * KV;
    X2_DECL
    const int boundary = n + 1 < NT || has_final;
    for (int row = warp; row < rows; row += 8) { /* p_t: a warp per row, its lanes along the row */
        const ocla_idx t = t0 + row;
        float p = 0.0f;
        for (int c = lane; c < V; c += 32)
            p += DLD(dout, b * db + t * dt + h * dh + c * dd) * DLD(v, b * vb + t * vt + h * vh + c * vd_);
        p = warp_sum(p);
        if (lane == 0) pr[row] = scale * p;
    }
    SYNC();
    for (int d0 = 0; d0 < K; d0 += 64) {
        for (int e = tid; e < rows * 64; e += 256) {
            const int row = e / 64, d = d0 + e % 64;
            const ocla_idx t = t0 + row;
            float x = 0.0f, u = 0.0f;
            if (d < K) {
                const ocla_idx iq = b * dqb + t * dqt + h * dqh + d * dqd, ik = b * dkb + t * dkt + h * dkh + d * dkd;
                const float qv = DLD(q, b * qb + t * qt + h * qh + d * qd), kv = DLD(k, b * kb + t * kt + h * kh + d * kd_);
                const float gq = dq[iq], gk = dk[ik], ge = dki[dkio + ik];
                x = qv * gq - kv * gk;
                u = kv * ge;
                OCLA_ST(dqo, iq, mad(pr[row], kv, gq));
                OCLA_ST(dko, ik, mad(pr[row], qv, gk + ge));
            }
            xs[row][e % 64] = x;
            us[row][e % 64] = u;
        }
        for (int dl = warp; dl < 64; dl += 8) { /* the boundary term: a warp per state row */
            const int d = d0 + dl;
            float s = 0.0f;
            if (boundary && d < K)
                for (int c = lane; c < V; c += 32) s += HS_LD(x1, (ocla_idx)d * V + c) * X2((ocla_idx)d * V + c);
            s = warp_sum(s);
            if (lane == 0) bnd[dl] = s;
        }
        SYNC();
        if (tid < 64) { /* the chunk's decay, prefix sums of k.e, suffix sums of the rest */
            const int d = min(d0 + tid, K - 1);
            float gsum = 0.0f, pre = 0.0f, acc = 0.0f;
            for (int row = 0; row < rows; row++) {
                gsum += ocla_log_gate(g[b * gb + (ocla_idx)(t0 + row) * gt + h * gh + d * gd]);
                const float u = us[row][tid];
                us[row][tid] = pre;
                pre += u;
            }
            const float bt = exp(gsum) * bnd[tid];
            for (int row = rows - 1; row >= 0; row--) {
                acc += xs[row][tid];
                xs[row][tid] = acc + bt + us[row][tid];
            }
        }
        SYNC();
        for (int e = tid; e < rows * 64; e += 256) {
            const int row = e / 64, d = d0 + e % 64;
            const ocla_idx t = t0 + row;
            if (d < K)
                dg[b * ob + t * ot + h * oh + d * od] =
                    ocla_log_gate(g[b * gb + t * gt + h * gh + d * gd]) < 0.0f ? xs[row][e % 64] : 0.0f;
        }
        SYNC();
    }
}
#endif

/* The capability probe (runtime/attention_nv.c, once per context): one warp multiplies A[16][8] =
 * r - c by B[8][8] = (k + 2n) % 5 - 2 (small integers: exact in TF32) with mma_tf32 and votes
 * warp_any(lane == 5). Lane l writes its accumulator fragment to out[4l .. 4l+3], lane 0 the vote
 * to out[128]. */
__kernel __attribute__((reqd_work_group_size(32, 1, 1))) void mma_probe(__global float *out) {
    const int lane = get_local_id(0), gr = lane >> 2, tg = lane & 3;
    const uint a[4] = {tf32_bits((float)(gr - tg)), tf32_bits((float)(gr + 8 - tg)), tf32_bits((float)(gr - tg - 4)),
                       tf32_bits((float)(gr + 4 - tg))};
    const uint b[2] = {tf32_bits((float)((tg + 2 * gr) % 5 - 2)), tf32_bits((float)((tg + 4 + 2 * gr) % 5 - 2))};
    float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    mma_tf32(d, a, b);
    for (int i = 0; i < 4; i++) out[lane * 4 + i] = d[i];
    const int any = warp_any(lane == 5);
    if (lane == 0) out[128] = (float)any;
}

#endif /* __NV_CL_C_VERSION */
