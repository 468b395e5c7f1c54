/* SPDX-License-Identifier: MIT */
/* The device's fp32 FMA rate and copy bandwidth, measured the way clpeak does (krrishnarraj/clpeak),
 * for ocla-bench's %FMA and %BW columns. Plain OpenCL on the context's queue (ocla_context_queue):
 * the benchmark measures the device, the library is not involved.
 *
 * peak_mad: each work-item runs PEAK_ITERS x 64 multiply-adds on vectors of width VW as NCH = 8
 * independent chains (4 pairs, interleaved: a CPU's FMA pipes need several in flight per core), so
 * a work-item does PEAK_ITERS * 64 * 2 * VW FLOPs; the result is stored so the chains stay. The
 * operation is fma() where the device reports CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG (PoCL lowers
 * mad() to a multiply and an add, so mad chains read half the rate its fma kernels reach), else
 * mad(); bench_device.peak_fma says which.
 * peak_copy4 / peak_copy4x16: dst[i] = src[i] over float4 elements, one or 16 per work-item (clpeak's
 * "go" pattern, for drivers with a high per-work-item cost); read + write counted, the faster wins.
 * Launches are timed by their events where the queue profiles and the timestamps work (an event
 * time below 1/1000 of the host's round trip counts as not working), else by the host clock around
 * enqueue and clFinish. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define PEAK_ITERS 32
static const int k_widths[5] = {1, 2, 4, 8, 16};

static const char *k_peak_src =
    "#if USE_FMA\n#define OP(a, b, c) fma(a, b, c)\n#else\n#define OP(a, b, c) mad(a, b, c)\n#endif\n"
    "#define STEP(x, y) x = OP(y, x, y); y = OP(x, y, x);\n"
    "#define STEP4 STEP(x0, y0) STEP(x1, y1) STEP(x2, y2) STEP(x3, y3)\n"
    "#define MAD64 STEP4 STEP4 STEP4 STEP4 STEP4 STEP4 STEP4 STEP4\n"
    "#if VW == 1\n#define VT float\n#define SUM(y) (y)\n"
    "#elif VW == 2\n#define VT float2\n#define SUM(y) ((y).s0 + (y).s1)\n"
    "#elif VW == 4\n#define VT float4\n#define SUM(y) (((y).s0 + (y).s1) + ((y).s2 + (y).s3))\n"
    "#elif VW == 8\n#define VT float8\n#define SUM(y) (((y).s0 + (y).s1) + ((y).s2 + (y).s3) + ((y).s4 + (y).s5) "
    "+ ((y).s6 + (y).s7))\n"
    "#else\n#define VT float16\n#define SUM(y) (((y).s0 + (y).s1) + ((y).s2 + (y).s3) + ((y).s4 + (y).s5) "
    "+ ((y).s6 + (y).s7) + ((y).s8 + (y).s9) + ((y).sa + (y).sb) + ((y).sc + (y).sd) + ((y).se + (y).sf))\n"
    "#endif\n"
    "__kernel void peak_mad(__global float *out, float a) {\n"
    "    const float l = (float)get_local_id(0);\n"
    "    VT x0 = (VT)(a), x1 = (VT)(a + 1.0f), x2 = (VT)(a + 2.0f), x3 = (VT)(a + 3.0f);\n"
    "    VT y0 = (VT)(l), y1 = (VT)(l + 1.0f), y2 = (VT)(l + 2.0f), y3 = (VT)(l + 3.0f);\n"
    "    for (int i = 0; i < PEAK_ITERS; i++) { MAD64 }\n"
    "    const VT y = (y0 + y1) + (y2 + y3);\n"
    "    out[get_global_id(0)] = SUM(y);\n"
    "}\n"
    "__kernel void peak_copy4x16(__global const float4 *src, __global float4 *dst) {\n"
    "    size_t i = get_global_id(0), g = get_global_size(0);\n"
    "    for (int j = 0; j < 16; j++) dst[i + j * g] = src[i + j * g];\n"
    "}\n"
    "__kernel void peak_copy4(__global const float4 *src, __global float4 *dst) { dst[get_global_id(0)] = "
    "src[get_global_id(0)]; }\n";

typedef struct peak_env {
    cl_context cl;
    cl_device_id dev;
    cl_command_queue q;
    int events; /* 1 while the queue's event timestamps work */
    int is_gpu;
    int fma; /* CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG: the chains use fma() */
    cl_uint units;
    size_t max_wg, max_item0;
    cl_ulong max_alloc;
    char *err;
    size_t errlen;
} peak_env;

static int fail(peak_env *e, const char *what, cl_int code) {
    snprintf(e->err, e->errlen, "%s: OpenCL error %d", what, (int)code);
    return -1;
}

/* One launch, waited for; *ms from its event, else the host clock. */
static int timed_launch(peak_env *e, cl_kernel k, size_t global, size_t local, double *ms) {
    cl_event ev = NULL;
    cl_int err = clFinish(e->q);
    if (err != CL_SUCCESS) return fail(e, "clFinish", err);
    double t0 = bench_now();
    err = clEnqueueNDRangeKernel(e->q, k, 1, NULL, &global, &local, 0, NULL, e->events ? &ev : NULL);
    if (err != CL_SUCCESS) return fail(e, "clEnqueueNDRangeKernel", err);
    err = clFinish(e->q);
    *ms = (bench_now() - t0) * 1e3;
    if (err == CL_SUCCESS && ev) {
        cl_ulong a = 0, b = 0;
        if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS && b > a &&
            (double)(b - a) * 1e-6 >= *ms * 1e-3)
            *ms = (double)(b - a) * 1e-6;
        else /* timestamps read 0, or count 1 ns per command (rusticl 22.3: 0, 1, 2, 3), which would grow
              * the calibrated launch to 2^26 work-items: the host clock from here on */
            e->events = 0;
    }
    if (ev) clReleaseEvent(ev);
    return err == CL_SUCCESS ? 0 : fail(e, "clFinish", err);
}

/* Kernel `name` of a program built with VW = w and a work-group size up to 256 within the limits. */
static int build_kernel(peak_env *e, int w, const char *name, cl_program *prog, cl_kernel *k, size_t *local) {
    cl_int err;
    char opts[64];
    snprintf(opts, sizeof opts, "-DVW=%d -DPEAK_ITERS=%d -DUSE_FMA=%d", w, PEAK_ITERS, e->fma);
    *prog = clCreateProgramWithSource(e->cl, 1, &k_peak_src, NULL, &err);
    if (err != CL_SUCCESS) return fail(e, "clCreateProgramWithSource", err);
    if ((err = clBuildProgram(*prog, 1, &e->dev, opts, NULL, NULL)) != CL_SUCCESS) return fail(e, "clBuildProgram", err);
    *k = clCreateKernel(*prog, name, &err);
    if (err != CL_SUCCESS) return fail(e, "clCreateKernel", err);
    size_t wg = 0, l = 256;
    clGetKernelWorkGroupInfo(*k, e->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    if (wg && l > wg) l = wg;
    if (e->max_item0 && l > e->max_item0) l = e->max_item0;
    if (e->max_wg && l > e->max_wg) l = e->max_wg;
    *local = l ? l : 1;
    return 0;
}

static void release(cl_program p, cl_kernel k) {
    if (k) clReleaseKernel(k);
    if (p) clReleaseProgram(p);
}

/* fma (or mad) chains of width k_widths[w]: the global size grows until a launch takes the target time, then
 * the median of 7 launches. */
static int measure_fma(peak_env *e, cl_mem out, size_t max_items, int w, double *gflops) {
    const double target_ms = e->is_gpu ? 5.0 : 30.0;
    cl_program p = NULL;
    cl_kernel k = NULL;
    size_t local;
    float a = 1.3f;
    int rc = build_kernel(e, k_widths[w], "peak_mad", &p, &k, &local);
    if (!rc && (clSetKernelArg(k, 0, sizeof out, &out) != CL_SUCCESS || clSetKernelArg(k, 1, sizeof a, &a) != CL_SUCCESS))
        rc = fail(e, "clSetKernelArg", CL_INVALID_ARG_VALUE);
    if (local > max_items) local = max_items;
    size_t global = local * (e->units ? e->units : 1) * 4;
    if (global > max_items) global = max_items / local * local;
    double ms = 0, t[7];
    int n = 0;
    if (!rc) rc = timed_launch(e, k, global, local, &ms); /* warm-up */
    for (int cal = 0; !rc && cal < 12 && ms < target_ms; cal++) {
        double f = ms > 0 ? target_ms / ms : 16;
        f = f > 16 ? 16 : f < 1.5 ? 1.5 : f;
        size_t g2 = ((size_t)((double)global * f) + local - 1) / local * local;
        if (g2 > max_items) g2 = max_items / local * local;
        if (g2 <= global) break;
        global = g2;
        rc = timed_launch(e, k, global, local, &ms);
    }
    for (int r = 0; !rc && r < 7; r++)
        if (!(rc = timed_launch(e, k, global, local, &ms)) && ms > 0) t[n++] = ms;
    release(p, k);
    if (!rc && n) *gflops = (double)global * PEAK_ITERS * 64 * 2 * k_widths[w] / (bench_median(t, n) * 1e-3) * 1e-9;
    return rc;
}

/* float4 copy, one or 16 per work-item, median of 10 after 2 warm-ups; the faster counts. */
static int measure_copy(peak_env *e, double *gbs) {
    size_t bytes = e->is_gpu ? ((size_t)512 << 20) : ((size_t)64 << 20);
    while (bytes > e->max_alloc / 2 && bytes > ((size_t)1 << 20)) bytes /= 2;
    const size_t n4 = bytes / 16 / 4096 * 4096;
    cl_int err, zero = 0;
    cl_mem a = clCreateBuffer(e->cl, CL_MEM_READ_WRITE, n4 * 16, NULL, &err);
    cl_mem b = err == CL_SUCCESS ? clCreateBuffer(e->cl, CL_MEM_READ_WRITE, n4 * 16, NULL, &err) : NULL;
    int rc = err == CL_SUCCESS ? 0 : fail(e, "clCreateBuffer", err);
    if (!rc && (err = clEnqueueFillBuffer(e->q, a, &zero, sizeof zero, 0, n4 * 16, 0, NULL, NULL)) != CL_SUCCESS)
        rc = fail(e, "clEnqueueFillBuffer", err);
    for (int x16 = 0; x16 < 2 && !rc; x16++) {
        cl_program p = NULL;
        cl_kernel k = NULL;
        size_t local, global = x16 ? n4 / 16 : n4;
        double ms, t[10];
        int n = 0;
        rc = build_kernel(e, 1, x16 ? "peak_copy4x16" : "peak_copy4", &p, &k, &local);
        if (!rc && (clSetKernelArg(k, 0, sizeof a, &a) != CL_SUCCESS || clSetKernelArg(k, 1, sizeof b, &b) != CL_SUCCESS))
            rc = fail(e, "clSetKernelArg", CL_INVALID_ARG_VALUE);
        for (int r = 0; !rc && global % local == 0 && r < 12; r++)
            if (!(rc = timed_launch(e, k, global, local, &ms)) && r >= 2 && ms > 0) t[n++] = ms;
        release(p, k);
        double g = n ? 2.0 * (double)n4 * 16 / (bench_median(t, n) * 1e-3) * 1e-9 : 0;
        if (g > *gbs) *gbs = g;
    }
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    return rc;
}

int bench_device_peak(ocla_context *ctx, bench_device *d, char *err, size_t errlen) {
    peak_env e = {.q = ocla_context_queue(ctx), .err = err, .errlen = errlen};
    cl_command_queue_properties props = 0;
    cl_device_type type = 0;
    if (clGetCommandQueueInfo(e.q, CL_QUEUE_CONTEXT, sizeof e.cl, &e.cl, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(e.q, CL_QUEUE_DEVICE, sizeof e.dev, &e.dev, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(e.q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(e.dev, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(e.dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof e.units, &e.units, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(e.dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof e.max_wg, &e.max_wg, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(e.dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof e.max_alloc, &e.max_alloc, NULL) != CL_SUCCESS)
        return fail(&e, "querying the queue and device", CL_INVALID_VALUE);
    size_t items[3] = {0, 0, 0};
    clGetDeviceInfo(e.dev, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL);
    e.max_item0 = items[0];
    e.is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(e.dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    e.fma = (fp & CL_FP_FMA) != 0;
    d->peak_fma = e.fma;
    e.events = (props & CL_QUEUE_PROFILING_ENABLE) != 0;
    size_t max_items = (size_t)(e.max_alloc / 4); /* mad output: one float per work-item, up to 2^26 */
    if (max_items > ((size_t)1 << 26)) max_items = (size_t)1 << 26;
    cl_int cerr;
    cl_mem out = clCreateBuffer(e.cl, CL_MEM_WRITE_ONLY, max_items * 4, NULL, &cerr);
    int rc = cerr == CL_SUCCESS ? 0 : fail(&e, "clCreateBuffer", cerr);
    d->peak_gflops = 0;
    for (int w = 0; w < 5 && !rc; w++) {
        rc = measure_fma(&e, out, max_items, w, &d->peak_by_width[w]);
        if (d->peak_by_width[w] > d->peak_gflops) d->peak_gflops = d->peak_by_width[w];
    }
    if (out) clReleaseMemObject(out);
    if (!rc) rc = measure_copy(&e, &d->bw_gbs);
    return rc;
}
