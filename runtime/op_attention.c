/* SPDX-License-Identifier: MIT */
/* Linear attention / simple GLA / retention / GLA forward, planned once and launched many times:
 *   prepare = validate -> plan (ocla_plan_compute with the context's limits) -> kernels of the
 *             plan's variant -> buffers -> launch checks
 *   run     = set the arguments that changed -> enqueue
 * ocla_attention_prepare/run/op_destroy are the public prepared-op API; ocla_attention_forward
 * keeps a few prepared ops per context (keyed by params and tensor layouts) and runs the one that
 * matches. Kernels: kernels_cl/linear_attn.cl (chunked, non-causal), linear_attn_rec.cl (recurrent,
 * decode), la_normalize.cl, the NVIDIA path in attention_nv.c. Math: docs/KERNELS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_op.h"
#include "op_common.h"

#define OCLA_ATTN_MAX_DIM 256
#define OCLA__FEW_TOKENS 2 /* half tokens a dense causal call runs in the recurrent form (make_key) */

float ocla__retnet_log_decay(int h) { return (float)log(1.0 - pow(2.0, -5.0 - h)); }

void ocla_attn_params_defaults(ocla_attn_params *p) {
    if (p) /* identity feature map, no gate, chunked, chunk from the scheduler */
        *p = (ocla_attn_params){.size = sizeof *p, .causal = 1, .scale = 1.0f, .eps = 1e-6f};
}

static ocla_op_kind op_for(const ocla_attn_params *p, int form) {
    static const ocla_op_kind by_gate[4] = {OCLA_OP_LINEAR_CHUNK, OCLA_OP_SIMPLE_GLA_CHUNK, OCLA_OP_GLA_CHUNK,
                                            OCLA_OP_SIMPLE_GLA_CHUNK}; /* none, scalar, vector, fixed */
    if (!p->causal) return OCLA_OP_LINEAR_CHUNK;
    if (form == OCLA_FORM_RECURRENT) return OCLA_OP_ATTN_RECURRENT;
    return (unsigned)p->gate <= OCLA_GATE_FIXED ? by_gate[p->gate] : OCLA_OP_LINEAR_CHUNK;
}

ocla_status ocla_attention_limits(ocla_context *ctx, const ocla_attn_params *params, int *max_k, int *max_v) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_limits: ctx is NULL");
    if (!params || !max_k || !max_v)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_limits: NULL argument");
    ocla_attn_params given;
    OCLA__ABI_IN(ctx, "ocla_attention_limits", "params", OCLA__ABI_ATTN_PARAMS, params, given);
    OCLA_LOCK(ctx);
    /* The kernels tile K and V; the limit is the tested range, and a plan must exist. */
    const ocla_plan_request r = {op_for(params, params->form), 1, 1, 1, OCLA_ATTN_MAX_DIM, OCLA_ATTN_MAX_DIM, 0, 0, 0, 0};
    ocla_plan plan;
    const ocla_status st = ocla__plan_for(ctx, &r, &plan);
    *max_k = *max_v = st == OCLA_SUCCESS ? OCLA_ATTN_MAX_DIM : 0;
    OCLA_UNLOCK(ctx);
    return st;
}

/* ---- validation ---- */
static void io_list(const ocla_attn_io *io, const ocla_tensor *t[IO_N]) {
    const ocla_tensor *l[IO_N] = {io->q, io->k, io->v, io->g, io->o,
                                  io->initial_state, io->initial_z, io->final_state, io->final_z};
    memcpy(t, l, sizeof l);
}

static const char *const io_names[IO_N] = {"q",         "k",           "v",       "g",          "o",
                                           "initial_state", "initial_z", "final_state", "final_z"};

/* Outputs o, final_state, final_z apart from every input and from each other; the documented in-place
 * state update (initial_state as final_state, initial_z as final_z: same memory and layout) passes. No
 * allocation: a pointer comparison per pair when the buffers differ (ocla_attention_run calls it). */
static ocla_status attn_disjoint(ocla_context *ctx, const char *fn, const ocla_attn_io *io) {
    const ocla_io_set set = {.in = {io->q, io->k, io->v, io->g, io->initial_state, io->initial_z},
                             .in_name = {"q", "k", "v", "g", "initial_state", "initial_z"},
                             .in_place = {0, 0, 0, 0, 2, 3},
                             .out = {io->o, io->final_state, io->final_z},
                             .out_name = {"o", "final_state", "final_z"},
                             .n_in = 6,
                             .n_out = 3};
    return ocla__check_disjoint(ctx, fn, &set);
}

static ocla_status validate(ocla_context *ctx, const char *fn, const ocla_attn_params *p, const ocla_attn_io *io) {
    if (p->causal != 0 && p->causal != 1)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.causal must be 0 or 1 (is %d)", p->causal);
    if ((int)p->feature_map < 0 || p->feature_map > OCLA_FEATURE_RELU)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.feature_map %d is not a known feature map",
                          (int)p->feature_map);
    if ((int)p->gate < 0 || p->gate > OCLA_GATE_FIXED)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.gate %d is not a known gate kind", (int)p->gate);
    if ((int)p->form < 0 || p->form > OCLA_FORM_RECURRENT)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.form %d is not a known form", (int)p->form);
    if (p->normalize && !(p->eps >= 0.0f && isfinite(p->eps)))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.eps must be finite and >= 0 (is %g)", (double)p->eps);
    if (p->has_scale && !isfinite(p->scale))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.scale must be finite");
    if (p->chunk < 0) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.chunk must be >= 0 (is %d)", p->chunk);
    if (!p->causal && p->gate != OCLA_GATE_NONE)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "non-causal attention takes no gate (params.gate = %d)",
                          (int)p->gate);
    /* half precision: q, k, v, o of one dtype, the gates fp32 or that dtype, states fp32; every form
     * on the portable kernels (docs/ARCHITECTURE.md, "Half precision"). The data dtype is q's, or
     * the one k and v share where q has another (so the detail names the odd tensor out). */
    ocla_dtype dt = io->q ? io->q->dtype : OCLA_F32;
    if (io->k && io->v && io->k->dtype == io->v->dtype) dt = io->k->dtype;
    ocla_status st = ocla__check_tensor_as(ctx, io->q, "q", 4, NULL, dt);
    if (st != OCLA_SUCCESS) return st;
    const int64_t *qd = io->q->dims;
    if (qd[0] < 1 || qd[1] < 1 || qd[2] < 1 || qd[3] < 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "q: every dim must be >= 1");
    if (qd[0] * qd[2] > INT32_MAX / 2 || qd[1] > INT32_MAX / 2)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "q: B*H and T must stay below 2^30");
    if ((st = ocla__check_tensor_as(ctx, io->k, "k (q's dims)", 4, qd, dt)) != OCLA_SUCCESS) return st;
    int64_t vd[4] = {qd[0], qd[1], qd[2], -1};
    if ((st = ocla__check_tensor_as(ctx, io->v, "v (q's B, T, H)", 4, vd, dt)) != OCLA_SUCCESS) return st;
    const int K = (int)qd[3], V = (int)io->v->dims[3];
    if (V < 1) return ocla__fail(ctx, OCLA_ERR_SHAPE, "v: V must be >= 1");
    if (K > OCLA_ATTN_MAX_DIM || V > OCLA_ATTN_MAX_DIM)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "K = %d, V = %d: the attention kernels support K and V up to %d (ocla_attention_limits)", K,
                          V, OCLA_ATTN_MAX_DIM);
    vd[3] = V;
    if ((st = ocla__check_tensor_as(ctx, io->o, "o (v's dims, q's dtype)", 4, vd, dt)) != OCLA_SUCCESS) return st;
    const ocla_dtype gdt = io->g && io->g->dtype == OCLA_F32 ? OCLA_F32 : dt; /* gates: fp32 or q's dtype */
    if (p->gate == OCLA_GATE_SCALAR) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "gate SCALAR needs g [B,T,H]");
        if ((st = ocla__check_tensor_as(ctx, io->g, "g (scalar gate, [B,T,H])", 3, qd, gdt)) != OCLA_SUCCESS) return st;
    } else if (p->gate == OCLA_GATE_VECTOR) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "gate VECTOR needs g [B,T,H,K]");
        if ((st = ocla__check_tensor_as(ctx, io->g, "g (vector gate, [B,T,H,K])", 4, qd, gdt)) != OCLA_SUCCESS) return st;
    } else if (io->g) {
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "g given but params.gate is %s",
                          p->gate == OCLA_GATE_FIXED ? "FIXED (decays come from params.fixed_log_decay)" : "NONE");
    }
    if ((io->initial_z || io->final_z) && !p->normalize)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "initial_z / final_z need params.normalize = 1");
    if (p->cu_seqlens && (st = ocla__check_seqlens(ctx, p, qd)) != OCLA_SUCCESS) return st;
    const int64_t rows = p->cu_seqlens ? p->n_seqs : qd[0]; /* state rows: sequences or batch rows */
    if (p->state_slots) {
        if (!p->causal)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.state_slots: non-causal attention has no states");
        if (p->n_state_slots != rows)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                              "params.n_state_slots is %d: state slots need one index per %s (%lld)",
                              p->n_state_slots, p->cu_seqlens ? "sequence" : "row", (long long)rows);
        if (!io->initial_state && !io->final_state && !io->initial_z && !io->final_z)
            return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                              "params.state_slots given but no state tensor (initial_state, final_state, z)");
    }
    const ocla_tensor *t[IO_N];
    io_list(io, t);
    /* states [B,H,K,V], z [B,H,K]; with slots, pools of any first dim */
    const int64_t sd[4] = {p->state_slots ? -1 : rows, qd[2], qd[3], V};
    for (int i = IO_S0; i < IO_N; i++)
        if (t[i] && (st = ocla__check_tensor(ctx, t[i], io_names[i], i == IO_Z0 || i == IO_Z1 ? 3 : 4, sd)) != OCLA_SUCCESS)
            return st;
    for (int i = IO_S0, first = -1; i < IO_N && p->state_slots; i++) /* pools: one size S */
        if (t[i] && first < 0)
            first = i;
        else if (t[i] && t[i]->dims[0] != t[first]->dims[0])
            return ocla__fail(ctx, OCLA_ERR_SHAPE, "%s: dim 0 is %lld, %s's is %lld: the state pools share one size",
                              io_names[i], (long long)t[i]->dims[0], io_names[first], (long long)t[first]->dims[0]);
    if (p->gate == OCLA_GATE_FIXED && p->fixed_log_decay)
        for (int h = 0; h < qd[2]; h++)
            if (isnan(p->fixed_log_decay[h])) /* any value in [-inf, 0] is legal; positive ones act as 0 */
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.fixed_log_decay[%d] is NaN", h);
    return attn_disjoint(ctx, fn, io);
}

/* ---- the key: params and tensor layouts ---- */
/* Every byte of the key is set (memset first), so keys compare with memcmp. */
static void make_key(const ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, attn_key *k) {
    const ocla_tensor *t[IO_N];
    io_list(io, t);
    memset(k, 0, sizeof *k);
    k->causal = p->causal, k->has_scale = p->has_scale, k->feature = (int)p->feature_map;
    k->normalize = p->normalize != 0, k->gate = (int)p->gate, k->form = p->causal ? (int)p->form : 0;
    /* A dense causal call of one token is one decode step in either form (la_decode); of two half
     * tokens (OCLA__FEW_TOKENS), the recurrent form. Both keep the state in fp32 throughout, where the
     * chunked kernels pad the tokens to a whole chunk and round an initial state as a half product's
     * operand, which alone decides so few outputs (bf16, 8 x 8 heads from an initial state: 5.1e-3 at
     * one token, 5.6e-3 at two against issue 14's 5e-3; at most 3.9e-3 from three on). H200, bf16,
     * 64 rows x 16 heads x 128: one token 0.053 / 0.070 / 0.142 ms (linear / simple GLA / GLA) ->
     * 0.020 (la_decode), two 0.053 / 0.072 / 0.142 -> 0.043-0.045; eight would be slower for linear
     * and simple GLA (0.054 / 0.073 -> 0.108 / 0.111) */
    if (p->causal && !p->cu_seqlens && io->q &&
        (io->q->dims[1] == 1 || (io->q->dtype != OCLA_F32 && io->q->dims[1] <= OCLA__FEW_TOKENS)))
        k->form = OCLA_FORM_RECURRENT;
    k->chunk = ocla__resolve_chunk(ctx, p->chunk);
    k->scale = p->has_scale ? p->scale : 0.0f, k->eps = p->normalize ? p->eps : 0.0f;
    k->slots = p->state_slots != NULL;
    k->nseq = p->cu_seqlens ? p->n_seqs : 0;
    for (int i = 0; i < IO_N; i++) {
        attn_layout *l = &k->lay[i];
        if (!t[i]) continue;
        l->present = 1, l->ndim = t[i]->ndim, l->offset = t[i]->offset != 0, l->dtype = (int)t[i]->dtype;
        for (int d = 0; d < t[i]->ndim; d++) l->dims[d] = t[i]->dims[d], l->strides[d] = t[i]->strides[d];
    }
}

/* ---- argument helpers ---- */

/* The io tensors t[from .. IO_N - 1] in io order, each state after its presence flag (..., has_s0, S0,
 * has_z0, z0, has_s1, S1, has_z1, z1): la_chunk_states and la_recurrent take them alike */
static void push_io(ocla_args *a, const ocla_tensor *const t[IO_N], int from, cl_mem absent) {
    for (int i = from; i < IO_N; i++) {
        if (i >= IO_S0) ocla__push_int(a, t[i] != NULL);
        ocla__push_tensor(a, t[i], absent, 4); /* z [B,H,K]: the fourth stride is multiplied by 0 */
    }
}

/* A workspace buffer, or any valid buffer where the op needs none or none is allocated yet (the
 * chunked kernels' arguments are set at prepare). */
static cl_mem ws(const ocla_attn_op *op, int i, const ocla_attn_io *io) {
    return op->buf[i] ? op->buf[i] : io->q->mem;
}

/* Half outputs with the normaliser: the kernels write the unnormalised outputs u in fp32 (their
 * OCLA_OTYPE, variant_list.c) to the denominators' buffer after its B*H*T floats (T: the tokens of
 * a launch), dense [B,T,H,V]; la_normalize rounds o once. fp32 outputs: u is o, in place. */
static int half_norm(const ocla_attn_op *op) {
    return op->key.normalize && op->key.lay[IO_O].dtype != OCLA_F32;
}
static const ocla_tensor *unnormalised(const ocla_attn_op *op, int T, const ocla_tensor *o, cl_mem den,
                                       ocla_tensor *u) {
    if (!half_norm(op)) return o;
    const int64_t H = op->H, V = op->V;
    *u = (ocla_tensor){.mem = den, .offset = (size_t)op->B * (size_t)H * (size_t)T, .ndim = 4,
                       .dims = {op->B, T, H, V}, .strides = {(int64_t)T * H * V, H * V, V, 1}, .dtype = OCLA_F32};
    return u;
}
/* The denominators' buffer for T tokens a launch: B*H*T floats, and u after them (half_norm) */
static int den_bytes(const ocla_attn_op *op, size_t T, size_t *bytes) {
    const size_t BH = (size_t)op->B * (size_t)op->H, per = 1 + (half_norm(op) ? (size_t)op->V : 0);
    return ocla__mul_ok(BH * T, per * 4, bytes);
}

static ocla_status set_norm_args(ocla_attn_op *op, int T, const ocla_tensor *o, cl_mem den) {
    if (!op->launch[L_NORM].k) return OCLA_SUCCESS;
    ocla_tensor ub;
    ocla_args a = {op->ctx, op->launch[L_NORM].k, 0, OCLA_SUCCESS};
    ocla__push_int(&a, T), ocla__push_int(&a, op->H), ocla__push_int(&a, op->V), ocla__push_float(&a, op->key.eps);
    ocla__push_tensor(&a, unnormalised(op, T, o, den, &ub), NULL, 4);
    ocla__push_tensor(&a, o, NULL, 4);
    ocla__push_mem(&a, den);
    return a.st;
}

/* ---- buffers ---- */
static ocla_status get_buffers(ocla_attn_op *op) {
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i < BUF_N && st == OCLA_SUCCESS; i++) {
        if (!op->need[i]) continue;
        if (!op->own) /* slots 0-3: attention */
            st = ocla__scratch(op->ctx, i, op->need[i], &op->buf[i]);
        else if (!op->buf[i])
            st = ocla__alloc(op->ctx, op->need[i], &op->buf[i], "allocating an attention workspace");
    }
    return st;
}

static ocla_status upload_decay(ocla_attn_op *op, const ocla_attn_params *p) {
    ocla_context *ctx = op->ctx;
    const size_t bytes = (size_t)op->H * sizeof(float);
    op->decay = malloc(bytes);
    if (!op->decay) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int h = 0; h < op->H; h++) op->decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h);
    ocla_status st = ocla__alloc(ctx, bytes, &op->dec, "allocating the fixed decays");
    if (st != OCLA_SUCCESS) return st;
    ctx->counters.uploads++;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, op->dec, CL_TRUE, 0, bytes, op->decay, 0, NULL, NULL);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
}

/* ---- linear_attn_blk.cl's image views (LB_IMG) ---- */
enum { IMG_Q, IMG_K, IMG_V, IMG_G, IMG_HS, IMG_GATES };

/* Whether the prepared op can read q, k, v (gk: and the gates), the gate cumsums (gk: three planes)
 * and the chunk states through image views: the device has images, the tensors' rows are whole
 * texels (unit last stride, the other strides multiples of 4) and every buffer fits the device's
 * image size. */
static int blk_images_fit(ocla_attn_op *op, int gk) {
    cl_bool has = CL_FALSE;
    size_t most = 0;
    if (clGetDeviceInfo(op->ctx->device, CL_DEVICE_IMAGE_SUPPORT, sizeof has, &has, NULL) != CL_SUCCESS || !has ||
        clGetDeviceInfo(op->ctx->device, CL_DEVICE_IMAGE_MAX_BUFFER_SIZE, sizeof most, &most, NULL) != CL_SUCCESS)
        return 0;
    const double texels = (double)most;
    for (int i = IO_Q; i <= (gk ? IO_G : IO_V); i++) {
        const attn_layout *l = &op->key.lay[i];
        double extent = 1.0;
        if (l->ndim != 4 || l->strides[3] != 1) return 0;
        for (int d = 0; d < 4; d++) {
            if (l->strides[d] % 4 && d < 3) return 0;
            extent += (double)(l->dims[d] - 1) * (double)l->strides[d];
        }
        if (extent / 4.0 > texels) return 0;
    }
    const double g = (double)op->B * op->H * (double)op->T * (gk ? 3.0 * op->K : 1.0);
    return g / 4.0 <= texels && (double)op->need[BUF_HS] / 16.0 <= texels;
}

/* The image view i of buffer src (remade when src changed): RGBA fp32 texels over its whole size
 * (up to the device's image size, which blk_images_fit checked the rows it reads against). */
static ocla_status image_view(ocla_attn_op *op, int i, cl_mem src) {
    if (op->img[i] && op->img_src[i] == src) return OCLA_SUCCESS;
    if (op->img[i]) clReleaseMemObject(op->img[i]), op->img[i] = NULL;
    size_t bytes = 0, most = 0;
    cl_int err = clGetMemObjectInfo(src, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceInfo(op->ctx->device, CL_DEVICE_IMAGE_MAX_BUFFER_SIZE, sizeof most, &most, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(op->ctx, err, "clGetMemObjectInfo", "sizing an image view");
    const cl_image_format f = {CL_RGBA, CL_FLOAT};
    cl_image_desc d;
    memset(&d, 0, sizeof d);
    d.image_type = CL_MEM_OBJECT_IMAGE1D_BUFFER;
    d.image_width = bytes / 16 < most ? bytes / 16 : most;
    d.buffer = src;
    op->img[i] = clCreateImage(op->ctx->cl, CL_MEM_READ_ONLY, &f, &d, NULL, &err);
    if (err != CL_SUCCESS) {
        op->img[i] = NULL;
        return ocla__cl_fail(op->ctx, err, "clCreateImage", "an image view of an attention tensor");
    }
    op->img_src[i] = src;
    op->img_last[i] = (int)d.image_width - 1;
    return OCLA_SUCCESS;
}

/* ---- arguments (set when a tensor's buffer or offset changed, and for every segment of a split walk) ---- */
static ocla_status bind_chunked(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    ocla__la_tiles tl;
    ocla__la_tiles_from_plan(&op->plan, &tl);
    const int T = op->T, H = op->H, K = op->K, V = op->V, norm = op->key.normalize, Ve = V + norm, C = tl.chunk;
    /* chunks: per row (dense), or of all sequences (packed; a walk segment covers chunks [n0, n1)
     * of each sequence) */
    const int NT = op->key.nseq ? op->nct : (T + C - 1) / C, n0 = seg * op->seg, n1 = n0 + op->seg, gate = op->key.gate;
    const int nseq = op->key.nseq;
    const cl_mem G = ws(op, BUF_G, io), hs = ws(op, BUF_HS, io), den = ws(op, BUF_DEN, io), any = io->q->mem;
    const ocla_tensor *t[IO_N];
    io_list(io, t);
    /* the chunked kernels take 0 none, 1 per-token scalar cumsums (scalar or fixed), 2 vector */
    const int gmode = gate == OCLA_GATE_VECTOR ? 2 : gate != OCLA_GATE_NONE ? 1 : 0;
    const int nvt_s = (Ve + tl.sbv - 1) / tl.sbv, nvt_o = (Ve + tl.bv - 1) / tl.bv;
    ocla_args a = {op->ctx, op->launch[L_MAIN].k, 0, OCLA_SUCCESS};
    ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, K), ocla__push_int(&a, V), ocla__push_int(&a, NT), ocla__push_int(&a, nvt_s);
    ocla__push_int(&a, op->key.feature), ocla__push_int(&a, gmode), ocla__push_int(&a, norm), ocla__push_int(&a, n0), ocla__push_int(&a, n1);
    ocla__push_tensor(&a, t[IO_K], any, 4), ocla__push_tensor(&a, t[IO_V], any, 4);
    ocla__push_mem(&a, G), ocla__push_mem(&a, hs);
    push_io(&a, t, IO_S0, any);
    ocla__push_int(&a, op->key.slots), ocla__push_mem(&a, op->slot_buf ? op->slot_buf : any);
    ocla__push_int(&a, nseq), ocla__push_mem(&a, op->seq_buf ? op->seq_buf : any);
    ocla__push_local(&a, 4 * (uint64_t)tl.sjb * tl.sbk), ocla__push_local(&a, 4 * (uint64_t)tl.sjb * tl.sbv);
    if (op->blk_img && a.st == OCLA_SUCCESS) { /* linear_attn_blk.cl's image views: k v G, then q k v G hs */
        ocla_status st = image_view(op, IMG_Q, t[IO_Q]->mem);
        if (st == OCLA_SUCCESS) st = image_view(op, IMG_K, t[IO_K]->mem);
        if (st == OCLA_SUCCESS) st = image_view(op, IMG_V, t[IO_V]->mem);
        if (st == OCLA_SUCCESS) st = image_view(op, IMG_G, gate == OCLA_GATE_VECTOR ? G : t[IO_K]->mem);
        if (st == OCLA_SUCCESS) st = image_view(op, IMG_HS, hs);
        if (st != OCLA_SUCCESS) return st;
        for (int i = IMG_K; i <= IMG_G; i++) ocla__push_mem(&a, op->img[i]);
        for (int i = IMG_K; i <= IMG_G; i++) ocla__push_int(&a, op->img_last[i]);
    }
    if (a.st != OCLA_SUCCESS || seg > 0) return a.st; /* later segments: only the walk's range changed */
    if (op->launch[L_GATE].k) {
        ocla_args g = {op->ctx, op->launch[L_GATE].k, 0, OCLA_SUCCESS};
        ocla__push_int(&g, T), ocla__push_int(&g, H), ocla__push_int(&g, gate == OCLA_GATE_VECTOR ? K : 1), ocla__push_int(&g, NT), ocla__push_int(&g, gate);
        ocla__push_tensor(&g, t[IO_G], any, 4); /* the fourth stride is read for vector gates only */
        ocla__push_mem(&g, op->dec ? op->dec : any), ocla__push_mem(&g, G);
        if (tl.blk && gate == OCLA_GATE_VECTOR) { /* la_blk_gk_gates: packed or not, then phi's inputs */
            ocla__push_int(&g, nseq), ocla__push_mem(&g, op->seq_buf ? op->seq_buf : any);
            ocla__push_int(&g, op->key.feature);
            ocla__push_tensor(&g, t[IO_Q], any, 4), ocla__push_tensor(&g, t[IO_K], any, 4);
            if (op->blk_img) { /* the views of q, k and the gates (made with the others above) */
                ocla_status st = image_view(op, IMG_GATES, t[IO_G]->mem);
                if (st != OCLA_SUCCESS) return st;
                ocla__push_mem(&g, op->img[IMG_Q]);
                ocla__push_mem(&g, op->img[IMG_K]);
                ocla__push_mem(&g, op->img[IMG_GATES]);
            }
        } else if (nseq)
            ocla__push_int(&g, nseq), ocla__push_mem(&g, op->seq_buf); /* la_gate_cumsum_seq */
        if (g.st != OCLA_SUCCESS) return g.st;
    }
    const uint64_t a_floats = (uint64_t)C * (C + 4), slab = tl.out_local / 4 - a_floats;
    ocla_args b = {op->ctx, op->launch[L_OUT].k, 0, OCLA_SUCCESS};
    ocla__push_int(&b, T), ocla__push_int(&b, H), ocla__push_int(&b, K), ocla__push_int(&b, V), ocla__push_int(&b, NT), ocla__push_int(&b, nvt_o);
    ocla__push_float(&b, op->scale);
    ocla__push_int(&b, op->key.feature), ocla__push_int(&b, gmode), ocla__push_int(&b, norm), ocla__push_int(&b, !op->key.causal);
    ocla__push_tensor(&b, t[IO_Q], any, 4), ocla__push_tensor(&b, t[IO_K], any, 4), ocla__push_tensor(&b, t[IO_V], any, 4);
    ocla__push_mem(&b, G), ocla__push_mem(&b, hs);
    ocla_tensor ub;
    ocla__push_tensor(&b, unnormalised(op, T, t[IO_O], den, &ub), any, 4);
    ocla__push_mem(&b, den);
    ocla__push_int(&b, nseq), ocla__push_mem(&b, op->seq_buf ? op->seq_buf : any);
    ocla__push_local(&b, 4 * a_floats), ocla__push_local(&b, 4 * slab);
    for (int i = IMG_Q; op->blk_img && i <= IMG_HS; i++) ocla__push_mem(&b, op->img[i]);
    for (int i = IMG_Q; op->blk_img && i <= IMG_HS; i++) ocla__push_int(&b, op->img_last[i]);
    return b.st != OCLA_SUCCESS ? b.st : set_norm_args(op, T, t[IO_O], den);
}

static ocla_status bind_recurrent(ocla_attn_op *op, const ocla_attn_io *io, int seg) {
    const int H = op->H, K = op->K, V = op->V, norm = op->key.normalize, Ve = V + norm;
    const int t0 = seg * op->seg, tn = op->T - t0 < op->seg ? op->T - t0 : op->seg;
    const cl_mem den = ws(op, BUF_DEN, io), any = io->q->mem;
    /* the tensors with a time axis start at token t0: copied to c and shifted */
    ocla_tensor c[IO_S0];
    const ocla_tensor *t[IO_N];
    io_list(io, t);
    for (int i = 0; i < IO_S0; i++)
        if (t[i]) {
            c[i] = *t[i];
            c[i].offset += (size_t)((int64_t)t0 * c[i].strides[1]);
            t[i] = &c[i];
        }
    /* between segments the state travels through the carry buffer, as S [B,H,K,V] and z [B,H,K] */
    const ocla_tensor cs = {.mem = ws(op, BUF_CARRY, io), .strides = {(int64_t)H * K * Ve, (int64_t)K * Ve, Ve, 1}};
    ocla_tensor cz = cs;
    cz.offset = (size_t)V;
    if (seg > 0) t[IO_S0] = &cs, t[IO_Z0] = norm ? &cz : NULL;
    if (seg < op->nseg - 1) t[IO_S1] = &cs, t[IO_Z1] = norm ? &cz : NULL;
    /* half outputs with the normaliser: this segment's u (sized for op->seg tokens, as den) */
    ocla_tensor ub;
    const ocla_tensor *o = t[IO_O];
    t[IO_O] = unnormalised(op, tn, o, den, &ub);
    ocla_args a = {op->ctx, op->launch[L_MAIN].k, 0, OCLA_SUCCESS};
    ocla__push_int(&a, tn), ocla__push_int(&a, H), ocla__push_int(&a, K), ocla__push_int(&a, V);
    ocla__push_float(&a, op->scale);
    ocla__push_int(&a, op->key.feature), ocla__push_int(&a, op->key.gate), ocla__push_int(&a, norm);
    push_io(&a, t, IO_Q, any);
    ocla__push_mem(&a, op->dec ? op->dec : any), ocla__push_mem(&a, den);
    /* slots index the user's pools: the first segment's S0 and the last one's S1 (the carry is dense) */
    ocla__push_int(&a, op->key.slots && seg == 0), ocla__push_int(&a, op->key.slots && seg == op->nseg - 1);
    ocla__push_mem(&a, op->slot_buf ? op->slot_buf : any);
    if (a.st != OCLA_SUCCESS) return a.st;
    op->launch[L_NORM].global[1] = (size_t)tn; /* the normaliser covers this segment's tokens */
    return set_norm_args(op, tn, o, den);
}

/* ---- prepare ---- */
ocla_status ocla__attn_add_launch(ocla_attn_op *op, const ocla_variant *v, const char *name, int slot, int when,
                                  const size_t global[3], const size_t *local, const char *what) {
    attn_launch *l = &op->launch[slot];
    const ocla_kernel_entry *e;
    ocla_status st = ocla__variant_entry(op->ctx, v, name, &e);
    if (st != OCLA_SUCCESS) return st;
    /* the kernel's limits, noted for replanning */
    if (e->wg_size && (!op->min_wg || e->wg_size < op->min_wg)) op->min_wg = e->wg_size;
    if (e->static_local > op->static_local) op->static_local = e->static_local;
    l->when = when, l->what = what;
    memcpy(l->global, global, sizeof l->global);
    if (local) memcpy(l->local, local, sizeof l->local);
    /* a kernel object of the op's own: kernel arguments belong to a cl_kernel, so two ops sharing
     * the cached one would run with each other's arguments */
    cl_int err;
    l->k = clCreateKernel(e->program, name, &err);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(op->ctx, err, "clCreateKernel", name);
}

/* A launch slot for kernel `name` of the op's plan, in the variant the plan names for it
 * (variant_list.c: the list the vendor compile check walks). */
ocla_status ocla__attn_add_planned(ocla_attn_op *op, const ocla_plan_request *r, const char *name, int slot, int when,
                                   const size_t global[3], const size_t *local, const char *what) {
    ocla_variant v;
    if (ocla__plan_kernel_variant(&op->plan, r, name, &v))
        return ocla__fail(op->ctx, OCLA_ERR_INTERNAL, "the attention plan (kernels %s) has no %s", op->plan.kernels, name);
    return ocla__attn_add_launch(op, &v, name, slot, when, global, local, what);
}

static void release_kernels(ocla_attn_op *op) {
    for (int i = 0; i < L_N; i++)
        if (op->launch[i].k) clReleaseKernel(op->launch[i].k);
    memset(op->launch, 0, sizeof op->launch);
}

/* ---- packed sequences ---- */
/* Room for a sequence table of n ints (host and device); kept when large enough. */
ocla_status ocla__attn_seq_reserve(ocla_attn_op *op, int n) {
    if (n <= op->seq_cap) return OCLA_SUCCESS;
    if (op->seq_buf) clReleaseMemObject(op->seq_buf), op->seq_buf = NULL;
    free(op->seqtab);
    op->seq_cap = 0;
    op->seqtab = malloc((size_t)n * sizeof *op->seqtab);
    if (!op->cu) op->cu = malloc(((size_t)op->key.nseq + 1) * sizeof *op->cu);
    if (!op->seqtab || !op->cu) return ocla__fail(op->ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory (sequence table)");
    ocla_status st = ocla__alloc(op->ctx, (size_t)n * sizeof(cl_int), &op->seq_buf, "allocating the sequence table");
    if (st == OCLA_SUCCESS) op->seq_cap = n;
    return st;
}

/* The sequence table for offsets cu (checked by ocla__check_seqlens), built and uploaded where they
 * differ from the last ones: per sequence (first token, length, first chunk), then per chunk
 * (sequence, chunk within it), so that no chunk straddles two sequences. The launches' chunk
 * counts and the walk's segments follow; the kernels' arguments are set again at the next run.
 * The NVIDIA path keeps the offsets and builds its own table at that run (attention_nv.c). */
static ocla_status set_seqs(ocla_attn_op *op, const int32_t *cu) {
    const int N = op->key.nseq;
    if (op->seq_set && !memcmp(op->cu, cu, ((size_t)N + 1) * sizeof *cu)) return OCLA_SUCCESS;
    if (op->plan.path == OCLA_PATH_NVIDIA_MMA) { /* attention_nv.c's bind builds and uploads its walk table */
        memcpy(op->cu, cu, ((size_t)N + 1) * sizeof *cu);
        memset(&op->binding, 0, sizeof op->binding);
        op->nct = -1; /* the walk table to build */
        op->seq_set = 1;
        return OCLA_SUCCESS;
    }
    ocla__la_tiles tl;
    ocla__la_tiles_from_plan(&op->plan, &tl);
    const int C = tl.chunk;
    int most;
    const int c = ocla__seq_table_fill(cu, N, C, op->seqtab, &most);
    /* c <= the capacity: each sequence has at most (len + C - 1) / C chunks (prepare_chunked) */
    op->seq_set = 0;
    op->ctx->counters.uploads++;
    const cl_int err = clEnqueueWriteBuffer(op->ctx->queue, op->seq_buf, CL_TRUE, 0, (size_t)(3 * N + 2 * c) * sizeof(cl_int),
                                            op->seqtab, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(op->ctx, err, "clEnqueueWriteBuffer", "uploading the sequence table");
    memcpy(op->cu, cu, ((size_t)N + 1) * sizeof *cu);
    op->nct = c;
    op->nseg = (most + op->seg - 1) / op->seg;
    op->launch[L_OUT].global[1] = (size_t)c * (size_t)((op->V + op->key.normalize + tl.bv - 1) / tl.bv);
    op->launch[L_GATE].global[1] = (size_t)c;
    memset(&op->binding, 0, sizeof op->binding); /* NT changed: every argument again */
    op->seq_set = 1;
    return OCLA_SUCCESS;
}

static ocla_status prepare_recurrent(ocla_attn_op *op, const ocla_plan_request *r) {
    const int RV = op->plan.tile[0], RK = op->plan.tile[1], KR = op->plan.tile[2];
    const int K = op->K, T = op->T, Ve = op->V + op->key.normalize;
    if (strstr(op->plan.kernels, "la_decode")) { /* T = 1: tiles DV KS CW (plan_la.c); la_recurrent's arguments */
        const int DV = RV, KS = RK, CW = KR, groups = (Ve + DV * CW - 1) / (DV * CW);
        op->seg = 1, op->nseg = 1, op->bind = bind_recurrent;
        if (op->key.normalize && !den_bytes(op, 1, &op->need[BUF_DEN])) /* and u after them (half) */
            return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "denominator size overflows");
        const size_t global[3] = {(size_t)groups * DV, (size_t)KS, (size_t)op->B * op->H};
        const size_t local[3] = {(size_t)DV, (size_t)KS, 1};
        return ocla__attn_add_planned(op, r, "la_decode", L_MAIN, AT_EACH, global, local, "attention decode step");
    }
    /* Tokens per launch: llvmpipe stops a kernel's loops after ~65535 iterations in total, so long
     * sequences run as several launches carrying the state through a buffer ([B,H,K,Ve]). */
    const int mesa = op->ctx->info.vendor == OCLA_VENDOR_MESA;
    const int per = mesa ? 30000 / (KR + RK + 4 + (K + RK * RV - 1) / (RK * RV)) : T;
    op->seg = per > 1 ? per : 1;
    op->nseg = (T + op->seg - 1) / op->seg;
    const size_t BH = (size_t)op->B * op->H;
    if (op->key.normalize && !den_bytes(op, (size_t)(op->seg < T ? op->seg : T), &op->need[BUF_DEN]))
        return ocla__fail(op->ctx, OCLA_ERR_OVERFLOW, "denominator size overflows");
    if (op->nseg > 1) op->need[BUF_CARRY] = BH * (size_t)K * (size_t)Ve * 4;
    op->bind = bind_recurrent;
    const size_t global[3] = {(size_t)(Ve + RV - 1) / RV * RV, (size_t)RK, BH}, local[3] = {(size_t)RV, (size_t)RK, 1};
    return ocla__attn_add_planned(op, r, "la_recurrent", L_MAIN, AT_EACH, global, local, "attention recurrent");
}

static ocla_status prepare_chunked(ocla_attn_op *op, const ocla_plan_request *r) {
    ocla_context *ctx = op->ctx;
    ocla__la_tiles t;
    ocla__la_tiles_from_plan(&op->plan, &t);
    const int C = t.chunk, T = op->T, K = op->K, Ve = op->V + op->key.normalize, N = op->key.nseq;
    /* packed: at most ceil of each length, so (T + N (C - 1)) / C chunks, and at most T */
    const int64_t nt_packed = ((int64_t)T + (int64_t)N * (C - 1)) / C;
    const int NT = !N ? (T + C - 1) / C : nt_packed < T ? (int)nt_packed : T;
    const int KG = op->key.gate == OCLA_GATE_VECTOR ? K : 1;
    const size_t BH = (size_t)op->B * op->H, RH = (size_t)op->rows * op->H;
    if (!ocla__mul_ok(BH * (size_t)(NT + (N ? N : 1)), (size_t)K * (size_t)Ve * 4, &op->need[BUF_HS]))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    if (N) { /* the sequence table, sized for this chunk; filled by set_seqs */
        op->nct = NT, op->seq_set = 0;
        ocla_status st = ocla__attn_seq_reserve(op, 3 * N + 2 * NT);
        if (st != OCLA_SUCCESS) return st;
    }
    if (op->key.normalize && !den_bytes(op, (size_t)T, &op->need[BUF_DEN]))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "denominator size overflows");
    /* Chunks per launch of the sequential state walk: bounded so that no launch runs an unbounded
     * loop (llvmpipe stops loops after ~65535 iterations in total; long kernels also trip GPU
     * watchdogs). */
    const int seg_tokens = ctx->info.vendor == OCLA_VENDOR_MESA ? 2048 : 32768;
    op->seg = seg_tokens / C > 0 ? seg_tokens / C : 1;
    op->nseg = ((T + C - 1) / C + op->seg - 1) / op->seg; /* the longest row's chunks (packed: set_seqs) */
    op->bind = bind_chunked;
    const int nkt = (K + t.sbk - 1) / t.sbk, nvt_s = (Ve + t.sbv - 1) / t.sbv, nvt_o = (Ve + t.bv - 1) / t.bv;
    /* linear_attn_blk.cl's walk: one work-item per TM x TN block of a state, LANES a work-group */
    const size_t blocks = (size_t)((K + t.stm - 1) / t.stm) * (size_t)((Ve + t.stn - 1) / t.stn), lanes = (size_t)t.lanes;
    const size_t gs[3] = {(size_t)t.state_threads, t.blk ? (blocks + lanes - 1) / lanes : (size_t)nkt * nvt_s, RH};
    const size_t ls[3] = {(size_t)t.state_threads, 1, 1};
    const size_t go[3] = {(size_t)t.out_threads, (size_t)NT * nvt_o, BH}, lo[3] = {(size_t)t.out_threads, 1, 1};
    /* CPU devices: linear_attn_cpu.cl's kernels (one work-item per work-group, or LANES) or
     * linear_attn_blk.cl's, same arguments (plan_la.c) */
    const char *ks = t.blk ? "la_blk_states" : t.cpu ? "la_cpu_states" : "la_chunk_states";
    const char *ko = t.blk ? "la_blk_output" : t.cpu ? "la_cpu_output" : "la_chunk_output";
    /* linear_attn_blk.cl's image views where the request allows them (the variant's LB_IMG) and the
     * layouts and the device do too; else the variant without them (as for a strided request) */
    ocla_plan_request rb = *r;
    op->blk_img = t.blk && ocla__la_blk_images(r) && blk_images_fit(op, op->key.gate == OCLA_GATE_VECTOR);
    if (t.blk && !op->blk_img) rb.flags |= OCLA_PLAN_STRIDED;
    r = &rb;
    ocla_status st = ocla__attn_add_planned(op, r, ks, L_MAIN, AT_EACH, gs, ls, "attention chunk states");
    if (st == OCLA_SUCCESS) st = ocla__attn_add_planned(op, r, ko, L_OUT, AT_LAST, go, lo, "attention chunk outputs");
    if (st != OCLA_SUCCESS || op->key.gate == OCLA_GATE_NONE) return st;
    /* GLA on linear_attn_blk.cl: la_blk_gk_gates writes the cumsums and two planes of gated rows
     * after them (its header) */
    const int gk_blk = t.blk && op->key.gate == OCLA_GATE_VECTOR;
    if (!ocla__mul_ok(BH * (size_t)T, (size_t)KG * (gk_blk ? 3 : 1) * 4, &op->need[BUF_G]))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "gate cumsum size overflows");
    /* la_blk_gk_gates with image views: 4 key columns per work-item */
    const size_t gg[3] = {(size_t)(gk_blk && op->blk_img ? (KG + 3) / 4 : KG), (size_t)NT, BH};
    return ocla__attn_add_planned(op, r, gk_blk ? "la_blk_gk_gates" : N ? "la_gate_cumsum_seq" : "la_gate_cumsum", L_GATE,
                                  AT_FIRST, gg, NULL, gk_blk ? "attention gates and gated rows" : "attention gate cumsum");
}

/* ---- state slots ---- */
/* The pool size (the first dim of the given state tensors: one size), the host copies and the
 * device table; the table is uploaded by set_slots. */
static ocla_status prepare_slots(ocla_attn_op *op) {
    op->pool = INT32_MAX;
    for (int i = IO_S0; i < IO_N; i++)
        if (op->key.lay[i].present && op->key.lay[i].dims[0] < op->pool) op->pool = (int)op->key.lay[i].dims[0];
    op->slots = malloc((size_t)op->rows * sizeof *op->slots);
    op->slot_seen = malloc((size_t)op->pool * sizeof *op->slot_seen);
    if (!op->slots || !op->slot_seen) return ocla__fail(op->ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory (state slots)");
    for (int i = 0; i < op->pool; i++) op->slot_seen[i] = -1;
    return ocla__alloc(op->ctx, (size_t)op->rows * sizeof(cl_int), &op->slot_buf, "allocating the state slot table");
}

/* Check slots (one per row: in the pool, none repeated) and upload them where they differ from
 * the last upload: a decode loop whose rows keep their slots compares B values per step. The
 * upload waits (it is rare), so the caller's array may change right after the call. */
static ocla_status set_slots(ocla_attn_op *op, const int32_t *slots) {
    const size_t bytes = (size_t)op->rows * sizeof *slots;
    if (op->slots_set && !memcmp(op->slots, slots, bytes)) return OCLA_SUCCESS;
    ocla_status st = OCLA_SUCCESS;
    int i = 0;
    for (; i < op->rows && st == OCLA_SUCCESS; i++) {
        const int32_t s = slots[i];
        if (s < 0 || s >= op->pool)
            st = ocla__fail(op->ctx, OCLA_ERR_INVALID_ARGUMENT,
                            "state_slots[%d] = %d is outside the state pool [0, %d)", i, (int)s, op->pool);
        else if (op->slot_seen[s] >= 0)
            st = ocla__fail(op->ctx, OCLA_ERR_INVALID_ARGUMENT,
                            "state_slots[%d] = %d repeats state_slots[%d]: rows need distinct slots", i, (int)s,
                            op->slot_seen[s]);
        else
            op->slot_seen[s] = i;
    }
    for (int j = 0; j < i; j++) /* back to -1 for the next check (the failing index was not set) */
        if (slots[j] >= 0 && slots[j] < op->pool && op->slot_seen[slots[j]] == j) op->slot_seen[slots[j]] = -1;
    if (st != OCLA_SUCCESS) return st;
    op->slots_set = 0; /* until the upload succeeds */
    memcpy(op->slots, slots, bytes);
    op->ctx->counters.uploads++;
    const cl_int err = clEnqueueWriteBuffer(op->ctx->queue, op->slot_buf, CL_TRUE, 0, bytes, op->slots, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(op->ctx, err, "clEnqueueWriteBuffer", "uploading the state slots");
    op->slots_set = 1;
    return OCLA_SUCCESS;
}

/* Plan and prepare; on a build limit below the plan's (the built kernel allows fewer work-items or
 * has more local memory of its own), plan again with the kernel's limits. */
static ocla_status prepare(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, int own,
                           ocla_attn_op **out) {
    ocla_attn_op *op = calloc(1, sizeof *op);
    if (!op) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory preparing an attention op");
    op->ctx = ctx;
    op->own = own;
    make_key(ctx, p, io, &op->key);
    const int64_t *qd = op->key.lay[IO_Q].dims;
    op->B = (int)qd[0], op->T = (int)qd[1], op->H = (int)qd[2], op->K = (int)qd[3], op->V = (int)op->key.lay[IO_V].dims[3];
    op->scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)op->K));
    op->rows = op->key.nseq ? op->key.nseq : op->B;
    ocla_status st = p->gate == OCLA_GATE_FIXED ? upload_decay(op, p) : OCLA_SUCCESS;
    if (st == OCLA_SUCCESS && op->key.slots) st = prepare_slots(op);
    unsigned flags = (p->normalize ? OCLA_PLAN_NORMALIZE : 0) | (!p->causal ? OCLA_PLAN_NONCAUSAL : 0) |
                     (op->key.slots ? OCLA_PLAN_SLOTS : 0) | (op->key.nseq ? OCLA_PLAN_VARLEN : 0);
    for (int i = 0; i < IO_N; i++)
        if (op->key.lay[i].offset) flags |= OCLA_PLAN_STRIDED;
    if ((io->initial_state && !ocla__tensor_is_contiguous(io->initial_state)) ||
        (io->final_state && !ocla__tensor_is_contiguous(io->final_state)))
        flags |= OCLA_PLAN_STRIDED;
    const int recurrent = op->key.form == OCLA_FORM_RECURRENT;
    const int dt = op->key.lay[IO_Q].dtype; /* half: the portable kernels (plan_la.c) */
    flags |= (dt == OCLA_BF16 ? OCLA_PLAN_BF16 : dt == OCLA_F16 ? OCLA_PLAN_F16 : 0u) |
             (dt != OCLA_F32 && op->key.lay[IO_G].dtype == dt ? OCLA_PLAN_HALF_GATE : 0u);
    ocla_plan_request r = {op_for(p, op->key.form), op->B, op->T, op->H, op->K, op->V, recurrent ? 0 : op->key.chunk, flags,
                           (int)p->gate, (int)p->feature_map};
    ocla_plan_limits L;
    if (st == OCLA_SUCCESS) st = ocla__plan_limits(ctx, &L);
    for (int attempt = 0; st == OCLA_SUCCESS; attempt++) {
        if ((st = ocla__plan_with(ctx, &L, &r, &op->plan)) != OCLA_SUCCESS) break;
        memset(op->need, 0, sizeof op->need);
        release_kernels(op);
        op->min_wg = 0, op->static_local = 0;
        /* the path's kernels and launches, the normaliser, then the launch checks (after the
         * chunked kernels' arguments, whose __local sizes count) */
        st = op->plan.path == OCLA_PATH_NVIDIA_MMA ? ocla__nv_prepare(op, &r)
             : recurrent                          ? prepare_recurrent(op, &r)
                                                  : prepare_chunked(op, &r);
        if (st == OCLA_SUCCESS && op->key.normalize) {
            const size_t gn[3] = {(size_t)op->V, (size_t)op->T, (size_t)op->B * op->H}; /* recurrent: per segment */
            st = ocla__attn_add_planned(op, &r, "la_normalize", L_NORM, recurrent ? AT_EACH : AT_LAST, gn, NULL,
                             "attention normaliser");
        }
        if (st == OCLA_SUCCESS && op->bind == bind_chunked) st = bind_chunked(op, io, 0);
        for (int i = 0; i < L_N && st == OCLA_SUCCESS; i++)
            if (op->launch[i].local[0])
                st = ocla__check_launch(ctx, op->launch[i].k, 3, op->launch[i].local, op->launch[i].what);
        if (st != OCLA_ERR_UNSUPPORTED || attempt >= 2) break;
        /* the built kernels' own limits (read when each was created, before any __local
         * argument was set): plan again with them */
        uint64_t kwg = L.kernel_wg_size ? L.kernel_wg_size : L.max_work_group_size, klm = op->static_local;
        if (op->min_wg && op->min_wg < kwg) kwg = op->min_wg;
        if (kwg == L.kernel_wg_size && klm == L.kernel_local_mem) break;
        L.kernel_wg_size = kwg;
        L.kernel_local_mem = klm;
        ocla__clear_error(ctx);
        st = OCLA_SUCCESS;
    }
    if (st == OCLA_SUCCESS && own) st = get_buffers(op);
    if (st == OCLA_SUCCESS && own && op->key.slots) st = set_slots(op, p->state_slots);
    if (st == OCLA_SUCCESS && own && op->key.nseq) st = set_seqs(op, p->cu_seqlens);
    if (st == OCLA_SUCCESS)
        *out = op;
    else
        ocla_attention_op_destroy(op);
    return st;
}

/* ---- run: check the layouts, set the arguments that changed, enqueue ---- */
/* slots, cu: the one-shot call's params.state_slots and cu_seqlens (NULL: the prepared op's) */
static ocla_status run(ocla_attn_op *op, const ocla_attn_io *io, const int32_t *slots, const int32_t *cu) {
    ocla_context *ctx = op->ctx;
    const ocla_tensor *t[IO_N];
    io_list(io, t);
    attn_binding b = {0}; /* no padding: compared with memcmp */
    ocla_status st = OCLA_SUCCESS;
    /* the tensors must have the prepared layouts: same presence, dims and strides (offsets may
     * differ on the portable path; the NVIDIA path needs tensors at the start of their buffers) */
    for (int i = 0; i < IO_N && st == OCLA_SUCCESS; i++) {
        const attn_layout *l = &op->key.lay[i];
        int same = t[i] && t[i]->ndim == l->ndim;
        for (int d = 0; same && d < t[i]->ndim; d++)
            same = t[i]->dims[d] == l->dims[d] && t[i]->strides[d] == l->strides[d];
        if (!t[i] != !l->present)
            st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: %s is %s but was %s when prepared",
                            io_names[i], t[i] ? "given" : "NULL", l->present ? "given" : "NULL");
        else if (t[i] && t[i]->ctx != ctx)
            st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: %s belongs to another context",
                            io_names[i]);
        else if (t[i] && (int)t[i]->dtype != l->dtype)
            st = ocla__refuse_dtype(ctx, t[i], io_names[i], (ocla_dtype)l->dtype);
        else if (t[i] && !same)
            st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_attention_run: %s has other dims or strides than when prepared",
                            io_names[i]);
        else if (t[i] && t[i]->offset && op->plan.path != OCLA_PATH_PORTABLE)
            st = ocla__fail(ctx, OCLA_ERR_SHAPE,
                            "ocla_attention_run: %s starts inside its buffer (offset %zu); the op was prepared for "
                            "tensors at the start of their buffers",
                            io_names[i], t[i]->offset);
        else if (t[i])
            b.mem[i] = t[i]->mem, b.off[i] = t[i]->offset;
    }
    if (st == OCLA_SUCCESS && !op->own) st = get_buffers(op);
    if (st == OCLA_SUCCESS && slots) st = set_slots(op, slots);
    if (st == OCLA_SUCCESS && cu) st = set_seqs(op, cu);
    if (st != OCLA_SUCCESS) return st;
    memcpy(b.buf, op->buf, sizeof b.buf);
    const int rebind = memcmp(&b, &op->binding, sizeof b) != 0;
    /* new buffers or offsets (the layouts are the prepared ones): the aliasing rule again; the binding
     * of the last good run passed it already */
    if (rebind && (st = attn_disjoint(ctx, "ocla_attention_run", io)) != OCLA_SUCCESS) return st;
    memset(&op->binding, 0, sizeof op->binding);
    for (int s = 0; s < op->nseg && st == OCLA_SUCCESS; s++) {
        if (rebind || op->nseg > 1) st = op->bind(op, io, s);
        for (int i = 0; i < L_N && st == OCLA_SUCCESS; i++) {
            const attn_launch *l = &op->launch[i];
            if (l->k && l->global[0] && l->global[1] && l->global[2] &&
                (l->when == AT_EACH || (l->when == AT_FIRST && s == 0) || (l->when == AT_LAST && s == op->nseg - 1)))
                st = ocla__enqueue(ctx, l->k, 3, l->global, l->local[0] ? l->local : NULL, l->what);
        }
    }
    if (st == OCLA_SUCCESS) op->binding = b;
    return st;
}

/* ---- the one-shot call's cache of prepared ops ---- */
static int same_decay(const ocla_attn_op *op, const ocla_attn_params *p) {
    if (!op->decay) return p->gate != OCLA_GATE_FIXED;
    for (int h = 0; h < op->H; h++) /* as upload_decay made them */
        if ((p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h)) != op->decay[h]) return 0;
    return 1;
}

void ocla__attn_cache_release(ocla_context *ctx) {
    for (int i = 0; i < OCLA_ATTN_CACHE_SLOTS; i++) {
        ocla_attention_op_destroy(ctx->attn_cache[i]);
        ctx->attn_cache[i] = NULL;
    }
}

ocla_status ocla_attention_forward(ocla_context *ctx, const ocla_attn_params *params, const ocla_attn_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_forward: ctx is NULL");
    if (!params || !io)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_forward: %s is NULL", !params ? "params" : "io");
    ocla_attn_params given;
    OCLA__ABI_IN(ctx, "ocla_attention_forward", "params", OCLA__ABI_ATTN_PARAMS, params, given);
    attn_key key;
    ocla_attn_op *op = NULL;
    OCLA_LOCK(ctx);
    ocla_status st = validate(ctx, "ocla_attention_forward", params, io);
    if (st == OCLA_SUCCESS) make_key(ctx, params, io, &key);
    for (int i = 0; i < OCLA_ATTN_CACHE_SLOTS && st == OCLA_SUCCESS && !op; i++)
        if (ctx->attn_cache[i] && !memcmp(&ctx->attn_cache[i]->key, &key, sizeof key) &&
            same_decay(ctx->attn_cache[i], params))
            op = ctx->attn_cache[i];
    if (st == OCLA_SUCCESS && !op && (st = prepare(ctx, params, io, 0, &op)) == OCLA_SUCCESS) {
        const int slot = ctx->attn_cache_next;
        ctx->attn_cache_next = (slot + 1) % OCLA_ATTN_CACHE_SLOTS;
        ocla_attention_op_destroy(ctx->attn_cache[slot]);
        ctx->attn_cache[slot] = op;
    }
    if (st == OCLA_SUCCESS) st = run(op, io, params->state_slots, params->cu_seqlens);
    OCLA_UNLOCK(ctx);
    return st;
}

/* ---- the public prepared-op API ---- */
ocla_status ocla_attention_prepare(ocla_context *ctx, const ocla_attn_params *params, const ocla_attn_io *io,
                                   ocla_attn_op **out) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_prepare: ctx is NULL");
    if (!params || !io || !out)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_prepare: %s is NULL",
                          !params ? "params" : !io ? "io" : "out");
    *out = NULL;
    ocla_attn_params given;
    OCLA__ABI_IN(ctx, "ocla_attention_prepare", "params", OCLA__ABI_ATTN_PARAMS, params, given);
    OCLA_LOCK(ctx);
    ocla_status st = validate(ctx, "ocla_attention_prepare", params, io);
    if (st == OCLA_SUCCESS) st = prepare(ctx, params, io, 1, out);
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_attention_run(ocla_attn_op *op, const ocla_attn_io *io) {
    if (!op) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: op is NULL");
    if (!io) return ocla__fail(op->ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: io is NULL");
    OCLA_LOCK(op->ctx);
    ocla_status st = run(op, io, NULL, NULL);
    OCLA_UNLOCK(op->ctx);
    return st;
}

ocla_status ocla_attention_op_set_slots(ocla_attn_op *op, const int32_t *slots, int n) {
    if (!op) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_op_set_slots: op is NULL");
    OCLA_LOCK(op->ctx);
    ocla_status st = OCLA_SUCCESS;
    if (!op->key.slots)
        st = ocla__fail(op->ctx, OCLA_ERR_INVALID_ARGUMENT,
                        "ocla_attention_op_set_slots: the op was prepared without params.state_slots");
    else if (!slots || n != op->rows)
        st = ocla__fail(op->ctx, OCLA_ERR_INVALID_ARGUMENT,
                        "ocla_attention_op_set_slots: %s (the op has %d rows)", !slots ? "slots is NULL" : "n != B",
                        op->rows);
    else
        st = set_slots(op, slots);
    OCLA_UNLOCK(op->ctx);
    return st;
}

void ocla_attention_op_destroy(ocla_attn_op *op) {
    if (!op) return;
    ocla_context *ctx = op->ctx;
    OCLA_LOCK(ctx);
    clFinish(ctx->queue); /* queued kernels may still read the buffers and use the kernels */
    if (op->dec) clReleaseMemObject(op->dec);
    if (op->slot_buf) clReleaseMemObject(op->slot_buf);
    free(op->slots);
    free(op->slot_seen);
    if (op->seq_buf) clReleaseMemObject(op->seq_buf);
    free(op->cu);
    free(op->seqtab);
    for (int i = 0; i < BUF_N && op->own; i++)
        if (op->buf[i]) clReleaseMemObject(op->buf[i]);
    for (int i = 0; i < (int)(sizeof op->img / sizeof op->img[0]); i++)
        if (op->img[i]) clReleaseMemObject(op->img[i]);
    release_kernels(op);
    free(op->decay);
    free(op);
    OCLA_UNLOCK(ctx);
}

ocla_status ocla_attention_op_explain(const ocla_attn_op *op, ocla_plan *plan, char *text, size_t text_size) {
    if (!op) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_op_explain: op is NULL");
    if (plan) *plan = op->plan;
    if (text && text_size) ocla__plan_describe(&op->plan, text, text_size);
    return OCLA_SUCCESS;
}
