/* SPDX-License-Identifier: MIT */
/* The device side of half-precision storage (issue 14): common.cl's OCLA_LD / OCLA_ST / OCLA_GLD for
 * each OCLA_DTYPE / OCLA_GTYPE, on every device, bit for bit against the host conversions
 * (runtime/dtype.c, themselves checked in tests/test_half.c): every one of the 65536 values of each
 * half type loaded, and a sweep of fp32 bit patterns stored. A kernel storing bf16 with round to
 * nearest even and reading fp16 through vload_half then means the same values as the host's. fp16 has
 * two device paths (common.cl's OCLA_HALF_BITS: vload_half / vstore_half_rte, or integer operations,
 * the runtime's choice on a CPU device with fp32 subnormals): both are checked on every device that
 * may run them, and the stores also on the cases the stride sweep may miss (every subnormal's ties
 * and neighbours, the carries across an exponent boundary, the overflow threshold). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"

static const char *KERNELS =
    "__kernel void half_st(__global const float *x, __global ocla_data *h, const long n) {\n"
    "    const long i = get_global_id(0);\n"
    "    if (i < n) OCLA_ST(h, i, x[i]);\n"
    "}\n"
    "__kernel void half_ld(__global const ocla_data *h, __global const ocla_gdata *g, __global float *y,\n"
    "                      __global float *z, const long n) {\n"
    "    const long i = get_global_id(0);\n"
    "    if (i < n) y[i] = OCLA_LD(h, i), z[i] = OCLA_GLD(g, i);\n"
    "}\n";

/* common.cl + KERNELS built with -DOCLA_DTYPE=dt -DOCLA_GTYPE=dt -DOCLA_HALF_BITS=bits on ctx's device. */
static cl_program build(ocla_context *ctx, int dt, int half_bits) {
    const ocla_embedded_source *common = NULL;
    for (size_t i = 0; i < ocla_embedded_source_count; i++)
        if (!strcmp(ocla_embedded_sources[i].name, "common")) common = &ocla_embedded_sources[i];
    cr_assert_not_null(common);
    const char *texts[2] = {(const char *)common->data, KERNELS};
    const size_t sizes[2] = {common->size, strlen(KERNELS)};
    cl_int err;
    cl_program p = clCreateProgramWithSource(ocla_context_cl(ctx), 2, texts, sizes, &err);
    cr_assert_eq(err, CL_SUCCESS);
    char opts[128];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DOCLA_DTYPE=%d -DOCLA_GTYPE=%d -DOCLA_HALF_BITS=%d", dt, dt, half_bits);
    cl_device_id dev;
    cr_assert_eq(clGetContextInfo(ocla_context_cl(ctx), CL_CONTEXT_DEVICES, sizeof dev, &dev, NULL), CL_SUCCESS);
    err = clBuildProgram(p, 1, &dev, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        cr_assert_fail("dtype %d: build failed (%d): %s", dt, (int)err, log);
    }
    return p;
}

static cl_mem buffer(ocla_context *ctx, size_t bytes, const void *host) {
    cl_int err;
    cl_mem m = clCreateBuffer(ocla_context_cl(ctx), CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                              (void *)(uintptr_t)host, &err);
    cr_assert_eq(err, CL_SUCCESS);
    return m;
}

static void launch(ocla_context *ctx, cl_kernel k, size_t n) {
    cr_assert_eq(clEnqueueNDRangeKernel(ocla_context_queue(ctx), k, 1, NULL, &n, NULL, 0, NULL, NULL), CL_SUCCESS);
    cr_assert_eq(clFinish(ocla_context_queue(ctx)), CL_SUCCESS);
}

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Loads: every half value, as data and as gate, to the host's fp32 bits (a NaN to a NaN). */
static void check_loads(ocla_context *ctx, cl_program p, int dt, const char *dev) {
    enum { N = 65536 };
    uint16_t *h = malloc(N * sizeof *h);
    float *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
    cr_assert(h && y && z);
    for (uint32_t i = 0; i < N; i++) h[i] = (uint16_t)i;
    cl_mem hb = buffer(ctx, N * sizeof *h, h), yb = buffer(ctx, N * sizeof *y, NULL), zb = buffer(ctx, N * sizeof *z, NULL);
    cl_int err;
    cl_kernel k = clCreateKernel(p, "half_ld", &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_long n = N;
    clSetKernelArg(k, 0, sizeof hb, &hb), clSetKernelArg(k, 1, sizeof hb, &hb), clSetKernelArg(k, 2, sizeof yb, &yb);
    clSetKernelArg(k, 3, sizeof zb, &zb), clSetKernelArg(k, 4, sizeof n, &n);
    launch(ctx, k, N);
    clEnqueueReadBuffer(ocla_context_queue(ctx), yb, CL_TRUE, 0, N * sizeof *y, y, 0, NULL, NULL);
    clEnqueueReadBuffer(ocla_context_queue(ctx), zb, CL_TRUE, 0, N * sizeof *z, z, 0, NULL, NULL);
    for (uint32_t i = 0; i < N; i++) {
        const float want = dt == OCLA_BF16 ? ocla_bf16_to_f32((uint16_t)i) : ocla_f16_to_f32((uint16_t)i);
        if (isnan(want)) {
            cr_assert(isnan(y[i]) && isnan(z[i]), "%s %s load of NaN %04x: %a %a", dev, ocla_dtype_name(dt), i,
                      (double)y[i], (double)z[i]);
            continue;
        }
        cr_assert(bits(y[i]) == bits(want) && bits(z[i]) == bits(want), "%s %s load of %04x: %a / %a, want %a", dev,
                  ocla_dtype_name(dt), i, (double)y[i], (double)z[i], (double)want);
    }
    clReleaseKernel(k);
    clReleaseMemObject(hb), clReleaseMemObject(yb), clReleaseMemObject(zb);
    free(h), free(y), free(z);
}

/* Stores of the n values x to the host's rounding, bit for bit (a NaN to a NaN); what names the set. */
static void check_stores_of(ocla_context *ctx, cl_program p, int dt, const char *dev, const float *x, size_t N,
                            const char *what) {
    uint16_t *h = malloc(N * sizeof *h);
    cr_assert(h);
    cl_mem xb = buffer(ctx, N * sizeof *x, x), hb = buffer(ctx, N * sizeof *h, NULL);
    cl_int err;
    cl_kernel k = clCreateKernel(p, "half_st", &err);
    cr_assert_eq(err, CL_SUCCESS);
    const cl_long n = (cl_long)N;
    clSetKernelArg(k, 0, sizeof xb, &xb), clSetKernelArg(k, 1, sizeof hb, &hb), clSetKernelArg(k, 2, sizeof n, &n);
    launch(ctx, k, N);
    clEnqueueReadBuffer(ocla_context_queue(ctx), hb, CL_TRUE, 0, N * sizeof *h, h, 0, NULL, NULL);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < N; i++) {
        const uint16_t want = dt == OCLA_BF16 ? ocla_f32_to_bf16(x[i]) : ocla_f32_to_f16(x[i]);
        const int ok = isnan(x[i]) ? ((h[i] & 0x7fff) > (dt == OCLA_BF16 ? 0x7f80 : 0x7c00)) : h[i] == want;
        if (!ok && !bad++) first = i;
    }
    cr_assert_eq(bad, 0, "%s %s, %s: %zu of %zu stores differ from the host's; the first: %a -> %04x, host %04x", dev,
                 ocla_dtype_name(dt), what, bad, N, (double)x[first], h[first],
                 dt == OCLA_BF16 ? ocla_f32_to_bf16(x[first]) : ocla_f32_to_f16(x[first]));
    clReleaseKernel(k);
    clReleaseMemObject(xb), clReleaseMemObject(hb);
    free(h);
}

/* Stores: fp32 bit patterns, stride 4099 over all 2^32. */
static void check_stores(ocla_context *ctx, cl_program p, int dt, const char *dev) {
    const size_t N = (size_t)(0x100000000ull / 4099) + 1;
    float *x = malloc(N * sizeof *x);
    cr_assert(x);
    for (size_t i = 0; i < N; i++) {
        const uint32_t u = (uint32_t)(i * 4099u);
        memcpy(&x[i], &u, sizeof u);
    }
    check_stores_of(ctx, p, dt, dev, x, N, "stride 4099");
    free(x);
}

/* fp16 stores where rounding is delicate, both signs: every finite fp16 value v, the tie between it
 * and the next value up (the ties of the subnormals, the tie between the largest subnormal and the
 * smallest normal, each tie whose rounding carries into the exponent, as 2047.5 -> 2048, and 65520 ->
 * Inf) with the fp32 neighbours of that tie; below the subnormals (2^-25 ties to 0, its upper
 * neighbour rounds to 2^-24; 2^-26, the smallest normal fp32 and an fp32 subnormal go to 0); beyond
 * the range (65536, 1e30, FLT_MAX, Inf) and NaN. */
static void check_f16_edges(ocla_context *ctx, cl_program p, const char *dev) {
    enum { MAXN = 2 * (4 * 0x7c00 + 16) };
    float *x = malloc(MAXN * sizeof *x);
    cr_assert(x);
    size_t n = 0;
    const float extra[] = {0x1p-25f, nextafterf(0x1p-25f, 1.0f), nextafterf(0x1p-25f, 0.0f), 0x1p-26f, 0x1p-126f,
                           0x1p-149f, 0x1.8p-25f, 0.0f, 65536.0f, 1e30f, 3.4028235e38f, INFINITY, NAN, 65519.996f,
                           0x1p-14f, nextafterf(0x1p-14f, 0.0f)};
    for (uint32_t b = 0; b < 0x7c00; b++) {
        const float v = ocla_f16_to_f32((uint16_t)b), next = b < 0x7bff ? ocla_f16_to_f32((uint16_t)(b + 1)) : 65536.0f;
        const float mid = (float)(((double)v + (double)next) / 2); /* exact: 12 significant bits */
        x[n++] = v, x[n++] = mid, x[n++] = nextafterf(mid, 0.0f), x[n++] = nextafterf(mid, INFINITY);
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) x[n++] = extra[i];
    for (size_t i = 0, m = n; i < m; i++) x[n++] = -x[i];
    cr_assert(n <= MAXN);
    check_stores_of(ctx, p, OCLA_F16, dev, x, n, "ties, subnormals and overflow");
    free(x);
}

Test(half_device, loads_and_stores_match_the_host, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        cl_device_fp_config fp = 0;
        cl_device_id dev;
        cr_assert_eq(clGetContextInfo(ocla_context_cl(ctx), CL_CONTEXT_DEVICES, sizeof dev, &dev, NULL), CL_SUCCESS);
        cr_assert_eq(clGetDeviceInfo(dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL), CL_SUCCESS);
        /* the integer path where the runtime may choose it: fp32 subnormals kept (runtime/context.c) */
        const int int_path = (fp & CL_FP_DENORM) != 0;
        for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++)
            for (int bits = 0; bits <= (dt == OCLA_F16 && int_path); bits++) {
                cl_program p = build(ctx, dt, bits);
                check_loads(ctx, p, dt, tc_device_name(d));
                check_stores(ctx, p, dt, tc_device_name(d));
                if (dt == OCLA_F16) check_f16_edges(ctx, p, tc_device_name(d));
                clReleaseProgram(p);
            }
        ocla_context_destroy(ctx);
    }
}
