/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L /* mkdtemp (the model part) */
/* Kernel sweep: run every kernel variant the runtime builds, once, at tiny shapes, on one device.
 * Made for Oclgrind's race and bounds checks (.ci/checks/45-oclgrind.sh runs it under
 * `oclgrind --data-races --check-api` and fails on any report); on any device it is also a quick
 * smoke test, since the op-table runs are compared with their fp64 references.
 *
 * What runs (tiny shapes: the op table's first shape, or B = 1, T = 19, H = 2, K = V = 8):
 *   1. every entry of the op table (tests/op_table.h) at its shapes[0], against its fp64 reference:
 *      every public op and form, the layers, GEMMs, the gate and the SGD step;
 *   2b. the chunked forward entries of part 2 again with the context planning as llvmpipe (the CPU
 *      kernels' lanes variants, LC_LANES, where they fit, and llvmpipe's register-block kernels:
 *      mesa_part);
 *   2. one entry per kernel family that takes a chunk (every_chunk below: the chunked forward
 *      with and without vector gates, the prepared op, the backward, FLASH, softmax) at every chunk
 *      the scheduler may pick on this device (ocla_plan_candidates), at B = H = 1, T = C + 3 (a
 *      full chunk, then a partial one), against their fp64 references;
 *   3. ocla_attention_forward for every gate kind x feature map x normaliser, chunked (the
 *      scheduler's chunk: the feature map and the normaliser are run-time arguments of the chunked
 *      kernels, whose every chunk part 2 runs) and recurrent, and non-causal for every feature map
 *      x normaliser; ocla_attention_backward for every gate kind x feature map x normaliser (build
 *      options of its kernels), with dg and (gated kinds) without it. Status and finiteness only:
 *      the sanitizer is the check here.
 * Before them the device selftest (ocla_selftest); the probe kernel runs when the context first plans.
 *   5. the whole-model kernels (kernels_cl/model.cl): a tiny GLAForCausalLM checkpoint (written to a
 *      temporary directory, tests/ref/ref_model_ckpt.c; with short convolutions, a feature map and
 *      clamp_min, so every kernel of model.cl runs) prefilled and stepped once; finiteness only.
 *
 *   4. with a variant list (ocla_variants --device <this device> --witness: every variant the runtime
 *      builds on a device of these limits, with the first request whose plan builds it), every
 *      portable variant of it that parts 1 to 3 did not build, through that request at B = H = 1,
 *      T = chunk + 3 and its own head dims (list_part): the head-dim-dependent tiles (softmax's
 *      padded DK, DV and float4 loads, the chunked output's value tile, the recurrent form's rows per
 *      item; the half-precision softmax and FLASH variants through softmax_half_run and
 *      flash_half_run, every tensor in the request's dtype). A new tile or family of an existing op kind comes in through the list alone.
 *
 * usage: kernel_sweep [device selector] [filter] [variants file] [variant list]
 *        kernel_sweep [device selector] canary
 *   filter: run only the parts whose label contains this substring ("" = all)
 *   variants file: every program variant built, one a line: its source, a tab, its build options
 *   ("-" when none), as ocla_variants prints its first two fields; .ci/checks/45-oclgrind.sh
 *   compares it with the runtime's variant list.
 *   variant list: part 4's input (above).
 *   OCLA_SWEEP_SHARD=i/n (environment): run shard i of n, so that n processes share the work: parts
 *   1 to 3 and 5 take every n-th selected run (by their order, the same in every process), part 4
 *   every n-th line of the list. OCLA_SWEEP_BUILT="file ...": variants files of other processes
 *   (parts 1 to 3 run as shards beside this one), whose variants part 4 counts as built. A shard
 *   of part 4 alone (filter "variant") may find nothing left to run.
 *   canary: instead of the sweep, run one small kernel with a local-memory race (no barrier between
 *   a write and another work-item's read) and an out-of-bounds global write, so the CI script can
 *   prove that the simulator's checks are on and that their reports are seen (the check cannot pass
 *   vacuously).
 * Exit status 0 when every run succeeded; 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocla/ocla.h"
#include "ocla/train.h"
#include "op_table.h"
#include "op_table_impl.h"
#include "plan.h"
#include "ref/ref_model_ckpt.h"
#include <unistd.h>

static ocla_context *ctx;
static const char *filter = "";
static FILE *variants;
static int runs, failures, refused;

/* Every program variant built so far, as "source\toptions" ("-" when none): what ocla_variants
 * prints in its first two fields. */
static char **built;
static int n_built, cap_built;

static int was_built(const char *variant) {
    for (int i = 0; i < n_built; i++)
        if (!strcmp(built[i], variant)) return 1;
    return 0;
}

static void note_built(const char *variant) {
    if (was_built(variant)) return; /* the same variant again: the memory cache was dropped */
    if (n_built == cap_built) {
        char **p = realloc(built, (size_t)(cap_built ? 2 * cap_built : 64) * sizeof *p);
        if (!p) return; /* the variants file still lists it */
        built = p, cap_built = cap_built ? 2 * cap_built : 64;
    }
    char *copy = malloc(strlen(variant) + 1);
    if (copy) built[n_built++] = strcpy(copy, variant);
}

static void on_log(ocla_log_level level, const char *message, void *user) {
    (void)user;
    const char *tag = "built a program variant ("; /* program_cache.c: "(source: options) in ..." */
    if (!strncmp(message, tag, strlen(tag))) {
        const char *s = message + strlen(tag), *e = strrchr(s, ')'), *colon = strstr(s, ": ");
        if (!e || !colon || colon > e) {
            fprintf(stderr, "kernel_sweep: a build log line of an unknown form: %s\n", message);
            failures++;
            return;
        }
        const char *o = colon + 2;
        char variant[800]; /* as ocla_variants prints a variant: source, tab, options ("-" when none) */
        snprintf(variant, sizeof variant, "%.*s\t%.*s", (int)(colon - s), s, o < e ? (int)(e - o) : 1, o < e ? o : "-");
        note_built(variant);
        if (variants) fprintf(variants, "%s\n", variant);
    } else if (level <= OCLA_LOG_WARN) {
        fprintf(stderr, "ocla: %s\n", message);
    }
}

/* OCLA_SWEEP_SHARD: this process's shard and the count; part 4 shards by list line instead
 * (which runs it reaches depends on what this process built), so selected() leaves it alone there */
static int shard_i, shard_n = 1, in_list;
static long shard_seq;

static int selected(const char *label) {
    if (*filter && !strstr(label, filter)) return 0;
    return shard_n < 2 || in_list || shard_seq++ % shard_n == shard_i;
}

/* OCLA_SWEEP_BUILT's files: variants other processes built ("source\toptions" lines) */
static int preload_built(const char *files) {
    char *list = strdup(files), *save = NULL;
    if (!list) return 1;
    for (char *path = strtok_r(list, " ", &save); path; path = strtok_r(NULL, " ", &save)) {
        FILE *f = fopen(path, "r");
        if (!f) {
            perror(path);
            free(list);
            return 1;
        }
        char line[2048];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            if (*line) note_built(line);
        }
        fclose(f);
    }
    free(list);
    return 0;
}

static double t_run;

static void result(const char *label, ocla_status st, const char *detail) {
    runs++;
    printf("%-64s %s %.2f s\n", label, st == OCLA_SUCCESS && !detail ? "ok" : "FAILED", ocla_now_seconds() - t_run);
    fflush(stdout);
    if (st == OCLA_SUCCESS && !detail) return;
    failures++;
    fprintf(stderr, "kernel_sweep: FAIL %s: %s: %s\n", label, ocla_status_string(st),
            detail ? detail : ocla_last_error(ctx));
}

/* Chunk candidates of op on this device for (K, V); 0 when none. */
static int candidates(ocla_op_kind op, int gate, int feature, int K, int V, int *chunks) {
    ocla_plan_limits L;
    OCLA_LOCK(ctx);
    ocla_status st = ocla__plan_limits(ctx, &L);
    OCLA_UNLOCK(ctx);
    if (st != OCLA_SUCCESS) return 0;
    ocla_plan_request r = {op, 1, 64, 1, K, V, 0, 0, gate, feature};
    return ocla_plan_candidates(&L, &r, chunks, 8);
}

/* ---- parts 1 and 2: the op table, against its references ---- */

/* Normwise max relative error of every output array of c within the entry's tolerance. */
static const char *check_outputs(const op_case *c, const float *out) {
    static char why[160];
    double *ref = op_reference(c);
    if (!ref) return NULL; /* an entry without a reference (none today) */
    const char *bad = NULL;
    for (int i = 0; i < c->n && !bad; i++) {
        size_t off = 0;
        long n = op_output_span(c, i, &off);
        double scale = 0, err = 0;
        for (long j = 0; j < n; j++) scale = fmax(scale, fabs(ref[off + j]));
        for (long j = 0; j < n; j++) {
            double d = fabs((double)out[off + j] - ref[off + j]);
            err = isnan(d) ? INFINITY : fmax(err, d);
        }
        if (n > 0 && err > c->op->tol * fmax(scale, 1e-30)) {
            snprintf(why, sizeof why, "%s: error %.3g of %.3g (tolerance %.1g normwise)", c->a[i].name, err, scale,
                     c->op->tol);
            bad = why;
        }
    }
    free(ref);
    return bad;
}

static void run_entry(const op_entry *e, const op_shape *s, const char *label) {
    t_run = ocla_now_seconds();
    op_case *c = op_case_new(e, s, 11);
    float *out = c ? malloc((c->n_out ? c->n_out : 1) * sizeof *out) : NULL;
    if (!out) {
        result(label, OCLA_ERR_OUT_OF_MEMORY, "host memory");
    } else {
        size_t n = 0;
        ocla_status st = op_run(ctx, c, out, c->n_out, &n);
        if (st == OCLA_ERR_UNSUPPORTED) refused++;
        else result(label, st, st == OCLA_SUCCESS ? check_outputs(c, out) : NULL);
    }
    free(out);
    op_case_free(c);
}

/* The op kind whose chunk the entry's call takes (-1: none). */
static int chunk_op(const op_entry *e, int *gate) {
    *gate = 0;
    const char *n = e->name;
    if (!strcmp(e->family, "flash")) return OCLA_OP_FLASH_CHUNK;
    if (!strcmp(e->family, "softmax")) return OCLA_OP_SOFTMAX_TILED;
    if (!strcmp(e->family, "softmax_backward")) return OCLA_OP_SOFTMAX_BACKWARD;
    if (!strcmp(e->family, "backward")) {
        const op_bwd_cfg *f = e->cfg;
        *gate = f->gate;
        return OCLA_OP_ATTN_BACKWARD;
    }
    if (strcmp(e->family, "attention") || strstr(n, "recurrent") || strstr(n, "noncausal")) return -1;
    if (!strncmp(n, "gla", 3)) return OCLA_OP_GLA_CHUNK;
    if (!strncmp(n, "simple_gla", 10) || !strncmp(n, "retention", 9)) return OCLA_OP_SIMPLE_GLA_CHUNK;
    return OCLA_OP_LINEAR_CHUNK;
}

/* The entries run at every chunk: one per kernel variant family and work split (the chunked
 * forward's variants differ by chunk and by USE_GK; the gate kind, feature map and normaliser are
 * run-time arguments there, and the layouts with the normaliser's extra column differ: the
 * normalised forms; the backward's chunk is a run-time argument, its work split depends on it). */
static const char *const every_chunk[] = {"linear_attention_normalized", "simple_gla_chunked", "gla_normalized",
                                          "linear_attention_prepared", "attention_backward_linear_normalized",
                                          "attention_backward_gla", "attention_backward_retention", "flash_causal",
                                          "flash_noncausal", "softmax_attention_causal", "softmax_attention_noncausal",
                                          "flash_backward_causal_mean"};

static int runs_every_chunk(const op_entry *e) {
    for (size_t i = 0; i < sizeof every_chunk / sizeof every_chunk[0]; i++)
        if (!strcmp(e->name, every_chunk[i])) return 1;
    return 0;
}

static void op_table_part(void) {
    char label[160];
    for (int i = 0; i < op_count(); i++) {
        const op_entry *e = op_get(i);
        snprintf(label, sizeof label, "table %s", e->name);
        if (selected(label)) run_entry(e, NULL, label);
        int gate, op = chunk_op(e, &gate), chunks[8];
        if (op < 0 || !runs_every_chunk(e)) continue;
        op_shape s = e->shapes[0];
        s.B = 1, s.H = 1; /* the simulator's time is per work-item: one (b, h) pair is enough */
        int nc = candidates((ocla_op_kind)op, gate, 0, s.K, s.V, chunks);
        for (int j = 0; j < nc; j++) {
            s.chunk = chunks[j], s.T = chunks[j] + 3;
            snprintf(label, sizeof label, "table %s chunk %d T %d", e->name, s.chunk, s.T);
            if (selected(label)) run_entry(e, &s, label);
        }
    }
}

/* ---- part 2b: the CPU kernels' lanes variants (kernels_cl/linear_attn_cpu.cl, LC_LANES > 1), which
 * only the parameter table's "lanes" row plans: this device's context planning as that row (Mesa,
 * a CPU, "llvmpipe lanes": no "bits" in the name, the row's 8 lanes) runs the chunked forward entries at every chunk they take
 * there, against their fp64 references; the other chunks run the portable kernels part 2 ran.
 * Then the same as llvmpipe's own row ("llvmpipe"): the register-block kernels
 * (kernels_cl/linear_attn_blk.cl) for linear attention, simple GLA and GLA at the chunks up to 64 (with
 * and without their image views: K, V multiples of 4 and no normaliser take them). The op table's
 * gla_chunked runs here too (in both rows). ---- */
static void mesa_part(const char *row, const char *tag) {
    const ocla_vendor vendor = ctx->info.vendor;
    const int gpu = ctx->info.is_gpu;
    char name[sizeof ctx->info.device_name];
    memcpy(name, ctx->info.device_name, sizeof name);
    ctx->info.vendor = OCLA_VENDOR_MESA, ctx->info.is_gpu = 0;
    snprintf(ctx->info.device_name, sizeof ctx->info.device_name, "%s", row); /* plan_params.c's row */
    char label[160];
    for (int i = 0; i < op_count(); i++) {
        const op_entry *e = op_get(i);
        int gate, op = chunk_op(e, &gate), chunks[8];
        /* and GLA without the normaliser: the block kernels' image views with per-key gates (LB_IMG) */
        if (op < 0 || op > OCLA_OP_GLA_CHUNK || !(runs_every_chunk(e) || !strcmp(e->name, "gla_chunked"))) continue;
        op_shape s = e->shapes[0];
        s.B = 1, s.H = 1;
        int nc = candidates((ocla_op_kind)op, gate, 0, s.K, s.V, chunks);
        for (int j = 0; j < nc; j++) {
            s.chunk = chunks[j], s.T = chunks[j] + 3;
            snprintf(label, sizeof label, "%s %s chunk %d T %d", tag, e->name, s.chunk, s.T);
            if (selected(label)) run_entry(e, &s, label);
        }
    }
    ctx->info.vendor = vendor, ctx->info.is_gpu = gpu;
    memcpy(ctx->info.device_name, name, sizeof name);
}

/* ---- parts 3 and 4: every attention variant through the public calls ---- */

/* A tensor of dtype dt filled from [lo, hi) (converted from fp32 for the half dtypes). */
static ocla_tensor *tensor_dt(ocla_dtype dt, int ndim, const int64_t *dims, float lo, float hi, unsigned *seed) {
    ocla_tensor *t = NULL;
    if (ocla_tensor_create(ctx, dt, ndim, dims, &t) != OCLA_SUCCESS) return NULL;
    const int64_t n = ocla_tensor_numel(t);
    const size_t bytes = (size_t)n * ocla_dtype_size(dt);
    float *h = malloc((size_t)n * sizeof *h);
    void *raw = dt == OCLA_F32 ? (void *)h : malloc(bytes);
    for (int64_t i = 0; h && i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        h[i] = lo + (hi - lo) * (float)(*seed >> 8) / 16777216.0f;
    }
    if (!h || !raw || (dt != OCLA_F32 && ocla_convert_from_f32(dt, h, raw, (size_t)n) != OCLA_SUCCESS) ||
        ocla_tensor_upload(ctx, t, raw, bytes) != OCLA_SUCCESS)
        ocla_tensor_destroy(t), t = NULL;
    if (raw != h) free(raw);
    free(h);
    return t;
}

static ocla_tensor *tensor(int ndim, const int64_t *dims, float lo, float hi, unsigned *seed) {
    return tensor_dt(OCLA_F32, ndim, dims, lo, hi, seed);
}

/* The attention runs' batch and element types: B = 1, fp32, except for a witness request of part 4
 * (run_request: a decode step's B and H, half-precision q, k, v, o and gates) and the half backward
 * (attention_part: q, k, v, d_o and their gradients, gates and dg in half) */
static struct {
    int64_t B;
    ocla_dtype dt, gdt;
} g_attn = {1, OCLA_F32, OCLA_F32};

typedef struct attn_tensors {
    ocla_tensor *q, *k, *v, *g, *s0, *z0, *o, *s1, *z1, *d_o, *dq, *dk, *dv, *dg, *ds0, *dz0;
} attn_tensors;
#define N_ATTN_TENSORS (sizeof(attn_tensors) / sizeof(ocla_tensor *))

static void attn_tensors_destroy(attn_tensors *t) {
    ocla_tensor **p = (ocla_tensor **)t;
    for (size_t i = 0; i < N_ATTN_TENSORS; i++) ocla_tensor_destroy(p[i]);
    memset(t, 0, sizeof *t);
}

/* Inputs (non-negative q, k with the normaliser) and outputs of every role at (B, T, H, K, V), B and
 * the element types of q, k, v, o and the gates from g_attn. */
static int attn_tensors_create(attn_tensors *t, const ocla_attn_params *p, int T, int64_t H, int K, int V) {
    const int64_t B = g_attn.B;
    const ocla_dtype dt = g_attn.dt;
    unsigned seed = 5;
    const float lo = p->normalize ? 0.0f : -1.0f;
    memset(t, 0, sizeof *t);
    t->q = tensor_dt(dt, 4, (int64_t[]){B, T, H, K}, lo, 1, &seed), t->dq = tensor_dt(dt, 4, (int64_t[]){B, T, H, K}, 0, 0, &seed);
    t->k = tensor_dt(dt, 4, (int64_t[]){B, T, H, K}, lo, 1, &seed), t->dk = tensor_dt(dt, 4, (int64_t[]){B, T, H, K}, 0, 0, &seed);
    t->v = tensor_dt(dt, 4, (int64_t[]){B, T, H, V}, -1, 1, &seed), t->dv = tensor_dt(dt, 4, (int64_t[]){B, T, H, V}, 0, 0, &seed);
    t->o = tensor_dt(dt, 4, (int64_t[]){B, T, H, V}, 0, 0, &seed), t->d_o = tensor_dt(dt, 4, (int64_t[]){B, T, H, V}, -1, 1, &seed);
    int ok = t->q && t->k && t->v && t->o && t->d_o && t->dq && t->dk && t->dv;
    if (p->gate == OCLA_GATE_VECTOR || p->gate == OCLA_GATE_SCALAR) {
        const int nd = p->gate == OCLA_GATE_VECTOR ? 4 : 3;
        t->g = tensor_dt(g_attn.gdt, nd, (int64_t[]){B, T, H, K}, -0.5f, -0.01f, &seed);
        t->dg = tensor_dt(g_attn.gdt, nd, (int64_t[]){B, T, H, K}, 0, 0, &seed);
        ok = ok && t->g && t->dg;
    }
    if (p->causal) {
        t->s0 = tensor(4, (int64_t[]){B, H, K, V}, -1, 1, &seed), t->s1 = tensor(4, (int64_t[]){B, H, K, V}, 0, 0, &seed);
        t->ds0 = tensor(4, (int64_t[]){B, H, K, V}, 0, 0, &seed);
        ok = ok && t->s0 && t->s1 && t->ds0;
        if (p->normalize) {
            t->z0 = tensor(3, (int64_t[]){B, H, K}, 0, 2, &seed), t->z1 = tensor(3, (int64_t[]){B, H, K}, 0, 0, &seed);
            t->dz0 = tensor(3, (int64_t[]){B, H, K}, 0, 0, &seed);
            ok = ok && t->z0 && t->z1 && t->dz0;
        }
    }
    if (!ok) attn_tensors_destroy(t);
    return ok;
}

static const char *finite(const ocla_tensor *t) {
    const int64_t n = ocla_tensor_numel(t);
    const ocla_dtype dt = ocla_tensor_dtype(t);
    const size_t bytes = (size_t)n * ocla_dtype_size(dt);
    float *h = malloc((size_t)n * sizeof *h);
    void *raw = dt == OCLA_F32 ? (void *)h : malloc(bytes);
    const char *bad = h && raw ? NULL : "host memory";
    if (!bad && ocla_tensor_download(ctx, t, raw, bytes) != OCLA_SUCCESS) bad = "download failed";
    if (!bad && raw != h && ocla_convert_to_f32(dt, raw, h, (size_t)n) != OCLA_SUCCESS) bad = "conversion failed";
    if (raw != h) free(raw);
    for (int64_t i = 0; h && !bad && i < n; i++)
        if (!isfinite(h[i])) bad = "non-finite output";
    free(h);
    return bad;
}

static void attn_run(ocla_attn_params *p, int backward, int with_dg, int T, int H, int K, int V, const char *label) {
    if (!selected(label)) return;
    t_run = ocla_now_seconds();
    attn_tensors t;
    if (!attn_tensors_create(&t, p, T, H, K, V)) {
        result(label, OCLA_ERR_OUT_OF_MEMORY, "tensors");
        return;
    }
    ocla_status st;
    const ocla_tensor *checked;
    if (!backward) {
        ocla_attn_io io = {t.q, t.k, t.v, t.g, t.s0, t.z0, t.o, t.s1, t.z1};
        st = ocla_attention_forward(ctx, p, &io);
        checked = t.o;
    } else {
        ocla_attn_grad_io io = {t.q,  t.k,  t.v,  t.g,  t.s0, t.z0, t.d_o, t.s1, t.z1, t.dq,
                                t.dk, t.dv, with_dg ? t.dg : NULL, t.ds0, t.dz0};
        st = ocla_attention_backward(ctx, p, &io);
        checked = t.dk;
    }
    result(label, st, st == OCLA_SUCCESS ? finite(checked) : NULL);
    attn_tensors_destroy(&t);
}

/* Softmax attention in half precision (part 4's witness of a bf16 / fp16 softmax variant): every
 * tensor of dtype dt at (1, T, 1, K/V), the forward at block (backward: at the scheduler's), then
 * (backward) the backward at block; status
 * and finiteness (test_half_softmax.c checks the values). */
static void softmax_half_run(ocla_dtype dt, int backward, int block, int T, int K, int V, const char *label) {
    if (!selected(label)) return;
    t_run = ocla_now_seconds();
    unsigned seed = 9;
    ocla_tensor *t[8]; /* q k v d_o o dq dk dv */
    const int dim[8] = {K, K, V, V, V, K, K, V};
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        t[i] = tensor_dt(dt, 4, (int64_t[]){1, T, 1, dim[i]}, i < 4 ? -1.0f : 0.0f, i < 4 ? 1.0f : 0.0f, &seed);
        ok = ok && t[i];
    }
    ocla_softmax_params p;
    ocla_softmax_params_defaults(&p);
    p.block = backward ? 0 : block; /* the backward's block is its own plan's */
    ocla_status st = ok ? ocla_softmax_attention(ctx, &p, t[0], t[1], t[2], t[4]) : OCLA_ERR_OUT_OF_MEMORY;
    p.block = block;
    if (st == OCLA_SUCCESS && backward) {
        const ocla_softmax_grad_io io = {t[0], t[1], t[2], t[4], t[3], t[5], t[6], t[7]};
        st = ocla_softmax_backward(ctx, &p, &io);
    }
    result(label, st, st == OCLA_SUCCESS ? finite(t[backward ? 6 : 4]) : NULL);
    for (int i = 0; i < 8; i++) ocla_tensor_destroy(t[i]);
}

/* FLASH in half precision (part 4's witness of a bf16 / fp16 flash or flash_bwd variant): every tensor
 * (the relative bias and its gradient too) of dtype dt at (1, T, 1, K/V), chunk C, causal; the forward,
 * then (backward) the backward, with the bias gradient where dbias; status and finiteness
 * (test_half_flash.c checks the values). */
static void flash_half_run(ocla_dtype dt, int backward, int dbias, int C, int T, int K, int V, const char *label) {
    if (!selected(label)) return;
    t_run = ocla_now_seconds();
    unsigned seed = 13;
    ocla_tensor *t[14]; /* qq kq ql kl v d_o o dqq dkq dql dkl dv bias dbias */
    int ok = 1;
    for (int i = 0; i < 12; i++) {
        const int64_t dims[4] = {1, T, 1, i == 4 || i == 5 || i == 6 || i == 11 ? V : K};
        t[i] = tensor_dt(dt, 4, dims, i < 6 ? -1.0f : 0.0f, i < 6 ? 1.0f : 0.0f, &seed);
        ok = ok && t[i];
    }
    const int64_t bd[2] = {1, C > 0 ? 2 * (int64_t)C - 1 : 1}; /* chunk 0 (the scheduler's): no bias */
    t[12] = tensor_dt(dt, 2, bd, -0.5f, 0.5f, &seed), t[13] = tensor_dt(dt, 2, bd, 0, 0, &seed);
    ok = ok && t[12] && t[13];
    ocla_flash_params p;
    ocla_flash_params_defaults(&p);
    p.chunk = C, p.rel_bias = C > 0 ? t[12] : NULL;
    dbias = dbias && C > 0;
    const ocla_flash_io io = {t[0], t[1], t[2], t[3], t[4], t[6]};
    ocla_status st = ok ? ocla_flash_attention(ctx, &p, &io) : OCLA_ERR_OUT_OF_MEMORY;
    if (st == OCLA_SUCCESS && backward) {
        const ocla_flash_grad_io gio = {t[0], t[1], t[2], t[3], t[4], t[5], t[7], t[8], t[9], t[10], t[11],
                                        dbias ? t[13] : NULL};
        st = ocla_flash_backward(ctx, &p, &gio);
    }
    result(label, st, st == OCLA_SUCCESS ? finite(t[backward ? (dbias ? 13 : 8) : 6]) : NULL);
    for (int i = 0; i < 14; i++) ocla_tensor_destroy(t[i]);
}

static void attention_part(void) {
    static const ocla_gate_kind gates[] = {OCLA_GATE_NONE, OCLA_GATE_SCALAR, OCLA_GATE_FIXED, OCLA_GATE_VECTOR};
    static const ocla_feature_map fmaps[] = {OCLA_FEATURE_IDENTITY, OCLA_FEATURE_ELU1, OCLA_FEATURE_RELU};
    static const char *gname[] = {"none", "scalar", "fixed", "vector"}, *fname[] = {"identity", "elu1", "relu"};
    const int K = 8, V = 8, T = 19;
    char label[160];
    /* The feature map and the normaliser are run-time arguments of the forward kernels (one variant
     * per chunk and gate family, every chunk run by part 2) and build options of the backward's:
     * every combination at the scheduler's chunk. */
    for (int gi = 0; gi < 4; gi++)
        for (int fi = 0; fi < 3; fi++)
            for (int norm = 0; norm <= 1; norm++) {
                ocla_attn_params p;
                ocla_attn_params_defaults(&p);
                p.gate = gates[gi], p.feature_map = fmaps[fi], p.normalize = norm;
                snprintf(label, sizeof label, "forward gate %s feature %s norm %d chunked", gname[gi], fname[fi], norm);
                attn_run(&p, 0, 0, T, 2, K, V, label);
                p.form = OCLA_FORM_RECURRENT;
                snprintf(label, sizeof label, "forward gate %s feature %s norm %d recurrent", gname[gi], fname[fi], norm);
                attn_run(&p, 0, 0, T, 2, K, V, label);
                p.form = OCLA_FORM_CHUNKED;
                if (gates[gi] == OCLA_GATE_NONE) {
                    p.causal = 0;
                    snprintf(label, sizeof label, "forward noncausal feature %s norm %d", fname[fi], norm);
                    attn_run(&p, 0, 0, T, 2, K, V, label);
                    p.causal = 1;
                }
                const int gated = gates[gi] == OCLA_GATE_SCALAR || gates[gi] == OCLA_GATE_VECTOR;
                for (int dg = gated; dg >= 0; dg--) {
                    snprintf(label, sizeof label, "backward gate %s feature %s norm %d%s", gname[gi], fname[fi], norm,
                             dg ? " dg" : " no dg");
                    attn_run(&p, 1, dg, T, 2, K, V, label);
                }
            }
    /* the backward in half (runtime/op_attention_bwd_half.c): layer_common.cl's conversions, which no
     * attention plan names, both ways (bf16 and fp16 share its program; the gradients go back in q's
     * dtype) */
    for (int dt = OCLA_BF16; dt <= OCLA_F16; dt++) {
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = OCLA_GATE_VECTOR;
        g_attn.dt = g_attn.gdt = (ocla_dtype)dt;
        snprintf(label, sizeof label, "backward gate vector %s", ocla_dtype_name((ocla_dtype)dt));
        attn_run(&p, 1, 1, T, 2, K, V, label);
        g_attn.dt = g_attn.gdt = OCLA_F32;
    }
}

/* ---- part 4: the variants of the runtime's list that parts 1 to 3 did not build ---- */

/* Run the request r of ocla_variants' witness field at B = H = 1, T = chunk + 3 (a full chunk, then a
 * partial one; 5 tokens where the op has no chunk), its head dims and its chunk: through the
 * public attention calls for the linear-attention ops (gate, feature map, normaliser, causality,
 * form and dg from the request), else through the first op-table entry that takes this op's
 * chunk (chunk_op), against its reference. Nonzero when no call makes this op's plans. */
static int run_request(const ocla_plan_request *r, const char *label) {
    /* a decode step (T = 1) at the witness's B and H: its plan's tiles follow the grid's size */
    const int step = r->op == OCLA_OP_ATTN_RECURRENT && r->T == 1;
    const int T = step ? 1 : r->chunk > 0 ? r->chunk + 3 : 5, K = (int)r->K, V = (int)r->V;
    const int H = step ? (int)r->H : 1;
    const int sm = r->op == OCLA_OP_SOFTMAX_TILED || r->op == OCLA_OP_SOFTMAX_BACKWARD;
    if (sm && ocla__plan_dtype(r) >= 0) { /* half softmax: its own run (the op table's entries are fp32) */
        softmax_half_run((ocla_dtype)ocla__plan_dtype(r), r->op == OCLA_OP_SOFTMAX_BACKWARD, r->chunk, T, K, V, label);
        return 0;
    }
    if (r->op == OCLA_OP_FLASH_CHUNK && ocla__plan_dtype(r) >= 0) { /* half FLASH: likewise */
        flash_half_run((ocla_dtype)ocla__plan_dtype(r), (r->flags & OCLA__PLAN_FLASH_BWD) != 0,
                       (r->flags & OCLA__PLAN_FLASH_DBIAS) != 0, r->chunk, T, K, V, label);
        return 0;
    }
    switch (r->op) {
    case OCLA_OP_LINEAR_CHUNK:
    case OCLA_OP_SIMPLE_GLA_CHUNK:
    case OCLA_OP_GLA_CHUNK:
    case OCLA_OP_ATTN_RECURRENT:
    case OCLA_OP_ATTN_BACKWARD: {
        ocla_attn_params p;
        ocla_attn_params_defaults(&p);
        p.gate = (ocla_gate_kind)r->gate, p.feature_map = (ocla_feature_map)r->feature;
        p.normalize = (r->flags & OCLA_PLAN_NORMALIZE) != 0, p.causal = !(r->flags & OCLA_PLAN_NONCAUSAL);
        p.form = r->op == OCLA_OP_ATTN_RECURRENT ? OCLA_FORM_RECURRENT : OCLA_FORM_CHUNKED;
        p.chunk = r->chunk;
        const ocla_dtype dt = (r->flags & OCLA_PLAN_BF16) ? OCLA_BF16 : (r->flags & OCLA_PLAN_F16) ? OCLA_F16 : OCLA_F32;
        g_attn.B = step ? r->B : 1, g_attn.dt = dt, g_attn.gdt = (r->flags & OCLA_PLAN_HALF_GATE) ? dt : OCLA_F32;
        attn_run(&p, r->op == OCLA_OP_ATTN_BACKWARD, !(r->flags & OCLA__PLAN_BWD_NO_DG), T, H, K, V, label);
        g_attn.B = 1, g_attn.dt = g_attn.gdt = OCLA_F32;
        return 0;
    }
    default:
        for (int i = 0; i < op_count(); i++) {
            const op_entry *e = op_get(i);
            int gate;
            if (chunk_op(e, &gate) != (int)r->op || gate != r->gate) continue;
            op_shape s = e->shapes[0];
            s.B = 1, s.H = 1, s.T = T, s.K = K, s.V = V, s.chunk = r->chunk;
            if (selected(label)) run_entry(e, &s, label);
            return 0;
        }
        return -1;
    }
}

/* Each portable variant of list (ocla_variants --device ... --witness: source, options, kernels,
 * compiles, witness; tab-separated) not built yet: its witness request. Variants that only the
 * NVIDIA driver compiles (inline PTX) and the kernels that run without a plan (no witness; the
 * context and the op table build them) are left to the CI script's comparison. */
static void list_part(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        failures++;
        return;
    }
    char line[2048], label[200];
    int from_list = 0;
    long at = -1;
    in_list = 1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (shard_n > 1 && ++at % shard_n != shard_i) continue;
        char *field[5] = {line};
        int n = 1;
        for (char *t = strchr(line, '\t'); t && n < 5; t = strchr(t + 1, '\t')) *t = 0, field[n++] = t + 1;
        if (n < 5 || strcmp(field[3], "any") || !strcmp(field[4], "-")) continue;
        char variant[sizeof line]; /* "source\toptions": line held both */
        const size_t a = strlen(field[0]);
        memcpy(variant, field[0], a);
        variant[a] = '\t';
        strcpy(variant + a + 1, field[1]);
        if (was_built(variant)) continue;
        ocla_plan_request r;
        long long B, T, H, K, V;
        int op;
        memset(&r, 0, sizeof r);
        if (sscanf(field[4], "op=%d gate=%d feature=%d flags=%u B=%lld T=%lld H=%lld K=%lld V=%lld chunk=%d", &op,
                   &r.gate, &r.feature, &r.flags, &B, &T, &H, &K, &V, &r.chunk) != 10) {
            fprintf(stderr, "kernel_sweep: %s: a witness of an unknown form: %s\n", path, field[4]);
            failures++;
            continue;
        }
        r.op = (ocla_op_kind)op, r.B = B, r.T = T, r.H = H, r.K = K, r.V = V;
        snprintf(label, sizeof label, "variant %.32s op %d gate %d feature %d flags %u K %lld V %lld chunk %d",
                 field[0], op, r.gate, r.feature, r.flags, K, V, r.chunk);
        from_list++;
        if (run_request(&r, label)) {
            fprintf(stderr, "kernel_sweep: no call of the sweep makes plans of op kind %d (%s %s)\n", op, field[0],
                    field[1]);
            failures++;
        }
    }
    fclose(f);
    in_list = 0;
    printf("kernel_sweep: %d variants of %s not built by parts 1 to 3, each given to its witness request "
           "(run where the filter selects it)\n", from_list, path);
}

/* ---- the canary: a race and an out-of-bounds write, on purpose ---- */
/* ---- part 5: the whole-model kernels (model.cl) through a tiny model ---- */
static void model_part(void) {
    if (!selected("model")) return;
    t_run = ocla_now_seconds();
    char dir[] = "/tmp/ocla-sweep-XXXXXX", path[64];
    ref_model_spec m = ref_model_small();
    m.vocab = 16, m.d = 16, m.L = 1, m.I = 16; /* K 4, V 8 */
    m.conv = 3, m.extra = "\"feature_map\": \"relu\", \"clamp_min\": -0.05,"; /* fla's options: model.cl's all */
    ocla_model *model = NULL;
    ocla_model_session *s = NULL;
    float logits[5 * 16];
    const int32_t tok[5] = {1, 7, 3, 15, 0};
    ocla_status st = mkdtemp(dir) && !ref_model_write(dir, &m, 5) ? ocla_model_open(dir, &model) : OCLA_ERR_INTERNAL;
    if (st == OCLA_SUCCESS) st = ocla_model_session_create(ctx, model, 1, &s);
    if (st == OCLA_SUCCESS) st = ocla_model_prefill(s, tok, 5, OCLA_MODEL_LOGITS_ALL, logits);
    if (st == OCLA_SUCCESS) st = ocla_model_step(s, tok, logits);
    int finite = 1;
    for (int i = 0; i < 16; i++) finite &= isfinite(logits[i]) != 0;
    result("model: prefill 5 tokens, one step", st, st == OCLA_SUCCESS && !finite ? "logits not finite" : NULL);
    ocla_model_session_free(s);
    ocla_model_free(model);
    snprintf(path, sizeof path, "%s/config.json", dir), unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir), unlink(path);
    rmdir(dir);
}

static const char canary_source[] =
    "kernel void canary(global float *out, local float *s) {\n"
    "    const int i = (int)get_local_id(0), n = (int)get_local_size(0);\n"
    "    s[i] = (float)i;\n"
    "    out[i] = s[(i + 1) % n]; /* another item's write, no barrier between: a race */\n"
    "    if (i == 0) out[n] = 1.0f; /* one element past the buffer */\n"
    "}\n";

static int canary(void) {
    const size_t n = 16;
    const char *src = canary_source;
    cl_int err;
    cl_program prog = clCreateProgramWithSource(ctx->cl, 1, &src, NULL, &err);
    if (err == CL_SUCCESS) err = clBuildProgram(prog, 1, &ctx->device, "", NULL, NULL);
    cl_kernel k = err == CL_SUCCESS ? clCreateKernel(prog, "canary", &err) : NULL;
    cl_mem out = err == CL_SUCCESS ? clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err) : NULL;
    if (err == CL_SUCCESS) err = clSetKernelArg(k, 0, sizeof out, &out);
    if (err == CL_SUCCESS) err = clSetKernelArg(k, 1, n * sizeof(float), NULL);
    if (err == CL_SUCCESS) err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &n, &n, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(ctx->queue);
    if (out) clReleaseMemObject(out);
    if (k) clReleaseKernel(k);
    if (prog) clReleaseProgram(prog);
    printf("kernel_sweep: canary ran (OpenCL status %d); the simulator must have reported a race and an "
           "out-of-bounds write\n", (int)err);
    return err != CL_SUCCESS;
}

int main(int argc, char **argv) {
    const char *device = argc > 1 ? argv[1] : "oclgrind";
    filter = argc > 2 ? argv[2] : "";
    const char *shard = getenv("OCLA_SWEEP_SHARD"), *pre = getenv("OCLA_SWEEP_BUILT");
    if (shard && (sscanf(shard, "%d/%d", &shard_i, &shard_n) != 2 || shard_n < 1 || shard_i < 0 || shard_i >= shard_n)) {
        fprintf(stderr, "kernel_sweep: OCLA_SWEEP_SHARD=%s: expected i/n with 0 <= i < n\n", shard);
        return 1;
    }
    if (pre && preload_built(pre)) return 1;
    if (argc > 3 && !(variants = fopen(argv[3], "w"))) {
        perror(argv[3]);
        return 1;
    }
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.device = device;
    o.cache_mode = OCLA_CACHE_OFF; /* every variant is built here, so the variants file lists it */
    o.log = on_log;
    o.log_level = OCLA_LOG_DEBUG;
    ocla_status st = ocla_context_create(&o, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "kernel_sweep: context on \"%s\": %s: %s\n", device, ocla_status_string(st),
                ocla_last_error(NULL));
        return 1;
    }
    if (!strcmp(filter, "canary")) {
        int rc = canary();
        ocla_context_destroy(ctx);
        return rc;
    }
    if (selected("selftest")) {
        t_run = ocla_now_seconds();
        result("selftest", ocla_selftest(ctx, NULL), NULL);
    }
    op_table_part();
    mesa_part("llvmpipe lanes", "lanes");
    mesa_part("llvmpipe", "blk");
    attention_part();
    model_part();
    if (argc > 4) list_part(argv[4]);
    ocla_cache_stats cs;
    ocla_cache_get_stats(ctx, &cs);
    ocla_context_destroy(ctx);
    if (variants) fclose(variants);
    for (int i = 0; i < n_built; i++) free(built[i]);
    free(built);
    printf("kernel_sweep: %d runs, %d failed, %d unsupported on this device; %llu program variants built\n", runs,
           failures, refused, (unsigned long long)cs.builds);
    /* no run at all fails (a filter that selects nothing), but for a shard of part 4 alone, which
     * may find every variant of its lines built by the others */
    return failures || (!runs && !(shard_n > 1 && !strcmp(filter, "variant")));
}
