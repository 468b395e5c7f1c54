/* SPDX-License-Identifier: MIT */
/* The --papers modes' own points (perf/paper_lt.c, perf/paper_linformer.c): inputs and timing, by the
 * protocol of the sweep (bench.c's time_op): two untimed warm-up calls, then the median device time of
 * runs calls (ocla_profile_begin/end: events summed over every kernel; the host clock where the
 * driver's events read 0). A warm-up call over the budget skips the point; the first call, which may
 * build kernels, counts only once its row has a measured point (warm). The host clock around each
 * timed call checks the events (bench_events_suspect). Public API only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_events_suspect(ocla_context *ctx, double dev_ms, double host_ms, int kernels, char *why, size_t why_size) {
    ocla_device_info info;
    if (ocla_context_device_info(ctx, &info) != OCLA_SUCCESS || !info.is_gpu) return 0;
    if (!(dev_ms > 0) || !(host_ms > 4 * dev_ms) || host_ms - dev_ms <= 1.0 + 0.1 * kernels) return 0;
    snprintf(why, why_size, "suspect: device %.3g ms a call, host %.3g ms (events missed work?)", dev_ms, host_ms);
    return 1;
}

int paper_time(ocla_context *ctx, ocla_status (*fn)(ocla_context *ctx, void *arg), void *arg, int runs,
               double budget_ms, int warm, double *med, double *mn, char *why, size_t why_size) {
    for (int w = 0; w < 2; w++) {
        const double t0 = bench_now();
        ocla_status st = fn(ctx, arg);
        if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
        if (st != OCLA_SUCCESS) {
            snprintf(why, why_size, "%s", ocla_status_string(st));
            return -1;
        }
        const double call_ms = (bench_now() - t0) * 1e3;
        if (budget_ms > 0 && (w || warm) && call_ms > budget_ms) {
            snprintf(why, why_size, "skipped: %.0f ms a call, over the budget of %.0f ms", call_ms, budget_ms);
            return -1;
        }
    }
    double *t = malloc(sizeof(double) * (size_t)runs);
    if (!t) {
        snprintf(why, why_size, "out of host memory");
        return -1;
    }
    double *host = malloc(sizeof(double) * (size_t)runs);
    if (!host) {
        free(t);
        snprintf(why, why_size, "out of host memory");
        return -1;
    }
    int kernels = 0;
    for (int r = 0; r < runs; r++) {
        double ms = 0;
        int nk = 0;
        const double t0 = bench_now();
        ocla_profile_begin(ctx);
        ocla_status st = fn(ctx, arg);
        ocla_profile_end(ctx, &ms, &nk);
        host[r] = (bench_now() - t0) * 1e3;
        if (st != OCLA_SUCCESS) {
            snprintf(why, why_size, "%s", ocla_status_string(st));
            free(t);
            free(host);
            return -1;
        }
        t[r] = ms;
        if (nk > kernels) kernels = nk;
    }
    *med = bench_median(t, runs); /* sorts t */
    *mn = t[0];
    const int suspect = bench_events_suspect(ctx, *med, bench_median(host, runs), kernels, why, why_size);
    free(t);
    free(host);
    return suspect;
}

ocla_status paper_tensor(ocla_context *ctx, int ndim, const int64_t *dims, float scale, ocla_tensor **out) {
    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, ndim, dims, out);
    if (st != OCLA_SUCCESS) return st;
    const size_t n = (size_t)ocla_tensor_numel(*out);
    float *h = malloc(n * sizeof *h);
    if (!h) st = OCLA_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; h && i < n; i++) { /* a hash of the index: the same values every run */
        uint32_t x = (uint32_t)i * 2654435761u + 0x7F4A7C15u;
        x ^= x >> 15, x *= 0x2C1B3C6Du, x ^= x >> 12;
        h[i] = scale * ((float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
    if (h) st = ocla_tensor_upload(ctx, *out, h, n * sizeof *h);
    free(h);
    if (st != OCLA_SUCCESS) {
        ocla_tensor_destroy(*out);
        *out = NULL;
    }
    return st;
}
