/* SPDX-License-Identifier: MIT */
/* Backward of the GAU / FLASH layer (ocla_gau_layer_backward, <ocla/layers.h>; kernels
 * kernels_cl/gau_bwd.cl and gau.cl's gau_norm_bwd; the math, step by step: tests/ref/ref_gau_grad.h).
 *
 *  1. the forward again up to AV (layer_gau.c, ocla__gau_attend): xn, h, qk (rotated), o = AV
 *  2. da[:, :2E] = xn W_uvz[:, :2E]: the U and V pre-activations, which gau_split replaced in h
 *  3. dg = dy W_o^T
 *  4. gau_bwd_gate: dg -> dAV, o -> G = U * AV, da's U columns
 *  5. dW_o = G^T dy, db_o = sum dy
 *  6. ocla_flash_backward with rope_dims 0 (qk is rotated already) -> dq (four planes), dv, d rel_bias
 *  7. gau_bwd_vz: da's V and Z columns (RoPE's transpose, the offset-scales, SiLU), and the terms of
 *     dgamma and dbeta (p), summed over the tokens
 *  8. dxn = da W_uvz^T, dW_uvz = xn^T da, db_uvz = sum da
 *  9. gau_norm_bwd: dx (plus dy with the residual) and the norm gain's terms; dnorm_b = sum dxn
 * Projections and column sums: layer_bwd_common.h. Temporaries: the forward's (ocla__gau_ws_add) and
 * dg, dv [B,T,e], da [B,T,2e+s], dq [4, B*T*s], p [2, B*T*4s] (dgamma / dbeta only), dxn [B,T,d] and
 * the norm gain's terms [B*T, d] (LayerNorm) or [B*T] (ScaleNorm), in one workspace in scratch slot
 * OCLA_LAYER_BWD_SLOT; the flash op's forward keeps its slots 4-6 and its backward 0-3 apart. */
#include "layer_bwd_common.h"
#include "layer_gau.h"
#include "layer_half.h"
#include "op_common.h"

#define FN "ocla_gau_layer_backward"

/* A dense view of rows x cols elements (cols < 0: a vector of rows) at element offset off of t's buffer. */
static void dense_view(const ocla_tensor *t, size_t off, int64_t rows, int64_t cols, struct ocla_tensor *out) {
    *out = (struct ocla_tensor){.ctx = t->ctx, .mem = t->mem, .offset = t->offset + off, .ndim = cols < 0 ? 1 : 2,
                                .dtype = OCLA_F32, .dims = {rows, cols}, .strides = {cols < 0 ? 1 : cols, 1}};
}

/* dy, and dx when given: dense with x's dims. */
static ocla_status check_like_x(ocla_context *ctx, const ocla_tensor *x, const ocla_tensor *t, const char *name) {
    ocla_status st = ocla__check_tensor(ctx, t, name, 3, x->dims);
    if (st == OCLA_SUCCESS && !ocla__tensor_is_contiguous(t))
        st = ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": %s must be dense [B,T,d]", name);
    return st;
}

/* The gradients asked for: the dims and density of their weights (the weights' own check, on a set
 * of their own), the norm's rules; then appended to set's outputs. */
static ocla_status check_grads(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla__gau_dims *dm,
                               const ocla_gau_layer_grads *g, ocla_io_set *set) {
    const int ln = p->norm == OCLA_GAU_NORM_LAYER, sn = p->norm == OCLA_GAU_NORM_SCALE;
    if ((g->norm_w || g->norm_b) && !ln && !sn)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": grads.norm_w / norm_b need a norm (params.norm is NONE)");
    if (g->norm_b && sn)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": ScaleNorm has no offset: grads.norm_b must be NULL");
    const ocla_tensor *rb = p->flash.rel_bias;
    if (g->rel_bias && !rb)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": grads.rel_bias needs params.flash.rel_bias");
    const ocla_tensor *const t[8] = {g->w_uvz, g->b_uvz, g->gamma, g->beta, g->w_o, g->b_o, g->norm_w, g->norm_b};
    ocla__layer_weight want[9];
    ocla__gau_weight_table(p, dm, t, 1, want);
    want[8] = (ocla__layer_weight){g->rel_bias, "grads.rel_bias", "(flash.rel_bias's [1, 2C-1])", rb ? rb->dims[0] : 0,
                                   rb && rb->ndim == 2 ? rb->dims[1] : -1, 1};
    const int n = 9;
    ocla_io_set own = {.n_in = 0};
    ocla_status st = ocla__layer_check_weights(ctx, FN, want, n, &own);
    if (st != OCLA_SUCCESS) return st;
    if (set->n_out + n > OCLA_IO_MAX) return ocla__fail(ctx, OCLA_ERR_INTERNAL, FN ": too many outputs to check");
    for (int i = 0; i < n; i++) set->out[set->n_out] = want[i].t, set->out_name[set->n_out++] = want[i].name;
    return OCLA_SUCCESS;
}

/* The backward's own temporaries (the header comment); NULL where not needed. */
typedef struct bwd_bufs {
    ocla_tensor *dg, *dv, *da, *dq, *p, *dxn, *pw;
} bwd_bufs;

/* 6: the FLASH backward on the forward's rotated qk and h's V columns, d_o = dAV (in dg). */
static ocla_status attention_backward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla__gau_dims *dm,
                                      const ocla__gau_bufs *f, const bwd_bufs *b, ocla_tensor *d_rel_bias) {
    const int64_t S = dm->S, E = dm->E;
    struct ocla_tensor q[4], dq[4], v, d_o, dv;
    for (int k = 0; k < 4; k++) {
        ocla__layer_heads(f->qk, (size_t)(k * S), 1, S, &q[k]);
        /* plane k of dq as [B,T,1,S] */
        dq[k] = (struct ocla_tensor){.ctx = ctx, .mem = b->dq->mem, .offset = b->dq->offset + (size_t)(k * dm->rows * S),
                                     .ndim = 4, .dtype = OCLA_F32, .dims = {dm->B, dm->T, 1, S},
                                     .strides = {dm->T * S, S, S, 1}};
    }
    ocla__layer_heads(f->h, (size_t)E, 1, E, &v), ocla__layer_heads(b->dg, 0, 1, E, &d_o);
    ocla__layer_heads(b->dv, 0, 1, E, &dv);
    const ocla_flash_grad_io io = {&q[0], &q[1], &q[2], &q[3], &v, &d_o, &dq[0], &dq[1], &dq[2], &dq[3], &dv, d_rel_bias};
    ocla_flash_params fp = p->flash;
    fp.rope_dims = 0; /* qk holds the rotated values (gau_split) */
    fp.cu_seqlens = p->cu_seqlens, fp.n_seqs = p->n_seqs;
    return ocla_flash_backward(ctx, &fp, &io);
}

/* 7: da's V and Z columns, and dgamma / dbeta from their terms. */
static ocla_status vz_backward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                               const ocla_gau_layer_grads *g, const ocla__gau_dims *dm, const ocla__gau_bufs *f,
                               const bwd_bufs *b) {
    ocla_args a;
    ocla_status st = ocla__layer_kernel(ctx, &ocla__fam_gau_bwd, "gau_bwd_vz", &a);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_int(&a, dm->rows), ocla__push_int(&a, dm->T), ocla__push_int(&a, dm->E), ocla__push_int(&a, dm->S);
    ocla__push_tensor(&a, f->h, NULL, 0), ocla__gau_push_opt(&a, w->b_uvz, f->h->mem);
    ocla__push_tensor(&a, b->dv, NULL, 0), ocla__push_tensor(&a, b->dq, NULL, 0), ocla__push_tensor(&a, w->gamma, NULL, 0);
    ocla__push_int(&a, p->flash.rope_dims), ocla__push_long(&a, p->flash.pos_offset);
    ocla__push_tensor(&a, f->invf, f->h->mem, 0), ocla__push_tensor(&a, b->da, NULL, 0);
    ocla__gau_push_opt(&a, b->p, f->h->mem), ocla__gau_push_seq(&a, f, dm);
    const size_t gs[2] = {(size_t)(dm->E + dm->S), (size_t)dm->rows};
    if ((st = ocla__layer_launch(&a, 2, gs, NULL, "GAU backward V, Z, offset-scale and RoPE")) != OCLA_SUCCESS) return st;
    ocla_tensor *const sums[2] = {g->gamma, g->beta};
    const size_t plane = (size_t)dm->rows * 4 * (size_t)dm->S;
    for (int i = 0; i < 2 && st == OCLA_SUCCESS; i++) {
        if (!sums[i]) continue;
        struct ocla_tensor terms, out;
        dense_view(b->p, i * plane, dm->rows, 4 * dm->S, &terms), dense_view(sums[i], 0, 4 * dm->S, -1, &out);
        st = ocla__layer_colsum(ctx, &terms, &out);
    }
    return st;
}

/* 9: dx and the norm's gradients from dxn. */
static ocla_status norm_backward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                                 const ocla_tensor *x, const ocla_tensor *dy, ocla_tensor *dx,
                                 const ocla_gau_layer_grads *g, const ocla__gau_dims *dm, const bwd_bufs *b) {
    const int ln = p->norm == OCLA_GAU_NORM_LAYER, kind = ln ? 0 : p->norm == OCLA_GAU_NORM_SCALE ? 1 : 2;
    ocla_status st = OCLA_SUCCESS;
    if (dx || b->pw) {
        ocla_args a;
        size_t L = 0;
        if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_norm_bwd", &a)) != OCLA_SUCCESS ||
            (st = ocla__gau_row_group(ctx, a.k, dm->D, &L)) != OCLA_SUCCESS)
            return st;
        ocla__push_int(&a, dm->rows), ocla__push_int(&a, dm->D), ocla__push_int(&a, kind);
        ocla__push_float(&a, p->norm_eps), ocla__push_tensor(&a, x, NULL, 0);
        ocla__gau_push_opt(&a, kind < 2 ? w->norm_w : NULL, x->mem), ocla__push_tensor(&a, b->dxn, NULL, 0);
        ocla__push_tensor(&a, dy, NULL, 0), ocla__push_int(&a, p->residual ? 1 : 0);
        ocla__gau_push_opt(&a, dx, x->mem), ocla__gau_push_opt(&a, b->pw, x->mem);
        ocla__args_push(&a, L * sizeof(cl_float), NULL); /* __local red[L] */
        const size_t gsz = (size_t)dm->rows * L;
        if ((st = ocla__layer_launch(&a, 1, &gsz, &L, "GAU backward norm")) != OCLA_SUCCESS) return st;
    }
    if (g->norm_w) {
        struct ocla_tensor out;
        dense_view(g->norm_w, 0, ln ? dm->D : 1, -1, &out);
        st = ocla__layer_colsum(ctx, b->pw, &out);
    }
    if (st == OCLA_SUCCESS && g->norm_b) st = ocla__layer_colsum(ctx, b->dxn, g->norm_b);
    return st;
}

static ocla_status backward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                            const ocla_tensor *x, const ocla_tensor *dy, ocla_tensor *dx, const ocla_gau_layer_grads *g) {
    if (x && x->dtype != OCLA_F32) /* returns; layer_half.h */
        OCLA__HALF_BACKWARD(gau, backward, ctx, FN, p, w, x, dy, dx, g);
    static const ocla_gau_layer_grads none; /* every gradient NULL */
    if (!g) g = &none;
    ocla__gau_dims dm;
    ocla_io_set set = {.in = {x, dy, p->flash.rel_bias}, .in_name = {"x", "dy", "flash.rel_bias"}, .out = {dx},
                       .out_name = {"dx"}, .n_in = 3, .n_out = 1};
    ocla_status st = ocla__gau_check_params(ctx, FN, p);
    if (st == OCLA_SUCCESS) st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    if (st == OCLA_SUCCESS) st = check_like_x(ctx, x, dy, "dy (x's dims [B,T,d])");
    if (st == OCLA_SUCCESS && dx) st = check_like_x(ctx, x, dx, "dx (x's dims [B,T,d])");
    if (st == OCLA_SUCCESS) st = ocla__gau_check(ctx, FN, p, w, x, &set, &dm);
    if (st == OCLA_SUCCESS) st = check_grads(ctx, p, &dm, g, &set);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    if (st != OCLA_SUCCESS) return st;
    if (dm.rows == 0) return OCLA_SUCCESS; /* tensors have positive dims: never taken */
    const int64_t B = dm.B, T = dm.T, D = dm.D, E = dm.E, S = dm.S, W = dm.W, M = dm.rows;
    const int norm = p->norm != OCLA_GAU_NORM_NONE, ln = p->norm == OCLA_GAU_NORM_LAYER;

    /* temporaries */
    ocla__layer_ws ws = {.ctx = ctx};
    ocla__gau_bufs f;
    ocla__gau_ws_add(&ws, &dm, p->flash.rope_dims, &f);
    const int64_t de[3] = {B, T, E}, dw[3] = {B, T, W}, dd[3] = {B, T, D}, dq[2] = {4, M * S}, dp[2] = {2, M * 4 * S};
    const int64_t dpw[2] = {M, ln ? D : 1};
    bwd_bufs b = {ocla__layer_ws_add(&ws, 3, de), ocla__layer_ws_add(&ws, 3, de), ocla__layer_ws_add(&ws, 3, dw),
                  ocla__layer_ws_add(&ws, 2, dq), NULL, NULL, NULL};
    if (g->gamma || g->beta) b.p = ocla__layer_ws_add(&ws, 2, dp);
    if (dx || (norm && (g->norm_w || g->norm_b))) b.dxn = ocla__layer_ws_add(&ws, 3, dd);
    if (norm && g->norm_w) b.pw = ocla__layer_ws_add(&ws, 2, dpw);
    if ((st = ocla__layer_ws_get_in(&ws, OCLA_LAYER_BWD_SLOT, FN)) != OCLA_SUCCESS) return st;

    /* 1, 2: the forward to AV; the U and V pre-activations */
    const ocla_tensor *xn;
    if ((st = ocla__gau_attend(ctx, p, w, x, &dm, &f, &xn)) != OCLA_SUCCESS) return st;
    ocla_gemm_desc gd;
    ocla_gemm_desc_defaults(&gd);
    gd.m = (size_t)M, gd.n = 2 * (size_t)E, gd.k = (size_t)D, gd.alpha = 1.0f, gd.beta = 0.0f;
    gd.lda = (size_t)D, gd.ldb = (size_t)W, gd.ldc = (size_t)W;
    if ((st = ocla__gemm(ctx, &gd, xn->mem, xn->offset, w->w_uvz->mem, w->w_uvz->offset, b.da->mem, b.da->offset)) !=
        OCLA_SUCCESS)
        return st;

    /* 3, 4, 5: the output projection and the gate */
    if ((st = ocla__layer_project_backward(ctx, f.o, w->w_o, dy, b.dg, 0, NULL, NULL)) != OCLA_SUCCESS) return st;
    ocla_args a;
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau_bwd, "gau_bwd_gate", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, M), ocla__push_int(&a, E), ocla__push_int(&a, S), ocla__push_tensor(&a, f.h, NULL, 0);
    ocla__gau_push_opt(&a, w->b_uvz, f.h->mem), ocla__push_tensor(&a, f.o, NULL, 0);
    ocla__push_tensor(&a, b.dg, NULL, 0), ocla__push_tensor(&a, b.da, NULL, 0);
    const size_t gg[2] = {(size_t)E, (size_t)M};
    if ((st = ocla__layer_launch(&a, 2, gg, NULL, "GAU backward gate")) != OCLA_SUCCESS) return st;
    if ((g->w_o || g->b_o) &&
        (st = ocla__layer_project_backward(ctx, f.o, w->w_o, dy, NULL, 0, g->w_o, g->b_o)) != OCLA_SUCCESS)
        return st;

    /* 6, 7: the attention, then V, Z and the offset-scales */
    if ((st = attention_backward(ctx, p, &dm, &f, &b, g->rel_bias)) != OCLA_SUCCESS ||
        (st = vz_backward(ctx, p, w, g, &dm, &f, &b)) != OCLA_SUCCESS)
        return st;

    /* 8, 9: the input projection, the norm and the residual */
    if ((b.dxn || g->w_uvz || g->b_uvz) &&
        (st = ocla__layer_project_backward(ctx, xn, w->w_uvz, b.da, b.dxn, 0, g->w_uvz, g->b_uvz)) != OCLA_SUCCESS)
        return st;
    return b.dxn ? norm_backward(ctx, p, w, x, dy, dx, g, &dm, &b) : OCLA_SUCCESS;
}

ocla_status ocla_gau_layer_backward(ocla_context *ctx, const ocla_gau_layer_params *params,
                                    const ocla_gau_layer_weights *weights, const ocla_tensor *x, const ocla_tensor *dy,
                                    ocla_tensor *dx, const ocla_gau_layer_grads *grads) {
    ocla_gau_layer_params given;
    ocla_status st;
    if (ctx && params && (st = ocla__gau_params_in(ctx, FN, &params, &given)) != OCLA_SUCCESS) return st;
    OCLA__LOCKED_CALL(FN, ctx, params, weights, backward(ctx, params, weights, x, dy, dx, grads));
}
