/* SPDX-License-Identifier: MIT */
/* GAU / FLASH layer (Hua et al. 2022, methods.md section 3): norm, one fused projection to
 * [U | V | Z] (CLBlast), SiLU and the four per-dim scale/offsets of Z (kernels_cl/gau.cl), FLASH
 * mixed chunk attention with one head (op_flash.c), the U gate and the output projection (CLBlast),
 * bias and residual. See <ocla/layers.h> for the math.
 *
 * Temporaries, one workspace in the layers' scratch slot (layer_common.h; nothing is allocated once
 * it is large enough; the flash op's own slots 4-6 are apart):
 *   xo   [B,T,d]      norm(x), later the output projection (U * AV) W_o
 *   h    [B,T,2e+s]   [U | V | Z] pre-activations, then silu(U), silu(V) in place (Z's columns kept)
 *   qk   [B,T,4,s]    Q_quad, K_quad, Q_lin, K_lin; the flash op reads them through [B,T,1,s] views
 *   o    [B,T,e]      AV, then U * AV in place
 *   invf [rd/2]       RoPE inverse frequencies
 *   seq  [N+1]        packed sequences only: the offsets (int32), for gau_split's and gau_bwd_vz's
 *                     positions; the flash op gets them through its params (its own table, slot 6)
 * V is read by the flash op in place inside h through a strided [B,T,1,e] view (row stride 2e+s).
 * The backward (layer_gau_bwd.c) recomputes everything up to AV through the ocla__gau_* steps
 * (layer_gau.h): the checks, the temporaries and ocla__gau_attend. */

#include "layer_gau.h"
#include "layer_half.h"
#include "op_common.h"

#define FN "ocla_gau_layer_forward"
#define GAU_MAX_DIM 65536 /* s and e: the flash op's own limit on S and E */

void ocla_gau_layer_params_defaults(ocla_gau_layer_params *p) {
    if (!p) return;
    /* hidden_dim 0: 2 d */
    *p = (ocla_gau_layer_params){.size = sizeof *p, .qk_dim = 128, .norm = OCLA_GAU_NORM_LAYER, .norm_eps = 1e-5f,
                                 .residual = 1};
    ocla_flash_params_defaults(&p->flash);
    p->flash.rope_dims = 128; /* RoPE on all s dims, as the paper's model (methods.md 3.2, 3.3) */
}


void ocla__gau_push_opt(ocla_args *a, const ocla_tensor *t, cl_mem fallback) {
    ocla__push_tensor(a, t, fallback, 0);
    ocla__push_int(a, t != NULL);
}

void ocla__gau_push_seq(ocla_args *a, const ocla__gau_bufs *b, const ocla__gau_dims *dm) {
    ocla__push_tensor(a, b->seq, b->h->mem, 0);
    ocla__push_int(a, b->seq ? dm->nseq : 0);
}

/* Packed sequences: the layer's offsets (params.flash's must stay NULL: the layer passes its own),
 * causal only, checked as the attention op checks them against x [1,T,d]. */
static ocla_status check_seqs(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p, const ocla_tensor *x,
                              ocla__gau_dims *dm) {
    dm->nseq = 0;
    if (p->flash.cu_seqlens || p->flash.n_seqs)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: params.flash.cu_seqlens: the layer passes its own offsets to the attention; set "
                          "params.cu_seqlens and params.n_seqs instead", fn);
    if (!p->cu_seqlens && !p->n_seqs) return OCLA_SUCCESS;
    if (!p->cu_seqlens)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: params.n_seqs is %d but params.cu_seqlens is NULL", fn,
                          p->n_seqs);
    if (!p->flash.causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "%s: params.cu_seqlens: packed sequences need the causal form (flash.causal = 1)", fn);
    ocla_status st = ocla__check_offsets(ctx, p->cu_seqlens, p->n_seqs, x->dims, "x must be [1,T,d]");
    if (st == OCLA_SUCCESS) dm->nseq = p->n_seqs;
    return st;
}

ocla_status ocla__gau_row_group(ocla_context *ctx, cl_kernel k, int64_t d, size_t *L) {
    uint64_t kwg = 0;
    ocla_status st = ocla__kernel_limits(ctx, k, &kwg, NULL);
    if (st != OCLA_SUCCESS) return st;
    /* a power of two <= 64 within the limits, and no larger than d needs */
    *L = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
    while (*L / 2 >= (size_t)d) *L /= 2;
    return OCLA_SUCCESS;
}

ocla_status ocla__gau_check_params(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p) {
    if (p->qk_dim < 1 || p->qk_dim > GAU_MAX_DIM || p->hidden_dim < 0 || p->hidden_dim > GAU_MAX_DIM)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: qk_dim %d must be in 1..%d, hidden_dim %d in 0..%d (0 = 2 d)",
                          fn, p->qk_dim, GAU_MAX_DIM, p->hidden_dim, GAU_MAX_DIM);
    if ((int)p->norm != OCLA_GAU_NORM_LAYER && (int)p->norm != OCLA_GAU_NORM_SCALE && (int)p->norm != OCLA_GAU_NORM_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: unknown norm %d", fn, (int)p->norm);
    if (p->norm != OCLA_GAU_NORM_NONE && !(p->norm_eps > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: norm_eps must be > 0", fn);
    if (p->flash.rope_dims < 0 || (p->flash.rope_dims & 1) || p->flash.rope_dims > p->qk_dim)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "%s: flash.rope_dims %d must be even and in 0..qk_dim = %d (0: no RoPE)", fn,
                          p->flash.rope_dims, p->qk_dim);
    if (p->flash.rope_dims && !(p->flash.rope_base > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: flash.rope_base must be > 0", fn);
    return OCLA_SUCCESS;
}

void ocla__gau_weight_table(const ocla_gau_layer_params *p, const ocla__gau_dims *dm, const ocla_tensor *const t[8],
                            int grads, ocla__layer_weight out[8]) {
    static const char *const names[2][8] = {
        {"weights.w_uvz", "weights.b_uvz", "weights.gamma", "weights.beta", "weights.w_o", "weights.b_o",
         "weights.norm_w", "weights.norm_b"},
        {"grads.w_uvz", "grads.b_uvz", "grads.gamma", "grads.beta", "grads.w_o", "grads.b_o", "grads.norm_w",
         "grads.norm_b"}};
    static const int optional[8] = {0, 1, 0, 1, 0, 1, 1, 1};
    const int ln = p->norm == OCLA_GAU_NORM_LAYER, sn = p->norm == OCLA_GAU_NORM_SCALE;
    const int64_t D = dm->D, E = dm->E, S = dm->S, W = dm->W;
    const char *const what[8] = {"[d, 2e+s]", "[2e+s]", "[4, s]", "[4, s]", "[e, d]", "[d]",
                                 ln ? "[d] (LayerNorm)" : "[1] (ScaleNorm gain)", "[d] (LayerNorm)"};
    const int64_t rows[8] = {D, W, 4, 4, E, D, ln ? D : 1, D}, cols[8] = {W, -1, S, S, D, -1, -1, -1};
    for (int i = 0; i < 8; i++) {
        /* the forward ignores the norm's weights where its norm has none (the backward refuses their
         * gradients there, before) */
        const int ignored = (i == 6 && !ln && !sn) || (i == 7 && !ln);
        out[i] = (ocla__layer_weight){ignored ? NULL : t[i], names[grads][i], what[i], rows[i], cols[i],
                                      grads || optional[i]};
    }
}

ocla_status ocla__gau_check(ocla_context *ctx, const char *fn, const ocla_gau_layer_params *p,
                            const ocla_gau_layer_weights *w, const ocla_tensor *x, ocla_io_set *set,
                            ocla__gau_dims *dm) {
    ocla_status st = ocla__check_tensor(ctx, x, "x", 3, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(x)) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: x must be dense [B,T,d]", fn);
    const int64_t B = x->dims[0], T = x->dims[1], D = x->dims[2];
    if (D < 1) return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: x has d = 0 features", fn);
    const int64_t E = p->hidden_dim > 0 ? p->hidden_dim : 2 * D, S = p->qk_dim, W = 2 * E + S;
    *dm = (ocla__gau_dims){B, T, D, E, S, W, 0, 0};
    if ((st = check_seqs(ctx, fn, p, x, dm)) != OCLA_SUCCESS) return st;
    const ocla_tensor *const t[8] = {w->w_uvz, w->b_uvz, w->gamma, w->beta, w->w_o, w->b_o, w->norm_w, w->norm_b};
    ocla__layer_weight weights[8];
    ocla__gau_weight_table(p, dm, t, 0, weights);
    if ((st = ocla__layer_check_weights(ctx, fn, weights, 8, set)) != OCLA_SUCCESS) return st;
    if (p->norm == OCLA_GAU_NORM_SCALE && w->norm_b)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: ScaleNorm has no offset: weights.norm_b must be NULL", fn);
    if (B * T > INT32_MAX / 4 || W > INT32_MAX / 4 || D > INT32_MAX / 4)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "%s: B*T = %lld tokens or 2e+s = %lld columns beyond the kernels' int indices",
                          fn, (long long)(B * T), (long long)W);
    dm->rows = (int)(B * T);
    return OCLA_SUCCESS;
}

void ocla__gau_ws_add(ocla__layer_ws *ws, const ocla__gau_dims *dm, int rope_dims, ocla__gau_bufs *b) {
    const int64_t dx[3] = {dm->B, dm->T, dm->D}, dh[3] = {dm->B, dm->T, dm->W}, dq[3] = {dm->B, dm->T, 4 * dm->S};
    const int64_t de[3] = {dm->B, dm->T, dm->E}, dr = rope_dims / 2;
    b->xo = ocla__layer_ws_add(ws, 3, dx), b->h = ocla__layer_ws_add(ws, 3, dh);
    b->qk = ocla__layer_ws_add(ws, 3, dq), b->o = ocla__layer_ws_add(ws, 3, de);
    b->invf = rope_dims > 0 ? ocla__layer_ws_add(ws, 1, &dr) : NULL;
    const int64_t dn = (int64_t)dm->nseq + 1; /* int32 offsets, one float's room each */
    b->seq = dm->nseq > 0 ? ocla__layer_ws_add(ws, 1, &dn) : NULL;
}

ocla_status ocla__gau_attend(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                             const ocla_tensor *x, const ocla__gau_dims *dm, const ocla__gau_bufs *b,
                             const ocla_tensor **xn_out) {
    const int64_t T = dm->T, D = dm->D, E = dm->E, S = dm->S, W = dm->W;
    const int rows = dm->rows, rd = p->flash.rope_dims, ln = p->norm == OCLA_GAU_NORM_LAYER;
    ocla_tensor *xo = b->xo, *h = b->h, *qk = b->qk, *o = b->o, *invf = b->invf;
    ocla_status st;
    /* RoPE inverse frequencies base^(-i/half), made in fp64 as op_flash.c does */
    if (invf && (st = ocla__rope_upload(ctx, rd, p->flash.rope_base, invf->mem, invf->offset)) != OCLA_SUCCESS) return st;
    if (b->seq) { /* the offsets, for gau_split's RoPE positions (gau_bwd_vz reads them too) */
        const cl_int err = clEnqueueWriteBuffer(ctx->queue, b->seq->mem, CL_TRUE, b->seq->offset * sizeof(float),
                                                ((size_t)dm->nseq + 1) * sizeof(int32_t), p->cu_seqlens, 0, NULL, NULL);
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading the GAU layer's offsets");
    }
    ocla_args a;

    /* xn = norm(x) into xo, then [U | V | Z] pre-activations = xn W_uvz */
    const ocla_tensor *xn = x;
    if (p->norm != OCLA_GAU_NORM_NONE) {
        size_t L = 0;
        if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_norm", &a)) != OCLA_SUCCESS ||
            (st = ocla__gau_row_group(ctx, a.k, D, &L)) != OCLA_SUCCESS)
            return st;
        ocla__push_int(&a, rows), ocla__push_int(&a, D), ocla__push_int(&a, ln ? 0 : 1);
        ocla__push_float(&a, p->norm_eps), ocla__push_tensor(&a, x, NULL, 0), ocla__gau_push_opt(&a, w->norm_w, x->mem);
        ocla__gau_push_opt(&a, ln ? w->norm_b : NULL, x->mem), ocla__push_tensor(&a, xo, NULL, 0);
        ocla__args_push(&a, L * sizeof(cl_float), NULL); /* __local red[L] */
        const size_t g = (size_t)rows * L;
        if ((st = ocla__layer_launch(&a, 1, &g, &L, "GAU layer norm")) != OCLA_SUCCESS) return st;
        xn = xo;
    }
    *xn_out = xn;
    if ((st = ocla_linear_forward(ctx, xn, w->w_uvz, h)) != OCLA_SUCCESS) return st;

    /* SiLU (+ bias) on [U | V | Z]; Z's four scale/offsets into qk */
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_split", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, T), ocla__push_int(&a, E), ocla__push_int(&a, S);
    ocla__push_tensor(&a, h, NULL, 0), ocla__gau_push_opt(&a, w->b_uvz, h->mem), ocla__push_tensor(&a, w->gamma, NULL, 0);
    ocla__gau_push_opt(&a, w->beta, h->mem), ocla__push_int(&a, rd), ocla__push_long(&a, p->flash.pos_offset);
    ocla__push_tensor(&a, invf, h->mem, 0), ocla__push_tensor(&a, qk, NULL, 0), ocla__gau_push_seq(&a, b, dm);
    const size_t gs[2] = {(size_t)W, (size_t)rows};
    if ((st = ocla__layer_launch(&a, 2, gs, NULL, "GAU layer silu and offset-scale")) != OCLA_SUCCESS) return st;

    /* AV: FLASH mixed chunk attention, one head */
    struct ocla_tensor vq, vk, vql, vkl, vv, vo;
    ocla__layer_heads(qk, 0, 1, S, &vq), ocla__layer_heads(qk, S, 1, S, &vk);
    ocla__layer_heads(qk, 2 * S, 1, S, &vql), ocla__layer_heads(qk, 3 * S, 1, S, &vkl);
    ocla__layer_heads(h, E, 1, E, &vv), ocla__layer_heads(o, 0, 1, E, &vo);
    ocla_flash_io io = {&vq, &vk, &vql, &vkl, &vv, &vo};
    ocla_flash_params fp = p->flash;
    fp.rope_dims = 0; /* already rotated by gau_split */
    fp.cu_seqlens = p->cu_seqlens, fp.n_seqs = p->n_seqs;
    return ocla_flash_attention(ctx, &fp, &io);
}

static ocla_status forward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                           const ocla_tensor *x, ocla_tensor *y) {
    if (x && x->dtype != OCLA_F32) OCLA__HALF_FORWARD(gau, forward, ctx, FN, p, w, x, y); /* returns; layer_half.h */
    ocla__gau_dims dm;
    int64_t B = 0, T = 0, D = 0;
    /* y is x itself (in place: the same memory and layout) or apart from it, and apart from the weights */
    ocla_io_set set = {.in = {x, p->flash.rel_bias}, .in_name = {"x", "flash.rel_bias"}, .in_place = {1}, .out = {y},
                       .out_name = {"y"}, .n_in = 2, .n_out = 1};
    ocla_status st = ocla__gau_check_params(ctx, FN, p);
    if (st == OCLA_SUCCESS) st = ocla__layer_check_io(ctx, FN, x, y, &B, &T, &D);
    if (st == OCLA_SUCCESS) st = ocla__gau_check(ctx, FN, p, w, x, &set, &dm);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    if (st != OCLA_SUCCESS || dm.rows == 0) return st;
    const int rows = dm.rows;
    const int64_t E = dm.E, S = dm.S;

    ocla__layer_ws ws = {.ctx = ctx};
    ocla__gau_bufs b;
    ocla__gau_ws_add(&ws, &dm, p->flash.rope_dims, &b);
    if ((st = ocla__layer_ws_get(&ws, FN)) != OCLA_SUCCESS) return st;
    ocla_tensor *xo = b.xo, *h = b.h, *o = b.o;
    const ocla_tensor *xn;
    if ((st = ocla__gau_attend(ctx, p, w, x, &dm, &b, &xn)) != OCLA_SUCCESS) return st;
    ocla_args a;

    /* U * AV, then (U * AV) W_o into xo */
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_gate", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, E), ocla__push_int(&a, S);
    ocla__push_tensor(&a, o, NULL, 0), ocla__push_tensor(&a, h, NULL, 0);
    const size_t gg[2] = {(size_t)E, (size_t)rows};
    if ((st = ocla__layer_launch(&a, 2, gg, NULL, "GAU layer gate")) != OCLA_SUCCESS ||
        (st = ocla_linear_forward(ctx, o, w->w_o, xo)) != OCLA_SUCCESS)
        return st;

    /* y = O + b_o (+ x) */
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_out", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, D), ocla__push_tensor(&a, xo, NULL, 0), ocla__gau_push_opt(&a, w->b_o, xo->mem);
    ocla__push_tensor(&a, x, NULL, 0), ocla__push_int(&a, p->residual ? 1 : 0), ocla__push_tensor(&a, y, NULL, 0);
    const size_t g = (size_t)rows * (size_t)D;
    return ocla__layer_launch(&a, 1, &g, NULL, "GAU layer bias and residual");
}

ocla_status ocla__gau_params_in(ocla_context *ctx, const char *fn, const ocla_gau_layer_params **params,
                                ocla_gau_layer_params *given) {
    ocla_status st = ocla__abi_in(ctx, fn, "params", OCLA__ABI_GAU_LAYER_PARAMS, *params, given, sizeof *given);
    ocla_flash_params flash; /* the nested struct has its own size */
    if (st == OCLA_SUCCESS)
        st = ocla__abi_in(ctx, fn, "params.flash", OCLA__ABI_FLASH_PARAMS, &given->flash, &flash, sizeof flash);
    if (st != OCLA_SUCCESS) return st;
    given->flash = flash;
    *params = given;
    return OCLA_SUCCESS;
}

ocla_status ocla_gau_layer_forward(ocla_context *ctx, const ocla_gau_layer_params *params,
                                   const ocla_gau_layer_weights *weights, const ocla_tensor *x, ocla_tensor *y) {
    ocla_gau_layer_params given;
    ocla_status st;
    if (ctx && params && (st = ocla__gau_params_in(ctx, FN, &params, &given)) != OCLA_SUCCESS) return st;
    OCLA__LOCKED_CALL(FN, ctx, params, weights, forward(ctx, params, weights, x, y));
}
