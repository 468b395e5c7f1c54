/* FLASH mixed chunk attention: kernels_cl/flash.cl (four passes: scores, chunk states, prefix, output).
 * Scratch slots: 4 = C x C scores per chunk ([B*H, T, C]), 5 = chunk states [B*H, G, S, E],
 * 6 = RoPE inverse frequencies. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_SCORES 4
#define SLOT_KV 5
#define SLOT_ROPE 6
#define FLASH_MAX_CHUNK 4096

void ocla_flash_params_defaults(ocla_flash_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->causal = 1;
    p->chunk = 256; /* the paper's C */
    p->quad_scale = 1.0f;
    p->bias_scale = 1.0f;
    p->quad_post = 1.0f;
    p->lin_norm = OCLA_FLASH_LIN_CHUNK;
    p->lin_scale = 1.0f;
    p->rope_base = 10000.0f;
}

typedef struct fargs {
    ocla_context *ctx;
    cl_kernel k;
    cl_uint i;
    ocla_status st;
} fargs;
static void a_raw(fargs *a, size_t size, const void *val) {
    if (a->st == OCLA_SUCCESS) a->st = ocla__set_arg(a->ctx, a->k, a->i, size, val);
    a->i++;
}
static void a_mem(fargs *a, cl_mem m) { a_raw(a, sizeof m, &m); }
static void a_int(fargs *a, int64_t x) {
    cl_int v = (cl_int)x;
    a_raw(a, sizeof v, &v);
}
static void a_long(fargs *a, int64_t x) {
    cl_long v = (cl_long)x;
    a_raw(a, sizeof v, &v);
}
static void a_float(fargs *a, float x) {
    cl_float v = x;
    a_raw(a, sizeof v, &v);
}
static void a_tensor(fargs *a, const ocla_tensor *t) {
    a_mem(a, t->mem);
    a_long(a, (int64_t)t->offset);
    for (int d = 0; d < 4; d++) a_long(a, t->strides[d]);
}

static ocla_status get(ocla_context *ctx, const char *name, fargs *a) {
    memset(a, 0, sizeof *a);
    a->ctx = ctx;
    return a->st = ocla__get_kernel(ctx, "flash", "", name, &a->k);
}

static int pick_chunk(ocla_context *ctx, const ocla_flash_params *p, int64_t B, int64_t T, int64_t H, int64_t S,
                      int64_t E) {
    if (p->chunk > 0) return p->chunk;
    if (ctx->env_chunk > 0) return ctx->env_chunk;
    ocla_plan_limits L;
    ocla__plan_limits_from_device(&ctx->info, &L);
    ocla_plan_request r;
    memset(&r, 0, sizeof r);
    r.op = OCLA_OP_FLASH_CHUNK;
    r.B = B, r.T = T > 0 ? T : 1, r.H = H, r.K = S, r.V = E;
    ocla_plan plan;
    /* ocla_plan_compute records its own error detail on failure; the fixed fallback needs none. */
    if (ocla_plan_compute(&L, &r, &plan) == OCLA_SUCCESS && plan.chunk > 0) return plan.chunk;
    return 64;
}

static ocla_status run(ocla_context *ctx, const ocla_flash_params *p, const ocla_flash_io *io) {
    ocla_status st;
    if ((st = ocla__check_tensor(ctx, io->qq, "qq", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t B = io->qq->dims[0], T = io->qq->dims[1], H = io->qq->dims[2], S = io->qq->dims[3];
    const int64_t sd[4] = {B, T, H, S};
    if ((st = ocla__check_tensor(ctx, io->kq, "kq", 4, sd)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->ql, "ql", 4, sd)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->kl, "kl", 4, sd)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->v, "v", 4, NULL)) != OCLA_SUCCESS)
        return st;
    const int64_t E = io->v->dims[3];
    const int64_t ed[4] = {B, T, H, E};
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, ed)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->o, "o", 4, ed)) != OCLA_SUCCESS)
        return st;
    if (p->chunk < 0 || p->chunk > FLASH_MAX_CHUNK)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_flash_attention: chunk %d (0 = scheduler, 1..%d)",
                          p->chunk, FLASH_MAX_CHUNK);
    if (p->rope_dims < 0 || (p->rope_dims & 1) || p->rope_dims > S)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_flash_attention: rope_dims %d must be even and in 0..S (S=%lld)", p->rope_dims,
                          (long long)S);
    if (p->rope_dims && !(p->rope_base > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_flash_attention: rope_base must be > 0");
    if ((int)p->lin_norm != OCLA_FLASH_LIN_CHUNK && (int)p->lin_norm != OCLA_FLASH_LIN_MEAN)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_flash_attention: unknown lin_norm %d", (int)p->lin_norm);
    if (T > INT32_MAX / 2 || B * H > INT32_MAX / 2 || S > 65536 || E > 65536)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_flash_attention: sizes beyond the kernels' int indices");
    if (B * T * H == 0) return OCLA_SUCCESS;
    const int C = pick_chunk(ctx, p, B, T, H, S, E);
    const int64_t G = (T + C - 1) / C;
    if (p->rel_bias) {
        const int64_t bd[2] = {H, 2 * (int64_t)C - 1};
        if ((st = ocla__check_tensor(ctx, p->rel_bias, "rel_bias", 2, bd)) != OCLA_SUCCESS) return st;
        if (p->rel_bias->strides[1] != 1)
            return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_flash_attention: rel_bias must be contiguous along its last dim");
    }
    size_t n_scores, n_kv, tmp;
    if (!ocla__mul_ok((size_t)(B * H), (size_t)T, &tmp) || !ocla__mul_ok(tmp, (size_t)C, &n_scores) ||
        !ocla__mul_ok(n_scores, 4, &n_scores) || !ocla__mul_ok((size_t)(B * H * G), (size_t)S, &tmp) ||
        !ocla__mul_ok(tmp, (size_t)E, &n_kv) || !ocla__mul_ok(n_kv, 4, &n_kv))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_flash_attention: scratch size overflows");
    cl_mem A, KV, invf;
    if ((st = ocla__scratch(ctx, SLOT_SCORES, n_scores, &A)) != OCLA_SUCCESS ||
        (st = ocla__scratch(ctx, SLOT_KV, n_kv, &KV)) != OCLA_SUCCESS)
        return st;
    const int rd = p->rope_dims;
    if (rd) {
        const int half = rd / 2;
        float *f = malloc((size_t)half * sizeof *f);
        if (!f) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_flash_attention: out of host memory");
        for (int i = 0; i < half; i++) f[i] = (float)pow((double)p->rope_base, -(double)i / half);
        st = ocla__scratch(ctx, SLOT_ROPE, (size_t)half * sizeof *f, &invf);
        if (st == OCLA_SUCCESS) {
            cl_int err = clEnqueueWriteBuffer(ctx->queue, invf, CL_TRUE, 0, (size_t)half * sizeof *f, f, 0, NULL, NULL);
            if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading RoPE frequencies");
        }
        free(f);
        if (st != OCLA_SUCCESS) return st;
    } else {
        invf = KV; /* never read when rd = 0 */
    }
    const int causal = p->causal ? 1 : 0;
    const float qs = p->has_quad_scale ? p->quad_scale : 1.0f / (float)C;
    float lin;
    if (p->has_lin_scale) lin = p->lin_scale;
    else if (causal) lin = 1.0f / (float)C;
    else lin = (float)(1.0 / (double)T);
    const int lin_norm = causal && p->lin_norm == OCLA_FLASH_LIN_MEAN ? 1 : 0;
    const int64_t pos0 = p->pos_offset;
    fargs a;

    /* pass 1: C x C scores per chunk */
    if ((st = get(ctx, "flash_scores", &a)) != OCLA_SUCCESS) return st;
    a_tensor(&a, io->qq), a_tensor(&a, io->kq);
    a_mem(&a, p->rel_bias ? p->rel_bias->mem : KV);
    a_long(&a, p->rel_bias ? (int64_t)p->rel_bias->offset : 0);
    a_long(&a, p->rel_bias ? (int64_t)p->rel_bias->strides[0] : 0);
    a_mem(&a, invf), a_mem(&a, A);
    a_int(&a, T), a_int(&a, H), a_int(&a, S), a_int(&a, C), a_int(&a, causal), a_int(&a, p->rel_bias != NULL);
    a_int(&a, rd), a_long(&a, pos0), a_float(&a, qs), a_float(&a, p->bias_scale), a_float(&a, p->quad_post);
    if (a.st != OCLA_SUCCESS) return a.st;
    size_t g1[3] = {(size_t)C, (size_t)T, (size_t)(B * H)};
    if ((st = ocla__launch(ctx, a.k, 3, g1, NULL, "flash scores")) != OCLA_SUCCESS) return st;

    /* pass 2: per-chunk K_lin^T V */
    if ((st = get(ctx, "flash_states", &a)) != OCLA_SUCCESS) return st;
    a_tensor(&a, io->kl), a_tensor(&a, io->v), a_mem(&a, invf), a_mem(&a, KV);
    a_int(&a, T), a_int(&a, H), a_int(&a, S), a_int(&a, E), a_int(&a, C), a_int(&a, G), a_int(&a, rd), a_long(&a, pos0);
    if (a.st != OCLA_SUCCESS) return a.st;
    size_t g2[3] = {(size_t)E, (size_t)S, (size_t)(B * H * G)};
    if ((st = ocla__launch(ctx, a.k, 3, g2, NULL, "flash chunk states")) != OCLA_SUCCESS) return st;

    /* pass 3: exclusive prefix (causal) or total (non-causal), scaled */
    if ((st = get(ctx, "flash_prefix", &a)) != OCLA_SUCCESS) return st;
    a_mem(&a, KV), a_int(&a, S), a_int(&a, E), a_int(&a, G), a_int(&a, causal), a_int(&a, lin_norm), a_float(&a, lin);
    if (a.st != OCLA_SUCCESS) return a.st;
    size_t g3[3] = {(size_t)E, (size_t)S, (size_t)(B * H)};
    if ((st = ocla__launch(ctx, a.k, 3, g3, NULL, "flash prefix")) != OCLA_SUCCESS) return st;

    /* pass 4: outputs */
    if ((st = get(ctx, "flash_out", &a)) != OCLA_SUCCESS) return st;
    a_tensor(&a, io->ql), a_tensor(&a, io->v), a_mem(&a, invf), a_mem(&a, A), a_mem(&a, KV), a_tensor(&a, io->o);
    a_int(&a, T), a_int(&a, H), a_int(&a, S), a_int(&a, E), a_int(&a, C), a_int(&a, G), a_int(&a, causal), a_int(&a, rd);
    a_long(&a, pos0);
    if (a.st != OCLA_SUCCESS) return a.st;
    size_t g4[3] = {(size_t)E, (size_t)T, (size_t)(B * H)};
    return ocla__launch(ctx, a.k, 3, g4, NULL, "flash output");
}

ocla_status ocla_flash_attention(ocla_context *ctx, const ocla_flash_params *params, const ocla_flash_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_flash_attention: ctx is NULL");
    if (!params || !io)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_flash_attention: %s is NULL", !params ? "params" : "io");
    OCLA_LOCK(ctx);
    ocla_status st = run(ctx, params, io);
    OCLA_UNLOCK(ctx);
    return st;
}
