/* SPDX-License-Identifier: MIT */
/* FLASH mixed chunk attention: kernels_cl/flash.cl, planned by runtime/plan_flash.c (four passes:
 * scores, chunk states, prefix, output, in the plan's work-groups). Half precision: every tensor of
 * qq's dtype, read and written by the kernels themselves (the variant's -DOCLA_DTYPE from the
 * request's OCLA_PLAN_BF16 / _F16); the scores, states and sums stay fp32. The chunk C is the params' (a
 * model parameter, default 256), else OCLA_CHUNK, else the scheduler's pick, resolved by
 * ocla__resolve_chunk and planned by ocla__plan_for as ocla_plan_explain does.
 * Scratch slots (layer_common.h): 4 = C x C scores per chunk ([B*H, T, C]), 5 = chunk states
 * [B*H, G, S, E], 6 = RoPE inverse frequencies. */
#include <stdio.h>
#include <string.h>

#include "op_flash.h"

#define FN "ocla_flash_attention"

void ocla_flash_params_defaults(ocla_flash_params *p) {
    if (p) /* chunk: the paper's C */
        *p = (ocla_flash_params){.size = sizeof *p, .causal = 1, .chunk = 256, .quad_scale = 1.0f, .bias_scale = 1.0f,
                                 .quad_post = 1.0f, .lin_norm = OCLA_FLASH_LIN_CHUNK, .lin_scale = 1.0f, .rope_base = 10000.0f};
}

static const char *const k_names[4] = {"flash_scores", "flash_states", "flash_prefix", "flash_out"};

/* Plan, then the kernels; where a built kernel's work-group limit is below the plan's work-group,
 * plan again (the same C) with it. The plan is the scheduler's (the same call as ocla_plan_explain,
 * whose detail names OCLA_CHUNK where the chunk came from there) for chunk 0, OCLA_CHUNK and the
 * scheduler's chunk sizes; the FLASH row's own for another C given in the params (C is a model
 * parameter: any C in 1..OCLA__FLASH_MAX_CHUNK runs; the kernels take it as an argument). */
static ocla_status plan_and_build(ocla_context *ctx, const char *fn, ocla_plan_request *r, int from_params,
                                  const char *const *names, int n, ocla_plan *plan, cl_kernel *k) {
    const ocla_plan_row *row = &ocla__plan_row_flash;
    int sched = !from_params;
    for (int i = 0; i < row->n_chunks; i++) sched |= row->chunks[i] == r->chunk;
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    if (st == OCLA_SUCCESS && sched) st = ocla__plan_for(ctx, r, plan);
    for (int attempt = 0; st == OCLA_SUCCESS; attempt++) {
        if (!sched) {
            memset(plan, 0, sizeof *plan);
            plan->op = r->op;
            plan->chunk = r->chunk;
            if (row->fits(&L, ocla__plan_params_for(&L), r, r->chunk, plan))
                return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "%s: chunk %d does not fit this device", fn, r->chunk);
            snprintf(plan->reason, sizeof plan->reason,
                     "FLASH: chunk %d given (a model parameter; scheduler sizes 16..256)", r->chunk);
        } else if (attempt > 0 && (st = ocla_plan_compute(&L, r, plan)) != OCLA_SUCCESS) {
            return ocla__fail(ctx, st, "%s: %s", fn, ocla_last_error(NULL));
        }
        uint64_t wg = 0;
        for (int i = 0; i < n; i++) {
            const ocla_kernel_entry *e;
            ocla_variant v;
            if (ocla__plan_kernel_variant(plan, r, names[i], &v))
                return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: the plan (%s) has no %s", fn, plan->kernels, names[i]);
            if ((st = ocla__variant_entry(ctx, &v, names[i], &e)) != OCLA_SUCCESS) return st;
            k[i] = e->kernel;
            if (e->wg_size && (wg == 0 || e->wg_size < wg)) wg = e->wg_size;
        }
        const uint64_t threads = (uint64_t)plan->wg_x * (uint64_t)plan->wg_y;
        if (wg == 0 || threads <= wg) return OCLA_SUCCESS;
        if (attempt == 2 || wg >= ocla__plan_wg_limit(&L))
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "%s: the kernels take %llu work-items, the plan %llu", fn,
                              (unsigned long long)wg, (unsigned long long)threads);
        L.kernel_wg_size = wg;
        r->chunk = plan->chunk; /* C is fixed by now: only the work-group changes */
    }
    return st;
}

ocla_status ocla__flash_check(ocla_context *ctx, const char *fn, const ocla_flash_params *p, const ocla_tensor *const x[4],
                              const ocla_tensor *v, ocla__flash_call *c) {
    ocla_status st;
    const ocla_dtype dt = x[0] ? x[0]->dtype : OCLA_F32; /* every tensor of qq's dtype: fp32, bf16 or fp16 */
    if ((st = ocla__check_tensor_as(ctx, x[0], "qq", 4, NULL, dt)) != OCLA_SUCCESS) return st;
    const int64_t B = x[0]->dims[0], T = x[0]->dims[1], H = x[0]->dims[2], S = x[0]->dims[3];
    const int64_t sd[4] = {B, T, H, S};
    if ((st = ocla__check_tensor_as(ctx, x[1], "kq (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, x[2], "ql (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, x[3], "kl (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, v, "v (qq's dtype)", 4, NULL, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, v, "v (B, T, H of qq)", 4, (int64_t[]){B, T, H, v->dims[3]}, dt)) != OCLA_SUCCESS)
        return st;
    if (p->chunk < 0 || p->chunk > OCLA__FLASH_MAX_CHUNK)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: chunk %d (0 = scheduler, 1..%d)", fn, p->chunk,
                          OCLA__FLASH_MAX_CHUNK);
    if (p->rope_dims < 0 || (p->rope_dims & 1) || p->rope_dims > S)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: rope_dims %d must be even and in 0..S (S=%lld)", fn,
                          p->rope_dims, (long long)S);
    if (p->rope_dims && !(p->rope_base > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: rope_base must be > 0", fn);
    if ((int)p->lin_norm != OCLA_FLASH_LIN_CHUNK && (int)p->lin_norm != OCLA_FLASH_LIN_MEAN)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: unknown lin_norm %d", fn, (int)p->lin_norm);
    const int64_t E = v->dims[3];
    if (T > INT32_MAX / 2 || B * H > INT32_MAX / 2 || S > 65536 || E > 65536)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "%s: sizes beyond the kernels' int indices", fn);
    *c = (ocla__flash_call){.B = B, .T = T, .H = H, .S = S, .E = E, .dt = dt};
    return ocla__flash_check_seqs(ctx, fn, p, c);
}

ocla_status ocla__flash_check_bias(ocla_context *ctx, const char *fn, const ocla_tensor *t, const char *name,
                                   const ocla__flash_call *c) {
    ocla_status st = ocla__check_tensor_as(ctx, t, name, 2, (int64_t[]){c->H, 2 * (int64_t)c->C - 1}, c->dt);
    if (st == OCLA_SUCCESS && t->strides[1] != 1)
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: %s must be contiguous along its last dim", fn, name);
    return st;
}

ocla_status ocla__flash_plan(ocla_context *ctx, const char *fn, const ocla_flash_params *p, unsigned flags,
                             const char *const *names, int n, ocla__flash_call *c, ocla_plan *plan, cl_kernel *k) {
    ocla_plan_request r = {OCLA_OP_FLASH_CHUNK, c->B, c->T, c->H, c->S, c->E, ocla__resolve_chunk(ctx, p->chunk),
                           flags | (p->causal ? 0u : OCLA_PLAN_NONCAUSAL) | ocla__plan_dtype_flags(c->dt), 0, 0};
    ocla_status st = plan_and_build(ctx, fn, &r, p->chunk != 0, names, n, plan, k);
    if (st != OCLA_SUCCESS) return st;
    const int C = plan->chunk;
    c->C = C;
    c->G = ocla__flash_chunks(c);
    c->causal = p->causal ? 1 : 0;
    c->qs = p->has_quad_scale ? p->quad_scale : 1.0f / (float)C;
    c->lin = p->has_lin_scale ? p->lin_scale : c->causal ? 1.0f / (float)C : (float)(1.0 / (double)c->T);
    c->lin_norm = c->causal && p->lin_norm == OCLA_FLASH_LIN_MEAN ? 1 : 0;
    c->rd = p->rope_dims;
    c->pos0 = p->pos_offset;
    c->local[0] = (size_t)plan->wg_x, c->local[1] = (size_t)plan->wg_y, c->local[2] = 1;
    return OCLA_SUCCESS;
}

ocla_status ocla__flash_states(ocla_context *ctx, cl_kernel states, const ocla_tensor *x, const ocla_tensor *v,
                               cl_mem invf, cl_mem KV, const ocla__flash_call *c) {
    ocla_args a = {ctx, states, 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, x, NULL, 4), ocla__push_tensor(&a, v, NULL, 4), ocla__push_mem(&a, invf), ocla__push_mem(&a, KV);
    ocla__push_int(&a, c->T), ocla__push_int(&a, c->H), ocla__push_int(&a, c->S), ocla__push_int(&a, c->E);
    ocla__push_int(&a, c->C), ocla__push_int(&a, c->G), ocla__push_int(&a, c->rd), ocla__push_long(&a, c->pos0);
    ocla__flash_push_seq(&a, c);
    const size_t g2[3] = {(size_t)c->E, (size_t)c->S, (size_t)(c->B * c->H * c->G)};
    return ocla__layer_launch(&a, 3, g2, c->local, "flash chunk states");
}

ocla_status ocla__flash_prefix(ocla_context *ctx, cl_kernel prefix, cl_mem KV, const ocla__flash_call *c) {
    ocla_args a = {ctx, prefix, 0, OCLA_SUCCESS};
    ocla__push_mem(&a, KV), ocla__push_int(&a, c->S), ocla__push_int(&a, c->E), ocla__push_int(&a, c->G);
    ocla__push_int(&a, c->causal), ocla__push_int(&a, c->lin_norm), ocla__push_float(&a, c->lin);
    ocla__flash_push_seq(&a, c);
    const size_t g3[3] = {(size_t)c->E, (size_t)c->S, (size_t)(c->B * c->H) * (size_t)(c->nseq ? c->nseq : 1)};
    return ocla__layer_launch(&a, 3, g3, c->local, "flash prefix");
}

static ocla_status run(ocla_context *ctx, const ocla_flash_params *p, const ocla_flash_io *io) {
    ocla__flash_call c;
    ocla_status st = ocla__flash_check(ctx, FN, p, (const ocla_tensor *const[4]){io->qq, io->kq, io->ql, io->kl},
                                       io->v, &c);
    int64_t E = 0;
    if (st != OCLA_SUCCESS ||
        (st = ocla__check_vo_as(ctx, io->v, io->o, c.B, c.T, c.T, c.H, &E, "qq", "qq", c.dt)) != OCLA_SUCCESS)
        return st;
    const ocla_io_set set = {.in = {io->qq, io->kq, io->ql, io->kl, io->v, p->rel_bias},
                             .in_name = {"qq", "kq", "ql", "kl", "v", "rel_bias"},
                             .out = {io->o},
                             .out_name = {"o"},
                             .n_in = 6,
                             .n_out = 1};
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    if (c.B * c.T * c.H == 0) return OCLA_SUCCESS;
    ocla_plan plan;
    cl_kernel k[4];
    if ((st = ocla__flash_plan(ctx, FN, p, 0, k_names, 4, &c, &plan, k)) != OCLA_SUCCESS) return st;
    if (p->rel_bias && (st = ocla__flash_check_bias(ctx, FN, p->rel_bias, "rel_bias (qq's dtype)", &c)) != OCLA_SUCCESS)
        return st;
    /* scratch slots 4, 5, 6: the C x C scores per chunk, the chunk states, the RoPE frequencies and the
     * sequence table */
    const int64_t aux = (int64_t)ocla__flash_aux_floats(&c);
    ocla__layer_ws ws = {.ctx = ctx};
    ocla_tensor *tA = ocla__layer_ws_add(&ws, 3, (int64_t[]){c.B * c.H, c.T, c.C});
    ocla_tensor *tKV = ocla__layer_ws_add(&ws, 4, (int64_t[]){c.B * c.H, c.G, c.S, c.E});
    ocla_tensor *tf = ocla__layer_ws_add(&ws, 1, &aux);
    if ((st = ocla__layer_ws_get_apart(&ws, 4, FN)) != OCLA_SUCCESS ||
        (st = ocla__flash_aux_upload(ctx, p->rope_base, tf->mem, &c)) != OCLA_SUCCESS)
        return st;
    const cl_mem A = tA->mem, KV = tKV->mem, invf = tf->mem;

    /* pass 1: C x C scores per chunk */
    ocla_args a = {ctx, k[0], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->qq, NULL, 4), ocla__push_tensor(&a, io->kq, NULL, 4);
    ocla__push_tensor(&a, p->rel_bias, KV, 1); /* buffer, offset, stride between heads */
    ocla__push_mem(&a, invf), ocla__push_mem(&a, A);
    ocla__push_int(&a, c.T), ocla__push_int(&a, c.H), ocla__push_int(&a, c.S), ocla__push_int(&a, c.C);
    ocla__push_int(&a, c.causal), ocla__push_int(&a, p->rel_bias != NULL), ocla__push_int(&a, c.rd);
    ocla__push_long(&a, c.pos0), ocla__push_float(&a, c.qs), ocla__push_float(&a, p->bias_scale);
    ocla__push_float(&a, p->quad_post), ocla__flash_push_seq(&a, &c);
    const size_t g1[3] = {(size_t)c.C, (size_t)c.T, (size_t)(c.B * c.H)};
    if ((st = ocla__layer_launch(&a, 3, g1, c.local, "flash scores")) != OCLA_SUCCESS) return st;

    /* passes 2 and 3: per-chunk K_lin^T V, then the exclusive prefix (causal) or total (non-causal), scaled */
    if ((st = ocla__flash_states(ctx, k[1], io->kl, io->v, invf, KV, &c)) != OCLA_SUCCESS ||
        (st = ocla__flash_prefix(ctx, k[2], KV, &c)) != OCLA_SUCCESS)
        return st;

    /* pass 4: outputs */
    a = (ocla_args){ctx, k[3], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->ql, NULL, 4), ocla__push_tensor(&a, io->v, NULL, 4), ocla__push_mem(&a, invf), ocla__push_mem(&a, A), ocla__push_mem(&a, KV);
    ocla__push_tensor(&a, io->o, NULL, 4);
    ocla__push_int(&a, c.T), ocla__push_int(&a, c.H), ocla__push_int(&a, c.S), ocla__push_int(&a, c.E), ocla__push_int(&a, c.C);
    ocla__push_int(&a, (int)c.G), ocla__push_int(&a, c.causal), ocla__push_int(&a, c.rd), ocla__push_long(&a, c.pos0);
    ocla__flash_push_seq(&a, &c);
    const size_t g4[3] = {(size_t)c.E, (size_t)c.T, (size_t)(c.B * c.H)};
    return ocla__layer_launch(&a, 3, g4, c.local, "flash output");
}

ocla_status ocla_flash_attention(ocla_context *ctx, const ocla_flash_params *params, const ocla_flash_io *io) {
    ocla_flash_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_FLASH_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, io, run(ctx, params, io));
}
