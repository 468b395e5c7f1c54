/* SPDX-License-Identifier: MIT */
/* Status names, OpenCL error names, the error detail kept per thread (and per context), and logging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define N(x) case x: return #x;
const char *ocla_status_string(ocla_status s) {
    switch (s) {
    N(OCLA_SUCCESS) N(OCLA_ERR_INVALID_ARGUMENT) N(OCLA_ERR_SHAPE) N(OCLA_ERR_OVERFLOW)
    N(OCLA_ERR_TOO_LARGE) N(OCLA_ERR_NO_DEVICE) N(OCLA_ERR_OPENCL) N(OCLA_ERR_BUILD)
    N(OCLA_ERR_OUT_OF_MEMORY) N(OCLA_ERR_UNSUPPORTED) N(OCLA_ERR_BLAS) N(OCLA_ERR_CACHE)
    N(OCLA_ERR_DEVICE_LOST) N(OCLA_ERR_INTERNAL)
    }
    return "OCLA_ERR_UNKNOWN_STATUS";
}

const char *ocla__cl_error_name(cl_int e) {
    switch (e) {
    N(CL_SUCCESS) N(CL_DEVICE_NOT_FOUND) N(CL_DEVICE_NOT_AVAILABLE) N(CL_COMPILER_NOT_AVAILABLE)
    N(CL_MEM_OBJECT_ALLOCATION_FAILURE) N(CL_OUT_OF_RESOURCES) N(CL_OUT_OF_HOST_MEMORY)
    N(CL_PROFILING_INFO_NOT_AVAILABLE) N(CL_MEM_COPY_OVERLAP) N(CL_IMAGE_FORMAT_MISMATCH)
    N(CL_IMAGE_FORMAT_NOT_SUPPORTED) N(CL_BUILD_PROGRAM_FAILURE) N(CL_MAP_FAILURE)
    N(CL_MISALIGNED_SUB_BUFFER_OFFSET) N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    N(CL_COMPILE_PROGRAM_FAILURE) N(CL_LINKER_NOT_AVAILABLE) N(CL_LINK_PROGRAM_FAILURE)
    N(CL_DEVICE_PARTITION_FAILED) N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) N(CL_INVALID_VALUE)
    N(CL_INVALID_DEVICE_TYPE) N(CL_INVALID_PLATFORM) N(CL_INVALID_DEVICE) N(CL_INVALID_CONTEXT)
    N(CL_INVALID_QUEUE_PROPERTIES) N(CL_INVALID_COMMAND_QUEUE) N(CL_INVALID_HOST_PTR)
    N(CL_INVALID_MEM_OBJECT) N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) N(CL_INVALID_IMAGE_SIZE)
    N(CL_INVALID_SAMPLER) N(CL_INVALID_BINARY) N(CL_INVALID_BUILD_OPTIONS) N(CL_INVALID_PROGRAM)
    N(CL_INVALID_PROGRAM_EXECUTABLE) N(CL_INVALID_KERNEL_NAME) N(CL_INVALID_KERNEL_DEFINITION)
    N(CL_INVALID_KERNEL) N(CL_INVALID_ARG_INDEX) N(CL_INVALID_ARG_VALUE) N(CL_INVALID_ARG_SIZE)
    N(CL_INVALID_KERNEL_ARGS) N(CL_INVALID_WORK_DIMENSION) N(CL_INVALID_WORK_GROUP_SIZE)
    N(CL_INVALID_WORK_ITEM_SIZE) N(CL_INVALID_GLOBAL_OFFSET) N(CL_INVALID_EVENT_WAIT_LIST)
    N(CL_INVALID_EVENT) N(CL_INVALID_OPERATION) N(CL_INVALID_GL_OBJECT) N(CL_INVALID_BUFFER_SIZE)
    N(CL_INVALID_MIP_LEVEL) N(CL_INVALID_GLOBAL_WORK_SIZE) N(CL_INVALID_PROPERTY)
    N(CL_INVALID_IMAGE_DESCRIPTOR) N(CL_INVALID_COMPILER_OPTIONS) N(CL_INVALID_LINKER_OPTIONS)
    N(CL_INVALID_DEVICE_PARTITION_COUNT)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}
#undef N

/* Status for an OpenCL error code (allocation failures map to OUT_OF_MEMORY, etc.). */
static ocla_status status_from_cl(cl_int e) {
    switch (e) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_OUT_OF_HOST_MEMORY: return OCLA_ERR_OUT_OF_MEMORY;
    case CL_INVALID_BUFFER_SIZE: return OCLA_ERR_TOO_LARGE;
    case CL_BUILD_PROGRAM_FAILURE:
    case CL_COMPILE_PROGRAM_FAILURE:
    case CL_LINK_PROGRAM_FAILURE: return OCLA_ERR_BUILD;
    case CL_DEVICE_NOT_AVAILABLE:
    case CL_DEVICE_NOT_FOUND: return OCLA_ERR_DEVICE_LOST;
    default: return OCLA_ERR_OPENCL;
    }
}

/* Error detail. Each thread keeps the detail of its own last failure (and the context it was on),
 * so ocla_last_error(ctx) returns this thread's failure even while other threads share ctx and fail
 * too. The context also keeps its last failure from any thread (ctx->error, under its lock), which
 * a thread whose own last failure was elsewhere gets a copy of. Failures without a context are kept
 * per thread apart. */
#define THREAD_ERROR_SIZE 16384
static OCLA_THREAD_LOCAL struct {
    const ocla_context *ctx; /* the context of text's failure */
    int valid;
    char text[THREAD_ERROR_SIZE];
} t_err;
static OCLA_THREAD_LOCAL char t_err_no_ctx[4096]; /* this thread's last failure without a context */

static void set_thread_error(const ocla_context *ctx, const char *text) {
    static const char cut[] = "\n(truncated: the whole detail is longer)";
    size_t n = strlen(text);
    if (n >= THREAD_ERROR_SIZE) {
        memcpy(t_err.text, text, THREAD_ERROR_SIZE - sizeof cut);
        memcpy(t_err.text + THREAD_ERROR_SIZE - sizeof cut, cut, sizeof cut);
    } else
        memcpy(t_err.text, text, n + 1);
    t_err.ctx = ctx;
    t_err.valid = 1;
}

static void set_error(ocla_context *ctx, const char *text) {
    if (!ctx) {
        snprintf(t_err_no_ctx, sizeof t_err_no_ctx, "%s", text);
        return;
    }
    set_thread_error(ctx, text);
    OCLA_LOCK(ctx);
    size_t n = strlen(text) + 1;
    if (n > ctx->error_cap) {
        char *p = realloc(ctx->error, n);
        if (p) {
            ctx->error = p;
            ctx->error_cap = n;
        } else /* keep what fits: the status still tells the story */
            n = ctx->error_cap;
    }
    if (n) {
        memcpy(ctx->error, text, n - 1);
        ctx->error[n - 1] = 0;
    }
    OCLA_UNLOCK(ctx);
}

void ocla__error_append(ocla_context *ctx, const char *text) {
    const char *cur = ocla_last_error(ctx);
    size_t a = strlen(cur), b = strlen(text);
    char *buf = malloc(a + b + 1);
    if (!buf) return;
    memcpy(buf, cur, a);
    memcpy(buf + a, text, b + 1);
    set_error(ctx, buf);
    free(buf);
}

void ocla__clear_error(ocla_context *ctx) { set_error(ctx, ""); }

void ocla__forget_thread_error(const ocla_context *ctx) {
    if (t_err.ctx == ctx) t_err.valid = 0;
}

ocla_status ocla__fail(ocla_context *ctx, ocla_status st, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    set_error(ctx, buf);
    if (ctx) ocla__log(ctx, OCLA_LOG_DEBUG, "%s: %s", ocla_status_string(st), buf);
    return st;
}

ocla_status ocla__cl_fail(ocla_context *ctx, cl_int err, const char *call, const char *what) {
    return ocla__fail(ctx, status_from_cl(err), "%s failed: %s (%d)%s%s", call, ocla__cl_error_name(err),
                      (int)err, what ? " while " : "", what ? what : "");
}

const char *ocla_last_error(const ocla_context *ctx) {
    if (!ctx) return t_err_no_ctx;
    if (t_err.valid && t_err.ctx == ctx) return t_err.text;
    ocla_context *c = (ocla_context *)(uintptr_t)ctx; /* the lock is not part of the context's value */
    OCLA_LOCK(c);
    set_thread_error(ctx, ctx->error ? ctx->error : "");
    OCLA_UNLOCK(c);
    return t_err.text;
}

static const char *const level_names[] = {"error", "warning", "info", "debug"}; /* by ocla_log_level */

void ocla__log(ocla_context *ctx, ocla_log_level level, const char *fmt, ...) {
    if (!ctx || level > ctx->log_level) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx->log)
        ctx->log(level, buf, ctx->log_user);
    else
        fprintf(stderr, "ocla %s: %s\n", level_names[level], buf); /* stderr only, never stdout */
}
