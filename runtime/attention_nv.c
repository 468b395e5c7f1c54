/* SPDX-License-Identifier: MIT */
/* NVIDIA tensor-core path (kernels_cl/attn_mma_nv.cl) for chunked causal linear attention, simple
 * GLA, retention and GLA, run by a prepared attention op whose plan chose it (runtime/plan_la.c).
 * Two launches (three with per-key gates, whose chunk-local cumsums la_gate_cumsum writes first):
 * the chunk-state pass (sequential over chunks, parallel over batch, head and 64x64 state tiles)
 * writes the state entering every chunk, then the output pass runs every (chunk, 128-wide value
 * tile) in parallel. Packed sequences (key.nseq, B = 1): the kernels' VARLEN variants walk op_attention.c's
 * sequence table (per sequence a state walk; per table chunk an output work-group). bf16 linear
 * attention without a feature map (64 < K <= 128, rows of 16-byte groups, dense sequences) takes one launch
 * instead: kernels_cl/attn_fused_nv.cl walks the chunks with the state tile in registers (two where the
 * plan cuts the sequence into segments: the blocks' states first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_op.h"
#include "ocla_debug.h"

/* The plan assumed dense tensors; check the op's real layouts for 16-byte rows and 32-bit offsets. */
static void fit_layout(ocla_attn_op *op) {
    static const int io[4] = {IO_Q, IO_K, IO_V, IO_O};
    int vec = op->plan.tile[1];
    const int64_t q = op->key.lay[IO_Q].dtype == OCLA_F32 ? 4 : 8; /* elements per 16 bytes */
    int64_t span = 0;
    for (int i = 0; i < 4; i++) {
        const attn_layout *l = &op->key.lay[io[i]];
        vec = vec && l->strides[3] == 1 && l->strides[0] % q == 0 && l->strides[1] % q == 0 && l->strides[2] % q == 0;
        int64_t e = 1;
        for (int d = 0; d < 4; d++) e += (l->dims[d] - 1) * l->strides[d];
        if (e > span) span = e;
    }
    op->plan.tile[1] = vec;
    if (span >= ((int64_t)1 << 31)) op->plan.tile[2] = 0;
}

/* A tensor as the NVIDIA kernels take it: buffer and four strides (they start at the buffer's start). */
static void push_nv(ocla_args *a, const ocla_tensor *t) {
    ocla__push_mem(a, t->mem);
    for (int d = 0; d < 4; d++) ocla__push_long(a, t->strides[d]);
}

static ocla_status nv_bind(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    (void)seg; /* one segment */
    const int nseq = op->key.nseq, NT = nseq ? op->nct : (op->T + 63) / 64; /* packed: the table's chunks */
    cl_mem hbuf = op->buf[BUF_HS], gmem = hbuf; /* any valid buffer where the kernel reads no gate */
    int64_t gs[3] = {0, 0, 0};
    if (op->key.gate == OCLA_GATE_SCALAR) {
        gmem = io->g->mem;
        for (int d = 0; d < 3; d++) gs[d] = io->g->strides[d];
    } else if (op->key.gate == OCLA_GATE_FIXED) {
        gmem = op->dec;
    } else if (op->key.gate == OCLA_GATE_VECTOR) { /* the kernels read the cumsums [B*H][T][K] */
        gmem = op->buf[BUF_G];
        ocla_args c = {op->ctx, op->launch[L_GATE].k, 0, OCLA_SUCCESS};
        ocla__push_int(&c, op->T), ocla__push_int(&c, op->H), ocla__push_int(&c, op->K), ocla__push_int(&c, NT);
        ocla__push_int(&c, OCLA_GATE_VECTOR), ocla__push_tensor(&c, io->g, NULL, 4);
        ocla__push_mem(&c, hbuf), ocla__push_mem(&c, gmem);
        if (nseq) ocla__push_int(&c, nseq), ocla__push_mem(&c, op->seq_buf); /* la_gate_cumsum_seq */
        if (c.st != OCLA_SUCCESS) return c.st;
    }
    const int sizes[6] = {op->B, op->T, op->H, op->K, op->V, NT};
    ocla_args s = {op->ctx, op->launch[L_MAIN].k, 0, OCLA_SUCCESS}, a = {op->ctx, op->launch[L_OUT].k, 0, OCLA_SUCCESS};
    for (int i = 0; i < 6; i++) ocla__push_int(&s, sizes[i]), ocla__push_int(&a, sizes[i]);
    ocla__push_float(&a, op->scale), ocla__push_float(&a, op->scale); /* the intra- and inter-chunk parts' */
    ocla__push_int(&a, 0);                                               /* with the diagonal */
    push_nv(&s, io->k), push_nv(&s, io->v);
    push_nv(&a, io->q), push_nv(&a, io->k), push_nv(&a, io->v);
    ocla__push_mem(&s, gmem), ocla__push_mem(&a, gmem);
    for (int d = 0; d < 3; d++) ocla__push_long(&s, gs[d]), ocla__push_long(&a, gs[d]);
    ocla__push_mem(&s, io->initial_state ? io->initial_state->mem : hbuf);
    ocla__push_int(&s, io->initial_state != NULL);
    ocla__push_mem(&s, hbuf);
    ocla__push_mem(&s, io->final_state ? io->final_state->mem : hbuf);
    ocla__push_int(&s, io->final_state != NULL);
    ocla__push_mem(&a, hbuf);
    push_nv(&a, io->o);
    if (nseq) {
        ocla__push_int(&s, nseq), ocla__push_mem(&s, op->seq_buf);
        ocla__push_int(&a, nseq), ocla__push_mem(&a, op->seq_buf);
    }
    return s.st != OCLA_SUCCESS ? s.st : a.st;
}

/* The single-pass forward (attn_fused_nv.cl): a work-group per (value tile, batch row and head) and
 * segment of the sequence (ocla__fused_segments); with more than one segment mma_fused_part first
 * writes the states of the blocks before the last segment (both kernels take the same arguments). */
static ocla_status fused_args(ocla_attn_op *op, const ocla_attn_io *io, cl_kernel k) {
    ocla_args a = {op->ctx, k, 0, OCLA_SUCCESS};
    const int sizes[5] = {op->B, op->T, op->H, op->K, op->V};
    for (int i = 0; i < 5; i++) ocla__push_int(&a, sizes[i]);
    ocla__push_float(&a, op->scale);
    push_nv(&a, io->q), push_nv(&a, io->k), push_nv(&a, io->v);
    /* the scalar gates [B,T,H], the fixed decays [H] or (no gate) any buffer, unread */
    const int scalar = op->key.gate == OCLA_GATE_SCALAR;
    ocla__push_mem(&a, scalar ? io->g->mem : op->key.gate == OCLA_GATE_FIXED ? op->dec : io->o->mem);
    for (int d = 0; d < 3; d++) ocla__push_long(&a, scalar ? io->g->strides[d] : 0);
    ocla__push_mem(&a, io->initial_state ? io->initial_state->mem : io->o->mem); /* any buffer where unread */
    ocla__push_int(&a, io->initial_state != NULL);
    ocla__push_mem(&a, io->final_state ? io->final_state->mem : io->o->mem);
    ocla__push_int(&a, io->final_state != NULL);
    push_nv(&a, io->o);
    ocla__push_int(&a, op->seg), ocla__push_int(&a, op->fused_lb);
    ocla__push_mem(&a, op->buf[BUF_HS] ? op->buf[BUF_HS] : io->o->mem); /* the block records, where any */
    return a.st;
}

static ocla_status fused_bind(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    (void)seg; /* one launch each */
    ocla_status st = op->launch[L_MAIN].k ? fused_args(op, io, op->launch[L_MAIN].k) : OCLA_SUCCESS;
    return st == OCLA_SUCCESS ? fused_args(op, io, op->launch[L_OUT].k) : st;
}


/* The plan's kernels (variant_list.c: CHUNK VEC IDX32 SPLIT from the plan, narrowed to the op's
 * layouts by fit_layout; gate and feature map from the request; la_gate_cumsum at the path's chunk).
 * A plan of the single-pass forward whose layouts turn out not to be rows of 16-byte groups takes
 * the two passes instead. */
ocla_status ocla__nv_prepare(ocla_attn_op *op, const ocla_plan_request *r) {
    if (strstr(op->plan.kernels, "mma_fused_fwd")) {
        fit_layout(op);
        if (op->plan.tile[1]) {
            const size_t vt = ((size_t)op->V + 31) / 32, bh = (size_t)op->B * (size_t)op->H, lo[3] = {128, 1, 1};
            int nb; /* the plan's segments (plan_la.c, from the same compute units), one where it has one */
            int n = ocla__fused_segments(op->T, (double)(vt * bh), (int)op->ctx->info.compute_units,
                                         op->key.gate != OCLA_GATE_NONE, &op->seg, &op->fused_lb, &nb);
            if (!strstr(op->plan.kernels, "mma_fused_part")) n = 1, nb = 0, op->seg = op->T > 64 ? (op->T + 63) / 64 : 1;
            const size_t go[3] = {vt * 128, bh, (size_t)n}, gp[3] = {((size_t)op->V + 127) / 128 * 256, bh, (size_t)nb};
            const size_t lp[3] = {256, 1, 1};
            op->nseg = 1;
            op->bind = fused_bind;
            if (nb > 0) { /* the block records: K x V (V rounded up to 32) fp32 and the total gate (4 floats) */
                if (!ocla__mul_ok(bh * (size_t)nb, (128 * (vt * 32) + 4) * sizeof(float), &op->need[BUF_HS]))
                    return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "single-pass block state size overflows");
                ocla_status st = ocla__attn_add_planned(op, r, "mma_fused_part", L_MAIN, AT_EACH, gp, lp,
                                                        "NVIDIA single-pass block states");
                if (st != OCLA_SUCCESS) return st;
            }
            return ocla__attn_add_planned(op, r, "mma_fused_fwd", L_OUT, AT_EACH, go, lo, "NVIDIA single-pass forward");
        }
        ocla__plan_set_kernels(&op->plan, "mma_chunk_states, mma_chunk_output");
    }
    const size_t B = (size_t)op->B, H = (size_t)op->H, K = (size_t)op->K, V = (size_t)op->V, N = (size_t)op->key.nseq;
    /* packed: at most ceil(len / 64) chunks per sequence, so (T + 63 N) / 64 in all, and at most T */
    const size_t NTd = (size_t)(op->T + 63) / 64, NTp = ((size_t)op->T + 63 * N) / 64;
    const size_t NT = !N ? NTd : NTp < (size_t)op->T ? NTp : (size_t)op->T, local[3] = {256, 1, 1};
    if (N) { /* the plan could not know N: 32-bit offsets where the table's chunk states allow them */
        op->plan.tile[2] = (double)H * (double)NT * (double)(K * V) < 2147483648.0 &&
                           (double)NTd * 64.0 * (double)H * (double)(K > V ? K : V) < 2147483648.0;
        op->nct = (int)NT, op->seq_set = 0;
        ocla_status st = ocla__attn_seq_reserve(op, (int)(4 * N + 2 * NT)); /* and the walk order (set_seqs) */
        if (st != OCLA_SUCCESS) return st;
    }
    fit_layout(op);
    size_t hbytes; /* the chunk states: bf16 for bf16 data (attn_mma_nv.cl, HS_HALF), else fp32 */
    const size_t hsize = op->key.lay[IO_Q].dtype == OCLA_BF16 ? 2 : sizeof(float);
    if (!ocla__mul_ok(B * H * NT, K * V * hsize, &hbytes))
        return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    op->need[BUF_HS] = hbytes;
    op->nseg = 1;
    op->bind = nv_bind;
    /* state walks per (row, head): batch rows, or sequences (packed); output chunks: set_seqs sets
     * the table's count (packed) */
    const size_t gs[3] = {(V + 63) / 64 * 256, (K + 63) / 64, (size_t)op->rows * H}, go[3] = {(V + 127) / 128 * 256, NT, B * H};
    ocla_status st = ocla__attn_add_planned(op, r, "mma_chunk_states", L_MAIN, AT_EACH, gs, local, "NVIDIA chunk states");
    if (st == OCLA_SUCCESS)
        st = ocla__attn_add_planned(op, r, "mma_chunk_output", L_OUT, AT_LAST, go, local, "NVIDIA chunk outputs");
    if (st != OCLA_SUCCESS || op->key.gate != OCLA_GATE_VECTOR) return st;
    if (!ocla__mul_ok(B * H * (size_t)op->T, K * sizeof(float), &op->need[BUF_G]))
        return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "gate cumsum size overflows");
    const size_t gc[3] = {K, NT, B * H};
    return ocla__attn_add_planned(op, r, N ? "la_gate_cumsum_seq" : "la_gate_cumsum", L_GATE, AT_FIRST, gc, NULL,
                                  "NVIDIA gate cumsum");
}

/* The probe's expected output: lane l holds D[r][c] for (r, c) = (l/4, 2(l%4)), (l/4, 2(l%4)+1),
 * (l/4+8, 2(l%4)), (l/4+8, 2(l%4)+1) of D = A B, A[r][k] = r - k, B[k][c] = (k + 2c) % 5 - 2. */
static int probe_result_ok(const float *out) {
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            const int r = lane / 4 + 8 * (i >> 1), c = 2 * (lane % 4) + (i & 1);
            int d = 0;
            for (int k = 0; k < 8; k++) d += (r - k) * ((k + 2 * c) % 5 - 2);
            if (out[lane * 4 + i] != (float)d) return 0;
        }
    return out[128] == 1.0f;
}

/* Build kernel `name` of variant v, run it as one work-group of `items` work-items with a buffer of
 * `bytes` as its one argument, and read that buffer into out (the capability probes below). */
static ocla_status run_probe_kernel(ocla_context *ctx, const ocla_variant *v, const char *name, size_t items,
                                    void *out, size_t bytes, const char *what) {
    cl_kernel k = NULL;
    cl_mem buf = NULL;
    ocla_status st = ocla__variant_kernel(ctx, v, name, &k);
    if (st == OCLA_SUCCESS) st = ocla__alloc(ctx, bytes, &buf, what);
    ocla_args a = {ctx, k, 0, st};
    ocla__push_mem(&a, buf);
    st = a.st;
    if (st == OCLA_SUCCESS) st = ocla__launch(ctx, k, 1, &items, &items, what);
    if (st == OCLA_SUCCESS) {
        const cl_int err = clEnqueueReadBuffer(ctx->queue, buf, CL_TRUE, 0, bytes, out, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueReadBuffer", what);
    }
    if (buf) clReleaseMemObject(buf);
    return st;
}

/* Build and run mma_probe; OCLA_SUCCESS when it ran, with *ok telling whether its output is right. */
static ocla_status run_probe(ocla_context *ctx, int *ok) {
    const ocla_variant v = ocla__variant(&ocla__fam_nv);
    float out[129];
    const ocla_status st = run_probe_kernel(ctx, &v, "mma_probe", 32, out, sizeof out, "NVIDIA path probe");
    *ok = st == OCLA_SUCCESS && probe_result_ok(out);
    return st;
}

/* Run the probe and keep its result in ctx->nv_probe. */
static void probe(ocla_context *ctx) {
    int ok = 0;
    const ocla_status st = run_probe(ctx, &ok);
    ctx->nv_probe = ok ? 1 : -1;
    /* Quiet on other vendors' devices (their compilers do not define __NV_CL_C_VERSION, so the
     * program has no kernel); a warning where NVIDIA's driver fails it. */
    const ocla_log_level level = ctx->info.vendor == OCLA_VENDOR_NVIDIA ? OCLA_LOG_WARN : OCLA_LOG_INFO;
    if (st != OCLA_SUCCESS)
        ocla__log(ctx, level, "NVIDIA tensor-core path not available (portable kernels): %s", ocla_last_error(ctx));
    else if (!ok)
        ocla__log(ctx, level, "NVIDIA tensor-core path probe computed a wrong product: portable kernels");
}

/* wg_probe's expected scores (kernels_cl/attn_fused_nv.cl): work-item t holds sc[j][e], the score of row
 * 16 (t / 32) + (t % 32) / 4 + 8 (e / 2) and key 8 j + 2 (t % 4) + e % 2 of S = q k^T, q[r][c] =
 * (r + 3c) % 7 - 3, k[n][c] = (2n + c) % 5 - 2, c < 128: exact sums. */
static int wg_probe_ok(const float *out) {
    for (int t = 0; t < 128; t++)
        for (int j = 0; j < 8; j++)
            for (int e = 0; e < 4; e++) {
                const int r = 16 * (t / 32) + (t % 32) / 4 + 8 * (e >> 1), n = 8 * j + 2 * (t % 4) + (e & 1);
                int d = 0;
                for (int c = 0; c < 128; c++) d += ((r + 3 * c) % 7 - 3) * ((2 * n + c) % 5 - 2);
                if (out[32 * t + 4 * j + e] != (float)d) return 0;
            }
    return 1;
}

/* Build and run wg_probe (the single pass's bf16 program with WG=1, built through its sm_90a PTX:
 * runtime/program_cache.c); OCLA_SUCCESS when it ran, *ok whether its scores are right. */
static ocla_status run_wg_probe(ocla_context *ctx, int *ok) {
    ocla_variant v = ocla__variant(&ocla__fam_nv_fused);
    v.tile[0] = 1, v.tile[2] = OCLA_BF16, v.tile[4] = 1; /* IDX32, OCLA_DTYPE, WG: the unsegmented pass's program */
    float *out = malloc(128 * 32 * sizeof *out);
    if (!out) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "sm_90a probe: host buffer");
    const ocla_status st = run_probe_kernel(ctx, &v, "wg_probe", 128, out, 128 * 32 * sizeof *out, "sm_90a probe");
    *ok = st == OCLA_SUCCESS && wg_probe_ok(out);
    free(out);
    return st;
}

int ocla__nv_wgmma_available(ocla_context *ctx) {
    if (ctx->info.vendor != OCLA_VENDOR_NVIDIA || !ocla__nv_available(ctx)) return 0;
    if (!ctx->wg_probe) {
        int ok = 0;
        const ocla_status st = run_wg_probe(ctx, &ok);
        ctx->wg_probe = ok ? 1 : -1;
        /* info only: GPUs before Hopper have no warpgroup products, and the mma.sync kernels serve */
        if (st != OCLA_SUCCESS)
            ocla__log(ctx, OCLA_LOG_INFO, "sm_90a warpgroup products not available: %s", ocla_last_error(ctx));
        else if (!ok)
            ocla__log(ctx, OCLA_LOG_INFO, "sm_90a warpgroup products not available (the probe's scores are wrong)");
    }
    return ctx->wg_probe > 0;
}

int ocla_debug_nv_wgmma(ocla_context *ctx, int run) {
    if (!ctx) return 0;
    OCLA_LOCK(ctx);
    if (run) ctx->wg_probe = 0, ocla__nv_wgmma_available(ctx);
    else ctx->wg_probe = -1;
    const int r = ctx->wg_probe > 0;
    OCLA_UNLOCK(ctx);
    return r;
}

int ocla__nv_available(ocla_context *ctx) {
    if (ctx->portable_only || !ctx->info.is_gpu) return 0;
    if (!ctx->nv_probe) probe(ctx);
    return ctx->nv_probe > 0;
}

int ocla_debug_nv_probe(ocla_context *ctx, int run) {
    if (!ctx) return 0;
    OCLA_LOCK(ctx);
    if (run)
        probe(ctx);
    else
        ctx->nv_probe = -1;
    const int r = ctx->nv_probe > 0;
    OCLA_UNLOCK(ctx);
    return r;
}
