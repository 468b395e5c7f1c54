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

#define OCLA_ATTN_MAX_DIM 256
#define OCLA_ATTN_CACHE 8 /* prepared ops kept per context for the one-shot call */

static const ocla_kfamily fam_chunk = {
    "linear_attn", 0, {"CHUNK", "SUB", "USE_GK", "BV", "TM", "TN", "BKA", "SBK", "SBV", "STM", "STN", "SJB"}};
static const ocla_kfamily fam_rec = {"linear_attn_rec", 0, {"RV", "RK", "KR", NULL}};
static const ocla_kfamily fam_norm = {"la_normalize", 0, {NULL}};

float ocla__retnet_log_decay(int h) { return (float)log(1.0 - pow(2.0, -5.0 - h)); }

void ocla_attn_params_defaults(ocla_attn_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->causal = 1;
    p->has_scale = 0;
    p->scale = 1.0f;
    p->feature_map = OCLA_FEATURE_IDENTITY;
    p->normalize = 0;
    p->eps = 1e-6f;
    p->gate = OCLA_GATE_NONE;
    p->fixed_log_decay = NULL;
    p->form = OCLA_FORM_CHUNKED;
    p->chunk = 0;
}

static ocla_op_kind op_for(const ocla_attn_params *p) {
    if (!p->causal) return OCLA_OP_LINEAR_CHUNK;
    if (p->form == OCLA_FORM_RECURRENT) return OCLA_OP_ATTN_RECURRENT;
    switch (p->gate) {
    case OCLA_GATE_VECTOR: return OCLA_OP_GLA_CHUNK;
    case OCLA_GATE_SCALAR:
    case OCLA_GATE_FIXED: return OCLA_OP_SIMPLE_GLA_CHUNK;
    default: return OCLA_OP_LINEAR_CHUNK;
    }
}

ocla_status ocla_attention_limits(ocla_context *ctx, const ocla_attn_params *params, int *max_k, int *max_v) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_limits: ctx is NULL");
    if (!params || !max_k || !max_v)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_limits: NULL argument");
    OCLA_LOCK(ctx);
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    *max_k = *max_v = 0;
    if (st == OCLA_SUCCESS) {
        /* The kernels tile K and V; the limit is the tested range, and a plan must exist. */
        ocla_plan_request r = {op_for(params), 1, 1, 1, OCLA_ATTN_MAX_DIM, OCLA_ATTN_MAX_DIM, 0, 0, 0, 0};
        int c[8];
        if (ocla_plan_candidates(&L, &r, c, 8) > 0)
            *max_k = *max_v = OCLA_ATTN_MAX_DIM;
        else
            st = ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "no chunk size fits %s's local memory (%llu bytes)",
                            ctx->info.device_name, (unsigned long long)ctx->info.local_mem_size);
    }
    OCLA_UNLOCK(ctx);
    return st;
}

/* ---- validation ---- */
typedef struct shape {
    int B, T, H, K, V;
} shape;

static ocla_status validate(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, shape *s) {
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
    ocla_status st = ocla__check_tensor(ctx, io->q, "q", 4, NULL);
    if (st != OCLA_SUCCESS) return st;
    const int64_t *qd = io->q->dims;
    if (qd[0] < 1 || qd[1] < 1 || qd[2] < 1 || qd[3] < 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "q: every dim must be >= 1");
    if (qd[0] * qd[2] > INT32_MAX / 2 || qd[1] > INT32_MAX / 2)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "q: B*H and T must stay below 2^30");
    if ((st = ocla__check_tensor(ctx, io->k, "k", 4, qd)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, NULL)) != OCLA_SUCCESS) return st;
    int64_t vd[4] = {qd[0], qd[1], qd[2], -1};
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, vd)) != OCLA_SUCCESS) return st;
    s->B = (int)qd[0], s->T = (int)qd[1], s->H = (int)qd[2], s->K = (int)qd[3], s->V = (int)io->v->dims[3];
    if (s->V < 1) return ocla__fail(ctx, OCLA_ERR_SHAPE, "v: V must be >= 1");
    if (s->K > OCLA_ATTN_MAX_DIM || s->V > OCLA_ATTN_MAX_DIM)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                          "K = %d, V = %d: the attention kernels support K and V up to %d (ocla_attention_limits)",
                          s->K, s->V, OCLA_ATTN_MAX_DIM);
    vd[3] = s->V;
    if ((st = ocla__check_tensor(ctx, io->o, "o", 4, vd)) != OCLA_SUCCESS) return st;
    if (p->gate == OCLA_GATE_SCALAR) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "gate SCALAR needs g [B,T,H]");
        if ((st = ocla__check_tensor(ctx, io->g, "g (scalar gate, [B,T,H])", 3, qd)) != OCLA_SUCCESS) return st;
    } else if (p->gate == OCLA_GATE_VECTOR) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "gate VECTOR needs g [B,T,H,K]");
        if ((st = ocla__check_tensor(ctx, io->g, "g (vector gate, [B,T,H,K])", 4, qd)) != OCLA_SUCCESS) return st;
    } else if (io->g) {
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "g given but params.gate is %s",
                          p->gate == OCLA_GATE_FIXED ? "FIXED (decays come from params.fixed_log_decay)" : "NONE");
    }
    int64_t sd[4] = {qd[0], qd[2], qd[3], s->V};
    if (io->initial_state && (st = ocla__check_tensor(ctx, io->initial_state, "initial_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (io->final_state && (st = ocla__check_tensor(ctx, io->final_state, "final_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if ((io->initial_z || io->final_z) && !p->normalize)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "initial_z / final_z need params.normalize = 1");
    if (io->initial_z && (st = ocla__check_tensor(ctx, io->initial_z, "initial_z", 3, sd)) != OCLA_SUCCESS) return st;
    if (io->final_z && (st = ocla__check_tensor(ctx, io->final_z, "final_z", 3, sd)) != OCLA_SUCCESS) return st;
    if (p->gate == OCLA_GATE_FIXED && p->fixed_log_decay)
        for (int h = 0; h < s->H; h++)
            if (!isfinite(p->fixed_log_decay[h]))
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "params.fixed_log_decay[%d] is not finite", h);
    return OCLA_SUCCESS;
}

/* ---- the key: params and tensor layouts ---- */
static void layout_of(const ocla_tensor *t, attn_layout *l) {
    memset(l, 0, sizeof *l);
    if (!t) return;
    l->present = 1;
    l->ndim = t->ndim;
    l->offset = t->offset != 0;
    for (int d = 0; d < t->ndim && d < 4; d++) l->dims[d] = t->dims[d], l->strides[d] = t->strides[d];
}

static const ocla_tensor *io_tensor(const ocla_attn_io *io, int i) {
    switch (i) {
    case IO_Q: return io->q;
    case IO_K: return io->k;
    case IO_V: return io->v;
    case IO_G: return io->g;
    case IO_S0: return io->initial_state;
    case IO_Z0: return io->initial_z;
    case IO_O: return io->o;
    case IO_S1: return io->final_state;
    default: return io->final_z;
    }
}

static const char *io_name(int i) {
    static const char *n[IO_N] = {"q", "k", "v", "g", "initial_state", "initial_z", "o", "final_state", "final_z"};
    return n[i];
}

static void make_key(const ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, attn_key *k) {
    memset(k, 0, sizeof *k);
    k->causal = p->causal, k->has_scale = p->has_scale, k->feature = (int)p->feature_map;
    k->normalize = p->normalize != 0, k->gate = (int)p->gate, k->form = p->causal ? (int)p->form : 0;
    k->chunk = ocla__resolve_chunk(ctx, p->chunk);
    k->scale = p->has_scale ? p->scale : 0.0f, k->eps = p->normalize ? p->eps : 0.0f;
    for (int i = 0; i < IO_N; i++) layout_of(io_tensor(io, i), &k->lay[i]);
}

static int same_key(const attn_key *a, const attn_key *b) {
    if (a->causal != b->causal || a->has_scale != b->has_scale || a->feature != b->feature ||
        a->normalize != b->normalize || a->gate != b->gate || a->form != b->form || a->chunk != b->chunk ||
        a->scale != b->scale || a->eps != b->eps)
        return 0;
    for (int i = 0; i < IO_N; i++) {
        const attn_layout *x = &a->lay[i], *y = &b->lay[i];
        if (x->present != y->present || x->ndim != y->ndim || x->offset != y->offset) return 0;
        for (int d = 0; d < 4; d++)
            if (x->dims[d] != y->dims[d] || x->strides[d] != y->strides[d]) return 0;
    }
    return 1;
}

/* ---- argument helpers ---- */

/* A tensor as the kernels see it: buffer, offset and strides (elements), optionally shifted along
 * the time axis for launches that cover a segment of the sequence. */
typedef struct tview {
    cl_mem mem;
    int64_t off;
    int64_t st[4];
} tview;

static tview tv_of(const ocla_tensor *t, cl_mem dummy, int64_t t0, int time_axis) {
    tview v;
    memset(&v, 0, sizeof v);
    v.mem = t ? t->mem : dummy;
    if (!t) return v;
    v.off = (int64_t)t->offset + (time_axis >= 0 ? t0 * t->strides[time_axis] : 0);
    for (int d = 0; d < t->ndim && d < 4; d++) v.st[d] = t->strides[d];
    return v;
}

static void arg_tv(ocla_args *a, const tview *v, int nstrides) {
    ocla__push_mem(a, v->mem);
    ocla__push_long(a, v->off);
    for (int d = 0; d < nstrides; d++) ocla__push_long(a, v->st[d]);
}

/* ---- buffers ---- */
static ocla_status get_buffers(ocla_attn_op *op) {
    for (int i = 0; i < BUF_N; i++) {
        if (!op->need[i]) continue;
        if (op->own) {
            if (!op->buf[i]) {
                ocla_status st = ocla__alloc(op->ctx, op->need[i], &op->buf[i], "allocating an attention workspace");
                if (st != OCLA_SUCCESS) return st;
            }
        } else {
            ocla_status st = ocla__scratch(op->ctx, i, op->need[i], &op->buf[i]); /* slots 0-3: attention */
            if (st != OCLA_SUCCESS) return st;
        }
    }
    return OCLA_SUCCESS;
}

static ocla_status upload_decay(ocla_attn_op *op) {
    ocla_context *ctx = op->ctx;
    const size_t bytes = (size_t)op->H * sizeof(float);
    ocla_status st = ocla__alloc(ctx, bytes, &op->dec, "allocating the fixed decays");
    if (st != OCLA_SUCCESS) return st;
    ctx->counters.uploads++;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, op->dec, CL_TRUE, 0, bytes, op->decay, 0, NULL, NULL);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
}

/* ---- prepare ---- */
/* Index of the first __local argument of la_chunk_states / la_chunk_output (set_chunk_args checks). */
#define KS_LOCAL_ARG 51
#define KO_LOCAL_ARG 38

/* The op's own instance of a variant's kernel, and the kernel's limits noted for replanning. */
static ocla_status instance(ocla_attn_op *op, const ocla_variant *v, const char *name, cl_kernel *k) {
    const ocla_kernel_entry *e;
    ocla_status st = ocla__variant_entry(op->ctx, v, name, &e);
    if (st != OCLA_SUCCESS) return st;
    if (e->wg_size && (!op->min_wg || e->wg_size < op->min_wg)) op->min_wg = e->wg_size;
    if (e->static_local > op->static_local) op->static_local = e->static_local;
    return ocla__variant_instance(op->ctx, v, name, k);
}

static void release_kernels(ocla_attn_op *op) {
    cl_kernel *ks[5] = {&op->kg, &op->ks, &op->ko, &op->kn, &op->kr};
    for (int i = 0; i < 5; i++) {
        if (*ks[i]) clReleaseKernel(*ks[i]);
        *ks[i] = NULL;
    }
}

static ocla_status prepare_recurrent(ocla_attn_op *op) {
    ocla_context *ctx = op->ctx;
    const int RV = op->plan.tile[0], RK = op->plan.tile[1], KR = op->plan.tile[2];
    ocla_variant v = ocla__variant(&fam_rec);
    v.tile[0] = RV, v.tile[1] = RK, v.tile[2] = KR;
    ocla_status st = instance(op, &v, "la_recurrent", &op->kr);
    if (st != OCLA_SUCCESS) return st;
    if (op->key.normalize) {
        ocla_variant vn = ocla__variant(&fam_norm);
        if ((st = instance(op, &vn, "la_normalize", &op->kn)) != OCLA_SUCCESS) return st;
    }
    const size_t local[3] = {(size_t)RV, (size_t)RK, 1};
    if ((st = ocla__check_launch(ctx, op->kr, 3, local, "attention recurrent")) != OCLA_SUCCESS) return st;
    /* Tokens per launch: llvmpipe stops a kernel's loops after ~65535 iterations in total, so long
     * sequences run as several launches carrying the state through a buffer ([B,H,K,Ve]). */
    const int K = op->K, T = op->T, norm = op->key.normalize;
    op->seg = T;
    if (ctx->info.vendor == OCLA_VENDOR_MESA) {
        op->seg = 30000 / (KR + RK + 4 + (K + RK * RV - 1) / (RK * RV));
        if (op->seg < 1) op->seg = 1;
    }
    op->nseg = T > 0 ? (T + op->seg - 1) / op->seg : 1;
    const size_t BH = (size_t)op->B * op->H;
    if (norm) op->need[BUF_DEN] = BH * (size_t)(op->seg < T ? op->seg : T) * 4 + 4;
    if (op->nseg > 1) op->need[BUF_CARRY] = BH * (size_t)K * (size_t)(op->V + norm) * 4;
    return OCLA_SUCCESS;
}

static ocla_status prepare_chunked(ocla_attn_op *op) {
    ocla_context *ctx = op->ctx;
    ocla__la_tiles t;
    ocla__la_tiles_from_plan(&op->plan, &t);
    ocla_variant v = ocla__variant(&fam_chunk);
    for (int i = 0; i < 12; i++) v.tile[i] = op->plan.tile[i];
    ocla_status st;
    const int gated = op->req.op != OCLA_OP_LINEAR_CHUNK && op->key.causal;
    if ((st = instance(op, &v, "la_chunk_states", &op->ks)) != OCLA_SUCCESS) return st;
    if ((st = instance(op, &v, "la_chunk_output", &op->ko)) != OCLA_SUCCESS) return st;
    if (gated && (st = instance(op, &v, "la_gate_cumsum", &op->kg)) != OCLA_SUCCESS) return st;
    if (op->key.normalize) {
        ocla_variant vn = ocla__variant(&fam_norm);
        if ((st = instance(op, &vn, "la_normalize", &op->kn)) != OCLA_SUCCESS) return st;
    }
    const int C = t.chunk, T = op->T, K = op->K, Ve = op->V + op->key.normalize, NT = (T + C - 1) / C;
    const size_t BH = (size_t)op->B * op->H;
    size_t bytes;
    if (gated) {
        if (!ocla__mul_ok(BH * (size_t)T, (size_t)(op->key.gate == OCLA_GATE_VECTOR ? K : 1) * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "gate cumsum size overflows");
        op->need[BUF_G] = bytes;
    }
    if (!ocla__mul_ok(BH * (size_t)(NT + 1), (size_t)K * (size_t)Ve * 4, &bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    op->need[BUF_HS] = bytes;
    if (op->key.normalize) op->need[BUF_DEN] = BH * (size_t)(T ? T : 1) * 4;
    /* Chunks per launch of the sequential state walk: bounded so that no launch runs an unbounded
     * loop (llvmpipe stops loops after ~65535 iterations in total; long kernels also trip GPU
     * watchdogs). */
    const int seg_tokens = ctx->info.vendor == OCLA_VENDOR_MESA ? 2048 : 32768;
    op->seg = seg_tokens / C > 0 ? seg_tokens / C : 1;
    op->nseg = NT > 0 ? (NT + op->seg - 1) / op->seg : 1;
    /* launch checks with the plan's local memory set (the __local arguments follow the others) */
    ocla_args a = {ctx, op->ks, KS_LOCAL_ARG, OCLA_SUCCESS};
    ocla__push_local(&a, 4 * (uint64_t)t.sjb * t.sbk), ocla__push_local(&a, 4 * (uint64_t)t.sjb * t.sbv);
    uint64_t a_floats = (uint64_t)C * (C + 4), slab = t.out_local / 4 - a_floats;
    ocla_args b = {ctx, op->ko, KO_LOCAL_ARG, OCLA_SUCCESS};
    ocla__push_local(&b, 4 * a_floats), ocla__push_local(&b, 4 * slab);
    if (a.st != OCLA_SUCCESS) return a.st;
    if (b.st != OCLA_SUCCESS) return b.st;
    const size_t ls[3] = {(size_t)t.state_threads, 1, 1}, lo[3] = {(size_t)t.out_threads, 1, 1};
    if ((st = ocla__check_launch(ctx, op->ks, 3, ls, "attention chunk states")) != OCLA_SUCCESS) return st;
    return ocla__check_launch(ctx, op->ko, 3, lo, "attention chunk outputs");
}

/* Plan and prepare; on a build limit below the plan's (the built kernel allows fewer work-items or
 * has more local memory of its own), plan again with the kernel's limits. */
static ocla_status prepare(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io, const shape *s,
                           int own, ocla_attn_op **out) {
    *out = NULL;
    ocla_attn_op *op = calloc(1, sizeof *op);
    if (!op) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory preparing an attention op");
    op->ctx = ctx;
    op->own = own;
    make_key(ctx, p, io, &op->key);
    op->B = s->B, op->T = s->T, op->H = s->H, op->K = s->K, op->V = s->V;
    op->scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)s->K));
    op->recurrent = p->causal && p->form == OCLA_FORM_RECURRENT;
    ocla_status st = OCLA_SUCCESS;
    if (p->gate == OCLA_GATE_FIXED) {
        op->decay = malloc((size_t)s->H * sizeof(float));
        if (!op->decay) {
            free(op);
            return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        for (int h = 0; h < s->H; h++) op->decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h);
        st = upload_decay(op);
    }
    unsigned flags = (p->normalize ? OCLA_PLAN_NORMALIZE : 0) | (!p->causal ? OCLA_PLAN_NONCAUSAL : 0);
    for (int i = 0; i < IO_N; i++) {
        const ocla_tensor *t = io_tensor(io, i);
        if (t && t->offset) flags |= OCLA_PLAN_STRIDED;
    }
    if ((io->initial_state && !ocla__tensor_is_contiguous(io->initial_state)) ||
        (io->final_state && !ocla__tensor_is_contiguous(io->final_state)))
        flags |= OCLA_PLAN_STRIDED;
    ocla_plan_request r = {op_for(p), s->B, s->T, s->H, s->K, s->V, op->recurrent ? 0 : op->key.chunk, flags,
                           (int)p->gate, (int)p->feature_map};
    op->req = r;
    ocla_plan_limits L;
    if (st == OCLA_SUCCESS) st = ocla__plan_limits(ctx, &L);
    for (int attempt = 0; st == OCLA_SUCCESS; attempt++) {
        st = ocla_plan_compute(&L, &r, &op->plan);
        if (st != OCLA_SUCCESS) {
            char d[512];
            snprintf(d, sizeof d, "%s", ocla_last_error(NULL) ? ocla_last_error(NULL) : "no plan");
            st = ocla__fail(ctx, st, "%s%s", d, !p->chunk && op->key.chunk ? " (chunk from OCLA_CHUNK)" : "");
            break;
        }
        memset(op->need, 0, sizeof op->need);
        release_kernels(op);
        op->min_wg = 0, op->static_local = 0;
        if (op->plan.path == OCLA_PATH_NVIDIA_MMA) st = ocla__nv_prepare(op);
        else if (op->recurrent) st = prepare_recurrent(op);
        else st = prepare_chunked(op);
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
    if (st != OCLA_SUCCESS) {
        ocla_attention_op_destroy(op);
        return st;
    }
    *out = op;
    return OCLA_SUCCESS;
}

/* ---- run ---- */
static ocla_status set_chunk_args(ocla_attn_op *op, const ocla_attn_io *io, int n0, int n1) {
    ocla_context *ctx = op->ctx;
    ocla__la_tiles t;
    ocla__la_tiles_from_plan(&op->plan, &t);
    const int T = op->T, H = op->H, K = op->K, V = op->V, norm = op->key.normalize, Ve = V + norm, C = t.chunk;
    const int NT = (T + C - 1) / C, gate = op->key.causal ? op->key.gate : OCLA_GATE_NONE;
    cl_mem dummy = io->q->mem, G = op->buf[BUF_G] ? op->buf[BUF_G] : dummy, hs = op->buf[BUF_HS],
           den = op->buf[BUF_DEN] ? op->buf[BUF_DEN] : dummy;
    if (op->kg && n0 == 0) {
        const int KG = gate == OCLA_GATE_VECTOR ? K : 1;
        ocla_args a = {ctx, op->kg, 0, OCLA_SUCCESS};
        ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, KG), ocla__push_int(&a, NT), ocla__push_int(&a, gate);
        if (gate == OCLA_GATE_SCALAR) {
            tview g = tv_of(io->g, dummy, 0, -1);
            g.st[3] = 0; /* [B,T,H] */
            arg_tv(&a, &g, 4);
        } else
            ocla__push_tensor(&a, gate == OCLA_GATE_VECTOR ? io->g : NULL, dummy, 4);
        ocla__push_mem(&a, op->dec ? op->dec : dummy), ocla__push_mem(&a, G);
        if (a.st != OCLA_SUCCESS) return a.st;
    }
    const int nvt_s = (Ve + t.sbv - 1) / t.sbv, nvt_o = (Ve + t.bv - 1) / t.bv;
    /* the chunked kernels take 0 none, 1 per-token scalar cumsums (scalar or fixed), 2 vector */
    const int gmode = gate == OCLA_GATE_VECTOR ? 2 : gate != OCLA_GATE_NONE ? 1 : 0;
    ocla_args a = {ctx, op->ks, 0, OCLA_SUCCESS};
    ocla__push_int(&a, T), ocla__push_int(&a, H), ocla__push_int(&a, K), ocla__push_int(&a, V), ocla__push_int(&a, NT), ocla__push_int(&a, nvt_s);
    ocla__push_int(&a, op->key.feature), ocla__push_int(&a, gmode), ocla__push_int(&a, norm), ocla__push_int(&a, n0), ocla__push_int(&a, n1);
    ocla__push_tensor(&a, io->k, dummy, 4), ocla__push_tensor(&a, io->v, dummy, 4);
    ocla__push_mem(&a, G), ocla__push_mem(&a, hs);
    ocla__push_int(&a, io->initial_state != NULL), ocla__push_tensor(&a, io->initial_state, dummy, 4);
    ocla__push_int(&a, io->initial_z != NULL), ocla__push_tensor(&a, io->initial_z, dummy, 3);
    ocla__push_int(&a, io->final_state != NULL), ocla__push_tensor(&a, io->final_state, dummy, 4);
    ocla__push_int(&a, io->final_z != NULL), ocla__push_tensor(&a, io->final_z, dummy, 3);
    if (a.st != OCLA_SUCCESS) return a.st;
    if (a.i != KS_LOCAL_ARG) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "la_chunk_states: argument count %u", a.i);
    if (n0 != 0) return OCLA_SUCCESS;
    ocla_args b = {ctx, op->ko, 0, OCLA_SUCCESS};
    ocla__push_int(&b, T), ocla__push_int(&b, H), ocla__push_int(&b, K), ocla__push_int(&b, V), ocla__push_int(&b, NT), ocla__push_int(&b, nvt_o);
    ocla__push_float(&b, op->scale);
    ocla__push_int(&b, op->key.feature), ocla__push_int(&b, gmode), ocla__push_int(&b, norm), ocla__push_int(&b, !op->key.causal);
    ocla__push_tensor(&b, io->q, dummy, 4), ocla__push_tensor(&b, io->k, dummy, 4), ocla__push_tensor(&b, io->v, dummy, 4);
    ocla__push_mem(&b, G), ocla__push_mem(&b, hs);
    ocla__push_tensor(&b, io->o, dummy, 4);
    ocla__push_mem(&b, den);
    if (b.st != OCLA_SUCCESS) return b.st;
    if (b.i != KO_LOCAL_ARG) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "la_chunk_output: argument count %u", b.i);
    if (op->kn) {
        ocla_args c = {ctx, op->kn, 0, OCLA_SUCCESS};
        float eps = op->key.eps;
        ocla__push_int(&c, T), ocla__push_int(&c, H), ocla__push_int(&c, V), ocla__push_float(&c, eps);
        ocla__push_tensor(&c, io->o, dummy, 4);
        ocla__push_mem(&c, den);
        if (c.st != OCLA_SUCCESS) return c.st;
    }
    return OCLA_SUCCESS;
}

static ocla_status run_chunked(ocla_attn_op *op, const ocla_attn_io *io, int rebind) {
    ocla_context *ctx = op->ctx;
    ocla__la_tiles t;
    ocla__la_tiles_from_plan(&op->plan, &t);
    const int T = op->T, K = op->K, Ve = op->V + op->key.normalize, C = t.chunk, NT = (T + C - 1) / C;
    const size_t BH = (size_t)op->B * op->H;
    ocla_status st;
    if (rebind || op->nseg > 1) {
        if ((st = set_chunk_args(op, io, 0, op->seg < NT ? op->seg : NT)) != OCLA_SUCCESS) return st;
    }
    if (op->kg) {
        size_t global[3] = {(size_t)(op->key.gate == OCLA_GATE_VECTOR ? K : 1), (size_t)NT, BH};
        if ((st = ocla__enqueue(ctx, op->kg, 3, global, NULL, "attention gate cumsum")) != OCLA_SUCCESS) return st;
    }
    const int nkt = (K + t.sbk - 1) / t.sbk, nvt_s = (Ve + t.sbv - 1) / t.sbv, nvt_o = (Ve + t.bv - 1) / t.bv;
    const size_t gs[3] = {(size_t)t.state_threads, (size_t)nkt * nvt_s, BH}, ls[3] = {(size_t)t.state_threads, 1, 1};
    for (int n0 = 0; n0 < NT || n0 == 0; n0 += op->seg) {
        const int n1 = n0 + op->seg < NT ? n0 + op->seg : NT;
        if (n0 > 0 && (st = set_chunk_args(op, io, n0, n1)) != OCLA_SUCCESS) return st;
        if ((st = ocla__enqueue(ctx, op->ks, 3, gs, ls, "attention chunk states")) != OCLA_SUCCESS) return st;
        if (n1 >= NT) break;
    }
    const size_t go[3] = {(size_t)t.out_threads, (size_t)NT * nvt_o, BH}, lo[3] = {(size_t)t.out_threads, 1, 1};
    if ((st = ocla__enqueue(ctx, op->ko, 3, go, lo, "attention chunk outputs")) != OCLA_SUCCESS) return st;
    if (op->kn && T > 0) {
        size_t global[3] = {(size_t)op->V, (size_t)T, BH};
        st = ocla__enqueue(ctx, op->kn, 3, global, NULL, "attention normaliser");
    }
    return st;
}

static ocla_status run_recurrent(ocla_attn_op *op, const ocla_attn_io *io, int rebind) {
    ocla_context *ctx = op->ctx;
    const int RV = op->plan.tile[0], RK = op->plan.tile[1];
    const int B = op->B, H = op->H, K = op->K, V = op->V, T = op->T, norm = op->key.normalize, Ve = V + norm;
    const int gate = op->key.gate;
    cl_mem dummy = io->q->mem, den = op->buf[BUF_DEN] ? op->buf[BUF_DEN] : dummy,
           carry = op->buf[BUF_CARRY] ? op->buf[BUF_CARRY] : dummy;
    tview cs, cz; /* the carry buffer as S [B,H,K,V] and z [B,H,K] views */
    memset(&cs, 0, sizeof cs);
    cs.mem = carry, cs.st[0] = (int64_t)H * K * Ve, cs.st[1] = (int64_t)K * Ve, cs.st[2] = Ve, cs.st[3] = 1;
    cz = cs, cz.off = V, cz.st[3] = 0;
    const size_t nvt = (size_t)(Ve + RV - 1) / (size_t)RV;
    const size_t global[3] = {nvt * (size_t)RV, (size_t)RK, (size_t)B * H}, local[3] = {(size_t)RV, (size_t)RK, 1};
    ocla_status st;
    for (int t0 = 0; t0 < T || t0 == 0; t0 += op->seg) {
        const int tn = T - t0 < op->seg ? T - t0 : op->seg;
        const int first = t0 == 0, last = t0 + tn >= T;
        if (rebind || op->nseg > 1) {
            tview q = tv_of(io->q, dummy, t0, 1), k = tv_of(io->k, dummy, t0, 1), v = tv_of(io->v, dummy, t0, 1),
                  o = tv_of(io->o, dummy, t0, 1),
                  g = tv_of(gate == OCLA_GATE_SCALAR || gate == OCLA_GATE_VECTOR ? io->g : NULL, dummy, t0, 1);
            tview s0 = first ? tv_of(io->initial_state, dummy, 0, -1) : cs, z0 = first ? tv_of(io->initial_z, dummy, 0, -1) : cz;
            tview s1 = last ? tv_of(io->final_state, dummy, 0, -1) : cs, z1 = last ? tv_of(io->final_z, dummy, 0, -1) : cz;
            const int has_s0 = first ? io->initial_state != NULL : 1, has_z0 = first ? io->initial_z != NULL : norm;
            const int has_s1 = last ? io->final_state != NULL : 1, has_z1 = last ? io->final_z != NULL : norm;
            if (gate == OCLA_GATE_SCALAR) g.st[3] = 0; /* [B,T,H] */
            ocla_args a = {ctx, op->kr, 0, OCLA_SUCCESS};
            ocla__push_int(&a, tn), ocla__push_int(&a, H), ocla__push_int(&a, K), ocla__push_int(&a, V);
            ocla__push_float(&a, op->scale);
            ocla__push_int(&a, op->key.feature), ocla__push_int(&a, gate), ocla__push_int(&a, norm);
            arg_tv(&a, &q, 4), arg_tv(&a, &k, 4), arg_tv(&a, &v, 4), arg_tv(&a, &g, 4);
            ocla__push_mem(&a, op->dec ? op->dec : dummy);
            ocla__push_int(&a, has_s0), arg_tv(&a, &s0, 4);
            ocla__push_int(&a, has_z0), arg_tv(&a, &z0, 3);
            ocla__push_int(&a, has_s1), arg_tv(&a, &s1, 4);
            ocla__push_int(&a, has_z1), arg_tv(&a, &z1, 3);
            arg_tv(&a, &o, 4);
            ocla__push_mem(&a, den);
            if (a.st != OCLA_SUCCESS) return a.st;
            if (op->kn) {
                ocla_args c = {ctx, op->kn, 0, OCLA_SUCCESS};
                float eps = op->key.eps;
                ocla__push_int(&c, tn), ocla__push_int(&c, H), ocla__push_int(&c, V), ocla__push_float(&c, eps);
                arg_tv(&c, &o, 4);
                ocla__push_mem(&c, den);
                if (c.st != OCLA_SUCCESS) return c.st;
            }
        }
        if ((st = ocla__enqueue(ctx, op->kr, 3, global, local, "attention recurrent")) != OCLA_SUCCESS) return st;
        if (op->kn && tn > 0) {
            size_t gn[3] = {(size_t)V, (size_t)tn, (size_t)B * H};
            if ((st = ocla__enqueue(ctx, op->kn, 3, gn, NULL, "attention normaliser")) != OCLA_SUCCESS) return st;
        }
        if (last) break;
    }
    return OCLA_SUCCESS;
}

static ocla_status run(ocla_attn_op *op, const ocla_attn_io *io) {
    ocla_status st = OCLA_SUCCESS;
    if (!op->own && (st = get_buffers(op)) != OCLA_SUCCESS) return st;
    int rebind = !op->bound;
    for (int i = 0; i < IO_N && !rebind; i++) {
        const ocla_tensor *t = io_tensor(io, i);
        rebind = (t ? t->mem : NULL) != op->bound_mem[i] || (t ? t->offset : 0) != op->bound_off[i];
    }
    for (int i = 0; i < BUF_N && !rebind; i++) rebind = op->buf[i] != op->bound_buf[i];
    if (op->plan.path == OCLA_PATH_NVIDIA_MMA) {
        if (rebind && (st = ocla__nv_bind(op, io)) != OCLA_SUCCESS) return st;
        st = ocla__nv_enqueue(op);
    } else if (op->recurrent)
        st = run_recurrent(op, io, rebind);
    else
        st = run_chunked(op, io, rebind);
    op->bound = 0;
    if (st == OCLA_SUCCESS) {
        for (int i = 0; i < IO_N; i++) {
            const ocla_tensor *t = io_tensor(io, i);
            op->bound_mem[i] = t ? t->mem : NULL;
            op->bound_off[i] = t ? t->offset : 0;
        }
        for (int i = 0; i < BUF_N; i++) op->bound_buf[i] = op->buf[i];
        op->bound = 1;
    }
    return st;
}

/* ---- the one-shot call's cache of prepared ops ---- */
static int same_decay(const ocla_attn_op *op, const ocla_attn_params *p) {
    if (!op->decay) return p->gate != OCLA_GATE_FIXED;
    for (int h = 0; h < op->H; h++) {
        float d = p->fixed_log_decay ? p->fixed_log_decay[h] : ocla__retnet_log_decay(h);
        if (d != op->decay[h]) return 0;
    }
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
    OCLA_LOCK(ctx);
    shape s;
    ocla_status st = validate(ctx, params, io, &s);
    if (st == OCLA_SUCCESS) {
        attn_key key;
        make_key(ctx, params, io, &key);
        ocla_attn_op *op = NULL;
        for (int i = 0; i < OCLA_ATTN_CACHE_SLOTS && !op; i++)
            if (ctx->attn_cache[i] && same_key(&ctx->attn_cache[i]->key, &key) && same_decay(ctx->attn_cache[i], params))
                op = ctx->attn_cache[i];
        if (!op && (st = prepare(ctx, params, io, &s, 0, &op)) == OCLA_SUCCESS) {
            const int slot = ctx->attn_cache_next;
            ctx->attn_cache_next = (slot + 1) % OCLA_ATTN_CACHE_SLOTS;
            ocla_attention_op_destroy(ctx->attn_cache[slot]);
            ctx->attn_cache[slot] = op;
        }
        if (st == OCLA_SUCCESS) st = run(op, io);
    }
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
    OCLA_LOCK(ctx);
    shape s;
    ocla_status st = validate(ctx, params, io, &s);
    if (st == OCLA_SUCCESS) st = prepare(ctx, params, io, &s, 1, out);
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_attention_run(ocla_attn_op *op, const ocla_attn_io *io) {
    if (!op) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: op is NULL");
    ocla_context *ctx = op->ctx;
    if (!io) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: io is NULL");
    OCLA_LOCK(ctx);
    ocla_status st = OCLA_SUCCESS;
    /* the tensors must have the prepared layouts: same presence, dims and strides (offsets may
     * differ on the portable path; the NVIDIA path needs tensors at the start of their buffers) */
    for (int i = 0; i < IO_N && st == OCLA_SUCCESS; i++) {
        const ocla_tensor *t = io_tensor(io, i);
        const attn_layout *l = &op->key.lay[i];
        if (!t != !l->present)
            st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: %s is %s but was %s when prepared",
                            io_name(i), t ? "given" : "NULL", l->present ? "given" : "NULL");
        else if (t && t->ctx != ctx)
            st = ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_run: %s belongs to another context",
                            io_name(i));
        else if (t) {
            int same = t->ndim == l->ndim && t->dtype == OCLA_F32;
            for (int d = 0; d < t->ndim && same; d++) same = t->dims[d] == l->dims[d] && t->strides[d] == l->strides[d];
            if (!same)
                st = ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_attention_run: %s has other dims or strides than when prepared",
                                io_name(i));
            else if (t->offset && op->plan.path != OCLA_PATH_PORTABLE)
                st = ocla__fail(ctx, OCLA_ERR_SHAPE,
                                "ocla_attention_run: %s starts inside its buffer (offset %zu); the op was prepared for "
                                "tensors at the start of their buffers",
                                io_name(i), t->offset);
        }
    }
    if (st == OCLA_SUCCESS) st = run(op, io);
    OCLA_UNLOCK(ctx);
    return st;
}

void ocla_attention_op_destroy(ocla_attn_op *op) {
    if (!op) return;
    ocla_context *ctx = op->ctx;
    OCLA_LOCK(ctx);
    clFinish(ctx->queue); /* queued kernels may still read the buffers and use the kernels */
    if (op->dec) clReleaseMemObject(op->dec);
    if (op->own)
        for (int i = 0; i < BUF_N; i++)
            if (op->buf[i]) clReleaseMemObject(op->buf[i]);
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
