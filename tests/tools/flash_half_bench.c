/* SPDX-License-Identifier: MIT */
/* Half precision against fp32, side by side in one run: FLASH (ocla_flash_attention and
 * ocla_flash_backward at (1, T, 1, S = 64 / E = 128), chunk 64; its kernels read and write the
 * dtype themselves: kernels_cl/flash.cl, flash_bwd.cl), linear attention and GLA (vector gates)
 * (ocla_attention_forward / _backward, chunked, causal, (1, T, 2, 64), the scheduler's chunk), every
 * tensor fp32, bf16 and fp16 (GLA's gates too). With "both" a second context runs alongside whose
 * portable kernels take fp16 through the OpenCL builtins (vload_half / vstore_half_rte: OCLA_CL_OPTIONS
 * "-DOCLA_HALF_BITS=0", after the runtime's own choice, so it wins; common.cl), to compare the two
 * fp16 paths on a device where the runtime picks the integer one. Host clock around each call with
 * the queue finished; after a warm-up, every rep runs each (context, dtype, op) once in turn, so a
 * load that drifts slows them alike; medians of reps. Numbers for docs; no assertions.
 * usage: flash_half_bench [device selector] [T] [reps] [both] */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "platform.h"
#include "tool_median.h"

enum { REPS_MAX = 64, OP_FLASH = 0, OP_LINEAR, OP_GLA, N_OP, N_T = 13 };
static const char *const op_name[N_OP] = {"flash", "linear", "gla"};

static void check(ocla_context *ctx, ocla_status st) {
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "flash_half_bench: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
        exit(1);
    }
}

static ocla_tensor *make(ocla_context *ctx, ocla_dtype dt, int nd, const int64_t *dims) {
    ocla_tensor *t = NULL;
    check(ctx, ocla_tensor_create(ctx, dt, nd, dims, &t));
    check(ctx, ocla_tensor_fill(ctx, t, 0.01f));
    return t;
}

/* The tensors of one op in one dtype: FLASH qq kq ql kl v o d_o and the five gradients; linear
 * attention and GLA q k v g o d_o dq dk dv dg (g, dg: GLA only). */
typedef struct bench_case {
    ocla_context *ctx;
    int op;
    ocla_tensor *t[N_T];
} bench_case;

static void setup(bench_case *c, ocla_context *ctx, int op, ocla_dtype dt, int64_t T) {
    memset(c, 0, sizeof *c);
    c->ctx = ctx, c->op = op;
    if (op == OP_FLASH) {
        const int64_t s[4] = {1, T, 1, 64}, e[4] = {1, T, 1, 128};
        for (int i = 0; i < 12; i++) c->t[i] = make(ctx, dt, 4, (i == 4 || i == 5 || i == 6 || i == 11) ? e : s);
        return;
    }
    const int64_t d[4] = {1, T, 2, 64};
    for (int i = 0; i < 10; i++)
        if (op == OP_GLA || (i != 3 && i != 9)) c->t[i] = make(ctx, dt, 4, d);
}

static void run(const bench_case *c, double *tf, double *tb) {
    ocla_context *ctx = c->ctx;
    ocla_tensor *const *t = c->t;
    double t0 = ocla_now_seconds(), t1;
    if (c->op == OP_FLASH) {
        ocla_flash_params p;
        ocla_flash_params_defaults(&p);
        p.chunk = 64;
        const ocla_flash_io io = {t[0], t[1], t[2], t[3], t[4], t[5]};
        const ocla_flash_grad_io gio = {t[0], t[1], t[2], t[3], t[4], t[6], t[7], t[8], t[9], t[10], t[11], NULL};
        check(ctx, ocla_flash_attention(ctx, &p, &io));
        check(ctx, ocla_finish(ctx));
        t1 = ocla_now_seconds();
        check(ctx, ocla_flash_backward(ctx, &p, &gio));
    } else {
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = c->op == OP_GLA ? OCLA_GATE_VECTOR : OCLA_GATE_NONE;
        const ocla_attn_io io = {.q = t[0], .k = t[1], .v = t[2], .g = t[3], .o = t[4]};
        const ocla_attn_grad_io gio = {.q = t[0], .k = t[1], .v = t[2], .g = t[3], .d_o = t[5],
                                       .dq = t[6], .dk = t[7], .dv = t[8], .dg = t[9]};
        check(ctx, ocla_attention_forward(ctx, &p, &io));
        check(ctx, ocla_finish(ctx));
        t1 = ocla_now_seconds();
        check(ctx, ocla_attention_backward(ctx, &p, &gio));
    }
    check(ctx, ocla_finish(ctx));
    *tf = t1 - t0, *tb = ocla_now_seconds() - t1;
}

int main(int argc, char **argv) {
    const int64_t T = argc > 2 ? atoll(argv[2]) : 2048;
    const int reps = argc > 3 ? atoi(argv[3]) : 5, paths = argc > 4 && !strcmp(argv[4], "both") ? 2 : 1;
    if (reps < 1 || reps > REPS_MAX || T < 1) {
        fprintf(stderr, "usage: flash_half_bench [device selector] [T >= 1] [reps 1..%d] [both]\n", REPS_MAX);
        return 2;
    }
    ocla_context *ctx[2] = {NULL, NULL};
    for (int c = 0; c < paths; c++) {
        if (c) setenv("OCLA_CL_OPTIONS", "-DOCLA_HALF_BITS=0", 1); /* read at context creation */
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.device = argc > 1 ? argv[1] : NULL;
        if (ocla_context_create(&o, &ctx[c]) != OCLA_SUCCESS) {
            fprintf(stderr, "context: %s\n", ocla_last_error(NULL));
            return 1;
        }
    }
    ocla_device_info info;
    ocla_context_device_info(ctx[0], &info);
    printf("%s; FLASH (1, %lld, 1, S 64 / E 128) chunk 64, linear and GLA (1, %lld, 2, 64) chunked; host clock, "
           "medians of %d, interleaved\n", info.device_name, (long long)T, (long long)T, reps);
    static bench_case cases[2][3][N_OP];
    static double tf[2][3][N_OP][REPS_MAX], tb[2][3][N_OP][REPS_MAX];
    for (int c = 0; c < paths; c++)
        for (int dt = OCLA_F32; dt <= OCLA_F16; dt++)
            for (int op = 0; op < N_OP; op++) setup(&cases[c][dt][op], ctx[c], op, (ocla_dtype)dt, T);
    for (int r = -1; r < reps; r++) /* r = -1: the warm-up (kernels built) */
        for (int op = 0; op < N_OP; op++)
            for (int dt = OCLA_F32; dt <= OCLA_F16; dt++)
                for (int c = 0; c < paths; c++) {
                    double f, b;
                    run(&cases[c][dt][op], &f, &b);
                    if (r >= 0) tf[c][dt][op][r] = f, tb[c][dt][op][r] = b;
                }
    for (int op = 0; op < N_OP; op++)
        for (int c = 0; c < paths; c++) {
            double mf[3], mb[3];
            for (int dt = OCLA_F32; dt <= OCLA_F16; dt++)
                mf[dt] = tool_median(tf[c][dt][op], reps) * 1e3, mb[dt] = tool_median(tb[c][dt][op], reps) * 1e3;
            for (int dt = OCLA_F32; dt <= OCLA_F16; dt++)
                printf("%-6s %-4s %-8s forward %9.2f ms  backward %9.2f ms\n", op_name[op], ocla_dtype_name((ocla_dtype)dt),
                       c ? "builtin" : "runtime", mf[dt], mb[dt]);
            printf("%-6s f16 / bf16 (%s): forward %.2f  backward %.2f\n", op_name[op], c ? "builtin" : "runtime",
                   mf[OCLA_F16] / mf[OCLA_BF16], mb[OCLA_F16] / mb[OCLA_BF16]);
        }
    for (int c = 0; c < paths; c++)
        for (int dt = OCLA_F32; dt <= OCLA_F16; dt++)
            for (int op = 0; op < N_OP; op++)
                for (int i = 0; i < N_T; i++) ocla_tensor_destroy(cases[c][dt][op].t[i]);
    for (int c = 0; c < paths; c++) ocla_context_destroy(ctx[c]);
    return 0;
}
