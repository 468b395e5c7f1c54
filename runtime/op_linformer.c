/* Linformer: sequence-axis projections with CLBlast (ocla__gemm), then the tiled softmax op over the
 * kp projected rows (it plans its own kernel, runtime/plan_softmax.c). Scratch slots 5 (K' [B,kp,H,D])
 * and 6 (V' [B,kp,H,Dv]); softmax's slot 4 is free for it. Nothing is allocated once they are large
 * enough. */
#include "internal.h"

#include <string.h>

#define SLOT_KP 5
#define SLOT_VP 6

void ocla_linformer_params_defaults(ocla_linformer_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->scale = 1.0f;
    p->sharing = OCLA_LINFORMER_HEADWISE;
}

/* A dense fp32 [d0,d1,d2,d3] tensor over mem from offset 0 (a value: nothing allocated). */
static void dense4(ocla_context *ctx, cl_mem mem, const int64_t d[4], struct ocla_tensor *t) {
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->mem = mem;
    t->ndim = 4;
    t->dtype = OCLA_F32;
    for (int i = 0; i < 4; i++) t->dims[i] = d[i];
    t->strides[3] = 1;
    for (int i = 2; i >= 0; i--) t->strides[i] = t->strides[i + 1] * d[i + 1];
}

/* dst[b, :, h, :] = P_h[:, :T] src[b, :, h, :] for every (b, h), dst dense [B, kp, H, D]. Per b one
 * GEMM: a shared P over all heads at once where a token's heads are contiguous in src (head stride
 * D: P [kp, T] x src_b [T, H*D]), per-head P as H strided-batched products (A by kp*n, B by the head
 * stride, C by D); else one GEMM per (b, h). */
static ocla_status project(ocla_context *ctx, const ocla_tensor *P, int per_head, const ocla_tensor *src, int64_t kp,
                           int64_t n, cl_mem dst) {
    const int64_t B = src->dims[0], T = src->dims[1], H = src->dims[2], D = src->dims[3];
    const int heads_packed = H == 1 || (src->strides[2] == D && src->strides[1] >= H * D);
    for (int64_t b = 0; b < B; b++) {
        const int64_t nh = per_head || heads_packed ? 1 : H; /* GEMM calls for this b */
        for (int64_t h = 0; h < nh; h++) {
            ocla_gemm_desc g;
            ocla_gemm_desc_defaults(&g);
            g.m = (size_t)kp, g.n = (size_t)D, g.k = (size_t)T;
            g.alpha = 1.0f, g.beta = 0.0f, g.batch = 1;
            g.lda = (size_t)n, g.ldb = (size_t)src->strides[1], g.ldc = (size_t)(H * D);
            if (per_head) {
                g.batch = (size_t)H;
                g.stride_a = (size_t)(kp * n), g.stride_b = (size_t)src->strides[2], g.stride_c = (size_t)D;
            } else if (heads_packed) {
                g.n = (size_t)(H * D);
            }
            const size_t a_off = P->offset;
            const size_t b_off = src->offset + (size_t)(b * src->strides[0] + h * src->strides[2]);
            const size_t c_off = (size_t)((b * kp * H + h) * D);
            ocla_status st = ocla__gemm(ctx, &g, P->mem, a_off, src->mem, b_off, dst, c_off);
            if (st != OCLA_SUCCESS) return st;
        }
    }
    return OCLA_SUCCESS;
}

static ocla_status run(ocla_context *ctx, const ocla_linformer_params *p, const ocla_linformer_io *io) {
    ocla_status st;
    if (p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "ocla_linformer_attention: causal Linformer is not defined (E and F mix every token, "
                          "future ones included, into each projected row); use softmax, linear or FLASH attention");
    if ((int)p->sharing < 0 || (int)p->sharing > OCLA_LINFORMER_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_linformer_attention: unknown sharing %d", (int)p->sharing);
    if ((st = ocla__check_tensor(ctx, io->q, "q", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], D = io->q->dims[3];
    const int64_t kd[4] = {B, T, H, D};
    if ((st = ocla__check_tensor(ctx, io->k, "k", 4, kd)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->v, "v", 4, NULL)) != OCLA_SUCCESS)
        return st;
    const int64_t Dv = io->v->dims[3];
    const int64_t vd[4] = {B, T, H, Dv};
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, vd)) != OCLA_SUCCESS ||
        (st = ocla__check_tensor(ctx, io->o, "o", 4, vd)) != OCLA_SUCCESS)
        return st;
    if (io->k->strides[3] != 1 || io->v->strides[3] != 1 || io->k->strides[1] < D || io->v->strides[1] < Dv)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "ocla_linformer_attention: k and v need unit stride along D and a token stride >= D (GEMM operands)");
    const int per_head = p->sharing == OCLA_LINFORMER_NONE;
    const int shared_kv = p->sharing == OCLA_LINFORMER_KEY_VALUE || p->sharing == OCLA_LINFORMER_LAYERWISE;
    if ((st = ocla__check_tensor(ctx, io->E, "E", per_head ? 3 : 2, NULL)) != OCLA_SUCCESS) return st;
    const int64_t kp = io->E->dims[per_head ? 1 : 0], n = io->E->dims[per_head ? 2 : 1];
    if (per_head && io->E->dims[0] != H)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linformer_attention: E has %lld heads, q has %lld",
                          (long long)io->E->dims[0], (long long)H);
    const ocla_tensor *F = shared_kv ? io->E : io->F;
    if (!shared_kv) {
        const int64_t ed[3] = {per_head ? H : kp, per_head ? kp : n, n};
        if ((st = ocla__check_tensor(ctx, F, "F", per_head ? 3 : 2, ed)) != OCLA_SUCCESS) return st;
    }
    if (!ocla__tensor_is_contiguous(io->E) || !ocla__tensor_is_contiguous(F))
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_linformer_attention: E and F must be contiguous");
    if (kp < 1 || kp > n)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_linformer_attention: projected length k=%lld must be in 1..n=%lld",
                          (long long)kp, (long long)n);
    if (T > n)
        return ocla__fail(ctx, OCLA_ERR_SHAPE,
                          "ocla_linformer_attention: T=%lld exceeds the projections' sequence length n=%lld",
                          (long long)T, (long long)n);
    if (B * T * H == 0) return OCLA_SUCCESS;
    size_t kb, vb;
    if (!ocla__mul_ok((size_t)(B * kp * H), (size_t)D * 4, &kb) || !ocla__mul_ok((size_t)(B * kp * H), (size_t)Dv * 4, &vb))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_linformer_attention: projection size overflows");
    cl_mem km, vm;
    if ((st = ocla__scratch(ctx, SLOT_KP, kb, &km)) != OCLA_SUCCESS ||
        (st = ocla__scratch(ctx, SLOT_VP, vb, &vm)) != OCLA_SUCCESS)
        return st;
    if ((st = project(ctx, io->E, per_head, io->k, kp, n, km)) != OCLA_SUCCESS ||
        (st = project(ctx, F, per_head, io->v, kp, n, vm)) != OCLA_SUCCESS)
        return st;
    /* K' [B,kp,H,D] and V' [B,kp,H,Dv]: tensors on the stack over the scratch buffers */
    struct ocla_tensor tk, tv;
    const int64_t pk[4] = {B, kp, H, D}, pv[4] = {B, kp, H, Dv};
    dense4(ctx, km, pk, &tk);
    dense4(ctx, vm, pv, &tv);
    ocla_softmax_params sp;
    ocla_softmax_params_defaults(&sp);
    sp.causal = 0;
    sp.has_scale = p->has_scale, sp.scale = p->scale, sp.block = p->block;
    return ocla_softmax_attention(ctx, &sp, io->q, &tk, &tv, io->o);
}

ocla_status ocla_linformer_attention(ocla_context *ctx, const ocla_linformer_params *params,
                                     const ocla_linformer_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_linformer_attention: ctx is NULL");
    if (!params || !io)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_linformer_attention: %s is NULL", !params ? "params" : "io");
    OCLA_LOCK(ctx);
    ocla_status st = run(ctx, params, io);
    OCLA_UNLOCK(ctx);
    return st;
}
