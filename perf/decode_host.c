/* SPDX-License-Identifier: MIT */
/* ocla-bench --host-decode: what a decode step costs the host, beside what it costs the device.
 *
 * One GLA decode step: B = 1, H = 4, K = V = 64, per-key gates (OCLA_GATE_VECTOR), recurrent form,
 * T = 1, the state updated in place (initial_state == final_state), the same q, k, v, g every step.
 * Each API is measured over `steps` steps, three times (the median of each figure is reported):
 *   device      ocla_profile_begin; steps; ocla_profile_end, divided by steps (event time summed over
 *               the kernels; the host clock, waits included, where the driver's events read 0)
 *   enqueue     t0; steps with no wait; t1: (t1 - t0) / steps
 *   pipelined   the same batch up to its ocla_finish: (t2 - t0) / steps
 *   wall+wait   each step followed by ocla_finish: the mean (and the median) over steps
 *   overhead    wall per step minus device time per step (pipelined, and with a wait per step)
 * APIs: (i) the one-shot call ocla_attention_forward (which keeps a few prepared ops per context);
 * (ii) the prepared op: ocla_attention_prepare once, ocla_attention_run per step; and, as the
 * driver's own floor, (iii) an empty kernel with the decode kernel's grid (64 x 8 x 4 work-items in
 * groups of 32 x 8) enqueued with plain OpenCL on the same queue, its device time from its events,
 * and (iv) a kernel of that grid that spins for about the prepared step's device time (calibrated
 * by its events before the measurement): the driver's cost around a kernel that does work.
 * ocla's share of the overhead is a row's overhead minus the floors'. Public API only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ocla/ocla.h"

enum { DB = 1, DH = 4, DK = 64, DV = 64, REPEATS = 3, WARMUP = 20 };

typedef struct stepper {
    ocla_context *ctx;
    ocla_attn_params p;
    ocla_attn_io io;
    ocla_attn_op *op; /* NULL: the one-shot call */
    cl_kernel raw;    /* the driver floors: an empty or a spinning kernel through plain OpenCL */
} stepper;

static const size_t k_raw_global[3] = {64, 8, DB * DH}, k_raw_local[3] = {32, 8, 1};

typedef struct decode_result {
    const char *api;
    char status[160]; /* "ok" or why not */
    int kernels;      /* kernels per step (from the profile) */
    double device_us, enqueue_us, pipelined_us, wait_us, wait_median_us; /* medians over the repeats */
    double dev[REPEATS], enq[REPEATS], pipe[REPEATS], wait[REPEATS];   /* each repeat */
    double *each; /* wall+wait of every step of every repeat */
    int n_each;
} decode_result;

static ocla_status step(stepper *s) {
    if (s->raw)
        return clEnqueueNDRangeKernel(ocla_context_queue(s->ctx), s->raw, 3, NULL, k_raw_global, k_raw_local, 0, NULL,
                                      NULL) == CL_SUCCESS
                   ? OCLA_SUCCESS
                   : OCLA_ERR_OPENCL;
    return s->op ? ocla_attention_run(s->op, &s->io) : ocla_attention_forward(s->ctx, &s->p, &s->io);
}

/* Event time of one launch of k with the decode grid, waited for; -1 on error. */
static double raw_event_us(cl_command_queue q, cl_kernel k) {
    cl_event ev;
    cl_ulong a = 0, b = 0;
    if (clEnqueueNDRangeKernel(q, k, 3, NULL, k_raw_global, k_raw_local, 0, NULL, &ev) != CL_SUCCESS) return -1;
    clWaitForEvents(1, &ev);
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL);
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL);
    clReleaseEvent(ev);
    return b > a ? (double)(b - a) * 1e-3 : 0.0;
}

#define TRY(expr)                                                                                              \
    do {                                                                                                       \
        ocla_status st_ = (expr);                                                                              \
        if (st_ != OCLA_SUCCESS) {                                                                             \
            snprintf(r->status, sizeof r->status, "%s: %s", ocla_status_string(st_), ocla_last_error(s->ctx)); \
            goto fail;                                                                                         \
        }                                                                                                      \
    } while (0)

/* One repeat of the three measurements (warm-up first on repeat 0). Returns 0, or -1 with r->status. */
static int measure_repeat(stepper *s, int steps, int rep, decode_result *r) {
    int prof_open = 0;
    if (rep == 0) {
        r->each = malloc(sizeof(double) * (size_t)steps * REPEATS);
        if (!r->each) {
            snprintf(r->status, sizeof r->status, "out of host memory");
            return -1;
        }
        for (int i = 0; i < WARMUP; i++) TRY(step(s));
    }
    TRY(ocla_finish(s->ctx));
    double ms = 0;
    int kernels = 0;
    if (s->raw) { /* events of the plain launches */
        for (int i = 0; i < steps; i++) {
            const double us = raw_event_us(ocla_context_queue(s->ctx), s->raw);
            if (us < 0) TRY(OCLA_ERR_OPENCL);
            ms += us * 1e-3;
        }
        kernels = steps;
    } else {
        TRY(ocla_profile_begin(s->ctx));
        prof_open = 1;
        for (int i = 0; i < steps; i++) TRY(step(s));
        prof_open = 0;
        TRY(ocla_profile_end(s->ctx, &ms, &kernels));
    }
    r->dev[rep] = ms * 1e3 / steps;
    r->kernels = (kernels + steps / 2) / steps;

    TRY(ocla_finish(s->ctx));
    const double t0 = bench_now();
    for (int i = 0; i < steps; i++) TRY(step(s));
    const double t1 = bench_now();
    TRY(ocla_finish(s->ctx));
    const double t2 = bench_now();
    r->enq[rep] = (t1 - t0) * 1e6 / steps;
    r->pipe[rep] = (t2 - t0) * 1e6 / steps;

    double sum = 0;
    for (int i = 0; i < steps; i++) {
        const double w0 = bench_now();
        TRY(step(s));
        TRY(ocla_finish(s->ctx));
        const double w = (bench_now() - w0) * 1e6;
        sum += w;
        r->each[r->n_each++] = w;
    }
    r->wait[rep] = sum / steps;
    return 0;
fail:
    if (prof_open) { /* close the profile so the next measurement starts clean */
        double ignored;
        ocla_profile_end(s->ctx, &ignored, NULL);
    }
    return -1;
}
#undef TRY

/* The spin kernel's loop count so that its event time is about the prepared step's (measured here
 * over 200 steps). 1, or 0 with why in status. */
static int calibrate_spin(stepper *prepared, cl_kernel spin, char *status, size_t n_status) {
    double ms = 0;
    int n = 64;
    cl_command_queue q = ocla_context_queue(prepared->ctx);
    if (ocla_profile_begin(prepared->ctx) != OCLA_SUCCESS) goto fail;
    for (int i = 0; i < 200; i++) ocla_attention_run(prepared->op, &prepared->io);
    if (ocla_profile_end(prepared->ctx, &ms, NULL) != OCLA_SUCCESS || ms <= 0) goto fail;
    const double target = ms * 1e3 / 200;
    for (int it = 0; it < 12; it++) {
        if (clSetKernelArg(spin, 1, sizeof n, &n) != CL_SUCCESS) goto fail;
        double t[5];
        for (int r = 0; r < 5; r++)
            if ((t[r] = raw_event_us(q, spin)) < 0) goto fail;
        const double us = bench_median(t, 5);
        if (us <= 0) goto fail;
        double f = target / us;
        if (f > 0.95 && f < 1.05) return 1;
        f = f > 8 ? 8 : f < 0.125 ? 0.125 : f;
        n = (int)(n * f) + 1;
    }
    return 1; /* close enough after 12 tries */
fail:
    snprintf(status, n_status, "no calibration (events read 0, or an OpenCL error)");
    return 0;
}

static void finish_result(decode_result *r) {
    r->device_us = bench_median(r->dev, REPEATS);
    r->enqueue_us = bench_median(r->enq, REPEATS);
    r->pipelined_us = bench_median(r->pipe, REPEATS);
    r->wait_us = bench_median(r->wait, REPEATS);
    r->wait_median_us = bench_median(r->each, r->n_each);
    snprintf(r->status, sizeof r->status, "ok");
}

static void json_s(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

enum { N_API = 4 };

typedef struct dev_out {
    ocla_device_info info;
    int ok;
    decode_result r[N_API];
    char plan[400]; /* ocla_attention_op_explain of the prepared op */
} dev_out;

/* One device: tensors, then the one-shot call and the prepared op on the same tensors. */
static void run_device(size_t gi, int steps, dev_out *d) {
    char sel[32];
    snprintf(sel, sizeof sel, "%zu", gi);
    ocla_context_options co;
    ocla_context_options_defaults(&co);
    co.device = sel;
    co.profiling = 1;
    ocla_context *ctx = NULL;
    d->r[0].api = "one-shot";
    d->r[1].api = "prepared";
    d->r[2].api = "floor";
    d->r[3].api = "busy";
    ocla_status st = ocla_context_create(&co, &ctx);
    if (st != OCLA_SUCCESS) {
        fprintf(stderr, "ocla-bench: device %s: %s: %s\n", sel, ocla_status_string(st), ocla_last_error(NULL));
        return;
    }
    ocla_context_device_info(ctx, &d->info);
    d->ok = 1;
    bench_progress(0, "[%s] decode host overhead, %d steps x %d ...", d->info.device_name, steps, REPEATS);
    ocla_tensor *t[6] = {0}; /* q k v g o state */
    const int64_t d1[4] = {DB, 1, DH, DK}, dv[4] = {DB, 1, DH, DV}, ds[4] = {DB, DH, DK, DV};
    float host[DB * DH * DK * DV];
    unsigned seed = 12345;
    for (int i = 0; i < 6 && st == OCLA_SUCCESS; i++) {
        st = ocla_tensor_create(ctx, OCLA_F32, 4, i == 5 ? ds : (i == 2 || i == 4) ? dv : d1, &t[i]);
        if (st != OCLA_SUCCESS) break;
        int64_t n = ocla_tensor_numel(t[i]);
        for (int64_t j = 0; j < n; j++) { /* q, k, v in [-1, 1); log gates in [-0.1, 0]; state 0 */
            seed = seed * 1664525u + 1013904223u;
            float u = (float)(seed >> 8) / 16777216.0f;
            host[j] = i == 3 ? -0.1f * u : i == 5 ? 0.0f : 2.0f * u - 1.0f;
        }
        st = ocla_tensor_upload(ctx, t[i], host, (size_t)n * sizeof(float));
    }
    if (st != OCLA_SUCCESS) {
        for (int a = 0; a < N_API; a++)
            snprintf(d->r[a].status, sizeof d->r[a].status, "tensors: %s: %s", ocla_status_string(st),
                     ocla_last_error(ctx));
    } else {
        stepper s;
        memset(&s, 0, sizeof s);
        s.ctx = ctx;
        ocla_attn_params_defaults(&s.p);
        s.p.gate = OCLA_GATE_VECTOR;
        s.p.form = OCLA_FORM_RECURRENT;
        s.io.q = t[0], s.io.k = t[1], s.io.v = t[2], s.io.g = t[3], s.io.o = t[4];
        s.io.initial_state = t[5];
        s.io.final_state = t[5];
        /* the two APIs alternate repeat by repeat, so a change in the machine's load hits both alike */
        stepper sp = s;
        st = ocla_attention_prepare(ctx, &sp.p, &sp.io, &sp.op);
        if (st == OCLA_SUCCESS)
            ocla_attention_op_explain(sp.op, NULL, d->plan, sizeof d->plan);
        else {
            sp.op = NULL;
            snprintf(d->r[1].status, sizeof d->r[1].status, "ocla_attention_prepare: %s: %s", ocla_status_string(st),
                     ocla_last_error(ctx));
        }
        /* the driver floors: an empty and a spinning kernel through plain OpenCL on the same queue */
        stepper sr = s, sb = s;
        sr.op = sb.op = NULL;
        static const char *nop_src =
            "__kernel void nop(__global float *x) { if (get_global_id(0) > 1u << 30) x[0] = 0.0f; }\n"
            "__kernel void spin(__global float *x, int n) {\n"
            "    float a = (float)get_local_id(0), b = 1.0001f;\n"
            "    for (int i = 0; i < n; i++) a = mad(a, b, 1e-7f);\n"
            "    if (a == -1.0f) x[0] = a;\n"
            "}\n";
        cl_int err;
        cl_program prog = clCreateProgramWithSource(ocla_context_cl(ctx), 1, &nop_src, NULL, &err);
        if (err == CL_SUCCESS) err = clBuildProgram(prog, 0, NULL, "", NULL, NULL);
        if (err == CL_SUCCESS) sr.raw = clCreateKernel(prog, "nop", &err);
        if (err == CL_SUCCESS) sb.raw = clCreateKernel(prog, "spin", &err);
        cl_mem xbuf = ocla_tensor_buffer(t[4]);
        if (err == CL_SUCCESS) err = clSetKernelArg(sr.raw, 0, sizeof xbuf, &xbuf);
        if (err == CL_SUCCESS) err = clSetKernelArg(sb.raw, 0, sizeof xbuf, &xbuf);
        if (err != CL_SUCCESS)
            for (int a = 2; a < 4; a++)
                snprintf(d->r[a].status, sizeof d->r[a].status, "plain kernel: OpenCL error %d", (int)err);
        int busy_ok = err == CL_SUCCESS && sp.op && calibrate_spin(&sp, sb.raw, d->r[3].status, sizeof d->r[3].status);
        int ok[N_API] = {1, st == OCLA_SUCCESS, err == CL_SUCCESS, busy_ok};
        stepper *sv[N_API] = {&s, &sp, &sr, &sb};
        for (int rep = 0; rep < REPEATS; rep++)
            for (int a = 0; a < N_API; a++)
                if (ok[a] && measure_repeat(sv[a], steps, rep, &d->r[a]) != 0) ok[a] = 0;
        for (int a = 0; a < N_API; a++) {
            if (ok[a]) finish_result(&d->r[a]);
            free(d->r[a].each);
            d->r[a].each = NULL;
        }
        if (sp.op) ocla_attention_op_destroy(sp.op);
        if (sr.raw) clReleaseKernel(sr.raw);
        if (sb.raw) clReleaseKernel(sb.raw);
        if (prog) clReleaseProgram(prog);
    }
    for (int i = 0; i < 6; i++) ocla_tensor_destroy(t[i]);
    ocla_context_destroy(ctx);
    bench_progress_end();
}

int decode_host_main(const size_t *idx, int nidx, int steps, const char *json_path) {
    dev_out *devs = calloc((size_t)nidx, sizeof *devs);
    if (!devs) return 1;
    int rc = 0;
    for (int i = 0; i < nidx; i++) {
        dev_out *d = &devs[i];
        run_device(idx[i], steps, d);
        if (!d->ok) {
            rc = 1;
            continue;
        }
        printf("\n== %s | %s | driver %s | device time: %s\n", d->info.device_name, d->info.platform_name,
               d->info.driver_version,
               d->info.profiling_works ? "OpenCL events" : "host clock (events read 0: waits included)");
        printf("   GLA decode step: B=%d H=%d K=V=%d, gates per key, recurrent form, T=1, state in place;\n"
               "   %d steps x %d repeats (medians), microseconds per step\n",
               DB, DH, DK, steps, REPEATS);
        if (d->plan[0]) printf("   plan: %s\n", d->plan);
        printf("%-9s %7s %9s %9s %10s %10s %10s %10s %10s\n", "api", "kernels", "device", "enqueue", "pipelined",
               "wall+wait", "(median)", "ovh pipe", "ovh wait");
        for (int a = 0; a < N_API; a++) {
            const decode_result *r = &d->r[a];
            if (strcmp(r->status, "ok")) {
                printf("%-9s  %s\n", r->api, r->status);
                continue;
            }
            char op[16] = "         -", ow[16] = "         -"; /* no device time where events read 0 */
            if (d->info.profiling_works) {
                snprintf(op, sizeof op, "%10.2f", r->pipelined_us - r->device_us);
                snprintf(ow, sizeof ow, "%10.2f", r->wait_us - r->device_us);
            }
            printf("%-9s %7d %9.2f %9.2f %10.2f %10.2f %10.2f %s %s\n", r->api, r->kernels, r->device_us,
                   r->enqueue_us, r->pipelined_us, r->wait_us, r->wait_median_us, op, ow);
        }
    }
    printf("\ndevice = ocla_profile over the steps / steps; enqueue = host time of back-to-back steps with no wait;\n"
           "pipelined = wall time of those steps up to one ocla_finish; wall+wait = each step then ocla_finish (mean,\n"
           "median beside it); ovh = host overhead = wall per step - device time per step (pipelined; with a wait),\n"
           "\"-\" where the driver's events read 0 (the profile is then a host clock with a wait per kernel);\n"
           "floor = an empty kernel with the decode kernel's grid through plain OpenCL: the driver's own cost per\n"
           "launch; busy = a kernel of that grid spinning for about the prepared step's device time, through plain\n"
           "OpenCL: the driver's cost around a kernel that works; ocla's share of a row's overhead is that row's\n"
           "overhead minus the floors'.\n");
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f) {
            fprintf(stderr, "ocla-bench: cannot write %s\n", json_path);
            rc = 1;
        } else {
            fprintf(f, "{\n  \"what\": \"GLA decode step host overhead\", \"B\": %d, \"H\": %d, \"K\": %d, \"V\": %d,"
                       " \"gate\": \"vector\", \"form\": \"recurrent\", \"steps\": %d, \"repeats\": %d,"
                       " \"unit\": \"us per step\",\n  \"devices\": [\n",
                    DB, DH, DK, DV, steps, REPEATS);
            int first = 1;
            for (int i = 0; i < nidx; i++) {
                const dev_out *d = &devs[i];
                if (!d->ok) continue;
                fprintf(f, "%s    {\"name\": ", first ? "" : ",\n");
                first = 0;
                json_s(f, d->info.device_name);
                fprintf(f, ", \"platform\": ");
                json_s(f, d->info.platform_name);
                fprintf(f, ", \"driver\": ");
                json_s(f, d->info.driver_version);
                fprintf(f, ", \"timer\": \"%s\", \"plan\": ", d->info.profiling_works ? "events" : "host");
                json_s(f, d->plan);
                fprintf(f, ", \"results\": [");
                for (int a = 0; a < N_API; a++) {
                    const decode_result *r = &d->r[a];
                    fprintf(f, "%s\n      {\"api\": \"%s\", \"status\": ", a ? "," : "", r->api);
                    json_s(f, r->status);
                    if (!strcmp(r->status, "ok")) {
                        fprintf(f,
                                ", \"kernels_per_step\": %d, \"device_us\": %.3f, \"host_enqueue_us\": %.3f,"
                                " \"wall_pipelined_us\": %.3f, \"wall_wait_us\": %.3f, \"wall_wait_median_us\": %.3f",
                                r->kernels, r->device_us, r->enqueue_us, r->pipelined_us, r->wait_us,
                                r->wait_median_us);
                        if (d->info.profiling_works)
                            fprintf(f, ", \"overhead_pipelined_us\": %.3f, \"overhead_wait_us\": %.3f",
                                    r->pipelined_us - r->device_us, r->wait_us - r->device_us);
                        else /* device_us is a host clock there */
                            fprintf(f, ", \"overhead_pipelined_us\": null, \"overhead_wait_us\": null");
                    }
                    fprintf(f, "}");
                }
                fprintf(f, "]}");
            }
            fprintf(f, "\n  ]\n}\n");
            if (fclose(f)) rc = 1;
        }
    }
    free(devs);
    return rc;
}
