/* SPDX-License-Identifier: MIT */
/* Linformer: sequence-axis projections with CLBlast (ocla__gemm), then the tiled softmax op over the
 * kp projected rows (it plans its own kernel, runtime/plan_softmax.c). Scratch slots 5 (K' [B,kp,H,D])
 * and 6 (V' [B,kp,H,Dv]); softmax's slot 4 is free for it. Nothing is allocated once they are large
 * enough. */
#include "layer_common.h"

#define FN "ocla_linformer_attention"

void ocla_linformer_params_defaults(ocla_linformer_params *p) {
    if (p) *p = (ocla_linformer_params){.size = sizeof *p, .scale = 1.0f, .sharing = OCLA_LINFORMER_HEADWISE};
}

ocla_status ocla__linformer_check_ef(ocla_context *ctx, const char *fn, ocla_linformer_sharing sharing,
                                     const ocla_tensor *E, const ocla_tensor *F, int64_t H, int64_t T,
                                     ocla_status not_dense, const ocla_tensor **F_used) {
    const int per_head = sharing == OCLA_LINFORMER_NONE, nd = per_head ? 3 : 2;
    const int shared_kv = sharing == OCLA_LINFORMER_KEY_VALUE || sharing == OCLA_LINFORMER_LAYERWISE;
    const char *form = per_head ? "[H, kp, n]" : "[kp, n]";
    if (!E) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: Linformer needs E %s", fn, form);
    if (!shared_kv && !F)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "%s: Linformer with sharing %s needs F %s", fn,
                          per_head ? "NONE" : "HEADWISE", form);
    ocla_status st = ocla__check_tensor(ctx, E, "E", -1, NULL);
    if (st != OCLA_SUCCESS) return st;
    if (E->ndim != nd)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: E has %d dims; sharing %s needs %s", fn, E->ndim,
                          per_head ? "NONE (per head)" : "HEADWISE / KEY_VALUE / LAYERWISE", form);
    if (per_head && E->dims[0] != H)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: E has %lld heads, the inputs have %lld", fn, (long long)E->dims[0],
                          (long long)H);
    const int64_t kp = E->dims[nd - 2], n = E->dims[nd - 1];
    if (kp < 1 || kp > n)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: E projects to kp = %lld rows; kp must be in 1..n = %lld", fn,
                          (long long)kp, (long long)n);
    if (T > n)
        return ocla__fail(ctx, OCLA_ERR_SHAPE,
                          "%s: T = %lld exceeds the sequence length n = %lld of E (Linformer uses its first T columns)",
                          fn, (long long)T, (long long)n);
    *F_used = shared_kv ? E : F;
    if (!shared_kv && (st = ocla__check_tensor(ctx, F, "F (E's dims)", nd, E->dims)) != OCLA_SUCCESS) return st;
    if (!ocla__tensor_is_contiguous(E) || !ocla__tensor_is_contiguous(*F_used))
        return ocla__fail(ctx, not_dense, "%s: E and F must be dense (contiguous)", fn);
    return OCLA_SUCCESS;
}

/* dst[b, :, h, :] = P_h[:, :T] src[b, :, h, :] for every (b, h), dst dense [B, kp, H, D]. Per b one
 * GEMM: a shared P over all heads at once where a token's heads are contiguous in src (head stride
 * D: P [kp, T] x src_b [T, H*D]), per-head P as H strided-batched products (A by kp*n, B by the head
 * stride, C by D); else one GEMM per (b, h). */
static ocla_status project(ocla_context *ctx, const ocla_tensor *P, int per_head, const ocla_tensor *src, int64_t kp,
                           int64_t n, cl_mem dst) {
    const int64_t B = src->dims[0], T = src->dims[1], H = src->dims[2], D = src->dims[3];
    const int heads_packed = H == 1 || (src->strides[2] == D && src->strides[1] >= H * D);
    ocla_gemm_desc g;
    ocla_gemm_desc_defaults(&g); /* alpha 1, beta 0, one product */
    g.m = (size_t)kp, g.n = (size_t)(heads_packed && !per_head ? H * D : D), g.k = (size_t)T;
    g.lda = (size_t)n, g.ldb = (size_t)src->strides[1], g.ldc = (size_t)(H * D);
    if (per_head) {
        g.batch = (size_t)H;
        g.stride_a = (size_t)(kp * n), g.stride_b = (size_t)src->strides[2], g.stride_c = (size_t)D;
    }
    const int64_t nh = per_head || heads_packed ? 1 : H; /* GEMM calls per b */
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < nh; h++) {
            const size_t b_off = src->offset + (size_t)(b * src->strides[0] + h * src->strides[2]);
            ocla_status st = ocla__gemm(ctx, &g, P->mem, P->offset, src->mem, b_off, dst, (size_t)((b * kp * H + h) * D));
            if (st != OCLA_SUCCESS) return st;
        }
    return OCLA_SUCCESS;
}

ocla_status ocla__linformer_project_kv(ocla_context *ctx, const ocla_linformer_params *p, const ocla_tensor *E,
                                      const ocla_tensor *F, const ocla_tensor *k, const ocla_tensor *v,
                                      ocla__layer_ws *ws, ocla_tensor **tk, ocla_tensor **tv, ocla_softmax_params *sp) {
    const int per_head = p->sharing == OCLA_LINFORMER_NONE;
    const int64_t kp = E->dims[per_head ? 1 : 0], n = E->dims[per_head ? 2 : 1];
    const int64_t B = k->dims[0], H = k->dims[2];
    *tk = ocla__layer_ws_add(ws, 4, (int64_t[]){B, kp, H, k->dims[3]});
    *tv = ocla__layer_ws_add(ws, 4, (int64_t[]){B, kp, H, v->dims[3]});
    ocla_status st;
    if ((st = ocla__layer_ws_get_apart(ws, 5, FN)) != OCLA_SUCCESS ||
        (st = project(ctx, E, per_head, k, kp, n, (*tk)->mem)) != OCLA_SUCCESS ||
        (st = project(ctx, F, per_head, v, kp, n, (*tv)->mem)) != OCLA_SUCCESS)
        return st;
    ocla_softmax_params_defaults(sp);
    sp->causal = 0, sp->has_scale = p->has_scale, sp->scale = p->scale, sp->block = p->block;
    return OCLA_SUCCESS;
}

static ocla_status run(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_io *io);

/* Half precision (q's dtype bf16 or fp16): every tensor of q's dtype, converted at the boundary to
 * fp32 copies in scratch slot 0 (which no step of the op uses), the fp32 op on them (projections by
 * SGEMM, K' and V' fp32, the fp32 softmax), o rounded once. Costs: docs/ARCHITECTURE.md. */
static ocla_status run_half(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_io *io) {
    const int shared_kv = p->sharing == OCLA_LINFORMER_KEY_VALUE || p->sharing == OCLA_LINFORMER_LAYERWISE;
    ocla__half_io h = {.ws = {.ctx = ctx}, .dt = io->q->dtype, .n = 6,
                       .t = {io->q, io->k, io->v, io->E, shared_kv ? NULL : io->F, io->o},
                       .name = {"q", "k (q's dtype)", "v (q's dtype)", "E (q's dtype)", "F (q's dtype)", "o (q's dtype)"},
                       .out = {0, 0, 0, 0, 0, 1}};
    for (int i = 0; i < 6; i++)
        if (!h.t[i] && i != 4) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": %s is NULL", h.name[i]);
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->E, h.t[4]}, .in_name = {"q", "k", "v", "E", "F"},
                             .out = {io->o}, .out_name = {"o"}, .n_in = 5, .n_out = 1};
    ocla_status st = ocla__half_enter(&h, 0, FN);
    if (st == OCLA_SUCCESS) st = ocla__check_disjoint(ctx, FN, &set);
    const ocla_linformer_io io32 = {h.t32[0], h.t32[1], h.t32[2], h.t32[3], h.t32[4], h.t32[5]};
    if (st == OCLA_SUCCESS) st = run(ctx, p, &io32);
    return st == OCLA_SUCCESS ? ocla__half_leave(&h) : st;
}

static ocla_status run(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_io *io) {
    ocla_status st;
    if (p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          FN ": causal Linformer is not defined (E and F mix every token, "
                          "future ones included, into each projected row); use softmax, linear or FLASH attention");
    if ((int)p->sharing < 0 || (int)p->sharing > OCLA_LINFORMER_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, FN ": unknown sharing %d", (int)p->sharing);
    if (io->q && io->q->dtype != OCLA_F32) return run_half(ctx, p, io);
    if ((st = ocla__check_tensor(ctx, io->q, "q", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], D = io->q->dims[3];
    int64_t Dv = 0;
    if ((st = ocla__check_tensor(ctx, io->k, "k (q's dims)", 4, (int64_t[]){B, T, H, D})) != OCLA_SUCCESS ||
        (st = ocla__check_vo(ctx, io->v, io->o, B, T, T, H, &Dv, "q", "q")) != OCLA_SUCCESS)
        return st;
    if (io->k->strides[3] != 1 || io->v->strides[3] != 1 || io->k->strides[1] < D || io->v->strides[1] < Dv)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          FN ": k and v need unit stride along D and a token stride >= D (GEMM operands)");
    const ocla_tensor *F; /* E and F are GEMM operands: non-dense ones are unsupported */
    if ((st = ocla__linformer_check_ef(ctx, FN, p->sharing, io->E, io->F, H, T, OCLA_ERR_UNSUPPORTED, &F)) != OCLA_SUCCESS)
        return st;
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->E, F},
                             .in_name = {"q", "k", "v", "E", "F"},
                             .out = {io->o},
                             .out_name = {"o"},
                             .n_in = 5,
                             .n_out = 1};
    if ((st = ocla__check_disjoint(ctx, FN, &set)) != OCLA_SUCCESS) return st;
    if (B * T * H == 0) return OCLA_SUCCESS;
    /* K' [B,kp,H,D] and V' [B,kp,H,Dv] in slots 5 and 6 (softmax's slot 4 stays free) */
    ocla__layer_ws ws = {.ctx = ctx};
    ocla_tensor *tk, *tv;
    ocla_softmax_params sp;
    if ((st = ocla__linformer_project_kv(ctx, p, io->E, F, io->k, io->v, &ws, &tk, &tv, &sp)) != OCLA_SUCCESS) return st;
    return ocla_softmax_attention(ctx, &sp, io->q, tk, tv, io->o);
}

ocla_status ocla_linformer_attention(ocla_context *ctx, const ocla_linformer_params *params,
                                     const ocla_linformer_io *io) {
    ocla_linformer_params given;
    if (ctx) OCLA__ABI_IN(ctx, FN, "params", OCLA__ABI_LINFORMER_PARAMS, params, given);
    OCLA__LOCKED_CALL(FN, ctx, params, io, run(ctx, params, io));
}
