/* NVIDIA tensor-core fast path (kernels_cl/attn_mma_nv.cl) for chunked causal linear attention,
 * simple GLA and retention. Two launches: the chunk-state pass (sequential over chunks, parallel over
 * batch, head and 64x64 state tiles) writes the state entering every chunk to scratch slot 8, then
 * the output pass runs every (chunk, 64-wide value tile) in parallel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define NV_SLOT_STATES 8
#define NV_SLOT_DECAY 9

static int applies(const ocla_context *ctx, const ocla_attn_params *p, int chunk) {
    if (ctx->info.vendor != OCLA_VENDOR_NVIDIA || ctx->portable_only) return 0;
    if (!p->causal || p->form != OCLA_FORM_CHUNKED || p->normalize) return 0;
    if (p->gate != OCLA_GATE_NONE && p->gate != OCLA_GATE_SCALAR && p->gate != OCLA_GATE_FIXED) return 0;
    if (chunk != 0 && chunk != 64) return 0; /* the output kernel's warp layout covers 64 rows */
    return 1;
}

ocla_status ocla__attention_forward_nv(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, int chunk,
                                       int *used_chunk) {
    if (!applies(ctx, p, chunk)) return OCLA_ERR_UNSUPPORTED;
    const ocla_tensor *q = io->q, *k = io->k, *v = io->v;
    const int B = (int)q->dims[0], T = (int)q->dims[1], H = (int)q->dims[2], K = (int)q->dims[3], V = (int)v->dims[3];
    const int C = 64, NT = (T + C - 1) / C;
    size_t hbytes;
    if (!ocla__mul_ok((size_t)B * H * NT, (size_t)K * V * sizeof(float), &hbytes) || hbytes > ctx->info.max_alloc_size)
        return OCLA_ERR_UNSUPPORTED; /* the portable path may still fit */
    /* Tensors that start inside their buffer (views with an offset) take the portable path. */
    if (q->offset || k->offset || v->offset || io->o->offset || (io->g && io->g->offset) ||
        (io->initial_state && io->initial_state->offset) || (io->final_state && io->final_state->offset))
        return OCLA_ERR_UNSUPPORTED;
    if ((io->initial_state && !ocla__tensor_is_contiguous(io->initial_state)) ||
        (io->final_state && !ocla__tensor_is_contiguous(io->final_state)))
        return OCLA_ERR_UNSUPPORTED;

    /* Variant: chunk, feature map, gate source. */
    int gate = p->gate == OCLA_GATE_SCALAR ? 1 : p->gate == OCLA_GATE_FIXED ? 2 : 0;
    char opts[256];
    /* float4 tiles when every row is 16-byte aligned and the last dimensions are dense */
    int vec = K % 4 == 0 && V % 4 == 0 && q->strides[3] == 1 && k->strides[3] == 1 && v->strides[3] == 1 &&
              io->o->strides[3] == 1;
    for (int d = 0; d < 3 && vec; d++)
        vec = q->strides[d] % 4 == 0 && k->strides[d] % 4 == 0 && v->strides[d] % 4 == 0 && io->o->strides[d] % 4 == 0;
    /* 32-bit offsets when every tensor spans fewer than 2^31 elements */
    size_t span = (size_t)B * H * NT * K * V;
    const ocla_tensor *ts[4] = {q, k, v, io->o};
    for (int t = 0; t < 4; t++) {
        size_t e = 1;
        for (int d = 0; d < 4; d++) e += (size_t)(ts[t]->dims[d] - 1) * (size_t)ts[t]->strides[d];
        if (e > span) span = e;
    }
    int idx32 = span < ((size_t)1 << 31);
    /* OCLA_NV_OPTIONS: extra build options for kernel experiments (e.g. -DSPLIT=1, -DNV_SKIP_MMA). */
    const char *extra = ocla_getenv("OCLA_NV_OPTIONS");
    snprintf(opts, sizeof opts, "-DCHUNK=%d -DFEATURE=%d -DGATE=%d -DVEC=%d -DSPLIT=%d%s %s", C, (int)p->feature_map,
             gate, vec, ctx->allow_tf32 ? 1 : 3, idx32 ? " -DIDX32" : "", extra ? extra : "");
    cl_kernel ks, ko;
    ocla_status st = ocla__get_kernel(ctx, "attn_mma_nv", opts, "mma_chunk_states", &ks);
    if (st == OCLA_SUCCESS) st = ocla__get_kernel(ctx, "attn_mma_nv", opts, "mma_chunk_output", &ko);
    if (st != OCLA_SUCCESS) return st;

    cl_mem hbuf, gmem = NULL;
    cl_long gb = 0, gt = 0, gh = 0;
    st = ocla__scratch(ctx, NV_SLOT_STATES, hbytes, &hbuf);
    if (st != OCLA_SUCCESS) return st;
    if (gate == 1) {
        gmem = io->g->mem;
        gb = io->g->strides[0], gt = io->g->strides[1], gh = io->g->strides[2];
    } else if (gate == 2) {
        /* fixed per-head log decay: caller's values, or RetNet's log(1 - 2^(-5-h)) */
        float *decay = malloc((size_t)H * sizeof *decay);
        if (!decay) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int h = 0; h < H; h++)
            decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : (float)log(1.0 - pow(2.0, -5.0 - h));
        st = ocla__scratch(ctx, NV_SLOT_DECAY, (size_t)H * sizeof(float), &gmem);
        cl_int err = CL_SUCCESS;
        if (st == OCLA_SUCCESS)
            err = clEnqueueWriteBuffer(ctx->queue, gmem, CL_TRUE, 0, (size_t)H * sizeof(float), decay, 0, NULL, NULL);
        free(decay);
        if (st != OCLA_SUCCESS) return st;
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading decays");
    } else {
        gmem = hbuf; /* unused by the kernel; any valid buffer */
    }
    cl_mem h0 = io->initial_state ? io->initial_state->mem : hbuf;
    cl_mem hT = io->final_state ? io->final_state->mem : hbuf;
    cl_int has_h0 = io->initial_state != NULL, has_hT = io->final_state != NULL;
    cl_long kb = k->strides[0], kt = k->strides[1], kh = k->strides[2], kd = k->strides[3];
    cl_long vb = v->strides[0], vt = v->strides[1], vh = v->strides[2], vd = v->strides[3];
    int i = 0;
#define A(x)                                                                                                         \
    if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, ks, i++, x)
    A(B); A(T); A(H); A(K); A(V); A(NT);
    A(k->mem); A(kb); A(kt); A(kh); A(kd);
    A(v->mem); A(vb); A(vt); A(vh); A(vd);
    A(gmem); A(gb); A(gt); A(gh);
    A(h0); A(has_h0); A(hbuf); A(hT); A(has_hT);
#undef A
    size_t global_s[3] = {(size_t)((V + 63) / 64) * 256, (size_t)((K + 63) / 64), (size_t)B * H};
    size_t local_s[3] = {256, 1, 1};
    if (st == OCLA_SUCCESS) st = ocla__launch(ctx, ks, 3, global_s, local_s, "NVIDIA chunk states");

    float scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)K));
    const ocla_tensor *o = io->o;
    cl_long qb = q->strides[0], qt = q->strides[1], qh = q->strides[2], qd = q->strides[3];
    cl_long ob = o->strides[0], ot = o->strides[1], oh = o->strides[2], od = o->strides[3];
    i = 0;
#define A(x)                                                                                                         \
    if (st == OCLA_SUCCESS) st = OCLA_ARG(ctx, ko, i++, x)
    A(B); A(T); A(H); A(K); A(V); A(NT); A(scale);
    A(q->mem); A(qb); A(qt); A(qh); A(qd);
    A(k->mem); A(kb); A(kt); A(kh); A(kd);
    A(v->mem); A(vb); A(vt); A(vh); A(vd);
    A(gmem); A(gb); A(gt); A(gh); A(hbuf);
    A(o->mem); A(ob); A(ot); A(oh); A(od);
#undef A
    size_t global_o[3] = {(size_t)((V + 127) / 128) * 256, (size_t)NT, (size_t)B * H};
    if (st == OCLA_SUCCESS) st = ocla__launch(ctx, ko, 3, global_o, local_s, "NVIDIA chunk outputs");
    if (st == OCLA_SUCCESS && used_chunk) *used_chunk = C;
    return st;
}
