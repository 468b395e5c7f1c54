/* SPDX-License-Identifier: MIT */
/* ocla_selftest: build and run the smallest kernel, compare with the host. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

ocla_status ocla_selftest(ocla_context *ctx, double *build_seconds) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_selftest: ctx is NULL");
    enum { N = 1000 };
    OCLA_LOCK(ctx);
    cl_mem x = NULL, y = NULL;
    float *hx = malloc(2 * N * sizeof(float)), *hy = hx ? hx + N : NULL;
    ocla_status st = hx ? OCLA_SUCCESS : ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_selftest: out of host memory");
    cl_kernel k = NULL;
    double t0 = ocla_now_seconds();
    ocla_variant v = ocla__variant(&ocla_fam_selftest);
    if (st == OCLA_SUCCESS) st = ocla__variant_kernel(ctx, &v, "ocla_selftest_axpy", &k);
    if (build_seconds) *build_seconds = ocla_now_seconds() - t0;
    if (st == OCLA_SUCCESS) st = ocla__alloc(ctx, N * sizeof(float), &x, "selftest");
    if (st == OCLA_SUCCESS) st = ocla__alloc(ctx, N * sizeof(float), &y, "selftest");
    if (st == OCLA_SUCCESS) {
        for (int i = 0; i < N; i++) hx[i] = (float)i, hy[i] = 1.0f;
        cl_int err = clEnqueueWriteBuffer(ctx->queue, x, CL_TRUE, 0, N * sizeof(float), hx, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = clEnqueueWriteBuffer(ctx->queue, y, CL_TRUE, 0, N * sizeof(float), hy, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "selftest");
    }
    ocla_args args = {ctx, k, 0, st}; /* skipped after a failure */
    ocla__push_int(&args, N);
    ocla__push_float(&args, 2.0f);
    ocla__push_mem(&args, x);
    ocla__push_mem(&args, y);
    st = args.st;
    /* The kernel's own limit can be far below the device's (rusticl/llvmpipe: 32 of 1024). */
    uint64_t kwg = 0;
    if (st == OCLA_SUCCESS) st = ocla__kernel_limits(ctx, k, &kwg, NULL);
    size_t global = N, local = kwg < 64 ? (size_t)kwg : 64;
    if (st == OCLA_SUCCESS) st = ocla__launch(ctx, k, 1, &global, &local, "selftest");
    if (st == OCLA_SUCCESS) {
        cl_int err = clEnqueueReadBuffer(ctx->queue, y, CL_TRUE, 0, N * sizeof(float), hy, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueReadBuffer", "selftest");
    }
    for (int i = 0; st == OCLA_SUCCESS && i < N; i++)
        if (fabsf(hy[i] - (2.0f * (float)i + 1.0f)) > 1e-3f)
            st = ocla__fail(ctx, OCLA_ERR_INTERNAL, "selftest: wrong result at %d: %g (expected %g)", i, hy[i],
                            2.0 * i + 1.0);
    if (x) clReleaseMemObject(x);
    if (y) clReleaseMemObject(y);
    free(hx);
    OCLA_UNLOCK(ctx);
    return st;
}

/* Build the programs of the common ops for this device, so later calls start at once. */
ocla_status ocla_warmup(ocla_context *ctx, double *seconds) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_warmup: ctx is NULL");
    double t0 = ocla_now_seconds();
    ocla_status st = ocla_selftest(ctx, NULL);
    if (st == OCLA_SUCCESS) {
        /* One tiny chunked and recurrent forward per gate family builds their default variants. */
        int64_t d4[4] = {1, 8, 1, 8}, d3[3] = {1, 8, 1};
        ocla_tensor *q = NULL, *o = NULL, *g = NULL, *gs = NULL;
        st = ocla_tensor_create(ctx, OCLA_F32, 4, d4, &q);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 4, d4, &o);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 4, d4, &g);
        if (st == OCLA_SUCCESS) st = ocla_tensor_create(ctx, OCLA_F32, 3, d3, &gs);
        for (int gate = OCLA_GATE_NONE; st == OCLA_SUCCESS && gate <= OCLA_GATE_VECTOR; gate++)
            for (int form = OCLA_FORM_CHUNKED; st == OCLA_SUCCESS && form <= OCLA_FORM_RECURRENT; form++) {
                ocla_attn_params p;
                ocla_attn_params_defaults(&p);
                p.gate = (ocla_gate_kind)gate;
                p.form = (ocla_attn_form)form;
                ocla_attn_io io = {0};
                io.q = q, io.k = q, io.v = q, io.o = o;
                io.g = gate == OCLA_GATE_VECTOR ? g : gate == OCLA_GATE_SCALAR ? gs : NULL;
                st = ocla_attention_forward(ctx, &p, &io);
            }
        ocla_tensor_destroy(q);
        ocla_tensor_destroy(o);
        ocla_tensor_destroy(g);
        ocla_tensor_destroy(gs);
    }
    if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
    if (seconds) *seconds = ocla_now_seconds() - t0;
    return st;
}
