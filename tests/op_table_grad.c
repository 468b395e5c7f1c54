/* SPDX-License-Identifier: MIT */
/* The attention backward entries of the op table (see op_table.h, op_table.c). A translation unit of
 * its own: the fp64 reference (tests/ref/ref_grad.h, analytic gradients by the recurrence and a
 * reverse pass over the stored states) declares a ref_attn_cfg that differs from ref_attention.h's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_table_impl.h"
#include "ref/ref_flash_grad.h"
#include "ref/ref_grad.h"
#include "ref/ref_layers.h"
#include "ref/ref_softmax_grad.h"

enum { BQ, BK, BV, BG, BH0, BZ0, BDO, BDS, BDZ, BDQ, BDK, BDV, BDG, BDH0, BDZ0 };

static int gated(const op_bwd_cfg *f) { return f->gate == OCLA_GATE_SCALAR || f->gate == OCLA_GATE_VECTOR; }

/* Batch rows b of the token tensors and state rows n: B and B, or packed 1 and the sequences. */
static void bwd_rows(const op_case *c, int *b, int *n) {
    const op_bwd_cfg *f = c->op->cfg;
    int32_t cu[8];
    const int ns = f->packed ? op_packed_offsets(&c->s, cu) : c->s.B;
    *b = f->packed ? 1 : c->s.B, *n = ns < 0 ? 1 : ns; /* -1: the call refuses */
}

void op_bwd_make(op_case *c) {
    const op_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    int b, n;
    bwd_rows(c, &b, &n);
    /* elu+1 with the normaliser: inputs that keep the denominator away from eps (test_backward.c) */
    float lo = f->normalize ? -0.5f : -1.0f;
    op_in(c, "q", 4, OP_D(b, s->T, s->H, s->K), lo, 1);
    op_in(c, "k", 4, OP_D(b, s->T, s->H, s->K), lo, 1);
    op_in(c, "v", 4, OP_D(b, s->T, s->H, s->V), -1, 1);
    if (f->gate == OCLA_GATE_VECTOR) op_in(c, "g", 4, OP_D(b, s->T, s->H, s->K), -0.5f, -0.02f);
    else if (f->gate == OCLA_GATE_SCALAR) op_in(c, "g", 3, OP_D(b, s->T, s->H), -0.5f, -0.02f);
    else op_absent(c, "g");
    op_in(c, "initial_state", 4, OP_D(n, s->H, s->K, s->V), -1, 1);
    if (f->normalize) op_in(c, "initial_z", 3, OP_D(n, s->H, s->K), 0, 2);
    else op_absent(c, "initial_z");
    op_in(c, "d_o", 4, OP_D(b, s->T, s->H, s->V), -1, 1);
    op_in(c, "d_final_state", 4, OP_D(n, s->H, s->K, s->V), -1, 1);
    if (f->normalize) op_in(c, "d_final_z", 3, OP_D(n, s->H, s->K), -1, 1);
    else op_absent(c, "d_final_z");
    op_out(c, "dq", 4, OP_D(b, s->T, s->H, s->K));
    op_out(c, "dk", 4, OP_D(b, s->T, s->H, s->K));
    op_out(c, "dv", 4, OP_D(b, s->T, s->H, s->V));
    if (f->gate == OCLA_GATE_VECTOR) op_out(c, "dg", 4, OP_D(b, s->T, s->H, s->K));
    else if (f->gate == OCLA_GATE_SCALAR) op_out(c, "dg", 3, OP_D(b, s->T, s->H));
    else op_absent(c, "dg");
    op_out(c, "d_initial_state", 4, OP_D(n, s->H, s->K, s->V));
    if (f->normalize) op_out(c, "d_initial_z", 3, OP_D(n, s->H, s->K));
    else op_absent(c, "d_initial_z");
}

/* Retention's decays, the caller's own (not RetNet's log(1 - 2^(-5-h)), which the op uses when
 * params.fixed_log_decay is NULL: an op that ignored the caller's values would pass with those) */
static float fixed_decay(int h) { return -0.05f - 0.3f * (float)(h % 4); }
static float *fixed_decays(int H) {
    float *d = malloc((size_t)(H > 0 ? H : 1) * sizeof *d);
    for (int h = 0; d && h < H; h++) d[h] = fixed_decay(h);
    return d;
}

ocla_status op_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const op_bwd_cfg *f = c->op->cfg;
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.causal = 1, p.feature_map = f->fmap, p.normalize = f->normalize, p.gate = f->gate, p.chunk = c->s.chunk;
    float *decay = NULL;
    if (f->gate == OCLA_GATE_FIXED) {
        decay = fixed_decays(c->s.H);
        if (!decay) return OCLA_ERR_OUT_OF_MEMORY;
        p.fixed_log_decay = decay;
    }
    int32_t cu[8];
    if (f->packed) {
        p.n_seqs = op_packed_offsets(&c->s, cu), p.cu_seqlens = cu;
        if (p.n_seqs < 0) return free(decay), OCLA_ERR_UNSUPPORTED; /* a shape the entry has no room for */
    }
    op_attn_apply(c, &p);
    ocla_attn_grad_io io;
    memset(&io, 0, sizeof io);
    io.q = t[BQ], io.k = t[BK], io.v = t[BV], io.g = t[BG], io.initial_state = t[BH0], io.initial_z = t[BZ0];
    io.d_o = t[BDO], io.d_final_state = t[BDS], io.d_final_z = t[BDZ];
    io.dq = t[BDQ], io.dk = t[BDK], io.dv = t[BDV], io.dg = t[BDG], io.d_initial_state = t[BDH0];
    io.d_initial_z = t[BDZ0];
    ocla_status st = ocla_attention_backward(ctx, &p, &io);
    free(decay);
    return st;
}

void op_bwd_reference(const op_case *c, double *ref) {
    const op_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    int b, rows;
    bwd_rows(c, &b, &rows);
    const size_t nq = (size_t)b * s->T * s->H * s->K, nv = (size_t)b * s->T * s->H * s->V;
    const size_t ng = (size_t)b * s->T * s->H * (f->gate == OCLA_GATE_VECTOR ? s->K : 1);
    const size_t ns = (size_t)rows * s->H * s->K * s->V, nz = (size_t)rows * s->H * s->K;
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = f->gate, p.feature_map = f->fmap;
    op_attn_apply(c, &p);
    double *decay = op_attn_decays(&p, s->H);
    if (!decay) { /* the entry's own decays, what the device gets */
        decay = malloc((size_t)s->H * sizeof *decay);
        for (int h = 0; decay && h < s->H; h++) decay[h] = fixed_decay(h);
    }
    ref_attn_cfg rc = {s->B, s->T, s->H, s->K, s->V, (int)p.feature_map, (int)f->gate, f->normalize, (double)p.eps,
                       p.has_scale ? p.scale : (float)(1.0 / sqrt((double)s->K)), decay};
    ref_attn_in in = {op_to_double(op_host(c, BQ), nq), op_to_double(op_host(c, BK), nq),
                      op_to_double(op_host(c, BV), nv), op_to_double(op_host(c, BG), ng),
                      op_to_double(op_host(c, BH0), ns), op_to_double(op_host(c, BZ0), nz)};
    double *dout = op_to_double(op_host(c, BDO), nv), *dhT = op_to_double(op_host(c, BDS), ns),
           *dzT = op_to_double(op_host(c, BDZ), nz);
    ref_attn_grads g = {op_slice(c, ref, BDQ), op_slice(c, ref, BDK), op_slice(c, ref, BDV),
                        gated(f) ? op_slice(c, ref, BDG) : NULL, op_slice(c, ref, BDH0), op_slice(c, ref, BDZ0)};
    int32_t cu[8];
    const int n = f->packed ? op_packed_offsets(s, cu) : 0;
    if (!f->packed)
        ref_attn_backward(&rc, &in, dout, dhT, dzT, &g);
    for (int i = 0; i < n; i++) { /* packed: each sequence alone, a batch of one (n >= 1 where the call ran) */
        const size_t t0 = (size_t)cu[i], hk = (size_t)s->H * s->K, hv = (size_t)s->H * s->V, hkv = hk * s->V;
        const size_t gw = f->gate == OCLA_GATE_VECTOR ? hk : (size_t)s->H;
        ref_attn_cfg ri = rc;
        ri.B = 1, ri.T = cu[i + 1] - cu[i];
        ref_attn_in ii = {in.q + t0 * hk, in.k + t0 * hk, in.v + t0 * hv, in.g ? in.g + t0 * gw : NULL,
                          in.h0 ? in.h0 + i * hkv : NULL, in.z0 ? in.z0 + i * hk : NULL};
        ref_attn_grads gi = {g.dq + t0 * hk, g.dk + t0 * hk, g.dv + t0 * hv, g.dg ? g.dg + t0 * gw : NULL,
                             g.dh0 ? g.dh0 + i * hkv : NULL, g.dz0 ? g.dz0 + i * hk : NULL};
        ref_attn_backward(&ri, &ii, dout + t0 * hv, dhT ? dhT + i * hkv : NULL, dzT ? dzT + i * hk : NULL, &gi);
    }
    free(in.q), free(in.k), free(in.v), free(in.g), free(in.h0), free(in.z0);
    free(dout), free(dhT), free(dzT), free(decay);
}

/* ocla-bench's convention for the backward: 2x the forward's flops (a forward+backward is 3x), and
 * q, k, v, g, d_o read, dq, dk, dv, dg written. */
void op_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    double bth = (double)s->B * s->T * s->H, K = s->K, V = s->V, C = s->chunk ? s->chunk : 64;
    *flops = 2.0 * bth * (2.0 * C * (K + V) + 4.0 * K * V);
    *bytes = 4.0 * (bth * (4 * K + 4 * V + 2 * K) + 2.0 * s->B * s->H * K * V);
}

/* ---- the softmax attention backward (ocla_softmax_backward): o is an input, the forward's output
 * from the fp64 reference rounded to fp32 (what a caller's forward gives, within 1e-6) ---- */
enum { SQ, SK, SV, SO, SDO, SDQ, SDK, SDV };

static ref_sm_shape sm_shape(const op_case *c) {
    const op_sm_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    return (ref_sm_shape){s->B, s->T, s->T, s->H, s->K, s->V, f->causal, 1.0 / sqrt((double)s->K)};
}

void op_sm_bwd_make(op_case *c) {
    const op_shape *s = &c->s;
    op_in(c, "q", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "k", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    const int io = op_in(c, "o", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_in(c, "d_o", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_out(c, "dq", 4, OP_D(s->B, s->T, s->H, s->K));
    op_out(c, "dk", 4, OP_D(s->B, s->T, s->H, s->K));
    op_out(c, "dv", 4, OP_D(s->B, s->T, s->H, s->V));
    if (c->bad || io < 0 || !c->a[io].host) return;
    const size_t nq = (size_t)s->B * s->T * s->H * s->K, nv = (size_t)s->B * s->T * s->H * s->V;
    double *o = malloc(nv * sizeof *o), *dq = malloc(nq * sizeof *dq), *dk = malloc(nq * sizeof *dk);
    double *dv = malloc(nv * sizeof *dv);
    if (o && dq && dk && dv) {
        const ref_sm_shape rs = sm_shape(c);
        ref_softmax_backward(&rs, op_host(c, SQ), op_host(c, SK), op_host(c, SV), op_host(c, SDO), o, dq, dk, dv);
        for (size_t i = 0; i < nv; i++) c->a[io].host[i] = (float)o[i];
    }
    free(o), free(dq), free(dk), free(dv);
}

ocla_status op_sm_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const op_sm_bwd_cfg *f = c->op->cfg;
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = f->causal, p.block = c->s.chunk;
    const ocla_softmax_grad_io io = {t[SQ], t[SK], t[SV], t[SO], t[SDO], t[SDQ], t[SDK], t[SDV]};
    return ocla_softmax_backward(ctx, &p, &io);
}

void op_sm_bwd_reference(const op_case *c, double *ref) {
    const size_t nv = (size_t)c->s.B * c->s.T * c->s.H * c->s.V;
    double *o = malloc((nv ? nv : 1) * sizeof *o);
    const ref_sm_shape rs = sm_shape(c);
    ref_softmax_backward(&rs, op_host(c, SQ), op_host(c, SK), op_host(c, SV), op_host(c, SDO), o, op_slice(c, ref, SDQ),
                         op_slice(c, ref, SDK), op_slice(c, ref, SDV));
    free(o);
}

/* The backward's T x T products (the logsumexp pass QK^T, then QK^T, dO V^T, dS K for dq and QK^T,
 * dO V^T, dS^T Q, P^T dO for dk, dv: 5K + 3V multiply-adds per pair, half the pairs when causal);
 * q, k, v, o, d_o read, dq, dk, dv written. */
void op_sm_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double bh = (double)s->B * s->H, T = s->T;
    *flops = 2.0 * bh * T * T * (5.0 * s->K + 3.0 * s->V);
    *bytes = 4.0 * bh * T * (4.0 * s->K + 4.0 * s->V);
}
void op_sm_bwd_cost_causal(const op_shape *s, double *flops, double *bytes) {
    op_sm_bwd_cost(s, flops, bytes);
    *flops *= 0.5;
}

/* ---- the Linformer backward (ocla_linformer_backward): E, F as the forward entries make them
 * (KEY_VALUE: F absent), o the fp64 forward rounded to fp32; outputs dq, dk, dv, dE, dF (absent with
 * KEY_VALUE, whose dE holds both terms) ---- */
enum { LQ, LK, LV, LE, LF, LO, LDO, LDQ, LDK, LDV, LDE, LDF };

static int lf_n(const op_shape *s) { return s->N >= s->T ? s->N : s->T; }
static int lf_shared(const op_lf_bwd_cfg *f) { return f->sharing == OCLA_LINFORMER_KEY_VALUE || f->sharing == OCLA_LINFORMER_LAYERWISE; }

void op_lf_bwd_make(op_case *c) {
    const op_lf_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int n = lf_n(s), ph = f->sharing == OCLA_LINFORMER_NONE, shared = lf_shared(f);
    const int64_t *ed = ph ? OP_D(s->H, s->P, n) : OP_D(s->P, n);
    op_in(c, "q", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "k", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_in(c, "E", ph ? 3 : 2, ed, -0.2f, 0.2f);
    if (shared) op_absent(c, "F");
    else op_in(c, "F", ph ? 3 : 2, ed, -0.2f, 0.2f);
    const int io = op_in(c, "o", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_in(c, "d_o", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_out(c, "dq", 4, OP_D(s->B, s->T, s->H, s->K));
    op_out(c, "dk", 4, OP_D(s->B, s->T, s->H, s->K));
    op_out(c, "dv", 4, OP_D(s->B, s->T, s->H, s->V));
    op_out(c, "dE", ph ? 3 : 2, ed);
    if (shared) op_absent(c, "dF");
    else op_out(c, "dF", ph ? 3 : 2, ed);
    if (c->bad || io < 0 || !c->a[io].host) return;
    const size_t nv = (size_t)s->B * s->T * s->H * s->V;
    double *o = malloc(nv * sizeof *o);
    if (!o) return;
    ref_linformer(s->B, s->T, s->H, s->K, s->V, s->P, n, ph, 1.0 / sqrt((double)s->K), op_host(c, LE),
                  op_host(c, shared ? LE : LF), op_host(c, LQ), op_host(c, LK), op_host(c, LV), o);
    for (size_t i = 0; i < nv; i++) c->a[io].host[i] = (float)o[i];
    free(o);
}

ocla_status op_lf_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const op_lf_bwd_cfg *f = c->op->cfg;
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    p.block = c->s.chunk, p.sharing = f->sharing;
    const ocla_linformer_grad_io io = {t[LQ], t[LK], t[LV], t[LE], t[LF], t[LO], t[LDO], t[LDQ], t[LDK], t[LDV], t[LDE], t[LDF]};
    return ocla_linformer_backward(ctx, &p, &io);
}

void op_lf_bwd_reference(const op_case *c, double *ref) {
    const op_lf_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int n = lf_n(s), ph = f->sharing == OCLA_LINFORMER_NONE, shared = lf_shared(f);
    const size_t ne = (size_t)(ph ? s->H : 1) * s->P * n;
    double *dF = shared ? malloc(ne * sizeof *dF) : op_slice(c, ref, LDF), *dE = op_slice(c, ref, LDE);
    const ref_lf_shape rs = {s->B, s->T, s->H, s->K, s->V, s->P, n, ph, 1.0 / sqrt((double)s->K)};
    ref_linformer_backward(&rs, op_host(c, LE), op_host(c, shared ? LE : LF), op_host(c, LQ), op_host(c, LK),
                           op_host(c, LV), op_host(c, LDO), op_slice(c, ref, LDQ), op_slice(c, ref, LDK),
                           op_slice(c, ref, LDV), dE, dF);
    if (shared) {
        for (size_t i = 0; dF && i < ne; i++) dE[i] += dF[i]; /* E projects keys and values */
        free(dF);
    }
}

/* The projections again, the softmax backward over kp rows (as op_sm_bwd_cost with T x kp pairs) and
 * the four projection-gradient GEMMs (2 T kp (K + V) each pair); inputs read, gradients written. */
void op_lf_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double bh = (double)s->B * s->H, T = s->T, P = s->P, KV = s->K + s->V;
    *flops = bh * (2.0 * T * P * KV * 3.0 + 2.0 * T * P * (5.0 * s->K + 3.0 * s->V));
    *bytes = 4.0 * (bh * T * (4.0 * s->K + 4.0 * s->V) + 4.0 * P * lf_n(s));
}

/* ---- the FLASH backward (ocla_flash_backward), one entry per mode and normaliser; fp64 reference
 * tests/ref/ref_flash_grad.h. S = K, E = V, C = chunk; the relative bias and its gradient where the
 * shape gives a chunk (its length is 2C-1) ---- */
enum { FQQ, FKQ, FQL, FKL, FV, FBIAS, FDO, FDQQ, FDKQ, FDQL, FDKL, FDV, FDBIAS };

void op_flash_bwd_make(op_case *c) {
    const op_shape *s = &c->s;
    static const char *const in[4] = {"qq", "kq", "ql", "kl"}, *const out[4] = {"dqq", "dkq", "dql", "dkl"};
    for (int i = 0; i < 4; i++) op_in(c, in[i], 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    if (s->chunk > 0) op_in(c, "rel_bias", 2, OP_D(s->H, 2 * s->chunk - 1), -0.5f, 0.5f);
    else op_absent(c, "rel_bias");
    op_in(c, "d_o", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    for (int i = 0; i < 4; i++) op_out(c, out[i], 4, OP_D(s->B, s->T, s->H, s->K));
    op_out(c, "dv", 4, OP_D(s->B, s->T, s->H, s->V));
    if (s->chunk > 0) op_out(c, "d_rel_bias", 2, OP_D(s->H, 2 * s->chunk - 1));
    else op_absent(c, "d_rel_bias");
}

ocla_status op_flash_bwd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const op_flash_bwd_cfg *f = c->op->cfg;
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.causal = f->causal, p.chunk = c->s.chunk, p.rel_bias = t[FBIAS];
    p.lin_norm = f->lin_mean ? OCLA_FLASH_LIN_MEAN : OCLA_FLASH_LIN_CHUNK;
    const ocla_flash_grad_io io = {t[FQQ],  t[FKQ],  t[FQL],  t[FKL], t[FV], t[FDO],
                                   t[FDQQ], t[FDKQ], t[FDQL], t[FDKL], t[FDV], t[FDBIAS]};
    return ocla_flash_backward(ctx, &p, &io);
}

void op_flash_bwd_reference(const op_case *c, double *ref) {
    const op_flash_bwd_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int C = s->chunk;
    const size_t ns = (size_t)s->B * s->T * s->H * s->K, ne = (size_t)s->B * s->T * s->H * s->V;
    const ref_flash_cfg r = {s->B, s->T, s->H, s->K, s->V, C, f->causal, 1.0 / C, 1.0, 1.0, op_host(c, FBIAS),
                             f->lin_mean, f->causal ? 1.0 / C : 1.0 / s->T, 0, 10000.0, 0};
    double *x[6];
    for (int i = 0; i < 6; i++) x[i] = op_to_double(op_host(c, i == 5 ? FDO : i), i < 4 ? ns : ne);
    const ref_flash_grads g = {op_slice(c, ref, FDQQ), op_slice(c, ref, FDKQ), op_slice(c, ref, FDQL),
                               op_slice(c, ref, FDKL), op_slice(c, ref, FDV),  op_slice(c, ref, FDBIAS)};
    ref_flash_backward(&r, x[0], x[1], x[2], x[3], x[4], x[5], &g);
    for (int i = 0; i < 6; i++) free(x[i]);
}

/* ocla-bench's convention for the backward: 2x the forward's flops; qq, kq, ql, kl, v, d_o read and
 * their five gradients written. */
void op_flash_bwd_cost(const op_shape *s, double *flops, double *bytes) {
    const double bth = (double)s->B * s->T * s->H, S = s->K, E = s->V, C = s->chunk ? s->chunk : 256;
    *flops = 2.0 * bth * (2.0 * C * (S + E) + 4.0 * S * E);
    *bytes = 4.0 * bth * (8 * S + 3 * E);
}
