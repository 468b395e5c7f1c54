/* SPDX-License-Identifier: MIT */
/* Contexts: created from a selector or wrapping the application's OpenCL objects. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ocla_debug.h"

void ocla_context_options_defaults(ocla_context_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->cache_mode = OCLA_CACHE_AUTO;
    o->log_level = OCLA_LOG_WARN;
    const char *lv = ocla_getenv("OCLA_LOG");
    if (lv) {
        if (!strcmp(lv, "quiet") || !strcmp(lv, "error")) o->log_level = OCLA_LOG_ERROR;
        else if (!strcmp(lv, "info")) o->log_level = OCLA_LOG_INFO;
        else if (!strcmp(lv, "debug")) o->log_level = OCLA_LOG_DEBUG;
    }
}

/* The checks a context creation starts with: out, the handle named `missing` if one is NULL, then the
 * options (size field and values). *options is pointed at local: its checked copy, or the defaults. */
static ocla_status check_options(const char *fn, ocla_context **out, const char *missing,
                                 const ocla_context_options **options, ocla_context_options *local) {
    if (!out) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    if (missing) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, missing);
    const ocla_context_options *o = *options;
    OCLA__ABI_IN(NULL, fn, "options", OCLA__ABI_CONTEXT_OPTIONS, o, *local);
    if (!o) ocla_context_options_defaults(local);
    o = *options = local;
    if ((int)o->cache_mode < OCLA_CACHE_AUTO || (int)o->cache_mode > OCLA_CACHE_OFF)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "options.cache_mode %d is not an ocla_cache_mode",
                          (int)o->cache_mode);
    if ((int)o->log_level < OCLA_LOG_ERROR || (int)o->log_level > OCLA_LOG_DEBUG)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "options.log_level %d is not an ocla_log_level",
                          (int)o->log_level);
    return OCLA_SUCCESS;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Whether a file can be written in dir (and is removed again). */
static int probe_write(const char *dir) {
    size_t n = strlen(dir) + 64;
    char *probe = malloc(n);
    if (!probe) return 0;
    snprintf(probe, n, "%s/.probe", dir);
    int ok = ocla_write_file_atomic(probe, "ocla", 4) == 0;
    if (ok) remove(probe);
    free(probe);
    return ok;
}

/* Decide the disk cache directory; returns OCLA_ERR_CACHE only when the cache was required. */
static ocla_status setup_disk_cache(ocla_context *ctx, const ocla_context_options *o) {
    ctx->disk_cache = 0;
    const char *dir = o->cache_dir ? o->cache_dir : ocla_getenv("OCLA_CACHE_DIR");
    ocla_cache_mode mode = o->cache_mode;
    if (dir && !strcmp(dir, "off")) mode = OCLA_CACHE_OFF;
    if (mode == OCLA_CACHE_OFF) return OCLA_SUCCESS;
    if (mode == OCLA_CACHE_AUTO && ctx->info.vendor == OCLA_VENDOR_POCL) {
        /* PoCL keeps its own kernel cache (~/.cache/pocl); asking it for CL_PROGRAM_BINARIES makes
         * it build a second, generic binary (pyopencl#731). Its cache gives the warm start. */
        return OCLA_SUCCESS;
    }
    char *path = dir ? dup_string(dir) : ocla_default_cache_dir();
    if (!path) {
        if (mode == OCLA_CACHE_ON)
            return ocla__fail(ctx, OCLA_ERR_CACHE, "no cache directory: set OCLA_CACHE_DIR, XDG_CACHE_HOME or HOME");
        return OCLA_SUCCESS;
    }
    /* The directory must exist (or be creatable), belong to this user alone and accept a file:
     * whoever can write to it could make the driver load their binaries. */
    char problem[160] = "";
    const char *why = NULL;
    const int made = ocla_mkdir_p(path) == 0;
    if (made && ocla_dir_trusted(path, &why) != 0)
        snprintf(problem, sizeof problem, "is not trusted (%s)", why);
    else if (!made || !probe_write(path))
        snprintf(problem, sizeof problem, "is not writable");
    if (*problem) {
        ocla_status st = OCLA_SUCCESS;
        if (mode == OCLA_CACHE_ON)
            st = ocla__fail(ctx, OCLA_ERR_CACHE, "cache directory %s %s", path, problem);
        else
            ocla__log(ctx, OCLA_LOG_WARN, "cache directory %s %s: the disk cache is off", path, problem);
        free(path);
        return st;
    }
    ctx->cache_dir = path;
    ctx->disk_cache = 1;
    return OCLA_SUCCESS;
}

/* OCLA_CHUNK: unset or 0 = the scheduler picks; else a whole number in 1..OCLA_ENV_CHUNK_MAX (the widest
 * range of any op; each op's plan then checks its own). -1 = not such a number. */
#define OCLA_ENV_CHUNK_MAX 4096
static int parse_chunk(const char *s) {
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > OCLA_ENV_CHUNK_MAX || !isdigit((unsigned char)*s)) return -1;
    return (int)v;
}

static ocla_context *alloc_context(const ocla_context_options *o) {
    ocla_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    if (ocla_mutex_init(&ctx->lock) != 0) {
        free(ctx);
        return NULL;
    }
    ctx->log = o->log;
    ctx->log_user = o->log_user;
    ctx->log_level = o->log_level;
    const char *portable = ocla_getenv("OCLA_PORTABLE");
    ctx->portable_only = o->portable_kernels_only || (portable && strcmp(portable, "0") != 0);
    const char *tf32 = ocla_getenv("OCLA_ALLOW_TF32");
    ctx->allow_tf32 = o->allow_tf32 || (tf32 && strcmp(tf32, "0") != 0);
    ctx->env_chunk = parse_chunk(ocla_getenv("OCLA_CHUNK"));
    const char *nv = ocla_getenv("OCLA_NV_OPTIONS"); /* extra NVIDIA kernel options for experiments */
    if (nv) snprintf(ctx->nv_extra_options, sizeof ctx->nv_extra_options, "%s", nv);
    const char *cl = ocla_getenv("OCLA_CL_OPTIONS"); /* extra portable kernel options for experiments */
    if (cl) snprintf(ctx->cl_extra_options, sizeof ctx->cl_extra_options, "%s", cl);
    return ctx;
}

static ocla_status finish_create(ocla_context *ctx, const ocla_context_options *o) {
    if (ctx->env_chunk < 0) {
        const char *v = ocla_getenv("OCLA_CHUNK");
        return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT,
                          "OCLA_CHUNK=\"%.40s\" is not a chunk size: a whole number in 1..%d (0 or unset: the "
                          "scheduler picks)", v ? v : "", OCLA_ENV_CHUNK_MAX);
    }
    ocla_status st = setup_disk_cache(ctx, o);
    if (st != OCLA_SUCCESS) return st;
    /* fp16 loads and stores as integer operations (common.cl, OCLA_HALF_BITS) where vload_half /
     * vstore_half_rte are a scalar library routine per element (PoCL) and the load's multiply by
     * 2^112 keeps fp32 subnormals (an fp16 subnormal passes through one); elsewhere the builtins */
    cl_device_fp_config fp = 0;
    ctx->half_bits = ctx->info.is_cpu &&
                     clGetDeviceInfo(ctx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS &&
                     (fp & CL_FP_DENORM);
    ocla__log(ctx, OCLA_LOG_INFO, "using device %d: %s / %s (%s)%s", ctx->info.global_index, ctx->info.platform_name,
              ctx->info.device_name, ocla_vendor_name(ctx->info.vendor),
              ctx->disk_cache ? "" : ", disk cache off");
    return OCLA_SUCCESS;
}

ocla_status ocla_context_create(const ocla_context_options *options, ocla_context **out) {
    ocla_context_options local;
    ocla_status st = check_options("ocla_context_create", out, NULL, &options, &local);
    if (st != OCLA_SUCCESS) return st;
    ocla_context *ctx = alloc_context(options);
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "out of host memory creating a context");

    ocla_device_handle h;
    st = ocla__device_resolve(NULL, options->device, NULL, &h, &ctx->info);
    if (st != OCLA_SUCCESS) goto fail;
    ctx->device = h.device;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)h.platform, 0};
    ctx->cl = clCreateContext(props, 1, &h.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = ocla__cl_fail(NULL, err, "clCreateContext", ctx->info.device_name);
        goto fail;
    }
    ctx->profiling = options->profiling != 0;
    ctx->queue = clCreateCommandQueue(ctx->cl, h.device, ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        st = ocla__cl_fail(NULL, err, "clCreateCommandQueue", ctx->info.device_name);
        goto fail;
    }
    st = finish_create(ctx, options);
    if (st != OCLA_SUCCESS) {
        ocla__fail(NULL, st, "%s", ocla_last_error(ctx));
        goto fail;
    }
    *out = ctx;
    return OCLA_SUCCESS;
fail:
    ocla_context_destroy(ctx);
    return st;
}

ocla_status ocla_context_wrap(cl_context cl_ctx, cl_device_id device, cl_command_queue queue,
                              const ocla_context_options *options, ocla_context **out) {
    const char *missing = !cl_ctx ? "cl_ctx" : !device ? "device" : !queue ? "queue" : NULL;
    ocla_context_options local;
    ocla_status st = check_options("ocla_context_wrap", out, missing, &options, &local);
    if (st != OCLA_SUCCESS) return st;
    cl_platform_id platform;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(NULL, err, "clGetDeviceInfo(CL_DEVICE_PLATFORM)", "wrapping a device");
    cl_command_queue_properties qp = 0;
    err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL);
    if (err != CL_SUCCESS) return ocla__cl_fail(NULL, err, "clGetCommandQueueInfo", "wrapping a queue");
    if (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_context_wrap: the queue must be in-order");
    ocla_context *ctx = alloc_context(options);
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_OUT_OF_MEMORY, "out of host memory creating a context");
    ctx->device = device;
    ctx->cl = cl_ctx; /* retained for as long as the ocla context lives (OpenCL's convention) */
    ctx->queue = queue;
    clRetainContext(cl_ctx);
    clRetainCommandQueue(queue);
    ctx->profiling = (qp & CL_QUEUE_PROFILING_ENABLE) != 0;
    st = ocla__device_query(platform, device, &ctx->info);
    if (st == OCLA_SUCCESS && (st = finish_create(ctx, options)) != OCLA_SUCCESS)
        ocla__fail(NULL, st, "%s", ocla_last_error(ctx)); /* the detail outlives ctx */
    if (st != OCLA_SUCCESS) {
        ocla_context_destroy(ctx);
        return st;
    }
    *out = ctx;
    return OCLA_SUCCESS;
}

void ocla_context_destroy(ocla_context *ctx) {
    if (!ctx) return;
    OCLA_LOCK(ctx);
    if (ctx->queue) clFinish(ctx->queue);
    ocla__attn_cache_release(ctx);
    ocla__blas_release(ctx);
    ocla__program_cache_release(ctx);
    for (int i = 0; i < OCLA_SCRATCH_SLOTS; i++)
        if (ctx->scratch[i]) clReleaseMemObject(ctx->scratch[i]);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue); /* ours, or the application's we retained */
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx->cache_dir);
    free(ctx->error);
    OCLA_UNLOCK(ctx);
    ocla_mutex_destroy(&ctx->lock);
    ocla__forget_thread_error(ctx);
    free(ctx);
}

ocla_status ocla_context_device_info(const ocla_context *ctx, ocla_device_info *info) {
    if (!ctx || !info) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_context_device_info: NULL argument");
    *info = ctx->info;
    return OCLA_SUCCESS;
}

cl_command_queue ocla_context_queue(const ocla_context *ctx) { return ctx ? ctx->queue : NULL; }
cl_context ocla_context_cl(const ocla_context *ctx) { return ctx ? ctx->cl : NULL; }

ocla_status ocla_finish(ocla_context *ctx) {
    if (!ctx) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_finish: ctx is NULL");
    OCLA_LOCK(ctx);
    cl_int err = clFinish(ctx->queue);
    ocla_status st = err == CL_SUCCESS ? OCLA_SUCCESS : ocla__cl_fail(ctx, err, "clFinish", NULL);
    OCLA_UNLOCK(ctx);
    return st;
}

void ocla_debug_inject_enqueue_failure(ocla_context *ctx, long nth) {
    if (!ctx) return;
    OCLA_LOCK(ctx);
    ctx->inject_enqueue_failure = nth;
    OCLA_UNLOCK(ctx);
}

void ocla_debug_simulate_device_lost(ocla_context *ctx, int lost) {
    if (!ctx) return;
    OCLA_LOCK(ctx);
    ctx->simulate_device_lost = lost;
    OCLA_UNLOCK(ctx);
}
