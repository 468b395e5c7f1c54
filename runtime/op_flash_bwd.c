/* SPDX-License-Identifier: MIT */
/* Backward of FLASH mixed chunk attention (ocla_flash_backward, include/ocla/flash.h; kernels
 * kernels_cl/flash_bwd.cl plus flash.cl's chunk-state passes; math and memory: docs/TRAINING.md,
 * "FLASH backward").
 *
 * validate (the forward's rules, runtime/op_flash.h) -> plan (the FLASH row with OCLA__PLAN_FLASH_BWD:
 * the same chunk and work-groups as the forward) -> the plan's kernels, in the plan's order.
 * Temporaries in the context's scratch slots 0-3 (the attention ops' range; a layer's backward keeps
 * its own in 4-7): 0 = the linear part's states M [B*H, G, S, E], 1 = the sums of rope(ql) do^T per
 * chunk, turned into their suffix dS [B*H, G, S, E], 2 = the RoPE frequencies, 3 = the scores A and
 * their gradient dX [B*H, T, C] each, the relative bias gradient's partial sums [B*H, G, 2C-1] and its
 * running sum [H, 2C-1]. Slot 2 holds the packed sequences' table after the frequencies
 * (runtime/op_flash_seq.c). Half precision: every tensor of qq's dtype (the kernels read and write it,
 * the variant's -DOCLA_DTYPE); the temporaries and every sum stay fp32. */
#include <stdint.h>
#include <string.h>

#include "op_flash.h"

#define FN "ocla_flash_backward"
#define SLOT_M 0
#define SLOT_DS 1
#define SLOT_INVF 2
#define SLOT_AX 3
#define ALIGN 64 /* region alignment in floats (256 bytes) */
#define DBIAS_SPLIT 32768 /* (b, g) pairs per flashb_dbias_sum launch: llvmpipe's loop limit (common.cl) */

/* The kernels in launch order, as the plan names them (runtime/plan_flash.c); the last two only with
 * d_rel_bias. flash_states and flashb_dqk run twice (one kernel object, arguments set before each
 * launch). */
enum { K_SCORES, K_STATES, K_PREFIX, K_STATES2, K_SUFFIX, K_DQK, K_DV, K_DBIAS, K_DBIAS_SUM, K_COUNT };
static const char *const k_names[K_COUNT] = {"flashb_scores", "flash_states", "flash_prefix",
                                             "flash_states",  "flashb_suffix", "flashb_dqk",
                                             "flashb_dv",     "flashb_dbias",  "flashb_dbias_sum"};

static ocla_status check_outputs(ocla_context *ctx, const ocla_flash_params *p, const ocla_flash_grad_io *io,
                                 const ocla__flash_call *c) {
    const int64_t sd[4] = {c->B, c->T, c->H, c->S}, ed[4] = {c->B, c->T, c->H, c->E};
    ocla_status st;
    const ocla_dtype dt = c->dt;
    if ((st = ocla__check_tensor_as(ctx, io->d_o, "d_o (v's dims, qq's dtype)", 4, ed, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, io->dqq, "dqq (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, io->dkq, "dkq (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, io->dql, "dql (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, io->dkl, "dkl (qq's dims and dtype)", 4, sd, dt)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor_as(ctx, io->dv, "dv (v's dims, qq's dtype)", 4, ed, dt)) != OCLA_SUCCESS)
        return st;
    if (io->d_rel_bias && !p->rel_bias)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": d_rel_bias needs params.rel_bias");
    const ocla_io_set set = {.in = {io->qq, io->kq, io->ql, io->kl, io->v, p->rel_bias, io->d_o},
                             .in_name = {"qq", "kq", "ql", "kl", "v", "rel_bias", "d_o"},
                             .out = {io->dqq, io->dkq, io->dql, io->dkl, io->dv, io->d_rel_bias},
                             .out_name = {"dqq", "dkq", "dql", "dkl", "dv", "d_rel_bias"},
                             .n_in = 7,
                             .n_out = 6};
    return ocla__check_disjoint(ctx, FN, &set);
}

/* Slot 3's regions (floats): A at 0, dX at *x_off, the bias partial sums at *p_off, then (dbias) the
 * bias gradient's running sum [H, 2C-1] at *r_off; the bytes of every slot in bytes[]. Nonzero when a
 * size overflows. */
static int layout(ocla__flash_call *c, int dbias, size_t *x_off, size_t *p_off, size_t *r_off, size_t bytes[4]) {
    size_t bh, tc, states, part = 0, end;
    if (!ocla__mul_ok((size_t)c->B, (size_t)c->H, &bh) || !ocla__mul_ok(bh, (size_t)c->T, &tc) ||
        !ocla__mul_ok(tc, (size_t)c->C, &tc) || !ocla__mul_ok(bh, (size_t)c->G, &states) ||
        (dbias && !ocla__mul_ok(states, 2 * (size_t)c->C - 1, &part)) ||
        !ocla__mul_ok(states, (size_t)c->S, &states) || !ocla__mul_ok(states, (size_t)c->E, &states))
        return 1;
    if (tc > SIZE_MAX / 8) return 1; /* A and dX in bytes would not fit anyway; the rounding below stays exact */
    const size_t a_end = (tc + ALIGN - 1) / ALIGN * ALIGN;
    *x_off = a_end;
    if (!ocla__add_ok(a_end, tc, &end)) return 1;
    *p_off = (end + ALIGN - 1) / ALIGN * ALIGN;
    if (!ocla__add_ok(*p_off, part, &end)) return 1;
    *r_off = end;
    if (dbias && !ocla__add_ok(end, (size_t)c->H * (2 * (size_t)c->C - 1), &end)) return 1;
    const size_t floats[4] = {states, states, ocla__flash_aux_floats(c), end};
    for (int i = 0; i < 4; i++)
        if (!ocla__mul_ok(floats[i], sizeof(float), &bytes[i])) return 1;
    return 0;
}

static ocla_status run(ocla_context *ctx, const ocla_flash_params *p, const ocla_flash_grad_io *io) {
    ocla__flash_call c;
    ocla_status st = ocla__flash_check(ctx, FN, p, (const ocla_tensor *const[4]){io->qq, io->kq, io->ql, io->kl},
                                       io->v, &c);
    if (st != OCLA_SUCCESS || (st = check_outputs(ctx, p, io, &c)) != OCLA_SUCCESS) return st;
    if (c.B * c.T * c.H == 0) return OCLA_SUCCESS;
    const int dbias = io->d_rel_bias != NULL, nk = dbias ? K_COUNT : K_DBIAS;
    ocla_plan plan;
    cl_kernel k[K_COUNT];
    const unsigned flags = OCLA__PLAN_FLASH_BWD | (dbias ? OCLA__PLAN_FLASH_DBIAS : 0u);
    if ((st = ocla__flash_plan(ctx, FN, p, flags, k_names, nk, &c, &plan, k)) != OCLA_SUCCESS) return st;
    if ((p->rel_bias && (st = ocla__flash_check_bias(ctx, FN, p->rel_bias, "rel_bias (qq's dtype)", &c)) != OCLA_SUCCESS) ||
        (dbias && (st = ocla__flash_check_bias(ctx, FN, io->d_rel_bias, "d_rel_bias (qq's dtype)", &c)) != OCLA_SUCCESS))
        return st;

    /* temporaries */
    size_t x_off, p_off, r_off, bytes[4];
    if (layout(&c, dbias, &x_off, &p_off, &r_off, bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, FN ": temporary sizes overflow");
    cl_mem mem[4];
    for (int i = 0; i < 4; i++) {
        if (bytes[i] > ctx->info.max_alloc_size)
            return ocla__fail(ctx, OCLA_ERR_TOO_LARGE,
                              FN ": the temporaries need %zu bytes in one buffer at chunk %d, more than the device's "
                              "largest allocation CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu (split B*H or T)",
                              bytes[i], c.C, (unsigned long long)ctx->info.max_alloc_size);
        if ((st = ocla__scratch(ctx, i, bytes[i], &mem[i])) != OCLA_SUCCESS) return st;
    }
    if ((st = ocla__flash_aux_upload(ctx, p->rope_base, mem[SLOT_INVF], &c)) != OCLA_SUCCESS) return st;
    const cl_mem M = mem[SLOT_M], dS = mem[SLOT_DS], invf = mem[SLOT_INVF], AX = mem[SLOT_AX];
    const size_t BH = (size_t)(c.B * c.H);

    /* scores A and their gradient dX */
    ocla_args a = {ctx, k[K_SCORES], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->qq, NULL, 4), ocla__push_tensor(&a, io->kq, NULL, 4);
    ocla__push_tensor(&a, p->rel_bias, AX, 1); /* buffer, offset, stride between heads */
    ocla__push_tensor(&a, io->v, NULL, 4), ocla__push_tensor(&a, io->d_o, NULL, 4), ocla__push_mem(&a, invf);
    ocla__push_mem(&a, AX), ocla__push_long(&a, 0), ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)x_off);
    ocla__push_int(&a, c.T), ocla__push_int(&a, c.H), ocla__push_int(&a, c.S), ocla__push_int(&a, c.E);
    ocla__push_int(&a, c.C), ocla__push_int(&a, c.causal), ocla__push_int(&a, p->rel_bias != NULL);
    ocla__push_int(&a, c.rd), ocla__push_long(&a, c.pos0), ocla__push_float(&a, c.qs);
    ocla__push_float(&a, p->bias_scale), ocla__push_float(&a, p->quad_post), ocla__flash_push_seq(&a, &c);
    const size_t g_scores[3] = {(size_t)c.C, (size_t)c.T, BH};
    if ((st = ocla__layer_launch(&a, 3, g_scores, c.local, "flash backward scores")) != OCLA_SUCCESS) return st;

    /* the linear part: M as the forward has it; W = sum rope(ql) do^T per chunk, then its suffix dS */
    if ((st = ocla__flash_states(ctx, k[K_STATES], io->kl, io->v, invf, M, &c)) != OCLA_SUCCESS ||
        (st = ocla__flash_prefix(ctx, k[K_PREFIX], M, &c)) != OCLA_SUCCESS ||
        (st = ocla__flash_states(ctx, k[K_STATES2], io->ql, io->d_o, invf, dS, &c)) != OCLA_SUCCESS)
        return st;
    a = (ocla_args){ctx, k[K_SUFFIX], 0, OCLA_SUCCESS};
    ocla__push_mem(&a, dS), ocla__push_int(&a, c.S), ocla__push_int(&a, c.E), ocla__push_int(&a, (int)c.G);
    ocla__push_int(&a, c.causal), ocla__push_int(&a, c.lin_norm), ocla__push_float(&a, c.lin);
    ocla__flash_push_seq(&a, &c);
    const size_t g_suffix[3] = {(size_t)c.E, (size_t)c.S, BH * (size_t)(c.nseq ? c.nseq : 1)};
    if ((st = ocla__layer_launch(&a, 3, g_suffix, c.local, "flash backward suffix")) != OCLA_SUCCESS) return st;

    /* dqq, dql from (kq, dX, M, d_o); dkq, dkl from (qq, dX, dS, v): the same argument shapes */
    const ocla_tensor *const src[2][2] = {{io->kq, io->d_o}, {io->qq, io->v}};
    ocla_tensor *const dst[2][2] = {{io->dqq, io->dql}, {io->dkq, io->dkl}};
    const cl_mem states[2] = {M, dS};
    const size_t g_qk[3] = {(size_t)c.S, (size_t)c.T, BH};
    for (int i = 0; i < 2; i++) {
        a = (ocla_args){ctx, k[K_DQK], 0, OCLA_SUCCESS};
        ocla__push_tensor(&a, src[i][0], NULL, 4), ocla__push_tensor(&a, src[i][1], NULL, 4), ocla__push_mem(&a, invf);
        ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)x_off), ocla__push_mem(&a, states[i]);
        ocla__push_tensor(&a, dst[i][0], NULL, 4), ocla__push_tensor(&a, dst[i][1], NULL, 4);
        ocla__push_int(&a, c.T), ocla__push_int(&a, c.H), ocla__push_int(&a, c.S), ocla__push_int(&a, c.E);
        ocla__push_int(&a, c.C), ocla__push_int(&a, (int)c.G), ocla__push_int(&a, c.causal), ocla__push_int(&a, c.rd);
        ocla__push_long(&a, c.pos0), ocla__push_float(&a, c.qs), ocla__push_int(&a, i), ocla__flash_push_seq(&a, &c);
        if ((st = ocla__layer_launch(&a, 3, g_qk, c.local, i ? "flash backward dk" : "flash backward dq")) != OCLA_SUCCESS)
            return st;
    }

    /* dv */
    a = (ocla_args){ctx, k[K_DV], 0, OCLA_SUCCESS};
    ocla__push_tensor(&a, io->kl, NULL, 4), ocla__push_tensor(&a, io->d_o, NULL, 4), ocla__push_mem(&a, invf);
    ocla__push_mem(&a, AX), ocla__push_long(&a, 0), ocla__push_mem(&a, dS), ocla__push_tensor(&a, io->dv, NULL, 4);
    ocla__push_int(&a, c.T), ocla__push_int(&a, c.H), ocla__push_int(&a, c.S), ocla__push_int(&a, c.E);
    ocla__push_int(&a, c.C), ocla__push_int(&a, (int)c.G), ocla__push_int(&a, c.causal), ocla__push_int(&a, c.rd);
    ocla__push_long(&a, c.pos0), ocla__flash_push_seq(&a, &c);
    const size_t g_dv[3] = {(size_t)c.E, (size_t)c.T, BH};
    if ((st = ocla__layer_launch(&a, 3, g_dv, c.local, "flash backward dv")) != OCLA_SUCCESS || !dbias) return st;

    /* d rel_bias: partial sums per chunk, then over the batch and the chunks */
    a = (ocla_args){ctx, k[K_DBIAS], 0, OCLA_SUCCESS};
    ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)x_off), ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)p_off);
    ocla__push_int(&a, c.T), ocla__push_int(&a, c.C), ocla__push_int(&a, (int)c.G), ocla__flash_push_seq(&a, &c);
    const size_t g_part[3] = {2 * (size_t)c.C - 1, (size_t)c.G, BH};
    if ((st = ocla__layer_launch(&a, 3, g_part, c.local, "flash backward bias partials")) != OCLA_SUCCESS) return st;
    const size_t g_sum[3] = {2 * (size_t)c.C - 1, (size_t)c.H, 1};
    const int64_t pairs = c.B * c.G; /* (b, g) pairs, DBIAS_SPLIT per launch */
    for (int64_t n0 = 0; n0 < pairs && st == OCLA_SUCCESS; n0 += DBIAS_SPLIT) {
        const int last = pairs - n0 <= DBIAS_SPLIT;
        a = (ocla_args){ctx, k[K_DBIAS_SUM], 0, OCLA_SUCCESS};
        ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)p_off), ocla__push_mem(&a, AX), ocla__push_long(&a, (int64_t)r_off);
        ocla__push_tensor(&a, io->d_rel_bias, NULL, 1);
        ocla__push_int(&a, (int)c.H), ocla__push_int(&a, c.C), ocla__push_int(&a, (int)c.G), ocla__push_int(&a, (int)n0);
        ocla__push_int(&a, (int)(last ? pairs : n0 + DBIAS_SPLIT)), ocla__push_int(&a, n0 > 0), ocla__push_int(&a, last);
        ocla__push_float(&a, p->bias_scale);
        st = ocla__layer_launch(&a, 3, g_sum, c.local, "flash backward bias");
    }
    return st;
}

ocla_status ocla_flash_backward(ocla_context *ctx, const ocla_flash_params *params, const ocla_flash_grad_io *io) {
    ocla_flash_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_FLASH_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, io, run(ctx, params, io));
}
