/* SPDX-License-Identifier: MIT */
/* Hostile users and co-tenants (docs/RELIABILITY.md, "Hostile input"): a program-binary cache that
 * nobody else can poison, tensors and buffers of another context, borrowed OpenCL objects, the
 * error detail of a context shared by threads, and environment values out of range. */
#define _GNU_SOURCE /* mkdtemp, setenv, symlink, mkfifo, chown */
#define CL_TARGET_OPENCL_VERSION 120 /* clCreateCommandQueue, as the library itself */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "ocla_debug.h"

static void assert_usable(ocla_context *ctx) {
    ocla_status st = ocla_selftest(ctx, NULL);
    cr_assert_eq(st, OCLA_SUCCESS, "context unusable: %s: %s", ocla_status_string(st), ocla_last_error(ctx));
}

static int disk_enabled(ocla_context *ctx) {
    ocla_cache_stats s;
    ocla_cache_get_stats(ctx, &s);
    return s.disk_enabled;
}

/* The disk cache is used only in a directory this user owns and nobody else can write. */
Test(hostile, cache_directory_must_be_ours) {
    for (int d = 0; d < tc_device_count(); d++) {
        char *dir = tc_temp_dir();
        ocla_context *ctx;
        static const mode_t bad[] = {0777, 0770, 0722, 0702};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            cr_assert_eq(chmod(dir, bad[i]), 0);
            cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_AUTO, &ctx), OCLA_SUCCESS);
            cr_assert_eq(disk_enabled(ctx), 0, "mode %o: the disk cache must be off", (unsigned)bad[i]);
            assert_usable(ctx); /* ops still work, from memory */
            ocla_context_destroy(ctx);
            cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx), OCLA_ERR_CACHE, "mode %o", (unsigned)bad[i]);
            cr_assert_null(ctx);
            cr_assert(strstr(ocla_last_error(NULL), "not trusted"), "%s", ocla_last_error(NULL));
        }
        cr_assert_eq(chmod(dir, 0700), 0);
        cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        cr_assert_eq(disk_enabled(ctx), 1);
        ocla_context_destroy(ctx);
        if (geteuid() == 0) { /* root (CI): a directory of another user */
            cr_assert_eq(chown(dir, 65534, 65534), 0);
            cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_AUTO, &ctx), OCLA_SUCCESS);
            cr_assert_eq(disk_enabled(ctx), 0, "a directory of another user must not be used");
            ocla_context_destroy(ctx);
            cr_assert_eq(chown(dir, 0, 0), 0);
        }
        /* a directory ocla creates is ours alone */
        char sub[600];
        snprintf(sub, sizeof sub, "%s/new/cache", dir);
        cr_assert_eq(tc_open_cached(d, sub, OCLA_CACHE_ON, &ctx), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        struct stat st;
        cr_assert_eq(stat(sub, &st), 0);
        cr_assert_eq(st.st_mode & 077, 0, "created with mode %o", (unsigned)(st.st_mode & 0777));
        ocla_context_destroy(ctx);
        tc_remove_tree(dir);
        free(dir);
    }
}

static int list_entries(const char *dir, char paths[][600], int max) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strstr(line, ".oclabin") && !strstr(line, ".tmp.") && n < max)
            snprintf(paths[n++], 600, "%s/%s", dir, line);
    }
    if (p) pclose(p);
    return n;
}

static int count_temp_files(const char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -c '\\.tmp\\.' || true", dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* Entries replaced by what a co-tenant or a stale process could leave: a FIFO (used to block the
 * first op forever with the context lock held), a symbolic link to a victim file (its target used to
 * be overwritten), a file of another user (root only), a directory. Each is ignored: the op rebuilds,
 * finishes, and the victim is intact. The test has a timeout: a blocking read fails it. */
Test(hostile, planted_cache_entries, .timeout = 600) {
    for (int d = 0; d < tc_device_count(); d++) {
        char *dir = tc_temp_dir(), *elsewhere = tc_temp_dir();
        char victim[700];
        snprintf(victim, sizeof victim, "%s/victim", elsewhere);
        FILE *vf = fopen(victim, "w");
        cr_assert_not_null(vf);
        fputs("victim", vf);
        fclose(vf);
        ocla_context *ctx;
        cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        assert_usable(ctx);
        ocla_context_destroy(ctx);
        char entries[16][600];
        int n = list_entries(dir, entries, 16);
        if (n == 0) {
            cr_log_warn("%s keeps no program binaries: planted entries not exercised", tc_device_name(d));
            tc_remove_tree(dir), tc_remove_tree(elsewhere);
            free(dir), free(elsewhere);
            continue;
        }
        for (int kind = 0; kind < 4; kind++) {
            if (kind == 2 && geteuid() != 0) continue; /* another user's file needs root */
            for (int i = 0; i < n; i++) {
                const char *e = entries[i];
                if (kind == 2) {
                    cr_assert_eq(chown(e, 65534, 65534), 0);
                    continue;
                }
                cr_assert_eq(unlink(e) == 0 || errno == ENOENT || rmdir(e) == 0, 1);
                if (kind == 0) cr_assert_eq(mkfifo(e, 0600), 0);
                if (kind == 1) cr_assert_eq(symlink(victim, e), 0);
                if (kind == 3) cr_assert_eq(mkdir(e, 0700), 0);
            }
            cr_assert_eq(tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
            assert_usable(ctx);
            ocla_cache_stats s;
            ocla_cache_get_stats(ctx, &s);
            cr_assert_eq(s.disk_hits, 0, "kind %d: a planted entry was loaded", kind);
            cr_assert_geq(s.builds, 1, "kind %d", kind);
            ocla_context_destroy(ctx);
            char buf[16] = "";
            vf = fopen(victim, "r");
            cr_assert_not_null(vf);
            cr_assert_not_null(fgets(buf, sizeof buf, vf));
            fclose(vf);
            cr_assert_str_eq(buf, "victim", "kind %d: the symbolic link's target was written", kind);
            for (int i = 0; i < n && kind != 3; i++) { /* rewritten as our own regular file */
                struct stat st;
                cr_assert_eq(lstat(entries[i], &st), 0);
                cr_assert(S_ISREG(st.st_mode), "kind %d: entry not replaced", kind);
                cr_assert_eq(st.st_uid, geteuid());
                cr_assert_eq(st.st_mode & 077, 0, "entry mode %o", (unsigned)(st.st_mode & 0777));
            }
            cr_assert_eq(count_temp_files(dir), 0, "kind %d: temporary files left behind", kind);
        }
        tc_remove_tree(dir), tc_remove_tree(elsewhere);
        free(dir), free(elsewhere);
    }
}

/* A tensor or buffer of another context is refused, and view offsets cannot wrap around. */
Test(hostile, tensors_of_another_context) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *a = tc_open(d), *b = tc_open(d);
        const int64_t dims[2] = {4, 8};
        ocla_tensor *ta = tc_tensor(a, 2, dims, NULL), *t = NULL;
        cr_assert_eq(ocla_tensor_view(b, ta, 0, 2, dims, NULL, &t), OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_null(t);
        cr_assert(strstr(ocla_last_error(b), "another context"), "%s", ocla_last_error(b));
        cr_assert_eq(ocla_tensor_wrap(b, ocla_tensor_buffer(ta), 0, OCLA_F32, 2, dims, NULL, &t),
                     OCLA_ERR_INVALID_ARGUMENT);
        cr_assert_null(t);
        const int64_t one[1] = {1};
        cr_assert_eq(ocla_tensor_view(a, ta, (size_t)-1, 1, one, NULL, &t), OCLA_ERR_SHAPE);
        cr_assert_null(t);
        ocla_tensor *sub = NULL; /* a view of a view: offsets add up, and must stay in the buffer */
        cr_assert_eq(ocla_tensor_view(a, ta, 8, 1, (const int64_t[]){8}, NULL, &sub), OCLA_SUCCESS);
        cr_assert_eq(ocla_tensor_view(a, sub, (size_t)-8, 1, one, NULL, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_view(a, sub, 24, 1, (const int64_t[]){1}, NULL, &t), OCLA_ERR_SHAPE);
        cr_assert_eq(ocla_tensor_view(a, sub, 23, 1, (const int64_t[]){1}, NULL, &t), OCLA_SUCCESS);
        cr_assert_eq(ocla_tensor_offset(t), 31u);
        ocla_tensor_destroy(t);
        ocla_tensor_destroy(sub);
        assert_usable(a);
        assert_usable(b);
        ocla_tensor_destroy(ta);
        ocla_context_destroy(a);
        ocla_context_destroy(b);
    }
}

static cl_uint ref_count_ctx(cl_context c) {
    cl_uint n = 0;
    cr_assert_eq(clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL), CL_SUCCESS);
    return n;
}

static cl_uint ref_count_queue(cl_command_queue q) {
    cl_uint n = 0;
    cr_assert_eq(clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL), CL_SUCCESS);
    return n;
}

/* ocla_context_wrap retains what it keeps and releases it on destroy: the application may drop its
 * own references right after wrapping. */
Test(hostile, wrapped_objects_are_retained) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *own = tc_open(d);
        cl_device_id dev;
        cr_assert_eq(clGetCommandQueueInfo(ocla_context_queue(own), CL_QUEUE_DEVICE, sizeof dev, &dev, NULL),
                     CL_SUCCESS);
        cl_int err;
        cl_context cl = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
        cr_assert_eq(err, CL_SUCCESS);
        cl_command_queue q = clCreateCommandQueue(cl, dev, 0, &err);
        cr_assert_eq(err, CL_SUCCESS);
        const cl_uint c0 = ref_count_ctx(cl), q0 = ref_count_queue(q);
        ocla_context *w = NULL;
        /* a wrap that fails (a required cache in a directory others may write) keeps its reason and
         * references nothing */
        char *dir = tc_temp_dir();
        cr_assert_eq(chmod(dir, 0777), 0);
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.cache_dir = dir, o.cache_mode = OCLA_CACHE_ON, o.log_level = OCLA_LOG_ERROR;
        cr_assert_eq(ocla_context_wrap(cl, dev, q, &o, &w), OCLA_ERR_CACHE);
        cr_assert_null(w);
        cr_assert(strstr(ocla_last_error(NULL), "not trusted"), "%s", ocla_last_error(NULL));
        cr_assert_eq(ref_count_ctx(cl), c0);
        cr_assert_eq(ref_count_queue(q), q0);
        tc_remove_tree(dir);
        free(dir);
        cr_assert_eq(ocla_context_wrap(cl, dev, q, NULL, &w), OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        cr_assert_eq(ref_count_ctx(cl), c0 + 1, "%s: the context was not retained", tc_device_name(d));
        cr_assert_eq(ref_count_queue(q), q0 + 1, "%s: the queue was not retained", tc_device_name(d));
        ocla_context_destroy(w);
        cr_assert_eq(ref_count_ctx(cl), c0);
        cr_assert_eq(ref_count_queue(q), q0);
        /* the application lets go first: ocla keeps working on its references */
        cr_assert_eq(ocla_context_wrap(cl, dev, q, NULL, &w), OCLA_SUCCESS);
        clReleaseCommandQueue(q);
        clReleaseContext(cl);
        assert_usable(w);
        ocla_context_destroy(w);
        ocla_context_destroy(own);
    }
}

typedef struct err_thread {
    ocla_context *ctx;
    int id;
    int wrong; /* failures whose detail was not this thread's */
} err_thread;

static void *fail_repeatedly(void *arg) {
    err_thread *t = arg;
    const int64_t dims[2] = {4, -1000 - t->id};
    char want[64];
    snprintf(want, sizeof want, "= %d must be positive", -1000 - t->id);
    for (int i = 0; i < 3000; i++) {
        ocla_tensor *x = NULL;
        if (ocla_tensor_create(t->ctx, OCLA_F32, 2, dims, &x) != OCLA_ERR_SHAPE) t->wrong++;
        const char *e = ocla_last_error(t->ctx);
        if (!strstr(e, want)) t->wrong++;
        if (!strstr(e, want)) t->wrong++; /* and it stays put while the other thread fails */
    }
    return NULL;
}

/* Two threads share a context and fail at once: each reads its own failure's detail. */
Test(hostile, last_error_is_per_thread) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        err_thread t[2] = {{ctx, 1, 0}, {ctx, 2, 0}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, fail_repeatedly, &t[i]), 0);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        cr_assert_eq(t[0].wrong + t[1].wrong, 0, "%d and %d failures read another thread's detail", t[0].wrong,
                     t[1].wrong);
        /* a thread whose last failure was elsewhere still gets the context's last failure */
        cr_assert(strstr(ocla_last_error(ctx), "must be positive"), "%s", ocla_last_error(ctx));
        ocla_context_destroy(ctx);
    }
}

/* Environment values: out of range or malformed is a clear status at context creation, never a
 * silent wrap (OCLA_CHUNK=4294967360 used to become 64) or a truncation (a selector of 300 zeros
 * and an x used to select device 0). */
Test(hostile, environment_values) {
    static const char *bad[] = {"4294967360", "abc", "-5", "32x", " 32", "4097", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(setenv("OCLA_CHUNK", bad[i], 1), 0);
        ocla_context *ctx = NULL;
        cr_assert_eq(ocla_context_create(NULL, &ctx), OCLA_ERR_INVALID_ARGUMENT, "OCLA_CHUNK=%s", bad[i]);
        cr_assert_null(ctx);
        cr_assert(strstr(ocla_last_error(NULL), "OCLA_CHUNK"), "%s", ocla_last_error(NULL));
    }
    static const char *good[] = {"", "0", "64", "4096"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cr_assert_eq(setenv("OCLA_CHUNK", good[i], 1), 0);
        ocla_context *ctx = NULL;
        cr_assert_eq(ocla_context_create(NULL, &ctx), OCLA_SUCCESS, "OCLA_CHUNK=%s: %s", good[i],
                     ocla_last_error(NULL));
        ocla_context_destroy(ctx);
    }
    unsetenv("OCLA_CHUNK");
    char sel[400];
    memset(sel, '0', 300);
    sel[300] = 'x';
    sel[301] = 0;
    cr_assert_eq(setenv("OCLA_DEVICE", sel, 1), 0);
    ocla_context *ctx = NULL;
    cr_assert_eq(ocla_context_create(NULL, &ctx), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(ocla_last_error(NULL), "too long"), "%s", ocla_last_error(NULL));
    size_t idx;
    cr_assert_neq(ocla_device_select(sel, &idx), OCLA_SUCCESS);
    unsetenv("OCLA_DEVICE");
}

/* The aliasing rule every op applies to its tensors (white box: ocla__check_disjoint). */
#include "internal.h"

static ocla_tensor *view(ocla_context *ctx, ocla_tensor *base, size_t off, int64_t d0, int64_t d1, int64_t s0,
                         int64_t s1) {
    ocla_tensor *t = NULL;
    const int64_t dims[2] = {d0, d1}, strides[2] = {s0, s1};
    tc_ok(ctx, ocla_tensor_view(ctx, base, off, 2, dims, strides, &t));
    return t;
}

static ocla_status check(ocla_context *ctx, ocla_tensor *in0, ocla_tensor *in1, ocla_tensor *out0, ocla_tensor *out1,
                         int in_place) {
    ocla_io_set io = {.in = {in0, in1}, .out = {out0, out1}, .in_name = {"q", "state_in"},
                      .out_name = {"o", "state_out"}, .in_place = {0, in_place ? 2 : 0}, .n_in = 2, .n_out = 2};
    return ocla__check_disjoint(ctx, "test", &io);
}

Test(hostile, aliasing_rule) {
    ocla_context *ctx = tc_open(0);
    const int64_t T = 16, D = 8, all[1] = {T * 3 * D * 2};
    ocla_tensor *buf = tc_tensor(ctx, 1, all, NULL), *other = tc_tensor(ctx, 1, all, NULL);
    /* packed [T, 3, D]: q, k, o interleaved in one buffer, no element shared */
    ocla_tensor *q = view(ctx, buf, 0, T, D, 3 * D, 1), *k = view(ctx, buf, D, T, D, 3 * D, 1),
                *o = view(ctx, buf, 2 * D, T, D, 3 * D, 1), *half = view(ctx, buf, D / 2, T, D, 3 * D, 1);
    ocla_tensor *sep = view(ctx, other, 0, T, D, D, 1), *sep2 = view(ctx, other, 0, T, D, D, 1);
    ocla_tensor *shifted = view(ctx, other, 1, T, D, D, 1), *bcast = view(ctx, other, 0, T, D, 0, 1);
    cr_assert_eq(check(ctx, q, k, o, NULL, 0), OCLA_SUCCESS, "%s", ocla_last_error(ctx));
    cr_assert_eq(check(ctx, q, NULL, sep, NULL, 0), OCLA_SUCCESS);
    cr_assert_eq(check(ctx, q, NULL, q, NULL, 0), OCLA_ERR_INVALID_ARGUMENT); /* o is q */
    cr_assert(strstr(ocla_last_error(ctx), "output o shares memory with input q"), "%s", ocla_last_error(ctx));
    cr_assert_eq(check(ctx, half, NULL, o, NULL, 0), OCLA_SUCCESS); /* half covers k's slot's tail, not o */
    cr_assert_eq(check(ctx, q, half, o, NULL, 0), OCLA_SUCCESS);
    cr_assert_eq(check(ctx, half, NULL, q, NULL, 0), OCLA_ERR_INVALID_ARGUMENT); /* half overlaps q */
    cr_assert_eq(check(ctx, bcast, NULL, o, NULL, 0), OCLA_SUCCESS);             /* a broadcast input is fine */
    cr_assert_eq(check(ctx, q, NULL, bcast, NULL, 0), OCLA_ERR_INVALID_ARGUMENT); /* a broadcast output is not */
    cr_assert(strstr(ocla_last_error(ctx), "overlap"), "%s", ocla_last_error(ctx));
    cr_assert_eq(check(ctx, q, NULL, o, o, 0), OCLA_ERR_INVALID_ARGUMENT); /* two outputs, one memory */
    /* the in-place state update: the same tensor, or the same memory and layout */
    cr_assert_eq(check(ctx, q, sep, o, sep, 1), OCLA_SUCCESS);
    cr_assert_eq(check(ctx, q, sep, o, sep2, 1), OCLA_SUCCESS);
    cr_assert_eq(check(ctx, q, sep, o, shifted, 1), OCLA_ERR_INVALID_ARGUMENT);
    cr_assert_eq(check(ctx, q, sep, o, sep, 0), OCLA_ERR_INVALID_ARGUMENT); /* not declared in place */
    ocla_tensor *ts[] = {q, k, o, half, sep, sep2, shifted, bcast, buf, other};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ocla_tensor_destroy(ts[i]);
    ocla_context_destroy(ctx);
}
