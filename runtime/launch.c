/* SPDX-License-Identifier: MIT */
/* Kernel arguments, launches with limit checks, profiling, and device memory helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool ocla__mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool ocla__add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

ocla_status ocla__query_kernel(ocla_context *ctx, cl_kernel k, const char *what, uint64_t *wg_size,
                               uint64_t *local_mem) {
    size_t wg = 0;
    cl_ulong lm = 0;
    cl_int err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE)", what);
    err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clGetKernelWorkGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE)", what);
    if (wg_size) *wg_size = wg;
    if (local_mem) *local_mem = lm;
    return OCLA_SUCCESS;
}

void ocla__args_push(ocla_args *a, size_t size, const void *value) {
    cl_int err = a->st == OCLA_SUCCESS ? clSetKernelArg(a->k, a->i, size, value) : CL_SUCCESS;
    if (err != CL_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "setting kernel argument %u", (unsigned)a->i);
        a->st = ocla__cl_fail(a->ctx, err, "clSetKernelArg", what);
    }
    a->i++;
}

void ocla__push_int(ocla_args *a, int64_t x) { ocla__args_push(a, sizeof(cl_int), &(cl_int){(cl_int)x}); }
void ocla__push_long(ocla_args *a, int64_t x) { ocla__args_push(a, sizeof(cl_long), &(cl_long){(cl_long)x}); }
void ocla__push_float(ocla_args *a, float x) { ocla__args_push(a, sizeof(cl_float), &(cl_float){x}); }
void ocla__push_mem(ocla_args *a, cl_mem m) { ocla__args_push(a, sizeof m, &m); }
void ocla__push_local(ocla_args *a, uint64_t bytes) { ocla__args_push(a, (size_t)(bytes ? bytes : 4), NULL); }
void ocla__push_tensor(ocla_args *a, const ocla_tensor *t, cl_mem absent, int nstrides) {
    ocla__push_mem(a, t ? t->mem : absent);
    ocla__push_long(a, t ? (int64_t)t->offset : 0);
    for (int d = 0; d < nstrides; d++) ocla__push_long(a, t ? t->strides[d] : 0);
}

ocla_status ocla__kernel_limits(ocla_context *ctx, cl_kernel k, uint64_t *wg_size, uint64_t *local_mem) {
    for (size_t i = 0; i < ctx->n_kernels; i++)
        if (ctx->kernels[i].kernel == k) {
            if (wg_size) *wg_size = ctx->kernels[i].wg_size;
            if (local_mem) *local_mem = ctx->kernels[i].static_local;
            return OCLA_SUCCESS;
        }
    return ocla__query_kernel(ctx, k, NULL, wg_size, local_mem); /* a kernel ocla did not create */
}

ocla_status ocla__pre_enqueue(ocla_context *ctx, const char *call, const char *what) {
    if (ctx->simulate_device_lost)
        return ocla__fail(ctx, OCLA_ERR_DEVICE_LOST, "the device is no longer available (simulated) while %s", what);
    if (ctx->inject_enqueue_failure > 0 && --ctx->inject_enqueue_failure == 0)
        return ocla__cl_fail(ctx, CL_OUT_OF_RESOURCES, call, what);
    return OCLA_SUCCESS;
}

static void add_item(ocla_context *ctx, const char *what, double ms) {
    for (int i = 0; i < ctx->prof_n_items; i++)
        if (!strcmp(ctx->prof_items[i].what, what)) {
            ctx->prof_items[i].ms += ms;
            return;
        }
    if (ctx->prof_n_items < (int)(sizeof ctx->prof_items / sizeof ctx->prof_items[0])) {
        snprintf(ctx->prof_items[ctx->prof_n_items].what, sizeof ctx->prof_items[0].what, "%s", what);
        ctx->prof_items[ctx->prof_n_items++].ms = ms;
    }
}

void ocla__profile_event(ocla_context *ctx, cl_event ev, const char *what) {
    if (!ev) return;
    cl_ulong t0 = 0, t1 = 0;
    if (ctx->prof_active && ctx->profiling) {
        const int done = clWaitForEvents(1, &ev) == CL_SUCCESS;
        const double now = ocla_now_seconds();
        if (done && !ctx->prof_events_zero &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS && t1 > t0) {
            ctx->prof_ms += (double)(t1 - t0) * 1e-6;
            add_item(ctx, what ? what : "?", (double)(t1 - t0) * 1e-6);
        } else {
            ctx->prof_events_zero = 1;
            /* the host clock from the previous wait (or the profile's start) to this one: each command
             * is waited for as it is enqueued, so this is its enqueue and run (rusticl's events read 0,
             * or 1 ns apart) */
            if (done) add_item(ctx, what ? what : "?", (now - ctx->prof_host_last) * 1e3);
        }
        ctx->prof_host_last = now;
    }
    if (ctx->prof_active) ctx->prof_kernels++;
    clReleaseEvent(ev);
}

/* A call of another library that may enqueue several commands but hands back the event of its last
 * only (CLBlast's indirect GEMM: pad/transpose kernels for A and B, the main kernel, then C's copy
 * back; the returned event is the copy's). While a profile is open and the events work, a marker
 * gated by a user event goes first: every command of the call queues behind it, the gate opens once
 * the call has enqueued them all, so the marker's end is where the call's work can start, and the
 * time from it to the last command's end covers all of the call (its commands and the gaps between
 * them), not the host's time to enqueue them. */
void ocla__profile_span_begin(ocla_context *ctx, ocla__span *s) {
    s->gate = NULL, s->marker = NULL;
    if (!ctx->prof_active || !ctx->profiling || ctx->prof_events_zero) return;
    cl_int err;
    s->gate = clCreateUserEvent(ctx->cl, &err);
    if (err != CL_SUCCESS) {
        s->gate = NULL;
        return;
    }
    if (clEnqueueMarkerWithWaitList(ctx->queue, 1, &s->gate, &s->marker) != CL_SUCCESS) s->marker = NULL;
}

void ocla__profile_span_end(ocla_context *ctx, ocla__span *s, cl_event last, const char *what) {
    if (s->gate) {
        clSetUserEventStatus(s->gate, CL_COMPLETE);
        clReleaseEvent(s->gate);
    }
    cl_ulong m1 = 0, t1 = 0;
    if (s->marker && last && ctx->prof_active && clWaitForEvents(1, &last) == CL_SUCCESS &&
        clGetEventProfilingInfo(s->marker, CL_PROFILING_COMMAND_END, sizeof m1, &m1, NULL) == CL_SUCCESS &&
        clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS && t1 > m1 &&
        m1 > 0) {
        ctx->prof_ms += (double)(t1 - m1) * 1e-6;
        add_item(ctx, what ? what : "?", (double)(t1 - m1) * 1e-6);
        ctx->prof_kernels++;
        clReleaseEvent(last);
    } else if (last) {
        ocla__profile_event(ctx, last, what); /* no marker (or it has no times): the last command's own */
    }
    if (s->marker) clReleaseEvent(s->marker);
    s->gate = NULL, s->marker = NULL;
}

/* Local sizes against the device and the kernel's current limits (local memory counts the
 * __local arguments set now). */
ocla_status ocla__check_launch(ocla_context *ctx, cl_kernel k, cl_uint dims, const size_t *local, const char *what) {
    if (dims < 1 || dims > 3) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: bad launch dimensions %u", what, dims);
    if (!local) return OCLA_SUCCESS;
    size_t total = 1;
    for (cl_uint i = 0; i < dims; i++) {
        if (local[i] == 0) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: zero local size", what);
        if (local[i] > ctx->info.max_work_item_sizes[i])
            return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "%s: local size %zu in dimension %u exceeds the device's %llu",
                              what, local[i], i, (unsigned long long)ctx->info.max_work_item_sizes[i]);
        total *= local[i];
    }
    uint64_t kwg = 0, klm = 0;
    ocla_status st = ocla__query_kernel(ctx, k, what, &kwg, &klm);
    if (st != OCLA_SUCCESS) return st;
    if (total > kwg || total > ctx->info.max_work_group_size)
        return ocla__fail(ctx, OCLA_ERR_UNSUPPORTED, "%s: work-group of %zu exceeds the kernel's limit %llu (device %llu) on %s",
                          what, total, (unsigned long long)kwg, (unsigned long long)ctx->info.max_work_group_size,
                          ctx->info.device_name);
    if (klm > ctx->info.local_mem_size)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE, "%s: kernel needs %llu bytes of local memory, device has %llu", what,
                          (unsigned long long)klm, (unsigned long long)ctx->info.local_mem_size);
    return OCLA_SUCCESS;
}

ocla_status ocla__enqueue(ocla_context *ctx, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                          const char *what) {
    size_t g[3];
    for (cl_uint i = 0; i < dims; i++) {
        if (global[i] == 0) return OCLA_SUCCESS; /* nothing to do */
        const size_t l = local ? local[i] : 1;
        g[i] = (global[i] + l - 1) / l * l;
    }
    ocla_status st = ocla__pre_enqueue(ctx, "clEnqueueNDRangeKernel (injected)", what);
    if (st != OCLA_SUCCESS) return st;
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, local, 0, NULL, ctx->prof_active ? &ev : NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clEnqueueNDRangeKernel", what);
    if (ev) ocla__profile_event(ctx, ev, what);
    return OCLA_SUCCESS;
}

ocla_status ocla__launch(ocla_context *ctx, cl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                         const char *what) {
    if (dims < 1 || dims > 3) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "%s: bad launch dimensions %u", what, dims);
    for (cl_uint i = 0; i < dims; i++)
        if (global[i] == 0) return OCLA_SUCCESS; /* nothing to do */
    ocla_status st = ocla__check_launch(ctx, k, dims, local, what);
    return st != OCLA_SUCCESS ? st : ocla__enqueue(ctx, k, dims, global, local, what);
}

ocla_status ocla_profile_begin(ocla_context *ctx) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_profile_begin: ctx is NULL");
    OCLA_LOCK(ctx);
    cl_int err = clFinish(ctx->queue);
    ctx->prof_active = 1;
    ctx->prof_ms = 0;
    ctx->prof_kernels = 0;
    ctx->prof_n_items = 0;
    ctx->prof_events_zero = !ctx->profiling || !ctx->info.profiling_works;
    ctx->prof_host_start = ctx->prof_host_last = ocla_now_seconds();
    OCLA_UNLOCK(ctx);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clFinish", "starting a profile");
}

ocla_status ocla_profile_end(ocla_context *ctx, double *ms, int *kernels) {
    if (!ctx || !ms) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_profile_end: NULL argument");
    OCLA_LOCK(ctx);
    cl_int err = clFinish(ctx->queue);
    double host_ms = (ocla_now_seconds() - ctx->prof_host_start) * 1e3;
    /* Device time from events where they work; host wall clock where the driver reads 0. */
    *ms = ctx->prof_events_zero ? host_ms : ctx->prof_ms;
    if (kernels) *kernels = ctx->prof_kernels;
    ctx->prof_active = 0;
    OCLA_UNLOCK(ctx);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clFinish", "ending a profile");
}

ocla_status ocla_profile_detail(const ocla_context *ctx, char *text, size_t size) {
    if (!ctx || !text || size == 0) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_profile_detail: NULL argument");
    size_t off = 0;
    text[0] = 0;
    for (int i = 0; i < ctx->prof_n_items && off < size; i++) {
        int n = snprintf(text + off, size - off, "%s%s %.4f ms", i ? "; " : "", ctx->prof_items[i].what,
                         ctx->prof_items[i].ms);
        if (n < 0) break;
        off += (size_t)n;
    }
    return OCLA_SUCCESS;
}

ocla_status ocla__alloc(ocla_context *ctx, size_t bytes, cl_mem *out, const char *what) {
    *out = NULL;
    if (bytes == 0) bytes = 4; /* OpenCL refuses empty buffers; keep a valid handle */
    if (bytes > ctx->info.max_alloc_size)
        return ocla__fail(ctx, OCLA_ERR_TOO_LARGE,
                          "%s: %zu bytes exceed the device's largest allocation CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu",
                          what, bytes, (unsigned long long)ctx->info.max_alloc_size);
    if (ctx->simulate_device_lost)
        return ocla__fail(ctx, OCLA_ERR_DEVICE_LOST, "the device is no longer available (simulated) while %s", what);
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clCreateBuffer", what);
    ctx->counters.buffers++;
    *out = m;
    return OCLA_SUCCESS;
}

ocla_status ocla__fill_zero(ocla_context *ctx, cl_mem mem, size_t offset_bytes, size_t bytes) {
    if (bytes == 0) return OCLA_SUCCESS;
    ocla_status st = ocla__pre_enqueue(ctx, "clEnqueueFillBuffer (injected)", "zero-filling a buffer");
    if (st != OCLA_SUCCESS) return st;
    float zero = 0.0f;
    size_t pattern = (offset_bytes % 4 == 0 && bytes % 4 == 0) ? 4 : 1;
    cl_int err = clEnqueueFillBuffer(ctx->queue, mem, &zero, pattern, offset_bytes, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clEnqueueFillBuffer", "zero-filling a buffer");
}

ocla_status ocla__scratch(ocla_context *ctx, int slot, size_t bytes, cl_mem *out) {
    if (slot < 0 || slot >= OCLA_SCRATCH_SLOTS) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "bad scratch slot %d", slot);
    if (bytes == 0) bytes = 4;
    if (!ctx->scratch[slot] || ctx->scratch_size[slot] < bytes) {
        cl_mem m;
        ocla_status st = ocla__alloc(ctx, bytes, &m, "allocating scratch memory");
        if (st != OCLA_SUCCESS) return st;
        if (ctx->scratch[slot]) {
            clFinish(ctx->queue); /* queued kernels may still read the old buffer */
            clReleaseMemObject(ctx->scratch[slot]);
        }
        ctx->scratch[slot] = m;
        ctx->scratch_size[slot] = bytes;
    }
    *out = ctx->scratch[slot];
    return OCLA_SUCCESS;
}
