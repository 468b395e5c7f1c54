/* SPDX-License-Identifier: MIT */
/* ocla-bench --papers linformer: Linformer (Wang et al.), self-attention in linear time and memory.
 * Inference (forward only) at sequence length n, B sequences of H heads of D:
 *   linformer  ocla_linformer_attention, E and F [k, n] shared by the heads, k = 128 and 256 (the
 *              paper's efficiency table);
 *   softmax    ocla_softmax_attention, non-causal (an encoder's attention, as the paper's baseline).
 * Time: the device time of one call (median). Memory: what ocla holds on the device for the call,
 * the caller's tensors (q, k, v, o, and E, F) plus every scratch buffer and the GEMM temporary of
 * the context after the call (ocla_debug_scratch_bytes). Each row (method and k) runs on a context
 * of its own, so the scratch it reports is its own: scratch grows on demand and never shrinks, and
 * within a row the need grows with n. A row ends at the first point over the time budget, or when
 * the tensors would pass half the device memory, and the rest of the row says why. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/ocla_debug.h"
#include "bench.h"

typedef struct lf_point {
    int softmax;
    ocla_softmax_params sp;
    ocla_linformer_params lp;
    ocla_tensor *q, *k, *v, *o, *E, *F;
} lf_point;

static ocla_status lf_call(ocla_context *ctx, void *arg) {
    lf_point *a = arg;
    if (a->softmax) return ocla_softmax_attention(ctx, &a->sp, a->q, a->k, a->v, a->o);
    const ocla_linformer_io io = {a->q, a->k, a->v, a->E, a->F, a->o};
    return ocla_linformer_attention(ctx, &a->lp, &io);
}

static void lf_free(lf_point *a) {
    ocla_tensor_destroy(a->q);
    ocla_tensor_destroy(a->k);
    ocla_tensor_destroy(a->v);
    ocla_tensor_destroy(a->o);
    ocla_tensor_destroy(a->E);
    ocla_tensor_destroy(a->F);
}

static double tensor_bytes(const ocla_tensor *t) { return t ? 4.0 * (double)ocla_tensor_numel(t) : 0; }

/* One row: linformer with projected length kp, or softmax (kp = 0), over the grid's n. */
static void lf_row(size_t gi, int di, const bench_paper_grid *g, long kp, int runs, double budget_ms) {
    const long B = g->shape[0], H = g->shape[1], D = g->shape[2];
    bench_device dev;
    memset(&dev, 0, sizeof dev);
    ocla_context *ctx = bench_open_device(gi, 1, &dev);
    if (!ctx) return;
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    char stop[96] = "";
    for (int i = 0; i < g->nT; i++) {
        const long n = g->Ts[i];
        bench_result *r = bench_result_add();
        if (!r) break;
        r->dev = di;
        snprintf(r->method, sizeof r->method, "%s", kp ? "linformer" : "softmax");
        snprintf(r->mode, sizeof r->mode, "fwd");
        if (kp) snprintf(r->config, sizeof r->config, "k=%ld, E F shared by heads", kp);
        else snprintf(r->config, sizeof r->config, "non-causal, flash-style (never n x n)");
        r->B = B, r->T = n, r->H = H, r->D = D, r->runs = runs, r->picked = 1;
        /* q.k and p.v over n keys (softmax) or k projected rows, and the two projections */
        r->gflop = (kp ? 4.0 * B * H * n * kp * D + 4.0 * B * H * kp * n * D : 4.0 * B * H * (double)n * n * D) * 1e-9;
        r->gbytes = 4.0 * B * n * H * D * 4 * 1e-9;
        if (stop[0]) {
            snprintf(r->status, sizeof r->status, "%s", stop);
            continue;
        }
        const double need = 4.0 * B * n * H * D * 4;
        if (need > 0.5 * (double)info.global_mem_size || need / 4 > (double)info.max_alloc_size) {
            snprintf(r->status, sizeof r->status, "skipped: q,k,v,o of %.2f GB beyond half the device memory",
                     need * 1e-9);
            snprintf(stop, sizeof stop, "%s", r->status);
            continue;
        }
        bench_progress(0, "[%s] linformer paper: %s %s n=%ld ...", dev.name, r->method, r->config, n);
        lf_point a;
        memset(&a, 0, sizeof a);
        a.softmax = kp == 0;
        ocla_softmax_params_defaults(&a.sp);
        a.sp.causal = 0;
        ocla_linformer_params_defaults(&a.lp);
        const int64_t dx[4] = {B, n, H, D}, de[2] = {kp, n};
        int rc = -1;
        ocla_status st = paper_tensor(ctx, 4, dx, 1.0f, &a.q);
        if (st == OCLA_SUCCESS) st = paper_tensor(ctx, 4, dx, 1.0f, &a.k);
        if (st == OCLA_SUCCESS) st = paper_tensor(ctx, 4, dx, 1.0f, &a.v);
        if (st == OCLA_SUCCESS) st = paper_tensor(ctx, 4, dx, 0.0f, &a.o);
        /* E, F ~ U(-1/sqrt(n), 1/sqrt(n)): the projected rows stay of the inputs' size */
        if (st == OCLA_SUCCESS && kp) st = paper_tensor(ctx, 2, de, (float)(1.0 / sqrt((double)n)), &a.E);
        if (st == OCLA_SUCCESS && kp) st = paper_tensor(ctx, 2, de, (float)(1.0 / sqrt((double)n)), &a.F);
        if (st != OCLA_SUCCESS) {
            snprintf(r->status, sizeof r->status, "alloc: %s (out of device memory?)", ocla_status_string(st));
            snprintf(stop, sizeof stop, "skipped: a shorter n failed to allocate");
        } else if ((rc = paper_time(ctx, lf_call, &a, runs, budget_ms, i > 0, &r->ms, &r->ms_min, r->status,
                                    sizeof r->status)) >= 0) {
            if (rc == 0) snprintf(r->status, sizeof r->status, "ok"); /* 1: measured, the status says "suspect" */
            r->mem_bytes = tensor_bytes(a.q) + tensor_bytes(a.k) + tensor_bytes(a.v) + tensor_bytes(a.o) +
                           tensor_bytes(a.E) + tensor_bytes(a.F) + (double)ocla_debug_scratch_bytes(ctx);
        } else {
            snprintf(stop, sizeof stop, "skipped: a shorter n %s", strncmp(r->status, "skipped", 7) ? "failed" :
                                                                   "was over the budget");
        }
        lf_free(&a);
    }
    bench_progress_end();
    ocla_context_destroy(ctx);
}

void paper_linformer_run(size_t gi, int di, const bench_paper_grid *g, int runs, double budget_ms) {
    static const long ks[2] = {128, 256}; /* the paper's efficiency table */
    for (int i = 0; i < 2; i++) lf_row(gi, di, g, ks[i], runs, budget_ms);
    lf_row(gi, di, g, 0, runs, budget_ms);
}
