/* SPDX-License-Identifier: MIT */
/* ocla-bench methods run through the op table (tests/op_table.h): FLASH, Linformer and the layers
 * (GLA, GAU, multi-head linear / softmax / Linformer). The forward is the table entry's own call on
 * the entry's inputs (its make fills them: the value ranges the accuracy tests use) at the bench's
 * shape. Forward+backward adds either the method's public backward on the forward's own tensors and
 * output, with a pseudo-random dL/dout and a gradient tensor for every input (backward, a function
 * below), or the op table's backward entry on a case of its own at the same shape (bwd_entry: the
 * layer backwards, which recompute their forward). A method with neither (or whose bwd_entry is not
 * in this build's table) has forward+backward rows saying "backward not available".
 * Adding a method is one row of METHODS below. Public API only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ocla/ocla.h"

typedef ocla_status (*backward_fn)(ocla_context *ctx, const bench_tpoint *p);

/* Which sizes the method's config column shows (bench_tpoint_config). */
enum { CFG_SE = 1, CFG_K = 2, CFG_D = 4, CFG_R = 8, CFG_GAU = 16 };

struct bench_tmethod {
    const char *name;
    const char *entry;    /* the op table's forward entry */
    int layer;            /* on [B,T,d] with d = H*D: the layer shapes of the sweep */
    ocla_op_kind plan_op; /* whose chunk the scheduler picks (and --chunks all lists); OCLA_OP_COUNT: the op's own */
    int config;           /* CFG_* */
    backward_fn backward; /* on the forward's tensors, or NULL */
    const char *bwd_entry; /* else the op table's backward entry, or NULL */
};

/* ---- backward calls on a point's forward tensors (p->ft.t in the entry's array order) ---- */
/* flash_causal: qq, kq, ql, kl, v, o; ocla_flash_params_defaults with the point's chunk, as its call */
static ocla_status flash_backward(ocla_context *ctx, const bench_tpoint *p) {
    ocla_tensor *const *t = p->ft.t, *const *g = p->grad;
    ocla_flash_params fp;
    ocla_flash_params_defaults(&fp);
    fp.chunk = p->c->s.chunk;
    const ocla_flash_grad_io io = {t[0], t[1], t[2], t[3], t[4], p->d_out, g[0], g[1], g[2], g[3], g[4], NULL};
    return ocla_flash_backward(ctx, &fp, &io);
}

/* linformer (HEADWISE, default scale): q, k, v, E, F, o */
static ocla_status linformer_backward(ocla_context *ctx, const bench_tpoint *p) {
    ocla_tensor *const *t = p->ft.t, *const *g = p->grad;
    ocla_linformer_params lp;
    ocla_linformer_params_defaults(&lp);
    lp.block = p->c->s.chunk;
    const ocla_linformer_grad_io io = {t[0], t[1], t[2], t[3], t[4], t[5], p->d_out, g[0], g[1], g[2], g[3], g[4]};
    return ocla_linformer_backward(ctx, &lp, &io);
}

static const bench_tmethod METHODS[] = {
    {"flash", "flash_causal", 0, OCLA_OP_FLASH_CHUNK, CFG_SE, flash_backward, NULL},
    {"linformer", "linformer", 0, OCLA_OP_COUNT, CFG_K, linformer_backward, NULL},
    {"gla_layer", "gla_layer", 1, OCLA_OP_COUNT, CFG_D | CFG_R, NULL, "gla_layer_backward"},
    {"gau_layer", "gau_layer", 1, OCLA_OP_COUNT, CFG_GAU, NULL, "gau_layer_backward"},
    {"mha_linear", "mha_linear_layer", 1, OCLA_OP_COUNT, CFG_D, NULL, "mha_linear_layer_backward"},
    {"mha_softmax", "mha_softmax_layer", 1, OCLA_OP_COUNT, CFG_D, NULL, "mha_softmax_layer_backward"},
    {"mha_linformer", "mha_linformer_layer", 1, OCLA_OP_COUNT, CFG_D | CFG_K, NULL, "mha_linformer_layer_backward"},
};
#define N_TMETHODS (int)(sizeof METHODS / sizeof METHODS[0])

int bench_tmethod_count(void) { return N_TMETHODS; }
const bench_tmethod *bench_tmethod_get(int i) { return i >= 0 && i < N_TMETHODS ? &METHODS[i] : NULL; }
const char *bench_tmethod_name(const bench_tmethod *m) { return m->name; }
int bench_tmethod_is_layer(const bench_tmethod *m) { return m->layer; }
int bench_tmethod_has_backward(const bench_tmethod *m) {
    return m->backward || (m->bwd_entry && op_find(m->bwd_entry));
}
ocla_op_kind bench_tmethod_plan_op(const bench_tmethod *m) { return m->plan_op; }

/* The entry's op_shape at the sweep's B,T,H,D (layers: d = H*D, heads of D) and the method's sizes. */
static void method_shape(const bench_tmethod *m, const bench_sizes *z, long B, long T, long H, long D, op_shape *s) {
    memset(s, 0, sizeof *s);
    s->B = (int)B, s->T = (int)T, s->H = (int)H, s->K = (int)D, s->V = (int)D;
    if (m->layer) s->D = (int)(H * D);
    if (m->config & CFG_K) { /* Linformer: kp projected rows of n = T columns, kp <= T */
        s->P = (int)(z->kp < T ? z->kp : T);
        s->N = (int)T;
    }
    if (m->config & CFG_R) s->P = (int)z->gla_rank;
    if (m->config & CFG_GAU) { /* one head; s = K, e = V */
        s->H = 1;
        s->K = (int)z->gau_s;
        s->V = (int)(z->gau_e > 0 ? z->gau_e : 2 * H * D);
    }
}

void bench_tpoint_destroy(bench_tpoint *p) {
    for (int i = 0; i < OP_MAX_ARRAYS; i++) ocla_tensor_destroy(p->grad[i]);
    ocla_tensor_destroy(p->d_out);
    op_tensors_destroy(&p->ft);
    op_tensors_destroy(&p->bt);
    op_case_free(p->c);
    op_case_free(p->bc);
    memset(p, 0, sizeof *p);
}

/* A pseudo-random dL/dout in [-1, 1) (a hash of the index: no state, the same every run). */
static ocla_status upload_d_out(ocla_context *ctx, ocla_tensor *t) {
    const size_t n = (size_t)ocla_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h) return OCLA_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i * 2654435761u + 0x9E3779B9u;
        x ^= x >> 15, x *= 0x2C1B3C6Du, x ^= x >> 12;
        h[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    ocla_status st = ocla_tensor_upload(ctx, t, h, n * sizeof *h);
    free(h);
    return st;
}

ocla_status bench_tpoint_create(ocla_context *ctx, const bench_tmethod *m, const bench_sizes *z, long B, long T,
                                long H, long D, int backward, bench_tpoint *p) {
    memset(p, 0, sizeof *p);
    p->m = m;
    p->out = -1;
    const op_entry *e = op_find(m->entry);
    if (!e) return OCLA_ERR_INVALID_ARGUMENT; /* a table entry renamed: the row says so */
    op_shape s;
    method_shape(m, z, B, T, H, D, &s);
    if (!(p->c = op_case_new(e, &s, 1))) return OCLA_ERR_OUT_OF_MEMORY;
    ocla_status st = op_tensors_create(ctx, p->c, &p->ft);
    for (int i = 0; i < p->c->n; i++)
        if (p->c->a[i].output) p->out = i;
    if (st == OCLA_SUCCESS && p->out < 0) st = OCLA_ERR_INVALID_ARGUMENT;
    if (st == OCLA_SUCCESS && backward && !m->backward && m->bwd_entry) { /* the table's backward entry */
        p->backward = 1;
        const op_entry *be = op_find(m->bwd_entry);
        if (!be) st = OCLA_ERR_UNSUPPORTED;
        else if (!(p->bc = op_case_new(be, &s, 2))) st = OCLA_ERR_OUT_OF_MEMORY;
        else st = op_tensors_create(ctx, p->bc, &p->bt);
    } else if (st == OCLA_SUCCESS && backward && m->backward) { /* a gradient per present input, dL/dout */
        p->backward = 1;
        for (int i = 0; i < p->c->n && st == OCLA_SUCCESS; i++) {
            const op_array *a = &p->c->a[i];
            if (a->ndim > 0 && (!a->output || i == p->out))
                st = ocla_tensor_create(ctx, OCLA_F32, a->ndim, a->dims, i == p->out ? &p->d_out : &p->grad[i]);
        }
        if (st == OCLA_SUCCESS) st = upload_d_out(ctx, p->d_out);
    }
    if (st != OCLA_SUCCESS) bench_tpoint_destroy(p);
    return st;
}

ocla_status bench_tpoint_run(ocla_context *ctx, bench_tpoint *p, int chunk) {
    p->c->s.chunk = chunk; /* the entries' calls read their chunk / block from the shape */
    ocla_status st = p->c->op->call(ctx, p->c, p->ft.t);
    if (st != OCLA_SUCCESS || !p->backward) return st;
    if (p->bc) {
        p->bc->s.chunk = chunk;
        return p->bc->op->call(ctx, p->bc, p->bt.t);
    }
    return p->m->backward(ctx, p);
}

/* Every value of t finite: 0, else -1 with the reason in why. */
static int finite_tensor(ocla_context *ctx, const ocla_tensor *t, const char *name, char *why, size_t n) {
    const size_t cnt = (size_t)ocla_tensor_numel(t);
    float *h = malloc(cnt * sizeof *h);
    if (!h) {
        snprintf(why, n, "check: out of host memory");
        return -1;
    }
    ocla_status st = ocla_tensor_download(ctx, t, h, cnt * sizeof *h);
    size_t bad = 0;
    for (size_t i = 0; st == OCLA_SUCCESS && i < cnt; i++) bad += !isfinite(h[i]);
    free(h);
    if (st != OCLA_SUCCESS) snprintf(why, n, "check: download %s: %s", name, ocla_status_string(st));
    else if (bad) snprintf(why, n, "%zu of %zu values of %s not finite", bad, cnt, name);
    return st != OCLA_SUCCESS || bad ? -1 : 0;
}

int bench_tpoint_check(ocla_context *ctx, const bench_tpoint *p, char *why, size_t n) {
    const op_case *c = p->c;
    if (finite_tensor(ctx, p->ft.t[p->out], c->a[p->out].name, why, n)) return -1;
    for (int i = 0; i < c->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%s", c->a[i].name);
        if (p->grad[i] && finite_tensor(ctx, p->grad[i], name, why, n)) return -1;
    }
    for (int i = 0; p->bc && i < p->bc->n; i++) /* the backward entry's outputs */
        if (p->bc->a[i].output && p->bt.t[i] && finite_tensor(ctx, p->bt.t[i], p->bc->a[i].name, why, n)) return -1;
    return 0;
}

/* The entry's cost model at the point's chunk; forward+backward nominally 3x the FLOPs and 2.5x the
 * bytes, the convention of the attention methods (bench.c). */
void bench_tpoint_cost(const bench_tpoint *p, int chunk, double *gflop, double *gbytes) {
    op_shape s = p->c->s;
    s.chunk = chunk;
    double f = 0, b = 0;
    if (p->c->op->cost) p->c->op->cost(&s, &f, &b);
    *gflop = f * (p->backward ? 3.0 : 1.0) * 1e-9;
    *gbytes = b * (p->backward ? 2.5 : 1.0) * 1e-9;
}

void bench_tmethod_config(const bench_tmethod *m, const bench_sizes *z, long T, long H, long D, char *buf, size_t n) {
    op_shape s;
    method_shape(m, z, 1, T, H, D, &s);
    size_t off = 0;
    buf[0] = 0;
#define CFG_PUT(...) \
    (off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s", off ? " " : ""), \
     off += (size_t)snprintf(buf + off, off < n ? n - off : 0, __VA_ARGS__))
    if (m->config & (CFG_D | CFG_GAU)) CFG_PUT("d=%d", s.D);
    if (m->config & CFG_SE) CFG_PUT("S=%d E=%d", s.K, s.V);
    if (m->config & CFG_GAU) CFG_PUT("e=%d s=%d", s.V, s.K);
    if (m->config & CFG_K) CFG_PUT("k=%d", s.P);
    if (m->config & CFG_R) CFG_PUT("R=%d", s.P);
#undef CFG_PUT
}
