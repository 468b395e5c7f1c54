/* SPDX-License-Identifier: MIT */
/* The scheduler (runtime/plan.c): a pure function tested on fake devices (16, 32, 48, 64 KiB and
 * 1 MiB of local memory; work-group limits 32/256/1024/4096), on fake AMD, Intel, Apple-like and
 * mobile devices through the vendor parameter table (runtime/plan_params.c), plus plans on the
 * real devices. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "plan.h"
#include "plan_fakes.h"

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
                    ocla_plan_limits L = tp_fake(kib[a], wgs[w], gpu);
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
            ocla_plan_limits L = tp_fake(kib[a], 1024, 1);
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
    ocla_plan_limits L = tp_fake(32, 1024, 1);
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
    ocla_plan_limits tiny = tp_fake(1, 1024, 0);
    cr_assert_eq(ocla_plan_compute(&tiny, &r, &p), OCLA_ERR_UNSUPPORTED);
    cr_assert_eq(ocla_plan_candidates(&tiny, &r, c, 8), 0);
}

/* A kernel work-group limit below the device's (llvmpipe: 32) shrinks the work-group. */
Test(plan, kernel_work_group_limit) {
    for (int op = 0; op < OCLA_OP_COUNT; op++) {
        ocla_plan_limits L = tp_fake(1024, 1024, 0);
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
    ocla_plan_limits L = tp_fake(32, 1024, 0);
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
    ocla_plan_limits L = tp_fake(48, 1024, 1);
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
    ocla_plan_limits L = tp_fake(1024, 1024, 1);
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
            cr_assert(strstr(text, "; table row "), "the parameter table's row: %s", text);
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

/* ---- the vendor parameter table (runtime/plan_params.c) on fake devices of the vendors CI has no
 * machine for: local memory, wave, work-group limit and compute units as those devices report
 * them, the vendor and the device name as the table reads them ---- */
/* Every fake vendor device x op kind x shape the tests use: the plan fits; it names the table row;
 * a softmax block within the row's spill-free limit; work-groups a multiple of the wave (the tiled
 * backward: TPG tiles of TS = 16 items, TS 32 spills on gfx90a and gfx1030, docs/ARCHITECTURE.md --
 * except on the 32 KiB wave-64 device, where the 4 tiles that fill a wave (17.7 KB) would keep one
 * work-group per compute unit, so 3); and at least 2 work-groups per compute unit where the plan
 * uses local memory (the row's want_wgs) -- except softmax on 32 KiB devices, where block 32 (27 KB)
 * keeps one and the model prefers it to block 16 (three), which reads the keys twice as often and
 * needs more registers per item. */
Test(plan, vendor_fakes) {
    for (size_t d = 0; d < tp_n_vendor_fakes; d++) {
        const vendor_fake *f = &tp_vendor_fakes[d];
        const ocla_plan_limits L = tp_vendor_limits(f);
        const ocla__plan_params *row = ocla__plan_params_for(&L);
        cr_assert_str_eq(row->name, f->row, "%s", f->name);
        ocla_plan_request r;
        for (int i = 0; tp_vendor_request(i, &r); i++) {
            const int op = (int)r.op;
            ocla_plan p;
            ocla_status st = ocla_plan_compute(&L, &r, &p);
            if (op == OCLA_OP_SOFTMAX_TILED && r.K > OCLA_SM_MAX_D) continue;
            cr_assert_eq(st, OCLA_SUCCESS, "%s op %d: %s", f->name, op, ocla_last_error(NULL));
            check_plan_fits(&L, &p);
            cr_log_info("%s op %d (%lld,%lld): %s", f->name, op, (long long)r.T, (long long)r.K, p.reason);
            cr_assert(strstr(p.reason, f->row), "%s", p.reason);
            if (op == OCLA_OP_SOFTMAX_TILED) cr_assert_leq(p.chunk, row->sm_block_max, "%s", f->name);
            const int tiled_bwd = op == OCLA_OP_ATTN_BACKWARD && p.tile[2];
            if (tiled_bwd) cr_assert_eq(p.wg_x, 16 * p.tile[4], "%s: TPG tiles of 16 items", f->name);
            if (tiled_bwd && f->local_kib == 32 && f->wave == 64)
                cr_assert_eq(p.tile[4], 3, "%s: %s", f->name, p.reason);
            else
                cr_assert_eq((p.wg_x * p.wg_y) % (int)f->wave, 0, "%s op %d: work-group %dx%d, wave %u",
                             f->name, op, p.wg_x, p.wg_y, f->wave);
            if (op == OCLA_OP_ATTN_BACKWARD)
                cr_assert_eq(p.tile[3] % (int)f->wave, 0, "the item kernels' work-group");
            const int wgs = ocla__plan_wgs_per_cu(&L, row, p.local_bytes);
            if (p.local_bytes && !(op == OCLA_OP_SOFTMAX_TILED && f->local_kib == 32))
                cr_assert_geq(wgs, 2, "%s op %d: %llu B local, %d per compute unit", f->name, op,
                              (unsigned long long)p.local_bytes, wgs);
        }
    }
}

/* The backward's tiles per work-group on devices with less local memory than their table row's
 * compute unit holds (wave 64, Adreno's row: 32 KiB per compute unit, 2 work-groups wanted, so the
 * row alone allows 3 tiles of 4,416 B with vector gates): the device's own limit must cut them
 * further: 8 KiB takes one tile, 12 KiB two (8,848 B), 20 KiB three (13,264 B). Every plan fits. */
Test(plan, backward_tiles_small_local) {
    static const struct {
        uint64_t kib;
        int tpg;
    } cases[] = {{8, 1}, {12, 2}, {20, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocla_plan_limits L = tp_fake(cases[i].kib, 256, 1);
        L.simd_width = 64;
        L.vendor = OCLA_VENDOR_QUALCOMM;
        snprintf(L.arch, sizeof L.arch, "QUALCOMM Adreno(TM) 610");
        ocla_plan_request r = {OCLA_OP_ATTN_BACKWARD, 1, 512, 4, 64, 64, 0, 0, OCLA_GATE_VECTOR, 0};
        ocla_plan p;
        cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        check_plan_fits(&L, &p);
        cr_assert(p.tile[2], "%llu KiB: the tiled path (%s)", (unsigned long long)cases[i].kib, p.reason);
        cr_assert_eq(p.tile[4], cases[i].tpg, "%llu KiB: %s", (unsigned long long)cases[i].kib, p.reason);
        cr_assert_eq(p.wg_x, 16 * cases[i].tpg);
    }
}

/* What the table changes, on the same limits: AMD CDNA at chunk 64 takes the 16-wide key slab
 * (29,952 B, two work-groups per 64 KiB CU) where the default row takes 32 (42,496 B, one), and
 * softmax block 32 where the default row takes 64; a forced block 64 still runs. And Intel Xe-HPC's
 * value block. */
Test(plan, vendor_table_changes) {
    ocla_plan_limits amd = tp_vendor_limits(&tp_vendor_fakes[0]), plain = amd;
    plain.vendor = OCLA_VENDOR_UNKNOWN;
    plain.arch[0] = 0;
    ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 4, 2048, 16, 128, 128, 64, 0, 0, 0};
    ocla_plan a, b;
    cr_assert_eq(ocla_plan_compute(&amd, &r, &a), OCLA_SUCCESS);
    cr_assert_eq(ocla_plan_compute(&plain, &r, &b), OCLA_SUCCESS);
    cr_assert_eq(a.tile[6], 16, "BKA %d", a.tile[6]);
    cr_assert_eq(b.tile[6], 32, "BKA %d", b.tile[6]);
    cr_assert_eq(a.local_bytes, 29952);
    cr_assert_eq(b.local_bytes, 42496);
    cr_assert(strstr(a.reason, "table row amd cdna2/3 (wave 64, 2 work-groups per compute unit)"), "%s", a.reason);
    cr_assert(strstr(b.reason, "table row default"), "%s", b.reason);
    r.op = OCLA_OP_SOFTMAX_TILED, r.chunk = 0;
    cr_assert_eq(ocla_plan_compute(&amd, &r, &a), OCLA_SUCCESS);
    cr_assert_eq(ocla_plan_compute(&plain, &r, &b), OCLA_SUCCESS);
    cr_assert_eq(a.chunk, 32);
    cr_assert_eq(b.chunk, 64);
    r.chunk = 64;
    cr_assert_eq(ocla_plan_compute(&amd, &r, &a), OCLA_SUCCESS);
    cr_assert_eq(a.chunk, 64);
    /* Xe-HPC (pvc) takes linear attention's 64-wide value block with 4 x 4 per item where Xe-HPG (dg2)
     * takes 128 with 8 x 4 (which spills 8 KiB per thread on pvc), each 256 work-items */
    const ocla_plan_limits hpg = tp_vendor_limits(&tp_vendor_fakes[4]), hpc = tp_vendor_limits(&tp_vendor_fakes[5]);
    cr_assert_str_eq(ocla__plan_params_for(&hpc)->name, "intel xe-hpc");
    ocla_plan_request la = {OCLA_OP_LINEAR_CHUNK, 4, 2048, 16, 128, 128, 64, 0, 0, 0};
    cr_assert_eq(ocla_plan_compute(&hpg, &la, &a), OCLA_SUCCESS);
    cr_assert_eq(ocla_plan_compute(&hpc, &la, &b), OCLA_SUCCESS);
    cr_assert(a.tile[3] == 128 && a.tile[4] == 8, "dg2: BV %d TM %d", a.tile[3], a.tile[4]);
    cr_assert(b.tile[3] == 64 && b.tile[4] == 4, "pvc: BV %d TM %d", b.tile[3], b.tile[4]);
}

/* The measured devices keep their plans: an H100 (NVIDIA, 48 KiB per work-group, 132 SMs, the
 * tensor-core path) plans every op and shape exactly as the default row does, and so do the PoCL
 * and llvmpipe rows, but for the linear attention forward: PoCL's row's CPU kernels, llvmpipe's
 * register-block kernels (at chunks up to 64). */
Test(plan, vendor_table_keeps_measured_devices) {
    static const struct {
        ocla_vendor vendor;
        const char *name;
        uint64_t kib, wg;
        int gpu;
    } k[] = {{OCLA_VENDOR_NVIDIA, "NVIDIA H100 80GB HBM3", 48, 1024, 1},
             {OCLA_VENDOR_POCL, "cpu-haswell-AMD EPYC 7B13", 512, 4096, 0},
             {OCLA_VENDOR_MESA, "llvmpipe (LLVM 15.0.6, 256 bits)", 32, 1024, 0}};
    for (size_t d = 0; d < sizeof k / sizeof k[0]; d++)
        for (int op = 0; op < OCLA_OP_COUNT; op++)
            for (int chunk = 0; chunk <= 64; chunk += 64) {
                ocla_plan_limits L = tp_fake(k[d].kib, k[d].wg, k[d].gpu), plain;
                L.vendor = k[d].vendor;
                L.simd_width = 0;
                L.paths = k[d].vendor == OCLA_VENDOR_NVIDIA ? 1u << OCLA_PATH_NVIDIA_MMA : 0;
                snprintf(L.arch, sizeof L.arch, "%s", k[d].name);
                plain = L;
                plain.vendor = OCLA_VENDOR_UNKNOWN;
                ocla_plan_request r = {(ocla_op_kind)op, 4, 2048, 16, 128, 128, chunk, 0, OCLA_GATE_VECTOR, 0};
                ocla_plan a, b;
                const ocla_status sa = ocla_plan_compute(&L, &r, &a), sb = ocla_plan_compute(&plain, &r, &b);
                cr_assert_eq(sa, sb, "%s op %d", k[d].name, op);
                if (sa != OCLA_SUCCESS) continue;
                if (k[d].vendor == OCLA_VENDOR_POCL && op <= OCLA_OP_GLA_CHUNK) { /* its row's CPU kernels */
                    cr_assert_not_null(strstr(a.kernels, "la_cpu_output"), "op %d: %s", op, a.kernels);
                    cr_assert_null(strstr(b.kernels, "la_cpu_"), "op %d: %s", op, b.kernels);
                    continue;
                }
                if (k[d].vendor == OCLA_VENDOR_MESA && op <= OCLA_OP_GLA_CHUNK) { /* its row's block kernels */
                    cr_assert_eq(strstr(a.kernels, "la_blk_output") != NULL, a.chunk <= 64, "op %d: %s", op, a.kernels);
                    cr_assert_null(strstr(b.kernels, "la_blk_"), "op %d: %s", op, b.kernels);
                    continue;
                }
                cr_assert_eq(a.path, b.path);
                cr_assert_eq(a.chunk, b.chunk, "%s op %d", k[d].name, op);
                cr_assert_eq(a.wg_x * a.wg_y, b.wg_x * b.wg_y, "%s op %d", k[d].name, op);
                cr_assert_eq(a.local_bytes, b.local_bytes);
                cr_assert_eq(a.cost, b.cost, "%s op %d", k[d].name, op);
                cr_assert_eq(memcmp(a.tile, b.tile, sizeof a.tile), 0, "%s op %d", k[d].name, op);
                cr_assert_str_eq(a.kernels, b.kernels);
            }
}

/* llvmpipe (Mesa's rusticl) plans the register-block kernels for linear attention and simple GLA
 * and the portable kernels for GLA (the lanes kernels measured slower there);
 * the parameter table's "lanes" row (a device name with "lanes") plans the CPU kernels with one SIMD
 * lane per work-item, LANES = the device's vector bits / 32 (8 at "256 bits", 4 at "128 bits"),
 * where their staging fits its 32 KiB of local memory and their loops its loop limit (plan_la.c):
 * at K = V = 64 chunk 16, not 64 (the portable kernels there); the reason says which. */
Test(plan, llvmpipe_lanes_kernels) {
    static const struct {
        const char *name;
        int lanes;
    } k[] = {{"llvmpipe lanes (LLVM 15.0.6, 256 bits)", 8}, {"llvmpipe lanes (LLVM 15.0.6, 128 bits)", 4}};
    for (size_t d = 0; d < sizeof k / sizeof k[0]; d++)
        for (int i = 0; i < (k[d].lanes == 8 ? 3 : 2); i++) { /* 4 lanes: GLA's walk passes the loop budget */
            ocla_plan_limits L = tp_fake(32, 1024, 0);
            L.vendor = OCLA_VENDOR_MESA;
            L.simd_width = 0;
            snprintf(L.arch, sizeof L.arch, "%s", k[d].name);
            ocla_plan_request r = {k_ops[i], 1, 1024, 2, 64, 64, 16, 0, OCLA_GATE_NONE, 0};
            ocla_plan a;
            ocla_plan_limits plain = L; /* the driver's own name: the portable kernels */
            snprintf(plain.arch, sizeof plain.arch, "llvmpipe (LLVM 15.0.6, 256 bits)");
            cr_assert_eq(ocla_plan_compute(&plain, &r, &a), OCLA_SUCCESS);
            cr_assert_not_null(strstr(a.kernels, "la_blk_output"),
                               "op %d: %s", i, a.kernels);
            cr_assert_eq(ocla_plan_compute(&L, &r, &a), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
            cr_assert_not_null(strstr(a.kernels, "la_cpu_output"), "%s op %d: %s", k[d].name, i, a.kernels);
            cr_assert_eq(a.tile[11], k[d].lanes, "%s op %d: LANES %d", k[d].name, i, a.tile[11]);
            cr_assert_eq((int)a.wg_x, k[d].lanes);
            cr_assert_not_null(strstr(a.reason, "items/work-group (1 SIMD lane each)"), "%s", a.reason);
            r.chunk = 64; /* its staging does not fit 32 KiB: the portable kernels */
            cr_assert_eq(ocla_plan_compute(&L, &r, &a), OCLA_SUCCESS);
            cr_assert_not_null(strstr(a.kernels, "la_chunk_output"), "op %d chunk 64: %s", i, a.kernels);
            r.chunk = 16, r.flags = OCLA_PLAN_PORTABLE; /* OCLA_PORTABLE=1 */
            cr_assert_eq(ocla_plan_compute(&L, &r, &a), OCLA_SUCCESS);
            cr_assert_not_null(strstr(a.kernels, "la_chunk_output"), "op %d portable: %s", i, a.kernels);
        }
}

/* Rows by device name as drivers report it. */
Test(plan, vendor_table_rows) {
    static const struct {
        ocla_vendor vendor;
        int gpu;
        const char *name, *row;
    } k[] = {{OCLA_VENDOR_AMD, 1, "gfx90a:sramecc+:xnack-", "amd cdna2/3"},
             {OCLA_VENDOR_AMD, 1, "gfx1100", "amd rdna"},
             {OCLA_VENDOR_AMD, 1, "AMD Radeon RX 6800 (radeonsi, navi21, LLVM 15.0.7, DRM 3.49)", "amd rdna"},
             {OCLA_VENDOR_AMD, 1, "gfx906:sramecc+:xnack-", "amd"},
             {OCLA_VENDOR_INTEL, 1, "Intel(R) UHD Graphics 770", "intel"},
             {OCLA_VENDOR_INTEL, 0, "Intel(R) Core(TM) i7-12700", "default"},
             {OCLA_VENDOR_NVIDIA, 1, "NVIDIA GeForce RTX 3090", "nvidia"},
             {OCLA_VENDOR_NVIDIA, 1, "NVIDIA H100 80GB HBM3", "nvidia hopper"},
             {OCLA_VENDOR_UNKNOWN, 1, "gfx90a", "default"},
             {OCLA_VENDOR_POCL, 0, NULL, "pocl (CPU)"}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        cr_assert_str_eq(ocla__plan_params_find(k[i].vendor, k[i].gpu, k[i].name)->name, k[i].row, "%s",
                         k[i].name ? k[i].name : "(no name)");
}

/* The CPU drivers' chunk picks at perf/torch_cpu_compare.py's nine (method, shape) cases, as
 * `ocla-bench --pick` measured them within 10 % of the fastest candidate on the 2-core machine
 * (docs/BENCHMARKS.md, "The scheduler's chunk pick on both CPU drivers"): a change of the CPU cost
 * model that moves one of these must be measured again. PoCL (2 compute units, 1 MiB of local
 * memory, the CPU kernels): 32, but 64 for linear attention and simple GLA at D = 128; llvmpipe (8
 * compute units, 32 KiB, a kernel work-group limit of 32): the same (linear attention and simple GLA
 * on its register-block kernels, within 8 % of the fastest chunk by `--pick` on 2026-11-27; GLA on the
 * portable kernels, 32 everywhere). */
/* llvmpipe's block kernels stay within its loop limit (~65535 iterations a work-item): at K = 2048,
 * chunk 64, GLA's output work-item would run ~80000 (its element-wise diagonal block where the
 * gates are strong: 37 K), so the plan does not take them there; linear attention (~8000) does. */
Test(plan, llvmpipe_blk_kernels_within_loop_limit) {
    ocla_plan_limits L = tp_fake(32, 1024, 0);
    L.simd_width = 0, L.vendor = OCLA_VENDOR_MESA, L.compute_units = 8, L.kernel_wg_size = 32;
    snprintf(L.arch, sizeof L.arch, "llvmpipe (LLVM 15.0.6, 256 bits)");
    for (int o = 0; o < 3; o++)
        for (int big = 0; big < 2; big++) {
            const int64_t K = big ? 2048 : 64;
            const ocla_plan_request r = {k_ops[o], 1, 256, 1, K, 64, 64, 0, 0, 0};
            ocla_plan p;
            if (ocla_plan_compute(&L, &r, &p) != OCLA_SUCCESS) continue; /* the portable kernels may not fit either */
            const int want = !(big && k_ops[o] == OCLA_OP_GLA_CHUNK);
            cr_assert_eq(strstr(p.kernels, "la_blk_output") != NULL, want, "op %d K %d: %s", o, (int)K, p.kernels);
        }
}

Test(plan, cpu_drivers_measured_picks) {
    static const int64_t shapes[3][4] = {{1, 2048, 4, 64}, {1, 4096, 4, 128}, {2, 1024, 8, 64}};
    static const ocla_op_kind ops[3] = {OCLA_OP_LINEAR_CHUNK, OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_OP_GLA_CHUNK};
    for (int dev = 0; dev < 2; dev++) {
        ocla_plan_limits L = tp_fake(dev ? 32 : 1024, dev ? 1024 : 4096, 0);
        L.simd_width = 0;
        L.vendor = dev ? OCLA_VENDOR_MESA : OCLA_VENDOR_POCL;
        L.compute_units = dev ? 8 : 2;
        L.kernel_wg_size = dev ? 32 : 0;
        snprintf(L.arch, sizeof L.arch, "%s", dev ? "llvmpipe (LLVM 15.0.6, 256 bits)" : "pthread-skylake-avx512-AMD EPYC");
        for (int s = 0; s < 3; s++)
            for (int o = 0; o < 3; o++) {
                const ocla_plan_request r = {ops[o], shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][3],
                                             0, 0, 0, 0};
                ocla_plan p;
                cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
                const int want = shapes[s][3] == 128 && ops[o] != OCLA_OP_GLA_CHUNK ? 64 : 32;
                cr_assert_eq(p.chunk, want, "%s op %d shape %d: chunk %d (%s)", L.arch, (int)ops[o], s, p.chunk, p.reason);
                cr_assert_eq(strstr(p.kernels, "la_cpu_output") != NULL, !dev, "%s", p.kernels);
                cr_assert_eq(strstr(p.kernels, "la_blk_output") != NULL, dev, "%s", p.kernels);
            }
    }
}

/* The CPU kernels' value slices come from the device's limits and the reason says so: the state
 * walk takes the widest slice that still gives every compute unit two walks (4 heads on 2 units:
 * all 64 columns in one slice; on 16 units: 16-column slices), the outputs one slice where the
 * staging fits the local memory. The reason fits ocla_plan.reason whole, the table row included. */
Test(plan, cpu_kernels_slices_from_limits) {
    static const struct {
        uint32_t cu;
        int sbv;
    } k[] = {{2, 64}, {16, 16}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ocla_plan_limits L = tp_fake(1024, 4096, 0);
        L.simd_width = 0, L.vendor = OCLA_VENDOR_POCL, L.compute_units = k[i].cu;
        snprintf(L.arch, sizeof L.arch, "pthread-skylake-avx512-AMD EPYC");
        const ocla_plan_request r = {OCLA_OP_LINEAR_CHUNK, 1, 2048, 4, 64, 64, 0, 0, 0, 0};
        ocla_plan p;
        cr_assert_eq(ocla_plan_compute(&L, &r, &p), OCLA_SUCCESS);
        cr_assert_eq(p.tile[8], k[i].sbv, "%u units: SBV %d", k[i].cu, (int)p.tile[8]);
        cr_assert_eq(p.tile[3], 64, "BV %d", (int)p.tile[3]);
        char want[160];
        snprintf(want, sizeof want, "CPU kernels for %u compute units: walks %d cols, outputs 64, 1 item/work-group",
                 k[i].cu, k[i].sbv);
        cr_assert_not_null(strstr(p.reason, want), "%s", p.reason);
        cr_assert_lt(strlen(p.reason), sizeof p.reason - 1, "not cut: %s", p.reason);
        cr_assert_not_null(strstr(p.reason, "table row pocl (CPU)"), "%s", p.reason);
    }
}
