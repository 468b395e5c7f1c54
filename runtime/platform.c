/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <direct.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#endif

/* ---- locks ---- */
#if defined(_WIN32)
_Static_assert(sizeof(CRITICAL_SECTION) <= sizeof(((ocla_mutex *)0)->opaque), "CRITICAL_SECTION fits");
int ocla_mutex_init(ocla_mutex *m) {
    InitializeCriticalSection((CRITICAL_SECTION *)m->opaque);
    return 0;
}
void ocla_mutex_destroy(ocla_mutex *m) { DeleteCriticalSection((CRITICAL_SECTION *)m->opaque); }
void ocla_mutex_lock(ocla_mutex *m) { EnterCriticalSection((CRITICAL_SECTION *)m->opaque); }
void ocla_mutex_unlock(ocla_mutex *m) { LeaveCriticalSection((CRITICAL_SECTION *)m->opaque); }

static INIT_ONCE g_once = INIT_ONCE_STATIC_INIT;
static CRITICAL_SECTION g_global;
static BOOL CALLBACK init_global(PINIT_ONCE o, PVOID p, PVOID *c) {
    (void)o, (void)p, (void)c;
    InitializeCriticalSection(&g_global);
    return TRUE;
}
void ocla_global_lock(void) {
    InitOnceExecuteOnce(&g_once, init_global, NULL, NULL);
    EnterCriticalSection(&g_global);
}
void ocla_global_unlock(void) { LeaveCriticalSection(&g_global); }
#else
int ocla_mutex_init(ocla_mutex *m) {
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a)) return -1;
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int r = pthread_mutex_init(&m->m, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}
void ocla_mutex_destroy(ocla_mutex *m) { pthread_mutex_destroy(&m->m); }
void ocla_mutex_lock(ocla_mutex *m) { pthread_mutex_lock(&m->m); }
void ocla_mutex_unlock(ocla_mutex *m) { pthread_mutex_unlock(&m->m); }

static pthread_mutex_t g_global = PTHREAD_MUTEX_INITIALIZER;
void ocla_global_lock(void) { pthread_mutex_lock(&g_global); }
void ocla_global_unlock(void) { pthread_mutex_unlock(&g_global); }
#endif

/* ---- clock ---- */
double ocla_now_seconds(void) {
#if defined(_WIN32)
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* ---- files ---- */
static int mkdir_one(const char *p) {
#if defined(_WIN32)
    int r = _mkdir(p);
#else
    int r = mkdir(p, 0700); /* ours alone (the cache's trust rule, ocla_dir_trusted) */
#endif
    return (r == 0 || errno == EEXIST) ? 0 : -1;
}

int ocla_mkdir_p(const char *path) {
    if (!path || !*path) return -1;
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] == '/' || buf[i] == '\\') {
            char c = buf[i];
            buf[i] = 0;
            if (!(i == 2 && buf[1] == ':')) mkdir_one(buf); /* skip "C:" */
            buf[i] = c;
        }
    }
    int r = mkdir_one(buf);
    free(buf);
    return r;
}

int ocla_dir_trusted(const char *path, const char **why) {
#if defined(_WIN32)
    (void)path;
    *why = "ownership is not checked on Windows";
    return -1;
#else
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        *why = "it is not a directory";
    else if (st.st_uid != geteuid())
        *why = "it belongs to another user";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        *why = "its group or other users can write to it";
    else
        return 0;
    return -1;
#endif
}

#define MAX_FILE_SIZE (1ul << 30) /* no file of ours is larger */

#if defined(_WIN32)
/* Windows: the disk cache is off (ocla_dir_trusted), so nothing reads or writes cache files. */
int ocla_read_file(const char *path, void **data, size_t *size) {
    (void)path;
    *data = NULL;
    *size = 0;
    return -1;
}

int ocla_write_file_atomic(const char *path, const void *data, size_t size) {
    (void)path, (void)data, (void)size;
    return -1;
}
#else
/* Opened without following a symbolic link and without blocking (a FIFO planted at the path
 * neither blocks nor is read), then read only if it is a regular file this user owns. */
int ocla_read_file(const char *path, void **data, size_t *size) {
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size < 0 ||
        (unsigned long)st.st_size > MAX_FILE_SIZE)
        goto fail;
    const size_t len = (size_t)st.st_size;
    if (!(buf = malloc(len + 1))) goto fail;
    for (size_t got = 0; got < len;) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto fail; /* an error, or the file shrank under us */
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *size = len;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

/* A fresh temporary file made exclusively (mkstemp: a random name, O_EXCL, mode 0600), then renamed
 * over path: a planted file or symbolic link is replaced, never written through. */
int ocla_write_file_atomic(const char *path, const void *data, size_t size) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    int ok = 1;
    for (size_t put = 0; ok && put < size;) {
        ssize_t w = write(fd, (const char *)data + put, size - put);
        if (w < 0 && errno == EINTR) continue;
        ok = w > 0;
        if (ok) put += (size_t)w;
    }
    ok = (close(fd) == 0) && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}
#endif

/* Reads are counted for the hot-path test (ocla_debug_get_counters); a relaxed count is enough. */
static volatile unsigned long env_read_count;
unsigned long ocla__env_reads(void) { return env_read_count; }

const char *ocla_getenv(const char *name) {
    env_read_count++;
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

char *ocla_default_cache_dir(void) {
    const char *base = NULL, *suffix = "/ocla";
#if defined(_WIN32)
    base = ocla_getenv("LOCALAPPDATA");
    suffix = "\\ocla\\cache";
#elif defined(__APPLE__)
    base = ocla_getenv("HOME");
    suffix = "/Library/Caches/ocla";
#else
    base = ocla_getenv("XDG_CACHE_HOME");
    if (!base) {
        base = ocla_getenv("HOME");
        suffix = "/.cache/ocla";
    }
#endif
    if (!base) return NULL;
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s%s", base, suffix);
    return out;
}
