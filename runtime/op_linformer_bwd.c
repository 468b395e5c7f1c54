/* SPDX-License-Identifier: MIT */
/* Linformer backward (include/ocla/softmax.h, ocla_linformer_backward): K' = E[:, :T] k and
 * V' = F[:, :T] v projected again (ocla__linformer_project_kv, the forward's step; slots 5, 6),
 * ocla_softmax_backward over the kp projected rows (dq, dK', dV' in slot 7; its row statistics in
 * slot 4), then CLBlast per (b, h): dk = E[:, :T]^T dK', dv = F[:, :T]^T dV', and dE[:, :T] +=
 * dK' k^T, dF[:, :T] += dV' v^T (summed over b, and over h unless each head has its own E, F). */
#include "layer_common.h"

#define FN "ocla_linformer_backward"

/* The GEMMs of the backward, one per (b, h): with grad = 0, dst[b, :, h, :] = P_h[:, :T]^T
 * dsrc[b, :, h, :]; with grad = 1, P_h[:, :T] += dsrc[b, :, h, :] src[b, :, h, :]^T (P is then the
 * gradient, dense [kp, n] or [H, kp, n], zeroed by the caller). dsrc: dense [B, kp, H, D] at offset
 * off of mem; src / dst: [B, T, H, D] with unit stride along D. */
typedef struct lf_gemm {
    const ocla_tensor *P, *x; /* x: dst (grad = 0) or src (grad = 1) */
    cl_mem mem;
    size_t off;
    int per_head, grad;
} lf_gemm;

static ocla_status lf_gemms(ocla_context *ctx, const lf_gemm *j, int64_t kp, int64_t n) {
    const int64_t B = j->x->dims[0], T = j->x->dims[1], H = j->x->dims[2], D = j->x->dims[3];
    ocla_gemm_desc g;
    ocla_gemm_desc_defaults(&g);
    if (j->grad) { /* [kp x T] += [kp x D] [D x T] */
        g.trans_b = 1, g.beta = 1.0f;
        g.m = (size_t)kp, g.n = (size_t)T, g.k = (size_t)D;
        g.lda = (size_t)(H * D), g.ldb = (size_t)j->x->strides[1], g.ldc = (size_t)n;
    } else { /* [T x D] = [kp x T]^T [kp x D] */
        g.trans_a = 1;
        g.m = (size_t)T, g.n = (size_t)D, g.k = (size_t)kp;
        g.lda = (size_t)n, g.ldb = (size_t)(H * D), g.ldc = (size_t)j->x->strides[1];
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const size_t p_off = j->P->offset + (size_t)(j->per_head ? h * kp * n : 0);
            const size_t d_off = j->off + (size_t)((b * kp * H + h) * D);
            const size_t x_off = j->x->offset + (size_t)(b * j->x->strides[0] + h * j->x->strides[2]);
            const ocla_status st = j->grad ? ocla__gemm(ctx, &g, j->mem, d_off, j->x->mem, x_off, j->P->mem, p_off)
                                           : ocla__gemm(ctx, &g, j->P->mem, p_off, j->mem, d_off, j->x->mem, x_off);
            if (st != OCLA_SUCCESS) return st;
        }
    return OCLA_SUCCESS;
}

/* t is a GEMM operand: dense (the projections' gradients), or with unit last stride and a token
 * stride of at least the last dim. */
static ocla_status check_operand(ocla_context *ctx, const ocla_tensor *t, const char *name, int dense) {
    const int ok = dense ? ocla__tensor_is_contiguous(t) : t->strides[3] == 1 && t->strides[1] >= t->dims[3];
    return ok ? OCLA_SUCCESS
              : ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN ": %s must be %s (a GEMM operand)", name,
                           dense ? "dense" : "unit-stride along its last dim with a token stride >= it");
}

static ocla_status run(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_grad_io *io);

/* Half precision (q's dtype bf16 or fp16), as the forward (op_linformer.c): every tensor of q's
 * dtype, fp32 copies in scratch slot 0, the fp32 backward on them, the gradients rounded once. */
static ocla_status run_half(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_grad_io *io) {
    const int shared_kv = p->sharing == OCLA_LINFORMER_KEY_VALUE || p->sharing == OCLA_LINFORMER_LAYERWISE;
    ocla__half_io h = {.ws = {.ctx = ctx}, .dt = io->q->dtype, .n = 12,
                       .t = {io->q, io->k, io->v, io->E, shared_kv ? NULL : io->F, io->o, io->d_o, io->dq, io->dk,
                             io->dv, io->dE, io->dF},
                       .name = {"q", "k (q's dtype)", "v (q's dtype)", "E (q's dtype)", "F (q's dtype)",
                                "o (q's dtype)", "d_o (q's dtype)", "dq (q's dtype)", "dk (q's dtype)",
                                "dv (q's dtype)", "dE (q's dtype)", "dF (q's dtype)"},
                       .out = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}};
    for (int i = 0; i < 10; i++)
        if (!h.t[i] && i != 4) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": %s is NULL", h.name[i]);
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->E, h.t[4], io->o, io->d_o},
                             .in_name = {"q", "k", "v", "E", "F", "o", "d_o"},
                             .out = {io->dq, io->dk, io->dv, io->dE, io->dF},
                             .out_name = {"dq", "dk", "dv", "dE", "dF"},
                             .n_in = 7,
                             .n_out = 5};
    ocla_status st = ocla__half_enter(&h, 0, FN);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    ocla_tensor *const *c = h.t32;
    const ocla_linformer_grad_io io32 = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]};
    if (st == OCLA_SUCCESS) st = run(ctx, p, &io32);
    return st == OCLA_SUCCESS ? ocla__half_leave(&h) : st;
}

static ocla_status run(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_grad_io *io) {
    ocla_status st;
    if (p->causal) return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, FN ": causal Linformer is not defined (as the forward)");
    if ((int)p->sharing < 0 || (int)p->sharing > OCLA_LINFORMER_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": unknown sharing %d", (int)p->sharing);
    if (io->q && io->q->dtype != OCLA_F32) return run_half(ctx, p, io);
    if ((st = ocla__check_tensor(ctx, io->q, "q", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], D = io->q->dims[3];
    if ((st = ocla__check_tensor(ctx, io->k, "k (q's dims)", 4, io->q->dims)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->v, "v", 4, (int64_t[]){B, T, H, -1})) != OCLA_SUCCESS)
        return st;
    const int64_t Dv = io->v->dims[3];
    const ocla_tensor *F;
    if ((st = ocla__linformer_check_ef(ctx, FN, p->sharing, io->E, io->F, H, T, OCLA_ERR_UNSUPPORTED, &F)) != OCLA_SUCCESS)
        return st;
    const int shared_kv = p->sharing == OCLA_LINFORMER_KEY_VALUE || p->sharing == OCLA_LINFORMER_LAYERWISE;
    const int per_head = p->sharing == OCLA_LINFORMER_NONE;
    if ((st = ocla__check_tensor(ctx, io->o, "o (v's dims)", 4, io->v->dims)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->d_o, "d_o (v's dims)", 4, io->v->dims)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->dq, "dq (q's dims)", 4, io->q->dims)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->dk, "dk (k's dims)", 4, io->k->dims)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->dv, "dv (v's dims)", 4, io->v->dims)) != OCLA_SUCCESS ||
        (io->dE && (st = ocla__check_tensor(ctx, io->dE, "dE (E's dims)", io->E->ndim, io->E->dims)) != OCLA_SUCCESS))
        return st;
    if (io->dF && shared_kv)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": dF must be NULL with sharing KEY_VALUE / LAYERWISE "
                          "(E projects keys and values; dE holds both terms)");
    if (io->dF && (st = ocla__check_tensor(ctx, io->dF, "dF (F's dims)", F->ndim, F->dims)) != OCLA_SUCCESS) return st;
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->E, shared_kv ? NULL : F, io->o, io->d_o},
                             .in_name = {"q", "k", "v", "E", "F", "o", "d_o"},
                             .out = {io->dq, io->dk, io->dv, io->dE, io->dF},
                             .out_name = {"dq", "dk", "dv", "dE", "dF"},
                             .n_in = 7,
                             .n_out = 5};
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    /* layouts last: an overlapping output is the aliasing rule's (OCLA_ERR_INVALID_ARGUMENT) */
    if ((st = check_operand(ctx, io->k, "k", 0)) != OCLA_SUCCESS || (st = check_operand(ctx, io->v, "v", 0)) != OCLA_SUCCESS ||
        (st = check_operand(ctx, io->dk, "dk", 0)) != OCLA_SUCCESS || (st = check_operand(ctx, io->dv, "dv", 0)) != OCLA_SUCCESS ||
        (io->dE && (st = check_operand(ctx, io->dE, "dE", 1)) != OCLA_SUCCESS) ||
        (io->dF && (st = check_operand(ctx, io->dF, "dF", 1)) != OCLA_SUCCESS))
        return st;
    const int64_t kp = io->E->dims[per_head ? 1 : 0], n = io->E->dims[per_head ? 2 : 1];
    /* K', V' in slots 5 and 6 (the forward's step); dK', dV' in slot 7 */
    ocla__layer_ws ws_kv = {.ctx = ctx}, ws_grad = {.ctx = ctx};
    ocla_tensor *tk, *tv;
    ocla_softmax_params sp;
    ocla_tensor *tdk = ocla__layer_ws_add(&ws_grad, 4, (int64_t[]){B, kp, H, D});
    ocla_tensor *tdv = ocla__layer_ws_add(&ws_grad, 4, (int64_t[]){B, kp, H, Dv});
    if ((st = ocla__layer_ws_get(&ws_grad, FN)) != OCLA_SUCCESS ||
        (st = ocla__linformer_project_kv(ctx, p, io->E, F, io->k, io->v, &ws_kv, &tk, &tv, &sp)) != OCLA_SUCCESS)
        return st;
    const ocla_softmax_grad_io sio = {io->q, tk, tv, io->o, io->d_o, io->dq, tdk, tdv};
    if ((st = ocla_softmax_backward(ctx, &sp, &sio)) != OCLA_SUCCESS) return st;
    const lf_gemm to_k = {io->E, io->dk, tdk->mem, tdk->offset, per_head, 0}, to_v = {F, io->dv, tdv->mem, tdv->offset, per_head, 0};
    if ((st = lf_gemms(ctx, &to_k, kp, n)) != OCLA_SUCCESS || (st = lf_gemms(ctx, &to_v, kp, n)) != OCLA_SUCCESS) return st;
    /* dE (and dF): zero, then the sums over (b, h); with KEY_VALUE / LAYERWISE both into dE */
    ocla_tensor *dP[2] = {io->dE, shared_kv ? io->dE : io->dF};
    const lf_gemm grads[2] = {{dP[0], io->k, tdk->mem, tdk->offset, per_head, 1}, {dP[1], io->v, tdv->mem, tdv->offset, per_head, 1}};
    for (int i = 0; i < 2; i++) {
        if (!dP[i]) continue;
        if (i == 0 || !shared_kv) {
            const size_t bytes = (size_t)ocla_tensor_numel(dP[i]) * sizeof(float);
            if ((st = ocla__fill_zero(ctx, dP[i]->mem, dP[i]->offset * sizeof(float), bytes)) != OCLA_SUCCESS) return st;
        }
        if ((st = lf_gemms(ctx, &grads[i], kp, n)) != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla_linformer_backward(ocla_context *ctx, const ocla_linformer_params *params,
                                    const ocla_linformer_grad_io *io) {
    ocla_linformer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_LINFORMER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, io, run(ctx, params, io));
}
