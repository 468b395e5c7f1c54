/* FLASH mixed chunk attention: kernels_cl/flash.cl, planned by runtime/plan_flash.c (four passes:
 * scores, chunk states, prefix, output, in the plan's work-groups). The chunk C is the params' (a
 * model parameter, default 256), else OCLA_CHUNK, else the scheduler's pick, resolved by
 * ocla__resolve_chunk and planned by ocla__plan_for as ocla_plan_explain does.
 * Scratch slots (layer_common.h): 4 = C x C scores per chunk ([B*H, T, C]), 5 = chunk states
 * [B*H, G, S, E], 6 = RoPE inverse frequencies. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layer_common.h"
#include "plan_layers.h"

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


static int scheduler_chunk(int c) {
    const ocla_plan_row *row = &ocla__plan_row_flash;
    for (int i = 0; i < row->n_chunks; i++)
        if (row->chunks[i] == c) return 1;
    return 0;
}

/* The plan for r with limits L: the scheduler (ocla_plan_compute) for chunk 0 and the scheduler's
 * chunk sizes; the FLASH row itself for another C given in the params (C is a model parameter: any
 * C in 1..FLASH_MAX_CHUNK runs; the kernels take it as an argument). */
static ocla_status plan_with(ocla_context *ctx, const ocla_plan_limits *L, const ocla_plan_request *r, ocla_plan *p) {
    if (r->chunk == 0 || scheduler_chunk(r->chunk)) {
        ocla_status st = ocla_plan_compute(L, r, p);
        if (st != OCLA_SUCCESS) {
            char detail[400];
            snprintf(detail, sizeof detail, "%s", ocla_last_error(NULL));
            return ocla__fail(ctx, st, "ocla_flash_attention: %s", detail);
        }
        return OCLA_SUCCESS;
    }
    memset(p, 0, sizeof *p);
    p->op = r->op;
    p->chunk = r->chunk;
    if (ocla__plan_row_flash.fits(L, r, r->chunk, p))
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_flash_attention: chunk %d does not fit this device", r->chunk);
    snprintf(p->reason, sizeof p->reason, "FLASH: chunk %d given (a model parameter; scheduler sizes 16..256)",
             r->chunk);
    return OCLA_SUCCESS;
}

static const char *const k_names[4] = {"flash_scores", "flash_states", "flash_prefix", "flash_out"};

/* Plan (a chunk that is not one of the scheduler's sizes runs only when the params give it: OCLA_CHUNK
 * must be one of them), then the four kernels; where a built kernel's work-group limit is below the plan's
 * work-group, plan again with it. */
static ocla_status plan_and_build(ocla_context *ctx, ocla_plan_request *r, int from_params, ocla_plan *plan,
                                  cl_kernel k[4]) {
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    if (st != OCLA_SUCCESS) return st;
    if (!from_params || scheduler_chunk(r->chunk)) {
        /* the same call as ocla_plan_explain (detail names OCLA_CHUNK where it came from there) */
        if ((st = ocla__plan_for(ctx, r, plan)) != OCLA_SUCCESS) return st;
    } else if ((st = plan_with(ctx, &L, r, plan)) != OCLA_SUCCESS)
        return st;
    const ocla_variant v = ocla__variant(&ocla__fam_flash);
    for (int attempt = 0;; attempt++) {
        uint64_t wg = 0;
        for (int i = 0; i < 4; i++) {
            const ocla_kernel_entry *e;
            if ((st = ocla__variant_entry(ctx, &v, k_names[i], &e)) != OCLA_SUCCESS) return st;
            k[i] = e->kernel;
            if (e->wg_size && (wg == 0 || e->wg_size < wg)) wg = e->wg_size;
        }
        const uint64_t threads = (uint64_t)plan->wg_x * (uint64_t)plan->wg_y;
        if (wg == 0 || threads <= wg) return OCLA_SUCCESS;
        if (attempt == 2 || wg >= ocla__plan_wg_limit(&L))
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              "ocla_flash_attention: the kernels take %llu work-items, the plan %llu",
                              (unsigned long long)wg, (unsigned long long)threads);
        L.kernel_wg_size = wg;
        r->chunk = plan->chunk; /* C is fixed by now: only the work-group changes */
        if ((st = plan_with(ctx, &L, r, plan)) != OCLA_SUCCESS) return st;
    }
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
    ocla_plan_request r = {OCLA_OP_FLASH_CHUNK, B, T, H, S, E, ocla__resolve_chunk(ctx, p->chunk),
                           p->causal ? 0u : OCLA_PLAN_NONCAUSAL, 0, 0};
    ocla_plan plan;
    cl_kernel k[4];
    if ((st = plan_and_build(ctx, &r, p->chunk != 0, &plan, k)) != OCLA_SUCCESS) return st;
    const int C = plan.chunk;
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
        if ((st = ocla__scratch(ctx, SLOT_ROPE, (size_t)(rd / 2) * sizeof(float), &invf)) != OCLA_SUCCESS ||
            (st = ocla__rope_upload(ctx, rd, p->rope_base, invf, 0)) != OCLA_SUCCESS)
            return st;
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
    const size_t local[3] = {(size_t)plan.wg_x, (size_t)plan.wg_y, 1};
    ocla_args a;

    /* pass 1: C x C scores per chunk */
    a = (ocla_args){ctx, k[0], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->qq, NULL, 4), ocla__push_tensor(&a, io->kq, NULL, 4);
    ocla__push_mem(&a, p->rel_bias ? p->rel_bias->mem : KV);
    ocla__push_long(&a, p->rel_bias ? (int64_t)p->rel_bias->offset : 0);
    ocla__push_long(&a, p->rel_bias ? (int64_t)p->rel_bias->strides[0] : 0);
    ocla__push_mem(&a, invf), ocla__push_mem(&a, A);
    ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, S), ocla__push_int(&a, C), ocla__push_int(&a, causal);
    ocla__push_int(&a, p->rel_bias != NULL), ocla__push_int(&a, rd), ocla__push_long(&a, pos0), ocla__push_float(&a, qs);
    ocla__push_float(&a, p->bias_scale), ocla__push_float(&a, p->quad_post);
    if (a.st != OCLA_SUCCESS) return a.st;
    const size_t g1[3] = {(size_t)C, (size_t)T, (size_t)(B * H)};
    if ((st = ocla__launch(ctx, a.k, 3, g1, local, "flash scores")) != OCLA_SUCCESS) return st;

    /* pass 2: per-chunk K_lin^T V */
    a = (ocla_args){ctx, k[1], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->kl, NULL, 4), ocla__push_tensor(&a, io->v, NULL, 4), ocla__push_mem(&a, invf), ocla__push_mem(&a, KV);
    ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, S), ocla__push_int(&a, E), ocla__push_int(&a, C), ocla__push_int(&a, G);
    ocla__push_int(&a, rd), ocla__push_long(&a, pos0);
    if (a.st != OCLA_SUCCESS) return a.st;
    const size_t g2[3] = {(size_t)E, (size_t)S, (size_t)(B * H * G)};
    if ((st = ocla__launch(ctx, a.k, 3, g2, local, "flash chunk states")) != OCLA_SUCCESS) return st;

    /* pass 3: exclusive prefix (causal) or total (non-causal), scaled */
    a = (ocla_args){ctx, k[2], 0, OCLA_SUCCESS};
    ocla__push_mem(&a, KV), ocla__push_int(&a, S), ocla__push_int(&a, E), ocla__push_int(&a, G), ocla__push_int(&a, causal);
    ocla__push_int(&a, lin_norm), ocla__push_float(&a, lin);
    if (a.st != OCLA_SUCCESS) return a.st;
    const size_t g3[3] = {(size_t)E, (size_t)S, (size_t)(B * H)};
    if ((st = ocla__launch(ctx, a.k, 3, g3, local, "flash prefix")) != OCLA_SUCCESS) return st;

    /* pass 4: outputs */
    a = (ocla_args){ctx, k[3], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->ql, NULL, 4), ocla__push_tensor(&a, io->v, NULL, 4), ocla__push_mem(&a, invf), ocla__push_mem(&a, A), ocla__push_mem(&a, KV);
    ocla__push_tensor(&a, io->o, NULL, 4);
    ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, S), ocla__push_int(&a, E), ocla__push_int(&a, C), ocla__push_int(&a, G);
    ocla__push_int(&a, causal), ocla__push_int(&a, rd), ocla__push_long(&a, pos0);
    if (a.st != OCLA_SUCCESS) return a.st;
    const size_t g4[3] = {(size_t)E, (size_t)T, (size_t)(B * H)};
    return ocla__launch(ctx, a.k, 3, g4, local, "flash output");
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
