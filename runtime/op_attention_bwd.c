/* SPDX-License-Identifier: MIT */
/* Backward of causal chunked linear attention (with the normaliser, through the feature map),
 * simple GLA, retention and GLA (include/ocla/train.h; kernels kernels_cl/attn_bwd.cl; math and
 * memory: docs/TRAINING.md, "Backward").
 *
 * validate -> plan (runtime/plan_bwd.c: chunk, path, the kernels in launch order) -> variant
 * (gate kind, feature map, normaliser, TS, TPG) -> the plan's kernels, in the plan's order. The
 * temporaries are regions of the context's scratch slots 0-3 (layout in runtime/plan.h),
 * grown on demand and kept for the next call; the only host-to-device writes are RetNet's [H]
 * default decays (fixed gates) and, for packed sequences (params.cu_seqlens), the forward's
 * (sequence, chunk) table after slot 0's temporaries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn_op.h"
#include "internal.h"
#include "op_common.h"
#include "plan.h"


/* Every kernel takes the head (n, T, H, K, V, C, NT), n = its items or work-groups, then the
 * arguments its row lists: the caller's tensors (OCLA_TENSOR; the optional ones, X_H0 on, followed
 * by an int "present"), scalars, and the temporaries (BWD_WS: buffer, offset; W_* in the order of
 * ocla__bwd_region). */
enum {
    X_END, X_Q, X_K, X_V, X_DO, X_G, X_DQ, X_DK, X_DV, X_DG, X_H0, X_Z0, X_DHT, X_DZT, X_DH0, X_DZ0, X_TENSORS,
    X_SCALE = X_TENSORS, X_EPS, X_NFAC, X_PASS,
    W_GRAW, W_GCUM, W_GEXP, W_GFAC, W_DECAY, W_A, W_DA, W_HS, W_W0, W_DHS, W_DHST, W_DOP, W_DQH, W_DKH, W_DGV
};
_Static_assert(W_DGV - W_GRAW == OCLA__BWD_DGV, "the W_ codes follow ocla__bwd_region");
/* n = B*H times three of these: chunks, tokens, ..., and the tiled kernels' tile counts (TS wide)
 * over the chunk (NTI), key dims (NDT), value columns with the normaliser (NCT) and without (NCV);
 * the state rows per batch row (F_R: the sequences where packed, else 1). */
enum { F_1, F_NT, F_T, F_C, F_K, F_V, F_GW, F_KVV, F_NTI, F_NDT, F_NCT, F_NCV, F_R, F_COUNT }; /* bwd_call.f's order */

/* The kernels a plan may name (runtime/plan_bwd.c writes these names). */
typedef struct bwd_kernel {
    const char *name, *what;
    unsigned char tiled, n[3], args[16];
} bwd_kernel;
static const bwd_kernel k_all[] = {
    {"bwd_gates", "backward gates", 0, {F_NT, F_GW, F_1}, {X_G, W_DECAY, W_GRAW, W_GCUM, W_GEXP, W_GFAC, X_NFAC}},
    {"bwd_states", "backward chunk states", 0, {F_KVV, F_R, F_1}, {X_K, X_V, W_GEXP, X_H0, X_Z0, W_HS}},
    {"bwd_chunk_kv", "backward chunk k^T v", 1, {F_NT, F_NCT, F_NDT}, {X_K, X_V, W_GCUM, W_GFAC, X_NFAC, W_HS}},
    {"bwd_scan", "backward scan", 0, {F_KVV, F_R, F_1},
     {W_GCUM, W_GFAC, X_NFAC, W_HS, X_H0, X_Z0, W_DHS, W_DHST, W_W0, X_DHT, X_DZT, X_DH0, X_DZ0, X_PASS}},
    {"bwd_A", "backward intra-chunk A", 0, {F_NT, F_C, F_C}, {X_Q, X_K, W_GCUM, W_GFAC, X_NFAC, W_A}},
    {"bwd_A_tiled", "backward intra-chunk A (tiled)", 1, {F_NT, F_NTI, F_NTI}, {X_Q, X_K, W_GCUM, W_GFAC, X_NFAC, W_A}},
    {"bwd_output", "backward normaliser", 0, {F_T, F_1, F_1},
     {X_SCALE, X_EPS, X_Q, X_V, W_GCUM, W_GFAC, X_NFAC, W_HS, W_A, X_DO, W_DOP}},
    {"bwd_dA", "backward intra-chunk dA", 0, {F_NT, F_C, F_C}, {X_V, X_DO, W_DOP, W_GCUM, W_DA}},
    {"bwd_dA_tiled", "backward intra-chunk dA (tiled)", 1, {F_NT, F_NTI, F_NTI}, {X_V, X_DO, W_DOP, W_GCUM, W_DA}},
    {"bwd_chunk_qdo", "backward chunk q^T do", 1, {F_NT, F_NCT, F_NDT},
     {X_SCALE, X_Q, X_DO, W_DOP, W_GCUM, W_GFAC, X_NFAC, W_DHS, W_W0}},
    {"bwd_dstates", "backward state gradients", 0, {F_KVV, F_R, F_1},
     {X_SCALE, X_Q, X_DO, W_DOP, W_GEXP, X_DHT, X_DZT, W_DHS, W_DHST, X_DH0, X_DZ0}},
    {"bwd_dqk", "backward dq dk", 0, {F_T, F_K, F_1},
     {X_SCALE, X_Q, X_K, X_V, X_DO, W_DOP, W_GCUM, W_GFAC, X_NFAC, W_HS, W_DHST, W_DA, W_DQH, W_DKH}},
    {"bwd_dqk_tiled", "backward dq dk (tiled)", 1, {F_NT, F_NTI, F_NDT},
     {X_SCALE, X_Q, X_K, X_V, X_DO, W_DOP, W_GCUM, W_GFAC, X_NFAC, W_HS, W_DHST, W_DA, W_DQH, W_DKH}},
    {"bwd_dv", "backward dv", 0, {F_T, F_V, F_1},
     {X_SCALE, X_K, X_DO, W_DOP, W_GCUM, W_GFAC, X_NFAC, W_DHS, W_A, X_DV}},
    {"bwd_dv_tiled", "backward dv (tiled)", 1, {F_NT, F_NTI, F_NCV},
     {X_SCALE, X_K, X_DO, W_DOP, W_GCUM, W_GFAC, X_NFAC, W_DHS, W_A, X_DV}},
    {"bwd_dg", "backward dq dk dg", 0, {F_NT, F_K, F_1}, {X_Q, X_K, W_HS, W_DHST, W_DQH, W_DKH, W_DGV, X_DQ, X_DK}},
    {"bwd_dg_out", "backward dg", 0, {F_T, F_GW, F_1}, {W_GRAW, W_DGV, X_DG}}};
#define K_COUNT (int)(sizeof k_all / sizeof k_all[0])
#define MAX_STEPS 16

/* Everything the launches read: the head, sizes, scalars, the tensors and the temporaries. */
typedef struct bwd_call {
    ocla_context *ctx;
    cl_int head[7]; /* T, H, K, V, C, NT, nseq */
    size_t seq_off; /* packed: the (sequence, chunk) table's offset in slot 0, in ints */
    size_t BH, f[F_COUNT], wg, ts, tpg; /* tpg: tiles per work-group of the tiled kernels */
    float scale, eps;
    cl_long n_fac;
    const ocla_tensor *t[X_TENSORS];
    cl_mem ws[OCLA__BWD_SLOTS];
    ocla__bwd_layout lay;
} bwd_call;

/* Set the arguments of kernel d and launch it: one work-item per entry in work-groups of the
 * plan's WG (never above the kernel's own limit), or n tiles of TS items in ceil(n / TPG)
 * work-groups of TPG*TS items (tiled). */
static ocla_status launch_step(const bwd_call *c, const bwd_kernel *d, cl_kernel k, cl_int pass) {
    ocla_args a = {c->ctx, k, 0, OCLA_SUCCESS};
    const size_t n = c->BH * c->f[d->n[0]] * c->f[d->n[1]] * c->f[d->n[2]];
    ocla__push_long(&a, (int64_t)n);
    for (int i = 0; i < 7; i++) ocla__push_int(&a, c->head[i]);
    ocla__push_mem(&a, c->ws[0]);
    ocla__push_long(&a, (int64_t)c->seq_off);
    for (const unsigned char *x = d->args; *x != X_END; x++) {
        if (*x >= W_GRAW) {
            const int r = *x - W_GRAW;
            ocla__push_mem(&a, c->ws[c->lay.slot[r]]);
            ocla__push_long(&a, (int64_t)c->lay.off[r]);
        } else if (*x < X_TENSORS) {
            ocla__push_tensor(&a, c->t[*x], c->ws[0], 4); /* an absent tensor: a valid dummy buffer */
            if (*x >= X_H0) ocla__push_int(&a, c->t[*x] != NULL);
        } else if (*x == X_NFAC) {
            ocla__push_long(&a, c->n_fac);
        } else if (*x == X_PASS) {
            ocla__push_int(&a, pass);
        } else {
            ocla__push_float(&a, *x == X_SCALE ? c->scale : c->eps);
        }
    }
    if (a.st != OCLA_SUCCESS) return a.st;
    if (d->tiled) {
        const size_t l = c->ts * c->tpg, g = (n + c->tpg - 1) / c->tpg * l;
        return ocla__launch(c->ctx, k, 1, &g, &l, d->what);
    }
    uint64_t kwg = 0;
    ocla_status st = ocla__kernel_limits(c->ctx, k, &kwg, NULL);
    if (st != OCLA_SUCCESS) return st;
    size_t l = c->wg;
    while (l > 1 && l > kwg) l /= 2;
    return ocla__launch(c->ctx, k, 1, &n, &l, d->what);
}

/* The plan's kernel list ("bwd_gates, bwd_states, ...") as table rows. */
static ocla_status parse_steps(ocla_context *ctx, const ocla_plan *plan, const bwd_kernel **steps, int *n_steps) {
    int n = 0;
    for (const char *s = plan->kernels; *s; s += strspn(s, ", ")) {
        const size_t len = strcspn(s, ", ");
        const bwd_kernel *d = NULL;
        for (int i = 0; i < K_COUNT && !d; i++)
            if (strlen(k_all[i].name) == len && !strncmp(s, k_all[i].name, len)) d = &k_all[i];
        if (!d || n == MAX_STEPS)
            return ocla__fail(ctx, OCLA_ERR_INTERNAL, "ocla_attention_backward: the plan's kernels \"%s\" are not "
                              "the backward's", plan->kernels);
        steps[n++] = d;
        s += len;
    }
    *n_steps = n;
    return OCLA_SUCCESS;
}

/* Tensors checked against (ndim, dims) in order; an absent one is an error where required. Data
 * tensors (q, k, v, d_o and their gradients) are of dtype dt, the rest fp32. */
typedef struct bwd_check {
    const ocla_tensor *t;
    const char *name;
    int ndim, required;
    const int64_t *dims;
    int data;
} bwd_check;
static ocla_status check_list(ocla_context *ctx, const bwd_check *l, int n, ocla_dtype dt) {
    for (int i = 0; i < n; i++) {
        if (!l[i].t && l[i].required)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: %s is NULL", l[i].name);
        const ocla_status st = l[i].t ? ocla__check_tensor_as(ctx, l[i].t, l[i].name, l[i].ndim, l[i].dims,
                                                              l[i].data ? dt : OCLA_F32)
                                      : OCLA_SUCCESS;
        if (st != OCLA_SUCCESS) return st;
    }
    return OCLA_SUCCESS;
}

/* Arguments: shapes, gate kind, optional tensors (the data of dtype dt). Fills the request's shape. */
static ocla_status check_args(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io, ocla_dtype dt,
                              ocla_plan_request *req) {
    if (!p || !io) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: NULL params or io");
    if (!p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_attention_backward: only the causal form has a backward");
    if (p->state_slots)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_attention_backward: state slots (state_slots): the backward "
                          "takes dense batches or packed sequences only (state slots serve decoding)");
    if (p->feature_map < OCLA_FEATURE_IDENTITY || p->feature_map > OCLA_FEATURE_RELU)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad feature_map %d",
                          (int)p->feature_map);
    if (p->gate < OCLA_GATE_NONE || p->gate > OCLA_GATE_FIXED)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad gate kind %d", (int)p->gate);
    ocla_status st = ocla__check_tensor_as(ctx, io->q, "q", 4, NULL, dt);
    if (st != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], K = io->q->dims[3], *qd = io->q->dims;
    const bwd_check k = {io->k, "k (q's dims)", 4, 1, qd, 1};
    if ((st = check_list(ctx, &k, 1, dt)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor_as(ctx, io->v, "v", 4, NULL, dt)) != OCLA_SUCCESS) return st;
    const int64_t V = io->v->dims[3];
    int64_t vd[4] = {B, T, H, V}, g3[3] = {B, T, H};
    /* g and dg: the scalar gate [B, T, H], the vector gate q's dims; checked where the gate is an input */
    const int vec = p->gate == OCLA_GATE_VECTOR, g_in = vec || p->gate == OCLA_GATE_SCALAR;
    const bwd_check outs[] = {{io->v, "v", 4, 1, vd, 1},      {io->d_o, "d_o (v's dims)", 4, 1, vd, 1},
                              {io->dq, "dq", 4, 1, qd, 1},    {io->dk, "dk", 4, 1, qd, 1},
                              {io->dv, "dv", 4, 1, vd, 1},    {io->g, "g", vec ? 4 : 3, 1, vec ? qd : g3, 0},
                              {io->dg, "dg", vec ? 4 : 3, 0, vec ? qd : g3, 0}};
    if ((st = check_list(ctx, outs, g_in ? 7 : 5, dt)) != OCLA_SUCCESS) return st;
    if (!g_in && io->dg)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: dg must be NULL for %s (the gate is not an input)",
                          p->gate == OCLA_GATE_FIXED ? "a fixed decay" : "ungated attention");
    if (p->cu_seqlens) { /* the forward's check, after the tensors' own; the backward ignores params.form */
        ocla_attn_params chunked = *p;
        chunked.form = OCLA_FORM_CHUNKED;
        if ((st = ocla__check_seqlens(ctx, &chunked, qd)) != OCLA_SUCCESS) return st;
    }
    const int64_t R = p->cu_seqlens ? p->n_seqs : B; /* state rows: sequences or batch rows */
    const int64_t sd[4] = {R, H, K, V}, zd[3] = {R, H, K};
    const bwd_check states[] = {
        {io->initial_state, "initial_state", 4, 0, sd, 0}, {io->d_final_state, "d_final_state", 4, 0, sd, 0},
        {io->d_initial_state, "d_initial_state", 4, 0, sd, 0}, {io->initial_z, "initial_z", 3, 0, zd, 0},
        {io->d_final_z, "d_final_z", 3, 0, zd, 0}, {io->d_initial_z, "d_initial_z", 3, 0, zd, 0}};
    if ((st = check_list(ctx, states, 3, dt)) != OCLA_SUCCESS) return st;
    if (!p->normalize && (io->initial_z || io->d_final_z || io->d_initial_z))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: initial_z, d_final_z and d_initial_z need params.normalize");
    if ((st = check_list(ctx, states + 3, 3, dt)) != OCLA_SUCCESS) return st;
    if (B < 1 || T < 1 || H < 1 || K < 1 || V < 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_attention_backward: empty shape B=%lld T=%lld H=%lld K=%lld V=%lld",
                          (long long)B, (long long)T, (long long)H, (long long)K, (long long)V);
    if (B * H > INT32_MAX || R * H > INT32_MAX || T > INT32_MAX / 2 || K > 65536 || V > 65536)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: shape beyond the kernels' int ranges");
    if (p->gate == OCLA_GATE_FIXED && p->fixed_log_decay)
        for (int64_t h = 0; h < H; h++)
            if (isnan(p->fixed_log_decay[h])) /* any value in [-inf, 0] is legal */
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: fixed_log_decay[%lld] is NaN",
                                  (long long)h);
    /* every gradient apart from every input and from each other (no in-place form) */
    const ocla_io_set set = {
        .in = {io->q, io->k, io->v, io->g, io->initial_state, io->initial_z, io->d_o, io->d_final_state, io->d_final_z},
        .in_name = {"q", "k", "v", "g", "initial_state", "initial_z", "d_o", "d_final_state", "d_final_z"},
        .out = {io->dq, io->dk, io->dv, io->dg, io->d_initial_state, io->d_initial_z},
        .out_name = {"dq", "dk", "dv", "dg", "d_initial_state", "d_initial_z"},
        .n_in = 9,
        .n_out = 6};
    if ((st = ocla__check_disjoint(ctx, "ocla_attention_backward", &set)) != OCLA_SUCCESS) return st;
    req->B = B, req->T = T, req->H = H, req->K = K, req->V = V;
    return OCLA_SUCCESS;
}

/* Every tensor of io dense and at its buffer's start (the NVIDIA path's condition). */
static int dense_at_zero(const ocla_attn_grad_io *io) {
    const ocla_tensor *const t[] = {io->q,  io->k,  io->v,  io->g,  io->initial_state, io->d_o, io->d_final_state,
                                    io->dq, io->dk, io->dv, io->dg, io->d_initial_state};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i] && (t[i]->offset != 0 || !ocla__tensor_is_contiguous(t[i]))) return 0;
    return 1;
}

static const char *const region_names[OCLA__BWD_SLOTS] = {
    "gates and intra-chunk A, dA", "chunk states", "state gradients (two layouts)", "per-token gradients"};

/* Packed sequences: the forward's (sequence, chunk) table on the host (ocla__seq_table_fill), nt
 * chunks in n ints. */
typedef struct seq_table {
    int32_t *data;
    int n, nt;
} seq_table;
static ocla_status seq_table_make(ocla_context *ctx, const ocla_attn_params *p, int C, seq_table *tab) {
    const int N = p->n_seqs, T = p->cu_seqlens[N];
    /* at most ceil of each length: (T + N (C - 1)) / C chunks, and at most T */
    const int64_t bound = ((int64_t)T + (int64_t)N * (C - 1)) / C, most_chunks = bound < T ? bound : T;
    tab->data = malloc((size_t)(3 * (int64_t)N + 2 * most_chunks) * sizeof *tab->data);
    if (!tab->data) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "ocla_attention_backward: out of host memory (sequence table)");
    int most;
    tab->nt = ocla__seq_table_fill(p->cu_seqlens, N, C, tab->data, &most);
    tab->n = 3 * N + 2 * tab->nt;
    return OCLA_SUCCESS;
}

/* The temporaries' layout (runtime/plan_bwd.c) and, packed, the table's place after slot 0's
 * regions. Packed temporaries take the layout of a dense batch of N rows of ceil(nt / N) chunks:
 * each region holds at least the packed one's floats (per-token regions N * T' >= nt * C >= T
 * tokens, per-chunk ones N * ceil(nt / N) >= nt chunks, the states N (ceil(nt / N) + 1) >= nt + N,
 * the first chunks' W per sequence N), at the same offsets for every region the kernels index by
 * (head, token) or (head, chunk). Returns 1 where sizes overflow. */
static int bwd_layout(const ocla_plan_request *req, int chunk, const seq_table *tab, bwd_call *c) {
    ocla_plan_request r = *req;
    if (tab->data) {
        const int64_t N = c->head[6], per = (tab->nt + N - 1) / N;
        if (per > INT32_MAX / 2 / chunk) return 1;
        r.B = N, r.T = per * chunk;
    }
    if (ocla__bwd_layout_for(&r, chunk, &c->lay)) return 1;
    if (!tab->data) return 0;
    c->seq_off = (c->lay.slot_bytes[0] / 4 + 63) / 64 * 64;
    return !ocla__add_ok(c->seq_off, (size_t)tab->n, &c->lay.slot_bytes[0]) ||
           !ocla__mul_ok(c->lay.slot_bytes[0], 4, &c->lay.slot_bytes[0]);
}

static ocla_status backward_portable(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                                     const ocla_plan_request *rq, const ocla_plan *pl, const seq_table *tab);

/* half: NULL for fp32 tensors; else the half data's call (ocla__attn_backward_half_nv). */
static ocla_status backward_locked(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                                   const ocla__bwd_half *half) {
    ocla_plan_request req = {.op = OCLA_OP_ATTN_BACKWARD};
    ocla_status st = check_args(ctx, p, io, half ? half->dtype : OCLA_F32, &req);
    if (st != OCLA_SUCCESS) return st;

    /* plan: chunk, path and the kernels in launch order */
    req.chunk = ocla__resolve_chunk(ctx, p->chunk);
    req.flags = (p->normalize ? OCLA_PLAN_NORMALIZE : 0u) | (io->dg ? 0u : OCLA__PLAN_BWD_NO_DG) |
                (half ? ocla__plan_dtype_flags(half->dtype) : 0u);
    req.gate = (int)p->gate;
    req.feature = (int)p->feature_map;
    if (!dense_at_zero(io)) req.flags |= OCLA_PLAN_STRIDED; /* no vendor path */
    if (p->cu_seqlens) req.flags |= OCLA_PLAN_VARLEN;          /* portable kernels only */
    ocla_plan plan;
    if ((st = ocla__plan_for(ctx, &req, &plan)) != OCLA_SUCCESS) return st;
    if (plan.path == OCLA_PATH_NVIDIA_MMA)
        return ocla__nv_backward(ctx, &plan, &req, p, io, half ? half->dq32 : NULL, half ? half->dk32 : NULL);
    if (half) { /* the portable kernels take fp32: the caller widens */
        *half->not_taken = 1;
        return OCLA_SUCCESS;
    }
    seq_table tab = {0};
    if (p->cu_seqlens && (st = seq_table_make(ctx, p, plan.tile[0], &tab)) != OCLA_SUCCESS) return st;
    st = backward_portable(ctx, p, io, &req, &plan, &tab);
    free(tab.data);
    return st;
}

/* The portable kernels of plan (tab: packed sequences' table, or none). */
static ocla_status backward_portable(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                                     const ocla_plan_request *rq, const ocla_plan *pl, const seq_table *tab) {
    const ocla_plan_request req = *rq;
    const ocla_plan plan = *pl;
    ocla__bwd_tiles tl;
    ocla__bwd_tiles_from_plan(&plan, &tl);
    const bwd_kernel *steps[MAX_STEPS];
    int n_steps = 0;
    ocla_status st = parse_steps(ctx, &plan, steps, &n_steps);
    if (st != OCLA_SUCCESS) return st;

    const size_t T = (size_t)req.T, K = (size_t)req.K, V = (size_t)req.V, C = (size_t)tl.chunk, ts = (size_t)tl.ts;
    const size_t BH = (size_t)(req.B * req.H), VV = V + (p->normalize ? 1 : 0), N = p->cu_seqlens ? (size_t)p->n_seqs : 0;
    const size_t NT = N ? (size_t)tab->nt : (T + C - 1) / C; /* packed: every sequence's chunks */
    const int vec = p->gate == OCLA_GATE_VECTOR;
    bwd_call c = {.ctx = ctx,
                  .head = {(cl_int)T, (cl_int)req.H, (cl_int)K, (cl_int)V, (cl_int)C, (cl_int)NT, (cl_int)N},
                  .BH = BH,
                  .f = {1, NT, T, C, K, V, vec ? K : 1, K * VV, (C + ts - 1) / ts, (K + ts - 1) / ts,
                        (VV + ts - 1) / ts, (V + ts - 1) / ts, N ? N : 1},
                  .wg = (size_t)tl.wg,
                  .ts = ts,
                  .tpg = tl.tpg > 1 ? (size_t)tl.tpg : 1,
                  .scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)req.K)),
                  .eps = p->eps,
                  .n_fac = vec ? (cl_long)(BH * T * K) : 0,
                  .t = {NULL, io->q, io->k, io->v, io->d_o, io->g, io->dq, io->dk, io->dv, io->dg, io->initial_state,
                        io->initial_z, io->d_final_state, io->d_final_z, io->d_initial_state, io->d_initial_z}};
    if (bwd_layout(&req, tl.chunk, tab, &c))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: temporary sizes overflow");
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if (c.lay.slot_bytes[s] > ctx->info.max_alloc_size)
            return ocla__fail(ctx, OCLA_ERR_TOO_LARGE,
                              "ocla_attention_backward: the temporaries for %s need %zu bytes at chunk %d, more than "
                              "the device's largest allocation CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu (split B*H or T)",
                              region_names[s], c.lay.slot_bytes[s], tl.chunk,
                              (unsigned long long)ctx->info.max_alloc_size);

    /* the kernels, each in the variant the plan names for it (variant_list.c), built before anything
     * is enqueued */
    cl_kernel kern[MAX_STEPS];
    for (int i = 0; i < n_steps; i++) {
        ocla_variant v;
        if (ocla__plan_kernel_variant(&plan, &req, steps[i]->name, &v))
            return ocla__fail(ctx, OCLA_ERR_INTERNAL, "ocla_attention_backward: no variant for %s", steps[i]->name);
        if ((st = ocla__variant_kernel(ctx, &v, steps[i]->name, &kern[i])) != OCLA_SUCCESS) return st;
    }

    /* temporaries: regions of scratch slots 0-3 */
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if ((st = ocla__scratch(ctx, OCLA__BWD_SLOT0 + s, c.lay.slot_bytes[s], &c.ws[s])) != OCLA_SUCCESS) return st;
    if (tab->data) {
        cl_int err = clEnqueueWriteBuffer(ctx->queue, c.ws[0], CL_TRUE, c.seq_off * 4, (size_t)tab->n * 4, tab->data,
                                          0, NULL, NULL);
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading the sequence table");
        ctx->counters.uploads++;
    }
    if (p->gate == OCLA_GATE_FIXED) {
        float decay[1024];
        if (req.H > 1024)
            return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: more than 1024 heads with a fixed decay");
        /* RetNet's default per-head decay log(1 - 2^(-5-h)) where the caller gives none */
        for (int64_t h = 0; h < req.H; h++)
            decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h);
        const int r = OCLA__BWD_DECAY;
        cl_int err = clEnqueueWriteBuffer(ctx->queue, c.ws[c.lay.slot[r]], CL_TRUE, c.lay.off[r] * 4,
                                          (size_t)req.H * 4, decay, 0, NULL, NULL);
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
        ctx->counters.uploads++;
    }

    /* the plan's kernels, in order; bwd_scan's last argument: 0 the first time, 1 after */
    cl_int scan_pass = 0;
    for (int i = 0; i < n_steps && st == OCLA_SUCCESS; i++) {
        st = launch_step(&c, steps[i], kern[i], scan_pass);
        if (!strcmp(steps[i]->name, "bwd_scan")) scan_pass++;
    }
    return st;
}

OCLA_API ocla_status ocla_attention_backward(ocla_context *ctx, const ocla_attn_params *params,
                                             const ocla_attn_grad_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: ctx is NULL");
    ocla_attn_params given;
    OCLA__ABI_IN(ctx, "ocla_attention_backward", "params", OCLA__ABI_ATTN_PARAMS, params, given);
    if (io && io->q && io->q->dtype != OCLA_F32) return ocla__attn_backward_half(ctx, params, io); /* bf16, fp16 */
    OCLA_LOCK(ctx);
    ocla_status st = backward_locked(ctx, params, io, NULL);
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla__attn_backward_half_nv(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                                        const ocla__bwd_half *half) {
    *half->not_taken = 0;
    return backward_locked(ctx, p, io, half);
}
