/* Tiled (flash-style) softmax attention: kernels_cl/softmax.cl. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ocla_softmax_params_defaults(ocla_softmax_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->causal = 1;
    p->scale = 1.0f;
}

#define SM_MAX_D 256

static int pad_dim(int64_t d) { return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256; }

/* Block rule (own, not the scheduler's OCLA_OP_SOFTMAX_TILED row, which models a different
 * kernel): the largest of 64, 32, 16 whose key+value tiles take at most half the device's local
 * memory and that the work-group limit allows. */
static int pick_block(const ocla_device_info *info, int dk, int dv) {
    static const int cand[] = {64, 32, 16};
    for (int i = 0; i < 3; i++) {
        uint64_t bytes = 4ull * (uint64_t)cand[i] * (uint64_t)(dk + dv);
        if (bytes * 2 <= info->local_mem_size && (uint64_t)cand[i] <= info->max_work_group_size) return cand[i];
    }
    return 0;
}

static ocla_status set_tensor(ocla_context *ctx, cl_kernel k, cl_uint *i, const ocla_tensor *t) {
    ocla_status st = OCLA_ARG(ctx, k, (*i)++, t->mem);
    cl_long off = (cl_long)t->offset;
    if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, k, (*i)++, off);
    for (int d = 0; d < 4 && st == OCLA_SUCCESS; d++) {
        cl_long s = (cl_long)t->strides[d];
        st = OCLA_ARG(ctx, k, (*i)++, s);
    }
    return st;
}

static ocla_status run(ocla_context *ctx, const ocla_softmax_params *p, const ocla_tensor *q, const ocla_tensor *k,
                       const ocla_tensor *v, ocla_tensor *o) {
    ocla_status st;
    if ((st = ocla__check_tensor(ctx, q, "q", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t B = q->dims[0], T = q->dims[1], H = q->dims[2], K = q->dims[3];
    const int64_t kd[4] = {B, -1, H, K};
    if ((st = ocla__check_tensor(ctx, k, "k", 4, kd)) != OCLA_SUCCESS) return st;
    const int64_t Tk = k->dims[1];
    if ((st = ocla__check_tensor(ctx, v, "v", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t V = v->dims[3];
    const int64_t vd[4] = {B, Tk, H, V}, od[4] = {B, T, H, V};
    if ((st = ocla__check_tensor(ctx, v, "v", 4, vd)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor(ctx, o, "o", 4, od)) != OCLA_SUCCESS) return st;
    if (p->causal && Tk != T)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_softmax_attention: causal needs as many keys as queries (%lld vs %lld)",
                          (long long)Tk, (long long)T);
    if (Tk == 0 && T > 0)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_softmax_attention: no keys for %lld queries", (long long)T);
    if (K > SM_MAX_D || V > SM_MAX_D)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_softmax_attention: K=%lld, V=%lld; at most %d each",
                          (long long)K, (long long)V, SM_MAX_D);
    if (T > INT32_MAX / 2 || Tk > INT32_MAX / 2 || B * H > INT32_MAX / 2)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_softmax_attention: T or B*H beyond 2^30");
    if (p->block != 0 && p->block != 16 && p->block != 32 && p->block != 64)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_softmax_attention: block %d (0, 16, 32 or 64)",
                          p->block);
    if (B * T * H == 0) return OCLA_SUCCESS;
    const int dk = pad_dim(K), dv = pad_dim(V);
    int bq = p->block ? p->block : pick_block(&ctx->info, dk, dv);
    if (!bq || 4ull * (uint64_t)bq * (uint64_t)(dk + dv) > ctx->info.local_mem_size ||
        (uint64_t)bq > ctx->info.max_work_group_size)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "ocla_softmax_attention: block %d with K=%lld, V=%lld does not fit this device's %llu "
                          "bytes of local memory / work-group limit %llu",
                          bq, (long long)K, (long long)V, (unsigned long long)ctx->info.local_mem_size,
                          (unsigned long long)ctx->info.max_work_group_size);
    char opts[96];
    cl_kernel kern;
    for (;;) { /* the kernel's own work-group limit (private memory: llvmpipe allows 32 at K = 32) */
        snprintf(opts, sizeof opts, "-DBQ=%d -DDK=%d -DDV=%d", bq, dk, dv);
        if ((st = ocla__get_kernel(ctx, "softmax", opts, "sm_forward", &kern)) != OCLA_SUCCESS) return st;
        uint64_t wg = 0, lm = 0;
        if ((st = ocla__kernel_limits(ctx, kern, &wg, &lm)) != OCLA_SUCCESS) return st;
        if (wg == 0 || (uint64_t)bq <= wg) break;
        if (p->block || bq == 16)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              "ocla_softmax_attention: block %d exceeds the kernel's work-group limit %llu here", bq,
                              (unsigned long long)wg);
        bq /= 2;
    }
    const size_t rows = (size_t)((T + bq - 1) / bq) * (size_t)bq;
    const int nblk = (int)((Tk + bq - 1) / bq);
    /* Key blocks per launch: all of them, except on Mesa llvmpipe, whose work-items stop silently
     * after 65535 loop iterations in total: there a launch covers as many key blocks as keep the
     * worst case (every key a new maximum) under 60000 iterations, and (m, l, acc) carry over in
     * scratch slot 4 between launches. */
    int per_launch = nblk;
    if (ctx->info.vendor == OCLA_VENDOR_MESA) {
        int64_t per_key = K + 2 * V + 3 + (dk + dv) / bq;
        int64_t keys = (60000 - 2 * (int64_t)dk - 4 * (int64_t)dv) / per_key;
        per_launch = (int)(keys / bq > 1 ? keys / bq : 1);
        if (per_launch > nblk) per_launch = nblk;
    }
    cl_mem stbuf = q->mem;
    if (per_launch < nblk) {
        size_t bytes;
        if (!ocla__mul_ok(rows * (size_t)(B * H), (size_t)(dv + 2) * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_softmax_attention: state size overflows");
        if ((st = ocla__scratch(ctx, 4, bytes, &stbuf)) != OCLA_SUCCESS) return st;
    }
    for (int kb0 = 0; kb0 < nblk; kb0 += per_launch) {
        cl_uint i = 0;
        if ((st = set_tensor(ctx, kern, &i, q)) != OCLA_SUCCESS || (st = set_tensor(ctx, kern, &i, k)) != OCLA_SUCCESS ||
            (st = set_tensor(ctx, kern, &i, v)) != OCLA_SUCCESS || (st = set_tensor(ctx, kern, &i, o)) != OCLA_SUCCESS)
            return st;
        cl_int Ti = (cl_int)T, Tki = (cl_int)Tk, Hi = (cl_int)H, Ki = (cl_int)K, Vi = (cl_int)V, causal = p->causal ? 1 : 0;
        cl_int a0 = kb0, a1 = kb0 + per_launch, first = kb0 == 0, fin = kb0 + per_launch >= nblk;
        cl_float scale = p->has_scale ? p->scale : (cl_float)(1.0 / sqrt((double)K));
        if ((st = OCLA_ARG(ctx, kern, i++, Ti)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, kern, i++, Tki)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, Hi)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, Ki)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, kern, i++, Vi)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, scale)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, causal)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, kern, i++, a0)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, a1)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, kern, i++, first)) != OCLA_SUCCESS ||
            (st = OCLA_ARG(ctx, kern, i++, fin)) != OCLA_SUCCESS || (st = OCLA_ARG(ctx, kern, i++, stbuf)) != OCLA_SUCCESS)
            return st;
        size_t global[2] = {rows, (size_t)(B * H)};
        size_t local[2] = {(size_t)bq, 1};
        if ((st = ocla__launch(ctx, kern, 2, global, local, "softmax attention")) != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla_softmax_attention(ocla_context *ctx, const ocla_softmax_params *params, const ocla_tensor *q,
                                   const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_softmax_attention: ctx is NULL");
    if (!params) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_softmax_attention: params is NULL");
    OCLA_LOCK(ctx);
    ocla_status st = run(ctx, params, q, k, v, o);
    OCLA_UNLOCK(ctx);
    return st;
}
