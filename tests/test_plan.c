/* SPDX-License-Identifier: MIT */
/* The scheduler (runtime/plan.c): a pure function tested on fake devices (16, 32, 48, 64 KiB and
 * 1 MiB of local memory; work-group limits 32/256/1024/4096), plus plans on the real devices. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "internal.h"

static ocla_plan_limits fake(uint64_t local_kib, uint64_t wg, int gpu) {
    ocla_plan_limits L;
    memset(&L, 0, sizeof L);
    L.local_mem_size = local_kib * 1024;
    L.max_work_group_size = wg;
    L.max_work_item_size0 = wg;
    L.compute_units = gpu ? 132 : 2;
    L.simd_width = gpu ? 32 : 8;
    L.is_gpu = gpu;
    return L;
}

static const ocla_op_kind k_ops[] = {OCLA_OP_LINEAR_CHUNK, OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_OP_GLA_CHUNK,
                                     OCLA_OP_FLASH_CHUNK, OCLA_OP_SOFTMAX_TILED};

static void check_plan_fits(const ocla_plan_limits *L, const ocla_plan *p) {
    uint64_t wg = (uint64_t)p->wg_x * (uint64_t)p->wg_y;
    uint64_t wl = L->max_work_group_size;
    if (L->kernel_wg_size && L->kernel_wg_size < wl) wl = L->kernel_wg_size;
    cr_assert((p->chunk >= 16 && p->chunk <= 256) || (p->op == OCLA_OP_ATTN_RECURRENT && p->chunk == 0));
    cr_assert(strlen(p->kernels) > 0 || p->op == OCLA_OP_FLASH_CHUNK || p->op == OCLA_OP_SOFTMAX_TILED);
    cr_assert(wg >= 1 && wg <= wl, "work-group %llu within %llu", (unsigned long long)wg, (unsigned long long)wl);
    cr_assert_leq(p->local_bytes, L->local_mem_size - L->kernel_local_mem, "local bytes within the device minus the kernel's");
    cr_assert(p->passes >= 1);
    cr_assert(memchr(p->reason, 0, sizeof p->reason) && strlen(p->reason) > 0);
}

/* Every fake device x op x work-group limit: the plan fits, and it is one of the candidates. */
Test(plan, fake_devices_fit) {
    static const uint64_t kib[] = {16, 32, 48, 64, 1024};
    static const uint64_t wgs[] = {32, 256, 1024, 4096};
    for (size_t a = 0; a < 5; a++)
        for (size_t w = 0; w < 4; w++)
            for (int gpu = 0; gpu <= 1; gpu++)
                for (size_t o = 0; o < sizeof k_ops / sizeof k_ops[0]; o++) {
                    ocla_plan_limits L = fake(kib[a], wgs[w], gpu);
                    ocla_plan_request r = {k_ops[o], 4, 2048, 16, 128, 128, 0, 0, 0, 0};
                    ocla_plan p;
                    ocla_status st = ocla_plan_compute(&L, &r, &p);
                    cr_assert_eq(st, OCLA_SUCCESS, "%llu KiB wg %llu op %d: %s", (unsigned long long)kib[a],
                                 (unsigned long long)wgs[w], (int)k_ops[o], ocla_last_error(NULL));
                    check_plan_fits(&L, &p);
                    int c[8], n = ocla_plan_candidates(&L, &r, c, 8), found = 0;
                    for (int i = 0; i < n; i++) found |= c[i] == p.chunk;
                    cr_assert(found, "pick %d is a candidate", p.chunk);
                    if (k_ops[o] == OCLA_OP_GLA_CHUNK) cr_assert_eq(p.sub_chunk, 4);
                }
}

/* Local memory decides which chunk sizes exist: more local memory never removes a candidate,
 * 16 KiB allows only small chunks, 1 MiB allows every chunk (the C x C score block of C=256 is
 * 256 KiB). */
Test(plan, candidates_follow_local_memory) {
    static const uint64_t kib[] = {16, 32, 48, 64, 1024};
    for (int op = 0; op < 3; op++) {
        int prev = 0;
        for (size_t a = 0; a < 5; a++) {
            ocla_plan_limits L = fake(kib[a], 1024, 1);
            ocla_plan_request r = {(ocla_op_kind)op, 1, 4096, 8, 128, 128, 0, 0, 0, 0};
            int c[8];
            int n = ocla_plan_candidates(&L, &r, c, 8);
            cr_log_info("op %d, %llu KiB: %d candidates, largest %d", op, (unsigned long long)kib[a], n, n ? c[n - 1] : 0);
            cr_assert_geq(n, prev, "more local memory, no fewer candidates");
            prev = n;
            if (kib[a] == 16) cr_assert(n >= 1 && c[n - 1] <= 32);
            if (kib[a] == 32) cr_assert(c[n - 1] == 64);
            if (kib[a] == 1024) cr_assert_eq(n, 5);
        }
    }
}

/* The kernel's own local memory is subtracted; a tiny device has no plan (clear status). */
Test(plan, kernel_local_memory_and_nothing_fits) {
    ocla_plan_limits L = fake(32, 1024, 1);
    ocla_plan_request r = {OCLA_OP_GLA_CHUNK, 1, 4096, 8, 128, 128, 0, 0, 0, 0};
    int c[8];
    int n0 = ocla_plan_candidates(&L, &r, c, 8);
    L.kernel_local_mem = 16 * 1024;
    int n1 = ocla_plan_candidates(&L, &r, c, 8);
    cr_assert_lt(n1, n0, "16 KiB taken by the kernel leaves fewer chunk sizes");
    L.kernel_local_mem = 32 * 1024;
    ocla_plan p;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_UNSUPPORTED);
    cr_assert(strstr(ocla_last_error(NULL), "no chunk size fits"), "%s", ocla_last_error(NULL));
    ocla_plan_limits tiny = fake(1, 1024, 0);
    cr_assert_eq(ocla_plan_compute(&tiny, &r, &p), OCLA_ERR_UNSUPPORTED);
    cr_assert_eq(ocla_plan_candidates(&tiny, &r, c, 8), 0);
}

/* A kernel work-group limit below the device's (llvmpipe: 32) shrinks the work-group. */
Test(plan, kernel_work_group_limit) {
    for (int op = 0; op < OCLA_OP_COUNT; op++) {
        ocla_plan_limits L = fake(1024, 1024, 0);
        L.kernel_wg_size = 32;
        ocla_plan_request r = {(ocla_op_kind)op, 1, 4096, 8, 64, 64, 0, 0, 0, 0};
        int c[8], n = ocla_plan_candidates(&L, &r, c, 8);
        cr_assert_gt(n, 0);
        for (int i = 0; i < n; i++) {
            r.chunk = c[i];
            ocla_plan p;
            cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
            cr_assert_leq(p.wg_x * p.wg_y, 32);
            check_plan_fits(&L, &p);
        }
    }
}

/* Forced chunk: honoured when it fits; not a chunk size -> INVALID_ARGUMENT; too big -> UNSUPPORTED. */
Test(plan, forced_chunk) {
    ocla_plan_limits L = fake(32, 1024, 0);
    ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 4096, 8, 64, 64, 32, 0, 0, 0};
    ocla_plan p;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS);
    cr_assert_eq(p.chunk, 32);
    cr_assert(strstr(p.reason, "forced"));
    r.chunk = 48;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_INVALID_ARGUMENT);
    r.chunk = 256;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_UNSUPPORTED);
    cr_assert(strstr(ocla_last_error(NULL), "does not fit"), "%s", ocla_last_error(NULL));
}

Test(plan, bad_requests) {
    ocla_plan_limits L = fake(48, 1024, 1);
    ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 4096, 8, 64, 64, 0, 0, 0, 0};
    ocla_plan p;
    cr_assert_neq(ocla_plan_compute(NULL, &r, &p), OCLA_SUCCESS);
    cr_assert_neq(ocla_plan_compute(&L, NULL, &p), OCLA_SUCCESS);
    cr_assert_neq(ocla_plan_compute(&L, &r, NULL), OCLA_SUCCESS);
    r.K = 0;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_INVALID_ARGUMENT);
    r.K = 64, r.op = (ocla_op_kind)99;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_plan_candidates(&L, &r, NULL, 8), 0);
}

/* The cost model: on a GPU with room for every chunk the standard shape does not pick the extremes
 * (16: state traffic; 256: quadratic intra-chunk work); picks are deterministic. */
Test(plan, cost_model_shape) {
    ocla_plan_limits L = fake(1024, 1024, 1);
    ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 4, 2048, 16, 128, 128, 0, 0, 0, 0};
    ocla_plan p, p2;
    cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS);
    cr_assert(p.chunk > 16 && p.chunk < 256, "picked %d", p.chunk);
    cr_assert_eq(ocla_plan_compute(&L, &r, &p2), OCLA_SUCCESS);
    cr_assert_eq(p.chunk, p2.chunk);
    r.op = OCLA_OP_GLA_CHUNK; /* GLA's intra-chunk part costs more: never a larger chunk than linear */
    cr_assert_eq(ocla_plan_compute(&L, &r, &p2), OCLA_SUCCESS);
    cr_assert_leq(p2.chunk, p.chunk);
}

/* Real devices: explain works with a context, the plan fits the device, OCLA_CHUNK-free contexts
 * choose by cost, and an explicit chunk in the request is honoured when it fits. */
Test(plan, real_devices_explain) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        for (size_t o = 0; o < sizeof k_ops / sizeof k_ops[0]; o++) {
            ocla_plan_request r = {k_ops[o], 4, 2048, 16, 128, 128, 0, 0, 0, 0};
            ocla_plan p;
            char text[512];
            tc_ok(ctx, ocla_plan_explain(ctx, &r, &p, text, sizeof text));
            cr_log_info("%s op %d: %s", tc_device_name(d), (int)k_ops[o], text);
            cr_assert(strstr(text, "chunk"), "%s", text);
            cr_assert_leq(p.local_bytes, info.local_mem_size);
            cr_assert_leq((uint64_t)p.wg_x * p.wg_y, info.max_work_group_size);
            tc_ok(ctx, ocla_plan_explain(ctx, &r, NULL, NULL, 0));
        }
        ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 100, 1, 64, 64, 32, 0, 0, 0};
        ocla_plan p;
        tc_ok(ctx, ocla_plan_explain(ctx, &r, &p, NULL, 0));
        cr_assert_eq(p.chunk, 32);
        r.chunk = 48;
        cr_assert_eq(ocla_plan_explain(ctx, &r, &p, NULL, 0), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert(strlen(ocla_last_error(ctx)) > 0);
        cr_assert_eq(ocla_plan_explain(NULL, &r, &p, NULL, 0), OCLA_ERR_INVALID_ARGUMENT);
        ocla_context_destroy(ctx);
    }
}
