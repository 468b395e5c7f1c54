/* SPDX-License-Identifier: MIT */
/* ocla-bench --ops: every entry of the op table (tests/op_table.h, the same table the accuracy
 * tests, the fault and leak harnesses and the fuzzer iterate) timed on each device at the entry's
 * first shape: device time per call (ocla_profile, median of the runs), host enqueue time per call
 * (back-to-back calls with no wait), and the entry's nominal flops and bytes. A new op registered in
 * the table shows up here with no change to the bench. Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ocla/ocla.h"
#include "op_table.h"


int ops_main(const size_t *idx, int nidx, int runs, const char *json_path) {
    FILE *jf = NULL;
    if (json_path && !(jf = fopen(json_path, "w"))) {
        fprintf(stderr, "ocla-bench: cannot write %s\n", json_path);
        return 1;
    }
    if (jf) fprintf(jf, "{\n  \"what\": \"op table\", \"unit\": \"ms per call\", \"rows\": [");
    int rc = 0, first = 1;
    if (runs < 3) runs = 3;
    double *t = malloc(sizeof(double) * (size_t)runs);
    for (int i = 0; i < nidx && t; i++) {
        char sel[32];
        snprintf(sel, sizeof sel, "%zu", idx[i]);
        ocla_context_options co;
        ocla_context_options_defaults(&co);
        co.device = sel;
        co.profiling = 1;
        ocla_context *ctx = NULL;
        if (ocla_context_create(&co, &ctx) != OCLA_SUCCESS) {
            fprintf(stderr, "ocla-bench: device %s: %s\n", sel, ocla_last_error(NULL));
            rc = 1;
            continue;
        }
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        printf("\n== %s | %s | driver %s | %s\n", info.device_name, info.platform_name, info.driver_version,
               info.profiling_works ? "event-profiled" : "host clock");
        printf("%-40s %-26s %10s %10s %10s %10s\n", "op (tests/op_table.c)", "shape B,T,H,K,V", "dev ms", "enq us",
               "GFLOP/s", "GB/s");
        for (int e = 0; e < op_count(); e++) {
            const op_entry *op = op_get(e);
            op_case *c = op_case_new(op, NULL, 1);
            if (!c) continue;
            op_tensors ts;
            ocla_status st = op_tensors_create(ctx, c, &ts);
            double dev = 0, enq = 0;
            int nt = 0;
            if (st == OCLA_SUCCESS) {
                for (int w = 0; w < 2 && st == OCLA_SUCCESS; w++) st = op->call(ctx, c, ts.t); /* warm-up */
                for (int r = 0; r < runs && st == OCLA_SUCCESS; r++) {
                    double ms = 0;
                    ocla_profile_begin(ctx);
                    st = op->call(ctx, c, ts.t);
                    ocla_profile_end(ctx, &ms, NULL);
                    t[nt++] = ms;
                }
                if (st == OCLA_SUCCESS) {
                    ocla_finish(ctx);
                    const double t0 = bench_now();
                    for (int r = 0; r < runs && st == OCLA_SUCCESS; r++) st = op->call(ctx, c, ts.t);
                    enq = (bench_now() - t0) * 1e6 / runs;
                    ocla_finish(ctx);
                }
                op_tensors_destroy(&ts);
            }
            char shape[48];
            snprintf(shape, sizeof shape, "%d,%d,%d,%d,%d", c->s.B, c->s.T, c->s.H, c->s.K, c->s.V);
            if (st != OCLA_SUCCESS || !nt) {
                printf("%-40s %-26s %s\n", op->name, shape,
                       st == OCLA_ERR_UNSUPPORTED ? "not on this device" : ocla_status_string(st));
                op_case_free(c);
                continue;
            }
            dev = bench_median(t, nt);
            double flops = 0, bytes = 0;
            if (op->cost) op->cost(&c->s, &flops, &bytes);
            printf("%-40s %-26s %10.4f %10.1f %10.2f %10.2f\n", op->name, shape, dev, enq,
                   dev > 0 ? flops / dev * 1e-6 : 0.0, dev > 0 ? bytes / dev * 1e-6 : 0.0);
            if (jf) {
                fprintf(jf, "%s\n    {\"device\": \"%s\", \"op\": \"%s\", \"B\": %d, \"T\": %d, \"H\": %d, \"K\": %d, "
                            "\"V\": %d, \"device_ms\": %.6f, \"host_enqueue_us\": %.3f, \"flops\": %.0f, \"bytes\": %.0f}",
                        first ? "" : ",", info.device_name, op->name, c->s.B, c->s.T, c->s.H, c->s.K, c->s.V, dev, enq,
                        flops, bytes);
                first = 0;
            }
            op_case_free(c);
        }
        ocla_context_destroy(ctx);
    }
    printf("\ndev ms = device time of one call (median of the runs, every kernel and GEMM it enqueues; the host\n"
           "clock with a wait where the driver's events read 0); enq us = host time per call of back-to-back calls.\n");
    if (jf) {
        fprintf(jf, "\n  ]\n}\n");
        if (fclose(jf)) rc = 1;
    }
    free(t);
    return rc;
}
