/* SPDX-License-Identifier: MIT */
/* Concurrency (the rule in include/ocla/ocla.h: a context serialises its own calls with an internal
 * recursive lock; calls on different contexts run concurrently; runtime/blas.c serialises CLBlast
 * under a process-wide lock). Every op of the op table (tests/op_table.h), on every device under test:
 *
 *  - own contexts: N_THREADS threads, each with its own context, run every op ITERS times at once;
 *  - shared context: N_THREADS threads run every op ITERS times on one context at once;
 *  - CLBlast first use: two threads make the first GEMM of fresh contexts at the same instant,
 *    ROUNDS times (destroying a context clears CLBlast's cache, so each round is a first use again);
 *
 * and every result must equal, bit for bit, the single-threaded result of the same op on the same
 * device (same kernels, same inputs, no atomics in any reduction: the output is deterministic).
 * Threads never assert (Criterion asserts belong to the main thread): they record the first
 * problem, and the main thread asserts after joining. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "op_table.h"

#define N_THREADS 4
#define ITERS 5
#define ROUNDS 4

typedef struct ref_set {
    int n_ops;
    op_case **cases;   /* the op table's cases (read-only from every thread) */
    float **out;       /* the single-threaded result of each */
    size_t *n, max_out;
    int *supported;
    char selector[32]; /* the device's global index, for contexts made in threads */
} ref_set;

static ref_set *single_threaded_refs(int d) {
    ref_set *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    r->n_ops = op_count();
    r->cases = op_cases_default(1);
    r->out = calloc((size_t)r->n_ops, sizeof *r->out);
    r->n = calloc((size_t)r->n_ops, sizeof *r->n);
    r->supported = calloc((size_t)r->n_ops, sizeof *r->supported);
    cr_assert(r->cases && r->out && r->n && r->supported);
    ocla_context *ctx = tc_open(d);
    ocla_device_info info;
    tc_ok(ctx, ocla_context_device_info(ctx, &info));
    snprintf(r->selector, sizeof r->selector, "%d", info.global_index);
    for (int i = 0; i < r->n_ops; i++) {
        const op_case *c = r->cases[i];
        if (c->n_out > r->max_out) r->max_out = c->n_out;
        r->out[i] = malloc((c->n_out ? c->n_out : 1) * sizeof(float));
        cr_assert_not_null(r->out[i]);
        ocla_status st = op_run(ctx, c, r->out[i], c->n_out, &r->n[i]);
        r->supported[i] = st != OCLA_ERR_UNSUPPORTED;
        if (st == OCLA_ERR_UNSUPPORTED)
            cr_log_info("%s: %s unsupported", tc_device_name(d), c->op->name);
        else
            cr_assert_eq(st, OCLA_SUCCESS, "%s on %s: %s: %s", c->op->name, tc_device_name(d), ocla_status_string(st),
                         ocla_last_error(ctx));
    }
    ocla_context_destroy(ctx);
    return r;
}

static void free_refs(ref_set *r) {
    for (int i = 0; i < r->n_ops; i++) free(r->out[i]);
    free(r->out), free(r->n), free(r->supported);
    op_cases_free(r->cases);
    free(r);
}

typedef struct worker {
    const ref_set *ref;
    ocla_context *shared; /* NULL: the thread makes its own context */
    int id;
    int only_op; /* -1: every op; else this op only */
    pthread_barrier_t *start;
    char problem[512]; /* first failure, empty when none */
    long runs;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    ocla_context *ctx = w->shared;
    float *out = malloc((w->ref->max_out ? w->ref->max_out : 1) * sizeof *out);
    if (!ctx) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.device = w->ref->selector;
        if (ocla_context_create(&o, &ctx) != OCLA_SUCCESS) {
            snprintf(w->problem, sizeof w->problem, "context creation failed: %s", ocla_last_error(NULL));
            ctx = NULL;
        }
    }
    pthread_barrier_wait(w->start);
    for (int it = 0; ctx && out && it < ITERS; it++)
        for (int j = 0; j < w->ref->n_ops; j++) {
            const int n_ops = w->ref->n_ops;
            int i = w->only_op >= 0 ? w->only_op : (j + w->id) % n_ops; /* threads start on different ops */
            if (!w->ref->supported[i] || (w->only_op >= 0 && j > 0)) continue;
            const op_case *c = w->ref->cases[i];
            size_t n = 0;
            ocla_status st = op_run(ctx, c, out, w->ref->max_out, &n);
            w->runs++;
            if (w->problem[0]) continue;
            if (st != OCLA_SUCCESS)
                snprintf(w->problem, sizeof w->problem, "%s failed: %s: %s", c->op->name, ocla_status_string(st),
                         ocla_last_error(ctx));
            else if (n != w->ref->n[i] || memcmp(out, w->ref->out[i], n * sizeof *out) != 0)
                snprintf(w->problem, sizeof w->problem, "%s differs from the single-threaded result", c->op->name);
        }
    if (!w->shared && ctx) ocla_context_destroy(ctx);
    free(out);
    return NULL;
}

/* Run n workers at once; assert none had a problem. Returns the op runs made. */
static long run_workers(int n, const ref_set *ref, ocla_context *shared, int only_op, int d) {
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    pthread_barrier_t start;
    cr_assert(n <= N_THREADS);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].ref = ref, w[i].shared = shared, w[i].id = i, w[i].only_op = only_op, w[i].start = &start;
        cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    long runs = 0;
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(w[i].problem[0], 0, "%s, thread %d%s: %s", tc_device_name(d), i, shared ? " (shared context)" : "",
                     w[i].problem);
        runs += w[i].runs;
    }
    return runs;
}

Test(concurrency, own_context_per_thread, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ref_set *ref = single_threaded_refs(d);
        long runs = run_workers(N_THREADS, ref, NULL, -1, d);
        cr_assert_gt(runs, 0);
        cr_log_info("%s: %d threads x %d iterations x every op, own contexts: %ld op runs, results identical",
                    tc_device_name(d), N_THREADS, ITERS, runs);
        free_refs(ref);
    }
}

Test(concurrency, one_context_shared_by_threads, .timeout = 900) {
    for (int d = 0; d < tc_device_count(); d++) {
        ref_set *ref = single_threaded_refs(d);
        ocla_context *ctx = tc_open(d);
        long runs = run_workers(N_THREADS, ref, ctx, -1, d);
        cr_assert_gt(runs, 0);
        /* the shared context still works single-threaded afterwards */
        size_t n = 0;
        tc_ok(ctx, op_run(ctx, ref->cases[0], ref->out[0], ref->cases[0]->n_out, &n));
        ocla_context_destroy(ctx);
        cr_log_info("%s: %d threads x %d iterations x every op, one shared context: %ld op runs, results identical",
                    tc_device_name(d), N_THREADS, ITERS, runs);
        free_refs(ref);
    }
}

Test(concurrency, clblast_first_use_from_two_threads, .timeout = 900) {
    int gemm = -1;
    for (int i = 0; i < op_count(); i++)
        if (!strcmp(op_get(i)->name, "gemm")) gemm = i;
    cr_assert_geq(gemm, 0, "the op table has a gemm entry");
    for (int d = 0; d < tc_device_count(); d++) {
        ref_set *ref = single_threaded_refs(d); /* its context's destroy cleared CLBlast's cache */
        for (int round = 0; round < ROUNDS; round++) /* fresh contexts each round: first use again */
            run_workers(2, ref, NULL, gemm, d);
        free_refs(ref);
    }
}
