/* SPDX-License-Identifier: MIT */
/* FLASH in half precision against fp32, side by side in one run: ocla_flash_attention and
 * ocla_flash_backward at (1, T, 1, S = 64 / E = 128), chunk 64, every tensor fp32, bf16, then fp16
 * (the kernels read and write the dtype themselves: kernels_cl/flash.cl, flash_bwd.cl). Host clock
 * around each call with the queue finished; median of reps after a warm-up call, the three dtypes
 * measured twice, in turn, and the second round printed. Numbers for docs/ARCHITECTURE.md; no
 * assertions.
 * usage: flash_half_bench [device selector] [T] [reps] */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "platform.h"
#include "tool_median.h"

enum { REPS_MAX = 64 };


static ocla_tensor *make(ocla_context *ctx, ocla_dtype dt, int64_t T, int64_t D) {
    const int64_t dims[4] = {1, T, 1, D};
    ocla_tensor *t = NULL;
    if (ocla_tensor_create(ctx, dt, 4, dims, &t) != OCLA_SUCCESS || ocla_tensor_fill(ctx, t, 0.01f) != OCLA_SUCCESS) {
        fprintf(stderr, "tensor: %s\n", ocla_last_error(ctx));
        exit(1);
    }
    return t;
}

static void check(ocla_context *ctx, ocla_status st) {
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "flash_half_bench: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
        exit(1);
    }
}

int main(int argc, char **argv) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = argc > 1 ? argv[1] : NULL;
    const int64_t T = argc > 2 ? atoll(argv[2]) : 2048, S = 64, E = 128;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > REPS_MAX || T < 1) {
        fprintf(stderr, "usage: flash_half_bench [device selector] [T >= 1] [reps 1..%d]\n", REPS_MAX);
        return 2;
    }
    ocla_context *ctx = NULL;
    if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "context: %s\n", ocla_last_error(NULL));
        return 1;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    printf("%s, (1, %lld, 1, S %lld / E %lld), chunk 64, host clock, medians of %d\n", info.device_name,
           (long long)T, (long long)S, (long long)E, reps);
    for (int round = 0; round < 2; round++)
        for (int dt = OCLA_F32; dt <= OCLA_F16; dt++) {
            ocla_tensor *x[5], *g[5], *out = make(ctx, (ocla_dtype)dt, T, E), *d_o = make(ctx, (ocla_dtype)dt, T, E);
            for (int i = 0; i < 5; i++)
                x[i] = make(ctx, (ocla_dtype)dt, T, i < 4 ? S : E), g[i] = make(ctx, (ocla_dtype)dt, T, i < 4 ? S : E);
            ocla_flash_params p;
            ocla_flash_params_defaults(&p);
            p.chunk = 64;
            const ocla_flash_io io = {x[0], x[1], x[2], x[3], x[4], out};
            const ocla_flash_grad_io gio = {x[0], x[1], x[2], x[3], x[4], d_o, g[0], g[1], g[2], g[3], g[4], NULL};
            double tf[REPS_MAX], tb[REPS_MAX];
            for (int r = -1; r < reps; r++) { /* r = -1: the warm-up (kernels built) */
                const double t0 = ocla_now_seconds();
                check(ctx, ocla_flash_attention(ctx, &p, &io));
                check(ctx, ocla_finish(ctx));
                const double t1 = ocla_now_seconds();
                check(ctx, ocla_flash_backward(ctx, &p, &gio));
                check(ctx, ocla_finish(ctx));
                if (r >= 0) tf[r] = t1 - t0, tb[r] = ocla_now_seconds() - t1;
            }
            if (round)
                printf("%-4s forward %8.2f ms  backward %8.2f ms\n", ocla_dtype_name((ocla_dtype)dt),
                       tool_median(tf, reps) * 1e3, tool_median(tb, reps) * 1e3);
            for (int i = 0; i < 5; i++) ocla_tensor_destroy(x[i]), ocla_tensor_destroy(g[i]);
            ocla_tensor_destroy(out), ocla_tensor_destroy(d_o);
        }
    ocla_context_destroy(ctx);
    return 0;
}
