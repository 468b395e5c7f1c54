/* SPDX-License-Identifier: MIT */
/* NVIDIA tensor-core backward (kernels_cl/attn_mma_nv.cl) of causal linear attention without the
 * normaliser, simple GLA, retention and GLA, identity feature map: run by ocla_attention_backward where
 * its plan chose the path (runtime/plan_bwd.c). Per batch and head, with chunk states H_n (entering
 * chunk n), state gradients dH_{n+1} (of the state leaving chunk n), scale s and chunk-local cumulative
 * log gates G (G_L the chunk's last; GLA: per key dimension, from la_gate_cumsum first, and the
 * factors below per key dimension, on the rows of the states and the key columns of dq and dk):
 *   1. mma_chunk_states        H_n recomputed from k, v (and the final state where the gate
 *                              gradient needs it): the forward's state pass
 *   2. mma_chunk_states_rev    dH_n = exp(G_L) dH_{n+1} + s sum_i exp(G_i) q_i do_i^T, last chunk first,
 *                              from d_final_state; dH_0 = d_initial_state
 *   3. mma_chunk_output_t      dq_i = s exp(G_i) H_n do_i + s sum_{j<=i} (do_i.v_j) exp(G_i - G_j) k_j
 *   4. mma_chunk_output_rev    dv_j = exp(G_L - G_j) dH_{n+1}^T k_j + s sum_{i>=j} (q_i.k_j) exp(G_i - G_j) do_i
 *   5. mma_chunk_output_rev_t  dk_j = exp(G_L - G_j) dH_{n+1} v_j + s sum_{i>=j} (do_i.v_j) exp(G_i - G_j) q_i
 *   6. mma_bwd_dg (scalar gates with dg): with e_j = exp(G_L - G_j) dH_{n+1} v_j (dk's inter-chunk part)
 *      and dk' = dk - e, dg_t = sum_{t'>=t in chunk n} (q.dq - k.dk')_t' + exp(G_L) <H_n, dH_{n+1}>
 *      + sum_{j<t in chunk n} k_j.e_j; mma_bwd_dgk (GLA) the same per key dimension. With dg, steps 3
 *      and 5 leave out the diagonal terms s (do_t.v_t) k_t and s (do_t.v_t) q_t, which cancel in
 *      q.dq - k.dk, step 5 writes e apart, and this step adds them after using them (accuracy: no
 *      large terms cancel where gates are strong) 
 * Steps 3-5 are the forward's output kernel with its operands exchanged (the reverse form's
 * anti-causal mask; _t: the [K][V] states read as [V][K]); every product runs on the tensor cores
 * (3xTF32, or TF32 where allowed). Temporaries: scratch slots 0-2 (H, dH, the fixed decays), 3
 * (GLA: the cumulative gates [B*H][T][K]; with dg, dk's inter-chunk part after them). */
#include <math.h>

#include "internal.h"
#include "op_common.h"
#include "plan.h"

enum { S_H, S_DH, S_MISC, S_G, S_COUNT };

/* A tensor as the NVIDIA kernels take it: buffer and its strides (dense, at offset 0: the plan's
 * condition); nstrides of them. */
static void push_t(ocla_args *a, const ocla_tensor *t, int nstrides) {
    ocla__push_mem(a, t->mem);
    for (int d = 0; d < nstrides; d++) ocla__push_long(a, t->strides[d]);
}

typedef struct nvb_call {
    ocla_context *ctx;
    const ocla_plan *plan;
    const ocla_plan_request *req;
    int T, H, K, V, NT;
    size_t BH;
    cl_mem ws[S_COUNT], gmem;
    int64_t gs[3];
} nvb_call;

/* The plan's variant of kernel name (VEC and IDX32 as the plan set them for dense tensors). */
static ocla_status kernel(const nvb_call *c, const char *name, cl_kernel *k) {
    ocla_variant v;
    if (ocla__plan_kernel_variant(c->plan, c->req, name, &v))
        return ocla__fail(c->ctx, OCLA_ERR_INTERNAL, "ocla_attention_backward: no variant for %s", name);
    return ocla__variant_kernel(c->ctx, &v, name, k);
}

/* The arguments of a state or product pass start alike: the kernel and its sizes (B, T, H, K', V', NT). */
static ocla_status begin(const nvb_call *c, const char *name, int Kx, int Vx, ocla_args *x) {
    cl_kernel k;
    const ocla_status st = kernel(c, name, &k);
    if (st != OCLA_SUCCESS) return st;
    *x = (ocla_args){c->ctx, k, 0, OCLA_SUCCESS};
    const int sizes[6] = {(int)c->req->B, c->T, c->H, Kx, Vx, c->NT};
    for (int i = 0; i < 6; i++) ocla__push_int(x, sizes[i]);
    return OCLA_SUCCESS;
}

/* One state pass: operands a, b ([B,T,H,*]), optional initial and last states (sT: written after the
 * last chunk). rev != 0: the gradient pass, with its scale. */
static ocla_status states(const nvb_call *c, const char *name, int Kx, int Vx, const ocla_tensor *a,
                          const ocla_tensor *b, const ocla_tensor *s0, cl_mem out, const ocla_tensor *sT, int rev,
                          float scale) {
    ocla_args x;
    const ocla_status st = begin(c, name, Kx, Vx, &x);
    if (st != OCLA_SUCCESS) return st;
    push_t(&x, a, 4), push_t(&x, b, 4);
    ocla__push_mem(&x, c->gmem);
    for (int d = 0; d < 3; d++) ocla__push_long(&x, c->gs[d]);
    ocla__push_mem(&x, s0 ? s0->mem : out), ocla__push_int(&x, s0 != NULL);
    ocla__push_mem(&x, out);
    ocla__push_mem(&x, sT ? sT->mem : out), ocla__push_int(&x, sT != NULL);
    if (rev) ocla__push_float(&x, scale);
    if (x.st != OCLA_SUCCESS) return x.st;
    const size_t g[3] = {(size_t)(Vx + 63) / 64 * 256, (size_t)(Kx + 63) / 64, c->BH}, l[3] = {256, 1, 1};
    return ocla__launch(c->ctx, x.k, 3, g, l, rev ? "NVIDIA backward state gradients" : "NVIDIA backward chunk states");
}

/* One product pass: out = the output kernel's o for q' = a, k' = b, v' = w, state hs ([K'][V'] per
 * chunk), K' = Kx, V' = Vx; oi (the dk kernel's): where its inter-chunk part goes with strict, at
 * element oio. */
static ocla_status product(const nvb_call *c, const char *name, int Kx, int Vx, float scale, float scale_inter,
                           int strict, const ocla_tensor *a, const ocla_tensor *b, const ocla_tensor *w, cl_mem hs,
                           ocla_tensor *out, cl_mem oi, int64_t oio, const char *what) {
    ocla_args x;
    const ocla_status st = begin(c, name, Kx, Vx, &x);
    if (st != OCLA_SUCCESS) return st;
    ocla__push_float(&x, scale), ocla__push_float(&x, scale_inter), ocla__push_int(&x, strict);
    push_t(&x, a, 4), push_t(&x, b, 4), push_t(&x, w, 4);
    ocla__push_mem(&x, c->gmem);
    for (int d = 0; d < 3; d++) ocla__push_long(&x, c->gs[d]);
    ocla__push_mem(&x, hs);
    push_t(&x, out, 4);
    if (oi) ocla__push_mem(&x, oi), ocla__push_long(&x, oio);
    if (x.st != OCLA_SUCCESS) return x.st;
    const size_t g[3] = {(size_t)(Vx + 127) / 128 * 256, (size_t)c->NT, c->BH}, l[3] = {256, 1, 1};
    return ocla__launch(c->ctx, x.k, 3, g, l, what);
}

/* dg (step 6) of scalar or (vec) per-key gates; dk's inter-chunk part at dki; dq32 and dk32: the
 * products' fp32 dq and dk (half data), or io's own. */
static ocla_status gate_grad(const nvb_call *c, const ocla_attn_grad_io *io, const ocla_tensor *dq32,
                             const ocla_tensor *dk32, int has_final, float scale, int vec, int64_t dki) {
    cl_kernel k;
    ocla_status st = kernel(c, vec ? "mma_bwd_dgk" : "mma_bwd_dg", &k);
    if (st != OCLA_SUCCESS) return st;
    ocla_args x = {c->ctx, k, 0, OCLA_SUCCESS};
    const int sizes[5] = {c->T, c->H, c->K, c->V, c->NT};
    for (int i = 0; i < 5; i++) ocla__push_int(&x, sizes[i]);
    push_t(&x, io->q, 4), push_t(&x, io->k, 4), push_t(&x, io->v, 4), push_t(&x, io->d_o, 4);
    push_t(&x, dq32, 4), push_t(&x, dk32, 4);
    ocla__push_mem(&x, io->dq->mem), ocla__push_mem(&x, io->dk->mem); /* the finished gradients, dq32's strides */
    ocla__push_float(&x, scale);
    ocla__push_mem(&x, c->ws[S_H]), ocla__push_mem(&x, c->ws[S_DH]);
    ocla__push_mem(&x, has_final ? io->d_final_state->mem : c->ws[S_DH]), ocla__push_int(&x, has_final);
    push_t(&x, io->g, 3 + vec), push_t(&x, io->dg, 3 + vec);
    ocla__push_mem(&x, c->ws[S_G]), ocla__push_long(&x, dki);
    if (x.st != OCLA_SUCCESS) return x.st;
    const size_t g[2] = {256 * (size_t)c->NT, c->BH}, l[2] = {256, 1};
    return ocla__launch(c->ctx, k, 2, g, l, "NVIDIA backward dg");
}

ocla_status ocla__nv_backward(ocla_context *ctx, const ocla_plan *plan, const ocla_plan_request *req,
                              const ocla_attn_params *p, const ocla_attn_grad_io *io, const ocla_tensor *dq32,
                              const ocla_tensor *dk32) {
    const int T = (int)req->T, H = (int)req->H, K = (int)req->K, V = (int)req->V, NT = (T + 63) / 64;
    nvb_call c = {.ctx = ctx, .plan = plan, .req = req, .T = T, .H = H, .K = K, .V = V, .NT = NT,
                  .BH = (size_t)(req->B * req->H)};
    const float scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)K));
    const int dg = io->dg != NULL, has_final = dg && io->d_final_state != NULL, vec = p->gate == OCLA_GATE_VECTOR;
    /* dq and dk as the products write them: fp32 where the gate gradient finishes them in half */
    ocla_tensor *pdq = dg && dq32 ? (ocla_tensor *)dq32 : io->dq, *pdk = dg && dk32 ? (ocla_tensor *)dk32 : io->dk;
    /* temporaries: H and dH (B*H*NT*K*V floats each, bf16 for bf16 data without a gate), the fixed
     * decays, then the cumulative gates
     * (per-key gates) followed by dk's inter-chunk part (with dg), B*H*T*K floats each */
    size_t state_bytes, tk;
    const size_t hsize = ocla__nv_bwd_bf16_states(req) ? 2 : sizeof(float); /* attn_mma_nv.cl's hs_t */
    if (!ocla__mul_ok(c.BH * (size_t)NT, (size_t)K * (size_t)V * hsize, &state_bytes) ||
        !ocla__mul_ok(c.BH * (size_t)T, (size_t)K, &tk) || tk > SIZE_MAX / 8)
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: temporary sizes overflow");
    const size_t dki = vec ? tk : 0; /* where dk's inter-chunk part starts, in floats */
    const size_t bytes[S_COUNT] = {state_bytes, state_bytes, ((size_t)H + 64) * sizeof(float),
                                   (dki + (dg ? tk : 0)) * sizeof(float)};
    ocla_status st = OCLA_SUCCESS;
    for (int s = 0; s < S_COUNT && st == OCLA_SUCCESS; s++)
        if (bytes[s]) st = ocla__scratch(ctx, OCLA__BWD_SLOT0 + s, bytes[s], &c.ws[s]);
    if (st != OCLA_SUCCESS) return st;

    /* the gate as the kernels read it: the tensor [B,T,H], or the fixed per-head decays (slot 3) */
    c.gmem = c.ws[S_MISC];
    if (p->gate == OCLA_GATE_SCALAR) {
        c.gmem = io->g->mem;
        for (int d = 0; d < 3; d++) c.gs[d] = io->g->strides[d];
    } else if (p->gate == OCLA_GATE_FIXED) {
        float decay[1024];
        if (H > 1024)
            return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: more than 1024 heads with a fixed decay");
        for (int h = 0; h < H; h++) decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h);
        const cl_int err = clEnqueueWriteBuffer(ctx->queue, c.ws[S_MISC], CL_TRUE, 0, (size_t)H * 4, decay, 0, NULL, NULL);
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
        ctx->counters.uploads++;
    } else if (vec) { /* the chunk-local cumulative gates [B*H][T][K] */
        cl_kernel k;
        st = kernel(&c, "la_gate_cumsum", &k);
        if (st != OCLA_SUCCESS) return st;
        ocla_args x = {ctx, k, 0, OCLA_SUCCESS};
        ocla__push_int(&x, T), ocla__push_int(&x, H), ocla__push_int(&x, K), ocla__push_int(&x, NT);
        ocla__push_int(&x, OCLA_GATE_VECTOR), ocla__push_tensor(&x, io->g, NULL, 4);
        ocla__push_mem(&x, c.ws[S_MISC]), ocla__push_mem(&x, c.ws[S_G]); /* no decays: any buffer */
        if (x.st != OCLA_SUCCESS) return x.st;
        const size_t g[3] = {(size_t)K, (size_t)NT, c.BH};
        st = ocla__launch(ctx, k, 3, g, NULL, "NVIDIA backward gate cumsum");
        if (st != OCLA_SUCCESS) return st;
        c.gmem = c.ws[S_G];
    }

    /* 1-2: the states and their gradients */
    st = states(&c, "mma_chunk_states", K, V, io->k, io->v, io->initial_state, c.ws[S_H], NULL, 0, 0.0f);
    if (st == OCLA_SUCCESS)
        st = states(&c, "mma_chunk_states_rev", K, V, io->q, io->d_o, io->d_final_state, c.ws[S_DH],
                    io->d_initial_state, 1, scale);
    /* 3-5: dq (contraction over V, outputs over K: the [K][V] states read transposed), dv, dk */
    if (st == OCLA_SUCCESS)
        st = product(&c, "mma_chunk_output_t", V, K, scale, scale, dg, io->d_o, io->v, io->k, c.ws[S_H], pdq,
                     NULL, 0, "NVIDIA backward dq");
    if (st == OCLA_SUCCESS)
        st = product(&c, "mma_chunk_output_rev", K, V, scale, 1.0f, 0, io->k, io->q, io->d_o, c.ws[S_DH], io->dv,
                     NULL, 0, "NVIDIA backward dv");
    if (st == OCLA_SUCCESS)
        st = product(&c, "mma_chunk_output_rev_t", V, K, scale, 1.0f, dg, io->v, io->d_o, io->q, c.ws[S_DH], pdk,
                     dg ? c.ws[S_G] : pdk->mem, (int64_t)dki, "NVIDIA backward dk");
    if (st == OCLA_SUCCESS && dg) st = gate_grad(&c, io, pdq, pdk, has_final, scale, vec, (int64_t)dki);
    return st;
}
