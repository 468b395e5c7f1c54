/* SPDX-License-Identifier: MIT */
/* half_convert.cl: a half-precision tensor to and from dense fp32 (the attention backward in half,
 * runtime/op_attention_bwd_half.c). dtype is the tensor's ocla_dtype (1 bf16, 2 fp16) at run time,
 * so one program serves both; common.cl's ocla_bf16_load / ocla_bf16_rne and OCLA_F16_LD /
 * OCLA_F16_ST convert (round to nearest even; core OpenCL 1.2). The tensor: buffer x of 16-bit
 * elements, offset xo, dims d0 x d1 x d2 x d3 with strides s0..s3 (fewer dims: leading dims of 1);
 * element i of the dense fp32 buffer y is the tensor's element i in row-major order.
 * Work split: a 3-D grid over (d3, d2, d1) (the host caps the third at 32768: d1 is stepped by the
 * grid's size), each work-item converting its element of every one of the d0 outer rows: no division
 * in the index arithmetic (64-bit divisions per element, one work-item per element, took 1.3 ms for
 * four [2,8192,16,128] tensors on the H100). */
#define HC_LOOP(body)                                                                                            \
    const ocla_idx c3 = get_global_id(0), c2 = get_global_id(1), g1 = get_global_size(2);                        \
    if (c3 >= d3) return;                                                                                        \
    for (ocla_idx c1 = get_global_id(2); c1 < d1; c1 += g1)                                                      \
        for (ocla_idx c0 = 0; c0 < d0; c0++) {                                                                   \
            const ocla_idx o = xo + c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3, i = ((c0 * d1 + c1) * d2 + c2) * d3 + c3; \
            body                                                                                                 \
        }

/* y[i] = x[element i] as fp32 (exact) */
OCLA_KERNEL void half_widen(const int dtype, __global const ushort *x, const ocla_idx xo, const ocla_idx s0,
                            const ocla_idx s1, const ocla_idx s2, const ocla_idx s3, const ocla_idx d0,
                            const ocla_idx d1, const ocla_idx d2, const ocla_idx d3, __global float *y) {
    HC_LOOP(y[i] = dtype == OCLA_DT_BF16 ? ocla_bf16_load(x[o]) : OCLA_F16_LD(x, o);)
}

/* x[element i] = y[i] rounded to nearest even in dtype */
OCLA_KERNEL void half_narrow(const int dtype, __global ushort *x, const ocla_idx xo, const ocla_idx s0,
                             const ocla_idx s1, const ocla_idx s2, const ocla_idx s3, const ocla_idx d0,
                             const ocla_idx d1, const ocla_idx d2, const ocla_idx d3, __global const float *y) {
    HC_LOOP(if (dtype == OCLA_DT_BF16) x[o] = ocla_bf16_rne(y[i]); else OCLA_F16_ST(x, o, y[i]);)
}
