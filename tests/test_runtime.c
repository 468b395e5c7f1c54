/* SPDX-License-Identifier: MIT */
/* Runtime foundation: devices, selection, contexts, errors, tensors, the program cache, faults. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "ocla_debug.h"

/* The context still works: the selftest builds and runs a kernel and checks its result. */
static void assert_usable(ocla_context *ctx) {
    ocla_status st = ocla_selftest(ctx, NULL);
    cr_assert_eq(st, OCLA_SUCCESS, "context unusable after an error: %s: %s", ocla_status_string(st),
                 ocla_last_error(ctx));
}

Test(runtime, devices_present_and_sane) {
    cr_assert_gt(tc_device_count(), 0, "no OpenCL device to test on");
    size_t n = 0;
    cr_assert_eq(ocla_device_count(&n), OCLA_SUCCESS);
    for (size_t i = 0; i < n; i++) {
        ocla_device_info d;
        cr_assert_eq(ocla_device_get_info(i, &d), OCLA_SUCCESS);
        cr_assert_eq(d.global_index, (int)i);
        cr_assert(d.device_name[0] && d.platform_name[0]);
        cr_assert_gt(d.local_mem_size, 0);
        cr_assert_gt(d.max_work_group_size, 0);
        cr_assert_gt(d.max_work_item_sizes[0], 0);
        cr_assert_gt(d.compute_units, 0);
        cr_assert_gt(d.max_alloc_size, 0);
        cr_assert_geq(d.global_mem_size, d.max_alloc_size);
        cr_assert(strstr(d.opencl_c_version, "OpenCL C"), "%s", d.opencl_c_version);
    }
    ocla_device_info d;
    cr_assert_eq(ocla_device_get_info(n + 5, &d), OCLA_ERR_NO_DEVICE);
    cr_assert(strstr(ocla_last_error(NULL), "out of range"));
    cr_assert_eq(ocla_device_count(NULL), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_device_get_info(0, NULL), OCLA_ERR_INVALID_ARGUMENT);
}

Test(runtime, vendor_normalisation) {
    cr_assert_eq(ocla__normalise_vendor("Portable Computing Language", "AuthenticAMD", "pthread-znver", 0),
                 OCLA_VENDOR_POCL);
    cr_assert_eq(ocla__normalise_vendor("rusticl", "Mesa/X.org", "llvmpipe", 0), OCLA_VENDOR_MESA);
    cr_assert_eq(ocla__normalise_vendor("Clover", "Mesa", "llvmpipe (LLVM 15.0.6, 256 bits)", 1), OCLA_VENDOR_MESA);
    /* GPUs under Mesa are their hardware, not the CPU emulator (no llvmpipe workarounds for them) */
    cr_assert_eq(ocla__normalise_vendor("rusticl", "Mesa/X.org", "AMD Radeon RX 7900 XTX (radeonsi, navi31)", 1),
                 OCLA_VENDOR_AMD);
    cr_assert_eq(ocla__normalise_vendor("rusticl", "Mesa/X.org", "Mesa Intel(R) Arc(tm) A770 Graphics (DG2)", 1),
                 OCLA_VENDOR_INTEL);
    cr_assert_eq(ocla__normalise_vendor("NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA H100 80GB HBM3", 1),
                 OCLA_VENDOR_NVIDIA);
    cr_assert_eq(ocla__normalise_vendor("AMD Accelerated Parallel Processing", "Advanced Micro Devices, Inc.",
                                        "gfx1100", 1),
                 OCLA_VENDOR_AMD);
    cr_assert_eq(ocla__normalise_vendor("Intel(R) OpenCL Graphics", "Intel(R) Corporation", "Intel(R) Arc(TM)", 1),
                 OCLA_VENDOR_INTEL);
    cr_assert_eq(ocla__normalise_vendor("Foo", "Bar", "Baz", 1), OCLA_VENDOR_UNKNOWN);
    /* event timestamps: untrusted on llvmpipe only, not on a GPU under Mesa */
    static const char *const mesa[][3] = {{"rusticl", "Mesa/X.org", "llvmpipe"},
                                          {"Clover", "Mesa", "llvmpipe (LLVM 15.0.6, 256 bits)"},
                                          {"rusticl", "Mesa/X.org", "AMD Radeon RX 7900 XTX (radeonsi, navi31)"},
                                          {"rusticl", "Mesa/X.org", "Mesa Intel(R) Arc(tm) A770 Graphics (DG2)"}};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ocla__profiling_trusted(ocla__normalise_vendor(mesa[i][0], mesa[i][1], mesa[i][2], i > 0)), i >= 2,
                     "%s", mesa[i][2]);
    cr_assert(ocla__profiling_trusted(OCLA_VENDOR_POCL));
}

Test(runtime, selectors) {
    size_t n = 0, idx = 99;
    ocla_device_count(&n);
    cr_assert_gt(n, 0);
    cr_assert_eq(ocla_device_select("0", &idx), OCLA_SUCCESS);
    cr_assert_eq(idx, 0);
    ocla_device_info d0;
    cr_assert_eq(ocla_device_get_info(0, &d0), OCLA_SUCCESS);
    char sel[64];
    snprintf(sel, sizeof sel, "%d:%d", d0.platform_index, d0.device_index);
    cr_assert_eq(ocla_device_select(sel, &idx), OCLA_SUCCESS);
    cr_assert_eq(idx, 0);
    cr_assert_eq(ocla_device_select(ocla_vendor_name(d0.vendor), &idx), OCLA_SUCCESS);
    cr_assert_eq(ocla_device_select(d0.is_cpu ? "cpu" : "gpu", &idx), OCLA_SUCCESS);
    snprintf(sel, sizeof sel, "%s:0", ocla_vendor_name(d0.vendor));
    cr_assert_eq(ocla_device_select(sel, &idx), OCLA_SUCCESS);
    cr_assert_eq(idx, 0);
    /* default: the first GPU, else device 0 */
    unsetenv("OCLA_DEVICE");
    cr_assert_eq(ocla_device_select(NULL, &idx), OCLA_SUCCESS);
    ocla_device_info di;
    cr_assert_eq(ocla_device_get_info(idx, &di), OCLA_SUCCESS);
    if (!di.is_gpu) cr_assert_eq(idx, 0);
    /* OCLA_DEVICE is honoured */
    snprintf(sel, sizeof sel, "%zu", n - 1);
    setenv("OCLA_DEVICE", sel, 1);
    cr_assert_eq(ocla_device_select(NULL, &idx), OCLA_SUCCESS);
    cr_assert_eq(idx, n - 1);
    /* no match: a clear status and a message naming the selector */
    cr_assert_eq(ocla_device_select("no-such-device-xyz", &idx), OCLA_ERR_NO_DEVICE);
    cr_assert(strstr(ocla_last_error(NULL), "no-such-device-xyz"));
    cr_assert_eq(ocla_device_select("999", &idx), OCLA_ERR_NO_DEVICE);
    cr_assert_eq(ocla_device_select("0:999", &idx), OCLA_ERR_NO_DEVICE);
    setenv("OCLA_DEVICE", "no-such-device-xyz", 1);
    ocla_context *ctx = NULL;
    cr_assert_eq(ocla_context_create(NULL, &ctx), OCLA_ERR_NO_DEVICE);
    cr_assert_null(ctx);
    cr_assert(strstr(ocla_last_error(NULL), "OCLA_DEVICE"));
    unsetenv("OCLA_DEVICE");
    cr_assert_eq(ocla_device_select("0", NULL), OCLA_ERR_INVALID_ARGUMENT);
}

Test(runtime, status_strings) {
    for (int s = OCLA_SUCCESS; s <= OCLA_ERR_INTERNAL; s++) {
        const char *str = ocla_status_string((ocla_status)s);
        cr_assert(str && !strncmp(str, "OCLA_", 5), "status %d", s);
        cr_assert_neq(strcmp(str, "OCLA_ERR_UNKNOWN_STATUS"), 0, "status %d has no name", s);
    }
    cr_assert_str_eq(ocla_status_string((ocla_status)999), "OCLA_ERR_UNKNOWN_STATUS");
    cr_assert_str_eq(ocla__cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    cr_assert_str_eq(ocla__cl_error_name(-12345), "CL_UNKNOWN_ERROR");
}

Test(runtime, contexts_on_every_device) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_device_info info;
        cr_assert_eq(ocla_context_device_info(ctx, &info), OCLA_SUCCESS);
        cr_assert(info.device_name[0]);
        cr_assert_not_null(ocla_context_queue(ctx));
        cr_assert_not_null(ocla_context_cl(ctx));
        assert_usable(ctx);
        cr_assert_eq(ocla_finish(ctx), OCLA_SUCCESS);
        ocla_context_destroy(ctx);
    }
    ocla_context_destroy(NULL); /* no-op */
    cr_assert_eq(ocla_context_create(NULL, NULL), OCLA_ERR_INVALID_ARGUMENT);
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.cache_mode = (ocla_cache_mode)42;
    ocla_context *ctx = (ocla_context *)1;
    cr_assert_eq(ocla_context_create(&o, &ctx), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_null(ctx);
    cr_assert_eq(ocla_finish(NULL), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ocla_context_device_info(NULL, NULL), OCLA_ERR_INVALID_ARGUMENT);
}

Test(runtime, wrap_application_objects) {
    for (int d = 0; d < tc_device_count(); d++) {
        /* the application's own context and queue, borrowed by ocla */
        ocla_context *owner = tc_open(d);
        cl_context clc = ocla_context_cl(owner);
        cl_command_queue q = ocla_context_queue(owner);
        ocla_device_info info;
        ocla_context_device_info(owner, &info);
        cl_device_id dev;
        cr_assert_eq(clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL), CL_SUCCESS);
        ocla_context *ctx = NULL;
        tc_ok(NULL, ocla_context_wrap(clc, dev, q, NULL, &ctx));
        assert_usable(ctx);
        ocla_context_destroy(ctx);
        /* the borrowed objects are still alive and usable */
        cr_assert_eq(clFinish(q), CL_SUCCESS);
        assert_usable(owner);
        cr_assert_eq(ocla_context_wrap(NULL, dev, q, NULL, &ctx), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_context_wrap(clc, dev, q, NULL, NULL), OCLA_ERR_INVALID_ARGUMENT);
        ocla_context_destroy(owner);
    }
}

static int g_log_count;
static void count_log(ocla_log_level level, const char *msg, void *user) {
    (void)level, (void)msg;
    (*(int *)user)++;
}

Test(runtime, log_callback_receives_messages) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.log = count_log;
    o.log_user = &g_log_count;
    o.log_level = OCLA_LOG_DEBUG;
    g_log_count = 0;
    ocla_context *ctx = tc_open_with(0, &o);
    cr_assert_gt(g_log_count, 0, "the device choice is logged");
    ocla_context_destroy(ctx);
}

Test(runtime, tensors_roundtrip_and_strides) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        enum { B = 2, T = 5, H = 3, D = 4 };
        float x[B * T * H * D], y[B * T * H * D];
        tc_fill_uniform(x, B * T * H * D, 1, -1, 1);
        ocla_tensor *t = tc_tensor4(ctx, B, T, H, D, x);
        cr_assert_eq(ocla_tensor_ndim(t), 4);
        cr_assert_eq(ocla_tensor_numel(t), B * T * H * D);
        cr_assert_eq(ocla_tensor_stride(t, 0), T * H * D);
        tc_ok(ctx, ocla_tensor_download(ctx, t, y, sizeof y));
        cr_assert_eq(memcmp(x, y, sizeof x), 0);
        /* a [B,H,T,D] view of the [B,T,H,D] buffer: element (b,h,t,d) = x[b][t][h][d] */
        int64_t vd[4] = {B, H, T, D}, vs[4] = {T * H * D, D, H * D, 1};
        ocla_tensor *v = NULL;
        tc_ok(ctx, ocla_tensor_view(ctx, t, 0, 4, vd, vs, &v));
        tc_ok(ctx, ocla_tensor_download(ctx, v, y, sizeof y));
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int tt = 0; tt < T; tt++)
                    for (int e = 0; e < D; e++)
                        cr_assert_eq(y[((b * H + h) * T + tt) * D + e], x[((b * T + tt) * H + h) * D + e]);
        /* upload through the view writes back in place */
        for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) y[i] = (float)i;
        tc_ok(ctx, ocla_tensor_upload(ctx, v, y, sizeof y));
        float z[B * T * H * D];
        tc_ok(ctx, ocla_tensor_download(ctx, t, z, sizeof z));
        cr_assert_eq(z[((1 * T + 2) * H + 1) * D + 3], (float)(((1 * H + 1) * T + 2) * D + 3));
        /* a sub-view with a gap: every other time step; untouched steps keep their values */
        int64_t sd[4] = {B, 3, H, D}, ss[4] = {T * H * D, 2 * H * D, D, 1};
        ocla_tensor *s = NULL;
        tc_ok(ctx, ocla_tensor_view(ctx, t, 0, 4, sd, ss, &s));
        float ones[B * 3 * H * D];
        for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++) ones[i] = 7.0f;
        tc_ok(ctx, ocla_tensor_upload(ctx, s, ones, sizeof ones));
        float w[B * T * H * D];
        tc_ok(ctx, ocla_tensor_download(ctx, t, w, sizeof w));
        cr_assert_eq(w[((0 * T + 2) * H + 0) * D + 0], 7.0f);
        cr_assert_eq(w[((0 * T + 1) * H + 0) * D + 0], z[((0 * T + 1) * H + 0) * D + 0]);
        tc_ok(ctx, ocla_tensor_fill(ctx, t, 2.5f));
        tc_ok(ctx, ocla_tensor_download(ctx, t, w, sizeof w));
        cr_assert_eq(w[17], 2.5f);
        ocla_tensor_destroy(s);
        ocla_tensor_destroy(v);
        ocla_tensor_destroy(t);
        ocla_context_destroy(ctx);
    }
}

Test(runtime, tensor_bad_input) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_tensor *t = (ocla_tensor *)1;
        int64_t zero[2] = {3, 0}, neg[2] = {3, -2}, ok[2] = {3, 4};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 2, zero, &t), OCLA_ERR_SHAPE);
        cr_assert_null(t);
        cr_assert(strstr(ocla_last_error(ctx), "dims[1]"), "%s", ocla_last_error(ctx));
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 2, neg, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 0, ok, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 5, ok, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 2, NULL, &t), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_tensor_create(ctx, (ocla_dtype)7, 2, ok, &t), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_tensor_create(NULL, OCLA_F32, 2, ok, &t), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 2, ok, NULL), OCLA_ERR_INVALID_ARGUMENT);
        int64_t huge[4] = {INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20, 4};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 4, huge, &t), OCLA_ERR_OVERFLOW);
        int64_t bytes_overflow[1] = {INT64_C(1) << 62};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 1, bytes_overflow, &t), OCLA_ERR_OVERFLOW);
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        int64_t too_big[1] = {(int64_t)(info.max_alloc_size / 4) + 1024};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 1, too_big, &t), OCLA_ERR_TOO_LARGE);
        cr_assert(strstr(ocla_last_error(ctx), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s", ocla_last_error(ctx));
        /* stride/shape mismatch: a view reaching past its buffer */
        ocla_tensor *base = tc_tensor(ctx, 2, ok, NULL);
        int64_t vd[2] = {4, 4}, vs[2] = {4, 1};
        cr_assert_eq(ocla_tensor_view(ctx, base, 0, 2, vd, vs, &t), OCLA_ERR_SHAPE);
        int64_t bad_stride[2] = {-1, 1};
        cr_assert_eq(ocla_tensor_view(ctx, base, 0, 2, ok, bad_stride, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_view(ctx, base, 1, 2, ok, NULL, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_wrap(ctx, NULL, 0, OCLA_F32, 2, ok, NULL, &t), OCLA_ERR_INVALID_ARGUMENT);
        /* wrong byte counts and NULL host pointers */
        float host[12];
        cr_assert_eq(ocla_tensor_upload(ctx, base, host, 11 * sizeof(float)), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_download(ctx, base, host, 13 * sizeof(float)), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_upload(ctx, base, NULL, sizeof host), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_tensor_download(ctx, NULL, host, sizeof host), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_eq(ocla_tensor_upload(NULL, base, host, sizeof host), OCLA_ERR_INVALID_ARGUMENT);
        /* a tensor of another context is refused */
        ocla_context *other = tc_open(d);
        cr_assert_eq(ocla_tensor_download(other, base, host, sizeof host), OCLA_ERR_INVALID_ARGUMENT);
        ocla_context_destroy(other);
        assert_usable(ctx);
        tc_ok(ctx, ocla_tensor_download(ctx, base, host, sizeof host));
        ocla_tensor_destroy(base);
        ocla_tensor_destroy(NULL);
        ocla_context_destroy(ctx);
    }
}

/* ---- program cache ---- */

static ocla_context *open_cached(int d, const char *dir, ocla_cache_mode mode) {
    ocla_context_options o;
    ocla_context_options_defaults(&o);
    o.cache_dir = dir;
    o.cache_mode = mode;
    return tc_open_with(d, &o);
}

static int count_cache_files(const char *dir, char *first, size_t n) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/*.oclabin 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    int count = 0;
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
        if (count == 0 && first) {
            line[strcspn(line, "\n")] = 0;
            snprintf(first, n, "%s", line);
        }
        count++;
    }
    if (p) pclose(p);
    return count;
}

static void corrupt_file(const char *path, int mode) {
    void *data;
    size_t size;
    cr_assert_eq(ocla_read_file(path, &data, &size), 0);
    unsigned char *b = data;
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    if (mode == 0) { /* flip payload bytes */
        b[size - 1] ^= 0xff;
        b[size / 2] ^= 0x55;
        fwrite(b, 1, size, f);
    } else if (mode == 1) { /* truncated */
        fwrite(b, 1, size / 3, f);
    } else { /* foreign: another program's file */
        memcpy(b, "NOTOCLA!", 8);
        fwrite(b, 1, size, f);
    }
    fclose(f);
    free(data);
}

Test(cache, disk_cache_hit_corrupt_truncated_foreign) {
    for (int d = 0; d < tc_device_count(); d++) {
        char *dir = tc_temp_dir();
        ocla_context *a = open_cached(d, dir, OCLA_CACHE_ON);
        assert_usable(a);
        ocla_cache_stats s;
        ocla_cache_get_stats(a, &s);
        cr_assert(s.disk_enabled);
        cr_assert_eq(s.builds, 1);
        ocla_context_destroy(a);
        char path[512];
        int files = count_cache_files(dir, path, sizeof path);
        if (files == 0) { /* this driver gives no binaries: the cache stays empty but harmless */
            cr_log_warn("%s keeps no program binaries: disk cache not exercised", tc_device_name(d));
            free(dir);
            continue;
        }
        /* warm: loaded from disk, not built */
        ocla_context *b = open_cached(d, dir, OCLA_CACHE_ON);
        assert_usable(b);
        ocla_cache_get_stats(b, &s);
        cr_assert_eq(s.disk_hits, 1, "%s", tc_device_name(d));
        cr_assert_eq(s.builds, 0);
        ocla_context_destroy(b);
        for (int mode = 0; mode < 3; mode++) {
            corrupt_file(path, mode);
            ocla_context *c = open_cached(d, dir, OCLA_CACHE_ON);
            assert_usable(c); /* the bad file is ignored and rebuilt */
            ocla_cache_get_stats(c, &s);
            cr_assert_eq(s.disk_rejects, 1, "mode %d", mode);
            cr_assert_eq(s.builds, 1);
            cr_assert_eq(s.disk_writes, 1);
            ocla_context_destroy(c);
        }
        /* off: nothing read or written */
        ocla_context *e = open_cached(d, "off", OCLA_CACHE_AUTO);
        assert_usable(e);
        ocla_cache_get_stats(e, &s);
        cr_assert_eq(s.disk_enabled, 0);
        cr_assert_eq(s.disk_hits + s.disk_writes, 0);
        ocla_context_destroy(e);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
        free(dir);
    }
}

Test(cache, unwritable_or_bogus_cache_directory) {
    /* A directory path that runs through a regular file cannot be created, even by root. */
    char *dir = tc_temp_dir();
    char file[600], bogus[700];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
    snprintf(bogus, sizeof bogus, "%s/sub", file);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.cache_dir = bogus;
        o.cache_mode = OCLA_CACHE_ON;
        char sel[16];
        size_t n = 0;
        ocla_device_count(&n);
        ocla_context *ctx = NULL;
        /* required cache that cannot work: a clear status */
        ocla_context *probe = tc_open(d);
        ocla_device_info info;
        ocla_context_device_info(probe, &info);
        ocla_context_destroy(probe);
        snprintf(sel, sizeof sel, "%d", info.global_index);
        o.device = sel;
        cr_assert_eq(ocla_context_create(&o, &ctx), OCLA_ERR_CACHE);
        cr_assert_null(ctx);
        cr_assert(strstr(ocla_last_error(NULL), "not writable"), "%s", ocla_last_error(NULL));
        /* automatic mode: works without the disk cache */
        o.cache_mode = OCLA_CACHE_AUTO;
        cr_assert_eq(ocla_context_create(&o, &ctx), OCLA_SUCCESS);
        ocla_cache_stats s;
        ocla_cache_get_stats(ctx, &s);
        cr_assert_eq(s.disk_enabled, 0);
        assert_usable(ctx);
        ocla_context_destroy(ctx);
        /* the cache directory is a file */
        o.cache_dir = file;
        o.cache_mode = OCLA_CACHE_ON;
        cr_assert_eq(ocla_context_create(&o, &ctx), OCLA_ERR_CACHE);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

Test(cache, file_format_roundtrip_and_rejects) {
    uint8_t key[32], other[32];
    ocla__sha256("abc", 3, key);
    /* SHA-256("abc") known answer */
    static const uint8_t abc[4] = {0xba, 0x78, 0x16, 0xbf};
    cr_assert_eq(memcmp(key, abc, 4), 0);
    ocla__sha256("abd", 3, other);
    const char payload[] = "binary-bytes";
    void *file;
    size_t size;
    cr_assert_eq(ocla__cache_encode(key, payload, sizeof payload, &file, &size), OCLA_SUCCESS);
    const void *p;
    size_t n;
    cr_assert_eq(ocla__cache_decode(file, size, key, &p, &n), 0);
    cr_assert_eq(n, sizeof payload);
    cr_assert_eq(memcmp(p, payload, n), 0);
    cr_assert_neq(ocla__cache_decode(file, size, other, &p, &n), 0, "another key");
    cr_assert_neq(ocla__cache_decode(file, size - 1, key, &p, &n), 0, "truncated");
    cr_assert_neq(ocla__cache_decode(file, 10, key, &p, &n), 0, "truncated header");
    cr_assert_neq(ocla__cache_decode(NULL, 0, key, &p, &n), 0);
    ((unsigned char *)file)[size - 2] ^= 1;
    cr_assert_neq(ocla__cache_decode(file, size, key, &p, &n), 0, "corrupt payload");
    ((unsigned char *)file)[size - 2] ^= 1;
    ((unsigned char *)file)[8] = 99;
    cr_assert_neq(ocla__cache_decode(file, size, key, &p, &n), 0, "another format version");
    free(file);
}

/* ---- faults ---- */

Test(faults, build_failure_reports_log_and_context_survives) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_status st = ocla_debug_build(ctx, "selftest", "-DOCLA_SELFTEST_BROKEN");
        cr_assert_eq(st, OCLA_ERR_BUILD, "%s", ocla_status_string(st));
        const char *e = ocla_last_error(ctx);
        cr_assert(strstr(e, "clBuildProgram"), "%s", e);
        cr_assert(strstr(e, "build log"), "%s", e);
        cr_assert(strstr(e, "this_identifier_does_not_exist"), "the build log names the culprit: %s", e);
        cr_assert_eq(ocla_debug_build(ctx, "no_such_source", ""), OCLA_ERR_INTERNAL);
        assert_usable(ctx);
        ocla_context_destroy(ctx);
    }
}

Test(faults, enqueue_failure_and_device_lost) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        assert_usable(ctx);
        ocla_debug_inject_enqueue_failure(ctx, 1);
        ocla_status st = ocla_selftest(ctx, NULL);
        cr_assert_neq(st, OCLA_SUCCESS);
        cr_assert(strstr(ocla_last_error(ctx), "injected"), "%s", ocla_last_error(ctx));
        assert_usable(ctx);
        ocla_debug_simulate_device_lost(ctx, 1);
        cr_assert_eq(ocla_selftest(ctx, NULL), OCLA_ERR_DEVICE_LOST);
        ocla_tensor *t = NULL;
        int64_t dims[1] = {16};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 1, dims, &t), OCLA_ERR_DEVICE_LOST);
        ocla_debug_simulate_device_lost(ctx, 0);
        assert_usable(ctx);
        ocla_context_destroy(ctx);
    }
}

Test(profile, counts_kernels) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.profiling = 1;
        ocla_context *ctx = tc_open_with(d, &o);
        assert_usable(ctx); /* build first */
        tc_ok(ctx, ocla_profile_begin(ctx));
        assert_usable(ctx);
        double ms = -1;
        int kernels = 0;
        tc_ok(ctx, ocla_profile_end(ctx, &ms, &kernels));
        cr_assert_eq(kernels, 1);
        cr_assert(ms >= 0 && isfinite(ms));
        /* the one launch's own time: its events, or where they read 0 (rusticl: 0, 1, 2, 3 ns) the host
         * clock from the profile's start to its wait, within the profile's total (printed to 0.1 us) */
        char detail[256] = "";
        tc_ok(ctx, ocla_profile_detail(ctx, detail, sizeof detail));
        const char *num = strrchr(detail, ' ');
        double item = -1;
        while (num && num > detail && num[-1] != ' ') num--;
        if (num) item = strtod(num, NULL);
        cr_assert(item >= 0 && item <= ms + 1e-4, "detail \"%s\", total %g ms", detail, ms);
        ocla_device_info info;
        ocla_context_device_info(ctx, &info);
        if (!info.profiling_works) cr_assert_gt(item, 0.0, "host-clocked launch: \"%s\"", detail);
        ocla_context_destroy(ctx);
    }
}

Test(runtime, warmup_builds_once) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        double secs = -1;
        tc_ok(ctx, ocla_warmup(ctx, &secs));
        cr_assert(secs >= 0);
        ocla_cache_stats a, b;
        ocla_cache_get_stats(ctx, &a);
        cr_assert_gt(a.builds + a.disk_hits, 1, "warmup built the op programs");
        tc_ok(ctx, ocla_warmup(ctx, NULL));
        ocla_cache_get_stats(ctx, &b);
        cr_assert_eq(b.builds + b.disk_hits, a.builds + a.disk_hits, "a second warmup builds nothing");
        cr_assert_gt(b.memory_hits, a.memory_hits);
        cr_assert_eq(ocla_warmup(NULL, NULL), OCLA_ERR_INVALID_ARGUMENT);
        ocla_context_destroy(ctx);
    }
}
