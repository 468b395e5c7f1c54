/* SPDX-License-Identifier: MIT */
/* The attention backward in half precision (issue 14): q, k, v, d_o (and g) of a half dtype are
 * widened exactly to fp32 temporaries, the fp32 backward runs on them (its plan: the portable or the
 * NVIDIA kernels, fp32 accumulation; bf16 inputs are exact in TF32: one TF32 pass on NVIDIA), and dq, dk, dv (and dg) are rounded once, to nearest even,
 * into the caller's half tensors (kernels_cl/half_convert.cl). The states and their gradients are
 * fp32 and pass through. The temporaries live in the context's scratch, one slot each from
 * HB_SLOT0 at offset 0 (dense at offset 0, as the NVIDIA backward's plan wants them; the fp32
 * backward uses slots 0-3 only), so a call allocates nothing once the slots are large enough; the
 * context stays locked from the widening to the rounding (docs/ARCHITECTURE.md, "Half precision"). */
#include "attn_op.h"
#include "op_common.h"

enum { HB_Q, HB_K, HB_V, HB_DO, HB_G, HB_DQ, HB_DK, HB_DV, HB_DG, HB_N };
static const char *const hb_names[HB_N] = {"q", "k", "v", "d_o", "g", "dq", "dk", "dv", "dg"};
#define HB_SLOT0 4 /* slots 4 .. 4 + HB_N - 1 (runtime/internal.h) */

/* out = a dense fp32 tensor of h's dims in scratch slot slot, at offset 0 */
static ocla_status temporary(ocla_context *ctx, int slot, const ocla_tensor *h, const char *name, struct ocla_tensor *out) {
    *out = (struct ocla_tensor){.ctx = ctx, .ndim = h->ndim, .dtype = OCLA_F32};
    size_t numel = 1, bytes;
    for (int i = h->ndim - 1; i >= 0; i--) {
        out->dims[i] = h->dims[i], out->strides[i] = (int64_t)numel;
        if (!ocla__mul_ok(numel, (size_t)h->dims[i], &numel))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: the fp32 copy of %s overflows", name);
    }
    if (!ocla__mul_ok(numel, sizeof(float), &bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: the fp32 copy of %s overflows", name);
    return ocla__scratch(ctx, slot, bytes ? bytes : sizeof(float), &out->mem);
}

/* half tensor h <-> dense fp32 f, element by element in row-major order (half_widen / half_narrow):
 * dims right-aligned in four (leading dims of 1), a grid over the inner three (the outermost: a loop
 * in each work-item; the third grid dimension capped, the kernel steps over the rest) */
static ocla_status convert(ocla_context *ctx, const char *kernel, const ocla_tensor *h, const ocla_tensor *f) {
    cl_kernel k = NULL;
    const ocla_variant v = ocla__variant(&ocla__fam_half_convert);
    ocla_status st = ocla__variant_kernel(ctx, &v, kernel, &k);
    if (st != OCLA_SUCCESS) return st;
    int64_t d[4] = {1, 1, 1, 1}, s[4] = {0, 0, 0, 0};
    for (int i = 0; i < h->ndim; i++) d[4 - h->ndim + i] = h->dims[i], s[4 - h->ndim + i] = h->strides[i];
    if (d[0] * d[1] * d[2] * d[3] == 0) return OCLA_SUCCESS;
    ocla_args a = {ctx, k, 0, OCLA_SUCCESS};
    ocla__push_int(&a, (int)h->dtype), ocla__push_mem(&a, h->mem), ocla__push_long(&a, (int64_t)h->offset);
    for (int i = 0; i < 4; i++) ocla__push_long(&a, s[i]);
    for (int i = 0; i < 4; i++) ocla__push_long(&a, d[i]);
    ocla__push_mem(&a, f->mem);
    uint64_t kwg = 0;
    st = a.st == OCLA_SUCCESS ? ocla__kernel_limits(ctx, k, &kwg, NULL) : a.st;
    size_t l0 = ocla__launch_1d_local(kwg, ctx->info.max_work_group_size, ctx->info.max_work_item_sizes[0]);
    while (l0 > 1 && l0 / 2 >= (size_t)d[3]) l0 /= 2; /* narrow rows: fewer idle work-items */
    const size_t g[3] = {((size_t)d[3] + l0 - 1) / l0 * l0, (size_t)d[2], (size_t)(d[1] < 32768 ? d[1] : 32768)};
    const size_t l[3] = {l0, 1, 1};
    return st == OCLA_SUCCESS ? ocla__launch(ctx, k, 3, g, l, kernel) : st;
}

/* The tensors' dtypes: q, k, v, d_o, dq, dk, dv of one dtype (q's, or the one k and v share where q
 * has another: the detail names the odd tensor out), g fp32 or that dtype, dg g's; present where
 * required (the fp32 backward checks the rest: shapes, states, aliasing). */
static ocla_status check(ocla_context *ctx, const ocla_attn_params *p, const ocla_tensor *const t[HB_N]) {
    ocla_dtype dt = t[HB_Q]->dtype;
    if (t[HB_K] && t[HB_V] && t[HB_K]->dtype == t[HB_V]->dtype) dt = t[HB_K]->dtype;
    const int gnd = p->gate == OCLA_GATE_SCALAR ? 3 : 4;
    for (int i = 0; i < HB_N; i++) {
        if (!t[i]) {
            if (i == HB_G || i == HB_DG) continue;
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: %s is NULL", hb_names[i]);
        }
        const ocla_dtype want = i == HB_G ? (t[i]->dtype == OCLA_F32 ? OCLA_F32 : dt)
                                : i == HB_DG ? (t[HB_G] ? t[HB_G]->dtype : OCLA_F32)
                                             : dt;
        const ocla_status st = ocla__check_tensor_as(ctx, t[i], hb_names[i], i == HB_G || i == HB_DG ? gnd : 4, NULL, want);
        if (st != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla__attn_backward_half(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io) {
    const ocla_tensor *t[HB_N] = {io->q, io->k, io->v, io->d_o, io->g, io->dq, io->dk, io->dv, io->dg};
    struct ocla_tensor f[HB_N];      /* the fp32 temporaries of the half tensors, in scratch */
    const ocla_tensor *w32[HB_N];    /* what the fp32 backward sees: f[i], or t[i] where fp32 or absent */
    OCLA_LOCK(ctx); /* recursive: held through the fp32 backward, so no other call reuses the slots meanwhile */
    ocla_status st = check(ctx, p, t);
    for (int i = 0; i < HB_N; i++) {
        w32[i] = t[i];
        if (st == OCLA_SUCCESS && t[i] && t[i]->dtype != OCLA_F32) {
            st = temporary(ctx, HB_SLOT0 + i, t[i], hb_names[i], &f[i]);
            w32[i] = &f[i];
        }
    }
    for (int i = 0; i <= HB_G && st == OCLA_SUCCESS; i++)
        if (w32[i] != t[i]) st = convert(ctx, "half_widen", t[i], w32[i]);
    if (st == OCLA_SUCCESS) {
        ocla_attn_grad_io w = *io;
        w.q = w32[HB_Q], w.k = w32[HB_K], w.v = w32[HB_V], w.d_o = w32[HB_DO], w.g = w32[HB_G];
        w.dq = (ocla_tensor *)w32[HB_DQ], w.dk = (ocla_tensor *)w32[HB_DK], w.dv = (ocla_tensor *)w32[HB_DV];
        w.dg = (ocla_tensor *)w32[HB_DG];
        st = ocla__attn_backward_widened(ctx, p, &w, ocla__plan_dtype_flags(t[HB_K]->dtype));
    }
    for (int i = HB_DQ; i < HB_N && st == OCLA_SUCCESS; i++)
        if (w32[i] != t[i]) st = convert(ctx, "half_narrow", t[i], w32[i]);
    OCLA_UNLOCK(ctx);
    return st;
}
