/* SPDX-License-Identifier: MIT */
/* half_convert.cl: a half-precision tensor to and from dense fp32 (the attention backward in half,
 * runtime/op_attention_bwd_half.c). dtype is the tensor's ocla_dtype (1 bf16, 2 fp16) at run time,
 * so one program serves both; common.cl's ocla_bf16_load / ocla_bf16_rne and OCLA_F16_LD /
 * OCLA_F16_ST convert (round to nearest even; core OpenCL 1.2). The tensor: buffer x of 16-bit
 * elements, offset xo and strides s0..s3, dims (d0,) d1, d2, d3 (fewer dims: trailing dims of 1);
 * element i of the dense fp32 buffer y is the tensor's element i in row-major order.
 * Work split: one work-item per element. */
OCLA_INLINE ocla_idx hc_off(const ocla_idx i, const ocla_idx xo, const ocla_idx s0, const ocla_idx s1, const ocla_idx s2,
                            const ocla_idx s3, const ocla_idx d1, const ocla_idx d2, const ocla_idx d3) {
    const ocla_idx c3 = i % d3, c2 = (i / d3) % d2, c1 = (i / (d3 * d2)) % d1, c0 = i / (d3 * d2 * d1);
    return xo + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3;
}

/* y[i] = x[element i] as fp32 (exact) */
OCLA_KERNEL void half_widen(const ocla_idx n, const int dtype, __global const ushort *x, const ocla_idx xo,
                            const ocla_idx s0, const ocla_idx s1, const ocla_idx s2, const ocla_idx s3, const ocla_idx d1,
                            const ocla_idx d2, const ocla_idx d3, __global float *y) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const ocla_idx o = hc_off(i, xo, s0, s1, s2, s3, d1, d2, d3);
    y[i] = dtype == OCLA_DT_BF16 ? ocla_bf16_load(x[o]) : OCLA_F16_LD(x, o);
}

/* x[element i] = y[i] rounded to nearest even in dtype */
OCLA_KERNEL void half_narrow(const ocla_idx n, const int dtype, __global ushort *x, const ocla_idx xo, const ocla_idx s0,
                             const ocla_idx s1, const ocla_idx s2, const ocla_idx s3, const ocla_idx d1, const ocla_idx d2,
                             const ocla_idx d3, __global const float *y) {
    const ocla_idx i = get_global_id(0);
    if (i >= n) return;
    const ocla_idx o = hc_off(i, xo, s0, s1, s2, s3, d1, d2, d3);
    if (dtype == OCLA_DT_BF16) x[o] = ocla_bf16_rne(y[i]);
    else OCLA_F16_ST(x, o, y[i]);
}
