/* Backward of causal chunked linear attention (with the normaliser, through the feature map),
 * simple GLA, retention and GLA (include/ocla/train.h; kernels kernels_cl/attn_bwd.cl; math and
 * memory: docs/TRAINING.md, "Backward").
 *
 * validate -> plan (runtime/plan_bwd.c: chunk, path, the kernels in launch order) -> variant
 * (gate kind, feature map, normaliser, TS) -> the plan's kernels, in the plan's order. The
 * temporaries are regions of the context's scratch slots 0-3 (layout in runtime/plan_bwd.h),
 * grown on demand and kept for the next call; the only host-to-device write is RetNet's [H]
 * default decays (fixed gates). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "op_common.h"
#include "plan.h"
#include "plan_bwd.h"

static const ocla_kfamily fam_bwd = {"attn_bwd", OCLA_VF_GATE | OCLA_VF_FEATURE | OCLA_VF_NORM, {"TS", NULL}};

/* The kernels a plan may name (runtime/plan_bwd.c writes these names). */
enum {
    K_GATES, K_STATES, K_CHUNK_KV, K_SCAN, K_A, K_A_TILED, K_OUTPUT, K_DA, K_DA_TILED, K_CHUNK_QDO, K_DSTATES,
    K_DQK, K_DQK_TILED, K_DV, K_DV_TILED, K_DG, K_DG_OUT, K_COUNT
};
static const char *const k_names[K_COUNT] = {
    "bwd_gates", "bwd_states", "bwd_chunk_kv", "bwd_scan",    "bwd_A",     "bwd_A_tiled",   "bwd_output",
    "bwd_dA",    "bwd_dA_tiled", "bwd_chunk_qdo", "bwd_dstates", "bwd_dqk", "bwd_dqk_tiled", "bwd_dv",
    "bwd_dv_tiled", "bwd_dg", "bwd_dg_out"};
static const char *const k_what[K_COUNT] = {
    "backward gates", "backward chunk states", "backward chunk k^T v", "backward scan", "backward intra-chunk A",
    "backward intra-chunk A (tiled)", "backward normaliser", "backward intra-chunk dA",
    "backward intra-chunk dA (tiled)", "backward chunk q^T do", "backward state gradients", "backward dq dk",
    "backward dq dk (tiled)", "backward dv", "backward dv (tiled)", "backward dq dk dg", "backward dg"};
#define MAX_STEPS 16

/* A tensor as a kernel argument (OCLA_TENSOR): buffer, offset, four strides; a 3-D tensor gets
 * stride 0 in the fourth slot, an absent one a valid dummy buffer. */
typedef struct targ {
    cl_mem mem;
    cl_long o, s[4];
} targ;

static targ ta(const ocla_tensor *t, cl_mem dummy) {
    targ a;
    memset(&a, 0, sizeof a);
    a.mem = t ? t->mem : dummy;
    if (t) {
        a.o = (cl_long)t->offset;
        for (int i = 0; i < t->ndim && i < 4; i++) a.s[i] = t->strides[i];
    }
    return a;
}

/* Everything the launches read: sizes, scalars, the tensors and the temporaries' regions. */
typedef struct bwd_call {
    ocla_context *ctx;
    cl_int T, H, K, V, C, NT;
    size_t BH, VV, GW, wg, ts;
    float scale, eps;
    cl_long n_fac;
    targ q, k, v, d_o, g, h0, z0, dhT, dzT, dh0, dz0, dq, dk, dv, dg, none;
    cl_int has_h0, has_z0, has_dhT, has_dzT, has_dh0, has_dz0, zero;
    cl_mem ws[OCLA__BWD_SLOTS];
    ocla__bwd_layout lay;
} bwd_call;

#define ARG(a, x) ocla__args_push((a), sizeof(x), &(x))
static void arg_t(ocla_args *a, const targ *t) {
    ARG(a, t->mem);
    ARG(a, t->o);
    for (int i = 0; i < 4; i++) ARG(a, t->s[i]);
}
/* A temporary (BWD_WS in the kernel): its slot's buffer and its offset in floats. */
static void arg_w(ocla_args *a, const bwd_call *c, int region) {
    const cl_long off = (cl_long)c->lay.off[region];
    ARG(a, c->ws[c->lay.slot[region]]);
    ARG(a, off);
}

/* One work-item per entry, work-groups of the plan's WG (never above the kernel's own limit). */
static ocla_status launch_items(const bwd_call *c, cl_kernel k, size_t n, const char *what) {
    uint64_t kwg = 0;
    ocla_status st = ocla__kernel_limits(c->ctx, k, &kwg, NULL);
    if (st != OCLA_SUCCESS) return st;
    size_t l = c->wg;
    while (l > 1 && l > kwg) l /= 2;
    return ocla__launch(c->ctx, k, 1, &n, &l, what);
}

/* n_groups work-groups of TS work-items. */
static ocla_status launch_tiles(const bwd_call *c, cl_kernel k, size_t n_groups, const char *what) {
    const size_t g = n_groups * c->ts, l = c->ts;
    return ocla__launch(c->ctx, k, 1, &g, &l, what);
}

/* Set the arguments of kernel id and launch it. scan_pass: 0 for the first bwd_scan, 1 after. */
static ocla_status launch_step(const bwd_call *c, int id, cl_kernel k, cl_int scan_pass) {
    ocla_args a = {c->ctx, k, 0, OCLA_SUCCESS};
    const size_t BH = c->BH, T = (size_t)c->T, K = (size_t)c->K, V = (size_t)c->V, NT = (size_t)c->NT;
    const size_t C = (size_t)c->C, ts = c->ts, kvv = K * c->VV;
    const size_t nti = (C + ts - 1) / ts, ndt = (K + ts - 1) / ts, nct = (c->VV + ts - 1) / ts;
    const size_t ncv = (V + ts - 1) / ts;
    size_t n = 0;
    int tiled = 0;
    cl_long nl;
#define HEAD(with_v)                                                                                                 \
    do {                                                                                                             \
        nl = (cl_long)n;                                                                                             \
        ARG(&a, nl), ARG(&a, c->T), ARG(&a, c->H), ARG(&a, c->K);                                                    \
        if (with_v) ARG(&a, c->V);                                                                                   \
        ARG(&a, c->C), ARG(&a, c->NT);                                                                               \
    } while (0)
    switch (id) {
    case K_GATES:
        n = BH * NT * c->GW;
        HEAD(0);
        arg_t(&a, &c->g), arg_w(&a, c, OCLA__BWD_DECAY), arg_w(&a, c, OCLA__BWD_GRAW), arg_w(&a, c, OCLA__BWD_GCUM);
        arg_w(&a, c, OCLA__BWD_GEXP), arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac);
        break;
    case K_STATES:
        n = BH * kvv;
        HEAD(1);
        arg_t(&a, &c->k), arg_t(&a, &c->v), arg_w(&a, c, OCLA__BWD_GEXP), arg_t(&a, &c->h0), ARG(&a, c->has_h0);
        arg_t(&a, &c->z0), ARG(&a, c->has_z0), arg_w(&a, c, OCLA__BWD_HS);
        break;
    case K_CHUNK_KV:
        n = BH * NT * nct * ndt, tiled = 1;
        HEAD(1);
        arg_t(&a, &c->k), arg_t(&a, &c->v), arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC);
        ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_HS);
        break;
    case K_SCAN:
        n = BH * kvv;
        HEAD(1);
        arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_HS);
        arg_t(&a, &c->h0), ARG(&a, c->has_h0), arg_t(&a, &c->z0), ARG(&a, c->has_z0);
        arg_w(&a, c, OCLA__BWD_DHS), arg_w(&a, c, OCLA__BWD_DHST), arg_w(&a, c, OCLA__BWD_W0);
        arg_t(&a, &c->dhT), ARG(&a, c->has_dhT), arg_t(&a, &c->dzT), ARG(&a, c->has_dzT);
        arg_t(&a, &c->dh0), ARG(&a, c->has_dh0), arg_t(&a, &c->dz0), ARG(&a, c->has_dz0), ARG(&a, scan_pass);
        break;
    case K_A:
    case K_A_TILED:
        tiled = id == K_A_TILED;
        n = tiled ? BH * NT * nti * nti : BH * NT * C * C;
        HEAD(0);
        arg_t(&a, &c->q), arg_t(&a, &c->k), arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC);
        ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_A);
        break;
    case K_OUTPUT:
        n = BH * T;
        HEAD(1);
        ARG(&a, c->scale), ARG(&a, c->eps), arg_t(&a, &c->q), arg_t(&a, &c->v), arg_w(&a, c, OCLA__BWD_GCUM);
        arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_HS), arg_w(&a, c, OCLA__BWD_A);
        arg_t(&a, &c->d_o), arg_w(&a, c, OCLA__BWD_DOP), arg_t(&a, &c->none), ARG(&a, c->zero);
        break;
    case K_DA:
    case K_DA_TILED:
        tiled = id == K_DA_TILED;
        n = tiled ? BH * NT * nti * nti : BH * NT * C * C;
        nl = (cl_long)n;
        ARG(&a, nl), ARG(&a, c->T), ARG(&a, c->H), ARG(&a, c->V), ARG(&a, c->C), ARG(&a, c->NT);
        arg_t(&a, &c->v), arg_t(&a, &c->d_o), arg_w(&a, c, OCLA__BWD_DOP), arg_w(&a, c, OCLA__BWD_GCUM);
        arg_w(&a, c, OCLA__BWD_DA);
        break;
    case K_CHUNK_QDO:
        n = BH * NT * nct * ndt, tiled = 1;
        HEAD(1);
        ARG(&a, c->scale), arg_t(&a, &c->q), arg_t(&a, &c->d_o), arg_w(&a, c, OCLA__BWD_DOP);
        arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_DHS);
        arg_w(&a, c, OCLA__BWD_W0);
        break;
    case K_DSTATES:
        n = BH * kvv;
        HEAD(1);
        ARG(&a, c->scale), arg_t(&a, &c->q), arg_t(&a, &c->d_o), arg_w(&a, c, OCLA__BWD_DOP);
        arg_w(&a, c, OCLA__BWD_GEXP), arg_t(&a, &c->dhT), ARG(&a, c->has_dhT), arg_t(&a, &c->dzT);
        ARG(&a, c->has_dzT), arg_w(&a, c, OCLA__BWD_DHS), arg_w(&a, c, OCLA__BWD_DHST), arg_t(&a, &c->dh0);
        ARG(&a, c->has_dh0), arg_t(&a, &c->dz0), ARG(&a, c->has_dz0);
        break;
    case K_DQK:
    case K_DQK_TILED:
        tiled = id == K_DQK_TILED;
        n = tiled ? BH * NT * nti * ndt : BH * T * K;
        HEAD(1);
        ARG(&a, c->scale), arg_t(&a, &c->q), arg_t(&a, &c->k), arg_t(&a, &c->v), arg_t(&a, &c->d_o);
        arg_w(&a, c, OCLA__BWD_DOP), arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac);
        arg_w(&a, c, OCLA__BWD_HS), arg_w(&a, c, OCLA__BWD_DHST), arg_w(&a, c, OCLA__BWD_DA);
        arg_w(&a, c, OCLA__BWD_DQH), arg_w(&a, c, OCLA__BWD_DKH);
        break;
    case K_DV:
    case K_DV_TILED:
        tiled = id == K_DV_TILED;
        n = tiled ? BH * NT * nti * ncv : BH * T * V;
        HEAD(1);
        ARG(&a, c->scale), arg_t(&a, &c->k), arg_t(&a, &c->d_o), arg_w(&a, c, OCLA__BWD_DOP);
        arg_w(&a, c, OCLA__BWD_GCUM), arg_w(&a, c, OCLA__BWD_GFAC), ARG(&a, c->n_fac), arg_w(&a, c, OCLA__BWD_DHS);
        arg_w(&a, c, OCLA__BWD_A), arg_t(&a, &c->dv);
        break;
    case K_DG:
        n = BH * NT * K;
        HEAD(1);
        arg_t(&a, &c->q), arg_t(&a, &c->k), arg_w(&a, c, OCLA__BWD_HS), arg_w(&a, c, OCLA__BWD_DHST);
        arg_w(&a, c, OCLA__BWD_DQH), arg_w(&a, c, OCLA__BWD_DKH), arg_w(&a, c, OCLA__BWD_DGV), arg_t(&a, &c->dq);
        arg_t(&a, &c->dk);
        break;
    case K_DG_OUT:
        n = BH * T * c->GW;
        nl = (cl_long)n;
        ARG(&a, nl), ARG(&a, c->T), ARG(&a, c->H), ARG(&a, c->K);
        arg_w(&a, c, OCLA__BWD_GRAW), arg_w(&a, c, OCLA__BWD_DGV), arg_t(&a, &c->dg);
        break;
    default: return ocla__fail(c->ctx, OCLA_ERR_INTERNAL, "ocla_attention_backward: unknown step %d", id);
    }
#undef HEAD
    if (a.st != OCLA_SUCCESS) return a.st;
    return tiled ? launch_tiles(c, k, n, k_what[id]) : launch_items(c, k, n, k_what[id]);
}

/* The plan's kernel list ("bwd_gates, bwd_states, ...") as step ids. */
static ocla_status parse_steps(ocla_context *ctx, const ocla_plan *plan, int *steps, int *n_steps) {
    const char *s = plan->kernels;
    int n = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        const size_t len = e ? (size_t)(e - s) : strlen(s);
        int id = -1;
        for (int i = 0; i < K_COUNT && id < 0; i++)
            if (strlen(k_names[i]) == len && !strncmp(s, k_names[i], len)) id = i;
        if (id < 0 || n == MAX_STEPS)
            return ocla__fail(ctx, OCLA_ERR_INTERNAL, "ocla_attention_backward: the plan's kernels \"%s\" are not "
                              "the backward's", plan->kernels);
        steps[n++] = id;
        s += len;
        while (*s == ',' || *s == ' ') s++;
    }
    *n_steps = n;
    return OCLA_SUCCESS;
}

static ocla_status check_same(ocla_context *ctx, const ocla_tensor *t, const char *name, const ocla_tensor *like) {
    if (!t) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: %s is NULL", name);
    return ocla__check_tensor(ctx, t, name, like->ndim, like->dims);
}

/* Arguments: shapes, gate kind, optional tensors. Fills the request's shape. */
static ocla_status check_args(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io,
                              ocla_plan_request *req) {
    if (!p || !io) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: NULL params or io");
    if (!p->causal)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "ocla_attention_backward: only the causal form has a backward");
    if (p->feature_map < OCLA_FEATURE_IDENTITY || p->feature_map > OCLA_FEATURE_RELU)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad feature_map %d",
                          (int)p->feature_map);
    if (p->gate < OCLA_GATE_NONE || p->gate > OCLA_GATE_FIXED)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: bad gate kind %d", (int)p->gate);
    ocla_status st = ocla__check_tensor(ctx, io->q, "q", 4, NULL);
    if (st != OCLA_SUCCESS) return st;
    const int64_t B = io->q->dims[0], T = io->q->dims[1], H = io->q->dims[2], K = io->q->dims[3];
    if ((st = check_same(ctx, io->k, "k", io->q)) != OCLA_SUCCESS) return st;
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, NULL)) != OCLA_SUCCESS) return st;
    const int64_t V = io->v->dims[3];
    int64_t vd[4] = {B, T, H, V}, sd[4] = {B, H, K, V}, zd[3] = {B, H, K}, g3[3] = {B, T, H};
    if ((st = ocla__check_tensor(ctx, io->v, "v", 4, vd)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->d_o, "d_o", io->v)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dq, "dq", io->q)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dk, "dk", io->q)) != OCLA_SUCCESS) return st;
    if ((st = check_same(ctx, io->dv, "dv", io->v)) != OCLA_SUCCESS) return st;
    const int vec = p->gate == OCLA_GATE_VECTOR, scal = p->gate == OCLA_GATE_SCALAR;
    if (vec || scal) {
        if (!io->g) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: g is NULL");
        st = vec ? ocla__check_tensor(ctx, io->g, "g", 4, io->q->dims) : ocla__check_tensor(ctx, io->g, "g", 3, g3);
        if (st != OCLA_SUCCESS) return st;
        if (io->dg && (st = check_same(ctx, io->dg, "dg", io->g)) != OCLA_SUCCESS) return st;
    } else if (io->dg) {
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: dg must be NULL for %s (the gate is not an input)",
                          p->gate == OCLA_GATE_FIXED ? "a fixed decay" : "ungated attention");
    }
    if (io->initial_state && (st = ocla__check_tensor(ctx, io->initial_state, "initial_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (io->d_final_state && (st = ocla__check_tensor(ctx, io->d_final_state, "d_final_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (io->d_initial_state &&
        (st = ocla__check_tensor(ctx, io->d_initial_state, "d_initial_state", 4, sd)) != OCLA_SUCCESS)
        return st;
    if (!p->normalize && (io->initial_z || io->d_final_z || io->d_initial_z))
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "ocla_attention_backward: initial_z, d_final_z and d_initial_z need params.normalize");
    if (io->initial_z && (st = ocla__check_tensor(ctx, io->initial_z, "initial_z", 3, zd)) != OCLA_SUCCESS) return st;
    if (io->d_final_z && (st = ocla__check_tensor(ctx, io->d_final_z, "d_final_z", 3, zd)) != OCLA_SUCCESS) return st;
    if (io->d_initial_z && (st = ocla__check_tensor(ctx, io->d_initial_z, "d_initial_z", 3, zd)) != OCLA_SUCCESS)
        return st;
    if (B < 1 || T < 1 || H < 1 || K < 1 || V < 1)
        return ocla__fail(ctx, OCLA_ERR_SHAPE, "ocla_attention_backward: empty shape B=%lld T=%lld H=%lld K=%lld V=%lld",
                          (long long)B, (long long)T, (long long)H, (long long)K, (long long)V);
    if (B * H > INT32_MAX || T > INT32_MAX / 2 || K > 65536 || V > 65536)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "ocla_attention_backward: shape beyond the kernels' int ranges");
    if (p->gate == OCLA_GATE_FIXED && p->fixed_log_decay)
        for (int64_t h = 0; h < H; h++)
            if (!isfinite(p->fixed_log_decay[h]))
                return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: fixed_log_decay[%lld] is not finite",
                                  (long long)h);
    req->B = B, req->T = T, req->H = H, req->K = K, req->V = V;
    return OCLA_SUCCESS;
}

static const char *const region_names[OCLA__BWD_SLOTS] = {
    "gates and intra-chunk A, dA", "chunk states", "state gradients (two layouts)", "per-token gradients"};

static ocla_status backward_locked(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_grad_io *io) {
    ocla_plan_request req;
    memset(&req, 0, sizeof req);
    ocla_status st = check_args(ctx, p, io, &req);
    if (st != OCLA_SUCCESS) return st;

    /* plan: chunk, path and the kernels in launch order */
    req.op = OCLA_OP_ATTN_BACKWARD;
    req.chunk = ocla__resolve_chunk(ctx, p->chunk);
    req.flags = (p->normalize ? OCLA_PLAN_NORMALIZE : 0u) | (io->dg ? 0u : OCLA__PLAN_BWD_NO_DG);
    req.gate = (int)p->gate;
    req.feature = (int)p->feature_map;
    ocla_plan plan;
    if ((st = ocla__plan_for(ctx, &req, &plan)) != OCLA_SUCCESS) return st;
    ocla__bwd_tiles tl;
    ocla__bwd_tiles_from_plan(&plan, &tl);
    int steps[MAX_STEPS], n_steps = 0;
    if ((st = parse_steps(ctx, &plan, steps, &n_steps)) != OCLA_SUCCESS) return st;

    bwd_call c;
    memset(&c, 0, sizeof c);
    c.ctx = ctx;
    if (ocla__bwd_layout_for(&req, tl.chunk, &c.lay))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "ocla_attention_backward: temporary sizes overflow");
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if (c.lay.slot_bytes[s] > ctx->info.max_alloc_size)
            return ocla__fail(ctx, OCLA_ERR_TOO_LARGE,
                              "ocla_attention_backward: the temporaries for %s need %zu bytes at chunk %d, more than "
                              "the device's largest allocation CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu (split B*H or T)",
                              region_names[s], c.lay.slot_bytes[s], tl.chunk,
                              (unsigned long long)ctx->info.max_alloc_size);

    /* the variant and its kernels (built before anything is enqueued) */
    ocla_variant v = ocla__variant(&fam_bwd);
    v.gate = (int8_t)p->gate;
    v.feature = (int8_t)p->feature_map;
    v.norm = (int8_t)(p->normalize != 0);
    v.tile[0] = tl.ts;
    cl_kernel kern[MAX_STEPS];
    for (int i = 0; i < n_steps; i++)
        if ((st = ocla__variant_kernel(ctx, &v, k_names[steps[i]], &kern[i])) != OCLA_SUCCESS) return st;

    /* temporaries: regions of scratch slots 0-3 */
    for (int s = 0; s < OCLA__BWD_SLOTS; s++)
        if ((st = ocla__scratch(ctx, OCLA__BWD_SLOT0 + s, c.lay.slot_bytes[s], &c.ws[s])) != OCLA_SUCCESS) return st;
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

    const int vec = p->gate == OCLA_GATE_VECTOR;
    c.T = (cl_int)req.T, c.H = (cl_int)req.H, c.K = (cl_int)req.K, c.V = (cl_int)req.V, c.C = tl.chunk;
    c.NT = (cl_int)((req.T + tl.chunk - 1) / tl.chunk);
    c.BH = (size_t)(req.B * req.H), c.VV = (size_t)req.V + (p->normalize ? 1 : 0), c.GW = vec ? (size_t)req.K : 1;
    c.wg = (size_t)tl.wg, c.ts = (size_t)tl.ts;
    c.scale = p->has_scale ? p->scale : (float)(1.0 / sqrt((double)req.K));
    c.eps = p->eps;
    c.n_fac = vec ? (cl_long)(c.BH * (size_t)req.T * (size_t)req.K) : 0;
    const cl_mem dummy = c.ws[0];
    c.q = ta(io->q, dummy), c.k = ta(io->k, dummy), c.v = ta(io->v, dummy), c.d_o = ta(io->d_o, dummy);
    c.g = ta(io->g, dummy), c.h0 = ta(io->initial_state, dummy), c.z0 = ta(io->initial_z, dummy);
    c.dhT = ta(io->d_final_state, dummy), c.dzT = ta(io->d_final_z, dummy);
    c.dh0 = ta(io->d_initial_state, dummy), c.dz0 = ta(io->d_initial_z, dummy);
    c.dq = ta(io->dq, dummy), c.dk = ta(io->dk, dummy), c.dv = ta(io->dv, dummy), c.dg = ta(io->dg, dummy);
    c.none = ta(NULL, dummy);
    c.has_h0 = io->initial_state != NULL, c.has_z0 = io->initial_z != NULL;
    c.has_dhT = io->d_final_state != NULL, c.has_dzT = io->d_final_z != NULL;
    c.has_dh0 = io->d_initial_state != NULL, c.has_dz0 = io->d_initial_z != NULL, c.zero = 0;

    /* the plan's kernels, in order */
    cl_int scan_pass = 0;
    for (int i = 0; i < n_steps && st == OCLA_SUCCESS; i++) {
        st = launch_step(&c, steps[i], kern[i], scan_pass);
        if (steps[i] == K_SCAN) scan_pass++;
    }
    return st;
}

OCLA_API ocla_status ocla_attention_backward(ocla_context *ctx, const ocla_attn_params *params,
                                             const ocla_attn_grad_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_backward: ctx is NULL");
    OCLA_LOCK(ctx);
    ocla_status st = backward_locked(ctx, params, io);
    OCLA_UNLOCK(ctx);
    return st;
}
