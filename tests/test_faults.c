/* SPDX-License-Identifier: MIT */
/* Faults (issue 6), beyond tests/test_runtime.c (which covers: cache hit / corrupt / truncated /
 * foreign magic, an unwritable or bogus cache directory, a broken selftest build, one injected
 * enqueue failure in the selftest, device loss in the selftest and tensor creation):
 *
 *  - every op of the op table (tests/op_table.h) with clEnqueue* failing at every position of its enqueue
 *    sequence (1st, 2nd, ... until the op completes): a clear status naming the injected call, the
 *    context usable afterwards with a result equal to the clean run (leaks on these error paths are
 *    LeakSanitizer's job: this file runs in .ci/checks/40-sanitize.sh);
 *  - every op after its device disappears (simulated), including between enumeration and first use;
 *  - allocations beyond the device's limit, and element counts that overflow;
 *  - a full disk under the cache directory (a tiny tmpfs), a cache file written by another format
 *    version, a directory where the cache file should be;
 *  - a kernel build failure with the disk cache on: nothing is cached, the failure repeats, the
 *    context stays usable. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"
#include "ocla_debug.h"
#include "op_table.h"

#define MAX_POSITIONS 400 /* no op enqueues more than this (a bound, asserted) */

/* The op table's cases at their reliability shape (shapes[0]), one per entry, in table order. */
static op_case **cases(void) {
    op_case **cs = op_cases_default(1);
    cr_assert_not_null(cs, "op table cases: out of memory");
    return cs;
}
static float *buffer(const op_case *c) {
    float *b = malloc((c->n_out ? c->n_out : 1) * sizeof *b);
    cr_assert_not_null(b);
    return b;
}

static void assert_usable(ocla_context *ctx) {
    ocla_status st = ocla_selftest(ctx, NULL);
    cr_assert_eq(st, OCLA_SUCCESS, "context unusable: %s: %s", ocla_status_string(st), ocla_last_error(ctx));
}

Test(faults, enqueue_failure_at_every_position_of_every_op, .timeout = 1500) {
    op_case **cs = cases();
    long total = 0;
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int i = 0; cs[i]; i++) {
            const op_case *c = cs[i];
            const char *name = c->op->name;
            float *ref = buffer(c), *out = buffer(c);
            size_t rn = 0;
            ocla_status st = op_run(ctx, c, ref, c->n_out, &rn);
            if (st == OCLA_ERR_UNSUPPORTED) {
                free(ref), free(out);
                continue;
            }
            tc_ok(ctx, st);
            int nth;
            for (nth = 1; nth <= MAX_POSITIONS; nth++) {
                ocla_debug_inject_enqueue_failure(ctx, nth);
                size_t n = 0;
                st = op_run(ctx, c, out, c->n_out, &n);
                ocla_debug_inject_enqueue_failure(ctx, 0);
                if (st == OCLA_SUCCESS) { /* the sequence is shorter than nth: done */
                    cr_assert(n == rn && !memcmp(out, ref, n * sizeof *out), "%s: clean result after %d", name, nth);
                    break;
                }
                total++;
                cr_assert_neq(st, OCLA_ERR_INTERNAL, "%s, enqueue %d: %s", name, nth, ocla_last_error(ctx));
                cr_assert(strstr(ocla_last_error(ctx), "injected"), "%s, enqueue %d on %s: %s: the detail should name "
                          "the failed call: %s", name, nth, tc_device_name(d), ocla_status_string(st),
                          ocla_last_error(ctx));
                /* usable: the same op now gives the clean result */
                n = 0;
                tc_ok(ctx, op_run(ctx, c, out, c->n_out, &n));
                cr_assert(n == rn && !memcmp(out, ref, n * sizeof *out), "%s: wrong result after a failure at enqueue %d",
                          name, nth);
            }
            cr_assert_leq(nth, MAX_POSITIONS, "%s never completes with injection", name);
            cr_log_info("%s: %s: failed cleanly at each of its %d enqueues", tc_device_name(d), name, nth - 1);
            free(ref), free(out);
        }
        assert_usable(ctx);
        ocla_context_destroy(ctx);
    }
    op_cases_free(cs);
    cr_log_info("injected enqueue failures: %ld", total);
}

Test(faults, device_lost_during_every_op) {
    op_case **cs = cases();
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        for (int i = 0; cs[i]; i++) {
            const op_case *c = cs[i];
            float *out = buffer(c);
            size_t n = 0;
            ocla_status clean = op_run(ctx, c, out, c->n_out, &n);
            if (clean != OCLA_ERR_UNSUPPORTED) {
                ocla_debug_simulate_device_lost(ctx, 1);
                ocla_status st = op_run(ctx, c, out, c->n_out, &n);
                cr_assert_eq(st, OCLA_ERR_DEVICE_LOST, "%s: %s: %s", c->op->name, ocla_status_string(st),
                             ocla_last_error(ctx));
                cr_assert_eq(ocla_finish(ctx), OCLA_SUCCESS); /* nothing half-queued hangs */
                ocla_debug_simulate_device_lost(ctx, 0);
                tc_ok(ctx, op_run(ctx, c, out, c->n_out, &n));
            }
            free(out);
        }
        ocla_context_destroy(ctx);
    }
    op_cases_free(cs);
}

Test(faults, device_disappears_between_enumeration_and_use) {
    op_case **cs = cases();
    size_t count = 0;
    cr_assert_eq(ocla_device_count(&count), OCLA_SUCCESS);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d); /* enumerated and opened, never used */
        ocla_debug_simulate_device_lost(ctx, 1);
        for (int i = 0; cs[i]; i++) {
            size_t n = 0;
            ocla_status st = op_run(ctx, cs[i], NULL, 0, &n);
            cr_assert_eq(st, OCLA_ERR_DEVICE_LOST, "%s: %s", cs[i]->op->name, ocla_status_string(st));
        }
        cr_assert_eq(ocla_selftest(ctx, NULL), OCLA_ERR_DEVICE_LOST);
        double s = -1;
        ocla_status w = ocla_warmup(ctx, &s);
        cr_assert(w == OCLA_ERR_DEVICE_LOST || w == OCLA_SUCCESS, "warmup: %s", ocla_status_string(w));
        ocla_context_destroy(ctx); /* destroying a context whose device is gone is clean */
    }
    op_cases_free(cs);
}

Test(faults, allocation_beyond_the_device_limit) {
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context *ctx = tc_open(d);
        ocla_device_info info;
        tc_ok(ctx, ocla_context_device_info(ctx, &info));
        /* one element more than the largest allocation */
        int64_t n = (int64_t)(info.max_alloc_size / 4) + 1;
        ocla_tensor *t = (ocla_tensor *)1;
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 1, &n, &t), OCLA_ERR_TOO_LARGE, "%s", ocla_last_error(ctx));
        cr_assert_null(t);
        cr_assert(strstr(ocla_last_error(ctx), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s", ocla_last_error(ctx));
        /* as a 4-d shape whose product is beyond the limit */
        int64_t dims[4] = {4, 1 << 20, 64, (int64_t)(info.max_alloc_size >> 30) + 1}; /* 2^30 bytes x last */
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 4, dims, &t), OCLA_ERR_TOO_LARGE, "%s", ocla_last_error(ctx));
        /* element counts that overflow size_t */
        int64_t huge[4] = {INT64_MAX, INT64_MAX, 2, 2};
        cr_assert_eq(ocla_tensor_create(ctx, OCLA_F32, 4, huge, &t), OCLA_ERR_OVERFLOW, "%s", ocla_last_error(ctx));
        int64_t bytes_overflow[1] = {(int64_t)(SIZE_MAX / 4 + 1 > INT64_MAX ? INT64_MAX : SIZE_MAX / 4 + 1)};
        ocla_status st = ocla_tensor_create(ctx, OCLA_F32, 1, bytes_overflow, &t);
        cr_assert(st == OCLA_ERR_OVERFLOW || st == OCLA_ERR_TOO_LARGE, "%s", ocla_status_string(st));
        assert_usable(ctx);
        ocla_context_destroy(ctx);
    }
}

/* ---- disk cache ---- */
/* Count entries of dir whose name contains needle; the first one's path in first. */
static int count_files(const char *dir, const char *needle, char *first, size_t n) {
    DIR *dp = opendir(dir);
    int c = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        if (!strstr(e->d_name, needle)) continue;
        if (c++ == 0 && first) snprintf(first, n, "%s/%s", dir, e->d_name);
    }
    if (dp) closedir(dp);
    return c;
}

/* A full disk: a tiny tmpfs mounted on a temporary directory (needs the right to mount, as root in
 * CI; skipped with the reason otherwise). RLIMIT_FSIZE would fake ENOSPC without mounting, but it
 * also fails the driver's own kernel-cache writes (PoCL writes files on every build), so it cannot
 * tell ocla's handling from the driver's: the honest simulation is a really full filesystem. */
static char g_mnt[64];
static void unmount_tiny(void) {
    if (g_mnt[0]) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "umount -l '%s' 2>/dev/null; rmdir '%s'", g_mnt, g_mnt);
        if (system(cmd) != 0) { /* best effort */
        }
        g_mnt[0] = 0;
    }
}
/* Fill the filesystem at dir, then free `keep` bytes. */
static void fill_leaving(const char *dir, long keep) {
    char filler[128];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    FILE *f = fopen(filler, "wb");
    cr_assert_not_null(f);
    static char page[4096];
    long size = 0;
    setvbuf(f, NULL, _IONBF, 0);
    while (fwrite(page, 1, sizeof page, f) == sizeof page) size += (long)sizeof page;
    fclose(f);
    cr_assert_eq(truncate(filler, size > keep ? size - keep : 0), 0);
}

Test(faults, cache_disk_full, .fini = unmount_tiny) {
    if (geteuid() != 0) cr_skip("simulating a full disk needs root (to mount a tiny tmpfs)");
    snprintf(g_mnt, sizeof g_mnt, "/tmp/ocla-full-XXXXXX");
    cr_assert_not_null(mkdtemp(g_mnt));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k,mode=0700 tmpfs '%s' 2>/dev/null", g_mnt);
    if (system(cmd) != 0) {
        rmdir(g_mnt);
        g_mnt[0] = 0;
        cr_skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container): full-disk case not run");
    }
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_status st;
        /* one free page for the creation probe, then the disk fills up before the first build */
        fill_leaving(g_mnt, 4096);
        ocla_context *ctx;
        st = tc_open_cached(d, g_mnt, OCLA_CACHE_ON, &ctx);
        cr_assert_eq(st, OCLA_SUCCESS, "%s", ocla_last_error(NULL));
        fill_leaving(g_mnt, 0);
        assert_usable(ctx); /* builds; the cache write fails quietly */
        ocla_cache_stats s;
        ocla_cache_get_stats(ctx, &s);
        cr_assert_eq(s.disk_writes, 0, "%s: a binary was written to a full disk?", tc_device_name(d));
        ocla_context_destroy(ctx);
        cr_assert_eq(count_files(g_mnt, ".tmp", NULL, 0), 0, "a failed write leaves no temporary file");
        cr_assert_eq(count_files(g_mnt, ".oclabin", NULL, 0), 0, "a failed write leaves no (partial) cache file");
        /* completely full: the probe fails; a required cache is refused with a clear status */
        fill_leaving(g_mnt, 0);
        st = tc_open_cached(d, g_mnt, OCLA_CACHE_ON, &ctx);
        cr_assert_eq(st, OCLA_ERR_CACHE, "%s", ocla_status_string(st));
        cr_assert_null(ctx);
        cr_assert(strstr(ocla_last_error(NULL), "not writable"), "%s", ocla_last_error(NULL));
        /* space again: works (and caches where the driver gives binaries) */
        fill_leaving(g_mnt, 60 * 1024);
        char filler[128];
        snprintf(filler, sizeof filler, "%s/filler", g_mnt);
        remove(filler);
        st = tc_open_cached(d, g_mnt, OCLA_CACHE_ON, &ctx);
        tc_ok(NULL, st);
        assert_usable(ctx);
        ocla_context_destroy(ctx);
        snprintf(cmd, sizeof cmd, "rm -f '%s'/*", g_mnt);
        cr_assert_eq(system(cmd), 0);
    }
}

Test(faults, cache_file_of_another_version_or_a_directory) {
    for (int d = 0; d < tc_device_count(); d++) {
        char *dir = tc_temp_dir();
        ocla_status st;
        ocla_context *ctx;
        st = tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx);
        tc_ok(NULL, st);
        assert_usable(ctx);
        ocla_context_destroy(ctx);
        char path[700];
        if (count_files(dir, ".oclabin", path, sizeof path) == 0) {
            cr_log_warn("%s keeps no program binaries: disk cache not exercised", tc_device_name(d));
            tc_remove_tree(dir);
            free(dir);
            continue;
        }
        /* another format version of ocla wrote this file (same name: same key) */
        void *data;
        size_t size;
        cr_assert_eq(ocla_read_file(path, &data, &size), 0);
        cr_assert_gt(size, 16);
        ((unsigned char *)data)[8] = (unsigned char)(OCLA_CACHE_FORMAT + 1);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(data, 1, size, f), size);
        fclose(f);
        free(data);
        st = tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx);
        tc_ok(NULL, st);
        assert_usable(ctx);
        ocla_cache_stats s;
        ocla_cache_get_stats(ctx, &s);
        cr_assert_eq(s.disk_rejects, 1);
        cr_assert_eq(s.builds, 1);
        cr_assert_eq(s.disk_writes, 1, "the file is replaced by this version's");
        ocla_context_destroy(ctx);
        /* a directory where the file should be: read fails, write fails, the build still works */
        cr_assert_eq(remove(path), 0);
        cr_assert_eq(mkdir(path, 0755), 0);
        st = tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx);
        tc_ok(NULL, st);
        assert_usable(ctx);
        ocla_cache_get_stats(ctx, &s);
        cr_assert_eq(s.disk_hits, 0);
        cr_assert_eq(s.builds, 1);
        ocla_context_destroy(ctx);
        tc_remove_tree(dir);
        free(dir);
    }
}

Test(faults, build_failure_with_disk_cache_is_not_cached) {
    for (int d = 0; d < tc_device_count(); d++) {
        char *dir = tc_temp_dir();
        ocla_status st;
        ocla_context *ctx;
        st = tc_open_cached(d, dir, OCLA_CACHE_ON, &ctx);
        tc_ok(NULL, st);
        static const char *broken = "__kernel void broken(__global float *x) { x[0] = undefined_name; }\n";
        for (int rep = 0; rep < 2; rep++) { /* the failure is not remembered as a success */
            st = ocla_debug_build_text(ctx, broken, "");
            cr_assert_eq(st, OCLA_ERR_BUILD, "%s", ocla_status_string(st));
            cr_assert(strstr(ocla_last_error(ctx), "undefined_name"), "the build log names the culprit: %s",
                      ocla_last_error(ctx));
        }
        /* bad options are a build failure too */
        st = ocla_debug_build(ctx, "selftest", "-this-is-not-an-option");
        cr_assert(st == OCLA_ERR_BUILD || st == OCLA_ERR_OPENCL, "%s", ocla_status_string(st));
        ocla_cache_stats s;
        ocla_cache_get_stats(ctx, &s);
        cr_assert_eq(s.disk_writes, 0, "nothing cached for failed builds");
        assert_usable(ctx);
        op_case *c = op_case_new(op_get(0), NULL, 1);
        cr_assert_not_null(c);
        size_t n = 0;
        st = op_run(ctx, c, NULL, 0, &n);
        cr_assert(st == OCLA_SUCCESS || st == OCLA_ERR_UNSUPPORTED, "%s", ocla_last_error(ctx));
        op_case_free(c);
        ocla_context_destroy(ctx);
        tc_remove_tree(dir);
        free(dir);
    }
}

/* "The library never prints to stdout": every op, every kind of failure above, with fd 1 pointed at
 * a file that must stay empty (stderr is the documented default log sink and stays as it is). */
Test(faults, nothing_on_stdout_from_any_op_or_failure, .timeout = 900) {
    op_case **cs = cases();
    fflush(stdout);
    FILE *cap = tmpfile();
    cr_assert_not_null(cap);
    int saved = dup(1);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fileno(cap), 1), 0);
    for (int d = 0; d < tc_device_count(); d++) {
        ocla_context_options o;
        ocla_context_options_defaults(&o);
        o.log_level = OCLA_LOG_DEBUG; /* the most talkative setting still goes to stderr */
        ocla_context *ctx = tc_open_with(d, &o);
        for (int i = 0; cs[i]; i++) {
            float *out = buffer(cs[i]);
            size_t n = 0;
            op_run(ctx, cs[i], out, cs[i]->n_out, &n);
            ocla_debug_inject_enqueue_failure(ctx, 2);
            op_run(ctx, cs[i], out, cs[i]->n_out, &n);
            ocla_debug_inject_enqueue_failure(ctx, 0);
            free(out);
        }
        ocla_debug_build(ctx, "selftest", "-DOCLA_SELFTEST_BROKEN");
        int64_t neg = -1;
        ocla_tensor *t = NULL;
        ocla_tensor_create(ctx, OCLA_F32, 1, &neg, &t);
        ocla_context_destroy(ctx);
    }
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fseek(cap, 0, SEEK_END);
    long written = ftell(cap);
    fclose(cap);
    op_cases_free(cs);
    cr_assert_eq(written, 0, "%ld bytes were written to stdout", written);
}

/* Regression (found by this suite under ASan): a directory where a cache file should be opened fine,
 * ftell() said LONG_MAX, and ocla_read_file asked malloc for 2^63 bytes (NULL in a release build,
 * an abort under ASan, and on an allocator that overcommits such a request, a crash later).
 * runtime/platform.c now refuses files above 1 GiB. */
Test(faults, read_file_on_a_directory_is_refused_without_a_huge_allocation) {
    char *dir = tc_temp_dir();
    void *data = (void *)1;
    size_t size = 7;
    cr_assert_eq(ocla_read_file(dir, &data, &size), -1);
    cr_assert_null(data);
    cr_assert_eq(size, 0);
    tc_remove_tree(dir);
    free(dir);
}
