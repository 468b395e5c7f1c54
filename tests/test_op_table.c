/* SPDX-License-Identifier: MIT */
/* "Registered once, checked everywhere" (issue 11, point 6): every entry of the op table
 * (tests/op_table.h) against its fp64 reference, on every device, at each of its shapes; and the
 * table itself: well formed, deterministic, and covering every op of the public headers.
 *
 * One Criterion test per entry (a parameterised test: the entry's index), so a failure names the op
 * and entries run in parallel. Tolerances are the entry's own (op_table.c says why), applied to each
 * output array separately (normwise, tc_max_rel_err), so a small gradient is not hidden behind a
 * large one. OCLA_ERR_UNSUPPORTED on a device (softmax kernels on rusticl's llvmpipe) is logged and
 * skipped there, as in every harness. The per-op suites (test_attention.c, test_softmax.c, ...) keep
 * the long sequences, every chunk the scheduler can pick and the edge cases; this test is the floor
 * every op, form and dtype gets by being in the table. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#include <criterion/parameterized.h>


ParameterizedTestParameters(op_table, entry_matches_fp64_on_every_device) {
    return tc_op_entries();
}

ParameterizedTest(int *index, op_table, entry_matches_fp64_on_every_device, .timeout = 900) {
    const op_entry *e = op_get(*index);
    cr_assert_not_null(e);
    int ran = 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int si = 0; si < e->n_shapes; si++) {
            const op_shape *s = &e->shapes[si];
            op_case *c = op_case_new(e, s, 1000u + (uint32_t)si);
            cr_assert(c && !c->bad, "%s: shape %d cannot be made", e->name, si);
            float *out = malloc((c->n_out ? c->n_out : 1) * sizeof *out);
            cr_assert_not_null(out);
            size_t n = 0;
            ocla_status st = op_run(ctx, c, out, c->n_out, &n);
            if (st == OCLA_ERR_UNSUPPORTED) {
                cr_log_info("%s on %s: unsupported (skipped): %s", e->name, tc_device_name(d), ocla_last_error(ctx));
                free(out), op_case_free(c);
                continue;
            }
            cr_assert_eq(st, OCLA_SUCCESS, "%s on %s, shape %d (B,T,H,K,V)=(%d,%d,%d,%d,%d): %s: %s", e->name,
                         tc_device_name(d), si, s->B, s->T, s->H, s->K, s->V, ocla_status_string(st),
                         ocla_last_error(ctx));
            cr_assert_eq(n, c->n_out, "%s: %zu output values, expected %zu", e->name, n, c->n_out);
            double *ref = op_reference(c);
            cr_assert_not_null(ref, "%s has no reference", e->name);
            double worst = 0;
            const char *worst_name = "";
            for (int i = 0; i < c->n; i++) {
                size_t off = 0;
                long len = op_output_span(c, i, &off);
                if (len <= 0) continue;
                cr_assert(tc_all_finite(out + off, (size_t)len), "%s on %s, shape %d: %s is not finite", e->name,
                          tc_device_name(d), si, c->a[i].name);
                double err = tc_max_rel_err(out + off, ref + off, (size_t)len);
                cr_assert_leq(err, e->tol,
                              "%s on %s, shape %d (B,T,H,K,V,D,chunk)=(%d,%d,%d,%d,%d,%d,%d): %s error %.3g > %.0e",
                              e->name, tc_device_name(d), si, s->B, s->T, s->H, s->K, s->V, s->D, s->chunk,
                              c->a[i].name, err, e->tol);
                if (err >= worst) worst = err, worst_name = c->a[i].name;
            }
            cr_log_info("%s on %s, shape %d (B,T,H,K,V,D,chunk)=(%d,%d,%d,%d,%d,%d,%d): max error %.2e (%s), tol %.0e",
                        e->name, tc_device_name(d), si, s->B, s->T, s->H, s->K, s->V, s->D, s->chunk, worst,
                        worst_name, e->tol);
            ran++;
            free(ref), free(out), op_case_free(c);
        }
        ocla_context_destroy(ctx);
    }
    if (!ran) cr_log_warn("%s: no device under test runs it: nothing was checked", e->name);
}

/* The table itself: unique names, every field set, shapes that make and cost, deterministic inputs. */
Test(op_table, entries_are_well_formed) {
    cr_assert_gt(op_count(), 0);
    cr_assert_leq(op_count(), TC_MAX_OP_ENTRIES, "raise TC_MAX_OP_ENTRIES in tests/common.h");
    for (int i = 0; i < op_count(); i++) {
        const op_entry *e = op_get(i);
        cr_assert(e && e->name && e->family && e->api, "entry %d lacks a name, family or api", i);
        for (int j = 0; j < i; j++) cr_assert_str_neq(e->name, op_get(j)->name, "two entries named %s", e->name);
        cr_assert_eq(op_find(e->name), e);
        cr_assert(e->make && e->call && e->reference && e->cost, "%s: a function is missing", e->name);
        cr_assert(e->n_shapes >= 1 && e->n_shapes <= OP_MAX_SHAPES, "%s: %d shapes", e->name, e->n_shapes);
        cr_assert(e->tol > 0 && e->tol <= 1e-3, "%s: tolerance %g", e->name, e->tol);
        for (int si = 0; si < e->n_shapes; si++) {
            op_case *a = op_case_new(e, &e->shapes[si], 7), *b = op_case_new(e, &e->shapes[si], 7);
            op_case *other = op_case_new(e, &e->shapes[si], 8);
            cr_assert(a && b && other && !a->bad, "%s: shape %d cannot be made", e->name, si);
            cr_assert_gt(a->n_out, 0, "%s: no output", e->name);
            cr_assert_eq(a->n, b->n);
            int differs = 0, inputs = 0;
            for (int k = 0; k < a->n; k++) {
                long len = 1;
                for (int x = 0; x < a->a[k].ndim; x++) len *= (long)a->a[k].dims[x];
                if (!a->a[k].host) continue;
                inputs++;
                cr_assert(!memcmp(a->a[k].host, b->a[k].host, (size_t)len * sizeof(float)),
                          "%s: %s is not deterministic", e->name, a->a[k].name);
                differs |= memcmp(a->a[k].host, other->a[k].host, (size_t)len * sizeof(float)) != 0;
            }
            cr_assert(!inputs || differs, "%s: the seed does not change the inputs", e->name);
            double flops = -1, bytes = -1;
            e->cost(&e->shapes[si], &flops, &bytes);
            cr_assert(isfinite(flops) && flops > 0 && isfinite(bytes) && bytes > 0, "%s: cost %g flops %g bytes",
                      e->name, flops, bytes);
            op_case_free(a), op_case_free(b), op_case_free(other);
        }
    }
    op_case **all = op_cases_default(1);
    cr_assert_not_null(all);
    op_cases_free(all);
}

/* Every op of the public headers is in the table: a function declared
 *   OCLA_API ocla_status ocla_<name>(ocla_context *ctx, ... ocla_tensor or an ocla_*_io struct ...)
 * that is not a tensor / context / plan / profile utility must be named in some entry's `api`. A new
 * op fails here until it is registered (one line in OP_TABLE, tests/op_table.c), which then puts it
 * in the accuracy test above, the fault, leak and concurrency harnesses and the fuzzer. */
static int is_utility(const char *name) {
    static const char *prefixes[] = {"ocla_tensor_", "ocla_context_", "ocla_plan_", "ocla_profile_",
                                     "ocla_device_", "ocla_cache_", "ocla_debug_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) return 1;
    return 0;
}

static int in_table(const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < op_count(); i++)
        for (const char *p = op_get(i)->api; (p = strstr(p, name)) != NULL; p += n)
            if (!(p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9'))) return 1;
    return 0;
}

Test(op_table, every_public_op_is_registered) {
    static const char *headers[] = {"ocla.h", "attention.h", "layers.h", "train.h", "blocks.h", "softmax.h",
                                    "flash.h", "linformer.h"};
    int ops = 0, missing = 0;
    char list[2048] = "";
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/include/ocla/%s", OCLA_SOURCE_DIR, headers[h]);
        FILE *f = fopen(path, "rb");
        if (!f) continue; /* topic headers come and go; ocla.h includes whichever exist */
        static char text[1 << 20];
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = 0;
        static const char decl[] = "OCLA_API ocla_status ";
        for (char *p = strstr(text, decl); p; p = strstr(p + 1, decl)) {
            char name[128];
            const char *q = p + sizeof decl - 1;
            size_t k = 0;
            while (k + 1 < sizeof name && (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
                name[k++] = *q++;
            name[k] = 0;
            if (*q != '(') continue;
            const char *end = strchr(q, ')');
            if (!end) continue;
            size_t plen = (size_t)(end - q);
            char params[1024];
            snprintf(params, sizeof params, "%.*s", (int)(plen < sizeof params - 1 ? plen : sizeof params - 1), q);
            if (!strstr(params, "ocla_context") || (!strstr(params, "ocla_tensor") && !strstr(params, "_io ")) ||
                is_utility(name))
                continue;
            ops++;
            if (!in_table(name)) {
                missing++;
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, " %s (%s)", name, headers[h]);
            }
        }
    }
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/include/ocla/ocla.h", OCLA_SOURCE_DIR);
    FILE *pf = fopen(probe, "rb");
    if (!pf) cr_skip_test("the source tree %s is not on this machine (a build run elsewhere)", OCLA_SOURCE_DIR);
    fclose(pf);
    cr_assert_gt(ops, 5, "found only %d ops in %s/include/ocla: the scan is broken", ops, OCLA_SOURCE_DIR);
    cr_assert_eq(missing, 0, "public ops missing from the op table (add an entry to OP_TABLE in tests/op_table.c):%s",
                 list);
    cr_log_info("%d public ops, all in the op table (%d entries)", ops, op_count());
}
