/* SPDX-License-Identifier: MIT */
/* The op table (see op_table.h): the machinery (cases, op_run) and every entry except the attention
 * backward, which lives in op_table_grad.c (its fp64 reference, tests/ref/ref_grad.h, declares a
 * ref_attn_cfg of its own, so it cannot share a translation unit with tests/ref/ref_attention.h).
 *
 * To add an op: write make / call / reference / cost (or reuse a family's with a cfg) and add one
 * line to OP_TABLE at the end of this file. Every harness and the accuracy test pick it up. */
#include "op_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_table_impl.h"
#include "ref/ref_attention.h"
#include "ref/ref_gau.h"
#include "ref/ref_layer_grad.h"
#include "ref/ref_layers.h"
#include "ref/ref_layers_mha.h"

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                        */
/* ------------------------------------------------------------------------------------------ */
#define OP_MAX_NUMEL ((int64_t)1 << 28) /* per host array: the bench's largest shapes, and a bound for fuzzed ones */

static uint32_t xs(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    return *s = x;
}
static double unit(uint32_t *s) { return (xs(s) >> 8) * (1.0 / 16777216.0); }

/* Element count of dims, or -1 when a dim is <= 0 or the count is beyond OP_MAX_NUMEL. */
static int64_t numel(int ndim, const int64_t *dims) {
    if (ndim < 1 || ndim > 4) return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0 || dims[i] > OP_MAX_NUMEL || n > OP_MAX_NUMEL / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

static int add(op_case *c, const char *name, int ndim, const int64_t *dims, int output) {
    if (c->n >= OP_MAX_ARRAYS) { /* a table bug: op_case_new refuses the case */
        c->bad = 2;
        return -1;
    }
    op_array *a = &c->a[c->n];
    memset(a, 0, sizeof *a);
    a->name = name, a->ndim = ndim, a->output = output, a->stage = c->stage;
    for (int i = 0; i < ndim && i < 4; i++) a->dims[i] = dims[i];
    return c->n++;
}

/* Host values of array i: uniform in [lo, hi) or normal(sd) when normal_sd > 0. */
static void fill(op_case *c, int i, float lo, float hi, float normal_sd) {
    op_array *a = &c->a[i];
    int64_t n = numel(a->ndim, a->dims);
    if (n < 0) {
        if (!c->bad) c->bad = 1;
        return;
    }
    a->host = malloc((size_t)n * sizeof *a->host);
    if (!a->host) {
        c->bad = 3; /* out of memory */
        return;
    }
    uint32_t s = c->seed * 2654435761u + (uint32_t)(i + 1) * 40503u + 99u;
    if (!s) s = 1;
    for (int64_t j = 0; j < n; j++) {
        if (normal_sd > 0) {
            double u1 = ((xs(&s) >> 8) + 1.0) / 16777217.0, u2 = unit(&s);
            a->host[j] = (float)(normal_sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        } else {
            a->host[j] = lo + (hi - lo) * (float)unit(&s);
        }
    }
}

int op_in(op_case *c, const char *name, int ndim, const int64_t *dims, float lo, float hi) {
    int i = add(c, name, ndim, dims, 0);
    if (i >= 0) fill(c, i, lo, hi, 0);
    return i;
}
int op_in_normal(op_case *c, const char *name, int ndim, const int64_t *dims, float sd) {
    int i = add(c, name, ndim, dims, 0);
    if (i >= 0) fill(c, i, 0, 0, sd);
    return i;
}
void op_next_call(op_case *c) { c->stage++; }
int op_absent(op_case *c, const char *name) { return add(c, name, 0, NULL, 0); }
int op_out(op_case *c, const char *name, int ndim, const int64_t *dims) {
    int i = add(c, name, ndim, dims, 1);
    if (i < 0) return i;
    int64_t n = numel(ndim, dims);
    if (n < 0 && !c->bad) c->bad = 1;
    if (n > 0) c->n_out += (size_t)n;
    return i;
}
int op_inout(op_case *c, const char *name, int ndim, const int64_t *dims, float lo, float hi) {
    int i = op_out(c, name, ndim, dims);
    if (i >= 0) fill(c, i, lo, hi, 0);
    return i;
}

op_case *op_case_new(const op_entry *e, const op_shape *s, uint32_t seed) {
    if (!e) return NULL;
    op_case *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->op = e, c->s = s ? *s : e->shapes[0], c->seed = seed;
    e->make(c);
    if (c->bad >= 2) { /* out of memory or a table bug */
        op_case_free(c);
        return NULL;
    }
    return c;
}

void op_case_free(op_case *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->a[i].host);
    free(c);
}

op_case **op_cases_default(uint32_t seed) {
    const int n = op_count();
    op_case **cs = calloc((size_t)n + 1, sizeof *cs);
    for (int i = 0; cs && i < n; i++)
        if (!(cs[i] = op_case_new(op_get(i), NULL, seed))) {
            op_cases_free(cs);
            return NULL;
        }
    return cs;
}

void op_cases_free(op_case **cs) {
    for (int i = 0; cs && cs[i]; i++) op_case_free(cs[i]);
    free(cs);
}

long op_output_span(const op_case *c, int i, size_t *off) {
    size_t o = 0;
    for (int j = 0; j < c->n; j++) {
        if (!c->a[j].output || !c->a[j].ndim) continue;
        int64_t n = numel(c->a[j].ndim, c->a[j].dims);
        if (n < 0) return -1;
        if (j == i) {
            if (off) *off = o;
            return (long)n;
        }
        o += (size_t)n;
    }
    return -1;
}

double *op_reference(const op_case *c) {
    if (c->bad || !c->op->reference || !c->n_out) return NULL;
    double *r = calloc(c->n_out, sizeof *r);
    if (r) c->op->reference(c, r);
    return r;
}

ocla_status op_run_reference(ocla_context *ctx, const op_case *c, float **out, double **ref) {
    *out = malloc((c->n_out ? c->n_out : 1) * sizeof **out), *ref = NULL;
    size_t n = 0;
    ocla_status st = *out ? op_run(ctx, c, *out, c->n_out, &n) : OCLA_ERR_OUT_OF_MEMORY;
    if (st == OCLA_SUCCESS && !(*ref = op_reference(c))) st = OCLA_ERR_OUT_OF_MEMORY;
    if (st != OCLA_SUCCESS) free(*out), *out = NULL;
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* op_run                                                                                       */
/* ------------------------------------------------------------------------------------------ */
/* Array i as a tensor of a half dtype: its values rounded (zeros where it has none). */
static ocla_status make_half_tensor(ocla_context *ctx, const op_case *c, int i, ocla_dtype dtype, ocla_tensor **t) {
    const op_array *a = &c->a[i];
    ocla_status st = ocla_tensor_create(ctx, dtype, a->ndim, a->dims, t);
    if (st != OCLA_SUCCESS || !a->host || c->bad) return st;
    const size_t n = (size_t)ocla_tensor_numel(*t);
    uint16_t *h = malloc(n * sizeof *h);
    if (!h) return OCLA_ERR_OUT_OF_MEMORY;
    st = ocla_convert_from_f32(dtype, a->host, h, n);
    if (st == OCLA_SUCCESS) st = ocla_tensor_upload(ctx, *t, h, n * sizeof *h);
    free(h);
    return st;
}

static ocla_status make_tensor(ocla_context *ctx, const op_case *c, int i, ocla_tensor **t, ocla_tensor **parent,
                               int *alias) {
    const op_array *a = &c->a[i];
    if (!a->ndim) return OCLA_SUCCESS; /* absent */
    int ndim = a->ndim, same = 1;
    int64_t dims[5] = {0};
    memcpy(dims, a->dims, sizeof a->dims);
    size_t off = 0;
    ocla_dtype dtype = OCLA_F32;
    const op_mutation *m = &c->mut;
    if (m->kind != OP_MUT_NONE && (m->index == i || (m->kind == OP_MUT_DIM && m->also == i + 1))) {
        switch (m->kind) {
        case OP_MUT_NULL: return OCLA_SUCCESS;
        case OP_MUT_FOREIGN: /* the same array, made on another context */
            if (!m->foreign) break;
            ctx = m->foreign;
            break;
        case OP_MUT_DIM: dims[(unsigned)m->axis % (unsigned)ndim] += m->delta, same = 0; break;
        case OP_MUT_NDIM:
            if (m->delta < 0 && ndim > 1) ndim--;
            else if (ndim < 4) dims[ndim++] = 1;
            same = 0;
            break;
        case OP_MUT_OFFSET: off = (size_t)(m->delta < 0 ? -(int64_t)m->delta : m->delta) % 4096; break;
        case OP_MUT_BCAST:
            for (int d = 0; d < ndim; d++)
                if (dims[d] > 1) {
                    int64_t strides[5], st1 = 1, n = numel(ndim, dims);
                    for (int e = ndim - 1; e >= 0; e--) strides[e] = st1, st1 *= dims[e];
                    strides[d] = 0;
                    if (n < 0) return OCLA_ERR_SHAPE;
                    ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 1, &n, &parent[i]);
                    if (st == OCLA_SUCCESS) st = ocla_tensor_view(ctx, parent[i], 0, ndim, dims, strides, &t[i]);
                    return st == OCLA_SUCCESS ? ocla_tensor_fill(ctx, parent[i], 0.0f) : st;
                }
            break;
        case OP_MUT_ALIAS:
            if (m->axis >= 0 && m->axis < i && t[m->axis] && m->delta == 1) {
                /* a view of array axis's memory with this array's dims (where it fits) */
                const int64_t n = numel(ndim, dims);
                if (n < 0 || n > ocla_tensor_numel(t[m->axis])) return OCLA_ERR_SHAPE;
                return ocla_tensor_view(ctx, t[m->axis], 0, ndim, dims, NULL, &t[i]);
            }
            if (m->axis >= 0 && m->axis < i && t[m->axis]) {
                t[i] = t[m->axis], alias[i] = 1;
                return OCLA_SUCCESS;
            }
            break;
        case OP_MUT_DTYPE: dtype = (ocla_dtype)m->delta; break;
        default: break;
        }
    }
    if (dtype != OCLA_F32) return make_half_tensor(ctx, c, i, dtype, &t[i]);
    ocla_status st;
    if (off) {
        int64_t n = numel(ndim, dims);
        if (n < 0) return OCLA_ERR_SHAPE; /* mutated dims out of the harness's range: nothing to ask */
        int64_t pn = n + (int64_t)off;
        st = ocla_tensor_create(ctx, OCLA_F32, 1, &pn, &parent[i]);
        if (st == OCLA_SUCCESS) st = ocla_tensor_view(ctx, parent[i], off, ndim, dims, NULL, &t[i]);
    } else {
        st = ocla_tensor_create(ctx, OCLA_F32, ndim, dims, &t[i]);
    }
    if (st != OCLA_SUCCESS) return st;
    size_t n = (size_t)ocla_tensor_numel(t[i]);
    if (same && a->host && !c->bad) return ocla_tensor_upload(ctx, t[i], a->host, n * sizeof(float));
    return ocla_tensor_fill(ctx, t[i], 0.0f); /* outputs start at zero: the result never depends on garbage */
}

ocla_status op_tensors_create(ocla_context *ctx, const op_case *c, op_tensors *ts) {
    memset(ts, 0, sizeof *ts);
    if (!c || c->bad >= 2) return OCLA_ERR_INVALID_ARGUMENT;
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i < c->n && st == OCLA_SUCCESS; i++) st = make_tensor(ctx, c, i, ts->t, ts->parent, ts->alias);
    if (st != OCLA_SUCCESS) op_tensors_destroy(ts);
    return st;
}

void op_tensors_destroy(op_tensors *ts) {
    for (int i = OP_MAX_ARRAYS - 1; i >= 0; i--) {
        if (!ts->alias[i]) ocla_tensor_destroy(ts->t[i]);
        ocla_tensor_destroy(ts->parent[i]);
    }
    memset(ts, 0, sizeof *ts);
}

ocla_status op_run(ocla_context *ctx, const op_case *c, float *out, size_t cap, size_t *n) {
    if (n) *n = 0;
    op_tensors ts;
    ocla_status st = op_tensors_create(ctx, c, &ts);
    if (st != OCLA_SUCCESS) return st;
    st = c->op->call(ctx, c, ts.t);
    size_t got = 0;
    for (int i = 0; i < c->n && st == OCLA_SUCCESS && out; i++) {
        if (!c->a[i].output || !ts.t[i]) continue;
        size_t m = (size_t)ocla_tensor_numel(ts.t[i]);
        if (got + m > cap) {
            st = OCLA_ERR_INVALID_ARGUMENT;
            break;
        }
        st = ocla_tensor_download(ctx, ts.t[i], out + got, m * sizeof(float));
        if (st == OCLA_SUCCESS) got += m;
    }
    if (n) *n = got;
    op_tensors_destroy(&ts);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers for the entries (op_table_impl.h)                                                    */
/* ------------------------------------------------------------------------------------------ */
const float *op_host(const op_case *c, int i) { return i < c->n && c->a[i].ndim ? c->a[i].host : NULL; }

double *op_slice(const op_case *c, double *ref, int i) {
    size_t off = 0;
    return op_output_span(c, i, &off) >= 0 ? ref + off : NULL;
}

double *op_to_double(const float *x, size_t n) {
    if (!x) return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

void op_attn_apply(const op_case *c, ocla_attn_params *p) {
    const op_attn_opts *o = c->attn;
    if (!o) return;
    if (o->has_scale) p->has_scale = 1, p->scale = o->scale;
    if (o->set_eps) p->eps = o->eps;
    if (o->set_fmap) p->feature_map = o->fmap;
    if (o->fixed_log_decay) p->fixed_log_decay = o->fixed_log_decay;
    if (o->chunk) p->chunk = o->chunk;
}

double *op_attn_decays(const ocla_attn_params *p, int H) {
    if (p->gate != OCLA_GATE_FIXED || !p->fixed_log_decay) return NULL;
    double *d = malloc((size_t)(H > 0 ? H : 1) * sizeof *d);
    for (int h = 0; d && h < H; h++) d[h] = p->fixed_log_decay[h];
    return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Linear attention, simple GLA, retention, GLA: ocla_attention_forward                         */
/* ------------------------------------------------------------------------------------------ */
typedef struct attn_cfg {
    ocla_gate_kind gate;
    ocla_attn_form form;
    int causal, normalize, with_state;
    ocla_feature_map fmap;
    int prepared; /* through ocla_attention_prepare / run (twice) / op_destroy */
} attn_cfg;
enum { AQ, AK, AV, AG, AS0, AZ0, AO, AS1, AZ1 };

static void attn_make(op_case *c) {
    const attn_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    /* with the normaliser, non-negative features keep the denominators away from 0 (well-posed) */
    float lo = f->normalize ? 0.0f : -1.0f;
    op_in(c, "q", 4, OP_D(s->B, s->T, s->H, s->K), lo, 1);
    op_in(c, "k", 4, OP_D(s->B, s->T, s->H, s->K), lo, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    if (f->gate == OCLA_GATE_VECTOR) op_in(c, "g", 4, OP_D(s->B, s->T, s->H, s->K), -0.5f, -0.01f);
    else if (f->gate == OCLA_GATE_SCALAR) op_in(c, "g", 3, OP_D(s->B, s->T, s->H), -0.5f, -0.01f);
    else op_absent(c, "g");
    if (f->with_state) op_in(c, "initial_state", 4, OP_D(s->B, s->H, s->K, s->V), -1, 1);
    else op_absent(c, "initial_state");
    if (f->with_state && f->normalize) op_in(c, "initial_z", 3, OP_D(s->B, s->H, s->K), 0, 2);
    else op_absent(c, "initial_z");
    op_out(c, "o", 4, OP_D(s->B, s->T, s->H, s->V));
    if (f->with_state) op_out(c, "final_state", 4, OP_D(s->B, s->H, s->K, s->V));
    else op_absent(c, "final_state");
    if (f->with_state && f->normalize) op_out(c, "final_z", 3, OP_D(s->B, s->H, s->K));
    else op_absent(c, "final_z");
}

static ocla_status attn_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const attn_cfg *f = c->op->cfg;
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = f->gate, p.form = f->form, p.causal = f->causal, p.normalize = f->normalize;
    p.feature_map = f->fmap, p.chunk = c->s.chunk;
    op_attn_apply(c, &p);
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = t[AQ], io.k = t[AK], io.v = t[AV], io.g = t[AG], io.initial_state = t[AS0], io.initial_z = t[AZ0];
    io.o = t[AO], io.final_state = t[AS1], io.final_z = t[AZ1];
    if (!f->prepared) return ocla_attention_forward(ctx, &p, &io);
    /* plan once on a template (tensors of the case's own dims, dense, made here), run many with the
     * harness's tensors: the second run must give the same outputs, and a broken tensor
     * (tests/test_args.c) meets ocla_attention_run's checks, not the prepare's */
    ocla_tensor *tp[AZ1 + 1] = {0};
    ocla_status st = OCLA_SUCCESS;
    for (int i = 0; i <= AZ1 && st == OCLA_SUCCESS; i++)
        if (c->a[i].ndim) st = ocla_tensor_create(ctx, OCLA_F32, c->a[i].ndim, c->a[i].dims, &tp[i]);
    ocla_attn_io tio = {tp[AQ], tp[AK], tp[AV], tp[AG], tp[AS0], tp[AZ0], tp[AO], tp[AS1], tp[AZ1]};
    ocla_attn_op *op = NULL;
    if (st == OCLA_SUCCESS) st = ocla_attention_prepare(ctx, &p, &tio, &op);
    if (st == OCLA_SUCCESS) st = ocla_attention_run(op, &io);
    if (st == OCLA_SUCCESS) st = ocla_attention_run(op, &io);
    ocla_attention_op_destroy(op);
    for (int i = 0; i <= AZ1; i++) ocla_tensor_destroy(tp[i]);
    return st;
}

static void attn_reference(const op_case *c, double *ref) {
    const attn_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = f->gate, p.feature_map = f->fmap;
    op_attn_apply(c, &p);
    double *decay = op_attn_decays(&p, s->H); /* NULL: RetNet's decays, as the op */
    ref_attn_cfg rc = {s->B, s->T, s->H, s->K, s->V, f->causal, p.has_scale ? p.scale : 1.0 / sqrt((double)s->K),
                       (int)p.feature_map, f->normalize, (double)p.eps, (int)f->gate, decay};
    ref_attn_recurrent(&rc, op_host(c, AQ), op_host(c, AK), op_host(c, AV), op_host(c, AG), op_host(c, AS0),
                       op_host(c, AZ0), op_slice(c, ref, AO), op_slice(c, ref, AS1), op_slice(c, ref, AZ1));
    free(decay);
}

/* ocla-bench's model (perf/bench.c): per token 2C(K+V) intra-chunk (scores, A.V) + 4KV (state update,
 * q.S); the recurrent and non-causal forms 4KV; q, k, v, o, gates and states moved once (per run:
 * a prepared entry's call runs twice). */
static void attn_cost(const op_shape *s, double *flops, double *bytes, const attn_cfg *f) {
    double bth = (double)s->B * s->T * s->H, K = s->K, V = s->V, C = s->chunk ? s->chunk : 64;
    int chunked = f->form == OCLA_FORM_CHUNKED && f->causal;
    *flops = bth * ((chunked ? 2.0 * C * (K + V) : 0) + 4.0 * K * V + (f->normalize ? 4.0 * K : 0));
    double g = f->gate == OCLA_GATE_VECTOR ? bth * K : f->gate == OCLA_GATE_SCALAR ? bth : 0;
    double st = f->with_state ? 2.0 * s->B * s->H * K * V : 0;
    *bytes = 4.0 * (bth * (2 * K + 2 * V) + g + st);
    if (f->prepared) *flops *= 2, *bytes *= 2; /* the call runs the prepared op twice */
}
#define ATTN_ENTRY(fn, ...)                                                      \
    static const attn_cfg fn##_cfg = {__VA_ARGS__};                              \
    static void fn##_cost(const op_shape *s, double *flops, double *bytes) {     \
        attn_cost(s, flops, bytes, &fn##_cfg);                                   \
    }
/*         name          gate              form                causal norm state fmap prepared */
ATTN_ENTRY(la_chunk, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_ELU1, 0)
ATTN_ENTRY(la_rec, OCLA_GATE_NONE, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_ELU1, 0)
ATTN_ENTRY(la_norm, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 1, 1, 1, OCLA_FEATURE_ELU1, 0)
ATTN_ENTRY(la_norm_rec, OCLA_GATE_NONE, OCLA_FORM_RECURRENT, 1, 1, 1, OCLA_FEATURE_ELU1, 0)
ATTN_ENTRY(la_noncausal, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 0, 1, 0, OCLA_FEATURE_RELU, 0)
ATTN_ENTRY(la_noncausal_raw, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 0, 0, 0, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(sgla_chunk, OCLA_GATE_SCALAR, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(sgla_rec, OCLA_GATE_SCALAR, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(ret_chunk, OCLA_GATE_FIXED, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(ret_rec, OCLA_GATE_FIXED, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(gla_chunk, OCLA_GATE_VECTOR, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(gla_rec, OCLA_GATE_VECTOR, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY, 0)
ATTN_ENTRY(gla_norm, OCLA_GATE_VECTOR, OCLA_FORM_CHUNKED, 1, 1, 1, OCLA_FEATURE_ELU1, 0)
ATTN_ENTRY(la_prepared, OCLA_GATE_NONE, OCLA_FORM_CHUNKED, 1, 0, 1, OCLA_FEATURE_ELU1, 1)
ATTN_ENTRY(gla_rec_prepared, OCLA_GATE_VECTOR, OCLA_FORM_RECURRENT, 1, 0, 1, OCLA_FEATURE_IDENTITY, 1)

/* ------------------------------------------------------------------------------------------ */
/* State slots (params.state_slots), over packed sequences (params.cu_seqlens, chunked) or batch  */
/* rows (the recurrent form): ocla_attention_forward                                            */
/* ------------------------------------------------------------------------------------------ */
/* Packed: N = min(B + 1, T, 6) sequences in [1,T,H,D] with growing lengths (cu[i] = i + (T - N)
 * i^2 / N^2). Rows: N = B rows of [B,T,H,D] (row i = tokens [i T, (i + 1) T) of the same memory).
 * Row or sequence i's states in row N - 1 - i of the state pools [N,H,K,V] / [N,H,K]. The
 * reference runs each alone (the fp64 recurrence). Arrays in attn_make's order. */
enum { PACK_MAX = 6 };
typedef struct packed_cfg {
    ocla_gate_kind gate;
    int normalize;
    ocla_feature_map fmap;
    int packed; /* 1: cu_seqlens, chunked; 0: B rows, recurrent */
} packed_cfg;

static int packed_offsets(const op_shape *s, const packed_cfg *f, int32_t *cu, int32_t *slots) {
    int n = !f->packed ? s->B : s->B + 1 < s->T ? s->B + 1 : s->T;
    if (n > PACK_MAX && f->packed) n = PACK_MAX;
    if (n < 1) n = 1; /* T = 0 (refused by the op): one empty sequence */
    if (n > PACK_MAX) return -1; /* more rows than the table's arrays (the fuzzer's shapes) */
    for (int i = 0; i <= n; i++)
        cu[i] = !f->packed ? i * s->T : i + (int32_t)((int64_t)(s->T - n) * i * i / ((int64_t)n * n));
    for (int i = 0; i < n; i++) slots[i] = n - 1 - i;
    return n;
}

int op_packed_offsets(const op_shape *s, int32_t *cu) {
    static const packed_cfg packed = {OCLA_GATE_NONE, 0, OCLA_FEATURE_IDENTITY, 1};
    int32_t slots[PACK_MAX];
    return packed_offsets(s, &packed, cu, slots);
}

static void packed_make(op_case *c) {
    const packed_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    int32_t cu[PACK_MAX + 1], slots[PACK_MAX];
    const int n = packed_offsets(s, f, cu, slots) < 0 ? 1 : packed_offsets(s, f, cu, slots); /* -1: the call refuses */
    const float lo = f->normalize ? 0.0f : -1.0f; /* non-negative features: denominators away from 0 */
    const int b = f->packed ? 1 : s->B;
    op_in(c, "q", 4, OP_D(b, s->T, s->H, s->K), lo, 1);
    op_in(c, "k", 4, OP_D(b, s->T, s->H, s->K), lo, 1);
    op_in(c, "v", 4, OP_D(b, s->T, s->H, s->V), -1, 1);
    if (f->gate == OCLA_GATE_VECTOR) op_in(c, "g", 4, OP_D(b, s->T, s->H, s->K), -0.5f, -0.01f);
    else if (f->gate == OCLA_GATE_SCALAR) op_in(c, "g", 3, OP_D(b, s->T, s->H), -0.5f, -0.01f);
    else op_absent(c, "g");
    op_in(c, "initial_state", 4, OP_D(n, s->H, s->K, s->V), -1, 1);
    if (f->normalize) op_in(c, "initial_z", 3, OP_D(n, s->H, s->K), 0, 2);
    else op_absent(c, "initial_z");
    op_out(c, "o", 4, OP_D(b, s->T, s->H, s->V));
    op_out(c, "final_state", 4, OP_D(n, s->H, s->K, s->V));
    if (f->normalize) op_out(c, "final_z", 3, OP_D(n, s->H, s->K));
    else op_absent(c, "final_z");
}

static ocla_status packed_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const packed_cfg *f = c->op->cfg;
    int32_t cu[PACK_MAX + 1], slots[PACK_MAX];
    const int n = packed_offsets(&c->s, f, cu, slots);
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = f->gate, p.normalize = f->normalize, p.feature_map = f->fmap, p.chunk = c->s.chunk;
    if (n < 0) return OCLA_ERR_UNSUPPORTED; /* a shape the entry has no room for */
    p.state_slots = slots, p.n_state_slots = n;
    if (f->packed) p.cu_seqlens = cu, p.n_seqs = n;
    else p.form = OCLA_FORM_RECURRENT;
    op_attn_apply(c, &p);
    const ocla_attn_io io = {t[AQ], t[AK], t[AV], t[AG], t[AS0], t[AZ0], t[AO], t[AS1], t[AZ1]};
    return ocla_attention_forward(ctx, &p, &io);
}

static void packed_reference(const op_case *c, double *ref) {
    const packed_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    int32_t cu[PACK_MAX + 1], slots[PACK_MAX];
    const int n = packed_offsets(s, f, cu, slots);
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = f->gate, p.feature_map = f->fmap;
    op_attn_apply(c, &p);
    double *decay = op_attn_decays(&p, s->H);
    const size_t hk = (size_t)s->H * s->K, hv = (size_t)s->H * s->V, hkv = hk * s->V;
    const size_t gw = f->gate == OCLA_GATE_VECTOR ? hk : (size_t)s->H; /* gate values per token */
    const float *g = op_host(c, AG), *z0 = op_host(c, AZ0);
    double *z1 = op_slice(c, ref, AZ1);
    for (int i = 0; i < n; i++) { /* n >= 1: the reference runs only where the call succeeded */
        const size_t t0 = (size_t)cu[i], r = (size_t)slots[i];
        ref_attn_cfg rc = {1, cu[i + 1] - cu[i], s->H, s->K, s->V, 1, p.has_scale ? p.scale : 1.0 / sqrt((double)s->K),
                           (int)p.feature_map, f->normalize, (double)p.eps, (int)f->gate, decay};
        ref_attn_recurrent(&rc, op_host(c, AQ) + t0 * hk, op_host(c, AK) + t0 * hk, op_host(c, AV) + t0 * hv,
                           g ? g + t0 * gw : NULL, op_host(c, AS0) + r * hkv, z0 ? z0 + r * hk : NULL,
                           op_slice(c, ref, AO) + t0 * hv, op_slice(c, ref, AS1) + r * hkv, z1 ? z1 + r * hk : NULL);
    }
    free(decay);
}

#define PACKED_ENTRY(fn, gate, norm, fmap, packed)                                                   \
    static const packed_cfg fn##_cfg = {gate, norm, fmap, packed};                                   \
    static void fn##_cost(const op_shape *s, double *flops, double *bytes) {                         \
        const attn_cfg a = {gate, packed ? OCLA_FORM_CHUNKED : OCLA_FORM_RECURRENT, 1, norm, 1, fmap, 0}; \
        attn_cost(s, flops, bytes, &a);                                                               \
    }
PACKED_ENTRY(gla_packed, OCLA_GATE_VECTOR, 0, OCLA_FEATURE_IDENTITY, 1)
PACKED_ENTRY(la_norm_packed, OCLA_GATE_NONE, 1, OCLA_FEATURE_ELU1, 1)
PACKED_ENTRY(ret_packed, OCLA_GATE_FIXED, 0, OCLA_FEATURE_IDENTITY, 1)
PACKED_ENTRY(gla_rec_slots, OCLA_GATE_VECTOR, 0, OCLA_FEATURE_IDENTITY, 0)
PACKED_ENTRY(sgla_norm_rec_slots, OCLA_GATE_SCALAR, 1, OCLA_FEATURE_ELU1, 0)

/* ------------------------------------------------------------------------------------------ */
/* GEMM (ocla_gemm, CLBlast)                                                                    */
/* ------------------------------------------------------------------------------------------ */
typedef struct gemm_cfg {
    int batched, trans_b;
    float alpha, beta;
} gemm_cfg;
static const gemm_cfg gemm_plain = {0, 0, 1.0f, 0.0f}, gemm_batched = {1, 1, 0.5f, 1.0f};

static void gemm_make(op_case *c) {
    const gemm_cfg *f = c->op->cfg;
    const op_shape *s = &c->s; /* C[B][T x V] = A[B][T x K] B[B][K x V] */
    if (f->batched) {
        op_in(c, "a", 3, OP_D(s->B, s->T, s->K), -1, 1);
        op_in(c, "b", 3, f->trans_b ? OP_D(s->B, s->V, s->K) : OP_D(s->B, s->K, s->V), -1, 1);
        op_inout(c, "c", 3, OP_D(s->B, s->T, s->V), -1, 1);
    } else {
        op_in(c, "a", 2, OP_D(s->T, s->K), -1, 1);
        op_in(c, "b", 2, f->trans_b ? OP_D(s->V, s->K) : OP_D(s->K, s->V), -1, 1);
        op_out(c, "c", 2, OP_D(s->T, s->V));
    }
}
static ocla_status gemm_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const gemm_cfg *f = c->op->cfg;
    ocla_gemm_desc d;
    ocla_gemm_desc_defaults(&d);
    d.m = (size_t)c->s.T, d.n = (size_t)c->s.V, d.k = (size_t)c->s.K, d.batch = f->batched ? (size_t)c->s.B : 1;
    d.trans_b = f->trans_b, d.alpha = f->alpha, d.beta = f->beta;
    return ocla_gemm(ctx, &d, t[0], t[1], t[2]);
}
static void gemm_reference(const op_case *c, double *ref) {
    const gemm_cfg *f = c->op->cfg;
    const int nb = f->batched ? c->s.B : 1, M = c->s.T, N = c->s.V, K = c->s.K;
    const float *a = op_host(c, 0), *b = op_host(c, 1), *c0 = op_host(c, 2);
    for (int z = 0; z < nb; z++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int p = 0; p < K; p++) {
                    double bv = f->trans_b ? b[((size_t)z * N + j) * K + p] : b[((size_t)z * K + p) * N + j];
                    acc += (double)a[((size_t)z * M + i) * K + p] * bv;
                }
                size_t o = ((size_t)z * M + i) * N + j;
                ref[o] = f->alpha * acc + (c0 ? f->beta * (double)c0[o] : 0.0);
            }
}
static void gemm_cost(const op_shape *s, double *flops, double *bytes) {
    double b = s->B > 0 ? s->B : 1;
    *flops = 2.0 * b * s->T * s->V * s->K;
    *bytes = 4.0 * b * ((double)s->T * s->K + (double)s->K * s->V + 2.0 * s->T * s->V);
}

/* ------------------------------------------------------------------------------------------ */
/* Blocks: linear forward / backward + SGD, the GLA gate nonlinearity                           */
/* ------------------------------------------------------------------------------------------ */
enum { LX, LW, LY, LDY, LDX, LDW };
static void linear_make(op_case *c) {
    const op_shape *s = &c->s; /* x [B,T,K], w [K,V] */
    op_in(c, "x", 3, OP_D(s->B, s->T, s->K), -1, 1);
    op_inout(c, "w", 2, OP_D(s->K, s->V), -1, 1); /* updated by the SGD step */
    op_out(c, "y", 3, OP_D(s->B, s->T, s->V));
    op_next_call(c); /* ocla_linear_backward, then ocla_sgd_step */
    op_in(c, "dy", 3, OP_D(s->B, s->T, s->V), -1, 1);
    op_out(c, "dx", 3, OP_D(s->B, s->T, s->K));
    op_inout(c, "dw", 2, OP_D(s->K, s->V), -1, 1); /* accumulated into */
}
#define SGD_LR 0.1f
static ocla_status linear_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    (void)c;
    ocla_status st = ocla_linear_forward(ctx, t[LX], t[LW], t[LY]);
    if (st == OCLA_SUCCESS) st = ocla_linear_backward(ctx, t[LX], t[LW], t[LDY], t[LDX], t[LDW], 1);
    if (st == OCLA_SUCCESS) st = ocla_sgd_step(ctx, t[LW], t[LDW], SGD_LR);
    return st;
}
static void linear_reference(const op_case *c, double *ref) {
    const int M = c->s.B * c->s.T, I = c->s.K, O = c->s.V;
    const float *x = op_host(c, LX), *w = op_host(c, LW), *dy = op_host(c, LDY), *dw0 = op_host(c, LDW);
    double *w1 = op_slice(c, ref, LW), *y = op_slice(c, ref, LY), *dx = op_slice(c, ref, LDX),
           *dw = op_slice(c, ref, LDW);
    for (int m = 0; m < M; m++) {
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int i = 0; i < I; i++) acc += (double)x[(size_t)m * I + i] * w[(size_t)i * O + o];
            y[(size_t)m * O + o] = acc;
        }
        for (int i = 0; i < I; i++) {
            double acc = 0;
            for (int o = 0; o < O; o++) acc += (double)dy[(size_t)m * O + o] * w[(size_t)i * O + o];
            dx[(size_t)m * I + i] = acc;
        }
    }
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o++) {
            double acc = dw0[(size_t)i * O + o];
            for (int m = 0; m < M; m++) acc += (double)x[(size_t)m * I + i] * dy[(size_t)m * O + o];
            dw[(size_t)i * O + o] = acc;
            w1[(size_t)i * O + o] = (double)w[(size_t)i * O + o] - (double)SGD_LR * acc;
        }
}
static void linear_cost(const op_shape *s, double *flops, double *bytes) {
    double M = (double)s->B * s->T, I = s->K, O = s->V;
    *flops = 3 * 2.0 * M * I * O + 2.0 * I * O;
    *bytes = 4.0 * (3 * M * I + 3 * M * O + 5 * I * O);
}

/* SGD alone (the entry above reaches it only after the backward): param -= lr * grad */
static void sgd_make(op_case *c) {
    op_inout(c, "param", 2, OP_D(c->s.K, c->s.V), -1, 1);
    op_in(c, "grad", 2, OP_D(c->s.K, c->s.V), -1, 1);
}
static ocla_status sgd_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    (void)c;
    return ocla_sgd_step(ctx, t[0], t[1], SGD_LR);
}
static void sgd_reference(const op_case *c, double *ref) {
    const float *w = op_host(c, 0), *g = op_host(c, 1);
    for (long i = 0; i < op_output_span(c, 0, NULL); i++) ref[i] = (double)w[i] - (double)SGD_LR * g[i];
}
static void sgd_cost(const op_shape *s, double *flops, double *bytes) {
    *flops = 2.0 * s->K * s->V;
    *bytes = 4.0 * 3 * s->K * s->V;
}

#define GATE_TAU 16.0f
typedef struct gate_cfg {
    int backward_only; /* ocla_gate_logsigmoid_backward alone: x and dg given, no g */
} gate_cfg;
static const gate_cfg gate_fwd_bwd = {0}, gate_bwd = {1};
enum { GTX, GTG, GTDG, GTDX };
static void gate_make(op_case *c) {
    const gate_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    op_in_normal(c, "x", 4, OP_D(s->B, s->T, s->H, s->K), 3.0f);
    if (f->backward_only) op_absent(c, "g");
    else op_out(c, "g", 4, OP_D(s->B, s->T, s->H, s->K));
    if (!f->backward_only) op_next_call(c); /* ocla_gate_logsigmoid_backward */
    op_in(c, "dg", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_out(c, "dx", 4, OP_D(s->B, s->T, s->H, s->K));
}
static ocla_status gate_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const gate_cfg *f = c->op->cfg;
    ocla_status st = f->backward_only ? OCLA_SUCCESS : ocla_gate_logsigmoid(ctx, t[GTX], t[GTG], GATE_TAU);
    if (st == OCLA_SUCCESS) st = ocla_gate_logsigmoid_backward(ctx, t[GTX], t[GTDG], t[GTDX], GATE_TAU);
    return st;
}
static void gate_reference(const op_case *c, double *ref) {
    const float *x = op_host(c, GTX), *dg = op_host(c, GTDG);
    double *g = op_slice(c, ref, GTG), *dx = op_slice(c, ref, GTDX);
    long n = op_output_span(c, GTDX, NULL);
    for (long i = 0; i < n; i++) {
        double z = x[i];
        if (g) g[i] = (z < 0 ? z - log1p(exp(z)) : -log1p(exp(-z))) / GATE_TAU;
        dx[i] = dg[i] / (1.0 + exp(z)) / GATE_TAU; /* sigmoid(-x) */
    }
}
static void gate_cost(const op_shape *s, double *flops, double *bytes) {
    double n = (double)s->B * s->T * s->H * s->K;
    *flops = 10.0 * n;
    *bytes = 4.0 * 5 * n;
}

/* ------------------------------------------------------------------------------------------ */
/* Softmax attention, FLASH, Linformer (<ocla/layers.h> ops)                                    */
/* ------------------------------------------------------------------------------------------ */
typedef struct causal_cfg {
    int causal;
    float scale; /* softmax: 0 = K^-0.5 (the default) */
} causal_cfg;
/* the causal softmax entry with a scale of its own (0.6, not 16^-0.5 = 0.25) */
static const causal_cfg causal1 = {1, 0}, causal0 = {0, 0}, causal1_scaled = {1, 0.6f};

static void softmax_make(op_case *c) {
    const op_shape *s = &c->s;
    op_in(c, "q", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "k", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_out(c, "o", 4, OP_D(s->B, s->T, s->H, s->V));
}
static ocla_status softmax_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const causal_cfg *f = c->op->cfg;
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.causal = f->causal, p.block = c->s.chunk;
    if (f->scale > 0) p.has_scale = 1, p.scale = f->scale;
    return ocla_softmax_attention(ctx, &p, t[0], t[1], t[2], t[3]);
}
static void softmax_reference(const op_case *c, double *ref) {
    const causal_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const double scale = f->scale > 0 ? (double)f->scale : 1.0 / sqrt((double)s->K);
    ref_softmax_attention(s->B, s->T, s->H, s->K, s->V, f->causal, scale, op_host(c, 0), op_host(c, 1), op_host(c, 2),
                          op_slice(c, ref, 3));
}
/* ocla-bench's softmax model: QK^T and PV, the lower triangle when causal. */
static void softmax_cost_(const op_shape *s, double *flops, double *bytes, int causal) {
    double bh = (double)s->B * s->H, T = s->T;
    *flops = 2.0 * bh * T * T * (s->K + s->V) * (causal ? 0.5 : 1.0);
    *bytes = 4.0 * bh * T * (2.0 * s->K + 2.0 * s->V);
}
static void softmax_cost_causal(const op_shape *s, double *f, double *b) { softmax_cost_(s, f, b, 1); }
static void softmax_cost_full(const op_shape *s, double *f, double *b) { softmax_cost_(s, f, b, 0); }

static void flash_make(op_case *c) {
    const op_shape *s = &c->s; /* S = K, E = V */
    op_in(c, "qq", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "kq", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "ql", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "kl", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    op_out(c, "o", 4, OP_D(s->B, s->T, s->H, s->V));
}
static ocla_status flash_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const causal_cfg *f = c->op->cfg;
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.causal = f->causal, p.chunk = c->s.chunk;
    ocla_flash_io io = {t[0], t[1], t[2], t[3], t[4], t[5]};
    return ocla_flash_attention(ctx, &p, &io);
}
static void flash_reference(const op_case *c, double *ref) {
    const causal_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int C = s->chunk;
    ref_flash_cfg r = {s->B, s->T, s->H, s->K, s->V, C, f->causal, 1.0 / C, 1.0, 1.0, NULL, 0,
                       f->causal ? 1.0 / C : 1.0 / s->T, 0, 10000.0, 0};
    ref_flash_attention(&r, op_host(c, 0), op_host(c, 1), op_host(c, 2), op_host(c, 3), op_host(c, 4),
                        op_slice(c, ref, 5));
}
/* quadratic part C(S+E) per token (half when causal), linear part 4SE per token. */
static void flash_cost_(const op_shape *s, double *flops, double *bytes, int causal) {
    double bth = (double)s->B * s->T * s->H, S = s->K, E = s->V, C = s->chunk ? s->chunk : 256;
    *flops = bth * (2.0 * C * (S + E) * (causal ? 0.5 : 1.0) + 4.0 * S * E);
    *bytes = 4.0 * bth * (4 * S + 2 * E);
}
static void flash_cost_causal(const op_shape *s, double *f, double *b) { flash_cost_(s, f, b, 1); }
static void flash_cost_full(const op_shape *s, double *f, double *b) { flash_cost_(s, f, b, 0); }

/* Causal FLASH over packed sequences (params.cu_seqlens at op_packed_offsets: N = min(B + 1, T, 6)
 * sequences in [1,T,H,*], B only sets N); the reference runs each sequence alone. Arrays as
 * flash_make's. */
static void flash_packed_make(op_case *c) {
    const op_shape *s = &c->s;
    static const char *const in[4] = {"qq", "kq", "ql", "kl"};
    for (int i = 0; i < 4; i++) op_in(c, in[i], 4, OP_D(1, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(1, s->T, s->H, s->V), -1, 1);
    op_out(c, "o", 4, OP_D(1, s->T, s->H, s->V));
}
static ocla_status flash_packed_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    int32_t cu[PACK_MAX + 1];
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.chunk = c->s.chunk, p.n_seqs = op_packed_offsets(&c->s, cu), p.cu_seqlens = cu;
    if (p.n_seqs < 0) return OCLA_ERR_UNSUPPORTED; /* a shape the entry has no room for */
    ocla_flash_io io = {t[0], t[1], t[2], t[3], t[4], t[5]};
    return ocla_flash_attention(ctx, &p, &io);
}
static void flash_packed_reference(const op_case *c, double *ref) {
    const op_shape *s = &c->s;
    const int C = s->chunk;
    int32_t cu[PACK_MAX + 1];
    const int n = op_packed_offsets(s, cu);
    const size_t rs = (size_t)s->H * s->K, rv = (size_t)s->H * s->V;
    for (int i = 0; i < n; i++) {
        const size_t t0 = (size_t)cu[i];
        const ref_flash_cfg r = {1, cu[i + 1] - cu[i], s->H, s->K, s->V, C, 1, 1.0 / C, 1.0, 1.0, NULL, 0,
                                 1.0 / C, 0, 10000.0, 0};
        ref_flash_attention(&r, op_host(c, 0) + t0 * rs, op_host(c, 1) + t0 * rs, op_host(c, 2) + t0 * rs,
                            op_host(c, 3) + t0 * rs, op_host(c, 4) + t0 * rv, op_slice(c, ref, 5) + t0 * rv);
    }
}
static void flash_packed_cost(const op_shape *s, double *f, double *b) {
    op_shape one = *s;
    one.B = 1;
    flash_cost_(&one, f, b, 1);
}

static int linformer_n(const op_shape *s) { return s->N >= s->T ? s->N : s->T; }
typedef struct linformer_cfg {
    ocla_linformer_sharing sharing;
    float scale; /* 0: D^-0.5 (the default) */
} linformer_cfg;
static const linformer_cfg lf_headwise = {OCLA_LINFORMER_HEADWISE, 0}, lf_key_value = {OCLA_LINFORMER_KEY_VALUE, 0.9f},
                           lf_per_head = {OCLA_LINFORMER_NONE, 0}; /* key-value: a scale of its own */
static void linformer_make(op_case *c) {
    const linformer_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int n = linformer_n(s); /* the first T of n columns are used */
    op_in(c, "q", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "k", 4, OP_D(s->B, s->T, s->H, s->K), -1, 1);
    op_in(c, "v", 4, OP_D(s->B, s->T, s->H, s->V), -1, 1);
    if (f->sharing == OCLA_LINFORMER_NONE) { /* per head: E, F [H, kp, n] */
        op_in(c, "E", 3, OP_D(s->H, s->P, n), -0.2f, 0.2f);
        op_in(c, "F", 3, OP_D(s->H, s->P, n), -0.2f, 0.2f);
    } else {
        op_in(c, "E", 2, OP_D(s->P, n), -0.2f, 0.2f);
        if (f->sharing == OCLA_LINFORMER_HEADWISE) op_in(c, "F", 2, OP_D(s->P, n), -0.2f, 0.2f);
        else op_absent(c, "F"); /* E projects keys and values */
    }
    op_out(c, "o", 4, OP_D(s->B, s->T, s->H, s->V));
}
static ocla_status linformer_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    const linformer_cfg *f = c->op->cfg;
    ocla_linformer_params p;
    ocla_linformer_params_defaults(&p);
    p.block = c->s.chunk, p.sharing = f->sharing;
    if (f->scale > 0) p.has_scale = 1, p.scale = f->scale;
    ocla_linformer_io io;
    memset(&io, 0, sizeof io);
    io.q = t[0], io.k = t[1], io.v = t[2], io.E = t[3], io.F = t[4], io.o = t[5];
    return ocla_linformer_attention(ctx, &p, &io);
}
static void linformer_reference(const op_case *c, double *ref) {
    const op_shape *s = &c->s;
    const linformer_cfg *f = c->op->cfg;
    const float *F = f->sharing == OCLA_LINFORMER_HEADWISE || f->sharing == OCLA_LINFORMER_NONE ? op_host(c, 4)
                                                                                                 : op_host(c, 3);
    ref_linformer(s->B, s->T, s->H, s->K, s->V, s->P, linformer_n(s), f->sharing == OCLA_LINFORMER_NONE,
                  f->scale > 0 ? (double)f->scale : 1.0 / sqrt((double)s->K), op_host(c, 3), F, op_host(c, 0), op_host(c, 1), op_host(c, 2),
                  op_slice(c, ref, 5));
}
static void linformer_cost(const op_shape *s, double *flops, double *bytes) {
    double bh = (double)s->B * s->H, T = s->T, P = s->P;
    *flops = bh * (2.0 * P * T * (s->K + s->V) + 2.0 * T * P * (s->K + s->V));
    *bytes = 4.0 * (bh * T * (2.0 * s->K + 2.0 * s->V) + 2.0 * P * linformer_n(s));
}

/* ------------------------------------------------------------------------------------------ */
/* Layers on [B,T,d]: GLA, multi-head (linear, softmax, Linformer), GAU                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct gla_layer_cfg {
    ocla_attn_form form;
    float gate_tau, norm_eps; /* 0: the defaults */
} gla_layer_cfg;
/* the recurrent entry with a gate normaliser and an RMSNorm eps of its own (both kernels are shared
 * by the forms; eps 1e-2 is not small beside the per-head RMS of o here, so ignoring it shows) */
static const gla_layer_cfg gla_layer_chunked = {OCLA_FORM_CHUNKED, 0, 0},
                           gla_layer_recurrent = {OCLA_FORM_RECURRENT, 4.0f, 1e-2f};
static void gla_layer_params(const op_case *c, ocla_gla_layer_params *p) {
    const gla_layer_cfg *f = c->op->cfg;
    ocla_gla_layer_params_defaults(p);
    p->heads = c->s.H, p->head_k = c->s.K, p->head_v = c->s.V, p->form = f->form, p->chunk = c->s.chunk;
    if (f->gate_tau > 0) p->gate_tau = f->gate_tau;
    if (f->norm_eps > 0) p->norm_eps = f->norm_eps;
}
enum { GX, GWQ, GWK, GWV, GWR, GWG1, GWG2, GBG2, GNW, GWO, GY };

static void gla_layer_make(op_case *c) {
    const op_shape *s = &c->s; /* x [B,T,D], H heads of K / V, gate rank P */
    const int HK = s->H * s->K, HV = s->H * s->V;
    const float sd = s->D > 0 ? 1.0f / sqrtf((float)s->D) : 1.0f;
    op_in_normal(c, "x", 3, OP_D(s->B, s->T, s->D), 1.0f);
    op_in_normal(c, "w_q", 2, OP_D(s->D, HK), sd);
    op_in_normal(c, "w_k", 2, OP_D(s->D, HK), sd);
    op_in_normal(c, "w_v", 2, OP_D(s->D, HV), sd);
    op_in_normal(c, "w_r", 2, OP_D(s->D, HV), sd);
    op_in_normal(c, "w_g1", 2, OP_D(s->D, s->P), sd);
    op_in_normal(c, "w_g2", 2, OP_D(s->P, HK), 0.5f);
    op_in_normal(c, "b_g2", 1, OP_D(HK), 1.0f);
    op_in(c, "norm_w", 1, OP_D(s->V), 0.5f, 1.5f);
    op_in_normal(c, "w_o", 2, OP_D(HV, s->D), HV > 0 ? 1.0f / sqrtf((float)HV) : 1.0f);
    op_out(c, "y", 3, OP_D(s->B, s->T, s->D));
}
static ocla_status gla_layer_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_gla_layer_params p;
    gla_layer_params(c, &p);
    ocla_gla_layer_weights w = {t[GWQ], t[GWK], t[GWV], t[GWR], t[GWG1], t[GWG2], t[GBG2], t[GNW], t[GWO]};
    return ocla_gla_layer_forward(ctx, &p, &w, t[GX], t[GY]);
}
/* fp64 GLA layer, the attention core on the intermediates rounded once to float (ref_layer_grad.h). */
static void gla_layer_reference(const op_case *c, double *y) {
    const op_shape *d = &c->s;
    ocla_gla_layer_params p;
    gla_layer_params(c, &p);
    const ref_gla_layer_cfg rc = {d->B, d->T, d->D, d->H, d->K, d->V, d->P, p.gate_tau, (double)p.norm_eps};
    const ref_gla_layer_w w = {op_host(c, GWQ), op_host(c, GWK), op_host(c, GWV), op_host(c, GWR), op_host(c, GWG1),
                               op_host(c, GWG2), op_host(c, GBG2), op_host(c, GNW), op_host(c, GWO), NULL};
    ref_gla_layer_rounded(&rc, &w, op_host(c, GX), op_slice(c, y, GY));
}
static void gla_layer_cost(const op_shape *s, double *flops, double *bytes) {
    double M = (double)s->B * s->T, D = s->D, HK = (double)s->H * s->K, HV = (double)s->H * s->V;
    double C = s->chunk ? s->chunk : 64;
    *flops = 2.0 * M * (D * (2 * HK + 2 * HV + s->P) + s->P * HK + HV * D) +
             M * s->H * (2.0 * C * (s->K + s->V) + 4.0 * s->K * s->V);
    *bytes = 4.0 * (2 * M * D + D * (2 * HK + 2 * HV + s->P) + s->P * HK + HV * D);
}

typedef struct mha_cfg {
    ocla_mha_kind kind;
    int causal;
    float eps, scale; /* 0: the defaults (LINEAR's normaliser eps; scale: 1 LINEAR, K^-0.5 the others) */
} mha_cfg;
/* the linear layer's normaliser with eps 0.5 (its denominators are O(T) here: a dropped eps moves
 * the output by ~1e-2, far beyond the bar), the softmax layer with a scale of its own */
static const mha_cfg mha_linear = {OCLA_MHA_LINEAR, 1, 0.5f, 0}, mha_softmax = {OCLA_MHA_SOFTMAX, 1, 0, 0.3f},
                     mha_linformer = {OCLA_MHA_LINFORMER, 0, 0, 0};
enum { MX, MWQ, MWK, MWV, MWO, MBQ, MBK, MBV, MBO, ME, MF, MY };

static void mha_make(op_case *c) {
    const mha_cfg *f = c->op->cfg;
    const op_shape *s = &c->s;
    const int HK = s->H * s->K, HV = s->H * s->V;
    const float sd = s->D > 0 ? 1.0f / sqrtf((float)s->D) : 1.0f;
    op_in_normal(c, "x", 3, OP_D(s->B, s->T, s->D), 1.0f);
    op_in_normal(c, "w_q", 2, OP_D(s->D, HK), sd);
    op_in_normal(c, "w_k", 2, OP_D(s->D, HK), sd);
    op_in_normal(c, "w_v", 2, OP_D(s->D, HV), sd);
    op_in_normal(c, "w_o", 2, OP_D(HV, s->D), HV > 0 ? 1.0f / sqrtf((float)HV) : 1.0f);
    op_in_normal(c, "b_q", 1, OP_D(HK), 0.5f);
    op_in_normal(c, "b_k", 1, OP_D(HK), 0.5f);
    op_in_normal(c, "b_v", 1, OP_D(HV), 0.5f);
    op_in_normal(c, "b_o", 1, OP_D(s->D), 0.5f);
    if (f->kind == OCLA_MHA_LINFORMER) {
        const int n = linformer_n(s);
        op_in_normal(c, "E", 2, OP_D(s->P, n), n > 0 ? 1.0f / sqrtf((float)n) : 1.0f);
        op_in_normal(c, "F", 2, OP_D(s->P, n), n > 0 ? 1.0f / sqrtf((float)n) : 1.0f);
    } else {
        op_absent(c, "E"), op_absent(c, "F");
    }
    op_out(c, "y", 3, OP_D(s->B, s->T, s->D));
}
static void mha_params(const op_case *c, ocla_mha_layer_params *p) {
    const mha_cfg *f = c->op->cfg;
    ocla_mha_layer_params_defaults(p, f->kind);
    p->heads = c->s.H, p->head_k = c->s.K, p->head_v = c->s.V, p->causal = f->causal;
    if (f->kind == OCLA_MHA_LINEAR) p->chunk = c->s.chunk;
    else p->block = c->s.chunk;
    if (f->eps > 0) p->eps = f->eps;
    if (f->scale > 0) p->has_scale = 1, p->scale = f->scale;
}
static ocla_status mha_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_mha_layer_params p;
    mha_params(c, &p);
    ocla_mha_layer_weights w;
    memset(&w, 0, sizeof w);
    w.w_q = t[MWQ], w.w_k = t[MWK], w.w_v = t[MWV], w.w_o = t[MWO];
    w.b_q = t[MBQ], w.b_k = t[MBK], w.b_v = t[MBV], w.b_o = t[MBO], w.E = t[ME], w.F = t[MF];
    return ocla_mha_layer_forward(ctx, &p, &w, t[MX], t[MY]);
}
static void mha_reference(const op_case *c, double *y) {
    const op_shape *s = &c->s;
    ocla_mha_layer_params p;
    mha_params(c, &p);
    ref_mha_cfg r;
    memset(&r, 0, sizeof r);
    r.kind = (int)p.kind, r.B = s->B, r.T = s->T, r.d = s->D, r.H = s->H, r.K = s->K, r.V = s->V;
    r.causal = p.causal;
    r.scale = p.has_scale ? p.scale : p.kind == OCLA_MHA_LINEAR ? 1.0 : 1.0 / sqrt((double)s->K);
    r.feature = (int)p.feature_map, r.normalize = p.normalize, r.eps = p.eps;
    r.kp = s->P, r.n = linformer_n(s), r.per_head = 0, r.E = op_host(c, ME), r.F = op_host(c, MF);
    ref_mha_weights w = {op_host(c, MWQ), op_host(c, MWK), op_host(c, MWV), op_host(c, MWO),
                         op_host(c, MBQ), op_host(c, MBK), op_host(c, MBV), op_host(c, MBO)};
    ref_mha_layer(&r, &w, op_host(c, MX), op_slice(c, y, MY));
}
static void mha_cost(const op_shape *s, double *flops, double *bytes) {
    double M = (double)s->B * s->T, D = s->D, HK = (double)s->H * s->K, HV = (double)s->H * s->V;
    *flops = 2.0 * M * D * (2 * HK + 2 * HV) + 2.0 * M * s->H * (4.0 * s->K * s->V);
    *bytes = 4.0 * (2 * M * D + D * (2 * HK + 2 * HV));
}

typedef struct gau_cfg {
    ocla_gau_norm norm;
    float norm_eps; /* 0: the default */
    int no_residual;
} gau_cfg;
/* ScaleNorm with a clamp of its own (1e-3: it decides the rows that test_magnitudes.c scales below
 * it) and no residual (y = O) */
static const gau_cfg gau_layernorm = {OCLA_GAU_NORM_LAYER, 0, 0}, gau_scalenorm = {OCLA_GAU_NORM_SCALE, 1e-3f, 1};
enum { UX, UWUVZ, UBUVZ, UGAMMA, UBETA, UWO, UBO, UNW, UNB, UY };
static void gau_make(op_case *c) {
    const gau_cfg *f = c->op->cfg;
    const op_shape *s = &c->s; /* x [B,T,D]; e = V, s = K; chunk C */
    const int W = 2 * s->V + s->K;
    op_in_normal(c, "x", 3, OP_D(s->B, s->T, s->D), 1.0f);
    op_in_normal(c, "w_uvz", 2, OP_D(s->D, W), s->D > 0 ? 1.0f / sqrtf((float)s->D) : 1.0f);
    op_in(c, "b_uvz", 1, OP_D(W), -0.2f, 0.2f);
    op_in_normal(c, "gamma", 2, OP_D(4, s->K), 1.5f); /* scores of order 1 (the paper inits 0.02) */
    op_in(c, "beta", 2, OP_D(4, s->K), -0.2f, 0.2f);
    op_in_normal(c, "w_o", 2, OP_D(s->V, s->D), s->V > 0 ? 1.0f / sqrtf((float)s->V) : 1.0f);
    op_in(c, "b_o", 1, OP_D(s->D), -0.2f, 0.2f);
    if (f->norm == OCLA_GAU_NORM_SCALE) { /* ScaleNorm: one gain, no bias */
        op_in(c, "norm_w", 1, OP_D(1), 0.5f, 1.5f);
        op_absent(c, "norm_b");
    } else {
        op_in(c, "norm_w", 1, OP_D(s->D), 0.5f, 1.5f);
        op_in(c, "norm_b", 1, OP_D(s->D), -0.2f, 0.2f);
    }
    op_out(c, "y", 3, OP_D(s->B, s->T, s->D));
}
static void gau_params(const op_case *c, ocla_gau_layer_params *p) {
    const gau_cfg *f = c->op->cfg;
    ocla_gau_layer_params_defaults(p);
    p->hidden_dim = c->s.V, p->qk_dim = c->s.K, p->norm = f->norm;
    if (f->norm_eps > 0) p->norm_eps = f->norm_eps;
    if (f->no_residual) p->residual = 0;
    p->flash.chunk = c->s.chunk, p->flash.rope_dims = c->s.K; /* RoPE on all s dims, as the paper's model */
}
static ocla_status gau_call(ocla_context *ctx, const op_case *c, ocla_tensor *const *t) {
    ocla_gau_layer_params p;
    gau_params(c, &p);
    ocla_gau_layer_weights w = {t[UWUVZ], t[UBUVZ], t[UGAMMA], t[UBETA], t[UWO], t[UBO], t[UNW], t[UNB]};
    return ocla_gau_layer_forward(ctx, &p, &w, t[UX], t[UY]);
}
static void gau_reference(const op_case *c, double *y) {
    const op_shape *s = &c->s;
    ocla_gau_layer_params p;
    gau_params(c, &p);
    const int C = p.flash.chunk;
    ref_gau_cfg r = {s->B, s->T, s->D, s->V, s->K, (int)p.norm, (double)p.norm_eps, p.residual, C, p.flash.causal,
                     1.0 / C, 1.0, 1.0, NULL, 0, p.flash.causal ? 1.0 / C : 1.0 / s->T, p.flash.rope_dims,
                     (double)p.flash.rope_base, 0};
    ref_gau_weights w = {op_host(c, UWUVZ), op_host(c, UBUVZ), op_host(c, UGAMMA), op_host(c, UBETA),
                         op_host(c, UWO), op_host(c, UBO), op_host(c, UNW), op_host(c, UNB)};
    ref_gau_layer(&r, &w, op_host(c, UX), op_slice(c, y, UY));
}
static void gau_cost(const op_shape *s, double *flops, double *bytes) {
    double M = (double)s->B * s->T, D = s->D, E = s->V, S = s->K, C = s->chunk ? s->chunk : 256;
    *flops = 2.0 * M * D * (2 * E + S) + 2.0 * M * E * D + M * (C * (S + E) + 4.0 * S * E);
    *bytes = 4.0 * (2 * M * D + D * (2 * E + S) + E * D);
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                    */
/* ------------------------------------------------------------------------------------------ */
/* Tolerances (normwise max relative error vs fp64, per output array; the justifications are those
 * of the per-op suites, whose larger and longer shapes measure the same ops):
 *   1e-4  attention forward (test_attention.c: sums of <= C + K*V-state terms in fp32, ~1e-6
 *         observed), softmax / Linformer / FLASH (test_softmax.c, test_linformer.c, test_flash.c),
 *         the layers (test_layers*.c, test_gau.c: GEMMs over <= 48 terms and a core of ~1e-6);
 *   1e-5  GEMM, linear, SGD, the gate (test_blas.c, test_backward.c: <= 40-term fp32 dot products
 *         of O(1) values, ~k * 6e-8 worst case);
 *   1e-3  attention backward (test_backward.c, the bound: gradients through a chain of
 *         T-term sums, <= 5e-6 measured);
 *   1e-4  softmax and Linformer backward (test_softmax_bwd.c: recomputed P from fp32 scores and
 *         logsumexp, T-term sums of P-weighted rows, ~1e-6 measured).
 * Shapes: shapes[0] is what the fault / leak / concurrency harnesses run (T = 37: never a multiple of
 * a chunk, K != V); the others add T = 1, B > 1, H > 1 and a forced chunk, kept small so the whole
 * table stays a few seconds of kernel time per device (the first run compiles its variants). */
/* op_shape: SH(B, T, H, K, V, D, P, N, chunk) */
#define SH(B, T, H, K, V, D, P, N, chunk) {B, T, H, K, V, D, P, N, chunk}
#define S3(a, b, c) {a, b, c}, 3
#define S2(a, b) {a, b}, 2
/* q, k [B,T,H,K], v [B,T,H,V]: T = 37 (partial chunk), T = 1 with B = 2, T = 70 with H = 3, chunk 16
 * and K, V that are no multiple of a tile (17, 5) */
#define QKV_SHAPES S3(SH(1, 37, 2, 16, 8, 0, 0, 0, 0), SH(2, 1, 1, 16, 8, 0, 0, 0, 0), SH(1, 70, 3, 17, 5, 0, 0, 0, 16))
/* FLASH: S = 16, E = 8, C = 16 (several chunks, the last partial); S = 32, E = 24, C = 32 */
#define FLASH_SHAPES \
    S3(SH(1, 37, 2, 16, 8, 0, 0, 0, 16), SH(2, 1, 1, 16, 8, 0, 0, 0, 16), SH(1, 70, 1, 32, 24, 0, 0, 0, 32))
/* packed FLASH: N = 3 sequences of T = 37 (4, 13, 20 tokens at C = 16), 4 of 5 (1, 1, 1, 2 at C = 4),
 * 4 of 70 (5, 13, 22, 30 at C = 32) */
#define FLASH_PACKED_SHAPES \
    S3(SH(2, 37, 2, 16, 8, 0, 0, 0, 16), SH(3, 5, 1, 16, 8, 0, 0, 0, 4), SH(3, 70, 1, 32, 24, 0, 0, 0, 32))
/* Linformer: kp = P rows of E, F [P, N], N >= T (the first T columns are used) */
#define LINFORMER_SHAPES \
    S3(SH(1, 37, 2, 16, 8, 0, 12, 48, 0), SH(2, 1, 1, 16, 8, 0, 4, 8, 0), SH(1, 70, 3, 16, 8, 0, 16, 70, 0))
/* layers on [B,T,D]: K != V, odd D, T = 1, H > 1, a forced chunk */
#define GLA_LAYER_SHAPES \
    S3(SH(1, 37, 2, 16, 8, 24, 4, 0, 0), SH(2, 1, 1, 8, 12, 16, 4, 0, 0), SH(2, 70, 3, 16, 8, 32, 8, 0, 16))
#define MHA_SHAPES \
    S3(SH(1, 37, 2, 16, 8, 24, 12, 48, 0), SH(2, 1, 3, 8, 12, 13, 4, 8, 0), SH(2, 70, 1, 16, 8, 17, 16, 70, 16))
/* GAU: s = K, e = V, C = chunk */
#define GAU_SHAPES \
    S3(SH(1, 37, 0, 16, 32, 16, 0, 0, 16), SH(2, 1, 0, 16, 24, 12, 0, 0, 16), SH(1, 70, 0, 32, 32, 24, 0, 0, 32))

#define ATTN(name, fn, api, bench) \
    {name, "attention", api, QKV_SHAPES, 1e-4, attn_make, attn_call, attn_reference, fn##_cost, bench, &fn##_cfg}
#define PACKED_SHAPES \
    S3(SH(2, 37, 2, 16, 8, 0, 0, 0, 0), SH(3, 5, 1, 16, 8, 0, 0, 0, 0), SH(3, 70, 3, 17, 5, 0, 0, 0, 16))
#define PACKED(name, fn) \
    {name, "attention_slots", "ocla_attention_forward", PACKED_SHAPES, 1e-4, packed_make, packed_call, \
     packed_reference, fn##_cost, NULL, &fn##_cfg}
#define ENTRY(name, family, api, shapes, tol, fn, cost, bench, cfg) \
    {name, family, api, shapes, tol, fn##_make, fn##_call, fn##_reference, cost, bench, cfg}

/* the attention backward, one entry per gate kind (op_table_grad.c) */
static const op_bwd_cfg bwd_linear = {OCLA_GATE_NONE, OCLA_FEATURE_IDENTITY, 0, 0},
                        bwd_linear_norm = {OCLA_GATE_NONE, OCLA_FEATURE_ELU1, 1, 0},
                        bwd_sgla = {OCLA_GATE_SCALAR, OCLA_FEATURE_IDENTITY, 0, 0},
                        bwd_ret = {OCLA_GATE_FIXED, OCLA_FEATURE_IDENTITY, 0, 0},
                        bwd_gla = {OCLA_GATE_VECTOR, OCLA_FEATURE_IDENTITY, 0, 0};
/* packed sequences (params.cu_seqlens, op_packed_offsets) through the backward */
static const op_bwd_cfg bwd_gla_packed = {OCLA_GATE_VECTOR, OCLA_FEATURE_IDENTITY, 0, 1},
                        bwd_linear_norm_packed = {OCLA_GATE_NONE, OCLA_FEATURE_ELU1, 1, 1};
#define BWD_PACKED(name, cfg) \
    ENTRY(name, "backward", "ocla_attention_backward", PACKED_SHAPES, 1e-3, op_bwd, op_bwd_cost, NULL, &cfg)
#define BWD(name, cfg) \
    ENTRY(name, "backward", "ocla_attention_backward", QKV_SHAPES, 1e-3, op_bwd, op_bwd_cost, NULL, &cfg)

/* the softmax attention backward (op_table_grad.c) */
static const op_sm_bwd_cfg sm_bwd_causal = {1}, sm_bwd_full = {0};
static const op_lf_bwd_cfg lf_bwd_headwise = {OCLA_LINFORMER_HEADWISE}, lf_bwd_key_value = {OCLA_LINFORMER_KEY_VALUE},
                           lf_bwd_per_head = {OCLA_LINFORMER_NONE};

/* the FLASH backward, causal with either normaliser and non-causal (op_table_grad.c); tolerance 1e-4 as
 * the forward's (test_flash_bwd.c says why it holds) */
static const op_flash_bwd_cfg flash_bwd_causal = {1, 0}, flash_bwd_mean = {1, 1}, flash_bwd_noncausal = {0, 0};
#define FLASH_BWD(name, cfg) \
    ENTRY(name, "flash", "ocla_flash_backward", FLASH_SHAPES, 1e-4, op_flash_bwd, op_flash_bwd_cost, NULL, &cfg)

/* the GAU layer's backward (op_table_gau_bwd.c): LayerNorm with the residual, causal; ScaleNorm without
 * it, non-causal. Tolerance 1e-4 (test_gau_bwd.c says why it holds) */
static const op_gau_bwd_cfg gau_bwd_layernorm = {OCLA_GAU_NORM_LAYER, 1, 1},
                            gau_bwd_scalenorm = {OCLA_GAU_NORM_SCALE, 0, 0};
#define GAU_BWD(name, cfg)                                                                                     \
    ENTRY(name, "layer_backward", "ocla_gau_layer_backward", GAU_SHAPES, 1e-4, op_gau_bwd, op_gau_bwd_cost, NULL, \
          &cfg)
/* the layer backwards (op_table_layer_grad.c): small shapes (the reference takes two fp64 forwards
 * per input element); T = 1; several chunks / blocks with a forced 16. The linear layer's normaliser
 * with eps 0.5: with eps 1e-6 at T = 1, o = v s / (s + eps) with s = phi(q).phi(k) is v to 1e-6 and
 * the gradients of w_q and b_q are ~1e-6 of the others (rounding, not comparable normwise). */
static const op_mha_bwd_cfg mha_bwd_linear = {OCLA_MHA_LINEAR, 1, 0.5f}, mha_bwd_linear_nc = {OCLA_MHA_LINEAR, 0, 0.5f},
                            mha_bwd_softmax = {OCLA_MHA_SOFTMAX, 1, 0}, mha_bwd_linformer = {OCLA_MHA_LINFORMER, 0, 0};
static const op_gla_bwd_cfg gla_bwd_chunked = {OCLA_FORM_CHUNKED};
#define LAYER_BWD_SHAPES \
    S3(SH(1, 20, 2, 8, 8, 12, 6, 24, 0), SH(2, 1, 1, 4, 8, 6, 3, 4, 0), SH(1, 40, 2, 8, 4, 10, 8, 40, 16))
#define LAYER_BWD(name, api, fn, cfg) \
    ENTRY(name, "layer_backward", api, LAYER_BWD_SHAPES, 1e-4, fn, fn##_cost, NULL, &cfg)

#define PREPARED_API "ocla_attention_prepare, ocla_attention_run, ocla_attention_op_destroy"

static const op_entry OP_TABLE[] = {
    ATTN("linear_attention_chunked", la_chunk, "ocla_attention_forward", "linear/fwd"),
    ATTN("linear_attention_recurrent", la_rec, "ocla_attention_forward", "linear/decode"),
    ATTN("linear_attention_normalized", la_norm, "ocla_attention_forward", NULL),
    ATTN("linear_attention_normalized_recurrent", la_norm_rec, "ocla_attention_forward", NULL),
    ATTN("linear_attention_noncausal", la_noncausal, "ocla_attention_forward", NULL),
    ATTN("linear_attention_noncausal_unnormalized", la_noncausal_raw, "ocla_attention_forward", NULL),
    ATTN("simple_gla_chunked", sgla_chunk, "ocla_attention_forward", "simple_gla/fwd"),
    ATTN("simple_gla_recurrent", sgla_rec, "ocla_attention_forward", "simple_gla/decode"),
    ATTN("retention_chunked", ret_chunk, "ocla_attention_forward", NULL),
    ATTN("retention_recurrent", ret_rec, "ocla_attention_forward", NULL),
    ATTN("gla_chunked", gla_chunk, "ocla_attention_forward", "gla/fwd"),
    ATTN("gla_recurrent", gla_rec, "ocla_attention_forward", "gla/decode"),
    ATTN("gla_normalized", gla_norm, "ocla_attention_forward", NULL),
    ATTN("linear_attention_prepared", la_prepared, PREPARED_API, NULL),
    ATTN("gla_recurrent_prepared", gla_rec_prepared, PREPARED_API, NULL),
    /* state slots: packed sequences (cu_seqlens, N = B + 1 sequences, at most T) and batch rows */
    PACKED("gla_packed_slots", gla_packed),
    PACKED("linear_attention_normalized_packed_slots", la_norm_packed),
    PACKED("retention_packed_slots", ret_packed),
    PACKED("gla_recurrent_slots", gla_rec_slots),
    PACKED("simple_gla_normalized_recurrent_slots", sgla_norm_rec_slots),
    ENTRY("gemm", "blas", "ocla_gemm", S2(SH(1, 24, 1, 40, 16, 0, 0, 0, 0), SH(1, 7, 1, 5, 3, 0, 0, 0, 0)), 1e-5, gemm,
          gemm_cost, NULL, &gemm_plain),
    ENTRY("gemm_strided_batched", "blas", "ocla_gemm",
          S2(SH(3, 8, 1, 12, 8, 0, 0, 0, 0), SH(2, 17, 1, 9, 33, 0, 0, 0, 0)), 1e-5, gemm, gemm_cost, NULL,
          &gemm_batched),
    BWD("attention_backward_linear", bwd_linear),
    BWD("attention_backward_linear_normalized", bwd_linear_norm),
    BWD("attention_backward_simple_gla", bwd_sgla),
    BWD("attention_backward_retention", bwd_ret),
    BWD("attention_backward_gla", bwd_gla),
    BWD_PACKED("attention_backward_gla_packed", bwd_gla_packed),
    BWD_PACKED("attention_backward_linear_normalized_packed", bwd_linear_norm_packed),
    ENTRY("linear_fwd_bwd_sgd", "block", "ocla_linear_forward, ocla_linear_backward, ocla_sgd_step",
          S2(SH(2, 5, 1, 12, 8, 0, 0, 0, 0), SH(1, 33, 1, 20, 7, 0, 0, 0, 0)), 1e-5, linear, linear_cost, NULL, NULL),
    ENTRY("gate_logsigmoid_fwd_bwd", "block", "ocla_gate_logsigmoid, ocla_gate_logsigmoid_backward",
          S2(SH(1, 37, 2, 16, 0, 0, 0, 0, 0), SH(2, 5, 3, 7, 0, 0, 0, 0, 0)), 1e-5, gate, gate_cost, NULL,
          &gate_fwd_bwd),
    ENTRY("gate_logsigmoid_backward", "block", "ocla_gate_logsigmoid_backward",
          S2(SH(1, 37, 2, 16, 0, 0, 0, 0, 0), SH(2, 5, 3, 7, 0, 0, 0, 0, 0)), 1e-5, gate, gate_cost, NULL, &gate_bwd),
    ENTRY("sgd_step", "block", "ocla_sgd_step", S2(SH(1, 1, 1, 12, 8, 0, 0, 0, 0), SH(1, 1, 1, 33, 7, 0, 0, 0, 0)),
          1e-5, sgd, sgd_cost, NULL, NULL),
    ENTRY("softmax_attention_causal", "softmax", "ocla_softmax_attention", QKV_SHAPES, 1e-4, softmax,
          softmax_cost_causal, "softmax/fwd", &causal1_scaled),
    ENTRY("softmax_attention_noncausal", "softmax", "ocla_softmax_attention", QKV_SHAPES, 1e-4, softmax,
          softmax_cost_full, NULL, &causal0),
    ENTRY("softmax_backward_causal", "softmax_backward", "ocla_softmax_backward", QKV_SHAPES, 1e-4, op_sm_bwd,
          op_sm_bwd_cost_causal, NULL, &sm_bwd_causal),
    ENTRY("softmax_backward_noncausal", "softmax_backward", "ocla_softmax_backward", QKV_SHAPES, 1e-4, op_sm_bwd,
          op_sm_bwd_cost, NULL, &sm_bwd_full),
    ENTRY("flash_causal", "flash", "ocla_flash_attention", FLASH_SHAPES, 1e-4, flash, flash_cost_causal, NULL,
          &causal1),
    ENTRY("flash_noncausal", "flash", "ocla_flash_attention", FLASH_SHAPES, 1e-4, flash, flash_cost_full, NULL,
          &causal0),
    ENTRY("flash_causal_packed", "flash", "ocla_flash_attention", FLASH_PACKED_SHAPES, 1e-4, flash_packed,
          flash_packed_cost, NULL, NULL),
    FLASH_BWD("flash_backward_causal", flash_bwd_causal),
    FLASH_BWD("flash_backward_causal_mean", flash_bwd_mean),
    FLASH_BWD("flash_backward_noncausal", flash_bwd_noncausal),
    ENTRY("linformer", "linformer", "ocla_linformer_attention", LINFORMER_SHAPES, 1e-4, linformer, linformer_cost,
          NULL, &lf_headwise),
    ENTRY("linformer_key_value", "linformer", "ocla_linformer_attention", LINFORMER_SHAPES, 1e-4, linformer,
          linformer_cost, NULL, &lf_key_value),
    ENTRY("linformer_per_head", "linformer", "ocla_linformer_attention", LINFORMER_SHAPES, 1e-4, linformer,
          linformer_cost, NULL, &lf_per_head),
    ENTRY("linformer_backward", "linformer_backward", "ocla_linformer_backward", LINFORMER_SHAPES, 1e-4, op_lf_bwd,
          op_lf_bwd_cost, NULL, &lf_bwd_headwise),
    ENTRY("linformer_backward_key_value", "linformer_backward", "ocla_linformer_backward", LINFORMER_SHAPES, 1e-4,
          op_lf_bwd, op_lf_bwd_cost, NULL, &lf_bwd_key_value),
    ENTRY("linformer_backward_per_head", "linformer_backward", "ocla_linformer_backward", LINFORMER_SHAPES, 1e-4,
          op_lf_bwd, op_lf_bwd_cost, NULL, &lf_bwd_per_head),
    ENTRY("gla_layer", "layer", "ocla_gla_layer_forward", GLA_LAYER_SHAPES, 1e-4, gla_layer, gla_layer_cost, NULL,
          &gla_layer_chunked),
    ENTRY("gla_layer_recurrent", "layer", "ocla_gla_layer_forward", GLA_LAYER_SHAPES, 1e-4, gla_layer,
          gla_layer_cost, NULL, &gla_layer_recurrent),
    ENTRY("mha_linear_layer", "layer", "ocla_mha_layer_forward", MHA_SHAPES, 1e-4, mha, mha_cost, NULL, &mha_linear),
    ENTRY("mha_softmax_layer", "layer", "ocla_mha_layer_forward", MHA_SHAPES, 1e-4, mha, mha_cost, NULL,
          &mha_softmax),
    ENTRY("mha_linformer_layer", "layer", "ocla_mha_layer_forward", MHA_SHAPES, 1e-4, mha, mha_cost, NULL,
          &mha_linformer),
    ENTRY("gau_layer", "layer", "ocla_gau_layer_forward", GAU_SHAPES, 1e-4, gau, gau_cost, NULL, &gau_layernorm),
    ENTRY("gau_layer_scalenorm", "layer", "ocla_gau_layer_forward", GAU_SHAPES, 1e-4, gau, gau_cost, NULL,
          &gau_scalenorm),
    GAU_BWD("gau_layer_backward", gau_bwd_layernorm),
    GAU_BWD("gau_layer_backward_scalenorm_noncausal", gau_bwd_scalenorm),
    LAYER_BWD("mha_linear_layer_backward", "ocla_mha_layer_backward", op_mha_bwd, mha_bwd_linear),
    LAYER_BWD("mha_linear_noncausal_layer_backward", "ocla_mha_layer_backward", op_mha_bwd, mha_bwd_linear_nc),
    LAYER_BWD("mha_softmax_layer_backward", "ocla_mha_layer_backward", op_mha_bwd, mha_bwd_softmax),
    LAYER_BWD("mha_linformer_layer_backward", "ocla_mha_layer_backward", op_mha_bwd, mha_bwd_linformer),
    LAYER_BWD("gla_layer_backward", "ocla_gla_layer_backward", op_gla_bwd, gla_bwd_chunked),
};
#define N_OPS ((int)(sizeof OP_TABLE / sizeof OP_TABLE[0]))

int op_count(void) { return N_OPS; }
const op_entry *op_get(int i) { return i >= 0 && i < N_OPS ? &OP_TABLE[i] : NULL; }
const op_entry *op_find(const char *name) {
    for (int i = 0; name && i < N_OPS; i++)
        if (!strcmp(OP_TABLE[i].name, name)) return op_get(i);
    return NULL;
}
