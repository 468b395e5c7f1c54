/* NVIDIA tensor-core path (kernels_cl/attn_mma_nv.cl) for chunked causal linear attention, simple
 * GLA and retention, run by a prepared attention op whose plan chose it (runtime/plan_la.c). Two
 * launches: the chunk-state pass (sequential over chunks, parallel over batch, head and 64x64 state
 * tiles) writes the state entering every chunk, then the output pass runs every (chunk, 128-wide
 * value tile) in parallel. */
#include <stdio.h>
#include <string.h>

#include "attn_op.h"

/* CHUNK, VEC (float4 tiles), IDX32 (32-bit offsets), SPLIT (3: 3xTF32, 1: TF32); gate and feature
 * map from the variant; OCLA_NV_OPTIONS appended for kernel experiments. */
static const ocla_kfamily fam_nv = {"attn_mma_nv", OCLA_VF_GATE | OCLA_VF_FEATURE | OCLA_VF_NV_EXTRA,
                                    {"CHUNK", "VEC", "IDX32", "SPLIT", NULL}};


/* The plan assumed dense tensors; check the op's real layouts for float4 rows and 32-bit offsets. */
static void fit_layout(ocla_attn_op *op) {
    const attn_layout *q = &op->key.lay[IO_Q], *k = &op->key.lay[IO_K], *v = &op->key.lay[IO_V],
                      *o = &op->key.lay[IO_O];
    int vec = op->plan.tile[1] && q->strides[3] == 1 && k->strides[3] == 1 && v->strides[3] == 1 && o->strides[3] == 1;
    for (int d = 0; d < 3 && vec; d++)
        vec = q->strides[d] % 4 == 0 && k->strides[d] % 4 == 0 && v->strides[d] % 4 == 0 && o->strides[d] % 4 == 0;
    op->plan.tile[1] = vec;
    int64_t span = 0;
    const attn_layout *ls[4] = {q, k, v, o};
    for (int i = 0; i < 4; i++) {
        int64_t e = 1;
        for (int d = 0; d < 4; d++) e += (ls[i]->dims[d] - 1) * ls[i]->strides[d];
        if (e > span) span = e;
    }
    if (span >= ((int64_t)1 << 31)) op->plan.tile[2] = 0;
}

ocla_status ocla__nv_prepare(ocla_attn_op *op) {
    ocla_context *ctx = op->ctx;
    fit_layout(op);
    ocla_variant v = ocla__variant(&fam_nv);
    v.gate = (int8_t)op->key.gate;
    v.feature = (int8_t)op->key.feature;
    for (int i = 0; i < 4; i++) v.tile[i] = op->plan.tile[i];
    ocla_status st = ocla__variant_instance(ctx, &v, "mma_chunk_states", &op->ks);
    if (st == OCLA_SUCCESS) st = ocla__variant_instance(ctx, &v, "mma_chunk_output", &op->ko);
    if (st != OCLA_SUCCESS) return st;
    const int NT = (op->T + 63) / 64;
    size_t hbytes;
    if (!ocla__mul_ok((size_t)op->B * op->H * NT, (size_t)op->K * op->V * sizeof(float), &hbytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    op->need[BUF_HS] = hbytes;
    const size_t local[3] = {256, 1, 1};
    if ((st = ocla__check_launch(ctx, op->ks, 3, local, "NVIDIA chunk states")) != OCLA_SUCCESS) return st;
    return ocla__check_launch(ctx, op->ko, 3, local, "NVIDIA chunk outputs");
}

ocla_status ocla__nv_bind(ocla_attn_op *op, const ocla_attn_io *io) {
    ocla_context *ctx = op->ctx;
    const ocla_tensor *q = io->q, *k = io->k, *v = io->v, *o = io->o;
    const cl_int B = op->B, T = op->T, H = op->H, K = op->K, V = op->V, NT = (T + 63) / 64;
    cl_mem hbuf = op->buf[BUF_HS], gmem = hbuf; /* any valid buffer where the kernel reads no gate */
    cl_long gb = 0, gt = 0, gh = 0;
    if (op->key.gate == OCLA_GATE_SCALAR) {
        gmem = io->g->mem;
        gb = io->g->strides[0], gt = io->g->strides[1], gh = io->g->strides[2];
    } else if (op->key.gate == OCLA_GATE_FIXED)
        gmem = op->dec;
    cl_mem h0 = io->initial_state ? io->initial_state->mem : hbuf;
    cl_mem hT = io->final_state ? io->final_state->mem : hbuf;
    cl_int has_h0 = io->initial_state != NULL, has_hT = io->final_state != NULL;
    cl_long kst[4], vst[4], qst[4], ost[4];
    for (int d = 0; d < 4; d++)
        kst[d] = k->strides[d], vst[d] = v->strides[d], qst[d] = q->strides[d], ost[d] = o->strides[d];
#define A(a, x) ocla__args_push(&(a), sizeof(x), &(x))
    ocla_args s = {ctx, op->ks, 0, OCLA_SUCCESS};
    A(s, B), A(s, T), A(s, H), A(s, K), A(s, V), A(s, NT);
    A(s, k->mem), A(s, kst[0]), A(s, kst[1]), A(s, kst[2]), A(s, kst[3]);
    A(s, v->mem), A(s, vst[0]), A(s, vst[1]), A(s, vst[2]), A(s, vst[3]);
    A(s, gmem), A(s, gb), A(s, gt), A(s, gh);
    A(s, h0), A(s, has_h0), A(s, hbuf), A(s, hT), A(s, has_hT);
    if (s.st != OCLA_SUCCESS) return s.st;
    ocla_args a = {ctx, op->ko, 0, OCLA_SUCCESS};
    A(a, B), A(a, T), A(a, H), A(a, K), A(a, V), A(a, NT), A(a, op->scale);
    A(a, q->mem), A(a, qst[0]), A(a, qst[1]), A(a, qst[2]), A(a, qst[3]);
    A(a, k->mem), A(a, kst[0]), A(a, kst[1]), A(a, kst[2]), A(a, kst[3]);
    A(a, v->mem), A(a, vst[0]), A(a, vst[1]), A(a, vst[2]), A(a, vst[3]);
    A(a, gmem), A(a, gb), A(a, gt), A(a, gh), A(a, hbuf);
    A(a, o->mem), A(a, ost[0]), A(a, ost[1]), A(a, ost[2]), A(a, ost[3]);
#undef A
    return a.st;
}

ocla_status ocla__nv_enqueue(ocla_attn_op *op) {
    const size_t B = (size_t)op->B, H = (size_t)op->H, K = (size_t)op->K, V = (size_t)op->V;
    const size_t NT = (size_t)(op->T + 63) / 64, local[3] = {256, 1, 1};
    const size_t gs[3] = {(V + 63) / 64 * 256, (K + 63) / 64, B * H}, go[3] = {(V + 127) / 128 * 256, NT, B * H};
    ocla_status st = ocla__enqueue(op->ctx, op->ks, 3, gs, local, "NVIDIA chunk states");
    if (st == OCLA_SUCCESS) st = ocla__enqueue(op->ctx, op->ko, 3, go, local, "NVIDIA chunk outputs");
    return st;
}
