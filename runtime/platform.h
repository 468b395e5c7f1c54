/* SPDX-License-Identifier: MIT */
/* The few OS-specific services ocla needs (locks, clocks, files, directories), behind one file
 * so the library builds for Linux, macOS and Windows (mingw-w64 / MSVC). */
#ifndef OCLA_PLATFORM_H
#define OCLA_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
typedef struct ocla_mutex {
    void *opaque[6]; /* CRITICAL_SECTION storage (40 bytes on x64) */
} ocla_mutex;
#else
#include <pthread.h>
typedef struct ocla_mutex {
    pthread_mutex_t m;
} ocla_mutex;
#endif

#if defined(_MSC_VER)
#define OCLA_THREAD_LOCAL __declspec(thread)
#else
#define OCLA_THREAD_LOCAL _Thread_local
#endif

/* Recursive mutex. */
int ocla_mutex_init(ocla_mutex *m);
void ocla_mutex_destroy(ocla_mutex *m);
void ocla_mutex_lock(ocla_mutex *m);
void ocla_mutex_unlock(ocla_mutex *m);
/* A process-wide lock (CLBlast first-use serialisation, device enumeration). */
void ocla_global_lock(void);
void ocla_global_unlock(void);

/* Monotonic seconds. */
double ocla_now_seconds(void);

/* Create a directory and its parents, mode 0700 (0 on success or if it exists). */
int ocla_mkdir_p(const char *path);
/* Whether a directory may hold the program cache: this user owns it and no one else can write to it
 * (0), else -1 with *why set. On Windows always -1 (not checked there: the disk cache stays off). */
int ocla_dir_trusted(const char *path, const char **why);
/* Read a whole file into a malloc'd buffer (0 on success). POSIX: only a regular file this user owns,
 * opened with no-follow and non-blocking flags. */
int ocla_read_file(const char *path, void **data, size_t *size);
/* Write a temporary file created exclusively beside path (mkstemp), then rename it over path (0 on
 * success; nothing left on failure). */
int ocla_write_file_atomic(const char *path, const void *data, size_t size);
/* The default cache directory "<user cache>/ocla" (malloc'd) or NULL. */
char *ocla_default_cache_dir(void);
/* getenv that returns NULL for unset or empty. */
const char *ocla_getenv(const char *name);
/* How many times ocla_getenv ran in this process (test counter). */
unsigned long ocla__env_reads(void);

#endif
