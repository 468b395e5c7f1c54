/* SPDX-License-Identifier: MIT */
/* ocla-bench --papers NAME|all: each paper's speed claim on its grid, on every device, and its summary.
 *   gla, flash   the ordinary sweep (bench.c) of the paper's methods on its grid; then for each device,
 *                mode and (method, baseline) pair, the baseline's time over the method's at every T and
 *                the crossover length (the shortest T of the grid from which the method is faster at
 *                every longer T measured);
 *   lt           a decode step at each context length (perf/paper_lt.c): ms per token and the ratio;
 *   linformer    inference time and device memory at each n (perf/paper_linformer.c).
 * Every run prints the ordinary table and the claim's summary, and writes JSON (with a "claim" member
 * holding the summary's numbers), CSV and a chart: --json/--csv/--svg for one paper, or
 * DIR/papers-NAME.{txt,json,csv,svg} with --out DIR. A row whose call passes the grid's time budget
 * (or --budget) ends there; the rest of its row says "skipped" and why. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkdir */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#include <direct.h>
#define make_dir(p) _mkdir(p)
#else
#include <sys/stat.h>
#define make_dir(p) mkdir(p, 0755)
#endif

#include "bench.h"

#define MAX_DEVS 16

static const bench_paper PAPERS[] = {
    {"gla",
     "GLA (Yang et al.): FlashLinearAttention is faster than FlashAttention-2 as a standalone layer even on short "
     "sequence lengths (e.g. 1K)",
     PAPER_SWEEP, "linear,gla,softmax", {{"linear", "softmax"}, {"gla", "softmax"}, {NULL, NULL}}, 0, 0,
     /* the paper's Fig. 2 shape: batch 32, 16 heads, head dim 64, T up to 16K; a call over 1 s ends the
      * row (softmax: its forward+backward at 16K would take minutes of calls) */
     {{32, 16, 64}, {512, 1024, 2048, 4096, 8192, 16384}, 6, 1000, 0},
     /* CPU drivers: one sequence of 4 heads, T up to 2K */
     {{1, 4, 64}, {512, 1024, 2048}, 3, 3000, 0}},
    {"lt",
     "Linear Transformers (Katharopoulos et al.): up to 4000x faster on autoregressive prediction of very long "
     "sequences",
     PAPER_DECODE, NULL, {{"linear_rec", "softmax_kv"}, {NULL, NULL}}, 0, 4000,
     /* 8 sequences of 16 heads of 64 decoding, contexts 256 .. 64K */
     {{8, 16, 64}, {256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}, 9, 1000, 0},
     {{1, 4, 64}, {256, 1024, 4096, 16384}, 4, 2000, 0}},
    {"flash",
     "FLASH (Hua et al.): training speedups of up to 4.9x on Wiki-40B and 12.1x on PG-19 over Transformer+ "
     "(FLASH's GAU against a softmax multi-head layer)",
     PAPER_SWEEP, "gau_layer,mha_softmax,flash,softmax",
     {{"gau_layer", "mha_softmax"}, {"flash", "softmax"}, {NULL, NULL}}, 1, 12.1,
     /* the layers at d = H*D = 768 (12 heads of 64; GAU: e = 2d, s = 128, the paper's), 4 sequences */
     {{4, 12, 64}, {512, 1024, 2048, 4096, 8192}, 5, 1000, 0},
     /* CPU drivers: d = 128 (2 heads of 64; GAU e = 256, s = 128), one sequence */
     {{1, 2, 64}, {512, 1024, 2048}, 3, 4000, 0}},
    {"linformer",
     "Linformer (Wang et al.): self-attention in linear time and memory (inference time and memory against n, "
     "k = 128 and 256)",
     PAPER_MEMORY, NULL, {{"linformer", "softmax"}, {NULL, NULL}}, 0, 0,
     {{1, 8, 64}, {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}, 8, 1000, 0},
     {{1, 4, 64}, {512, 1024, 2048, 4096, 8192}, 5, 2000, 0}},
};
#define N_PAPERS (int)(sizeof PAPERS / sizeof PAPERS[0])

/* --tiny: the slow-CPU-driver grids (rusticl on llvmpipe, where ocla's softmax runs in launches of at
 * most 60,000 loop iterations), in PAPERS' order: one head of 64 (FLASH's GAU: d = 64, e = 128, s =
 * 128), lengths from 256 with 1K among them, budgets that let the softmax baselines' forward+backward
 * run at 1K (60 s a call: 45 s on rusticl on a loaded 2-core machine), the median of 3 timed calls. */
static const bench_paper_grid TINY[N_PAPERS] = {
    {{1, 1, 64}, {256, 512, 1024, 2048}, 4, 60000, 3},         /* gla */
    {{1, 1, 64}, {256, 1024, 4096, 16384}, 4, 10000, 3},       /* lt */
    {{1, 1, 64}, {256, 512, 1024, 2048}, 4, 60000, 3},         /* flash */
    {{1, 1, 64}, {256, 512, 1024, 2048, 4096}, 5, 20000, 3}};  /* linformer */

const bench_paper *bench_paper_find(const char *name) {
    for (int i = 0; i < N_PAPERS; i++)
        if (!strcmp(PAPERS[i].name, name)) return &PAPERS[i];
    return NULL;
}
const bench_paper *bench_paper_at(int i) { return i >= 0 && i < N_PAPERS ? &PAPERS[i] : NULL; }
const char *bench_paper_names(void) { return "gla, lt, flash, linformer or all"; }
const bench_paper_grid *bench_paper_grid_at(const bench_paper *p, int level) {
    return level == GRID_TINY ? &TINY[p - PAPERS] : level == GRID_SHORT ? &p->brief : &p->full;
}

static const bench_paper_grid *run_grid(const bench_paper_run *run) {
    return bench_paper_grid_at(run->paper, run->short_grid);
}

/* The row of (dev, mode, method, T) whose config starts with cfg (NULL: any): an ok one if there is
 * one (forward: the scheduler's pick), else the first (for its status), else NULL. */
static const bench_result *find_row(const bench_paper_run *run, int dev, const char *mode, const char *method,
                                    const char *cfg, long T) {
    const bench_result *any = NULL;
    for (int i = 0; i < run->n; i++) {
        const bench_result *q = &run->r[i];
        if (q->dev != dev || q->T != T || strcmp(q->mode, mode) || strcmp(q->method, method)) continue;
        if (cfg && strncmp(q->config, cfg, strlen(cfg))) continue;
        if (!strcmp(q->status, "ok") && (strcmp(mode, "fwd") || q->picked)) return q;
        if (!any) any = q;
    }
    return any;
}
static int row_ok(const bench_result *q) { return q && !strcmp(q->status, "ok") && q->ms > 0; }

/* ---- the sweep papers (gla, flash): speedups over a baseline and the crossover ---- */
typedef struct paper_cmp {
    double speedup[10], ms[10], base_ms[10];
    long crossover; /* 0: not faster at the longest T measured; -1: nothing measured */
    int faster_everywhere;
} paper_cmp;

static void compare(const bench_paper_run *run, int dev, const char *mode, const char *method, const char *base,
                    paper_cmp *c) {
    const bench_paper_grid *g = run_grid(run);
    memset(c, 0, sizeof *c);
    int measured = 0, all = 1;
    for (int i = 0; i < g->nT; i++) {
        const bench_result *m = find_row(run, dev, mode, method, NULL, g->Ts[i]);
        const bench_result *b = find_row(run, dev, mode, base, NULL, g->Ts[i]);
        if (!row_ok(m) || !row_ok(b)) continue;
        c->ms[i] = m->ms, c->base_ms[i] = b->ms, c->speedup[i] = b->ms / m->ms;
        measured++;
        if (c->speedup[i] > 1.0) {
            if (!c->crossover) c->crossover = g->Ts[i];
        } else {
            c->crossover = 0, all = 0; /* slower here: the crossover, if any, is further on */
        }
    }
    if (!measured) c->crossover = -1;
    c->faster_everywhere = measured && all;
}

static const char *const MODES[2] = {"fwd", "fwdbwd"};

static int npairs(const bench_paper *p) {
    int k = 0;
    while (k < 3 && p->pairs[k][0]) k++;
    return k;
}

/* Why the baseline has no number at T (its row's status), or NULL when it has one. */
static const char *base_gap(const bench_paper_run *run, int d, const char *mode, const char *base, long T) {
    const bench_result *b = find_row(run, d, mode, base, NULL, T);
    return row_ok(b) ? NULL : b ? b->status : "not run";
}

static void sweep_report(FILE *f, const bench_paper_run *run) {
    const bench_paper *p = run->paper;
    const bench_paper_grid *g = run_grid(run);
    fprintf(f, "   speedup = baseline time / method time (device time, medians); crossover = the shortest T from\n"
               "   which the method is faster at every longer T measured; \"-\": not measured (the rows above say why)\n");
    double best = 0;
    long best_T = 0;
    const char *best_m = "", *best_mode = "";
    int best_d = 0;
    for (int d = 0; d < run->ndev; d++) {
        fprintf(f, "\n%s (%s, driver %s)\n%-7s %-22s", run->devs[d].name, run->devs[d].platform, run->devs[d].driver,
                "mode", "method vs baseline");
        for (int i = 0; i < g->nT; i++) fprintf(f, " %7ld", g->Ts[i]);
        fprintf(f, "  crossover\n");
        for (int mo = p->fwdbwd_only ? 1 : 0; mo < 2; mo++)
            for (int k = 0; k < npairs(p); k++) {
                paper_cmp c;
                compare(run, d, MODES[mo], p->pairs[k][0], p->pairs[k][1], &c);
                char label[48];
                snprintf(label, sizeof label, "%s vs %s", p->pairs[k][0], p->pairs[k][1]);
                fprintf(f, "%-7s %-22s", MODES[mo], label);
                for (int i = 0; i < g->nT; i++) {
                    if (c.speedup[i] > 0) fprintf(f, " %6.2fx", c.speedup[i]);
                    else fprintf(f, " %7s", "-");
                    if (c.speedup[i] > best) {
                        best = c.speedup[i], best_T = g->Ts[i], best_m = p->pairs[k][0], best_mode = MODES[mo];
                        best_d = d;
                    }
                }
                if (c.crossover < 0) fprintf(f, "  not measured\n");
                else if (!c.crossover) fprintf(f, "  none up to T = %ld\n", g->Ts[g->nT - 1]);
                else if (c.faster_everywhere) fprintf(f, "  faster at every T (from %ld)\n", c.crossover);
                else fprintf(f, "  T = %ld\n", c.crossover);
            }
        /* where a baseline stopped: its reason, once */
        for (int mo = p->fwdbwd_only ? 1 : 0; mo < 2; mo++)
            for (int k = 0; k < npairs(p); k++) {
                if (k && !strcmp(p->pairs[k][1], p->pairs[k - 1][1])) continue;
                for (int i = 0; i < g->nT; i++) {
                    const char *why = base_gap(run, d, MODES[mo], p->pairs[k][1], g->Ts[i]);
                    if (!why) continue;
                    fprintf(f, "   %s %s from T = %ld: %s\n", MODES[mo], p->pairs[k][1], g->Ts[i], why);
                    break;
                }
            }
    }
    if (best > 0)
        fprintf(f, "\nlargest speedup measured: %.2fx (%s %s at T = %ld on %s)%s", best, best_mode, best_m, best_T,
                run->devs[best_d].name, p->paper_ratio > 0 ? "; the paper: " : "\n");
    if (best > 0 && p->paper_ratio > 0) fprintf(f, "up to %.1fx (whole models in training)\n", p->paper_ratio);
}

static void sweep_json(FILE *f, const bench_paper_run *run) {
    const bench_paper *p = run->paper;
    const bench_paper_grid *g = run_grid(run);
    fprintf(f, "    \"rows\": [");
    int first = 1;
    for (int d = 0; d < run->ndev; d++)
        for (int mo = p->fwdbwd_only ? 1 : 0; mo < 2; mo++)
            for (int k = 0; k < npairs(p); k++) {
                paper_cmp c;
                compare(run, d, MODES[mo], p->pairs[k][0], p->pairs[k][1], &c);
                fprintf(f, "%s\n      {\"device\": %d, \"mode\": \"%s\", \"method\": \"%s\", \"baseline\": \"%s\", "
                           "\"crossover_T\": ",
                        first ? "" : ",", d, MODES[mo], p->pairs[k][0], p->pairs[k][1]);
                first = 0;
                if (c.crossover > 0) fprintf(f, "%ld", c.crossover);
                else fprintf(f, "null");
                fprintf(f, ", \"faster_at_every_T\": %s, \"points\": [", c.faster_everywhere ? "true" : "false");
                int pf = 1;
                for (int i = 0; i < g->nT; i++) {
                    if (c.speedup[i] <= 0) continue;
                    fprintf(f, "%s{\"T\": %ld, \"ms\": %.6f, \"baseline_ms\": %.6f, \"speedup\": %.4f}", pf ? "" : ", ",
                            g->Ts[i], c.ms[i], c.base_ms[i], c.speedup[i]);
                    pf = 0;
                }
                fprintf(f, "]}");
            }
    fprintf(f, "\n    ]");
}

/* ---- lt: ms per token of each form and their ratio per context ---- */
static void lt_report(FILE *f, const bench_paper_run *run) {
    const bench_paper_grid *g = run_grid(run);
    const long B = g->shape[0];
    fprintf(f, "   ms per token = device time of one decode step / B (B = %ld, one token per sequence);\n"
               "   ratio = softmax_kv / linear_rec\n", B);
    double best = 0;
    long best_L = 0;
    int best_d = 0;
    for (int d = 0; d < run->ndev; d++) {
        fprintf(f, "\n%s (%s, driver %s)\n%8s %16s %16s %9s\n", run->devs[d].name, run->devs[d].platform,
                run->devs[d].driver, "context", "linear_rec ms", "softmax_kv ms", "ratio");
        for (int i = 0; i < g->nT; i++) {
            const bench_result *l = find_row(run, d, "decode", "linear_rec", NULL, g->Ts[i]);
            const bench_result *s = find_row(run, d, "decode", "softmax_kv", NULL, g->Ts[i]);
            fprintf(f, "%8ld", g->Ts[i]);
            if (row_ok(l)) fprintf(f, " %16.6f", l->ms / (double)B);
            else fprintf(f, " %16s", "-");
            if (row_ok(s)) fprintf(f, " %16.6f", s->ms / (double)B);
            else fprintf(f, " %16s", "-");
            if (row_ok(l) && row_ok(s)) {
                const double ratio = s->ms / l->ms;
                fprintf(f, " %8.1fx\n", ratio);
                if (ratio > best) best = ratio, best_L = g->Ts[i], best_d = d;
            } else {
                const bench_result *gap = row_ok(s) ? l : s;
                fprintf(f, "  %s\n", gap ? gap->status : "not run");
            }
        }
    }
    if (best > 0)
        fprintf(f, "\nlargest ratio measured: %.1fx at context %ld on %s (B=%ld H=%ld D=%ld, fp32, one attention op per"
                   " token); the paper: up to %.0fx (whole models generating images)\n",
                best, best_L, run->devs[best_d].name, B, g->shape[1], g->shape[2], run->paper->paper_ratio);
}

static void lt_json(FILE *f, const bench_paper_run *run) {
    const bench_paper_grid *g = run_grid(run);
    fprintf(f, "    \"paper_ratio\": %.1f,\n    \"rows\": [", run->paper->paper_ratio);
    for (int d = 0; d < run->ndev; d++) {
        fprintf(f, "%s\n      {\"device\": %d, \"points\": [", d ? "," : "", d);
        int pf = 1;
        for (int i = 0; i < g->nT; i++) {
            const bench_result *l = find_row(run, d, "decode", "linear_rec", NULL, g->Ts[i]);
            const bench_result *s = find_row(run, d, "decode", "softmax_kv", NULL, g->Ts[i]);
            if (!row_ok(l) && !row_ok(s)) continue;
            fprintf(f, "%s{\"context\": %ld, \"linear_ms_per_step\": ", pf ? "" : ", ", g->Ts[i]);
            pf = 0;
            if (row_ok(l)) fprintf(f, "%.6f", l->ms);
            else fprintf(f, "null");
            fprintf(f, ", \"softmax_ms_per_step\": ");
            if (row_ok(s)) fprintf(f, "%.6f, \"ratio\": ", s->ms);
            else fprintf(f, "null, \"ratio\": ");
            if (row_ok(l) && row_ok(s)) fprintf(f, "%.4f}", s->ms / l->ms);
            else fprintf(f, "null}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n    ]");
}

/* ---- linformer: time and memory per n ---- */
static const char *const LF_CFG[3] = {"k=128", "k=256", NULL};
static const char *const LF_METHOD[3] = {"linformer", "linformer", "softmax"};

static void lf_report(FILE *f, const bench_paper_run *run) {
    const bench_paper_grid *g = run_grid(run);
    const double BH = (double)g->shape[0] * (double)g->shape[1];
    fprintf(f, "   time: device time of one forward call (median), ms; memory: the tensors (q, k, v, o; E, F) plus\n"
               "   every scratch buffer and GEMM temporary the context holds after the call (ocla_debug_scratch_bytes),\n"
               "   MB; \"n x n\": what one fp32 score matrix per head would take (computed, not run: ocla's softmax is\n"
               "   flash-style and never stores it; the paper's baseline Transformer does)\n");
    for (int d = 0; d < run->ndev; d++) {
        fprintf(f, "\n%s (%s, driver %s)\n%6s %11s %9s %11s %9s %11s %9s %10s %8s %8s\n", run->devs[d].name,
                run->devs[d].platform, run->devs[d].driver, "n", "k=128 ms", "MB", "k=256 ms", "MB", "softmax ms",
                "MB", "n x n MB", "sm/k128", "sm/k256");
        const char *stop = NULL;
        long stop_n = 0;
        for (int i = 0; i < g->nT; i++) {
            const long n = g->Ts[i];
            const bench_result *q[3];
            fprintf(f, "%6ld", n);
            for (int m = 0; m < 3; m++) {
                q[m] = find_row(run, d, "fwd", LF_METHOD[m], LF_CFG[m], n);
                if (row_ok(q[m])) fprintf(f, " %11.4f %9.2f", q[m]->ms, q[m]->mem_bytes / 1048576.0);
                else fprintf(f, " %11s %9s", "-", "-");
                if (m == 2 && !row_ok(q[m]) && !stop && q[m]) stop = q[m]->status, stop_n = n;
            }
            fprintf(f, " %10.1f", BH * (double)n * (double)n * 4.0 / 1048576.0);
            for (int m = 0; m < 2; m++) {
                if (row_ok(q[m]) && row_ok(q[2])) fprintf(f, " %7.2fx", q[2]->ms / q[m]->ms);
                else fprintf(f, " %8s", "-");
            }
            fprintf(f, "\n");
        }
        if (stop) fprintf(f, "   softmax stops at n = %ld: %s\n", stop_n, stop);
        for (int m = 0; m < 2; m++) { /* growth of the time per doubling of n */
            const bench_result *a = NULL, *b = NULL;
            for (int i = 0; i < g->nT; i++) {
                const bench_result *q = find_row(run, d, "fwd", LF_METHOD[m], LF_CFG[m], g->Ts[i]);
                if (!row_ok(q)) continue;
                if (!a) a = q;
                b = q;
            }
            if (a && b && b != a)
                fprintf(f, "   linformer %s: time x%.1f and memory x%.1f from n = %ld to %ld (n x%.0f)\n", LF_CFG[m],
                        b->ms / a->ms, b->mem_bytes / a->mem_bytes, a->T, b->T, (double)b->T / (double)a->T);
        }
    }
}

static void lf_json(FILE *f, const bench_paper_run *run) {
    const bench_paper_grid *g = run_grid(run);
    static const char *const keys[3] = {"linformer_k128", "linformer_k256", "softmax"};
    fprintf(f, "    \"memory\": \"tensors + ocla_debug_scratch_bytes after the call\",\n    \"rows\": [");
    for (int d = 0; d < run->ndev; d++) {
        fprintf(f, "%s\n      {\"device\": %d, \"points\": [", d ? "," : "", d);
        for (int i = 0; i < g->nT; i++) {
            fprintf(f, "%s{\"n\": %ld", i ? ", " : "", g->Ts[i]);
            for (int m = 0; m < 3; m++) {
                const bench_result *q = find_row(run, d, "fwd", LF_METHOD[m], LF_CFG[m], g->Ts[i]);
                if (row_ok(q)) fprintf(f, ", \"%s_ms\": %.6f, \"%s_bytes\": %.0f", keys[m], q->ms, keys[m], q->mem_bytes);
                else fprintf(f, ", \"%s_ms\": null, \"%s_bytes\": null", keys[m], keys[m]);
            }
            fprintf(f, "}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n    ]");
}

void bench_paper_report(FILE *f, const bench_paper_run *run) {
    const bench_paper *p = run->paper;
    const bench_paper_grid *g = run_grid(run);
    fprintf(f, "\n== The claim: %s\n   here: B=%ld H=%ld D=%ld, fp32, lengths", p->claim, g->shape[0], g->shape[1],
            g->shape[2]);
    for (int i = 0; i < g->nT; i++) fprintf(f, "%s%ld", i ? "," : " ", g->Ts[i]);
    const char *which = run->short_grid == GRID_TINY    ? " (--tiny: the slow-CPU-driver grid)"
                        : run->short_grid == GRID_SHORT ? " (--short: the CPU-driver grid)"
                                                        : "";
    fprintf(f, "%s; a call over %.0f ms ends its row\n", which, run->budget_ms);
    if (g->runs > 0) fprintf(f, "   (this grid: the median of %d timed calls a point, not of 10)\n", g->runs);
    if (p->kind == PAPER_SWEEP) sweep_report(f, run);
    else if (p->kind == PAPER_DECODE) lt_report(f, run);
    else lf_report(f, run);
}

void bench_paper_json(FILE *f, const void *arg) {
    const bench_paper_run *run = arg;
    const bench_paper *p = run->paper;
    const bench_paper_grid *g = run_grid(run);
    fprintf(f, "  \"claim\": {\"paper\": \"%s\", \"text\": \"%s\", \"baseline\": \"%s\", \"grid\": \"%s\",\n", p->name,
            p->claim, p->pairs[0][1], run->short_grid == GRID_TINY ? "tiny" : run->short_grid ? "short" : "paper");
    fprintf(f, "    \"B\": %ld, \"H\": %ld, \"D\": %ld, \"budget_ms\": %.0f, \"T\": [", g->shape[0], g->shape[1],
            g->shape[2], run->budget_ms);
    for (int i = 0; i < g->nT; i++) fprintf(f, "%s%ld", i ? ", " : "", g->Ts[i]);
    fprintf(f, "],\n");
    if (p->kind == PAPER_SWEEP) sweep_json(f, run);
    else if (p->kind == PAPER_DECODE) lt_json(f, run);
    else lf_json(f, run);
    fprintf(f, "\n  }");
}

/* ---- charts of lt and linformer (gla and flash: the sweep's chart) ---- */
static void add_series(report_panel *pn, const bench_paper_run *run, int d, const char *mode, const char *method,
                       const char *cfg, const char *label, int dashed, int memory, double per) {
    const bench_paper_grid *g = run_grid(run);
    if (pn->ns >= 6) return;
    report_series *s = &pn->s[pn->ns];
    memset(s, 0, sizeof *s);
    s->label = label, s->dashed = dashed;
    for (int i = 0; i < g->nT && s->n < 12; i++) {
        const bench_result *q = find_row(run, d, mode, method, cfg, g->Ts[i]);
        if (!row_ok(q)) continue;
        s->x[s->n] = (double)g->Ts[i];
        s->y[s->n++] = memory ? q->mem_bytes / 1048576.0 : q->ms / per;
    }
    if (s->n) pn->ns++;
}

int bench_paper_svg(const char *path, const bench_paper_run *run) {
    const bench_paper_grid *g = run_grid(run);
    report_panel *pn = calloc((size_t)(2 * MAX_DEVS), sizeof *pn);
    if (!pn) return -1;
    int np = 0;
    for (int d = 0; d < run->ndev && d < MAX_DEVS; d++) {
        if (run->paper->kind == PAPER_DECODE) {
            report_panel *a = &pn[np++];
            snprintf(a->title, sizeof a->title, "%s: decode, ms per token (B=%ld H=%ld D=%ld)", run->devs[d].name,
                     g->shape[0], g->shape[1], g->shape[2]);
            a->xlabel = "context length", a->ylabel = "ms per token";
            add_series(a, run, d, "decode", "linear_rec", NULL, "linear, recurrent", 0, 0, (double)g->shape[0]);
            add_series(a, run, d, "decode", "softmax_kv", NULL, "softmax, KV cache", 1, 0, (double)g->shape[0]);
            continue;
        }
        for (int mem = 0; mem < 2; mem++) {
            report_panel *a = &pn[np++];
            snprintf(a->title, sizeof a->title, "%s: inference %s (B=%ld H=%ld D=%ld)", run->devs[d].name,
                     mem ? "memory" : "time", g->shape[0], g->shape[1], g->shape[2]);
            a->xlabel = "n (sequence length)", a->ylabel = mem ? "MB on the device" : "ms per call";
            add_series(a, run, d, "fwd", "linformer", "k=128", "linformer k=128", 0, mem, 1);
            add_series(a, run, d, "fwd", "linformer", "k=256", "linformer k=256", 0, mem, 1);
            add_series(a, run, d, "fwd", "softmax", NULL, "softmax (flash-style)", 1, mem, 1);
        }
    }
    const char *note = run->short_grid == GRID_TINY ? "slow-CPU-driver grid (--tiny)"
                       : run->short_grid              ? "CPU-driver grid (--short)"
                                                      : NULL;
    const int rc = report_svg_panels(path, pn, np, note);
    free(pn);
    return rc;
}

/* ---- the driver ---- */
static int write_files(const bench_papers_env *env, const bench_paper_run *run, const char *json, const char *csv,
                       const char *svg) {
    int rc = 0;
    if (json && report_json(json, run->devs, run->ndev, run->r, run->n, bench_paper_json, run)) rc = -1;
    if (csv && report_csv(csv, run->devs, run->r, run->n)) rc = -1;
    if (svg) {
        int have = 0;
        for (int i = 0; i < run->n; i++) have |= row_ok(&run->r[i]) && !strcmp(run->r[i].method, run->paper->pairs[0][1]);
        const char *note = have ? NULL : "no baseline point in this run (it failed or was over the budget)";
        if (run->paper->kind == PAPER_SWEEP ? report_svg(svg, run->devs, run->ndev, run->r, run->n, note)
                                            : bench_paper_svg(svg, run))
            rc = -1;
    }
    (void)env;
    return rc;
}

static int one_paper(const bench_papers_env *env, const bench_paper *p, ocla_context **ctx, const size_t *gi,
                     const bench_device *devs, int ndev) {
    const bench_paper_grid *g = bench_paper_grid_at(p, env->short_grid);
    const double budget = env->budget_ms > 0 ? env->budget_ms : g->budget_ms;
    const int runs = g->runs > 0 ? g->runs : env->runs;
    bench_results_clear();
    const double t0 = bench_now();
    for (int d = 0; d < ndev; d++) {
        bench_progress(1, "[%s] --papers %s ...", devs[d].name, p->name);
        if (p->kind == PAPER_SWEEP) env->sweep(ctx[d], d, &devs[d], p, env);
        else if (p->kind == PAPER_DECODE) paper_lt_run(ctx[d], d, g, runs, budget);
        else paper_linformer_run(gi[d], d, g, runs, budget);
    }
    int n;
    const bench_result *r = bench_results(&n);
    const bench_paper_run run = {p, env->short_grid, budget, devs, ndev, r, n};
    char path[4][1024] = {"", "", "", ""};
    static const char *const ext[4] = {"txt", "json", "csv", "svg"};
    for (int i = 0; env->out_dir && i < 4; i++)
        snprintf(path[i], sizeof path[i], "%s/papers-%s.%s", env->out_dir, p->name, ext[i]);
    FILE *txt = path[0][0] ? fopen(path[0], "w") : NULL;
    FILE *outs[2] = {stdout, txt};
    for (int k = 0; k < 2; k++) {
        if (!outs[k]) continue;
        fprintf(outs[k], "\n######## --papers %s (%.0f s)\n", p->name, bench_now() - t0);
        report_table(outs[k], devs, ndev, r, n);
        bench_paper_report(outs[k], &run);
    }
    int rc = 0;
    if (txt && fclose(txt)) rc = 1;
    if (path[0][0] && !txt) rc = 1;
    if (write_files(env, &run, env->json, env->csv, env->svg)) rc = 1;
    if (env->out_dir && write_files(env, &run, path[1], path[2], path[3])) rc = 1;
    if (rc) fprintf(stderr, "ocla-bench: writing the files of --papers %s failed: %s\n", p->name, strerror(errno));
    return rc;
}

int bench_papers_main(const bench_papers_env *env, const bench_paper *only) {
    if (env->out_dir) { /* the directory, writable, before any work */
        if (make_dir(env->out_dir) != 0 && errno != EEXIST) {
            fprintf(stderr, "ocla-bench: --out %s: %s\n", env->out_dir, strerror(errno));
            return 2;
        }
        char probe[1024];
        snprintf(probe, sizeof probe, "%s/papers-%s.txt", env->out_dir, only ? only->name : PAPERS[0].name);
        FILE *f = fopen(probe, "a");
        if (!f) {
            fprintf(stderr, "ocla-bench: cannot write %s: %s\n", probe, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    static bench_device devs[MAX_DEVS];
    ocla_context *ctx[MAX_DEVS];
    size_t gi[MAX_DEVS]; /* the global index of each opened device */
    int ndev = 0;
    for (int i = 0; i < env->nidx && ndev < MAX_DEVS; i++) {
        memset(&devs[ndev], 0, sizeof devs[ndev]);
        gi[ndev] = env->idx[i];
        if ((ctx[ndev] = bench_open_device(env->idx[i], env->no_peak, &devs[ndev])) != NULL) ndev++;
    }
    if (!ndev) return 1;
    int rc = 0;
    const double t0 = bench_now();
    for (int i = 0; i < N_PAPERS; i++)
        if (!only || only == &PAPERS[i]) rc |= one_paper(env, &PAPERS[i], ctx, gi, devs, ndev);
    fprintf(stderr, "ocla-bench: --papers %s took %.0f s\n", only ? only->name : "all", bench_now() - t0);
    for (int d = 0; d < ndev; d++) ocla_context_destroy(ctx[d]);
    return rc;
}
