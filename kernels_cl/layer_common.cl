/* SPDX-License-Identifier: MIT */
/* layer_common.cl: elementwise steps every [B,T,d] layer shares (runtime/layer_common.c). fp32,
 * OpenCL C 1.2. Every buffer comes with an element offset. No variant macros.
 *
 * layer_add_bias:  x[r, c] += b[c]   x dense [rows, cols]; one work-item per element
 */
OCLA_KERNEL void layer_add_bias(const int rows, const int cols, __global float *x, const ocla_idx x_off,
                                __global const float *b, const ocla_idx b_off) {
    const ocla_idx i = get_global_id(0);
    if (i < (ocla_idx)rows * cols) x[x_off + i] += b[b_off + i % cols];
}
