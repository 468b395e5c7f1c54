/* SPDX-License-Identifier: MIT */
/* Fake devices for the scheduler's tests (plan_fakes.h). */
#include "plan_fakes.h"

#include <stdio.h>
#include <string.h>

ocla_plan_limits tp_fake(uint64_t local_kib, uint64_t wg, int gpu) {
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

/* gfx942 (CDNA3) and navi31 (RDNA3) stand for their families: the check compiles gfx90a and gfx1100;
 * the UHD Graphics 770 (Xe-LP, the "intel" row) for tgllp, with tests/tools/ocla_variants.c's limits
 * for it (128 KiB of local memory, work-groups of 512) */
const vendor_fake tp_vendor_fakes[] = {
    {"amd cdna2/3", OCLA_VENDOR_AMD, "gfx90a:sramecc+:xnack-", 64, 1024, 64, 104, "gfx90a"},
    {"amd cdna2/3", OCLA_VENDOR_AMD, "gfx942:sramecc+:xnack-", 64, 256, 64, 304, "gfx90a"},
    {"amd rdna", OCLA_VENDOR_AMD, "gfx1030", 64, 1024, 32, 36, "gfx1030"},
    {"amd rdna", OCLA_VENDOR_AMD, "AMD Radeon RX 7900 XTX (radeonsi, navi31, LLVM 17.0.6)", 64, 1024, 32, 96, "gfx1100"},
    {"intel xe-hpg", OCLA_VENDOR_INTEL, "Intel(R) Arc(TM) A770 Graphics", 128, 1024, 16, 512, "dg2"},
    {"intel xe-hpc", OCLA_VENDOR_INTEL, "Intel(R) Data Center GPU Max 1550", 128, 512, 32, 1024, "pvc"},
    {"intel", OCLA_VENDOR_INTEL, "Intel(R) UHD Graphics 770", 128, 512, 16, 96, "tgllp"},
    {"apple", OCLA_VENDOR_APPLE, "Apple M2", 32, 1024, 32, 10, NULL},
    {"arm mali", OCLA_VENDOR_ARM, "Mali-G715", 32, 256, 32, 16, NULL},
    {"qualcomm adreno", OCLA_VENDOR_QUALCOMM, "QUALCOMM Adreno(TM) 740", 32, 256, 64, 6, NULL},
};
const size_t tp_n_vendor_fakes = sizeof tp_vendor_fakes / sizeof tp_vendor_fakes[0];

ocla_plan_limits tp_vendor_limits(const vendor_fake *f) {
    ocla_plan_limits L = tp_fake(f->local_kib, f->wg, 1);
    L.compute_units = f->cus;
    L.simd_width = f->wave;
    L.vendor = f->vendor;
    snprintf(L.arch, sizeof L.arch, "%s", f->name);
    return L;
}

int tp_vendor_request(int i, ocla_plan_request *r) {
    static const int64_t shapes[][5] = {{4, 2048, 16, 128, 128}, {1, 4096, 8, 64, 64}, {1, 100, 1, 64, 64},
                                        {2, 512, 4, 256, 256}};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int op = 0; op < OCLA_OP_COUNT; op++)
        for (int s = 0; s < n_shapes; s++)
            for (int gate = OCLA_GATE_NONE; gate <= OCLA_GATE_FIXED; gate++) {
                if (gate && op != OCLA_OP_ATTN_RECURRENT && op != OCLA_OP_ATTN_BACKWARD) continue;
                if (i-- > 0) continue;
                const int64_t *x = shapes[s];
                const ocla_plan_request q = {(ocla_op_kind)op, x[0], x[1], x[2], x[3], x[4], 0, 0, gate, 0};
                *r = q;
                return 1;
            }
    return 0;
}
