/* SPDX-License-Identifier: MIT */
/* Leak cycle: create a context, run every op of the op table (tests/op_table.h) once, destroy the context;
 * repeat N times (default 100). Run under LeakSanitizer (.ci/checks/60-leaks.sh: the ASan build) or
 * valgrind memcheck: any definite leak from ocla code is a failure there. This program itself checks
 * that every op succeeds (or is unsupported on the device) in every cycle, that results are the
 * same in every cycle, and reports the heap in use after the first and the last cycle (growth
 * across cycles would be a leak of memory that is still reachable, e.g. an ever-growing cache).
 *
 * usage: leak_cycle [cycles] [device selector] [canary]     exit status 0 = clean
 * "canary" leaks one 4 KiB block on purpose, so the CI script can prove the leak checker is on. */
#define _GNU_SOURCE
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocla/ocla.h"
#include "op_table.h"

static size_t heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#else
    return 0;
#endif
}

int main(int argc, char **argv) {
    int cycles = argc > 1 ? atoi(argv[1]) : 100;
    const char *device = argc > 2 ? argv[2] : "pocl";
    const int n_ops = op_count();
    op_case **cases = op_cases_default(1); /* host inputs made once: the cycle measures ocla, not them */
    float **first = calloc((size_t)n_ops, sizeof *first);
    size_t *first_n = calloc((size_t)n_ops, sizeof *first_n), max_out = 1;
    int *supported = calloc((size_t)n_ops, sizeof *supported);
    if (!cases || !first || !first_n || !supported) {
        fprintf(stderr, "leak_cycle: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_ops; i++) {
        if (cases[i]->n_out > max_out) max_out = cases[i]->n_out;
        first[i] = malloc((cases[i]->n_out ? cases[i]->n_out : 1) * sizeof(float));
        if (!first[i]) return 1;
    }
    float *out = malloc(max_out * sizeof *out);
    if (!out) return 1;
    size_t heap1 = 0, heap_last = 0;
    long runs = 0;
    int rc = 0;
    for (int c = 0; c < cycles && !rc; c++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.device = device;
        o.log_level = OCLA_LOG_ERROR;
        ocla_context *ctx = NULL;
        ocla_status st = ocla_context_create(&o, &ctx);
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "leak_cycle: cycle %d: context on \"%s\": %s: %s\n", c, device, ocla_status_string(st),
                    ocla_last_error(NULL));
            rc = 1;
            break;
        }
        for (int i = 0; i < n_ops && !rc; i++) {
            const char *name = cases[i]->op->name;
            size_t n = 0;
            st = op_run(ctx, cases[i], out, max_out, &n);
            if (c == 0) supported[i] = st != OCLA_ERR_UNSUPPORTED;
            if (st == OCLA_ERR_UNSUPPORTED && !supported[i]) continue;
            if (st != OCLA_SUCCESS) {
                fprintf(stderr, "leak_cycle: cycle %d: %s: %s: %s\n", c, name, ocla_status_string(st),
                        ocla_last_error(ctx));
                rc = 1;
            } else if (c == 0) {
                memcpy(first[i], out, n * sizeof *out);
                first_n[i] = n;
            } else if (n != first_n[i] || memcmp(first[i], out, n * sizeof *out) != 0) {
                fprintf(stderr, "leak_cycle: cycle %d: %s gives a different result than in cycle 0\n", c, name);
                rc = 1;
            }
            runs++;
        }
        ocla_context_destroy(ctx);
        if (c == 0) heap1 = heap_in_use();
        heap_last = heap_in_use();
    }
    if (!rc && argc > 3 && !strcmp(argv[3], "canary")) {
        void *volatile lost = malloc(4096);
        memset(lost, 1, 4096);
        lost = NULL;
        printf("leak_cycle: leaked one 4096-byte block on purpose (canary)\n");
    }
    int n_sup = 0;
    for (int i = 0; i < n_ops; i++) n_sup += supported[i];
    if (!rc) {
        printf("leak_cycle: %d cycles x %d ops (%d supported on %s): %ld op runs, all succeeded with identical results\n",
               cycles, n_ops, n_sup, device, runs);
        for (int i = 0; i < n_ops; i++)
            if (!supported[i]) printf("leak_cycle:   %s: unsupported on this device (skipped)\n", cases[i]->op->name);
        if (heap1)
            printf("leak_cycle: heap in use after cycle 1: %zu bytes, after cycle %d: %zu bytes (%+lld)\n", heap1, cycles,
                   heap_last, (long long)heap_last - (long long)heap1);
    }
    for (int i = 0; i < n_ops; i++) free(first[i]);
    free(first), free(first_n), free(supported), free(out);
    op_cases_free(cases);
    return rc;
}
