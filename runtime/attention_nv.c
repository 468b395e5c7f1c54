/* SPDX-License-Identifier: MIT */
/* NVIDIA tensor-core path (kernels_cl/attn_mma_nv.cl) for chunked causal linear attention, simple
 * GLA, retention and GLA, run by a prepared attention op whose plan chose it (runtime/plan_la.c).
 * Two launches (three with per-key gates, whose chunk-local cumsums la_gate_cumsum writes first;
 * packed sequences add the carries and the initial states' share, below):
 * the chunk-state pass (sequential over chunks, parallel over batch, head and 64x64 state tiles)
 * writes the state entering every chunk, then the output pass runs every (chunk, 128-wide value
 * tile) in parallel. Packed sequences (key.nseq, B = 1): the kernels' VARLEN variants work on the packed
 * axis' 64-row blocks, as on a dense row's chunks: the state pass walks each sequence in portions
 * (its tokens in at most a walk's width of blocks, from a zero state; runtime/seq_table.c's table),
 * mma_varlen_carry adds to each state what came before its portion, the output pass runs per block
 * with scores and entering states masked to each row's sequence, and mma_varlen_h0 adds the initial
 * states to the rows of each sequence's first block. bf16 linear
 * attention without a feature map (64 < K <= 128, rows of 16-byte groups, dense sequences) takes one launch
 * instead: kernels_cl/attn_fused_nv.cl walks the chunks with the state tile in registers (two where the
 * plan cuts the sequence into segments: the blocks' states first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_op.h"
#include "ocla_debug.h"
#include "op_common.h"

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

/* The carry buffer of packed sequences (BUF_CARRY, floats; NW: ocla__nv_walk_table's bound on the
 * cuts): the end states of at most 2 NW portions
 * [2 NW][H][K][V], their log decays [2 NW][H][KG], the blocks' [NB][H][KG] (KG: K per-key gates, 1
 * scalar or fixed, 0 none), then with initial states a copy of them [N][H][K][V]. *gend, *gblk, *h0:
 * the offsets of the decays and of the copy. */
static size_t carry_floats(const ocla_attn_op *op, int64_t *gend, int64_t *gblk, int64_t *h0) {
    const size_t NB = ((size_t)op->T + 63) / 64, NW = (NB + (size_t)op->key.nseq + (size_t)op->walk - 1) / (size_t)op->walk;
    const size_t H = (size_t)op->H, KG = op->key.gate == OCLA_GATE_VECTOR ? (size_t)op->K : op->key.gate ? 1 : 0;
    *gend = (int64_t)(2 * NW * H * (size_t)op->K * (size_t)op->V);
    *gblk = *gend + (int64_t)(2 * NW * H * KG);
    const size_t copy = op->key.lay[IO_S0].present ? (size_t)op->key.nseq * H * (size_t)op->K * (size_t)op->V : 0;
    *h0 = *gblk + (int64_t)(NB * H * KG);
    return (size_t)*h0 + copy;
}

/* Packed sequences: the walk table of this run's offsets (op->cu) and whether a final state is
 * wanted (a key of the op: fixed), built and uploaded where the offsets changed (set_seqs marks it,
 * op->nct < 0), else its counts as kept (nct, nce); the state and carry launches sized by it. */
static ocla_status nv_walks(ocla_attn_op *op, const ocla_attn_io *io, int *P, int *E) {
    const int N = op->key.nseq;
    if (op->nct >= 0) {
        *P = op->nct, *E = op->nce;
        return OCLA_SUCCESS;
    }
    if (ocla__nv_walk_table(op->cu, N, op->walk, io->final_state != NULL, op->seqtab, P, E) < 0)
        return ocla__fail(op->ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory (walk table)");
    const int coff = op->T + 5 * *P + 3 * *E; /* the offsets after the table, for mma_varlen_h0 */
    memcpy(op->seqtab + coff, op->cu, ((size_t)N + 1) * sizeof *op->cu);
    op->ctx->counters.uploads++;
    const cl_int err = clEnqueueWriteBuffer(op->ctx->queue, op->seq_buf, CL_TRUE, 0, (size_t)(coff + N + 1) * sizeof(cl_int),
                                            op->seqtab, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(op->ctx, err, "clEnqueueWriteBuffer", "uploading the walk table");
    op->launch[L_MAIN].global[2] = (size_t)*P * (size_t)op->H;
    op->launch[L_CARRY].global[1] = (size_t)*E;
    op->launch[L_H0].global[1] = io->initial_state ? (size_t)N : 0;
    op->nct = *P, op->nce = *E;
    return OCLA_SUCCESS;
}

static ocla_status nv_bind(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    (void)seg; /* one segment */
    const int nseq = op->key.nseq, NT = (op->T + 63) / 64; /* packed too: the packed axis' 64-row blocks */
    int P = 0, E = 0;
    ocla_status st = nseq ? nv_walks(op, io, &P, &E) : OCLA_SUCCESS;
    if (st != OCLA_SUCCESS) return st;
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
        ocla__push_mem(&c, hbuf), ocla__push_mem(&c, gmem); /* packed too: blocks of the packed axis */
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
        int64_t gend, gblk, h0o;
        carry_floats(op, &gend, &gblk, &h0o);
        cl_mem cbuf = op->buf[BUF_CARRY];
        ocla__push_mem(&s, op->seq_buf), ocla__push_int(&s, op->T), ocla__push_int(&s, op->T + 4 * P + 3 * E);
        ocla__push_mem(&s, cbuf);
        ocla__push_long(&s, gend), ocla__push_long(&s, gblk), ocla__push_long(&s, h0o);
        ocla__push_mem(&a, op->seq_buf);
        ocla_args c = {op->ctx, op->launch[L_CARRY].k, 0, OCLA_SUCCESS};
        const int dims[4] = {op->H, op->K, op->V, NT};
        for (int i = 0; i < 4; i++) ocla__push_int(&c, dims[i]);
        ocla__push_mem(&c, op->seq_buf), ocla__push_int(&c, op->T), ocla__push_int(&c, op->T + 4 * P);
        ocla__push_mem(&c, hbuf), ocla__push_mem(&c, cbuf), ocla__push_long(&c, gend), ocla__push_long(&c, gblk);
        ocla__push_mem(&c, io->final_state ? io->final_state->mem : hbuf);
        if (c.st != OCLA_SUCCESS) return c.st;
        ocla_args i = {op->ctx, op->launch[L_H0].k, 0, OCLA_SUCCESS};
        const int sizes4[4] = {op->T, op->H, op->K, op->V};
        for (int d = 0; d < 4; d++) ocla__push_int(&i, sizes4[d]);
        ocla__push_float(&i, op->scale), push_nv(&i, io->q);
        ocla__push_mem(&i, gmem);
        for (int d = 0; d < 3; d++) ocla__push_long(&i, gs[d]);
        ocla__push_mem(&i, cbuf), ocla__push_long(&i, h0o), push_nv(&i, io->o);
        ocla__push_mem(&i, op->seq_buf), ocla__push_int(&i, op->T + 5 * P + 3 * E);
        if (i.st != OCLA_SUCCESS) return i.st;
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

/* The single passes' launches (attn_fused_nv.cl, attn_fused32_nv.cl: <name>_part and <name>_fwd, both
 * taking fused_args' arguments; 128 work-items a forward work-group): with blocks (gp[2] > 0) the
 * part kernel first, its `recs` records of `rec` bytes in BUF_HS, then the forward. */
static ocla_status fused_bind(ocla_attn_op *op, const ocla_attn_io *io, int seg);
static ocla_status fused_add(ocla_attn_op *op, const ocla_plan_request *r, const char *name, const size_t go[3],
                             const size_t gp[3], const size_t lp[3], size_t recs, size_t rec) {
    char part[32], fwd[32];
    snprintf(part, sizeof part, "%s_part", name), snprintf(fwd, sizeof fwd, "%s_fwd", name);
    op->nseg = 1;
    op->bind = fused_bind;
    if (gp[2] > 0) {
        if (!ocla__mul_ok(recs, rec, &op->need[BUF_HS]))
            return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "single-pass block state size overflows");
        ocla_status st = ocla__attn_add_planned(op, r, part, L_MAIN, AT_EACH, gp, lp, "NVIDIA single-pass block states");
        if (st != OCLA_SUCCESS) return st;
    }
    static const size_t lo[3] = {128, 1, 1};
    return ocla__attn_add_planned(op, r, fwd, L_OUT, AT_EACH, go, lo, "NVIDIA single-pass forward");
}

static ocla_status fused_bind(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    (void)seg; /* one launch each */
    ocla_status st = op->launch[L_MAIN].k ? fused_args(op, io, op->launch[L_MAIN].k) : OCLA_SUCCESS;
    return st == OCLA_SUCCESS ? fused_args(op, io, op->launch[L_OUT].k) : st;
}


/* Blocks per walk of the packed state pass, the most a portion spans (ocla_debug_nv_walk_width's
 * where set): the blocks' work spread over twice the compute units, and at least 4 blocks (a
 * portion's carry sums the ends of its sequence's earlier portions). Sequences of at most that many
 * blocks are one portion each (no carry); longer ones are cut every that many blocks. Measured on
 * the H200 against a divisor of 4, 8 and 16 with walks cut at fixed positions: the carries' reads
 * and writes of every cut sequence's states grew faster than the walks' balance gained. */
static int walk_width(const ocla_attn_op *op, int NB) {
    if (op->ctx->nv_walk > 0) return op->ctx->nv_walk;
    const double wgs = (double)op->H * (double)((op->K + 63) / 64) * (double)((op->V + 63) / 64);
    const double w = (double)NB * wgs / (2.0 * (double)(op->ctx->info.compute_units ? op->ctx->info.compute_units : 1));
    return w < 4.0 ? 4 : w > (double)NB ? (NB > 4 ? NB : 4) : (int)(w + 0.999);
}

/* The plan's kernels (variant_list.c: CHUNK VEC IDX32 SPLIT from the plan, narrowed to the op's
 * layouts by fit_layout; gate and feature map from the request; la_gate_cumsum at the path's chunk).
 * A plan of the single-pass forward whose layouts turn out not to be rows of 16-byte groups takes
 * the two passes instead. */
ocla_status ocla__nv_prepare(ocla_attn_op *op, const ocla_plan_request *r) {
    if (strstr(op->plan.kernels, "mma_fused32_fwd")) { /* fp32: fused_args' arguments, segments as planned */
        fit_layout(op);
        if (op->plan.tile[1]) {
            const size_t vt = ((size_t)op->V + 63) / 64, bh = (size_t)op->B * (size_t)op->H, lp[3] = {128, 1, 1};
            int nb, n = ocla__fused32_segments(op->T, (double)(vt * bh), (int)op->ctx->info.compute_units, &op->seg,
                                               &op->fused_lb, &nb);
            if (!strstr(op->plan.kernels, "mma_fused32_part")) n = 1, nb = 0;
            const size_t go[3] = {vt * 128, bh, (size_t)n}, gp[3] = {vt * 128, bh, (size_t)nb};
            /* a record: [128][64] fp32 and the total log gate (attn_fused32_nv.cl, F32REC) */
            return fused_add(op, r, "mma_fused32", go, gp, lp, vt * bh * (size_t)nb, (128 * 64 + 4) * sizeof(float));
        }
        ocla__plan_set_kernels(&op->plan, "mma_chunk_states, mma_chunk_output");
    } else if (strstr(op->plan.kernels, "mma_fused_fwd")) {
        fit_layout(op);
        if (op->plan.tile[1]) {
            const size_t vt = ((size_t)op->V + 31) / 32, bh = (size_t)op->B * (size_t)op->H;
            int nb; /* the plan's segments (plan_la.c, from the same compute units), one where it has one */
            int n = ocla__fused_segments(op->T, (double)(vt * bh), (int)op->ctx->info.compute_units,
                                         op->key.gate != OCLA_GATE_NONE, &op->seg, &op->fused_lb, &nb);
            if (!strstr(op->plan.kernels, "mma_fused_part")) n = 1, nb = 0, op->seg = op->T > 64 ? (op->T + 63) / 64 : 1;
            const size_t go[3] = {vt * 128, bh, (size_t)n}, gp[3] = {((size_t)op->V + 127) / 128 * 256, bh, (size_t)nb};
            const size_t lp[3] = {256, 1, 1};
            /* a record: K x V (V rounded up to 32) fp32 and the total gate (4 floats) */
            return fused_add(op, r, "mma_fused", go, gp, lp, bh * (size_t)nb, (128 * (vt * 32) + 4) * sizeof(float));
        }
        ocla__plan_set_kernels(&op->plan, "mma_chunk_states, mma_chunk_output");
    }
    const size_t B = (size_t)op->B, H = (size_t)op->H, K = (size_t)op->K, V = (size_t)op->V, N = (size_t)op->key.nseq;
    /* packed too: the states at the 64-row blocks of the packed axis */
    const size_t NT = (size_t)(op->T + 63) / 64, local[3] = {256, 1, 1};
    if (N) { /* the walk table's room (ocla__nv_walk_table) and the carry buffer */
        op->walk = walk_width(op, (int)NT);
        const size_t NW = (NT + N + (size_t)op->walk - 1) / (size_t)op->walk; /* cuts (ocla__nv_walk_table) */
        const size_t n = (size_t)op->T + 5 * (N + NW) + 3 * (NT + NW) + N + 1; /* and the offsets */
        if (n > INT32_MAX) return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "packed sequences: walk table size overflows");
        op->seq_set = 0, op->nct = -1;
        ocla_status st = ocla__attn_seq_reserve(op, (int)n);
        if (st != OCLA_SUCCESS) return st;
        int64_t gend, gblk, h0o;
        if (!ocla__mul_ok(carry_floats(op, &gend, &gblk, &h0o), sizeof(float), &op->need[BUF_CARRY]))
            return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "packed sequences: carry buffer size overflows");
    }
    fit_layout(op);
    size_t hbytes; /* the chunk states: bf16 for bf16 data (attn_mma_nv.cl, HS_HALF), else fp32 */
    const size_t hsize = op->key.lay[IO_Q].dtype == OCLA_BF16 ? 2 : sizeof(float);
    if (!ocla__mul_ok(B * H * NT, K * V * hsize, &hbytes))
        return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    op->need[BUF_HS] = hbytes;
    op->nseg = 1;
    op->bind = nv_bind;
    /* state walks per (row, head): batch rows, or portions of sequences (packed: nv_walks sets their
     * count, and the carry entries') */
    const size_t gs[3] = {(V + 63) / 64 * 256, (K + 63) / 64, (size_t)op->rows * H};
    const size_t go[3] = {(V + 127) / 128 * 256, N ? H : NT, N ? NT : B * H}; /* packed: a block's heads together */
    const size_t gc[3] = {(K * V + 255) / 256 * 256, 0, H};
    ocla_status st = ocla__attn_add_planned(op, r, "mma_chunk_states", L_MAIN, AT_EACH, gs, local, "NVIDIA chunk states");
    if (st == OCLA_SUCCESS && N)
        st = ocla__attn_add_planned(op, r, "mma_varlen_carry", L_CARRY, AT_EACH, gc, local, "NVIDIA packed-sequence carries");
    if (st == OCLA_SUCCESS)
        st = ocla__attn_add_planned(op, r, "mma_chunk_output", L_OUT, AT_LAST, go, local, "NVIDIA chunk outputs");
    const size_t gi[3] = {(64 * V + 255) / 256 * 256, 0, H};
    if (st == OCLA_SUCCESS && N)
        st = ocla__attn_add_planned(op, r, "mma_varlen_h0", L_H0, AT_LAST, gi, local, "NVIDIA packed-sequence initial states");
    if (st != OCLA_SUCCESS || op->key.gate != OCLA_GATE_VECTOR) return st;
    if (!ocla__mul_ok(B * H * (size_t)op->T, K * sizeof(float), &op->need[BUF_G]))
        return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "gate cumsum size overflows");
    const size_t gg[3] = {K, NT, B * H};
    return ocla__attn_add_planned(op, r, "la_gate_cumsum", L_GATE, AT_FIRST, gg, NULL, "NVIDIA gate cumsum");
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

void ocla_debug_nv_walk_width(ocla_context *ctx, int blocks) {
    if (!ctx) return;
    OCLA_LOCK(ctx);
    ctx->nv_walk = blocks > 0 ? blocks : 0;
    OCLA_UNLOCK(ctx);
}
