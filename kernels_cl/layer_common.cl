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

/* Half precision at an op's boundary (issue 14; runtime/layer_common.c, ocla__convert_dtype): a
 * bf16 (dt = OCLA_DT_BF16) or fp16 (OCLA_DT_F16) tensor of any strides (4-D; fewer dims padded in
 * front: d1 d2 d3 the last three dims) to or from a dense fp32 array x; one work-item per element.
 * The load widens exactly, the store rounds to nearest, ties to even (common.cl's conversions; fp16
 * through OCLA_F16_LD / OCLA_F16_ST, no cl_khr_fp16; beyond 65504 it is +-Inf).
 *   layer_to_f32:   x[i] = h[element i]      layer_from_f32:  h[element i] = x[i] */
OCLA_INLINE ocla_idx layer_elem(ocla_idx i, int d1, int d2, int d3, ocla_idx s0, ocla_idx s1, ocla_idx s2, ocla_idx s3) {
    const ocla_idx c3 = i % d3, r3 = i / d3, c2 = r3 % d2, r2 = r3 / d2, c1 = r2 % d1, c0 = r2 / d1;
    return c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3;
}
OCLA_KERNEL void layer_to_f32(const int dt, __global const ushort *h, ocla_idx h_o, ocla_idx s0, ocla_idx s1,
                              ocla_idx s2, ocla_idx s3, const int d1, const int d2, const int d3, const ocla_idx n,
                              OCLA_BUF_OUT(x)) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const ocla_idx e = h_o + layer_elem(i, d1, d2, d3, s0, s1, s2, s3);
    x[x_o + i] = dt == OCLA_DT_BF16 ? ocla_bf16_load(h[e]) : OCLA_F16_LD(h, e);
}
OCLA_KERNEL void layer_from_f32(const int dt, __global ushort *h, ocla_idx h_o, ocla_idx s0, ocla_idx s1, ocla_idx s2,
                                ocla_idx s3, const int d1, const int d2, const int d3, const ocla_idx n, OCLA_BUF(x)) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const ocla_idx e = h_o + layer_elem(i, d1, d2, d3, s0, s1, s2, s3);
    if (dt == OCLA_DT_BF16) h[e] = ocla_bf16_rne(x[x_o + i]);
    else OCLA_F16_ST(h, e, x[x_o + i]);
}
