/* SPDX-License-Identifier: MIT */
/* Backward of the tiled softmax attention (include/ocla/softmax.h, ocla_softmax_backward):
 * kernels_cl/softmax_bwd.cl, planned by runtime/plan_softmax.c (OCLA_OP_SOFTMAX_BACKWARD).
 *
 * validate -> plan (BQ BK DS DK DV) -> the three kernels of the plan's variant (planned again with
 * a built kernel's own limits where they do not take the plan) -> smb_stats (each query row's
 * logsumexp and D = do . o into scratch slot 4, [B*H][T][2] floats), smb_dq (dq), smb_dkv (dk, dv). The logsumexp is recomputed rather than saved by the forward: the forward's API and
 * kernels stay as they are, and the recomputation is one of the backward's eight T x T products.
 * Where the blocks are split over launches (Mesa llvmpipe), dq, dk and dv accumulate in fp32 in
 * scratch slot 3 ([B*H][rows][DK + DV] floats; no attention op runs inside this one) and the final
 * launch stores them: a half gradient is rounded once, as in one launch.
 * Half precision: q, k, v, o, d_o, dq, dk, dv all of q's dtype (the variant's -DOCLA_DTYPE). */
#include <math.h>

#include "layer_common.h"
#include "plan.h"

#define FN "ocla_softmax_backward"
#define SLOT_STATS 4 /* the forward's slot: one op at a time under the context lock */
#define SLOT_GACC 3  /* the gradients' fp32 accumulators between split launches */

/* The plan and its three kernels. A built kernel whose work-group limit or static local memory does
 * not take the plan tightens the limits and plans again (at most twice: the limits only tighten). */
static ocla_status plan_kernels(ocla_context *ctx, const ocla_plan_request *r, ocla_plan *plan, cl_kernel kern[3]) {
    static const char *const names[3] = {"smb_stats", "smb_dq", "smb_dkv"};
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    if (st == OCLA_SUCCESS) st = ocla__plan_with(ctx, &L, r, plan);
    for (int attempt = 0; st == OCLA_SUCCESS; attempt++) {
        int tighter = 0;
        for (int i = 0; i < 3; i++) {
            ocla_variant v;
            const ocla_kernel_entry *e;
            if (ocla__plan_kernel_variant(plan, r, names[i], &v))
                return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": no variant for %s", names[i]);
            if ((st = ocla__variant_entry(ctx, &v, names[i], &e)) != OCLA_SUCCESS) return st;
            kern[i] = e->kernel;
            if (e->wg_size && e->wg_size < (uint64_t)plan->wg_x && e->wg_size < ocla__plan_wg_limit(&L))
                L.kernel_wg_size = e->wg_size, tighter = 1;
            if (plan->local_bytes + e->static_local > ctx->info.local_mem_size && e->static_local > L.kernel_local_mem)
                L.kernel_local_mem = e->static_local, tighter = 1;
        }
        if (!tighter) return OCLA_SUCCESS;
        if (attempt == 2)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN ": the built kernels do not take their plan (%d work-items, "
                              "%llu B local memory)", plan->wg_x, (unsigned long long)plan->local_bytes);
        st = ocla__plan_with(ctx, &L, r, plan);
    }
    return st;
}

/* Blocks of the other side per launch: all of them, except on Mesa llvmpipe, whose work-items stop
 * silently after 65535 loop iterations in total (see op_softmax.c): there the worst case per block
 * (every loop counted as if not unrolled) is kept under 60000 iterations per launch. */
static int blocks_per_launch(const ocla_context *ctx, const int32_t *t, int nblk) {
    if (ctx->info.vendor != OCLA_VENDOR_MESA) return nblk;
    const int64_t bq = t[SMB_BQ], bk = t[SMB_BK], ds = t[SMB_DS], dk = t[SMB_DK], dv = t[SMB_DV];
    const int64_t na = dk / ds, nb = dv / ds, nt = bq * ds;
    const int64_t per = 2 * bk * (1 + na + nb) + (bk * (dk + dv) + 2 * bk) / nt + 2 + (bk / ds + 1) * (2 * ds + 2);
    const int64_t n = (60000 - 4 * (na + nb) - 3 * ds - 64) / per;
    return (int)(n < 1 ? 1 : n > nblk ? nblk : n);
}

typedef struct smb_call {
    ocla_context *ctx;
    const ocla_softmax_params *p;
    const ocla_softmax_grad_io *io;
    int64_t B, T, Tk, H, K, V;
    float scale;
    cl_mem st, gacc;
    ocla_plan plan;
} smb_call;

/* The head every launch shares: T, Tk, H, K, V, scale, causal. */
static void push_head(ocla_args *a, const smb_call *c) {
    ocla__push_int(a, c->T), ocla__push_int(a, c->Tk), ocla__push_int(a, c->H), ocla__push_int(a, c->K);
    ocla__push_int(a, c->V);
    ocla__args_push(a, sizeof c->scale, &c->scale);
    ocla__push_int(a, c->p->causal ? 1 : 0);
}

enum { K_STATS, K_DQ, K_DKV }; /* the plan's kernels, in launch order */

/* Kernel `which`'s launches over the blocks of the other side (key blocks for smb_stats and smb_dq,
 * query blocks for smb_dkv): one, or several where blocks_per_launch splits them. */
static ocla_status run_kernel(const smb_call *c, cl_kernel kern, int which) {
    static const char *const what[3] = {"softmax backward lse", "softmax backward dq", "softmax backward dk dv"};
    const ocla_softmax_grad_io *io = c->io;
    const ocla_tensor *const t[3][6] = {{io->q, io->k, io->o, io->d_o},
                                        {io->q, io->k, io->v, io->d_o, io->dq},
                                        {io->q, io->k, io->v, io->d_o, io->dk, io->dv}};
    const int bq = c->plan.tile[SMB_BQ], bk = c->plan.tile[SMB_BK], nt = c->plan.wg_x;
    const int64_t own = which == K_DKV ? c->Tk : c->T, other = which == K_DKV ? c->T : c->Tk;
    const int nblk = (int)((other + bk - 1) / bk), per = blocks_per_launch(c->ctx, c->plan.tile, nblk);
    const size_t local[2] = {(size_t)nt, 1}, global[2] = {(size_t)nt * (size_t)(c->B * c->H), (size_t)((own + bq - 1) / bq)};
    for (int b0 = 0; b0 < nblk; b0 += per) {
        ocla_args a = {c->ctx, kern, 0, OCLA_SUCCESS};
        for (int i = 0; i < 4 + which; i++) ocla__push_tensor(&a, t[which][i], NULL, 4);
        push_head(&a, c);
        ocla__push_int(&a, b0), ocla__push_int(&a, b0 + per), ocla__push_int(&a, b0 == 0);
        ocla__push_int(&a, b0 + per >= nblk); /* the final launch writes (lse, D), or the gradients */
        ocla__args_push(&a, sizeof c->st, &c->st);
        if (which != K_STATS) ocla__args_push(&a, sizeof c->gacc, &c->gacc);
        ocla__args_push(&a, (size_t)c->plan.local_bytes, NULL);
        const ocla_status st = ocla__layer_launch(&a, 2, global, local, what[which]);
        if (st != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

static ocla_status check(ocla_context *ctx, const ocla_softmax_params *p, const ocla_softmax_grad_io *io, smb_call *c) {
    ocla_status st;
    const ocla_dtype dt = io->q ? io->q->dtype : OCLA_F32; /* every tensor of q's dtype */
    if ((st = ocla__check_tensor_as(ctx, io->q, "q", 4, NULL, dt)) != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], K = io->q->dims[3];
    if ((st = ocla__check_tensor_as(ctx, io->k, "k (q's B, H, K, dtype)", 4, (int64_t[]){B, -1, H, K}, dt)) != OCLA_SUCCESS)
        return st;
    const int64_t Tk = io->k->dims[1];
    int64_t V = 0;
    if ((st = ocla__check_vo_as(ctx, io->v, io->o, B, Tk, T, H, &V, "q", "k", dt)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor_as(ctx, io->d_o, "d_o (o's dims)", 4, io->o->dims, dt)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor_as(ctx, io->dq, "dq (q's dims)", 4, io->q->dims, dt)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor_as(ctx, io->dk, "dk (k's dims)", 4, io->k->dims, dt)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor_as(ctx, io->dv, "dv (v's dims)", 4, io->v->dims, dt)) != OCLA_SUCCESS) return st;
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->o, io->d_o},
                             .in_name = {"q", "k", "v", "o", "d_o"},
                             .out = {io->dq, io->dk, io->dv},
                             .out_name = {"dq", "dk", "dv"},
                             .n_in = 5,
                             .n_out = 3};
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    if (p->causal && Tk != T)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": causal needs as many keys as queries (%lld vs %lld)",
                          (long long)Tk, (long long)T);
    if (Tk == 0 && T > 0) return ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": no keys for %lld queries", (long long)T);
    if (K > OCLA_SM_MAX_D || V > OCLA_SM_MAX_D)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN ": K=%lld, V=%lld; at most %d each", (long long)K, (long long)V,
                          OCLA_SM_MAX_D);
    if (T > INT32_MAX / 2 || Tk > INT32_MAX / 2 || B * H > INT32_MAX / 2)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": T or B*H beyond 2^30");
    if (p->block != 0 && p->block != 16 && p->block != 32 && p->block != 64)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": block %d (0, 16, 32 or 64)", p->block);
    if (p->has_scale && !isfinite(p->scale))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": scale %g is not finite", (double)p->scale);
    *c = (smb_call){.ctx = ctx, .p = p, .io = io, .B = B, .T = T, .Tk = Tk, .H = H, .K = K, .V = V};
    c->scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)K));
    return OCLA_SUCCESS;
}

static ocla_status run(ocla_context *ctx, const ocla_softmax_params *p, const ocla_softmax_grad_io *io) {
    smb_call c;
    ocla_status st = check(ctx, p, io, &c);
    if (st != OCLA_SUCCESS) return st;
    if (c.B * c.T * c.Tk * c.H * c.K * c.V == 0) return OCLA_SUCCESS; /* (tensors have no empty dims today) */
    const ocla_plan_request r = {OCLA_OP_SOFTMAX_BACKWARD, c.B, c.T, c.H, c.K, c.V, ocla__resolve_chunk(ctx, p->block),
                                 ocla__plan_dtype_flags(io->q->dtype), 0, 0};
    cl_kernel kern[3];
    if ((st = plan_kernels(ctx, &r, &c.plan, kern)) != OCLA_SUCCESS) return st;
    size_t bytes;
    if (!ocla__mul_ok((size_t)(c.B * c.H), (size_t)c.T * 8, &bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, FN ": the row statistics' size overflows");
    if ((st = ocla__scratch(ctx, SLOT_STATS, bytes, &c.st)) != OCLA_SUCCESS) return st;
    /* the gradients' accumulators, where a kernel's blocks are split over launches */
    const int64_t rows = c.T > c.Tk ? c.T : c.Tk, w = c.plan.tile[SMB_DK] + c.plan.tile[SMB_DV];
    const int nblk = (int)((rows + c.plan.tile[SMB_BK] - 1) / c.plan.tile[SMB_BK]);
    c.gacc = c.st; /* not read where nothing is split */
    if (blocks_per_launch(ctx, c.plan.tile, nblk) < nblk) {
        if (!ocla__mul_ok((size_t)(c.B * c.H) * (size_t)rows, (size_t)w * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, FN ": the gradient accumulators' size overflows");
        if ((st = ocla__scratch(ctx, SLOT_GACC, bytes, &c.gacc)) != OCLA_SUCCESS) return st;
    }
    for (int i = K_STATS; i <= K_DKV && st == OCLA_SUCCESS; i++) st = run_kernel(&c, kern[i], i);
    return st;
}

ocla_status ocla_softmax_backward(ocla_context *ctx, const ocla_softmax_params *params, const ocla_softmax_grad_io *io) {
    ocla_softmax_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_SOFTMAX_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, io, run(ctx, params, io));
}
