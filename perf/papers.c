/* SPDX-License-Identifier: MIT */
/* ocla-bench --papers NAME: one paper's speed claim, measured by the ordinary sweep on the paper's
 * grid (bench.c runs it: table, JSON, CSV, chart as usual), then summed up here: for each device,
 * mode and method, the time of the paper's baseline over the method's at every T, and the crossover
 * length (the shortest T of the grid from which the method is faster at every longer T measured).
 * The JSON gets a "claim" member with the same numbers (docs/BENCHMARKS.md describes it, so that rows
 * measured elsewhere, e.g. PyTorch SDPA, can be merged and the crossover recomputed the same way). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const bench_paper PAPERS[] = {
    {"gla",
     "GLA (Yang et al.): FlashLinearAttention is faster than FlashAttention-2 as a standalone layer even on short "
     "sequence lengths (e.g. 1K)",
     "linear,gla,softmax", "softmax",
     /* the paper's Fig. 2 shape: batch 32, 16 heads, head dim 64, T up to 16K */
     {32, 16, 64}, {512, 1024, 2048, 4096, 8192, 16384}, 6,
     /* --short (CPU drivers): one sequence of 4 heads, T up to 2K (softmax forward+backward at 2K takes
      * seconds a call there) */
     {1, 4, 64}, {512, 1024, 2048}, 3},
};
#define N_PAPERS (int)(sizeof PAPERS / sizeof PAPERS[0])

const bench_paper *bench_paper_find(const char *name) {
    for (int i = 0; i < N_PAPERS; i++)
        if (!strcmp(PAPERS[i].name, name)) return &PAPERS[i];
    return NULL;
}

/* The ok row of (dev, mode, method, T), or NULL. */
static const bench_result *find(const bench_result *r, int n, int dev, const char *mode, const char *method, long T) {
    for (int i = 0; i < n; i++)
        if (r[i].dev == dev && r[i].T == T && !strcmp(r[i].mode, mode) && !strcmp(r[i].method, method) &&
            !strcmp(r[i].status, "ok") && (strcmp(mode, "fwd") || r[i].picked))
            return &r[i];
    return NULL;
}

/* One comparison: speedup[i] = baseline ms / method ms at Ts[i] (0 where either is missing); the
 * crossover T (0: the method is not faster at the longest T measured; -1: nothing measured). */
typedef struct paper_cmp {
    double speedup[16], ms[16], base_ms[16];
    long crossover;
    int faster_everywhere; /* faster at every T where both were measured */
} paper_cmp;

static void compare(const bench_paper *p, const bench_result *r, int n, int dev, const char *mode,
                    const char *method, int nT, const long *Ts, paper_cmp *c) {
    memset(c, 0, sizeof *c);
    int measured = 0, all = 1;
    c->crossover = 0;
    for (int i = 0; i < nT && i < 16; i++) {
        const bench_result *m = find(r, n, dev, mode, method, Ts[i]), *b = find(r, n, dev, mode, p->baseline, Ts[i]);
        if (!m || !b || m->ms <= 0) continue;
        c->ms[i] = m->ms, c->base_ms[i] = b->ms, c->speedup[i] = b->ms / m->ms;
        measured++;
        if (c->speedup[i] > 1.0) {
            if (!c->crossover) c->crossover = Ts[i];
        } else {
            c->crossover = 0, all = 0; /* slower here: the crossover, if any, is further on */
        }
    }
    if (!measured) c->crossover = -1;
    c->faster_everywhere = measured && all;
}

static int paper_grid(const bench_paper *p, int short_grid, const long **Ts) {
    *Ts = short_grid ? p->short_Ts : p->Ts;
    return short_grid ? p->short_nT : p->nT;
}

/* The methods compared with the baseline, in the order of p->methods. */
static int paper_methods(const bench_paper *p, char names[][24], int max) {
    int k = 0;
    const char *s = p->methods;
    while (*s && k < max) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len < 24 && (len != strlen(p->baseline) || strncmp(s, p->baseline, len))) {
            memcpy(names[k], s, len);
            names[k++][len] = 0;
        }
        if (!e) break;
        s = e + 1;
    }
    return k;
}

static const char *const MODES[2] = {"fwd", "fwdbwd"};

void bench_paper_report(FILE *f, const bench_paper *p, int short_grid, const bench_device *devs, int ndev,
                        const bench_result *r, int n) {
    const long *Ts;
    const int nT = paper_grid(p, short_grid, &Ts);
    char names[8][24];
    const int nm = paper_methods(p, names, 8);
    const long *shape = short_grid ? p->short_shape : p->shape;
    fprintf(f, "\n== The claim: %s\n   here:", p->claim);
    for (int m = 0; m < nm; m++) fprintf(f, "%s %s", m ? "," : "", names[m]);
    fprintf(f, " against ocla's %s, fp32, B=%ld H=%ld D=%ld, scheduler's chunk%s\n", p->baseline, shape[0], shape[1],
            shape[2], short_grid ? " (--short: the CPU-driver grid)" : "");
    fprintf(f, "   speedup = %s time / method time (device time, median); crossover = the shortest T from which the\n"
               "   method is faster at every longer T measured\n", p->baseline);
    for (int d = 0; d < ndev; d++) {
        fprintf(f, "\n%s (%s, driver %s)\n%-8s %-10s", devs[d].name, devs[d].platform, devs[d].driver, "mode", "method");
        for (int i = 0; i < nT; i++) fprintf(f, " %8ld", Ts[i]);
        fprintf(f, "  crossover\n");
        for (int mo = 0; mo < 2; mo++)
            for (int m = 0; m < nm; m++) {
                paper_cmp c;
                compare(p, r, n, d, MODES[mo], names[m], nT, Ts, &c);
                fprintf(f, "%-8s %-10s", MODES[mo], names[m]);
                for (int i = 0; i < nT; i++) {
                    if (c.speedup[i] > 0) fprintf(f, " %7.2fx", c.speedup[i]);
                    else fprintf(f, " %8s", "-");
                }
                if (c.crossover < 0) fprintf(f, "  not measured\n");
                else if (!c.crossover) fprintf(f, "  none up to T = %ld\n", Ts[nT - 1]);
                else if (c.faster_everywhere) fprintf(f, "  faster at every T (from %ld)\n", c.crossover);
                else fprintf(f, "  T = %ld\n", c.crossover);
            }
    }
}

void bench_paper_json(FILE *f, const void *arg) {
    const bench_paper_run *run = arg;
    const bench_paper *p = run->paper;
    const long *Ts;
    const int nT = paper_grid(p, run->short_grid, &Ts);
    const long *shape = run->short_grid ? p->short_shape : p->shape;
    char names[8][24];
    const int nm = paper_methods(p, names, 8);
    fprintf(f, "  \"claim\": {\"paper\": \"%s\", \"text\": \"%s\", \"baseline\": \"%s\", \"grid\": \"%s\",\n", p->name,
            p->claim, p->baseline, run->short_grid ? "short" : "paper");
    fprintf(f, "    \"B\": %ld, \"H\": %ld, \"D\": %ld, \"T\": [", shape[0], shape[1], shape[2]);
    for (int i = 0; i < nT; i++) fprintf(f, "%s%ld", i ? ", " : "", Ts[i]);
    fprintf(f, "],\n    \"rows\": [");
    int first = 1;
    for (int d = 0; d < run->ndev; d++)
        for (int mo = 0; mo < 2; mo++)
            for (int m = 0; m < nm; m++) {
                paper_cmp c;
                compare(p, run->r, run->n, d, MODES[mo], names[m], nT, Ts, &c);
                fprintf(f, "%s\n      {\"device\": %d, \"mode\": \"%s\", \"method\": \"%s\", \"crossover_T\": ", first ? "" : ",",
                        d, MODES[mo], names[m]);
                first = 0;
                if (c.crossover > 0) fprintf(f, "%ld", c.crossover);
                else fprintf(f, "null");
                fprintf(f, ", \"faster_at_every_T\": %s, \"points\": [", c.faster_everywhere ? "true" : "false");
                int pf = 1;
                for (int i = 0; i < nT; i++) {
                    if (c.speedup[i] <= 0) continue;
                    fprintf(f, "%s{\"T\": %ld, \"ms\": %.6f, \"baseline_ms\": %.6f, \"speedup\": %.4f}", pf ? "" : ", ",
                            Ts[i], c.ms[i], c.base_ms[i], c.speedup[i]);
                    pf = 0;
                }
                fprintf(f, "]}");
            }
    fprintf(f, "\n    ]\n  }");
}
