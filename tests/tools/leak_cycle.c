/* Leak cycle: create a context, run every op of tests/reliability_ops.h once, destroy the context;
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
#include "reliability_ops.h"

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
    static float first[REL_N_OPS][REL_OUT_MAX], out[REL_OUT_MAX];
    size_t first_n[REL_N_OPS] = {0};
    int supported[REL_N_OPS];
    size_t heap1 = 0, heap_last = 0;
    long runs = 0;
    for (int c = 0; c < cycles; c++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.device = device;
        o.log_level = OCLA_LOG_ERROR;
        ocla_context *ctx = NULL;
        ocla_status st = ocla_context_create(&o, &ctx);
        if (st != OCLA_SUCCESS) {
            fprintf(stderr, "leak_cycle: cycle %d: context on \"%s\": %s: %s\n", c, device, ocla_status_string(st),
                    ocla_last_error(NULL));
            return 1;
        }
        for (int i = 0; i < REL_N_OPS; i++) {
            size_t n = 0;
            st = REL_OPS[i].run(ctx, out, &n);
            if (c == 0) supported[i] = st != OCLA_ERR_UNSUPPORTED;
            if (st == OCLA_ERR_UNSUPPORTED && !supported[i]) continue;
            if (st != OCLA_SUCCESS) {
                fprintf(stderr, "leak_cycle: cycle %d: %s: %s: %s\n", c, REL_OPS[i].name, ocla_status_string(st),
                        ocla_last_error(ctx));
                ocla_context_destroy(ctx);
                return 1;
            }
            runs++;
            if (c == 0) {
                memcpy(first[i], out, n * sizeof *out);
                first_n[i] = n;
            } else if (n != first_n[i] || memcmp(first[i], out, n * sizeof *out) != 0) {
                fprintf(stderr, "leak_cycle: cycle %d: %s gives a different result than in cycle 0\n", c, REL_OPS[i].name);
                ocla_context_destroy(ctx);
                return 1;
            }
        }
        ocla_context_destroy(ctx);
        if (c == 0) heap1 = heap_in_use();
        heap_last = heap_in_use();
    }
    if (argc > 3 && !strcmp(argv[3], "canary")) {
        void *volatile lost = malloc(4096);
        memset(lost, 1, 4096);
        lost = NULL;
        printf("leak_cycle: leaked one 4096-byte block on purpose (canary)\n");
    }
    int n_sup = 0;
    for (int i = 0; i < REL_N_OPS; i++) n_sup += supported[i];
    printf("leak_cycle: %d cycles x %d ops (%d supported on %s): %ld op runs, all succeeded with identical results\n",
           cycles, REL_N_OPS, n_sup, device, runs);
    for (int i = 0; i < REL_N_OPS; i++)
        if (!supported[i]) printf("leak_cycle:   %s: unsupported on this device (skipped)\n", REL_OPS[i].name);
    if (heap1)
        printf("leak_cycle: heap in use after cycle 1: %zu bytes, after cycle %d: %zu bytes (%+lld)\n", heap1, cycles,
               heap_last, (long long)heap_last - (long long)heap1);
    return 0;
}
