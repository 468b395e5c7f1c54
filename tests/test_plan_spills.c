/* SPDX-License-Identifier: MIT */
/* The fake AMD and Intel devices' plans (plan_fakes.h, tests/test_plan.c's vendor_fakes) against what
 * the vendors' compilers made of their kernels: each kernel of each plan, mapped to its variant by
 * ocla__plan_kernel_variant (what the ops build through), is looked up in the data file docs/KERNELS.md's
 * vendor table was made from (docs/data/vendor-compile-*.tsv, written by .ci/checks/16-vendor-compile.sh).
 * A variant missing there fails (the table is stale: regenerate it as the check says); so does one that
 * spills on the device's target -- AMD: VGPR+SGPR spills, Intel: scratch per hardware thread (IGC's
 * spills) -- unless the allow-list below names it with its reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "internal.h"
#include "plan.h"
#include "plan_fakes.h"
#include "variant.h"

/* Spills a plan may pick, each with why: a kernel on a target, in the variants whose options contain
 * options_has (NULL: every variant). An entry that excuses nothing fails too (remove it). */
typedef struct spill_allowed {
    const char *target, *source, *kernel, *options_has, *why;
} spill_allowed;

/* The counts are of docs/data/vendor-compile-2026-11-27c-full.tsv (2026-11-29-full.tsv and
 * 2026-11-29b-full.tsv have the same numbers; fp32 variants, as these plans are; AMD:
 * VGPR+SGPR spills with scratch, Intel: scratch bytes per hardware thread, which on tgllp and pvc hold the private arrays
 * IGC does not keep in registers as well as its spills: most tgllp entries are such arrays, by
 * docs/data/vendor-spill-options-2026-11-27.txt). "No tile" means no variant of the kernel the plans can
 * build for that request kind compiles without spilling on that target. */
static const spill_allowed k_allowed[] = {
    /* the recurrent form: every variant spills on pvc; it has no other tile (on AMD its spills are
     * SGPRs into VGPR lanes, no scratch) */
    {"pvc", "linear_attn_rec", "la_recurrent", NULL, "all 27 variants spill (1-4 KiB): no tile"},
    /* gfx90a */
    {"gfx90a", "attn_bwd", "bwd_dqk_tiled", "-DUSE_GK=1", "per-key gates: TPG 1, 2 and 4 all spill (4-70) at TS 16, the one tile size"},
    /* gfx1030 */
    {"gfx1030", "attn_bwd", "bwd_A_tiled", "-DUSE_GK=1", "per-key gates: all 18 variants spill (76-90) at TS 16, the one tile size"},
    /* gfx1100 (compiled without clang 15's 128-VGPR cap, as LLVM 16 and later compile it: .ci/checks/16-vendor-compile.sh) */
    {"gfx1100", "attn_bwd", "bwd_A_tiled", "-DUSE_GK=1", "per-key gates: all 18 variants spill (76-90) at TS 16, the one tile size"},
    /* dg2 */
    {"dg2", "attn_bwd", "bwd_dqk_tiled", "-DUSE_GK=1", "per-key gates: 1 KiB in all 6 TPG 1 variants (it kept 320 B private "
                                                       "per item before the guarded tile loops); at TPG 2 it is clean but "
                                                       "bwd_dv_tiled spills 1 KiB in all 6: no TPG without a spill"},
    /* tgllp (Xe-LP: the "intel" row's UHD Graphics 770) */
    {"tgllp", "attn_bwd", "bwd_dqk_tiled", "-DUSE_GK=1", "per-key gates: TPG 1 1 KiB, TPG 2 8 KiB, no TPG without a spill "
                                                        "(the other gate kinds at the plans' TPG 1: none; at TPG 2 10 of 18 "
                                                        "spill 1 KiB)"},
    {"tgllp", "softmax", "sm_tiled", NULL, "all 104 variants spill 4-16 KiB: no block"},
    {"tgllp", "softmax_bwd", "smb_dkv", NULL, "every fp32 variant at D 128 and 256 spills 8 KiB: no tile"},
    {"tgllp", "softmax_bwd", "smb_dq", NULL, "every fp32 variant at D 128 and 256 spills 8 KiB: no tile"},
    /* pvc: IGC compiles SIMD32 in the 128-GRF mode (the binaries' header) */
    {"pvc", "attn_bwd", "bwd_A_tiled", NULL, "all 48 variants spill 2 KiB: no tile"},
    {"pvc", "attn_bwd", "bwd_dA_tiled", NULL, "all 48 variants spill 2 KiB: no tile"},
    {"pvc", "attn_bwd", "bwd_chunk_kv", NULL, "31 of 48 variants spill 1-2 KiB, the plans' picks among them"},
    {"pvc", "attn_bwd", "bwd_chunk_qdo", NULL, "38 of 48 variants spill 1-2 KiB, the plans' picks among them"},
    {"pvc", "attn_bwd", "bwd_dqk_tiled", NULL, "all 48 variants spill 8-16 KiB: no tile"},
    {"pvc", "attn_bwd", "bwd_dv_tiled", NULL, "all 48 variants spill 4 KiB: no tile"},
    {"pvc", "linear_attn", "la_chunk_states", NULL, "all 92 variants spill 4 KiB: no tile"},
    {"pvc", "linear_attn", "la_chunk_output", "-DUSE_GK=1", "per-key gates: 6 of 8 fp32 variants spill, at chunk 64 the row's BV 64 "
                                                             "1 KiB (BV 128: 8 KiB): no tile at that chunk"},
    {"pvc", "softmax", "sm_tiled", NULL, "all 104 variants spill 16-64 KiB: no block"},
    {"pvc", "softmax_bwd", "smb_dkv", NULL, "all 72 variants spill 8 KiB: no tile"},
    {"pvc", "softmax_bwd", "smb_dq", NULL, "all 72 variants spill 8 KiB: no tile"},
    {"pvc", "softmax_bwd", "smb_stats", NULL, "every fp32 variant at D 128 and 256 spills 1-2 KiB (18 of 24 in all): no tile"},
};

typedef struct data_row {
    char *source, *options, *kernel;
    char *cell[6];
} data_row;

static const char *const k_targets[6] = {"gfx90a", "gfx1030", "gfx1100", "dg2", "tgllp", "pvc"};

typedef struct data_file {
    char path[512];
    data_row *rows;
    int n;
} data_file;

static char *dup_str(const char *s) {
    const size_t n = strlen(s) + 1;
    char *c = malloc(n);
    cr_assert(c);
    return memcpy(c, s, n);
}

/* The data file docs/KERNELS.md's table names ("Made by `tests/tools/vendor_table.py docs/data/...tsv"),
 * read whole. 0 when the source tree is not on this machine. */
static int load(data_file *d) {
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/docs/KERNELS.md", OCLA_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static const char made[] = "Made by `tests/tools/vendor_table.py ";
    d->path[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, made, sizeof made - 1)) {
            const char *s = line + sizeof made - 1;
            snprintf(d->path, sizeof d->path, "%s/%.*s", OCLA_SOURCE_DIR, (int)strcspn(s, " `"), s);
            break;
        }
    fclose(f);
    cr_assert(d->path[0], "docs/KERNELS.md names no data file of its vendor table");
    f = fopen(d->path, "r");
    cr_assert(f, "%s: not found", d->path);
    int cap = 0, header = 0;
    d->rows = NULL, d->n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) continue;
        /* source, options, kernel, six targets' cells, and (since inputs are recorded) the input */
        char *field[10];
        int nf = 0;
        for (char *s = line; nf < 10; s = strchr(s, '\t') + 1) {
            field[nf++] = s;
            if (!strchr(s, '\t')) break;
        }
        for (int i = 1; i < nf; i++) field[i][-1] = 0;
        cr_assert(nf == 9 || nf == 10, "%s: a row of %d fields", d->path, nf);
        if (!header++) {
            for (int t = 0; t < 6; t++) cr_assert_str_eq(field[3 + t], k_targets[t], "%s: the header", d->path);
            continue;
        }
        if (d->n == cap) d->rows = realloc(d->rows, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof *d->rows);
        cr_assert(d->rows);
        data_row *r = &d->rows[d->n++];
        r->source = dup_str(field[0]), r->options = dup_str(field[1]), r->kernel = dup_str(field[2]);
        for (int t = 0; t < 6; t++) r->cell[t] = dup_str(field[3 + t]);
    }
    fclose(f);
    cr_assert_gt(d->n, 100, "%s: %d rows", d->path, d->n);
    return 1;
}

static void unload(data_file *d) {
    for (int i = 0; i < d->n; i++) {
        free(d->rows[i].source), free(d->rows[i].options), free(d->rows[i].kernel);
        for (int t = 0; t < 6; t++) free(d->rows[i].cell[t]);
    }
    free(d->rows);
}

static const data_row *find(const data_file *d, const char *source, const char *options, const char *kernel) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->rows[i].kernel, kernel) && !strcmp(d->rows[i].options, options) &&
            !strcmp(d->rows[i].source, source))
            return &d->rows[i];
    return NULL;
}

/* Does the cell (AMD: VGPR/SGPR/AGPR/LDS/scratch/spills; Intel: GRF/SIMD/SLM/private/scratch per
 * thread) show a spill to memory? AMD: a VGPR+SGPR spill count with scratch: spills without scratch
 * went to registers (SGPRs into VGPR lanes, VGPRs into AGPRs on gfx90a), which costs lane moves and no
 * memory traffic (scratch without spills is private arrays); Intel: scratch per hardware thread (IGC's
 * spill space, which on tgllp and pvc also holds the private arrays it does not keep in registers:
 * counted as spills here, see the allow-list's note). -1 where the target has no numbers. */
static int spills(const char *cell, int amd) {
    long v[6];
    if (!strcmp(cell, "-")) return -1;
    const int n = sscanf(cell, "%ld/%ld/%ld/%ld/%ld/%ld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    cr_assert_eq(n, amd ? 6 : 5, "cell %s", cell);
    return amd ? v[5] > 0 && v[4] > 0 : v[4] > 0;
}

#define N_ALLOWED (sizeof k_allowed / sizeof k_allowed[0])

/* The entry that excuses this spill (counted in used[]), or NULL. */
static const spill_allowed *allowed(const char *target, const char *source, const char *kernel, const char *options,
                                    int *used) {
    for (size_t i = 0; i < N_ALLOWED; i++) {
        const spill_allowed *a = &k_allowed[i];
        if (!strcmp(a->target, target) && !strcmp(a->source, source) && !strcmp(a->kernel, kernel) &&
            (!a->options_has || strstr(options, a->options_has))) {
            used[i]++;
            return a;
        }
    }
    return NULL;
}

Test(plan, vendor_fakes_do_not_spill) {
    data_file d;
    if (!load(&d)) cr_skip_test("the source tree %s is not on this machine (a build run elsewhere)", OCLA_SOURCE_DIR);
    int failed = 0, checked = 0, excused = 0, used[N_ALLOWED] = {0};
    for (size_t f = 0; f < tp_n_vendor_fakes; f++) {
        const vendor_fake *dev = &tp_vendor_fakes[f];
        if (!dev->target) continue;
        int t = 0;
        while (strcmp(k_targets[t], dev->target)) t++;
        const int amd = dev->vendor == OCLA_VENDOR_AMD;
        const ocla_plan_limits L = tp_vendor_limits(dev);
        ocla_plan_request r;
        for (int i = 0; tp_vendor_request(i, &r); i++) {
            ocla_plan p;
            if (ocla_plan_compute(&L, &r, &p) != OCLA_SUCCESS) continue; /* vendor_fakes says which must plan */
            for (const char *s = p.kernels + strspn(p.kernels, ", "); *s; s += strspn(s, ", ")) {
                char name[64], opts[640];
                const size_t len = strcspn(s, ", ");
                snprintf(name, sizeof name, "%.*s", (int)len, s);
                s += len;
                ocla_variant v;
                cr_assert_eq(ocla__plan_kernel_variant(&p, &r, name, &v), 0, "%s: %s", p.kernels, name);
                cr_assert_eq(ocla__variant_build_options(&v, opts, sizeof opts), 0);
                const char *o = opts[0] == ' ' ? opts + 1 : opts;
                if (!*o) o = "-";
                const data_row *row = find(&d, v.fam->source, o, name);
                const int sp = row ? spills(row->cell[t], amd) : -1;
                checked++;
                if (sp < 0) {
                    cr_log_error("%s (op %d, T %lld, K %lld, gate %d): %s %s kernel %s is not in %s for %s: "
                                 "the table is stale (.ci/checks/16-vendor-compile.sh says how to regenerate it)",
                                 dev->name, (int)r.op, (long long)r.T, (long long)r.K, (int)r.gate, v.fam->source, o,
                                 name, d.path, dev->target);
                    failed++;
                } else if (sp) {
                    const spill_allowed *a = allowed(dev->target, v.fam->source, name, o, used);
                    if (a) {
                        excused++;
                        continue;
                    }
                    cr_log_error("%s (op %d, T %lld, K %lld, gate %d): %s %s kernel %s spills on %s (%s): %s",
                                 dev->name, (int)r.op, (long long)r.T, (long long)r.K, (int)r.gate, v.fam->source, o,
                                 name, dev->target, row->cell[t], p.reason);
                    failed++;
                }
            }
        }
    }
    for (size_t i = 0; i < N_ALLOWED; i++)
        if (used[i])
            cr_log_info("allowed: %s %s %s%s%s: %d plan kernels", k_allowed[i].target, k_allowed[i].source,
                        k_allowed[i].kernel, k_allowed[i].options_has ? " " : "",
                        k_allowed[i].options_has ? k_allowed[i].options_has : "", used[i]);
        else { /* a tile changed, or the table: the entry is stale */
            cr_log_error("the allow-list's %s %s %s %s excuses no spill of these plans: remove it", k_allowed[i].target,
                         k_allowed[i].source, k_allowed[i].kernel, k_allowed[i].options_has ? k_allowed[i].options_has : "");
            failed++;
        }
    cr_log_info("%d kernels of the fake AMD and Intel plans looked up in %s: %d spill on the allow-list, %d failed",
                checked, d.path, excused, failed);
    unload(&d);
    cr_assert_gt(checked, 100);
    cr_assert_eq(failed, 0, "%d kernels of the fake AMD and Intel plans spill or are not in the table (above)", failed);
}
