/* Linear attention / simple GLA / retention / GLA forward: validation -> plan -> program variant ->
 * enqueue. Kernels: kernels_cl/linear_attn.cl (chunked, non-causal), kernels_cl/linear_attn_rec.cl
 * (recurrent / decode), kernels_cl/la_probe.cl (work-group limit probe). Math: docs/KERNELS.md.
 *
 * Scratch slots (per context, reused): 0 chunk-local gate cumsums G, 1 chunk states hs,
 * 2 denominators (normaliser), 3 fixed per-head decays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "internal.h"

#define SLOT_G 0
#define SLOT_HS 1
#define SLOT_DEN 2
#define SLOT_DEC 3
#define OCLA_ATTN_MAX_DIM 256

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
        if (params->form == OCLA_FORM_RECURRENT || ocla_plan_candidates(&L, &r, c, 8) > 0)
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

/* ---- argument helpers ---- */
typedef ocla_args argset; /* runtime/launch.c: consecutive kernel arguments, first failure kept */
#define arg ocla__args_push
#define ARG(a, x) ocla__args_push((a), sizeof(x), &(x))
static void arg_int(argset *a, int x) {
    cl_int v = x;
    ARG(a, v);
}
static void arg_idx(argset *a, int64_t x) {
    cl_long v = x;
    ARG(a, v);
}
static void arg_mem(argset *a, cl_mem m) { ARG(a, m); }
static void arg_local(argset *a, uint64_t bytes) { arg(a, (size_t)(bytes ? bytes : 4), NULL); }
/* tensor: buffer, offset, then nstrides strides */
static void arg_tensor(argset *a, const ocla_tensor *t, cl_mem dummy, int nstrides) {
    arg_mem(a, t ? t->mem : dummy);
    arg_idx(a, t ? (int64_t)t->offset : 0);
    for (int d = 0; d < nstrides; d++) arg_idx(a, t ? t->strides[d] : 0);
}

static ocla_status upload_decay(ocla_context *ctx, const ocla_attn_params *p, int H, cl_mem *out) {
    float *decay = malloc((size_t)H * sizeof *decay);
    if (!decay) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int h = 0; h < H; h++)
        decay[h] = p->fixed_log_decay ? p->fixed_log_decay[h] : (float)log(1.0 - pow(2.0, -5.0 - h));
    ocla_status st = ocla__scratch(ctx, SLOT_DEC, (size_t)H * sizeof(float), out);
    if (st == OCLA_SUCCESS) {
        cl_int err = clEnqueueWriteBuffer(ctx->queue, *out, CL_TRUE, 0, (size_t)H * sizeof(float), decay, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = ocla__cl_fail(ctx, err, "clEnqueueWriteBuffer", "uploading fixed decays");
    }
    free(decay);
    return st;
}

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

static void arg_tv(argset *a, const tview *v, int nstrides) {
    arg_mem(a, v->mem);
    arg_idx(a, v->off);
    for (int d = 0; d < nstrides; d++) arg_idx(a, v->st[d]);
}

static ocla_status launch_normalize(ocla_context *ctx, const ocla_attn_params *p, const tview *o, int T, const shape *s,
                                    const char *opts, const char *src, cl_mem den) {
    cl_kernel kn;
    ocla_status st = ocla__get_kernel(ctx, src, opts, "la_normalize", &kn);
    if (st != OCLA_SUCCESS) return st;
    argset a = {ctx, kn, 0, OCLA_SUCCESS};
    float eps = p->eps;
    arg_int(&a, T), arg_int(&a, s->H), arg_int(&a, s->V), ARG(&a, eps);
    arg_tv(&a, o, 4);
    arg_mem(&a, den);
    if (a.st != OCLA_SUCCESS) return a.st;
    size_t global[3] = {(size_t)s->V, (size_t)T, (size_t)s->B * s->H};
    return ocla__launch(ctx, kn, 3, global, NULL, "attention normaliser");
}

/* ---- recurrent form ---- */
static int pow2_at_least(int x) {
    int p = 1;
    while (p < x) p *= 2;
    return p;
}

static ocla_status forward_recurrent(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io,
                                     const shape *s, float scale) {
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    if (st != OCLA_SUCCESS) return st;
    uint64_t W = ocla__plan_wg_limit(&L);
    const int norm = p->normalize ? 1 : 0, Ve = s->V + norm;
    cl_kernel kr = NULL;
    int RV = 0, RK = 0, KR = 0;
    char opts[128];
    for (int attempt = 0; attempt < 3; attempt++) {
        RV = W >= 256 ? 32 : W >= 64 ? 16 : 8;
        if ((uint64_t)RV > W) RV = (int)(W ? W : 1);
        RK = (int)(W / (uint64_t)RV);
        if (RK > 8) RK = 8;
        if (RK < 1) RK = 1;
        KR = pow2_at_least((s->K + RK - 1) / RK);
        if (KR < 8) KR = 8;
        snprintf(opts, sizeof opts, "-DRV=%d -DRK=%d -DKR=%d", RV, RK, KR);
        if ((st = ocla__get_kernel(ctx, "linear_attn_rec", opts, "la_recurrent", &kr)) != OCLA_SUCCESS) return st;
        uint64_t kwg = 0, klm = 0;
        if ((st = ocla__kernel_limits(ctx, kr, &kwg, &klm)) != OCLA_SUCCESS) return st;
        if ((uint64_t)RV * RK <= kwg || kwg == 0) break;
        if (attempt == 2)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "recurrent attention: the kernel allows only %llu work-items",
                              (unsigned long long)kwg);
        W = kwg;
    }
    const int gin = p->gate == OCLA_GATE_SCALAR ? 1 : p->gate == OCLA_GATE_VECTOR ? 2 : p->gate == OCLA_GATE_FIXED ? 3 : 0;
    const int B = s->B, H = s->H, K = s->K, V = s->V, T = s->T;
    cl_mem dummy = io->q->mem, dec = dummy, den = dummy, carry = dummy;
    /* Tokens per launch: llvmpipe stops a kernel's loops after ~65535 iterations in total, so long
     * sequences run as several launches carrying the state through scratch ([B,H,K,Ve]). */
    int seg = T;
    if (ctx->info.vendor == OCLA_VENDOR_MESA) {
        seg = 30000 / (KR + RK + 4 + (K + RK * RV - 1) / (RK * RV));
        if (seg < 1) seg = 1;
    }
    if (gin == 3 && (st = upload_decay(ctx, p, H, &dec)) != OCLA_SUCCESS) return st;
    if (norm && (st = ocla__scratch(ctx, SLOT_DEN, (size_t)B * H * (size_t)(seg < T ? seg : T) * 4 + 4, &den)) != OCLA_SUCCESS)
        return st;
    if (seg < T && (st = ocla__scratch(ctx, SLOT_HS, (size_t)B * H * K * Ve * 4, &carry)) != OCLA_SUCCESS) return st;
    tview cs, cz; /* the carry buffer as S [B,H,K,V] and z [B,H,K] views */
    memset(&cs, 0, sizeof cs);
    cs.mem = carry, cs.st[0] = (int64_t)H * K * Ve, cs.st[1] = (int64_t)K * Ve, cs.st[2] = Ve, cs.st[3] = 1;
    cz = cs, cz.off = V, cz.st[3] = 0;
    for (int t0 = 0; t0 < T || t0 == 0; t0 += seg) {
        const int tn = T - t0 < seg ? T - t0 : seg;
        const int first = t0 == 0, last = t0 + tn >= T;
        tview q = tv_of(io->q, dummy, t0, 1), k = tv_of(io->k, dummy, t0, 1), v = tv_of(io->v, dummy, t0, 1),
              o = tv_of(io->o, dummy, t0, 1), g = tv_of(gin == 1 || gin == 2 ? io->g : NULL, dummy, t0, 1);
        tview s0 = first ? tv_of(io->initial_state, dummy, 0, -1) : cs, z0 = first ? tv_of(io->initial_z, dummy, 0, -1) : cz;
        tview s1 = last ? tv_of(io->final_state, dummy, 0, -1) : cs, z1 = last ? tv_of(io->final_z, dummy, 0, -1) : cz;
        const int has_s0 = first ? io->initial_state != NULL : 1, has_z0 = first ? io->initial_z != NULL : norm;
        const int has_s1 = last ? io->final_state != NULL : 1, has_z1 = last ? io->final_z != NULL : norm;
        if (gin == 1) g.st[3] = 0; /* [B,T,H] */
        argset a = {ctx, kr, 0, OCLA_SUCCESS};
        arg_int(&a, tn), arg_int(&a, H), arg_int(&a, K), arg_int(&a, V);
        ARG(&a, scale);
        arg_int(&a, (int)p->feature_map), arg_int(&a, gin), arg_int(&a, norm);
        arg_tv(&a, &q, 4), arg_tv(&a, &k, 4), arg_tv(&a, &v, 4), arg_tv(&a, &g, 4);
        arg_mem(&a, dec);
        arg_int(&a, has_s0), arg_tv(&a, &s0, 4);
        arg_int(&a, has_z0), arg_tv(&a, &z0, 3);
        arg_int(&a, has_s1), arg_tv(&a, &s1, 4);
        arg_int(&a, has_z1), arg_tv(&a, &z1, 3);
        arg_tv(&a, &o, 4);
        arg_mem(&a, den);
        if (a.st != OCLA_SUCCESS) return a.st;
        size_t nvt = (size_t)(Ve + RV - 1) / (size_t)RV;
        size_t global[3] = {nvt * (size_t)RV, (size_t)RK, (size_t)B * H}, local[3] = {(size_t)RV, (size_t)RK, 1};
        if ((st = ocla__launch(ctx, kr, 3, global, local, "attention recurrent")) != OCLA_SUCCESS) return st;
        if (norm && tn > 0 && (st = launch_normalize(ctx, p, &o, tn, s, opts, "linear_attn_rec", den)) != OCLA_SUCCESS)
            return st;
        if (last) break;
    }
    return OCLA_SUCCESS;
}

/* ---- chunked form (causal and non-causal) ---- */
static void tiles_options(const ocla__la_tiles *t, char *opts, size_t n) {
    snprintf(opts, n,
             "-DCHUNK=%d -DSUB=%d -DGV=%d -DBV=%d -DTM=%d -DTN=%d -DBKA=%d -DSBK=%d -DSBV=%d -DSTM=%d -DSTN=%d -DSJB=%d",
             t->chunk, t->sub ? t->sub : 16, t->gv, t->bv, t->tm, t->tn, t->bka, t->sbk, t->sbv, t->stm, t->stn,
             t->sjb);
}

static ocla_status forward_chunked(ocla_context *ctx, const ocla_attn_params *p, const ocla_attn_io *io,
                                   const shape *s, float scale) {
    ocla_plan_limits L;
    ocla_status st = ocla__plan_limits(ctx, &L);
    if (st != OCLA_SUCCESS) return st;
    const ocla_op_kind op = op_for(p);
    const int forced = p->chunk ? p->chunk : ctx->env_chunk;
    ocla_plan_request req = {op, s->B, s->T, s->H, s->K, s->V, forced, 0, 0, 0};
    ocla__la_tiles t;
    cl_kernel kg = NULL, ks = NULL, ko = NULL;
    char opts[256];
    for (int attempt = 0;; attempt++) {
        ocla_plan plan;
        st = ocla_plan_compute(&L, &req, &plan);
        if (st != OCLA_SUCCESS) {
            const char *d = ocla_last_error(NULL);
            return ocla__fail(ctx, st, "%s%s", d ? d : "no plan", !p->chunk && forced ? " (chunk from OCLA_CHUNK)" : "");
        }
        if (ocla__la_tiles_for(&L, op, s->K, s->V, plan.chunk, &t))
            return ocla__fail(ctx, OCLA_ERR_INTERNAL, "plan chose chunk %d but its tiles do not fit", plan.chunk);
        tiles_options(&t, opts, sizeof opts);
        if ((st = ocla__get_kernel(ctx, "linear_attn", opts, "la_chunk_states", &ks)) != OCLA_SUCCESS) return st;
        if ((st = ocla__get_kernel(ctx, "linear_attn", opts, "la_chunk_output", &ko)) != OCLA_SUCCESS) return st;
        if ((st = ocla__get_kernel(ctx, "linear_attn", opts, "la_gate_cumsum", &kg)) != OCLA_SUCCESS) return st;
        /* the built kernels' own limits: replan once with them if the first plan exceeds them */
        uint64_t wgs = 0, lms = 0, wgo = 0, lmo = 0;
        if ((st = ocla__kernel_limits(ctx, ks, &wgs, &lms)) != OCLA_SUCCESS) return st;
        if ((st = ocla__kernel_limits(ctx, ko, &wgo, &lmo)) != OCLA_SUCCESS) return st;
        uint64_t kwg = wgs < wgo ? wgs : wgo, klm = lms > lmo ? lms : lmo;
        int fits = (uint64_t)t.out_threads <= wgo && (uint64_t)t.state_threads <= wgs &&
                   klm + (t.out_local > t.state_local ? t.out_local : t.state_local) <= L.local_mem_size;
        if (fits) break;
        if (attempt >= 2)
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED,
                              "attention: no tiling fits the built kernels (work-group limit %llu, own local memory "
                              "%llu B) on %s",
                              (unsigned long long)kwg, (unsigned long long)klm, ctx->info.device_name);
        L.kernel_wg_size = L.kernel_wg_size && L.kernel_wg_size < kwg ? L.kernel_wg_size : kwg;
        L.kernel_local_mem = klm;
    }
    const int B = s->B, T = s->T, H = s->H, K = s->K, V = s->V;
    const int norm = p->normalize ? 1 : 0, Ve = V + norm, C = t.chunk, NT = (T + C - 1) / C;
    const int gmode = !p->causal ? 0 : op == OCLA_OP_GLA_CHUNK ? 2 : op == OCLA_OP_SIMPLE_GLA_CHUNK ? 1 : 0;
    const int KG = gmode == 2 ? K : 1;
    const size_t BH = (size_t)B * H;
    cl_mem dummy = io->q->mem, G = dummy, hs, den = dummy;
    size_t bytes;
    /* gate cumsums */
    if (gmode) {
        if (!ocla__mul_ok(BH * (size_t)T, (size_t)KG * 4, &bytes))
            return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "gate cumsum size overflows");
        if ((st = ocla__scratch(ctx, SLOT_G, bytes, &G)) != OCLA_SUCCESS) return st;
        cl_mem dec = dummy;
        int mode = p->gate == OCLA_GATE_SCALAR ? 1 : p->gate == OCLA_GATE_VECTOR ? 2 : 3;
        if (mode == 3 && (st = upload_decay(ctx, p, H, &dec)) != OCLA_SUCCESS) return st;
        argset a = {ctx, kg, 0, OCLA_SUCCESS};
        arg_int(&a, T), arg_int(&a, H), arg_int(&a, KG), arg_int(&a, NT), arg_int(&a, mode);
        if (mode == 1) {
            arg_mem(&a, io->g->mem), arg_idx(&a, (int64_t)io->g->offset);
            for (int d = 0; d < 3; d++) arg_idx(&a, io->g->strides[d]);
            arg_idx(&a, 0);
        } else
            arg_tensor(&a, mode == 2 ? io->g : NULL, dummy, 4);
        arg_mem(&a, dec), arg_mem(&a, G);
        if (a.st != OCLA_SUCCESS) return a.st;
        size_t global[3] = {(size_t)KG, (size_t)NT, BH};
        if ((st = ocla__launch(ctx, kg, 3, global, NULL, "attention gate cumsum")) != OCLA_SUCCESS) return st;
    }
    /* chunk states */
    if (!ocla__mul_ok(BH * (size_t)(NT + 1), (size_t)K * (size_t)Ve * 4, &bytes))
        return ocla__fail(ctx, OCLA_ERR_OVERFLOW, "chunk state size overflows");
    if ((st = ocla__scratch(ctx, SLOT_HS, bytes, &hs)) != OCLA_SUCCESS) return st;
    /* Chunks per launch of the sequential state walk: bounded so that no launch runs an unbounded
     * loop (llvmpipe stops loops after ~65535 iterations in total; long kernels also trip GPU
     * watchdogs). */
    const int seg_tokens = ctx->info.vendor == OCLA_VENDOR_MESA ? 2048 : 32768;
    const int seg = seg_tokens / C > 0 ? seg_tokens / C : 1;
    for (int n0 = 0; n0 < NT || n0 == 0; n0 += seg) {
        const int n1 = n0 + seg < NT ? n0 + seg : NT;
        const int nkt = (K + t.sbk - 1) / t.sbk, nvt = (Ve + t.sbv - 1) / t.sbv;
        argset a = {ctx, ks, 0, OCLA_SUCCESS};
        arg_int(&a, T), arg_int(&a, H), arg_int(&a, K), arg_int(&a, V), arg_int(&a, NT), arg_int(&a, nvt);
        arg_int(&a, (int)p->feature_map), arg_int(&a, gmode), arg_int(&a, norm), arg_int(&a, n0), arg_int(&a, n1);
        arg_tensor(&a, io->k, dummy, 4), arg_tensor(&a, io->v, dummy, 4);
        arg_mem(&a, G), arg_mem(&a, hs);
        arg_int(&a, io->initial_state != NULL), arg_tensor(&a, io->initial_state, dummy, 4);
        arg_int(&a, io->initial_z != NULL), arg_tensor(&a, io->initial_z, dummy, 3);
        arg_int(&a, io->final_state != NULL), arg_tensor(&a, io->final_state, dummy, 4);
        arg_int(&a, io->final_z != NULL), arg_tensor(&a, io->final_z, dummy, 3);
        arg_local(&a, 4 * (uint64_t)t.sjb * t.sbk), arg_local(&a, 4 * (uint64_t)t.sjb * t.sbv);
        if (a.st != OCLA_SUCCESS) return a.st;
        size_t global[3] = {(size_t)t.state_threads, (size_t)nkt * nvt, BH}, local[3] = {(size_t)t.state_threads, 1, 1};
        if ((st = ocla__launch(ctx, ks, 3, global, local, "attention chunk states")) != OCLA_SUCCESS) return st;
        if (n1 >= NT) break;
    }
    /* outputs */
    if (norm && (st = ocla__scratch(ctx, SLOT_DEN, BH * (size_t)(T ? T : 1) * 4, &den)) != OCLA_SUCCESS) return st;
    {
        const int nvt = (Ve + t.bv - 1) / t.bv;
        argset a = {ctx, ko, 0, OCLA_SUCCESS};
        arg_int(&a, T), arg_int(&a, H), arg_int(&a, K), arg_int(&a, V), arg_int(&a, NT), arg_int(&a, nvt);
        ARG(&a, scale);
        arg_int(&a, (int)p->feature_map), arg_int(&a, gmode), arg_int(&a, norm), arg_int(&a, !p->causal);
        arg_tensor(&a, io->q, dummy, 4), arg_tensor(&a, io->k, dummy, 4), arg_tensor(&a, io->v, dummy, 4);
        arg_mem(&a, G), arg_mem(&a, hs);
        arg_tensor(&a, io->o, dummy, 4);
        arg_mem(&a, den);
        uint64_t a_floats = (uint64_t)C * (C + 4), slab = t.out_local / 4 - a_floats;
        arg_local(&a, 4 * a_floats), arg_local(&a, 4 * slab);
        if (a.st != OCLA_SUCCESS) return a.st;
        size_t global[3] = {(size_t)t.out_threads, (size_t)NT * nvt, BH}, local[3] = {(size_t)t.out_threads, 1, 1};
        if ((st = ocla__launch(ctx, ko, 3, global, local, "attention chunk outputs")) != OCLA_SUCCESS) return st;
    }
    if (norm && T > 0) {
        tview o = tv_of(io->o, dummy, 0, -1);
        st = launch_normalize(ctx, p, &o, T, s, opts, "linear_attn", den);
    }
    return st;
}

ocla_status ocla_attention_forward(ocla_context *ctx, const ocla_attn_params *params, const ocla_attn_io *io) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_forward: ctx is NULL");
    if (!params || !io)
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_attention_forward: %s is NULL", !params ? "params" : "io");
    OCLA_LOCK(ctx);
    shape s;
    ocla_status st = validate(ctx, params, io, &s);
    if (st == OCLA_SUCCESS) {
        float scale = params->has_scale ? params->scale : (float)(1.0 / sqrt((double)s.K));
        if (params->form == OCLA_FORM_RECURRENT && params->causal) {
            st = forward_recurrent(ctx, params, io, &s, scale);
        } else {
            st = OCLA_ERR_UNSUPPORTED;
            if (params->causal && !io->initial_z && !io->final_z)
                st = ocla__attention_forward_nv(ctx, params, io, params->chunk ? params->chunk : ctx->env_chunk, NULL);
            if (st == OCLA_ERR_UNSUPPORTED) st = forward_chunked(ctx, params, io, &s, scale);
        }
    }
    OCLA_UNLOCK(ctx);
    return st;
}
