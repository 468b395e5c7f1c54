/* SPDX-License-Identifier: MIT */
/* The attention backward in half precision (issue 14): q, k, v, d_o (and g) of a half dtype are
 * widened exactly to fp32 temporaries, the fp32 backward runs on them (its plan: the portable or the
 * NVIDIA kernels, fp32 accumulation; bf16 inputs are exact in TF32: one TF32 pass on NVIDIA), and
 * dq, dk, dv (and dg) are rounded once, to nearest even, into the caller's half tensors
 * (ocla__convert_dtype, kernels_cl/layer_common.cl). The states and their gradients are fp32 and
 * pass through. The temporaries live in the context's scratch, one slot each from
 * HB_SLOT0 at offset 0 (dense at offset 0, as the NVIDIA backward's plan wants them; the fp32
 * backward uses slots 0-3 only), so a call allocates nothing once the slots are large enough; the
 * context stays locked from the widening to the rounding (docs/ARCHITECTURE.md, "Half precision"). */
#include "attn_op.h"
#include "layer_common.h"
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
        if (w32[i] != t[i]) st = ocla__convert_dtype(ctx, t[i], (ocla_tensor *)w32[i]);
    if (st == OCLA_SUCCESS) {
        ocla_attn_grad_io w = *io;
        w.q = w32[HB_Q], w.k = w32[HB_K], w.v = w32[HB_V], w.d_o = w32[HB_DO], w.g = w32[HB_G];
        w.dq = (ocla_tensor *)w32[HB_DQ], w.dk = (ocla_tensor *)w32[HB_DK], w.dv = (ocla_tensor *)w32[HB_DV];
        w.dg = (ocla_tensor *)w32[HB_DG];
        st = ocla__attn_backward_widened(ctx, p, &w, ocla__plan_dtype_flags(t[HB_K]->dtype));
    }
    for (int i = HB_DQ; i < HB_N && st == OCLA_SUCCESS; i++)
        if (w32[i] != t[i]) st = ocla__convert_dtype(ctx, w32[i], (ocla_tensor *)t[i]);
    OCLA_UNLOCK(ctx);
    return st;
}
