/* SPDX-License-Identifier: MIT */
/* GAU / FLASH layer (Hua et al. 2022, methods.md section 3): norm, one fused projection to
 * [U | V | Z] (CLBlast), SiLU and the four per-dim scale/offsets of Z (kernels_cl/gau.cl), FLASH
 * mixed chunk attention with one head (op_flash.c), the U gate and the output projection (CLBlast),
 * bias and residual. See <ocla/layers.h> for the math.
 *
 * Temporaries, one workspace in the layers' scratch slot (layer_common.h; nothing is allocated once
 * it is large enough; the flash op's own slots 4-6 are apart):
 *   xo   [B,T,d]      norm(x), later the output projection (U * AV) W_o
 *   h    [B,T,2e+s]   [U | V | Z] pre-activations, then silu(U), silu(V) in place (Z's columns unused)
 *   qk   [B,T,4,s]    Q_quad, K_quad, Q_lin, K_lin; the flash op reads them through [B,T,1,s] views
 *   o    [B,T,e]      AV, then U * AV in place
 *   invf [rd/2]       RoPE inverse frequencies
 * V is read by the flash op in place inside h through a strided [B,T,1,e] view (row stride 2e+s). */

#include "layer_common.h"
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


/* An optional vector: its buffer (or fallback, never read), its offset and a presence flag. */
static void push_opt(ocla_args *a, const ocla_tensor *t, cl_mem fallback) {
    ocla__push_tensor(a, t, fallback, 0);
    ocla__push_int(a, t != NULL);
}

static ocla_status check_params(ocla_context *ctx, const ocla_gau_layer_params *p) {
    if (p->qk_dim < 1 || p->qk_dim > GAU_MAX_DIM || p->hidden_dim < 0 || p->hidden_dim > GAU_MAX_DIM)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": qk_dim %d must be in 1..%d, hidden_dim %d in 0..%d (0 = 2 d)",
                          p->qk_dim, GAU_MAX_DIM, p->hidden_dim, GAU_MAX_DIM);
    if ((int)p->norm != OCLA_GAU_NORM_LAYER && (int)p->norm != OCLA_GAU_NORM_SCALE && (int)p->norm != OCLA_GAU_NORM_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": unknown norm %d", (int)p->norm);
    if (p->norm != OCLA_GAU_NORM_NONE && !(p->norm_eps > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": norm_eps must be > 0");
    if (p->flash.rope_dims < 0 || (p->flash.rope_dims & 1) || p->flash.rope_dims > p->qk_dim)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          FN ": flash.rope_dims %d must be even and in 0..qk_dim = %d (0: no RoPE)", p->flash.rope_dims,
                          p->qk_dim);
    if (p->flash.rope_dims && !(p->flash.rope_base > 0.0f))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": flash.rope_base must be > 0");
    return OCLA_SUCCESS;
}

static ocla_status forward(ocla_context *ctx, const ocla_gau_layer_params *p, const ocla_gau_layer_weights *w,
                           const ocla_tensor *x, ocla_tensor *y) {
    int64_t B = 0, T = 0, D = 0;
    ocla_status st = check_params(ctx, p);
    if (st == OCLA_SUCCESS) st = ocla__layer_check_io(ctx, FN, x, y, &B, &T, &D);
    if (st != OCLA_SUCCESS) return st;
    if (D < 1) return ocla__fail(ctx, OCLA_ERR_SHAPE, FN ": x has d = 0 features");
    const int64_t E = p->hidden_dim > 0 ? p->hidden_dim : 2 * D, S = p->qk_dim, W = 2 * E + S;
    const int ln = p->norm == OCLA_GAU_NORM_LAYER, sn = p->norm == OCLA_GAU_NORM_SCALE;
    const ocla__layer_weight weights[] = {
        {w->w_uvz, "weights.w_uvz", "[d, 2e+s]", D, W, 0},
        {w->b_uvz, "weights.b_uvz", "[2e+s]", W, -1, 1},
        {w->gamma, "weights.gamma", "[4, s]", 4, S, 0},
        {w->beta, "weights.beta", "[4, s]", 4, S, 1},
        {w->w_o, "weights.w_o", "[e, d]", E, D, 0},
        {w->b_o, "weights.b_o", "[d]", D, -1, 1},
        {(ln || sn) ? w->norm_w : NULL, "weights.norm_w", ln ? "[d] (LayerNorm)" : "[1] (ScaleNorm gain)", ln ? D : 1, -1, 1},
        {ln ? w->norm_b : NULL, "weights.norm_b", "[d] (LayerNorm)", D, -1, 1}};
    /* y is x itself (in place: the same memory and layout) or apart from it, and apart from the weights */
    ocla_io_set set = {.in = {x, p->flash.rel_bias}, .in_name = {"x", "flash.rel_bias"}, .in_place = {1}, .out = {y},
                       .out_name = {"y"}, .n_in = 2, .n_out = 1};
    if ((st = ocla__layer_check_weights(ctx, FN, weights, 8, &set)) != OCLA_SUCCESS) return st;
    if (sn && w->norm_b)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": ScaleNorm has no offset: weights.norm_b must be NULL");
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    if (B * T > INT32_MAX / 4 || W > INT32_MAX / 4 || D > INT32_MAX / 4)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, FN ": B*T = %lld tokens or 2e+s = %lld columns beyond the kernels' int indices",
                          (long long)(B * T), (long long)W);
    if (B * T == 0) return OCLA_SUCCESS;
    const int rows = (int)(B * T);

    const int rd = p->flash.rope_dims;
    ocla__layer_ws ws = {.ctx = ctx};
    const int64_t dx[3] = {B, T, D}, dh[3] = {B, T, W}, dq[3] = {B, T, 4 * S}, de[3] = {B, T, E}, dr = rd / 2;
    ocla_tensor *xo = ocla__layer_ws_add(&ws, 3, dx), *h = ocla__layer_ws_add(&ws, 3, dh);
    ocla_tensor *qk = ocla__layer_ws_add(&ws, 3, dq), *o = ocla__layer_ws_add(&ws, 3, de);
    ocla_tensor *invf = rd > 0 ? ocla__layer_ws_add(&ws, 1, &dr) : NULL;
    if ((st = ocla__layer_ws_get(&ws, FN)) != OCLA_SUCCESS) return st;
    /* RoPE inverse frequencies base^(-i/half), made in fp64 as op_flash.c does */
    if (invf && (st = ocla__rope_upload(ctx, rd, p->flash.rope_base, invf->mem, invf->offset)) != OCLA_SUCCESS) return st;
    ocla_args a;

    /* xn = norm(x) into xo, then [U | V | Z] pre-activations = xn W_uvz */
    const ocla_tensor *xn = x;
    if (p->norm != OCLA_GAU_NORM_NONE) {
        uint64_t kwg = 0;
        if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_norm", &a)) != OCLA_SUCCESS ||
            (st = ocla__kernel_limits(ctx, a.k, &kwg, NULL)) != OCLA_SUCCESS)
            return st;
        /* a power of two <= 64 within the limits, and no larger than d needs */
        size_t L = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
        while (L / 2 >= (size_t)D) L /= 2;
        ocla__push_int(&a, rows), ocla__push_int(&a, D), ocla__push_int(&a, ln ? 0 : 1);
        ocla__push_float(&a, p->norm_eps), ocla__push_tensor(&a, x, NULL, 0), push_opt(&a, w->norm_w, x->mem);
        push_opt(&a, ln ? w->norm_b : NULL, x->mem), ocla__push_tensor(&a, xo, NULL, 0);
        ocla__args_push(&a, L * sizeof(cl_float), NULL); /* __local red[L] */
        const size_t g = (size_t)rows * L;
        if ((st = ocla__layer_launch(&a, 1, &g, &L, "GAU layer norm")) != OCLA_SUCCESS) return st;
        xn = xo;
    }
    if ((st = ocla_linear_forward(ctx, xn, w->w_uvz, h)) != OCLA_SUCCESS) return st;

    /* SiLU (+ bias) on [U | V | Z]; Z's four scale/offsets into qk */
    if ((st = ocla__layer_kernel(ctx, &ocla__fam_gau, "gau_split", &a)) != OCLA_SUCCESS) return st;
    ocla__push_int(&a, rows), ocla__push_int(&a, T), ocla__push_int(&a, E), ocla__push_int(&a, S);
    ocla__push_tensor(&a, h, NULL, 0), push_opt(&a, w->b_uvz, h->mem), ocla__push_tensor(&a, w->gamma, NULL, 0);
    push_opt(&a, w->beta, h->mem), ocla__push_int(&a, rd), ocla__push_long(&a, p->flash.pos_offset);
    ocla__push_tensor(&a, invf, h->mem, 0), ocla__push_tensor(&a, qk, NULL, 0);
    const size_t gs[2] = {(size_t)W, (size_t)rows};
    if ((st = ocla__layer_launch(&a, 2, gs, NULL, "GAU layer silu and offset-scale")) != OCLA_SUCCESS) return st;

    /* AV: FLASH mixed chunk attention, one head */
    {
        struct ocla_tensor vq, vk, vql, vkl, vv, vo;
        ocla__layer_heads(qk, 0, 1, S, &vq), ocla__layer_heads(qk, S, 1, S, &vk);
        ocla__layer_heads(qk, 2 * S, 1, S, &vql), ocla__layer_heads(qk, 3 * S, 1, S, &vkl);
        ocla__layer_heads(h, E, 1, E, &vv), ocla__layer_heads(o, 0, 1, E, &vo);
        ocla_flash_io io = {&vq, &vk, &vql, &vkl, &vv, &vo};
        ocla_flash_params fp = p->flash;
        fp.rope_dims = 0; /* already rotated by gau_split */
        if ((st = ocla_flash_attention(ctx, &fp, &io)) != OCLA_SUCCESS) return st;
    }

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
    ocla__push_int(&a, rows), ocla__push_int(&a, D), ocla__push_tensor(&a, xo, NULL, 0), push_opt(&a, w->b_o, xo->mem);
    ocla__push_tensor(&a, x, NULL, 0), ocla__push_int(&a, p->residual ? 1 : 0), ocla__push_tensor(&a, y, NULL, 0);
    const size_t g = (size_t)rows * (size_t)D;
    return ocla__layer_launch(&a, 1, &g, NULL, "GAU layer bias and residual");
}

ocla_status ocla_gau_layer_forward(ocla_context *ctx, const ocla_gau_layer_params *params,
                                   const ocla_gau_layer_weights *weights, const ocla_tensor *x, ocla_tensor *y) {
    ocla_gau_layer_params given;
    if (ctx && params) {
        OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_GAU_LAYER_PARAMS, params, given);
        const ocla_flash_params *flash = &given.flash; /* the nested struct has its own size */
        ocla_flash_params flash_given;
        OCLA__ABI_IN(ctx, FN, "params.flash", OCLA__ABI_FLASH_PARAMS, flash, flash_given);
        given.flash = *flash; /* flash now points at flash_given */
    }
    OCLA__LOCKED_CALL(FN, ctx, params, weights, forward(ctx, params, weights, x, y));
}
