/* Backward passes (kernels_cl/attn_bwd.cl): causal chunked linear attention (with the normaliser,
 * through the feature map), simple GLA, retention and GLA; projection backward through CLBlast;
 * a plain SGD step. Math and memory cost: docs/TRAINING.md, section "Backward". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Chunk rule (documented in docs/TRAINING.md): params.chunk, else OCLA_CHUNK, else flash-linear-
 * attention's min(64, max(16, next_pow2(T))). The kernels keep no tile in local memory, so every
 * chunk from 1 to 256 runs on every device; the chunk trades the C x C intra-chunk temporaries
 * against the number of stored chunk states. */
#define BWD_TS 16 /* TS of the tiled A / dA kernels (the .cl default) */

static int pick_chunk(const ocla_context *ctx, const ocla_attn_params *p, int64_t T) {
    if (p->chunk > 0) return p->chunk;
    if (ctx->env_chunk > 0) return ctx->env_chunk;
    int c = 16;
    while (c < 64 && c < T) c *= 2;
    return c;
}

/* Work-group size: the largest power of two <= 64 the kernel allows (checked by ocla__launch). */
static ocla_status launch1d(ocla_context *ctx, cl_kernel k, size_t n, const char *what) {
    uint64_t kwg = 0;
    ocla_status st = ocla__kernel_limits(ctx, k, &kwg, NULL);
    if (st != OCLA_SUCCESS) return st;
    size_t lim = (size_t)kwg;
    if (lim > ctx->info.max_work_group_size) lim = (size_t)ctx->info.max_work_group_size;
    if (lim > ctx->info.max_work_item_sizes[0]) lim = (size_t)ctx->info.max_work_item_sizes[0];
    size_t l = 1;
    while (l * 2 <= lim && l * 2 <= 64) l *= 2;
    size_t g = n;
    return ocla__launch(ctx, k, 1, &g, &l, what);
}

typedef struct targ {
    cl_mem mem;
    cl_long o, s[4];
} targ;

/* A tensor as a kernel argument: a 3-D tensor gets stride 0 in the fourth slot. */
static targ ta(const ocla_tensor *t, cl_mem dummy) {
    targ a;
    memset(&a, 0, sizeof a);
    if (!t) {
        a.mem = dummy;
        return a;
    }
    a.mem = t->mem;
    a.o = (cl_long)t->offset;
    for (int i = 0; i < t->ndim && i < 4; i++) a.s[i] = t->strides[i];
    return a;
}

typedef ocla_args argset; /* runtime/launch.c: consecutive kernel arguments, first failure kept */
#define arg ocla__args_push
#define ARG(a, x) ocla__args_push((a), sizeof(x), &(x))
static void arg_t(argset *a, const targ *t) {
    ARG(a, t->mem);
    ARG(a, t->o);
    for (int i = 0; i < 4; i++) ARG(a, t->s[i]);
}

static ocla_status check_same(ocla_context *ctx, const ocla_tensor *t, const char *name, const ocla_tensor *like) {
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: %s is NULL", name);
    return ocla__check_tensor(ctx, t, name, like->ndim, like->dims);
}

static ocla_status backward_locked(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io) {
    if (!p || !io) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: NULL params or io");
    if (!p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_attention_backward: only the causal form has a backward");
    if (p->feature_map < OCLA_FEATURE_IDENTITY || p->feature_map > OCLA_FEATURE_RELU)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad feature_map %d",
                          (int)p->feature_map);
    if (p->gate < OCLA_GATE_NONE || p->gate > OCLA_GATE_FIXED)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad gate kind %d", (int)p->gate);
    ocla_status st = ocla__check_tensor(ctx, io->q, "q", 4, NULL);
    if (st != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], K = io->q->dims[3];
    if ((st = check_same(ctx, io->k, "k", io->q)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t V = io->v->dims[3];
    int64_t vd[4] = {B, T, H, V}, sd[4] = {B, H, K, V}, zd[3] = {B, H, K}, g3[3] = {B, T, H};
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, vd)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->d_o, "d_o", io->v)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dq, "dq", io->q)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dk, "dk", io->q)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dv, "dv", io->v)) != OCLA_SUCCESS) return st;
    const int vec = p->gate == OCLA_GATE_VECTOR, scal = p->gate == OCLA_GATE_SCALAR;
    if (vec || scal) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: g is NULL");
        st = vec ? ocla__check_tensor(ctx, io->g, "g", 4, io->q->dims) : ocla__check_tensor(ctx, io->g, "g", 3, g3);
        if (st != OCLA_SUCCESS) return st;
        if (io->dg && (st = check_same(ctx, io->dg, "dg", io->g)) != OCLA_SUCCESS) return st;
    } else if (io->dg) {
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: dg must be NULL for %s (the gate is not an input)",
                          p->gate == OCLA_GATE_FIXED ? "a fixed decay" : "ungated attention");
    }
    if (io->initial_state && (st = ocla__check_tensor(ctx, io->initial_state, "initial_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (io->d_final_state && (st = ocla__check_tensor(ctx, io->d_final_state, "d_final_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (io->d_initial_state &&
        (st = ocla__check_tensor(ctx, io->d_initial_state, "d_initial_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (!p->normalize && (io->initial_z || io->d_final_z || io->d_initial_z))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: initial_z, d_final_z and d_initial_z need params.normalize");
    if (io->initial_z && (st = ocla__check_tensor(ctx, io->initial_z, "initial_z", 3, zd)) != OCLA_SUCCESS) return st;
    if (io->d_final_z && (st = ocla__check_tensor(ctx, io->d_final_z, "d_final_z", 3, zd)) != OCLA_SUCCESS) return st;
    if (io->d_initial_z && (st = ocla__check_tensor(ctx, io->d_initial_z, "d_initial_z", 3, zd)) != OCLA_SUCCESS)
        return st;
    if (B < 1 || T < 1 || H < 1 || K < 1 || V < 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_attention_backward: empty shape B=%lld T=%lld H=%lld K=%lld V=%lld",
                          (long long)B, (long long)T, (long long)H, (long long)K, (long long)V);
    if (B * H > INT32_MAX || T > INT32_MAX / 2 || K > 65536 || V > 65536)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: shape beyond the kernels' int ranges");
    const int C = pick_chunk(ctx, p, T);
    if (C < 1 || C > 256)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: chunk %d outside 1..256", C);
    if (p->gate == OCLA_GATE_FIXED && p->fixed_log_decay)
        for (int64_t h = 0; h < H; h++)
            if (!isfinite(p->fixed_log_decay[h]))
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: fixed_log_decay[%lld] is not finite",
                                  (long long)h);

    const int NORM = p->normalize ? 1 : 0, GATE = vec ? 2 : (scal || p->gate == OCLA_GATE_FIXED) ? 1 : 0;
    const int NT = (int)((T + C - 1) / C);
    const size_t BH = (size_t)(B * H), VV = (size_t)V + (size_t)NORM, GW = vec ? (size_t)K : 1;
    float scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)K));
    float eps = p->eps;

    /* Temporaries (bytes): overflow-checked, each below the device's largest allocation. */
    enum { M_GRAW, M_GCUM, M_GEXP, M_GFAC, M_HS, M_DHS, M_DHST, M_A, M_DA, M_DOP, M_DQH, M_DKH, M_DGV, M_DECAY, M_W0, M_COUNT };
    size_t sizes[M_COUNT] = {0};
    size_t x;
    int ok = 1;
    ok &= ocla__mul_ok(BH * (size_t)T, GW * 4, &sizes[M_GRAW]);
    sizes[M_GCUM] = sizes[M_GEXP] = sizes[M_GRAW];
    ok &= ocla__mul_ok(BH * (size_t)(NT + 1), (size_t)K * VV * 4, &sizes[M_HS]);
    ok &= ocla__mul_ok(BH * (size_t)NT, (size_t)K * VV * 4, &sizes[M_DHS]);
    sizes[M_DHST] = sizes[M_DHS];
    ok &= ocla__mul_ok(BH * (size_t)NT, (size_t)C * C * 4, &sizes[M_A]);
    sizes[M_DA] = sizes[M_A];
    ok &= ocla__mul_ok(BH * (size_t)T, VV * 4, &x);
    sizes[M_DOP] = NORM ? x : 0;
    ok &= ocla__mul_ok(BH * (size_t)T, (size_t)K * 4, &sizes[M_DQH]);
    sizes[M_DKH] = sizes[M_DQH];
    sizes[M_DGV] = GATE ? sizes[M_DQH] : 0;
    sizes[M_DECAY] = (size_t)H * 4;
    ok &= ocla__mul_ok(BH, (size_t)K * VV * 4, &sizes[M_W0]);
    if (!GATE) sizes[M_GRAW] = sizes[M_GCUM] = sizes[M_GEXP] = 0;
    ok &= ocla__mul_ok(vec ? sizes[M_GRAW] : 0, 3, &sizes[M_GFAC]); /* exp(G), exp(-G), exp(G_last - G) */
    if (!ok) return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: temporary sizes overflow");

    char opts[128];
    snprintf(opts, sizeof opts, "-DFEATURE=%d -DGATE=%d -DNORM=%d", (int)p->feature_map, GATE, NORM);
    cl_kernel kg = NULL, ks, kA, ko = NULL, kdA, kds, kqk, kdv, kdg, kgo = NULL;
    if (GATE && (st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_gates", &kg)) != OCLA_SUCCESS) return st;
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_states", &ks)) != OCLA_SUCCESS) return st;
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_A", &kA)) != OCLA_SUCCESS) return st;
    if (NORM && (st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_output", &ko)) != OCLA_SUCCESS) return st;
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dA", &kdA)) != OCLA_SUCCESS) return st;
    /* A and dA: the tiled kernels (work-groups of BWD_TS, local-memory slices) where the chunk is at
     * least one tile and the device allows the work-group and local memory; else one work-item per
     * entry (same results). */
    int tiled = 0;
    if (C >= BWD_TS && ctx->info.max_work_item_sizes[0] >= BWD_TS && ctx->info.max_work_group_size >= BWD_TS) {
        cl_kernel t1, t2;
        uint64_t w1 = 0, w2 = 0, l1 = 0, l2 = 0;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_A_tiled", &t1)) != OCLA_SUCCESS) return st;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dA_tiled", &t2)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, t1, &w1, &l1)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, t2, &w2, &l2)) != OCLA_SUCCESS) return st;
        if (w1 >= BWD_TS && w2 >= BWD_TS && l1 <= ctx->info.local_mem_size && l2 <= ctx->info.local_mem_size) {
            tiled = 1;
            kA = t1, kdA = t2;
        }
    }
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dstates", &kds)) != OCLA_SUCCESS) return st;
    /* State passes: chunk-level (tiled per-chunk products + a scan over chunks) with the tiled
     * kernels, else token by token. */
    cl_kernel kkv = NULL, kqdo = NULL, ksc = NULL;
    if (tiled) {
        uint64_t w1 = 0, w2 = 0, l1 = 0, l2 = 0;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_chunk_kv", &kkv)) != OCLA_SUCCESS) return st;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_chunk_qdo", &kqdo)) != OCLA_SUCCESS) return st;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_scan", &ksc)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, kkv, &w1, &l1)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, kqdo, &w2, &l2)) != OCLA_SUCCESS) return st;
        if (!(w1 >= BWD_TS && w2 >= BWD_TS && l1 <= ctx->info.local_mem_size && l2 <= ctx->info.local_mem_size))
            kkv = kqdo = ksc = NULL;
    }
    int tiled_qk = 0;
    cl_kernel kqk_t = NULL;
    if (tiled) {
        cl_kernel t3;
        uint64_t w3 = 0, l3 = 0;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dqk_tiled", &t3)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, t3, &w3, &l3)) != OCLA_SUCCESS) return st;
        if (w3 >= BWD_TS && l3 <= ctx->info.local_mem_size) tiled_qk = 1, kqk_t = t3;
    }
    cl_kernel kdv_t = NULL;
    if (tiled) {
        cl_kernel t4;
        uint64_t w4 = 0, l4 = 0;
        if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dv_tiled", &t4)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, t4, &w4, &l4)) != OCLA_SUCCESS) return st;
        if (w4 >= BWD_TS && l4 <= ctx->info.local_mem_size) kdv_t = t4;
    }
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dqk", &kqk)) != OCLA_SUCCESS) return st;
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dv", &kdv)) != OCLA_SUCCESS) return st;
    if ((st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dg", &kdg)) != OCLA_SUCCESS) return st;
    if (GATE && io->dg && (st = ocla__get_kernel(ctx, "attn_bwd", opts, "bwd_dg_out", &kgo)) != OCLA_SUCCESS)
        return st;

    cl_mem m[M_COUNT] = {0};
    static const char *names[M_COUNT] = {"gates", "cumulative gates", "token decays", "decay factors",
                                         "chunk states", "state grads", "state grads (transposed)",
                                         "intra-chunk A", "intra-chunk dA", "normalised do", "dq features",
                                         "dk features", "gate grads", "fixed decays", "first chunk's state gradient"};
    for (int i = 0; i < M_COUNT && st == OCLA_SUCCESS; i++) {
        char what[80];
        snprintf(what, sizeof what, "allocating backward temporaries (%s)", names[i]);
        st = ocla__alloc(ctx, sizes[i], &m[i], what);
    }
    if (st == OCLA_SUCCESS && p->gate == OCLA_GATE_FIXED) {
        float decay[1024];
        float *dec = H <= 1024 ? decay : NULL;
        if (!dec) st = ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: more than 1024 heads with a fixed decay");
        for (int64_t h = 0; h < H && dec; h++)
            dec[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : (float)log(1.0 - pow(2.0, -5.0 - (double)h));
        if (dec) {
            cl_int err = clEnqueueWriteBuffer(ctx->queue, m[M_DECAY], CL_TRUE, 0, (size_t)H * 4, dec, 0, NULL, NULL);
            if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
        }
    }

    const cl_int iT = (cl_int)T, iH = (cl_int)H, iK = (cl_int)K, iV = (cl_int)V, iC = C, iNT = NT;
    const cl_mem dummy = m[M_DECAY];
    const targ tq = ta(io->q, dummy), tk = ta(io->k, dummy), tv = ta(io->v, dummy), tdo = ta(io->d_o, dummy);
    const targ tg = ta(io->g, dummy), th0 = ta(io->initial_state, dummy), tz0 = ta(io->initial_z, dummy);
    const targ tdhT = ta(io->d_final_state, dummy), tdzT = ta(io->d_final_z, dummy);
    const targ tdh0 = ta(io->d_initial_state, dummy), tdz0 = ta(io->d_initial_z, dummy);
    const targ tdq = ta(io->dq, dummy), tdk = ta(io->dk, dummy), tdv = ta(io->dv, dummy), tdg = ta(io->dg, dummy);
    const targ none = ta(NULL, dummy);
    cl_int has_h0 = io->initial_state != NULL, has_z0 = io->initial_z != NULL;
    cl_int has_dhT = io->d_final_state != NULL, has_dzT = io->d_final_z != NULL;
    cl_int has_dh0 = io->d_initial_state != NULL, has_dz0 = io->d_initial_z != NULL, zero = 0;
    cl_int fixed = p->gate == OCLA_GATE_FIXED;
    cl_long n;
    const cl_long n_fac = vec ? (cl_long)(BH * (size_t)T * (size_t)K) : 0;

    if (st == OCLA_SUCCESS && GATE) {
        n = (cl_long)(BH * (size_t)NT * GW);
        argset a = {ctx, kg, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tg); ARG(&a, m[M_DECAY]); ARG(&a, fixed); ARG(&a, m[M_GRAW]); ARG(&a, m[M_GCUM]);
        ARG(&a, m[M_GEXP]); ARG(&a, m[M_GFAC]); ARG(&a, n_fac);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, kg, (size_t)n, "backward gates") : a.st;
    }
    const size_t nct = (VV + BWD_TS - 1) / BWD_TS, ndt = ((size_t)K + BWD_TS - 1) / BWD_TS;
    const size_t sgroups = BH * (size_t)NT * nct * ndt, s_global = sgroups * BWD_TS, s_local = BWD_TS;
    cl_int pass = 0;
#define SCAN_ARGS(a)                                                                                                 \
    ARG(a, n); ARG(a, iT); ARG(a, iH); ARG(a, iK); ARG(a, iV); ARG(a, iC); ARG(a, iNT); ARG(a, m[M_GCUM]);          \
    ARG(a, m[M_GFAC]); ARG(a, n_fac); ARG(a, m[M_HS]); arg_t(a, &th0); ARG(a, has_h0); arg_t(a, &tz0);             \
    ARG(a, has_z0); ARG(a, m[M_DHS]); ARG(a, m[M_DHST]); ARG(a, m[M_W0]); arg_t(a, &tdhT); ARG(a, has_dhT);         \
    arg_t(a, &tdzT); ARG(a, has_dzT); arg_t(a, &tdh0); ARG(a, has_dh0); arg_t(a, &tdz0); ARG(a, has_dz0);           \
    ARG(a, pass)
    if (st == OCLA_SUCCESS && kkv) {
        n = (cl_long)sgroups;
        argset a = {ctx, kkv, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tk); arg_t(&a, &tv); ARG(&a, m[M_GCUM]); ARG(&a, m[M_GFAC]); ARG(&a, n_fac); ARG(&a, m[M_HS]);
        st = a.st == OCLA_SUCCESS ? ocla__launch(ctx, kkv, 1, &s_global, &s_local, "backward chunk k^T v") : a.st;
        if (st == OCLA_SUCCESS) {
            n = (cl_long)(BH * (size_t)K * VV);
            argset b = {ctx, ksc, 0, OCLA_SUCCESS};
            pass = 0;
            SCAN_ARGS(&b);
            st = b.st == OCLA_SUCCESS ? launch1d(ctx, ksc, (size_t)n, "backward state scan") : b.st;
        }
    } else if (st == OCLA_SUCCESS) {
        n = (cl_long)(BH * (size_t)K * VV);
        argset a = {ctx, ks, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tk); arg_t(&a, &tv); ARG(&a, m[M_GEXP]); arg_t(&a, &th0); ARG(&a, has_h0);
        arg_t(&a, &tz0); ARG(&a, has_z0); ARG(&a, m[M_HS]);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, ks, (size_t)n, "backward chunk states") : a.st;
    }
    const size_t nti = ((size_t)C + BWD_TS - 1) / BWD_TS, tiles = BH * (size_t)NT * nti * nti;
    const size_t ts_local = BWD_TS, ts_global = tiles * BWD_TS;
    if (st == OCLA_SUCCESS) {
        n = tiled ? (cl_long)tiles : (cl_long)(BH * (size_t)NT * (size_t)C * (size_t)C);
        argset a = {ctx, kA, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tq); arg_t(&a, &tk); ARG(&a, m[M_GCUM]); ARG(&a, m[M_GFAC]); ARG(&a, n_fac); ARG(&a, m[M_A]);
        if (a.st != OCLA_SUCCESS)
            st = a.st;
        else
            st = tiled ? ocla__launch(ctx, kA, 1, &ts_global, &ts_local, "backward intra-chunk A (tiled)")
                       : launch1d(ctx, kA, (size_t)n, "backward intra-chunk A");
    }
    if (st == OCLA_SUCCESS && NORM) {
        n = (cl_long)(BH * (size_t)T);
        argset a = {ctx, ko, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        ARG(&a, scale); ARG(&a, eps); arg_t(&a, &tq); arg_t(&a, &tv); ARG(&a, m[M_GCUM]); ARG(&a, m[M_GFAC]);
        ARG(&a, n_fac); ARG(&a, m[M_HS]);
        ARG(&a, m[M_A]); arg_t(&a, &tdo); ARG(&a, m[M_DOP]); arg_t(&a, &none); ARG(&a, zero);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, ko, (size_t)n, "backward normaliser") : a.st;
    }
    if (st == OCLA_SUCCESS) {
        n = tiled ? (cl_long)tiles : (cl_long)(BH * (size_t)NT * (size_t)C * (size_t)C);
        argset a = {ctx, kdA, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tv); arg_t(&a, &tdo); ARG(&a, m[M_DOP]); ARG(&a, m[M_GCUM]); ARG(&a, m[M_DA]);
        if (a.st != OCLA_SUCCESS)
            st = a.st;
        else
            st = tiled ? ocla__launch(ctx, kdA, 1, &ts_global, &ts_local, "backward intra-chunk dA (tiled)")
                       : launch1d(ctx, kdA, (size_t)n, "backward intra-chunk dA");
    }
    if (st == OCLA_SUCCESS && kqdo) {
        n = (cl_long)sgroups;
        argset a = {ctx, kqdo, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT); ARG(&a, scale);
        arg_t(&a, &tq); arg_t(&a, &tdo); ARG(&a, m[M_DOP]); ARG(&a, m[M_GCUM]); ARG(&a, m[M_GFAC]); ARG(&a, n_fac);
        ARG(&a, m[M_DHS]); ARG(&a, m[M_W0]);
        st = a.st == OCLA_SUCCESS ? ocla__launch(ctx, kqdo, 1, &s_global, &s_local, "backward chunk q^T do") : a.st;
        if (st == OCLA_SUCCESS) {
            n = (cl_long)(BH * (size_t)K * VV);
            argset b = {ctx, ksc, 0, OCLA_SUCCESS};
            pass = 1;
            SCAN_ARGS(&b);
            st = b.st == OCLA_SUCCESS ? launch1d(ctx, ksc, (size_t)n, "backward state gradient scan") : b.st;
        }
    } else if (st == OCLA_SUCCESS) {
        n = (cl_long)(BH * (size_t)K * VV);
        argset a = {ctx, kds, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        ARG(&a, scale); arg_t(&a, &tq); arg_t(&a, &tdo); ARG(&a, m[M_DOP]); ARG(&a, m[M_GEXP]);
        arg_t(&a, &tdhT); ARG(&a, has_dhT); arg_t(&a, &tdzT); ARG(&a, has_dzT); ARG(&a, m[M_DHS]); ARG(&a, m[M_DHST]);
        arg_t(&a, &tdh0); ARG(&a, has_dh0); arg_t(&a, &tdz0); ARG(&a, has_dz0);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, kds, (size_t)n, "backward state gradients") : a.st;
    }
    if (st == OCLA_SUCCESS) {
        n = tiled_qk ? (cl_long)(BH * (size_t)NT * nti * ndt) : (cl_long)(BH * (size_t)T * (size_t)K);
        if (tiled_qk) kqk = kqk_t;
        argset a = {ctx, kqk, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        ARG(&a, scale); arg_t(&a, &tq); arg_t(&a, &tk); arg_t(&a, &tv); arg_t(&a, &tdo); ARG(&a, m[M_DOP]);
        ARG(&a, m[M_GCUM]); ARG(&a, m[M_GFAC]); ARG(&a, n_fac); ARG(&a, m[M_HS]); ARG(&a, m[M_DHST]); ARG(&a, m[M_DA]);
        ARG(&a, m[M_DQH]);
        ARG(&a, m[M_DKH]);
        if (a.st != OCLA_SUCCESS) {
            st = a.st;
        } else if (tiled_qk) {
            const size_t g = (size_t)n * BWD_TS, l = BWD_TS;
            st = ocla__launch(ctx, kqk, 1, &g, &l, "backward dq dk (tiled)");
        } else {
            st = launch1d(ctx, kqk, (size_t)n, "backward dq dk");
        }
    }
    if (st == OCLA_SUCCESS) {
        if (kdv_t) kdv = kdv_t;
        n = kdv_t ? (cl_long)(BH * (size_t)NT * nti * (((size_t)V + BWD_TS - 1) / BWD_TS)) : (cl_long)(BH * (size_t)T * (size_t)V);
        argset a = {ctx, kdv, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        ARG(&a, scale); arg_t(&a, &tk); arg_t(&a, &tdo); ARG(&a, m[M_DOP]); ARG(&a, m[M_GCUM]);
        ARG(&a, m[M_GFAC]); ARG(&a, n_fac); ARG(&a, m[M_DHS]); ARG(&a, m[M_A]); arg_t(&a, &tdv);
        if (a.st != OCLA_SUCCESS) {
            st = a.st;
        } else if (kdv_t) {
            const size_t g = (size_t)n * BWD_TS, l = BWD_TS;
            st = ocla__launch(ctx, kdv, 1, &g, &l, "backward dv (tiled)");
        } else {
            st = launch1d(ctx, kdv, (size_t)n, "backward dv");
        }
    }
    if (st == OCLA_SUCCESS) {
        n = (cl_long)(BH * (size_t)NT * (size_t)K);
        argset a = {ctx, kdg, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, iV); ARG(&a, iC); ARG(&a, iNT);
        arg_t(&a, &tq); arg_t(&a, &tk); ARG(&a, m[M_HS]); ARG(&a, m[M_DHST]); ARG(&a, m[M_DQH]);
        ARG(&a, m[M_DKH]); ARG(&a, m[M_DGV]); arg_t(&a, &tdq); arg_t(&a, &tdk);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, kdg, (size_t)n, "backward dq dk dg") : a.st;
    }
    if (st == OCLA_SUCCESS && kgo) {
        n = (cl_long)(BH * (size_t)T * GW);
        argset a = {ctx, kgo, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, iT); ARG(&a, iH); ARG(&a, iK); ARG(&a, m[M_GRAW]); ARG(&a, m[M_DGV]); arg_t(&a, &tdg);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, kgo, (size_t)n, "backward dg") : a.st;
    }
#undef SCAN_ARGS
    /* Released after enqueue: OpenCL keeps a buffer alive until the commands using it finish. */
    for (int i = 0; i < M_COUNT; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    return st;
}

OCLA_API ocla_status ocla_attention_backward(ocla_context *ctx, const ocla_attn_params *params,
                                             const ocla_attn_grad_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: ctx is NULL");
    OCLA_LOCK(ctx);
    ocla_status st = backward_locked(ctx, params, io);
    OCLA_UNLOCK(ctx);
    return st;
}

/* ---- projections ---- */

static ocla_status dense_2d(ocla_context *ctx, const ocla_tensor *t, const char *name, size_t *rows, size_t *cols) {
    ocla_status st = ocla__check_tensor(ctx, t, name, -1, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(t))
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s must be dense row-major", name);
    *cols = (size_t)t->dims[t->ndim - 1];
    size_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++) r *= (size_t)t->dims[i];
    *rows = r;
    return OCLA_SUCCESS;
}

static ocla_status gemm(ocla_context *ctx, int ta_, int tb_, size_t m, size_t n, size_t k, float beta,
                        const ocla_tensor *a, const ocla_tensor *b, ocla_tensor *c) {
    ocla_gemm_desc d;
    ocla_gemm_desc_defaults(&d);
    d.trans_a = ta_, d.trans_b = tb_, d.m = m, d.n = n, d.k = k, d.alpha = 1.0f, d.beta = beta;
    d.lda = ta_ ? m : k, d.ldb = tb_ ? k : n, d.ldc = n;
    return ocla__gemm(ctx, &d, a->mem, a->offset, b->mem, b->offset, c->mem, c->offset);
}

OCLA_API ocla_status ocla_linear_forward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                         ocla_tensor *Y) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_linear_forward: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t m = 0, in = 0, win = 0, out = 0, ym = 0, yn = 0;
    ocla_status st = dense_2d(ctx, X, "X", &m, &in);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, W, "W", &win, &out);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, Y, "Y", &ym, &yn);
    if (st == OCLA_SUCCESS && (W->ndim != 2 || win != in || ym != m || yn != out))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linear_forward: X [%zu,%zu], W [%zu,%zu], Y [%zu,%zu] do not fit", m,
                        in, win, out, ym, yn);
    if (st == OCLA_SUCCESS) st = gemm(ctx, 0, 0, m, out, in, 0.0f, X, W, Y);
    OCLA_UNLOCK(ctx);
    return st;
}

OCLA_API ocla_status ocla_linear_backward(ocla_context *ctx, const ocla_tensor *X, const ocla_tensor *W,
                                          const ocla_tensor *dY, ocla_tensor *dX, ocla_tensor *dW,
                                          int accumulate_dw) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_linear_backward: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t m = 0, in = 0, win = 0, out = 0, ym = 0, yn = 0, r = 0, c = 0;
    ocla_status st = dense_2d(ctx, X, "X", &m, &in);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, W, "W", &win, &out);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, dY, "dY", &ym, &yn);
    if (st == OCLA_SUCCESS && (W->ndim != 2 || win != in || ym != m || yn != out))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linear_backward: X [%zu,%zu], W [%zu,%zu], dY [%zu,%zu] do not fit",
                        m, in, win, out, ym, yn);
    if (st == OCLA_SUCCESS && dX) {
        st = dense_2d(ctx, dX, "dX", &r, &c);
        if (st == OCLA_SUCCESS && (r != m || c != in))
            st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linear_backward: dX must be [%zu,%zu]", m, in);
        if (st == OCLA_SUCCESS) st = gemm(ctx, 0, 1, m, in, out, 0.0f, dY, W, dX); /* dY [m,out] W^T [out,in] */
    }
    if (st == OCLA_SUCCESS && dW) {
        st = dense_2d(ctx, dW, "dW", &r, &c);
        if (st == OCLA_SUCCESS && (r != in || c != out))
            st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linear_backward: dW must be [%zu,%zu]", in, out);
        if (st == OCLA_SUCCESS) st = gemm(ctx, 1, 0, in, out, m, accumulate_dw ? 1.0f : 0.0f, X, dY, dW);
    }
    OCLA_UNLOCK(ctx);
    return st;
}

OCLA_API ocla_status ocla_sgd_step(ocla_context *ctx, ocla_tensor *param, const ocla_tensor *grad, float lr) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_sgd_step: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t r1 = 0, c1 = 0, r2 = 0, c2 = 0;
    ocla_status st = dense_2d(ctx, param, "param", &r1, &c1);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, grad, "grad", &r2, &c2);
    if (st == OCLA_SUCCESS && r1 * c1 != r2 * c2)
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_sgd_step: param has %zu elements, grad %zu", r1 * c1, r2 * c2);
    cl_kernel k = NULL;
    if (st == OCLA_SUCCESS) st = ocla__get_kernel(ctx, "attn_bwd", "-DFEATURE=0 -DGATE=0 -DNORM=0", "sgd_step", &k);
    if (st == OCLA_SUCCESS) {
        cl_long n = (cl_long)(r1 * c1), po = (cl_long)param->offset, go = (cl_long)grad->offset;
        argset a = {ctx, k, 0, OCLA_SUCCESS};
        ARG(&a, n); ARG(&a, param->mem); ARG(&a, po); ARG(&a, grad->mem); ARG(&a, go); ARG(&a, lr);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, k, (size_t)n, "SGD step") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}

static ocla_status same_numel(ocla_context *ctx, const ocla_tensor *a, const char *an, const ocla_tensor *b,
                              const char *bn, size_t *n) {
    size_t r1 = 0, c1 = 0, r2 = 0, c2 = 0;
    ocla_status st = dense_2d(ctx, a, an, &r1, &c1);
    if (st == OCLA_SUCCESS) st = dense_2d(ctx, b, bn, &r2, &c2);
    if (st == OCLA_SUCCESS && r1 * c1 != r2 * c2)
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s has %zu elements, %s %zu", an, r1 * c1, bn, r2 * c2);
    *n = r1 * c1;
    return st;
}

OCLA_API ocla_status ocla_gate_logsigmoid(ocla_context *ctx, const ocla_tensor *x, ocla_tensor *g, float tau) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_gate_logsigmoid: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t n = 0;
    ocla_status st = same_numel(ctx, x, "x", g, "g", &n);
    if (st == OCLA_SUCCESS && !(tau > 0.0f && isfinite(tau)))
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_gate_logsigmoid: tau must be positive");
    cl_kernel k = NULL;
    if (st == OCLA_SUCCESS)
        st = ocla__get_kernel(ctx, "attn_bwd", "-DFEATURE=0 -DGATE=0 -DNORM=0", "gate_logsigmoid", &k);
    if (st == OCLA_SUCCESS) {
        cl_long nn = (cl_long)n, xo = (cl_long)x->offset, go = (cl_long)g->offset;
        argset a = {ctx, k, 0, OCLA_SUCCESS};
        ARG(&a, nn); ARG(&a, x->mem); ARG(&a, xo); ARG(&a, g->mem); ARG(&a, go); ARG(&a, tau);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, k, n, "logsigmoid gate") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}

OCLA_API ocla_status ocla_gate_logsigmoid_backward(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *dg,
                                                   ocla_tensor *dx, float tau) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_gate_logsigmoid_backward: ctx is NULL");
    OCLA_LOCK(ctx);
    size_t n = 0, n2 = 0;
    ocla_status st = same_numel(ctx, x, "x", dg, "dg", &n);
    if (st == OCLA_SUCCESS) st = same_numel(ctx, x, "x", dx, "dx", &n2);
    if (st == OCLA_SUCCESS && !(tau > 0.0f && isfinite(tau)))
        st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_gate_logsigmoid_backward: tau must be positive");
    cl_kernel k = NULL;
    if (st == OCLA_SUCCESS)
        st = ocla__get_kernel(ctx, "attn_bwd", "-DFEATURE=0 -DGATE=0 -DNORM=0", "gate_logsigmoid_bwd", &k);
    if (st == OCLA_SUCCESS) {
        cl_long nn = (cl_long)n, xo = (cl_long)x->offset, go = (cl_long)dg->offset, dxo = (cl_long)dx->offset;
        argset a = {ctx, k, 0, OCLA_SUCCESS};
        ARG(&a, nn); ARG(&a, x->mem); ARG(&a, xo); ARG(&a, dg->mem); ARG(&a, go); ARG(&a, dx->mem); ARG(&a, dxo);
        ARG(&a, tau);
        st = a.st == OCLA_SUCCESS ? launch1d(ctx, k, n, "logsigmoid gate backward") : a.st;
    }
    OCLA_UNLOCK(ctx);
    return st;
}
