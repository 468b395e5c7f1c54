/* SPDX-License-Identifier: MIT */
/* Status names, OpenCL error names, the error detail kept per thread (and per context), and logging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAME(x) case x: return #x;
const char *ocla_status_string(ocla_status s) {
    switch (s) {
    NAME(OCLA_SUCCESS) NAME(OCLA_ERR_INVALID_ARGUMENT) NAME(OCLA_ERR_SHAPE) NAME(OCLA_ERR_OVERFLOW)
    NAME(OCLA_ERR_TOO_LARGE) NAME(OCLA_ERR_NO_DEVICE) NAME(OCLA_ERR_OPENCL) NAME(OCLA_ERR_BUILD)
    NAME(OCLA_ERR_OUT_OF_MEMORY) NAME(OCLA_ERR_UNSUPPORTED) NAME(OCLA_ERR_BLAS) NAME(OCLA_ERR_CACHE)
    NAME(OCLA_ERR_DEVICE_LOST) NAME(OCLA_ERR_INTERNAL)
    }
    return "OCLA_ERR_UNKNOWN_STATUS";
}

const char *ocla__cl_error_name(cl_int e) {
    switch (e) {
    NAME(CL_SUCCESS) NAME(CL_DEVICE_NOT_FOUND) NAME(CL_DEVICE_NOT_AVAILABLE) NAME(CL_COMPILER_NOT_AVAILABLE)
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE) NAME(CL_OUT_OF_RESOURCES) NAME(CL_OUT_OF_HOST_MEMORY)
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE) NAME(CL_MEM_COPY_OVERLAP) NAME(CL_IMAGE_FORMAT_MISMATCH)
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED) NAME(CL_BUILD_PROGRAM_FAILURE) NAME(CL_MAP_FAILURE)
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET) NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    NAME(CL_COMPILE_PROGRAM_FAILURE) NAME(CL_LINKER_NOT_AVAILABLE) NAME(CL_LINK_PROGRAM_FAILURE)
    NAME(CL_DEVICE_PARTITION_FAILED) NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) NAME(CL_INVALID_VALUE)
    NAME(CL_INVALID_DEVICE_TYPE) NAME(CL_INVALID_PLATFORM) NAME(CL_INVALID_DEVICE) NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES) NAME(CL_INVALID_COMMAND_QUEUE) NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT) NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) NAME(CL_INVALID_IMAGE_SIZE)
    NAME(CL_INVALID_SAMPLER) NAME(CL_INVALID_BINARY) NAME(CL_INVALID_BUILD_OPTIONS) NAME(CL_INVALID_PROGRAM)
    NAME(CL_INVALID_PROGRAM_EXECUTABLE) NAME(CL_INVALID_KERNEL_NAME) NAME(CL_INVALID_KERNEL_DEFINITION)
    NAME(CL_INVALID_KERNEL) NAME(CL_INVALID_ARG_INDEX) NAME(CL_INVALID_ARG_VALUE) NAME(CL_INVALID_ARG_SIZE)
    NAME(CL_INVALID_KERNEL_ARGS) NAME(CL_INVALID_WORK_DIMENSION) NAME(CL_INVALID_WORK_GROUP_SIZE)
    NAME(CL_INVALID_WORK_ITEM_SIZE) NAME(CL_INVALID_GLOBAL_OFFSET) NAME(CL_INVALID_EVENT_WAIT_LIST)
    NAME(CL_INVALID_EVENT) NAME(CL_INVALID_OPERATION) NAME(CL_INVALID_GL_OBJECT) NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL) NAME(CL_INVALID_GLOBAL_WORK_SIZE) NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR) NAME(CL_INVALID_COMPILER_OPTIONS) NAME(CL_INVALID_LINKER_OPTIONS)
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}
#undef NAME

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
