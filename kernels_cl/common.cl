/* SPDX-License-Identifier: MIT */
/* common.cl: the device library, prepended by the runtime to every ocla program (OpenCL C 1.2,
 * fp32). One copy of everything more than one kernel file needs; a kernel file defines only its
 * own kernels and the helpers no other file uses.
 *
 *   OCLA_INLINE          'static inline': no external symbol, so a call the compiler does not
 *                        inline still links (plain C99 'inline' fails there on some drivers)
 *   OCLA_KERNEL          marks kernels
 *   ocla_idx             64-bit index type for buffer offsets (B*T*H*D can exceed 2^31)
 *   tensors              OCLA_TENSOR / OCLA_TENSOR_OUT kernel arguments and OCLA_AT / OCLA_PTR access
 *   variant macros       the one gate encoding (USE_G, USE_G_GAMMA, USE_GK), FEATURE, USE_NORM, with
 *                        defaults; runtime/variant.c forms them from a variant
 *   math                 feature maps and their derivatives, the log-gate policy, silu, RoPE
 *   driver quirks        the llvmpipe loop limit (a note: the host splits long walks)
 */
#ifndef OCLA_COMMON_CL
#define OCLA_COMMON_CL
#define OCLA_INLINE static inline
#define OCLA_KERNEL __kernel
typedef long ocla_idx;

/* ---- tensors: buffer, offset and four strides, all in elements ---- */
#define OCLA_TENSOR(p) __global const float *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3
#define OCLA_TENSOR_OUT(p) __global float *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3
#define OCLA_OFF(p, a, b, c, d)                                                                                   \
    (p##_o + (ocla_idx)(a) * p##_s0 + (ocla_idx)(b) * p##_s1 + (ocla_idx)(c) * p##_s2 + (ocla_idx)(d) * p##_s3)
#define OCLA_AT(p, a, b, c, d) p[OCLA_OFF(p, a, b, c, d)]
#define OCLA_PTR(p, a, b, c, d) (p + OCLA_OFF(p, a, b, c, d))
/* dense buffers: buffer and offset (host: ocla__push_tensor with no strides); p[p_o + i] */
#define OCLA_BUF(p) __global const float *p, ocla_idx p##_o
#define OCLA_BUF_OUT(p) __global float *p, ocla_idx p##_o

/* ---- the variant macros (runtime/variant.h) ---- */
/* Gate kinds as run-time arguments: the values of the public ocla_gate_kind. */
#define OCLA_GATE_NONE 0
#define OCLA_GATE_SCALAR 1 /* g [B,T,H]: one log gate per token and head (fla: g) */
#define OCLA_GATE_VECTOR 2 /* g [B,T,H,K]: per-key-dimension log gates (fla: gk) */
#define OCLA_GATE_FIXED 3  /* a fixed log decay per head (fla: g_gamma) */
/* Gate kind as a compile-time choice: at most one of these is 1. */
#ifndef USE_G
#define USE_G 0
#endif
#ifndef USE_G_GAMMA
#define USE_G_GAMMA 0
#endif
#ifndef USE_GK
#define USE_GK 0
#endif
#define OCLA_HAS_GATE (USE_G || USE_G_GAMMA || USE_GK)
/* Feature map applied to q and k: the values of the public ocla_feature_map. */
#define OCLA_FEATURE_IDENTITY 0
#define OCLA_FEATURE_ELU1 1
#define OCLA_FEATURE_RELU 2
#ifndef FEATURE
#define FEATURE OCLA_FEATURE_IDENTITY
#endif
#ifndef USE_NORM
#define USE_NORM 0 /* the normaliser column: a virtual all-ones value column V */
#endif

/* ---- math ---- */
/* phi(x) for feature map f (run-time choice) and its derivative. */
OCLA_INLINE float ocla_phi(float x, int f) {
    if (f == OCLA_FEATURE_ELU1) return x > 0.0f ? x + 1.0f : exp(x);
    if (f == OCLA_FEATURE_RELU) return fmax(x, 0.0f);
    return x;
}
OCLA_INLINE float ocla_dphi(float x, int f) {
    if (f == OCLA_FEATURE_ELU1) return x > 0.0f ? 1.0f : exp(x);
    if (f == OCLA_FEATURE_RELU) return x > 0.0f ? 1.0f : 0.0f;
    return 1.0f;
}
/* phi with the variant's FEATURE (compile-time choice: the branches fold away). */
#define OCLA_PHI(x) ocla_phi((x), FEATURE)
#define OCLA_DPHI(x) ocla_dphi((x), FEATURE)

/* Log-gate policy: gates are natural-log forget gates; a positive value never grows the state, and
 * a value below OCLA_LOG_GATE_MIN (down to -inf, a hard reset) acts as that floor: a decay of 2e-9
 * per step, nothing in fp32 beside the new token, while the chunk-local cumulative sums stay small
 * enough that their differences keep fp32 accuracy (|G| <= 20 x chunk). */
#define OCLA_LOG_GATE_MIN -20.0f
OCLA_INLINE float ocla_log_gate(float g) { return fmax(fmin(g, 0.0f), OCLA_LOG_GATE_MIN); }

/* silu(a) = a * sigmoid(a) (also called swish). */
OCLA_INLINE float ocla_silu(float a) { return a / (1.0f + exp(-a)); }

/* Split-half rotary embedding on the first rd dims: element i of rope(x) given the element x_i and
 * its partner x_p (i + rd/2 for i < rd/2, i - rd/2 above), with inverse frequencies invf[j],
 * angle pos * invf[j] in fp32. Dims at or beyond rd pass through. */
OCLA_INLINE float ocla_rope(float xi, float xp, int i, int rd, float pos, __global const float *invf) {
    if (i >= rd) return xi;
    const int hr = rd / 2;
    const float th = pos * invf[i < hr ? i : i - hr];
    return i < hr ? xi * cos(th) - xp * sin(th) : xi * cos(th) + xp * sin(th);
}
/* The partner index of dim i in split-half RoPE. */
OCLA_INLINE int ocla_rope_partner(int i, int rd) { return i < rd / 2 ? i + rd / 2 : i - rd / 2; }

/* ---- driver quirks ---- */
/* llvmpipe (Mesa rusticl) stops a work-item's loops after about 65,535 iterations in total and
 * returns wrong results without an error. Kernels with long loops run in launches that stay under
 * this many iterations; the host splits the work (see docs/ARCHITECTURE.md, driver facts). */
/* ---- the chunked linear attention kernels (linear_attn.cl's portable ones, linear_attn_cpu.cl's
 * CPU ones): one argument list per pass, so the host binds either set alike (op_attention.c) ---- */
#define OCLA_LA_STATES_ARGS                                                                                     \
    const int T, const int H, const int K, const int V, const int NT, const int nvt, const int feature,        \
        const int gmode, const int norm, const int n0, const int n1, OCLA_DTENSOR(k), OCLA_DTENSOR(v),        \
        __global const float *G, __global float *hs, const int has_s0, OCLA_TENSOR(S0), const int has_z0,      \
        OCLA_TENSOR(z0), const int has_s1, OCLA_TENSOR_OUT(S1), const int has_z1, OCLA_TENSOR_OUT(z1),        \
        const int has_slots, __global const int *slots, const int nseq, __global const int *seqtab,           \
        __local float *sK, __local float *sV
#define OCLA_LA_OUTPUT_ARGS                                                                                     \
    const int T, const int H, const int K, const int V, const int NT, const int nvt, const float scale,        \
        const int feature, const int gmode, const int norm, const int noncausal, OCLA_DTENSOR(q),             \
        OCLA_DTENSOR(k), OCLA_DTENSOR(v), __global const float *G, __global const float *hs, OCLA_OTENSOR_OUT(o), \
        __global float *den, const int nseq, __global const int *seqtab, __local float *sA, __local float *sX

/* A row of the state walk: batch row b (dense: nseq = 0) or packed sequence r (B = 1; seqtab holds
 * per sequence first token, length, first chunk): first token ts, length len, first state hb. */
typedef struct la_row {
    int b, ts, len, hb;
} la_row;

OCLA_INLINE la_row la_row_of(const int r, const int T, const int nseq, __global const int *seqtab) {
    la_row w = {r, 0, T, 0};
    if (nseq > 0) w.b = 0, w.ts = seqtab[3 * r], w.len = seqtab[3 * r + 1], w.hb = seqtab[3 * r + 2] + r;
    return w;
}


/* ---- packed sequences of the token-indexed kernels (FLASH: flash.cl, flash_bwd.cl; the GAU layer's
 * RoPE positions: gau.cl, gau_bwd.cl) ----
 * OCLA_SEQ: the table (buffer, offset in ints) and nseq; nseq = 0 is a dense batch (no table read).
 * With nseq = N > 0 the table holds cu[0..N] (the offsets, cu[0] = 0, cu[N] = T), then FLASH's
 * first chunk of each sequence ch[0..N] (ch[N] = G, the chunks of all sequences). */
#define OCLA_SEQ __global const int *seq_buf, const ocla_idx seq_o, const int nseq

/* The last i < n with a[i] <= x (a ascending, a[0] <= x), by bisection. */
OCLA_INLINE int ocla_seq_find(__global const int *a, const int n, const int x) {
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        const int m = (lo + hi) >> 1;
        if (a[m] <= x) lo = m;
        else hi = m;
    }
    return lo;
}

/* Token t's index within its sequence (dense: t itself, the row's own time axis). */
OCLA_INLINE int ocla_seq_pos(const int t, __global const int *seq, const int nseq) {
    return nseq > 0 ? t - seq[ocla_seq_find(seq, nseq, t)] : t;
}

/* A FLASH chunk (group): its index g among all chunks, its tokens [s0, s1), and q0, the first token
 * of its sequence (RoPE positions are pos0 + t - q0). Dense: chunks of C from token 0, G = ceil(T/C). */
typedef struct ocla_fchunk {
    int g, s0, s1, q0;
} ocla_fchunk;

/* Chunk j of sequence n (dense: n = 0, a row of T tokens). */
OCLA_INLINE ocla_fchunk ocla_fchunk_in(const int n, const int j, const int T, const int C, __global const int *seq,
                                       const int nseq) {
    ocla_fchunk r;
    r.q0 = nseq > 0 ? seq[n] : 0;
    r.g = nseq > 0 ? seq[nseq + 1 + n] + j : j;
    r.s0 = r.q0 + j * C;
    r.s1 = min(nseq > 0 ? seq[n + 1] : T, r.s0 + C);
    return r;
}

/* The chunk of token t. */
OCLA_INLINE ocla_fchunk ocla_fchunk_of(const int t, const int T, const int C, __global const int *seq, const int nseq) {
    const int n = nseq > 0 ? ocla_seq_find(seq, nseq, t) : 0;
    return ocla_fchunk_in(n, (t - (nseq > 0 ? seq[n] : 0)) / C, T, C, seq, nseq);
}

/* Chunk g (0 <= g < G). */
OCLA_INLINE ocla_fchunk ocla_fchunk_at(const int g, const int T, const int C, __global const int *seq, const int nseq) {
    const int n = nseq > 0 ? ocla_seq_find(seq + nseq + 1, nseq, g) : 0;
    return ocla_fchunk_in(n, g - (nseq > 0 ? seq[nseq + 1 + n] : 0), T, C, seq, nseq);
}

/* ---- half-precision storage (issue 14): a tensor's elements by dtype ----
 * OCLA_DTYPE is the element type of the data tensors (q, k, v, o), OCLA_GTYPE that of the gates: the
 * values of the public ocla_dtype (OCLA_DT_*), fp32 by default. Values are fp32 in registers: a load
 * widens exactly, a store rounds to nearest, ties to even (as ocla_f32_to_bf16 / ocla_f32_to_f16 do on
 * the host). fp16 goes through vload_half / vstore_half_rte (core OpenCL 1.2: no cl_khr_fp16), or,
 * with -DOCLA_HALF_BITS=1, through ocla_f16_load / ocla_f16_rne below: a few integer operations and
 * one branch ordinary data never takes, where PoCL's builtins are a longer routine per element (the
 * runtime sets it on a CPU device with fp32 subnormals: runtime/context.c); both give the same bits.
 * bf16 is its ushort bit pattern. States, cumulative gates, normalisers and accumulators stay fp32.
 *   ocla_data, ocla_gdata           the element types (float, ushort, half) for pointers
 *   OCLA_DTENSOR / OCLA_DTENSOR_OUT  kernel arguments as OCLA_TENSOR, of element type ocla_data
 *   OCLA_GTENSOR                     a gate argument, of element type ocla_gdata
 *   OCLA_LD(p, i), OCLA_ST(p, i, x)  element i of a data pointer as fp32; store fp32 x there
 *   OCLA_GLD(p, i)                   element i of a gate pointer as fp32
 *   OCLA_OTYPE, ocla_odata, OCLA_OST, OCLA_OTENSOR_OUT   the outputs' type (OCLA_DTYPE unless set: fp32
 *                                    where a half output is normalised later, from fp32, by la_normalize) */
#define OCLA_DT_F32 0
#define OCLA_DT_BF16 1
#define OCLA_DT_F16 2
#ifndef OCLA_DTYPE
#define OCLA_DTYPE OCLA_DT_F32
#endif
#ifndef OCLA_GTYPE
#define OCLA_GTYPE OCLA_DT_F32
#endif
#ifndef OCLA_OTYPE
#define OCLA_OTYPE OCLA_DTYPE
#endif
OCLA_INLINE float ocla_bf16_load(const ushort h) { return as_float((uint)h << 16); }
/* fp32 -> bf16, round to nearest even on the bits; a NaN stays a quiet NaN (truncation could make Inf) */
OCLA_INLINE ushort ocla_bf16_rne(const float x) {
    const uint u = as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
#ifndef OCLA_HALF_BITS
#define OCLA_HALF_BITS 0
#endif
/* a condition almost always true: the branch stays a branch (no if-conversion of the rare path) */
#ifdef __clang__
#define OCLA_LIKELY(c) __builtin_expect((c) != 0, 1)
#else
#define OCLA_LIKELY(c) (c)
#endif
/* fp16 bits -> fp32, exact: b, the sign at fp32's place and the exponent and significand 13 bits up
 * (a shift pair and a mask), as an fp32 times 2^112 is every finite half; a subnormal half passes
 * through an fp32 subnormal, so the runtime sets OCLA_HALF_BITS only where the device keeps them
 * (CL_FP_DENORM). Inf / NaN (exponent 255, the payload kept) take a branch ordinary data never does. */
OCLA_INLINE float ocla_f16_load(const ushort h) {
    const uint b = (uint)((int)((uint)h << 16) >> 3) & 0x8fffe000u;
    if (OCLA_LIKELY((h & 0x7c00u) != 0x7c00u)) return as_float(b) * 0x1p112f;
    return as_float(b | 0x7f800000u);
}
/* fp32 -> fp16 bits, round to nearest even on the bits, as ocla_f32_to_f16 (runtime/dtype.c). A
 * normal result (|x| in [2^-14, 65520)): the exponent rebiased, the 13 dropped bits rounded (a carry
 * steps the exponent, to Inf from 65520 on: the tie above 65504 goes to the even 2^16), the one
 * branch ordinary data takes. Otherwise: a NaN stays a quiet NaN (its payload's top bits), beyond
 * 65520 +-Inf, below 2^-14 (subnormal, zero) the 24-bit significand m shifted right by 126 -
 * exponent and rounded, the shift capped at 25, where every m < 2^24 gives 0. */
OCLA_INLINE ushort ocla_f16_rne(const float x) {
    const uint u = as_uint(x), a = u & 0x7fffffffu, sign = (u >> 16) & 0x8000u;
    if (OCLA_LIKELY(a - 0x38800000u < 0x477ff000u - 0x38800000u))
        return (ushort)(sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
    const uint e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, s = min(126u - e, 25u);
    const uint sub = (m + (1u << (s - 1u)) - 1u + ((m >> s) & 1u)) >> s;
    return (ushort)(sign | (a > 0x7f800000u ? 0x7e00u | ((a >> 13) & 0x3ffu) : a >= 0x477ff000u ? 0x7c00u : sub));
}
/* element i of a global fp16 buffer (pointer to half or ushort) as fp32; store fp32 x there */
#if OCLA_HALF_BITS
#define OCLA_F16_LD(p, i) ocla_f16_load(((__global const ushort *)(p))[i])
#define OCLA_F16_ST(p, i, x) (((__global ushort *)(p))[i] = ocla_f16_rne(x))
#else
#define OCLA_F16_LD(p, i) vload_half((size_t)(i), (__global const half *)(p))
#define OCLA_F16_ST(p, i, x) vstore_half_rte((x), (size_t)(i), (__global half *)(p))
#endif
#define OCLA_DT_TYPE_0 float
#define OCLA_DT_TYPE_1 ushort
#define OCLA_DT_TYPE_2 half
#define OCLA_DT_LD_0(p, i) ((p)[i])
#define OCLA_DT_LD_1(p, i) ocla_bf16_load((p)[i])
#define OCLA_DT_LD_2(p, i) OCLA_F16_LD(p, i)
#define OCLA_DT_ST_0(p, i, x) ((p)[i] = (x))
#define OCLA_DT_ST_1(p, i, x) ((p)[i] = ocla_bf16_rne(x))
#define OCLA_DT_ST_2(p, i, x) OCLA_F16_ST(p, i, x)
#define OCLA_DT_CAT_(a, b) a##b
#define OCLA_DT_CAT(a, b) OCLA_DT_CAT_(a, b) /* expands the dtype macro first */
#define ocla_data OCLA_DT_CAT(OCLA_DT_TYPE_, OCLA_DTYPE)
#define ocla_gdata OCLA_DT_CAT(OCLA_DT_TYPE_, OCLA_GTYPE)
#define OCLA_LD(p, i) OCLA_DT_CAT(OCLA_DT_LD_, OCLA_DTYPE)(p, i)
#define OCLA_ST(p, i, x) OCLA_DT_CAT(OCLA_DT_ST_, OCLA_DTYPE)(p, i, x)
#define OCLA_GLD(p, i) OCLA_DT_CAT(OCLA_DT_LD_, OCLA_GTYPE)(p, i)
#define ocla_odata OCLA_DT_CAT(OCLA_DT_TYPE_, OCLA_OTYPE)
#define OCLA_OST(p, i, x) OCLA_DT_CAT(OCLA_DT_ST_, OCLA_OTYPE)(p, i, x)
#define OCLA_DTENSOR(p) __global const ocla_data *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3
#define OCLA_DTENSOR_OUT(p) __global ocla_data *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3
#define OCLA_GTENSOR(p) __global const ocla_gdata *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3
#define OCLA_OTENSOR_OUT(p) __global ocla_odata *p, ocla_idx p##_o, ocla_idx p##_s0, ocla_idx p##_s1, ocla_idx p##_s2, ocla_idx p##_s3

/* ---- NVIDIA inline PTX (sm_80 and later), for the *_nv.cl kernels: the runtime builds those only on an
 * NVIDIA device whose capability probe passed (runtime/device.c) ---- */
#ifdef __NV_CL_C_VERSION
/* d += a b for one m16n8k8 tile of tf32 operands (A fragment 4 registers, B 2), fp32 accumulators. */
OCLA_INLINE void ocla_nv_mma_tf32(float *d, const uint *a, const uint *b) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* d += a b for one m16n8k16 tile of bf16 / fp16 pairs (fragment layouts of the PTX ISA for .row.col;
 * the accumulators as m16n8k8's). */
OCLA_INLINE void ocla_nv_mma_bf16(float *d, const uint *a, const uint b0, const uint b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
OCLA_INLINE void ocla_nv_mma_f16(float *d, const uint *a, const uint b0, const uint b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
/* Four 8x8 b16 matrices of local memory: lane l gives the address of row l % 8 of matrix l / 8 (16
 * bytes); r[i] receives (row l / 4, columns 2 (l % 4), + 1) of matrix i, or with _t (.trans) the
 * pair (rows 2 (l % 4), + 1; column l / 4). */
OCLA_INLINE void ocla_nv_ldsm(uint *r, __local const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "l"(row));
}
OCLA_INLINE void ocla_nv_ldsm_t(uint *r, __local const void *row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "l"(row));
}
/* x of lane (lane - o) (a lane below o keeps its own), of lane src, of lane (lane ^ o); every lane of
 * the warp calls them. */
OCLA_INLINE float ocla_nv_shfl_up(const float x, const int o) {
    float y;
    asm volatile("shfl.sync.up.b32 %0, %1, %2, 0, 0xffffffff;" : "=f"(y) : "f"(x), "r"(o));
    return y;
}
OCLA_INLINE float ocla_nv_shfl_idx(const float x, const int src) {
    float y;
    asm volatile("shfl.sync.idx.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(y) : "f"(x), "r"(src));
    return y;
}
OCLA_INLINE float ocla_nv_shfl_xor(const float x, const int o) {
    float y;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(y) : "f"(x), "r"(o));
    return y;
}
/* 16 bytes global -> local without registers (cp.async.cg); ok == 0 writes zeros and reads nothing. */
OCLA_INLINE void ocla_nv_cp_async16(__local void *dst, __global const void *src, const int ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"l"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
/* 4 bytes global -> local (cp.async.ca); n bytes of them read (n = 2: the rest zeros, n = 0: zeros). */
OCLA_INLINE void ocla_nv_cp_async4(__local void *dst, __global const void *src, const int n) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"l"(dst), "l"(src), "r"(n) : "memory");
}
/* A gate (OCLA_GTYPE) at byte offset off (0 or 2) of a 4-byte word copied by ocla_nv_cp_async4. */
OCLA_INLINE float ocla_nv_gate_of_word(const uint w, const int off) {
#if OCLA_GTYPE == OCLA_DT_F32
    (void)off;
    return as_float(w);
#elif OCLA_GTYPE == OCLA_DT_BF16
    return ocla_bf16_load((ushort)(off ? w >> 16 : w));
#else
    return ocla_f16_load((ushort)(off ? w >> 16 : w));
#endif
}
/* 2^x (MUFU ex2: relative error ~2^-22, 0 for x below -126) */
OCLA_INLINE float ocla_nv_ex2(const float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
/* Two fp32 as a bf16 pair, each rounded to nearest even: lo in the low half. */
OCLA_INLINE uint ocla_nv_bf16x2(const float lo, const float hi) {
    uint r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
#endif /* __NV_CL_C_VERSION */

#endif
