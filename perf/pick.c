/* SPDX-License-Identifier: MIT */
/* ocla-bench --pick: the scheduler's chunk against every chunk it may pick, timed side by side.
 *
 * Cases: linear attention, simple GLA (a log gate per token and head) and GLA (per-key log gates) at
 * the shapes of perf/torch_cpu_compare.py, (B,T,H,D) = (1,2048,4,64), (1,4096,4,128), (2,1024,8,64),
 * or the methods of --methods at --shape. For each case the candidates are the chunks of the op's row
 * (16 ... 256) that ocla_plan_explain accepts forced on this context, i.e. every chunk the scheduler
 * may pick here, and the pick is the chunk of its plan for chunk 0. Each candidate and the pick itself
 * (a call with chunk 0: the op's own resolution) are called twice to warm up, then `runs` rounds each
 * call every one of them once, the order rotated by one per round, so that a machine whose load
 * drifts slows them alike. A call's time: ocla_profile_begin/end (kernel events summed; the host
 * clock around the call where the driver's events read 0, e.g. rusticl). Per column the median.
 *
 * Printed per case: the median and minimum of each candidate (the fastest median marked), the pick's
 * own median, the model's cost of each candidate relative to the pick's (ocla_plan.cost), and
 *   paired = the largest, over the candidates c, of the median over the rounds of t(pick) / t(c) in
 *            the same round: how much slower the pick is than the best chunk, with the load's drift
 *            between rounds cancelled; "its chunk" = the same with the pick's chunk forced in place of
 *            the pick's own call (MISS: both above 1.10, more than 10 % slower);
 *   self   = the same ratio against the pick's own chunk forced: the same kernels, so it reads the
 *            run's noise (1.00 on a quiet machine);
 *   medians, minima = the pick's median (minimum) / the smallest candidate median (minimum).
 * Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ocla/ocla.h"

#define PICK_MAX 8 /* candidates of a case, at most (the op rows have 5) */

typedef struct pick_method {
    const char *name;
    ocla_gate_kind gate;
    ocla_op_kind op;
} pick_method;

static const pick_method k_methods[] = {{"linear", OCLA_GATE_NONE, OCLA_OP_LINEAR_CHUNK},
                                        {"simple_gla", OCLA_GATE_SCALAR, OCLA_OP_SIMPLE_GLA_CHUNK},
                                        {"gla", OCLA_GATE_VECTOR, OCLA_OP_GLA_CHUNK}};
static const long k_shapes[][4] = {{1, 2048, 4, 64}, {1, 4096, 4, 128}, {2, 1024, 8, 64}};

typedef struct pick_row {
    const char *method;
    long shape[4];
    int pick, n;                /* the pick's chunk, candidates */
    int chunk[PICK_MAX];        /* candidates; column n is the pick's call (chunk 0) */
    double ms[PICK_MAX + 1];    /* medians */
    double mn[PICK_MAX + 1];    /* minima */
    double cost[PICK_MAX];      /* the plan's modelled cost */
    double ratio;               /* pick median / smallest candidate median */
    double ratio_min;           /* the same by the minima (a shared machine's quietest call) */
    double paired;              /* the largest over candidates of the median per-round pick / candidate time */
    double self;                /* that median for the pick's own chunk forced: the run's noise (1 without) */
    double by_chunk;            /* paired with the pick's chunk forced instead of the pick's own call */
    char status[96];
} pick_row;

static uint32_t pick_rng(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

/* A dense fp32 tensor of ndim dims, uniform in [lo, hi). */
static ocla_tensor *pick_tensor(ocla_context *ctx, int ndim, const int64_t *dims, float lo, float hi, uint32_t seed) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    float *h = malloc(n * sizeof *h);
    ocla_tensor *t = NULL;
    if (h && ocla_tensor_create(ctx, OCLA_F32, ndim, dims, &t) == OCLA_SUCCESS) {
        for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * (float)(pick_rng(&seed) >> 8) / 16777216.0f;
        if (ocla_tensor_upload(ctx, t, h, n * sizeof *h) != OCLA_SUCCESS) ocla_tensor_destroy(t), t = NULL;
    }
    free(h);
    return t;
}

/* One call at chunk c (0: the scheduler's), its time in ms; < 0 on failure (the reason in why). */
static double pick_call(ocla_context *ctx, ocla_attn_params *p, const ocla_attn_io *io, int c, char *why, size_t n) {
    double ms = 0;
    int kernels = 0;
    p->chunk = c;
    ocla_status st = ocla_profile_begin(ctx);
    if (st == OCLA_SUCCESS) st = ocla_attention_forward(ctx, p, io);
    const ocla_status se = ocla_profile_end(ctx, &ms, &kernels);
    if (st == OCLA_SUCCESS) st = se;
    if (st != OCLA_SUCCESS) {
        snprintf(why, n, "chunk %d: %s", c, ocla_status_string(st));
        return -1.0;
    }
    return ms;
}

static void pick_case(ocla_context *ctx, const pick_method *m, const long *s, int runs, pick_row *r) {
    memset(r, 0, sizeof *r);
    r->method = m->name;
    memcpy(r->shape, s, sizeof r->shape);
    const long B = s[0], T = s[1], H = s[2], D = s[3];
    ocla_plan_request rq = {.op = m->op, .B = B, .T = T, .H = H, .K = D, .V = D};
    ocla_plan plan;
    if (ocla_plan_explain(ctx, &rq, &plan, NULL, 0) != OCLA_SUCCESS) {
        snprintf(r->status, sizeof r->status, "no plan: %s", ocla_last_error(ctx));
        return;
    }
    r->pick = plan.chunk;
    for (int c = 16; c <= 256 && r->n < PICK_MAX; c *= 2) { /* the op row's chunks (runtime/plan.c) */
        rq.chunk = c;
        if (ocla_plan_explain(ctx, &rq, &plan, NULL, 0) == OCLA_SUCCESS) r->chunk[r->n] = c, r->cost[r->n++] = plan.cost;
    }
    const int64_t d4[4] = {B, T, H, D}, d3[3] = {B, T, H};
    ocla_tensor *q = pick_tensor(ctx, 4, d4, -1, 1, 1), *k = pick_tensor(ctx, 4, d4, -1, 1, 2);
    ocla_tensor *v = pick_tensor(ctx, 4, d4, -1, 1, 3), *o = pick_tensor(ctx, 4, d4, 0, 0, 4);
    ocla_tensor *g = m->gate == OCLA_GATE_NONE     ? NULL
                     : m->gate == OCLA_GATE_SCALAR ? pick_tensor(ctx, 3, d3, -0.2f, -0.001f, 5)
                                                   : pick_tensor(ctx, 4, d4, -0.2f, -0.001f, 5);
    const int cols = r->n + 1;
    double *t = malloc(sizeof(double) * (size_t)cols * (size_t)runs);
    if (!q || !k || !v || !o || (m->gate != OCLA_GATE_NONE && !g) || !t) {
        snprintf(r->status, sizeof r->status, "out of memory");
    } else {
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = m->gate;
        const ocla_attn_io io = {.q = q, .k = k, .v = v, .g = g, .o = o};
        int ok = 1;
        for (int round = -2; ok && round < runs; round++) {
            bench_progress(0, "%s (%ld,%ld,%ld,%ld): round %d of %d", m->name, B, T, H, D, round + 3, runs + 2);
            for (int j = 0; ok && j < cols; j++) {
                const int col = (j + (round > 0 ? round : 0)) % cols;
                const double ms = pick_call(ctx, &p, &io, col < r->n ? r->chunk[col] : 0, r->status, sizeof r->status);
                ok = ms >= 0;
                if (round >= 0) t[(size_t)col * (size_t)runs + (size_t)round] = ms;
            }
        }
        if (ok) {
            double best = 0, best_min = 0, *q = malloc(sizeof(double) * (size_t)runs);
            int pc = r->n; /* the pick's chunk among the candidates */
            for (int c = 0; c < r->n; c++)
                if (r->chunk[c] == r->pick) pc = c;
            for (int by = 0; q && by < 2; by++) /* paired: the pick's call, then its chunk forced */
                for (int c = 0; c < r->n; c++) {
                    const double *a = t + (size_t)(by ? pc : r->n) * (size_t)runs, *b = t + (size_t)c * (size_t)runs;
                    for (int i = 0; i < runs; i++) q[i] = a[i] / b[i];
                    const double m = bench_median(q, runs);
                    double *dst = by ? &r->by_chunk : &r->paired;
                    if (m > *dst) *dst = m;
                    if (!by && c == pc) r->self = m;
                }
            free(q);
            for (int c = 0; c < cols; c++) {
                r->ms[c] = bench_median(t + (size_t)c * (size_t)runs, runs); /* sorts: [0] is the minimum */
                r->mn[c] = t[(size_t)c * (size_t)runs];
                if (c < r->n && (best == 0 || r->ms[c] < best)) best = r->ms[c];
                if (c < r->n && (best_min == 0 || r->mn[c] < best_min)) best_min = r->mn[c];
            }
            r->ratio = best > 0 ? r->ms[r->n] / best : 0;
            r->ratio_min = best_min > 0 ? r->mn[r->n] / best_min : 0;
            snprintf(r->status, sizeof r->status, "ok");
        }
    }
    free(t);
    ocla_tensor_destroy(q), ocla_tensor_destroy(k), ocla_tensor_destroy(v), ocla_tensor_destroy(o);
    ocla_tensor_destroy(g);
}

static void pick_print(FILE *f, const pick_row *r) {
    const int miss = r->paired > 1.10 && r->by_chunk > 1.10;
    fprintf(f, "%-10s (%ld,%ld,%ld,%ld)  pick %3d: %9.3f ms  paired %.2f, its chunk %.2f%s (self %.2f; medians %.2f, "
               "minima %.2f) |",
            r->method, r->shape[0], r->shape[1], r->shape[2], r->shape[3], r->pick, r->ms[r->n], r->paired,
            r->by_chunk, miss ? " MISS" : "     ", r->self, r->ratio, r->ratio_min);
    int best = 0;
    for (int c = 1; c < r->n; c++)
        if (r->ms[c] < r->ms[best]) best = c;
    double pc = 1;
    for (int c = 0; c < r->n; c++)
        if (r->chunk[c] == r->pick) pc = r->cost[c];
    for (int c = 0; c < r->n; c++)
        fprintf(f, "  C=%d%s %.3f ms (min %.3f, model %.2f)", r->chunk[c], c == best ? "*" : "", r->ms[c], r->mn[c],
                r->cost[c] / pc);
    fprintf(f, "%s%s\n", strcmp(r->status, "ok") ? "  " : "", strcmp(r->status, "ok") ? r->status : "");
}

static void pick_json(FILE *f, const char *dev, const pick_row *r, int first) {
    fprintf(f, "%s  {\"device\": \"%s\", \"method\": \"%s\", \"B\": %ld, \"T\": %ld, \"H\": %ld, \"D\": %ld, "
               "\"pick\": %d, \"pick_ms\": %.6g, \"pick_ms_min\": %.6g, \"ratio\": %.6g, \"ratio_min\": %.6g, "
               "\"paired\": %.6g, \"paired_chunk\": %.6g, \"self\": %.6g, \"status\": \"%s\", \"candidates\": [",
            first ? "" : ",\n", dev, r->method, r->shape[0], r->shape[1], r->shape[2], r->shape[3], r->pick, r->ms[r->n],
            r->mn[r->n], r->ratio, r->ratio_min, r->paired, r->by_chunk, r->self, r->status);
    for (int c = 0; c < r->n; c++)
        fprintf(f, "%s{\"chunk\": %d, \"ms\": %.6g, \"ms_min\": %.6g, \"model_cost\": %.6g}", c ? ", " : "",
                r->chunk[c], r->ms[c], r->mn[c], r->cost[c]);
    fprintf(f, "]}");
}

int pick_main(const size_t *idx, int nidx, int runs, const long *shape, const char *methods, const char *json) {
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) {
        fprintf(stderr, "ocla-bench: cannot write %s\n", json);
        return 2;
    }
    if (jf) fprintf(jf, "[\n");
    int first = 1, rc = 0;
    for (int d = 0; d < nidx; d++) {
        bench_device dev;
        memset(&dev, 0, sizeof dev);
        ocla_context *ctx = bench_open_device(idx[d], 1, &dev);
        if (!ctx) {
            rc = 1;
            continue;
        }
        printf("%s (%s, %s; %s)\n", dev.name, dev.platform, dev.driver, dev.events ? "event timers" : "host clock");
        const int nshape = shape ? 1 : (int)(sizeof k_shapes / sizeof k_shapes[0]);
        for (int si = 0; si < nshape; si++)
            for (int mi = 0; mi < 3; mi++) {
                if (methods && !bench_list_has(methods, k_methods[mi].name)) continue;
                pick_row r;
                pick_case(ctx, &k_methods[mi], shape ? shape : k_shapes[si], runs, &r);
                bench_progress_end();
                pick_print(stdout, &r);
                fflush(stdout);
                if (jf) pick_json(jf, dev.name, &r, first), first = 0;
                if (strcmp(r.status, "ok")) rc = 1;
            }
        ocla_context_destroy(ctx);
    }
    printf("paired = the largest, over the candidates, of the median of the per-round ratio pick / candidate; its "
           "chunk = the same with the pick's chunk forced (MISS: both > 1.10); self = that for the pick's own chunk forced (the run's noise); medians, minima = the pick's median "
           "(minimum) / the fastest candidate's (* = fastest median); model = the plan's modelled cost / the pick's; %d "
           "rounds, every candidate and the pick once a round\n", runs);
    if (jf) fprintf(jf, "\n]\n"), fclose(jf);
    return rc;
}
