/* SPDX-License-Identifier: MIT */
/* ocla-bench: measure each device's fp32 FMA peak and copy bandwidth (perf/peak.c, clpeak's
 * method), then sweep attention methods x T x (B,H,D) x chunk size x {forward, decode step,
 * forward+backward}. Device times: ocla_profile_begin/end (events summed over every kernel and GEMM;
 * host clock where the driver's events read 0), after warm-up, median of >= 10 runs. Host times
 * beside them: enqueue time per call and wall time per call of back-to-back calls (pipelined), and
 * the median wall time of one call followed by ocla_finish. Progress on stderr, table on stdout,
 * --json/--csv/--svg files. --load-inputs DIR runs one op on inputs from files (perf/fla_compare.py
 * uses it); --host-decode measures the host overhead of decode steps (perf/decode_host.c); --papers
 * NAME|all runs each paper's claim (perf/papers.c drives; the sweep papers come back to paper_sweep).
 * FLASH, Linformer and the layers run
 * through the op table (perf/op_methods.c).
 * Public API only (ocla/ocla.h). */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#include <io.h>
#include <windows.h>
#define isatty _isatty
#define fileno _fileno
#else
#include <unistd.h>
#endif

#include "bench.h"
#include "ocla/ocla.h"

#define MAX_DEV 16
#define MAX_RES 4096

typedef struct opts {
    const char *devices; /* comma-separated selectors, NULL = all */
    const char *json, *csv, *svg, *load_dir;
    const char *methods; /* comma list */
    int full, quick, runs, all_chunks, chunks_everywhere, no_decode, no_backward, no_peak, detail, no_host_time;
    int host_decode;     /* --host-decode: decode host overhead (perf/decode_host.c) instead of the sweep */
    int ops;             /* --ops: every entry of the op table (perf/ops.c) instead of the sweep */
    int varlen;          /* --varlen: packed sequences and state slots (perf/varlen.c) instead of the sweep */
    int pick;            /* --pick: the scheduler's chunk against every candidate (perf/pick.c) instead of the sweep */
    int decode_steps;
    long shape[4];       /* B,T,H,D or zeros */
    int has_shape;
    bench_sizes sizes;   /* the op-table methods' own sizes (--linformer-k, --gau) */
    const bench_paper *paper; /* --papers NAME: its methods on its grid (perf/papers.c) */
    int papers;               /* --papers given (NAME or all) */
    int short_grid;           /* --short: the paper's CPU-driver grid, --tiny: its slow-CPU-driver grid (bench_grid_level) */
    const char *out_dir;      /* --papers: --out DIR */
    double budget_ms;         /* --papers: --budget MS (0: the grid's own) */
    ocla_dtype dtype;         /* --dtype: q, k, v, o, g and the gradients of linear, simple_gla, gla */
} opts;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_now(void) {
#if defined(_WIN32)
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* Progress on stderr. On a terminal a transient line (line = 0) is overwritten by the next; into a
 * pipe or file every message is a plain line, with no escape codes. */
void bench_progress(int line, const char *fmt, ...) {
    static int tty = -1;
    if (tty < 0) tty = isatty(fileno(stderr));
    va_list ap;
    va_start(ap, fmt);
    if (tty) fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (line || !tty) fputc('\n', stderr);
    fflush(stderr);
}

void bench_progress_end(void) {
    if (isatty(fileno(stderr))) fputs("\r\033[K", stderr);
}

/* Peak and bandwidth: perf/peak.c. */
static void measure_peak(ocla_context *ctx, bench_device *d) {
    char err[160];
    if (bench_device_peak(ctx, d, err, sizeof err) != 0)
        bench_progress(1, "[%s] peak measurement: %s", d->name, err);
}

/* ---------------------------------------------------------------------------------------------- */
/* Ops                                                                                             */
/* ---------------------------------------------------------------------------------------------- */
typedef struct method_def {
    const char *name;
    ocla_gate_kind gate;
    ocla_op_kind op;
    int softmax; /* ocla_softmax_attention (softmax.h): no decode, "chunk" = its query/key block */
    const bench_tmethod *tm; /* a method of the op table (perf/op_methods.c); NULL: the built-ins below */
} method_def;

/* The built-in methods: their own buffers (make_bufs), decode, and --load-inputs. */
static const method_def METHODS[] = {
    {"linear", OCLA_GATE_NONE, OCLA_OP_LINEAR_CHUNK, 0, NULL},
    {"simple_gla", OCLA_GATE_SCALAR, OCLA_OP_SIMPLE_GLA_CHUNK, 0, NULL},
    {"gla", OCLA_GATE_VECTOR, OCLA_OP_GLA_CHUNK, 0, NULL},
    {"softmax", OCLA_GATE_NONE, OCLA_OP_SOFTMAX_TILED, 1, NULL},
};
#define N_METHODS (int)(sizeof METHODS / sizeof METHODS[0])

/* Every method: the built-ins, then those of perf/op_methods.c. */
static int method_count(void) { return N_METHODS + bench_tmethod_count(); }
static method_def method_at(int i) {
    if (i < N_METHODS) return METHODS[i];
    method_def m = {NULL, OCLA_GATE_NONE, OCLA_OP_COUNT, 0, bench_tmethod_get(i - N_METHODS)};
    m.name = bench_tmethod_name(m.tm);
    m.op = bench_tmethod_plan_op(m.tm);
    return m;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

typedef struct op_bufs {
    ocla_tensor *q, *k, *v, *g, *o, *s;
    ocla_tensor *d_o, *dq, *dk, *dv, *dg; /* mode fwdbwd only */
} op_bufs;

static void free_bufs(op_bufs *b) {
    ocla_tensor_destroy(b->d_o);
    ocla_tensor_destroy(b->dq);
    ocla_tensor_destroy(b->dk);
    ocla_tensor_destroy(b->dv);
    ocla_tensor_destroy(b->dg);
    ocla_tensor_destroy(b->q);
    ocla_tensor_destroy(b->k);
    ocla_tensor_destroy(b->v);
    ocla_tensor_destroy(b->g);
    ocla_tensor_destroy(b->o);
    ocla_tensor_destroy(b->s);
    memset(b, 0, sizeof *b);
}

/* Random inputs: one host block of uniform [-1,1) numbers, grown as needed and uploaded at a different
 * offset per tensor (generating billions of numbers per point would dominate --full). */
static float *rnd_block;
static size_t rnd_n;
static unsigned rnd_shift;

/* --dtype: the element type of the linear-attention methods' tensors (states fp32) */
static ocla_dtype g_dtype = OCLA_F32;
/* its plan request flag (the scheduler plans half requests with the portable kernels) */
static unsigned dtype_flags(void) { return g_dtype == OCLA_BF16 ? OCLA_PLAN_BF16 : g_dtype == OCLA_F16 ? OCLA_PLAN_F16 : 0u; }

/* n fp32 values into t, converted to its dtype */
static ocla_status upload_as(ocla_context *ctx, ocla_tensor *t, const float *data, size_t n) {
    const ocla_dtype dt = ocla_tensor_dtype(t);
    if (dt == OCLA_F32) return ocla_tensor_upload(ctx, t, data, n * 4);
    uint16_t *h = malloc(n * sizeof *h);
    ocla_status st = h ? ocla_convert_from_f32(dt, data, h, n) : OCLA_ERR_OUT_OF_MEMORY;
    if (st == OCLA_SUCCESS) st = ocla_tensor_upload(ctx, t, h, n * sizeof *h);
    free(h);
    return st;
}

static ocla_status upload_fn(ocla_context *ctx, ocla_tensor *t, const float *data) {
    size_t n = (size_t)ocla_tensor_numel(t);
    if (data) return upload_as(ctx, t, data, n);
    if (rnd_n < n + 64) {
        float *h = realloc(rnd_block, (n + 64) * 4);
        if (!h) return OCLA_ERR_OUT_OF_MEMORY;
        for (size_t i = rnd_n; i < n + 64; i++) h[i] = frand();
        rnd_block = h;
        rnd_n = n + 64;
    }
    rnd_shift = (rnd_shift + 7) % 64;
    return upload_as(ctx, t, rnd_block + rnd_shift, n);
}

/* Allocate q,k,v,(g),o,(state) for [B,T,H,D]; host arrays (NULL = random) for the inputs. */
/* Modes: forward, decode step (recurrent, state in and out), forward + backward (do -> dq,dk,dv,dg). */
enum { MODE_FWD = 0, MODE_DECODE = 1, MODE_FWDBWD = 2 };
static const char *MODE_NAMES[3] = {"fwd", "decode", "fwdbwd"};

static ocla_status make_bufs(ocla_context *ctx, ocla_gate_kind gate, long B, long T, long H, long D, int mode,
                             const float *hq, const float *hk, const float *hv, const float *hg, const float *hs,
                             const float *hdo, op_bufs *b) {
    const int decode = mode == MODE_DECODE;
    const ocla_dtype dt = g_dtype; /* --dtype (the softmax method runs with f32 only) */
    memset(b, 0, sizeof *b);
    int64_t d4[4] = {B, T, H, D}, d3[3] = {B, T, H}, s4[4] = {B, H, D, D};
    ocla_status st;
    if ((st = ocla_tensor_create(ctx, dt, 4, d4, &b->q)) || (st = ocla_tensor_create(ctx, dt, 4, d4, &b->k)) ||
        (st = ocla_tensor_create(ctx, dt, 4, d4, &b->v)) || (st = ocla_tensor_create(ctx, dt, 4, d4, &b->o)))
        goto fail;
    if (gate == OCLA_GATE_SCALAR && (st = ocla_tensor_create(ctx, dt, 3, d3, &b->g))) goto fail;
    if (gate == OCLA_GATE_VECTOR && (st = ocla_tensor_create(ctx, dt, 4, d4, &b->g))) goto fail;
    if (decode && (st = ocla_tensor_create(ctx, OCLA_F32, 4, s4, &b->s))) goto fail;
    if ((st = upload_fn(ctx, b->q, hq)) || (st = upload_fn(ctx, b->k, hk)) || (st = upload_fn(ctx, b->v, hv))) goto fail;
    if (b->g) {
        if (hg) {
            if ((st = upload_fn(ctx, b->g, hg))) goto fail;
        } else {
            int64_t n = ocla_tensor_numel(b->g);
            float *h = malloc((size_t)n * 4);
            if (!h) {
                st = OCLA_ERR_OUT_OF_MEMORY;
                goto fail;
            }
            for (int64_t i = 0; i < n; i++) { /* log forget gates, logsigmoid(x)/16 like fla's tests */
                float x = 4.0f * frand();
                h[i] = -log1pf(expf(-x)) / 16.0f;
            }
            st = upload_as(ctx, b->g, h, (size_t)n);
            free(h);
            if (st) goto fail;
        }
    }
    if (b->s && (st = upload_fn(ctx, b->s, hs))) goto fail;
    if (mode == MODE_FWDBWD) {
        if ((st = ocla_tensor_create(ctx, dt, 4, d4, &b->d_o)) || (st = ocla_tensor_create(ctx, dt, 4, d4, &b->dq)) ||
            (st = ocla_tensor_create(ctx, dt, 4, d4, &b->dk)) || (st = ocla_tensor_create(ctx, dt, 4, d4, &b->dv)))
            goto fail;
        if (gate == OCLA_GATE_SCALAR && (st = ocla_tensor_create(ctx, dt, 3, d3, &b->dg))) goto fail;
        if (gate == OCLA_GATE_VECTOR && (st = ocla_tensor_create(ctx, dt, 4, d4, &b->dg))) goto fail;
        if ((st = upload_fn(ctx, b->d_o, hdo))) goto fail;
    }
    return OCLA_SUCCESS;
fail:
    free_bufs(b);
    return st;
}

static ocla_status run_op(ocla_context *ctx, const method_def *m, int mode, int chunk, op_bufs *b) {
    const int decode = mode == MODE_DECODE;
    if (m->softmax) { /* forward+backward: ocla_softmax_backward on the forward's o */
        ocla_softmax_params sp;
        ocla_softmax_params_defaults(&sp);
        sp.block = chunk;
        ocla_status st = ocla_softmax_attention(ctx, &sp, b->q, b->k, b->v, b->o);
        if (st != OCLA_SUCCESS || mode != MODE_FWDBWD) return st;
        const ocla_softmax_grad_io gio = {b->q, b->k, b->v, b->o, b->d_o, b->dq, b->dk, b->dv};
        return ocla_softmax_backward(ctx, &sp, &gio);
    }
    ocla_attn_params p;
    ocla_attn_params_defaults(&p);
    p.gate = m->gate;
    p.form = decode ? OCLA_FORM_RECURRENT : OCLA_FORM_CHUNKED;
    p.chunk = decode ? 0 : chunk;
    ocla_attn_io io;
    memset(&io, 0, sizeof io);
    io.q = b->q;
    io.k = b->k;
    io.v = b->v;
    io.g = b->g;
    io.o = b->o;
    if (decode) {
        io.initial_state = b->s;
        io.final_state = b->s;
    }
    ocla_status st = ocla_attention_forward(ctx, &p, &io);
    if (st != OCLA_SUCCESS || mode != MODE_FWDBWD) return st;
    /* backward: its own chunk rule (train.h) unless a chunk is given */
    ocla_attn_grad_io gio;
    memset(&gio, 0, sizeof gio);
    gio.q = b->q, gio.k = b->k, gio.v = b->v, gio.g = b->g, gio.d_o = b->d_o;
    gio.dq = b->dq, gio.dk = b->dk, gio.dv = b->dv, gio.dg = b->dg;
    return ocla_attention_backward(ctx, &p, &gio);
}

/* One timed point: a built-in method on its buffers, or an op-table method's point. */
typedef struct point {
    const method_def *m;
    int mode, chunk;
    op_bufs *b;       /* built-in */
    bench_tpoint *tp; /* op table */
} point;

static ocla_status point_run(ocla_context *ctx, const point *p) {
    return p->tp ? bench_tpoint_run(ctx, p->tp, p->chunk) : run_op(ctx, p->m, p->mode, p->chunk, p->b);
}

/* Warm up, then median of runs; returns 0 on success. */
static double call_budget_ms = 0; /* default sweep: skip points slower than this a call (0 = no limit) */
static int paper_budget = 0;        /* the budget is a --papers grid's: the row ends per mode */
static int paper_row_warm = 0;      /* --papers: this row has a measured point (its kernels are built) */

/* Per-kernel device time of the run nearest the median, when detail != NULL (ocla_profile_detail).
 * check: a median far below the host clock's around the same calls fails the point with "suspect: ..."
 * (bench_events_suspect; *med and *mn are set). */
static int time_op(ocla_context *ctx, const point *p, int runs, double *med, double *mn, char *why, size_t why_size,
                   char *detail, size_t detail_size, int check) {
    for (int w = 0; w < 2; w++) {
        double t0 = bench_now();
        ocla_status st = point_run(ctx, p);
        if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
        if (st != OCLA_SUCCESS) {
            snprintf(why, why_size, "%s", ocla_status_string(st));
            return -1;
        }
        /* op-table methods: the first call's output (and gradients) must be finite */
        if (w == 0 && p->tp && bench_tpoint_check(ctx, p->tp, why, why_size)) return -1;
        double call_ms = (bench_now() - t0) * 1e3;
        /* the first call may build kernels: it counts once the row has a measured point (--papers) */
        if (call_budget_ms > 0 && (w || (paper_budget && paper_row_warm)) && call_ms > call_budget_ms) {
            if (paper_budget) snprintf(why, why_size, "skipped: %.0f ms a call, over the budget of %.0f ms", call_ms,
                                       call_budget_ms);
            else snprintf(why, why_size, "skipped: %.0f ms a call (default sweep; --methods %s runs it)", call_ms,
                          p->m->name);
            return -1;
        }
    }
    ocla_finish(ctx);
    double *t = malloc(sizeof(double) * (size_t)runs * 2);
    if (!t) return -1;
    double *host = t + runs; /* the host clock around each profiled call */
    int n = 0, kernels = 0;
    for (int r = 0; r < runs; r++) {
        double ms = 0;
        int nk = 0;
        const double h0 = bench_now();
        ocla_profile_begin(ctx);
        ocla_status st = point_run(ctx, p);
        ocla_profile_end(ctx, &ms, &nk);
        host[n] = (bench_now() - h0) * 1e3;
        if (st != OCLA_SUCCESS) {
            snprintf(why, why_size, "%s", ocla_status_string(st));
            free(t);
            return -1;
        }
        if (nk > kernels) kernels = nk;
        t[n++] = ms;
        if (detail) { /* keep the detail of the run closest to the running median */
            double *c = malloc(sizeof(double) * (size_t)n);
            if (c) {
                memcpy(c, t, sizeof(double) * (size_t)n);
                double md = bench_median(c, n), best = 1e300;
                free(c);
                for (int i = 0; i < n - 1; i++)
                    if (fabs(t[i] - md) < best) best = fabs(t[i] - md);
                if (n == 1 || fabs(ms - md) <= best) ocla_profile_detail(ctx, detail, detail_size);
            }
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *mn = t[0];
    *med = bench_median(t, n);
    const int suspect = check && bench_events_suspect(ctx, *med, bench_median(host, n), kernels, why, why_size);
    free(t);
    return suspect ? -1 : 0;
}

/* Host times of one point, after time_op (warmed up, no profile open, so no call waits on events):
 *  pipelined: ocla_finish; t0; n calls back to back, no wait; t1; ocla_finish; t2:
 *             host_enqueue_us = (t1 - t0) / n, wall_pipelined_ms = (t2 - t0) / n;
 *  wall+wait: t0; one call; ocla_finish; t1: wall_wait_ms = the median over nw calls.
 * n = 100 ms / the device time within [3, 1000], nw = 200 ms / the device time within [3, runs]:
 * many calls where a call is short, so a batch is far above the clock's resolution, and only 3 where
 * a call takes long (the host's share is small there), so the sweep does not triple in length. */
#define HOST_BATCH_MS 100.0
#define HOST_WAIT_MS 200.0
static int clamp_calls(double budget_ms, double device_ms, int lo, int hi) {
    double n = device_ms > 0 ? ceil(budget_ms / device_ms) : hi;
    return n > hi ? hi : n < lo ? lo : (int)n;
}

static int time_host(ocla_context *ctx, const point *p, int runs, double device_ms, bench_result *r, char *why,
                     size_t why_size) {
    const int n = clamp_calls(HOST_BATCH_MS, device_ms, 3, 1000);
    const int nw = clamp_calls(HOST_WAIT_MS, device_ms, 3, runs);
    ocla_status st = ocla_finish(ctx);
    const double t0 = bench_now();
    for (int i = 0; i < n && st == OCLA_SUCCESS; i++) st = point_run(ctx, p);
    const double t1 = bench_now();
    if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
    double t2 = bench_now();
    double *t = malloc(sizeof(double) * (size_t)nw);
    int nt = 0;
    if (!t && st == OCLA_SUCCESS) st = OCLA_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < nw && st == OCLA_SUCCESS; i++) {
        double w0 = bench_now();
        st = point_run(ctx, p);
        if (st == OCLA_SUCCESS) st = ocla_finish(ctx);
        t[nt++] = (bench_now() - w0) * 1e3;
    }
    if (st != OCLA_SUCCESS) {
        snprintf(why, why_size, "host timing: %s", ocla_status_string(st));
        free(t);
        return -1;
    }
    r->host_calls = n;
    r->host_enqueue_us = (t1 - t0) / n * 1e6;
    r->wall_pipelined_ms = (t2 - t0) / n * 1e3;
    r->wall_wait_ms = bench_median(t, nt);
    free(t);
    return 0;
}

/* Nominal work of one call. Forward: B*H*T*(4*C*D + 4*D*D) flops (intra-chunk scores and A*V, state
 * update and q*S), q,k,v,o (+g) once. Forward+backward: 3x the forward's flops and 2.5x its bytes (the
 * backward recomputes the states and does two products per forward product), a convention, not a count. */
static void models(const method_def *m, int mode, long B, long T, long H, long D, int chunk, double *gflop,
                   double *gbytes) {
    const int decode = mode == MODE_DECODE;
    double b = (double)B, t = (double)T, h = (double)H, d = (double)D;
    double g_elems = m->gate == OCLA_GATE_VECTOR ? b * t * h * d : m->gate == OCLA_GATE_SCALAR ? b * t * h : 0;
    if (m->softmax) { /* causal: QK^T and PV over the lower triangle */
        *gflop = 2.0 * b * h * t * t * d * 1e-9;
        *gbytes = 4.0 * b * t * h * d * 4.0 * 1e-9;
    } else if (decode) {
        *gflop = 4.0 * b * h * d * d * 1e-9;
        *gbytes = (2.0 * b * h * d * d + 4.0 * b * h * d + g_elems) * 4.0 * 1e-9;
    } else {
        *gflop = b * h * t * (4.0 * chunk * d + 4.0 * d * d) * 1e-9;
        *gbytes = (4.0 * b * t * h * d + g_elems) * 4.0 * 1e-9;
    }
    if (mode == MODE_FWDBWD) {
        *gflop *= 3.0;
        *gbytes *= 2.5;
    }
}

int bench_list_has(const char *list, const char *name) {
    const char *p = list;
    size_t n = strlen(name);
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int method_selected(const opts *o, const char *name) { return !o->methods || bench_list_has(o->methods, name); }

static int n_results = 0;
static bench_result results[MAX_RES];

/* The result list (bench.h): the sweep fills it directly, the papers' own modes through these. */
bench_result *bench_result_add(void) {
    if (n_results >= MAX_RES) return NULL;
    bench_result *r = &results[n_results++];
    memset(r, 0, sizeof *r);
    return r;
}
bench_result *bench_results(int *n) {
    *n = n_results;
    return results;
}
void bench_results_clear(void) { n_results = 0; }

/* The chunks of one point into chunks[0..return): [0] the scheduler's pick (0: the op's own, for the
 * softmax baseline and the op-table methods with no chunk of their own), then every fitting candidate
 * where asked (forward only: the backward takes its own chunk rule, train.h). */
static int point_chunks(ocla_context *ctx, const ocla_plan_limits *lim, const method_def *m, const opts *o, int mode,
                        int first_T, long B, long T, long H, long D, int *chunks) {
    int nc = 0, pick = 0;
    /* softmax's blocks at the first T (or everywhere with --shape / --chunks all); the chunked ops'
     * candidates at every T with --full too */
    const int every_block = o->all_chunks && (first_T || o->has_shape || o->chunks_everywhere);
    const int every_chunk = every_block || (o->all_chunks && o->full);
    ocla_plan_request rq = {m->op, B, T, H, D, D, 0, dtype_flags(), 0, 0};
    /* softmax: block 0 = the op's own pick (the plan's OCLA_OP_SOFTMAX_TILED chunk can be outside the
     * 16/32/64 the op accepts) */
    if (!m->softmax && m->op != OCLA_OP_COUNT) {
        ocla_plan plan;
        char text[512];
        if (ocla_plan_explain(ctx, &rq, &plan, text, sizeof text) == OCLA_SUCCESS) pick = plan.chunk;
    }
    chunks[nc++] = pick;
    if (mode != MODE_FWD) return nc;
    if (m->softmax && every_block) {
        static const int blocks[3] = {16, 32, 64}; /* softmax.h: 16, 32 or 64 */
        for (int i = 0; i < 3; i++)
            if (blocks[i] != pick) chunks[nc++] = blocks[i];
    } else if (!m->softmax && m->op != OCLA_OP_COUNT && every_chunk) {
        int c[16];
        int k = ocla_plan_candidates(lim, &rq, c, 16);
        for (int i = 0; i < k && nc < 16; i++)
            if (c[i] != pick) chunks[nc++] = c[i];
    }
    return nc;
}

static void bench_device_sweep(ocla_context *ctx, int di, const bench_device *dev, const opts *o) {
    static const long T_small[] = {512, 1024};
    static const long T_quick[] = {512};
    static const long T_full[] = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
    /* (B,H,D); the layers (perf/op_methods.c) on [B,T,d] with d = H*D: d = 256, in --full 512 and 1024 */
    long shapes_default[][3] = {{1, 2, 64}}, layers_default[][3] = {{1, 4, 64}};
    long shapes_full[][3] = {{1, 4, 64}, {4, 16, 128}}, layers_full[][3] = {{1, 8, 64}, {4, 16, 64}};
    const long *Ts = o->full ? T_full : o->quick ? T_quick : T_small;
    int nT = o->full ? 8 : o->quick ? 1 : 2;
    long one_shape[1][3];
    long one_T[1];
    if (o->paper) { /* the paper's grid, one shape for every method */
        const bench_paper_grid *g = bench_paper_grid_at(o->paper, o->short_grid);
        for (int i = 0; i < 3; i++) one_shape[0][i] = g->shape[i];
        Ts = g->Ts;
        nT = g->nT;
    } else if (o->has_shape) {
        one_shape[0][0] = o->shape[0];
        one_shape[0][1] = o->shape[2];
        one_shape[0][2] = o->shape[3];
        one_T[0] = o->shape[1];
        Ts = one_T;
        nT = 1;
    }
    /* the limits ocla_plan_candidates wants, from the device's own (the scheduler's starting point) */
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    ocla_plan_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.local_mem_size = info.local_mem_size;
    lim.max_work_group_size = info.max_work_group_size;
    lim.max_work_item_size0 = info.max_work_item_sizes[0];
    lim.compute_units = info.compute_units;
    lim.simd_width = info.preferred_wg_multiple;
    lim.is_gpu = info.is_gpu;
    lim.max_alloc_size = info.max_alloc_size;
    lim.vendor = info.vendor; /* the scheduler's parameter table row */
    snprintf(lim.arch, sizeof lim.arch, "%.*s", (int)sizeof lim.arch - 1, info.device_name);
    for (int mi = 0; mi < method_count(); mi++) {
        const method_def md = method_at(mi), *m = &md;
        if (!method_selected(o, m->name)) continue;
        const int layer = m->tm && bench_tmethod_is_layer(m->tm);
        const int one = o->has_shape || o->paper;
        long (*shp)[3] = one ? one_shape : o->full ? (layer ? layers_full : shapes_full)
                                                   : (layer ? layers_default : shapes_default);
        const int nshp = one ? 1 : o->full ? 2 : 1;
        int over_budget = 0; /* a point of this method was over the default sweep's budget: skip the rest */
        for (int si = 0; si < nshp; si++) {
            const long B0 = shp[si][0], H0 = shp[si][1], D = shp[si][2];
            for (int mode = MODE_FWD; mode <= MODE_FWDBWD; mode++) {
                if (mode == MODE_DECODE && (m->softmax || m->tm || o->no_decode)) continue;
                /* --papers: a training-speed claim runs forward+backward only; a row ends per mode */
                if (o->paper && o->paper->fwdbwd_only && mode != MODE_FWDBWD) continue;
                if (o->paper) over_budget = 0, paper_row_warm = 0;
                if (mode == MODE_FWDBWD && o->no_backward) continue;
                const int decode = mode == MODE_DECODE;
                const int no_bwd = m->tm && mode == MODE_FWDBWD && !bench_tmethod_has_backward(m->tm);
                for (int ti = 0; ti < (decode ? 1 : nT); ti++) {
                    long T = decode ? 1 : Ts[ti];
                    /* --full decodes 64 sequences x 16 heads (issue 5's decode shape) */
                    const long B = decode && !o->has_shape && o->full ? 64 : B0;
                    const long H = decode && !o->has_shape && o->full ? 16 : H0;
                    /* quadratic: --full stops softmax at T = 32768 (70 TFLOP a call at 65536, B=4 H=16) */
                    if (m->softmax && o->full && T > 32768) continue;
                    /* forward+backward: the scheduler's chunk only, and up to T = 16384 in --full */
                    if (mode == MODE_FWDBWD && o->full && T > 16384) continue;
                    /* memory: q,k,v,o (+g) must fit the device with room to spare */
                    double need = (mode == MODE_FWDBWD ? 10.0 : 5.0) * (double)B * (double)T * (double)H * (double)D * 4.0;
                    if (need > 0.5 * (double)info.global_mem_size ||
                        (double)B * (double)T * (double)H * (double)D * 4.0 > (double)info.max_alloc_size)
                        continue;
                    int chunks[16];
                    const int nc = decode ? (chunks[0] = 0, 1)
                                          : point_chunks(ctx, &lim, m, o, mode, ti == 0, B, T, H, D, chunks);
                    op_bufs bufs;
                    bench_tpoint tp;
                    memset(&bufs, 0, sizeof bufs);
                    memset(&tp, 0, sizeof tp);
                    ocla_status st = OCLA_SUCCESS;
                    if (no_bwd) { /* nothing to allocate: the rows say why */
                    } else if (m->tm) {
                        bench_progress(0, "[%s] %s %s B=%ld T=%ld H=%ld D=%ld: inputs ...", dev->name, m->name,
                                       MODE_NAMES[mode], B, T, H, D);
                        st = bench_tpoint_create(ctx, m->tm, &o->sizes, B, T, H, D, mode == MODE_FWDBWD, &tp);
                    } else {
                        st = make_bufs(ctx, m->gate, B, T, H, D, mode, NULL, NULL, NULL, NULL, NULL, NULL, &bufs);
                    }
                    for (int ci = 0; ci < nc && n_results < MAX_RES; ci++) {
                        bench_result *r = &results[n_results++];
                        memset(r, 0, sizeof *r);
                        r->dev = di;
                        /* the method's name, with its dtype where not fp32 (tables, JSON, CSV, chart) */
                        snprintf(r->method, sizeof r->method, "%s%s%s", m->name, g_dtype != OCLA_F32 ? "-" : "",
                                 g_dtype != OCLA_F32 ? ocla_dtype_name(g_dtype) : "");
                        snprintf(r->mode, sizeof r->mode, "%s", MODE_NAMES[mode]);
                        if (m->tm) bench_tmethod_config(m->tm, &o->sizes, T, H, D, r->config, sizeof r->config);
                        r->B = B, r->T = T, r->H = H, r->D = D;
                        r->chunk = chunks[ci];
                        r->picked = mode == MODE_FWD && ci == 0;
                        r->runs = o->runs;
                        if (no_bwd) {
                            snprintf(r->status, sizeof r->status, "backward not available (no public backward yet)");
                            continue;
                        }
                        bench_progress(0, "[%s] %s %s B=%ld T=%ld H=%ld D=%ld chunk=%d ...", dev->name, m->name,
                                       r->mode, B, T, H, D, chunks[ci]);
                        if (st != OCLA_SUCCESS) {
                            snprintf(r->status, sizeof r->status, "alloc: %s", ocla_status_string(st));
                            continue;
                        }
                        if (m->tm) bench_tpoint_cost(&tp, chunks[ci], &r->gflop, &r->gbytes);
                        else models(m, mode, B, T, H, D, chunks[ci] ? chunks[ci] : 64, &r->gflop, &r->gbytes);
                        if (over_budget) {
                            if (o->paper) snprintf(r->status, sizeof r->status, "skipped: a shorter T was over the budget");
                            else snprintf(r->status, sizeof r->status, "skipped (default sweep; --methods %s runs it)",
                                          m->name);
                            continue;
                        }
                        const point pt = {m, mode, chunks[ci], &bufs, m->tm ? &tp : NULL};
                        if (time_op(ctx, &pt, o->runs, &r->ms, &r->ms_min, r->status, sizeof r->status,
                                    o->detail ? r->detail : NULL, sizeof r->detail, 1) == 0 &&
                            (o->no_host_time ||
                             time_host(ctx, &pt, o->runs, r->ms, r, r->status, sizeof r->status) == 0))
                            snprintf(r->status, sizeof r->status, "ok"), paper_row_warm = 1;
                        else if (!strncmp(r->status, "skipped", 7))
                            over_budget = 1;
                    }
                    if (m->tm) bench_tpoint_destroy(&tp);
                    else if (st == OCLA_SUCCESS && !no_bwd) free_bufs(&bufs);
                }
            }
        }
    }
    bench_progress_end();
}

/* ---------------------------------------------------------------------------------------------- */
/* --load-inputs DIR: one op on inputs from files (see perf/fla_compare.py)                        */
/* ---------------------------------------------------------------------------------------------- */
/* count elements of dtype dt (raw: fp32, or the 16-bit patterns of bf16 / fp16) from dir/name, as fp32
 * (a half value widens exactly) */
static float *read_bin(const char *dir, const char *name, size_t count, ocla_dtype dt) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    const size_t es = ocla_dtype_size(dt);
    float *h = malloc(count * 4);
    void *raw = dt == OCLA_F32 ? (void *)h : malloc(count * es);
    if (!h || !raw || fread(raw, es, count, f) != count ||
        (dt != OCLA_F32 && ocla_convert_to_f32(dt, raw, h, count) != OCLA_SUCCESS)) {
        free(h);
        h = NULL;
    }
    if (raw != h) free(raw);
    fclose(f);
    return h;
}

static int write_bin(const char *dir, const char *name, const void *h, size_t bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(h, 1, bytes, f);
    return fclose(f) || w != bytes ? -1 : 0;
}

/* DIR/meta: "method mode B T H D" (mode fwd|decode|fwdbwd); q.bin k.bin v.bin [g.bin] [s.bin] [do.bin]
 * [B,T,H,D] in --dtype's raw elements (fp32, or bf16 / fp16 bit patterns; s.bin [B,H,D,D] fp32 always).
 * Writes o.bin (s_out.bin for decode, fp32; dq.bin dk.bin dv.bin [dg.bin] for fwdbwd) in that dtype and
 * result.txt "ms ms_min chunk runs device" (the time of the whole mode: forward+backward for fwdbwd). */
static int run_load_inputs(const opts *o) {
    char path[1024], method[32] = "", mode[16] = "";
    long B, T, H, D;
    snprintf(path, sizeof path, "%s/meta", o->load_dir);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%31s %15s %ld %ld %ld %ld", method, mode, &B, &T, &H, &D) != 6) {
        fprintf(stderr, "ocla-bench: cannot read %s\n", path);
        if (f) fclose(f);
        return 2;
    }
    fclose(f);
    const method_def *m = NULL;
    for (int i = 0; i < N_METHODS; i++)
        if (!strcmp(METHODS[i].name, method)) m = &METHODS[i];
    if (!m) {
        fprintf(stderr, "ocla-bench: unknown method %s\n", method);
        return 2;
    }
    int md = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(mode, MODE_NAMES[i])) md = i;
    if (md < 0 || (m->softmax && md == MODE_DECODE)) {
        fprintf(stderr, "ocla-bench: mode %s not available for %s\n", mode, method);
        return 2;
    }
    const ocla_dtype dt = g_dtype; /* --dtype: the files' and the tensors' element type */
    if (m->softmax && dt != OCLA_F32) {
        fprintf(stderr, "ocla-bench: --dtype %s: the methods linear, simple_gla and gla only (not %s)\n",
                ocla_dtype_name(dt), method);
        return 2;
    }
    int decode = md == MODE_DECODE;
    /* sizes from the file: each in 1..2^20 and every product within 2^31 elements */
    const long lim = 1L << 20;
    if (B < 1 || T < 1 || H < 1 || D < 1 || B > lim || T > lim || H > lim || D > lim ||
        (double)B * T * H * D > 2147483648.0 || (double)B * H * D * D > 2147483648.0) {
        fprintf(stderr, "ocla-bench: %s: B T H D = %ld %ld %ld %ld out of range (each 1..%ld, tensors up to 2^31 elements)\n",
                path, B, T, H, D, lim);
        return 2;
    }
    size_t n = (size_t)B * (size_t)T * (size_t)H * (size_t)D;
    size_t ng = m->gate == OCLA_GATE_VECTOR ? n : (size_t)B * (size_t)T * (size_t)H;
    size_t ns = (size_t)B * (size_t)H * (size_t)D * (size_t)D;
    float *q = read_bin(o->load_dir, "q.bin", n, dt), *k = read_bin(o->load_dir, "k.bin", n, dt),
          *v = read_bin(o->load_dir, "v.bin", n, dt);
    float *g = m->gate != OCLA_GATE_NONE ? read_bin(o->load_dir, "g.bin", ng, dt) : NULL;
    float *s = decode ? read_bin(o->load_dir, "s.bin", ns, OCLA_F32) : NULL;
    float *dout = md == MODE_FWDBWD ? read_bin(o->load_dir, "do.bin", n, dt) : NULL;
    if (!q || !k || !v || (m->gate != OCLA_GATE_NONE && !g) || (decode && !s) || (md == MODE_FWDBWD && !dout)) {
        fprintf(stderr, "ocla-bench: missing or short input files in %s\n", o->load_dir);
        return 2;
    }
    ocla_context_options co;
    ocla_context_options_defaults(&co);
    co.device = o->devices;
    co.profiling = 1;
    ocla_context *ctx = NULL;
    ocla_status st = ocla_context_create(&co, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "ocla-bench: %s: %s\n", ocla_status_string(st), ocla_last_error(NULL));
        return 1;
    }
    op_bufs b;
    int chunk = 0;
    int rc = 1;
    if ((st = make_bufs(ctx, m->gate, B, T, H, D, md, q, k, v, g, s, dout, &b)) == OCLA_SUCCESS) {
        /* correctness run first from the given state, then the timed runs; outputs in their tensors'
         * dtypes, raw */
        const size_t es = ocla_dtype_size(dt);
        float *out = malloc(n * 4), *sout = decode ? malloc(ns * 4) : NULL;
        const point pt = {m, md, 0, &b, NULL};
        st = out ? point_run(ctx, &pt) : OCLA_ERR_OUT_OF_MEMORY;
        if (st == OCLA_SUCCESS) st = ocla_tensor_download(ctx, b.o, out, n * es);
        if (st == OCLA_SUCCESS) write_bin(o->load_dir, "o.bin", out, n * es);
        if (st == OCLA_SUCCESS && decode) st = ocla_tensor_download(ctx, b.s, sout, ns * 4);
        if (st == OCLA_SUCCESS && decode) write_bin(o->load_dir, "s_out.bin", sout, ns * 4);
        if (md == MODE_FWDBWD) { /* gradients, written through the same buffer */
            const char *names[4] = {"dq.bin", "dk.bin", "dv.bin", "dg.bin"};
            const ocla_tensor *ts[4] = {b.dq, b.dk, b.dv, b.dg};
            for (int i = 0; i < 4 && st == OCLA_SUCCESS; i++) {
                if (!ts[i]) continue;
                size_t cnt = (size_t)ocla_tensor_numel(ts[i]);
                st = ocla_tensor_download(ctx, ts[i], out, cnt * es);
                if (st == OCLA_SUCCESS) write_bin(o->load_dir, names[i], out, cnt * es);
            }
        }
        if (st == OCLA_SUCCESS) {
            if (!decode) {
                ocla_plan_request rq = {m->op, B, T, H, D, D, 0, dtype_flags(), 0, 0};
                ocla_plan plan;
                char text[512];
                if (ocla_plan_explain(ctx, &rq, &plan, text, sizeof text) == OCLA_SUCCESS) chunk = plan.chunk;
            }
            double med = 0, mn = 0;
            char why[64] = "";
            char det[1024] = "";
            if (time_op(ctx, &pt, o->runs < 20 ? 20 : o->runs, &med, &mn, why, sizeof why, det,
                        sizeof det, 0) == 0) {
                snprintf(path, sizeof path, "%s/result.txt", o->load_dir);
                FILE *r = fopen(path, "w");
                if (r) {
                    ocla_device_info info;
                    ocla_context_device_info(ctx, &info);
                    fprintf(r, "%.6f %.6f %d %d %s\n", med, mn, chunk, o->runs < 20 ? 20 : o->runs,
                            info.device_name);
                    fclose(r);
                    snprintf(path, sizeof path, "%s/detail.txt", o->load_dir); /* per-kernel times */
                    if ((r = fopen(path, "w")) != NULL) {
                        fprintf(r, "%s\n", det);
                        fclose(r);
                    }
                    rc = 0;
                }
            } else {
                fprintf(stderr, "ocla-bench: timing failed: %s\n", why);
            }
        } else {
            fprintf(stderr, "ocla-bench: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
        }
        free(out);
        free(sout);
        free_bufs(&b);
    } else {
        fprintf(stderr, "ocla-bench: %s: %s\n", ocla_status_string(st), ocla_last_error(ctx));
    }
    ocla_context_destroy(ctx);
    free(q), free(k), free(v), free(g), free(s), free(dout);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
ocla_context *bench_open_device(size_t gi, int no_peak, bench_device *d) {
    char sel[32];
    snprintf(sel, sizeof sel, "%zu", gi);
    ocla_context_options co;
    ocla_context_options_defaults(&co);
    co.device = sel;
    co.profiling = 1;
    ocla_context *ctx = NULL;
    ocla_status st = ocla_context_create(&co, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "ocla-bench: device %s: %s: %s\n", sel, ocla_status_string(st), ocla_last_error(NULL));
        return NULL;
    }
    ocla_device_info info;
    ocla_context_device_info(ctx, &info);
    snprintf(d->name, sizeof d->name, "%s", info.device_name);
    snprintf(d->platform, sizeof d->platform, "%s", info.platform_name);
    snprintf(d->driver, sizeof d->driver, "%s", info.driver_version);
    d->is_gpu = info.is_gpu;
    d->events = info.profiling_works;
    if (!no_peak) {
        bench_progress(0, "[%s] measuring fp32 FMA peak and copy bandwidth ...", d->name);
        measure_peak(ctx, d);
        bench_progress(1, "[%s] peak %.1f GFLOP/s, copy %.1f GB/s (%s)", d->name, d->peak_gflops, d->bw_gbs,
                       d->events ? "event timers" : "host clock");
    }
    return ctx;
}

/* --papers: the ordinary sweep of a paper's grid and methods on one device, under the run's budget. */
static void paper_sweep(ocla_context *ctx, int di, const bench_device *d, const bench_paper *p,
                        const bench_papers_env *env) {
    opts o = *(const opts *)env->opts;
    o.paper = p;
    o.methods = p->methods;
    const bench_paper_grid *g = bench_paper_grid_at(p, env->short_grid);
    call_budget_ms = env->budget_ms > 0 ? env->budget_ms : g->budget_ms;
    if (g->runs > 0) o.runs = g->runs;
    paper_budget = 1;
    bench_device_sweep(ctx, di, d, &o);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ocla-bench [options]\n"
            "  --device SEL[,SEL]  devices to run (selectors as OCLA_DEVICE: nvidia, pocl, rusticl, gpu, 0, 1:0)\n"
            "  --dtype f32|bf16|f16  element type of q, k, v, o, g and their gradients (states fp32); bf16 and\n"
            "                      f16: the methods linear, simple_gla and gla (their default), named NAME-bf16;\n"
            "                      with --load-inputs, the files' element type (raw 16-bit patterns)\n"
            "  --methods LIST      comma-separated, default all of:\n"
            "                      linear, simple_gla, gla   chunked linear attention, scalar / per-key gates\n"
            "                      softmax        ocla_softmax_attention, causal: the baseline of the chart\n"
            "                      flash          ocla_flash_attention, causal (S = E = D; C = the pick)\n"
            "                      linformer      ocla_linformer_attention, E, F [k, T]\n"
            "                      gla_layer      ocla_gla_layer_forward on [B,T,d], d = H*D, gate rank 16\n"
            "                      gau_layer      ocla_gau_layer_forward (FLASH's GAU), one head, e, s: --gau\n"
            "                      mha_linear, mha_softmax, mha_linformer   ocla_mha_layer_forward, H heads of D\n"
            "                      (the layers, FLASH and Linformer run the op table's entries, tests/op_table.c)\n"
            "  --quick             T=512 only, scheduler's chunk only\n"
            "  --full              T=512..65536 (as memory allows), (B,H,D)=(1,4,64),(4,16,128), the layers\n"
            "                      (1,8,64),(4,16,64), every chunk, decode at 64 sequences x 16 heads\n"
            "  --shape B,T,H,D     one shape (forward; decode uses B,H,D; the layers: d = H*D); default\n"
            "                      (B,H,D) = (1,2,64), the layers (1,4,64): d = 256\n"
            "  --linformer-k K     Linformer's projected length k (default 128, at most T)\n"
            "  --gau E,S           GAU widths e (of U and V) and s (of Z) (default 2d,128)\n"
            "  --chunks pick|all   scheduler's pick only, or every fitting candidate at every T (default: every\n"
            "                      candidate at the first T, the pick at the others; --full: all everywhere)\n"
            "  --runs N            timed runs per point (median; default 10, minimum 10)\n"
            "  --no-decode         skip the decode step\n"
            "  --no-backward       skip forward+backward (mode fwdbwd: the forward then its backward, the\n"
            "                      gradient of every input from a random dL/dout; scheduler's chunk; a method\n"
            "                      with no public backward says \"backward not available\")\n"
            "  --no-peak           skip the peak / bandwidth measurement\n"
            "  --detail            print each point's device time per kernel (the run nearest the median)\n"
            "  --no-host-time      skip the host times (enqueue us/call, pipelined and wall+wait ms/call)\n"
            "  --host-decode       instead of the sweep: host overhead of GLA decode steps (B=1, H=4, K=V=64,\n"
            "                      recurrent form, state in place), one-shot and prepared API (perf/decode_host.c)\n"
            "  --steps N           decode steps per measurement with --host-decode (default 1000)\n"
            "  --varlen            instead of the sweep: packed sequences vs dense at the same tokens (--shape\n"
            "                      B,T,H,D, default 8,512,4,64) and a GLA decode step over state slots (B, H, D\n"
            "                      of --shape, default 64,16,128) against the copy bandwidth (perf/varlen.c)\n"
            "  --pick              instead of the sweep: the scheduler's chunk against every chunk it may pick,\n"
            "                      side by side (rounds of one call each), pick / fastest per case: linear,\n"
            "                      simple_gla, gla (--methods) at the shapes of perf/torch_cpu_compare.py or\n"
            "                      --shape; --runs rounds, --json FILE (perf/pick.c)\n"
            "  --ops               instead of the sweep: every op of the op table (tests/op_table.c) at its\n"
            "                      first shape: device time, host enqueue time, GFLOP/s, GB/s\n"
            "  --papers NAME       instead of the default sweep: a paper's speed claim on its grid, then its summary\n"
            "                      (JSON: a \"claim\" member); NAME = gla, lt, flash, linformer or all (in turn):\n"
            "                      gla        linear, gla vs softmax, fwd and fwd+bwd, B=32 H=16 D=64, T=512..16K,\n"
            "                                 speedups and the crossover T (Yang et al.)\n"
            "                      lt         a decode step: linear attention's recurrent form vs softmax over a\n"
            "                                 KV cache, ms per token at contexts 256..64K (Katharopoulos et al.)\n"
            "                      flash      gau_layer vs mha_softmax, flash vs softmax, fwd+bwd, d=768,\n"
            "                                 T=512..8K, speedups and crossover (Hua et al.)\n"
            "                      linformer  linformer k=128, 256 vs non-causal softmax, inference time and\n"
            "                                 device memory at n=512..64K (Wang et al.)\n"
            "  --short             with --papers: the CPU-driver grids (smaller shapes and lengths)\n"
            "  --tiny              with --papers: the slow-CPU-driver grids (one head, T from 256, budgets of\n"
            "                      10-30 s a call, median of 3: rusticl on llvmpipe)\n"
            "  --budget MS         with --papers: a call slower than MS ends its method's row (default: each\n"
            "                      grid's own; the rest of the row says \"skipped\")\n"
            "  --out DIR           with --papers: DIR/papers-NAME.{txt,json,csv,svg} for each paper\n"
            "  --json FILE --csv FILE --svg FILE\n"
            "  --load-inputs DIR   run one op on inputs from DIR (see perf/fla_compare.py)\n");
}

/* A whole number in lo..hi, all of s (0), else -1. */
static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int write_failed(const char *path) {
    fprintf(stderr, "ocla-bench: writing %s failed: %s\n", path, strerror(errno));
    return 1;
}

static int bad_value(const char *opt, const char *value, const char *want) {
    fprintf(stderr, "ocla-bench: %s %s: want %s\n", opt, value, want);
    return 2;
}

int main(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    o.runs = 10;
    o.all_chunks = 1;
    o.sizes.kp = 128;    /* the Linformer paper's k = 128 (and 256) */
    o.sizes.gau_s = 128; /* the FLASH paper's s = 128, e = 2d */
    o.sizes.gla_rank = 16; /* flash-linear-attention's gate_low_rank_dim */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *nx = i + 1 < argc ? argv[i + 1] : NULL;
#define NEXT()                                                   \
    do {                                                         \
        if (!nx) {                                               \
            fprintf(stderr, "ocla-bench: %s needs a value\n", a); \
            return 2;                                            \
        }                                                        \
        i++;                                                     \
    } while (0)
        if (!strcmp(a, "--device")) { NEXT(); o.devices = nx; }
        else if (!strcmp(a, "--methods")) { NEXT(); o.methods = nx; }
        else if (!strcmp(a, "--dtype")) {
            NEXT();
            if (!strcmp(nx, "f32")) o.dtype = OCLA_F32;
            else if (!strcmp(nx, "bf16")) o.dtype = OCLA_BF16;
            else if (!strcmp(nx, "f16")) o.dtype = OCLA_F16;
            else return bad_value(a, nx, "f32, bf16 or f16");
        }
        else if (!strcmp(a, "--json")) { NEXT(); o.json = nx; }
        else if (!strcmp(a, "--csv")) { NEXT(); o.csv = nx; }
        else if (!strcmp(a, "--svg")) { NEXT(); o.svg = nx; }
        else if (!strcmp(a, "--load-inputs")) { NEXT(); o.load_dir = nx; }
        else if (!strcmp(a, "--papers")) {
            NEXT();
            o.papers = 1;
            if (strcmp(nx, "all") && !(o.paper = bench_paper_find(nx))) return bad_value(a, nx, bench_paper_names());
        } else if (!strcmp(a, "--short") || !strcmp(a, "--tiny")) {
            const int level = a[2] == 's' ? GRID_SHORT : GRID_TINY;
            if (o.short_grid && o.short_grid != level) {
                fprintf(stderr, "ocla-bench: --short and --tiny: one grid at a time\n");
                return 2;
            }
            o.short_grid = level;
        }
        else if (!strcmp(a, "--out")) { NEXT(); o.out_dir = nx; }
        else if (!strcmp(a, "--budget")) {
            NEXT();
            long v;
            if (parse_long(nx, 1, 3600000, &v)) return bad_value(a, nx, "milliseconds, a whole number in 1..3600000");
            o.budget_ms = (double)v;
        }
        else if (!strcmp(a, "--linformer-k")) {
            NEXT();
            if (parse_long(nx, 1, 65536, &o.sizes.kp)) return bad_value(a, nx, "a whole number in 1..65536");
        } else if (!strcmp(a, "--gau")) {
            NEXT();
            char tail;
            if (sscanf(nx, "%ld,%ld%c", &o.sizes.gau_e, &o.sizes.gau_s, &tail) != 2 || o.sizes.gau_e < 1 ||
                o.sizes.gau_e > 65536 || o.sizes.gau_s < 2 || o.sizes.gau_s > 256 || o.sizes.gau_s % 2)
                return bad_value(a, nx, "E,S with E in 1..65536 and S even in 2..256");
        }
        else if (!strcmp(a, "--runs")) {
            NEXT();
            long v;
            if (parse_long(nx, 10, 100000, &v)) return bad_value(a, nx, "a whole number in 10..100000");
            o.runs = (int)v;
        } else if (!strcmp(a, "--chunks")) {
            NEXT();
            if (strcmp(nx, "all") && strcmp(nx, "pick")) return bad_value(a, nx, "pick or all");
            o.all_chunks = o.chunks_everywhere = !strcmp(nx, "all");
        }
        else if (!strcmp(a, "--full")) o.full = 1;
        else if (!strcmp(a, "--quick")) o.quick = 1, o.all_chunks = 0;
        else if (!strcmp(a, "--no-decode")) o.no_decode = 1;
        else if (!strcmp(a, "--no-backward")) o.no_backward = 1;
        else if (!strcmp(a, "--detail")) o.detail = 1;
        else if (!strcmp(a, "--no-peak")) o.no_peak = 1;
        else if (!strcmp(a, "--no-host-time")) o.no_host_time = 1;
        else if (!strcmp(a, "--host-decode")) o.host_decode = 1;
        else if (!strcmp(a, "--ops")) o.ops = 1;
        else if (!strcmp(a, "--varlen")) o.varlen = 1;
        else if (!strcmp(a, "--pick")) o.pick = 1;
        else if (!strcmp(a, "--steps")) {
            NEXT();
            long v;
            if (parse_long(nx, 1, 10000000, &v)) return bad_value(a, nx, "a whole number in 1..10000000");
            o.decode_steps = (int)v;
        }
        else if (!strcmp(a, "--shape")) {
            NEXT();
            if (sscanf(nx, "%ld,%ld,%ld,%ld", &o.shape[0], &o.shape[1], &o.shape[2], &o.shape[3]) != 4 ||
                o.shape[0] < 1 || o.shape[1] < 1 || o.shape[2] < 1 || o.shape[3] < 1) {
                fprintf(stderr, "ocla-bench: --shape wants B,T,H,D\n");
                return 2;
            }
            o.has_shape = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ocla-bench: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.papers) { /* the paper's grid and methods: no other grid or method list */
        if (o.has_shape || o.full || o.quick || o.methods || o.ops || o.host_decode || o.load_dir) {
            fprintf(stderr, "ocla-bench: --papers runs its own grid and methods (--short for CPU drivers): no --shape,"
                            " --full, --quick, --methods, --ops, --host-decode or --load-inputs\n");
            return 2;
        }
        if (!o.paper && (o.json || o.csv || o.svg)) {
            fprintf(stderr, "ocla-bench: --papers all writes its files with --out DIR, not --json/--csv/--svg\n");
            return 2;
        }
        o.no_decode = 1, o.all_chunks = 0, o.no_host_time = 1;
    } else if (o.short_grid || o.out_dir || o.budget_ms > 0) {
        fprintf(stderr, "ocla-bench: --short, --tiny, --budget and --out go with --papers\n");
        return 2;
    }
    if (o.methods) { /* every name must be a method */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", o.methods);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int known = 0;
            for (int i = 0; i < method_count(); i++) known |= !strcmp(method_at(i).name, tok);
            if (!known) return bad_value("--methods", tok, "method names of --help, comma-separated");
            if (o.pick && strcmp(tok, "linear") && strcmp(tok, "simple_gla") && strcmp(tok, "gla"))
                return bad_value("--pick --methods", tok, "linear, simple_gla or gla");
        }
    }
    const int default_methods = !o.methods;
    if (o.dtype != OCLA_F32) { /* half: the linear-attention methods of the sweep (fwd, decode, fwdbwd) */
        const char *dn = ocla_dtype_name(o.dtype);
        if (o.papers || o.ops || o.varlen || o.pick || o.host_decode) {
            fprintf(stderr, "ocla-bench: --dtype %s goes with the sweep and --load-inputs only (no --papers, --ops, "
                            "--varlen, --pick or --host-decode)\n", dn);
            return 2;
        }
        if (!o.methods) o.methods = "linear,simple_gla,gla";
        char buf[256];
        snprintf(buf, sizeof buf, "%s", o.methods);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
            if (strcmp(tok, "linear") && strcmp(tok, "simple_gla") && strcmp(tok, "gla")) {
                fprintf(stderr, "ocla-bench: --dtype %s: the methods linear, simple_gla and gla only (not %s)\n", dn, tok);
                return 2;
            }
        g_dtype = o.dtype;
    }
    /* output files: writable before the run, not after it */
    const char *outs[3] = {o.json, o.csv, o.svg};
    for (int i = 0; i < 3; i++) {
        FILE *f = outs[i] ? fopen(outs[i], "a") : NULL;
        if (outs[i] && !f) {
            fprintf(stderr, "ocla-bench: cannot write %s: %s\n", outs[i], strerror(errno));
            return 2;
        }
        if (f) fclose(f);
    }
    if (o.load_dir) return run_load_inputs(&o);
    if (!o.full && !o.has_shape && default_methods) call_budget_ms = 400; /* keeps the default sweep near a minute */

    /* devices: every one, or the selected ones */
    size_t idx[MAX_DEV];
    int nidx = 0;
    if (o.devices) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", o.devices);
        for (char *tok = strtok(buf, ","); tok && nidx < MAX_DEV; tok = strtok(NULL, ",")) {
            size_t gi;
            if (ocla_device_select(tok, &gi) != OCLA_SUCCESS) {
                fprintf(stderr, "ocla-bench: no device matches '%s'\n", tok);
                return 1;
            }
            idx[nidx++] = gi;
        }
    } else {
        size_t count = 0;
        ocla_device_count(&count);
        for (size_t i = 0; i < count && nidx < MAX_DEV; i++) idx[nidx++] = i;
    }
    if (!nidx) {
        fprintf(stderr, "ocla-bench: no OpenCL device found\n");
        return 1;
    }
    if (o.ops) return ops_main(idx, nidx, o.runs, o.json);
    if (o.pick) return pick_main(idx, nidx, o.runs, o.has_shape ? o.shape : NULL, o.methods, o.json);
    if (o.varlen) return varlen_main(idx, nidx, o.runs, o.has_shape ? o.shape : NULL, o.detail, o.json);
    if (o.host_decode) return decode_host_main(idx, nidx, o.decode_steps > 0 ? o.decode_steps : 1000, o.json);
    if (o.papers) { /* perf/papers.c runs each paper on every device */
        const bench_papers_env env = {idx, nidx, o.short_grid, o.runs, o.no_peak, o.budget_ms, o.out_dir,
                                      o.json, o.csv, o.svg, paper_sweep, &o};
        const int prc = bench_papers_main(&env, o.paper);
        free(rnd_block);
        return prc;
    }
    bench_device devs[MAX_DEV];
    memset(devs, 0, sizeof devs);
    int ndev = 0;
    for (int i = 0; i < nidx; i++) {
        bench_device *d = &devs[ndev];
        ocla_context *ctx = bench_open_device(idx[i], o.no_peak, d);
        if (!ctx) continue;
        bench_device_sweep(ctx, ndev, d, &o);
        ocla_context_destroy(ctx);
        ndev++;
    }
    report_table(stdout, devs, ndev, results, n_results);
    int rc = 0;
    const char *note = NULL;
    int have_softmax = 0;
    for (int i = 0; i < n_results; i++)
        if (!strcmp(results[i].method, "softmax") && !strcmp(results[i].status, "ok")) have_softmax = 1;
    if (!have_softmax) note = "no softmax baseline in this run (--methods without softmax, or it failed)";
    if (o.json && report_json(o.json, devs, ndev, results, n_results, NULL, NULL)) rc = write_failed(o.json);
    if (o.csv && report_csv(o.csv, devs, results, n_results)) rc = write_failed(o.csv);
    if (o.svg && report_svg(o.svg, devs, ndev, results, n_results, note)) rc = write_failed(o.svg);
    free(rnd_block);
    return rc;
}
