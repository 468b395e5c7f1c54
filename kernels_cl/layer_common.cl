/* SPDX-License-Identifier: MIT */
/* layer_common.cl: elementwise steps every [B,T,d] layer shares (runtime/layer_common.c). fp32,
 * OpenCL C 1.2. Every buffer comes with an element offset. No variant macros.
 *
 * layer_add_bias:  x[r, c] += b[c]   x dense [rows, cols]; one work-item per element
 * layer_to_f32, layer_from_f32: half-precision tensors to and from fp32 (below)
 */
OCLA_KERNEL void layer_add_bias(const int rows, const int cols, OCLA_BUF_OUT(x), OCLA_BUF(b)) {
    const ocla_idx i = get_global_id(0);
    if (i < (ocla_idx)rows * cols) x[x_o + i] += b[b_o + i % cols];
}

/* Half precision at an op's boundary (issue 14; runtime/layer_common.c, ocla__convert_dtype, for the
 * layers and the attention backward in half): a bf16 (dt = OCLA_DT_BF16) or fp16 (OCLA_DT_F16) tensor h
 * of any strides, dims d0 x d1 x d2 x d3 (fewer dims padded in front), to or from a dense fp32 array x.
 * The load widens exactly, the store rounds to nearest, ties to even (common.cl's conversions; fp16
 * through OCLA_F16_LD / OCLA_F16_ST, no cl_khr_fp16; beyond 65504 it is +-Inf).
 *   layer_to_f32:   x[i] = h[element i]      layer_from_f32:  h[element i] = x[i]
 * Work split: a 3-D grid over (d3 / w, d2, d1) (the host caps the second and third at 32768, within
 * every driver's grid limits, and the kernel steps d2 and d1 by the grid's sizes), each work-item
 * converting its w elements of every one of the d0 outer rows: no division in the index arithmetic
 * (a 64-bit division chain per element, one work-item per element, took 1.3 ms for four
 * [2,8192,16,128] bf16 tensors on the H100). w = 8 where the host found every
 * row's 8-element group 16-byte aligned in h and 32-byte aligned in x (unit inner stride, offsets and
 * outer strides multiples of 8): one 16-byte load or store of h per work-item; else w = 1. */
#define LAYER_CONVERT(body)                                                                                       \
    const ocla_idx c3 = get_global_id(0) * w, g2 = get_global_size(1), g1 = get_global_size(2);                  \
    if (c3 >= d3) return;                                                                                        \
    for (ocla_idx c1 = get_global_id(2); c1 < d1; c1 += g1)                                                      \
        for (ocla_idx c2 = get_global_id(1); c2 < d2; c2 += g2)                                                  \
        for (ocla_idx c0 = 0; c0 < d0; c0++) {                                                                   \
            const ocla_idx e = h_o + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3;                                      \
            const ocla_idx i = x_o + ((c0 * d1 + c1) * d2 + c2) * d3 + c3;                                       \
            body                                                                                                 \
        }
/* 8 half elements (their bits, packed in a uint4, element 0 in the low half of .x) to fp32 and back */
OCLA_INLINE float8 layer_widen8(const int dt, const uint4 u) {
    if (dt == OCLA_DT_BF16) {
        const float4 lo = as_float4(u << 16), hi = as_float4(u & (uint4)(0xffff0000u));
        return (float8)(lo.x, hi.x, lo.y, hi.y, lo.z, hi.z, lo.w, hi.w);
    }
    const ushort8 b = as_ushort8(u);
#if OCLA_HALF_BITS
    return (float8)(ocla_f16_load(b.s0), ocla_f16_load(b.s1), ocla_f16_load(b.s2), ocla_f16_load(b.s3),
                    ocla_f16_load(b.s4), ocla_f16_load(b.s5), ocla_f16_load(b.s6), ocla_f16_load(b.s7));
#else
    return vload_half8(0, (const __private half *)&b);
#endif
}
OCLA_INLINE uint4 layer_narrow8(const int dt, const float8 f) {
    ushort8 b;
    if (dt == OCLA_DT_BF16)
        b = (ushort8)(ocla_bf16_rne(f.s0), ocla_bf16_rne(f.s1), ocla_bf16_rne(f.s2), ocla_bf16_rne(f.s3),
                      ocla_bf16_rne(f.s4), ocla_bf16_rne(f.s5), ocla_bf16_rne(f.s6), ocla_bf16_rne(f.s7));
    else
#if OCLA_HALF_BITS
        b = (ushort8)(ocla_f16_rne(f.s0), ocla_f16_rne(f.s1), ocla_f16_rne(f.s2), ocla_f16_rne(f.s3),
                      ocla_f16_rne(f.s4), ocla_f16_rne(f.s5), ocla_f16_rne(f.s6), ocla_f16_rne(f.s7));
#else
        vstore_half8_rte(f, 0, (__private half *)&b);
#endif
    return as_uint4(b);
}
OCLA_KERNEL void layer_to_f32(const int dt, __global const ushort *h, ocla_idx h_o, ocla_idx s0, ocla_idx s1,
                              ocla_idx s2, ocla_idx s3, const ocla_idx d0, const ocla_idx d1, const ocla_idx d2,
                              const ocla_idx d3, const int w, OCLA_BUF_OUT(x)) {
    LAYER_CONVERT(if (w == 8) {
        const float8 f = layer_widen8(dt, *(__global const uint4 *)(h + e));
        *(__global float4 *)(x + i) = f.lo;
        *(__global float4 *)(x + i + 4) = f.hi;
    } else x[i] = dt == OCLA_DT_BF16 ? ocla_bf16_load(h[e]) : OCLA_F16_LD(h, e);)
}
OCLA_KERNEL void layer_from_f32(const int dt, __global ushort *h, ocla_idx h_o, ocla_idx s0, ocla_idx s1, ocla_idx s2,
                                ocla_idx s3, const ocla_idx d0, const ocla_idx d1, const ocla_idx d2, const ocla_idx d3,
                                const int w, OCLA_BUF(x)) {
    LAYER_CONVERT(if (w == 8) {
        const float8 f = (float8)(*(__global const float4 *)(x + i), *(__global const float4 *)(x + i + 4));
        *(__global uint4 *)(h + e) = layer_narrow8(dt, f);
    } else if (dt == OCLA_DT_BF16) h[e] = ocla_bf16_rne(x[i]); else OCLA_F16_ST(h, e, x[i]);)
}
