/* SPDX-License-Identifier: MIT */
/* mma_probe: checks, on an NVIDIA OpenCL device, the tensor-core path ocla's NVIDIA fast kernels
 * use: inline PTX mma.sync.m16n8k8 tf32 from OpenCL C, with fp32 data split into a "big" tf32 part
 * and a "small" remainder so that three tf32 products (big*big + big*small + small*big) give
 * fp32-level accuracy (3xTF32, as CUTLASS does). Reports accuracy vs fp64 and TFLOP/s of a tiled
 * GEMM C = A B (row-major, M=N=K multiples of 64) for 1xTF32 and 3xTF32.
 *
 *   mma_probe [device selector] [size]
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocla/ocla.h"
#include "platform.h"

static const char *SRC =
    "#ifndef SPLIT\n#define SPLIT 1\n#endif\n"
    "inline uint to_tf32(float x) { uint r; asm(\"cvt.rna.tf32.f32 %0, %1;\" : \"=r\"(r) : \"f\"(x)); return r; }\n"
    "inline void mma(float *d, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1) {\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\"\n"
    "    : \"+f\"(d[0]), \"+f\"(d[1]), \"+f\"(d[2]), \"+f\"(d[3]) : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    /* 128 threads = 4 warps; tile 64x64; each warp 32x32 = 2 (m16) x 4 (n8) fragments. */
    "__kernel __attribute__((reqd_work_group_size(128,1,1)))\n"
    "void gemm(const int M, const int N, const int K, __global const float *A, __global const float *B, __global float *C) {\n"
    "  __local float As[64][8+4]; __local float Bs[8][64+4];\n"
    "  int tid = get_local_id(0), lane = tid & 31, warp = tid >> 5;\n"
    "  int g = lane >> 2, t = lane & 3;\n"
    "  int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;\n"
    "  int m0 = get_group_id(1) * 64, n0 = get_group_id(0) * 64;\n"
    "  float acc[2][4][4];\n"
    "  for (int i = 0; i < 2; i++) for (int j = 0; j < 4; j++) for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;\n"
    "  for (int k0 = 0; k0 < K; k0 += 8) {\n"
    "    for (int e = tid; e < 64 * 8; e += 128) { int r = e >> 3, c = e & 7; As[r][c] = A[(long)(m0 + r) * K + k0 + c]; }\n"
    "    for (int e = tid; e < 8 * 64; e += 128) { int r = e >> 6, c = e & 63; Bs[r][c] = B[(long)(k0 + r) * N + n0 + c]; }\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int i = 0; i < 2; i++) {\n"
    "      float a[4] = {As[wm + i*16 + g][t], As[wm + i*16 + g + 8][t], As[wm + i*16 + g][t + 4], As[wm + i*16 + g + 8][t + 4]};\n"
    "      uint ab[4], as[4];\n"
    "      for (int r = 0; r < 4; r++) { ab[r] = to_tf32(a[r]); as[r] = to_tf32(a[r] - as_float(ab[r])); }\n"
    "      for (int j = 0; j < 4; j++) {\n"
    "        float b0 = Bs[t][wn + j*8 + g], b1 = Bs[t + 4][wn + j*8 + g];\n"
    "        uint bb0 = to_tf32(b0), bb1 = to_tf32(b1);\n"
    "#if SPLIT == 3\n"
    "        uint bs0 = to_tf32(b0 - as_float(bb0)), bs1 = to_tf32(b1 - as_float(bb1));\n"
    "        mma(acc[i][j], as[0], as[1], as[2], as[3], bb0, bb1);\n"
    "        mma(acc[i][j], ab[0], ab[1], ab[2], ab[3], bs0, bs1);\n"
    "#endif\n"
    "        mma(acc[i][j], ab[0], ab[1], ab[2], ab[3], bb0, bb1);\n"
    "      }\n"
    "    }\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  }\n"
    "  for (int i = 0; i < 2; i++) for (int j = 0; j < 4; j++) {\n"
    "    int r = m0 + wm + i*16 + g, c = n0 + wn + j*8 + 2*t;\n"
    "    C[(long)r * N + c] = acc[i][j][0]; C[(long)r * N + c + 1] = acc[i][j][1];\n"
    "    C[(long)(r + 8) * N + c] = acc[i][j][2]; C[(long)(r + 8) * N + c + 1] = acc[i][j][3];\n"
    "  }\n"
    "}\n";

#define CHECK(e, what)                                                                                               \
    do {                                                                                                             \
        if ((e) != CL_SUCCESS) {                                                                                     \
            fprintf(stderr, "%s failed: %d\n", what, (int)(e));                                                      \
            return 1;                                                                                                \
        }                                                                                                            \
    } while (0)

int main(int argc, char **argv) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = argc > 1 ? argv[1] : "nvidia";
    o.profiling = 1;
    int S = argc > 2 ? atoi(argv[2]) : 2048;
    ocla_context *ctx;
    if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "%s\n", ocla_last_error(NULL));
        return 1;
    }
    cl_context clc = ocla_context_cl(ctx);
    cl_command_queue q = ocla_context_queue(ctx);
    cl_device_id dev;
    clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    size_t n = (size_t)S * S;
    float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
    for (size_t i = 0; i < n; i++) a[i] = (float)(rand() / (double)RAND_MAX - 0.5), b[i] = (float)(rand() / (double)RAND_MAX - 0.5);
    cl_int err;
    cl_mem A = clCreateBuffer(clc, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * 4, a, &err);
    cl_mem B = clCreateBuffer(clc, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n * 4, b, &err);
    cl_mem C = clCreateBuffer(clc, CL_MEM_WRITE_ONLY, n * 4, NULL, &err);
    for (int split = 1; split <= 3; split += 2) {
        cl_program p = clCreateProgramWithSource(clc, 1, &SRC, NULL, &err);
        char opts[64];
        snprintf(opts, sizeof opts, "-DSPLIT=%d", split);
        err = clBuildProgram(p, 1, &dev, opts, NULL, NULL);
        if (err != CL_SUCCESS) {
            char log[16384];
            clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
            fprintf(stderr, "build failed (%d):\n%s\n", err, log);
            return 1;
        }
        cl_kernel k = clCreateKernel(p, "gemm", &err);
        CHECK(err, "clCreateKernel");
        clSetKernelArg(k, 0, 4, &S), clSetKernelArg(k, 1, 4, &S), clSetKernelArg(k, 2, 4, &S);
        clSetKernelArg(k, 3, sizeof A, &A), clSetKernelArg(k, 4, sizeof B, &B), clSetKernelArg(k, 5, sizeof C, &C);
        size_t gl[2] = {(size_t)S / 64 * 128, (size_t)S / 64}, lo[2] = {128, 1};
        double best = 1e30;
        for (int it = 0; it < 6; it++) {
            cl_event ev;
            CHECK(clEnqueueNDRangeKernel(q, k, 2, NULL, gl, lo, 0, NULL, &ev), "enqueue");
            clWaitForEvents(1, &ev);
            cl_ulong t0, t1;
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, 8, &t0, NULL);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, 8, &t1, NULL);
            if (it > 0 && (t1 - t0) * 1e-6 < best) best = (t1 - t0) * 1e-6;
            clReleaseEvent(ev);
        }
        CHECK(clEnqueueReadBuffer(q, C, CL_TRUE, 0, n * 4, c, 0, NULL, NULL), "read");
        double maxd = 0, maxr = 0;
        for (int i = 0; i < S; i += 97)
            for (int j = 0; j < S; j += 31) {
                double r = 0;
                for (int l = 0; l < S; l++) r += (double)a[(size_t)i * S + l] * b[(size_t)l * S + j];
                double d = fabs(r - c[(size_t)i * S + j]);
                if (d > maxd) maxd = d;
                if (fabs(r) > maxr) maxr = fabs(r);
            }
        printf("mma tf32 x%d: %dx%dx%d  %.3f ms  %.1f TFLOP/s  max rel err %.2e\n", split, S, S, S, best,
               2.0 * S * S * (double)S / best * 1e-9, maxd / maxr);
        clReleaseKernel(k);
        clReleaseProgram(p);
    }
    clReleaseMemObject(A), clReleaseMemObject(B), clReleaseMemObject(C);
    free(a), free(b), free(c);
    ocla_context_destroy(ctx);
    return 0;
}
