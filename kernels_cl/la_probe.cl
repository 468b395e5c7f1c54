/* SPDX-License-Identifier: MIT */
/* la_probe.cl: a tiny barrier-using kernel built with no options. Its CL_KERNEL_WORK_GROUP_SIZE
 * tells the attention scheduler the driver's per-kernel work-group limit before a plan's program
 * variant is built (rusticl on llvmpipe reports 32 for every kernel, far below the device's 1024).
 * x[i] = x[i + 1 within the work-group, modulo 64]. */
OCLA_KERNEL void la_probe(__global float *x) {
    __local float s[64];
    s[get_local_id(0) % 64] = x[get_global_id(0)];
    barrier(CLK_LOCAL_MEM_FENCE);
    x[get_global_id(0)] = s[(get_local_id(0) + 1) % 64];
}
