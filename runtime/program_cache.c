/* SPDX-License-Identifier: MIT */
/* Program variants (embedded source + build options): built once per context, kept in memory, and
 * kept on disk as device binaries keyed by a hash of everything that can change the binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const ocla_embedded_source *find_source(const char *name) {
    for (size_t i = 0; i < ocla_embedded_source_count; i++)
        if (!strcmp(ocla_embedded_sources[i].name, name)) return &ocla_embedded_sources[i];
    return NULL;
}

/* Program key = SHA-256(source digest, options, device, driver, format). The source digest covers
 * common.cl + the source text (or a test's own text) and is computed once per source per context. */
static void make_key(const ocla_context *ctx, const uint8_t digest[32], const char *options, uint8_t key[32]) {
    char fmt[32];
    snprintf(fmt, sizeof fmt, "ocla-format=%u", OCLA_CACHE_FORMAT);
    const char *parts[] = {options, ctx->info.device_name, ctx->info.driver_version, ctx->info.device_version,
                           ctx->info.platform_name, ctx->info.platform_version, fmt};
    ocla_sha256 s;
    ocla__sha256_init(&s);
    ocla__sha256_update(&s, digest, 32);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ocla__sha256_update(&s, parts[i], strlen(parts[i]) + 1); /* with the terminator: a separator */
    ocla__sha256_final(&s, key);
}

static char *cache_path(const ocla_context *ctx, const uint8_t key[32]) {
    size_t n = strlen(ctx->cache_dir) + 80;
    char *p = malloc(n);
    if (!p) return NULL;
    int off = snprintf(p, n, "%s/", ctx->cache_dir);
    for (int i = 0; i < 32; i++) off += snprintf(p + off, n - (size_t)off, "%02x", key[i]);
    snprintf(p + off, n - (size_t)off, ".oclabin");
    return p;
}

static ocla_status build_failed(ocla_context *ctx, cl_program prog, cl_int err, const char *options) {
    size_t log_size = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size) == CL_SUCCESS &&
        log_size > 0 && (log = malloc(log_size + 1)) != NULL) {
        if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL) != CL_SUCCESS)
            log[0] = 0;
        log[log_size] = 0;
    }
    ocla__fail(ctx, OCLA_ERR_BUILD, "clBuildProgram failed: %s (%d) on %s with options \"%s\"; build log:\n",
               ocla__cl_error_name(err), (int)err, ctx->info.device_name, options ? options : "");
    ocla__error_append(ctx, log && *log ? log : "(the driver gave no build log)");
    free(log);
    return OCLA_ERR_BUILD;
}

/* Try the disk cache; returns a built program or NULL. */
static cl_program load_from_disk(ocla_context *ctx, const uint8_t key[32], const char *options) {
    char *path = cache_path(ctx, key);
    void *data = NULL;
    size_t size = 0, n;
    const void *payload;
    cl_program prog = NULL;
    if (!path || ocla_read_file(path, &data, &size) != 0) goto done; /* a miss, not an error */
    int why = ocla__cache_decode(data, size, key, &payload, &n);
    if (why != 0) {
        ocla__log(ctx, OCLA_LOG_INFO, "ignoring cache file %s (reason %d: corrupt, truncated or foreign); rebuilding",
                  path, why);
    } else {
        cl_int err, bin_status = CL_SUCCESS;
        const unsigned char *bins[1] = {payload};
        prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &n, bins, &bin_status, &err);
        if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
            err = clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
        if ((err != CL_SUCCESS || bin_status != CL_SUCCESS) && prog) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    if (prog)
        ctx->stats.disk_hits++;
    else
        ctx->stats.disk_rejects++;
done:
    free(data);
    free(path);
    return prog;
}

static void save_to_disk(ocla_context *ctx, cl_program prog, const uint8_t key[32]) {
    size_t bin_size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, NULL) != CL_SUCCESS ||
        bin_size == 0)
        return; /* the driver keeps no binary: nothing to cache */
    unsigned char *bin = malloc(bin_size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    void *file = NULL;
    size_t file_size = 0;
    char *path = NULL;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) goto done;
    if (ocla__cache_encode(key, bin, bin_size, &file, &file_size) != OCLA_SUCCESS) goto done;
    path = cache_path(ctx, key);
    if (!path) goto done;
    if (ocla_write_file_atomic(path, file, file_size) == 0)
        ctx->stats.disk_writes++;
    else
        ocla__log(ctx, OCLA_LOG_WARN, "could not write the program cache file %s (disk full or unwritable?)", path);
done:
    free(path);
    free(file);
    free(bin);
}

/* Room for one more element in a cache array; arr points to the array's pointer (T **), which is
 * read and written by memcpy so any element type goes. First capacity `first`, then doubling. */
static ocla_status grow(ocla_context *ctx, void *arr, size_t *cap, size_t n, size_t elem, size_t first,
                        const char *what) {
    if (n < *cap) return OCLA_SUCCESS;
    size_t c = *cap ? 2 * *cap : first;
    void *old, *p;
    memcpy(&old, arr, sizeof old);
    p = realloc(old, c * elem);
    ctx->counters.cache_allocs++;
    if (!p) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory growing the %s", what);
    memcpy(arr, &p, sizeof p);
    *cap = c;
    return OCLA_SUCCESS;
}

/* The digest of text: kept per context for an embedded source, computed each time for a test's own
 * text (src NULL). */
static ocla_status source_digest(ocla_context *ctx, const ocla_embedded_source *src, const char *text, size_t len,
                                 uint8_t digest[32]) {
    for (size_t i = 0; src && i < ctx->n_src_hash; i++)
        if (ctx->src_hash[i].src == src) {
            memcpy(digest, ctx->src_hash[i].digest, 32);
            return OCLA_SUCCESS;
        }
    ocla__sha256(text, len, digest);
    ctx->counters.source_hashes++;
    if (!src) return OCLA_SUCCESS;
    ocla_status st = grow(ctx, &ctx->src_hash, &ctx->cap_src_hash, ctx->n_src_hash, sizeof *ctx->src_hash, 16,
                          "source hash table");
    if (st != OCLA_SUCCESS) return st;
    ctx->src_hash[ctx->n_src_hash].src = src;
    memcpy(ctx->src_hash[ctx->n_src_hash++].digest, digest, 32);
    return OCLA_SUCCESS;
}

/* s with every a replaced by b (a new string; NULL when out of memory) */
static char *replace_all(const char *s, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), n = 0;
    for (const char *p = s; (p = strstr(p, a)) != NULL; p += la) n++;
    char *o = malloc(strlen(s) + n * lb + 1), *q = o;
    if (!o) return NULL;
    const char *p = s, *h;
    while ((h = strstr(p, a)) != NULL) {
        memcpy(q, p, (size_t)(h - p)), q += h - p;
        memcpy(q, b, lb), q += lb;
        p = h + la;
    }
    strcpy(q, p);
    return o;
}

/* Programs with sm_90a instructions (kernels_cl/attn_fused_nv.cl, WG): NVIDIA's OpenCL compiler writes
 * PTX for ".target sm_90", where ptxas refuses Hopper's warpgroup products, so the kernels write each
 * such instruction as a PTX comment marked "// SM90A ". ocla__sm90a_ptx: ptx with the marks removed
 * and ".target sm_90a" (1, *out a new string), or 0 where ptx holds no marks or targets another
 * architecture, -1 when out of memory. */
int ocla__sm90a_ptx(const char *ptx, char **out) {
    *out = NULL;
    if (!strstr(ptx, "// SM90A ") || !strstr(ptx, ".target sm_90,")) return 0;
    char *t = replace_all(ptx, "// SM90A ", "");
    *out = t ? replace_all(t, ".target sm_90,", ".target sm_90a,") : NULL;
    free(t);
    return *out ? 1 : -1;
}

/* Where *prog's PTX holds marks and targets sm_90, it is built again from its sm_90a text (the binary the
 * disk cache then keeps). A device whose PTX targets another architecture keeps the program as built
 * (its marked instructions left out: the probe, attention_nv.c, finds them missing). */
static ocla_status sm90a_rebuild(ocla_context *ctx, cl_program *prog, const char *options) {
    size_t size = 0;
    if (clGetProgramInfo(*prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || !size)
        return OCLA_SUCCESS;
    char *ptx = calloc(size + 1, 1), *t2 = NULL;
    ocla_status st = OCLA_SUCCESS;
    if (!ptx || clGetProgramInfo(*prog, CL_PROGRAM_BINARIES, sizeof ptx, &ptx, NULL) != CL_SUCCESS) goto done;
    const int patched = ocla__sm90a_ptx(ptx, &t2);
    if (patched < 0) st = ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "sm_90a PTX: host memory");
    if (patched <= 0) goto done;
    size_t n = strlen(t2) + 1;
    const unsigned char *bins[1] = {(const unsigned char *)t2};
    cl_int err, bin_status = CL_SUCCESS;
    cl_program p2 = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &n, bins, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status != CL_SUCCESS) err = bin_status;
    if (err == CL_SUCCESS) err = clBuildProgram(p2, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = p2 ? build_failed(ctx, p2, err, options) : ocla__cl_fail(ctx, err, "clCreateProgramWithBinary", "sm_90a PTX");
        if (p2) clReleaseProgram(p2);
        goto done;
    }
    clReleaseProgram(*prog);
    *prog = p2;
done:
    free(ptx), free(t2);
    return st;
}

/* The program of text (common.cl + the embedded source src, or a test's own text) with options: from
 * the memory cache, the disk cache or a build. */
static ocla_status get_program(ocla_context *ctx, const ocla_embedded_source *src, const char *text, size_t len,
                               const char *options, cl_program *out) {
    *out = NULL;
    if (!options) options = "";
    uint8_t digest[32], key[32];
    ocla_status st = source_digest(ctx, src, text, len, digest);
    if (st != OCLA_SUCCESS) return st;
    make_key(ctx, digest, options, key);
    for (size_t i = 0; i < ctx->n_programs; i++)
        if (!memcmp(ctx->programs[i].key, key, 32)) {
            ctx->stats.memory_hits++;
            *out = ctx->programs[i].program;
            return OCLA_SUCCESS;
        }
    st = grow(ctx, &ctx->programs, &ctx->cap_programs, ctx->n_programs, sizeof *ctx->programs, 16, "program cache");
    if (st != OCLA_SUCCESS) return st;
    if (ctx->simulate_device_lost)
        return ocla__fail(ctx, OCLA_ERR_DEVICE_LOST, "the device is no longer available (simulated)");

    cl_program prog = ctx->disk_cache ? load_from_disk(ctx, key, options) : NULL;
    if (!prog) {
        cl_int err;
        prog = clCreateProgramWithSource(ctx->cl, 1, &text, &len, &err);
        if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clCreateProgramWithSource", "creating a program");
        double t0 = ocla_now_seconds();
        err = clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
        if (err != CL_SUCCESS) {
            st = build_failed(ctx, prog, err, options);
            clReleaseProgram(prog);
            return st;
        }
        if (strstr(options, "-DWG=1") && (st = sm90a_rebuild(ctx, &prog, options)) != OCLA_SUCCESS) {
            clReleaseProgram(prog);
            return st;
        }
        ctx->stats.builds++;
        ocla__log(ctx, OCLA_LOG_DEBUG, "built a program variant (%s: %s) in %.3f s", src ? src->name : "(text)",
                  options, ocla_now_seconds() - t0);
        if (ctx->disk_cache) save_to_disk(ctx, prog, key);
    }
    memcpy(ctx->programs[ctx->n_programs].key, key, 32);
    ctx->programs[ctx->n_programs++].program = prog;
    *out = prog;
    return OCLA_SUCCESS;
}

/* The program of common.cl + "\n" + the embedded source named source. */
static ocla_status source_program(ocla_context *ctx, const char *source, const char *options, cl_program *out) {
    const ocla_embedded_source *src = find_source(source), *common = find_source("common");
    if (!src) return ocla__fail(ctx, OCLA_ERR_INTERNAL, "no embedded kernel source named \"%s\"", source);
    size_t a = common ? common->size : 0, len = a + 1 + src->size;
    char *text = malloc(len + 1);
    ctx->counters.cache_allocs++;
    if (!text) return ocla__fail(ctx, OCLA_ERR_OUT_OF_MEMORY, "out of host memory assembling kernel source");
    if (a) memcpy(text, common->data, a);
    text[a] = '\n';
    memcpy(text + a + 1, src->data, src->size);
    text[len] = 0;
    ocla_status st = get_program(ctx, src, text, len, options, out);
    free(text);
    return st;
}

ocla_status ocla__kernel_create(ocla_context *ctx, const char *source, const char *options, const char *kernel_name,
                                ocla_kernel_entry **out) {
    *out = NULL;
    if (strlen(kernel_name) >= sizeof ctx->kernels[0].name)
        return ocla__fail(ctx, OCLA_ERR_INTERNAL, "kernel name too long: %s", kernel_name);
    cl_program prog;
    ocla_status st = source_program(ctx, source, options, &prog);
    if (st != OCLA_SUCCESS) return st;
    st = grow(ctx, &ctx->kernels, &ctx->cap_kernels, ctx->n_kernels, sizeof *ctx->kernels, 32, "kernel cache");
    if (st != OCLA_SUCCESS) return st;
    cl_int err;
    cl_kernel k = clCreateKernel(prog, kernel_name, &err);
    if (err != CL_SUCCESS) return ocla__cl_fail(ctx, err, "clCreateKernel", kernel_name);
    ocla_kernel_entry *e = &ctx->kernels[ctx->n_kernels];
    memset(e, 0, sizeof *e);
    st = ocla__query_kernel(ctx, k, kernel_name, &e->wg_size, &e->static_local);
    if (st != OCLA_SUCCESS) {
        clReleaseKernel(k);
        return st;
    }
    ctx->n_kernels++;
    e->program = prog;
    snprintf(e->name, sizeof e->name, "%s", kernel_name);
    e->kernel = k;
    ctx->counters.kernel_creates++;
    *out = e;
    return OCLA_SUCCESS;
}

void ocla__program_cache_release(ocla_context *ctx) {
    for (size_t i = 0; i < ctx->n_kernels; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (size_t i = 0; i < ctx->n_programs; i++) clReleaseProgram(ctx->programs[i].program);
    free(ctx->kernels);
    free(ctx->programs);
    free(ctx->src_hash);
    ctx->kernels = NULL;
    ctx->programs = NULL;
    ctx->src_hash = NULL;
    ctx->n_src_hash = ctx->cap_src_hash = 0;
    ctx->n_kernels = ctx->cap_kernels = ctx->n_programs = ctx->cap_programs = 0;
}

ocla_status ocla_cache_get_stats(const ocla_context *ctx, ocla_cache_stats *stats) {
    if (!ctx || !stats) return ocla__fail(NULL, OCLA_ERR_INVALID_ARGUMENT, "ocla_cache_get_stats: NULL argument");
    *stats = ctx->stats;
    stats->disk_enabled = ctx->disk_cache;
    return OCLA_SUCCESS;
}

/* ---- test hooks (ocla_debug.h) ---- */
#include "ocla_debug.h"

ocla_status ocla_debug_build_text(ocla_context *ctx, const char *text, const char *options) {
    if (!ctx || !text) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_debug_build_text: NULL argument");
    OCLA_LOCK(ctx);
    cl_program p;
    ocla_status st = get_program(ctx, NULL, text, strlen(text), options, &p);
    OCLA_UNLOCK(ctx);
    return st;
}

ocla_status ocla_debug_build(ocla_context *ctx, const char *source, const char *options) {
    if (!ctx || !source) return ocla__fail(ctx, OCLA_ERR_INVALID_ARGUMENT, "ocla_debug_build: NULL argument");
    OCLA_LOCK(ctx);
    cl_program p;
    ocla_status st = source_program(ctx, source, options, &p);
    OCLA_UNLOCK(ctx);
    return st;
}

void ocla_debug_drop_memory_cache(ocla_context *ctx) {
    if (!ctx) return;
    OCLA_LOCK(ctx);
    clFinish(ctx->queue);
    ocla__attn_cache_release(ctx); /* they hold kernels of the cache */
    ocla__program_cache_release(ctx);
    ctx->probe_done = 0;
    OCLA_UNLOCK(ctx);
}

void ocla_debug_get_counters(const ocla_context *ctx, ocla_debug_counters *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    if (!ctx) return;
    *c = ctx->counters;
    c->env_reads = ocla__env_reads();
}

uint64_t ocla_debug_scratch_bytes(const ocla_context *ctx) {
    uint64_t n = 0;
    for (int i = 0; ctx && i < OCLA_SCRATCH_SLOTS; i++) n += ctx->scratch_size[i];
    return ctx ? n + ctx->blas_temp_size : 0;
}
