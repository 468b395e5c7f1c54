/* SPDX-License-Identifier: MIT */
/* ocla_variants: every kernel variant (source + build options) the runtime can build, listed without
 * an OpenCL device, for the vendor compile check (.ci/checks/16-vendor-compile.sh).
 *
 * Where the list comes from: the scheduler (ocla_plan_compute) is run for every op kind x every
 * request the ops can make (gate kinds, feature maps, normaliser, causal or not, strided tensors,
 * portable-only, the backward with and without dg, head dims K and V from the set below, a medium
 * and a huge shape) x every chunk of the op's row (each forced, as params.chunk or
 * OCLA_CHUNK may) x the device profiles below; each plan's kernels are mapped to their variants by
 * ocla__plan_kernel_variant (runtime/variant_list.c), which the ops build their kernels through, and
 * the kernels that run without a plan come from ocla__fixed_builds. A new family, tile or kernel in
 * a plan shows up here without editing this file.
 *
 * Output (stdout), one line per distinct (source, options), sorted; four fields separated by tabs:
 *   source     kernels_cl/<source>.cl (compiled after kernels_cl/common.cl)
 *   options    the build options, as the runtime passes them ("-" when none)
 *   kernels    the kernels of it that plans name, comma-separated
 *   compiles   "any" (portable OpenCL C) or "nvidia" (inline PTX: NVIDIA's driver only)
 * This format is stable: scripts read it with `IFS=$'\t' read -r source options kernels compiles`.
 * Summary on stderr. Exit status 1 when a kernels_cl source (other than common.cl) is in no
 * variant, or a plan names a kernel that has no variant.
 *
 * usage: ocla_variants                   the device profiles below
 *        ocla_variants --device SELECTOR [--witness]
 *   --device: one profile, the limits the runtime reads from that device (ocla__plan_limits: its
 *   limits, the probe kernel's work-group limit, its vendor paths); `oclgrind ocla_variants --device
 *   oclgrind` lists what the runtime builds on Oclgrind (.ci/checks/45-oclgrind.sh compares it with
 *   what its kernel sweep built).
 *   --witness: a fifth field, the first request of the walk whose plan builds the variant (the walk
 *   tries the smaller head dims, the medium shape and the fewer flags first), "-" for the kernels
 *   that run without a plan:
 *     op=<ocla_op_kind> gate=<ocla_gate_kind> feature=<ocla_feature_map> flags=<OCLA_PLAN_* bits>
 *     B=<n> T=<n> H=<n> K=<n> V=<n> chunk=<n>
 *   tests/tools/kernel_sweep.c runs it for each variant its own parts did not build.
 *        ocla_variants --profiles PREFIX
 *   only the profiles below whose name starts with PREFIX ("amd", "intel"): what the runtime builds
 *   on that vendor's devices (16-vendor-compile.sh gives each vendor's compilers those). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocla/ocla.h"
#include "plan.h"
#include "variant.h"

#define MAX_VARIANTS 4096
#define GIB (1024ull * 1024 * 1024)

typedef struct profile {
    const char *name;
    ocla_plan_limits L;
} profile;

/* Limits the runtime meets (tests/test_plan.c's fake devices are of these kinds). kernel_wg_size is
 * the probe kernel's limit where it is below the device's (rusticl llvmpipe: 32). */
#define GPU(local_kib, wg, cus, simd, alloc_gib, vend, name) \
    .local_mem_size = (local_kib) * 1024ull, .max_work_group_size = (wg), .max_work_item_size0 = (wg), \
    .compute_units = (cus), .simd_width = (simd), .is_gpu = 1, .max_alloc_size = (alloc_gib) * GIB, \
    .vendor = (vend), .arch = name
#define NV_PATH .paths = 1u << OCLA_PATH_NVIDIA_MMA
/* vendor and name select the scheduler's parameter table row (runtime/plan_params.c) */
static const profile k_profiles[] = {
    {"nvidia-h100", {GPU(48, 1024, 132, 32, 20, OCLA_VENDOR_NVIDIA, "NVIDIA H100 80GB HBM3"), NV_PATH}},
    /* with the sm_90a warpgroup products its probe finds there (the single pass's scores: WG=1) */
    {"nvidia-h100-wgmma", {GPU(48, 1024, 132, 32, 20, OCLA_VENDOR_NVIDIA, "NVIDIA H100 80GB HBM3"),
                           .paths = (1u << OCLA_PATH_NVIDIA_MMA) | (1u << OCLA_PATH_NVIDIA_WGMMA)}},
    {"nvidia-h100-tf32", {GPU(48, 1024, 132, 32, 20, OCLA_VENDOR_NVIDIA, "NVIDIA H100 80GB HBM3"), NV_PATH,
                          .allow_tf32 = 1}},
    {"amd-cdna2", {GPU(64, 1024, 104, 64, 16, OCLA_VENDOR_AMD, "gfx90a:sramecc+:xnack-")}},
    {"amd-cdna3-wg256", {GPU(64, 256, 304, 64, 16, OCLA_VENDOR_AMD, "gfx942")}},
    {"amd-rdna-wave32", {GPU(64, 1024, 48, 32, 16, OCLA_VENDOR_AMD, "gfx1030")}},
    {"intel-xe-hpg", {GPU(64, 1024, 512, 32, 4, OCLA_VENDOR_INTEL, "Intel(R) Arc(TM) A770 Graphics")}},
    {"intel-pvc", {GPU(128, 1024, 448, 16, 32, OCLA_VENDOR_INTEL, "Intel(R) Data Center GPU Max 1550")}},
    {"intel-wg512", {GPU(128, 512, 96, 16, 4, OCLA_VENDOR_INTEL, "Intel(R) UHD Graphics 770")}},
    {"apple-like", {GPU(32, 1024, 10, 32, 8, OCLA_VENDOR_APPLE, "Apple M2")}},
    {"mobile", {GPU(32, 256, 8, 16, 1, OCLA_VENDOR_ARM, "Mali-G710")}},
    {"cpu-pocl", {.local_mem_size = 1024 * 1024, .max_work_group_size = 4096, .max_work_item_size0 = 4096,
                  .compute_units = 2, .simd_width = 8, .max_alloc_size = 4 * GIB, .vendor = OCLA_VENDOR_POCL}},
    {"llvmpipe", {.local_mem_size = 64 * 1024, .max_work_group_size = 1024, .max_work_item_size0 = 1024,
                  .kernel_wg_size = 32, .compute_units = 2, .simd_width = 8, .max_alloc_size = 2 * GIB,
                  .vendor = OCLA_VENDOR_MESA}},
    /* the parameter table's "lanes" row (runtime/plan_params.c): linear_attn_cpu.cl with LC_LANES */
    {"llvmpipe-lanes", {.local_mem_size = 32 * 1024, .max_work_group_size = 1024, .max_work_item_size0 = 1024,
                        .kernel_wg_size = 32, .compute_units = 2, .simd_width = 8, .max_alloc_size = 2 * GIB,
                        .vendor = OCLA_VENDOR_MESA, .arch = "llvmpipe lanes"}},
};
/* The profiles walked: k_profiles, or the one of --device. */
static const profile *g_profiles = k_profiles;
static size_t g_n_profiles = sizeof k_profiles / sizeof k_profiles[0];

/* Head dims: each side of every threshold a rule reads (softmax pads to 32/64/128/256 and takes
 * float4 rows at multiples of 4, the recurrent form's rows per item double at 64/128, the chunked
 * output's value tile widens at V >= 128, the NVIDIA path's float4 rows), which covers the dims the
 * tests and ocla-bench use (1..256). */
static const int k_dims[] = {1, 3, 4, 8, 16, 17, 32, 33, 48, 64, 65, 100, 128, 129, 256};
/* (B, H, T): a medium shape, one with as many rows and heads as the NVIDIA profiles have compute
 * units (walked on those only: the single passes' grids, attn_fused32_nv.cl only there and
 * attn_fused_nv.cl without segments), one whose per-chunk states pass 2^31 floats (the NVIDIA path's 64-bit offsets) while
 * fitting its largest allocation; then T = 1, the decode step (recurrent op
 * only: linear_attn_decode.cl), on a small and a large grid (its key splits; the small one first, so
 * that Oclgrind's sweep runs a variant both build at the small one). */
static const int64_t k_shapes[][3] = {{2, 4, 2048}, {8, 16, 2048}, {1, 16, (int64_t)1 << 20}, {2, 4, 1}, {64, 16, 1}};

typedef struct variant_line {
    char source[32], options[640], kernels[512];
    int nvidia_only;
    int has_witness;
    ocla_plan_request witness; /* the first request whose plan builds it */
} variant_line;

static variant_line g_lines[MAX_VARIANTS];
static int g_n, g_failed;
static long g_plans;

static void add_kernel(variant_line *l, const char *name) {
    const size_t n = strlen(name);
    for (const char *s = l->kernels; *s; s += strcspn(s, ",") + (s[strcspn(s, ",")] == ',')) /* already listed */
        if (strcspn(s, ",") == n && !strncmp(s, name, n)) return;
    const size_t used = strlen(l->kernels);
    snprintf(l->kernels + used, sizeof l->kernels - used, "%s%s", used ? "," : "", name);
}

/* Kernel `kernel` of variant v, built for request r (NULL: a kernel that runs without a plan). */
static void add(const ocla_variant *v, const char *kernel, const ocla_plan_request *r) {
    char opts[640];
    if (ocla__variant_build_options(v, opts, sizeof opts)) {
        fprintf(stderr, "ocla_variants: the options of a %s variant do not fit\n", v->fam->source);
        g_failed = 1;
        return;
    }
    const char *o = opts[0] == ' ' ? opts + 1 : opts;
    if (!*o) o = "-";
    int i = 0;
    while (i < g_n && (strcmp(g_lines[i].source, v->fam->source) || strcmp(g_lines[i].options, o))) i++;
    if (i == g_n) {
        if (g_n == MAX_VARIANTS) {
            fprintf(stderr, "ocla_variants: more than %d variants\n", MAX_VARIANTS);
            exit(1);
        }
        variant_line *l = &g_lines[g_n++];
        snprintf(l->source, sizeof l->source, "%s", v->fam->source);
        snprintf(l->options, sizeof l->options, "%s", o);
        l->kernels[0] = 0;
        const size_t sl = strlen(v->fam->source); /* kernels_cl/<name>_nv.cl: NVIDIA's inline PTX */
        l->nvidia_only = sl > 3 && !strcmp(v->fam->source + sl - 3, "_nv");
        l->has_witness = 0;
    }
    if (r && !g_lines[i].has_witness) g_lines[i].witness = *r, g_lines[i].has_witness = 1;
    add_kernel(&g_lines[i], kernel);
}

/* What a plan's variants depend on (ocla__plan_kernel_variant's inputs); plans seen before are skipped. */
typedef struct plan_key {
    int op, path, chunk, gate, feature, norm, varlen; /* varlen: the NVIDIA path's VARLEN kernels */
    unsigned half; /* the request's half-precision flags (the kernels' element types) */
    int32_t tile[OCLA_PLAN_TILES];
    char kernels[sizeof ((ocla_plan *)0)->kernels];
} plan_key;
#define SEEN_SLOTS (1 << 16)
static plan_key g_seen[SEEN_SLOTS];
static unsigned char g_seen_used[SEEN_SLOTS];
static long g_distinct;

static int seen_before(const ocla_plan *p, const ocla_plan_request *r) {
    plan_key k;
    memset(&k, 0, sizeof k); /* compared with memcmp */
    k.op = p->op, k.path = p->path, k.chunk = p->chunk, k.gate = r->gate, k.feature = r->feature;
    k.norm = (r->flags & OCLA_PLAN_NORMALIZE) != 0;
    k.varlen = (r->flags & OCLA_PLAN_VARLEN) != 0;
    k.half = r->flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16 | OCLA_PLAN_HALF_GATE);
    memcpy(k.tile, p->tile, sizeof k.tile);
    snprintf(k.kernels, sizeof k.kernels, "%s", p->kernels);
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof k; i++) h = (h ^ ((const unsigned char *)&k)[i]) * 1099511628211ull;
    for (size_t i = h % SEEN_SLOTS, n = 0; n < SEEN_SLOTS; i = (i + 1) % SEEN_SLOTS, n++) {
        if (!g_seen_used[i]) {
            g_seen_used[i] = 1, g_seen[i] = k, g_distinct++;
            return 0;
        }
        if (!memcmp(&g_seen[i], &k, sizeof k)) return 1;
    }
    fprintf(stderr, "ocla_variants: more than %d distinct plans\n", SEEN_SLOTS);
    exit(1);
}

/* Every kernel of plan p, each in its variant. */
static void add_plan(const ocla_plan *p, const ocla_plan_request *r) {
    g_plans++;
    if (seen_before(p, r)) return;
    for (const char *s = p->kernels + strspn(p->kernels, ", "); *s; s += strspn(s, ", ")) {
        char name[64];
        const size_t len = strcspn(s, ", ");
        snprintf(name, sizeof name, "%.*s", (int)len, s);
        s += len;
        ocla_variant v;
        if (ocla__plan_kernel_variant(p, r, name, &v)) {
            fprintf(stderr, "ocla_variants: plan \"%s\" names %s, which has no variant\n", p->kernels, name);
            g_failed = 1;
            continue;
        }
        add(&v, name, r);
    }
}

/* r at every chunk of its row (forced), on every profile: each plan that exists. */
static void walk_chunks(ocla_plan_request r, int nv_only) {
    const ocla_plan_row *row = &ocla__plan_rows[r.op];
    for (size_t d = 0; d < g_n_profiles; d++)
        for (int c = 0; c < row->n_chunks && (!nv_only || (g_profiles[d].L.paths & (1u << OCLA_PATH_NVIDIA_MMA))); c++) {
            r.chunk = row->chunks[c];
            ocla_plan p;
            if (ocla_plan_compute(&g_profiles[d].L, &r, &p) == OCLA_SUCCESS) add_plan(&p, &r);
        }
}

/* r with every head dim pair and shape. */
static void walk_shapes(ocla_plan_request r) {
    const int nd = (int)(sizeof k_dims / sizeof k_dims[0]);
    for (size_t s = 0; s < sizeof k_shapes / sizeof k_shapes[0]; s++)
        for (int k = 0; k < nd && (k_shapes[s][2] > 1 || r.op == OCLA_OP_ATTN_RECURRENT); k++)
            for (int v = 0; v < nd; v++) {
                r.B = k_shapes[s][0], r.H = k_shapes[s][1], r.T = k_shapes[s][2], r.K = k_dims[k], r.V = k_dims[v];
                walk_chunks(r, s == 1); /* the many rows and heads: for the NVIDIA profiles only */
            }
}

/* Every request an op makes: the op kinds with the gates each takes, feature maps and flags. */
static void walk_requests(void) {
    static const struct {
        ocla_op_kind op;
        int gates; /* bit per ocla_gate_kind the op takes */
        unsigned flags; /* request flags the op may set */
    } ops[] = {
        {OCLA_OP_LINEAR_CHUNK, 1 << OCLA_GATE_NONE,
         OCLA_PLAN_NORMALIZE | OCLA_PLAN_NONCAUSAL | OCLA_PLAN_STRIDED | OCLA_PLAN_PORTABLE | OCLA_PLAN_VARLEN |
             OCLA_PLAN_BF16 | OCLA_PLAN_F16},
        {OCLA_OP_SIMPLE_GLA_CHUNK, 1 << OCLA_GATE_SCALAR | 1 << OCLA_GATE_FIXED,
         OCLA_PLAN_NORMALIZE | OCLA_PLAN_STRIDED | OCLA_PLAN_PORTABLE | OCLA_PLAN_VARLEN | OCLA_PLAN_BF16 |
             OCLA_PLAN_F16 | OCLA_PLAN_HALF_GATE},
        {OCLA_OP_GLA_CHUNK, 1 << OCLA_GATE_VECTOR,
         OCLA_PLAN_NORMALIZE | OCLA_PLAN_STRIDED | OCLA_PLAN_PORTABLE | OCLA_PLAN_VARLEN | OCLA_PLAN_BF16 |
             OCLA_PLAN_F16 | OCLA_PLAN_HALF_GATE},
        {OCLA_OP_ATTN_RECURRENT, 0xf, OCLA_PLAN_NORMALIZE | OCLA_PLAN_BF16 | OCLA_PLAN_F16 | OCLA_PLAN_HALF_GATE},
        {OCLA_OP_FLASH_CHUNK, 1 << OCLA_GATE_NONE,
         OCLA__PLAN_FLASH_BWD | OCLA__PLAN_FLASH_DBIAS | OCLA_PLAN_BF16 | OCLA_PLAN_F16}, /* and the backward */
        {OCLA_OP_SOFTMAX_TILED, 1 << OCLA_GATE_NONE, OCLA_PLAN_STRIDED | OCLA_PLAN_BF16 | OCLA_PLAN_F16},
        {OCLA_OP_ATTN_BACKWARD, 0xf, OCLA_PLAN_NORMALIZE | OCLA__PLAN_BWD_NO_DG | OCLA_PLAN_BF16 | OCLA_PLAN_F16},
        {OCLA_OP_SOFTMAX_BACKWARD, 1 << OCLA_GATE_NONE, OCLA_PLAN_BF16 | OCLA_PLAN_F16},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        for (int gate = OCLA_GATE_NONE; gate <= OCLA_GATE_FIXED; gate++)
            for (int feature = 0; feature <= 2; feature++)
                for (unsigned flags = 0; flags <= ops[i].flags; flags++) {
                    if (!(ops[i].gates >> gate & 1) || (flags & ~ops[i].flags)) continue;
                    /* one half dtype at a time; its gates' flag only with it (what the ops request) */
                    if ((flags & OCLA_PLAN_BF16) && (flags & OCLA_PLAN_F16)) continue;
                    if ((flags & OCLA_PLAN_HALF_GATE) && !(flags & (OCLA_PLAN_BF16 | OCLA_PLAN_F16))) continue;
                    ocla_plan_request r = {.op = ops[i].op, .flags = flags, .gate = gate, .feature = feature};
                    walk_shapes(r);
                }
}

static int by_source_then_options(const void *a, const void *b) {
    const variant_line *x = a, *y = b;
    const int c = strcmp(x->source, y->source);
    return c ? c : strcmp(x->options, y->options);
}

/* The one profile of the device that selector names: the limits its context plans with. */
static int device_profile(const char *selector, profile *out) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = selector;
    o.cache_mode = OCLA_CACHE_OFF;
    ocla_context *ctx = NULL;
    ocla_status st = ocla_context_create(&o, &ctx);
    if (st == OCLA_SUCCESS) {
        OCLA_LOCK(ctx);
        st = ocla__plan_limits(ctx, &out->L);
        OCLA_UNLOCK(ctx);
    }
    if (st != OCLA_SUCCESS)
        fprintf(stderr, "ocla_variants: the limits of device \"%s\": %s: %s\n", selector, ocla_status_string(st),
                ocla_last_error(ctx));
    else
        out->name = selector;
    ocla_context_destroy(ctx);
    return st == OCLA_SUCCESS ? 0 : -1;
}

int main(int argc, char **argv) {
    static profile device, some[sizeof k_profiles / sizeof k_profiles[0]];
    const int witness = argc == 4 && !strcmp(argv[3], "--witness");
    if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "--device") && (argc == 3 || witness)) {
        if (device_profile(argv[2], &device)) return 1;
        g_profiles = &device, g_n_profiles = 1;
    } else if (argc == 3 && !strcmp(argv[1], "--profiles")) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof k_profiles / sizeof k_profiles[0]; i++)
            if (!strncmp(k_profiles[i].name, argv[2], strlen(argv[2]))) some[n++] = k_profiles[i];
        if (!n) {
            fprintf(stderr, "ocla_variants: no profile's name starts with \"%s\"\n", argv[2]);
            return 2;
        }
        g_profiles = some, g_n_profiles = n;
    } else if (argc != 1) {
        fprintf(stderr, "usage: ocla_variants [--device SELECTOR [--witness] | --profiles PREFIX]\n");
        return 2;
    }
    const int all_profiles = g_profiles == k_profiles;
    walk_requests();
    for (const ocla_fixed_build *f = ocla__fixed_builds; f->fam; f++) {
        const ocla_variant v = ocla__variant(f->fam);
        char names[256];
        snprintf(names, sizeof names, "%s", f->kernels);
        for (char *n = strtok(names, " "); n; n = strtok(NULL, " ")) add(&v, n, NULL);
    }
    /* every source is in some variant of some profile (with --device, only that device's variants are
     * listed: the CPU drivers' kernels, say, are in none of Oclgrind's) */
    for (size_t s = 0; s < ocla_embedded_source_count && all_profiles; s++) {
        const char *name = ocla_embedded_sources[s].name;
        int used = !strcmp(name, "common");
        for (int i = 0; i < g_n && !used; i++) used = !strcmp(g_lines[i].source, name);
        if (!used) {
            fprintf(stderr, "ocla_variants: kernels_cl/%s.cl is in no variant (no plan names its kernels and "
                            "ocla__fixed_builds does not list it)\n", name);
            g_failed = 1;
        }
    }
    qsort(g_lines, (size_t)g_n, sizeof g_lines[0], by_source_then_options);
    int nv = 0;
    for (int i = 0; i < g_n; i++) {
        const variant_line *l = &g_lines[i];
        printf("%s\t%s\t%s\t%s", l->source, l->options, l->kernels, l->nvidia_only ? "nvidia" : "any");
        const ocla_plan_request *r = &l->witness;
        if (witness && l->has_witness)
            printf("\top=%d gate=%d feature=%d flags=%u B=%lld T=%lld H=%lld K=%lld V=%lld chunk=%d", (int)r->op,
                   r->gate, r->feature, r->flags, (long long)r->B, (long long)r->T, (long long)r->H, (long long)r->K,
                   (long long)r->V, r->chunk);
        else if (witness)
            printf("\t-");
        printf("\n");
        nv += g_lines[i].nvidia_only;
    }
    fprintf(stderr, "ocla_variants: %d variants (%d NVIDIA-only) from %ld plans (%ld distinct) on %zu device "
                    "profiles\n", g_n, nv, g_plans, g_distinct, g_n_profiles);
    return g_failed;
}
