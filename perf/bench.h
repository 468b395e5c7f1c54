/* SPDX-License-Identifier: MIT */
/* ocla-bench shared declarations (perf/bench.c measures, perf/report.c writes table/JSON/CSV/SVG). */
#ifndef OCLA_BENCH_H
#define OCLA_BENCH_H
#include <stdio.h>

#include <ocla/ocla.h>

#include "op_table.h"

typedef struct bench_device {
    char name[160];
    char platform[128];
    char driver[128];
    int is_gpu;
    int events; /* 1 = event-profiled, 0 = host clock */
    double peak_gflops;   /* best vector width */
    double peak_by_width[5]; /* widths 1,2,4,8,16 */
    double bw_gbs;        /* float4 copy, read + write */
    int peak_fma;         /* 1: the peak ran fma() chains (CL_FP_FMA), 0: mad() */
} bench_device;

typedef struct bench_result {
    int dev;             /* index into the device array */
    char method[24];     /* linear, simple_gla, gla, softmax, or a method of perf/op_methods.c */
    char config[48];     /* the method's own sizes beyond B,T,H,D ("d=256 k=128"), "" for none */
    char mode[8];        /* fwd | decode | fwdbwd */
    long B, T, H, D;
    int chunk;           /* chunk run (0 = recurrent) */
    int picked;          /* the scheduler's pick */
    double ms;           /* median */
    double ms_min;
    int runs;
    double gflop, gbytes;
    /* host times (time_host in bench.c; 0 = not measured, --no-host-time) */
    double host_enqueue_us;   /* enqueue time per call of host_calls back-to-back calls, no wait */
    double wall_pipelined_ms; /* wall time per call of the same batch, up to its ocla_finish */
    double wall_wait_ms;      /* one call then ocla_finish, median over runs */
    int host_calls;           /* calls in the pipelined batch */
    char status[96];     /* "ok" or why not */
    char detail[480];    /* per-kernel device time of the median run (ocla_profile_detail), --detail */
    double mem_bytes;    /* --papers linformer: the tensors + the context's scratch after the call (0: not measured) */
} bench_result;

/* The device's fp32 FMA peak (d->peak_gflops, d->peak_by_width) and copy bandwidth (d->bw_gbs),
 * measured with plain OpenCL on ctx's queue (perf/peak.c). 0, or -1 with the reason in err. */
int bench_device_peak(ocla_context *ctx, bench_device *d, char *err, size_t errlen);
/* Progress on stderr: a transient line (line = 0) or a kept one; plain lines when stderr is no terminal. */
void bench_progress(int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Clears a transient progress line (terminal only). */
void bench_progress_end(void);
/* Monotonic wall clock in seconds (bench.c). */
double bench_now(void);
/* Median of v[0..n) (sorts v in place). */
double bench_median(double *v, int n);
/* Is name one of the comma-separated words of list? */
int bench_list_has(const char *list, const char *name);
/* --pick (perf/pick.c): the scheduler's chunk against every chunk it may pick, side by side, for the
 * methods of the comma list (NULL: linear, simple_gla, gla) at shape B,T,H,D (NULL: perf/torch_cpu_compare.py's
 * three); table on stdout, JSON rows to json if given. */
int pick_main(const size_t *idx, int nidx, int runs, const long *shape, const char *methods, const char *json);
/* --ops (perf/ops.c): every entry of the op table on each device of idx; JSON rows to json if given. */
int ops_main(const size_t *idx, int nidx, int runs, const char *json);

/* --host-decode (perf/decode_host.c): host overhead of GLA decode steps on each device of idx (global
 * device indices); table on stdout, JSON to json_path when not NULL. Returns the exit code. */
int decode_host_main(const size_t *idx, int nidx, int steps, const char *json_path);
/* --varlen (perf/varlen.c): packed vs dense throughput at the same tokens, and a decode step over
 * state slots against the copy bandwidth; shape B,T,H,D or NULL (defaults); JSON to json_path. */
int varlen_main(const size_t *idx, int nidx, int runs, const long *shape, int detail, const char *json_path);

/* ---- methods run through the op table (perf/op_methods.c): FLASH, Linformer, the layers ---- */
/* Their sizes beyond the sweep's B,T,H,D (command line; defaults in bench.c). */
typedef struct bench_sizes {
    long kp;           /* Linformer's projected length k (capped at T) */
    long gau_e, gau_s; /* GAU: width e of U and V (0: 2d) and s of Z */
    long gla_rank;     /* GLA layer: rank of the low-rank gate */
} bench_sizes;
typedef struct bench_tmethod bench_tmethod;
int bench_tmethod_count(void);
const bench_tmethod *bench_tmethod_get(int i);
const char *bench_tmethod_name(const bench_tmethod *m);
int bench_tmethod_is_layer(const bench_tmethod *m);       /* on [B,T,d], d = H*D */
int bench_tmethod_has_backward(const bench_tmethod *m);   /* 0: forward+backward rows say "backward not available" */
ocla_op_kind bench_tmethod_plan_op(const bench_tmethod *m); /* the chunk the scheduler picks; OCLA_OP_COUNT: none */
/* The method's sizes at a point, for the config column ("d=256 e=512 s=128"). */
void bench_tmethod_config(const bench_tmethod *m, const bench_sizes *z, long T, long H, long D, char *buf, size_t n);

/* One point: the entry's case and tensors, and for forward+backward dL/dout and a gradient per input. */
typedef struct bench_tpoint {
    const bench_tmethod *m;
    op_case *c;
    op_tensors ft;
    int out;      /* the forward's output array */
    int backward; /* run the backward after the forward */
    ocla_tensor *d_out;
    ocla_tensor *grad[OP_MAX_ARRAYS]; /* by the forward's array index; NULL for outputs and absent arrays */
    op_case *bc;     /* or the table's backward entry at the same shape, on tensors of its own */
    op_tensors bt;
} bench_tpoint;
ocla_status bench_tpoint_create(ocla_context *ctx, const bench_tmethod *m, const bench_sizes *z, long B, long T,
                                long H, long D, int backward, bench_tpoint *p);
ocla_status bench_tpoint_run(ocla_context *ctx, bench_tpoint *p, int chunk);
/* After a run: the output (and every gradient) finite; 0, else -1 with the reason in why. */
int bench_tpoint_check(ocla_context *ctx, const bench_tpoint *p, char *why, size_t n);
void bench_tpoint_cost(const bench_tpoint *p, int chunk, double *gflop, double *gbytes);
void bench_tpoint_destroy(bench_tpoint *p);

/* ---- --papers NAME (perf/papers.c): a paper's speed claim on its grid ---- */
typedef enum bench_paper_kind {
    PAPER_SWEEP = 0, /* the ordinary sweep of bench.c on the paper's grid (gla, flash) */
    PAPER_DECODE,    /* cost per generated token against context length (lt: perf/paper_lt.c) */
    PAPER_MEMORY     /* inference time and device memory against n (linformer: perf/paper_linformer.c) */
} bench_paper_kind;
typedef struct bench_paper_grid {
    long shape[3];    /* B, H, D */
    long Ts[10];      /* sequence / context lengths */
    int nT;
    double budget_ms; /* a call slower than this ends its method's row (the rest: "skipped") */
    int runs;         /* timed calls a point (median); 0: the tool's --runs (default 10) */
} bench_paper_grid;
/* Which of a paper's grids a run takes: the paper's (GPU), --short (CPU drivers), --tiny (slow CPU
 * drivers: rusticl on llvmpipe). */
typedef enum bench_grid_level { GRID_PAPER = 0, GRID_SHORT = 1, GRID_TINY = 2 } bench_grid_level;
typedef struct bench_paper {
    const char *name;     /* --papers NAME */
    const char *claim;    /* the paper's claim, in its words */
    bench_paper_kind kind;
    const char *methods;  /* PAPER_SWEEP: the methods run (--methods) */
    const char *pairs[3][2]; /* {method, its baseline}: the speedups reported; {NULL} ends */
    int fwdbwd_only;      /* PAPER_SWEEP: forward+backward rows only (a training-speed claim) */
    double paper_ratio;   /* the paper's largest speedup (0: none stated) */
    bench_paper_grid full;  /* the paper's grid (GPU) */
    bench_paper_grid brief; /* --short: the CPU-driver grid (--tiny: perf/papers.c's own table) */
} bench_paper;
/* The grid of paper p at a bench_grid_level. */
const bench_paper_grid *bench_paper_grid_at(const bench_paper *p, int level);
/* NULL: no such paper ("all" is not one: bench_paper_at walks them). */
const bench_paper *bench_paper_find(const char *name);
const bench_paper *bench_paper_at(int i); /* NULL past the last */
/* The names --papers takes, for messages: "gla, lt, flash, linformer or all". */
const char *bench_paper_names(void);

/* What bench.c gives the papers' driver (perf/papers.c). */
typedef struct bench_papers_env bench_papers_env;
struct bench_papers_env {
    const size_t *idx; /* global device indices */
    int nidx;
    int short_grid, runs, no_peak; /* short_grid: a bench_grid_level */
    double budget_ms;        /* --budget: 0 = each grid's own */
    const char *out_dir;     /* --out DIR: papers-NAME.{txt,json,csv,svg} per paper, or NULL */
    const char *json, *csv, *svg; /* one paper only: these files as for a sweep */
    /* the ordinary sweep of paper p's grid (bench.c) on one device, rows added to the result list */
    void (*sweep)(ocla_context *ctx, int di, const bench_device *d, const bench_paper *p, const bench_papers_env *env);
    const void *opts; /* bench.c's own options, for sweep */
};
/* --papers NAME|all: each paper in turn on every device; returns the exit code. */
int bench_papers_main(const bench_papers_env *env, const bench_paper *only);

/* bench.c: the result list every mode fills (cleared between papers), and one device's context. */
bench_result *bench_result_add(void); /* a zeroed row, or NULL when the list is full */
bench_result *bench_results(int *n);
void bench_results_clear(void);
/* A profiling context on global device gi with d filled (name, platform, driver; the peak and
 * bandwidth unless no_peak); NULL when it cannot be made (said on stderr). */
ocla_context *bench_open_device(size_t gi, int no_peak, bench_device *d);

/* A point on a GPU whose device time (median, ms) is far below the host clock's around the same
 * profiled calls (median, ms; kernels: launches a call counts): 1 with "suspect: ..." in why, else 0.
 * The events then missed work (e.g. a library call that enqueues several kernels and hands back the
 * last one's event). Far below: under a quarter, and more than 1 ms + 0.1 ms a kernel apart (a
 * profiled call waits on every event, tens of microseconds each on a GPU). Not on CPU drivers: they
 * share the cores with the host and whatever else runs, and on a loaded machine each wait on an
 * event is a thread's wake-up (PoCL at load 25: host 5-10x the device time for every op), so the
 * host clock is no reference there. perf/paper_timer.c. */
int bench_events_suspect(ocla_context *ctx, double dev_ms, double host_ms, int kernels, char *why, size_t why_size);
/* The papers' own measurements (perf/paper_timer.c): warm-up, then the median device time of runs
 * calls of fn; a warm-up call over budget_ms (0: none) skips the point: -1 with "skipped: ..." in
 * why (other failures: -1 with the status); 1 (measured, with "suspect: ..." in why) where
 * bench_events_suspect flags it. The first call counts only when warm (its row has a measured
 * point: the kernels are built). */
int paper_time(ocla_context *ctx, ocla_status (*fn)(ocla_context *ctx, void *arg), void *arg, int runs,
               double budget_ms, int warm, double *med, double *mn, char *why, size_t why_size);
/* A tensor of the given dims filled with pseudo-random values in [-scale, scale) (a hash of the index). */
ocla_status paper_tensor(ocla_context *ctx, int ndim, const int64_t *dims, float scale, ocla_tensor **out);
/* lt (perf/paper_lt.c) and linformer (perf/paper_linformer.c): rows of one device. */
void paper_lt_run(ocla_context *ctx, int di, const bench_paper_grid *g, int runs, double budget_ms);
void paper_linformer_run(size_t gi, int di, const bench_paper_grid *g, int runs, double budget_ms);

/* The claim's summary on f, and the JSON member "claim" (report_json's extra writer; arg: a
 * bench_paper_run). */
typedef struct bench_paper_run {
    const bench_paper *paper;
    int short_grid; /* a bench_grid_level */
    double budget_ms; /* the per-call budget the run used */
    const bench_device *devs;
    int ndev;
    const bench_result *r;
    int n;
} bench_paper_run;
void bench_paper_report(FILE *f, const bench_paper_run *run);
void bench_paper_json(FILE *f, const void *arg);
/* The chart of a claim that the sweep's chart does not draw (lt, linformer). */
int bench_paper_svg(const char *path, const bench_paper_run *run);

/* A chart of panels of (x, y) series, log-log (report.c). */
typedef struct report_series {
    const char *label;
    int dashed;
    int n;
    double x[12], y[12];
} report_series;
typedef struct report_panel {
    char title[200];
    const char *xlabel, *ylabel;
    int ns;
    report_series s[6];
} report_panel;
int report_svg_panels(const char *path, const report_panel *p, int np, const char *note);

void report_table(FILE *f, const bench_device *devs, int ndev, const bench_result *r, int n);
/* extra (may be NULL): writes one more member of the top-level object (no trailing comma) */
int report_json(const char *path, const bench_device *devs, int ndev, const bench_result *r, int n,
                void (*extra)(FILE *f, const void *arg), const void *extra_arg);
int report_csv(const char *path, const bench_device *devs, const bench_result *r, int n);
int report_svg(const char *path, const bench_device *devs, int ndev, const bench_result *r, int n,
               const char *note);
#endif
