/* SPDX-License-Identifier: MIT */
/* Test and debugging hooks. Not part of the stable API (not installed); tests include it. */
#ifndef OCLA_DEBUG_H
#define OCLA_DEBUG_H
#include "ocla/ocla.h"
#ifdef __cplusplus
extern "C" {
#endif
/* Make the nth next kernel/copy enqueue of this context fail with CL_OUT_OF_RESOURCES (0 = off). */
OCLA_API void ocla_debug_inject_enqueue_failure(ocla_context *ctx, long nth);
/* Pretend the device disappeared: every later enqueue fails with OCLA_ERR_DEVICE_LOST until reset. */
OCLA_API void ocla_debug_simulate_device_lost(ocla_context *ctx, int lost);
/* Build common.cl + the given source text with options (bypasses the embedded sources). */
OCLA_API ocla_status ocla_debug_build_text(ocla_context *ctx, const char *text, const char *options);
/* Build an embedded source with options (e.g. "selftest", "-DOCLA_SELFTEST_BROKEN"). */
OCLA_API ocla_status ocla_debug_build(ocla_context *ctx, const char *source, const char *options);
/* Drop the context's in-memory program cache (the disk cache stays). */
OCLA_API void ocla_debug_drop_memory_cache(ocla_context *ctx);
/* The NVIDIA tensor-core path's capability probe (runtime/attention_nv.c). run != 0: run it now on
 * this context's device, whatever the device, and keep the result; run == 0: mark the path
 * unavailable, as a failed probe does (later plans take the portable kernels). Returns 1 when the
 * path is available afterwards. */
OCLA_API int ocla_debug_nv_probe(ocla_context *ctx, int run);
/* The sm_90a warpgroup products (the single pass's scores, WG): run = 1 probes again and returns
 * whether they work; run = 0 marks them unavailable (the mma.sync kernels plan). */
OCLA_API int ocla_debug_nv_wgmma(ocla_context *ctx, int run);
/* Packed sequences on the NVIDIA path (runtime/attention_nv.c): the state pass walks each sequence in
 * portions of at most `blocks` 64-row blocks of the packed axis for ops prepared after this call
 * (0: the op's own pick), so that tests reach the carries between portions at small sizes. */
OCLA_API void ocla_debug_nv_walk_width(ocla_context *ctx, int blocks);
/* Counters of the context's hot path: a cached kernel lookup must neither hash a source nor
 * allocate, and a prepared op's run must do no lookup, upload or environment read. */
typedef struct ocla_debug_counters {
    uint64_t kernel_lookups; /* variant lookups (a prepared op's run makes none) */
    uint64_t kernel_creates; /* kernels created (lookup misses) */
    uint64_t source_hashes;  /* SHA-256 passes over a whole kernel source (once per source) */
    uint64_t cache_allocs;   /* host allocations by the program and kernel caches */
    uint64_t uploads;        /* host-to-device writes made by ops */
    uint64_t env_reads;      /* environment variables read by the library (process-wide) */
    uint64_t buffers;        /* device buffers the context created (tensors, scratch growth, workspaces) */
} ocla_debug_counters;
OCLA_API void ocla_debug_get_counters(const ocla_context *ctx, ocla_debug_counters *counters);
/* Device bytes the context holds for ops beyond the caller's tensors: every scratch slot and the GEMM
 * temporary buffer (they grow on demand and never shrink; ocla-bench --papers linformer reads it). */
OCLA_API uint64_t ocla_debug_scratch_bytes(const ocla_context *ctx);
#ifdef __cplusplus
}
#endif
#endif
