/* SPDX-License-Identifier: MIT */
/* The attention backward in half precision (issue 14): q, k, v, d_o of a half dtype, g fp32 or that
 * dtype. A half g is widened exactly to an fp32 temporary and dg comes back through one (rounded once,
 * to nearest even). Where the NVIDIA backward's plan takes the call, its kernels read the half data
 * and write dv, and dq and dk (without a gate gradient; with one, the products' fp32 dq and dk go to
 * temporaries that the gate gradient's kernel finishes into the caller's tensors); elsewhere the data
 * are widened to fp32 temporaries, the fp32 backward runs on them and dq, dk, dv are rounded once
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

/* w32[i] = an fp32 temporary of half tensor t[i] (slot HB_SLOT0 + i), where it has none yet */
static ocla_status fp32_copy(ocla_context *ctx, int i, const ocla_tensor *const t[HB_N], struct ocla_tensor f[HB_N],
                             const ocla_tensor *w32[HB_N]) {
    if (w32[i] != t[i] || !t[i] || t[i]->dtype == OCLA_F32) return OCLA_SUCCESS;
    w32[i] = &f[i];
    return temporary(ctx, HB_SLOT0 + i, t[i], hb_names[i], &f[i]);
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
    struct ocla_tensor f[HB_N];   /* the fp32 temporaries of the half tensors, in scratch */
    const ocla_tensor *w32[HB_N]; /* what the kernels see: f[i], or t[i] where fp32, absent or read as is */
    OCLA_LOCK(ctx); /* recursive: held through the backward, so no other call reuses the slots meanwhile */
    ocla_status st = check(ctx, p, t);
    const int dg = t[HB_DG] != NULL;
    for (int i = 0; i < HB_N; i++) w32[i] = t[i];
    /* fp32 for every route: the gates and dg, and with a gate gradient dq and dk until it finishes them */
    for (int i = 0; i < HB_N && st == OCLA_SUCCESS; i++)
        if (i == HB_G || i == HB_DG || (dg && (i == HB_DQ || i == HB_DK))) st = fp32_copy(ctx, i, t, f, w32);
    if (st == OCLA_SUCCESS && w32[HB_G] != t[HB_G]) st = ocla__convert_dtype(ctx, t[HB_G], (ocla_tensor *)w32[HB_G]);
    ocla_attn_grad_io w = *io;
    w.g = w32[HB_G], w.dg = (ocla_tensor *)w32[HB_DG];
    /* the NVIDIA kernels read and write the half data themselves where their plan takes the call */
    int widen = 0;
    const ocla__bwd_half hv = {t[HB_K] ? t[HB_K]->dtype : OCLA_F32, w32[HB_DQ], w32[HB_DK], &widen};
    if (st == OCLA_SUCCESS) st = ocla__attn_backward_half_nv(ctx, p, &w, &hv);
    if (st == OCLA_SUCCESS && widen) { /* else: the data widened, the fp32 backward, its gradients rounded */
        for (int i = 0; i < HB_N && st == OCLA_SUCCESS; i++) st = fp32_copy(ctx, i, t, f, w32);
        for (int i = 0; i < HB_G && st == OCLA_SUCCESS; i++) st = ocla__convert_dtype(ctx, t[i], (ocla_tensor *)w32[i]);
        if (st == OCLA_SUCCESS) {
            w.q = w32[HB_Q], w.k = w32[HB_K], w.v = w32[HB_V], w.d_o = w32[HB_DO];
            w.dq = (ocla_tensor *)w32[HB_DQ], w.dk = (ocla_tensor *)w32[HB_DK], w.dv = (ocla_tensor *)w32[HB_DV];
            st = ocla_attention_backward(ctx, p, &w);
        }
        for (int i = HB_DQ; i < HB_DG && st == OCLA_SUCCESS; i++)
            st = ocla__convert_dtype(ctx, w32[i], (ocla_tensor *)t[i]);
    }
    if (st == OCLA_SUCCESS && w32[HB_DG] != t[HB_DG]) st = ocla__convert_dtype(ctx, w32[HB_DG], (ocla_tensor *)t[HB_DG]);
    OCLA_UNLOCK(ctx);
    return st;
}
