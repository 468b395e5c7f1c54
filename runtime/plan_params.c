/* SPDX-License-Identifier: MIT */
/* The scheduler's vendor parameter table: per vendor, then per architecture (found in the device
 * name), what the OpenCL limits do not say: the wave width, the register budget, the local memory
 * a compute unit shares among its work-groups, how many work-groups per compute unit the tiles keep
 * and the largest softmax block that does not spill. The default row keeps the plans the scheduler
 * made before the table (H100, PoCL, llvmpipe: docs/BENCHMARKS.md). How the rules use each column:
 * docs/ARCHITECTURE.md, "Scheduler".
 *
 * Where the numbers come from. Registers and spills: kernels_cl/softmax.cl's sm_tiled at the tiles
 * the scheduler picks (D = 64, 128, 256), compiled offline with clang 15 for amdgcn at -O3 with
 * Debian's rocm-device-libs (-Rpass-analysis=kernel-resource-usage), and with Intel's ocloc
 * (22.43) for dg2 and tgllp (per-thread scratch of the binary's MEDIA_VFE_STATE); the numbers are
 * in each row's comment. Local memory per compute unit,
 * wave widths and register files: the vendors' architecture documents (AMD CDNA2/RDNA ISA
 * manuals, NVIDIA's Hopper tuning guide, Intel's oneAPI GPU optimisation guide). Where a vendor
 * does not publish them (Apple, ARM, Qualcomm) the row assumes one work-group's local memory
 * (the 32 KiB they report) per compute unit, the lower bound. */
#include <ctype.h>
#include <string.h>

#include "plan.h"

#define KIB 1024u

/* name, vendor, gpu, arch, wave, regs, local per CU, work-groups per CU wanted, softmax block max,
 * CPU kernels (kernels_cl/linear_attn_cpu.cl: 0 none, else their work-items per work-group),
 * block kernels (kernels_cl/linear_attn_blk.cl for linear attention, simple GLA and GLA: 1),
 * the linear-attention output kernel's value block at most (0: no limit) */
static const ocla__plan_params k_rows[] = {
    /* The default row: unknown devices and the CPUs plan as before the table. sm_tiled block 64
     * was measured on the H100: 255 registers, no spill, 30 TFLOP/s at D = 128 (docs/KERNELS.md). */
    {"default", OCLA_VENDOR_UNKNOWN, -1, NULL, 0, 0, 0, 0, 64, 0, 0, 0},
    /* PoCL: the CPU-shaped linear attention kernels (one work-item per work-group, no barriers):
     * 2-4x faster than the portable ones on its CPUs (docs/BENCHMARKS.md, "CPU drivers"). llvmpipe
     * vectorises across the work-items of a work-group (one SIMD lane each; "256 bits" in its
     * device name: 8 floats); the same kernels built for that (8 work-items per work-group, one
     * column of each register block per lane: LC_LANES) measured 1.3-2.4x SLOWER than the
     * portable kernels on rusticl 22.3 (docs/BENCHMARKS.md, "rusticl/llvmpipe: the lanes
     * kernels"), so llvmpipe does not plan them. The "lanes" row plans them for a device
     * whose name says "lanes" (no driver does: the tests and kernel_sweep name their context so,
     * to check and time them). llvmpipe's own row plans linear_attn_blk.cl (one 8 x 8 block per
     * work-item) for linear attention, simple GLA and GLA: on the quiet 2-core machine 4.7-8.4x the
     * portable kernels' speed, 6.8-12.5 % of its measured peak for linear attention and simple GLA,
     * 4.9-6.7x and 5.2-6.0 % for GLA (docs/BENCHMARKS.md, "rusticl/llvmpipe: GLA on the
     * register-block kernels"). */
    {"pocl (CPU)", OCLA_VENDOR_POCL, -1, NULL, 0, 0, 0, 0, 64, 1, 0, 0},
    {"llvmpipe (CPU)", OCLA_VENDOR_MESA, -1, NULL, 0, 0, 0, 0, 64, 0, 1, 0},
    {"llvmpipe lanes (CPU)", OCLA_VENDOR_MESA, 0, "lanes", 0, 0, 0, 0, 64, 8, 0, 0},
    /* NVIDIA: warps of 32, 255 registers per thread. The shared memory per SM depends on the
     * generation (64-228 KiB), so the vendor row does not count occupancy; Hopper and Ampere do. */
    {"nvidia", OCLA_VENDOR_NVIDIA, 1, NULL, 32, 255, 0, 2, 64, 0, 0, 0},
    {"nvidia hopper", OCLA_VENDOR_NVIDIA, 1, "H100|H200|H800|GH200", 32, 255, 228 * KIB, 2, 64, 0, 0, 0},
    {"nvidia ampere", OCLA_VENDOR_NVIDIA, 1, "A100|A800|A30", 32, 255, 164 * KIB, 2, 64, 0, 0, 0},
    /* AMD CDNA2/3 (gfx90a, gfx94x): wave64, 512 registers per lane (256 VGPR + 256 AGPR), 64 KiB
     * LDS per CU. sm_tiled, VGPR + AGPR (waves per SIMD) at D = 64 / 128 / 256: block 16 222 / 263
     * (2 / 1), block 32 204 / 218 / 252 (2 / 2 / 2), block 64 309 / 344 / 246 (1 / 1 / 2): block 64
     * moves registers to AGPRs and runs one wave per SIMD, so block 32. */
    {"amd cdna2/3", OCLA_VENDOR_AMD, 1, "gfx90a|gfx94|gfx95", 64, 512, 64 * KIB, 2, 32, 0, 0, 0},
    /* AMD RDNA (gfx10-12, "navi" under Mesa): wave32, 256 VGPRs per lane, 64 KiB LDS per CU (a
     * work-group processor pairs two CUs with 128 KiB; counted per CU, the lower bound). gfx1030
     * sm_tiled at D = 64 / 128 / 256: block 32 160 / 185 / 217 VGPRs, block 64 229 / 247 / 210, no
     * spill (4-6 waves per SIMD). */
    {"amd rdna", OCLA_VENDOR_AMD, 1, "gfx10|gfx11|gfx12|navi", 32, 256, 64 * KIB, 2, 64, 0, 0, 0},
    /* Other AMD GPUs (GCN, CDNA1): wave64, 256 VGPRs, 64 KiB LDS per CU; without CDNA2's AGPRs the
     * block-64 tiles spill to memory, so block 32 as on CDNA2. */
    {"amd", OCLA_VENDOR_AMD, 1, NULL, 64, 256, 64 * KIB, 2, 32, 0, 0, 0},
    /* Intel Xe (IGC picks SIMD 8/16/32; 16 is its usual compute width): 128 GRF of 32 bytes per
     * thread (64 registers per lane at SIMD16). Local memory per subslice / Xe-core: 64 KiB (Gen9,
     * Xe-LP), 128 KiB (Xe-HPG dg2 / Arc, Xe-HPC Max). sm_tiled (ocloc; every block compiles SIMD8),
     * scratch per hardware thread at D = 128: dg2 block 16 / 32 none, block 64 1 KiB; tgllp block
     * 16 8 KiB, 32 4 KiB, 64 8 KiB (D = 64: dg2 none; tgllp 4 / 8 KiB at 32 / 64): block 32. */
    {"intel xe-hpg", OCLA_VENDOR_INTEL, 1, "Arc|Flex|dg2", 16, 64, 128 * KIB, 2, 32, 0, 0, 0},
    /* Xe-HPC (pvc, Data Center GPU Max): as Xe-HPG, but IGC compiles its kernels SIMD32 in the 128-GRF
     * mode, and la_chunk_output at chunk 64 with per-item block TM 8 for a 128-wide value block
     * spills 8 KiB of scratch per hardware thread where BV 64 (TM 4, the same 256 work-items) spills
     * none (linear attention and simple GLA; GLA's per-key gates 1 KiB): BV at most 64 (docs/data/vendor-compile-
     * 2026-11-27-full.tsv). Nearly every other tiled kernel spills on pvc at every tile there. */
    {"intel xe-hpc", OCLA_VENDOR_INTEL, 1, "Max 1|pvc", 16, 64, 128 * KIB, 2, 32, 0, 0, 64},
    {"intel", OCLA_VENDOR_INTEL, 1, NULL, 16, 64, 64 * KIB, 2, 32, 0, 0, 0},
    /* Apple, ARM Mali (Valhall warps of 16), Qualcomm Adreno (waves of 64): 32 KiB of local memory
     * reported, 64-128 registers per lane: no sm_tiled block is spill-free there; block 32 needs the
     * fewest registers (AMD numbers above). */
    {"apple", OCLA_VENDOR_APPLE, 1, NULL, 32, 128, 32 * KIB, 2, 32, 0, 0, 0},
    {"arm mali", OCLA_VENDOR_ARM, 1, NULL, 16, 64, 32 * KIB, 2, 32, 0, 0, 0},
    {"qualcomm adreno", OCLA_VENDOR_QUALCOMM, 1, NULL, 64, 0, 32 * KIB, 2, 32, 0, 0, 0},
};

/* Does name contain one of the "|"-separated words of list (any case)? */
static int name_has(const char *name, const char *list) {
    const size_t len = strlen(name);
    for (const char *w = list; *w; w += *w == '|') {
        const size_t n = strcspn(w, "|");
        for (const char *h = name; h + n <= name + len; h++) {
            size_t i = 0;
            while (i < n && tolower((unsigned char)h[i]) == tolower((unsigned char)w[i])) i++;
            if (i == n) return 1;
        }
        w += n;
    }
    return 0;
}

const ocla__plan_params *ocla__plan_params_find(ocla_vendor vendor, int is_gpu, const char *name) {
    const ocla__plan_params *best = &k_rows[0];
    int best_score = 0;
    for (size_t i = 1; i < sizeof k_rows / sizeof k_rows[0]; i++) {
        const ocla__plan_params *r = &k_rows[i];
        if (r->vendor != vendor || (r->gpu >= 0 && r->gpu != (is_gpu != 0))) continue;
        const int score = r->arch ? (name && name_has(name, r->arch) ? 2 : 0) : 1;
        if (score > best_score) best = r, best_score = score;
    }
    return best;
}

const ocla__plan_params *ocla__plan_params_for(const ocla_plan_limits *L) {
    char arch[sizeof L->arch + 1]; /* the caller's arch need not end in a 0 */
    memcpy(arch, L->arch, sizeof L->arch);
    arch[sizeof L->arch] = 0;
    return ocla__plan_params_find(L->vendor, L->is_gpu, arch);
}

uint32_t ocla__plan_wave(const ocla_plan_limits *L, const ocla__plan_params *P) {
    return L->simd_width ? L->simd_width : P->wave;
}

int ocla__plan_wgs_per_cu(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t local_bytes) {
    uint64_t per_cu = P->local_per_cu;
    if (!per_cu || !local_bytes) return 0;
    if (per_cu < L->local_mem_size) per_cu = L->local_mem_size; /* a compute unit holds one of the largest */
    const uint64_t n = per_cu / local_bytes;
    return n > 64 ? 64 : (int)n;
}

/* The model (an assumption, not a measurement: no such device here): a compute unit that holds
 * fewer work-groups than the row wants idles while its groups wait at barriers or on memory, which
 * a second group would overlap; one group where two are wanted costs 1.5x. */
double ocla__plan_occupancy_penalty(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t local_bytes) {
    const int want = P->want_wgs, have = ocla__plan_wgs_per_cu(L, P, local_bytes);
    return have && have < want ? 1.0 + (double)(want - have) / want : 1.0;
}

/* Lanes a work-group of `items` leaves idle in its last wave cost as if they worked. */
double ocla__plan_wave_penalty(const ocla_plan_limits *L, const ocla__plan_params *P, uint64_t items) {
    const uint64_t wave = ocla__plan_wave(L, P);
    if (!wave || !items || items % wave == 0) return 1.0;
    return (double)((items + wave - 1) / wave * wave) / (double)items;
}
