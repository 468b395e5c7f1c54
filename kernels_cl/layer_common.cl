/* SPDX-License-Identifier: MIT */
/* layer_common.cl: elementwise steps every [B,T,d] layer shares (runtime/layer_common.c). fp32,
 * OpenCL C 1.2. Every buffer comes with an element offset. No variant macros.
 *
 * layer_add_bias:  x[r, c] += b[c]   x dense [rows, cols]; one work-item per element
 */
OCLA_KERNEL void layer_add_bias(const int rows, const int cols, OCLA_BUF_OUT(x), OCLA_BUF(b)) {
    const ocla_idx i = get_global_id(0);
    if (i < (ocla_idx)rows * cols) x[x_o + i] += b[b_o + i % cols];
}
