/* ocla_device_peak: the device's fp32 FMA rate and copy bandwidth, measured the way clpeak does
 * (krrishnarraj/clpeak), with kernels_cl/peak.cl (family ocla_fam_peak: tiles VW, PEAK_ITERS).
 * ocla-bench divides by these for its %FMA and %BW columns. The launches are timed here, by their
 * own events (host clock where the driver's timestamps read 0), so an open ocla_profile is left
 * alone. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "variant.h"

#define PEAK_ITERS 32 /* 32 x 64 dependent mads per work-item */
static const int k_widths[5] = {1, 2, 4, 8, 16};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One launch, waited for. *ms = its event's end - start where the context profiles and the
 * driver's timestamps work, else the host clock around enqueue and clFinish. */
static ocla_status timed_launch(ocla_context *ctx, cl_kernel k, size_t global, size_t local, int *events,
                                double *ms) {
    *ms = -1;
    cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clFinish", "device peak");
    cl_event ev = NULL;
    double t0 = ocla_now_seconds();
    err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL, *events ? &ev : NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueNDRangeKernel", "device peak");
    err = clFinish(ctx->queue);
    double host_ms = (ocla_now_seconds() - t0) * 1e3;
    if (err != CL_SUCCESS) {
        if (ev) clReleaseEvent(ev);
        return ocla__cl_fail(ctx, err, "clFinish", "device peak");
    }
    *ms = host_ms;
    if (ev) {
        cl_ulong a = 0, b = 0;
        if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS && b > a)
            *ms = (double)(b - a) * 1e-6;
        else
            *events = 0; /* timestamps read 0: the host clock from here on */
        clReleaseEvent(ev);
    }
    return OCLA_SUCCESS;
}

/* The peak kernel `name` of variant v and a 1-D work-group size it runs with: up to 256, within
 * the kernel's and the device's limits (what ocla__launch checks). */
static ocla_status peak_kernel(ocla_context *ctx, const ocla_variant *v, const char *name, cl_kernel *k,
                               size_t *local) {
    const ocla_kernel_entry *e;
    ocla_status st = ocla__variant_entry(ctx, v, name, &e);
    if (st != OCLA_SUCCESS) return st;
    size_t l = 256;
    if (e->wg_size && l > e->wg_size) l = (size_t)e->wg_size;
    if (ctx->info.max_work_item_sizes[0] && l > ctx->info.max_work_item_sizes[0])
        l = (size_t)ctx->info.max_work_item_sizes[0];
    if (ctx->info.max_work_group_size && l > ctx->info.max_work_group_size) l = (size_t)ctx->info.max_work_group_size;
    *k = e->kernel;
    *local = l ? l : 1;
    return OCLA_SUCCESS;
}

/* fp32 mad chains of width VW: the global size grows until a launch takes target_ms, then the
 * median of 7 launches. */
static ocla_status measure_fma(ocla_context *ctx, cl_mem out, size_t max_items, int w, int *events, double *gflops) {
    const double target_ms = ctx->info.is_gpu ? 5.0 : 30.0;
    ocla_variant v = ocla__variant(&ocla_fam_peak);
    v.tile[0] = k_widths[w];
    v.tile[1] = PEAK_ITERS;
    cl_kernel k;
    size_t local;
    ocla_status st = peak_kernel(ctx, &v, "peak_mad", &k, &local);
    if (st != OCLA_SUCCESS) return st;
    if (local > max_items) local = max_items;
    float a = 1.3f;
    if ((st = OCLA_ARG(ctx, k, 0, out)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, k, 1, a)) != OCLA_SUCCESS) return st;
    size_t global = local * (ctx->info.compute_units ? ctx->info.compute_units : 1) * 4;
    if (global > max_items) global = max_items / local * local;
    double ms;
    if ((st = timed_launch(ctx, k, global, local, events, &ms)) != OCLA_SUCCESS) return st; /* warm-up */
    for (int cal = 0; cal < 12 && ms < target_ms; cal++) {
        double f = ms > 0 ? target_ms / ms : 16;
        if (f > 16) f = 16;
        if (f < 1.5) f = 1.5;
        size_t g2 = (size_t)((double)global * f);
        g2 = (g2 + local - 1) / local * local;
        if (g2 > max_items) g2 = max_items / local * local;
        if (g2 <= global) break;
        global = g2;
        if ((st = timed_launch(ctx, k, global, local, events, &ms)) != OCLA_SUCCESS) return st;
    }
    double t[7];
    int n = 0;
    for (int r = 0; r < 7; r++) {
        if ((st = timed_launch(ctx, k, global, local, events, &ms)) != OCLA_SUCCESS) return st;
        if (ms > 0) t[n++] = ms;
    }
    if (!n) return ocla__fail(ctx, OCLA_ERR_OPENCL, "device peak: no launch of peak_mad (width %d) took measurable time",
                              k_widths[w]);
    double flops = (double)global * PEAK_ITERS * 64 * 2 * k_widths[w];
    *gflops = flops / (median(t, n) * 1e-3) * 1e-9;
    return OCLA_SUCCESS;
}

/* float4 copy, one or 16 per work-item (the faster counts), read + write, median of 10. */
static ocla_status measure_copy(ocla_context *ctx, int *events, double *gbs) {
    size_t bytes = ctx->info.is_gpu ? ((size_t)512 << 20) : ((size_t)64 << 20);
    while (bytes > ctx->info.max_alloc_size / 2 && bytes > ((size_t)1 << 20)) bytes /= 2;
    const size_t n4 = bytes / 16 / 4096 * 4096;
    cl_mem a = NULL, b = NULL;
    ocla_status st = ocla__alloc(ctx, n4 * 16, &a, "device peak: copy source");
    if (st == OCLA_SUCCESS) st = ocla__alloc(ctx, n4 * 16, &b, "device peak: copy destination");
    if (st == OCLA_SUCCESS) st = ocla__fill_zero(ctx, a, 0, n4 * 16);
    /* the copy kernels do not read VW or PEAK_ITERS: take them from the program measure_fma built first */
    ocla_variant v = ocla__variant(&ocla_fam_peak);
    v.tile[0] = k_widths[0];
    v.tile[1] = PEAK_ITERS;
    for (int variant = 0; variant < 2 && st == OCLA_SUCCESS; variant++) {
        cl_kernel k;
        size_t local;
        if ((st = peak_kernel(ctx, &v, variant ? "peak_copy4x16" : "peak_copy4", &k, &local)) != OCLA_SUCCESS) break;
        const size_t global = variant ? n4 / 16 : n4;
        if (global % local) continue; /* a work-group limit that does not divide 256 */
        if ((st = OCLA_ARG(ctx, k, 0, a)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, k, 1, b)) != OCLA_SUCCESS) break;
        double ms, t[10];
        int n = 0;
        for (int r = 0; r < 12 && st == OCLA_SUCCESS; r++) { /* 2 warm-up launches, then 10 */
            st = timed_launch(ctx, k, global, local, events, &ms);
            if (st == OCLA_SUCCESS && r >= 2 && ms > 0) t[n++] = ms;
        }
        double g = n ? 2.0 * (double)n4 * 16 / (median(t, n) * 1e-3) * 1e-9 : 0;
        if (g > *gbs) *gbs = g;
    }
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    if (st == OCLA_SUCCESS && *gbs <= 0)
        st = ocla__fail(ctx, OCLA_ERR_OPENCL, "device peak: no copy launch took measurable time");
    return st;
}

ocla_status ocla_device_peak(ocla_context *ctx, ocla_device_peak_result *peak) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_device_peak: ctx is NULL");
    if (!peak) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_device_peak: peak is NULL");
    memset(peak, 0, sizeof *peak);
    OCLA_LOCK(ctx);
    int events = ctx->profiling && ctx->info.profiling_works;
    /* mad output: one float per work-item, up to 2^26 work-items */
    size_t max_items = (size_t)(ctx->info.max_alloc_size / 4);
    if (max_items > ((size_t)1 << 26)) max_items = (size_t)1 << 26;
    cl_mem out = NULL;
    ocla_status st = ocla__alloc(ctx, max_items * 4, &out, "device peak: mad output");
    for (int w = 0; w < 5 && st == OCLA_SUCCESS; w++) {
        st = measure_fma(ctx, out, max_items, w, &events, &peak->fma_gflops_by_width[w]);
        if (peak->fma_gflops_by_width[w] > peak->fma_gflops) peak->fma_gflops = peak->fma_gflops_by_width[w];
    }
    if (out) clReleaseMemObject(out);
    if (st == OCLA_SUCCESS) st = measure_copy(ctx, &events, &peak->copy_gbs);
    peak->timer_events = events;
    OCLA_UNLOCK(ctx);
    return st;
}
