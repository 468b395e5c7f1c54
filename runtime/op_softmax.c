/* Tiled (flash-style) softmax attention: kernels_cl/softmax.cl. */
#include "plan.h"
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
#define SM_KS 32 /* sm_tiled's q/k slab width (KS in softmax.cl) */

static int pad_dim(int64_t d) { return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256; }

/* One program variant of kernels_cl/softmax.cl. */
typedef struct sm_cfg {
    int tiled;           /* 1: sm_tiled (register-tiled); 0: sm_forward (one work-item per query row) */
    int block;           /* query rows per work-group */
    int threads;         /* work-items per work-group */
    int tx, ty, rm, kn;  /* sm_tiled: TX x TY items, RM rows x KN keys each; key block TX*KN */
    int vs;              /* sm_tiled: value rows per local slab */
    int lsum;            /* sm_tiled: LSUM (row sums of P through local memory, not in the P V loop) */
    int dk, dv;          /* padded head dims */
    uint64_t local;      /* bytes of local memory (sm_tiled: its __local argument; sm_forward: static) */
} sm_cfg;

/* Tiled shapes: block 16 = 8x4 items (keys 32 at a time), 32 = 16x8, 64 = 16x8 with 8 rows per item
 * where DV <= 128, else 16x16 (keys 64 at a time); each item RM = 4 (8) query rows x 4 keys of scores
 * and RM rows x DV/TX value dims of the output. Measured on the H100 at D = 128: block 64 with 8 rows
 * per item 30 TFLOP/s (255 registers, 4 warps), with 4 rows (16x16 items) 26. The local memory
 * formula is also in the scheduler's softmax row (runtime/plan.c, softmax_fits). The one-row kernel
 * exists at blocks 16 and 32. */
static int cfg_for(int tiled, int block, int64_t K, int64_t V, sm_cfg *c) {
    memset(c, 0, sizeof *c);
    c->tiled = tiled;
    c->block = block;
    c->dk = pad_dim(K);
    c->dv = pad_dim(V);
    if (block != 16 && block != 32 && block != 64) return 1;
    if (!tiled) {
        if (block > 32) return 1;
        c->threads = block;
        c->local = 4ull * (uint64_t)block * (uint64_t)(c->dk + c->dv);
        return 0;
    }
    c->tx = block == 16 ? 8 : 16;
    c->ty = block == 16 ? 4 : block / 4;
    c->rm = 4, c->kn = 4;
    if (block == 64 && c->dv <= 128) c->ty = 8, c->rm = 8; /* 8 x 4 scores, 8 x 8 outputs per item */
    c->threads = c->tx * c->ty;
    if (c->dv < 4 * c->tx) c->dv = 4 * c->tx; /* each item owns whole float4 columns */
    const int bq = c->ty * c->rm, bk = c->tx * c->kn, area = (bq + bk) * (SM_KS + 4);
    c->vs = bk;
    while (c->vs > 1 && c->vs * c->dv > area) c->vs /= 2;
    if ((c->vs * c->dv) % (4 * c->threads) || (bk * SM_KS) % (4 * c->threads) || (bq * SM_KS) % (4 * c->threads))
        return 1;
    const int slab = area > c->vs * c->dv ? area : c->vs * c->dv;
    c->lsum = c->tx == 16; /* row sums from per-item partial sums (block 16: more spills on NVIDIA) */
    c->local = 4ull * (uint64_t)(slab + bk * (bq + 4) + (1 + c->lsum) * c->tx * bq);
    return 0;
}

static int aligned4(const ocla_tensor *t) {
    if (t->strides[3] != 1 || t->offset % 4) return 0;
    for (int d = 0; d < 3; d++)
        if (t->strides[d] % 4) return 0;
    return 1;
}

static ocla_status set_tensor(ocla_args *a, const ocla_tensor *t) {
    cl_long off = (cl_long)t->offset;
    ocla__args_push(a, sizeof(cl_mem), &t->mem);
    ocla__args_push(a, sizeof off, &off);
    for (int d = 0; d < 4; d++) {
        cl_long s = (cl_long)t->strides[d];
        ocla__args_push(a, sizeof s, &s);
    }
    return a->st;
}

/* Worst-case loop iterations of one work-item per key block (every loop counted as if not unrolled,
 * every key a new maximum), for Mesa llvmpipe's limiter; and the fixed part outside the key loop. */
static int64_t iters_per_key_block(const sm_cfg *c, int64_t K, int64_t V) {
    if (!c->tiled) return (int64_t)c->block * (K + 2 * V + 3) + (c->dk + c->dv);
    const int64_t bq = c->ty * c->rm, bk = c->tx * c->kn, nks = c->dk / SM_KS, nvs = bk / c->vs;
    const int64_t kld = bk * SM_KS / (4 * c->threads), qld = bq * SM_KS / (4 * c->threads);
    const int64_t vld = (int64_t)c->vs * c->dv / (4 * c->threads), vc = c->dv / (4 * c->tx), rm4 = c->rm / 4;
    int64_t n = nks * (1 + 2 * (kld + qld) + (SM_KS / 4) * (1 + c->rm + c->kn + c->rm * c->kn));
    n += c->rm * (1 + c->kn) + rm4 + c->tx * (1 + rm4) + c->rm * (1 + vc + c->kn) + c->kn * (1 + rm4) + 2 * vld;
    n += nvs * (1 + 2 * vld + c->vs * (1 + rm4 + c->rm + vc * (1 + c->rm))) + c->lsum * c->tx * (1 + rm4);
    return n;
}

/* Build the variant; 0 in *fits when the kernel's own work-group limit or the local memory left
 * beside its static local memory does not take it. */
static ocla_status get_variant(ocla_context *ctx, const sm_cfg *c, int vec4, cl_kernel *kern, int *fits) {
    char opts[160];
    if (c->tiled)
        snprintf(opts, sizeof opts, "-DTX=%d -DTY=%d -DRM=%d -DKN=%d -DVS=%d -DDK=%d -DDV=%d -DVEC4=%d -DLSUM=%d",
                 c->tx, c->ty, c->rm, c->kn, c->vs, c->dk, c->dv, vec4, c->lsum);
    else
        snprintf(opts, sizeof opts, "-DBQ=%d -DDK=%d -DDV=%d", c->block, c->dk, c->dv);
    *fits = 0;
    ocla_status st = ocla__get_kernel(ctx, "softmax", opts, c->tiled ? "sm_tiled" : "sm_forward", kern);
    if (st != OCLA_SUCCESS) return st;
    uint64_t wg = 0, lm = 0;
    if ((st = ocla__kernel_limits(ctx, *kern, &wg, &lm)) != OCLA_SUCCESS) return st;
    uint64_t need = c->tiled ? lm + c->local : (lm > c->local ? lm : c->local);
    *fits = (wg == 0 || (uint64_t)c->threads <= wg) && (uint64_t)c->threads <= ctx->info.max_work_group_size &&
            (uint64_t)c->threads <= ctx->info.max_work_item_sizes[0] && need <= ctx->info.local_mem_size;
    return OCLA_SUCCESS;
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
    const int vec4 = K % 4 == 0 && V % 4 == 0 && aligned4(q) && aligned4(k) && aligned4(v) && aligned4(o);
    /* Candidates in order: the forced block (register-tiled, else one row per item), or from the
     * scheduler's pick (runtime/plan.c, OCLA_OP_SOFTMAX_TILED, on the device's limits with the probe
     * kernel's work-group limit) down the list register-tiled 64, 32, 16, one-row 32, 16: the first
     * whose work-group and local memory this device and the built kernel take. */
    static const int order[][2] = {{1, 64}, {1, 32}, {1, 16}, {0, 32}, {0, 16}};
    int cand[5][2], nc = 0;
    if (p->block) {
        cand[nc][0] = 1, cand[nc][1] = p->block, nc++;
        cand[nc][0] = 0, cand[nc][1] = p->block, nc++;
    } else {
        size_t start = 0;
        ocla_plan_limits L;
        ocla_plan plan;
        ocla_plan_request r = {OCLA_OP_SOFTMAX_TILED, B, T, H, K, V, 0, 0, 0, 0};
        if ((st = ocla__plan_limits(ctx, &L)) != OCLA_SUCCESS) return st;
        if (ocla_plan_compute(&L, &r, &plan) == OCLA_SUCCESS)
            for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
                if (order[i][1] == plan.chunk && order[i][0] == (plan.wg_x != plan.chunk)) start = i;
        for (size_t i = start; i < sizeof order / sizeof order[0]; i++)
            cand[nc][0] = order[i][0], cand[nc][1] = order[i][1], nc++;
    }
    sm_cfg cfg;
    cl_kernel kern = NULL;
    int found = 0;
    for (int i = 0; i < nc && !found; i++) {
        if (cfg_for(cand[i][0], cand[i][1], K, V, &cfg)) continue;
        /* the one-row kernel's own pick: key+value tiles in at most half the local memory */
        if (!p->block && !cfg.tiled && cfg.local * 2 > ctx->info.local_mem_size) continue;
        if ((st = get_variant(ctx, &cfg, vec4, &kern, &found)) != OCLA_SUCCESS) return st;
    }
    if (!found)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "ocla_softmax_attention: block %d with K=%lld, V=%lld does not fit this device's %llu "
                          "bytes of local memory / work-group limits",
                          p->block, (long long)K, (long long)V, (unsigned long long)ctx->info.local_mem_size);
    const int bq = cfg.block;
    const int64_t bk = cfg.tiled ? (int64_t)cfg.tx * cfg.kn : bq;
    const int nqb = (int)((T + bq - 1) / bq);
    const size_t rows = (size_t)nqb * (size_t)bq;
    const int nkb = (int)((Tk + bk - 1) / bk);
    /* Key blocks per launch: all of them, except on Mesa llvmpipe, whose work-items stop silently
     * after 65535 loop iterations in total: there a launch covers as many key blocks as keep the
     * worst case under 60000 iterations, and (m, l, acc) carry over in scratch slot 4 between
     * launches. */
    int per_launch = nkb;
    if (ctx->info.vendor == OCLA_VENDOR_MESA) {
        int64_t fixed = 2 * (int64_t)cfg.dk + 4 * (int64_t)cfg.dv + 64;
        int64_t n = (60000 - fixed) / iters_per_key_block(&cfg, K, V);
        per_launch = (int)(n > 1 ? n : 1);
        if (per_launch > nkb) per_launch = nkb;
    }
    cl_mem stbuf = q->mem;
    if (per_launch < nkb) {
        size_t bytes;
        if (!ocla__mul_ok(rows * (size_t)(B * H), (size_t)(cfg.dv + 2) * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_softmax_attention: state size overflows");
        if ((st = ocla__scratch(ctx, 4, bytes, &stbuf)) != OCLA_SUCCESS) return st;
    }
    const cl_float scale = p->has_scale ? p->scale : (cl_float)(1.0 / sqrt((double)K));
    for (int kb0 = 0; kb0 < nkb; kb0 += per_launch) {
        ocla_args a = {ctx, kern, 0, OCLA_SUCCESS};
        set_tensor(&a, q), set_tensor(&a, k), set_tensor(&a, v), set_tensor(&a, o);
        cl_int Ti = (cl_int)T, Tki = (cl_int)Tk, Hi = (cl_int)H, Ki = (cl_int)K, Vi = (cl_int)V, causal = p->causal ? 1 : 0;
        cl_int a0 = kb0, a1 = kb0 + per_launch, first = kb0 == 0, fin = kb0 + per_launch >= nkb;
        ocla__args_push(&a, sizeof Ti, &Ti);
        ocla__args_push(&a, sizeof Tki, &Tki);
        ocla__args_push(&a, sizeof Hi, &Hi);
        ocla__args_push(&a, sizeof Ki, &Ki);
        ocla__args_push(&a, sizeof Vi, &Vi);
        ocla__args_push(&a, sizeof scale, &scale);
        ocla__args_push(&a, sizeof causal, &causal);
        ocla__args_push(&a, sizeof a0, &a0);
        ocla__args_push(&a, sizeof a1, &a1);
        ocla__args_push(&a, sizeof first, &first);
        ocla__args_push(&a, sizeof fin, &fin);
        ocla__args_push(&a, sizeof stbuf, &stbuf);
        if (cfg.tiled) ocla__args_push(&a, (size_t)cfg.local, NULL);
        if (a.st != OCLA_SUCCESS) return a.st;
        if (cfg.tiled) {
            /* dim 0: (b, h); dim 1: query blocks, the kernel takes the longest causal rows first */
            size_t global[2] = {(size_t)cfg.threads * (size_t)(B * H), (size_t)nqb};
            size_t local[2] = {(size_t)cfg.threads, 1};
            st = ocla__launch(ctx, kern, 2, global, local, "softmax attention sm_tiled");
        } else {
            size_t global[2] = {rows, (size_t)(B * H)};
            size_t local[2] = {(size_t)bq, 1};
            st = ocla__launch(ctx, kern, 2, global, local, "softmax attention sm_forward");
        }
        if (st != OCLA_SUCCESS) return st;
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
