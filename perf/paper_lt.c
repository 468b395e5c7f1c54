/* SPDX-License-Identifier: MIT */
/* ocla-bench --papers lt: Linear Transformers (Katharopoulos et al.), "up to 4000x faster on
 * autoregressive prediction of very long sequences". One decode step (one new token for each of the
 * B sequences, H heads of D) at context length L, two ways:
 *   linear_rec  ocla_attention_forward, recurrent form, T = 1: phi = elu + 1 and the normaliser (the
 *               paper's), state S [B,H,D,D] and z [B,H,D] read and written in place; its cost does not
 *               depend on L (it is measured at every L all the same);
 *   softmax_kv  ocla_softmax_attention, non-causal, one query row against the L cached keys and values
 *               (q [B,1,H,D], k, v [B,L,H,D]): softmax decoding with a KV cache. Appending the new
 *               token's k and v to the cache (a copy of 2*B*H*D floats) is not timed. ocla has no
 *               decode kernel for softmax: its tiled op runs one work-group per (b, h) over all L keys
 *               with one of its query rows used (block 16, the smallest, wastes the fewest lanes); a
 *               split-key decode kernel (flash-decoding) would be faster, so the ratio is an upper
 *               bound of what a tuned softmax decoder would show.
 * Rows: mode "decode", T = L, ms = device time of one step (median); the summary divides by B for the
 * time per token. Public API only. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct lt_linear {
    ocla_attn_params p;
    ocla_attn_io io;
} lt_linear;

static ocla_status lt_linear_call(ocla_context *ctx, void *arg) {
    lt_linear *a = arg;
    return ocla_attention_forward(ctx, &a->p, &a->io);
}

typedef struct lt_softmax {
    ocla_softmax_params p;
    ocla_tensor *q, *k, *v, *o;
} lt_softmax;

static ocla_status lt_softmax_call(ocla_context *ctx, void *arg) {
    lt_softmax *a = arg;
    return ocla_softmax_attention(ctx, &a->p, a->q, a->k, a->v, a->o);
}

static bench_result *lt_row(int di, const char *method, long B, long L, long H, long D, const char *config, int runs) {
    bench_result *r = bench_result_add();
    if (!r) return NULL;
    r->dev = di;
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->mode, sizeof r->mode, "decode");
    snprintf(r->config, sizeof r->config, "%s", config);
    r->B = B, r->T = L, r->H = H, r->D = D;
    r->runs = runs;
    return r;
}

void paper_lt_run(ocla_context *ctx, int di, const bench_paper_grid *g, int runs, double budget_ms) {
    const long B = g->shape[0], H = g->shape[1], D = g->shape[2];
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    /* the recurrent step's tensors: the same at every L */
    const int64_t d_tok[4] = {B, 1, H, D}, d_s[4] = {B, H, D, D}, d_z[3] = {B, H, D};
    lt_linear lin;
    memset(&lin, 0, sizeof lin);
    ocla_attn_params_defaults(&lin.p);
    lin.p.form = OCLA_FORM_RECURRENT;
    lin.p.feature_map = OCLA_FEATURE_ELU1;
    lin.p.normalize = 1;
    ocla_tensor *q = NULL, *k1 = NULL, *v1 = NULL, *o = NULL, *s = NULL, *z = NULL;
    ocla_status lst = paper_tensor(ctx, 4, d_tok, 1.0f, &q);
    if (lst == OCLA_SUCCESS) lst = paper_tensor(ctx, 4, d_tok, 1.0f, &k1);
    if (lst == OCLA_SUCCESS) lst = paper_tensor(ctx, 4, d_tok, 1.0f, &v1);
    if (lst == OCLA_SUCCESS) lst = paper_tensor(ctx, 4, d_tok, 0.0f, &o);
    /* a state of a long context: positive z (sums of elu+1 features), S of moderate size */
    if (lst == OCLA_SUCCESS) lst = paper_tensor(ctx, 4, d_s, 0.1f, &s);
    if (lst == OCLA_SUCCESS) lst = paper_tensor(ctx, 3, d_z, 0.0f, &z);
    lin.io.q = q, lin.io.k = k1, lin.io.v = v1, lin.io.o = o;
    lin.io.initial_state = s, lin.io.final_state = s, lin.io.initial_z = z, lin.io.final_z = z;
    int lin_over = 0, sm_over = 0;
    for (int i = 0; i < g->nT; i++) {
        const long L = g->Ts[i];
        bench_progress(0, "[%s] lt: decode step at context %ld ...", info.device_name, L);
        bench_result *r = lt_row(di, "linear_rec", B, L, H, D, "elu+1, normalised, state in place", runs);
        if (r && lst != OCLA_SUCCESS) snprintf(r->status, sizeof r->status, "alloc: %s", ocla_status_string(lst));
        else if (r && lin_over) snprintf(r->status, sizeof r->status, "skipped: a shorter context failed or was over the budget");
        else if (r) {
            if (!paper_time(ctx, lt_linear_call, &lin, runs, budget_ms, i > 0, &r->ms, &r->ms_min, r->status,
                            sizeof r->status))
                snprintf(r->status, sizeof r->status, "ok");
            else lin_over = !strncmp(r->status, "skipped", 7);
            r->gflop = 6.0 * B * H * D * D * 1e-9; /* q.S, the update k v^T, and z */
            r->gbytes = 2.0 * B * H * D * D * 4 * 1e-9;
        }
        r = lt_row(di, "softmax_kv", B, L, H, D, "non-causal, 1 query x L cached keys, block 16", runs);
        if (!r) break;
        const double cache = 2.0 * B * L * H * D * 4;
        if (sm_over) {
            snprintf(r->status, sizeof r->status, "skipped: a shorter context failed or was over the budget");
            continue;
        }
        if (cache > 0.5 * (double)info.global_mem_size || cache / 2 > (double)info.max_alloc_size) {
            snprintf(r->status, sizeof r->status, "skipped: a KV cache of %.2f GB is beyond half the device memory",
                     cache * 1e-9);
            sm_over = 1;
            continue;
        }
        lt_softmax sm;
        memset(&sm, 0, sizeof sm);
        ocla_softmax_params_defaults(&sm.p);
        sm.p.causal = 0;
        sm.p.block = 16; /* the smallest block: one query row wastes the fewest lanes of it */
        const int64_t d_kv[4] = {B, L, H, D};
        ocla_status st = paper_tensor(ctx, 4, d_kv, 1.0f, &sm.k);
        if (st == OCLA_SUCCESS) st = paper_tensor(ctx, 4, d_kv, 1.0f, &sm.v);
        if (st == OCLA_SUCCESS) st = paper_tensor(ctx, 4, d_tok, 0.0f, &sm.o);
        sm.q = q;
        if (st != OCLA_SUCCESS) {
            snprintf(r->status, sizeof r->status, "alloc: %s", ocla_status_string(st));
            sm_over = 1;
        } else if (!paper_time(ctx, lt_softmax_call, &sm, runs, budget_ms, i > 0, &r->ms, &r->ms_min, r->status,
                               sizeof r->status)) {
            snprintf(r->status, sizeof r->status, "ok");
        } else {
            sm_over = !strncmp(r->status, "skipped", 7);
        }
        r->gflop = 4.0 * B * H * L * D * 1e-9; /* q.k and p.v over L keys */
        r->gbytes = cache * 1e-9;
        ocla_tensor_destroy(sm.k);
        ocla_tensor_destroy(sm.v);
        ocla_tensor_destroy(sm.o);
    }
    bench_progress_end();
    ocla_tensor_destroy(q);
    ocla_tensor_destroy(k1);
    ocla_tensor_destroy(v1);
    ocla_tensor_destroy(o);
    ocla_tensor_destroy(s);
    ocla_tensor_destroy(z);
}
