/* SPDX-License-Identifier: MIT */
/* ocla-bench --varlen: packed sequences and state slots, the two figures of the serving issue.
 *
 * (a) packed throughput. The dense call: q, k, v (and per-key gates for GLA) [B,T,H,D], chunked form,
 *     the scheduler's chunk. The packed call: the same B*T tokens as [1,B*T,H,D] holding a random
 *     mix of sequences (lengths drawn uniformly from 1 .. 2T-1 with a fixed seed until the total is
 *     reached, the last one cut to fit), params.cu_seqlens. Median wall time of `runs` calls of each,
 *     each waited for (ocla_finish), dense and packed alternated; tokens/s = B*T / time; ratio =
 *     packed / dense. The chunks each walks at chunk 64 are printed: a packed mix has more (each
 *     sequence's last chunk is partial), which bounds the ratio below 1 by that share. Methods: linear
 *     attention (no gate, no normaliser), GLA (OCLA_GATE_VECTOR) and FLASH (ocla_flash_attention at
 *     chunk 64, qq = ql = q, kq = kl = k, its other params the defaults). On NVIDIA the dense call takes
 *     the tensor-core path where the plan picks it and the packed call the portable kernels
 *     (packed calls plan the portable path), so there the ratio compares two implementations; where
 *     the dense plan is a vendor path the comparison is run again in a context with
 *     portable_kernels_only ("portable" rows): the ratio of the packed form itself.
 * (b) slot decode. One decode step (recurrent form, T = 1, GLA's per-key gates) of B active rows over
 *     a pool of S = 2B states [S,H,D,D], rows in random distinct slots, in place; beside it the dense
 *     step (states [B,H,D,D], no slots). Bytes moved per step: the states read and written
 *     (2 B H D D floats) and q, k, v, g, o (5 B H D floats); GB/s = bytes / median step time, and
 *     its share of the device's copy bandwidth measured by ocla-bench's peak (perf/peak.c), once by
 *     the wall time of a waited call (host work and the wait included) and once by the device time
 *     of the step's kernels (OpenCL events, median of `runs`), which is how the copy bandwidth itself
 *     is timed; the host's share is ocla-bench --host-decode's figure.
 * --detail adds the per-kernel device times of one call of each (ocla_profile_detail). Shapes:
 * (a) --shape B,T,H,D (default 8,512,4,64); (b) B, H, D of --shape (default the 64,16,128).
 * Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ocla/ocla.h"

typedef struct call {
    ocla_context *ctx;
    ocla_attn_params p;
    ocla_attn_io io;
    int flash; /* 1: ocla_flash_attention with fp, fio instead */
    ocla_flash_params fp;
    ocla_flash_io fio;
} call;

static ocla_status run_call(call *c) {
    return c->flash ? ocla_flash_attention(c->ctx, &c->fp, &c->fio) : ocla_attention_forward(c->ctx, &c->p, &c->io);
}

static uint32_t xs(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

static ocla_tensor *rand_tensor(ocla_context *ctx, int64_t a, int64_t b, int64_t c, int64_t d, float lo, float hi,
                                uint32_t seed) {
    const int64_t dims[4] = {a, b, c, d};
    const size_t n = (size_t)(a * b * c * d);
    ocla_tensor *t = NULL;
    float *h = malloc(n * sizeof *h);
    if (h && ocla_tensor_create(ctx, OCLA_F32, 4, dims, &t) == OCLA_SUCCESS) {
        for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * (float)(xs(&seed) >> 8) / 16777216.0f;
        if (ocla_tensor_upload(ctx, t, h, n * sizeof *h) != OCLA_SUCCESS) ocla_tensor_destroy(t), t = NULL;
    }
    free(h);
    return t;
}

/* One call of c, waited for; its wall time in ms, or -1 (the reason on stderr). */
static double one_call(call *c, const char *what) {
    const double t0 = bench_now();
    ocla_status st = run_call(c);
    if (st == OCLA_SUCCESS) st = ocla_finish(c->ctx);
    if (st == OCLA_SUCCESS) return (bench_now() - t0) * 1e3;
    fprintf(stderr, "ocla-bench --varlen: %s: %s\n", what, ocla_last_error(c->ctx));
    return -1.0;
}

/* The per-kernel device times of one call (ocla_profile_detail), printed. */
static void print_detail(call *c, const char *what) {
    char text[1024] = "";
    double dev = 0;
    int kernels = 0;
    ocla_profile_begin(c->ctx);
    const ocla_status st = run_call(c);
    if (ocla_profile_end(c->ctx, &dev, &kernels) == OCLA_SUCCESS && st == OCLA_SUCCESS)
        ocla_profile_detail(c->ctx, text, sizeof text);
    printf("    %-22s %d kernels, %.3f ms: %s\n", what, kernels, dev, text);
}

/* Median device time (ms, OpenCL events through ocla_profile_begin/end) of runs calls of c, after
 * one warm-up; -1 where the device gives no timestamps. */
static double device_median(call *c, int runs) {
    double *t = malloc((size_t)runs * sizeof *t);
    int n = 0;
    for (int i = -1; t && i < runs; i++) {
        double ms = 0;
        int kernels = 0;
        if (ocla_profile_begin(c->ctx) != OCLA_SUCCESS) break;
        const ocla_status st = ocla_attention_forward(c->ctx, &c->p, &c->io);
        if (ocla_profile_end(c->ctx, &ms, &kernels) != OCLA_SUCCESS || st != OCLA_SUCCESS || ms <= 0) break;
        if (i >= 0) t[n++] = ms;
    }
    const double m = n == runs ? bench_median(t, n) : -1.0;
    free(t);
    return m;
}

/* Median wall times (ms) of runs calls of a and of b, alternated (a, b, a, b, ...) after two
 * warm-ups of each, so that a machine whose load drifts slows both alike; -1 on failure. */
static void time_pair(call *a, call *b, int runs, int detail, const char *wa, const char *wb, double *ma, double *mb) {
    double *ta = malloc((size_t)runs * sizeof *ta), *tb = malloc((size_t)runs * sizeof *tb);
    int ok = ta && tb;
    *ma = *mb = -1.0;
    for (int i = -2; ok && i < runs; i++) {
        const double x = one_call(a, wa), y = x >= 0 ? one_call(b, wb) : -1.0;
        ok = x >= 0 && y >= 0;
        if (ok && i >= 0) ta[i] = x, tb[i] = y;
    }
    if (ok) *ma = bench_median(ta, runs), *mb = bench_median(tb, runs);
    if (ok && detail) print_detail(a, wa), print_detail(b, wb);
    free(ta), free(tb);
}

/* Lengths 1 .. 2T-1 until N tokens; cu gets n + 1 offsets (cap entries at most); returns n. */
static int length_mix(long N, long T, uint32_t seed, int32_t *cu, int cap) {
    int n = 0;
    cu[0] = 0;
    while (cu[n] < N && n + 1 < cap) {
        long len = 1 + (long)(xs(&seed) % (uint32_t)(2 * T - 1));
        if (cu[n] + len > N) len = N - cu[n];
        cu[n + 1] = cu[n] + (int32_t)len, n++;
    }
    return n;
}

typedef struct row {
    char device[160], what[32];
    long B, T, H, D;
    int n_seqs;
    long chunks_dense, chunks_packed; /* at chunk 64 */
    int path_dense, path_packed, chunk_dense, chunk_packed; /* the plans (ocla_plan_explain) */
    double a_ms, b_ms; /* (a) dense, packed; (b) dense step, slot step: wall time */
    double gbs_dense, gbs_slots, bw;
    double a_dev, b_dev, gbs_dense_dev, gbs_slots_dev; /* (b): device time (events), GB/s by it */
} row;

/* The plan of a chunked call (path and chunk), as the op runs it. */
static void plan_of(ocla_context *ctx, ocla_op_kind op, const long *shape, long B, long T, unsigned flags, int *path,
                    int *chunk) {
    const ocla_plan_request rq = {.op = op, .B = B, .T = T, .H = shape[2], .K = shape[3], .V = shape[3], .flags = flags};
    ocla_plan plan;
    *path = -1, *chunk = 0;
    if (ocla_plan_explain(ctx, &rq, &plan, NULL, 0) == OCLA_SUCCESS) *path = (int)plan.path, *chunk = plan.chunk;
}

static void packed_rows(ocla_context *ctx, const char *dev, const char *suffix, const long *shape, int runs,
                        int detail, row *out, int *nout) {
    const long B = shape[0], T = shape[1], H = shape[2], D = shape[3], N = B * T;
    enum { CAP = 1 << 16 };
    int32_t *cu = malloc(CAP * sizeof *cu);
    if (!cu) return;
    const int n = length_mix(N, T, 12345u, cu, CAP);
    ocla_tensor *q = rand_tensor(ctx, 1, N, H, D, -1, 1, 1), *k = rand_tensor(ctx, 1, N, H, D, -1, 1, 2);
    ocla_tensor *v = rand_tensor(ctx, 1, N, H, D, -1, 1, 3), *g = rand_tensor(ctx, 1, N, H, D, -0.2f, -0.001f, 4);
    ocla_tensor *o = rand_tensor(ctx, 1, N, H, D, 0, 0, 5);
    ocla_tensor *qv = NULL, *kv = NULL, *vv = NULL, *gv = NULL, *ov = NULL; /* the same memory as [B,T,H,D] */
    const int64_t dd[4] = {B, T, H, D}, ds[4] = {T * H * D, H * D, D, 1};
    ocla_tensor *const base[5] = {q, k, v, g, o};
    ocla_tensor **const views[5] = {&qv, &kv, &vv, &gv, &ov};
    for (int i = 0; i < 5; i++)
        if (base[i]) ocla_tensor_view(ctx, base[i], 0, 4, dd, ds, views[i]);
    static const struct {
        const char *name;
        ocla_gate_kind gate;
        ocla_op_kind op;
    } methods[3] = {{"linear", OCLA_GATE_NONE, OCLA_OP_LINEAR_CHUNK},
                    {"gla", OCLA_GATE_VECTOR, OCLA_OP_GLA_CHUNK},
                    {"flash", OCLA_GATE_NONE, OCLA_OP_FLASH_CHUNK}};
    for (int m = 0; m < 3 && qv && kv && vv && gv && ov; m++) {
        call dense = {.ctx = ctx}, packed = {.ctx = ctx};
        ocla_attn_params_defaults(&dense.p);
        dense.p.gate = methods[m].gate;
        packed.p = dense.p;
        packed.p.cu_seqlens = cu, packed.p.n_seqs = n;
        const int gated = methods[m].gate != OCLA_GATE_NONE;
        dense.io = (ocla_attn_io){.q = qv, .k = kv, .v = vv, .g = gated ? gv : NULL, .o = ov};
        packed.io = (ocla_attn_io){.q = q, .k = k, .v = v, .g = gated ? g : NULL, .o = o};
        if (methods[m].op == OCLA_OP_FLASH_CHUNK) { /* qq = ql = q, kq = kl = k, chunk 64 */
            dense.flash = packed.flash = 1;
            ocla_flash_params_defaults(&dense.fp);
            dense.fp.chunk = 64;
            packed.fp = dense.fp;
            packed.fp.cu_seqlens = cu, packed.fp.n_seqs = n;
            dense.fio = (ocla_flash_io){qv, kv, qv, kv, vv, ov};
            packed.fio = (ocla_flash_io){q, k, q, k, v, o};
        }
        row *r = &out[(*nout)++];
        memset(r, 0, sizeof *r);
        snprintf(r->device, sizeof r->device, "%s", dev);
        snprintf(r->what, sizeof r->what, "packed %s%s", methods[m].name, suffix);
        plan_of(ctx, methods[m].op, shape, B, T, 0, &r->path_dense, &r->chunk_dense);
        plan_of(ctx, methods[m].op, shape, 1, N, OCLA_PLAN_VARLEN, &r->path_packed, &r->chunk_packed);
        if (dense.flash) r->chunk_dense = r->chunk_packed = dense.fp.chunk; /* given, not the scheduler's */
        r->B = B, r->T = T, r->H = H, r->D = D, r->n_seqs = n;
        r->chunks_dense = B * ((T + 63) / 64);
        for (int i = 0; i < n; i++) r->chunks_packed += (cu[i + 1] - cu[i] + 63) / 64;
        if (detail) printf("  %s, %ld tokens, %d sequences:\n", r->what, N, n);
        time_pair(&dense, &packed, runs, detail, "dense", "packed", &r->a_ms, &r->b_ms);
    }
    for (int i = 0; i < 5; i++) ocla_tensor_destroy(*views[i]), ocla_tensor_destroy(base[i]);
    free(cu);
}

static void decode_row(ocla_context *ctx, const char *dev, const long *shape, double bw, int runs, int detail, row *r) {
    const long B = shape[0], H = shape[2], D = shape[3], S = 2 * B;
    int32_t *slots = malloc((size_t)S * sizeof *slots);
    if (!slots) return;
    uint32_t seed = 777u;
    for (long i = 0; i < S; i++) slots[i] = (int32_t)i;
    for (long i = S - 1; i > 0; i--) { /* a random permutation; the first B are the rows' slots */
        const long j = (long)(xs(&seed) % (uint32_t)(i + 1));
        const int32_t t = slots[i];
        slots[i] = slots[j], slots[j] = t;
    }
    ocla_tensor *q = rand_tensor(ctx, B, 1, H, D, -1, 1, 11), *k = rand_tensor(ctx, B, 1, H, D, -1, 1, 12);
    ocla_tensor *v = rand_tensor(ctx, B, 1, H, D, -1, 1, 13), *g = rand_tensor(ctx, B, 1, H, D, -0.2f, -0.001f, 14);
    ocla_tensor *o = rand_tensor(ctx, B, 1, H, D, 0, 0, 15);
    ocla_tensor *pool = rand_tensor(ctx, S, H, D, D, -0.1f, 0.1f, 16), *dense_s = rand_tensor(ctx, B, H, D, D, -0.1f, 0.1f, 17);
    memset(r, 0, sizeof *r);
    snprintf(r->device, sizeof r->device, "%s", dev);
    snprintf(r->what, sizeof r->what, "decode gla S=%ld", S);
    r->B = B, r->T = 1, r->H = H, r->D = D, r->bw = bw;
    if (q && k && v && g && o && pool && dense_s) {
        call dense = {.ctx = ctx}, slotted = {.ctx = ctx};
        ocla_attn_params_defaults(&dense.p);
        dense.p.gate = OCLA_GATE_VECTOR, dense.p.form = OCLA_FORM_RECURRENT;
        slotted.p = dense.p;
        slotted.p.state_slots = slots, slotted.p.n_state_slots = (int)B;
        dense.io = (ocla_attn_io){.q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = dense_s, .final_state = dense_s};
        slotted.io = (ocla_attn_io){.q = q, .k = k, .v = v, .g = g, .o = o, .initial_state = pool, .final_state = pool};
        if (detail) printf("  %s, B = %ld rows:\n", r->what, B);
        time_pair(&dense, &slotted, runs, detail, "dense step", "slot step", &r->a_ms, &r->b_ms);
        const double bytes = 4.0 * (double)B * (double)H * (2.0 * (double)D * (double)D + 5.0 * (double)D);
        if (r->a_ms > 0) r->gbs_dense = bytes / (r->a_ms * 1e6);
        if (r->b_ms > 0) r->gbs_slots = bytes / (r->b_ms * 1e6);
        r->a_dev = device_median(&dense, runs), r->b_dev = device_median(&slotted, runs);
        if (r->a_dev > 0) r->gbs_dense_dev = bytes / (r->a_dev * 1e6);
        if (r->b_dev > 0) r->gbs_slots_dev = bytes / (r->b_dev * 1e6);
    }
    ocla_tensor *const all[7] = {q, k, v, g, o, pool, dense_s};
    for (int i = 0; i < 7; i++) ocla_tensor_destroy(all[i]);
    free(slots);
}

static void json_rows(FILE *f, const row *rows, int n) {
    fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        const int dec = r->T == 1;
        fprintf(f,
                "  {\"device\": \"%s\", \"what\": \"%s\", \"B\": %ld, \"T\": %ld, \"H\": %ld, \"D\": %ld, "
                "\"n_seqs\": %d, \"chunks64_dense\": %ld, \"chunks64_packed\": %ld, \"path_dense\": %d, "
                "\"path_packed\": %d, \"chunk_dense\": %d, \"chunk_packed\": %d, \"%s_ms\": %.6f, \"%s_ms\": %.6f",
                r->device, r->what, r->B, r->T, r->H, r->D, r->n_seqs, r->chunks_dense, r->chunks_packed,
                r->path_dense, r->path_packed, r->chunk_dense, r->chunk_packed, dec ? "dense_step" : "dense",
                r->a_ms, dec ? "slot_step" : "packed", r->b_ms);
        if (dec)
            fprintf(f,
                    ", \"gbs_dense\": %.3f, \"gbs_slots\": %.3f, \"dense_step_device_ms\": %.6f, "
                    "\"slot_step_device_ms\": %.6f, \"gbs_dense_device\": %.3f, \"gbs_slots_device\": %.3f, "
                    "\"copy_bw_gbs\": %.3f}",
                    r->gbs_dense, r->gbs_slots, r->a_dev, r->b_dev, r->gbs_dense_dev, r->gbs_slots_dev, r->bw);
        else
            fprintf(f, ", \"ratio\": %.4f}", r->a_ms > 0 && r->b_ms > 0 ? r->a_ms / r->b_ms : 0.0);
        fprintf(f, "%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "]\n");
}

int varlen_main(const size_t *idx, int nidx, int runs, const long *shape, int detail, const char *json_path) {
    const long pshape[4] = {shape ? shape[0] : 8, shape ? shape[1] : 512, shape ? shape[2] : 4, shape ? shape[3] : 64};
    const long dshape[4] = {shape ? shape[0] : 64, 1, shape ? shape[2] : 16, shape ? shape[3] : 128};
    if (runs < 1) runs = 10;
    row *rows = calloc((size_t)nidx * 7, sizeof *rows);
    int n = 0;
    if (!rows) return 1;
    for (int i = 0; i < nidx; i++) {
        char sel[32];
        snprintf(sel, sizeof sel, "%zu", idx[i]);
        ocla_context_options co;
        ocla_context_options_defaults(&co);
        co.device = sel, co.profiling = 1;
        ocla_context *ctx = NULL;
        if (ocla_context_create(&co, &ctx) != OCLA_SUCCESS) {
            fprintf(stderr, "ocla-bench --varlen: device %s: %s\n", sel, ocla_last_error(NULL));
            continue;
        }
        bench_device d;
        char err[160];
        memset(&d, 0, sizeof d);
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        snprintf(d.name, sizeof d.name, "%s", info.device_name);
        if (bench_device_peak(ctx, &d, err, sizeof err) != 0) fprintf(stderr, "ocla-bench --varlen: peak: %s\n", err);
        printf("[%s] copy bandwidth %.1f GB/s\n", d.name, d.bw_gbs);
        const int first = n;
        packed_rows(ctx, d.name, "", pshape, runs, detail, rows, &n);
        int vendor = 0;
        for (int j = first; j < n; j++) vendor |= rows[j].path_dense > 0;
        if (vendor) { /* the dense call took a vendor path: the same comparison with portable kernels only */
            ocla_context *pctx = NULL;
            co.portable_kernels_only = 1;
            if (ocla_context_create(&co, &pctx) == OCLA_SUCCESS)
                packed_rows(pctx, d.name, " portable", pshape, runs, detail, rows, &n), ocla_context_destroy(pctx);
        }
        decode_row(ctx, d.name, dshape, d.bw_gbs, runs, detail, &rows[n++]);
        for (int j = first; j < n; j++) {
            const row *r = &rows[j];
            if (r->T > 1)
                printf("  %-23s %ldx%ld tokens (H %ld, D %ld), %d sequences (chunks at 64: %ld dense, %ld packed; "
                       "plans: dense %s chunk %d, packed %s chunk %d): dense %.0f tok/s, packed %.0f tok/s, "
                       "packed/dense %.2f\n", r->what, r->B, r->T, r->H, r->D, r->n_seqs, r->chunks_dense,
                       r->chunks_packed, r->path_dense == 0 ? "portable" : "vendor", r->chunk_dense,
                       r->path_packed == 0 ? "portable" : "vendor", r->chunk_packed,
                       r->a_ms > 0 ? (double)(r->B * r->T) / (r->a_ms * 1e-3) : 0.0,
                       r->b_ms > 0 ? (double)(r->B * r->T) / (r->b_ms * 1e-3) : 0.0,
                       r->a_ms > 0 && r->b_ms > 0 ? r->a_ms / r->b_ms : 0.0);
            else {
                printf("  %-14s B %ld, H %ld, D %ld: dense step %.3f ms (%.1f GB/s, %.0f%%), slot step %.3f ms "
                       "(%.1f GB/s, %.0f%% of copy bandwidth) [wall, host included]\n", r->what, r->B, r->H, r->D,
                       r->a_ms, r->gbs_dense, r->bw > 0 ? 100.0 * r->gbs_dense / r->bw : 0.0, r->b_ms, r->gbs_slots,
                       r->bw > 0 ? 100.0 * r->gbs_slots / r->bw : 0.0);
                if (r->a_dev > 0 && r->b_dev > 0)
                    printf("  %-14s B %ld, H %ld, D %ld: dense step %.3f ms (%.1f GB/s, %.0f%%), slot step %.3f ms "
                           "(%.1f GB/s, %.0f%% of copy bandwidth) [device time]\n", r->what, r->B, r->H, r->D,
                           r->a_dev, r->gbs_dense_dev, r->bw > 0 ? 100.0 * r->gbs_dense_dev / r->bw : 0.0, r->b_dev,
                           r->gbs_slots_dev, r->bw > 0 ? 100.0 * r->gbs_slots_dev / r->bw : 0.0);
            }
        }
        ocla_context_destroy(ctx);
    }
    int rc = 0;
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (f) json_rows(f, rows, n), rc = fclose(f) != 0;
        else rc = 1;
        if (rc) fprintf(stderr, "ocla-bench --varlen: cannot write %s\n", json_path);
    }
    free(rows);
    return rc;
}
