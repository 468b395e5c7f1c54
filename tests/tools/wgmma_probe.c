/* SPDX-License-Identifier: MIT */
/* wgmma_probe: checks, on an NVIDIA OpenCL device of compute capability 9.0 (H100, H200), whether
 * Hopper's warpgroup products (wgmma.mma_async, sm_90a) can run from OpenCL, and how fast they are
 * against the mma.sync products ocla's NVIDIA kernels use.
 *
 * NVIDIA's OpenCL compiler emits PTX for ".target sm_90", where ptxas refuses wgmma ("not supported
 * on .target 'sm_90'"), and -cl-nv-arch sm_90a does not change the target. So the probe builds its
 * OpenCL C with each sm_90a instruction written as a PTX comment ("// SM90A " and the instruction,
 * operands substituted as in any inline asm), takes the program's PTX (CL_PROGRAM_BINARIES),
 * removes the comment marks, sets ".target sm_90a", and builds that text again with
 * clCreateProgramWithBinary. It then checks
 *   1. one m64n32k16 bf16 product, both operands from local memory without swizzle ("core matrices"
 *      of 8 rows x 16 bytes, 128 bytes each; the descriptor's leading byte offset is the step
 *      between core matrices along k, its stride byte offset the step along m or n), against the
 *      exact sums; the fp32 results of a work-group land as mma.sync's fragments do (warp w: rows
 *      16 w + lane / 4 (+ 8), columns 8 j + 2 (lane % 4) (+ 1)); then four of them over k = 64 from
 *      rows of 128 bytes in the 128-byte swizzle (16-byte group c of row r at c ^ (r % 8)), the
 *      descriptor's start stepped by 32 bytes a product;
 *   2. the time of R back-to-back m64n64k16 products per work-group against the same products on
 *      mma.sync.m16n8k16 (fragments in registers), both on 4 work-groups of 128 per compute unit,
 *      and the same FLOPs on mma.sync.m16n8k8 tf32 (the fp32 kernels' products).
 *
 *   wgmma_probe [device selector] [R]
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* ocla__sm90a_ptx: the runtime's own PTX rewrite */
#include "ocla/ocla.h"

static const char *SRC =
    "#define SM90A \"// SM90A \"\n"
    "ulong desc(__local const void *p) { /* no swizzle; 128 bytes between core matrices along k, 256 along m/n */\n"
    "  return (ulong)((((uint)(ulong)p) & 0x3FFFF) >> 4) | ((ulong)(128 >> 4) << 16) | ((ulong)(256 >> 4) << 32);\n"
    "}\n"
    "#define CORE(r, k) ((((r) >> 3) * 2 + ((k) >> 3)) * 64 + ((r) & 7) * 8 + ((k) & 7))\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
    "void one(__global const ushort *A, __global const ushort *B, __global float *D) {\n"
    "  __local ushort As[64 * 16] __attribute__((aligned(256)));\n"
    "  __local ushort Bs[32 * 16] __attribute__((aligned(256)));\n"
    "  const int tid = get_local_id(0), lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;\n"
    "  for (int i = tid; i < 64 * 16; i += 128) As[CORE(i / 16, i % 16)] = A[i];\n"
    "  for (int i = tid; i < 32 * 16; i += 128) Bs[CORE(i / 16, i % 16)] = B[i];\n"
    "  asm volatile(SM90A \"fence.proxy.async.shared::cta;\" ::: \"memory\");\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  float d[16];\n"
    "  for (int i = 0; i < 16; i++) d[i] = 0.0f;\n"
    "  asm volatile(SM90A \"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "  asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %18, 0;\\n\" SM90A\n"
    "    \"wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, \"\n"
    "    \"%12, %13, %14, %15}, %16, %17, p, 1, 1, 0, 0;\\n}\"\n"
    "    : \"+f\"(d[0]), \"+f\"(d[1]), \"+f\"(d[2]), \"+f\"(d[3]), \"+f\"(d[4]), \"+f\"(d[5]), \"+f\"(d[6]), \"+f\"(d[7]),\n"
    "      \"+f\"(d[8]), \"+f\"(d[9]), \"+f\"(d[10]), \"+f\"(d[11]), \"+f\"(d[12]), \"+f\"(d[13]), \"+f\"(d[14]), \"+f\"(d[15])\n"
    "    : \"l\"(desc(As)), \"l\"(desc(Bs)), \"r\"(0) : \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "  for (int j = 0; j < 4; j++) {\n"
    "    const int r = 16 * w + g, c = 8 * j + 2 * t4;\n"
    "    D[r * 32 + c] = d[4 * j], D[r * 32 + c + 1] = d[4 * j + 1];\n"
    "    D[(r + 8) * 32 + c] = d[4 * j + 2], D[(r + 8) * 32 + c + 1] = d[4 * j + 3];\n"
    "  }\n"
    "}\n"
    /* the same product over k = 64 from 128-byte swizzled rows: row r's 16-byte group c at c ^ (r % 8), 8 rows
     * (1 KiB) a swizzle atom; the descriptor's start steps 32 bytes a k16 step, its stride offset 1 KiB */
    "#define SW(r, k) ((r) * 64 + ((((k) >> 3) ^ ((r) & 7)) << 3) + ((k) & 7))\n"
    "ulong desc_sw(__local const void *p) {\n"
    "  return (ulong)((((uint)(ulong)p) & 0x3FFFF) >> 4) | ((ulong)1 << 16) | ((ulong)(1024 >> 4) << 32) | ((ulong)1 << 62);\n"
    "}\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
    "void one_sw(__global const ushort *A, __global const ushort *B, __global float *D) {\n"
    "  __local ushort As[64 * 64] __attribute__((aligned(1024)));\n"
    "  __local ushort Bs[32 * 64] __attribute__((aligned(1024)));\n"
    "  const int tid = get_local_id(0), lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;\n"
    "  for (int i = tid; i < 64 * 64; i += 128) As[SW(i / 64, i % 64)] = A[i];\n"
    "  for (int i = tid; i < 32 * 64; i += 128) Bs[SW(i / 64, i % 64)] = B[i];\n"
    "  asm volatile(SM90A \"fence.proxy.async.shared::cta;\" ::: \"memory\");\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  float d[16];\n"
    "  for (int i = 0; i < 16; i++) d[i] = 0.0f;\n"
    "  const ulong da = desc_sw(As), db = desc_sw(Bs);\n"
    "  asm volatile(SM90A \"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "  for (int kk = 0; kk < 4; kk++)\n"
    "    asm volatile(SM90A\n"
    "      \"wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, \"\n"
    "      \"%12, %13, %14, %15}, %16, %17, 1, 1, 1, 0, 0;\"\n"
    "      : \"+f\"(d[0]), \"+f\"(d[1]), \"+f\"(d[2]), \"+f\"(d[3]), \"+f\"(d[4]), \"+f\"(d[5]), \"+f\"(d[6]), \"+f\"(d[7]),\n"
    "        \"+f\"(d[8]), \"+f\"(d[9]), \"+f\"(d[10]), \"+f\"(d[11]), \"+f\"(d[12]), \"+f\"(d[13]), \"+f\"(d[14]), \"+f\"(d[15])\n"
    "      : \"l\"(da + 2 * kk), \"l\"(db + 2 * kk) : \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "  for (int j = 0; j < 4; j++) {\n"
    "    const int r = 16 * w + g, c = 8 * j + 2 * t4;\n"
    "    D[r * 32 + c] = d[4 * j], D[r * 32 + c + 1] = d[4 * j + 1];\n"
    "    D[(r + 8) * 32 + c] = d[4 * j + 2], D[(r + 8) * 32 + c + 1] = d[4 * j + 3];\n"
    "  }\n"
    "  if (tid == 0) D[64 * 32] = (float)(((uint)(ulong)As | (uint)(ulong)Bs) & 1023);\n"
    "}\n"
    "#define D32(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15) \\\n"
    "  m(16) m(17) m(18) m(19) m(20) m(21) m(22) m(23) m(24) m(25) m(26) m(27) m(28) m(29) m(30) m(31)\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
    "void wg_loop(__global float *out, const int R) { /* R products m64n64k16 of local operands */\n"
    "  __local ushort As[64 * 16] __attribute__((aligned(256)));\n"
    "  __local ushort Bs[64 * 16] __attribute__((aligned(256)));\n"
    "  const int tid = get_local_id(0);\n"
    "  for (int i = tid; i < 64 * 16; i += 128) As[i] = Bs[i] = (ushort)(0x3c00 + (i & 7));\n"
    "  asm volatile(SM90A \"fence.proxy.async.shared::cta;\" ::: \"memory\");\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  const ulong da = desc(As), db = desc(Bs);\n"
    "  float d[32];\n"
    "  for (int i = 0; i < 32; i++) d[i] = 0.0f;\n"
    "  asm volatile(SM90A \"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "  for (int r = 0; r < R; r++)\n"
    "    asm volatile(SM90A \"wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, \"\n"
    "      \"%8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, \"\n"
    "      \"%29, %30, %31}, %32, %33, 1, 1, 1, 0, 0;\"\n"
    "      : \"+f\"(d[0]), \"+f\"(d[1]), \"+f\"(d[2]), \"+f\"(d[3]), \"+f\"(d[4]), \"+f\"(d[5]), \"+f\"(d[6]), \"+f\"(d[7]),\n"
    "        \"+f\"(d[8]), \"+f\"(d[9]), \"+f\"(d[10]), \"+f\"(d[11]), \"+f\"(d[12]), \"+f\"(d[13]), \"+f\"(d[14]), \"+f\"(d[15]),\n"
    "        \"+f\"(d[16]), \"+f\"(d[17]), \"+f\"(d[18]), \"+f\"(d[19]), \"+f\"(d[20]), \"+f\"(d[21]), \"+f\"(d[22]), \"+f\"(d[23]),\n"
    "        \"+f\"(d[24]), \"+f\"(d[25]), \"+f\"(d[26]), \"+f\"(d[27]), \"+f\"(d[28]), \"+f\"(d[29]), \"+f\"(d[30]), \"+f\"(d[31])\n"
    "      : \"l\"(da), \"l\"(db) : \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "  asm volatile(SM90A \"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "  float s = 0.0f;\n"
    "  for (int i = 0; i < 32; i++) s += d[i];\n"
    "  out[get_global_id(0)] = s;\n"
    "}\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
    "void mma_loop(__global float *out, const int R) { /* the same products on mma.sync: a warp's 16 rows x 64 */\n"
    "  const int tid = get_local_id(0);\n"
    "  const uint a0 = 0x3c003c00u + tid, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, b0 = a0 + 4, b1 = a0 + 5;\n"
    "  float d[8][4];\n"
    "  for (int j = 0; j < 8; j++) d[j][0] = d[j][1] = d[j][2] = d[j][3] = 0.0f;\n"
    "  for (int r = 0; r < R; r++)\n"
    "    for (int j = 0; j < 8; j++)\n"
    "      asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, \"\n"
    "        \"{%0,%1,%2,%3};\" : \"+f\"(d[j][0]), \"+f\"(d[j][1]), \"+f\"(d[j][2]), \"+f\"(d[j][3])\n"
    "        : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0 + j), \"r\"(b1));\n"
    "  float s = 0.0f;\n"
    "  for (int j = 0; j < 8; j++) s += d[j][0] + d[j][1] + d[j][2] + d[j][3];\n"
    "  out[get_global_id(0)] = s;\n"
    "}\n"
    "__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
    "void tf32_loop(__global float *out, const int R) { /* the same FLOPs on mma.sync m16n8k8 tf32: two a tile */\n"
    "  const int tid = get_local_id(0);\n"
    "  const uint a0 = 0x3f800000u + tid, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, b0 = a0 + 4, b1 = a0 + 5;\n"
    "  float d[8][4];\n"
    "  for (int j = 0; j < 8; j++) d[j][0] = d[j][1] = d[j][2] = d[j][3] = 0.0f;\n"
    "  for (int r = 0; r < R; r++)\n"
    "    for (int h = 0; h < 2; h++)\n"
    "      for (int j = 0; j < 8; j++)\n"
    "        asm volatile(\"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, \"\n"
    "          \"{%0,%1,%2,%3};\" : \"+f\"(d[j][0]), \"+f\"(d[j][1]), \"+f\"(d[j][2]), \"+f\"(d[j][3])\n"
    "          : \"r\"(a0 + h), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0 + j), \"r\"(b1));\n"
    "  float s = 0.0f;\n"
    "  for (int j = 0; j < 8; j++) s += d[j][0] + d[j][1] + d[j][2] + d[j][3];\n"
    "  out[get_global_id(0)] = s;\n"
    "}\n";

static void print_log(cl_program p, cl_device_id dev) {
    size_t n = 0;
    clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log && clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) log[n] = 0, fprintf(stderr, "%s\n", log);
    free(log);
}

static uint16_t to_bf16(float x) { /* exact for the small multiples of 1/8 used here */
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}

/* Runs product kernel `name` of p on A (64 x K) and B (32 x K), bf16 from small multiples of 1/8 and
 * 1/4, into D (64 x 32 fp32, then one more float), and returns the largest |D - A B^T| (exact sums
 * expected: 0), or -1 when it did not run; *extra gets D's float after the product. */
static double check_product(cl_context clc, cl_command_queue q, cl_program p, const char *name, int K, cl_mem D,
                            float *extra) {
    uint16_t *a = malloc(64 * (size_t)K * 2), *b = malloc(32 * (size_t)K * 2);
    float *af = malloc(64 * (size_t)K * 4), *bf = malloc(32 * (size_t)K * 4), *d = malloc((64 * 32 + 1) * 4);
    double maxd = -1.0;
    cl_int err;
    if (!a || !b || !af || !bf || !d) goto done;
    for (int i = 0; i < 64 * K; i++) af[i] = (float)((i * 7 + 3) % 17 - 8) / 8.0f, a[i] = to_bf16(af[i]);
    for (int i = 0; i < 32 * K; i++) bf[i] = (float)((i * 5 + 1) % 13 - 6) / 4.0f, b[i] = to_bf16(bf[i]);
    cl_mem A = clCreateBuffer(clc, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, 64 * (size_t)K * 2, a, &err);
    cl_mem B = clCreateBuffer(clc, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, 32 * (size_t)K * 2, b, &err);
    cl_kernel k = clCreateKernel(p, name, &err);
    clSetKernelArg(k, 0, sizeof A, &A), clSetKernelArg(k, 1, sizeof B, &B), clSetKernelArg(k, 2, sizeof D, &D);
    size_t gl = 128, lo = 128;
    if (clEnqueueNDRangeKernel(q, k, 1, NULL, &gl, &lo, 0, NULL, NULL) == CL_SUCCESS &&
        clEnqueueReadBuffer(q, D, CL_TRUE, 0, (64 * 32 + 1) * 4, d, 0, NULL, NULL) == CL_SUCCESS) {
        maxd = 0.0;
        for (int m = 0; m < 64; m++)
            for (int n = 0; n < 32; n++) {
                double s = 0.0;
                for (int i = 0; i < K; i++) s += (double)af[m * K + i] * bf[n * K + i];
                maxd = fmax(maxd, fabs(s - d[m * 32 + n]));
            }
        *extra = d[64 * 32];
    }
    clReleaseKernel(k), clReleaseMemObject(A), clReleaseMemObject(B);
done:
    free(a), free(b), free(af), free(bf), free(d);
    return maxd;
}

static double run_ms(cl_command_queue q, cl_kernel k, size_t groups) {
    size_t gl = groups * 128, lo = 128;
    double best = 1e30;
    for (int it = 0; it < 4; it++) {
        cl_event ev;
        if (clEnqueueNDRangeKernel(q, k, 1, NULL, &gl, &lo, 0, NULL, &ev) != CL_SUCCESS) return -1.0;
        clWaitForEvents(1, &ev);
        cl_ulong t0 = 0, t1 = 0;
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, 8, &t0, NULL);
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, 8, &t1, NULL);
        clReleaseEvent(ev);
        if (it > 0 && (double)(t1 - t0) * 1e-6 < best) best = (double)(t1 - t0) * 1e-6;
    }
    return best;
}

int main(int argc, char **argv) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = argc > 1 ? argv[1] : "nvidia";
    o.profiling = 1;
    const int R = argc > 2 ? atoi(argv[2]) : 4096;
    ocla_context *ctx;
    if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "%s\n", ocla_last_error(NULL));
        return 1;
    }
    cl_context clc = ocla_context_cl(ctx);
    cl_command_queue q = ocla_context_queue(ctx);
    cl_device_id dev;
    clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    cl_uint cus = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    cl_int err;
    cl_program p = clCreateProgramWithSource(clc, 1, &SRC, NULL, &err);
    if (clBuildProgram(p, 1, &dev, "", NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "the OpenCL C build failed:\n");
        print_log(p, dev);
        return 1;
    }
    size_t size = 0;
    clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    char *ptx = calloc(size + 1, 1);
    if (!ptx || clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptx, &ptx, NULL) != CL_SUCCESS || !strstr(ptx, ".target sm_90,")) {
        fprintf(stderr, "the program's binary is not PTX for .target sm_90 (not an H100 or H200 under NVIDIA's OpenCL?)\n");
        return 1;
    }
    char *t2 = NULL;
    if (ocla__sm90a_ptx(ptx, &t2) <= 0) return 1;
    size_t n2 = strlen(t2) + 1;
    const unsigned char *bins[1] = {(const unsigned char *)t2};
    cl_int bin_status = CL_SUCCESS;
    cl_program p2 = clCreateProgramWithBinary(clc, 1, &dev, &n2, bins, &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS || clBuildProgram(p2, 1, &dev, "", NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "the patched sm_90a PTX was not accepted (%d, %d):\n", (int)err, (int)bin_status);
        if (err == CL_SUCCESS) print_log(p2, dev);
        return 1;
    }
    printf("sm_90a PTX from patched OpenCL C: built\n");

    /* 1. one product over k = 16 without swizzle, then four over k = 64 from 128-byte swizzled rows */
    cl_mem D = clCreateBuffer(clc, CL_MEM_READ_WRITE, (size_t)cus * 4 * 128 * 4 > (64 * 32 + 1) * 4 ? (size_t)cus * 4 * 128 * 4 : (64 * 32 + 1) * 4, NULL, &err);
    float extra = 0.0f;
    const double e1 = check_product(clc, q, p2, "one", 16, D, &extra);
    printf("m64n32k16 bf16, operands in local memory: max |error| %g (exact sums expected: 0)\n", e1);
    const double e2 = check_product(clc, q, p2, "one_sw", 64, D, &extra);
    printf("m64n32k16 x 4 (k = 64), 128-byte swizzled rows: max |error| %g (exact: 0; operands' offset mod 1 KiB: %g)\n",
           e2, extra);
    if (e1 < 0.0 || e2 < 0.0) {
        fprintf(stderr, "a product kernel did not run\n");
        return 1;
    }
    const double maxd = fmax(e1, e2);

    /* 2. throughput */
    const size_t groups = (size_t)cus * 4;
    cl_kernel kw = clCreateKernel(p2, "wg_loop", &err), km = clCreateKernel(p2, "mma_loop", &err);
    clSetKernelArg(kw, 0, sizeof D, &D), clSetKernelArg(kw, 1, sizeof R, &R);
    clSetKernelArg(km, 0, sizeof D, &D), clSetKernelArg(km, 1, sizeof R, &R);
    const double flop = 2.0 * 64 * 64 * 16 * (double)R * (double)groups;
    const double tw = run_ms(q, kw, groups), tm = run_ms(q, km, groups);
    printf("%zu work-groups x %d products m64n64k16: wgmma %.3f ms (%.0f TFLOP/s), mma.sync m16n8k16 %.3f ms (%.0f TFLOP/s)\n",
           groups, R, tw, flop / tw * 1e-9, tm, flop / tm * 1e-9);
    /* the fp32 kernels' products: mma.sync m16n8k8 tf32, the same FLOPs (two k8 products a k16) */
    cl_kernel kt = clCreateKernel(p2, "tf32_loop", &err);
    if (kt) {
        clSetKernelArg(kt, 0, sizeof D, &D), clSetKernelArg(kt, 1, sizeof R, &R);
        const double tt = run_ms(q, kt, groups);
        printf("the same FLOPs on mma.sync m16n8k8 tf32: %.3f ms (%.0f TFLOP/s, %.1f G products/s)\n", tt,
               flop / tt * 1e-9, flop / 2048.0 / tt * 1e-6);
        clReleaseKernel(kt);
    }
    clReleaseKernel(kw), clReleaseKernel(km);
    clReleaseMemObject(D);
    clReleaseProgram(p), clReleaseProgram(p2);
    free(ptx), free(t2);
    ocla_context_destroy(ctx);
    return maxd == 0.0 ? 0 : 1;
}
