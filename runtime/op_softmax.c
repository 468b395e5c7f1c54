/* SPDX-License-Identifier: MIT */
/* Tiled (flash-style) softmax attention: kernels_cl/softmax.cl, or on NVIDIA's tensor cores
 * kernels_cl/softmax_mma_nv.cl (the plan's path), planned by runtime/plan_softmax.c.
 * The op runs exactly the plan's kernel and tiles (ocla_plan_explain shows the same plan). Where
 * the built kernel's own limits (its work-group limit, its static local memory) do not take the
 * plan, the op plans again through the scheduler with those limits. Scratch slot 4: the (m, l, acc)
 * rows carried between launches where the keys are split (Mesa llvmpipe). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layer_common.h"
#include "plan.h"

#define FN "ocla_softmax_attention"
#define SLOT_STATE 4

void ocla_softmax_params_defaults(ocla_softmax_params *p) {
    if (p) *p = (ocla_softmax_params){.size = sizeof *p, .causal = 1, .scale = 1.0f};
}

/* Rows of 16 bytes for float4 loads: unit last stride, offset and other strides multiples of 4. */
static int aligned4(const ocla_tensor *t) {
    return t->strides[3] == 1 && t->offset % 4 == 0 && t->strides[0] % 4 == 0 && t->strides[1] % 4 == 0 &&
           t->strides[2] % 4 == 0;
}

/* Worst-case loop iterations of one work-item per key block (every loop counted as if not unrolled,
 * every key a new maximum), for Mesa llvmpipe's limiter. The plan's chunk is the query rows of a
 * work-group, its wg_x the work-items, its bk the keys of a block. */
static int64_t iters_per_key_block(const ocla_plan *p, int tiled, int64_t K, int64_t V) {
    const int32_t *t = p->tile;
    if (!tiled) return (int64_t)p->chunk * (K + 2 * V + 3) + (t[SMR_DK] + t[SMR_DV]);
    const int64_t tx = t[SM_TX], rm = t[SM_RM], kn = t[SM_KN], vs = t[SM_VS], dv = t[SM_DV];
    const int64_t bq = p->chunk, bk = p->bk, nks = t[SM_DK] / OCLA_SM_KS, nvs = bk / vs, nt = p->wg_x;
    const int64_t kld = bk * OCLA_SM_KS / (4 * nt), qld = bq * OCLA_SM_KS / (4 * nt);
    const int64_t vld = vs * dv / (4 * nt), vc = dv / (4 * tx), rm4 = rm / 4;
    int64_t n = nks * (1 + 2 * (kld + qld) + (OCLA_SM_KS / 4) * (1 + rm + kn + rm * kn));
    n += rm * (1 + kn) + rm4 + tx * (1 + rm4) + rm * (1 + vc + kn) + kn * (1 + rm4) + 2 * vld;
    n += nvs * (1 + 2 * vld + vs * (1 + rm4 + rm + vc * (1 + rm))) + t[SM_LSUM] * tx * (1 + rm4);
    return n;
}

/* The plan (ocla__plan_for, as ocla_plan_explain) and its kernel. Where the built kernel's limits do
 * not take the plan, plan again with them: L.kernel_wg_size = the kernel's work-group limit, and
 * L.kernel_local_mem = the local memory the kernel holds beyond what the plan counts (sm_tiled: its
 * static local memory; sm_forward and sm_mma_forward: what it reports beyond what the plan counts,
 * e.g. rusticl's double count).
 * The limits only tighten, so this ends. */
static ocla_status plan_and_build(ocla_context *ctx, const ocla_plan_request *r, ocla_plan *plan, cl_kernel *kern) {
    ocla_plan_limits L;
    ocla_status st = ocla__plan_for(ctx, r, plan);
    if (st == OCLA_SUCCESS) st = ocla__plan_limits(ctx, &L);
    for (int attempt = 0; st == OCLA_SUCCESS; attempt++) {
        const int tiled = !strcmp(plan->kernels, "sm_tiled");
        ocla_variant v;
        if (ocla__plan_kernel_variant(plan, r, plan->kernels, &v))
            return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": no variant for the plan's %s", plan->kernels);
        const ocla_kernel_entry *e;
        if ((st = ocla__variant_entry(ctx, &v, plan->kernels, &e)) != OCLA_SUCCESS) return st;
        const uint64_t threads = (uint64_t)plan->wg_x * (uint64_t)plan->wg_y, lm = e->static_local;
        const uint64_t extra = tiled ? lm : (lm > plan->local_bytes ? lm - plan->local_bytes : 0);
        if ((e->wg_size == 0 || threads <= e->wg_size) && plan->local_bytes + extra <= ctx->info.local_mem_size) {
            *kern = e->kernel;
            return OCLA_SUCCESS;
        }
        const uint64_t W = ocla__plan_wg_limit(&L);
        int tighter = 0;
        if (e->wg_size && e->wg_size < W) L.kernel_wg_size = e->wg_size, tighter = 1;
        if (extra > L.kernel_local_mem) L.kernel_local_mem = extra, tighter = 1;
        if (!tighter || attempt == 4)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              FN ": the built %s (work-group limit %llu, %llu B static local "
                              "memory) does not take its plan (%llu work-items, %llu B)",
                              plan->kernels, (unsigned long long)e->wg_size, (unsigned long long)lm,
                              (unsigned long long)threads, (unsigned long long)plan->local_bytes);
        char was[sizeof plan->kernels + 16];
        snprintf(was, sizeof was, "%s at %d", plan->kernels, plan->chunk);
        if ((st = ocla_plan_compute(&L, r, plan)) != OCLA_SUCCESS) /* ocla__fail formats before it stores */
            return ocla__fail(ctx, st, FN ": %s; with the built kernel's limits: %s", was, ocla_last_error(NULL));
        ocla__log(ctx, OCLA_LOG_DEBUG, "softmax: %s does not fit the built kernel's limits; planned again: %s at %d",
                  was, plan->kernels, plan->chunk);
    }
    return st;
}

/* The NVIDIA tensor-core forward (sm_mma_forward): every key in one launch (the key split is Mesa
 * llvmpipe's), grid (128 work-items x B*H, query blocks of the plan's chunk). */
static ocla_status launch_mma(ocla_context *ctx, cl_kernel kern, const ocla_plan *plan, const ocla_tensor *q,
                              const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o, cl_float scale, int causal) {
    const int64_t B = q->dims[0], T = q->dims[1], H = q->dims[2], Tk = k->dims[1];
    ocla_args a = {ctx, kern, 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, q, NULL, 4), ocla__push_tensor(&a, k, NULL, 4), ocla__push_tensor(&a, v, NULL, 4);
    ocla__push_tensor(&a, o, NULL, 4);
    ocla__push_int(&a, T), ocla__push_int(&a, Tk), ocla__push_int(&a, H);
    ocla__args_push(&a, sizeof scale, &scale);
    ocla__push_int(&a, causal);
    const size_t local[2] = {(size_t)plan->wg_x, 1};
    const size_t global[2] = {local[0] * (size_t)(B * H), (size_t)((T + plan->chunk - 1) / plan->chunk)};
    return ocla__layer_launch(&a, 2, global, local, "softmax attention sm_mma_forward");
}

static ocla_status run(ocla_context *ctx, const ocla_softmax_params *p, const ocla_tensor *q, const ocla_tensor *k,
                       const ocla_tensor *v, ocla_tensor *o) {
    ocla_status st;
    const ocla_dtype dt = q ? q->dtype : OCLA_F32; /* q, k, v, o of one dtype: fp32, bf16 or fp16 */
    if ((st = ocla__check_tensor_as(ctx, q, "q", 4, NULL, dt)) != OCLA_SUCCESS) return st;
    const int64_t B = q->dims[0], T = q->dims[1], H = q->dims[2], K = q->dims[3];
    if ((st = ocla__check_tensor_as(ctx, k, "k (q's B, H, K, dtype)", 4, (int64_t[]){B, -1, H, K}, dt)) != OCLA_SUCCESS)
        return st;
    const int64_t Tk = k->dims[1];
    int64_t V = 0;
    if ((st = ocla__check_vo_as(ctx, v, o, B, Tk, T, H, &V, "q", "k", dt)) != OCLA_SUCCESS) return st;
    const ocla_io_set set = {.in = {q, k, v}, .in_name = {"q", "k", "v"}, .out = {o}, .out_name = {"o"}, .n_in = 3, .n_out = 1};
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    if (p->causal && Tk != T)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": causal needs as many keys as queries (%lld vs %lld)",
                          (long long)Tk, (long long)T);
    if (Tk == 0 && T > 0)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": no keys for %lld queries", (long long)T);
    if (K > OCLA_SM_MAX_D || V > OCLA_SM_MAX_D)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN ": K=%lld, V=%lld; at most %d each",
                          (long long)K, (long long)V, OCLA_SM_MAX_D);
    if (T > INT32_MAX / 2 || Tk > INT32_MAX / 2 || B * H > INT32_MAX / 2)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": T or B*H beyond 2^30");
    if (p->block != 0 && p->block != 16 && p->block != 32 && p->block != 64)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": block %d (0, 16, 32 or 64)", p->block);
    if (B * T * H == 0) return OCLA_SUCCESS;
    /* float4 loads need 16-byte rows: a buffer offset or stride that breaks them is OCLA_PLAN_STRIDED */
    const int rows16 = aligned4(q) && aligned4(k) && aligned4(v) && aligned4(o);
    const ocla_plan_request r = {OCLA_OP_SOFTMAX_TILED, B, T, H, K, V, ocla__resolve_chunk(ctx, p->block),
                                 (rows16 ? 0u : OCLA_PLAN_STRIDED) | ocla__plan_dtype_flags(dt), 0, 0};
    ocla_plan plan;
    cl_kernel kern = NULL;
    if ((st = plan_and_build(ctx, &r, &plan, &kern)) != OCLA_SUCCESS) return st;
    const cl_float scale = p->has_scale ? p->scale : (cl_float)(1.0 / sqrt((double)K));
    if (plan.path == OCLA_PATH_NVIDIA_MMA) return launch_mma(ctx, kern, &plan, q, k, v, o, scale, p->causal ? 1 : 0);
    const int tiled = !strcmp(plan.kernels, "sm_tiled"), bq = plan.chunk;
    const int dk = plan.tile[tiled ? SM_DK : SMR_DK], dv = plan.tile[tiled ? SM_DV : SMR_DV];
    const int nqb = (int)((T + bq - 1) / bq);
    const size_t rows = (size_t)nqb * (size_t)bq;
    const int nkb = (int)((Tk + plan.bk - 1) / plan.bk);
    /* Key blocks per launch: all of them, except on Mesa llvmpipe, whose work-items stop silently
     * after 65535 loop iterations in total: there a launch covers as many key blocks as keep the
     * worst case under 60000 iterations, and (m, l, acc) carry over in the state slot between
     * launches. */
    int per_launch = nkb;
    if (ctx->info.vendor == OCLA_VENDOR_MESA) {
        const int64_t fixed = 2 * (int64_t)dk + 4 * (int64_t)dv + 64;
        const int64_t n = (60000 - fixed) / iters_per_key_block(&plan, tiled, K, V);
        per_launch = (int)(n < 1 ? 1 : n > nkb ? nkb : n);
    }
    cl_mem stbuf = q->mem;
    if (per_launch < nkb) {
        size_t bytes;
        if (!ocla__mul_ok(rows * (size_t)(B * H), (size_t)(dv + 2) * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, FN ": state size overflows");
        if ((st = ocla__scratch(ctx, SLOT_STATE, bytes, &stbuf)) != OCLA_SUCCESS) return st;
    }
    for (int kb0 = 0; kb0 < nkb; kb0 += per_launch) {
        ocla_args a = {ctx, kern, 0, OCLA_SUCCESS};
        ocla__push_tensor(&a, q, NULL, 4), ocla__push_tensor(&a, k, NULL, 4), ocla__push_tensor(&a, v, NULL, 4), ocla__push_tensor(&a, o, NULL, 4);
        ocla__push_int(&a, T), ocla__push_int(&a, Tk), ocla__push_int(&a, H), ocla__push_int(&a, K), ocla__push_int(&a, V);
        ocla__args_push(&a, sizeof scale, &scale);
        ocla__push_int(&a, p->causal ? 1 : 0), ocla__push_int(&a, kb0), ocla__push_int(&a, kb0 + per_launch);
        ocla__push_int(&a, kb0 == 0), ocla__push_int(&a, kb0 + per_launch >= nkb);
        ocla__args_push(&a, sizeof stbuf, &stbuf);
        if (tiled) ocla__args_push(&a, (size_t)plan.local_bytes, NULL);
        /* sm_tiled: dim 0 (b, h), dim 1 query blocks (the kernel takes the longest causal rows first);
         * sm_forward: dim 0 query rows, dim 1 (b, h) */
        const size_t bh = (size_t)(B * H), local[2] = {(size_t)plan.wg_x, 1};
        const size_t global[2] = {tiled ? local[0] * bh : rows, tiled ? (size_t)nqb : bh};
        const char *what = tiled ? "softmax attention sm_tiled" : "softmax attention sm_forward";
        if ((st = ocla__layer_launch(&a, 2, global, local, what)) != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla_softmax_attention(ocla_context *ctx, const ocla_softmax_params *params, const ocla_tensor *q,
                                   const ocla_tensor *k, const ocla_tensor *v, ocla_tensor *o) {
    ocla_softmax_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_SOFTMAX_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, params, run(ctx, params, q, k, v, o));
}
