/* SPDX-License-Identifier: MIT */
/* startup_time: seconds from main() to the first finished kernel of an op, for the cold/warm
 * program-cache measurement (docs/BENCHMARKS.md "Start-up"). Run it twice with the same, initially
 * empty, cache directories: the first run is cold, the second warm.
 *
 *   startup_time <device selector> [selftest|gla|linear]
 *
 * Prints one line: device, op, seconds to context, seconds to first finished kernel, cache stats. */
#include <stdio.h>
#include <string.h>

#include "ocla/ocla.h"
#include "platform.h"

int main(int argc, char **argv) {
    double t0 = ocla_now_seconds();
    const char *sel = argc > 1 ? argv[1] : NULL, *op = argc > 2 ? argv[2] : "gla";
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = sel;
    ocla_context *ctx = NULL;
    ocla_status st = ocla_context_create(&o, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "startup_time: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
        return 1;
    }
    double t_ctx = ocla_now_seconds() - t0;
    if (!strcmp(op, "selftest")) {
        st = ocla_selftest(ctx, NULL);
    } else {
        /* One chunked forward at a small shape: builds and runs the op's kernels. */
        enum { B = 1, T = 256, H = 2, D = 64 };
        int64_t dims[4] = {B, T, H, D};
        ocla_tensor *q = NULL, *g = NULL, *o_ = NULL;
        st = ocla_tensor_create(ctx, OCLA_F32, 4, dims, &q);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 4, dims, &g);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 4, dims, &o_);
        if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, q, 0.1f);
        if (st == OCLA_SUCCESS) st = ocla_tensor_fill(ctx, g, -0.05f);
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = !strcmp(op, "gla") ? OCLA_GATE_VECTOR : OCLA_GATE_NONE;
        ocla_attn_io io = {0};
        io.q = q, io.k = q, io.v = q, io.o = o_;
        io.g = p.gate == OCLA_GATE_VECTOR ? g : NULL;
        if (st == OCLA_SUCCESS) st = ocla_attention_forward(ctx, &p, &io);
        if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
        ocla_tensor_destroy(q), ocla_tensor_destroy(g), ocla_tensor_destroy(o_);
    }
    double t_kernel = ocla_now_seconds() - t0;
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "startup_time: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
        ocla_context_destroy(ctx);
        return 1;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    ocla_cache_stats cs;
    ocla_cache_get_stats(ctx, &cs);
    printf("%s | %s | context %.3f s | first kernel done %.3f s | builds %llu, disk hits %llu, disk cache %s\n",
           info.device_name, op, t_ctx, t_kernel, (unsigned long long)cs.builds, (unsigned long long)cs.disk_hits,
           cs.disk_enabled ? "on" : "off (driver cache)");
    ocla_context_destroy(ctx);
    return 0;
}
