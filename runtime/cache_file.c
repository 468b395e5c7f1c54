/* SPDX-License-Identifier: MIT */
/* The disk cache's file format, as pure functions (fuzzed by tests/fuzz/fuzz_cache_file.c):
 *
 *   offset  size  field
 *   0       8     magic "OCLABIN1"
 *   8       4     format version (little endian)
 *   12      4     reserved (0)
 *   16      32    key: SHA-256 of source, options, device and driver identity, format version
 *   48      8     payload size (little endian)
 *   56      32    SHA-256 of the payload
 *   88      n     payload: the CL_PROGRAM_BINARIES of the device
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HEADER_SIZE 88u

/* n bytes, little endian */
static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

ocla_status ocla__cache_encode(const uint8_t key[32], const void *payload, size_t size, void **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    size_t total;
    if (!ocla__add_ok(size, HEADER_SIZE, &total)) return OCLA_ERR_OVERFLOW;
    uint8_t *buf = malloc(total);
    if (!buf) return OCLA_ERR_OUT_OF_MEMORY;
    memcpy(buf, OCLA_CACHE_MAGIC, 8);
    put_le(buf + 8, OCLA_CACHE_FORMAT, 4);
    put_le(buf + 12, 0, 4);
    memcpy(buf + 16, key, 32);
    put_le(buf + 48, (uint64_t)size, 8);
    ocla__sha256(payload, size, buf + 56);
    if (size) memcpy(buf + HEADER_SIZE, payload, size);
    *out = buf;
    *out_size = total;
    return OCLA_SUCCESS;
}

int ocla__cache_decode(const void *data, size_t size, const uint8_t key[32], const void **payload,
                       size_t *payload_size) {
    const uint8_t *p = data;
    if (!data || size < HEADER_SIZE) return 1;           /* truncated header */
    if (memcmp(p, OCLA_CACHE_MAGIC, 8) != 0) return 2;   /* not ours */
    if (get_le(p + 8, 4) != OCLA_CACHE_FORMAT) return 3;   /* another version of ocla */
    if (memcmp(p + 16, key, 32) != 0) return 4;          /* another program, device or driver */
    uint64_t n = get_le(p + 48, 8);
    if (n == 0 || n != (uint64_t)(size - HEADER_SIZE)) return 5; /* truncated or padded */
    uint8_t sum[32];
    ocla__sha256(p + HEADER_SIZE, (size_t)n, sum);
    if (memcmp(sum, p + 56, 32) != 0) return 6;          /* corrupt */
    *payload = p + HEADER_SIZE;
    *payload_size = (size_t)n;
    return 0;
}
