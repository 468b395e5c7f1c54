/* SPDX-License-Identifier: MIT */
/* attn_nv_bench: times the NVIDIA tensor-core attention path alone (development aid; ocla-bench
 * measures the public ops). Usage: attn_nv_bench B T H D [gate 0|1] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocla/ocla.h"

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int B = atoi(argv[1]), T = atoi(argv[2]), H = atoi(argv[3]), D = atoi(argv[4]), gate = argc > 5 ? atoi(argv[5]) : 0;
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = "nvidia";
    o.profiling = 1;
    ocla_context *ctx;
    if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) return fprintf(stderr, "%s\n", ocla_last_error(NULL)), 1;
    int64_t d[4] = {B, T, H, D}, gd[3] = {B, T, H};
    ocla_tensor *q, *g, *out;
    ocla_tensor_create(ctx, OCLA_F32, 4, d, &q);
    ocla_tensor_create(ctx, OCLA_F32, 4, d, &out);
    ocla_tensor_create(ctx, OCLA_F32, 3, gd, &g);
    ocla_tensor_fill(ctx, q, 0.01f);
    ocla_tensor_fill(ctx, g, -0.01f);
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.causal = 1;
    p.gate = gate ? OCLA_GATE_SCALAR : OCLA_GATE_NONE;
    ocla_attn_io io = {0};
    io.q = q, io.k = q, io.v = q, io.o = out, io.g = gate ? g : NULL;
    double best = 1e30;
    char detail[512] = "";
    for (int it = 0; it < 12; it++) {
        ocla_profile_begin(ctx);
        ocla_status st = ocla_attention_forward(ctx, &p, &io); /* the plan picks the tensor cores on NVIDIA */
        double ms;
        ocla_profile_end(ctx, &ms, NULL);
        if (st != OCLA_SUCCESS) return fprintf(stderr, "%s: %s\n", ocla_status_string(st), ocla_last_error(ctx)), 1;
        if (it >= 2 && ms < best) {
            best = ms;
            ocla_profile_detail(ctx, detail, sizeof detail);
        }
    }
    double C = 64, flop = (double)B * H * T * (4 * C * D + 4.0 * D * D);
    printf("nv mma gate=%d (B,T,H,D)=(%d,%d,%d,%d): %.3f ms, %.1f TFLOP/s (model flops, 1x)\n", gate, B, T, H, D, best,
           flop / best * 1e-9);
    printf("  %s\n", detail);
    ocla_tensor_destroy(q), ocla_tensor_destroy(g), ocla_tensor_destroy(out);
    ocla_context_destroy(ctx);
    return 0;
}
