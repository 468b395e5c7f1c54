/* SPDX-License-Identifier: MIT */
/* The cost of half precision at a boundary (runtime/layer_half.c): a projection y = x W with x
 * [rows, d] and W [d, d] in bf16 or fp16 runs as conversions to fp32 (layer_to_f32), CLBlast SGEMM,
 * and the rounding of y (layer_from_f32). Times each step (median of reps, after a warm-up; the
 * queue finished around each) beside the SGEMM, and a whole multi-head softmax layer forward in fp32
 * and in bf16 side by side. Numbers for docs/ARCHITECTURE.md; no assertions.
 * usage: half_convert_bench [device selector] [rows] [d] [reps] */
#include <stdio.h>
#include <stdlib.h>

#include "layer_common.h"
#include "tool_median.h"


static ocla_tensor *make(ocla_context *ctx, ocla_dtype dt, int nd, const int64_t *dims) {
    ocla_tensor *t = NULL;
    if (ocla_tensor_create(ctx, dt, nd, dims, &t) != OCLA_SUCCESS || ocla_tensor_fill(ctx, t, 0.01f) != OCLA_SUCCESS) {
        fprintf(stderr, "tensor: %s\n", ocla_last_error(ctx));
        exit(1);
    }
    return t;
}

enum { S_X, S_W, S_GEMM, S_Y, S_LAYER32, S_LAYER16, S_N };

static void step(ocla_context *ctx, int s, ocla_tensor **t, ocla_tensor **h, const ocla_tensor *const *L) {
    ocla_status st = OCLA_SUCCESS;
    ocla_mha_layer_params p;
    ocla_mha_layer_params_defaults(&p, OCLA_MHA_SOFTMAX);
    p.heads = 4, p.head_k = p.head_v = (int)(t[1]->dims[0] / 4);
    switch (s) {
    case S_X: st = ocla__convert_dtype(ctx, h[0], t[0]); break;
    case S_W: st = ocla__convert_dtype(ctx, h[1], t[1]); break;
    case S_GEMM: st = ocla_linear_forward(ctx, t[0], t[1], t[2]); break;
    case S_Y: st = ocla__convert_dtype(ctx, t[2], h[2]); break;
    case S_LAYER32: {
        const ocla_mha_layer_weights w = {.w_q = t[1], .w_k = t[1], .w_v = t[1], .w_o = t[1]};
        st = ocla_mha_layer_forward(ctx, &p, &w, L[0], (ocla_tensor *)L[1]);
        break;
    }
    default: {
        const ocla_mha_layer_weights w = {.w_q = L[4], .w_k = L[5], .w_v = L[6], .w_o = L[7]};
        st = ocla_mha_layer_forward(ctx, &p, &w, L[2], (ocla_tensor *)L[3]);
    }
    }
    if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "step %d: %s\n", s, ocla_last_error(ctx));
        exit(1);
    }
}

int main(int argc, char **argv) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = argc > 1 ? argv[1] : NULL;
    const int64_t rows = argc > 2 ? atoll(argv[2]) : 4096, d = argc > 3 ? atoll(argv[3]) : 512;
    const int reps = argc > 4 ? atoi(argv[4]) : 9;
    ocla_context *ctx = NULL;
    if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) {
        fprintf(stderr, "context: %s\n", ocla_last_error(NULL));
        return 1;
    }
    const int64_t xd[2] = {rows, d}, wd[2] = {d, d}, x3[3] = {1, rows, d};
    ocla_tensor *t[3] = {make(ctx, OCLA_F32, 2, xd), make(ctx, OCLA_F32, 2, wd), make(ctx, OCLA_F32, 2, xd)};
    ocla_tensor *h[3] = {make(ctx, OCLA_BF16, 2, xd), make(ctx, OCLA_BF16, 2, wd), make(ctx, OCLA_BF16, 2, xd)};
    const ocla_tensor *L[8] = {make(ctx, OCLA_F32, 3, x3), make(ctx, OCLA_F32, 3, x3), make(ctx, OCLA_BF16, 3, x3),
                               make(ctx, OCLA_BF16, 3, x3), h[1], make(ctx, OCLA_BF16, 2, wd),
                               make(ctx, OCLA_BF16, 2, wd), make(ctx, OCLA_BF16, 2, wd)};
    static const char *const names[S_N] = {"x bf16 -> fp32", "W bf16 -> fp32", "SGEMM x W", "y fp32 -> bf16",
                                           "softmax layer fp32", "softmax layer bf16"};
    double *tm = malloc((size_t)reps * sizeof *tm), med[S_N];
    for (int s = 0; s < S_N; s++) {
        step(ctx, s, t, h, L); /* warm-up: builds */
        for (int r = 0; r < reps; r++) {
            const double t0 = ocla_now_seconds();
            step(ctx, s, t, h, L);
            tm[r] = ocla_now_seconds() - t0;
        }
        med[s] = tool_median(tm, reps);
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    printf("%s, rows %lld, d %lld, median of %d\n", info.device_name, (long long)rows, (long long)d, reps);
    for (int s = 0; s < S_N; s++)
        printf("  %-20s %9.3f ms  %5.2fx the SGEMM\n", names[s], 1e3 * med[s], med[s] / med[S_GEMM]);
    free(tm);
    for (int i = 0; i < 3; i++) ocla_tensor_destroy(t[i]), ocla_tensor_destroy(h[i]);
    for (int i = 0; i < 8; i++)
        if (i != 4) ocla_tensor_destroy((ocla_tensor *)L[i]);
    ocla_context_destroy(ctx);
    return 0;
}
